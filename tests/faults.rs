//! The fault matrix (issue 11): for each fault — kill -9 of the daemon, the mount's database
//! connections killed, the database restarted, the S3 server stopped, S3 answering slowly through
//! a delaying TCP proxy, staging on a full filesystem — every kind of operation (read, listing,
//! scalar write, blob write, attachment upload to each store kind, row insert, row delete,
//! `.unused` cleanup) is run through a real mount on a schema the real client made
//! (`tests/python/make_faults.py`). Each cell records the errno the file tool gets and the log line
//! that says why; then the fault is lifted and the client checks (`tests/python/fault_view.py`)
//! that every row holds its old value or the new one (the new one exactly when the operation
//! succeeded), that every tracked object is in its store, that `djfs gc --dry-run` counts exactly
//! the objects no row references, and that the store holds no object no tracking row has; and the
//! next operation of each kind works without remounting.
//!
//! Runs as its own test binary (cargo runs test binaries one after another); its tests take one
//! lock, so one fault at a time. It stops only the private MariaDB and s3s-fs
//! `scripts/services-up` started (by their sockets and pid files), never a server of the machine.
//! The measured matrix is printed (run with `--nocapture`) and written to
//! `$CARGO_TARGET_TMPDIR/fault-matrix-<fault>.md`; doc/SEMANTICS.md ("Faults and concurrency")
//! has it.

mod common;

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::IntoRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::isolated::{records, s3_data};
use common::{db_conn, eventually, private_service_pid, test_var, Mount, RestartServices};
use md5::{Digest, Md5};
use serde_json::Value;

// ------------------------------------------------------------------------------- services

/// One fault at a time: the tests of this binary stop the shared private services.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// `mariadb-admin` on our private MariaDB only: its socket, and no option files (which could name
/// another server).
fn db_admin(command: &str) -> Command {
    let mut cmd = Command::new("mariadb-admin");
    cmd.args(["--no-defaults", "--protocol=socket"])
        .arg(format!("--socket={}", test_var("DJFS_DB_SOCKET")))
        .args(["-uroot", command]);
    cmd
}

fn database_up() -> bool {
    db_admin("ping")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// The pid of our private MariaDB (from its pid file, checked against its data folder).
fn database_pid() -> Option<i32> {
    private_service_pid(
        Path::new(&test_var("DJFS_DB_PID_FILE")),
        &format!("--datadir={}", test_var("DJFS_DB_DATA")),
    )
}

fn stop_database() {
    let server = database_pid().expect("the private MariaDB of scripts/services-up runs");
    let out = db_admin("shutdown").output().unwrap();
    assert!(out.status.success(), "shutdown: {out:?}");
    assert!(eventually(Duration::from_secs(30), || {
        !Path::new(&format!("/proc/{server}")).exists() && !database_up()
    }));
}

fn stop_s3() {
    let pid_file = Path::new(&test_var("DJFS_RUN")).join("s3s-fs.pid");
    let pid = private_service_pid(&pid_file, &test_var("DJFS_S3_DATA"))
        .expect("the private s3s-fs of scripts/services-up runs");
    unsafe { libc::kill(pid, libc::SIGTERM) };
    assert!(eventually(Duration::from_secs(10), || {
        !Path::new(&format!("/proc/{pid}")).exists()
    }));
}

fn db_port() -> u16 {
    common::env()
        .db_host
        .rsplit_once(':')
        .map_or(3306, |(_, p)| p.parse().unwrap())
}

/// Local ports of the established TCP connections of process `pid` to the database (from /proc).
fn database_client_ports(pid: u32) -> HashSet<u16> {
    let inodes: HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .filter_map(|l| {
                    let l = l.to_string_lossy().into_owned();
                    Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
                })
                .collect()
        })
        .unwrap_or_default();
    let tcp = std::fs::read_to_string("/proc/net/tcp").unwrap()
        + &std::fs::read_to_string("/proc/net/tcp6").unwrap_or_default();
    let port = db_port();
    tcp.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let ok = f.len() > 9
                && f[3] == "01"
                && f[2].ends_with(&format!(":{port:04X}"))
                && inodes.contains(f[9]);
            ok.then(|| u16::from_str_radix(f[1].rsplit_once(':').unwrap().1, 16).unwrap())
        })
        .collect()
}

/// Kills (`KILL CONNECTION`) the database connections of the daemon `pid`, found in
/// information_schema.PROCESSLIST by their client port (never this connection's own, never
/// another program's); returns how many.
fn kill_mount_connections(conn: &mut mysql::Conn, pid: u32) -> usize {
    use mysql::prelude::Queryable;
    let ports = database_client_ports(pid);
    let rows: Vec<(u64, String)> = conn
        .query("SELECT ID, HOST FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID()")
        .unwrap();
    let mut killed = 0;
    for (id, host) in rows {
        let port = host
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse::<u16>().ok());
        if port.is_some_and(|p| ports.contains(&p))
            && conn.query_drop(format!("KILL CONNECTION {id}")).is_ok()
        {
            killed += 1;
        }
    }
    killed
}

// ------------------------------------------------------------------------------- the client

/// The client's view of the schema (`fault_view.py`).
#[derive(Clone, Debug)]
struct View(Value);

impl View {
    fn row(&self, id: u32) -> Option<&Value> {
        self.0["rows"].get(id.to_string())
    }
    fn ids(&self) -> Vec<u32> {
        self.0["rows"]
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.parse().unwrap())
            .collect()
    }
    fn value(&self, id: u32, attr: &str) -> Value {
        self.row(id).map(|r| r[attr].clone()).unwrap_or(Value::Null)
    }
    fn tracked(&self, store: &str) -> Vec<(String, bool)> {
        self.0["tracked"][store]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                (
                    o["hash"].as_str().unwrap().to_string(),
                    o["exists_in_store"].as_bool().unwrap(),
                )
            })
            .collect()
    }
    fn unused(&self, store: &str) -> Vec<String> {
        self.0["unused"][store]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h.as_str().unwrap().to_string())
            .collect()
    }
}

