#!/usr/bin/env python
"""Create the reference schema for djfs's in-table read path, written by the real client (0.14.10).

    make_reference.py SCHEMA

Drops SCHEMA if it exists, then declares and fills (fixed random seed; no external stores):

  Subject              Manual        int key; enum, date, float, nullable attributes
  Session              Manual        -> Subject + smallint unsigned; datetime, uuid, nullable varchar
  Session.Trial        Part          -> master + int; double, enum, nullable longblob (NULL in some rows)
  Rig                  Lookup        varchar key with awkward values
  Rig.Channel          Part (Lookup) -> master + tinyint unsigned; double
  Recording            Imported      -> Session; double, bigint unsigned, longblob (populate)
  SessionSummary       Computed      -> Session; int, nullable float (populate)
  SessionSummary.TrialStat Part (Computed) -> master, -> Session.Trial; double, longblob
  StrKey               Manual        varchar(255) key: `/ , = %`, leading `.`, spaces, é, µ, tab, newline,
                                     DEL, emoji, empty string, names whose folder exceeds 255 bytes
  KeyTypes             Manual        composite key of int, smallint unsigned, bigint, varchar, date,
                                     datetime, uuid, enum, decimal(6,2)
  DateKey, DatetimeKey, DecimalKey, BigKey, UuidKey (Lookup), EnumKey (Lookup, key only)
                                     single-attribute keys (BigKey: bigint + bigint unsigned)
  Table2Value          Manual        stays empty (class name with a digit)
  Scalars              Manual        one column per scalar type (+ a `text` column added with ALTER
                                     TABLE, since DataJoint cannot declare `text`), nullable ones NULL
                                     in some rows
  Arrays               Manual        longblob numpy arrays: every numeric dtype, bool, complex,
                                     datetime64, 0-d..4-d, empty, C/F order, compressed, 4 MB random
  PyObjects            Manual        longblob non-array values (dict, list, str, dj0 scalars, ...)
  BlobSizes            Manual        tinyblob / blob / mediumblob / nullable longblob (NULL in a row)
  Attachments          Manual        attach (binary, empty, text, unicode/spaces, several dots, 3 MB
                                     random) and a nullable attach set to NULL

Database from DJ_HOST / DJ_USER / DJ_PASS.
"""

import argparse
import datetime
import os
import sys
import tempfile
import uuid
from decimal import Decimal

import datajoint as dj
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import djenv  # noqa: E402

SEED = 20240229
schema = dj.Schema()  # activated in main()


# ---------------------------------------------------------------- tiers and part tables

@schema
class Subject(dj.Manual):
    definition = """
    # experimental subject
    subject_id : int
    ---
    subject_name : varchar(64)
    sex : enum('M', 'F', 'U')
    dob = null : date
    weight = null : float   # grams
    notes = null : varchar(255)
    """


@schema
class Session(dj.Manual):
    definition = """
    # recording session
    -> Subject
    session_idx : smallint unsigned
    ---
    session_start : datetime
    session_uuid : uuid
    rig = null : varchar(32)
    """

    class Trial(dj.Part):
        definition = """
        -> master
        trial : int
        ---
        t_start : double
        t_stop : double
        outcome : enum('hit', 'miss', 'abort')
        trace = null : longblob
        """


@schema
class Rig(dj.Lookup):
    definition = """
    # recording rigs
    rig_name : varchar(32)
    ---
    room : varchar(16)
    """
    contents = [("rig-1", "A101"), ("rig/2", "B 2"), (".rig,3=x%", "C")]

    class Channel(dj.Part):
        definition = """
        -> master
        channel : tinyint unsigned
        ---
        gain : double
        """


@schema
class Recording(dj.Imported):
    definition = """
    -> Session
    ---
    sampling_rate : double
    n_samples : bigint unsigned
    raw : longblob
    """

    def make(self, key):
        rng = np.random.default_rng(SEED + key["subject_id"] * 1000 + key["session_idx"])
        n = 50 + 10 * key["session_idx"] % 200
        self.insert1(dict(key, sampling_rate=30000.0, n_samples=n,
                          raw=rng.integers(-2000, 2000, size=(n, 4), dtype=np.int16)))


