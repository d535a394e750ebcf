#!/usr/bin/python3
"""Differential test of beampipe's VOTable reader against astropy (python3-astropy).

usage: votable_differential.py DUMP_BINARY WORK_DIR

astropy writes one table holding every VOTable datatype (scalars, fixed, variable and
multi-dimensional arrays) with values and with nulls in every column, in TABLEDATA, BINARY
and BINARY2. Both astropy and beampipe_votable_dump read each file; every cell must agree.
Canonical form (the reader's contract, see src/adapters/votable.hpp): null for masked cells
and NaN; [re, im] for complex; arrays flattened in document order with null elements.
"""
import json
import math
import os
import subprocess
import sys
import warnings

import numpy as np
from astropy.io.votable import parse
from astropy.io.votable.tree import Field, Resource, Table, VOTableFile

warnings.simplefilter("ignore")  # astropy warns about nulls it has to invent for BINARY

COLUMNS = [  # name, datatype, arraysize, VALUES null
    ("b", "boolean", None, None),
    ("bit", "bit", None, None),
    ("ub", "unsignedByte", None, 255),
    ("s", "short", None, -32768),
    ("i", "int", None, -2147483648),
    ("l", "long", None, -1),
    ("ch", "char", None, None),
    ("c", "char", "*", None),
    ("c8", "char", "8", None),
    ("cmax", "char", "16*", None),
    ("u", "unicodeChar", "*", None),
    ("u4", "unicodeChar", "4", None),
    ("f", "float", None, None),
    ("d", "double", None, None),
    ("fc", "floatComplex", None, None),
    ("dc", "doubleComplex", None, None),
    ("iv", "int", "3", -1),
    ("sv", "short", "2x2", -32768),
    ("lv", "long", "*", -999),
    ("fv", "float", "*", None),
    ("dv", "double", "2", None),
    ("bv", "boolean", "3", None),
    ("bits", "bit", "10", None),
]

ROWS = [
    (True, True, 7, -12, 42, 162345000, "A", "HIPASSJ1313-15", "ab", "short", "Ærø α☺", "ΩΩ", 1.5, 60340.1,
     1 - 2j, 0.5 + 3j, [1, 2, 3], [[1, 2], [3, 4]], [9, -9, 2 ** 40], [0.25, -1.5], [1e300, -1e-300],
     [True, False, True], [True, False, True, True, False, False, False, False, True, True]),
    (False, False, 0, 32767, -7, -(2 ** 62), "b", "x y  z", "abcdefgh", "0123456789abcdef", "z", "a", -0.0, 1e-310,
     0j, 1j, [4, -1, 6], [[-5, 6], [7, -8]], [], [3.0], [float("nan"), 2.0],
     [False, False, False], [False] * 10),
    (True, True, 254, 1, 2147483647, 2 ** 62, "~", "O'Brien \\ <&>", "q", "", "日本", "abcd", float("inf"), float("-inf"),
     3.5 + 0j, -1e10 - 1e-10j, [0, 0, 0], [[0, 0], [0, 0]], [1], [0.0, 1.0, 2.0], [0.0, 0.0],
     [True, True, True], [True] * 10),
    None,  # every cell null
]


def build():
    vt = VOTableFile()
    res = Resource()
    vt.resources.append(res)
    table = Table(vt)
    res.tables.append(table)
    for name, datatype, arraysize, null in COLUMNS:
        f = Field(vt, name=name, datatype=datatype, arraysize=arraysize)
        if null is not None:
            f.values.null = null
        table.fields.append(f)
    table.create_arrays(len(ROWS))
    for r, row in enumerate(ROWS):
        if row is None:
            for name, *_ in COLUMNS:
                table.array.mask[r][name] = True
            continue
        for (name, datatype, arraysize, _), v in zip(COLUMNS, row):
            if arraysize and arraysize.endswith("*") and datatype not in ("char", "unicodeChar"):
                # variable arrays are object cells holding a masked array of their own
                table.array.data[name][r] = np.ma.array(v, dtype=table.fields[[c[0] for c in COLUMNS].index(name)]
                                                        .converter._base.format, mask=np.zeros(len(v), dtype=bool))
                table.array.mask[name][r] = False
            else:
                table.array[name][r] = v
    return vt