// ------------------------------------------------------------------------------- the matrix

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Read,
    Listing,
    Scalar,
    Blob,
    AttachLocal,
    AttachS3,
    AttachIn,
    Insert,
    Delete,
    Unused,
}

const ALL_OPS: [Op; 10] = [
    Op::Read,
    Op::Listing,
    Op::Scalar,
    Op::Blob,
    Op::AttachLocal,
    Op::AttachS3,
    Op::AttachIn,
    Op::Insert,
    Op::Delete,
    Op::Unused,
];

/// The S3 operations (read, blob and attachment upload to `shared`, `.unused` cleanup).
const S3_OPS: [Op; 4] = [Op::Read, Op::Blob, Op::AttachS3, Op::Unused];

impl Op {
    fn name(self, s3: bool) -> &'static str {
        match (self, s3) {
            (Op::Read, false) => "read (attach@local file)",
            (Op::Read, true) => "read (attach@shared file)",
            (Op::Listing, _) => "listing",
            (Op::Scalar, _) => "scalar write",
            (Op::Blob, false) => "blob write (blob@local .npy)",
            (Op::Blob, true) => "blob write (blob@shared .npy)",
            (Op::AttachLocal, _) => "attachment upload, folder store",
            (Op::AttachS3, _) => "attachment upload, S3 store",
            (Op::AttachIn, _) => "attachment upload, in-table",
            (Op::Insert, _) => "row insert",
            (Op::Delete, _) => "row delete",
            (Op::Unused, false) => ".unused cleanup (folder store)",
            (Op::Unused, true) => ".unused cleanup (S3)",
        }
    }
}

/// What an operation should have changed, checked with the client afterwards.
#[derive(Debug)]
enum Expect {
    Nothing,
    Value {
        id: u32,
        attr: &'static str,
        old: Value,
        new: Value,
    },
    Inserted {
        id: u32,
        title: String,
    },
    Deleted {
        id: u32,
    },
    Cleaned {
        store: &'static str,
        hash: String,
    },
}

