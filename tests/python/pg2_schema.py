"""A DataJoint 2.x schema on PostgreSQL (or its in-table types on MySQL/MariaDB), written and checked
by the real 2.x client (datajoint 2.3.5).

    pg2_schema.py make SCHEMA            drops SCHEMA if present, declares it and inserts rows
    pg2_schema.py check SCHEMA MOUNT     compares every row folder and file of MOUNT (a djfs mount
                                         of SCHEMA) with what the client fetches; exit 1 on any
                                         difference, printing each

Connection from DJFS_PG_HOST, DJFS_PG_PORT (default 5432), DJFS_PG_USER, DJFS_PG_PASS, database
DJFS_PG_DATABASE (default postgres), no TLS;
DJFS_2X_BACKEND=mysql makes the same schema on a MySQL/MariaDB server given by those variables.
Run with the 2.x client's Python (DJFS_PY2). Two 2.3.5 bugs are worked around, not copied: a
`uuid` value cannot be inserted (written here with SQL), and an in-table `<attach>` cannot be
fetched (compared with the stored `name\\0contents` bytes), and a `uuid` cannot be fetched (compared
with its text as PostgreSQL prints it).
"""

import datetime
import decimal
import json
import os
import sys
import tempfile
import uuid

import numpy as np

# scripts/test's DJ_HOST/DJ_USER/DJ_PASS name the 0.14 MariaDB: never let them reach the client.
for _name in ("DJ_HOST", "DJ_PORT", "DJ_USER", "DJ_PASS", "DJ_BACKEND", "DJ_DATABASE_NAME",
              "DJ_USE_TLS", "DJ_STORES"):
    os.environ.pop(_name, None)

import datajoint as dj  # noqa: E402

BACKEND = os.environ.get("DJFS_2X_BACKEND") or "postgresql"
dj.config["database.backend"] = BACKEND
dj.config["database.host"] = os.environ["DJFS_PG_HOST"]
dj.config["database.port"] = int(os.environ.get("DJFS_PG_PORT") or 5432)
dj.config["database.user"] = os.environ["DJFS_PG_USER"]
dj.config["database.password"] = os.environ["DJFS_PG_PASS"]
dj.config["database.use_tls"] = False
if BACKEND == "postgresql":
    dj.config["database.name"] = os.environ.get("DJFS_PG_DATABASE") or "postgres"

mode, name = sys.argv[1], sys.argv[2]
schema = dj.Schema(name)
if mode == "make":
    schema.drop(prompt=False)
    schema = dj.Schema(name)


@schema
class Subject(dj.Manual):
    definition = """
    # subjects of the lab
    subject_id : int32
    ---
    name : varchar(64)   # their name
    sex : enum('M', 'F', 'U')
    dob = null : date
    weight = null : float64
    ratio = null : float32
    big = null : int64
    alive = 1 : bool
    notes : json
    ident = null : uuid
    raw = null : bytes
    price = null : decimal(6,2)
    seen = null : datetime(3)
    """


@schema
class Session(dj.Manual):
    definition = """
    -> Subject
    session : int16
    ---
    data : <blob>
    doc = null : <attach>
    """

    class Trial(dj.Part):
        definition = """
        -> master
        trial : int32
        ---
        signal : <blob>
        """


@schema
class Kind(dj.Lookup):
    definition = """
    kind : varchar(16)
    """
    contents = [("a",), ("it's",), ("ünï",), ("x/y,z=%",)]


@schema
class Grid(dj.Manual):
    definition = """
    # a table for paged listings: a key of two columns
    row_id : int32
    tag : varchar(8)
    ---
    value : float64
    """


def q(table):
    """The schema-qualified, quoted name of a table."""
    if BACKEND == "mysql":
        return f"`{name}`.`{table}`"
    return f'"{name}"."{table}"'


