#!/usr/bin/env python3
"""Generate tests/fixtures/blob_vectors.json: blob test vectors from the real client.

Run with the pinned client (datajoint 0.14.10, numpy 2.4):

    /root/.cache/djfs-dev/venv-dj0.14.10/bin/python tests/python/make_blob_fixtures.py

Only `datajoint.blob.pack` / `unpack` are used (no database). For every case the
fixture holds:

* `blob`: hex of the stored blob (`pack(x)`, or a hand-built MATLAB/mYm blob);
* `py`: a canonical description of what `unpack(blob)` returns (see `describe`),
  or `{"error": ...}` when the client cannot decode it;
* `faithful`: whether djfs shows it as `.npy` (spec §1.10), and then `npy`: the
  array that `.npy` must hold (`descr`, `shape`, C-order little-endian element
  bytes `c_data` in hex);
* `npy_in` (array inputs only): hex of `np.save(x)` — the file a user would write
  back; encoding it must give `blob` (byte-identical when not compressed);
* `json` (where the rules of src/codec/json.rs can be computed from the decoded
  Python value without loss): the expected JSON rendering, compared as parsed JSON;
* `dims32`: decode with the 32-bit-dims legacy reader.

MATLAB vectors are built by hand from the facts in the spec (§1.5, §1.6, §1.8,
§9) and checked here to unpack in the real client as the spec says.
"""

import datetime
import decimal
import hashlib
import io
import json
import math
import os
import struct
import sys
import uuid
import zlib

import numpy as np
import datajoint as dj
from datajoint import blob as djblob
from datajoint.blob import pack, unpack, MatCell, MatStruct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "blob_vectors.json")
RNG = np.random.default_rng(20240603)
CASES = []

NUMERIC = ["bool", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64",
           "float32", "float64", "complex64", "complex128"]
FAITHFUL_CLASSES = {3, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15} | set(range(65536, 65549))


def fhex(x):
    return struct.pack("<d", float(x)).hex()


def describe(v):
    """Canonical, exact description of an unpacked value."""
    if v is None:
        return {"t": "none"}
    if isinstance(v, MatStruct):
        return {
            "t": "struct",
            "shape": list(v.shape),
            "fields": list(v.dtype.names),
            "v": [[describe(e[f]) for f in v.dtype.names] for e in v.reshape(-1, order="C")],
        }
    if isinstance(v, MatCell):
        flat = np.asarray(v).reshape(-1, order="C")
        return {"t": "cell", "shape": list(v.shape), "v": [describe(e) for e in flat]}
    if isinstance(v, np.ndarray) and v.dtype.fields is not None:
        return {
            "t": "record",
            "shape": list(v.shape),
            "fields": [[f, describe(np.ascontiguousarray(np.asarray(v[f])))] for f in v.dtype.names],
        }
    if isinstance(v, (np.ndarray, np.generic)) and not isinstance(v, np.str_):
        a = np.asarray(v)
        if a.dtype.kind == "O":
            return {"t": "object", "shape": list(a.shape), "v": [describe(e) for e in a.reshape(-1)]}
        if a.dtype.kind == "U":
            return {"t": "ustr", "shape": list(a.shape), "v": [str(e) for e in a.reshape(-1)]}
        return {
            "t": "array",
            "descr": a.dtype.str,
            "shape": list(a.shape),
            "c_data": np.ascontiguousarray(a).tobytes().hex(),
        }
    if isinstance(v, bool):
        return {"t": "bool", "v": v}
    if isinstance(v, int):
        return {"t": "int", "v": str(v)}
    if isinstance(v, float):
        return {"t": "float", "v": fhex(v)}
    if isinstance(v, complex):
        return {"t": "complex", "v": [fhex(v.real), fhex(v.imag)]}
    if isinstance(v, str):
        return {"t": "str", "v": str(v)}
    if isinstance(v, (bytes, bytearray)):
        return {"t": "bytes", "v": bytes(v).hex()}
    if isinstance(v, decimal.Decimal):
        return {"t": "decimal", "v": str(v)}
    if isinstance(v, uuid.UUID):
        return {"t": "uuid", "v": v.hex}
    if isinstance(v, (datetime.datetime, datetime.date, datetime.time)):
        return {"t": "datetime", "v": v.isoformat()}
    if isinstance(v, tuple):
        return {"t": "tuple", "v": [describe(e) for e in v]}
    if isinstance(v, list):
        return {"t": "list", "v": [describe(e) for e in v]}
    if isinstance(v, (set, frozenset)):
        return {"t": "set", "v": [describe(e) for e in v]}
    if isinstance(v, dict):
        return {"t": "dict", "v": [[describe(k), describe(x)] for k, x in v.items()]}
    raise TypeError(f"cannot describe {type(v)}")


