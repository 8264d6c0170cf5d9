#!/usr/bin/env bash
# e1000-opt: migration to a file during a live TCP transfer, all four stages
# on (issue 12), stock Linux e1000 driver under TCG.  One guest, two QEMUs:
#   src  boots and sends MIB MiB of pseudo-random data to the data peer
#        (guest/init's sha-tx step: one random MiB, sent MIB times; busybox
#        nc; the peer is tests/e1000opt/offload-peer.py on the host side of
#        the tap).  Once MIGRATE_AT bytes have reached the tap, QMP
#        "migrate" to file:... with the VM running; the source pauses
#        (postmigrate), sends nothing more, and quits.  scripts/vm
#        --keep-netns leaves its namespace with the tap and the peer, whose
#        end of the connection is still open.
#   dst  scripts/vm --incoming FILE --netns NAME restores the guest in a new
#        QEMU on the same tap: the transfer goes on over the same TCP
#        connection, then the guest receives 16 MiB from the peer
#        (sha-rx).
# Checks: the peer received exactly MIB MiB on the one connection, every
# MiB equal to the guest's (SHA-256 of the guest's MiB = the peer's), the
# migration cut the transfer (some bytes before it, not all), the stream
# has upstream's e1000 description, the SHA-256 of what the guest received
# after the restore equals the peer's, and the dst run removed the kept
# namespace and the peer with it.  MIGRATE_TCP_MIB (default 64; stage 4
# sends ~12 MiB while a live migration to a file runs) sets MIB.
source "$(dirname "$0")/lib.sh"
source "$TOP/tests/e1000opt-lib.sh"
need_guest
"$QEMU" -device e1000,help 2>/dev/null | grep -q 'x-offload=' || die "$QEMU has no x-offload property (make qemu)"
ANALYZE=$BUILD/qemu/src/scripts/analyze-migration.py
[ -f "$ANALYZE" ] || die "no $ANALYZE (QEMU's source tree, make qemu)"
MIB=${MIGRATE_TCP_MIB:-64}
WL="sha-tx:$MIB+sha-rx:16"
NIC="e1000,$ALL_ON,x-offload=on"
export E1OPT_TOP=$TOP OUT=$T_TMP/out MIGF=$T_TMP/tcp.mig MIGRATE_AT=1048576
mkdir -p "$OUT"
r() { cat "$OUT/$1" 2>/dev/null || echo "(not recorded)"; }
NS=
# on every exit path: the peer and the kept namespace (the dst run removes
# both when it gets that far)
at_exit '[ -s "$OUT/peer.pid" ] && kill -TERM "$(cat "$OUT/peer.pid")" 2>/dev/null'
at_exit '[ -n "$NS" ] && ip netns list | grep -qw "^$NS" && { ip netns pids "$NS" | xargs -r kill -KILL; ip netns del "$NS"; }'

# ---- src: boot, migrate during sha-tx with the VM running
export MODE=src QMPS=$T_TMP/src.qmp
vm src --nic "$NIC" --workload "$WL" --qmp "$QMPS" --keep-netns --timeout 300 \
	--attach "bash $E1OPT/attach-migrate-tcp.sh"
NS=$(j '.netns // empty')
[ ! -s "$OUT/error" ] || die "$(cat "$OUT/error")"
[[ $NS == vexit-keep-* ]] || die "src: scripts/vm --keep-netns gave no kept namespace: $(cat "$J")"
check "src: the kept namespace $NS is there after the run" bash -c "ip netns list | grep -qw '^$NS'"
check "src: the peer still runs in it" kill -0 "$(cat "$OUT/peer.pid")"
expect_eq "src: migration (VM running) completed" "$(r src_migrated)" 1
expect_eq "src: paused after the migration" "$(r src_status)" postmigrate
expect_eq "src: quit before the guest's result (scripts/vm exit 4)" "$VM_RC" 4
before=$(r src_rx_at_end)
expect_ge "src: bytes on the tap before the migration ended" "$before" "$MIGRATE_AT"
expect_le "src: ... not all of them (migrated during the transfer)" "$before" $((MIB * 1048576 - 1))
echo "  src: $before of $((MIB * 1048576)) bytes sent before the source stopped"
e1000_desc() {
	/usr/bin/python3 "$ANALYZE" -d desc -f "$1" | jq -S '.devices[] | select(.name | endswith("/e1000")) | .vmsd_name'
}
expect_eq "src: the stream has the e1000 section" "$(e1000_desc "$MIGF")" '"e1000"'

# ---- dst: restore on the same tap, the transfer goes on
export MODE=dst QMPS=$T_TMP/dst.qmp
vm dst --incoming "$MIGF" --netns "$NS" --nic "$NIC" --workload "$WL" --qmp "$QMPS" --timeout 400 \
	--attach "bash $E1OPT/attach-migrate-tcp.sh"
[ ! -s "$OUT/error" ] || die "$(cat "$OUT/error")"
expect_eq "dst: running after the restore" "$(r dst_status)" running
expect_eq "dst: scripts/vm exit status" "$VM_RC" 0
expect_eq "dst: guest ok" "$(j .ok)" true
check_sha_tx "sha-tx across the migration" '.result.steps[] | select(.step == "sha-tx") | .result' "$MIB"
expect_eq "sha-tx across the migration: one connection at the peer" \
	"$(jq -s '[.[] | select(.kind == "sink")] | length' "$OUT/peer.log")" 1
src_sha=$(jq -r 'select(.kind == "source") | .sha256' "$OUT/peer.log" | tail -n 1)
[ -n "$src_sha" ] || die "dst: the peer logged no sha-rx transfer"
expect_eq "sha-rx after the restore: SHA-256 guest (received) = peer (sent)" \
	"$(j '.result.steps[] | select(.step == "sha-rx") | .result.sha256')" "$src_sha"
check "dst: the kept namespace is removed at the end" bash -c "! ip netns list | grep -qw '^$NS'"
# gone, or a zombie its new parent has not reaped yet
peer_gone() { ! kill -0 "$1" 2>/dev/null || [[ $(ps -o stat= -p "$1") == Z* ]]; }
check "dst: the peer with it" peer_gone "$(cat "$OUT/peer.pid")"
