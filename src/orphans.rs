//! DataJoint 2.x unused objects (pure): which objects of a schema's store no row references, by
//! the rules of the client's garbage collector (`dj.gc.GarbageCollector(schema, store=…)
//! .collect(dry_run=True)`, datajoint 2.3.5), erring only towards keeping an object.
//!
//! 2.x keeps no tracking table: a stored value's JSON metadata (`path`, and `store`) is the only
//! reference to its object. A store holds two sections per schema, listed file by file:
//!
//! * `<hash_prefix>/<schema>/…` (hash-addressed `<blob@>`, `<attach@>`, `<hash@>`): only files
//!   named like a content hash (26 characters of `[a-z2-7]`) are candidates;
//! * `<schema_prefix>/<schema>/…` (schema-addressed `<object@>`, `<npy@>`): every file is, a
//!   folder object's `.manifest.json` sidecar included.
//!
//! A candidate is unused when no reference covers it: it is not a referenced path, not under one
//! (the files of a folder object) and not the sidecar of one. `<filepath@>` content lives outside
//! both sections and is never a candidate. Where djfs departs from the client, it keeps more:
//!
//! * every column labelled with a stored codec counts (the client counts `<hash@>`, `<blob@s>`,
//!   `<attach@s>` and the schema-addressed codecs it has registered; an add-on codec djfs cannot
//!   identify, and `<filepath@>`, count here too);
//! * a reference's store is its metadata's `store`, else its column's, else `stores.default`
//!   (the client compares the metadata's `store` only, so a value without one protects nothing);
//! * references and candidates are compared by where the object is (store location + path), so
//!   two store names for one place protect each other's objects;
//! * an object a 0.14 `~external_<store>` table of the schema tracks is never a 2.x candidate
//!   (and, in a root-level section, no file named like a 0.14 object is).

use std::collections::HashSet;

use serde_json::Value;

/// One object a 2.x stored value references, as its metadata and its column say.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StoredRef {
    /// The metadata's `path` (relative to the store's location).
    pub path: String,
    /// The metadata's `store`, when it names one (None: absent, null or not a string).
    pub store: Option<String>,
    /// The store in the column's label (`<x@s>`; empty for `<x@>`; None without `@`).
    pub column_store: Option<String>,
    /// `<filepath@>`: a default store is then `stores.filepath_default`.
    pub filepath: bool,
}

/// Whether a column's values may reference stored objects, from its SQL type and comment label:
/// a codec label with a store (`:<x@s>:`, `:<x@>:`), or a codec label on a JSON column. Returns
/// (the label's store, whether it is `<filepath@>`). In-table codecs (`<blob>` on a blob column)
/// hold no references and are never read whole for this.
pub fn reference_column(column_type: &str, comment: &str) -> Option<(Option<String>, bool)> {
    let label = comment.strip_prefix(':')?.split_once(':')?.0.trim();
    let codec = label.strip_prefix('<')?.strip_suffix('>')?;
    let (name, store) = match codec.split_once('@') {
        Some((name, store)) => (name.trim(), Some(store.trim().to_string())),
        None => (codec.trim(), None),
    };
    let column_type = column_type.to_ascii_lowercase();
    let json = matches!(column_type.as_str(), "json" | "jsonb");
    (store.is_some() || json).then(|| (store, name.eq_ignore_ascii_case("filepath")))
}

/// A column that may hold references (see `reference_column`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefColumn {
    pub name: String,
    pub store: Option<String>,
    pub filepath: bool,
}

/// A table with columns that may hold references: what a backend reads, one query per table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefTable {
    pub name: String,
    pub columns: Vec<RefColumn>,
}

/// The tables with columns that may hold references, from (table, column, SQL type, comment)
/// of every column the catalog query found, in the order found; sorted by table name.
pub fn reference_tables(
    columns: impl IntoIterator<Item = (String, String, String, String)>,
) -> Vec<RefTable> {
    let mut tables: Vec<RefTable> = Vec::new();
    for (table, column, column_type, comment) in columns {
        let Some((store, filepath)) = reference_column(&column_type, &comment) else {
            continue;
        };
        let column = RefColumn {
            name: column,
            store,
            filepath,
        };
        match tables.iter_mut().find(|t| t.name == table) {
            Some(t) => t.columns.push(column),
            None => tables.push(RefTable {
                name: table,
                columns: vec![column],
            }),
        }
    }
    tables.sort_by(|a, b| a.name.cmp(&b.name));
    tables
}

