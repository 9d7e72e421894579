//! Regression tests for the write-path problems of issue 11 (each failed before its fix), on a
//! schema the real client made (tests/python/make_regressions.py) and checked with the real client
//! (tests/python/client_view.py).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::write_file;
use common::{client, database_connections, doc_attachment, eventually, Mount};
use serde_json::Value;

/// Longer than the grace of an `rm` (UNLINK_GRACE, 1 s) plus the janitor's tick.
const PAST_GRACE: Duration = Duration::from_millis(2500);

fn regression_schema(schema: &str) -> (tempfile::TempDir, PathBuf) {
    common::schema_with_stores("make_regressions.py", schema, false)
}

fn doc(config: &Path, schema: &str, id: u32) -> Value {
    client(
        config,
        schema,
        &["row", "Doc", &format!(r#"{{"doc_id": {id}}}"#)],
    )
}

fn sh(script: &str) -> std::process::Output {
    Command::new("bash").arg("-c").arg(script).output().unwrap()
}

/// Problem 1: `rm name; echo second > name` lost the write when the `rm`'s delayed NULL landed
/// after it; the same for `.npy`, across two mounts, and `rm att/*` made the folder vanish.
#[test]
fn a_write_after_rm_is_never_undone() {
    let schema = "djfs_r_rm_write";
    let (dir, config) = regression_schema(schema);
    let a = Mount::new(&config, Some(schema), &[]);
    let b = Mount::new(&config, Some(schema), &[]);
    let row = a.path.join("Doc/doc_id=1");

    // A scalar, in one mount.
    std::fs::remove_file(row.join("notes")).unwrap();
    assert_eq!(write_file(&row.join("notes"), b"second\n"), 0);
    std::thread::sleep(PAST_GRACE);
    assert_eq!(doc(&config, schema, 1)["values"]["notes"], "second");
    assert_eq!(std::fs::read(row.join("notes")).unwrap(), b"second\n");

    // A scalar, rm in one mount, written in the other.
    std::fs::remove_file(row.join("notes")).unwrap();
    assert_eq!(
        write_file(&b.path.join("Doc/doc_id=1/notes"), b"from b\n"),
        0
    );
    std::thread::sleep(PAST_GRACE);
    assert_eq!(doc(&config, schema, 1)["values"]["notes"], "from b");

    // An external blob's .npy.
    let npy = dir.path().join("new.npy");
    common::run_ok(Command::new(&common::env().python).arg("-c").arg(format!(
        "import numpy as np; np.save({:?}, np.arange(5, dtype=np.int32))",
        npy.display().to_string()
    )));
    std::fs::remove_file(row.join("arr.npy")).unwrap();
    assert_eq!(
        write_file(&row.join("arr.npy"), &std::fs::read(&npy).unwrap()),
        0
    );
    std::thread::sleep(PAST_GRACE);
    let out = dir.path().join("fetched.npy");
    client(
        &config,
        schema,
        &[
            "fetch-npy",
            "Doc",
            r#"{"doc_id": 1}"#,
            "arr",
            out.to_str().unwrap(),
        ],
    );
    let eq = client(
        &config,
        "-",
        &["npy-equal", npy.to_str().unwrap(), out.to_str().unwrap()],
    );
    assert_eq!(eq["equal"], true, "{eq}");

    // `rm att/*; cp new att/`: the folder stays (empty), the copy lands, the NULL never does.
    for attr in ["pic", "pic_s3", "pic_in"] {
        let folder = row.join(attr);
        for f in std::fs::read_dir(&folder).unwrap() {
            std::fs::remove_file(f.unwrap().path()).unwrap();
        }
        assert!(folder.is_dir(), "{attr}/ must stay after rm of its file");
        assert_eq!(std::fs::read_dir(&folder).unwrap().count(), 0, "{attr}");
        let src = dir.path().join(format!("new_{attr}.txt"));
        std::fs::write(&src, format!("new {attr}\n")).unwrap();
        let cp = Command::new("cp").arg(&src).arg(&folder).output().unwrap();
        assert!(cp.status.success(), "{attr}: {cp:?}");
    }
    std::thread::sleep(PAST_GRACE);
    for attr in ["pic", "pic_s3", "pic_in"] {
        let (name, bytes) = doc_attachment(&config, schema, 1, attr).expect(attr);
        assert_eq!(name, format!("new_{attr}.txt"));
        assert_eq!(bytes, format!("new {attr}\n").into_bytes());
    }

    // An rm with no write after it still becomes NULL.
    std::fs::remove_file(row.join("notes")).unwrap();
    assert!(eventually(Duration::from_secs(5), || {
        doc(&config, schema, 1)["values"]["notes"].is_null()
    }));
}

/// Problem 4: shell redirection stored `''` first (when the shell closed its duplicate
/// descriptor), and `echo hi > att/x.txt` left a 0-byte object behind.
#[test]
fn shell_redirection_stores_once_at_the_last_close() {
    let schema = "djfs_r_redirect";
    let (_dir, config) = regression_schema(schema);
    let mount = Mount::new(&config, Some(schema), &[]);
    let row = mount.path.join("Doc/doc_id=1");

    let notes = row.join("notes");
    let mut child = Command::new("bash")
        .arg("-c")
        .arg(format!("(sleep 8; echo new) > '{}'", notes.display()))
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    // Meanwhile the stored value is the old one, not ''.
    assert_eq!(doc(&config, schema, 1)["values"]["notes"], "old notes");
    assert!(child.wait().unwrap().success());
    assert_eq!(doc(&config, schema, 1)["values"]["notes"], "new");

    // `echo hi > att/x.txt` into an external attachment: one object, the right one.
    let tracked_before = client(&config, schema, &["tracked", "local"]);
    let out = sh(&format!("echo hi > '{}/pic/x.txt'", row.display()));
    assert!(out.status.success(), "{out:?}");
    let (name, bytes) = doc_attachment(&config, schema, 1, "pic").unwrap();
    assert_eq!((name.as_str(), bytes.as_slice()), ("x.txt", &b"hi\n"[..]));
    let tracked_after = client(&config, schema, &["tracked", "local"]);
    let added: Vec<&Value> = tracked_after["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| !tracked_before["objects"].as_array().unwrap().contains(o))
        .collect();
    assert_eq!(
        added.len(),
        1,
        "one new object, not an empty one too: {added:?}"
    );
    assert_eq!(added[0]["size"], 3);
    assert_eq!(added[0]["attachment_name"], "x.txt");

    // `>>` appends to the stored value.
    let out = sh(&format!("echo more >> '{}'", notes.display()));
    assert!(out.status.success(), "{out:?}");
    assert_eq!(doc(&config, schema, 1)["values"]["notes"], "new\nmore");
}

/// Problem 8: `mkdir` of a row the server refuses returned EINVAL, but the folder stayed.
#[test]
fn a_refused_mkdir_leaves_no_folder() {
    let schema = "djfs_r_mkdir";
    let (_dir, config) = regression_schema(schema);
    let mount = Mount::new(&config, Some(schema), &[]);
    let table = mount.path.join("Tiny");
    let err = std::fs::create_dir(table.join("tiny_id=300")).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
    let names: Vec<String> = std::fs::read_dir(&table)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.contains(&"tiny_id=300".to_string()), "{names:?}");
    assert!(!table.join("tiny_id=300").exists());
    assert!(
        mount.log_text().contains("tiny_id=300"),
        "{}",
        mount.log_text()
    );
    // A good one still works, and the client sees it.
    std::fs::create_dir(table.join("tiny_id=7")).unwrap();
    let rows = client(&config, schema, &["rows", "Tiny"]);
    assert_eq!(
        rows["keys"],
        serde_json::json!([{"tiny_id": 1}, {"tiny_id": 7}])
    );
}

/// Problem 9: `cp -r` of a row with a NULL attachment into another mount failed with EEXIST
/// (the row was inserted with its last required file, then its NULL attachment folder listed).
#[test]
fn copying_a_row_with_null_attachments_into_another_mount() {
    let schema = "djfs_r_cp_null";
    let (dir, config) = regression_schema(schema);
    let source = Mount::new(&config, Some(schema), &[]);
    let target = Mount::new(&config, Some(schema), &[]);
    let copy = dir.path().join("copy");
    let out = Command::new("cp")
        .arg("-r")
        .arg(source.path.join("Doc/doc_id=2"))
        .arg(&copy)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    // The order that failed, made explicit: the required file first, then the empty folders.
    let new_row = target.path.join("Doc/doc_id=20");
    std::fs::create_dir(&new_row).unwrap();
    assert_eq!(write_file(&new_row.join("title"), b"copied\n"), 0);
    for attr in ["pic", "pic_s3", "pic_in"] {
        std::fs::create_dir(new_row.join(attr)).unwrap_or_else(|e| panic!("mkdir {attr}: {e}"));
    }
    // And `cp -r` itself, in whatever order it reads the folder.
    std::fs::write(copy.join("doc_id"), "21\n").unwrap();
    let out = Command::new("cp")
        .arg("-r")
        .arg(&copy)
        .arg(target.path.join("Doc/doc_id=21"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    for id in [20, 21] {
        let row = doc(&config, schema, id);
        assert_eq!(row["exists"], true, "{id}: {row}");
        for attr in ["pic", "pic_s3", "pic_in"] {
            assert_eq!(
                row["values"][attr]["attach"]["is_none"], true,
                "{id} {attr}"
            );
        }
        assert!(row["values"]["notes"].is_null());
    }
    assert_eq!(doc(&config, schema, 20)["values"]["title"], "copied");
    assert_eq!(doc(&config, schema, 21)["values"]["title"], "second");
}

/// Problem 6: a tracking row whose size disagrees with the object gave a silently truncated or
/// padded file; now EIO with a log line naming both sizes.
#[test]
fn a_wrong_tracked_size_is_an_error_not_a_wrong_file() {
    let schema = "djfs_r_size";
    let (_dir, config) = regression_schema(schema);
    for (store, attr) in [("local", "pic"), ("shared", "pic_s3")] {
        let sql = format!("UPDATE `{{schema}}`.`~external_{store}` SET size = size + 5");
        client(&config, schema, &["sql", &sql]);
        let mount = Mount::new(&config, Some(schema), &[]);
        let folder = mount.path.join(format!("Doc/doc_id=1/{attr}"));
        let file = std::fs::read_dir(&folder)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let err = std::fs::read(&file).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EIO), "{store}");
        assert!(
            mount.log_text().contains("tracking row says"),
            "{store}: {}",
            mount.log_text()
        );
    }
}

/// Problem 7: stored attachment names that are not file names (`/`, `..`, `.`, empty, too
/// long) made folders list as empty or fail with EIO; now shown escaped, readable, logged.
#[test]
fn stored_names_that_are_not_file_names_stay_readable() {
    let schema = "djfs_r_names";
    let (_dir, config) = regression_schema(schema);
    let long = "n".repeat(300);
    let cases: [(&str, &str); 5] = [
        ("a/b.txt", "a%2Fb.txt"),
        ("..", "%2E."),
        (".", "%2E"),
        ("", "(no name)"),
        (&long, ""),
    ];
    for (i, (stored, _)) in cases.iter().enumerate() {
        let mut value = stored.as_bytes().to_vec();
        value.push(0);
        value.extend(format!("contents {i}\n").bytes());
        client(
            &config,
            schema,
            &[
                "sql",
                "INSERT INTO `{schema}`.`doc` (doc_id, title, pic_in) VALUES (%s, %s, %s)",
                &serde_json::json!([100 + i, "odd name", format!("hex:{}", hex::encode(&value))])
                    .to_string(),
            ],
        );
    }
    let mount = Mount::new(&config, Some(schema), &[]);
    for (i, (stored, shown)) in cases.iter().enumerate() {
        let folder = mount.path.join(format!("Doc/doc_id={}/pic_in", 100 + i));
        let names: Vec<String> = std::fs::read_dir(&folder)
            .unwrap_or_else(|e| panic!("{stored:?}: {e}"))
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 1, "{stored:?}: {names:?}");
        if !shown.is_empty() {
            assert_eq!(names[0], *shown);
        } else {
            assert!(names[0].len() <= 255 && names[0].contains('~'), "{names:?}");
        }
        let bytes = std::fs::read(folder.join(&names[0])).unwrap();
        assert_eq!(bytes, format!("contents {i}\n").into_bytes(), "{stored:?}");
    }
    assert!(
        mount.log_text().contains("not a valid file name"),
        "{}",
        mount.log_text()
    );
}

/// Problem 5: with one table locked by another client, ten listings of it took every FUSE thread
/// and an `ls` of another table waited 10.5 s; a busy mount kept its connections for hours.
#[test]
fn a_locked_table_delays_only_what_needs_it_and_idle_connections_close() {
    let schema = "djfs_r_lock";
    let (_dir, config) = regression_schema(schema);
    let mount = Mount::new(&config, Some(schema), &["--refresh", "0"]);
    // Another client holds a write lock on `doc` for 12 s.
    let e = common::env();
    let mut locker = Command::new(&e.python)
        .arg("-c")
        .arg(format!(
            "import datajoint as dj, time, sys; dj.config.load({:?}); c = dj.conn(); \
             c.query('LOCK TABLES `{schema}`.`doc` WRITE'); print('locked', flush=True); \
             time.sleep(12); c.query('UNLOCK TABLES')",
            config.display().to_string()
        ))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(locker.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "locked");
    let waiting: Vec<std::process::Child> = (0..10)
        .map(|i| {
            Command::new("ls")
                // Ten different rows: the kernel lets one lookup of a name wait for another.
                .arg(mount.path.join(format!("Doc/doc_id={}", 3 + i)))
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let started = std::time::Instant::now();
    let names: Vec<String> = std::fs::read_dir(mount.path.join("Tiny"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let took = started.elapsed();
    assert!(names.contains(&"tiny_id=1".to_string()), "{names:?}");
    assert!(
        took < Duration::from_secs(3),
        "ls of an unlocked table took {took:?} while another was locked\nstats:\n{}\nlog:\n{}",
        std::fs::read_to_string(mount.path.join(".djfs/stats")).unwrap_or_default(),
        mount.log_text()
    );
    assert!(locker.wait().unwrap().success());
    for mut w in waiting {
        w.wait().unwrap();
    }
    // After the lock: Doc lists again.
    assert!(mount.path.join("Doc/doc_id=1/title").exists());
    // Idle: the server closes the mount's connections after a minute.
    let pid = mount.daemon_pid().unwrap();
    assert!(database_connections(pid) >= 1);
    assert!(
        eventually(Duration::from_secs(90), || database_connections(pid) == 0),
        "the mount still holds {} connections after 90 s idle",
        database_connections(pid)
    );
}
