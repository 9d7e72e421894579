//! The database under the filesystem core, in DataJoint's vocabulary rather than SQL: a schema's
//! catalog, a table's rows with what each value is (the facts a listing needs), one value, the
//! objects a schema tracks in a store, a write of one row with its tracking rows in one
//! transaction, the rows that depend on a row and their deletion, and the cleanup of unused
//! tracking rows.
//!
//! `Backend` is that interface; `mysql` implements it for MySQL/MariaDB and `postgres` for
//! PostgreSQL (every SQL statement djfs sends lives in those two), `memory` in memory for the
//! core's tests. A backend answers with the same facts whatever its SQL dialect: identifier
//! quoting, type names and how a value is cut or hashed on the server are its own business.

pub mod budget;
pub mod contract;
pub mod memory;
pub mod mysql;
pub mod postgres;
mod sql;

use std::sync::Arc;

use anyhow::Result;

use crate::catalog::{SchemaCatalog, TableInfo};
use crate::config::{DbBackend, DbConfig};

/// Connects to the database the configuration names (`database.backend`), with at most
/// `connections` open at once.
pub fn connect(cfg: &DbConfig, connections: usize) -> Result<Arc<dyn Backend>> {
    Ok(match cfg.backend {
        DbBackend::MySql => Arc::new(mysql::MySql::connect_with_budget(cfg, connections)?),
        DbBackend::PostgreSql => {
            Arc::new(postgres::Postgres::connect_with_budget(cfg, connections)?)
        }
    })
}

/// Bytes of each blob fetched with a listing: enough for the array header, also of a
/// compressed blob after inflating its beginning (more is fetched in the rare case it is not).
pub const BLOB_HEAD_BYTES: usize = crate::codec::RECOMMENDED_PREFIX;

/// Attachment names are at most 255 characters, so the NUL is within the first 1024 bytes.
pub const ATTACH_NAME_SCAN: u64 = 1024;

/// What one listing query tells about one stored value, before any further fetch.
#[derive(Clone, Debug, PartialEq)]
pub enum Fact {
    Null,
    /// Text (Text/Uuid kinds, already formatted) or raw bytes (Binary kind).
    Bytes(Vec<u8>),
    /// An in-table blob: its stored length and first bytes.
    Blob {
        len: u64,
        head: Vec<u8>,
    },
    /// An in-table attachment: the original name and the size of the contents.
    Attach {
        name: String,
        size: u64,
    },
    /// An in-table attachment whose value has no `name\0` prefix.
    BadAttach,
    /// An external reference and what its tracking row says (None where the row is missing).
    External {
        hash: Vec<u8>,
        attachment_name: Option<String>,
        filepath: Option<String>,
        size: Option<u64>,
    },
}

/// One row as a listing sees it.
#[derive(Clone, Debug)]
pub struct RowFacts {
    /// Key values as text, in key order.
    pub key: Vec<String>,
    /// The row's folder name (maybe shortened, see `rowname`).
    pub folder: String,
    /// The unshortened name (what a shortened name's digest is computed from).
    pub full_name: String,
    /// One fact per column of the table, in column order.
    pub values: Vec<Fact>,
    /// Per column, what identifies its current content for modification times (see `Stamp`).
    pub stamps: Vec<Stamp>,
}

/// What says whether a table's rows changed, as the server tells it at the moment of asking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableStamp {
    /// MySQL/MariaDB: when the rows last changed (InnoDB's `UPDATE_TIME`, whole seconds; kept
    /// in memory, so None after a server restart until the table's next change), with the
    /// server's clock and the time it started.
    UpdateTime {
        changed: Option<i64>,
        now: i64,
        started: i64,
    },
    /// PostgreSQL (which keeps no change time without server settings): the rows' count and
    /// the sum and largest of their inserting transaction ids (`xmin`). An insert, delete or
    /// update (a new row version with a new `xmin`) changes them; vacuum and freezing do not.
    Rows {
        count: i64,
        xmin_sum: i64,
        xmin_max: i64,
    },
}

