//! Scale (issue 14): a mount's share of a shared database server, and what it tells about it.
//! On a schema the real client made (tests/python/make_scale.py).

mod common;

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{database_connections, Mount};

const ROWS: usize = 2000;

/// Held by tests that drop the kernel's caches or measure memory that follows them: one
/// test's `drop_caches` makes the kernel forget another mount's inodes in the middle of a walk.
static KERNEL_CACHES: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn scale_schema(schema: &str) -> (tempfile::TempDir, PathBuf) {
    scale_schema_of(schema, ROWS)
}

fn scale_schema_of(schema: &str, rows: usize) -> (tempfile::TempDir, PathBuf) {
    scale_schema_with(schema, rows, 1)
}

/// `rows` readings with ids 0, step, 2 step, ...
fn scale_schema_with(schema: &str, rows: usize, step: usize) -> (tempfile::TempDir, PathBuf) {
    scale_schema_full(schema, rows, step, 0)
}

/// `scale_schema_with`, and `notes` rows of `Note` (an in-table attachment each).
fn scale_schema_full(
    schema: &str,
    rows: usize,
    step: usize,
    notes: usize,
) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("dj_config.json");
    let e = common::env();
    common::run_ok(
        std::process::Command::new(&e.python)
            .arg(e.repo.join("tests/python/make_scale.py"))
            .arg(schema)
            .arg("--config-out")
            .arg(&config)
            .arg("--rows")
            .arg(rows.to_string())
            .arg("--step")
            .arg(step.to_string())
            .arg("--notes")
            .arg(notes.to_string())
            .env("DJFS_LOCAL_STORE", dir.path().join("local")),
    );
    (dir, config)
}

