//! A database in memory, with the behaviour the core relies on from MySQL: rows by primary key,
//! values checked against their column types (strict mode), foreign keys (to parent rows and to
//! the `~external_<store>` tracking rows), transactions that apply whole or not at all, and the
//! same facts a listing query returns. It serves the core's unit and property tests, which run
//! without a server; `tests/backend_contract.rs` runs one suite over it and over MySQL.
//!
//! Values are kept as MySQL stores them: text types as their canonical text, `uuid` and binary
//! columns as raw bytes, blobs and attachments as bytes, external references as 16-byte hashes.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use anyhow::{anyhow, Result};
use md5::{Digest, Md5};

use crate::catalog::{build_catalog, AttrKind, RawCatalog, SchemaCatalog, TableInfo};
use crate::rowname;
use crate::stores::paths::TrackedKind;
// DataJoint 2.x references, for `.unused` and `djfs gc`.
use super::StoredRef;

use super::{
    content_digest, Backend, ColumnValue, DependencyPath, Dependent, Fact, PageStart, Refused,
    RowFacts, RowGone, SavedTracking, Stamp, TableStamp, Tracked, TrackingRow, WriteRefusal,
    ATTACH_NAME_SCAN, BLOB_HEAD_BYTES,
};

/// One stored row: a value per column (None: NULL), in column order.
type Row = Vec<Option<Vec<u8>>>;

#[derive(Clone, Debug)]
struct Tracking {
    size: u64,
    attachment_name: Option<String>,
    filepath: Option<String>,
    contents_hash: Option<Vec<u8>>,
    timestamp: i64,
}

#[derive(Clone, Default)]
struct Schema {
    raw: RawCatalog,
    /// Rows by table name, then by their key texts (as folder names show them).
    tables: HashMap<String, BTreeMap<Vec<String>, Row>>,
    /// Tracking rows by store, then by hash.
    tracking: HashMap<String, BTreeMap<Vec<u8>, Tracking>>,
}

/// The in-memory backend.
pub struct Memory {
    schemas: Mutex<BTreeMap<String, Schema>>,
    queries: AtomicU64,
    /// Seconds since the epoch, for tracking timestamps (injectable for tests).
    clock: Box<dyn Fn() -> i64 + Send + Sync>,
}

impl Default for Memory {
    fn default() -> Self {
        Memory::new()
    }
}

impl Memory {
    pub fn new() -> Memory {
        Memory::with_clock(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64)
        })
    }

    pub fn with_clock(clock: impl Fn() -> i64 + Send + Sync + 'static) -> Memory {
        Memory {
            schemas: Mutex::new(BTreeMap::new()),
            queries: AtomicU64::new(0),
            clock: Box::new(clock),
        }
    }

    /// Declares a schema from what a backend reads about it (see `MySql::raw_catalog`).
    pub fn add_schema(&self, schema: &str, raw: RawCatalog) {
        self.schemas.lock().unwrap().insert(
            schema.to_string(),
            Schema {
                raw,
                ..Default::default()
            },
        );
    }

    /// Puts a row as stored (one value per column, as `Backend::fetch_value` returns them),
    /// without checks: for copying a database's content.
    pub fn put_row(&self, table: &TableInfo, values: Row) {
        let key = key_texts(table, &values);
        let mut schemas = self.schemas.lock().unwrap();
        let schema = schemas.entry(table.schema.clone()).or_default();
        schema
            .tables
            .entry(table.name.clone())
            .or_default()
            .insert(key, values);
    }

    /// Puts a tracking row as stored, without checks.
    pub fn put_tracking(&self, schema: &str, store: &str, tracked: &Tracked) {
        let (attachment_name, filepath) = match &tracked.kind {
            TrackedKind::Attachment(n) => (Some(n.clone()), None),
            TrackedKind::Filepath(p) | TrackedKind::Stored { path: p, .. } => {
                (None, Some(p.clone()))
            }
            TrackedKind::Blob => (None, None),
        };
        let mut schemas = self.schemas.lock().unwrap();
        let schema = schemas.entry(schema.to_string()).or_default();
        schema
            .tracking
            .entry(store.to_string())
            .or_default()
            .insert(
                tracked.hash.clone(),
                Tracking {
                    size: tracked.size,
                    attachment_name,
                    filepath,
                    contents_hash: None,
                    timestamp: tracked.timestamp.unwrap_or(0),
                },
            );
    }

    fn count(&self) {
        self.queries.fetch_add(1, Ordering::Relaxed);
    }

    /// Runs `f` on a copy of the schemas and keeps the result only if it succeeds: a
    /// transaction.
    fn transaction<T>(
        &self,
        f: impl FnOnce(&mut BTreeMap<String, Schema>) -> Result<T>,
    ) -> Result<T> {
        self.count();
        let mut schemas = self.schemas.lock().unwrap();
        let mut copy = schemas.clone();
        let out = f(&mut copy)?;
        *schemas = copy;
        Ok(out)
    }
}

