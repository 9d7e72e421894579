//! Paged table listings: a table folder whose rows are not cached is read page by page in
//! primary-key order (keyset pagination, `Backend::list_rows_page`) while `readdir` asks for
//! entries, so `ls -f | head` gets its first names after one small page and a listing never
//! holds a whole table of millions of rows. A row that exists throughout a walk is listed exactly
//! once however the table changes meanwhile (each page starts after the last key seen).
//!
//! Row lookups without a cached listing use a read-ahead that grows while lookups in one table
//! come in quick succession (`find` descending into every row in key order): one query then
//! answers the next rows too, and a single `stat` stays one point query.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use super::{db_error, DirEntry, Filesystem, FsResult, Listed, Listing};
use crate::backend::{PageStart, RowFacts, TableStamp};
use crate::catalog::TableInfo;
use crate::namespace::{Node, RowId};

/// Rows of a paged listing's first page (later pages grow fourfold up to `MAX_PAGE_ROWS`:
/// measured on 200,000 rows, pages of 8,000 listed faster than pages of 64,000 and held 40 %
/// less memory). `ls -f | head` reads about 1,600 names before `head`'s exit stops it: a first
/// page of 2,000 answers it with one query (with 1,000, a second page of 4,000 was read too).
pub const FIRST_PAGE_ROWS: usize = 2_000;
const MAX_PAGE_ROWS: usize = 8_000;
/// Pages a listing keeps behind the one being read (for a `readdir` that asks again).
const KEPT_PAGES: usize = 2;

/// Rows read ahead after a looked-up one, at most; lookups in one table less than
/// `READ_AHEAD_GAP` apart double the read-ahead, a pause resets it to the row alone.
const MAX_READ_AHEAD: usize = 256;
const READ_AHEAD_GAP: std::time::Duration = std::time::Duration::from_secs(1);

/// A table folder's listing being read page by page for one open directory handle.
pub(super) struct PagedDir {
    schema: Arc<str>,
    class: Arc<str>,
    table: Arc<TableInfo>,
    /// When the walk began and what the table's change stamp said then (for the cached
    /// listing assembled on the way).
    started: Instant,
    stamp: Option<TableStamp>,
    /// The key of the last row read (None before the first page).
    last_key: Option<Vec<String>>,
    done: bool,
    page_rows: usize,
    /// The entries kept: `kept[0]` starts at entry index `kept_from`; `total` entries so far.
    kept: VecDeque<Arc<Vec<DirEntry>>>,
    kept_from: usize,
    total: usize,
    /// Entries listed before the rows (`.definition`).
    head: Arc<Vec<DirEntry>>,
    /// The rows so far, while they fit the listing cache's share: the whole table, once read,
    /// becomes the table's cached listing (lookups then need no query).
    assembled: Option<(Vec<Arc<RowFacts>>, usize)>,
    /// Rows made here but not inserted yet, listed at the end unless a page had them.
    pending: Vec<String>,
    /// Bytes of this listing's rows put in the row cache so far.
    put_bytes: usize,
}

/// A part of a directory's entries: `entries[0]` is entry number `first` (no `.`/`..`);
/// empty when the listing has no entries from `first` on.
pub struct DirChunk {
    pub first: usize,
    pub entries: Arc<Vec<DirEntry>>,
}

/// The read-ahead state of each table's lookups: (schema, class) → when the last lookup
/// missed and how many rows it read.
#[derive(Default)]
pub(super) struct ReadAhead {
    tables: Mutex<HashMap<TableKey, (Instant, usize)>>,
}

type TableKey = (Arc<str>, Arc<str>);

impl ReadAhead {
    /// How many rows to read for a lookup in this table now.
    fn rows_for(&self, schema: &Arc<str>, class: &Arc<str>, now: Instant) -> usize {
        let mut tables = self.tables.lock().unwrap();
        let entry = tables
            .entry((schema.clone(), class.clone()))
            .or_insert((now, 0));
        let rows = if now.saturating_duration_since(entry.0) < READ_AHEAD_GAP {
            (entry.1 * 2).clamp(1, MAX_READ_AHEAD)
        } else {
            1
        };
        *entry = (now, rows);
        if tables.len() > 1024 {
            tables.retain(|_, (at, _)| now.saturating_duration_since(*at) < READ_AHEAD_GAP);
        }
        rows
    }
}

impl Filesystem {
    /// Starts a paged listing of a table folder and reads its first page.
    pub(super) fn open_paged(
        &self,
        schema: &Arc<str>,
        class: &Arc<str>,
        table: Arc<TableInfo>,
        stamp: Option<TableStamp>,
        head: Vec<DirEntry>,
    ) -> FsResult<PagedDir> {
        let pending = self.edits.pending_folders(schema, class, |_| false);
        let mut dir = PagedDir {
            schema: schema.clone(),
            class: class.clone(),
            table,
            started: self.clock.now(),
            stamp,
            last_key: None,
            done: false,
            page_rows: self.opts.page_rows.max(1),
            kept: VecDeque::new(),
            kept_from: 0,
            total: 0,
            head: Arc::new(head),
            assembled: Some((Vec::new(), 0)),
            pending,
            put_bytes: 0,
        };
        self.read_page(&mut dir)?;
        Ok(dir)
    }

