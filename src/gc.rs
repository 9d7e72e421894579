//! Cleanup of external objects no row references: the client's
//! `schema.external[store].delete(delete_external_files=True)`, shared by `rm` in
//! `.external/<store>/.unused/` and by `djfs gc`.

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};

use crate::backend::{Backend, Tracked};
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
    db: &dyn Backend,
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

/// `djfs gc`: every unused object of the schema's stores (or one store). On a terminal a progress
/// bar per store (indicatif draws nothing when stderr is not a terminal, so logs get no `\r`);
/// then, always, one plain line per store on stderr.
pub fn collect(
    db: &dyn Backend,
    stores: &Stores,
    schema: &str,
    only: Option<&str>,
    dry_run: bool,
) -> Result<Summary> {
    let catalog = db.load_catalog(schema)?;
    let mut summary = Summary::default();
    let style = ProgressStyle::with_template("{prefix}: [{bar:30}] {pos}/{len} objects")
        .expect("a valid template")
        .progress_chars("=> ");
    for store in catalog
        .stores
        .iter()
        .filter(|s| only.is_none_or(|o| o == s.as_str()))
    {
        let unused = db.tracked(schema, store, true)?;
        let total = unused.len();
        let bar = ProgressBar::new(total as u64)
            .with_style(style.clone())
            .with_prefix(store.clone());
        let mut this = Summary::default();
        for object in &unused {
            bar.inc(1);
            if dry_run {
                this.deleted += 1;
                this.bytes += object.size;
                continue;
            }
            match delete_unused(db, stores, schema, store, object) {
                Ok(Outcome::Deleted) => {
                    this.deleted += 1;
                    this.bytes += object.size;
                }
                Ok(Outcome::Referenced) => this.referenced += 1,
                Err(e) => {
                    this.failed += 1;
                    bar.suspend(|| eprintln!("{store}: {}: {e:#}", hex(&object.hash)));
                }
            }
        }
        bar.finish_and_clear();
        let verb = if dry_run { "would delete" } else { "deleted" };
        let mut line = format!(
            "{store}: {verb} {} of {total} unused objects, {} bytes",
            this.deleted, this.bytes
        );
        if this.referenced > 0 {
            line += &format!(", {} referenced meanwhile", this.referenced);
        }
        if this.failed > 0 {
            line += &format!(", {} failed", this.failed);
        }
        eprintln!("{line}");
        summary.deleted += this.deleted;
        summary.bytes += this.bytes;
        summary.referenced += this.referenced;
        summary.failed += this.failed;
    }
    Ok(summary)
}
