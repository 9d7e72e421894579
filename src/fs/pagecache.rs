//! What the kernel's page cache may keep of each file, decided at every open: pages are shared
//! by all opens of a file, so they may only serve an open that reads the same stored value.
//! Kept per inode: the object each file was last opened with, the size the kernel was last told,
//! and when a write last touched it; and how to tell the kernel to forget an inode.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How the kernel's page cache treats an opened file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageCache {
    /// Same stored object as the last open of this file: pages kept across opens.
    Keep,
    /// The first open of a stored object: pages dropped at open, then cached.
    Refresh,
    /// No page cache, and reads not bounded by the size the kernel holds: a file being
    /// written (staged bytes are not the stored value), an in-table value (it can change at any
    /// time), a file that shows another object than at its last open, or a value whose size
    /// changed since the kernel was last told (another client stored a value meanwhile).
    Bypass,
}

/// How long after a write was opened or closed on a file its readers bypass the page cache: the
/// kernel's size of such a file followed the writer's bytes, not the stored value.
pub(super) const WRITTEN_LATELY: Duration = Duration::from_secs(60);

/// How many told sizes are kept (about 60 bytes each).
const TOLD_SIZES: usize = 65_536;

type Forget = Box<dyn Fn(u64) + Send + Sync>;

#[derive(Default)]
pub(super) struct PageCachePolicy {
    /// The content-addressed object each file was last opened with.
    opened_content: Mutex<HashMap<u64, Vec<u8>>>,
    /// The size each file last had in an answer to the kernel (which trusts it for the refresh
    /// delay): an open that finds another size bypasses the page cache. Kept for the latest
    /// `TOLD_SIZES` files (a walk of a million rows tells millions): an open of a file whose
    /// size was not kept tells the kernel to forget what it holds of it.
    told_sizes: Mutex<Option<lru::LruCache<u64, u64>>>,
    /// Files written through this mount, by when a write was last opened or closed on them.
    written_at: Mutex<HashMap<u64, Instant>>,
    /// Tells the kernel to forget what it caches of an inode (size, pages): set by the mount
    /// once the FUSE session exists (absent in tests of the core).
    kernel_forget: OnceLock<Forget>,
}

impl PageCachePolicy {
    pub fn set_kernel_forget(&self, forget: Forget) {
        let _ = self.kernel_forget.set(forget);
    }

    /// A file's value changed: the kernel's cached size and pages of it are stale.
    pub fn value_changed(&self, ino: u64) {
        if let Some(forget) = self.kernel_forget.get() {
            forget(ino);
        }
    }

    /// The kernel forgot `ino`: nothing is kept of it.
    pub fn forget(&self, ino: u64) {
        self.opened_content.lock().unwrap().remove(&ino);
        if let Some(told) = self.told_sizes.lock().unwrap().as_mut() {
            told.pop(&ino);
        }
        self.written_at.lock().unwrap().remove(&ino);
    }

    /// The kernel was told that `ino` has `size` bytes.
    pub fn told(&self, ino: u64, size: u64) {
        self.remember_told(ino, size);
    }

    /// Records a told size; the size told before, if it was kept.
    fn remember_told(&self, ino: u64, size: u64) -> Option<u64> {
        let mut told = self.told_sizes.lock().unwrap();
        let told = told.get_or_insert_with(|| {
            lru::LruCache::new(std::num::NonZeroUsize::new(TOLD_SIZES).expect("not zero"))
        });
        told.put(ino, size)
    }

    /// A write was opened or closed on `ino`.
    pub fn written(&self, now: Instant, ino: u64) {
        let mut written = self.written_at.lock().unwrap();
        if written.len() > 100_000 {
            written.retain(|_, at| now.saturating_duration_since(*at) < WRITTEN_LATELY);
        }
        written.insert(ino, now);
    }

