#!/usr/bin/env bash
# Output formats: --json validates against profiler/json-schema.json, --folded
# lines parse and their weights add up to what the JSON of the same run
# traced (QEMU time under KVM, dispatches under TCG), the --flamegraph SVG
# renders in headless Chromium to a non-blank image, live mode (-i) prints
# refreshed tables.  Runs on KVM where /dev/kvm works, else on TCG (the
# subject is the output, not the accelerator).
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/vexitprof-lib.sh"
PY=/usr/bin/python3
$PY -c 'import jsonschema' || die "python3-jsonschema missing (make setup)"
BM() { "$TOP/scripts/run-baremetal" "$@" | grep VEXIT-RESULT; }
accel=$(bm_accel)
echo "accelerator: $accel"

# 1. JSON + SVG from the same run
BM --accel $accel --attach "$VEXITPROF -p \$QEMU_PID --json --per-vcpu --flamegraph $T_TMP/fg.svg --ready-file \$VEXIT_READY_FILE >$T_TMP/first.json" \
	-- tdt=300 icr=100 status=100 >/dev/null || die "guest failed"
check "JSON ($accel, per vCPU) validates" $PY -c '
import json, sys, jsonschema
s = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(s)
jsonschema.validate(json.load(open(sys.argv[2])), s, cls=jsonschema.Draft202012Validator)' \
	"$TOP/profiler/json-schema.json" "$T_TMP/first.json"
expect_eq "per-vCPU rows carry the vCPU" "$(jq '[.accesses[] | select(.device == "e1000-mmio") | .vcpu] | unique' -c "$T_TMP/first.json")" "[0]"

# The flame graph's root weighs what the folded stacks add up to: all of the
# traced QEMU time (user-space time of every exit to QEMU, plus kernel time
# of the hardware exits) under KVM, every dispatch under TCG.
fg_total=$(sed -n 's/.*<title>all (\([0-9,]*\) .*/\1/p' "$T_TMP/fg.svg" | head -1 | tr -d ,)
if [ "$accel" = kvm ]; then
	want_total=$(jq '([.userspace_exits[].user_ns // 0] | add // 0) + ([.exits[] | ((.total_ns // 0) - (.user_ns // 0)) | if . > 0 then . else 0 end] | add // 0)' "$T_TMP/first.json")
else
	want_total=$(jq '[.accesses[].qemu_ops] | add // 0' "$T_TMP/first.json")
fi
expect_ge "traced total is not zero" "$want_total" 1
expect_eq "flame graph root = traced total of the same run's JSON" "$fg_total" "$want_total"

# 2. TCG: JSON too, then folded
BM --accel tcg --attach "$VEXITPROF -p \$QEMU_PID --json --ready-file \$VEXIT_READY_FILE >$T_TMP/tcg.json" \
	-- tdt=300 icr=100 >/dev/null || die "guest failed"
check "JSON (TCG) validates" $PY -c '
import json, sys, jsonschema
jsonschema.validate(json.load(open(sys.argv[2])), json.load(open(sys.argv[1])), cls=jsonschema.Draft202012Validator)' \
	"$TOP/profiler/json-schema.json" "$T_TMP/tcg.json"
BM --accel $accel --attach "$VEXITPROF -p \$QEMU_PID --folded --ready-file \$VEXIT_READY_FILE >$T_TMP/folded.txt" \
	-- tdt=300 icr=100 >/dev/null || die "guest failed"
head -5 "$T_TMP/folded.txt"
# the weight follows the last space; frames may contain spaces ("TDT write")
check "folded: every line is 'f1;f2;f3;f4;f5 weight'" awk '{ w = $NF; st = substr($0, 1, length($0) - length(w) - 1) } w !~ /^[0-9]+$/ || split(st, f, ";") != 5 { bad = 1 } END { exit bad || NR == 0 }' "$T_TMP/folded.txt"
if [ "$accel" = kvm ]; then
	check "folded: TDT stack present" grep -q '^vcpu0;MMIO;e1000-mmio;TDT write;qemu [0-9]*$' "$T_TMP/folded.txt"
else
	# Under TCG a weight is a dispatch count: exactly what the guest made.
	expect_eq "folded: TDT write weight = the guest's 300 writes" \
		"$(awk '$0 ~ /^vcpu0;dispatch;e1000-mmio;TDT write;qemu [0-9]+$/ { s += $NF } END { print s + 0 }' "$T_TMP/folded.txt")" 300
	expect_eq "folded: ICR read weight = the guest's 100 reads" \
		"$(awk '$0 ~ /^vcpu0;dispatch;e1000-mmio;ICR read;qemu [0-9]+$/ { s += $NF } END { print s + 0 }' "$T_TMP/folded.txt")" 100
fi

# 3. the SVG renders and is not blank
[ -s "$T_TMP/fg.svg" ] || die "no SVG written"
check "SVG is XML" $PY -c 'import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])' "$T_TMP/fg.svg"
timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --hide-scrollbars \
	--user-data-dir="$T_TMP/chrome" --window-size=1200,600 --screenshot="$T_TMP/fg.png" \
	"file://$T_TMP/fg.svg" >/dev/null 2>&1 || true
[ -s "$T_TMP/fg.png" ] || die "chromium wrote no screenshot"
colors=$($PY - "$T_TMP/fg.png" <<'PYEOF'
# count distinct pixel colours of an 8-bit RGB(A) PNG, no PIL needed
import sys, zlib, struct
d = open(sys.argv[1], 'rb').read()
assert d[:8] == b'\x89PNG\r\n\x1a\n'
i, idat, w = 8, b'', 0
while i < len(d):
    n, t = struct.unpack('>I4s', d[i:i + 8]); c = d[i + 8:i + 8 + n]; i += 12 + n
    if t == b'IHDR': w, h, bd, ct = struct.unpack('>IIBB', c[:10])
    elif t == b'IDAT': idat += c
bpp = {2: 3, 6: 4}[ct]; raw = zlib.decompress(idat); stride = w * bpp
prev = bytearray(stride); seen = set(); p = 0
for y in range(h):
    f = raw[p]; line = bytearray(raw[p + 1:p + 1 + stride]); p += 1 + stride
    for x in range(stride):
        a = line[x - bpp] if x >= bpp else 0; b = prev[x]; c = prev[x - bpp] if x >= bpp else 0
        if f == 1: line[x] = (line[x] + a) & 255
        elif f == 2: line[x] = (line[x] + b) & 255
        elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
        elif f == 4:
            pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
            line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    prev = line
    if y % 4 == 0:
        for x in range(0, stride, bpp * 4): seen.add(bytes(line[x:x + 3]))
print(len(seen))
PYEOF
)
expect_ge "screenshot has many colours (not blank)" "$colors" 10

# 4. live mode: a table every interval
"$TOP/scripts/run-baremetal" --accel $accel --duration 3 \
	--attach "$VEXITPROF -p \$QEMU_PID -i 0.5 --ready-file \$VEXIT_READY_FILE >$T_TMP/live.txt" \
	-- loop=1 status=1000 >/dev/null || true
expect_ge "live mode printed refreshed tables" "$(grep -c '^Device accesses' "$T_TMP/live.txt")" 4
check "no BPF program left attached" no_prog_left
