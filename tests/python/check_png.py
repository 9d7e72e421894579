#!/usr/bin/env python
"""The `.png` views of image arrays, checked against the real client (datajoint 0.14.10).

    check_png.py make   CONFIG SCHEMA        add table `Picture` (arrays that are images and
                                             arrays that are not) to SCHEMA (the seed's demo)
    check_png.py update CONFIG SCHEMA ID     replace Picture ID's arrays with another image
    check_png.py verify CONFIG MOUNT SCHEMA  check every blob attribute of every row of SCHEMA

`verify` expects `<attr>.png` next to `<attr>.npy` exactly for the arrays the rules of doc/SEMANTICS.md name
(2-D uint8 / uint16 / float32 / float64, H x W x 3 / 4 uint8, both sides >= 1, at most 256 MiB)
and nothing else; opens each with Pillow and compares mode, size and every pixel with the value
`fetch1` gives (uint8/uint16/RGB/RGBA as stored, floats min-max scaled as doc/SEMANTICS.md says);
checks that ImageMagick's `identify` (/usr/bin/identify) reads each PNG and each `OriginalFile`
attachment; and that `Slide`'s PNG shows the very pixels of the `OriginalFile` picture it was made
from. Prints one line per failure, then `N passed, M failed, P png` (exit 1 on any failure).
"""

import argparse
import io
import os
import subprocess
import sys

import datajoint as dj
import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import djenv  # noqa: E402

IDENTIFY = "/usr/bin/identify"  # ImageMagick (/usr/local/bin/convert may be something else)
MAX_IMAGE_BYTES = 256 << 20


def connect(config):
    djenv.configure()
    dj.config.load(config)
    dj.config["database.use_tls"] = dj.config.get("database.use_tls") or False
    dj.config["cache"] = None
    dj.conn(reset=True)


# ------------------------------------------------------------------------------ the rules


def scale_floats(a):
    """Min-max scaling to 8-bit grey, as doc/SEMANTICS.md documents it."""
    v = np.asarray(a, dtype=np.float64)
    out = np.zeros(v.shape, dtype=np.uint8)
    finite = np.isfinite(v)
    if finite.any():
        lo, hi = v[finite].min(), v[finite].max()
        if hi > lo:
            span = hi - lo
            if np.isfinite(span):
                t = (v[finite] - lo) / span
            else:
                t = (v[finite] / 2 - lo / 2) / (hi / 2 - lo / 2)
            out[finite] = np.clip(np.floor(t * 255 + 0.5), 0, 255).astype(np.uint8)
    out[v == np.inf] = 255
    return out


def expected_image(value):
    """(Pillow mode, pixels as numpy indexes them) of the PNG view, or None: no `.png`."""
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "uif":
        return None
    if value.ndim not in (2, 3) or value.shape[0] < 1 or value.shape[1] < 1:
        return None
    if value.nbytes > MAX_IMAGE_BYTES:
        return None
    if value.ndim == 3:
        if value.dtype == np.uint8 and value.shape[2] == 3:
            return "RGB", value
        if value.dtype == np.uint8 and value.shape[2] == 4:
            return "RGBA", value
        return None
    if value.dtype == np.uint8:
        return "L", value
    if value.dtype == np.uint16:
        return "I;16", value
    if value.dtype in (np.float32, np.float64):
        return "L", scale_floats(value)
    return None


# ------------------------------------------------------------------------------ make / update

schema = dj.Schema()


@schema
class Picture(dj.Manual):
    definition = """
    # arrays that are images and arrays that are not
    picture_id : int
    ---
    description : varchar(100)
    image : longblob              # in the table
    image_s3 = null : blob@shared  # the same value on S3
    image_local = null : blob@local  # the same value in the folder store
    """


