#!/usr/bin/env python
"""What the REAL DataJoint client (0.14.10) sees: a JSON oracle for the djfs write tests.

    client_view.py [--config CONFIG] SCHEMA COMMAND [ARGS...]
    client_view.py [--config CONFIG] [SCHEMA] npy-equal A.npy B.npy      (config/schema optional, `-` ok)
    client_view.py [--config CONFIG] [SCHEMA] expected-hash KIND FILE [NAME]
    client_view.py --self-test [--config CONFIG] [--keep]

Every command prints ONE JSON document on stdout and exits 0. Exit 2 (message on stderr): usage
error (unknown command, wrong arguments, bad JSON, an attribute or key field the table lacks, a
store missing from the config). Exit 3: the schema or the table does not exist. Failures of the
client while doing the work (missing object, decode error, rejected insert, ...) are reported in the
JSON (`"error": message, "error_type": exception class`) with exit 0 and one line on stderr (the
traceback with CLIENT_VIEW_DEBUG=1). Exit 1 (traceback): anything else, e.g. the database is down.

CONFIG is a DataJoint config JSON (flat `database.*` keys, `stores`, optional `cache`), e.g. from
make_demo.py / make_external.py --config-out; without it (or with `-`) the environment is used as in
djenv.py. The cache is always switched off (`dj.config['cache'] = None`): answers come from the stores.
`database.use_tls` is forced False. DJ_SUPPORT_FILEPATH_MANAGEMENT is set to TRUE.

TABLE: the DataJoint class name from dj.VirtualModule (`Test`, `Session.Trial` for a part table);
the MySQL table name (`#web_image`, `__slide`, `session__trial`) is accepted too.
KEY: a JSON object (`'{"id": 7}'`, or `@file.json`) restricting the table; every field must be an
attribute of the table. The restriction is built with properly escaped SQL literals (the client's
own dict restriction breaks on `"` in strings): strings quoted, numbers as is, null -> IS NULL,
uuid attributes from their text. Commands that need one row report `{"exists": false, "count": n,
"error": ...}` when KEY matches n != 1 rows.

JSON values: date `YYYY-MM-DD`; datetime/timestamp `YYYY-MM-DD HH:MM:SS[.ffffff]` (space, as MySQL
prints it; fraction only when non-zero); time `[-]HH:MM:SS[.ffffff]`; uuid canonical text; decimal
str (column scale kept, e.g. "3.50"); bytes (binary columns) lowercase hex; NaN/inf floats as
strings "nan"/"inf"/"-inf"; json attributes as JSON; numpy scalars as Python numbers.

Commands (OUTPUT shapes):
  rows TABLE
      {"keys": [{pk attr: value}, ...]}                     sorted by primary key (ORDER BY KEY)
  row TABLE KEY
      {"exists": bool, "count": n, "values": {attr: value, ...}}
      values: every attribute that is not blob/attach/filepath (key attributes included), plus
        blob:     {"blob": {"is_none": bool[, "store": s, "hash": hex|null][, "error": msg]}}
                  (is_none from the client's fetch, which downloads/decodes; decode failure -> error)
        attach:   {"attach": {"is_none": bool, "name": stored name|null[, "store", "hash"]}}
        filepath: {"filepath": {"is_none": bool, "relpath": str|null, "store", "hash"}}
      (attachments and filepaths are not downloaded by `row`).
  fetch-npy TABLE KEY ATTR OUT
      fetch1(ATTR); np.save to exactly OUT (no `.npy` appended) of np.asarray(value);
      {"is_none": false, "dtype": str(dtype), "descr": dtype.str, "shape": [...], "is_array": bool,
       "type": python type name}. NULL -> {"is_none": true, "dtype": null, "shape": null,
       "is_array": false} and OUT is not written. Non-arrays become np.asarray(value) (a dict -> a
       0-d object array, saved with pickle; a list -> whatever numpy makes of it).
  fetch-raw TABLE KEY ATTR OUT
      the stored bytes, written to OUT: an internal blob/attach column as in MySQL (attach:
      name NUL contents), an external blob's object as the client downloads it (no cache);
      {"is_none": bool, "size": n, "md5": hex}
  npy-equal A.npy B.npy
      {"equal": bool, "dtype_a": str, "dtype_b": str, "descr_a", "descr_b", "shape_a": [...],
       "shape_b": [...], "dtype_equal": bool, "shape_equal": bool, "values_equal": bool}
      equal = same dtype AND same shape AND np.array_equal(a, b, equal_nan=True) (equal_nan dropped
      where numpy refuses it, e.g. object/str/structured dtypes). Load failure -> "error".
  fetch-attach TABLE KEY ATTR DIR
      fetch1(ATTR, download_path=DIR) (DIR created);
      {"path": path, "name": basename of path, "attachment_name": stored name, "size": n,
       "md5": md5 hex of the contents}; NULL -> {"path": null}. (The client names the file
       `stem_0000.ext`, ... when DIR already holds a different file of that name: use an empty DIR.)
  external-info TABLE KEY ATTR
      {"store": s, "kind": "blob"|"attach"|"filepath", "hash": hex|null, "uuid": text|null,
       "tracking": {"size": n, "attachment_name", "filepath", "contents_hash": hex|null} | null,
       "path": client's full path (fetch_external_paths of the tracking row) | null,
       "spec_path": the path computed independently from spec 3.5 (djenv.object_path) | null,
       "exists_in_store": bool, "object_size": n|null}
      (file store: os.path.exists; s3: minio stat_object). NULL -> hash null, the rest null/false.
  expected-hash KIND FILE [NAME]
      blob:     MD5 of datajoint.blob.pack(np.load(FILE)) -> {"hex", "uuid", "packed_len"}
                (the client's pack refuses big-endian arrays: "Type >i4 is ambiguous or unknown")
      blob-le:  the same after converting a big-endian array to little-endian (what spec 1.10 says
                djfs stores for such a .npy; the client then fetches the little-endian array)
      attach:   MD5 of NAME.encode() + b"\\0" + contents (NAME default basename(FILE))
                -> {"hex", "uuid", "size", "name"}
      raw:      MD5 of the file bytes (a `.blob` written as is) -> {"hex", "uuid", "size"}
      filepath: MD5 of FILE taken as the relative path text (not opened) -> {"hex", "uuid"}
      Failure (e.g. np.load refusing an object .npy) -> {"hex": null, "error": ...}.
  unused STORE
      {"tracking_table": bool, "hashes": [hex] (client's schema.external[STORE].unused()),
       "not_exists": [hex] (NOT EXISTS per referencing column), "references": ["`db`.`t`.col"],
       "null_references": [those holding a NULL]}   all sorted.
  tracked STORE
      {"tracking_table": bool, "objects": [{"hash", "size", "attachment_name", "filepath",
       "contents_hash", "path", "exists_in_store", "object_size"}]}   sorted by hash
  external-delete STORE [--tracking-only]
      schema.external[STORE].delete(delete_external_files=True) (False with --tracking-only);
      {"errors": [{"hash", "path", "error"}], "deleted": [hex], "remaining": [hex]}
  insert1 TABLE JSON_ROW
      TABLE.insert1(row, allow_direct_insert=True); JSON_ROW a JSON object or @file.json.
      Blob attributes: {"npy": "path.npy"} -> np.load(path, allow_pickle=True);
        {"packed": "path"} -> those serialized bytes inserted verbatim (the client's
        blob.bypass_serialization; other blobs of the row are packed normally);
        {"value": X} -> X itself; any other JSON value -> itself (a list/dict/number is packed).
      Attach attributes: {"attach": "path"} or a plain path string. Filepath: {"filepath": path}
        or a path string (must be under the store's stage). null -> NULL/default.
      {"ok": true} | {"ok": false, "error": str, "error_type": class name}
  delete TABLE KEY [--force-parts]
      (TABLE & KEY).delete() with safemode off (cascades to dependents as the client does; a part
      table refuses unless --force-parts). {"deleted": bool (rows of TABLE deleted), "count": n,
      "cascade": {ClassName: rows deleted, ...}} or with "error" (then deleted false).

Client quirks worth knowing are listed in README.md (section client_view.py).
"""

