#!/usr/bin/env bash
# Builds the Linux test guest from Debian packages only.  Called by
# guest/guest.mk, which decides when each step runs.
#
#   build-guest.sh kernel    OUT DL   Debian's 6.1 kernel .deb (cached in DL) ->
#                                     OUT/vmlinuz, OUT/kernel/ (the modules the
#                                     guest loads) and OUT/kernel/vexit.order
#   build-guest.sh initramfs OUT      OUT/kernel + guest/init + busybox-static +
#                                     iperf3 (+ its libraries) + OUT/rr ->
#                                     OUT/initramfs.cpio.gz
#
# GUEST_KERNEL=linux-image-6.1.0-N-amd64 pins the kernel package; by default
# the newest linux-image-6.1.0-*-amd64 apt knows about is used.  The choice
# is made once per build directory (OUT/kernel-package): `make clean` picks
# again.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)

# Modules the guest needs; their dependencies are added from modules.dep.
# The virtio stack comes first so its modules are in place before virtio_net.
MODULES=(virtio_pci virtio_net e1000 e1000e pktgen)

# Scratch directories, removed however the script ends.
x=
root=
trap 'rm -rf ${x:+"$x"} ${root:+"$root"}' EXIT

log() { echo "build-guest: $*" >&2; }
die() {
	echo "build-guest: error: $*" >&2
	exit 1
}

