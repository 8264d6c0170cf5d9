#!/usr/bin/env bash
# Fetch QEMU 10.0.2 from Debian's source archive, apply qemu-patches/ in
# order, copy in e1000-opt/, configure with the dtrace+log trace backends
# and build qemu-system-x86_64 under build/qemu/.
#
# Caching: the source tree is a git repository whose base commit is the
# pristine tarball.  When the hash of the patch series changes, the tree is
# reset to that base and the series is re-applied with `git am`; git only
# rewrites files the old or new series touched, so ninja rebuilds just
# those.  e1000-opt/ files are copied only when their content differs.
set -euo pipefail

# usage: build-qemu.sh [--asan | --stock]
#   --asan  a separate AddressSanitizer build in build/qemu-asan/, linked as
#           build/bin/qemu-system-x86_64-asan (for use-after-free tests).
#   --stock QEMU 10.0.2 with nothing but the build fix (0001), in
#           build/qemu-stock/, linked as build/bin/qemu-system-x86_64-stock:
#           the upstream e1000 that the e1000-opt equivalence test compares
#           our binary with.
#
# Frame pointers: our QEMU and the stock one keep them
# (-fno-omit-frame-pointer, and in leaf functions too), so that BPF and perf
# walk whole user stacks (vexitprof --on-cpu, perf record -g); without them a
# stack stops after its leaf.  The stock build gets the same flags because it
# is the upstream reference: a profile or timing of it against ours then
# differs in the device code only.  They cost one register and a push per
# call (about 1% of QEMU's CPU time, within the noise of the benchmarks
# here).  The ASan build is left alone: it is for use-after-free reports.
# Changed configure arguments (they are compared with the build's
# config.status) mean a fresh configure and a full build.
TOP=$(cd "$(dirname "$0")/.." && pwd)
VARIANT=
EXTRA_CONFIGURE=${QEMU_EXTRA_CONFIGURE:-}
FRAME_POINTERS=--extra-cflags="-fno-omit-frame-pointer -mno-omit-leaf-frame-pointer"
PATCHES=("$TOP"/qemu-patches/*.patch)
case "${1:-}" in
--asan)
	VARIANT=-asan
	EXTRA_CONFIGURE+=" --enable-asan"
	FRAME_POINTERS=
	;;
--stock)
	VARIANT=-stock
	PATCHES=("$TOP"/qemu-patches/0001-*.patch)
	;;
esac
B="$TOP/build/qemu$VARIANT"
DL="$TOP/build/dl"
SRC="$B/src"
VERSION=10.0.2
DEBVER="1:10.0.2+ds-2+deb13u1~bpo12+1"
TARBALL="qemu_${VERSION}+ds.orig.tar.xz"
SHA256=0901da33844a331bf8b3602b9c1fbd178e60b737c8e3ade678255bd090c9b9f1
GIT=(git -c user.name=vexit -c user.email=vexit@localhost -c advice.detachedHead=false)

log() { echo "qemu: $*"; }
die() { echo "qemu: error: $*" >&2; exit 1; }

fetch() {
	mkdir -p "$DL"
	if [ -f "$DL/$TARBALL" ] && echo "$SHA256  $DL/$TARBALL" | sha256sum -c --status; then
		return
	fi
	log "fetching $TARBALL with apt-get source"
	# The Debian patch tarball is not in the archive, so apt-get source
	# exits non-zero even when the upstream tarball arrived: judge by the
	# checksum instead of the exit code.
	(cd "$DL" && apt-get source --download-only "qemu=$DEBVER" >apt-source.log 2>&1) || true
	[ -f "$DL/$TARBALL" ] || die "apt-get source did not fetch $TARBALL (is bookworm-backports deb-src enabled? run 'sudo make setup'); see $DL/apt-source.log"
	echo "$SHA256  $DL/$TARBALL" | sha256sum -c --status ||
		die "sha256 mismatch for $TARBALL (expected $SHA256)"
}

unpack() {
	log "unpacking $TARBALL"
	rm -rf "$SRC"
	mkdir -p "$SRC"
	tar -C "$SRC" -xf "$DL/$TARBALL" --strip-components=1
	(cd "$SRC" && "${GIT[@]}" init -q && "${GIT[@]}" add -A &&
		"${GIT[@]}" commit -qm "QEMU $VERSION (Debian +ds tarball)" && "${GIT[@]}" tag upstream)
}

# Files the current series touches, with blob id and mtime, so that files
# whose content comes out the same after re-applying keep their mtime and
# ninja does not rebuild (or re-run meson for) them.
save_touched() {
	(cd "$SRC" && "${GIT[@]}" diff --name-only upstream HEAD 2>/dev/null |
		while read -r f; do
			[ -f "$f" ] && printf '%s %s %s\n' "$("${GIT[@]}" hash-object "$f")" "$(stat -c %.9Y "$f")" "$f"
		done) >"$B/touched.prev" || true
}

restore_mtimes() {
	local blob mt f
	[ -f "$B/touched.prev" ] || return 0
	while read -r blob mt f; do
		[ -f "$SRC/$f" ] || continue
		[ "$(cd "$SRC" && "${GIT[@]}" hash-object "$f")" = "$blob" ] && touch -d "@$mt" "$SRC/$f"
	done <"$B/touched.prev"
}

apply_patches() {
	local p
	save_touched
	(cd "$SRC" && "${GIT[@]}" am --abort >/dev/null 2>&1 || true
		"${GIT[@]}" reset -q --hard upstream && "${GIT[@]}" clean -qfd -e build)
	for p in "${PATCHES[@]}"; do
		[ -e "$p" ] || continue
		(cd "$SRC" && "${GIT[@]}" am -q --whitespace=nowarn "$p") ||
			die "patch $(basename "$p") does not apply to QEMU $VERSION"
	done
	restore_mtimes
	log "applied ${#PATCHES[@]} patches"
}

sync_opt() {
	# e1000-opt/ sources live in hw/net/e1000-opt/ of the tree.
	local d="$SRC/hw/net/e1000-opt" f
	[ -d "$TOP/e1000-opt" ] && [ "$VARIANT" != -stock ] || return 0
	mkdir -p "$d"
	for f in "$TOP"/e1000-opt/*.[ch] "$TOP"/e1000-opt/meson.build; do
		[ -e "$f" ] || continue
		cmp -s "$f" "$d/$(basename "$f")" || cp "$f" "$d/"
	done
}

# shellcheck disable=SC2206,SC2054 # EXTRA_CONFIGURE is a list of words; "dtrace,log" is one
CONFIGURE_ARGS=(--python=/usr/bin/python3
	--target-list=x86_64-softmmu --enable-trace-backends=dtrace,log
	--enable-kvm --enable-slirp --enable-tcg --enable-fdt=system
	--disable-docs --disable-werror --without-default-features
	--disable-install-blobs --disable-download $EXTRA_CONFIGURE
	${FRAME_POINTERS:+"$FRAME_POINTERS"})

# Was the build configured with CONFIGURE_ARGS?  QEMU's configure writes its
# arguments, each in single quotes, on config.status's exec line.
configured() {
	local line="exec '../configure'" a
	for a in "${CONFIGURE_ARGS[@]}"; do
		line+=" '$a'"
	done
	line+=' "$@"'
	[ -f "$SRC/build/build.ninja" ] && grep -qxF "$line" "$SRC/build/config.status" 2>/dev/null
}

configure() {
	log "configuring"
	rm -rf "$SRC/build"
	mkdir -p "$SRC/build"
	(cd "$SRC/build" && ../configure "${CONFIGURE_ARGS[@]}" \
		>"$B/configure.log" 2>&1) || die "configure failed, see $B/configure.log"
}

key=$( (cat "${PATCHES[@]}" 2>/dev/null; echo "$EXTRA_CONFIGURE") | sha256sum | cut -c1-16)
mkdir -p "$B"
fetch
[ -d "$SRC/.git" ] || unpack
if [ "$(cat "$B/patches.key" 2>/dev/null)" != "$key" ]; then
	rm -f "$B/patches.key"
	apply_patches
	echo "$key" >"$B/patches.key"
fi
sync_opt
configured || configure
log "building qemu-system-x86_64"
ninja -C "$SRC/build" qemu-system-x86_64 >"$B/ninja.log" 2>&1 || {
	tail -40 "$B/ninja.log" >&2
	die "build failed, see $B/ninja.log"
}
mkdir -p "$TOP/build/bin"
ln -sf "$SRC/build/qemu-system-x86_64" "$TOP/build/bin/qemu-system-x86_64$VARIANT"
log "ready: build/bin/qemu-system-x86_64$VARIANT"
