//! The PostgreSQL backend against a real PostgreSQL 15 and the real DataJoint 2.x client: a
//! schema the client writes (`tests/python/pg2_schema.py`) is mounted and every file compared
//! with what the client fetches; the backend's listing, paged listing and point queries; the
//! one-line errors of `djfs mount`.
//!
//! Needs DJFS_PG_HOST, DJFS_PG_PORT, DJFS_PG_USER, DJFS_PG_PASS (a user that may create schemas
//! in the database DJFS_PG_DATABASE, default `postgres`) and DJFS_PY2 (the 2.x client's
//! Python); the MariaDB test also the test MariaDB of `scripts/test` (DJ_HOST, DJ_USER,
//! DJ_PASS). Without DJFS_PG_HOST each test says so and passes without checking anything.

mod common;

use std::path::Path;
use std::process::Command;

use djfs::backend::{Backend, ColumnValue, Fact, PageStart};

use common::pg::{pg, Pg};

#[test]
fn a_2x_schema_on_postgresql_mounts_as_the_client_fetches_it() {
    let pg = pg();
    let schema = "djfs_pg_mount";
    pg.script(&["make", schema]);
    let dir = tempfile::tempdir().unwrap();
    let config = pg.config(dir.path(), "");
    let mount = common::Mount::new(&config, Some(schema), &[]);
    let m = &mount.path;

    // Tables by class name, rows by key.
    let mut tables: Vec<String> = std::fs::read_dir(m)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    tables.sort();
    assert_eq!(
        tables,
        ["Grid", "Kind", "Session", "Session.Trial", "Subject"]
    );
    let mut kinds: Vec<String> = std::fs::read_dir(m.join("Kind"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        ["kind=a", "kind=it's", "kind=x%2Fy%2Cz%3D%25", "kind=ünï"]
    );
    let grid_rows = std::fs::read_dir(m.join("Grid"))
        .unwrap()
        .filter(|e| {
            !e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with('.')
        })
        .count();
    assert_eq!(grid_rows, 250);

    // Values: scalars as text, bytes raw, a blob as .npy, an attachment by its name.
    let alice = m.join("Subject/subject_id=1");
    let read = |p: &str| std::fs::read(alice.join(p)).unwrap();
    assert_eq!(read("name"), b"Alice\n");
    assert_eq!(read("sex"), b"F\n");
    assert_eq!(read("alive"), b"1\n");
    assert_eq!(read("big"), format!("{}\n", 1u64 << 62).as_bytes());
    assert_eq!(read("price"), b"12.34\n");
    assert_eq!(read("seen"), b"2024-05-06 07:08:09.123\n");
    assert_eq!(read("dob"), b"2020-01-02\n");
    assert_eq!(read("ident"), b"00112233-4455-6677-8899-aabbccddeeff\n");
    assert_eq!(read("raw"), b"\x00\x01binary\xff");
    let notes: serde_json::Value = serde_json::from_slice(&read("notes")).unwrap();
    assert_eq!(notes, serde_json::json!({"a": [1, 2, 3], "b": "x"}));
    // NULLs are no files.
    assert!(!m.join("Subject/subject_id=2/dob").exists());
    let npy = std::fs::read(m.join("Session/subject_id=1,session=1/data.npy")).unwrap();
    assert!(npy.starts_with(b"\x93NUMPY"), "{:?}", &npy[..16]);
    assert_eq!(
        std::fs::read(m.join("Session/subject_id=2,session=1/doc/notes.txt")).unwrap(),
        b"hello attach\n\x00\xff"
    );
    // The table's definition, from the 2.x comments.
    let definition = std::fs::read_to_string(m.join("Subject/.definition")).unwrap();
    assert!(
        definition.contains("name                 : varchar(64)")
            && definition.contains("# their name"),
        "{definition}"
    );
    // Every file against the real client.
    pg.script(&["check", schema, m.to_str().unwrap()]);
}

#[test]
fn listings_pages_and_point_queries() {
    let pg = pg();
    let schema = "djfs_pg_backend";
    pg.script(&["make", schema]);
    let dir = tempfile::tempdir().unwrap();
    let db = pg.backend(dir.path());
    assert!(db.schema_exists(schema).unwrap());
    assert!(!db.schema_exists("djfs_pg_no_such_schema").unwrap());
    let schemas = db.schemas().unwrap();
    assert!(schemas.iter().any(|s| s == schema), "{schemas:?}");
    assert!(
        !schemas
            .iter()
            .any(|s| s == "pg_catalog" || s == "information_schema" || s.starts_with("pg_toast")),
        "{schemas:?}"
    );
    let catalog = db.load_catalog(schema).unwrap();
    let version = db.catalog_version(schema).unwrap();
    assert_eq!(version, db.catalog_version(schema).unwrap());
    assert!(db.tracked(schema, "any", false).unwrap().is_empty());
    let grid = catalog.by_class("Grid").unwrap();
    assert_eq!(grid.key_names(), ["row_id", "tag"]);
    // A change stamp (the rows' count and transaction ids): the same while nothing changes.
    let stamp = db
        .table_stamp(grid)
        .unwrap()
        .expect("a small table's stamp");
    assert!(stamp.unchanged_at(&db.table_stamp(grid).unwrap().unwrap()));

    // One query per listing.
    let before = db.query_count();
    let all = db.list_rows(grid).unwrap();
    assert_eq!(db.query_count() - before, 1);
    assert_eq!(all.len(), 250);

    // Pages of 64 in key order (integers as numbers: 10 after 9), each one query.
    let mut paged = Vec::new();
    let mut after: Option<Vec<String>> = None;
    loop {
        let before = db.query_count();
        let from = match &after {
            Some(key) => PageStart::After(key),
            None => PageStart::First,
        };
        let page = db.list_rows_page(grid, from, 64).unwrap();
        assert_eq!(db.query_count() - before, 1);
        assert!(page.len() <= 64);
        let Some(last) = page.last() else { break };
        after = Some(last.key.clone());
        paged.extend(page);
    }
    let keys: Vec<(i64, String)> = paged
        .iter()
        .map(|r| (r.key[0].parse().unwrap(), r.key[1].clone()))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    assert_eq!(keys.len(), 250);
    assert_eq!(keys[30], (10, "t0".to_string()));
    // From a row on (it included), and from a key that is no integer (nothing).
    let at = ["10".to_string(), "t1".to_string()];
    let page = db.list_rows_page(grid, PageStart::At(&at), 2).unwrap();
    let folders: Vec<&str> = page.iter().map(|r| r.folder.as_str()).collect();
    assert_eq!(folders, ["row_id=10,tag=t1", "row_id=10,tag=t2"]);
    let bad = ["x".to_string()];
    assert!(db
        .list_rows_page(grid, PageStart::At(&bad), 2)
        .unwrap()
        .is_empty());

    // Point queries: by key text, quotes and all; a key that is no integer finds nothing.
    let row = db
        .find_row(grid, &["10".to_string(), "t1".to_string()])
        .unwrap()
        .unwrap();
    assert_eq!(row.folder, "row_id=10,tag=t1");
    assert_eq!(row.values[2], Fact::Bytes(b"7.75".to_vec()));
    assert!(db
        .find_row(grid, &["abc".to_string(), "t1".to_string()])
        .unwrap()
        .is_none());
    let kind = catalog.by_class("Kind").unwrap();
    assert!(db.find_row(kind, &["it's".to_string()]).unwrap().is_some());
    assert!(db
        .find_row(kind, &["a' OR '1'='1".to_string()])
        .unwrap()
        .is_none());
    let session = catalog.by_class("Session").unwrap();
    let data = session
        .columns
        .iter()
        .position(|c| c.name == "data")
        .unwrap();
    let blob = db
        .fetch_value(session, &["1".to_string(), "1".to_string()], data)
        .unwrap()
        .unwrap();
    assert!(
        blob.starts_with(b"dj0\0") || blob.starts_with(b"mYm\0"),
        "{:?}",
        &blob[..8]
    );

    // Any change to the rows moves the stamp: an update, a delete, an insert.
    let key = ["10".to_string(), "t1".to_string()];
    let value = |v: &str| [(2usize, ColumnValue::Text(v.to_string()))];
    db.write_row(grid, &key, &value("8.5"), &[], false).unwrap();
    let updated = db.table_stamp(grid).unwrap().unwrap();
    assert!(!stamp.unchanged_at(&updated));
    db.delete_rows(grid, &key, &[vec![]]).unwrap();
    let deleted = db.table_stamp(grid).unwrap().unwrap();
    assert!(!updated.unchanged_at(&deleted));
    db.write_row(grid, &key, &value("7.75"), &[], true).unwrap();
    let inserted = db.table_stamp(grid).unwrap().unwrap();
    assert!(!deleted.unchanged_at(&inserted) && !stamp.unchanged_at(&inserted));
    assert!(inserted.unchanged_at(&db.table_stamp(grid).unwrap().unwrap()));
}

#[test]
fn a_2x_schema_on_mariadb_shows_its_in_table_types() {
    let pg = pg();
    // The same schema, by the 2.x client, on the test MariaDB (in-table types only: 2.x stores
    // objects only where json is json).
    let e = common::env();
    let (host, port) = e.db_host.rsplit_once(':').unwrap_or((&e.db_host, "3306"));
    let mariadb = Pg {
        host: host.to_string(),
        port: port.parse().unwrap(),
        user: e.db_user.clone(),
        pass: e.db_pass.clone(),
        database: String::new(),
        python: pg.python.clone(),
    };
    let schema = "djfs_2x_mariadb";
    let script = |args: &[&str]| {
        common::run_ok(
            Command::new(&mariadb.python)
                .arg("-W")
                .arg("ignore")
                .arg(common::repo_root().join("tests/python/pg2_schema.py"))
                .args(args)
                .env("DJFS_2X_BACKEND", "mysql")
                .env("DJFS_PG_HOST", &mariadb.host)
                .env("DJFS_PG_PORT", mariadb.port.to_string())
                .env("DJFS_PG_USER", &mariadb.user)
                .env("DJFS_PG_PASS", &mariadb.pass),
        )
    };
    script(&["make", schema]);
    let dir = tempfile::tempdir().unwrap();
    let config = common::write_config(dir.path(), "");
    let mount = common::Mount::new(&config, Some(schema), &[]);
    let alice = mount.path.join("Subject/subject_id=1");
    assert_eq!(
        std::fs::read(alice.join("raw")).unwrap(),
        b"\x00\x01binary\xff"
    );
    assert_eq!(
        std::fs::read(alice.join("ident")).unwrap(),
        b"00112233-4455-6677-8899-aabbccddeeff\n"
    );
    assert!(mount
        .path
        .join("Session/subject_id=1,session=1/data.npy")
        .exists());
    script(&["check", schema, mount.path.to_str().unwrap()]);
}

/// `djfs mount` and its one-line reason on stderr.
fn mount_error(config: &Path, schema: Option<&str>, env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mountpoint = dir.path().join("mnt");
    std::fs::create_dir(&mountpoint).unwrap();
    let mut cmd = common::djfs();
    cmd.arg("mount").arg("--config").arg(config);
    if let Some(s) = schema {
        cmd.arg(s);
    }
    cmd.arg(&mountpoint).envs(env.iter().copied());
    let out = cmd.output().unwrap();
    assert!(!out.status.success(), "mounted: {out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr).trim_end().to_string();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    stderr
}

#[test]
fn mount_errors_are_one_line() {
    let pg = pg();
    let dir = tempfile::tempdir().unwrap();
    let at = format!("{}:{} as {}", pg.host, pg.port, pg.user);
    let wrong = dir.path().join("wrong");
    std::fs::create_dir(&wrong).unwrap();
    let bad_password = mount_error(
        &pg.config(&wrong, ", \"database.password\": \"not-the-password\""),
        None,
        &[],
    );
    assert!(
        bad_password.starts_with(&format!(
            "djfs: cannot connect to the database at {at}: access denied (28P01"
        )),
        "{bad_password}"
    );
    let config = pg.config(dir.path(), "");
    let no_db = mount_error(&config, None, &[("DJ_DATABASE_NAME", "djfs_no_such_db")]);
    assert!(
        no_db.starts_with(&format!(
            "djfs: cannot connect to the database at {at}: unknown database \"djfs_no_such_db\""
        )),
        "{no_db}"
    );
    let no_schema = mount_error(&config, Some("djfs_no_such_schema"), &[]);
    assert_eq!(
        no_schema,
        "djfs: unknown schema \"djfs_no_such_schema\" (or no privilege to see it)"
    );
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down_dir = dir.path().join("down");
    std::fs::create_dir(&down_dir).unwrap();
    let down_config = Pg {
        host: "127.0.0.1".into(),
        port,
        user: pg.user.clone(),
        pass: pg.pass.clone(),
        database: pg.database.clone(),
        python: pg.python.clone(),
    }
    .config(&down_dir, "");
    let down = mount_error(&down_config, None, &[]);
    assert!(
        down.starts_with(&format!(
            "djfs: cannot connect to the database at 127.0.0.1:{port} as {}: ",
            pg.user
        )) && down.contains("refused"),
        "{down}"
    );
}

/// Runs a checker and asserts it found no difference (and checked something).
fn assert_checked_clean(out: std::process::Output, what: &str, log: &str) {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let passed: usize = text
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_suffix(" passed, 0 failed"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    assert!(
        out.status.success() && passed > 100,
        "{what} found differences:\n{text}\ndjfs log:\n{log}"
    );
}

/// The test world's 2.x reference on MariaDB (every in-table 2.x type, written by datajoint
/// 2.3.5) and the 0.14 reference (datajoint 0.14.10), side by side on one server and in one
/// mount of every schema: each schema's folder checks clean against its own client.
#[test]
fn a_2x_and_a_0_14_schema_side_by_side_both_check_clean() {
    let pg = pg();
    let (v2, v014) = ("djfs_side_v2", "djfs_side_014");
    let dir = tempfile::tempdir().unwrap();
    let v2_config = dir.path().join("datajoint.json");
    common::run_ok(
        Command::new(&pg.python)
            .arg(common::repo_root().join("tests/python/make_v2_reference.py"))
            .args([v2, "--backend", "mysql", "--config-out"])
            .arg(&v2_config),
    );
    common::python("make_reference.py", &[v014]);
    let config = common::write_config(dir.path(), "");
    let mount = common::Mount::new(&config, None, &[]);
    let checked_v2 = Command::new(&pg.python)
        .arg(common::repo_root().join("tests/python/check_mount_v2.py"))
        .arg(&mount.path)
        .arg(v2)
        .arg("--config")
        .arg(&v2_config)
        .arg("--all-schemas")
        .output()
        .unwrap();
    assert_checked_clean(checked_v2, "check_mount_v2.py", &mount.log_text());
    let (ok, output) = common::python_status(
        "check_mount.py",
        &[mount.path.to_str().unwrap(), v014, "--all-schemas"],
    );
    assert!(
        ok && output.contains(" 0 failed"),
        "check_mount.py found differences:\n{output}"
    );
}

/// Runs `make_v2_reference.py` with the 2.x client (S3 and database settings from the test
/// environment, as `scripts/test` exports them).
fn make_v2_reference(pg: &Pg, schema: &str, args: &[&str]) {
    common::run_ok(
        Command::new(&pg.python)
            .arg("-W")
            .arg("ignore")
            .arg(common::repo_root().join("tests/python/make_v2_reference.py"))
            .arg(schema)
            .args(args),
    );
}

/// `check_mount_v2.py MOUNT SCHEMA --config CONFIG` with the real 2.x client.
fn check_v2(pg: &Pg, mount: &common::Mount, schema: &str, config: &Path) {
    let out = Command::new(&pg.python)
        .arg("-W")
        .arg("ignore")
        .arg(common::repo_root().join("tests/python/check_mount_v2.py"))
        .arg(&mount.path)
        .arg(schema)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap();
    assert_checked_clean(out, "check_mount_v2.py", &mount.log_text());
}

/// The full 2.x reference on PostgreSQL (every stored type in a folder store, an S3 store and a
/// folder store with its own prefixes and subfolding; written by datajoint 2.3.5) and the
/// MariaDB reference (in-table types): each mounted and every file compared with what the client
/// fetches, stored objects read from the stores at `location + metadata.path`.
#[test]
fn the_2x_references_check_clean_against_the_client() {
    let pg = pg();
    let dir = tempfile::tempdir().unwrap();
    let stores = dir.path().join("stores");
    let config = dir.path().join("datajoint.json");
    let schema = "djfs_v2_objects";
    make_v2_reference(
        &pg,
        schema,
        &[
            "--backend",
            "postgresql",
            "--store-root",
            stores.to_str().unwrap(),
            "--config-out",
            config.to_str().unwrap(),
        ],
    );
    let mount = common::Mount::new(&config, Some(schema), &[]);
    let m = &mount.path;
    // A few values by hand (the checker compares every file).
    assert_eq!(
        std::fs::read(m.join("Hashes/hash_id=1/h_local")).unwrap(),
        b"hello\n"
    );
    assert_eq!(
        std::fs::read_to_string(m.join("Attachments/att_id=2/doc_local/résumé µ.txt")).unwrap(),
        "Ünïcødé contents\n"
    );
    assert_eq!(
        std::fs::read(m.join("Objects/obj_id=2/o_local/plots/deeper/values.json")).unwrap(),
        b"{\"x\": 1}\n"
    );
    assert_eq!(
        std::fs::read(m.join("Filepaths/fp_id=1/fp_s3/notes.txt")).unwrap(),
        b"second session\n"
    );
    let npy = std::fs::metadata(m.join("Arrays/arr_id=1/n_local.npy")).unwrap();
    assert_eq!(npy.len(), 48 * 64 * 3 + 128);
    assert!(m.join("Arrays/arr_id=1/n_local.png").exists());
    // NULLs: no file for a hash, an empty folder for an object.
    assert!(!m.join("Hashes/hash_id=3/h_s3").exists());
    assert_eq!(
        std::fs::read_dir(m.join("Objects/obj_id=5/o_local"))
            .unwrap()
            .count(),
        0
    );
    // `.external/<store>/`: the schema's objects by their paths in the store; nothing unused
    // (tests/v2gc.rs checks `.unused` against the client's garbage collector).
    let ext = m.join(".external");
    let mut stores_shown: Vec<String> = std::fs::read_dir(&ext)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    stores_shown.sort();
    assert_eq!(stores_shown, ["deep", "local", "shared"]);
    let hashed = ext.join(format!(
        "deep/objects/by-hash/{schema}/tl/pyr/tlpyrsuntcvnoofkx4tkptje3u"
    ));
    assert_eq!(std::fs::read(hashed).unwrap(), b"relocated\n");
    for store in ["local", "shared", "deep"] {
        let unused = std::fs::read_dir(ext.join(store).join(".unused")).unwrap();
        assert_eq!(unused.count(), 0, "{store}");
    }
    check_v2(&pg, &mount, schema, &config);
    drop(mount);

    // MariaDB: the in-table 2.x types, with the 2.x config the script writes.
    let my_schema = "djfs_v2_objects_my";
    let my_config = dir.path().join("my.json");
    make_v2_reference(
        &pg,
        my_schema,
        &[
            "--backend",
            "mysql",
            "--config-out",
            my_config.to_str().unwrap(),
        ],
    );
    let mount = common::Mount::new(&my_config, Some(my_schema), &[]);
    check_v2(&pg, &mount, my_schema, &my_config);
}

/// A hash-addressed 2.x object whose bytes were altered in its folder store: its base32-MD5 no
/// longer matches the metadata's `hash`, so reading it is EIO with a log line saying so (as the
/// client refuses it), in a folder store and in S3; the untouched value beside it still reads.
#[test]
fn an_altered_2x_hash_object_reads_eio() {
    let pg = pg();
    let dir = tempfile::tempdir().unwrap();
    let stores = dir.path().join("stores");
    let config = dir.path().join("datajoint.json");
    let schema = "djfs_v2_altered";
    let script = format!(
        r#"
import sys
sys.path.insert(0, {lib:?})
import dj2env
import datajoint as dj
stores = dj2env.stores_config({root:?})
conf = dj2env.config_dict(dj2env.pg_settings(), stores)
dj2env.apply_config(conf)
if {schema:?} in dj.list_schemas():
    dj.Schema({schema:?}, create_schema=False).drop(prompt=False)
dj2env.ensure_stores(stores)
for name in ("local", "shared"):
    dj2env.remove_store_prefix(stores[name], "_hash/{schema}")
schema = dj.Schema({schema:?})

@schema
class Digest(dj.Manual):
    definition = """
    digest_id : int32
    ---
    data : <hash@local>
    data_s3 : <hash@shared>
    blob : <blob@local>
    """

Digest.insert1(dict(digest_id=1, data=b"original bytes\n", data_s3=b"original bytes\n", blob=[1, 2, 3]))
dj2env.write_config({config:?}, conf)
# The S3 copy altered in place, same size.
s3 = stores["shared"]
key = dj2env.store_key(s3, "_hash/{schema}/" + dj2env.content_hash(b"original bytes\n"))
dj2env.s3fs_for(s3).pipe(key, b"altered bytes!\n")
"#,
        lib = common::repo_root().join("tests/python").to_str().unwrap(),
        root = stores.to_str().unwrap(),
        config = config.to_str().unwrap(),
    );
    common::run_ok(
        Command::new(&pg.python)
            .arg("-W")
            .arg("ignore")
            .arg("-c")
            .arg(&script),
    );
    // The object, found where the metadata says, altered in place (same size).
    let object = stores.join("local/_hash").join(schema);
    let expected_hash = djfs::stored::content_hash(b"original bytes\n");
    let path = object.join(&expected_hash);
    assert!(path.exists(), "{}", path.display());
    std::fs::write(&path, b"altered bytes!\n").unwrap();

    let mount = common::Mount::new(&config, Some(schema), &[]);
    let file = mount.path.join("Digest/digest_id=1/data");
    // Listed with its size from the metadata; reading it is EIO.
    assert_eq!(std::fs::metadata(&file).unwrap().len(), 15);
    let err = std::fs::read(&file).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EIO), "{err}");
    // The same in S3 (a small object: read whole at open and checked then).
    let in_s3 = mount.path.join("Digest/digest_id=1/data_s3");
    assert_eq!(std::fs::metadata(&in_s3).unwrap().len(), 15);
    let err = std::fs::read(&in_s3).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EIO), "{err}");
    let log = mount.log_text();
    let said = format!("metadata says {expected_hash} (altered or corrupt)");
    assert!(log.matches(&said).count() >= 2, "{log}");
    assert!(log.contains("s3://"), "{log}");
    // The blob beside it is intact and reads.
    let npy = std::fs::read(mount.path.join("Digest/digest_id=1/blob.blob"))
        .or_else(|_| std::fs::read(mount.path.join("Digest/digest_id=1/blob.npy")))
        .unwrap();
    assert!(!npy.is_empty());
}

