//! Crashes and private places, through real mounts: staging folders no other user can read or
//! redirect, the upload journal (a kill -9 in the middle of an S3 multipart upload or of a
//! folder-store upload, an object uploaded for a row that was never inserted) settled by the next
//! mount, by `djfs gc` or at unmount, and the log of a background mount without a home folder.
//!
//! Every mount here gets its own TMPDIR (and no XDG_RUNTIME_DIR), so its staging folders are
//! this test's alone.

mod common;

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::isolated::*;
use common::{client, eventually};

#[test]
fn a_kill_during_an_s3_multipart_upload_is_cleaned_by_the_next_mount() {
    let schema = "djfs_r_s3kill";
    let (dir, config) = demo_schema(schema);
    let tmp = private_tmp(dir.path());
    let big = dir.path().join("big.bin");
    big_file(&big, 512, 1);

    let mount = TestMount::new(&config, schema, &tmp);
    let staging = mount.staging();
    let mut cp = Command::new("cp")
        .arg(&big)
        .arg(mount.path.join("Test/id=3/a1"))
        .spawn()
        .unwrap();
    // Once the upload has an id and S3 holds some of its parts: kill -9.
    let mut upload_id = String::new();
    let started = eventually(Duration::from_secs(120), || {
        for r in records(&staging) {
            if let Some(id) = r["upload_id"].as_str() {
                if upload_files(id)
                    .iter()
                    .any(|p| p.to_string_lossy().contains(".part-"))
                {
                    upload_id = id.to_string();
                    return true;
                }
            }
        }
        false
    });
    assert!(
        started,
        "no multipart upload seen; log:\n{}",
        mount.log_text()
    );
    mount.kill();
    let _ = cp.wait();
    drop(mount);
    let left = upload_files(&upload_id);
    assert!(
        left.iter().any(|p| p.to_string_lossy().contains(".part-")),
        "the kill left no parts behind: {left:?}"
    );
    let record = records(&staging)
        .into_iter()
        .find(|r| r["upload_id"] == upload_id.as_str())
        .expect("the journal record survives the kill");
    let key = record["key"].as_str().unwrap().to_string();

    // The next mount aborts the upload (its parts go) and removes the dead staging folder.
    let next = TestMount::new(&config, schema, &tmp);
    let settled = eventually(Duration::from_secs(60), || {
        upload_files(&upload_id).is_empty() && !staging.exists()
    });
    assert!(
        settled,
        "left: {:?}, staging exists: {}; log:\n{}",
        upload_files(&upload_id),
        staging.exists(),
        next.log_text()
    );
    assert!(
        next.log_text().contains(&format!(
            "aborted the unfinished multipart upload {upload_id}"
        )),
        "{}",
        next.log_text()
    );
    assert!(!object_path(&config, "shared", &key).exists());
    drop(next);
    assert_store_holds_only_tracked(&config, schema, "shared");
    // The old value is still there and referenced.
    let info = client(
        &config,
        schema,
        &["external-info", "Test", r#"{"id": 3}"#, "a1"],
    );
    assert_eq!(info["exists_in_store"], true, "{info}");
}

#[test]
fn a_kill_during_a_folder_store_upload_is_cleaned_by_djfs_gc() {
    let schema = "djfs_r_filekill";
    let (dir, config) = demo_schema(schema);
    let tmp = private_tmp(dir.path());
    let big = dir.path().join("big.bin");
    big_file(&big, 1024, 2);

    let mount = TestMount::new(&config, schema, &tmp);
    let staging = mount.staging();
    let mut cp = Command::new("cp")
        .arg(&big)
        .arg(mount.path.join("Test/id=3/a2"))
        .spawn()
        .unwrap();
    // Once the partial `<object>#1` file is being written: kill -9.
    let mut partial = PathBuf::new();
    let started = eventually(Duration::from_secs(120), || {
        for r in records(&staging) {
            let key = r["key"].as_str().unwrap();
            let p = PathBuf::from(format!(
                "{}#1",
                object_path(&config, "local", key).display()
            ));
            if std::fs::metadata(&p).is_ok_and(|m| m.len() > 0) {
                partial = p;
                return true;
            }
        }
        false
    });
    assert!(started, "no partial file seen; log:\n{}", mount.log_text());
    mount.kill();
    let _ = cp.wait();
    drop(mount);
    assert!(partial.exists(), "the kill left no partial file");

    let out = common::run_ok(
        common::djfs()
            .env("TMPDIR", &tmp)
            .env_remove("XDG_RUNTIME_DIR")
            .args(["gc", "--log-level", "info", "--config"])
            .arg(&config)
            .arg(schema),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!partial.exists(), "partial file left; gc said:\n{stderr}");
    assert!(!staging.exists(), "staging folder left; gc said:\n{stderr}");
    assert!(
        stderr.contains("recovery: removed the partial upload"),
        "{stderr}"
    );
    assert!(
        stderr.contains("recovered 1 staging folders of crashed mounts"),
        "{stderr}"
    );
    assert_store_holds_only_tracked(&config, schema, "local");
    let info = client(
        &config,
        schema,
        &["external-info", "Test", r#"{"id": 3}"#, "a2"],
    );
    assert_eq!(info["exists_in_store"], true, "{info}");
}

/// An attachment written into a new row that never gets its other values: uploaded, never
/// tracked. Returns the object's path in the store.
fn upload_for_a_pending_row(mount: &TestMount, config: &Path, store: &str, attr: &str) -> PathBuf {
    let row = mount.path.join("Test/id=77");
    std::fs::create_dir(&row).unwrap();
    std::fs::create_dir(row.join(attr)).unwrap();
    let mut data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 + 3) as u8).collect();
    data.extend(nonce());
    std::fs::write(row.join(attr).join("orphan.bin"), &data).unwrap();
    let recs = records(&mount.staging());
    assert_eq!(recs.len(), 1, "{recs:?}");
    let object = object_path(config, store, recs[0]["key"].as_str().unwrap());
    assert!(object.exists(), "{} not uploaded", object.display());
    object
}

