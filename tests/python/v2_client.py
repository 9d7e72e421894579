#!/usr/bin/env python
"""The real DataJoint 2.x client (datajoint 2.3.5, run with $DJFS_PY2) for the 2.x write tests
(tests/writes_v2.rs): it makes the schemas djfs writes into, and says what the client fetches.

    v2_client.py make SCHEMA --backend postgresql|mysql --config-out FILE [--store-root DIR]
    v2_client.py make-cross SCHEMA --config-out FILE
    v2_client.py row --config FILE SCHEMA TABLE KEY OUTDIR
    v2_client.py rows --config FILE SCHEMA TABLE
    v2_client.py insert1 --config FILE SCHEMA TABLE ROW
    v2_client.py blob-md5 --config FILE SCHEMA TABLE KEY ATTR NPY
    v2_client.py pack EXPR OUT
    v2_client.py npy-equal A B

`make`: drops SCHEMA and declares the write schema (below) with a few rows by the client; with
--backend postgresql also the table `Stored` (values kept in the folder store `local` under
--store-root). `make-cross`: the 2.x side of the 0.14 <-> 2.x copy test on PostgreSQL, the design
of make_cross_014.py (table `Item`) with rows item_id 3 and 4. Both write the datajoint.json djfs
and this script read (database settings from dj2env.py).

Tables of `make` (in-table 2.x types only, on both backends):
  Subject  subject_id : int32 --- name : varchar(64); sex : enum('M','F','U'); dob, weight (float64),
           ratio (float32), tiny (int8), small (int16), big (int64), alive = 1 : bool, notes (json),
           ident (uuid), raw (bytes), price (decimal(6,2)), seen (datetime(3)), code (char(4)),
           all but name and sex nullable
  Session  -> Subject, session : int16 --- note = null : varchar(32); data = null : <blob>;
           doc = null : <attach>;  part Session.Trial (trial : int32 --- signal = null : <blob>)
  Remark   -> Session, remark_id : int32 --- text : varchar(32)
  Stored   (PostgreSQL) stored_id : int32 --- label = null : varchar(16); obj = null : <blob@local>;
           att = null : <attach@local>; fp = null : <filepath@local>
Rows: subjects 1 and 2; sessions (1,1) with a trial and a remark, (2,1) with a trial; Stored 1.

`row` prints ONE JSON document: {"exists": bool, "values": {attr: value}, "blobs": {attr: {...}},
"attach": {attr: {...}}, "sql": [attrs read by SQL]}. Scalars as JSON (date `YYYY-MM-DD`,
datetime `YYYY-MM-DD HH:MM:SS[.ffffff]`, decimal as its text, bytes as {"hex": ...}, uuid text,
json values as they are, floats as Python reads them). A blob (`<blob>`, `<blob@s>`): {"is_none", "npy": OUTDIR/attr.npy
(np.save of np.asarray(value); a non-array is a pickled 0-d object array), "dtype", "shape",
"is_array", and for a non-array "json", the value as JSON}. An attachment (`<attach>`, `<attach@s>`): {"is_none", "name", "path" (its contents in
OUTDIR/attr/name)}.
2.3.5 on PostgreSQL cannot fetch a uuid nor an in-table <attach> (see README-v2.md): those two are
read by SQL (the uuid's text, the stored `name\\0contents`) and listed in "sql"; every other value
is what the client's fetch1 returns.

`insert1`: the client inserts ROW (a JSON object) into TABLE. `blob-md5`: the MD5 of a blob as
stored (read by SQL) and of the client's own `blob.pack(np.load(NPY), compress=True)`. `pack`: the client's blob.pack of
the Python expression EXPR (numpy as np), written to OUT. `npy-equal`: {"equal": bool, ...} of two
.npy files (same dtype, shape and values; object arrays compared by their items).
"""

import argparse
import datetime
import decimal
import hashlib
import json
import os
import sys
import tempfile
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dj2env  # noqa: E402  (before datajoint)

import datajoint as dj  # noqa: E402
import numpy as np  # noqa: E402


