#!/usr/bin/env python
"""Compare a djfs mount of a DataJoint 2.x schema with what the real 2.x client (datajoint 2.3.5) fetches.

    check_mount_v2.py MOUNT SCHEMA --config FILE [--all-schemas] [--read-only] [--no-key-files] [-v]
    check_mount_v2.py --export DIR SCHEMA --config FILE [--no-key-files]

Run with the 2.x client ($DJFS_PY2). FILE is the datajoint.json that make_v2_reference.py wrote
(backend, connection, stores); DJ_* variables are ignored (see dj2env.py). MOUNT is the schema's
folder (or the mount root with --all-schemas). Prints one `FAIL` line per mismatch (missing and
extra files included), then `N passed, M failed`; exits 1 on any failure.

--export DIR writes the tree the mount must show, made from the same expectations (values from the
client's fetch, objects read from the stores), instead of checking: checking DIR must then pass,
and any altered, missing or extra file in it must fail (the checker's own self-test, usable before
a 2.x mount exists). `.definition` and `.diagram.*` are written empty: only their presence is
checked here (their contents by the Rust tests).

Tables and keys come from the client (`Schema.list_tables()`, `FreeTable`); folder and row names
are computed with check_mount.py's naming functions (class_name, key_value_text, escape_value,
shorten_name), so 0.14 and 2.x schemas follow one naming contract. Layout (issue 15, item 2):
  <attr>                  core scalar (int8..int64, float32/64, bool as 0/1, uuid, varchar, char,
                          date, datetime(p), decimal, enum): text + "\\n", as check_mount.py checks
                          0.14 scalars; json: JSON text + "\\n" (parsed == fetched); bytes: raw
  <attr>.npy              <blob>, <blob@s> whose stored blob is a numeric array (np.load == fetch),
  <attr>.png                beside it when the array is an image (check_png.py's rules)
  <attr>.blob + .json     any other <blob>/<blob@s>: the serialized bytes, and their JSON rendering
  <attr>/<filename>       <attach>, <attach@s> (`name\\0contents` stripped); in-table <attach> on
                          PostgreSQL is compared with the stored bytes read by SQL (2.3.5 cannot
                          fetch it), elsewhere also with the client's download
  <attr>.npy (+ .png)     <npy@s>: the stored object itself, byte for byte; np.load == NpyRef.load()
  <attr>/<attr><ext>      <object@s> file (ext from the metadata, none when null)
  <attr>/<tree>           <object@s> folder: every file of the folder (== the client's walk and the
                          manifest; the manifest sidecar is not shown)
  <attr>                  <hash@s>: the object's raw bytes (== the client's fetch)
  <attr>/<basename>       <filepath@s> of a file (== ObjectRef.read())
  <attr>.json             add-on codecs djfs does not know, on a json column: the stored metadata
  <attr>                  ... on a bytes column: the raw column bytes
NULL: a scalar/json/bytes/blob/npy/hash attribute has no file (stat gives ENOENT); an attachment,
object or filepath attribute is an empty folder (as 0.14 NULL attachments). Every object of a
stored attribute is read from the store at `location + "/" + metadata.path` and must equal what the
client fetches; hash-addressed ones must match their base32-MD5 `hash`.
2.3.5 on PostgreSQL cannot fetch uuid columns (nor insert them): their expected text is read by SQL.
"""

import argparse
import io
import json
import os
import posixpath
import sys
import tempfile
import traceback
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dj2env  # noqa: E402  (before datajoint: drops DJ_* from the environment)

import datajoint as dj  # noqa: E402
import numpy as np  # noqa: E402

import check_mount as cm  # noqa: E402
from check_mount import Entry, Row, Table, class_name, row_full_name, shorten_name  # noqa: E402
from check_png import expected_image  # noqa: E402

