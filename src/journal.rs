//! The upload journal: what a crash could leave in a store that no tracking row knows of.
//!
//! Before an object is uploaded, a record (store, schema, hash, object key) is written to this
//! process's private staging folder and fsynced; for an S3 multipart upload the upload id is
//! added as soon as S3 has given it. The record goes once the row transaction that references
//! the object has committed (`after_transaction`), or once the object is known to be cleaned.
//!
//! Recovery (`recover_folder`), run by the next mount and by `djfs gc` over the staging folders
//! of processes that are gone, and by a mount over its own journal when it ends: for each
//! record, abort the S3 multipart upload (an upload S3 no longer knows is fine), delete the
//! folder store's partial `<object>#<n>` files, and delete the object itself when no tracking
//! row of its schema has its hash (the crash orphaned it). Each action is logged. A record that
//! cannot be settled (store or database unreachable) is kept, with its folder, for the next try.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::backend::{Backend, TrackingRow};
use crate::stores::paths::{hex, TrackedKind};
use crate::stores::{ObjectLoc, Stores};

/// One upload that may have left something in a store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub store: String,
    pub schema: String,
    /// The object's hash (32 hex digits), as its tracking row would hold it.
    pub hash: String,
    /// The object's key in its store (relative to a folder store's location).
    pub key: String,
    /// The S3 multipart upload, once created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_id: Option<String>,
    /// A DataJoint 2.x object (`hash` empty): no tracking row tells whether a row references
    /// it, so recovery leaves a complete one for the 2.x cleanup (`.unused`, `djfs gc`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub v2: bool,
}

const RECORD_PREFIX: &str = "upload-";
const RECORD_SUFFIX: &str = ".json";

/// The journal of this process, in its staging folder.
pub struct Journal {
    dir: PathBuf,
    next: AtomicU64,
    /// Live records by (store, key): their id and contents.
    live: Mutex<HashMap<(String, String), (u64, Record)>>,
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

impl Journal {
    pub fn new(dir: &Path) -> Journal {
        Journal {
            dir: dir.to_path_buf(),
            next: AtomicU64::new(1),
            live: Mutex::new(HashMap::new()),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, id: u64) -> PathBuf {
        self.dir.join(format!("{RECORD_PREFIX}{id}{RECORD_SUFFIX}"))
    }

    /// Writes a record whole (temporary file, fsync, rename, fsync of the folder).
    fn write(&self, id: u64, record: &Record) -> Result<()> {
        let tmp = self.dir.join(format!("{RECORD_PREFIX}{id}.tmp"));
        let _ = std::fs::remove_file(&tmp);
        let mut f = crate::staging::create_private_file(&tmp)
            .with_context(|| format!("journal {}", tmp.display()))?;
        f.write_all(&serde_json::to_vec(record)?)?;
        f.sync_all()?;
        std::fs::rename(&tmp, self.path(id))?;
        sync_dir(&self.dir)?;
        Ok(())
    }

    /// Records an upload about to start; durable when this returns.
    pub fn begin(&self, record: Record) -> Result<u64> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.write(id, &record)?;
        self.live
            .lock()
            .unwrap()
            .insert((record.store.clone(), record.key.clone()), (id, record));
        Ok(id)
    }

    /// Replaces a record (the multipart upload id is known, or gone).
    pub fn update(&self, id: u64, record: Record) -> Result<()> {
        self.write(id, &record)?;
        self.live
            .lock()
            .unwrap()
            .insert((record.store.clone(), record.key.clone()), (id, record));
        Ok(())
    }

    /// Forgets the record of an object (settled: tracked, or cleaned).
    pub fn forget(&self, store: &str, key: &str) {
        let entry = self
            .live
            .lock()
            .unwrap()
            .remove(&(store.to_string(), key.to_string()));
        if let Some((id, _)) = entry {
            let _ = std::fs::remove_file(self.path(id));
        }
    }

