//! The core against a reference model, in the spirit of mountpoint-s3's reftests: random
//! sequences of file operations on the `Subject` table of the contract schema (`mkdir` of a row
//! and the write of its required value, writes of values, `rmdir` of a row, reads, listings, and
//! changes another client makes), run through the core over the in-memory backend and through a
//! plain model of what DataJoint would hold. Every read and listing must agree with the model,
//! and so must the database at the end. No FUSE, no server.
//!
//! The model: rows by `subject_id`, each with `name` (required, varchar(16)) and `weight`
//! (nullable float). A name longer than 16 characters is refused (EINVAL) and changes nothing.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;

use super::clock::ManualClock;
use super::{Filesystem, FsError, FsOptions, ROOT_INO};
use crate::backend::contract::{fixture_catalog, SCHEMA};
use crate::backend::memory::Memory;
use crate::backend::{Backend, ColumnValue};

#[derive(Clone, Debug)]
enum Op {
    /// `mkdir Subject/subject_id=<id>`, then the write of `name` (the INSERT).
    Insert {
        id: u8,
        name: String,
    },
    WriteName {
        id: u8,
        name: String,
    },
    WriteWeight {
        id: u8,
        weight: i16,
    },
    /// `rmdir Subject/subject_id=<id>`.
    Delete {
        id: u8,
    },
    /// `rm Subject/subject_id=<id>/weight`: NULL once the grace of `rm` has passed.
    RmWeight {
        id: u8,
    },
    /// Time passes (the core's clock), and the janitor writes the NULLs that are due.
    Tick {
        secs: u8,
    },
    /// Another client inserts, updates or deletes.
    ClientInsert {
        id: u8,
        name: String,
    },
    ClientUpdate {
        id: u8,
        name: String,
    },
    ClientDelete {
        id: u8,
    },
    Read {
        id: u8,
    },
    List,
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![4 => "[a-z]{1,16}", 1 => "[a-z]{17,20}"]
}

fn op() -> impl Strategy<Value = Op> {
    let id = 0u8..5;
    prop_oneof![
        (id.clone(), name()).prop_map(|(id, name)| Op::Insert { id, name }),
        (id.clone(), name()).prop_map(|(id, name)| Op::WriteName { id, name }),
        (id.clone(), -500i16..500).prop_map(|(id, weight)| Op::WriteWeight { id, weight }),
        id.clone().prop_map(|id| Op::Delete { id }),
        (id.clone(), "[a-z]{1,16}").prop_map(|(id, name)| Op::ClientInsert { id, name }),
        (id.clone(), "[a-z]{1,16}").prop_map(|(id, name)| Op::ClientUpdate { id, name }),
        id.clone().prop_map(|id| Op::ClientDelete { id }),
        id.clone().prop_map(|id| Op::RmWeight { id }),
        (0u8..4).prop_map(|secs| Op::Tick { secs }),
        id.prop_map(|id| Op::Read { id }),
        Just(Op::List),
    ]
}

/// What DataJoint would hold: name and weight by subject_id.
type Rows = BTreeMap<u8, (String, Option<String>)>;

/// The rows and, for rows made with `mkdir` in this mount, the files their folders show (a new
/// row folder shows only what was written into it, for `NEW_ROW_VIEWS`, so that `cp -r` can
/// copy a row folder into it; its key file is not among them).
#[derive(Default)]
struct Model {
    rows: Rows,
    /// Rows made here: when, and the files written into them since.
    made: BTreeMap<u8, (Duration, std::collections::BTreeSet<&'static str>)>,
    /// The core's clock, from the start.
    now: Duration,
}

impl Model {
    /// The files a made row shows while it is new (`None`: it shows all of them).
    fn shown(&self, id: u8) -> Option<&std::collections::BTreeSet<&'static str>> {
        self.made
            .get(&id)
            .filter(|(at, _)| self.now - *at < super::edits::NEW_ROW_VIEWS)
            .map(|(_, files)| files)
    }
}

struct Harness {
    fs: Filesystem,
    db: Arc<Memory>,
    clock: Arc<ManualClock>,
    table: Arc<crate::catalog::TableInfo>,
}

