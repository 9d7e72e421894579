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
use crate::cache::ByteLru;
use crate::catalog::{SchemaCatalog, TableInfo};
use crate::namespace::RowId;

/// All rows of one table, from one query.
pub(super) struct Listing {
    pub rows: Vec<Arc<RowFacts>>,
    pub by_folder: HashMap<String, usize>,
    /// What the server said of the table's last change just before it was listed
    /// (`Backend::table_stamp`; None: not asked, or the backend cannot tell).
    pub stamp: Option<crate::backend::TableStamp>,
}

impl Listing {
    /// A table's rows (in listing order) with their index by folder name.
    pub fn new(rows: Vec<Arc<RowFacts>>, stamp: Option<crate::backend::TableStamp>) -> Listing {
        let by_folder = rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r.folder.clone(), i))
            .collect();
        Listing {
            rows,
            by_folder,
            stamp,
        }
    }
}

/// The objects of one store (all, or only the unused), by view name: 0.14 objects by their
/// names, 2.x objects by their paths in the store (with `/`).
pub(super) struct TrackedListing {
    pub objects: Vec<(String, Tracked)>,
}

/// (schema, class name)
type TableKey = (Arc<str>, Arc<str>);
/// A table's listing slot: locked while refreshing so concurrent refreshes run once.
pub(super) type ListingSlot = Arc<Mutex<Option<Timed<Arc<Listing>>>>>;
/// (schema, store, only unused)
pub(super) type TrackedKey = (Arc<str>, Arc<str>, bool);

pub(super) struct MetadataCache {
    schemas: Mutex<Option<Timed<Arc<Vec<String>>>>>,
    catalogs: Mutex<HashMap<Arc<str>, CatalogEntry>>,
    listings: Mutex<HashMap<TableKey, ListingSlot>>,
    /// The bytes of each table's listing, least recently listed first: over its budget, the
    /// oldest listings are dropped (read again when needed).
    listing_bytes: Mutex<ByteLru<TableKey, ()>>,
    /// Rows found by point queries (None: known absent), bounded by bytes.
    rows: Mutex<ByteLru<RowId, Timed<Option<Arc<RowFacts>>>>>,
    tracked: Mutex<HashMap<TrackedKey, Timed<Arc<TrackedListing>>>>,
}

fn table_key(schema: &Arc<str>, table: &TableInfo) -> TableKey {
    (schema.clone(), table.class_name.as_str().into())
}

/// A schema's catalog with its fingerprint (see `Backend::catalog_version`): checked when the
/// refresh delay has passed (one light query), read again only when it changed or when it is
/// older than `CATALOG_TRUST`.
#[derive(Clone)]
pub(super) struct CatalogEntry {
    pub catalog: Arc<SchemaCatalog>,
    pub version: String,
    pub loaded_at: Instant,
    pub checked_at: Instant,
}

/// The longest a catalog is kept without reading it again, whatever its fingerprint says (a
/// change the fingerprint misses, such as a comment or a foreign key, is seen by then).
pub(super) const CATALOG_TRUST: std::time::Duration = std::time::Duration::from_secs(600);

/// The shortest time between two checks of a catalog's fingerprint, even with `--refresh 0`
/// (a new table shows within this).
pub(super) const CATALOG_CHECK_MIN: std::time::Duration = std::time::Duration::from_secs(1);

/// What the metadata cache holds, for `.djfs/stats`.
pub(super) struct MetadataSizes {
    pub catalogs: usize,
    pub listings: usize,
    pub listed_rows: usize,
    pub listing_bytes: usize,
    pub point_rows: usize,
    pub point_row_bytes: usize,
    pub tracked_listings: usize,
}

impl MetadataCache {
    /// A cache holding at most about `listings` bytes of table listings and `rows` bytes of
    /// point-query rows.
    pub fn new(listings: usize, rows: usize) -> MetadataCache {
        MetadataCache {
            schemas: Default::default(),
            catalogs: Default::default(),
            listings: Default::default(),
            listing_bytes: Mutex::new(ByteLru::new(listings)),
            rows: Mutex::new(ByteLru::new(rows)),
            tracked: Default::default(),
        }
    }

