//! Inode numbers for nodes: what the kernel holds of the mount's names.
//!
//! A number is handed out on first sight and stays the node's while the kernel holds it: each
//! reply that gives the kernel an entry (lookup, create, mkdir, every READDIRPLUS entry) counts
//! one lookup, `forget` takes them back, and at zero the number and its node are dropped (a
//! later lookup hands out a new number). Numbers handed out that the kernel never held (a plain
//! READDIR's) are kept for the latest `MAX_UNHELD` of them, so a listing and the lookups after it
//! agree. Numbers are never reused.
//!
//! A walked table of a million rows has the kernel hold millions of inodes, most of them the
//! files of rows. So those are not stored: a row file's number is computed from its row's number
//! and the index of its name in its table's name list (`FILE_FLAG | row << NAME_BITS | name`),
//! and read back the same way. The kernel cannot hold a file without its folder (a dentry pins
//! its parent), so a row's number outlives its files'. A row folder named `<attr>=<integer>`
//! (a table with one integer key) is numbered the same way, from its table and the integer;
//! other rows are stored compactly per table (their folder name and a lookup count); every
//! other node is stored whole. A computed number names the same path whenever it is handed out
//! (as a row deleted and made again by its key is the same folder).

use std::collections::{HashMap, VecDeque};

use rustc_hash::FxHashMap;
use std::sync::Arc;

use super::Node;

/// The bit that marks a computed row-file number.
const FILE_FLAG: u64 = 1 << 62;
/// Bits of a row-file number that hold its name's index (index 0 is never used).
const NAME_BITS: u32 = 12;
const MAX_NAMES: usize = (1 << NAME_BITS) - 1;

/// The bit that marks a computed row-folder number: a row of a table whose folders are named
/// `<attr>=<integer>` (one integer key, the usual DataJoint `id`) is numbered from its table's
/// index and the integer, so such rows take no memory either. Row numbers stay below 2^50.
const ROW_FLAG: u64 = 1 << 49;
const ROW_VALUE_BITS: u32 = 40;
/// Tables with computed row numbers, at most (later tables' rows are stored).
const ROW_TABLES: u32 = 1 << 9;

/// How many numbers the kernel never held are kept (up to a few hundred bytes each).
const MAX_UNHELD: usize = 65_536;

pub(super) struct Inodes {
    /// Nodes other than rows and their files (and files renamed onto another name), stored
    /// once and shared by both maps.
    by_node: HashMap<Arc<Node>, u64>,
    nodes: FxHashMap<u64, Known>,
    /// Tables whose rows have numbers, by id; ids by schema then class.
    tables: Vec<TableSlot>,
    table_ids: HashMap<Arc<str>, HashMap<Arc<str>, u32>>,
    /// Row folders by number.
    rows: FxHashMap<u64, RowSlot>,
    next: u64,
    /// Numbers handed out without a lookup, oldest first (some may have been looked up since).
    unheld: VecDeque<u64>,
    /// Numbers dropped since the owner last asked (`take_dropped`).
    dropped: Vec<u64>,
}

struct Known {
    node: Arc<Node>,
    /// Lookups the kernel holds.
    lookups: u64,
}

struct TableSlot {
    schema: Arc<str>,
    class: Arc<str>,
    /// Numbers of its rows, by folder name.
    rows: FxHashMap<Arc<str>, u64>,
    /// Names of files seen in its rows (never removed: bounded by `MAX_NAMES`, then row files
    /// are stored whole).
    names: Vec<Arc<str>>,
    name_ids: HashMap<Arc<str>, u16>,
    /// `<attr>=` of the table's first row folder named `<attr>=<integer>`: folders with this
    /// prefix and a canonical integer get computed numbers.
    int_prefix: Option<Arc<str>>,
}

struct RowSlot {
    folder: Arc<str>,
    table: u32,
    lookups: u32,
}

fn file_ino(row: u64, name: u16) -> u64 {
    FILE_FLAG | row << NAME_BITS | u64::from(name)
}