CORE_SQL = {  # 2.x core type -> the MySQL spelling check_mount.py's helpers take
    "int8": "tinyint", "int16": "smallint", "int32": "int", "int64": "bigint",
    "float32": "float", "float64": "double", "bool": "tinyint",
    "uuid": "binary(16)", "json": "json", "bytes": "longblob",
}


# Not fetched in bulk: attachments (one by one, below) and add-on codecs (compared by SQL).
ADDON_SKIP = {"attach", dj2env.LabStackCodec.name, dj2env.LabNoteCodec.name}


class Attr:
    """The facts the checker needs about a 2.x attribute, with `sql_type` in the MySQL spelling
    check_mount.py's naming and scalar helpers expect (`int32` -> `int`, `datetime(3)` as is)."""

    def __init__(self, a, backend):
        self.name, self.in_key, self.store = a.name, a.in_key, a.store
        self.core = (a.original_type or "").strip()
        self.codec = a.codec.name if a.codec is not None else None
        self.uuid = bool(a.uuid) or self.core == "uuid"
        self.json = bool(a.json) or self.core == "json"
        self.sql_type = CORE_SQL.get(self.core, self.core or a.type)
        self.raw_type = a.type
        self.backend = backend

    @property
    def is_bytes(self):
        return self.codec is None and (self.core == "bytes" or
                                       (not self.core and self.raw_type.lower() in ("bytea", "longblob", "blob")))

    @property
    def client_cannot_fetch(self):
        """2.3.5 bugs on PostgreSQL: uuid columns and in-table <attach> fail to fetch."""
        return self.backend == "postgresql" and (self.uuid or (self.codec == "attach" and not self.store))


class Heading:
    def __init__(self, primary_key, attributes):
        self.primary_key, self.attributes = primary_key, attributes


def as_bytes(v):
    return None if v is None else bytes(v)


def as_meta(v):
    return json.loads(v) if isinstance(v, (str, bytes)) else v


# =============================================================================== expected model

