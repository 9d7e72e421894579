"""djfs benchmark: each workload timed through a djfs mount and against its baselines (a plain
folder or raw store read = the physical limit, and the DataJoint client = what users do today),
in the same run, alternating, cold (page cache dropped, djfs remounted) and warm.

Run through `scripts/bench` (it installs, starts the services and builds djfs in release mode).
The data is made once with the real client and kept between runs (schema `djfs_bench`, stores
under $DJFS_BENCH_DIR, default ~/.cache/djfs-dev/bench); `--fresh` rebuilds it.
"""

import argparse
import atexit
import datetime
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "python"))

import datajoint as dj  # noqa: E402
import numpy as np  # noqa: E402

import djenv  # noqa: E402

SCHEMA = "djfs_bench"
SCALE_SCHEMA = "djfs_bench_scale"
# Workloads on PostgreSQL schemas of their own: run without the MariaDB data when alone.
PG_ONLY = {"W3pg", "W7pg"}  # W9's big table (and W10's, when Item is too small)
BENCH_DIR = os.environ.get("DJFS_BENCH_DIR") or os.path.expanduser("~/.cache/djfs-dev/bench")
DJFS = os.environ.get("DJFS_BIN", "djfs")


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=True, check=True, stdout=subprocess.DEVNULL, **kw)


def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def timed_pair(fn, base, reps, cold=None, base_cold=None):
    """Median seconds of `reps` runs of `fn` and of `base`, taken in turn (one of each, then
    again), so that a burst of other work on the machine weighs on both alike. Which goes first
    alternates: when both read the same file (W3 folder), a cache below this machine's (the
    host's, which dropping caches here does not empty) favours whichever reads second."""
    mine, theirs = [], []
    for i in range(reps):
        pair = [(fn, cold, mine), (base, base_cold, theirs)]
        for f, c, out in pair if i % 2 == 0 else pair[::-1]:
            if c:
                c()
            t = time.perf_counter()
            f()
            out.append(time.perf_counter() - t)
    return statistics.median(mine), statistics.median(theirs)


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


def define_scale(schema, name="Scale"):
    """W9's table (and W10's when Item has too few rows): an int key and four scalars."""
    table = type(name, (dj.Manual,), dict(definition="""
        id : int
        ---
        a : int
        b : float
        c : varchar(32)
        d : date
        """))
    return schema(table)


def make_scale(rows, name="Scale"):
    """The table `name` of `rows` rows in SCALE_SCHEMA, made once with the client (batch inserts
    of 50,000 dicts) and kept; made again when its row count differs (or after --fresh)."""
    table = define_scale(dj.Schema(SCALE_SCHEMA), name)
    if len(table()) == rows:
        return table
    print(f"making {SCALE_SCHEMA}.{name} ({rows} rows) with the client", flush=True)
    table.delete_quick()
    day0 = datetime.date(2000, 1, 1)
    t = time.perf_counter()
    for lo in range(0, rows, 50000):
        table.insert([dict(id=i, a=(i * 7919) % 1000003, b=i * 0.25, c=f"row {i}",
                           d=day0 + datetime.timedelta(days=i % 10000)) for i in range(lo, min(rows, lo + 50000))])
    print(f"  inserted in {time.perf_counter() - t:.1f} s", flush=True)
    return table


