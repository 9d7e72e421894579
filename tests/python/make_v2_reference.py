#!/usr/bin/env python
"""Reference schemas written by the real DataJoint 2.x client (datajoint 2.3.5, run with $DJFS_PY2).

    make_v2_reference.py SCHEMA --backend postgresql --store-root DIR --config-out FILE
    make_v2_reference.py SCHEMA --backend mysql --config-out FILE

PostgreSQL (every 2.x type, all stores): the schema is dropped and made anew, its objects in the
stores removed first. Stores: `local` (a folder, DIR/local; also `stores.default`), `shared`
(S3 on the private s3s-fs, bucket $DJFS_V2_S3_BUCKET, location `lab/v2`) and `deep` (a folder,
DIR/deep, non-default prefixes). Tables:
  Lab (Lookup with contents: unicode and awkward string keys), Subject (Manual: enum, date, float32),
  Scalars (every core type: int8..int64, float32/64, bool, uuid, json, bytes, varchar, char, date,
    datetime, datetime(3), decimal, enum; extremes, unicode, a row of NULLs),
  Blobs (<blob>, <blob@local>, <blob@shared>: arrays, an image, scalars,
    dict/str/list; NULLs), Attachments (<attach>, <attach@local>, <attach@shared>; unicode names,
    an empty file, a PNG, 200 kB random), Hashes (<hash@local>, <hash@shared>; duplicate contents),
  Arrays (<npy@local>, <npy@shared>; RGB and grey uint8 images, float, bool, 0-d, Fortran order),
  Objects (<object@local>, <object@shared>: a file with an extension, bytes without one, an
    (ext, bytes) tuple, a folder tree with unicode names, NULLs),
  Filepaths (<filepath@local>, <filepath@shared> of files the script puts in the stores first),
  Relocated (every stored type in store `deep`: hash_prefix `objects/by-hash`, schema_prefix
    `objects/by-key`, subfolding (2, 3), token_length 12),
  Plugins (add-on codecs djfs does not know: <labstack@shared>, json metadata; <labnote>, bytes),
  Session (Manual, hidden `_prov`) with part Session.Trial, Stimulus (Lookup with contents),
  Recording (Imported, populated; part Recording.Channel), Analysis (Computed, populated); both
  with the hidden job columns `_job_start_time`, `_job_duration`, `_job_version`, populated with
  reserve_jobs=True so that the jobs tables `~~recording` and `~~analysis` exist (with `~lineage`:
  system tables the mount must not show).
MySQL family (our MariaDB: 2.x connects with a warning, stored-object types fail there): in-table
types only (json included: MariaDB reports the column as longtext, the client goes by its comment),
with Lookup, Manual + Part, Computed (and its jobs table `~~summary`).

2.3.5 on PostgreSQL cannot insert a uuid value (it sends bytes to a uuid column, also for a
secondary attribute) nor fetch one (UUID(bytes=str)): the uuid columns there get their value from
a declared default (the client's own DDL) or stay NULL; check_mount_v2.py reads them by SQL.
An in-table <attach> cannot be fetched by 2.3.5 on PostgreSQL (memoryview has no index); the rows
are still inserted by the client.
A json value that is a JSON string cannot be fetched by 2.3.5 on PostgreSQL (psycopg2 already
decodes jsonb, the client json.loads the str again): the json values here are objects, arrays and
numbers.

Writes the config (flat `database.*` keys, `stores`) with --config-out; djfs and check_mount_v2.py
read it. Prints a summary of what the client fetches back.
"""

import argparse
import datetime
import io
import os
import sys
import tempfile
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dj2env  # noqa: E402  (before datajoint)

import datajoint as dj  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

UUID_DEFAULT = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"


def png_bytes(width, height, seed):
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buf, format="PNG")
    return buf.getvalue()


