//! Row edits in progress, read by listings (what a row folder shows) and changed by writes:
//! rows made with `mkdir` that wait for their required values, rows inserted here lately (their
//! folders show only what was written into them), files removed with `rm` (hidden while their
//! change is pending) and the NULLs due for them, and rows deleted here.
//!
//! Each map has its own lock; none is held while another is taken, except `pending` then
//! `made` in `new_row` (always in that order). Delays are measured from the `now` the caller
//! passes (the core's clock).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::write::RowRef;
use crate::backend::{ColumnValue, Fact, RowFacts, TrackingRow};
use crate::catalog::TableInfo;
use crate::namespace::RowId;

/// How long after `rm` of a nullable attribute's file the NULL is written: a `rm -r` of the row
/// folder removes the files first, and the row must not lose values if its removal is refused.
pub const UNLINK_GRACE: Duration = Duration::from_secs(1);

/// A row made with `mkdir` whose INSERT waits for its required attributes.
pub struct PendingRow {
    pub table: Arc<TableInfo>,
    pub key: Vec<String>,
    pub folder: String,
    pub values: BTreeMap<usize, ColumnValue>,
    pub tracking: Vec<TrackingRow>,
    /// 2.x objects uploaded for its values (settled once it is inserted).
    pub uploads: Vec<crate::journal::StoredUpload>,
    /// What the row folder shows for staged values.
    pub facts: BTreeMap<usize, Fact>,
    /// Columns the folder shows: those written, and attachment folders made with `mkdir`. A new
    /// row folder starts empty, as `cp -r` expects of a folder it just made.
    pub shown: std::collections::BTreeSet<usize>,
}

impl PendingRow {
    /// The required attributes not written yet.
    pub fn missing(&self) -> Vec<&str> {
        self.table
            .columns
            .iter()
            .enumerate()
            .filter(|(i, c)| {
                !self.table.key.contains(i) && !c.has_default && !self.values.contains_key(i)
            })
            .map(|(_, c)| c.name.as_str())
            .collect()
    }

    pub fn facts(&self) -> RowFacts {
        let values: Vec<Fact> = (0..self.table.columns.len())
            .map(|i| {
                if let Some(pos) = self.table.key.iter().position(|&k| k == i) {
                    Fact::Bytes(self.key[pos].clone().into_bytes())
                } else {
                    self.facts.get(&i).cloned().unwrap_or(Fact::Null)
                }
            })
            .collect();
        RowFacts {
            key: self.key.clone(),
            folder: self.folder.clone(),
            full_name: self.folder.clone(),
            stamps: vec![crate::backend::Stamp::None; values.len()],
            values,
        }
    }
}

/// How long `rm` of a required attribute's file hides it, waiting for the row folder's removal.
pub const HIDE_REQUIRED: Duration = Duration::from_secs(10);

/// A row inserted in this mount from a folder made with `mkdir`: when, and which of its columns
/// its folder shows (what was written into it, and attachment folders made in it).
pub struct MadeRow {
    pub at: Instant,
    pub shown: std::collections::BTreeSet<usize>,
}

/// How long after its INSERT a row made with `mkdir` still counts as new: views (`.png`,
/// `.json`) are not listed in it and writing them is accepted without effect, so a `cp -r` of a
/// row folder copied out of a mount completes.
pub const NEW_ROW_VIEWS: Duration = Duration::from_secs(10);

/// A pending `rm` of a nullable attribute's file.
pub struct PendingNull {
    pub due: Instant,
    /// When the `rm` happened, in this mount's sequence of edits (see `RowEdits::next`).
    pub seq: u64,
    pub table: Arc<TableInfo>,
    pub row: RowRef,
    pub column: usize,
    /// What the column held when the file was removed (`Database::value_fingerprint`): the NULL
    /// is written only if it still holds that, so a value written after the `rm` (here or by
    /// another client) is never undone.
    pub fingerprint: Option<String>,
}

/// A file removed with `rm` (or an attachment folder with `rmdir`), hidden while its change is
/// pending.
#[derive(Clone, Copy, Debug)]
pub struct Hidden {
    pub at: Instant,
    /// The attachment folder itself was removed (`rm -r att/`); after `rm att/file` the folder
    /// stays, empty, ready for the next `cp file att/`.
    pub folder: bool,
}

/// The edits in progress of one mount.
#[derive(Default)]
pub struct RowEdits {
    /// Rows made with `mkdir` that wait for required attributes.
    pub pending: Mutex<HashMap<RowId, PendingRow>>,
    /// Attribute files removed with `rm`, hidden meanwhile (by row and column).
    pub hidden: Mutex<HashMap<(RowId, usize), Hidden>>,
    /// NULLs to write once their grace has passed.
    pub nulls: Mutex<Vec<PendingNull>>,
    /// Rows deleted through this mount, with when in the sequence of edits: a NULL whose `rm`
    /// came before the delete is dropped (the row it was for is gone; a row with the same key
    /// inserted later, by anyone, is another row).
    pub deleted: Mutex<HashMap<RowId, u64>>,
    /// Rows made with `mkdir` in this mount, by when they were inserted: their views stay hidden
    /// for `NEW_ROW_VIEWS`, so that `cp -r` (which creates files with O_EXCL) can copy a row
    /// folder holding views into them.
    pub made: Mutex<HashMap<RowId, MadeRow>>,
    /// The sequence of edits (orders `rm`s and deletes, whatever the clock says).
    sequence: std::sync::atomic::AtomicU64,
}

