# --attach command of t-e1000opt-hotplug.sh (see there).  Environment from
# scripts/vm (QEMU_PID, VEXIT_NETNS, VEXIT_TAP, VEXIT_READY_FILE) and the test:
# E1OPT_TOP, OUT (one file per recorded fact), QMPS (QMP socket), ID (the
# e1000's device id).  The guest only sleeps; the traffic is a flood of ICMP
# echo requests from the host (tests/e1000opt/pingflood.py: the e1000
# receives the requests, the guest kernel's replies go out through the
# sidecore).  Failures: exit 1, the reason in $OUT/error.
TOP=$E1OPT_TOP
source "$TOP/tests/e1000opt-lib.sh"
set -u
rec exe "$(readlink -f /proc/"$QEMU_PID"/exe)"
rec threads_before "$(sidecore_threads "$QEMU_PID")"
rec thread_name "$(cat /proc/"$QEMU_PID"/task/*/comm | grep '^sidecore-' | head -n 1)"
# bpftrace, in QEMU's process: e1000_tx_batch by thread name (TX belongs to
# the sidecore), and whether the thread that runs pci_e1000_uninit (the
# unrealize) releases the BQL before it returns.
X=/proc/$QEMU_PID/exe
bpftrace -e "BEGIN { printf(\"READY\\n\"); }
usdt:$X:qemu:e1000_tx_batch /pid == $QEMU_PID/ {
	if (strncmp(comm, \"sidecore-\", 9) == 0) { @side_batches = count(); } else { @other_batches = count(); }
}
uprobe:$X:pci_e1000_uninit /pid == $QEMU_PID/ { @uninit = count(); @in_uninit[tid] = 1; }
uretprobe:$X:pci_e1000_uninit /pid == $QEMU_PID/ { delete(@in_uninit[tid]); @uninit_ret = count(); }
uprobe:$X:bql_unlock /pid == $QEMU_PID/ {
	@bql_unlocks = count();
	if (@in_uninit[tid]) { @bql_unlocks_in_uninit = count(); }
}" >"$OUT/bt.out" 2>"$OUT/bt.err" &
bp=$!
for ((i = 0; i < 600; i++)); do
	grep -q READY "$OUT/bt.out" && break
	kill -0 $bp 2>/dev/null || fail "bpftrace failed: $(cat "$OUT/bt.err")"
	sleep 0.1
done
grep -q READY "$OUT/bt.out" || fail "bpftrace not ready in 60 s"
touch "$VEXIT_READY_FILE"

ip netns exec "$VEXIT_NETNS" /usr/bin/python3 "$E1OPT/pingflood.py" 10.77.0.2 >"$OUT/ping.log" 2>&1 &
pp=$!
wait_rx_moving 20 || fail "no replies to the flood ping"
sleep 1
rec threads_busy "$(sidecore_threads "$QEMU_PID")"
rx_before=$(tap_stat rx_packets)
# The guest's ACPI hotplug code (acpiphp) ejects the device: the e1000
# driver's remove runs, then QEMU unrealizes the device.
q "device_del {\"id\":\"$ID\"}" "@event DEVICE_DELETED 30"
rec deleted 1
rec threads_after "$(sidecore_threads "$QEMU_PID")"
rec status_after "$(qmp "$QMPS" query-status | jq -r .status)"
sleep 1
kill -TERM $pp 2>/dev/null
wait $pp 2>/dev/null
rec rx_during "$(($(tap_stat rx_packets) - rx_before))"
rec qom_gone "$(qmp "$QMPS" "qom-list {\"path\":\"/machine/peripheral\"}" | jq -r --arg id "$ID" '[.[] | select(.name == $id)] | length')"

# Plug a new one in (the guest's driver probes it) and pull it again, idle.
q "device_add {\"driver\":\"e1000\",\"id\":\"$ID\",\"netdev\":\"net0\",\"x-coalesce\":true,\"x-shadow-regs\":true,\"x-sidecore\":\"on\"}"
sleep 2
rec threads_replugged "$(sidecore_threads "$QEMU_PID")"
q "device_del {\"id\":\"$ID\"}" "@event DEVICE_DELETED 30"
rec threads_after2 "$(sidecore_threads "$QEMU_PID")"
sleep 1
rec status_end "$(qmp "$QMPS" query-status | jq -r .status)"
# bpftrace prints its counters when it ends.
kill -INT $bp
wait $bp
bt() { awk -v k="@$1:" '$1 == k { v = $2 } END { print v + 0 }' "$OUT/bt.out"; }
for k in side_batches other_batches uninit uninit_ret bql_unlocks bql_unlocks_in_uninit; do
	rec "bt_$k" "$(bt $k)"
done
# A clean exit: AddressSanitizer reports what it finds at exit too.
q quit
rec quit_sent 1
trap 'exit 0' INT
while :; do sleep 0.2; done