    /// A table's listing was read (`bytes` of it): listings past the budget, least recently
    /// read first, are dropped.
    pub fn listed(&self, schema: &Arc<str>, table: &TableInfo, bytes: usize) {
        let dropped = self
            .listing_bytes
            .lock()
            .unwrap()
            .put(table_key(schema, table), (), bytes);
        if !dropped.is_empty() {
            let mut listings = self.listings.lock().unwrap();
            for (key, ()) in dropped {
                tracing::debug!(table = %key.1, "listing dropped from the cache");
                listings.remove(&key);
            }
        }
    }

    pub fn sizes(&self) -> MetadataSizes {
        let listings: Vec<ListingSlot> = self.listings.lock().unwrap().values().cloned().collect();
        let listed_rows = listings
            .iter()
            .filter_map(|slot| slot.try_lock().ok()?.as_ref().map(|t| t.value.rows.len()))
            .sum();
        // (One lock at a time: a second `lock()` of the same mutex in one expression waits for
        // ever.)
        let (point_rows, point_row_bytes) = {
            let rows = self.rows.lock().unwrap();
            (rows.len(), rows.bytes())
        };
        MetadataSizes {
            catalogs: self.catalogs.lock().unwrap().len(),
            listings: listings.len(),
            listed_rows,
            listing_bytes: self.listing_bytes.lock().unwrap().bytes(),
            point_rows,
            point_row_bytes,
            tracked_listings: self.tracked.lock().unwrap().len(),
        }
    }

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

    /// The catalog of `schema` as last read, if any.
    pub fn catalog(&self, schema: &Arc<str>) -> Option<CatalogEntry> {
        self.catalogs.lock().unwrap().get(schema).cloned()
    }

    /// The catalog of `schema` if its last check is one `checked` accepts (the common case:
    /// no copy of the entry).
    pub fn checked_catalog(
        &self,
        schema: &Arc<str>,
        checked: impl Fn(Instant) -> bool,
    ) -> Option<Arc<SchemaCatalog>> {
        let catalogs = self.catalogs.lock().unwrap();
        let entry = catalogs.get(schema)?;
        checked(entry.checked_at).then(|| entry.catalog.clone())
    }

    pub fn put_catalog(&self, schema: &Arc<str>, entry: CatalogEntry) {
        self.catalogs.lock().unwrap().insert(schema.clone(), entry);
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
        let mut rows = self.rows.lock().unwrap();
        rows.get(key)
            .filter(|t| fresh(t.at))
            .map(|t| t.value.clone())
    }

    pub fn put_row(&self, key: RowId, at: Instant, found: Option<Arc<RowFacts>>) {
        let bytes = found.as_ref().map_or(64, |r| r.approx_bytes()) + key.folder.len();
        self.rows
            .lock()
            .unwrap()
            .put(key, Timed { at, value: found }, bytes);
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
        self.rows.lock().unwrap().remove(&RowId::new(
            schema.clone(),
            table.class_name.as_str(),
            folder,
        ));
        self.forget_tracked(schema);
    }

    /// Rows were deleted (perhaps in several tables): every point-query result is stale.
    pub fn forget_rows(&self) {
        self.rows.lock().unwrap().clear();
    }

    /// An object this mount deleted: gone from its store's listings, which are otherwise
    /// still trusted (a 2.x store's `.unused` takes a walk of the store to list again).
    pub fn drop_tracked(&self, schema: &Arc<str>, store: &Arc<str>, name: &str) {
        let mut tracked = self.tracked.lock().unwrap();
        for unused in [false, true] {
            let key = (schema.clone(), store.clone(), unused);
            if let Some(timed) = tracked.get_mut(&key) {
                let objects = timed
                    .value
                    .objects
                    .iter()
                    .filter(|(n, _)| n != name)
                    .cloned()
                    .collect();
                timed.value = Arc::new(TrackedListing { objects });
            }
        }
    }

    pub fn forget_tracked(&self, schema: &Arc<str>) {
        self.tracked
            .lock()
            .unwrap()
            .retain(|(s, _, _), _| s != schema);
    }
}
