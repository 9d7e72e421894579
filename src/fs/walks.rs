//! Folder listings without open handles (issue 14, warm metadata at kernel speed). djfs answers
//! `opendir` with ENOSYS, so the kernel neither opens nor releases folders (no round trip per
//! folder a `find` enters) and keeps every listing it reads (FUSE's `no_opendir` implies
//! `FOPEN_CACHE_DIR | FOPEN_KEEP_CACHE`). A `readdir` then names only the folder and an offset,
//! so the offsets djfs hands out say which *walk* (one listing read from its start, with the
//! snapshot or paged cursor an open handle used to hold) and which entry comes next.
//!
//! What the kernel keeps must stay true:
//! - a row's or attachment folder's listing in a watched table is kept: the folder's mtime is
//!   its newest value's (a changed row shows a new mtime at its next lookup, and the kernel
//!   drops a kept listing whose folder's mtime moved), and a change the watcher sees makes the
//!   kernel forget the table's entries and those folders (`forget_table_in_kernel`);
//! - every other listing is forgotten as soon as a walk has read it to its end, so the next
//!   reader asks djfs again, as with an uncached `opendir`.
//!
//! Offsets are `walk << 40 | position` (position 0 is `.`, 1 is `..`, 2 + i entry i). Nothing
//! tells djfs that a reader stopped early (`ls | head`), so walks not read for `WALK_IDLE` go,
//! and at most `KEPT_WALKS` are kept; a walk read on after it went is begun again and read on
//! from the same position.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lru::LruCache;

/// Listings being read at once, at most; the least recently read one goes first. (A paged
/// table listing holds up to three pages of entries.)
const KEPT_WALKS: usize = 64;
/// A walk not read on for this long was given up by its reader.
const WALK_IDLE: Duration = Duration::from_secs(30);
/// Bits of an offset that give the position in the walk.
const POSITION_BITS: u32 = 40;
/// Walk numbers wrap below this (0 is never one: offset 0 starts a listing).
const WALK_LIMIT: u32 = 1 << 23;

/// The offset the kernel gives back to read on after entry `position - 1` of walk `walk`.
pub fn offset_of(walk: u32, position: u64) -> u64 {
    (u64::from(walk) << POSITION_BITS) | (position & ((1 << POSITION_BITS) - 1))
}

/// The walk and position an offset names; `None` for offset 0 (a listing from its start).
pub fn position_of(offset: u64) -> Option<(u32, u64)> {
    if offset == 0 {
        return None;
    }
    let walk = (offset >> POSITION_BITS) as u32;
    Some((walk, offset & ((1 << POSITION_BITS) - 1)))
}

/// One listing being read: the folder and the core's open listing handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Walk {
    pub ino: u64,
    pub fh: u64,
    /// Whether the kernel may keep this listing once read.
    pub kept: bool,
}

/// The walks under way, least recently read first out.
pub(super) struct Walks {
    /// By number, with when each was last read.
    walks: Mutex<LruCache<u32, (Walk, Instant)>>,
    next: AtomicU32,
}

impl Default for Walks {
    fn default() -> Self {
        Walks {
            walks: Mutex::new(LruCache::new(
                std::num::NonZeroUsize::new(KEPT_WALKS).unwrap(),
            )),
            next: AtomicU32::new(1),
        }
    }
}

impl Walks {
    /// Registers a new walk at `now`; returns its number and the walks that went to make room
    /// or were given up (their handles must be closed).
    pub fn begin(&self, walk: Walk, now: Instant) -> (u32, Vec<Walk>) {
        let id = loop {
            let id = self.next.fetch_add(1, Ordering::Relaxed) % WALK_LIMIT;
            if id != 0 {
                break id;
            }
        };
        let mut walks = self.walks.lock().unwrap();
        let mut gone = Vec::new();
        while let Some((_, (_, last))) = walks.peek_lru() {
            if now.saturating_duration_since(*last) < WALK_IDLE {
                break;
            }
            gone.extend(walks.pop_lru().map(|(_, (w, _))| w));
        }
        if let Some((_, (old, _))) = walks.push(id, (walk, now)) {
            gone.push(old);
        }
        (id, gone)
    }

    /// The walk `id` of folder `ino`, if it is still under way (read on at `now`).
    pub fn get(&self, id: u32, ino: u64, now: Instant) -> Option<Walk> {
        let mut walks = self.walks.lock().unwrap();
        let (walk, last) = walks.get_mut(&id).filter(|(w, _)| w.ino == ino)?;
        *last = now;
        Some(*walk)
    }

    /// Walk `id` is over: returns it (its handle must be closed).
    pub fn end(&self, id: u32) -> Option<Walk> {
        self.walks.lock().unwrap().pop(&id).map(|(w, _)| w)
    }

    pub fn len(&self) -> usize {
        self.walks.lock().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offset_gives_back_its_walk_and_position() {
        assert_eq!(position_of(0), None);
        for (walk, pos) in [
            (1, 1),
            (1, 2),
            (77, 1_000_000),
            (WALK_LIMIT - 1, (1 << 40) - 1),
        ] {
            let off = offset_of(walk, pos);
            assert_ne!(off, 0);
            assert_eq!(position_of(off), Some((walk, pos)));
        }
    }

    #[test]
    fn walks_are_numbered_from_one_and_the_oldest_goes_first() {
        let walks = Walks::default();
        let now = Instant::now();
        let w = |ino| Walk {
            ino,
            fh: ino * 10,
            kept: false,
        };
        let (first, out) = walks.begin(w(5), now);
        assert_eq!((first, out), (1, vec![]));
        assert_eq!(walks.get(first, 5, now), Some(w(5)));
        // Another folder's readdir with this walk's number does not continue it.
        assert_eq!(walks.get(first, 6, now), None);
        let mut pushed = Vec::new();
        for ino in 0..KEPT_WALKS as u64 {
            pushed.extend(walks.begin(w(100 + ino), now).1);
        }
        assert_eq!(pushed, vec![w(5)]);
        assert_eq!(walks.len(), KEPT_WALKS);
        assert_eq!(walks.end(2), Some(w(100)));
        assert_eq!(walks.end(2), None);
    }

    #[test]
    fn walks_not_read_on_for_a_while_go_at_the_next_begin() {
        let walks = Walks::default();
        let t0 = Instant::now();
        let w = |ino| Walk {
            ino,
            fh: ino,
            kept: true,
        };
        let (a, _) = walks.begin(w(1), t0);
        let (b, _) = walks.begin(w(2), t0);
        // `a` is read on later than `b`: only `b` is idle long enough to go.
        assert!(walks.get(a, 1, t0 + WALK_IDLE / 2).is_some());
        let (_, gone) = walks.begin(w(3), t0 + WALK_IDLE);
        assert_eq!(gone, vec![w(2)]);
        assert_eq!(walks.get(b, 2, t0 + WALK_IDLE), None);
        assert_eq!(walks.get(a, 1, t0 + WALK_IDLE), Some(w(1)));
    }
}
