//! DataJoint 2.x unused objects of a schema's store, and their cleanup (`.external/<store>/
//! .unused/` and `djfs gc`): the rules are `crate::orphans`'; here they meet the database (the
//! references) and the store (its listing, the deletes).
//!
//! Listing: the references (one query per table with stored columns), then a walk of the two
//! sections; any failure fails the whole listing, never a partial one. Deleting: the references
//! are read again in a transaction that keeps those tables from changing, and an object is
//! deleted only if no reference covers it then (else it is `Referenced`), before the
//! transaction ends.

use std::collections::HashSet;

use anyhow::{Context, Result};

use super::Outcome;
use crate::backend::{Backend, StoredRef};
use crate::catalog::{AttrKind, SchemaCatalog, StoredCodec};
use crate::orphans::{self, Coverage, Section};
use crate::stores::Stores;

/// What the 2.x cleanup of one schema must keep clear of: the 0.14 stores the schema tracks
/// objects of (`~external_<store>`), whose objects are never 2.x candidates.
#[derive(Clone, Debug, Default)]
pub struct Legacy {
    pub stores: Vec<String>,
}

/// The configured stores a schema's 2.x stored columns name (`<x@>` without a name:
/// `stores.default`, or `stores.filepath_default` for filepaths), sorted. A store the config
/// does not describe is left out: nothing can be listed there (its values read EIO, saying so).
pub fn v2_stores(catalog: &SchemaCatalog, stores: &Stores) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in catalog.tables.iter().flat_map(|t| &t.columns) {
        let AttrKind::Stored {
            codec,
            store: Some(store),
        } = &c.kind
        else {
            continue;
        };
        let name = if store.is_empty() {
            match stores.default_store(*codec == StoredCodec::Filepath) {
                Some(d) => d,
                None => continue,
            }
        } else {
            store.as_str()
        };
        if stores.is_configured(name) && !out.iter().any(|s| s == name) {
            out.push(name.to_string());
        }
    }
    out.sort();
    out
}

/// The places the references cover (a reference to a store the config lacks is left out: its
/// objects cannot be located).
pub fn coverage(stores: &Stores, refs: &[StoredRef]) -> Coverage {
    let (default, filepath_default) = (stores.default_store(false), stores.default_store(true));
    Coverage::new(refs.iter().filter_map(|r| {
        let store = orphans::reference_store(r, default, filepath_default)?;
        stores.place(store, &r.path).ok()
    }))
}

/// The places of every object the schema's 0.14 tracking tables track (unused ones included:
/// those are 0.14's to clean up).
fn legacy_places(
    db: &dyn Backend,
    stores: &Stores,
    schema: &str,
    legacy: &Legacy,
) -> Result<HashSet<String>> {
    let mut places = HashSet::new();
    for store in &legacy.stores {
        if !stores.is_configured(store) {
            continue;
        }
        for t in db
            .tracked(schema, store, false)
            .with_context(|| format!("listing ~external_{store} of {schema}"))?
        {
            places.insert(stores.tracked_place(store, schema, &t.hash, &t.kind)?);
        }
    }
    Ok(places)
}

/// The 2.x store `store`'s unused objects of `schema`: (path relative to the store's location,
/// size), sorted by path, as `dj.gc.GarbageCollector(schema, store=store).collect(dry_run=True)`
/// reports them (`orphaned_hash_paths` + `orphaned_schema_paths`), less what `crate::orphans`
/// keeps besides.
pub fn unused(
    db: &dyn Backend,
    stores: &Stores,
    schema: &str,
    store: &str,
    legacy: &Legacy,
) -> Result<Vec<(String, u64)>> {
    let refs = db
        .stored_references(schema)
        .with_context(|| format!("reading the references of {schema}"))?;
    let covered = coverage(stores, &refs);
    let found = candidates(stores, schema, store)?;
    let kept = keep_clear(db, stores, schema, store, legacy)?;
    let mut out = Vec::new();
    for (path, size) in found {
        let place = stores.place(store, &path)?;
        if !covered.covers(&place) && !kept.holds(&path, &place) {
            out.push((path, size));
        }
    }
    Ok(out)
}

