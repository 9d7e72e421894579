//! Issue 12's rough edges, through real mounts and the real `djfs` command, checked with the real
//! client (tests/python/client_view.py):
//!
//! * copy tools that carry ACLs and extended attributes (`cp -p`, `cp -a`, `rsync -aAX`,
//!   `tar --xattrs`) finish with exit 0 and store the bytes (needs `rsync`, `acl` and `attr`,
//!   which `scripts/install` installs);
//! * `djfs gc` writes no `\r` when stderr is not a terminal, and plain per-store lines;
//! * a refused connection, a missing config and the `mount` usage are said in plain words.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{client, run_ok, Mount};
use serde_json::Value;

/// A tool's command; panics when the tool is missing (scripts/install installs it).
fn tool(name: &str) -> Command {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(found, "{name} is not installed: run scripts/install");
    Command::new(name)
}

/// Gives `path` (a file or a folder) what copy tools carry over: a `user.*` extended attribute
/// and an ACL entry beyond the mode bits; folders also get a default ACL.
fn decorate(path: &Path) {
    run_ok(
        tool("setfattr")
            .args(["-n", "user.origin", "-v", "lab notebook"])
            .arg(path),
    );
    run_ok(tool("setfacl").args(["-m", "u:nobody:r"]).arg(path));
    if path.is_dir() {
        run_ok(tool("setfacl").args(["-d", "-m", "u:nobody:rx"]).arg(path));
    }
}

/// `decorate` on a whole tree.
fn decorate_tree(root: &Path) {
    decorate(root);
    for entry in std::fs::read_dir(root).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            decorate_tree(&path);
        } else {
            decorate(&path);
        }
    }
}

/// A command that must exit 0, with nothing said about attributes or permissions.
fn quiet_ok(cmd: &mut Command) -> Output {
    let out = run_ok(cmd);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.trim().is_empty(), "{cmd:?} said:\n{stderr}");
    out
}

