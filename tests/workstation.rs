//! djfs on a workstation: the systemd units (checked by `systemd-analyze verify`, and their
//! ExecStart lines run as systemd would run them, with a NOTIFY_SOCKET of ours), `mount -t
//! fuse.djfs` and an fstab `noauto,user` line (through the installed `mount.fuse.djfs` helper),
//! mounts by an unprivileged user through fusermount3, `--allow-other` and /etc/fuse.conf, and the
//! warning for config files that others may read. Every mount is compared with what the real
//! client fetches; the demo schemas are made by the real client.
//!
//! Needs what `scripts/install` sets up: the helper in /usr/sbin, the user `djfsuser`, and
//! /dev/fuse usable by users (mode 0666, as udev makes it).

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{daemon_pids, eventually, run_ok};

/// The unprivileged user `scripts/install` creates (scripts/lib.sh: DJFS_TEST_USER).
fn test_user() -> String {
    std::env::var("DJFS_TEST_USER").unwrap_or_else(|_| "djfsuser".to_string())
}

fn user_ids(user: &str) -> (u32, u32, PathBuf) {
    let out = Command::new("getent")
        .args(["passwd", user])
        .output()
        .unwrap();
    let line = String::from_utf8_lossy(&out.stdout).into_owned();
    let fields: Vec<&str> = line.trim_end().split(':').collect();
    assert!(
        out.status.success() && fields.len() >= 6,
        "user {user} does not exist: run scripts/install (it creates the test user)"
    );
    (
        fields[2].parse().unwrap(),
        fields[3].parse().unwrap(),
        PathBuf::from(fields[5]),
    )
}

/// A command run as `user` (setpriv execs it directly: the pid is the program's own), with
/// none of the test's DJ_* variables (credentials come from config files only).
fn as_user(user: &str, program: impl AsRef<std::ffi::OsStr>) -> Command {
    let (_, _, home) = user_ids(user);
    let mut cmd = Command::new("setpriv");
    cmd.arg(format!("--reuid={user}"))
        .arg(format!("--regid={user}"))
        .arg("--init-groups")
        .arg("--")
        .arg(program)
        .env("HOME", home)
        .env("USER", user)
        .current_dir("/");
    clean_env(&mut cmd);
    cmd
}

fn clean_env(cmd: &mut Command) {
    for v in ["DJ_HOST", "DJ_USER", "DJ_PASS", "NOTIFY_SOCKET"] {
        cmd.env_remove(v);
    }
}

/// The bytes of a file, read by `user` (a mount without allow_other is closed to root too).
fn read_as(user: Option<&str>, path: &Path) -> Vec<u8> {
    match user {
        None => std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display())),
        Some(u) => run_ok(as_user(u, "cat").arg(path)).stdout,
    }
}

/// A demo schema made by the real client, its config private to `owner` (root when None), in
/// folders that owner can reach.
struct Demo {
    schema: String,
    config: PathBuf,
    _dir: tempfile::TempDir,
    scratch: tempfile::TempDir,
}

