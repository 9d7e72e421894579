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

use common::pg::pg;

fn write_private(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

#[test]
fn a_2x_project_folder_is_found_from_below_with_its_secrets() {
    let pg = pg();
    let schema = "djfs_cfg_v2";
    pg.script(&["make", schema]);

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
    let config_line = format!(
        "config={} kind=V2 secrets={}",
        project.join("datajoint.json").display(),
        project.join(".secrets").display()
    );
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

/// What the real 2.x client reads from the working folder `cwd` with environment `env` (and
/// nothing else of the test's environment): the settings djfs uses, as JSON.
fn client_settings(python: &Path, cwd: &Path, env: &[(&str, &str)]) -> serde_json::Value {
    let script = r#"
import json, warnings
warnings.simplefilter("ignore")
import datajoint as dj
c = dj.config
db = c.database
stores = {}
for name, spec in c.stores.items():
    if isinstance(spec, dict) and "protocol" not in spec:
        continue  # made by a secret file alone: unusable, and djfs makes no such store
    if isinstance(spec, dict):
        full = c.get_store_spec(name)
        stores[name] = {k: full.get(k) for k in ("protocol", "endpoint", "bucket", "location",
                                                 "access_key", "secret_key", "secure")}
    else:
        stores[name] = spec
print(json.dumps(dict(host=db.host, port=db.port, user=db.user,
                      password=db.password.get_secret_value() if db.password else None,
                      backend=db.backend, name=db.name, stores=stores)))
"#;
    let mut cmd = Command::new(python);
    cmd.arg("-c").arg(script).current_dir(cwd).env_clear();
    for key in ["PATH", "HOME", "LANG"] {
        if let Some(v) = std::env::var_os(key) {
            cmd.env(key, v);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = common::run_ok(&mut cmd);
    serde_json::from_slice(&out.stdout).unwrap()
}

/// What djfs reads from the same folder and environment (its lookup, secrets and overrides),
/// in the same shape.
fn djfs_settings(cwd: &Path, home: &Path, env: &[(&str, &str)]) -> serde_json::Value {
    use djfs::config::{self, Lookup, Secrets};
    use djfs::stores::spec::{parse_stores, Protocol};
    let found = config::find(&Lookup {
        explicit: None,
        cwd,
        home: Some(home),
        system_secrets: Path::new(config::SYSTEM_SECRETS_DIR),
        ignore_v2_files: false,
    })
    .unwrap();
    let json = match &found.file {
        Some(f) => serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap(),
        None => serde_json::json!({}),
    };
    let secrets = Secrets::read(found.secrets_dir.as_deref()).unwrap();
    let lookup = |k: &str| {
        env.iter()
            .find(|(name, _)| *name == k)
            .map(|(_, v)| v.to_string())
    };
    let cfg = config::build(&json, &found, &secrets, lookup).unwrap();
    let mut stores = serde_json::Map::new();
    for (name, spec) in parse_stores(&cfg.stores) {
        let spec = spec.unwrap();
        let Protocol::S3 {
            endpoint,
            bucket,
            access_key,
            secret_key,
            secure,
            location,
        } = spec.protocol
        else {
            panic!("only S3 stores here")
        };
        stores.insert(
            name,
            serde_json::json!({"protocol": "s3", "endpoint": endpoint, "bucket": bucket,
                "location": location, "access_key": access_key, "secret_key": secret_key,
                "secure": secure}),
        );
    }
    for (name, value) in &cfg.stores {
        if value.is_string() {
            stores.insert(name.clone(), value.clone());
        }
    }
    let db = &cfg.database;
    serde_json::json!({"host": db.host, "port": db.port, "user": db.user,
        "password": db.password.expose(),
        "backend": match db.backend { config::DbBackend::MySql => "mysql", _ => "postgresql" },
        "name": db.database_name, "stores": stores})
}

/// The 2.x client and djfs read one project folder alike: datajoint.json found from below,
/// flat and nested keys, secrets filling only what is unset, the environment over both,
/// `DJ_STORES` replacing the stores, and S3 `secure` defaulting to true.
#[test]
fn djfs_reads_a_2x_project_as_the_2x_client_does() {
    let python = PathBuf::from(common::test_var("DJFS_PY2"));
    let t = tempfile::tempdir().unwrap();
    let project = t.path().canonicalize().unwrap().join("project");
    std::fs::create_dir_all(project.join(".git")).unwrap();
    write_private(
        &project.join("datajoint.json"),
        r#"{"database": {"backend": "postgresql", "host": "db.lab", "port": 5433},
            "database.name": "lab", "database.user": "alice",
            "stores": {"default": "raw",
                       "raw": {"protocol": "s3", "endpoint": "s3.lab:9000", "bucket": "raw",
                               "location": "v2", "access_key": "file-ak"},
                       "plain": {"protocol": "s3", "endpoint": "minio:9000", "bucket": "p",
                                 "location": "", "access_key": "a", "secret_key": "s",
                                 "secure": false}},
            "stores.raw.bucket": "raw-flat"}"#,
    );
    write_private(&project.join(".secrets/database.password"), "pw-secret\n");
    write_private(&project.join(".secrets/database.user"), "bob\n");
    write_private(
        &project.join(".secrets/stores.raw.access_key"),
        "secret-ak\n",
    );
    write_private(
        &project.join(".secrets/stores.raw.secret_key"),
        "secret-sk\n",
    );
    write_private(&project.join(".secrets/stores.env.secret_key"), "env-sk\n");
    let below = project.join("analysis/deep");
    std::fs::create_dir_all(&below).unwrap();
    let home = t.path().join("home");
    std::fs::create_dir_all(&home).unwrap();

    let cases: [&[(&str, &str)]; 3] = [
        &[],
        &[
            ("DJ_USER", "carol"),
            ("DJ_PASS", "pw-env"),
            ("DJ_PORT", "6543"),
            ("DJ_DATABASE_NAME", "other"),
        ],
        &[(
            "DJ_STORES",
            r#"{"default": "env", "env": {"protocol": "s3", "endpoint": "s3.env", "bucket": "e", "location": "x", "access_key": "env-ak"}}"#,
        )],
    ];
    for env in cases {
        let client = client_settings(&python, &below, env);
        let djfs = djfs_settings(&below, &home, env);
        assert_eq!(djfs, client, "environment {env:?}");
    }
    // The values themselves, for the first case (not only that both agree).
    let got = djfs_settings(&below, &home, &[]);
    assert_eq!(got["user"], "alice");
    assert_eq!(got["password"], "pw-secret");
    assert_eq!(got["stores"]["raw"]["bucket"], "raw-flat");
    assert_eq!(got["stores"]["raw"]["access_key"], "file-ak");
    assert_eq!(got["stores"]["raw"]["secret_key"], "secret-sk");
    assert_eq!(got["stores"]["raw"]["secure"], true);
    assert_eq!(got["stores"]["plain"]["secure"], false);
}