impl Harness {
    fn new() -> Harness {
        let db = Arc::new(Memory::new());
        db.add_schema(SCHEMA, fixture_catalog());
        let table = db
            .load_catalog(SCHEMA)
            .unwrap()
            .tables
            .iter()
            .find(|t| t.name == "subject")
            .unwrap()
            .clone();
        let stores = Arc::new(crate::stores::Stores::new(&BTreeMap::new(), None).unwrap());
        let clock = Arc::new(ManualClock::default());
        let fs = Filesystem::with_clock(
            db.clone(),
            stores,
            FsOptions {
                schema: Some(SCHEMA.into()),
                read_only: false,
                // Every access asks the database, so another client's change is seen at once.
                refresh: Duration::ZERO,
                uid: 0,
                gid: 0,
                cascade_delete: false,
                cache_bytes: super::DEFAULT_CACHE_MIB << 20,
                page_rows: super::FIRST_PAGE_ROWS,
            },
            clock.clone(),
        );
        Harness {
            fs,
            db,
            clock,
            table,
        }
    }

    fn table_ino(&self) -> u64 {
        self.fs.lookup(ROOT_INO, OsStr::new("Subject")).unwrap().ino
    }

    fn row_ino(&self, id: u8) -> Result<u64, FsError> {
        let table = self.table_ino();
        self.fs
            .lookup(table, OsStr::new(&format!("subject_id={id}")))
            .map(|a| a.ino)
    }

    /// create (or open with truncation) + write + close of `row/<attr>`.
    fn write(&self, row: u64, attr: &str, text: &str) -> Result<(), FsError> {
        let fh = match self.fs.lookup(row, OsStr::new(attr)) {
            Ok(a) => self.fs.open_with(a.ino, true, true)?.0,
            Err(e) if e == FsError::NotFound => self.fs.create(row, OsStr::new(attr))?.1,
            Err(e) => return Err(e),
        };
        let data = format!("{text}\n");
        let written = self.fs.write(fh, 0, data.as_bytes());
        let flushed = self.fs.flush(fh);
        self.fs.release(fh);
        written?;
        flushed
    }

    fn read(&self, row: u64, attr: &str) -> Result<String, FsError> {
        let ino = self.fs.lookup(row, OsStr::new(attr))?.ino;
        let (fh, _) = self.fs.open(ino, false)?;
        let data = self.fs.read(fh, 0, 1 << 16);
        self.fs.release(fh);
        Ok(String::from_utf8(data?).unwrap())
    }

    /// A listing read as the kernel reads it (see `walks`): replies of three items from offset
    /// 0, each from the offset of the last item of the one before, until a reply has none.
    fn list(&self, ino: u64) -> Vec<String> {
        let mut names = Vec::new();
        let mut offset = 0;
        loop {
            let mut in_reply = 0;
            let ended = self
                .fs
                .fill_listing(ino, offset, |item, next| {
                    if in_reply == 3 {
                        return true; // full: this item is not in the reply
                    }
                    in_reply += 1;
                    offset = next;
                    if let crate::fs::ListingItem::Entry(entry) = item {
                        names.push(entry.name.clone());
                    }
                    false
                })
                .unwrap();
            if let Some(walk) = ended {
                self.fs.walk_done(walk);
            }
            if in_reply == 0 {
                return names;
            }
        }
    }

    fn client(&self, key: u8, values: &[(usize, ColumnValue)], insert: bool) {
        let _ = self
            .db
            .write_row(&self.table, &[key.to_string()], values, &[], insert);
    }

    fn client_delete(&self, key: u8) {
        let _ = self
            .db
            .delete_rows(&self.table, &[key.to_string()], &[vec![]]);
    }
}

/// A float column prints an integral value without a fraction.
fn float_text(w: i16) -> String {
    (w as f64).to_string()
}

