#!/usr/bin/env bash
# --attach command of tests/t-e1000opt-offload.sh (run by scripts/vm with
# QEMU_PID, VEXIT_READY_FILE, VEXIT_NETNS, VEXIT_TAP):
#   offload-attach.sh OUTDIR [--ipv6] [--pcap]
# starts tests/e1000opt/offload-peer.py in the VM's namespace (log in
# OUTDIR/peer.log), with --ipv6 gives the tap fd77::1/64, with --pcap
# captures TCP port 5301 on the tap (OUTDIR/tx.pcap), and saves the
# namespace's /proc/net/snmp before and after (OUTDIR/snmp.before/.after).
# Ends on SIGINT (scripts/vm sends it when the guest's workload ended).
set -euo pipefail
out=$1
shift
ipv6=0 pcap=0
for a in "$@"; do
	case $a in
	--ipv6) ipv6=1 ;;
	--pcap) pcap=1 ;;
	*) echo "offload-attach: bad option $a" >&2; exit 2 ;;
	esac
done
here=$(cd "$(dirname "$0")" && pwd)
nsx() { ip netns exec "$VEXIT_NETNS" "$@"; }
pids=()
stop() {
	local p
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap stop EXIT

if [ "$ipv6" = 1 ]; then
	nsx sysctl -qw "net.ipv6.conf.$VEXIT_TAP.disable_ipv6=0"
	nsx ip -6 addr add fd77::1/64 dev "$VEXIT_TAP" nodad
fi
if [ "$pcap" = 1 ]; then
	nsx tcpdump -i "$VEXIT_TAP" -s 0 -U -w "$out/tx.pcap" tcp port 5301 2>"$out/tcpdump.err" &
	pids+=($!)
	until grep -q "listening on" "$out/tcpdump.err" 2>/dev/null; do
		kill -0 "${pids[-1]}" 2>/dev/null || { echo "offload-attach: tcpdump failed: $(cat "$out/tcpdump.err")" >&2; exit 1; }
		sleep 0.1
	done
fi
rm -f "$out/peer.ready"
nsx python3 "$here/offload-peer.py" --log "$out/peer.log" --tap "$VEXIT_TAP" --ready "$out/peer.ready" &
pids+=($!)
until [ -e "$out/peer.ready" ]; do
	kill -0 "${pids[-1]}" 2>/dev/null || { echo "offload-attach: peer failed" >&2; exit 1; }
	sleep 0.1
done
nsx cat /proc/net/snmp >"$out/snmp.before"
touch "$VEXIT_READY_FILE"
trap 'nsx cat /proc/net/snmp >"$out/snmp.after"; stop; exit 0' INT
while :; do sleep 1; done
