#!/usr/bin/env python
"""Writes of DataJoint 2.x stored values through djfs, checked with the real 2.x client (datajoint
2.3.5, run with $DJFS_PY2). tests/postgres_writes.rs drives it.

    v2_writes.py make SCHEMA --store-root DIR --config-out FILE
        drops SCHEMA and its objects, declares the tables below with the client, inserts rows
    v2_writes.py expect SCHEMA --config FILE TABLE KEY ATTR=KIND:PATH[:NAME] ...
        the client fetches row KEY (a JSON object) and compares each ATTR with the file PATH:
          blob-npy  fetch1 equals what the client gives back for np.load(PATH) (dtype, shape,
                    values; NaN and NaT equal)
          blob-raw  fetch1 equals the client's unpack of PATH's bytes
          attach    the downloaded file is named NAME and holds PATH's bytes
          hash      fetch1 gives PATH's bytes
          npy       the NpyRef loads to np.load(PATH) exactly; its metadata dtype/shape agree
          object    the ObjectRef reads PATH's bytes; ext is NAME's suffix
        Fetching checks every hash-addressed object against its hash (the client's own check).
        Each value's stored metadata (read by SQL) is also checked against what 2.3.5 writes:
        its keys and their types, `schema`/`store`, the hash of the object read from its store,
        and its path against the client's own builders (`build_hash_path`, and
        `build_object_path` with the row's key as the client fetches it and the same token).
        Prints {"checked": n} (exit 0) or each failure (exit 1).
    v2_writes.py check-all SCHEMA --config FILE
        every row of every table fetched and every stored value read in full (hash-addressed ones
        checked against their hash; npy loaded; object files read and their size checked against
        the metadata): no row references a missing or partial object. Prints {"rows": n,
        "values": n} (exit 0) or each failure (exit 1).
    v2_writes.py dump SCHEMA --config FILE TABLE KEY
        the row as rowdump.normalize gives it, attachments downloaded ({"name", "sha256",
        "size"}), as JSON.
    v2_writes.py sql SCHEMA --config FILE STATEMENT [PARAMS_JSON]
        rows of one SQL statement, as JSON.

Tables (`make`):
  Stored     item_id; label; every stored codec on `local` (folder) and `shared` (S3), nullable,
             and a <filepath@local>; row 1 with values by the client, row 2 all NULL, row 3 with
             a folder object
  Keyed      (subject varchar, session datetime) key; every codec in store `deep` (own prefixes,
             subfolding (2, 3), token_length 12) and <npy@>/<object@> in store `parted`
             (partition_pattern `{subject}`); one row with an awkward subject (`a/b c`), NULLs
  Required   req_id; a required <attach@shared> and <npy@local>: a new row is inserted once
             both are written
  Cross      id; label; score; <blob@shared>, <blob@local>, <attach@shared>, nullable
             <attach@local>: the same design as cross_014.py's 0.14 table
"""

import argparse
import datetime
import io
import json
import os
import re
import sys
import tempfile
from pathlib import PurePath

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dj2env  # noqa: E402  (before datajoint)
import rowdump  # noqa: E402

import datajoint as dj  # noqa: E402
import numpy as np  # noqa: E402
from datajoint.hash_registry import build_hash_path, compute_hash  # noqa: E402
from datajoint.storage import build_object_path  # noqa: E402

STORE_PARTED = "parted"


def stores_config(store_root):
    stores = dj2env.stores_config(store_root)
    stores[STORE_PARTED] = {"protocol": "file", "location": os.path.join(os.path.abspath(store_root), "parted"),
                            "partition_pattern": "{subject}"}
    return stores


def define(schema):
    L, S, D, P = dj2env.STORE_FILE, dj2env.STORE_S3, dj2env.STORE_DEEP, STORE_PARTED

    @schema
    class Stored(dj.Manual):
        definition = f"""
        item_id : int32
        ---
        label = "" : varchar(64)
        blob_local = null : <blob@{L}>
        blob_s3 = null : <blob@{S}>
        doc_local = null : <attach@{L}>
        doc_s3 = null : <attach@{S}>
        raw_local = null : <hash@{L}>
        raw_s3 = null : <hash@{S}>
        arr_local = null : <npy@{L}>
        arr_s3 = null : <npy@{S}>
        obj_local = null : <object@{L}>
        obj_s3 = null : <object@{S}>
        fp_local = null : <filepath@{L}>
        """

    @schema
    class Keyed(dj.Manual):
        definition = f"""
        subject : varchar(32)
        session : datetime
        ---
        blob = null : <blob@{D}>
        doc = null : <attach@{D}>
        raw = null : <hash@{D}>
        arr = null : <npy@{D}>
        obj = null : <object@{D}>
        arr_p = null : <npy@{P}>
        obj_p = null : <object@{P}>
        """

    @schema
    class Required(dj.Manual):
        definition = f"""
        req_id : int32
        ---
        doc : <attach@{S}>
        arr : <npy@{L}>
        """

    @schema
    class Cross(dj.Manual):
        definition = f"""
        id : int32
        ---
        label : varchar(64)
        score : float64
        b_s3 : <blob@{S}>
        b_local : <blob@{L}>
        doc_s3 : <attach@{S}>
        doc_local = null : <attach@{L}>
        """

    return dict(Stored=Stored, Keyed=Keyed, Required=Required, Cross=Cross)


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return path


