#!/usr/bin/env bash
# vexit-flamegraph and the flamegraph_* API: folded stacks in, an SVG out that
# is well-formed XML, whose frames are the merged prefixes of the input with
# widths proportional to their weights, names escaped and round-tripped,
# labels truncated to fit, colours stable and warm; and that a browser
# (headless Chromium) renders, with a working click-to-zoom script.
source "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
BIN=${BIN:-$BUILD/bin}
FG=$BIN/vexit-flamegraph
if grep -q 'profiler/flamegraph.mk' "$TOP/Makefile"; then
	make -s -C "$TOP" flamegraph >/dev/null
else
	make -s -C "$TOP" -f Makefile -f profiler/flamegraph.mk flamegraph >/dev/null
fi
[ -x "$FG" ] || die "no $FG"

# Tricky names: XML specials, blanks, UTF-8, a broken UTF-8 byte, empty
# frames (";;"), one stack split over several lines and out of order.
printf '%s\n' \
	'qemu;kvm_vcpu_ioctl;e1000-mmio;TDT 600' \
	'kernel;pvm_emulate;x86_emulate_insn 400' \
	'qemu;kvm_vcpu_ioctl;e1000-mmio;ICR 300' \
	'qemu;kvm_vcpu_ioctl;<unknown> 50' \
	'qemu;kvm_vcpu_ioctl;a & b "q" '"'"'x'"'"' 25' \
	'qemu;kvm_vcpu_ioctl;e1000-mmio;TDT 150' \
	'qemu;main loop;caf'$'\xc3\xa9'' 20' \
	'qemu;;main loop;bad'$'\xff''byte; 5' \
	'qemu;kvm_vcpu_ioctl;e1000-mmio;a_very_long_register_name_that_cannot_fit_here 150' \
	'kernel;pvm_emulate 100' \
	'e1000-mmio;STATUS 0' \
	'' \
	'no weight here' \
	'x;y 1.5' \
	'x;y -3' \
	'   ' >"$T_TMP/in.folded"
BAD=3

"$FG" -o "$T_TMP/g.svg" --title 'vexit <test> & co' --unit ns "$T_TMP/in.folded" 2>"$T_TMP/err" ||
	die "vexit-flamegraph failed: $(cat "$T_TMP/err")"
check "stderr counts the $BAD bad lines" grep -q "skipped $BAD line" "$T_TMP/err"
check "stdin works like a file" cmp -s "$T_TMP/g.svg" <("$FG" --title 'vexit <test> & co' \
	--unit ns <"$T_TMP/in.folded" 2>/dev/null)
check "well-formed XML" "$PY" -c 'import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])' \
	"$T_TMP/g.svg"
check "raw SVG escapes <unknown>" grep -q '&lt;unknown&gt;' "$T_TMP/g.svg"
check "raw SVG escapes &" grep -q 'a &amp; b' "$T_TMP/g.svg"
check "title escaped" grep -q '>vexit &lt;test&gt; &amp; co</text>' "$T_TMP/g.svg"

# Check the frames against a model computed here from the folded text: every
# prefix path is one frame whose weight is the sum over the stacks below it.
cat >"$T_TMP/check.py" <<'EOF'
import re, sys, xml.etree.ElementTree as ET

svg_path, folded, total_w = sys.argv[1], sys.argv[2], 1200
NS = '{http://www.w3.org/2000/svg}'
want = {(): 0}
for raw in open(folded, 'rb').read().split(b'\n'):
    line = raw.decode('utf-8', 'replace').rstrip()
    m = re.match(r'^(.*\S)\s+(\d+)$', line)
    if not m or int(m.group(2)) == 0:
        continue
    # Broken UTF-8 is shown as '?'; Python's decoder uses U+FFFD.
    frames = [f.replace('\ufffd', '?') for f in m.group(1).split(';') if f]
    w = int(m.group(2))
    want[()] += w
    for i in range(1, len(frames) + 1):
        want[tuple(frames[:i])] = want.get(tuple(frames[:i]), 0) + w
