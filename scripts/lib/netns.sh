# shellcheck shell=bash
# netns.sh: scripts/vm's network -- a namespace of its own (vexit-PID) with
# the tap, the nftables pktgen counter, the workloads' servers and the tap's
# counters.  Sourced by scripts/vm; uses its msg, fatal, alive and $T.
#
# QEMU itself runs inside the namespace (ip netns exec): the tap is created
# there and opened by name, so nothing of the run ever exists in the root
# namespace, the name cannot clash with other runs, and killing everything in
# the namespace and deleting it (netns_remove) removes the tap with it
# however QEMU ended.

NS=
HOST_IP=10.77.0.1
TAP=vxt0
# Fixed, so that a guest restored in another run (--incoming) still has the
# right ARP entry for the host.
TAP_MAC=02:77:00:00:00:01
IPERF_PORT=5201
ECHO_PORT=7777
pktgen_counter=0
# 1: the namespace outlives this run (--keep-netns): netns_remove stops only
# what this run started in it
NS_KEEP=0

nsx() { ip netns exec "$NS" "$@"; }

# netns_remove_stale: namespaces of runs whose script died without cleaning
# up (SIGKILL): the creator is gone and nothing runs inside.  Runs in
# progress are left alone.
netns_remove_stale() {
	local ns owner
	for ns in $(ip netns list | awk '$1 ~ /^vexit-[0-9]+(-[0-9]+)?$/ { print $1 }'); do
		owner=${ns#vexit-}
		owner=${owner%%-*}
		if ! kill -0 "$owner" 2>/dev/null && [ -z "$(ip netns pids "$ns" 2>/dev/null)" ]; then
			ip netns del "$ns" 2>/dev/null && msg "removed stale namespace $ns"
		fi
	done
}

# netns_create: the namespace (in $NS, for netns_remove as soon as it is
# set), the tap with the host's address, and the pktgen counter.
netns_create() {
	local name=vexit-$$ alt=vexit-$$-$RANDOM
	# kept: a name netns_remove_stale leaves alone, since the next run
	# (--netns) is a different process; its user removes it
	[ "$NS_KEEP" = 1 ] && name=vexit-keep-$$ alt=vexit-keep-$$$RANDOM
	ip netns list | grep -qw "$name" && name=$alt
	NS=$name
	ip netns add "$NS" || fatal 6 "cannot create network namespace $NS"
	{
		nsx sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 &&
			ip -n "$NS" link set lo up &&
			nsx ip tuntap add dev "$TAP" mode tap &&
			ip -n "$NS" link set "$TAP" address "$TAP_MAC" &&
			ip -n "$NS" addr add "$HOST_IP/24" dev "$TAP" &&
			ip -n "$NS" link set "$TAP" up
	} >"$T/netns.log" 2>&1 || fatal 6 "cannot set up tap $TAP in $NS: $(tail -n 2 "$T/netns.log")"

	# pktgen frames carry the magic 0xbe9be955 right after the UDP header.
	# An ingress rule counts them in the kernel (exact: no capture buffer
	# that could overflow) and then drops them so the host stack does not
	# answer 200k frames with ICMP.
	pktgen_counter=0
	if command -v nft >/dev/null; then
		if nsx nft -f - >"$T/nft.log" 2>&1 <<NFT; then
table netdev vexit {
	counter pktgen { }
	chain ingress {
		type filter hook ingress device "$TAP" priority 0; policy accept;
		meta protocol ip udp dport 9 @th,64,32 0xbe9be955 counter name "pktgen" drop
	}
}
NFT
			pktgen_counter=1
		else
			msg "warning: nft rule failed, no pktgen frame count: $(head -n 1 "$T/nft.log")"
		fi
	else
		msg "warning: nft not installed, no pktgen frame count (apt-get install nftables)"
	fi
}

# netns_adopt NAME: run in NAME, a namespace an earlier run kept
# (--keep-netns) with its tap, its pktgen counter and whatever the user
# left running in it (a TCP peer that a restored guest talks to again).
# netns_remove then deletes it, unless this run keeps it too.
netns_adopt() {
	ip netns list | grep -qw "^$1" || fatal 6 "--netns: no namespace $1"
	NS=$1
	nsx test -d "/sys/class/net/$TAP" || { NS=; fatal 6 "--netns: $1 has no $TAP"; }
	pktgen_counter=0
	nsx nft list counter netdev vexit pktgen >/dev/null 2>&1 && pktgen_counter=1
	return 0
}

# wait_listen PROTO PORT PID NAME: until a socket listens on PORT in the
# namespace; fails the run if the server died or never listened.
wait_listen() {
	local i flag=-Hlnt
	[ "$1" = udp ] && flag=-Hlnu
	for ((i = 0; i < 50; i++)); do
		[ -n "$(nsx ss $flag "sport = :$2" 2>/dev/null)" ] && return 0
		alive "$3" || fatal 6 "$4 exited at start: $(tail -n 2 "$T/$4.log")"
		sleep 0.1
	done
	fatal 6 "$4 does not listen on $1 port $2"
}

# netns_start_servers STEPS ECHO_SERVER: the servers the workload's steps
# (" name name ") talk to, listening on the host side of the tap.
netns_start_servers() {
	local steps=$1 echo_server=$2 one
	if [[ $steps == *" iperf-"* ]]; then
		command -v iperf3 >/dev/null || fatal 6 "iperf3 not installed"
		# One test, then it exits (a server for several tests with
		# several iperf steps); netns_remove kills it if the guest
		# never came.
		one=-1
		[ "$(grep -o ' iperf-' <<<"$steps" | wc -l)" -gt 1 ] && one=
		ip netns exec "$NS" iperf3 -s $one -B "$HOST_IP" -p "$IPERF_PORT" </dev/null >"$T/iperf3.log" 2>&1 &
		wait_listen tcp "$IPERF_PORT" $! iperf3
	fi
	if [[ $steps == *" rr "* ]]; then
		ip netns exec "$NS" "$echo_server" -a "$HOST_IP" -p "$ECHO_PORT" </dev/null >"$T/udp-echo.log" 2>&1 &
		wait_listen udp "$ECHO_PORT" $! udp-echo
	fi
}

# netns_remove: kill everything in the namespace (the servers, and QEMU if
# it somehow survived), reap our children, delete it (and the tap with it).
netns_remove() {
	local p
	[ -n "$NS" ] || return 0
	# kept: only our servers go, the rest stays (QEMU is stopped already)
	for p in $([ "$NS_KEEP" = 1 ] && jobs -p || ip netns pids "$NS" 2>/dev/null); do
		kill -KILL "$p" 2>/dev/null
	done
	for p in $(jobs -p); do wait "$p" 2>/dev/null; done
	if [ "$NS_KEEP" = 1 ]; then
		msg "kept namespace $NS"
	else
		ip netns del "$NS" 2>/dev/null
	fi
}

# The tap's counters: "rx_packets rx_bytes tx_packets tx_bytes ".
tap_counters() {
	nsx sh -c "cd /sys/class/net/$TAP/statistics && cat rx_packets rx_bytes tx_packets tx_bytes" | tr '\n' ' '
}
# pktgen_frames: the nftables count of pktgen frames, or null.
pktgen_frames() {
	[ "$pktgen_counter" = 1 ] || { echo null && return; }
	nsx nft -j list counter netdev vexit pktgen 2>/dev/null |
		jq '[.nftables[] | select(.counter) | .counter.packets][0] // null'
}
counters_json() { # "BEFORE" "AFTER" PKTGEN
	echo "$1 $2" | awk -v pg="$3" '{ printf "{\"rx_packets\":%d,\"rx_bytes\":%d,\"tx_packets\":%d,\"tx_bytes\":%d,\"pktgen_frames\":%s}", $5-$1, $6-$2, $7-$3, $8-$4, pg }'
}
