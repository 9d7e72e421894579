//! `djfs mount`: checks, the FUSE session, running in the background, and clean unmounting.
//!
//! Without `--foreground` the command starts itself again as a detached child (a fresh process,
//! so no fork of a threaded program) and waits on a pipe until the child reports the mount as
//! usable, or a one-line reason why not. The password travels only through the configuration
//! file or the environment, never through arguments.

use std::io::{BufRead, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use fuser::{Config as FuseConfig, MountOption, SessionACL};

use crate::config;
use crate::fs::{Filesystem, FsOptions, KernelInvalidation};
use crate::fuse::FuseAdapter;
use crate::stores::Stores;

#[derive(Clone, Debug)]
pub struct MountArgs {
    pub schema: Option<String>,
    pub mountpoint: PathBuf,
    pub config: Option<PathBuf>,
    pub read_only: bool,
    pub allow_other: bool,
    pub refresh: Duration,
    pub threads: usize,
    /// At most this many database connections at once.
    pub db_connections: usize,
    /// About how many MiB the caches may hold together.
    pub cache_mib: usize,
    /// Rows in the first page of a paged table listing.
    pub page_rows: usize,
    /// Do not use FUSE passthrough even where it is possible.
    pub no_passthrough: bool,
    pub cascade_delete: bool,
}

/// Checks that can fail before anything is mounted, each with a one-line reason.
fn check_mountpoint(mountpoint: &Path) -> Result<PathBuf> {
    let meta = std::fs::metadata(mountpoint)
        .with_context(|| format!("mountpoint {} does not exist", mountpoint.display()))?;
    if !meta.is_dir() {
        bail!("mountpoint {} is not a directory", mountpoint.display());
    }
    let canonical = mountpoint
        .canonicalize()
        .with_context(|| format!("cannot resolve mountpoint {}", mountpoint.display()))?;
    if is_mount_point(&canonical) {
        bail!(
            "mountpoint {} is busy: something is already mounted there",
            canonical.display()
        );
    }
    if !Path::new("/dev/fuse").exists() {
        bail!("no /dev/fuse: the FUSE kernel module is not available");
    }
    if unsafe { libc::geteuid() } != 0 && !can_read_write(Path::new("/dev/fuse")) {
        // fuser opens /dev/fuse itself before it falls back to fusermount3.
        bail!("/dev/fuse is not readable and writable by this user: it must be mode 0666 (as udev makes it on Debian: chmod 666 /dev/fuse)");
    }
    Ok(canonical)
}

fn can_read_write(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    unsafe { libc::access(c_path.as_ptr(), libc::R_OK | libc::W_OK) == 0 }
}

/// `--allow-other` by a user other than root needs `user_allow_other` in /etc/fuse.conf;
/// fusermount3 would refuse later with a less helpful message.
fn check_allow_other(allow_other: bool, fuse_conf: &Path) -> Result<()> {
    if !allow_other || unsafe { libc::geteuid() } == 0 {
        return Ok(());
    }
    let text = std::fs::read_to_string(fuse_conf).unwrap_or_default();
    if fuse_conf_allows_other(&text) {
        return Ok(());
    }
    bail!(
        "--allow-other needs the line `user_allow_other` in {} when not mounting as root (ask an administrator to add it), or mount without --allow-other",
        fuse_conf.display()
    )
}

/// Whether fuse.conf has `user_allow_other` on a line of its own (comments aside).
fn fuse_conf_allows_other(text: &str) -> bool {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .any(|l| l == "user_allow_other")
}

/// Tells systemd about the service's state (`READY=1`, `STOPPING=1`, `STATUS=...`) through the
/// datagram socket in $NOTIFY_SOCKET (sd_notify(3)); does nothing when it is not set.
/// Written here rather than with the `sd-notify` crate: its 0.5 connects the address as a path,
/// so it cannot reach an abstract `@name` socket, which sd_notify(3) allows and containers use.
pub fn notify_systemd(state: &str) {
    let Some(socket) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    if let Err(e) = send_notification(&socket, state) {
        tracing::warn!("cannot notify systemd at {}: {e}", socket.to_string_lossy());
    }
}

fn send_notification(socket: &std::ffi::OsStr, state: &str) -> std::io::Result<()> {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    let bytes = socket.as_bytes();
    let addr = match bytes.first() {
        // An abstract socket: `@name` stands for a leading NUL byte.
        Some(b'@') => SocketAddr::from_abstract_name(&bytes[1..])?,
        Some(b'/') => SocketAddr::from_pathname(Path::new(socket))?,
        _ => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not an absolute path or @abstract name",
            ))
        }
    };
    let sender = UnixDatagram::unbound()?;
    sender.send_to_addr(state.as_bytes(), &addr)?;
    Ok(())
}