@schema
class SessionSummary(dj.Computed):
    definition = """
    -> Session
    ---
    n_trials : int
    hit_rate = null : float
    """

    class TrialStat(dj.Part):
        definition = """
        -> master
        -> Session.Trial
        ---
        duration : double
        stats : longblob
        """

    def make(self, key):
        trials = (Session.Trial & key).fetch(as_dict=True, order_by="trial")
        hits = sum(t["outcome"] == "hit" for t in trials)
        self.insert1(dict(key, n_trials=len(trials), hit_rate=hits / len(trials) if trials else None))
        self.TrialStat.insert(
            dict(key, trial=t["trial"], duration=t["t_stop"] - t["t_start"],
                 stats={"trial": t["trial"], "outcome": t["outcome"]})
            for t in trials
        )


# ---------------------------------------------------------------- primary keys

@schema
class StrKey(dj.Manual):
    definition = """
    # varchar keys with characters that need escaping in folder names
    name : varchar(255)
    ---
    idx : int
    """


@schema
class KeyTypes(dj.Manual):
    definition = """
    # composite key of many types
    k_int : int
    k_small : smallint unsigned
    k_big : bigint
    k_str : varchar(64)
    k_date : date
    k_dt : datetime
    k_uuid : uuid
    k_enum : enum('alpha', 'beta', 'gamma delta', 'x/y')
    k_dec : decimal(6,2)
    ---
    label : varchar(32)
    """


@schema
class DateKey(dj.Manual):
    definition = """
    day : date
    ---
    note : varchar(32)
    """


@schema
class DatetimeKey(dj.Manual):
    definition = """
    moment : datetime
    ---
    note : varchar(32)
    """


@schema
class DecimalKey(dj.Manual):
    definition = """
    amount : decimal(10,4)
    ---
    note : varchar(32)
    """


@schema
class BigKey(dj.Manual):
    definition = """
    big : bigint
    ubig : bigint unsigned
    ---
    note : varchar(32)
    """


@schema
class UuidKey(dj.Lookup):
    definition = """
    item_uuid : uuid
    ---
    label : varchar(32)
    """
    contents = [
        (uuid.UUID("00000000-0000-0000-0000-000000000000"), "nil"),
        (uuid.UUID("FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF"), "max"),
        (uuid.UUID("1faa3094-d718-075c-9c94-f1a6c0505c55"), "md5-like"),
        (uuid.uuid5(uuid.NAMESPACE_URL, "https://datajoint.com"), "uuid5"),
    ]


@schema
class EnumKey(dj.Lookup):
    definition = """
    # a key-only table
    color : enum('red', 'green', 'blue violet', 'a=b')
    """
    contents = [("red",), ("green",), ("blue violet",), ("a=b",)]


@schema
class Table2Value(dj.Manual):
    definition = """
    # stays empty; its class name has a digit
    t2v_id : int
    ---
    val = null : double
    """


# ---------------------------------------------------------------- scalars

@schema
class Scalars(dj.Manual):
    definition = """
    # one column per scalar type
    scalar_id : int
    ---
    v_tinyint : tinyint
    v_int : int
    v_bigu : bigint unsigned
    v_float : float
    v_double : double
    v_dec : decimal(8,3)
    v_varchar : varchar(255)
    v_char : char(8)
    v_date : date
    v_datetime : datetime
    v_datetime3 : datetime(3)
    v_timestamp : timestamp
    v_time : time
    v_enum : enum('on', 'off', 'maybe so')
    v_bool : bool
    v_uuid : uuid
    n_int = null : int
    n_double = null : double
    n_varchar = null : varchar(64)
    n_date = null : date
    n_datetime = null : datetime
    n_dec = null : decimal(5,2)
    n_uuid = null : uuid
    n_enum = null : enum('a', 'b')
    """


