//! The backend contract (`djfs::backend::contract`) over MySQL, against the real server, on the
//! empty schema the real client declares (`tests/python/make_contract.py`). `cargo test --lib`
//! runs the same checks over the in-memory backend, seeded with this schema's catalog as MySQL
//! lists it: `tests/fixtures/contract_catalog.json`, checked here to be exactly that (set
//! DJFS_UPDATE_FIXTURES=1 to write it afresh after changing the schema). The same checks, all
//! but the tracking tables', run over PostgreSQL on the schema the 2.x client declares.

mod common;

use djfs::backend::contract::{self, SCHEMA};
use djfs::backend::memory::Memory;
use djfs::backend::mysql::MySql;
use djfs::backend::Backend;

fn mysql_with_contract_schema() -> (tempfile::TempDir, MySql) {
    let (dir, config) = common::schema_with_stores("make_contract.py", SCHEMA, false);
    let cfg = djfs::config::load(Some(&config)).unwrap();
    (dir, MySql::connect(&cfg.database).unwrap())
}

#[test]
fn mysql_keeps_the_contract_and_the_fixture_is_its_catalog() {
    let (_dir, db) = mysql_with_contract_schema();
    let raw = db.raw_catalog(SCHEMA).unwrap();
    let path = common::env()
        .repo
        .join("tests/fixtures/contract_catalog.json");
    if std::env::var_os("DJFS_UPDATE_FIXTURES").is_some() {
        std::fs::write(&path, serde_json::to_string_pretty(&raw).unwrap() + "\n").unwrap();
    }
    assert_eq!(
        raw,
        contract::fixture_catalog(),
        "{} is not the catalog the client made (DJFS_UPDATE_FIXTURES=1 writes it)",
        path.display()
    );
    contract::run(&db, SCHEMA);
    memory_seeded_from_mysql_lists_the_same_rows(&db);
}

/// The in-memory backend, seeded with what MySQL holds after the contract ran, lists every
/// table exactly as MySQL does (facts, keys, names, stamps) and tracks the same objects.
fn memory_seeded_from_mysql_lists_the_same_rows(db: &MySql) {
    let memory = Memory::new();
    memory.add_schema(SCHEMA, db.raw_catalog(SCHEMA).unwrap());
    let catalog = db.load_catalog(SCHEMA).unwrap();
    for table in &catalog.tables {
        for row in db.list_rows(table).unwrap() {
            let values = (0..table.columns.len())
                .map(|c| db.fetch_value(table, &row.key, c).unwrap())
                .collect();
            memory.put_row(table, values);
        }
    }
    for tracked in db.tracked(SCHEMA, "local", false).unwrap() {
        memory.put_tracking(SCHEMA, "local", &tracked);
    }
    let mut rows_compared = 0;
    for table in &catalog.tables {
        let mut theirs = db.list_rows(table).unwrap();
        let mut ours = memory.list_rows(table).unwrap();
        theirs.sort_by(|a, b| a.key.cmp(&b.key));
        ours.sort_by(|a, b| a.key.cmp(&b.key));
        assert_eq!(ours.len(), theirs.len(), "{}", table.name);
        for (o, t) in ours.iter().zip(&theirs) {
            assert_eq!(
                (&o.key, &o.folder, &o.full_name, &o.values),
                (&t.key, &t.folder, &t.full_name, &t.values),
                "{}",
                table.name
            );
            assert_eq!(o.stamps, t.stamps, "{}", table.name);
            rows_compared += 1;
        }
    }
    assert!(rows_compared >= 4, "{rows_compared}");
    assert_eq!(
        memory.tracked(SCHEMA, "local", true).unwrap(),
        db.tracked(SCHEMA, "local", true).unwrap()
    );
}

/// The contract over PostgreSQL where it is backend-neutral (`run_without_tracking`), on the
/// same design declared by the real 2.x client (`tests/python/make_contract_v2.py`) with the
/// attachment in the table: inserts, updates and their refusals by SQLSTATE, the facts of a
/// listing, NULL only if unchanged, dependents and deletes in one transaction, nothing tracked.
#[test]
fn postgresql_keeps_the_contract_without_tracking_tables() {
    let pg = common::pg::pg();
    let schema = "djfs_contract_v2";
    let dir = tempfile::tempdir().unwrap();
    let made = dir.path().join("made.json");
    pg.run_script(
        "make_contract_v2.py",
        &[schema, "--config-out", made.to_str().unwrap()],
    );
    let db = pg.backend(dir.path());
    contract::run_without_tracking(&db, schema);
}
