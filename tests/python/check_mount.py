#!/usr/bin/env python
"""Compare a djfs mount of a DataJoint schema with what the real client (datajoint 0.14.10) fetches.

    check_mount.py MOUNT SCHEMA [--all-schemas] [--read-only] [--config FILE] [--no-key-files]
                   [--expect-external-eio | --no-external] [-v]

Tables are discovered through the client (`dj.Schema(...).list_tables()`, `dj.FreeTable`,
cross-checked with `dj.VirtualModule`), never through djfs. Every expected folder and file name is
computed here from the client's fetched keys by the small naming functions below (the layout contract).
Prints every mismatch, then `N passed, M failed`; exits 1 if anything failed.

Layout checked (MOUNT, or MOUNT/SCHEMA with --all-schemas):
  <Class>/                       one folder per user table (part tables `Master.Part`)
  <Class>/.definition            listed in each table folder; .diagram.svg / .diagram.dot at the root
                                 (their contents are checked by tests/definition_view.rs)
  <Class>/<row>/                 `attr=value` pairs joined by `,` in primary-key order (escaped, truncated)
  <Class>/<row>/<attr>           scalar as text + "\\n" (absent when NULL)
  <Class>/<row>/<attr>.npy       numeric/bool/complex/datetime64 `A`-array blob (np.load == fetch1)
  <Class>/<row>/<attr>.png       beside it when the array is an image (pixels as check_png.py expects)
  <Class>/<row>/<attr>.blob      any other blob: the raw column bytes; <attr>.json next to it (EIO for now)
  <Class>/<row>/<attr>/<name>    internal attachment
  external attributes (the stored objects are read by the checker itself: folder stores from disk,
  S3 stores with minio, at the paths of the client's fetch_external_paths()):
  <Class>/<row>/<attr>.npy       blob@store, same naming rule as in-table blobs (np.load == fetch);
  <Class>/<row>/<attr>.blob      ... else the stored object's bytes, with <attr>.json next to it
  <Class>/<row>/<attr>/<name>    attach@store: bytes identical to the client's download
  <Class>/<row>/<attr>/<base>    filepath@store: basename of the relative path; bytes identical to the
                                 file the client fetches (into a temporary stage, so it downloads)
  .external/                     hidden folder at the schema root, iff the schema has ~external_* tables
  .external/<store>/             one per ~external_<store> table; lists every tracked object:
                                 <hex> (blob), <hex>.<attachment_name>, <hex>.<basename of filepath>
                                 (<hex> = 32 lowercase hex digits of the hash), plus `.unused`;
                                 size == tracking `size`, bytes == the stored object
  .external/<store>/.unused/     the tracked objects no row references (NOT EXISTS per referencing
                                 column); compared with the client's unused() where no referencing
                                 column holds NULL (elsewhere the client's NOT IN returns nothing)
Options:
  --read-only     modes must be exactly 0444 (files) / 0555 (dirs); otherwise 0444|0644 / 0555|0755
  --config FILE   DataJoint config JSON (e.g. from make_demo.py --config-out); default: DJ_HOST/DJ_USER/DJ_PASS
  --no-key-files  primary-key attributes are not expected as files in row folders (default: they are)
  --expect-external-eio  the behaviour before external stores were readable: external blobs are
                  listed as <attr>.npy, attach@store as <attr>/<attachment_name>, filepath@store only
                  as <attr>; every external read must give EIO; `.external` is not checked
  --no-external   do not check the `.external` view (external attributes in rows are still checked)
The checker's client never uses a `cache` folder (the config's `cache` is ignored), so it does not
fill the cache that djfs shares with the client (see check_cache.py).
"""

import argparse
import datetime
import errno
import hashlib
import io
import json
import math
import os
import posixpath
import re
import stat
import struct
import sys
import tempfile
import traceback
import uuid
import zlib
from decimal import Decimal

os.environ.setdefault("DJ_SUPPORT_FILEPATH_MANAGEMENT", "TRUE")  # let the client read filepath headings

import datajoint as dj  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import djenv  # noqa: E402
from check_png import expected_image  # noqa: E402

MAX_NAME = 255
SCHEMA_VIEWS = [".diagram.svg", ".diagram.dot"]  # at the schema root
TABLE_VIEWS = [".definition"]  # in each table folder
TRUNCATED_PREFIX = 222


# =============================================================================== naming (contract)

_BASE = r"[a-z][a-z0-9]*(?:_[a-z][a-z0-9]*)*"
_MASTER_RE = re.compile(rf"^(#|__|_)?({_BASE})$")
_PART_RE = re.compile(rf"^(#|__|_)?({_BASE})__({_BASE})$")


def camel_case(base):
    """`web_image` -> `WebImage`, `table2_value` -> `Table2Value`."""
    return "".join(word[:1].upper() + word[1:] for word in base.split("_"))


def class_name(table_name):
    """MySQL table name -> folder name (`#web_image` -> `WebImage`, `session__trial` -> `Session.Trial`);
    None for hidden/system tables."""
    m = _MASTER_RE.match(table_name)
    if m:
        return camel_case(m.group(2))
    m = _PART_RE.match(table_name)
    if m:
        return f"{camel_case(m.group(2))}.{camel_case(m.group(3))}"
    return None


def decimal_scale(sql_type):
    m = re.match(r"(?:decimal|numeric)\s*\(\s*\d+\s*(?:,\s*(\d+)\s*)?\)", sql_type, re.I)
    return int(m.group(1) or 0) if m else 0


def fsp(sql_type):
    """Fractional-second precision of datetime(n)/timestamp(n)/time(n)."""
    m = re.search(r"\((\d)\)", sql_type)
    return int(m.group(1)) if m else 0


def mysql_time_text(td, digits=0):
    """timedelta -> MySQL TIME text `[-]HH:MM:SS[.ffffff]`."""
    total_us = td.days * 86400 * 10**6 + td.seconds * 10**6 + td.microseconds
    sign = "-" if total_us < 0 else ""
    total_us = abs(total_us)
    secs, us = divmod(total_us, 10**6)
    h, rem = divmod(secs, 3600)
    m, s = divmod(rem, 60)
    text = f"{sign}{h:02d}:{m:02d}:{s:02d}"
    if digits:
        text += "." + f"{us:06d}"[:digits]
    return text


def mysql_datetime_text(v, digits=0):
    text = f"{v.year:04d}-{v.month:02d}-{v.day:02d} {v.hour:02d}:{v.minute:02d}:{v.second:02d}"
    if digits:
        text += "." + f"{v.microsecond:06d}"[:digits]
    return text