class Model:
    """Expected tables of a 2.x schema, built from the client's fetch and the stores."""

    def __init__(self, conn, config, tmp):
        self.conn, self.tmp = conn, tmp
        self.backend = config["database.backend"]
        self.stores = {k: v for k, v in (config.get("stores") or {}).items() if isinstance(v, dict)}
        self.problems = []  # (where, message): the reference data itself is inconsistent

    def problem(self, where, msg):
        self.problems.append((where, msg))

    def store_object(self, where, meta, hashed):
        """The object of a stored attribute, read from its store at location + metadata.path."""
        spec = self.stores.get(meta.get("store"))
        if spec is None:
            self.problem(where, f"store {meta.get('store')!r} is not in the config")
            return None
        try:
            data = dj2env.read_store_object(spec, meta["path"])
        except Exception as e:  # noqa: BLE001
            self.problem(where, f"cannot read {meta['path']} from store {meta.get('store')}: {e!r}")
            return None
        if hashed and dj2env.content_hash(data) != meta.get("hash"):
            self.problem(where, f"object {meta['path']}: base32-MD5 {dj2env.content_hash(data)} != hash {meta.get('hash')}")
        if meta.get("size") is not None and meta["size"] != len(data):
            self.problem(where, f"object {meta['path']}: {len(data)} bytes, metadata size {meta['size']}")
        return data

    def load_table(self, database, table_name, key_files):
        conn, adapter = self.conn, self.conn.adapter
        full = adapter.make_full_table_name(database, table_name)
        tbl = dj.FreeTable(conn, full)
        attrs = {n: Attr(tbl.heading.attributes[n], self.backend) for n in tbl.heading.names}
        pk = list(tbl.heading.primary_key)
        heading = Heading(pk, attrs)
        # Attachments are fetched one by one, each into a folder of its own (the client renames a
        # download whose name is already taken in the download folder).
        fetchable = [n for n, a in attrs.items() if not a.in_key and not a.client_cannot_fetch
                     and a.codec not in ADDON_SKIP]
        fetched = tbl.proj(*fetchable).to_dicts()
        raw_rows = conn.query(
            "SELECT {} FROM {}".format(",".join(adapter.quote_identifier(n) for n in attrs), full), as_dict=True
        ).fetchall()
        raw_by_key = {tuple(r[a] for a in pk): r for r in raw_rows}
        folder = class_name(table_name)
        rows = []
        for value in fetched:
            raw = raw_by_key[tuple(value[a] for a in pk)]
            key = {a: value[a] for a in pk}
            name = shorten_name(row_full_name(key, heading))
            entries, nulls = {}, []
            for n, attr in attrs.items():
                if attr.in_key and not key_files:
                    continue
                where = f"{folder}/{name}/{n}"
                try:
                    v = value.get(n)
                    if attr.codec == "attach" and not attr.client_cannot_fetch and raw[n] is not None:
                        v = self.fetch_attachment(tbl, key, n)
                    self.add_entries(entries, nulls, attr, raw[n], v, where)
                except Exception:  # noqa: BLE001
                    self.problem(where, "checker error while building the expectation:\n" + traceback.format_exc())
            rows.append(Row(name, key, entries, nulls, shortened=name != row_full_name(key, heading)))
        if len(fetched) != len(raw_rows):
            self.problem(folder, f"the client fetched {len(fetched)} rows, SQL counts {len(raw_rows)}")
        return Table(table_name, folder, heading, rows)

    def fetch_attachment(self, tbl, key, name):
        folder = tempfile.mkdtemp(dir=self.tmp)
        with dj.config.override(download_path=folder):
            return (tbl & key).fetch1(name)

    def add_entries(self, entries, nulls, attr, raw, value, where):
        a = attr.name
        codec = attr.codec
        if codec == "blob":
            if raw is None:
                nulls += [f"{a}.npy", f"{a}.png", f"{a}.blob", f"{a}.json"]
                return
            data = as_bytes(raw) if not attr.store else self.store_object(where, as_meta(raw), hashed=True)
            if data is None:
                return
            if cm.blob_is_npy_array(data):
                entries[f"{a}.npy"] = Entry("npy", a, f"{a}.npy", value=value, raw=data)
                cm.add_png_entry(entries, a, value)
            else:
                entries[f"{a}.blob"] = Entry("blob", a, f"{a}.blob", value=value, raw=data)
                entries[f"{a}.json"] = Entry("json", a, f"{a}.json", value=value)
        elif codec == "attach":
            if raw is None:
                entries[a] = Entry("tree", a, a, files={})
                return
            data = as_bytes(raw) if not attr.store else self.store_object(where, as_meta(raw), hashed=True)
            if data is None:
                return
            fname, sep, content = data.partition(b"\0")
            if not sep:
                self.problem(where, "stored attachment has no NUL after its name")
            fname = fname.decode("utf-8")
            if value is not None:  # the client's download: same name, same bytes
                with open(value, "rb") as f:
                    if f.read() != content or os.path.basename(value) != fname:
                        self.problem(where, f"the client's download {value} differs from the stored attachment")
            elif not attr.client_cannot_fetch:
                self.problem(where, "the client fetched nothing for a non-NULL attachment")
            entries[a] = Entry("tree", a, a, files={fname: content})
        elif codec == "hash":
            if raw is None:
                nulls.append(a)
                return
            data = self.store_object(where, as_meta(raw), hashed=True)
            if data is not None and bytes(value) != data:
                self.problem(where, "the client's fetch differs from the stored object")
            entries[a] = Entry("rawbytes", a, a, data=bytes(value))
        elif codec == "npy":
            if raw is None:
                nulls += [f"{a}.npy", f"{a}.png"]
                return
            meta = as_meta(raw)
            data = self.store_object(where, meta, hashed=False)
            arr = value.load()
            entries[f"{a}.npy"] = Entry("npyobj", a, f"{a}.npy", data=data, value=arr)
            image = expected_image(arr)
            if image is not None:
                entries[f"{a}.png"] = Entry("png", a, f"{a}.png", expected=image)
        elif codec in ("object", "filepath"):
            if raw is None:
                entries[a] = Entry("tree", a, a, files={})
                return
            meta = as_meta(raw)
            if meta.get("is_dir"):
                if codec == "filepath":
                    self.problem(where, "a <filepath@> folder: its layout is not specified yet")
                    return
                entries[a] = Entry("tree", a, a, files=self.folder_files(where, meta, value))
                return
            data = value.read()
            stored = self.store_object(where, meta, hashed=False)
            if stored is not None and stored != data:
                self.problem(where, "the client's read() differs from the stored object")
            fname = a + (meta.get("ext") or "") if codec == "object" else posixpath.basename(meta["path"])
            entries[a] = Entry("tree", a, a, files={fname: data})
        elif codec is not None:  # add-on codec: its stored metadata (json) or its raw bytes
            if raw is None:
                nulls += [f"{a}.json", a]
            elif attr.json:
                entries[f"{a}.json"] = Entry("jsontext", a, f"{a}.json", value=as_meta(raw))
            else:
                entries[a] = Entry("rawbytes", a, a, data=as_bytes(raw))
        elif raw is None:
            nulls.append(a)
        elif attr.json:
            entries[a] = Entry("jsontext", a, a, value=value)
        elif attr.is_bytes:
            entries[a] = Entry("rawbytes", a, a, data=bytes(value))
        else:
            if attr.client_cannot_fetch:  # uuid on PostgreSQL: from SQL
                value = uuid.UUID(str(raw))
            entries[a] = Entry("scalar", a, a, value=value, heading_attr=attr)

    def folder_files(self, where, meta, ref):
        """{relative path: bytes} of a folder object, from the client's walk(); cross-checked with
        the manifest sidecar."""
        files = {}
        for root, _dirs, names in ref.walk():
            for n in names:
                rel = f"{root}/{n}" if root else n
                with ref.open(rel) as f:
                    files[rel] = f.read()
        spec = self.stores.get(meta.get("store"))
        try:
            manifest = json.loads(dj2env.read_store_object(spec, meta["path"] + ".manifest.json"))
            listed = {f["path"]: f["size"] for f in manifest.get("files", [])}
            if listed != {k: len(v) for k, v in files.items()}:
                self.problem(where, f"folder {meta['path']}: the client's walk {sorted(files)} != manifest {sorted(listed)}")
        except FileNotFoundError:
            self.problem(where, f"folder {meta['path']} has no manifest")
        return files

    def load_schema(self, database, key_files):
        schema = dj.Schema(database, create_schema=False, connection=self.conn)
        return [self.load_table(database, t, key_files) for t in schema.list_tables() if class_name(t) is not None]


