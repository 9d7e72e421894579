//! What the database said lately: the schema list, each schema's catalog, each table's listing,
//! rows found by point queries, and the objects each store tracks, each kept with when it was
//! read. The core asks with a freshness test (the refresh delay on its clock) and loads what is
//! stale; a change made through this mount forgets what it made stale.
//!
//! Each map has its own lock, never held while the database is asked; a table's listing slot
//! has a lock of its own, held while it is refreshed, so concurrent refreshes run once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::{FsResult, Timed};
use crate::backend::{RowFacts, Tracked};
use crate::catalog::{SchemaCatalog, TableInfo};
use crate::namespace::RowId;

/// All rows of one table, from one query.
pub(super) struct Listing {
    pub rows: Vec<Arc<RowFacts>>,
    pub by_folder: HashMap<String, usize>,
}

/// The tracked objects of one store (all, or only the unused), by view name.
pub(super) struct TrackedListing {
    pub objects: Vec<(String, Tracked)>,
}

/// (schema, class name)
type TableKey = (Arc<str>, Arc<str>);
/// A table's listing slot: locked while refreshing so concurrent refreshes run once.
pub(super) type ListingSlot = Arc<Mutex<Option<Timed<Arc<Listing>>>>>;
/// (schema, store, only unused)
pub(super) type TrackedKey = (Arc<str>, Arc<str>, bool);

/// Point-query results are dropped once there are more than this many (the stale ones first).
const MAX_ROWS: usize = 100_000;

#[derive(Default)]
pub(super) struct MetadataCache {
    schemas: Mutex<Option<Timed<Arc<Vec<String>>>>>,
    catalogs: Mutex<HashMap<Arc<str>, Timed<Arc<SchemaCatalog>>>>,
    listings: Mutex<HashMap<TableKey, ListingSlot>>,
    /// Rows found by point queries (None: known absent).
    rows: Mutex<HashMap<RowId, Timed<Option<Arc<RowFacts>>>>>,
    tracked: Mutex<HashMap<TrackedKey, Timed<Arc<TrackedListing>>>>,
}

fn table_key(schema: &Arc<str>, table: &TableInfo) -> TableKey {
    (schema.clone(), table.class_name.as_str().into())
}

impl MetadataCache {
    /// The schema list if `fresh`, else `load`ed (under the lock: loaded once at a time).
    pub fn schemas(
        &self,
        fresh: impl Fn(Instant) -> bool,
        load: impl FnOnce() -> FsResult<(Instant, Arc<Vec<String>>)>,
    ) -> FsResult<Arc<Vec<String>>> {
        let mut slot = self.schemas.lock().unwrap();
        if let Some(t) = slot.as_ref().filter(|t| fresh(t.at)) {
            return Ok(t.value.clone());
        }
        let (at, list) = load()?;
        *slot = Some(Timed {
            at,
            value: list.clone(),
        });
        Ok(list)
    }

    pub fn catalog(
        &self,
        schema: &Arc<str>,
        fresh: impl Fn(Instant) -> bool,
    ) -> Option<Arc<SchemaCatalog>> {
        let catalogs = self.catalogs.lock().unwrap();
        catalogs
            .get(schema)
            .filter(|t| fresh(t.at))
            .map(|t| t.value.clone())
    }

    pub fn put_catalog(&self, schema: &Arc<str>, at: Instant, catalog: Arc<SchemaCatalog>) {
        self.catalogs
            .lock()
            .unwrap()
            .insert(schema.clone(), Timed { at, value: catalog });
    }

    /// The table's listing slot (made empty on first use).
    pub fn listing_slot(&self, schema: &Arc<str>, table: &TableInfo) -> ListingSlot {
        self.listings
            .lock()
            .unwrap()
            .entry(table_key(schema, table))
            .or_default()
            .clone()
    }

    /// The table's last listing, whatever its age (waits for a refresh under way).
    pub fn cached_listing(&self, schema: &Arc<str>, table: &TableInfo) -> Option<Arc<Listing>> {
        let slot = self
            .listings
            .lock()
            .unwrap()
            .get(&table_key(schema, table))
            .cloned()?;
        let listing = slot.lock().unwrap().as_ref().map(|t| t.value.clone());
        listing
    }

    /// A point query's fresh result: Some(None) when the row is known absent.
    pub fn row(
        &self,
        key: &RowId,
        fresh: impl Fn(Instant) -> bool,
    ) -> Option<Option<Arc<RowFacts>>> {
        let rows = self.rows.lock().unwrap();
        rows.get(key)
            .filter(|t| fresh(t.at))
            .map(|t| t.value.clone())
    }

    pub fn put_row(
        &self,
        key: RowId,
        at: Instant,
        found: Option<Arc<RowFacts>>,
        fresh: impl Fn(Instant) -> bool,
    ) {
        let mut rows = self.rows.lock().unwrap();
        if rows.len() > MAX_ROWS {
            rows.retain(|_, t| fresh(t.at));
        }
        rows.insert(key, Timed { at, value: found });
    }

    pub fn tracked(
        &self,
        key: &TrackedKey,
        fresh: impl Fn(Instant) -> bool,
    ) -> Option<Arc<TrackedListing>> {
        let tracked = self.tracked.lock().unwrap();
        tracked
            .get(key)
            .filter(|t| fresh(t.at))
            .map(|t| t.value.clone())
    }

    pub fn put_tracked(&self, key: TrackedKey, at: Instant, listing: Arc<TrackedListing>) {
        self.tracked
            .lock()
            .unwrap()
            .insert(key, Timed { at, value: listing });
    }

    /// A row of `table` changed through this mount: its table's listing, the row's point
    /// query and the schema's tracked objects are stale.
    pub fn invalidate(&self, schema: &Arc<str>, table: &TableInfo, folder: &str) {
        let slot = self
            .listings
            .lock()
            .unwrap()
            .get(&table_key(schema, table))
            .cloned();
        if let Some(slot) = slot {
            *slot.lock().unwrap() = None;
        }
        self.rows.lock().unwrap().retain(|r, _| {
            !(r.schema == *schema && *r.class == *table.class_name && *r.folder == *folder)
        });
        self.forget_tracked(schema);
    }

    /// Rows were deleted (perhaps in several tables): every point-query result is stale.
    pub fn forget_rows(&self) {
        self.rows.lock().unwrap().clear();
    }

    pub fn forget_tracked(&self, schema: &Arc<str>) {
        self.tracked
            .lock()
            .unwrap()
            .retain(|(s, _, _), _| s != schema);
    }
}
