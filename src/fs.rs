//! The filesystem core: inodes, lookups, listings and reads over the catalog and the database,
//! with the caching that keeps SQL to one query per directory. No FUSE types here: the `fuse`
//! module is a thin adapter, and this core is tested directly against a real database.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::catalog::{SchemaCatalog, TableInfo};
use crate::codec::{classify_blob, inflate_blob, BlobShape, NpyView};
use crate::db::{Database, RowFacts};
use crate::namespace::{permissions, row_entries, Content, FileEntry, Node, RowEntry, Unavailable};
use crate::rowname;

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
}

/// Errors as the filesystem reports them; the adapter maps them to errno values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FsError {
    NotFound,
    NotDir,
    IsDir,
    ReadOnly,
    BadHandle,
    /// Logged where it happens, with the table/row/attribute involved.
    Io,
}

impl FsError {
    pub fn errno(&self) -> i32 {
        match self {
            FsError::NotFound => libc::ENOENT,
            FsError::NotDir => libc::ENOTDIR,
            FsError::IsDir => libc::EISDIR,
            FsError::ReadOnly => libc::EROFS,
            FsError::BadHandle => libc::EBADF,
            FsError::Io => libc::EIO,
        }
    }
}

pub type FsResult<T> = Result<T, FsError>;

fn db_error(what: &str, err: anyhow::Error) -> FsError {
    tracing::error!("database error while {what}: {err:#}");
    FsError::Io
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
    pub is_dir: bool,
    pub name: String,
}

/// Inode numbers for nodes, handed out on first sight and kept for the life of the mount.
#[derive(Default)]
struct Inodes {
    by_node: HashMap<Node, u64>,
    nodes: Vec<Node>,
}

impl Inodes {
    fn new() -> Inodes {
        let mut inodes = Inodes::default();
        inodes.intern(Node::Root);
        inodes
    }
    fn intern(&mut self, node: Node) -> u64 {
        if let Some(&ino) = self.by_node.get(&node) {
            return ino;
        }
        self.nodes.push(node.clone());
        let ino = self.nodes.len() as u64;
        self.by_node.insert(node, ino);
        ino
    }
    fn node(&self, ino: u64) -> Option<Node> {
        self.nodes.get(ino.checked_sub(1)? as usize).cloned()
    }
}

struct Timed<T> {
    at: Instant,
    value: T,
}

/// All rows of one table, from one query.
struct Listing {
    rows: Vec<Arc<RowFacts>>,
    by_folder: HashMap<String, usize>,
}

type TableKey = (Arc<str>, Arc<str>);
/// A table's listing slot: locked while refreshing so concurrent refreshes run once.
type ListingSlot = Arc<Mutex<Option<Timed<Arc<Listing>>>>>;
type RowKey = (Arc<str>, Arc<str>, Arc<str>);

/// An open file's bytes, fetched once at open.
enum OpenFile {
    /// `data[start..]` is the file.
    Bytes { data: Arc<[u8]>, start: usize },
    /// A virtual `.npy` over the plain (decompressed) blob.
    Npy { view: NpyView, plain: Vec<u8> },
}

enum Handle {
    Dir(Arc<Vec<DirEntry>>),
    File(Arc<OpenFile>),
}

pub struct Filesystem {
    db: Database,
    opts: FsOptions,
    mounted_at: SystemTime,
    inodes: Mutex<Inodes>,
    schemas: Mutex<Option<Timed<Arc<Vec<String>>>>>,
    catalogs: Mutex<HashMap<Arc<str>, Timed<Arc<SchemaCatalog>>>>,
    /// One slot per table; the slot's lock makes concurrent refreshes of a table run once.
    listings: Mutex<HashMap<TableKey, ListingSlot>>,
    /// Rows found by point queries (None: known absent).
    rows: Mutex<HashMap<RowKey, Timed<Option<Arc<RowFacts>>>>>,
    handles: Mutex<HashMap<u64, Handle>>,
    next_handle: AtomicU64,
}

