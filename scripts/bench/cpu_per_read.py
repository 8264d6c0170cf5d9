#!/usr/bin/python3
"""cpu_per_read.py SERIAL_LOG SAMPLES N: ns of QEMU CPU per read between the
guest's VEXIT-BEGIN and VEXIT-END lines.  SERIAL_LOG is run-baremetal's
--serial-log (lines stamped with the host's wall clock), SAMPLES
sampler.py's output, N the number of reads; the CPU time is interpolated
between the samples around each line.  Exit status 1 when the samples do
not cover the loop."""
import bisect
import sys

serial, samples, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
t = {}
for line in open(serial):
    ts, _, rest = line.partition(" ")
    for k in ("VEXIT-BEGIN", "VEXIT-END"):
        if rest.startswith(k):
            t[k] = float(ts)
s = [tuple(map(float, line.split())) for line in open(samples) if len(line.split()) == 2]
xs = [a for a, _ in s]


def at(x):
    i = bisect.bisect_left(xs, x)
    if i == 0 or i == len(s):
        raise SystemExit(1)
    (x0, y0), (x1, y1) = s[i - 1], s[i]
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)


print("%.0f" % ((at(t["VEXIT-END"]) - at(t["VEXIT-BEGIN"])) / n))
