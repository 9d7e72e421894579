//! What the kernel holds of the mount: inode numbers for nodes, open handles, the files being
//! written (their staged bytes, by inode) and temporary files (the temp half of temp-then-rename
//! saves). Reads look a handle up; writes add and end them.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::write::WriteHandle;
use super::{Handle, Node};

/// Inode numbers for nodes. A number is handed out on first sight and stays the node's while
/// the kernel holds it: each reply that gives the kernel an entry (lookup, create, mkdir, every
/// READDIRPLUS entry) counts one lookup, `forget` takes them back, and at zero the number and
/// its node are dropped (a later lookup hands out a new number). Numbers handed out that the
/// kernel never held (a plain READDIR's) are kept for the latest `MAX_UNHELD` of them, so a
/// listing and the lookups after it agree. Numbers are never reused.
pub(super) struct Inodes {
    /// (Each node is stored once, shared by both maps: a walked table holds one per file.)
    by_node: HashMap<Arc<Node>, u64>,
    nodes: HashMap<u64, Known>,
    next: u64,
    /// Numbers handed out without a lookup, oldest first (some may have been looked up since).
    unheld: VecDeque<u64>,
    /// Numbers dropped since the owner last asked (`take_dropped`).
    dropped: Vec<u64>,
}

/// How many numbers the kernel never held are kept (a few hundred bytes each).
const MAX_UNHELD: usize = 65_536;

struct Known {
    node: Arc<Node>,
    /// Lookups the kernel holds.
    lookups: u64,
}

impl Inodes {
    pub fn new() -> Inodes {
        let mut inodes = Inodes {
            by_node: HashMap::new(),
            nodes: HashMap::new(),
            next: super::ROOT_INO,
            unheld: VecDeque::new(),
            dropped: Vec::new(),
        };
        inodes.intern(Node::Root);
        inodes
    }

    /// The node's number, handed out now if it has none (no lookup counted).
    pub fn intern(&mut self, node: Node) -> u64 {
        if let Some(&ino) = self.by_node.get(&node) {
            return ino;
        }
        let node = Arc::new(node);
        let ino = self.next;
        self.next += 1;
        self.nodes.insert(
            ino,
            Known {
                node: node.clone(),
                lookups: 0,
            },
        );
        self.by_node.insert(node, ino);
        self.unheld.push_back(ino);
        while self.unheld.len() > MAX_UNHELD {
            if let Some(old) = self.unheld.pop_front() {
                self.drop_unheld(old);
            }
        }
        ino
    }

    /// The node's number, with one more lookup held by the kernel.
    pub fn looked_up(&mut self, node: Node) -> u64 {
        let ino = self.intern(node);
        if let Some(known) = self.nodes.get_mut(&ino) {
            known.lookups += 1;
        }
        ino
    }

    pub fn add_lookup(&mut self, ino: u64) {
        if let Some(known) = self.nodes.get_mut(&ino) {
            known.lookups += 1;
        }
    }

    pub fn node(&self, ino: u64) -> Option<Node> {
        self.nodes.get(&ino).map(|k| Node::clone(&k.node))
    }

    pub fn find(&self, node: &Node) -> Option<u64> {
        self.by_node.get(node).copied()
    }

    /// The kernel dropped `n` lookups of `ino`; true when none is left (then `drop_unheld` may
    /// let the number go).
    pub fn forget(&mut self, ino: u64, n: u64) -> bool {
        match self.nodes.get_mut(&ino) {
            Some(known) => {
                known.lookups = known.lookups.saturating_sub(n);
                known.lookups == 0
            }
            None => false,
        }
    }

    /// Drops `ino` if the kernel holds no lookup of it (never the root).
    pub fn drop_unheld(&mut self, ino: u64) -> bool {
        if ino == super::ROOT_INO || self.nodes.get(&ino).is_none_or(|k| k.lookups > 0) {
            return false;
        }
        if let Some(known) = self.nodes.remove(&ino) {
            if self.by_node.get(&known.node) == Some(&ino) {
                self.by_node.remove(&known.node);
            }
        }
        self.dropped.push(ino);
        true
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// `rename`: the inode the kernel moved to a new name now stands for that name.
    pub fn rename(&mut self, ino: u64, to: Node) {
        if let Some(known) = self.nodes.get_mut(&ino) {
            let to = Arc::new(to);
            let from = std::mem::replace(&mut known.node, to.clone());
            if self.by_node.get(&from) == Some(&ino) {
                self.by_node.remove(&from);
            }
            self.by_node.insert(to, ino);
        }
    }
}

pub(super) struct Handles {
    pub inodes: Mutex<Inodes>,
    open: Mutex<HashMap<u64, Handle>>,
    next: AtomicU64,
    /// Files being written, by inode (their size is the staged size).
    pub writing: Mutex<HashMap<u64, Arc<WriteHandle>>>,
    /// Temporary files, by inode: staged, never stored under their own name; `rename` stores
    /// them under the final one.
    pub temps: Mutex<HashMap<u64, (Node, Arc<WriteHandle>)>>,
}

impl Default for Handles {
    fn default() -> Self {
        Handles {
            inodes: Mutex::new(Inodes::new()),
            open: Mutex::new(HashMap::new()),
            next: AtomicU64::new(1),
            writing: Mutex::new(HashMap::new()),
            temps: Mutex::new(HashMap::new()),
        }
    }
}

impl Handles {
    /// A new open handle.
    pub fn open(&self, handle: Handle) -> u64 {
        let fh = self.next.fetch_add(1, Ordering::Relaxed);
        self.open.lock().unwrap().insert(fh, handle);
        fh
    }

