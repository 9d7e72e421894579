#!/usr/bin/env python
"""The 0.14 side of the cross-version copy test (tests/postgres_writes.rs): a table `Cross` of the
same design as v2_writes.py's 2.x `Cross`, made and read by the real 0.14 client (datajoint
0.14.10, run with $DJFS_PY) on the test MariaDB, external values in 0.14's `shared` (S3) and
`local` (folder, $DJFS_LOCAL_STORE) stores.

    cross_014.py make SCHEMA --config-out FILE    drops and makes SCHEMA, inserts row id=1
    cross_014.py dump SCHEMA --config FILE KEY    the row as rowdump.normalize gives it
                                                  (attachments downloaded: name, sha256, size)
"""

import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import djenv  # noqa: E402
import rowdump  # noqa: E402

import datajoint as dj  # noqa: E402
import numpy as np  # noqa: E402


def define(schema):
    @schema
    class Cross(dj.Manual):
        definition = """
        id : int
        ---
        label : varchar(64)
        score : double
        b_s3 : blob@shared
        b_local : blob@local
        doc_s3 : attach@shared
        doc_local = null : attach@local
        """

    return Cross


def make(name, config_out):
    stores = djenv.configure(with_stores=True)
    djenv.ensure_stores(stores)
    dj.conn(reset=True)
    Cross = define(djenv.fresh_schema(name))
    rng = np.random.default_rng(14)
    with tempfile.TemporaryDirectory(prefix="djfs-cross-") as tmp:
        doc = os.path.join(tmp, "résumé 0.14.txt")
        with open(doc, "wb") as f:
            f.write("made by 0.14 ✓\n".encode())
        big = os.path.join(tmp, "data.bin")
        with open(big, "wb") as f:
            f.write(rng.bytes(300_000))
        Cross.insert1(dict(id=1, label="made by 0.14", score=1.5, b_s3=rng.standard_normal((4, 5)),
                           b_local={"k": "v", "n": [1, 2, 3]}, doc_s3=big, doc_local=doc))
    djenv.write_config(config_out, stores)
    print(json.dumps({"schema": name}))


def dump(name, config, key_text):
    dj.config.load(config)
    dj.config["database.use_tls"] = False
    dj.config["cache"] = None
    dj.conn(reset=True)
    Cross = define(dj.Schema(name, create_schema=False))
    key = json.loads(key_text)
    out = {}
    with tempfile.TemporaryDirectory(prefix="djfs-cross-dump-") as dl:
        row = (Cross & key).fetch1(download_path=dl)
        for attr, value in row.items():
            is_attach = Cross.heading.attributes[attr].is_attachment
            out[attr] = rowdump.attachment(value) if is_attach and value is not None else rowdump.normalize(value)
    print(json.dumps(out, sort_keys=True))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="mode", required=True)
    m = sub.add_parser("make")
    m.add_argument("schema")
    m.add_argument("--config-out", required=True)
    d = sub.add_parser("dump")
    d.add_argument("schema")
    d.add_argument("--config", required=True)
    d.add_argument("key")
    args = ap.parse_args()
    if args.mode == "make":
        make(args.schema, args.config_out)
    else:
        dump(args.schema, args.config, args.key)


if __name__ == "__main__":
    main()
