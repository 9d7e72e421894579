//! `Table/.definition` against the real client's `describe()` (byte for byte), and the schema
//! diagrams (`.diagram.svg`, `.diagram.dot`) against the client's dependencies, through real
//! mounts of the reference schema, the seed demo schema and a schema of awkward definitions
//! (tests/python/make_definitions.py).

mod common;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use common::{python, write_config, Mount};
use serde_json::Value;

const OWN: &str = "djfs_def_own";

/// The schema of awkward definitions, made once per run of this test binary.
fn own_schema() -> &'static str {
    static MADE: OnceLock<()> = OnceLock::new();
    MADE.get_or_init(|| {
        python("make_definitions.py", &[OWN]);
    });
    OWN
}

/// What the client says: `describe()` per class, tiers, and (parent, child) per foreign key.
struct Client {
    definitions: BTreeMap<String, String>,
    tiers: BTreeMap<String, String>,
    dependencies: Vec<(String, String)>,
}

fn client(schema: &str) -> Client {
    let out = python("describe.py", &[schema]);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let strings = |key: &str| -> BTreeMap<String, String> {
        json[key]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect()
    };
    Client {
        definitions: strings("definitions"),
        tiers: strings("tiers"),
        dependencies: pairs(&json["dependencies"]),
    }
}

