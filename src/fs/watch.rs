//! Warm metadata at kernel speed (issue 14 item 4). The kernel may keep the entries and
//! attributes of a table's rows, and the listings of its row folders, for `KERNEL_TTL` instead
//! of the refresh delay — when the table is *watched*: a watcher (`check_watched`, run every
//! refresh delay by the mount) asks the server whether each watched table changed (one light
//! query each, `Backend::table_stamp`) and, when it did, tells the kernel to forget the table's
//! folder (one FUSE notification: its dentries go, so rows are looked up again) and marks what
//! djfs itself read of the table before as stale. So `--refresh` keeps its meaning — the longest
//! a change by another client stays unseen — while an unchanged table is served by the kernel.
//!
//! A table is watched once djfs has its change stamp (a listing asks for it), and stops being
//! watched when the kernel can hold nothing of it with the long timeout any more. Backends that
//! cannot tell changes (no stamp) are never watched: their rows keep the refresh delay.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Filesystem;
use crate::backend::TableStamp;
use crate::catalog::TableInfo;
use crate::namespace::Node;

/// How long the kernel may keep what it was told of a watched table's rows.
pub const KERNEL_TTL: Duration = Duration::from_secs(300);

/// What the kernel must forget: a name in a folder (with everything under it), or an inode's
/// attributes and cached pages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KernelInvalidation {
    Entry { parent: u64, name: String },
    Inode(u64),
}

pub(super) struct Watched {
    /// By schema, then class (two levels, so that a check needs no key of its own: it runs for
    /// every row lookup and every entry given to the kernel).
    tables: Mutex<HashMap<Arc<str>, WatchesByClass>>,
    /// Folders whose listing the kernel was allowed to keep, and since when (by inode): the
    /// latest `KEPT_DIRS`, so that a walk of a million rows does not hold a million entries. A
    /// kept listing not remembered here is still reset by its folder's mtime once the folder is
    /// looked up again (only a folder held open the whole time, as a shell's working folder,
    /// relies on this).
    dirs: Mutex<lru::LruCache<u64, Instant>>,
}

/// Kept folder listings remembered for the watcher, at most (about 5 MiB).
const KEPT_DIRS: usize = 65_536;

impl Default for Watched {
    fn default() -> Self {
        Watched {
            tables: Default::default(),
            dirs: Mutex::new(lru::LruCache::new(
                std::num::NonZeroUsize::new(KEPT_DIRS).unwrap(),
            )),
        }
    }
}

type WatchesByClass = HashMap<Arc<str>, Watch>;

/// What the kernel may do with a folder's listing at an `opendir`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DirCaching {
    /// Ask djfs each time (not a watched table's).
    Never,
    /// Read it from djfs now and keep it.
    Fill,
    /// Keep using the listing it has (nothing changed since it was read).
    Keep,
}

struct Watch {
    /// What the server said at the last check.
    stamp: TableStamp,
    /// What djfs read of the table before this is stale (the watch began, or a change was seen).
    valid_from: Instant,
    /// When the kernel was last given something of the table with the long timeout.
    last_given: Instant,
    /// A change was seen at the last check: the kernel is told once more at the next one (a
    /// reply under way during the first notification may have given it the old rows again).
    settle: bool,
}

impl Watched {
    /// Starts watching a table (its stamp as just asked); a table watched already keeps its
    /// own stamp (only the watcher moves it on, so no change goes unnoticed).
    fn watch(&self, schema: &Arc<str>, table: &TableInfo, stamp: TableStamp, now: Instant) {
        self.tables
            .lock()
            .unwrap()
            .entry(schema.clone())
            .or_default()
            .entry(Arc::from(table.class_name.as_str()))
            .or_insert_with(|| Watch {
                stamp,
                valid_from: now,
                last_given: now,
                settle: false,
            });
    }

    /// Whether the table is watched; if so, the kernel is being given something of it now.
    fn given(&self, schema: &str, class: &str, now: Instant) -> bool {
        self.with(schema, class, |w| w.last_given = now).is_some()
    }

