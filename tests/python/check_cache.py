#!/usr/bin/env python
"""Check that djfs fills DataJoint's blob cache the way the client (datajoint 0.14.10) reads it.

    check_cache.py CONFIG SCHEMA [--mount DIR] [--cache DIR] [-v]

CONFIG is the DataJoint config JSON djfs was mounted with (e.g. from make_external.py --config-out
... --cache DIR); its `cache` is the folder checked (or --cache DIR).
  1. With the stores up and no cache, the client fetches every external blob (`blob@store`
     attributes of every table of SCHEMA): the expected values.
  2. With --mount DIR (the schema's folder in a djfs mount: MOUNT, or MOUNT/SCHEMA for a mount of
     all schemas) every external blob is read through the mount (`<row>/<attr>.npy` or `.blob`).
     Without --mount, the blobs are taken to have been read already (e.g. by check_mount.py).
  3. For each blob read: the cache holds `<cache>/<hex[0:2]>/<hex[2:4]>/<hex>` whose bytes are the
     stored object (MD5 == hash, bytes == the object read from the store).
  4. The stores are made unreachable in the client's config (S3 endpoints on a closed local port,
     folder locations an empty folder); a fetch without the cache must fail (proves it), then every
     external blob is fetched with the cache and must equal the values of step 1.
Prints every mismatch, then `N passed, M failed`; exits 1 on any failure. The stores themselves are
never modified.
"""

import argparse
import copy
import hashlib
import os
import re
import socket
import sys
import tempfile
import traceback

os.environ.setdefault("DJ_SUPPORT_FILEPATH_MANAGEMENT", "TRUE")  # let the client read filepath headings

import datajoint as dj  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_mount as cm  # noqa: E402
import djenv  # noqa: E402

HEX_RE = re.compile(r"^[0-9a-f]{32}$")


class Result:
    def __init__(self, verbose):
        self.verbose, self.passed, self.failures = verbose, 0, []

    def ok(self, cond, where, msg):
        if cond:
            self.passed += 1
            if self.verbose:
                print(f"ok   {where}: {msg}")
        else:
            self.failures.append(f"{where}: {msg}")
            print(f"FAIL {where}: {msg}", flush=True)
        return cond


def same_value(a, b):
    """Deep, bitwise equality of two fetched blob values."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
            return False
        if a.dtype != b.dtype or a.shape != b.shape:
            return False
        if a.dtype.hasobject:
            return all(same_value(x, y) for x, y in zip(a.ravel(order="K"), b.ravel(order="K")))
        return np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()
    if isinstance(a, np.generic) or isinstance(b, np.generic):
        return type(a) is type(b) and np.asarray(a).tobytes() == np.asarray(b).tobytes()
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True
    return type(a) is type(b) and a == b


class ExternalBlob:
    def __init__(self, table, folder, row_name, key, attr, store, hash_bytes, value):
        self.table, self.folder, self.row_name, self.key = table, folder, row_name, key
        self.attr, self.store, self.hash, self.value = attr, store, hash_bytes, value
        self.hex = hash_bytes.hex()

    @property
    def where(self):
        return f"{self.folder}/{self.row_name}/{self.attr}"


def external_blobs(conn, database):
    """Every non-NULL external blob of the schema, with the client's fetched value (cache off)."""
    schema = dj.Schema(database, create_schema=False)
    blobs = []
    for table_name in schema.list_tables():
        folder = cm.class_name(table_name)
        if folder is None:
            continue
        full = f"`{database}`.`{table_name}`"
        tbl = dj.FreeTable(conn, full)
        heading = tbl.heading
        attrs = [a for a in heading.secondary_attributes
                 if heading.attributes[a].is_external and heading.attributes[a].is_blob]
        if not attrs:
            continue
        pk = heading.primary_key
        raw_rows = conn.query(
            "SELECT {} FROM {}".format(",".join(f"`{a}`" for a in pk + attrs), full), as_dict=True
        ).fetchall()
        raw_by_key = {tuple(cm.normalize(r[a]) for a in pk): r for r in raw_rows}
        for value in tbl.proj(*attrs).fetch(as_dict=True):
            key = {a: value[a] for a in pk}
            raw = raw_by_key[tuple(cm.normalize(value[a]) for a in pk)]
            row_name = cm.shorten_name(cm.row_full_name(key, heading))
            for a in attrs:
                if raw[a] is not None:
                    blobs.append(ExternalBlob(table_name, folder, row_name, key, a,
                                              heading.attributes[a].store, bytes(raw[a]), value[a]))
    return blobs


def read_through_mount(res, root, blobs):
    """Read every external blob's file in the mount; returns the hashes read."""
    read = set()
    for b in blobs:
        row_dir = os.path.join(root, b.folder, b.row_name)
        paths = [os.path.join(row_dir, b.attr + ext) for ext in (".npy", ".blob")]
        path = next((p for p in paths if os.path.exists(p)), None)
        if not res.ok(path is not None, b.where, "an .npy or .blob file is listed for the external blob"):
            continue
        try:
            with open(path, "rb") as f:
                while f.read(1 << 20):
                    pass
        except OSError as e:
            res.ok(False, b.where, f"reading {os.path.basename(path)} through the mount failed: {e}")
            continue
        read.add(b.hash)
    return read


def cache_file(cache, hex_text):
    return os.path.join(cache, hex_text[0:2], hex_text[2:4], hex_text)


