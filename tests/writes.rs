//! Writes through real mounts, checked with the real client (tests/python/client_view.py):
//! what djfs stores must be what the client would have stored.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::write_file;
use common::{client, eventually, write_config, Mount};
use serde_json::Value;

fn python(code: &str) {
    common::run_ok(Command::new(&common::env().python).arg("-c").arg(code));
}

fn external_schema(schema: &str) -> (tempfile::TempDir, PathBuf) {
    common::schema_with_stores("make_external.py", schema, false)
}

/// Fetches `attr` of row `key` with the client and asserts it equals the array in `expected`.
fn assert_client_array(
    config: &Path,
    schema: &str,
    table: &str,
    key: &str,
    attr: &str,
    expected: &Path,
) {
    let fetched = expected.with_extension(format!("{table}.{attr}.fetched.npy"));
    let f = fetched.to_str().unwrap();
    client(config, schema, &["fetch-npy", table, key, attr, f]);
    let eq = client(config, "-", &["npy-equal", expected.to_str().unwrap(), f]);
    assert_eq!(eq["equal"], true, "{table} {key} {attr}: {eq}");
}

fn save_npy(path: &Path, expr: &str) {
    python(&format!(
        "import numpy as np; np.save({:?}, {expr})",
        path.display().to_string()
    ));
}

#[test]
fn attribute_writes_store_what_the_client_would() {
    let schema = "djfs_w_attr";
    let (dir, config) = external_schema(schema);
    let mount = Mount::new(&config, Some(schema), &[]);
    let row = mount.path.join("Blob/blob_id=1");
    let key = r#"{"blob_id": 1}"#;

    // A scalar.
    assert_eq!(
        write_file(&row.join("description"), b"rewritten through djfs\n"),
        0
    );
    let r = client(&config, schema, &["row", "Blob", key]);
    assert_eq!(r["values"]["description"], "rewritten through djfs");

    // A key attribute: only its own value is accepted.
    assert_eq!(write_file(&row.join("blob_id"), b"1\n"), 0);
    assert_eq!(write_file(&row.join("blob_id"), b"7\n"), libc::EPERM);

    // .npy into external blobs on S3 and on a folder store: equal arrays, the client's hash.
    let npy = dir.path().join("x.npy");
    save_npy(&npy, "np.arange(12, dtype=np.int16).reshape(3, 4)");
    let expected = client(
        &config,
        "-",
        &["expected-hash", "blob", npy.to_str().unwrap()],
    );
    for attr in ["in_shared", "in_fold11"] {
        assert_eq!(
            write_file(
                &row.join(format!("{attr}.npy")),
                &std::fs::read(&npy).unwrap()
            ),
            0,
            "{attr}"
        );
        let out = dir.path().join(format!("{attr}.out.npy"));
        client(
            &config,
            schema,
            &["fetch-npy", "Blob", key, attr, out.to_str().unwrap()],
        );
        let eq = client(
            &config,
            "-",
            &["npy-equal", npy.to_str().unwrap(), out.to_str().unwrap()],
        );
        assert_eq!(eq["equal"], true, "{attr}: {eq}");
        let info = client(&config, schema, &["external-info", "Blob", key, attr]);
        assert_eq!(info["hash"], expected["hex"], "{attr}: {info}");
        assert_eq!(info["exists_in_store"], true, "{attr}: {info}");
        assert_eq!(info["path"], info["spec_path"], "{attr}: {info}");
    }
    // Reading back through the mount gives the array too.
    assert!(eventually(Duration::from_secs(3), || {
        std::fs::metadata(row.join("in_shared.npy"))
            .map(|m| m.len())
            .ok()
            == Some(128 + 24)
    }));

    // Attachments on S3 and on a folder store: same bytes, same name, the client's hash.
    let file = dir.path().join("notes é.txt");
    std::fs::write(&file, b"attached through djfs\n").unwrap();
    let hash = client(
        &config,
        "-",
        &["expected-hash", "attach", file.to_str().unwrap()],
    );
    let arow = mount.path.join("Attachment/attach_id=1");
    let akey = r#"{"attach_id": 1}"#;
    for attr in ["a_shared", "a_fold11"] {
        let status = Command::new("cp")
            .arg(&file)
            .arg(arow.join(attr))
            .status()
            .unwrap();
        assert!(status.success(), "cp into {attr}");
        let dl = dir.path().join(format!("dl-{attr}"));
        let got = client(
            &config,
            schema,
            &[
                "fetch-attach",
                "Attachment",
                akey,
                attr,
                dl.to_str().unwrap(),
            ],
        );
        assert_eq!(got["name"], "notes é.txt", "{got}");
        assert_eq!(
            std::fs::read(got["path"].as_str().unwrap()).unwrap(),
            std::fs::read(&file).unwrap()
        );
        let info = client(
            &config,
            schema,
            &["external-info", "Attachment", akey, attr],
        );
        assert_eq!(info["hash"], hash["hex"], "{info}");
        assert_eq!(info["tracking"]["attachment_name"], "notes é.txt");
    }

    // Invalid content: close fails with EINVAL, the old value stays.
    let before = dir.path().join("before.npy");
    client(
        &config,
        schema,
        &[
            "fetch-npy",
            "Blob",
            key,
            "in_shared",
            before.to_str().unwrap(),
        ],
    );
    let bytes = std::fs::read(&npy).unwrap();
    assert_eq!(
        write_file(&row.join("in_shared.npy"), &bytes[..bytes.len() - 3]),
        libc::EINVAL
    );
    let objects = dir.path().join("obj.npy");
    save_npy(&objects, "np.array([{'a': 1}, None], dtype=object)");
    // (np.save of an object array pickles it; djfs refuses pickles.)
    assert_eq!(
        write_file(
            &row.join("in_shared.npy"),
            &std::fs::read(&objects).unwrap()
        ),
        libc::EINVAL
    );
    assert_eq!(
        write_file(&row.join("in_shared.blob"), b"not a blob at all"),
        libc::EINVAL
    );
    let after = dir.path().join("after.npy");
    client(
        &config,
        schema,
        &[
            "fetch-npy",
            "Blob",
            key,
            "in_shared",
            after.to_str().unwrap(),
        ],
    );
    assert_eq!(
        std::fs::read(&before).unwrap(),
        std::fs::read(&after).unwrap()
    );
    let log = mount.log_text();
    assert!(
        log.contains("in_shared.npy") && log.contains("old value stays"),
        "{log}"
    );
}