impl TableStamp {
    /// Whether the table cannot have changed between `self` (asked just before it was listed)
    /// and `later`.
    pub fn unchanged_at(&self, later: &TableStamp) -> bool {
        match (self, later) {
            // The same server run, the same change time, and that time older than the second
            // of `self` (a change in that very second could have come after the listing).
            (
                TableStamp::UpdateTime {
                    changed,
                    now,
                    started,
                },
                TableStamp::UpdateTime {
                    changed: later_changed,
                    started: later_started,
                    ..
                },
            ) => {
                // (`started` is computed from the uptime, so it may move by a second between
                // asks.)
                let same_run = (started - later_started).abs() <= 2;
                same_run && changed == later_changed && changed.is_none_or(|c| c < *now)
            }
            (TableStamp::Rows { .. }, TableStamp::Rows { .. }) => self == later,
            _ => false,
        }
    }
}

#[cfg(test)]
mod stamp_tests {
    use super::TableStamp;

    fn at(changed: Option<i64>, now: i64, started: i64) -> TableStamp {
        TableStamp::UpdateTime {
            changed,
            now,
            started,
        }
    }

    #[test]
    fn a_table_is_unchanged_only_with_the_same_time_in_the_same_run() {
        let before = at(Some(100), 105, 50);
        assert!(before.unchanged_at(&at(Some(100), 110, 51)));
        assert!(!before.unchanged_at(&at(Some(107), 110, 51)));
        // A restart in between: whatever the times say.
        assert!(!before.unchanged_at(&at(Some(100), 110, 108)));
        // Changed in the very second it was asked: a later change may share that second.
        assert!(!at(Some(105), 105, 50).unchanged_at(&at(Some(105), 110, 51)));
        // Unknown since the server started, and still: no change since.
        let quiet = at(None, 105, 50);
        assert!(quiet.unchanged_at(&at(None, 110, 51)));
        assert!(!quiet.unchanged_at(&at(Some(106), 110, 51)));
    }

    #[test]
    fn a_table_is_unchanged_only_with_the_same_rows_and_transaction_ids() {
        let rows = |count, xmin_sum, xmin_max| TableStamp::Rows {
            count,
            xmin_sum,
            xmin_max,
        };
        assert!(rows(10, 5000, 900).unchanged_at(&rows(10, 5000, 900)));
        // A row updated (a new version, a new xmin), one deleted, one inserted.
        assert!(!rows(10, 5000, 900).unchanged_at(&rows(10, 5100, 1000)));
        assert!(!rows(10, 5000, 900).unchanged_at(&rows(9, 4500, 900)));
        assert!(!rows(10, 5000, 900).unchanged_at(&rows(11, 6000, 1000)));
        // Stamps of different servers never say unchanged.
        assert!(!at(Some(1), 2, 3).unchanged_at(&rows(1, 2, 3)));
    }
}

impl RowFacts {
    /// About how many bytes this row takes in memory (for the caches' byte budgets).
    pub fn approx_bytes(&self) -> usize {
        let strings: usize = self.key.iter().map(|k| k.len() + 24).sum::<usize>()
            + self.folder.len()
            + self.full_name.len();
        let values: usize = self
            .values
            .iter()
            .map(|v| {
                48 + match v {
                    Fact::Bytes(b) => b.len(),
                    Fact::Blob { head, .. } => head.len(),
                    Fact::Attach { name, .. } => name.len(),
                    Fact::External {
                        hash,
                        attachment_name,
                        filepath,
                        ..
                    } => {
                        hash.len()
                            + attachment_name.as_ref().map_or(0, |n| n.len())
                            + filepath.as_ref().map_or(0, |p| p.len())
                    }
                    Fact::Null | Fact::BadAttach => 0,
                }
            })
            .sum();
        let stamps: usize = self
            .stamps
            .iter()
            .map(|s| {
                32 + match s {
                    Stamp::Digest(d) => d.len(),
                    _ => 0,
                }
            })
            .sum();
        120 + strings + values + stamps
    }
}

/// What dates a value: an external object's tracking `timestamp` (seconds since the epoch), or
/// a digest of an in-table blob or attachment computed by the server (MD5 of the value; of its
/// length, first and last KiB above 1 MiB, so listing never hashes large values whole).
/// Scalars are dated by their text itself.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Stamp {
    None,
    Digest(Vec<u8>),
    Time(i64),
}