impl RowEdits {
    /// The next number in this mount's sequence of edits.
    pub fn next(&self) -> u64 {
        self.sequence
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether the NULL of an `rm` numbered `seq` is for a row deleted through this mount since.
    pub fn deleted_since(&self, row_key: &RowId, seq: u64) -> bool {
        self.deleted
            .lock()
            .unwrap()
            .get(row_key)
            .is_some_and(|&deleted| deleted > seq)
    }

    /// Whether a row folder is new: made with `mkdir` in this mount and waiting for its values,
    /// or inserted less than `NEW_ROW_VIEWS` ago.
    pub fn new_row(&self, now: Instant, row_key: &RowId) -> bool {
        self.pending.lock().unwrap().contains_key(row_key)
            || self.made_row_shown(now, row_key).is_some()
    }

    /// The columns a row inserted less than `NEW_ROW_VIEWS` ago shows.
    pub fn made_row_shown(
        &self,
        now: Instant,
        row_key: &RowId,
    ) -> Option<std::collections::BTreeSet<usize>> {
        self.made
            .lock()
            .unwrap()
            .get(row_key)
            .filter(|m| now.saturating_duration_since(m.at) < NEW_ROW_VIEWS)
            .map(|m| m.shown.clone())
    }

    /// A key file written into a new row folder shows there (as the copy left it).
    pub fn show_key_file(&self, now: Instant, row_key: &RowId, column: usize) {
        if let Some(p) = self.pending.lock().unwrap().get_mut(row_key) {
            p.shown.insert(column);
            return;
        }
        self.show_in_made_row(now, row_key, column);
    }

    /// A column of a recently made row was written or its folder made: show it.
    pub fn show_in_made_row(&self, now: Instant, row_key: &RowId, column: usize) -> bool {
        match self.made.lock().unwrap().get_mut(row_key) {
            Some(m) if now.saturating_duration_since(m.at) < NEW_ROW_VIEWS => {
                m.shown.insert(column);
                true
            }
            _ => false,
        }
    }

    // ----- what listings ask (the read path only asks; writes change) -----

    /// What a row made with `mkdir` and waiting for its values holds so far.
    pub fn pending_facts(&self, row_key: &RowId) -> Option<RowFacts> {
        self.pending.lock().unwrap().get(row_key).map(|p| p.facts())
    }

    /// The columns a waiting row's folder shows.
    pub fn pending_shown(&self, row_key: &RowId) -> Option<std::collections::BTreeSet<usize>> {
        self.pending
            .lock()
            .unwrap()
            .get(row_key)
            .map(|p| p.shown.clone())
    }

    /// The folders of waiting rows of table `class` in `schema` that `listed` does not have.
    pub fn pending_folders(
        &self,
        schema: &str,
        class: &str,
        listed: impl Fn(&str) -> bool,
    ) -> Vec<String> {
        self.pending
            .lock()
            .unwrap()
            .keys()
            .filter(|r| &*r.schema == schema && &*r.class == class && !listed(&r.folder))
            .map(|r| r.folder.to_string())
            .collect()
    }

    /// Rows that never got their required values, with what they miss (said at unmount).
    pub fn never_inserted(&self) -> Vec<(RowId, Vec<String>)> {
        self.pending
            .lock()
            .unwrap()
            .iter()
            .map(|(row, p)| {
                (
                    row.clone(),
                    p.missing().into_iter().map(String::from).collect(),
                )
            })
            .collect()
    }

    /// Every NULL waiting for its grace is due at `now` (unmount).
    pub fn all_nulls_due(&self, now: Instant) {
        for n in self.nulls.lock().unwrap().iter_mut() {
            n.due = now;
        }
    }

    /// Of `row_key`'s columns, those hidden after `rm` (and whether as a whole folder), as of
    /// `now`; forgets hidings older than `HIDE_REQUIRED`.
    pub fn hidden_columns(&self, now: Instant, row_key: &RowId) -> HashMap<usize, Hidden> {
        let mut hidden = self.hidden.lock().unwrap();
        if hidden.is_empty() {
            return HashMap::new();
        }
        hidden.retain(|_, h| now.saturating_duration_since(h.at) < HIDE_REQUIRED);
        hidden
            .iter()
            .filter(|((row, _), _)| row == row_key)
            .map(|((_, column), h)| (*column, *h))
            .collect()
    }

    /// The files of a row are no longer hidden (its removal ended).
    pub fn unhide_row(&self, row_key: &RowId) {
        self.hidden.lock().unwrap().retain(|(k, _), _| k != row_key);
    }

    /// A row's removal was refused: the row stays as it was. `rm -r` removed its files first,
    /// and the NULLs those `rm`s scheduled (still within their grace, `UNLINK_GRACE`) are void,
    /// so no value is lost; its files show again.
    pub fn keep_row(&self, row_key: &RowId) {
        self.nulls.lock().unwrap().retain(|n| n.row.id != *row_key);
        self.unhide_row(row_key);
    }
}
