//! `.external/<store>/.unused/` and `djfs gc` on DataJoint 2.x schemas (issue 16, item 2),
//! against the real 2.x client (datajoint 2.3.5) on the private PostgreSQL 15 and S3: the
//! reference schema of `tests/python/make_v2_reference.py` (a folder store, the S3 store and the
//! relocated `deep` store), made partly unused by the client (`tests/python/v2_gc.py unuse`), is
//! compared with the client's `dj.gc.GarbageCollector(schema, store=…).collect(dry_run=True)`;
//! after the cleanup the client fetches every row. Also: `rm` of an object referenced again
//! (EBUSY), a store that cannot be listed (EIO, never a partial list), a client insert held while
//! djfs re-checks and deletes (PostgreSQL and MariaDB), the references query on MariaDB, and a
//! migrated schema whose 2.x filepath names a 0.14 object.
//!
//! Needs what `scripts/test` exports (DJFS_PG_*, DJFS_PY2, the S3 and MariaDB settings); without
//! DJFS_PG_HOST each test says so and passes without checking anything. The tests take one lock:
//! one of them stops the private s3s-fs.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::pg::{pg, Pg};
use common::{private_service_pid, test_var, Mount, RestartServices};
use serde_json::Value;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

const STORES: [&str; 3] = ["local", "shared", "deep"];

/// Runs a 2.x client script of `tests/python` and returns its last stdout line as JSON.
fn client2(pg: &Pg, script: &str, args: &[&str]) -> Value {
    let out = common::run_ok(
        Command::new(&pg.python)
            .arg("-W")
            .arg("ignore")
            .arg(common::repo_root().join("tests/python").join(script))
            .args(args),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or(Value::Null)
}

/// `v2_gc.py COMMAND SCHEMA --config CONFIG [more]`.
fn v2_gc(pg: &Pg, command: &str, schema: &str, config: &Path, more: &[&str]) -> Value {
    let mut args = vec![command, schema, "--config", config.to_str().unwrap()];
    args.extend_from_slice(more);
    client2(pg, "v2_gc.py", &args)
}

/// The 2.x reference schema in a fresh folder (stores under it), made partly unused by the
/// client; returns the folder and its config.
fn unused_reference(pg: &Pg, schema: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("datajoint.json");
    let stores = dir.path().join("stores");
    client2(
        pg,
        "make_v2_reference.py",
        &[
            schema,
            "--backend",
            "postgresql",
            "--store-root",
            stores.to_str().unwrap(),
            "--config-out",
            config.to_str().unwrap(),
        ],
    );
    let done = v2_gc(pg, "unuse", schema, &config, &[]);
    assert!(done.as_array().is_some_and(|d| d.len() >= 8), "{done}");
    (dir, config)
}

/// The client's dry run: {store: paths} (and `<default>`, the collector without a store).
fn dry_run(pg: &Pg, schema: &str, config: &Path) -> BTreeMap<String, BTreeSet<String>> {
    paths_by_store(&v2_gc(pg, "dry-run", schema, config, &[]))
}

/// A `{store: [path, …]}` report of `v2_gc.py` as sets.
fn paths_by_store(report: &Value) -> BTreeMap<String, BTreeSet<String>> {
    report
        .as_object()
        .unwrap()
        .iter()
        .map(|(store, paths)| {
            let paths = paths
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_str().unwrap().to_string())
                .collect();
            (store.clone(), paths)
        })
        .collect()
}

/// Every file under `dir`, by its path relative to it.
fn files_under(dir: &Path) -> BTreeSet<String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let entry = entry.unwrap();
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).unwrap();
                out.insert(rel.to_string_lossy().into_owned());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out);
    out
}

fn unused_dir(mount: &Mount, store: &str) -> PathBuf {
    mount.path.join(".external").join(store).join(".unused")
}

