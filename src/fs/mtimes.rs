//! Modification times of values and rows. A value with a timestamp of its own (an external
//! object's tracking row) shows it; any other shows when this mount first saw its current
//! content (the mount's start for what it found there), so `rsync` and `make` see a change as
//! newer without djfs claiming to know more than it does.

use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use crate::backend::{Fact, Stamp};
use crate::cache::ByteLru;

pub(super) struct ValueTimes {
    mounted_at: SystemTime,
    /// By row (a 64-bit hash of its `RowId`: listings ask for every row's columns, and a key
    /// that needs no allocation keeps that cheap) and column: what identified the content last
    /// seen, and since when; bounded by bytes (a value forgotten shows the mount's time again
    /// when next seen).
    seen: Mutex<ByteLru<(u64, u32), (u64, SystemTime)>>,
}

impl ValueTimes {
    pub fn new(mounted_at: SystemTime, budget: usize) -> ValueTimes {
        ValueTimes {
            mounted_at,
            seen: Mutex::new(ByteLru::new(budget)),
        }
    }

    /// How many values' times are kept, for stats.
    pub fn len(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    /// The mtime of column `column` of the row whose `row_key` is `row`, whose value is `fact`
    /// stamped `stamp`.
    pub fn of_row(
        &self,
        row: u64,
        column: usize,
        stamp: &Stamp,
        fact: Option<&Fact>,
    ) -> SystemTime {
        if let Stamp::Time(t) = stamp {
            return SystemTime::UNIX_EPOCH + Duration::from_secs((*t).max(0) as u64);
        }
        let content = content_id(stamp, fact);
        let mut seen = self.seen.lock().unwrap();
        let key = (row, column as u32);
        let at = match seen.get(&key) {
            Some(&(id, at)) if id == content => return at,
            Some(_) => SystemTime::now(),
            // First seen: as old as the mount (the value may be much older; djfs cannot know).
            None => self.mounted_at,
        };
        seen.put(key, (content, at), ENTRY_BYTES);
        at
    }
}

/// What one kept value time costs (key, value and the LRU's links).
const ENTRY_BYTES: usize = 72;

/// A row's identity in `ValueTimes`: a 64-bit hash of schema, class and folder.
pub(super) fn row_key(schema: &str, class: &str, folder: &str) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (schema, class, folder).hash(&mut hasher);
    hasher.finish()
}

/// What identifies a value's content cheaply (no fetch): its stamp and what the listing knows.
fn content_id(stamp: &Stamp, fact: Option<&Fact>) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    stamp.hash(&mut hasher);
    match fact {
        Some(Fact::Bytes(b)) => b.hash(&mut hasher),
        Some(Fact::Blob { len, head }) => (len, head).hash(&mut hasher),
        Some(Fact::Attach { name, size }) => (name, size).hash(&mut hasher),
        Some(Fact::External { hash, .. }) => hash.hash(&mut hasher),
        Some(Fact::Null) | Some(Fact::BadAttach) | None => 0u8.hash(&mut hasher),
    }
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_as_old_as_the_mount_until_its_content_changes() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let times = ValueTimes::new(start, 1 << 20);
        let row = row_key("s", "T", "id=1");
        let a = Fact::Bytes(b"a".to_vec());
        assert_eq!(times.of_row(row, 1, &Stamp::None, Some(&a)), start);
        assert_eq!(times.of_row(row, 1, &Stamp::None, Some(&a)), start);
        let changed = times.of_row(row, 1, &Stamp::None, Some(&Fact::Bytes(b"b".to_vec())));
        assert!(changed > start);
        assert_eq!(
            times.of_row(
                row_key("s", "T", "id=1"),
                1,
                &Stamp::None,
                Some(&Fact::Bytes(b"b".to_vec()))
            ),
            changed,
            "the same row by its key"
        );
        assert_eq!(
            times.of_row(row_key("s", "T", "id=2"), 1, &Stamp::None, Some(&a)),
            start
        );
        assert_eq!(
            times.of_row(row, 2, &Stamp::Time(5), None),
            SystemTime::UNIX_EPOCH + Duration::from_secs(5)
        );
    }
}