/// (row number, name index) of a computed row-file number.
fn split_file_ino(ino: u64) -> Option<(u64, u16)> {
    let name = (ino & ((1 << NAME_BITS) - 1)) as u16;
    (ino & FILE_FLAG != 0).then_some(((ino & !FILE_FLAG) >> NAME_BITS, name))
}

/// Whether `ino` is a computed number (a row file's or an integer-keyed row's).
fn is_computed(ino: u64) -> bool {
    ino & (FILE_FLAG | ROW_FLAG) != 0
}

/// (`<attr>=`, integer) of a row folder named `<attr>=<integer>`: one key attribute, the integer
/// written as its decimal digits alone (no sign, no leading zero), below 2^40, so that the
/// folder name is exactly `prefix + integer` written back.
fn int_folder(folder: &str) -> Option<(&str, u64)> {
    let at = folder.find('=')? + 1;
    let (prefix, digits) = folder.split_at(at);
    if prefix.contains(',')
        || digits.is_empty()
        || digits.len() > 13
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || (digits.len() > 1 && digits.starts_with('0'))
    {
        return None;
    }
    let value: u64 = digits.parse().ok()?;
    (value < 1 << ROW_VALUE_BITS).then_some((prefix, value))
}

impl Inodes {
    pub fn new() -> Inodes {
        let mut inodes = Inodes {
            by_node: HashMap::new(),
            nodes: FxHashMap::default(),
            tables: Vec::new(),
            table_ids: HashMap::new(),
            rows: FxHashMap::default(),
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
        match &node {
            Node::Row { schema, class, row } => return self.intern_row(schema, class, row),
            Node::RowEntry {
                schema,
                class,
                row,
                name,
            } => {
                let row = self.intern_row(schema, class, row);
                let table = self.row_table(row).expect("a row just numbered");
                if let Some(name) = self.tables[table as usize].name_id(name, true) {
                    let ino = file_ino(row, name);
                    // A file renamed here from elsewhere took this number: this name gets
                    // a stored one.
                    if !self.nodes.contains_key(&ino) {
                        return ino;
                    }
                }
            }
            _ => {}
        }
        self.intern_stored(node)
    }

    fn intern_stored(&mut self, node: Node) -> u64 {
        let node = Arc::new(node);
        let ino = self.new_number();
        self.nodes.insert(
            ino,
            Known {
                node: node.clone(),
                lookups: 0,
            },
        );
        self.by_node.insert(node, ino);
        ino
    }

    fn intern_row(&mut self, schema: &Arc<str>, class: &Arc<str>, folder: &Arc<str>) -> u64 {
        let table = match self
            .table_ids
            .get(&**schema)
            .and_then(|classes| classes.get(&**class))
        {
            Some(&id) => id,
            None => {
                let id = self.tables.len() as u32;
                self.tables.push(TableSlot {
                    schema: schema.clone(),
                    class: class.clone(),
                    rows: FxHashMap::default(),
                    names: Vec::new(),
                    name_ids: HashMap::new(),
                    int_prefix: None,
                });
                self.table_ids
                    .entry(schema.clone())
                    .or_default()
                    .insert(class.clone(), id);
                id
            }
        };
        if let Some(&ino) = self.tables[table as usize].rows.get(&**folder) {
            return ino;
        }
        if let Some(ino) = self.computed_row(table, folder) {
            // (Unless a row renamed here took the number: this name gets a stored one.)
            if !self.nodes.contains_key(&ino) {
                return ino;
            }
        }
        let ino = self.new_number();
        self.tables[table as usize].rows.insert(folder.clone(), ino);
        self.rows.insert(
            ino,
            RowSlot {
                folder: folder.clone(),
                table,
                lookups: 0,
            },
        );
        ino
    }

    /// A new stored number, counted as not held by the kernel until it is looked up.
    fn new_number(&mut self) -> u64 {
        let ino = self.next;
        self.next += 1;
        self.unheld.push_back(ino);
        while self.unheld.len() > MAX_UNHELD {
            if let Some(old) = self.unheld.pop_front() {
                self.drop_unheld(old);
            }
        }
        ino
    }

    /// The computed number of row `folder` of `table`, if its name is `<attr>=<integer>` with the
    /// table's prefix (learned here from the table's first such folder).
    fn computed_row(&mut self, table: u32, folder: &str) -> Option<u64> {
        let slot = self.tables.get_mut(table as usize)?;
        if slot.int_prefix.is_none() && table < ROW_TABLES {
            slot.int_prefix = int_folder(folder).map(|(prefix, _)| prefix.into());
        }
        self.computed_row_known(table, folder)
    }

    /// `computed_row` without learning a prefix (for `find`).
    fn computed_row_known(&self, table: u32, folder: &str) -> Option<u64> {
        let (prefix, value) = int_folder(folder)?;
        let known = self.tables.get(table as usize)?.int_prefix.as_deref()?;
        (table < ROW_TABLES && known == prefix)
            .then_some(ROW_FLAG | u64::from(table) << ROW_VALUE_BITS | value)
    }

    /// (table, folder) of a row number, stored or computed.
    fn row_of(&self, row: u64) -> Option<(u32, Arc<str>)> {
        if let Some(slot) = self.rows.get(&row) {
            return Some((slot.table, slot.folder.clone()));
        }
        if self.nodes.contains_key(&row) {
            return None;
        }
        let table = self.row_table(row)?;
        let value = row & ((1 << ROW_VALUE_BITS) - 1);
        let prefix = self.tables.get(table as usize)?.int_prefix.as_deref()?;
        Some((table, format!("{prefix}{value}").into()))
    }

    /// The table of a row number (a computed one's from its bits, without writing its name).
    fn row_table(&self, row: u64) -> Option<u32> {
        match self.rows.get(&row) {
            Some(slot) => Some(slot.table),
            None if row & ROW_FLAG != 0 && row & FILE_FLAG == 0 => {
                Some(((row & !ROW_FLAG) >> ROW_VALUE_BITS) as u32)
            }
            None => None,
        }
    }

    /// The node's number, with one more lookup held by the kernel.
    pub fn looked_up(&mut self, node: Node) -> u64 {
        let ino = self.intern(node);
        self.add_lookup(ino);
        ino
    }

    pub fn add_lookup(&mut self, ino: u64) {
        if let Some(known) = self.nodes.get_mut(&ino) {
            known.lookups += 1;
        } else if let Some(row) = self.rows.get_mut(&ino) {
            row.lookups = row.lookups.saturating_add(1);
        }
        // (A computed row-file number lives as long as its row: nothing to count.)
    }

    pub fn node(&self, ino: u64) -> Option<Node> {
        if let Some(known) = self.nodes.get(&ino) {
            return Some(Node::clone(&known.node));
        }
        let Some((row, name)) = split_file_ino(ino) else {
            let (table, folder) = self.row_of(ino)?;
            let table = &self.tables[table as usize];
            return Some(Node::Row {
                schema: table.schema.clone(),
                class: table.class.clone(),
                row: folder,
            });
        };
        let (table, folder) = self.row_of(row)?;
        let table = &self.tables[table as usize];
        Some(Node::RowEntry {
            schema: table.schema.clone(),
            class: table.class.clone(),
            row: folder,
            name: table.names.get(usize::from(name).checked_sub(1)?)?.clone(),
        })
    }

    pub fn find(&self, node: &Node) -> Option<u64> {
        if let Some(&ino) = self.by_node.get(node) {
            return Some(ino);
        }
        let find_row = |schema: &str, class: &str, folder: &str| {
            let table = *self.table_ids.get(schema)?.get(class)?;
            let row = match self.tables[table as usize].rows.get(folder) {
                Some(&row) => row,
                None => self
                    .computed_row_known(table, folder)
                    .filter(|ino| !self.nodes.contains_key(ino))?,
            };
            Some((table, row))
        };
        match node {
            Node::Row { schema, class, row } => find_row(schema, class, row).map(|(_, ino)| ino),
            Node::RowEntry {
                schema,
                class,
                row,
                name,
            } => {
                let (table, row) = find_row(schema, class, row)?;
                let name = *self.tables[table as usize].name_ids.get(&**name)?;
                let ino = file_ino(row, name);
                (!self.nodes.contains_key(&ino)).then_some(ino)
            }
            _ => None,
        }
    }

    /// The kernel dropped `n` lookups of `ino`; true when none is left (then `drop_unheld` may
    /// let the number go).
    pub fn forget(&mut self, ino: u64, n: u64) -> bool {
        if let Some(known) = self.nodes.get_mut(&ino) {
            known.lookups = known.lookups.saturating_sub(n);
            known.lookups == 0
        } else if let Some(row) = self.rows.get_mut(&ino) {
            row.lookups = row
                .lookups
                .saturating_sub(n.min(u64::from(u32::MAX)) as u32);
            row.lookups == 0
        } else {
            // The kernel forgets an inode all at once: a computed number is gone.
            is_computed(ino)
        }
    }

    /// Drops `ino` if the kernel holds no lookup of it (never the root).
    pub fn drop_unheld(&mut self, ino: u64) -> bool {
        if ino == super::ROOT_INO {
            return false;
        }
        if let Some(known) = self.nodes.get(&ino) {
            if known.lookups > 0 {
                return false;
            }
            let known = self.nodes.remove(&ino).expect("just seen");
            if self.by_node.get(&known.node) == Some(&ino) {
                self.by_node.remove(&known.node);
            }
        } else if let Some(row) = self.rows.get(&ino) {
            if row.lookups > 0 {
                return false;
            }
            let row = self.rows.remove(&ino).expect("just seen");
            let table = &mut self.tables[row.table as usize];
            if table.rows.get(&row.folder) == Some(&ino) {
                table.rows.remove(&row.folder);
            }
        } else if !is_computed(ino) {
            return false;
        }
        self.dropped.push(ino);
        true
    }

    /// Numbers dropped since the last call.
    pub fn take_dropped(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.dropped)
    }