impl Demo {
    fn new(schema: &str, owner: Option<&str>) -> Demo {
        let (dir, made_config) = common::schema_with_stores("make_demo.py", schema, false);
        // The local store lives in here; users must reach it.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let scratch = tempfile::Builder::new()
            .prefix("djfs-ws-")
            .tempdir()
            .unwrap();
        std::fs::set_permissions(scratch.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let config = scratch.path().join("lab.json");
        std::fs::copy(&made_config, &config).unwrap();
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
        let demo = Demo {
            schema: schema.to_string(),
            config,
            _dir: dir,
            scratch,
        };
        if let Some(user) = owner {
            demo.give(user, &demo.config);
        }
        demo
    }

    /// A folder in the scratch space owned by `owner` (root when None).
    fn folder(&self, name: &str, owner: Option<&str>) -> PathBuf {
        let p = self.scratch.path().join(name);
        std::fs::create_dir_all(&p).unwrap();
        if let Some(user) = owner {
            self.give(user, &p);
        }
        p
    }

    fn give(&self, user: &str, path: &Path) {
        let (uid, gid, _) = user_ids(user);
        std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
    }

    /// The djfs binary where any user can run it (the cargo target folder is under /root).
    fn public_binary(&self) -> PathBuf {
        let dir = self.folder("bin", None);
        let bin = dir.join("djfs");
        if !bin.exists() {
            let built = Path::new(env!("CARGO_BIN_EXE_djfs"));
            if std::fs::hard_link(built, &bin).is_err() {
                std::fs::copy(built, &bin).unwrap();
            }
            std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        bin
    }

    /// What the real client fetches: (the attachment's name, its bytes) of OriginalFile 0 (on
    /// S3), and WebImage 0's description.
    fn client_reference(&self) -> (String, Vec<u8>, String) {
        let out_dir = self.scratch.path().join("client");
        let cfg = self.config.to_str().unwrap();
        let attach = client_view(&[
            "--config",
            cfg,
            &self.schema,
            "fetch-attach",
            "OriginalFile",
            r#"{"image_number": 0}"#,
            "image_file",
            out_dir.to_str().unwrap(),
        ]);
        let path = attach["path"]
            .as_str()
            .expect("client fetched the attachment");
        let bytes = std::fs::read(path).unwrap();
        assert!(bytes.len() > 1000, "a real picture");
        let row = client_view(&[
            "--config",
            cfg,
            &self.schema,
            "row",
            "WebImage",
            r#"{"image_number": 0}"#,
        ]);
        let description = row["values"]["image_description"]
            .as_str()
            .expect("description")
            .to_string();
        (
            attach["name"].as_str().unwrap().to_string(),
            bytes,
            description,
        )
    }

    /// The mount shows what the client fetches (read as `user`).
    fn assert_mount_matches(&self, mnt: &Path, user: Option<&str>) {
        let (name, bytes, description) = self.client_reference();
        let jpg = mnt
            .join("OriginalFile/image_number=0/image_file")
            .join(&name);
        assert_eq!(
            read_as(user, &jpg),
            bytes,
            "{} differs from the client's",
            jpg.display()
        );
        let text = read_as(user, &mnt.join("WebImage/image_number=0/image_description"));
        assert_eq!(String::from_utf8(text).unwrap(), format!("{description}\n"));
    }

    fn password(&self) -> String {
        common::env().db_pass
    }
}

fn client_view(args: &[&str]) -> serde_json::Value {
    let out = common::python("client_view.py", args);
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Unmounts (lazily, as root) and kills what a test started, whatever happened in it.
struct Cleanup {
    mountpoints: Vec<PathBuf>,
    children: Vec<Child>,
}

impl Cleanup {
    fn new() -> Cleanup {
        Cleanup {
            mountpoints: Vec::new(),
            children: Vec::new(),
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for mp in &self.mountpoints {
            let pids = daemon_pids(mp);
            if djfs::mount::is_mount_point(mp) {
                let _ = Command::new("umount").arg("-l").arg(mp).output();
            }
            for pid in pids {
                let deadline = Instant::now() + Duration::from_secs(10);
                while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(50));
                }
                if Path::new(&format!("/proc/{pid}")).exists() {
                    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
                }
            }
        }
        for child in &mut self.children {
            if child.try_wait().ok().flatten().is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

fn wait_gone(pid: u32) -> bool {
    eventually(Duration::from_secs(10), || {
        !Path::new(&format!("/proc/{pid}")).exists()
    })
}

/// Mount options of `mountpoint` in /proc/self/mountinfo: (per-mount options, super options).
fn mount_options(mountpoint: &Path) -> Option<(String, String)> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let wanted = mountpoint.to_string_lossy();
    info.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(' ').collect();
        if fields.get(4) != Some(&wanted.as_ref()) {
            return None;
        }
        let sep = fields.iter().position(|f| *f == "-")?;
        Some((fields[5].to_string(), fields.get(sep + 3)?.to_string()))
    })
}

fn output_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

// ---------------------------------------------------------------------------------------------
// systemd units

const SYSTEM_UNIT: &str = "systemd/djfs@.service";
const USER_UNIT: &str = "systemd/user/djfs@.service";
const INSTALLED_DJFS: &str = "/usr/local/bin/djfs";

fn unit_text(rel: &str) -> String {
    std::fs::read_to_string(common::env().repo.join(rel)).unwrap()
}

/// The value of `key` in the unit's [Service] section (the last one wins, as in systemd).
fn service_setting(text: &str, key: &str) -> Option<String> {
    let mut section = "";
    let mut found = None;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line;
        } else if section == "[Service]" && !line.starts_with('#') {
            if let Some((k, v)) = line.split_once('=') {
                if k.trim() == key {
                    found = Some(v.trim().to_string());
                }
            }
        }
    }
    found
}

