#!/usr/bin/env bash
# vexitprof diff A.json B.json:
# (a) two hand-written profiles (tests/fixtures/diff/, values chosen so every
#     number below is worked out by hand) give exactly the expected deltas,
#     ratios and ordering, per packet and per second, as text and JSON;
# (b) two real runs of the test guest (TCG, pktgen, upstream e1000 with
#     x-coalesce=off, then on, holding at any rate): the interrupt-path
#     registers (ICR read, IMC
#     and IMS write) shrink per packet and the diff says so; its numbers are
#     the raw counts over the packets of each JSON file, and the guest's own
#     interrupt counter confirms the direction;
# (c) the differential flame graph renders in headless Chromium and each
#     frame's fill is the colour of its self change (grown red, shrunk blue,
#     unchanged white), from a model computed here from the fixtures;
# (d) bad input: one line on stderr and the documented exit status each.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/vexitprof-lib.sh"
PY=/usr/bin/python3
FIX="$TOP/tests/fixtures/diff"
VD() { "$VEXITPROF" diff "$@"; }
cd "$FIX" || die "no $FIX"

# --- (a) known answers ------------------------------------------------------
# a.json: 1000 packets in 2 s, per vCPU (ICR read split over two vCPUs);
# b.json: 2000 packets in 1 s, merged.  us per packet of a function:
# samples x 0.1 ms / packets (ns_per_sample 100000); QEMU time of a register:
# its user_ns / packets (ICR read: (600000 + 200000) ns / 1000 in A).
VD a.json b.json >"$T_TMP/ab.txt" 2>"$T_TMP/ab.err" || die "diff of the fixtures failed: $(cat "$T_TMP/ab.err")"
cat >"$T_TMP/ab.want" <<'EOF'
vexitprof diff, per packet: a.json (1000 packets, 2.00 s) -> b.json (2000 packets, 1.00 s)

Device accesses, per packet:
  e1000-mmio TDT write: 1.00 -> 0.01 per packet (-0.99, x0.01)
  e1000-mmio ICR read: 0.40 -> 0.10 per packet (-0.30, x0.25)
  e1000-mmio TDH read: 0.00 -> 0.25 per packet (+0.25, new)
  e1000-mmio IMS write: 0.20 -> 0.05 per packet (-0.15, x0.25)
  serial THR write: 0.05 -> 0.00 per packet (-0.05, x0.00)
  e1000-mmio STATUS read: 0.01 -> 0.01 per packet (+0.00, x1.00)

QEMU time of the exits to QEMU, by device register, per packet:
  e1000-mmio TDT write: 5.00 -> 0.05 us per packet (-4.95, x0.01)
  e1000-mmio ICR read: 0.80 -> 0.20 us per packet (-0.60, x0.25)
  e1000-mmio TDH read: 0.00 -> 0.25 us per packet (+0.25, new)
  e1000-mmio IMS write: 0.20 -> 0.05 us per packet (-0.15, x0.25)
  serial THR write: 0.05 -> 0.00 us per packet (-0.05, x0.00)
  e1000-mmio STATUS read: 0.01 -> 0.01 us per packet (+0.00, x1.00)

VM exits, per packet:
  EPT_MISCONFIG: 1.61 -> 0.42 per packet (-1.19, x0.26)
  EXTERNAL_INTERRUPT: 0.20 -> 0.20 per packet (+0.00, x1.00)

Exits to QEMU user space, per packet:
  MMIO: 1.61 -> 0.42 per packet (-1.19, x0.26)
  HLT: 0.10 -> 0.20 per packet (+0.10, x2.00)
  IO: 0.05 -> 0.00 per packet (-0.05, x0.00)

QEMU on-CPU functions (self time; with callees in parentheses), per packet:
  xmit_seg: 4.10 -> 0.20 us per packet (-3.90, x0.05; with callees 5.10 -> 0.40)
  e1000_sidecore_poll: 0.00 -> 3.00 us per packet (+3.00, new; with callees 0.00 -> 3.10)
  net_checksum_add_cont: 1.00 -> 0.20 us per packet (-0.80, x0.20; with callees 1.00 -> 0.20)
  memcpy [kernel]: 0.00 -> 0.10 us per packet (+0.10, new; with callees 0.00 -> 0.10)
  e1000_sidecore_thread: 0.00 -> 0.00 us per packet (+0.00, -; with callees 0.00 -> 3.10)
  memcpy [libc.so.6]: 0.50 -> 0.50 us per packet (+0.00, x1.00; with callees 0.50 -> 0.50)
  qemu_sendv_packet: 2.00 -> 2.00 us per packet (+0.00, x1.00; with callees 2.50 -> 2.50)
  start_xmit: 0.00 -> 0.00 us per packet (+0.00, -; with callees 7.60 -> 2.90)
