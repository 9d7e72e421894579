//! The `djfs` command.

use std::ffi::OsString;
use std::io::IsTerminal;
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use djfs::mount::{self, MountArgs};

#[derive(Parser)]
#[command(
    name = "djfs",
    version,
    about = "Mount a DataJoint schema as folders and files"
)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Subcommand)]
enum Commands {
    /// Mount one schema (or, without SCHEMA, every schema as a folder) at MOUNTPOINT.
    ///
    /// Connection and stores come from the DataJoint configuration: --config FILE, else
    /// ./dj_local_conf.json (0.14), else datajoint.json in the working folder or a folder above
    /// it up to a repository root (2.x, with secret files in .secrets/ beside it or
    /// /run/secrets/datajoint/), else ~/.datajoint_config.json (0.14); DJ_HOST, DJ_PORT, DJ_USER,
    /// DJ_PASS, DJ_BACKEND, DJ_DATABASE_NAME, DJ_USE_TLS and DJ_STORES override it. Unmount with
    /// `umount MOUNTPOINT` or `fusermount3 -u MOUNTPOINT`.
    Mount(MountCli),
    /// Delete the stored objects no row of SCHEMA references: in a 0.14 store with their
    /// tracking rows, as the client's `schema.external[store].delete(delete_external_files=True)`
    /// does; in a 2.x store what `dj.gc.GarbageCollector(schema, store=…).collect()` collects.
    Gc(GcCli),
}

#[derive(Parser)]
struct GcCli {
    /// The schema whose stores to clean
    schema: String,
    /// Only this store
    #[arg(long)]
    store: Option<String>,
    /// Only count what would be deleted
    #[arg(long)]
    dry_run: bool,
    /// Print each object deleted (or, with --dry-run, that would be) on stdout, one per line:
    /// STORE, a tab, and its name in .unused (a 2.x object: its path in the store)
    #[arg(long)]
    list: bool,
    /// DataJoint config file (JSON, as the client writes it)
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Log level
    #[arg(long, default_value = "warn", value_name = "LEVEL")]
    log_level: String,
}