    /// Whether this process uploaded the object and its record is still open.
    pub fn has(&self, store: &str, key: &str) -> bool {
        self.live
            .lock()
            .unwrap()
            .contains_key(&(store.to_string(), key.to_string()))
    }

    /// The records still open in this process.
    pub fn open_records(&self) -> usize {
        self.live.lock().unwrap().len()
    }
}

/// The records in a staging folder (also half-written `.tmp` ones are removed: their upload
/// had not started).
pub fn read_records(dir: &Path) -> Vec<(PathBuf, Option<Record>)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.starts_with(RECORD_PREFIX) {
            continue;
        }
        if name.ends_with(".tmp") {
            let _ = std::fs::remove_file(entry.path());
            continue;
        }
        if !name.ends_with(RECORD_SUFFIX) {
            continue;
        }
        let record = std::fs::read(entry.path())
            .ok()
            .and_then(|b| serde_json::from_slice::<Record>(&b).ok());
        out.push((entry.path(), record));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn hash_bytes(hex_hash: &str) -> Option<Vec<u8>> {
    if hex_hash.len() != 32 {
        return None;
    }
    (0..16)
        .map(|i| u8::from_str_radix(&hex_hash[2 * i..2 * i + 2], 16).ok())
        .collect()
}

/// Settles one record: abort the multipart upload, remove partial files, and delete the object
/// when no tracking row has its hash. Ok(()) when nothing of it can be left behind.
pub fn settle(db: &dyn Backend, stores: &Stores, record: &Record) -> Result<()> {
    let loc = stores.loc_for_key(&record.store, &record.key)?;
    if let Some(id) = &record.upload_id {
        if stores.abort_multipart(&loc, id)? {
            tracing::info!(
                "recovery: aborted the unfinished multipart upload {id} of {}",
                loc.display
            );
        }
    }
    for partial in stores.remove_partials(&loc)? {
        tracing::info!("recovery: removed the partial upload {}", partial.display());
    }
    if record.v2 {
        // Whether a row references it (its transaction may have committed before the crash)
        // is only known by reading every stored column: the 2.x cleanup's job, not recovery's.
        if stores.exists(&loc)? {
            tracing::info!(
                "recovery: left {} in schema {}'s store {:?} (a 2.x object; `.unused` and `djfs gc` show it if no row references it)",
                loc.display,
                record.schema,
                record.store
            );
        }
        return Ok(());
    }
    let hash = hash_bytes(&record.hash).context("bad hash in the journal")?;
    if stores.exists(&loc)? && !db.tracking_exists(&record.schema, &record.store, &hash)? {
        stores.delete(&loc)?;
        tracing::info!(
            "recovery: deleted {} (uploaded, but no tracking row in {}.~external_{} has its hash {})",
            loc.display,
            record.schema,
            record.store,
            record.hash
        );
    }
    Ok(())
}

/// Settles every record of a staging folder, removing each settled one; true when none is left.
pub fn recover_folder(db: &dyn Backend, stores: &Stores, dir: &Path) -> bool {
    let mut all = true;
    for (path, record) in read_records(dir) {
        let Some(record) = record else {
            tracing::warn!("recovery: unreadable journal record {}", path.display());
            let _ = std::fs::remove_file(&path);
            continue;
        };
        match settle(db, stores, &record) {
            Ok(()) => {
                let _ = std::fs::remove_file(&path);
            }
            Err(e) => {
                all = false;
                tracing::warn!(
                    "recovery: {} in store {:?} not settled, kept for the next mount or `djfs gc`: {e:#}",
                    record.key,
                    record.store
                );
            }
        }
    }
    all
}

/// What recovery of stale staging folders did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    pub folders: usize,
    pub kept: usize,
}