def check_cache_files(res, cache, blobs, read, stores):
    """The cache holds each read blob at the client's layout with the stored object's bytes."""
    clients = {}
    by_hash = {}
    for b in blobs:
        by_hash.setdefault(b.hash, b)
    for h in sorted(read):
        b = by_hash[h]
        path = cache_file(cache, b.hex)
        where = f"cache/{b.hex[0:2]}/{b.hex[2:4]}/{b.hex} ({b.where})"
        if not res.ok(os.path.isfile(path), where, "cache file exists"):
            continue
        with open(path, "rb") as f:
            data = f.read()
        res.ok(hashlib.md5(data).digest() == h, where, "MD5 of the cached bytes == the blob's hash")
        spec = stores.get(b.store)
        if spec is None:
            res.ok(False, where, f"store `{b.store}` not in the config")
            continue
        obj_path = djenv.object_path(spec, DATABASE, b.hex)
        try:
            size, md5, _ = djenv.store_object_digest(spec, obj_path, clients)
        except Exception as e:  # noqa: BLE001
            res.ok(False, where, f"cannot read the stored object {obj_path}: {e!r}")
            continue
        res.ok(size == len(data) and md5 == hashlib.md5(data).hexdigest(), where,
               f"cached bytes == the stored object {obj_path}")
    # Anything else in the cache: reported, not failed (other schemas share the cache).
    extra = []
    for dirpath, _, filenames in os.walk(cache):
        for name in filenames:
            rel = os.path.relpath(os.path.join(dirpath, name), cache)
            parts = rel.split(os.sep)
            if not (len(parts) == 3 and HEX_RE.match(name) and parts[0] == name[0:2] and parts[1] == name[2:4]):
                extra.append(rel)
    if extra:
        print(f"note: {len(extra)} files in the cache outside the client's layout, e.g. {extra[:5]}")


def closed_port():
    """A local TCP port nothing listens on (bound, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def offline_stores(stores, empty_dir):
    offline = copy.deepcopy(stores)
    port = closed_port()
    for spec in offline.values():
        if spec["protocol"].lower() == "s3":
            spec["endpoint"] = f"127.0.0.1:{port}"
        else:
            spec["location"] = empty_dir
    return offline


def fetch_one(conn, b):
    tbl = dj.FreeTable(conn, f"`{DATABASE}`.`{b.table}`")
    return (tbl & b.key).fetch1(b.attr)


def check_offline(res, cache, blobs, read, stores):
    """Stores unreachable: no-cache fetches fail, cached fetches equal the values fetched before."""
    with tempfile.TemporaryDirectory(prefix="djfs-empty-store-") as empty:
        dj.config["stores"] = offline_stores(stores, empty)
        dj.config["cache"] = None
        conn = dj.conn(reset=True)
        dj.Schema(DATABASE, create_schema=False)  # registers the schema (its external tables) with conn
        tried = set()
        for b in blobs:
            # One fetch per folder store; one for all S3 stores (they share the closed endpoint, and
            # the client's minio retries a refused connection for a few seconds each time).
            kind = "s3" if stores[b.store]["protocol"].lower() == "s3" else b.store
            if kind in tried or b.hash not in read:
                continue
            tried.add(kind)
            try:
                fetch_one(conn, b)
                res.ok(False, b.where, f"store `{b.store}` is offline: a fetch without the cache must fail")
            except Exception as e:  # noqa: BLE001
                res.ok(True, b.where, f"store `{b.store}` is offline (no-cache fetch fails: {type(e).__name__})")
        dj.config["cache"] = cache
        conn = dj.conn(reset=True)
        dj.Schema(DATABASE, create_schema=False)
        for b in blobs:
            if b.hash not in read:
                continue
            if not os.path.isfile(cache_file(cache, b.hex)):
                res.ok(False, b.where, "not fetched with the store offline: its cache file is missing")
                continue
            try:
                value = fetch_one(conn, b)
            except Exception as e:  # noqa: BLE001
                res.ok(False, b.where, f"client fetch from the cache with the store offline failed: {e!r}")
                continue
            res.ok(same_value(value, b.value), b.where,
                   "value fetched from the cache (store offline) == value fetched from the store")


DATABASE = None


def main():
    global DATABASE
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config")
    ap.add_argument("schema")
    ap.add_argument("--mount", metavar="DIR", help="the schema's folder in a djfs mount: read every blob there first")
    ap.add_argument("--cache", metavar="DIR", help="the cache folder (default: the config's `cache`)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    DATABASE = args.schema

    djenv.configure()
    dj.config.load(args.config)
    dj.config["database.use_tls"] = dj.config.get("database.use_tls") or False
    cache = args.cache or dj.config.get("cache")
    if not cache:
        sys.exit("no cache folder: the config has no `cache` and --cache is not given")
    cache = os.path.abspath(cache)
    stores = copy.deepcopy(dj.config.get("stores") or {})
    dj.config["cache"] = None  # step 1 must not fill the cache
    conn = dj.conn(reset=True)

    res = Result(args.verbose)
    try:
        blobs = external_blobs(conn, args.schema)
        hashes = {b.hash for b in blobs}
        if not blobs:
            res.ok(False, args.schema, "the schema has no non-NULL external blobs to check")
        if args.mount:
            read = read_through_mount(res, os.path.abspath(args.mount), blobs)
        else:
            read = hashes
        check_cache_files(res, cache, blobs, read, stores)
        check_offline(res, cache, blobs, read, stores)
    except Exception:  # noqa: BLE001
        res.ok(False, args.schema, "checker error:\n" + traceback.format_exc())
    finally:
        dj.config["stores"] = stores

    print(f"checked {len(blobs) if 'blobs' in locals() else 0} external blob values "
          f"({len(read) if 'read' in locals() else 0} distinct hashes) of `{args.schema}` against cache {cache}")
    if res.failures:
        print(f"\n{len(res.failures)} failures:")
        for f in res.failures:
            print(f"  {f}")
    print(f"{res.passed} passed, {len(res.failures)} failed")
    sys.exit(1 if res.failures else 0)


if __name__ == "__main__":
    main()
