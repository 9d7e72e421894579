#!/usr/bin/env python
"""Create the empty schema of the backend contract suite on PostgreSQL with the real DataJoint 2.x
client (datajoint 2.3.5, run with $DJFS_PY2): the design of make_contract.py in 2.x types, with the
attachment in the table (2.x keeps no `~external_*` tracking tables).

    make_contract_v2.py SCHEMA --config-out FILE

Drops SCHEMA if it exists, then declares (no rows; tests/backend_contract.rs writes them through
djfs's PostgreSQL backend, src/backend/contract.rs `run_without_tracking`):
  Subject  Manual  subject_id : int32; name : varchar(16); weight = null : float32
  Session  Manual  -> Subject, session : int16; note = null : varchar(32);
                   data = null : <blob>; pic = null : <attach>
  Session.Trial    Part  -> master, trial : int32; score : int32
  Remark   Manual  -> Session, remark_id : int32; text : varchar(8)
The database settings come from dj2env.py (DJFS_PG_*); FILE is the datajoint.json djfs reads.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dj2env  # noqa: E402  (before datajoint)

import datajoint as dj  # noqa: E402


def declare(schema):
    @schema
    class Subject(dj.Manual):
        definition = """
        subject_id : int32
        ---
        name : varchar(16)
        weight = null : float32
        """

    @schema
    class Session(dj.Manual):
        definition = """
        -> Subject
        session : int16
        ---
        note = null : varchar(32)
        data = null : <blob>
        pic = null : <attach>
        """

        class Trial(dj.Part):
            definition = """
            -> master
            trial : int32
            ---
            score : int32
            """

    @schema
    class Remark(dj.Manual):
        definition = """
        -> Session
        remark_id : int32
        ---
        text : varchar(8)
        """


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("schema")
    ap.add_argument("--config-out", metavar="FILE", required=True)
    args = ap.parse_args()
    conf = dj2env.config_dict(dj2env.pg_settings())
    dj2env.apply_config(conf)
    if args.schema in dj.list_schemas():
        dj.Schema(args.schema, create_schema=False).drop(prompt=False)
    declare(dj.Schema(args.schema))
    dj2env.write_config(args.config_out, conf)
    print(f"schema `{args.schema}` created with datajoint {dj.__version__}")


if __name__ == "__main__":
    main()