/// The client fetches attachment `attr` of `Test` row `id`: its name and bytes.
fn client_attachment(
    config: &Path,
    schema: &str,
    id: u32,
    attr: &str,
    scratch: &Path,
) -> (String, Vec<u8>) {
    let out = scratch.join(format!("fetched-{id}-{attr}"));
    let r = client(
        config,
        schema,
        &[
            "fetch-attach",
            "Test",
            &format!(r#"{{"id": {id}}}"#),
            attr,
            out.to_str().unwrap(),
        ],
    );
    let path = r["path"]
        .as_str()
        .unwrap_or_else(|| panic!("Test id={id} {attr}: the client fetched nothing: {r}"));
    (
        r["attachment_name"].as_str().unwrap().to_string(),
        std::fs::read(path).unwrap(),
    )
}

/// The client's value of `attr` in `Test` row `id` equals the array saved in `expected`.
fn assert_client_array(config: &Path, schema: &str, id: u32, attr: &str, expected: &Path) {
    let fetched = expected.with_extension(format!("{id}.fetched.npy"));
    let f = fetched.to_str().unwrap();
    let key = format!(r#"{{"id": {id}}}"#);
    client(config, schema, &["fetch-npy", "Test", &key, attr, f]);
    let eq = client(config, "-", &["npy-equal", expected.to_str().unwrap(), f]);
    assert_eq!(eq["equal"], true, "Test id={id} {attr}: {eq}");
}

fn web_image(config: &Path, schema: &str, number: u32) -> Value {
    let key = format!(r#"{{"image_number": {number}}}"#);
    client(config, schema, &["row", "WebImage", &key])["values"].clone()
}

#[test]
fn cp_preserving_acls_and_xattrs_finishes_and_stores_the_bytes() {
    let schema = "djfs_e_cp";
    let (dir, config) = common::schema_with_stores("make_demo.py", schema, false);
    let mount = Mount::new(&config, Some(schema), &[]);
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    let scratch = dir.path().join("scratch");
    std::fs::create_dir(&scratch).unwrap();

    // Files with an ACL and a user.* attribute: into attachment folders (S3, folder store) and
    // onto scalar attributes, with cp -p and cp -a.
    let notes = src.join("notes.txt");
    std::fs::write(&notes, b"copied with cp -p\n").unwrap();
    let data = src.join("data.bin");
    let bytes: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&data, &bytes).unwrap();
    let name = src.join("image_name");
    std::fs::write(&name, b"copied-p\n").unwrap();
    let description = src.join("image_description");
    std::fs::write(&description, b"copied with cp -a\n").unwrap();
    for f in [&notes, &data, &name, &description] {
        decorate(f);
    }
    let m = &mount.path;
    quiet_ok(
        Command::new("cp")
            .arg("-p")
            .arg(&notes)
            .arg(m.join("Test/id=1/a1/")),
    );
    quiet_ok(
        Command::new("cp")
            .arg("-a")
            .arg(&data)
            .arg(m.join("Test/id=2/a2/")),
    );
    quiet_ok(
        Command::new("cp")
            .arg("-p")
            .arg(&name)
            .arg(m.join("WebImage/image_number=0/image_name")),
    );
    quiet_ok(
        Command::new("cp")
            .arg("-a")
            .arg(&description)
            .arg(m.join("WebImage/image_number=1/image_description")),
    );

    let (n, b) = client_attachment(&config, schema, 1, "a1", &scratch);
    assert_eq!(
        (n.as_str(), b.as_slice()),
        ("notes.txt", &b"copied with cp -p\n"[..])
    );
    let (n, b) = client_attachment(&config, schema, 2, "a2", &scratch);
    assert_eq!(n, "data.bin");
    assert_eq!(b, bytes);
    assert_eq!(web_image(&config, schema, 0)["image_name"], "copied-p");
    assert_eq!(
        web_image(&config, schema, 1)["image_description"],
        "copied with cp -a"
    );

    // The calls themselves: setting is accepted without effect, listing gives none.
    let file = m.join("Test/id=1/b0.npy");
    quiet_ok(
        tool("setfattr")
            .args(["-n", "user.x", "-v", "1"])
            .arg(&file),
    );
    quiet_ok(tool("setfacl").args(["-m", "u:nobody:r"]).arg(&file));
    let listed = quiet_ok(tool("getfattr").args(["-d", "-m", "-"]).arg(&file));
    assert!(listed.stdout.is_empty(), "{listed:?}");
    drop(mount);

    // A read-only mount refuses them as it refuses every change.
    let ro = Mount::new(&config, Some(schema), &["--read-only"]);
    let out = tool("setfattr")
        .args(["-n", "user.x", "-v", "1"])
        .arg(ro.path.join("Test/id=1/b0.npy"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("Read-only file system"), "{said}");
}

#[test]
fn rsync_and_tar_with_acls_and_xattrs_fill_new_rows() {
    let schema = "djfs_e_trees";
    let (dir, config) = common::schema_with_stores("make_demo.py", schema, false);
    let mount = Mount::new(&config, Some(schema), &[]);
    let e = common::env();

    // A row of `Test` as a tree: three arrays and three attachments, every entry with an ACL
    // and a user.* attribute.
    let row = dir.path().join("row");
    for a in ["a0", "a1", "a2"] {
        std::fs::create_dir_all(row.join(a)).unwrap();
    }
    for i in 0..3 {
        run_ok(Command::new(&e.python).arg("-c").arg(format!(
            "import numpy as np; np.save({:?}, np.arange(12.0).reshape(3, 4) * {})",
            row.join(format!("b{i}.npy")).display().to_string(),
            i + 1
        )));
    }
    let attachments: [(&str, &str, Vec<u8>); 3] = [
        ("a0", "zero.txt", b"in the table\n".to_vec()),
        (
            "a1",
            "one.bin",
            (0..3000u32).map(|i| (i % 253) as u8).collect(),
        ),
        ("a2", "two é.txt", b"in the folder store\n".to_vec()),
    ];
    for (attr, name, bytes) in &attachments {
        std::fs::write(row.join(attr).join(name), bytes).unwrap();
    }
    decorate_tree(&row);
    let tar = dir.path().join("row.tar");
    run_ok(
        Command::new("tar")
            .args(["--xattrs", "--acls", "-cf"])
            .arg(&tar)
            .arg("-C")
            .arg(&row)
            .arg("."),
    );

    let table = mount.path.join("Test");
    // rsync writes each file under a temporary name and renames it onto the attribute (a
    // temporary file, stored under the final name at the rename).
    quiet_ok(
        tool("rsync")
            .args(["-aAX"])
            .arg(format!("{}/", row.display()))
            .arg(format!("{}/", table.join("id=12").display())),
    );
    for (id, flags) in [(13, &["--xattrs"][..]), (14, &["--xattrs", "--acls"][..])] {
        let target = table.join(format!("id={id}"));
        std::fs::create_dir(&target).unwrap();
        quiet_ok(
            Command::new("tar")
                .args(flags)
                .arg("-xf")
                .arg(&tar)
                .arg("-C")
                .arg(&target),
        );
    }

    // `cp -a` of a row folder under a new key, in this mount and into
    // another mount of the schema: the key file says 12 (ignored in a new row), and every
    // ACL, attribute and time cp -a carries is accepted without effect.
    let other = Mount::new(&config, Some(schema), &[]);
    quiet_ok(
        Command::new("cp")
            .arg("-a")
            .arg(table.join("id=12"))
            .arg(table.join("id=15")),
    );
    quiet_ok(
        Command::new("cp")
            .arg("-a")
            .arg(table.join("id=12"))
            .arg(other.path.join("Test/id=16")),
    );
    drop(other);

    let scratch = dir.path().join("scratch");
    std::fs::create_dir(&scratch).unwrap();
    for id in [12, 13, 14, 15, 16] {
        for i in 0..3 {
            assert_client_array(
                &config,
                schema,
                id,
                &format!("b{i}"),
                &row.join(format!("b{i}.npy")),
            );
        }
        for (attr, name, bytes) in &attachments {
            let (n, b) = client_attachment(&config, schema, id, attr, &scratch);
            assert_eq!(&n, name, "Test id={id} {attr}");
            assert_eq!(&b, bytes, "Test id={id} {attr}");
        }
    }
    // Nothing was stored twice: no object of these rows is unused (a file made by tar's mknod
    // is stored once, with its bytes).
    for store in ["shared", "local"] {
        let unused = client(&config, schema, &["unused", store]);
        assert_eq!(
            unused["not_exists"],
            serde_json::json!([]),
            "{store}: {unused}"
        );
    }
}

#[test]
fn gc_writes_plain_lines_when_stderr_is_not_a_terminal() {
    let schema = "djfs_e_gc";
    let (dir, config) = common::schema_with_stores("make_demo.py", schema, false);
    // Row 2's objects are its own: deleting the row leaves them unused.
    let r = client(&config, schema, &["delete", "Test", r#"{"id": 2}"#]);
    assert_eq!(r["deleted"], true, "{r}");
    let unused: usize = ["shared", "local"]
        .iter()
        .map(|s| {
            client(&config, schema, &["unused", s])["not_exists"]
                .as_array()
                .unwrap()
                .len()
        })
        .sum();
    assert!(unused >= 2, "{unused}");

    let log = dir.path().join("gc.log");
    let out = common::djfs()
        .args(["gc", "--dry-run", "--config"])
        .arg(&config)
        .arg(schema)
        .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert!(!stderr.contains('\r'), "{stderr:?}");
    assert!(!stderr.contains('\x1b'), "{stderr:?}");
    for store in ["shared", "local"] {
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with(&format!("{store}: would delete "))
                    && l.ends_with(" bytes")),
            "{stderr:?}"
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with(&format!("would delete {unused} objects, ")),
        "{stdout}"
    );
}

/// The config of a demo schema with another password.
fn wrong_password_config(dir: &Path) -> PathBuf {
    let good = common::write_config(dir, "");
    let mut json: Value = serde_json::from_str(&std::fs::read_to_string(&good).unwrap()).unwrap();
    json["database.password"] = Value::from("not the password");
    let bad = dir.join("bad.json");
    std::fs::write(&bad, json.to_string()).unwrap();
    // Private, so that the only line is the reason.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&bad, std::fs::Permissions::from_mode(0o600)).unwrap();
    bad
}

#[test]
fn a_refused_login_is_one_plain_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = wrong_password_config(dir.path());
    let mountpoint = dir.path().join("mnt");
    std::fs::create_dir(&mountpoint).unwrap();
    let e = common::env();
    let (host, port) = e.db_host.rsplit_once(':').unwrap_or((&e.db_host, "3306"));
    let gc = common::djfs()
        .args(["gc", "--config"])
        .arg(&bad)
        .arg("djfs_e_any")
        .output()
        .unwrap();
    let mount = common::djfs()
        .args(["mount", "--config"])
        .arg(&bad)
        .arg("djfs_e_any")
        .arg(&mountpoint)
        .output()
        .unwrap();
    for out in [gc, mount] {
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(!stderr.contains("MySqlError {"), "{stderr}");
        let start = format!(
            "djfs: cannot connect to the database at {host}:{port} as {}: access denied \
             (ERROR 1045: Access denied for user '{}'@",
            e.db_user, e.db_user
        );
        assert!(stderr.starts_with(&start), "{stderr}");
    }
}

#[test]
fn no_config_anywhere_says_where_it_looked() {
    let cwd = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let mountpoint = cwd.path().join("mnt");
    std::fs::create_dir(&mountpoint).unwrap();
    let expected = format!(
        "djfs: no DataJoint config found (looked for --config FILE, ./dj_local_conf.json, \
         datajoint.json in {} and the folders above it (up to one holding .git or .hg), \
         {}/.datajoint_config.json) and DJ_USER is not set\n",
        cwd.path().canonicalize().unwrap().display(),
        home.path().display()
    );
    for args in [
        &["gc", "djfs_e_any"][..],
        &["mount", "djfs_e_any", "mnt"][..],
    ] {
        let out = common::djfs()
            .args(args)
            .current_dir(cwd.path())
            .env("HOME", home.path())
            .env_remove("XDG_STATE_HOME")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), expected, "{args:?}");
    }
}

#[test]
fn mount_usage_names_schema_and_mountpoint() {
    let help = run_ok(common::djfs().args(["mount", "--help"]));
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("Usage: djfs mount [OPTIONS] [SCHEMA] MOUNTPOINT\n"),
        "{help}"
    );
    let out = common::djfs().arg("mount").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("Usage: djfs mount [OPTIONS] [SCHEMA] MOUNTPOINT"));
    // One argument is the mountpoint; two are the schema and the mountpoint; three are refused.
    let dir = tempfile::tempdir().unwrap();
    let config = common::write_config(dir.path(), "");
    let missing = dir.path().join("no-such-folder");
    let reason = format!("mountpoint {} does not exist", missing.display());
    for args in [
        vec![missing.as_os_str()],
        vec!["djfs_e_any".as_ref(), missing.as_os_str()],
    ] {
        let out = common::djfs()
            .args(["mount", "--config"])
            .arg(&config)
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(&reason), "{args:?}: {stderr}");
    }
    let out = common::djfs()
        .args(["mount", "a", "b", "c"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