/// Recovers the staging folders of this user's processes that are gone, and removes them.
pub fn recover_stale(db: &dyn Backend, stores: &Stores) -> Recovered {
    let mut done = Recovered::default();
    for folder in crate::staging::stale_folders(stores.cache_dir()) {
        tracing::info!(
            "recovering the stale staging folder {}",
            folder.path.display()
        );
        if recover_folder(db, stores, &folder.path) {
            if let Err(e) = folder.remove() {
                tracing::warn!("removing a stale staging folder: {e}");
            }
            done.folders += 1;
        } else {
            done.kept += 1;
        }
    }
    if done.folders + done.kept > 0 {
        tracing::info!(
            "recovery done: {} stale staging folders removed, {} kept",
            done.folders,
            done.kept
        );
    }
    done
}

/// At the end of a mount: settles what this process's journal still holds (objects of rows never
/// inserted, of failed transactions; no write is in flight any more), then removes the staging
/// folder. `connect` is called only when there is something to settle.
pub fn finish_mount(
    stores: &Stores,
    connect: impl FnOnce() -> Result<std::sync::Arc<dyn Backend>>,
) {
    let Some(journal) = stores.journal() else {
        return;
    };
    let dir = journal.dir();
    let settled = read_records(dir).is_empty()
        || match connect() {
            Ok(db) => recover_folder(&*db, stores, dir),
            Err(e) => {
                tracing::warn!("settling the upload journal: {e:#}");
                false
            }
        };
    if settled {
        let _ = std::fs::remove_dir_all(dir);
    } else {
        tracing::warn!(
            "some uploads could not be settled; the next mount or `djfs gc` retries ({})",
            dir.display()
        );
    }
}

/// After a failed row transaction: deletes the object unless a tracking row has its hash by now,
/// but only if this process uploaded it (its journal record is open); returns whether it was
/// deleted. Objects that were in the store before the write are never touched.
pub fn discard_if_untracked(
    db: &dyn Backend,
    stores: &Stores,
    schema: &str,
    store: &str,
    hash: &[u8],
    loc: &ObjectLoc,
) -> Result<bool> {
    let Some(journal) = stores.journal() else {
        return Ok(false);
    };
    if !journal.has(store, loc.key.as_ref()) {
        return Ok(false);
    }
    if db.tracking_exists(schema, store, hash)? {
        journal.forget(store, loc.key.as_ref());
        return Ok(false);
    }
    stores.delete(loc)?;
    tracing::info!(
        "deleted {} (uploaded for a write whose transaction failed; no tracking row has its hash {})",
        loc.display,
        hex(hash)
    );
    journal.forget(store, loc.key.as_ref());
    Ok(true)
}

/// The hook after a row transaction that carried `tracking` rows: committed, their journal
/// records go (the objects are tracked: `.unused` and `djfs gc` see them from now on); failed,
/// objects this process uploaded that no tracking row has are deleted. Errors are logged; a
/// record that stays is settled when the mount ends or by the next mount.
pub fn after_transaction(
    db: &dyn Backend,
    stores: &Stores,
    schema: &str,
    tracking: &[TrackingRow],
    committed: bool,
) {
    let Some(journal) = stores.journal() else {
        return;
    };
    for t in tracking {
        let kind = match &t.attachment_name {
            Some(name) => TrackedKind::Attachment(name.clone()),
            None => TrackedKind::Blob,
        };
        let Ok(loc) = stores.locate(&t.store, schema, &t.hash, &kind) else {
            continue;
        };
        if committed {
            journal.forget(&t.store, loc.key.as_ref());
        } else if let Err(e) = discard_if_untracked(db, stores, schema, &t.store, &t.hash, &loc) {
            tracing::warn!(
                "{}: not cleaned after the failed transaction ({e:#}); the journal keeps it",
                loc.display
            );
        }
    }
}

/// A DataJoint 2.x object a write uploaded for one column of a row, settled by
/// `after_stored_transaction`.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredUpload {
    pub store: String,
    /// The object's metadata path (relative to the store's location).
    pub path: String,
    pub column: usize,
    /// Schema-addressed (`<npy@>`, `<object@>`): its path has a fresh random token, so no other
    /// row can reference it unless this write's own transaction did.
    pub schema_addressed: bool,
}

