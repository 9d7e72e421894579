"""Shared setup for the DataJoint 2.x test scripts (run with the 2.x client: $DJFS_PY2, datajoint 2.3.5).

Import this module BEFORE datajoint: it removes the DJ_* connection variables from the environment,
because scripts/test exports DJ_HOST / DJ_USER / DJ_PASS for the 0.14 tests (the private MariaDB)
and the 2.x client lets the environment override a config file. The 2.x scripts take their
settings from the variables below and from the config file they write / are given, only.

    DJFS_PG_HOST / DJFS_PG_PORT        the private PostgreSQL 15  (default 127.0.0.1 / 15432)
    DJFS_PG_USER / DJFS_PG_PASS        its password user          (default djfs_test / djfs_test_pw)
    DJFS_PG_DATABASE                   database holding the schemas (default djfs_test)
    DJFS_DB_HOST / DJFS_DB_PORT        the private MariaDB         (default 127.0.0.1 / 13306)
    DJFS_DB_USER / DJFS_DB_PASS        its password user          (default djfs_test / djfs_test_pw)
    DJFS_S3_ENDPOINT                   host:port of the private s3s-fs (default 127.0.0.1:19000)
    DJFS_S3_ACCESS_KEY / DJFS_S3_SECRET_KEY                       (default datajoint / datajoint)
    DJFS_V2_S3_BUCKET                  bucket of the 2.x `shared` store (default djfs-v2)
"""

import base64
import hashlib
import json
import os

for _name in ("DJ_HOST", "DJ_PORT", "DJ_USER", "DJ_PASS", "DJ_BACKEND", "DJ_DATABASE_NAME", "DJ_STORES",
              "DJ_USE_TLS", "DJ_DATABASE_PREFIX"):
    os.environ.pop(_name, None)

import datajoint as dj  # noqa: E402

STORE_FILE = "local"  # protocol file
STORE_S3 = "shared"  # protocol s3 (s3s-fs), with a location prefix
STORE_DEEP = "deep"  # protocol file, with non-default prefixes, subfolding and token length
S3_LOCATION = "lab/v2"


def pg_settings():
    return dict(
        backend="postgresql",
        host=os.environ.get("DJFS_PG_HOST") or "127.0.0.1",
        port=int(os.environ.get("DJFS_PG_PORT") or 15432),
        user=os.environ.get("DJFS_PG_USER") or "djfs_test",
        password=os.environ.get("DJFS_PG_PASS") or "djfs_test_pw",
        name=os.environ.get("DJFS_PG_DATABASE") or "djfs_test",
    )


def mysql_settings():
    return dict(
        backend="mysql",
        host=os.environ.get("DJFS_DB_HOST") or "127.0.0.1",
        port=int(os.environ.get("DJFS_DB_PORT") or 13306),
        user=os.environ.get("DJFS_DB_USER") or "djfs_test",
        password=os.environ.get("DJFS_DB_PASS") or "djfs_test_pw",
        name=None,
    )


def s3_settings():
    return dict(
        endpoint=os.environ.get("DJFS_S3_ENDPOINT") or "127.0.0.1:19000",
        access_key=os.environ.get("DJFS_S3_ACCESS_KEY") or "datajoint",
        secret_key=os.environ.get("DJFS_S3_SECRET_KEY") or "datajoint",
        bucket=os.environ.get("DJFS_V2_S3_BUCKET") or "djfs-v2",
    )


def stores_config(store_root):
    """The 2.x stores: `local` (a folder), `shared` (S3 with a location prefix), `deep` (a folder
    with its own hash_prefix, schema_prefix, subfolding and token_length), and `stores.default`
    naming `local`. `secure` is written out: 2.x defaults it to true."""
    s3 = s3_settings()
    root = os.path.abspath(store_root)
    return {
        "default": STORE_FILE,
        STORE_FILE: {"protocol": "file", "location": os.path.join(root, "local")},
        STORE_DEEP: {"protocol": "file", "location": os.path.join(root, "deep"), "hash_prefix": "objects/by-hash",
                     "schema_prefix": "objects/by-key", "subfolding": [2, 3], "token_length": 12},
        STORE_S3: {"protocol": "s3", "endpoint": s3["endpoint"], "bucket": s3["bucket"], "location": S3_LOCATION,
                   "access_key": s3["access_key"], "secret_key": s3["secret_key"], "secure": False},
    }


