#!/usr/bin/env python
"""Create the empty schema of the backend contract suite (tests/backend_contract.rs,
src/backend/contract.rs) with the real DataJoint client (0.14.10).

    make_contract.py SCHEMA --config-out FILE

Drops SCHEMA if it exists, then declares (no rows; the suite writes them through the backend):
  Subject  Manual  subject_id : int; name : varchar(16); weight = null : float
  Session  Manual  -> Subject, session : smallint; note = null : varchar(32);
                   data = null : longblob; pic = null : attach@local
  Session.Trial    Part  -> master, trial : int; score : int
  Remark   Manual  -> Session, remark_id : int; text : varchar(8)
The `local` store is a folder at DJFS_LOCAL_STORE (see djenv.py).
"""

import argparse
import os
import sys

import datajoint as dj

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import djenv  # noqa: E402

schema = dj.Schema()


@schema
class Subject(dj.Manual):
    definition = """
    subject_id : int
    ---
    name : varchar(16)
    weight = null : float
    """


@schema
class Session(dj.Manual):
    definition = """
    -> Subject
    session : smallint
    ---
    note = null : varchar(32)
    data = null : longblob
    pic = null : attach@local
    """

    class Trial(dj.Part):
        definition = """
        -> master
        trial : int
        ---
        score : int
        """


@schema
class Remark(dj.Manual):
    definition = """
    -> Session
    remark_id : int
    ---
    text : varchar(8)
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
    # The tracking table exists once a store is used: declare it now (the client's own call).
    schema.external["local"]
    djenv.write_config(args.config_out, stores)
    print(f"schema `{args.schema}` created with datajoint {dj.__version__}")


if __name__ == "__main__":
    main()
