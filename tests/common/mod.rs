//! Shared by the integration tests: the real services (started by `scripts/test`), the pinned
//! real DataJoint client, and real mounts that are always unmounted, also when a test fails.
#![allow(dead_code)]

pub mod isolated;
pub mod pg;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The settings `scripts/test` exports. Tests fail (never skip) without them.
pub struct TestEnv {
    pub python: PathBuf,
    pub db_host: String,
    pub db_user: String,
    pub db_pass: String,
    pub repo: PathBuf,
}

pub fn env() -> TestEnv {
    let var = test_var;
    TestEnv {
        python: PathBuf::from(var("DJFS_PY")),
        db_host: var("DJ_HOST"),
        db_user: var("DJ_USER"),
        db_pass: var("DJ_PASS"),
        repo: repo_root(),
    }
}

/// The checkout under test. Cargo sets CARGO_MANIFEST_DIR when it runs a test too; that beats the
/// path compiled in, which is stale when another checkout built into the same target folder.
pub fn repo_root() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// Runs a command; panics with what it printed when it fails.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("start the command");
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs a script of tests/python with the real client; panics with its output on failure.
pub fn python(script: &str, args: &[&str]) -> Output {
    let e = env();
    run_ok(
        Command::new(&e.python)
            .arg(e.repo.join("tests/python").join(script))
            .args(args),
    )
}

/// Runs a script and returns (success, combined output) without panicking.
pub fn python_status(script: &str, args: &[&str]) -> (bool, String) {
    let e = env();
    let out = Command::new(&e.python)
        .arg(e.repo.join("tests/python").join(script))
        .args(args)
        .output()
        .expect("run python");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// A DataJoint config file with the test database (and optional extra JSON fields).
pub fn write_config(dir: &Path, extra: &str) -> PathBuf {
    let e = env();
    let (host, port) = match e.db_host.rsplit_once(':') {
        Some((h, p)) => (h.to_string(), p.to_string()),
        None => (e.db_host.clone(), "3306".to_string()),
    };
    let path = dir.join("dj_local_conf.json");
    std::fs::write(
        &path,
        format!(
            "{{\"database.host\": \"{host}\", \"database.port\": {port}, \
             \"database.user\": \"{}\", \"database.password\": \"{}\"{extra}}}",
            e.db_user, e.db_pass
        ),
    )
    .unwrap();
    path
}

pub fn djfs() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_djfs"));
    // The config file carries the credentials; keep the environment from overriding it.
    cmd.env_remove("DJ_HOST")
        .env_remove("DJ_USER")
        .env_remove("DJ_PASS")
        .env_remove("DJ_USE_TLS")
        .env_remove("DJ_BACKEND")
        .env_remove("DJ_PORT")
        .env_remove("DJ_DATABASE_NAME")
        .env_remove("DJ_STORES")
        .env_remove("DJ_IGNORE_CONFIG_FILE");
    cmd
}

/// A mounted djfs, unmounted on drop (also when the test panics).
pub struct Mount {
    pub path: PathBuf,
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

/// How `Mount::with` starts djfs, beyond the schema and options.
#[derive(Default)]
pub struct MountOptions<'a> {
    /// `--config FILE`; None: djfs finds its configuration itself (from the working folder).
    pub config: Option<&'a Path>,
    /// The working folder djfs runs in (default: the test's).
    pub cwd: Option<&'a Path>,
    /// More environment variables for djfs.
    pub env: Vec<(&'a str, std::ffi::OsString)>,
}

impl Mount {
    /// `djfs mount --config CONFIG [extra args] [schema] MOUNTPOINT` in the background.
    pub fn new(config: &Path, schema: Option<&str>, extra: &[&str]) -> Mount {
        Mount::with(
            MountOptions {
                config: Some(config),
                ..Default::default()
            },
            schema,
            extra,
        )
    }

