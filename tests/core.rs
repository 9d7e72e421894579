//! The filesystem core without FUSE, against the real database: what each operation costs in SQL
//! and how names resolve.

mod common;

use std::ffi::OsStr;
use std::sync::OnceLock;
use std::time::Duration;

use djfs::backend::mysql::MySql;
use djfs::fs::{Filesystem, FsError, FsOptions, ROOT_INO};

const SCHEMA: &str = "djfs_core_ref";

fn core(refresh: Duration) -> Filesystem {
    core_with(refresh, false)
}

fn core_with(refresh: Duration, read_only: bool) -> Filesystem {
    core_paged(refresh, read_only, djfs::fs::FIRST_PAGE_ROWS)
}

fn core_paged(refresh: Duration, read_only: bool, page_rows: usize) -> Filesystem {
    static MADE: OnceLock<()> = OnceLock::new();
    MADE.get_or_init(|| {
        common::python("make_reference.py", &[SCHEMA]);
    });
    let e = common::env();
    let json = serde_json::json!({
        "database.host": e.db_host, "database.user": e.db_user, "database.password": e.db_pass,
    });
    let cfg = djfs::config::from_json(&json, None, |_| None).unwrap();
    let db = std::sync::Arc::new(MySql::connect(&cfg.database).unwrap());
    let stores = std::sync::Arc::new(djfs::stores::Stores::new(&cfg.stores, None).unwrap());
    Filesystem::new(
        db,
        stores,
        FsOptions {
            schema: Some(SCHEMA.into()),
            read_only,
            refresh,
            uid: 0,
            gid: 0,
            cascade_delete: false,
            cache_bytes: djfs::fs::DEFAULT_CACHE_MIB << 20,
            page_rows,
        },
    )
}

fn queries(fs: &Filesystem) -> u64 {
    fs.database().query_count()
}

/// The kinds of question asked so far other than the catalog's, with how many of each.
fn query_kinds(fs: &Filesystem) -> Vec<(&'static str, u64)> {
    fs.database()
        .query_stats()
        .into_iter()
        .filter(|k| k.count > 0 && k.kind.name() != "catalog" && k.kind.name() != "schemas")
        .map(|k| (k.kind.name(), k.count))
        .collect()
}

fn list(fs: &Filesystem, ino: u64) -> Vec<(u64, bool, String)> {
    let (fh, _) = fs.opendir(ino).unwrap();
    let entries = fs
        .readdir_all(fh)
        .unwrap()
        .iter()
        .map(|e| (e.ino, e.is_dir, e.name.clone()))
        .collect();
    fs.release(fh);
    entries
}

#[test]
fn walking_a_table_costs_one_query() {
    let fs = core(Duration::from_secs(600));
    let tables = list(&fs, ROOT_INO);
    assert!(tables.iter().any(|t| t.2 == "Arrays"));
    let arrays = fs.lookup(ROOT_INO, OsStr::new("Arrays")).unwrap();
    let before = queries(&fs);
    let listed = list(&fs, arrays.ino);
    // The table's `.definition` is listed beside the rows, with its size from the catalog.
    assert!(listed.iter().any(|e| e.2 == ".definition" && !e.1));
    let rows: Vec<_> = listed.into_iter().filter(|e| e.1).collect();
    assert!(rows.len() > 40, "{}", rows.len());
    let mut files = 0;
    for (_, _, row_name) in &rows {
        let row = fs.lookup(arrays.ino, OsStr::new(row_name)).unwrap();
        assert!(row.is_dir);
        for (ino, is_dir, name) in list(&fs, row.ino) {
            let attr = fs.lookup(row.ino, OsStr::new(&name)).unwrap();
            assert_eq!(attr.ino, ino);
            assert_eq!(attr.is_dir, is_dir);
            assert_eq!(fs.getattr(ino).unwrap().size, attr.size);
            files += 1;
        }
    }
    assert!(files >= 3 * rows.len());
    // `ls -l`/`find` of the whole table: the table's change stamp (so that the listing can be
    // trusted again later without reading it) and its one page; nothing per row or per file.
    assert_eq!(queries(&fs) - before, 2);
    assert_eq!(
        query_kinds(&fs),
        vec![("listing page", 1), ("change check", 1)]
    );
}