impl RefTable {
    /// The references of one row, its values in the order of `columns` (None: NULL).
    pub fn references<'a>(
        &self,
        values: impl IntoIterator<Item = Option<&'a [u8]>>,
        out: &mut Vec<StoredRef>,
    ) {
        for (column, value) in self.columns.iter().zip(values) {
            if let Some((path, store)) = value.and_then(referenced_path) {
                out.push(StoredRef {
                    path,
                    store,
                    column_store: column.store.clone(),
                    filepath: column.filepath,
                });
            }
        }
    }
}

/// The object a stored value references, as the client's `Codec.referenced_paths` reads it: a
/// JSON object with a string `path` (a JSON string holding such an object is read once more, as
/// the client's `json.loads` of a string does). None for anything else (NULL, other JSON, text
/// that is not JSON).
pub fn referenced_path(value: &[u8]) -> Option<(String, Option<String>)> {
    let mut value: Value = serde_json::from_slice(value).ok()?;
    if let Value::String(inner) = &value {
        value = serde_json::from_str(inner).ok()?;
    }
    let Value::Object(map) = value else {
        return None;
    };
    let path = map.get("path")?.as_str()?.to_string();
    let store = map.get("store").and_then(Value::as_str).map(str::to_string);
    Some((path, store))
}

/// The store a reference's object is in: the metadata's `store`, else the column's, else the
/// default (`stores.default`, or `stores.filepath_default` for filepaths). None: no store.
pub fn reference_store<'a>(
    r: &'a StoredRef,
    default: Option<&'a str>,
    filepath_default: Option<&'a str>,
) -> Option<&'a str> {
    let default = if r.filepath {
        filepath_default
    } else {
        default
    };
    [r.store.as_deref(), r.column_store.as_deref(), default]
        .into_iter()
        .flatten()
        .find(|s| !s.is_empty())
}

/// The folder of one schema's section: `<prefix>/<schema>`, or `<schema>` for an empty prefix
/// (the root-level layout).
pub fn section(prefix: &str, schema: &str) -> String {
    if prefix.is_empty() {
        schema.to_string()
    } else {
        format!("{prefix}/{schema}")
    }
}

/// A hash-addressed object's file name: 26 characters of `[a-z2-7]` (base32 of an MD5).
pub fn is_hash_name(name: &str) -> bool {
    name.len() == 26
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b))
}

/// A 0.14 external object's file name: 32 lowercase hex digits, alone or followed by `.` and an
/// attachment's name.
pub fn is_0_14_name(name: &str) -> bool {
    let (hex, rest) = name.split_at(name.len().min(32));
    hex.len() == 32
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && (rest.is_empty() || rest.starts_with('.'))
}

const MANIFEST: &str = ".manifest.json";

/// The places (store location + path, see `Stores::place`) that references cover.
#[derive(Debug, Default)]
pub struct Coverage {
    places: HashSet<String>,
}

impl Coverage {
    pub fn new(places: impl IntoIterator<Item = String>) -> Coverage {
        Coverage {
            places: places
                .into_iter()
                .map(|p| p.trim_end_matches('/').to_string())
                .collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.places.len()
    }

    pub fn is_empty(&self) -> bool {
        self.places.is_empty()
    }

    /// Whether the file at `place` is a referenced object, under one (a folder object's files),
    /// or the `.manifest.json` sidecar of one.
    pub fn covers(&self, place: &str) -> bool {
        let place = place.strip_suffix(MANIFEST).unwrap_or(place);
        if self.places.contains(place) {
            return true;
        }
        let mut at = place.len();
        while let Some(slash) = place[..at].rfind('/') {
            if slash == 0 {
                break;
            }
            if self.places.contains(&place[..slash]) {
                return true;
            }
            at = slash;
        }
        false
    }
}

/// Which section a listed file came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    Hash,
    Schema,
}

