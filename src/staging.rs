//! Where written bytes wait until the file is closed: memory up to a bound, then a temporary
//! file in this mount's private staging folder, which also holds the upload journal
//! (`crate::journal`).
//!
//! The staging folder is `<base>/<pid>-<random>`, mode 0700, with `<base>` the first usable of
//! `<cache>/djfs-staging` (when the DataJoint config has a `cache`), `$XDG_RUNTIME_DIR/djfs-staging`
//! and `<temp>/djfs-staging-<uid>`, each mode 0700. A base that exists already must be a real
//! folder (not a symbolic link) owned by this user that no one else may write; one that is only
//! readable by others (as older versions made it) is tightened to 0700; any other is refused with
//! a log line and a fresh `<temp>/djfs-staging-<uid>-<random>` (0700) is made instead. Staged files
//! are created with `O_EXCL | O_NOFOLLOW`, mode 0600. The folder's `lock` file is held
//! (`flock`) for the life of the process: a folder whose lock can be taken belongs to a process
//! that is gone, and is recovered and removed by the next mount or `djfs gc`.

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use md5::{Digest, Md5};

/// Bytes kept in memory before a write moves to a temporary file.
pub const MEMORY_LIMIT: usize = 8 << 20;

/// The lock file in each staging folder, held while its process runs.
pub const LOCK_FILE: &str = "lock";

/// Locks of this process's staging folders, held until it exits.
static HELD_LOCKS: Mutex<Vec<File>> = Mutex::new(Vec::new());

fn uid() -> u32 {
    unsafe { libc::geteuid() }
}

/// Where staging folders may live, in order of preference (see the module documentation).
pub fn candidate_bases(cache: Option<&Path>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(cache) = cache {
        out.push(cache.join("djfs-staging"));
    }
    if let Some(runtime) = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
        // Usable only when it is what the specification says: ours, 0700, absolute.
        if runtime.is_absolute() && is_private(&runtime) {
            out.push(runtime.join("djfs-staging"));
        }
    }
    out.push(std::env::temp_dir().join(format!("djfs-staging-{}", uid())));
    out
}

/// Whether a folder is a real folder of this user that no one else may use (nothing changed).
pub fn is_private(path: &Path) -> bool {
    std::fs::symlink_metadata(path)
        .is_ok_and(|m| m.file_type().is_dir() && m.uid() == uid() && m.mode() & 0o077 == 0)
}

/// Why an existing folder may not hold staged bytes, or Ok. Looks at the entry itself (lstat):
/// a symbolic link is refused. A folder of ours that others may only read is tightened to 0700.
pub fn check_private(path: &Path) -> Result<(), String> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| e.to_string())?;
    if meta.file_type().is_symlink() {
        return Err("it is a symbolic link".into());
    }
    if !meta.is_dir() {
        return Err("it is not a folder".into());
    }
    if meta.uid() != uid() {
        return Err(format!(
            "it is owned by uid {}, not by this user (uid {})",
            meta.uid(),
            uid()
        ));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(format!("others may write into it (mode {mode:04o})"));
    }
    if mode & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| format!("mode {mode:04o} and it cannot be made private: {e}"))?;
        tracing::info!(
            "staging folder {} was mode {mode:04o}: made private (0700)",
            path.display()
        );
    }
    Ok(())
}

/// What happened to a candidate base.
enum BaseError {
    /// It exists and is not safe: a fresh random folder is made instead.
    Refused(String),
    /// It cannot be made (e.g. a read-only cache): the next candidate is tried.
    Unavailable(io::Error),
}

fn make_private_base(path: &Path) -> Result<(), BaseError> {
    if let Some(parent) = path.parent() {
        if !parent.exists() {
            std::fs::create_dir_all(parent).map_err(BaseError::Unavailable)?;
        }
    }
    match std::fs::DirBuilder::new().mode(0o700).create(path) {
        Ok(()) => {
            // The umask may have taken bits away; never added any.
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
                .map_err(BaseError::Unavailable)?;
            check_private(path).map_err(BaseError::Refused)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            check_private(path).map_err(BaseError::Refused)
        }
        Err(e) => Err(BaseError::Unavailable(e)),
    }
}