/// One row of a `~external_<store>` tracking table.
#[derive(Clone, Debug, PartialEq)]
pub struct Tracked {
    pub hash: Vec<u8>,
    pub size: u64,
    pub kind: crate::stores::paths::TrackedKind,
    /// The tracking row's `timestamp`, seconds since the epoch.
    pub timestamp: Option<i64>,
}

/// A new value for one column.
#[derive(Clone, Debug, PartialEq)]
pub enum ColumnValue {
    Null,
    /// Text that the database converts to the column's type (refused when it does not fit).
    Text(String),
    /// Raw bytes: blobs, attachments, binary columns, and the 16-byte hashes of external values.
    Bytes(Vec<u8>),
}

/// A `~external_<store>` row to add (or refresh) before a table row references it.
#[derive(Clone, Debug, PartialEq)]
pub struct TrackingRow {
    pub store: String,
    pub hash: Vec<u8>,
    pub size: u64,
    pub attachment_name: Option<String>,
}

/// A table that references another through a foreign key.
#[derive(Clone, Debug)]
pub struct Dependent {
    pub schema: String,
    pub table: String,
    /// (child column, referenced parent column), in order.
    pub columns: Vec<(String, String)>,
}

/// Why a write was refused by the server, mapped to what the filesystem reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteRefusal {
    /// Duplicate key.
    Exists,
    /// A foreign key has no parent row, or a referenced row would be lost.
    Reference,
    /// The value does not fit the column (strict mode).
    BadValue,
}

/// A write the database refused because of what was written (not a broken connection): carried
/// in the error chain so the core can tell the user which errno applies, whatever the backend.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refused {
    pub why: WriteRefusal,
    pub message: String,
}

/// The objects a DataJoint 2.x stored value references (see `crate::orphans`).
pub use crate::orphans::StoredRef;

/// Tables another client kept locked longer than the lock timeout: nothing was read or changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("tables busy: {0}")]
pub struct Busy(pub String);

/// Whether an operation failed because tables stayed locked (see `Busy`).
pub fn busy(err: &anyhow::Error) -> bool {
    err.chain().any(|e| e.downcast_ref::<Busy>().is_some())
}

/// An UPDATE found no row: it was deleted meanwhile (by another client or another mount).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("row not found (deleted meanwhile)")]
pub struct RowGone;

/// Why a write failed, when the database refused it (see `Refused`).
pub fn write_refusal(err: &anyhow::Error) -> Option<WriteRefusal> {
    err.chain()
        .find_map(|e| e.downcast_ref::<Refused>())
        .map(|r| r.why)
}

/// Whether a write failed because its row is gone (see `RowGone`).
pub fn row_gone(err: &anyhow::Error) -> bool {
    err.chain().any(|e| e.downcast_ref::<RowGone>().is_some())
}

/// A tracking row as it was before `delete_unused_tracking` removed it, to put it back
/// unchanged when removing the object fails.
#[derive(Clone, Debug, PartialEq)]
pub struct SavedTracking {
    pub hash: Vec<u8>,
    pub size: u64,
    pub attachment_name: Option<String>,
    pub filepath: Option<String>,
    pub contents_hash: Option<Vec<u8>>,
    /// The `timestamp` column as the database gave it (restored as is).
    pub timestamp: Option<String>,
}

/// A dependency path from a row being deleted: each step is a table whose foreign key
/// references the previous step's table (the first step references the row's own table).
pub type DependencyPath = [Dependent];

/// The MD5-based stamp of an in-table blob or attachment value (see `Stamp::Digest`): MD5 of
/// the value up to 1 MiB; above, MD5 of its length in decimal, its first and its last KiB, so
/// listing never hashes large values whole. Backends compute it on the server; this is the
/// definition (and what the in-memory backend computes).
pub fn content_digest(value: &[u8]) -> Vec<u8> {
    use md5::{Digest, Md5};
    const WHOLE: usize = 1 << 20;
    const EDGE: usize = 1024;
    let mut md5 = Md5::new();
    if value.len() <= WHOLE {
        md5.update(value);
    } else {
        md5.update(value.len().to_string().as_bytes());
        md5.update(&value[..EDGE]);
        md5.update(&value[value.len() - EDGE..]);
    }
    md5.finalize().to_vec()
}

