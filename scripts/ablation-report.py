#!/usr/bin/python3
"""Ablation rows and summary.

--row DIR N REP NAME NIC WORKLOAD
    Print the CSV row of one run from DIR/vm.json (scripts/vm), DIR/prof.json
    (vexitprof --json; absent for a run without the profiler: its count
    cells hold NA) and DIR/cpu (scripts/ablation-attach.sh).  Exit 1 if the
    run failed.
--summary OUTDIR [--conf FILE] [--quick 0|1] [--reps R] [--header keep|fresh] [--command CMD]
    (CMD defaults to OUTDIR/ablation.command, which ablation.sh writes)
    Rebuild OUTDIR/ablation.md and the plots from OUTDIR/ablation.csv alone.
    The header (machine, kernel, QEMU, date, command) is kept from the
    existing ablation.md unless --header fresh (what scripts/ablation.sh
    passes right after a run).

Cells that do not apply to a run hold NA (latency outside rr, exits under
TCG); no cell is ever empty or NaN.
"""
import csv
import datetime
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys

NIC_REGIONS = ("e1000-mmio", "e1000-io", "virtio-pci")
COLUMNS = ["run", "rep", "config", "nic", "workload", "accel", "ok", "throughput", "unit",
           "p50_us", "p99_us", "packets", "mmio_per_pkt", "mmio_by_register", "irq_per_pkt",
           "exits_per_pkt", "qemu_cpu_s", "cpu_s_per_mpkt", "wall_s", "profiled", "gb_moved",
           "cpu_s_per_gb", "tap_writes_per_gb", "tap_reads_per_gb"]
ARRAY_INDEX = re.compile(r"\[\d+\]")
TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fmt(x, digits=4):
    return f"{x:.{digits}g}" if isinstance(x, float) else str(x)


def row(d, n, rep, name, nic, wl):
    vm = json.load(open(os.path.join(d, "vm.json")))
    profiled = os.path.exists(os.path.join(d, "prof.json"))
    prof = json.load(open(os.path.join(d, "prof.json"))) if profiled else None
    start, last, tck = (float(x) for x in open(os.path.join(d, "cpu")).read().split())
    if not vm.get("ok") or (vm.get("attach") or {}).get("exit") not in (0, 130):
        return None
    res, host = vm["result"], vm["host"]
    packets = host["rx_packets"] + host["tx_packets"]
    if packets <= 0:
        return None
    if wl.startswith("pktgen"):
        thr, unit = float(res["pps"]), "pps"
        p50 = p99 = "NA"
    elif wl.startswith("iperf"):
        thr, unit = res["bits_per_second"] / 1e9, "Gbit/s"
        p50 = p99 = "NA"
    else:
        thr, unit = 1e6 / res["mean_us"], "tps"
        p50, p99 = float(res["p50_us"]), float(res["p99_us"])
    regs = {}
    for a in prof["accesses"] if profiled else []:
        if a["device"].startswith(NIC_REGIONS):
            # Register arrays (MTA[12], RA[3]) count as one row each.
            key = ARRAY_INDEX.sub("[]", a["register"]) + " " + a["dir"]
            regs[key] = regs.get(key, 0) + a["count"]
    mmio = sum(regs.values()) / packets
    # Every register seen, however rare (5 TDT writes in 200,000 frames is
    # the shadow stage's result, not noise): per packet with 4 significant
    # digits.
    by_reg = ";".join(f"{k}:{v / packets:.4g}" for k, v in
                      sorted(regs.items(), key=lambda kv: -kv[1]) if v)
    irq = vm["guest"]["irqs"] / packets
    if not profiled:
        mmio, by_reg, exits = "NA", "NA", "NA"
    elif vm["accel"] == "kvm":
        exits = fmt(sum(u["count"] for u in prof["userspace_exits"]) / packets)
    else:
        exits = "NA"
    cpu_s = (last - start) / tck
    # Bytes over the tap both ways (host side).  Each tap write() of QEMU is
    # one packet the host receives (a GSO packet with stage 4 counts once),
    # each read() one packet the host sent.
    gb = (host["rx_bytes"] + host["tx_bytes"]) / 1e9
    out = [n, rep, name, nic, wl, vm["accel"], "true", fmt(thr), unit, fmt(p50), fmt(p99), packets,
           fmt(mmio), by_reg or "none", fmt(irq), exits, fmt(cpu_s), fmt(cpu_s / packets * 1e6),
           fmt(float(vm["run_s"])), "true" if profiled else "false", fmt(gb), fmt(cpu_s / gb),
           fmt(host["rx_packets"] / gb), fmt(host["tx_packets"] / gb)]
    buf = []
    w = csv.writer(_Lines(buf), lineterminator="")
    w.writerow(out)
    return buf[0]


