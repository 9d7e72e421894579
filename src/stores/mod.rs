//! External stores: the folders and S3 buckets where DataJoint keeps `blob@store`,
//! `attach@store` and `filepath@store` objects. One abstraction (the `object_store` crate) serves
//! both protocols; its async API runs on one shared tokio runtime that FUSE threads block on
//! (the mountpoint-s3 pattern).

pub mod paths;
pub mod spec;

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::local::LocalFileSystem;
use object_store::multipart::MultipartStore;
use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, ObjectStore, ObjectStoreExt, RetryConfig};
use serde_json::Value;

use crate::journal::{Journal, Record};
use paths::TrackedKind;
use spec::{Protocol, StoreSpec};

/// How long one S3 request may take before it fails (then the read gives EIO); documented in
/// doc/SEMANTICS.md. Connection attempts give up sooner.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Part size of multipart uploads.
const PART_SIZE: usize = 8 << 20;
/// Parts in flight at once: bounded memory whatever the object size.
const PARTS_IN_FLIGHT: usize = 4;

/// Reads up to `PART_SIZE` bytes (less only at the end of the file).
fn read_part(f: &mut impl std::io::Read) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; PART_SIZE];
    let mut filled = 0;
    while filled < PART_SIZE {
        let n = f.read(&mut buf[filled..])?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    buf.truncate(filled);
    Ok(buf)
}

/// The parts of a file through S3's multipart API, a few in flight, then the completion.
async fn upload_parts(
    s3: &AmazonS3,
    key: &ObjectPath,
    id: &object_store::MultipartId,
    f: impl std::io::Read,
) -> Result<()> {
    let parts = futures::stream::try_unfold((f, 0usize), |(mut f, index)| async move {
        let part = read_part(&mut f)?;
        if part.is_empty() && index > 0 {
            return anyhow::Ok(None);
        }
        anyhow::Ok(Some(((index, part), (f, index + 1))))
    })
    .map_ok(|(index, part)| async move {
        s3.put_part(key, id, index, Bytes::from(part).into())
            .await
            .map_err(anyhow::Error::from)
    })
    .try_buffered(PARTS_IN_FLIGHT)
    .try_collect::<Vec<_>>()
    .await?;
    s3.complete_multipart(key, id, parts).await?;
    Ok(())
}

/// A file through `put_multipart` (folder stores: a `<object>#<n>` file renamed into place).
async fn upload_writer(
    store: Arc<dyn ObjectStore>,
    key: &ObjectPath,
    mut f: impl std::io::Read,
) -> Result<()> {
    let upload = store.put_multipart(key).await?;
    let mut writer = object_store::WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
    loop {
        let part = read_part(&mut f)?;
        if part.is_empty() {
            break;
        }
        writer.wait_for_capacity(PARTS_IN_FLIGHT).await?;
        writer.write(&part);
    }
    writer.finish().await?;
    Ok(())
}

/// A ranged read running in the background (prefetch).
pub struct Ahead {
    pub start: u64,
    handle: tokio::task::JoinHandle<Result<Bytes>>,
    display: String,
}

impl Ahead {
    pub fn abort(&self) {
        self.handle.abort();
    }
}

/// One object in one store.
#[derive(Clone, Debug)]
pub struct ObjectLoc {
    pub store: String,
    pub key: ObjectPath,
    /// For log lines: `s3://bucket/key` or the file path.
    pub display: String,
    /// The schema and hash it was located for (empty when made from a key alone): what the
    /// upload journal records.
    pub schema: String,
    pub hash: Vec<u8>,
    /// A DataJoint 2.x object (located by its metadata path): no tracking row says whether a
    /// row references it (see `crate::journal::settle`).
    pub v2: bool,
}

/// A store's client; S3 stores also as a `MultipartStore`, so that an upload's id is known and
/// recorded in the journal (the high-level `put_multipart` hides it).
#[derive(Clone)]
struct Client {
    store: Arc<dyn ObjectStore>,
    s3: Option<Arc<AmazonS3>>,
}

