//! Rendered views (`.json` of non-array blobs, `.png` of image arrays), kept so that `stat` then
//! `open` renders once. External values are keyed by hash (never stale); in-table ones by place
//! and stored length, trusted for the refresh delay. Bounded by bytes: over budget, everything
//! else is dropped.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::cache::ByteLru;

/// A rendering and when it was made.
type Rendering = (Instant, Arc<[u8]>);

pub(super) struct RenderedViews {
    inner: Mutex<ByteLru<String, Rendering>>,
}

impl RenderedViews {
    /// Renderings of at most about `budget` bytes.
    pub fn new(budget: usize) -> RenderedViews {
        RenderedViews {
            inner: Mutex::new(ByteLru::new(budget)),
        }
    }

    /// (renderings kept, their bytes), for stats.
    pub fn size(&self) -> (usize, usize) {
        let inner = self.inner.lock().unwrap();
        (inner.len(), inner.bytes())
    }

    /// A rendering made at a time `fresh` accepts (external ones: any time).
    pub fn get(
        &self,
        key: &str,
        in_table: bool,
        fresh: impl Fn(Instant) -> bool,
    ) -> Option<Arc<[u8]>> {
        let mut inner = self.inner.lock().unwrap();
        let (at, value) = inner.get(key)?;
        (!in_table || fresh(*at)).then(|| value.clone())
    }

    /// Keeps a rendering; over budget, the least recently used go first (one larger than the
    /// whole budget is kept alone until the next, so `stat` then `open` render it once).
    pub fn put(&self, key: String, value: Arc<[u8]>, at: Instant) {
        let bytes = value.len() + key.len() + 64;
        self.inner.lock().unwrap().put(key, (at, value), bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RENDER_CACHE_BYTES: usize = 64 << 20;
    use std::time::Duration;

    #[test]
    fn in_table_renderings_expire_and_the_budget_drops_the_rest() {
        let views = RenderedViews::new(RENDER_CACHE_BYTES);
        let t0 = Instant::now();
        views.put("a".into(), Arc::from(&b"xy"[..]), t0);
        let fresh = |at: Instant| t0 + Duration::from_secs(1) > at + Duration::from_secs(1);
        assert_eq!(
            views.get("a", false, |_| false).as_deref(),
            Some(&b"xy"[..])
        );
        assert_eq!(views.get("a", true, fresh), None);
        assert_eq!(views.get("a", true, |_| true).as_deref(), Some(&b"xy"[..]));
        let big: Arc<[u8]> = vec![0u8; RENDER_CACHE_BYTES].into();
        views.put("big".into(), big, t0);
        assert_eq!(
            views.get("a", false, |_| true),
            None,
            "dropped for the budget"
        );
        assert_eq!(
            views.get("big", false, |_| true).map(|v| v.len()),
            Some(RENDER_CACHE_BYTES)
        );
    }
}
