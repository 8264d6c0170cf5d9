#!/usr/bin/env bash
# vexitprof --on-cpu (TCG: no /dev/kvm needed).
#  (a) Independent cross-check: on one iperf3 TCP guest->host run on upstream
#      e1000, `perf record -e cpu-clock -F 499 -g -p PID` and `vexitprof
#      --on-cpu=499` sample the same window; the hottest QEMU function is the
#      same, and each of the five hottest of either has a share of samples
#      within 5 percentage points of the other's and is among the other's ten
#      hottest (or, in a near-tie, within sampling noise of the other's share).
#  (b) Known answer: the TX path (xmit_seg, putsum/net_checksum_add_cont,
#      e1000_send_packet, the tap write tun_chr_write_iter) runs under the
#      register that triggers TX: the vCPU's TDT write without the sidecore,
#      the sidecore thread with x-sidecore=on.  Our QEMU keeps frame pointers
#      (scripts/build-qemu.sh), so the stacks are whole down to TCG's
#      translated code: the checks are on callers, not only on the leaf --
#      e1000_mmio_write .. start_xmit .. xmit_seg, xmit_seg;[putsum;]
#      net_checksum_add_cont (a leaf without a frame hides its caller), xmit_seg .. e1000_send_packet .. writev ..
#      tun_chr_write_iter under the TDT write (the vCPU's chain starting at
#      [jit]); sidecore_thread .. start_xmit .. xmit_seg on the sidecore --
#      and the share of samples with xmit_seg in the stack and with it under
#      e1000_mmio_write .. start_xmit is cross-checked against perf's call
#      chains of the same run (perf script).
#      Per GB: the bytes through QEMU's tap in vexitprof's window are
#      between the tap's counts over the workload and since its creation.
#  (c) Bad input: a stripped QEMU, perf_event_open refused, QEMU exiting
#      while sampled: one clear line each, the right exit code, nothing left
#      attached.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/vexitprof-lib.sh"
command -v perf >/dev/null || die "perf (linux-perf) missing: scripts/setup.sh"
MOD=$(basename "$QEMU")
# A copy of QEMU of our own (scripts/vm runs $VEXIT_QEMU): a rebuild of build/ while
# the test runs must not change the file perf and vexitprof read symbols from.
mkdir "$T_TMP/bin"
cp "$QEMU" "$T_TMP/bin/$MOD"
QEMU=$T_TMP/bin/$MOD
export VEXIT_QEMU=$QEMU

# run_vm NAME NIC: iperf-tx on NIC with vexitprof --on-cpu (and perf for NAME=a)
run_vm() {
	local name=$1 nic=$2 dir="$T_TMP/$1"
	mkdir -p "$dir"
	cat >"$dir/attach.sh" <<ATT
set -u
setsid $VEXITPROF -p \$QEMU_PID --on-cpu=499 --json --ready-file $dir/vp.ready >$dir/vp.json 2>$dir/vp.err &
vp=\$!
pf=
if [ $name = a ]; then
	setsid perf record -e cpu-clock -F 499 -g -p \$QEMU_PID -o $dir/perf.data >$dir/perf.out 2>&1 &
	pf=\$!
fi
until [ -e $dir/vp.ready ]; do kill -0 \$vp 2>/dev/null || exit 1; sleep 0.1; done
# the BPF programs this vexitprof holds (its fds' prog_id): "nothing left attached" looks at
# these, not at other vexitprofs on the host
cat /proc/\$vp/fdinfo/* 2>/dev/null | sed -n 's/^prog_id:\s*//p' | sort -u >$dir/vp.progs
# perf prints nothing when it is ready: give it a moment (both then run the same ~8 s)
sleep 1
trap 'kill -INT \$vp \$pf; wait \$vp; [ -z "\$pf" ] || wait \$pf; exit 0' INT
touch \$VEXIT_READY_FILE
wait
ATT
	timeout 400 "$TOP/scripts/vm" --workload iperf-tx --secs 8 --nic "$nic" \
		--attach "bash $dir/attach.sh" >"$dir/vm.json" 2>"$dir/vm.err" ||
		{ tail -20 "$dir/vm.err"; cat "$dir/vp.err" 2>/dev/null; die "scripts/vm ($nic) failed"; }
	check "$name: guest ok" jq -e .ok "$dir/vm.json"
	check "$name: vexitprof said nothing" test ! -s "$dir/vp.err"
	expect_ge "$name: on-CPU samples" "$(jq .on_cpu.samples "$dir/vp.json")" 500
	expect_ge "$name: vexitprof held BPF programs while profiling" "$(wc -l <"$dir/vp.progs")" 5
	# per GB: the bytes through QEMU's tap in vexitprof's window lie between the tap's own
	# counts over the workload and since it was created (scripts/vm reads them on the host side)
	local by
	by=$(jq .on_cpu.bytes "$dir/vp.json")
	expect_eq "$name: bytes of per GB from" "$(jq -r .on_cpu.bytes_from "$dir/vp.json")" "tap vxt0"
	expect_ge "$name: bytes >= the tap's over the workload" "$by" "$(jq '.host.rx_bytes + .host.tx_bytes' "$dir/vm.json")"
	expect_le "$name: bytes <= the tap's since it was created" "$by" \
		"$(jq '.host_total.rx_bytes + .host_total.tx_bytes' "$dir/vm.json")"
	check "$name: ns_per_gb = cpu_ns per 10^9 bytes" \
		jq -e '.on_cpu | (.ns_per_gb / (.cpu_ns * 1e9 / .bytes) - 1 | fabs) < 1e-6' "$dir/vp.json"
}

