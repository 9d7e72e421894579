//! The catalog: what tables a schema has and what each column holds, read from MySQL's
//! information_schema (spec §4) and interpreted the way DataJoint 0.12–0.14 does.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use crate::naming::{classify_table, Tier};

/// How a column's stored value becomes a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttrKind {
    /// Numbers, strings, dates, enums, json…: the text MySQL prints for the value.
    Text,
    /// `: uuid` (`binary(16)`, comment `:uuid:`): lowercase hyphenated text.
    Uuid,
    /// Other `binary`/`varbinary` columns: the raw bytes.
    Binary,
    /// A serialized DataJoint blob stored in the table (`longblob` etc. without a label).
    Blob,
    /// An attachment stored in the table (`:attach:` LONGBLOB holding `name\0contents`).
    Attach,
    /// `blob@store`, `attach@store`, `filepath@store`: a 16-byte hash referencing `~external_<store>`.
    External { store: String, kind: ExternalKind },
    /// A DataJoint 2.x codec whose table value is JSON metadata (`:<blob@s>:`, `:<object@s>:`,
    /// add-on codecs such as `:<zarr@s>:` on a json column): the object, if any, is in a store
    /// at `metadata.path`. Shown as what the object holds (`crate::stored`,
    /// `namespace::row_entries_with`); an add-on codec as `<attr>.json` holding the metadata.
    Stored {
        codec: StoredCodec,
        /// The store after `@` (empty: `stores.default`); None when the label has no `@`.
        store: Option<String>,
    },
}

/// The codec of a 2.x column whose value is JSON metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoredCodec {
    /// `<blob@s>`: a serialized blob, hash-addressed.
    Blob,
    /// `<attach@s>`: `filename\0contents`, hash-addressed.
    Attach,
    /// `<hash@s>`: raw bytes, hash-addressed.
    Hash,
    /// `<npy@s>`: a `.npy` file, schema-addressed.
    Npy,
    /// `<object@s>`: a file or a folder, schema-addressed.
    Object,
    /// `<filepath@s>`: the user's own file or folder in the store.
    Filepath,
    /// Any other (add-on) codec, by name.
    Other(String),
}

impl StoredCodec {
    /// The codec's name as a label writes it (`blob` in `<blob@s>`).
    pub fn name(&self) -> &str {
        match self {
            StoredCodec::Blob => "blob",
            StoredCodec::Attach => "attach",
            StoredCodec::Hash => "hash",
            StoredCodec::Npy => "npy",
            StoredCodec::Object => "object",
            StoredCodec::Filepath => "filepath",
            StoredCodec::Other(name) => name,
        }
    }

