#!/usr/bin/env python
"""What the REAL DataJoint client (0.14.10) sees of the fault matrix's schema (tests/faults.rs,
made by make_faults.py), in one JSON document:

    fault_view.py --config CONFIG SCHEMA

{"rows": {doc_id: {"title", "notes", "pic"|"pic_s3"|"pic_in": null | {"name", "size", "md5"},
                   "arr"|"arr_s3": null | [values]} | {"error": message}},
 "tracked": {store: [{"hash", "size", "exists_in_store"}]},
 "unused": {store: [hash, ...]}}            (unused: NOT EXISTS per referencing column)

Every row is fetched whole with fetch1 (attachments downloaded, blobs unpacked, nothing cached): a
row referencing a missing object shows as {"error": ...}. Exit 1 (traceback) when the database is
unreachable.
"""

import hashlib
import json
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import client_view  # noqa: E402

ATTACH = ("pic", "pic_s3", "pic_in")
BLOBS = ("arr", "arr_s3")
STORES = ("local", "shared")


def main():
    args = sys.argv[1:]
    if len(args) != 3 or args[0] != "--config":
        print(__doc__, file=sys.stderr)
        return 2
    config, schema = args[1], args[2]
    conn = client_view.setup_client(config)
    client = client_view.Client(conn, schema)
    doc = client.table("Doc")
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for key in doc.fetch("KEY", order_by="doc_id"):
            folder = os.path.join(tmp, str(key["doc_id"]))
            os.makedirs(folder)
            try:
                values = (doc & key).fetch1(download_path=folder)
            except Exception as e:  # noqa: BLE001
                rows[key["doc_id"]] = {"error": f"{type(e).__name__}: {e}"}
                continue
            out = {"title": values["title"], "notes": values["notes"]}
            for a in ATTACH:
                path = values[a]
                if path is None:
                    out[a] = None
                else:
                    with open(path, "rb") as f:
                        data = f.read()
                    out[a] = {"name": os.path.basename(path), "size": len(data),
                              "md5": hashlib.md5(data).hexdigest()}
            for b in BLOBS:
                v = values[b]
                out[b] = None if v is None else np.asarray(v, dtype=float).tolist()
            rows[key["doc_id"]] = out
    tracked = {s: [{"hash": o["hash"], "size": o["size"], "exists_in_store": o["exists_in_store"]}
                   for o in client_view.cmd_tracked(client, s)["objects"]] for s in STORES}
    unused = {s: client_view.cmd_unused(client, s)["not_exists"] for s in STORES}
    print(json.dumps({"rows": rows, "tracked": tracked, "unused": unused}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
