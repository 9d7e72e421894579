//! Real mounts of schemas written by the real DataJoint client (datajoint 0.14.10), compared
//! with what the client fetches by tests/python/check_mount.py.

mod common;

use std::os::unix::fs::MetadataExt;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use common::{eventually, python, python_status, write_config, Mount};

const REF_SCHEMA: &str = "djfs_it_ref";

/// The reference schema, made once per run of this test binary.
fn reference_schema() -> &'static str {
    static MADE: OnceLock<()> = OnceLock::new();
    MADE.get_or_init(|| {
        python("make_reference.py", &[REF_SCHEMA]);
    });
    REF_SCHEMA
}

fn check(mount: &Mount, schema: &str, extra: &[&str]) {
    let mut args = vec![mount.path.to_str().unwrap(), schema];
    args.extend_from_slice(extra);
    let (ok, output) = python_status("check_mount.py", &args);
    assert!(
        ok && output.contains(" 0 failed"),
        "check_mount found differences:\n{output}\ndjfs log:\n{}",
        mount.log_text()
    );
    let passed: usize = output
        .lines()
        .rev()
        .find_map(|l| l.strip_suffix(" passed, 0 failed"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    assert!(passed > 100, "too few checks ran:\n{output}");
}

#[test]
fn reference_schema_matches_the_client() {
    let schema = reference_schema();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let mount = Mount::new(&config, Some(schema), &[]);
    check(&mount, schema, &[]);
}

#[test]
fn read_only_mount_matches_the_client() {
    let schema = reference_schema();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let mount = Mount::new(&config, Some(schema), &["--read-only"]);
    check(&mount, schema, &["--read-only"]);
    let meta = std::fs::metadata(mount.path.join("Subject")).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o555);
}

#[test]
fn all_schemas_mount_shows_each_schema_as_a_folder() {
    let schema = reference_schema();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let mount = Mount::new(&config, None, &[]);
    let names: Vec<String> = std::fs::read_dir(&mount.path)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.contains(&schema.to_string()), "{names:?}");
    for system in ["mysql", "sys", "information_schema", "performance_schema"] {
        assert!(
            !names.contains(&system.to_string()),
            "{system} shown: {names:?}"
        );
    }
    assert_eq!(
        std::fs::metadata(mount.path.join("no_such_schema"))
            .unwrap_err()
            .raw_os_error(),
        Some(libc::ENOENT)
    );
    check(&mount, schema, &["--all-schemas"]);
}

#[test]
fn seed_demo_schema_matches_the_client() {
    let (_dir, config) = common::schema_with_stores("make_demo.py", "djfs_it_demo", false);
    let e = common::env();
    let mount = Mount::new(&config, Some("djfs_it_demo"), &[]);
    check(
        &mount,
        "djfs_it_demo",
        &["--config", config.to_str().unwrap()],
    );
    // The seed's tables are all there, by class name.
    for table in ["Test", "WebImage", "OriginalFile", "Slide"] {
        assert!(mount.path.join(table).is_dir(), "{table}");
    }
    // The attached pictures (attach@shared, on S3) open in an image library, straight from the
    // mount, with the size of the Slide arrays made from them.
    let script = format!(
        "import glob, numpy as np\nfrom PIL import Image\n\
         for f in sorted(glob.glob('{m}/OriginalFile/*/image_file/*.jpg')):\n\
         \x20   im = Image.open(f); im.load(); print(f, im.size, im.mode)\n\
         \x20   key = f.split('/')[-3]\n\
         \x20   a = np.load('{m}/Slide/' + key + '/image_array.npy')\n\
         \x20   assert a.shape == (im.size[1], im.size[0], 3), (a.shape, im.size)\n\
         \x20   assert (np.asarray(im.convert('RGB')) == a).all()\n",
        m = mount.path.display()
    );
    let out = common::run_ok(Command::new(&e.python).arg("-c").arg(&script));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2);
}

#[test]
fn changes_by_other_clients_show_within_the_refresh_delay() {
    let schema = "djfs_it_changes";
    python("make_reference.py", &[schema]);
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let mount = Mount::new(&config, Some(schema), &[]);
    let row = mount.path.join("Subject/subject_id=4242");
    let listed = || {
        std::fs::read_dir(mount.path.join("Subject"))
            .unwrap()
            .any(|e| e.unwrap().file_name() == "subject_id=4242")
    };
    assert!(!row.exists() && !listed());

    python("mutate.py", &["insert-subject", schema, "4242", "newcomer"]);
    // Default refresh is 1 s; allow scheduling slack.
    assert!(eventually(Duration::from_secs(3), || row.exists() && listed()));
    assert_eq!(
        std::fs::read_to_string(row.join("subject_name")).unwrap(),
        "newcomer\n"
    );

    python("mutate.py", &["delete-subject", schema, "4242"]);
    assert!(eventually(Duration::from_secs(3), || !row.exists() && !listed()));
}