fn systemd_escape(args: &[&str]) -> String {
    let out = run_ok(Command::new("systemd-escape").args(args));
    String::from_utf8(out.stdout)
        .unwrap()
        .trim_end()
        .to_string()
}

/// The specifiers the units use, as systemd expands them for `instance`.
fn expand_specifiers(text: &str, instance: &str, config_home: &Path) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('i') => out.push_str(instance),
            Some('I') => out.push_str(&systemd_escape(&["--unescape", instance])),
            Some('f') => out.push_str(&systemd_escape(&["--unescape", "--path", instance])),
            Some('E') => out.push_str(config_home.to_str().unwrap()),
            Some('%') => out.push('%'),
            other => panic!("specifier %{other:?} not handled by this test"),
        }
    }
    out
}

/// systemd's EnvironmentFile= format: KEY=VALUE lines, `#`/`;` comments, optional quotes.
fn parse_env_file(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'))
        .map(|l| {
            let (k, v) = l.split_once('=').expect("KEY=VALUE");
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v);
            (k.trim().to_string(), v.to_string())
        })
        .collect()
}

/// ExecStart's words after systemd's variable expansion: a word that is exactly `$NAME` becomes
/// the value split at whitespace (zero or more words); `${NAME}` is replaced inside a word.
fn expand_exec(line: &str, env: &[(String, String)]) -> Vec<String> {
    let lookup = |name: &str| {
        env.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let mut words = Vec::new();
    for word in line.split_whitespace() {
        assert!(
            !word.contains(['"', '\'', '\\']),
            "quoting not handled by this test: {word}"
        );
        if let Some(name) = word.strip_prefix('$').filter(|n| !n.starts_with('{')) {
            words.extend(lookup(name).split_whitespace().map(str::to_string));
        } else {
            let mut w = word.to_string();
            while let Some(start) = w.find("${") {
                let end = start + w[start..].find('}').expect("closing brace");
                let value = lookup(&w[start + 2..end]);
                w.replace_range(start..=end, &value);
            }
            words.push(w);
        }
    }
    words
}

#[test]
fn systemd_units_pass_systemd_analyze_verify() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = dir.path().join("runtime");
    std::fs::create_dir(&runtime).unwrap();
    std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
    for (rel, user_manager) in [(SYSTEM_UNIT, false), (USER_UNIT, true)] {
        let text = unit_text(rel);
        // What the units promise, and no secret in them.
        assert_eq!(service_setting(&text, "Type").as_deref(), Some("notify"));
        assert_eq!(
            service_setting(&text, "Restart").as_deref(),
            Some("on-failure")
        );
        let exec = service_setting(&text, "ExecStart").unwrap();
        assert!(exec.starts_with(&format!("{INSTALLED_DJFS} mount --foreground ")));
        assert!(service_setting(&text, "EnvironmentFile")
            .unwrap()
            .ends_with("/djfs/%i.env"));
        for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
            let lower = line.to_lowercase();
            assert!(
                !lower.contains("pass") && !lower.contains("secret") && !line.contains("DJ_"),
                "{rel}: credentials do not belong in a unit: {line}"
            );
        }
        // systemd-analyze checks the unit as installed, with djfs where ExecStart says; djfs is
        // not installed on test machines, so the built binary stands in for it.
        let units = dir
            .path()
            .join(if user_manager { "user" } else { "system" });
        std::fs::create_dir_all(&units).unwrap();
        let instance = units.join("djfs@mnt-lab.service");
        std::fs::write(
            &instance,
            text.replace(INSTALLED_DJFS, env!("CARGO_BIN_EXE_djfs")),
        )
        .unwrap();
        let mut cmd = Command::new("systemd-analyze");
        if user_manager {
            cmd.arg("--user").env("XDG_RUNTIME_DIR", &runtime);
        }
        let out = cmd.arg("verify").arg(&instance).output().unwrap();
        assert!(
            out.status.success() && output_text(&out).trim().is_empty(),
            "systemd-analyze verify {rel}: {}\n{}",
            out.status,
            output_text(&out)
        );
    }
}

