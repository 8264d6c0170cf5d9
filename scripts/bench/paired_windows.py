#!/usr/bin/python3
"""paired_windows.py SOURCE VEXITPROF OUT CYCLES [QMP_SOCKET]: tracers attached
and detached in turn to one long-running guest, a rate measured in windows of
a few seconds; each traced window is later compared (paired_report.py) with
the untraced windows just before and after it, which see the same machine
load.  Run as the --attach command of scripts/run-baremetal or scripts/vm
(QEMU_PID, VEXIT_READY_FILE; VEXIT_NETNS and VEXIT_TAP for tap-rx): it
releases the guest at once, and SIGTERMs QEMU at the end.
SOURCE:
  kvm-exits  exits/s from QEMU's own KVM statistics (QMP query-stats, vCPU
             mmio_exits) on QMP_SOCKET; tracers: vexitprof --no-usdt (both
             KVM_RUN hooks) and a bpftrace counter
  tap-rx     frames/s the guest sent, from the host side of the tap (a pktgen
             run); tracers: vexitprof, with and without the packet probes.
             Ends early when a window sees no frame (pktgen ended).
  tap-rx-oncpu  the same, tracers: vexitprof --no-usdt --on-cpu=499 and
             =99 (the sampler and kernel events only) and perf record -F
             499 -g
  tap-rx-serve  the same, tracers: the fleet daemon (vexitprof --serve -p
             QEMU_PID, scraped every second by vp-serve.sh) sampled (its
             default --duty) and --exact; the daemon's own CPU time goes to
             OUT.daemon.MODE ("cpu_s wall_s" per window).
OUT gets "mode rate qemu_cpu_ns_per_unit" lines, one per window."""
import os
import signal
import subprocess
import sys
import time

LIB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib")
sys.path.insert(0, LIB)
from procstat import cpu_ns  # noqa: E402
from qmp import QMP  # noqa: E402

W = 3.0  # seconds per window


def main():
    if len(sys.argv) < 5:
        raise SystemExit(__doc__)
    source, vp, out, cycles = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    qpid = os.environ["QEMU_PID"]
    warm = 0.5  # s between a tracer's ready file and its window
    if source == "kvm-exits":
        sock = sys.argv[5]
        tracers = {
            "vexitprof-kernel": f"{vp} -p {qpid} --no-usdt --ready-file {{r}} >/dev/null 2>&1",
            "vexitprof-kernel-syscalls": f"{vp} -p {qpid} --no-usdt --kvm-run syscalls --ready-file {{r}} >/dev/null 2>&1",
            "bpftrace": "bpftrace -e 'tracepoint:kvm:kvm_mmio /pid == " + qpid + "/ { @m = count(); } "
            "tracepoint:kvm:kvm_userspace_exit /pid == " + qpid + "/ { @u = count(); }' 2>&1 "
            "| while read -r l; do case $l in Attaching*) touch {r};; esac; done",
        }
        settle = 2
    elif source == "tap-rx":
        ns, tap = os.environ["VEXIT_NETNS"], os.environ["VEXIT_TAP"]
        tracers = {
            "vexitprof": f"{vp} -p {qpid} --ready-file {{r}} >/dev/null 2>&1",
            "vexitprof-no-packet-probes": f"{vp} -p {qpid} --no-packet-probes --ready-file {{r}} >/dev/null 2>&1",
        }
        settle = 3
    elif source == "tap-rx-serve":
        # after its ready file the daemon still loads a spare BPF object for
        # the next VM and detaches libbpf's stand-in probes: a one-time cost,
        # not the always-on one; measured from 3 s on
        warm = 3.0
        ns, tap = os.environ["VEXIT_NETNS"], os.environ["VEXIT_TAP"]
        serve = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vp-serve.sh")
        tracers = {
            m: f"VP_SERVE_LOG={out}.daemon.{m} {serve} {vp} 19479 -p {qpid} {o} --ready-file {{r}}"
            for m, o in (("serve-sampled", ""), ("serve-exact", "--exact"))
        }
        settle = 3
    elif source == "tap-rx-oncpu":
        # the on-CPU sampler alone (no USDT probes: their traps are the
        # other cost, measured by tap-rx) against perf sampling at the same
        # rate with call chains; perf has no ready signal: 1 s after start
        warm = 1.0
        ns, tap = os.environ["VEXIT_NETNS"], os.environ["VEXIT_TAP"]
        tracers = {
            "oncpu-499": f"{vp} -p {qpid} --no-usdt --on-cpu=499 --ready-file {{r}} >/dev/null 2>&1",
            "oncpu-99": f"{vp} -p {qpid} --no-usdt --on-cpu=99 --ready-file {{r}} >/dev/null 2>&1",
            "perf-record-g-499": f"perf record -q -e cpu-clock -F 499 -g -p {qpid} -o {out}.perf.data "
            ">/dev/null 2>&1 & sleep 1; touch {r}; wait",
        }
        settle = 3
    else:
        raise SystemExit(f"paired_windows.py: unknown source {source}")
    open(os.environ["VEXIT_READY_FILE"], "w").close()  # release the guest

    if source == "kvm-exits":
        q = QMP(sock)

        def count():
            st = q.command("query-stats", target="vcpu")
            return sum(x["value"] for v in st for x in v["stats"] if x["name"] == "mmio_exits")
    else:

        def count():
            return int(subprocess.check_output(
                ["ip", "netns", "exec", ns, "cat", f"/sys/class/net/{tap}/statistics/rx_packets"]))

    res = open(out, "w")

    def window(mode):
        t0, e0, c0 = time.time(), count(), cpu_ns(qpid)
        time.sleep(W)
        t1, e1, c1 = time.time(), count(), cpu_ns(qpid)
        res.write(f"{mode} {(e1 - e0) / (t1 - t0):.1f} {(c1 - c0) / max(e1 - e0, 1):.1f}\n")
        res.flush()
        return e1 - e0

    time.sleep(settle)
    for _ in range(cycles):
        for mode, cmd in tracers.items():
            time.sleep(0.5)
            if window("none") == 0 and source.startswith("tap-rx"):
                sys.exit(0)  # pktgen ended
            r = f"{out}.ready"
            if os.path.exists(r):
                os.unlink(r)
            p = subprocess.Popen(["bash", "-c", cmd.replace("{r}", r)], start_new_session=True)
            for _ in range(300):
                if os.path.exists(r):
                    break
                time.sleep(0.05)
            time.sleep(warm)
            window(mode)
            os.killpg(p.pid, signal.SIGINT)
            p.wait()
        time.sleep(0.5)
        window("none")
    os.kill(int(qpid), signal.SIGTERM)


if __name__ == "__main__":
    main()