#[derive(Debug)]
struct Attempt {
    op: Op,
    s3: bool,
    /// Ok, or (errno, the call that got it).
    result: Result<(), (i32, &'static str)>,
    took: Duration,
    log: String,
    expect: Expect,
}

fn errno_name(e: i32) -> String {
    match e {
        libc::EIO => "EIO".into(),
        libc::ENOSPC => "ENOSPC".into(),
        libc::ENOENT => "ENOENT".into(),
        libc::EEXIST => "EEXIST".into(),
        libc::EINVAL => "EINVAL".into(),
        libc::EPERM => "EPERM".into(),
        libc::EBUSY => "EBUSY".into(),
        libc::ENOTEMPTY => "ENOTEMPTY".into(),
        libc::ENOTCONN => "ENOTCONN".into(),
        libc::ECONNABORTED => "ECONNABORTED".into(),
        libc::EINTR => "EINTR".into(),
        e => format!("errno {e}"),
    }
}

impl Attempt {
    fn outcome(&self) -> String {
        match self.result {
            Ok(()) => "ok".into(),
            Err((e, at)) => format!("{} ({at})", errno_name(e)),
        }
    }
}

/// The matrix of one fault, printed and written to `$CARGO_TARGET_TMPDIR`.
struct Matrix {
    fault: &'static str,
    rows: RefCell<Vec<[String; 4]>>,
}

impl Matrix {
    fn new(fault: &'static str) -> Matrix {
        Matrix {
            fault,
            rows: RefCell::new(Vec::new()),
        }
    }
    fn add(&self, case: &str, outcome: &str, log: &str, after: &str) {
        self.rows.borrow_mut().push([
            case.to_string(),
            outcome.to_string(),
            log.to_string(),
            after.to_string(),
        ]);
    }
    fn write(&self) {
        let mut text = String::new();
        for [case, outcome, log, after] in self.rows.borrow().iter() {
            let log = if log.is_empty() {
                "—".to_string()
            } else {
                format!("`{}`", log.replace('|', "\\|"))
            };
            text += &format!(
                "| {} | {case} | {outcome} | {log} | {after} |\n",
                self.fault
            );
        }
        eprintln!("\n{text}");
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let name = self.fault.replace([' ', '/'], "-").to_lowercase();
        let _ = std::fs::write(dir.join(format!("fault-matrix-{name}.md")), text);
    }
}

impl Drop for Matrix {
    fn drop(&mut self) {
        self.write();
    }
}

/// Writes a file as `cp` does (create/truncate, write, close); the errno and the call that got it.
fn write_file(path: &Path, data: &[u8]) -> Result<(), (i32, &'static str)> {
    let errno = |e: std::io::Error| e.raw_os_error().unwrap_or(-1);
    let mut f = std::fs::File::create(path).map_err(|e| (errno(e), "open"))?;
    f.write_all(data).map_err(|e| (errno(e), "write"))?;
    if unsafe { libc::close(f.into_raw_fd()) } != 0 {
        return Err((errno(std::io::Error::last_os_error()), "close"));
    }
    Ok(())
}

/// A `.npy` (format 1.0) of a float64 vector.
fn npy(values: &[f64]) -> Vec<u8> {
    let mut header = format!(
        "{{'descr': '<f8', 'fortran_order': False, 'shape': ({},), }}",
        values.len()
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    for v in values {
        out.extend(v.to_le_bytes());
    }
    out
}

fn md5_hex(data: &[u8]) -> String {
    hex::encode(Md5::digest(data))
}

/// The last ERROR or WARN line of a log text (without its timestamp and target).
fn why(text: &str) -> String {
    text.lines()
        .rev()
        .find(|l| l.contains("ERROR") || l.contains(" WARN"))
        .map(|l| {
            let l = l
                .split_once("ERROR ")
                .or_else(|| l.split_once("WARN "))
                .map_or(l, |(_, r)| r);
            let l = l
                .split_once(": ")
                .map_or(l, |(t, r)| if t.starts_with("djfs") { r } else { l });
            let l: String = l.chars().take(220).collect();
            l.trim().to_string()
        })
        .unwrap_or_default()
}

/// One schema made by the client for one fault, its config, and what has been done to it.
struct Fixture {
    dir: tempfile::TempDir,
    config: PathBuf,
    schema: String,
    tag: u64,
    counter: Cell<u32>,
    next_insert: Cell<u32>,
    next_delete: Cell<u32>,
    cleaned: RefCell<HashSet<String>>,
}

impl Fixture {
    fn new(schema: &str) -> Fixture {
        // Objects an earlier run left under this schema name in the bucket go first.
        let _ = std::fs::remove_dir_all(s3_data().join("datajoint-demo").join(schema));
        let (dir, config) = common::schema_with_stores("make_faults.py", schema, true);
        std::fs::create_dir_all(dir.path().join("cache")).unwrap();
        let tag = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_micros() as u64
            % 1_000_000_007;
        Fixture {
            dir,
            config,
            schema: schema.to_string(),
            tag,
            counter: Cell::new(0),
            next_insert: Cell::new(50),
            next_delete: Cell::new(2),
            cleaned: RefCell::new(HashSet::new()),
        }
    }

    fn mount(&self, config: &Path) -> Mount {
        Mount::new(config, Some(&self.schema), &["--refresh", "0.2"])
    }

    fn next(&self) -> u32 {
        self.counter.set(self.counter.get() + 1);
        self.counter.get()
    }

    fn view(&self) -> View {
        let out = common::python(
            "fault_view.py",
            &["--config", self.config.to_str().unwrap(), &self.schema],
        );
        View(serde_json::from_slice(&out.stdout).unwrap())
    }

    /// `djfs gc --dry-run`: how many objects it would delete.
    fn gc_dry_run(&self) -> u64 {
        let out = common::run_ok(
            common::djfs()
                .args(["gc", "--dry-run", "--config"])
                .arg(&self.config)
                .arg(&self.schema),
        );
        let text = String::from_utf8_lossy(&out.stdout);
        text.split_whitespace()
            .nth(2)
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("djfs gc --dry-run said: {text}"))
    }

    /// The schema's object files in a store (s3s-fs serves a folder).
    fn store_files(&self, store: &str) -> Vec<PathBuf> {
        let root = match store {
            "shared" => s3_data().join("datajoint-demo").join(&self.schema),
            _ => self.dir.path().join("local").join(&self.schema),
        };
        let mut out = Vec::new();
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                if e.path().is_dir() {
                    walk(&e.path(), out);
                } else {
                    out.push(e.path());
                }
            }
        }
        walk(&root, &mut out);
        out
    }

    /// Files in the stores that no tracking row has (or partial uploads): what would be lost
    /// from sight.
    fn untracked_files(&self, view: &View) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for store in ["local", "shared"] {
            let tracked: HashSet<String> =
                view.tracked(store).into_iter().map(|(h, _)| h).collect();
            for f in self.store_files(store) {
                let name = f.file_name().unwrap().to_string_lossy().to_string();
                if name.contains('#')
                    || !tracked.contains(&name.chars().take(32).collect::<String>())
                {
                    out.push(f);
                }
            }
        }
        out
    }

    /// The invariants that hold whatever happened: every row fetches whole (no reference to a
    /// missing object), every tracked object is in its store, `djfs gc --dry-run` counts exactly
    /// the objects no row references. Returns (unused objects, untracked files) for the notes.
    fn check_invariants(&self, view: &View, what: &str) -> (usize, usize) {
        for id in view.ids() {
            let row = view.row(id).unwrap();
            assert!(
                row.get("error").is_none(),
                "{what}: the client cannot fetch row {id}: {row}"
            );
        }
        for store in ["local", "shared"] {
            for (hash, exists) in view.tracked(store) {
                assert!(
                    exists,
                    "{what}: {store}: tracked object {hash} is not in the store"
                );
            }
        }
        let unused = view.unused("local").len() + view.unused("shared").len();
        assert_eq!(
            self.gc_dry_run(),
            unused as u64,
            "{what}: djfs gc --dry-run vs the client's unused objects"
        );
        (unused, self.untracked_files(view).len())
    }

    /// Runs one operation through the mount at `m`; `before` is the client's view before.
    fn run(&self, mount: &Mount, op: Op, s3: bool, before: &View) -> Attempt {
        let m = &mount.path;
        let row1 = m.join("Doc/doc_id=1");
        let n = self.next();
        let log_before = mount.log_text().len();
        let started = Instant::now();
        let errno = |e: std::io::Error| e.raw_os_error().unwrap_or(-1);
        let (result, expect) = match op {
            Op::Read => {
                let attr = if s3 { "pic_s3" } else { "pic" };
                let want = before.value(1, attr);
                let name = want["name"].as_str().unwrap();
                let result = std::fs::read(row1.join(attr).join(name))
                    .map(|bytes| {
                        assert_eq!(
                            md5_hex(&bytes),
                            want["md5"].as_str().unwrap(),
                            "{attr}: the bytes read are the client's"
                        );
                    })
                    .map_err(|e| (errno(e), "read"));
                (result, Expect::Nothing)
            }
            Op::Listing => {
                // (djfs lists folders without `opendir`: a listing that fails, fails the
                // `getdents` that reads it, not the open.)
                let result = std::fs::read_dir(m.join("Doc"))
                    .and_then(|d| {
                        d.map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
                            .collect::<std::io::Result<HashSet<String>>>()
                    })
                    .map(|names| {
                        for id in before.ids() {
                            assert!(
                                names.contains(&format!("doc_id={id}")),
                                "listing lacks row {id}: {names:?}"
                            );
                        }
                        for name in names.iter().filter(|n| !n.starts_with('.')) {
                            let id: u32 = name
                                .strip_prefix("doc_id=")
                                .and_then(|i| i.parse().ok())
                                .unwrap_or(0);
                            assert!(before.row(id).is_some() || id >= 50, "listing shows {name}");
                        }
                    })
                    .map_err(|e| (errno(e), "readdir"));
                (result, Expect::Nothing)
            }
            Op::Scalar => {
                let text = format!("notes {n} of {}", self.tag);
                let result = write_file(&row1.join("notes"), format!("{text}\n").as_bytes());
                (
                    result,
                    Expect::Value {
                        id: 1,
                        attr: "notes",
                        old: before.value(1, "notes"),
                        new: Value::from(text),
                    },
                )
            }
            Op::Blob => {
                let attr = if s3 { "arr_s3" } else { "arr" };
                let values = [n as f64, self.tag as f64, 0.25];
                let result = write_file(&row1.join(format!("{attr}.npy")), &npy(&values));
                (
                    result,
                    Expect::Value {
                        id: 1,
                        attr,
                        old: before.value(1, attr),
                        new: serde_json::json!(values),
                    },
                )
            }
            Op::AttachLocal | Op::AttachS3 | Op::AttachIn => {
                let attr = match op {
                    Op::AttachLocal => "pic",
                    Op::AttachS3 => "pic_s3",
                    _ => "pic_in",
                };
                let name = format!("f{n}.txt");
                let data = format!("attachment {n} of {} into {attr}\n", self.tag).into_bytes();
                let result = write_file(&row1.join(attr).join(&name), &data);
                let new =
                    serde_json::json!({"name": name, "size": data.len(), "md5": md5_hex(&data)});
                (
                    result,
                    Expect::Value {
                        id: 1,
                        attr,
                        old: before.value(1, attr),
                        new,
                    },
                )
            }
            Op::Insert => {
                let id = self.next_insert.get();
                self.next_insert.set(id + 1);
                let title = format!("inserted {n}");
                let row = m.join(format!("Doc/doc_id={id}"));
                let result = std::fs::create_dir(&row)
                    .map_err(|e| (errno(e), "mkdir"))
                    .and_then(|()| write_file(&row.join("title"), format!("{title}\n").as_bytes()));
                (result, Expect::Inserted { id, title })
            }
            Op::Delete => {
                let id = self.next_delete.get();
                self.next_delete.set(id + 1);
                let result = std::fs::remove_dir(m.join(format!("Doc/doc_id={id}")))
                    .map_err(|e| (errno(e), "rmdir"));
                (result, Expect::Deleted { id })
            }
            Op::Unused => {
                let store = if s3 { "shared" } else { "local" };
                let hash = before
                    .unused(store)
                    .into_iter()
                    .find(|h| !self.cleaned.borrow().contains(h))
                    .expect("an unused object left to clean");
                self.cleaned.borrow_mut().insert(hash.clone());
                let folder = m.join(format!(".external/{store}/.unused"));
                let result = std::fs::read_dir(&folder)
                    .and_then(|d| {
                        d.map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
                            .collect::<std::io::Result<Vec<String>>>()
                    })
                    .map_err(|e| (errno(e), "readdir"))
                    .and_then(|names| {
                        let name = names
                            .into_iter()
                            .find(|n| n.starts_with(&hash))
                            .unwrap_or_else(|| panic!("{hash} not in {}", folder.display()));
                        std::fs::remove_file(folder.join(name)).map_err(|e| (errno(e), "unlink"))
                    });
                (result, Expect::Cleaned { store, hash })
            }
        };
        let took = started.elapsed();
        let log = mount.log_text();
        let log = if result.is_err() {
            why(&log[log_before.min(log.len())..])
        } else {
            String::new()
        };
        Attempt {
            op,
            s3,
            result,
            took,
            log,
            expect,
        }
    }

    /// Checks the client's view after `attempt`: the new value exactly when it succeeded, the
    /// old one when it failed (either, when `either`: a killed connection may lose the answer of a
    /// transaction that committed). Returns what the client sees, for the matrix.
    fn check(&self, attempt: &Attempt, after: &View, either: bool) -> String {
        let ok = attempt.result.is_ok();
        let case = attempt.op.name(attempt.s3);
        match &attempt.expect {
            Expect::Nothing => {
                if ok {
                    "the client's bytes/rows".into()
                } else {
                    "unchanged".into()
                }
            }
            Expect::Value { id, attr, old, new } => {
                let got = after.value(*id, attr);
                if ok {
                    assert_eq!(
                        &got, new,
                        "{case}: succeeded, so the client sees the new value"
                    );
                    "new value".into()
                } else if either && &got == new {
                    "new value (committed; the answer was lost)".into()
                } else {
                    assert_eq!(
                        &got, old,
                        "{case}: failed, so the client sees the old value"
                    );
                    "old value".into()
                }
            }
            Expect::Inserted { id, title } => {
                let row = after.row(*id);
                if ok || (either && row.is_some()) {
                    assert_eq!(
                        row.map(|r| r["title"].clone()),
                        Some(Value::from(title.as_str())),
                        "{case}"
                    );
                    "row there".into()
                } else {
                    assert!(row.is_none(), "{case}: failed, yet row {id} exists");
                    "no row".into()
                }
            }
            Expect::Deleted { id } => {
                let row = after.row(*id);
                if ok || (either && row.is_none()) {
                    assert!(row.is_none(), "{case}: row {id} still there");
                    "row gone (its objects in .unused)".into()
                } else {
                    assert!(row.is_some(), "{case}: failed, yet row {id} is gone");
                    "row kept".into()
                }
            }
            Expect::Cleaned { store, hash } => {
                let tracked = after.tracked(store).into_iter().any(|(h, _)| &h == hash);
                let file = self.store_files(store).iter().any(|f| {
                    f.file_name()
                        .unwrap()
                        .to_string_lossy()
                        .starts_with(hash.as_str())
                });
                if ok || (either && !tracked) {
                    assert!(
                        !tracked && !file,
                        "{case}: {hash} tracked {tracked}, in the store {file}"
                    );
                    "object and tracking row gone".into()
                } else {
                    assert!(
                        tracked && file,
                        "{case}: failed: {hash} tracked {tracked}, in the store {file}"
                    );
                    "object kept, still in .unused".into()
                }
            }
        }
    }
}

