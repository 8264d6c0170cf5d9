#!/usr/bin/env bash
# e1000-opt: migration.
#  1. The migration stream of a VM that never ran (-S, fixed RTC) saves the
#     same state in every section (analyze-migration.py -d state) with
#     "-device e1000", with every stage explicitly off and with every stage
#     on (the stages add nothing to the stream, no RAM block either), and the
#     e1000 section's description (analyze-migration.py -d desc: fields,
#     types, sizes, subsections) is the same in all three.
#  2. Migration to a file during traffic, with all stages on and with the
#     sidecore alone (no shadow page: its TX hand-over relies on the kick the
#     trapped TDT write gives it).  One guest passes through three QEMUs
#     (scripts/vm --incoming restores in a new QEMU with a new tap that has
#     the same addresses); it runs pktgen:200000 + rr:10000 + pktgen:10000:
#     src  boots; during pktgen, QMP "migrate" to file:... with the VM
#          running; the source pauses (postmigrate) and sends nothing more;
#          the stream has the upstream e1000 description and no shadow RAM;
#     mid  restores and finishes pktgen: every frame arrives exactly once
#          (source's tap + this tap = frames sent); during rr it is stopped
#          at a moment when the e1000 has TX work pending (TDH != TDT as
#          read through the BAR; tests/e1000opt/tx-pending.py: upstream e1000
#          never has any, since it transmits inside the TDT write, while the
#          sidecore's hand-over can be cut by the stop) and migrated from the
#          paused state, as "virsh save" does; the saved TDH/TDT are what
#          the guest saw;
#          The stop must catch TX work pending (the test fails otherwise:
#          the scenario it is named after did not happen).  The thread
#          usually does the work while the vCPU is being paused, so the
#          attach script holds it (tests/e1000opt/freeze-thread.py: ptrace,
#          never while it has the BQL), stops the VM as soon as the guest's
#          next rr request is in the ring, and lets the thread go on; TDH
#          must not move in the stopped VM.
#     dst  restores (paused, as saved), cont: the guest finishes rr and the
#          second pktgen.  No rr request may be lost: the one left in the
#          TX ring must go out when the VM runs again, not only when rr gives
#          up after 1 s and sends the next one.  Restored twice: with the
#          source's stages, and with every stage off (e1000_post_load kicks
#          TX when TDH != TDT, whatever the destination's stages).
#     Each QEMU has its one sidecore thread.
source "$(dirname "$0")/lib.sh"
source "$TOP/tests/e1000opt-lib.sh"
need_guest
ANALYZE=$BUILD/qemu/src/scripts/analyze-migration.py
[ -f "$ANALYZE" ] || die "no $ANALYZE (QEMU's source tree, make qemu)"

# e1000_desc STREAM: the e1000 device's vmstate description, canonical JSON.
e1000_desc() {
	/usr/bin/python3 "$ANALYZE" -d desc -f "$1" | jq -S '.devices[] | select(.name | endswith("/e1000")) | del(.instance_id)'
}
# e1000_state STREAM FIELD: a field of the e1000 section's saved state.
e1000_state() {
	/usr/bin/python3 "$ANALYZE" -d state -f "$1" |
		jq -r --arg f "$2" 'to_entries[] | select(.key | test("/e1000 \\(")) | .value[$f]'
}

# ------------------------------------------------------------ 1. -S streams
for v in stock off on; do
	case $v in
	stock) d=e1000 ;;
	off) d="e1000,$ALL_OFF" ;;
	on) d="e1000,$ALL_ON" ;;
	esac
	sock=$T_TMP/s-$v.qmp
	"$QEMU" -L /usr/share/qemu -L /usr/share/seabios -L /usr/lib/ipxe/qemu \
		-nodefaults -no-user-config -display none -machine pc -accel tcg -S \
		-rtc base=2020-01-01T00:00:00,clock=vm -netdev user,id=n0 \
		-device "$d,netdev=n0,romfile=" -qmp "unix:$sock,server=on,wait=off" \
		2>"$T_TMP/s-$v.err" &
	p=$!
	qmp "$sock" "migrate {\"uri\":\"file:$T_TMP/s-$v.mig\"}" "@migrate-wait 60" quit >/dev/null ||
		die "$v: migration of a -S VM failed: $(cat "$T_TMP/s-$v.err")"
	wait $p || die "$v: QEMU exited with status $?: $(cat "$T_TMP/s-$v.err")"
	e1000_desc "$T_TMP/s-$v.mig" >"$T_TMP/desc-$v.json"