# tx_share FILE PREFIX-REGEX: the TX path's samples, and the share of them under PREFIX
TX='(^|;)(xmit_seg|putsum|net_checksum_add_cont|e1000_send_packet|tun_chr_write_iter)(;|$)'
tx_samples() { jq --arg tx "$TX" '[.on_cpu.stacks[] | select(.stack | test($tx)) | .samples] | add // 0' "$1"; }
tx_under() {
	jq --arg tx "$TX" --arg p "$2" \
		'[.on_cpu.stacks[] | select((.stack | test($tx)) and (.stack | startswith($p))) | .samples] | add // 0' "$1"
}

mark_progs
run_vm a e1000
A=$T_TMP/a
check "a: the JSON (with on_cpu) validates against profiler/json-schema.json" /usr/bin/python3 -c '
import json, sys, jsonschema
s = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(s)
jsonschema.validate(json.load(open(sys.argv[2])), s, cls=jsonschema.Draft202012Validator)' \
	"$TOP/profiler/json-schema.json" "$A/vp.json"
# (a) each tool's QEMU functions by self samples, all of them: "share% function"
jq -r --arg m "$MOD" '.on_cpu as $o | $o.functions[] | select(.module == $m and .self > 0) |
	"\(10000 * .self / $o.samples | round / 100) \(.function)"' "$A/vp.json" >"$A/vp.all"
n_vp=$(jq .on_cpu.samples "$A/vp.json")
# -n: "share% samples dso [.] symbol"; every sample is in one line, so they add up to perf's total
perf report -i "$A/perf.data" --no-children -g none --sort dso,sym --stdio -q -n 2>/dev/null >"$A/perf.txt"
n_perf=$(awk '{ s += $2 } END { print s + 0 }' "$A/perf.txt")
awk -v m="$MOD" '$3 == m && $4 == "[.]" { sub("%", "", $1); print $1, $5 }' "$A/perf.txt" >"$A/perf.all"
head -10 "$A/vp.all" >"$A/vp.top"
head -10 "$A/perf.all" >"$A/perf.top"
echo "vexitprof ($n_vp samples):"; cat "$A/vp.top"; echo "perf ($n_perf samples):"; cat "$A/perf.top"
expect_ge "a: perf's samples" "$n_perf" 500
expect_ge "a: perf's QEMU functions" "$(wc -l <"$A/perf.top")" 5
expect_ge "a: vexitprof's QEMU functions" "$(wc -l <"$A/vp.top")" 5
expect_eq "a: the hottest QEMU function" "$(awk 'NR == 1 {print $2}' "$A/vp.top")" \
	"$(awk 'NR == 1 {print $2}' "$A/perf.top")"
# Each function of either top 5: shares within 5 points.  Ranks among functions of
# nearly equal share are noise (a few samples each), so a function of one top 5 may
# be missing from the other's top 10 only if its two shares differ by less than 3
# standard deviations of the difference of two sampled proportions.
for side in vp perf; do
	other=perf
	[ $side = perf ] && other=vp
	for f in $(awk 'NR <= 5 {print $2}' "$A/$side.top"); do
		mine=$(awk -v f="$f" '$2 == f {print $1; exit}' "$A/$side.all")
		theirs=$(awk -v f="$f" '$2 == f {print $1; exit}' "$A/$other.all")
		theirs=${theirs:-0}
		awk -v a="$mine" -v b="$theirs" 'BEGIN { d = a - b; exit !(d <= 5 && d >= -5) }' ||
			die "a: $f: $side $mine%, $other $theirs%: more than 5 points apart"
		if ! grep -q " $f\$" "$A/$other.top"; then
			awk -v a="$mine" -v b="$theirs" -v n1="$n_vp" -v n2="$n_perf" 'BEGIN {
				p = (a + b) / 200; sd = 100 * sqrt(p * (1 - p) * (1 / n1 + 1 / n2))
				d = a - b; if (d < 0) d = -d; exit !(d <= 3 * sd) }' ||
				die "a: $f is among $side's five hottest QEMU functions ($mine%) but not among $other's ten ($theirs%)"
		fi
		ok "a: $f ($side top 5): $side $mine%, $other $theirs%"
	done