/// Runs `ops` under a fault (already injected), lifts it, checks every cell with the client,
/// then runs every operation again without remounting: each must succeed.
#[allow(clippy::too_many_arguments)]
fn fault_phase(
    fx: &Fixture,
    mount: &Mount,
    matrix: &Matrix,
    ops: &[(Op, bool)],
    before: &View,
    lift: impl FnOnce(),
    either: bool,
    note: impl Fn(&Attempt) -> String,
) -> View {
    let attempts: Vec<Attempt> = ops
        .iter()
        .map(|&(op, s3)| fx.run(mount, op, s3, before))
        .collect();
    lift();
    let after = fx.view();
    let (unused, untracked) = fx.check_invariants(&after, matrix.fault);
    for a in &attempts {
        let seen = fx.check(a, &after, either);
        let extra = note(a);
        matrix.add(
            a.op.name(a.s3),
            &format!("{}{extra}", a.outcome()),
            &a.log,
            &format!("{seen}; gc --dry-run = client's unused ({unused}); untracked store files: {untracked}"),
        );
        if a.result.is_err() {
            assert!(
                !a.log.is_empty(),
                "{}: {} failed without a log line",
                matrix.fault,
                a.op.name(a.s3)
            );
        }
    }
    after
}

/// Every operation once more, no fault: each succeeds and the client sees it.
fn next_operations_work(
    fx: &Fixture,
    mount: &Mount,
    matrix: &Matrix,
    ops: &[(Op, bool)],
    before: &View,
) -> View {
    let attempts: Vec<Attempt> = ops
        .iter()
        .map(|&(op, s3)| fx.run(mount, op, s3, before))
        .collect();
    let after = fx.view();
    fx.check_invariants(&after, matrix.fault);
    for a in &attempts {
        assert!(
            a.result.is_ok(),
            "{}: the next {} failed: {a:?}\nlog:\n{}",
            matrix.fault,
            a.op.name(a.s3),
            a.log
        );
        fx.check(a, &after, false);
    }
    after
}

