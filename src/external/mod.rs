//! External objects, all in one place (as datajoint-python keeps them in `external.py`): how an
//! object a row references is opened (DataJoint's cache folder for blobs, `pread` for folder
//! stores, ranged GETs for S3), what external blobs' first bytes say (`heads`), put-if-missing
//! for writes, and the cleanup of an object no row references. Where an object lives and how
//! bytes move are `crate::stores`' job; the tracking rows are the backend's.

mod heads;
pub mod unused;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{anyhow, Result};
use bytes::Bytes;

pub use crate::stored::{Probe, ProbeWant, MAX_MANIFEST};
pub use heads::BlobHeads;

use crate::backend::{Backend, Tracked};
use crate::cache::ByteLru;
use crate::codec::{classify_blob, BlobError, BlobShape, RECOMMENDED_PREFIX};
use crate::namespace::{BlobHead, ExternalObject};
use crate::source::{ByteSource, FileSource, MemorySource, ObjectSource, SliceSource};
use crate::stored::HashCheck;
use crate::stores::paths::{self, hex, TrackedKind};
use crate::stores::{ObjectLoc, Stores};

/// A blob whose first bytes a listing wants: its store, hash and tracked size.
pub type WantedHead = (String, Vec<u8>, u64);

/// A blob's hash, tracked size, and its first bytes or why they could not be read.
type FetchedHead = (Vec<u8>, u64, Result<Vec<u8>, String>);

/// The external objects of a mount: the stores, and what is known of blobs' first bytes.
pub struct ExternalObjects {
    stores: Arc<Stores>,
    heads: Mutex<BlobHeads>,
    probes: Mutex<Probes>,
    /// 2.x hash-addressed objects whose bytes matched their hash (store, path, size, and the
    /// file's modification time for folder stores): not hashed again at every open.
    verified: Mutex<HashSet<String>>,
}

/// The probes known (objects never change under their path: hash-addressed, or schema-addressed
/// with a random token), and the failures with when they happened (asked again after the
/// refresh delay).
struct Probes {
    known: ByteLru<String, Probe>,
    failures: HashMap<String, (Instant, String)>,
}

/// 2.x hash-addressed objects in S3 up to this size are read whole at open (and checked then).
const SMALL_CHECKED_OBJECT: u64 = 8 << 20;

fn probe_key(store: &str, path: &str) -> String {
    format!("{store}\0{path}")
}

impl ExternalObjects {
    /// `heads_budget`: about how many bytes of blob heads are kept.
    pub fn new(stores: Arc<Stores>, heads_budget: usize) -> ExternalObjects {
        ExternalObjects {
            stores,
            heads: Mutex::new(BlobHeads::new(heads_budget)),
            probes: Mutex::new(Probes {
                known: ByteLru::new(heads_budget),
                failures: HashMap::new(),
            }),
            verified: Mutex::new(HashSet::new()),
        }
    }

    pub fn stores(&self) -> &Arc<Stores> {
        &self.stores
    }

    /// The bytes of `object`, as referenced from `schema`. Blobs go through DataJoint's cache
    /// folder when one is configured (downloaded once, as the client does); folder stores are
    /// read in place; S3 objects with ranged reads. A file whose size is not the tracked size
    /// is refused: `stat` showed the tracked size, and the file would be served cut or padded.
    pub fn open(&self, schema: &str, object: &ExternalObject) -> Result<Arc<dyn ByteSource>> {
        let source = self.open_whole(schema, object)?;
        let TrackedKind::Stored { skip, check, .. } = &object.kind else {
            return Ok(source);
        };
        if let Some(want) = check {
            self.verify(schema, object, &source, want)?;
        }
        if *skip > 0 {
            return Ok(Arc::new(SliceSource::new(source, *skip)));
        }
        Ok(source)
    }

