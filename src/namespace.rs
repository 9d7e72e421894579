//! The namespace: what each path in the mount means. Pure logic over the catalog and a row's
//! facts; no FUSE, no database.
//!
//! ```text
//! ROOT/                       all-schemas mode: one folder per schema; else the schema itself
//!   <Class>/                  a table, by DataJoint class name (`Session.Trial` for parts)
//!     <key folder>/           a row (`rowname`)
//!       <attr>                scalar: text + "\n" (raw bytes for binary columns); absent if NULL
//!       <attr>.npy            blob holding a numeric/bool/complex/datetime array
//!       <attr>.blob           any other blob: the stored bytes; with <attr>.json beside it
//!       <attr>/<filename>     attachment, under its original file name
//! ```

use std::sync::Arc;

use crate::catalog::{AttrKind, ExternalKind, TableInfo};
use crate::codec::{classify_blob, BlobShape, NpyView};
use crate::db::{Fact, RowFacts};
use crate::stores::paths::TrackedKind;

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
    /// A file inside an attachment folder.
    AttachFile {
        schema: Arc<str>,
        class: Arc<str>,
        row: Arc<str>,
        folder: Arc<str>,
        name: Arc<str>,
    },
}

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
    /// Size from the tracking table.
    pub size: u64,
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
            Content::External(object) => object.size,
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
                ) =>
            {
                entries.push(RowEntry::Folder {
                    name: attr.into(),
                    files: vec![],
                })
            }
            Fact::Null => {}
            Fact::Bytes(bytes) => {
                let mut data = bytes.clone();
                if info.kind != AttrKind::Binary {
                    data.push(b'\n');
                }
                entries.push(RowEntry::File(file(
                    attr.into(),
                    Content::Inline(data.into()),
                )));
            }
            Fact::Blob { len, head } => match classify_blob(head, *len) {
                Ok(BlobShape::Array(array)) => entries.push(RowEntry::File(file(
                    format!("{attr}.npy"),
                    Content::Npy(NpyView::new(&array)),
                ))),
                Ok(BlobShape::Other) => {
                    entries.push(RowEntry::File(file(
                        format!("{attr}.blob"),
                        Content::RawBlob { size: *len },
                    )));
                    entries.push(json_view(column, attr, None, *len));
                }
                Err(e) => entries.push(RowEntry::File(file(
                    format!("{attr}.npy"),
                    Content::Unavailable {
                        size: 0,
                        why: Unavailable::Corrupt(e.to_string()),
                    },
                ))),
            },
            Fact::Attach { name, size } => entries.push(RowEntry::Folder {
                name: attr.into(),
                files: vec![file(
                    name.clone(),
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
                        format!("{attr}.npy"),
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
                                    n.clone(),
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
                                    p.rsplit('/').next().unwrap_or(p).to_string(),
                                    Content::External(object(TrackedKind::Filepath(p.clone()))),
                                )
                            })
                            .collect(),
                    }),
                    ExternalKind::Blob => match head(hash) {
                        BlobHead::Known(BlobShape::Array(array)) => {
                            entries.push(RowEntry::File(file(
                                format!("{attr}.npy"),
                                Content::ExternalNpy {
                                    object: object(TrackedKind::Blob),
                                    view: NpyView::new(&array),
                                },
                            )))
                        }
                        BlobHead::Known(BlobShape::Other) => {
                            entries.push(RowEntry::File(file(
                                format!("{attr}.blob"),
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
                            format!("{attr}.npy"),
                            Content::Unavailable {
                                size: 0,
                                why: Unavailable::Corrupt(reason),
                            },
                        ))),
                        BlobHead::Unavailable(reason) => entries.push(RowEntry::File(file(
                            format!("{attr}.npy"),
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

/// The `.json` view next to a `.blob`.
fn json_view(
    column: usize,
    attr: &str,
    external: Option<ExternalObject>,
    stored_len: u64,
) -> RowEntry {
    RowEntry::File(FileEntry {
        name: format!("{attr}.json"),
        column,
        content: Content::Json {
            external,
            stored_len,
        },
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::ColumnInfo;
    use crate::naming::Tier;

    fn column(name: &str, kind: AttrKind) -> ColumnInfo {
        ColumnInfo {
            name: name.into(),
            column_type: String::new(),
            nullable: true,
            has_default: true,
            kind,
            hidden: name.starts_with('_'),
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
}
