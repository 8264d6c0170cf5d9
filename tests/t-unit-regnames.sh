#!/usr/bin/env bash
# profiler/regnames.c against QEMU's own definitions: every e1000 register
# QEMU's headers define, every element of every array QEMU's e1000.c
# implements, the virtio-pci common/legacy/net config layouts from QEMU's
# standard headers, and the I/O port map of a running QEMU (pc and q35, via
# the monitor's "info mtree -f") are turned into cases for the unit test
# program tests/unit/test-regnames.c, which also has hand-written cases.
source "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
SRC=$BUILD/qemu/src
[ -f "$SRC/hw/net/e1000_regs.h" ] || die "no QEMU source tree at $SRC (make qemu)"
[ -x "$QEMU" ] || die "no QEMU at $QEMU (make qemu)"
make -s -C "$TOP" baremetal >/dev/null

cc -std=gnu11 -O2 -Wall -Wextra -Werror -I"$TOP/profiler" -o "$T_TMP/test-regnames" \
	"$TOP/tests/unit/test-regnames.c" "$TOP/profiler/regnames.c" ||
	die "test-regnames does not build"

# I/O maps of a running QEMU, taken while the bare-metal guest holds (the
# firmware has placed the ACPI PM block by then).
for m in pc q35; do
	sock=$T_TMP/mon-$m.sock
	cat >"$T_TMP/mtree-$m.sh" <<EOF
$PY - "$sock" "$T_TMP/mtree-$m.txt" <<'PYEOF'
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
for _ in range(100):
    try:
        s.connect(sys.argv[1]); break
    except OSError:
        time.sleep(0.1)
s.settimeout(5)
s.sendall(b'info mtree -f\n')
out, t0 = b'', time.time()
while time.time() - t0 < 10:
    try:
        d = s.recv(65536)
    except socket.timeout:
        break
    if not d:
        break
    out += d
    if b'AS "I/O"' in out and out.rstrip().endswith(b'(qemu)'):
        break
open(sys.argv[2], 'wb').write(out)
PYEOF
touch "\$VEXIT_READY_FILE"
exec sleep 600
EOF
	"$TOP/scripts/run-baremetal" -q --accel tcg --qemu-arg -machine --qemu-arg "$m" \
		--qemu-arg -monitor --qemu-arg "unix:$sock,server=on,wait=off" \
		--attach "bash $T_TMP/mtree-$m.sh" >/dev/null || die "run-baremetal ($m) failed"
	grep -q 'AS "I/O"' "$T_TMP/mtree-$m.txt" || die "no I/O flat view from the $m monitor"
done

cat >"$T_TMP/gen.py" <<'EOF'
import re, sys
src, mtrees = sys.argv[1], sys.argv[2:]
net = src + '/hw/net/'
hdr = open(net + 'e1000x_regs.h').read() + open(net + 'e1000_regs.h').read()
cases, errors = [], []

# Register offsets: "#define E1000_X 0x0NNNN" (5 hex digits are the register
# defines; bit masks have 8), and aliases "#define E1000_X E1000_Y".
off = {}
for name, val in re.findall(r'^#define E1000_(\w+)\s+(0x[0-9A-Fa-f]{5})\b', hdr, re.M):
    off[name] = int(val, 16)
for name, other in re.findall(r'^#define E1000_(\w+)\s+E1000_(\w+)\s*(?:/\*.*)?$', hdr, re.M):
    if other in off and name not in off:
        off[name] = off[other]
consts = {n: int(v, 0) for n, v in re.findall(r'^#define (E1000_\w+)\s+(\d+)\b', hdr, re.M)}
by_off = {}
for n, o in off.items():
    by_off.setdefault(o, set()).add(n)

# Arrays QEMU's e1000 implements: "[RA ... RA + 31]" in its macreg tables.
e1000c = open(net + 'e1000.c').read()
arrays = {}
for name, expr in re.findall(r'\[(\w+) \.\.\. \1 \+ ([^\]]+)\]', e1000c):
    last = eval(re.sub(r'E1000_\w+', lambda m: str(consts[m.group(0)]), expr))
    arrays[name] = (off[name], last + 1)
if len(arrays) < 10:
    errors.append('found only %d arrays in e1000.c' % len(arrays))

