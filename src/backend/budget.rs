//! What a mount may take of a shared database server, and what it asked of it.
//!
//! A lab's server is shared by thirty workstations and the pipeline's workers: a mount holds at
//! most its connection budget (the pool's bound), and one table that another client has locked
//! may tie up at most half of it (`TableSlots`), so the rest of the mount goes on. Every query
//! is counted and timed by kind (`QueryStats`), for the debug log and `.djfs/stats`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// The kinds of questions a mount asks its database (in the order of `ALL`: the discriminant
/// is the index of its counters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueryKind {
    Schemas,
    Catalog,
    Listing,
    /// One page of a paged listing (or a read-ahead of rows after a looked-up one).
    Page,
    /// Whether a table changed since it was listed (`Backend::table_changed_at`).
    ChangeCheck,
    Row,
    Value,
    Tracked,
    Write,
    Delete,
    Dependents,
}

impl QueryKind {
    pub const ALL: [QueryKind; 11] = [
        QueryKind::Schemas,
        QueryKind::Catalog,
        QueryKind::Listing,
        QueryKind::Page,
        QueryKind::ChangeCheck,
        QueryKind::Row,
        QueryKind::Value,
        QueryKind::Tracked,
        QueryKind::Write,
        QueryKind::Delete,
        QueryKind::Dependents,
    ];

    pub fn name(self) -> &'static str {
        match self {
            QueryKind::Schemas => "schemas",
            QueryKind::Catalog => "catalog",
            QueryKind::Listing => "listing",
            QueryKind::Page => "listing page",
            QueryKind::ChangeCheck => "change check",
            QueryKind::Row => "row",
            QueryKind::Value => "value",
            QueryKind::Tracked => "tracked objects",
            QueryKind::Write => "write",
            QueryKind::Delete => "delete",
            QueryKind::Dependents => "dependents",
        }
    }
}

/// How many questions of each kind, and how long they took (waiting for a connection included).
#[derive(Default)]
pub struct QueryStats {
    counts: [AtomicU64; QueryKind::ALL.len()],
    micros: [AtomicU64; QueryKind::ALL.len()],
}

/// One kind's figures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KindStats {
    pub kind: QueryKind,
    pub count: u64,
    pub total: Duration,
}

impl QueryStats {
    /// Starts timing a question; counted when the guard is dropped.
    pub fn start(&self, kind: QueryKind) -> Timing<'_> {
        Timing {
            stats: self,
            kind,
            started: Instant::now(),
        }
    }

    pub fn snapshot(&self) -> Vec<KindStats> {
        QueryKind::ALL
            .iter()
            .map(|&kind| KindStats {
                kind,
                count: self.counts[kind as usize].load(Ordering::Relaxed),
                total: Duration::from_micros(self.micros[kind as usize].load(Ordering::Relaxed)),
            })
            .collect()
    }
}

pub struct Timing<'a> {
    stats: &'a QueryStats,
    kind: QueryKind,
    started: Instant,
}

impl Drop for Timing<'_> {
    fn drop(&mut self) {
        let i = self.kind as usize;
        let micros = self.started.elapsed().as_micros() as u64;
        self.stats.counts[i].fetch_add(1, Ordering::Relaxed);
        self.stats.micros[i].fetch_add(micros, Ordering::Relaxed);
        tracing::trace!(kind = self.kind.name(), micros, "query");
    }
}

/// At most `per_table` questions about one table at a time: the others about that table wait
/// here, not for a connection, so a table locked by another client never takes the whole
/// connection budget.
pub struct TableSlots {
    per_table: usize,
    busy: Mutex<HashMap<String, usize>>,
    freed: Condvar,
}

impl TableSlots {
    /// Slots for a pool of `connections`: half of it per table (at least one).
    pub fn for_connections(connections: usize) -> TableSlots {
        TableSlots {
            per_table: (connections / 2).max(1),
            busy: Mutex::new(HashMap::new()),
            freed: Condvar::new(),
        }
    }

    /// Waits for a slot of table `name` (schema-qualified); held until the guard is dropped.
    pub fn enter(&self, name: &str) -> TableSlot<'_> {
        let mut busy = self.busy.lock().unwrap();
        while busy.get(name).copied().unwrap_or(0) >= self.per_table {
            busy = self.freed.wait(busy).unwrap();
        }
        *busy.entry(name.to_string()).or_insert(0) += 1;
        TableSlot {
            slots: self,
            name: name.to_string(),
        }
    }
}

pub struct TableSlot<'a> {
    slots: &'a TableSlots,
    name: String,
}

impl Drop for TableSlot<'_> {
    fn drop(&mut self) {
        let mut busy = self.slots.busy.lock().unwrap();
        if let Some(n) = busy.get_mut(&self.name) {
            *n -= 1;
            if *n == 0 {
                busy.remove(&self.name);
            }
        }
        self.slots.freed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn one_table_takes_at_most_half_the_connections() {
        let slots = Arc::new(TableSlots::for_connections(4));
        let a = slots.enter("s.locked");
        let b = slots.enter("s.locked");
        // A third question about the same table waits…
        let waiter = {
            let slots = slots.clone();
            std::thread::spawn(move || {
                let _slot = slots.enter("s.locked");
                Instant::now()
            })
        };
        // …while another table is served at once.
        let other = slots.enter("s.other");
        std::thread::sleep(Duration::from_millis(100));
        assert!(!waiter.is_finished(), "a third slot of one table was given");
        let released = Instant::now();
        drop(a);
        let entered = waiter.join().unwrap();
        assert!(entered >= released);
        drop((b, other));
        assert!(slots.busy.lock().unwrap().is_empty());
    }

    #[test]
    fn every_kind_indexes_its_own_counters() {
        for (i, &kind) in QueryKind::ALL.iter().enumerate() {
            assert_eq!(kind as usize, i, "{kind:?}");
        }
    }

    #[test]
    fn questions_are_counted_and_timed_by_kind() {
        let stats = QueryStats::default();
        {
            let _t = stats.start(QueryKind::Listing);
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(stats.start(QueryKind::Row));
        drop(stats.start(QueryKind::Row));
        let snap = stats.snapshot();
        let of = |k| snap.iter().find(|s| s.kind == k).unwrap().clone();
        assert_eq!(of(QueryKind::Listing).count, 1);
        assert!(of(QueryKind::Listing).total >= Duration::from_millis(5));
        assert_eq!(of(QueryKind::Row).count, 2);
        assert_eq!(of(QueryKind::Write).count, 0);
    }
}