class NoJson(Exception):
    """The JSON rules need facts the Python value no longer has (chars, cells)."""


def jfloat(x):
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return float(x)


def jelem(a, x):
    """One numpy element per the JSON rules."""
    k = a.dtype.kind
    if k == "b":
        return bool(x)
    if k in "iu":
        return int(x)
    if k == "f":
        # float32 is written in its own shortest form
        return jfloat(float(str(x)) if a.dtype == np.float32 else float(x))
    if k == "c":
        part = (lambda p: jfloat(float(str(p)))) if a.dtype == np.complex64 else (lambda p: jfloat(float(p)))
        return {"re": part(x.real), "im": part(x.imag)}
    if k == "M":
        return str(x)
    raise NoJson(a.dtype)


def jnested(a, f, idx=()):
    if len(idx) == a.ndim:
        return f(a[idx])
    return [jnested(a, f, idx + (i,)) for i in range(a.shape[len(idx)])]


def render(v):
    """The JSON rendering rules of src/codec/json.rs, from a Python value."""
    if v is None:
        return None
    if isinstance(v, (MatStruct, MatCell)):
        raise NoJson("MATLAB container")
    if isinstance(v, np.ndarray) and v.dtype.fields is not None:
        return {"dtype": "record", "shape": list(v.shape),
                "fields": {f: render(np.asarray(v[f])) for f in v.dtype.names}}
    if isinstance(v, (np.ndarray, np.generic)) and not isinstance(v, np.str_):
        a = np.asarray(v)
        if a.dtype.kind == "O":
            return {"dtype": "object", "shape": list(a.shape), "data": jnested(a, render)}
        if a.dtype.kind in "US":
            raise NoJson("char")
        name = a.dtype.name
        return {"dtype": name, "shape": list(a.shape), "data": jnested(a, lambda x: jelem(a, x))}
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return jfloat(v)
    if isinstance(v, complex):
        return {"re": jfloat(v.real), "im": jfloat(v.imag)}
    if isinstance(v, str):
        return str(v)
    if isinstance(v, (bytes, bytearray)):
        return {"hex": bytes(v).hex()}
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, (datetime.datetime, datetime.date, datetime.time)):
        return v.isoformat()
    if isinstance(v, (tuple, list, set, frozenset)):
        return [render(e) for e in v]
    if isinstance(v, dict):
        out, seen = {}, {}
        for k, x in v.items():
            base = k if isinstance(k, str) else json.dumps(render(k), ensure_ascii=False)
            seen[base] = seen.get(base, 0) + 1
            key = base
            if seen[base] > 1:
                n = seen[base]
                while f"{base} #{n}" in seen:
                    n += 1
                key = f"{base} #{n}"
                seen[key] = 1
            out[key] = render(x)
        return out
    raise NoJson(type(v))


def plain_of(b):
    if b.startswith(b"ZL123\0"):
        return zlib.decompress(b[14:])
    return b


