#!/usr/bin/env bash
# vexitprof stops counting at the signal, not when its probes are detached.
#
# Detaching the USDT uprobes takes a good part of a second after SIGINT (an
# RCU grace period per probe site), and the guest keeps running meanwhile.
# vexitprof sets the .bss flag vp_closed as soon as it sees the signal, and
# every BPF program returns at once from then on.  Without the flag the report
# would also hold the accesses made while it detaches.
#
# A TCG bare-metal guest reads e1000 STATUS and writes port 0x80 in a steady
# loop (loop=1).  bpftrace counts the same USDT events (memory_region_ops_read
# on e1000-mmio, and memory_region_ops_write on ioport80, whose probe
# vexitprof detaches later) independently: @before until the kernel generates vexitprof's SIGINT
# (tracepoint signal:signal_generate), @between from then until vexitprof
# has set the flag (its call of target_vcpu_threads, the first thing after
# the store), @after from then until vexitprof exits.  vexitprof's count must
# lie between @before and @before + @between, and @after (what an unflagged
# vexitprof could also count while it detaches) must be large.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/vexitprof-lib.sh"
make -s -C "$TOP" baremetal >/dev/null

LOAD_S=3 # steady load before the signal
STATUS=1000

cat >"$T_TMP/attach.sh" <<EOF
# run by scripts/run-baremetal with QEMU_PID and VEXIT_READY_FILE set
trap 'kill -INT \$bp 2>/dev/null' INT
"$VEXITPROF" -p \$QEMU_PID --json --ready-file "$T_TMP/vp.ready" >"$T_TMP/vp.json" 2>"$T_TMP/vp.err" &
vp=\$!
echo \$vp >"$T_TMP/vp.pid"
until [ -e "$T_TMP/vp.ready" ]; do
	kill -0 \$vp 2>/dev/null || exit 1
	sleep 0.1
done
bpftrace -e '
BEGIN { printf("READY\n"); }
usdt:/proc/'\$QEMU_PID'/exe:qemu:memory_region_ops_read
/pid == '\$QEMU_PID' && str(arg5) == "e1000-mmio"/ {
	if (@t_first == 0) { @t_first = nsecs; }
	if (@stopped == 0) { @before = count(); }
	else if (@flagged == 0) { @between = count(); }
	else if (@exited == 0) { @after = count(); }
}
usdt:/proc/'\$QEMU_PID'/exe:qemu:memory_region_ops_write
/pid == '\$QEMU_PID' && str(arg5) == "ioport80"/ {
	if (@stopped == 0) { @before_w = count(); }
	else if (@flagged == 0) { @between_w = count(); }
	else if (@exited == 0) { @after_w = count(); }
}
tracepoint:signal:signal_generate /args->pid == '\$vp' && args->sig == 2 && @stopped == 0/ {
	@stopped = 1; @t_sig = nsecs;
}
uprobe:$VEXITPROF:target_vcpu_threads /pid == '\$vp' && @stopped == 1 && @flagged == 0/ {
	@flagged = 1; @t_flag = nsecs;
}
tracepoint:sched:sched_process_exit /pid == '\$vp' && @exited == 0/ {
	@exited = 1; @t_exit = nsecs;
}' >"$T_TMP/bt.out" 2>"$T_TMP/bt.err" &
bp=\$!
until grep -q READY "$T_TMP/bt.out"; do
	kill -0 \$bp 2>/dev/null || exit 1
	sleep 0.1
done
touch "$T_TMP/released" "\$VEXIT_READY_FILE"
rc=0
wait \$vp || rc=\$?
echo \$rc >"$T_TMP/vp.rc"
while kill -0 \$bp 2>/dev/null; do wait \$bp; done
EOF

# --duration: QEMU runs on well after vexitprof has exited (checked below)
"$TOP/scripts/run-baremetal" --accel tcg --duration $((LOAD_S + 12)) \
	--attach "bash $T_TMP/attach.sh" -- loop=1 status=$STATUS p80=$STATUS >"$T_TMP/rb.out" 2>"$T_TMP/rb.err" &
RB=$!
at_exit "kill $RB 2>/dev/null || true; wait $RB 2>/dev/null || true"
for _ in $(seq 1800); do
	[ -e "$T_TMP/released" ] && break
	kill -0 $RB 2>/dev/null || { cat "$T_TMP/rb.err" "$T_TMP/vp.err" "$T_TMP/bt.err" 2>/dev/null; die "guest or tracers did not start"; }
	sleep 0.1
done
[ -e "$T_TMP/released" ] || die "tracers not ready after 180 s"
sleep $LOAD_S
VP=$(cat "$T_TMP/vp.pid")
kill -INT "$VP"
for _ in $(seq 100); do
	[ -e "$T_TMP/vp.rc" ] && break
	sleep 0.1
done
check "vexitprof exited within 10 s of SIGINT" test -e "$T_TMP/vp.rc"
check "QEMU still ran when vexitprof had exited" kill -0 $RB
wait $RB || true
cat "$T_TMP/vp.err" "$T_TMP/bt.err"
expect_eq "vexitprof exit code" "$(cat "$T_TMP/vp.rc")" 0

bt() { awk -v k="@$1:" '$1 == k { v = $2 } END { print v == "" ? 0 : v }' "$T_TMP/bt.out"; }
t_sig=$(bt t_sig) t_flag=$(bt t_flag) t_exit=$(bt t_exit)
check "bpftrace saw the signal, the flag and the exit" \
	test "$t_sig" -gt 0 -a "$t_flag" -gt "$t_sig" -a "$t_exit" -gt "$t_flag"
# check_stop WHAT SUFFIX JQ-SELECT
check_stop() {
	local B M A V
	B=$(bt before$2) M=$(bt between$2) A=$(bt after$2)
	V=$(jq "[.accesses[] | select($3) | .count] | add // 0" "$T_TMP/vp.json")
	echo "  $1: bpftrace: $B before the signal, $M in the $(((t_flag - t_sig) / 1000)) us" \
		"until the flag was set, $A in the $(((t_exit - t_flag) / 1000000)) ms until" \
		"vexitprof exited; vexitprof: $V"
	expect_ge "$1 before the signal" "$B" 1000
	# the guest kept going while vexitprof detached: stopping at the flag
	# and stopping at detach give different counts
	expect_ge "$1 after the flag, while vexitprof shut down" "$A" 1000
	expect_ge "$1: vexitprof counted every one before the signal" "$V" "$B"
	expect_le "$1: vexitprof counted none after the flag" "$V" $((B + M))
}
check_stop "STATUS reads" "" '.device == "e1000-mmio" and .dir == "read"'
check_stop "port 0x80 writes" _w '.device == "ioport80" and .dir == "write"'
check "no BPF program left attached" no_prog_left
