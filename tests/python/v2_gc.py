#!/usr/bin/env python
"""DataJoint 2.x garbage collection with the real client (datajoint 2.3.5, run with $DJFS_PY2),
for the tests of `.external/<store>/.unused/` and `djfs gc` on 2.x schemas (tests/v2gc.rs).

    v2_gc.py unuse SCHEMA --config FILE
        On the reference schema of make_v2_reference.py: makes objects unused with the client,
        in every store (`local`, `shared` on S3, `deep` with its own prefixes and subfolding):
        rows deleted (single files, attachments, arrays, a folder object, hash objects),
        values overwritten (update1 of stored attributes), and a shared hash deleted from one
        row while another row still references it. Prints what it did, as JSON.
    v2_gc.py dry-run SCHEMA --config FILE
        Prints, as JSON, {store: sorted paths} of `dj.gc.GarbageCollector(schema, store=store)
        .collect(dry_run=True)` for every store of the config (orphaned_hash_paths +
        orphaned_schema_paths), and {"<default>": ...} for the collector without a store.
    v2_gc.py references SCHEMA --config FILE
        Prints, as JSON, {store: sorted paths} of the collector's hash_references() +
        schema_references() for every store.
    v2_gc.py insert-hash SCHEMA --config FILE --id N --bytes-hex HEX
        Inserts a row into Hashes (h_local) holding those bytes (a hash object that may already
        be stored: the client then only references it).
    v2_gc.py refer-0.14 SCHEMA --location DIR --path PATH
        A migrated schema on the MariaDB (made by the 0.14 client, store `local` a folder at DIR):
        declares the 2.x table `Migrated` (`fp : <filepath@local>`) and inserts a row whose
        filepath is PATH (relative to DIR: a 0.14 object's path), as a 2.x client of a lab that
        migrates would reference a file 0.14 stored. (Its --config is not read.)
    v2_gc.py make-mysql SCHEMA --config FILE --location DIR
        A 2.x schema on the MariaDB (json columns are longtext there; the client still writes
        <hash@>, <object@>, <npy@> and <filepath@>): table `Hashes` (hash_id; h_local
        <hash@local>, o_local <object@local>, n_s3 <npy@shared>, fp <filepath@local>), three rows;
        stores as make_v2_reference.py's under DIR. Writes the config to FILE.
    v2_gc.py fetch-all SCHEMA --config FILE
        Fetches every row of every table and reads every stored object through the client
        (ObjectRef.read / walk, NpyRef.load, attachments, hashes); prints {"rows": N} or fails.
"""

import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dj2env  # noqa: E402  (before datajoint; registers the add-on codecs of the reference)

import datajoint as dj  # noqa: E402
import numpy as np  # noqa: E402


def connect(config):
    conf = dj2env.load_config(config)
    dj2env.apply_config(conf)
    return conf


def schema_of(name):
    schema = dj.Schema(name, create_schema=False)
    tables = {}
    for table_name in schema.list_tables():
        full = schema.connection.adapter.make_full_table_name(name, table_name)
        tables[table_name] = dj.FreeTable(schema.connection, full)
    return schema, tables


def store_names(conf):
    return sorted(k for k, v in conf.get("stores", {}).items() if isinstance(v, dict))


def unuse(name):
    schema, t = schema_of(name)
    done = []

    def delete(table, key):
        (t[table] & key).delete_quick()
        done.append(f"deleted {table} {key}")

    # Hash objects: h_local of row 3 (ten zero bytes: no other row has them) goes; row 4's
    # b"hello\n" goes from row 4 but row 1 still references it (a shared hash stays used).
    delete("hashes", {"hash_id": 3})
    delete("hashes", {"hash_id": 4})
    # Attachments: row 3 (spaced name in local, the empty file in S3).
    delete("attachments", {"att_id": 3})
    # A folder object in both stores (Objects row 2: a tree), and single-file objects (row 4).
    delete("objects", {"obj_id": 2})
    delete("objects", {"obj_id": 4})
    # Arrays (npy) row 2, in both stores.
    delete("arrays", {"arr_id": 2})
    # Blobs row 4, in both stores.
    delete("blobs", {"blob_id": 4})
    # The relocated store: row 2 (blob, attachment, hash, array, object).
    delete("relocated", {"rel_id": 2})
    # Overwritten values: the old objects stay in the stores, unreferenced.
    tables = {n: tbl for n, tbl in t.items()}
    objects = tables["objects"]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "replacement.txt")
        with open(path, "wb") as f:
            f.write(b"a replacement object\n")
        objects.update1(dict(obj_id=1, o_local=path))
        done.append("updated objects obj_id=1 o_local")
    tables["blobs"].update1(dict(blob_id=1, value_s3=np.arange(3.0)))
    done.append("updated blobs blob_id=1 value_s3")
    tables["relocated"].update1(dict(rel_id=1, digest=b"relocated again\n"))
    done.append("updated relocated rel_id=1 digest")
    return done


def collector_report(schema, store):
    stats = dj.gc.GarbageCollector(schema, store=store).collect(dry_run=True)
    if stats["scan_errors"]:
        raise SystemExit(f"scan errors in store {store}: {stats['scan_errors']}")
    return sorted(stats["orphaned_hash_paths"] + stats["orphaned_schema_paths"])


