//! The filesystem core: inodes, lookups, listings and reads over the catalog and the database,
//! with the caching that keeps SQL to one query per directory. No FUSE types here: the `fuse`
//! module is a thin adapter, and this core is tested directly against a real database.

use std::ffi::OsStr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

mod edits;
mod error;
mod handles;
mod inodes;
mod metadata;
mod mtimes;
mod pagecache;
mod paging;
mod rendered;
mod unused;
mod walks;
mod watch;
mod write;
mod write_stored;

pub mod clock;

#[cfg(test)]
mod reftest;

pub use edits::{NEW_ROW_VIEWS, UNLINK_GRACE};
pub use error::{ErrorKind, FsError, FsResult};
use metadata::{Listing, TrackedListing};
pub use pagecache::PageCache;
pub use paging::{DirChunk, FIRST_PAGE_ROWS};
use unused::StoreUse;
pub use walks::{offset_of, Walk};
pub use watch::{DirCaching, KernelInvalidation, KERNEL_TTL};
use write::WriteHandle;

use crate::backend::{Backend, Fact, RowFacts, Tracked};
use crate::catalog::{SchemaCatalog, TableInfo};
use crate::codec::{classify_blob, BlobShape, NpyView};
use crate::external::{ExternalObjects, WantedHead};
use crate::namespace::{
    permissions, row_entries_with, AttrFile, Content, ExternalObject, FileEntry, Node, RowEntry,
    RowId, Unavailable, EXTERNAL_DIR, STATS_FILE, UNUSED_DIR,
};
use crate::rowname;
use crate::source::{ByteSource, InflatingSource, MemorySource, NpyFile};
use crate::stores::paths;
use crate::stores::Stores;
use crate::views::png::ImageShape;
use crate::views::{definition, diagram};

pub const ROOT_INO: u64 = 1;

/// A listing older than this is refreshed as a whole rather than row by row, unless the table is
/// larger than `RELIST_MAX_ROWS` (then single rows are looked up with point queries).
const RELIST_MAX_ROWS: usize = 200_000;

#[derive(Clone, Debug)]
pub struct FsOptions {
    /// Mount one schema at the root, or (None) every schema as a folder.
    pub schema: Option<String>,
    pub read_only: bool,
    /// How long listings, rows and the catalog are trusted before asking the database again;
    /// also the kernel's attribute/entry timeout. Changes by other clients show within this.
    pub refresh: Duration,
    pub uid: u32,
    pub gid: u32,
    /// `rmdir` of a row also deletes the rows of other tables that depend on it.
    pub cascade_delete: bool,
    /// About how many bytes the caches may hold together (`--cache-mib`); see `CacheBudget`.
    pub cache_bytes: usize,
    /// Rows in the first page of a paged table listing (`--page-rows`; see `paging`).
    pub page_rows: usize,
}

/// The default of `--cache-mib`.
pub const DEFAULT_CACHE_MIB: usize = 128;

/// How `FsOptions::cache_bytes` is shared among the caches.
struct CacheBudget {
    listings: usize,
    rows: usize,
    value_times: usize,
    heads: usize,
    renderings: usize,
}

impl CacheBudget {
    fn of(total: usize) -> CacheBudget {
        CacheBudget {
            listings: total / 100 * 55,
            rows: total / 100 * 15,
            value_times: total / 100 * 10,
            heads: total / 100 * 5,
            renderings: total / 100 * 15,
        }
    }
}

/// Hands memory the allocator holds free back to the system (glibc keeps freed pages otherwise).
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory of the allocator's own heaps.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// A failure of the mount's own files (staging, cache files), with its cause; ENOSPC stays
/// ENOSPC, anything else is EIO.
pub(crate) fn staging_error(place: &str, what: &str, err: std::io::Error) -> FsError {
    FsError::io(format!("{place}: {what}"), err)
}

/// A state the code does not expect (a bug, not the user's doing): EIO.
pub(crate) fn internal_error(place: &str, what: &str) -> FsError {
    FsError::internal(what).at(place)
}

