#!/usr/bin/env python
"""Create the schema of the fault matrix (tests/faults.rs) with the real DataJoint client (0.14.10).

    make_faults.py SCHEMA --config-out FILE [--cache DIR]

Drops SCHEMA if it exists, then declares and fills
  Doc  Manual  doc_id; title (required); notes, pic (attach@local), pic_s3 (attach@shared),
               pic_in (attach), arr (blob@local), arr_s3 (blob@shared): all nullable
               row 1: every value; rows 2-14: title only
and leaves unused objects behind: rows 15-18 are inserted with pic, pic_s3, arr and arr_s3 and
then deleted (the client keeps their objects and tracking rows), so each store tracks 8 objects no
row references. Stores as make_demo.py (`shared` = S3, `local` = folder at DJFS_LOCAL_STORE);
`--cache` writes DataJoint's `cache` folder into the config (djfs stages writes under it).
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
    arr_s3 = null : blob@shared
    """


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("schema")
    ap.add_argument("--config-out", metavar="FILE", required=True)
    ap.add_argument("--cache", metavar="DIR")
    args = ap.parse_args()

    stores = djenv.configure(with_stores=True)
    djenv.ensure_stores(stores)
    dj.conn(reset=True)
    djenv.fresh_schema(args.schema)
    schema.activate(args.schema)

    with tempfile.TemporaryDirectory() as tmp:
        def write(name, data):
            path = os.path.join(tmp, name)
            with open(path, "wb") as f:
                f.write(data)
            return path

        Doc.insert1(dict(doc_id=1, title="first", notes="old notes",
                         pic=write("old.txt", b"old picture\n"), pic_s3=write("old_s3.txt", b"old s3\n"),
                         pic_in=write("old_in.txt", b"old in-table\n"), arr=np.arange(6.0),
                         arr_s3=np.arange(4.0)))
        Doc.insert1(dict(doc_id=2, title="second"))
        Doc.insert(dict(doc_id=i, title=f"row {i}") for i in range(3, 15))
        for i in range(15, 19):
            Doc.insert1(dict(doc_id=i, title=f"gone {i}", pic=write(f"u{i}.txt", f"unused {i}\n".encode()),
                             pic_s3=write(f"u{i}_s3.txt", f"unused s3 {i}\n".encode()),
                             arr=np.full(3, float(i)), arr_s3=np.full(2, float(i))))
        (Doc & "doc_id >= 15").delete()
    djenv.write_config(args.config_out, stores, cache=args.cache)
    print(f"schema `{args.schema}` created with datajoint {dj.__version__}")


if __name__ == "__main__":
    main()
