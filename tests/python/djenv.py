"""Shared setup for the djfs Python test scripts (run with the pinned real client, datajoint 0.14.10).

Connection settings come from the environment, as DataJoint itself reads them:
    DJ_HOST   host or host:port            (default 127.0.0.1:13306, the private MariaDB of
                                            scripts/services-up; port 3306 when only a host)
    DJ_USER   database user                (default djfs_test, as in scripts/lib.sh)
    DJ_PASS   database password            (default djfs_test_pw, as in scripts/lib.sh)
    DJFS_TLS_CA  a CA file: connect with database.use_tls = {"ca": DJFS_TLS_CA} (default: no TLS)
Store settings:
    DJFS_S3_ENDPOINT    host:port of the S3 server   (default 127.0.0.1:19000, the private one)
    DJFS_S3_ACCESS_KEY  / DJFS_S3_SECRET_KEY          (default datajoint / datajoint)
    DJFS_S3_BUCKET      bucket of the `shared` store  (default datajoint-demo)
    DJFS_LOCAL_STORE    folder of the `local` file store (required when stores are used)
    DJFS_CACHE_DIR      optional DataJoint blob cache folder (written to the config file only)
    DJFS_EXT_STORE_ROOT folder for the extra file stores of make_external.py
                        (default: DJFS_LOCAL_STORE's path with `-ext` appended)
"""

import hashlib
import json
import os
import sys

import datajoint as dj

STORE_S3 = "shared"
STORE_FILE = "local"


def db_settings():
    """(host, port, user, password) from DJ_HOST / DJ_USER / DJ_PASS."""
    host = os.environ.get("DJ_HOST") or "127.0.0.1:13306"
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


def tls_setting():
    """database.use_tls: {"ca": DJFS_TLS_CA} when set (a TLS-only server), else False
    (PyMySQL 1.2 + dj 0.14.10 need False on a TLS-less server)."""
    ca = os.environ.get("DJFS_TLS_CA")
    return {"ca": os.path.abspath(ca)} if ca else False


def s3_settings():
    return dict(
        endpoint=os.environ.get("DJFS_S3_ENDPOINT") or "127.0.0.1:19000",
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
    dj.config["database.use_tls"] = tls_setting()
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
        "database.use_tls": tls_setting(),
        "stores": stores,
    }
    cache = os.environ.get("DJFS_CACHE_DIR")
    if cache:
        conf["cache"] = os.path.abspath(cache)
    return conf


def write_config(path, stores, cache=None):
    """Write config_dict(stores); `cache` (a folder) overrides DJFS_CACHE_DIR when given."""
    conf = config_dict(stores)
    if cache:
        conf["cache"] = os.path.abspath(cache)
    with open(path, "w") as f:
        json.dump(conf, f, indent=4)
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


# =============================================================================== external stores

# Extra stores of make_external.py (names match the client's `[a-z][-\w]*`).
STORE_FOLD11 = "fold11"  # file, subfolding (1, 1)
STORE_S3LOC = "s3loc"  # s3, location "dj/ext-test", default subfolding; has a stage (filepath on s3)
STORE_S3FOLD = "s3fold"  # s3, location "/leading/slash" (normalised by the client), subfolding (2, 4)
STORE_STAGED = "staged"  # file, with a stage (filepath@staged)


def ext_store_root(required=True):
    """Folder holding the file stores and stages of make_external.py."""
    root = os.environ.get("DJFS_EXT_STORE_ROOT")
    if not root:
        local = local_store_path(required)
        if local is None:
            return None
        root = local.rstrip("/") + "-ext"
    return os.path.abspath(root)


def external_stores_config(root):
    """The seed's two stores plus the extra stores of make_external.py, as the client reads them.
    Folders (stores and stages) live under `root`."""
    stores = stores_config(required=True)
    s3 = s3_settings()
    s3_common = dict(
        protocol="s3",
        endpoint=s3["endpoint"],
        access_key=s3["access_key"],
        secret_key=s3["secret_key"],
        bucket=s3["bucket"],
    )
    stores[STORE_FOLD11] = dict(protocol="file", location=os.path.join(root, "fold11"), subfolding=[1, 1])
    stores[STORE_S3LOC] = dict(s3_common, location="dj/ext-test", stage=os.path.join(root, "stage-s3loc"))
    stores[STORE_S3FOLD] = dict(s3_common, location="/leading/slash", subfolding=[2, 4])
    stores[STORE_STAGED] = dict(
        protocol="file", location=os.path.join(root, "staged"), stage=os.path.join(root, "stage-staged")
    )
    return stores