def make_plain_scale(table, rows, table_dir):
    """W9's plain folder: `id=N` folders with the same five files as djfs shows (key + four
    scalars, sizes from the same CAST(... AS CHAR) + newline) and the table's .definition. The
    scalar files are sparse (their size, no data blocks: 5 files x 4 KiB x 1,000,000 rows would
    be 20 GiB); W9 only lists and stats them. Made once, under the bench folder."""
    plain = os.path.join(BENCH_DIR, f"plain-scale-{rows}")
    if os.path.isdir(plain):
        return plain
    print(f"making the plain folder of {rows} rows (once)", flush=True)
    tmp = plain + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    shutil.copyfile(os.path.join(table_dir, ".definition"), os.path.join(tmp, ".definition"))
    names = ("id", "a", "b", "c", "d")
    for lo in range(0, rows, 50000):
        cur = dj.conn().query(
            f"SELECT CAST(id AS CHAR), CAST(a AS CHAR), CAST(b AS CHAR), CAST(c AS CHAR), CAST(d AS CHAR) "
            f"FROM {table.full_table_name} WHERE id >= %s AND id < %s", args=(lo, lo + 50000))
        for row in cur.fetchall():
            folder = os.path.join(tmp, f"id={row[0]}")
            os.mkdir(folder)
            for name, text in zip(names, row):
                fd = os.open(os.path.join(folder, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                os.ftruncate(fd, len(text.encode()) + 1)
                os.close(fd)
    os.rename(tmp, plain)
    return plain


# ---------------------------------------------------------------------------------- the mount

class Mount:
    def __init__(self, config, extra=(), schema=SCHEMA, path=None, log=None, config_only=False):
        self.config, self.extra, self.schema = config, list(extra), schema
        # config_only: without the DJ_* of the environment (scripts/bench's name the MariaDB,
        # and they would override a 2.x datajoint.json).
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("DJ_")} if config_only else None
        self.path = path or os.path.join(BENCH_DIR, "mnt")
        os.makedirs(self.path, exist_ok=True)
        self.log = log or os.path.join(BENCH_DIR, "djfs.log")
        self.pid = None

    def up(self):
        self.down()
        subprocess.run([DJFS, "mount", "--config", self.config, "--log-file", self.log, *self.extra,
                        self.schema, self.path], check=True, env=self.env)
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


def status_kib(pid, key):
    """A /proc/PID/status figure in KiB (VmRSS, VmHWM), None when the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, TypeError):
        pass
    return None


def meminfo_kib(key):
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


class Sampler:
    """A thread that calls `self.run()` while the `with` block runs (`run` loops until
    `self.stop` is set); `close()` is called after it ends."""

    def make_thread(self):
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def close(self):
        pass

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        self.close()


class RssSampler(Sampler):
    """VmRSS of a daemon sampled every 0.2 s in a thread while the block runs. `pid_fn` is asked
    at each sample, so a remount (new pid) is followed. `phase()` returns the peak since the last
    call (MiB); `peak` is the peak of the whole block."""

    def __init__(self, pid_fn, every=0.2, limit_mib=None):
        self.pid_fn, self.every, self.limit_mib = pid_fn, every, limit_mib
        self.peak = self.phase_peak = 0.0
        self.killed = None
        self.make_thread()

    def sample(self):
        pid = self.pid_fn()
        kib = status_kib(pid, "VmRSS")
        if kib is not None:
            self.peak = max(self.peak, kib / 1024)
            self.phase_peak = max(self.phase_peak, kib / 1024)
            if self.limit_mib and kib / 1024 > self.limit_mib and not self.killed:
                # A shared machine: a daemon growing past the limit is stopped, not left to
                # take the machine's memory (the workload then fails and says so).
                os.kill(pid, 9)
                self.killed = f"djfs (pid {pid}) killed at {kib / 1024:.0f} MiB RSS, over the limit of " \
                              f"{self.limit_mib:.0f} MiB"
                print(self.killed, flush=True)

    def check(self):
        if self.killed:
            raise RuntimeError(self.killed)

    def run(self):
        self.sample()
        while not self.stop.wait(self.every):
            self.sample()

    def phase(self):
        self.sample()
        self.check()
        peak, self.phase_peak = self.phase_peak, 0.0
        return peak


# ---------------------------------------------------------------------------------- workloads

# ---------------------------------------------------------------------------------- W9, W10: scale

def capture(cmd, errors=None):
    """The pipeline's output; what it says on stderr (e.g. find's EIO per entry) goes to the
    list `errors` instead of the terminal."""
    r = subprocess.run(cmd, shell=True, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if errors is not None:
        errors.extend(r.stderr.splitlines())
    elif r.stderr:
        sys.stderr.write(r.stderr)
    return r.stdout


def w9(args, config, report, failures):
    """A table of --w9-rows rows against a plain folder of as many `id=N` folders."""
    n = args.w9_rows
    parts = set(args.w9_parts.split(","))
    Scale = make_scale(n)
    m = Mount(config, schema=SCALE_SCHEMA, path=os.path.join(BENCH_DIR, "mnt-w9"),
              log=os.path.join(BENCH_DIR, "djfs-w9.log"))
    table = os.path.join(m.path, "Scale")
    try:
        m.up()
        plain = make_plain_scale(Scale, n, table)
        expected = 2 + 6 * n  # the table folder, .definition, and per row its folder and 5 files
        # Stop the daemon if it takes more than 3/4 of the memory available now.
        limit = meminfo_kib("MemAvailable") * 0.75 / 1024
        with RssSampler(lambda: m.pid, limit_mib=limit) as rss:
            out, plain_out, errors = [], [], []
            if "first" in parts:
                # In turn (at least 7 pairs: each run takes some 20 ms), so noise weighs on both.
                d, p = timed_pair(lambda: out.append(capture(f"ls -f {table!r} | head -n 100", errors)),
                                  lambda: plain_out.append(capture(f"ls -f {plain!r} | head -n 100")),
                                  max(args.reps, 7), cold=m.cold, base_cold=drop_caches)
                r1 = rss.phase()
                first = out[-1].split()
                unknown = [x for x in first if not os.path.lexists(os.path.join(plain, x))]
                if len(first) != 100 or unknown:
                    failures.append(f"W9: djfs's first names: {len(first)}, not in the plain folder: {unknown[:5]}")
                report(f"W9 ls -f | head -n 100, {n} rows (cold)", d, "the same on the plain folder", p, "<= 2, < 1 s",
                       f"(djfs peak RSS {r1:.0f} MiB)")

            if "wc" in parts:
                d = timed(lambda: out.append(capture(f"ls -f {table!r} | wc -l", errors)), args.reps, cold=m.cold)
                r2 = rss.phase()
                dn = int(out[-1])
                p = timed(lambda: out.append(capture(f"ls -f {plain!r} | wc -l")), args.reps, cold=drop_caches)
                pn = int(out[-1])
                if dn != pn:
                    failures.append(f"W9: ls -f | wc -l gives {dn} names through djfs, {pn} in the plain folder")
                report(f"W9 ls -f | wc -l, {n} rows (cold)", d, "the same on the plain folder", p, "",
                       f"({dn} names, plain {pn}; djfs peak RSS {r2:.0f} MiB)")

            find = "find {} -printf '%s\\n' | wc -l"
            if "find" in parts:
                e0 = len(errors)
                d = timed(lambda: out.append(capture(find.format(repr(table)), errors)), args.reps, cold=m.cold)
                r3 = rss.phase()
                dn = int(out[-1])
                p = timed(lambda: out.append(capture(find.format(repr(plain)))), args.reps, cold=drop_caches)
                pn = int(out[-1])
                for who, got in (("djfs", dn), ("the plain folder", pn)):
                    if got != expected:
                        failures.append(f"W9: find counts {got} entries in {who}, expected {expected} (2 + 6 x {n})")
                report(f"W9 find -printf %s, {n} rows (cold)", d, "find plain folder", p, "<= 3",
                       f"({dn} entries, plain {pn}, expected {expected}; {len(errors) - e0} errors; "
                       f"djfs peak RSS {r3:.0f} MiB)")

            if "repeat" in parts:
                # Three finds one after the other on one mount: RSS after each (it should level off).
                m.cold()
                e0 = len(errors)
                after, times = [], []
                for _ in range(3):
                    t = time.perf_counter()
                    dn = int(capture(find.format(repr(table)), errors))
                    times.append(time.perf_counter() - t)
                    after.append((status_kib(m.pid, "VmRSS") or 0) / 1024)
                    if dn != expected:
                        failures.append(f"W9: a repeated find counts {dn} entries, expected {expected}")
                r4 = rss.phase()
                hwm = m.peak_rss_mib()
        rss.check()
        if "repeat" in parts:
            capture(find.format(repr(plain)))
            p = timed(lambda: capture(find.format(repr(plain))), args.reps)
            peak = max(rss.peak, hwm)
            growth = after[2] / after[1] - 1 if after[1] else float("nan")
            report(f"W9 3rd of 3 finds on one mount, {n} rows", times[2], "find plain folder (warm)", p,
                   "RSS < 256 MiB, 3rd/2nd within 10%",
                   f"(djfs RSS after finds 1/2/3: {after[0]:.0f}/{after[1]:.0f}/{after[2]:.0f} MiB, 3rd/2nd "
                   f"{growth:+.0%}; peak RSS {max(r4, hwm):.0f} MiB, over all of W9 {peak:.0f} MiB; "
                   f"finds took {times[0]:.1f}/{times[1]:.1f}/{times[2]:.1f} s; {len(errors) - e0} errors)")
        if errors:
            failures.append(f"W9: {len(errors)} errors through djfs, the first: {errors[0]}")
            print(f"  {len(errors)} errors through djfs (ls, find), the first: {errors[0]}, the last: {errors[-1]}",
                  flush=True)
    finally:
        m.down()


def w3_pg(args, report, failures):
    """W3pg: cat of a --big-mib MiB 2.x <attach@shared> and <object@shared> (S3) on PostgreSQL,
    made by the 2.x client (bench/pg_items.py big), against one raw S3 GET of the same object
    and the 2.x client's own fetch, in the same run."""
    py2 = os.environ["DJFS_PY2"]
    helper = os.path.join(os.path.dirname(__file__), "pg_items.py")
    pg_dir = os.path.join(BENCH_DIR, "pg-big")
    os.makedirs(pg_dir, exist_ok=True)
    config = os.path.join(pg_dir, "datajoint.json")
    out = subprocess.run([py2, "-W", "ignore", helper, "big", str(args.big_mib), "--store-root", pg_dir,
                          "--config-out", config], check=True, stdout=subprocess.PIPE, text=True).stdout
    meta = json.loads(out.strip().splitlines()[-1])
    store = json.load(open(config))["stores"]["shared"]
    m = Mount(config, schema="djfs_bench_pg_big", path=os.path.join(BENCH_DIR, "mnt-pg-big"),
              log=os.path.join(BENCH_DIR, "djfs-pg-big.log"), config_only=True)
    row = os.path.join(m.path, "Big", "big_id=1")
    mib = args.big_mib
    curl = (f"curl -s --fail --aws-sigv4 'aws:amz:us-east-1:s3' --user "
            f"'{store['access_key']}:{store['secret_key']}' -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD'")
    try:
        m.up()
        client = json.loads(subprocess.run([py2, "-W", "ignore", helper, "fetch", str(args.reps), "--config", config],
                                           check=True, stdout=subprocess.PIPE, text=True).stdout)
        for attr, shown, what in (("doc", os.path.join(row, "doc", "big.bin"), "<attach@shared>"),
                                  ("obj", os.path.join(row, "obj", "obj.bin"), "<object@shared>")):
            key = f"{store['location'].strip('/')}/{meta[attr]['path']}"
            url = f"http://{store['endpoint']}/{store['bucket']}/{key}"
            want_len = mib << 20
            got_len = os.path.getsize(shown) if os.path.exists(shown) else -1
            if got_len != want_len:
                failures.append(f"W3pg: {shown} has {got_len} bytes, expected {want_len}")
                continue
            d = timed(lambda: sh(f"cat {shown!r} > /dev/null"), args.reps, cold=m.cold)
            g = timed(lambda: sh(f"{curl} {url!r} > /dev/null"), args.reps, cold=drop_caches)
            report(f"W3pg cat {mib} MiB {what} PostgreSQL (cold)", d, "one raw S3 GET (curl)", g, "<= 1")
            report(f"W3pg cat {mib} MiB {what} PostgreSQL (cold)", d,
                   "2.x client fetch1" if attr == "doc" else "2.x client ObjectRef read", client[attr], "<= 0.67")
    finally:
        m.down()