/// `mkdtemp(3)`: a new folder `<template without XXXXXX><random>`, mode 0700.
fn mkdtemp(template: &Path) -> io::Result<PathBuf> {
    let c = CString::new(template.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let raw = c.into_raw();
    let made = unsafe { libc::mkdtemp(raw) };
    let c = unsafe { CString::from_raw(raw) };
    if made.is_null() {
        return Err(io::Error::last_os_error());
    }
    Ok(PathBuf::from(std::ffi::OsStr::from_bytes(c.as_bytes())))
}

/// A new private folder `<temp>/<prefix><random>` (mode 0700).
pub fn make_temp_dir(prefix: &str) -> io::Result<PathBuf> {
    mkdtemp(&std::env::temp_dir().join(format!("{prefix}XXXXXX")))
}

/// The prefix of random fallback bases in the temp folder.
fn fallback_prefix() -> String {
    format!("djfs-staging-{}-", uid())
}

/// The private base of this process's staging folder (see the module documentation).
fn choose_base(candidates: Vec<PathBuf>, temp: &Path) -> io::Result<PathBuf> {
    for base in candidates {
        match make_private_base(&base) {
            Ok(()) => return Ok(base),
            Err(BaseError::Refused(why)) => {
                tracing::warn!(
                    "staging folder {}: {why}; not using it (a new private folder is made instead)",
                    base.display()
                );
                break;
            }
            Err(BaseError::Unavailable(e)) => {
                tracing::warn!(
                    "staging folder {}: {e}; trying the next place",
                    base.display()
                );
            }
        }
    }
    let made = mkdtemp(&temp.join(format!("{}XXXXXX", fallback_prefix())))?;
    tracing::warn!("staging in the new private folder {}", made.display());
    Ok(made)
}

/// Creates a file that must not exist yet, never following a symbolic link, mode 0600.
pub fn create_private_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

fn flock(file: &File, nonblocking: bool) -> io::Result<()> {
    let flags = libc::LOCK_EX | if nonblocking { libc::LOCK_NB } else { 0 };
    if unsafe { libc::flock(file.as_raw_fd(), flags) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// This process's private staging folder, `<base>/<pid>-<random>` (0700), locked for the life
/// of the process. Stale folders are not touched here: `crate::journal::recover_stale` recovers
/// and removes them.
pub fn prepare(cache: Option<&Path>) -> io::Result<PathBuf> {
    let base = choose_base(candidate_bases(cache), &std::env::temp_dir())?;
    prepare_in(&base)
}

/// The mount's staging folder, with the upload journal in it installed in `stores`. If no
/// private folder can be made at all, writes larger than `MEMORY_LIMIT` fail (EIO, logged) rather
/// than going to a shared place.
pub fn setup(stores: &crate::stores::Stores) -> PathBuf {
    match prepare(stores.cache_dir()) {
        Ok(dir) => {
            stores.set_journal(crate::journal::Journal::new(&dir));
            dir
        }
        Err(e) => {
            tracing::error!(
                "no private staging folder could be made ({e}): large writes will fail, and uploads are not journaled"
            );
            PathBuf::from("/nonexistent/djfs-staging")
        }
    }
}

fn prepare_in(base: &Path) -> io::Result<PathBuf> {
    let dir = mkdtemp(&base.join(format!("{}-XXXXXX", std::process::id())))?;
    let lock = create_private_file(&dir.join(LOCK_FILE))?;
    flock(&lock, true)?;
    HELD_LOCKS.lock().unwrap().push(lock);
    tracing::info!("staging folder {}", dir.display());
    Ok(dir)
}

/// A staging folder of a process that is gone, locked by us while it is recovered.
pub struct StaleFolder {
    pub path: PathBuf,
    _lock: Option<File>,
}

impl StaleFolder {
    /// Removes the folder (its journal is settled); a random fallback base left empty goes too.
    pub fn remove(self) -> io::Result<()> {
        std::fs::remove_dir_all(&self.path)?;
        if let Some(base) = self.path.parent() {
            let random_base = base.parent() == Some(std::env::temp_dir().as_path())
                && base
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&fallback_prefix()));
            if random_base {
                let _ = std::fs::remove_dir(base); // only when empty
            }
        }
        Ok(())
    }
}

/// Every base this user's staging folders may be in (existing, private ones only).
fn existing_bases(cache: Option<&Path>) -> Vec<PathBuf> {
    let mut bases: Vec<PathBuf> = candidate_bases(cache)
        .into_iter()
        .filter(|b| std::fs::symlink_metadata(b).is_ok())
        .collect();
    if let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) {
        for e in entries.flatten() {
            if e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(&fallback_prefix()))
            {
                bases.push(e.path());
            }
        }
    }
    bases.retain(|b| match check_private(b) {
        Ok(()) => true,
        Err(why) => {
            tracing::debug!("not looking for stale staging in {}: {why}", b.display());
            false
        }
    });
    bases
}

