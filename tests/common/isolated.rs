//! Mounts with their own temp folder (so their staging folders are the test's alone) and what
//! the stores hold on this machine: the helpers of the crash and fault tests.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use super::{client, eventually};

/// A background mount with its own temp folder; unmounted (and its daemon waited for) on drop.
pub struct TestMount {
    pub path: PathBuf,
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

impl TestMount {
    pub fn new(config: &Path, schema: &str, tmp: &Path) -> TestMount {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mnt");
        std::fs::create_dir(&path).unwrap();
        let log = dir.path().join("djfs.log");
        let out = super::djfs()
            .env("TMPDIR", tmp)
            .env_remove("XDG_RUNTIME_DIR")
            .arg("mount")
            .arg("--config")
            .arg(config)
            .arg("--log-file")
            .arg(&log)
            .arg(schema)
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mount failed: {}\nlog:\n{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        TestMount {
            path,
            log,
            _dir: dir,
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        super::daemon_pids(&self.path)[0]
    }

    /// The staging folder the daemon logged (`staging folder <path>`).
    pub fn staging(&self) -> PathBuf {
        let pid = self.pid();
        let text = self.log_text();
        text.lines()
            .filter_map(|l| l.split_once("staging folder /").map(|(_, p)| p))
            .map(|p| PathBuf::from(format!("/{}", p.trim())))
            .find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&format!("{pid}-")))
            })
            .unwrap_or_else(|| panic!("no staging folder in the log:\n{text}"))
    }

    pub fn kill(&self) {
        let pid = self.pid();
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        assert!(eventually(Duration::from_secs(10), || !Path::new(
            &format!("/proc/{pid}")
        )
        .exists()));
    }
}

impl Drop for TestMount {
    fn drop(&mut self) {
        let pids = super::daemon_pids(&self.path);
        super::unmount(&self.path);
        for pid in pids {
            eventually(Duration::from_secs(30), || {
                !Path::new(&format!("/proc/{pid}")).exists()
            });
        }
    }
}

/// The journal records in a staging folder.
pub fn records(staging: &Path) -> Vec<Value> {
    let Ok(entries) = std::fs::read_dir(staging) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| {
            let n = e.file_name().to_string_lossy().to_string();
            n.starts_with("upload-") && n.ends_with(".json")
        })
        .filter_map(|e| serde_json::from_slice(&std::fs::read(e.path()).ok()?).ok())
        .collect()
}

/// `size` bytes that repeat nowhere (so no store has them yet), different for each `seed`.
pub fn big_file(path: &Path, size_mib: u32, seed: u8) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut block = vec![0u8; 1 << 20];
    for i in 0..size_mib {
        for (j, b) in block.iter_mut().enumerate() {
            *b = (i as usize * 31 + j * 7 + seed as usize * 13 + (j >> 8)) as u8;
        }
        f.write_all(&block).unwrap();
    }
}

/// Bytes that differ between runs.
pub fn nonce() -> Vec<u8> {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    format!("{}-{}", t.as_nanos(), std::process::id()).into_bytes()
}

/// The folder the private s3s-fs serves (buckets are its subfolders).
pub fn s3_data() -> PathBuf {
    PathBuf::from(super::test_var("DJFS_S3_DATA"))
}

/// s3s-fs's files of one multipart upload: `.upload-<id>.json` and `.upload_id-<id>.part-<n>`.
pub fn upload_files(id: &str) -> Vec<PathBuf> {
    std::fs::read_dir(s3_data())
        .unwrap()
        .flatten()
        .filter(|e| {
            let n = e.file_name().to_string_lossy().to_string();
            n == format!(".upload-{id}.json") || n.starts_with(&format!(".upload_id-{id}."))
        })
        .map(|e| e.path())
        .collect()
}

pub fn store_spec(config: &Path, store: &str) -> Value {
    let cfg: Value = serde_json::from_slice(&std::fs::read(config).unwrap()).unwrap();
    cfg["stores"][store].clone()
}

/// Where a store keeps the schema's objects on this machine (s3s-fs serves a folder).
pub fn store_folder(config: &Path, store: &str, schema: &str) -> PathBuf {
    let spec = store_spec(config, store);
    let location = spec["location"].as_str().unwrap_or("").trim_matches('/');
    let root = match spec["protocol"].as_str() {
        Some("s3") => s3_data().join(spec["bucket"].as_str().unwrap()),
        _ => PathBuf::from("/"),
    };
    root.join(location).join(schema)
}

pub fn object_path(config: &Path, store: &str, key: &str) -> PathBuf {
    let spec = store_spec(config, store);
    match spec["protocol"].as_str() {
        Some("s3") => s3_data().join(spec["bucket"].as_str().unwrap()).join(key),
        _ => PathBuf::from(spec["location"].as_str().unwrap()).join(key),
    }
}

pub fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// A schema made afresh by the client: objects earlier runs left in the shared bucket (under the
/// same schema name) are removed first, so the checks below see only this run's.
pub fn demo_schema(schema: &str) -> (tempfile::TempDir, PathBuf) {
    fresh_schema("make_demo.py", schema)
}

/// `script` (a tests/python maker taking `SCHEMA --config-out FILE`) run afresh, with the objects
/// earlier runs left in the shared bucket under that schema removed.
pub fn fresh_schema(script: &str, schema: &str) -> (tempfile::TempDir, PathBuf) {
    let (dir, config) = super::schema_with_stores(script, schema, false);
    let tracked: Vec<String> = client(&config, schema, &["tracked", "shared"])["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["hash"].as_str().unwrap().to_string())
        .collect();
    let mut files = Vec::new();
    files_under(&store_folder(&config, "shared", schema), &mut files);
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        if !tracked.contains(&name.chars().take(32).collect()) {
            std::fs::remove_file(&f).unwrap();
        }
    }
    (dir, config)
}

/// Every file of the schema in the store is an object a tracking row has; no partial files.
pub fn assert_store_holds_only_tracked(config: &Path, schema: &str, store: &str) {
    let tracked: Vec<String> = client(config, schema, &["tracked", store])["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["hash"].as_str().unwrap().to_string())
        .collect();
    let mut files = Vec::new();
    files_under(&store_folder(config, store, schema), &mut files);
    assert!(!files.is_empty());
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        assert!(!name.contains('#'), "partial upload left: {}", f.display());
        assert!(
            tracked.contains(&name.chars().take(32).collect()),
            "{store}: {} is not tracked",
            f.display()
        );
    }
}

pub fn private_tmp(parent: &Path) -> PathBuf {
    let tmp = parent.join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    tmp
}