done
# (b) without the sidecore: the vCPU's TDT write
TDT="vcpu0;dispatch;e1000-mmio;TDT write;"
n=$(tx_samples "$A/vp.json")
under=$(tx_under "$A/vp.json" "$TDT")
expect_ge "b: TX path samples (upstream)" "$n" 20
expect_ge "b: TX path under vcpu0's TDT write: $under of $n" "$under" "$(awk -v n="$n" 'BEGIN{print n * 0.9}')"
check "b: the table names the context" jq -e '.on_cpu.contexts[] | select(.context == "vcpu0;dispatch;e1000-mmio;TDT write")' "$A/vp.json"

# (b) deep stacks: callers, cross-checked against perf's call chains.
# vp_match FILE REGEX [PREFIX]: samples whose folded line starts with PREFIX and matches REGEX
vp_match() {
	jq --arg re "$2" --arg p "${3:-}" \
		'[.on_cpu.stacks[] | select((.stack | startswith($p)) and (.stack | test($re))) | .samples] | add // 0' "$1"
}
# at_least WHAT N OF SHARE: N >= SHARE x OF
at_least() { expect_ge "$1: $2 of $3" "$2" "$(awk -v n="$3" -v s="$4" 'BEGIN { print n * s }')"; }
# perf's samples as folded lines, root first (perf script prints the leaf first)
perf script -i "$A/perf.data" -F tid,ip,sym --no-inline 2>/dev/null | awk '
	function flush(  l, i) { if (n) { l = f[n]; for (i = n - 1; i >= 1; i--) l = l ";" f[i]; print l } n = 0 }
	/^[ \t]*$/ || /^[^ \t]/ { flush(); next }
	{ f[++n] = $2 }
	END { flush() }' >"$A/perf.folded"
perf_match() { grep -cE "$1" "$A/perf.folded" || true; }
XS='(^|;)xmit_seg(;|$)'
CHAIN='(^|;)e1000_mmio_write;(.*;)?start_xmit;(.*;)?xmit_seg(;|$)'
echo "hottest stacks under the TDT write:"
jq -r --arg p "$TDT" '[.on_cpu.stacks[] | select(.stack | startswith($p))] | sort_by(-.samples) | .[:3][] |
	"  \(.samples) \(.stack)"' "$A/vp.json"
# for the log: how deep the user stacks are, by thread and reason (kernel frames not counted)
echo "user stack depth by context:"
jq -r '.on_cpu as $o | ($o.functions | map({key: .function, value: .module}) | from_entries) as $m
	| [$o.stacks[] | (.stack | split(";")) as $f
	   | (if ($f[0] | test("^vcpu[0-9]")) or $f[1] == "dispatch" then 4 else 1 end) as $p
	   | {ctx: ($f[0] + (if $p == 4 then ";" + $f[1] else "" end)), n: .samples,
	      d: ([$f[$p:][] | select($m[.] != "[kernel]")] | length)}]
	| group_by(.ctx)[] | (map(.n) | add) as $n
	| "  \(.[0].ctx): \($n) samples, user frames mean \((map(.n * .d) | add) / $n * 10 | round / 10), max \(map(.d) | max)"' "$A/vp.json"
n_tdt=$(vp_match "$A/vp.json" "" "$TDT")
at_least "b: vCPU stacks under the TDT write that reach TCG's code ([jit] as root)" \
	"$(vp_match "$A/vp.json" "" "$TDT[jit];")" "$n_tdt" 0.8
n_x=$(vp_match "$A/vp.json" "$XS")
expect_ge "b: samples with xmit_seg in the stack" "$n_x" 20
at_least "b: ... under the TDT write, called by e1000_mmio_write .. start_xmit" \
	"$(vp_match "$A/vp.json" "$CHAIN" "$TDT")" "$n_x" 0.8
