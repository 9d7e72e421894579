//! FUSE passthrough (issue 14): a root mount hands folder-store files to the kernel, which reads
//! them directly; the bytes are the client's either way, and `--no-passthrough` (or a mount
//! that is not root) reads through djfs. On the regression schema the real client made.

mod common;

use common::Mount;

#[test]
fn passthrough_reads_the_clients_bytes_and_can_be_turned_off() {
    let schema = "djfs_pass_through";
    let (_dir, config) = common::schema_with_stores("make_regressions.py", schema, false);
    let (name, expected) = common::doc_attachment(&config, schema, 1, "pic").unwrap();
    assert!(!expected.is_empty());

    let on = Mount::new(&config, Some(schema), &["--log-level", "debug"]);
    let path = on.path.join("Doc/doc_id=1/pic").join(&name);
    assert_eq!(std::fs::read(&path).unwrap(), expected);
    // Read again, and at an offset, through the kernel's backing file.
    let again = std::fs::read(&path).unwrap();
    assert_eq!(again, expected);
    let log = on.log_text();
    assert!(log.contains("FUSE passthrough: on"), "{log}");
    assert!(log.contains("passthrough open"), "{log}");

    let off = Mount::new(
        &config,
        Some(schema),
        &["--log-level", "debug", "--no-passthrough"],
    );
    let path = off.path.join("Doc/doc_id=1/pic").join(&name);
    assert_eq!(std::fs::read(&path).unwrap(), expected);
    let log = off.log_text();
    assert!(
        log.contains("FUSE passthrough: off (--no-passthrough)"),
        "{log}"
    );
    assert!(!log.contains("passthrough open"), "{log}");
}