    fn open_whole(&self, schema: &str, object: &ExternalObject) -> Result<Arc<dyn ByteSource>> {
        let loc = self
            .stores
            .locate(&object.store, schema, &object.hash, &object.kind)?;
        let sized = |file: FileSource, path: &Path| -> Result<Arc<dyn ByteSource>> {
            if file.len() != object.size {
                return Err(anyhow!(
                    "{} has {} bytes but {} says {}",
                    path.display(),
                    file.len(),
                    size_source(&object.kind),
                    object.size
                ));
            }
            Ok(Arc::new(file))
        };
        if let (TrackedKind::Blob, Some(cache)) = (&object.kind, self.stores.cache_dir()) {
            let path = paths::cache_path(cache, &hex(&object.hash));
            if !path.exists() {
                self.stores.download(&loc, &path)?;
            }
            return sized(FileSource::open(&path)?, &path);
        }
        if let Some(path) = self.stores.local_path(&loc) {
            let file = FileSource::open(&path).map_err(|e| anyhow!("{}: {e}", path.display()))?;
            return sized(file, &path);
        }
        // A small 2.x hash-addressed object in S3 is checked whole before it is served: one
        // request, kept, rather than one to check it and more to serve it.
        if let TrackedKind::Stored { check: Some(_), .. } = &object.kind {
            if object.size == 0 {
                if !self.stores.exists(&loc)? {
                    return Err(anyhow!("{} is not in the store", loc.display));
                }
                return Ok(Arc::new(MemorySource::from_vec(Vec::new())));
            }
            if object.size <= SMALL_CHECKED_OBJECT {
                let bytes = self.stores.get_range(&loc, 0..object.size)?;
                if bytes.len() as u64 != object.size {
                    return Err(anyhow!(
                        "{} has {} bytes but its metadata says {}",
                        loc.display,
                        bytes.len(),
                        object.size
                    ));
                }
                return Ok(Arc::new(MemorySource::new(Arc::from(&bytes[..]), 0)));
            }
        }
        Ok(Arc::new(ObjectSource::new(
            self.stores.clone(),
            loc,
            object.size,
        )))
    }

    /// Checks a 2.x hash-addressed object against its base32-MD5 (the whole object, read in
    /// parts as it streams by), as the client does on every read.
    fn verify(
        &self,
        schema: &str,
        object: &ExternalObject,
        source: &Arc<dyn ByteSource>,
        want: &str,
    ) -> Result<()> {
        let loc = self
            .stores
            .locate(&object.store, schema, &object.hash, &object.kind)?;
        // Read whole into memory at this open (small S3 objects): checked every time.
        let (key, fetched_now) = self.verified_key(&loc, source.len());
        if !fetched_now && self.verified.lock().unwrap().contains(&key) {
            return Ok(());
        }
        const PART: u64 = 4 << 20;
        let mut check = HashCheck::new();
        let mut at = 0;
        while at < source.len() {
            let part = source.read_at(at, PART.min(source.len() - at) as usize)?;
            if part.is_empty() {
                return Err(anyhow!("{}: ended at {at} bytes", loc.display));
            }
            check.update(&part);
            at += part.len() as u64;
        }
        let got = check.finish();
        if got != want {
            return Err(anyhow!(
                "{}: the object's base32-MD5 is {got} but its metadata says {want} (altered or corrupt)",
                loc.display
            ));
        }
        if !fetched_now {
            self.verified.lock().unwrap().insert(key);
        }
        Ok(())
    }