n_cs=$(vp_match "$A/vp.json" '(^|;)net_checksum_add_cont(;|$)')
expect_ge "b: samples in net_checksum_add_cont" "$n_cs" 10
# (GCC 12 gives a leaf that needs no stack no frame of its own even with -mno-omit-leaf-frame-pointer:
# net_checksum_add_cont runs on putsum's rbp, so the walk goes from it to putsum's caller)
at_least "b: ... under the TDT write as e1000_mmio_write .. start_xmit .. xmit_seg;[putsum;]net_checksum_add_cont" \
	"$(vp_match "$A/vp.json" '(^|;)e1000_mmio_write;(.*;)?start_xmit;(.*;)?xmit_seg;(putsum;)?net_checksum_add_cont(;|$)' "$TDT")" "$n_cs" 0.8
n_tun=$(vp_match "$A/vp.json" '(^|;)tun_chr_write_iter(;|$)')
expect_ge "b: samples in the tap write (tun_chr_write_iter)" "$n_tun" 10
at_least "b: ... under the TDT write as xmit_seg .. e1000_send_packet .. writev .. tun_chr_write_iter" \
	"$(vp_match "$A/vp.json" '(^|;)e1000_mmio_write;(.*;)?xmit_seg;(.*;)?e1000_send_packet;(.*;)?(__)?writev;(.*;)?tun_chr_write_iter(;|$)' "$TDT")" "$n_tun" 0.8
# perf: the same share of samples has xmit_seg in the stack, and as many of them sit under the TDT
# write's callers (perf cannot name the register; the chain is what it can confirm)
p_n=$(wc -l <"$A/perf.folded")
p_x=$(perf_match "$XS")
p_c=$(perf_match "$CHAIN")
expect_ge "b: perf: samples with call chains" "$p_n" 500
expect_ge "b: perf: samples with xmit_seg in the stack" "$p_x" 20
at_least "b: perf: ... called by e1000_mmio_write .. start_xmit" "$p_c" "$p_x" 0.8
v=$(awk -v a="$n_x" -v b="$n_vp" 'BEGIN { printf "%.2f", 100 * a / b }')
p=$(awk -v a="$p_x" -v b="$p_n" 'BEGIN { printf "%.2f", 100 * a / b }')
check "b: xmit_seg in the stack: vexitprof $v%, perf $p% (within 5 points)" \
	awk -v a="$v" -v b="$p" 'BEGIN { d = a - b; exit !(d <= 5 && d >= -5) }'
v=$(awk -v a="$(vp_match "$A/vp.json" "$CHAIN" "$TDT")" -v b="$n_x" 'BEGIN { printf "%.2f", 100 * a / b }')
p=$(awk -v a="$p_c" -v b="$p_x" 'BEGIN { printf "%.2f", 100 * a / b }')
check "b: of those, under e1000_mmio_write .. start_xmit: vexitprof $v% (TDT write), perf $p% (within 10 points)" \
	awk -v a="$v" -v b="$p" 'BEGIN { d = a - b; exit !(d <= 10 && d >= -10) }'

# (b) with the sidecore: its thread, not the TDT write
run_vm s e1000,x-sidecore=on
S=$T_TMP/s
n=$(tx_samples "$S/vp.json")
under=$(tx_under "$S/vp.json" "sidecore-e1000;")
tdt=$(tx_under "$S/vp.json" "vcpu0;dispatch;e1000-mmio;TDT write;")
expect_ge "b: TX path samples (sidecore)" "$n" 20
expect_ge "b: TX path on the sidecore thread: $under of $n" "$under" "$(awk -v n="$n" 'BEGIN{print n * 0.9}')"
expect_le "b: TX path under the TDT write with the sidecore: $tdt of $n" "$tdt" "$(awk -v n="$n" 'BEGIN{print n * 0.1}')"
n_x=$(vp_match "$S/vp.json" "$XS")
expect_ge "b: sidecore: samples with xmit_seg in the stack" "$n_x" 20
at_least "b: sidecore: ... on its thread as sidecore_thread .. start_xmit .. xmit_seg" \
	"$(vp_match "$S/vp.json" '(^|;)sidecore_thread;(.*;)?start_xmit;(.*;)?xmit_seg(;|$)' "sidecore-e1000;")" "$n_x" 0.8
expect_le "b: sidecore: ... called by e1000_mmio_write" \
	"$(vp_match "$S/vp.json" '(^|;)e1000_mmio_write;(.*;)?xmit_seg(;|$)')" "$(awk -v n="$n_x" 'BEGIN{print n * 0.1}')"