import contextlib
import datetime
import decimal
import hashlib
import io
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import traceback
import uuid

os.environ["DJ_SUPPORT_FILEPATH_MANAGEMENT"] = "TRUE"  # filepath@store is experimental in 0.14

import datajoint as dj  # noqa: E402
import numpy as np  # noqa: E402
import pymysql  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import djenv  # noqa: E402

NO_SCHEMA_COMMANDS = {"npy-equal", "expected-hash"}
COMMANDS = {
    # name: (min positional args, max positional args, flags)
    "rows": (1, 1, ()),
    "row": (2, 2, ()),
    "fetch-npy": (4, 4, ()),
    "fetch-raw": (4, 4, ()),
    "npy-equal": (2, 2, ()),
    "fetch-attach": (4, 4, ()),
    "external-info": (3, 3, ()),
    "expected-hash": (2, 3, ()),
    "unused": (1, 1, ()),
    "tracked": (1, 1, ()),
    "external-delete": (1, 1, ("--tracking-only",)),
    "insert1": (2, 2, ()),
    "delete": (2, 2, ("--force-parts",)),
    "sql": (1, 2, ()),
}


class UsageError(Exception):
    """Exit 2."""


class MissingError(Exception):
    """Exit 3: schema or table does not exist."""


# =============================================================================== JSON values

def time_text(td):
    total_us = td.days * 86400 * 10**6 + td.seconds * 10**6 + td.microseconds
    sign = "-" if total_us < 0 else ""
    secs, us = divmod(abs(total_us), 10**6)
    h, rem = divmod(secs, 3600)
    m, s = divmod(rem, 60)
    return f"{sign}{h:02d}:{m:02d}:{s:02d}" + (f".{us:06d}" if us else "")


def jsonable(v):
    """A value the client returned, as plain JSON (see the module docstring)."""
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, np.generic):
        v = v.item()
        if isinstance(v, (bytes, datetime.datetime, datetime.date, datetime.timedelta)):
            return jsonable(v)
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return v
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, datetime.datetime):
        return v.isoformat(sep=" ", timespec="microseconds" if v.microsecond else "seconds")
    if isinstance(v, datetime.date):
        return v.isoformat()
    if isinstance(v, datetime.timedelta):
        return time_text(v)
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).hex()
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, np.ndarray):
        return jsonable(v.tolist())
    return str(v)


def parse_json_arg(text, what):
    if text.startswith("@"):
        try:
            with open(text[1:], encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            raise UsageError(f"cannot read {what} from {text[1:]}: {e}") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise UsageError(f"{what} is not valid JSON: {e}") from None
    if not isinstance(value, dict):
        raise UsageError(f"{what} must be a JSON object")
    return value


def md5_file(path):
    md5, size = hashlib.md5(), 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            md5.update(chunk)
            size += len(chunk)
    return md5.hexdigest(), size


QUIET = False  # the self-test keeps expected errors off stderr


def error_doc(e, **extra):
    """The JSON of a failure of the client; one line on stderr (the traceback with CLIENT_VIEW_DEBUG=1)."""
    if os.environ.get("CLIENT_VIEW_DEBUG"):
        traceback.print_exc(file=sys.stderr)
    elif not QUIET:
        print(f"client_view.py: {type(e).__name__}: {e}", file=sys.stderr)
    return dict(extra, error=str(e) or repr(e), error_type=type(e).__name__)


# =============================================================================== client access

def setup_client(config):
    djenv.configure(with_stores=config in (None, "-"), stores_required=False)
    if config not in (None, "-"):
        try:
            dj.config.load(config)
        except (OSError, json.JSONDecodeError) as e:
            raise UsageError(f"cannot load config {config}: {e}") from None
    dj.config["database.use_tls"] = False
    dj.config["cache"] = None  # never read or fill a cache folder
    dj.config["safemode"] = False
    dj.config["loglevel"] = "WARNING"
    return dj.conn(reset=True)


class Client:
    """The schema as the client sees it (dj.VirtualModule)."""

    def __init__(self, conn, schema):
        self.conn, self.database = conn, schema
        exists = conn.query("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME=%s",
                            args=(schema,)).fetchone()[0]
        if not exists:
            raise MissingError(f"schema `{schema}` does not exist")
        self.vm = dj.VirtualModule("client_view_" + schema, schema, create_schema=False)
        self.schema = self.vm.schema

    def classes(self):
        """(dotted class name, class) of every table, masters then their parts."""
        out = []
        for name, obj in sorted(vars(self.vm).items()):
            if isinstance(obj, type) and issubclass(obj, dj.Table) and not issubclass(obj, dj.Part):
                out.append((name, obj))
                for pname, part in sorted(vars(obj).items()):
                    if isinstance(part, type) and issubclass(part, dj.Part):
                        out.append((f"{name}.{pname}", part))
        return out

    def table(self, name):
        obj = self.vm
        for part in name.split("."):
            obj = getattr(obj, part, None) if part and not part.startswith("_") else None
            if obj is None:
                break
        if isinstance(obj, type) and issubclass(obj, dj.Table):
            return obj()
        for cname, cls in self.classes():  # the MySQL table name
            if cls.table_name == name or cls.table_name == name.strip("`"):
                return cls()
        raise MissingError(f"table `{name}` not found in schema `{self.database}`")

    def tracking_exists(self, store):
        return bool(self.conn.query(
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA=%s AND TABLE_NAME=%s",
            args=(self.database, f"~external_{store}")).fetchone()[0])

    def external(self, store):
        """schema.external[store], only when the store is configured and its table exists
        (the client would otherwise create the tracking table)."""
        if store not in (dj.config.get("stores") or {}):
            raise UsageError(f"store `{store}` is not in the config")
        if not self.tracking_exists(store):
            return None
        return self.schema.external[store]


def sql_literal(value, attr):
    """An escaped SQL literal for a restriction string (the client itself doubles `%` in string
    restrictions before its `%`-formatting of the query)."""
    if value is None:
        return None
    if attr.uuid:
        try:
            u = value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
        except ValueError:
            raise UsageError(f"bad uuid {value!r} for `{attr.name}`") from None
        return f"X'{u.bytes.hex()}'"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (dict, list)):
        raise UsageError(f"key value for `{attr.name}` must be a scalar")
    return "'" + pymysql.converters.escape_string(str(value)) + "'"