EOF
check "fixtures: every delta, ratio and the order, per packet" diff -u "$T_TMP/ab.want" "$T_TMP/ab.txt"
check "fixtures: nothing on stderr" test ! -s "$T_TMP/ab.err"

# Per second the order changes: TDH's +500/s outweighs TDT's -480/s.
VD --per second a.json b.json | sed -n '/^Device accesses/,/^$/p' >"$T_TMP/sec.txt"
cat >"$T_TMP/sec.want" <<'EOF'
Device accesses, per second:
  e1000-mmio TDH read: 0.00 -> 500 per second (+500, new)
  e1000-mmio TDT write: 500 -> 20.00 per second (-480, x0.04)
  serial THR write: 25.00 -> 0.00 per second (-25.00, x0.00)
  e1000-mmio STATUS read: 5.00 -> 20.00 per second (+15.00, x4.00)
  e1000-mmio ICR read: 200 -> 200 per second (+0.00, x1.00)
  e1000-mmio IMS write: 100 -> 100 per second (+0.00, x1.00)

EOF
check "fixtures: per second, its own order" diff -u "$T_TMP/sec.want" "$T_TMP/sec.txt"
# Counts measured elsewhere replace the e1000's: 500 and 500 packets.
expect_eq "--packets 500,500: TDT per packet" \
	"$(VD --packets 500,500 a.json b.json | grep 'TDT write: [0-9.]* -> [0-9.]* per packet')" \
	"  e1000-mmio TDT write: 2.00 -> 0.04 per packet (-1.96, x0.02)"
VD --json --top 2 a.json b.json >"$T_TMP/ab.json"
expect_eq "JSON: unit" "$(jq -r .per "$T_TMP/ab.json")" packet
expect_eq "JSON: --top 2 keeps the two largest changes" \
	"$(jq -c '[.accesses[] | [.name, .a, .b, .delta, .ratio]]' "$T_TMP/ab.json")" \
	'[["e1000-mmio TDT write",1,0.01,-0.99,0.01],["e1000-mmio ICR read",0.4,0.1,-0.3,0.25]]'
expect_eq "JSON: and counts the rest" "$(jq .accesses_more "$T_TMP/ab.json")" 4
expect_eq "JSON: functions with module and totals" \
	"$(jq -c '.functions[0] | [.name, .module, .a, .b, .delta, .total_a, .total_b]' "$T_TMP/ab.json")" \
	'["xmit_seg","qemu-system-x86_64",4.1,0.2,-3.9,5.1,0.4]'
expect_eq "JSON: new row has a null ratio" \
	"$(VD --json a.json b.json | jq -c '.accesses[] | select(.name == "e1000-mmio TDH read") | [.a, .b, .ratio]')" \
	'[0,0.25,null]'
# A side without on_cpu: the function part is left out with one line.
jq 'del(.on_cpu)' b.json >"$T_TMP/b-nocpu.json"
VD a.json "$T_TMP/b-nocpu.json" >"$T_TMP/nocpu.txt"
expect_eq "no on_cpu in B: one note line" \
	"$(grep -c 'QEMU on-CPU functions: not compared, .*b-nocpu.json has no on-CPU samples' "$T_TMP/nocpu.txt")" 1
check "no on_cpu in B: no function rows" bash -c "! grep -q 'with callees' '$T_TMP/nocpu.txt'"
expect_eq "no on_cpu in B: JSON functions null" \
	"$(VD --json a.json "$T_TMP/b-nocpu.json" | jq -c .functions)" null