def faithful(b):
    """Spec §1.10 (+ compact dj0 scalars as 0-d arrays): is this shown as .npy?"""
    p = plain_of(b)
    if p[:4] not in (b"mYm\0", b"dj0\0") or len(p) < 5:
        return False
    code = p[4]
    if code in (0x0B, 0x0C, 0x0D):
        return True
    if code == 0x0A:
        n = struct.unpack_from("<H", p, 5)[0]
        return 1 <= n <= 8
    if code != ord("A"):
        return False
    nd = struct.unpack_from("<Q", p, 5)[0]
    cls, cpx = struct.unpack_from("<II", p, 13 + 8 * nd)
    return cls in FAITHFUL_CLASSES and (not cpx or cls in (6, 7))


def npy_expect(v):
    """The array the .npy view must hold, as numpy would load it."""
    if isinstance(v, bool):
        a = np.array(v, dtype=bool)
    elif isinstance(v, int):
        a = np.array(v, dtype="<i8")
    elif isinstance(v, float):
        a = np.array(v, dtype="<f8")
    elif isinstance(v, complex):
        a = np.array(v, dtype="<c16")
    else:
        a = np.asarray(v)
    return {"descr": a.dtype.str, "shape": list(a.shape), "c_data": np.ascontiguousarray(a).tobytes().hex()}


def npy_bytes(x):
    f = io.BytesIO()
    np.save(f, x, allow_pickle=False)
    return f.getvalue()


def add(name, blob, *, source="python", npy_in=None, src=None, dims32=False, expect_error=False, json_rule=True):
    """`src`: the array that was packed. The .npy view and the JSON show the stored
    values, so their expectations come from it where given: the client's own
    decoding computes `re + 1j*im`, which turns the real part into NaN when the
    imaginary part is infinite or NaN (and -0.0 into 0.0)."""
    djblob.use_32bit_dims = dims32
    try:
        v = unpack(blob)
        py = describe(v)
    except Exception as e:  # the client cannot decode it (cells, sparse, non-ASCII chars)
        v, py = None, {"error": f"{type(e).__name__}: {e}"}
    finally:
        djblob.use_32bit_dims = False
    assert ("error" in py) == expect_error, (name, py)
    case = {"name": name, "source": source, "blob": blob.hex(), "py": py,
            "compressed": blob.startswith(b"ZL123\0")}
    if dims32:
        case["dims32"] = True
    case["faithful"] = faithful(blob) and not dims32
    if case["faithful"]:
        case["npy"] = npy_expect(v if src is None else src)
    if npy_in is not None:
        case["npy_in"] = npy_in.hex()
    if "error" not in py and json_rule:
        try:
            case["json"] = render(v if src is None else src)
        except NoJson:
            pass
    CASES.append(case)
    return v


def sample(dtype, shape):
    n = int(np.prod(shape))
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return RNG.integers(0, 2, size=n).astype(bool).reshape(shape)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        vals = RNG.integers(info.min, info.max, size=n, endpoint=True, dtype=dt)
        return vals.reshape(shape)
    if dt.kind == "f":
        return RNG.standard_normal(n).astype(dt).reshape(shape)
    if dt.kind == "c":
        return (RNG.standard_normal(n) + 1j * RNG.standard_normal(n)).astype(dt).reshape(shape)
    raise ValueError(dtype)


def compressible(dtype, shape):
    n = int(np.prod(shape))
    dt = np.dtype(dtype)
    small = RNG.integers(0, 4, size=n)
    if dt.kind == "c":
        return (small + 1j * small[::-1]).astype(dt).reshape(shape)
    return small.astype(dt).reshape(shape)


def array_case(name, x):
    b = pack(x)
    add(name, b, npy_in=npy_bytes(x), src=np.asarray(x))


# ---------------------------------------------------------------- numeric arrays
for dt in NUMERIC:
    for shape in [(), (5,), (2, 3), (2, 3, 4)]:
        x = sample(dt, shape)
        array_case(f"{dt}_{len(shape)}d_C", x)
        if len(shape) >= 2:
            array_case(f"{dt}_{len(shape)}d_F", np.asfortranarray(x))
    x = compressible(dt, (30, 20))
    array_case(f"{dt}_30x20_compressed_C", x)
    array_case(f"{dt}_30x20_compressed_F", np.asfortranarray(x))
    array_case(f"{dt}_empty_2x0", np.zeros((2, 0), dtype=dt))