/// Entries under `dir`, walked as `find` does.
fn count_entries(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            1 + if e.file_type().unwrap().is_dir() {
                count_entries(&e.path())
            } else {
                0
            }
        })
        .sum()
}

/// A figure of `.djfs/stats` (the first number after `label`).
fn stat_figure(mount: &common::Mount, label: &str) -> u64 {
    let stats = std::fs::read_to_string(mount.path.join(".djfs/stats")).unwrap();
    stats
        .lines()
        .find_map(|l| {
            l.trim_start()
                .strip_prefix(label)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no {label:?} in:\n{stats}"))
}

/// A PostgreSQL table is watched as MySQL's are (its change stamp is its rows' count and
/// transaction ids): after the refresh delay a walk of the unchanged table is answered by the
/// kernel's caches, and a change made by another client still shows within the refresh delay.
#[test]
fn a_warm_walk_of_a_postgresql_table_is_answered_by_the_kernel_and_changes_show() {
    let pg = pg();
    let schema = "djfs_pg_warm";
    pg.script(&["make", schema]);
    let dir = tempfile::tempdir().unwrap();
    let config = pg.config(dir.path(), "");
    let mount = common::Mount::new(&config, Some(schema), &[]);
    let grid = mount.path.join("Grid");
    let past_refresh = || std::thread::sleep(std::time::Duration::from_millis(1300));
    let entries = count_entries(&grid);
    assert!(entries > 250 * 3, "{entries}");
    past_refresh();
    assert_eq!(count_entries(&grid), entries);
    past_refresh();
    let (walks, readdirs) = (
        stat_figure(&mount, "listings begun"),
        stat_figure(&mount, "readdir"),
    );
    assert_eq!(count_entries(&grid), entries);
    // Without the kernel's caches each of the 250 row folders is listed again.
    assert!(stat_figure(&mount, "listings begun") - walks <= 2);
    assert!(stat_figure(&mount, "readdir") - readdirs < 50);
    assert!(stat_figure(&mount, "watched tables") >= 1);

    // Another client changes a value.
    let db = pg.backend(dir.path());
    let catalog = db.load_catalog(schema).unwrap();
    let table = catalog.by_class("Grid").unwrap();
    let key = ["10".to_string(), "t1".to_string()];
    db.write_row(
        table,
        &key,
        &[(2, ColumnValue::Text("99.5".into()))],
        &[],
        false,
    )
    .unwrap();
    let value = grid.join("row_id=10,tag=t1/value");
    assert!(
        common::eventually(std::time::Duration::from_millis(2500), || {
            std::fs::read_to_string(&value).unwrap() == "99.5\n"
        }),
        "the change did not show: {:?}",
        std::fs::read_to_string(&value)
    );
}