def pictures():
    rng = np.random.default_rng(7)
    grey = rng.integers(0, 256, (5, 7), dtype=np.uint8)
    floats = rng.standard_normal((6, 4))
    floats[0, 1], floats[2, 3], floats[5, 0] = np.nan, np.inf, -np.inf
    fortran = np.asfortranarray(rng.integers(0, 256, (8, 5), dtype=np.uint8))
    assert fortran.flags.f_contiguous and not fortran.flags.c_contiguous
    rgb_f = np.asfortranarray(rng.integers(0, 256, (2, 9, 3), dtype=np.uint8))
    transposed = rng.integers(0, 256, (3, 6), dtype=np.uint8).T  # a non-contiguous view
    y, x = np.mgrid[0:200, 0:300]
    return [
        (1, "grey uint8 5x7", grey),
        (2, "grey uint16 4x6", rng.integers(0, 65536, (4, 6), dtype=np.uint16)),
        (3, "RGBA uint8 3x5", rng.integers(0, 256, (3, 5, 4), dtype=np.uint8)),
        (4, "float64 6x4 with nan and infinities", floats),
        (5, "float32 constant 3x3", np.full((3, 3), 2.5, dtype=np.float32)),
        (6, "Fortran-ordered uint8 8x5", fortran),
        (7, "Fortran-ordered RGB 2x9", rgb_f),
        (8, "transposed view uint8 6x3", transposed),
        (9, "one pixel wide uint8 10x1", rng.integers(0, 256, (10, 1), dtype=np.uint8)),
        (10, "one pixel float64", np.array([[3.0]])),
        (11, "float32 ramp", np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)),
        (12, "compressible uint8 200x300", ((x + y) % 256).astype(np.uint8)),
        (20, "3-D float", rng.standard_normal((2, 3, 4))),
        (21, "1-D uint8", np.arange(12, dtype=np.uint8)),
        (22, "string", "hello"),
        (23, "int16 2-D", np.arange(12, dtype=np.int16).reshape(3, 4)),
        (24, "two channels", np.zeros((3, 4, 2), dtype=np.uint8)),
        (25, "complex 2-D", np.ones((2, 2), dtype=np.complex128)),
        (26, "bool 2-D", np.eye(3, dtype=bool)),
        (27, "0-d float", np.float64(1.5)),
        (28, "empty uint8 0x5", np.zeros((0, 5), dtype=np.uint8)),
        (29, "RGB float", rng.random((2, 2, 3))),
        (30, "dict", {"a": np.eye(2, dtype=np.uint8)}),
    ]


def make(args):
    connect(args.config)
    schema.activate(args.schema)
    Picture.insert(
        dict(picture_id=i, description=d, image=v, image_s3=v, image_local=v) for i, d, v in pictures()
    )
    print(f"Picture: {len(Picture())} rows")


def update(args):
    connect(args.config)
    schema.activate(args.schema)
    new = np.arange(6 * 8, dtype=np.uint8).reshape(6, 8) * 5
    Picture.update1(dict(picture_id=int(args.id), image=new, image_s3=new, image_local=new))
    print(f"Picture {args.id}: updated")


# ------------------------------------------------------------------------------ verify


class Checker:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.pngs = 0

    def ok(self, cond, where, what):
        if cond:
            self.passed += 1
        else:
            self.failed += 1
            print(f"FAIL {where}: {what}")
        return cond

    def identify(self, path, where, want):
        """ImageMagick reads the file: `format width height depth` as expected."""
        out = subprocess.run([IDENTIFY, "-format", "%m %w %h %z", path], capture_output=True, text=True)
        return self.ok(out.returncode == 0 and out.stdout.strip() == want, where,
                       f"identify says {out.stdout.strip()!r} {out.stderr.strip()!r}, want {want!r}")

    def png(self, path, where, expected):
        self.pngs += 1
        mode, pixels = expected
        size = os.stat(path).st_size
        with open(path, "rb") as f:
            data = f.read()
        self.ok(size == len(data), where, f"st_size {size} == bytes read {len(data)}")
        with open(path, "rb") as f:
            self.ok(f.read() == data, where, "reads the same bytes again")
        im = Image.open(io.BytesIO(data))
        im.load()
        self.ok(im.format == "PNG", where, f"format {im.format}")
        h, w = pixels.shape[:2]
        self.ok(im.size == (w, h), where, f"size {im.size} == (width {w}, height {h})")
        self.ok(im.mode == mode, where, f"mode {im.mode} == {mode}")
        got = np.asarray(im)
        same = got.shape == pixels.shape and np.array_equal(got.astype(np.int64), pixels.astype(np.int64))
        self.ok(same, where, f"pixels equal the array (got {got.shape} {got.dtype}, "
                f"want {pixels.shape} {pixels.dtype})\n got {got.tolist()[:3]}\n want {pixels.tolist()[:3]}")
        depth = 16 if mode == "I;16" else 8
        self.identify(path, where, f"PNG {w} {h} {depth}")
        return got