/// A table read in pages of 5, 20, 80 rows lists the same rows, once each and in key order, as
/// one page; the first entries come after the first page alone; once read to its end the
/// listing answers lookups as a single listing does.
#[test]
fn a_table_is_listed_page_by_page_in_key_order() {
    let whole = core(Duration::from_secs(600));
    let arrays = whole.lookup(ROOT_INO, OsStr::new("Arrays")).unwrap();
    let expected = list(&whole, arrays.ino);
    assert!(expected.len() > 40, "{}", expected.len());

    let fs = core_paged(Duration::from_secs(600), false, 5);
    let arrays = fs.lookup(ROOT_INO, OsStr::new("Arrays")).unwrap();
    let before = queries(&fs);
    let (fh, _) = fs.opendir(arrays.ino).unwrap();
    // `.definition`, then the first page only.
    let first = fs.readdir(fh, 1).unwrap();
    assert_eq!(first.first, 1);
    assert_eq!(first.entries.len(), 5);
    assert_eq!(queries(&fs) - before, 2, "change check and one page");
    let all = fs.readdir_all(fh).unwrap();
    fs.release(fh);
    let names: Vec<&str> = all.iter().map(|e| e.name.as_str()).collect();
    let expected_names: Vec<&str> = expected.iter().map(|e| e.2.as_str()).collect();
    assert_eq!(names, expected_names);
    // Pages of 5, 20, 80, ... rows until one comes back short.
    let rows = expected.len() - 1;
    let (mut pages, mut read, mut size) = (0, 0, 5);
    loop {
        pages += 1;
        read += size;
        if read > rows {
            break;
        }
        size *= 4;
    }
    assert_eq!(
        query_kinds(&fs),
        vec![("listing page", pages), ("change check", 1)]
    );
    // Key order: the ids grow.
    let ids: Vec<i64> = names
        .iter()
        .filter_map(|n| n.split('=').nth(1)?.parse().ok())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    // Read to its end, the listing is the table's cached one: lookups need no query.
    let before = queries(&fs);
    for name in names.iter().filter(|n| n.contains('=')) {
        assert!(fs.lookup(arrays.ino, OsStr::new(name)).unwrap().is_dir);
    }
    assert_eq!(queries(&fs) - before, 0);
}

/// Every table of the reference schema (keys of every type: int, varchar with odd characters,
/// enum, date, uuid, several columns) lists the same rows in pages of 2 as whole, each once; and
/// each row is found by name when looked up in quick succession (the read-ahead in key order).
#[test]
fn every_key_type_pages_and_reads_ahead_in_key_order() {
    let whole = core(Duration::from_secs(600));
    let tables: Vec<String> = list(&whole, ROOT_INO)
        .into_iter()
        .filter(|e| e.1 && !e.2.starts_with('.'))
        .map(|e| e.2)
        .collect();
    assert!(tables.len() > 10, "{tables:?}");
    let paged = core_paged(Duration::from_secs(600), false, 2);
    let fresh = core(Duration::from_secs(600));
    for table in &tables {
        let rows = |fs: &Filesystem| -> Vec<String> {
            let ino = fs.lookup(ROOT_INO, OsStr::new(table)).unwrap().ino;
            list(fs, ino)
                .into_iter()
                .filter(|e| e.1)
                .map(|e| e.2)
                .collect()
        };
        let mut expected = rows(&whole);
        let mut got = rows(&paged);
        assert_eq!(
            got.len(),
            expected.len(),
            "{table}: {got:?} vs {expected:?}"
        );
        expected.sort();
        got.sort();
        assert_eq!(got, expected, "{table}");
        let ino = fresh.lookup(ROOT_INO, OsStr::new(table)).unwrap().ino;
        for row in &expected {
            assert!(
                fresh.lookup(ino, OsStr::new(row)).is_ok(),
                "{table}/{row} not found by name"
            );
        }
    }
}

