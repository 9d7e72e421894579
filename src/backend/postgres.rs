//! The PostgreSQL backend (DataJoint 2.x on PostgreSQL 15+): every SQL statement djfs sends to a
//! PostgreSQL server. A DataJoint schema is a PostgreSQL schema inside the database named by
//! `database.name`. Names (schemas, tables, columns) are double-quoted identifiers taken from
//! the server's catalog; every value a user typed (key values from folder names) is a statement
//! parameter (text cast on the server to the column's type, or bytes), never spliced into SQL.
//!
//! Writes mirror the MySQL backend's: each point operation (an INSERT, an UPDATE, a NULL if
//! unchanged, the DELETE of one row) is one statement, so it is its own transaction; a delete
//! along several dependency paths is one transaction. The server's refusals are told apart by
//! their SQLSTATE (`refused_or`). DataJoint 2.x keeps no `~external_*` tracking tables: nothing
//! is tracked, and a write with tracking rows is an error.
//!
//! The catalog is read from `pg_catalog` (the tables behind `information_schema`): the
//! declared type with its modifiers (`format_type`), enum labels (`pg_enum`), comments
//! (`col_description` / `obj_description`), keys, foreign keys and defaults, shaped into the
//! same raw lists the MySQL backend reads, so `build_catalog` interprets both alike.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

use ::postgres as pg;
use anyhow::{Context, Result};
use pg::types::{ToSql, Type};

use super::budget::{KindStats, QueryKind, QueryStats, TableSlots};
use super::{
    Backend, ColumnValue, DependencyPath, Dependent, Fact, PageStart, Refused, RowFacts, RowGone,
    SavedTracking, Stamp, TableStamp, Tracked, TrackingRow, WriteRefusal, ATTACH_NAME_SCAN,
    BLOB_HEAD_BYTES,
};
use crate::catalog::{
    build_catalog, AttrKind, ColumnInfo, RawCatalog, RawColumn, RawForeignKeyColumn,
    RawIndexColumn, SchemaCatalog, TableInfo,
};
use crate::config::{DbConfig, Tls};
// DataJoint 2.x references, for `.unused` and `djfs gc`.
use super::{Busy, StoredRef};
use crate::orphans::RefTable;

/// A connection unused this long is closed (the MySQL side has the server close it after
/// 60 s): an idle mount holds none of a lab server's connections.
const IDLE_CLOSE: Duration = Duration::from_secs(60);

/// A pooled connection unused this long is checked (one round trip) before it is lent again:
/// the server may have closed it meanwhile (restart, `pg_terminate_backend`).
const CHECK_AFTER: Duration = Duration::from_secs(2);

/// Session settings sent with every connection (in the startup packet, no extra round trip):
/// an operation waits at most 20 s for a table another client has locked; dates print in ISO
/// order; floats print the shortest text that reads back exactly.
const SESSION_OPTIONS: &str = "-c lock_timeout=20s -c DateStyle=ISO,YMD -c extra_float_digits=1";

pub struct Postgres {
    pool: Arc<Pool>,
    /// Statements sent so far: tests and benchmarks check the per-directory SQL budget.
    queries: AtomicU64,
    stats: QueryStats,
    /// At most half the connections per table (see `budget`).
    slots: TableSlots,
    /// Where it is (for the refusal message).
    place: String,
}

/// Plaintext or TLS (rustls), as `database.use_tls` says.
#[derive(Clone)]
enum Connector {
    Plain,
    Tls(tokio_postgres_rustls::MakeRustlsConnect),
}

/// At most `max` connections, lent one at a time; idle ones are closed after `IDLE_CLOSE` by
/// a reaper thread that ends with the pool.
struct Pool {
    config: pg::Config,
    connector: Connector,
    max: usize,
    state: Mutex<PoolState>,
    freed: Condvar,
}

#[derive(Default)]
struct PoolState {
    /// Idle connections, the most recently used last.
    idle: Vec<(pg::Client, Instant)>,
    /// Connections open or being opened (idle, lent, connecting).
    open: usize,
}

/// A lent connection, given back when dropped (or closed, when it broke).
struct Conn<'a> {
    pool: &'a Pool,
    client: Option<pg::Client>,
}

impl std::ops::Deref for Conn<'_> {
    type Target = pg::Client;
    fn deref(&self) -> &pg::Client {
        self.client.as_ref().expect("a lent connection")
    }
}

impl std::ops::DerefMut for Conn<'_> {
    fn deref_mut(&mut self) -> &mut pg::Client {
        self.client.as_mut().expect("a lent connection")
    }
}

impl Drop for Conn<'_> {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        let mut state = self.pool.state.lock().unwrap();
        if client.is_closed() {
            state.open -= 1;
        } else {
            state.idle.push((client, Instant::now()));
        }
        drop(state);
        self.pool.freed.notify_one();
    }
}

impl Pool {
    fn connect_one(&self) -> std::result::Result<pg::Client, pg::Error> {
        match &self.connector {
            Connector::Plain => self.config.connect(pg::NoTls),
            Connector::Tls(tls) => self.config.connect(tls.clone()),
        }
    }

    /// A connection: an idle one (checked when it rested a while), a new one within the
    /// budget, or the next one given back.
    fn get(&self) -> Result<Conn<'_>> {
        let mut state = self.state.lock().unwrap();
        loop {
            if let Some((mut client, since)) = state.idle.pop() {
                drop(state);
                let usable = !client.is_closed()
                    && (since.elapsed() < CHECK_AFTER
                        || client.is_valid(Duration::from_secs(5)).is_ok());
                if usable {
                    return Ok(Conn {
                        pool: self,
                        client: Some(client),
                    });
                }
                drop(client);
                state = self.state.lock().unwrap();
                state.open -= 1;
                continue;
            }
            if state.open < self.max {
                state.open += 1;
                drop(state);
                return match self.connect_one() {
                    Ok(client) => Ok(Conn {
                        pool: self,
                        client: Some(client),
                    }),
                    Err(e) => {
                        self.state.lock().unwrap().open -= 1;
                        self.freed.notify_one();
                        Err(anyhow::Error::new(e).context("database connection"))
                    }
                };
            }
            state = self.freed.wait(state).unwrap();
        }
    }

    /// Closes the connections idle for `IDLE_CLOSE` or more.
    fn close_idle(&self) {
        let mut state = self.state.lock().unwrap();
        let before = state.idle.len();
        let (old, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut state.idle)
            .into_iter()
            .partition(|(_, since)| since.elapsed() >= IDLE_CLOSE);
        state.idle = keep;
        state.open -= before - state.idle.len();
        drop(state);
        if !old.is_empty() {
            tracing::debug!("closing {} idle database connections", old.len());
        }
        drop(old); // each Client says goodbye to the server
        self.freed.notify_all();
    }
}