def key_value_text(value, attr):
    """A primary-key value formatted as text (before escaping)."""
    sql_type = attr.sql_type.lower()
    if attr.uuid:
        return str(value if isinstance(value, uuid.UUID) else uuid.UUID(bytes=value))
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return format(value.quantize(Decimal(1).scaleb(-decimal_scale(sql_type))), "f")
    if isinstance(value, datetime.datetime):
        return mysql_datetime_text(value, fsp(sql_type))
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return mysql_time_text(value, fsp(sql_type))
    return str(value)


def escape_value(text):
    """Percent-encode (uppercase hex of UTF-8) `%`, `/`, `,`, `=`, bytes < 0x20, 0x7f and a leading `.`."""
    out = []
    for i, ch in enumerate(text):
        if ch in "%/,=" or ord(ch) < 0x20 or ord(ch) == 0x7F or (i == 0 and ch == "."):
            out.append("".join(f"%{b:02X}" for b in ch.encode("utf-8")))
        else:
            out.append(ch)
    return "".join(out)


def shorten_name(name):
    """Names over 255 bytes: longest prefix <= 222 bytes not splitting a UTF-8 character or a %XX
    escape, then `~` and the MD5 (lowercase hex) of the full name's UTF-8 bytes."""
    raw = name.encode("utf-8")
    if len(raw) <= MAX_NAME:
        return name
    cut = TRUNCATED_PREFIX
    while cut > 0 and (raw[cut] & 0xC0) == 0x80:  # raw[cut] continues a character: do not split it
        cut -= 1
    for back in (1, 2):  # a `%` among the last two kept bytes starts an escape that would be split
        if cut - back >= 0 and raw[cut - back] == ord("%"):
            cut -= back
            break
    return raw[:cut].decode("utf-8") + "~" + hashlib.md5(raw).hexdigest()


def row_full_name(key, heading):
    """Row folder name before shortening: `attr=value` joined by `,` in primary-key order."""
    return ",".join(f"{a}={escape_value(key_value_text(key[a], heading.attributes[a]))}"
                    for a in heading.primary_key)



# =============================================================================== blob layout

NPY_CLASSES = {3, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15} | set(range(65536, 65549))


def blob_is_npy_array(raw):
    """True if the stored blob is an `A` array of a class djfs shows as .npy
    (bool, int/uint, float, complex, datetime64); reads only the header."""
    head = raw
    if raw.startswith(b"ZL123\0"):
        head = zlib.decompressobj().decompress(raw[14:], 1 << 16)
    # Compact dj0 scalars (Python bool/complex/float, and int when it fits int64): 0-d .npy.
    if head[:4] == b"dj0\0" and head[4:5] in (b"\x0b", b"\x0c", b"\x0d"):
        return True
    if head[:4] == b"dj0\0" and head[4:5] == b"\x0a":
        (n,) = struct.unpack_from("<H", head, 5)
        v = int.from_bytes(head[7:7 + n], "little", signed=True)
        return -(1 << 63) <= v < (1 << 63)
    if head[:4] not in (b"mYm\0", b"dj0\0") or head[4:5] != b"A":
        return False
    (ndim,) = struct.unpack_from("<Q", head, 5)
    class_id, is_complex = struct.unpack_from("<II", head, 13 + 8 * ndim)
    if is_complex and class_id not in (6, 7):  # complex integers (MATLAB) are not faithful
        return False
    return class_id in NPY_CLASSES


UNKNOWN = object()


def add_png_entry(entries, a, value):
    """`<attr>.png` beside an array's `.npy` when the array is an image."""
    expected = expected_image(value)
    if expected is not None:
        entries[f"{a}.png"] = Entry("png", a, f"{a}.png", expected=expected)


def json_float(x):
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return float(x)


def expected_json(v):
    """The client's fetched value under djfs's JSON rules, or UNKNOWN for types not modelled."""
    if v is None:
        return None
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return json_float(float(v))
    if isinstance(v, (complex, np.complexfloating)):
        return {"re": json_float(v.real), "im": json_float(v.imag)}
    if isinstance(v, str):
        return v
    if isinstance(v, (bytes, bytearray)):
        return {"hex": bytes(v).hex()}
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, (datetime.datetime, datetime.date, datetime.time)):
        return v.isoformat()
    if isinstance(v, (list, tuple)):
        items = [expected_json(x) for x in v]
        return UNKNOWN if any(x is UNKNOWN for x in items) else items
    if isinstance(v, dict):
        out = {}
        for k, x in v.items():
            if not isinstance(k, str):
                return UNKNOWN
            ex = expected_json(x)
            if ex is UNKNOWN:
                return UNKNOWN
            out[k] = ex
        return out
    if isinstance(v, np.ndarray) and v.dtype.kind in "biuf" and v.dtype.names is None:
        return {"dtype": str(v.dtype), "shape": list(v.shape),
                "data": json.loads(json.dumps(v.tolist(), default=str).replace("NaN", '"NaN"'))}
    return UNKNOWN


def decoded_is_npy_array(value):
    return (
        type(value) is np.ndarray or isinstance(value, np.generic)
    ) and np.asarray(value).dtype.kind in "biufcM" and np.asarray(value).dtype.names is None


# =============================================================================== expected model

class Entry:
    """One expected entry of a row folder."""

    def __init__(self, kind, attr, name, **info):
        self.kind, self.attr, self.name, self.info = kind, attr, name, info


class Row:
    def __init__(self, name, key, entries, null_names, shortened):
        self.name, self.key, self.entries, self.null_names = name, key, entries, null_names
        self.shortened = shortened


class Table:
    def __init__(self, table_name, folder, heading, rows):
        self.table_name, self.folder, self.heading, self.rows = table_name, folder, heading, rows


def normalize(value):
    return value.bytes if isinstance(value, uuid.UUID) else value


def external_attachment_name(conn, database, store, hash_bytes):
    row = conn.query(
        f"SELECT attachment_name FROM `{database}`.`~external_{store}` WHERE hash=%s", args=(hash_bytes,)
    ).fetchone()
    return row[0] if row else None