    fn from_name(name: &str) -> StoredCodec {
        match name {
            "blob" => StoredCodec::Blob,
            "attach" => StoredCodec::Attach,
            "hash" => StoredCodec::Hash,
            "npy" => StoredCodec::Npy,
            "object" => StoredCodec::Object,
            "filepath" => StoredCodec::Filepath,
            other => StoredCodec::Other(other.to_string()),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExternalKind {
    Blob,
    Attach,
    Filepath,
}

#[derive(Clone, Debug)]
pub struct ColumnInfo {
    pub name: String,
    pub column_type: String,
    pub nullable: bool,
    /// Whether an INSERT may leave it out (nullable, a default, or auto_increment).
    pub has_default: bool,
    pub kind: AttrKind,
    /// Names starting with `_` are hidden by DataJoint (e.g. the hidden timestamp).
    pub hidden: bool,
    /// The value is JSON text (a `json`/`jsonb` column, or DataJoint 2.x's `:json:` label on
    /// MariaDB's `longtext`): what is written must parse as JSON.
    pub json: bool,
    /// PostgreSQL: the enum type a value of this column is cast to (`"lab"."enum_1a2b3c4d"`),
    /// whose labels `column_type` lists as `enum('a','b')`. None elsewhere.
    pub enum_type: Option<String>,
}

#[derive(Debug)]
pub struct TableInfo {
    pub schema: String,
    /// The MySQL table name (`#web_image`).
    pub name: String,
    /// The DataJoint class name (`WebImage`, `Session.Trial`): the folder name.
    pub class_name: String,
    pub tier: Tier,
    pub columns: Vec<ColumnInfo>,
    /// Indices into `columns`, in primary-key order.
    pub key: Vec<usize>,
}

impl TableInfo {
    pub fn key_names(&self) -> Vec<&str> {
        self.key
            .iter()
            .map(|&i| self.columns[i].name.as_str())
            .collect()
    }
}

#[derive(Debug, Default)]
pub struct SchemaCatalog {
    pub schema: String,
    /// User tables, sorted by class name.
    pub tables: Vec<Arc<TableInfo>>,
    /// Stores this schema tracks objects of (it has a `~external_<store>` table), sorted.
    pub stores: Vec<String>,
    /// What a table's definition says (columns with defaults and comments, foreign keys,
    /// indexes, table comment), by MySQL table name, for the user tables in `tables`.
    pub definitions: HashMap<String, TableDef>,
    /// The schema diagram (`.diagram.svg`, `.diagram.dot`), rendered on first use.
    pub diagram: OnceLock<DiagramFiles>,
}

/// The bytes of `.diagram.svg` and `.diagram.dot`.
pub type DiagramFiles = (Arc<[u8]>, Arc<[u8]>);

impl SchemaCatalog {
    pub fn by_class(&self, class_name: &str) -> Option<&Arc<TableInfo>> {
        self.tables.iter().find(|t| t.class_name == class_name)
    }

    /// A user table by its MySQL name (`#web_image`).
    pub fn by_table_name(&self, name: &str) -> Option<&Arc<TableInfo>> {
        self.tables.iter().find(|t| t.name == name)
    }

    /// The dependencies between this schema's user tables as DataJoint's dependency graph has
    /// them: one per foreign key (parent → child), children by class name, each child's keys in
    /// its foreign-key order.
    pub fn dependencies(&self) -> Vec<Dependency> {
        let mut out = Vec::new();
        for child in &self.tables {
            let Some(def) = self.definitions.get(&child.name) else {
                continue;
            };
            let key: Vec<&str> = child.key_names();
            for fk in &def.foreign_keys {
                if fk.referenced_schema != self.schema {
                    continue;
                }
                let Some(parent) = self.by_table_name(&fk.referenced_table) else {
                    continue;
                };
                let columns: Vec<&str> = fk.columns.iter().map(|(c, _)| c.as_str()).collect();
                let primary = columns.iter().all(|c| key.contains(c));
                let multi = !(primary && key.iter().all(|k| columns.contains(k)));
                out.push(Dependency {
                    parent: parent.class_name.clone(),
                    child: child.class_name.clone(),
                    primary,
                    multi,
                    aliased: fk.columns.iter().any(|(c, r)| c != r),
                });
            }
        }
        out
    }
}

/// One foreign key between two tables of a schema, with DataJoint's edge properties.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dependency {
    /// Class names.
    pub parent: String,
    pub child: String,
    /// Every foreign-key column is in the child's primary key (a solid line in diagrams).
    pub primary: bool,
    /// The foreign-key columns are not exactly the child's primary key (a thin line).
    pub multi: bool,
    /// Some column is renamed (`-> Parent.proj(new="old")`).
    pub aliased: bool,
}

/// A column as the table's definition declares it (what `describe()` reads back).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnDef {
    pub name: String,
    /// MySQL's column type (`int(11)`, `varchar(64)`, `enum('a','b')`).
    pub column_type: String,
    pub nullable: bool,
    /// The default as `SHOW COLUMNS` prints it (unquoted text, `current_timestamp()`); None
    /// when the column has none (or its default is NULL).
    pub default: Option<String>,
    /// The stored comment, with DataJoint's `:type:` prefix if any.
    pub comment: String,
    pub auto_increment: bool,
    pub in_key: bool,
}

/// A foreign key of a table: the referenced table and (column, referenced column) pairs in
/// constraint order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForeignKey {
    pub name: String,
    pub referenced_schema: String,
    pub referenced_table: String,
    pub columns: Vec<(String, String)>,
}