/// Closes idle connections every few seconds while the pool lives.
fn start_reaper(pool: Weak<Pool>) {
    let spawned = std::thread::Builder::new()
        .name("pg-idle".into())
        .spawn(move || loop {
            std::thread::sleep(Duration::from_secs(5));
            match pool.upgrade() {
                Some(pool) => pool.close_idle(),
                None => return,
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("cannot start the idle-connection reaper: {e}");
    }
}

/// Tables up to this size on disk get a change stamp (a scan: about 10 ms at this size).
const STAMP_PROBE_MAX_BYTES: i64 = 16 << 20;

/// A double-quoted identifier.
fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

fn qualified(table: &TableInfo) -> String {
    format!("{}.{}", quote(&table.schema), quote(&table.name))
}

/// A type as `format_type` prints it, without its modifiers (`character varying(64)` →
/// `character varying`, `timestamp(3) without time zone` → `timestamp without time zone`):
/// what a key value is cast to (a cast to `varchar(8)` would cut a longer value and find
/// another row). Parentheses inside quoted names are kept.
fn base_type(column_type: &str) -> String {
    let mut out = String::with_capacity(column_type.len());
    let mut depth = 0usize;
    let mut quoted = false;
    for c in column_type.chars() {
        match c {
            '"' if depth == 0 => {
                quoted = !quoted;
                out.push(c);
            }
            '(' if !quoted => depth += 1,
            ')' if !quoted && depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The precision in `timestamp(3) without time zone` (None without one).
fn type_precision(column_type: &str) -> Option<u32> {
    let (_, rest) = column_type.split_once('(')?;
    rest.split_once(')')?.0.trim().parse().ok()
}

fn is_enum(column_type: &str) -> bool {
    column_type.to_ascii_lowercase().starts_with("enum(")
}

/// How a text-kind column is selected, as text the way djfs shows it (and the way a folder
/// name writes a key): numbers and strings as PostgreSQL prints them, booleans as 1/0 (as
/// MySQL's tinyint and the client's `bool` in MySQL), timestamps with exactly their declared
/// fractional digits (as MySQL prints `datetime(p)`).
fn text_expr(column: &ColumnInfo, c: &str) -> String {
    let ty = column.column_type.to_ascii_lowercase();
    if ty == "boolean" {
        return format!("({c})::int::text");
    }
    if ty.starts_with("character(") || ty == "character" {
        // `char(n)` as stored, padded (a cast to text would drop the trailing blanks).
        return format!("CASE WHEN {c} IS NOT NULL THEN format('%s', {c}) END");
    }
    if ty.starts_with("timestamp") {
        if let Some(p) = type_precision(&ty).filter(|&p| p > 0) {
            return format!(
                "to_char({c}, 'YYYY-MM-DD HH24:MI:SS') || '.' || substr(to_char({c}, 'US'), 1, {p})"
            );
        }
    }
    format!("({c})::text")
}

/// How one column compares to a key value given as text parameter `$n`: (column side, value
/// side). The value is cast to the column's type, so the primary key's index serves; an enum
/// compares as text (its type is the schema's own); binary keys are written in hex.
fn key_sides(column: &ColumnInfo, c: &str, n: usize) -> (String, String) {
    match column.kind {
        AttrKind::Uuid => (c.to_string(), format!("CAST(${n}::text AS uuid)")),
        AttrKind::Binary => (c.to_string(), format!("decode(${n}::text, 'hex')")),
        _ if is_enum(&column.column_type) => (format!("({c})::text"), format!("${n}::text")),
        _ => (
            c.to_string(),
            format!("CAST(${n}::text AS {})", cast_type(column)),
        ),
    }
}

/// The type a text value of `column` is cast to: its declared type without modifiers (the
/// column's own modifier then applies on assignment, so a value too long for `varchar(8)` is
/// refused, not cut), an enum's named type, and `bpchar` / `varbit` for `character(n)` /
/// `bit(n)` (a bare `character` is `character(1)`, which would cut the value).
fn cast_type(column: &ColumnInfo) -> String {
    if let Some(named) = &column.enum_type {
        return named.clone();
    }
    match base_type(&column.column_type).as_str() {
        "character" => "bpchar".to_string(),
        "bit" => "varbit".to_string(),
        other => other.to_string(),
    }
}

/// The parameters of a write statement, numbered `$1`, `$2`, … in the order pushed. Values are
/// borrowed from the write (a large blob is not copied), key texts owned.
#[derive(Default)]
struct Params<'a>(Vec<Param<'a>>);

enum Param<'a> {
    /// Text (None: NULL), cast on the server.
    Text(Option<Cow<'a, str>>),
    Bytes(Cow<'a, [u8]>),
}

impl<'a> Params<'a> {
    /// Adds a parameter; returns its number.
    fn push(&mut self, p: Param<'a>) -> usize {
        self.0.push(p);
        self.0.len()
    }

    fn texts(&mut self, texts: Vec<String>) {
        self.0
            .extend(texts.into_iter().map(|t| Param::Text(Some(Cow::Owned(t)))));
    }

    fn next(&self) -> usize {
        self.0.len() + 1
    }

    /// With their types, as `query_typed` / `execute_typed` take them (no prepare round trip).
    fn typed(&self) -> Vec<(&(dyn ToSql + Sync), Type)> {
        self.0
            .iter()
            .map(|p| match p {
                Param::Text(t) => (t as &(dyn ToSql + Sync), Type::TEXT),
                Param::Bytes(b) => (b as &(dyn ToSql + Sync), Type::BYTEA),
            })
            .collect()
    }
}

/// How a new value of `column` is written: SQL taking its parameter from `params`. Text is cast
/// to the column's type on the server (integers, numeric, real/double, boolean, date, timestamp,
/// uuid, enums, jsonb, …; what does not fit is refused there), bytes go to bytea as they are.
fn value_sql<'a>(column: &ColumnInfo, value: &'a ColumnValue, params: &mut Params<'a>) -> String {
    let bytea = column.column_type == "bytea";
    match value {
        ColumnValue::Null => "NULL".to_string(),
        ColumnValue::Text(t) => {
            let n = params.push(Param::Text(Some(Cow::Borrowed(t))));
            if bytea {
                format!("convert_to(${n}::text, 'UTF8')")
            } else {
                format!("CAST(${n}::text AS {})", cast_type(column))
            }
        }
        ColumnValue::Bytes(b) => {
            let n = params.push(Param::Bytes(Cow::Borrowed(b)));
            if bytea {
                format!("${n}::bytea")
            } else {
                format!(
                    "CAST(convert_from(${n}::bytea, 'UTF8') AS {})",
                    cast_type(column)
                )
            }
        }
    }
}

/// A key value of a new row, from its text as in folder names (binary keys in hex).
fn key_value_sql<'a>(column: &ColumnInfo, text: &'a str, params: &mut Params<'a>) -> String {
    let n = params.push(Param::Text(Some(Cow::Borrowed(text))));
    if column.kind == AttrKind::Binary {
        format!("decode(${n}::text, 'hex')")
    } else if column.column_type == "bytea" {
        format!("convert_to(${n}::text, 'UTF8')")
    } else {
        format!("CAST(${n}::text AS {})", cast_type(column))
    }
}

/// `INSERT` of a new row: its key (from the folder name) and `values` (other columns).
fn insert_sql<'a>(
    table: &TableInfo,
    key: &'a [String],
    values: &'a [(usize, ColumnValue)],
) -> (String, Params<'a>) {
    let mut params = Params::default();
    let mut cols = Vec::new();
    let mut exprs = Vec::new();
    for (&i, k) in table.key.iter().zip(key) {
        cols.push(quote(&table.columns[i].name));
        exprs.push(key_value_sql(&table.columns[i], k, &mut params));
    }
    for (i, v) in values {
        if table.key.contains(i) {
            continue;
        }
        cols.push(quote(&table.columns[*i].name));
        exprs.push(value_sql(&table.columns[*i], v, &mut params));
    }
    let sql = format!(
        "INSERT INTO {} ({}) VALUES ({})",
        qualified(table),
        cols.join(", "),
        exprs.join(", ")
    );
    (sql, params)
}

/// `UPDATE` of one row's `values`: the count of rows it matched says whether the row is there.
fn update_sql<'a>(
    table: &TableInfo,
    key: &[String],
    values: &'a [(usize, ColumnValue)],
) -> (String, Params<'a>) {
    let mut params = Params::default();
    let sets: Vec<String> = values
        .iter()
        .map(|(i, v)| {
            let column = &table.columns[*i];
            format!(
                "{} = {}",
                quote(&column.name),
                value_sql(column, v, &mut params)
            )
        })
        .collect();
    let (condition, key_params) = key_condition(table, key, "t", params.next());
    params.texts(key_params);
    let sql = if sets.is_empty() {
        // Nothing to set: whether the row is there.
        format!("SELECT 1 FROM {} AS t WHERE {condition}", qualified(table))
    } else {
        format!(
            "UPDATE {} AS t SET {} WHERE {condition}",
            qualified(table),
            sets.join(", ")
        )
    };
    (sql, params)
}

/// What a column's value is compared by (`value_fingerprint`, `null_if_unchanged`): the MD5 of
/// its stored bytes (bytea) or of its text.
fn fingerprint_sql(column: &ColumnInfo, c: &str) -> String {
    if column.column_type == "bytea" {
        format!("md5({c})")
    } else {
        format!("md5(convert_to(({c})::text, 'UTF8'))")
    }
}

/// The restriction selecting, in the last table of `path` (alias `top`), the rows that depend
/// on the root row `key` (see `sql::dependents_restriction`), the key values parameters
/// numbered from `$first`.
fn restriction(
    root: &TableInfo,
    key: &[String],
    path: &DependencyPath,
    top: &str,
    first: usize,
) -> (String, Vec<String>) {
    super::sql::dependents_restriction(root, path, top, quote, &|alias| {
        key_condition(root, key, alias, first)
    })
}

/// Runs one write statement; the number of rows it touched (or returned).
fn execute(
    client: &mut impl pg::GenericClient,
    sql: &str,
    params: &Params,
) -> std::result::Result<u64, pg::Error> {
    client.execute_typed(sql, &params.typed())
}

/// The server's error as a `Refused` when its SQLSTATE says the write itself was refused (23505
/// a duplicate key; 23503 a missing parent row, or a row others still reference; 23502 a
/// required value left out, 23514 a check, class 22 a value that is no value of the column's
/// type or does not fit it), else with `what` as context.
fn refused_or(err: pg::Error, what: &str) -> anyhow::Error {
    let Some(db) = err.as_db_error() else {
        return anyhow::Error::new(err).context(what.to_string());
    };
    let code = db.code().code();
    let why = match code {
        "23505" => Some(WriteRefusal::Exists),
        "23503" => Some(WriteRefusal::Reference),
        "23502" | "23514" => Some(WriteRefusal::BadValue),
        _ if code.starts_with("22") => Some(WriteRefusal::BadValue),
        _ => None,
    };
    match why {
        Some(why) => {
            let detail = db.detail().map(|d| format!("; {d}")).unwrap_or_default();
            anyhow::Error::new(Refused {
                why,
                message: format!("{what}: {} ({code}{detail})", db.message()),
            })
        }
        None => anyhow::Error::new(err).context(what.to_string()),
    }
}

/// `WHERE` condition and parameters selecting one row by its key texts (table alias `alias`),
/// parameters numbered from `$first`.
fn key_condition(
    table: &TableInfo,
    key: &[String],
    alias: &str,
    first: usize,
) -> (String, Vec<String>) {
    let mut parts = Vec::new();
    for (n, &i) in table.key.iter().enumerate().take(key.len()) {
        let column = &table.columns[i];
        let (col, val) = key_sides(
            column,
            &format!("{alias}.{}", quote(&column.name)),
            first + n,
        );
        parts.push(format!("{col} = {val}"));
    }
    (parts.join(" AND "), key.to_vec())
}

/// The keyset condition of a page (`(k1, k2) > ($1, $2)`, `>=` for `At`; a shorter key compares
/// its leading columns), its parameters, and the `ORDER BY` list: PostgreSQL compares row
/// values in index order, so the primary key's index serves both.
fn keyset(table: &TableInfo, from: PageStart<'_>) -> (Option<String>, Vec<String>, String) {
    let sides: Vec<(String, String)> = table
        .key
        .iter()
        .enumerate()
        .map(|(n, &i)| {
            let column = &table.columns[i];
            key_sides(column, &format!("t.{}", quote(&column.name)), n + 1)
        })
        .collect();
    let order = sides
        .iter()
        .map(|(col, _)| col.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let (key, op) = match from {
        PageStart::First => return (None, Vec::new(), order),
        PageStart::After(key) => (key, ">"),
        PageStart::At(key) => (key, ">="),
    };
    let n = key.len().min(sides.len());
    let cols: Vec<&str> = sides[..n].iter().map(|(c, _)| c.as_str()).collect();
    let vals: Vec<&str> = sides[..n].iter().map(|(_, v)| v.as_str()).collect();
    let condition = format!("({}) {op} ({})", cols.join(", "), vals.join(", "));
    (Some(condition), key[..n].to_vec(), order)
}

/// `super::content_digest` of bytea expression `c`, computed by the server.
fn content_digest_sql(c: &str) -> String {
    format!(
        "CASE WHEN length({c}) <= 1048576 THEN decode(md5({c}), 'hex') \
         ELSE decode(md5(convert_to(length({c})::text, 'UTF8') || substring({c} from 1 for 1024) \
         || substring({c} from length({c}) - 1023)), 'hex') END"
    )
}

/// How each column is fetched in a listing.
enum Fetch {
    /// one value: text (bytea for binary columns)
    Text,
    Binary,
    /// length, first bytes, digest
    Blob,
    /// length, first bytes (the name up to the NUL), digest
    Attach,
    /// the hash plus the tracking row's attachment_name, filepath, size, timestamp
    External,
}

/// The SELECT of a listing: one per table, shared by the point query and the paged listing.
struct RowSelect {
    sql: String,
    fetches: Vec<Fetch>,
}

impl RowSelect {
    fn new(table: &TableInfo) -> RowSelect {
        let mut exprs = Vec::new();
        let mut joins = String::new();
        let mut fetches = Vec::new();
        for (i, column) in table.columns.iter().enumerate() {
            let c = format!("t.{}", quote(&column.name));
            match &column.kind {
                AttrKind::Text | AttrKind::Uuid | AttrKind::Stored { .. } => {
                    exprs.push(text_expr(column, &c));
                    fetches.push(Fetch::Text);
                }
                AttrKind::Binary => {
                    exprs.push(format!("({c})::bytea"));
                    fetches.push(Fetch::Binary);
                }
                AttrKind::Blob | AttrKind::Attach => {
                    let scan = if column.kind == AttrKind::Blob {
                        BLOB_HEAD_BYTES as u64
                    } else {
                        ATTACH_NAME_SCAN
                    };
                    exprs.push(format!("length({c})::int8"));
                    exprs.push(format!("substring({c} from 1 for {scan})"));
                    exprs.push(content_digest_sql(&c));
                    fetches.push(if column.kind == AttrKind::Blob {
                        Fetch::Blob
                    } else {
                        Fetch::Attach
                    });
                }
                AttrKind::External { store, .. } => {
                    let x = format!("x{i}");
                    joins.push_str(&format!(
                        " LEFT JOIN {}.{} AS {x} ON {x}.\"hash\" = {c}",
                        quote(&table.schema),
                        quote(&format!("~external_{store}"))
                    ));
                    exprs.push(format!("({c})::bytea"));
                    exprs.push(format!("({x}.\"attachment_name\")::text"));
                    exprs.push(format!("({x}.\"filepath\")::text"));
                    exprs.push(format!("({x}.\"size\")::int8"));
                    exprs.push(format!("extract(epoch from {x}.\"timestamp\")::int8"));
                    fetches.push(Fetch::External);
                }
            }
        }
        RowSelect {
            sql: format!(
                "SELECT {} FROM {} AS t{joins}",
                exprs.join(", "),
                qualified(table)
            ),
            fetches,
        }
    }
}

/// The PostgreSQL error code behind an error, if the server sent one.
fn sql_state(err: &anyhow::Error) -> Option<String> {
    err.chain().find_map(|e| {
        e.downcast_ref::<pg::Error>()
            .and_then(|pe| pe.as_db_error())
            .map(|db| db.code().code().to_string())
    })
}

/// Why a connection failed, in words, with the server's code and message when it sent one.
fn explain_connect_error(err: &pg::Error, cfg: &DbConfig) -> String {
    if let Some(db) = err.as_db_error() {
        let code = db.code().code();
        let message = db.message();
        if code == "28000" && message.contains("no encryption") && cfg.tls == Tls::Disabled {
            return format!("the server requires TLS ({} is false)", cfg.tls_setting);
        }
        let what = match code {
            "28P01" | "28000" => "access denied".to_string(),
            "3D000" => format!("unknown database {:?}", cfg.database_name),
            "53300" => "too many connections".to_string(),
            "57P03" => "the server is starting up or shutting down".to_string(),
            _ => "the server refused the connection".to_string(),
        };
        return format!("{what} ({code}: {message})");
    }
    // The cause without the driver's own prefix ("error connecting to server: …").
    let mut source = std::error::Error::source(err);
    while let Some(e) = source {
        if e.to_string().contains("does not support TLS") {
            return format!(
                "the server offers no TLS ({} asks for TLS)",
                cfg.tls_setting
            );
        }
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return explain_tls_error(tls, cfg);
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if let Some(tls) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                return explain_tls_error(tls, cfg);
            }
            return io.to_string();
        }
        source = e.source();
    }
    err.to_string()
}

