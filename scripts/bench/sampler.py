#!/usr/bin/python3
"""sampler.py PID OUT: CPU time of all of PID's threads (schedstat run time),
sampled every 10 ms until PID is gone: "wall_s runtime_ns" lines in OUT."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from procstat import cpu_ns  # noqa: E402

pid, out = sys.argv[1], open(sys.argv[2], "w")
while True:
    now = time.time()
    try:
        tot = cpu_ns(pid)
    except OSError:
        if not os.path.exists(f"/proc/{pid}"):
            break
        continue
    out.write(f"{now:.6f} {tot}\n")
    out.flush()
    time.sleep(0.01)
