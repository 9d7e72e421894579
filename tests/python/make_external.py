#!/usr/bin/env python
"""Create a reference schema for external storage with the real DataJoint client (0.14.10).

    make_external.py SCHEMA --config-out FILE [--cache DIR] [--store-root DIR]

Drops SCHEMA if it exists, then declares and fills (fixed random seed):

  Blob        blob_id; description; one blob@ column per store:
              in_shared, in_fold11 (NOT NULL), in_local, in_s3loc, in_s3fold (nullable, some NULLs).
              Values: small/compressed/3 MB random float64/big compressed/0-d/complex/bool/uint8/
              float32/datetime64/empty arrays and non-arrays (dict, str, list); rows 3 and 14 hold the
              same values (one hash referenced by two rows); row 18 = row 1 and is deleted again.
  Attachment  attach_id; description; one attach@ column per store (same NULL pattern), files named
              `résumé µ.txt`, `archive.data.tar.gz`, `empty.dat` (empty), `random 5MB.bin` (~5 MB),
              `README`, ...; rows 5 and 8 attach the same file.
  Filepath    file_id; fp : filepath@staged (NOT NULL), fp_s3 = null : filepath@s3loc; files in nested
              folders of the stages; rows 1 and 7 name the same file.
  Reuse       reuse_id; same_blob : blob@fold11, same_attach : attach@shared (values also in Blob /
              Attachment: hashes referenced from two tables).

Then rows are deleted with the client (Blob 15, 16, 18; Attachment 9, 10; Filepath 8, 9) so that
`schema.external[store].unused()` is non-empty. Stores (written to --config-out with the database
settings; `cache` too with --cache DIR or DJFS_CACHE_DIR):

  shared  s3   bucket DJFS_S3_BUCKET, location ""               (the seed's)
  local   file DJFS_LOCAL_STORE                                 (the seed's)
  fold11  file STORE_ROOT/fold11, subfolding (1, 1)
  s3loc   s3   location "dj/ext-test", stage STORE_ROOT/stage-s3loc
  s3fold  s3   location "/leading/slash" (client uses key prefix leading/slash), subfolding (2, 4)
  staged  file STORE_ROOT/staged, stage STORE_ROOT/stage-staged

STORE_ROOT is --store-root, else DJFS_EXT_STORE_ROOT, else DJFS_LOCAL_STORE + "-ext".
Columns of shared, fold11 and staged are never NULL, so the client's unused() is right for them;
local, s3loc and s3fold have NULLs in referencing columns, where the client's `NOT (hash IN ...)`
returns nothing (spec 3.9) — the summary prints both counts.
The client is used with no cache while writing, so the cache folder is left as it was.
Every tracked object is verified afterwards at the path computed independently from spec 3.5/5
(folder: from disk, s3: with minio), and against the client's fetch_external_paths().
"""

import argparse
import copy
import hashlib
import os
import sys
import tempfile

os.environ["DJ_SUPPORT_FILEPATH_MANAGEMENT"] = "TRUE"  # filepath@store is experimental in 0.14

import datajoint as dj  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import djenv  # noqa: E402

S = djenv.STORE_S3, djenv.STORE_FILE, djenv.STORE_FOLD11, djenv.STORE_S3LOC, djenv.STORE_S3FOLD
NULLABLE_STORES = (djenv.STORE_FILE, djenv.STORE_S3LOC, djenv.STORE_S3FOLD)

schema = dj.Schema()  # activated in main() once the database and stores are configured


@schema
class Blob(dj.Manual):
    definition = """
    # blobs of several kinds, one column per store
    blob_id : int
    ---
    description : varchar(255)
    in_shared : blob@shared            # s3, location ""
    in_fold11 : blob@fold11            # file, subfolding (1, 1)
    in_local = null : blob@local       # file, default subfolding
    in_s3loc = null : blob@s3loc       # s3, location dj/ext-test
    in_s3fold = null : blob@s3fold     # s3, location /leading/slash, subfolding (2, 4)
    """