def make(name, store_root, config_out):
    stores = stores_config(store_root)
    conf = dj2env.config_dict(dj2env.pg_settings(), stores)
    dj2env.apply_config(conf)
    if name in dj.list_schemas():
        dj.Schema(name, create_schema=False).drop(prompt=False)
    dj2env.ensure_stores(stores)
    for store in stores.values():
        if isinstance(store, dict):
            for prefix in ("_hash", "_schema", "objects/by-hash", "objects/by-key", "files"):
                dj2env.remove_store_prefix(store, f"{prefix}/{name}")
    tables = define(dj.Schema(name))
    rng = np.random.default_rng(16)
    with tempfile.TemporaryDirectory(prefix="djfs-v2w-") as tmp:
        doc = write(os.path.join(tmp, "old notes.txt"), b"the client's attachment\n")
        obj = write(os.path.join(tmp, "old.csv"), b"a,b\n1,2\n")
        from datajoint.hash_registry import get_store_backend
        get_store_backend(dj2env.STORE_FILE).put_buffer(b"the user's own file\n", f"files/{name}/own.txt")
        tables["Stored"].insert1(dict(
            fp_local=f"files/{name}/own.txt",
            item_id=1, label="by the client", blob_local=rng.standard_normal((3, 4)), blob_s3={"a": [1, 2]},
            doc_local=doc, doc_s3=doc, raw_local=b"old raw bytes\n", raw_s3=b"old raw bytes\n",
            arr_local=np.arange(6, dtype=np.int16).reshape(2, 3), arr_s3=np.zeros(3), obj_local=obj, obj_s3=obj))
        tables["Stored"].insert1(dict(item_id=2, label="nulls"))
        folder = os.path.join(tmp, "tree")
        write(os.path.join(folder, "a.txt"), b"a\n")
        write(os.path.join(folder, "sub", "b.txt"), b"b\n")
        tables["Stored"].insert1(dict(item_id=3, label="folder object", obj_local=folder))
        tables["Keyed"].insert1(dict(subject="a/b c", session=datetime.datetime(2024, 5, 6, 7, 8, 9)))
        x = write(os.path.join(tmp, "x.bin"), rng.bytes(1000))
        tables["Cross"].insert1(dict(id=1, label="made by 2.x", score=0.25, b_s3=rng.standard_normal(5),
                                     b_local={"k": "v", "n": [1, 2, 3]}, doc_s3=x))
    dj2env.write_config(config_out, conf)
    print(json.dumps({"schema": name, "tables": sorted(tables)}))


def connect(name, config):
    dj2env.apply_config(dj2env.load_config(config))
    return define(dj.Schema(name, create_schema=False))


def stored_metadata(table, key, attr):
    """The column's metadata as stored (a dict), read by SQL."""
    cond = " AND ".join(f'"{k}" = %s' for k in key)
    rows = dj.conn().query(f'SELECT "{attr}" FROM {table.full_table_name} WHERE {cond}',
                           args=list(key.values())).fetchall()
    value = rows[0][0]
    return value if isinstance(value, dict) or value is None else json.loads(value)


def equal_arrays(a, b):
    return (a.dtype == b.dtype and a.shape == b.shape
            and np.array_equal(a, b, equal_nan=a.dtype.kind in "fcmM"))