/// Eight threads reading every row's files with `--refresh 0` (each read asks the server) use at
/// most the default budget of 4 connections, every read returns what the client inserted, and
/// `.djfs/stats` counts the questions by kind.
#[test]
fn eight_readers_stay_within_the_connection_budget() {
    let schema = "djfs_scale_budget";
    let (_dir, config) = scale_schema(schema);
    let mount = Mount::new(&config, Some(schema), &["--refresh", "0"]);
    let pid = mount.daemon_pid().unwrap();
    let table = mount.path.join("Reading");
    let done = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicUsize::new(0));
    let sampler = {
        let (done, peak) = (done.clone(), peak.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(database_connections(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let readers: Vec<_> = (0..8)
        .map(|t| {
            let table = table.clone();
            std::thread::spawn(move || {
                // Each thread reads its eighth of the rows.
                let mut read = 0;
                for i in (t * ROWS / 8)..((t + 1) * ROWS / 8) {
                    let row = table.join(format!("reading_id={i}"));
                    let label = std::fs::read_to_string(row.join("label")).unwrap();
                    assert_eq!(label, format!("reading {i}\n"));
                    let day = std::fs::read_to_string(row.join("day")).unwrap();
                    assert_eq!(day.len(), "2020-01-01\n".len(), "{day:?}");
                    read += 2;
                }
                read
            })
        })
        .collect();
    let read: usize = readers.into_iter().map(|r| r.join().unwrap()).sum();
    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    assert_eq!(read, ROWS * 2);
    let peak = peak.load(Ordering::Relaxed);
    assert!(
        (1..=4).contains(&peak),
        "the mount held {peak} database connections at once (budget 4)"
    );

    let stats = std::fs::read_to_string(mount.path.join(".djfs/stats")).unwrap();
    let count = |kind: &str| figure(&stats, kind);
    // Every file read asked the server for its row (point query) or the table's listing.
    assert!(count("row") + count("listing") >= 1, "{stats}");
    assert!(count("catalog") >= 1, "{stats}");
    let statements: u64 = stats
        .lines()
        .find_map(|l| l.strip_prefix("database statements: ")?.parse().ok())
        .unwrap();
    assert!(statements >= count("row") + count("listing"), "{stats}");
    assert!(stats.contains("inodes"), "{stats}");
    // The stats file is in `.djfs`, which the root does not list.
    let root: Vec<String> = std::fs::read_dir(&mount.path)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!root.iter().any(|n| n == ".djfs"), "{root:?}");
    let names: Vec<String> = std::fs::read_dir(mount.path.join(".djfs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["stats"]);
}

/// The inode count of `.djfs/stats`.
fn inodes(mount: &Mount) -> u64 {
    asked(mount, "inodes")
}

/// `find` over the table makes the mount hand out an inode number per entry, but stores none
/// per row (an integer-keyed row's number is computed from its key, its files' from the row's:
/// `src/fs/inodes.rs` tests the stored kinds); once the kernel
/// drops its cached entries (here: `drop_caches`) it forgets them, and the mount lets them go.
/// Walked again, the table takes the same room again, not twice.
#[test]
fn forgotten_inodes_are_let_go_and_a_rewalk_reuses_the_room() {
    let _caches = KERNEL_CACHES.lock().unwrap_or_else(|e| e.into_inner());
    let schema = "djfs_scale_forget";
    let (_dir, config) = scale_schema(schema);
    let mount = Mount::new(&config, Some(schema), &[]);
    let walk = || {
        // The table folder, a `.definition`, and per row its folder and 4 files.
        assert_eq!(find_entries(&mount.path.join("Reading")), 2 + ROWS * 5);
    };
    let drop_kernel_caches = || {
        std::fs::write("/proc/sys/vm/drop_caches", "2").expect("drop_caches (tests run as root)");
    };
    walk();
    let walked = inodes(&mount);
    // (`Reading` is keyed by one integer: its row folders' numbers are computed too.)
    assert!(
        walked < 50,
        "{walked} inodes stored after a walk of {ROWS} integer-keyed rows of 4 files"
    );
    drop_kernel_caches();
    assert!(
        common::eventually(Duration::from_secs(10), || inodes(&mount) < 50),
        "still {} inodes after the kernel dropped its entries",
        inodes(&mount)
    );
    walk();
    let rewalked = inodes(&mount);
    assert!(
        rewalked <= walked + 10,
        "{rewalked} inodes after the second walk, {walked} after the first"
    );
    drop_kernel_caches();
    assert!(common::eventually(Duration::from_secs(10), || inodes(
        &mount
    ) < 50));
}

/// The first figure after `label` on a line of a `.djfs/stats` text (a count).
fn figure(stats: &str, label: &str) -> u64 {
    stats
        .lines()
        .find_map(|l| {
            let rest = l.trim_start().strip_prefix(label)?;
            rest.split_whitespace().next()?.parse().ok()
        })
        .unwrap_or_else(|| panic!("no {label:?} line in:\n{stats}"))
}

/// The figure of `kind` in the mount's `.djfs/stats` (its count).
fn asked(mount: &Mount, kind: &str) -> u64 {
    let stats = std::fs::read_to_string(mount.path.join(".djfs/stats")).unwrap();
    figure(&stats, kind)
}

/// The mounted schema's catalog is read at mount, so the first `ls` of a table waits only for
/// its first page of rows (issue 14: first names of a huge table): the listing asks no catalog
/// question, and one page query answers `ls -f | head`.
#[test]
fn the_catalog_is_read_at_mount_and_the_first_names_need_one_page() {
    let schema = "djfs_scale_first";
    let (_dir, config) = scale_schema_of(schema, 3 * djfs::fs::FIRST_PAGE_ROWS);
    let mount = Mount::new(&config, Some(schema), &[]);
    let catalog = asked(&mount, "catalog");
    assert!(catalog >= 1, "the catalog was not read at mount");
    let out = common::run_ok(std::process::Command::new("sh").arg("-c").arg(format!(
        "ls -f {:?} | head -n 100",
        mount.path.join("Reading")
    )));
    let first: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(first.len(), 100);
    assert!(first.iter().any(|n| n == "reading_id=0"), "{first:?}");
    assert_eq!(
        asked(&mount, "catalog"),
        catalog,
        "the first listing asked about the catalog"
    );
    assert_eq!(asked(&mount, "listing page"), 1);
}

/// A stale listing of an unchanged table costs one light check, not the table again; a change
/// by another client (here: the client's `update1`) still shows within the refresh delay.
#[test]
fn an_unchanged_table_is_checked_not_listed_again_and_changes_still_show() {
    let schema = "djfs_scale_changes";
    let (_dir, config) = scale_schema(schema);
    let mount = Mount::new(&config, Some(schema), &[]);
    let table = mount.path.join("Reading");
    let list = || std::fs::read_dir(&table).unwrap().count();
    let past_refresh = || std::thread::sleep(Duration::from_millis(1300));
    // The first listing asks for the table's change stamp too (one light check); the client
    // filled the table a moment ago, perhaps within the same second, which the stamp cannot
    // tell apart from a later change: the first re-check may read the table again.
    assert_eq!(list(), ROWS + 1);
    assert!((1..=2).contains(&asked(&mount, "change check")));
    past_refresh();
    assert_eq!(list(), ROWS + 1);
    let listings = asked(&mount, "listing page");
    let checks = asked(&mount, "change check");
    for _ in 0..3 {
        past_refresh();
        assert_eq!(list(), ROWS + 1);
    }
    assert_eq!(
        asked(&mount, "listing page"),
        listings,
        "an unchanged table was listed again"
    );
    // One check per listing, and the watcher's one per refresh delay (about 4 in 3.9 s).
    let checked = asked(&mount, "change check") - checks;
    assert!((3..=9).contains(&checked), "{checked} change checks");

    let e = common::env();
    common::run_ok(std::process::Command::new(&e.python).arg("-c").arg(format!(
        "import datajoint as dj; dj.config.load({:?}); \
         m = dj.VirtualModule('m', {schema:?}); \
         m.Reading.update1(dict(reading_id=5, label='changed by the client'))",
        config.display().to_string()
    )));
    let label = table.join("reading_id=5/label");
    assert!(
        common::eventually(Duration::from_secs(4), || {
            list();
            std::fs::read_to_string(&label).unwrap() == "changed by the client\n"
        }),
        "the client's change did not show: {:?}",
        std::fs::read_to_string(&label)
    );
    assert!(asked(&mount, "listing page") > listings);
}

/// After the refresh delay, a second walk of an unchanged table is answered by the kernel's
/// caches (its row folders' listings are not asked again), and a row the client deletes or
/// inserts, or a value it changes, still shows within the refresh delay: the watcher tells the
/// kernel to forget the table when it changes.
#[test]
fn a_warm_walk_is_answered_by_the_kernel_and_changes_still_show() {
    let schema = "djfs_scale_warm";
    let (_dir, config) = scale_schema(schema);
    let mount = Mount::new(&config, Some(schema), &[]);
    let table = mount.path.join("Reading");
    let past_refresh = || std::thread::sleep(Duration::from_millis(1300));
    let entries = find_entries(&table);
    assert!(entries > 4 * ROWS, "{entries}");
    // The table was filled a moment ago (within the second its stamp can tell): let it settle.
    past_refresh();
    assert_eq!(find_entries(&table), entries);
    past_refresh();
    assert_eq!(find_entries(&table), entries);
    let stats = |m: &Mount| std::fs::read_to_string(m.path.join(".djfs/stats")).unwrap();
    let before = stats(&mount);
    past_refresh();
    assert_eq!(find_entries(&table), entries);
    let after = stats(&mount);
    let delta = |label: &str| figure(&after, label) - figure(&before, label);
    // Without the kernel's caches each row folder is read again (at least two readdirs each).
    assert!(
        delta("readdir") < (ROWS / 4) as u64,
        "{} readdirs for a warm walk of {ROWS} rows:\n{after}",
        delta("readdir")
    );
    assert!(delta("lookup") < (ROWS / 4) as u64, "{}", delta("lookup"));
    // Folders are not opened (djfs answers `opendir` with ENOSYS): the walk begins one listing,
    // the table's, where each row and attachment folder used to cost an open and a release. (The
    // kernel keeps listings in the folders' page cache, which it may reclaim when the rest of a
    // test run fills the memory: a few row folders may then be listed again; seen once, 10.)
    assert!(
        delta("listings begun") <= 2 + (ROWS / 100) as u64,
        "{} listings begun for a warm walk of {ROWS} rows:\n{after}",
        delta("listings begun")
    );
    assert!(figure(&after, "watched tables") >= 1);

    let e = common::env();
    common::run_ok(std::process::Command::new(&e.python).arg("-c").arg(format!(
        "import datajoint as dj; dj.config.load({:?}); \
         m = dj.VirtualModule('m', {schema:?}); \
         (m.Reading & 'reading_id=7').delete_quick(); \
         m.Reading.insert1(dict(reading_id=100000, value=1.5, label='new row', day='2021-01-01')); \
         m.Reading.update1(dict(reading_id=8, label='changed'))",
        config.display().to_string()
    )));
    let shown = common::eventually(Duration::from_millis(2500), || {
        !table.join("reading_id=7").exists()
            && std::fs::read_to_string(table.join("reading_id=100000/label"))
                .ok()
                .as_deref()
                == Some("new row\n")
            && std::fs::read_to_string(table.join("reading_id=8/label"))
                .ok()
                .as_deref()
                == Some("changed\n")
    });
    assert!(
        shown,
        "the client's changes did not show within 2.5 s: 7 exists {}, 8 says {:?}",
        table.join("reading_id=7").exists(),
        std::fs::read_to_string(table.join("reading_id=8/label"))
    );
    assert_eq!(find_entries(&table), entries);
}

/// A listing the kernel keeps (an attachment folder in a watched table) still changes within
/// the refresh delay when the client replaces the attachment with another file name: read by
/// path, and through a descriptor held on the folder (a shell sitting in it), which no lookup
/// refreshes (the watcher makes the kernel forget the listings it kept of the table).
#[test]
fn a_kept_folder_listing_changes_when_the_client_renames_the_attachment() {
    let schema = "djfs_scale_kept";
    let (dir, config) = scale_schema_full(schema, 10, 1, 20);
    let mount = Mount::new(&config, Some(schema), &[]);
    let notes = mount.path.join("Note");
    let doc = notes.join("note_id=3/doc");
    let names = |p: &Path| -> Vec<String> {
        let mut n: Vec<String> = std::fs::read_dir(p)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        n.sort();
        n
    };
    let held = std::fs::File::open(&doc).unwrap();
    let via_held = PathBuf::from(format!("/proc/self/fd/{}", held.as_raw_fd()));
    // Walked three times, a refresh delay apart: the table is watched, its folders are kept.
    for _ in 0..3 {
        assert!(find_entries(&notes) > 20 * 2);
        assert_eq!(names(&doc), vec!["note_3.txt"]);
        assert_eq!(names(&via_held), vec!["note_3.txt"]);
        std::thread::sleep(Duration::from_millis(1300));
    }
    let new_file = dir.path().join("renamed.txt");
    std::fs::write(&new_file, "renamed by the client\n").unwrap();
    let e = common::env();
    common::run_ok(std::process::Command::new(&e.python).arg("-c").arg(format!(
        "import datajoint as dj; dj.config.load({:?}); \
         m = dj.VirtualModule('m', {schema:?}); \
         m.Note.update1(dict(note_id=3, doc={:?}))",
        config.display().to_string(),
        new_file.display().to_string()
    )));
    let renamed = vec!["renamed.txt".to_string()];
    let shown = common::eventually(Duration::from_millis(2500), || {
        names(&doc) == renamed && names(&via_held) == renamed
    });
    assert!(
        shown,
        "the new attachment name did not show within 2.5 s: by path {:?}, held {:?}",
        names(&doc),
        names(&via_held)
    );
    assert_eq!(
        std::fs::read_to_string(doc.join("renamed.txt")).unwrap(),
        "renamed by the client\n"
    );
    assert_eq!(names(&notes.join("note_id=4/doc")), vec!["note_4.txt"]);
}

/// A table listed in small pages while the client inserts and deletes rows between the ones
/// that exist throughout: each of those is listed exactly once, and no name twice.
#[test]
fn a_paged_listing_during_inserts_lists_every_lasting_row_exactly_once() {
    let schema = "djfs_scale_paging";
    // Even ids exist throughout; the client inserts odd ones (and deletes some again).
    let (_dir, config) = scale_schema_with(schema, ROWS, 2);
    let mount = Mount::new(&config, Some(schema), &["--page-rows", "20"]);
    let e = common::env();
    let mut client = std::process::Command::new(&e.python)
        .arg("-c")
        .arg(format!(
            "import datajoint as dj, random, sys, time\n\
             dj.config.load({:?})\n\
             m = dj.VirtualModule('m', {schema:?})\n\
             print('ready', flush=True)\n\
             odd = list(range(1, {rows}, 2)); random.seed(7); random.shuffle(odd)\n\
             end = time.time() + 6\n\
             for i, k in enumerate(odd):\n\
             \x20   if time.time() > end: break\n\
             \x20   m.Reading.insert1(dict(reading_id=k, value=0.5, label='new', day='2021-01-01'))\n\
             \x20   if i % 3 == 0: (m.Reading & dict(reading_id=k)).delete_quick()\n",
            config.display().to_string(),
            rows = 2 * ROWS
        ))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(client.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "ready");
    // A slow reader: pages are read as it goes, while the client writes.
    let mut names = Vec::new();
    for entry in std::fs::read_dir(mount.path.join("Reading")).unwrap() {
        names.push(entry.unwrap().file_name().to_string_lossy().into_owned());
        std::thread::sleep(Duration::from_micros(1500));
    }
    assert!(client.wait().unwrap().success());
    let mut seen = std::collections::HashMap::new();
    for name in &names {
        *seen.entry(name.clone()).or_insert(0) += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, &n)| n > 1).collect();
    assert!(twice.is_empty(), "listed twice: {twice:?}");
    for id in (0..2 * ROWS).step_by(2) {
        assert_eq!(
            seen.get(&format!("reading_id={id}")),
            Some(&1),
            "reading_id={id} existed throughout"
        );
    }
    let odd = names
        .iter()
        .filter(|n| {
            n.strip_prefix("reading_id=")
                .and_then(|k| k.parse::<usize>().ok())
                .is_some_and(|k| k % 2 == 1)
        })
        .count();
    let pages = asked(&mount, "listing page");
    eprintln!(
        "{} names, {odd} inserted during the walk, {pages} pages",
        names.len()
    );
    assert!(pages >= 4, "{pages} pages");
}

/// `find -printf %s` over `dir`: how many entries it printed (it must succeed).
fn find_entries(dir: &std::path::Path) -> usize {
    let out = std::process::Command::new("find")
        .arg(dir)
        .args(["-printf", "%s\n"])
        .output()
        .unwrap();
    assert!(out.status.success());
    out.stdout.iter().filter(|&&b| b == b'\n').count()
}

/// The daemon's resident memory, in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| {
            l.strip_prefix("VmRSS:")?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap()
}

/// Three `find`s over 200,000 rows (a million files): the table is listed at most twice (a stale
/// listing of the unchanged table is checked, not read again) and the daemon's memory does not
/// grow from the second walk to the third (it holds what the kernel holds, not a copy per walk).
#[test]
fn memory_stays_bounded_over_three_walks_of_200000_rows() {
    let _caches = KERNEL_CACHES.lock().unwrap_or_else(|e| e.into_inner());
    const BIG: usize = 200_000;
    let schema = "djfs_scale_walks";
    let (_dir, config) = scale_schema_of(schema, BIG);
    let mount = Mount::new(&config, Some(schema), &[]);
    let pid = mount.daemon_pid().unwrap();
    let mut after = Vec::new();
    for _ in 0..3 {
        assert_eq!(find_entries(&mount.path.join("Reading")), 2 + BIG * 5);
        after.push(rss_kib(pid));
    }
    eprintln!("RSS after each walk (KiB): {after:?}");
    assert!(
        after[2] as f64 <= after[1] as f64 * 1.10,
        "RSS after each walk (KiB): {after:?}"
    );
    assert!(asked(&mount, "listing") <= 2, "the table was listed again");
}