/// `djfs gc --list [--dry-run] SCHEMA`: its stdout lines `<store>\t<path>` by store, and the
/// summary line.
fn djfs_gc(
    config: &Path,
    schema: &str,
    dry_run: bool,
) -> (BTreeMap<String, BTreeSet<String>>, String) {
    let mut cmd = common::djfs();
    cmd.args(["gc", "--list", "--config"]).arg(config);
    if dry_run {
        cmd.arg("--dry-run");
    }
    let out = cmd.arg(schema).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "djfs gc: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut listed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut summary = String::new();
    for line in stdout.lines() {
        match line.split_once('\t') {
            Some((store, path)) => {
                listed
                    .entry(store.to_string())
                    .or_default()
                    .insert(path.to_string());
            }
            None => summary = line.to_string(),
        }
    }
    (listed, summary)
}

/// The acceptance of issue 16, item 2: on a schema the client made partly unused (rows deleted,
/// values overwritten, a folder object, a shared hash still referenced by another row), in a
/// folder store, the S3 store and a relocated store, `.unused` lists exactly the objects the
/// client's collector reports; `rm -r .unused/*` removes them, after which the client's dry run
/// reports nothing and the client fetches every remaining row, reading every stored object.
#[test]
fn unused_is_what_the_client_collects_and_rm_r_leaves_every_row_fetchable() {
    let pg = pg();
    let _serial = serial();
    let schema = "djfs_v2gc_accept";
    let (_dir, config) = unused_reference(&pg, schema);
    let expected = dry_run(&pg, schema, &config);
    // What the client made unused is there to compare (each kind, each store).
    let local = &expected["local"];
    assert!(
        local.iter().any(|p| p.ends_with(".manifest.json"))
            && local
                .iter()
                .any(|p| p.ends_with("/plots/deeper/values.json")),
        "a folder object with its manifest: {local:?}"
    );
    assert!(expected["shared"].iter().any(|p| p.contains("/o_s3_")));
    assert!(expected["deep"]
        .iter()
        .any(|p| p.starts_with(&format!("objects/by-hash/{schema}/"))));
    assert!(expected["deep"]
        .iter()
        .any(|p| p.starts_with(&format!("objects/by-key/{schema}/relocated/"))));
    // b"hello\n": its row 4 was deleted, row 1 still references it.
    let hello = format!("_hash/{schema}/{}", djfs::stored::content_hash(b"hello\n"));
    assert!(!local.contains(&hello), "{local:?}");
    // The collector without a store (the default store, `local`) reports the same here.
    assert_eq!(expected["<default>"], *local);

    let mount = Mount::new(&config, Some(schema), &[]);
    for store in STORES {
        assert_eq!(
            files_under(&unused_dir(&mount, store)),
            expected[store],
            "{store}: .unused against the client's dry run"
        );
    }
    // An unused file reads as the object it is, with its size before any read.
    let stores_dir = config.parent().unwrap().join("stores");
    let some = expected["local"].iter().next().unwrap();
    let shown = unused_dir(&mount, "local").join(some);
    let bytes = std::fs::read(stores_dir.join("local").join(some)).unwrap();
    assert_eq!(std::fs::metadata(&shown).unwrap().len(), bytes.len() as u64);
    assert_eq!(std::fs::read(&shown).unwrap(), bytes);
    // `djfs gc --dry-run --list` agrees, store by store.
    let (listed, summary) = djfs_gc(&config, schema, true);
    for store in STORES {
        assert_eq!(
            listed.get(store).cloned().unwrap_or_default(),
            expected[store],
            "{store}"
        );
    }
    let total: usize = STORES.iter().map(|s| expected[*s].len()).sum();
    assert!(
        summary.starts_with(&format!("would delete {total} objects, ")),
        "{summary}"
    );

    // `.unused` is removable, and not on a `--read-only` mount.
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&unused_dir(&mount, "local")), 0o755);
    assert_eq!(mode(&unused_dir(&mount, "local").join("_hash")), 0o755);
    assert_eq!(mode(&mount.path.join("Hashes")), 0o755);
    {
        let read_only = Mount::new(&config, Some(schema), &["--read-only"]);
        let err = std::fs::remove_file(unused_dir(&read_only, "local").join(some)).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EROFS), "{err}");
    }

    // rm -r .unused/* in each store.
    for store in STORES {
        let out = Command::new("sh")
            .arg("-c")
            .arg("rm -r ./*")
            .current_dir(unused_dir(&mount, store))
            .output()
            .unwrap();
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{store}: rm -r: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            mount.log_text()
        );
        assert!(files_under(&unused_dir(&mount, store)).is_empty());
    }
    for path in &expected["local"] {
        assert!(!stores_dir.join("local").join(path).exists(), "{path}");
    }
    let after = dry_run(&pg, schema, &config);
    for store in STORES {
        assert!(after[store].is_empty(), "{store}: {:?}", after[store]);
    }
    // Every remaining row, every stored object, through the client.
    let fetched = v2_gc(&pg, "fetch-all", schema, &config, &[]);
    assert_eq!(fetched["rows"], 68, "{fetched}");
    let log = mount.log_text();
    assert_eq!(
        log.matches("deleted the unused object").count(),
        total,
        "{log}"
    );
}