impl Filesystem {
    pub fn new(db: Database, opts: FsOptions) -> Filesystem {
        Filesystem {
            db,
            opts,
            mounted_at: SystemTime::now(),
            inodes: Mutex::new(Inodes::new()),
            schemas: Mutex::new(None),
            catalogs: Mutex::new(HashMap::new()),
            listings: Mutex::new(HashMap::new()),
            rows: Mutex::new(HashMap::new()),
            handles: Mutex::new(HashMap::new()),
            next_handle: AtomicU64::new(1),
        }
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    pub fn options(&self) -> &FsOptions {
        &self.opts
    }

    fn fresh(&self, at: Instant) -> bool {
        at.elapsed() < self.opts.refresh
    }

    // ----- public operations (what the FUSE adapter calls) -----

    pub fn lookup(&self, parent: u64, name: &OsStr) -> FsResult<Attr> {
        let parent = self.node(parent)?;
        let name = name.to_str().ok_or(FsError::NotFound)?;
        let child = self.child(&parent, name)?;
        let ino = self.inodes.lock().unwrap().intern(child.clone());
        self.attr_of(ino, &child)
    }

    pub fn getattr(&self, ino: u64) -> FsResult<Attr> {
        let node = self.node(ino)?;
        self.attr_of(ino, &node)
    }

    /// Lists a directory once and keeps the list for the handle, so paging is consistent.
    pub fn opendir(&self, ino: u64) -> FsResult<u64> {
        let node = self.node(ino)?;
        let children = self.children(&node)?;
        let entries: Vec<DirEntry> = {
            let mut inodes = self.inodes.lock().unwrap();
            children
                .into_iter()
                .map(|(node, name, is_dir)| DirEntry {
                    ino: inodes.intern(node),
                    is_dir,
                    name,
                })
                .collect()
        };
        Ok(self.new_handle(Handle::Dir(Arc::new(entries))))
    }

    pub fn readdir(&self, fh: u64) -> FsResult<Arc<Vec<DirEntry>>> {
        match self.handles.lock().unwrap().get(&fh) {
            Some(Handle::Dir(entries)) => Ok(entries.clone()),
            _ => Err(FsError::BadHandle),
        }
    }

    pub fn open(&self, ino: u64, write: bool) -> FsResult<u64> {
        let node = self.node(ino)?;
        let (table, row, entry) = self.file(&node)?;
        if write {
            return Err(FsError::ReadOnly);
        }
        let file = self.load(&table, &row, &entry)?;
        Ok(self.new_handle(Handle::File(Arc::new(file))))
    }

    pub fn read(&self, fh: u64, offset: u64, size: u32) -> FsResult<Vec<u8>> {
        let file = match self.handles.lock().unwrap().get(&fh) {
            Some(Handle::File(f)) => f.clone(),
            _ => return Err(FsError::BadHandle),
        };
        Ok(match &*file {
            OpenFile::Bytes { data, start } => {
                let body = &data[*start..];
                let from = (offset as usize).min(body.len());
                let to = from.saturating_add(size as usize).min(body.len());
                body[from..to].to_vec()
            }
            OpenFile::Npy { view, plain } => view.read(plain, offset, size as usize),
        })
    }

    pub fn release(&self, fh: u64) {
        self.handles.lock().unwrap().remove(&fh);
    }

    pub fn attr_ttl(&self) -> Duration {
        self.opts.refresh
    }

    // ----- resolution -----

    fn node(&self, ino: u64) -> FsResult<Node> {
        self.inodes
            .lock()
            .unwrap()
            .node(ino)
            .ok_or(FsError::NotFound)
    }

    fn new_handle(&self, handle: Handle) -> u64 {
        let fh = self.next_handle.fetch_add(1, Ordering::Relaxed);
        self.handles.lock().unwrap().insert(fh, handle);
        fh
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

    fn attr_of(&self, ino: u64, node: &Node) -> FsResult<Attr> {
        match node {
            Node::RowEntry { .. } | Node::AttachFile { .. } => match self.row_entry(node)? {
                Resolved::Folder => Ok(self.dir_attr(ino)),
                Resolved::File(_, _, entry) => Ok(Attr {
                    ino,
                    is_dir: false,
                    size: entry.content.size(),
                    perm: permissions(false, self.opts.read_only),
                    mtime: self.mounted_at,
                }),
            },
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
            Node::Root => Ok(()),
            Node::Schema(s) => {
                if self.schema_list()?.iter().any(|x| **x == **s) {
                    Ok(())
                } else {
                    Err(FsError::NotFound)
                }
            }
            Node::Table { schema, class } => self.table(schema, class).map(|_| ()),
            Node::Row { schema, class, row } => self.row(schema, class, row).map(|_| ()),
            Node::RowEntry { .. } | Node::AttachFile { .. } => match self.row_entry(node)? {
                Resolved::Folder => Ok(()),
                Resolved::File(..) => Err(FsError::NotDir),
            },
        }
    }

    /// The child of a folder node by name (checked to exist).
    fn child(&self, parent: &Node, name: &str) -> FsResult<Node> {
        let child = match parent {
            Node::Root => match self.root_schema() {
                Some(schema) => Node::Table {
                    schema,
                    class: name.into(),
                },
                None => Node::Schema(name.into()),
            },
            Node::Schema(schema) => Node::Table {
                schema: schema.clone(),
                class: name.into(),
            },
            Node::Table { schema, class } => Node::Row {
                schema: schema.clone(),
                class: class.clone(),
                row: name.into(),
            },
            Node::Row { schema, class, row } => Node::RowEntry {
                schema: schema.clone(),
                class: class.clone(),
                row: row.clone(),
                name: name.into(),
            },
            Node::RowEntry {
                schema,
                class,
                row,
                name: folder,
            } => Node::AttachFile {
                schema: schema.clone(),
                class: class.clone(),
                row: row.clone(),
                folder: folder.clone(),
                name: name.into(),
            },
            Node::AttachFile { .. } => return Err(FsError::NotDir),
        };
        match &child {
            Node::RowEntry { .. } | Node::AttachFile { .. } => {
                self.row_entry(&child)?;
            }
            other => self.check_dir(other)?,
        }
        Ok(child)
    }

    /// The entries of a folder node: (node, name, is_dir).
    fn children(&self, node: &Node) -> FsResult<Vec<(Node, String, bool)>> {
        let tables = |schema: Arc<str>| -> FsResult<Vec<(Node, String, bool)>> {
            Ok(self
                .catalog(&schema)?
                .tables
                .iter()
                .map(|t| {
                    let class: Arc<str> = t.class_name.as_str().into();
                    (
                        Node::Table {
                            schema: schema.clone(),
                            class,
                        },
                        t.class_name.clone(),
                        true,
                    )
                })
                .collect())
        };
        match node {
            Node::Root => match self.root_schema() {
                Some(schema) => tables(schema),
                None => Ok(self
                    .schema_list()?
                    .iter()
                    .map(|s| (Node::Schema(s.as_str().into()), s.clone(), true))
                    .collect()),
            },
            Node::Schema(schema) => {
                self.check_dir(node)?;
                tables(schema.clone())
            }
            Node::Table { schema, class } => {
                let table = self.table(schema, class)?;
                let listing = self.listing(schema, &table, true)?;
                Ok(listing
                    .rows
                    .iter()
                    .map(|r| {
                        let row: Arc<str> = r.folder.as_str().into();
                        (
                            Node::Row {
                                schema: schema.clone(),
                                class: class.clone(),
                                row,
                            },
                            r.folder.clone(),
                            true,
                        )
                    })
                    .collect())
            }
            Node::Row { schema, class, row } => {
                let (table, facts) = self.row(schema, class, row)?;
                Ok(row_entries(&table, &facts)
                    .into_iter()
                    .map(|e| {
                        let is_dir = matches!(e, RowEntry::Folder { .. });
                        let name = e.name().to_string();
                        (
                            Node::RowEntry {
                                schema: schema.clone(),
                                class: class.clone(),
                                row: row.clone(),
                                name: name.as_str().into(),
                            },
                            name,
                            is_dir,
                        )
                    })
                    .collect())
            }
            Node::RowEntry {
                schema,
                class,
                row,
                name,
            } => match self.row_entry_raw(schema, class, row, name)? {
                (_, _, RowEntry::Folder { files, .. }) => Ok(files
                    .into_iter()
                    .map(|f| {
                        (
                            Node::AttachFile {
                                schema: schema.clone(),
                                class: class.clone(),
                                row: row.clone(),
                                folder: name.clone(),
                                name: f.name.as_str().into(),
                            },
                            f.name,
                            false,
                        )
                    })
                    .collect()),
                _ => Err(FsError::NotDir),
            },
            Node::AttachFile { .. } => Err(FsError::NotDir),
        }
    }

    fn row_entry_raw(
        &self,
        schema: &Arc<str>,
        class: &Arc<str>,
        row: &Arc<str>,
        name: &str,
    ) -> FsResult<(Arc<TableInfo>, Arc<RowFacts>, RowEntry)> {
        let (table, facts) = self.row(schema, class, row)?;
        let entry = row_entries(&table, &facts)
            .into_iter()
            .find(|e| e.name() == name)
            .ok_or(FsError::NotFound)?;
        Ok((table, facts, entry))
    }

    fn row_entry(&self, node: &Node) -> FsResult<Resolved> {
        match node {
            Node::RowEntry {
                schema,
                class,
                row,
                name,
            } => match self.row_entry_raw(schema, class, row, name)? {
                (_, _, RowEntry::Folder { .. }) => Ok(Resolved::Folder),
                (table, facts, RowEntry::File(f)) => Ok(Resolved::File(table, facts, f)),
            },
            Node::AttachFile {
                schema,
                class,
                row,
                folder,
                name,
            } => match self.row_entry_raw(schema, class, row, folder)? {
                (table, facts, RowEntry::Folder { files, .. }) => files
                    .into_iter()
                    .find(|f| f.name == **name)
                    .map(|f| Resolved::File(table, facts, f))
                    .ok_or(FsError::NotFound),
                _ => Err(FsError::NotDir),
            },
            _ => Err(FsError::IsDir),
        }
    }

    fn file(&self, node: &Node) -> FsResult<(Arc<TableInfo>, Arc<RowFacts>, FileEntry)> {
        match self.row_entry(node)? {
            Resolved::File(t, r, f) => Ok((t, r, f)),
            Resolved::Folder => Err(FsError::IsDir),
        }
    }

    // ----- cached database views -----

    fn schema_list(&self) -> FsResult<Arc<Vec<String>>> {
        let mut slot = self.schemas.lock().unwrap();
        if let Some(t) = slot.as_ref().filter(|t| self.fresh(t.at)) {
            return Ok(t.value.clone());
        }
        let list = Arc::new(
            self.db
                .schemas()
                .map_err(|e| db_error("listing schemas", e))?,
        );
        *slot = Some(Timed {
            at: Instant::now(),
            value: list.clone(),
        });
        Ok(list)
    }

    fn catalog(&self, schema: &Arc<str>) -> FsResult<Arc<SchemaCatalog>> {
        if let Some(t) = self.catalogs.lock().unwrap().get(schema) {
            if self.fresh(t.at) {
                return Ok(t.value.clone());
            }
        }
        if self.root_schema().is_none() && !self.schema_list()?.iter().any(|s| **s == **schema) {
            return Err(FsError::NotFound);
        }
        let catalog = Arc::new(
            self.db
                .load_catalog(schema)
                .map_err(|e| db_error(&format!("reading the tables of schema {schema}"), e))?,
        );
        self.catalogs.lock().unwrap().insert(
            schema.clone(),
            Timed {
                at: Instant::now(),
                value: catalog.clone(),
            },
        );
        Ok(catalog)
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
        let key: TableKey = (schema.clone(), table.class_name.as_str().into());
        let slot = self
            .listings
            .lock()
            .unwrap()
            .entry(key)
            .or_default()
            .clone();
        let mut slot = slot.lock().unwrap();
        match slot.as_ref() {
            Some(t) if self.fresh(t.at) => return Ok(Some(t.value.clone())),
            Some(t) if !refresh && t.value.rows.len() > RELIST_MAX_ROWS => return Ok(None),
            None if !refresh => return Ok(None),
            _ => {}
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
        let by_folder = rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r.folder.clone(), i))
            .collect();
        let listing = Arc::new(Listing { rows, by_folder });
        *slot = Some(Timed {
            at: started,
            value: listing.clone(),
        });
        Ok(Some(listing))
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
        if let Some(listing) = self.listing_if(schema, &table, false)? {
            return match listing.by_folder.get(&**folder) {
                Some(&i) => Ok((table, listing.rows[i].clone())),
                None => Err(FsError::NotFound),
            };
        }
        let key: RowKey = (schema.clone(), class.clone(), folder.clone());
        if let Some(t) = self.rows.lock().unwrap().get(&key) {
            if self.fresh(t.at) {
                return match &t.value {
                    Some(r) => Ok((table, r.clone())),
                    None => Err(FsError::NotFound),
                };
            }
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
                .db
                .find_row(&table, values)
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
        let mut rows = self.rows.lock().unwrap();
        if rows.len() > 100_000 {
            rows.retain(|_, t| t.at.elapsed() < self.opts.refresh);
        }
        rows.insert(
            key,
            Timed {
                at: Instant::now(),
                value: found.clone(),
            },
        );
        found.map(|r| (table, r)).ok_or(FsError::NotFound)
    }

    /// Fetches what an opened file shows.
    fn load(&self, table: &TableInfo, row: &RowFacts, entry: &FileEntry) -> FsResult<OpenFile> {
        let attr = &table.columns[entry.column].name;
        let place = || {
            format!(
                "{}.{}/{}/{}",
                table.schema, table.class_name, row.folder, entry.name
            )
        };
        let fetch = || -> FsResult<Vec<u8>> {
            self.db
                .fetch_value(table, &row.key, entry.column)
                .map_err(|e| db_error(&format!("reading {}", place()), e))?
                .ok_or_else(|| {
                    tracing::warn!(
                        "{} vanished (row deleted or attribute {attr} set to NULL)",
                        place()
                    );
                    FsError::NotFound
                })
        };
        match &entry.content {
            Content::Inline(bytes) => Ok(OpenFile::Bytes {
                data: bytes.clone(),
                start: 0,
            }),
            Content::RawBlob { .. } => Ok(OpenFile::Bytes {
                data: fetch()?.into(),
                start: 0,
            }),
            Content::Attachment { name_len, .. } => {
                let value = fetch()?;
                let start = *name_len as usize + 1;
                if value.len() < start || value[start - 1] != 0 {
                    tracing::error!("{}: attachment changed while opening", place());
                    return Err(FsError::Io);
                }
                Ok(OpenFile::Bytes {
                    data: value.into(),
                    start,
                })
            }
            Content::Npy(_) => {
                let stored = fetch()?;
                let corrupt = |why: String| {
                    tracing::error!(
                        "corrupt blob in {} (table {}, row {}, attribute {attr}): {why}",
                        place(),
                        table.class_name,
                        row.folder
                    );
                    FsError::Io
                };
                // Classify again from the value read now: the row may have changed since listing.
                let array = match classify_blob(&stored, stored.len() as u64) {
                    Ok(BlobShape::Array(a)) => a,
                    Ok(BlobShape::Other) => return Err(corrupt("no longer an array".into())),
                    Err(e) => return Err(corrupt(e.to_string())),
                };
                let plain = inflate_blob(&stored)
                    .map_err(|e| corrupt(e.to_string()))?
                    .into_owned();
                if (plain.len() as u64) < array.data_offset as u64 + array.data_len {
                    return Err(corrupt("data shorter than its header says".into()));
                }
                Ok(OpenFile::Npy {
                    view: NpyView::new(&array),
                    plain,
                })
            }
            Content::Unavailable { why, .. } => {
                match why {
                    Unavailable::NotYetSupported(feature) => {
                        tracing::error!("{}: cannot read yet: needs {feature}", place())
                    }
                    Unavailable::Corrupt(reason) => tracing::error!(
                        "corrupt value in {} (table {}, row {}, attribute {attr}): {reason}",
                        place(),
                        table.class_name,
                        row.folder
                    ),
                }
                Err(FsError::Io)
            }
        }
    }
}

enum Resolved {
    Folder,
    File(Arc<TableInfo>, Arc<RowFacts>, FileEntry),
}
