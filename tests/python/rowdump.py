"""A row's values in one comparable form, for both real clients (0.14.10 and 2.3.5): imported by
v2_writes.py (2.x) and cross_014.py (0.14). No datajoint import here.

    normalize(value) -> JSON-able value
      numpy arrays      {"array": dtype name, "shape": [...], "sha256": of the C-order bytes}
      numpy scalars     the Python number
      dict / list       the same shape, each item normalized (dict keys as str)
      bytes             {"bytes_sha256": ..., "size": n}
      float NaN/inf     "nan" / "inf" / "-inf"
      other             str(value) for dates, decimals, uuids; as is for str, int, bool, None
    attachment(path)    {"name": file name, "sha256": of the contents, "size": n}
"""

import datetime
import decimal
import hashlib
import math
import os
import uuid

import numpy as np


def normalize(value):
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            return {"object_array": [normalize(v) for v in value.ravel(order="C")], "shape": list(value.shape)}
        data = np.ascontiguousarray(value).tobytes()
        return {"array": str(value.dtype), "shape": list(value.shape), "sha256": hashlib.sha256(data).hexdigest()}
    if isinstance(value, np.generic):
        return normalize(value.item())
    if isinstance(value, dict):
        return {str(k): normalize(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [normalize(v) for v in value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        return {"bytes_sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    if isinstance(value, (datetime.date, datetime.datetime, datetime.time, decimal.Decimal, uuid.UUID)):
        return str(value)
    return value


def attachment(path):
    with open(path, "rb") as f:
        data = f.read()
    return {"name": os.path.basename(path), "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