def declare_writes(schema, with_stored):
    classes = {}

    @schema
    class Subject(dj.Manual):
        definition = """
        subject_id : int32
        ---
        name : varchar(64)
        sex : enum('M', 'F', 'U')
        dob = null : date
        weight = null : float64
        ratio = null : float32
        tiny = null : int8
        small = null : int16
        big = null : int64
        alive = 1 : bool
        notes = null : json
        ident = null : uuid
        raw = null : bytes
        price = null : decimal(6,2)
        seen = null : datetime(3)
        code = null : char(4)
        """

    @schema
    class Session(dj.Manual):
        definition = """
        -> Subject
        session : int16
        ---
        note = null : varchar(32)
        data = null : <blob>
        doc = null : <attach>
        """

        class Trial(dj.Part):
            definition = """
            -> master
            trial : int32
            ---
            signal = null : <blob>
            """

    @schema
    class Remark(dj.Manual):
        definition = """
        -> Session
        remark_id : int32
        ---
        text : varchar(32)
        """

    classes.update(Subject=Subject, Session=Session, Remark=Remark)
    classes["Session.Trial"] = Session.Trial
    if with_stored:
        @schema
        class Stored(dj.Manual):
            definition = """
            stored_id : int32
            ---
            label = null : varchar(16)
            obj = null : <blob@local>
            att = null : <attach@local>
            fp = null : <filepath@local>
            """

        classes["Stored"] = Stored
    return classes


def declare_cross(schema):
    @schema
    class Item(dj.Manual):
        definition = """
        item_id : int32
        ---
        name : varchar(32)
        weight : float32
        count : int32
        day : date
        data : <blob>
        doc : <attach>
        """

    return {"Item": Item}


def backend_of(conf):
    return conf.get("database.backend", "mysql")


def connect(config_path):
    conf = dj2env.load_config(config_path)
    dj2env.apply_config(conf)
    return conf


def fresh_schema(name):
    if name in dj.list_schemas():
        dj.Schema(name, create_schema=False).drop(prompt=False)
    return dj.Schema(name)


def attach_file(folder, name, contents):
    path = os.path.join(folder, name)
    with open(path, "wb") as f:
        f.write(contents)
    return path


def cmd_make(args):
    if args.backend == "postgresql":
        stores = dj2env.stores_config(args.store_root or tempfile.mkdtemp())
        stores = {"default": "local", "local": stores["local"]}
        conf = dj2env.config_dict(dj2env.pg_settings(), stores)
    else:
        conf = dj2env.config_dict(dj2env.mysql_settings())
    dj2env.apply_config(conf)
    if conf.get("stores"):
        dj2env.ensure_stores(conf["stores"])
        dj2env.remove_store_prefix(conf["stores"]["local"], f"_hash/{args.schema}")
    t = declare_writes(fresh_schema(args.schema), with_stored=args.backend == "postgresql")
    t["Subject"].insert1(dict(subject_id=1, name="Alice", sex="F", dob=datetime.date(2020, 1, 2), weight=21.5,
                              notes={"a": [1, 2, 3]}, price=decimal.Decimal("1.50")))
    t["Subject"].insert1(dict(subject_id=2, name="Bob", sex="M", alive=False))
    with tempfile.TemporaryDirectory() as d:
        doc = attach_file(d, "first.txt", b"first attachment\n")
        t["Session"].insert1(dict(subject_id=1, session=1, note="one", data=np.arange(4.0), doc=doc))
        t["Session"].insert1(dict(subject_id=2, session=1, note="two", data={"k": 1}))
        t["Session.Trial"].insert([dict(subject_id=1, session=1, trial=0, signal=np.ones(3)),
                                   dict(subject_id=2, session=1, trial=0, signal=np.zeros(2))])
        t["Remark"].insert1(dict(subject_id=1, session=1, remark_id=1, text="remark"))
        if "Stored" in t:
            att = attach_file(d, "stored.txt", b"kept in the store\n")
            t["Stored"].insert1(dict(stored_id=1, label="x", obj=np.arange(3), att=att))
    dj2env.write_config(args.config_out, conf)
    print(f"schema `{args.schema}` ({args.backend}) made with datajoint {dj.__version__}")