/// `rm` in `.unused` re-checks the references right before deleting: an object a row references
/// again since `.unused` was listed (the client stored the same content: it found the object and
/// only referenced it) is kept, EBUSY with a log line; another object still unused goes.
#[test]
fn rm_of_an_object_referenced_again_is_ebusy() {
    let pg = pg();
    let _serial = serial();
    let schema = "djfs_v2gc_busy";
    let (dir, config) = unused_reference(&pg, schema);
    // A long refresh delay: the listing stays as it was when listed.
    let mount = Mount::new(&config, Some(schema), &["--refresh", "60"]);
    let hashes = unused_dir(&mount, "local").join("_hash").join(schema);
    let zeros = djfs::stored::content_hash(&[0u8; 10]);
    let names: BTreeSet<String> = std::fs::read_dir(&hashes)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.contains(&zeros), "{names:?}");
    // The client stores ten zero bytes again, in a new row: the object is referenced.
    let inserted = v2_gc(
        &pg,
        "insert-hash",
        schema,
        &config,
        &["--id", "30", "--bytes-hex", "00000000000000000000"],
    );
    assert_eq!(inserted["hash"], zeros.as_str());
    let err = std::fs::remove_file(hashes.join(&zeros)).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EBUSY), "{err}");
    let log = mount.log_text();
    assert!(
        log.contains(&format!("{zeros}: referenced again meanwhile; not deleted")),
        "{log}"
    );
    let object = dir
        .path()
        .join("stores/local/_hash")
        .join(schema)
        .join(&zeros);
    assert_eq!(std::fs::read(&object).unwrap(), [0u8; 10]);
    // Another one of the same listing is still unused: it goes.
    let other = names.iter().find(|n| **n != zeros).unwrap();
    std::fs::remove_file(hashes.join(other)).unwrap();
    assert!(!dir
        .path()
        .join("stores/local/_hash")
        .join(schema)
        .join(other)
        .exists());
    let fetched = v2_gc(&pg, "fetch-all", schema, &config, &[]);
    assert!(fetched["rows"].as_u64().unwrap() > 60, "{fetched}");
}

fn stop_s3() {
    let pid_file = Path::new(&test_var("DJFS_RUN")).join("s3s-fs.pid");
    let pid = private_service_pid(&pid_file, &test_var("DJFS_S3_DATA"))
        .expect("the private s3s-fs of scripts/services-up runs");
    unsafe { libc::kill(pid, libc::SIGTERM) };
    assert!(common::eventually(Duration::from_secs(10), || {
        !Path::new(&format!("/proc/{pid}")).exists()
    }));
}