/// A secondary index (not the primary key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexDef {
    pub name: String,
    pub columns: Vec<String>,
    pub unique: bool,
    /// Some column of the index is nullable.
    pub nullable: bool,
}

/// What `Table/.definition` is rendered from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableDef {
    /// The table comment (the definition's first `# ...` line).
    pub comment: String,
    /// Every column in ordinal order (hidden ones too).
    pub columns: Vec<ColumnDef>,
    /// Foreign keys to user tables (not to `~external_*`), in the order InnoDB reports them
    /// (by constraint name), as the client's dependency graph has them.
    pub foreign_keys: Vec<ForeignKey>,
    /// Secondary indexes in the order `SHOW KEYS` lists them.
    pub indexes: Vec<IndexDef>,
}

/// What a backend reads about a schema before it is interpreted (`build_catalog`): the same
/// three lists whatever the database.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RawCatalog {
    pub columns: Vec<RawColumn>,
    pub indexes: Vec<RawIndexColumn>,
    pub foreign_keys: Vec<RawForeignKeyColumn>,
}

/// One row of information_schema.COLUMNS for a base table.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RawColumn {
    pub table: String,
    pub name: String,
    pub column_type: String,
    pub nullable: bool,
    pub has_default: bool,
    pub comment: String,
    /// COLUMN_DEFAULT as information_schema gives it (MariaDB quotes string literals).
    pub default: Option<String>,
    /// EXTRA (`auto_increment`, …).
    pub extra: String,
    /// The table's comment (TABLES.TABLE_COMMENT), repeated on each of its columns.
    pub table_comment: String,
    /// PostgreSQL: an enum column's named type, quoted as a cast names it (see
    /// `ColumnInfo::enum_type`). MySQL's enums are no type of their own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enum_type: Option<String>,
}

/// One row of information_schema.STATISTICS: a column of an index (`PRIMARY` included).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RawIndexColumn {
    pub table: String,
    pub index: String,
    pub seq: u32,
    pub column: String,
    pub unique: bool,
    pub nullable: bool,
}

/// One row of information_schema.KEY_COLUMN_USAGE for a foreign-key column.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RawForeignKeyColumn {
    pub table: String,
    pub constraint: String,
    pub position: u32,
    pub column: String,
    pub referenced_schema: String,
    pub referenced_table: String,
    pub referenced_column: String,
}

/// The default as `SHOW COLUMNS` prints it, from information_schema's COLUMN_DEFAULT: MariaDB
/// (10.2.7+) writes string literals quoted (`'say ''hi'''`) and a NULL default as `NULL`;
/// numbers and expressions (`current_timestamp()`) are as they are.
pub fn show_default(raw: Option<&str>) -> Option<String> {
    let raw = raw?;
    if raw == "NULL" {
        return None;
    }
    let inner = match raw.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
        Some(inner) if raw.len() >= 2 => inner,
        _ => return Some(raw.to_string()),
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            // `''` is one quote.
            '\'' => {
                chars.next();
                out.push('\'');
            }
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some('0') => out.push('\0'),
                Some('Z') => out.push('\x1a'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            },
            other => out.push(other),
        }
    }
    Some(out)
}

