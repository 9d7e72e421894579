#!/usr/bin/env python3
"""Seed the fuzz corpora from the client test vectors (plain python3, no deps).

    python3 fuzz/make_seeds.py

Writes fuzz/corpus/decode/<sha1> (every fixture blob) and fuzz/corpus/npy/<sha1>
(every fixture .npy input).
"""
import hashlib
import json
import os

here = os.path.dirname(os.path.abspath(__file__))
cases = json.load(open(os.path.join(here, "..", "tests", "fixtures", "blob_vectors.json")))["cases"]
for target, key in (("decode", "blob"), ("npy", "npy_in")):
    d = os.path.join(here, "corpus", target)
    os.makedirs(d, exist_ok=True)
    n = 0
    for c in cases:
        if key in c:
            b = bytes.fromhex(c[key])
            with open(os.path.join(d, hashlib.sha1(b).hexdigest()), "wb") as f:
                f.write(b)
            n += 1
    print(f"{target}: {n} seeds")
