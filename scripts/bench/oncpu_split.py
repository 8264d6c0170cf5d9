#!/usr/bin/python3
"""oncpu_split.py PROFILE.json [...]: where each QEMU thread's CPU went, from
vexitprof --on-cpu's sampled stacks (on_cpu.stacks), and what that bounds.
oncpu_split.py --summary DIR: one Markdown table over DIR/NAME.REP.json
profiles (scripts/bench/rx-bound.sh), medians (min-max) per NAME, the
guest's throughput from DIR/NAME.REP.vm.json (scripts/vm's result).

Per profile: each thread role's CPU (samples x the sampling period, over
the profile's duration: CPUs busy), and a vCPU thread's samples split by
the first rule that matches its stack:
  device     a device handler ran: memory_region_dispatch_* (MMIO/PIO under
             TCG), or a NIC or net-layer function (e1000*, virtio_net*,
             qemu_send*, net_*)
  backend    the tap: tap_*, the kernel's tun_*, or a read/write called
             straight from an fd handler (libc hides the tap_* caller)
  translate  TCG generating code (tb_gen_code, tcg_gen_code, translator_*)
  guest      the guest's own code: the leaf is [jit] (TCG's translated
             code), or a TCG helper (helper_*) or softmmu slow path
             (tlb_*, cpu_*_data_ra, *_mmu*) under it
  other      the rest (cpu_exec's loop, the BQL, timers, the kernel)
Other threads' samples are split the same way (after their role and a
write handler's ;dispatch;device;register, when present).
The bounds: with the vCPU thread busy all the time (the guest's pace), no
device change can make it go faster than 1 / (1 - device share of the vCPU
thread) -- Amdahl on the vCPU thread; with the host's CPUs the limit (all
of QEMU's threads and the host side share them), 1 / (1 - device share of
all QEMU's samples), which ignores the host side's own cost (in the
guest's favour).
"""
import glob
import json
import os
import re
import statistics
import sys

DEVICE = re.compile(r"^(memory_region_dispatch_|e1000|virtio_net|qemu_send|qemu_net|net_|"
                    r"virtio_pci_notify|virtio_queue_notify)")
BACKEND = re.compile(r"^(tap_|tun_|vhost_)")
IO_CALLS = ("__read", "read", "__libc_read", "__write", "writev", "__writev", "readv")
TRANSLATE = re.compile(r"^(tb_gen_code|tcg_gen_code|translator_|gen_intermediate_code)")
GUEST = re.compile(r"^(\[jit\]$|helper_|tlb_|cpu_[a-z0-9]+_data_ra|.*_mmu)")
CATS = ("device", "backend", "translate", "guest", "other")


def classify(frames):
    if any(DEVICE.match(f) for f in frames):
        return "device"
    if any(BACKEND.match(f) for f in frames):
        return "backend"
    # libc's read/write keep no frame pointer, which hides their caller
    # (tap_send, tap_write_packet): a read or write called from an fd
    # handler is the tap's (the main loop's only busy fd in these runs;
    # its kernel frames, where the sample reached them, are tun_*)
    for i, f in enumerate(frames[:-1]):
        if f == "aio_dispatch_handler" and frames[i + 1] in IO_CALLS:
            return "backend"
    if any(TRANSLATE.match(f) for f in frames):
        return "translate"
    if frames and frames[-1] == "[jit]":
        return "guest"
    if any(GUEST.match(f) for f in frames):
        return "guest"
    return "other"


def split(path):
    p = json.load(open(path))
    oc = p.get("on_cpu")
    if not oc:
        raise SystemExit(f"{path}: no on_cpu section (run vexitprof with --on-cpu)")
    dur = p.get("duration_s") or p.get("duration")
    if not dur:
        raise SystemExit(f"{path}: no duration in the profile")
    per = oc["ns_per_sample"] / 1e9
    roles, vcpu, allc = {}, {c: 0 for c in CATS}, {c: 0 for c in CATS}
    for s in oc["stacks"]:
        parts = s["stack"].split(";")
        role = parts[0]
        if role.startswith("vcpu"):
            role = "vcpu"
            frames = parts[4:]  # vcpuN;reason;device;register;frames...
        elif len(parts) > 3 and parts[1] == "dispatch":
            frames = parts[4:]  # role;dispatch;device;register;frames...
        else:
            frames = parts[1:]
        c = classify(frames)
        if role == "vcpu":
            vcpu[c] += s["samples"]
        allc[c] += s["samples"]
        roles[role] = roles.get(role, 0) + s["samples"]
    return p, oc, dur, per, roles, vcpu, allc