SCALAR_ROWS = [
    dict(scalar_id=1, v_tinyint=-128, v_int=-2147483648, v_bigu=18446744073709551615,
         v_float=0.1, v_double=0.1, v_dec=Decimal("12345.678"), v_varchar="hello, world",
         v_char="abc", v_date=datetime.date(2024, 2, 29),
         v_datetime=datetime.datetime(2024, 2, 29, 13, 14, 15),
         v_datetime3=datetime.datetime(2024, 1, 2, 3, 4, 5, 123000),
         v_timestamp=datetime.datetime(2024, 5, 6, 7, 8, 9), v_time=datetime.timedelta(hours=12, minutes=34, seconds=56),
         v_enum="on", v_bool=True, v_uuid=uuid.UUID("6ba7b810-9dad-11d1-80b4-00c04fd430c8"),
         v_text="line one\nline two"),
    dict(scalar_id=2, v_tinyint=127, v_int=2147483647, v_bigu=0,
         v_float=3.14159, v_double=1e-300, v_dec=Decimal("-0.001"), v_varchar="",
         v_char="", v_date=datetime.date(1000, 1, 1),
         v_datetime=datetime.datetime(9999, 12, 31, 23, 59, 59),
         v_datetime3=datetime.datetime(2024, 1, 2, 3, 4, 5),
         v_timestamp=datetime.datetime(2038, 1, 19, 3, 14, 7), v_time=-datetime.timedelta(hours=1, minutes=30),
         v_enum="maybe so", v_bool=False, v_uuid=uuid.UUID(int=0),
         v_text="unicode: é µ 🙂 — end",
         n_int=0, n_double=-0.5, n_varchar="not null", n_date=datetime.date(2000, 1, 1),
         n_datetime=datetime.datetime(2000, 1, 1, 0, 0, 0), n_dec=Decimal("-999.99"),
         n_uuid=uuid.UUID("12345678-1234-5678-1234-567812345678"), n_enum="b"),
    dict(scalar_id=3, v_tinyint=0, v_int=0, v_bigu=9223372036854775808,
         v_float=-1.5e-10, v_double=3.14159, v_dec=Decimal("99999.999"), v_varchar="tab\tand\nnewline",
         v_char="12345678", v_date=datetime.date(9999, 12, 31),
         v_datetime=datetime.datetime(1000, 1, 1, 0, 0, 0),
         v_datetime3=datetime.datetime(1999, 12, 31, 23, 59, 59, 999000),
         v_timestamp=datetime.datetime(1970, 1, 2, 0, 0, 0), v_time=datetime.timedelta(hours=838, minutes=59, seconds=59),
         v_enum="off", v_bool=True, v_uuid=uuid.UUID("ffffffff-ffff-ffff-ffff-ffffffffffff"),
         v_text="", n_int=-1),
    dict(scalar_id=4, v_tinyint=1, v_int=42, v_bigu=1,
         v_float=1.5, v_double=1.7976931348623157e308, v_dec=Decimal("0.000"), v_varchar="µ-é/ünï,cødé=%",
         v_char="x y", v_date=datetime.date(1970, 1, 1),
         v_datetime=datetime.datetime(1970, 1, 1, 0, 0, 0),
         v_datetime3=datetime.datetime(2020, 6, 7, 8, 9, 10, 5000),
         v_timestamp=datetime.datetime(2001, 9, 9, 1, 46, 40), v_time=datetime.timedelta(0),
         v_enum="on", v_bool=False, v_uuid=uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
         v_text="x" * 3000, n_double=2.5e-10, n_varchar="", n_dec=Decimal("0.50")),
    dict(scalar_id=5, v_tinyint=-1, v_int=-7, v_bigu=4294967296,
         v_float=-0.0, v_double=-2.2250738585072014e-308, v_dec=Decimal("-12345.678"), v_varchar=" leading and inner  spaces",
         v_char="tail", v_date=datetime.date(2000, 2, 29),
         v_datetime=datetime.datetime(2000, 2, 29, 12, 0, 0),
         v_datetime3=datetime.datetime(2000, 2, 29, 12, 0, 0, 1000),
         v_timestamp=datetime.datetime(2024, 2, 29, 23, 59, 59), v_time=datetime.timedelta(seconds=1),
         v_enum="off", v_bool=True, v_uuid=uuid.UUID("00000000-0000-0000-0000-000000000001"),
         v_text="tab\there", n_double=1e300),
]