#[test]
fn in_table_values_and_nulls() {
    let schema = "djfs_w_table";
    common::python("make_reference.py", &[schema]);
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let mount = Mount::new(&config, Some(schema), &[]);
    let subject = mount.path.join("Subject/subject_id=1");
    let key = r#"{"subject_id": 1}"#;

    // Strict mode: a bad value is EINVAL with the server's message; nothing changes.
    let before = client(&config, schema, &["row", "Subject", key]);
    assert_eq!(
        write_file(&subject.join("weight"), b"heavy\n"),
        libc::EINVAL
    );
    assert_eq!(client(&config, schema, &["row", "Subject", key]), before);
    assert_eq!(write_file(&subject.join("weight"), b"21.5\n"), 0);
    let after = client(&config, schema, &["row", "Subject", key]);
    assert_eq!(after["values"]["weight"].as_f64(), Some(21.5));

    // rm of a nullable attribute's file sets it NULL (after a short grace).
    std::fs::remove_file(subject.join("notes")).ok();
    std::fs::remove_file(subject.join("weight")).unwrap();
    assert!(eventually(Duration::from_secs(5), || {
        client(&config, schema, &["row", "Subject", key])["values"]["weight"].is_null()
    }));

    // An in-table blob from a .npy, an in-table attachment.
    let npy = dir.path().join("y.npy");
    save_npy(&npy, "np.linspace(0, 1, 5000)"); // compressed when packed
    let arrays = mount.path.join("Arrays/array_id=1");
    assert_eq!(
        write_file(&arrays.join("value.npy"), &std::fs::read(&npy).unwrap()),
        0
    );
    let out = dir.path().join("y.out.npy");
    client(
        &config,
        schema,
        &[
            "fetch-npy",
            "Arrays",
            r#"{"array_id": 1}"#,
            "value",
            out.to_str().unwrap(),
        ],
    );
    let eq = client(
        &config,
        "-",
        &["npy-equal", npy.to_str().unwrap(), out.to_str().unwrap()],
    );
    assert_eq!(eq["equal"], true, "{eq}");
}

