//! Faults that touch the test services: runs as its own test binary (cargo runs test binaries
//! one after another), with a single test so nothing else uses the database meanwhile. It stops
//! only the private MariaDB `scripts/services-up` started (by its socket and pid file), never a
//! server of the machine.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{
    eventually, private_service_pid, python, test_var, write_config, Mount, RestartServices,
};

/// `mariadb-admin` on our private MariaDB only: its socket, and no option files (which could name
/// another server).
fn db_admin(command: &str) -> Command {
    let mut cmd = Command::new("mariadb-admin");
    cmd.args(["--no-defaults", "--protocol=socket"])
        .arg(format!("--socket={}", test_var("DJFS_DB_SOCKET")))
        .args(["-uroot", command]);
    cmd
}

fn database_up() -> bool {
    db_admin("ping")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// The pid of our private MariaDB (from its pid file, checked against its data folder).
fn database_pid() -> Option<i32> {
    private_service_pid(
        Path::new(&test_var("DJFS_DB_PID_FILE")),
        &format!("--datadir={}", test_var("DJFS_DB_DATA")),
    )
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
        let server = database_pid().expect("the private MariaDB of scripts/services-up runs");
        let out = db_admin("shutdown").output().unwrap();
        assert!(out.status.success(), "shutdown: {out:?}");
        assert!(eventually(Duration::from_secs(30), || {
            !Path::new(&format!("/proc/{server}")).exists() && !database_up()
        }));

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

    assert!(database_up() && database_pid().is_some());
    assert!(eventually(Duration::from_secs(10), || {
        std::fs::read_dir(&table).map(|d| d.count()).ok() == Some(rows_before)
    }));
    assert_eq!(std::fs::read(&file).unwrap(), expected);
    assert_eq!(mount.daemon_pid(), Some(pid), "same daemon, no remount");
}
