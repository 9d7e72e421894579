"""The benchmark's PostgreSQL table (W1pg, W2pg), made and timed with the DataJoint 2.x client.

Run with the 2.x client's Python ($DJFS_PY2) by bench/bench.py:

    pg_items.py make ROWS --config-out FILE   schema `djfs_bench_pg`, table Item of ROWS rows (kept
                                              when it already has ROWS rows); writes FILE, the
                                              datajoint.json djfs mounts it with
    pg_items.py time REPS --config FILE       median seconds of the client's keys() and of its
                                              to_arrays() of the non-blob attributes, as JSON
    pg_items.py big MIB --store-root DIR --config-out FILE
                                              W3pg: schema `djfs_bench_pg_big`, one row of Big
                                              whose <attach@shared> `doc` and <object@shared>
                                              `obj` hold the same MIB MiB file big.bin (S3 on
                                              the private s3s-fs; kept when already that size);
                                              prints their metadata paths as JSON
    pg_items.py fetch REPS --config FILE      W3pg: median seconds of the client's fetch1 of
                                              `doc` (downloaded) and of reading `obj` whole
    pg_items.py upload-make --store-root DIR --config-out FILE
                                              W7pg: schema `djfs_bench_pg_upload`, table Upload
                                              (upload_id, `f` <attach@shared>), made afresh (its
                                              objects from earlier runs removed)
    pg_items.py upload-time REPS SRC --config FILE
                                              W7pg: median seconds of the client's insert1 of SRC
                                              into a new row (a new hard-linked name each time,
                                              so every insert stores a new object), as JSON
    pg_items.py upload-check ID NAME SIZE --config FILE
                                              W7pg: the client's fetch1 of row ID (its hash check
                                              included) gives a file NAME of SIZE bytes; exit 1
                                              saying why otherwise

Item has the shape of the MariaDB benchmark's Item (bench.py), so that its djfs tree has the same
names and sizes as the plain folder W1/W2 compare with: item_id, label, value, count, small
(a 10-element int32 array: small.npy) and doc (a 256-byte attachment doc_N.txt: doc/doc_N.txt).
Here `doc` is an in-table `<attach>` (the MariaDB table's is attach@local): W1pg/W2pg time
listings, which read no attachment bytes. Connection from DJFS_PG_* (tests/python/dj2env.py).
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "python"))

import dj2env  # noqa: E402  (drops DJ_* before importing datajoint)
import datajoint as dj  # noqa: E402
import numpy as np  # noqa: E402

SCHEMA = "djfs_bench_pg"


def define(schema):
    @schema
    class Item(dj.Manual):
        definition = """
        item_id : int32
        ---
        label : varchar(32)
        value : float64
        count : int32
        small : <blob>
        doc : <attach>
        """

    return Item


def make(rows, config_out):
    conf = dj2env.config_dict(dj2env.pg_settings())
    dj2env.apply_config(conf)
    dj2env.write_config(config_out, conf)
    schema = dj.Schema(SCHEMA)
    Item = define(schema)
    if len(Item()) == rows:
        print(f"{SCHEMA}.Item has {rows} rows (kept)", flush=True)
        return
    print(f"making {SCHEMA}.Item ({rows} rows) with the 2.x client", flush=True)
    schema.drop(prompt=False)
    Item = define(dj.Schema(SCHEMA))
    rng = np.random.default_rng(0)
    t = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="djfs-bench-pg-") as work:
        batch = []
        for i in range(rows):
            path = os.path.join(work, f"doc_{i}.txt")
            with open(path, "wb") as f:
                f.write(rng.bytes(256))
            batch.append(dict(item_id=i, label=f"item {i}", value=i * 0.5, count=i,
                              small=np.arange(10, dtype=np.int32) + i, doc=path))
            if len(batch) == 1000:
                Item.insert(batch)
                batch = []
        if batch:
            Item.insert(batch)
    print(f"  inserted in {time.perf_counter() - t:.1f} s", flush=True)


BIG_SCHEMA = "djfs_bench_pg_big"


def define_big(schema):
    @schema
    class Big(dj.Manual):
        definition = """
        big_id : int32
        ---
        doc : <attach@shared>
        obj : <object@shared>
        """

    return Big


def make_big(mib, store_root, config_out):
    stores = dj2env.stores_config(store_root)
    conf = dj2env.config_dict(dj2env.pg_settings(), stores)
    dj2env.ensure_stores(stores)
    dj2env.apply_config(conf)
    dj2env.write_config(config_out, conf)
    Big = define_big(dj.Schema(BIG_SCHEMA))
    size = mib << 20
    # Kept when the stored metadata says so (fetching would download the 256 MiB attachment).
    if not (_meta("doc").get("size") == size + len(b"big.bin\0") and _meta("obj").get("size") == size):
        print(f"making {BIG_SCHEMA}.Big ({mib} MiB objects on S3) with the 2.x client", flush=True)
        dj.Schema(BIG_SCHEMA).drop(prompt=False)
        Big = define_big(dj.Schema(BIG_SCHEMA))
        with tempfile.TemporaryDirectory(prefix="djfs-bench-pg-big-") as work:
            path = os.path.join(work, "big.bin")
            with open(path, "wb") as f:
                rng = np.random.default_rng(1)
                for _ in range(mib):
                    f.write(rng.bytes(1 << 20))
            Big.insert1(dict(big_id=1, doc=path, obj=path))
    print(json.dumps(dict(doc=_meta("doc"), obj=_meta("obj"))))


def _meta(attr):
    """The stored JSON metadata of `attr` in row 1, read by SQL (not decoded)."""
    conn = dj.conn()
    rows = conn.query(f'SELECT "{attr}" FROM "{BIG_SCHEMA}"."big" WHERE big_id = 1').fetchall()
    if not rows or rows[0][0] is None:
        return {}
    value = rows[0][0]
    return value if isinstance(value, dict) else json.loads(value)


def time_fetch(reps, config):
    dj2env.apply_config(dj2env.load_config(config))
    Big = define_big(dj.Schema(BIG_SCHEMA, create_schema=False))
    with tempfile.TemporaryDirectory(prefix="djfs-bench-pg-fetch-") as work:
        def fetch_doc():
            with dj.config.override(download_path=work):
                path = (Big & "big_id=1").fetch1("doc")
            os.remove(path)

        def read_obj():
            ref = (Big & "big_id=1").fetch1("obj")
            with ref.open(mode="rb") as f:
                while f.read(8 << 20):
                    pass

        print(json.dumps(dict(doc=timed(fetch_doc, reps), obj=timed(read_obj, reps))))


UPLOAD_SCHEMA = "djfs_bench_pg_upload"


def define_upload(schema):
    @schema
    class Upload(dj.Manual):
        definition = """
        upload_id : int32
        ---
        f : <attach@shared>
        """

    return Upload


def make_upload(store_root, config_out):
    stores = dj2env.stores_config(store_root)
    conf = dj2env.config_dict(dj2env.pg_settings(), stores)
    dj2env.ensure_stores(stores)
    dj2env.apply_config(conf)
    dj2env.write_config(config_out, conf)
    # Afresh each run: the earlier runs' uploads (--big-mib MiB each) would pile up in S3.
    if UPLOAD_SCHEMA in dj.list_schemas():
        dj.Schema(UPLOAD_SCHEMA, create_schema=False).drop(prompt=False)
    dj2env.remove_store_prefix(stores[dj2env.STORE_S3], f"_hash/{UPLOAD_SCHEMA}")
    define_upload(dj.Schema(UPLOAD_SCHEMA))


def time_upload(reps, src, config):
    dj2env.apply_config(dj2env.load_config(config))
    Upload = define_upload(dj.Schema(UPLOAD_SCHEMA, create_schema=False))
    with tempfile.TemporaryDirectory(prefix="djfs-bench-pg-upload-", dir=os.path.dirname(src)) as links:
        def insert():
            name = os.path.join(links, f"w7pg-client-{time.time_ns()}.bin")
            os.link(src, name)
            Upload.insert1(dict(upload_id=time.time_ns() % (1 << 31), f=name))

        print(json.dumps(dict(insert1=timed(insert, reps))))


def check_upload(upload_id, name, size, config):
    dj2env.apply_config(dj2env.load_config(config))
    Upload = define_upload(dj.Schema(UPLOAD_SCHEMA, create_schema=False))
    with tempfile.TemporaryDirectory(prefix="djfs-bench-pg-check-") as work:
        with dj.config.override(download_path=work):
            path = (Upload & {"upload_id": upload_id}).fetch1("f")
        got = (os.path.basename(path), os.path.getsize(path))
    if got != (name, size):
        sys.exit(f"row {upload_id}: the client fetched {got}, djfs wrote {(name, size)}")


def timed(fn, reps):
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def time_client(reps, config):
    dj2env.apply_config(dj2env.load_config(config))
    Item = define(dj.Schema(SCHEMA, create_schema=False))
    keys = timed(lambda: Item.keys(), reps)
    nonblob = timed(lambda: Item.proj("label", "value", "count").to_arrays(), reps)
    print(json.dumps(dict(keys=keys, nonblob=nonblob)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="mode", required=True)
    m = sub.add_parser("make")
    m.add_argument("rows", type=int)
    m.add_argument("--config-out", required=True)
    t = sub.add_parser("time")
    t.add_argument("reps", type=int)
    t.add_argument("--config", required=True)
    b = sub.add_parser("big")
    b.add_argument("mib", type=int)
    b.add_argument("--store-root", required=True)
    b.add_argument("--config-out", required=True)
    f = sub.add_parser("fetch")
    f.add_argument("reps", type=int)
    f.add_argument("--config", required=True)
    um = sub.add_parser("upload-make")
    um.add_argument("--store-root", required=True)
    um.add_argument("--config-out", required=True)
    ut = sub.add_parser("upload-time")
    ut.add_argument("reps", type=int)
    ut.add_argument("src")
    ut.add_argument("--config", required=True)
    uc = sub.add_parser("upload-check")
    uc.add_argument("upload_id", type=int)
    uc.add_argument("name")
    uc.add_argument("size", type=int)
    uc.add_argument("--config", required=True)
    args = ap.parse_args()
    if args.mode == "make":
        make(args.rows, args.config_out)
    elif args.mode == "big":
        make_big(args.mib, args.store_root, args.config_out)
    elif args.mode == "fetch":
        time_fetch(args.reps, args.config)
    elif args.mode == "upload-make":
        make_upload(args.store_root, args.config_out)
    elif args.mode == "upload-time":
        time_upload(args.reps, args.src, args.config)
    elif args.mode == "upload-check":
        check_upload(args.upload_id, args.name, args.size, args.config)
    else:
        time_client(args.reps, args.config)


if __name__ == "__main__":
    main()
