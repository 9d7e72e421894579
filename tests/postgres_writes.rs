//! Writes of DataJoint 2.x stored values through real mounts of PostgreSQL schemas, each checked
//! with the real 2.x client (datajoint 2.3.5, `tests/python/v2_writes.py`): every stored kind in
//! folder and S3 stores (and one with its own prefixes, subfolding, token length and partitions),
//! its metadata against the client's own rules, new rows, refused writes; a row copied with
//! `cp -r` between a 0.14 schema (MariaDB, the 0.14 client's external values) and a 2.x one;
//! kill -9 in the middle of uploads; writers on two mounts and the client at once.
//!
//! Needs what tests/postgres.rs needs (DJFS_PG_*, DJFS_PY2) and the private S3 and MariaDB of
//! `scripts/test`. Without DJFS_PG_HOST each test says so and passes without checking anything.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::isolated::{big_file, private_tmp, records, upload_files, TestMount};
use common::pg::{pg, Pg};
use common::write_file;
use common::{eventually, Mount};

/// `v2_writes.py ARGS` with the 2.x client.
fn v2(pg: &Pg, args: &[&str]) -> Output {
    Command::new(&pg.python)
        .arg("-W")
        .arg("ignore")
        .arg(common::repo_root().join("tests/python/v2_writes.py"))
        .args(args)
        .env("DJFS_PG_HOST", &pg.host)
        .env("DJFS_PG_PORT", pg.port.to_string())
        .env("DJFS_PG_USER", &pg.user)
        .env("DJFS_PG_PASS", &pg.pass)
        .env("DJFS_PG_DATABASE", &pg.database)
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `v2_writes.py make SCHEMA` in a fresh folder: the folder and its datajoint.json.
fn make(pg: &Pg, schema: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("datajoint.json");
    let stores = dir.path().join("stores");
    let out = v2(
        pg,
        &[
            "make",
            schema,
            "--store-root",
            stores.to_str().unwrap(),
            "--config-out",
            config.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    (dir, config)
}

/// The client fetches row `key` of `table` and compares each `ATTR=KIND:PATH[:NAME]` (see
/// v2_writes.py); panics with its findings and the mount's log otherwise.
fn expect(
    pg: &Pg,
    schema: &str,
    config: &Path,
    table: &str,
    key: &str,
    specs: &[String],
    log: &str,
) {
    let mut args = vec![
        "expect",
        schema,
        "--config",
        config.to_str().unwrap(),
        table,
        key,
    ];
    args.extend(specs.iter().map(String::as_str));
    let out = v2(pg, &args);
    let said = text(&out);
    assert!(
        out.status.success() && said.contains(&format!("\"checked\": {}", specs.len())),
        "the 2.x client disagrees with what was written:\n{said}\ndjfs log:\n{log}"
    );
}

/// Every row of the schema fetched by the client, every stored object read whole and checked:
/// no row references a missing, partial or altered object.
fn check_all(pg: &Pg, schema: &str, config: &Path, log: &str) {
    let out = v2(
        pg,
        &["check-all", schema, "--config", config.to_str().unwrap()],
    );
    assert!(
        out.status.success(),
        "a row references a missing or damaged object:\n{}\ndjfs log:\n{log}",
        text(&out)
    );
}

/// The row as the 2.x client fetches it (normalized, `rowdump.py`).
fn dump_v2(pg: &Pg, schema: &str, config: &Path, table: &str, key: &str) -> serde_json::Value {
    let out = v2(
        pg,
        &[
            "dump",
            schema,
            "--config",
            config.to_str().unwrap(),
            table,
            key,
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The column's stored metadata, read by SQL.
fn metadata(
    pg: &Pg,
    schema: &str,
    config: &Path,
    table: &str,
    cond: &str,
    attr: &str,
) -> serde_json::Value {
    let statement = format!("SELECT \"{attr}\"::text FROM \"{schema}\".\"{table}\" WHERE {cond}");
    let out = v2(
        pg,
        &[
            "sql",
            schema,
            "--config",
            config.to_str().unwrap(),
            &statement,
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    match rows[0][0].as_str() {
        Some(t) => serde_json::from_str(t).unwrap(),
        None => serde_json::Value::Null,
    }
}

/// `.npy` files made by numpy in `dir` (name → Python expression of the array).
fn npy_files(pg: &Pg, dir: &Path, arrays: &[(&str, &str)]) {
    let mut script = String::from("import numpy as np\n");
    for (name, expr) in arrays {
        script.push_str(&format!(
            "np.save({:?}, {expr}, allow_pickle=True)\n",
            dir.join(name).to_str().unwrap()
        ));
    }
    common::run_ok(Command::new(&pg.python).arg("-c").arg(&script));
}

fn spec(attr: &str, kind: &str, path: &Path, name: Option<&str>) -> String {
    match name {
        Some(n) => format!("{attr}={kind}:{}:{n}", path.display()),
        None => format!("{attr}={kind}:{}", path.display()),
    }
}

/// Every 2.x stored kind written through a mount, into NULLs and over the client's values, in a
/// folder store, in S3 and in stores with their own layout, read back by the 2.x client equal to
/// what was written, the metadata as 2.3.5 writes it; hash-addressed objects deduplicated and a
/// damaged one stored again; refused writes leave the old value; a new row is inserted once its
/// required values are written; a row folder copied out and back in is an equal row.
#[test]
fn every_2x_stored_kind_written_through_a_mount_reads_back_in_the_2x_client() {
    let pg = pg();
    let schema = "djfs_v2w_kinds";
    let (dir, config) = make(&pg, schema);
    let files = dir.path().join("files");
    std::fs::create_dir(&files).unwrap();
    npy_files(
        &pg,
        &files,
        &[
            ("a.npy", "np.arange(12, dtype=np.float32).reshape(3, 4)"),
            (
                "img.npy",
                "(np.arange(48 * 64 * 3) % 251).astype(np.uint8).reshape(48, 64, 3)",
            ),
            ("f.npy", "np.asfortranarray(np.arange(6.0).reshape(2, 3))"),
            (
                "dt.npy",
                "np.array(['2024-05-06T07:08:09.123', 'NaT'], dtype='datetime64[ms]')",
            ),
            ("u.npy", "np.array(['ab', 'çé✓'])"),
            ("be.npy", "np.arange(5, dtype='>f8')"),
            ("zero_d.npy", "np.array(7, dtype=np.int64)"),
            ("obj.npy", "np.array([{'a': 1}], dtype=object)"),
        ],
    );
    let f = |name: &str| files.join(name);
    let read = |p: &Path| std::fs::read(p).unwrap();
    big_file(&f("big.bin"), 20, 3); // staged in a file: multipart to S3, streamed to the folder
    std::fs::write(f("notes.txt"), "notes ✓\n").unwrap();
    std::fs::write(f("README"), "no extension\n").unwrap();
    std::fs::write(
        f("raw.bin"),
        (0..=255u8).cycle().take(70_000).collect::<Vec<_>>(),
    )
    .unwrap();
    std::fs::write(f("data.tar.gz"), b"\x1f\x8bnot really gzip").unwrap();

    let mount = Mount::new(&config, Some(schema), &[]);
    let m = &mount.path;
    let row1 = m.join("Stored/item_id=1");
    let row2 = m.join("Stored/item_id=2");
    // The client's non-array blob (a dict), copied as `.blob` into another column.
    let dict_blob = read(&row1.join("blob_s3.blob"));
    std::fs::write(f("dict.blob"), &dict_blob).unwrap();

    // Into NULLs (row 2).
    let writes: Vec<(PathBuf, PathBuf)> = vec![
        (row2.join("blob_local.npy"), f("a.npy")),
        (row2.join("blob_s3.blob"), f("dict.blob")),
        (row2.join("doc_local/notes é.txt"), f("notes.txt")),
        (row2.join("doc_s3/big.bin"), f("big.bin")),
        (row2.join("raw_local"), f("raw.bin")),
        (row2.join("raw_s3"), f("notes.txt")),
        (row2.join("arr_local.npy"), f("f.npy")),
        (row2.join("arr_s3.npy"), f("img.npy")),
        (row2.join("obj_local/notes.txt"), f("notes.txt")),
        (row2.join("obj_s3/big.bin"), f("big.bin")),
        // Over the client's values (row 1).
        (row1.join("blob_local.npy"), f("img.npy")),
        (row1.join("blob_s3.npy"), f("zero_d.npy")),
        (row1.join("doc_local/notes é.txt"), f("notes.txt")),
        (row1.join("raw_s3"), f("be.npy")),
        (row1.join("arr_local.npy"), f("dt.npy")),
        (row1.join("arr_s3.npy"), f("u.npy")),
        (row1.join("obj_local/README"), f("README")),
    ];
    for (target, source) in &writes {
        assert_eq!(
            write_file(target, &read(source)),
            0,
            "{}; log:\n{}",
            target.display(),
            mount.log_text()
        );
    }
    // Every kind in the store with its own prefixes, subfolding (2, 3) and token length 12, and
    // in the store with partition_pattern `{subject}` (the key holds a `/` and a space).
    let keyed = m.join("Keyed/subject=a%2Fb c,session=2024-05-06 07:08:09");
    for (target, source) in [
        (keyed.join("blob.npy"), f("f.npy")),
        (keyed.join("doc/big.bin"), f("big.bin")),
        (keyed.join("raw"), f("notes.txt")),
        (keyed.join("arr.npy"), f("be.npy")),
        (keyed.join("obj/data.tar.gz"), f("data.tar.gz")),
        (keyed.join("arr_p.npy"), f("a.npy")),
        (keyed.join("obj_p/notes.txt"), f("notes.txt")),
    ] {
        assert_eq!(
            write_file(&target, &read(&source)),
            0,
            "{}",
            target.display()
        );
    }

    // The mount shows what was written (once its listing is read again).
    std::thread::sleep(Duration::from_millis(1200));
    for (shown, source) in [
        (row2.join("doc_s3/big.bin"), f("big.bin")),
        (row2.join("doc_local/notes é.txt"), f("notes.txt")),
        (row2.join("raw_local"), f("raw.bin")),
        (row2.join("arr_local.npy"), f("f.npy")),
        (row2.join("obj_s3/obj_s3.bin"), f("big.bin")),
        (row2.join("obj_local/obj_local.txt"), f("notes.txt")),
        (row1.join("obj_local/obj_local"), f("README")),
        (row1.join("arr_s3.npy"), f("u.npy")),
        (keyed.join("arr.npy"), f("be.npy")),
        (keyed.join("obj/obj.gz"), f("data.tar.gz")),
    ] {
        assert_eq!(read(&shown), read(&source), "{}", shown.display());
    }
    assert!(row2.join("arr_s3.png").exists(), "an image array's view");

    // The 2.x client reads each value back equal to what was written, with the metadata 2.3.5
    // writes and the objects where its own path rules put them.
    let log = mount.log_text();
    let s = |a: &str, k: &str, p: &str, n: Option<&str>| spec(a, k, &f(p), n);
    expect(
        &pg,
        schema,
        &config,
        "Stored",
        r#"{"item_id": 2}"#,
        &[
            s("blob_local", "blob-npy", "a.npy", None),
            s("blob_s3", "blob-raw", "dict.blob", None),
            s("doc_local", "attach", "notes.txt", Some("notes é.txt")),
            s("doc_s3", "attach", "big.bin", Some("big.bin")),
            s("raw_local", "hash", "raw.bin", None),
            s("raw_s3", "hash", "notes.txt", None),
            s("arr_local", "npy", "f.npy", None),
            s("arr_s3", "npy", "img.npy", None),
            s("obj_local", "object", "notes.txt", Some("notes.txt")),
            s("obj_s3", "object", "big.bin", Some("big.bin")),
        ],
        &log,
    );
    expect(
        &pg,
        schema,
        &config,
        "Stored",
        r#"{"item_id": 1}"#,
        &[
            s("blob_local", "blob-npy", "img.npy", None),
            s("blob_s3", "blob-npy", "zero_d.npy", None),
            s("doc_local", "attach", "notes.txt", Some("notes é.txt")),
            s("raw_s3", "hash", "be.npy", None),
            s("arr_local", "npy", "dt.npy", None),
            s("arr_s3", "npy", "u.npy", None),
            s("obj_local", "object", "README", Some("README")),
        ],
        &log,
    );
    expect(
        &pg,
        schema,
        &config,
        "Keyed",
        r#"{"subject": "a/b c", "session": "2024-05-06 07:08:09"}"#,
        &[
            s("blob", "blob-npy", "f.npy", None),
            s("doc", "attach", "big.bin", Some("big.bin")),
            s("raw", "hash", "notes.txt", None),
            s("arr", "npy", "be.npy", None),
            s("obj", "object", "data.tar.gz", Some("data.tar.gz")),
            s("arr_p", "npy", "a.npy", None),
            s("obj_p", "object", "notes.txt", Some("notes.txt")),
        ],
        &log,
    );

    // The same attachment in two rows is one object (hash-addressed, deduplicated per schema).
    let meta = |row: &str, attr: &str| metadata(&pg, schema, &config, "stored", row, attr);
    let (m1, m2) = (
        meta("item_id = 1", "doc_local"),
        meta("item_id = 2", "doc_local"),
    );
    assert_eq!(m1["path"], m2["path"]);
    let local = dir.path().join("stores/local");
    let object = local.join(m1["path"].as_str().unwrap());
    assert!(object.exists());
    // An object found damaged (same size, other bytes) when the same content is written again is
    // stored again: both rows read their attachment, checked by the client against its hash.
    let size = std::fs::metadata(&object).unwrap().len() as usize;
    std::fs::write(&object, vec![b'x'; size]).unwrap();
    assert_eq!(
        write_file(&row1.join("doc_local/notes é.txt"), &read(&f("notes.txt"))),
        0
    );
    assert!(mount
        .log_text()
        .contains("(altered or corrupt): stored again"));
    for row in [r#"{"item_id": 1}"#, r#"{"item_id": 2}"#] {
        expect(
            &pg,
            schema,
            &config,
            "Stored",
            row,
            &[s("doc_local", "attach", "notes.txt", Some("notes é.txt"))],
            &mount.log_text(),
        );
    }

    // Refused: an `.npy` that is none, an object array (a pickle), a file into a folder object,
    // a <filepath@> value. Each with its errno and a log line; the old values stay.
    assert_eq!(
        write_file(&row2.join("arr_local.npy"), b"not an npy file"),
        libc::EINVAL
    );
    assert_eq!(
        write_file(&row2.join("arr_s3.npy"), &read(&f("obj.npy"))),
        libc::EINVAL
    );
    let row3 = m.join("Stored/item_id=3");
    assert_eq!(
        write_file(&row3.join("obj_local/a.txt"), b"replaced?"),
        libc::EPERM
    );
    assert_eq!(
        write_file(&row1.join("fp_local/own.txt"), b"replaced?"),
        libc::EPERM
    );
    let log = mount.log_text();
    assert!(log.contains("not a storable .npy"), "{log}");
    assert!(log.contains("a folder object is not written"), "{log}");
    expect(
        &pg,
        schema,
        &config,
        "Stored",
        r#"{"item_id": 2}"#,
        &[
            s("arr_local", "npy", "f.npy", None),
            s("arr_s3", "npy", "img.npy", None),
        ],
        &log,
    );
    assert_eq!(
        std::fs::read(row3.join("obj_local/a.txt")).unwrap(),
        b"a\n",
        "the folder object is unchanged"
    );

    // A new row: inserted once its required values (an attachment and an array) are written.
    let new_row = m.join("Required/req_id=5");
    std::fs::create_dir(&new_row).unwrap();
    std::fs::create_dir(new_row.join("doc")).unwrap();
    assert_eq!(
        write_file(&new_row.join("doc/notes.txt"), &read(&f("notes.txt"))),
        0
    );
    let count = |table: &str| {
        let out = v2(
            &pg,
            &[
                "sql",
                schema,
                "--config",
                config.to_str().unwrap(),
                &format!("SELECT count(*) FROM \"{schema}\".\"{table}\""),
            ],
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()[0][0]
            .as_i64()
            .unwrap()
    };
    assert_eq!(count("required"), 0, "no row before its required values");
    assert_eq!(
        write_file(&new_row.join("arr.npy"), &read(&f("img.npy"))),
        0
    );
    assert_eq!(count("required"), 1);
    expect(
        &pg,
        schema,
        &config,
        "Required",
        r#"{"req_id": 5}"#,
        &[
            s("doc", "attach", "notes.txt", Some("notes.txt")),
            s("arr", "npy", "img.npy", None),
        ],
        &mount.log_text(),
    );

    // A row folder copied out and back in under a new key is an equal row for the client.
    let out = dir.path().join("copied");
    common::run_ok(Command::new("cp").arg("-r").arg(&row2).arg(&out));
    common::run_ok(
        Command::new("cp")
            .arg("-r")
            .arg(&out)
            .arg(m.join("Stored/item_id=20")),
    );
    let mut original = dump_v2(&pg, schema, &config, "Stored", r#"{"item_id": 2}"#);
    let mut copy = dump_v2(&pg, schema, &config, "Stored", r#"{"item_id": 20}"#);
    original["item_id"] = serde_json::Value::Null;
    copy["item_id"] = serde_json::Value::Null;
    assert_eq!(original, copy);

    check_all(&pg, schema, &config, &mount.log_text());
}

/// A row with stored values copied with `cp -r` from a 0.14 schema (MariaDB; external `blob@s`
/// and `attach@s` written by the 0.14 client) into a 2.x schema of the same design on
/// PostgreSQL, and a 2.x row (written by the 2.x client) copied back: each copy equal, field by
/// field, to its original when both clients fetch them.
#[test]
fn a_row_copied_between_a_0_14_and_a_2x_schema_is_equal_both_ways() {
    let pg = pg();
    let schema2 = "djfs_v2w_cross";
    let (_dir2, config2) = make(&pg, schema2);
    let schema014 = "djfs_v2w_cross014";
    let dir014 = tempfile::tempdir().unwrap();
    let config014 = dir014.path().join("dj_config.json");
    let e = common::env();
    common::run_ok(
        Command::new(&e.python)
            .arg(e.repo.join("tests/python/cross_014.py"))
            .args(["make", schema014, "--config-out"])
            .arg(&config014)
            .env("DJFS_LOCAL_STORE", dir014.path().join("local")),
    );
    let dump014 = |key: &str| -> serde_json::Value {
        let out = common::run_ok(
            Command::new(&e.python)
                .arg(e.repo.join("tests/python/cross_014.py"))
                .args(["dump", schema014, "--config"])
                .arg(&config014)
                .arg(key),
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let m014 = Mount::new(&config014, Some(schema014), &[]);
    let m2 = Mount::new(&config2, Some(schema2), &[]);

    // 0.14 → 2.x, mount to mount.
    common::run_ok(
        Command::new("cp")
            .arg("-r")
            .arg(m014.path.join("Cross/id=1"))
            .arg(m2.path.join("Cross/id=7")),
    );
    let mut from = dump014(r#"{"id": 1}"#);
    let mut to = dump_v2(&pg, schema2, &config2, "Cross", r#"{"id": 7}"#);
    assert_eq!(from["id"], 1);
    assert_eq!(to["id"], 7);
    from["id"] = serde_json::Value::Null;
    to["id"] = serde_json::Value::Null;
    assert_eq!(
        from,
        to,
        "0.14 → 2.x; djfs logs:\n{}\n{}",
        m014.log_text(),
        m2.log_text()
    );
    assert!(from["b_s3"]["array"].is_string(), "{from}");
    assert!(from["doc_local"]["name"].is_string(), "{from}");

    // 2.x → 0.14.
    common::run_ok(
        Command::new("cp")
            .arg("-r")
            .arg(m2.path.join("Cross/id=1"))
            .arg(m014.path.join("Cross/id=8")),
    );
    let mut from = dump_v2(&pg, schema2, &config2, "Cross", r#"{"id": 1}"#);
    let mut to = dump014(r#"{"id": 8}"#);
    from["id"] = serde_json::Value::Null;
    to["id"] = serde_json::Value::Null;
    assert_eq!(
        from,
        to,
        "2.x → 0.14; djfs logs:\n{}\n{}",
        m014.log_text(),
        m2.log_text()
    );
    assert!(
        from["doc_local"].is_null() && from["doc_s3"]["size"] == 1000,
        "{from}"
    );
    check_all(&pg, schema2, &config2, &m2.log_text());
}

/// The PostgreSQL test server, for statements the test makes itself.
fn pg_client(pg: &Pg) -> postgres::Client {
    postgres::Client::connect(
        &format!(
            "host={} port={} user={} password={} dbname={}",
            pg.host, pg.port, pg.user, pg.pass, pg.database
        ),
        postgres::NoTls,
    )
    .unwrap()
}

/// A write whose row another client deletes while the file is open: the `<npy@>` object
/// uploaded at close has a fresh path no row can know, the UPDATE finds no row, and the object
/// is deleted again (`close` says ENOENT); no journal record is left.
#[test]
fn an_object_uploaded_for_a_failed_2x_transaction_is_deleted() {
    let pg = pg();
    let schema = "djfs_v2w_failed";
    let (dir, config) = make(&pg, schema);
    npy_files(&pg, dir.path(), &[("a.npy", "np.arange(1000.0)")]);
    let tmp = private_tmp(dir.path());
    let mount = TestMount::new(&config, schema, &tmp);
    let staging = mount.staging();
    let mut f = std::fs::File::create(mount.path.join("Stored/item_id=2/arr_local.npy")).unwrap();
    f.write_all(&std::fs::read(dir.path().join("a.npy")).unwrap())
        .unwrap();
    // Deleted from this process (a child would close its inherited copy of the descriptor, and
    // that close would store the value first).
    pg_client(&pg)
        .execute(
            &format!("DELETE FROM \"{schema}\".\"stored\" WHERE item_id = 2"),
            &[],
        )
        .unwrap();
    use std::os::fd::IntoRawFd;
    let fd = f.into_raw_fd();
    assert_ne!(unsafe { libc::close(fd) }, 0, "{}", mount.log_text());
    let log = mount.log_text();
    let line = log
        .lines()
        .find(|l| l.contains("uploaded for a write whose transaction failed"))
        .unwrap_or_else(|| panic!("{log}"));
    let object = line
        .split("deleted ")
        .nth(1)
        .and_then(|r| r.split_once(" (uploaded"))
        .map(|(p, _)| PathBuf::from(p))
        .unwrap_or_else(|| panic!("{line}"));
    assert!(
        object
            .to_string_lossy()
            .contains("/_schema/djfs_v2w_failed/stored/item_id=2/arr_local_"),
        "{line}"
    );
    assert!(!object.exists());
    assert!(records(&staging).is_empty(), "{:?}", records(&staging));
}

/// kill -9 of the daemon in the middle of 2.x uploads on PostgreSQL: of an attachment to S3
/// (multipart) and to a folder store, and at several moments of a file object's upload. After
/// each, every row the client fetches has its old or its new value with its whole object (never
/// metadata pointing at a missing or partial object); the next mount aborts the unfinished
/// multipart upload and removes the partial file; what it leaves is at most complete objects no
/// row references.
#[test]
fn a_kill_during_2x_uploads_never_leaves_a_reference_to_a_missing_object() {
    let pg = pg();
    let schema = "djfs_v2w_kill";
    let (dir, config) = make(&pg, schema);
    let tmp = private_tmp(dir.path());
    let big = dir.path().join("big.bin");
    big_file(&big, 256, 5);
    let old = dir.path().join("old notes.txt");
    std::fs::write(&old, b"the client's attachment\n").unwrap();
    let old_doc = |attr: &str| spec(attr, "attach", &old, Some("old notes.txt"));

    // S3: once the multipart upload has an id and S3 holds some of its parts.
    let mount = TestMount::new(&config, schema, &tmp);
    let staging = mount.staging();
    let mut cp = Command::new("cp")
        .arg(&big)
        .arg(mount.path.join("Stored/item_id=1/doc_s3"))
        .spawn()
        .unwrap();
    let mut upload_id = String::new();
    let started = eventually(Duration::from_secs(120), || {
        records(&staging).iter().any(|r| {
            let Some(id) = r["upload_id"].as_str() else {
                return false;
            };
            let parts = upload_files(id)
                .iter()
                .any(|p| p.to_string_lossy().contains(".part-"));
            if parts {
                upload_id = id.to_string();
            }
            parts
        })
    });
    assert!(
        started,
        "no multipart upload seen; log:\n{}",
        mount.log_text()
    );
    let record = records(&staging)
        .into_iter()
        .find(|r| r["upload_id"] == upload_id.as_str())
        .unwrap();
    assert_eq!(record["v2"], true, "{record}");
    mount.kill();
    let _ = cp.wait();
    drop(mount);
    expect(
        &pg,
        schema,
        &config,
        "Stored",
        r#"{"item_id": 1}"#,
        &[old_doc("doc_s3")],
        "",
    );
    check_all(&pg, schema, &config, "");
    let next = TestMount::new(&config, schema, &tmp);
    let settled = eventually(Duration::from_secs(60), || {
        upload_files(&upload_id).is_empty() && !staging.exists()
    });
    assert!(settled, "log:\n{}", next.log_text());
    assert!(next.log_text().contains(&format!(
        "aborted the unfinished multipart upload {upload_id}"
    )));
    drop(next);

    // A folder store: once the partial `<object>#<n>` file is being written.
    let mount = TestMount::new(&config, schema, &tmp);
    let staging = mount.staging();
    let mut cp = Command::new("cp")
        .arg(&big)
        .arg(mount.path.join("Stored/item_id=1/doc_local"))
        .spawn()
        .unwrap();
    let local = dir.path().join("stores/local");
    let mut partial = PathBuf::new();
    let started = eventually(Duration::from_secs(120), || {
        records(&staging).iter().any(|r| {
            let p = PathBuf::from(format!(
                "{}#1",
                local.join(r["key"].as_str().unwrap()).display()
            ));
            let growing = std::fs::metadata(&p).is_ok_and(|m| m.len() > 0);
            if growing {
                partial = p;
            }
            growing
        })
    });
    assert!(started, "no partial file seen; log:\n{}", mount.log_text());
    mount.kill();
    let _ = cp.wait();
    drop(mount);
    assert!(partial.exists(), "the kill left no partial file");
    expect(
        &pg,
        schema,
        &config,
        "Stored",
        r#"{"item_id": 1}"#,
        &[old_doc("doc_local")],
        "",
    );
    let next = TestMount::new(&config, schema, &tmp);
    assert!(
        eventually(Duration::from_secs(60), || !partial.exists()
            && !staging.exists()),
        "log:\n{}",
        next.log_text()
    );
    assert!(next
        .log_text()
        .contains("recovery: removed the partial upload"));
    drop(next);

    // A file object (schema-addressed, S3) killed at several moments: before, during and after
    // its upload, maybe after its transaction. The client always finds a whole object.
    for delay_ms in [300u64, 1500, 4000] {
        let mount = TestMount::new(&config, schema, &tmp);
        let mut cp = Command::new("cp")
            .arg(&big)
            .arg(mount.path.join("Stored/item_id=2/obj_s3"))
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        mount.kill();
        let _ = cp.wait();
        drop(mount);
        check_all(&pg, schema, &config, "");
    }
    // The next mount settles the last crash, and every write works again.
    let next = TestMount::new(&config, schema, &tmp);
    assert_eq!(
        write_file(
            &next.path.join("Stored/item_id=2/obj_s3/big.bin"),
            &std::fs::read(&big).unwrap()
        ),
        0
    );
    expect(
        &pg,
        schema,
        &config,
        "Stored",
        r#"{"item_id": 2}"#,
        &[spec("obj_s3", "object", &big, Some("big.bin"))],
        &next.log_text(),
    );
    check_all(&pg, schema, &config, &next.log_text());
}

/// Writers on two mounts and the 2.x client at once, on PostgreSQL: the same content from both
/// mounts is one object both rows reference; two mounts replacing one value over and over while
/// a reader reads it and the client inserts rows leave a last value that is one of the written
/// ones, every object whole, and no torn read; the same new key from both mounts is one INSERT
/// (the other write gets EEXIST).
#[test]
fn writers_on_two_mounts_and_the_2x_client_keep_every_reference_whole() {
    let pg = pg();
    let schema = "djfs_v2w_two";
    let (dir, config) = make(&pg, schema);
    let one = Mount::new(&config, Some(schema), &[]);
    let two = Mount::new(&config, Some(schema), &[]);
    let logs = || format!("{}\n---\n{}", one.log_text(), two.log_text());

    // The same content from both mounts at once: one object, both rows reference it.
    let same = dir.path().join("same.bin");
    big_file(&same, 3, 9);
    let copies: Vec<_> = [(&one, 1), (&two, 2)]
        .into_iter()
        .map(|(m, row)| {
            let (src, dst) = (
                same.clone(),
                m.path.join(format!("Stored/item_id={row}/doc_s3")),
            );
            std::thread::spawn(move || {
                Command::new("cp")
                    .arg(src)
                    .arg(dst)
                    .status()
                    .unwrap()
                    .success()
            })
        })
        .collect();
    for c in copies {
        assert!(c.join().unwrap());
    }
    let meta = |row: &str| metadata(&pg, schema, &config, "stored", row, "doc_s3");
    assert_eq!(meta("item_id = 1")["path"], meta("item_id = 2")["path"]);

    // A folder-store object held open by a reader is read by the kernel from the store file
    // (FUSE passthrough, root mounts): writing it meanwhile is EBUSY with a log line, and the
    // value is untouched (the kernel would fail such an open itself, after djfs had accepted
    // and truncated it); once the reader closes it, the write goes through.
    let raw = one.path.join("Stored/item_id=1/raw_local");
    let reader = std::fs::File::open(&raw).unwrap();
    assert_eq!(write_file(&raw, b"new raw\n"), libc::EBUSY);
    assert!(one
        .log_text()
        .contains("open for reading straight from its store file"));
    std::fs::write(dir.path().join("old raw"), b"old raw bytes\n").unwrap();
    expect(
        &pg,
        schema,
        &config,
        "Stored",
        r#"{"item_id": 1}"#,
        &[spec("raw_local", "hash", &dir.path().join("old raw"), None)],
        &logs(),
    );
    drop(reader);
    assert_eq!(write_file(&raw, b"new raw\n"), 0);

    // Two mounts replace one array over and over; a reader on the first reads it meanwhile; the
    // client inserts rows with stored values.
    let arrays = dir.path().join("arrays");
    std::fs::create_dir(&arrays).unwrap();
    let rounds = 8;
    let mut exprs = Vec::new();
    for i in 0..rounds {
        exprs.push((
            format!("one{i}.npy"),
            format!("np.full(20000, {i}, dtype=np.int32)"),
        ));
        exprs.push((
            format!("two{i}.npy"),
            format!("np.full(20000, -{i}, dtype=np.int32)"),
        ));
    }
    let named: Vec<(&str, &str)> = exprs
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    npy_files(&pg, &arrays, &named);
    let written: Vec<Vec<u8>> = exprs
        .iter()
        .map(|(n, _)| std::fs::read(arrays.join(n)).unwrap())
        .collect();
    let original = std::fs::read(one.path.join("Stored/item_id=1/arr_local.npy")).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (path, stop) = (
            one.path.join("Stored/item_id=1/arr_local.npy"),
            stop.clone(),
        );
        let mut allowed = written.clone();
        allowed.push(original);
        std::thread::spawn(move || {
            let mut reads = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(bytes) = std::fs::read(&path) {
                    assert!(
                        allowed.contains(&bytes),
                        "a torn or unknown read of {} bytes",
                        bytes.len()
                    );
                    reads += 1;
                }
            }
            reads
        })
    };
    let writer = |m: &Mount, who: &'static str| {
        let (target, arrays) = (
            m.path.join("Stored/item_id=1/arr_local.npy"),
            arrays.clone(),
        );
        std::thread::spawn(move || {
            let mut failed = Vec::new();
            for i in 0..rounds {
                let data = std::fs::read(arrays.join(format!("{who}{i}.npy"))).unwrap();
                // EBUSY while the reader holds the file through passthrough: try again.
                let mut errno = libc::EBUSY;
                for _ in 0..200 {
                    errno = write_file(&target, &data);
                    if errno != libc::EBUSY {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                if errno != 0 {
                    failed.push(format!("{who} round {i}: errno {errno}"));
                }
            }
            failed
        })
    };
    let (w1, w2) = (writer(&one, "one"), writer(&two, "two"));
    let client_rows = {
        let script = format!(
            r#"
import sys, os, tempfile
sys.path.insert(0, {lib:?})
import v2_writes, dj2env
import numpy as np
import datajoint as dj
tables = v2_writes.connect({schema:?}, {config:?})
with tempfile.TemporaryDirectory() as tmp:
    for i in range(100, 106):
        path = os.path.join(tmp, f"client{{i}}.txt")
        with open(path, "w") as f:
            f.write(f"row {{i}}\n")
        tables["Stored"].insert1(dict(item_id=i, doc_s3=path, arr_local=np.arange(i), raw_local=b"x" * i))
"#,
            lib = common::repo_root().join("tests/python").to_str().unwrap(),
            config = config.to_str().unwrap(),
        );
        let (pg_host, pg_port, pg_user, pg_pass, pg_db, python) = (
            pg.host.clone(),
            pg.port.to_string(),
            pg.user.clone(),
            pg.pass.clone(),
            pg.database.clone(),
            pg.python.clone(),
        );
        std::thread::spawn(move || {
            let out = Command::new(python)
                .arg("-W")
                .arg("ignore")
                .arg("-c")
                .arg(&script)
                .env("DJFS_PG_HOST", pg_host)
                .env("DJFS_PG_PORT", pg_port)
                .env("DJFS_PG_USER", pg_user)
                .env("DJFS_PG_PASS", pg_pass)
                .env("DJFS_PG_DATABASE", pg_db)
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", text(&out));
        })
    };
    let failed: Vec<String> = [w1, w2]
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    client_rows.join().unwrap();
    assert!(failed.is_empty(), "{failed:?}; logs:\n{}", logs());
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let reads = reader.join().unwrap();
    assert!(reads > 0);
    // The last value is one of the two last writes.
    let last = [
        arrays.join(format!("one{}.npy", rounds - 1)),
        arrays.join(format!("two{}.npy", rounds - 1)),
    ];
    let fetched = dump_v2(&pg, schema, &config, "Stored", r#"{"item_id": 1}"#)["arr_local"].clone();
    let mut matched = false;
    for candidate in &last {
        let out = v2(
            &pg,
            &[
                "expect",
                schema,
                "--config",
                config.to_str().unwrap(),
                "Stored",
                r#"{"item_id": 1}"#,
                &spec("arr_local", "npy", candidate, None),
            ],
        );
        matched |= out.status.success();
    }
    assert!(
        matched,
        "the last value {fetched} is neither last write; logs:\n{}",
        logs()
    );

    // The same new key from both mounts: one INSERT, the other's last write gets EEXIST.
    npy_files(&pg, dir.path(), &[("req.npy", "np.eye(3)")]);
    let req = std::fs::read(dir.path().join("req.npy")).unwrap();
    for m in [&one, &two] {
        std::fs::create_dir(m.path.join("Required/req_id=7")).unwrap();
        std::fs::create_dir(m.path.join("Required/req_id=7/doc")).unwrap();
    }
    let fill = |m: &Mount, name: &str| {
        let row = m.path.join("Required/req_id=7");
        assert_eq!(write_file(&row.join("doc").join(name), name.as_bytes()), 0);
        write_file(&row.join("arr.npy"), &req)
    };
    assert_eq!(fill(&one, "first.txt"), 0);
    assert_eq!(fill(&two, "second.txt"), libc::EEXIST, "{}", logs());
    std::fs::write(dir.path().join("first.txt"), "first.txt").unwrap();
    expect(
        &pg,
        schema,
        &config,
        "Required",
        r#"{"req_id": 7}"#,
        &[
            spec(
                "doc",
                "attach",
                &dir.path().join("first.txt"),
                Some("first.txt"),
            ),
            spec("arr", "npy", &dir.path().join("req.npy"), None),
        ],
        &logs(),
    );
    check_all(&pg, schema, &config, &logs());
}
