//! DataJoint 2.x writes through real mounts, checked with the real 2.x client (datajoint 2.3.5,
//! `tests/python/v2_client.py`): every in-table 2.x kind written through the mount on PostgreSQL
//! and on MariaDB is what the client fetches; new rows by `mkdir` and `cp -r`, deletes by
//! `rm -r` with and without `--cascade-delete`, the errnos of a duplicate key, a missing parent
//! and bad values; stored 2.x columns refused per column; and a row copied between a 0.14 schema
//! on MariaDB and a 2.x schema on PostgreSQL, both ways, equal when both clients fetch it.
//!
//! Needs what `tests/postgres.rs` needs (DJFS_PG_*, DJFS_PY2, and for MariaDB the DJFS_DB_*
//! variables `scripts/test` exports); without DJFS_PG_HOST each test says so and checks nothing.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::pg::{pg, Pg};
use common::write_file;
use common::Mount;
use serde_json::{json, Value};

/// The 2.x client on one schema: `v2_client.py` with this test server's settings.
struct Client<'a> {
    pg: &'a Pg,
    config: PathBuf,
    schema: String,
    out: PathBuf,
}

impl Client<'_> {
    /// `v2_client.py CMD --config CONFIG SCHEMA ARGS…`, its JSON answer.
    fn ask(&self, cmd: &str, args: &[&str]) -> Value {
        let mut all = vec![cmd, "--config", self.config.to_str().unwrap(), &self.schema];
        all.extend_from_slice(args);
        json_of(self.pg.run_script("v2_client.py", &all))
    }

    /// What the client fetches of one row (arrays and attachments saved under a fresh folder).
    fn row(&self, table: &str, key: &str) -> Value {
        let out = tempfile::tempdir_in(&self.out).unwrap().keep();
        self.ask("row", &[table, key, out.to_str().unwrap()])
    }

    fn keys(&self, table: &str) -> Vec<Value> {
        self.ask("rows", &[table])["keys"]
            .as_array()
            .unwrap()
            .clone()
    }

    /// Whether the array the client fetched (`row`'s `npy` file) equals the one in `expected`.
    fn npy_equal(&self, fetched: &Value, expected: &Path) -> Value {
        json_of(self.pg.run_script(
            "v2_client.py",
            &[
                "npy-equal",
                fetched.as_str().expect("a fetched array"),
                expected.to_str().unwrap(),
            ],
        ))
    }
}

fn json_of(out: std::process::Output) -> Value {
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Saves an array (a numpy expression) as `.npy` with the 2.x client's numpy.
fn save_npy(pg: &Pg, path: &Path, expr: &str) {
    common::run_ok(Command::new(&pg.python).arg("-c").arg(format!(
        "import numpy as np; np.save({:?}, {expr})",
        path.display().to_string()
    )));
}

/// A schema made by `v2_client.py make` on `backend`, mounted (with `extra` options).
struct World<'a> {
    client: Client<'a>,
    dir: tempfile::TempDir,
}

fn make_world<'a>(pg: &'a Pg, backend: &str, schema: &str) -> World<'a> {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("datajoint.json");
    let mut args = vec![
        "make",
        schema,
        "--backend",
        backend,
        "--config-out",
        config.to_str().unwrap(),
    ];
    let stores = dir.path().join("stores");
    if backend == "postgresql" {
        args.extend(["--store-root", stores.to_str().unwrap()]);
    }
    pg.run_script("v2_client.py", &args);
    let out = dir.path().join("fetched");
    std::fs::create_dir(&out).unwrap();
    World {
        client: Client {
            pg,
            config,
            schema: schema.to_string(),
            out,
        },
        dir,
    }
}

impl World<'_> {
    fn mount(&self, extra: &[&str]) -> Mount {
        Mount::new(&self.client.config, Some(&self.client.schema), extra)
    }
}

