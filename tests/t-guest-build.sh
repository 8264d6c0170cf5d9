#!/usr/bin/env bash
# The Linux test guest: `make guest` output, what the initramfs carries, that
# rebuilds are incremental, and the rr client / udp-echo server (on loopback,
# no VM needed).
source "$(dirname "$0")/lib.sh"
G=$BUILD/guest

check "make guest" make -s -C "$TOP" guest
for f in vmlinuz initramfs.cpio.gz rr udp-echo kernel/vexit.order; do
	check "$f built" test -s "$G/$f"
done
# A bzImage carries the "HdrS" setup header signature at 0x202.
expect_eq "vmlinuz is a bzImage" "$(dd if="$G/vmlinuz" bs=1 skip=$((0x202)) count=4 2>/dev/null)" HdrS
check "rr is static (no program interpreter)" bash -c "! readelf -l '$G/rr' | grep -q INTERP"

# ---- initramfs contents -------------------------------------------------
# GNU cpio stops at the first trailer, but the kernel unpacks concatenated
# archives (build-guest.sh appends /dev/console as one): list all of them.
zcat "$G/initramfs.cpio.gz" | python3 -c '
import sys, stat
d = sys.stdin.buffer.read(); o = 0
while o + 110 <= len(d):
    if d[o:o + 6] != b"070701":
        o += 1  # zero padding between archives
        continue
    f = [int(d[o + 6 + 8 * i:o + 14 + 8 * i], 16) for i in range(13)]
    mode, size, rmaj, rmin, nsz = f[1], f[6], f[9], f[10], f[11]
    name = d[o + 110:o + 110 + nsz - 1].decode()
    o = (o + 110 + nsz + 3) & ~3
    o = (o + size + 3) & ~3
    kind = "c" if stat.S_ISCHR(mode) else "l" if stat.S_ISLNK(mode) else "d" if stat.S_ISDIR(mode) else "-"
    if name != "TRAILER!!!":
        print(kind, "%d:%d" % (rmaj, rmin), name)
' >"$T_TMP/list"
has() { grep -qE " $1\$" "$T_TMP/list"; }
for f in init bin/busybox bin/sh bin/rr bin/insmod bin/ip lib/modules/vexit.order; do
	check "initramfs has $f" has "$f"
done
check "initramfs has /dev/console as character device 5:1" grep -qx 'c 5:1 dev/console' "$T_TMP/list"
iperf=$(readlink -f "$(command -v iperf3)")
check "initramfs has iperf3" has "${iperf#/}"
# Every library the host's loader would map for iperf3 (independent of how
# build-guest.sh collects them).
for lib in $(ldd "$iperf" | awk '/=> \//{print $3} /^\t\//{print $1}'); do
	check "initramfs has $lib" has "${lib#/}"
done

# Module order: each module's dependencies (modinfo, not modules.dep) load
# before it, and the drivers the tests need are all there.
zcat "$G/initramfs.cpio.gz" | (cd "$T_TMP" && mkdir root && cd root && cpio -id --quiet 2>/dev/null)
order=$T_TMP/root/lib/modules/vexit.order
for m in e1000 e1000e virtio_net virtio_pci pktgen; do
	check "module $m in load order" grep -q "/$m.ko$" "$order"
done
n=0
while read -r ko; do
	n=$((n + 1))
	check "$(basename "$ko") present" test -f "$T_TMP/root$ko"
	for dep in $(modinfo -F depends "$T_TMP/root$ko" | tr ',' ' '); do
		pos=$(grep -n "/$dep.ko$" "$order" | cut -d: -f1)
		[ -n "$pos" ] && [ "$pos" -lt "$n" ] || die "$(basename "$ko") needs $dep before it (at ${pos:-nowhere})"
	done
done <"$order"
ok "every module's dependencies load before it"
check "init is valid sh" sh -n "$T_TMP/root/init"

# ---- incremental rebuilds -------------------------------------------------
check "nothing to rebuild" make -s -q -C "$TOP" "$G/vmlinuz" "$G/initramfs.cpio.gz" "$G/rr" "$G/udp-echo"
k_before=$(stat -c %Y.%s "$G/vmlinuz")
i_before=$(stat -c %y "$G/initramfs.cpio.gz")
sleep 1.1 # mtime granularity of some filesystems
touch "$TOP/guest/init"
start=$(date +%s%N)
check "rebuild after touching guest/init" make -s -C "$TOP" guest
ms=$((($(date +%s%N) - start) / 1000000))
expect_eq "kernel step not redone" "$(stat -c %Y.%s "$G/vmlinuz")" "$k_before"
check "initramfs rebuilt" test "$(stat -c %y "$G/initramfs.cpio.gz")" != "$i_before"
expect_le "incremental rebuild time (ms)" "$ms" 20000

# ---- rr and udp-echo on loopback ----------------------------------------
port=$((20000 + RANDOM % 20000))
"$G/udp-echo" -a 127.0.0.1 -p "$port" &
echo_pid=$!
at_exit "kill $echo_pid 2>/dev/null"
sleep 0.2
check "udp-echo runs" kill -0 "$echo_pid"
"$G/rr" -a 127.0.0.1 -p "$port" -n 200 -w 5 >"$T_TMP/rr.json"
jq -e 'type == "object"' "$T_TMP/rr.json" >/dev/null || die "rr output is not a JSON object: $(cat "$T_TMP/rr.json")"
ok "rr output is a JSON object"
r() { jq -r ".$1" "$T_TMP/rr.json"; }
expect_eq "rr replies" "$(r count)" 200
expect_eq "rr lost" "$(r lost)" 0
expect_ge "rr min > 0" "$(r min_us)" 0.001
expect_ge "rr p50 >= min" "$(r p50_us)" "$(r min_us)"
expect_ge "rr p99 >= p50" "$(r p99_us)" "$(r p50_us)"
expect_ge "rr max >= p99" "$(r max_us)" "$(r p99_us)"
expect_ge "rr mean >= min" "$(r mean_us)" "$(r min_us)"
expect_le "rr mean <= max" "$(r mean_us)" "$(r max_us)"
kill "$echo_pid"
# Nobody answers: every request times out and rr says so, quickly.
start=$(date +%s%N)
if "$G/rr" -a 127.0.0.1 -p "$port" -n 3 -w 0 -t 50 >"$T_TMP/out" 2>"$T_TMP/err"; then
	die "rr succeeded without a server"
fi
ok "rr fails without a server"
check "rr names the problem" grep -q "no reply" "$T_TMP/err"
expect_le "rr without server gives up fast (ms)" $((($(date +%s%N) - start) / 1000000)) 2000
rc=0
"$G/rr" -a 127.0.0.1 -p 0 -n 3 2>/dev/null || rc=$?
expect_eq "rr rejects port 0 (usage error)" "$rc" 2

check "C sources follow .clang-format" clang-format --dry-run --Werror "$TOP"/guest/*.c