total = want[()]
scale = (total_w - 20) / total
root = ET.parse(svg_path).getroot()
fr = []
for g in root.find(NS + 'g[@id="frames"]'):
    tip = g.find(NS + 'title').text
    m = re.match(r'^(.*) \(([\d,]+) ns, ([\d.]+)%\)$', tip)
    assert m, tip
    r = g.find(NS + 'rect')
    fr.append(dict(name=m.group(1), w=int(m.group(2).replace(',', '')), pct=float(m.group(3)),
                   d=int(g.get('data-depth')), x=float(r.get('x')), y=float(r.get('y')),
                   width=float(r.get('width')), fill=r.get('fill'),
                   label=g.find(NS + 'text').text or ''))
errors = []
def err(*a):
    errors.append(' '.join(str(x) for x in a))
got = {}
for f in sorted(fr, key=lambda f: f['d']):
    if f['d'] == 0:
        f['path'] = ()
    else:
        ps = [p for p in fr if p['d'] == f['d'] - 1 and p['x'] - 0.01 <= f['x']
              and f['x'] + f['width'] <= p['x'] + p['width'] + 0.01]
        if len(ps) != 1:
            err('no single parent for', f['name'])
            continue
        f['path'] = ps[0]['path'] + (f['name'],)
    if f['path'] in got:
        err('frame drawn twice (not merged):', f['path'])
    got[f['path']] = f['w']
    if abs(f['width'] - f['w'] * scale) > 0.01:
        err('width not proportional:', f['name'], f['width'], f['w'] * scale)
    if abs(f['pct'] - 100.0 * f['w'] / total) > 0.006:
        err('bad percentage:', f['name'], f['pct'])
    # Flame graph: deeper frames are drawn higher up.
    if abs(f['y'] - (fr[0]['y'] - 16 * f['d'])) > 0.01:
        err('bad y for depth', f['d'], f['name'], f['y'])
    rgb = [int(v) for v in re.match(r'rgb\((\d+),(\d+),(\d+)\)', f['fill']).groups()]
    if not (rgb[0] >= 205 and rgb[1] <= 230 and rgb[2] <= 55):
        err('not a warm colour:', f['name'], f['fill'])
    lab = f['label']
    if len(lab) * 7.08 > f['width'] - 6 + 0.01 and lab:
        err('label does not fit:', repr(lab), f['width'])
    if lab and lab != f['name'] and not (lab.endswith('..') and f['name'].startswith(lab[:-2])):
        err('label is not the name or a ".." prefix of it:', repr(lab), repr(f['name']))
if got != want:
    err('frames differ from the model:', sorted(set(got.items()) ^ set(want.items())))
# Siblings in name order (as flamegraph.pl sorts), left to right.
kids = {}
for f in fr:
    if f['d'] > 0 and 'path' in f:
        kids.setdefault(f['path'][:-1], []).append(f)
for parent, ks in kids.items():
    names = [k['name'] for k in sorted(ks, key=lambda k: k['x'])]
    if names != sorted(names, key=lambda s: s.encode()):
        err('siblings not sorted under', parent, names)
long = [f for f in fr if f['name'].startswith('a_very_long')]
if not long or not long[0]['label'].endswith('..'):
    err('long name in a narrow frame was not truncated with ".."')
if errors:
    print('\n'.join(errors))
    sys.exit(1)
print(len(fr), 'frames', total, 'total')
EOF
check "frames = merged prefixes, widths/percent/labels/colours/order" \
	"$PY" "$T_TMP/check.py" "$T_TMP/g.svg" "$T_TMP/in.folded"