fn pairs(v: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p[0].as_str().unwrap().to_string(),
                p[1].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

/// Every table folder holds `.definition`, listed with its size, equal to `describe()`.
fn check_definitions(root: &Path, client: &Client) {
    let mut folders: Vec<String> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    folders.sort();
    assert_eq!(
        folders,
        client.definitions.keys().cloned().collect::<Vec<_>>()
    );
    for (class, expected) in &client.definitions {
        let file = root.join(class).join(".definition");
        let got = std::fs::read_to_string(&file).unwrap();
        assert_eq!(
            got, *expected,
            "{class}/.definition differs from describe()"
        );
        let listed = std::fs::read_dir(root.join(class))
            .unwrap()
            .map(|e| e.unwrap())
            .find(|e| e.file_name() == ".definition")
            .unwrap_or_else(|| panic!("{class}: .definition not listed"));
        assert_eq!(listed.metadata().unwrap().len(), expected.len() as u64);
    }
}

/// The SVG parses as XML and draws each table once (with its tier) and one edge per foreign key
/// the client reports; the DOT file names the same nodes and edges (renamed keys through alias
/// nodes).
fn check_diagram(root: &Path, client: &Client) {
    let svg = root.join(".diagram.svg");
    let out = python("diagram_svg.py", &[svg.to_str().unwrap()]);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let drawn: BTreeMap<String, String> = json["tables"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    assert_eq!(drawn, client.tiers, "tables and tiers in .diagram.svg");
    assert_eq!(
        pairs(&json["edges"]),
        client.dependencies,
        "edges in .diagram.svg"
    );

    let dot = std::fs::read_to_string(root.join(".diagram.dot")).unwrap();
    assert!(dot.starts_with("digraph \""), "{dot}");
    assert!(dot.ends_with("}\n"));
    let quoted = |s: &str| -> Vec<String> {
        s.split('"')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    };
    let mut tables = Vec::new();
    let mut aliases = Vec::new();
    let mut edges = Vec::new();
    for line in dot.lines().map(str::trim) {
        if line.contains(" -> ") {
            let names = quoted(line);
            edges.push((names[0].clone(), names[1].clone()));
        } else if line.contains(" [label=\"\"") {
            aliases.push(quoted(line)[0].clone());
        } else if line.contains(" [label=") {
            tables.push(quoted(line)[0].clone());
        }
    }
    tables.sort();
    assert_eq!(
        tables,
        client.tiers.keys().cloned().collect::<Vec<_>>(),
        "nodes in .diagram.dot"
    );
    let mut deps: Vec<(String, String)> = Vec::new();
    for (from, to) in &edges {
        if aliases.contains(from) {
            continue;
        }
        if aliases.contains(to) {
            let (_, child) = edges.iter().find(|(f, _)| f == to).unwrap();
            deps.push((from.clone(), child.clone()));
        } else {
            deps.push((from.clone(), to.clone()));
        }
    }
    deps.sort();
    assert_eq!(deps, client.dependencies, "edges in .diagram.dot");
}

#[test]
fn own_schema_definitions_and_diagram_match_the_client() {
    let schema = own_schema();
    let client = client(schema);
    assert_eq!(client.definitions.len(), 12);
    // The awkward parts are really there (so the comparison covers them).
    let cross = &client.definitions["Cross"];
    assert!(
        cross.contains("-> Subject.proj(mother=\"subject_id\")\n"),
        "{cross}"
    );
    assert!(cross.contains("-> [unique, nullable] Lab\n"), "{cross}");
    assert!(client.definitions["Lab"].contains("quip=\"a \"b\" c\"       : varchar(32)"));
    assert!(
        client.definitions["Lab"].ends_with("UNIQUE INDEX (institution)\nINDEX (room, capacity)\n")
    );
    assert_eq!(
        client.definitions["Observation"],
        "-> Species\n-> SpeciesInfo\nobs_id               : int                          \n---\n\
         notes=\"\"             : varchar(1024)                \n"
    );
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let mount = Mount::new(&config, Some(schema), &[]);
    check_definitions(&mount.path, &client);
    check_diagram(&mount.path, &client);

    // In all-schemas mode the same files are inside the schema's folder.
    let all = Mount::new(&config, None, &[]);
    let folder = all.path.join(schema);
    for file in [".diagram.svg", ".diagram.dot"] {
        assert_eq!(
            std::fs::read(folder.join(file)).unwrap(),
            std::fs::read(mount.path.join(file)).unwrap(),
            "{file}"
        );
    }
    assert!(!all.path.join(".diagram.svg").exists());
    check_definitions(&folder, &client);
}

#[test]
fn reference_schema_definitions_and_diagram_match_the_client() {
    let schema = "djfs_def_ref";
    python("make_reference.py", &[schema]);
    let client = client(schema);
    assert!(
        client.definitions.len() > 20,
        "{:?}",
        client.definitions.keys()
    );
    assert_eq!(
        client.definitions["SessionSummary.TrialStat"],
        "-> SessionSummary\n-> Session.Trial\n---\n\
         duration             : double                       \n\
         stats                : longblob                     \n"
    );
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let mount = Mount::new(&config, Some(schema), &[]);
    check_definitions(&mount.path, &client);
    check_diagram(&mount.path, &client);
}

#[test]
fn demo_schema_definitions_and_diagram_match_the_client() {
    let schema = "djfs_def_demo";
    let (_dir, config) = common::schema_with_stores("make_demo.py", schema, false);
    let client = client(schema);
    assert_eq!(
        client.definitions["Test"],
        "# Test blob and attachments\n\
         id                   : int                          \n\
         ---\n\
         b0                   : longblob                     # a python object stored internally in the table\n\
         b1                   : blob@shared                  # a python object stored on S3\n\
         b2                   : blob@local                   # a python object store on the file system\n\
         a0                   : attach                       # a file attachment stored internally in the table\n\
         a1                   : attach@shared                # a file attachment stored on s3\n\
         a2                   : attach@local                 # a file attachment stored on the file system\n\
         INDEX (b1)\nINDEX (b2)\nINDEX (a1)\nINDEX (a2)\n",
        "the indexes InnoDB adds for the keys to ~external_* are listed (not dependencies)"
    );
    assert_eq!(
        client.dependencies,
        [
            ("OriginalFile".to_string(), "Slide".to_string()),
            ("WebImage".to_string(), "OriginalFile".to_string()),
        ]
    );
    let mount = Mount::new(&config, Some(schema), &[]);
    check_definitions(&mount.path, &client);
    check_diagram(&mount.path, &client);
}

#[test]
fn views_are_read_only_with_a_log_line() {
    let schema = own_schema();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let mount = Mount::new(&config, Some(schema), &[]);
    let definition = mount.path.join("Lab/.definition");
    let before = std::fs::read(&definition).unwrap();
    for file in [
        definition.clone(),
        mount.path.join(".diagram.svg"),
        mount.path.join(".diagram.dot"),
    ] {
        let err = std::fs::OpenOptions::new()
            .write(true)
            .open(&file)
            .expect_err("views cannot be written");
        assert_eq!(err.raw_os_error(), Some(libc::EPERM), "{}", file.display());
        let err = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&file)
            .expect_err("views cannot be truncated");
        assert_eq!(err.raw_os_error(), Some(libc::EPERM), "{}", file.display());
        let err = std::fs::remove_file(&file).expect_err("views cannot be removed");
        assert_eq!(err.raw_os_error(), Some(libc::EPERM), "{}", file.display());
    }
    assert_eq!(std::fs::read(&definition).unwrap(), before);
    let log = mount.log_text();
    assert!(
        log.contains(&format!(
            "{schema}/Lab/.definition: a read-only view; not written"
        )) && log.contains(&format!(
            "{schema}/.diagram.dot: a read-only view; not removed"
        )),
        "{log}"
    );
    // A read-only mount refuses them as it refuses everything.
    let ro = Mount::new(&config, Some(schema), &["--read-only"]);
    let err = std::fs::OpenOptions::new()
        .write(true)
        .open(ro.path.join("Lab/.definition"))
        .expect_err("read-only mount");
    assert_eq!(err.raw_os_error(), Some(libc::EROFS));
    let mut ok = std::fs::File::open(ro.path.join("Lab/.definition")).unwrap();
    assert!(ok.write_all(b"x").is_err());
}

#[test]
fn views_need_no_query_after_the_catalog() {
    use djfs::backend::mysql::MySql;
    use djfs::fs::{Filesystem, FsOptions, ROOT_INO};

    let schema = own_schema();
    let client = client(schema);
    let e = common::env();
    let json = serde_json::json!({
        "database.host": e.db_host, "database.user": e.db_user, "database.password": e.db_pass,
    });
    let cfg = djfs::config::from_json(&json, None, |_| None).unwrap();
    let fs = Filesystem::new(
        std::sync::Arc::new(MySql::connect(&cfg.database).unwrap()),
        std::sync::Arc::new(djfs::stores::Stores::new(&cfg.stores, None).unwrap()),
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
    let read = |ino: u64| -> String {
        let (fh, _) = fs.open(ino, false).unwrap();
        let bytes = fs.read(fh, 0, 1 << 20).unwrap();
        fs.release(fh);
        String::from_utf8(bytes).unwrap()
    };
    let subject = fs.lookup(ROOT_INO, OsStr::new("Subject")).unwrap();
    let before = fs.database().query_count();
    let definition = fs.lookup(subject.ino, OsStr::new(".definition")).unwrap();
    assert!(!definition.is_dir);
    assert_eq!(definition.size, client.definitions["Subject"].len() as u64);
    assert_eq!(read(definition.ino), client.definitions["Subject"]);
    let svg = fs.lookup(ROOT_INO, OsStr::new(".diagram.svg")).unwrap();
    assert!(read(svg.ino).contains("<title>Subject-&gt;Scan</title>"));
    let dot = fs.lookup(ROOT_INO, OsStr::new(".diagram.dot")).unwrap();
    assert!(read(dot.ino).contains("    \"Subject\" -> \"Scan\" ["));
    // Rendered from the catalog: no statement of their own.
    assert_eq!(fs.database().query_count(), before);
    // A definition is a file: nothing below it.
    assert_eq!(
        fs.lookup(definition.ino, OsStr::new("x")).unwrap_err(),
        djfs::fs::FsError::NotDir
    );
}