/// Assembles the catalog from the three information_schema listings: columns in ordinal order
/// (with their table's comment), index columns (the primary key among them) and foreign-key
/// columns (those referencing `~external_<store>` tables mark external attributes).
pub fn build_catalog(
    schema: &str,
    columns: Vec<RawColumn>,
    indexes: Vec<RawIndexColumn>,
    foreign_keys: Vec<RawForeignKeyColumn>,
) -> SchemaCatalog {
    let external: HashMap<(String, String), String> = foreign_keys
        .iter()
        .filter(|fk| fk.referenced_schema == schema)
        .filter_map(|fk| {
            let store = fk.referenced_table.strip_prefix("~external_")?.to_string();
            Some(((fk.table.clone(), fk.column.clone()), store))
        })
        .collect();
    let mut primary: Vec<&RawIndexColumn> =
        indexes.iter().filter(|i| i.index == "PRIMARY").collect();
    primary.sort_by(|a, b| (&a.table, a.seq).cmp(&(&b.table, b.seq)));
    let primary_keys: Vec<(String, String)> = primary
        .iter()
        .map(|i| (i.table.clone(), i.column.clone()))
        .collect();
    let mut defs: HashMap<String, TableDef> = HashMap::new();
    for raw in &columns {
        let def = defs.entry(raw.table.clone()).or_default();
        def.comment.clone_from(&raw.table_comment);
        def.columns.push(ColumnDef {
            name: raw.name.clone(),
            column_type: raw.column_type.clone(),
            nullable: raw.nullable,
            default: show_default(raw.default.as_deref()),
            comment: raw.comment.clone(),
            auto_increment: raw.extra.to_ascii_lowercase().contains("auto_increment"),
            in_key: primary_keys
                .iter()
                .any(|(t, c)| *t == raw.table && *c == raw.name),
        });
    }
    add_foreign_keys(&mut defs, foreign_keys);
    add_indexes(&mut defs, indexes);

    let mut by_table: Vec<(String, Vec<ColumnInfo>)> = Vec::new();
    for raw in columns {
        let kind = column_kind(
            &raw.column_type,
            &raw.comment,
            external.get(&(raw.table.clone(), raw.name.clone())),
        );
        let json = kind == AttrKind::Text && is_json_column(&raw.column_type, &raw.comment);
        let info = ColumnInfo {
            hidden: raw.name.starts_with('_'),
            name: raw.name,
            column_type: raw.column_type,
            nullable: raw.nullable,
            has_default: raw.has_default || raw.nullable,
            kind,
            json,
            enum_type: raw.enum_type,
        };
        match by_table.last_mut() {
            Some((t, cols)) if *t == raw.table => cols.push(info),
            _ => by_table.push((raw.table, vec![info])),
        }
    }

    let mut stores: Vec<String> = by_table
        .iter()
        .filter_map(|(t, _)| t.strip_prefix("~external_").map(str::to_string))
        .collect();
    stores.sort();
    let mut tables = Vec::new();
    for (name, columns) in by_table {
        let Some((tier, class_name)) = classify_table(&name) else {
            continue;
        };
        let key: Vec<usize> = primary_keys
            .iter()
            .filter(|(t, _)| *t == name)
            .filter_map(|(_, c)| columns.iter().position(|col| col.name == *c))
            .collect();
        if key.is_empty() {
            // DataJoint tables always have a primary key; without one rows cannot be named.
            tracing::warn!(schema, table = %name, "table has no primary key; not shown");
            continue;
        }
        tables.push(Arc::new(TableInfo {
            schema: schema.to_string(),
            name,
            class_name,
            tier,
            columns,
            key,
        }));
    }
    tables.sort_by(|a, b| a.class_name.cmp(&b.class_name));
    tables.dedup_by(|b, a| {
        let dup = a.class_name == b.class_name;
        if dup {
            tracing::warn!(schema, kept = %a.name, hidden = %b.name, class = %a.class_name,
                "two tables map to one class name; showing the first");
        }
        dup
    });
    defs.retain(|name, _| tables.iter().any(|t| t.name == *name));
    SchemaCatalog {
        schema: schema.to_string(),
        tables,
        stores,
        definitions: defs,
        diagram: OnceLock::new(),
    }
}

/// Groups foreign-key columns by constraint (columns in constraint order; constraints ordered by
/// name, byte-wise, as InnoDB lists them). Keys to hidden tables (`~…`) are left out, as in
/// DataJoint's dependency graph.
fn add_foreign_keys(defs: &mut HashMap<String, TableDef>, mut rows: Vec<RawForeignKeyColumn>) {
    rows.retain(|r| !r.referenced_table.starts_with('~'));
    rows.sort_by(|a, b| {
        (a.table.as_bytes(), a.constraint.as_bytes(), a.position).cmp(&(
            b.table.as_bytes(),
            b.constraint.as_bytes(),
            b.position,
        ))
    });
    for r in rows {
        let Some(def) = defs.get_mut(&r.table) else {
            continue;
        };
        match def.foreign_keys.last_mut() {
            Some(fk) if fk.name == r.constraint => {
                fk.columns.push((r.column, r.referenced_column));
            }
            _ => def.foreign_keys.push(ForeignKey {
                name: r.constraint,
                referenced_schema: r.referenced_schema,
                referenced_table: r.referenced_table,
                columns: vec![(r.column, r.referenced_column)],
            }),
        }
    }
}