# =============================================================================== the checker

def json_diff(got, want):
    """Where two JSON values differ, for the failure line (empty when equal)."""
    if got == want and type(got) is type(want):
        return ""
    if isinstance(got, dict) and isinstance(want, dict):
        keys = sorted(k for k in set(got) | set(want) if k not in got or k not in want or got[k] != want[k])
        return " (differs at " + ", ".join(f"{k!r}: {str(got.get(k, '<missing>'))[:40]} vs "
                                           f"{str(want.get(k, '<missing>'))[:40]}" for k in keys[:5]) + ")"
    return f" ({str(got)[:80]} vs {str(want)[:80]})"


class Checker(cm.Checker):
    """check_mount.py's checker (names, modes, listings, rows, scalars, .npy/.png/.blob/.json) with
    the 2.x kinds added."""

    def check_rawbytes(self, path, e):
        if not self.check_mode(path, want_dir=False):
            return
        data = self.read_file(path)
        if data is not None:
            want = e.info["data"]
            self.ok(data == want, self.rel(path), f"bytes equal the client's value ({len(data)} vs {len(want)} bytes)")

    def check_jsontext(self, path, e):
        if not self.check_mode(path, want_dir=False):
            return
        data = self.read_file(path)
        if data is None:
            return
        where = self.rel(path)
        if not self.ok(data.endswith(b"\n") and not data.endswith(b"\n\n"), where, "JSON text ends with one newline"):
            return
        try:
            doc = json.loads(data.decode("utf-8"))
        except ValueError as err:
            self.fail(where, f"not valid JSON: {err}")
            return
        want = e.info["value"]
        self.ok(doc == want and type(doc) is type(want), where, "JSON equals the client's value" + json_diff(doc, want))

    def check_npyobj(self, path, e):
        """<npy@s>: the stored .npy object itself, and np.load of it == the client's load()."""
        if not self.check_mode(path, want_dir=False):
            return
        where = self.rel(path)
        size = self.stat_size(path)
        data = self.read_file(path)
        if data is None:
            return
        if e.info["data"] is not None:
            self.ok(data == e.info["data"], where, f"bytes equal the stored object ({len(data)} vs {len(e.info['data'])})")
        if size is not None:
            self.ok(size == len(data), where, f"st_size before reading {size} == bytes read {len(data)}")
        try:
            arr = np.load(io.BytesIO(data), allow_pickle=False)
        except Exception as ex:  # noqa: BLE001
            self.fail(where, f"np.load failed: {ex!r}")
            return
        want = e.info["value"]
        self.ok(arr.dtype == want.dtype and arr.shape == want.shape
                and np.ascontiguousarray(arr).tobytes() == np.ascontiguousarray(want).tobytes(), where,
                f"np.load == the client's NpyRef.load() ({arr.dtype}{arr.shape} vs {want.dtype}{want.shape})")

    def check_tree(self, path, e):
        """A folder holding exactly the expected files (relative paths), each with its bytes."""
        where = self.rel(path)
        if not self.check_mode(path, want_dir=True):
            return
        files = e.info["files"]
        dirs = {}
        for rel in files:
            parts = rel.split("/")
            for i in range(len(parts)):
                dirs.setdefault("/".join(parts[:i]), set()).add(parts[i])
        dirs.setdefault("", set())
        for d, names in sorted(dirs.items()):
            dpath = os.path.join(path, d) if d else path
            if d and not self.check_mode(dpath, want_dir=True):
                continue
            listed = self.listing(dpath)
            if listed is not None:
                self.compare_names(f"{where}/{d}" if d else where, listed, names)
        for rel, want in sorted(files.items()):
            fpath = os.path.join(path, rel)
            if not os.path.lexists(fpath) or not self.check_mode(fpath, want_dir=False):
                continue
            data = self.read_file(fpath)
            if data is not None:
                self.ok(data == want, self.rel(fpath), f"bytes equal the client's ({len(data)} vs {len(want)} bytes)")