class _Lines:
    def __init__(self, buf):
        self.buf = buf

    def write(self, s):
        self.buf.append(s)


def med_range(vals):
    vals = [v for v in vals if v is not None]
    if not vals:
        return None, None, None
    return statistics.median(vals), min(vals), max(vals)


def num(s):
    try:
        return float(s)
    except ValueError:
        return None


def human(x, digits=3):
    """A number the way people read it: 93.3k, 1.12M, 1.27, 0.0052, 0."""
    if x == 0:
        return "0"
    ax = abs(x)
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if ax >= div * 10 or (ax >= div and suffix != "k"):
            return human(x / div, digits) + suffix
    # digits significant figures, in positional notation (never 3e-05)
    decimals = max(0, digits - 1 - math.floor(math.log10(ax)))
    out = f"{x:.{decimals}f}"
    if "." in out:
        out = out.rstrip("0").rstrip(".")
    return out


def cell(vals, digits=3, scale=1.0):
    m, lo, hi = med_range([v * scale if v is not None else None for v in vals])
    if m is None:
        return "n/a"
    if lo == hi:
        return human(m, digits)
    return f"{human(m, digits)} ({human(lo, digits)}-{human(hi, digits)})"


def machine_header(rows, quick, reps, fresh, command):
    # Rebuilding the page from the CSV alone keeps the header the run wrote:
    # its machine, kernel and date, not those of whoever regenerates it.
    old = os.path.join(OUT, "ablation.md")
    if not fresh and os.path.exists(old):
        kept = [l for l in open(old).read().split("\n\n")[1].splitlines() if l.startswith("- ")]
        if kept:
            return kept
    cpu = "unknown CPU"
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    try:
        qv = subprocess.run([os.path.join(TOP, "build/bin/qemu-system-x86_64"), "--version"],
                            capture_output=True, text=True, timeout=10).stdout.splitlines()[0]
    except Exception:
        qv = "QEMU (version unknown)"
    npatch = len([f for f in os.listdir(os.path.join(TOP, "qemu-patches")) if f.endswith(".patch")])
    accels = sorted({r["accel"] for r in rows if r["accel"]})
    when = datetime.datetime.fromtimestamp(os.path.getmtime(os.path.join(OUT, "ablation.csv")),
                                           datetime.timezone.utc)
    return [
        f"- Machine: {cpu}, {os.cpu_count()} CPUs, {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') >> 30} GiB",
        f"- Kernel: {platform.release()}",
        f"- QEMU: {qv} with vexit's {npatch} patches (qemu-patches/)",
        f"- Accelerator: {', '.join(accels) or 'none'}",
        f"- Date: {when:%Y-%m-%d %H:%M} UTC; {reps} repetition(s) per cell, interleaved"
        + (" (--quick: short runs)" if quick else ""),
        f"- Command: `{command}`",
    ]