/// Whether a path is the mount point of a mounted filesystem (from /proc/self/mountinfo).
pub fn is_mount_point(path: &Path) -> bool {
    mounted_device(path).is_some()
}

/// The `major:minor` of the filesystem mounted last at `path` (from /proc/self/mountinfo, so
/// without touching the mount itself).
fn mounted_device(path: &Path) -> Option<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let wanted = path.to_string_lossy();
    info.lines().rev().find_map(|line| {
        let fields: Vec<&str> = line.split(' ').collect();
        let point = unescape_mountinfo(fields.get(4)?);
        (point == wanted).then(|| fields.get(2).map(|d| d.to_string()))?
    })
}

/// Kernel readahead for the mount, in KiB: the kernel starts FUSE mounts at 128 KiB whatever
/// the filesystem asks. 4 MiB makes a cold `cat` of a big folder-store file 0.21 s instead of
/// 0.43 s (raw `cat` 0.17 s; reads arrive as 1 MiB requests, several in flight). S3 reads are
/// unaffected: their pieces are fetched ahead anyway, and stragglers are served on their own.
const READAHEAD_KIB: u32 = 4096;

/// Reads the daemon's own mapped code and constants from disk now (the executable's ranges that
/// /proc/self/maps lists, about 17 MB), once, before the mount is ready: after a cold start (a
/// reboot, a dropped page cache) the first requests would otherwise each wait on page faults of
/// code run for the first time (measured on a virtual disk: a cold `cat` of a 256 MiB file
/// through the mount 1.12x a raw `cat` without it, 1.00-1.03x with it). Returns the bytes read.
fn read_own_code() -> u64 {
    use std::os::unix::fs::FileExt;
    let started = Instant::now();
    let (Ok(exe), Ok(maps)) = (
        std::fs::read_link("/proc/self/exe"),
        std::fs::read_to_string("/proc/self/maps"),
    ) else {
        return 0;
    };
    let Ok(file) = std::fs::File::open(&exe) else {
        return 0;
    };
    let mut buf = vec![0u8; 1 << 20];
    let mut read = 0u64;
    for line in maps.lines() {
        // address-range perms offset device inode path
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [range, _perms, offset, _dev, _inode, path] = fields[..] else {
            continue;
        };
        if Path::new(path) != exe {
            continue;
        }
        let parsed = range.split_once('-').and_then(|(a, b)| {
            let hex = |x: &str| u64::from_str_radix(x, 16).ok();
            Some((hex(a)?, hex(b)?, hex(offset)?))
        });
        let Some((start, end, offset)) = parsed else {
            continue;
        };
        let (mut at, stop) = (offset, offset + (end - start));
        while at < stop {
            let n = buf.len().min((stop - at) as usize);
            match file.read_at(&mut buf[..n], at) {
                Ok(0) | Err(_) => break,
                Ok(k) => {
                    at += k as u64;
                    read += k as u64;
                }
            }
        }
    }
    tracing::debug!(bytes = read, elapsed = ?started.elapsed(), "own code read ahead");
    read
}

/// Raises the mount's readahead through sysfs (root only; others keep the kernel's default).
fn raise_readahead(mountpoint: &Path) {
    let Some(device) = mounted_device(mountpoint) else {
        return;
    };
    let knob = format!("/sys/class/bdi/{device}/read_ahead_kb");
    match std::fs::write(&knob, format!("{READAHEAD_KIB}\n")) {
        Ok(()) => tracing::debug!("readahead {READAHEAD_KIB} KiB ({knob})"),
        Err(e) => tracing::debug!("readahead left at the kernel's default ({knob}: {e})"),
    }
}