    pub fn get(&self, fh: u64) -> Option<Handle> {
        self.open.lock().unwrap().get(&fh).cloned()
    }

    /// The handle is closed (the last close of its descriptors).
    pub fn close(&self, fh: u64) -> Option<Handle> {
        self.open.lock().unwrap().remove(&fh)
    }

    /// The node of an inode number.
    pub fn node(&self, ino: u64) -> Option<Node> {
        self.inodes.lock().unwrap().node(ino)
    }

    /// The inode number of a node, if it has one.
    pub fn find(&self, node: &Node) -> Option<u64> {
        self.inodes.lock().unwrap().find(node)
    }

    /// The inode number of a node (handed out now if it has none).
    pub fn intern(&self, node: Node) -> u64 {
        self.inodes.lock().unwrap().intern(node)
    }

    /// The inode number of a node given to the kernel in an entry (one more lookup it holds).
    pub fn looked_up(&self, node: Node) -> u64 {
        self.inodes.lock().unwrap().looked_up(node)
    }

    /// One more lookup of `ino` held by the kernel (an entry it was given for a new file).
    pub fn add_lookup(&self, ino: u64) {
        self.inodes.lock().unwrap().add_lookup(ino);
    }

    /// The kernel forgot `n` lookups of `ino`: at zero the number goes, unless a file is being
    /// written or staged as a temporary under it (those keep their number until they end).
    /// True when the number went.
    pub fn forget(&self, ino: u64, n: u64) -> bool {
        // (Never two of these locks at once: `pinned` first.)
        let pinned = self.pinned(ino);
        let mut inodes = self.inodes.lock().unwrap();
        inodes.forget(ino, n) && !pinned && inodes.drop_unheld(ino)
    }

    /// The numbers dropped since the last call (what is kept of them elsewhere can go).
    pub fn take_dropped(&self) -> Vec<u64> {
        std::mem::take(&mut self.inodes.lock().unwrap().dropped)
    }

    fn pinned(&self, ino: u64) -> bool {
        self.writing.lock().unwrap().contains_key(&ino)
            || self.temps.lock().unwrap().contains_key(&ino)
    }

    /// The staging of a temporary file, if `ino` is one.
    pub fn temp(&self, ino: u64) -> Option<(Node, Arc<WriteHandle>)> {
        self.temps.lock().unwrap().get(&ino).cloned()
    }

    /// (inode numbers known, open handles, files being written, temporary files), for stats.
    pub fn sizes(&self) -> (usize, usize, usize, usize) {
        (
            self.inodes.lock().unwrap().len(),
            self.open.lock().unwrap().len(),
            self.writing.lock().unwrap().len(),
            self.temps.lock().unwrap().len(),
        )
    }

    /// The write under way on `ino`, if any.
    pub fn writing(&self, ino: u64) -> Option<Arc<WriteHandle>> {
        self.writing.lock().unwrap().get(&ino).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(n: u32) -> Node {
        Node::Row {
            schema: "s".into(),
            class: "T".into(),
            row: format!("id={n}").into(),
        }
    }

    #[test]
    fn a_number_stays_while_the_kernel_holds_it_and_goes_after_forget() {
        let handles = Handles::default();
        let ino = handles.looked_up(row(1));
        assert_eq!(
            handles.looked_up(row(1)),
            ino,
            "the same node, the same number"
        );
        assert!(!handles.forget(ino, 1), "one lookup is still held");
        assert_eq!(handles.node(ino), Some(row(1)));
        assert!(handles.forget(ino, 1));
        assert_eq!(handles.node(ino), None);
        let again = handles.looked_up(row(1));
        assert_ne!(again, ino, "numbers are never reused");
        assert_eq!(handles.sizes().0, 2, "the root and row 1");
        // The root is never forgotten.
        assert!(!handles.forget(crate::fs::ROOT_INO, 5));
        assert_eq!(handles.node(crate::fs::ROOT_INO), Some(Node::Root));
    }

    #[test]
    fn numbers_the_kernel_never_held_are_kept_for_the_latest_only() {
        let handles = Handles::default();
        let kept = handles.looked_up(row(0));
        let listed: Vec<u64> = (1..=MAX_UNHELD as u32 + 100)
            .map(|n| handles.intern(row(n)))
            .collect();
        // The oldest 100 unheld went (row 0 was looked up: it stays); the latest are kept.
        assert_eq!(handles.node(kept), Some(row(0)));
        assert_eq!(handles.node(listed[0]), None);
        assert_eq!(handles.node(listed[99]), None);
        assert_eq!(handles.node(listed[100]), Some(row(101)));
        assert_eq!(handles.sizes().0, MAX_UNHELD + 2);
        assert_eq!(handles.take_dropped().len(), 100);
        assert!(handles.take_dropped().is_empty());
    }
}