/// Every candidate of both sections (deduplicated: two empty prefixes are one folder).
fn candidates(stores: &Stores, schema: &str, store: &str) -> Result<Vec<(String, u64)>> {
    let (hash_prefix, schema_prefix) = stores.prefixes_of(store)?;
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (section, prefix) in [
        (Section::Hash, hash_prefix),
        (Section::Schema, schema_prefix),
    ] {
        let folder = orphans::section(&prefix, schema);
        let listed = stores
            .walk(store, &folder)
            .with_context(|| format!("listing {folder}/ in store {store:?}"))?;
        for (path, size) in orphans::candidates(section, listed) {
            if seen.insert(path.clone()) {
                out.push((path, size));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// What a 0.14 tracking table of the schema keeps out of the 2.x candidates.
struct KeepClear {
    places: HashSet<String>,
    /// A section at the store's root level (`<schema>/…`), where 0.14 objects live, in a schema
    /// with 0.14 tracking tables: files named like 0.14 objects are never candidates.
    root_level_names: bool,
}

impl KeepClear {
    fn holds(&self, path: &str, place: &str) -> bool {
        self.places.contains(place)
            || (self.root_level_names
                && orphans::is_0_14_name(path.rsplit('/').next().unwrap_or(path)))
    }
}

fn keep_clear(
    db: &dyn Backend,
    stores: &Stores,
    schema: &str,
    store: &str,
    legacy: &Legacy,
) -> Result<KeepClear> {
    if legacy.stores.is_empty() {
        return Ok(KeepClear {
            places: HashSet::new(),
            root_level_names: false,
        });
    }
    let (hash_prefix, schema_prefix) = stores.prefixes_of(store)?;
    Ok(KeepClear {
        places: legacy_places(db, stores, schema, legacy)?,
        root_level_names: hash_prefix.is_empty() || schema_prefix.is_empty(),
    })
}

/// Deletes unused 2.x objects of `schema` in `store` (paths relative to the store's location),
/// each only if it is still unused: the references are read again in one transaction that
/// keeps the tables with stored columns from changing until the deletes are done. Per path:
/// `Deleted`, `Referenced` (covered by a reference now, or tracked by 0.14: left as it is), or
/// why removing it failed. The whole call fails when the references cannot be read.
pub fn delete(
    db: &dyn Backend,
    stores: &Stores,
    schema: &str,
    store: &str,
    paths: &[String],
    legacy: &Legacy,
) -> Result<Vec<Result<Outcome>>> {
    let kept = keep_clear(db, stores, schema, store, legacy)?;
    let mut results = Vec::new();
    db.with_stored_references_held(schema, &mut |refs| {
        let covered = coverage(stores, refs);
        results = paths
            .iter()
            .map(|path| {
                let place = stores.place(store, path)?;
                if covered.covers(&place) || kept.holds(path, &place) {
                    return Ok(Outcome::Referenced);
                }
                stores.delete_path(store, path)?;
                tracing::info!("deleted the unused object {place} of {schema}");
                Ok(Outcome::Deleted)
            })
            .collect();
        Ok(())
    })
    .with_context(|| format!("re-checking the references of {schema}"))?;
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::memory::Memory;
    use crate::backend::Tracked;
    use crate::catalog::{RawCatalog, RawColumn, RawIndexColumn};
    use crate::stores::paths::TrackedKind;
    use serde_json::json;
    use std::collections::BTreeMap;
    use std::path::Path;

    fn column(name: &str, column_type: &str, comment: &str) -> RawColumn {
        RawColumn {
            table: "thing".into(),
            name: name.into(),
            column_type: column_type.into(),
            nullable: name != "thing_id",
            has_default: name != "thing_id",
            comment: comment.into(),
            default: None,
            extra: String::new(),
            table_comment: String::new(),
            enum_type: None,
        }
    }

    /// A schema `lab` with one table of 2.x stored columns, in memory.
    fn lab() -> Memory {
        let db = Memory::new();
        db.add_schema(
            "lab",
            RawCatalog {
                columns: vec![
                    column("thing_id", "int", ":int32:"),
                    column("h", "jsonb", ":<hash@local>:"),
                    column("o", "jsonb", ":<object@>:"),
                    column("f", "jsonb", ":<filepath@alias>:"),
                ],
                indexes: vec![RawIndexColumn {
                    table: "thing".into(),
                    index: "PRIMARY".into(),
                    seq: 1,
                    column: "thing_id".into(),
                    unique: true,
                    nullable: false,
                }],
                foreign_keys: vec![],
            },
        );
        db
    }

    fn put(db: &Memory, id: u32, h: Option<&str>, o: Option<&str>, f: Option<&str>) {
        let catalog = db.load_catalog("lab").unwrap();
        let table = catalog.tables.iter().find(|t| t.name == "thing").unwrap();
        let meta = |store: &str, p: Option<&str>| {
            p.map(|p| json!({"path": p, "store": store}).to_string().into_bytes())
        };
        db.put_row(
            table,
            vec![
                Some(id.to_string().into_bytes()),
                meta("local", h),
                // The metadata names no store: the column's `<object@>` is `stores.default`.
                o.map(|p| json!({"path": p}).to_string().into_bytes()),
                meta("alias", f),
            ],
        );
    }

    fn file(root: &Path, rel: &str) {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, rel.as_bytes()).unwrap();
    }

    /// A root-level store (`schema_prefix: ""`, the layout before 2.3.1) that a 0.14 tracking
    /// table of the same schema also uses, and a second name (`alias`) for the same folder.
    fn stores(root: &Path) -> Stores {
        let location = root.to_str().unwrap();
        let config: BTreeMap<String, serde_json::Value> = [
            ("default".to_string(), json!("local")),
            (
                "local".to_string(),
                json!({"protocol": "file", "location": location, "schema_prefix": ""}),
            ),
            (
                "alias".to_string(),
                json!({"protocol": "file", "location": format!("{location}/")}),
            ),
        ]
        .into_iter()
        .collect();
        Stores::new(&config, None).unwrap()
    }

    const H_USED: &str = "_hash/lab/6iwmn7widibwg3fugt5jie7p24";
    const H_GONE: &str = "_hash/lab/tlpyrsuntcvnoofkx4tkptje3u";
    const OLD_0_14: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn unused_2x_objects_spare_references_0_14_objects_and_aliases() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let db = lab();
        put(
            &db,
            1,
            Some(H_USED),
            Some("lab/thing/thing_id=1/o_tok"),
            None,
        );
        put(&db, 2, None, None, Some("lab/thing/thing_id=9/o_kept.txt"));
        for rel in [
            H_USED,
            H_GONE,
            "_hash/lab/not-a-hash.txt",
            "lab/thing/thing_id=1/o_tok/a.txt",
            "lab/thing/thing_id=1/o_tok/deeper/b.txt",
            "lab/thing/thing_id=1/o_tok.manifest.json",
            "lab/thing/thing_id=1/o_tok2.txt",
            "lab/thing/thing_id=3/o_gone/x.bin",
            "lab/thing/thing_id=3/o_gone.manifest.json",
            "lab/thing/thing_id=9/o_kept.txt",
            // 0.14 objects: one tracked, one a crash left (untracked, named like one).
            &format!("lab/01/23/{OLD_0_14}"),
            "lab/fe/dc/fedcba9876543210fedcba9876543210.notes.txt",
        ] {
            file(root, rel);
        }
        db.put_tracking(
            "lab",
            "local",
            &Tracked {
                hash: hex::decode(OLD_0_14).unwrap(),
                size: 1,
                kind: TrackedKind::Blob,
                timestamp: None,
            },
        );
        let stores = stores(root);
        let legacy = Legacy {
            stores: vec!["local".into()],
        };
        let found: Vec<String> = unused(&db, &stores, "lab", "local", &legacy)
            .unwrap()
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        assert_eq!(
            found,
            [
                H_GONE,
                "lab/thing/thing_id=1/o_tok2.txt",
                "lab/thing/thing_id=3/o_gone.manifest.json",
                "lab/thing/thing_id=3/o_gone/x.bin",
            ]
        );
        // Without the 0.14 table, root-level 0.14-named files are candidates like any other
        // (the tracked one too: nothing says it is 0.14's).
        let bare = unused(&db, &stores, "lab", "local", &Legacy::default()).unwrap();
        assert_eq!(bare.len(), 6, "{bare:?}");

        // Deleting: each path is re-checked; a referenced one stays.
        let mut asked = found.clone();
        asked.push(H_USED.to_string());
        let outcomes = delete(&db, &stores, "lab", "local", &asked, &legacy).unwrap();
        let outcomes: Vec<Outcome> = outcomes.into_iter().map(Result::unwrap).collect();
        assert_eq!(
            outcomes,
            [
                Outcome::Deleted,
                Outcome::Deleted,
                Outcome::Deleted,
                Outcome::Deleted,
                Outcome::Referenced
            ]
        );
        assert!(root.join(H_USED).exists());
        assert!(!root.join(H_GONE).exists());
        // Emptied folders go (up to the location), others stay.
        assert!(!root.join("lab/thing/thing_id=3").exists());
        assert!(root
            .join("lab/thing/thing_id=1/o_tok/deeper/b.txt")
            .exists());
        assert!(unused(&db, &stores, "lab", "local", &legacy)
            .unwrap()
            .is_empty());

        // A row referencing an object again before the delete: it stays (Referenced).
        file(root, "lab/thing/thing_id=4/o_new.txt");
        assert_eq!(
            unused(&db, &stores, "lab", "local", &legacy).unwrap().len(),
            1
        );
        put(&db, 4, None, Some("lab/thing/thing_id=4/o_new.txt"), None);
        let again = delete(
            &db,
            &stores,
            "lab",
            "local",
            &["lab/thing/thing_id=4/o_new.txt".to_string()],
            &legacy,
        )
        .unwrap();
        assert_eq!(
            again.into_iter().next().unwrap().unwrap(),
            Outcome::Referenced
        );
        assert!(root.join("lab/thing/thing_id=4/o_new.txt").exists());
    }

    #[test]
    fn a_folder_or_a_query_that_fails_fails_the_listing() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let db = lab();
        file(root, "lab/thing/thing_id=1/o_x.txt");
        // A file where the hash section's folder should be: listing it fails (not empty).
        std::fs::create_dir_all(root.join("_hash")).unwrap();
        std::fs::write(root.join("_hash/lab"), b"not a folder").unwrap();
        let stores = stores(root);
        let err = unused(&db, &stores, "lab", "local", &Legacy::default()).unwrap_err();
        assert!(format!("{err:#}").contains("listing _hash/lab/"), "{err:#}");
        // A failed references query fails it too.
        let err = unused(&db, &stores, "gone", "local", &Legacy::default()).unwrap_err();
        assert!(
            format!("{err:#}").contains("reading the references of gone"),
            "{err:#}"
        );
    }
}
