#!/usr/bin/env bash
# Write a standalone, git-am-able patch series against QEMU 10.0.2 to
# build/series/ (or $1): qemu-patches/ with the e1000-opt/ sources added as
# their own patch right before the first patch that builds them.  This is
# the form to send or apply elsewhere; in this repository the sources live
# once, in e1000-opt/, and scripts/build-qemu.sh copies them in.  Every
# commit of the result must build (tests/t-qemu-patches.sh checks it), so
# what the sources use from QEMU's core (bql_trylock(), 0003) comes in
# patches before the first one that builds them.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$TOP/build/series}
TARBALL="$TOP/build/dl/qemu_10.0.2+ds.orig.tar.xz"
# No automatic gc: git am would start a detached "git gc --auto" on the
# freshly added tree's loose objects, racing the removal of $tmp.
G=(git -c gc.auto=0 -c user.name=vexit -c user.email=vexit@localhost)
[ -f "$TARBALL" ] || { echo "export-series: run 'make qemu' first (no $TARBALL)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tar -C "$tmp" -xf "$TARBALL" --strip-components=1
cd "$tmp"
"${G[@]}" init -q && "${G[@]}" add -A && "${G[@]}" commit -qm base && "${G[@]}" tag base
added=0
for p in "$TOP"/qemu-patches/*.patch; do
	if [ $added -eq 0 ] && grep -q "subdir('e1000-opt')" "$p"; then
		mkdir -p hw/net/e1000-opt
		cp "$TOP"/e1000-opt/*.[ch] "$TOP"/e1000-opt/meson.build hw/net/e1000-opt/
		sed -i 's|^F: hw/net/e1000x\*$|&\nF: hw/net/e1000-opt/|' MAINTAINERS
		"${G[@]}" add hw/net/e1000-opt MAINTAINERS
		"${G[@]}" commit -q -s -F - <<'MSG'
hw/net/e1000-opt: add the e1000 optimisation stages

Three independent stages for the e1000 model, each in a file of its
own behind a narrow interface (e1000_opt.h: the register file, the
BAR to overlay and two callbacks into e1000.c):

  e1000_coalesce.c  adaptive interrupt coalescing
  e1000_shadow.c    RAM shadow of the RX/TX ring register pages
  e1000_sidecore.c  a polling thread that owns the TX data path

Nothing calls them yet; the following patches hook them into
hw/net/e1000.c behind experimental properties that default to off.
MSG
		added=1
	fi
	"${G[@]}" am -q "$p"
done
rm -rf "$OUT"
mkdir -p "$OUT"
"${G[@]}" format-patch -q -o "$OUT" base
echo "export-series: $(ls "$OUT" | wc -l) patches in $OUT"
