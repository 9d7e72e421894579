//! The namespace: what each path in the mount means. Pure logic over the catalog and a row's
//! facts; no FUSE, no database.
//!
//! ```text
//! ROOT/                       all-schemas mode: one folder per schema; else the schema itself
//!   .djfs/stats               the mount's own figures (found by name, not listed)
//!   .diagram.svg, .diagram.dot  the schema's tables and dependencies (`views::diagram`)
//!   <Class>/                  a table, by DataJoint class name (`Session.Trial` for parts)
//!     .definition             the table's definition as `describe()` prints it
//!     <key folder>/           a row (`rowname`)
//!       <attr>                scalar: text + "\n" (raw bytes for binary columns); absent if NULL
//!       <attr>.npy            blob holding a numeric/bool/complex/datetime array
//!       <attr>.png            ... beside it when the array is an image (`views::png`)
//!       <attr>.blob           any other blob: the stored bytes; with <attr>.json beside it
//!       <attr>/<filename>     attachment, under its original file name
//!       <attr>/…              2.x `<object@>` (file or folder tree), `<filepath@>` (its file)
//!       <attr>                2.x `<hash@>`: the object's bytes
//! ```

use std::sync::Arc;

use crate::backend::{Fact, RowFacts};
use crate::catalog::{AttrKind, ExternalKind, StoredCodec, TableInfo};
use crate::codec::{classify_blob, BlobShape, NpyView};
use crate::stored::{self as v2, Probe, StoredMeta};
use crate::stores::paths::TrackedKind;
use crate::views::png::{png_len, ImageShape};

/// A row, as the mount names it: its schema, its table's class name and its folder's name. The
/// one identity of a row in the core: every map of rows (cached rows, edits, pending rows,
/// mtimes) is keyed by it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RowId {
    pub schema: Arc<str>,
    pub class: Arc<str>,
    pub folder: Arc<str>,
}

impl RowId {
    pub fn new(
        schema: impl Into<Arc<str>>,
        class: impl Into<Arc<str>>,
        folder: impl Into<Arc<str>>,
    ) -> RowId {
        RowId {
            schema: schema.into(),
            class: class.into(),
            folder: folder.into(),
        }
    }
}

/// `schema/Class/row`: the row's path in the mount, for log lines.
impl std::fmt::Display for RowId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.schema, self.class, self.folder)
    }
}

/// A path in the mount, by meaning. Names are the folder/file names as shown.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Node {
    Root,
    Schema(Arc<str>),
    Table {
        schema: Arc<str>,
        class: Arc<str>,
    },
    Row {
        schema: Arc<str>,
        class: Arc<str>,
        row: Arc<str>,
    },
    /// A file directly in a row folder, or a folder there (attachments): `name` as listed.
    RowEntry {
        schema: Arc<str>,
        class: Arc<str>,
        row: Arc<str>,
        name: Arc<str>,
    },
    /// `.external/` at a schema's root: one folder per store the schema tracks.
    ExternalRoot {
        schema: Arc<str>,
    },
    /// `.external/<store>/` (or its `.unused/` when `unused`): the tracked objects.
    ExternalStore {
        schema: Arc<str>,
        store: Arc<str>,
        unused: bool,
    },
    /// One tracked object in `.external/<store>/[.unused/]`.
    ExternalObject {
        schema: Arc<str>,
        store: Arc<str>,
        unused: bool,
        name: Arc<str>,
    },
    /// A file inside an attachment folder, or a file or folder inside a 2.x object's folder
    /// (`name` is then its path there, with `/`).
    AttachFile {
        schema: Arc<str>,
        class: Arc<str>,
        row: Arc<str>,
        folder: Arc<str>,
        name: Arc<str>,
    },
    /// `<Class>/.definition`: the table's definition as `describe()` prints it (read-only).
    Definition {
        schema: Arc<str>,
        class: Arc<str>,
    },
    /// `.diagram.svg` (or `.diagram.dot` when `dot`) at a schema's root (read-only).
    Diagram {
        schema: Arc<str>,
        dot: bool,
    },
    /// `.djfs/` at the mount's root: the mount's own files.
    Control,
    /// `.djfs/stats`: what the mount asked of its database and what its caches hold (read-only).
    Stats,
}

impl Node {
    /// The node named `name` in this folder (names are read as the listing writes them; whether
    /// it exists is for the caller to check). `root_schema`: the schema mounted at the root, if
    /// one is. None when this node is not a folder.
    pub fn child(&self, name: &str, root_schema: Option<&Arc<str>>) -> Option<Node> {
        let schema_child = |schema: Arc<str>| {
            if name == EXTERNAL_DIR {
                Node::ExternalRoot { schema }
            } else if name == crate::views::diagram::SVG_NAME
                || name == crate::views::diagram::DOT_NAME
            {
                Node::Diagram {
                    schema,
                    dot: name == crate::views::diagram::DOT_NAME,
                }
            } else {
                Node::Table {
                    schema,
                    class: name.into(),
                }
            }
        };
        Some(match self {
            Node::Root if name == CONTROL_DIR => Node::Control,
            Node::Control if name == STATS_FILE => Node::Stats,
            Node::Control => return None,
            Node::Root => match root_schema {
                Some(schema) => schema_child(schema.clone()),
                None => Node::Schema(name.into()),
            },
            Node::Schema(schema) => schema_child(schema.clone()),
            Node::ExternalRoot { schema } => Node::ExternalStore {
                schema: schema.clone(),
                store: name.into(),
                unused: false,
            },
            Node::ExternalStore {
                schema,
                store,
                unused: false,
            } if name == UNUSED_DIR => Node::ExternalStore {
                schema: schema.clone(),
                store: store.clone(),
                unused: true,
            },
            Node::ExternalStore {
                schema,
                store,
                unused,
            } => Node::ExternalObject {
                schema: schema.clone(),
                store: store.clone(),
                unused: *unused,
                name: name.into(),
            },
            Node::Table { schema, class } if name == crate::views::definition::FILE_NAME => {
                Node::Definition {
                    schema: schema.clone(),
                    class: class.clone(),
                }
            }
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
            // A folder inside a 2.x folder object (whether it is one is the caller's to check).
            Node::AttachFile {
                schema,
                class,
                row,
                folder,
                name: path,
            } => Node::AttachFile {
                schema: schema.clone(),
                class: class.clone(),
                row: row.clone(),
                folder: folder.clone(),
                name: format!("{path}/{name}").into(),
            },
            // A folder of a 2.x store's view (whether it is one is the caller's to check).
            Node::ExternalObject {
                schema,
                store,
                unused,
                name: path,
            } => Node::ExternalObject {
                schema: schema.clone(),
                store: store.clone(),
                unused: *unused,
                name: format!("{path}/{name}").into(),
            },
            Node::Definition { .. } | Node::Diagram { .. } | Node::Stats => return None,
        })
    }