@schema
class Attachment(dj.Manual):
    definition = """
    # attachments, one column per store
    attach_id : int
    ---
    description : varchar(255)
    a_shared : attach@shared
    a_fold11 : attach@fold11
    a_local = null : attach@local
    a_s3loc = null : attach@s3loc
    a_s3fold = null : attach@s3fold
    """


@schema
class Filepath(dj.Manual):
    definition = """
    # files under the stages, tracked by relative path
    file_id : int
    ---
    description : varchar(255)
    fp : filepath@staged               # file store with a stage
    fp_s3 = null : filepath@s3loc      # s3 store with a stage
    """


@schema
class Reuse(dj.Manual):
    definition = """
    # values that also occur in Blob / Attachment: hashes referenced from two tables
    reuse_id : int
    ---
    same_blob : blob@fold11
    same_attach : attach@shared
    """


# =============================================================================== values

def blob_values(rng):
    """(blob_id, description, value, stores where it is NULL)."""
    random_3mb = rng.standard_normal(375_000)  # 3,000,000 bytes of float64, incompressible
    small = np.arange(5, dtype=np.int32)
    return [
        (1, "int32 arange(5): small, uncompressed", small, ()),
        (2, "zeros((40, 50)) float64: compressed", np.zeros((40, 50)), ()),
        (3, "standard_normal(375000) float64: 3 MB, stored uncompressed", random_3mb, ()),
        (4, "integers(0, 4, (2000, 2000)) uint8: 4 MB, big compressed",
         rng.integers(0, 4, size=(2000, 2000), dtype=np.uint8), ()),
        (5, "0-d float64 array(2.5) (dj0 header)", np.array(2.5), (djenv.STORE_FILE,)),
        (6, "complex128 (2, 3)", (np.arange(6) + 1j * np.arange(6, 0, -1)).reshape(2, 3), ()),
        (7, "dict (not an array)", {"name": "external", "values": [1, 2, 3], "scale": 0.5},
         (djenv.STORE_S3FOLD,)),
        (8, "bool (2, 3, 4)", rng.random((2, 3, 4)) > 0.5, (djenv.STORE_S3LOC,)),
        (9, "uint8 (30, 40, 3) image-like", rng.integers(0, 256, size=(30, 40, 3), dtype=np.uint8), ()),
        (10, "float32 (5, 4) from a transposed array", np.arange(20, dtype=np.float32).reshape(4, 5).T, ()),
        (11, "datetime64[s] (2,)", np.array(["2020-01-01T00:00:01", "2021-02-03T04:05:06"], dtype="datetime64[s]"),
         ()),
        (12, "str (not an array)", "hello external world", (djenv.STORE_FILE, djenv.STORE_S3LOC)),
        (13, "list (not an array)", [1, "two", 3.0], (djenv.STORE_S3FOLD,)),
        (14, "same as row 3: one hash referenced by two rows", random_3mb.copy(), ()),
        (15, "unique, deleted: standard_normal(200)", rng.standard_normal(200), ()),
        (16, "unique, deleted: arange(2000) int64 (compressed)", np.arange(2000, dtype=np.int64), ()),
        (17, "empty float64 (0, 3)", np.zeros((0, 3)), ()),
        (18, "same as row 1, deleted (row 1 keeps the hash used)", small.copy(), ()),
        (19, "complex64 (6,)", np.arange(6, dtype=np.complex64) * (1 - 2j), (djenv.STORE_S3FOLD,)),
        (20, "int16 (3, 4) C-ordered", np.arange(12, dtype=np.int16).reshape(3, 4), ()),
    ]


BLOB_DELETED = (15, 16, 18)