    /// What identifies a hash check of the object at `loc` of `size` bytes: its store, key and
    /// size, and in a folder store its file's modification time. With whether the object is a
    /// small S3 one, which is checked at every read instead (it is read whole then anyway).
    fn verified_key(&self, loc: &ObjectLoc, size: u64) -> (String, bool) {
        let local = self.stores.local_path(loc);
        let small_remote = local.is_none() && size <= SMALL_CHECKED_OBJECT;
        let modified = local
            .and_then(|p| std::fs::metadata(p).ok()?.modified().ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        (
            format!("{}\0{}\0{size}\0{modified}", loc.store, loc.key),
            small_remote,
        )
    }

    /// The base32-MD5 of the object at `loc` (`size` bytes), read in parts.
    fn object_hash(&self, loc: &ObjectLoc, size: u64) -> Result<String> {
        const PART: u64 = 8 << 20;
        let mut check = HashCheck::new();
        let mut at = 0;
        while at < size {
            let part = self.stores.get_range(loc, at..size.min(at + PART))?;
            if part.is_empty() {
                return Err(anyhow!("{}: ended at {at} bytes", loc.display));
            }
            check.update(&part);
            at += part.len() as u64;
        }
        Ok(check.finish())
    }

    /// Stores a 2.x hash-addressed object (`<blob@>`, `<attach@>`, `<hash@>`) at `path` unless
    /// the store holds it already with the right bytes: an object there is checked against
    /// `hash` (its size, then its base32-MD5; a check that passed is not repeated while the
    /// object stays the same, as for reads) and uploaded again when it does not match. Returns
    /// whether it was uploaded.
    pub fn put_hash_addressed(
        &self,
        schema: &str,
        store: &str,
        path: &str,
        hash: &str,
        object: NewObject,
    ) -> Result<bool> {
        let loc = self.stores.locate(store, schema, &[], &stored_kind(path))?;
        let size = object.size;
        if let Some(found) = self.stores.size_of(&loc)? {
            if found == size {
                let (key, small_remote) = self.verified_key(&loc, size);
                if !small_remote && self.verified.lock().unwrap().contains(&key) {
                    self.stored_written(store, path, size, object.head);
                    return Ok(false);
                }
                let got = self.object_hash(&loc, size)?;
                if got == hash {
                    if !small_remote {
                        self.verified.lock().unwrap().insert(key);
                    }
                    self.stored_written(store, path, size, object.head);
                    return Ok(false);
                }
                tracing::warn!(
                    "{}: its base32-MD5 is {got}, not {hash} (altered or corrupt): stored again",
                    loc.display
                );
            } else {
                tracing::warn!(
                    "{}: has {found} bytes, not {size} (altered, corrupt or partial): stored again",
                    loc.display
                );
            }
        }
        self.stores
            .upload_prefixed(&loc, object.prefix, object.data, object.file)?;
        self.stored_written(store, path, size, object.head);
        Ok(true)
    }

    /// Stores a 2.x schema-addressed object (`<npy@>`, `<object@>`) at its fresh `path`.
    pub fn put_schema_addressed(
        &self,
        schema: &str,
        store: &str,
        path: &str,
        object: NewObject,
    ) -> Result<()> {
        let loc = self.stores.locate(store, schema, &[], &stored_kind(path))?;
        self.stores
            .upload_prefixed(&loc, object.prefix, object.data, object.file)?;
        self.stored_written(store, path, object.size, object.head);
        Ok(())
    }

    /// A 2.x object written through this mount: what a listing wants of it (its size and first
    /// bytes) is known without asking the store.
    fn stored_written(&self, store: &str, path: &str, size: u64, head: &[u8]) {
        let key = probe_key(store, path);
        let mut probes = self.probes.lock().unwrap();
        probes.failures.remove(&key);
        let bytes = 96 + key.len() + head.len();
        probes.known.put(
            key,
            Probe {
                size,
                head: Arc::from(head),
            },
            bytes,
        );
    }

    /// What a 2.x listing knows of the object at `path` in `store`, or why it does not.
    pub fn probe(&self, store: &str, path: &str) -> Result<Probe, String> {
        let key = probe_key(store, path);
        let mut probes = self.probes.lock().unwrap();
        if let Some(p) = probes.known.get(&key) {
            return Ok(p.clone());
        }
        Err(probes
            .failures
            .get(&key)
            .map(|(_, why)| why.clone())
            .unwrap_or_else(|| "not fetched".into()))
    }

    /// The probes of `candidates` not known yet (and not failed lately).
    pub fn unknown_probes(
        &self,
        candidates: impl IntoIterator<Item = ProbeWant>,
        fresh: impl Fn(Instant) -> bool,
    ) -> Vec<ProbeWant> {
        let probes = self.probes.lock().unwrap();
        let mut seen = HashSet::new();
        candidates
            .into_iter()
            .filter(|w| {
                let key = probe_key(&w.store, &w.path);
                probes.known.peek(&key).is_none()
                    && !probes.failures.get(&key).is_some_and(|(at, _)| fresh(*at))
                    && seen.insert(key)
            })
            .collect()
    }

    /// Fetches the sizes and first bytes of 2.x objects, concurrently. A failure is remembered
    /// (with `now`) and logged: the listing shows the file, and reading it says why.
    pub fn fetch_probes(&self, wanted: Vec<ProbeWant>, now: Instant) {
        let mut results = Vec::new();
        let mut remote = Vec::new();
        for w in wanted {
            let kind = TrackedKind::Stored {
                path: w.path.clone(),
                skip: 0,
                check: None,
            };
            match self.stores.locate(&w.store, "", &[], &kind) {
                Ok(loc) => remote.push((w, loc)),
                Err(e) => results.push((w, Err(format!("{e:#}")))),
            }
        }
        let items: Vec<_> = remote
            .iter()
            .map(|(w, loc)| (loc.clone(), w.want))
            .collect();
        let fetched = self.stores.probes(&items);
        for ((w, loc), got) in remote.into_iter().zip(fetched) {
            let got = match got {
                Ok((size, head)) => {
                    let mut head = head.to_vec();
                    if w.blob {
                        if let Err(BlobError::NeedMore(n)) = classify_blob(&head, size) {
                            match self.stores.get_range(&loc, 0..(n as u64).min(size)) {
                                Ok(more) => head = more.to_vec(),
                                Err(e) => {
                                    results.push((w, Err(format!("{e:#}"))));
                                    continue;
                                }
                            }
                        }
                    }
                    Ok(Probe {
                        size,
                        head: head.into(),
                    })
                }
                Err(e) => Err(format!("{e:#}")),
            };
            results.push((w, got));
        }
        let mut probes = self.probes.lock().unwrap();
        for (w, got) in results {
            let key = probe_key(&w.store, &w.path);
            match got {
                Ok(p) => {
                    probes.failures.remove(&key);
                    let bytes = 96 + key.len() + p.head.len();
                    probes.known.put(key, p, bytes);
                }
                Err(reason) => {
                    tracing::error!("store {:?}, object {}: {reason}", w.store, w.path);
                    probes.failures.insert(key, (now, reason));
                }
            }
        }
    }

    /// What a listing shows of the blob `hash` (known shape, corrupt, or why not known).
    pub fn head(&self, hash: &[u8]) -> BlobHead {
        self.heads.lock().unwrap().head(hash)
    }

    /// The heads a listing should fetch of `candidates`: unknown, and not failed lately.
    pub fn unknown_heads(
        &self,
        candidates: impl IntoIterator<Item = WantedHead>,
        fresh: impl Fn(Instant) -> bool,
    ) -> Vec<WantedHead> {
        let heads = self.heads.lock().unwrap();
        candidates
            .into_iter()
            .filter(|(_, hash, _)| heads.wanted(hash, &fresh))
            .collect()
    }

    /// Reads and classifies the first bytes of external blobs: from the DataJoint cache when it
    /// has them, else with concurrent ranged reads from the stores. A failure is remembered
    /// (with `now`) and logged: the listing still shows the file, and reading it says why.
    pub fn fetch_heads(&self, schema: &str, wanted: Vec<WantedHead>, now: Instant) {
        let mut remote = Vec::new();
        let mut results: Vec<FetchedHead> = Vec::new();
        let mut seen = HashSet::new();
        for (store, hash, size) in wanted {
            if !seen.insert(hash.clone()) {
                continue;
            }
            let prefix_len = size.min(RECOMMENDED_PREFIX as u64);
            if let Some(cache) = self.stores.cache_dir() {
                let path = paths::cache_path(cache, &hex(&hash));
                if let Ok(head) =
                    FileSource::open(&path).and_then(|f| f.read_at(0, prefix_len as usize))
                {
                    results.push((hash, size, Ok(head)));
                    continue;
                }
            }
            match self
                .stores
                .locate(&store, schema, &hash, &TrackedKind::Blob)
            {
                Ok(loc) => remote.push((hash, size, loc)),
                Err(e) => results.push((hash, size, Err(format!("{e:#}")))),
            }
        }
        if !remote.is_empty() {
            let items: Vec<_> = remote
                .iter()
                .map(|(_, size, loc)| (loc.clone(), (*size).min(RECOMMENDED_PREFIX as u64)))
                .collect();
            let fetched = self.stores.prefixes(&items);
            for ((hash, size, loc), got) in remote.into_iter().zip(fetched) {
                let got = got.map(|b| b.to_vec()).map_err(|e| format!("{e:#}"));
                let got = match got {
                    // A header longer than the first read (rare): fetch what it asks for.
                    Ok(head) => match classify_blob(&head, size) {
                        Err(BlobError::NeedMore(n)) => self
                            .stores
                            .get_range(&loc, 0..(n as u64).min(size))
                            .map(|b| b.to_vec())
                            .map_err(|e| format!("{e:#}")),
                        _ => Ok(head),
                    },
                    Err(e) => Err(e),
                };
                results.push((hash, size, got));
            }
        }
        let mut heads = self.heads.lock().unwrap();
        for (hash, size, got) in results {
            if let Err(reason) = &got {
                tracing::error!("external blob {}: {reason}", hex(&hash));
            }
            heads.learned(now, hash, size, got);
        }
    }

    /// (heads known, heads that could not be fetched), for stats.
    pub fn heads_len(&self) -> (usize, usize) {
        self.heads.lock().unwrap().len()
    }

    /// A blob written through this mount: its head is known without fetching.
    pub fn blob_written(&self, hash: &[u8], shape: BlobShape) {
        self.heads.lock().unwrap().written(hash.to_vec(), shape);
    }

    /// Stores an object for `schema` unless its store already has it (the same hash is the same
    /// bytes): from `data`, or from the file at `file`.
    pub fn put_if_missing(
        &self,
        schema: &str,
        store: &str,
        hash: &[u8],
        kind: &TrackedKind,
        data: Option<Bytes>,
        file: Option<&Path>,
    ) -> Result<()> {
        let loc = self.stores.locate(store, schema, hash, kind)?;
        if !self.stores.exists(&loc)? {
            self.stores.upload(&loc, data, file)?;
        }
        Ok(())
    }

    /// Deletes one unused object of `schema` in `store` (see `delete_unused`).
    pub fn delete_unused(
        &self,
        db: &dyn Backend,
        schema: &str,
        store: &str,
        object: &Tracked,
    ) -> Result<Outcome> {
        delete_unused(db, &self.stores, schema, store, object)
    }
}

/// A 2.x object to store: `prefix` followed by `data` or the file's bytes, `size` bytes in all,
/// and its first bytes as a listing wants them (`head`).
pub struct NewObject<'a> {
    pub prefix: &'a [u8],
    pub data: Option<Bytes>,
    pub file: Option<&'a Path>,
    pub size: u64,
    pub head: &'a [u8],
}