    /// The row this node is or is in.
    pub fn row_id(&self) -> Option<RowId> {
        match self {
            Node::Row { schema, class, row }
            | Node::RowEntry {
                schema, class, row, ..
            }
            | Node::AttachFile {
                schema, class, row, ..
            } => Some(RowId::new(schema.clone(), class.clone(), row.clone())),
            _ => None,
        }
    }

    /// The node's path in the mount (`schema/Class/row/file`), for log lines. In a mount of
    /// one schema the schema is still named, so that a line says which schema it is about.
    pub fn path(&self) -> String {
        match self {
            Node::Root => "/".into(),
            Node::Control => CONTROL_DIR.into(),
            Node::Stats => format!("{CONTROL_DIR}/{STATS_FILE}"),
            Node::Schema(schema) => schema.to_string(),
            Node::Table { schema, class } => format!("{schema}/{class}"),
            Node::Row { schema, class, row } => format!("{schema}/{class}/{row}"),
            Node::RowEntry {
                schema,
                class,
                row,
                name,
            } => format!("{schema}/{class}/{row}/{name}"),
            Node::AttachFile {
                schema,
                class,
                row,
                folder,
                name,
            } => format!("{schema}/{class}/{row}/{folder}/{name}"),
            Node::ExternalRoot { schema } => format!("{schema}/{EXTERNAL_DIR}"),
            Node::ExternalStore {
                schema,
                store,
                unused,
            } => format!(
                "{schema}/{EXTERNAL_DIR}/{store}{}",
                if *unused {
                    format!("/{UNUSED_DIR}")
                } else {
                    String::new()
                }
            ),
            Node::ExternalObject {
                schema,
                store,
                unused,
                name,
            } => format!(
                "{schema}/{EXTERNAL_DIR}/{store}/{}{name}",
                if *unused {
                    format!("{UNUSED_DIR}/")
                } else {
                    String::new()
                }
            ),
            Node::Definition { .. } | Node::Diagram { .. } => self.view_path().unwrap_or_default(),
        }
    }

    /// For the read-only renderings made for people (`.definition`, `.diagram.*`): their path
    /// (`schema/Class/.definition`), for log lines. None for other nodes.
    pub fn view_path(&self) -> Option<String> {
        match self {
            Node::Definition { schema, class } => Some(format!(
                "{schema}/{class}/{}",
                crate::views::definition::FILE_NAME
            )),
            Node::Diagram { schema, dot } => Some(format!(
                "{schema}/{}",
                if *dot {
                    crate::views::diagram::DOT_NAME
                } else {
                    crate::views::diagram::SVG_NAME
                }
            )),
            _ => None,
        }
    }
}

/// Which of an attribute's files a name in a row folder is: the one grammar of those names,
/// used to name files when listing and to read names back when writing and removing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttrFile {
    /// `<attr>`: a scalar's file, or an attachment's folder.
    Value,
    /// `<attr>.npy`: an array blob.
    Npy,
    /// `<attr>.blob`: any other blob, as stored.
    Blob,
    /// `<attr>.json`: the view of a `.blob`.
    Json,
    /// `<attr>.png`: the view of an image array.
    Png,
}