/// A row's facts from its decoded values: the key as text (as in folder names; binary keys in
/// hex), its full name and its folder name.
pub(crate) fn row_facts(table: &TableInfo, values: Vec<Fact>, stamps: Vec<Stamp>) -> RowFacts {
    let key: Vec<String> = table
        .key
        .iter()
        .map(|&i| match &values[i] {
            Fact::Bytes(b) if table.columns[i].kind == crate::catalog::AttrKind::Binary => {
                hex::encode(b)
            }
            Fact::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            _ => String::new(),
        })
        .collect();
    let full_name = crate::rowname::full_name(
        &table.key_names(),
        &key.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
    );
    RowFacts {
        folder: crate::rowname::folder_name(&full_name),
        full_name,
        key,
        values,
        stamps,
    }
}

/// Fetches more of each blob whose header did not fit in the listing's first bytes:
/// `fetch_prefix(key, column, n)` gives the value's first `n` bytes (None: row or value gone).
pub(crate) fn complete_blob_heads(
    facts: &mut RowFacts,
    mut fetch_prefix: impl FnMut(&[String], usize, u64) -> Result<Option<Vec<u8>>>,
) -> Result<()> {
    for column in 0..facts.values.len() {
        while let Fact::Blob { len, head } = &facts.values[column] {
            let Err(crate::codec::BlobError::NeedMore(n)) = crate::codec::classify_blob(head, *len)
            else {
                break;
            };
            let (len, n) = (*len, (n as u64).min(*len));
            if n <= head.len() as u64 {
                break;
            }
            match fetch_prefix(&facts.key, column, n)? {
                Some(head) => facts.values[column] = Fact::Blob { len, head },
                None => break,
            }
        }
    }
    Ok(())
}