/// Runs a unit's ExecStart as systemd would for a mount at `mountpoint` (as `user` for the user
/// unit), checks READY=1 arrives once the mount shows the client's data, then stops it with
/// SIGTERM as `systemctl stop` does and checks it unmounted and exited 0.
fn run_unit(rel: &str, demo: &Demo, mountpoint: &Path, user: Option<&str>, options: &str) {
    let mut cleanup = Cleanup::new();
    cleanup.mountpoints.push(mountpoint.to_path_buf());
    let text = unit_text(rel);
    let instance = systemd_escape(&["--path", mountpoint.to_str().unwrap()]);
    assert!(
        instance.contains("\\x2d"),
        "a name with escapes: {instance}"
    );
    let config_home = demo.folder("config-home", user);

    // EnvironmentFile: /etc/djfs/%i.env (system) or %E/djfs/%i.env (user), laid out under the
    // test's own folders (the test does not write /etc).
    let env_setting = service_setting(&text, "EnvironmentFile").unwrap();
    let env_path = expand_specifiers(&env_setting, &instance, &config_home);
    let env_path = match env_path.strip_prefix("/etc/") {
        Some(rest) => demo.folder("etc", None).join(rest),
        None => PathBuf::from(env_path),
    };
    std::fs::create_dir_all(env_path.parent().unwrap()).unwrap();
    if let Some(u) = user {
        demo.give(u, env_path.parent().unwrap());
    }
    let log_dir = demo.folder("unit-logs", user);
    std::fs::write(
        &env_path,
        format!(
            "# djfs instance {instance}\nDJFS_SCHEMA={}\nDJFS_OPTIONS=\"--config {} {options}\"\n",
            demo.schema,
            demo.config.display()
        ),
    )
    .unwrap();
    let env = parse_env_file(&std::fs::read_to_string(&env_path).unwrap());

    let exec = service_setting(&text, "ExecStart").unwrap();
    let exec = expand_specifiers(&exec, &instance, &config_home);
    let words = expand_exec(&exec, &env);
    assert_eq!(words[0], INSTALLED_DJFS);
    assert_eq!(words.last().unwrap(), mountpoint.to_str().unwrap(), "%f");
    assert!(words.contains(&demo.schema), "{words:?}");
    let password = demo.password();
    assert!(!words.iter().any(|w| w.contains(&password)));

    // The notification socket systemd would pass.
    let sock_dir = demo.folder("notify", None);
    let sock_path = sock_dir.join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    std::fs::set_permissions(&sock_path, std::fs::Permissions::from_mode(0o666)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(90)))
        .unwrap();

    let binary = demo.public_binary();
    let mut cmd = match user {
        Some(u) => as_user(u, &binary),
        None => {
            let mut c = Command::new(&binary);
            clean_env(&mut c);
            c.current_dir("/");
            c
        }
    };
    let stderr_path = log_dir.join("stderr");
    let stderr = std::fs::File::create(&stderr_path).unwrap();
    if let Some(u) = user {
        demo.give(u, &stderr_path);
    }
    cmd.args(&words[1..])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("NOTIFY_SOCKET", &sock_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr);
    let child = cmd.spawn().unwrap();
    let pid = child.id();
    cleanup.children.push(child);
    let journal = || std::fs::read_to_string(&stderr_path).unwrap_or_default();

    let mut buf = [0u8; 4096];
    let n = sock
        .recv(&mut buf)
        .unwrap_or_else(|e| panic!("no notification from djfs: {e}\n{}", journal()));
    let message = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(
        message.lines().any(|l| l == "READY=1"),
        "{message:?}\n{}",
        journal()
    );
    // Ready means usable: mounted, with the client's data, right now.
    assert!(djfs::mount::is_mount_point(mountpoint), "{}", journal());
    let (per_mount, _) = mount_options(mountpoint).unwrap();
    assert!(per_mount.split(',').any(|o| o == "ro"), "{per_mount}");
    demo.assert_mount_matches(mountpoint, user);
    // The main process is djfs itself (NotifyAccess=main).
    assert_eq!(daemon_pids(mountpoint), vec![pid]);

    // A second start on the busy mountpoint fails (exit status non-zero: Restart=on-failure
    // applies) with its reason as the unit's STATUS=, never READY=1.
    let again = cmd
        .stderr(Stdio::null())
        .output()
        .expect("start a second instance");
    assert!(!again.status.success());
    let n = sock.recv(&mut buf).expect("a STATUS= notification");
    let status = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(
        status.starts_with("STATUS=") && status.contains("is busy") && !status.contains("READY"),
        "{status:?}"
    );
    assert!(!journal().contains(&password));

    // systemctl stop: SIGTERM to the main process.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGTERM) }, 0);
    let status = cleanup.children[0].wait().unwrap();
    assert!(status.success(), "djfs exited with {status}\n{}", journal());
    assert!(!djfs::mount::is_mount_point(mountpoint));
    let n = sock.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"STOPPING=1");
    assert!(
        journal().contains("unmounted, exiting"),
        "clean unmount:\n{}",
        journal()
    );
}

