#!/usr/bin/env bash
# The patch series applies with `git am` to a pristine QEMU 10.0.2 tree,
# every patch passes QEMU's own checkpatch.pl, and the built binary carries
# USDT notes, including the e1000 probes the series adds.
source "$(dirname "$0")/lib.sh"

tarball="$BUILD/dl/qemu_10.0.2+ds.orig.tar.xz"
check "tarball present" test -f "$tarball"
check "tarball sha256" sh -c "echo '0901da33844a331bf8b3602b9c1fbd178e60b737c8e3ade678255bd090c9b9f1  $tarball' | sha256sum -c --status"

src="$T_TMP/qemu"
mkdir -p "$src"
tar -C "$src" -xf "$tarball" --strip-components=1
G=(git -c user.name=t -c user.email=t@localhost)
(cd "$src" && "${G[@]}" init -q && "${G[@]}" add -A && "${G[@]}" commit -qm base)
n=0
for p in "$TOP"/qemu-patches/*.patch; do
	(cd "$src" && "${G[@]}" am -q "$p") || die "$(basename "$p") does not apply"
	n=$((n + 1))
done
ok "$n patches apply with git am to a clean tree"

for p in "$TOP"/qemu-patches/*.patch; do
	out=$(cd "$src" && perl scripts/checkpatch.pl "$p" 2>&1) || { echo "$out"; die "checkpatch: $(basename "$p")"; }
	grep -q "total: 0 errors, 0 warnings" <<<"$out" || { echo "$out"; die "checkpatch warnings: $(basename "$p")"; }
done
ok "checkpatch.pl: 0 errors, 0 warnings on every patch"

# Every patch carries a real commit message (more than a subject line).
for p in "$TOP"/qemu-patches/*.patch; do
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
