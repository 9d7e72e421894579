"""djfs benchmark: each workload timed through a djfs mount and against its baselines (a plain
folder or raw store read = the physical limit, and the DataJoint client = what users do today),
in the same run, alternating, cold (page cache dropped, djfs remounted) and warm.

Run through `scripts/bench` (it installs, starts the services and builds djfs in release mode).
The data is made once with the real client and kept between runs (schema `djfs_bench`, stores
under $DJFS_BENCH_DIR, default ~/.cache/djfs-dev/bench); `--fresh` rebuilds it.
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "python"))

import datajoint as dj  # noqa: E402
import numpy as np  # noqa: E402

import djenv  # noqa: E402

SCHEMA = "djfs_bench"
BENCH_DIR = os.environ.get("DJFS_BENCH_DIR") or os.path.expanduser("~/.cache/djfs-dev/bench")
DJFS = os.environ.get("DJFS_BIN", "djfs")


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=True, check=True, stdout=subprocess.DEVNULL, **kw)


def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def timed(fn, reps, cold=None):
    """Median seconds of `reps` runs; `cold` runs before each (cache drop / remount)."""
    times = []
    for _ in range(reps):
        if cold:
            cold()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


# ---------------------------------------------------------------------------------- the data

def define(schema):
    @schema
    class Item(dj.Manual):
        definition = """
        item_id : int
        ---
        label : varchar(32)
        value : double
        count : int
        small : longblob
        doc : attach@local
        """

    @schema
    class Big(dj.Manual):
        definition = """
        big_id : int
        ---
        local_file : attach@local
        shared_file : attach@shared
        arr : blob@local
        """

    @schema
    class InTable(dj.Manual):
        # Its own table: listing a row makes MariaDB read a big in-table value whole (for its
        # length), which would otherwise weigh on every lookup of the Big row.
        definition = """
        in_table_id : int
        ---
        table_arr : longblob
        """

    @schema
    class Upload(dj.Manual):
        definition = """
        upload_id : int
        ---
        f : attach@shared
        """

    @schema
    class Many(dj.Manual):
        definition = """
        many_id : int
        ---
        f : attach@local
        """

    @schema
    class Huge(dj.Manual):
        definition = """
        huge_id : int
        ---
        arr : blob@local
        """

    return Item, Big, Many, Upload, Huge, InTable


def make_huge(Huge, gib):
    """W6's compressed external blob of `gib` GiB (a smooth float64 signal: zlib shrinks it)."""
    if len(Huge & {"huge_id": gib}):
        return
    print(f"making the {gib} GiB compressed blob with the client", flush=True)
    n = (gib << 30) // 8
    arr = np.tile(np.sin(np.linspace(0, 2 * np.pi, 4096)), n // 4096)
    Huge.insert1(dict(huge_id=gib, arr=arr))


def make_data(args, stores):
    marker = os.path.join(BENCH_DIR, "made.json")
    params = dict(rows=args.rows, big_mib=args.big_mib, many=args.many, layout=2)
    schema_exists = dj.conn().query(
        "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME=%s", args=(SCHEMA,)
    ).fetchone()[0]
    if not args.fresh and schema_exists and os.path.exists(marker) and json.load(open(marker)) == params:
        schema = dj.Schema(SCHEMA, create_schema=False)
        return define(schema)
    print(f"making the data with the client: {params}", flush=True)
    schema = djenv.fresh_schema(SCHEMA)
    Item, Big, Many, Upload, Huge, InTable = define(schema)
    work = tempfile.mkdtemp(dir=BENCH_DIR)
    rng = np.random.default_rng(0)
    rows = []
    for i in range(args.rows):
        path = os.path.join(work, f"doc_{i}.txt")
        with open(path, "wb") as f:
            f.write(rng.bytes(256))
        rows.append(dict(item_id=i, label=f"item {i}", value=i * 0.5, count=i, small=np.arange(10, dtype=np.int32) + i,
                         doc=path))
        if len(rows) == 1000:
            Item.insert(rows)
            rows = []
    if rows:
        Item.insert(rows)
    mib = args.big_mib << 20
    big_file = os.path.join(work, "big.bin")
    with open(big_file, "wb") as f:
        for _ in range(args.big_mib):
            f.write(rng.bytes(1 << 20))
    arr = rng.standard_normal(mib // 8)  # incompressible float64, stored uncompressed
    table_arr = rng.standard_normal(min(mib, 64 << 20) // 8)
    Big.insert1(dict(big_id=1, local_file=big_file, shared_file=big_file, arr=arr))
    InTable.insert1(dict(in_table_id=1, table_arr=table_arr))
    rows = []
    for i in range(args.many):
        path = os.path.join(work, f"many_{i}.bin")
        with open(path, "wb") as f:
            f.write(rng.bytes(100 * 1024))
        rows.append(dict(many_id=i, f=path))
    Many.insert(rows)
    shutil.rmtree(work)
    json.dump(params, open(marker, "w"))
    return Item, Big, Many, Upload, Huge, InTable


# ---------------------------------------------------------------------------------- the mount

class Mount:
    def __init__(self, config, extra=()):
        self.config, self.extra = config, list(extra)
        self.path = os.path.join(BENCH_DIR, "mnt")
        os.makedirs(self.path, exist_ok=True)
        self.log = os.path.join(BENCH_DIR, "djfs.log")
        self.pid = None

    def up(self):
        self.down()
        subprocess.run([DJFS, "mount", "--config", self.config, "--log-file", self.log, *self.extra, SCHEMA,
                        self.path], check=True)
        self.pid = None
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                args = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
            except OSError:
                continue
            if b"--foreground" in args and self.path.encode() in args:
                self.pid = int(pid)

    def down(self):
        if os.path.ismount(self.path):
            subprocess.run(["fusermount3", "-u", self.path], check=False)
            for _ in range(100):
                if not os.path.ismount(self.path):
                    break
                time.sleep(0.05)

    def cold(self):
        self.down()
        drop_caches()
        self.up()

    def peak_rss_mib(self):
        if not self.pid:
            return float("nan")
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def fetched_bytes(self):
        """Bytes the daemon read from stores, from its debug log (ranged reads)."""
        total = 0
        with open(self.log, errors="replace") as f:
            for line in f:
                m = re.search(r"range=(\d+)\.\.(\d+)", line)
                if m and "ranged read" in line:
                    total += int(m.group(2)) - int(m.group(1))
        return total


# ---------------------------------------------------------------------------------- workloads

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10000, help="rows of the listing table (W1, W2)")
    ap.add_argument("--big-mib", type=int, default=256, help="size of the big attachment/blob (W3, W4)")
    ap.add_argument("--many", type=int, default=2000, help="100 KiB attachments for W8")
    ap.add_argument("--stat-gib", type=int, default=1, help="size of W6's compressed external blob")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--fresh", action="store_true", help="make the data again")
    ap.add_argument("--only", help="comma-separated workloads, e.g. W1,W3")
    args = ap.parse_args()
    os.makedirs(BENCH_DIR, exist_ok=True)
    os.environ.setdefault("DJFS_LOCAL_STORE", os.path.join(BENCH_DIR, "local-store"))
    _, stores = djenv.connect(with_stores=True)
    djenv.ensure_stores(stores)
    config = os.path.join(BENCH_DIR, "dj_local_conf.json")
    djenv.write_config(config, stores)
    os.chmod(config, 0o600)  # it holds the password
    Item, Big, Many, Upload, Huge, InTable = make_data(args, stores)
    only = set(args.only.split(",")) if args.only else None
    if only is None or "W6" in only:
        make_huge(Huge, args.stat_gib)
    only = set(args.only.split(",")) if args.only else None
    want = lambda w: only is None or w in only  # noqa: E731
    results = []

    def report(workload, djfs_s, baseline, base_s, target=None, note=""):
        ratio = djfs_s / base_s if base_s else float("nan")
        results.append((workload, djfs_s, baseline, base_s, ratio, target, note))
        print(f"{workload:<34} djfs {djfs_s:8.3f}s  {baseline:<34} {base_s:8.3f}s  djfs/baseline {ratio:6.2f}"
              f"{'  target ' + target if target else ''} {note}", flush=True)

    mount = Mount(config, ["--log-level", "debug"])
    mount.up()
    table = os.path.join(mount.path, "Item")

    # A plain folder with the same names and sizes as the table (the limit for W1/W2).
    plain = os.path.join(BENCH_DIR, f"plain-{args.rows}")
    if not os.path.isdir(plain):
        print("copying the table into a plain folder (once)", flush=True)
        sh(f"cp -r {table!r} {plain!r}.tmp && mv {plain!r}.tmp {plain!r}")

    if want("W1"):
        d = timed(lambda: sh(f"ls -l {table!r}"), args.reps, cold=mount.cold)
        p = timed(lambda: sh(f"ls -l {plain!r}"), args.reps, cold=drop_caches)
        report("W1 ls -l table (cold)", d, "ls -l plain folder", p, "<= 2")
        c = timed(lambda: Item.fetch("KEY"), args.reps)
        report("W1 ls -l table (cold)", d, "client fetch('KEY')", c)
    if want("W2"):
        d = timed(lambda: sh(f"find {table!r} -type f -printf '%s\\n'"), args.reps, cold=mount.cold)
        p = timed(lambda: sh(f"find {plain!r} -type f -printf '%s\\n'"), args.reps, cold=drop_caches)
        report("W2 find -printf %s table (cold)", d, "find plain folder", p, "<= 3")
        c = timed(lambda: Item.proj("label", "value", "count").fetch(), args.reps)
        report("W2 find -printf %s table (cold)", d, "client fetch non-blob attrs", c)

    big_key = "big_id=1"
    local_obj = None
    if want("W3") or want("W5"):
        local_file = os.path.join(mount.path, "Big", big_key, "local_file", "big.bin")
        shared_file = os.path.join(mount.path, "Big", big_key, "shared_file", "big.bin")
        info = (Big & "big_id=1").fetch1("local_file", download_path=tempfile.mkdtemp(dir=BENCH_DIR))
        os.remove(info)
        paths = dict(Big().external["local"].fetch_external_paths())
        local_obj = [str(p) for p in paths.values() if str(p).endswith(".big.bin")][0]
        shared_key = [str(p) for p in dict(Big().external["shared"].fetch_external_paths()).values()
                      if str(p).endswith(".big.bin")][0]
        s3data = os.environ["DJFS_S3_DATA"]
        s3_file = os.path.join(s3data, stores["shared"]["bucket"], shared_key)
        mib = args.big_mib
        d = timed(lambda: sh(f"cat {local_file!r} > /dev/null"), args.reps, cold=mount.cold)
        p = timed(lambda: sh(f"cat {local_obj!r} > /dev/null"), args.reps, cold=drop_caches)
        report(f"W3 cat {mib} MiB attach@local (cold)", d, "cat of the store file", p, "<= 1.11")
        dl = tempfile.mkdtemp(dir=BENCH_DIR)

        def client_fetch(attr):
            f = (Big & "big_id=1").fetch1(attr, download_path=dl)
            os.remove(f)

        c = timed(lambda: client_fetch("local_file"), args.reps, cold=drop_caches)
        report(f"W3 cat {mib} MiB attach@local (cold)", d, "client fetch1", c, "<= 0.67")
        d = timed(lambda: sh(f"cat {shared_file!r} > /dev/null"), args.reps, cold=mount.cold)
        ep = stores["shared"]
        url = f"http://{ep['endpoint']}/{ep['bucket']}/{shared_key}"
        curl = (f"curl -s --fail --aws-sigv4 'aws:amz:us-east-1:s3' --user "
                f"'{ep['access_key']}:{ep['secret_key']}' -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD'")
        g = timed(lambda: sh(f"{curl} {url!r} > /dev/null"), args.reps, cold=drop_caches)
        report(f"W3 cat {mib} MiB attach@shared (cold)", d, "one raw S3 GET (curl)", g, "<= 1")
        size = os.path.getsize(s3_file)
        q = size // 4
        ranges = " & ".join(
            f"{curl} -r {i * q}-{(size - 1) if i == 3 else (i + 1) * q - 1} {url!r} > /dev/null" for i in range(4))
        r4 = timed(lambda: sh(f"{ranges}; wait"), args.reps, cold=drop_caches)
        report(f"W3 cat {mib} MiB attach@shared (cold)", d, "4 parallel ranged GETs", r4, "<= 1.25")
        c = timed(lambda: client_fetch("shared_file"), args.reps, cold=drop_caches)
        report(f"W3 cat {mib} MiB attach@shared (cold)", d, "client fetch1", c, "<= 0.67")
        # W5: warm re-read.
        sh(f"cat {local_file!r} > /dev/null")
        d = timed(lambda: sh(f"cat {local_file!r} > /dev/null"), args.reps)
        sh(f"cat {local_obj!r} > /dev/null")
        p = timed(lambda: sh(f"cat {local_obj!r} > /dev/null"), args.reps)
        report(f"W5 re-read {mib} MiB attach (warm)", d, "cat from the page cache", p, "<= 1.5")

    if want("W4"):
        npy = os.path.join(mount.path, "Big", big_key, "arr.npy")
        tnpy = os.path.join(mount.path, "InTable", "in_table_id=1", "table_arr.npy")
        d = timed(lambda: np.load(npy), args.reps, cold=mount.cold)
        rss = mount.peak_rss_mib()
        c = timed(lambda: (Big & "big_id=1").fetch1("arr"), args.reps, cold=drop_caches)
        report(f"W4 np.load {args.big_mib} MiB blob@local (cold)", d, "client fetch1", c, "<= 0.33",
               f"(djfs peak RSS {rss:.0f} MiB)")
        d = timed(lambda: np.load(tnpy), args.reps, cold=mount.cold)
        rss = mount.peak_rss_mib()
        c = timed(lambda: (InTable & "in_table_id=1").fetch1("table_arr"), args.reps, cold=drop_caches)
        report("W4 np.load in-table blob (cold)", d, "client fetch1", c, "<= 0.33",
               f"(djfs peak RSS {rss:.0f} MiB)")
        # W5 for W4: np.load again without dropping caches, against np.load of the same .npy
        # bytes kept in a plain file in the page cache.
        plain_npy = os.path.join(BENCH_DIR, "plain-arr.npy")
        if not os.path.exists(plain_npy) or os.path.getsize(plain_npy) != os.path.getsize(npy):
            shutil.copyfile(npy, plain_npy)
        np.load(npy)
        np.load(plain_npy)
        d = timed(lambda: np.load(npy), args.reps)
        p = timed(lambda: np.load(plain_npy), args.reps)
        report(f"W5 np.load {args.big_mib} MiB blob again (warm)", d, "np.load of a page-cached file", p, "<= 1.5")

    if want("W6"):
        mount.cold()
        before = mount.fetched_bytes()
        npy = os.path.join(mount.path, "Huge", f"huge_id={args.stat_gib}", "arr.npy")
        d = timed(lambda: os.stat(npy), 1)
        fetched = mount.fetched_bytes() - before
        stored = dj.conn().query(
            f"SELECT e.size FROM `{SCHEMA}`.`~external_local` e JOIN `{SCHEMA}`.`huge` h ON e.hash = h.arr "
            "WHERE h.huge_id = %s", args=(args.stat_gib,)).fetchone()[0]
        report(f"W6 stat of a {args.stat_gib} GiB compressed .npy (cold)", d, "bytes fetched (limit 65536)",
               fetched / 1e6, "fetched < 64 KiB", f"({fetched} bytes of {os.path.getsize(npy)} shown, "
               f"{stored} stored)")

    if want("W8"):
        many = os.path.join(mount.path, "Many")
        d = timed(lambda: sh(f"cat {many!r}/*/f/* > /dev/null"), args.reps, cold=mount.cold)
        dl = tempfile.mkdtemp(dir=BENCH_DIR)

        def client_many():
            for f in Many.fetch("f", download_path=dl):
                os.remove(f)

        c = timed(client_many, args.reps, cold=drop_caches)
        report(f"W8 cat {args.many} x 100 KiB attachments (cold)", d, "client fetch", c, "<= 0.5")
        # The limit: the same objects read straight from the folder store.
        objects = [str(p) for p in dict(Many().external["local"].fetch_external_paths()).values()
                   if os.path.basename(str(p)).split(".", 1)[-1].startswith("many_")]
        listing = os.path.join(BENCH_DIR, "many-objects.txt")
        with open(listing, "w") as f:
            f.write("\0".join(objects))
        r = timed(lambda: sh(f"xargs -0 cat < {listing!r} > /dev/null"), args.reps, cold=drop_caches)
        report(f"W8 cat {args.many} x 100 KiB attachments (cold)", d, f"cat of the {len(objects)} store files", r)

    if want("W7"):
        # A source file of --big-mib random bytes; every run uploads under a new name (the hash
        # includes the name), so nothing is skipped as already stored.
        src = os.path.join(BENCH_DIR, f"upload-{args.big_mib}.bin")
        if not os.path.exists(src):
            with open(src, "wb") as f:
                for _ in range(args.big_mib):
                    f.write(os.urandom(1 << 20))

        def djfs_upload():
            # A new Upload row: its folder, the attachment folder, then the copy (the row is
            # inserted when the copy closes).
            row = os.path.join(mount.path, "Upload", f"upload_id={time.time_ns() % (1 << 31)}")
            os.mkdir(row)
            os.makedirs(os.path.join(row, "f"), exist_ok=True)
            sh(f"cp {src!r} {os.path.join(row, 'f', f'w7-djfs-{time.time_ns()}.bin')!r}")

        mount.cold()
        d = timed(djfs_upload, args.reps)
        rss = mount.peak_rss_mib()
        links = tempfile.mkdtemp(dir=BENCH_DIR)

        def client_upload():
            name = os.path.join(links, f"w7-client-{time.time_ns()}.bin")
            os.link(src, name)
            Upload.insert1(dict(upload_id=time.time_ns() % (1 << 31), f=name))

        c = timed(client_upload, args.reps)
        report(f"W7 cp {args.big_mib} MiB into attach@shared", d, "client insert1", c, "<= 1",
               f"(djfs peak RSS {rss:.0f} MiB)")

    mount.down()
    print()
    print(f"| workload | djfs s | baseline | baseline s | djfs/baseline | target |")
    print("|---|---|---|---|---|---|")
    for w, d, b, bs, r, t, note in results:
        print(f"| {w} {note} | {d:.3f} | {b} | {bs:.3f} | {r:.2f} | {t or ''} |")


if __name__ == "__main__":
    main()