fn refused(why: WriteRefusal, message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Refused {
        why,
        message: message.into(),
    })
}

/// The key texts of a stored row, as folder names show them.
fn key_texts(table: &TableInfo, values: &Row) -> Vec<String> {
    table
        .key
        .iter()
        .map(|&i| {
            let v = values.get(i).cloned().flatten().unwrap_or_default();
            match table.columns[i].kind {
                AttrKind::Uuid => format_uuid(&v),
                AttrKind::Binary => hex::encode(&v),
                _ => String::from_utf8_lossy(&v).into_owned(),
            }
        })
        .collect()
}

fn format_uuid(bytes: &[u8]) -> String {
    match uuid::Uuid::from_slice(bytes) {
        Ok(u) => u.hyphenated().to_string(),
        Err(_) => hex::encode(bytes),
    }
}

/// A key text from a folder name in the form the rows are kept under.
fn normalize_key(table: &TableInfo, key: &[String]) -> Result<Vec<String>> {
    table
        .key
        .iter()
        .zip(key)
        .map(|(&i, k)| {
            let column = &table.columns[i];
            let stored = stored_text(&column.column_type, &column.kind, k, &column.name)?;
            Ok(match column.kind {
                AttrKind::Uuid => format_uuid(&stored),
                AttrKind::Binary => hex::encode(&stored),
                _ => String::from_utf8_lossy(&stored).into_owned(),
            })
        })
        .collect()
}

/// A text value as the column stores it, or a refusal (strict mode).
fn stored_text(column_type: &str, kind: &AttrKind, text: &str, name: &str) -> Result<Vec<u8>> {
    let bad = |why: &str| refused(WriteRefusal::BadValue, format!("column {name}: {why}"));
    match kind {
        AttrKind::Uuid => {
            let u = uuid::Uuid::parse_str(text).map_err(|_| bad("not a uuid"))?;
            return Ok(u.as_bytes().to_vec());
        }
        AttrKind::Binary => return hex::decode(text).map_err(|_| bad("not hexadecimal")),
        _ => {}
    }
    let t = column_type.to_ascii_lowercase();
    let unsigned = t.contains("unsigned");
    let base = t.split(['(', ' ']).next().unwrap_or("");
    let int_range = match base {
        "tinyint" => Some(8),
        "smallint" => Some(16),
        "mediumint" => Some(24),
        "int" | "integer" => Some(32),
        "bigint" => Some(64),
        _ => None,
    };
    if let Some(bits) = int_range {
        let v: i128 = text.trim().parse().map_err(|_| bad("not an integer"))?;
        let (lo, hi) = if unsigned {
            (0i128, (1i128 << bits) - 1)
        } else {
            (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
        };
        if v < lo || v > hi {
            return Err(bad("out of range"));
        }
        return Ok(v.to_string().into_bytes());
    }
    match base {
        "float" | "double" | "real" => {
            let v: f64 = text.trim().parse().map_err(|_| bad("not a number"))?;
            if !v.is_finite() {
                return Err(bad("not a finite number"));
            }
            Ok(v.to_string().into_bytes())
        }
        "decimal" | "numeric" => {
            let v: f64 = text.trim().parse().map_err(|_| bad("not a number"))?;
            let scale = t
                .split_once(',')
                .and_then(|(_, r)| r.trim_end_matches(')').trim().parse::<usize>().ok())
                .unwrap_or(0);
            Ok(format!("{v:.scale$}").into_bytes())
        }
        "varchar" | "char" => {
            let n: usize = t
                .split_once('(')
                .and_then(|(_, r)| r.trim_end_matches(')').parse().ok())
                .unwrap_or(usize::MAX);
            if text.chars().count() > n {
                return Err(bad("too long"));
            }
            Ok(text.as_bytes().to_vec())
        }
        "enum" => {
            let labels: Vec<String> = t
                .trim_start_matches("enum(")
                .trim_end_matches(')')
                .split(',')
                .map(|l| l.trim().trim_matches('\'').replace("''", "'"))
                .collect();
            // MySQL compares enum labels without case.
            match labels.iter().find(|l| l.eq_ignore_ascii_case(text)) {
                Some(_) => Ok(column_enum_label(column_type, text).into_bytes()),
                None => Err(bad("not one of the enum's labels")),
            }
        }
        "date" => {
            if is_date(text) {
                Ok(text.as_bytes().to_vec())
            } else {
                Err(bad("not a date (YYYY-MM-DD)"))
            }
        }
        "datetime" | "timestamp" => {
            let ok = text.len() >= 19
                && is_date(&text[..10])
                && text.as_bytes()[10] == b' '
                && is_time(&text[11..19]);
            if ok {
                Ok(text.as_bytes().to_vec())
            } else {
                Err(bad("not a date and time (YYYY-MM-DD HH:MM:SS)"))
            }
        }
        _ => Ok(text.as_bytes().to_vec()),
    }
}

/// The enum label as declared (MySQL stores the declared spelling).
fn column_enum_label(column_type: &str, text: &str) -> String {
    column_type
        .trim_start_matches("enum(")
        .trim_end_matches(')')
        .split(',')
        .map(|l| l.trim().trim_matches('\'').replace("''", "'"))
        .find(|l| l.eq_ignore_ascii_case(text))
        .unwrap_or_else(|| text.to_string())
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && [0, 1, 2, 3, 5, 6, 8, 9]
            .iter()
            .all(|&i| b[i].is_ascii_digit())
        && (1..=12).contains(&s[5..7].parse::<u32>().unwrap_or(0))
        && (1..=31).contains(&s[8..10].parse::<u32>().unwrap_or(0))
}

fn is_time(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 8
        && b[2] == b':'
        && b[5] == b':'
        && [0, 1, 3, 4, 6, 7].iter().all(|&i| b[i].is_ascii_digit())
        && s[0..2].parse::<u32>().unwrap_or(99) < 24
        && s[3..5].parse::<u32>().unwrap_or(99) < 60
        && s[6..8].parse::<u32>().unwrap_or(99) < 60
}

/// A new value as the column stores it.
fn stored_value(table: &TableInfo, column: usize, value: &ColumnValue) -> Result<Option<Vec<u8>>> {
    let c = &table.columns[column];
    match value {
        ColumnValue::Null if c.nullable => Ok(None),
        ColumnValue::Null => Err(refused(
            WriteRefusal::BadValue,
            format!("column {} cannot be NULL", c.name),
        )),
        ColumnValue::Text(t) => stored_text(&c.column_type, &c.kind, t, &c.name).map(Some),
        ColumnValue::Bytes(b) => Ok(Some(b.clone())),
    }
}

fn md5_hex(data: &[u8]) -> String {
    hex::encode(Md5::digest(data))
}

fn find<'a>(schemas: &'a BTreeMap<String, Schema>, schema: &str) -> Result<&'a Schema> {
    schemas
        .get(schema)
        .ok_or_else(|| anyhow!("unknown database '{schema}'"))
}