def check_metadata(failures, table, key, attr, meta, obj_bytes, ext=None):
    """`meta` against the rules of 2.3.5 for the attribute's codec."""
    heading = table.heading.attributes[attr]
    codec, store = heading.codec.name, heading.store
    spec = dj.config.get_store_spec(store)
    schema = table.database
    where = f"{table.__name__} {key} {attr}"
    want_keys = {
        "blob": {"hash", "path", "schema", "store", "size"},
        "attach": {"hash", "path", "schema", "store", "size"},
        "hash": {"hash", "path", "schema", "store", "size"},
        "npy": {"path", "store", "dtype", "shape"},
        "object": {"path", "store", "size", "ext", "is_dir", "item_count", "timestamp"},
    }[codec]
    if set(meta) != want_keys:
        failures.append(f"{where}: metadata keys {sorted(meta)}, 2.3.5 writes {sorted(want_keys)}")
        return
    if meta["store"] != store:
        failures.append(f"{where}: store {meta['store']!r}, the column's is {store!r}")
    if codec in ("blob", "attach", "hash"):
        want_hash = compute_hash(obj_bytes)
        sub = tuple(spec["subfolding"]) if spec.get("subfolding") else None
        want_path = build_hash_path(want_hash, schema, sub, hash_prefix=spec["hash_prefix"])
        for k, want in (("hash", want_hash), ("path", want_path), ("schema", schema), ("size", len(obj_bytes))):
            if meta[k] != want or type(meta[k]) is not type(want):
                failures.append(f"{where}: {k} {meta[k]!r}, 2.3.5 writes {want!r}")
        return
    # Schema-addressed: the client's own path for this row, with the token djfs drew.
    pk = (table & key).fetch1("KEY")
    if codec == "npy":
        ext = ".npy"
    sample, token = build_object_path(schema, table.table_name, attr, pk, ext, spec.get("partition_pattern"),
                                      spec["token_length"], schema_prefix=spec["schema_prefix"])
    n = spec["token_length"]
    pattern = re.escape(sample).replace(re.escape(token), f"[A-Za-z0-9_-]{{{max(4, min(16, n))}}}")
    if not re.fullmatch(pattern, meta["path"]):
        failures.append(f"{where}: path {meta['path']!r} is not the client's {sample!r} (token aside)")
    if codec == "npy":
        arr = np.load(io.BytesIO(obj_bytes), allow_pickle=False)
        if meta["dtype"] != str(arr.dtype) or meta["shape"] != list(arr.shape):
            failures.append(f"{where}: dtype/shape {meta['dtype']!r} {meta['shape']!r}, the object holds "
                            f"{arr.dtype} {list(arr.shape)}")
    else:
        if meta["size"] != len(obj_bytes) or type(meta["size"]) is not int:
            failures.append(f"{where}: size {meta['size']!r}, the object has {len(obj_bytes)} bytes")
        if meta["ext"] != ext or meta["is_dir"] is not False or meta["item_count"] is not None:
            failures.append(f"{where}: ext/is_dir/item_count {meta['ext']!r} {meta['is_dir']!r} "
                            f"{meta['item_count']!r}, want {ext!r} False None")
        try:
            ts = datetime.datetime.fromisoformat(meta["timestamp"])
            if ts.utcoffset() != datetime.timedelta(0):
                failures.append(f"{where}: timestamp {meta['timestamp']!r} is not UTC")
        except (TypeError, ValueError):
            failures.append(f"{where}: timestamp {meta['timestamp']!r} is not ISO 8601")


def read_object(meta, store):
    spec = dj.config.get_store_spec(store)
    return dj2env.read_store_object(spec, meta["path"])


def expect(name, config, table_name, key_text, specs):
    tables = connect(name, config)
    table = tables[table_name]
    key = json.loads(key_text)
    failures = []
    with tempfile.TemporaryDirectory(prefix="djfs-v2w-fetch-") as dl:
        for item in specs:
            attr, rest = item.split("=", 1)
            kind, _, path_name = rest.partition(":")
            path, _, fname = path_name.partition(":")
            where = f"{table_name} {key} {attr}"
            with open(path, "rb") as f:
                want = f.read()
            try:
                with dj.config.override(download_path=dl):
                    got = (table & key).fetch1(attr)
            except Exception as e:  # the client's own checks (hash, missing object) fail here
                failures.append(f"{where}: the client's fetch failed: {type(e).__name__}: {e}")
                continue
            meta = stored_metadata(table, key, attr)
            store = table.heading.attributes[attr].store
            try:
                obj = read_object(meta, store)
            except Exception as e:
                failures.append(f"{where}: the object at {meta.get('path')!r} cannot be read: {e}")
                continue
            ext = None
            if kind == "blob-npy":
                # What the client itself gives back for this array (pack, then unpack: a 0-d
                # array comes back a numpy scalar).
                arr = np.load(path, allow_pickle=False)
                own = dj.blob.unpack(dj.blob.pack(arr), squeeze=False)
                same = rowdump.normalize(got) == rowdump.normalize(own)
                if not same or (isinstance(got, np.ndarray) and not equal_arrays(got, arr)):
                    failures.append(f"{where}: fetched {rowdump.normalize(got)}, written {rowdump.normalize(arr)}")
            elif kind == "blob-raw":
                if rowdump.normalize(got) != rowdump.normalize(dj.blob.unpack(want, squeeze=False)):
                    failures.append(f"{where}: fetched {rowdump.normalize(got)} differs from the written blob")
            elif kind == "attach":
                with open(got, "rb") as f:
                    data = f.read()
                if os.path.basename(got) != fname or data != want:
                    failures.append(f"{where}: fetched {os.path.basename(got)!r} ({len(data)} bytes), written "
                                    f"{fname!r} ({len(want)} bytes)")
            elif kind == "hash":
                if bytes(got) != want:
                    failures.append(f"{where}: fetched {len(got)} bytes, written {len(want)}")
            elif kind == "npy":
                arr = np.load(path, allow_pickle=False)
                loaded = got.load()
                if not equal_arrays(loaded, arr) or got.shape != arr.shape or got.dtype != arr.dtype:
                    failures.append(f"{where}: loaded {loaded.dtype} {loaded.shape}, written {arr.dtype} {arr.shape}")
                if obj != want:
                    failures.append(f"{where}: the stored .npy is not the written file")
            elif kind == "object":
                ext = PurePath(fname).suffix
                data = got.read()
                if data != want:
                    failures.append(f"{where}: the object reads {len(data)} bytes, written {len(want)}")
            else:
                raise SystemExit(f"unknown kind {kind}")
            check_metadata(failures, table, key, attr, meta, obj, ext)
    finish(failures, {"checked": len(specs)})


