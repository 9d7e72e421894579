#!/usr/bin/env python
"""Create the schema of the scale tests with the real DataJoint client (0.14.10).

    make_scale.py SCHEMA --config-out FILE [--rows N] [--step S] [--notes N]

Drops SCHEMA if it exists, then declares and fills:
  Reading  Manual  reading_id : int; value : float; label : varchar(32); day : date
           N rows (default 2000) with ids 0, S, 2S, ... (default S = 1), inserted in
           batches as a pipeline would.
  Note     Manual  note_id : int; doc : attach (in-table)
           with --notes N: N rows, note i holding the file `note_i.txt` ("note i\n").
"""

import argparse
import datetime
import os
import sys

import datajoint as dj

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import djenv  # noqa: E402

schema = dj.Schema()


@schema
class Reading(dj.Manual):
    definition = """
    reading_id : int
    ---
    value : float
    label : varchar(32)
    day : date
    """


@schema
class Note(dj.Manual):
    definition = """
    note_id : int
    ---
    doc : attach
    """


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("schema")
    ap.add_argument("--config-out", metavar="FILE", required=True)
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--step", type=int, default=1)
    ap.add_argument("--notes", type=int, default=0)
    args = ap.parse_args()

    stores = djenv.configure(with_stores=True)
    djenv.ensure_stores(stores)
    dj.conn(reset=True)
    djenv.fresh_schema(args.schema)
    schema.activate(args.schema)
    start = datetime.date(2020, 1, 1)
    batch = 10000
    for first in range(0, args.rows, batch):
        Reading.insert(
            dict(reading_id=i * args.step, value=i / 4, label=f"reading {i}", day=start + datetime.timedelta(days=i % 3000))
            for i in range(first, min(first + batch, args.rows))
        )
    if args.notes:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            for i in range(args.notes):
                path = os.path.join(tmp, f"note_{i}.txt")
                with open(path, "w") as f:
                    f.write(f"note {i}\n")
                Note.insert1(dict(note_id=i, doc=path))
    djenv.write_config(args.config_out, stores)
    print(f"schema `{args.schema}` created with datajoint {dj.__version__}: {len(Reading())} readings")


if __name__ == "__main__":
    main()