def config_dict(db, stores=None):
    """A datajoint.json (flat keys) for the 2.x client and djfs."""
    conf = {
        "database.backend": db["backend"],
        "database.host": db["host"],
        "database.port": db["port"],
        "database.user": db["user"],
        "database.password": db["password"],
        "database.use_tls": False,
    }
    if db.get("name"):
        conf["database.name"] = db["name"]
    if stores:
        conf["stores"] = stores
    return conf


def write_config(path, conf):
    with open(path, "w") as f:
        json.dump(conf, f, indent=4, ensure_ascii=False)
        f.write("\n")
    os.chmod(path, 0o600)  # it holds passwords


def apply_config(conf):
    """Configure the 2.x client from a config dict (as written by config_dict) and connect."""
    for key, value in conf.items():
        if key == "stores":
            continue
        dj.config[key] = value
    if conf.get("stores"):
        dj.config["stores"] = dict(conf["stores"])
    dj.config["safemode"] = False
    dj.config["loglevel"] = "WARNING"
    return dj.conn(reset=True)


def load_config(path):
    with open(path) as f:
        return json.load(f)


def s3fs_for(spec):
    import s3fs

    scheme = "https" if spec.get("secure", True) else "http"
    return s3fs.S3FileSystem(key=spec["access_key"], secret=spec["secret_key"],
                             client_kwargs={"endpoint_url": f"{scheme}://{spec['endpoint']}"})


def ensure_stores(stores):
    for name, spec in stores.items():
        if not isinstance(spec, dict):
            continue
        if spec["protocol"] == "file":
            os.makedirs(spec["location"], exist_ok=True)
        elif spec["protocol"] == "s3":
            fs = s3fs_for(spec)
            if not fs.exists(spec["bucket"]):
                fs.mkdir(spec["bucket"])


def store_key(spec, path):
    """Where an object with metadata path `path` lives: store location + "/" + path (a file path
    for folder stores, `bucket/key` for s3fs)."""
    if spec["protocol"] == "file":
        return os.path.join(spec["location"], path)
    loc = spec.get("location", "").strip("/")
    return f"{spec['bucket']}/{loc}/{path}" if loc else f"{spec['bucket']}/{path}"


def remove_store_prefix(spec, rel):
    """Remove everything under `rel` (relative to the store location) in a store."""
    import shutil

    target = store_key(spec, rel)
    if spec["protocol"] == "file":
        if os.path.isdir(target):
            shutil.rmtree(target)
        elif os.path.exists(target):
            os.remove(target)
        return
    fs = s3fs_for(spec)
    # s3s-fs answers recursive listings with truncated keys: walk level by level.
    stack, files = [target], []
    while stack:
        d = stack.pop()
        try:
            entries = fs.ls(d, detail=True, refresh=True)
        except FileNotFoundError:
            continue
        for ent in entries:
            if ent["type"] == "directory":
                stack.append(ent["name"])
            else:
                files.append(ent["name"])
    for f in files:
        fs.rm_file(f)


def read_store_object(spec, path):
    """The bytes of the object at metadata path `path`, read from the store directly."""
    key = store_key(spec, path)
    if spec["protocol"] == "file":
        with open(key, "rb") as f:
            return f.read()
    fs = s3fs_for(spec)
    with fs.open(key, "rb") as f:
        return f.read()


def content_hash(data):
    """2.x content hash: base32 (lowercase, no padding) of the MD5 of the bytes."""
    return base64.b32encode(hashlib.md5(data).digest()).decode().lower().rstrip("=")


# =============================================================================== add-on codecs
# Two codecs of "a lab's plugin", registered by importing this module (the maker and the checker
# both do, so the client can read the heading). djfs does not know them: it must show a json-typed
# one as `<attr>.json` (the stored metadata) and a bytes-typed one as raw bytes, as for `<zarr@>`.

from datajoint.builtin_codecs.object import ObjectCodec  # noqa: E402


class LabStackCodec(ObjectCodec):
    """`<labstack@store>`: an <object@>-like folder/file in a store, its metadata in a json column."""

    name = "labstack"


class LabNoteCodec(dj.Codec):
    """`<labnote>`: a str kept as UTF-8 bytes in the table (a bytes column)."""

    name = "labnote"

    def get_dtype(self, is_store):
        return "bytes"

    def encode(self, value, *, key=None, context=None, store_name=None):
        return ("labnote:" + value).encode("utf-8")

    def decode(self, stored, *, key=None, context=None):
        return bytes(stored).decode("utf-8")[len("labnote:"):]