def in_array(o):
    for n, (base, cnt) in arrays.items():
        if base <= o < base + 4 * cnt:
            return '%s[%d]' % (n, (o - base) // 4)
    return None

# QEMU's e1000 register enum, and every register define of the headers.
common = open(net + 'e1000_common.h').read()
enum = re.findall(r'defreg\((\w+)\)', common.split('#define defreg')[1])
if len(enum) < 150:
    errors.append('found only %d defreg names' % len(enum))
for n in sorted(set(enum) | set(off)):
    if n not in off:
        errors.append('defreg %s has no offset in the headers' % n)
        continue
    o = off[n]
    want = in_array(o)
    if not want:
        names = sorted(by_off[o])
        want = '|'.join(names + [x + '[0]' for x in names])
    cases.append('R e1000-mmio 0x%x %s' % (o, want))
for n, (base, cnt) in arrays.items():
    for i in range(cnt):
        cases.append('R e1000-mmio 0x%x %s[%d]' % (base + 4 * i, n, i))
    cases.append('R e1000-mmio 0x%x !%s[%d]' % (base + 4 * cnt, n, cnt))

# virtio-pci: C struct layouts from QEMU's copy of the Linux headers.
size = {'uint8_t': 1, 'uint16_t': 2, 'uint32_t': 4, 'uint64_t': 8, '__le16': 2,
        '__le32': 4, '__le64': 8, '__virtio16': 2, '__virtio32': 4, '__virtio64': 8}
def layout(text, struct):
    body = re.search(r'struct %s \{(.*?)\n\}' % struct, text, re.S).group(1)
    body = re.sub(r'/\*.*?\*/', '', body, flags=re.S)
    fields, pos = [], 0
    for typ, name, count in re.findall(r'^\s*(?:struct\s+)?(\w+)\s+(\w+)(?:\[(\w+)\])?;', body, re.M):
        if typ not in size:
            sub = layout(text, typ)
            fields += sub
            pos = sub[-1][0] + sub[-1][2]
            continue
        n = (6 if count == 'ETH_ALEN' else int(count)) if count else 0
        if n:
            for i in range(n):
                fields.append((pos, '%s[%d]' % (name, i), size[typ]))
                pos += size[typ]
        else:
            fields.append((pos, name, size[typ]))
            pos += size[typ]
    return fields
vpci = open(src + '/include/standard-headers/linux/virtio_pci.h').read()
vnet = open(src + '/include/standard-headers/linux/virtio_net.h').read()
common_fields = layout(vpci, 'virtio_pci_modern_common_cfg')
if len(common_fields) < 20:
    errors.append('virtio common cfg: only %d fields' % len(common_fields))
for pos, name, sz in common_fields:
    cases.append('R virtio-pci-common-virtio-net %d %s' % (pos, name))
    for k in range(1, sz):
        cases.append('R virtio-pci-common-virtio-net %d %s+%d' % (pos + k, name, k))
for pos, name, sz in layout(vnet, 'virtio_net_config'):
    cases.append('R virtio-pci-device-virtio-net %d %s' % (pos, name))
for name, val in re.findall(r'^#define VIRTIO_PCI_(HOST_FEATURES|GUEST_FEATURES|QUEUE_PFN|'
                            r'QUEUE_NUM|QUEUE_SEL|QUEUE_NOTIFY|STATUS|ISR)\s+(\d+)', vpci, re.M):
    cases.append('R virtio-pci %s %s' % (val, name))
for name, val in re.findall(r'^#define VIRTIO_(MSI_CONFIG_VECTOR|MSI_QUEUE_VECTOR)\s+(\d+)', vpci, re.M):
    cases.append('R virtio-pci %s %s' % (val, name))
cfg = int(re.search(r'VIRTIO_PCI_CONFIG_OFF\(msix_enabled\)\s+\(\(msix_enabled\) \? (\d+)', vpci).group(1))
cases.append('R virtio-pci %d config+0' % cfg)
pciregs = open(src + '/include/standard-headers/linux/pci_regs.h').read()
esz = int(re.search(r'#define PCI_MSIX_ENTRY_SIZE\s+(\d+)', pciregs).group(1))
part = {'LOWER_ADDR': 'msg_addr_lo', 'UPPER_ADDR': 'msg_addr_hi', 'DATA': 'msg_data',
        'VECTOR_CTRL': 'vector_ctrl'}
for k, v in re.findall(r'#define PCI_MSIX_ENTRY_(LOWER_ADDR|UPPER_ADDR|DATA|VECTOR_CTRL)\s+(0x[0-9a-f]+)', pciregs):
    for e in range(3):
        cases.append('R msix-table %d entry[%d].%s' % (e * esz + int(v, 16), e, part[k]))

# I/O ports: each leaf of QEMU's I/O flat view, by QEMU's region name.
# Devices on PCI I/O BARs are placed at boot: no fixed name.
qname = {
    'dma-chan': 'DMA1|DMA2', 'dma-cont': 'DMA1|DMA2', 'dma-page': 'DMA page',
    'pic': 'PIC|PIC2', 'pit': 'PIT', 'i8042-data': 'i8042', 'i8042-cmd': 'i8042',
    'pcspk': 'PCSPK', 'rtc': 'RTC', 'rtc-index': 'RTC', 'kvmvapic': 'kvmvapic',
    'ioport80': 'POST', 'port92': 'port92', 'apm-io': 'APM', 'ioportF0': 'FPU',
    'isa-debug-exit': 'isa-debug-exit', 'ide': 'IDE1|IDE2', 'fdc': 'FDC', 'serial': 'COM1',
    'elcr': 'ELCR', 'fwcfg': 'fw_cfg', 'fwcfg.dma': 'fw_cfg DMA',
    'acpi-evt': 'ACPI PM', 'acpi-cnt': 'ACPI PM', 'acpi-tmr': 'ACPI PM',
    'acpi-gpe0': 'ACPI PM|ACPI GPE0', 'acpi-smi': 'ACPI PM', 'sm-tco': 'ACPI PM',
    'pm-smbus': 'SMBus', 'acpi-pci-hotplug': 'ACPI PCI hotplug',
    'acpi-cpu-hotplug': 'ACPI CPU hotplug', 'pci-conf-idx': 'PCI_CONFIG_ADDR',
    'piix-reset-control': 'RST_CNT', 'lpc-reset-control': 'RST_CNT',
    'pci-conf-data': 'PCI_CONFIG_DATA', 'vmport': 'vmport',
}
dynamic = {'e1000-io', 'piix-bmdma', 'bmdma', 'ahci-idp'}
# Where QEMU uses one name twice, the standard PC layout tells them apart.
def pick(port, want):
    if '|' not in want:
        return want
    if 'DMA1' in want:
        return 'DMA1' if port < 0x80 else 'DMA2'
    if 'PIC2' in want:
        return 'PIC' if port < 0x80 else 'PIC2'
    if 'IDE1' in want:
        return 'IDE1' if 0x1f0 <= port <= 0x1f7 or port == 0x3f6 else 'IDE2'
    return 'ACPI GPE0' if port >= 0xa000 else 'ACPI PM'
for path in mtrees:
    text = open(path, 'rb').read().decode('utf-8', 'replace').replace('\r', '')
    io = text.split('AS "I/O"', 1)[1].split('\n\n', 1)[0]
    leaves = re.findall(r'^\s+([0-9a-f]+)-([0-9a-f]+) \(prio \d+, i/o\): ([\w.-]+)', io, re.M)
    if len(leaves) < 20:
        errors.append('%s: only %d I/O leaves' % (path, len(leaves)))
    for lo, hi, name in leaves:
        if name == 'io':
            continue
        if name in dynamic:
            want = 'NULL'
        elif name in qname:
            want = qname[name]
        else:
            errors.append('%s: QEMU I/O region %r has no expected name here' % (path, name))
            continue
        for port in range(int(lo, 16), int(hi, 16) + 1):
            cases.append('P 0x%x %s' % (port, pick(port, want)))

print('\n'.join(cases))
if errors:
    sys.stderr.write('\n'.join(errors) + '\n')
    sys.exit(1)
EOF
"$PY" "$T_TMP/gen.py" "$SRC" "$T_TMP/mtree-pc.txt" "$T_TMP/mtree-q35.txt" >"$T_TMP/cases" ||
	die "could not generate cases from the QEMU tree"
n=$(grep -c '^[RP] ' "$T_TMP/cases")
expect_ge "generated cases" "$n" 17000
for k in 'R e1000-mmio 0x3818 ' 'R e1000-mmio 0xc0 ' 'R virtio-pci-common-virtio-net 30 ' \
	'P 0xcf8 ' 'P 0x3f8 ' 'P 0x608 '; do
	check "cases include '$k'" grep -q "^$k" "$T_TMP/cases"
done
"$T_TMP/test-regnames" - <"$T_TMP/cases" >"$T_TMP/out" || true
cat "$T_TMP/out" | head -60
check "all lookups as QEMU defines them" grep -q ' checks, 0 failures$' "$T_TMP/out"