fn gc(g: GcCli) -> ExitCode {
    if let Err(e) = init_logging(&g.log_level, None) {
        eprintln!("djfs: {e}");
        return ExitCode::from(2);
    }
    let run = || -> anyhow::Result<djfs::gc::Summary> {
        let cfg = djfs::config::load(g.config.as_deref())?;
        let db = djfs::backend::connect(&cfg.database, djfs::backend::mysql::DEFAULT_CONNECTIONS)?;
        if !db.schema_exists(&g.schema)? {
            anyhow::bail!("unknown schema {:?}", g.schema);
        }
        let stores = djfs::stores::Stores::new(&cfg.stores, cfg.cache.clone())?;
        // What crashed mounts left (unfinished uploads, partial files, objects no tracking row
        // knows) first, so that the collection below is complete.
        let recovered = if g.dry_run {
            Default::default()
        } else {
            djfs::journal::recover_stale(&*db, &stores)
        };
        if recovered.folders + recovered.kept > 0 {
            eprintln!(
                "recovered {} staging folders of crashed mounts ({} kept for a later try)",
                recovered.folders, recovered.kept
            );
        }
        let opts = djfs::gc::GcOptions {
            only: g.store.as_deref(),
            dry_run: g.dry_run,
            list: g.list,
        };
        djfs::gc::collect(&*db, &stores, &g.schema, opts)
    };
    match run() {
        Ok(s) => {
            let (verb, freed) = if g.dry_run {
                ("would delete", "would be freed")
            } else {
                ("deleted", "freed")
            };
            println!(
                "{verb} {} objects, {} bytes {freed}; {} referenced meanwhile, {} failed",
                s.deleted, s.bytes, s.referenced, s.failed
            );
            if s.failed > 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("djfs: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Parser)]
// `[SCHEMA] MOUNTPOINT`: one positional argument is the mountpoint.
#[command(
    allow_missing_positional = true,
    override_usage = "djfs mount [OPTIONS] [SCHEMA] MOUNTPOINT"
)]
struct MountCli {
    /// The schema to mount; without it, every schema the user may see, one folder each
    #[arg(value_name = "SCHEMA")]
    schema: Option<String>,
    /// The folder to mount on
    #[arg(value_name = "MOUNTPOINT")]
    mountpoint: String,
    /// DataJoint config file (JSON, as the client writes it)
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Stay attached to the terminal (for systemd and debugging); logs go to stderr
    #[arg(long)]
    foreground: bool,
    /// Mount read-only (files 0444, folders 0555)
    #[arg(long)]
    read_only: bool,
    /// Let other users access the mount (needs user_allow_other in /etc/fuse.conf unless root)
    #[arg(long)]
    allow_other: bool,
    /// Log level: error, warn, info, debug, trace (or a tracing filter)
    #[arg(long, default_value = "info", value_name = "LEVEL")]
    log_level: String,
    /// Log file; default in the background: ~/.local/state/djfs/<mountpoint>.log (without a
    /// usable home: $XDG_RUNTIME_DIR/djfs/ or the temp folder, as said on stderr)
    #[arg(long, value_name = "FILE")]
    log_file: Option<PathBuf>,
    /// Seconds before changes made by other clients show (listings and attributes are cached
    /// this long, in djfs and in the kernel)
    #[arg(long, default_value_t = 1.0, value_name = "SECONDS")]
    refresh: f64,
    /// FUSE worker threads
    #[arg(long, default_value_t = 8)]
    threads: usize,
    /// At most this many database connections at once (more requests wait for one); idle ones
    /// are closed after a minute
    #[arg(long, default_value_t = djfs::backend::mysql::DEFAULT_CONNECTIONS, value_name = "N")]
    db_connections: usize,
    /// About how many MiB of memory the mount's caches may hold together (listings, rows,
    /// blob heads, renderings, value times); the least recently used go first
    #[arg(long, default_value_t = djfs::fs::DEFAULT_CACHE_MIB, value_name = "MIB")]
    cache_mib: usize,
    /// Rows in the first page of a table listing read from the database (later pages grow):
    /// `ls | head` of a table of millions of rows waits for this many
    #[arg(long, default_value_t = djfs::fs::FIRST_PAGE_ROWS, value_name = "N", hide = true)]
    page_rows: usize,
    /// Never hand files to the kernel to read directly (FUSE passthrough, used by root mounts
    /// for folder-store and cache files)
    #[arg(long)]
    no_passthrough: bool,
    /// Removing a row folder also deletes the rows of other tables that depend on it
    #[arg(long)]
    cascade_delete: bool,
    /// Internal: pipe to report readiness to the launching process
    #[arg(long, hide = true)]
    ready_fd: Option<i32>,
}

fn init_logging(level: &str, file: Option<&PathBuf>) -> Result<(), String> {
    let filter = tracing_subscriber::EnvFilter::try_new(format!("warn,djfs={level}"))
        .map_err(|e| format!("bad --log-level {level:?}: {e}"))?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match file {
        Some(path) => {
            if let Some(dir) = path.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("cannot open log file {}: {e}", path.display()))?;
            builder
                .with_ansi(false)
                .with_writer(std::sync::Mutex::new(f))
                .init();
        }
        // Colours only on a terminal (a redirected stderr is a log file).
        None => builder
            .with_ansi(std::io::stderr().is_terminal())
            .with_writer(std::io::stderr)
            .init(),
    }
    Ok(())
}

fn log_name(mountpoint: &str) -> String {
    let name: String = mountpoint
        .trim_matches('/')
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("{}.log", if name.is_empty() { "root" } else { &name })
}

/// `~/.local/state/djfs/<mountpoint>.log` (or under `$XDG_STATE_HOME`), if there is a home.
fn default_log_file(mountpoint: &str) -> Option<PathBuf> {
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            // A home that does not exist is not made (root could make it): fall back instead.
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .filter(|h| h.is_dir())
                .map(|h| h.join(".local/state"))
        })?;
    Some(state.join("djfs").join(log_name(mountpoint)))
}

fn try_log_file(path: &std::path::Path) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map(|_| ())
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// A private folder for logs when there is no usable home: `$XDG_RUNTIME_DIR/djfs`, else
/// `<temp>/djfs-logs-<uid>` (0700, checked as staging folders are), else a fresh random one.
fn fallback_log_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(runtime) = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
        if runtime.is_absolute() && djfs::staging::is_private(&runtime) {
            dirs.push(runtime.join("djfs"));
        }
    }
    let uid = unsafe { libc::geteuid() };
    let temp = std::env::temp_dir().join(format!("djfs-logs-{uid}"));
    let _ = std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&temp)
        .or_else(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                Ok(())
            } else {
                Err(e)
            }
        });
    match djfs::staging::check_private(&temp) {
        Ok(()) => dirs.push(temp),
        Err(_) => {
            if let Ok(dir) = djfs::staging::make_temp_dir(&format!("djfs-logs-{uid}-")) {
                dirs.push(dir);
            }
        }
    }
    dirs
}