# its_progs_gone NAME: none of the programs NAME's vexitprof held is loaded (the kernel frees
# a program some time after its last link and fd close: allow it 10 s)
its_progs_gone() {
	for _ in $(seq 100); do
		[ -z "$(comm -12 "$T_TMP/$1/vp.progs" <(bpftool prog show 2>/dev/null |
			sed -n 's/^\([0-9]*\): .*/\1/p' | sort -u))" ] && return 0
		sleep 0.1
	done
	return 1
}
check "a: nothing left attached" its_progs_gone a
check "s: nothing left attached" its_progs_gone s

# (c) bad input, on a QEMU without scripts/vm: the test guest's kernel without its
# initramfs boots under TCG, panics and reboots (panic=-1), and again: a vCPU always busy
start_qemu() { # BINARY -> QPID
	start_exec "$1" -M pc -accel tcg -m 256 -nodefaults -display none -name c,debug-threads=on \
		-L /usr/share/seabios -L /usr/share/qemu -kernel "$BUILD/guest/vmlinuz" \
		-append "panic=-1 quiet"
}
# stripped: module+0xoffset frames and one notice, never an empty report
cp "$QEMU" "$T_TMP/$MOD"
strip "$T_TMP/$MOD"
start_qemu "$T_TMP/$MOD"
rc=0
# (with --flamegraph too: the graph's per-vCPU report is a copy of the merged
# one's header, which must not share the sampled rows; make demo's options)
"$VEXITPROF" -p $QPID --on-cpu -d 2 --json --flamegraph "$T_TMP/c.svg" >"$T_TMP/c.json" 2>"$T_TMP/c.err" || rc=$?
cat "$T_TMP/c.err"
kill $QPID
expect_eq "c: stripped: exit code" "$rc" 0
expect_eq "c: stripped: one line on stderr" "$(wc -l <"$T_TMP/c.err")" 1
check "c: stripped: the notice" grep -q "$MOD has no symbol table (stripped): its frames are shown as $MOD+0xoffset" "$T_TMP/c.err"
expect_ge "c: stripped: samples" "$(jq .on_cpu.samples "$T_TMP/c.json")" 20
check "c: stripped: JSON says so" jq -e '.on_cpu.stripped' "$T_TMP/c.json"
check "c: stripped: the flame graph written in the same run" grep -q "$MOD+0x" "$T_TMP/c.svg"
check "c: stripped: QEMU frames as module+0xoffset" jq -e --arg m "$MOD" \
	'[.on_cpu.functions[] | select(.module == $m and (.function | startswith($m + "+0x")))] | length > 0' "$T_TMP/c.json"
# perf_event_open refused (simulated: an unprivileged user would not get this far)
start_qemu "$QEMU"
rc=0
VEXITPROF_FAULT_PERF_OPEN=13 "$VEXITPROF" -p $QPID --on-cpu -d 1 >"$T_TMP/c.out" 2>"$T_TMP/c.err" || rc=$?
cat "$T_TMP/c.err"
expect_eq "c: refused: exit code (permission)" "$rc" 5
expect_eq "c: refused: one line on stderr" "$(wc -l <"$T_TMP/c.err")" 1
check "c: refused: says why" grep -q "perf_event_open (cpu-clock, CPU 0) refused: Permission denied" "$T_TMP/c.err"
check "c: refused: nothing left attached" no_prog_left
# QEMU exits while sampled: the report of what was seen, exit 0
rm -f "$T_TMP/ready"
"$VEXITPROF" -p $QPID --on-cpu --json --ready-file "$T_TMP/ready" >"$T_TMP/c.json" 2>"$T_TMP/c.err" &
VP=$!
for _ in $(seq 100); do [ -e "$T_TMP/ready" ] && break; sleep 0.1; done
[ -e "$T_TMP/ready" ] || die "vexitprof never got ready"
sleep 1.5
kill $QPID
rc=0
wait $VP || rc=$?
cat "$T_TMP/c.err"
expect_eq "c: QEMU exited: exit code" "$rc" 0
expect_eq "c: QEMU exited: one line on stderr" "$(wc -l <"$T_TMP/c.err")" 1
check "c: QEMU exited: said so" grep -q "QEMU pid $QPID exited" "$T_TMP/c.err"
expect_ge "c: QEMU exited: samples reported" "$(jq .on_cpu.samples "$T_TMP/c.json")" 20
check "c: QEMU exited: QEMU frames named" jq -e --arg m "$MOD" \
	'[.on_cpu.functions[] | select(.module == $m and (.function | test("\\+0x") | not))] | length > 0' "$T_TMP/c.json"
check "c: QEMU exited: nothing left attached" no_prog_left