def med(v, fmt):
    v = sorted(v)
    m = statistics.median(v)
    return (fmt % m) + (" (" + (fmt % v[0]) + "-" + (fmt % v[-1]) + ")" if len(v) > 1 else "")


def summary(d):
    runs = {}
    for f in sorted(glob.glob(os.path.join(d, "*.json"))):
        base = os.path.basename(f)
        if base.endswith(".vm.json"):
            continue
        name = base.rsplit(".", 2)[0]
        _, oc, dur, per, roles, _, allc = split(f)
        vm = json.load(open(f[:-5] + ".vm.json"))
        t = sum(allc.values())
        gb = oc["ns_per_gb"] / 1e9
        r = {c: allc[c] / t * gb for c in CATS}
        r["gbit"] = vm["result"]["bits_per_second"] / 1e9
        r["cpu"] = gb
        r["vcpu"] = roles.get("vcpu", 0) * per / dur
        r["bound"] = gb / (gb - r["device"] - r["backend"])
        r["file"], r["samples"], r["dropped"] = base, oc["samples"], oc["dropped"]
        runs.setdefault(name, []).append(r)
    print("| configuration | runs | Gbit/s (profiled) | QEMU CPU s/GB | device | backend | translate "
          "| guest code | other | vCPU thread busy | bound, device+backend at 0 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, rs in runs.items():
        col = [med([r[k] for r in rs], "%.2f") for k in ("cpu",) + CATS + ("vcpu",)]
        print(f"| {name} | {len(rs)} | {med([r['gbit'] for r in rs], '%.3f')} | " + " | ".join(col) +
              f" | {med([r['bound'] for r in rs], '%.2f')}x |")
    print()
    print("Each run (samples kept / dropped; s/GB):")
    print()
    print("| profile | samples | dropped | Gbit/s | QEMU CPU s/GB | " + " | ".join(CATS) + " | vCPU busy |")
    print("|---|---|---|---|---|" + "---|" * len(CATS) + "---|")
    for rs in runs.values():
        for r in rs:
            print(f"| {r['file']} | {r['samples']} | {r['dropped']} | {r['gbit']:.3f} | {r['cpu']:.2f} | " +
                  " | ".join(f"{r[c]:.2f}" for c in CATS) + f" | {r['vcpu']:.2f} |")


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    if sys.argv[1] == "--summary" and len(sys.argv) == 3:
        return summary(sys.argv[2])
    for path in sys.argv[1:]:
        p, oc, dur, per, roles, vcpu, allc = split(path)
        n = sum(vcpu.values())
        print(f"## {path}")
        print(f"{oc['samples']} samples at {oc['hz']} Hz over {dur:.2f} s, {oc['dropped']} dropped; "
              f"QEMU CPU per GB: {oc['ns_per_gb'] / 1e9:.2f} s" if oc.get("ns_per_gb") else
              f"{oc['samples']} samples at {oc['hz']} Hz over {dur:.2f} s, {oc['dropped']} dropped")
        print()
        print("| thread | CPUs busy |")
        print("|---|---|")
        for r, c in sorted(roles.items(), key=lambda x: -x[1]):
            print(f"| {r} | {c * per / dur:.2f} |")
        print()
        if n:
            print("| vCPU thread | share |")
            print("|---|---|")
            for c in CATS:
                print(f"| {c} | {vcpu[c] / n:.1%} |")
            d = vcpu["device"] / n
            print()
            print(f"bound from device work on the vCPU thread: {1 / (1 - d) if d < 1 else float('inf'):.2f}x")
        t = sum(allc.values())
        if t:
            gb = oc.get("ns_per_gb")
            print()
            print("| all threads | share | QEMU CPU s/GB |")
            print("|---|---|---|")
            for c in CATS:
                v = f"{allc[c] / t * gb / 1e9:.2f}" if gb else "n/a"
                print(f"| {c} | {allc[c] / t:.1%} | {v} |")
            for what, d in (("device work", allc["device"] / t),
                            ("device and backend work", (allc["device"] + allc["backend"]) / t)):
                print()
                print(f"bound from {what} on all threads (the host's CPUs the limit): "
                      f"{1 / (1 - d) if d < 1 else float('inf'):.2f}x")
        print()


if __name__ == "__main__":
    main()
