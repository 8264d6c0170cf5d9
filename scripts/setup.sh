#!/usr/bin/env bash
# One-command setup for vexit on Debian 12 (bookworm): enables
# bookworm-backports (deb + deb-src; QEMU 10.0.2 source and meson >= 1.5 live
# there) and installs every package the build, the guest and the tests need.
# Idempotent: a second run checks and changes nothing.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
	echo "setup.sh: must run as root (try: sudo make setup)" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
BPO=/etc/apt/sources.list.d/vexit-backports.sources

# Packages from bookworm.
PKGS=(
	# build toolchain and BPF
	build-essential gcc-multilib make pkg-config git clang llvm
	libbpf-dev bpftool libelf-dev zlib1g-dev
	# vexitprof --serve: HTTP server for /metrics
	libmicrohttpd-dev
	# vexitprof diff reads JSON profiles
	libjson-c-dev
	# QEMU 10.0.2 build from source
	dpkg-dev xz-utils bzip2 ninja-build libglib2.0-dev libpixman-1-dev
	libslirp-dev libfdt-dev flex bison systemtap-sdt-dev python3-venv
	# firmware QEMU loads at run time
	qemu-system-data seabios ipxe-qemu
	# test guest userland (the kernel is extracted from its .deb, not installed)
	busybox-static iperf3 cpio gzip kmod
	# e1000 stage 4 tests: the driver's offload counters in the guest,
	# the frames on the host side of the tap
	ethtool tcpdump
	# tests, host-side traffic, plots and rendering
	iproute2 bpftrace jq python3 socat gnuplot-nox chromium procps psmisc nftables
	linux-perf python3-jsonschema python3-pytest
	# a real Prometheus server (and promtool) scrapes vexitprof --serve in its test
	prometheus
)
# Packages that must come from bookworm-backports.
BPO_PKGS=(meson python3-pycotap)

if [ ! -f "$BPO" ]; then
	cat >"$BPO" <<'SRC'
Types: deb deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
	need_update=1
fi

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
meson_ok=0
if command -v meson >/dev/null && dpkg --compare-versions "$(meson --version)" ge 1.5; then
	meson_ok=1
fi
pycotap_ok=0
dpkg-query -W -f='${Status}' python3-pycotap 2>/dev/null | grep -q 'install ok installed' && pycotap_ok=1
# apt-get source needs the deb-src index of backports.
src_ok=0
ls /var/lib/apt/lists/*bookworm-backports*Sources* >/dev/null 2>&1 && src_ok=1

if [ ${#missing[@]} -eq 0 ] && [ $meson_ok -eq 1 ] && [ $pycotap_ok -eq 1 ] && [ $src_ok -eq 1 ] && [ -z "${need_update:-}" ]; then
	echo "setup: all packages present, nothing to do"
	exit 0
fi

echo "setup: apt-get update"
apt-get update -qq
if [ ${#missing[@]} -gt 0 ]; then
	echo "setup: installing ${missing[*]}"
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	# Debian's prometheus package enables and starts a server on :9090; the
	# tests run their own on loopback, so one we just installed is stopped
	# and disabled again (one that was installed before is left alone).
	if [[ " ${missing[*]} " == *" prometheus "* ]] && command -v systemctl >/dev/null &&
		systemctl is-enabled prometheus >/dev/null 2>&1; then
		echo "setup: disabling the prometheus service the package enabled (the tests start their own)"
		systemctl disable --now prometheus >/dev/null 2>&1 || true
	fi
fi
if [ $meson_ok -eq 0 ] || [ $pycotap_ok -eq 0 ]; then
	echo "setup: installing ${BPO_PKGS[*]} from bookworm-backports"
	apt-get install -y -qq --no-install-recommends -t bookworm-backports "${BPO_PKGS[@]}" >/dev/null
fi
echo "setup: done"