array_case("float64_empty_0", np.zeros((0,)))
array_case("int8_empty_0x3x2", np.zeros((0, 3, 2), dtype="int8"))
array_case("float64_zeros_121_plain", np.zeros(121))
array_case("float64_zeros_122_compressed", np.zeros(122))
array_case("float64_zeros_200_compressed", np.zeros(200))
array_case("float64_specials", np.array([np.nan, np.inf, -np.inf, -0.0, 5e-324, 1e300, 0.1]))
array_case("float32_specials", np.array([np.nan, np.inf, -np.inf, -0.0, 0.1, 3.4028235e38], dtype="float32"))
array_case("complex128_specials", np.array([complex(np.nan, 1), complex(1, np.inf), -0.0j]))
array_case("int64_extremes", np.array([np.iinfo(np.int64).min, -1, 0, np.iinfo(np.int64).max]))
array_case("uint64_extremes", np.array([0, 1, np.iinfo(np.uint64).max], dtype="uint64"))
array_case("bool_1x1", np.array([[True]]))
array_case("float64_4d", sample("float64", (2, 1, 3, 2)))
array_case("float64_1_elem_1d", np.array([3.5]))
array_case("spec_int64_column", np.array([[1], [2]], dtype=np.int64))
array_case("random_float64_incompressible_large", sample("float64", (200,)))

# datetime64, every unit
UNITS = ["Y", "M", "W", "D", "h", "m", "s", "ms", "us", "ns", "ps", "fs", "as"]
for u in UNITS:
    vals = np.array([0, 1, -1, 18263, np.iinfo(np.int64).min], dtype="int64").view(f"datetime64[{u}]")
    array_case(f"datetime64_{u}", vals)
array_case("datetime64_D_0d", np.datetime64("2020-01-02"))
array_case("datetime64_us_2d_F", np.asfortranarray(np.array([["2020-01-02T03:04:05.000006", "1969-12-31T23:59:59.5"],
                                                             ["2000-02-29T00:00", "NaT"]], dtype="datetime64[us]")))

# big-endian input: stored as the little-endian array (pack itself rejects '>')
for dt, shape in [(">f8", (2, 3)), (">i2", (3,)), (">c16", (2, 2)), (">u4", ()), (">M8[s]", (2,)), (">c8", (3, 1))]:
    if "M8" in dt:
        x = np.array([1577934245, -1], dtype=">i8").view(dt)
    else:
        x = sample(np.dtype(dt).newbyteorder("="), shape).astype(dt)
    le = x.astype(x.dtype.newbyteorder("<"))
    add(f"bigendian_{dt[1:]}_{len(shape)}d", pack(le), npy_in=npy_bytes(x), src=le)
    if len(shape) >= 2:
        add(f"bigendian_{dt[1:]}_{len(shape)}d_F", pack(le), npy_in=npy_bytes(np.asfortranarray(x)), src=le)

# numpy char (S1): class 4 in C order, mYm even when 0-d
add("S1_vector", pack(np.array([b"a", b"b", b"c"], dtype="S1")), npy_in=npy_bytes(np.array([b"a", b"b", b"c"], dtype="S1")))
m = np.array([[b"a", b"b", b"c"], [b"d", b"e", b"f"]], dtype="S1")
add("S1_matrix_C", pack(m), npy_in=npy_bytes(m))
add("S1_matrix_F", pack(m), npy_in=npy_bytes(np.asfortranarray(m)))
add("S1_0d", pack(np.array(b"q", dtype="S1")), npy_in=npy_bytes(np.array(b"q", dtype="S1")))

