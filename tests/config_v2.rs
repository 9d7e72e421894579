//! The DataJoint 2.x configuration lookup through a real mount: no `--config`, djfs run from a
//! folder below the one holding `datajoint.json`, the password only in `.secrets/`, the schema
//! written by the real 2.x client on the private PostgreSQL.
//!
//! Needs DJFS_PG_HOST, DJFS_PG_PORT, DJFS_PG_USER, DJFS_PG_PASS, DJFS_PG_DATABASE and DJFS_PY2
//! (as `scripts/test` exports them). Without DJFS_PG_HOST each test says so and passes without
//! checking anything.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Pg {
    host: String,
    port: u16,
    user: String,
    pass: String,
    database: String,
    python: PathBuf,
}

fn pg(test: &str) -> Option<Pg> {
    let Some(host) = std::env::var("DJFS_PG_HOST").ok().filter(|h| !h.is_empty()) else {
        eprintln!("{test}: SKIPPED: DJFS_PG_HOST is not set (no PostgreSQL test server)");
        return None;
    };
    let var = common::test_var;
    Some(Pg {
        host,
        port: std::env::var("DJFS_PG_PORT")
            .ok()
            .and_then(|p| p.parse().ok())
            .unwrap_or(5432),
        user: var("DJFS_PG_USER"),
        pass: var("DJFS_PG_PASS"),
        database: std::env::var("DJFS_PG_DATABASE")
            .ok()
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| "postgres".to_string()),
        python: PathBuf::from(var("DJFS_PY2")),
    })
}

impl Pg {
    /// `pg2_schema.py make SCHEMA` with the 2.x client (its own settings, not the file's).
    fn make(&self, schema: &str) {
        common::run_ok(
            Command::new(&self.python)
                .arg("-W")
                .arg("ignore")
                .arg(common::repo_root().join("tests/python/pg2_schema.py"))
                .args(["make", schema])
                .env("DJFS_PG_HOST", &self.host)
                .env("DJFS_PG_PORT", self.port.to_string())
                .env("DJFS_PG_USER", &self.user)
                .env("DJFS_PG_PASS", &self.pass)
                .env("DJFS_PG_DATABASE", &self.database),
        );
    }
}

fn write_private(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

#[test]
fn a_2x_project_folder_is_found_from_below_with_its_secrets() {
    let Some(pg) = pg("a_2x_project_folder_is_found_from_below_with_its_secrets") else {
        return;
    };
    let schema = "djfs_cfg_v2";
    pg.make(schema);

    // A 2.x project: datajoint.json (no password) at its root, beside .git and .secrets/.
    let t = tempfile::tempdir().unwrap();
    let project = t.path().canonicalize().unwrap().join("project");
    std::fs::create_dir_all(project.join(".git")).unwrap();
    write_private(
        &project.join("datajoint.json"),
        &format!(
            r#"{{"database.backend": "postgresql", "database.host": "{}", "database.port": {},
                "database.user": "{}", "database.name": "{}", "database.use_tls": false,
                "stores": {{"default": "raw", "raw": {{"protocol": "s3", "endpoint": "s3.invalid:9000",
                "bucket": "raw", "location": "v2"}}}}}}"#,
            pg.host, pg.port, pg.user, pg.database
        ),
    );
    write_private(
        &project.join(".secrets/database.password"),
        &format!("{}\n", pg.pass),
    );
    write_private(&project.join(".secrets/stores.raw.access_key"), "ak\n");
    write_private(&project.join(".secrets/stores.raw.secret_key"), "sk\n");
    let below = project.join("analysis/2026-12");
    std::fs::create_dir_all(&below).unwrap();
    // An empty home: no ~/.datajoint_config.json to fall back on.
    let home = t.path().join("home");
    std::fs::create_dir_all(&home).unwrap();

    let mount = common::Mount::with(
        common::MountOptions {
            config: None,
            cwd: Some(&below),
            env: vec![("HOME", home.clone().into_os_string())],
        },
        Some(schema),
        &[],
    );
    let alice = mount.path.join("Subject/subject_id=1");
    assert_eq!(std::fs::read(alice.join("name")).unwrap(), b"Alice\n");
    assert_eq!(std::fs::read(alice.join("sex")).unwrap(), b"F\n");
    let log = mount.log_text();
    let config_line = format!("config={}", project.join("datajoint.json").display());
    assert!(log.contains(&config_line), "{log}");
    // The S3 store of a 2.x file is HTTPS unless it says otherwise.
    assert!(log.contains("s3:https://s3.invalid:9000/raw/v2"), "{log}");
    assert!(!log.contains(&pg.pass), "{log}");
    drop(mount);

    // A repository between the working folder and datajoint.json ends the search: nothing
    // found, and the error says where djfs looked.
    let nested = project.join("vendored");
    std::fs::create_dir_all(nested.join(".git")).unwrap();
    let inner = nested.join("src");
    std::fs::create_dir_all(&inner).unwrap();
    let mnt = t.path().join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let out = common::djfs()
        .args(["mount", schema])
        .arg(&mnt)
        .current_dir(&inner)
        .env("HOME", &home)
        .env_remove("XDG_STATE_HOME")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "djfs: no DataJoint config found (looked for --config FILE, ./dj_local_conf.json, \
             datajoint.json in {} and the folders above it (up to one holding .git or .hg), \
             {}/.datajoint_config.json) and DJ_USER is not set\n",
            inner.display(),
            home.display()
        )
    );
}