def restrict(table, key):
    heading = table.heading
    conds = []
    for name, value in key.items():
        if name not in heading.names:
            raise UsageError(f"`{name}` is not an attribute of {table.__class__.__name__} "
                             f"({', '.join(heading.names)})")
        lit = sql_literal(value, heading.attributes[name])
        conds.append(f"`{name}` IS NULL" if lit is None else f"`{name}`={lit}")
    return table & dj.AndList(conds) if conds else table


def check_attr(table, attr):
    if attr not in table.heading.names:
        raise UsageError(f"`{attr}` is not an attribute of {table.__class__.__name__}")
    return table.heading.attributes[attr]


def raw_value(client, query, attr):
    """The column's bytes exactly as in MySQL (external: the 16 hash bytes)."""
    rows = client.conn.query(query.make_sql([attr])).fetchall()
    return None if rows[0][0] is None else bytes(rows[0][0])


def tracking_row(client, store, hash_bytes):
    rows = client.conn.query(
        f"SELECT size, attachment_name, filepath, contents_hash FROM `{client.database}`.`~external_{store}` "
        "WHERE hash=%s", args=(hash_bytes,)).fetchall()
    if not rows:
        return None
    size, attachment_name, filepath, contents_hash = rows[0]
    return dict(size=int(size), attachment_name=attachment_name, filepath=filepath,
                contents_hash=None if contents_hash is None else bytes(contents_hash).hex())


def object_stat(spec, path, clients):
    """(exists, size) of a stored object, asked from the store itself."""
    if path is None:
        return False, None
    if spec["protocol"].lower() == "file":
        if os.path.exists(path):
            return True, os.path.getsize(path)
        return False, None
    import minio

    key = (spec["endpoint"], spec["access_key"], spec["bucket"])
    client = clients.get(key)
    if client is None:
        client = clients[key] = djenv.minio_client(spec)
    try:
        st = client.stat_object(spec["bucket"], str(path))
    except minio.error.S3Error as e:
        if e.code in ("NoSuchKey", "NoSuchObject", "ResourceNotFound"):
            return False, None
        raise
    return True, st.size


def spec_path(spec, database, hex_text, attachment_name, filepath):
    if filepath is not None and attachment_name is None:
        return str(djenv.filepath_object_path(spec, filepath))
    return str(djenv.object_path(spec, database, hex_text, attachment_name))


def client_path(ext, hash_bytes):
    paths = (ext & {"hash": uuid.UUID(bytes=hash_bytes)}).fetch_external_paths()
    return str(paths[0][1]) if paths else None


def one_row(table, key):
    q = restrict(table, key)
    n = len(q)
    if n != 1:
        return q, {"exists": False, "count": n, "error": f"key {json.dumps(key)} matches {n} rows"}
    return q, None


# =============================================================================== commands

def cmd_rows(client, table):
    t = client.table(table)
    # proj().fetch(as_dict=True): fetch("KEY") builds a numpy record array, which overflows on
    # bigint unsigned keys above 2**63
    keys = t.proj().fetch(as_dict=True, order_by="KEY")
    return {"keys": [jsonable(k) for k in keys]}


def cmd_row(client, table, key):
    t = client.table(table)
    q = restrict(t, parse_json_arg(key, "KEY"))
    n = len(q)
    if n != 1:
        return {"exists": False, "count": n, "values": {}}
    heading = t.heading
    plain = [a for a in heading.names
             if not (heading.attributes[a].is_blob or heading.attributes[a].is_attachment
                     or heading.attributes[a].is_filepath)]
    values = {}
    if plain:
        # proj + as_dict: fetch(*attrs) goes through a numpy record array (overflows on large unsigned)
        fetched = q.proj(*[a for a in plain if a not in heading.primary_key]).fetch(as_dict=True)[0]
        values = {a: jsonable(fetched[a]) for a in plain}
    for name in heading.names:
        attr = heading.attributes[name]
        if name in values:
            continue
        info = {}
        raw = raw_value(client, q, name) if (attr.is_external or attr.is_attachment) else None
        if attr.is_external:
            info["store"] = attr.store
            info["hash"] = None if raw is None else raw.hex()
        if attr.is_blob:
            try:
                info["is_none"] = q.fetch1(name) is None
            except Exception as e:  # noqa: BLE001 -- the client's failure is the answer
                info["is_none"] = False
                info.update(error_doc(e))
            values[name] = {"blob": info}
        elif attr.is_attachment:
            info["is_none"] = raw is None
            if raw is None:
                info["name"] = None
            elif attr.is_external:
                tr = tracking_row(client, attr.store, raw)
                info["name"] = tr and tr["attachment_name"]
            else:
                info["name"] = raw.split(b"\0", 1)[0].decode("utf-8", "replace")
            values[name] = {"attach": info}
        else:  # filepath
            info["is_none"] = raw is None
            tr = tracking_row(client, attr.store, raw) if raw is not None else None
            info["relpath"] = tr and tr["filepath"]
            values[name] = {"filepath": info}
    return {"exists": True, "count": 1, "values": values}


def save_npy(path, array):
    with open(path, "wb") as f:  # np.save(path) would append `.npy` to names without it
        np.save(f, array, allow_pickle=True)


def cmd_fetch_npy(client, table, key, attr, out):
    t = client.table(table)
    check_attr(t, attr)
    q, missing = one_row(t, parse_json_arg(key, "KEY"))
    if missing:
        return missing
    try:
        value = q.fetch1(attr)
    except Exception as e:  # noqa: BLE001
        return error_doc(e, is_none=False)
    if value is None:
        return {"is_none": True, "dtype": None, "descr": None, "shape": None, "is_array": False,
                "type": "NoneType"}
    arr = np.asarray(value)
    save_npy(out, arr)
    return {"is_none": False, "dtype": str(arr.dtype), "descr": arr.dtype.str, "shape": list(arr.shape),
            "is_array": isinstance(value, np.ndarray), "type": type(value).__name__}