# --- (c) differential flame graph of the fixtures ---------------------------
VD a.json b.json --flamegraph "$T_TMP/d.svg" >/dev/null 2>"$T_TMP/d.err" || die "--flamegraph failed: $(cat "$T_TMP/d.err")"
check "SVG well-formed" "$PY" -c 'import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])' "$T_TMP/d.svg"
# The model: B's stacks give the widths; a frame's colour is its self change
# in us per packet (B's samples x 0.05 - A's x 0.1 for stacks ending in it),
# scaled by the largest |change| as in Gregg's flamegraph.pl: red 255 and
# green = blue = 210 x (1 - |d|/max) when it grew, blue 255 when it shrank,
# white when unchanged.
cat >"$T_TMP/colours.py" <<'EOF'
import json, re, sys, xml.etree.ElementTree as ET
a, b, svg = (json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3])
def per_unit(p):
    k = p["on_cpu"]["ns_per_sample"] / 1e3 / (p["e1000"]["tx_frames"] + p["e1000"]["rx_frames"])
    out = {}
    for s in p["on_cpu"]["stacks"]:
        out[s["stack"]] = out.get(s["stack"], 0) + s["samples"] * k
    return out
ua, ub = per_unit(a), per_unit(b)
wb = {s["stack"]: s["samples"] for s in b["on_cpu"]["stacks"]}
self_d, width = {}, {}
for st in set(ua) | set(ub):
    if st not in wb:
        continue
    d = ub.get(st, 0) - ua.get(st, 0)
    self_d[st] = self_d.get(st, 0) + (0 if abs(d) <= 1e-9 * (ua.get(st, 0) + ub.get(st, 0)) else d)
for st, w in wb.items():
    f = st.split(";")
    for i in range(1, len(f) + 1):
        width[";".join(f[:i])] = width.get(";".join(f[:i]), 0) + w
mx = max(abs(v) for v in self_d.values())
def colour(d):
    if d == 0:
        return (255, 255, 255)
    c = int(210 * (1 - abs(d) / mx) + 0.5)
    return (255, c, c) if d > 0 else (c, c, 255)
NS = "{http://www.w3.org/2000/svg}"
frames = []
for g in ET.parse(svg).getroot().find(NS + 'g[@id="frames"]'):
    tip = g.find(NS + "title").text
    name = tip[:tip.rindex(" (")]
    r = g.find(NS + "rect")
    fill = tuple(int(v) for v in re.match(r"rgb\((\d+),(\d+),(\d+)\)", r.get("fill")).groups())
    frames.append((int(g.get("data-depth")), float(r.get("x")), float(r.get("width")), name, fill))
# Rebuild each frame's path from the geometry (a parent spans its children).
errors, seen, placed = [], {}, []
for d, x, w, name, fill in sorted(frames):
    if d == 0:
        continue
    par = [p for p in placed if p[0] == d - 1 and p[1] - 0.01 <= x and x + w <= p[1] + p[2] + 0.01]
    if d > 1 and len(par) != 1:
        errors.append(f"{name}: no single parent")
        continue
    path = (par[0][3] + ";" if d > 1 else "") + name
    placed.append((d, x, w, path))
    want = colour(self_d.get(path, 0))
    if fill != want:
        errors.append(f"{path}: fill {fill}, want {want} (self change {self_d.get(path, 0):+.4g})")
    seen[path] = (fill, w)
    if abs(w - width[path] * 1180 / sum(wb.values())) > 0.01:
        errors.append(f"{path}: width {w}, want B's {width[path]} samples")
missing = set(width) - set(seen)
if missing:
    errors.append(f"frames of B not drawn: {sorted(missing)}")
for path, (fill, w) in sorted(seen.items()):
    print(f"{path.rsplit(';', 1)[-1]} {fill[0]},{fill[1]},{fill[2]}")
if errors:
    print("\n".join(errors), file=sys.stderr)
    sys.exit(1)
EOF
"$PY" "$T_TMP/colours.py" a.json b.json "$T_TMP/d.svg" >"$T_TMP/fills.txt" ||
	die "differential colours differ from the model"