/// A 2.x object by its metadata path.
fn stored_kind(path: &str) -> TrackedKind {
    TrackedKind::Stored {
        path: path.to_string(),
        skip: 0,
        check: None,
    }
}

/// What an object's expected size comes from, for the error that says they differ.
fn size_source(kind: &TrackedKind) -> &'static str {
    match kind {
        TrackedKind::Stored { .. } => "its metadata",
        _ => "its tracking row",
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Deleted,
    /// Referenced again meanwhile (or already gone): left as it is.
    Referenced,
}

/// The client's `schema.external[store].delete(delete_external_files=True)` for one object:
/// deletes the tracking row (only while unreferenced), then the object; if removing the object
/// fails, the tracking row is put back and the error returned. Shared by `rm` in
/// `.external/<store>/.unused/` and by `djfs gc`.
pub fn delete_unused(
    db: &dyn Backend,
    stores: &Stores,
    schema: &str,
    store: &str,
    object: &Tracked,
) -> Result<Outcome> {
    let loc = stores.locate(store, schema, &object.hash, &object.kind)?;
    let saved = match db.delete_unused_tracking(schema, store, &object.hash) {
        Ok(Some(saved)) => saved,
        Ok(None) => return Ok(Outcome::Referenced),
        Err(e) => {
            // The connection may have broken after the DELETE committed. Then the row is gone
            // and so must the object be: in the store and tracked by nothing, neither `.unused`
            // nor `djfs gc` would ever see it again.
            if db.tracking_exists(schema, store, &object.hash).ok() != Some(false) {
                return Err(e);
            }
            tracing::warn!(
                "the tracking row of {} went although its deletion reported: {e:#}",
                hex(&object.hash)
            );
            stores.delete(&loc).map_err(|d| {
                d.context(format!(
                    "removing {} (its tracking row is gone)",
                    loc.display
                ))
            })?;
            tracing::info!("deleted {}", loc.display);
            return Ok(Outcome::Deleted);
        }
    };
    if let Err(e) = stores.delete(&loc) {
        if let Err(restore) = db.restore_tracking(schema, store, saved) {
            tracing::error!(
                "restoring the tracking row of {} failed: {restore:#}",
                hex(&object.hash)
            );
        }
        return Err(e.context(format!("removing {} (tracking row restored)", loc.display)));
    }
    tracing::info!("deleted {}", loc.display);
    Ok(Outcome::Deleted)
}
