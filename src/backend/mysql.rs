//! The MySQL/MariaDB backend: every SQL statement djfs sends. Names (schemas, tables, columns) are quoted identifiers taken
//! from information_schema; every value a user typed (key values from folder names) is a
//! statement parameter, never spliced into SQL.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::budget::{KindStats, QueryKind, QueryStats, TableSlots};
use anyhow::{Context, Result};
use mysql::prelude::Queryable;
use mysql::{ClientIdentity, OptsBuilder, Pool, PoolConstraints, PoolOpts, SslOpts, Value};

use crate::catalog::{
    build_catalog, AttrKind, RawCatalog, RawColumn, RawForeignKeyColumn, RawIndexColumn,
    SchemaCatalog, TableInfo,
};
use crate::config::{DbConfig, Tls};
// DataJoint 2.x references, for `.unused` and `djfs gc`.
use super::{Busy, StoredRef};
use crate::orphans::RefTable;

use super::{
    Backend, ColumnValue, DependencyPath, Dependent, Fact, PageStart, Refused, RowFacts, RowGone,
    SavedTracking, Stamp, TableStamp, Tracked, TrackingRow, WriteRefusal, ATTACH_NAME_SCAN,
    BLOB_HEAD_BYTES,
};

/// Schemas that are MySQL's own, never shown.
const SYSTEM_SCHEMAS: [&str; 4] = ["mysql", "sys", "information_schema", "performance_schema"];

pub struct MySql {
    pool: Pool,
    /// Statements sent so far: tests and benchmarks check the per-directory SQL budget.
    queries: AtomicU64,
    /// Questions by kind, counted and timed.
    stats: QueryStats,
    /// At most half the connections per table (see `budget`).
    slots: TableSlots,
}

/// ER_ACCESS_DENIED_ERROR.
const ACCESS_DENIED: u16 = 1045;

/// TLS without verifying the server's certificate.
fn unverified() -> SslOpts {
    SslOpts::default().with_danger_accept_invalid_certs(true)
}

/// The driver's TLS settings for `use_tls` (None: plaintext). Without a CA there is nothing to
/// verify the server's certificate against, and the client does not verify it: neither do we.
fn ssl_opts(tls: &Tls) -> Result<Option<SslOpts>> {
    Ok(match tls {
        Tls::Disabled => None,
        Tls::Preferred | Tls::Required => Some(unverified()),
        Tls::Files(files) => {
            for (key, path) in [
                ("ca", &files.ca),
                ("cert", &files.cert),
                ("key", &files.key),
            ] {
                if let Some(path) = path {
                    std::fs::File::open(path).with_context(|| {
                        format!("cannot read database.use_tls {key} {}", path.display())
                    })?;
                }
            }
            let opts = match &files.ca {
                Some(ca) => SslOpts::default()
                    .with_root_cert_path(Some(ca.clone()))
                    .with_danger_skip_domain_validation(!files.check_hostname),
                None => unverified(),
            };
            Some(opts.with_client_identity(files.cert.as_ref().map(|cert| {
                ClientIdentity::new(cert.clone(), files.key.clone().unwrap_or(cert.clone()))
            })))
        }
    })
}

/// Why a connection failed, in words that name the TLS cause when there is one.
fn explain_connect_error(err: &mysql::Error, cfg: &DbConfig) -> String {
    let setting = cfg.tls_setting;
    match err {
        mysql::Error::DriverError(mysql::DriverError::TlsNotSupported) => {
            return format!("the server offers no TLS ({setting} asks for TLS)");
        }
        // MySQL's ER_SECURE_TRANSPORT_REQUIRED (MariaDB says access denied, see `connect`).
        mysql::Error::MySqlError(e) if e.code == 3159 => {
            return format!("the server requires TLS ({setting} is false)");
        }
        _ => {}
    }
    let Some(tls) = rustls_error(err) else {
        // The driver's Display wraps every reason in its variant's name (`MySqlError { … }`):
        // say what happened in words, with the server's own code and message.
        return match err {
            mysql::Error::MySqlError(e) => {
                let what = match e.code {
                    ACCESS_DENIED => "access denied",
                    1044 => "access denied to the database",
                    1130 => "this host may not connect to the server",
                    1040 | 1203 => "too many connections",
                    _ => "the server refused the connection",
                };
                format!("{what} (ERROR {}: {})", e.code, e.message)
            }
            mysql::Error::IoError(e) => e.to_string(),
            mysql::Error::CodecError(e) => format!("bad packet from the server: {e}"),
            mysql::Error::DriverError(e) => e.to_string(),
            mysql::Error::UrlError(e) => e.to_string(),
            mysql::Error::TlsError(e) => format!("TLS: {e}"),
            other => other.to_string(),
        };
    };
    let ca = match &cfg.tls {
        Tls::Files(files) => files.ca.as_ref(),
        _ => None,
    };
    let ca = ca.map(|p| p.display().to_string()).unwrap_or_default();
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

/// The rustls error behind a driver error, if any (io errors carry it inside).
fn rustls_error(err: &mysql::Error) -> Option<&rustls::Error> {
    // mysql::Error has no `source`: start from the variants that can carry it.
    let mut e: &(dyn std::error::Error + 'static) = match err {
        mysql::Error::TlsError(tls) => tls,
        mysql::Error::IoError(io) => io,
        mysql::Error::CodecError(codec) => codec,
        _ => return None,
    };
    loop {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        if let Some(inner) = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            e = inner;
            continue;
        }
        e = e.source()?;
    }
}

fn quote(ident: &str) -> String {
    format!("`{}`", ident.replace('`', "``"))
}

fn qualified(table: &TableInfo) -> String {
    format!("{}.{}", quote(&table.schema), quote(&table.name))
}

/// A mount's connection budget unless `--db-connections` says otherwise: a lab of thirty
/// workstations stays well under a server's default `max_connections` (151).
pub const DEFAULT_CONNECTIONS: usize = 4;

/// An idle database connection stays open 60 s (then the server closes it); an operation waits
/// at most 20 s for a table another client has locked.
const IDLE_SESSION_SQL: &str =
    "SET SESSION wait_timeout = 60, SESSION interactive_timeout = 60, SESSION lock_wait_timeout = 20";

impl MySql {
    /// Connects (one connection is opened at once, so a bad host or password fails here). TLS
    /// as `database.use_tls` says; when TLS is only preferred, whether the server offers it is
    /// decided here, once, and every pooled connection is made the same way.
    pub fn connect(cfg: &DbConfig) -> Result<MySql> {
        MySql::connect_with_budget(cfg, DEFAULT_CONNECTIONS)
    }

