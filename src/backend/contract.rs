//! The backend contract: one suite of checks that every `Backend` must pass, run over the
//! in-memory backend by `cargo test --lib` and over MySQL against the real server by
//! `tests/backend_contract.rs`. It starts from the empty schema `tests/python/make_contract.py`
//! declares with the real client (whose catalog, as MySQL lists it, is kept in
//! `tests/fixtures/contract_catalog.json` for the in-memory run) and writes through the backend.
//!
//! Each check panics with what differed; `run` runs them in order on one schema.

use crate::catalog::{RawCatalog, SchemaCatalog, TableInfo};
use crate::stores::paths::TrackedKind;

use super::{
    row_gone, write_refusal, Backend, ColumnValue, Dependent, Fact, Stamp, TrackingRow,
    WriteRefusal,
};

/// The schema name the fixture was made under.
pub const SCHEMA: &str = "djfs_contract";

/// The contract schema's catalog as MySQL lists it (made by the real client).
pub fn fixture_catalog() -> RawCatalog {
    serde_json::from_str(include_str!("../../tests/fixtures/contract_catalog.json"))
        .expect("tests/fixtures/contract_catalog.json")
}

fn table(catalog: &SchemaCatalog, name: &str) -> std::sync::Arc<TableInfo> {
    catalog
        .tables
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no table {name} in {:?}", table_names(catalog)))
        .clone()
}

fn table_names(catalog: &SchemaCatalog) -> Vec<String> {
    catalog.tables.iter().map(|t| t.name.clone()).collect()
}

fn column(t: &TableInfo, name: &str) -> usize {
    t.columns
        .iter()
        .position(|c| c.name == name)
        .unwrap_or_else(|| panic!("no column {name} in {}", t.name))
}

fn text(s: &str) -> ColumnValue {
    ColumnValue::Text(s.to_string())
}

fn keys(k: &[&str]) -> Vec<String> {
    k.iter().map(|s| s.to_string()).collect()
}

/// Inserts a row without tracking rows; the contract expects it to succeed.
fn insert(b: &dyn Backend, table: &TableInfo, key: &[String], values: &[(usize, ColumnValue)]) {
    b.write_row(table, key, values, &[], true)
        .unwrap_or_else(|e| panic!("insert into {}: {e:#}", table.name));
}