/// Every in-table 2.x kind written through a mount (`backend`: "postgresql" or "mysql"), then
/// fetched by the 2.x client: scalars of each core type, json, bytes, `<blob>` from `.npy` (the
/// client's own serialization, byte for byte) and `.blob`, `<attach>`; bad values refused with
/// EINVAL and the old value kept.
fn in_table_kinds_round_trip(pg: &Pg, backend: &str, schema: &str) {
    let world = make_world(pg, backend, schema);
    let client = &world.client;
    let mount = world.mount(&[]);
    let on_pg = backend == "postgresql";
    let bob = mount.path.join("Subject/subject_id=2");

    // Scalars, json and bytes: each file's text (one trailing newline dropped) or bytes.
    let notes = json!({"k": [1, 2.5, null, true], "s": "x é", "n": {"deep": [[]]}});
    let writes: Vec<(&str, Vec<u8>)> = vec![
        ("name", "Bobby ünï 'quoted' \\ ;--\n".into()),
        ("sex", b"U\n".to_vec()),
        ("dob", b"2021-03-04\n".to_vec()),
        ("weight", b"-1.25\n".to_vec()),
        ("ratio", b"0.5\n".to_vec()),
        ("tiny", b"-100\n".to_vec()),
        ("small", b"32767\n".to_vec()),
        ("big", b"9223372036854775807\n".to_vec()),
        ("alive", b"1\n".to_vec()),
        ("notes", format!("{notes}\n").into_bytes()),
        ("ident", b"00112233-4455-6677-8899-aabbccddeeff\n".to_vec()),
        ("raw", b"\x00\xffraw bytes\n".to_vec()),
        ("price", b"12.34\n".to_vec()),
        ("seen", b"2024-05-06 07:08:09.123\n".to_vec()),
        ("code", b"ab\n".to_vec()),
    ];
    for (attr, bytes) in &writes {
        assert_eq!(
            write_file(&bob.join(attr), bytes),
            0,
            "{attr}: {}",
            mount.log_text()
        );
    }
    let got = client.row("Subject", r#"{"subject_id": 2}"#);
    let v = &got["values"];
    assert_eq!(v["name"], "Bobby ünï 'quoted' \\ ;--", "{got}");
    assert_eq!(v["sex"], "U");
    assert_eq!(v["dob"], "2021-03-04");
    assert_eq!(v["weight"], -1.25);
    assert_eq!(v["ratio"], 0.5);
    assert_eq!(v["tiny"], -100);
    assert_eq!(v["small"], 32767);
    assert_eq!(v["big"], json!(9223372036854775807i64));
    // bool: PostgreSQL's boolean, MySQL's tinyint.
    assert_eq!(v["alive"], if on_pg { json!(true) } else { json!(1) });
    assert_eq!(v["notes"], notes);
    assert_eq!(v["ident"], "00112233-4455-6677-8899-aabbccddeeff");
    assert_eq!(
        v["raw"],
        json!({"hex": hex::encode(b"\x00\xffraw bytes\n")})
    );
    assert_eq!(v["price"], "12.34");
    assert_eq!(v["seen"], "2024-05-06 07:08:09.123000");
    // char(4): PostgreSQL pads, MariaDB does not (as the client fetches each).
    assert_eq!(v["code"], if on_pg { "ab  " } else { "ab" });
    // (2.3.5 on PostgreSQL cannot fetch a uuid: read by SQL there, and said so.)
    let by_sql: Vec<&str> = got["sql"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(by_sql, if on_pg { vec!["ident"] } else { vec![] });
    // And through the mount: the JSON value, the bytes, bool as 1.
    let shown: Value = serde_json::from_slice(&std::fs::read(bob.join("notes")).unwrap()).unwrap();
    assert_eq!(shown, notes);
    assert_eq!(
        std::fs::read(bob.join("raw")).unwrap(),
        b"\x00\xffraw bytes\n"
    );
    assert_eq!(std::fs::read(bob.join("alive")).unwrap(), b"1\n");

    // Bad values: EINVAL at close, with a log line; the old value stays.
    for (attr, bad) in [
        ("notes", &b"{\"k\": [1, 2\n"[..]),
        ("tiny", b"40000\n"),
        ("sex", b"X\n"),
        ("dob", b"2021-02-30\n"),
        ("price", b"cheap\n"),
    ] {
        let lines_before = mount.log_text().lines().count();
        assert_eq!(write_file(&bob.join(attr), bad), libc::EINVAL, "{attr}");
        let log = mount.log_text();
        let said = if attr == "notes" {
            "/notes: not JSON"
        } else {
            &*format!("/{attr}: update refused")
        };
        assert!(
            log.lines().skip(lines_before).any(|l| l.contains(said)),
            "{attr}: no log line saying {said:?}:\n{log}"
        );
    }
    assert_eq!(write_file(&bob.join("notes"), b"NaN\n"), libc::EINVAL);
    let after = client.row("Subject", r#"{"subject_id": 2}"#);
    assert_eq!(
        after["values"], got["values"],
        "a refused write changed nothing"
    );

    // <blob> from .npy: the client fetches the array, stored as its own pack() would store it
    // (a compressed one too); a .blob written as it is (here the client's pack of a dict).
    let session = mount.path.join("Session/subject_id=2,session=1");
    let key = r#"{"subject_id": 2, "session": 1}"#;
    for (name, expr) in [
        ("small.npy", "np.arange(12, dtype=np.int16).reshape(3, 4)"),
        (
            "big.npy",
            "np.tile(np.linspace(0, 1, 64), (64, 1)).astype(np.float32)",
        ),
    ] {
        let npy = world.dir.path().join(name);
        save_npy(pg, &npy, expr);
        assert_eq!(
            write_file(&session.join("data.npy"), &std::fs::read(&npy).unwrap()),
            0,
            "{}",
            mount.log_text()
        );
        let got = client.row("Session", key);
        let eq = client.npy_equal(&got["blobs"]["data"]["npy"], &npy);
        assert_eq!(eq["equal"], true, "{name}: {eq}");
        let md5 = client.ask("blob-md5", &["Session", key, "data", npy.to_str().unwrap()]);
        assert_eq!(md5["stored"], md5["packed"], "{name}: {md5}");
    }
    let packed = world.dir.path().join("dict.blob");
    pg.run_script(
        "v2_client.py",
        &[
            "pack",
            "{'packed': [1, 2], 'by': '2.x'}",
            packed.to_str().unwrap(),
        ],
    );
    assert_eq!(
        write_file(&session.join("data.blob"), &std::fs::read(&packed).unwrap()),
        0
    );
    let got = client.row("Session", key);
    assert_eq!(got["blobs"]["data"]["is_array"], false, "{got}");
    assert_eq!(
        got["blobs"]["data"]["json"],
        json!({"packed": [1, 2], "by": "2.x"})
    );
    // A .blob that does not decode: EINVAL.
    assert_eq!(
        write_file(&session.join("data.blob"), b"not a blob"),
        libc::EINVAL
    );

    // <attach>: into the NULL attachment's empty folder, and replacing one.
    let file = world.dir.path().join("notes é.txt");
    std::fs::write(&file, b"attached through djfs\n\x00\xff").unwrap();
    for (row, key) in [
        ("subject_id=2,session=1", key),
        (
            "subject_id=1,session=1",
            r#"{"subject_id": 1, "session": 1}"#,
        ),
    ] {
        let folder = mount.path.join("Session").join(row).join("doc");
        let cp = Command::new("cp").arg(&file).arg(&folder).output().unwrap();
        assert!(cp.status.success(), "{cp:?}\n{}", mount.log_text());
        let got = client.row("Session", key);
        let doc = &got["attach"]["doc"];
        assert_eq!(doc["name"], "notes é.txt", "{got}");
        assert_eq!(
            std::fs::read(doc["path"].as_str().unwrap()).unwrap(),
            b"attached through djfs\n\x00\xff"
        );
        // The folder shows the new attachment alone.
        let names: Vec<String> = std::fs::read_dir(&folder)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["notes é.txt"]);
    }
}

#[test]
fn every_in_table_2x_kind_written_on_postgresql_is_what_the_client_fetches() {
    let pg = pg();
    in_table_kinds_round_trip(&pg, "postgresql", "djfs_w2_kinds_pg");
}

#[test]
fn every_in_table_2x_kind_written_on_mariadb_is_what_the_client_fetches() {
    let pg = pg();
    in_table_kinds_round_trip(&pg, "mysql", "djfs_w2_kinds_my");
}

/// New rows (`mkdir` then files, `cp -r` of a folder), deletes (`rm -r`: a row with part rows
/// only goes; a row another table depends on is ENOTEMPTY, kept, and goes with its dependents
/// under `--cascade-delete`), a duplicate key (EEXIST) and a missing parent (EINVAL).
fn rows_made_and_deleted(pg: &Pg, backend: &str, schema: &str) {
    let world = make_world(pg, backend, schema);
    let client = &world.client;
    let mount = world.mount(&[]);
    let m = &mount.path;

    // mkdir + the required values: the INSERT comes with the last of them.
    let new = m.join("Subject/subject_id=7");
    std::fs::create_dir(&new).unwrap();
    assert_eq!(write_file(&new.join("name"), b"Gus\n"), 0);
    assert_eq!(
        client.row("Subject", r#"{"subject_id": 7}"#)["exists"],
        false,
        "no row before its required values"
    );
    assert_eq!(write_file(&new.join("sex"), b"M\n"), 0);
    assert_eq!(write_file(&new.join("weight"), b"3.5\n"), 0);
    let got = client.row("Subject", r#"{"subject_id": 7}"#);
    assert_eq!(got["exists"], true, "{}", mount.log_text());
    assert_eq!(got["values"]["name"], "Gus");
    assert_eq!(got["values"]["weight"], 3.5);
    // The declared default.
    assert_eq!(
        got["values"]["alive"],
        if backend == "postgresql" {
            json!(true)
        } else {
            json!(1)
        }
    );

    // cp -r of a folder: a new row with a value, an array and an attachment.
    let src = world.dir.path().join("new session");
    std::fs::create_dir_all(src.join("doc")).unwrap();
    std::fs::write(src.join("note"), "copied in\n").unwrap();
    save_npy(pg, &src.join("data.npy"), "np.eye(3)");
    std::fs::write(src.join("doc/report.csv"), "a,b\n1,2\n").unwrap();
    let cp = Command::new("cp")
        .arg("-r")
        .arg(&src)
        .arg(m.join("Session/subject_id=7,session=3"))
        .output()
        .unwrap();
    assert!(cp.status.success(), "{cp:?}\n{}", mount.log_text());
    let key = r#"{"subject_id": 7, "session": 3}"#;
    let got = client.row("Session", key);
    assert_eq!(got["values"]["note"], "copied in", "{got}");
    let eq = client.npy_equal(&got["blobs"]["data"]["npy"], &src.join("data.npy"));
    assert_eq!(eq["equal"], true, "{eq}");
    assert_eq!(got["attach"]["doc"]["name"], "report.csv");
    assert_eq!(
        std::fs::read(got["attach"]["doc"]["path"].as_str().unwrap()).unwrap(),
        b"a,b\n1,2\n"
    );

    // rm of a nullable value and of an attachment: NULL after the grace.
    std::fs::remove_file(new.join("weight")).unwrap();
    std::fs::remove_file(m.join("Session/subject_id=7,session=3/doc/report.csv")).unwrap();
    assert!(
        common::eventually(std::time::Duration::from_secs(10), || {
            client.row("Subject", r#"{"subject_id": 7}"#)["values"]["weight"].is_null()
        }),
        "{}",
        mount.log_text()
    );
    let got = client.row("Session", key);
    assert_eq!(got["attach"]["doc"]["is_none"], true, "{got}");
    assert_eq!(got["values"]["note"], "copied in");

    // A duplicate key: the client inserts subject 8 while the mount's row waits for `sex`.
    let dup = m.join("Subject/subject_id=8");
    std::fs::create_dir(&dup).unwrap();
    assert_eq!(write_file(&dup.join("name"), b"mine\n"), 0);
    let inserted = client.ask(
        "insert1",
        &[
            "Subject",
            r#"{"subject_id": 8, "name": "theirs", "sex": "F"}"#,
        ],
    );
    assert_eq!(inserted["inserted"], true, "{inserted}");
    assert_eq!(write_file(&dup.join("sex"), b"M\n"), libc::EEXIST);
    assert_eq!(
        client.row("Subject", r#"{"subject_id": 8}"#)["values"]["name"],
        "theirs",
        "the first row stays"
    );
    // mkdir of a key that exists.
    let err = std::fs::create_dir(m.join("Subject/subject_id=1")).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EEXIST));
    // A missing parent: the INSERT at mkdir is refused, no folder.
    let orphan = m.join("Session/subject_id=99,session=1");
    let err = std::fs::create_dir(&orphan).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EINVAL), "{err}");
    assert!(!orphan.exists());
    assert!(
        mount.log_text().contains("subject_id=99,session=1"),
        "{}",
        mount.log_text()
    );

    // rm -r of a session with part rows only: it goes, with them.
    let rm = Command::new("rm")
        .arg("-r")
        .arg(m.join("Session/subject_id=2,session=1"))
        .output()
        .unwrap();
    assert!(rm.status.success(), "{rm:?}\n{}", mount.log_text());
    let sessions = client.keys("Session");
    assert!(
        !sessions.contains(&json!({"subject_id": 2, "session": 1})),
        "{sessions:?}"
    );
    assert_eq!(
        client.keys("Session.Trial"),
        [json!({"subject_id": 1, "session": 1, "trial": 0})]
    );
    // A session a Remark depends on: ENOTEMPTY, kept, the log names the table.
    let busy = m.join("Session/subject_id=1,session=1");
    let err = std::fs::remove_dir(&busy).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOTEMPTY), "{err}");
    assert!(
        mount.log_text().contains("Remark: 1"),
        "{}",
        mount.log_text()
    );
    let rm = Command::new("rm").arg("-r").arg(&busy).output().unwrap();
    assert!(!rm.status.success());
    // Nothing is lost: not even once the NULLs of its removed files would have been due.
    std::thread::sleep(std::time::Duration::from_secs(2));
    let kept = client.row("Session", r#"{"subject_id": 1, "session": 1}"#);
    assert_eq!(
        kept["values"]["note"],
        "one",
        "{kept}\n{}",
        mount.log_text()
    );
    assert_eq!(kept["blobs"]["data"]["is_none"], false, "{kept}");
    assert_eq!(kept["attach"]["doc"]["name"], "first.txt", "{kept}");
    assert!(busy.join("note").exists());
    drop(mount);

    // With --cascade-delete it goes with its Remark and its trials.
    let mount = world.mount(&["--cascade-delete"]);
    let rm = Command::new("rm")
        .arg("-r")
        .arg(mount.path.join("Session/subject_id=1,session=1"))
        .output()
        .unwrap();
    assert!(rm.status.success(), "{rm:?}\n{}", mount.log_text());
    assert!(client.keys("Remark").is_empty());
    assert!(client.keys("Session.Trial").is_empty());
    assert_eq!(
        client.keys("Session"),
        [json!({"subject_id": 7, "session": 3})]
    );
}

#[test]
fn rows_are_made_and_deleted_on_postgresql_as_on_mysql() {
    let pg = pg();
    rows_made_and_deleted(&pg, "postgresql", "djfs_w2_rows_pg");
}

#[test]
fn rows_are_made_and_deleted_in_a_2x_schema_on_mariadb() {
    let pg = pg();
    rows_made_and_deleted(&pg, "mysql", "djfs_w2_rows_my");
}

/// Columns whose 2.x value is kept in a store are written per column (`<blob@>`, `<attach@>`:
/// see tests/postgres_writes.rs for every kind), `<filepath@>` is refused with EPERM and a log
/// line saying why; the row's other attributes stay writable, and the filepath stays as it was.
#[test]
fn stored_2x_columns_are_written_and_filepaths_refused_per_column() {
    let pg = pg();
    let world = make_world(&pg, "postgresql", "djfs_w2_stored");
    let client = &world.client;
    let mount = world.mount(&[]);
    let row = mount.path.join("Stored/stored_id=1");
    let key = r#"{"stored_id": 1}"#;
    let before = client.row("Stored", key);
    let npy = world.dir.path().join("x.npy");
    save_npy(&pg, &npy, "np.arange(5)");
    assert_eq!(
        write_file(&row.join("obj.npy"), &std::fs::read(&npy).unwrap()),
        0
    );
    assert_eq!(write_file(&row.join("att/f.txt"), b"new\n"), 0);
    assert_eq!(write_file(&row.join("fp/f.txt"), b"new\n"), libc::EPERM);
    let log = mount.log_text();
    assert!(
        log.contains("fp is a DataJoint 2.x <filepath@local> value"),
        "{log}"
    );
    // The rest of the row is writable.
    assert_eq!(write_file(&row.join("label"), b"relabelled\n"), 0);
    let after = client.row("Stored", key);
    assert_eq!(after["values"]["label"], "relabelled", "{after}");
    let eq = client.npy_equal(&after["blobs"]["obj"]["npy"], &npy);
    assert_eq!(eq["equal"], true, "{eq}");
    let attached = Path::new(after["attach"]["att"]["path"].as_str().unwrap());
    assert_eq!(attached.file_name().unwrap(), "f.txt");
    assert_eq!(std::fs::read(attached).unwrap(), b"new\n");
    assert_eq!(after["values"]["fp"], before["values"]["fp"]);
}

/// A row copied with `cp -r` from a 0.14 schema on MariaDB (made by datajoint 0.14.10: scalars,
/// an in-table `longblob` blob and an `attach`) into a 2.x schema of the same design on
/// PostgreSQL (made by datajoint 2.3.5), and a row copied back, are equal field by field when
/// both clients fetch them (an array blob and a dict blob; attachment names and contents).
#[test]
fn a_row_copied_between_0_14_on_mariadb_and_2x_on_postgresql_is_equal_both_ways() {
    let pg = pg();
    let (old, new) = ("djfs_w2_cross_014", "djfs_w2_cross_v2");
    common::python("make_cross_014.py", &[old]);
    let dir = tempfile::tempdir().unwrap();
    let old_config = common::write_config(dir.path(), "");
    let v2_dir = dir.path().join("v2");
    std::fs::create_dir(&v2_dir).unwrap();
    let v2_config = v2_dir.join("datajoint.json");
    pg.run_script(
        "v2_client.py",
        &[
            "make-cross",
            new,
            "--config-out",
            v2_config.to_str().unwrap(),
        ],
    );
    let out = dir.path().join("fetched");
    std::fs::create_dir(&out).unwrap();
    let v2 = Client {
        pg: &pg,
        config: v2_config.clone(),
        schema: new.to_string(),
        out,
    };
    let old_mount = Mount::new(&old_config, Some(old), &[]);
    let new_mount = Mount::new(&v2_config, Some(new), &[]);
    let copy = |from: &Path, to: &Path| {
        let cp = Command::new("cp")
            .arg("-r")
            .arg(from)
            .arg(to)
            .output()
            .unwrap();
        assert!(
            cp.status.success(),
            "{cp:?}\n0.14 mount:\n{}\n2.x mount:\n{}",
            old_mount.log_text(),
            new_mount.log_text()
        );
    };
    // 0.14 → 2.x (item 1: an array; item 2: a dict), 2.x → 0.14 (item 3: an array; 4: a dict).
    for id in [1, 2] {
        copy(
            &old_mount.path.join(format!("Item/item_id={id}")),
            &new_mount.path.join(format!("Item/item_id={}", id + 10)),
        );
    }
    for id in [3, 4] {
        copy(
            &new_mount.path.join(format!("Item/item_id={id}")),
            &old_mount.path.join(format!("Item/item_id={}", id + 10)),
        );
    }
    // Each original against its copy, each fetched by its own client.
    for (id, copied, from_014) in [(1, 11, true), (2, 12, true), (3, 13, false), (4, 14, false)] {
        let (old_id, new_id) = if from_014 { (id, copied) } else { (copied, id) };
        let old_key = format!(r#"{{"item_id": {old_id}}}"#);
        let new_key = format!(r#"{{"item_id": {new_id}}}"#);
        let theirs = common::client(&old_config, old, &["row", "Item", &old_key]);
        assert_eq!(theirs["exists"], true, "0.14 item {old_id}");
        let ours = v2.row("Item", &new_key);
        assert_eq!(ours["exists"], true, "2.x item {new_id}");
        for attr in ["name", "weight", "count", "day"] {
            assert_eq!(
                theirs["values"][attr], ours["values"][attr],
                "{attr} of 0.14 item {old_id} and 2.x item {new_id}"
            );
        }
        // The blob: the 0.14 client's fetch saved as .npy, against the 2.x client's.
        let fetched = dir.path().join(format!("014-{old_id}.npy"));
        common::client(
            &old_config,
            old,
            &[
                "fetch-npy",
                "Item",
                &old_key,
                "data",
                fetched.to_str().unwrap(),
            ],
        );
        let eq = v2.npy_equal(&ours["blobs"]["data"]["npy"], &fetched);
        assert_eq!(eq["equal"], true, "data of {old_id} / {new_id}: {eq}");
        // The attachment: name and contents.
        let dl = dir.path().join(format!("dl-{old_id}"));
        let att = common::client(
            &old_config,
            old,
            &[
                "fetch-attach",
                "Item",
                &old_key,
                "doc",
                dl.to_str().unwrap(),
            ],
        );
        let doc = &ours["attach"]["doc"];
        assert_eq!(att["name"], doc["name"], "doc of {old_id} / {new_id}");
        assert_eq!(
            std::fs::read(att["path"].as_str().unwrap()).unwrap(),
            std::fs::read(doc["path"].as_str().unwrap()).unwrap(),
            "doc contents of {old_id} / {new_id}"
        );
    }
}
