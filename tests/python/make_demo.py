#!/usr/bin/env python
"""Create the seed notebook's demo schema with the real DataJoint client (0.14.10).

    make_demo.py SCHEMA [--config-out FILE]

Drops SCHEMA if it exists, then declares and fills (see the attachments notebook):
  Test          Manual    id; b0 longblob, b1 blob@shared, b2 blob@local, a0 attach, a1 attach@shared, a2 attach@local
  WebImage      Lookup    image_number; image_name, image_description, image_url (the notebook's two rows)
  OriginalFile  Imported  -> WebImage; image_file attach@shared (a JPEG drawn locally with Pillow)
  Slide         Computed  -> OriginalFile; image_array blob@local (imageio decode of the attachment)
Stores: `shared` = s3 (DJFS_S3_*; bucket created if missing; location ''), `local` = file store at
DJFS_LOCAL_STORE. Database from DJ_HOST / DJ_USER / DJ_PASS. With --config-out, writes a DataJoint
config JSON (flat `database.*` keys, `stores`, optional `cache` from DJFS_CACHE_DIR) usable by the
client (dj.config.load) and by djfs.
"""

import argparse
import os
import sys
import tempfile

import datajoint as dj
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import djenv  # noqa: E402

schema = dj.Schema()  # activated in main() once the database is configured


@schema
class Test(dj.Manual):
    definition = """
    # Test blob and attachments
    id : int
    ---
    b0 : longblob       # a python object stored internally in the table
    b1 : blob@shared    # a python object stored on S3
    b2 : blob@local     # a python object store on the file system
    a0 : attach         # a file attachment stored internally in the table
    a1 : attach@shared  # a file attachment stored on s3
    a2 : attach@local   # a file attachment stored on the file system
    """


@schema
class WebImage(dj.Lookup):
    definition = """
    # A reference to a web image
    image_number : int
    ---
    image_name : varchar(30)
    image_description : varchar(1024)
    image_url : varchar(1024)

    unique index(image_name)
    """
    contents = [
        (
            0,
            "pyramidal",
            'Coronal section containing the chronically imaged pyramidal neuron "dow" '
            "(visualized by green GFP) does not stain for GABA (visualized by antibody staining in red). "
            "Confocal image stack, overlay of GFP and GABA channels. Scale bar: 100 um",
            "https://upload.wikimedia.org/wikipedia/commons/d/dc/PLoSBiol4.e126.Fig6fNeuron.jpg",
        ),
        (
            1,
            "striatal",
            "Mouse spiny striatal projection neuron expressing a transgenic fluorescent protein "
            "(colored yellow) delivered by a recombinant virus (AAV). "
            "The striatal interneuron are stainerd in green for the neurokinin-1 receptor.",
            "https://upload.wikimedia.org/wikipedia/commons/e/e8/Striatal_neuron_in_an_interneuron_cage.jpg",
        ),
    ]


def draw_picture(path, number, label, width=300, height=200):
    """A recognisable synthetic 'micrograph': colour gradients, a soma, dendrites, a scale bar."""
    from PIL import Image, ImageDraw

    y, x = np.mgrid[0:height, 0:width]
    rgb = np.zeros((height, width, 3), dtype=np.uint8)
    if number % 2 == 0:  # green neuron on a dark red/blue background
        rgb[..., 0] = (60 * x / width).astype(np.uint8)
        rgb[..., 2] = (80 * y / height).astype(np.uint8)
        fg = (40, 230, 60)
    else:  # yellow neuron on a dark green background
        rgb[..., 1] = (30 + 70 * (x + y) / (width + height)).astype(np.uint8)
        fg = (240, 220, 40)
    img = Image.fromarray(rgb, "RGB")
    d = ImageDraw.Draw(img)
    cx, cy = width // 2 + 20 * number, height // 2
    for k, (dx, dy) in enumerate([(-120, -80), (110, -70), (-90, 90), (100, 85), (0, -95)]):
        d.line([(cx, cy), (cx + dx, cy + dy)], fill=fg, width=4 - k % 2)
    d.ellipse([cx - 22, cy - 16, cx + 22, cy + 16], fill=fg, outline=(255, 255, 255))
    d.rectangle([width - 70, height - 15, width - 20, height - 11], fill=(255, 255, 255))
    d.text((8, 6), f"{number}: {label}", fill=(255, 255, 255))
    img.save(path, "JPEG", quality=90)