    /// `f` on the watch of table `class`, if it is watched.
    fn with<T>(&self, schema: &str, class: &str, f: impl FnOnce(&mut Watch) -> T) -> Option<T> {
        let mut tables = self.tables.lock().unwrap();
        tables.get_mut(schema)?.get_mut(class).map(f)
    }

    fn unwatch(&self, schema: &str, class: &str) {
        if let Some(classes) = self.tables.lock().unwrap().get_mut(schema) {
            classes.remove(class);
        }
    }

    /// Whether something read of the table at `at` may still be used (not before the watch
    /// began or the last change seen).
    fn current(&self, schema: &str, class: &str, at: Instant) -> bool {
        self.with(schema, class, |w| at >= w.valid_from)
            .unwrap_or(true)
    }

    pub fn len(&self) -> usize {
        self.tables.lock().unwrap().values().map(|c| c.len()).sum()
    }

    /// Inode `ino` went: its folder listing is not the kernel's any more.
    pub fn forget_dir(&self, ino: u64) {
        self.dirs.lock().unwrap().pop(&ino);
    }
}

impl Filesystem {
    /// A table's change stamp was asked just now: watch the table from now on.
    pub(super) fn watch_table(
        &self,
        schema: &Arc<str>,
        table: &TableInfo,
        stamp: Option<TableStamp>,
    ) {
        // (`--refresh 0`: every access asks the database; the kernel keeps nothing.)
        if self.opts.refresh.is_zero() {
            return;
        }
        if let Some(stamp) = stamp {
            self.watched.watch(schema, table, stamp, self.clock.now());
        }
    }

    /// Whether what was read of table `class` at `at` is still to be used: within the refresh
    /// delay, and not before the watcher last saw the table change.
    pub(super) fn fresh_in(&self, schema: &Arc<str>, class: &str, at: Instant) -> bool {
        self.fresh(at) && self.watched.current(schema, class, at)
    }

    /// How long the kernel may keep the entry and attributes of inode `ino`: the long timeout
    /// for a watched table's rows and what is in them, else the refresh delay.
    pub fn entry_ttl(&self, ino: u64) -> Duration {
        match self.handles.node(ino) {
            Some(node) => self.entry_ttl_of(&node),
            None => self.opts.refresh,
        }
    }

    /// `entry_ttl` of a node at hand (a listing's entry).
    pub fn entry_ttl_of(&self, node: &Node) -> Duration {
        match node {
            Node::Row { schema, class, .. }
            | Node::RowEntry { schema, class, .. }
            | Node::AttachFile { schema, class, .. }
                if self.watched.given(schema, class, self.clock.now()) =>
            {
                KERNEL_TTL.max(self.opts.refresh)
            }
            _ => self.opts.refresh,
        }
    }

    /// What the kernel may do with the listing of folder `ino` at this `opendir`: a row's or an
    /// attachment folder's listing in a watched table is kept by the kernel, until the table
    /// changes (then the next `opendir` has it read again).
    pub fn dir_caching(&self, ino: u64) -> DirCaching {
        let now = self.clock.now();
        let (schema, class) = match self.handles.node(ino) {
            Some(Node::Row { schema, class, .. }) | Some(Node::RowEntry { schema, class, .. }) => {
                (schema, class)
            }
            _ => return DirCaching::Never,
        };
        if !self.watched.given(&schema, &class, now) {
            return DirCaching::Never;
        }
        let mut dirs = self.watched.dirs.lock().unwrap();
        let kept_since = dirs.get(&ino).copied();
        if kept_since.is_some_and(|since| self.watched.current(&schema, &class, since)) {
            return DirCaching::Keep;
        }
        dirs.put(ino, now);
        DirCaching::Fill
    }

    /// Whether the kernel may keep the listing of folder `ino`, read now without an `opendir`
    /// (see `walks`): a row's or an attachment folder's in a watched table, until the table
    /// changes (then the watcher has the kernel forget it).
    pub fn kernel_may_keep(&self, ino: u64) -> bool {
        let now = self.clock.now();
        let (schema, class) = match self.handles.node(ino) {
            Some(Node::Row { schema, class, .. }) | Some(Node::RowEntry { schema, class, .. }) => {
                (schema, class)
            }
            _ => return false,
        };
        if !self.watched.given(&schema, &class, now) {
            return false;
        }
        self.watched.dirs.lock().unwrap().put(ino, now);
        true
    }