def cmd_fetch_raw(client, table, key, attr, out):
    t = client.table(table)
    a = check_attr(t, attr)
    if not (a.is_blob or (a.is_attachment and not a.is_external)):
        raise UsageError(f"fetch-raw takes a blob or an internal attach attribute, not `{attr}` ({a.type}); "
                         "use fetch-attach / external-info")
    q, missing = one_row(t, parse_json_arg(key, "KEY"))
    if missing:
        return missing
    raw = raw_value(client, q, attr)
    if raw is None:
        return {"is_none": True, "size": None, "md5": None}
    if a.is_external:
        try:
            raw = client.schema.external[a.store].get(uuid.UUID(bytes=raw))
        except Exception as e:  # noqa: BLE001
            return error_doc(e, is_none=False)
    with open(out, "wb") as f:
        f.write(raw)
    return {"is_none": False, "size": len(raw), "md5": hashlib.md5(raw).hexdigest()}


def load_npy(path):
    try:
        return np.load(path, allow_pickle=True), None
    except Exception as e:  # noqa: BLE001
        return None, f"{path}: {e}"


def cmd_npy_equal(a_path, b_path):
    a, err_a = load_npy(a_path)
    b, err_b = load_npy(b_path)
    if err_a or err_b:
        return {"equal": False, "error": "; ".join(x for x in (err_a, err_b) if x)}
    dtype_equal = a.dtype == b.dtype
    shape_equal = a.shape == b.shape
    values_equal = False
    if shape_equal:
        try:
            values_equal = bool(np.array_equal(a, b, equal_nan=True))
        except (TypeError, ValueError):
            try:
                values_equal = bool(np.array_equal(a, b))
            except Exception:  # noqa: BLE001
                values_equal = False
    return {"equal": bool(dtype_equal and shape_equal and values_equal),
            "dtype_a": str(a.dtype), "dtype_b": str(b.dtype),
            "descr_a": a.dtype.str, "descr_b": b.dtype.str,
            "shape_a": list(a.shape), "shape_b": list(b.shape),
            "dtype_equal": bool(dtype_equal), "shape_equal": bool(shape_equal),
            "values_equal": values_equal}


def cmd_fetch_attach(client, table, key, attr, folder):
    t = client.table(table)
    a = check_attr(t, attr)
    if not a.is_attachment:
        raise UsageError(f"`{attr}` is not an attachment")
    q, missing = one_row(t, parse_json_arg(key, "KEY"))
    if missing:
        return missing
    raw = raw_value(client, q, attr)
    if raw is None:
        return {"path": None}
    if a.is_external:
        tr = tracking_row(client, a.store, raw)
        stored_name = tr and tr["attachment_name"]
    else:
        stored_name = raw.split(b"\0", 1)[0].decode("utf-8", "replace")
    os.makedirs(folder, exist_ok=True)
    try:
        path = q.fetch1(attr, download_path=folder)
    except Exception as e:  # noqa: BLE001
        return error_doc(e, path=None, attachment_name=stored_name)
    md5, size = md5_file(path)
    return {"path": str(path), "name": os.path.basename(path), "attachment_name": stored_name,
            "size": size, "md5": md5}


def cmd_external_info(client, table, key, attr):
    t = client.table(table)
    a = check_attr(t, attr)
    if not a.is_external:
        raise UsageError(f"`{attr}` is not an external attribute")
    kind = "blob" if a.is_blob else "attach" if a.is_attachment else "filepath"
    if a.store not in (dj.config.get("stores") or {}):
        raise UsageError(f"store `{a.store}` is not in the config")
    q, missing = one_row(t, parse_json_arg(key, "KEY"))
    if missing:
        return missing
    raw = raw_value(client, q, attr)
    doc = {"store": a.store, "kind": kind, "hash": None, "uuid": None, "tracking": None, "path": None,
           "spec_path": None, "exists_in_store": False, "object_size": None}
    if raw is None:
        return doc
    doc["hash"], doc["uuid"] = raw.hex(), str(uuid.UUID(bytes=raw))
    tr = doc["tracking"] = tracking_row(client, a.store, raw)
    spec = dj.config.get_store_spec(a.store)
    if tr is not None:
        ext = client.schema.external[a.store]
        doc["path"] = client_path(ext, raw)
        doc["spec_path"] = spec_path(spec, client.database, raw.hex(), tr["attachment_name"], tr["filepath"])
        doc["exists_in_store"], doc["object_size"] = object_stat(spec, doc["path"], {})
    return doc


def cmd_expected_hash(kind, path, name=None):
    try:
        if kind in ("blob", "blob-le"):
            value = np.load(path)
            if kind == "blob-le" and value.dtype.byteorder == ">":
                value = value.astype(value.dtype.newbyteorder("<"))
            packed = dj.blob.pack(value)
            digest = hashlib.md5(packed).digest()
            return {"hex": digest.hex(), "uuid": str(uuid.UUID(bytes=digest)), "packed_len": len(packed)}
        if kind == "attach":
            name = os.path.basename(path) if name is None else name
            with open(path, "rb") as f:
                data = f.read()
            digest = hashlib.md5(name.encode() + b"\0" + data).digest()
            return {"hex": digest.hex(), "uuid": str(uuid.UUID(bytes=digest)), "size": len(data), "name": name}
        if kind == "raw":
            md5, size = md5_file(path)
            return {"hex": md5, "uuid": str(uuid.UUID(hex=md5)), "size": size}
        if kind == "filepath":
            digest = hashlib.md5(path.encode()).digest()
            return {"hex": digest.hex(), "uuid": str(uuid.UUID(bytes=digest))}
    except Exception as e:  # noqa: BLE001
        return error_doc(e, hex=None)
    raise UsageError(f"expected-hash KIND must be blob, blob-le, attach, raw or filepath, not {kind!r}")


def references(client, store):
    return sorted((r["referencing_table"], r["column_name"]) for r in client.schema.external[store].references)


def cmd_sql(client, statement, params="[]"):
    """Runs one statement on the client's connection (fault tests: damage a row on purpose).
    PARAMS is a JSON list; strings prefixed `hex:` are passed as bytes."""
    args = [bytes.fromhex(p[4:]) if isinstance(p, str) and p.startswith("hex:") else p
            for p in json.loads(params)]
    cur = client.conn.query(statement.replace("{schema}", client.database), args=args)
    rows = cur.fetchall() if cur.description else []
    client.conn.query("COMMIT")
    return {"rowcount": cur.rowcount,
            "rows": [[bytes(v).hex() if isinstance(v, (bytes, bytearray)) else jsonable(v) for v in r]
                     for r in rows]}


def cmd_unused(client, store):
    ext = client.external(store)
    if ext is None:
        return {"tracking_table": False, "hashes": [], "not_exists": [], "references": [],
                "null_references": []}
    refs = references(client, store)
    hashes = sorted(u.hex for u in ext.unused().fetch("hash"))
    conds = [f"NOT EXISTS (SELECT 1 FROM {t} AS r WHERE r.`{c}` = e.hash)" for t, c in refs]
    sql = f"SELECT hash FROM `{client.database}`.`~external_{store}` AS e"
    if conds:
        sql += " WHERE " + " AND ".join(conds)
    not_exists = sorted(bytes(h).hex() for (h,) in client.conn.query(sql).fetchall())
    nulls = [f"{t}.`{c}`" for t, c in refs
             if client.conn.query(f"SELECT EXISTS (SELECT 1 FROM {t} WHERE `{c}` IS NULL)").fetchone()[0]]
    return {"tracking_table": True, "hashes": hashes, "not_exists": not_exists,
            "references": [f"{t}.`{c}`" for t, c in refs], "null_references": nulls}