    /// The entries of a paged listing from entry number `from` on, reading pages as needed.
    pub(super) fn paged_chunk(&self, dir: &mut PagedDir, from: usize) -> FsResult<DirChunk> {
        let heads = dir.head.len();
        if from < heads {
            return Ok(DirChunk {
                first: 0,
                entries: dir.head.clone(),
            });
        }
        let from_row = from - heads;
        if from_row < dir.kept_from {
            // Asked again for entries already let go (a rewind): read the table again from
            // its start.
            tracing::debug!(table = %dir.class, from, "paged listing read again from the start");
            dir.last_key = None;
            dir.done = false;
            dir.kept.clear();
            dir.kept_from = 0;
            dir.total = 0;
            dir.page_rows = self.opts.page_rows.max(1);
            dir.assembled = None;
        }
        loop {
            let mut start = dir.kept_from;
            for page in &dir.kept {
                if from_row < start + page.len() {
                    return Ok(DirChunk {
                        first: heads + start,
                        entries: page.clone(),
                    });
                }
                start += page.len();
            }
            if dir.done {
                return Ok(DirChunk {
                    first: from,
                    entries: Arc::new(Vec::new()),
                });
            }
            self.read_page(dir)?;
        }
    }

    /// Reads the next page of a paged listing into its kept pages.
    fn read_page(&self, dir: &mut PagedDir) -> FsResult<()> {
        let from = match &dir.last_key {
            None => PageStart::First,
            Some(key) => PageStart::After(key),
        };
        let rows = self
            .db
            .list_rows_page(&dir.table, from, dir.page_rows)
            .map_err(|e| {
                db_error(
                    &format!(
                        "listing table {}.{}",
                        dir.table.schema, dir.table.class_name
                    ),
                    e,
                )
            })?;
        tracing::debug!(table = %dir.class, rows = rows.len(), "listing page read");
        let last_page = rows.len() < dir.page_rows;
        dir.page_rows = (dir.page_rows * 4).min(MAX_PAGE_ROWS);
        if let Some(last) = rows.last() {
            dir.last_key = Some(last.key.clone());
        }
        let now = self.clock.now();
        let mut named = Vec::with_capacity(rows.len() + dir.pending.len());
        for facts in rows {
            let facts = Arc::new(facts);
            dir.pending.retain(|p| *p != facts.folder);
            let mtime = self.row_mtime(&dir.schema, &dir.table, &facts);
            named.push((facts.folder.clone(), mtime));
            // `find` descends into each row next: the row is known without a query. Only
            // while this listing's rows fit the row cache: beyond that each would push out
            // one put before it (the lookups' read-ahead serves the rest of a huge table).
            if dir.put_bytes < self.cache_budget.rows {
                dir.put_bytes += facts.approx_bytes();
                self.metadata.put_row(
                    RowId::new(dir.schema.clone(), dir.class.clone(), facts.folder.as_str()),
                    now,
                    Some(facts.clone()),
                );
            }
            let budget = self.cache_budget.listings / 2;
            if let Some((assembled, bytes)) = &mut dir.assembled {
                *bytes += facts.approx_bytes() + 48;
                if *bytes > budget {
                    dir.assembled = None;
                } else {
                    assembled.push(facts);
                }
            }
        }
        if last_page {
            dir.done = true;
            let made = SystemTime::now();
            named.extend(dir.pending.drain(..).map(|folder| (folder, made)));
            if let Some((rows, bytes)) = dir.assembled.take() {
                self.install_listing(&dir.schema, &dir.table, rows, bytes, dir.stamp, dir.started);
            }
        }
        let entries: Vec<DirEntry> = self.entries_for(
            named
                .into_iter()
                .map(|(folder, mtime)| {
                    let row: Arc<str> = folder.as_str().into();
                    (
                        Node::Row {
                            schema: dir.schema.clone(),
                            class: dir.class.clone(),
                            row,
                        },
                        folder,
                        Listed::DirAt(mtime),
                    )
                })
                .collect(),
        );
        dir.total += entries.len();
        dir.kept.push_back(Arc::new(entries));
        while dir.kept.len() > KEPT_PAGES + 1 {
            if let Some(dropped) = dir.kept.pop_front() {
                dir.kept_from += dropped.len();
            }
        }
        Ok(())
    }

    /// Makes `rows` (a whole table read at `started`) the table's cached listing, unless a newer
    /// listing is there already.
    pub(super) fn install_listing(
        &self,
        schema: &Arc<str>,
        table: &TableInfo,
        rows: Vec<Arc<RowFacts>>,
        bytes: usize,
        stamp: Option<TableStamp>,
        started: Instant,
    ) -> Arc<Listing> {
        let listing = Arc::new(Listing::new(rows, stamp));
        let slot = self.metadata.listing_slot(schema, table);
        let mut slot = slot.lock().unwrap();
        if slot.as_ref().is_some_and(|t| t.at > started) {
            return listing;
        }
        self.metadata.listed(schema, table, bytes);
        *slot = Some(super::Timed {
            at: started,
            value: listing.clone(),
        });
        listing
    }

    /// A row of a table without a cached listing, by its canonical key (and the folder name it
    /// has): one query, which also reads the following rows when lookups in this table come in
    /// quick succession. (Pages and point queries compare keys alike: a row absent from a page
    /// that starts at its key does not exist.)
    pub(super) fn find_row_reading_ahead(
        &self,
        schema: &Arc<str>,
        class: &Arc<str>,
        table: &TableInfo,
        key: &[String],
        folder: &str,
    ) -> anyhow::Result<Option<RowFacts>> {
        let now = self.clock.now();
        let ahead = self.read_ahead.rows_for(schema, class, now);
        if ahead <= 1 {
            return self.db.find_row(table, key);
        }
        let rows = self.db.list_rows_page(table, PageStart::At(key), ahead)?;
        let mut found = None;
        for facts in rows {
            if found.is_none() && facts.folder == folder {
                found = Some(facts);
                continue;
            }
            self.metadata.put_row(
                RowId::new(schema.clone(), class.clone(), facts.folder.as_str()),
                now,
                Some(Arc::new(facts)),
            );
        }
        Ok(found)
    }
}