#[test]
fn a_row_is_found_by_name_with_one_point_query() {
    let fs = core(Duration::from_secs(600));
    let subject = fs.lookup(ROOT_INO, OsStr::new("Subject")).unwrap();
    let before = queries(&fs);
    let row = fs.lookup(subject.ino, OsStr::new("subject_id=1")).unwrap();
    assert!(row.is_dir);
    assert_eq!(queries(&fs) - before, 1);
    // Cached now; and the row's files come from the same facts.
    let name = fs.lookup(row.ino, OsStr::new("subject_name")).unwrap();
    assert!(!name.is_dir && name.size > 1);
    assert_eq!(queries(&fs) - before, 1);

    // Names that do not parse never reach the database.
    for bad in [
        "nonsense",
        "subject_id",
        "subject_id=1,extra=2",
        "other=1",
        "subject_id=%ZZ",
    ] {
        assert_eq!(
            fs.lookup(subject.ino, OsStr::new(bad)).unwrap_err(),
            FsError::NotFound,
            "{bad}"
        );
    }
    assert_eq!(queries(&fs) - before, 1);
    // A well-formed name of a missing row: one query, then remembered.
    for _ in 0..3 {
        assert_eq!(
            fs.lookup(subject.ino, OsStr::new("subject_id=987654"))
                .unwrap_err(),
            FsError::NotFound
        );
    }
    assert_eq!(queries(&fs) - before, 2);
    // Another spelling of an existing key is not that row's name.
    assert_eq!(
        fs.lookup(subject.ino, OsStr::new("subject_id=01"))
            .unwrap_err(),
        FsError::NotFound
    );
}

#[test]
fn shortened_long_names_resolve_without_listing_first() {
    // Learn the names from one core, resolve them in a fresh one.
    let names: Vec<String> = {
        let fs = core(Duration::from_secs(600));
        let t = fs.lookup(ROOT_INO, OsStr::new("StrKey")).unwrap();
        list(&fs, t.ino).into_iter().map(|e| e.2).collect()
    };
    let long: Vec<&String> = names
        .iter()
        .filter(|n| djfs::rowname::parse(n, &["name"]).digest.is_some())
        .collect();
    assert!(long.len() >= 2, "{names:?}");
    let fs = core(Duration::from_secs(600));
    let t = fs.lookup(ROOT_INO, OsStr::new("StrKey")).unwrap();
    for name in long {
        let row = fs.lookup(t.ino, OsStr::new(name)).unwrap();
        let idx = fs.lookup(row.ino, OsStr::new("idx")).unwrap();
        assert!(idx.size >= 2);
    }
}

#[test]
fn reads_at_any_offset_agree_with_a_whole_read() {
    let fs = core(Duration::from_secs(600));
    let arrays = fs.lookup(ROOT_INO, OsStr::new("Arrays")).unwrap();
    let mut checked = 0;
    for (_, _, row_name) in list(&fs, arrays.ino).into_iter().filter(|e| e.1) {
        let row = fs.lookup(arrays.ino, OsStr::new(&row_name)).unwrap();
        let Ok(npy) = fs.lookup(row.ino, OsStr::new("value.npy")) else {
            continue;
        };
        let (fh, _) = fs.open(npy.ino, false).unwrap();
        let whole = fs.read(fh, 0, u32::MAX).unwrap();
        assert_eq!(whole.len() as u64, npy.size);
        assert_eq!(&whole[..6], b"\x93NUMPY");
        for (offset, len) in [
            (0u64, 7u32),
            (5, 100),
            (64, 1),
            (npy.size / 2, 4097),
            (npy.size, 10),
        ] {
            let part = fs.read(fh, offset, len).unwrap();
            let from = (offset as usize).min(whole.len());
            let to = (from + len as usize).min(whole.len());
            assert_eq!(part, whole[from..to], "{row_name} at {offset}+{len}");
        }
        fs.release(fh);
        checked += 1;
    }
    assert!(checked > 30);
    // On a read-only mount, opening for writing is refused.
    let fs = core_with(Duration::from_secs(600), true);
    let arrays = fs.lookup(ROOT_INO, OsStr::new("Arrays")).unwrap();
    let row = list(&fs, arrays.ino).into_iter().find(|e| e.1).unwrap().2;
    let row = fs.lookup(arrays.ino, OsStr::new(&row)).unwrap();
    let npy = fs.lookup(row.ino, OsStr::new("value.npy")).unwrap();
    assert_eq!(fs.open(npy.ino, true).unwrap_err(), FsError::ReadOnly);
}

/// A core over make_external.py's schema (made as `schema`, one per test), with its stores.
fn external_core(schema: &str) -> (Filesystem, tempfile::TempDir) {
    let (dir, config) = common::schema_with_stores("make_external.py", schema, false);
    let cfg = djfs::config::load(Some(&config)).unwrap();
    let db = std::sync::Arc::new(MySql::connect(&cfg.database).unwrap());
    let stores = std::sync::Arc::new(djfs::stores::Stores::new(&cfg.stores, None).unwrap());
    let fs = Filesystem::new(
        db,
        stores,
        FsOptions {
            schema: Some(schema.into()),
            read_only: false,
            refresh: Duration::from_secs(600),
            uid: 0,
            gid: 0,
            cascade_delete: false,
            cache_bytes: djfs::fs::DEFAULT_CACHE_MIB << 20,
            page_rows: djfs::fs::FIRST_PAGE_ROWS,
        },
    );
    (fs, dir)
}