def attachment_files(rng):
    """(attach_id, description, file name, contents, stores where it is NULL)."""
    hello = b"hello world\n"
    return [
        (1, "spaces and non-ASCII in the name", "résumé µ.txt", "Curriculum vitæ — µ-scope\n".encode(), ()),
        (2, "several dots", "archive.data.tar.gz", rng.bytes(3000), (djenv.STORE_S3LOC,)),
        (3, "empty file", "empty.dat", b"", ()),
        (4, "about 5 MB of random bytes", "random 5MB.bin", rng.bytes(5 * 1024 * 1024 + 17), ()),
        (5, "small text", "notes.txt", hello, (djenv.STORE_FILE,)),
        (6, "no extension", "README", b"# readme\nplain text without extension\n", (djenv.STORE_S3FOLD,)),
        (7, "same name as row 1, other contents", "résumé µ.txt", "second version\n".encode(), ()),
        (8, "same file as row 5: one hash referenced by two rows", "notes.txt", hello, ()),
        (9, "unique, deleted", "delete me.txt", b"this attachment's row is deleted\n", ()),
        (10, "unique, deleted, several dots", "old.data.csv", b"a,b\n1,2\n", ()),
        (11, "binary 0..255 x 8", "bytes ß.bin", bytes(range(256)) * 8, (djenv.STORE_FILE, djenv.STORE_S3LOC)),
    ]


ATTACH_DELETED = (9, 10)


def stage_files(rng):
    """(file_id, description, relative path under the stage, contents, in s3loc's stage too)."""
    same = rng.bytes(1000)
    return [
        (1, "nested folders", "subject1/session2/file.dat", same, True),
        (2, "deep, spaces and non-ASCII", "a/b/c/deep name é.txt", "déjà vu\n".encode(), True),
        (3, "at the stage's top", "top.csv", b"x,y\n1,2\n3,4\n", False),
        (4, "empty file", "empty/zero.bin", b"", True),
        (5, "2 MB random", "big/2MB.bin", rng.bytes(2 * 1024 * 1024), False),
        (6, "same file name as row 1 in another folder", "other/session2/file.dat", rng.bytes(500), False),
        (7, "same path as row 1: one hash referenced by two rows", "subject1/session2/file.dat", same, True),
        (8, "deleted", "to_delete/gone.txt", b"gone\n", True),
        (9, "deleted", "to_delete/gone 2.txt", b"gone too\n", False),
    ]


FILEPATH_DELETED = (8, 9)