done
expect_ge "stream of a stopped VM: size" "$(stat -c %s "$T_TMP/s-stock.mig")" 100000
jq_true() { jq -e "$2" "$1" >/dev/null; }
check "stream: e1000 section described" jq_true "$T_TMP/desc-stock.json" '.vmsd_name == "e1000" and (.fields | length) > 10'
# Not byte for byte: where the RAM pages fall in the stream depends on
# timing (ram_save_iterate ends a pass after 50 ms), so two streams of the
# same -S VM differ on a loaded host.  Every section's saved state does not.
for v in stock off on; do
	/usr/bin/python3 "$ANALYZE" -d state -f "$T_TMP/s-$v.mig" >"$T_TMP/state-$v.json"
done
check "stream: e1000 state saved" jq_true "$T_TMP/state-stock.json" 'to_entries | map(select(.key | test("/e1000 \\("))) | length == 1'
check "stream: all stages off = default (every section's saved state)" cmp "$T_TMP/state-stock.json" "$T_TMP/state-off.json"
check "stream: all stages on = default (every section's saved state: no state added)" cmp "$T_TMP/state-stock.json" "$T_TMP/state-on.json"
check "stream: all stages on: no shadow RAM block" bash -c "! grep -aq 'e1000-shadow' '$T_TMP/s-on.mig'"
check "e1000 description: all stages off = default" cmp "$T_TMP/desc-stock.json" "$T_TMP/desc-off.json"
check "e1000 description: all stages on = default" cmp "$T_TMP/desc-stock.json" "$T_TMP/desc-on.json"