def cmd_make_cross(args):
    conf = dj2env.config_dict(dj2env.pg_settings())
    dj2env.apply_config(conf)
    t = declare_cross(fresh_schema(args.schema))
    with tempfile.TemporaryDirectory() as d:
        t["Item"].insert1(dict(item_id=3, name="made by 2.x", weight=2.25, count=-7, day=datetime.date(2024, 2, 29),
                               data=np.arange(6, dtype=np.int32).reshape(2, 3),
                               doc=attach_file(d, "two x.bin", bytes(range(256)) * 3)))
        t["Item"].insert1(dict(item_id=4, name="dict blob", weight=0.5, count=0, day=datetime.date(1999, 12, 31),
                               data={"a": [1, 2], "b": "text"},
                               doc=attach_file(d, "empty.txt", b"")))
    dj2env.write_config(args.config_out, conf)
    print(f"schema `{args.schema}` made with datajoint {dj.__version__}")


def classes_for(schema_name):
    """The tables of a schema this script made (declaring an existing table changes nothing)."""
    schema = dj.Schema(schema_name, create_schema=False)
    tables = schema.list_tables()
    if "item" in tables:
        return declare_cross(schema)
    return declare_writes(schema, with_stored="stored" in tables)


def jsonable(v):
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, (np.bool_,)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return f if np.isfinite(f) else str(f)
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, datetime.datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, datetime.date):
        return v.isoformat()
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, (bytes, bytearray, memoryview)):
        return {"hex": bytes(v).hex()}
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    return repr(v)


def quote(backend, name):
    return f'"{name}"' if backend == "postgresql" else f"`{name}`"


def sql_value(backend, table, key, column, as_text):
    """One stored value read by SQL (what 2.3.5 cannot fetch on PostgreSQL)."""
    q = lambda n: quote(backend, n)  # noqa: E731
    where = " AND ".join(f"{q(k)} = %s" for k in key)
    col = f"{q(column)}::text" if as_text else q(column)
    rows = dj.conn().query(f"SELECT {col} FROM {q(table.database)}.{q(table.table_name)} WHERE {where}",
                           args=tuple(key.values())).fetchall()
    return rows[0][0] if rows else None


def cmd_row(args):
    conf = connect(args.config)
    backend = backend_of(conf)
    classes = classes_for(args.schema)
    table = classes[args.table]
    key = json.loads(args.key)
    rel = table & key
    out = {"exists": len(rel) == 1, "values": {}, "blobs": {}, "attach": {}, "sql": []}
    if not out["exists"]:
        print(json.dumps(out))
        return
    os.makedirs(args.outdir, exist_ok=True)
    dj.config["download_path"] = args.outdir
    for attr in table.heading.names:
        declared = str(table.heading.attributes[attr].type)
        if backend == "postgresql" and declared in ("uuid", "<attach>"):
            # 2.3.5 cannot fetch these on PostgreSQL: the stored value, by SQL.
            out["sql"].append(attr)
            if declared == "uuid":
                out["values"][attr] = sql_value(backend, table, key, attr, as_text=True)
                continue
            stored = sql_value(backend, table, key, attr, as_text=False)
            if stored is None:
                out["attach"][attr] = {"is_none": True}
                continue
            name, _, contents = bytes(stored).partition(b"\0")
            folder = os.path.join(args.outdir, attr)
            os.makedirs(folder, exist_ok=True)
            out["attach"][attr] = {"is_none": False, "name": name.decode(),
                                   "path": attach_file(folder, name.decode(), contents)}
            continue
        if declared.startswith("<attach"):
            dj.config["download_path"] = os.path.join(args.outdir, attr)
            path = rel.fetch1(attr)
            dj.config["download_path"] = args.outdir
            out["attach"][attr] = {"is_none": path is None}
            if path is not None:
                out["attach"][attr].update(name=os.path.basename(path), path=str(path))
            continue
        value = rel.fetch1(attr)
        if declared.startswith("<blob"):
            info = {"is_none": value is None}
            if value is not None:
                array = np.asarray(value)  # a dict: a 0-d object array (as client_view.py saves it)
                path = os.path.join(args.outdir, f"{attr}.npy")
                np.save(path, array, allow_pickle=True)
                info.update(npy=path, dtype=str(array.dtype), shape=list(array.shape),
                            is_array=isinstance(value, np.ndarray))
                if not isinstance(value, np.ndarray):
                    info["json"] = jsonable(value)
            out["blobs"][attr] = info
            continue
        if declared == "uuid" and value is not None:
            value = str(value)
        out["values"][attr] = jsonable(value)
    print(json.dumps(out))