# ---------------------------------------------------------------- blobs

@schema
class Arrays(dj.Manual):
    definition = """
    # numpy arrays in a longblob (each row exposed as value.npy)
    array_id : int
    ---
    description : varchar(255)
    value : longblob
    """


@schema
class PyObjects(dj.Manual):
    definition = """
    # non-array values in a longblob (each row exposed as value.blob + value.json)
    object_id : int
    ---
    description : varchar(255)
    value : longblob
    """


@schema
class BlobSizes(dj.Manual):
    definition = """
    # the other blob column types
    blob_id : int
    ---
    tiny_blob : tinyblob
    small_blob : blob
    medium_blob : mediumblob
    long_blob = null : longblob
    """


def array_cases(rng):
    """(description, value): every value an `A` array of a numeric/bool/complex/datetime64 dtype."""
    cases = []
    int_types = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]
    for t in int_types:
        info = np.iinfo(t)
        cases.append((f"{np.dtype(t).name} 1-d extremes",
                      np.array([info.min, 0, 1, info.max // 2, info.max], dtype=t)))
        cases.append((f"{np.dtype(t).name} 2-d 3x4", np.arange(12).astype(t).reshape(3, 4)))
    for t in (np.float32, np.float64):
        cases.append((f"{np.dtype(t).name} 1-d specials",
                      np.array([0.1, -0.0, np.inf, -np.inf, np.nan, 1e-30, 3.14159], dtype=t)))
        cases.append((f"{np.dtype(t).name} 3-d random", rng.standard_normal((2, 3, 4)).astype(t)))
    cases += [
        ("float64 row vector 1x5", np.arange(5.0).reshape(1, 5)),
        ("float64 column vector 5x1", np.arange(5.0).reshape(5, 1)),
        ("float64 one element 1-d", np.array([7.0])),
        ("float64 4-d", rng.standard_normal((2, 3, 2, 2))),
        ("int64 3-d C order", np.arange(24).reshape(2, 3, 4)),
        ("int64 3-d Fortran order (same values)", np.asfortranarray(np.arange(24).reshape(2, 3, 4))),
        ("int64 non-contiguous view", np.arange(20).reshape(4, 5)[:, ::2]),
        ("float32 2-d Fortran order", np.asfortranarray(rng.standard_normal((3, 5)).astype(np.float32))),
        ("bool 1-d", np.array([True, False, True])),
        ("bool 2-d", rng.integers(0, 2, size=(4, 3)).astype(bool)),
        ("complex64 1-d", np.array([1 + 2j, 3 - 4j, -0.5j], dtype=np.complex64)),
        ("complex128 2-d", (rng.standard_normal((2, 3)) + 1j * rng.standard_normal((2, 3)))),
        ("complex128 zero imaginary", np.array([1.0, 2.0], dtype=np.complex128)),
        ("datetime64[D] with NaT", np.array(["2020-01-02", "1969-12-31", "NaT"], dtype="datetime64[D]")),
        ("datetime64[us] 2-d", np.array([["2020-01-02T03:04:05.123456", "1970-01-01T00:00:00"],
                                         ["2038-01-19T03:14:08", "1900-06-15T12:00:00.5"]],
                                        dtype="datetime64[us]")),
        ("datetime64[s]", np.array(["2024-02-29T23:59:59"], dtype="datetime64[s]")),
        ("datetime64[ns]", np.array(["2024-02-29T23:59:59.123456789"], dtype="datetime64[ns]")),
        # 0-d (dj0 header; the client returns numpy scalars)
        ("0-d int32", np.array(5, dtype=np.int32)),
        ("0-d uint8", np.array(7, dtype=np.uint8)),
        ("numpy float64 scalar", np.float64(2.5)),
        ("numpy float32 scalar", np.float32(-1.25)),
        ("numpy bool scalar", np.bool_(True)),
        ("0-d complex128", np.array(1 + 2j)),
        ("numpy datetime64 scalar", np.datetime64("2020-01-02")),
        # empty
        ("empty float64 (0,)", np.zeros((0,))),
        ("empty float64 (3,0)", np.zeros((3, 0))),
        ("empty int8 (0,)", np.zeros((0,), dtype=np.int8)),
        ("empty complex128 (2,0,3)", np.zeros((2, 0, 3), dtype=np.complex128)),
        ("empty bool (0,5)", np.zeros((0, 5), dtype=bool)),
        # compression boundary and large
        ("zeros(121): 997 bytes, not compressed", np.zeros(121)),
        ("zeros(122): 1005 bytes, compressed", np.zeros(122)),
        ("zeros 200x300 compressed", np.zeros((200, 300))),
        ("arange(100000) int64 compressed", np.arange(100000)),
        ("uint8 image 64x48x3 compressed", (np.arange(64 * 48 * 3) % 7).astype(np.uint8).reshape(64, 48, 3)),
        ("random float64 (1000,) incompressible, above 1000 bytes", rng.standard_normal(1000)),
        ("random float64 500000 (4 MB) incompressible", rng.standard_normal(500_000)),
    ]
    return cases


def object_cases(rng):
    """(description, value): blobs that are not plain numeric arrays."""
    return [
        ("dict", {"a": 1, "b": [1, 2, 3], "c": "text", "d": np.arange(3)}),
        ("nested dict", {"outer": {"inner": {"x": 1.5, "y": None}}, 2: (1, 2)}),
        ("empty dict", {}),
        ("list", [1, "a", 2.5, None, True]),
        ("empty list", []),
        ("tuple", (1, 2.0, "three")),
        ("set of ints", {1, 2, 3}),
        ("str", "hello"),
        ("unicode str", "héllo µ 🙂"),
        ("empty str", ""),
        ("bytes", b"\x00\x01\xff"),
        ("python int", 42),
        ("python negative int", -1),
        ("python big int 2**70", 2**70),
        ("python float", 1.5),
        ("python bool", True),
        ("python complex", 1 + 2j),
        ("decimal", Decimal("1.50")),
        ("datetime", datetime.datetime(2020, 1, 2, 3, 4, 5, 6)),
        ("date", datetime.date(2020, 1, 2)),
        ("uuid", uuid.UUID("00112233-4455-6677-8899-aabbccddeeff")),
        ("numpy unicode array", np.array(["ab", "c", "déf"])),
        ("numpy char (S1) array", np.array([b"a", b"b", b"c"], dtype="S1")),
        ("numpy object array", np.array([1, "a", 2.5], dtype=object)),
        ("numpy structured array", np.array([(1, 2.0), (3, 4.0)], dtype=[("a", "<i4"), ("b", "<f8")])),
        ("long list, compressed", list(range(2000))),
        ("list of arrays", [np.zeros(3), np.ones((2, 2), dtype=np.int8)]),
    ]


# ---------------------------------------------------------------- attachments

@schema
class Attachments(dj.Manual):
    definition = """
    # internal attachments
    attach_id : int
    ---
    description : varchar(255)
    doc : attach
    extra = null : attach
    """


def attachment_files(rng):
    """(attach_id, description, doc (name, bytes), extra (name, bytes) or None)."""
    return [
        (1, "binary file + text extra", ("binary.bin", bytes(range(256)) * 16), ("notes.txt", b"hello world\n")),
        (2, "empty file, extra NULL", ("empty.dat", b""), None),
        (3, "text file", ("readme.txt", "Plain text.\nSecond line: é µ\n".encode()), None),
        (4, "name with spaces and unicode", ("résumé final µ.txt", b"unicode name\n"), ("a b c.csv", b"1,2,3\n")),
        (5, "several dots", ("data.tar.gz", rng.bytes(4096)), None),
        (6, "3 MB random", ("random 3MB.bin", rng.bytes(3 * 1024 * 1024)), ("no_extension", b"\x00" * 10)),
        (7, "leading dot name", (".hidden.cfg", b"key=value\n"), None),
    ]


# ---------------------------------------------------------------- filling

def str_key_values():
    long_prefix = "shared-prefix-" + "p" * 220
    return [
        "plain", "a/b", "x,y", "k=v", "100%", "%41", ".hidden", "..", ".", "a.b",
        "with space", " leading space", "café", "µs", "tab\there", "new\nline", "del\x7fete",
        "emoji 🙂", "", "quote\"s and 'apostrophes'", "back\\slash", "~tilde", "-dash",
        "x" * 250,                      # folder name exactly 255 bytes: not truncated
        "y" * 251,                      # 256 bytes: truncated
        long_prefix + "-one",           # two long names sharing their first 222 bytes
        long_prefix + "-two",
        "é" * 130,                      # truncation must not split a UTF-8 character
        "a" * 215 + "%%%%%" + "b" * 30,  # truncation must not split a %XX escape
        "b" * 216 + "/" * 20,           # ... nor here (escape starting right at the limit)
    ]


def uniform(rows):
    """dj 0.14 refuses one insert whose dicts have different fields: fill the missing ones with None."""
    rows = list(rows)
    fields = []
    for r in rows:
        fields += [k for k in r if k not in fields]
    return [{k: r.get(k) for k in fields} for r in rows]


def fill(tmp):
    rng = np.random.default_rng(SEED)

    Subject.insert(uniform([
        dict(subject_id=1, subject_name="Alice", sex="F", dob=datetime.date(2023, 1, 15), weight=23.5,
             notes="first subject"),
        dict(subject_id=2, subject_name="Bob", sex="M", dob=None, weight=None, notes=None),
        dict(subject_id=0, subject_name="zero", sex="U", dob=datetime.date(2022, 12, 31), weight=0.1),
        dict(subject_id=-5, subject_name="negative", sex="U", notes=""),
    ]))
    sessions = []
    for subject_id, idx in [(1, 0), (1, 1), (1, 65535), (2, 7), (-5, 3)]:
        sessions.append(dict(
            subject_id=subject_id, session_idx=idx,
            session_start=datetime.datetime(2024, 3, 1 + idx % 28, 9, idx % 60, 0),
            session_uuid=uuid.UUID(bytes=rng.bytes(16)),
            rig=None if idx == 7 else "rig-1"))
    Session.insert(sessions)
    trials = []
    outcomes = ["hit", "miss", "abort"]
    for s in sessions[:4]:
        for trial in range(3 if s["session_idx"] != 7 else 0):
            t0 = 10.0 * trial + 0.1
            trials.append(dict(
                subject_id=s["subject_id"], session_idx=s["session_idx"], trial=trial,
                t_start=t0, t_stop=t0 + 2.5, outcome=outcomes[trial % 3],
                trace=None if trial == 1 else rng.standard_normal(20 + trial)))
    Session.Trial.insert(trials)

    Rig.Channel.insert([
        dict(rig_name="rig-1", channel=0, gain=1.0),
        dict(rig_name="rig-1", channel=255, gain=0.5),
        dict(rig_name="rig/2", channel=1, gain=2.25),
    ])

    Recording.populate()
    SessionSummary.populate(reserve_jobs=True)  # creates the hidden ~jobs table too

    StrKey.insert(dict(name=v, idx=i) for i, v in enumerate(str_key_values()))

    KeyTypes.insert([
        dict(k_int=1, k_small=0, k_big=-9223372036854775808, k_str="a/b,c=d", k_date=datetime.date(2024, 1, 1),
             k_dt=datetime.datetime(2024, 1, 1, 0, 0, 0), k_uuid=uuid.UUID(int=1), k_enum="alpha",
             k_dec=Decimal("-12.50"), label="first"),
        dict(k_int=-1, k_small=65535, k_big=9223372036854775807, k_str=".dot", k_date=datetime.date(1999, 12, 31),
             k_dt=datetime.datetime(1999, 12, 31, 23, 59, 59),
             k_uuid=uuid.UUID("DEADBEEF-0000-4000-8000-00000000CAFE"), k_enum="gamma delta",
             k_dec=Decimal("0.00"), label="second"),
        dict(k_int=1, k_small=1, k_big=0, k_str="µ é", k_date=datetime.date(2024, 2, 29),
             k_dt=datetime.datetime(2024, 2, 29, 12, 30, 0), k_uuid=uuid.UUID(int=2), k_enum="x/y",
             k_dec=Decimal("9999.99"), label="third"),
    ])

    DateKey.insert([(datetime.date(2024, 2, 29), "leap day"), (datetime.date(1970, 1, 1), "epoch"),
                    (datetime.date(1000, 1, 1), "min"), (datetime.date(9999, 12, 31), "max")])
    DatetimeKey.insert([(datetime.datetime(2024, 2, 29, 23, 59, 59), "leap second-ish"),
                        (datetime.datetime(1000, 1, 1, 0, 0, 0), "min"),
                        (datetime.datetime(2000, 1, 1, 12, 0, 0), "noon")])
    DecimalKey.insert([(Decimal("-1.5"), "negative"), (Decimal("0"), "zero"),
                       (Decimal("123456.789"), "big"), (Decimal("0.0001"), "tiny")])
    BigKey.insert([(-9223372036854775808, 0, "min/min"), (9223372036854775807, 18446744073709551615, "max/max"),
                   (0, 9223372036854775808, "zero/2**63")])

    # DataJoint cannot declare `text` columns: add one with plain SQL, then insert with the client.
    conn = dj.conn()
    conn.query(f"ALTER TABLE {Scalars.full_table_name} ADD COLUMN `v_text` text NOT NULL "
               "COMMENT 'a text column (added with ALTER TABLE)'")
    scalars = dj.FreeTable(conn, Scalars.full_table_name)
    scalars.insert(uniform(SCALAR_ROWS))

    Arrays.insert(dict(array_id=i, description=d, value=v) for i, (d, v) in enumerate(array_cases(rng), 1))
    PyObjects.insert(dict(object_id=i, description=d, value=v) for i, (d, v) in enumerate(object_cases(rng), 1))
    BlobSizes.insert([
        dict(blob_id=1, tiny_blob=np.array([1, 2, 3], dtype=np.int8), small_blob=np.arange(10.0),
             medium_blob=np.arange(100000), long_blob=None),
        dict(blob_id=2, tiny_blob="tiny", small_blob={"k": [1, 2]}, medium_blob=rng.standard_normal((100, 50)),
             long_blob=np.zeros((10, 10, 10))),
    ])

    rows = []
    for attach_id, description, doc, extra in attachment_files(rng):
        row = dict(attach_id=attach_id, description=description)
        for attr, spec in (("doc", doc), ("extra", extra)):
            if spec is None:
                row[attr] = None
                continue
            name, data = spec
            folder = os.path.join(tmp, f"{attach_id}-{attr}")
            os.makedirs(folder)
            path = os.path.join(folder, name)
            with open(path, "wb") as f:
                f.write(data)
            row[attr] = path
        rows.append(row)
    Attachments.insert(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("schema")
    args = ap.parse_args()

    djenv.connect()
    djenv.fresh_schema(args.schema)
    schema.activate(args.schema)
    with tempfile.TemporaryDirectory() as tmp:
        fill(tmp)

    print(f"schema `{args.schema}` created with datajoint {dj.__version__}")
    conn = dj.conn()
    for table_name in dj.Schema(args.schema, create_schema=False).list_tables():
        n = len(dj.FreeTable(conn, f"`{args.schema}`.`{table_name}`"))
        print(f"  {table_name:34s} {n:3d} rows")
    hidden = [r[0] for r in conn.query(
        "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA=%s AND TABLE_NAME LIKE '~%%'",
        args=(args.schema,))]
    print(f"  hidden tables: {', '.join(sorted(hidden)) or '(none)'}")


if __name__ == "__main__":
    main()