fn every_op(s3: bool) -> Vec<(Op, bool)> {
    ALL_OPS
        .iter()
        .map(|&op| (op, s3 && S3_OPS.contains(&op)))
        .collect()
}

/// After unmount (the journal settled): no object in a store that no tracking row has.
fn assert_nothing_left(fx: &Fixture, what: &str) {
    let view = fx.view();
    fx.check_invariants(&view, what);
    let left = fx.untracked_files(&view);
    assert!(
        left.is_empty(),
        "{what}: store files no tracking row has: {left:?}"
    );
}

// ------------------------------------------------------------------------------- the faults

/// The database goes away (shutdown) and comes back: every operation fails with EIO and a
/// `database error while …` line (none hangs or crashes the daemon), nothing changes, and
/// everything works again, same daemon, once it is back.
#[test]
fn database_restart_gives_errors_then_recovers_without_remount() {
    let _serial = serial();
    let fx = Fixture::new("djfs_f_dbrestart");
    let matrix = Matrix::new("database restarted");
    let mount = fx.mount(&fx.config);
    let table = mount.path.join("Doc");
    let rows_before = std::fs::read_dir(&table).unwrap().count();
    let pid = mount.daemon_pid().expect("daemon");
    let before = fx.view();
    let ops = every_op(false);

    let restart = RestartServices;
    stop_database();
    // Once the cached listing is older than the refresh delay: EIO, not a hang or a crash.
    assert!(eventually(Duration::from_secs(5), || {
        matches!(std::fs::read_dir(&table), Err(e) if e.raw_os_error() == Some(libc::EIO))
    }));
    std::thread::sleep(Duration::from_millis(300));
    let after = fault_phase(
        &fx,
        &mount,
        &matrix,
        &ops,
        &before,
        || drop(restart),
        false,
        |_| String::new(),
    );
    assert!(database_up() && database_pid().is_some());
    assert!(
        mount.log_text().contains("database error"),
        "log:\n{}",
        mount.log_text()
    );
    assert!(eventually(Duration::from_secs(10), || {
        std::fs::read_dir(&table).map(|d| d.count()).ok() == Some(rows_before)
    }));
    next_operations_work(&fx, &mount, &matrix, &ops, &after);
    assert_eq!(mount.daemon_pid(), Some(pid), "same daemon, no remount");
    drop(mount);
    assert_nothing_left(&fx, matrix.fault);
}

