"""Shared setup for the djfs Python test scripts (run with the pinned real client, datajoint 0.14.10).

Connection settings come from the environment, as DataJoint itself reads them:
    DJ_HOST   host or host:port            (default 127.0.0.1:3306)
    DJ_USER   database user                (default djfs_test, as in scripts/lib.sh)
    DJ_PASS   database password            (default djfs_test_pw, as in scripts/lib.sh)
Store settings:
    DJFS_S3_ENDPOINT    host:port of the S3 server   (default 127.0.0.1:9000)
    DJFS_S3_ACCESS_KEY  / DJFS_S3_SECRET_KEY          (default datajoint / datajoint)
    DJFS_S3_BUCKET      bucket of the `shared` store  (default datajoint-demo)
    DJFS_LOCAL_STORE    folder of the `local` file store (required when stores are used)
    DJFS_CACHE_DIR      optional DataJoint blob cache folder (written to the config file only)
"""

import json
import os
import sys

import datajoint as dj

STORE_S3 = "shared"
STORE_FILE = "local"


def db_settings():
    """(host, port, user, password) from DJ_HOST / DJ_USER / DJ_PASS."""
    host = os.environ.get("DJ_HOST") or "127.0.0.1"
    port = 3306
    if host.startswith("[") and "]" in host:  # [ipv6]:port
        h, _, rest = host[1:].partition("]")
        host = h
        if rest.startswith(":"):
            port = int(rest[1:])
    elif host.count(":") == 1:
        host, p = host.split(":")
        port = int(p)
    user = os.environ.get("DJ_USER") or "djfs_test"
    password = os.environ.get("DJ_PASS")
    if password is None:
        password = "djfs_test_pw"
    return host, port, user, password


def s3_settings():
    return dict(
        endpoint=os.environ.get("DJFS_S3_ENDPOINT") or "127.0.0.1:9000",
        access_key=os.environ.get("DJFS_S3_ACCESS_KEY") or "datajoint",
        secret_key=os.environ.get("DJFS_S3_SECRET_KEY") or "datajoint",
        bucket=os.environ.get("DJFS_S3_BUCKET") or "datajoint-demo",
    )


def local_store_path(required=True):
    path = os.environ.get("DJFS_LOCAL_STORE")
    if not path:
        if required:
            sys.exit("DJFS_LOCAL_STORE must name a folder for the `local` file store")
        return None
    return os.path.abspath(path)


def stores_config(required=True):
    """The two stores of the seed notebook: `shared` (s3, location '') and `local` (file).
    Returns None when DJFS_LOCAL_STORE is unset and not required."""
    local = local_store_path(required)
    if local is None:
        return None
    s3 = s3_settings()
    return {
        STORE_S3: dict(
            protocol="s3",
            endpoint=s3["endpoint"],
            access_key=s3["access_key"],
            secret_key=s3["secret_key"],
            bucket=s3["bucket"],
            location="",
        ),
        STORE_FILE: dict(protocol="file", location=local),
    }


def ensure_stores(stores):
    """Create the local store folder and the S3 bucket if missing (minio ships with datajoint)."""
    import minio

    for spec in stores.values():
        if spec["protocol"] == "file":
            os.makedirs(spec["location"], exist_ok=True)
        elif spec["protocol"] == "s3":
            client = minio.Minio(
                spec["endpoint"],
                access_key=spec["access_key"],
                secret_key=spec["secret_key"],
                secure=spec.get("secure", False),
            )
            if not client.bucket_exists(spec["bucket"]):
                client.make_bucket(spec["bucket"])


def configure(with_stores=False, stores_required=True):
    """Configure the real client from the environment. Returns the stores dict (or None)."""
    host, port, user, password = db_settings()
    dj.config["database.host"] = host
    dj.config["database.port"] = port
    dj.config["database.user"] = user
    dj.config["database.password"] = password
    dj.config["database.use_tls"] = False  # PyMySQL 1.2 + dj 0.14.10 need this on a TLS-less server
    dj.config["safemode"] = False
    dj.config["loglevel"] = "WARNING"
    stores = None
    if with_stores:
        stores = stores_config(required=stores_required)
        if stores is not None:
            dj.config["stores"] = stores
    cache = os.environ.get("DJFS_CACHE_DIR")
    if cache and with_stores:
        os.makedirs(cache, exist_ok=True)
        dj.config["cache"] = os.path.abspath(cache)
    return stores


def connect(with_stores=False, stores_required=True):
    stores = configure(with_stores, stores_required)
    conn = dj.conn(reset=True)
    return conn, stores


def config_dict(stores):
    """A DataJoint config file usable by both the client (dj.config.load) and djfs."""
    host, port, user, password = db_settings()
    conf = {
        "database.host": host,
        "database.port": port,
        "database.user": user,
        "database.password": password,
        "database.use_tls": False,
        "stores": stores,
    }
    cache = os.environ.get("DJFS_CACHE_DIR")
    if cache:
        conf["cache"] = os.path.abspath(cache)
    return conf


def write_config(path, stores):
    with open(path, "w") as f:
        json.dump(config_dict(stores), f, indent=4)
        f.write("\n")


def fresh_schema(name):
    """Drop schema `name` if it exists, then create it anew with the real client."""
    conn = dj.conn()
    exists = conn.query(
        "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME=%s", args=(name,)
    ).fetchone()[0]
    if exists:
        dj.Schema(name, create_schema=False).drop(force=True)
    return dj.Schema(name)
