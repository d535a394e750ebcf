#!/usr/bin/python3
"""astropy's side of bench/bench_votable.cpp: best-of-N parse time of each file.

usage: votable_bench_astropy.py REPEAT TABLEDATA_FILE BINARY2_FILE
prints "tabledata <seconds>" and "binary2 <seconds>".
"""
import sys
import time
import warnings

from astropy.io.votable import parse

warnings.simplefilter("ignore")


def best(path, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        table = parse(path).get_first_table()
        _ = table.array  # the rows are read by parse(); touch them like a caller would
        times.append(time.perf_counter() - t0)
    return min(times)


repeat = int(sys.argv[1])
print("tabledata %.6f" % best(sys.argv[2], repeat), flush=True)
print("binary2 %.6f" % best(sys.argv[3], repeat), flush=True)