# =============================================================================== export

def export_entry(row_dir, e):
    path = os.path.join(row_dir, e.name)

    def put(p, data):
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)

    kind = e.kind
    if kind == "scalar":
        put(path, (cm.key_value_text(e.info["value"], e.info["heading_attr"]) + "\n").encode())
    elif kind == "jsontext":
        put(path, (json.dumps(e.info["value"], ensure_ascii=False) + "\n").encode())
    elif kind == "rawbytes":
        put(path, e.info["data"])
    elif kind in ("npy",):
        buf = io.BytesIO()
        np.save(buf, np.asarray(e.info["value"]), allow_pickle=False)
        put(path, buf.getvalue())
    elif kind == "npyobj":
        put(path, e.info["data"])
    elif kind == "png":
        from PIL import Image

        _mode, pixels = e.info["expected"]
        buf = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(pixels)).save(buf, format="PNG")
        put(path, buf.getvalue())
    elif kind == "blob":
        put(path, e.info["raw"])
    elif kind == "json":
        ex = cm.expected_json(e.info["value"])
        put(path, (json.dumps(None if ex is cm.UNKNOWN else ex) + "\n").encode())
    elif kind == "tree":
        os.makedirs(path, exist_ok=True)
        for rel, data in e.info["files"].items():
            put(os.path.join(path, rel), data)
    else:
        raise SystemExit(f"export: unknown entry kind {kind}")