def load_table(conn, database, table_name, tmp, key_files, external=None):
    """Build the expected rows of a table from the client's fetch and the raw column bytes.
    `external`: an ExternalCatalog to check external attributes for real; None: the old EIO layout."""
    full = f"`{database}`.`{table_name}`"
    tbl = dj.FreeTable(conn, full)
    heading = tbl.heading
    attrs = heading.names  # visible attributes, in declared order
    pk = heading.primary_key
    # Attributes the client fetches: external ones only when checked for real and their store is
    # configured (the client cannot fetch from a store the config lacks).
    local_attrs = [a for a in attrs if not (heading.attributes[a].in_key or (
        heading.attributes[a].is_external
        and (external is None or not external.configured(heading.attributes[a].store))))]
    # proj(...).fetch(as_dict=True), not fetch(*attrs, as_dict=True): the latter goes through a numpy
    # record array (int64 columns) and overflows on bigint unsigned values >= 2**63.
    fetched = tbl.proj(*local_attrs).fetch(as_dict=True, download_path=tmp)
    raw_rows = conn.query(
        "SELECT {} FROM {}".format(",".join(f"`{a}`" for a in attrs), full), as_dict=True
    ).fetchall()
    raw_by_key = {tuple(normalize(r[a]) for a in pk): r for r in raw_rows}

    rows = []
    for value in fetched:
        raw = raw_by_key[tuple(normalize(value[a]) for a in pk)]
        entries, nulls = {}, []
        for a in attrs:
            attr = heading.attributes[a]
            if attr.in_key and not key_files:
                continue
            r = raw[a]
            if attr.is_external and external is not None:
                external.add_entries(entries, nulls, attr, r, value.get(a))
            elif attr.is_blob:
                names = [f"{a}.npy"] if attr.is_external else [f"{a}.npy", f"{a}.blob", f"{a}.json"]
                if r is None:
                    nulls += names
                elif attr.is_external:
                    entries[f"{a}.npy"] = Entry("ext_npy", a, f"{a}.npy", store=attr.store)
                elif blob_is_npy_array(r):
                    entries[f"{a}.npy"] = Entry("npy", a, f"{a}.npy", value=value[a], raw=r)
                    add_png_entry(entries, a, value[a])
                else:
                    entries[f"{a}.blob"] = Entry("blob", a, f"{a}.blob", value=value[a], raw=r)
                    entries[f"{a}.json"] = Entry("json", a, f"{a}.json", value=value[a])
            elif attr.is_attachment:
                if r is None:  # NULL attachment: an empty folder, ready to receive a file
                    entries[a] = Entry("empty_dir", a, a)
                elif attr.is_external:
                    fname = external_attachment_name(conn, database, attr.store, r)
                    entries[a] = Entry("ext_attach", a, a, filename=fname, store=attr.store)
                else:
                    fname, _, content = r.partition(b"\0")
                    entries[a] = Entry("attach", a, a, filename=fname.decode("utf-8"), content=content,
                                       client_path=value[a])
            elif attr.is_filepath:
                if r is None:
                    entries[a] = Entry("empty_dir", a, a)
                else:
                    entries[a] = Entry("filepath", a, a)  # naming not specified yet: only its presence
            else:
                if r is None:
                    nulls.append(a)
                else:
                    entries[a] = Entry("scalar", a, a, value=value[a], heading_attr=attr)
        key = {a: value[a] for a in pk}
        full_name = row_full_name(key, heading)
        rows.append(Row(shorten_name(full_name), key, entries, nulls, shortened=shorten_name(full_name) != full_name))
    return Table(table_name, class_name(table_name), heading, rows)


def load_schema(conn, database, tmp, key_files, external=None):
    schema = dj.Schema(database, create_schema=False)
    if external is not None:
        external.attach(schema)
    tables = []
    for table_name in schema.list_tables():
        if class_name(table_name) is None:
            continue
        tables.append(load_table(conn, database, table_name, tmp, key_files, external))
    return schema, tables


# =============================================================================== external stores

def external_stores(conn, database):
    """Store names of the schema's `~external_<store>` tables."""
    rows = conn.query(
        "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA=%s AND TABLE_NAME LIKE %s",
        args=(database, "~external\\_%"),
    ).fetchall()
    return sorted(name[len("~external_"):] for (name,) in rows)


class TrackedObject:
    """One row of `~external_<store>` and where its object lives."""

    def __init__(self, store, hash_bytes, size, attachment_name, filepath, path):
        self.store, self.hash, self.size = store, hash_bytes, size
        self.attachment_name, self.filepath, self.path = attachment_name, filepath, path
        self.hex = hash_bytes.hex()
        if attachment_name is not None:
            self.kind, self.name = "attach", f"{self.hex}.{attachment_name}"
        elif filepath is not None:
            self.kind, self.name = "filepath", f"{self.hex}.{posixpath.basename(filepath)}"
        else:
            self.kind, self.name = "blob", self.hex
        self._digest = None
        self.error = None

    def digest(self, catalog):
        """(size, md5 hex, head bytes) of the stored object, read from the store (cached); None and
        self.error set when it cannot be read."""
        if self._digest is None and self.error is None:
            try:
                self._digest = djenv.store_object_digest(catalog.specs[self.store], self.path, catalog.minio)
            except Exception as e:  # noqa: BLE001 -- reported by the checks that need the object
                self.error = f"cannot read the stored object {self.path} of store `{self.store}`: {e!r}"
        return self._digest


