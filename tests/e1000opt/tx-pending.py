#!/usr/bin/python3
"""tx-pending.py SOCKET [MAX]: stop the VM behind QMP SOCKET at a moment
when its e1000 has TX work pending, i.e. TDH != TDT in its registers (read
through the BAR with HMP "xp", as the guest would).  Tries up to MAX (default
1000) stop/read/cont cycles; leaves the VM stopped either way and prints one
JSON line: {"pending": true|false, "tdh": N, "tdt": N, "cycles": N}.

Upstream e1000 transmits inside the vCPU's TDT write, so a stopped VM
never has TX work pending there; with the sidecore stage the hand-over to
the thread can be cut by the stop, and whatever restores or resumes the VM
must then still get that work done.

tx-pending.py SOCKET --frozen [SECS]: for a VM whose sidecore thread is
held (freeze-thread.py), so TX work, once queued, stays queued: read the
registers until TDH != TDT (at most SECS, default 10), then stop the VM and
read them again.  Same output; "cycles" counts the reads.  The stop comes
within a few milliseconds of the first read that shows the work, so a
guest waiting for its frame's answer (rr's 1 s timeout) has not given up.
"""
import time
import json
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qmp import QMP  # noqa: E402


def main():
    q = QMP(sys.argv[1], 10)
    cycles = int(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2] != "--frozen" else 1000
    bar = None
    for bus in q.cmd({"execute": "query-pci"}):
        for d in bus["devices"]:
            if d["id"]["vendor"] == 0x8086 and d["id"]["device"] == 0x100E:
                for r in d.get("regions", []):
                    if r["bar"] == 0 and r["type"] == "memory":
                        bar = r["address"]
    if bar is None:
        raise SystemExit("tx-pending: no e1000 BAR0 in query-pci")

    def reg(off):
        out = q.cmd({"execute": "human-monitor-command",
                     "arguments": {"command-line": "xp /1wx 0x%x" % (bar + off)}})
        return int(out.split(":")[1].split()[0], 16)

    if sys.argv[2:3] == ["--frozen"]:
        secs = float(sys.argv[3]) if len(sys.argv) > 3 else 10.0
        end = time.monotonic() + secs
        i = 0
        while True:
            i += 1
            tdh, tdt = reg(0x3810), reg(0x3818)
            if tdh != tdt or time.monotonic() > end:
                break
        q.cmd({"execute": "stop"})
        tdh, tdt = reg(0x3810), reg(0x3818)
        print(json.dumps({"pending": tdh != tdt, "tdh": tdh, "tdt": tdt, "cycles": i}))
        return

    tdh = tdt = 0
    for i in range(1, cycles + 1):
        q.cmd({"execute": "stop"})
        tdh, tdt = reg(0x3810), reg(0x3818)
        if tdh != tdt:
            print(json.dumps({"pending": True, "tdh": tdh, "tdt": tdt, "cycles": i}))
            return
        if i < cycles:
            q.cmd({"execute": "cont"})
    print(json.dumps({"pending": False, "tdh": tdh, "tdt": tdt, "cycles": cycles}))


if __name__ == "__main__":
    main()