fn refusal_of(result: anyhow::Result<()>) -> Option<WriteRefusal> {
    match result {
        Ok(()) => panic!("the backend accepted a write it must refuse"),
        Err(e) => write_refusal(&e),
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Runs the whole contract on `schema` (empty, as `make_contract.py` leaves it).
pub fn run(b: &dyn Backend, schema: &str) {
    let catalog = start(b, schema);
    inserts_and_refusals(b, &catalog);
    updates(b, &catalog);
    external_values(b, &catalog);
    nulls_compare_and_set(b, &catalog);
    dependents_and_deletes(b, &catalog);
    unused_tracking(b, &catalog);
}

/// The contract of a backend whose schemas track no external objects (DataJoint 2.x on
/// PostgreSQL), on the same design with the attachment in the table (`make_contract_v2.py`):
/// everything but the tracking rows, and nothing tracked.
pub fn run_without_tracking(b: &dyn Backend, schema: &str) {
    let catalog = start(b, schema);
    inserts_and_refusals(b, &catalog);
    updates(b, &catalog);
    in_table_values(b, &catalog);
    nulls_compare_and_set(b, &catalog);
    dependents_and_deletes(b, &catalog);
    nothing_tracked(b, &catalog);
}

fn start(b: &dyn Backend, schema: &str) -> SchemaCatalog {
    assert!(b.schema_exists(schema).unwrap());
    assert!(!b.schema_exists("djfs_no_such_schema").unwrap());
    assert!(b.schemas().unwrap().iter().any(|s| s == schema));
    let catalog = b.load_catalog(schema).unwrap();
    expected_tables(&catalog);
    catalog
}

/// The tables the contract needs are all there.
fn expected_tables(catalog: &SchemaCatalog) {
    let names = table_names(catalog);
    for want in ["subject", "session", "session__trial", "remark"] {
        assert!(names.iter().any(|n| n == want), "{want} missing: {names:?}");
    }
}

fn inserts_and_refusals(b: &dyn Backend, catalog: &SchemaCatalog) {
    let subject = table(catalog, "subject");
    let (name, weight) = (column(&subject, "name"), column(&subject, "weight"));
    assert!(b.list_rows(&subject).unwrap().is_empty());
    insert(
        b,
        &subject,
        &keys(&["1"]),
        &[(name, text("ann")), (weight, text("61.5"))],
    );
    insert(b, &subject, &keys(&["2"]), &[(name, text("bo"))]);
    let rows = b.list_rows(&subject).unwrap();
    let mut listed: Vec<(Vec<String>, String, Vec<Fact>)> = rows
        .iter()
        .map(|r| (r.key.clone(), r.folder.clone(), r.values.clone()))
        .collect();
    listed.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        listed,
        vec![
            (
                keys(&["1"]),
                "subject_id=1".to_string(),
                vec![
                    Fact::Bytes(b"1".to_vec()),
                    Fact::Bytes(b"ann".to_vec()),
                    Fact::Bytes(b"61.5".to_vec()),
                ]
            ),
            (
                keys(&["2"]),
                "subject_id=2".to_string(),
                vec![
                    Fact::Bytes(b"2".to_vec()),
                    Fact::Bytes(b"bo".to_vec()),
                    Fact::Null
                ]
            ),
        ]
    );
    let found = b.find_row(&subject, &keys(&["2"])).unwrap().unwrap();
    assert_eq!(found.values[name], Fact::Bytes(b"bo".to_vec()));
    assert!(b.find_row(&subject, &keys(&["3"])).unwrap().is_none());
    assert_eq!(
        b.fetch_value(&subject, &keys(&["1"]), name).unwrap(),
        Some(b"ann".to_vec())
    );
    assert_eq!(
        b.fetch_value(&subject, &keys(&["2"]), weight).unwrap(),
        None
    );

    // The same key again; a value too long; not a number; a required value left out; a parent
    // that does not exist.
    let dup = b.write_row(&subject, &keys(&["1"]), &[(name, text("x"))], &[], true);
    assert_eq!(refusal_of(dup), Some(WriteRefusal::Exists));
    let long = b.write_row(
        &subject,
        &keys(&["5"]),
        &[(name, text("seventeen chars!!"))],
        &[],
        true,
    );
    assert_eq!(refusal_of(long), Some(WriteRefusal::BadValue));
    let nan = b.write_row(
        &subject,
        &keys(&["5"]),
        &[(name, text("e")), (weight, text("heavy"))],
        &[],
        true,
    );
    assert_eq!(refusal_of(nan), Some(WriteRefusal::BadValue));
    let missing = b.write_row(&subject, &keys(&["5"]), &[(weight, text("1"))], &[], true);
    assert_eq!(refusal_of(missing), Some(WriteRefusal::BadValue));
    let session = table(catalog, "session");
    let orphan = b.write_row(&session, &keys(&["9", "1"]), &[], &[], true);
    assert_eq!(refusal_of(orphan), Some(WriteRefusal::Reference));
    // Nothing of the refused writes is there.
    assert_eq!(b.list_rows(&subject).unwrap().len(), 2);
    assert!(b.list_rows(&session).unwrap().is_empty());
}

fn updates(b: &dyn Backend, catalog: &SchemaCatalog) {
    let subject = table(catalog, "subject");
    let name = column(&subject, "name");
    b.write_row(&subject, &keys(&["2"]), &[(name, text("bob"))], &[], false)
        .unwrap();
    assert_eq!(
        b.fetch_value(&subject, &keys(&["2"]), name).unwrap(),
        Some(b"bob".to_vec())
    );
    let gone = b
        .write_row(&subject, &keys(&["7"]), &[(name, text("x"))], &[], false)
        .unwrap_err();
    assert!(row_gone(&gone), "{gone:#}");
    let bad = b.write_row(
        &subject,
        &keys(&["2"]),
        &[(name, text("much too long for it"))],
        &[],
        false,
    );
    assert_eq!(refusal_of(bad), Some(WriteRefusal::BadValue));
    assert_eq!(
        b.fetch_value(&subject, &keys(&["2"]), name).unwrap(),
        Some(b"bob".to_vec()),
        "a refused update changes nothing"
    );
}

const HASH_A: [u8; 16] = [0xa1; 16];
const HASH_B: [u8; 16] = [0xb2; 16];

fn external_values(b: &dyn Backend, catalog: &SchemaCatalog) {
    let session = table(catalog, "session");
    let (note, data, pic) = (
        column(&session, "note"),
        column(&session, "data"),
        column(&session, "pic"),
    );
    let blob: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    // An external reference needs its tracking row, written in the same transaction.
    let untracked = b.write_row(
        &session,
        &keys(&["1", "1"]),
        &[(pic, ColumnValue::Bytes(HASH_A.to_vec()))],
        &[],
        true,
    );
    assert_eq!(refusal_of(untracked), Some(WriteRefusal::Reference));
    let before = now();
    b.write_row(
        &session,
        &keys(&["1", "1"]),
        &[
            (note, text("first")),
            (data, ColumnValue::Bytes(blob.clone())),
            (pic, ColumnValue::Bytes(HASH_A.to_vec())),
        ],
        &[TrackingRow {
            store: "local".into(),
            hash: HASH_A.to_vec(),
            size: 42,
            attachment_name: Some("photo.png".into()),
        }],
        true,
    )
    .unwrap();
    let row = b.find_row(&session, &keys(&["1", "1"])).unwrap().unwrap();
    assert_eq!(row.folder, "subject_id=1,session=1");
    assert_eq!(
        row.values[pic],
        Fact::External {
            hash: HASH_A.to_vec(),
            attachment_name: Some("photo.png".into()),
            filepath: None,
            size: Some(42),
        }
    );
    match row.stamps[pic] {
        Stamp::Time(t) => assert!((before - 2..=now() + 2).contains(&t), "{t} vs {before}"),
        ref other => panic!("an external value is dated by its tracking row: {other:?}"),
    }
    match &row.values[data] {
        Fact::Blob { len, head } => {
            assert_eq!(*len, 3000);
            assert!(blob.starts_with(head) && !head.is_empty());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        row.stamps[data],
        Stamp::Digest(super::content_digest(&blob))
    );
    assert_eq!(
        b.fetch_value(&session, &keys(&["1", "1"]), data).unwrap(),
        Some(blob)
    );
    let tracked = b.tracked(&catalog.schema, "local", false).unwrap();
    assert_eq!(tracked.len(), 1);
    assert_eq!(tracked[0].hash, HASH_A.to_vec());
    assert_eq!(tracked[0].size, 42);
    assert_eq!(tracked[0].kind, TrackedKind::Attachment("photo.png".into()));
    assert!(b
        .tracking_exists(&catalog.schema, "local", &HASH_A)
        .unwrap());
    assert!(!b
        .tracking_exists(&catalog.schema, "local", &HASH_B)
        .unwrap());
    assert!(!b
        .tracking_exists("djfs_no_such_schema", "local", &HASH_A)
        .unwrap());
    // A second row with the same object, and one with another object.
    b.write_row(
        &session,
        &keys(&["1", "2"]),
        &[(pic, ColumnValue::Bytes(HASH_A.to_vec()))],
        &[TrackingRow {
            store: "local".into(),
            hash: HASH_A.to_vec(),
            size: 42,
            attachment_name: Some("photo.png".into()),
        }],
        true,
    )
    .unwrap();
    b.write_row(
        &session,
        &keys(&["2", "1"]),
        &[(pic, ColumnValue::Bytes(HASH_B.to_vec()))],
        &[TrackingRow {
            store: "local".into(),
            hash: HASH_B.to_vec(),
            size: 7,
            attachment_name: Some("b.txt".into()),
        }],
        true,
    )
    .unwrap();
    assert_eq!(b.tracked(&catalog.schema, "local", false).unwrap().len(), 2);
    assert!(b
        .tracked(&catalog.schema, "local", true)
        .unwrap()
        .is_empty());
}

/// The session rows `external_values` makes, with the attachment in the table: its name and
/// size from the listing, blob and attachment dated by their digests, values fetched whole.
fn in_table_values(b: &dyn Backend, catalog: &SchemaCatalog) {
    let session = table(catalog, "session");
    let (note, data, pic) = (
        column(&session, "note"),
        column(&session, "data"),
        column(&session, "pic"),
    );
    let blob: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    let mut attachment = b"photo.png\0".to_vec();
    attachment.extend((0..42u8).map(|i| i.wrapping_mul(7)));
    b.write_row(
        &session,
        &keys(&["1", "1"]),
        &[
            (note, text("first")),
            (data, ColumnValue::Bytes(blob.clone())),
            (pic, ColumnValue::Bytes(attachment.clone())),
        ],
        &[],
        true,
    )
    .unwrap();
    let row = b.find_row(&session, &keys(&["1", "1"])).unwrap().unwrap();
    assert_eq!(row.folder, "subject_id=1,session=1");
    assert_eq!(
        row.values[pic],
        Fact::Attach {
            name: "photo.png".into(),
            size: 42
        }
    );
    assert_eq!(
        row.stamps[pic],
        Stamp::Digest(super::content_digest(&attachment))
    );
    match &row.values[data] {
        Fact::Blob { len, head } => {
            assert_eq!(*len, 3000);
            assert!(blob.starts_with(head) && !head.is_empty());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        row.stamps[data],
        Stamp::Digest(super::content_digest(&blob))
    );
    assert_eq!(
        b.fetch_value(&session, &keys(&["1", "1"]), data).unwrap(),
        Some(blob)
    );
    assert_eq!(
        b.fetch_value(&session, &keys(&["1", "1"]), pic).unwrap(),
        Some(attachment.clone())
    );
    insert(
        b,
        &session,
        &keys(&["1", "2"]),
        &[(pic, ColumnValue::Bytes(attachment))],
    );
    insert(b, &session, &keys(&["2", "1"]), &[]);
    assert_eq!(b.list_rows(&session).unwrap().len(), 3);
}

/// A backend without tracking tables tracks nothing, and refuses a write that needs them.
fn nothing_tracked(b: &dyn Backend, catalog: &SchemaCatalog) {
    let schema = catalog.schema.as_str();
    assert!(b.tracked(schema, "local", false).unwrap().is_empty());
    assert!(!b.tracking_exists(schema, "local", &HASH_A).unwrap());
    assert_eq!(
        b.delete_unused_tracking(schema, "local", &HASH_A).unwrap(),
        None
    );
    let session = table(catalog, "session");
    let tracked = b.write_row(
        &session,
        &keys(&["1", "2"]),
        &[],
        &[TrackingRow {
            store: "local".into(),
            hash: HASH_A.to_vec(),
            size: 1,
            attachment_name: None,
        }],
        false,
    );
    assert!(tracked.is_err());
}

fn nulls_compare_and_set(b: &dyn Backend, catalog: &SchemaCatalog) {
    let session = table(catalog, "session");
    let note = column(&session, "note");
    let key = keys(&["1", "1"]);
    let first = b.value_fingerprint(&session, &key, note).unwrap();
    assert_eq!(
        first,
        Some(Some(hex::encode(<md5::Md5 as md5::Digest>::digest(
            b"first"
        ))))
    );
    // Another value was written meanwhile: the NULL does not land.
    b.write_row(&session, &key, &[(note, text("second"))], &[], false)
        .unwrap();
    assert!(!b
        .null_if_unchanged(&session, &key, note, &first.clone().unwrap())
        .unwrap());
    assert_eq!(
        b.fetch_value(&session, &key, note).unwrap(),
        Some(b"second".to_vec())
    );
    let second = b.value_fingerprint(&session, &key, note).unwrap().unwrap();
    assert!(b.null_if_unchanged(&session, &key, note, &second).unwrap());
    assert_eq!(b.fetch_value(&session, &key, note).unwrap(), None);
    assert_eq!(
        b.value_fingerprint(&session, &key, note).unwrap(),
        Some(None)
    );
    assert_eq!(
        b.value_fingerprint(&session, &keys(&["8", "8"]), note)
            .unwrap(),
        None
    );
}

fn dependents_and_deletes(b: &dyn Backend, catalog: &SchemaCatalog) {
    let schema = catalog.schema.as_str();
    let subject = table(catalog, "subject");
    let session = table(catalog, "session");
    let trial = table(catalog, "session__trial");
    let remark = table(catalog, "remark");
    let score = column(&trial, "score");
    let text_col = column(&remark, "text");
    for t in ["1", "2", "3"] {
        insert(b, &trial, &keys(&["1", "1", t]), &[(score, text(t))]);
    }
    insert(b, &trial, &keys(&["2", "1", "1"]), &[(score, text("9"))]);
    insert(
        b,
        &remark,
        &keys(&["1", "1", "1"]),
        &[(text_col, text("hi"))],
    );

    let names = |ds: &[Dependent]| {
        let mut v: Vec<String> = ds.iter().map(|d| d.table.clone()).collect();
        v.sort();
        v
    };
    let of_subject = b.dependents(schema, "subject").unwrap();
    assert_eq!(names(&of_subject), ["session"]);
    assert_eq!(
        of_subject[0].columns,
        vec![("subject_id".to_string(), "subject_id".to_string())]
    );
    let of_session = b.dependents(schema, "session").unwrap();
    assert_eq!(names(&of_session), ["remark", "session__trial"]);
    let trial_dep = of_session
        .iter()
        .find(|d| d.table == "session__trial")
        .unwrap()
        .clone();
    let remark_dep = of_session
        .iter()
        .find(|d| d.table == "remark")
        .unwrap()
        .clone();
    let session_dep = of_subject[0].clone();

    let key = keys(&["1", "1"]);
    assert_eq!(
        b.count_dependents(&session, &key, std::slice::from_ref(&trial_dep))
            .unwrap(),
        3
    );
    assert_eq!(
        b.count_dependents(&session, &key, std::slice::from_ref(&remark_dep))
            .unwrap(),
        1
    );
    // Through two levels: the trials of subject 1's sessions.
    assert_eq!(
        b.count_dependents(
            &subject,
            &keys(&["1"]),
            &[session_dep.clone(), trial_dep.clone()]
        )
        .unwrap(),
        3
    );
    // Deleting a row that others reference, alone: refused, nothing deleted.
    let refused = b.delete_rows(&session, &key, &[vec![]]);
    assert_eq!(
        refused.map_err(|e| write_refusal(&e)).unwrap_err(),
        Some(WriteRefusal::Reference)
    );
    assert_eq!(b.list_rows(&trial).unwrap().len(), 4);
    // Children first, then the row: one transaction.
    let counts = b
        .delete_rows(
            &session,
            &key,
            &[vec![trial_dep.clone()], vec![remark_dep.clone()], vec![]],
        )
        .unwrap();
    assert_eq!(counts, vec![3, 1, 1]);
    assert!(b.find_row(&session, &key).unwrap().is_none());
    let left: Vec<Vec<String>> = b
        .list_rows(&trial)
        .unwrap()
        .into_iter()
        .map(|r| r.key)
        .collect();
    assert_eq!(left, vec![keys(&["2", "1", "1"])]);
    assert!(b.list_rows(&remark).unwrap().is_empty());
}

fn unused_tracking(b: &dyn Backend, catalog: &SchemaCatalog) {
    let schema = catalog.schema.as_str();
    // Session (1,1) is gone; (1,2) still references HASH_A, (2,1) HASH_B.
    assert!(b.tracked(schema, "local", true).unwrap().is_empty());
    let session = table(catalog, "session");
    let pic = column(&session, "pic");
    b.write_row(
        &session,
        &keys(&["2", "1"]),
        &[(pic, ColumnValue::Null)],
        &[],
        false,
    )
    .unwrap();
    let unused = b.tracked(schema, "local", true).unwrap();
    assert_eq!(
        unused.iter().map(|t| t.hash.clone()).collect::<Vec<_>>(),
        vec![HASH_B.to_vec()]
    );
    // A referenced object's tracking row stays.
    assert_eq!(
        b.delete_unused_tracking(schema, "local", &HASH_A).unwrap(),
        None
    );
    let saved = b
        .delete_unused_tracking(schema, "local", &HASH_B)
        .unwrap()
        .expect("an unused tracking row is deleted");
    assert_eq!(saved.hash, HASH_B.to_vec());
    assert_eq!(saved.size, 7);
    assert_eq!(saved.attachment_name.as_deref(), Some("b.txt"));
    assert!(!b.tracking_exists(schema, "local", &HASH_B).unwrap());
    assert_eq!(
        b.delete_unused_tracking(schema, "local", &HASH_B).unwrap(),
        None
    );
    b.restore_tracking(schema, "local", saved).unwrap();
    let back = b.tracked(schema, "local", true).unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].kind, TrackedKind::Attachment("b.txt".into()));
    assert_eq!(back[0].size, 7);
}

#[cfg(test)]
mod tests {
    use super::super::memory::Memory;
    use super::*;

    #[test]
    fn the_memory_backend_keeps_the_contract() {
        let memory = Memory::new();
        memory.add_schema(SCHEMA, fixture_catalog());
        run(&memory, SCHEMA);
    }
}