newest_kernel_package() {
	# Only packages apt can actually download (a candidate version), newest
	# ABI number first.
	local p
	for p in $(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64$' |
		awk '{print $1}' | sort -rV); do
		# Not "| grep -q": an early exit of grep fails the pipeline
		# under pipefail when apt-cache gets SIGPIPE.
		if [[ $(apt-cache policy "$p") == *"Candidate: "[0-9]* ]]; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

step_kernel() {
	local out=$1 dl=$2 pkg deb kver m
	mkdir -p "$out" "$dl"
	if [ -n "${GUEST_KERNEL:-}" ]; then
		pkg=$GUEST_KERNEL
	elif [ -s "$out/kernel-package" ]; then
		pkg=$(cat "$out/kernel-package")
	else
		pkg=$(newest_kernel_package) ||
			die "apt knows no linux-image-6.1.0-*-amd64 package (run 'apt-get update' or 'make setup')"
	fi
	deb=$(ls "$dl/${pkg}"_*_amd64.deb 2>/dev/null | sort -V | tail -n 1 || true)
	if [ -z "$deb" ]; then
		log "downloading $pkg into $dl"
		# apt's sandbox user cannot write into build/; root downloading
		# unsandboxed is fine for a file we only unpack.
		(cd "$dl" && apt-get download -o APT::Sandbox::User=root "$pkg") >&2 ||
			die "apt-get download $pkg failed"
		deb=$(ls "$dl/${pkg}"_*_amd64.deb | sort -V | tail -n 1)
	fi
	log "kernel from $(basename "$deb")"
	x=$(mktemp -d "$out/.kx.XXXXXX")
	dpkg-deb -x "$deb" "$x"
	kver=$(ls "$x/lib/modules" | head -n 1)
	[ -n "$kver" ] && [ -f "$x/boot/vmlinuz-$kver" ] || die "$deb has no vmlinuz/modules"
	# The package ships no modules.dep (depmod runs at install time).
	depmod -b "$x" "$kver"
	rm -rf "$out/kernel.new"
	mkdir -p "$out/kernel.new"
	: >"$out/kernel.new/vexit.order"
	for m in "${MODULES[@]}"; do
		modprobe -D -d "$x" -S "$kver" "$m" >"$x/deps" ||
			die "module $m not found in $pkg"
		# "insmod /path/to/mod.ko" lines, dependencies first; builtins are
		# reported as "builtin m" and need nothing.
		local ko rel
		while read -r kind ko _; do
			[ "$kind" = insmod ] || continue
			rel=${ko#"$x"/}
			grep -qxF "/$rel" "$out/kernel.new/vexit.order" && continue
			mkdir -p "$out/kernel.new/$(dirname "$rel")"
			cp "$ko" "$out/kernel.new/$rel"
			echo "/$rel" >>"$out/kernel.new/vexit.order"
		done <"$x/deps"
	done
	echo "$kver" >"$out/kernel.new/version"
	rm -rf "$out/kernel"
	mv "$out/kernel.new" "$out/kernel"
	echo "$pkg" >"$out/kernel-package"
	cp "$x/boot/vmlinuz-$kver" "$out/vmlinuz.tmp"
	mv "$out/vmlinuz.tmp" "$out/vmlinuz"
	log "vmlinuz $kver, modules: $(xargs -n1 basename <"$out/kernel/vexit.order" | tr '\n' ' ')"
}

# copy_with_libs ROOT BINARY: BINARY and every shared library it loads
# (including the dynamic loader) at the same paths under ROOT.
copy_with_libs() {
	local root=$1 bin=$2 lib
	install -D -m 0755 "$bin" "$root$bin"
	for lib in $(ldd "$bin" | awk '/=> \//{print $3} /^\t\//{print $1}'); do
		[ -e "$root$lib" ] || install -D -m 0755 "$(readlink -f "$lib")" "$root$lib"
	done
}

# newc_entry INO MODE(octal) RDEVMAJOR RDEVMINOR NAME: one empty cpio "newc"
# entry (header, name, padding to 4 bytes).
newc_entry() {
	local name=$5 nl=$((${#5} + 1)) pad
	printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' \
		"$1" "$((8#$2))" 0 0 1 0 0 0 0 "$3" "$4" "$nl" 0
	printf '%s\0' "$name"
	pad=$(((4 - (110 + nl) % 4) % 4))
	head -c "$pad" /dev/zero
}

step_initramfs() {
	local out=$1 busybox iperf ethtool
	[ -f "$out/kernel/vexit.order" ] || die "run the kernel step first"
	[ -x "$out/rr" ] || die "$out/rr missing"
	busybox=$(command -v busybox || true)
	[ -n "$busybox" ] && ! ldd "$busybox" >/dev/null 2>&1 ||
		die "need a static busybox (apt-get install busybox-static)"
	iperf=$(command -v iperf3 || true)
	[ -n "$iperf" ] || die "need iperf3 (apt-get install iperf3)"
	# The driver's checksum offload counters (ethtool -S) for the csum step.
	ethtool=$(command -v ethtool || true)
	[ -n "$ethtool" ] || die "need ethtool (apt-get install ethtool)"
	root=$(mktemp -d "$out/.root.XXXXXX")
	mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,run,etc,lib/modules}
	install -m 0755 "$busybox" "$root/bin/busybox"
	local app
	for app in $("$busybox" --list); do
		[ "$app" = busybox ] || ln -s busybox "$root/bin/$app"
	done
	install -m 0755 "$HERE/init" "$root/init"
	install -m 0755 "$out/rr" "$root/bin/rr"
	copy_with_libs "$root" "$(readlink -f "$iperf")"
	copy_with_libs "$root" "$(readlink -f "$ethtool")"
	[ -e "$root/bin/iperf3" ] || ln -sf "$(readlink -f "$iperf")" "$root/bin/iperf3"
	cp -a "$out/kernel/lib/." "$root/lib/"
	cp "$out/kernel/vexit.order" "$root/lib/modules/vexit.order"
	(cd "$root" && find . -mindepth 1 | LC_ALL=C sort |
		cpio --quiet -o -H newc -R 0:0) >"$out/initramfs.cpio"
	# The kernel opens /dev/console for init before init can mount
	# devtmpfs, so the archive must carry the node.  It is written as a
	# second, hand-made archive (the kernel unpacks concatenated ones)
	# because mknod in the build tree would need privileges.
	newc_entry 1 0020600 5 1 dev/console >>"$out/initramfs.cpio"
	newc_entry 0 0 0 0 'TRAILER!!!' >>"$out/initramfs.cpio"
	gzip -9n <"$out/initramfs.cpio" >"$out/initramfs.cpio.gz.tmp"
	rm -f "$out/initramfs.cpio"
	mv "$out/initramfs.cpio.gz.tmp" "$out/initramfs.cpio.gz"
	log "initramfs $(du -h "$out/initramfs.cpio.gz" | cut -f1)"
}

case "${1:-}" in
kernel) step_kernel "$2" "$3" ;;
initramfs) step_initramfs "$2" ;;
*) die "usage: build-guest.sh kernel OUT DL | initramfs OUT" ;;
esac
