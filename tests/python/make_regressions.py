#!/usr/bin/env python
"""Create the schema of the write-path regression tests with the real DataJoint client (0.14.10).

    make_regressions.py SCHEMA --config-out FILE

Drops SCHEMA if it exists, then declares and fills:
  Tiny   Manual  tiny_id : tinyint (the key is all there is: `mkdir` inserts at once)
  Doc    Manual  doc_id; title (required); notes, pic (attach@local), pic_s3 (attach@shared),
                 pic_in (attach), arr (blob@local): all nullable
                 row 1: every value; rows 2-14: title only (NULL attachments and blob)
Stores as make_demo.py (`shared` = S3, `local` = folder at DJFS_LOCAL_STORE).
"""

import argparse
import os
import sys
import tempfile

import datajoint as dj
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import djenv  # noqa: E402

schema = dj.Schema()


@schema
class Tiny(dj.Manual):
    definition = """
    tiny_id : tinyint
    """


@schema
class Doc(dj.Manual):
    definition = """
    doc_id : int
    ---
    title : varchar(64)
    notes = null : varchar(255)
    pic = null : attach@local
    pic_s3 = null : attach@shared
    pic_in = null : attach
    arr = null : blob@local
    """


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("schema")
    ap.add_argument("--config-out", metavar="FILE", required=True)
    args = ap.parse_args()

    stores = djenv.configure(with_stores=True)
    djenv.ensure_stores(stores)
    dj.conn(reset=True)
    djenv.fresh_schema(args.schema)
    schema.activate(args.schema)

    Tiny.insert1(dict(tiny_id=1))
    with tempfile.TemporaryDirectory() as tmp:
        def write(name, data):
            path = os.path.join(tmp, name)
            with open(path, "wb") as f:
                f.write(data)
            return path

        Doc.insert1(dict(doc_id=1, title="first", notes="old notes",
                         pic=write("old.txt", b"old picture\n"), pic_s3=write("old_s3.txt", b"old s3\n"),
                         pic_in=write("old_in.txt", b"old in-table\n"), arr=np.arange(6.0)))
        Doc.insert1(dict(doc_id=2, title="second"))
        Doc.insert(dict(doc_id=i, title=f"row {i}") for i in range(3, 15))
    djenv.write_config(args.config_out, stores)
    print(f"schema `{args.schema}` created with datajoint {dj.__version__}")


if __name__ == "__main__":
    main()