def image_rgb(h, w):
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([(x * 255 // max(w - 1, 1)), (y * 255 // max(h - 1, 1)), ((x + y) % 256)], axis=-1).astype(np.uint8)


def image_grey(h, w):
    y, x = np.mgrid[0:h, 0:w]
    return ((x * 7 + y * 13) % 256).astype(np.uint8)


def insert_each(table, rows):
    """insert1 per row: 2.x refuses one insert of dicts with different fields."""
    for row in rows:
        table.insert1(row)


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return path


# ================================================================================ PostgreSQL

def make_postgres(schema_name, tmp, stores):
    schema = dj.Schema(schema_name)
    rng = np.random.default_rng(2026)
    L, S = dj2env.STORE_FILE, dj2env.STORE_S3

    @schema
    class Lab(dj.Lookup):
        definition = """
        # labs: unicode and awkward string keys
        lab : varchar(40)
        ---
        lab_title : varchar(120)
        """
        contents = [
            ("neuro", "Neuroscience"),
            ("écologie µ", "Écologie & µ-biologie 🧪"),
            ("a/b,c=d%e", "a key with every character djfs escapes"),
            (".hidden", "a key with a leading dot"),
        ]

    @schema
    class Subject(dj.Manual):
        definition = """
        -> Lab
        subject_id : int32
        ---
        species : enum('mouse', 'rat', 'zebra finch')
        dob = null : date
        weight = null : float32     # grams
        """

    Subject.insert([
        ("neuro", 1, "mouse", datetime.date(2025, 3, 14), 21.5),
        ("écologie µ", 2, "zebra finch", None, None),
        ("a/b,c=d%e", 3, "rat", datetime.date(1999, 12, 31), 301.25),
        (".hidden", 4, "mouse", datetime.date(2026, 1, 2), 0.125),
    ])

    @schema
    class Scalars(dj.Manual):
        definition = f"""
        # every 2.x core type
        scalar_id : int16
        ---
        i8 : int8
        i16 : int16
        i32 : int32
        i64 : int64
        f32 : float32
        f64 : float64
        flag : bool
        u = "{UUID_DEFAULT}" : uuid    # from the default: 2.3.5 cannot insert a uuid on PostgreSQL
        u_null = null : uuid
        doc = null : json
        raw = null : bytes
        name = null : varchar(64)
        code = null : char(4)
        day = null : date
        moment = null : datetime
        moment_ms = null : datetime(3)
        amount = null : decimal(10,3)
        color = null : enum('red', 'green', 'blue', 'ultra violet')
        n_i32 = null : int32
        n_f64 = null : float64
        n_flag = null : bool
        """

    insert_each(Scalars, [
        dict(scalar_id=1, i8=-128, i16=-32768, i32=-2147483648, i64=-9223372036854775808, f32=1.5, f64=-2.25e-300,
             flag=True, doc={"a": [1, 2.5, None, True], "b": {"c": "µ"}, "e": ""}, raw=b"\x00\x01\xff\n\x00",
             name="Ünïcødé ✓ name", code="ABCD", day=datetime.date(2026, 2, 28),
             moment=datetime.datetime(2026, 10, 1, 13, 14, 15), moment_ms=datetime.datetime(2026, 10, 1, 13, 14, 15, 123000),
             amount=Decimal("-1234567.891"), color="ultra violet", n_i32=7, n_f64=0.1, n_flag=False),
        dict(scalar_id=2, i8=127, i16=32767, i32=2147483647, i64=9223372036854775807, f32=-3.4e38, f64=1.7976931348623157e308,
             flag=False, doc=[1, "two", 3.0], raw=b"", name="", code="x", day=datetime.date(1970, 1, 1),
             moment=datetime.datetime(1999, 12, 31, 23, 59, 59), moment_ms=datetime.datetime(2000, 1, 1, 0, 0, 0, 1000),
             amount=Decimal("0.001"), color="red", n_i32=-1, n_f64=-0.0, n_flag=True),
        dict(scalar_id=3, i8=0, i16=0, i32=0, i64=0, f32=0.0, f64=0.0, flag=False),  # every nullable NULL
        dict(scalar_id=4, i8=1, i16=2, i32=3, i64=4, f32=3.14159, f64=2.718281828459045, flag=True,
             doc=42, name="tab\tand µ", color="green", amount=Decimal("42")),
    ])

    @schema
    class Blobs(dj.Manual):
        definition = f"""
        # <blob> in the table and in both stores (not <blob@>: 2.3.5 passes store '' instead of
        # stores.default and fails with "Storage '' is requested but not configured")
        blob_id : int32
        ---
        value : <blob>
        value_local = null : <blob@{L}>
        value_s3 = null : <blob@{S}>
        """

    image = image_rgb(24, 32)
    insert_each(Blobs, [
        dict(blob_id=1, value=np.arange(6, dtype=np.int16).reshape(2, 3), value_local=rng.random((10, 10)),
             value_s3=np.array([1 + 2j, -3.5j])),
        dict(blob_id=2, value=image, value_local=image_grey(16, 20), value_s3=np.float32(2.5)),
        dict(blob_id=3, value={"name": "µ trial", "n": 3, "weights": [0.5, 0.25]}, value_local="a plain string",
             value_s3={"nested": {"deep": [1, 2, 3]}, "list": [1, "two", 3.0]}),
        dict(blob_id=4, value=7, value_local=np.zeros((0,)), value_s3=np.arange(24, dtype=np.float64).reshape(2, 3, 4)),
        dict(blob_id=5, value=np.array([1.5, np.nan, np.inf])),  # stored columns NULL
        dict(blob_id=6, value=np.arange(12, dtype=np.uint32), value_local=np.arange(12, dtype=np.uint32),
             value_s3=np.arange(12, dtype=np.uint32)),  # the same object twice in a store: deduplicated
    ])

    files = os.path.join(tmp, "attach")
    resume = write(os.path.join(files, "a", "résumé µ.txt"), "Ünïcødé contents\n".encode())
    photo = write(os.path.join(files, "b", "photo.png"), png_bytes(40, 30, 1))
    empty = write(os.path.join(files, "c", "empty.dat"), b"")
    big = write(os.path.join(files, "d", "archive.data.tar.gz"), rng.integers(0, 256, 200_000, dtype=np.uint8).tobytes())
    spaced = write(os.path.join(files, "e", "name with spaces & (parens).csv"), b"a,b\n1,2\n")

    @schema
    class Attachments(dj.Manual):
        definition = f"""
        # <attach> in the table (2.3.5 cannot fetch it on PostgreSQL) and in both stores
        att_id : int32
        ---
        doc = null : <attach>
        doc_local = null : <attach@{L}>
        doc_s3 = null : <attach@{S}>
        """

    insert_each(Attachments, [
        dict(att_id=1, doc=resume, doc_local=photo, doc_s3=big),
        dict(att_id=2, doc=empty, doc_local=resume, doc_s3=resume),
        dict(att_id=3, doc=photo, doc_local=spaced, doc_s3=empty),
        dict(att_id=4),
    ])

    @schema
    class Hashes(dj.Manual):
        definition = f"""
        # <hash@>: raw bytes, hash-addressed
        hash_id : int32
        ---
        h_local : <hash@{L}>
        h_s3 = null : <hash@{S}>
        """

    payload = rng.integers(0, 256, 100_000, dtype=np.uint8).tobytes()
    insert_each(Hashes, [
        dict(hash_id=1, h_local=b"hello\n", h_s3=payload),
        dict(hash_id=2, h_local=payload, h_s3=b"hello\n"),
        dict(hash_id=3, h_local=b"\x00" * 10, h_s3=None),
        dict(hash_id=4, h_local=b"hello\n", h_s3=b""),
    ])

    @schema
    class Arrays(dj.Manual):
        definition = f"""
        # <npy@>: the object is a .npy file
        arr_id : int32
        ---
        n_local : <npy@{L}>
        n_s3 = null : <npy@{S}>
        """

    insert_each(Arrays, [
        dict(arr_id=1, n_local=image_rgb(48, 64), n_s3=image_grey(30, 40)),
        dict(arr_id=2, n_local=rng.random(5).astype(np.float32), n_s3=np.asfortranarray(rng.random((3, 4)))),
        dict(arr_id=3, n_local=np.array(5, dtype=np.int64), n_s3=np.array([[True, False], [False, True]])),
        dict(arr_id=4, n_local=np.zeros((0, 3), dtype=np.int16), n_s3=None),
    ])

    tree = os.path.join(tmp, "tree", "results")
    write(os.path.join(tree, "summary.txt"), b"summary\n")
    write(os.path.join(tree, "plots", "fig 1 µ.png"), png_bytes(20, 10, 2))
    write(os.path.join(tree, "plots", "deeper", "values.json"), b'{"x": 1}\n')
    write(os.path.join(tree, "empty.bin"), b"")
    notes = write(os.path.join(tmp, "obj", "notes µ.txt"), "notes, unicode µ ✓\n".encode())
    table_csv = write(os.path.join(tmp, "obj", "table.tar.gz"), rng.integers(0, 256, 5000, dtype=np.uint8).tobytes())

    @schema
    class Objects(dj.Manual):
        definition = f"""
        # <object@>: a file or a folder, schema-addressed
        obj_id : int32
        ---
        o_local = null : <object@{L}>
        o_s3 = null : <object@{S}>
        """

    insert_each(Objects, [
        dict(obj_id=1, o_local=notes, o_s3=notes),
        dict(obj_id=2, o_local=tree, o_s3=tree),
        dict(obj_id=3, o_local=b"raw bytes, no extension\n", o_s3=(".json", b'{"from": "a tuple"}\n')),
        dict(obj_id=4, o_local=table_csv),
        dict(obj_id=5),
    ])

    # <filepath@>: files the user put in the store (outside _hash/_schema), referenced by path.
    from datajoint.hash_registry import get_store_backend

    fp_rel = {}
    for store in (L, S):
        backend = get_store_backend(store)
        for name, data in (("session1/raw data µ.dat", b"raw recording\x00\x01\x02"),
                           ("session2/notes.txt", b"second session\n")):
            rel = f"files/{schema_name}/{name}"
            backend.put_buffer(data, rel)
            fp_rel[(store, name)] = rel

    @schema
    class Filepaths(dj.Manual):
        definition = f"""
        # <filepath@>: the user's own files in a store
        fp_id : int32
        ---
        fp_local : <filepath@{L}>
        fp_s3 = null : <filepath@{S}>
        """

    insert_each(Filepaths, [
        dict(fp_id=1, fp_local=fp_rel[(L, "session1/raw data µ.dat")], fp_s3=fp_rel[(S, "session2/notes.txt")]),
        dict(fp_id=2, fp_local=fp_rel[(L, "session2/notes.txt")], fp_s3=None),
    ])

    D = dj2env.STORE_DEEP

    @schema
    class Relocated(dj.Manual):
        definition = f"""
        # a store with its own hash_prefix, schema_prefix, subfolding and token_length
        rel_id : int32
        ---
        blob = null : <blob@{D}>
        doc = null : <attach@{D}>
        digest = null : <hash@{D}>
        arr = null : <npy@{D}>
        obj = null : <object@{D}>
        """

    insert_each(Relocated, [
        dict(rel_id=1, blob=np.arange(5.0), doc=resume, digest=b"relocated\n", arr=image_grey(8, 8), obj=tree),
        dict(rel_id=2, blob={"where": "deep"}, doc=photo, digest=payload, arr=np.arange(3), obj=notes),
        dict(rel_id=3),
    ])

    @schema
    class Plugins(dj.Manual):
        definition = f"""
        # add-on codecs djfs does not know (defined in dj2env.py)
        plugin_id : int32
        ---
        stack = null : <labstack@{S}>
        note = null : <labnote>
        """

    insert_each(Plugins, [
        dict(plugin_id=1, stack=tree, note="a note, µ"),
        dict(plugin_id=2, stack=notes, note=""),
        dict(plugin_id=3),
    ])

    # Hidden columns the mount must not show: `_prov` (json) on Session (provenance capture on while
    # it is declared and filled), `_job_start_time`, `_job_duration`, `_job_version` on Recording
    # and Analysis (job metadata on).
    dj.config["provenance.capture"] = True
    dj.config["jobs.add_job_metadata"] = True

    @schema
    class Session(dj.Manual):
        definition = """
        -> Subject
        session_idx : int16
        ---
        session_start : datetime
        notes = null : varchar(200)
        """

        class Trial(dj.Part):
            definition = """
            -> master
            trial : int32
            ---
            outcome : enum('hit', 'miss', 'false alarm')
            lick_times = null : <blob>
            """

    Session.insert([
        ("neuro", 1, 1, datetime.datetime(2026, 5, 1, 9, 30), "first"),
        ("neuro", 1, 2, datetime.datetime(2026, 5, 2, 9, 30), None),
        ("écologie µ", 2, 1, datetime.datetime(2026, 6, 1, 10, 0), "µ session"),
    ])
    Session.Trial.insert([
        ("neuro", 1, 1, 1, "hit", np.array([0.1, 0.25])),
        ("neuro", 1, 1, 2, "miss", None),
        ("neuro", 1, 2, 1, "false alarm", np.array([], dtype=np.float64)),
        ("écologie µ", 2, 1, 1, "hit", np.array([1.0])),
    ])

    @schema
    class Stimulus(dj.Lookup):
        definition = """
        stim : varchar(16)
        ---
        frequency : float64
        waveform : <blob>
        """
        contents = [
            ("tone", 440.0, np.sin(np.linspace(0, 2 * np.pi, 16))),
            ("noise", 0.0, np.arange(8, dtype=np.int8)),
        ]

    @schema
    class Recording(dj.Imported):
        definition = f"""
        -> Session
        -> Stimulus
        ---
        n_samples : int32
        trace : <npy@{S}>
        meta : json
        """

        class Channel(dj.Part):
            definition = f"""
            -> master
            channel : int16
            ---
            spikes : <blob@{L}>
            """

        def make(self, key):
            n = 10 + key["session_idx"] * (3 if key["stim"] == "tone" else 5)
            seed = (key["subject_id"] * 100 + key["session_idx"] * 10 + len(key["stim"]))
            trace = np.random.default_rng(seed).standard_normal(n).astype(np.float32)
            self.insert1(dict(key, n_samples=n, trace=trace, meta={"stim": key["stim"], "rate_hz": 30000}))
            self.Channel.insert([dict(key, channel=c, spikes=np.arange(c + 1, dtype=np.int32)) for c in range(2)])

    @schema
    class Analysis(dj.Computed):
        definition = f"""
        -> Recording
        ---
        mean : float64
        report = null : <attach@{L}>
        figure = null : <object@{S}>
        """

        def make(self, key):
            trace = (Recording & key).fetch1("trace").load()
            report = write(os.path.join(tmp, "reports", f"{key['subject_id']}-{key['session_idx']}-{key['stim']}",
                                        "report.txt"), f"mean {float(trace.mean())!r}\n".encode())
            figure = (".png", png_bytes(8, 6, int(key["subject_id"]))) if key["stim"] == "tone" else None
            self.insert1(dict(key, mean=float(trace.mean()), report=report, figure=figure))

    Recording.populate(reserve_jobs=True)  # with the jobs tables ~~recording, ~~analysis (hidden)
    Analysis.populate(reserve_jobs=True)
    dj.config["provenance.capture"] = False
    dj.config["jobs.add_job_metadata"] = False
    return schema


# ================================================================================ MySQL family

def make_mysql(schema_name, tmp):
    schema = dj.Schema(schema_name)

    @schema
    class Lab(dj.Lookup):
        definition = """
        lab : varchar(40)
        ---
        lab_title : varchar(120)
        """
        contents = [("neuro", "Neuroscience"), ("écologie µ", "Écologie & µ-biologie 🧪"), ("a/b,c=d%e", "awkward")]

    @schema
    class Scalars(dj.Manual):
        definition = """
        # every 2.x core type (json too: MariaDB reports it as longtext, the comment says json)
        -> Lab
        scalar_id : int16
        ---
        i8 : int8
        i16 : int16
        i32 : int32
        i64 : int64
        f32 : float32
        f64 : float64
        flag : bool
        u = null : uuid
        doc = null : json
        raw = null : bytes
        name = null : varchar(64)
        code = null : char(4)
        day = null : date
        moment = null : datetime
        moment_ms = null : datetime(3)
        amount = null : decimal(10,3)
        color = null : enum('red', 'green', 'ultra violet')
        """

    insert_each(Scalars, [
        dict(lab="neuro", scalar_id=1, i8=-128, i16=-32768, i32=-2147483648, i64=-9223372036854775808, f32=1.5,
             f64=-2.25e-300, flag=True, u="6ba7b810-9dad-11d1-80b4-00c04fd430c8", raw=b"\x00\x01\xff\n",
             doc={"a": [1, 2.5, None, True], "b": {"c": "µ"}},
             name="Ünïcødé ✓", code="ABCD", day=datetime.date(2026, 2, 28), moment=datetime.datetime(2026, 10, 1, 13, 14, 15),
             moment_ms=datetime.datetime(2026, 10, 1, 13, 14, 15, 123000), amount=Decimal("-1234567.891"),
             color="ultra violet"),
        dict(lab="écologie µ", scalar_id=2, i8=127, i16=32767, i32=2147483647, i64=9223372036854775807, f32=-3.5,
             f64=1.7976931348623157e308, flag=False, raw=b"", name="", code="x", day=datetime.date(1970, 1, 1),
             amount=Decimal("0.001"), color="red"),
        dict(lab="a/b,c=d%e", scalar_id=3, i8=0, i16=0, i32=0, i64=0, f32=0.0, f64=0.0, flag=False),
    ])

    rng = np.random.default_rng(7)
    resume = write(os.path.join(tmp, "my", "a", "résumé µ.txt"), "Ünïcødé contents\n".encode())
    empty = write(os.path.join(tmp, "my", "b", "empty.dat"), b"")
    photo = write(os.path.join(tmp, "my", "c", "photo.png"), png_bytes(12, 9, 3))

    @schema
    class Blobs(dj.Manual):
        definition = """
        blob_id : int32
        ---
        value : <blob>
        doc = null : <attach>
        """

    insert_each(Blobs, [
        dict(blob_id=1, value=image_rgb(12, 16), doc=resume),
        dict(blob_id=2, value={"k": [1, 2], "s": "µ"}, doc=empty),
        dict(blob_id=3, value=rng.random((4, 4)), doc=photo),
        dict(blob_id=4, value="plain string"),
    ])

    @schema
    class Session(dj.Manual):
        definition = """
        -> Lab
        session_idx : int16
        ---
        started : datetime
        """

        class Trial(dj.Part):
            definition = """
            -> master
            trial : int32
            ---
            response : <blob>
            """

    Session.insert([("neuro", 1, datetime.datetime(2026, 5, 1, 9, 30)), ("écologie µ", 1, datetime.datetime(2026, 5, 2))])
    Session.Trial.insert([("neuro", 1, 1, np.array([1, 2, 3])), ("neuro", 1, 2, {"miss": True}),
                          ("écologie µ", 1, 1, np.eye(2))])

    @schema
    class Summary(dj.Computed):
        definition = """
        -> Session
        ---
        n_trials : int32
        responses : <blob>
        """

        def make(self, key):
            rows = (Session.Trial & key).to_dicts()
            self.insert1(dict(key, n_trials=len(rows), responses=[r["trial"] for r in rows]))

    Summary.populate(reserve_jobs=True)  # with the jobs table ~~summary (hidden)
    return schema


# ================================================================================ main

def summary(schema):
    print(f"schema `{schema.database}`:")
    for table_name in schema.list_tables():
        if table_name.startswith("~"):
            continue
        tbl = dj.FreeTable(schema.connection, schema.connection.adapter.make_full_table_name(schema.database, table_name))
        print(f"  {table_name:28} {len(tbl):3d} rows")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("schema")
    ap.add_argument("--backend", choices=["postgresql", "mysql"], default="postgresql")
    ap.add_argument("--store-root", metavar="DIR", help="folder of the `local` store (PostgreSQL; required there)")
    ap.add_argument("--config-out", metavar="FILE", required=True, help="write the datajoint.json here")
    args = ap.parse_args()

    if args.backend == "postgresql":
        if not args.store_root:
            ap.error("--store-root is required with --backend postgresql")
        db, stores = dj2env.pg_settings(), dj2env.stores_config(args.store_root)
    else:
        db, stores = dj2env.mysql_settings(), None
    conf = dj2env.config_dict(db, stores)
    dj2env.apply_config(conf)

    if args.schema in dj.list_schemas():
        dj.Schema(args.schema, create_schema=False).drop(prompt=False)
    if stores:
        dj2env.ensure_stores(stores)
        for name, spec in stores.items():
            if isinstance(spec, dict):
                for prefix in (spec.get("hash_prefix", "_hash"), spec.get("schema_prefix", "_schema"), "files"):
                    rel = f"{prefix}/{args.schema}"
                    dj2env.remove_store_prefix(spec, rel)

    with tempfile.TemporaryDirectory(prefix="djfs-v2ref-") as tmp:
        if args.backend == "postgresql":
            schema = make_postgres(args.schema, tmp, stores)
        else:
            schema = make_mysql(args.schema, tmp)
    dj2env.write_config(args.config_out, conf)
    summary(schema)
    print(f"config: {args.config_out}")


if __name__ == "__main__":
    main()