/// Where a page of a paged listing starts (keys as text, as in folder names).
#[derive(Clone, Copy, Debug)]
pub enum PageStart<'a> {
    /// At the table's first row.
    First,
    /// At the first row whose key is greater than this one.
    After(&'a [String]),
    /// At this row if it exists, else at the next one.
    At(&'a [String]),
}

/// What the filesystem core asks of a database. Keys are the key values as text, in key order
/// (as in folder names); columns are indexes into `TableInfo::columns`.
pub trait Backend: Send + Sync {
    /// How many statements (or requests) this backend has sent: the query counter.
    fn query_count(&self) -> u64;

    /// The questions asked so far, by kind, with their time (none for backends that keep none).
    fn query_stats(&self) -> Vec<budget::KindStats> {
        Vec::new()
    }

    /// Schemas the user may see, without the server's own.
    fn schemas(&self) -> Result<Vec<String>>;

    fn schema_exists(&self, schema: &str) -> Result<bool>;

    /// A schema's tables, columns, keys and foreign keys.
    fn load_catalog(&self, schema: &str) -> Result<SchemaCatalog>;

    /// What says whether the table's rows changed (one light query), or None when this
    /// backend cannot tell (then a stale listing is always read again).
    fn table_stamp(&self, table: &TableInfo) -> Result<Option<TableStamp>>;

    /// A cheap fingerprint of the schema's set of tables (one light query): the catalog is
    /// read again only when it changes (or after `CATALOG_TRUST`).
    fn catalog_version(&self, schema: &str) -> Result<String>;

    /// Every row of a table with the facts needed to list it and size every file: one query.
    fn list_rows(&self, table: &TableInfo) -> Result<Vec<RowFacts>>;

    /// Up to `limit` rows in primary-key order, from `from` on (keyset pagination: rows that
    /// exist throughout a paged walk are seen exactly once, whatever changes meanwhile).
    fn list_rows_page(
        &self,
        table: &TableInfo,
        from: PageStart<'_>,
        limit: usize,
    ) -> Result<Vec<RowFacts>>;

    /// The row with these key values, by one point query.
    fn find_row(&self, table: &TableInfo, key: &[String]) -> Result<Option<RowFacts>>;

    /// The full stored value of one column of one row (None: row gone or value NULL).
    fn fetch_value(
        &self,
        table: &TableInfo,
        key: &[String],
        column: usize,
    ) -> Result<Option<Vec<u8>>>;

    /// The objects a schema tracks in one store; with `unused_only`, those no row references.
    fn tracked(&self, schema: &str, store: &str, unused_only: bool) -> Result<Vec<Tracked>>;

    /// Whether the schema tracks an object with this hash in the store (false when the schema
    /// or its tracking table does not exist).
    fn tracking_exists(&self, schema: &str, store: &str, hash: &[u8]) -> Result<bool>;

    /// In one transaction: the tracking rows (added, or their timestamp refreshed), then the
    /// row's new values (an UPDATE; `RowGone` when the row is not there), or with `insert` the
    /// whole new row (`values` holding every column to set besides the key). A refusal because
    /// of what was written is a `Refused` error.
    fn write_row(
        &self,
        table: &TableInfo,
        key: &[String],
        values: &[(usize, ColumnValue)],
        tracking: &[TrackingRow],
        insert: bool,
    ) -> Result<()>;

    /// What a column holds now, to compare later: `None` when the row is gone, `Some(None)` for
    /// NULL, else the MD5 (hex) of the stored bytes.
    fn value_fingerprint(
        &self,
        table: &TableInfo,
        key: &[String],
        column: usize,
    ) -> Result<Option<Option<String>>>;

    /// Sets a column to NULL only if it still holds what `fingerprint` describes; returns
    /// whether the row changed.
    fn null_if_unchanged(
        &self,
        table: &TableInfo,
        key: &[String],
        column: usize,
        fingerprint: &Option<String>,
    ) -> Result<bool>;

    /// Tables whose foreign keys reference `schema.table` (hidden tables excluded), one entry
    /// per foreign key.
    fn dependents(&self, schema: &str, table: &str) -> Result<Vec<Dependent>>;

    /// How many rows of the last table of `path` depend, through it, on the row `key` of `root`.
    fn count_dependents(
        &self,
        root: &TableInfo,
        key: &[String],
        path: &DependencyPath,
    ) -> Result<u64>;

    /// Deletes, in one transaction and in the order given, the rows that depend on the row
    /// `key` of `root` through each path (an empty path: the row itself); returns how many rows
    /// each step deleted. A refusal (rows still referenced) is a `Refused` error.
    fn delete_rows(
        &self,
        root: &TableInfo,
        key: &[String],
        steps: &[Vec<Dependent>],
    ) -> Result<Vec<u64>>;

    /// Deletes one tracking row if no row references it; returns it (to restore it if removing
    /// the object fails), or None when it is referenced or gone.
    fn delete_unused_tracking(
        &self,
        schema: &str,
        store: &str,
        hash: &[u8],
    ) -> Result<Option<SavedTracking>>;

    /// Puts back a tracking row `delete_unused_tracking` removed.
    fn restore_tracking(&self, schema: &str, store: &str, saved: SavedTracking) -> Result<()>;

    /// Every object the schema's DataJoint 2.x stored values reference (2.x has no tracking
    /// table: the JSON metadata is the only reference): one query finds the columns that may
    /// hold references (`orphans::reference_column`) in every table of the schema, the ones the
    /// mount does not show included, then one query per table that has such columns.
    fn stored_references(&self, schema: &str) -> Result<Vec<StoredRef>>;

    /// The same references, read in one transaction that keeps every table with such columns
    /// from changing until `then` returns (PostgreSQL: `LOCK TABLE … IN SHARE MODE`; MySQL:
    /// locking reads of every row, which hold the gaps between rows too): an object `then`
    /// deletes because no reference covers it cannot gain a committed reference meanwhile.
    /// Tables another client keeps locked past the lock timeout give a `Busy` error.
    fn with_stored_references_held(
        &self,
        schema: &str,
        then: &mut dyn FnMut(&[StoredRef]) -> Result<()>,
    ) -> Result<()>;
}