/// Staging folders of processes that are gone (their lock is free, or, for folders without a
/// lock file, no process has their pid), each locked by us until dropped.
pub fn stale_folders(cache: Option<&Path>) -> Vec<StaleFolder> {
    existing_bases(cache)
        .iter()
        .flat_map(|base| stale_in(base))
        .collect()
}

fn stale_in(base: &Path) -> Vec<StaleFolder> {
    let mut out = Vec::new();
    {
        let Ok(entries) = std::fs::read_dir(base) else {
            return out;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name
                .to_str()
                .and_then(|n| n.split('-').next())
                .and_then(|p| p.parse::<u32>().ok())
            else {
                continue;
            };
            let path = entry.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if !meta.is_dir() || meta.uid() != uid() {
                continue;
            }
            let lock_path = path.join(LOCK_FILE);
            let lock = OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(&lock_path);
            match lock {
                Ok(lock) => {
                    if flock(&lock, true).is_ok() {
                        out.push(StaleFolder {
                            path,
                            _lock: Some(lock),
                        });
                    }
                }
                // Made by an older version, or just being made: by its pid.
                Err(_) if !Path::new(&format!("/proc/{pid}")).exists() => {
                    out.push(StaleFolder { path, _lock: None });
                }
                Err(_) => {}
            }
        }
    }
    out
}

pub struct Staging {
    dir: PathBuf,
    memory: Vec<u8>,
    file: Option<(File, PathBuf)>,
    len: u64,
    /// MD5 of `prefix` + the bytes so far, kept up to date while writes only append (as `cp`
    /// writes), so the hash needs no second pass over a large file.
    streaming: Option<(Vec<u8>, Md5)>,
}

impl Staging {
    pub fn new(dir: &Path) -> Staging {
        Staging {
            dir: dir.to_path_buf(),
            memory: Vec::new(),
            file: None,
            len: 0,
            streaming: None,
        }
    }

