#!/usr/bin/python3
"""paired_report.py WINDOWS: the Markdown table rows of paired_windows.py's
output ("mode rate cpu_per_unit" lines): each traced window compared with
the untraced ("none") windows right before and after it."""
import statistics as st
import sys

w = [line.split() for line in open(sys.argv[1])]
w = [(m, float(r), float(c)) for m, r, c in w]
modes = []
for m, _, _ in w:
    if m not in modes:
        modes.append(m)
for m in modes:
    rr, cr, rates, cpus = [], [], [], []
    for i, (mm, r, c) in enumerate(w):
        if mm != m:
            continue
        rates.append(r)
        cpus.append(c)
        if m == "none" or i == 0 or i + 1 == len(w) or w[i - 1][0] != "none" or w[i + 1][0] != "none":
            continue
        rr.append(r / ((w[i - 1][1] + w[i + 1][1]) / 2))
        cr.append(((w[i - 1][2] + w[i + 1][2]) / 2) / c)

    def f(v):
        return "%.3f (%.3f-%.3f)" % (st.median(v), min(v), max(v)) if v else "1"

    print("| %s | %d | %.0f | %s | %.0f | %s |" % (m, len(rates), st.median(rates), f(rr), st.median(cpus), f(cr)))