/// Which TLS check failed, worded as for MySQL.
fn explain_tls_error(tls: &rustls::Error, cfg: &DbConfig) -> String {
    let setting = cfg.tls_setting;
    let ca = match &cfg.tls {
        Tls::Files(files) => files.ca.as_ref().map(|p| p.display().to_string()),
        _ => None,
    }
    .unwrap_or_default();
    use rustls::CertificateError as C;
    match tls {
        rustls::Error::InvalidCertificate(C::UnknownIssuer | C::BadSignature) => {
            format!("TLS: the server's certificate does not verify against the CA {ca} ({setting})")
        }
        rustls::Error::InvalidCertificate(
            C::NotValidForName | C::NotValidForNameContext { .. },
        ) => format!(
            "TLS: the server's certificate is not valid for {} (it must name the host connected \
             to; \"check_hostname\": false in {setting} skips this check)",
            cfg.host
        ),
        rustls::Error::InvalidCertificate(e) => {
            format!("TLS: the server's certificate failed verification against the CA {ca}: {e}")
        }
        other => format!("TLS handshake failed: {other}"),
    }
}

/// TLS without checking the server's certificate: what the client's `sslmode=require` /
/// `prefer` do (libpq verifies nothing in those modes), and what djfs does for MySQL without
/// a CA.
#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The TLS mode and connector for `use_tls`, as the 2.x client maps it to libpq's `sslmode`:
/// false → `disable`; absent/null → `prefer` (TLS when the server offers it); true or an
/// object → `require`. Without a CA the certificate is not verified (libpq's `require` does not
/// either); with an object's `ca` it must chain to it and, unless `check_hostname` is false,
/// name the host, as djfs does for MySQL; `cert`/`key` are the client's certificate.
fn tls_setup(cfg: &DbConfig) -> Result<(pg::config::SslMode, Connector)> {
    use pg::config::SslMode;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS setup")?;
    let unverified = || {
        builder
            .clone()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAny(provider.clone())))
    };
    let (mode, config) = match &cfg.tls {
        Tls::Disabled => return Ok((SslMode::Disable, Connector::Plain)),
        Tls::Preferred => (SslMode::Prefer, unverified().with_no_client_auth()),
        Tls::Required => (SslMode::Require, unverified().with_no_client_auth()),
        Tls::Files(files) => {
            let read = |key: &str, path: &std::path::Path| {
                std::fs::read(path).with_context(|| {
                    format!("cannot read {} {key} {}", cfg.tls_setting, path.display())
                })
            };
            let with_roots = match &files.ca {
                Some(ca) => {
                    use rustls::pki_types::pem::PemObject;
                    let pem = read("ca", ca)?;
                    let mut roots = rustls::RootCertStore::empty();
                    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
                        let cert = cert.with_context(|| {
                            format!(
                                "{} ca {}: not a PEM certificate",
                                cfg.tls_setting,
                                ca.display()
                            )
                        })?;
                        roots
                            .add(cert)
                            .with_context(|| format!("{} ca {}", cfg.tls_setting, ca.display()))?;
                    }
                    let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
                        Arc::new(roots),
                        provider.clone(),
                    )
                    .build()
                    .context("TLS setup")?;
                    let verifier: Arc<dyn rustls::client::danger::ServerCertVerifier> =
                        if files.check_hostname {
                            webpki
                        } else {
                            Arc::new(AnyName(webpki))
                        };
                    builder
                        .clone()
                        .dangerous()
                        .with_custom_certificate_verifier(verifier)
                }
                None => unverified(),
            };
            let config = match &files.cert {
                Some(cert_path) => {
                    use rustls::pki_types::pem::PemObject;
                    let cert_pem = read("cert", cert_path)?;
                    let certs = rustls::pki_types::CertificateDer::pem_slice_iter(&cert_pem)
                        .collect::<std::result::Result<Vec<_>, _>>()
                        .with_context(|| {
                            format!("{} cert {}", cfg.tls_setting, cert_path.display())
                        })?;
                    let key_path = files.key.as_ref().unwrap_or(cert_path);
                    let key_pem = read("key", key_path)?;
                    let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(&key_pem)
                        .with_context(|| {
                            format!(
                                "{} key {}: no private key",
                                cfg.tls_setting,
                                key_path.display()
                            )
                        })?;
                    with_roots
                        .with_client_auth_cert(certs, key)
                        .context("the client certificate and key")?
                }
                None => with_roots.with_no_client_auth(),
            };
            (SslMode::Require, config)
        }
    };
    Ok((
        mode,
        Connector::Tls(tokio_postgres_rustls::MakeRustlsConnect::new(config)),
    ))
}