def ensure_stages(stores):
    for spec in stores.values():
        if spec.get("stage"):
            os.makedirs(spec["stage"], exist_ok=True)


def minio_client(spec):
    import minio

    return minio.Minio(
        spec["endpoint"],
        access_key=spec["access_key"],
        secret_key=spec["secret_key"],
        secure=spec.get("secure", False),
    )


def s3_location_prefix(location):
    """S3 key prefix of a store location, normalised as the 0.14 client does (spec 3.5): backslashes
    become `/`, a leading `/` and a Windows drive/root are dropped; "" for the bucket root."""
    text = (location or "").replace("\\", "/")
    parts = [p for p in text.split("/") if p]
    if parts and ":" in parts[0]:  # drive letter such as `f:`
        parts = parts[1:]
    return "/".join(parts)


def subfold(hex_text, folds):
    out, rest = [], hex_text.lower()
    for width in folds:
        out.append(rest[:width])
        rest = rest[width:]
    return out


def object_path(spec, schema, hex_text, attachment_name=None):
    """Where the 0.14 client puts a blob / attachment object (spec 3.5), computed independently of
    the client: a file path for `file` stores, an object key for `s3` stores."""
    folds = spec.get("subfolding", (2, 2))
    name = hex_text + ("." + attachment_name if attachment_name is not None else "")
    rel = "/".join([schema] + subfold(hex_text, folds or ()) + [name])
    return filepath_object_path(spec, rel)


def filepath_object_path(spec, relpath):
    """Where a `filepath@store` object (or any relative path) lives in the store (spec 3.5, 5)."""
    if spec["protocol"].lower() == "s3":
        prefix = s3_location_prefix(spec.get("location", ""))
        return f"{prefix}/{relpath}" if prefix else relpath
    return os.path.join(spec["location"], relpath)


def open_s3_object(spec, path, minio_clients=None):
    """A streaming GET of an S3 store's object (clients reused through `minio_clients`).
    Raises FileNotFoundError when the object is missing."""
    import minio

    key = (spec["endpoint"], spec["access_key"], spec["bucket"])
    if minio_clients is None:
        minio_clients = {}
    client = minio_clients.get(key)
    if client is None:
        client = minio_clients[key] = minio_client(spec)
    try:
        return client.get_object(spec["bucket"], str(path))
    except minio.error.S3Error as e:
        if e.code == "NoSuchKey":
            raise FileNotFoundError(f"s3://{spec['bucket']}/{path}") from None
        raise


def read_store_object(spec, path, minio_clients=None):
    """The stored object's bytes, read directly from the store (not through DataJoint):
    a folder store from disk, an S3 store with the minio client. `path` is a full file path
    (file) or an object key (s3). Raises FileNotFoundError when the object is missing."""
    if spec["protocol"].lower() == "file":
        with open(path, "rb") as f:
            return f.read()
    response = open_s3_object(spec, path, minio_clients)
    try:
        return response.read()
    finally:
        response.close()
        response.release_conn()


def store_object_digest(spec, path, minio_clients=None, head_bytes=1 << 16):
    """(size, md5 hex, first `head_bytes` bytes) of a stored object, streamed (bounded memory).
    Raises FileNotFoundError when the object is missing."""
    md5 = hashlib.md5()
    size, head = 0, bytearray()

    def take(chunk):
        nonlocal size
        md5.update(chunk)
        size += len(chunk)
        if len(head) < head_bytes:
            head.extend(chunk[: head_bytes - len(head)])

    if spec["protocol"].lower() == "file":
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                take(chunk)
        return size, md5.hexdigest(), bytes(head)
    response = open_s3_object(spec, path, minio_clients)
    try:
        for chunk in response.stream(1 << 20):
            take(chunk)
    finally:
        response.close()
        response.release_conn()
    return size, md5.hexdigest(), bytes(head)
