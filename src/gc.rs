//! Cleanup of external objects no row references: the client's
//! `schema.external[store].delete(delete_external_files=True)`, shared by `rm` in
//! `.external/<store>/.unused/` and by `djfs gc`.

use anyhow::Result;

use crate::db::{Database, Tracked};
use crate::stores::paths::hex;
use crate::stores::Stores;

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Deleted,
    /// Referenced again meanwhile (or already gone): left as it is.
    Referenced,
}

/// Deletes the tracking row (only while unreferenced), then the object; if removing the object
/// fails, the tracking row is put back and the error returned.
pub fn delete_unused(
    db: &Database,
    stores: &Stores,
    schema: &str,
    store: &str,
    object: &Tracked,
) -> Result<Outcome> {
    let loc = stores.locate(store, schema, &object.hash, &object.kind)?;
    let Some(saved) = db.delete_unused_tracking(schema, store, &object.hash)? else {
        return Ok(Outcome::Referenced);
    };
    if let Err(e) = stores.delete(&loc) {
        if let Err(restore) = db.restore_tracking(schema, store, saved) {
            tracing::error!(
                "restoring the tracking row of {} failed: {restore:#}",
                hex(&object.hash)
            );
        }
        return Err(e.context(format!("removing {} (tracking row restored)", loc.display)));
    }
    tracing::info!("deleted {}", loc.display);
    Ok(Outcome::Deleted)
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub deleted: u64,
    pub bytes: u64,
    pub referenced: u64,
    pub failed: u64,
}

/// `djfs gc`: every unused object of the schema's stores (or one store), with a progress line.
pub fn collect(
    db: &Database,
    stores: &Stores,
    schema: &str,
    only: Option<&str>,
    dry_run: bool,
) -> Result<Summary> {
    let catalog = db.load_catalog(schema)?;
    let mut summary = Summary::default();
    for store in catalog
        .stores
        .iter()
        .filter(|s| only.is_none_or(|o| o == s.as_str()))
    {
        let unused = db.tracked(schema, store, true)?;
        let total = unused.len();
        for (i, object) in unused.iter().enumerate() {
            eprint!("\r{store}: {}/{total} objects", i + 1);
            if dry_run {
                summary.deleted += 1;
                summary.bytes += object.size;
                continue;
            }
            match delete_unused(db, stores, schema, store, object) {
                Ok(Outcome::Deleted) => {
                    summary.deleted += 1;
                    summary.bytes += object.size;
                }
                Ok(Outcome::Referenced) => summary.referenced += 1,
                Err(e) => {
                    summary.failed += 1;
                    eprintln!("\n{store}: {}: {e:#}", hex(&object.hash));
                }
            }
        }
        if total > 0 {
            eprintln!();
        }
    }
    Ok(summary)
}
