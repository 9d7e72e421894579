//! `.external/<store>/.unused/`: what a schema's stores hold that no row references, and `rm`
//! there. A 0.14 store shows its unused tracking rows by name (`<hex>`, `<hex>.<name>`); a 2.x
//! store its unused objects by their paths in the store (`<hash_prefix>/<schema>/<hash>`,
//! `<schema_prefix>/<schema>/<table>/<key>/<file>`: a folder object is its folder of files and
//! its `.manifest.json` beside it), exactly what the client's `dj.gc` would collect (see
//! `crate::orphans`); a migrated schema's store shows both, each kept clear of the other's live
//! objects.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use super::error::{ErrorKind, FsError, FsResult};
use super::{db_error, tracked_mtime, Filesystem};
use crate::backend::Tracked;
use crate::catalog::SchemaCatalog;
use crate::external::{self, Outcome};
use crate::namespace::{Node, EXTERNAL_DIR, UNUSED_DIR};
use crate::stores::paths::TrackedKind;

/// What a store of `.external/` holds for a schema: objects its 0.14 tracking table tracks
/// (`legacy`), objects its 2.x columns name (`v2`), or both (a migrated schema).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct StoreUse {
    pub legacy: bool,
    pub v2: bool,
}

/// How long a folder of `.unused` that `rm` emptied still resolves (as an empty folder), so that
/// the `rmdir` of `rm -r` that follows finds it whatever the kernel forgot meanwhile.
const EMPTIED_KEPT: Duration = Duration::from_secs(120);

/// (schema, store, path of a folder in `.unused`).
type FolderKey = (Arc<str>, Arc<str>, String);

/// Folders of `.unused` emptied by `rm` lately, with when.
#[derive(Default)]
pub(super) struct UnusedFolders(Mutex<HashMap<FolderKey, Instant>>);

impl UnusedFolders {
    fn emptied_now(&self, schema: &Arc<str>, store: &Arc<str>, file: &str) {
        let mut folders = self.0.lock().unwrap();
        folders.retain(|_, at| at.elapsed() < EMPTIED_KEPT);
        let mut path = file;
        while let Some((up, _)) = path.rsplit_once('/') {
            folders.insert(
                (schema.clone(), store.clone(), up.to_string()),
                Instant::now(),
            );
            path = up;
        }
    }

    pub fn emptied(&self, schema: &Arc<str>, store: &Arc<str>, folder: &str) -> bool {
        self.0
            .lock()
            .unwrap()
            .get(&(schema.clone(), store.clone(), folder.to_string()))
            .is_some_and(|at| at.elapsed() < EMPTIED_KEPT)
    }

    fn removed(&self, schema: &Arc<str>, store: &Arc<str>, folder: &str) {
        self.0
            .lock()
            .unwrap()
            .remove(&(schema.clone(), store.clone(), folder.to_string()));
    }
}

impl Filesystem {
    /// When an object in `.external` last changed: a 0.14 object's tracking timestamp; a 2.x
    /// object (no tracking row) the mount time.
    pub(super) fn external_mtime(&self, tracked: &Tracked) -> SystemTime {
        match tracked.kind {
            TrackedKind::Stored { .. } => self.mounted_at,
            _ => tracked_mtime(tracked),
        }
    }

    /// The 0.14 stores of a schema, which its 2.x cleanup keeps clear of.
    fn legacy(&self, catalog: &SchemaCatalog) -> external::unused::Legacy {
        external::unused::Legacy {
            stores: catalog.stores.clone(),
        }
    }

    /// Of a 0.14 store's unused tracked objects, those no 2.x value references (a migrated
    /// schema's `<filepath@>` may point at a 0.14 object).
    pub(super) fn unreferenced_by_v2(
        &self,
        schema: &Arc<str>,
        store: &Arc<str>,
        tracked: Vec<Tracked>,
    ) -> FsResult<Vec<Tracked>> {
        let refs = self
            .db
            .stored_references(schema)
            .map_err(|e| db_error(&format!("reading the 2.x references of {schema}"), e))?;
        let covered = external::unused::coverage(self.stores(), &refs);
        // No 2.x references (a 0.14 schema), or a store the config lacks (nothing can be
        // located in it): nothing to compare.
        if covered.is_empty() || !self.stores().is_configured(store) {
            return Ok(tracked);
        }
        let mut out = Vec::new();
        for t in tracked {
            let place = self
                .stores()
                .tracked_place(store, schema, &t.hash, &t.kind)
                .map_err(|e| self.unused_error(schema, store, e))?;
            if !covered.covers(&place) {
                out.push(t);
            }
        }
        Ok(out)
    }