#[test]
fn system_unit_mounts_notifies_ready_and_unmounts_on_stop() {
    let demo = Demo::new("djfs_ws_unit", None);
    let mnt = demo.folder("mnt-lab", None);
    run_unit(SYSTEM_UNIT, &demo, &mnt, None, "--read-only --allow-other");
}

#[test]
fn user_unit_mounts_as_the_user_notifies_ready_and_unmounts_on_stop() {
    let user = test_user();
    let demo = Demo::new("djfs_ws_user_unit", Some(&user));
    let mnt = demo.folder("mnt-mine", Some(&user));
    run_unit(USER_UNIT, &demo, &mnt, Some(&user), "--read-only");
}

// ---------------------------------------------------------------------------------------------
// mount -t fuse.djfs and /etc/fstab

const HELPER: &str = "/usr/sbin/mount.fuse.djfs";

/// The helper mount(8) runs must be this checkout's.
fn assert_helper_installed() {
    let ours = std::fs::read(common::env().repo.join("scripts/mount.fuse.djfs")).unwrap();
    let installed = std::fs::read(HELPER)
        .unwrap_or_else(|e| panic!("{HELPER}: {e}: run scripts/install (it installs the helper)"));
    assert!(
        installed == ours,
        "{HELPER} differs from scripts/mount.fuse.djfs: run scripts/install"
    );
    assert_eq!(
        std::fs::metadata(HELPER).unwrap().mode() & 0o777,
        0o755,
        "{HELPER} mode"
    );
}

#[test]
fn mount_t_fuse_djfs_mounts_read_only_for_everyone_and_umount_ends_it() {
    assert_helper_installed();
    let demo = Demo::new("djfs_ws_mount_t", None);
    let mnt = demo.folder("mnt", None);
    let log = demo.scratch.path().join("djfs.log");
    let mut cleanup = Cleanup::new();
    cleanup.mountpoints.push(mnt.clone());
    let mut cmd = Command::new("mount");
    clean_env(&mut cmd);
    let out = run_ok(
        cmd.args(["-t", "fuse.djfs", &demo.schema])
            .arg(&mnt)
            .arg("-o")
            .arg(format!(
                "ro,allow_other,config={},log_file={}",
                demo.config.display(),
                log.display()
            ))
            .env("DJFS_BIN", demo.public_binary()),
    );
    assert!(
        output_text(&out).trim().is_empty(),
        "mount printed: {}",
        output_text(&out)
    );
    // mount returned: the mount is usable now.
    let (per_mount, super_options) = mount_options(&mnt).expect("mounted");
    assert!(per_mount.split(',').any(|o| o == "ro"), "{per_mount}");
    assert!(
        super_options.split(',').any(|o| o == "allow_other"),
        "{super_options}"
    );
    demo.assert_mount_matches(&mnt, None);
    // allow_other: another user reads it too.
    demo.assert_mount_matches(&mnt, Some(&test_user()));
    let pids = daemon_pids(&mnt);
    assert_eq!(pids.len(), 1);
    let mut cmd = Command::new("umount");
    run_ok(cmd.arg(&mnt));
    assert!(!djfs::mount::is_mount_point(&mnt));
    assert!(wait_gone(pids[0]), "the daemon ends after umount");
    // A mistyped option, or a password as an option, is refused with a one-line reason.
    let refused = |options: &str| {
        let out = Command::new("mount")
            .args(["-t", "fuse.djfs", &demo.schema])
            .arg(&mnt)
            .args(["-o", options])
            .env("DJFS_BIN", demo.public_binary())
            .output()
            .unwrap();
        assert!(!out.status.success(), "-o {options} must fail");
        output_text(&out)
    };
    let text = refused("ro,cofnig=/x");
    assert!(
        text.contains("unknown option cofnig=/x") && text.trim().lines().count() == 1,
        "{text}"
    );
    assert!(refused("password=hunter2").contains("config file"));
    assert!(!djfs::mount::is_mount_point(&mnt));
}