fn step(h: &Harness, m: &mut Model, op: &Op) -> Result<(), TestCaseError> {
    let model = &mut m.rows;
    let fits = |name: &str| name.chars().count() <= 16;
    match op {
        Op::Insert { id, name } => {
            let table = h.table_ino();
            let made = h.fs.mkdir(table, OsStr::new(&format!("subject_id={id}")));
            if model.contains_key(id) {
                prop_assert_eq!(
                    made.err(),
                    Some(FsError::Exists),
                    "mkdir of an existing row"
                );
                return Ok(());
            }
            let row = made
                .map_err(|e| TestCaseError::fail(format!("mkdir: {e:?}")))?
                .ino;
            let written = h.write(row, "name", name);
            if fits(name) {
                prop_assert_eq!(written, Ok(()));
                model.insert(*id, (name.clone(), None));
                m.made.insert(*id, (m.now, ["name"].into()));
            } else {
                prop_assert_eq!(written, Err(FsError::Invalid));
                // The folder was never a row: remove it as a user would.
                let _ = h.fs.rmdir(table, OsStr::new(&format!("subject_id={id}")));
            }
        }
        Op::WriteName { id, name } => match (h.row_ino(*id), model.get_mut(id)) {
            (Ok(row), Some(values)) => {
                let written = h.write(row, "name", name);
                if fits(name) {
                    prop_assert_eq!(written, Ok(()));
                    values.0 = name.clone();
                } else {
                    prop_assert_eq!(written, Err(FsError::Invalid));
                }
            }
            (Err(e), None) => prop_assert_eq!(e, FsError::NotFound),
            (row, values) => {
                return Err(TestCaseError::fail(format!(
                    "row {id}: core {row:?}, model {values:?}"
                )))
            }
        },
        Op::WriteWeight { id, weight } => match (h.row_ino(*id), model.get_mut(id)) {
            (Ok(row), Some(values)) => {
                prop_assert_eq!(h.write(row, "weight", &weight.to_string()), Ok(()));
                values.1 = Some(float_text(*weight));
                if let Some((_, shown)) = m.made.get_mut(id) {
                    shown.insert("weight");
                }
            }
            (Err(e), None) => prop_assert_eq!(e, FsError::NotFound),
            (row, values) => {
                return Err(TestCaseError::fail(format!(
                    "row {id}: core {row:?}, model {values:?}"
                )))
            }
        },
        Op::Delete { id } => {
            let removed =
                h.fs.rmdir(h.table_ino(), OsStr::new(&format!("subject_id={id}")));
            if model.remove(id).is_some() {
                prop_assert_eq!(removed, Ok(()));
                m.made.remove(id);
            } else {
                prop_assert_eq!(removed, Err(FsError::NotFound));
            }
        }
        Op::ClientInsert { id, name } => {
            h.client(*id, &[(1, ColumnValue::Text(name.clone()))], true);
            model.entry(*id).or_insert_with(|| (name.clone(), None));
        }
        Op::ClientUpdate { id, name } => {
            h.client(*id, &[(1, ColumnValue::Text(name.clone()))], false);
            if let Some(values) = model.get_mut(id) {
                values.0 = name.clone();
            }
        }
        Op::ClientDelete { id } => {
            h.client_delete(*id);
            model.remove(id);
        }
        Op::RmWeight { id } => {
            let shown = m.shown(*id).is_none_or(|s| s.contains("weight"));
            let model = &mut m.rows;
            match (h.row_ino(*id), model.get_mut(id)) {
                (Ok(row), Some(values)) => {
                    let removed = h.fs.unlink(row, OsStr::new("weight"));
                    if values.1.is_some() && shown {
                        prop_assert_eq!(removed, Ok(()));
                        values.1 = None;
                    } else {
                        prop_assert_eq!(removed, Err(FsError::NotFound));
                    }
                }
                (Err(e), None) => prop_assert_eq!(e, FsError::NotFound),
                (row, values) => {
                    return Err(TestCaseError::fail(format!(
                        "row {id}: core {row:?}, model {values:?}"
                    )))
                }
            }
        }
        Op::Tick { secs } => {
            let by = Duration::from_secs(u64::from(*secs));
            h.clock.advance(by);
            m.now += by;
            h.fs.apply_due_nulls();
        }
        Op::Read { id } => match (h.row_ino(*id), m.rows.get(id)) {
            (Ok(row), Some((name, weight))) => {
                let shows = |file: &str| m.shown(*id).is_none_or(|s| s.contains(file));
                let expect = |file: &str, value: Option<&String>| match value {
                    Some(v) if shows(file) => Ok(format!("{v}\n")),
                    _ => Err(FsError::NotFound),
                };
                prop_assert_eq!(h.read(row, "name"), expect("name", Some(name)));
                prop_assert_eq!(h.read(row, "weight"), expect("weight", weight.as_ref()));
                prop_assert_eq!(
                    h.read(row, "subject_id"),
                    expect("subject_id", Some(&id.to_string()))
                );
            }
            (Err(e), None) => prop_assert_eq!(e, FsError::NotFound),
            (row, values) => {
                return Err(TestCaseError::fail(format!(
                    "row {id}: core {row:?}, model {values:?}"
                )))
            }
        },
        Op::List => {
            let mut rows: Vec<String> = h
                .list(h.table_ino())
                .into_iter()
                .filter(|n| !n.starts_with('.'))
                .collect();
            rows.sort();
            let want: Vec<String> = model.keys().map(|id| format!("subject_id={id}")).collect();
            prop_assert_eq!(rows, want);
        }
    }
    Ok(())
}

