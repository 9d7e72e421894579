//! What the kernel holds of the mount: inode numbers for nodes, open handles, the files being
//! written (their staged bytes, by inode) and temporary files (the temp half of temp-then-rename
//! saves). Reads look a handle up; writes add and end them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::write::WriteHandle;
use super::{Handle, Node};

/// Inode numbers for nodes, handed out on first sight and kept for the life of the mount.
#[derive(Default)]
pub(super) struct Inodes {
    by_node: HashMap<Node, u64>,
    nodes: Vec<Node>,
}

impl Inodes {
    pub fn new() -> Inodes {
        let mut inodes = Inodes::default();
        inodes.intern(Node::Root);
        inodes
    }
    pub fn intern(&mut self, node: Node) -> u64 {
        if let Some(&ino) = self.by_node.get(&node) {
            return ino;
        }
        self.nodes.push(node.clone());
        let ino = self.nodes.len() as u64;
        self.by_node.insert(node, ino);
        ino
    }
    pub fn node(&self, ino: u64) -> Option<Node> {
        self.nodes.get(ino.checked_sub(1)? as usize).cloned()
    }
    pub fn find(&self, node: &Node) -> Option<u64> {
        self.by_node.get(node).copied()
    }
    /// `rename`: the inode the kernel moved to a new name now stands for that name.
    pub fn rename(&mut self, ino: u64, to: Node) {
        if let Some(slot) = ino
            .checked_sub(1)
            .and_then(|i| self.nodes.get_mut(i as usize))
        {
            let from = std::mem::replace(slot, to.clone());
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

    /// The inode number of a node (handed out now if it has none).
    pub fn intern(&self, node: Node) -> u64 {
        self.inodes.lock().unwrap().intern(node)
    }

    /// The staging of a temporary file, if `ino` is one.
    pub fn temp(&self, ino: u64) -> Option<(Node, Arc<WriteHandle>)> {
        self.temps.lock().unwrap().get(&ino).cloned()
    }

    /// The write under way on `ino`, if any.
    pub fn writing(&self, ino: u64) -> Option<Arc<WriteHandle>> {
        self.writing.lock().unwrap().get(&ino).cloned()
    }
}