/// /etc/fstab with one more line; the original is put back on drop.
struct FstabLine {
    original: Option<Vec<u8>>,
}

impl FstabLine {
    fn add(line: &str) -> FstabLine {
        let original = std::fs::read("/etc/fstab").ok();
        let mut text = original.clone().unwrap_or_default();
        if !text.is_empty() && !text.ends_with(b"\n") {
            text.push(b'\n');
        }
        text.extend_from_slice(line.as_bytes());
        text.push(b'\n');
        std::fs::write("/etc/fstab", text).unwrap();
        FstabLine { original }
    }
}

impl Drop for FstabLine {
    fn drop(&mut self) {
        match &self.original {
            Some(text) => std::fs::write("/etc/fstab", text).unwrap(),
            None => std::fs::remove_file("/etc/fstab").unwrap(),
        }
    }
}

#[test]
fn fstab_noauto_user_line_mounts_and_unmounts_as_a_normal_user() {
    assert_helper_installed();
    let user = test_user();
    let (uid, _, _) = user_ids(&user);
    let demo = Demo::new("djfs_ws_fstab", Some(&user));
    let mnt = demo.folder("mnt", Some(&user));
    let logs = demo.folder("logs", Some(&user));
    let mut cleanup = Cleanup::new();
    cleanup.mountpoints.push(mnt.clone());
    let line = format!(
        "{} {} fuse.djfs noauto,user,ro,config={},log_file={}/djfs.log 0 0",
        demo.schema,
        mnt.display(),
        demo.config.display(),
        logs.display()
    );
    let fstab = FstabLine::add(&line);
    // The user's `mount MOUNTPOINT` (mount is setuid; it runs the helper with the user's ids).
    let out = as_user(&user, "mount")
        .arg(&mnt)
        .env("DJFS_BIN", demo.public_binary())
        .output()
        .unwrap();
    let log = || std::fs::read_to_string(logs.join("djfs.log")).unwrap_or_default();
    assert!(
        out.status.success(),
        "mount as {user}: {}\n{}",
        output_text(&out),
        log()
    );
    drop(fstab);
    let pids = daemon_pids(&mnt);
    assert_eq!(pids.len(), 1);
    let owner = std::fs::metadata(format!("/proc/{}", pids[0]))
        .unwrap()
        .uid();
    assert_eq!(owner, uid, "the daemon runs as the user, not as root");
    let (per_mount, super_options) = mount_options(&mnt).expect("mounted");
    assert!(per_mount.split(',').any(|o| o == "ro"), "{per_mount}");
    assert!(
        super_options.contains(&format!("user_id={uid}")),
        "{super_options}"
    );
    demo.assert_mount_matches(&mnt, Some(&user));
    // The user's umount.
    run_ok(as_user(&user, "umount").arg(&mnt));
    assert!(!djfs::mount::is_mount_point(&mnt));
    assert!(wait_gone(pids[0]), "the daemon ends after umount");
}