# numpy scalars -> 0-d A arrays
for name, x in [("np_float32", np.float32(1.5)), ("np_int16", np.int16(-3)), ("np_bool", np.bool_(True)),
                ("np_complex64", np.complex64(1 + 2j)), ("np_uint64", np.uint64(2**64 - 1)),
                ("np_datetime64_ms", np.datetime64("2020-01-02T03:04:05.123"))]:
    add(name, pack(x), npy_in=npy_bytes(np.asarray(x)), src=np.asarray(x))

# ---------------------------------------------------------------- Python-native values
for name, x in [
    ("none", None), ("true", True), ("false", False),
    ("int_0", 0), ("int_1", 1), ("int_-1", -1), ("int_255", 255), ("int_-128", -128), ("int_-129", -129),
    ("int_i64max", 2**63 - 1), ("int_i64min", -(2**63)), ("int_2p63", 2**63), ("int_2p70", 2**70),
    ("int_-2p70", -(2**70)), ("int_56_digits", 12345678901234567890123456789012345678901234567890123456),
    ("float_1.5", 1.5), ("float_nan", float("nan")), ("float_inf", float("inf")), ("float_-inf", float("-inf")),
    ("float_-0", -0.0), ("float_tiny", 5e-324), ("float_big", 1e300),
    ("complex", 1 + 2j), ("complex_nan", complex(float("nan"), -1)),
    ("str", "abc"), ("str_empty", ""), ("str_unicode", "é ∑ 😀 \n\t\"\\"), ("bytes", b"\x00\x01\xff"),
    ("bytes_empty", b""), ("bytearray", bytearray(b"xyz")),
    ("decimal", decimal.Decimal("1.50")), ("decimal_exp", decimal.Decimal("1E+5")),
    ("decimal_neg", decimal.Decimal("-0.00")), ("decimal_nan", decimal.Decimal("NaN")),
    ("uuid", uuid.UUID("00112233-4455-6677-8899-aabbccddeeff")),
    ("date", datetime.date(2020, 1, 2)), ("time", datetime.time(3, 4, 5, 6)), ("time_whole", datetime.time(23, 59, 59)),
    ("datetime", datetime.datetime(2020, 1, 2, 3, 4, 5, 6)), ("datetime_min", datetime.datetime(1, 1, 1)),
    ("list", [1, "a"]), ("tuple", (1, 2.0)), ("set_one", {3}), ("set_str", {"only"}), ("dict", {"a": 1}),
    ("list_empty", []), ("tuple_empty", ()), ("dict_empty", {}), ("range", range(10)),
    ("nested", {"x": [1, (2, 3), {"y": None}], "z": {"w": [b"\x00", 1.5, True]}}),
    ("dict_mixed_keys", {1: "int", (1, 2): "tuple", "1": "str", None: "none", True: "bool", 2.5: "float",
                         "when": datetime.datetime(2021, 5, 6, 7, 8, 9)}),
    ("list_of_arrays", [np.arange(3.0), np.array([[1, 2]], dtype=np.int8), np.float64(2.0)]),
    ("dict_with_array", {"a": np.eye(2), "b": "text"}),
    ("unicode_array", np.array(["yes"])), ("unicode_array_2", np.array(["ab", "c"])),
    ("unicode_array_2d", np.array([["ab", "c"], ["d", "ef"]])),
    ("object_array", np.array([1, "a", None, 2.5], dtype=object)),
    ("object_array_2d_F", np.asfortranarray(np.array([[1, "a"], [None, [1, 2]]], dtype=object))),
]:
    add(name, pack(x))

# ---------------------------------------------------------------- record arrays (F)
rec = np.array([(1, 2.0), (3, 4.0)], dtype=[("a", "<i4"), ("b", "<f8")])
add("record_2", pack(rec))
add("record_spec_1", pack(np.array([(1, 2.0)], dtype=[("a", "<i4"), ("b", "<f8")])))
add("recarray_view", pack(np.rec.fromrecords([(1.5, True), (2.5, False)], names="p,q")))
add("record_with_unicode", pack(np.array([("ab", 1), ("c", 2)], dtype=[("s", "U2"), ("n", "<u2")])))
add("record_nested", pack(np.array([((1.0, 2.0), 7)], dtype=[("p", [("x", "<f8"), ("y", "<f8")]), ("k", "<i8")])))
add("record_2d", pack(np.zeros((2, 2), dtype=[("a", "<f4"), ("b", "<c8")])))

