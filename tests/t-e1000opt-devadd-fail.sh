#!/usr/bin/env bash
# e1000-opt: a device_add that fails inside the stages' realize fails the
# command and leaves the VM running (it used to exit QEMU: x-shadow-regs
# allocated its RAM pages with &error_fatal).  The failure is injected:
# tests/e1000opt/failmmap.c (LD_PRELOAD) makes the allocation of the first,
# then the second shadow page fail (the second case exercises the undoing
# of the first page).  QEMU runs with -accel qtest (no guest needed: adding
# a PCI device to the pc machine's root bus needs no guest help).
#  - each failing device_add returns a QMP error naming the memory failure;
#    QEMU still answers, runs, has no such device in the QOM tree and no
#    sidecore thread; the injection really happened (its log);
#  - then the same device_add, not injected, succeeds: the device and its
#    sidecore thread are there, and it has both shadow pages;
#  - QEMU quits with status 0.
source "$(dirname "$0")/lib.sh"
source "$TOP/tests/e1000opt-lib.sh"
check "qemu built" test -x "$QEMU"
so=$T_TMP/failmmap.so
check "build the fault injector" gcc -O2 -Wall -Wextra -Werror -shared -fPIC -o "$so" "$E1OPT/failmmap.c" -ldl

sock=$T_TMP/qmp.sock ff=$T_TMP/fail
FAILMMAP_FILE=$ff LD_PRELOAD=$so "$QEMU" -L /usr/share/qemu -L /usr/share/seabios \
	-nodefaults -no-user-config -display none -machine pc -accel qtest -qtest null \
	-name debug-threads=on -netdev user,id=n0 -qmp "unix:$sock,server=on,wait=off" \
	2>"$T_TMP/qemu.err" &
qpid=$!
trap 'kill $qpid 2>/dev/null; wait $qpid 2>/dev/null' EXIT
ADD='device_add {"driver":"e1000","id":"f0","netdev":"n0","romfile":"","x-coalesce":true,"x-shadow-regs":true,"x-sidecore":"on"}'
present() { qmp "$sock" 'qom-list {"path":"/machine/peripheral"}' | jq -r '[.[] | select(.name == "f0")] | length'; }
# Arm the injection only once QEMU is up: the ROM blobs the machine sets
# up at start-up (e.g. etc/acpi/rsdp, also a 4 KiB RAM region) take the same
# kind of reservation, and QEMU would fail to start instead.
expect_eq "VM status before any injection" "$(qmp "$sock" query-status | jq -r .status)" running

for k in 0 1; do
	page=$((k + 1))
	echo "$k" >"$ff"
	if qmp "$sock" "$ADD" >"$T_TMP/add-$k.out" 2>"$T_TMP/add-$k.err"; then
		die "shadow page $page injected to fail: device_add succeeded: $(cat "$T_TMP/add-$k.out")"
	fi
	cat "$T_TMP/add-$k.err"
	check "page $page: the injected failure happened" grep -q 'failed mmap' "$ff.log"
	rm -f "$ff.log"
	check "page $page: device_add failed with the memory error" grep -qi 'memory' "$T_TMP/add-$k.err"
	check "page $page: QEMU still runs" kill -0 $qpid
	expect_eq "page $page: VM status" "$(qmp "$sock" query-status | jq -r .status)" running
	expect_eq "page $page: no device f0 in the QOM tree" "$(present)" 0
	expect_eq "page $page: no sidecore thread" "$(sidecore_threads $qpid)" 0
done

rm -f "$ff"
check "device_add without injection" qmp "$sock" "$ADD"
expect_eq "device f0 in the QOM tree" "$(present)" 1
expect_eq "its sidecore thread" "$(sidecore_threads $qpid)" 1
kids=$(qmp "$sock" 'qom-list {"path":"/machine/peripheral/f0"}' | jq -r '.[].name')
for p in e1000-shadow-rx e1000-shadow-tx; do
	grep -q "^$p\[" <<<"$kids" || die "device f0 has no $p memory region: $kids"
done
ok "device f0 has both shadow pages (QOM children)"
qmp "$sock" quit >/dev/null || true
rc=0
wait $qpid || rc=$?
trap - EXIT
expect_eq "QEMU exit status after quit" "$rc" 0
