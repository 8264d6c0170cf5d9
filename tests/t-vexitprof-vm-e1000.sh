#!/usr/bin/env bash
# Real driver: Linux's e1000 driver in the test guest (TCG) sends pktgen
# frames.  vexitprof must count TDT writes within 1% of the frames sent,
# and its per-register counts must agree both ways with an independent
# bpftrace count taken on the same run: every register either one saw,
# with the same count in both.  Its MMIO-per-packet figure must equal the
# accesses bpftrace counted divided by the e1000's frames (which must match,
# to within a few background frames, the frames counted on the host side
# of the tap).
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
expect_eq "e1000-mmio rows without an offset" \
	"$(jq '[.accesses[] | select(.device == "e1000-mmio" and .offset == null)] | length' "$T_TMP/vp.json")" 0
# "DIR OFFSET COUNT NAME", one line per register and direction (rows that
# differ only in vCPU or size are summed).
jq -r '[.accesses[] | select(.device == "e1000-mmio")] | group_by([.dir, .offset])[] |
	"\(if .[0].dir == "write" then "w" else "r" end) \(.[0].offset) \(map(.count) | add) \(.[0].register)"' \
	"$T_TMP/vp.json" | sort >"$T_TMP/vp.txt"
sed -n 's/^@\([wr]\)\[\([0-9]*\)\]: \([0-9]*\)$/\1 \2 \3/p' "$T_TMP/bt.out" | sort >"$T_TMP/bt.txt"
# Both ways: a register one of them missed shows as a difference.  The
# guest was paused while either counter attached or detached, so the
# counts must be equal.
diffs=$(awk '
	FNR == NR { bt[$1 " " $2] = $3; next }
	{ k = $1 " " $2; vp[k] = $3; name[k] = $4 }
	END {
		for (k in vp) if (vp[k] != bt[k] + 0) printf "%s (%s): vexitprof %d, bpftrace %d\n", name[k], k, vp[k], bt[k]
		for (k in bt) if (!(k in vp)) printf "%s: vexitprof has no row, bpftrace %d\n", k, bt[k]
	}' "$T_TMP/bt.txt" "$T_TMP/vp.txt")
[ -z "$diffs" ] || die "e1000 register counts differ between vexitprof and bpftrace: $diffs"
nvp=$(wc -l <"$T_TMP/vp.txt")
expect_eq "registers seen by bpftrace and by vexitprof" "$(wc -l <"$T_TMP/bt.txt")" "$nvp"
expect_ge "e1000 registers with the same count in vexitprof and bpftrace" "$nvp" 5
bt_total=$(awk '{ s += $3 } END { print s }' "$T_TMP/bt.txt")
grep -E '^w .* (TDT|\+0x3818)$' "$T_TMP/vp.txt" | head -1

# MMIO per packet, recomputed: bpftrace's accesses over the frames the
# e1000 moved in vexitprof's window; and those frames against the host side
# of the tap (the guest only sends: host rx + tx).  The two frame counts come
# from different windows (vexitprof's attach .. stop, scripts/vm's counters
# around the workload), so a few background frames (ARP, IPv6 neighbour and
# multicast traffic of the guest or the host) may fall in one and not the
# other: seen 20000 vs 20002 and 20004 vs 20000 on 20,000 pktgen frames.
host_frames=$(jq '.host.rx_packets + .host.tx_packets' "$T_TMP/vm.json")
vp_frames=$(jq '.["e1000"].tx_frames + .["e1000"].rx_frames' "$T_TMP/vp.json")
expect_ge "host counted the frames sent" "$host_frames" "$sent"
expect_ge "frames: vexitprof's e1000 probes >= host side of the tap - 4" "$vp_frames" $((host_frames - 4))
expect_le "frames: vexitprof's e1000 probes <= host side of the tap + 4" "$vp_frames" $((host_frames + 4))
pp=$(jq '.["e1000"].per_packet.mmio' "$T_TMP/vp.json")
want=$(awk -v a="$bt_total" -v f="$vp_frames" 'BEGIN { printf "%.6f", a / f }')
awk -v p="$pp" -v w="$want" 'BEGIN { d = p - w; exit !(d <= 0.0000015 && d >= -0.0000015) }' ||
	die "vexitprof MMIO per packet $pp, bpftrace accesses / e1000 frames = $bt_total / $vp_frames = $want"
ok "MMIO per packet $pp = $bt_total bpftrace accesses / $vp_frames frames"
check "no BPF program left attached" no_prog_left
