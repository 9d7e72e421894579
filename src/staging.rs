//! Where written bytes wait until the file is closed: memory up to a bound, then a temporary
//! file in this mount's staging folder. Staging folders of mounts that are gone (crashed) are
//! removed when the next mount starts.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use md5::{Digest, Md5};

/// Bytes kept in memory before a write moves to a temporary file.
pub const MEMORY_LIMIT: usize = 8 << 20;

/// This mount's staging folder: `<base>/<pid>`; folders of processes that are gone are removed.
pub fn prepare_dir(base: &Path) -> io::Result<PathBuf> {
    std::fs::create_dir_all(base)?;
    for entry in std::fs::read_dir(base)?.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            tracing::info!("removing stale staging folder {}", entry.path().display());
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    let dir = base.join(std::process::id().to_string());
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
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
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        file.write_all(&self.memory)?;
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
        assert!(small.file_path().is_none());

        let mut big = Staging::new(dir.path());
        let chunk = vec![7u8; 1 << 20];
        for i in 0..10 {
            big.write_at(i << 20, &chunk).unwrap();
        }
        assert!(big.file_path().is_some());
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

    #[test]
    fn stale_folders_of_dead_mounts_are_removed() {
        let base = tempfile::tempdir().unwrap();
        let stale = base.path().join("999999999");
        std::fs::create_dir_all(&stale).unwrap();
        std::fs::write(stale.join("write-1"), b"x").unwrap();
        let mine = prepare_dir(base.path()).unwrap();
        assert!(!stale.exists());
        assert!(mine.ends_with(std::process::id().to_string()));
    }
}