/// A CA-verified certificate whatever host it names (`check_hostname: false`).
#[derive(Debug)]
struct AnyName(Arc<rustls::client::WebPkiServerVerifier>);

impl rustls::client::danger::ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        intermediates: &[rustls::pki_types::CertificateDer<'_>],
        server_name: &rustls::pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        use rustls::CertificateError as C;
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                C::NotValidForName | C::NotValidForNameContext { .. },
            )) => Ok(rustls::client::danger::ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// A column default as `pg_get_expr` prints it (`'abc'::character varying`, `NULL::numeric`,
/// `42`, `CURRENT_TIMESTAMP`), in the form information_schema gives on MariaDB (string
/// literals quoted, `NULL` for none), which `show_default` reads.
fn mariadb_default(expr: Option<&str>) -> Option<String> {
    let expr = expr?.trim();
    // A literal with a cast: `'…'::type` or `NULL::type`.
    let literal = if let Some(rest) = expr.strip_prefix('\'') {
        // Find the closing quote ('' is an escaped quote).
        let bytes = rest.as_bytes();
        let mut i = 0;
        let mut end = None;
        while i < bytes.len() {
            if bytes[i] == b'\'' {
                if bytes.get(i + 1) == Some(&b'\'') {
                    i += 2;
                    continue;
                }
                end = Some(i);
                break;
            }
            i += 1;
        }
        match end {
            Some(end) if rest[end + 1..].is_empty() || rest[end + 1..].starts_with("::") => {
                Some(format!("'{}'", &rest[..end]))
            }
            _ => None,
        }
    } else {
        None
    };
    if let Some(l) = literal {
        return Some(l);
    }
    let bare = match expr.split_once("::") {
        Some((value, _)) if !value.contains('(') => value.trim(),
        _ => expr,
    };
    let bare = bare
        .strip_prefix('(')
        .and_then(|b| b.strip_suffix(')'))
        .unwrap_or(bare);
    Some(if bare.eq_ignore_ascii_case("null") {
        "NULL".to_string()
    } else {
        bare.to_string()
    })
}

impl Postgres {
    /// Connects (one connection is opened at once, so a bad host, password or database fails
    /// here), with at most `connections` open at once (more questions wait for one).
    pub fn connect_with_budget(cfg: &DbConfig, connections: usize) -> Result<Postgres> {
        let connections = connections.max(1);
        let place = format!("{}:{}", cfg.host, cfg.port);
        let (ssl_mode, connector) = tls_setup(cfg)?;
        let mut config = pg::Config::new();
        config
            .host(&cfg.host)
            .port(cfg.port)
            .user(&cfg.user)
            .password(cfg.password.expose())
            .dbname(&cfg.database_name)
            .application_name("djfs")
            .options(SESSION_OPTIONS)
            .ssl_mode(ssl_mode)
            .connect_timeout(Duration::from_secs(5))
            // A server that vanished (network gone, host down) is noticed within about a
            // minute instead of the system's two hours; the pool then connects anew.
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(30))
            .keepalives_interval(Duration::from_secs(10))
            .keepalives_retries(3);
        let pool = Arc::new(Pool {
            config,
            connector,
            max: connections,
            state: Mutex::new(PoolState::default()),
            freed: Condvar::new(),
        });
        // The first connection now: a wrong password, database or host fails the mount.
        let first = pool.connect_one().map_err(|e| {
            anyhow::anyhow!(
                "cannot connect to the database at {}:{} as {}: {}",
                cfg.host,
                cfg.port,
                cfg.user,
                explain_connect_error(&e, cfg)
            )
        })?;
        {
            let mut state = pool.state.lock().unwrap();
            state.open = 1;
            state.idle.push((first, Instant::now()));
        }
        start_reaper(Arc::downgrade(&pool));
        Ok(Postgres {
            pool,
            queries: AtomicU64::new(0),
            stats: QueryStats::default(),
            slots: TableSlots::for_connections(connections),
            place,
        })
    }

    /// One statement, its parameters all text: one round trip (no separate prepare).
    fn rows(&self, sql: &str, params: &[String]) -> Result<Vec<pg::Row>> {
        self.queries.fetch_add(1, Ordering::Relaxed);
        let mut conn = self.pool.get()?;
        let typed: Vec<(&(dyn ToSql + Sync), Type)> = params
            .iter()
            .map(|p| (p as &(dyn ToSql + Sync), Type::TEXT))
            .collect();
        conn.query_typed(sql, &typed)
            .with_context(|| format!("database query on {}", self.place))
    }

    /// A schema's tables, columns, indexes and foreign keys, read from pg_catalog in the shape
    /// MySQL's information_schema gives them: three queries.
    pub fn raw_catalog(&self, schema: &str) -> Result<RawCatalog> {
        let params = [schema.to_string()];
        let columns = self
            .rows(
                "SELECT c.relname::text, a.attname::text, \
                   CASE WHEN ty.typtype = 'e' THEN 'enum(' || (SELECT string_agg(quote_literal(e.enumlabel), ',' \
                       ORDER BY e.enumsortorder) FROM pg_catalog.pg_enum e WHERE e.enumtypid = ty.oid) || ')' \
                     ELSE format_type(a.atttypid, a.atttypmod) END, \
                   NOT a.attnotnull, \
                   coalesce(col_description(c.oid, a.attnum), ''), \
                   (d.adbin IS NOT NULL OR a.attidentity <> ''), \
                   pg_get_expr(d.adbin, d.adrelid), \
                   CASE WHEN a.attidentity <> '' OR pg_get_expr(d.adbin, d.adrelid) LIKE 'nextval(%' \
                     THEN 'auto_increment' ELSE '' END, \
                   coalesce(obj_description(c.oid, 'pg_class'), ''), \
                   CASE WHEN ty.typtype = 'e' THEN quote_ident(tn.nspname) || '.' || quote_ident(ty.typname) END \
                 FROM pg_catalog.pg_class c \
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                 JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
                 JOIN pg_catalog.pg_type ty ON ty.oid = a.atttypid \
                 JOIN pg_catalog.pg_namespace tn ON tn.oid = ty.typnamespace \
                 LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum \
                 WHERE n.nspname = $1::text AND c.relkind IN ('r', 'p') \
                 ORDER BY c.relname, a.attnum",
                &params,
            )?
            .iter()
            .map(|r| RawColumn {
                table: r.get(0),
                name: r.get(1),
                column_type: r.get::<_, Option<String>>(2).unwrap_or_default(),
                nullable: r.get(3),
                comment: r.get(4),
                has_default: r.get(5),
                default: mariadb_default(r.get::<_, Option<String>>(6).as_deref()),
                extra: r.get(7),
                table_comment: r.get(8),
                enum_type: r.get(9),
            })
            .collect();
        let indexes = self
            .rows(
                "SELECT c.relname::text, CASE WHEN ix.indisprimary THEN 'PRIMARY' ELSE i.relname::text END, \
                   k.ord::int8, a.attname::text, ix.indisunique, NOT a.attnotnull \
                 FROM pg_catalog.pg_index ix \
                 JOIN pg_catalog.pg_class c ON c.oid = ix.indrelid \
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                 JOIN pg_catalog.pg_class i ON i.oid = ix.indexrelid \
                 CROSS JOIN LATERAL unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
                 JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum \
                 WHERE n.nspname = $1::text AND c.relkind IN ('r', 'p') \
                 ORDER BY c.relname, ix.indisprimary DESC, i.relname, k.ord",
                &params,
            )?
            .iter()
            .map(|r| RawIndexColumn {
                table: r.get(0),
                index: r.get(1),
                seq: r.get::<_, i64>(2) as u32,
                column: r.get(3),
                unique: r.get(4),
                nullable: r.get(5),
            })
            .collect();
        let foreign_keys = self
            .rows(
                "SELECT c.relname::text, con.conname::text, k.ord::int8, a.attname::text, \
                   rn.nspname::text, rc.relname::text, ra.attname::text \
                 FROM pg_catalog.pg_constraint con \
                 JOIN pg_catalog.pg_class c ON c.oid = con.conrelid \
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                 JOIN pg_catalog.pg_class rc ON rc.oid = con.confrelid \
                 JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace \
                 CROSS JOIN LATERAL unnest(con.conkey, con.confkey) WITH ORDINALITY AS k(attnum, refnum, ord) \
                 JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum \
                 JOIN pg_catalog.pg_attribute ra ON ra.attrelid = rc.oid AND ra.attnum = k.refnum \
                 WHERE n.nspname = $1::text AND con.contype = 'f'",
                &params,
            )?
            .iter()
            .map(|r| RawForeignKeyColumn {
                table: r.get(0),
                constraint: r.get(1),
                position: r.get::<_, i64>(2) as u32,
                column: r.get(3),
                referenced_schema: r.get(4),
                referenced_table: r.get(5),
                referenced_column: r.get(6),
            })
            .collect();
        Ok(RawCatalog {
            columns,
            indexes,
            foreign_keys,
        })
    }

    /// The first `n` bytes of one stored value (for a blob header longer than a listing fetched).
    fn fetch_prefix(
        &self,
        table: &TableInfo,
        key: &[String],
        column: usize,
        n: u64,
    ) -> Result<Option<Vec<u8>>> {
        let (condition, params) = key_condition(table, key, "t", 1);
        let sql = format!(
            "SELECT substring(t.{} from 1 for {n}) FROM {} AS t WHERE {condition}",
            quote(&table.columns[column].name),
            qualified(table)
        );
        let rows = self.rows(&sql, &params)?;
        Ok(rows.first().and_then(|r| r.get::<_, Option<Vec<u8>>>(0)))
    }

    fn decode_row(&self, table: &TableInfo, select: &RowSelect, row: &pg::Row) -> Result<RowFacts> {
        let mut at = 0usize;
        let mut values = Vec::with_capacity(table.columns.len());
        let mut stamps = Vec::with_capacity(table.columns.len());
        for fetch in &select.fetches {
            let mut stamp = Stamp::None;
            let fact = match fetch {
                Fetch::Text => {
                    let v: Option<String> = row.try_get(at)?;
                    at += 1;
                    v.map_or(Fact::Null, |t| Fact::Bytes(t.into_bytes()))
                }
                Fetch::Binary => {
                    let v: Option<Vec<u8>> = row.try_get(at)?;
                    at += 1;
                    v.map_or(Fact::Null, Fact::Bytes)
                }
                Fetch::Blob | Fetch::Attach => {
                    let len: Option<i64> = row.try_get(at)?;
                    let head: Option<Vec<u8>> = row.try_get(at + 1)?;
                    let digest: Option<Vec<u8>> = row.try_get(at + 2)?;
                    at += 3;
                    stamp = digest.map_or(Stamp::None, Stamp::Digest);
                    match (len, head, fetch) {
                        (Some(len), Some(head), Fetch::Blob) => Fact::Blob {
                            len: len as u64,
                            head,
                        },
                        (Some(len), Some(head), _) => match head.iter().position(|&b| b == 0) {
                            Some(nul) => Fact::Attach {
                                name: String::from_utf8_lossy(&head[..nul]).into_owned(),
                                size: len as u64 - nul as u64 - 1,
                            },
                            None => Fact::BadAttach,
                        },
                        _ => Fact::Null,
                    }
                }
                Fetch::External => {
                    let hash: Option<Vec<u8>> = row.try_get(at)?;
                    let attachment_name: Option<String> = row.try_get(at + 1)?;
                    let filepath: Option<String> = row.try_get(at + 2)?;
                    let size: Option<i64> = row.try_get(at + 3)?;
                    let time: Option<i64> = row.try_get(at + 4)?;
                    at += 5;
                    stamp = time.map_or(Stamp::None, Stamp::Time);
                    match hash {
                        Some(hash) => Fact::External {
                            hash,
                            attachment_name,
                            filepath,
                            size: size.map(|s| s as u64),
                        },
                        None => Fact::Null,
                    }
                }
            };
            values.push(fact);
            stamps.push(stamp);
        }
        let mut facts = super::row_facts(table, values, stamps);
        super::complete_blob_heads(&mut facts, |key, column, n| {
            self.fetch_prefix(table, key, column, n)
        })?;
        Ok(facts)
    }
}