pub struct Stores {
    runtime: tokio::runtime::Runtime,
    specs: BTreeMap<String, Result<StoreSpec, String>>,
    /// 2.x `stores.default` / `stores.filepath_default`: the store of `<x@>` without a name.
    default_store: Option<String>,
    filepath_default_store: Option<String>,
    clients: Mutex<HashMap<String, Client>>,
    cache: Option<PathBuf>,
    /// Where uploads are recorded before they start (`crate::journal`); none in tests that use
    /// stores alone and in `djfs gc`.
    journal: OnceLock<Journal>,
    bytes_fetched: AtomicU64,
    requests: AtomicU64,
}

impl Stores {
    pub fn new(stores: &BTreeMap<String, Value>, cache: Option<PathBuf>) -> Result<Stores> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("djfs-io")
            .enable_all()
            .build()
            .context("starting the I/O runtime")?;
        let specs = spec::parse_stores(stores);
        for (name, spec) in &specs {
            match spec {
                Ok(s) => tracing::info!(store = %name, location = ?s.protocol, "store configured"),
                Err(e) => tracing::warn!("{e}"),
            }
        }
        let store_name = |key: &str| stores.get(key).and_then(Value::as_str).map(str::to_string);
        Ok(Stores {
            runtime,
            specs,
            default_store: store_name("default"),
            filepath_default_store: store_name("filepath_default"),
            clients: Mutex::new(HashMap::new()),
            cache,
            journal: OnceLock::new(),
            bytes_fetched: AtomicU64::new(0),
            requests: AtomicU64::new(0),
        })
    }

    /// The store a 2.x `<codec@>` without a store name uses (`stores.default`, or
    /// `stores.filepath_default` for `<filepath@>`).
    pub fn default_store(&self, filepath: bool) -> Option<&str> {
        if filepath {
            self.filepath_default_store.as_deref()
        } else {
            self.default_store.as_deref()
        }
    }

    /// Whether `store` is configured (and its settings are valid).
    pub fn is_configured(&self, store: &str) -> bool {
        matches!(self.specs.get(store), Some(Ok(_)))
    }

    /// A store's 2.x `hash_prefix` and `schema_prefix`.
    pub fn prefixes_of(&self, store: &str) -> Result<(String, String)> {
        let spec = self.spec(store)?;
        Ok((spec.hash_prefix.clone(), spec.schema_prefix.clone()))
    }

    /// DataJoint's blob cache folder, if configured.
    pub fn cache_dir(&self) -> Option<&Path> {
        self.cache.as_deref()
    }

    /// Records uploads in this journal from now on (set once, by the mount).
    pub fn set_journal(&self, journal: Journal) {
        let _ = self.journal.set(journal);
    }

    pub fn journal(&self) -> Option<&Journal> {
        self.journal.get()
    }

    /// Bytes received from stores so far (tests and benchmarks read this).
    pub fn bytes_fetched(&self) -> u64 {
        self.bytes_fetched.load(Ordering::Relaxed)
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// A configured store's settings (an error says why it cannot be used).
    pub fn spec_of(&self, store: &str) -> Result<&StoreSpec> {
        self.spec(store)
    }

    fn spec(&self, store: &str) -> Result<&StoreSpec> {
        match self.specs.get(store) {
            Some(Ok(spec)) => Ok(spec),
            Some(Err(reason)) => bail!("store {store:?} is misconfigured: {reason}"),
            None => bail!("store {store:?} is not in the DataJoint config's `stores`"),
        }
    }

    /// Where a tracked object lives.
    pub fn locate(
        &self,
        store: &str,
        schema: &str,
        hash: &[u8],
        kind: &TrackedKind,
    ) -> Result<ObjectLoc> {
        let spec = self.spec(store)?;
        let relative = paths::relative_path(schema, &spec.subfolding, &paths::hex(hash), kind);
        let (key, display) = match &spec.protocol {
            Protocol::File { location } => (
                relative.clone(),
                location.join(&relative).display().to_string(),
            ),
            Protocol::S3 {
                bucket, location, ..
            } => {
                let key = paths::s3_key(location, &relative);
                let display = format!("s3://{bucket}/{key}");
                (key, display)
            }
        };
        let key = ObjectPath::parse(&key).map_err(|e| anyhow!("object path {key:?}: {e}"))?;
        Ok(ObjectLoc {
            store: store.to_string(),
            key,
            display,
            schema: schema.to_string(),
            hash: hash.to_vec(),
            v2: matches!(kind, TrackedKind::Stored { .. }),
        })
    }

    /// An object by its key in the store (as the upload journal records it).
    pub fn loc_for_key(&self, store: &str, key: &str) -> Result<ObjectLoc> {
        let spec = self.spec(store)?;
        let display = match &spec.protocol {
            Protocol::File { location } => location.join(key).display().to_string(),
            Protocol::S3 { bucket, .. } => format!("s3://{bucket}/{key}"),
        };
        Ok(ObjectLoc {
            store: store.to_string(),
            key: ObjectPath::parse(key).map_err(|e| anyhow!("object path {key:?}: {e}"))?,
            display,
            schema: String::new(),
            hash: Vec::new(),
            v2: false,
        })
    }

    fn client(&self, store: &str) -> Result<Arc<dyn ObjectStore>> {
        Ok(self.clients(store)?.store)
    }

    fn clients(&self, store: &str) -> Result<Client> {
        if let Some(c) = self.clients.lock().unwrap().get(store) {
            return Ok(c.clone());
        }
        let spec = self.spec(store)?;
        let client =
            match &spec.protocol {
                Protocol::File { location } => Client {
                    store: Arc::new(LocalFileSystem::new_with_prefix(location).with_context(
                        || format!("store {store:?}: folder {}", location.display()),
                    )?),
                    s3: None,
                },
                Protocol::S3 {
                    endpoint,
                    bucket,
                    secure,
                    ..
                } => {
                    let scheme = if *secure { "https" } else { "http" };
                    let retry = RetryConfig {
                        max_retries: 2,
                        retry_timeout: REQUEST_TIMEOUT,
                        ..Default::default()
                    };
                    // No keys in the config (2.x allows it): the ambient AWS credentials
                    // (environment, web identity, container or instance metadata).
                    let builder = match spec.protocol.s3_keys() {
                        Some((access_key, secret_key)) => AmazonS3Builder::new()
                            .with_access_key_id(access_key)
                            .with_secret_access_key(secret_key),
                        None => AmazonS3Builder::from_env(),
                    };
                    let s3 = Arc::new(
                        builder
                            .with_endpoint(format!("{scheme}://{endpoint}"))
                            .with_bucket_name(bucket)
                            .with_region("us-east-1")
                            .with_virtual_hosted_style_request(false)
                            // Uploads are not hashed with SHA-256 for the signature (UNSIGNED-PAYLOAD, as
                            // AWS allows): 256 MiB went from 3.3 s to 2.4 s. The headers stay signed;
                            // TLS, where the store uses it, guards the bytes in transit.
                            .with_unsigned_payload(true)
                            .with_retry(retry)
                            .with_client_options(
                                ClientOptions::new()
                                    .with_allow_http(!secure)
                                    .with_timeout(REQUEST_TIMEOUT)
                                    .with_connect_timeout(CONNECT_TIMEOUT),
                            )
                            .build()
                            .with_context(|| format!("store {store:?}: S3 client"))?,
                    );
                    Client {
                        store: s3.clone(),
                        s3: Some(s3),
                    }
                }
            };
        self.clients
            .lock()
            .unwrap()
            .insert(store.to_string(), client.clone());
        Ok(client)
    }

    fn count(&self, bytes: u64) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.bytes_fetched.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Bytes `range` of an object (shorter at its end).
    pub fn get_range(&self, loc: &ObjectLoc, range: Range<u64>) -> Result<Bytes> {
        let client = self.client(&loc.store)?;
        let bytes = self
            .runtime
            .block_on(client.get_range(&loc.key, range.clone()))
            .with_context(|| format!("reading {} bytes {range:?}", loc.display))?;
        self.count(bytes.len() as u64);
        tracing::debug!(store = %loc.store, object = %loc.display, ?range, "ranged read");
        Ok(bytes)
    }

    /// Where a folder store keeps the object (read with plain `pread`), None for S3.
    pub fn local_path(&self, loc: &ObjectLoc) -> Option<PathBuf> {
        match &self.spec(&loc.store).ok()?.protocol {
            Protocol::File { location } => Some(location.join(loc.key.as_ref())),
            Protocol::S3 { .. } => None,
        }
    }

    /// Starts fetching `range` of an object in the background, as parallel parts of `part`
    /// bytes; `wait` returns the bytes. Each answer says how large the whole object is: one
    /// that disagrees with `object_len` (the tracking row's size) is an error, never a silently
    /// truncated or padded file.
    pub fn fetch_ahead(
        &self,
        loc: &ObjectLoc,
        range: Range<u64>,
        part: u64,
        object_len: u64,
    ) -> Result<Ahead> {
        let client = self.client(&loc.store)?;
        let key = loc.key.clone();
        let parts: Vec<Range<u64>> = (range.start..range.end)
            .step_by(part as usize)
            .map(|s| s..(s + part).min(range.end))
            .collect();
        let handle = self.runtime.spawn(async move {
            let chunks = futures::future::try_join_all(parts.iter().map(|r| {
                let client = client.clone();
                let key = key.clone();
                let r = r.clone();
                async move {
                    let options = object_store::GetOptions {
                        range: Some(r.into()),
                        ..Default::default()
                    };
                    let got = client.get_opts(&key, options).await?;
                    if got.meta.size != object_len {
                        bail!(
                            "the object has {} bytes but its tracking row says {object_len}",
                            got.meta.size
                        );
                    }
                    anyhow::Ok(got.bytes().await?)
                }
            }))
            .await?;
            if chunks.len() == 1 {
                return anyhow::Ok(chunks.into_iter().next().unwrap());
            }
            let mut all = Vec::with_capacity((range.end - range.start) as usize);
            for c in chunks {
                all.extend_from_slice(&c);
            }
            anyhow::Ok(Bytes::from(all))
        });
        Ok(Ahead {
            start: range.start,
            handle,
            display: loc.display.clone(),
        })
    }

    pub fn wait(&self, ahead: Ahead) -> Result<Bytes> {
        let bytes = self
            .runtime
            .block_on(ahead.handle)
            .map_err(|e| anyhow!("prefetch task: {e}"))?
            .with_context(|| format!("reading {} from {}", ahead.display, ahead.start))?;
        self.count(bytes.len() as u64);
        let range = ahead.start..ahead.start + bytes.len() as u64;
        tracing::debug!(object = %ahead.display, ?range, "ranged read");
        Ok(bytes)
    }

    /// The first bytes of many objects, fetched concurrently; one result per input, in order.
    pub fn prefixes(&self, items: &[(ObjectLoc, u64)]) -> Vec<Result<Bytes>> {
        let futures = items.iter().map(|(loc, len)| {
            let client = self.client(&loc.store);
            let loc = loc.clone();
            let len = *len;
            async move {
                let client = client?;
                client
                    .get_range(&loc.key, 0..len)
                    .await
                    .with_context(|| format!("reading the beginning of {}", loc.display))
            }
        });
        let results: Vec<Result<Bytes>> = self.runtime.block_on(
            futures::stream::iter(futures)
                .buffered(16)
                .collect::<Vec<_>>(),
        );
        for ((loc, _), r) in items.iter().zip(&results) {
            if let Ok(bytes) = r {
                self.count(bytes.len() as u64);
                let range = 0..bytes.len() as u64;
                tracing::debug!(store = %loc.store, object = %loc.display, ?range, "ranged read");
            }
        }
        results
    }

    /// The size of many objects and up to `want` of their first bytes each (2.x objects: a
    /// listing needs sizes the metadata does not give, attachment names, blob heads), fetched
    /// concurrently; one result per input, in order.
    pub fn probes(&self, items: &[(ObjectLoc, u64)]) -> Vec<Result<(u64, Bytes)>> {
        let futures = items.iter().map(|(loc, want)| {
            let client = self.client(&loc.store);
            let loc = loc.clone();
            let want = *want;
            async move {
                let client = client?;
                let meta = client
                    .head(&loc.key)
                    .await
                    .with_context(|| format!("reading the size of {}", loc.display))?;
                let n = want.min(meta.size);
                let bytes = if n == 0 {
                    Bytes::new()
                } else {
                    client
                        .get_range(&loc.key, 0..n)
                        .await
                        .with_context(|| format!("reading the beginning of {}", loc.display))?
                };
                anyhow::Ok((meta.size, bytes))
            }
        });
        let results: Vec<Result<(u64, Bytes)>> = self.runtime.block_on(
            futures::stream::iter(futures)
                .buffered(16)
                .collect::<Vec<_>>(),
        );
        for ((loc, _), r) in items.iter().zip(&results) {
            if let Ok((_, bytes)) = r {
                self.count(bytes.len() as u64);
                tracing::debug!(store = %loc.store, object = %loc.display, bytes = bytes.len(), "probed");
            }
        }
        results
    }

    /// The objects under `prefix` (relative to the store's location, without surrounding
    /// slashes), as (path relative to the location, size), sorted by path.
    pub fn list(&self, store: &str, prefix: &str) -> Result<Vec<(String, u64)>> {
        let spec = self.spec(store)?;
        let (key, strip) = match &spec.protocol {
            Protocol::File { .. } => (prefix.to_string(), String::new()),
            Protocol::S3 { location, .. } => {
                let loc = paths::s3_prefix(location);
                let strip = if loc.is_empty() {
                    String::new()
                } else {
                    format!("{loc}/")
                };
                (paths::s3_key(location, prefix), strip)
            }
        };
        let client = self.client(store)?;
        let key = ObjectPath::parse(&key).map_err(|e| anyhow!("object path {key:?}: {e}"))?;
        let listed: Vec<object_store::ObjectMeta> = self
            .runtime
            .block_on(client.list(Some(&key)).try_collect())
            .with_context(|| format!("listing {prefix:?} in store {store:?}"))?;
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut out: Vec<(String, u64)> = listed
            .into_iter()
            .filter_map(|m| {
                let full = m.location.to_string();
                full.strip_prefix(&strip).map(|p| (p.to_string(), m.size))
            })
            .collect();
        out.sort();
        Ok(out)
    }

    /// Every file under `prefix` (relative to the store's location, without surrounding
    /// slashes), as (path relative to the location, size), sorted by path, as the client's
    /// garbage collector walks a store: a folder store file by file with their names exactly as
    /// stored (symbolic links followed; names that are not UTF-8 are left out with a log line: no
    /// metadata can name them), S3 by one listing of the prefix. A prefix that does not exist
    /// lists nothing; any other failure fails the whole walk (never a partial list).
    pub fn walk(&self, store: &str, prefix: &str) -> Result<Vec<(String, u64)>> {
        let spec = self.spec(store)?;
        let Protocol::File { location } = &spec.protocol else {
            return self.list(store, prefix);
        };
        let root = location.join(prefix);
        let mut out = Vec::new();
        // (folder, its path relative to the location, depth): a bounded depth stops link loops.
        let mut stack = vec![(root, prefix.to_string(), 0usize)];
        while let Some((dir, rel, depth)) = stack.pop() {
            if depth > 64 {
                bail!("{}: folders nested too deep (a link loop?)", dir.display());
            }
            let entries = match std::fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && depth == 0 => break,
                Err(e) => return Err(e).with_context(|| format!("listing {}", dir.display())),
            };
            for entry in entries {
                let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
                let path = entry.path();
                let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                    tracing::warn!("{}: not a UTF-8 name, left out", path.display());
                    continue;
                };
                let meta = std::fs::metadata(&path)
                    .with_context(|| format!("reading {}", path.display()))?;
                let child = format!("{rel}/{name}");
                if meta.is_dir() {
                    stack.push((path, child, depth + 1));
                } else {
                    out.push((child, meta.len()));
                }
            }
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        out.sort();
        Ok(out)
    }

    /// Where the object at `path` (relative to the store's location) is, as one string for
    /// every store name: `file:<folder>/<path>` or `s3://<endpoint>/<bucket>/<key>`. Two store
    /// names for one place give the same strings.
    pub fn place(&self, store: &str, path: &str) -> Result<String> {
        let spec = self.spec(store)?;
        let path = path.trim_start_matches('/');
        Ok(match &spec.protocol {
            Protocol::File { location } => {
                let base = location.to_string_lossy();
                format!("file:{}/{path}", base.trim_end_matches('/'))
            }
            Protocol::S3 {
                endpoint,
                bucket,
                location,
                ..
            } => format!(
                "s3://{}/{bucket}/{}",
                endpoint.trim_end_matches('/').to_ascii_lowercase(),
                paths::s3_key(location, path)
            ),
        })
    }

    /// Where an object a 0.14 `~external_<store>` table tracks is (see `place`).
    pub fn tracked_place(
        &self,
        store: &str,
        schema: &str,
        hash: &[u8],
        kind: &TrackedKind,
    ) -> Result<String> {
        let spec = self.spec(store)?;
        let relative = paths::relative_path(schema, &spec.subfolding, &paths::hex(hash), kind);
        self.place(store, &relative)
    }

    /// Removes the file at `path` (relative to the store's location; a missing one is not an
    /// error), then, in a folder store, the folders above it that it leaves empty, up to the
    /// location (as the client's garbage collector does).
    pub fn delete_path(&self, store: &str, path: &str) -> Result<()> {
        let spec = self.spec(store)?;
        match &spec.protocol {
            Protocol::File { location } => {
                let file = location.join(path);
                match std::fs::remove_file(&file) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(e).with_context(|| format!("removing {}", file.display()))
                    }
                }
                let mut dir = file.parent();
                while let Some(d) = dir.filter(|d| d.starts_with(location) && *d != location) {
                    // Fails when not empty (or gone): then the pruning stops.
                    if std::fs::remove_dir(d).is_err() {
                        break;
                    }
                    dir = d.parent();
                }
                Ok(())
            }
            Protocol::S3 { .. } => {
                let kind = TrackedKind::Stored {
                    path: path.to_string(),
                    skip: 0,
                    check: None,
                };
                self.delete(&self.locate(store, "", &[], &kind)?)
            }
        }
    }

    /// The object's size, or None when the store does not have it.
    pub fn size_of(&self, loc: &ObjectLoc) -> Result<Option<u64>> {
        let client = self.client(&loc.store)?;
        match self.runtime.block_on(client.head(&loc.key)) {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e).with_context(|| format!("checking {}", loc.display)),
        }
    }

    /// Whether the object is in its store.
    pub fn exists(&self, loc: &ObjectLoc) -> Result<bool> {
        let client = self.client(&loc.store)?;
        match self.runtime.block_on(client.head(&loc.key)) {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e).with_context(|| format!("checking {}", loc.display)),
        }
    }

    /// Uploads an object from a local file (or from memory when `data` is given), in parts for
    /// large objects, so memory stays bounded. The object appears whole or not at all. With a
    /// journal, the upload is recorded first (see `crate::journal`); the record stays until the
    /// row transaction that references the object settles it.
    pub fn upload(&self, loc: &ObjectLoc, data: Option<Bytes>, file: Option<&Path>) -> Result<()> {
        self.upload_prefixed(loc, &[], data, file)
    }

    /// `upload` of an object that is `prefix` followed by `data` or the file's bytes (a 2.x
    /// attachment: `name\0` and the file), without copying the file to add the prefix.
    pub fn upload_prefixed(
        &self,
        loc: &ObjectLoc,
        prefix: &[u8],
        data: Option<Bytes>,
        file: Option<&Path>,
    ) -> Result<()> {
        let client = self.clients(&loc.store)?;
        let mut record = Record {
            store: loc.store.clone(),
            schema: loc.schema.clone(),
            hash: if loc.v2 {
                String::new()
            } else {
                paths::hex(&loc.hash)
            },
            key: loc.key.to_string(),
            upload_id: None,
            v2: loc.v2,
        };
        let data = match data {
            Some(d) if !prefix.is_empty() => {
                let mut whole = Vec::with_capacity(prefix.len() + d.len());
                whole.extend_from_slice(prefix);
                whole.extend_from_slice(&d);
                Some(Bytes::from(whole))
            }
            other => other,
        };
        let journal = self.journal();
        let record_id = match journal {
            Some(j) => Some(
                j.begin(record.clone())
                    .context("recording the upload in the journal")?,
            ),
            None => None,
        };
        let result = self.runtime.block_on(async {
            if let Some(data) = data {
                client.store.put(&loc.key, data.into()).await?;
                return anyhow::Ok(());
            }
            let path = file.context("nothing to upload")?;
            use std::io::Read;
            let f = std::io::Cursor::new(prefix.to_vec()).chain(
                std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?,
            );
            match &client.s3 {
                Some(s3) => {
                    let id = s3.create_multipart(&loc.key).await?;
                    if let (Some(j), Some(rid)) = (journal, record_id) {
                        record.upload_id = Some(id.clone());
                        if let Err(e) = j.update(rid, record.clone()) {
                            let _ = s3.abort_multipart(&loc.key, &id).await;
                            return Err(e.context("recording the multipart upload id"));
                        }
                    }
                    let sent = upload_parts(s3, &loc.key, &id, f).await;
                    if sent.is_err() {
                        // Best effort; the journal keeps the id for recovery either way.
                        let _ = s3.abort_multipart(&loc.key, &id).await;
                    }
                    sent
                }
                None => upload_writer(client.store.clone(), &loc.key, f).await,
            }
        });
        result.with_context(|| format!("uploading {}", loc.display))?;
        tracing::debug!(store = %loc.store, object = %loc.display, "uploaded");
        Ok(())
    }

    /// Aborts an S3 multipart upload; Ok(false) when S3 no longer knows it (completed or aborted
    /// before; s3s-fs says "access denied" for unknown uploads). Folder stores: Ok(false).
    pub fn abort_multipart(&self, loc: &ObjectLoc, id: &str) -> Result<bool> {
        let Some(s3) = self.clients(&loc.store)?.s3 else {
            return Ok(false);
        };
        match self
            .runtime
            .block_on(s3.abort_multipart(&loc.key, &id.to_string()))
        {
            Ok(()) => Ok(true),
            Err(object_store::Error::NotFound { .. })
            | Err(object_store::Error::PermissionDenied { .. }) => Ok(false),
            Err(e) => {
                Err(e).with_context(|| format!("aborting the multipart upload of {}", loc.display))
            }
        }
    }

    /// Removes a folder store's partial uploads of an object (`<object>#<n>`, as
    /// `object_store`'s LocalFileSystem writes before renaming); returns what it removed.
    pub fn remove_partials(&self, loc: &ObjectLoc) -> Result<Vec<PathBuf>> {
        let Some(path) = self.local_path(loc) else {
            return Ok(Vec::new());
        };
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
            return Ok(Vec::new());
        };
        let mut prefix = name.to_os_string();
        prefix.push("#");
        let prefix = prefix.as_encoded_bytes().to_vec();
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).with_context(|| format!("listing {}", dir.display())),
        };
        let mut removed = Vec::new();
        for entry in entries.flatten() {
            let n = entry.file_name();
            let bytes = n.as_encoded_bytes();
            let partial = bytes.starts_with(&prefix)
                && !bytes[prefix.len()..].is_empty()
                && bytes[prefix.len()..].iter().all(u8::is_ascii_digit);
            if partial {
                match std::fs::remove_file(entry.path()) {
                    Ok(()) => removed.push(entry.path()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(e)
                            .with_context(|| format!("removing {}", entry.path().display()))
                    }
                }
            }
        }
        Ok(removed)
    }

    /// Removes an object; a missing object is not an error (the client ignores it too).
    pub fn delete(&self, loc: &ObjectLoc) -> Result<()> {
        let client = self.client(&loc.store)?;
        match self.runtime.block_on(client.delete(&loc.key)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e).with_context(|| format!("removing {}", loc.display)),
        }
    }

    /// Downloads a whole object into `target` the way the client does (`<target>.saving`, then
    /// rename), streaming, so memory stays bounded.
    pub fn download(&self, loc: &ObjectLoc, target: &Path) -> Result<()> {
        use std::io::Write;
        let client = self.client(&loc.store)?;
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let temp = target.with_extension("saving");
        let result = self.runtime.block_on(async {
            let mut file = std::fs::File::create(&temp)
                .with_context(|| format!("creating {}", temp.display()))?;
            let mut stream = client
                .get(&loc.key)
                .await
                .with_context(|| format!("reading {}", loc.display))?
                .into_stream();
            let mut total = 0u64;
            while let Some(chunk) = stream
                .try_next()
                .await
                .with_context(|| format!("reading {}", loc.display))?
            {
                file.write_all(&chunk)
                    .with_context(|| format!("writing {}", temp.display()))?;
                total += chunk.len() as u64;
            }
            file.sync_all().ok();
            anyhow::Ok(total)
        });
        match result {
            Ok(total) => {
                self.count(total);
                std::fs::rename(&temp, target)
                    .with_context(|| format!("renaming {} into place", temp.display()))?;
                tracing::debug!(store = %loc.store, object = %loc.display, bytes = total, cache = %target.display(), "downloaded");
                Ok(())
            }
            Err(e) => {
                let _ = std::fs::remove_file(&temp);
                Err(e)
            }
        }
    }
}