    /// Staging that hashes `prefix` + contents as they are appended.
    pub fn hashing(dir: &Path, prefix: &[u8]) -> Staging {
        let mut md5 = Md5::new();
        md5.update(prefix);
        let mut staging = Staging::new(dir);
        staging.streaming = Some((prefix.to_vec(), md5));
        staging
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The staged bytes are in a file (large content): its path.
    pub fn file_path(&self) -> Option<&Path> {
        self.file.as_ref().map(|(_, p)| p.as_path())
    }

    fn spill(&mut self) -> io::Result<()> {
        let path = self.dir.join(format!(
            "write-{}-{}",
            std::process::id(),
            STAGING_COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let mut file = create_private_file(&path)?;
        if let Err(e) = file.write_all(&self.memory) {
            // A full filesystem: no half-written file is left behind.
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        self.memory = Vec::new();
        self.file = Some((file, path));
        Ok(())
    }

    pub fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        let end = offset + data.len() as u64;
        if offset == self.len {
            if let Some((_, md5)) = &mut self.streaming {
                md5.update(data);
            }
        } else {
            self.streaming = None; // not an append: hash at the end instead
        }
        if self.file.is_none() && end as usize > MEMORY_LIMIT {
            self.spill()?;
        }
        match &mut self.file {
            Some((file, _)) => file.write_all_at(data, offset)?,
            None => {
                if self.memory.len() < end as usize {
                    self.memory.resize(end as usize, 0);
                }
                self.memory[offset as usize..end as usize].copy_from_slice(data);
            }
        }
        self.len = self.len.max(end);
        Ok(())
    }

    pub fn truncate(&mut self, len: u64) -> io::Result<()> {
        if len != self.len {
            self.streaming = match (len, self.streaming.take()) {
                (0, Some((prefix, _))) => {
                    let mut md5 = Md5::new();
                    md5.update(&prefix);
                    Some((prefix, md5))
                }
                _ => None,
            };
        }
        match &mut self.file {
            Some((file, _)) => file.set_len(len)?,
            None if len as usize > MEMORY_LIMIT => {
                self.spill()?;
                return self.truncate(len);
            }
            None => self.memory.resize(len as usize, 0),
        }
        self.len = len;
        Ok(())
    }

    /// All staged bytes in memory (for values that must be encoded or sent as one).
    pub fn to_vec(&self) -> io::Result<Vec<u8>> {
        match &self.file {
            None => Ok(self.memory.clone()),
            Some((file, _)) => {
                let mut out = vec![0; self.len as usize];
                file.read_exact_at(&mut out, 0)?;
                Ok(out)
            }
        }
    }

    /// The first `n` staged bytes (fewer when less is staged).
    pub fn read_prefix(&self, n: usize) -> io::Result<Vec<u8>> {
        let n = n.min(self.len as usize);
        match &self.file {
            None => Ok(self.memory[..n].to_vec()),
            Some((file, _)) => {
                let mut out = vec![0; n];
                file.read_exact_at(&mut out, 0)?;
                Ok(out)
            }
        }
    }

    /// MD5 of `prefix` followed by the staged bytes, read in chunks.
    pub fn md5_with_prefix(&self, prefix: &[u8]) -> io::Result<[u8; 16]> {
        if let Some((streamed_prefix, md5)) = &self.streaming {
            if streamed_prefix == prefix {
                return Ok(md5.clone().finalize().into());
            }
        }
        let mut md5 = Md5::new();
        md5.update(prefix);
        match &self.file {
            None => md5.update(&self.memory),
            Some((file, _)) => {
                let mut f = file.try_clone()?;
                f.seek(SeekFrom::Start(0))?;
                let mut buf = vec![0u8; 1 << 20];
                loop {
                    let n = f.read(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    md5.update(&buf[..n]);
                }
            }
        }
        Ok(md5.finalize().into())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if let Some((_, path)) = &self.file {
            let _ = std::fs::remove_file(path);
        }
    }
}

static STAGING_COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spills_to_a_file_and_hashes_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let mut small = Staging::new(dir.path());
        small.write_at(0, b"hello").unwrap();
        small.write_at(5, b" world").unwrap();
        assert_eq!(small.to_vec().unwrap(), b"hello world");
        assert_eq!(small.read_prefix(4).unwrap(), b"hell");
        assert_eq!(small.read_prefix(99).unwrap(), b"hello world");
        assert!(small.file_path().is_none());

        let mut big = Staging::new(dir.path());
        let chunk = vec![7u8; 1 << 20];
        for i in 0..10 {
            big.write_at(i << 20, &chunk).unwrap();
        }
        assert!(big.file_path().is_some());
        assert_eq!(big.read_prefix(3).unwrap(), vec![7, 7, 7]);
        // The same hash whether streamed while appending or computed afterwards.
        let mut streamed = Staging::hashing(dir.path(), b"name\0");
        for i in 0..10 {
            streamed.write_at(i << 20, &chunk).unwrap();
        }
        assert_eq!(big.len(), 10 << 20);
        let all = big.to_vec().unwrap();
        let mut md5 = Md5::new();
        md5.update(b"name\0");
        md5.update(&all);
        let expected: [u8; 16] = md5.finalize().into();
        assert_eq!(big.md5_with_prefix(b"name\0").unwrap(), expected);
        assert!(streamed.streaming.is_some());
        assert_eq!(streamed.md5_with_prefix(b"name\0").unwrap(), expected);
        streamed.write_at(5, b"x").unwrap(); // not an append: falls back to a full pass
        assert!(streamed.streaming.is_none());
        big.truncate(3).unwrap();
        assert_eq!(big.to_vec().unwrap(), vec![7, 7, 7]);
        let path = big.file_path().unwrap().to_path_buf();
        drop(big);
        assert!(!path.exists(), "temp file removed");
    }

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path).unwrap().mode() & 0o7777
    }