class ExternalCatalog:
    """The schema's tracked objects per store, from the tracking tables and the client's
    fetch_external_paths(); the stored objects themselves are read directly from the stores."""

    def __init__(self, conn, database, tmp):
        self.conn, self.database = conn, database
        self.specs = dict(dj.config.get("stores") or {})
        self.minio = {}
        self.stores = external_stores(conn, database)
        self.objects = {}  # store -> {hash bytes: TrackedObject}
        self.problems = []  # (where, message): reported as failures by the checker
        self.schema = None
        # Filepath fetches go to a fresh stage so that the client really downloads from the store.
        for store, spec in self.specs.items():
            if spec.get("stage"):
                spec["stage"] = os.path.join(tmp, f"stage-{store}")
                os.makedirs(spec["stage"], exist_ok=True)

    def attach(self, schema):
        self.schema = schema
        for store in self.stores:
            rows = self.conn.query(
                f"SELECT hash, size, attachment_name, filepath FROM `{self.database}`.`~external_{store}`"
            ).fetchall()
            paths = {}
            if store in self.specs:
                try:
                    paths = {u.bytes: str(p) for u, p in schema.external[store].fetch_external_paths()}
                except Exception as e:  # noqa: BLE001
                    self.problems.append((f".external/{store}", f"client cannot use store `{store}`: {e!r}"))
            objects = {}
            for h, size, attachment_name, filepath in rows:
                h = bytes(h)
                objects[h] = TrackedObject(store, h, int(size), attachment_name, filepath, paths.get(h))
            self.objects[store] = objects

    def configured(self, store):
        return store in self.specs

    def object(self, store, hash_bytes):
        return self.objects.get(store, {}).get(hash_bytes)

    def add_entries(self, entries, nulls, attr, raw, value):
        """Expected row-folder entries of one external attribute (raw = the 16 hash bytes)."""
        a = attr.name
        if attr.is_blob:
            if raw is None:
                nulls += [f"{a}.npy", f"{a}.blob", f"{a}.json"]
                return
            obj = self.object(attr.store, raw)
            digest = obj.digest(self) if obj is not None and self.configured(attr.store) else None
            if digest is None:
                why = (f"store `{attr.store}` not in the config" if not self.configured(attr.store)
                       else obj.error if obj is not None else "hash not tracked")
                entries[f"{a}.npy|{a}.blob"] = Entry("ext_unknown", a, f"{a}.npy|{a}.blob", why=why)
            elif blob_is_npy_array(digest[2]):
                entries[f"{a}.npy"] = Entry("npy", a, f"{a}.npy", value=value, raw=None)
                add_png_entry(entries, a, value)
            else:
                entries[f"{a}.blob"] = Entry("ext_blob", a, f"{a}.blob", obj=obj, value=value)
                entries[f"{a}.json"] = Entry("json", a, f"{a}.json", value=value)
        elif raw is None:  # NULL attachment or filepath: an empty folder
            entries[a] = Entry("empty_dir", a, a)
        else:
            obj = self.object(attr.store, raw)
            if obj is None:
                entries[a] = Entry("ext_unknown", a, a, why="hash not tracked")
            elif attr.is_attachment:
                entries[a] = Entry("ext_file", a, a, filename=obj.attachment_name, obj=obj, client_path=value)
            else:  # filepath
                entries[a] = Entry("ext_file", a, a, filename=posixpath.basename(obj.filepath), obj=obj,
                                   client_path=value)

    def unused_not_exists(self, store):
        """Hashes no referencing column holds: NOT EXISTS per reference (NULLs ignored)."""
        refs = self.references(store)
        conds = [f"NOT EXISTS (SELECT 1 FROM {t} AS r WHERE r.`{c}` = e.hash)" for t, c in refs]
        sql = f"SELECT hash FROM `{self.database}`.`~external_{store}` AS e"
        if conds:
            sql += " WHERE " + " AND ".join(conds)
        return {bytes(h) for (h,) in self.conn.query(sql).fetchall()}

    def references(self, store):
        """(referencing table, column) as the client finds them (information_schema)."""
        rows = self.conn.query(
            "SELECT concat('`', table_schema, '`.`', table_name, '`'), column_name "
            "FROM information_schema.key_column_usage "
            "WHERE referenced_table_name=%s AND referenced_table_schema=%s",
            args=(f"~external_{store}", self.database),
        ).fetchall()
        return sorted(rows)

    def null_references(self, store):
        return [f"{t}.`{c}`" for t, c in self.references(store)
                if self.conn.query(f"SELECT EXISTS (SELECT 1 FROM {t} WHERE `{c}` IS NULL)").fetchone()[0]]


# =============================================================================== the checker

