//! The file tools people use, run for real against a mount, each result checked with the real
//! client (tests/python/client_view.py), never by djfs reading itself (issue 12's matrix; the
//! README's "File tools" table lists the same rows).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::{client, doc_attachment, Mount};
use serde_json::Value;

fn row(config: &Path, schema: &str, id: u32) -> Value {
    client(
        config,
        schema,
        &["row", "Doc", &format!(r#"{{"doc_id": {id}}}"#)],
    )
}

/// Runs a shell command line; returns its output (the test asserts on the exit status).
fn sh(script: &str) -> Output {
    Command::new("bash").arg("-c").arg(script).output().unwrap()
}

#[track_caller]
fn ok(out: Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: exit {:?}\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn schema(name: &str) -> (tempfile::TempDir, PathBuf) {
    common::schema_with_stores("make_regressions.py", name, false)
}

/// cp, cp -r (new row, a row duplicated under a new key, into an existing row), mv, install.
#[test]
fn copying_in() {
    let schema_name = "djfs_t_copy";
    let (dir, config) = schema(schema_name);
    let mount = Mount::new(&config, Some(schema_name), &[]);
    let doc = mount.path.join("Doc");
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("pic")).unwrap();
    std::fs::write(src.join("title"), "copied title\n").unwrap();
    std::fs::write(src.join("pic/photo.jpg"), b"\xff\xd8 jpeg bytes").unwrap();

    // cp of a file into an attachment folder, and of a scalar.
    ok(
        sh(&format!(
            "cp '{}' '{}/doc_id=2/pic/' && cp '{}' '{}/doc_id=2/title'",
            src.join("pic/photo.jpg").display(),
            doc.display(),
            src.join("title").display(),
            doc.display()
        )),
        "cp",
    );
    assert_eq!(
        doc_attachment(&config, schema_name, 2, "pic"),
        Some(("photo.jpg".into(), b"\xff\xd8 jpeg bytes".to_vec()))
    );
    assert_eq!(
        row(&config, schema_name, 2)["values"]["title"],
        "copied title"
    );

    // cp -r of a folder as a new row.
    ok(
        sh(&format!(
            "cp -r '{}' '{}/doc_id=30'",
            src.display(),
            doc.display()
        )),
        "cp -r new row",
    );
    let r = row(&config, schema_name, 30);
    assert_eq!(r["values"]["title"], "copied title", "{r}");
    assert_eq!(
        doc_attachment(&config, schema_name, 30, "pic").unwrap().0,
        "photo.jpg"
    );

    // cp -r of a row folder copied out of the mount, under a new key (its `doc_id` file says 1).
    let out_copy = dir.path().join("row1");
    ok(
        sh(&format!(
            "cp -r '{}/doc_id=1' '{}'",
            doc.display(),
            out_copy.display()
        )),
        "cp -r out",
    );
    ok(
        sh(&format!(
            "cp -r '{}' '{}/doc_id=31'",
            out_copy.display(),
            doc.display()
        )),
        "cp -r duplicate under a new key",
    );
    let (one, dup) = (row(&config, schema_name, 1), row(&config, schema_name, 31));
    for attr in ["title", "notes"] {
        assert_eq!(one["values"][attr], dup["values"][attr], "{attr}");
    }
    for attr in ["pic", "pic_s3", "pic_in"] {
        assert_eq!(
            doc_attachment(&config, schema_name, 1, attr),
            doc_attachment(&config, schema_name, 31, attr),
            "{attr}"
        );
    }
    assert_eq!(
        one["values"]["arr"]["blob"]["hash"], dup["values"]["arr"]["blob"]["hash"],
        "the blob is the same object"
    );

    // cp -r of a folder's contents into an existing row.
    std::fs::write(src.join("notes"), "merged notes\n").unwrap();
    ok(
        sh(&format!(
            "cp -r '{}/.' '{}/doc_id=3/'",
            src.display(),
            doc.display()
        )),
        "cp -r into a row",
    );
    let r = row(&config, schema_name, 3);
    assert_eq!(r["values"]["notes"], "merged notes");
    assert_eq!(r["values"]["title"], "copied title");

    // mv of a file from outside into an attachment folder; install of a scalar.
    let moved = dir.path().join("moved.txt");
    std::fs::write(&moved, "moved in\n").unwrap();
    ok(
        sh(&format!(
            "mv '{}' '{}/doc_id=4/pic_s3/'",
            moved.display(),
            doc.display()
        )),
        "mv",
    );
    assert!(!moved.exists());
    assert_eq!(
        doc_attachment(&config, schema_name, 4, "pic_s3"),
        Some(("moved.txt".into(), b"moved in\n".to_vec()))
    );
    std::fs::write(dir.path().join("inst"), "installed\n").unwrap();
    ok(
        sh(&format!(
            "install -m 644 '{}' '{}/doc_id=4/notes'",
            dir.path().join("inst").display(),
            doc.display()
        )),
        "install",
    );
    assert_eq!(row(&config, schema_name, 4)["values"]["notes"], "installed");
}

/// rsync -a in (existing and new row), --inplace, and out twice with a same-size change made
/// by the client in between (copies exactly the changed file).
#[test]
fn rsync_both_ways() {
    let schema_name = "djfs_t_rsync";
    let (dir, config) = schema(schema_name);
    let mount = Mount::new(&config, Some(schema_name), &[]);
    let doc = mount.path.join("Doc");
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("pic")).unwrap();
    // (Not the size of the titles there: rsync's quick check skips a file of the same size and
    // modification second, on any filesystem.)
    std::fs::write(src.join("title"), "synced title\n").unwrap();
    std::fs::write(src.join("pic/new.png"), b"\x89PNG not really").unwrap();
    for id in [2, 40] {
        ok(
            sh(&format!(
                "rsync -a '{}/' '{}/doc_id={id}/'",
                src.display(),
                doc.display()
            )),
            "rsync -a in",
        );
        assert_eq!(
            row(&config, schema_name, id)["values"]["title"],
            "synced title"
        );
        assert_eq!(
            doc_attachment(&config, schema_name, id, "pic"),
            Some(("new.png".into(), b"\x89PNG not really".to_vec())),
            "row {id}: stored under its own name, not rsync's temporary one"
        );
    }
    std::fs::write(src.join("title"), "SYNCED TITLE\n").unwrap();
    ok(
        sh(&format!(
            "rsync -a --inplace '{}/' '{}/doc_id=2/'",
            src.display(),
            doc.display()
        )),
        "rsync --inplace",
    );
    assert_eq!(
        row(&config, schema_name, 2)["values"]["title"],
        "SYNCED TITLE"
    );

    // Out, twice, with a same-size change by the client in between. First past the time a row
    // made here shows only the files written to it (`NEW_ROW_VIEWS`): both copies then see the
    // same files, however slowly a busy machine runs the steps between them (the second used to
    // see a new row's other files when the first came within that time and the second after it).
    std::thread::sleep(djfs::fs::NEW_ROW_VIEWS);
    let backup = dir.path().join("backup");
    ok(
        sh(&format!(
            "rsync -a '{}/' '{}/'",
            doc.display(),
            backup.display()
        )),
        "rsync -a out",
    );
    std::thread::sleep(Duration::from_millis(1100));
    client(
        &config,
        schema_name,
        &[
            "sql",
            "UPDATE `{schema}`.`doc` SET title = 'FIRST' WHERE doc_id = 1",
        ],
    );
    std::thread::sleep(Duration::from_millis(1500)); // past --refresh
    let out = sh(&format!(
        "rsync -a --itemize-changes '{}/' '{}/'",
        doc.display(),
        backup.display()
    ));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    ok(out, "rsync -a out again");
    let copied: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with(">f"))
        .map(|l| l.split_once(' ').unwrap().1)
        .collect();
    assert_eq!(copied, vec!["doc_id=1/title"], "{text}");
    assert_eq!(
        std::fs::read(backup.join("doc_id=1/title")).unwrap(),
        b"FIRST\n"
    );
}