    #[test]
    fn staging_folders_and_files_are_private() {
        let temp = tempfile::tempdir().unwrap();
        let base = temp.path().join("cache/djfs-staging");
        let chosen = choose_base(vec![base.clone()], temp.path()).unwrap();
        assert_eq!(chosen, base);
        assert_eq!(mode(&base), 0o700);
        let dir = prepare_in(&base).unwrap();
        assert_eq!(mode(&dir), 0o700);
        let name = dir.file_name().unwrap().to_str().unwrap().to_string();
        assert!(
            name.starts_with(&format!("{}-", std::process::id())),
            "{name}"
        );
        assert_eq!(mode(&dir.join(LOCK_FILE)), 0o600);
        let mut big = Staging::new(&dir);
        big.write_at(0, &vec![1u8; MEMORY_LIMIT + 1]).unwrap();
        assert_eq!(mode(big.file_path().unwrap()), 0o600);
        // A second folder of the same process is a different one.
        assert_ne!(prepare_in(&base).unwrap(), dir);
    }

    #[test]
    fn unsafe_existing_bases_are_refused_and_a_fresh_private_one_is_used() {
        let temp = tempfile::tempdir().unwrap();
        let elsewhere = temp.path().join("theirs");
        std::fs::create_dir(&elsewhere).unwrap();
        std::fs::set_permissions(&elsewhere, std::fs::Permissions::from_mode(0o777)).unwrap();
        // A symbolic link to a folder (even one of ours) is refused.
        let link = temp.path().join("link");
        std::os::unix::fs::symlink(&elsewhere, &link).unwrap();
        assert!(check_private(&link).unwrap_err().contains("symbolic link"));
        // A folder others may write into.
        assert!(check_private(&elsewhere).unwrap_err().contains("0777"));
        let chosen = choose_base(vec![link.clone()], temp.path()).unwrap();
        assert_ne!(chosen, link);
        assert!(chosen.starts_with(temp.path()));
        assert!(chosen
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with(&fallback_prefix()));
        assert_eq!(mode(&chosen), 0o700);
        let dir = prepare_in(&chosen).unwrap();
        assert!(dir.starts_with(&chosen));
        assert_eq!(
            std::fs::read_dir(&elsewhere).unwrap().count(),
            0,
            "nothing went through the link"
        );
        // A folder of ours that others may only read (as older versions made it): tightened.
        let old = temp.path().join("old");
        std::fs::create_dir(&old).unwrap();
        std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o755)).unwrap();
        check_private(&old).unwrap();
        assert_eq!(mode(&old), 0o700);
        // A folder owned by someone else (needs root to make one).
        if uid() == 0 {
            let foreign = temp.path().join("foreign");
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(&foreign)
                .unwrap();
            std::os::unix::fs::chown(&foreign, Some(65534), Some(65534)).unwrap();
            assert!(check_private(&foreign).unwrap_err().contains("uid 65534"));
            let chosen = choose_base(vec![foreign.clone()], temp.path()).unwrap();
            assert_ne!(chosen, foreign);
        }
        // A file planted where a staged file goes is never opened or followed.
        let planted = dir.join("planted");
        std::os::unix::fs::symlink(elsewhere.join("x"), &planted).unwrap();
        assert!(create_private_file(&planted).is_err());
        assert!(!elsewhere.join("x").exists());
    }

    #[test]
    fn only_folders_of_processes_that_are_gone_are_stale() {
        let temp = tempfile::tempdir().unwrap();
        let base = temp.path();
        let live = prepare_in(base).unwrap();
        // Gone: its lock is free.
        let gone = base.join("999999999-abcdef");
        std::fs::create_dir(&gone).unwrap();
        std::fs::write(gone.join(LOCK_FILE), b"").unwrap();
        // Made by an older version, pid gone.
        let legacy = base.join("999999998");
        std::fs::create_dir(&legacy).unwrap();
        // No lock file yet, pid alive (a folder being made).
        let making = base.join(format!("{}-zzzzzz", std::process::id()));
        std::fs::create_dir(&making).unwrap();
        let mut stale: Vec<PathBuf> = stale_in(base).into_iter().map(|s| s.path).collect();
        stale.sort();
        assert_eq!(stale, vec![legacy.clone(), gone.clone()]);
        assert!(live.exists());
        // While one recoverer holds a stale folder, another does not get it.
        let held = stale_in(base);
        let again: Vec<PathBuf> = stale_in(base).into_iter().map(|s| s.path).collect();
        assert!(!again.contains(&gone), "{again:?}");
        for s in held {
            s.remove().unwrap();
        }
        assert!(!gone.exists() && !legacy.exists() && live.exists());
    }
}
