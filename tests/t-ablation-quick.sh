#!/usr/bin/env bash
# make ablation --quick: every configuration boots and completes every
# workload with vexitprof attached; the CSV is complete (no empty or NaN
# cell); the summary is rebuilt from the CSV alone; and the stage effects
# hold as invariants (not exact numbers) on pktgen-60:
#   shadow-regs: TDT and RDT trapped writes < 0.01 per packet
#   coalesce:    fewer interrupts per packet than upstream
#   all-stages:  at least 10x fewer trapped MMIO per packet than upstream
source "$(dirname "$0")/lib.sh"

out="$T_TMP/ablation"
bash "$TOP/scripts/ablation.sh" --quick -o "$out" || die "ablation --quick failed"
csv="$out/ablation.csv"
nconf=$(grep -cv '^\s*\(#\|$\)' "$TOP/scripts/ablation.conf")
rows=$(($(wc -l <"$csv") - 1))
expect_eq "CSV rows (configurations x 5 workloads)" "$rows" $((nconf * 5))

/usr/bin/python3 - "$csv" <<'PY' || die "CSV check failed"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
bad = [(r["run"], k) for r in rows for k, v in r.items() if v is None or v.strip() == "" or v.strip().lower() == "nan"]
assert not bad, f"empty/NaN cells: {bad[:10]}"
failed = [(r["config"], r["workload"]) for r in rows if r["ok"] != "true"]
assert not failed, f"runs failed: {failed}"
print("  ok: no empty or NaN cell, every run ok")
PY
ok "CSV complete"

cp "$out/ablation.md" "$T_TMP/first.md"
rm -f "$out/ablation.md" "$out"/ablation-*.svg
/usr/bin/python3 "$TOP/scripts/ablation-report.py" --summary "$out" --quick 1 --reps 1
check "summary rebuilt from the CSV alone" cmp -s "$out/ablation.md" "$T_TMP/first.md"
for f in ablation-throughput.svg ablation-mmio.svg ablation-latency.svg; do
	check "plot $f written" test -s "$out/$f"
done
check "a flamegraph per configuration" test "$(ls "$out/flamegraphs" | wc -l)" -eq "$nconf"

get() { # CONFIG COLUMN (pktgen-60)
	/usr/bin/python3 -c '
import csv, sys
for r in csv.DictReader(open(sys.argv[1])):
    if r["config"] == sys.argv[2] and r["workload"] == "pktgen-60":
        if sys.argv[3].startswith("reg:"):
            want = sys.argv[3][4:]
            regs = dict(x.rsplit(":", 1) for x in r["mmio_by_register"].split(";") if ":" in x)
            print(regs.get(want, "0"))
        else:
            print(r[sys.argv[3]])' "$csv" "$1" "$2"
}
expect_le "shadow-regs: TDT writes per packet" "$(get shadow-regs 'reg:TDT write')" 0.01
expect_le "shadow-regs: RDT writes per packet" "$(get shadow-regs 'reg:RDT write')" 0.01
up_irq=$(get upstream irq_per_pkt)
co_irq=$(get coalesce irq_per_pkt)
awk -v a="$co_irq" -v b="$up_irq" 'BEGIN{exit !(a < b)}' ||
	die "coalesce: interrupts per packet $co_irq not below upstream $up_irq"
ok "coalesce: interrupts per packet $co_irq < upstream $up_irq"
up_mmio=$(get upstream mmio_per_pkt)
all_mmio=$(get all-stages mmio_per_pkt)
expect_le "all-stages MMIO/pkt x 10 vs upstream ($all_mmio vs $up_mmio)" \
	"$(awk -v a="$all_mmio" 'BEGIN{print a * 10}')" "$up_mmio"