impl AttrFile {
    const SUFFIXES: [(AttrFile, &'static str); 4] = [
        (AttrFile::Npy, ".npy"),
        (AttrFile::Blob, ".blob"),
        (AttrFile::Json, ".json"),
        (AttrFile::Png, ".png"),
    ];

    /// The file's name for attribute `attr`.
    pub fn name(self, attr: &str) -> String {
        match Self::SUFFIXES.iter().find(|(f, _)| *f == self) {
            Some((_, suffix)) => format!("{attr}{suffix}"),
            None => attr.to_string(),
        }
    }

    /// What `name` says: which visible attribute of `table` (by column index) and which of its
    /// files. None for a name that is no attribute's (a temporary file, say).
    pub fn parse(table: &TableInfo, name: &str) -> Option<(usize, AttrFile)> {
        let column = |attr: &str| {
            table
                .columns
                .iter()
                .position(|c| c.name == attr && !c.hidden)
        };
        if let Some(i) = column(name) {
            return Some((i, AttrFile::Value));
        }
        Self::SUFFIXES.iter().find_map(|(file, suffix)| {
            let i = column(name.strip_suffix(suffix)?)?;
            Some((i, *file))
        })
    }

    /// The views: read-only files made from the value beside them.
    pub fn is_view(self) -> bool {
        matches!(self, AttrFile::Json | AttrFile::Png)
    }
}

/// The hidden folder at the mount's root with the mount's own files (`stats`).
pub const CONTROL_DIR: &str = ".djfs";
/// `.djfs/stats`.
pub const STATS_FILE: &str = "stats";

/// The name of the hidden folder with the per-store views.
pub const EXTERNAL_DIR: &str = ".external";
/// The name of the folder of unreferenced objects inside `.external/<store>/`.
pub const UNUSED_DIR: &str = ".unused";

/// Why a listed file cannot be read (reads give EIO with this in the log line).
#[derive(Clone, Debug, PartialEq)]
pub enum Unavailable {
    /// The stored value is damaged.
    Corrupt(String),
    /// The store could not be asked (not configured, unreachable, object missing…).
    Store(String),
}

/// An object in an external store, as a row references it.
#[derive(Clone, Debug, PartialEq)]
pub struct ExternalObject {
    pub store: String,
    pub hash: Vec<u8>,
    pub kind: TrackedKind,
    /// Size from the tracking table (2.x: the whole object's, from its metadata or store).
    pub size: u64,
}

impl ExternalObject {
    /// The size of the file that shows it (a 2.x attachment without its `name\0`).
    pub fn shown_size(&self) -> u64 {
        match &self.kind {
            TrackedKind::Stored { skip, .. } => self.size.saturating_sub(*skip),
            _ => self.size,
        }
    }
}

/// What is known of an external blob's first bytes (from the store or the cache).
#[derive(Clone, Debug, PartialEq)]
pub enum BlobHead {
    Known(BlobShape),
    Corrupt(String),
    Unavailable(String),
}

/// What a regular file holds.
#[derive(Clone, Debug)]
pub enum Content {
    /// Known from the listing itself (scalars).
    Inline(Arc<[u8]>),
    /// An in-table array blob shown as `.npy`.
    Npy(NpyView),
    /// An in-table blob's stored bytes.
    RawBlob {
        size: u64,
    },
    /// An in-table attachment's contents (the stored value after `name\0`).
    Attachment {
        size: u64,
        name_len: u64,
    },
    /// An external blob holding an array, shown as `.npy`.
    ExternalNpy {
        object: ExternalObject,
        view: NpyView,
    },
    /// An external object's bytes as stored: a non-array blob, an attachment, a filepath file.
    External(ExternalObject),
    /// The PNG view of an image array, beside its `.npy` (in-table when `external` is None).
    /// Its size follows from the array's header; it is rendered when opened.
    Png {
        external: Option<ExternalObject>,
        /// The array as listed (what made it an image).
        view: NpyView,
        /// Stored length: with the row and column, what identifies the value.
        stored_len: u64,
    },
    /// The readable JSON rendering of a non-array blob (in-table when `external` is None).
    /// Its size is known only once rendered, so the filesystem renders it on first `stat`.
    Json {
        external: Option<ExternalObject>,
        /// Stored length and first bytes: with the row and column, what identifies the value.
        stored_len: u64,
    },
    Unavailable {
        size: u64,
        why: Unavailable,
    },
}

impl Content {
    pub fn size(&self) -> u64 {
        match self {
            Content::Inline(b) => b.len() as u64,
            Content::Npy(view) | Content::ExternalNpy { view, .. } => view.size(),
            Content::External(object) => object.shown_size(),
            Content::Png { view, .. } => ImageShape::of(view.array()).map_or(0, |i| png_len(&i)),
            Content::Json { .. } => 0,
            Content::RawBlob { size }
            | Content::Attachment { size, .. }
            | Content::Unavailable { size, .. } => *size,
        }
    }
}

#[derive(Clone, Debug)]
pub struct FileEntry {
    pub name: String,
    /// The table column this file shows.
    pub column: usize,
    pub content: Content,
}

#[derive(Clone, Debug)]
pub enum RowEntry {
    File(FileEntry),
    /// A folder holding files (an attachment's folder holds one file).
    Folder {
        name: String,
        files: Vec<FileEntry>,
    },
}

impl RowEntry {
    pub fn name(&self) -> &str {
        match self {
            RowEntry::File(f) => &f.name,
            RowEntry::Folder { name, .. } => name,
        }
    }
}

/// The entries of a row folder, in column order. Hidden columns are not shown; NULLs are absent.
/// `head` tells what is known of an external blob (by hash); its name depends on it.
pub fn row_entries(
    table: &TableInfo,
    row: &RowFacts,
    head: &dyn Fn(&[u8]) -> BlobHead,
) -> Vec<RowEntry> {
    row_entries_with(table, row, head, &NoStores)
}

/// What the namespace needs to know of DataJoint 2.x stored objects.
pub trait StoredObjects {
    /// The store of `<x@>` without a store name (`stores.default`, or
    /// `stores.filepath_default` for filepaths).
    fn default_store(&self, filepath: bool) -> Option<String>;
    /// The size and first bytes of the object at `path` in `store`, or why they are unknown.
    fn probe(&self, store: &str, path: &str) -> Result<Probe, String>;
}

/// No stores: every 2.x object is unavailable.
struct NoStores;

impl StoredObjects for NoStores {
    fn default_store(&self, _: bool) -> Option<String> {
        None
    }
    fn probe(&self, _: &str, _: &str) -> Result<Probe, String> {
        Err("no stores".into())
    }
}

/// The store a 2.x value's object is in (see `stored::store_name`).
pub fn stored_store(
    meta: &StoredMeta,
    codec: &StoredCodec,
    column_store: Option<&str>,
    objects: &dyn StoredObjects,
) -> Option<String> {
    let default = objects.default_store(*codec == StoredCodec::Filepath);
    v2::store_name(meta, column_store, default.as_deref()).map(str::to_string)
}

/// `row_entries`, with 2.x stored objects known through `objects`.
pub fn row_entries_with(
    table: &TableInfo,
    row: &RowFacts,
    head: &dyn Fn(&[u8]) -> BlobHead,
    objects: &dyn StoredObjects,
) -> Vec<RowEntry> {
    let mut entries = Vec::new();
    for (column, (info, fact)) in table.columns.iter().zip(&row.values).enumerate() {
        if info.hidden {
            continue;
        }
        let attr = info.name.as_str();
        let file = |name: String, content: Content| FileEntry {
            name,
            column,
            content,
        };
        match fact {
            // A NULL attachment or filepath is an empty folder, ready to receive a file.
            Fact::Null
                if matches!(
                    info.kind,
                    AttrKind::Attach
                        | AttrKind::External {
                            kind: ExternalKind::Attach | ExternalKind::Filepath,
                            ..
                        }
                        | AttrKind::Stored {
                            codec: StoredCodec::Attach
                                | StoredCodec::Object
                                | StoredCodec::Filepath,
                            ..
                        }
                ) =>
            {
                entries.push(RowEntry::Folder {
                    name: attr.into(),
                    files: vec![],
                })
            }
            Fact::Null => {}
            Fact::Bytes(bytes) if matches!(&info.kind, AttrKind::Stored { codec, .. } if !matches!(codec, StoredCodec::Other(_))) =>
            {
                let AttrKind::Stored { codec, store } = &info.kind else {
                    continue;
                };
                entries.extend(stored_entries(
                    column,
                    attr,
                    codec,
                    store.as_deref(),
                    bytes,
                    objects,
                ));
            }
            Fact::Bytes(bytes) => {
                let mut data = bytes.clone();
                if info.kind != AttrKind::Binary {
                    data.push(b'\n');
                }
                // A 2.x codec's metadata (its object is not read yet): `<attr>.json`.
                let name = match info.kind {
                    AttrKind::Stored { .. } => AttrFile::Json.name(attr),
                    _ => attr.into(),
                };
                entries.push(RowEntry::File(file(name, Content::Inline(data.into()))));
            }
            Fact::Blob { len, head } => match classify_blob(head, *len) {
                Ok(BlobShape::Array(array)) => {
                    let view = NpyView::new(&array);
                    entries.push(RowEntry::File(file(
                        AttrFile::Npy.name(attr),
                        Content::Npy(view.clone()),
                    )));
                    entries.extend(png_view(column, attr, None, &view, *len));
                }
                Ok(BlobShape::Other) => {
                    entries.push(RowEntry::File(file(
                        AttrFile::Blob.name(attr),
                        Content::RawBlob { size: *len },
                    )));
                    entries.push(json_view(column, attr, None, *len));
                }
                Err(e) => entries.push(RowEntry::File(file(
                    AttrFile::Npy.name(attr),
                    Content::Unavailable {
                        size: 0,
                        why: Unavailable::Corrupt(e.to_string()),
                    },
                ))),
            },
            Fact::Attach { name, size } => entries.push(RowEntry::Folder {
                name: attr.into(),
                files: vec![file(
                    shown_name(name),
                    Content::Attachment {
                        size: *size,
                        name_len: name.len() as u64,
                    },
                )],
            }),
            Fact::BadAttach => entries.push(RowEntry::Folder {
                name: attr.into(),
                files: vec![],
            }),
            Fact::External {
                hash,
                attachment_name,
                filepath,
                size,
            } => {
                let AttrKind::External { store, kind } = &info.kind else {
                    continue;
                };
                let Some(size) = *size else {
                    // The reference exists but its tracking row does not: show it, read EIO.
                    let why = Unavailable::Store(format!(
                        "no row for hash {} in ~external_{store}",
                        crate::stores::paths::hex(hash)
                    ));
                    entries.push(RowEntry::File(file(
                        AttrFile::Npy.name(attr),
                        Content::Unavailable { size: 0, why },
                    )));
                    continue;
                };
                let object = |kind: TrackedKind| ExternalObject {
                    store: store.clone(),
                    hash: hash.clone(),
                    kind,
                    size,
                };
                match kind {
                    ExternalKind::Attach => entries.push(RowEntry::Folder {
                        name: attr.into(),
                        files: attachment_name
                            .iter()
                            .map(|n| {
                                file(
                                    shown_name(n),
                                    Content::External(object(TrackedKind::Attachment(n.clone()))),
                                )
                            })
                            .collect(),
                    }),
                    ExternalKind::Filepath => entries.push(RowEntry::Folder {
                        name: attr.into(),
                        files: filepath
                            .iter()
                            .map(|p| {
                                file(
                                    shown_name(p.rsplit('/').next().unwrap_or(p)),
                                    Content::External(object(TrackedKind::Filepath(p.clone()))),
                                )
                            })
                            .collect(),
                    }),
                    ExternalKind::Blob => match head(hash) {
                        BlobHead::Known(BlobShape::Array(array)) => {
                            let view = NpyView::new(&array);
                            entries.push(RowEntry::File(file(
                                AttrFile::Npy.name(attr),
                                Content::ExternalNpy {
                                    object: object(TrackedKind::Blob),
                                    view: view.clone(),
                                },
                            )));
                            entries.extend(png_view(
                                column,
                                attr,
                                Some(object(TrackedKind::Blob)),
                                &view,
                                size,
                            ));
                        }
                        BlobHead::Known(BlobShape::Other) => {
                            entries.push(RowEntry::File(file(
                                AttrFile::Blob.name(attr),
                                Content::External(object(TrackedKind::Blob)),
                            )));
                            entries.push(json_view(
                                column,
                                attr,
                                Some(object(TrackedKind::Blob)),
                                size,
                            ));
                        }
                        BlobHead::Corrupt(reason) => entries.push(RowEntry::File(file(
                            AttrFile::Npy.name(attr),
                            Content::Unavailable {
                                size: 0,
                                why: Unavailable::Corrupt(reason),
                            },
                        ))),
                        BlobHead::Unavailable(reason) => entries.push(RowEntry::File(file(
                            AttrFile::Npy.name(attr),
                            Content::Unavailable {
                                size: 0,
                                why: Unavailable::Store(reason),
                            },
                        ))),
                    },
                }
            }
        }
    }
    entries
}

/// The files of a 2.x stored value (`crate::stored`): its metadata read, its object found by
/// `metadata.path` in its store, and what the listing learned of it (`objects.probe`).
fn stored_entries(
    column: usize,
    attr: &str,
    codec: &StoredCodec,
    column_store: Option<&str>,
    metadata: &[u8],
    objects: &dyn StoredObjects,
) -> Vec<RowEntry> {
    let file = |name: String, content: Content| FileEntry {
        name,
        column,
        content,
    };
    // The file a value that cannot be shown is, reading EIO with the reason.
    let unavailable_name = match codec {
        StoredCodec::Blob | StoredCodec::Npy => AttrFile::Npy.name(attr),
        _ => attr.to_string(),
    };
    let unavailable = |why: Unavailable| {
        vec![RowEntry::File(file(
            unavailable_name.clone(),
            Content::Unavailable { size: 0, why },
        ))]
    };
    let meta = match v2::parse_meta(metadata) {
        Ok(m) => m,
        Err(e) => return unavailable(Unavailable::Corrupt(e)),
    };
    let Some(store) = stored_store(&meta, codec, column_store, objects) else {
        return unavailable(Unavailable::Store(format!(
            "no store named for {}: the metadata and the column have none, and the config has no default",
            meta.path
        )));
    };
    let probe = match v2::probe_want(codec, &store, &meta) {
        Some(want) => match objects.probe(&store, &want.path) {
            Ok(p) => Some(p),
            Err(why) => {
                return unavailable(Unavailable::Store(format!(
                    "store {store:?}, object {}: {why}",
                    want.path
                )))
            }
        },
        None => None,
    };
    let object = |path: &str, size: u64, skip: u64| ExternalObject {
        store: store.clone(),
        hash: format!("{store}\0{path}").into_bytes(),
        kind: TrackedKind::Stored {
            path: path.to_string(),
            skip,
            check: if v2::hash_addressed(codec) {
                meta.hash.clone()
            } else {
                None
            },
        },
        size,
    };
    // The object's size: from the listing's probe when it made one, else the metadata's.
    let size = probe.as_ref().map(|p| p.size).or(meta.size).unwrap_or(0);
    let folder = |files: Vec<FileEntry>| {
        vec![RowEntry::Folder {
            name: attr.into(),
            files,
        }]
    };
    match codec {
        StoredCodec::Blob => {
            let head = probe.map(|p| p.head).unwrap_or_else(|| Arc::from(&b""[..]));
            let whole = object(&meta.path, size, 0);
            match classify_blob(&head, size) {
                Ok(BlobShape::Array(array)) => {
                    let view = NpyView::new(&array);
                    let mut out = vec![RowEntry::File(file(
                        AttrFile::Npy.name(attr),
                        Content::ExternalNpy {
                            object: whole.clone(),
                            view: view.clone(),
                        },
                    ))];
                    out.extend(png_view(column, attr, Some(whole), &view, size));
                    out
                }
                Ok(BlobShape::Other) => vec![
                    RowEntry::File(file(
                        AttrFile::Blob.name(attr),
                        Content::External(whole.clone()),
                    )),
                    json_view(column, attr, Some(whole), size),
                ],
                Err(e) => unavailable(Unavailable::Corrupt(e.to_string())),
            }
        }
        StoredCodec::Attach => {
            let head = probe.map(|p| p.head).unwrap_or_else(|| Arc::from(&b""[..]));
            match v2::split_attach(&head) {
                Some((name, start)) if start <= size => folder(vec![file(
                    shown_name(&name),
                    Content::External(object(&meta.path, size, start)),
                )]),
                _ => unavailable(Unavailable::Corrupt(format!(
                    "attachment object {} has no NUL after its file name",
                    meta.path
                ))),
            }
        }
        StoredCodec::Hash => vec![RowEntry::File(file(
            attr.to_string(),
            Content::External(object(&meta.path, size, 0)),
        ))],
        StoredCodec::Npy => {
            let whole = object(&meta.path, size, 0);
            let mut out = vec![RowEntry::File(file(
                AttrFile::Npy.name(attr),
                Content::External(whole.clone()),
            ))];
            if let Some(array) = v2::npy_array(&meta) {
                out.extend(png_view(
                    column,
                    attr,
                    Some(whole),
                    &NpyView::new(&array),
                    size,
                ));
            }
            out
        }
        StoredCodec::Object if meta.is_dir => {
            let manifest = probe.map(|p| p.head).unwrap_or_else(|| Arc::from(&b""[..]));
            match v2::parse_manifest(&manifest) {
                Ok(files) => folder(
                    files
                        .into_iter()
                        .map(|(rel, size)| {
                            let shown =
                                rel.split('/').map(shown_name).collect::<Vec<_>>().join("/");
                            file(
                                shown,
                                Content::External(object(&format!("{}/{rel}", meta.path), size, 0)),
                            )
                        })
                        .collect(),
                ),
                Err(e) => unavailable(Unavailable::Corrupt(format!(
                    "{}: {e}",
                    v2::manifest_path(&meta.path)
                ))),
            }
        }
        StoredCodec::Object => folder(vec![file(
            shown_name(&format!("{attr}{}", meta.ext.as_deref().unwrap_or(""))),
            Content::External(object(&meta.path, size, 0)),
        )]),
        StoredCodec::Filepath if meta.is_dir => {
            // Listed on every lookup in the row: said at debug level, not warned each time.
            tracing::debug!(
                "{attr}: <filepath@> folder {} is shown empty (its layout is not specified)",
                meta.path
            );
            folder(vec![])
        }
        StoredCodec::Filepath => {
            let base = meta.path.rsplit('/').next().unwrap_or(&meta.path);
            folder(vec![file(
                shown_name(base),
                Content::External(object(&meta.path, size, 0)),
            )])
        }
        StoredCodec::Other(_) => vec![],
    }
}

/// The `.json` view next to a `.blob`.
fn json_view(
    column: usize,
    attr: &str,
    external: Option<ExternalObject>,
    stored_len: u64,
) -> RowEntry {
    RowEntry::File(FileEntry {
        name: AttrFile::Json.name(attr),
        column,
        content: Content::Json {
            external,
            stored_len,
        },
    })
}

/// The `.png` view next to an `.npy`, when the array is an image (decided from its header).
fn png_view(
    column: usize,
    attr: &str,
    external: Option<ExternalObject>,
    view: &NpyView,
    stored_len: u64,
) -> Option<RowEntry> {
    ImageShape::of(view.array())?;
    Some(RowEntry::File(FileEntry {
        name: AttrFile::Png.name(attr),
        column,
        content: Content::Png {
            external,
            view: view.clone(),
            stored_len,
        },
    }))
}

/// Files are read-only (0444) on read-only mounts, else 0644; folders 0555 / 0755.
pub fn permissions(is_dir: bool, read_only: bool) -> u16 {
    match (is_dir, read_only) {
        (true, true) => 0o555,
        (true, false) => 0o755,
        (false, true) => 0o444,
        (false, false) => 0o644,
    }
}

/// A stored file name as a folder entry (`rowname::stored_file_name`); a name that had to be
/// changed is logged the first time it is seen.
pub fn shown_name(stored: &str) -> String {
    let shown = crate::rowname::stored_file_name(stored);
    if shown != stored {
        static LOGGED: std::sync::Mutex<Option<std::collections::HashSet<String>>> =
            std::sync::Mutex::new(None);
        let mut logged = LOGGED.lock().unwrap();
        let logged = logged.get_or_insert_with(Default::default);
        if logged.len() < 10_000 && logged.insert(stored.to_string()) {
            tracing::warn!(
                "stored file name {stored:?} is not a valid file name: shown as {shown:?}"
            );
        }
    }
    shown.into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::ColumnInfo;
    use crate::naming::Tier;

    /// Both directions of the path grammar agree: walking a node's path from the root, name by
    /// name, gives the node back.
    #[test]
    fn a_path_walked_from_the_root_is_the_node() {
        let (s, c, r): (Arc<str>, Arc<str>, Arc<str>) =
            ("lab".into(), "Session.Trial".into(), "id=3".into());
        let nodes = [
            Node::Schema(s.clone()),
            Node::Table {
                schema: s.clone(),
                class: c.clone(),
            },
            Node::Row {
                schema: s.clone(),
                class: c.clone(),
                row: r.clone(),
            },
            Node::RowEntry {
                schema: s.clone(),
                class: c.clone(),
                row: r.clone(),
                name: "img.npy".into(),
            },
            Node::AttachFile {
                schema: s.clone(),
                class: c.clone(),
                row: r.clone(),
                folder: "photo".into(),
                name: "a b.png".into(),
            },
            Node::Definition {
                schema: s.clone(),
                class: c.clone(),
            },
            Node::Diagram {
                schema: s.clone(),
                dot: true,
            },
            Node::ExternalRoot { schema: s.clone() },
            Node::ExternalStore {
                schema: s.clone(),
                store: "raw".into(),
                unused: true,
            },
            Node::ExternalObject {
                schema: s.clone(),
                store: "raw".into(),
                unused: true,
                name: "ab.blob".into(),
            },
            Node::ExternalObject {
                schema: s.clone(),
                store: "raw".into(),
                unused: false,
                name: "ab.blob".into(),
            },
            // 2.x: a file deep in a folder object, an object by its path in a store.
            Node::AttachFile {
                schema: s.clone(),
                class: c.clone(),
                row: r.clone(),
                folder: "results".into(),
                name: "plots/deeper/values.json".into(),
            },
            Node::ExternalObject {
                schema: s.clone(),
                store: "raw".into(),
                unused: false,
                name: "_hash/lab/wgkgvsjesljdi7dcgw2neyirqq".into(),
            },
        ];
        for node in nodes {
            let path = node.path();
            let walked = path
                .split('/')
                .try_fold(Node::Root, |at, name| at.child(name, None));
            assert_eq!(walked.as_ref(), Some(&node), "{path}");
            // With the schema mounted at the root, the same names below it.
            let below = path
                .split('/')
                .skip(1)
                .try_fold(Node::Root, |at, name| at.child(name, Some(&s)));
            if !matches!(node, Node::Schema(_)) {
                assert_eq!(below.as_ref(), Some(&node), "{path} at the root");
            }
        }
        assert_eq!(
            Node::RowEntry {
                schema: s.clone(),
                class: c.clone(),
                row: r.clone(),
                name: "x".into()
            }
            .row_id(),
            Some(RowId::new("lab", "Session.Trial", "id=3"))
        );
        assert_eq!(RowId::new("lab", "T", "id=1").to_string(), "lab/T/id=1");
    }

    #[test]
    fn attribute_file_names_read_back_as_written() {
        let table = TableInfo {
            schema: "s".into(),
            name: "test".into(),
            class_name: "Test".into(),
            tier: Tier::Manual,
            columns: vec![column("id", AttrKind::Text), column("img", AttrKind::Blob)],
            key: vec![0],
        };
        for file in [
            AttrFile::Value,
            AttrFile::Npy,
            AttrFile::Blob,
            AttrFile::Json,
            AttrFile::Png,
        ] {
            assert_eq!(AttrFile::parse(&table, &file.name("img")), Some((1, file)));
        }
        assert_eq!(AttrFile::parse(&table, "img.npy.tmp"), None);
        assert_eq!(AttrFile::parse(&table, "other.npy"), None);
        assert!(AttrFile::Png.is_view() && AttrFile::Json.is_view() && !AttrFile::Npy.is_view());
    }

    /// What a listing probed of a 2.x store, by path.
    struct Probed(Vec<(&'static str, Probe)>);

    impl StoredObjects for Probed {
        fn default_store(&self, filepath: bool) -> Option<String> {
            Some(if filepath { "files" } else { "main" }.into())
        }
        fn probe(&self, _store: &str, path: &str) -> Result<Probe, String> {
            self.0
                .iter()
                .find(|(p, _)| *p == path)
                .map(|(_, probe)| probe.clone())
                .ok_or_else(|| format!("{path} not found"))
        }
    }

    #[test]
    fn a_2x_row_folder_shows_what_the_stores_hold() {
        let stored = |codec: StoredCodec, store: &str| AttrKind::Stored {
            codec,
            store: Some(store.into()),
        };
        let table = TableInfo {
            schema: "s".into(),
            name: "t".into(),
            class_name: "T".into(),
            tier: Tier::Manual,
            columns: vec![
                column("id", AttrKind::Text),
                column("arr", stored(StoredCodec::Blob, "main")),
                column("doc", stored(StoredCodec::Attach, "")),
                column("h", stored(StoredCodec::Hash, "main")),
                column("n", stored(StoredCodec::Npy, "main")),
                column("o", stored(StoredCodec::Object, "main")),
                column("tree", stored(StoredCodec::Object, "main")),
                column("fp", stored(StoredCodec::Filepath, "")),
                column("z", stored(StoredCodec::Other("zarr".into()), "main")),
                column("nul_h", stored(StoredCodec::Hash, "main")),
                column("nul_o", stored(StoredCodec::Object, "main")),
                column("gone", stored(StoredCodec::Npy, "main")),
            ],
            key: vec![0],
        };
        let blob = float_blob();
        let probe = |bytes: &[u8], size: u64| Probe {
            size,
            head: bytes.into(),
        };
        let objects = Probed(vec![
            ("_hash/s/blobhash", probe(&blob, blob.len() as u64)),
            ("_hash/s/att", probe(b"photo.png\0\x89PNG", 1009)),
            ("_schema/s/t/id=1/n_x.npy", probe(b"", 9344)),
            (
                "_schema/s/t/id=1/tree_x.manifest.json",
                probe(
                    br#"{"files": [{"path": "b/c.txt", "size": 3}, {"path": "a.txt", "size": 2}]}"#,
                    80,
                ),
            ),
        ]);
        let meta = |json: &str| Fact::Bytes(json.as_bytes().to_vec());
        let row = RowFacts {
            key: vec!["1".into()],
            folder: "id=1".into(),
            full_name: "id=1".into(),
            stamps: vec![],
            values: vec![
                Fact::Bytes(b"1".to_vec()),
                meta(
                    r#"{"hash": "blobhash", "path": "_hash/s/blobhash", "size": 48, "store": "main"}"#,
                ),
                meta(r#"{"hash": "att", "path": "_hash/s/att", "size": 1009, "store": ""}"#),
                meta(r#"{"hash": "hh", "path": "_hash/s/hh", "size": 6, "store": "main"}"#),
                meta(
                    r#"{"path": "_schema/s/t/id=1/n_x.npy", "dtype": "uint8", "shape": [48, 64, 3], "store": "main"}"#,
                ),
                meta(
                    r#"{"path": "_schema/s/t/id=1/o_x.txt", "ext": ".txt", "size": 22, "is_dir": false, "store": "main"}"#,
                ),
                meta(
                    r#"{"path": "_schema/s/t/id=1/tree_x", "ext": null, "size": 5, "is_dir": true, "store": "main"}"#,
                ),
                meta(
                    r#"{"path": "files/s/session1/raw.dat", "size": 16, "is_dir": false, "store": ""}"#,
                ),
                meta(r#"{"path": "_schema/s/t/id=1/z_x", "store": "main"}"#),
                Fact::Null,
                Fact::Null,
                meta(
                    r#"{"path": "_schema/s/t/id=1/gone.npy", "dtype": "int8", "shape": [1], "store": "main"}"#,
                ),
            ],
        };
        let entries = row_entries_with(
            &table,
            &row,
            &|_| BlobHead::Unavailable("no 0.14 store".into()),
            &objects,
        );
        let names: Vec<&str> = entries.iter().map(|e| e.name()).collect();
        assert_eq!(
            names,
            [
                "id", "arr.npy", "doc", "h", "n.npy", "n.png", "o", "tree", "fp", "z.json",
                "nul_o", "gone.npy"
            ]
        );
        let file = |i: usize| match &entries[i] {
            RowEntry::File(f) => f.clone(),
            other => panic!("{other:?}"),
        };
        let folder = |i: usize| match &entries[i] {
            RowEntry::Folder { files, .. } => files
                .iter()
                .map(|f| (f.name.clone(), f.content.size()))
                .collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        };
        // The blob's head says it is a float array: a .npy of 3 doubles, checked by hash.
        assert_eq!(file(1).content.size(), 128 + 24);
        match file(1).content {
            Content::ExternalNpy { object, .. } => {
                assert_eq!(object.store, "main");
                assert_eq!(
                    object.kind,
                    TrackedKind::Stored {
                        path: "_hash/s/blobhash".into(),
                        skip: 0,
                        check: Some("blobhash".into())
                    }
                );
            }
            other => panic!("{other:?}"),
        }
        // `<attach@>` without a store name: `stores.default`; the name from the object.
        assert_eq!(folder(2), [("photo.png".to_string(), 1009 - 10)]);
        assert_eq!(file(3).content.size(), 6);
        assert_eq!(file(4).content.size(), 9344);
        assert_eq!(folder(6), [("o.txt".to_string(), 22)]);
        assert_eq!(
            folder(7),
            [("a.txt".to_string(), 2), ("b/c.txt".to_string(), 3)]
        );
        assert_eq!(folder(8), [("raw.dat".to_string(), 16)]);
        assert_eq!(file(9).content.size(), row_json_len(&row.values[8]));
        assert!(folder(10).is_empty());
        // An object the store does not have: listed, reading it says why.
        assert!(matches!(
            file(11).content,
            Content::Unavailable {
                why: Unavailable::Store(_),
                ..
            }
        ));
    }

    fn row_json_len(fact: &Fact) -> u64 {
        match fact {
            Fact::Bytes(b) => b.len() as u64 + 1,
            _ => 0,
        }
    }

    fn column(name: &str, kind: AttrKind) -> ColumnInfo {
        ColumnInfo {
            name: name.into(),
            column_type: String::new(),
            nullable: true,
            has_default: true,
            kind,
            hidden: name.starts_with('_'),
            json: false,
            enum_type: None,
        }
    }

    /// `np.array([1.,2.,3.])` as packed by the client (spec §1.8).
    fn float_blob() -> Vec<u8> {
        let mut b = b"mYm\0A".to_vec();
        b.extend(1u64.to_le_bytes());
        b.extend(3u64.to_le_bytes());
        b.extend(6u32.to_le_bytes());
        b.extend(0u32.to_le_bytes());
        for x in [1.0f64, 2.0, 3.0] {
            b.extend(x.to_le_bytes());
        }
        b
    }

    #[test]
    fn row_folder_layout() {
        let table = TableInfo {
            schema: "s".into(),
            name: "test".into(),
            class_name: "Test".into(),
            tier: Tier::Manual,
            columns: vec![
                column("id", AttrKind::Text),
                column("note", AttrKind::Text),
                column("arr", AttrKind::Blob),
                column("obj", AttrKind::Blob),
                column("doc", AttrKind::Attach),
                column("_hidden", AttrKind::Text),
                column("raw", AttrKind::Binary),
            ],
            key: vec![0],
        };
        let blob = float_blob();
        let dict_blob = b"dj0\0\x04\x00\x00\x00\x00\x00\x00\x00\x00".to_vec();
        let row = RowFacts {
            key: vec!["1".into()],
            folder: "id=1".into(),
            full_name: "id=1".into(),
            stamps: vec![],
            values: vec![
                Fact::Bytes(b"1".to_vec()),
                Fact::Null,
                Fact::Blob {
                    len: blob.len() as u64,
                    head: blob.clone(),
                },
                Fact::Blob {
                    len: dict_blob.len() as u64,
                    head: dict_blob,
                },
                Fact::Attach {
                    name: "a.png".into(),
                    size: 10,
                },
                Fact::Bytes(b"x".to_vec()),
                Fact::Bytes(vec![0, 1]),
            ],
        };
        let entries = row_entries(&table, &row, &|_| BlobHead::Unavailable("no store".into()));
        let names: Vec<&str> = entries.iter().map(|e| e.name()).collect();
        assert_eq!(
            names,
            ["id", "arr.npy", "obj.blob", "obj.json", "doc", "raw"]
        );
        match &entries[0] {
            RowEntry::File(f) => assert_eq!(f.content.size(), 2),
            other => panic!("{other:?}"),
        }
        match &entries[1] {
            RowEntry::File(f) => assert_eq!(f.content.size(), 128 + 24),
            other => panic!("{other:?}"),
        }
        match &entries[4] {
            RowEntry::Folder { files, .. } => {
                assert_eq!(files[0].name, "a.png");
                assert_eq!(files[0].content.size(), 10);
            }
            other => panic!("{other:?}"),
        }
        match &entries[5] {
            RowEntry::File(f) => assert_eq!(f.content.size(), 2, "binary has no newline"),
            other => panic!("{other:?}"),
        }
    }

    /// A plain `mYm` `A` blob of `class` with `shape` and zeroed data.
    fn array_blob(shape: &[u64], class: u32, elem: usize) -> Vec<u8> {
        let mut b = b"mYm\0A".to_vec();
        b.extend((shape.len() as u64).to_le_bytes());
        for d in shape {
            b.extend(d.to_le_bytes());
        }
        b.extend(class.to_le_bytes());
        b.extend(0u32.to_le_bytes());
        b.resize(b.len() + shape.iter().product::<u64>() as usize * elem, 0);
        b
    }

    fn classify_array(blob: &[u8]) -> crate::codec::ArrayHeader {
        match classify_blob(blob, blob.len() as u64) {
            Ok(BlobShape::Array(a)) => a,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn image_arrays_get_a_png_view_after_their_npy() {
        let cases: [(&[u64], u32, usize, bool); 6] = [
            (&[4, 5], 9, 1, true),     // uint8 grey
            (&[4, 5, 3], 9, 1, true),  // RGB
            (&[4, 5], 6, 8, true),     // float64
            (&[4, 5, 2], 9, 1, false), // two channels
            (&[20], 9, 1, false),      // 1-D
            (&[4, 5], 10, 2, false),   // int16
        ];
        for (shape, class, elem, png) in cases {
            let table = TableInfo {
                schema: "s".into(),
                name: "t".into(),
                class_name: "T".into(),
                tier: Tier::Manual,
                columns: vec![
                    column("img", AttrKind::Blob),
                    column(
                        "ext",
                        AttrKind::External {
                            store: "local".into(),
                            kind: ExternalKind::Blob,
                        },
                    ),
                ],
                key: vec![],
            };
            let blob = array_blob(shape, class, elem);
            let row = RowFacts {
                key: vec![],
                folder: "x".into(),
                full_name: "x".into(),
                stamps: vec![],
                values: vec![
                    Fact::Blob {
                        len: blob.len() as u64,
                        head: blob.clone(),
                    },
                    Fact::External {
                        hash: vec![7; 16],
                        attachment_name: None,
                        filepath: None,
                        size: Some(blob.len() as u64),
                    },
                ],
            };
            let head = match classify_blob(&blob, blob.len() as u64) {
                Ok(shape) => BlobHead::Known(shape),
                Err(e) => panic!("{e}"),
            };
            let entries = row_entries(&table, &row, &|_| head.clone());
            let names: Vec<&str> = entries.iter().map(|e| e.name()).collect();
            if png {
                assert_eq!(
                    names,
                    ["img.npy", "img.png", "ext.npy", "ext.png"],
                    "{shape:?}"
                );
                match &entries[3] {
                    RowEntry::File(FileEntry {
                        content:
                            Content::Png {
                                external: Some(object),
                                stored_len,
                                ..
                            },
                        column: 1,
                        ..
                    }) => {
                        assert_eq!(object.hash, vec![7; 16]);
                        assert_eq!(*stored_len, blob.len() as u64);
                    }
                    other => panic!("{other:?}"),
                }
                match &entries[1] {
                    RowEntry::File(f) => {
                        let image = ImageShape::of(&classify_array(&blob)).unwrap();
                        assert_eq!(f.content.size(), png_len(&image), "from the header");
                    }
                    other => panic!("{other:?}"),
                }
            } else {
                assert_eq!(names, ["img.npy", "ext.npy"], "{shape:?}");
            }
        }
    }
}