class Checker:
    def __init__(self, root, read_only, verbose, catalog=None):
        self.root, self.read_only, self.verbose = root, read_only, verbose
        self.catalog = catalog  # ExternalCatalog, or None for the old EIO layout of external attributes
        self.passed, self.failures = 0, []

    def ok(self, cond, where, msg):
        if cond:
            self.passed += 1
            if self.verbose:
                print(f"ok   {where}: {msg}")
        else:
            self.failures.append(f"{where}: {msg}")
            print(f"FAIL {where}: {msg}", flush=True)
        return cond

    def fail(self, where, msg):
        return self.ok(False, where, msg)

    def rel(self, path):
        return os.path.relpath(path, self.root)

    # ---------------------------------------------------------------- helpers

    def expect_errno(self, where, what, expected, fn, *args):
        """Run fn(*args); pass iff it raises OSError with errno `expected`."""
        try:
            fn(*args)
        except OSError as e:
            return self.ok(e.errno == expected, where,
                           f"{what}: expected {errno.errorcode[expected]}, got "
                           f"{errno.errorcode.get(e.errno, e.errno)} ({e.strerror})")
        except Exception as e:  # noqa: BLE001
            return self.fail(where, f"{what}: expected {errno.errorcode[expected]}, got {e!r}")
        return self.fail(where, f"{what}: expected {errno.errorcode[expected]}, but it succeeded")

    def read_file(self, path):
        """Read a file; check st_size == len(bytes). Returns the bytes or None."""
        where = self.rel(path)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            self.fail(where, f"read failed: {e}")
            return None
        try:
            size = os.stat(path).st_size
        except OSError as e:
            self.fail(where, f"stat failed: {e}")
            return data
        self.ok(size == len(data), where, f"st_size {size} == bytes read {len(data)}")
        return data

    def check_mode(self, path, want_dir):
        where = self.rel(path) or "."
        try:
            st = os.lstat(path)
        except OSError as e:
            return self.fail(where, f"lstat failed: {e}")
        mode = stat.S_IMODE(st.st_mode)
        if want_dir:
            allowed = {0o555} if self.read_only else {0o555, 0o755}
            self.ok(stat.S_ISDIR(st.st_mode), where, "is a directory")
        else:
            allowed = {0o444} if self.read_only else {0o444, 0o644}
            self.ok(stat.S_ISREG(st.st_mode), where, "is a regular file")
        return self.ok(mode in allowed, where,
                       f"mode {mode:04o} in {{{', '.join(f'{m:04o}' for m in sorted(allowed))}}}")

    def listing(self, path):
        try:
            return os.listdir(path)
        except OSError as e:
            self.fail(self.rel(path) or ".", f"listdir failed: {e}")
            return None

    def compare_names(self, where, actual, expected):
        actual_set, expected_set = set(actual), set(expected)
        self.ok(len(actual) == len(actual_set), where, "no duplicate names in listing")
        missing = sorted(expected_set - actual_set)
        extra = sorted(actual_set - expected_set)
        self.ok(not missing and not extra, where,
                "listing matches" + (f"; missing {missing[:10]}" if missing else "")
                + (f"; unexpected {extra[:10]}" if extra else "")
                + (f" (of {len(missing)} missing / {len(extra)} unexpected)"
                   if len(missing) > 10 or len(extra) > 10 else ""))

    # ---------------------------------------------------------------- checks

    def check_stat_rows_by_name(self, tables):
        """Before any listdir: stat some rows by their computed name (all shortened ones, first, last)."""
        for t in tables:
            picks = [r for r in t.rows if r.shortened]
            picks += t.rows[:1] + t.rows[-1:]
            seen = set()
            for r in picks:
                if r.name in seen:
                    continue
                seen.add(r.name)
                path = os.path.join(self.root, t.folder, r.name)
                try:
                    st = os.stat(path)
                except OSError as e:
                    self.fail(self.rel(path), f"stat of a row by name before any listing failed: {e}")
                    continue
                self.ok(stat.S_ISDIR(st.st_mode), self.rel(path), "row found by name before any listing")

    def check_schema_folder(self, mount, database):
        names = self.listing(mount)
        if names is not None:
            self.ok(database in names, ".", f"schema folder `{database}` listed in the mount")

    def check_tables(self, tables, extra=(), ignore=()):
        """Root listing == table folders + `extra`; names in `ignore` may or may not be listed."""
        self.check_mode(self.root, want_dir=True)
        names = self.listing(self.root)
        if names is not None:
            self.compare_names(".", [n for n in names if n not in ignore],
                               [t.folder for t in tables] + list(extra) + SCHEMA_VIEWS)
        for t in tables:
            self.check_mode(os.path.join(self.root, t.folder), want_dir=True)

    def check_rows(self, t):
        table_dir = os.path.join(self.root, t.folder)
        names = self.listing(table_dir)
        if names is not None:
            self.compare_names(t.folder, names, [r.name for r in t.rows] + TABLE_VIEWS)
        self.ok(len({r.name for r in t.rows}) == len(t.rows), t.folder, "computed row names are unique")
        for r in t.rows:
            self.ok(len(r.name.encode()) <= MAX_NAME, f"{t.folder}/{r.name}", "row name at most 255 bytes")

    def check_bad_names(self, t):
        table_dir = os.path.join(self.root, t.folder)
        for bad in ("nonsense", "=", "no_such_attribute=1"):
            self.expect_errno(f"{t.folder}/{bad}", "stat of an unparsable row name", errno.ENOENT,
                              os.stat, os.path.join(table_dir, bad))
        if not t.rows:
            return
        first = t.rows[0]
        pk = t.heading.primary_key
        int_attr = next((a for a in pk if re.match(r"(tiny|small|medium|big)?int", t.heading.attributes[a].sql_type)),
                        None)
        if int_attr is not None:
            for bad_value, what in (("notanumber", "a non-number for an integer key"),
                                    ("123456789", "a well-formed name of a missing row")):
                key = dict(first.key)
                values = {normalize(r.key[int_attr]) for r in t.rows}
                if bad_value.isdigit() and int(bad_value) in values:
                    continue
                pairs = [f"{a}={bad_value if a == int_attr else escape_value(key_value_text(key[a], t.heading.attributes[a]))}"
                         for a in pk]
                name = shorten_name(",".join(pairs))
                self.expect_errno(f"{t.folder}/{name}", f"stat of {what}", errno.ENOENT,
                                  os.stat, os.path.join(table_dir, name))
        if len(pk) > 1:  # key attributes in the wrong order
            pairs = [f"{a}={escape_value(key_value_text(first.key[a], t.heading.attributes[a]))}"
                     for a in reversed(pk)]
            name = ",".join(pairs)
            if len(name.encode()) <= MAX_NAME:
                self.expect_errno(f"{t.folder}/{name}", "stat of a row name with keys out of order",
                                  errno.ENOENT, os.stat, os.path.join(table_dir, name))

    def check_row(self, t, r):
        row_dir = os.path.join(self.root, t.folder, r.name)
        where = f"{t.folder}/{r.name}"
        if not os.path.lexists(row_dir):
            self.fail(where, "row folder missing (its entries are not checked)")
            return
        self.check_mode(row_dir, want_dir=True)
        names = self.listing(row_dir)
        if names is not None:
            unknown = [e.attr for e in r.entries.values() if e.kind == "ext_unknown"]
            # External blobs whose stored object the checker cannot read: .npy or .blob/.json unknown.
            skip = {f"{a}{ext}" for a in unknown for ext in (".npy", ".png", ".blob", ".json")}
            self.compare_names(where, [n for n in names if n not in skip],
                               [e.name for e in r.entries.values() if e.kind != "ext_unknown"
                                or e.name == e.attr])
        for name in r.null_names:
            self.expect_errno(f"{where}/{name}", "stat of a NULL attribute's file", errno.ENOENT,
                              os.stat, os.path.join(row_dir, name))
        self.expect_errno(f"{where}/no_such_attribute", "stat of a missing entry", errno.ENOENT,
                          os.stat, os.path.join(row_dir, "no_such_attribute"))
        for e in r.entries.values():
            path = os.path.join(row_dir, e.name)
            try:
                getattr(self, f"check_{e.kind}")(path, e)
            except Exception:  # noqa: BLE001 -- a checker crash on one entry must not hide the others
                self.fail(self.rel(path), "checker error:\n" + traceback.format_exc())

    def check_scalar(self, path, e):
        if not self.check_mode(path, want_dir=False):
            return
        data = self.read_file(path)
        if data is None:
            return
        where = self.rel(path)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            self.fail(where, f"not UTF-8: {data[:80]!r}")
            return
        ok, why = scalar_text_matches(text, e.info["value"], e.info["heading_attr"])
        self.ok(ok, where, why)

    def check_npy(self, path, e):
        where = self.rel(path)
        value = e.info["value"]
        # Compact dj0 scalars (Python int/float/bool/complex) are shown as 0-d arrays.
        scalar = type(value) in (int, float, bool, complex)
        self.ok(decoded_is_npy_array(value) or scalar, where,
                f"client decodes this blob to a numeric array or scalar (got {type(value).__name__})")
        if not self.check_mode(path, want_dir=False):
            return
        size_before = self.stat_size(path) if e.info.get("raw") is None else None  # external: before any read
        data = self.read_file(path)
        if data is not None and size_before is not None:
            self.ok(size_before == len(data), where,
                    f"st_size before reading {size_before} == bytes read {len(data)}")
        if data is None:
            return
        try:
            arr = np.load(io.BytesIO(data), allow_pickle=False)
        except Exception as ex:  # noqa: BLE001
            self.fail(where, f"np.load failed: {ex!r}")
            return
        expected = np.asarray(value)
        self.ok(arr.dtype == expected.dtype, where, f"dtype {arr.dtype} == {expected.dtype}")
        self.ok(arr.shape == expected.shape, where, f"shape {arr.shape} == {expected.shape}")
        if arr.dtype == expected.dtype and arr.shape == expected.shape:
            same = np.ascontiguousarray(arr).tobytes() == np.ascontiguousarray(expected).tobytes()
            self.ok(same, where, "values identical (bitwise) to fetch1")

    def check_png(self, path, e):
        """The PNG view of an image array: Pillow decodes it to the array's pixels."""
        from PIL import Image

        if not self.check_mode(path, want_dir=False):
            return
        data = self.read_file(path)
        if data is None:
            return
        where = self.rel(path)
        mode, pixels = e.info["expected"]
        im = Image.open(io.BytesIO(data))
        im.load()
        self.ok(im.format == "PNG" and im.mode == mode, where, f"{im.format} {im.mode} == PNG {mode}")
        got = np.asarray(im)
        self.ok(got.shape == pixels.shape and np.array_equal(got.astype(np.int64), pixels.astype(np.int64)),
                where, f"pixels equal the array ({got.shape} vs {pixels.shape})")

    def check_blob(self, path, e):
        where = self.rel(path)
        if not self.check_mode(path, want_dir=False):
            return
        data = self.read_file(path)
        if data is None:
            return
        raw = e.info["raw"]
        self.ok(data == raw, where, f"bytes equal the stored column ({len(data)} vs {len(raw)} bytes)")

    def expect_eio_read(self, path, what):
        def read():
            with open(path, "rb") as f:
                f.read()

        self.expect_errno(self.rel(path), what, errno.EIO, read)

    def check_json(self, path, e):
        """The readable rendering of a non-array blob: valid JSON, equal to the client's value
        under the documented rules (src/codec/json.rs) where the checker knows the type."""
        if not self.check_mode(path, want_dir=False):
            return
        data = self.read_file(path)
        if data is None:
            return
        where = self.rel(path)
        if not data.endswith(b"\n"):
            self.fail(where, "JSON does not end with a newline")
        try:
            doc = json.loads(data.decode("utf-8"))
        except ValueError as err:
            self.fail(where, f"not valid JSON: {err}")
            return
        if "value" not in e.info:
            self.ok(True, where, "valid JSON")
            return
        expected = expected_json(e.info["value"])
        if expected is UNKNOWN:
            self.ok(True, where, "valid JSON (type not compared)")
        else:
            self.ok(doc == expected, where, f"JSON equals the client's value ({str(doc)[:80]} vs {str(expected)[:80]})")

    def check_empty_dir(self, path, e):
        """A NULL attachment/filepath attribute: its folder is there and empty."""
        if not self.check_mode(path, want_dir=True):
            return
        names = self.listing(path)
        if names is not None:
            self.compare_names(self.rel(path), names, [])

    def check_attach(self, path, e):
        where = self.rel(path)
        if not self.check_mode(path, want_dir=True):
            return
        names = self.listing(path)
        if names is None:
            return
        fname = e.info["filename"]
        self.compare_names(where, names, [fname])
        file_path = os.path.join(path, fname)
        if fname not in names or not self.check_mode(file_path, want_dir=False):
            return
        data = self.read_file(file_path)
        if data is None:
            return
        content = e.info["content"]
        self.ok(data == content, self.rel(file_path), f"bytes equal the attachment ({len(data)} vs {len(content)})")
        with open(e.info["client_path"], "rb") as f:
            self.ok(data == f.read(), self.rel(file_path), "bytes equal the client's downloaded file")

    def check_ext_npy(self, path, e):
        if self.check_mode(path, want_dir=False):
            self.expect_eio_read(path, f"reading external blob@{e.info['store']} (not supported yet)")

    def check_ext_attach(self, path, e):
        where = self.rel(path)
        if not self.check_mode(path, want_dir=True):
            return
        names = self.listing(path)
        if names is None:
            return
        fname = e.info["filename"]
        self.compare_names(where, names, [fname])
        if fname in names:
            file_path = os.path.join(path, fname)
            if self.check_mode(file_path, want_dir=False):
                self.expect_eio_read(file_path, f"reading external attach@{e.info['store']} (not supported yet)")

    # ---------------------------------------------------------------- external stores (for real)

    def stat_size(self, path):
        try:
            return os.stat(path).st_size
        except OSError as e:
            self.fail(self.rel(path), f"stat failed: {e}")
            return None

    def check_object_file(self, path, obj):
        """A file showing a tracked object: st_size == tracked size before reading, bytes == the
        stored object (read from the store by the checker). Returns the bytes or None."""
        where = self.rel(path)
        size = self.stat_size(path)
        if size is not None:
            self.ok(size == obj.size, where, f"st_size before reading {size} == tracked size {obj.size}")
        if not self.catalog.configured(obj.store):
            self.expect_eio_read(path, f"reading an object of store `{obj.store}`, which the config lacks")
            return None
        data = self.read_file(path)
        if data is None:
            return None
        digest = obj.digest(self.catalog)
        if digest is None:
            self.fail(where, obj.error)
            return data
        self.ok(len(data) == digest[0] and hashlib.md5(data).hexdigest() == digest[1], where,
                f"bytes equal the stored object {obj.path} ({len(data)} vs {digest[0]} bytes)")
        return data

    def check_ext_blob(self, path, e):
        """External blob that is not an .npy array: the stored object's bytes."""
        if self.check_mode(path, want_dir=False):
            self.check_object_file(path, e.info["obj"])

    def check_ext_file(self, path, e):
        """attach@store / filepath@store: <attr>/<file name>, bytes identical to the client's download."""
        where = self.rel(path)
        if not self.check_mode(path, want_dir=True):
            return
        names = self.listing(path)
        if names is None:
            return
        fname, obj = e.info["filename"], e.info["obj"]
        self.compare_names(where, names, [fname])
        file_path = os.path.join(path, fname)
        if fname not in names or not self.check_mode(file_path, want_dir=False):
            return
        data = self.check_object_file(file_path, obj)
        if data is None:
            return
        fwhere = self.rel(file_path)
        if obj.kind == "attach":
            self.ok(hashlib.md5(fname.encode() + b"\0" + data).digest() == obj.hash, fwhere,
                    "MD5(name NUL bytes) equals the attachment's hash")
        client_path = e.info["client_path"]
        if client_path is None:
            self.fail(fwhere, "the client fetched nothing for this attribute")
            return
        with open(client_path, "rb") as f:
            self.ok(data == f.read(), fwhere, f"bytes equal the file the client fetched ({client_path})")

    def check_ext_unknown(self, path, e):
        self.fail(self.rel(path), f"external attribute cannot be checked: {e.info['why']}")

    def check_external_view(self, catalog):
        """`.external/<store>/` and `.external/<store>/.unused/` against the tracking tables."""
        ext_dir = os.path.join(self.root, ".external")
        for where, msg in catalog.problems:
            self.fail(where, msg)
        if not catalog.stores:
            self.expect_errno(".external", "stat of .external in a schema without ~external_* tables",
                              errno.ENOENT, os.stat, ext_dir)
            return
        if not self.check_mode(ext_dir, want_dir=True):
            return
        names = self.listing(ext_dir)
        if names is not None:
            self.compare_names(".external", names, catalog.stores)
        self.expect_errno(".external/no_such_store", "stat of a store without a tracking table",
                          errno.ENOENT, os.stat, os.path.join(ext_dir, "no_such_store"))
        for store in catalog.stores:
            try:
                self.check_store_view(catalog, store, os.path.join(ext_dir, store))
            except Exception:  # noqa: BLE001
                self.fail(f".external/{store}", "checker error:\n" + traceback.format_exc())

    def check_store_view(self, catalog, store, store_dir):
        where = f".external/{store}"
        if not self.check_mode(store_dir, want_dir=True):
            return
        objects = catalog.objects[store]
        expected = {o.name: o for o in objects.values()}
        self.ok(len(expected) == len(objects), where, "tracked objects have distinct names")
        if catalog.configured(store) and all(o.path is not None for o in objects.values()):
            # The same names derived from the client's fetch_external_paths() (object base names).
            from_client = {o.hex + "." + posixpath.basename(o.path) if o.kind == "filepath"
                           else posixpath.basename(o.path) for o in objects.values()}
            self.ok(from_client == set(expected), where,
                    "names from the tracking table == names from the client's fetch_external_paths()")
        names = self.listing(store_dir)
        if names is not None:
            self.compare_names(where, names, list(expected) + [".unused"])
        for name, obj in sorted(expected.items()):
            path = os.path.join(store_dir, name)
            if self.check_mode(path, want_dir=False):
                self.check_object_file(path, obj)
        fake = "0" * 32
        if fake not in expected:
            self.expect_errno(f"{where}/{fake}", "stat of an untracked hash", errno.ENOENT,
                              os.stat, os.path.join(store_dir, fake))

        unused_dir = os.path.join(store_dir, ".unused")
        uwhere = f"{where}/.unused"
        if not self.check_mode(unused_dir, want_dir=True):
            return
        unused = catalog.unused_not_exists(store)
        names = self.listing(unused_dir)
        if names is not None:
            self.compare_names(uwhere, names, [objects[h].name for h in unused])
        for h in sorted(unused):
            path = os.path.join(unused_dir, objects[h].name)
            if self.check_mode(path, want_dir=False):
                self.check_object_file(path, objects[h])
        used = sorted(set(objects) - unused)
        if used:
            self.expect_errno(f"{uwhere}/{objects[used[0]].name}", "stat of a used object in .unused",
                              errno.ENOENT, os.stat, os.path.join(unused_dir, objects[used[0]].name))
        if not catalog.configured(store):
            return
        client = {u.bytes for u in catalog.schema.external[store].unused().fetch("hash")}
        null_refs = catalog.null_references(store)
        if not null_refs:
            self.ok(client == unused, uwhere,
                    f"equals the client's unused() ({len(unused)} objects; no NULL in referencing columns)")
        else:
            self.ok(client <= unused, uwhere, "the client's unused() is a subset of NOT EXISTS")
            if client != unused:
                print(f"note {uwhere}: {len(unused)} unused by NOT EXISTS, the client's unused() gives "
                      f"{len(client)}: NULLs in {', '.join(null_refs)} make its NOT (hash IN ...) "
                      "exclude every unreferenced hash (spec 3.9)", flush=True)

    def check_filepath(self, path, e):
        self.ok(os.path.lexists(path), self.rel(path), "filepath attribute listed (contents not checked)")

    def check_read_only(self, tables):
        """Every write attempt fails with EROFS."""
        self.expect_errno("./new_table", "mkdir at the root", errno.EROFS,
                          os.mkdir, os.path.join(self.root, "NewTable"))
        target = next(((t, r, e) for t in tables for r in t.rows for e in r.entries.values()
                       if e.kind == "scalar"), None)
        if target is None:
            self.fail(".", "no row with a scalar file to try writes on")
            return
        t, r, e = target
        table_dir = os.path.join(self.root, t.folder)
        row_dir = os.path.join(table_dir, r.name)
        scalar = os.path.join(row_dir, e.name)
        where = f"{t.folder}/{r.name}"

        def create():
            fd = os.open(os.path.join(row_dir, "new_file"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            os.close(fd)
            try:
                os.unlink(os.path.join(row_dir, "new_file"))  # best effort if it wrongly succeeded
            except OSError:
                pass

        def write_existing():
            with open(scalar, "rb") as f:
                original = f.read()
            fd = os.open(scalar, os.O_WRONLY)
            try:
                os.write(fd, original)  # same bytes: harmless if it wrongly succeeds
            finally:
                os.close(fd)

        self.expect_errno(f"{where}/new_file", "create a file in a row", errno.EROFS, create)
        self.expect_errno(f"{where}/{e.name}", "open an existing scalar for writing", errno.EROFS,
                          write_existing)
        self.expect_errno(f"{where}/{e.name}", "truncate a scalar file", errno.EROFS, os.truncate, scalar, 0)
        self.expect_errno(f"{where}/{e.name}", "chmod a scalar file", errno.EROFS, os.chmod, scalar, 0o600)
        self.expect_errno(f"{where}/{e.name}", "utime a scalar file", errno.EROFS, os.utime, scalar, (0, 0))
        self.expect_errno(f"{t.folder}/new_row", "mkdir in a table", errno.EROFS,
                          os.mkdir, os.path.join(table_dir, "new_row"))
        self.expect_errno(f"{where}/new_dir", "mkdir in a row", errno.EROFS, os.mkdir, os.path.join(row_dir, "new_dir"))
        self.expect_errno(f"{where}/{e.name}", "unlink a file", errno.EROFS, os.unlink, scalar)
        self.expect_errno(where, "rmdir a row", errno.EROFS, os.rmdir, row_dir)
        self.expect_errno(f"{where}/{e.name}", "rename a file", errno.EROFS,
                          os.rename, scalar, os.path.join(row_dir, e.name + ".renamed"))
        self.expect_errno(where, "rename a row", errno.EROFS, os.rename, row_dir, row_dir + "_renamed")
        self.expect_errno(f"{where}/link", "symlink in a row", errno.EROFS,
                          os.symlink, e.name, os.path.join(row_dir, "link"))
        self.expect_errno(f"{where}/hardlink", "hard link in a row", errno.EROFS,
                          os.link, scalar, os.path.join(row_dir, "hardlink"))


# =============================================================================== scalar text

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME_RE = re.compile(r"^(-)?(\d{2,3}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?$")


def datetime_re(digits):
    frac = rf"\.\d{{{digits}}}" if digits else ""
    return re.compile(rf"^\d{{4}}-\d{{2}}-\d{{2}} \d{{2}}:\d{{2}}:\d{{2}}{frac}$")


def parse_mysql_time(body):
    m = _TIME_RE.match(body)
    if not m:
        return None
    sign, h, mi, s, frac = m.groups()
    td = datetime.timedelta(hours=int(h), minutes=int(mi), seconds=int(s),
                            microseconds=int((frac or "").ljust(6, "0") or 0))
    return -td if sign else td


def scalar_text_matches(text, value, attr):
    """(ok, message): the file text of a scalar attribute against the client's fetched value."""
    if not text.endswith("\n"):
        return False, f"text must end with a newline: {text[:80]!r}"
    body = text[:-1]
    if isinstance(value, str):  # varchar, char, enum, text: exact
        return body == value, f"text {body[:60]!r} == {value[:60]!r}"
    if "\n" in body:
        return False, f"text must end with exactly one newline: {text[:80]!r}"
    sql_type = attr.sql_type.lower()
    try:
        if attr.uuid:
            expected = str(value if isinstance(value, uuid.UUID) else uuid.UUID(bytes=value))
            return body == expected, f"uuid {body!r} == {expected!r}"
        if isinstance(value, (bool, int, np.integer)) and not sql_type.startswith(("float", "double", "real", "decimal")):
            return int(body) == int(value), f"int {body!r} == {value}"
        if sql_type.startswith("float"):
            got = float(body)
            ok = np.float32(got) == np.float32(value) or math.isclose(got, value, rel_tol=1e-6, abs_tol=1e-38)
            return bool(ok), f"float {body!r} ~= {value!r} (float32 precision)"
        if sql_type.startswith(("double", "real")):
            return float(body) == float(value), f"double {body!r} == {value!r}"
        if sql_type.startswith(("decimal", "numeric")):
            return Decimal(body) == value, f"decimal {body!r} == {value}"
        if sql_type.startswith(("datetime", "timestamp")):
            digits = fsp(sql_type)
            if not datetime_re(digits).match(body):
                return False, f"{sql_type} text {body!r} not `YYYY-MM-DD HH:MM:SS{'.' + 'f' * digits if digits else ''}`"
            return datetime.datetime.fromisoformat(body) == value, f"{sql_type} {body!r} == {value}"
        if sql_type.startswith("date"):
            if not _DATE_RE.match(body):
                return False, f"date text {body!r} not YYYY-MM-DD"
            return datetime.date.fromisoformat(body) == value, f"date {body!r} == {value}"
        if sql_type.startswith("time"):
            got = parse_mysql_time(body)
            expected = mysql_time_text(value, fsp(sql_type))
            return got == value and body == expected, f"time {body!r} == {expected!r}"
        if sql_type.startswith("year"):
            return int(body) == int(value), f"year {body!r} == {value}"
    except (ValueError, ArithmeticError) as ex:
        return False, f"cannot parse {body[:60]!r} as {sql_type}: {ex}"
    return body == str(value), f"text {body[:60]!r} == str({str(value)[:60]!r})"


# =============================================================================== main

def check_class_names_with_client(database, tables):
    """Sanity check of the checker's own naming against the client's VirtualModule (raises on mismatch)."""
    vm = dj.VirtualModule("djfs_check_vm", database, create_schema=False)
    for t in tables:
        obj = vm
        for part in t.folder.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                raise SystemExit(f"checker bug: class name {t.folder!r} of {t.table_name!r} "
                                 f"not found in the client's VirtualModule")
        if obj.table_name != t.table_name:
            raise SystemExit(f"checker bug: {t.folder} is {obj.table_name}, expected {t.table_name}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mount")
    ap.add_argument("schema")
    ap.add_argument("--all-schemas", action="store_true", help="the schema's folder is MOUNT/SCHEMA")
    ap.add_argument("--read-only", action="store_true", help="modes exactly 0444 / 0555")
    ap.add_argument("--config", metavar="FILE", help="DataJoint config JSON to connect with")
    ap.add_argument("--no-key-files", action="store_true", help="key attributes are not files in row folders")
    ext = ap.add_mutually_exclusive_group()
    ext.add_argument("--expect-external-eio", action="store_true",
                     help="old behaviour: external attributes listed, reads give EIO; no .external checks")
    ext.add_argument("--no-external", action="store_true", help="do not check the .external view")
    ap.add_argument("-v", "--verbose", action="store_true", help="print passing checks too")
    args = ap.parse_args()

    if args.config:
        djenv.configure()
        dj.config.load(args.config)
        dj.config["database.use_tls"] = dj.config.get("database.use_tls") or False
    else:
        djenv.configure(with_stores=True, stores_required=False)
    dj.config["cache"] = None  # never read or fill the cache djfs shares with the client
    conn = dj.conn(reset=True)

    mount = os.path.abspath(args.mount)
    root = os.path.join(mount, args.schema) if args.all_schemas else mount
    with tempfile.TemporaryDirectory(prefix="djfs-check-") as tmp:
        catalog = None if args.expect_external_eio else ExternalCatalog(conn, args.schema, tmp)
        checker = Checker(root, args.read_only, args.verbose, catalog)
        _, tables = load_schema(conn, args.schema, tmp, key_files=not args.no_key_files, external=catalog)
        check_class_names_with_client(args.schema, tables)

        checker.check_stat_rows_by_name(tables)  # first: no listdir has happened yet
        if args.all_schemas:
            checker.check_schema_folder(mount, args.schema)
        view = catalog is not None and not args.no_external
        checker.check_tables(tables, extra=[".external"] if view and catalog.stores else [],
                             ignore=[] if view else [".external"])
        for t in tables:
            checker.check_rows(t)
            checker.check_bad_names(t)
            for r in t.rows:
                checker.check_row(t, r)
        if view:
            checker.check_external_view(catalog)
        # Writes change the schema: only read-only mounts are probed here (tests/writes.rs
        # covers writable mounts with the client).
        if args.read_only:
            checker.check_read_only(tables)

    n_rows = sum(len(t.rows) for t in tables)
    print(f"checked {len(tables)} tables, {n_rows} rows of `{args.schema}` under {root}")
    if checker.failures:
        print(f"\n{len(checker.failures)} failures:")
        for f in checker.failures:
            print(f"  {f}")
    print(f"{checker.passed} passed, {len(checker.failures)} failed")
    sys.exit(1 if checker.failures else 0)


if __name__ == "__main__":
    main()