#[test]
fn objects_of_rows_never_inserted_are_deleted_at_unmount_and_after_a_kill() {
    let schema = "djfs_r_orphan";
    let (dir, config) = demo_schema(schema);
    let tmp = private_tmp(dir.path());

    // Clean unmount: the journal is settled as the mount ends, and its folder goes.
    let mount = TestMount::new(&config, schema, &tmp);
    let staging = mount.staging();
    let object = upload_for_a_pending_row(&mount, &config, "local", "a2");
    drop(mount);
    assert!(!object.exists(), "{} left after unmount", object.display());
    assert!(!staging.exists());

    // kill -9: the next mount deletes the object no tracking row has.
    let mount = TestMount::new(&config, schema, &tmp);
    let staging = mount.staging();
    let object = upload_for_a_pending_row(&mount, &config, "shared", "a1");
    mount.kill();
    drop(mount);
    assert!(object.exists());
    let next = TestMount::new(&config, schema, &tmp);
    assert!(
        eventually(Duration::from_secs(60), || !object.exists()
            && !staging.exists()),
        "log:\n{}",
        next.log_text()
    );
    assert!(
        next.log_text().contains("recovery: deleted"),
        "{}",
        next.log_text()
    );
    drop(next);
    for store in ["shared", "local"] {
        assert_store_holds_only_tracked(&config, schema, store);
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().mode() & 0o7777
}

fn uid_of(user: &str) -> u32 {
    let out = common::run_ok(Command::new("id").args(["-u", user]));
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

#[test]
fn staging_is_private_and_cannot_be_hijacked() {
    assert_eq!(unsafe { libc::geteuid() }, 0, "run as root (scripts/test)");
    let schema = "djfs_r_private";
    let (dir, config) = demo_schema(schema);
    let other = uid_of("djfsuser");

    // No cache in the config: the staging base is in the temp folder, 0700, and so is the
    // mount's folder; a staged file is 0600.
    let tmp = private_tmp(dir.path());
    std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o1777)).unwrap();
    let base = tmp.join("djfs-staging-0");
    let mount = TestMount::new(&config, schema, &tmp);
    let staging = mount.staging();
    assert_eq!(staging.parent().unwrap(), base);
    assert_eq!(mode(&base), 0o700);
    assert_eq!(mode(&staging), 0o700);
    {
        let mut f = std::fs::File::create(mount.path.join("Test/id=3/a2/staged.bin")).unwrap();
        f.write_all(&vec![5u8; 9 << 20]).unwrap();
        let staged: Vec<PathBuf> = std::fs::read_dir(&staging)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("write-")
            })
            .collect();
        assert_eq!(staged.len(), 1, "{staged:?}");
        assert_eq!(mode(&staged[0]), 0o600);
    }
    drop(mount);

    // A base another user made beforehand, and one that is a symbolic link to their folder:
    // neither is used; a fresh private folder is.
    for planted in ["foreign", "symlink"] {
        let tmp = dir.path().join(format!("tmp-{planted}"));
        std::fs::create_dir(&tmp).unwrap();
        std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o1777))
            .unwrap();
        let base = tmp.join("djfs-staging-0");
        let theirs = tmp.join("theirs");
        std::fs::create_dir(&theirs).unwrap();
        std::fs::set_permissions(&theirs, std::os::unix::fs::PermissionsExt::from_mode(0o777))
            .unwrap();
        std::os::unix::fs::chown(&theirs, Some(other), Some(other)).unwrap();
        if planted == "foreign" {
            std::fs::create_dir(&base).unwrap();
            std::fs::set_permissions(&base, std::os::unix::fs::PermissionsExt::from_mode(0o700))
                .unwrap();
            std::os::unix::fs::chown(&base, Some(other), Some(other)).unwrap();
        } else {
            std::os::unix::fs::symlink(&theirs, &base).unwrap();
        }
        let mount = TestMount::new(&config, schema, &tmp);
        let staging = mount.staging();
        let log = mount.log_text();
        assert!(log.contains("not using it"), "{planted}: {log}");
        let fresh = staging.parent().unwrap();
        assert_ne!(fresh, base, "{planted}");
        assert!(fresh
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("djfs-staging-0-"));
        assert_eq!(std::fs::symlink_metadata(fresh).unwrap().uid(), 0);
        assert_eq!(mode(fresh), 0o700);
        assert_eq!(mode(&staging), 0o700);
        // Stage a large file: nothing reaches the other user's folders.
        {
            let mut f = std::fs::File::create(mount.path.join("Test/id=3/a2/staged.bin")).unwrap();
            f.write_all(&vec![6u8; 9 << 20]).unwrap();
        }
        assert_eq!(std::fs::read_dir(&theirs).unwrap().count(), 0, "{planted}");
        if planted == "foreign" {
            assert_eq!(std::fs::read_dir(&base).unwrap().count(), 0);
        }
        drop(mount);
    }
}