fn find_mut<'a>(schemas: &'a mut BTreeMap<String, Schema>, schema: &str) -> Result<&'a mut Schema> {
    schemas
        .get_mut(schema)
        .ok_or_else(|| anyhow!("unknown database '{schema}'"))
}

/// The columns of `schema.table` by name, from the raw catalog (for foreign keys of tables the
/// core has no `TableInfo` of at hand).
fn column_index(schema: &Schema, table: &str, column: &str) -> Option<usize> {
    schema
        .raw
        .columns
        .iter()
        .filter(|c| c.table == table)
        .position(|c| c.name == column)
}

/// A foreign key: (referenced schema, referenced table, [(column, referenced column)]).
type ForeignKeyRef = (String, String, Vec<(String, String)>);

/// The foreign keys of `schema.table`, grouped by constraint, columns in position order.
fn foreign_keys(schema: &Schema, table: &str) -> Vec<ForeignKeyRef> {
    let mut by_constraint: BTreeMap<&str, Vec<&crate::catalog::RawForeignKeyColumn>> =
        BTreeMap::new();
    for fk in schema.raw.foreign_keys.iter().filter(|f| f.table == table) {
        by_constraint.entry(&fk.constraint).or_default().push(fk);
    }
    by_constraint
        .into_values()
        .map(|mut cols| {
            cols.sort_by_key(|c| c.position);
            (
                cols[0].referenced_schema.clone(),
                cols[0].referenced_table.clone(),
                cols.iter()
                    .map(|c| (c.column.clone(), c.referenced_column.clone()))
                    .collect(),
            )
        })
        .collect()
}

