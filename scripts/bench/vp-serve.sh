#!/bin/bash
# vp-serve.sh VEXITPROF PORT [vexitprof options...]: the fleet daemon as a
# tracer for paired_windows.py (tap-rx-serve): `VEXITPROF --serve
# 127.0.0.1:PORT OPTIONS`, scraped once a second like Prometheus would, until
# SIGINT/SIGTERM.  With VP_SERVE_LOG set, appends "cpu_s wall_s" of the
# daemon's own CPU time (utime + stime) and how long it ran.
vp=$1 port=$2
shift 2
# its own session: the signal paired_windows.py sends our group reaches it through stop()
setsid "$vp" --serve "127.0.0.1:$port" "$@" 2>/dev/null &
d=$!
t0=$(date +%s.%N)
stop() {
	if [ -n "${VP_SERVE_LOG:-}" ] && [ -r /proc/$d/stat ]; then
		awk -v hz="$(getconf CLK_TCK)" -v t0="$t0" -v t1="$(date +%s.%N)" \
			'{ sub(/^.*\) /, ""); printf "%.3f %.3f\n", ($12 + $13) / hz, t1 - t0 }' \
			/proc/$d/stat >>"$VP_SERVE_LOG"
	fi
	kill -INT $d 2>/dev/null
	wait $d
	exit 0
}
trap stop INT TERM
while kill -0 $d 2>/dev/null; do
	curl -s -o /dev/null --max-time 5 "http://127.0.0.1:$port/metrics"
	sleep 1 &
	wait $!
done
wait $d
