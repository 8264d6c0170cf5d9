#!/usr/bin/env bash
# The patch series applies with `git am` to a pristine QEMU 10.0.2 tree,
# both as kept here (qemu-patches/ + e1000-opt/) and as the standalone
# series scripts/export-series.sh writes; every commit of the standalone
# series compiles and links (the files the series changes); every patch of
# the standalone series passes QEMU's own checkpatch.pl; the built binary
# carries USDT notes, including the e1000 probes, and the e1000-opt
# properties.
source "$(dirname "$0")/lib.sh"

tarball="$BUILD/dl/qemu_10.0.2+ds.orig.tar.xz"
check "tarball present" test -f "$tarball"
check "tarball sha256" sh -c "echo '0901da33844a331bf8b3602b9c1fbd178e60b737c8e3ade678255bd090c9b9f1  $tarball' | sha256sum -c --status"

src="$T_TMP/qemu"
mkdir -p "$src"
tar -C "$src" -xf "$tarball" --strip-components=1
G=(git -c gc.auto=0 -c user.name=t -c user.email=t@localhost)
(cd "$src" && "${G[@]}" init -q && "${G[@]}" add -A && "${G[@]}" commit -qm base)
(cd "$src" && "${G[@]}" tag base)
n=0
for p in "$TOP"/qemu-patches/*.patch; do
	(cd "$src" && "${G[@]}" am -q "$p") || die "$(basename "$p") does not apply"
	n=$((n + 1))
done
ok "$n patches of qemu-patches/ apply with git am to a clean tree"

series="$T_TMP/series"
bash "$TOP/scripts/export-series.sh" "$series" >/dev/null
(cd "$src" && "${G[@]}" reset -q --hard base && "${G[@]}" clean -qfd)
n=0
for p in "$series"/*.patch; do
	(cd "$src" && "${G[@]}" am -q "$p") || die "standalone $(basename "$p") does not apply"
	n=$((n + 1))
done
ok "standalone series: $n patches apply"
for f in "$TOP"/e1000-opt/*.[ch]; do
	cmp -s "$f" "$src/hw/net/e1000-opt/$(basename "$f")" || die "standalone series lacks $(basename "$f")"
done
ok "standalone series carries e1000-opt/ unchanged"

# Every commit of the standalone series builds, not only the last one (a
# patch must not use what a later patch adds: e1000_sidecore.c needs
# bql_trylock(), so 0003 adds it before the e1000-opt sources arrive).
# Each C file the series changes is compiled at every commit with our
# build's flags plus -Werror, and what the objects need must be defined.
[ -f "$BUILD/qemu/src/build/compile_commands.json" ] || die "no configured QEMU build (make qemu)"
out=$(python3 "$TOP/tests/e1000opt/series-compile.py" "$src" base "$BUILD/qemu/src/build" "$BUILD/qemu/src" "$QEMU" 2>&1) ||
	{ echo "$out"; die "the standalone series does not build commit by commit"; }
n=$(grep -c '^patch [0-9]*: [0-9]* files compile and link' <<<"$out" || true)
expect_eq "standalone commits that compile and link" "$n" "$(ls "$series" | wc -l)"

for p in "$series"/*.patch; do
	out=$(cd "$src" && perl scripts/checkpatch.pl "$p" 2>&1) || { echo "$out"; die "checkpatch: $(basename "$p")"; }
	grep -q "total: 0 errors, 0 warnings" <<<"$out" || { echo "$out"; die "checkpatch warnings: $(basename "$p")"; }
done
ok "checkpatch.pl: 0 errors, 0 warnings on every patch"

# Every patch carries a real commit message (more than a subject line).
for p in "$series"/*.patch; do
	body=$(awk '/^Subject:/{s=1;next} s&&/^---$/{exit} s' "$p" | grep -vc '^\s*$' || true)
	[ "$body" -ge 3 ] || die "$(basename "$p"): commit message body too short"
done
ok "every patch has a commit message body"

notes=$(readelf -n "$QEMU")
total=$(grep -c 'stapsdt' <<<"$notes" || true)
expect_ge "USDT notes in qemu-system-x86_64" "$total" 1000
for probe in e1000_tx_batch e1000_rx_frame e1000_irq_raise e1000_irq_lower memory_region_ops_write memory_region_ops_read; do
	grep -q "Name: $probe\$" <<<"$notes" || die "USDT probe $probe missing"
done
ok "e1000 and memory_region USDT probes present"

props=$("$QEMU" -device e1000,help 2>&1)
for p in x-coalesce x-coalesce-max-us x-coalesce-max-frames x-coalesce-min-pps \
	x-shadow-regs x-shadow-poll-us x-shadow-idle-us x-sidecore x-sidecore-spin-us x-sidecore-cpu; do
	grep -q "^  $p=" <<<"$props" || die "e1000 property $p missing"
done
ok "e1000-opt properties present"
# Invalid tunables are refused at device creation with a clear error.
for bad in x-coalesce-max-us=1 x-shadow-poll-us=0 x-sidecore-cpu=4096; do
	case $bad in x-coalesce*) on=x-coalesce=on ;; x-shadow*) on=x-shadow-regs=on ;; *) on=x-sidecore=on ;; esac
	out=$(timeout 20 "$QEMU" -L /usr/share/seabios -L /usr/share/qemu -nodefaults -display none -machine pc -accel qtest -qtest null \
		-device "e1000,romfile=,$on,$bad" 2>&1) && die "$bad accepted"
	grep -q "${bad%%=*}" <<<"$out" || die "$bad: unclear error: $out"
done
ok "invalid tunables refused with an error naming the property"