def verify(args):
    connect(args.config)
    module = dj.VirtualModule("m", args.schema)
    checker = Checker()
    slides = {}
    for name in dir(module):
        table = getattr(module, name)
        if not (isinstance(table, type) and issubclass(table, dj.Table)) or name == "schema":
            continue
        heading = table.heading
        blobs = [a for a, attr in heading.attributes.items() if attr.is_blob]
        attachments = [a for a, attr in heading.attributes.items() if attr.is_attachment]
        for key in table.fetch("KEY", order_by=heading.primary_key):
            folder = ",".join(f"{k}={int(v)}" for k, v in key.items())
            row_dir = os.path.join(args.mount, name, folder)
            entries = set(os.listdir(row_dir))
            for a in blobs:
                where = f"{name}/{folder}/{a}.png"
                value = (table & key).fetch1(a)
                if value is None:
                    checker.ok(f"{a}.png" not in entries, where, "listed for a NULL")
                    continue
                expected = expected_image(value)
                listed = f"{a}.png" in entries
                checker.ok(listed == (expected is not None), where,
                           f"listed {listed}, expected {expected is not None} for "
                           f"{type(value).__name__} {getattr(value, 'dtype', '')} {getattr(value, 'shape', '')}")
                if expected is not None and listed:
                    checker.ok(f"{a}.npy" in entries, where, "an .npy beside it")
                    got = checker.png(os.path.join(row_dir, f"{a}.png"), where, expected)
                    if name == "Slide":
                        slides[key["image_number"]] = got
            for a in attachments:
                att_dir = os.path.join(row_dir, a)
                for f in sorted(os.listdir(att_dir)) if os.path.isdir(att_dir) else []:
                    path = os.path.join(att_dir, f)
                    if f.lower().endswith(".jpg"):
                        with Image.open(path) as im:
                            w, h = im.size
                        checker.identify(path, f"{name}/{folder}/{a}/{f}", f"JPEG {w} {h} 8")
                        if name == "OriginalFile":
                            with Image.open(path) as im:
                                slides.setdefault(("jpg", key["image_number"]), np.asarray(im.convert("RGB")))
    # The seed's Slide arrays are the OriginalFile pictures, decoded: the PNG shows that picture.
    numbers = sorted(k for k in slides if not isinstance(k, tuple))
    checker.ok(len(numbers) >= 2, "Slide", f"PNGs of Slide rows checked: {numbers}")
    for n in numbers:
        jpg = slides.get(("jpg", n))
        checker.ok(jpg is not None and np.array_equal(slides[n], jpg), f"Slide/image_number={n}/image_array.png",
                   "pixels equal the OriginalFile picture as Pillow decodes it")
    print(f"{checker.passed} passed, {checker.failed} failed, {checker.pngs} png")
    sys.exit(1 if checker.failed else 0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("make")
    p.add_argument("config")
    p.add_argument("schema")
    p.set_defaults(run=make)
    p = sub.add_parser("update")
    p.add_argument("config")
    p.add_argument("schema")
    p.add_argument("id")
    p.set_defaults(run=update)
    p = sub.add_parser("verify")
    p.add_argument("config")
    p.add_argument("mount")
    p.add_argument("schema")
    p.set_defaults(run=verify)
    args = ap.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