    /// The watcher's round: asks whether each watched table changed; returns what the kernel
    /// must forget. Tables the kernel can hold nothing of with the long timeout stop being
    /// watched.
    pub fn check_watched(&self) -> Vec<KernelInvalidation> {
        let now = self.clock.now();
        let due: Vec<(Arc<str>, Arc<str>, TableStamp, bool)> = {
            let mut tables = self.watched.tables.lock().unwrap();
            let keep = KERNEL_TTL + self.opts.refresh;
            for classes in tables.values_mut() {
                classes.retain(|_, w| now.saturating_duration_since(w.last_given) < keep);
            }
            tables.retain(|_, classes| !classes.is_empty());
            tables
                .iter()
                .flat_map(|(schema, classes)| {
                    classes
                        .iter()
                        .map(|(class, w)| (schema.clone(), class.clone(), w.stamp, w.settle))
                })
                .collect()
        };
        let mut out = Vec::new();
        for (schema, class, before, settle) in due {
            // The catalog as last read (asking its fingerprint here would add a query a round):
            // a table dropped meanwhile has no stamp and stops being watched.
            let table = self
                .metadata
                .catalog(&schema)
                .and_then(|entry| entry.catalog.by_class(&class).cloned());
            let seen = match table.map(|t| self.db.table_stamp(&t)) {
                Some(Ok(Some(seen))) => seen,
                None | Some(Ok(None)) => {
                    self.watched.unwatch(&schema, &class);
                    continue;
                }
                Some(Err(e)) => {
                    // Asked again at the next round; meanwhile the kernel keeps what it has.
                    tracing::debug!(table = %class, "checking a watched table: {e:#}");
                    continue;
                }
            };
            let changed = !before.unchanged_at(&seen);
            let changed_at = self.clock.now();
            self.watched.with(&schema, &class, |w| {
                w.stamp = seen;
                w.settle = changed;
                if changed {
                    w.valid_from = changed_at;
                }
            });
            if changed || settle {
                tracing::debug!(table = %class, changed, "watched table: the kernel forgets its rows");
                out.extend(self.forget_table_in_kernel(&schema, &class));
            }
        }
        out
    }

    /// What makes the kernel forget a table's folder: its name in its parent (the rows under it
    /// are looked up again) and the folder's own attributes.
    fn forget_table_in_kernel(
        &self,
        schema: &Arc<str>,
        class: &Arc<str>,
    ) -> Vec<KernelInvalidation> {
        let parent = if self.root_schema().as_deref() == Some(&**schema) {
            Some(super::ROOT_INO)
        } else {
            self.handles.find(&Node::Schema(schema.clone()))
        };
        let table = self.handles.find(&Node::Table {
            schema: schema.clone(),
            class: class.clone(),
        });
        let mut out = Vec::new();
        if let Some(parent) = parent {
            out.push(KernelInvalidation::Entry {
                parent,
                name: class.to_string(),
            });
        }
        if let Some(table) = table {
            out.push(KernelInvalidation::Inode(table));
        }
        // The listings the kernel keeps of the table's rows: a folder held open (a shell's
        // working folder) keeps its entry, so only this makes the kernel read it again.
        let mut dirs = self.watched.dirs.lock().unwrap();
        let in_table: Vec<u64> = dirs
            .iter()
            .map(|(&ino, _)| ino)
            .filter(|&ino| {
                matches!(
                    self.handles.node(ino),
                    Some(Node::Row { schema: s, class: c, .. } | Node::RowEntry { schema: s, class: c, .. })
                        if s == *schema && c == *class
                )
            })
            .collect();
        for ino in in_table {
            dirs.pop(&ino);
            out.push(KernelInvalidation::Inode(ino));
        }
        out
    }
}