def make():
    Subject.insert1(
        dict(subject_id=1, name="Alice", sex="F", dob=datetime.date(2020, 1, 2), weight=21.5,
             ratio=0.1, big=2**62, alive=True, notes={"a": [1, 2, 3], "b": "x"},
             raw=b"\x00\x01binary\xff", price=decimal.Decimal("12.34"),
             seen=datetime.datetime(2024, 5, 6, 7, 8, 9, 123000)))
    Subject.insert1(dict(subject_id=2, name="Bob ünï", sex="M", alive=False, notes={"n": None}))
    # 2.3.5 cannot insert a uuid on PostgreSQL: write it with SQL.
    ident = "00112233-4455-6677-8899-aabbccddeeff"
    if BACKEND == "mysql":
        dj.conn().query(f"UPDATE {q('subject')} SET ident = UNHEX(%s) WHERE subject_id = 1",
                        args=(ident.replace("-", ""),))
    else:
        dj.conn().query(f"UPDATE {q('subject')} SET ident = %s::uuid WHERE subject_id = 1",
                        args=(ident,))
    Session.insert1(dict(subject_id=1, session=1, data=np.arange(12, dtype=np.float64).reshape(3, 4)))
    Session.insert1(dict(subject_id=1, session=2, data={"x": 1}))
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "notes.txt")
        with open(path, "wb") as f:
            f.write(b"hello attach\n\x00\xff")
        Session.insert1(dict(subject_id=2, session=1, data=np.int64(7), doc=path))
    Session.Trial.insert(
        [dict(subject_id=1, session=1, trial=t, signal=np.ones(5) * t) for t in range(3)])
    Grid.insert([dict(row_id=i // 3, tag=f"t{i % 3}", value=i / 4) for i in range(250)])


def escape_value(text):
    out = []
    for i, ch in enumerate(text):
        if ch in "%/,=" or ord(ch) < 0x20 or ord(ch) == 0x7F or (i == 0 and ch == "."):
            out.append("".join(f"%{b:02X}" for b in ch.encode("utf-8")))
        else:
            out.append(ch)
    return "".join(out)


def key_text(v):
    if isinstance(v, bool):
        return str(int(v))
    return str(v)


def scalar_ok(body, v):
    if isinstance(v, str):
        return body == v
    if isinstance(v, bool):
        return int(body) == int(v)
    if isinstance(v, (int, np.integer)):
        return int(body) == int(v)
    if isinstance(v, (float, np.floating)):
        return float(body) == float(v) or np.float32(float(body)) == np.float32(v)
    if isinstance(v, decimal.Decimal):
        return decimal.Decimal(body) == v
    if isinstance(v, datetime.datetime):
        return datetime.datetime.fromisoformat(body) == v
    if isinstance(v, datetime.date):
        return datetime.date.fromisoformat(body) == v
    if isinstance(v, uuid.UUID):
        return body == str(v)
    if isinstance(v, (dict, list)):
        return json.loads(body) == v
    return body == str(v)


def check(mount):
    bad = []
    checked = 0
    stored = dict(
        ((r[0], r[1]), bytes(r[2])) for r in dj.conn().query(
            f"SELECT subject_id, session, doc FROM {q('session')} WHERE doc IS NOT NULL").fetchall())
    for cls, folder in [(Subject, "Subject"), (Session, "Session"), (Session.Trial, "Session.Trial"),
                        (Kind, "Kind"), (Grid, "Grid")]:
        heading = cls.heading
        keys = heading.primary_key
        fields = [a for a in heading.names if a not in ("doc", "ident")]
        rows = cls.proj(*[a for a in fields if a not in keys]).fetch(as_dict=True)
        want = {",".join(f"{k}={escape_value(key_text(r[k]))}" for k in keys): r for r in rows}
        got = {f for f in os.listdir(os.path.join(mount, folder)) if not f.startswith(".")}
        if set(want) != got:
            bad.append(f"{folder}: rows {sorted(got)[:5]}… != {sorted(want)[:5]}…")
            continue
        for fname, row in want.items():
            base = os.path.join(mount, folder, fname)
            for attr, v in row.items():
                codec = heading.attributes[attr].type
                p = os.path.join(base, attr)
                checked += 1
                if v is None:
                    if os.path.exists(p) or os.path.exists(p + ".npy"):
                        bad.append(f"{p}: NULL shown as a file")
                    continue
                if "<blob>" in str(codec) or (isinstance(v, np.ndarray)):
                    if isinstance(v, np.ndarray) or np.isscalar(v) and not isinstance(v, str):
                        a = np.load(p + ".npy")
                        if not np.array_equal(a, v):
                            bad.append(f"{p}.npy: {a!r} != {v!r}")
                    elif not os.path.exists(p + ".blob"):
                        bad.append(f"{p}.blob missing")
                    continue
                if isinstance(v, (bytes, memoryview)):
                    with open(p, "rb") as f:
                        if f.read() != bytes(v):
                            bad.append(f"{p}: bytes differ")
                    continue
                with open(p, encoding="utf-8") as f:
                    text = f.read()
                if not text.endswith("\n") or not scalar_ok(text[:-1], v):
                    bad.append(f"{p}: {text!r} != {v!r}")
        if cls is Subject:
            # 2.3.5 cannot fetch a uuid on PostgreSQL either: compare with the stored text.
            text = "LOWER(HEX(ident))" if BACKEND == "mysql" else "ident::text"
            for sid, ident in dj.conn().query(f"SELECT subject_id, {text} FROM {q('subject')}").fetchall():
                if ident is not None and "-" not in ident:
                    ident = str(uuid.UUID(ident))
                p = os.path.join(mount, folder, f"subject_id={sid}", "ident")
                checked += 1
                if ident is None:
                    if os.path.exists(p):
                        bad.append(f"{p}: NULL shown as a file")
                elif open(p).read() != ident + "\n":
                    bad.append(f"{p}: {open(p).read()!r} != {ident!r}")
        if cls is Session:
            for (sid, ses), value in stored.items():
                fname, _, contents = value.partition(b"\0")
                p = os.path.join(mount, folder, f"subject_id={sid},session={ses}", "doc",
                                 fname.decode())
                checked += 1
                with open(p, "rb") as f:
                    if f.read() != contents:
                        bad.append(f"{p}: attachment differs")
    for b in bad:
        print(b)
    print(f"checked {checked} values, {len(bad)} differences")
    return not bad


if mode == "make":
    make()
elif mode == "check":
    sys.exit(0 if check(sys.argv[3]) else 1)
else:
    sys.exit(f"unknown mode {mode}")