def export(root, tables):
    os.makedirs(root, exist_ok=True)
    for view in cm.SCHEMA_VIEWS:
        open(os.path.join(root, view), "wb").close()
    for t in tables:
        table_dir = os.path.join(root, t.folder)
        os.makedirs(table_dir, exist_ok=True)
        for view in cm.TABLE_VIEWS:
            open(os.path.join(table_dir, view), "wb").close()
        for r in t.rows:
            row_dir = os.path.join(table_dir, r.name)
            os.makedirs(row_dir, exist_ok=True)
            for e in r.entries.values():
                export_entry(row_dir, e)


# =============================================================================== main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mount", nargs="?", help="the schema's folder in a mount (the mount root with --all-schemas)")
    ap.add_argument("schema")
    ap.add_argument("--config", metavar="FILE", required=True, help="the 2.x datajoint.json to connect with")
    ap.add_argument("--export", metavar="DIR", help="write the expected tree to DIR instead of checking")
    ap.add_argument("--all-schemas", action="store_true", help="the schema's folder is MOUNT/SCHEMA")
    ap.add_argument("--read-only", action="store_true", help="modes exactly 0444 / 0555, writes give EROFS")
    ap.add_argument("--no-key-files", action="store_true", help="key attributes are not files in row folders")
    ap.add_argument("-v", "--verbose", action="store_true", help="print passing checks too")
    args = ap.parse_args()
    if (args.mount is None) == (args.export is None):
        ap.error("give MOUNT or --export DIR")

    config = dj2env.load_config(args.config)
    conn = dj2env.apply_config(config)
    with tempfile.TemporaryDirectory(prefix="djfs-check2-") as tmp:
        dj.config["download_path"] = tmp  # attachments are downloaded here, never next to the caller
        model = Model(conn, config, tmp)
        tables = model.load_schema(args.schema, key_files=not args.no_key_files)
        if args.export:
            if model.problems:
                for where, msg in model.problems:
                    print(f"FAIL {where}: {msg}", flush=True)
                sys.exit(f"{len(model.problems)} problems in the reference data: nothing exported")
            export(args.export, tables)
            n_rows = sum(len(t.rows) for t in tables)
            print(f"exported {len(tables)} tables, {n_rows} rows of `{args.schema}` to {args.export}")
            return

        mount = os.path.abspath(args.mount)
        root = os.path.join(mount, args.schema) if args.all_schemas else mount
        checker = Checker(root, args.read_only, args.verbose, None)
        for where, msg in model.problems:
            checker.fail(where, msg)
        checker.check_stat_rows_by_name(tables)  # first: no listdir has happened yet
        if args.all_schemas:
            checker.check_schema_folder(mount, args.schema)
        checker.check_tables(tables, ignore=[".external"])  # `.external` (issue 15 item 3) is not checked here
        for t in tables:
            checker.check_rows(t)
            checker.check_bad_names(t)
            for r in t.rows:
                checker.check_row(t, r)
        if args.read_only:
            checker.check_read_only(tables)

    n_rows = sum(len(t.rows) for t in tables)
    print(f"checked {len(tables)} tables, {n_rows} rows of `{args.schema}` ({config['database.backend']}) under {root}")
    if checker.failures:
        print(f"\n{len(checker.failures)} failures:")
        for f in checker.failures:
            print(f"  {f}")
    print(f"{checker.passed} passed, {len(checker.failures)} failed")
    sys.exit(1 if checker.failures else 0)


if __name__ == "__main__":
    main()
