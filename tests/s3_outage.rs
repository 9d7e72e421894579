//! The S3 server goes away while mounted: listings keep working, reads of S3 objects fail with
//! EIO within the documented timeout, and work again once it is back, without remounting.
//! Its own test binary: it stops the private s3s-fs `scripts/services-up` started (by its pid
//! file), never an S3 server of the machine.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{eventually, private_service_pid, test_var, Mount, RestartServices};

fn stop_s3() {
    let pid_file = Path::new(&test_var("DJFS_RUN")).join("s3s-fs.pid");
    let pid = private_service_pid(&pid_file, &test_var("DJFS_S3_DATA"))
        .expect("the private s3s-fs of scripts/services-up runs");
    unsafe { libc::kill(pid, libc::SIGTERM) };
    assert!(eventually(Duration::from_secs(10), || {
        !Path::new(&format!("/proc/{pid}")).exists()
    }));
}

#[test]
fn s3_outage_gives_eio_then_recovers() {
    let (_dir, config) = common::schema_with_stores("make_demo.py", "djfs_s3_outage", false);
    let mount = Mount::new(&config, Some("djfs_s3_outage"), &["--refresh", "0.2"]);
    let row1 = mount.path.join("Test/id=1");
    let first = std::fs::read(row1.join("a1/outfile1.npy")).unwrap();
    let pid = mount.daemon_pid().unwrap();

    {
        let _restart = RestartServices;
        stop_s3();
        // Listing still works, from MySQL alone.
        let rows = std::fs::read_dir(mount.path.join("Test"))
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().is_dir())
            .count();
        assert_eq!(rows, 3);
        assert!(mount.path.join("Test/.definition").exists());
        assert!(mount.path.join("Test/id=2/a1/data.tar.gz").exists());
        // An S3 object not read before: EIO, within the documented request timeout.
        let started = Instant::now();
        let err = std::fs::read(mount.path.join("Test/id=2/a1/data.tar.gz")).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EIO), "{err}");
        assert!(
            started.elapsed() < Duration::from_secs(35),
            "{:?}",
            started.elapsed()
        );
        // Folder-store objects are unaffected.
        assert!(
            !std::fs::read(mount.path.join("Test/id=2/a2/image é 1.bin"))
                .unwrap()
                .is_empty()
        );
        let log = mount.log_text();
        assert!(
            log.contains("data.tar.gz") && log.contains("s3://"),
            "{log}"
        );
    }

    let data = std::fs::read(mount.path.join("Test/id=2/a1/data.tar.gz")).unwrap();
    assert_eq!(data.len(), 5000);
    assert_eq!(std::fs::read(row1.join("a1/outfile1.npy")).unwrap(), first);
    assert_eq!(mount.daemon_pid(), Some(pid));
}