    /// An open of `ino` for reading that shows `size` bytes of the object `identity` (None: a
    /// value in the table, which can change at any time): what its pages may be.
    pub fn at_open(
        &self,
        now: Instant,
        ino: u64,
        identity: Option<&[u8]>,
        size: u64,
        being_written: bool,
    ) -> PageCache {
        let told = self.remember_told(ino, size);
        let previous = match identity {
            Some(hash) => self
                .opened_content
                .lock()
                .unwrap()
                .insert(ino, hash.to_vec()),
            None => self.opened_content.lock().unwrap().remove(&ino),
        };
        let written_lately = being_written
            || self
                .written_at
                .lock()
                .unwrap()
                .get(&ino)
                .is_some_and(|at| now.saturating_duration_since(*at) < WRITTEN_LATELY);
        let cache = match (identity, previous) {
            _ if told.is_some_and(|t| t != size) || written_lately => PageCache::Bypass,
            (Some(hash), Some(previous)) if hash == previous.as_slice() => PageCache::Keep,
            (Some(_), None) => PageCache::Refresh,
            _ => PageCache::Bypass,
        };
        // (An unknown told size may be anything: the kernel forgets it.)
        if (cache == PageCache::Bypass && identity.is_some()) || told != Some(size) {
            self.value_changed(ino);
        }
        cache
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn policy() -> (PageCachePolicy, Arc<Mutex<Vec<u64>>>) {
        let forgotten = Arc::new(Mutex::new(Vec::new()));
        let p = PageCachePolicy::default();
        let f = forgotten.clone();
        p.set_kernel_forget(Box::new(move |ino| f.lock().unwrap().push(ino)));
        (p, forgotten)
    }

    #[test]
    fn the_same_object_keeps_its_pages_another_one_bypasses_them() {
        let (p, forgotten) = policy();
        let now = Instant::now();
        p.told(7, 10);
        assert_eq!(p.at_open(now, 7, Some(b"a"), 10, false), PageCache::Refresh);
        assert_eq!(p.at_open(now, 7, Some(b"a"), 10, false), PageCache::Keep);
        // Another object with the same size (a value replaced by another client).
        assert_eq!(p.at_open(now, 7, Some(b"b"), 10, false), PageCache::Bypass);
        assert_eq!(*forgotten.lock().unwrap(), vec![7]);
        assert_eq!(p.at_open(now, 7, Some(b"b"), 10, false), PageCache::Keep);
    }

    #[test]
    fn a_size_the_kernel_was_not_told_or_a_value_in_the_table_bypasses() {
        let (p, forgotten) = policy();
        let now = Instant::now();
        p.told(3, 5);
        assert_eq!(p.at_open(now, 3, Some(b"x"), 6, false), PageCache::Bypass);
        assert_eq!(*forgotten.lock().unwrap(), vec![3]);
        assert_eq!(p.at_open(now, 4, None, 6, false), PageCache::Bypass);
        assert_eq!(p.at_open(now, 4, None, 6, false), PageCache::Bypass);
    }

    #[test]
    fn a_size_no_longer_kept_makes_the_kernel_forget_what_it_holds() {
        let (p, forgotten) = policy();
        let now = Instant::now();
        for ino in 0..TOLD_SIZES as u64 + 1 {
            p.told(ino, 10);
        }
        // File 0's told size went (the oldest); opening it cannot trust the kernel's size.
        assert_eq!(p.at_open(now, 0, Some(b"a"), 10, false), PageCache::Refresh);
        assert_eq!(*forgotten.lock().unwrap(), vec![0]);
        let newest = TOLD_SIZES as u64;
        assert_eq!(
            p.at_open(now, newest, Some(b"a"), 10, false),
            PageCache::Refresh
        );
        assert_eq!(
            *forgotten.lock().unwrap(),
            vec![0],
            "the newest size is known"
        );
    }

    #[test]
    fn files_written_lately_bypass_for_a_while() {
        let (p, _) = policy();
        let now = Instant::now();
        p.written(now, 9);
        assert_eq!(p.at_open(now, 9, Some(b"a"), 1, false), PageCache::Bypass);
        let later = now + WRITTEN_LATELY;
        assert_eq!(p.at_open(later, 9, Some(b"a"), 1, false), PageCache::Keep);
        assert_eq!(p.at_open(later, 9, Some(b"a"), 1, true), PageCache::Bypass);
    }
}