def cmd_blob_md5(args):
    """MD5 of a blob as stored (by SQL) and of the client's own pack of the array in NPY."""
    conf = connect(args.config)
    table = classes_for(args.schema)[args.table]
    stored = sql_value(backend_of(conf), table, json.loads(args.key), args.attr, as_text=False)
    packed = dj.blob.pack(np.load(args.npy), compress=True)
    print(json.dumps({"stored": hashlib.md5(bytes(stored)).hexdigest() if stored is not None else None,
                      "packed": hashlib.md5(packed).hexdigest(), "stored_size": len(bytes(stored or b"")),
                      "packed_size": len(packed)}))


def cmd_rows(args):
    connect(args.config)
    table = classes_for(args.schema)[args.table]
    keys = table.keys(order_by="KEY") if hasattr(table, "keys") else table.fetch("KEY")
    print(json.dumps({"keys": [jsonable(k) for k in keys]}))


def cmd_insert1(args):
    connect(args.config)
    table = classes_for(args.schema)[args.table]
    try:
        table.insert1(json.loads(args.row))
        print(json.dumps({"inserted": True}))
    except Exception as e:  # the refusal is the answer
        print(json.dumps({"inserted": False, "error": str(e), "error_type": type(e).__name__}))


def cmd_pack(args):
    value = eval(args.expr, {"np": np})  # noqa: S307  (test input written by the tests)
    with open(args.out, "wb") as f:
        f.write(dj.blob.pack(value))
    print(json.dumps({"size": os.path.getsize(args.out)}))


def load(path):
    return np.load(path, allow_pickle=True)


def cmd_npy_equal(args):
    a, b = load(args.a), load(args.b)
    out = {"dtype_a": str(a.dtype), "dtype_b": str(b.dtype), "shape_a": list(a.shape), "shape_b": list(b.shape)}
    if a.dtype == object or b.dtype == object:
        equal = a.dtype == b.dtype and a.shape == b.shape and all(
            jsonable(x) == jsonable(y) for x, y in zip(a.ravel(), b.ravel()))
    else:
        equal = a.dtype == b.dtype and a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
    out["equal"] = bool(equal)
    print(json.dumps(out))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("make")
    p.add_argument("schema")
    p.add_argument("--backend", choices=["postgresql", "mysql"], required=True)
    p.add_argument("--config-out", required=True)
    p.add_argument("--store-root")
    p = sub.add_parser("make-cross")
    p.add_argument("schema")
    p.add_argument("--config-out", required=True)
    for name, extra in (("row", ["table", "key", "outdir"]), ("rows", ["table"]), ("insert1", ["table", "row"]),
                        ("blob-md5", ["table", "key", "attr", "npy"])):
        p = sub.add_parser(name)
        p.add_argument("--config", required=True)
        p.add_argument("schema")
        for e in extra:
            p.add_argument(e)
    p = sub.add_parser("pack")
    p.add_argument("expr")
    p.add_argument("out")
    p = sub.add_parser("npy-equal")
    p.add_argument("a")
    p.add_argument("b")
    args = ap.parse_args()
    {"make": cmd_make, "make-cross": cmd_make_cross, "row": cmd_row, "rows": cmd_rows, "insert1": cmd_insert1,
     "blob-md5": cmd_blob_md5, "pack": cmd_pack, "npy-equal": cmd_npy_equal}[args.cmd](args)


if __name__ == "__main__":
    main()