def tracked_hashes(client, store):
    return sorted(bytes(h).hex() for (h,) in client.conn.query(
        f"SELECT hash FROM `{client.database}`.`~external_{store}`").fetchall())


def cmd_tracked(client, store):
    ext = client.external(store)
    if ext is None:
        return {"tracking_table": False, "objects": []}
    spec = dj.config.get_store_spec(store)
    paths = {u.bytes: str(p) for u, p in ext.fetch_external_paths()}
    rows = client.conn.query(
        f"SELECT hash, size, attachment_name, filepath, contents_hash FROM `{client.database}`.`~external_{store}` "
        "ORDER BY hash").fetchall()
    clients, objects = {}, []
    for h, size, attachment_name, filepath, contents_hash in rows:
        h = bytes(h)
        path = paths.get(h)
        exists, object_size = object_stat(spec, path, clients)
        objects.append(dict(hash=h.hex(), size=int(size), attachment_name=attachment_name, filepath=filepath,
                            contents_hash=None if contents_hash is None else bytes(contents_hash).hex(),
                            path=path, exists_in_store=exists, object_size=object_size))
    objects.sort(key=lambda o: o["hash"])
    return {"tracking_table": True, "objects": objects}


def cmd_external_delete(client, store, tracking_only=False):
    ext = client.external(store)
    if ext is None:
        return {"tracking_table": False, "errors": [], "deleted": [], "remaining": []}
    before = set(tracked_hashes(client, store))
    try:
        errors = ext.delete(delete_external_files=not tracking_only, display_progress=False) or []
    except Exception as e:  # noqa: BLE001
        remaining = tracked_hashes(client, store)
        return error_doc(e, errors=[], deleted=sorted(before - set(remaining)), remaining=remaining)
    remaining = tracked_hashes(client, store)
    return {"tracking_table": True,
            "errors": [{"hash": u.hex, "path": str(p), "error": str(msg)} for u, p, msg in errors],
            "deleted": sorted(before - set(remaining)), "remaining": remaining}


def insert_value(attr, value):
    """(python value for insert1, packed?)"""
    if isinstance(value, dict) and len(value) == 1:
        (form, arg), = value.items()
        if attr.is_blob:
            if form == "npy":
                return np.load(arg, allow_pickle=True), False
            if form == "packed":
                with open(arg, "rb") as f:
                    return f.read(), True
            if form == "value":
                return arg, False
        if attr.is_attachment and form == "attach":
            return arg, False
        if attr.is_filepath and form == "filepath":
            return arg, False
    return value, False


def cmd_insert1(client, table, row_text):
    t = client.table(table)
    row = parse_json_arg(row_text, "JSON_ROW")
    heading = t.heading
    values, packed_attrs = {}, []
    try:
        for name, value in row.items():
            attr = heading.attributes.get(name)
            if attr is None:
                values[name] = value  # the client reports unknown attributes itself
                continue
            values[name], packed = insert_value(attr, value)
            if packed:
                packed_attrs.append(name)
    except Exception as e:  # noqa: BLE001 -- unreadable input file
        return error_doc(e, ok=False)
    bypass = dj.blob.bypass_serialization
    try:
        if packed_attrs:
            for name, value in values.items():  # with bypass on, the client packs nothing itself
                attr = heading.attributes.get(name)
                if attr is not None and attr.is_blob and name not in packed_attrs and value is not None:
                    values[name] = dj.blob.pack(value)
            dj.blob.bypass_serialization = True
        t.insert1(values, allow_direct_insert=True)
    except Exception as e:  # noqa: BLE001
        return error_doc(e, ok=False)
    finally:
        dj.blob.bypass_serialization = bypass
    return {"ok": True}


def row_counts(client):
    out = {}
    for name, cls in client.classes():
        out[name] = len(cls())
    return out


def cmd_delete(client, table, key, force_parts=False):
    t = client.table(table)
    q = restrict(t, parse_json_arg(key, "KEY"))
    before_all = row_counts(client)
    before = len(q)
    err = None
    try:
        if isinstance(t, dj.Part):
            q.delete(force=force_parts)
        else:
            q.delete()
    except Exception as e:  # noqa: BLE001
        err = e
    after_all = row_counts(client)
    count = before - len(q)
    cascade = {n: before_all[n] - after_all.get(n, 0) for n in before_all if before_all[n] != after_all.get(n, 0)}
    doc = {"deleted": count > 0 and err is None, "count": count, "cascade": cascade}
    if err is not None:
        doc.update(error_doc(err))
    return doc


# =============================================================================== command line

def parse_args(argv):
    opts = {"config": None, "self_test": False, "keep": False, "flags": set(), "pos": []}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--config":
            if i + 1 >= len(argv):
                raise UsageError("--config needs a file")
            opts["config"] = argv[i + 1]
            i += 2
            continue
        if a.startswith("--config="):
            opts["config"] = a.split("=", 1)[1]
        elif a == "--self-test":
            opts["self_test"] = True
        elif a == "--keep":
            opts["keep"] = True
        elif a in ("-h", "--help"):
            opts["help"] = True
        elif a.startswith("--"):
            opts["flags"].add(a)
        else:
            opts["pos"].append(a)
        i += 1
    return opts