/// Runs `ops` from an empty table; at the end the database holds exactly the model.
fn check(ops: &[Op]) -> Result<(), TestCaseError> {
    let h = Harness::new();
    let mut model = Model::default();
    for op in ops {
        step(&h, &mut model, op)?;
    }
    // Unmount: the NULLs still in their grace are written now.
    h.fs.shutdown();
    let mut stored = BTreeMap::new();
    for row in h.db.list_rows(&h.table).unwrap() {
        let text = |i: usize| match &row.values[i] {
            crate::backend::Fact::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        };
        let id: u8 = row.key[0].parse().unwrap();
        stored.insert(id, (text(1).unwrap_or_default(), text(2)));
    }
    prop_assert_eq!(stored, model.rows);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn the_core_agrees_with_the_model(ops in prop::collection::vec(op(), 1..25)) {
        check(&ops)?;
    }
}

/// Cases the property test found, kept as they were shrunk.
mod found {
    use super::*;

    /// A row made and deleted here, then inserted by another client: its folder showed only the
    /// files written here before the delete (no key file) until `NEW_ROW_VIEWS` passed.
    #[test]
    fn a_row_deleted_here_and_inserted_by_another_client_shows_all_its_files() {
        check(&[
            Op::Insert {
                id: 2,
                name: "a".into(),
            },
            Op::Delete { id: 2 },
            Op::ClientInsert {
                id: 2,
                name: "a".into(),
            },
            Op::Read { id: 2 },
        ])
        .unwrap();
    }

    /// A row deleted here, inserted again by another client, its value written here and then
    /// removed with `rm`: the NULL was dropped at its due time (the row counted as deleted
    /// here), so the value came back after `rm` had succeeded.
    #[test]
    fn rm_in_a_row_deleted_here_and_inserted_again_by_another_client_lands() {
        check(&[
            Op::Insert {
                id: 1,
                name: "a".into(),
            },
            Op::Delete { id: 1 },
            Op::ClientInsert {
                id: 1,
                name: "a".into(),
            },
            Op::WriteWeight { id: 1, weight: 0 },
            Op::RmWeight { id: 1 },
        ])
        .unwrap();
    }
}

/// Listings read as the kernel reads them (see `walks`).
mod listings {
    use super::*;

    /// A listing read on after its walk went (given up, or pushed out by others) is begun again
    /// and read on from the position the kernel's offset names: nothing listed twice or lost.
    #[test]
    fn a_listing_read_on_after_its_walk_went_goes_on_from_its_position() {
        let h = Harness::new();
        for id in 1..=5u8 {
            h.client(id, &[(1, ColumnValue::Text(format!("s{id}")))], true);
        }
        let table = h.table_ino();
        let whole = h.list(table);
        assert!(whole.len() >= 5, "{whole:?}");
        let (id, walk, position) = h.fs.walk(table, 0).unwrap();
        assert_eq!(position, 0);
        // The kernel took `.`, `..` and two entries; its offset names what comes next.
        let offset = crate::fs::offset_of(id, 2 + 2);
        assert_eq!(h.fs.walk(table, offset).unwrap(), (id, walk, 4));
        h.fs.walk_done(id);
        let (again, walk, position) = h.fs.walk(table, offset).unwrap();
        assert_ne!(again, id);
        assert_eq!(position, 4);
        let rest: Vec<String> =
            h.fs.readdir_all(walk.fh)
                .unwrap()
                .iter()
                .skip(2)
                .map(|e| e.name.clone())
                .collect();
        assert_eq!(rest, whole[2..].to_vec());
        h.fs.walk_done(again);
    }
}