fn unescape_mountinfo(field: &str) -> String {
    // mountinfo writes space, tab, newline and backslash as \ooo octal.
    let mut out = Vec::new();
    let bytes = field.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 3 < bytes.len() + 1 && i + 3 <= bytes.len() {
            if let Ok(v) = u8::from_str_radix(&field[i + 1..i + 4], 8) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Everything up to a mounted, serving session. `ready` is told once the mount is usable.
pub fn run_foreground(args: &MountArgs, ready: impl FnOnce(Result<(), String>)) -> Result<()> {
    let prepared = (|| -> Result<_> {
        let mountpoint = check_mountpoint(&args.mountpoint)?;
        check_allow_other(args.allow_other, Path::new("/etc/fuse.conf"))?;
        let cfg = config::load(args.config.as_deref())?;
        tracing::info!(
            config = %cfg.source.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "(none)".into()),
            kind = ?cfg.kind,
            secrets = %cfg.secrets_dir.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "(none)".into()),
            backend = ?cfg.database.backend,
            host = %cfg.database.host, port = cfg.database.port, user = %cfg.database.user,
            "connecting"
        );
        let db = crate::backend::connect(&cfg.database, args.db_connections)?;
        if let Some(schema) = &args.schema {
            if !db.schema_exists(schema)? {
                bail!("unknown schema {schema:?} (or no privilege to see it)");
            }
        }
        let stores = Arc::new(Stores::new(&cfg.stores, cfg.cache.clone())?);
        Ok((mountpoint, cfg, db, stores))
    })();
    let (mountpoint, cfg, db, stores) = match prepared {
        Ok(p) => p,
        Err(e) => {
            ready(Err(format!("{e:#}")));
            return Err(e);
        }
    };

    let read_only = args.read_only;
    let journal_stores = stores.clone();
    let core = Arc::new(Filesystem::new(
        db,
        stores,
        FsOptions {
            schema: args.schema.clone(),
            read_only,
            refresh: args.refresh,
            uid: unsafe { libc::getuid() },
            gid: unsafe { libc::getgid() },
            cascade_delete: args.cascade_delete,
            cache_bytes: args.cache_mib << 20,
            page_rows: args.page_rows,
        },
    ));
    let _ = read_own_code();
    core.preload_catalog();
    // Staging folders of djfs processes that are gone (crashed): their journals are settled
    // (unfinished uploads aborted, partial files and orphaned objects removed), then they go.
    let recovery_stores = journal_stores.clone();
    let db_config = cfg.database.clone();
    std::thread::Builder::new()
        .name("recovery".into())
        .spawn(move || {
            if crate::staging::stale_folders(recovery_stores.cache_dir()).is_empty() {
                return;
            }
            match crate::backend::connect(&db_config, 1) {
                Ok(db) => {
                    crate::journal::recover_stale(&*db, &recovery_stores);
                }
                Err(e) => tracing::warn!("recovery of stale staging folders: {e:#}"),
            }
        })?;
    // Writes the NULLs of `rm`ed attribute files once their grace has passed.
    let janitor = Arc::downgrade(&core);
    std::thread::Builder::new()
        .name("janitor".into())
        .spawn(move || {
            let mut ticks: u64 = 0;
            while let Some(core) = janitor.upgrade() {
                core.apply_due_nulls();
                // Once a minute: what the caches hold and what was asked (debug log).
                if ticks % 300 == 299 && tracing::enabled!(tracing::Level::DEBUG) {
                    tracing::debug!("stats:\n{}", core.stats_text());
                }
                drop(core);
                ticks += 1;
                std::thread::sleep(Duration::from_millis(200));
            }
        })?;
    let is_root = unsafe { libc::geteuid() } == 0;
    let mut options = vec![
        MountOption::FSName(format!(
            "djfs:{}",
            args.schema.as_deref().unwrap_or(&cfg.database.host)
        )),
        MountOption::Subtype("djfs".into()),
        MountOption::DefaultPermissions,
        MountOption::NoAtime,
        MountOption::NoDev,
        MountOption::NoSuid,
        if args.read_only {
            MountOption::RO
        } else {
            MountOption::RW
        },
    ];
    let acl = if args.allow_other {
        SessionACL::All
    } else if is_root {
        SessionACL::RootAndOwner
    } else {
        SessionACL::Owner
    };
    // A killed daemon must not leave a dead mount behind: fusermount3 unmounts it for us.
    if acl != SessionACL::Owner {
        options.push(MountOption::AutoUnmount);
    }
    let mut fuse_config = FuseConfig::default();
    fuse_config.mount_options = options;
    fuse_config.acl = acl;
    fuse_config.n_threads = Some(args.threads.max(1));
    fuse_config.clone_fd = true;
    // Passthrough needs CAP_SYS_ADMIN (the kernel's backing-file ioctl): root mounts only.
    let passthrough = !args.no_passthrough && unsafe { libc::geteuid() } == 0;
    if !passthrough {
        tracing::info!(
            "FUSE passthrough: off ({})",
            if args.no_passthrough {
                "--no-passthrough"
            } else {
                "not root"
            }
        );
    }

    let session = match fuser::Session::new(
        FuseAdapter::new(core.clone(), passthrough),
        &mountpoint,
        &fuse_config,
    ) {
        Ok(s) => s,
        Err(e) => {
            let msg = format!("cannot mount {}: {e}", mountpoint.display());
            ready(Err(msg.clone()));
            bail!(msg);
        }
    };
    let notifier = session.notifier();
    core.set_kernel_forget(Box::new(move |ino| {
        // Size and pages (offset 0, length -1: all). ENOENT: the kernel holds nothing of it.
        if let Err(e) = notifier.inval_inode(fuser::INodeNo(ino), 0, -1) {
            if e.raw_os_error() != Some(libc::ENOENT) {
                tracing::debug!("invalidating inode {ino} in the kernel: {e}");
            }
        }
    }));
    // The watcher: every refresh delay, asks whether the tables whose rows the kernel keeps
    // longer changed, and makes the kernel forget those that did (see `fs::watch`).
    if !args.refresh.is_zero() {
        let watcher = Arc::downgrade(&core);
        let notifier = session.notifier();
        let every = args.refresh;
        std::thread::Builder::new()
            .name("watcher".into())
            .spawn(move || loop {
                std::thread::sleep(every);
                let Some(core) = watcher.upgrade() else { break };
                let invalidations = core.check_watched();
                drop(core);
                for inval in invalidations {
                    let result = match &inval {
                        KernelInvalidation::Entry { parent, name } => notifier
                            .inval_entry(fuser::INodeNo(*parent), std::ffi::OsStr::new(name)),
                        KernelInvalidation::Inode(ino) => {
                            notifier.inval_inode(fuser::INodeNo(*ino), 0, -1)
                        }
                    };
                    if let Err(e) = result {
                        if e.raw_os_error() != Some(libc::ENOENT) {
                            tracing::debug!("{inval:?}: {e}");
                        }
                    }
                }
            })?;
    }
    raise_readahead(&mountpoint);
    let mp = mountpoint.clone();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let signal = wait_for_termination_signal();
            tracing::info!(signal, "unmounting {}", mp.display());
            notify_systemd("STOPPING=1");
            if let Err(e) = unmount(&mp) {
                tracing::error!("unmount of {} failed: {e:#}", mp.display());
            }
        })?;
    tracing::info!(mountpoint = %mountpoint.display(), schema = ?args.schema, "mounted");
    ready(Ok(()));
    let result = session.run().context("FUSE session");
    core.shutdown();
    crate::journal::finish_mount(&journal_stores, || {
        crate::backend::connect(&cfg.database, 1)
    });
    result?;
    tracing::info!(mountpoint = %mountpoint.display(), "unmounted, exiting");
    Ok(())
}

