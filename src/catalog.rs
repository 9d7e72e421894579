//! The catalog: what tables a schema has and what each column holds, read from MySQL's
//! information_schema (spec §4) and interpreted the way DataJoint 0.12–0.14 does.

use std::collections::HashMap;
use std::sync::Arc;

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
}

impl SchemaCatalog {
    pub fn by_class(&self, class_name: &str) -> Option<&Arc<TableInfo>> {
        self.tables.iter().find(|t| t.class_name == class_name)
    }
}

/// One row of information_schema.COLUMNS for a base table.
pub struct RawColumn {
    pub table: String,
    pub name: String,
    pub column_type: String,
    pub nullable: bool,
    pub has_default: bool,
    pub comment: String,
}

/// Assembles the catalog from the three information_schema listings (columns in ordinal order,
/// primary-key columns in key order, and columns that reference `~external_<store>` tables).
pub fn build_catalog(
    schema: &str,
    columns: Vec<RawColumn>,
    primary_keys: Vec<(String, String)>,
    external_refs: Vec<(String, String, String)>,
) -> SchemaCatalog {
    let external: HashMap<(String, String), String> = external_refs
        .into_iter()
        .filter_map(|(table, column, referenced)| {
            let store = referenced.strip_prefix("~external_")?.to_string();
            Some(((table, column), store))
        })
        .collect();

    let mut by_table: Vec<(String, Vec<ColumnInfo>)> = Vec::new();
    for raw in columns {
        let kind = column_kind(
            &raw.column_type,
            &raw.comment,
            external.get(&(raw.table.clone(), raw.name.clone())),
        );
        let info = ColumnInfo {
            hidden: raw.name.starts_with('_'),
            name: raw.name,
            column_type: raw.column_type,
            nullable: raw.nullable,
            has_default: raw.has_default || raw.nullable,
            kind,
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
    SchemaCatalog {
        schema: schema.to_string(),
        tables,
        stores,
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
    if is_blob_type(&column_type) {
        AttrKind::Blob
    } else if column_type.starts_with("binary") || column_type.starts_with("varbinary") {
        AttrKind::Binary
    } else {
        AttrKind::Text
    }
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
                ("session__trial".into(), "trial".into()),
                ("session__trial".into(), "subject".into()),
                ("~log".into(), "id".into()),
                ("#web_image".into(), "image_number".into()),
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