def summary(out, conf, quick, reps, fresh=True, command="scripts/ablation.sh"):
    global OUT
    OUT = out
    rows = list(csv.DictReader(open(os.path.join(out, "ablation.csv"))))
    order = [l.split()[0] for l in open(conf) if l.strip() and not l.startswith("#")]
    order += sorted({r["config"] for r in rows} - set(order))
    wls = []
    for r in rows:
        if r["workload"] not in wls:
            wls.append(r["workload"])
    ok = [r for r in rows if r["ok"] == "true"]
    profiled_split = any(r.get("profiled") == "false" for r in ok)
    profiled = len({r["rep"] for r in ok if r.get("profiled", "true") != "false"})

    def cellrows(cfg, wl):
        return [r for r in ok if r["config"] == cfg and r["workload"] == wl]

    # Counts (MMIO, exits) come from the runs with vexitprof attached;
    # throughput, latency and CPU from the runs without it when the ablation
    # made any (a CSV from before the column had only profiled runs).
    def selp(cfg, wl):
        return [r for r in cellrows(cfg, wl) if r.get("profiled", "true") != "false"]

    def sel(cfg, wl):
        rs = cellrows(cfg, wl)
        free = [r for r in rs if r.get("profiled") == "false"]
        return free or rs

    def medof(cfg, wl, col, pick=None):
        return med_range([num(r[col]) for r in (pick or sel)(cfg, wl)])[0]

    def col(rows_, c):
        return [num(r.get(c) or "NA") for r in rows_]

    md = ["# E1000 stage ablation", ""]
    md += machine_header(rows, quick, reps, fresh, command)
    md += ["", f"{len(ok)}/{len(rows)} runs succeeded. Cells: median (min-max). "
           "Per-packet counts divide by the frames counted on the host side of the tap "
           "(both directions) during the workload; MMIO counts are vexitprof's "
           "(QEMU's dispatches to the NIC's regions under TCG, guest accesses under KVM).", ""]
    md += ["Under TCG a trapped MMIO access costs little, so absolute throughput here does not show "
           "what an exit costs under KVM; the per-packet counts (MMIO, interrupts) do not depend on "
           "the accelerator and carry over to a VMX/SVM host. Under TCG virtio-net's queue "
           "notifications are ioeventfd writes that QEMU completes without dispatching them, so they "
           "are not in its MMIO column (under KVM vexitprof shows them as in-kernel).", "",
           ("Throughput, latency and CPU come from the repetitions run without the profiler; "
            "MMIO and exit counts, the flamegraphs and the per-stage diffs from the "
            f"{profiled} repetition(s) run with vexitprof attached (`--no-packet-probes`). "
            if profiled_split else
            "Every run has vexitprof attached (`--no-packet-probes`), throughput included. ")
           + "Under TCG each profiled dispatch is a uprobe trap (its cost is in every profile's "
           "`cost` section), which would slow the configurations with the most trapped MMIO per "
           "packet most. With x-sidecore=on the sidecore thread needs a host CPU of "
           "its own: on a 2-CPU host running a TCG vCPU it competes with the vCPU and the main "
           "loop; x-sidecore=auto runs TX on it only while the threads' run-queue wait says a "
           "CPU is free, else inline (the configuration's spec says which mode it ran).", ""]

    ratio = lambda a, b: f"{a / b:.2f}x" if a is not None and b else "n/a"
    if "pktgen-60" in wls:
        md += ["## Headline: pktgen TX, 60-byte frames", "",
               "| configuration | pps | vs upstream | vs virtio-net | MMIO/pkt | upstream MMIO / this | IRQ/pkt | QEMU CPU s/Mpkt |",
               "|---|---|---|---|---|---|---|---|"]
        up_pps, vn_pps = medof("upstream", "pktgen-60", "throughput"), medof("virtio-net", "pktgen-60", "throughput")
        up_mmio = medof("upstream", "pktgen-60", "mmio_per_pkt", selp)
        for c in order:
            rs, rp = sel(c, "pktgen-60"), selp(c, "pktgen-60")
            if not rs:
                continue
            pps = medof(c, "pktgen-60", "throughput")
            mm = medof(c, "pktgen-60", "mmio_per_pkt", selp)
            if c == "upstream" or mm is None or not up_mmio:
                mred = "-"
            elif mm == 0:
                mred = "none seen"
            else:
                mred = f"{up_mmio / mm:.1f}x"
            md.append(f"| {c} | {cell(col(rs, 'throughput'))} | {ratio(pps, up_pps)} | "
                      f"{ratio(pps, vn_pps)} | {cell(col(rp, 'mmio_per_pkt'))} | {mred} | "
                      f"{cell(col(rs, 'irq_per_pkt'))} | {cell(col(rs, 'cpu_s_per_mpkt'))} |")
        md.append("")
        md += ["![pktgen throughput](ablation-throughput.svg)", "", "![MMIO per packet](ablation-mmio.svg)", ""]

    if "iperf-tx" in wls or "iperf-rx" in wls:
        # Issue 12's targets: TCP each way against virtio-net and against the
        # stock-driver ceiling (virtio-net without the large-receive offloads
        # a stock e1000 driver cannot use at MTU 1500), and the host's cost
        # per byte (what a KVM host pays whatever TCG does to throughput).
        ceiling = "virtio-ceiling" if "virtio-ceiling" in order else None
        md += ["## TCP (iperf3), both ways", "",
               "Gbit/s; QEMU CPU s per GB and tap system calls per GB (QEMU's writes = packets the host "
               "side received, reads = packets it sent; a GSO packet counts once) over the bytes "
               "moved both ways on the tap.", "",
               "| configuration | TX guest->host | TX vs virtio-net | RX host->guest | RX vs virtio-net | RX vs ceiling "
               "| CPU s/GB TX | CPU s/GB RX | tap writes/GB TX | tap reads/GB RX |",
               "|---|---|---|---|---|---|---|---|---|---|"]
        for c in order:
            tx, rx = sel(c, "iperf-tx"), sel(c, "iperf-rx")
            if not tx and not rx:
                continue
            t, r = medof(c, "iperf-tx", "throughput"), medof(c, "iperf-rx", "throughput")
            md.append(f"| {c} | {cell(col(tx, 'throughput'))} | {ratio(t, medof('virtio-net', 'iperf-tx', 'throughput'))} | "
                      f"{cell(col(rx, 'throughput'))} | {ratio(r, medof('virtio-net', 'iperf-rx', 'throughput'))} | "
                      f"{ratio(r, medof(ceiling, 'iperf-rx', 'throughput')) if ceiling else 'n/a'} | "
                      f"{cell(col(tx, 'cpu_s_per_gb'))} | {cell(col(rx, 'cpu_s_per_gb'))} | "
                      f"{cell(col(tx, 'tap_writes_per_gb'))} | {cell(col(rx, 'tap_reads_per_gb'))} |")
        md.append("")

    for wl in wls:
        md += [f"## {wl}", "", "| configuration | throughput | p50 us | p99 us | MMIO/pkt | IRQ/pkt | exits/pkt "
               "| QEMU CPU s/Mpkt | QEMU CPU s/GB | accel |",
               "|---|---|---|---|---|---|---|---|---|---|"]
        for c in order:
            rs, rp = sel(c, wl), selp(c, wl)
            if not rs:
                continue
            unit = rs[0]["unit"]
            md.append(f"| {c} | {cell(col(rs, 'throughput'))} {unit} | "
                      f"{cell(col(rs, 'p50_us'))} | {cell(col(rs, 'p99_us'))} | "
                      f"{cell(col(rp, 'mmio_per_pkt'))} | {cell(col(rs, 'irq_per_pkt'))} | "
                      f"{cell(col(rp, 'exits_per_pkt'))} | {cell(col(rs, 'cpu_s_per_mpkt'))} | "
                      f"{cell(col(rs, 'cpu_s_per_gb'))} | "
                      f"{'/'.join(sorted({r['accel'] for r in rs}))} |")
        md.append("")

    # Trapped MMIO per packet by register, pktgen-60 (median per register).
    regs_by_cfg = {}
    if "pktgen-60" in wls:
        md += ["## Trapped MMIO per packet by register (pktgen-60)", "", "| configuration | registers (median per packet) |", "|---|---|"]
        for c in order:
            rs = selp(c, "pktgen-60")
            if not rs:
                continue
            per = {}
            for r in rs:
                for item in r["mmio_by_register"].split(";"):
                    if ":" in item:
                        k, v = item.rsplit(":", 1)
                        per.setdefault(k, []).append(float(v))
            med = {k: statistics.median(v + [0.0] * (len(rs) - len(v))) for k, v in per.items()}
            regs_by_cfg[c] = med
            md.append(f"| {c} | " + (", ".join(f"{k} {human(v)}" for k, v in sorted(med.items(), key=lambda kv: -kv[1]) if v >= 0.001) or "none") + " |")
        md.append("")
    if "rr" in wls:
        md += ["![request/response latency](ablation-latency.svg)", ""]
    md += ["Flamegraphs (pktgen-60, one run per configuration): " +
           ", ".join(f"[{c}](flamegraphs/{c}.svg)" for c in order if os.path.exists(os.path.join(out, "flamegraphs", c + ".svg"))), ""]
    ddir = os.path.join(out, "diffs")
    if os.path.isdir(ddir):
        # written by ablation.sh (vexitprof diff): each stage against the previous
        # step of the cumulative series and against virtio-net
        links = []
        for t in sorted(f for f in os.listdir(ddir) if f.endswith(".txt")):
            b = t[:-4]
            svg = f" ([flame graph](diffs/{b}.svg))" if os.path.exists(os.path.join(ddir, b + ".svg")) else ""
            links.append(f"[{b.replace('.vs-', ' vs ')}](diffs/{t}){svg}")
        if links:
            md += ["Per-stage diffs (`vexitprof diff`, pktgen-60, per packet of the host side of the tap): " +
                   ", ".join(links), ""]
    md += ["Raw rows: [ablation.csv](ablation.csv). Regenerate this page without rerunning: "
           "`scripts/ablation-report.py --summary results`.", ""]
    open(os.path.join(out, "ablation.md"), "w").write("\n".join(md))
    plots(out, order, sel, regs_by_cfg, wls)


