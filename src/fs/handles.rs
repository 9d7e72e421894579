//! What the kernel holds of the mount: inode numbers for nodes, open handles, the files being
//! written (their staged bytes, by inode) and temporary files (the temp half of temp-then-rename
//! saves). Reads look a handle up; writes add and end them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::inodes::Inodes;
use super::write::WriteHandle;
use super::{Handle, Node};

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
        self.inodes.lock().unwrap().take_dropped()
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