    /// Connects with at most `connections` open at once (more questions wait for one).
    pub fn connect_with_budget(cfg: &DbConfig, connections: usize) -> Result<MySql> {
        let connections = connections.max(1);
        let pool_opts = PoolOpts::default()
            .with_constraints(PoolConstraints::new(1, connections).expect("valid pool bounds"))
            .with_reset_connection(false)
            .with_check_health(true);
        let opts = OptsBuilder::new()
            .ip_or_hostname(Some(cfg.host.clone()))
            .tcp_port(cfg.port)
            .user(Some(cfg.user.clone()))
            .pass(Some(cfg.password.expose().to_string()))
            .prefer_socket(false)
            .tcp_connect_timeout(Some(Duration::from_secs(5)))
            .read_timeout(Some(Duration::from_secs(120)))
            .write_timeout(Some(Duration::from_secs(120)))
            // Strict mode: bad values are errors, never silently changed (as the client has it).
            .init(vec![
                "SET NAMES utf8mb4",
                "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,\
                 ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION'",
                // The server closes a connection idle for a minute (the pool's health check
                // reconnects when one is needed again), so an idle mount holds none of a lab
                // server's connections; a table locked by another client (LOCK TABLES, DDL)
                // fails the operations that need it after 20 s instead of hanging.
                IDLE_SESSION_SQL,
            ])
            .pool_opts(pool_opts);
        let cannot = |reason: String| {
            anyhow::anyhow!(
                "cannot connect to the database at {}:{} as {}: {reason}",
                cfg.host,
                cfg.port,
                cfg.user,
            )
        };
        let failed = |e: mysql::Error| cannot(explain_connect_error(&e, cfg));
        let ssl = ssl_opts(&cfg.tls)?;
        let pool = match (&cfg.tls, ssl) {
            (Tls::Preferred, Some(ssl)) => match Pool::new(opts.clone().ssl_opts(ssl)) {
                Err(mysql::Error::DriverError(mysql::DriverError::TlsNotSupported)) => {
                    tracing::info!("the database offers no TLS: connecting in plaintext");
                    Pool::new(opts).map_err(failed)?
                }
                other => other.map_err(failed)?,
            },
            (Tls::Disabled, _) => match Pool::new(opts.clone()) {
                // MariaDB refuses plaintext under require_secure_transport as a wrong password
                // would: tell them apart by logging in over TLS once (that connection is closed).
                Err(mysql::Error::MySqlError(e)) if e.code == ACCESS_DENIED => {
                    if mysql::Conn::new(opts.ssl_opts(unverified())).is_ok() {
                        let setting = cfg.tls_setting;
                        return Err(cannot(format!(
                            "the server requires TLS ({setting} is false)"
                        )));
                    }
                    return Err(failed(mysql::Error::MySqlError(e)));
                }
                other => other.map_err(failed)?,
            },
            (_, ssl) => Pool::new(opts.ssl_opts(ssl)).map_err(failed)?,
        };
        Ok(MySql {
            pool,
            queries: AtomicU64::new(0),
            stats: QueryStats::default(),
            slots: TableSlots::for_connections(connections),
        })
    }

    /// A schema's tables, columns, indexes and foreign keys as information_schema lists them:
    /// three queries (what rows look like, and what `.definition` and the diagram show).
    pub fn raw_catalog(&self, schema: &str) -> Result<RawCatalog> {
        let columns = self
            .rows(
                "SELECT c.TABLE_NAME, c.COLUMN_NAME, c.COLUMN_TYPE, c.IS_NULLABLE, c.COLUMN_COMMENT, \
                   (c.COLUMN_DEFAULT IS NOT NULL OR c.EXTRA LIKE '%auto_increment%'), \
                   c.COLUMN_DEFAULT, c.EXTRA, t.TABLE_COMMENT \
                 FROM information_schema.COLUMNS c JOIN information_schema.TABLES t \
                   ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME \
                 WHERE c.TABLE_SCHEMA = ? AND t.TABLE_TYPE = 'BASE TABLE' \
                 ORDER BY c.TABLE_NAME, c.ORDINAL_POSITION",
                vec![schema.into()],
            )?
            .into_iter()
            .map(|r| RawColumn {
                table: text(&r[0]).unwrap_or_default(),
                name: text(&r[1]).unwrap_or_default(),
                column_type: text(&r[2]).unwrap_or_default(),
                nullable: text(&r[3]).as_deref() == Some("YES"),
                comment: text(&r[4]).unwrap_or_default(),
                has_default: int(&r[5]) == Some(1),
                default: text(&r[6]),
                extra: text(&r[7]).unwrap_or_default(),
                table_comment: text(&r[8]).unwrap_or_default(),
                enum_type: None,
            })
            .collect();
        // No ORDER BY: a table's indexes come in `SHOW KEYS` order (grouped in `build_catalog`).
        let indexes = self
            .rows(
                "SELECT TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX, COLUMN_NAME, NON_UNIQUE, NULLABLE \
                 FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ?",
                vec![schema.into()],
            )?
            .into_iter()
            .map(|r| RawIndexColumn {
                table: text(&r[0]).unwrap_or_default(),
                index: text(&r[1]).unwrap_or_default(),
                seq: int(&r[2]).unwrap_or(0) as u32,
                column: text(&r[3]).unwrap_or_default(),
                unique: int(&r[4]) == Some(0),
                nullable: text(&r[5]).as_deref() == Some("YES"),
            })
            .collect();
        let foreign_keys = self
            .rows(
                "SELECT TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION, COLUMN_NAME, \
                   REFERENCED_TABLE_SCHEMA, REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME \
                 FROM information_schema.KEY_COLUMN_USAGE \
                 WHERE TABLE_SCHEMA = ? AND REFERENCED_TABLE_NAME IS NOT NULL",
                vec![schema.into()],
            )?
            .into_iter()
            .map(|r| RawForeignKeyColumn {
                table: text(&r[0]).unwrap_or_default(),
                constraint: text(&r[1]).unwrap_or_default(),
                position: int(&r[2]).unwrap_or(0) as u32,
                column: text(&r[3]).unwrap_or_default(),
                referenced_schema: text(&r[4]).unwrap_or_default(),
                referenced_table: text(&r[5]).unwrap_or_default(),
                referenced_column: text(&r[6]).unwrap_or_default(),
            })
            .collect();
        Ok(RawCatalog {
            columns,
            indexes,
            foreign_keys,
        })
    }