ok "every frame: B's width, the colour of its self change ($(wc -l <"$T_TMP/fills.txt") frames)"
fill() { awk -v n="$1" '$1 == n { print $2; exit }' "$T_TMP/fills.txt"; }
expect_eq "grown function (e1000_sidecore_poll, +3.0 us/packet) is red" "$(fill e1000_sidecore_poll)" 255,48,48
expect_eq "shrunk function (xmit_seg, -3.9, the largest change) is full blue" "$(fill xmit_seg)" 0,0,255
expect_eq "shrunk less (net_checksum_add_cont, -0.8) is paler blue" "$(fill net_checksum_add_cont)" 167,167,255
expect_eq "unchanged per packet (qemu_sendv_packet, 2.0 -> 2.0) is white" "$(fill qemu_sendv_packet)" 255,255,255
check "tooltip gives the change" grep -q 'xmit_seg (8 samples, 6.67%, self -3.9 us per packet)' "$T_TMP/d.svg"

chrome() { # SVG PNG
	local prof
	prof=$(mktemp -d "$T_TMP/chrome.XXXXXX")
	timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync \
		--user-data-dir="$prof" --screenshot="$2" --window-size=1200,400 "file://$1" >/dev/null 2>&1 || true
}
chrome "$T_TMP/d.svg" "$T_TMP/d.png"
[ -s "$T_TMP/d.png" ] || die "chromium wrote no screenshot"
cat >"$T_TMP/png.py" <<'EOF'
import sys
sys.path.insert(0, sys.argv[2])
from pngpixels import decode

w, h, bpp, rows = decode(sys.argv[1])
red = blue = white = other = 0
for line in rows:
    for x in range(0, w * bpp, bpp):
        r, g, bl = line[x], line[x + 1], line[x + 2]
        if r >= 250 and g <= 60 and bl <= 60: red += 1
        elif bl >= 250 and r <= 30 and g <= 30: blue += 1
        elif (r, g, bl) == (255, 255, 255): white += 1
        else: other += 1
print(red, blue, white, other)
EOF
read -r red blue white other < <("$PY" "$T_TMP/png.py" "$T_TMP/d.png" "$TOP/tests")
# e1000_sidecore_poll is 62/120 of 1180 px wide, xmit_seg 8/120: both ~15 px high.
expect_ge "screenshot: red pixels of the grown frame" "$red" 5000
expect_ge "screenshot: blue pixels of the shrunk frame" "$blue" 500
expect_ge "screenshot: white unchanged frames" "$white" 20000
expect_ge "screenshot: not blank (background, text)" "$other" 20000

# vexit-flamegraph --diff: the same colouring from difffolded text.
[ -x "$BUILD/bin/vexit-flamegraph" ] || die "vexit-flamegraph missing (make flamegraph)"
printf 'a;grew 5 10\na;shrank 10 5\na;same 3 3\n' | "$BUILD/bin/vexit-flamegraph" --diff >"$T_TMP/cli.svg"
cli_fill() { grep -o "<title>$1 ([^<]*</title><rect [^>]*" "$T_TMP/cli.svg" | grep -o 'rgb([^)]*)'; }
expect_eq "vexit-flamegraph --diff: grown red" "$(cli_fill grew)" "rgb(255,0,0)"
expect_eq "vexit-flamegraph --diff: shrunk blue" "$(cli_fill shrank)" "rgb(0,0,255)"
expect_eq "vexit-flamegraph --diff: same white" "$(cli_fill same)" "rgb(255,255,255)"