# ------------------------------------------------------------ 2. live
export E1OPT_TOP=$TOP
export N1=200000
RR=10000 N2=10000
WL="pktgen:$N1+rr:$RR+pktgen:$N2"
step() { jq -r --arg s "$1" --argjson i "${3:-0}" '[.result.steps[] | select(.step == $s)][$i] | '"$2" "$J"; }
for c in "all $ALL_ON" "side x-sidecore=on"; do
	read -r name props <<<"$c"
	nic="e1000,$props"
	export OUT=$T_TMP/$name
	mkdir -p "$OUT"
	r() { cat "$OUT/$1" 2>/dev/null || echo "(not recorded)"; }
	echo "== $name: $nic"

	# src: boot, migrate during pktgen with the VM running.
	export OUT_PREFIX= MODE=src QMPS=$T_TMP/$name-src.qmp MIGF=$T_TMP/$name-1.mig
	vm "$name-src" --nic "$nic" --workload "$WL" --qmp "$QMPS" --timeout 200 \
		--attach "bash $E1OPT/attach-migrate.sh"
	[ ! -s "$OUT/error" ] || die "$name: $(cat "$OUT/error")"
	expect_eq "$name/src: sidecore threads" "$(r src_threads)" 1
	expect_eq "$name/src: migration (VM running) completed" "$(r src_migrated)" 1
	expect_eq "$name/src: paused after the migration" "$(r src_status)" postmigrate
	expect_eq "$name/src: nothing sent after the migration" "$(r src_rx_after)" 0
	expect_eq "$name/src: the sidecore thread stays while paused" "$(r src_threads_paused)" 1
	expect_eq "$name/src: quit before the guest's result (scripts/vm exit 4)" "$VM_RC" 4
	expect_eq "$name/src: QEMU exit status" "$(j .qemu_exit)" 0
	src_pg=$(r src_pktgen)
	expect_ge "$name/src: pktgen frames before the migration" "$src_pg" 1
	expect_le "$name/src: ... not all of them (migrated during traffic)" "$src_pg" $((N1 - 1))
	e1000_desc "$MIGF" >"$T_TMP/desc-$name.json"
	check "$name/src: stream of the running VM: e1000 description = upstream's" cmp "$T_TMP/desc-stock.json" "$T_TMP/desc-$name.json"
	check "$name/src: stream: no shadow RAM block" bash -c "! grep -aq 'e1000-shadow' '$MIGF'"

	# mid: restore, finish pktgen, stop during rr with TX pending, migrate.
	export OUT_PREFIX= MODE=mid QMPS=$T_TMP/$name-mid.qmp MIGF=$T_TMP/$name-2.mig
	vm "$name-mid" --incoming "$T_TMP/$name-1.mig" --nic "$nic" --workload "$WL" --qmp "$QMPS" \
		--timeout 200 --attach "bash $E1OPT/attach-migrate.sh"
	[ ! -s "$OUT/error" ] || die "$name: $(cat "$OUT/error")"
	expect_eq "$name/mid: sidecore threads" "$(r mid_threads)" 1
	mid_pg=$(r mid_pktgen)
	expect_eq "$name/mid: every pktgen frame exactly once (source + restored)" $((src_pg + mid_pg)) $N1
	echo "  $name/mid: stopped for the second migration: $(r mid_pending.json), sidecore held: $(r mid_freeze) (tries)"
	pending=$(jq -r .pending "$OUT/mid_pending.json")
	# The scenario this test is about: TX work pending in the saved state.
	expect_eq "$name/mid: stopped with TX work pending (TDH != TDT)" "$pending" true
	expect_eq "$name/mid: migration (VM paused) completed" "$(r mid_migrated)" 1
	expect_eq "$name/mid: nothing sent after the migration" "$(r mid_rx_after)" 0
	expect_eq "$name/mid: QEMU exit status" "$(j .qemu_exit)" 0
	# The saved registers are what the guest saw when it was stopped.
	expect_eq "$name/mid: saved TDH = TDH seen while stopped" \
		"$(($(e1000_state "$MIGF" 'mac_reg[TDH]')))" "$(jq .tdh "$OUT/mid_pending.json")"
	expect_eq "$name/mid: saved TDT = TDT seen while stopped" \
		"$(($(e1000_state "$MIGF" 'mac_reg[TDT]')))" "$(jq .tdt "$OUT/mid_pending.json")"

	# dst: restore (it arrives paused), cont, the guest finishes; once
	# with the same stages, once with every stage off (the saved pending TX
	# then has no stage to do it: e1000_post_load must).
	for d in "dst $nic 1" "dst-off e1000,$ALL_OFF 0"; do
		read -r dname dnic dthreads <<<"$d"
		export MODE=dst QMPS=$T_TMP/$name-$dname.qmp OUT_PREFIX=$dname
		vm "$name-$dname" --incoming "$T_TMP/$name-2.mig" --nic "$dnic" --workload "$WL" --qmp "$QMPS" \
			--timeout 200 --attach "bash $E1OPT/attach-migrate.sh"
		[ ! -s "$OUT/error" ] || die "$name: $(cat "$OUT/error")"
		expect_eq "$name/$dname ($dnic): arrived paused (saved paused)" "$(r ${dname}_arrived)" paused
		expect_eq "$name/$dname: scripts/vm exit status" "$VM_RC" 0
		expect_eq "$name/$dname: guest ok" "$(j .ok)" true
		expect_eq "$name/$dname: sidecore threads" "$(r ${dname}_threads)" "$dthreads"
		expect_eq "$name/$dname: the first pktgen finished" "$(step pktgen .result.sent 0)" $N1
		expect_eq "$name/$dname: rr answered + lost" "$(($(step rr .result.count) + $(step rr .result.lost)))" $RR
		# The request left in the TX ring by the stop must go out when the
		# restored VM runs, not when rr gives up on it after 1 s and sends
		# the next one (whose TDT write would finally kick the ring).
		expect_eq "$name/$dname: rr lost (TX work pending at the save was done after the restore)" \
			"$(step rr .result.lost)" 0
		expect_eq "$name/$dname: the second pktgen, all frames here" "$(j .host.pktgen_frames)" $N2
	done
done
