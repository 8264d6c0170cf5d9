"""procstat.py: a process's CPU time, for the benchmarks (scripts/bench)."""
import os


def cpu_ns(pid):
    """Run time in ns of all of PID's threads (/proc/PID/task/*/schedstat).
    Raises OSError when PID or a thread vanishes meanwhile."""
    tot = 0
    for t in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{t}/schedstat") as f:
            tot += int(f.read().split()[0])
    return tot