def run(opts):
    pos = list(opts["pos"])
    if not pos:
        raise UsageError("missing SCHEMA and COMMAND")
    if pos[0] in NO_SCHEMA_COMMANDS:
        schema = None
    else:
        schema = pos.pop(0)
    if not pos:
        raise UsageError("missing COMMAND")
    command, args = pos[0], pos[1:]
    if command not in COMMANDS:
        raise UsageError(f"unknown command {command!r} (one of {', '.join(sorted(COMMANDS))})")
    lo, hi, flags = COMMANDS[command]
    if not lo <= len(args) <= hi:
        raise UsageError(f"{command} takes {lo}{'' if lo == hi else f'..{hi}'} arguments, got {len(args)}")
    bad = opts["flags"] - set(flags)
    if bad:
        raise UsageError(f"unknown option(s) for {command}: {', '.join(sorted(bad))}")
    if command == "npy-equal":
        return cmd_npy_equal(*args)
    if command == "expected-hash":
        return cmd_expected_hash(*args)
    if schema in (None, "-"):
        raise UsageError(f"{command} needs a SCHEMA")
    conn = setup_client(opts["config"])
    client = Client(conn, schema)
    fn = {
        "rows": cmd_rows, "row": cmd_row, "fetch-npy": cmd_fetch_npy, "fetch-raw": cmd_fetch_raw,
        "fetch-attach": cmd_fetch_attach, "external-info": cmd_external_info, "unused": cmd_unused,
        "tracked": cmd_tracked, "insert1": cmd_insert1, "sql": cmd_sql,
    }.get(command)
    if fn is not None:
        return fn(client, *args)
    if command == "external-delete":
        return cmd_external_delete(client, args[0], tracking_only="--tracking-only" in opts["flags"])
    if command == "delete":
        return cmd_delete(client, args[0], args[1], force_parts="--force-parts" in opts["flags"])
    raise UsageError(command)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    out = sys.stdout
    try:
        opts = parse_args(argv)
        if opts.get("help"):
            out.write(__doc__)
            return 0
        if opts["self_test"]:
            return self_test(opts)
        with contextlib.redirect_stdout(sys.stderr):  # stray prints of the client stay off stdout
            doc = run(opts)
    except UsageError as e:
        print(f"client_view.py: {e}", file=sys.stderr)
        return 2
    except MissingError as e:
        print(f"client_view.py: {e}", file=sys.stderr)
        return 3
    out.write(json.dumps(doc, ensure_ascii=False, allow_nan=False) + "\n")
    out.flush()
    return 0


# =============================================================================== self-test

SELF_TEST_TABLES = '''
@schema
class Item(dj.Manual):
    definition = """
    item_id : int
    label : varchar(64)
    ---
    note = null : varchar(255)
    day = null : date
    moment = null : datetime(3)
    span = null : time
    uid = null : uuid
    price = null : decimal(8,2)
    ratio = null : float
    inblob = null : longblob
    b_s3 : blob@{s3}
    a_s3 : attach@{s3}
    b_file = null : blob@{file}
    a_file = null : attach@{file}
    a_in = null : attach
    """

    class Sub(dj.Part):
        definition = """
        -> master
        sub : int
        ---
        v : float
        """


@schema
class Child(dj.Manual):
    definition = """
    -> Item
    ---
    c : int
    """
'''


class SelfTest:
    def __init__(self, config, schema, tmp):
        self.config, self.schema, self.tmp = config, schema, tmp
        self.passed, self.failures = 0, []

    def check(self, cond, what, detail=None):
        if cond:
            self.passed += 1
        else:
            self.failures.append(f"{what}" + (f": {detail}" if detail is not None else ""))
        return cond

    def call(self, *args, schema=True, expect_rc=0):
        argv = ["--config", self.config] + ([self.schema] if schema else []) + list(args)
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            rc = main(argv)
        text = buf.getvalue()
        self.check(rc == expect_rc, f"exit code of {args[0]}", f"{rc} != {expect_rc}")
        if rc != 0:
            return None
        lines = text.splitlines()
        self.check(len(lines) == 1, f"{args[0]} prints one line", text[:300])
        return json.loads(text)

    def path(self, name):
        return os.path.join(self.tmp, name)


def self_test(opts):
    schema_name = f"djfs_cvself_{os.getpid()}"
    tmp = tempfile.mkdtemp(prefix="djfs-client-view-")
    t = None
    try:
        config = opts["config"]
        djenv.configure()
        if config in (None, "-"):
            stores = {"shared": dict(protocol="s3", location="", **djenv.s3_settings()),
                      "local": dict(protocol="file", location=os.path.join(tmp, "store"))}
            config = os.path.join(tmp, "config.json")
            djenv.write_config(config, stores)
        with open(config) as f:
            stores = json.load(f).get("stores") or {}
        s3_store = next((s for s, v in sorted(stores.items()) if v["protocol"].lower() == "s3"), None)
        file_store = next((s for s, v in sorted(stores.items()) if v["protocol"].lower() == "file"), None)
        if not (s3_store and file_store):
            raise UsageError("--self-test needs a config with an s3 store and a file store")
        djenv.ensure_stores({k: stores[k] for k in (s3_store, file_store)})
        setup_client(config)
        schema = djenv.fresh_schema(schema_name)
        ctx = {"dj": dj, "schema": schema}
        exec(SELF_TEST_TABLES.format(s3=s3_store, file=file_store), ctx)
        t = SelfTest(config, schema_name, tmp)
        global QUIET
        QUIET = True
        try:
            run_self_test(t, s3_store, file_store)
        except Exception:  # noqa: BLE001
            t.failures.append("self-test crashed: " + traceback.format_exc())
        finally:
            if not opts["keep"]:
                cleanup(config, schema_name, stores[s3_store], stores[file_store])
    except UsageError as e:
        print(f"client_view.py: {e}", file=sys.stderr)
        return 2
    finally:
        if not opts["keep"]:
            shutil.rmtree(tmp, ignore_errors=True)
    for f in t.failures:
        print(f"FAIL {f}")
    kept = f" (schema {schema_name} and {tmp} kept)" if opts["keep"] else ""
    print(f"{t.passed} passed, {len(t.failures)} failed{kept}")
    return 1 if t.failures else 0


def cleanup(config, schema_name, s3_spec, file_spec):
    """Drop the scratch schema and remove its objects from both stores."""
    shutil.rmtree(os.path.join(file_spec["location"], schema_name), ignore_errors=True)
    setup_client(config)
    conn = dj.conn()
    if conn.query("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME=%s",
                  args=(schema_name,)).fetchone()[0]:
        dj.Schema(schema_name, create_schema=False).drop(force=True)
    client = djenv.minio_client(s3_spec)
    prefix = djenv.s3_location_prefix(s3_spec.get("location", ""))
    prefix = (prefix + "/" if prefix else "") + schema_name + "/"

    def walk(pre):  # level by level: s3s-fs answers recursive listings with truncated keys
        for obj in client.list_objects(s3_spec["bucket"], prefix=pre):
            if obj.is_dir:
                yield from walk(obj.object_name)
            else:
                yield obj.object_name

    for name in list(walk(prefix)):
        client.remove_object(s3_spec["bucket"], name)


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return path