# Names come back from the XML exactly (escaping round-trips).
names=$("$PY" -c '
import sys, xml.etree.ElementTree as ET
ns = "{http://www.w3.org/2000/svg}"
for g in ET.parse(sys.argv[1]).getroot().find(ns + "g[@id=\"frames\"]"):
    print(g.find(ns + "title").text.rsplit(" (", 1)[0])' "$T_TMP/g.svg")
check "name with & and quotes round-trips" grep -qxF "a & b \"q\" 'x'" <<<"$names"
check "<unknown> round-trips" grep -qxF '<unknown>' <<<"$names"
check "UTF-8 name round-trips" grep -qxF 'café' <<<"$names"
check "broken UTF-8 byte shown as ?" grep -qxF 'bad?byte' <<<"$names"

# The same name gets the same colour in another graph.
printf 'zzz;qemu 5\nqemu 7\n' | "$FG" >"$T_TMP/h.svg"
c1=$(grep -o '<title>qemu ([^<]*</title><rect [^>]*' "$T_TMP/g.svg" | grep -o 'rgb([^)]*)')
c2=$(grep -o '<title>qemu ([^<]*</title><rect [^>]*' "$T_TMP/h.svg" | grep -o 'rgb([^)]*)' | sort -u)
expect_eq "colour of 'qemu' is stable across graphs" "$c2" "$c1"
check "default unit is samples" grep -q 'qemu (7 samples' "$T_TMP/h.svg"

# Icicle: the root on top.
"$FG" --inverted --no-script <"$T_TMP/in.folded" >"$T_TMP/i.svg" 2>/dev/null
y0=$(grep -o '<g data-depth="0">.*' "$T_TMP/i.svg" | grep -o ' y="[0-9.]*"' | head -1 | tr -dc 0-9.)
y1=$(grep -o '<g data-depth="1">.*' "$T_TMP/i.svg" | grep -o ' y="[0-9.]*"' | head -1 | tr -dc 0-9.)
expect_le "inverted: root above depth 1 (y $y0 vs $y1)" "$y0" "$((${y1%.*} - 1))"
check "--no-script has no script" bash -c "! grep -q '<script' '$T_TMP/i.svg'"

# No stacks: still a valid SVG.
"$FG" </dev/null >"$T_TMP/e.svg"
check "empty input: well-formed" "$PY" -c 'import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])' \
	"$T_TMP/e.svg"
check "empty input: says no data" grep -q '>no data<' "$T_TMP/e.svg"
check "missing input file fails" bash -c "! '$FG' '$T_TMP/nonexistent' >/dev/null 2>&1"
# A failed write is an error and leaves no partial file; device files are
# written in place, never replaced by a renamed temporary file.
set +e
(trap '' XFSZ; ulimit -f 1; "$FG" -o "$T_TMP/big.svg" <"$T_TMP/in.folded" 2>/dev/null)
rc=$?
set -e
expect_eq "write past RLIMIT_FSIZE fails" "$rc" 1
check "failed write leaves no file" bash -c "! ls '$T_TMP'/big.svg* 2>/dev/null"
check "write to /dev/full fails" bash -c "! '$FG' -o /dev/full <'$T_TMP/in.folded' 2>/dev/null"
check "-o /dev/null works" "$FG" -o /dev/null "$T_TMP/in.folded" 2>/dev/null
check "/dev/null is still a device" test -c /dev/null

# The C API as the profiler calls it.
cat >"$T_TMP/api.c" <<'EOF'
#include "flamegraph.h"
#include <string.h>
int main(void)
{
	struct fg_stack s[] = {{"vcpu0;MMIO;e1000-mmio;TDT", 30}, {"vcpu0;PIO;COM1", 10}};
	struct fg_stack *p;
	size_t n, bad;
	FILE *f = fmemopen((char[]){"a;b 3\nbad\n"}, 10, "r");
	if (flamegraph_parse_folded(f, &p, &n, &bad) || n != 1 || bad != 1 ||
	    strcmp(p[0].frames, "a;b") || p[0].weight != 3)
		return 1;
	flamegraph_free_stacks(p, n);
	fclose(f);
	return flamegraph_write_svg(stdout, s, 2, "api", "ns") ? 2 : 0;
}
EOF
cc -std=gnu11 -Wall -Wextra -Werror -I"$TOP/profiler" -o "$T_TMP/api" "$T_TMP/api.c" \
	"$TOP/profiler/flamegraph.c" || die "API test program does not build"
"$T_TMP/api" >"$T_TMP/api.svg" || die "API test program failed ($?)"
check "API: SVG has the TDT frame (75%)" grep -q 'TDT (30 ns, 75.00%)' "$T_TMP/api.svg"

# Render in headless Chromium and look at the pixels.
chrome() { # SVG PNG [extra args]: screenshot, console messages on stdout
	local prof
	prof=$(mktemp -d "$T_TMP/chrome.XXXXXX")
	timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync \
		--user-data-dir="$prof" --enable-logging=stderr --v=0 --screenshot="$2" \
		--window-size=1200,600 "file://$1" 2>&1 | grep -a 'CONSOLE' || true
}
console=$(chrome "$T_TMP/g.svg" "$T_TMP/g.png")
[ -s "$T_TMP/g.png" ] || die "chromium wrote no screenshot"
no_errors() { ! grep -qi 'error' <<<"$1"; }
check "no script errors in the console" no_errors "$console"
cat >"$T_TMP/png.py" <<'EOF'
import sys
sys.path.insert(0, sys.argv[2])
from pngpixels import decode

w, h, bpp, rows = decode(sys.argv[1])
colours, warm, nonwhite = set(), 0, 0
for row in rows:
    for x in range(0, w * bpp, bpp):
        r, g, b = row[x], row[x + 1], row[x + 2]
        colours.add((r, g, b))
        nonwhite += (r, g, b) != (255, 255, 255)
        warm += r >= 200 and b <= 60 and g <= 235
print(w, h, len(colours), nonwhite, warm)
EOF
read -r pw ph ncol nonwhite warm < <("$PY" "$T_TMP/png.py" "$T_TMP/g.png" "$TOP/tests")
expect_eq "screenshot size" "${pw}x$ph" 1200x600
expect_ge "screenshot: distinct colours" "$ncol" 20
expect_ge "screenshot: non-white pixels" "$nonwhite" 50000
# 13 frames about 15 px high, about 1180 px wide at the root: thousands of
# warm pixels when the rectangles are painted.
expect_ge "screenshot: warm frame pixels" "$warm" 20000

# Click-to-zoom: click e1000-mmio in the browser and read back the geometry.
sed 's|^window.addEventListener(.load., fgInit);$|&\
window.addEventListener("load", function () {\
	var z = fg.frames.filter(function (f) { return f.name == "e1000-mmio"; })[0];\
	z.g.dispatchEvent(new MouseEvent("click"));\
	fg.frames.forEach(function (f) {\
		console.log("ZOOM " + f.name.replace(/ /g, "_") + " " + f.r.getAttribute("x") + " " +\
			f.r.getAttribute("width") + " " + (f.g.style.display == "none" ? "hidden" : "shown"));\
	});\
});|' "$T_TMP/g.svg" >"$T_TMP/z.svg"
grep -q 'ZOOM' "$T_TMP/z.svg" || die "could not instrument the SVG for the zoom test"
console=$(chrome "$T_TMP/z.svg" "$T_TMP/z.png")
zoom() { sed -n "s/.*\"ZOOM $1 \([^\"]*\)\".*/\1/p" <<<"$console" | head -1; }
# near DESC "X W state" WANT-X WANT-W WANT-STATE: equal within 0.05 px (the
# script scales the 2-decimal coordinates of the file).
near() {
	local got=$2
	awk -v g="$got" -v x="$3" -v w="$4" -v s="$5" 'BEGIN { split(g, a, " ")
		d1 = a[1] - x; d2 = a[2] - w; if (d1 < 0) d1 = -d1; if (d2 < 0) d2 = -d2
		exit !(d1 <= 0.05 && d2 <= 0.05 && a[3] == s) }' && ok "$1 ($got)" ||
		die "$1: got '$got', want '$3 $4 $5'"
}
# e1000-mmio weighs 1200: ICR 300, TDT 750, a_very_long... 150, in that order.
near "zoom: clicked frame spans the width" "$(zoom e1000-mmio)" 10 1180 shown
near "zoom: child scaled and placed" "$(zoom TDT)" $((10 + 300 * 1180 / 1200)) 737.5 shown
near "zoom: ancestor stretched" "$(zoom qemu)" 10 1180 shown
expect_eq "zoom: unrelated frame hidden" "$(zoom kernel | awk '{ print $3 }')" hidden
expect_eq "zoom: sibling hidden" "$(zoom '<unknown>' | awk '{ print $3 }')" hidden