impl Backend for Postgres {
    fn query_count(&self) -> u64 {
        self.queries.load(Ordering::Relaxed)
    }

    fn query_stats(&self) -> Vec<KindStats> {
        self.stats.snapshot()
    }

    /// The database's schemas the user may use, without PostgreSQL's own, and without `public`
    /// unless it holds a DataJoint table (a `~lineage` table, or a column with a DataJoint
    /// `:type:` comment).
    fn schemas(&self) -> Result<Vec<String>> {
        let _timing = self.stats.start(QueryKind::Schemas);
        let rows = self.rows(
            "SELECT n.nspname::text FROM pg_catalog.pg_namespace n \
             WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') \
               AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%' \
               AND has_schema_privilege(n.oid, 'USAGE') \
               AND (n.nspname <> 'public' OR EXISTS ( \
                 SELECT 1 FROM pg_catalog.pg_class c \
                 LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 \
                 WHERE c.relnamespace = n.oid AND c.relkind IN ('r', 'p') \
                   AND (c.relname = '~lineage' OR col_description(c.oid, a.attnum) LIKE ':%:%'))) \
             ORDER BY n.nspname",
            &[],
        )?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn schema_exists(&self, schema: &str) -> Result<bool> {
        let _timing = self.stats.start(QueryKind::Schemas);
        let rows = self.rows(
            "SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1::text",
            &[schema.to_string()],
        )?;
        Ok(!rows.is_empty())
    }

    /// PostgreSQL keeps no per-table time of the last change (its statistics counters are
    /// updated late and can be reset, so they cannot prove "unchanged"; commit times need a
    /// server setting): the stamp is the rows' count and the sum and largest of their `xmin`
    /// (see `TableStamp::Rows`), one scan of a table up to `STAMP_PROBE_MAX_BYTES` on disk.
    /// Larger tables have none: a stale listing of them is read again.
    fn table_stamp(&self, table: &TableInfo) -> Result<Option<TableStamp>> {
        let name = qualified(table);
        let _slot = self.slots.enter(&name);
        let _timing = self.stats.start(QueryKind::ChangeCheck);
        // The size test has no column in it, so PostgreSQL checks it once, before the scan
        // (a one-time filter): a large table is not read.
        let rows = self.rows(
            &format!(
                "SELECT pg_relation_size($1::text::regclass), count(*), \
                   coalesce(sum(xmin::text::bigint), 0)::bigint, \
                   coalesce(max(xmin::text::bigint), 0)::bigint \
                 FROM {name} WHERE pg_relation_size($1::text::regclass) <= {STAMP_PROBE_MAX_BYTES}"
            ),
            std::slice::from_ref(&name),
        )?;
        let Some(r) = rows.first() else {
            return Ok(None);
        };
        if r.get::<_, i64>(0) > STAMP_PROBE_MAX_BYTES {
            return Ok(None);
        }
        Ok(Some(TableStamp::Rows {
            count: r.get(1),
            xmin_sum: r.get(2),
            xmin_max: r.get(3),
        }))
    }

    /// A digest of the schema's tables, columns, types, nullability and key columns: one light
    /// catalog query (no table is opened, so a locked table does not delay it).
    fn catalog_version(&self, schema: &str) -> Result<String> {
        let _timing = self.stats.start(QueryKind::Catalog);
        let rows = self.rows(
            "SELECT count(*)::text || ' ' || count(DISTINCT c.oid)::text || ' ' || \
               coalesce(md5(string_agg(c.relname || ' ' || a.attname || ' ' || \
                 format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull::text || ' ' || \
                 coalesce(col_description(c.oid, a.attnum), ''), '|' ORDER BY c.relname, a.attnum)), '') \
             FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
             WHERE n.nspname = $1::text AND c.relkind IN ('r', 'p')",
            &[schema.to_string()],
        )?;
        Ok(rows
            .first()
            .and_then(|r| r.get::<_, Option<String>>(0))
            .unwrap_or_default())
    }

    fn load_catalog(&self, schema: &str) -> Result<SchemaCatalog> {
        let _timing = self.stats.start(QueryKind::Catalog);
        let raw = self.raw_catalog(schema)?;
        Ok(build_catalog(
            schema,
            raw.columns,
            raw.indexes,
            raw.foreign_keys,
        ))
    }

    /// Every row of a table with the facts needed to list it and size every file: one query.
    fn list_rows(&self, table: &TableInfo) -> Result<Vec<RowFacts>> {
        let _slot = self.slots.enter(&qualified(table));
        let _timing = self.stats.start(QueryKind::Listing);
        let select = RowSelect::new(table);
        let rows = self.rows(&select.sql, &[])?;
        rows.iter()
            .map(|r| self.decode_row(table, &select, r))
            .collect()
    }

    /// Up to `limit` rows from `from` on, in key order: `WHERE (k1, k2) > ($1, $2) ORDER BY k1,
    /// k2 LIMIT n`, one query.
    fn list_rows_page(
        &self,
        table: &TableInfo,
        from: PageStart<'_>,
        limit: usize,
    ) -> Result<Vec<RowFacts>> {
        let _slot = self.slots.enter(&qualified(table));
        let _timing = self.stats.start(QueryKind::Page);
        let select = RowSelect::new(table);
        let (condition, params, order) = keyset(table, from);
        let mut sql = select.sql.clone();
        if let Some(condition) = condition {
            sql.push_str(&format!(" WHERE {condition}"));
        }
        sql.push_str(&format!(" ORDER BY {order} LIMIT {limit}"));
        let rows = match self.rows(&sql, &params) {
            Ok(rows) => rows,
            // A start key that is no value of its type (a name typed by hand): no rows from it.
            Err(e) if bad_text(&e) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        rows.iter()
            .map(|r| self.decode_row(table, &select, r))
            .collect()
    }

    /// The row with these key values (text, as in folder names), by one point query.
    fn find_row(&self, table: &TableInfo, key: &[String]) -> Result<Option<RowFacts>> {
        let _slot = self.slots.enter(&qualified(table));
        let _timing = self.stats.start(QueryKind::Row);
        let select = RowSelect::new(table);
        let (condition, params) = key_condition(table, key, "t", 1);
        let sql = format!("{} WHERE {condition}", select.sql);
        let rows = match self.rows(&sql, &params) {
            Ok(rows) => rows,
            // A key text that is no value of its type (`id=abc` for an integer): no such row.
            Err(e) if bad_text(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        match rows.first() {
            Some(r) => Ok(Some(self.decode_row(table, &select, r)?)),
            None => Ok(None),
        }
    }

    /// The full stored value of one column of one row (None: row gone or value NULL), as the
    /// file shows it (text for text kinds, raw bytes for binary and blob columns).
    fn fetch_value(
        &self,
        table: &TableInfo,
        key: &[String],
        column: usize,
    ) -> Result<Option<Vec<u8>>> {
        let _slot = self.slots.enter(&qualified(table));
        let _timing = self.stats.start(QueryKind::Value);
        let info = &table.columns[column];
        let c = format!("t.{}", quote(&info.name));
        let text = matches!(
            info.kind,
            AttrKind::Text | AttrKind::Uuid | AttrKind::Stored { .. }
        );
        let expr = if text {
            text_expr(info, &c)
        } else {
            format!("({c})::bytea")
        };
        let (condition, params) = key_condition(table, key, "t", 1);
        let sql = format!(
            "SELECT {expr} FROM {} AS t WHERE {condition}",
            qualified(table)
        );
        let rows = match self.rows(&sql, &params) {
            Ok(rows) => rows,
            Err(e) if bad_text(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        Ok(if text {
            row.try_get::<_, Option<String>>(0)?.map(String::into_bytes)
        } else {
            row.try_get::<_, Option<Vec<u8>>>(0)?
        })
    }

    /// DataJoint 2.x keeps no `~external_*` tracking tables: its objects are referenced only
    /// by the JSON metadata in the rows.
    fn tracked(&self, _schema: &str, _store: &str, _unused_only: bool) -> Result<Vec<Tracked>> {
        Ok(Vec::new())
    }

    fn tracking_exists(&self, _schema: &str, _store: &str, _hash: &[u8]) -> Result<bool> {
        Ok(false)
    }

    /// The row's new values (one UPDATE; `RowGone` when it matched no row), or with `insert`
    /// the whole new row (one INSERT): one statement, so one transaction. 2.x keeps no tracking
    /// tables, so a write that needs tracking rows is an error.
    fn write_row(
        &self,
        table: &TableInfo,
        key: &[String],
        values: &[(usize, ColumnValue)],
        tracking: &[TrackingRow],
        insert: bool,
    ) -> Result<()> {
        if !tracking.is_empty() {
            anyhow::bail!(
                "{}.{}: PostgreSQL schemas (DataJoint 2.x) have no ~external tracking tables",
                table.schema,
                table.name
            );
        }
        let _slot = self.slots.enter(&qualified(table));
        let _timing = self.stats.start(QueryKind::Write);
        self.queries.fetch_add(1, Ordering::Relaxed);
        let (sql, params) = if insert {
            insert_sql(table, key, values)
        } else {
            update_sql(table, key, values)
        };
        let mut conn = self.pool.get()?;
        let what = if insert {
            "inserting the row"
        } else {
            "updating the row"
        };
        let touched = execute(&mut *conn, &sql, &params).map_err(|e| refused_or(e, what))?;
        if !insert && touched == 0 {
            return Err(RowGone.into());
        }
        Ok(())
    }

    /// What a column holds now: `None` when the row is gone, `Some(None)` for NULL, else the
    /// MD5 (hex) of its stored bytes (bytea) or of its text, computed by the server.
    fn value_fingerprint(
        &self,
        table: &TableInfo,
        key: &[String],
        column: usize,
    ) -> Result<Option<Option<String>>> {
        let _slot = self.slots.enter(&qualified(table));
        let _timing = self.stats.start(QueryKind::Value);
        let (condition, params) = key_condition(table, key, "t", 1);
        let info = &table.columns[column];
        let md5 = fingerprint_sql(info, &format!("t.{}", quote(&info.name)));
        let rows = self.rows(
            &format!(
                "SELECT {md5} FROM {} AS t WHERE {condition}",
                qualified(table)
            ),
            &params,
        )?;
        Ok(rows.first().map(|r| r.get::<_, Option<String>>(0)))
    }

    /// Sets a column to NULL only if it still holds what `fingerprint` describes (one UPDATE
    /// comparing the same MD5 on the server); whether the row changed.
    fn null_if_unchanged(
        &self,
        table: &TableInfo,
        key: &[String],
        column: usize,
        fingerprint: &Option<String>,
    ) -> Result<bool> {
        let _slot = self.slots.enter(&qualified(table));
        let _timing = self.stats.start(QueryKind::Write);
        self.queries.fetch_add(1, Ordering::Relaxed);
        let info = &table.columns[column];
        let md5 = fingerprint_sql(info, &format!("t.{}", quote(&info.name)));
        let (condition, key_params) = key_condition(table, key, "t", 1);
        let mut params = Params::default();
        params.texts(key_params);
        let n = params.push(Param::Text(fingerprint.as_deref().map(Cow::Borrowed)));
        let sql = format!(
            "UPDATE {} AS t SET {} = NULL WHERE {condition} AND {md5} IS NOT DISTINCT FROM ${n}::text",
            qualified(table),
            quote(&info.name)
        );
        let mut conn = self.pool.get()?;
        let changed =
            execute(&mut *conn, &sql, &params).map_err(|e| refused_or(e, "setting NULL"))?;
        Ok(changed > 0)
    }

    /// Tables whose foreign keys reference `schema.table` (hidden tables excluded).
    fn dependents(&self, schema: &str, table: &str) -> Result<Vec<Dependent>> {
        let _timing = self.stats.start(QueryKind::Dependents);
        let rows = self.rows(
            "SELECT n.nspname::text, c.relname::text, con.conname::text, a.attname::text, ra.attname::text \
             FROM pg_catalog.pg_constraint con \
             JOIN pg_catalog.pg_class c ON c.oid = con.conrelid \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_catalog.pg_class rc ON rc.oid = con.confrelid \
             JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace \
             CROSS JOIN LATERAL unnest(con.conkey, con.confkey) WITH ORDINALITY AS k(attnum, refnum, ord) \
             JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum \
             JOIN pg_catalog.pg_attribute ra ON ra.attrelid = rc.oid AND ra.attnum = k.refnum \
             WHERE con.contype = 'f' AND rn.nspname = $1::text AND rc.relname = $2::text \
             ORDER BY n.nspname, c.relname, con.conname, k.ord",
            &[schema.to_string(), table.to_string()],
        )?;
        Ok(super::sql::group_dependents(rows.iter().map(|r| {
            super::sql::ForeignKeyColumn {
                schema: r.get(0),
                table: r.get(1),
                constraint: r.get(2),
                column: r.get(3),
                referenced: r.get(4),
            }
        })))
    }

    /// How many rows of the last table of `path` depend, through it, on the row `key` of
    /// `root`: one `count(*)` over nested `IN` subqueries.
    fn count_dependents(
        &self,
        root: &TableInfo,
        key: &[String],
        path: &DependencyPath,
    ) -> Result<u64> {
        let _timing = self.stats.start(QueryKind::Dependents);
        let Some(last) = path.last() else {
            return Ok(0);
        };
        let (restriction, params) = restriction(root, key, path, "t", 1);
        let rows = self.rows(
            &format!(
                "SELECT count(*) FROM {}.{} AS t WHERE {restriction}",
                quote(&last.schema),
                quote(&last.table)
            ),
            &params,
        )?;
        Ok(rows.first().map_or(0, |r| r.get::<_, i64>(0)) as u64)
    }

    /// Deletes, in the order given, the rows that depend on the row `key` of `root` along each
    /// path (an empty path: the row itself); one DELETE per path, all in one transaction (a
    /// single path is one statement). Rows still referenced are a `Refused` error (23503).
    fn delete_rows(
        &self,
        root: &TableInfo,
        key: &[String],
        steps: &[Vec<Dependent>],
    ) -> Result<Vec<u64>> {
        let _timing = self.stats.start(QueryKind::Delete);
        self.queries.fetch_add(1, Ordering::Relaxed);
        let statements: Vec<(String, Params<'_>, String)> = steps
            .iter()
            .map(|path| {
                let (schema, table) = match path.last() {
                    Some(d) => (d.schema.as_str(), d.table.as_str()),
                    None => (root.schema.as_str(), root.name.as_str()),
                };
                let (restriction, key_params) = restriction(root, key, path, "t", 1);
                let mut params = Params::default();
                params.texts(key_params);
                (
                    format!(
                        "DELETE FROM {}.{} AS t WHERE {restriction}",
                        quote(schema),
                        quote(table)
                    ),
                    params,
                    format!("deleting from {schema}.{table}"),
                )
            })
            .collect();
        let mut conn = self.pool.get()?;
        if let [(sql, params, what)] = statements.as_slice() {
            let n = execute(&mut *conn, sql, params).map_err(|e| refused_or(e, what))?;
            return Ok(vec![n]);
        }
        let mut tx = conn.transaction().context("starting a transaction")?;
        let mut counts = Vec::with_capacity(statements.len());
        for (sql, params, what) in &statements {
            counts.push(execute(&mut tx, sql, params).map_err(|e| refused_or(e, what))?);
        }
        tx.commit().context("committing")?;
        Ok(counts)
    }

    /// Nothing is tracked in a 2.x schema: nothing to delete.
    fn delete_unused_tracking(
        &self,
        _schema: &str,
        _store: &str,
        _hash: &[u8],
    ) -> Result<Option<SavedTracking>> {
        Ok(None)
    }

    fn restore_tracking(&self, schema: &str, store: &str, _saved: SavedTracking) -> Result<()> {
        anyhow::bail!(
            "{schema}: PostgreSQL schemas (DataJoint 2.x) have no ~external_{store} tracking table"
        )
    }

    fn stored_references(&self, schema: &str) -> Result<Vec<StoredRef>> {
        let _timing = self.stats.start(QueryKind::Tracked);
        self.queries.fetch_add(1, Ordering::Relaxed);
        let mut conn = self.pool.get()?;
        references_in(&mut *conn, schema, &self.queries).with_context(|| {
            format!(
                "reading the stored references of {schema} on {}",
                self.place
            )
        })
    }

    fn with_stored_references_held(
        &self,
        schema: &str,
        then: &mut dyn FnMut(&[StoredRef]) -> Result<()>,
    ) -> Result<()> {
        let _timing = self.stats.start(QueryKind::Delete);
        self.queries.fetch_add(1, Ordering::Relaxed);
        let mut conn = self.pool.get()?;
        let mut tx = conn
            .transaction()
            .with_context(|| format!("database transaction on {}", self.place))?;
        let refs = references_held(&mut tx, schema, &self.queries).map_err(|e| {
            if sql_state(&e).as_deref() == Some("55P03") {
                anyhow::Error::new(Busy(format!(
                    "the tables of {schema} with stored columns stayed locked by another client"
                )))
            } else {
                e.context(format!(
                    "reading the stored references of {schema} on {}",
                    self.place
                ))
            }
        })?;
        then(&refs)?;
        tx.commit()
            .with_context(|| format!("ending the transaction on {}", self.place))
    }
}

/// The tables of `schema` with columns that may hold 2.x references (one catalog query).
fn reference_tables(client: &mut impl pg::GenericClient, schema: &str) -> Result<Vec<RefTable>> {
    let rows = client.query(
        "SELECT c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod), \
           col_description(c.oid, a.attnum) \
         FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
         WHERE n.nspname = $1::text AND c.relkind IN ('r', 'p') \
           AND col_description(c.oid, a.attnum) LIKE ':<%' \
         ORDER BY c.relname, a.attnum",
        &[&schema],
    )?;
    Ok(crate::orphans::reference_tables(rows.iter().map(|r| {
        (
            r.get::<_, String>(0),
            r.get::<_, String>(1),
            r.get::<_, Option<String>>(2).unwrap_or_default(),
            r.get::<_, Option<String>>(3).unwrap_or_default(),
        )
    })))
}

/// One table's references: its reference columns as text, rows with any of them set.
fn table_references(
    client: &mut impl pg::GenericClient,
    schema: &str,
    table: &RefTable,
    out: &mut Vec<StoredRef>,
) -> Result<()> {
    let columns: Vec<String> = table
        .columns
        .iter()
        .map(|c| format!("t.{}", quote(&c.name)))
        .collect();
    let sql = format!(
        "SELECT {} FROM {}.{} AS t WHERE {}",
        columns
            .iter()
            .map(|c| format!("{c}::text"))
            .collect::<Vec<_>>()
            .join(", "),
        quote(schema),
        quote(&table.name),
        columns
            .iter()
            .map(|c| format!("{c} IS NOT NULL"))
            .collect::<Vec<_>>()
            .join(" OR ")
    );
    for row in client.query(&sql, &[])? {
        let values: Vec<Option<&str>> = (0..table.columns.len()).map(|i| row.get(i)).collect();
        table.references(values.into_iter().map(|v| v.map(str::as_bytes)), out);
    }
    Ok(())
}

/// Every reference of `schema`: the catalog query, then one query per table.
fn references_in(
    client: &mut impl pg::GenericClient,
    schema: &str,
    queries: &AtomicU64,
) -> Result<Vec<StoredRef>> {
    let mut out = Vec::new();
    for table in reference_tables(client, schema)? {
        queries.fetch_add(1, Ordering::Relaxed);
        table_references(client, schema, &table, &mut out)?;
    }
    Ok(out)
}

/// The same inside a transaction that first takes SHARE locks on those tables (rows can be
/// read, none inserted, updated or deleted until it ends), in name order.
fn references_held(
    tx: &mut pg::Transaction<'_>,
    schema: &str,
    queries: &AtomicU64,
) -> Result<Vec<StoredRef>> {
    let tables = reference_tables(tx, schema)?;
    let mut out = Vec::new();
    if tables.is_empty() {
        return Ok(out);
    }
    let names: Vec<String> = tables
        .iter()
        .map(|t| format!("{}.{}", quote(schema), quote(&t.name)))
        .collect();
    queries.fetch_add(1, Ordering::Relaxed);
    tx.batch_execute(&format!("LOCK TABLE {} IN SHARE MODE", names.join(", ")))?;
    for table in &tables {
        queries.fetch_add(1, Ordering::Relaxed);
        table_references(tx, schema, table, &mut out)?;
    }
    Ok(out)
}

/// Whether a query failed because a key text is no value of its column's type
/// (`invalid_text_representation`, `datetime_field_overflow`, `numeric_value_out_of_range`, …:
/// class 22, data exception).
fn bad_text(err: &anyhow::Error) -> bool {
    sql_state(err).is_some_and(|code| code.starts_with("22"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::naming::Tier;

    fn column(name: &str, ty: &str, kind: AttrKind) -> ColumnInfo {
        ColumnInfo {
            name: name.into(),
            column_type: ty.into(),
            nullable: false,
            has_default: false,
            kind,
            hidden: false,
            json: false,
            enum_type: None,
        }
    }

    fn table() -> TableInfo {
        TableInfo {
            schema: "s\"x".into(),
            name: "test".into(),
            class_name: "Test".into(),
            tier: Tier::Manual,
            columns: vec![
                column("id", "integer", AttrKind::Text),
                column("sex", "enum('M','F')", AttrKind::Text),
                column("u", "uuid", AttrKind::Uuid),
                column("b", "bytea", AttrKind::Blob),
                column("ok", "boolean", AttrKind::Text),
                column("t", "timestamp(3) without time zone", AttrKind::Text),
                column("na\"me", "character varying(8)", AttrKind::Text),
                column("code", "character(4)", AttrKind::Text),
            ],
            key: vec![0, 1, 6],
        }
    }

    #[test]
    fn identifiers_are_double_quoted() {
        assert_eq!(quote("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote("~lineage"), "\"~lineage\"");
    }

    #[test]
    fn types_lose_their_modifiers_for_casts() {
        assert_eq!(base_type("character varying(64)"), "character varying");
        assert_eq!(
            base_type("timestamp(3) without time zone"),
            "timestamp without time zone"
        );
        assert_eq!(base_type("numeric(6,2)"), "numeric");
        assert_eq!(base_type("integer"), "integer");
        assert_eq!(base_type("\"we(ird\".\"t\""), "\"we(ird\".\"t\"");
        assert_eq!(type_precision("timestamp(3) without time zone"), Some(3));
        assert_eq!(type_precision("timestamp without time zone"), None);
    }

    #[test]
    fn select_quotes_names_and_formats_values() {
        let select = RowSelect::new(&table());
        assert_eq!(
            select.sql,
            "SELECT (t.\"id\")::text, (t.\"sex\")::text, (t.\"u\")::text, \
             length(t.\"b\")::int8, substring(t.\"b\" from 1 for 1024), \
             CASE WHEN length(t.\"b\") <= 1048576 THEN decode(md5(t.\"b\"), 'hex') \
             ELSE decode(md5(convert_to(length(t.\"b\")::text, 'UTF8') || substring(t.\"b\" from 1 for 1024) \
             || substring(t.\"b\" from length(t.\"b\") - 1023)), 'hex') END, \
             (t.\"ok\")::int::text, \
             to_char(t.\"t\", 'YYYY-MM-DD HH24:MI:SS') || '.' || substr(to_char(t.\"t\", 'US'), 1, 3), \
             (t.\"na\"\"me\")::text, \
             CASE WHEN t.\"code\" IS NOT NULL THEN format('%s', t.\"code\") END \
             FROM \"s\"\"x\".\"test\" AS t"
        );
    }

    #[test]
    fn key_values_are_text_parameters_cast_on_the_server() {
        let key = vec!["1' OR 1=1".to_string(), "M".into(), "x".into()];
        let (sql, params) = key_condition(&table(), &key, "t", 1);
        assert_eq!(
            sql,
            "t.\"id\" = CAST($1::text AS integer) AND (t.\"sex\")::text = $2::text \
             AND t.\"na\"\"me\" = CAST($3::text AS character varying)"
        );
        assert_eq!(params, key);
    }

    #[test]
    fn pages_compare_whole_keys() {
        let key = ["1".to_string(), "M".into(), "x".into()];
        let (condition, params, order) = keyset(&table(), PageStart::After(&key));
        assert_eq!(
            condition.unwrap(),
            "(t.\"id\", (t.\"sex\")::text, t.\"na\"\"me\") > (CAST($1::text AS integer), $2::text, \
             CAST($3::text AS character varying))"
        );
        assert_eq!(params, key);
        assert_eq!(order, "t.\"id\", (t.\"sex\")::text, t.\"na\"\"me\"");
        let (condition, params, _) = keyset(&table(), PageStart::At(&key[..1]));
        assert_eq!(
            condition.unwrap(),
            "(t.\"id\") >= (CAST($1::text AS integer))"
        );
        assert_eq!(params, ["1"]);
        let (condition, params, _) = keyset(&table(), PageStart::First);
        assert_eq!((condition, params.len()), (None, 0));
    }

    #[test]
    fn defaults_as_mariadb_gives_them() {
        assert_eq!(mariadb_default(None), None);
        assert_eq!(
            mariadb_default(Some("NULL::numeric")).as_deref(),
            Some("NULL")
        );
        assert_eq!(
            mariadb_default(Some("'it''s'::character varying")).as_deref(),
            Some("'it''s'")
        );
        assert_eq!(mariadb_default(Some("true")).as_deref(), Some("true"));
        assert_eq!(mariadb_default(Some("42")).as_deref(), Some("42"));
        assert_eq!(
            mariadb_default(Some("'-1'::integer")).as_deref(),
            Some("'-1'")
        );
        assert_eq!(mariadb_default(Some("(-1)")).as_deref(), Some("-1"));
        assert_eq!(
            mariadb_default(Some("CURRENT_TIMESTAMP")).as_deref(),
            Some("CURRENT_TIMESTAMP")
        );
        assert_eq!(
            crate::catalog::show_default(mariadb_default(Some("'a b'::text")).as_deref()),
            Some("a b".to_string())
        );
    }

    #[test]
    fn tls_follows_use_tls_as_the_2x_client_maps_it() {
        use crate::config::{Secret, TlsFiles};
        use pg::config::SslMode;
        let cfg = |tls: Tls| DbConfig {
            host: "db".into(),
            port: 5432,
            user: "u".into(),
            password: Secret::default(),
            tls,
            tls_setting: "database.use_tls",
            backend: crate::config::DbBackend::PostgreSql,
            database_name: "postgres".into(),
        };
        let mode = |tls: Tls| tls_setup(&cfg(tls)).map(|(m, _)| m).unwrap();
        assert_eq!(mode(Tls::Disabled), SslMode::Disable);
        assert_eq!(mode(Tls::Preferred), SslMode::Prefer);
        assert_eq!(mode(Tls::Required), SslMode::Require);
        let files = TlsFiles {
            ca: Some("/nonexistent/ca.pem".into()),
            cert: None,
            key: None,
            check_hostname: true,
        };
        let err = format!("{:#}", tls_setup(&cfg(Tls::Files(files))).err().unwrap());
        assert_eq!(
            err,
            "cannot read database.use_tls ca /nonexistent/ca.pem: No such file or directory (os error 2)"
        );
    }

    #[test]
    fn write_values_are_parameters_cast_to_the_column_type() {
        let mut t = table();
        t.columns[1].enum_type = Some("\"s\"\"x\".\"enum_ab12cd34\"".into());
        let key = vec!["7".to_string(), "M".into(), "it's".into()];
        let values = [
            (3, ColumnValue::Bytes(vec![0, 1])),
            (4, ColumnValue::Text("1".into())),
            (7, ColumnValue::Text("ab".into())),
            (2, ColumnValue::Null),
        ];
        let (sql, params) = insert_sql(&t, &key, &values);
        assert_eq!(
            sql,
            "INSERT INTO \"s\"\"x\".\"test\" (\"id\", \"sex\", \"na\"\"me\", \"b\", \"ok\", \"code\", \"u\") \
             VALUES (CAST($1::text AS integer), CAST($2::text AS \"s\"\"x\".\"enum_ab12cd34\"), \
             CAST($3::text AS character varying), $4::bytea, CAST($5::text AS boolean), \
             CAST($6::text AS bpchar), NULL)"
        );
        assert_eq!(params.0.len(), 6);
        assert!(matches!(&params.0[2], Param::Text(Some(v)) if v == "it's"));
        assert!(matches!(&params.0[3], Param::Bytes(b) if b.as_ref() == [0, 1]));

        let values = [(5, ColumnValue::Text("2024-01-02 03:04:05.678".into()))];
        let (sql, params) = update_sql(&t, &key, &values);
        assert_eq!(
            sql,
            "UPDATE \"s\"\"x\".\"test\" AS t SET \"t\" = CAST($1::text AS timestamp without time zone) \
             WHERE t.\"id\" = CAST($2::text AS integer) AND (t.\"sex\")::text = $3::text \
             AND t.\"na\"\"me\" = CAST($4::text AS character varying)"
        );
        assert_eq!(params.0.len(), 4);
        // Nothing to set: whether the row is there.
        let (sql, _) = update_sql(&t, &key, &[]);
        assert!(sql.starts_with("SELECT 1 FROM"), "{sql}");
    }

    #[test]
    fn dependents_are_selected_through_nested_subqueries() {
        let t = table();
        let key = vec!["7".to_string(), "M".into(), "x".into()];
        let path = [
            Dependent {
                schema: "s\"x".into(),
                table: "child".into(),
                columns: vec![("id".into(), "id".into()), ("sex".into(), "sex".into())],
            },
            Dependent {
                schema: "s\"x".into(),
                table: "grand".into(),
                columns: vec![("cid".into(), "id".into())],
            },
        ];
        let (sql, params) = restriction(&t, &key, &path, "t", 1);
        assert_eq!(
            sql,
            "(t.\"cid\") IN (SELECT p1.\"id\" FROM \"s\"\"x\".\"child\" AS p1 WHERE \
             (p1.\"id\", p1.\"sex\") IN (SELECT p0.\"id\", p0.\"sex\" FROM \"s\"\"x\".\"test\" AS p0 \
             WHERE p0.\"id\" = CAST($1::text AS integer) AND (p0.\"sex\")::text = $2::text \
             AND p0.\"na\"\"me\" = CAST($3::text AS character varying)))"
        );
        assert_eq!(params, key);
    }

    #[test]
    fn cast_types_never_cut_a_value() {
        let c = |ty: &str| cast_type(&column("c", ty, AttrKind::Text));
        assert_eq!(c("character(4)"), "bpchar");
        assert_eq!(c("character varying(8)"), "character varying");
        assert_eq!(c("numeric(6,2)"), "numeric");
        assert_eq!(c("bit(3)"), "varbit");
        assert_eq!(c("jsonb"), "jsonb");
        assert_eq!(c("uuid"), "uuid");
    }
}