/// Where the background daemon logs without `--log-file`: the default place, else a private
/// fallback; the second value says why the default was not used (printed on stderr).
fn background_log_file(mountpoint: &str) -> (PathBuf, Option<String>) {
    let default = default_log_file(mountpoint);
    let why = match &default {
        Some(path) => match try_log_file(path) {
            Ok(()) => return (path.clone(), None),
            Err(e) => format!("cannot open log file {e}"),
        },
        None => format!(
            "no home folder to log in ({})",
            std::env::var("HOME")
                .map(|h| format!("{h} does not exist"))
                .unwrap_or_else(|_| "HOME is not set".into())
        ),
    };
    for dir in fallback_log_dirs() {
        let path = dir.join(log_name(mountpoint));
        if try_log_file(&path).is_ok() {
            let note = format!("djfs: {why}; the log goes to {}", path.display());
            return (path, Some(note));
        }
    }
    // Nothing usable: the original reason is what the mount reports.
    (
        default.unwrap_or_else(|| PathBuf::from("/nonexistent/djfs.log")),
        None,
    )
}

fn main() -> ExitCode {
    // A mount answers on dozens of worker threads; glibc would give them up to 16 malloc arenas
    // (8 per core), each keeping freed memory of its own. Two keep the daemon's memory close to
    // what its caches and inodes hold.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
    let cli = Cli::parse();
    let m = match cli.command {
        Commands::Mount(m) => m,
        Commands::Gc(g) => return gc(g),
    };
    let (schema, mountpoint) = (m.schema.clone(), m.mountpoint.clone());
    if !(m.refresh.is_finite() && m.refresh >= 0.0) {
        eprintln!("djfs: --refresh must be a number of seconds >= 0");
        return ExitCode::from(2);
    }

    // A config file holding a password that others may read: said on the command's stderr when
    // the log goes elsewhere (the daemon logs it too, when it reads the file). In the background
    // case once the mount is up, so that a failure stays one line.
    let secrets_warning = (!m.foreground || (m.log_file.is_some() && m.ready_fd.is_none()))
        .then(|| djfs::config::exposed_secrets_warning_for(m.config.as_deref()))
        .flatten()
        .map(|w| format!("djfs: warning: {w}"));
    if m.foreground {
        if let Some(warning) = &secrets_warning {
            eprintln!("{warning}");
        }
    }

    if !m.foreground {
        // Forward our own arguments (never a password: that is only in the config or env).
        let forward: Vec<OsString> = std::env::args_os().skip(1).collect();
        let log_file = match &m.log_file {
            Some(path) => path.clone(),
            None => {
                let (path, note) = background_log_file(&mountpoint);
                if let Some(note) = note {
                    eprintln!("{note}");
                }
                path
            }
        };
        let mut forward = forward;
        if m.log_file.is_none() {
            forward.push(OsString::from("--log-file"));
            forward.push(log_file.clone().into_os_string());
        }
        return match mount::spawn_background(&forward, &log_file) {
            Ok(()) => {
                if let Some(warning) = &secrets_warning {
                    eprintln!("{warning}");
                }
                ExitCode::SUCCESS
            }
            Err(reason) => {
                eprintln!("djfs: {reason}");
                ExitCode::FAILURE
            }
        };
    }

    if let Some(fd) = m.ready_fd {
        mount::protect_ready_fd(fd);
    }
    mount::block_termination_signals();
    if let Err(e) = init_logging(&m.log_level, m.log_file.as_ref()) {
        if let Some(fd) = m.ready_fd {
            mount::report_ready(fd, Err(e.clone()));
        }
        eprintln!("djfs: {e}");
        return ExitCode::from(2);
    }
    let args = MountArgs {
        schema,
        mountpoint: PathBuf::from(&mountpoint),
        config: m.config.clone(),
        read_only: m.read_only,
        allow_other: m.allow_other,
        refresh: Duration::from_secs_f64(m.refresh),
        threads: m.threads,
        db_connections: m.db_connections,
        cache_mib: m.cache_mib,
        page_rows: m.page_rows,
        no_passthrough: m.no_passthrough,
        cascade_delete: m.cascade_delete,
    };
    let ready_fd = m.ready_fd;
    let result = mount::run_foreground(&args, |r| {
        if let Err(reason) = &r {
            tracing::error!("{reason}");
            if ready_fd.is_none() {
                eprintln!("djfs: {reason}");
            }
        }
        match ready_fd {
            Some(fd) => mount::report_ready(fd, r),
            // Run by systemd (Type=notify): READY=1 once the mount is usable.
            None => match &r {
                Ok(()) => mount::notify_systemd(&format!("READY=1\nSTATUS=mounted {mountpoint}")),
                Err(reason) => mount::notify_systemd(&format!("STATUS={reason}")),
            },
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}