    fn rows(&self, sql: &str, params: Vec<Value>) -> Result<Vec<Vec<Value>>> {
        self.queries.fetch_add(1, Ordering::Relaxed);
        let mut conn = self.pool.get_conn().context("database connection")?;
        let rows: Vec<mysql::Row> = conn.exec(sql, params).context("database query")?;
        Ok(rows.into_iter().map(|r| r.unwrap()).collect())
    }

    /// The first `n` bytes of one stored value (for a blob header longer than a listing fetched).
    fn fetch_prefix(
        &self,
        table: &TableInfo,
        key: &[String],
        column: usize,
        n: u64,
    ) -> Result<Option<Vec<u8>>> {
        let (condition, mut params) = key_condition(table, key);
        let sql = format!(
            "SELECT SUBSTRING(t.{}, 1, ?) FROM {} AS t WHERE {condition}",
            quote(&table.columns[column].name),
            qualified(table)
        );
        params.insert(0, n.into());
        let mut rows = self.rows(&sql, params)?;
        // Moved out, not copied: values can be hundreds of MiB.
        Ok(rows.pop().and_then(|mut r| match r.swap_remove(0) {
            Value::Bytes(b) => Some(b),
            other => bytes(&other),
        }))
    }

    fn decode_row(
        &self,
        table: &TableInfo,
        select: &RowSelect,
        row: Vec<Value>,
    ) -> Result<RowFacts> {
        let mut cells = row.into_iter();
        let mut values = Vec::with_capacity(table.columns.len());
        let mut stamps = Vec::with_capacity(table.columns.len());
        for (column, fetch) in table.columns.iter().zip(&select.fetches) {
            let mut next = || cells.next().unwrap_or(Value::NULL);
            let mut stamp = Stamp::None;
            let fact = match fetch {
                Fetch::Text => match bytes(&next()) {
                    None => Fact::Null,
                    Some(b) if column.kind == AttrKind::Uuid => {
                        Fact::Bytes(format_uuid(&b).into_bytes())
                    }
                    Some(b) => Fact::Bytes(b),
                },
                Fetch::Blob => {
                    let len = int(&next());
                    let head = bytes(&next());
                    stamp = bytes(&next()).map_or(Stamp::None, Stamp::Digest);
                    match (len, head) {
                        (Some(len), Some(head)) => Fact::Blob { len, head },
                        _ => Fact::Null,
                    }
                }
                Fetch::Attach => {
                    let len = int(&next());
                    let head = bytes(&next());
                    stamp = bytes(&next()).map_or(Stamp::None, Stamp::Digest);
                    match (len, head) {
                        (Some(len), Some(head)) => match head.iter().position(|&b| b == 0) {
                            Some(nul) => Fact::Attach {
                                name: String::from_utf8_lossy(&head[..nul]).into_owned(),
                                size: len - nul as u64 - 1,
                            },
                            None => Fact::BadAttach,
                        },
                        _ => Fact::Null,
                    }
                }
                Fetch::External => {
                    let hash = bytes(&next());
                    let attachment_name = text(&next());
                    let filepath = text(&next());
                    let size = int(&next());
                    stamp = match next() {
                        Value::Int(t) => Stamp::Time(t),
                        Value::UInt(t) => Stamp::Time(t as i64),
                        v => text(&v)
                            .and_then(|t| t.split('.').next()?.parse().ok())
                            .map_or(Stamp::None, Stamp::Time),
                    };
                    match hash {
                        Some(hash) => Fact::External {
                            hash,
                            attachment_name,
                            filepath,
                            size,
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

impl ColumnValue {
    fn sql(&self, table: &TableInfo, column: usize) -> (&'static str, Value) {
        match (self, &table.columns[column].kind) {
            (ColumnValue::Null, _) => ("?", Value::NULL),
            (ColumnValue::Text(t), AttrKind::Uuid) => ("UNHEX(?)", t.replace('-', "").into()),
            (ColumnValue::Text(t), _) => ("?", t.as_str().into()),
            (ColumnValue::Bytes(b), _) => ("?", Value::Bytes(b.clone())),
        }
    }
}

/// The server's error as a `Refused` when its code says the write itself was refused (a
/// duplicate key, a missing parent row, a value that does not fit), else with `what` as context.
fn refused_or(err: mysql::Error, what: &str) -> anyhow::Error {
    let why = match &err {
        mysql::Error::MySqlError(m) => match m.code {
            1062 => Some(WriteRefusal::Exists),
            1451 | 1452 | 1216 | 1217 => Some(WriteRefusal::Reference),
            1048 | 1054 | 1064 | 1265 | 1264 | 1292 | 1364 | 1366 | 1406 | 1411 | 1525 | 3140 => {
                Some(WriteRefusal::BadValue)
            }
            _ => None,
        },
        _ => None,
    };
    match why {
        Some(why) => anyhow::Error::new(Refused {
            why,
            message: format!("{what}: {err}"),
        }),
        None => anyhow::Error::new(err).context(what.to_string()),
    }
}

impl MySql {
    fn tracking_sql(schema: &str, t: &TrackingRow) -> (String, Vec<Value>) {
        (
            format!(
                "INSERT INTO {}.{} (`hash`, `size`, `attachment_name`) VALUES (?, ?, ?) \
                 ON DUPLICATE KEY UPDATE `timestamp` = CURRENT_TIMESTAMP",
                quote(schema),
                quote(&format!("~external_{}", t.store))
            ),
            vec![
                Value::Bytes(t.hash.clone()),
                t.size.into(),
                t.attachment_name
                    .clone()
                    .map(Value::from)
                    .unwrap_or(Value::NULL),
            ],
        )
    }
}

impl Backend for MySql {
    /// How many statements this connection pool has sent.
    fn query_count(&self) -> u64 {
        self.queries.load(Ordering::Relaxed)
    }

    fn query_stats(&self) -> Vec<KindStats> {
        self.stats.snapshot()
    }

    /// Schemas the user may see, without MySQL's own.
    fn schemas(&self) -> Result<Vec<String>> {
        let _timing = self.stats.start(QueryKind::Schemas);
        let rows = self.rows(
            "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA ORDER BY SCHEMA_NAME",
            vec![],
        )?;
        Ok(rows
            .iter()
            .filter_map(|r| text(&r[0]))
            .filter(|s| !SYSTEM_SCHEMAS.contains(&s.to_ascii_lowercase().as_str()))
            .collect())
    }

    fn schema_exists(&self, schema: &str) -> Result<bool> {
        let _timing = self.stats.start(QueryKind::Schemas);
        let rows = self.rows(
            "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
            vec![schema.into()],
        )?;
        Ok(!rows.is_empty())
    }

    fn table_stamp(&self, table: &TableInfo) -> Result<Option<TableStamp>> {
        let _slot = self.slots.enter(&qualified(table));
        let _timing = self.stats.start(QueryKind::ChangeCheck);
        let rows = self.rows(
            "SELECT UNIX_TIMESTAMP(t.UPDATE_TIME), UNIX_TIMESTAMP(), \
               UNIX_TIMESTAMP() - CAST(s.VARIABLE_VALUE AS SIGNED) \
             FROM information_schema.TABLES t, information_schema.GLOBAL_STATUS s \
             WHERE t.TABLE_SCHEMA = ? AND t.TABLE_NAME = ? AND s.VARIABLE_NAME = 'UPTIME'",
            vec![Value::from(&table.schema), Value::from(&table.name)],
        )?;
        Ok(rows.first().and_then(|r| {
            Some(TableStamp::UpdateTime {
                changed: int(&r[0]).map(|t| t as i64),
                now: int(&r[1])? as i64,
                started: int(&r[2])? as i64,
            })
        }))
    }

    fn catalog_version(&self, schema: &str) -> Result<String> {
        let _timing = self.stats.start(QueryKind::Catalog);
        let rows = self.rows(
            // Columns only (their names and types): information_schema answers these from the
            // table definitions, without opening tables another client may have locked.
            "SELECT COUNT(*), COUNT(DISTINCT TABLE_NAME), \
               COALESCE(SUM(CRC32(CONCAT_WS(' ', TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, \
                 IS_NULLABLE, COLUMN_KEY))), 0) \
             FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ?",
            vec![Value::from(schema)],
        )?;
        Ok(rows
            .first()
            .map(|r| {
                r.iter()
                    .map(|v| v.as_sql(true))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
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
        let rows = self.rows(&select.sql, vec![])?;
        rows.into_iter()
            .map(|r| self.decode_row(table, &select, r))
            .collect()
    }

    fn list_rows_page(
        &self,
        table: &TableInfo,
        from: PageStart<'_>,
        limit: usize,
    ) -> Result<Vec<RowFacts>> {
        let _slot = self.slots.enter(&qualified(table));
        let _timing = self.stats.start(QueryKind::Page);
        let select = RowSelect::new(table);
        let (condition, params) = match from {
            PageStart::First => (String::new(), Vec::new()),
            PageStart::After(key) => key_range(table, key, false),
            PageStart::At(key) => key_range(table, key, true),
        };
        let order: Vec<String> = table
            .key
            .iter()
            .map(|&i| key_order_expr(&table.columns[i]))
            .collect();
        let sql = format!(
            "{}{condition} ORDER BY {} LIMIT {limit}",
            select.sql,
            order.join(", ")
        );
        let rows = self.rows(&sql, params)?;
        rows.into_iter()
            .map(|r| self.decode_row(table, &select, r))
            .collect()
    }

    /// The row with these key values (text, as in folder names), by one point query.
    fn find_row(&self, table: &TableInfo, key: &[String]) -> Result<Option<RowFacts>> {
        let _slot = self.slots.enter(&qualified(table));
        let _timing = self.stats.start(QueryKind::Row);
        let select = RowSelect::new(table);
        let (condition, params) = key_condition(table, key);
        let sql = format!("{} WHERE {condition}", select.sql);
        let mut rows = self.rows(&sql, params)?;
        match rows.pop() {
            Some(r) => Ok(Some(self.decode_row(table, &select, r)?)),
            None => Ok(None),
        }
    }

    /// The full stored value of one column of one row (None: row gone or value NULL).
    fn fetch_value(
        &self,
        table: &TableInfo,
        key: &[String],
        column: usize,
    ) -> Result<Option<Vec<u8>>> {
        let _slot = self.slots.enter(&qualified(table));
        let _timing = self.stats.start(QueryKind::Value);
        let (condition, params) = key_condition(table, key);
        let sql = format!(
            "SELECT t.{} FROM {} AS t WHERE {condition}",
            quote(&table.columns[column].name),
            qualified(table)
        );
        let mut rows = self.rows(&sql, params)?;
        // Moved out, not copied: values can be hundreds of MiB.
        Ok(rows.pop().and_then(|mut r| match r.swap_remove(0) {
            Value::Bytes(b) => Some(b),
            other => bytes(&other),
        }))
    }

    /// The objects a schema tracks in one store; with `unused_only`, those no row references
    /// (the client's `unused()`, but with NOT EXISTS so NULLs in nullable referencing columns
    /// do not hide every object, spec §3.9).
    fn tracked(&self, schema: &str, store: &str, unused_only: bool) -> Result<Vec<Tracked>> {
        let _slot = self.slots.enter(&format!("{schema}.~external_{store}"));
        let _timing = self.stats.start(QueryKind::Tracked);
        let tracking = format!("~external_{store}");
        let mut sql = format!(
            "SELECT e.`hash`, e.`size`, e.`attachment_name`, e.`filepath`, \
             UNIX_TIMESTAMP(e.`timestamp`) FROM {}.{} AS e",
            quote(schema),
            quote(&tracking)
        );
        if unused_only {
            let refs = self.rows(
                "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE \
                 WHERE REFERENCED_TABLE_SCHEMA = ? AND REFERENCED_TABLE_NAME = ? \
                 ORDER BY TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME",
                vec![schema.into(), tracking.as_str().into()],
            )?;
            let conditions: Vec<String> = refs
                .iter()
                .map(|r| {
                    let (s, t, c) = (
                        text(&r[0]).unwrap_or_default(),
                        text(&r[1]).unwrap_or_default(),
                        text(&r[2]).unwrap_or_default(),
                    );
                    format!(
                        "NOT EXISTS (SELECT 1 FROM {}.{} AS r WHERE r.{} = e.`hash`)",
                        quote(&s),
                        quote(&t),
                        quote(&c)
                    )
                })
                .collect();
            if !conditions.is_empty() {
                sql.push_str(" WHERE ");
                sql.push_str(&conditions.join(" AND "));
            }
        }
        sql.push_str(" ORDER BY e.`hash`");
        use crate::stores::paths::TrackedKind;
        Ok(self
            .rows(&sql, vec![])?
            .iter()
            .filter_map(|r| {
                let hash = bytes(&r[0])?;
                let size = int(&r[1]).unwrap_or(0);
                let kind = match (text(&r[2]), text(&r[3])) {
                    (Some(name), _) => TrackedKind::Attachment(name),
                    (None, Some(path)) => TrackedKind::Filepath(path),
                    (None, None) => TrackedKind::Blob,
                };
                let timestamp = match &r[4] {
                    Value::Int(t) => Some(*t),
                    Value::UInt(t) => Some(*t as i64),
                    v => text(v).and_then(|t| t.split('.').next()?.parse().ok()),
                };
                Some(Tracked {
                    hash,
                    size,
                    kind,
                    timestamp,
                })
            })
            .collect())
    }

    /// Whether `~external_<store>` of the schema has a row with this hash (false when the
    /// schema or the tracking table does not exist).
    fn tracking_exists(&self, schema: &str, store: &str, hash: &[u8]) -> Result<bool> {
        let _slot = self.slots.enter(&format!("{schema}.~external_{store}"));
        let _timing = self.stats.start(QueryKind::Tracked);
        let sql = format!(
            "SELECT 1 FROM {}.{} WHERE `hash` = ?",
            quote(schema),
            quote(&format!("~external_{store}"))
        );
        match self.rows(&sql, vec![Value::Bytes(hash.to_vec())]) {
            Ok(rows) => Ok(!rows.is_empty()),
            Err(e) => {
                let missing = e.chain().any(|c| {
                    matches!(
                        c.downcast_ref::<mysql::Error>(),
                        Some(mysql::Error::MySqlError(m)) if m.code == 1146 || m.code == 1049
                    )
                });
                if missing {
                    Ok(false)
                } else {
                    Err(e)
                }
            }
        }
    }

    /// In one transaction: the tracking rows, then the row's new values (UPDATE), or the whole
    /// new row (INSERT when `insert`, `values` then holding every column to set incl. the key).
    /// An UPDATE of a row that is gone fails with "row not found".
    fn write_row(
        &self,
        table: &TableInfo,
        key: &[String],
        values: &[(usize, ColumnValue)],
        tracking: &[TrackingRow],
        insert: bool,
    ) -> Result<()> {
        let _slot = self.slots.enter(&qualified(table));
        let _timing = self.stats.start(QueryKind::Write);
        self.queries.fetch_add(1, Ordering::Relaxed);
        let mut conn = self.pool.get_conn().context("database connection")?;
        let mut tx = conn
            .start_transaction(mysql::TxOpts::default())
            .context("starting a transaction")?;
        for t in tracking {
            let (sql, params) = Self::tracking_sql(&table.schema, t);
            tx.exec_drop(sql, params)
                .map_err(|e| refused_or(e, "adding the tracking row"))?;
        }
        if insert {
            let mut cols = Vec::new();
            let mut marks = Vec::new();
            let mut params = Vec::new();
            for (&i, k) in table.key.iter().zip(key) {
                let (mark, value) = ColumnValue::Text(k.clone()).sql(table, i);
                let (mark, value) = match table.columns[i].kind {
                    AttrKind::Binary => ("UNHEX(?)", Value::from(k.as_str())),
                    _ => (mark, value),
                };
                cols.push(quote(&table.columns[i].name));
                marks.push(mark);
                params.push(value);
            }
            for (i, v) in values {
                if table.key.contains(i) {
                    continue;
                }
                let (mark, value) = v.sql(table, *i);
                cols.push(quote(&table.columns[*i].name));
                marks.push(mark);
                params.push(value);
            }
            let sql = format!(
                "INSERT INTO {} ({}) VALUES ({})",
                qualified(table),
                cols.join(", "),
                marks.join(", ")
            );
            tx.exec_drop(sql, params)
                .map_err(|e| refused_or(e, "inserting the row"))?;
        } else {
            let (condition, key_params) = key_condition(table, key);
            let exists: Option<u8> = tx
                .exec_first(
                    format!(
                        "SELECT 1 FROM {} AS t WHERE {condition} FOR UPDATE",
                        qualified(table)
                    ),
                    key_params.clone(),
                )
                .context("locking the row")?;
            if exists.is_none() {
                return Err(RowGone.into());
            }
            let mut sets = Vec::new();
            let mut params = Vec::new();
            for (i, v) in values {
                let (mark, value) = v.sql(table, *i);
                sets.push(format!("t.{} = {mark}", quote(&table.columns[*i].name)));
                params.push(value);
            }
            params.extend(key_params);
            let sql = format!(
                "UPDATE {} AS t SET {} WHERE {condition}",
                qualified(table),
                sets.join(", ")
            );
            tx.exec_drop(sql, params)
                .map_err(|e| refused_or(e, "updating the row"))?;
        }
        tx.commit().context("committing")?;
        Ok(())
    }

    /// What a column holds now, as a fingerprint to compare later: `None` when the row is gone,
    /// `Some(None)` for NULL, else the MD5 of the stored bytes (computed by the server, so a
    /// large blob is not sent).
    fn value_fingerprint(
        &self,
        table: &TableInfo,
        key: &[String],
        column: usize,
    ) -> Result<Option<Option<String>>> {
        let _slot = self.slots.enter(&qualified(table));
        let _timing = self.stats.start(QueryKind::Value);
        let (condition, params) = key_condition(table, key);
        let rows = self.rows(
            &format!(
                "SELECT MD5(t.{}) FROM {} AS t WHERE {condition}",
                quote(&table.columns[column].name),
                qualified(table)
            ),
            params,
        )?;
        Ok(rows.first().map(|r| text(&r[0])))
    }

    /// Sets a column to NULL only if it still holds the value `fingerprint` describes (see
    /// `value_fingerprint`): an `rm` must not undo a value written after it, by this mount or
    /// another. Returns whether the row was changed.
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
        let (condition, mut params) = key_condition(table, key);
        let name = quote(&table.columns[column].name);
        params.push(match fingerprint {
            Some(md5) => Value::from(md5.as_str()),
            None => Value::NULL,
        });
        let mut conn = self.pool.get_conn().context("database connection")?;
        conn.exec_drop(
            format!(
                "UPDATE {} AS t SET t.{name} = NULL WHERE {condition} AND MD5(t.{name}) <=> ?",
                qualified(table)
            ),
            params,
        )
        .context("setting NULL")?;
        Ok(conn.affected_rows() > 0)
    }

    /// Tables whose foreign keys reference `table` (hidden tables excluded).
    fn dependents(&self, schema: &str, table: &str) -> Result<Vec<Dependent>> {
        let _timing = self.stats.start(QueryKind::Dependents);
        let rows = self.rows(
            "SELECT TABLE_SCHEMA, TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME, REFERENCED_COLUMN_NAME \
             FROM information_schema.KEY_COLUMN_USAGE \
             WHERE REFERENCED_TABLE_SCHEMA = ? AND REFERENCED_TABLE_NAME = ? \
             ORDER BY TABLE_SCHEMA, TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION",
            vec![schema.into(), table.into()],
        )?;
        let column = |r: &[Value], i: usize| text(&r[i]).unwrap_or_default();
        Ok(super::sql::group_dependents(rows.iter().map(|r| {
            super::sql::ForeignKeyColumn {
                schema: column(r, 0),
                table: column(r, 1),
                constraint: column(r, 2),
                column: column(r, 3),
                referenced: column(r, 4),
            }
        })))
    }

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
        let (restriction, params) = restriction(root, key, path, "t");
        let rows = self.rows(
            &format!(
                "SELECT COUNT(*) FROM {}.{} AS t WHERE {restriction}",
                quote(&last.schema),
                quote(&last.table)
            ),
            params,
        )?;
        Ok(rows.first().and_then(|r| int(&r[0])).unwrap_or(0))
    }

    fn delete_rows(
        &self,
        root: &TableInfo,
        key: &[String],
        steps: &[Vec<Dependent>],
    ) -> Result<Vec<u64>> {
        let _timing = self.stats.start(QueryKind::Delete);
        self.queries.fetch_add(1, Ordering::Relaxed);
        let mut conn = self.pool.get_conn().context("database connection")?;
        let mut tx = conn
            .start_transaction(mysql::TxOpts::default())
            .context("starting a transaction")?;
        let mut counts = Vec::new();
        for path in steps {
            let (schema, table) = match path.last() {
                Some(d) => (d.schema.as_str(), d.table.as_str()),
                None => (root.schema.as_str(), root.name.as_str()),
            };
            let target = format!("{}.{}", quote(schema), quote(table));
            let (restriction, params) = restriction(root, key, path, &target);
            tx.exec_drop(format!("DELETE FROM {target} WHERE {restriction}"), params)
                .map_err(|e| refused_or(e, &format!("deleting from {schema}.{table}")))?;
            counts.push(tx.affected_rows());
        }
        tx.commit().context("committing")?;
        Ok(counts)
    }

    /// Deletes one tracking row if no row references it (checked in the same statement); returns
    /// the deleted row's columns to restore it if removing the object fails, or None when it is
    /// referenced (or gone).
    fn delete_unused_tracking(
        &self,
        schema: &str,
        store: &str,
        hash: &[u8],
    ) -> Result<Option<SavedTracking>> {
        let _slot = self.slots.enter(&format!("{schema}.~external_{store}"));
        let _timing = self.stats.start(QueryKind::Delete);
        let tracking = format!("~external_{store}");
        let saved = self.rows(
            &format!(
                "SELECT `hash`, `size`, `attachment_name`, `filepath`, `contents_hash`, CAST(`timestamp` AS CHAR) \
                 FROM {}.{} WHERE `hash` = ?",
                quote(schema),
                quote(&tracking)
            ),
            vec![Value::Bytes(hash.to_vec())],
        )?;
        let Some(saved) = saved.into_iter().next() else {
            return Ok(None);
        };
        let saved = SavedTracking {
            hash: bytes(&saved[0]).unwrap_or_default(),
            size: int(&saved[1]).unwrap_or(0),
            attachment_name: text(&saved[2]),
            filepath: text(&saved[3]),
            contents_hash: bytes(&saved[4]),
            timestamp: text(&saved[5]),
        };
        // The foreign keys (ON DELETE RESTRICT) refuse to delete a referenced row.
        self.queries.fetch_add(1, Ordering::Relaxed);
        let mut conn = self.pool.get_conn().context("database connection")?;
        let result = conn.exec_drop(
            format!(
                "DELETE FROM {}.{} WHERE `hash` = ?",
                quote(schema),
                quote(&tracking)
            ),
            vec![Value::Bytes(hash.to_vec())],
        );
        match result {
            Ok(()) if conn.affected_rows() == 1 => Ok(Some(saved)),
            Ok(()) => Ok(None),
            Err(mysql::Error::MySqlError(e)) if e.code == 1451 => Ok(None),
            Err(e) => Err(e).context("deleting the tracking row"),
        }
    }

    /// Puts back a tracking row saved by `delete_unused_tracking`.
    fn restore_tracking(&self, schema: &str, store: &str, saved: SavedTracking) -> Result<()> {
        let _slot = self.slots.enter(&format!("{schema}.~external_{store}"));
        let _timing = self.stats.start(QueryKind::Delete);
        self.rows(
            &format!(
                "INSERT INTO {}.{} (`hash`, `size`, `attachment_name`, `filepath`, `contents_hash`, `timestamp`) \
                 VALUES (?, ?, ?, ?, ?, ?)",
                quote(schema),
                quote(&format!("~external_{store}"))
            ),
            vec![
                Value::Bytes(saved.hash),
                saved.size.into(),
                saved.attachment_name.map_or(Value::NULL, Value::from),
                saved.filepath.map_or(Value::NULL, Value::from),
                saved.contents_hash.map_or(Value::NULL, Value::Bytes),
                saved.timestamp.map_or(Value::NULL, Value::from),
            ],
        )?;
        Ok(())
    }

    fn stored_references(&self, schema: &str) -> Result<Vec<StoredRef>> {
        let _timing = self.stats.start(QueryKind::Tracked);
        self.queries.fetch_add(1, Ordering::Relaxed);
        let mut conn = self.pool.get_conn().context("database connection")?;
        let mut out = Vec::new();
        for table in reference_tables(&mut conn, schema)? {
            self.queries.fetch_add(1, Ordering::Relaxed);
            table_references(&mut conn, schema, &table, false, &mut out)?;
        }
        Ok(out)
    }

    fn with_stored_references_held(
        &self,
        schema: &str,
        then: &mut dyn FnMut(&[StoredRef]) -> Result<()>,
    ) -> Result<()> {
        let _timing = self.stats.start(QueryKind::Delete);
        self.queries.fetch_add(1, Ordering::Relaxed);
        let mut conn = self.pool.get_conn().context("database connection")?;
        // Row locks wait as long as table locks do (20 s), then fail as busy.
        conn.query_drop("SET SESSION innodb_lock_wait_timeout = 20")
            .context("database query")?;
        // REPEATABLE READ: locking reads of a whole table hold the gaps too (no insert).
        let mut tx = conn
            .start_transaction(
                mysql::TxOpts::default()
                    .set_isolation_level(Some(mysql::IsolationLevel::RepeatableRead)),
            )
            .context("starting a transaction")?;
        let busy = |e: anyhow::Error| {
            let locked = e.chain().any(|c| {
                matches!(
                    c.downcast_ref::<mysql::Error>(),
                    Some(mysql::Error::MySqlError(m)) if m.code == 1205 || m.code == 1213
                )
            });
            if locked {
                anyhow::Error::new(Busy(format!(
                    "the tables of {schema} with stored columns stayed locked by another client"
                )))
            } else {
                e.context(format!("reading the stored references of {schema}"))
            }
        };
        let mut refs = Vec::new();
        for table in reference_tables(&mut tx, schema).map_err(busy)? {
            self.queries.fetch_add(1, Ordering::Relaxed);
            table_references(&mut tx, schema, &table, true, &mut refs).map_err(busy)?;
        }
        then(&refs)?;
        tx.commit().context("ending the transaction")
    }
}

/// The tables of `schema` with columns that may hold 2.x references (one catalog query).
fn reference_tables(conn: &mut impl Queryable, schema: &str) -> Result<Vec<RefTable>> {
    let rows: Vec<mysql::Row> = conn
        .exec(
            "SELECT c.TABLE_NAME, c.COLUMN_NAME, c.COLUMN_TYPE, c.COLUMN_COMMENT \
             FROM information_schema.COLUMNS c JOIN information_schema.TABLES t \
               ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME \
             WHERE c.TABLE_SCHEMA = ? AND t.TABLE_TYPE = 'BASE TABLE' \
               AND c.COLUMN_COMMENT LIKE ':<%' \
             ORDER BY c.TABLE_NAME, c.ORDINAL_POSITION",
            (schema,),
        )
        .context("database query")?;
    Ok(crate::orphans::reference_tables(rows.into_iter().map(
        |r| {
            let r = r.unwrap();
            (
                text(&r[0]).unwrap_or_default(),
                text(&r[1]).unwrap_or_default(),
                text(&r[2]).unwrap_or_default(),
                text(&r[3]).unwrap_or_default(),
            )
        },
    )))
}

/// One table's references: its reference columns, rows with any of them set; with `lock`, a
/// locking read (shared locks on every row read and the gaps between them).
fn table_references(
    conn: &mut impl Queryable,
    schema: &str,
    table: &RefTable,
    lock: bool,
    out: &mut Vec<StoredRef>,
) -> Result<()> {
    let columns: Vec<String> = table
        .columns
        .iter()
        .map(|c| format!("t.{}", quote(&c.name)))
        .collect();
    let sql = format!(
        "SELECT {} FROM {}.{} AS t WHERE {}{}",
        columns.join(", "),
        quote(schema),
        quote(&table.name),
        columns
            .iter()
            .map(|c| format!("{c} IS NOT NULL"))
            .collect::<Vec<_>>()
            .join(" OR "),
        if lock { " LOCK IN SHARE MODE" } else { "" }
    );
    let rows: Vec<mysql::Row> = conn.query(sql).context("database query")?;
    for row in rows {
        let values: Vec<Option<Vec<u8>>> = row.unwrap().iter().map(bytes).collect();
        table.references(values.iter().map(|v| v.as_deref()), out);
    }
    Ok(())
}

/// How each column is fetched in a listing.
enum Fetch {
    /// one value: text (or hex for uuid, raw bytes for binary)
    Text,
    /// LENGTH and the first bytes
    Blob,
    /// LENGTH and the first bytes (name up to the NUL)
    Attach,
    /// the hash plus the tracking row's attachment_name, filepath, size
    External,
}

/// The SELECT of a listing: one per table, shared by the point query.
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
                AttrKind::Text | AttrKind::Stored { .. } => {
                    exprs.push(format!("CAST({c} AS CHAR)"));
                    fetches.push(Fetch::Text);
                }
                AttrKind::Uuid => {
                    exprs.push(format!("HEX({c})"));
                    fetches.push(Fetch::Text);
                }
                AttrKind::Binary => {
                    exprs.push(c);
                    fetches.push(Fetch::Text);
                }
                AttrKind::Blob => {
                    exprs.push(format!("LENGTH({c})"));
                    exprs.push(format!("SUBSTRING({c}, 1, {BLOB_HEAD_BYTES})"));
                    exprs.push(content_digest_sql(&c));
                    fetches.push(Fetch::Blob);
                }
                AttrKind::Attach => {
                    exprs.push(format!("LENGTH({c})"));
                    exprs.push(format!("SUBSTRING({c}, 1, {ATTACH_NAME_SCAN})"));
                    exprs.push(content_digest_sql(&c));
                    fetches.push(Fetch::Attach);
                }
                AttrKind::External { store, .. } => {
                    let x = format!("x{i}");
                    joins.push_str(&format!(
                        " LEFT JOIN {}.{} AS {x} ON {x}.`hash` = {c}",
                        quote(&table.schema),
                        quote(&format!("~external_{store}"))
                    ));
                    exprs.push(c);
                    exprs.push(format!("{x}.`attachment_name`"));
                    exprs.push(format!("{x}.`filepath`"));
                    exprs.push(format!("{x}.`size`"));
                    exprs.push(format!("UNIX_TIMESTAMP({x}.`timestamp`)"));
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

/// `super::content_digest` of column expression `c`, computed by the server.
fn content_digest_sql(c: &str) -> String {
    format!(
        "IF(LENGTH({c}) <= 1048576, UNHEX(MD5({c})), \
         UNHEX(MD5(CONCAT(LENGTH({c}), SUBSTRING({c}, 1, 1024), SUBSTRING({c}, -1024)))))"
    )
}

/// `WHERE` condition and parameters selecting one row by its key texts (table alias `t`).
fn key_condition(table: &TableInfo, key: &[String]) -> (String, Vec<Value>) {
    key_condition_as(table, key, "t")
}

/// ` WHERE` the key is after (or, `inclusive`, at or after) `key`, in key order, spelled out
/// column by column (`k1 > ? OR (k1 = ? AND k2 > ?)`) so that the server's range optimizer uses
/// the primary key whatever its version.
fn key_range(table: &TableInfo, key: &[String], inclusive: bool) -> (String, Vec<Value>) {
    let term = |i: usize, value: &str, op: &str| -> (String, Value) {
        let column = &table.columns[i];
        let c = key_order_expr(column);
        match column.kind {
            AttrKind::Uuid | AttrKind::Binary => {
                (format!("{c} {op} UNHEX(?)"), value.replace('-', "").into())
            }
            _ => (format!("{c} {op} ?"), value.into()),
        }
    };
    let mut alternatives = Vec::new();
    let mut params = Vec::new();
    let n = table.key.len().min(key.len());
    for last in 0..n {
        let mut parts = Vec::new();
        for (j, (&i, value)) in table.key.iter().zip(key).take(last + 1).enumerate() {
            let op = if j < last {
                "="
            } else if inclusive && last + 1 == n {
                ">="
            } else {
                ">"
            };
            let (sql, param) = term(i, value, op);
            parts.push(sql);
            params.push(param);
        }
        alternatives.push(format!("({})", parts.join(" AND ")));
    }
    (format!(" WHERE {}", alternatives.join(" OR ")), params)
}

/// A key column as pages are ordered and compared by. ENUM and SET columns sort by their
/// members' positions but compare with a string by text: they are ordered by their text, so that
/// `> last` and `ORDER BY` agree.
fn key_order_expr(column: &crate::catalog::ColumnInfo) -> String {
    let c = format!("t.{}", quote(&column.name));
    let t = column.column_type.to_ascii_lowercase();
    if t.starts_with("enum(") || t.starts_with("set(") {
        format!("CAST({c} AS CHAR)")
    } else {
        c
    }
}

/// The same for another table alias.
fn key_condition_as(table: &TableInfo, key: &[String], alias: &str) -> (String, Vec<Value>) {
    let mut parts = Vec::new();
    let mut params = Vec::new();
    for (&i, value) in table.key.iter().zip(key) {
        let column = &table.columns[i];
        let c = format!("{alias}.{}", quote(&column.name));
        match column.kind {
            AttrKind::Uuid | AttrKind::Binary => {
                parts.push(format!("{c} = UNHEX(?)"));
                params.push(value.replace('-', "").into());
            }
            _ => {
                parts.push(format!("{c} = ?"));
                params.push(value.as_str().into());
            }
        }
    }
    (parts.join(" AND "), params)
}

/// The restriction selecting, in the last table of `path` (alias `top`), the rows that depend
/// on the root row `key` (see `sql::dependents_restriction`).
fn restriction(
    root: &TableInfo,
    key: &[String],
    path: &DependencyPath,
    top: &str,
) -> (String, Vec<Value>) {
    super::sql::dependents_restriction(root, path, top, quote, &|alias| {
        key_condition_as(root, key, alias)
    })
}

fn bytes(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::NULL => None,
        Value::Bytes(b) => Some(b.clone()),
        other => Some(other.as_sql(true).into_bytes()),
    }
}

fn text(v: &Value) -> Option<String> {
    bytes(v).map(|b| String::from_utf8_lossy(&b).into_owned())
}

fn int(v: &Value) -> Option<u64> {
    match v {
        Value::Int(i) => u64::try_from(*i).ok(),
        Value::UInt(u) => Some(*u),
        Value::Bytes(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        _ => None,
    }
}

/// `HEX()` of a uuid column → `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, lowercase.
fn format_uuid(hex_upper: &[u8]) -> String {
    let text = String::from_utf8_lossy(hex_upper);
    match uuid::Uuid::try_parse(&text) {
        Ok(u) => u.hyphenated().to_string(),
        Err(_) => text.to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{ColumnInfo, ExternalKind};
    use crate::naming::Tier;

    fn column(name: &str, kind: AttrKind) -> ColumnInfo {
        ColumnInfo {
            name: name.into(),
            column_type: String::new(),
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
            schema: "s`x".into(),
            name: "test".into(),
            class_name: "Test".into(),
            tier: Tier::Manual,
            columns: vec![
                column("id", AttrKind::Text),
                column("u", AttrKind::Uuid),
                column("b", AttrKind::Blob),
                column(
                    "a",
                    AttrKind::External {
                        store: "local".into(),
                        kind: ExternalKind::Attach,
                    },
                ),
            ],
            key: vec![0, 1],
        }
    }

    #[test]
    fn select_quotes_names_and_joins_tracking_tables() {
        let select = RowSelect::new(&table());
        assert_eq!(
            select.sql,
            "SELECT CAST(t.`id` AS CHAR), HEX(t.`u`), LENGTH(t.`b`), SUBSTRING(t.`b`, 1, 1024), \
             IF(LENGTH(t.`b`) <= 1048576, UNHEX(MD5(t.`b`)), UNHEX(MD5(CONCAT(LENGTH(t.`b`), \
             SUBSTRING(t.`b`, 1, 1024), SUBSTRING(t.`b`, -1024))))), \
             t.`a`, x3.`attachment_name`, x3.`filepath`, x3.`size`, UNIX_TIMESTAMP(x3.`timestamp`) \
             FROM `s``x`.`test` AS t \
             LEFT JOIN `s``x`.`~external_local` AS x3 ON x3.`hash` = t.`a`"
        );
    }

    #[test]
    fn key_values_are_parameters() {
        let (sql, params) = key_condition(
            &table(),
            &[
                "1' OR 1=1".into(),
                "00112233-4455-6677-8899-aabbccddeeff".into(),
            ],
        );
        assert_eq!(sql, "t.`id` = ? AND t.`u` = UNHEX(?)");
        assert_eq!(
            params,
            vec![
                Value::from("1' OR 1=1"),
                Value::from("00112233445566778899aabbccddeeff")
            ]
        );
    }

    #[test]
    fn uuid_text() {
        assert_eq!(
            format_uuid(b"00112233445566778899AABBCCDDEEFF"),
            "00112233-4455-6677-8899-aabbccddeeff"
        );
    }
}