@schema
class OriginalFile(dj.Imported):
    definition = """
    -> WebImage
    ---
    image_file : attach@shared
    """

    def make(self, key):
        url, name = (WebImage & key).fetch1("image_url", "image_name")
        # Nothing is downloaded: a picture is drawn locally, named after the URL's last component.
        with tempfile.TemporaryDirectory() as tmp:
            local_file = os.path.join(tmp, url.split("/")[-1])
            draw_picture(local_file, key["image_number"], name)
            self.insert1(dict(key, image_file=local_file))


@schema
class Slide(dj.Computed):
    definition = """
    -> OriginalFile
    ---
    image_array : blob@local  # array in specified store
    """

    def make(self, key):
        import imageio.v3 as iio

        with tempfile.TemporaryDirectory() as tmp:
            file = (OriginalFile & key).fetch1("image_file", download_path=tmp)
            image = iio.imread(file)
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3, image.shape
        self.insert1(dict(key, image_array=image))


def insert_test_rows(tmp):
    rng = np.random.default_rng(20190712)

    def save_npy(name, array):
        path = os.path.join(tmp, name)
        np.save(path, array)
        return path

    def write_file(name, data):
        path = os.path.join(tmp, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    # The notebook's row: three random arrays, each also saved as outfileN.npy and attached.
    q0, q1, q2 = rng.standard_normal((3, 4)), rng.standard_normal(7), rng.standard_normal((2, 3, 4))
    f0, f1, f2 = save_npy("outfile0.npy", q0), save_npy("outfile1.npy", q1), save_npy("outfile2.npy", q2)
    Test.insert1(dict(id=1, b0=q0, b1=q1, b2=q2, a0=f0, a1=f1, a2=f2))

    # Other kinds of values: an int array, a non-array object in S3, a compressible array on disk,
    # and attachments with other names (text, several dots, spaces and unicode).
    sub = os.path.join(tmp, "row2")
    os.makedirs(sub)
    Test.insert1(
        dict(
            id=2,
            b0=np.arange(12, dtype=np.int16).reshape(3, 4),
            b1={"name": "demo", "values": [1, 2, 3]},
            b2=np.zeros((40, 50)),
            a0=write_file("row2/notes.txt", b"hello world\n"),
            a1=write_file("row2/data.tar.gz", rng.bytes(5000)),
            a2=write_file("row2/image é 1.bin", bytes(range(256)) * 4),
        )
    )

    # The same external values as row 1 (shared tracking rows / objects), an empty internal file.
    Test.insert1(
        dict(id=3, b0=np.array([True, False, True]), b1=q1, b2=q2,
             a0=write_file("row2/empty.dat", b""), a1=f1, a2=f2)
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("schema")
    ap.add_argument("--config-out", metavar="FILE", help="write a DataJoint config JSON here")
    args = ap.parse_args()

    stores = djenv.configure(with_stores=True)
    djenv.ensure_stores(stores)
    dj.conn(reset=True)
    djenv.fresh_schema(args.schema)  # drop if it exists
    schema.activate(args.schema)

    with tempfile.TemporaryDirectory() as tmp:
        insert_test_rows(tmp)
    OriginalFile.populate()
    Slide.populate()

    if args.config_out:
        djenv.write_config(args.config_out, stores)

    print(f"schema `{args.schema}` created with datajoint {dj.__version__}")
    for table in (Test, WebImage, OriginalFile, Slide):
        print(f"  {table.__name__:13s} {table.table_name:17s} {len(table()):2d} rows")
    for name in (djenv.STORE_S3, djenv.STORE_FILE):
        ext = schema.external[name]
        print(f"  store {name:7s} {stores[name]['protocol']:4s} {len(ext):2d} tracked objects")
    shape = (Slide & "image_number=0").fetch1("image_array").shape
    print(f"  Slide image_array shape {shape}")
    if args.config_out:
        print(f"  config written to {args.config_out}")


if __name__ == "__main__":
    main()