/// The mount's database connections are killed (`KILL CONNECTION`, found in PROCESSLIST by the
/// daemon's client ports) right before each operation, and then continuously while it runs.
#[test]
fn killed_database_connections_reconnect() {
    let _serial = serial();
    let fx = Fixture::new("djfs_f_dbkill");
    let matrix = Matrix::new("database connection killed");
    let mount = fx.mount(&fx.config);
    let pid = mount.daemon_pid().unwrap();
    let ops = every_op(false);
    let mut conn = db_conn();

    // Right before each operation.
    let before = fx.view();
    std::fs::read_dir(mount.path.join("Doc")).unwrap().count(); // the pool has connections
    let mut killed = 0;
    let attempts: Vec<Attempt> = ops
        .iter()
        .map(|&(op, s3)| {
            std::thread::sleep(Duration::from_millis(250)); // past the refresh delay
            killed += kill_mount_connections(&mut conn, pid);
            fx.run(&mount, op, s3, &before)
        })
        .collect();
    assert!(killed > 0, "no connection of the mount was found to kill");
    let after = fx.view();
    let (unused, untracked) = fx.check_invariants(&after, matrix.fault);
    for a in &attempts {
        let seen = fx.check(a, &after, true);
        matrix.add(
            &format!("{} (killed right before)", a.op.name(a.s3)),
            &a.outcome(),
            &a.log,
            &format!("{seen}; gc --dry-run = client's unused ({unused}); untracked store files: {untracked}"),
        );
        if a.result.is_err() {
            assert!(!a.log.is_empty());
        }
    }

    // Continuously while each operation runs (every 20 ms).
    let before = after;
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let killer = {
        let (stop, count) = (stop.clone(), count.clone());
        std::thread::spawn(move || {
            let mut conn = db_conn();
            while !stop.load(Ordering::Relaxed) {
                count.fetch_add(
                    kill_mount_connections(&mut conn, pid) as u64,
                    Ordering::Relaxed,
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let lift = || {
        stop.store(true, Ordering::Relaxed);
        killer.join().unwrap();
    };
    let after = fault_phase(&fx, &mount, &matrix, &ops, &before, lift, true, |_| {
        String::new()
    });
    // Rename the second set of cells.
    {
        let mut rows = matrix.rows.borrow_mut();
        let n = rows.len();
        for r in rows[n - ops.len()..].iter_mut() {
            r[0] = format!("{} (killed every 20 ms while it runs)", r[0]);
        }
    }
    eprintln!(
        "killed {killed} + {} connections",
        count.load(Ordering::Relaxed)
    );
    next_operations_work(&fx, &mount, &matrix, &ops, &after);
    drop(mount);
    assert_nothing_left(&fx, matrix.fault);
}

/// The S3 server stops: S3 operations fail with EIO (within the documented 30 s) and a log line
/// naming the object, everything else works; once it is back, without remounting, they work.
#[test]
fn s3_stopped_gives_eio_for_s3_operations_only() {
    let _serial = serial();
    let fx = Fixture::new("djfs_f_s3stop");
    let matrix = Matrix::new("S3 server stopped");
    let mount = fx.mount(&fx.config);
    let pid = mount.daemon_pid().unwrap();
    let before = fx.view();
    let ops = every_op(true);
    let restart = RestartServices;
    stop_s3();
    let after = fault_phase(
        &fx,
        &mount,
        &matrix,
        &ops,
        &before,
        || drop(restart),
        false,
        |a| format!(", {:.1} s", a.took.as_secs_f64()),
    );
    for row in matrix.rows.borrow().iter() {
        let s3_case = row[0].contains("S3") || row[0].contains("shared");
        assert_eq!(row[1].starts_with("EIO"), s3_case, "{row:?}");
    }
    next_operations_work(&fx, &mount, &matrix, &ops, &after);
    assert_eq!(mount.daemon_pid(), Some(pid));
    drop(mount);
    assert_nothing_left(&fx, matrix.fault);
}

/// A TCP proxy that holds back each response: the first bytes the server sends after a request
/// are forwarded `delay` later (a slow S3), the rest as they come.
struct SlowProxy {
    addr: SocketAddr,
    delay_ms: Arc<AtomicU64>,
}

impl SlowProxy {
    fn start(upstream: SocketAddr, delay: Duration) -> SlowProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let delay_ms = Arc::new(AtomicU64::new(delay.as_millis() as u64));
        let d = delay_ms.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                let pending = Arc::new(AtomicBool::new(false));
                let (mut c_in, mut s_out) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                let p = pending.clone();
                std::thread::spawn(move || {
                    let mut buf = vec![0u8; 64 << 10];
                    while let Ok(n) = c_in.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        p.store(true, Ordering::SeqCst);
                        if s_out.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = s_out.shutdown(std::net::Shutdown::Write);
                });
                let (mut s_in, mut c_out) = (server, client);
                let d = d.clone();
                std::thread::spawn(move || {
                    let mut buf = vec![0u8; 64 << 10];
                    while let Ok(n) = s_in.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        if pending.swap(false, Ordering::SeqCst) {
                            std::thread::sleep(Duration::from_millis(d.load(Ordering::Relaxed)));
                        }
                        if c_out.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = c_out.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        SlowProxy { addr, delay_ms }
    }

    fn set_delay(&self, delay: Duration) {
        self.delay_ms
            .store(delay.as_millis() as u64, Ordering::Relaxed);
    }
}

/// S3 answers slowly (each response 2 s late): every S3 operation succeeds, slowly. S3 stalls
/// (responses 40 s late, past djfs's 30 s request timeout): reads and uploads fail with EIO; an
/// upload whose PUT reached the server leaves an object no row has until the journal settles it
/// (at unmount at the latest).
#[test]
fn slow_s3_is_slow_and_a_stalled_s3_times_out() {
    let _serial = serial();
    let fx = Fixture::new("djfs_f_s3slow");
    let matrix = Matrix::new("S3 slow (proxy)");
    let upstream: SocketAddr = test_var("DJFS_S3_ENDPOINT").parse().unwrap();
    let proxy = SlowProxy::start(upstream, Duration::from_secs(2));
    let mut cfg: Value = serde_json::from_slice(&std::fs::read(&fx.config).unwrap()).unwrap();
    cfg["stores"]["shared"]["endpoint"] = Value::from(proxy.addr.to_string());
    let slow_config = fx.dir.path().join("slow.json");
    std::fs::write(&slow_config, serde_json::to_vec_pretty(&cfg).unwrap()).unwrap();
    let mount = fx.mount(&slow_config);
    let ops: Vec<(Op, bool)> = S3_OPS.iter().map(|&op| (op, true)).collect();
    let took = |a: &Attempt| format!(", {:.1} s", a.took.as_secs_f64());

    // 2 s per response.
    let before = fx.view();
    let after = fault_phase(&fx, &mount, &matrix, &ops, &before, || (), false, took);
    for row in matrix.rows.borrow_mut().iter_mut() {
        assert!(row[1].starts_with("ok"), "slow S3: {row:?}");
        row[0] = format!("{} (responses 2 s late)", row[0]);
    }

    // 40 s per response: past the request timeout.
    proxy.set_delay(Duration::from_secs(40));
    let stalled = [(Op::Read, true), (Op::AttachS3, true)];
    let after = fault_phase(
        &fx,
        &mount,
        &matrix,
        &stalled,
        &after,
        || proxy.set_delay(Duration::ZERO),
        false,
        took,
    );
    let untracked = fx.untracked_files(&after).len();
    {
        let mut rows = matrix.rows.borrow_mut();
        let n = rows.len();
        for r in rows[n - stalled.len()..].iter_mut() {
            assert!(r[1].starts_with("EIO"), "stalled S3: {r:?}");
            let secs: f64 = r[1]
                .rsplit(", ")
                .next()
                .unwrap()
                .trim_end_matches(" s")
                .parse()
                .unwrap();
            assert!((25.0..100.0).contains(&secs), "{r:?}");
            r[0] = format!("{} (responses 40 s late)", r[0]);
        }
    }
    eprintln!("untracked store files after the stalled upload (before unmount): {untracked}");
    next_operations_work(&fx, &mount, &matrix, &ops, &after);
    drop(mount);
    assert_nothing_left(&fx, matrix.fault);
    matrix.add(
        "after unmount",
        "—",
        "",
        &format!("untracked store files {untracked} before unmount, 0 after (journal settled)"),
    );
}

/// A small tmpfs mounted for the test (as root), unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        common::run_ok(
            Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700")])
                .arg("tmpfs")
                .arg(dir),
        );
        Tmpfs(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
}

/// Staging on a full filesystem (the config's `cache` on a 16 MiB tmpfs, so the staging folder
/// is there): a file too large for memory (12 MiB > 8 MiB) fails at `write`; with the filesystem
/// filled, the upload journal cannot be written and external uploads fail at `close`; values
/// kept in memory (scalars, in-table attachments) and everything else still work; once there is
/// room, everything works without remounting.
#[test]
fn staging_on_a_full_filesystem() {
    assert_eq!(unsafe { libc::geteuid() }, 0, "run as root (scripts/test)");
    let _serial = serial();
    let fx = Fixture::new("djfs_f_enospc");
    let matrix = Matrix::new("staging filesystem full");
    let cache = fx.dir.path().join("cache");
    let tmpfs = Tmpfs::mount(&cache, "16m");
    let mount = fx.mount(&fx.config);
    let log = mount.log_text();
    assert!(
        log.contains(&format!("staging folder {}", cache.display())),
        "{log}"
    );
    let before = fx.view();

    // A 12 MiB attachment: staged in memory up to 8 MiB, then in a file: it does not fit.
    let big: Vec<u8> = (0..12u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let filler = cache.join("filler");
    let fill = || {
        let mut f = std::fs::File::create(&filler).unwrap();
        let block = vec![7u8; 64 << 10];
        while f.write_all(&block).is_ok() {}
    };
    // Leave 2 MiB: the journal fits, the big file does not.
    fill();
    let free = 2 << 20;
    let len = std::fs::metadata(&filler).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&filler)
        .unwrap()
        .set_len(len - free)
        .unwrap();
    let n = fx.next();
    let log_before = mount.log_text().len();
    let started = Instant::now();
    let result = write_file(
        &mount.path.join(format!("Doc/doc_id=1/pic/big{n}.bin")),
        &big,
    );
    let big_attempt = Attempt {
        op: Op::AttachLocal,
        s3: false,
        result,
        took: started.elapsed(),
        log: why(&mount.log_text()[log_before..]),
        expect: Expect::Value {
            id: 1,
            attr: "pic",
            old: before.value(1, "pic"),
            new: serde_json::json!({"name": format!("big{n}.bin"), "size": big.len(), "md5": md5_hex(&big)}),
        },
    };
    assert_eq!(
        big_attempt.result,
        Err((libc::ENOSPC, "write")),
        "12 MiB staged on a 2 MiB free filesystem"
    );
    // Filled up completely: the journal cannot be written either.
    fill();
    let ops = every_op(false);
    let after = fault_phase(
        &fx,
        &mount,
        &matrix,
        &ops,
        &before,
        || std::fs::remove_file(&filler).unwrap(),
        false,
        |_| String::new(),
    );
    let seen = fx.check(&big_attempt, &after, false);
    matrix.add(
        "12 MiB attachment upload, folder store (2 MiB free)",
        &big_attempt.outcome(),
        &big_attempt.log,
        &format!("{seen}; no staging file left"),
    );
    {
        let mut rows = matrix.rows.borrow_mut();
        let n = rows.len();
        for r in rows[n - 1 - ops.len()..n - 1].iter_mut() {
            // Uploads to a store need their journal record: ENOSPC at close. Everything else
            // (values kept in memory, reads, listings, deletes, cleanup) works.
            let upload = r[0].starts_with("blob write")
                || r[0].starts_with("attachment upload, folder store")
                || r[0].starts_with("attachment upload, S3 store");
            let want = if upload { "ENOSPC (close)" } else { "ok" };
            assert_eq!(r[1], want, "{r:?}");
            r[0] = format!("{} (filesystem full)", r[0]);
        }
    }
    let staged: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    eprintln!("in the tmpfs after the phase: {staged:?}");
    // Room again: the big file and every operation work.
    let n = fx.next();
    let name = format!("big{n}.bin");
    assert_eq!(
        write_file(&mount.path.join(format!("Doc/doc_id=1/pic/{name}")), &big),
        Ok(())
    );
    let after = fx.view();
    assert_eq!(after.value(1, "pic")["md5"], md5_hex(&big));
    next_operations_work(&fx, &mount, &matrix, &ops, &after);
    drop(mount);
    drop(tmpfs);
    assert_nothing_left(&fx, matrix.fault);
}

// ------------------------------------------------------------------------------- kill -9

/// The staging folder the daemon logged.
fn staging_of(mount: &Mount) -> PathBuf {
    let pid = mount.daemon_pid().unwrap();
    let text = mount.log_text();
    text.lines()
        .filter_map(|l| {
            l.split_once("staging folder /")
                .map(|(_, p)| PathBuf::from(format!("/{}", p.trim())))
        })
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&format!("{pid}-"))
        })
        .unwrap_or_else(|| panic!("no staging folder in the log:\n{text}"))
}

fn kill_daemon(mount: &Mount) {
    let pid = mount.daemon_pid().unwrap();
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    assert!(eventually(Duration::from_secs(10), || !Path::new(
        &format!("/proc/{pid}")
    )
    .exists()));
}

/// The dead mount goes (root mounts use auto_unmount; a lazy unmount in case).
fn unmount_dead(mount: &Mount) {
    let _ = Command::new("fusermount3")
        .arg("-u")
        .arg("-z")
        .arg(&mount.path)
        .output();
}

/// kill -9 of the daemon in the middle of a large attachment upload to S3 and to the folder
/// store, and with a row insert under way (a new row whose attachment is uploaded, its required
/// value not written yet). The file tool gets an error; the next mount settles the journal: the
/// old values stay, no object is left that no tracking row has, `djfs gc --dry-run` counts the
/// unused ones and `djfs gc` removes them; every operation works on the new mount.
/// (`tests/recovery.rs` checks the recovery steps themselves in detail.)
#[test]
fn kill_9_of_the_daemon() {
    let _serial = serial();
    let fx = Fixture::new("djfs_f_kill");
    let matrix = Matrix::new("kill -9 of the daemon");
    let big = fx.dir.path().join("big.bin");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&big).unwrap());
        let mut block = vec![0u8; 1 << 20];
        for i in 0..160u32 {
            for (j, b) in block.iter_mut().enumerate() {
                *b = (i as usize * 31 + j * 7 + fx.tag as usize + (j >> 8)) as u8;
            }
            f.write_all(&block).unwrap();
        }
    }
    let mut before = fx.view();
    for (case, attr, store) in [
        ("160 MiB attachment upload to S3", "pic_s3", "shared"),
        (
            "160 MiB attachment upload to the folder store",
            "pic",
            "local",
        ),
        (
            "row insert (new row, attachment uploaded, title not yet written)",
            "pic",
            "local",
        ),
    ] {
        let mount = fx.mount(&fx.config);
        let staging = staging_of(&mount);
        let started = Instant::now();
        let outcome = if case.starts_with("row insert") {
            let row = mount.path.join("Doc/doc_id=90");
            std::fs::create_dir(&row).unwrap();
            std::fs::create_dir(row.join(attr)).unwrap();
            assert_eq!(
                write_file(
                    &row.join(attr).join("pending.bin"),
                    format!("pending {}\n", fx.tag).as_bytes()
                ),
                Ok(())
            );
            assert_eq!(records(&staging).len(), 1, "the upload's journal record");
            kill_daemon(&mount);
            let err = std::fs::write(row.join("title"), "never\n").unwrap_err();
            format!(
                "{} (next write)",
                errno_name(err.raw_os_error().unwrap_or(-1))
            )
        } else {
            let cp = Command::new("cp")
                .arg(&big)
                .arg(mount.path.join("Doc/doc_id=1").join(attr))
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            // Once the upload is recorded (it starts right after): kill -9.
            let deadline = Instant::now() + Duration::from_secs(120);
            while records(&staging).is_empty() {
                assert!(
                    Instant::now() < deadline,
                    "no upload seen; log:\n{}",
                    mount.log_text()
                );
                std::thread::sleep(Duration::from_millis(1));
            }
            kill_daemon(&mount);
            let out = cp.wait_with_output().unwrap();
            assert!(!out.status.success());
            let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
            let errno = if stderr.contains("Software caused connection abort") {
                "ECONNABORTED"
            } else if stderr.contains("not connected") {
                "ENOTCONN"
            } else {
                "error"
            };
            format!(
                "{errno} (close): `{}`",
                stderr.rsplit(": ").next().unwrap_or("")
            )
        };
        let left_records = records(&staging).len();
        unmount_dead(&mount);
        drop(mount);
        // The next mount settles the dead mount's journal.
        let next = fx.mount(&fx.config);
        assert!(
            eventually(Duration::from_secs(60), || !staging.exists()),
            "{case}: the dead staging folder stays; log:\n{}",
            next.log_text()
        );
        let log = next.log_text();
        let line = log
            .lines()
            .find(|l| l.contains("recovery"))
            .map(|l| {
                why(&format!(
                    "ERROR {}",
                    l.split_once("recovery").map_or(l, |(_, r)| r)
                ))
            })
            .map(|l| format!("recovery{l}"))
            .unwrap_or_default();
        let after = fx.view();
        let (unused, untracked) = fx.check_invariants(&after, case);
        assert_eq!(untracked, 0, "{case}: {:?}", fx.untracked_files(&after));
        assert_eq!(after.value(1, "pic"), before.value(1, "pic"), "{case}");
        assert_eq!(
            after.value(1, "pic_s3"),
            before.value(1, "pic_s3"),
            "{case}"
        );
        assert!(after.row(90).is_none());
        matrix.add(
            case,
            &format!("{outcome}, after {:.1} s", started.elapsed().as_secs_f64()),
            &line,
            &format!("{left_records} journal record(s) left by the crash, settled by the next mount; old value; gc --dry-run = client's unused ({unused}); untracked store files: 0"),
        );
        before = next_operations_work(&fx, &next, &matrix, &every_op(store == "shared"), &after);
        drop(next);
    }
    // djfs gc removes what .unused shows.
    let out = common::run_ok(
        common::djfs()
            .args(["gc", "--config"])
            .arg(&fx.config)
            .arg(&fx.schema),
    );
    eprintln!("{}", String::from_utf8_lossy(&out.stdout));
    let view = fx.view();
    assert!(view.unused("local").is_empty() && view.unused("shared").is_empty());
    assert_nothing_left(&fx, matrix.fault);
}