#[test]
fn corrupt_blobs_read_as_eio_with_a_log_line() {
    let schema = "djfs_it_corrupt";
    python("make_reference.py", &[schema]);
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let mount = Mount::new(&config, Some(schema), &["--refresh", "0"]);
    // Pick a compressed and an uncompressed array by their descriptions.
    let arrays = mount.path.join("Arrays");
    let find = |needle: &str| -> String {
        std::fs::read_dir(&arrays)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_dir())
            .find(|p| {
                std::fs::read_to_string(p.join("description"))
                    .unwrap()
                    .contains(needle)
            })
            .unwrap_or_else(|| panic!("no array described as {needle}"))
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned()
    };
    for row in [find("arange(100000)"), find("zeros(121)")] {
        let npy = arrays.join(&row).join("value.npy");
        assert!(std::fs::read(&npy).is_ok(), "{row} readable before");
        let id = row.strip_prefix("array_id=").unwrap();
        python("mutate.py", &["corrupt-blob", schema, id]);
        let err = std::fs::read(&npy).expect_err("corrupt blob must not read");
        assert_eq!(err.raw_os_error(), Some(libc::EIO), "{row}: {err}");
        let log = mount.log_text();
        assert!(
            log.lines()
                .any(|l| l.contains("Arrays") && l.contains(&row) && l.contains("value")),
            "no log line naming table, row and attribute for {row}:\n{log}"
        );
        // The rest of the table still lists.
        assert!(std::fs::read_dir(&arrays).unwrap().count() > 10);
    }
}

#[test]
fn bad_mounts_fail_with_a_one_line_reason() {
    let schema = reference_schema();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let run = |args: &[&str]| {
        let out = common::djfs().arg("mount").args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "{args:?} should fail");
        assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr:?}");
        stderr
    };
    let cfg = config.to_str().unwrap();
    let mp = mnt.to_str().unwrap();

    let unreachable = dir.path().join("unreachable.json");
    std::fs::write(
        &unreachable,
        r#"{"database.host": "127.0.0.1", "database.port": 1, "database.user": "u", "database.password": "secret-pw-1"}"#,
    )
    .unwrap();
    let msg = run(&["--config", unreachable.to_str().unwrap(), schema, mp]);
    assert!(msg.contains("cannot connect"), "{msg}");
    assert!(!msg.contains("secret-pw-1"));

    let msg = run(&["--config", cfg, "no_such_schema_xyz", mp]);
    assert!(msg.contains("unknown schema"), "{msg}");

    let missing = dir.path().join("missing");
    let msg = run(&["--config", cfg, schema, missing.to_str().unwrap()]);
    assert!(msg.contains("does not exist"), "{msg}");

    let busy = Mount::new(&config, Some(schema), &[]);
    let msg = run(&["--config", cfg, schema, busy.path.to_str().unwrap()]);
    assert!(msg.contains("busy"), "{msg}");

    let e = common::env();
    let wrong_pw = dir.path().join("wrong.json");
    std::fs::write(
        &wrong_pw,
        format!(
            r#"{{"database.host": "{}", "database.user": "{}", "database.password": "not-the-password"}}"#,
            e.db_host, e.db_user
        ),
    )
    .unwrap();
    let msg = run(&["--config", wrong_pw.to_str().unwrap(), schema, mp]);
    assert!(
        msg.contains("cannot connect") && !msg.contains("not-the-password"),
        "{msg}"
    );
}

#[test]
fn the_password_is_not_in_the_process_title_or_log() {
    let schema = reference_schema();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let mount = Mount::new(&config, Some(schema), &["--log-level", "debug"]);
    let _ = std::fs::read_dir(mount.path.join("Arrays"))
        .unwrap()
        .count();
    let pid = mount.daemon_pid().expect("daemon running");
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let password = common::env().db_pass;
    assert!(!String::from_utf8_lossy(&cmdline).contains(&password));
    let log = mount.log_text();
    assert!(log.contains("connecting"), "log has content: {log}");
    assert!(!log.contains(&password));
}