#[test]
fn a_background_mount_without_a_home_says_where_its_log_goes() {
    let schema = "djfs_r_nohome";
    let (dir, config) = demo_schema(schema);
    let tmp = private_tmp(dir.path());
    // Private, so the mount has no warning about it to print.
    std::fs::set_permissions(&config, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let out = common::djfs()
        .env("HOME", "/nonexistent")
        .env("TMPDIR", &tmp)
        .env_remove("XDG_STATE_HOME")
        .env_remove("XDG_RUNTIME_DIR")
        .arg("mount")
        .arg("--config")
        .arg(&config)
        .arg(schema)
        .arg(&mnt)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let pids = common::daemon_pids(&mnt);
    let unmount = || {
        let _ = Command::new("fusermount3").arg("-u").arg(&mnt).status();
        for pid in &pids {
            eventually(Duration::from_secs(30), || {
                !Path::new(&format!("/proc/{pid}")).exists()
            });
        }
    };
    if !out.status.success() {
        unmount();
        panic!("mount failed: {stderr}");
    }
    let listed = std::fs::read_dir(&mnt).map(|d| d.count()).unwrap_or(0);
    unmount();
    assert!(listed > 0, "the mount shows the schema's tables");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line on stderr: {stderr}");
    let (why, log) = lines[0]
        .split_once("; the log goes to ")
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(why.contains("/nonexistent does not exist"), "{why}");
    assert!(
        !Path::new("/nonexistent").exists(),
        "the missing home was not made"
    );
    let log = PathBuf::from(log);
    assert!(
        log.starts_with(tmp.join("djfs-logs-0")),
        "{}",
        log.display()
    );
    assert_eq!(mode(log.parent().unwrap()), 0o700);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("mounted"), "{text}");
}

fn delete_row(schema: &str, table: &str, id: u32) {
    use mysql::prelude::Queryable;
    let mut conn = common::db_conn();
    conn.exec_drop(
        format!("DELETE FROM `{schema}`.`{table}` WHERE id = ?"),
        (id,),
    )
    .unwrap();
    assert_eq!(conn.affected_rows(), 1);
}

#[test]
fn an_object_uploaded_for_a_failed_transaction_is_deleted() {
    let schema = "djfs_r_failed";
    let (dir, config) = demo_schema(schema);
    let tmp = private_tmp(dir.path());
    let mount = TestMount::new(&config, schema, &tmp);
    let staging = mount.staging();
    // A write into row 2 is open when the client deletes the row: the object is uploaded at
    // close, the UPDATE finds no row, and the object goes again.
    let mut data: Vec<u8> = (0..2_000_000u32).map(|i| (i * 11 + 5) as u8).collect();
    data.extend(nonce()); // new content each run: an object already in the store is never touched
    let mut f = std::fs::File::create(mount.path.join("Test/id=2/a1/late.bin")).unwrap();
    f.write_all(&data).unwrap();
    // Deleted from this process: a child process would close its inherited copy of the file
    // descriptor at exec, and that close (a FUSE flush) would store the value before the delete.
    delete_row(schema, "test", 2);
    use std::os::fd::IntoRawFd;
    let fd = f.into_raw_fd();
    assert_ne!(
        unsafe { libc::close(fd) },
        0,
        "close reports the failed update; log:\n{}",
        mount.log_text()
    );
    let log = mount.log_text();
    let line = log
        .lines()
        .find(|l| l.contains("uploaded for a write whose transaction failed"))
        .unwrap_or_else(|| panic!("{log}"));
    let key = line
        .split("s3://")
        .nth(1)
        .and_then(|r| r.split_once(' '))
        .map(|(url, _)| url.split_once('/').unwrap().1.to_string())
        .unwrap_or_else(|| panic!("{line}"));
    assert!(key.ends_with(".late.bin"), "{key}");
    assert!(!object_path(&config, "shared", &key).exists());
    assert!(records(&staging).is_empty(), "{:?}", records(&staging));
    drop(mount);
    assert_store_holds_only_tracked(&config, schema, "shared");
}
