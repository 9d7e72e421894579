//! A least-recently-used map bounded by bytes (over the `lru` crate): every cache of the core
//! holds at most its share of `--cache-mib`, whatever the size of the tables a mount walks.

use std::hash::Hash;

/// Entries with their (approximate) sizes; over the budget, the least recently used go first.
/// An entry larger than the whole budget is kept alone until the next one comes.
pub struct ByteLru<K: Hash + Eq, V> {
    entries: lru::LruCache<K, (V, usize)>,
    bytes: usize,
    budget: usize,
}

impl<K: Hash + Eq, V> ByteLru<K, V> {
    pub fn new(budget: usize) -> ByteLru<K, V> {
        ByteLru {
            entries: lru::LruCache::unbounded(),
            bytes: 0,
            budget,
        }
    }

    /// The entry of `key`, now the most recently used.
    pub fn get<Q>(&mut self, key: &Q) -> Option<&V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.entries.get(key).map(|(v, _)| v)
    }

    /// The entry of `key`, without making it the most recently used.
    pub fn peek<Q>(&self, key: &Q) -> Option<&V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.entries.peek(key).map(|(v, _)| v)
    }

    /// Keeps `value` under `key` as `size` bytes, dropping the least recently used entries
    /// while over budget; returns the dropped ones.
    pub fn put(&mut self, key: K, value: V, size: usize) -> Vec<(K, V)> {
        if let Some((_, old)) = self.entries.put(key, (value, size)) {
            self.bytes -= old;
        }
        self.bytes += size;
        let mut dropped = Vec::new();
        while self.bytes > self.budget && self.entries.len() > 1 {
            match self.entries.pop_lru() {
                Some((k, (v, freed))) => {
                    self.bytes -= freed;
                    dropped.push((k, v));
                }
                None => break,
            }
        }
        dropped
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        let (value, size) = self.entries.pop(key)?;
        self.bytes -= size;
        Some(value)
    }

    /// Drops the entries `keep` refuses.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &V) -> bool)
    where
        K: Clone,
    {
        let dropped: Vec<K> = self
            .entries
            .iter()
            .filter(|(k, (v, _))| !keep(k, v))
            .map(|(k, _)| k.clone())
            .collect();
        for k in dropped {
            self.remove(&k);
        }
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_recently_used_go_first_and_bytes_stay_within_budget() {
        let mut lru = ByteLru::new(100);
        lru.put("a", 1, 40);
        lru.put("b", 2, 40);
        assert_eq!(lru.get(&"a"), Some(&1)); // `a` is now the most recently used
        lru.put("c", 3, 40);
        assert_eq!(lru.get(&"b"), None, "b was the least recently used");
        assert_eq!((lru.len(), lru.bytes()), (2, 80));
        lru.put("a", 4, 10);
        assert_eq!(lru.get(&"a"), Some(&4));
        assert_eq!(lru.bytes(), 50);
        // Larger than the whole budget: kept alone.
        lru.put("huge", 5, 1000);
        assert_eq!(lru.len(), 1);
        assert_eq!(lru.get(&"huge"), Some(&5));
        lru.put("d", 6, 1);
        assert_eq!((lru.len(), lru.bytes()), (1, 1));
        lru.put("e", 7, 1);
        lru.retain(|k, _| *k != "d");
        assert_eq!((lru.len(), lru.bytes()), (1, 1));
        assert_eq!(lru.remove(&"e"), Some(7));
        assert!(lru.is_empty());
    }
}