/// Groups index columns by index, keeping the order in which information_schema lists the
/// indexes of a table (that of `SHOW KEYS`); the primary key is not a secondary index.
fn add_indexes(defs: &mut HashMap<String, TableDef>, rows: Vec<RawIndexColumn>) {
    let mut grouped: Vec<(String, String, Vec<RawIndexColumn>)> = Vec::new();
    let mut position: HashMap<(String, String), usize> = HashMap::new();
    for r in rows {
        if r.index == "PRIMARY" {
            continue;
        }
        let at = *position
            .entry((r.table.clone(), r.index.clone()))
            .or_insert_with(|| {
                grouped.push((r.table.clone(), r.index.clone(), Vec::new()));
                grouped.len() - 1
            });
        grouped[at].2.push(r);
    }
    for (table, name, mut cols) in grouped {
        let Some(def) = defs.get_mut(&table) else {
            continue;
        };
        cols.sort_by_key(|c| c.seq);
        def.indexes.push(IndexDef {
            name,
            unique: cols.first().is_some_and(|c| c.unique),
            nullable: cols.iter().any(|c| c.nullable),
            columns: cols.into_iter().map(|c| c.column).collect(),
        });
    }
}

/// Decides how a column is shown from its SQL type, its comment label (`:type:comment`) and
/// whether it references a `~external_<store>` table (spec §4.2, §8).
pub fn column_kind(column_type: &str, comment: &str, external_store: Option<&String>) -> AttrKind {
    let column_type = column_type.to_ascii_lowercase();
    let label = comment
        .strip_prefix(':')
        .and_then(|rest| rest.split_once(':'))
        .map(|(label, _)| label.trim().to_ascii_lowercase());
    if let Some(store) = external_store {
        let kind = match label.as_deref() {
            Some(l) if l.starts_with("attach@") => ExternalKind::Attach,
            Some(l) if l.starts_with("filepath@") => ExternalKind::Filepath,
            _ => ExternalKind::Blob,
        };
        return AttrKind::External {
            store: store.clone(),
            kind,
        };
    }
    match label.as_deref() {
        Some("uuid") if column_type == "binary(16)" => return AttrKind::Uuid,
        Some("attach") if is_blob_type(&column_type) => return AttrKind::Attach,
        _ => {}
    }
    // DataJoint 2.x labels (`:<blob>:`, `:bytes:`, …), decided per column: a 0.14 label never
    // has angle brackets nor says `bytes`. The SQL type says how the value is stored (a
    // migrated table may keep `longblob` under a 2.x label), the label what it means.
    let stored_bytes = is_blob_type(&column_type) || column_type == "bytea";
    if let Some(label) = label.as_deref() {
        if let Some(codec) = label.strip_prefix('<').and_then(|l| l.strip_suffix('>')) {
            if is_json_type(&column_type) {
                let (name, store) = match codec.split_once('@') {
                    Some((name, store)) => (name, Some(store.trim().to_string())),
                    None => (codec, None),
                };
                return AttrKind::Stored {
                    codec: StoredCodec::from_name(name.trim()),
                    store,
                };
            }
            if stored_bytes {
                return match codec {
                    "blob" => AttrKind::Blob,
                    "attach" => AttrKind::Attach,
                    // In-table values of other codecs: their raw bytes.
                    _ => AttrKind::Binary,
                };
            }
        } else if label == "bytes" && stored_bytes {
            return AttrKind::Binary;
        }
    }
    if column_type == "uuid" {
        // PostgreSQL's own uuid type (2.x `uuid`): its text is already the hyphenated form.
        return AttrKind::Uuid;
    }
    if column_type == "bytea" {
        // Only 2.x writes PostgreSQL, where an unlabelled binary column is raw bytes.
        return AttrKind::Binary;
    }
    if is_blob_type(&column_type) {
        AttrKind::Blob
    } else if column_type.starts_with("binary") || column_type.starts_with("varbinary") {
        AttrKind::Binary
    } else {
        AttrKind::Text
    }
}