def gnuplot(script, dat):
    if os.path.getsize(dat) == 0:
        return  # no successful run to plot
    subprocess.run(["gnuplot"], input=script, text=True, check=True)


def svg_plot(out, name, height, title, ylabel, style, plot, dat):
    """A 900 x HEIGHT bar chart OUT/NAME of DAT; STYLE: its own set lines."""
    gnuplot(f"""set terminal svg size 900,{height} dynamic font "sans,11"
set output "{out}/{name}"
set title "{title}"
set ylabel "{ylabel}"
{style}set xtics rotate by -20
set grid ytics
{plot}
""", dat)


def plots(out, order, sel, regs_by_cfg, wls):
    dat = os.path.join(out, "ablation-plot.dat")
    if "pktgen-60" in wls:
        with open(dat, "w") as f:
            for c in order:
                m, lo, hi = med_range([num(r["throughput"]) for r in sel(c, "pktgen-60")])
                if m is not None:
                    f.write(f'"{c}" {m / 1000:.3f} {lo / 1000:.3f} {hi / 1000:.3f}\n')
        svg_plot(out, "ablation-throughput.svg", 420,
                 "pktgen TX, 60-byte frames: throughput (median, min-max)", "kpps",
                 "set style fill solid 0.6\nset boxwidth 0.6\nset yrange [0:*]\n",
                 f'plot "{dat}" using 0:2:xtic(1) with boxes notitle lc rgb "#4a7fb5", '
                 '"" using 0:2:3:4 with yerrorbars notitle lc rgb "black" pt -1', dat)
        regs = []
        for med in regs_by_cfg.values():
            for k, v in med.items():
                if v >= 0.001 and k not in regs:
                    regs.append(k)
        regs = regs[:8]
        with open(dat, "w") as f:
            f.write("config " + " ".join(f'"{r}"' for r in regs) + ' "other"\n')
            for c in order:
                if c not in regs_by_cfg:
                    continue
                med = regs_by_cfg[c]
                other = sum(v for k, v in med.items() if k not in regs)
                f.write(f'"{c}" ' + " ".join(f"{med.get(r, 0.0):.5f}" for r in regs) + f" {other:.5f}\n")
        cols = len(regs) + 1
        svg_plot(out, "ablation-mmio.svg", 460,
                 "pktgen TX, 60-byte frames: trapped MMIO per packet by register (median)",
                 "accesses per packet",
                 "set style data histograms\nset style histogram rowstacked\n"
                 "set style fill solid 0.8 border -1\nset boxwidth 0.6\nset key outside right top\n",
                 f'plot for [i=2:{cols + 1}] "{dat}" using i:xtic(1) title columnheader(i)', dat)
    if "rr" in wls:
        with open(dat, "w") as f:
            for c in order:
                a = med_range([num(r["p50_us"]) for r in sel(c, "rr")])[0]
                b = med_range([num(r["p99_us"]) for r in sel(c, "rr")])[0]
                if a is not None:
                    f.write(f'"{c}" {a:.1f} {b:.1f}\n')
        svg_plot(out, "ablation-latency.svg", 420,
                 "UDP request/response latency (median of runs)", "microseconds",
                 "set style data histograms\nset style histogram clustered gap 1\n"
                 "set style fill solid 0.7 border -1\nset yrange [0:*]\n",
                 f'plot "{dat}" using 2:xtic(1) title "p50", "" using 3 title "p99"', dat)
    os.unlink(dat)


def command(out, given):
    """The command line the header names: --command, else OUTDIR/ablation.command
    (written by ablation.sh), else the bare script."""
    if given:
        return given
    try:
        return open(os.path.join(out, "ablation.command")).read().strip()
    except OSError:
        return "scripts/ablation.sh"


def main(argv):
    if argv[1] == "--row":
        r = row(*argv[2:8])
        if r is None:
            return 1
        print(r)
        return 0
    if argv[1] == "--summary":
        out = argv[2]
        opts = dict(zip(argv[3::2], argv[4::2]))
        summary(out, opts.get("--conf", os.path.join(TOP, "scripts/ablation.conf")),
                opts.get("--quick", "0") == "1", int(opts.get("--reps", "0")) or "?",
                opts.get("--header", "keep") == "fresh", command(out, opts.get("--command")))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
