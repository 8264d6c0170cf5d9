# --attach command of t-e1000opt-suspend.sh (see there).  Environment from
# scripts/vm (QEMU_PID, VEXIT_NETNS, VEXIT_TAP, VEXIT_READY_FILE) and the
# test: E1OPT_TOP, OUT (one file per recorded fact), QMPS (QMP socket).
# Failures: exit 1 (and QMP quit), the reason in $OUT/error.
TOP=$E1OPT_TOP
source "$TOP/tests/e1000opt-lib.sh"
set -u
hmp() { qmp "$QMPS" "{\"execute\":\"human-monitor-command\",\"arguments\":{\"command-line\":\"$1\"}}" | jq -r . | tr -d "\r"; }
status() { qmp "$QMPS" query-status | jq -r .status; }
# ticks TASK-STAT-FILE: utime + stime in clock ticks.
ticks() { sed 's/.*) //' "$1" | awk '{ print $12 + $13 }'; }
side_tid() {
	local t
	for t in /proc/"$QEMU_PID"/task/*; do
		[[ $(cat "$t/comm" 2>/dev/null) == sidecore-* ]] && { basename "$t"; return; }
	done
}
clk=$(getconf CLK_TCK)
touch "$VEXIT_READY_FILE"

wait_rx_moving 60 || fail "no pktgen traffic from the guest"
sleep 1
tid=$(side_tid)
[ -n "$tid" ] || fail "no sidecore thread"
bar=$(qmp "$QMPS" query-pci | jq -r '[.[].devices[] | select(.id.vendor == 32902 and .id.device == 4110) | .regions[] | select(.bar == 0) | .address][0]')
reg() { hmp "xp /1wx $((bar + $1))" | awk '{ print $2 }'; }
# TX work left at the suspend is what this test is about, and the thread
# would usually empty the ring while the vCPU is being paused: hold it
# while the guest queues frames, until after the suspend.
# Not in $(...): the held thread goes on when freeze_sidecore's helper ends.
freeze_sidecore "$QMPS" >"$OUT/freeze.out" 2>&1 || fail "$(cat "$OUT/freeze.out")"
rec freeze "$(cat "$OUT/freeze.out")"
for ((i = 0; i < 50; i++)); do
	[ "$(($(reg 0x3810)))" != "$(($(reg 0x3818)))" ] && break
	sleep 0.1
done
rec tdh_frozen "$(($(reg 0x3810)))"
rec tdt_frozen "$(($(reg 0x3818)))"
# ACPI S3 as the guest's OS would request it: SLP_TYP 1 (QEMU's S3) with
# SLP_EN in PIIX4's PM1a_CNT (I/O 0x604: SeaBIOS puts the PM base at 0x600).
# QEMU has no QMP command for it; the guest keeps running pktgen until its
# vCPU is paused.
hmp "o /w 0x604 0x2400" >>"$OUT/qmp.log"
for ((i = 0; i < 100; i++)); do
	[ "$(status)" = suspended ] && break
	sleep 0.1
done
rec status_suspended "$(status)"
[ "$(status)" = suspended ] || fail "the VM did not suspend"
# TX work pending: TDH != TDT, read through the BAR.
rec tdh "$(($(reg 0x3810)))"
rec tdt "$(($(reg 0x3818)))"
# The thread goes on with the work still there, as it would have had it
# been slower than the vCPU's pause.
thaw_sidecore >"$OUT/thaw.out" 2>&1 || fail "$(cat "$OUT/thaw.out")"
sleep 0.5
rec tdh_after "$(($(reg 0x3810)))"
rx_a=$(tap_stat rx_packets)
s_a=$(ticks /proc/"$QEMU_PID"/task/"$tid"/stat) p_a=$(cpu_ticks "$QEMU_PID") t_a=$EPOCHREALTIME
sleep 3
s_b=$(ticks /proc/"$QEMU_PID"/task/"$tid"/stat) p_b=$(cpu_ticks "$QEMU_PID") t_b=$EPOCHREALTIME
rec rx_suspended "$(($(tap_stat rx_packets) - rx_a))"
pct() { awk -v a="$1" -v b="$2" -v ta="$t_a" -v tb="$t_b" -v hz="$clk" 'BEGIN { printf "%.1f", (b - a) / hz / (tb - ta) * 100 }'; }
rec side_cpu "$(pct "$s_a" "$s_b")"
rec qemu_cpu "$(pct "$p_a" "$p_b")"
rec threads_suspended "$(sidecore_threads "$QEMU_PID")"

q system_wakeup
for ((i = 0; i < 100; i++)); do
	[ "$(status)" = running ] && break
	sleep 0.1
done
rec status_woken "$(status)"
# Wake-up resets the machine (the guest had not set a resume vector, so it
# boots again and, released again, reruns pktgen).
wait_rx_moving 120 && rec resumed 1 || fail "no traffic after system_wakeup"
rec threads_woken "$(sidecore_threads "$QEMU_PID")"
trap 'exit 0' INT
while :; do sleep 0.2; done