/// tar -x into a table, Python's atomic write, vim, truncate, touch, >, >>, dd conv=notrunc.
#[test]
fn editing_tools() {
    let schema_name = "djfs_t_edit";
    let (dir, config) = schema(schema_name);
    let mount = Mount::new(&config, Some(schema_name), &[]);
    let doc = mount.path.join("Doc");
    let r1 = doc.join("doc_id=1");

    // tar -x of rows into the table.
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(tree.join("doc_id=60/pic")).unwrap();
    std::fs::write(tree.join("doc_id=60/title"), "from tar\n").unwrap();
    std::fs::write(tree.join("doc_id=60/pic/t.txt"), "tarred\n").unwrap();
    ok(
        sh(&format!(
            "tar -C '{}' -cf '{}/rows.tar' doc_id=60 && tar -C '{}' -xf '{}/rows.tar'",
            tree.display(),
            dir.path().display(),
            doc.display(),
            dir.path().display()
        )),
        "tar -x",
    );
    assert_eq!(row(&config, schema_name, 60)["values"]["title"], "from tar");
    assert_eq!(
        doc_attachment(&config, schema_name, 60, "pic"),
        Some(("t.txt".into(), b"tarred\n".to_vec()))
    );

    // Python: tempfile in the folder + os.replace.
    common::run_ok(Command::new(&common::env().python).arg("-c").arg(format!(
        "import os, tempfile\n\
         fd, p = tempfile.mkstemp(dir={d:?}); os.write(fd, b'atomic\\n'); os.close(fd)\n\
         os.replace(p, os.path.join({d:?}, 'notes'))",
        d = r1.display().to_string()
    )));
    assert_eq!(row(&config, schema_name, 1)["values"]["notes"], "atomic");
    let names: Vec<String> = std::fs::read_dir(&r1)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.starts_with("tmp")), "{names:?}");

    // vim -es editing a scalar file in place.
    ok(
        sh(&format!(
            "vim -es -u NONE -c '%s/atomic/edited by vim/' -c 'wq' '{}'",
            r1.join("notes").display()
        )),
        "vim",
    );
    assert_eq!(
        row(&config, schema_name, 1)["values"]["notes"],
        "edited by vim"
    );

    // truncate, touch, >, >>, dd conv=notrunc.
    ok(
        sh(&format!("truncate -s 6 '{}'", r1.join("notes").display())),
        "truncate",
    );
    assert_eq!(row(&config, schema_name, 1)["values"]["notes"], "edited");
    ok(
        sh(&format!("touch '{}'", r1.join("notes").display())),
        "touch",
    );
    assert_eq!(row(&config, schema_name, 1)["values"]["notes"], "edited");
    ok(
        sh(&format!("echo shell > '{}'", r1.join("notes").display())),
        ">",
    );
    ok(
        sh(&format!("echo more >> '{}'", r1.join("notes").display())),
        ">>",
    );
    assert_eq!(
        row(&config, schema_name, 1)["values"]["notes"],
        "shell\nmore"
    );
    ok(
        sh(&format!(
            "printf XY | dd of='{}' bs=1 seek=1 conv=notrunc status=none",
            r1.join("notes").display()
        )),
        "dd conv=notrunc",
    );
    assert_eq!(
        row(&config, schema_name, 1)["values"]["notes"],
        "sXYll\nmore"
    );
}