/// MySQL's `json`, PostgreSQL's `json`/`jsonb`; MariaDB reports json as `longtext`, where 2.x
/// stored-object codecs do not work anyway.
fn is_json_type(column_type: &str) -> bool {
    matches!(column_type, "json" | "jsonb")
}

/// Whether a column holds JSON text: its SQL type says so, or (MariaDB, where the 2.x client
/// declares `json` as `longtext`) its `:json:` label does.
fn is_json_column(column_type: &str, comment: &str) -> bool {
    let label = comment
        .strip_prefix(':')
        .and_then(|rest| rest.split_once(':'))
        .map(|(label, _)| label.trim());
    is_json_type(&column_type.to_ascii_lowercase())
        || label.is_some_and(|l| l.eq_ignore_ascii_case("json"))
}

fn is_blob_type(column_type: &str) -> bool {
    matches!(column_type, "tinyblob" | "blob" | "mediumblob" | "longblob")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(table: &str, name: &str, ty: &str, comment: &str) -> RawColumn {
        RawColumn {
            table: table.into(),
            name: name.into(),
            column_type: ty.into(),
            nullable: false,
            has_default: false,
            comment: comment.into(),
            default: None,
            extra: String::new(),
            table_comment: String::new(),
            enum_type: None,
        }
    }

    fn pk(table: &str, seq: u32, column: &str) -> RawIndexColumn {
        RawIndexColumn {
            table: table.into(),
            index: "PRIMARY".into(),
            seq,
            column: column.into(),
            unique: true,
            nullable: false,
        }
    }

    #[test]
    fn kinds_from_type_comment_and_fk() {
        let local = "local".to_string();
        assert_eq!(column_kind("int(11)", "", None), AttrKind::Text);
        assert_eq!(column_kind("longblob", "raw trace", None), AttrKind::Blob);
        assert_eq!(
            column_kind("LONGBLOB", ":attach:doc", None),
            AttrKind::Attach
        );
        assert_eq!(column_kind("binary(16)", ":uuid:id", None), AttrKind::Uuid);
        assert_eq!(column_kind("varbinary(8)", "", None), AttrKind::Binary);
        assert_eq!(
            column_kind("binary(16)", ":attach@local:", Some(&local)),
            AttrKind::External {
                store: "local".into(),
                kind: ExternalKind::Attach
            }
        );
        assert_eq!(
            column_kind("binary(16)", ":blob@local:x", Some(&local)),
            AttrKind::External {
                store: "local".into(),
                kind: ExternalKind::Blob
            }
        );
        assert_eq!(
            column_kind("binary(16)", ":filepath@local:", Some(&local)),
            AttrKind::External {
                store: "local".into(),
                kind: ExternalKind::Filepath
            }
        );
    }

    #[test]
    fn kinds_of_datajoint_2_columns() {
        // PostgreSQL (2.x): bytea is raw bytes unless labelled a blob or an attachment.
        assert_eq!(column_kind("bytea", ":<blob>:trace", None), AttrKind::Blob);
        assert_eq!(column_kind("bytea", ":<attach>:", None), AttrKind::Attach);
        assert_eq!(column_kind("bytea", ":bytes:raw", None), AttrKind::Binary);
        assert_eq!(column_kind("bytea", "", None), AttrKind::Binary);
        assert_eq!(column_kind("bytea", ":<zarr>:", None), AttrKind::Binary);
        assert_eq!(column_kind("uuid", ":uuid:", None), AttrKind::Uuid);
        assert_eq!(column_kind("integer", ":int32:", None), AttrKind::Text);
        assert_eq!(column_kind("jsonb", ":json:", None), AttrKind::Text);
        assert_eq!(
            column_kind("enum('a','b')", ":enum('a', 'b'):", None),
            AttrKind::Text
        );
        // MySQL (2.x in-table types): the same labels on longblob.
        assert_eq!(column_kind("longblob", ":<blob>:", None), AttrKind::Blob);
        assert_eq!(
            column_kind("longblob", ":<attach>:", None),
            AttrKind::Attach
        );
        assert_eq!(column_kind("longblob", ":bytes:", None), AttrKind::Binary);
        assert_eq!(column_kind("binary(16)", ":uuid:", None), AttrKind::Uuid);
        // A 0.14 unlabelled longblob stays a blob.
        assert_eq!(column_kind("longblob", "", None), AttrKind::Blob);
        // Codecs whose value is JSON metadata, with their store (empty: the default store).
        let stored = |codec, store: Option<&str>| AttrKind::Stored {
            codec,
            store: store.map(str::to_string),
        };
        assert_eq!(
            column_kind("jsonb", ":<blob@main>:trace", None),
            stored(StoredCodec::Blob, Some("main"))
        );
        assert_eq!(
            column_kind("json", ":<attach@s3>:", None),
            stored(StoredCodec::Attach, Some("s3"))
        );
        assert_eq!(
            column_kind("jsonb", ":<object@>:", None),
            stored(StoredCodec::Object, Some(""))
        );
        assert_eq!(
            column_kind("jsonb", ":<npy@main>:", None),
            stored(StoredCodec::Npy, Some("main"))
        );
        assert_eq!(
            column_kind("jsonb", ":<hash@main>:", None),
            stored(StoredCodec::Hash, Some("main"))
        );
        assert_eq!(
            column_kind("jsonb", ":<filepath@main>:", None),
            stored(StoredCodec::Filepath, Some("main"))
        );
        assert_eq!(
            column_kind("jsonb", ":<zarr@main>:", None),
            stored(StoredCodec::Other("zarr".into()), Some("main"))
        );
        assert_eq!(
            column_kind("json", ":<mine>:", None),
            stored(StoredCodec::Other("mine".into()), None)
        );
        // 0.14 labels never have angle brackets: the ~external route stays.
        let local = "local".to_string();
        assert_eq!(
            column_kind("binary(16)", ":blob@local:", Some(&local)),
            AttrKind::External {
                store: "local".into(),
                kind: ExternalKind::Blob
            }
        );
    }

    #[test]
    fn json_columns_by_type_or_2x_label() {
        let catalog = build_catalog(
            "s",
            vec![
                col("t", "id", "int", ""),
                // MariaDB: the 2.x client's json is longtext with a `:json:` label.
                col("t", "a", "longtext", ":json:notes"),
                col("t", "b", "jsonb", ":json:"),
                col("t", "c", "json", ""),
                col("t", "d", "longtext", "json in words"),
                col("t", "e", "jsonb", ":<blob@local>:"),
            ],
            vec![pk("t", 1, "id")],
            vec![],
        );
        let json: Vec<bool> = catalog.tables[0].columns.iter().map(|c| c.json).collect();
        // A stored codec's metadata is JSON too, but not a value written as text.
        assert_eq!(json, [false, true, true, true, false, false]);
    }

    #[test]
    fn catalog_skips_hidden_tables_and_orders_keys() {
        let catalog = build_catalog(
            "s",
            vec![
                col("session__trial", "subject", "int", ""),
                col("session__trial", "trial", "int", ""),
                col("session__trial", "_ts", "timestamp", ""),
                col("~log", "id", "int", ""),
                col("~external_local", "hash", "binary(16)", ""),
                col("#web_image", "image_number", "int", ""),
            ],
            vec![
                pk("session__trial", 1, "trial"),
                pk("~log", 1, "id"),
                pk("#web_image", 1, "image_number"),
                pk("session__trial", 2, "subject"),
            ],
            vec![],
        );
        let names: Vec<&str> = catalog
            .tables
            .iter()
            .map(|t| t.class_name.as_str())
            .collect();
        assert_eq!(names, ["Session.Trial", "WebImage"]);
        assert_eq!(catalog.stores, ["local"]);
        let trial = catalog.by_class("Session.Trial").unwrap();
        assert_eq!(trial.key_names(), ["trial", "subject"]);
        assert!(trial.columns[2].hidden);
    }
}