def check_all(name, config):
    tables = connect(name, config)
    failures = []
    rows = values = 0
    with tempfile.TemporaryDirectory(prefix="djfs-v2w-all-") as dl:
        for tname, table in tables.items():
            for key in table.keys():
                rows += 1
                for attr, heading in table.heading.attributes.items():
                    if heading.codec is None or heading.store is None:
                        continue
                    where = f"{tname} {key} {attr}"
                    try:
                        with dj.config.override(download_path=dl):
                            got = (table & key).fetch1(attr)
                        if got is None:
                            continue
                        values += 1
                        meta = stored_metadata(table, key, attr)
                        if heading.codec.name == "npy":
                            got.load()
                        elif heading.codec.name == "object":
                            if got.is_dir:
                                continue
                            if len(got.read()) != meta["size"]:
                                failures.append(f"{where}: the object is not {meta['size']} bytes")
                    except Exception as e:
                        failures.append(f"{where}: {type(e).__name__}: {e}")
    finish(failures, {"rows": rows, "values": values})


def dump(name, config, table_name, key_text):
    tables = connect(name, config)
    table = tables[table_name]
    key = json.loads(key_text)
    out = {}
    with tempfile.TemporaryDirectory(prefix="djfs-v2w-dump-") as dl:
        with dj.config.override(download_path=dl):
            row = (table & key).fetch1()
        for attr, value in row.items():
            heading = table.heading.attributes[attr]
            codec = heading.codec.name if heading.codec is not None else None
            if value is None:
                out[attr] = None
            elif codec == "attach":
                out[attr] = rowdump.attachment(value)
            elif codec == "npy":
                out[attr] = rowdump.normalize(value.load())
            elif codec in ("object", "filepath"):
                out[attr] = {"ext": value.ext, "is_dir": value.is_dir,
                             "bytes": None if value.is_dir else rowdump.normalize(value.read())}
            else:
                out[attr] = rowdump.normalize(value)
    print(json.dumps(out, sort_keys=True))


def sql(name, config, statement, params):
    connect(name, config)
    rows = dj.conn().query(statement, args=json.loads(params)).fetchall()
    print(json.dumps([list(r) for r in rows], default=str))


def finish(failures, summary):
    for f in failures:
        print("FAIL", f)
    if failures:
        sys.exit(1)
    print(json.dumps(summary))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="mode", required=True)
    m = sub.add_parser("make")
    m.add_argument("schema")
    m.add_argument("--store-root", required=True)
    m.add_argument("--config-out", required=True)
    for mode in ("expect", "check-all", "dump", "sql"):
        p = sub.add_parser(mode)
        p.add_argument("schema")
        p.add_argument("--config", required=True)
        if mode in ("expect", "dump"):
            p.add_argument("table")
            p.add_argument("key")
        if mode == "expect":
            p.add_argument("specs", nargs="+")
        if mode == "sql":
            p.add_argument("statement")
            p.add_argument("params", nargs="?", default="[]")
    args = ap.parse_args()
    if args.mode == "make":
        make(args.schema, args.store_root, args.config_out)
    elif args.mode == "expect":
        expect(args.schema, args.config, args.table, args.key, args.specs)
    elif args.mode == "check-all":
        check_all(args.schema, args.config)
    elif args.mode == "dump":
        dump(args.schema, args.config, args.table, args.key)
    else:
        sql(args.schema, args.config, args.statement, args.params)


if __name__ == "__main__":
    main()