def canon_scalar(v, datatype):
    if v is np.ma.masked:
        return None
    if datatype in ("boolean", "bit"):
        return bool(v)
    if datatype in ("unsignedByte", "short", "int", "long"):
        return int(v)
    if datatype in ("float", "double"):
        x = float(v)
        if math.isnan(x):
            return None
        if math.isinf(x):
            return "+Inf" if x > 0 else "-Inf"
        return x
    if datatype in ("floatComplex", "doubleComplex"):
        c = complex(v)
        if math.isnan(c.real) or math.isnan(c.imag):
            return None
        return [c.real, c.imag]
    if isinstance(v, bytes):
        return v.decode("utf-8")
    return str(v)


def canon_cell(value, mask, datatype, arraysize):
    is_string = datatype in ("char", "unicodeChar")
    scalar = not arraysize or (arraysize == "1" and not is_string)
    if scalar or is_string:
        if np.all(mask):
            return None
        return canon_scalar(value, datatype)
    if np.ndim(mask) == 0 and bool(mask):
        return None
    # Fixed arrays: data plus an element mask; variable arrays: a masked array per cell.
    arr = np.ma.asarray(value)
    elem_mask = np.ma.getmaskarray(arr)
    if np.ndim(mask) > 0:
        elem_mask = elem_mask | np.asarray(mask, dtype=bool).reshape(elem_mask.shape)
    flat = arr.data.ravel()  # numpy keeps VOTable's first index fastest in C order (shape reversed)
    return [None if m else canon_scalar(x, datatype) for x, m in zip(flat, elem_mask.ravel())]


def astropy_rows(path):
    table = parse(path).get_first_table()
    out = []
    for r in range(len(table.array)):
        row = []
        for f in table.fields:
            row.append(canon_cell(table.array.data[r][f.name], table.array.mask[r][f.name], f.datatype,
                                  f.arraysize))
        out.append(row)
    return [f.name for f in table.fields], out


def equivalent(a, b, datatype, fmt):
    if a == b:
        return True
    # An array whose elements are all null is the same as a null cell (astropy has no
    # whole-cell mask for fixed arrays); an empty variable array read from an empty TD is null.
    def all_null(x):
        return x is None or (isinstance(x, list) and all(e is None for e in x))
    if isinstance(a, list) or isinstance(b, list):
        if all_null(a) and all_null(b) and (fmt == "tabledata" or a is None or b is None):
            return True
    # astropy never masks strings: a null string (empty TD, BINARY2 null flag) reads as ""
    # there, and as null in the reader, which follows the spec.
    if datatype in ("char", "unicodeChar") and a is None and b == "" and fmt in ("tabledata", "binary2"):
        return True
    return False


def main():
    dump, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    vt = build()
    failures = 0
    checked = 0
    for fmt in ("tabledata", "binary", "binary2"):
        path = os.path.join(work, "all_types_%s.xml" % fmt)
        vt.to_xml(path, tabledata_format=fmt)
        names, expected = astropy_rows(path)
        run = subprocess.run([dump, path], capture_output=True, check=False)
        if run.returncode != 0:
            print("FAIL %s: dump exited %d: %s %s" % (fmt, run.returncode, run.stdout.decode(), run.stderr.decode()))
            failures += 1
            continue
        got = json.loads(run.stdout.decode("utf-8"))
        if [f["name"] for f in got["fields"]] != names:
            print("FAIL %s: field names %s != %s" % (fmt, got["fields"], names))
            failures += 1
        if len(got["rows"]) != len(expected):
            print("FAIL %s: %d rows, astropy %d" % (fmt, len(got["rows"]), len(expected)))
            failures += 1
            continue
        for r, (g_row, e_row) in enumerate(zip(got["rows"], expected)):
            for (name, datatype, *_), g, e in zip(COLUMNS, g_row, e_row):
                checked += 1
                if not equivalent(g, e, datatype, fmt):
                    failures += 1
                    print("FAIL %s row %d column %s: beampipe %r, astropy %r" % (fmt, r, name, g, e))
        print("%s: %d rows x %d columns compared" % (fmt, len(expected), len(names)))
    print("%d cells compared, %d mismatches" % (checked, failures))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
