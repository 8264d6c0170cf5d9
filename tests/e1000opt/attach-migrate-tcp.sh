# --attach command of t-e1000opt-migrate-tcp.sh, for the two QEMUs one
# guest passes through while a TCP transfer runs.  Environment from
# scripts/vm (QEMU_PID, VEXIT_NETNS, VEXIT_TAP, VEXIT_READY_FILE) and the
# test: E1OPT_TOP, OUT (one file per recorded fact, prefixed with MODE), QMPS
# (QMP socket), MIGF (file to migrate to), MIGRATE_AT (bytes), MODE:
#   src  starts the data peer (offload-peer.py) in the VM's namespace, in a
#        session of its own: the namespace outlives this run (--keep-netns)
#        and the peer with it, so the restored guest's connection finds its
#        other end; its pid in $OUT/peer.pid.  Once the guest has sent
#        MIGRATE_AT bytes (host side of the tap), QMP migrate to
#        file:$MIGF with the VM running, wait until done, record, quit
#   dst  the guest restored in the kept namespace: record that it runs
# Failures: exit 1 (and QMP quit), the reason in $OUT/error.
TOP=$E1OPT_TOP
source "$TOP/tests/e1000opt-lib.sh"
set -u
ATTACH_LABEL=tcp-$MODE
r() { rec "${MODE}_$1" "$2"; }
status() { qmp "$QMPS" query-status | jq -r .status; }

case $MODE in
src)
	rm -f "$OUT/peer.ready"
	setsid ip netns exec "$VEXIT_NETNS" /usr/bin/python3 "$E1OPT/offload-peer.py" --log "$OUT/peer.log" \
		--tap "$VEXIT_TAP" --ready "$OUT/peer.ready" </dev/null >"$OUT/peer.out" 2>&1 &
	echo $! >"$OUT/peer.pid"
	for ((i = 0; i < 100; i++)); do
		[ -e "$OUT/peer.ready" ] && break
		kill -0 "$(cat "$OUT/peer.pid")" 2>/dev/null || fail "the peer exited: $(tail -n 2 "$OUT/peer.out")"
		sleep 0.1
	done
	[ -e "$OUT/peer.ready" ] || fail "the peer did not listen within 10 s"
	rx0=$(tap_stat rx_bytes)
	touch "$VEXIT_READY_FILE"
	for ((i = 0; i < 3000; i++)); do
		[ $(($(tap_stat rx_bytes) - rx0)) -ge "$MIGRATE_AT" ] && break
		sleep 0.1
	done
	[ $i -lt 3000 ] || fail "the guest sent only $(($(tap_stat rx_bytes) - rx0)) bytes in 300 s"
	r rx_before "$(($(tap_stat rx_bytes) - rx0))"
	q "migrate {\"uri\":\"file:$MIGF\"}" "@migrate-wait 120"
	r migrated 1
	r status "$(status)"
	r rx_at_end "$(($(tap_stat rx_bytes) - rx0))"
	q quit
	;;
dst)
	touch "$VEXIT_READY_FILE"
	for ((i = 0; i < 600; i++)); do
		s=$(status 2>/dev/null) || s=
		[ "$s" = running ] && break
		sleep 0.1
	done
	r status "$s"
	;;
*) fail "MODE '$MODE'?" ;;
esac
exit 0