fn db_error(what: &str, err: anyhow::Error) -> FsError {
    FsError::io(format!("database error while {what}"), err)
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attr {
    pub ino: u64,
    pub is_dir: bool,
    pub size: u64,
    pub perm: u16,
    pub mtime: SystemTime,
}

#[derive(Clone, Debug)]
pub struct DirEntry {
    pub ino: u64,
    /// What the entry is (its number may go once the listing is closed, see `entry_given`).
    pub node: Node,
    pub is_dir: bool,
    pub name: String,
    /// The entry's attributes, for READDIRPLUS (so `ls -l` needs no lookup per entry).
    pub attr: Attr,
}

/// What a listed entry is: a folder, or a file whose size is known (None: known once rendered).
#[derive(Clone, Copy, Debug)]
enum Listed {
    Dir,
    File(Option<u64>),
    /// With a modification time of its own (rows, values: see `Filesystem::value_mtime`).
    DirAt(SystemTime),
    FileAt(u64, SystemTime),
}

/// A value and when it was read.
struct Timed<T> {
    at: Instant,
    value: T,
}

/// An open file: where its bytes come from, and where it is (for log lines).
struct OpenFile {
    body: Body,
    place: String,
}

enum Body {
    Bytes(Arc<dyn ByteSource>),
    /// A virtual `.npy` over the plain (decompressed) blob.
    Npy(NpyFile),
}

#[derive(Clone)]
enum Handle {
    Dir(Arc<DirListing>),
    File(Arc<OpenFile>),
    Write(Arc<WriteHandle>),
}

/// An open folder's entries: read whole at `opendir`, or (a table without a cached listing) page
/// by page as `readdir` asks (see `paging`).
enum DirListing {
    Whole(Arc<Vec<DirEntry>>),
    Paged(std::sync::Mutex<paging::PagedDir>),
    /// Made at the first `readdir`, if any (the kernel keeps a listing of its own).
    Lazy(Node, std::sync::OnceLock<Arc<Vec<DirEntry>>>),
}

/// One item of a folder's listing reply: `.` or `..` (the folder itself and its parent), or an
/// entry.
pub enum ListingItem<'a> {
    Dot(&'static str),
    Entry(&'a DirEntry),
}

/// A file found by path: what it shows and how to fetch it.
struct FileTarget {
    content: Content,
    schema: Arc<str>,
    /// `schema/Class/row/file`, for log lines.
    place: String,
    /// For in-table values: the table, the row's key and the column to fetch.
    in_table: Option<(Arc<TableInfo>, Vec<String>, usize)>,
    mtime: SystemTime,
}

pub struct Filesystem {
    db: Arc<dyn Backend>,
    /// External objects: opening them, their first bytes, uploads and cleanup.
    external: ExternalObjects,
    /// Rendered views (`.json`, `.png`): external ones by hash (never stale), in-table ones for
    /// the refresh delay. Bounded by bytes.
    rendered: rendered::RenderedViews,
    opts: FsOptions,
    mounted_at: SystemTime,
    /// Inode numbers, open handles, files being written and temporary files.
    handles: handles::Handles,
    /// What the database said lately (schemas, catalogs, listings, rows, tracked objects).
    metadata: metadata::MetadataCache,
    /// Where written bytes wait for `close`.
    staging_dir: std::path::PathBuf,
    /// Row edits in progress (new rows, removed files, NULLs due, deleted rows).
    edits: edits::RowEdits,
    /// What the kernel's page cache may keep of each file.
    page_cache: pagecache::PageCachePolicy,
    /// When this mount first saw each value's current content, by row and column, with what
    /// identified that content (see `value_mtime`).
    mtimes: mtimes::ValueTimes,
    /// What every delay is measured on (see `clock`).
    clock: Arc<dyn clock::Clock>,
    /// How the caches share `FsOptions::cache_bytes`.
    cache_budget: CacheBudget,
    /// How many rows a lookup reads ahead, by table (see `paging`).
    read_ahead: paging::ReadAhead,
    /// Tables whose rows the kernel keeps longer, checked for changes (see `watch`).
    watched: watch::Watched,
    /// Listings the kernel is reading without open handles (see `walks`).
    walks: walks::Walks,
    /// How many lookups, getattrs, opendirs and readdirs the kernel sent (for `.djfs/stats`:
    /// what the kernel's caches did not answer).
    requests: [std::sync::atomic::AtomicU64; 4],
    /// Inode numbers dropped since freed memory was last handed back to the system.
    dropped_since_trim: std::sync::atomic::AtomicUsize,
    /// Folders of `.unused` that `rm` emptied lately (see `unused`).
    unused_folders: unused::UnusedFolders,
}

/// After this many inode numbers went, freed memory is handed back (`malloc_trim`): a walk of a
/// million rows frees its numbers in small pieces all over the heap, which glibc would keep.
const TRIM_AFTER_DROPPED: usize = 100_000;

/// The kernel requests counted in `Filesystem::requests`.
#[derive(Clone, Copy)]
enum Request {
    Lookup,
    Getattr,
    Opendir,
    Readdir,
}

impl Filesystem {
    pub fn new(db: Arc<dyn Backend>, stores: Arc<Stores>, opts: FsOptions) -> Filesystem {
        Filesystem::with_clock(db, stores, opts, Arc::new(clock::SystemClock))
    }

    /// A core whose delays run on `clock` (tests move it forward).
    pub fn with_clock(
        db: Arc<dyn Backend>,
        stores: Arc<Stores>,
        opts: FsOptions,
        clock: Arc<dyn clock::Clock>,
    ) -> Filesystem {
        // A private staging folder that also holds the upload journal (see crate::staging).
        let staging_dir = crate::staging::setup(&stores);
        let budget = CacheBudget::of(opts.cache_bytes);
        let mounted_at = SystemTime::now();
        Filesystem {
            staging_dir,
            edits: Default::default(),
            metadata: metadata::MetadataCache::new(budget.listings, budget.rows),
            page_cache: Default::default(),
            mtimes: mtimes::ValueTimes::new(mounted_at, budget.value_times),
            clock,
            db,
            external: ExternalObjects::new(stores, budget.heads),
            rendered: rendered::RenderedViews::new(budget.renderings),
            opts,
            mounted_at,
            handles: Default::default(),
            unused_folders: Default::default(),
            cache_budget: budget,
            read_ahead: Default::default(),
            watched: Default::default(),
            walks: Default::default(),
            requests: Default::default(),
            dropped_since_trim: Default::default(),
        }
    }

    /// How to make the kernel forget an inode's cached size and pages (FUSE notify).
    pub fn set_kernel_forget(&self, forget: Box<dyn Fn(u64) + Send + Sync>) {
        self.page_cache.set_kernel_forget(forget);
    }

    /// A file's value changed (stored here): the kernel's cached size and pages are stale.
    fn value_changed(&self, ino: u64) {
        self.page_cache.value_changed(ino);
    }

    /// Reads the mounted schema's catalog now (at mount), so that the first `ls` waits only
    /// for its rows. A failure is only logged: the next access asks again.
    pub fn preload_catalog(&self) {
        if let Some(schema) = self.root_schema() {
            if let Err(e) = self.catalog(&schema) {
                tracing::warn!("reading the tables of schema {schema} at mount: {e}");
            }
        }
    }

    pub fn database(&self) -> &dyn Backend {
        &*self.db
    }

    pub fn stores(&self) -> &Stores {
        self.external.stores()
    }

    pub fn options(&self) -> &FsOptions {
        &self.opts
    }

    /// How long ago `at` was, on the core's clock.
    fn since(&self, at: Instant) -> Duration {
        self.clock.now().saturating_duration_since(at)
    }

    fn fresh(&self, at: Instant) -> bool {
        self.since(at) < self.opts.refresh
    }

    // ----- public operations (what the FUSE adapter calls) -----

    fn count(&self, request: Request) {
        self.requests[request as usize].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn lookup(&self, parent: u64, name: &OsStr) -> FsResult<Attr> {
        self.count(Request::Lookup);
        let parent = self.node(parent)?;
        let name = name.to_str().ok_or(FsError::NotFound)?;
        let child = self.child(&parent, name)?;
        let ino = self.handles.intern(child.clone());
        let attr = self.attr_of(ino, &child)?;
        // The kernel holds the entry now: one lookup (an error reply holds none).
        self.handles.add_lookup(ino);
        Ok(attr)
    }

    /// `forget`: the kernel dropped `n` lookups of `ino`; with none left its number and what is
    /// kept of it go (memory stays bounded by what the kernel holds).
    pub fn forget(&self, ino: u64, n: u64) {
        self.handles.forget(ino, n);
        self.forget_dropped();
    }

    /// What the page cache policy kept of inode numbers that went.
    fn forget_dropped(&self) {
        let dropped = self.handles.take_dropped();
        for &ino in &dropped {
            self.page_cache.forget(ino);
            self.watched.forget_dir(ino);
        }
        use std::sync::atomic::Ordering::Relaxed;
        if self.dropped_since_trim.fetch_add(dropped.len(), Relaxed) + dropped.len()
            >= TRIM_AFTER_DROPPED
        {
            self.dropped_since_trim.store(0, Relaxed);
            release_free_memory();
        }
    }

    /// A listing entry given to the kernel with its attributes (READDIRPLUS counts as a lookup):
    /// its inode number, handed out again if it went meanwhile.
    pub fn entry_given(&self, entry: &DirEntry) -> u64 {
        self.handles.looked_up(entry.node.clone())
    }

    pub fn getattr(&self, ino: u64) -> FsResult<Attr> {
        self.count(Request::Getattr);
        let node = self.node(ino)?;
        self.attr_of(ino, &node)
    }

    /// Lists a directory for a handle: at once and whole (kept for the handle, so `readdir`
    /// offsets stay consistent), or for a table without a cached listing, page by page.
    /// Also says what the kernel may keep of the listing (see `watch`).
    pub fn opendir(&self, ino: u64) -> FsResult<(u64, DirCaching)> {
        self.count(Request::Opendir);
        let node = self.node(ino)?;
        let caching = self.dir_caching(ino);
        if caching == DirCaching::Keep {
            // The kernel lists from its own copy: entries are made only if it asks after all.
            self.check_dir(&node)?;
            let lazy = DirListing::Lazy(node, std::sync::OnceLock::new());
            return Ok((self.new_handle(Handle::Dir(Arc::new(lazy))), caching));
        }
        Ok((self.open_listing(node)?, caching))
    }

    /// A handle on a folder's listing, made now: whole, or page by page for a table without a
    /// cached listing.
    fn open_listing(&self, node: Node) -> FsResult<u64> {
        if let Node::Table { schema, class } = &node {
            let table = self.table(schema, class)?;
            let (cached, stamp) = self.listing_checked(schema, &table)?;
            if cached.is_none() {
                let head = self.entries_for(vec![self.definition_entry(schema, class)?]);
                let paged = self.open_paged(schema, class, table, stamp, head)?;
                self.forget_dropped();
                let paged = DirListing::Paged(std::sync::Mutex::new(paged));
                return Ok(self.new_handle(Handle::Dir(Arc::new(paged))));
            }
        }
        let entries = self.entries_for(self.children(&node)?);
        self.forget_dropped();
        let whole = DirListing::Whole(Arc::new(entries));
        Ok(self.new_handle(Handle::Dir(Arc::new(whole))))
    }

    /// A kernel `readdir` of folder `ino` at `offset`, without an open handle (see `walks`):
    /// the walk it continues (begun now at offset 0, or again when it went) and the position to
    /// read on from (0 is `.`, 1 is `..`, 2 + i entry i).
    pub fn walk(&self, ino: u64, offset: u64) -> FsResult<(u32, walks::Walk, u64)> {
        let position = match walks::position_of(offset) {
            None => 0,
            Some((id, position)) => {
                if let Some(walk) = self.walks.get(id, ino, self.clock.now()) {
                    return Ok((id, walk, position));
                }
                tracing::debug!(
                    ino,
                    position,
                    "a listing read on after its walk went: begun again"
                );
                position
            }
        };
        self.count(Request::Opendir);
        let node = self.node(ino)?;
        let kept = self.kernel_may_keep(ino);
        let walk = walks::Walk {
            ino,
            fh: self.open_listing(node)?,
            kept,
        };
        let (id, gone) = self.walks.begin(walk, self.clock.now());
        for old in gone {
            self.release(old.fh);
        }
        Ok((id, walk, position))
    }

    /// Walk `id` was read to its end (the kernel has the whole listing): its handle goes, and
    /// the kernel forgets the listing unless djfs can tell when it changes (see `walks`).
    /// Called after the last reply, so that what is forgotten includes it.
    pub fn walk_done(&self, id: u32) {
        if let Some(walk) = self.walks.end(id) {
            self.release(walk.fh);
            if !walk.kept {
                self.page_cache.value_changed(walk.ino);
            }
        }
    }

    /// Fills one `readdir` reply of folder `ino` from `offset` (see `walks`): `add` puts `.`,
    /// `..` or an entry with the offset that follows it, and says whether the reply is full.
    /// Only a reply without entries ends a listing (the kernel asks on until one has none):
    /// then the walk to end is returned, for `walk_done` once that reply is sent.
    pub fn fill_listing(
        &self,
        ino: u64,
        offset: u64,
        mut add: impl FnMut(ListingItem<'_>, u64) -> bool,
    ) -> FsResult<Option<u32>> {
        const DOTS: [&str; 2] = [".", ".."];
        let (walk, at, mut position) = self.walk(ino, offset)?;
        let mut added = false;
        while (position as usize) < DOTS.len() {
            let name = DOTS[position as usize];
            position += 1;
            if add(ListingItem::Dot(name), offset_of(walk, position)) {
                return Ok(None);
            }
            added = true;
        }
        let mut from = position as usize - DOTS.len();
        loop {
            let chunk = self.readdir(at.fh, from)?;
            let skip = from.saturating_sub(chunk.first);
            if chunk.entries.len() <= skip {
                return Ok((!added).then_some(walk));
            }
            for entry in &chunk.entries[skip..] {
                from += 1;
                if add(
                    ListingItem::Entry(entry),
                    offset_of(walk, (from + DOTS.len()) as u64),
                ) {
                    return Ok(None);
                }
                added = true;
            }
        }
    }

    /// Directory entries (with inode numbers and attributes) for listed children.
    fn entries_for(&self, children: Vec<(Node, String, Listed)>) -> Vec<DirEntry> {
        let named: Vec<(u64, Node, String, Listed)> = {
            let mut inodes = self.handles.inodes.lock().unwrap();
            children
                .into_iter()
                .map(|(node, name, listed)| (inodes.intern(node.clone()), node, name, listed))
                .collect()
        };
        named
            .into_iter()
            .map(|(ino, node, name, listed)| {
                let attr = match listed {
                    Listed::Dir => self.dir_attr(ino),
                    Listed::DirAt(mtime) => Attr {
                        mtime,
                        ..self.dir_attr(ino)
                    },
                    Listed::File(Some(size)) => {
                        self.page_cache.told(ino, size);
                        self.writing_attr(ino, size)
                    }
                    Listed::FileAt(size, mtime) => {
                        self.page_cache.told(ino, size);
                        Attr {
                            mtime,
                            ..self.writing_attr(ino, size)
                        }
                    }
                    Listed::File(None) => self
                        .attr_of(ino, &node)
                        .unwrap_or_else(|_| self.writing_attr(ino, 0)),
                };
                DirEntry {
                    ino,
                    node,
                    is_dir: matches!(listed, Listed::Dir | Listed::DirAt(_)),
                    name,
                    attr,
                }
            })
            .collect()
    }

    /// The entries of an open folder from entry number `from` on (no `.`/`..`): a chunk
    /// that starts at or before `from`, empty at the end. A paged listing reads its next page
    /// here when `from` reaches it.
    pub fn readdir(&self, fh: u64, from: usize) -> FsResult<DirChunk> {
        self.count(Request::Readdir);
        let Some(Handle::Dir(listing)) = self.handles.get(fh) else {
            return Err(FsError::BadHandle);
        };
        match &*listing {
            DirListing::Whole(entries) => Ok(DirChunk {
                first: 0,
                entries: entries.clone(),
            }),
            DirListing::Paged(paged) => {
                let chunk = self.paged_chunk(&mut paged.lock().unwrap(), from);
                self.forget_dropped();
                chunk
            }
            DirListing::Lazy(node, entries) => {
                let entries = match entries.get() {
                    Some(e) => e.clone(),
                    None => {
                        let made = Arc::new(self.entries_for(self.children(node)?));
                        entries.get_or_init(|| made).clone()
                    }
                };
                Ok(DirChunk { first: 0, entries })
            }
        }
    }

    /// Every entry of an open folder (reads a paged listing to its end).
    pub fn readdir_all(&self, fh: u64) -> FsResult<Vec<DirEntry>> {
        let mut all: Vec<DirEntry> = Vec::new();
        loop {
            let chunk = self.readdir(fh, all.len())?;
            let skip = all.len() - chunk.first;
            if chunk.entries.len() <= skip {
                return Ok(all);
            }
            all.extend(chunk.entries[skip..].iter().cloned());
        }
    }

    /// Opens a file; returns the handle and how the kernel should cache it.
    pub fn open(&self, ino: u64, write: bool) -> FsResult<(u64, PageCache)> {
        self.open_with(ino, write, false)
    }

    /// `open`; `truncate` for O_TRUNC (the value is then written whole).
    pub fn open_with(&self, ino: u64, write: bool, truncate: bool) -> FsResult<(u64, PageCache)> {
        if write {
            // Staged bytes are not the stored value: they must not reach the page cache that
            // readers of the same file use (they read the stored value until it is replaced).
            return Ok((self.open_for_write(ino, truncate)?, PageCache::Bypass));
        }
        if let Some((_, temp)) = self.handles.temp(ino) {
            return Ok((self.new_handle(Handle::Write(temp)), PageCache::Bypass));
        }
        let node = self.node(ino)?;
        let target = self.file(&node)?;
        // A content-addressed value never changes, but the file (a row's attribute) does when
        // the row gets another value: its pages are kept only while it shows the same object.
        let identity = match &target.content {
            Content::External(object)
            | Content::ExternalNpy { object, .. }
            | Content::Png {
                external: Some(object),
                ..
            } => Some(object.hash.clone()),
            _ => None,
        };
        let file = self.load(&target)?;
        let size = match &file.body {
            Body::Bytes(source) => source.len(),
            Body::Npy(npy) => npy.size(),
        };
        let being_written = self.handles.writing(ino).is_some();
        let cache = self.page_cache.at_open(
            self.clock.now(),
            ino,
            identity.as_deref(),
            size,
            being_written,
        );
        Ok((self.new_handle(Handle::File(Arc::new(file))), cache))
    }

    /// The local file an open (read-only) handle serves whole and unchanged, for FUSE
    /// passthrough: a folder store's object or a DataJoint cache file shown as it is.
    pub fn backing_file(&self, fh: u64) -> Option<std::fs::File> {
        let Some(Handle::File(file)) = self.handles.get(fh) else {
            return None;
        };
        match &file.body {
            Body::Bytes(source) => source.backing_file()?.try_clone().ok(),
            Body::Npy(_) => None,
        }
    }

    pub fn read(&self, fh: u64, offset: u64, size: u32) -> FsResult<Vec<u8>> {
        let file = match self.handles.get(fh) {
            Some(Handle::File(f)) => f.clone(),
            Some(Handle::Write(w)) => {
                let staged = w
                    .staging
                    .lock()
                    .unwrap()
                    .to_vec()
                    .map_err(|e| staging_error(&w.place, "reading the staged bytes", e))?;
                let from = (offset as usize).min(staged.len());
                let to = from.saturating_add(size as usize).min(staged.len());
                return Ok(staged[from..to].to_vec());
            }
            _ => return Err(FsError::BadHandle),
        };
        let result = match &file.body {
            Body::Bytes(source) => source.read_at(offset, size as usize),
            Body::Npy(npy) => npy.read(offset, size as usize),
        };
        result.map_err(|e| FsError::io(format!("reading {} at {offset}", file.place), e))
    }

    pub fn release(&self, fh: u64) {
        if let Some(Handle::Write(w)) = self.handles.close(fh) {
            self.release_write(&w, false);
        }
    }

    /// `release` of a file `mknod` made that no program opened: stored as it is (empty, as
    /// `touch` stores a new file).
    pub fn release_unopened(&self, fh: u64) {
        if let Some(Handle::Write(w)) = self.handles.close(fh) {
            self.release_write(&w, true);
        }
    }

    /// Whether a write handle of `ino` is open.
    pub fn being_written(&self, ino: u64) -> bool {
        self.handles.writing(ino).is_some()
    }

    /// A node's path for messages (`inode N` when it is not known).
    pub fn place(&self, ino: u64) -> String {
        self.node(ino)
            .map(|n| n.path())
            .unwrap_or_else(|_| format!("inode {ino}"))
    }

    /// At unmount: writes pending NULLs now and names rows that never got their values.
    pub fn shutdown(&self) {
        self.edits.all_nulls_due(self.clock.now());
        self.apply_due_nulls();
        for (row, missing) in self.edits.never_inserted() {
            tracing::warn!("{row}: row never inserted: missing {}", missing.join(", "));
        }
    }

    pub fn attr_ttl(&self) -> Duration {
        self.opts.refresh
    }

    // ----- resolution -----

    fn node(&self, ino: u64) -> FsResult<Node> {
        self.handles.node(ino).ok_or(FsError::NotFound)
    }

    fn new_handle(&self, handle: Handle) -> u64 {
        self.handles.open(handle)
    }

    fn dir_attr(&self, ino: u64) -> Attr {
        Attr {
            ino,
            is_dir: true,
            size: 0,
            perm: permissions(true, self.opts.read_only),
            mtime: self.mounted_at,
        }
    }

    /// A node's attributes, as told to the kernel.
    fn attr_of(&self, ino: u64, node: &Node) -> FsResult<Attr> {
        let attr = self.current_attr(ino, node)?;
        if !attr.is_dir {
            self.page_cache.told(ino, attr.size);
        }
        Ok(attr)
    }

    /// A node's attributes: those of its stored value (what readers get until a write is
    /// stored); a file being written that has no stored value yet has its staged size.
    fn current_attr(&self, ino: u64, node: &Node) -> FsResult<Attr> {
        if let Some((_, temp)) = self.handles.temp(ino) {
            return Ok(self.writing_attr(ino, temp.staging.lock().unwrap().len()));
        }
        let staged = self
            .handles
            .writing(ino)
            .map(|w| w.staging.lock().unwrap().len());
        if let Some(size) = staged {
            return match self.stored_attr(ino, node) {
                Ok(attr) => Ok(attr),
                Err(_) => Ok(self.writing_attr(ino, size)),
            };
        }
        self.stored_attr(ino, node)
    }

    fn stored_attr(&self, ino: u64, node: &Node) -> FsResult<Attr> {
        match node {
            Node::RowEntry { .. }
            | Node::AttachFile { .. }
            | Node::ExternalObject { .. }
            | Node::Definition { .. }
            | Node::Diagram { .. }
            | Node::Stats => match self.resolve_entry(node)? {
                Resolved::Folder(mtime) => Ok(Attr {
                    mtime,
                    ..self.dir_attr(ino)
                }),
                Resolved::File(target) => Ok(Attr {
                    ino,
                    is_dir: false,
                    size: match target.content {
                        Content::Json { .. } => self.render_json(&target)?.len() as u64,
                        _ => target.content.size(),
                    },
                    perm: permissions(false, self.opts.read_only),
                    mtime: target.mtime,
                }),
            },
            Node::Row { schema, class, row } => {
                let (table, facts) = self.row(schema, class, row)?;
                Ok(Attr {
                    mtime: self.row_mtime(schema, &table, &facts),
                    ..self.dir_attr(ino)
                })
            }
            other => {
                self.check_dir(other)?;
                Ok(self.dir_attr(ino))
            }
        }
    }

    /// The schema shown at the root in single-schema mode.
    fn root_schema(&self) -> Option<Arc<str>> {
        self.opts.schema.as_deref().map(Arc::from)
    }

    /// Checks that a folder node still exists.
    fn check_dir(&self, node: &Node) -> FsResult<()> {
        match node {
            Node::Root | Node::Control => Ok(()),
            Node::Schema(s) => {
                if self.schema_list()?.iter().any(|x| **x == **s) {
                    Ok(())
                } else {
                    Err(FsError::NotFound)
                }
            }
            Node::Table { schema, class } => self.table(schema, class).map(|_| ()),
            Node::Row { schema, class, row } => self.row(schema, class, row).map(|_| ()),
            Node::ExternalRoot { schema } => {
                if self.external_stores(&*self.catalog(schema)?).is_empty() {
                    Err(FsError::NotFound)
                } else {
                    Ok(())
                }
            }
            Node::ExternalStore { schema, store, .. } => {
                let catalog = self.catalog(schema)?;
                match self
                    .external_stores(&catalog)
                    .into_iter()
                    .find(|(s, _)| **s == **store)
                {
                    Some(_) => Ok(()),
                    None => Err(FsError::NotFound),
                }
            }
            Node::RowEntry { .. }
            | Node::AttachFile { .. }
            | Node::ExternalObject { .. }
            | Node::Definition { .. }
            | Node::Diagram { .. }
            | Node::Stats => match self.resolve_entry(node)? {
                Resolved::Folder(_) => Ok(()),
                Resolved::File(..) => Err(FsError::NotDir),
            },
        }
    }

    /// The node `name` in `parent`, by name only (`parent` itself when it is not a folder).
    fn child_name(&self, parent: &Node, name: &str) -> Node {
        parent
            .child(name, self.root_schema().as_ref())
            .unwrap_or_else(|| parent.clone())
    }

    /// The child of a folder node by name (checked to exist).
    fn child(&self, parent: &Node, name: &str) -> FsResult<Node> {
        let child = parent
            .child(name, self.root_schema().as_ref())
            .ok_or(FsError::NotDir)?;
        if self.temp_ino(&child).is_some() {
            return Ok(child);
        }
        match &child {
            Node::RowEntry { .. }
            | Node::AttachFile { .. }
            | Node::ExternalObject { .. }
            | Node::Definition { .. }
            | Node::Diagram { .. }
            | Node::Stats => {
                self.resolve_entry(&child)?;
            }
            other => self.check_dir(other)?,
        }
        Ok(child)
    }

    /// The entries of a folder node: (node, name, is_dir).
    fn children(&self, node: &Node) -> FsResult<Vec<(Node, String, Listed)>> {
        let tables = |schema: Arc<str>| -> FsResult<Vec<(Node, String, Listed)>> {
            let catalog = self.catalog(&schema)?;
            let external = (!self.external_stores(&catalog).is_empty()).then(|| {
                (
                    Node::ExternalRoot {
                        schema: schema.clone(),
                    },
                    EXTERNAL_DIR.to_string(),
                    Listed::Dir,
                )
            });
            let (svg, dot) = self.diagram_files(&catalog);
            let views = [
                (false, diagram::SVG_NAME, svg),
                (true, diagram::DOT_NAME, dot),
            ]
            .into_iter()
            .map(|(is_dot, name, bytes)| {
                (
                    Node::Diagram {
                        schema: schema.clone(),
                        dot: is_dot,
                    },
                    name.to_string(),
                    Listed::File(Some(bytes.len() as u64)),
                )
            });
            Ok(external
                .into_iter()
                .chain(views)
                .chain(catalog.tables.iter().map(|t| {
                    let class: Arc<str> = t.class_name.as_str().into();
                    (
                        Node::Table {
                            schema: schema.clone(),
                            class,
                        },
                        t.class_name.clone(),
                        Listed::Dir,
                    )
                }))
                .collect())
        };
        match node {
            // `.djfs` is found by name but not listed: `cp -r`, `rsync` and `find` of the mount
            // see the schema only.
            Node::Root => match self.root_schema() {
                Some(schema) => tables(schema),
                None => Ok(self
                    .schema_list()?
                    .iter()
                    .map(|s| (Node::Schema(s.as_str().into()), s.clone(), Listed::Dir))
                    .collect()),
            },
            Node::Control => Ok(vec![(Node::Stats, STATS_FILE.into(), Listed::File(None))]),
            Node::Schema(schema) => {
                self.check_dir(node)?;
                tables(schema.clone())
            }
            Node::Table { schema, class } => {
                let table = self.table(schema, class)?;
                let listing = self.listing(schema, &table, true)?;
                let pending = self.edits.pending_folders(schema, class, |folder| {
                    listing.by_folder.contains_key(folder)
                });
                let definition = self.definition_entry(schema, class)?;
                let now = SystemTime::now();
                Ok(std::iter::once(definition)
                    .chain(
                        listing
                            .rows
                            .iter()
                            .map(|r| (r.folder.clone(), self.row_mtime(schema, &table, r)))
                            .chain(pending.into_iter().map(|f| (f, now)))
                            .map(|(folder, mtime)| {
                                let row: Arc<str> = folder.as_str().into();
                                (
                                    Node::Row {
                                        schema: schema.clone(),
                                        class: class.clone(),
                                        row,
                                    },
                                    folder,
                                    Listed::DirAt(mtime),
                                )
                            }),
                    )
                    .collect())
            }
            Node::Definition { .. } | Node::Diagram { .. } | Node::Stats => Err(FsError::NotDir),
            Node::ExternalRoot { schema } => Ok(self
                .external_stores(&*self.catalog(schema)?)
                .into_iter()
                .map(|(store, _)| {
                    (
                        Node::ExternalStore {
                            schema: schema.clone(),
                            store: store.as_str().into(),
                            unused: false,
                        },
                        store.clone(),
                        Listed::Dir,
                    )
                })
                .collect()),
            Node::ExternalStore {
                schema,
                store,
                unused,
            } => {
                self.check_dir(node)?;
                let listing = self.tracked_listing(schema, store, *unused)?;
                let unused_dir = (!unused).then(|| {
                    (
                        Node::ExternalStore {
                            schema: schema.clone(),
                            store: store.clone(),
                            unused: true,
                        },
                        UNUSED_DIR.to_string(),
                        Listed::Dir,
                    )
                });
                Ok(unused_dir
                    .into_iter()
                    .chain(self.external_tree(schema, store, *unused, &listing, ""))
                    .collect())
            }
            Node::ExternalObject {
                schema,
                store,
                unused,
                name,
            } => match self.resolve_entry(node)? {
                Resolved::Folder(_) => {
                    let listing = self.tracked_listing(schema, store, *unused)?;
                    Ok(self.external_tree(schema, store, *unused, &listing, name))
                }
                Resolved::File(_) => Err(FsError::NotDir),
            },
            Node::Row { schema, class, row } => {
                let (table, facts) = self.row(schema, class, row)?;
                Ok(self
                    .entries_of(schema, &table, &facts)
                    .into_iter()
                    .map(|e| {
                        let column = match &e {
                            RowEntry::File(f) => Some(f.column),
                            RowEntry::Folder { name, .. } => {
                                table.columns.iter().position(|c| c.name == *name)
                            }
                        };
                        let mtime = column.map_or(self.mounted_at, |c| {
                            self.value_mtime(schema, &table, &facts, c)
                        });
                        let listed = match &e {
                            RowEntry::Folder { .. } => Listed::DirAt(mtime),
                            RowEntry::File(f) => match f.content {
                                Content::Json { .. } => Listed::File(None),
                                _ => Listed::FileAt(f.content.size(), mtime),
                            },
                        };
                        let name = e.name().to_string();
                        (
                            Node::RowEntry {
                                schema: schema.clone(),
                                class: class.clone(),
                                row: row.clone(),
                                name: name.as_str().into(),
                            },
                            name,
                            listed,
                        )
                    })
                    .chain(self.temps_in(node))
                    .collect())
            }
            Node::RowEntry {
                schema,
                class,
                row,
                name,
            } => self.folder_children(node, schema, class, row, name, ""),
            Node::AttachFile {
                schema,
                class,
                row,
                folder,
                name,
            } => match self.resolve_entry(node)? {
                Resolved::Folder(_) => self.folder_children(node, schema, class, row, folder, name),
                Resolved::File(_) => Err(FsError::NotDir),
            },
        }
    }

    /// The entries of a row's folder `folder` (an attachment's, or a 2.x object's), or of the
    /// folder `sub` inside it (a 2.x folder object's files have paths with `/`).
    fn folder_children(
        &self,
        node: &Node,
        schema: &Arc<str>,
        class: &Arc<str>,
        row: &Arc<str>,
        folder: &Arc<str>,
        sub: &str,
    ) -> FsResult<Vec<(Node, String, Listed)>> {
        let (table, facts, RowEntry::Folder { files, .. }) =
            self.row_entry_raw(schema, class, row, folder)?
        else {
            return Err(FsError::NotDir);
        };
        let mut out: Vec<(Node, String, Listed)> = Vec::new();
        let mut dirs = std::collections::HashSet::new();
        for f in files {
            let rel = if sub.is_empty() {
                f.name.as_str()
            } else {
                match f.name.strip_prefix(sub).and_then(|r| r.strip_prefix('/')) {
                    Some(r) => r,
                    None => continue,
                }
            };
            let mtime = self.value_mtime(schema, &table, &facts, f.column);
            let (shown, listed) = match rel.split_once('/') {
                Some((dir, _)) => {
                    if !dirs.insert(dir.to_string()) {
                        continue;
                    }
                    (dir.to_string(), Listed::DirAt(mtime))
                }
                None => (rel.to_string(), Listed::FileAt(f.content.size(), mtime)),
            };
            let full = if sub.is_empty() {
                shown.clone()
            } else {
                format!("{sub}/{shown}")
            };
            out.push((
                Node::AttachFile {
                    schema: schema.clone(),
                    class: class.clone(),
                    row: row.clone(),
                    folder: folder.clone(),
                    name: full.as_str().into(),
                },
                shown,
                listed,
            ));
        }
        out.extend(self.temps_in(node));
        Ok(out)
    }

    /// A value's modification time: an external object's tracking `timestamp` (the same on
    /// every mount); otherwise the mount time, or when this mount saw the value change (a new
    /// value moves it forward, also when the size stays the same).
    fn value_mtime(
        &self,
        schema: &Arc<str>,
        table: &TableInfo,
        facts: &RowFacts,
        column: usize,
    ) -> SystemTime {
        let row = mtimes::row_key(schema, &table.class_name, &facts.folder);
        self.value_mtime_of(row, facts, column)
    }

    fn value_mtime_of(&self, row: u64, facts: &RowFacts, column: usize) -> SystemTime {
        let stamp = facts
            .stamps
            .get(column)
            .unwrap_or(&crate::backend::Stamp::None);
        self.mtimes
            .of_row(row, column, stamp, facts.values.get(column))
    }

    /// A row folder's modification time: the newest of its values'.
    fn row_mtime(&self, schema: &Arc<str>, table: &TableInfo, facts: &RowFacts) -> SystemTime {
        let row = mtimes::row_key(schema, &table.class_name, &facts.folder);
        (0..table.columns.len())
            .filter(|&c| !table.columns[c].hidden)
            .map(|c| self.value_mtime_of(row, facts, c))
            .max()
            .unwrap_or(self.mounted_at)
    }

    /// The temporary files in a row or attachment folder, as listed.
    fn temps_in(&self, parent: &Node) -> Vec<(Node, String, Listed)> {
        let temps = self.handles.temps.lock().unwrap();
        temps
            .values()
            .filter(|(node, _)| self.child_name(parent, node_name(node)) == *node)
            .map(|(node, handle)| {
                let name = match node {
                    Node::RowEntry { name, .. } | Node::AttachFile { name, .. } => name.to_string(),
                    _ => String::new(),
                };
                let size = handle.staging.lock().unwrap().len();
                (node.clone(), name, Listed::File(Some(size)))
            })
            .collect()
    }

    /// The inode of a temporary file, if `node` is one.
    fn temp_ino(&self, node: &Node) -> Option<u64> {
        let ino = self.handles.inodes.lock().unwrap().find(node)?;
        self.handles.temp(ino).map(|_| ino)
    }

    fn row_entry_raw(
        &self,
        schema: &Arc<str>,
        class: &Arc<str>,
        row: &Arc<str>,
        name: &str,
    ) -> FsResult<(Arc<TableInfo>, Arc<RowFacts>, RowEntry)> {
        let (table, facts) = self.row(schema, class, row)?;
        // Only the named attribute's first bytes are needed (a cold `cat` of an attachment
        // does not wait for the row's external blobs' heads).
        let column = AttrFile::parse(&table, name).map(|(column, _)| column);
        let entry = self
            .entries_of_columns(schema, &table, &facts, column)
            .into_iter()
            .find(|e| e.name() == name)
            .ok_or(FsError::NotFound)?;
        Ok((table, facts, entry))
    }

    /// A file (or attachment folder) below a row, or an object in a `.external` view.
    fn resolve_entry(&self, node: &Node) -> FsResult<Resolved> {
        let in_row = |schema: &Arc<str>, table: &Arc<TableInfo>, facts: &RowFacts, f: FileEntry| {
            Resolved::File(Box::new(FileTarget {
                place: format!("{schema}/{}/{}/{}", table.class_name, facts.folder, f.name),
                mtime: self.value_mtime(schema, table, facts, f.column),
                in_table: Some((table.clone(), facts.key.clone(), f.column)),
                schema: schema.clone(),
                content: f.content,
            }))
        };
        match node {
            Node::RowEntry {
                schema,
                class,
                row,
                name,
            } => match self.row_entry_raw(schema, class, row, name)? {
                (table, facts, RowEntry::Folder { name, .. }) => {
                    let column = table.columns.iter().position(|c| c.name == name);
                    Ok(Resolved::Folder(column.map_or(self.mounted_at, |c| {
                        self.value_mtime(schema, &table, &facts, c)
                    })))
                }
                (table, facts, RowEntry::File(f)) => Ok(in_row(schema, &table, &facts, f)),
            },
            Node::AttachFile {
                schema,
                class,
                row,
                folder,
                name,
            } => match self.row_entry_raw(schema, class, row, folder)? {
                (table, facts, RowEntry::Folder { files, .. }) => {
                    if let Some(i) = files.iter().position(|f| f.name == **name) {
                        let f = files.into_iter().nth(i).expect("found above");
                        return Ok(in_row(schema, &table, &facts, f));
                    }
                    // A folder inside a 2.x folder object: a prefix of its files' paths.
                    let below = format!("{name}/");
                    if let Some(f) = files.iter().find(|f| f.name.starts_with(&below)) {
                        return Ok(Resolved::Folder(
                            self.value_mtime(schema, &table, &facts, f.column),
                        ));
                    }
                    // Below a file: not a folder.
                    let mut at = name.as_ref();
                    while let Some((up, _)) = at.rsplit_once('/') {
                        if files.iter().any(|f| f.name == up) {
                            return Err(FsError::NotDir);
                        }
                        at = up;
                    }
                    Err(FsError::NotFound)
                }
                _ => Err(FsError::NotDir),
            },
            Node::Stats => Ok(Resolved::File(Box::new(FileTarget {
                content: Content::Inline(self.stats_text().into_bytes().into()),
                schema: "".into(),
                place: node.path(),
                in_table: None,
                mtime: SystemTime::now(),
            }))),
            Node::ExternalObject {
                schema,
                store,
                unused,
                name,
            } => {
                let listing = self.tracked_listing(schema, store, *unused)?;
                let found = listing.objects.iter().find(|(n, _)| **n == **name);
                let Some((_, tracked)) = found else {
                    // A 2.x store's folders: prefixes of its objects' paths (and, in `.unused`,
                    // folders `rm -r` emptied a moment ago, until their `rmdir`).
                    let below = format!("{name}/");
                    if listing.objects.iter().any(|(n, _)| n.starts_with(&below))
                        || (*unused && self.unused_folders.emptied(schema, store, name))
                    {
                        return Ok(Resolved::Folder(self.mounted_at));
                    }
                    return Err(FsError::NotFound);
                };
                Ok(Resolved::File(Box::new(FileTarget {
                    content: Content::External(ExternalObject {
                        store: store.to_string(),
                        hash: tracked.hash.clone(),
                        kind: tracked.kind.clone(),
                        size: tracked.size,
                    }),
                    schema: schema.clone(),
                    place: node.path(),
                    in_table: None,
                    mtime: self.external_mtime(tracked),
                })))
            }
            Node::Definition { schema, class } => Ok(Resolved::File(Box::new(FileTarget {
                content: Content::Inline(self.definition_file(schema, class)?),
                schema: schema.clone(),
                place: node.view_path().unwrap_or_default(),
                in_table: None,
                mtime: self.mounted_at,
            }))),
            Node::Diagram { schema, dot } => {
                let catalog = self.catalog(schema)?;
                let (svg, dot_file) = self.diagram_files(&catalog);
                Ok(Resolved::File(Box::new(FileTarget {
                    content: Content::Inline(if *dot { dot_file } else { svg }),
                    schema: schema.clone(),
                    place: node.view_path().unwrap_or_default(),
                    in_table: None,
                    mtime: self.mounted_at,
                })))
            }
            _ => Err(FsError::IsDir),
        }
    }

    fn file(&self, node: &Node) -> FsResult<FileTarget> {
        match self.resolve_entry(node)? {
            Resolved::File(target) => Ok(*target),
            Resolved::Folder(_) => Err(FsError::IsDir),
        }
    }

    /// A row folder's entries. External blobs are named by what their first bytes say, so those
    /// are fetched first: for every row of the table's listing at once, concurrently.
    fn entries_of(&self, schema: &Arc<str>, table: &TableInfo, facts: &RowFacts) -> Vec<RowEntry> {
        self.entries_of_columns(schema, table, facts, None)
    }

    /// The same, where only the entries of column `only` (when given) will be used: the first
    /// bytes of other columns' blobs are not fetched (their entries may be named as unknown).
    fn entries_of_columns(
        &self,
        schema: &Arc<str>,
        table: &TableInfo,
        facts: &RowFacts,
        only: Option<usize>,
    ) -> Vec<RowEntry> {
        let wanted_column = |i: usize| only.is_none_or(|c| c == i);
        let missing = |rows: &mut dyn Iterator<Item = &RowFacts>| -> Vec<WantedHead> {
            let mut candidates = Vec::new();
            for row in rows {
                for (i, (info, fact)) in table.columns.iter().zip(&row.values).enumerate() {
                    if !wanted_column(i) {
                        continue;
                    }
                    if let (
                        crate::catalog::AttrKind::External {
                            store,
                            kind: crate::catalog::ExternalKind::Blob,
                        },
                        Fact::External {
                            hash,
                            size: Some(size),
                            ..
                        },
                    ) = (&info.kind, fact)
                    {
                        candidates.push((store.clone(), hash.clone(), *size));
                    }
                }
            }
            self.external.unknown_heads(candidates, |at| self.fresh(at))
        };
        let mine = missing(&mut std::iter::once(facts));
        if !mine.is_empty() {
            // Whole table at once when its listing is at hand (`ls -l`/`find` over all rows).
            let listing = self.metadata.cached_listing(schema, table);
            let wanted = match listing {
                Some(l) => missing(&mut l.rows.iter().map(|r| &**r)),
                None => mine,
            };
            self.external.fetch_heads(schema, wanted, self.clock.now());
        }
        self.probe_stored(schema, table, facts, only);
        let objects = StoredLookup(&self.external);
        let entries = row_entries_with(table, facts, &|hash| self.external.head(hash), &objects);
        let row_key = RowId::new(
            schema.clone(),
            table.class_name.as_str(),
            facts.folder.as_str(),
        );
        let column_of = |e: &RowEntry| match e {
            RowEntry::File(f) => Some(f.column),
            RowEntry::Folder { name, .. } => table.columns.iter().position(|c| c.name == *name),
        };
        let is_view = |e: &RowEntry| {
            matches!(
                e,
                RowEntry::File(FileEntry {
                    content: Content::Png { .. } | Content::Json { .. },
                    ..
                })
            )
        };
        // A new row folder shows only what was written into it (and folders made in it), and
        // no views (`cp -r` creates them: written without effect).
        if let Some(shown) = self.edits.pending_shown(&row_key) {
            return entries
                .into_iter()
                .filter(|e| column_of(e).is_some_and(|c| shown.contains(&c)) && !is_view(e))
                .collect();
        }
        // A row inserted from such a folder keeps showing what `cp -r` put in it for a while
        // (a NULL attachment's empty folder appears when `cp -r` makes it, not before).
        let shown = self.edits.made_row_shown(self.clock.now(), &row_key);
        let entries: Vec<RowEntry> = match shown {
            Some(shown) => entries
                .into_iter()
                .filter(|e| column_of(e).is_some_and(|c| shown.contains(&c)) && !is_view(e))
                .collect(),
            None => entries,
        };
        // Files removed with `rm` stay hidden while their change is pending.
        let hidden = self.edits.hidden_columns(self.clock.now(), &row_key);
        if hidden.is_empty() {
            return entries;
        }
        entries
            .into_iter()
            .filter_map(|e| {
                let Some(h) = column_of(&e).and_then(|c| hidden.get(&c)) else {
                    return Some(e);
                };
                match e {
                    // `rm att/file`: the folder stays, empty, for the next `cp file att/`.
                    RowEntry::Folder { name, .. } if !h.folder => Some(RowEntry::Folder {
                        name,
                        files: vec![],
                    }),
                    _ => None,
                }
            })
            .collect()
    }

    /// Fetches what the listing must know of a row's 2.x stored objects (sizes, attachment
    /// names, blob heads, folder manifests): for every row of the table's listing at once when
    /// it is at hand, concurrently; only those of column `only` when given.
    fn probe_stored(
        &self,
        schema: &Arc<str>,
        table: &TableInfo,
        facts: &RowFacts,
        only: Option<usize>,
    ) {
        if !table
            .columns
            .iter()
            .any(|c| matches!(c.kind, crate::catalog::AttrKind::Stored { .. }))
        {
            return;
        }
        let objects = StoredLookup(&self.external);
        let missing = |rows: &mut dyn Iterator<Item = &RowFacts>| {
            let mut candidates = Vec::new();
            for row in rows {
                for (i, (info, fact)) in table.columns.iter().zip(&row.values).enumerate() {
                    if only.is_some_and(|c| c != i) {
                        continue;
                    }
                    let (crate::catalog::AttrKind::Stored { codec, store }, Fact::Bytes(text)) =
                        (&info.kind, fact)
                    else {
                        continue;
                    };
                    let Ok(meta) = crate::stored::parse_meta(text) else {
                        continue;
                    };
                    let Some(store) =
                        crate::namespace::stored_store(&meta, codec, store.as_deref(), &objects)
                    else {
                        continue;
                    };
                    candidates.extend(crate::stored::probe_want(codec, &store, &meta));
                }
            }
            self.external
                .unknown_probes(candidates, |at| self.fresh(at))
        };
        let mine = missing(&mut std::iter::once(facts));
        if mine.is_empty() {
            return;
        }
        let wanted = match self.metadata.cached_listing(schema, table) {
            Some(l) => missing(&mut l.rows.iter().map(|r| &**r)),
            None => mine,
        };
        self.external.fetch_probes(wanted, self.clock.now());
    }

    fn tracked_listing(
        &self,
        schema: &Arc<str>,
        store: &Arc<str>,
        unused: bool,
    ) -> FsResult<Arc<TrackedListing>> {
        let key = (schema.clone(), store.clone(), unused);
        if let Some(listing) = self.metadata.tracked(&key, |at| self.fresh(at)) {
            return Ok(listing);
        }
        let started = Instant::now();
        let catalog = self.catalog(schema)?;
        let Some((_, used)) = self
            .external_stores(&catalog)
            .into_iter()
            .find(|(s, _)| **s == **store)
        else {
            return Err(FsError::NotFound);
        };
        let mut objects = Vec::new();
        if used.legacy {
            let tracked = self
                .db
                .tracked(schema, store, unused)
                .map_err(|e| db_error(&format!("listing ~external_{store} of {schema}"), e))?;
            // A migrated schema: a 2.x value may reference a 0.14 object (asked whatever the
            // catalog says: MariaDB shows a 2.x json column as text).
            let tracked = if unused {
                self.unreferenced_by_v2(schema, store, tracked)?
            } else {
                tracked
            };
            objects.extend(
                tracked
                    .into_iter()
                    .map(|t| (paths::view_name(&paths::hex(&t.hash), &t.kind), t)),
            );
        }
        if used.v2 {
            if unused {
                objects.extend(self.v2_unused_objects(schema, store, &catalog)?);
            } else {
                objects.extend(self.v2_store_objects(schema, store)?);
            }
        }
        let listing = Arc::new(TrackedListing { objects });
        self.metadata.put_tracked(key, started, listing.clone());
        Ok(listing)
    }

    /// The stores a schema's `.external/` shows: those it tracks objects of (0.14,
    /// `~external_<store>`) and the configured stores its 2.x stored columns name, by name,
    /// with what each holds (both, in a migrated schema).
    fn external_stores(&self, catalog: &SchemaCatalog) -> Vec<(String, StoreUse)> {
        let mut out: Vec<(String, StoreUse)> = catalog
            .stores
            .iter()
            .map(|s| {
                let used = StoreUse {
                    legacy: true,
                    v2: false,
                };
                (s.clone(), used)
            })
            .collect();
        for name in crate::external::unused::v2_stores(catalog, self.stores()) {
            match out.iter_mut().find(|(s, _)| *s == name) {
                Some((_, used)) => used.v2 = true,
                None => out.push((
                    name,
                    StoreUse {
                        legacy: false,
                        v2: true,
                    },
                )),
            }
        }
        out.sort();
        out
    }

    /// A 2.x store's objects of `schema`, by their paths in the store (names exactly as
    /// stored, as `.unused` shows them): everything under `<hash_prefix>/<schema>/` and
    /// `<schema_prefix>/<schema>/`, folder objects' manifest sidecars left out (a folder object
    /// shows as its files; `.unused` does show an unused one's manifest).
    fn v2_store_objects(&self, schema: &str, store: &str) -> FsResult<Vec<(String, Tracked)>> {
        let (hash_prefix, schema_prefix) = self.stores().prefixes_of(store).map_err(|e| {
            ErrorKind::Io.because(format!("{schema}/{EXTERNAL_DIR}/{store}: {e:#}"))
        })?;
        let mut objects = Vec::new();
        for prefix in [hash_prefix, schema_prefix] {
            let folder = crate::orphans::section(&prefix, schema);
            let listed = self.stores().walk(store, &folder).map_err(|e| {
                FsError::io(
                    format!("{schema}/{EXTERNAL_DIR}/{store}: listing {folder}/"),
                    std::io::Error::other(format!("{e:#}")),
                )
            })?;
            for (path, size) in listed {
                if path.ends_with(".manifest.json") {
                    continue;
                }
                let shown = path
                    .split('/')
                    .map(crate::namespace::shown_name)
                    .collect::<Vec<_>>()
                    .join("/");
                objects.push((
                    shown,
                    Tracked {
                        hash: format!("{store}\0{path}").into_bytes(),
                        size,
                        kind: paths::TrackedKind::Stored {
                            path,
                            skip: 0,
                            check: None,
                        },
                        timestamp: None,
                    },
                ));
            }
        }
        Ok(objects)
    }

    /// The entries of folder `sub` ("" for the store's own folder) of a store's view (or of its
    /// `.unused`): 0.14 objects by their names, 2.x objects by their paths (folders and files).
    fn external_tree(
        &self,
        schema: &Arc<str>,
        store: &Arc<str>,
        unused: bool,
        listing: &TrackedListing,
        sub: &str,
    ) -> Vec<(Node, String, Listed)> {
        let mut out = Vec::new();
        let mut dirs = std::collections::HashSet::new();
        for (name, tracked) in &listing.objects {
            let rel = if sub.is_empty() {
                name.as_str()
            } else {
                match name.strip_prefix(sub).and_then(|r| r.strip_prefix('/')) {
                    Some(r) => r,
                    None => continue,
                }
            };
            let (shown, listed) = match rel.split_once('/') {
                Some((dir, _)) => {
                    if !dirs.insert(dir.to_string()) {
                        continue;
                    }
                    (dir.to_string(), Listed::DirAt(self.mounted_at))
                }
                None => (
                    rel.to_string(),
                    Listed::FileAt(tracked.size, self.external_mtime(tracked)),
                ),
            };
            let full = if sub.is_empty() {
                shown.clone()
            } else {
                format!("{sub}/{shown}")
            };
            out.push((
                Node::ExternalObject {
                    schema: schema.clone(),
                    store: store.clone(),
                    unused,
                    name: full.as_str().into(),
                },
                shown,
                listed,
            ));
        }
        out
    }

    /// `.djfs/stats`: what this mount asked of its database, by kind, and what its caches hold.
    pub fn stats_text(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let _ = writeln!(out, "database statements: {}", self.db.query_count());
        let [lookups, getattrs, opendirs, readdirs] = self
            .requests
            .each_ref()
            .map(|n| n.load(std::sync::atomic::Ordering::Relaxed));
        let _ = writeln!(out, "kernel requests:");
        let _ = writeln!(out, "  lookup           {lookups}");
        let _ = writeln!(out, "  getattr          {getattrs}");
        let _ = writeln!(out, "  listings begun   {opendirs}");
        let _ = writeln!(out, "  readdir          {readdirs}");
        let _ = writeln!(out, "queries by kind (count, total ms, mean ms):");
        for k in self.db.query_stats() {
            let total = k.total.as_secs_f64() * 1000.0;
            let mean = if k.count > 0 {
                total / k.count as f64
            } else {
                0.0
            };
            let _ = writeln!(
                out,
                "  {:<16} {:>9} {:>12.1} {:>9.2}",
                k.kind.name(),
                k.count,
                total,
                mean
            );
        }
        let m = self.metadata.sizes();
        let (inodes, open, writing, temps) = self.handles.sizes();
        let (heads, head_failures) = self.external.heads_len();
        let (renderings, rendered_bytes) = self.rendered.size();
        let _ = writeln!(out, "caches:");
        let _ = writeln!(out, "  catalogs         {}", m.catalogs);
        let _ = writeln!(
            out,
            "  listings         {} ({} rows, {} bytes)",
            m.listings, m.listed_rows, m.listing_bytes
        );
        let _ = writeln!(
            out,
            "  point rows       {} ({} bytes)",
            m.point_rows, m.point_row_bytes
        );
        let _ = writeln!(out, "  tracked listings {}", m.tracked_listings);
        let _ = writeln!(out, "  blob heads       {heads} ({head_failures} failed)");
        let _ = writeln!(
            out,
            "  renderings       {renderings} ({rendered_bytes} bytes)"
        );
        let _ = writeln!(out, "  value times      {}", self.mtimes.len());
        let _ = writeln!(out, "  watched tables   {}", self.watched.len());
        let _ = writeln!(out, "  listings read    {}", self.walks.len());
        let _ = writeln!(out, "  inodes           {inodes}");
        let _ = writeln!(
            out,
            "  open handles     {open} ({writing} being written, {temps} temporary)"
        );
        out
    }

    // ----- cached database views -----

    fn schema_list(&self) -> FsResult<Arc<Vec<String>>> {
        self.metadata.schemas(
            |at| self.fresh(at),
            || {
                let at = self.clock.now();
                let list = self
                    .db
                    .schemas()
                    .map_err(|e| db_error("listing schemas", e))?;
                Ok((at, Arc::new(list)))
            },
        )
    }

    /// A schema's catalog. It has a clock of its own: its fingerprint is checked once the refresh
    /// delay has passed (at most every `CATALOG_CHECK_MIN`), and the three catalog queries run
    /// again only when the fingerprint changed (a table made, dropped or rebuilt) or the catalog
    /// is older than `CATALOG_TRUST`.
    fn catalog(&self, schema: &Arc<str>) -> FsResult<Arc<SchemaCatalog>> {
        let now = self.clock.now();
        let check_every = self.opts.refresh.max(metadata::CATALOG_CHECK_MIN);
        if let Some(catalog) = self.metadata.checked_catalog(schema, |checked_at| {
            now.saturating_duration_since(checked_at) < check_every
        }) {
            return Ok(catalog);
        }
        let known = self.metadata.catalog(schema);
        if self.root_schema().is_none() && !self.schema_list()?.iter().any(|s| **s == **schema) {
            return Err(FsError::NotFound);
        }
        let version = self
            .db
            .catalog_version(schema)
            .map_err(|e| db_error(&format!("checking the tables of schema {schema}"), e))?;
        if let Some(entry) = known {
            if entry.version == version
                && now.saturating_duration_since(entry.loaded_at) < metadata::CATALOG_TRUST
            {
                let catalog = entry.catalog.clone();
                self.metadata.put_catalog(
                    schema,
                    metadata::CatalogEntry {
                        checked_at: now,
                        ..entry
                    },
                );
                return Ok(catalog);
            }
        }
        let catalog = Arc::new(
            self.db
                .load_catalog(schema)
                .map_err(|e| db_error(&format!("reading the tables of schema {schema}"), e))?,
        );
        self.metadata.put_catalog(
            schema,
            metadata::CatalogEntry {
                catalog: catalog.clone(),
                version,
                loaded_at: now,
                checked_at: now,
            },
        );
        Ok(catalog)
    }

    /// The `.definition` entry of a table folder.
    fn definition_entry(
        &self,
        schema: &Arc<str>,
        class: &Arc<str>,
    ) -> FsResult<(Node, String, Listed)> {
        Ok((
            Node::Definition {
                schema: schema.clone(),
                class: class.clone(),
            },
            definition::FILE_NAME.to_string(),
            Listed::File(Some(self.definition_file(schema, class)?.len() as u64)),
        ))
    }

    /// `<Class>/.definition`: rendered from the catalog (no query of its own).
    fn definition_file(&self, schema: &Arc<str>, class: &str) -> FsResult<Arc<[u8]>> {
        let catalog = self.catalog(schema)?;
        let table = catalog.by_class(class).ok_or(FsError::NotFound)?;
        Ok(definition::render(&catalog, table).into_bytes().into())
    }

    /// `.diagram.svg` and `.diagram.dot`: rendered once per catalog.
    fn diagram_files(&self, catalog: &SchemaCatalog) -> (Arc<[u8]>, Arc<[u8]>) {
        catalog
            .diagram
            .get_or_init(|| {
                let (svg, dot) = diagram::render(catalog);
                (svg.into_bytes().into(), dot.into_bytes().into())
            })
            .clone()
    }

    fn table(&self, schema: &Arc<str>, class: &str) -> FsResult<Arc<TableInfo>> {
        self.catalog(schema)?
            .by_class(class)
            .cloned()
            .ok_or(FsError::NotFound)
    }

    /// The table's listing: the cached one if fresh; else (when `refresh` or when one existed)
    /// a new one. Returns None only when no listing exists and `refresh` is false.
    fn listing_if(
        &self,
        schema: &Arc<str>,
        table: &TableInfo,
        refresh: bool,
    ) -> FsResult<Option<Arc<Listing>>> {
        let slot = self.metadata.listing_slot(schema, table);
        let mut slot = slot.lock().unwrap();
        match slot.as_ref() {
            Some(t) if self.fresh_in(schema, &table.class_name, t.at) => {
                return Ok(Some(t.value.clone()))
            }
            Some(t) if !refresh && t.value.rows.len() > RELIST_MAX_ROWS => return Ok(None),
            None if !refresh => return Ok(None),
            _ => {}
        }
        // A stale listing: one light query says whether the table changed since (then it is
        // listed again) or not (then the listing is trusted for another refresh delay).
        let mut stamp = None;
        if let Some(t) = slot.as_mut() {
            let now = self.clock.now();
            let seen = self.table_stamp(table)?;
            self.watch_table(schema, table, seen);
            if let (Some(before), Some(seen)) = (t.value.stamp, seen) {
                if before.unchanged_at(&seen) {
                    t.at = now;
                    return Ok(Some(t.value.clone()));
                }
            }
            stamp = seen;
        }
        let started = Instant::now();
        let rows = self.db.list_rows(table).map_err(|e| {
            db_error(
                &format!("listing table {}.{}", table.schema, table.class_name),
                e,
            )
        })?;
        tracing::debug!(table = %table.class_name, rows = rows.len(), elapsed = ?started.elapsed(), "listed");
        let rows: Vec<Arc<RowFacts>> = rows.into_iter().map(Arc::new).collect();
        let listing = Arc::new(Listing::new(rows, stamp));
        let bytes = listing.rows.iter().map(|r| r.approx_bytes() + 48).sum();
        self.metadata.listed(schema, table, bytes);
        *slot = Some(Timed {
            at: started,
            value: listing.clone(),
        });
        Ok(Some(listing))
    }

    /// What the server says of the table's last change (one light query).
    fn table_stamp(&self, table: &TableInfo) -> FsResult<Option<crate::backend::TableStamp>> {
        self.db.table_stamp(table).map_err(|e| {
            db_error(
                &format!("checking table {}.{}", table.schema, table.class_name),
                e,
            )
        })
    }

    /// The table's cached listing if it is fresh, or stale but the table unchanged since (one
    /// light query; it is then trusted for another refresh delay). Else None, with the table's
    /// change stamp as of now, for the listing about to be read.
    fn listing_checked(
        &self,
        schema: &Arc<str>,
        table: &TableInfo,
    ) -> FsResult<(Option<Arc<Listing>>, Option<crate::backend::TableStamp>)> {
        let slot = self.metadata.listing_slot(schema, table);
        let mut slot = slot.lock().unwrap();
        if let Some(t) = slot.as_ref() {
            if self.fresh_in(schema, &table.class_name, t.at) {
                return Ok((Some(t.value.clone()), None));
            }
        }
        let seen = self.table_stamp(table)?;
        self.watch_table(schema, table, seen);
        if let Some(t) = slot.as_mut() {
            if let (Some(before), Some(seen)) = (t.value.stamp, seen) {
                if before.unchanged_at(&seen) {
                    t.at = self.clock.now();
                    return Ok((Some(t.value.clone()), None));
                }
            }
        }
        Ok((None, seen))
    }

    fn listing(
        &self,
        schema: &Arc<str>,
        table: &TableInfo,
        refresh: bool,
    ) -> FsResult<Arc<Listing>> {
        self.listing_if(schema, table, refresh)?
            .ok_or(FsError::NotFound)
    }

    /// A row by folder name. A fresh listing answers without SQL; otherwise one point query
    /// (or, for shortened names, a listing).
    fn row(
        &self,
        schema: &Arc<str>,
        class: &Arc<str>,
        folder: &Arc<str>,
    ) -> FsResult<(Arc<TableInfo>, Arc<RowFacts>)> {
        let table = self.table(schema, class)?;
        let row_key = RowId::new(schema.clone(), class.clone(), folder.clone());
        if let Some(facts) = self.edits.pending_facts(&row_key) {
            return Ok((table, Arc::new(facts)));
        }
        if let Some(listing) = self.listing_if(schema, &table, false)? {
            return match listing.by_folder.get(&**folder) {
                Some(&i) => Ok((table, listing.rows[i].clone())),
                None => Err(FsError::NotFound),
            };
        }
        let key = RowId::new(schema.clone(), class.clone(), folder.clone());
        if let Some(found) = self
            .metadata
            .row(&key, |at| self.fresh_in(schema, class, at))
        {
            return found.map(|r| (table, r)).ok_or(FsError::NotFound);
        }
        let parsed = rowname::parse(folder, &table.key_names());
        let mut found = None;
        // Only canonical spellings are looked up (`%ZZ`, `%2f` are not names djfs gives).
        let canonical = parsed.key.as_ref().filter(|values| {
            rowname::full_name(
                &table.key_names(),
                &values.iter().map(|v| v.as_str()).collect::<Vec<_>>(),
            ) == **folder
        });
        if let Some(values) = canonical {
            let row = self
                .find_row_reading_ahead(schema, class, &table, values, folder)
                .map_err(|e| db_error(&format!("looking up {}/{folder}", table.class_name), e))?;
            // The database may match a different spelling (`03`, case, trailing spaces): the
            // row must have exactly this name.
            found = row.filter(|r| r.folder == **folder).map(Arc::new);
        }
        if found.is_none() && parsed.digest.is_some() {
            let listing = self.listing(schema, &table, true)?;
            found = listing
                .by_folder
                .get(&**folder)
                .map(|&i| listing.rows[i].clone());
        }
        self.metadata.put_row(key, self.clock.now(), found.clone());
        found.map(|r| (table, r)).ok_or(FsError::NotFound)
    }

    /// Prepares what an opened file shows: in-table values are fetched now (one query),
    /// external objects are read as the file is read.
    fn load(&self, target: &FileTarget) -> FsResult<OpenFile> {
        let place = target.place.clone();
        let open = |body: Body| OpenFile {
            body,
            place: place.clone(),
        };
        let fetch = || self.fetch_in_table(target);
        match &target.content {
            Content::Inline(bytes) => Ok(open(Body::Bytes(Arc::new(MemorySource::new(
                bytes.clone(),
                0,
            ))))),
            Content::RawBlob { .. } => Ok(open(Body::Bytes(Arc::new(MemorySource::new(
                fetch()?.into(),
                0,
            ))))),
            Content::Attachment { .. } => {
                let value = fetch()?;
                // The stored `name\0contents`: the contents start after the first NUL (the name's
                // bytes are counted as stored, also when they are not UTF-8).
                let start = value
                    .iter()
                    .position(|&b| b == 0)
                    .map_or(usize::MAX, |n| n + 1);
                if start > value.len() {
                    return Err(
                        ErrorKind::Io.because(format!("{place}: attachment changed while opening"))
                    );
                }
                Ok(open(Body::Bytes(Arc::new(MemorySource::new(
                    value.into(),
                    start,
                )))))
            }
            Content::Npy(_) | Content::ExternalNpy { .. } => {
                Ok(open(Body::Npy(self.open_npy(target)?.1)))
            }
            Content::External(object) => Ok(open(Body::Bytes(self.external_source(
                &target.schema,
                object,
                &place,
            )?))),
            Content::Png { .. } => Ok(open(Body::Bytes(Arc::new(MemorySource::new(
                self.render_png(target)?,
                0,
            ))))),
            Content::Json { .. } => Ok(open(Body::Bytes(Arc::new(MemorySource::new(
                self.render_json(target)?,
                0,
            ))))),
            Content::Unavailable { why, .. } => Err(ErrorKind::Io.because(match why {
                Unavailable::Corrupt(reason) => format!("corrupt value in {place}: {reason}"),
                Unavailable::Store(reason) => format!("{place}: {reason}"),
            })),
        }
    }

    /// An in-table value, read now (one query).
    fn fetch_in_table(&self, target: &FileTarget) -> FsResult<Vec<u8>> {
        let place = &target.place;
        let (table, key, column) = target.in_table.as_ref().ok_or_else(|| {
            internal_error(
                place,
                "an in-table read of a value that is not in the table",
            )
        })?;
        self.db
            .fetch_value(table, key, *column)
            .map_err(|e| db_error(&format!("reading {place}"), e))?
            .ok_or_else(|| {
                ErrorKind::NotFound.because(format!(
                    "{place} vanished (row deleted or value set to NULL)"
                ))
            })
    }

    /// The virtual `.npy` of an array blob (`Npy`, `ExternalNpy`, or the array a `Png` shows)
    /// and the view it serves. In-table values are fetched now and classified again (the row may
    /// have changed since listing); external objects are read as the file is read.
    fn open_npy(&self, target: &FileTarget) -> FsResult<(NpyView, NpyFile)> {
        let place = &target.place;
        let corrupt =
            |why: String| ErrorKind::Io.because(format!("corrupt blob in {place}: {why}"));
        let (object, view) = match &target.content {
            Content::ExternalNpy { object, view }
            | Content::Png {
                external: Some(object),
                view,
                ..
            } => (object, view),
            Content::Npy(_) | Content::Png { external: None, .. } => {
                let stored = self.fetch_in_table(target)?;
                let array = match classify_blob(&stored, stored.len() as u64) {
                    Ok(BlobShape::Array(a)) => a,
                    Ok(BlobShape::Other) => return Err(corrupt("no longer an array".into())),
                    Err(e) => return Err(corrupt(e.to_string())),
                };
                // The value is held once, as fetched; a compressed one is inflated as it is read
                // (the same streaming inflater as external blobs), not whole at open.
                let plain: Arc<dyn ByteSource> = match compressed_len(&stored) {
                    Some(plain_len) => Arc::new(InflatingSource::new(
                        Arc::new(MemorySource::from_vec(stored)),
                        plain_len,
                    )),
                    None => Arc::new(MemorySource::from_vec(stored)),
                };
                if array.inline.is_none() && plain.len() < array.data_offset as u64 + array.data_len
                {
                    return Err(corrupt("data shorter than its header says".into()));
                }
                let view = NpyView::new(&array);
                let npy = NpyFile::new(view.clone(), plain).map_err(|e| corrupt(e.to_string()))?;
                return Ok((view, npy));
            }
            _ => {
                return Err(internal_error(
                    &target.place,
                    "an array view of a value that is no array",
                ))
            }
        };
        let stored = self.external_source(&target.schema, object, place)?;
        let io = |e: std::io::Error| FsError::io(format!("reading {place}"), e);
        let magic = stored.read_at(0, 14).map_err(io)?;
        let plain: Arc<dyn ByteSource> = match compressed_len(&magic) {
            Some(plain_len) => Arc::new(InflatingSource::new(stored, plain_len)),
            None => stored,
        };
        let npy = NpyFile::new(view.clone(), plain).map_err(io)?;
        Ok((view.clone(), npy))
    }

    /// The `.json` view of a non-array blob: the whole value decoded and rendered.
    fn render_json(&self, target: &FileTarget) -> FsResult<Arc<[u8]>> {
        let Content::Json {
            external,
            stored_len,
        } = &target.content
        else {
            return Err(internal_error(
                &target.place,
                "a .json view of a value that has none",
            ));
        };
        let key = render_key("json", external, *stored_len, target);
        if let Some(hit) = self.cached_render(&key, target, external.is_none()) {
            return Ok(hit);
        }
        let place = &target.place;
        let stored = match external {
            Some(object) => {
                let source = self.external_source(&target.schema, object, place)?;
                source
                    .read_at(0, source.len() as usize)
                    .map_err(|e| FsError::io(format!("reading {place}"), e))?
            }
            None => {
                let (table, key, column) = target.in_table.as_ref().ok_or_else(|| {
                    internal_error(
                        place,
                        "an in-table read of a value that is not in the table",
                    )
                })?;
                self.db
                    .fetch_value(table, key, *column)
                    .map_err(|e| db_error(&format!("reading {place}"), e))?
                    .ok_or(FsError::NotFound)?
            }
        };
        let value = crate::codec::decode_blob(&stored)
            .map_err(|e| ErrorKind::Io.because(format!("corrupt blob in {place}: {e}")))?;
        let rendered: Arc<[u8]> = crate::codec::to_json(&value).into_bytes().into();
        let now = self.clock.now();
        self.rendered.put(key, rendered.clone(), now);
        Ok(rendered)
    }

    /// A cached rendering: external ones (by hash) never go stale, in-table ones are trusted for
    /// the refresh delay.
    fn cached_render(&self, key: &str, target: &FileTarget, in_table: bool) -> Option<Arc<[u8]>> {
        self.rendered
            .get(key, in_table, |at| match &target.in_table {
                Some((table, ..)) => self.fresh_in(&target.schema, &table.class_name, at),
                None => self.fresh(at),
            })
    }

    /// The `.png` view of an image array, made when it is opened: the array's data read whole
    /// (as the `.npy` view serves it) and encoded by `views::png` (its length is known from the
    /// header, so listings read nothing).
    fn render_png(&self, target: &FileTarget) -> FsResult<Arc<[u8]>> {
        let Content::Png {
            external,
            stored_len,
            ..
        } = &target.content
        else {
            return Err(internal_error(
                &target.place,
                "a .png view of a value that has none",
            ));
        };
        let key = render_key("png", external, *stored_len, target);
        if let Some(hit) = self.cached_render(&key, target, external.is_none()) {
            return Ok(hit);
        }
        let place = &target.place;
        let started = Instant::now();
        // A 2.x `<npy@>` object (schema-addressed, so no hash to check; a `<blob@>` object has
        // one and takes the blob route below).
        if let Some(
            object @ ExternalObject {
                kind: paths::TrackedKind::Stored { check: None, .. },
                ..
            },
        ) = external
        {
            let rendered = self.render_npy_object_png(target, object)?;
            tracing::debug!(place = %place, bytes = rendered.len(), elapsed = ?started.elapsed(), "rendered PNG");
            self.rendered.put(key, rendered.clone(), self.clock.now());
            return Ok(rendered);
        }
        let (view, npy) = self.open_npy(target)?;
        // In-table values are classified again when read: the row may have changed.
        let Some(image) = ImageShape::of(view.array()) else {
            return Err(
                ErrorKind::NotFound.because(format!("{place}: the array is no longer an image"))
            );
        };
        let data = npy
            .read(view.header().len() as u64, image.data_len() as usize)
            .map_err(|e| FsError::io(format!("reading {place}"), e))?;
        let rendered: Arc<[u8]> = crate::views::png::encode(&image, &data)
            .map_err(|e| ErrorKind::Io.because(format!("corrupt blob in {place}: {e}")))?
            .into();
        tracing::debug!(place = %place, bytes = rendered.len(), elapsed = ?started.elapsed(), "rendered PNG");
        let now = self.clock.now();
        self.rendered.put(key, rendered.clone(), now);
        Ok(rendered)
    }

    /// The `.png` view of a 2.x `<npy@>` object: the `.npy` file read whole, its array checked
    /// against what the listing showed (the metadata's dtype and shape), and encoded.
    fn render_npy_object_png(
        &self,
        target: &FileTarget,
        object: &ExternalObject,
    ) -> FsResult<Arc<[u8]>> {
        let place = &target.place;
        let Content::Png { view, .. } = &target.content else {
            return Err(internal_error(
                place,
                "a .png view of a value that has none",
            ));
        };
        let corrupt =
            |why: String| ErrorKind::Io.because(format!("corrupt .npy object in {place}: {why}"));
        let source = self.external_source(&target.schema, object, place)?;
        let bytes = source
            .read_at(0, source.len() as usize)
            .map_err(|e| FsError::io(format!("reading {place}"), e))?;
        let npy = crate::codec::parse_npy(&bytes).map_err(|e| corrupt(e.to_string()))?;
        let listed = view.array();
        let class = match npy.dtype {
            crate::codec::NpyDtype::Real(c) => c,
            _ => return Err(corrupt("not a real array".into())),
        };
        if class != listed.class || npy.shape != listed.shape {
            return Err(corrupt(format!(
                "the object holds {class:?} {:?}, its metadata says {:?} {:?}",
                npy.shape, listed.class, listed.shape
            )));
        }
        let Some(image) = ImageShape::of(listed) else {
            return Err(ErrorKind::NotFound.because(format!("{place}: the array is no image")));
        };
        let data = crate::stored::column_major(
            npy.data,
            &npy.shape,
            class.size(),
            npy.fortran_order,
            npy.big_endian,
        );
        Ok(crate::views::png::encode(&image, &data)
            .map_err(|e| corrupt(e.to_string()))?
            .into())
    }

    /// The stored bytes of an external object. Blobs go through DataJoint's cache folder when
    /// one is configured (read from it, or downloaded into it as the client does).
    fn external_source(
        &self,
        schema: &str,
        object: &ExternalObject,
        place: &str,
    ) -> FsResult<Arc<dyn ByteSource>> {
        self.external
            .open(schema, object)
            .map_err(|e| FsError::io(format!("{place}: store {:?}", object.store), e))
    }
}

/// The namespace's view of 2.x stored objects: the stores' defaults and what listings probed.
struct StoredLookup<'a>(&'a ExternalObjects);

impl crate::namespace::StoredObjects for StoredLookup<'_> {
    fn default_store(&self, filepath: bool) -> Option<String> {
        self.0.stores().default_store(filepath).map(str::to_string)
    }
    fn probe(&self, store: &str, path: &str) -> Result<crate::stored::Probe, String> {
        self.0.probe(store, path)
    }
}

enum Resolved {
    /// An attachment folder, dated as its value.
    Folder(SystemTime),
    File(Box<FileTarget>),
}

/// What identifies a rendered view in the cache: an external value's hash, or an in-table value's
/// place and stored length (trusted for the refresh delay only).
fn render_key(
    view: &str,
    external: &Option<ExternalObject>,
    stored_len: u64,
    target: &FileTarget,
) -> String {
    match external {
        Some(object) => format!("{view}:x:{}", paths::hex(&object.hash)),
        None => format!("{view}:t:{}:{stored_len}", target.place),
    }
}

/// The declared plain length of a compressed (`ZL123`) blob, from its first 14 bytes.
fn compressed_len(stored: &[u8]) -> Option<u64> {
    let declared = stored.strip_prefix(b"ZL123\0")?.get(..8)?;
    Some(u64::from_le_bytes(declared.try_into().unwrap()))
}

/// The last part of a file node's path.
fn node_name(node: &Node) -> &str {
    match node {
        Node::RowEntry { name, .. } | Node::AttachFile { name, .. } => name,
        _ => "",
    }
}

/// An external object's modification time: its tracking row's `timestamp`.
fn tracked_mtime(tracked: &Tracked) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(tracked.timestamp.unwrap_or(0).max(0) as u64)
}

#[cfg(test)]
mod error_logging {
    /// Every EIO reaches the log with its cause: the core has no bare `Io` (an EIO is built with
    /// its message and cause, see `error.rs`), and the adapter answers every failed operation
    /// through `failed`, which logs it.
    #[test]
    fn every_failed_operation_is_logged_by_the_adapter() {
        let adapter = include_str!("../fuse.rs");
        let mut replies = 0;
        for (i, line) in adapter.lines().enumerate() {
            if line.contains("reply.error(") {
                replies += 1;
                let errno_literal = line.contains("Errno::") || line.contains("self.refused()");
                assert!(
                    line.contains("reply.error(failed(\"") || errno_literal,
                    "src/fuse.rs:{}: an error reply that is not logged: {line}",
                    i + 1
                );
            }
        }
        assert!(replies > 15, "only {replies} error replies found");
        let bare_io = format!("FsError::{}", "Io");
        for (file, text) in [
            ("src/fs/mod.rs", include_str!("mod.rs")),
            ("src/fs/write.rs", include_str!("write.rs")),
        ] {
            assert!(
                !text.contains(&bare_io),
                "{file} builds an EIO without words"
            );
        }
    }
}