    /// `djfs mount [--config CONFIG] [extra args] [schema] MOUNTPOINT` in the background, in
    /// the working folder and with the environment of `options`.
    pub fn with(options: MountOptions<'_>, schema: Option<&str>, extra: &[&str]) -> Mount {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mnt");
        std::fs::create_dir(&path).unwrap();
        let log = dir.path().join("djfs.log");
        let mut cmd = djfs();
        cmd.arg("mount");
        if let Some(config) = options.config {
            cmd.arg("--config").arg(config);
        }
        cmd.arg("--log-file").arg(&log).args(extra);
        if let Some(cwd) = options.cwd {
            cmd.current_dir(cwd);
        }
        for (name, value) in options.env {
            cmd.env(name, value);
        }
        if let Some(s) = schema {
            cmd.arg(s);
        }
        let out = cmd.arg(&path).output().unwrap();
        assert!(
            out.status.success(),
            "mount failed: {}\nlog:\n{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        Mount {
            path,
            log,
            _dir: dir,
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn daemon_pid(&self) -> Option<u32> {
        daemon_pids(&self.path).first().copied()
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let pid = self.daemon_pid();
        unmount(&self.path);
        // The daemon exits once unmounted; wait so the next test starts clean.
        if let Some(pid) = pid {
            let deadline = Instant::now() + Duration::from_secs(10);
            while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// Polls `f` until it returns true or `limit` passes; returns whether it became true.
pub fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Makes a schema with stores through one of the client scripts (`make_demo.py`,
/// `make_external.py`) in a fresh folder; returns the folder and the config file it wrote.
pub fn schema_with_stores(script: &str, schema: &str, cache: bool) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("dj_config.json");
    let e = env();
    let mut cmd = Command::new(&e.python);
    cmd.arg(e.repo.join("tests/python").join(script))
        .arg(schema)
        .arg("--config-out")
        .arg(&config)
        .env("DJFS_LOCAL_STORE", dir.path().join("local"));
    if script == "make_external.py" {
        cmd.arg("--store-root").arg(dir.path().join("stores"));
    }
    if cache {
        cmd.arg("--cache").arg(dir.path().join("cache"));
    }
    run_ok(&mut cmd);
    (dir, config)
}

/// A variable `scripts/test` exports; panics without it.
pub fn test_var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the integration tests through scripts/test")
    })
}

/// The pid in `pid_file` (of a private service `scripts/services-up` started) when that process
/// is alive and its command line contains `marker` (its data folder), so that a recycled pid or a
/// server the tests did not start is never signalled.
pub fn private_service_pid(pid_file: &Path, marker: &str) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(pid_file)
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    cmdline.contains(marker).then_some(pid)
}

/// Starts the private services again when dropped (tests that stop one), whatever happened in
/// the test. `scripts/services-up` only ever starts djfs's own instances.
pub struct RestartServices;

impl Drop for RestartServices {
    fn drop(&mut self) {
        let script = env().repo.join("scripts/services-up");
        let ok = Command::new("bash")
            .arg(script)
            .status()
            .map(|s| s.success());
        assert!(matches!(ok, Ok(true)), "scripts/services-up failed");
    }
}

/// The pids of djfs daemons serving `mountpoint` (by their command line).
pub fn daemon_pids(mountpoint: &Path) -> Vec<u32> {
    let wanted = mountpoint.to_string_lossy().to_string();
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|&b| b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if args.iter().any(|a| a == "--foreground") && args.contains(&wanted) {
            pids.push(pid);
        }
    }
    pids
}

/// What the real client (`tests/python/client_view.py`) reports, as JSON.
pub fn client(config: &Path, schema: &str, args: &[&str]) -> serde_json::Value {
    let e = env();
    let out = run_ok(
        Command::new(&e.python)
            .arg(e.repo.join("tests/python/client_view.py"))
            .arg("--config")
            .arg(config)
            .arg(schema)
            .args(args),
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `fusermount3 -u`, retried for up to 5 s while the mount is busy.
pub fn unmount(path: &Path) {
    for _ in 0..50 {
        let ok = Command::new("fusermount3")
            .arg("-u")
            .arg(path)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if ok || !djfs::mount::is_mount_point(path) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A connection to the test database as the test user (as the client connects).
pub fn db_conn() -> mysql::Conn {
    let e = env();
    let (host, port) = e.db_host.rsplit_once(':').unwrap_or((&e.db_host, "3306"));
    let opts = mysql::OptsBuilder::new()
        .ip_or_hostname(Some(host))
        .tcp_port(port.parse().unwrap())
        .user(Some(&e.db_user))
        .pass(Some(&e.db_pass))
        .prefer_socket(false);
    mysql::Conn::new(opts).unwrap()
}

/// Established TCP connections of process `pid` to the database port (from /proc).
pub fn database_connections(pid: u32) -> usize {
    let port = env()
        .db_host
        .rsplit_once(':')
        .map_or(3306, |(_, p)| p.parse::<u16>().unwrap());
    let inodes: std::collections::HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().into_owned();
            Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
        })
        .collect();
    let tcp = std::fs::read_to_string("/proc/net/tcp").unwrap()
        + &std::fs::read_to_string("/proc/net/tcp6").unwrap_or_default();
    tcp.lines()
        .skip(1)
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 9
                && f[3] == "01"
                && f[2].ends_with(&format!(":{port:04X}"))
                && inodes.contains(f[9])
        })
        .count()
}

/// (file name, bytes) of attachment `attr` of `Doc` row `id` as the client fetches it, or None
/// when the client fetched nothing (the schemas of make_regressions.py and make_demo.py).
pub fn doc_attachment(
    config: &Path,
    schema: &str,
    id: u32,
    attr: &str,
) -> Option<(String, Vec<u8>)> {
    let dir = tempfile::tempdir().unwrap();
    let got = client(
        config,
        schema,
        &[
            "fetch-attach",
            "Doc",
            &format!(r#"{{"doc_id": {id}}}"#),
            attr,
            dir.path().to_str().unwrap(),
        ],
    );
    let path = got["path"].as_str()?;
    Some((
        got["name"].as_str()?.to_string(),
        std::fs::read(path).unwrap(),
    ))
}

/// Writes `data` to `path` as `cp` does (create or truncate, write, close) and returns the errno
/// of the first call that failed, 0 when the value is stored: `close` reports what storing it
/// said, so the file is closed by its raw descriptor to see that result.
pub fn write_file(path: &Path, data: &[u8]) -> i32 {
    use std::io::Write;
    use std::os::fd::IntoRawFd;
    let mut f = match std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
    {
        Ok(f) => f,
        Err(e) => return e.raw_os_error().unwrap_or(-1),
    };
    if let Err(e) = f.write_all(data) {
        return e.raw_os_error().unwrap_or(-1);
    }
    if unsafe { libc::close(f.into_raw_fd()) } != 0 {
        return std::io::Error::last_os_error().raw_os_error().unwrap_or(-1);
    }
    0
}
