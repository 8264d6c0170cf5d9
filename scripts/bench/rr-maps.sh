#!/usr/bin/env bash
# rr-maps.sh OUTDIR ROUNDS "NAME QEMU NIC" ...: request/response latency
# (scripts/vm --workload rr --count 5000) and how often the shadow stage
# mapped its page (bpftrace, uprobe e1000_shadow_activate in that QEMU's
# process), for each configuration, interleaved, ROUNDS rounds.  QEMU is a
# binary (to compare two builds of the series: copy one aside before
# rebuilding).  Prints one line per configuration: medians (min-max).
# Needs root and bpftrace.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:?usage: rr-maps.sh OUTDIR ROUNDS "NAME QEMU NIC" ...}
rounds=${2:?}
shift 2
mkdir -p "$out"
cat >"$out/count.sh" <<'SH'
exe=$(readlink -f /proc/$QEMU_PID/exe)
exec bpftrace --unsafe -e "uprobe:$exe:e1000_shadow_activate /pid == $QEMU_PID/ { @maps = count(); } BEGIN { system(\"touch $VEXIT_READY_FILE\"); }"
SH
for ((r = 1; r <= rounds; r++)); do
	for c in "$@"; do
		read -r name qemu nic <<<"$c"
		VEXIT_QEMU=$qemu "$TOP/scripts/vm" --nic "$nic" --workload rr --count 5000 \
			--attach "bash $out/count.sh >$out/$name.$r.maps 2>&1" >"$out/$name.$r.json" 2>"$out/$name.$r.err"
	done
done
/usr/bin/python3 - "$out" <<'PY'
import glob, json, os, re, statistics as st, sys
d = sys.argv[1]
rows = {}
for f in sorted(glob.glob(os.path.join(d, "*.json"))):
    name = os.path.basename(f)[:-5].rsplit(".", 1)[0]
    r = json.load(open(f))["result"]
    m = re.search(r"@maps: (\d+)", open(f[:-5] + ".maps").read())
    rows.setdefault(name, []).append((r["p50_us"], r["p99_us"], r["mean_us"], int(m.group(1)) if m else 0, r["lost"]))
f = lambda v: "%.0f (%.0f-%.0f)" % (st.median(v), min(v), max(v))
print("| configuration | runs | p50 us | p99 us | mean us | page mappings per 5000 | lost |")
print("|---|---|---|---|---|---|---|")
for n, v in rows.items():
    print(f"| {n} | {len(v)} | {f([x[0] for x in v])} | {f([x[1] for x in v])} | {f([x[2] for x in v])} | {f([x[3] for x in v])} | {sum(x[4] for x in v)} |")
PY