# --- (d) bad input -----------------------------------------------------------
# bad WANT-RC DESC PATTERN ARGS...: exit status WANT-RC, exactly one line on
# stderr matching PATTERN, nothing on stdout.
bad() {
	local want=$1 desc=$2 pat=$3 rc=0
	shift 3
	VD "$@" >"$T_TMP/bad.out" 2>"$T_TMP/bad.err" || rc=$?
	[ "$rc" -eq "$want" ] || die "$desc: exit $rc, want $want ($(cat "$T_TMP/bad.err"))"
	# (argp adds its "Try \`vexitprof diff --help'" hint under a bad option)
	[ "$(grep -vc "^Try \`vexitprof diff --help'" "$T_TMP/bad.err")" -eq 1 ] ||
		die "$desc: want one line on stderr, got: $(cat "$T_TMP/bad.err")"
	grep -q -- "$pat" "$T_TMP/bad.err" || die "$desc: stderr '$(cat "$T_TMP/bad.err")' lacks '$pat'"
	[ ! -s "$T_TMP/bad.out" ] || die "$desc: printed a report anyway"
	ok "$desc: exit $want, '$(cat "$T_TMP/bad.err")'"
}
bad 10 "missing file" "nope.json: cannot read: No such file or directory" a.json "$T_TMP/nope.json"
printf '{"schema": "vexitprof/1", "pid": ' >"$T_TMP/trunc.json"
bad 11 "truncated JSON" "trunc.json: not JSON" a.json "$T_TMP/trunc.json"
echo 'vexitprof table, not JSON' >"$T_TMP/text.json"
bad 11 "text file" "text.json: not JSON" "$T_TMP/text.json" b.json
: >"$T_TMP/empty.json"
bad 11 "empty file" "empty.json: not JSON: empty file" a.json "$T_TMP/empty.json"
printf '{}\n{}\n' >"$T_TMP/two.json"
bad 11 "two JSON values" "two.json: not JSON: more than one value" a.json "$T_TMP/two.json"
echo '[1, 2]' >"$T_TMP/arr.json"
bad 11 "JSON array" "arr.json: not a vexitprof profile: not a JSON object" a.json "$T_TMP/arr.json"
jq '.schema = "perf/1"' b.json >"$T_TMP/foreign.json"
bad 11 "another tool's JSON" 'schema "perf/1", not vexitprof/N' a.json "$T_TMP/foreign.json"
jq '.accesses = 5' b.json >"$T_TMP/acc.json"
bad 11 "accesses not an array" '"accesses" is missing or not an array' a.json "$T_TMP/acc.json"
jq 'del(.accesses[1].register)' b.json >"$T_TMP/reg.json"
bad 11 "row without register" 'accesses\[1\] "register" is missing' a.json "$T_TMP/reg.json"
jq '.schema = "vexitprof/2"' b.json >"$T_TMP/v2.json"
bad 12 "different schema versions" "a.json is vexitprof/1, .*v2.json is vexitprof/2" a.json "$T_TMP/v2.json"
jq '.schema = "vexitprof/9"' b.json >"$T_TMP/v9.json"
bad 12 "unknown schema version" "schema vexitprof/9 is not one this vexitprof reads" "$T_TMP/v9.json" "$T_TMP/v9.json"
jq '.qemu = "/usr/bin/qemu-system-aarch64"' b.json >"$T_TMP/arm.json"
bad 13 "another target" "profiles a QEMU for x86_64, .*arm.json one for aarch64" a.json "$T_TMP/arm.json"
jq '.source = "usdt"' b.json >"$T_TMP/usdt.json"
bad 13 "guest accesses vs QEMU dispatches" "not comparable: a.json counts guest accesses seen by KVM" a.json "$T_TMP/usdt.json"
jq '.accesses |= map(.device = "virtio-pci-common")' b.json >"$T_TMP/virtio.json"
bad 13 "no device in common" "have no device in common (e1000-mmio vs virtio-pci-common" a.json "$T_TMP/virtio.json"
check "--cross-device compares them" bash -c "'$VEXITPROF' diff --cross-device a.json '$T_TMP/virtio.json' | grep -qx '  virtio-pci-common TDH read: 0.00 -> 0.25 per packet (+0.25, new)'"
jq '.["e1000"] = null' b.json >"$T_TMP/nopk.json"
bad 13 "per packet without packet counts" "not comparable per packet: .*nopk.json has no packet counts" --per packet a.json "$T_TMP/nopk.json"
check "without packet counts the default is per second" bash -c "'$VEXITPROF' diff a.json '$T_TMP/nopk.json' | grep -q '^vexitprof diff, per second:'"
bad 13 "per GB without byte counts" "not comparable per GB: a.json has no byte counts" --per gb a.json b.json
check "--bytes gives them" bash -c "'$VEXITPROF' diff --per gb --bytes 1e9,2e9 a.json b.json | grep -qx '  e1000-mmio TDT write: 1000 -> 10.00 per GB (-990, x0.01)'"
jq '.on_cpu.bytes = 1e9' a.json >"$T_TMP/a-tap.json"
jq '.on_cpu.bytes = 2e9' b.json >"$T_TMP/b-tap.json"
check "the taps' bytes (on_cpu.bytes) give them" bash -c "'$VEXITPROF' diff --per gb '$T_TMP/a-tap.json' '$T_TMP/b-tap.json' | grep -qx '  e1000-mmio TDT write: 1000 -> 10.00 per GB (-990, x0.01)'"
bad 2 "one file only" "two profiles" a.json
bad 2 "bad --per" "packet, gb or second" --per frame a.json b.json
rc=0
VD a.json b.json --flamegraph /nonexistent/dir/d.svg >"$T_TMP/out8.txt" 2>"$T_TMP/err8.txt" || rc=$?
expect_eq "unwritable --flamegraph: exit 8" "$rc" 8
check "unwritable --flamegraph: the report is still printed" grep -q 'TDT write' "$T_TMP/out8.txt"
expect_eq "unwritable --flamegraph: one line" "$(grep -c 'flamegraph /nonexistent/dir/d.svg' "$T_TMP/err8.txt")" 1

# --- (b) two real runs: upstream e1000, coalescing off and on ---------------
N=20000
# The attach command profiles QEMU and records the BPF programs this
# vexitprof holds (its fds' prog_id), so that "nothing left attached" looks
# at its own programs, not at those of other vexitprofs on the host.
cat >"$T_TMP/attach.sh" <<'ATT'
out=$1 vexitprof=$2
"$vexitprof" -p "$QEMU_PID" --json --ready-file "$out.ready" >"$out.json" &
vp=$!
until [ -e "$out.ready" ]; do kill -0 $vp 2>/dev/null || exit 1; sleep 0.1; done
cat /proc/$vp/fdinfo/* 2>/dev/null | sed -n 's/^prog_id:\s*//p' | sort -u >"$out.progs"
trap 'kill -INT $vp' INT
touch "$VEXIT_READY_FILE"
while kill -0 $vp 2>/dev/null; do wait $vp; done
ATT
run() { # NAME NIC
	timeout 400 "$TOP/scripts/vm" --nic "$2" --workload pktgen --count $N \
		--attach "bash $T_TMP/attach.sh $T_TMP/$1 $VEXITPROF" \
		>"$T_TMP/$1.vm.json" 2>"$T_TMP/$1.vm.err" || { tail -20 "$T_TMP/$1.vm.err"; die "scripts/vm ($2) failed"; }
	check "$1: guest sent all frames" jq -e ".ok and .result.sent == $N" "$T_TMP/$1.vm.json"
	expect_ge "$1: vexitprof held BPF programs while profiling" "$(wc -l <"$T_TMP/$1.progs")" 5
}
# its_progs_left NAME: IDs of the programs NAME's vexitprof held that are still loaded
its_progs_left() { comm -12 "$T_TMP/$1.progs" <(bpftool prog show 2>/dev/null | sed -n 's/^\([0-9]*\): .*/\1/p' | sort -u); }
# The kernel frees a program some time after its last link and fd close
# (RCU grace periods), so allow it 10 s.
none_left() {
	for _ in $(seq 100); do
		[ -z "$(its_progs_left off)$(its_progs_left on)" ] && return 0
		sleep 0.1
	done
	return 1
}
run off e1000,x-coalesce=off
# Coalescing is adaptive: it holds interrupts only while the TX rate is above
# x-coalesce-min-pps, and then for at most x-coalesce-max-us.  On a loaded
# host a TCG guest's pktgen can fall below the default rate, and the guest's
# NAPI then batches more than a 2 ms hold does (seen: 0.053 interrupts per
# packet upstream, 0.165 coalesced).  Holding at any rate, for up to 20 ms
# (or 3/4 of a ring), makes the direction independent of the host's load;
# the guest's own interrupt counter below still checks it.
run on e1000,x-coalesce=on,x-coalesce-min-pps=1,x-coalesce-max-us=20000
check "no BPF program of either vexitprof left loaded" none_left
# The premise, from the guest's own counter: coalescing means fewer interrupts per packet.
irq_off=$(jq '.guest.irqs / .result.sent' "$T_TMP/off.vm.json")
irq_on=$(jq '.guest.irqs / .result.sent' "$T_TMP/on.vm.json")
awk -v a="$irq_off" -v b="$irq_on" 'BEGIN { exit !(b < a) }' ||
	die "guest interrupts per packet did not drop with x-coalesce=on ($irq_off -> $irq_on)"
ok "guest's interrupts per packet drop with coalescing ($irq_off -> $irq_on)"
cd "$T_TMP" || die "no $T_TMP"
VD --top 0 off.json on.json >diff.txt || die "diff of the real runs failed"
VD --top 0 --json off.json on.json >diff.json
VD --top 0 off.json on.json --flamegraph real.svg >/dev/null
awk '/^Device accesses/ { p = 1 } p && n++ < 12' diff.txt
expect_eq "real runs: compared per packet" "$(jq -r .per diff.json)" packet
expect_eq "real runs (TCG): no per-register QEMU time to compare" "$(jq -c .access_time diff.json)" null
check "real runs (TCG): and no such section" bash -c "! grep -q '^QEMU time of the exits' diff.txt"
for reg in "ICR read" "IMC write" "IMS write"; do
	name="e1000-mmio $reg"
	sel="select(.device == \"e1000-mmio\" and .register == \"${reg% *}\" and .dir == \"${reg#* }\")"
	# raw counts over each file's packets (TX + RX frames of the e1000 probes)
	raw_a=$(jq "([.accesses[] | $sel | .count] | add // 0) / (.[\"e1000\"].tx_frames + .[\"e1000\"].rx_frames)" off.json)
	raw_b=$(jq "([.accesses[] | $sel | .count] | add // 0) / (.[\"e1000\"].tx_frames + .[\"e1000\"].rx_frames)" on.json)
	expect_ge "$reg: present upstream (per packet)" "$raw_a" 0.01
	awk -v a="$raw_a" -v b="$raw_b" 'BEGIN { exit !(b < a) }' || die "$reg: raw counts do not shrink ($raw_a -> $raw_b)"
	row=$(jq -c ".accesses[] | select(.name == \"$name\")" diff.json)
	[ -n "$row" ] || die "$reg: no row in the diff"
	check "$reg: diff's A is the raw count / packets of off.json ($raw_a)" \
		awk -v g="$(jq .a <<<"$row")" -v w="$raw_a" 'BEGIN { exit !(g - w <= 1e-5 * w && w - g <= 1e-5 * w) }'
	check "$reg: diff's B is the raw count / packets of on.json ($raw_b)" \
		awk -v g="$(jq .b <<<"$row")" -v w="$raw_b" 'BEGIN { d = g - w; if (d < 0) d = -d; exit !(d <= 1e-5 * (w > 1e-3 ? w : 1e-3)) }'
	check "$reg: the diff says it shrank ($(jq -c '[.a, .b, .delta]' <<<"$row"))" jq -e '.delta < 0 and .b < .a' <<<"$row"
	check "$reg: the text line says so" grep -Eq "^  $name: [0-9.]+ -> [0-9.e-]+ per packet \(-" diff.txt
	# The differential flame graph (TCG: the rows' folded stacks weigh dispatches):
	# this register's dispatches per packet shrank, so its leaf is blue.
	grep -q "<title>$reg (" real.svg || die "$reg: no frame in the differential flame graph"
	# the fill of the frame right above it: its handler "qemu" (folded stacks of the rows)
	q=$("$PY" - real.svg "$reg" <<'EOF'
import re, sys, xml.etree.ElementTree as ET
NS = "{http://www.w3.org/2000/svg}"
gs = [(int(g.get("data-depth")), float(g.find(NS + "rect").get("x")), float(g.find(NS + "rect").get("width")),
       g.find(NS + "title").text, g.find(NS + "rect").get("fill"))
      for g in ET.parse(sys.argv[1]).getroot().find(NS + 'g[@id="frames"]')]
reg = [x for x in gs if x[3].startswith(sys.argv[2] + " (")][0]
kids = [x for x in gs if x[0] == reg[0] + 1 and x[3].startswith("qemu (") and reg[1] - 0.01 <= x[1] <= reg[1] + reg[2] + 0.01]
print(kids[0][4] if kids else "none")
EOF
)
	check "$reg: its QEMU frame in the differential flame graph is blue ($q)" \
		bash -c "[[ '$q' =~ ^rgb\(([0-9]+),([0-9]+),255\)$ ]] && [ \${BASH_REMATCH[1]} -lt 255 ]"
done