#[test]
fn the_seed_flow_with_file_tools() {
    let schema = "djfs_w_seed";
    let (dir, config) = demo_schema(schema);
    let mount = Mount::new(&config, Some(schema), &[]);
    let test = mount.path.join("Test");

    // Insert a Test row with mkdir + cp: the INSERT happens when the last attribute arrives.
    let q = dir.path().join("q.npy");
    save_npy(&q, "np.random.default_rng(1).standard_normal((3, 4))");
    std::fs::create_dir(test.join("id=10")).unwrap();
    for b in ["b0", "b1", "b2"] {
        assert_eq!(
            write_file(
                &test.join("id=10").join(format!("{b}.npy")),
                &std::fs::read(&q).unwrap()
            ),
            0
        );
    }
    assert_eq!(
        client(&config, schema, &["row", "Test", r#"{"id": 10}"#])["exists"],
        false
    );
    for a in ["a0", "a1", "a2"] {
        // A new row folder starts empty (as cp -r expects): attachment folders are made first.
        std::fs::create_dir(test.join("id=10").join(a)).unwrap();
        assert!(Command::new("cp")
            .arg(&q)
            .arg(test.join("id=10").join(a))
            .status()
            .unwrap()
            .success());
    }
    assert_eq!(
        client(&config, schema, &["row", "Test", r#"{"id": 10}"#])["exists"],
        true
    );
    for b in ["b0", "b1", "b2"] {
        assert_client_array(&config, schema, "Test", r#"{"id": 10}"#, b, &q);
    }

    // A row folder laid out the same way, copied in with cp -r, inserts an equal row.
    let copy = dir.path().join("id=11");
    assert!(Command::new("cp")
        .arg("-r")
        .arg(test.join("id=1"))
        .arg(&copy)
        .status()
        .unwrap()
        .success());
    std::fs::write(copy.join("id"), b"11\n").unwrap();
    let cp = common::run_ok(Command::new("cp").arg("-r").arg(&copy).arg(&test));
    assert!(
        cp.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&cp.stderr)
    );
    for attr in ["b0", "b1", "b2"] {
        let original = dir.path().join(format!("r1-{attr}.npy"));
        client(
            &config,
            schema,
            &[
                "fetch-npy",
                "Test",
                r#"{"id": 1}"#,
                attr,
                original.to_str().unwrap(),
            ],
        );
        assert_client_array(&config, schema, "Test", r#"{"id": 11}"#, attr, &original);
    }

    // Attach a new picture to OriginalFile (attach@shared, S3): the client downloads the same file.
    let picture = dir.path().join("new picture.jpg");
    python(&format!(
        "from PIL import Image; Image.new('RGB', (64, 48), (200, 30, 90)).save({:?})",
        picture.display().to_string()
    ));
    let folder = mount.path.join("OriginalFile/image_number=1/image_file");
    assert!(Command::new("cp")
        .arg(&picture)
        .arg(&folder)
        .status()
        .unwrap()
        .success());
    let dl = dir.path().join("dl-picture");
    let got = client(
        &config,
        schema,
        &[
            "fetch-attach",
            "OriginalFile",
            r#"{"image_number": 1}"#,
            "image_file",
            dl.to_str().unwrap(),
        ],
    );
    assert_eq!(got["name"], "new picture.jpg");
    assert_eq!(
        std::fs::read(got["path"].as_str().unwrap()).unwrap(),
        std::fs::read(&picture).unwrap()
    );

    // Delete rows: refused while others depend on them.
    let web = mount.path.join("WebImage/image_number=0");
    let rm = Command::new("rm").arg("-r").arg(&web).output().unwrap();
    assert!(!rm.status.success());
    assert!(web.join("image_name").exists(), "nothing lost");
    assert_eq!(
        client(
            &config,
            schema,
            &["row", "WebImage", r#"{"image_number": 0}"#]
        )["exists"],
        true
    );
    assert!(
        mount.log_text().contains("OriginalFile: 1"),
        "{}",
        mount.log_text()
    );

    // Our own rows go with rm -r; their objects stay, unused.
    assert!(Command::new("rm")
        .arg("-r")
        .arg(test.join("id=10"))
        .status()
        .unwrap()
        .success());
    assert_eq!(
        client(&config, schema, &["row", "Test", r#"{"id": 10}"#])["exists"],
        false
    );
    drop(mount);

    // With --cascade-delete the WebImage row goes with its OriginalFile and Slide rows.
    let mount = Mount::new(&config, Some(schema), &["--cascade-delete"]);
    let web = mount.path.join("WebImage/image_number=0");
    let rm = Command::new("rm").arg("-r").arg(&web).output().unwrap();
    assert!(
        rm.status.success(),
        "{}",
        String::from_utf8_lossy(&rm.stderr)
    );
    for (table, key) in [
        ("WebImage", r#"{"image_number": 0}"#),
        ("OriginalFile", r#"{"image_number": 0}"#),
        ("Slide", r#"{"image_number": 0}"#),
    ] {
        assert_eq!(
            client(&config, schema, &["row", table, key])["exists"],
            false,
            "{table}"
        );
    }

    // .unused lists what the client's unused() lists; removing them cleans the stores.
    for store in ["shared", "local"] {
        let unused_dir = mount.path.join(".external").join(store).join(".unused");
        let mut listed: Vec<String> = std::fs::read_dir(&unused_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy()[..32].to_string())
            .collect();
        listed.sort();
        let view = client(&config, schema, &["unused", store]);
        let expected: Vec<String> = view["not_exists"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        assert_eq!(listed, expected, "{store}");
        assert!(
            !listed.is_empty(),
            "{store} has unused objects after the deletes"
        );
        let rm = Command::new("sh")
            .arg("-c")
            .arg(format!("rm -r {:?}/*", unused_dir.display().to_string()))
            .output()
            .unwrap();
        assert!(
            rm.status.success(),
            "{}",
            String::from_utf8_lossy(&rm.stderr)
        );
        let tracked = client(&config, schema, &["tracked", store]);
        for object in tracked["objects"].as_array().unwrap() {
            assert_eq!(object["exists_in_store"], true, "{object}");
            assert!(!listed.contains(&object["hash"].as_str().unwrap().to_string()));
        }
        assert!(client(&config, schema, &["unused", store])["not_exists"]
            .as_array()
            .unwrap()
            .is_empty());
    }
}

#[test]
fn gc_removes_exactly_the_unused_objects() {
    let schema = "djfs_w_gc";
    let (dir, config) = external_schema(schema);
    let stores = ["shared", "local", "fold11", "s3loc", "s3fold", "staged"];
    let unused: usize = stores
        .iter()
        .map(|s| {
            client(&config, schema, &["unused", s])["not_exists"]
                .as_array()
                .unwrap()
                .len()
        })
        .sum();
    assert!(unused > 10);
    let gc = |extra: &[&str]| {
        let out = common::run_ok(
            common::djfs()
                .args(["gc", "--config", config.to_str().unwrap(), schema])
                .args(extra),
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let dry = gc(&["--dry-run"]);
    assert!(
        dry.contains(&format!("would delete {unused} objects")),
        "{dry}"
    );
    let done = gc(&[]);
    assert!(
        done.contains(&format!("deleted {unused} objects")),
        "{done}"
    );
    for store in stores {
        assert!(client(&config, schema, &["unused", store])["not_exists"]
            .as_array()
            .unwrap()
            .is_empty());
        for object in client(&config, schema, &["tracked", store])["objects"]
            .as_array()
            .unwrap()
        {
            assert_eq!(object["exists_in_store"], true, "{store}: {object}");
        }
    }
    // What rows reference still reads in the client.
    let out = dir.path().join("b.npy");
    let got = client(
        &config,
        schema,
        &[
            "fetch-npy",
            "Blob",
            r#"{"blob_id": 3}"#,
            "in_shared",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(got["shape"], serde_json::json!([375000]));
}

fn demo_schema(schema: &str) -> (tempfile::TempDir, PathBuf) {
    common::schema_with_stores("make_demo.py", schema, false)
}

#[test]
fn names_and_values_are_never_sql() {
    let schema = "djfs_w_sql";
    let (dir, config) = demo_schema(schema);
    let mount = Mount::new(&config, Some(schema), &[]);
    let value = "it's \"quoted\"; DROP TABLE `test`; -- \\ done";
    let web = mount.path.join("WebImage/image_number=0");
    assert_eq!(
        write_file(
            &web.join("image_description"),
            format!("{value}\n").as_bytes()
        ),
        0
    );
    let row = client(
        &config,
        schema,
        &["row", "WebImage", r#"{"image_number": 0}"#],
    );
    assert_eq!(row["values"]["image_description"], value);

    // An attachment name full of SQL metacharacters (the Python client itself cannot insert it).
    let name = "it's \"odd\"; -- name.txt";
    assert_eq!(
        write_file(&mount.path.join("Test/id=2/a2").join(name), b"odd\n"),
        0
    );
    let tracked = client(&config, schema, &["tracked", "local"]);
    let found = tracked["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["attachment_name"] == name)
        .unwrap_or_else(|| panic!("{tracked}"));
    assert_eq!(found["exists_in_store"], true);
    assert!(eventually(Duration::from_secs(3), || {
        std::fs::read(mount.path.join("Test/id=2/a2").join(name)).ok() == Some(b"odd\n".to_vec())
    }));

    // Names the kernel refuses never reach djfs; a new row with a name djfs would not give it
    // (a non-canonical spelling) is refused and nothing is stored.
    let long = "x".repeat(300);
    let err = std::fs::File::create(mount.path.join("Test/id=2/a2").join(&long)).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENAMETOOLONG));
    let err = std::fs::create_dir(mount.path.join("Test/id=07")).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
    let err = std::fs::create_dir(mount.path.join("Test/nonsense")).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
    assert_eq!(
        client(&config, schema, &["rows", "Test"])["keys"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    drop(dir);
}

#[test]
fn two_mounts_and_the_client_stay_consistent() {
    let schema = "djfs_w_two";
    let (dir, config) = demo_schema(schema);
    let one = Mount::new(&config, Some(schema), &[]);
    let two = Mount::new(&config, Some(schema), &[]);
    let file = dir.path().join("same.bin");
    std::fs::write(&file, vec![42u8; 3 << 20]).unwrap();
    // The same content from both mounts at once: one object, one tracking row.
    let t1 = {
        let (f, p) = (file.clone(), one.path.join("Test/id=1/a1"));
        std::thread::spawn(move || Command::new("cp").arg(f).arg(p).status().unwrap().success())
    };
    let t2 = {
        let (f, p) = (file.clone(), two.path.join("Test/id=2/a1"));
        std::thread::spawn(move || Command::new("cp").arg(f).arg(p).status().unwrap().success())
    };
    assert!(t1.join().unwrap() && t2.join().unwrap());
    let h1 = client(
        &config,
        schema,
        &["external-info", "Test", r#"{"id": 1}"#, "a1"],
    );
    let h2 = client(
        &config,
        schema,
        &["external-info", "Test", r#"{"id": 2}"#, "a1"],
    );
    assert_eq!(h1["hash"], h2["hash"]);
    assert_eq!(h1["exists_in_store"], true);
    let tracked = client(&config, schema, &["tracked", "shared"]);
    let same: Vec<_> = tracked["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["hash"] == h1["hash"])
        .collect();
    assert_eq!(same.len(), 1);

    // The same new key from two mounts: one INSERT wins, the other gets EEXIST.
    std::fs::create_dir(one.path.join("WebImage/image_number=5")).unwrap();
    std::fs::create_dir(two.path.join("WebImage/image_number=5")).unwrap();
    let fill = |m: &Mount, name: &str| {
        let row = m.path.join("WebImage/image_number=5");
        let mut last = 0;
        for (attr, v) in [
            ("image_name", name),
            ("image_description", "d"),
            ("image_url", "u"),
        ] {
            last = write_file(&row.join(attr), format!("{v}\n").as_bytes());
        }
        last
    };
    assert_eq!(fill(&one, "first"), 0);
    assert_eq!(fill(&two, "second"), libc::EEXIST);
    let row = client(
        &config,
        schema,
        &["row", "WebImage", r#"{"image_number": 5}"#],
    );
    assert_eq!(row["values"]["image_name"], "first");

    // A row the client inserts meanwhile shows in both mounts.
    let e = client(
        &config,
        schema,
        &[
            "insert1",
            "WebImage",
            r#"{"image_number": 6, "image_name": "client", "image_description": "x", "image_url": "y"}"#,
        ],
    );
    assert_eq!(e["ok"], true, "{e}");
    for m in [&one, &two] {
        let p = m.path.join("WebImage/image_number=6/image_name");
        assert!(eventually(Duration::from_secs(3), || std::fs::read(&p)
            .ok()
            == Some(b"client\n".to_vec())));
    }
}

/// Peak resident memory of a process (VmHWM), in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap()
}

#[test]
fn a_crash_never_leaves_a_reference_to_a_missing_object_and_big_copies_stay_small() {
    let schema = "djfs_w_crash";
    let (dir, config) = demo_schema(schema);
    let big = dir.path().join("big.bin");
    {
        // 2 GiB of non-repeating bytes (so nothing upstream can shortcut it).
        let mut f = std::io::BufWriter::new(std::fs::File::create(&big).unwrap());
        let mut block = vec![0u8; 1 << 20];
        for i in 0..2048u32 {
            for (j, b) in block.iter_mut().enumerate() {
                *b = (i as usize * 31 + j * 7) as u8;
            }
            f.write_all(&block).unwrap();
        }
    }
    let before = client(
        &config,
        schema,
        &["external-info", "Test", r#"{"id": 3}"#, "a1"],
    );

    // Kill -9 at several moments of a large upload; after each, every referenced object exists.
    for delay_ms in [300u64, 1500, 4000] {
        let mount = Mount::new(&config, Some(schema), &[]);
        let pid = mount.daemon_pid().unwrap();
        let mut cp = Command::new("cp")
            .arg(&big)
            .arg(mount.path.join("Test/id=3/a1"))
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        let _ = cp.wait();
        drop(mount);
        let now = client(
            &config,
            schema,
            &["external-info", "Test", r#"{"id": 3}"#, "a1"],
        );
        assert_eq!(
            now["exists_in_store"], true,
            "after a kill at {delay_ms} ms: {now}"
        );
        for store in ["shared", "local"] {
            let unused = client(&config, schema, &["unused", store]);
            let unused: Vec<&Value> = unused["not_exists"].as_array().unwrap().iter().collect();
            for o in client(&config, schema, &["tracked", store])["objects"]
                .as_array()
                .unwrap()
            {
                if !unused.contains(&&o["hash"]) {
                    assert_eq!(o["exists_in_store"], true, "{store}: {o}");
                }
            }
        }
    }
    let _ = before;

    // The whole copy, measured: the daemon's peak memory stays far below the file size.
    let mount = Mount::new(&config, Some(schema), &[]);
    let pid = mount.daemon_pid().unwrap();
    let cp = Command::new("cp")
        .arg(&big)
        .arg(mount.path.join("Test/id=3/a1"))
        .output()
        .unwrap();
    assert!(
        cp.status.success(),
        "{:?} {}\n{}",
        cp.status,
        String::from_utf8_lossy(&cp.stderr),
        mount.log_text()
    );
    let rss = peak_rss(pid);
    println!(
        "peak RSS of the mount while copying 2 GiB into attach@shared: {} MiB",
        rss >> 20
    );
    assert!(rss < 256 << 20, "peak RSS {} MiB", rss >> 20);
    let got = client(
        &config,
        schema,
        &["external-info", "Test", r#"{"id": 3}"#, "a1"],
    );
    assert_eq!(got["tracking"]["size"], 2u64 << 30);
    assert_eq!(got["tracking"]["attachment_name"], "big.bin");
    assert_eq!(got["exists_in_store"], true);
    // Staging folders of the killed mounts are gone.
    let staging = std::env::temp_dir().join(format!("djfs-staging-{}", unsafe { libc::getuid() }));
    for entry in std::fs::read_dir(&staging).unwrap().flatten() {
        // `<pid>-<random>` (older versions: `<pid>`).
        let name = entry.file_name().to_string_lossy().to_string();
        let pid: u32 = name.split('-').next().unwrap().parse().unwrap_or(0);
        assert!(
            std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "stale {:?}",
            entry.path()
        );
    }
}