def dry_run(name, conf):
    schema = dj.Schema(name, create_schema=False)
    out = {store: collector_report(schema, store) for store in store_names(conf)}
    out["<default>"] = collector_report(schema, None)
    return out


def references(name, conf):
    schema = dj.Schema(name, create_schema=False)
    out = {}
    for store in store_names(conf):
        c = dj.gc.GarbageCollector(schema, store=store)
        out[store] = sorted(c.hash_references() | c.schema_references())
    return out


def read_value(value):
    """Reads what a fetched value stands for, whole (lazy references are loaded)."""
    if hasattr(value, "load") and callable(value.load):  # NpyRef
        value.load()
    elif hasattr(value, "walk") and hasattr(value, "read"):  # ObjectRef
        meta = getattr(value, "_meta", None) or {}
        if getattr(value, "is_dir", False) or meta.get("is_dir"):
            for root, _dirs, names in value.walk():
                for n in names:
                    with value.open(f"{root}/{n}" if root else n) as f:
                        f.read()
        else:
            value.read()


def fetch_all(name):
    schema, tables = schema_of(name)
    rows = 0
    with tempfile.TemporaryDirectory() as tmp, dj.config.override(download_path=tmp):
        for table_name, tbl in tables.items():
            if table_name.startswith("~"):
                continue
            heading = tbl.heading
            # 2.3.5 on PostgreSQL cannot fetch an in-table <attach> nor a uuid (see
            # make_v2_reference.py): those columns are left out; every stored one is read.
            skip = {n for n, a in heading.attributes.items()
                    if (a.codec is not None and getattr(a.codec, "name", "") == "attach" and a.store is None)
                    or a.uuid}
            names = [n for n in heading.names if n not in skip]
            for key in tbl.fetch("KEY"):
                row = (tbl & key).proj(*names).fetch1()
                for value in row.values():
                    read_value(value)
                rows += 1
    return {"rows": rows}


def insert_hash(name, row_id, data):
    _schema, tables = schema_of(name)
    tables["hashes"].insert1(dict(hash_id=row_id, h_local=data))
    return {"inserted": row_id, "hash": dj2env.content_hash(data)}


def refer_0_14(name, location, path):
    conf = dj2env.config_dict(dj2env.mysql_settings(),
                              {"local": {"protocol": "file", "location": os.path.abspath(location)}})
    dj2env.apply_config(conf)
    schema = dj.Schema(name)

    @schema
    class Migrated(dj.Manual):
        definition = """
        # a 2.x table in a 0.14 schema: its filepath names a file 0.14 stored
        migrated_id : int32
        ---
        fp : <filepath@local>
        """

    Migrated.insert1(dict(migrated_id=1, fp=path))
    return {"referenced": (Migrated & "migrated_id=1").fetch1("fp").path}


def make_mysql(name, config, location):
    stores = dj2env.stores_config(location)
    conf = dj2env.config_dict(dj2env.mysql_settings(), stores)
    dj2env.apply_config(conf)
    if name in dj.list_schemas():
        dj.Schema(name, create_schema=False).drop(prompt=False)
    dj2env.ensure_stores(stores)
    for spec in (stores["local"], stores["shared"]):
        for prefix in ("_hash", "_schema", "files"):
            dj2env.remove_store_prefix(spec, f"{prefix}/{name}")
    schema = dj.Schema(name)

    @schema
    class Hashes(dj.Manual):
        definition = """
        hash_id : int32
        ---
        h_local = null : <hash@local>
        o_local = null : <object@local>
        n_s3 = null : <npy@shared>
        fp = null : <filepath@local>
        """

    from datajoint.hash_registry import get_store_backend

    get_store_backend("local").put_buffer(b"a file of the lab\n", f"files/{name}/lab.txt")
    Hashes.insert1(dict(hash_id=1, h_local=b"one", o_local=b"object one", n_s3=np.arange(3),
                        fp=f"files/{name}/lab.txt"))
    Hashes.insert1(dict(hash_id=2, h_local=b"two", o_local=(".txt", b"object two")))
    Hashes.insert1(dict(hash_id=3, h_local=b"one"))
    dj2env.write_config(config, conf)
    return {"rows": len(Hashes())}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["unuse", "dry-run", "references", "insert-hash", "refer-0.14",
                                        "make-mysql", "fetch-all"])
    ap.add_argument("schema")
    ap.add_argument("--config")
    ap.add_argument("--location")
    ap.add_argument("--path")
    ap.add_argument("--id", type=int)
    ap.add_argument("--bytes-hex")
    args = ap.parse_args()
    if args.command == "refer-0.14":
        print(json.dumps(refer_0_14(args.schema, args.location, args.path)))
        return
    if args.command == "make-mysql":
        print(json.dumps(make_mysql(args.schema, args.config, args.location)))
        return
    conf = connect(args.config)
    if args.command == "unuse":
        out = unuse(args.schema)
    elif args.command == "dry-run":
        out = dry_run(args.schema, conf)
    elif args.command == "references":
        out = references(args.schema, conf)
    elif args.command == "insert-hash":
        out = insert_hash(args.schema, args.id, bytes.fromhex(args.bytes_hex))
    else:
        out = fetch_all(args.schema)
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