/// A store that cannot be listed (the S3 server stopped) makes its `.unused` EIO, with a log
/// line naming what failed, never a partial list; the folder store's `.unused` still lists (the
/// references come from the database); once S3 is back, so does the S3 store's.
#[test]
fn a_store_that_cannot_be_listed_makes_unused_eio() {
    let pg = pg();
    let _serial = serial();
    let schema = "djfs_v2gc_eio";
    let (_dir, config) = unused_reference(&pg, schema);
    let expected = dry_run(&pg, schema, &config);
    let mount = Mount::new(&config, Some(schema), &[]);
    {
        let _restart = RestartServices;
        stop_s3();
        let err = std::fs::read_dir(unused_dir(&mount, "shared"))
            .and_then(|d| d.collect::<Result<Vec<_>, _>>())
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EIO), "{err}");
        let log = mount.log_text();
        assert!(
            log.lines().any(|l| l.contains("ERROR")
                && l.contains(&format!("{schema}/.external/shared/.unused"))
                && l.contains(&format!("listing _hash/{schema}/ in store \"shared\""))),
            "{log}"
        );
        assert_eq!(files_under(&unused_dir(&mount, "local")), expected["local"]);
    }
    // Services back (RestartServices); after the refresh delay the listing is asked again.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        files_under(&unused_dir(&mount, "shared")),
        expected["shared"]
    );
}

/// `djfs gc SCHEMA` on a 2.x schema: its dry run lists what the client's collector reports,
/// store by store; then it deletes exactly that, and the client's dry run reports nothing and
/// the client fetches every row.
#[test]
fn djfs_gc_cleans_a_2x_schema_as_the_client_would() {
    let pg = pg();
    let _serial = serial();
    let schema = "djfs_v2gc_cli";
    let (_dir, config) = unused_reference(&pg, schema);
    let expected = dry_run(&pg, schema, &config);
    let (would, _) = djfs_gc(&config, schema, true);
    let (deleted, summary) = djfs_gc(&config, schema, false);
    let total: usize = STORES.iter().map(|s| expected[*s].len()).sum();
    for store in STORES {
        assert_eq!(
            would.get(store).cloned().unwrap_or_default(),
            expected[store],
            "{store}"
        );
        assert_eq!(
            deleted.get(store).cloned().unwrap_or_default(),
            expected[store],
            "{store}"
        );
    }
    assert!(
        summary.starts_with(&format!("deleted {total} objects, ")) && summary.contains(" 0 failed"),
        "{summary}"
    );
    let after = dry_run(&pg, schema, &config);
    for store in STORES {
        assert!(after[store].is_empty(), "{store}: {:?}", after[store]);
    }
    assert_eq!(v2_gc(&pg, "fetch-all", schema, &config, &[])["rows"], 68);
}

/// Runs `with_stored_references_held` and, inside it, a client insert of a row referencing a
/// stored object: the server must show the insert waiting for a lock (`lock_waits`, asked on
/// another connection), and the insert must not finish until the transaction ends (then it
/// The 2.x client inserting row 40 with the hash-addressed bytes 01 02 (`v2_gc.py insert-hash`),
/// to be started while djfs holds the references.
fn insert_hash_0102(pg: &Pg, schema: &str, config: &Path) -> Command {
    let mut insert = Command::new(&pg.python);
    insert
        .arg("-W")
        .arg("ignore")
        .arg(common::repo_root().join("tests/python/v2_gc.py"))
        .args(["insert-hash", schema, "--config"])
        .arg(config)
        .args(["--id", "40", "--bytes-hex", "0102"]);
    insert
}