fn path(fs: &Filesystem, parts: &[&str]) -> djfs::fs::Attr {
    let mut attr = fs.getattr(ROOT_INO).unwrap();
    for p in parts {
        attr = fs
            .lookup(attr.ino, OsStr::new(p))
            .unwrap_or_else(|e| panic!("{p}: {e:?}"));
    }
    attr
}

#[test]
fn external_reads_fetch_what_they_need() {
    let (fs, _dir) = external_core("djfs_core_ext");
    let fetched = |fs: &Filesystem| fs.stores().bytes_fetched();

    // stat of a big compressed blob's .npy: only its first bytes.
    let before = fetched(&fs);
    let npy = path(&fs, &["Blob", "blob_id=4"]);
    let names = list(&fs, npy.ino);
    assert!(names.iter().any(|n| n.2 == "in_shared.npy"), "{names:?}");
    let attr = path(&fs, &["Blob", "blob_id=4", "in_shared.npy"]);
    assert_eq!(attr.size, 128 + 4_000_000);
    let used = fetched(&fs) - before;
    assert!(used < 64 * 1024, "stat fetched {used} bytes");

    // 64 KiB from the middle of a 5 MiB attachment, on S3 and on a folder store.
    for column in ["a_shared", "a_fold11"] {
        let file = path(
            &fs,
            &["Attachment", "attach_id=4", column, "random 5MB.bin"],
        );
        assert!(file.size > 5 << 20);
        let (fh, cache) = fs.open(file.ino, false).unwrap();
        // The first open of the file shows this object: the kernel refreshes its pages; the
        // next open of the same object keeps them.
        assert_eq!(cache, djfs::fs::PageCache::Refresh);
        let (again, cache) = fs.open(file.ino, false).unwrap();
        assert_eq!(cache, djfs::fs::PageCache::Keep, "same object: pages kept");
        fs.release(again);
        let before = fetched(&fs);
        let part = fs.read(fh, 2_500_000, 65536).unwrap();
        assert_eq!(part.len(), 65536);
        let used = fetched(&fs) - before;
        if column == "a_fold11" {
            // Folder stores are read with pread straight from the object's file.
            assert_eq!(used, 0, "{column}");
        } else {
            assert!(
                (65536..=(1 << 20) + 65536).contains(&used),
                "{column}: a 64 KiB read fetched {used} bytes"
            );
        }
        // Sequential reads go on from the window without a request per read.
        let requests = fs.stores().requests();
        let _ = fs.read(fh, 2_500_000 + 65536, 65536).unwrap();
        assert_eq!(fs.stores().requests(), requests);
        fs.release(fh);
    }
}

/// A cold lookup of a row's attachment reads none of the row's external blobs' first bytes
/// (only a blob's own names, `.npy` or `.json`, depend on them); listing the row reads them.
#[test]
fn looking_up_an_attachment_reads_no_blob_heads() {
    let (fs, _dir) = external_core("djfs_core_heads");
    let heads = |fs: &Filesystem| -> u64 {
        let stats = fs.stats_text();
        let line = stats.lines().find(|l| l.contains("blob heads")).unwrap();
        line.split_whitespace().nth(2).unwrap().parse().unwrap()
    };
    let folder = path(&fs, &["Reuse", "reuse_id=1", "same_attach"]);
    let files = list(&fs, folder.ino);
    let name = &files.iter().find(|e| !e.1).expect("an attachment").2;
    let file = path(&fs, &["Reuse", "reuse_id=1", "same_attach", name]);
    assert!(file.size > 0);
    assert_eq!(heads(&fs), 0, "no blob head read for an attachment");
    let row = path(&fs, &["Reuse", "reuse_id=1"]);
    let names: Vec<String> = list(&fs, row.ino).into_iter().map(|e| e.2).collect();
    assert!(
        names.iter().any(|n| n.starts_with("same_blob.")),
        "{names:?}"
    );
    assert_eq!(heads(&fs), 1, "listing the row reads its blob's head");
}