# ---------------------------------------------------------------- MatStruct / MatCell written by Python
s = np.empty((1, 2), dtype=[("a", object), ("b", object)])
s[0, 0] = (np.array([[1.0]]), np.array([[2.0]]))
s[0, 1] = (np.array([[3.0]]), np.array([[4.0]]))
add("matstruct_1x2", pack(s.view(MatStruct)))
s1 = np.empty((1, 1), dtype=[("name", object), ("data", object)])
s1[0, 0] = (np.array([[b"h", b"i"]], dtype="S1"), np.arange(6, dtype=np.int16).reshape(2, 3))
add("matstruct_1x1_char_field", pack(s1.view(MatStruct)))
c = np.empty((1, 2), dtype=object)
c[0, 0] = np.array([[1.0]])
c[0, 1] = np.array([[b"a", b"b"]], dtype="S1")
add("matcell_spec_mixed", pack(c.view(MatCell)), expect_error=True)  # 0.14 + numpy 2: inhomogeneous
c = np.empty((1, 2), dtype=object)
c[0, 0] = np.array([[b"a", b"b"]], dtype="S1")
c[0, 1] = np.array([[b"c", b"d"]], dtype="S1")
add("matcell_two_strings", pack(c.view(MatCell)))
c = np.empty((2, 1), dtype=object)
c[0, 0] = np.array([[1.5]])
c[1, 0] = np.array([[2.5]])
add("matcell_two_scalars", pack(c.view(MatCell)))


# ---------------------------------------------------------------- MATLAB (mYm) vectors, built by hand
def u64s(*v):
    return struct.pack(f"<{len(v)}Q", *v)


def mx_array(dims, cls, data, cpx=0):
    return b"A" + u64s(len(dims), *dims) + struct.pack("<II", cls, cpx) + data