#[test]
fn unmount_ends_the_daemon() {
    let schema = reference_schema();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let mount = Mount::new(&config, Some(schema), &[]);
    let pid = mount.daemon_pid().expect("daemon running");
    let status = Command::new("umount").arg(&mount.path).status().unwrap();
    assert!(status.success());
    assert!(eventually(Duration::from_secs(5), || {
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
    }));
    assert!(!djfs::mount::is_mount_point(&mount.path));
}

#[test]
fn sigterm_unmounts_cleanly() {
    let schema = reference_schema();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let mount = Mount::new(&config, Some(schema), &[]);
    let pid = mount.daemon_pid().expect("daemon running");
    assert!(mount.path.join("Subject").is_dir());
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    assert!(eventually(Duration::from_secs(5), || {
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
    }));
    assert!(!djfs::mount::is_mount_point(&mount.path));
    assert!(mount.log_text().contains("unmounting"));
}

/// Runs make_external.py into a fresh folder; returns (folder, config file).
fn external_schema(schema: &str, cache: bool) -> (tempfile::TempDir, std::path::PathBuf) {
    common::schema_with_stores("make_external.py", schema, cache)
}

#[test]
fn external_stores_match_the_client() {
    let (_dir, config) = external_schema("djfs_it_ext", false);
    let mount = Mount::new(&config, Some("djfs_it_ext"), &[]);
    check(
        &mount,
        "djfs_it_ext",
        &["--config", config.to_str().unwrap()],
    );
    // The per-store views exist for every store the schema tracks.
    let stores: Vec<String> = std::fs::read_dir(mount.path.join(".external"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for store in ["shared", "local", "fold11", "s3loc", "s3fold", "staged"] {
        assert!(stores.contains(&store.to_string()), "{store}: {stores:?}");
        let unused = std::fs::read_dir(mount.path.join(".external").join(store).join(".unused"))
            .unwrap()
            .count();
        assert!(unused > 0, "{store} has unused objects");
    }
}

#[test]
fn djfs_and_the_client_share_one_cache() {
    let (dir, config) = external_schema("djfs_it_cache", true);
    let cache = dir.path().join("cache");
    let mount = Mount::new(&config, Some("djfs_it_cache"), &[]);
    // Reads every external blob through the mount, then has the client read them from the
    // cache with every store unreachable.
    let (ok, output) = python_status(
        "check_cache.py",
        &[
            config.to_str().unwrap(),
            "djfs_it_cache",
            "--mount",
            mount.path.to_str().unwrap(),
        ],
    );
    assert!(
        ok && output.contains(" 0 failed"),
        "{output}\n{}",
        mount.log_text()
    );
    let cached = walk_files(&cache);
    assert!(cached.len() >= 10, "{cached:?}");
    assert!(cached
        .iter()
        .all(|p| !p.to_string_lossy().ends_with(".saving")));
}

fn walk_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(walk_files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn a_missing_store_or_object_reads_eio_naming_it() {
    let (dir, config) = external_schema("djfs_it_missing", false);
    // A config without the `s3fold` store.
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    json["stores"].as_object_mut().unwrap().remove("s3fold");
    let partial = dir.path().join("partial.json");
    std::fs::write(&partial, json.to_string()).unwrap();
    let mount = Mount::new(&partial, Some("djfs_it_missing"), &[]);

    let row = mount.path.join("Attachment/attach_id=1");
    let names: Vec<String> = std::fs::read_dir(&row)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.contains(&"a_s3fold".to_string()), "{names:?}");
    let err = std::fs::read(row.join("a_s3fold/résumé µ.txt")).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EIO));
    assert!(
        mount.log_text().contains("\"s3fold\""),
        "{}",
        mount.log_text()
    );
    // Everything else still reads.
    assert_eq!(
        std::fs::read(row.join("a_fold11/résumé µ.txt")).unwrap(),
        "Curriculum vitæ — µ-scope\n".as_bytes()
    );

    // An object removed from a folder store (fold11) behind the client's back.
    let victim = walk_files(&dir.path().join("stores"))
        .into_iter()
        .find(|p| p.to_string_lossy().ends_with(".README"))
        .expect("README attachment object in the fold11 store");
    std::fs::remove_file(&victim).unwrap();
    let readme_row = mount.path.join("Attachment/attach_id=6");
    let file = readme_row.join("a_fold11/README");
    assert!(file.exists(), "listing still works");
    let err = std::fs::read(&file).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EIO));
    let log = mount.log_text();
    let row_name = readme_row
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(
        log.lines()
            .any(|l| l.contains(&victim.display().to_string()) && l.contains(&row_name)),
        "no log line naming {} and {row_name}:\n{log}",
        victim.display()
    );
}
