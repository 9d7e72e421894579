//! `djfs gc`: the cleanup of external objects no row references, over a whole schema (the
//! client's `schema.external[store].delete(delete_external_files=True)`); one object's delete
//! is `crate::external::delete_unused`.

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};

use crate::backend::Backend;
pub use crate::external::{delete_unused, Outcome};
use crate::stores::paths::hex;
use crate::stores::Stores;

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