    /// A 2.x store's unused objects of `schema`, by their shown paths.
    pub(super) fn v2_unused_objects(
        &self,
        schema: &Arc<str>,
        store: &Arc<str>,
        catalog: &SchemaCatalog,
    ) -> FsResult<Vec<(String, Tracked)>> {
        let found = external::unused::unused(
            &*self.db,
            self.stores(),
            schema,
            store,
            &self.legacy(catalog),
        )
        .map_err(|e| self.unused_error(schema, store, e))?;
        Ok(found
            .into_iter()
            .map(|(path, size)| {
                let shown = path
                    .split('/')
                    .map(crate::namespace::shown_name)
                    .collect::<Vec<_>>()
                    .join("/");
                let tracked = Tracked {
                    hash: format!("{store}\0{path}").into_bytes(),
                    size,
                    kind: TrackedKind::Stored {
                        path,
                        skip: 0,
                        check: None,
                    },
                    timestamp: None,
                };
                (shown, tracked)
            })
            .collect())
    }

    fn unused_error(&self, schema: &str, store: &str, e: anyhow::Error) -> FsError {
        FsError::io(format!("{schema}/{EXTERNAL_DIR}/{store}/{UNUSED_DIR}"), e)
    }

    /// The object `name` names in `parent`, a folder of `.unused` (None: not such a folder).
    fn unused_child(parent: &Node, name: &str) -> Option<(Arc<str>, Arc<str>, String)> {
        match parent {
            Node::ExternalStore {
                schema,
                store,
                unused: true,
            } => Some((schema.clone(), store.clone(), name.to_string())),
            Node::ExternalObject {
                schema,
                store,
                unused: true,
                name: folder,
            } => Some((schema.clone(), store.clone(), format!("{folder}/{name}"))),
            _ => None,
        }
    }

    /// `rm` in `.unused` (None when `parent` is not a folder of it): the object is deleted if
    /// it is still unused (EBUSY, with a log line, when a row references it again).
    pub(super) fn unlink_unused(&self, parent: &Node, name: &str) -> Option<FsResult<()>> {
        let (schema, store, path) = Self::unused_child(parent, name)?;
        Some(self.delete_unused(&schema, &store, &path))
    }

    /// `rmdir` in `.unused` (None when `parent` is not a folder of it): a folder of a 2.x
    /// store's unused objects goes once it holds none (ENOTEMPTY before).
    pub(super) fn rmdir_unused(&self, parent: &Node, name: &str) -> Option<FsResult<()>> {
        let (schema, store, path) = Self::unused_child(parent, name)?;
        if self.opts.read_only {
            return Some(Err(FsError::ReadOnly));
        }
        let result = self.tracked_listing(&schema, &store, true).and_then(|listing| {
            let below = format!("{path}/");
            if listing.objects.iter().any(|(n, _)| n.starts_with(&below)) {
                Err(ErrorKind::NotEmpty.because(format!(
                    "{schema}/{EXTERNAL_DIR}/{store}/{UNUSED_DIR}/{path}: unused objects remain in it"
                )))
            } else if listing.objects.iter().any(|(n, _)| *n == path) {
                Err(FsError::NotDir)
            } else {
                self.unused_folders.removed(&schema, &store, &path);
                Ok(())
            }
        });
        Some(result)
    }

    /// `rm .external/<store>/.unused/NAME`: a 0.14 object as the client's
    /// `schema.external[store].delete()` deletes one (tracking row, then object); a 2.x object
    /// after the references are read again, under lock (`external::unused::delete`).
    fn delete_unused(&self, schema: &Arc<str>, store: &Arc<str>, name: &str) -> FsResult<()> {
        if self.opts.read_only {
            return Err(FsError::ReadOnly);
        }
        let listing = self.tracked_listing(schema, store, true)?;
        let (_, tracked) = listing
            .objects
            .iter()
            .find(|(n, _)| n == name)
            .ok_or(FsError::NotFound)?;
        let place = format!("{schema}/{EXTERNAL_DIR}/{store}/{UNUSED_DIR}/{name}");
        let busy =
            || ErrorKind::Busy.because(format!("{place}: referenced again meanwhile; not deleted"));
        let outcome = match &tracked.kind {
            TrackedKind::Stored { path, .. } => {
                let catalog = self.catalog(schema)?;
                let outcome = external::unused::delete(
                    &*self.db,
                    self.stores(),
                    schema,
                    store,
                    std::slice::from_ref(path),
                    &self.legacy(&catalog),
                )
                .and_then(|mut r| r.pop().unwrap_or(Ok(Outcome::Referenced)));
                if let Err(e) = &outcome {
                    if crate::backend::busy(e) {
                        return Err(ErrorKind::Busy.because(format!("{place}: {e:#}; not deleted")));
                    }
                }
                if matches!(outcome, Ok(Outcome::Deleted)) {
                    self.metadata.drop_tracked(schema, store, name);
                    self.unused_folders.emptied_now(schema, store, name);
                }
                outcome
            }
            _ => {
                // A migrated schema: a 2.x value may reference the 0.14 object.
                if self
                    .unreferenced_by_v2(schema, store, vec![tracked.clone()])?
                    .is_empty()
                {
                    return Err(busy());
                }
                let outcome = self
                    .external
                    .delete_unused(&*self.db, schema, store, tracked);
                self.metadata.forget_tracked(schema);
                outcome
            }
        };
        match outcome {
            Ok(Outcome::Deleted) => Ok(()),
            Ok(Outcome::Referenced) => Err(busy()),
            Err(e) => Err(FsError::io(place, e)),
        }
    }
}