/// Unmounts a mount point the way `umount`/`fusermount3 -u` would; the session loop then ends.
/// (fusermount3's auto_unmount only acts once the daemon is gone, so a signal needs this.)
/// Busy mounts are detached lazily: the process is ending either way.
pub fn unmount(mountpoint: &Path) -> Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(mountpoint.as_os_str().as_bytes())?;
    for flags in [0, libc::MNT_DETACH] {
        if unsafe { libc::umount2(c_path.as_ptr(), flags) } == 0 {
            return Ok(());
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EPERM) {
            break; // not root: fusermount3 is setuid for this
        }
        tracing::warn!("umount {}: {err}", mountpoint.display());
    }
    for args in [&["-u"][..], &["-u", "-z"][..]] {
        let status = Command::new("fusermount3")
            .args(args)
            .arg(mountpoint)
            .status()
            .context("running fusermount3")?;
        if status.success() {
            return Ok(());
        }
    }
    bail!("fusermount3 -u {} failed", mountpoint.display())
}

/// Blocks SIGTERM/SIGINT/SIGHUP for every thread started after this call, so that only the
/// signal thread receives them (via sigwait). Call first thing in main.
pub fn block_termination_signals() {
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
            libc::sigaddset(&mut set, s);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

fn wait_for_termination_signal() -> i32 {
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
            libc::sigaddset(&mut set, s);
        }
        let mut sig = 0;
        libc::sigwait(&set, &mut sig);
        sig
    }
}