def write_file(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return path


def fill(stores, tmp):
    rng = np.random.default_rng(20240404)
    blobs = blob_values(rng)
    for blob_id, description, value, nulls in blobs:
        row = dict(blob_id=blob_id, description=description)
        for store in S:
            row[f"in_{store}"] = None if store in nulls else value
        Blob.insert1(row)

    files = attachment_files(rng)
    for attach_id, description, name, data, nulls in files:
        path = write_file(os.path.join(tmp, f"attach{attach_id}", name), data)
        row = dict(attach_id=attach_id, description=description)
        for store in S:
            row[f"a_{store}"] = None if store in nulls else path
        Attachment.insert1(row)

    stage = stores[djenv.STORE_STAGED]["stage"]
    stage_s3 = stores[djenv.STORE_S3LOC]["stage"]
    for file_id, description, relpath, data, also_s3 in stage_files(rng):
        row = dict(file_id=file_id, description=description, fp=write_file(os.path.join(stage, relpath), data))
        row["fp_s3"] = write_file(os.path.join(stage_s3, relpath), data) if also_s3 else None
        Filepath.insert1(row)

    Reuse.insert1(dict(reuse_id=1, same_blob=blobs[1][2],
                       same_attach=os.path.join(tmp, "attach1", files[0][2])))

    (Blob & [dict(blob_id=i) for i in BLOB_DELETED]).delete()
    (Attachment & [dict(attach_id=i) for i in ATTACH_DELETED]).delete()
    (Filepath & [dict(file_id=i) for i in FILEPATH_DELETED]).delete()


# =============================================================================== verification

def not_exists_unused(conn, database, store):
    """Hashes of tracked objects no row references (NOT EXISTS per reference: NULLs ignored)."""
    ext = schema.external[store]
    conds = [f"NOT EXISTS (SELECT 1 FROM {r['referencing_table']} AS t WHERE t.`{r['column_name']}` = e.hash)"
             for r in ext.references]
    sql = f"SELECT hash FROM `{database}`.`~external_{store}` AS e"
    if conds:
        sql += " WHERE " + " AND ".join(conds)
    return {bytes(h) for (h,) in conn.query(sql).fetchall()}


def verify_store(conn, database, store, spec, clients):
    """Every tracked object exists where spec 3.5/5 says and matches its hash; returns a summary line."""
    ext = schema.external[store]
    rows = conn.query(
        f"SELECT hash, size, attachment_name, filepath, contents_hash FROM `{database}`.`~external_{store}`"
    ).fetchall()
    client_paths = {u.bytes: str(p) for u, p in ext.fetch_external_paths()}
    kinds = {"blob": 0, "attach": 0, "filepath": 0}
    for h, size, attachment_name, filepath, contents_hash in rows:
        h = bytes(h)
        hex_text = h.hex()
        if attachment_name is not None:
            kind, path = "attach", djenv.object_path(spec, database, hex_text, attachment_name)
        elif filepath is not None:
            kind, path = "filepath", djenv.filepath_object_path(spec, filepath)
        else:
            kind, path = "blob", djenv.object_path(spec, database, hex_text)
        kinds[kind] += 1
        if str(path) != client_paths[h]:
            sys.exit(f"{store}: path {path} computed from the spec differs from the client's {client_paths[h]}")
        data = djenv.read_store_object(spec, path, clients)
        if len(data) != size:
            sys.exit(f"{store}: {path} has {len(data)} bytes, tracked size {size}")
        if kind == "blob":
            digest = hashlib.md5(data).digest()
        elif kind == "attach":
            digest = hashlib.md5(attachment_name.encode() + b"\0" + data).digest()
        else:
            digest = hashlib.md5(filepath.encode()).digest()
            if contents_hash is not None and hashlib.md5(data).digest() != bytes(contents_hash):
                sys.exit(f"{store}: {path} contents do not match contents_hash")
        if digest != h:
            sys.exit(f"{store}: {path} does not match its hash {hex_text}")
    ours = not_exists_unused(conn, database, store)
    client = {u.bytes for u in ext.unused().fetch("hash")}
    has_null = any(
        conn.query(f"SELECT COUNT(*) FROM {r['referencing_table']} WHERE `{r['column_name']}` IS NULL").fetchone()[0]
        for r in ext.references
    )
    note = "NULLs in a referencing column" if has_null else "no NULL references"
    return (f"  store {store:7s} {spec['protocol']:4s} {len(rows):3d} tracked "
            f"({kinds['blob']} blobs, {kinds['attach']} attachments, {kinds['filepath']} filepaths); "
            f"unused: {len(ours)} (NOT EXISTS), {len(client)} (client unused(); {note})")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("schema")
    ap.add_argument("--config-out", metavar="FILE", required=True, help="write a DataJoint config JSON here")
    ap.add_argument("--cache", metavar="DIR", help="also write this folder as the config's `cache` (created)")
    ap.add_argument("--store-root", metavar="DIR", help="folder for the extra file stores and the stages")
    args = ap.parse_args()

    djenv.configure()
    root = os.path.abspath(args.store_root) if args.store_root else djenv.ext_store_root()
    stores = djenv.external_stores_config(root)
    djenv.ensure_stores(stores)
    djenv.ensure_stages(stores)
    # A copy: the client adds `subfolding: [2, 2]` to the specs it reads; the config file written
    # below keeps the stores as a user writes them (default subfolding left implicit).
    dj.config["stores"] = copy.deepcopy(stores)
    dj.config["cache"] = None  # write and verify without touching any cache folder
    cache = args.cache or os.environ.get("DJFS_CACHE_DIR")
    if cache:
        os.makedirs(cache, exist_ok=True)
    conn = dj.conn(reset=True)
    djenv.fresh_schema(args.schema)
    schema.activate(args.schema)

    with tempfile.TemporaryDirectory() as tmp:
        fill(stores, tmp)

    djenv.write_config(args.config_out, stores, cache=args.cache)

    print(f"schema `{args.schema}` created with datajoint {dj.__version__}; store root {root}")
    for table in (Blob, Attachment, Filepath, Reuse):
        print(f"  {table.__name__:11s} {len(table()):2d} rows")
    clients = {}
    for store in sorted(stores):
        print(verify_store(conn, args.schema, store, dj.config["stores"][store], clients))
    print(f"  config written to {args.config_out}" + (f" (cache {os.path.abspath(cache)})" if cache else ""))


if __name__ == "__main__":
    main()
