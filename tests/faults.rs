//! Faults that touch the shared services: runs as its own test binary (cargo runs test binaries
//! one after another), with a single test so nothing else uses the database meanwhile.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{eventually, python, write_config, Mount, RestartServices};

fn database_up() -> bool {
    Command::new("mariadb-admin")
        .args(["--protocol=socket", "-uroot", "ping"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

#[test]
fn database_restart_gives_errors_then_recovers_without_remount() {
    let schema = "djfs_fault_ref";
    python("make_reference.py", &[schema]);
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let mount = Mount::new(&config, Some(schema), &["--refresh", "0.2"]);
    let table = mount.path.join("Subject");
    let file = table.join("subject_id=1/subject_name");
    let expected = std::fs::read(&file).unwrap();
    let rows_before = std::fs::read_dir(&table).unwrap().count();
    let pid = mount.daemon_pid().expect("daemon");

    {
        let _restart = RestartServices;
        let out = Command::new("mariadb-admin")
            .args(["--protocol=socket", "-uroot", "shutdown"])
            .output()
            .unwrap();
        assert!(out.status.success(), "shutdown: {out:?}");
        assert!(eventually(Duration::from_secs(30), || !database_up()));

        // Once the cached listing is older than the refresh delay: EIO, not a hang or a crash.
        assert!(eventually(Duration::from_secs(5), || {
            matches!(std::fs::read_dir(&table), Err(e) if e.raw_os_error() == Some(libc::EIO))
        }));
        let err = std::fs::read_dir(mount.path.join("Arrays")).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EIO));
        assert!(
            mount.log_text().contains("database error"),
            "log:\n{}",
            mount.log_text()
        );
    } // services restart here

    assert!(database_up());
    assert!(eventually(Duration::from_secs(10), || {
        std::fs::read_dir(&table).map(|d| d.count()).ok() == Some(rows_before)
    }));
    assert_eq!(std::fs::read(&file).unwrap(), expected);
    assert_eq!(mount.daemon_pid(), Some(pid), "same daemon, no remount");
}
