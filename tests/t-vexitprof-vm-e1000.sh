#!/usr/bin/env bash
# Real driver: Linux's e1000 driver in the test guest (TCG) sends pktgen
# frames.  vexitprof must count TDT writes within 1% of the frames sent, and
# its per-register counts must agree with an independent bpftrace USDT count
# taken on the same run.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/vexitprof-lib.sh"
[ -x "$TOP/scripts/vm" ] || die "scripts/vm missing"
N=20000
cat >"$T_TMP/attach.sh" <<ATT
set -u
qmp() { /usr/bin/python3 "$TOP/tests/e1000opt/qmp.py" "$T_TMP/qmp.sock" "\$@" >/dev/null; }
# The guest is paused (QMP stop) while the two counters attach and again
# while they detach, so both see the same guest accesses: the guest's e1000
# watchdog touches MDIC and STATUS every 2 s, also while the guest waits
# for its workload, and a counter that starts or stops a little earlier
# than the other would see a few more.  Both run in their own sessions, so
# scripts/vm's SIGINT reaches only this script, which stops the guest first.
qmp stop
# The independent count: bpftrace uprobes on e1000's own MemoryRegionOps
# handlers (arg1 = register offset).  bpftrace 0.17 fails to read the
# arguments of QEMU's memory_region_ops_* USDT probes ("couldn't get
# argument"), and a different hook makes the cross-check more independent.
# The pid filter matters: other QEMUs may run the same binary.
setsid bpftrace -p \$QEMU_PID -e "BEGIN { printf(\"READY\\n\"); }
  uprobe:/proc/\$QEMU_PID/exe:e1000_mmio_write /pid == \$QEMU_PID/ { @w[arg1] = count(); }
  uprobe:/proc/\$QEMU_PID/exe:e1000_mmio_read /pid == \$QEMU_PID/ { @r[arg1] = count(); }" >$T_TMP/bt.out 2>&1 &
bt=\$!
until grep -q READY $T_TMP/bt.out; do kill -0 \$bt 2>/dev/null || exit 1; sleep 0.1; done
setsid $VEXITPROF -p \$QEMU_PID --json --ready-file $T_TMP/vp.ready >$T_TMP/vp.json &
vp=\$!
until [ -e $T_TMP/vp.ready ]; do kill -0 \$vp 2>/dev/null || exit 1; sleep 0.1; done
trap 'qmp stop; kill -INT \$vp \$bt; wait \$vp; wait \$bt; qmp cont; exit 0' INT
qmp cont
touch \$VEXIT_READY_FILE
wait
ATT
timeout 400 "$TOP/scripts/vm" --workload pktgen --count $N --qmp "$T_TMP/qmp.sock" --attach "bash $T_TMP/attach.sh" >"$T_TMP/vm.json" 2>"$T_TMP/vm.err" ||
	{ tail -20 "$T_TMP/vm.err"; die "scripts/vm failed"; }
cat "$T_TMP/vm.json"
check "guest ok" jq -e .ok "$T_TMP/vm.json"
sent=$(jq .result.sent "$T_TMP/vm.json")
expect_eq "guest sent all frames" "$sent" $N
tdt=$(jq '[.accesses[] | select(.device == "e1000-mmio" and .offset == 14360 and .dir == "write") | .count] | add' "$T_TMP/vp.json")
expect_ge "TDT writes >= 99% of frames" "$tdt" "$(awk -v n=$sent 'BEGIN{print n * 0.99}')"
expect_le "TDT writes <= 101% of frames" "$tdt" "$(awk -v n=$sent 'BEGIN{print n * 1.01}')"
expect_ge "e1000 TX frames from the e1000 probes" "$(jq '.["e1000"].tx_frames' "$T_TMP/vp.json")" $sent
check "per-packet figures present" jq -e '.["e1000"].per_packet.mmio > 0' "$T_TMP/vp.json"

# bpftrace's maps: "@w[14360]: 20001"
grep -q '^@w\[' "$T_TMP/bt.out" || { cat "$T_TMP/bt.out"; die "bpftrace printed no counts"; }
jq -r '.accesses[] | select(.device == "e1000-mmio" and .offset != null) | "\(if .dir == "write" then "w" else "r" end) \(.offset) \(.count) \(.register)"' \
	"$T_TMP/vp.json" >"$T_TMP/vp.txt"
sed -n 's/^@\([wr]\)\[\([0-9]*\)\]: \([0-9]*\)$/\1 \2 \3/p' "$T_TMP/bt.out" >"$T_TMP/bt.txt"
n=0
while read -r d a c reg; do
	b=$(awk -v d=$d -v a=$a '$1 == d && $2 == a { print $3 }' "$T_TMP/bt.txt")
	b=${b:-0}
	# the guest was paused while either counter attached or detached
	[ "$c" -eq "$b" ] || die "e1000 $reg ($d $a): vexitprof $c, bpftrace $b"
	n=$((n + 1))
done <"$T_TMP/vp.txt"
expect_ge "e1000 registers with the same count in vexitprof and bpftrace" $n 5
grep -E '^w .* (TDT|\+0x3818)$' "$T_TMP/vp.txt" | head -1
check "no BPF program left attached" no_prog_left