def upload_source(mib):
    """W7's source file: --big-mib MiB of random bytes, made once."""
    src = os.path.join(BENCH_DIR, f"upload-{mib}.bin")
    if not os.path.exists(src):
        with open(src + ".tmp", "wb") as f:
            for _ in range(mib):
                f.write(os.urandom(1 << 20))
        os.rename(src + ".tmp", src)
    return src


def w7_pg(args, report, failures):
    """W7pg: cp of a --big-mib MiB file into a 2.x <attach@shared> (S3) on PostgreSQL through the
    mount (a new row each time: mkdir, then the copy; the row is inserted when it closes)
    against the 2.x client's insert1 of the same file (bench/pg_items.py upload-time), in the same
    run. Every run uploads under a new name (the hash includes it), so nothing is skipped as
    already stored; the last row djfs wrote is then fetched by the 2.x client, which checks its
    hash."""
    py2 = os.environ["DJFS_PY2"]
    helper = os.path.join(os.path.dirname(__file__), "pg_items.py")
    pg_dir = os.path.join(BENCH_DIR, "pg-upload")
    os.makedirs(pg_dir, exist_ok=True)
    config = os.path.join(pg_dir, "datajoint.json")
    subprocess.run([py2, "-W", "ignore", helper, "upload-make", "--store-root", pg_dir, "--config-out", config],
                   check=True)
    src = upload_source(args.big_mib)
    m = Mount(config, schema="djfs_bench_pg_upload", path=os.path.join(BENCH_DIR, "mnt-pg-upload"),
              log=os.path.join(BENCH_DIR, "djfs-pg-upload.log"), config_only=True)
    last = {}
    try:
        m.cold()

        def djfs_upload():
            upload_id = time.time_ns() % (1 << 31)
            row = os.path.join(m.path, "Upload", f"upload_id={upload_id}")
            os.mkdir(row)
            os.mkdir(os.path.join(row, "f"))
            name = f"w7pg-djfs-{time.time_ns()}.bin"
            sh(f"cp {src!r} {os.path.join(row, 'f', name)!r}")
            last.update(upload_id=upload_id, name=name)

        d = timed(djfs_upload, args.reps)
        rss = m.peak_rss_mib()
    finally:
        m.down()
    c = json.loads(subprocess.run([py2, "-W", "ignore", helper, "upload-time", str(args.reps), src, "--config", config],
                                  check=True, stdout=subprocess.PIPE, text=True).stdout)["insert1"]
    report(f"W7pg cp {args.big_mib} MiB into <attach@shared> PostgreSQL", d, "2.x client insert1", c, "<= 1",
           f"(djfs peak RSS {rss:.0f} MiB)")
    checked = subprocess.run([py2, "-W", "ignore", helper, "upload-check", str(last["upload_id"]), last["name"],
                              str(os.path.getsize(src)), "--config", config],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if checked.returncode != 0:
        failures.append(f"W7pg: the 2.x client does not read back what djfs wrote: {checked.stdout.strip()}")


def w_pg(args, plain, report, failures):
    """W1pg, W2pg: W1 and W2 on a PostgreSQL table of --rows rows made by the DataJoint 2.x client
    (bench/pg_items.py, batch inserts), against the same plain folder as W1/W2 (the MariaDB Item
    table copied: the same names and sizes)."""
    py2 = os.environ["DJFS_PY2"]
    helper = os.path.join(os.path.dirname(__file__), "pg_items.py")
    pg_dir = os.path.join(BENCH_DIR, "pg")
    os.makedirs(pg_dir, exist_ok=True)
    config = os.path.join(pg_dir, "datajoint.json")
    subprocess.run([py2, "-W", "ignore", helper, "make", str(args.rows), "--config-out", config], check=True)
    m = Mount(config, schema="djfs_bench_pg", path=os.path.join(BENCH_DIR, "mnt-pg"),
              log=os.path.join(BENCH_DIR, "djfs-pg.log"), config_only=True)
    table = os.path.join(m.path, "Item")
    files = "find {} -type f ! -name .definition -printf '%P %s\\n' | sort"
    try:
        m.up()
        # The same tree as the plain folder: names and sizes of every file (but the table's
        # .definition: a 2.x definition is not a 0.14 one).
        got, want_ = capture(files.format(repr(table))), capture(files.format(repr(plain)))
        if got != want_:
            diff = sorted(set(got.splitlines()) ^ set(want_.splitlines()))
            failures.append(f"W2pg: the PostgreSQL table's files differ from the plain folder's "
                            f"({len(got.splitlines())} vs {len(want_.splitlines())} files; e.g. {diff[:3]})")
        client = json.loads(subprocess.run([py2, "-W", "ignore", helper, "time", str(args.reps), "--config", config],
                                           check=True, stdout=subprocess.PIPE, text=True).stdout)
        if wanted("W1pg", args):
            d = timed(lambda: sh(f"ls -l {table!r}"), args.reps, cold=m.cold)
            p = timed(lambda: sh(f"ls -l {plain!r}"), args.reps, cold=drop_caches)
            report(f"W1pg ls -l PostgreSQL table, {args.rows} rows (cold)", d, "ls -l plain folder", p, "<= 2")
            report(f"W1pg ls -l PostgreSQL table, {args.rows} rows (cold)", d, "2.x client keys()", client["keys"])
        if wanted("W2pg", args):
            find_table = lambda: sh(f"find {table!r} -type f -printf '%s\\n'")  # noqa: E731
            find_plain = lambda: sh(f"find {plain!r} -type f -printf '%s\\n'")  # noqa: E731
            d = timed(find_table, args.reps, cold=m.cold)
            p = timed(find_plain, args.reps, cold=drop_caches)
            report(f"W2pg find -printf %s PostgreSQL table, {args.rows} rows (cold)", d, "find plain folder", p, "<= 3")
            report(f"W2pg find -printf %s PostgreSQL table, {args.rows} rows (cold)", d,
                   "2.x client to_arrays non-blob attrs", client["nonblob"])
            find_table()
            find_plain()
            d = timed(find_table, args.reps, cold=lambda: time.sleep(1.2))
            p = timed(find_plain, args.reps)
            report(f"W2pg find -printf %s PostgreSQL table (warm, after the refresh delay)", d,
                   "find plain folder (page cache)", p, "<= 1.5")
    finally:
        m.down()


def db_status(cur, *names):
    cur.execute("SHOW GLOBAL STATUS WHERE Variable_name IN (" + ",".join(["%s"] * len(names)) + ")", names)
    return {k: int(v) for k, v in cur.fetchall()}


def db_sockets(pids, port):
    """Established TCP connections to the database port held by each of `pids` (a list of
    counts, by socket inode, from /proc/net/tcp{,6} and /proc/PID/fd)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if f[3] == "01" and int(f[2].rsplit(":", 1)[1], 16) == port:
                inodes.add(f[9])
    counts = []
    for pid in pids:
        c = 0
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    link = os.readlink(f"/proc/{pid}/fd/{fd}")
                except OSError:
                    continue
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    c += 1
        except (OSError, TypeError):
            pass
        counts.append(c)
    return counts


class ConnSampler(Sampler):
    """The server's Threads_connected (over a connection of its own, as the bench's user) and
    the connections each mount holds (its sockets to the database port), every 0.2 s in a
    thread. `phase()` returns the peaks since the last call and starts a new phase."""

    def __init__(self, pid_fn, every=0.2):
        import pymysql

        host, self.port, user, password = djenv.db_settings()
        ca = os.environ.get("DJFS_TLS_CA")
        self.conn = pymysql.connect(host=host, port=self.port, user=user, password=password,
                                    ssl={"ca": ca} if ca else None, autocommit=True)
        self.cur = self.conn.cursor()
        self.pid_fn, self.every = pid_fn, every
        self.lock = threading.Lock()
        self.make_thread()
        self.failed = 0
        self.new_phase()

    def new_phase(self):
        self.peak_threads = self.peak_sum = self.peak_mount = 0

    def now(self):
        """(Threads_connected, each mount's connections) now."""
        with self.lock:
            threads = db_status(self.cur, "Threads_connected")["Threads_connected"]
        return threads, db_sockets(self.pid_fn(), self.port)

    def sample(self):
        try:
            threads, per_mount = self.now()
        except Exception:  # noqa: BLE001 - a lost sample is counted, not fatal
            self.failed += 1
            return
        self.peak_threads = max(self.peak_threads, threads)
        self.peak_sum = max(self.peak_sum, sum(per_mount))
        self.peak_mount = max([self.peak_mount, *per_mount])

    def run(self):
        while not self.stop.wait(self.every):
            self.sample()

    def phase(self):
        self.sample()
        peaks = (self.peak_threads, self.peak_sum, self.peak_mount)
        self.new_phase()
        return peaks

    def status(self, *names):
        with self.lock:
            return db_status(self.cur, *names)

    def close(self):
        self.conn.close()


def w10(args, config, report, Item):
    """--w10-mounts mounts of one schema, 8 readers in each, against the same readers on one."""
    n_mounts, readers_per_mount, n_rows = args.w10_mounts, 8, args.w10_rows
    if len(Item()) >= 10000:
        schema, cls = SCHEMA, "Item"
    else:
        make_scale(10000, "Scale10k")
        schema, cls = SCALE_SCHEMA, "Scale10k"
    root = os.path.join(BENCH_DIR, "mnt-w10")
    mounts = [Mount(config, ["--refresh", f"{args.w10_refresh:g}"], schema=schema, path=os.path.join(root, f"m{i:02d}"),
                    log=os.path.join(root, f"m{i:02d}.log")) for i in range(n_mounts)]
    procs = []

    def read_all(ms):
        """8 `cat` processes per mount, each of the scalar files of every 8th row of the slice;
        returns (files that failed, bytes read, first error)."""
        results, threads = [], []
        for m in ms:
            for k in range(readers_per_mount):
                files = [os.path.join(cls, r, f) for r in rows[k::readers_per_mount] for f in scalars]
                p = subprocess.Popen(["cat", *files], cwd=m.path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                procs.append(p)
                th = threading.Thread(target=lambda p=p: results.append(p.communicate()))
                th.start()
                threads.append(th)
        for th in threads:
            th.join()
        procs.clear()
        errors = [line for _, err in results for line in err.decode(errors="replace").splitlines()
                  if line.startswith("cat:")]
        return len(errors), sum(len(out) for out, _ in results), errors[0] if errors else ""

    try:
        solo = mounts[0]
        solo.up()
        names = [e for e in os.listdir(os.path.join(solo.path, cls)) if "=" in e]
        rows = sorted(names, key=lambda e: int(e.split("=", 1)[1]))[:n_rows]
        row0 = os.path.join(solo.path, cls, rows[0])
        scalars = sorted(e for e in os.listdir(row0) if "." not in e and os.path.isfile(os.path.join(row0, e)))
        n_files = len(rows) * len(scalars)
        out = []
        base = timed(lambda: out.append(read_all([solo])), args.reps, cold=solo.cold)
        solo_errors, solo_bytes, _ = out[-1]
        solo.down()

        with ConnSampler(lambda: [m.pid for m in mounts]) as conns:
            st0 = conns.status("Threads_connected", "Connection_errors_max_connections")
            with conns.lock:
                conns.cur.execute("SELECT @@GLOBAL.max_connections")
                max_conn = conns.cur.fetchone()[0]
            failed_mounts = []
            for m in mounts:
                try:
                    m.up()
                except subprocess.CalledProcessError as e:
                    failed_mounts.append(f"{m.path}: {e}")
            up = [m for m in mounts if os.path.ismount(m.path)]
            drop_caches()
            conns.phase()  # the peak of the readers only (not of the mounting)
            t = time.perf_counter()
            errors, nbytes, first_error = read_all(up)
            wall = time.perf_counter() - t
            busy_threads, busy_sum, busy_mount = conns.phase()
            time.sleep(args.w10_idle)
            idle_threads, idle_per_mount = conns.now()
            st1 = conns.status("Connection_errors_max_connections")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        for m in mounts:
            m.down()
            if os.path.ismount(m.path):
                subprocess.run(["fusermount3", "-u", "-z", m.path], check=False)

    conn_errors = st1["Connection_errors_max_connections"] - st0["Connection_errors_max_connections"]
    before = st0["Threads_connected"]
    note = (f"(Threads_connected {before} before, peak {busy_threads} = {(busy_threads - before) / max(1, len(up)):.1f} "
            f"per mount more, {idle_threads} after {args.w10_idle}s idle; max_connections {max_conn}; "
            f"mounts' own connections peak {busy_sum}, largest mount {busy_mount}, idle {sum(idle_per_mount)} "
            f"(largest {max(idle_per_mount)}); Connection_errors_max_connections +{conn_errors}; "
            f"reader errors {errors} of {n_files * len(up)} files, {nbytes} bytes of {solo_bytes * len(up)}; "
            f"solo reader errors {solo_errors}; mounts up {len(up)} of {n_mounts})")
    report(f"W10 {len(up)} mounts x 8 readers x {n_rows} rows (--refresh {args.w10_refresh:g})", wall, "8 readers on one mount", base,
           "<= 4 conn/busy mount, <= 1/idle mount, 0 errors", note)
    if first_error:
        print(f"  first reader error: {first_error}", flush=True)
    for f in failed_mounts:
        print(f"  mount failed: {f}", flush=True)


def wanted(workload, args):
    """Whether --only (absent: everything) names `workload`."""
    return not args.only or workload in args.only.split(",")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10000, help="rows of the listing tables (W1, W2, W1pg, W2pg)")
    ap.add_argument("--big-mib", type=int, default=256, help="size of the big attachment/blob (W3, W4)")
    ap.add_argument("--many", type=int, default=2000, help="100 KiB attachments for W8")
    ap.add_argument("--stat-gib", type=int, default=1, help="size of W6's compressed external blob")
    ap.add_argument("--w9-rows", type=int, default=1000000, help="rows of W9's table")
    ap.add_argument("--w9-parts", default="first,wc,find,repeat",
                    help="W9's parts to run: first (ls -f | head), wc (ls -f | wc -l), find, repeat (3 finds)")
    ap.add_argument("--w10-mounts", type=int, default=32, help="mounts of one schema in W10")
    ap.add_argument("--w10-idle", type=float, default=90, help="seconds W10 waits idle before counting connections")
    ap.add_argument("--w10-rows", type=int, default=2000, help="rows each W10 mount reads (the first of the table)")
    ap.add_argument("--w10-refresh", type=float, default=0,
                    help="--refresh of W10's mounts (0: every lookup asks the database again)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--fresh", action="store_true", help="make the data again")
    ap.add_argument("--only", help="comma-separated workloads, e.g. W1,W3 (W1pg, W2pg, W3pg, W7pg: W1, W2, W3, W7 "
                    "on PostgreSQL)")
    args = ap.parse_args()
    os.makedirs(BENCH_DIR, exist_ok=True)
    os.environ.setdefault("DJFS_LOCAL_STORE", os.path.join(BENCH_DIR, "local-store"))
    _, stores = djenv.connect(with_stores=True)
    djenv.ensure_stores(stores)
    config = os.path.join(BENCH_DIR, "dj_local_conf.json")
    djenv.write_config(config, stores)
    os.chmod(config, 0o600)  # it holds the password
    only = set(args.only.split(",")) if args.only else None
    # Workloads of their own PostgreSQL schemas: without the MariaDB data and its mount.
    pg_only = only is not None and only <= PG_ONLY
    if not pg_only:
        Item, Big, Many, Upload, Huge, InTable = make_data(args, stores)
    if only is None or "W6" in only:
        make_huge(Huge, args.stat_gib)
    want = lambda w: wanted(w, args)  # noqa: E731
    results = []
    failures = []
    if args.fresh and (want("W9") or want("W10")):
        djenv.fresh_schema(SCALE_SCHEMA)

    def report(workload, djfs_s, baseline, base_s, target=None, note=""):
        ratio = djfs_s / base_s if base_s else float("nan")
        results.append((workload, djfs_s, baseline, base_s, ratio, target, note))
        print(f"{workload:<34} djfs {djfs_s:8.3f}s  {baseline:<34} {base_s:8.3f}s  djfs/baseline {ratio:6.2f}"
              f"{'  target ' + target if target else ''} {note}", flush=True)

    if pg_only:
        if want("W3pg"):
            w3_pg(args, report, failures)
        if want("W7pg"):
            w7_pg(args, report, failures)
        print_table(results)
        assert not failures, "\n".join(failures)
        return

    mount = Mount(config, ["--log-level", "debug"])
    mount.up()
    atexit.register(mount.down)  # also when a workload fails
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
        # Warm: the same find again once the refresh delay (1 s) has passed, against the plain
        # folder in the page cache (issue 14: an unchanged table is served by the kernel).
        find_table = lambda: sh(f"find {table!r} -type f -printf '%s\\n'")
        find_plain = lambda: sh(f"find {plain!r} -type f -printf '%s\\n'")
        find_table()
        find_plain()
        d = timed(find_table, args.reps, cold=lambda: time.sleep(1.2))
        p = timed(find_plain, args.reps)
        report("W2 find -printf %s table (warm, after the refresh delay)", d,
               "find plain folder (page cache)", p, "<= 1.5")

    if want("W1pg") or want("W2pg"):
        w_pg(args, plain, report, failures)
    if want("W3pg"):
        w3_pg(args, report, failures)

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
        d, p = timed_pair(lambda: sh(f"cat {local_file!r} > /dev/null"),
                          lambda: sh(f"cat {local_obj!r} > /dev/null"), max(args.reps, 8),
                          cold=mount.cold, base_cold=drop_caches)
        report(f"W3 cat {mib} MiB attach@local (cold)", d, "cat of the store file", p,
               "<= 1.05 (passthrough)" if os.geteuid() == 0 else "<= 1.11")
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
        # (A warm read takes some 15 ms: at least 15 pairs, in turn, so noise weighs on both.)
        sh(f"cat {local_file!r} > /dev/null")
        sh(f"cat {local_obj!r} > /dev/null")
        d, p = timed_pair(lambda: sh(f"cat {local_file!r} > /dev/null"),
                          lambda: sh(f"cat {local_obj!r} > /dev/null"), max(args.reps, 15))
        report(f"W5 re-read {mib} MiB attach (warm)", d, "cat from the page cache", p,
               "<= 1.1 (passthrough)" if os.geteuid() == 0 else "<= 1.5")

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
        src = upload_source(args.big_mib)

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

    if want("W7pg"):
        w7_pg(args, report, failures)
    if want("W9"):
        w9(args, config, report, failures)
    if want("W10"):
        w10(args, config, report, Item)

    mount.down()
    print_table(results)
    assert not failures, "\n".join(failures)


def print_table(results):
    print()
    print(f"| workload | djfs s | baseline | baseline s | djfs/baseline | target |")
    print("|---|---|---|---|---|---|")
    for w, d, b, bs, r, t, note in results:
        print(f"| {w} {note} | {d:.3f} | {b} | {bs:.3f} | {r:.2f} | {t or ''} |")


if __name__ == "__main__":
    main()