def run_self_test(t, s3, fs):
    p = t.path
    rng = np.random.default_rng(7)
    arr = rng.standard_normal((3, 4))
    save_npy(p("arr.npy"), arr)
    save_npy(p("ints.npy"), np.arange(2000, dtype=np.int64))  # compressible
    save_npy(p("zero_d.npy"), np.array(2.5))
    save_npy(p("obj.npy"), np.array([{"a": 1}], dtype=object))
    os.makedirs(p("files"))
    f1 = write(p("files/résumé µ.txt"), "µ-scope\n".encode())
    f2 = write(p("files/data.tar.gz"), rng.bytes(3000))
    f3 = write(p("files/notes.txt"), b"hello world\n")
    key1 = json.dumps({"item_id": 1, "label": 'a "quoted", 100% \\ label'})
    key2 = json.dumps({"item_id": 2, "label": "plain"})
    row1 = dict(item_id=1, label='a "quoted", 100% \\ label', note="n", day="2024-02-29",
                moment="2024-01-02 03:04:05.678", span="-01:02:03", uid="2f7e0d1a-1111-4222-8333-444455556666",
                price="3.5", ratio=0.25, inblob={"npy": p("ints.npy")}, b_s3={"npy": p("arr.npy")},
                a_s3={"attach": f1}, b_file={"npy": p("arr.npy")}, a_file={"attach": f2}, a_in=f3)
    r = t.call("insert1", "Item", json.dumps(row1))
    t.check(r == {"ok": True}, "insert1 row 1", r)
    r = t.call("insert1", "Item", json.dumps(dict(item_id=2, label="plain", b_s3={"value": [1, 2, 3]},
                                                   a_s3={"attach": f3})))
    t.check(r == {"ok": True}, "insert1 row 2 (NULLs)", r)
    r = t.call("insert1", "Item", json.dumps(dict(item_id=2, label="plain", b_s3=1, a_s3=f3)))
    t.check(r and r["ok"] is False and "Duplicate" in r.get("error_type", "") + r.get("error", ""),
            "insert1 duplicate fails", r)
    r = t.call("insert1", "Item.Sub", json.dumps(dict(item_id=2, label="plain", sub=1, v=0.5)))
    t.check(r == {"ok": True}, "insert1 part row", r)
    r = t.call("insert1", "Child", json.dumps(dict(item_id=2, label="plain", c=9)))
    t.check(r == {"ok": True}, "insert1 child row", r)
    r = t.call("insert1", "Child", json.dumps(dict(item_id=5, label="none", c=9)))
    t.check(r and r["ok"] is False, "insert1 with a missing parent fails", r)

    # packed bytes inserted verbatim (bypass_serialization) and read back equal
    packed = dj.blob.pack(np.arange(6, dtype=np.uint8).reshape(2, 3))
    write(p("packed.blob"), packed)
    r = t.call("insert1", "Item", json.dumps(dict(item_id=3, label="packed", b_s3={"packed": p("packed.blob")},
                                                   inblob={"npy": p("zero_d.npy")}, a_s3=f3)))
    t.check(r == {"ok": True}, "insert1 with packed bytes", r)
    r = t.call("fetch-raw", "Item", json.dumps({"item_id": 3, "label": "packed"}), "b_s3", p("raw3.blob"))
    t.check(r and r["md5"] == hashlib.md5(packed).hexdigest(), "fetch-raw of an external blob = packed", r)
    r = t.call("fetch-npy", "Item", json.dumps({"item_id": 3, "label": "packed"}), "inblob", p("zd.npy"))
    t.check(r and r["shape"] == [] and r["dtype"] == "float64", "fetch-npy 0-d", r)

    r = t.call("rows", "Item")
    t.check(r and [k["item_id"] for k in r["keys"]] == [1, 2, 3], "rows sorted", r)
    t.check(r and r["keys"][0]["label"] == row1["label"], "rows key value", r)
    r = t.call("rows", "Item.Sub")
    t.check(r == {"keys": [{"item_id": 2, "label": "plain", "sub": 1}]}, "rows of a part table", r)
    r = t.call("rows", "item__sub")
    t.check(r == {"keys": [{"item_id": 2, "label": "plain", "sub": 1}]}, "rows by MySQL table name", r)

    r = t.call("row", "Item", key1)
    v = r["values"] if r else {}
    t.check(r and r["exists"] is True, "row exists", r)
    want = {"item_id": 1, "label": row1["label"], "note": "n", "day": "2024-02-29",
            "moment": "2024-01-02 03:04:05.678000", "span": "-01:02:03",
            "uid": "2f7e0d1a-1111-4222-8333-444455556666", "price": "3.50", "ratio": 0.25}
    for k, w in want.items():
        t.check(v.get(k) == w, f"row value {k}", f"{v.get(k)!r} != {w!r}")
    t.check(v.get("inblob") == {"blob": {"is_none": False}}, "row internal blob", v.get("inblob"))
    t.check(v.get("b_s3", {}).get("blob", {}).get("is_none") is False, "row external blob", v.get("b_s3"))
    t.check(v.get("a_s3", {}).get("attach", {}).get("name") == "résumé µ.txt", "row external attach name",
            v.get("a_s3"))
    t.check(v.get("a_in", {}).get("attach", {}).get("name") == "notes.txt", "row internal attach name",
            v.get("a_in"))
    r = t.call("row", "Item", key2)
    v = r["values"] if r else {}
    t.check(v.get("b_file") == {"blob": {"store": fs, "hash": None, "is_none": True}}, "row NULL blob",
            v.get("b_file"))
    t.check(v.get("note") is None and v.get("a_file", {}).get("attach", {}).get("is_none") is True,
            "row NULLs", v)
    r = t.call("row", "Item", json.dumps({"item_id": 99}))
    t.check(r == {"exists": False, "count": 0, "values": {}}, "row missing", r)

    # fetch-npy / npy-equal / expected-hash blob / external-info
    for attr in ("b_s3", "b_file"):
        r = t.call("fetch-npy", "Item", key1, attr, p(f"{attr}.out"))
        t.check(r and r["dtype"] == "float64" and r["shape"] == [3, 4] and r["is_array"], f"fetch-npy {attr}", r)
        r = t.call("npy-equal", p(f"{attr}.out"), p("arr.npy"), schema=False)
        t.check(r and r["equal"], f"npy-equal {attr}", r)
        info = t.call("external-info", "Item", key1, attr)
        h = t.call("expected-hash", "blob", p("arr.npy"), schema=False)
        t.check(info and h and info["hash"] == h["hex"] and info["tracking"]["size"] == h["packed_len"],
                f"expected-hash blob == stored hash ({attr})", (info, h))
        t.check(info and info["path"] == info["spec_path"] and info["exists_in_store"]
                and info["object_size"] == info["tracking"]["size"], f"external-info path/exists {attr}", info)
    r = t.call("fetch-npy", "Item", key2, "b_file", p("none.out"))
    t.check(r and r["is_none"] is True and not os.path.exists(p("none.out")), "fetch-npy NULL", r)
    r = t.call("fetch-npy", "Item", key2, "b_s3", p("list.out"))
    t.check(r and r["is_array"] is False and r["type"] == "list", "fetch-npy non-array", r)
    r = t.call("npy-equal", p("arr.npy"), p("ints.npy"), schema=False)
    t.check(r and r["equal"] is False and r["shape_a"] == [3, 4], "npy-equal different", r)
    save_npy(p("arr32.npy"), arr.astype(np.float32).astype(np.float64).astype(np.float32))
    r = t.call("-", "npy-equal", p("arr32.npy"), p("arr32.npy"), schema=False)
    t.check(r and r["equal"], "npy-equal with `-` schema", r)
    save_npy(p("nan_a.npy"), np.array([1.0, np.nan]))
    r = t.call("npy-equal", p("nan_a.npy"), p("nan_a.npy"), schema=False)
    t.check(r and r["equal"], "npy-equal NaN", r)
    r = t.call("expected-hash", "blob", p("obj.npy"), schema=False)
    t.check(r and r["hex"] is None and r.get("error"), "expected-hash of an object npy reports an error", r)
    h = t.call("expected-hash", "filepath", "subject1/session2/file.dat", schema=False)
    t.check(h and h["hex"] == "803881e7f474ccc3105b3ff909155301", "expected-hash filepath (spec 3.2)", h)
    save_npy(p("int123.npy"), np.array([1, 2, 3]))
    h = t.call("expected-hash", "blob", p("int123.npy"), schema=False)
    t.check(h and h["hex"] == "ea5894dc3a465ebe4bbde80ebf08b161", "expected-hash blob (spec 3.2)", h)
    h = t.call("expected-hash", "raw", p("packed.blob"), schema=False)
    t.check(h and h["hex"] == hashlib.md5(packed).hexdigest(), "expected-hash raw", h)

    # attachments
    for attr, f in (("a_s3", f1), ("a_file", f2), ("a_in", f3)):
        folder = p(f"dl_{attr}")
        r = t.call("fetch-attach", "Item", key1, attr, folder)
        md5, size = md5_file(f)
        t.check(r and r["name"] == os.path.basename(f) and r["md5"] == md5 and r["size"] == size,
                f"fetch-attach {attr}", r)
        if attr != "a_in":
            info = t.call("external-info", "Item", key1, attr)
            h = t.call("expected-hash", "attach", f, schema=False)
            h2 = t.call("expected-hash", "attach", f, os.path.basename(f), schema=False)
            t.check(info and h and info["hash"] == h["hex"] == h2["hex"], f"expected-hash attach {attr}", (info, h))
            t.check(info and info["tracking"]["attachment_name"] == os.path.basename(f)
                    and info["path"] == info["spec_path"] and info["path"].endswith("." + os.path.basename(f))
                    and info["exists_in_store"], f"external-info attach {attr}", info)
    r = t.call("fetch-attach", "Item", key2, "a_file", p("dl_none"))
    t.check(r == {"path": None}, "fetch-attach NULL", r)

    # tracked / unused / delete / external-delete
    # The failed duplicate insert of row 2 had already uploaded pack(1) (the client uploads before
    # the row INSERT): its tracking row is the only unused one.
    failed = hashlib.md5(dj.blob.pack(1)).hexdigest()
    r = t.call("tracked", s3)
    objs = {o["hash"]: o for o in r["objects"]} if r else {}
    t.check(len(objs) == 6 and failed in objs and all(o["exists_in_store"] and o["object_size"] == o["size"]
                                                      for o in objs.values()), f"tracked {s3}", r)
    r = t.call("unused", s3)
    t.check(r and r["hashes"] == [failed] and r["not_exists"] == [failed], f"unused {s3}: the failed insert's", r)
    r = t.call("delete", "Item.Sub", key2)
    t.check(r and r["deleted"] is False and "error" in r, "delete from a part refused", r)
    r = t.call("delete", "Item.Sub", key2, "--force-parts")
    t.check(r and r["deleted"] and r["count"] == 1, "delete from a part with --force-parts", r)
    info_b = t.call("external-info", "Item", key1, "b_s3")
    info_a = t.call("external-info", "Item", key1, "a_s3")
    info_f = t.call("external-info", "Item", key1, "b_file")
    r = t.call("delete", "Item", key1)
    t.check(r and r["deleted"] and r["count"] == 1 and r["cascade"] == {"Item": 1}, "delete row 1", r)
    r = t.call("row", "Item", key1)
    t.check(r and r["exists"] is False, "deleted row is gone", r)
    r = t.call("delete", "Item", key2)
    t.check(r and r["deleted"] and r["cascade"] == {"Item": 1, "Child": 1}, "delete cascades to Child", r)
    r = t.call("unused", s3)
    want = sorted([info_b["hash"], info_a["hash"]])
    t.check(r and set(want) <= set(r["hashes"]) and r["hashes"] == r["not_exists"]
            and r["null_references"] == [], f"unused {s3} after delete", r)
    r = t.call("unused", fs)
    t.check(r and r["hashes"] == [] and info_f["hash"] in r["not_exists"] and r["null_references"],
            f"unused {fs}: client's unused() empty with NULL references, NOT EXISTS not", r)
    r = t.call("external-delete", s3)
    t.check(r and r["errors"] == [] and set(want) <= set(r["deleted"])
            and not set(want) & set(r["remaining"]), f"external-delete {s3}", r)
    spec = dj.config.get_store_spec(s3)
    t.check(not object_stat(spec, info_b["path"], {})[0] and not object_stat(spec, info_a["path"], {})[0],
            "external-delete removed the objects")
    r = t.call("tracked", s3)
    t.check(r and not set(want) & {o["hash"] for o in r["objects"]}
            and all(o["exists_in_store"] for o in r["objects"]), "tracked after external-delete", r)
    r = t.call("external-delete", fs, "--tracking-only")
    t.check(r and r["deleted"] == [] and r["errors"] == [], "external-delete with NULL references deletes nothing", r)

    # usage errors and missing tables, through a real subprocess as the Rust tests call it
    me = os.path.abspath(__file__)

    def sub(*args):
        return subprocess.run([sys.executable, me, "--config", t.config] + list(args),
                              capture_output=True, text=True)

    cp = sub(t.schema, "rows", "NoSuchTable")
    t.check(cp.returncode == 3 and cp.stdout == "" and "NoSuchTable" in cp.stderr, "missing table exits 3",
            (cp.returncode, cp.stderr[-300:]))
    cp = sub(t.schema, "row", "Item", '{"nope": 1}')
    t.check(cp.returncode == 2 and cp.stdout == "", "unknown key attribute exits 2", (cp.returncode, cp.stderr))
    cp = sub(t.schema, "bogus")
    t.check(cp.returncode == 2, "unknown command exits 2", cp.returncode)
    cp = sub(t.schema, "rows", "Item")
    t.check(cp.returncode == 0 and json.loads(cp.stdout) == {"keys": [{"item_id": 3, "label": "packed"}]},
            "subprocess rows", (cp.returncode, cp.stdout, cp.stderr[-300:]))
    cp = subprocess.run([sys.executable, me, "npy-equal", p("arr.npy"), p("arr.npy")], capture_output=True, text=True)
    t.check(cp.returncode == 0 and json.loads(cp.stdout)["equal"] is True, "npy-equal without config/schema",
            (cp.returncode, cp.stderr[-300:]))
    cp = sub("djfs_no_such_schema_xyz", "rows", "Item")
    t.check(cp.returncode == 3, "missing schema exits 3", cp.returncode)


if __name__ == "__main__":
    sys.exit(main())
