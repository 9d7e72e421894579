#!/usr/bin/env python
"""The 0.14 side of the 0.14 <-> 2.x copy test (tests/writes_v2.rs), made by the real client
(datajoint 0.14.10) on the test MariaDB:

    make_cross_014.py SCHEMA

Drops SCHEMA and declares `Item` (item_id : int --- name : varchar(32); weight : float;
count : int; day : date; data : longblob; doc : attach), the design v2_client.py `make-cross`
declares in 2.x types on PostgreSQL, with rows item_id 1 (an array blob) and 2 (a dict blob).
The connection comes from DJ_HOST / DJ_USER / DJ_PASS (djenv.py).
"""

import argparse
import datetime
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import djenv  # noqa: E402

import datajoint as dj  # noqa: E402

schema = dj.Schema()


@schema
class Item(dj.Manual):
    definition = """
    item_id : int
    ---
    name : varchar(32)
    weight : float
    count : int
    day : date
    data : longblob
    doc : attach
    """


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("schema")
    args = ap.parse_args()
    djenv.connect()
    djenv.fresh_schema(args.schema)
    schema.activate(args.schema)
    with tempfile.TemporaryDirectory() as d:
        one = os.path.join(d, "notes é.txt")
        with open(one, "wb") as f:
            f.write("made by 0.14 ✓\n".encode())
        Item.insert1(dict(item_id=1, name="made by 0.14", weight=61.5, count=12, day=datetime.date(2023, 7, 1),
                          data=np.linspace(0, 1, 12).reshape(3, 4), doc=one))
        two = os.path.join(d, "raw.bin")
        with open(two, "wb") as f:
            f.write(bytes(range(255, -1, -1)))
        Item.insert1(dict(item_id=2, name="dict blob", weight=-0.25, count=2**31 - 1, day=datetime.date(2000, 1, 1),
                          data={"x": [1, 2, 3], "y": "text"}, doc=two))
    print(f"schema `{args.schema}` created with datajoint {dj.__version__}")


if __name__ == "__main__":
    main()