// ---------------------------------------------------------------------------------------------
// unprivileged users, --allow-other and /etc/fuse.conf

/// /etc/fuse.conf rewritten for a test; the original is put back on drop.
struct FuseConf {
    original: Option<Vec<u8>>,
}

impl FuseConf {
    fn save() -> FuseConf {
        FuseConf {
            original: std::fs::read("/etc/fuse.conf").ok(),
        }
    }

    fn set(&self, user_allow_other: bool) {
        let text = if user_allow_other {
            "# djfs test\nuser_allow_other\n"
        } else {
            "# djfs test\n#user_allow_other\n"
        };
        std::fs::write("/etc/fuse.conf", text).unwrap();
    }
}

impl Drop for FuseConf {
    fn drop(&mut self) {
        match &self.original {
            Some(text) => std::fs::write("/etc/fuse.conf", text).unwrap(),
            None => {
                let _ = std::fs::remove_file("/etc/fuse.conf");
            }
        }
    }
}

#[test]
fn unprivileged_user_mounts_through_fusermount3_and_allow_other_needs_fuse_conf() {
    let user = test_user();
    let (uid, _, _) = user_ids(&user);
    let demo = Demo::new("djfs_ws_user", Some(&user));
    let mnt = demo.folder("mnt", Some(&user));
    let logs = demo.folder("logs", Some(&user));
    let log = logs.join("djfs.log");
    let password = demo.password();
    let mut cleanup = Cleanup::new();
    cleanup.mountpoints.push(mnt.clone());
    let mount = |extra: &[&str]| {
        as_user(&user, demo.public_binary())
            .arg("mount")
            .arg("--config")
            .arg(&demo.config)
            .arg("--log-file")
            .arg(&log)
            .args(extra)
            .arg(&demo.schema)
            .arg(&mnt)
            .output()
            .unwrap()
    };
    let fuse_conf = FuseConf::save();

    // Without user_allow_other: refused before mounting, in one line saying why.
    fuse_conf.set(false);
    let out = mount(&["--allow-other"]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "--allow-other must fail: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr:?}");
    assert!(
        stderr.contains("user_allow_other") && stderr.contains("/etc/fuse.conf"),
        "{stderr}"
    );
    assert!(!djfs::mount::is_mount_point(&mnt));

    // A plain mount by the user, through fusermount3.
    let out = mount(&[]);
    assert!(
        out.status.success(),
        "{}\n{}",
        output_text(&out),
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let pids = daemon_pids(&mnt);
    assert_eq!(pids.len(), 1);
    assert_eq!(
        std::fs::metadata(format!("/proc/{}", pids[0]))
            .unwrap()
            .uid(),
        uid
    );
    let (_, super_options) = mount_options(&mnt).unwrap();
    assert!(
        super_options.contains(&format!("user_id={uid}")),
        "{super_options}"
    );
    assert!(!super_options.contains("allow_other"), "{super_options}");
    demo.assert_mount_matches(&mnt, Some(&user));
    // Not root: no FUSE passthrough; files are read through djfs (the bytes checked above).
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(text.contains("FUSE passthrough: off (not root)"), "{text}");
    assert!(!text.contains("passthrough open"), "{text}");
    // Only the user gets in: root is refused by FUSE itself.
    assert!(std::fs::read_dir(&mnt).is_err());
    // The password is in no process's arguments, and not in the log.
    let ps = run_ok(Command::new("ps").args(["-eo", "args"]));
    assert!(!String::from_utf8_lossy(&ps.stdout).contains(&password));
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", pids[0])).unwrap();
    assert!(!String::from_utf8_lossy(&cmdline).contains(&password));
    run_ok(as_user(&user, "fusermount3").arg("-u").arg(&mnt));
    assert!(!djfs::mount::is_mount_point(&mnt));
    assert!(wait_gone(pids[0]));
    assert!(!std::fs::read_to_string(&log).unwrap().contains(&password));

    // With user_allow_other the same user may let others in.
    fuse_conf.set(true);
    let out = mount(&["--allow-other"]);
    assert!(out.status.success(), "{}", output_text(&out));
    let pids = daemon_pids(&mnt);
    let (_, super_options) = mount_options(&mnt).unwrap();
    assert!(super_options.contains("allow_other"), "{super_options}");
    demo.assert_mount_matches(&mnt, None); // root reads the user's mount
    run_ok(as_user(&user, "fusermount3").arg("-u").arg(&mnt));
    assert!(!djfs::mount::is_mount_point(&mnt));
    assert!(wait_gone(pids[0]));
    drop(fuse_conf);
}

// ---------------------------------------------------------------------------------------------
// credentials

#[test]
fn config_files_with_a_password_readable_by_others_get_a_warning() {
    assert_helper_installed();
    let demo = Demo::new("djfs_ws_warn", None);
    let mnt = demo.folder("mnt", None);
    let log = demo.scratch.path().join("djfs.log");
    let password = demo.password();
    let mut cleanup = Cleanup::new();
    cleanup.mountpoints.push(mnt.clone());
    let chmod = |mode| {
        std::fs::set_permissions(&demo.config, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    let expected = format!(
        "chmod 600 {}",
        demo.config.canonicalize().unwrap().display()
    );
    let warning_lines = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.contains("readable by") && l.contains(&expected))
            .map(str::to_string)
            .collect()
    };
    let unmount = |mnt: &Path| {
        let pids = daemon_pids(mnt);
        run_ok(Command::new("umount").arg(mnt));
        for pid in pids {
            assert!(wait_gone(pid));
        }
    };

    // `djfs mount` with a world-readable config: a warning on its stderr and in the log.
    chmod(0o644);
    let out = common::djfs()
        .arg("mount")
        .arg("--config")
        .arg(demo.config.canonicalize().unwrap())
        .arg("--log-file")
        .arg(&log)
        .arg(&demo.schema)
        .arg(&mnt)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    let on_stderr = warning_lines(&stderr);
    assert_eq!(on_stderr.len(), 1, "{stderr}");
    assert!(
        on_stderr[0].starts_with("djfs: warning: config file ")
            && on_stderr[0].contains("database password")
            && on_stderr[0].contains("mode 0644"),
        "{stderr}"
    );
    let log_text = std::fs::read_to_string(&log).unwrap();
    let in_log = warning_lines(&log_text);
    assert_eq!(in_log.len(), 1, "{log_text}");
    assert!(in_log[0].contains("WARN"), "{log_text}");
    assert!(!stderr.contains(&password) && !log_text.contains(&password));
    demo.assert_mount_matches(&mnt, None);
    unmount(&mnt);
    // A mount that fails still says only its one-line reason on stderr.
    let out = common::djfs()
        .arg("mount")
        .arg("--config")
        .arg(&demo.config)
        .arg("--log-file")
        .arg(&log)
        .arg("djfs_ws_no_such_schema")
        .arg(&mnt)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success());
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("unknown schema"), "{stderr}");

    // Through mount(8): the warning is on mount's stderr.
    chmod(0o640);
    let out = run_ok(
        Command::new("mount")
            .args(["-t", "fuse.djfs", &demo.schema])
            .arg(&mnt)
            .arg("-o")
            .arg(format!(
                "config={},log_file={}",
                demo.config.canonicalize().unwrap().display(),
                log.display()
            ))
            .env("DJFS_BIN", demo.public_binary()),
    );
    let text = output_text(&out);
    let lines = warning_lines(&text);
    assert_eq!(lines.len(), 1, "{text}");
    assert!(lines[0].contains("readable by its group"), "{text}");
    demo.assert_mount_matches(&mnt, None);
    unmount(&mnt);

    // A private config: no warning.
    chmod(0o600);
    let before = std::fs::read_to_string(&log).unwrap();
    let out = common::djfs()
        .arg("mount")
        .arg("--config")
        .arg(&demo.config)
        .arg("--log-file")
        .arg(&log)
        .arg(&demo.schema)
        .arg(&mnt)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    assert!(out.stderr.is_empty(), "{}", output_text(&out));
    let after = std::fs::read_to_string(&log).unwrap();
    assert!(warning_lines(&after[before.len()..]).is_empty(), "{after}");
    demo.assert_mount_matches(&mnt, None);
    unmount(&mnt);
}