/// Starts this program again, detached, with `--foreground --ready-fd N`, and waits for its
/// one-line report. Returns the message to print on failure.
pub fn spawn_background(
    forward_args: &[std::ffi::OsString],
    log_file: &Path,
) -> Result<(), String> {
    let mut fds = [0; 2];
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!("pipe: {}", std::io::Error::last_os_error()));
    }
    let (read_end, write_end) =
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let write_fd = fds[1];
    if let Some(dir) = log_file.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_file)
        .map_err(|e| format!("cannot open log file {}: {e}", log_file.display()))?;
    let exe = std::env::current_exe().map_err(|e| format!("cannot find own executable: {e}"))?;
    let mut cmd = Command::new(exe);
    cmd.args(forward_args)
        .arg("--foreground")
        .arg(format!("--ready-fd={write_fd}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        // Not a service's main process: systemd must not hear from it.
        .env_remove("NOTIFY_SOCKET");
    unsafe {
        cmd.pre_exec(move || {
            // Own session: no terminal, survives the shell; keep the pipe's write end open.
            libc::setsid();
            let flags = libc::fcntl(write_fd, libc::F_GETFD);
            libc::fcntl(write_fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC);
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| format!("cannot start djfs: {e}"))?;
    drop(write_end);
    // One line, not until EOF: helpers the child starts (fusermount3) may inherit the pipe.
    let mut report = String::new();
    let _ = std::io::BufReader::new(std::fs::File::from(read_end)).read_line(&mut report);
    match report.trim_end().split_once(' ') {
        _ if report.trim_end() == "ok" => Ok(()),
        Some(("error", reason)) => {
            let _ = child.wait();
            Err(reason.to_string())
        }
        _ => {
            let status = child.wait().ok();
            Err(format!(
                "djfs exited before the mount was ready ({}); see {}",
                status.map(|s| s.to_string()).unwrap_or_default(),
                log_file.display()
            ))
        }
    }
}

/// The child side of `spawn_background`: keeps the inherited pipe from leaking into programs
/// the child starts. Call first thing.
pub fn protect_ready_fd(fd: i32) {
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFD);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC);
        }
    }
}

/// The child side of `spawn_background`: writes the report and closes the pipe.
pub fn report_ready(fd: i32, result: Result<(), String>) {
    let mut pipe = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    let line = match result {
        Ok(()) => "ok\n".to_string(),
        Err(reason) => format!("error {}\n", reason.replace('\n', " ")),
    };
    let _ = pipe.write_all(line.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape_mountinfo("/mnt/a\\040b"), "/mnt/a b");
        assert_eq!(unescape_mountinfo("/plain"), "/plain");
    }

    #[test]
    fn fuse_conf_user_allow_other() {
        let debian_default = "# user_allow_other - Using the allow_other mount option\n#user_allow_other\n\n#mount_max = 1000\n";
        assert!(!fuse_conf_allows_other(debian_default));
        assert!(!fuse_conf_allows_other(""));
        assert!(!fuse_conf_allows_other("user_allow_other_not\n"));
        assert!(fuse_conf_allows_other(
            "mount_max = 9\n  user_allow_other  \n"
        ));
        assert!(fuse_conf_allows_other("user_allow_other # lab machines"));
    }

    #[test]
    fn systemd_notifications_reach_path_and_abstract_sockets() {
        use std::os::linux::net::SocketAddrExt;
        use std::os::unix::net::{SocketAddr, UnixDatagram};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let listener = UnixDatagram::bind(&path).unwrap();
        send_notification(path.as_os_str(), "READY=1").unwrap();
        let mut buf = [0u8; 64];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");

        let name = format!("djfs-test-{}", std::process::id());
        let abstract_listener =
            UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap())
                .unwrap();
        send_notification(std::ffi::OsStr::new(&format!("@{name}")), "STOPPING=1").unwrap();
        let n = abstract_listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STOPPING=1");

        assert!(send_notification(std::ffi::OsStr::new("relative"), "READY=1").is_err());
    }

    #[test]
    fn root_is_a_mount_point_and_a_fresh_dir_is_not() {
        assert!(is_mount_point(Path::new("/")));
        let dir = tempfile::tempdir().unwrap();
        assert!(!is_mount_point(dir.path()));
    }

    #[test]
    fn the_daemon_reads_its_mapped_code_ahead() {
        // This test binary stands for the daemon: its executable's mapped ranges (code and
        // constants, megabytes) are read once, whole.
        let exe = std::fs::metadata(std::fs::read_link("/proc/self/exe").unwrap()).unwrap();
        let read = read_own_code();
        assert!(read > 1 << 20, "{read} bytes read");
        assert!(
            read <= exe.len(),
            "{read} bytes of a {}-byte executable",
            exe.len()
        );
    }
}
