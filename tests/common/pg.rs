//! The private PostgreSQL test server (`scripts/test` exports DJFS_PG_*) and the 2.x client's
//! schema script `tests/python/pg2_schema.py`, for the tests of 2.x schemas.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Pg {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub pass: String,
    /// The database holding the schemas (DJFS_PG_DATABASE, default `postgres`).
    pub database: String,
    pub python: PathBuf,
}

/// The test server's settings (a test of a 2.x schema fails, never skips, without them).
pub fn pg() -> Pg {
    let var = super::test_var;
    Pg {
        host: var("DJFS_PG_HOST"),
        port: var("DJFS_PG_PORT")
            .parse()
            .expect("DJFS_PG_PORT is a port number"),
        user: var("DJFS_PG_USER"),
        pass: var("DJFS_PG_PASS"),
        database: std::env::var("DJFS_PG_DATABASE")
            .ok()
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| "postgres".to_string()),
        python: PathBuf::from(var("DJFS_PY2")),
    }
}

impl Pg {
    /// Runs `pg2_schema.py` with the 2.x client (its own settings, not a config file's); panics
    /// with its output on failure.
    pub fn script(&self, args: &[&str]) {
        super::run_ok(
            Command::new(&self.python)
                .arg("-W")
                .arg("ignore")
                .arg(super::repo_root().join("tests/python/pg2_schema.py"))
                .args(args)
                .env("DJFS_PG_HOST", &self.host)
                .env("DJFS_PG_PORT", self.port.to_string())
                .env("DJFS_PG_USER", &self.user)
                .env("DJFS_PG_PASS", &self.pass)
                .env("DJFS_PG_DATABASE", &self.database),
        );
    }

    /// Runs a script of tests/python with the 2.x client, this server's settings in the
    /// environment (as `dj2env.py` reads them); panics with its output on failure.
    pub fn run_script(&self, script: &str, args: &[&str]) -> std::process::Output {
        super::run_ok(
            Command::new(&self.python)
                .arg("-W")
                .arg("ignore")
                .arg(super::repo_root().join("tests/python").join(script))
                .args(args)
                .env("DJFS_PG_HOST", &self.host)
                .env("DJFS_PG_PORT", self.port.to_string())
                .env("DJFS_PG_USER", &self.user)
                .env("DJFS_PG_PASS", &self.pass)
                .env("DJFS_PG_DATABASE", &self.database),
        )
    }

    /// A PostgreSQL backend connected to this server by a config file of its own in `dir` (the
    /// file alone: scripts/test's DJ_HOST/DJ_USER/DJ_PASS name the MariaDB).
    pub fn backend(&self, dir: &Path) -> djfs::backend::postgres::Postgres {
        let path = self.config(dir, "");
        let json = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let cfg = djfs::config::from_json(&json, Some(path), |_| None).unwrap();
        djfs::backend::postgres::Postgres::connect_with_budget(&cfg.database, 2).unwrap()
    }

    /// A 2.x config file for this server in `dir` (`extra`: more JSON fields, each with a
    /// leading comma), readable by its owner only.
    pub fn config(&self, dir: &Path, extra: &str) -> PathBuf {
        let path = dir.join("datajoint.json");
        std::fs::write(
            &path,
            format!(
                "{{\"database.backend\": \"postgresql\", \"database.host\": \"{}\", \
                 \"database.port\": {}, \"database.user\": \"{}\", \"database.password\": \"{}\", \
                 \"database.name\": \"{}\", \"database.use_tls\": false{extra}}}",
                self.host, self.port, self.user, self.pass, self.database
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        path
    }
}
