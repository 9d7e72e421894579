//! The S3 server goes away while mounted: listings keep working, reads of S3 objects fail with
//! EIO within the documented timeout, and work again once it is back, without remounting.
//! Its own test binary: it stops a shared service.

mod common;

use std::time::{Duration, Instant};

use common::{eventually, Mount, RestartServices};

fn stop_s3() {
    let run = std::env::var("DJFS_RUN").expect("DJFS_RUN from scripts/test");
    let pid = std::fs::read_to_string(format!("{run}/s3s-fs.pid")).expect("s3s-fs pid file");
    let pid: i32 = pid.trim().parse().unwrap();
    unsafe { libc::kill(pid, libc::SIGTERM) };
    assert!(eventually(Duration::from_secs(10), || {
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
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