/// find -newer, du, stat and mmap reads, against what the client fetches.
#[test]
fn looking_and_reading() {
    let schema_name = "djfs_t_look";
    let (dir, config) = schema(schema_name);
    let mount = Mount::new(&config, Some(schema_name), &[]);
    let r1 = mount.path.join("Doc/doc_id=1");
    let (name, bytes) = doc_attachment(&config, schema_name, 1, "pic_in").unwrap();
    let file = r1.join("pic_in").join(&name);

    // stat and du: the sizes of what the client fetches.
    let out = sh(&format!("stat -c %s '{}'", file.display()));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        bytes.len().to_string()
    );
    let out = sh(&format!("du -b '{}'", file.display()));
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with(&format!("{}\t", bytes.len())),
        "{out:?}"
    );

    // mmap reads.
    let out = Command::new(&common::env().python)
        .arg("-c")
        .arg(format!(
            "import mmap, sys\n\
             f = open({:?}, 'rb'); m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)\n\
             sys.stdout.buffer.write(m[:])",
            file.display().to_string()
        ))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, bytes);

    // find -newer: a value changed after the marker is newer, the others are not (djfs dates a
    // change it has seen: the tree was looked at before, as a backup run would have).
    ok(
        sh(&format!(
            "find '{}' -type f > /dev/null",
            mount.path.display()
        )),
        "find",
    );
    let marker = dir.path().join("marker");
    std::fs::write(&marker, "").unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    client(
        &config,
        schema_name,
        &[
            "sql",
            "UPDATE `{schema}`.`doc` SET notes = 'changed' WHERE doc_id = 2",
        ],
    );
    std::thread::sleep(Duration::from_millis(1500));
    let out = sh(&format!(
        "find '{}' -type f -newer '{}'",
        mount.path.join("Doc").display(),
        marker.display()
    ));
    let newer: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            l.strip_prefix(&format!("{}/", mount.path.display()))
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(newer, vec!["Doc/doc_id=2/notes".to_string()]);
}

