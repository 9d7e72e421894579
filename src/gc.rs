//! `djfs gc`: the cleanup of a schema's stored objects no row references. In a 0.14 store, the
//! client's `schema.external[store].delete(delete_external_files=True)` (one object's delete is
//! `crate::external::delete_unused`); in a 2.x store, what the client's
//! `dj.gc.GarbageCollector(schema, store=…).collect()` collects (`crate::external::unused`).
//! A migrated schema's store gets both, each kept clear of the other's live objects.

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};

use crate::backend::{Backend, Tracked};
use crate::external::unused::{self as v2, Legacy};
pub use crate::external::{delete_unused, Outcome};
use crate::stores::paths::{hex, view_name};
use crate::stores::Stores;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub deleted: u64,
    pub bytes: u64,
    pub referenced: u64,
    pub failed: u64,
}

impl Summary {
    fn add(&mut self, other: &Summary) {
        self.deleted += other.deleted;
        self.bytes += other.bytes;
        self.referenced += other.referenced;
        self.failed += other.failed;
    }
}

/// What `djfs gc` is asked to do.
#[derive(Clone, Copy, Debug, Default)]
pub struct GcOptions<'a> {
    /// Only this store.
    pub only: Option<&'a str>,
    /// Count, delete nothing.
    pub dry_run: bool,
    /// Print each object (deleted, or that would be) on stdout: `<store>\t<name>`, a 0.14
    /// object by its name in `.unused`, a 2.x object by its path in the store.
    pub list: bool,
}

/// 2.x objects deleted per transaction that holds the tables with stored columns: long enough
/// to spare the re-reading, short enough not to hold the client's inserts up for long.
const BATCH: usize = 100;

/// One object to delete: its name for people and `--list`, and its size.
enum Unused {
    Legacy(Tracked),
    V2(String, u64),
}

impl Unused {
    fn name(&self) -> String {
        match self {
            Unused::Legacy(t) => view_name(&hex(&t.hash), &t.kind),
            Unused::V2(path, _) => path.clone(),
        }
    }

    fn size(&self) -> u64 {
        match self {
            Unused::Legacy(t) => t.size,
            Unused::V2(_, size) => *size,
        }
    }
}

/// `djfs gc`: every unused object of the schema's stores (or one store). On a terminal a progress
/// bar per store (indicatif draws nothing when stderr is not a terminal, so logs get no `\r`);
/// then, always, one plain line per store on stderr.
pub fn collect(
    db: &dyn Backend,
    stores: &Stores,
    schema: &str,
    opts: GcOptions<'_>,
) -> Result<Summary> {
    let catalog = db.load_catalog(schema)?;
    let legacy = Legacy {
        stores: catalog.stores.clone(),
    };
    let v2_stores = v2::v2_stores(&catalog, stores);
    let mut names: Vec<&String> = catalog.stores.iter().chain(&v2_stores).collect();
    names.sort();
    names.dedup();
    let mut summary = Summary::default();
    for store in names
        .into_iter()
        .filter(|s| opts.only.is_none_or(|o| o == s.as_str()))
    {
        let mut unused = Vec::new();
        if catalog.stores.contains(store) {
            let tracked = db.tracked(schema, store, true)?;
            // A migrated schema: a 2.x value may reference a 0.14 object.
            let tracked = spare_v2_referenced(db, stores, schema, store, tracked)?;
            unused.extend(tracked.into_iter().map(Unused::Legacy));
        }
        if v2_stores.contains(store) {
            unused.extend(
                v2::unused(db, stores, schema, store, &legacy)?
                    .into_iter()
                    .map(|(path, size)| Unused::V2(path, size)),
            );
        }
        let this = collect_store(db, stores, schema, store, &unused, &legacy, opts)?;
        summary.add(&this);
    }
    Ok(summary)
}

/// Of a 0.14 store's unused objects, those no 2.x value references.
fn spare_v2_referenced(
    db: &dyn Backend,
    stores: &Stores,
    schema: &str,
    store: &str,
    tracked: Vec<Tracked>,
) -> Result<Vec<Tracked>> {
    let refs = db.stored_references(schema)?;
    let covered = v2::coverage(stores, &refs);
    // No 2.x references (a 0.14 schema), or a store the config lacks: nothing to compare.
    if covered.is_empty() || !stores.is_configured(store) {
        return Ok(tracked);
    }
    let mut out = Vec::new();
    for t in tracked {
        if !covered.covers(&stores.tracked_place(store, schema, &t.hash, &t.kind)?) {
            out.push(t);
        }
    }
    Ok(out)
}

fn collect_store(
    db: &dyn Backend,
    stores: &Stores,
    schema: &str,
    store: &str,
    unused: &[Unused],
    legacy: &Legacy,
    opts: GcOptions<'_>,
) -> Result<Summary> {
    let style = ProgressStyle::with_template("{prefix}: [{bar:30}] {pos}/{len} objects")
        .expect("a valid template")
        .progress_chars("=> ");
    let total = unused.len();
    let bar = ProgressBar::new(total as u64)
        .with_style(style)
        .with_prefix(store.to_string());
    let mut this = Summary::default();
    let tally = |object: &Unused, outcome: Result<Outcome>, this: &mut Summary| {
        bar.inc(1);
        match outcome {
            Ok(Outcome::Deleted) => {
                this.deleted += 1;
                this.bytes += object.size();
                if opts.list {
                    bar.suspend(|| println!("{store}\t{}", object.name()));
                }
            }
            Ok(Outcome::Referenced) => this.referenced += 1,
            Err(e) => {
                this.failed += 1;
                bar.suspend(|| eprintln!("{store}: {}: {e:#}", object.name()));
            }
        }
    };
    if opts.dry_run {
        for object in unused {
            tally(object, Ok(Outcome::Deleted), &mut this);
        }
    } else {
        for object in unused.iter().filter(|o| matches!(o, Unused::Legacy(_))) {
            let Unused::Legacy(t) = object else { continue };
            let outcome =
                if spare_v2_referenced(db, stores, schema, store, vec![t.clone()])?.is_empty() {
                    Ok(Outcome::Referenced)
                } else {
                    delete_unused(db, stores, schema, store, t)
                };
            tally(object, outcome, &mut this);
        }
        let v2_objects: Vec<&Unused> = unused
            .iter()
            .filter(|o| matches!(o, Unused::V2(..)))
            .collect();
        for batch in v2_objects.chunks(BATCH) {
            let paths: Vec<String> = batch.iter().map(|o| o.name()).collect();
            let outcomes = v2::delete(db, stores, schema, store, &paths, legacy)
                .with_context(|| format!("store {store:?}"))?;
            for (object, outcome) in batch.iter().zip(outcomes) {
                tally(object, outcome, &mut this);
            }
        }
    }
    bar.finish_and_clear();
    let verb = if opts.dry_run {
        "would delete"
    } else {
        "deleted"
    };
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
    Ok(this)
}