    /// Numbers stored (rows and other nodes; row files are computed).
    pub fn len(&self) -> usize {
        self.nodes.len() + self.rows.len()
    }

    /// `rename`: the inode the kernel moved to a new name now stands for that name (stored
    /// whole from now on, whatever it was).
    pub fn rename(&mut self, ino: u64, to: Node) {
        let to = Arc::new(to);
        let lookups = if let Some(known) = self.nodes.remove(&ino) {
            if self.by_node.get(&known.node) == Some(&ino) {
                self.by_node.remove(&known.node);
            }
            known.lookups
        } else if let Some(row) = self.rows.remove(&ino) {
            let table = &mut self.tables[row.table as usize];
            if table.rows.get(&row.folder) == Some(&ino) {
                table.rows.remove(&row.folder);
            }
            u64::from(row.lookups)
        } else {
            // A computed number: the kernel holds it (it just renamed it).
            1
        };
        self.nodes.insert(
            ino,
            Known {
                node: to.clone(),
                lookups,
            },
        );
        self.by_node.insert(to, ino);
    }
}

impl TableSlot {
    /// The index of a file name in this table's rows, added when `add` and there is room.
    fn name_id(&mut self, name: &Arc<str>, add: bool) -> Option<u16> {
        if let Some(&id) = self.name_ids.get(&**name) {
            return Some(id);
        }
        if !add || self.names.len() >= MAX_NAMES {
            return None;
        }
        self.names.push(name.clone());
        let id = self.names.len() as u16;
        self.name_ids.insert(name.clone(), id);
        Some(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row of a table keyed by text (stored numbers).
    fn row(n: u32) -> Node {
        Node::Row {
            schema: "s".into(),
            class: "T".into(),
            row: format!("name=r{n}").into(),
        }
    }

    fn file(n: u32, name: &str) -> Node {
        Node::RowEntry {
            schema: "s".into(),
            class: "T".into(),
            row: format!("name=r{n}").into(),
            name: name.into(),
        }
    }

    /// A row of a table keyed by an integer (computed numbers).
    fn int_row(class: &str, folder: &str) -> Node {
        Node::Row {
            schema: "s".into(),
            class: class.into(),
            row: folder.into(),
        }
    }

    #[test]
    fn integer_keyed_rows_are_computed_not_stored() {
        let mut inodes = Inodes::new();
        let a = inodes.looked_up(int_row("I", "id=7"));
        let b = inodes.looked_up(int_row("I", "id=1099511627775"));
        let zero = inodes.intern(int_row("I", "id=0"));
        assert_eq!(inodes.len(), 1, "only the root is stored");
        for (ino, folder) in [(a, "id=7"), (b, "id=1099511627775"), (zero, "id=0")] {
            assert_eq!(inodes.node(ino), Some(int_row("I", folder)));
            assert_eq!(inodes.find(&int_row("I", folder)), Some(ino));
        }
        // Their files are computed from them.
        let f = inodes.intern(Node::RowEntry {
            schema: "s".into(),
            class: "I".into(),
            row: "id=7".into(),
            name: "value".into(),
        });
        assert_eq!(
            inodes.node(f),
            Some(Node::RowEntry {
                schema: "s".into(),
                class: "I".into(),
                row: "id=7".into(),
                name: "value".into()
            })
        );
        // Names that do not write back the same way are stored: leading zeros, a sign, too
        // large, another attribute, two attributes.
        for folder in [
            "id=07",
            "id=-1",
            "id=1099511627776",
            "other=3",
            "a=1,b=2",
            "id=",
        ] {
            let ino = inodes.intern(int_row("I", folder));
            assert_eq!(inodes.node(ino), Some(int_row("I", folder)), "{folder}");
        }
        assert_eq!(inodes.len(), 7);
        // Another table's same integer is another number.
        let other = inodes.intern(int_row("J", "id=7"));
        assert_ne!(other, a);
        assert_eq!(inodes.node(other), Some(int_row("J", "id=7")));
        // Forgetting one lets nothing go that is stored, and the same path gets the same number.
        assert!(inodes.forget(a, 1) && inodes.drop_unheld(a));
        assert_eq!(inodes.intern(int_row("I", "id=7")), a);
        // A number computed for a folder of a table nobody named is unknown.
        assert_eq!(inodes.node(ROW_FLAG | 5 << ROW_VALUE_BITS | 3), None);
    }

    #[test]
    fn row_files_are_computed_from_their_row_and_read_back() {
        let mut inodes = Inodes::new();
        let r = inodes.looked_up(row(1));
        let a = inodes.looked_up(file(1, "a"));
        let b = inodes.intern(file(1, "b.npy"));
        assert_ne!(a, b);
        assert_eq!(inodes.node(a), Some(file(1, "a")));
        assert_eq!(inodes.node(b), Some(file(1, "b.npy")));
        assert_eq!(inodes.find(&file(1, "a")), Some(a));
        assert_eq!(
            inodes.intern(file(1, "a")),
            a,
            "the same file, the same number"
        );
        assert_eq!(inodes.find(&file(2, "a")), None);
        // Files are not stored: the root and the row are.
        assert_eq!(inodes.len(), 2);
        // Another row's file of the same name has another number.
        let a2 = inodes.intern(file(2, "a"));
        assert_ne!(a2, a);
        assert_eq!(inodes.node(a2), Some(file(2, "a")));
        // Forgetting a file drops nothing stored; forgetting the row drops it and its files.
        assert!(inodes.forget(a, 1) && inodes.drop_unheld(a));
        assert_eq!(inodes.node(a), Some(file(1, "a")), "still computable");
        assert!(inodes.forget(r, 1) && inodes.drop_unheld(r));
        assert_eq!(inodes.node(r), None);
        assert_eq!(inodes.node(b), None);
        assert_eq!(inodes.take_dropped(), vec![a, r]);
        let again = inodes.intern(file(1, "a"));
        assert_ne!(again, a, "numbers are never reused");
    }

    #[test]
    fn a_renamed_file_keeps_its_number_and_its_old_name_gets_another() {
        let mut inodes = Inodes::new();
        inodes.looked_up(row(1));
        let temp = inodes.looked_up(file(1, "x.tmp"));
        inodes.rename(temp, file(1, "x"));
        assert_eq!(inodes.node(temp), Some(file(1, "x")));
        assert_eq!(inodes.find(&file(1, "x")), Some(temp));
        assert_eq!(inodes.intern(file(1, "x")), temp);
        // The editor's next save: the temporary name again, a number of its own.
        assert_eq!(inodes.find(&file(1, "x.tmp")), None);
        let temp2 = inodes.intern(file(1, "x.tmp"));
        assert_ne!(temp2, temp);
        assert_eq!(inodes.node(temp2), Some(file(1, "x.tmp")));
        assert_eq!(inodes.node(temp), Some(file(1, "x")));
        // The renamed number goes when the kernel forgets it; the name is computed again.
        assert!(inodes.forget(temp, 1) && inodes.drop_unheld(temp));
        assert_eq!(inodes.node(temp), Some(file(1, "x.tmp")));
        let x = inodes.intern(file(1, "x"));
        assert_eq!(inodes.node(x), Some(file(1, "x")));
    }

    #[test]
    fn a_table_with_more_file_names_than_indexes_stores_the_rest() {
        let mut inodes = Inodes::new();
        inodes.looked_up(row(1));
        let numbers: Vec<u64> = (0..MAX_NAMES + 10)
            .map(|i| inodes.intern(file(1, &format!("f{i}"))))
            .collect();
        for (i, &ino) in numbers.iter().enumerate() {
            assert_eq!(inodes.node(ino), Some(file(1, &format!("f{i}"))));
        }
        assert_eq!(inodes.len(), 2 + 10);
    }

    #[test]
    fn a_number_stays_while_the_kernel_holds_it_and_goes_after_forget() {
        let mut inodes = Inodes::new();
        let ino = inodes.looked_up(row(1));
        assert_eq!(
            inodes.looked_up(row(1)),
            ino,
            "the same node, the same number"
        );
        assert!(!inodes.forget(ino, 1), "one lookup is still held");
        assert_eq!(inodes.node(ino), Some(row(1)));
        assert!(inodes.forget(ino, 1) && inodes.drop_unheld(ino));
        assert_eq!(inodes.node(ino), None);
        let again = inodes.looked_up(row(1));
        assert_ne!(again, ino, "numbers are never reused");
        assert_eq!(inodes.len(), 2, "the root and row 1");
        // The root is never forgotten.
        assert!(!inodes.drop_unheld(crate::fs::ROOT_INO));
        assert_eq!(inodes.node(crate::fs::ROOT_INO), Some(Node::Root));
    }

    #[test]
    fn numbers_the_kernel_never_held_are_kept_for_the_latest_only() {
        let mut inodes = Inodes::new();
        let kept = inodes.looked_up(row(0));
        let listed: Vec<u64> = (1..=MAX_UNHELD as u32 + 100)
            .map(|n| inodes.intern(row(n)))
            .collect();
        // The oldest 100 unheld went (row 0 was looked up: it stays); the latest are kept.
        assert_eq!(inodes.node(kept), Some(row(0)));
        assert_eq!(inodes.node(listed[0]), None);
        assert_eq!(inodes.node(listed[99]), None);
        assert_eq!(inodes.node(listed[100]), Some(row(101)));
        assert_eq!(inodes.len(), MAX_UNHELD + 2);
        assert_eq!(inodes.take_dropped().len(), 100);
        assert!(inodes.take_dropped().is_empty());
    }
}