/// A real image viewer (feh under Xvfb) opens a PNG view and an attached JPEG from the mount:
/// the screenshot is not blank and has the picture's size.
#[test]
fn an_image_viewer_opens_pictures_from_the_mount() {
    let schema_name = "djfs_t_viewer";
    let (dir, config) = common::schema_with_stores("make_demo.py", schema_name, false);
    let mount = Mount::new(&config, Some(schema_name), &[]);
    let png = mount.path.join("Slide/image_number=0/image_array.png");
    let jpg_dir = mount.path.join("OriginalFile/image_number=0/image_file");
    let jpg = std::fs::read_dir(&jpg_dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let display = ":97";
    let mut xvfb = Command::new("Xvfb")
        .args([
            display,
            "-screen",
            "0",
            "800x600x24",
            "-br",
            "-nolisten",
            "tcp",
        ])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("Xvfb (scripts/install)");
    std::thread::sleep(Duration::from_millis(1500));
    for (picture, (w, h)) in [(&png, (300, 200)), (&jpg, (0, 0))] {
        let mut feh = Command::new("feh")
            .env("DISPLAY", display)
            .args(["--borderless", "--geometry", "+0+0"])
            .arg(picture)
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(2500));
        let shot = dir.path().join("shot.png");
        let out = Command::new("import")
            .env("DISPLAY", display)
            .args(["-window", "root"])
            .arg(&shot)
            .output()
            .unwrap();
        let _ = feh.kill();
        let _ = feh.wait();
        assert!(out.status.success(), "{out:?}");
        // Mean and standard deviation of the screenshot, and the viewer's window size.
        let stats = Command::new("identify")
            .args(["-format", "%[fx:standard_deviation]"])
            .arg(&shot)
            .output()
            .unwrap();
        let deviation: f64 = String::from_utf8_lossy(&stats.stdout)
            .trim()
            .parse()
            .unwrap();
        assert!(deviation > 0.01, "{}: blank screenshot", picture.display());
        if w > 0 {
            // The window shows the 300×200 picture at the top left of a black screen: the
            // first row below it and the first column right of it are background.
            let crop = |geometry: &str| {
                let out = Command::new("convert")
                    .arg(&shot)
                    .args(["-crop", geometry, "-format", "%[fx:maxima]", "info:"])
                    .output()
                    .unwrap();
                String::from_utf8_lossy(&out.stdout)
                    .trim()
                    .parse::<f64>()
                    .unwrap()
            };
            assert!(crop(&format!("{w}x{h}+0+0")) > 0.0, "picture area is black");
            assert_eq!(crop(&format!("100x100+{w}+{h}")), 0.0, "beyond the picture");
        }
    }
    let _ = xvfb.kill();
    let _ = xvfb.wait();
}