/// After a row transaction that referenced 2.x objects this process uploaded: committed, their
/// journal records go. Failed, a schema-addressed object is deleted unless the row's column
/// references it after all (a commit whose answer was lost); a hash-addressed one is left (other
/// rows may hold the same content: the 2.x cleanup decides), its record dropped. `referenced`
/// reads the column's metadata path now (None: the row or value is gone). Errors are logged; a
/// record that stays is settled when the mount ends or by the next mount.
pub fn after_stored_transaction(
    stores: &Stores,
    schema: &str,
    uploads: &[StoredUpload],
    committed: bool,
    referenced: impl Fn(usize) -> Result<Option<String>>,
) {
    let Some(journal) = stores.journal() else {
        return;
    };
    for u in uploads {
        let kind = TrackedKind::Stored {
            path: u.path.clone(),
            skip: 0,
            check: None,
        };
        let Ok(loc) = stores.locate(&u.store, schema, &[], &kind) else {
            continue;
        };
        let key = loc.key.to_string();
        if committed || !journal.has(&u.store, &key) {
            journal.forget(&u.store, &key);
            continue;
        }
        if !u.schema_addressed {
            tracing::info!(
                "{}: left in the store after the failed transaction (hash-addressed: other rows may share it; `.unused` shows it if none does)",
                loc.display
            );
            journal.forget(&u.store, &key);
            continue;
        }
        let cleaned = referenced(u.column).and_then(|now| {
            if now.as_deref() == Some(u.path.as_str()) {
                return Ok(false); // committed after all
            }
            stores.delete(&loc)?;
            Ok(true)
        });
        match cleaned {
            Ok(deleted) => {
                if deleted {
                    tracing::info!(
                        "deleted {} (uploaded for a write whose transaction failed)",
                        loc.display
                    );
                }
                journal.forget(&u.store, &key);
            }
            Err(e) => tracing::warn!(
                "{}: not cleaned after the failed transaction ({e:#}); the journal keeps it",
                loc.display
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_written_whole_and_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::new(dir.path());
        let record = Record {
            store: "s3".into(),
            schema: "lab".into(),
            hash: "00112233445566778899aabbccddeeff".into(),
            key: "lab/00/11/00112233445566778899aabbccddeeff".into(),
            upload_id: None,
            v2: false,
        };
        let id = journal.begin(record.clone()).unwrap();
        let with_id = Record {
            upload_id: Some("u-1".into()),
            ..record.clone()
        };
        journal.update(id, with_id.clone()).unwrap();
        std::fs::write(dir.path().join("upload-99.tmp"), b"{").unwrap();
        let read = read_records(dir.path());
        assert_eq!(read.len(), 1);
        assert_eq!(read[0].1.as_ref(), Some(&with_id));
        assert!(
            !dir.path().join("upload-99.tmp").exists(),
            "half-written record removed"
        );
        use std::os::unix::fs::MetadataExt;
        assert_eq!(std::fs::metadata(&read[0].0).unwrap().mode() & 0o777, 0o600);
        assert!(journal.has("s3", &record.key));
        journal.forget("s3", &record.key);
        assert!(!journal.has("s3", &record.key));
        assert!(read_records(dir.path()).is_empty());
        assert_eq!(
            hash_bytes(&record.hash).unwrap(),
            vec![
                0, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd,
                0xee, 0xff
            ]
        );
        assert!(hash_bytes("zz").is_none());

        // A 2.x record says so (older records, without the field, are 0.14 ones).
        let v2 = Record {
            hash: String::new(),
            key: "_schema/lab/t/id=1/o_AbCd1234.txt".into(),
            v2: true,
            ..record.clone()
        };
        journal.begin(v2.clone()).unwrap();
        let read = read_records(dir.path());
        assert_eq!(read[0].1.as_ref(), Some(&v2));
        let old: Record = serde_json::from_str(
            r#"{"store": "s3", "schema": "lab", "hash": "00112233445566778899aabbccddeeff", "key": "k"}"#,
        )
        .unwrap();
        assert!(!old.v2);
    }
}