/// succeeds). Returns the references seen.
fn insert_waits_for_the_held_references(
    db: &dyn djfs::backend::Backend,
    schema: &str,
    insert: &mut Command,
    lock_waits: &mut dyn FnMut() -> u64,
) -> Vec<djfs::backend::StoredRef> {
    let mut seen = Vec::new();
    let mut child = None;
    db.with_stored_references_held(schema, &mut |refs| {
        seen = refs.to_vec();
        let mut c = insert.stdout(Stdio::null()).spawn().unwrap();
        let started = Instant::now();
        while lock_waits() == 0 {
            assert!(
                c.try_wait().unwrap().is_none(),
                "the client's insert finished while the references were held"
            );
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the insert never waited"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        // Waiting, and still waiting a moment later.
        std::thread::sleep(Duration::from_secs(1));
        assert!(c.try_wait().unwrap().is_none());
        child = Some(c);
        Ok(())
    })
    .unwrap();
    let status = child.unwrap().wait().unwrap();
    assert!(status.success(), "the client's insert failed once released");
    seen
}

/// While djfs re-checks the references and deletes (`with_stored_references_held`), a client
/// insert that would reference an object waits until djfs is done (PostgreSQL: SHARE locks);
/// the references djfs reads are the client collector's, plus the `<filepath@>` ones.
#[test]
fn a_client_insert_waits_while_djfs_re_checks_and_deletes_on_postgresql() {
    let pg = pg();
    let _serial = serial();
    let schema = "djfs_v2gc_lock";
    let (_dir, config) = unused_reference(&pg, schema);
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    let cfg = djfs::config::from_json(&json, Some(config.clone()), |_| None).unwrap();
    let db = djfs::backend::postgres::Postgres::connect_with_budget(&cfg.database, 2).unwrap();
    let mut insert = insert_hash_0102(&pg, schema, &config);
    let mut watcher = postgres::Config::new()
        .host(&pg.host)
        .port(pg.port)
        .user(&pg.user)
        .password(&pg.pass)
        .dbname(&pg.database)
        .connect(postgres::NoTls)
        .unwrap();
    let mut lock_waits = || -> u64 {
        let row = watcher
            .query_one("SELECT count(*) FROM pg_locks WHERE NOT granted", &[])
            .unwrap();
        row.get::<_, i64>(0) as u64
    };
    let seen = insert_waits_for_the_held_references(&db, schema, &mut insert, &mut lock_waits);
    let ours: BTreeSet<String> = seen
        .iter()
        .filter(|r| !r.filepath)
        .map(|r| r.path.clone())
        .collect();
    let theirs: BTreeSet<String> = paths_by_store(&v2_gc(&pg, "references", schema, &config, &[]))
        .into_values()
        .flatten()
        .collect();
    // The row inserted meanwhile is the only difference.
    let new = format!("_hash/{schema}/{}", djfs::stored::content_hash(&[1, 2]));
    let mut expected = ours.clone();
    expected.insert(new);
    assert_eq!(expected, theirs);
    assert!(seen
        .iter()
        .any(|r| r.filepath && r.path.starts_with(&format!("files/{schema}/"))));
    assert_eq!(
        djfs::backend::Backend::stored_references(&db, schema)
            .unwrap()
            .len(),
        seen.len() + 1
    );
}

/// The MySQL family: on the MariaDB (where the 2.x client writes `<hash@>`, `<object@>`,
/// `<npy@>` and `<filepath@>` into longtext columns labelled as such), djfs reads the same
/// references as the client's collector, and its locking reads hold a client insert.
#[test]
fn references_and_held_inserts_on_mariadb() {
    let pg = pg();
    let _serial = serial();
    let schema = "djfs_v2gc_my";
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("my.json");
    let made = client2(
        &pg,
        "v2_gc.py",
        &[
            "make-mysql",
            schema,
            "--config",
            config.to_str().unwrap(),
            "--location",
            dir.path().join("stores").to_str().unwrap(),
        ],
    );
    assert_eq!(made["rows"], 3, "{made}");
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    let cfg = djfs::config::from_json(&json, Some(config.clone()), |_| None).unwrap();
    let db = djfs::backend::mysql::MySql::connect(&cfg.database).unwrap();
    let theirs = |config: &Path| paths_by_store(&v2_gc(&pg, "references", schema, config, &[]));
    let ours = |refs: &[djfs::backend::StoredRef]| -> BTreeMap<String, BTreeSet<String>> {
        let mut by_store: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for r in refs.iter().filter(|r| !r.filepath) {
            by_store
                .entry(r.store.clone().unwrap())
                .or_default()
                .insert(r.path.clone());
        }
        by_store
    };
    let before = ours(&djfs::backend::Backend::stored_references(&db, schema).unwrap());
    let client_before = theirs(&config);
    assert_eq!(before.get("local"), client_before.get("local"));
    assert_eq!(before.get("shared"), client_before.get("shared"));
    assert!(before["local"].len() >= 3, "{before:?}");
    let mut insert = insert_hash_0102(&pg, schema, &config);
    let mut watcher = common::db_conn();
    let mut lock_waits = || -> u64 {
        use mysql::prelude::Queryable;
        watcher
            .query_first(
                "SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE trx_state = 'LOCK WAIT'",
            )
            .unwrap()
            .unwrap_or(0)
    };
    let seen = insert_waits_for_the_held_references(&db, schema, &mut insert, &mut lock_waits);
    assert_eq!(ours(&seen), before);
    let after = ours(&djfs::backend::Backend::stored_references(&db, schema).unwrap());
    assert_eq!(after["local"].len(), before["local"].len() + 1);
    assert_eq!(after.get("local"), theirs(&config).get("local"));
}

/// A migrated schema (0.14 on the MariaDB, then a 2.x table in it): a 0.14 object that no 0.14
/// row references but a 2.x `<filepath@>` names is not unused: `.unused` and `djfs gc` leave it,
/// while the 0.14 client's `unused()` lists it.
#[test]
fn a_0_14_object_a_2x_filepath_names_is_not_unused() {
    let pg = pg();
    let _serial = serial();
    let schema = "djfs_v2gc_migrated";
    let (dir, config) = common::schema_with_stores("make_demo.py", schema, false);
    let deleted = common::client(&config, schema, &["delete", "Test", r#"{"id": 2}"#]);
    assert_eq!(deleted["deleted"], true, "{deleted}");
    let unused: Vec<String> = common::client(&config, schema, &["unused", "local"])["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap().to_string())
        .collect();
    assert_eq!(unused.len(), 2, "{unused:?}");
    // The blob (no attachment name) is the one the 2.x table will name.
    let local = dir.path().join("local");
    let path_of = |hex: &str| -> String {
        let folder = local.join(schema).join(&hex[0..2]).join(&hex[2..4]);
        let name = std::fs::read_dir(&folder)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .find(|n| n.starts_with(hex))
            .unwrap();
        format!("{schema}/{}/{}/{name}", &hex[0..2], &hex[2..4])
    };
    let (named, free) = {
        let a = path_of(&unused[0]);
        let b = path_of(&unused[1]);
        if a.len() < b.len() {
            (a, b)
        } else {
            (b, a)
        }
    };
    let referenced = client2(
        &pg,
        "v2_gc.py",
        &[
            "refer-0.14",
            schema,
            "--location",
            local.to_str().unwrap(),
            "--path",
            &named,
        ],
    );
    assert_eq!(referenced["referenced"], named.as_str());
    // The 0.14 client still calls both unused.
    let still = common::client(&config, schema, &["unused", "local"]);
    assert_eq!(still["hashes"].as_array().unwrap().len(), 2, "{still}");

    let mount = Mount::new(&config, Some(schema), &[]);
    let shown = files_under(&unused_dir(&mount, "local"));
    let free_name = free.rsplit('/').next().unwrap().to_string();
    assert_eq!(shown, BTreeSet::from([free_name]));
    let (would, _) = djfs_gc(&config, schema, true);
    assert_eq!(would["local"].len(), 1, "{would:?}");
    assert!(!would["local"].iter().any(|n| named.ends_with(n.as_str())));
    let (_, summary) = djfs_gc(&config, schema, false);
    assert!(summary.contains(" 0 failed"), "{summary}");
    assert!(local.join(&named).exists());
    assert!(!local.join(&free).exists());
}