def mx_char(text, dims=None):
    units = text.encode("utf-16-le")
    return mx_array(dims or [1, len(units) // 2], 4, units)


def mx_cell(dims, items):
    return b"C" + u64s(len(dims), *dims) + b"".join(u64s(len(i)) + i for i in items)


def mx_struct(dims, fields, elements):
    body = b"S" + u64s(len(dims), *dims) + struct.pack("<i", len(fields)) + b"".join(f.encode() + b"\0" for f in fields)
    for e in elements:
        for v in e:
            body += u64s(len(v)) + v
    return body


def mx_double(rows):
    a = np.array(rows, dtype="<f8")
    a = a.reshape(a.shape if a.ndim >= 2 else (1, a.size) if a.size else (0, 0))
    return mx_array(list(a.shape), 6, a.tobytes(order="F"))


def magic(n):
    # MATLAB magic(3) and magic(5) (odd order, siamese method)
    m = np.zeros((n, n), dtype=int)
    i, j = 0, n // 2
    for k in range(1, n * n + 1):
        m[i, j] = k
        i2, j2 = (i - 1) % n, (j + 1) % n
        if m[i2, j2]:
            i2, j2 = (i + 1) % n, j
        i, j = i2, j2
    return m


M = b"mYm\0"
v = add("matlab_char_string", M + mx_char("character string"), source="matlab")
assert v.dtype == np.dtype("<U16") and v.shape == (1,) and v[0] == "character string"
v = add("matlab_1_15_180", M + mx_array([1, 12], 6, np.arange(1, 181, 15, dtype="<f8").tobytes()), source="matlab")
assert v.dtype == np.float64 and v.shape == (1, 12) and v[0, -1] == 166
u8 = np.arange(1, 25, dtype=np.uint8)
v = add("matlab_uint8_2x3x4", M + mx_array([2, 3, 4], 9, u8.tobytes()), source="matlab")
assert v.dtype == np.uint8 and v.shape == (2, 3, 4) and (v[:, :, 0] == [[1, 3, 5], [2, 4, 6]]).all()
v = add("matlab_double_2x3x4", M + mx_array([2, 3, 4], 6, np.arange(1, 25, dtype="<f8").tobytes()), source="matlab")
assert v.shape == (2, 3, 4) and v[1, 2, 3] == 24
v = add("matlab_cell_strings", M + mx_cell([1, 2], [mx_char("string1"), mx_char("string2")]), source="matlab")
assert isinstance(v, MatCell) and v.shape == (1, 2)
re = np.array([[[1, 2], [3, 4], [5, 6]], [[7, 8], [9, 10], [11, 12]]], dtype="<f8")
im = -re / 2
v = add("matlab_complex_2x3x2", M + mx_array([2, 3, 2], 6, re.tobytes(order="F") + im.tobytes(order="F"), cpx=1), source="matlab")
assert v.dtype == np.complex128 and v.shape == (2, 3, 2) and v[1, 2, 1] == 12 - 6j
v = add("matlab_complex_int16", M + mx_array([1, 2], 10, np.array([1, 2, 3, 4], dtype="<i2").tobytes(), cpx=1), source="matlab")
assert v.dtype == np.complex128 and v[0, 1] == 2 + 4j
v = add("matlab_complex_single", M + mx_array([1, 2], 7, np.array([1, 2, 3, 4], dtype="<f4").tobytes(), cpx=1), source="matlab")
assert v.dtype == np.complex64
inner = mx_struct([1, 1], ["m"], [[mx_double(magic(3))]])
v = add("matlab_struct_array_magic", M + mx_struct([1, 2], ["name", "value", "sub"], [
    [mx_char("first"), mx_double(magic(3)), inner],
    [mx_char("second"), mx_double(magic(5)), mx_double([])],
]), source="matlab")
assert isinstance(v, MatStruct) and v.shape == (1, 2) and v[0, 1]["value"].shape == (5, 5)
assert v[0, 0]["value"][0, 0] == 8  # magic(3) = [8 1 6; 3 5 7; 4 9 2]
v = add("matlab_struct_1x1", M + mx_struct([1, 1], ["a", "b"], [[mx_double([[1.0, 2.0]]), mx_double([[3.0]])]]), source="matlab")
assert v.shape == (1, 1)
# JSON: a 1x1 struct without fields is `{}` (Python gives None, which loses that)
v = add("matlab_struct_no_fields", M + mx_struct([1, 1], [], []), source="matlab", json_rule=False)
assert v.shape == () and v.item() is None
v = add("matlab_empty_double", M + mx_array([0, 0], 6, b""), source="matlab")
assert v.shape == (0, 0)
v = add("matlab_empty_char", M + mx_array([0, 0], 4, b""), source="matlab")
assert v.shape == (0, 0)
v = add("matlab_char_matrix", M + mx_array([2, 3], 4, "adbecf".encode("utf-16-le")), source="matlab")
assert v.shape == (2, 3) and "".join(v[0]) == "abc"
v = add("matlab_char_with_nul", M + mx_char("a\0b"), source="matlab")
assert v[0] == "ab"
add("matlab_char_latin1", M + mx_char("é"), source="matlab", expect_error=True)  # Python: ascii decode fails
add("matlab_char_greek", M + mx_char("aα"), source="matlab", expect_error=True)
v = add("matlab_logical", M + mx_array([2, 2], 3, bytes([1, 0, 0, 1])), source="matlab")
assert v.dtype == bool
v = add("matlab_int64_column", M + mx_array([2, 1], 14, np.array([1, 2], dtype="<i8").tobytes()), source="matlab")
assert hashlib.md5(bytes.fromhex(CASES[-1]["blob"])).hexdigest() == "1d751e2e1e74faf84ab485fde8ef72be"
assert bytes.fromhex(CASES[-1]["blob"]) == pack(np.array([[1], [2]], dtype=np.int64))


def mx_sparse(rows, cols, jc, ir, real, imag=None, cls=6):
    nz = len(ir)
    fmt = "<f8" if cls == 6 else "u1"
    b = b"P" + u64s(rows, cols, nz) + struct.pack("<II", cls, 0 if imag is None else 1)
    b += u64s(*jc) + (u64s(*ir) if ir else b"") + np.array(real, dtype=fmt).tobytes()
    if imag is not None:
        b += np.array(imag, dtype=fmt).tobytes()
    return b


# sparse([1 0 0; 0 0 2]) and friends: the client cannot decode them
add("matlab_sparse_double", M + mx_sparse(2, 3, [0, 1, 1, 2], [0, 1], [1.0, 2.0]), source="matlab", expect_error=True)
add("matlab_sparse_logical", M + mx_sparse(2, 2, [0, 1, 2], [1, 0], [1, 1], cls=3), source="matlab", expect_error=True)
add("matlab_sparse_complex", M + mx_sparse(3, 1, [0, 1], [2], [1.5], [-2.5]), source="matlab", expect_error=True)
add("matlab_sparse_empty", M + mx_sparse(4, 0, [0], [], []), source="matlab", expect_error=True)
add("matlab_cell_in_struct", M + mx_struct([1, 1], ["c"], [[mx_cell([1, 2], [mx_double([[1.0]]), mx_char("x")])]]),
    source="matlab", expect_error=True)  # the cell inside cannot be built by 0.14 under numpy 2

# MATLAB compresses with its own rule; any zlib stream must be read
plain = M + mx_array([1, 500], 6, np.zeros(500).tobytes())
z = zlib.compress(plain, 9)
add("matlab_compressed_level9", b"ZL123\0" + u64s(len(plain)) + z, source="matlab")

# 32-bit-dims legacy struct (fields hits/sides/tasks/stage), read with use_32bit_dims
def u32s(*v):
    return struct.pack(f"<{len(v)}I", *v)


def mx32_array(dims, cls, data):
    return b"A" + u32s(len(dims), *dims) + struct.pack("<II", cls, 0) + data


def mx32_char(t):
    return mx32_array([1, len(t)], 4, t.encode("utf-16-le"))


fields = ["hits", "sides", "tasks", "stage"]
vals = [mx32_array([1, 3], 6, np.array([1, 0, 1], dtype="<f8").tobytes()),
        mx32_array([1, 3], 6, np.array([2, 1, 2], dtype="<f8").tobytes()),
        mx32_array([1, 3], 6, np.array([1, 1, 2], dtype="<f8").tobytes()),
        mx32_char("T")]
blob32 = M + b"S" + u32s(2, 1, 1) + struct.pack("<i", 4) + b"".join(f.encode() + b"\0" for f in fields)
blob32 += b"".join(u32s(len(v)) + v for v in vals)
v = add("matlab_32bit_dims_struct", blob32, source="matlab", dims32=True)
assert isinstance(v, MatStruct) and v.shape == (1, 1) and list(v[0, 0]["hits"][0]) == [1, 0, 1]

# unknown header: the client returns None
add("unknown_header", b"xyz\0\x05\x01")

# ---------------------------------------------------------------- write
meta = {
    "generator": "tests/python/make_blob_fixtures.py",
    "datajoint": dj.__version__,
    "numpy": np.__version__,
    "zlib": zlib.ZLIB_RUNTIME_VERSION,
    "cases": CASES,
}
os.makedirs(os.path.dirname(OUT), exist_ok=True)
with open(OUT, "w") as f:
    json.dump(meta, f, indent=1, ensure_ascii=False, allow_nan=False)
    f.write("\n")
print(f"{len(CASES)} cases -> {os.path.normpath(OUT)} ({os.path.getsize(OUT)} bytes)", file=sys.stderr)