/// The candidates of one section's listing (paths relative to the store's location, sizes):
/// in the hash section, files named like a content hash; in the schema section, every file.
pub fn candidates(section: Section, listed: Vec<(String, u64)>) -> Vec<(String, u64)> {
    listed
        .into_iter()
        .filter(|(path, _)| match section {
            Section::Hash => {
                let name = path.rsplit('/').next().unwrap_or(path);
                !name.ends_with(MANIFEST) && is_hash_name(name)
            }
            Section::Schema => true,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_columns_are_stored_codecs_and_json_codecs() {
        assert_eq!(
            reference_column("jsonb", ":<blob@local>: the data"),
            Some((Some("local".into()), false))
        );
        assert_eq!(
            reference_column("json", ":<filepath@>:"),
            Some((Some(String::new()), true))
        );
        // MariaDB reports a 2.x json column as longtext: the store in the label decides.
        assert_eq!(
            reference_column("longtext", ":<object@shared>:"),
            Some((Some("shared".into()), false))
        );
        // An add-on codec on a json column without a store.
        assert_eq!(
            reference_column("jsonb", ":<labstack>:"),
            Some((None, false))
        );
        // In-table codecs and plain types hold no references.
        assert_eq!(reference_column("bytea", ":<blob>:"), None);
        assert_eq!(reference_column("longblob", ":<attach>:"), None);
        assert_eq!(reference_column("jsonb", ":json:"), None);
        assert_eq!(reference_column("binary(16)", ":blob@local:"), None);
        assert_eq!(reference_column("jsonb", "just a comment"), None);
    }

    #[test]
    fn tables_group_their_reference_columns_and_rows_give_their_references() {
        let col = |t: &str, c: &str, ty: &str, comment: &str| {
            (
                t.to_string(),
                c.to_string(),
                ty.to_string(),
                comment.to_string(),
            )
        };
        let tables = reference_tables([
            col("objects", "o_local", "jsonb", ":<object@local>:"),
            col("blobs", "value", "bytea", ":<blob>:"),
            col("blobs", "value_s3", "jsonb", ":<blob@shared>:"),
            col("objects", "fp", "jsonb", ":<filepath@>:"),
            col("objects", "doc", "jsonb", ":json:"),
        ]);
        assert_eq!(
            tables
                .iter()
                .map(|t| (t.name.as_str(), t.columns.len()))
                .collect::<Vec<_>>(),
            [("blobs", 1), ("objects", 2)]
        );
        let mut refs = Vec::new();
        tables[1].references(
            [
                Some(&br#"{"path": "_schema/s/objects/obj_id=1/o_x.txt", "store": "local"}"#[..]),
                Some(&br#"{"path": "files/s/a.dat", "store": ""}"#[..]),
            ],
            &mut refs,
        );
        tables[1].references([None, None], &mut refs);
        assert_eq!(
            refs,
            [
                StoredRef {
                    path: "_schema/s/objects/obj_id=1/o_x.txt".into(),
                    store: Some("local".into()),
                    column_store: Some("local".into()),
                    filepath: false,
                },
                StoredRef {
                    path: "files/s/a.dat".into(),
                    store: Some(String::new()),
                    column_store: Some(String::new()),
                    filepath: true,
                },
            ]
        );
    }

    #[test]
    fn the_path_is_read_as_the_client_reads_it() {
        assert_eq!(
            referenced_path(br#"{"path": "_hash/s/abc", "store": "local", "size": 3}"#),
            Some(("_hash/s/abc".into(), Some("local".into())))
        );
        assert_eq!(
            referenced_path(br#"{"path": "_schema/s/t/x", "store": null}"#),
            Some(("_schema/s/t/x".into(), None))
        );
        // A JSON string holding the metadata (the client json.loads a str).
        assert_eq!(
            referenced_path(br#""{\"path\": \"p\", \"store\": \"s\"}""#),
            Some(("p".into(), Some("s".into())))
        );
        // Migrated metadata with `url`, not `path`; other JSON; not JSON.
        assert_eq!(referenced_path(br#"{"url": "file:///x", "size": 1}"#), None);
        assert_eq!(referenced_path(b"[1, 2]"), None);
        assert_eq!(referenced_path(b"not json"), None);
        assert_eq!(referenced_path(br#"{"path": 7}"#), None);
    }

    #[test]
    fn a_reference_is_in_its_metadata_store_else_its_columns_else_the_default() {
        let r = |store: Option<&str>, column: Option<&str>, filepath| StoredRef {
            path: "p".into(),
            store: store.map(str::to_string),
            column_store: column.map(str::to_string),
            filepath,
        };
        let pick =
            |r: &StoredRef| reference_store(r, Some("main"), Some("files")).map(String::from);
        assert_eq!(
            pick(&r(Some("s3"), Some("local"), false)).as_deref(),
            Some("s3")
        );
        assert_eq!(
            pick(&r(Some(""), Some("local"), false)).as_deref(),
            Some("local")
        );
        assert_eq!(pick(&r(None, Some(""), false)).as_deref(), Some("main"));
        assert_eq!(pick(&r(None, None, true)).as_deref(), Some("files"));
        assert_eq!(reference_store(&r(None, Some(""), false), None, None), None);
    }

    #[test]
    fn sections_and_names() {
        assert_eq!(section("_hash", "lab"), "_hash/lab");
        assert_eq!(section("objects/by-key", "lab"), "objects/by-key/lab");
        assert_eq!(section("", "lab"), "lab");
        assert!(is_hash_name("6iwmn7widibwg3fugt5jie7p24"));
        assert!(!is_hash_name("6iwmn7widibwg3fugt5jie7p2"));
        assert!(!is_hash_name("6iwmn7widibwg3fugt5jie7p21"));
        assert!(!is_hash_name("6IWMN7WIDIBWG3FUGT5JIE7P24"));
        assert!(is_0_14_name("0123456789abcdef0123456789abcdef"));
        assert!(is_0_14_name("0123456789abcdef0123456789abcdef.notes.txt"));
        assert!(!is_0_14_name("0123456789abcdef0123456789abcdeg"));
        assert!(!is_0_14_name("o_local_Ab3dEf12.txt"));
        assert!(!is_0_14_name("0123456789abcdef0123456789abcdef_x"));
    }

    #[test]
    fn only_hash_named_files_are_hash_candidates_and_every_schema_file_is_one() {
        let listed = vec![
            ("_hash/s/6iwmn7widibwg3fugt5jie7p24".to_string(), 10),
            ("_hash/s/ab/cde/tlpyrsuntcvnoofkx4tkptje3u".to_string(), 4),
            ("_hash/s/notes.txt".to_string(), 1),
            (
                "_hash/s/6iwmn7widibwg3fugt5jie7p24.manifest.json".to_string(),
                1,
            ),
        ];
        assert_eq!(
            candidates(Section::Hash, listed.clone())
                .into_iter()
                .map(|(p, _)| p)
                .collect::<Vec<_>>(),
            [
                "_hash/s/6iwmn7widibwg3fugt5jie7p24",
                "_hash/s/ab/cde/tlpyrsuntcvnoofkx4tkptje3u"
            ]
        );
        assert_eq!(candidates(Section::Schema, listed).len(), 4);
    }

    /// The client's `_is_covered`: at, under, or the sidecar of a referenced path; a sibling
    /// whose name merely starts the same is not covered.
    #[test]
    fn coverage_is_at_under_or_the_sidecar_of_a_reference() {
        let c = Coverage::new([
            "file:/d/_schema/s/t/id=1/o_tok".to_string(),
            "file:/d/_schema/s/t/id=2/n_tok.npy".to_string(),
        ]);
        assert!(c.covers("file:/d/_schema/s/t/id=1/o_tok"));
        assert!(c.covers("file:/d/_schema/s/t/id=1/o_tok/a/b.txt"));
        assert!(c.covers("file:/d/_schema/s/t/id=1/o_tok.manifest.json"));
        assert!(c.covers("file:/d/_schema/s/t/id=2/n_tok.npy"));
        assert!(!c.covers("file:/d/_schema/s/t/id=1/o_tok2"));
        assert!(!c.covers("file:/d/_schema/s/t/id=1/o_tokx.manifest.json"));
        assert!(!c.covers("file:/d/_schema/s/t/id=1"));
        assert!(!c.covers("file:/d/_schema/s/t/id=3/o_tok"));
        assert_eq!(c.len(), 2);
    }
}