/// Checks every foreign key of every row in every schema: the state a transaction may commit.
fn check_references(schemas: &BTreeMap<String, Schema>) -> Result<()> {
    for (schema_name, schema) in schemas {
        for (table, rows) in &schema.tables {
            for (parent_schema, parent_table, columns) in foreign_keys(schema, table) {
                let Some(parent) = schemas.get(&parent_schema) else {
                    continue;
                };
                let child_idx: Vec<Option<usize>> = columns
                    .iter()
                    .map(|(c, _)| column_index(schema, table, c))
                    .collect();
                for row in rows.values() {
                    let values: Vec<Option<&Vec<u8>>> = child_idx
                        .iter()
                        .map(|i| i.and_then(|i| row.get(i)).and_then(|v| v.as_ref()))
                        .collect();
                    if values.iter().any(|v| v.is_none()) {
                        continue; // a NULL in the key: no reference (MySQL's MATCH SIMPLE)
                    }
                    let found = if let Some(store) = parent_table.strip_prefix("~external_") {
                        parent
                            .tracking
                            .get(store)
                            .is_some_and(|t| t.contains_key(values[0].unwrap()))
                    } else {
                        let parent_idx: Vec<Option<usize>> = columns
                            .iter()
                            .map(|(_, p)| column_index(parent, &parent_table, p))
                            .collect();
                        parent.tables.get(&parent_table).is_some_and(|prows| {
                            prows.values().any(|p| {
                                parent_idx.iter().zip(&values).all(|(i, v)| {
                                    i.and_then(|i| p.get(i)).and_then(|x| x.as_ref()) == *v
                                })
                            })
                        })
                    };
                    if !found {
                        return Err(refused(
                            WriteRefusal::Reference,
                            format!(
                                "a foreign key of {schema_name}.{table} references no row of \
                                 {parent_schema}.{parent_table}"
                            ),
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

/// The rows (their keys) of the last table of `path` that depend on the row `key` of `root`.
fn dependent_rows(
    schemas: &BTreeMap<String, Schema>,
    root: &TableInfo,
    key: &[String],
    path: &DependencyPath,
) -> Vec<Vec<String>> {
    let Ok(schema) = find(schemas, &root.schema) else {
        return Vec::new();
    };
    // The current level: (schema, table, its rows that depend).
    let mut level: (String, String, Vec<Row>) = (
        root.schema.clone(),
        root.name.clone(),
        schema
            .tables
            .get(&root.name)
            .and_then(|rows| rows.get(key))
            .cloned()
            .into_iter()
            .collect(),
    );
    let mut keys: Vec<Vec<String>> = level.2.first().map(|_| key.to_vec()).into_iter().collect();
    for d in path {
        let (Some(parent), Some(child)) = (schemas.get(&level.0), schemas.get(&d.schema)) else {
            return Vec::new();
        };
        let pairs: Vec<(Option<usize>, Option<usize>)> = d
            .columns
            .iter()
            .map(|(c, p)| {
                (
                    column_index(child, &d.table, c),
                    column_index(parent, &level.1, p),
                )
            })
            .collect();
        let mut next = Vec::new();
        keys = Vec::new();
        for (k, row) in child.tables.get(&d.table).into_iter().flatten() {
            let depends = level.2.iter().any(|p| {
                pairs.iter().all(|(ci, pi)| {
                    let cv = ci.and_then(|i| row.get(i)).and_then(|v| v.as_ref());
                    let pv = pi.and_then(|i| p.get(i)).and_then(|v| v.as_ref());
                    cv.is_some() && cv == pv
                })
            });
            if depends {
                next.push(row.clone());
                keys.push(k.clone());
            }
        }
        level = (d.schema.clone(), d.table.clone(), next);
    }
    keys
}

impl Memory {
    /// One statement reading the row `key` of `table`: `f` of it, or None when there is no such
    /// row (or the key is one no row can have).
    fn point_query<T>(
        &self,
        table: &TableInfo,
        key: &[String],
        f: impl FnOnce(&BTreeMap<String, Schema>, &Row) -> T,
    ) -> Result<Option<T>> {
        self.count();
        let Ok(key) = normalize_key(table, key) else {
            return Ok(None);
        };
        let schemas = self.schemas.lock().unwrap();
        let schema = find(&schemas, &table.schema)?;
        let row = schema
            .tables
            .get(&table.name)
            .and_then(|rows| rows.get(&key));
        Ok(row.map(|row| f(&schemas, row)))
    }

    fn facts(&self, schemas: &BTreeMap<String, Schema>, table: &TableInfo, row: &Row) -> RowFacts {
        let schema = schemas.get(&table.schema);
        let mut values = Vec::with_capacity(table.columns.len());
        let mut stamps = Vec::with_capacity(table.columns.len());
        for (i, column) in table.columns.iter().enumerate() {
            let v = row.get(i).cloned().flatten();
            let mut stamp = Stamp::None;
            let fact = match (&column.kind, v) {
                (_, None) => Fact::Null,
                (AttrKind::Uuid, Some(b)) => Fact::Bytes(format_uuid(&b).into_bytes()),
                (AttrKind::Text | AttrKind::Binary | AttrKind::Stored { .. }, Some(b)) => {
                    Fact::Bytes(b)
                }
                (AttrKind::Blob, Some(b)) => {
                    stamp = Stamp::Digest(content_digest(&b));
                    let mut n = BLOB_HEAD_BYTES.min(b.len());
                    // As much of the header as the codec needs (MySQL fetches more the same way).
                    while let Err(crate::codec::BlobError::NeedMore(more)) =
                        crate::codec::classify_blob(&b[..n], b.len() as u64)
                    {
                        if more <= n || n == b.len() {
                            break;
                        }
                        n = more.min(b.len());
                    }
                    Fact::Blob {
                        len: b.len() as u64,
                        head: b[..n].to_vec(),
                    }
                }
                (AttrKind::Attach, Some(b)) => {
                    stamp = Stamp::Digest(content_digest(&b));
                    let head = &b[..b.len().min(ATTACH_NAME_SCAN as usize)];
                    match head.iter().position(|&c| c == 0) {
                        Some(nul) => Fact::Attach {
                            name: String::from_utf8_lossy(&head[..nul]).into_owned(),
                            size: (b.len() - nul - 1) as u64,
                        },
                        None => Fact::BadAttach,
                    }
                }
                (AttrKind::External { store, .. }, Some(hash)) => {
                    let tracked = schema
                        .and_then(|s| s.tracking.get(store))
                        .and_then(|t| t.get(&hash));
                    if let Some(t) = tracked {
                        stamp = Stamp::Time(t.timestamp);
                    }
                    Fact::External {
                        hash,
                        attachment_name: tracked.and_then(|t| t.attachment_name.clone()),
                        filepath: tracked.and_then(|t| t.filepath.clone()),
                        size: tracked.map(|t| t.size),
                    }
                }
            };
            values.push(fact);
            stamps.push(stamp);
        }
        let key = key_texts(table, row);
        let full_name = rowname::full_name(
            &table.key_names(),
            &key.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        );
        RowFacts {
            folder: rowname::folder_name(&full_name),
            full_name,
            key,
            values,
            stamps,
        }
    }
}

impl Backend for Memory {
    fn query_count(&self) -> u64 {
        self.queries.load(Ordering::Relaxed)
    }

    fn schemas(&self) -> Result<Vec<String>> {
        self.count();
        Ok(self.schemas.lock().unwrap().keys().cloned().collect())
    }

    fn schema_exists(&self, schema: &str) -> Result<bool> {
        self.count();
        Ok(self.schemas.lock().unwrap().contains_key(schema))
    }

    /// Cannot tell: the core reads an in-memory table's listing again whenever it is stale.
    fn table_stamp(&self, _table: &TableInfo) -> Result<Option<TableStamp>> {
        self.count();
        Ok(None)
    }

    fn catalog_version(&self, schema: &str) -> Result<String> {
        self.count();
        let schemas = self.schemas.lock().unwrap();
        let raw = schemas.get(schema).map(|s| &s.raw);
        Ok(crate::stores::paths::hex(&Md5::digest(
            serde_json::to_vec(&raw).unwrap_or_default(),
        )))
    }

    fn load_catalog(&self, schema: &str) -> Result<SchemaCatalog> {
        self.count();
        let raw = self
            .schemas
            .lock()
            .unwrap()
            .get(schema)
            .map(|s| s.raw.clone())
            .unwrap_or_default();
        Ok(build_catalog(
            schema,
            raw.columns,
            raw.indexes,
            raw.foreign_keys,
        ))
    }

    fn list_rows(&self, table: &TableInfo) -> Result<Vec<RowFacts>> {
        self.count();
        let schemas = self.schemas.lock().unwrap();
        let schema = find(&schemas, &table.schema)?;
        Ok(schema
            .tables
            .get(&table.name)
            .into_iter()
            .flat_map(|rows| rows.values())
            .map(|row| self.facts(&schemas, table, row))
            .collect())
    }

    fn list_rows_page(
        &self,
        table: &TableInfo,
        from: PageStart<'_>,
        limit: usize,
    ) -> Result<Vec<RowFacts>> {
        use std::ops::Bound;
        self.count();
        // Keys are kept as normalized text: pages follow that order, as the listing does.
        let normalized =
            |key: &[String]| normalize_key(table, key).unwrap_or_else(|_| key.to_vec());
        let start = match from {
            PageStart::First => Bound::Unbounded,
            PageStart::After(key) => Bound::Excluded(normalized(key)),
            PageStart::At(key) => Bound::Included(normalized(key)),
        };
        let schemas = self.schemas.lock().unwrap();
        let schema = find(&schemas, &table.schema)?;
        let Some(rows) = schema.tables.get(&table.name) else {
            return Ok(Vec::new());
        };
        Ok(rows
            .range((start, Bound::Unbounded))
            .take(limit)
            .map(|(_, row)| self.facts(&schemas, table, row))
            .collect())
    }

    fn find_row(&self, table: &TableInfo, key: &[String]) -> Result<Option<RowFacts>> {
        self.point_query(table, key, |schemas, row| self.facts(schemas, table, row))
    }

    fn fetch_value(
        &self,
        table: &TableInfo,
        key: &[String],
        column: usize,
    ) -> Result<Option<Vec<u8>>> {
        let value = self.point_query(table, key, |_, row| row.get(column).cloned().flatten())?;
        Ok(value.flatten())
    }

    fn tracked(&self, schema: &str, store: &str, unused_only: bool) -> Result<Vec<Tracked>> {
        self.count();
        let schemas = self.schemas.lock().unwrap();
        let s = find(&schemas, schema)?;
        let tracking_table = format!("~external_{store}");
        // Every column (in any schema) whose foreign key references this tracking table.
        let mut referenced: std::collections::HashSet<Vec<u8>> = Default::default();
        if unused_only {
            for other in schemas.values() {
                for fk in other.raw.foreign_keys.iter().filter(|f| {
                    f.referenced_schema == schema && f.referenced_table == tracking_table
                }) {
                    let Some(i) = column_index(other, &fk.table, &fk.column) else {
                        continue;
                    };
                    for row in other
                        .tables
                        .get(&fk.table)
                        .into_iter()
                        .flat_map(|r| r.values())
                    {
                        if let Some(Some(h)) = row.get(i) {
                            referenced.insert(h.clone());
                        }
                    }
                }
            }
        }
        Ok(s.tracking
            .get(store)
            .into_iter()
            .flatten()
            .filter(|(hash, _)| !referenced.contains(*hash))
            .map(|(hash, t)| Tracked {
                hash: hash.clone(),
                size: t.size,
                kind: match (&t.attachment_name, &t.filepath) {
                    (Some(n), _) => TrackedKind::Attachment(n.clone()),
                    (None, Some(p)) => TrackedKind::Filepath(p.clone()),
                    (None, None) => TrackedKind::Blob,
                },
                timestamp: Some(t.timestamp),
            })
            .collect())
    }

    fn tracking_exists(&self, schema: &str, store: &str, hash: &[u8]) -> Result<bool> {
        self.count();
        let schemas = self.schemas.lock().unwrap();
        Ok(schemas
            .get(schema)
            .and_then(|s| s.tracking.get(store))
            .is_some_and(|t| t.contains_key(hash)))
    }

    fn write_row(
        &self,
        table: &TableInfo,
        key: &[String],
        values: &[(usize, ColumnValue)],
        tracking: &[TrackingRow],
        insert: bool,
    ) -> Result<()> {
        let now = (self.clock)();
        self.transaction(|schemas| {
            let schema = find_mut(schemas, &table.schema)?;
            for t in tracking {
                let rows = schema.tracking.entry(t.store.clone()).or_default();
                match rows.get_mut(&t.hash) {
                    Some(existing) => existing.timestamp = now,
                    None => {
                        rows.insert(
                            t.hash.clone(),
                            Tracking {
                                size: t.size,
                                attachment_name: t.attachment_name.clone(),
                                filepath: None,
                                contents_hash: None,
                                timestamp: now,
                            },
                        );
                    }
                }
            }
            let rows = schema.tables.entry(table.name.clone()).or_default();
            if insert {
                let mut row: Row = vec![None; table.columns.len()];
                for (&i, k) in table.key.iter().zip(key) {
                    row[i] = stored_value(table, i, &ColumnValue::Text(k.clone()))?;
                }
                let given: Vec<usize> = values.iter().map(|(i, _)| *i).collect();
                for (i, v) in values {
                    if !table.key.contains(i) {
                        row[*i] = stored_value(table, *i, v)?;
                    }
                }
                for (i, c) in table.columns.iter().enumerate() {
                    if !table.key.contains(&i) && !given.contains(&i) && !c.has_default {
                        return Err(refused(
                            WriteRefusal::BadValue,
                            format!("field '{}' doesn't have a default value", c.name),
                        ));
                    }
                }
                let k = key_texts(table, &row);
                if rows.contains_key(&k) {
                    return Err(refused(
                        WriteRefusal::Exists,
                        format!("duplicate entry {k:?} for the primary key"),
                    ));
                }
                rows.insert(k, row);
            } else {
                let k = normalize_key(table, key)?;
                let row = rows.get_mut(&k).ok_or(RowGone)?;
                for (i, v) in values {
                    row[*i] = stored_value(table, *i, v)?;
                }
            }
            check_references(schemas)
        })
    }

    fn value_fingerprint(
        &self,
        table: &TableInfo,
        key: &[String],
        column: usize,
    ) -> Result<Option<Option<String>>> {
        self.point_query(table, key, |_, row| {
            row.get(column).cloned().flatten().map(|v| md5_hex(&v))
        })
    }

    fn null_if_unchanged(
        &self,
        table: &TableInfo,
        key: &[String],
        column: usize,
        fingerprint: &Option<String>,
    ) -> Result<bool> {
        let key = normalize_key(table, key)?;
        self.transaction(|schemas| {
            let schema = find_mut(schemas, &table.schema)?;
            let Some(row) = schema
                .tables
                .get_mut(&table.name)
                .and_then(|rows| rows.get_mut(&key))
            else {
                return Ok(false);
            };
            let now = row[column].as_ref().map(|v| md5_hex(v));
            if now != *fingerprint || row[column].is_none() {
                return Ok(false);
            }
            if !table.columns[column].nullable {
                return Err(refused(
                    WriteRefusal::BadValue,
                    format!("column {} cannot be NULL", table.columns[column].name),
                ));
            }
            row[column] = None;
            Ok(true)
        })
    }

    fn dependents(&self, schema: &str, table: &str) -> Result<Vec<Dependent>> {
        self.count();
        let schemas = self.schemas.lock().unwrap();
        let mut out = Vec::new();
        for (child_schema_name, child_schema) in schemas.iter() {
            let mut tables: Vec<&str> = child_schema
                .raw
                .foreign_keys
                .iter()
                .filter(|f| f.referenced_schema == schema && f.referenced_table == table)
                .map(|f| f.table.as_str())
                .collect();
            tables.sort();
            tables.dedup();
            for t in tables.into_iter().filter(|t| !t.starts_with('~')) {
                for (s, parent, columns) in foreign_keys(child_schema, t) {
                    if s == schema && parent == table {
                        out.push(Dependent {
                            schema: child_schema_name.clone(),
                            table: t.to_string(),
                            columns,
                        });
                    }
                }
            }
        }
        Ok(out)
    }

    fn count_dependents(
        &self,
        root: &TableInfo,
        key: &[String],
        path: &DependencyPath,
    ) -> Result<u64> {
        self.count();
        let key = normalize_key(root, key)?;
        let schemas = self.schemas.lock().unwrap();
        Ok(dependent_rows(&schemas, root, &key, path).len() as u64)
    }

    fn delete_rows(
        &self,
        root: &TableInfo,
        key: &[String],
        steps: &[Vec<Dependent>],
    ) -> Result<Vec<u64>> {
        let key = normalize_key(root, key)?;
        self.transaction(|schemas| {
            let mut counts = Vec::new();
            for path in steps {
                let doomed = dependent_rows(schemas, root, &key, path);
                let (schema, table) = match path.last() {
                    Some(d) => (d.schema.clone(), d.table.clone()),
                    None => (root.schema.clone(), root.name.clone()),
                };
                let rows = find_mut(schemas, &schema)?.tables.entry(table).or_default();
                let mut n = 0;
                for k in doomed {
                    n += u64::from(rows.remove(&k).is_some());
                }
                counts.push(n);
            }
            check_references(schemas)?;
            Ok(counts)
        })
    }

    fn delete_unused_tracking(
        &self,
        schema: &str,
        store: &str,
        hash: &[u8],
    ) -> Result<Option<SavedTracking>> {
        let result = self.transaction(|schemas| {
            let s = find_mut(schemas, schema)?;
            let Some(t) = s.tracking.get_mut(store).and_then(|t| t.remove(hash)) else {
                return Ok(None);
            };
            check_references(schemas)?;
            Ok(Some(SavedTracking {
                hash: hash.to_vec(),
                size: t.size,
                attachment_name: t.attachment_name,
                filepath: t.filepath,
                contents_hash: t.contents_hash,
                timestamp: Some(t.timestamp.to_string()),
            }))
        });
        match result {
            Err(e) if super::write_refusal(&e) == Some(WriteRefusal::Reference) => Ok(None),
            other => other,
        }
    }

    fn restore_tracking(&self, schema: &str, store: &str, saved: SavedTracking) -> Result<()> {
        let now = (self.clock)();
        self.transaction(|schemas| {
            let s = find_mut(schemas, schema)?;
            let rows = s.tracking.entry(store.to_string()).or_default();
            if rows.contains_key(&saved.hash) {
                return Err(refused(WriteRefusal::Exists, "tracking row exists"));
            }
            rows.insert(
                saved.hash.clone(),
                Tracking {
                    size: saved.size,
                    attachment_name: saved.attachment_name,
                    filepath: saved.filepath,
                    contents_hash: saved.contents_hash,
                    timestamp: saved.timestamp.and_then(|t| t.parse().ok()).unwrap_or(now),
                },
            );
            Ok(())
        })
    }

    fn stored_references(&self, schema: &str) -> Result<Vec<StoredRef>> {
        self.count();
        let schemas = self.schemas.lock().unwrap();
        Ok(references_of(find(&schemas, schema)?))
    }

    /// Holds the database's lock while `then` runs: no write can happen meanwhile (`then` must
    /// not call this backend).
    fn with_stored_references_held(
        &self,
        schema: &str,
        then: &mut dyn FnMut(&[StoredRef]) -> Result<()>,
    ) -> Result<()> {
        self.count();
        let schemas = self.schemas.lock().unwrap();
        let refs = references_of(find(&schemas, schema)?);
        then(&refs)
    }
}

/// Every 2.x reference a schema's rows hold (see `Backend::stored_references`).
fn references_of(schema: &Schema) -> Vec<StoredRef> {
    let tables = crate::orphans::reference_tables(schema.raw.columns.iter().map(|c| {
        (
            c.table.clone(),
            c.name.clone(),
            c.column_type.clone(),
            c.comment.clone(),
        )
    }));
    let mut out = Vec::new();
    for table in tables {
        let Some(rows) = schema.tables.get(&table.name) else {
            continue;
        };
        let at: Vec<Option<usize>> = table
            .columns
            .iter()
            .map(|c| column_index(schema, &table.name, &c.name))
            .collect();
        for row in rows.values() {
            let values = at.iter().map(|i| i.and_then(|i| row.get(i)?.as_deref()));
            table.references(values, &mut out);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_values_are_kept_as_mysql_prints_them_or_refused_as_strict_mode_does() {
        let ok = |t: &str, v: &str| {
            String::from_utf8(stored_text(t, &AttrKind::Text, v, "c").unwrap()).unwrap()
        };
        let refused =
            |t: &str, v: &str| write_refusal(&stored_text(t, &AttrKind::Text, v, "c").unwrap_err());
        use super::super::write_refusal;
        assert_eq!(ok("int", "007"), "7");
        assert_eq!(ok("smallint", "-32768"), "-32768");
        assert_eq!(refused("smallint", "32768"), Some(WriteRefusal::BadValue));
        assert_eq!(refused("int unsigned", "-1"), Some(WriteRefusal::BadValue));
        assert_eq!(refused("int", "1.5"), Some(WriteRefusal::BadValue));
        assert_eq!(ok("float", "61.5"), "61.5");
        assert_eq!(ok("decimal(5,2)", "1.5"), "1.50");
        assert_eq!(ok("varchar(3)", "abc"), "abc");
        assert_eq!(refused("varchar(3)", "abcd"), Some(WriteRefusal::BadValue));
        assert_eq!(ok("enum('Low','high')", "low"), "Low");
        assert_eq!(refused("enum('a','b')", "c"), Some(WriteRefusal::BadValue));
        assert_eq!(ok("date", "2026-12-04"), "2026-12-04");
        assert_eq!(refused("date", "2026-13-04"), Some(WriteRefusal::BadValue));
        assert_eq!(ok("datetime", "2026-12-04 10:11:12"), "2026-12-04 10:11:12");
        assert_eq!(
            refused("datetime", "2026-12-04 25:00:00"),
            Some(WriteRefusal::BadValue)
        );
    }

    #[test]
    fn uuid_and_binary_keys_are_kept_as_bytes_and_named_as_text() {
        let u = stored_text(
            "binary(16)",
            &AttrKind::Uuid,
            "0AB3f1e2-0000-4000-8000-00000000000f",
            "u",
        )
        .unwrap();
        assert_eq!(u.len(), 16);
        assert_eq!(format_uuid(&u), "0ab3f1e2-0000-4000-8000-00000000000f");
        assert_eq!(
            stored_text("varbinary(4)", &AttrKind::Binary, "00ff", "b").unwrap(),
            vec![0, 255]
        );
        assert!(stored_text("binary(16)", &AttrKind::Uuid, "nope", "u").is_err());
    }
}
