//! Connection and store settings, read from DataJoint's own configuration the way the DataJoint
//! client finds it: `--config FILE`, else `./dj_local_conf.json`, else `~/.datajoint_config.json`;
//! then `DJ_HOST` (host or host:port), `DJ_USER`, `DJ_PASS`, `DJ_USE_TLS` override the file.
//! DataJoint 2.x's `database.backend` (`DJ_BACKEND`), `database.name` (`DJ_DATABASE_NAME`) and
//! `DJ_PORT` choose PostgreSQL and its database.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::Value;

/// A password: never printed, logged or put on a command line.
#[derive(Clone, Default)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

#[derive(Clone, Debug)]
pub struct DbConfig {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Secret,
    /// `database.use_tls`, as the client reads it.
    pub tls: Tls,
    /// Where `tls` came from (`database.use_tls` or `DJ_USE_TLS`), for error messages.
    pub tls_setting: &'static str,
    /// `database.backend` / `DJ_BACKEND` (DataJoint 2.x): MySQL (default) or PostgreSQL.
    pub backend: DbBackend,
    /// `database.name` / `DJ_DATABASE_NAME`: the PostgreSQL database whose schemas are
    /// DataJoint schemas (default `postgres`; unused for MySQL).
    pub database_name: String,
}

/// Which database server DataJoint uses (`database.backend`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DbBackend {
    MySql,
    PostgreSql,
}

impl DbBackend {
    fn parse(value: &str, setting: &str) -> Result<DbBackend> {
        match value.trim().to_ascii_lowercase().as_str() {
            "mysql" => Ok(DbBackend::MySql),
            "postgresql" | "postgres" => Ok(DbBackend::PostgreSql),
            _ => bail!("{setting} must be \"mysql\" or \"postgresql\", got {value:?}"),
        }
    }

    /// The server's usual port, when none is configured.
    pub fn default_port(self) -> u16 {
        match self {
            DbBackend::MySql => 3306,
            DbBackend::PostgreSql => 5432,
        }
    }
}

/// TLS to the database, following DataJoint's `database.use_tls`.
#[derive(Clone, Debug, PartialEq)]
pub enum Tls {
    /// Absent or null (or `{}`): TLS when the server offers it (its certificate not verified,
    /// there is nothing to verify it against), plaintext when it offers none.
    Preferred,
    /// `true`: TLS or no connection; the certificate is not verified (no CA given).
    Required,
    /// An object: TLS or no connection, with these files (the client's `ssl` dict).
    Files(TlsFiles),
    /// `false`: plaintext.
    Disabled,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TlsFiles {
    /// The CA the server's certificate must chain to (`ca`); without it nothing is verified.
    pub ca: Option<PathBuf>,
    /// The client certificate (`cert`) and its key (`key`; default: in the certificate file).
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// Whether the certificate must name the host connected to (`check_hostname`, default true;
    /// only with a CA).
    pub check_hostname: bool,
}

#[derive(Clone, Debug)]
pub struct Config {
    /// Where the settings came from (None: defaults and environment only).
    pub source: Option<PathBuf>,
    pub database: DbConfig,
    /// The `stores` section as the client reads it; interpreted by the store layer.
    pub stores: BTreeMap<String, Value>,
    /// DataJoint's blob cache folder (`cache`), shared with the client.
    pub cache: Option<PathBuf>,
}

/// The file DataJoint would read, in its order of preference.
pub fn find_config_file(explicit: Option<&Path>) -> Result<Option<PathBuf>> {
    if let Some(path) = explicit {
        if !path.is_file() {
            bail!("config file {} does not exist", path.display());
        }
        return Ok(Some(path.to_path_buf()));
    }
    let local = PathBuf::from("dj_local_conf.json");
    if local.is_file() {
        return Ok(Some(local));
    }
    if let Some(home) = std::env::var_os("HOME") {
        let global = Path::new(&home).join(".datajoint_config.json");
        if global.is_file() {
            return Ok(Some(global));
        }
    }
    Ok(None)
}

/// Reads the configuration: file (if any), then environment overrides.
pub fn load(explicit: Option<&Path>) -> Result<Config> {
    let source = find_config_file(explicit)?;
    let json = match &source {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read config file {}", path.display()))?;
            serde_json::from_str(&text)
                .with_context(|| format!("config file {} is not valid JSON", path.display()))?
        }
        None => Value::Object(Default::default()),
    };
    if let Some(path) = &source {
        if let Some(warning) = exposed_secrets_warning(path, &json) {
            tracing::warn!("{warning}");
        }
    }
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    from_json(&json, source, env)
}

/// The one-line warning for a config file that holds a password (or an S3 secret key) and that
/// users other than its owner may read; None when it holds none or is private (no group/other
/// read bit).
pub fn exposed_secrets_warning(path: &Path, json: &Value) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o7777;
    if mode & 0o044 == 0 {
        return None;
    }
    let what = secrets_in(json)?;
    Some(format!(
        "config file {} holds {what} and is readable by {} (mode {mode:04o}): chmod 600 {}",
        path.display(),
        match (mode & 0o040 != 0, mode & 0o004 != 0) {
            (true, true) => "group and others",
            (true, false) => "its group",
            _ => "others",
        },
        path.display()
    ))
}

/// The same check for the file `load` would read (for a launcher that does not load it itself).
pub fn exposed_secrets_warning_for(explicit: Option<&Path>) -> Option<String> {
    let path = find_config_file(explicit).ok()??;
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&path).ok()?).ok()?;
    exposed_secrets_warning(&path, &json)
}

/// What kind of secret a config holds: the database password, or a store's S3 secret key.
fn secrets_in(json: &Value) -> Option<&'static str> {
    let non_empty = |v: Option<&Value>| match v {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(_) => true,
    };
    if non_empty(setting(json, "database.password")) {
        return Some("a database password");
    }
    let stores = match setting(json, "stores") {
        Some(Value::Object(map)) => map,
        _ => return None,
    };
    stores
        .values()
        .any(|spec| non_empty(spec.get("secret_key")))
        .then_some("an S3 secret key")
}

/// Builds the configuration from parsed JSON and an environment lookup (testable without files).
pub fn from_json(
    json: &Value,
    source: Option<PathBuf>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Config> {
    let backend = match env("DJ_BACKEND") {
        Some(v) => DbBackend::parse(&v, "DJ_BACKEND")?,
        None => match setting_str(json, "database.backend") {
            Some(v) => DbBackend::parse(&v, "database.backend")?,
            None => DbBackend::MySql,
        },
    };
    let database_name = env("DJ_DATABASE_NAME")
        .or_else(|| setting_str(json, "database.name"))
        .unwrap_or_else(|| "postgres".to_string());
    let host_setting = env("DJ_HOST")
        .or_else(|| setting_str(json, "database.host"))
        .unwrap_or_else(|| "localhost".to_string());
    let mut port = match env("DJ_PORT") {
        Some(p) => Some(
            p.parse()
                .with_context(|| format!("DJ_PORT must be a port, got {p:?}"))?,
        ),
        None => match setting(json, "database.port") {
            Some(Value::Number(n)) => n.as_u64().and_then(|p| u16::try_from(p).ok()),
            Some(Value::String(s)) => s.parse().ok(),
            Some(Value::Null) => None,
            Some(other) => bail!("database.port must be a number, got {other}"),
            None => None,
        },
    }
    .unwrap_or(backend.default_port());
    // `host:port` wins over database.port, as in the client.
    let host = match host_setting.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && !h.contains(':') => {
            port = p
                .parse()
                .with_context(|| format!("bad port in database host {host_setting:?}"))?;
            h.to_string()
        }
        _ => host_setting,
    };
    let user = match env("DJ_USER").or_else(|| setting_str(json, "database.user")) {
        Some(user) => user,
        None => match &source {
            Some(path) => bail!(
                "no database user: set database.user in {} or DJ_USER",
                path.display()
            ),
            None => bail!(
                "no DataJoint config found (looked for --config FILE, ./dj_local_conf.json, \
                 {}/.datajoint_config.json) and DJ_USER is not set",
                env("HOME").unwrap_or_else(|| "~".to_string())
            ),
        },
    };
    let password = Secret(
        env("DJ_PASS")
            .or_else(|| setting_str(json, "database.password"))
            .unwrap_or_default(),
    );
    let (tls, tls_setting) = match env("DJ_USE_TLS") {
        Some(v) => (tls_from_env(&v)?, "DJ_USE_TLS"),
        None => (
            tls_from_json(setting(json, "database.use_tls"))?,
            "database.use_tls",
        ),
    };
    let stores = match setting(json, "stores") {
        Some(Value::Object(map)) => map.clone().into_iter().collect(),
        Some(Value::Null) | None => BTreeMap::new(),
        Some(other) => bail!("stores must be an object, got {other}"),
    };
    let cache = setting_str(json, "cache").map(PathBuf::from);
    Ok(Config {
        source,
        database: DbConfig {
            host,
            port,
            user,
            password,
            tls,
            tls_setting,
            backend,
            database_name,
        },
        stores,
        cache,
    })
}

/// `DJ_USE_TLS`: true or false.
fn tls_from_env(value: &str) -> Result<Tls> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(Tls::Required),
        "false" | "0" | "no" | "off" => Ok(Tls::Disabled),
        _ => bail!("DJ_USE_TLS must be true or false, got {value:?}"),
    }
}

/// `database.use_tls`: absent/null, true, false, or the client's `ssl` dict (`ca`, `cert`, `key`,
/// `check_hostname`). Relative paths are taken from the current folder, as the client does.
fn tls_from_json(value: Option<&Value>) -> Result<Tls> {
    let map = match value {
        None | Some(Value::Null) => return Ok(Tls::Preferred),
        Some(Value::Bool(true)) => return Ok(Tls::Required),
        Some(Value::Bool(false)) => return Ok(Tls::Disabled),
        Some(Value::Object(map)) => map,
        Some(other) => {
            bail!("database.use_tls must be true, false, null or an object (ca, cert, key), got {other}")
        }
    };
    // PyMySQL takes an empty dict for "no options": TLS preferred.
    if map.is_empty() {
        return Ok(Tls::Preferred);
    }
    let path = |key: &str| -> Result<Option<PathBuf>> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.is_empty() => {
                Ok(Some(std::path::absolute(s).with_context(|| {
                    format!("database.use_tls {key} path {s:?}")
                })?))
            }
            Some(other) => bail!("database.use_tls {key} must be a file path, got {other}"),
        }
    };
    let check_hostname = match map.get("check_hostname") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(other) => bail!("database.use_tls check_hostname must be true or false, got {other}"),
    };
    // What the client can do and djfs cannot: refused rather than connecting less securely.
    for key in ["capath", "cipher", "password", "verify_mode"] {
        if map.get(key).is_some_and(|v| !v.is_null()) {
            bail!("database.use_tls {key} is not supported by djfs (use ca, cert, key, check_hostname)");
        }
    }
    let files = TlsFiles {
        ca: path("ca")?,
        cert: path("cert")?,
        key: path("key")?,
        check_hostname,
    };
    if files.key.is_some() && files.cert.is_none() {
        bail!("database.use_tls has a key but no cert");
    }
    Ok(Tls::Files(files))
}

/// DataJoint writes flat keys (`"database.host"`); nested objects are accepted too.
fn setting<'a>(json: &'a Value, key: &str) -> Option<&'a Value> {
    if let Some(v) = json.get(key) {
        return Some(v);
    }
    let mut node = json;
    for part in key.split('.') {
        node = node.get(part)?;
    }
    Some(node)
}

fn setting_str(json: &Value, key: &str) -> Option<String> {
    match setting(json, key)? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn flat_keys_like_the_client_writes() {
        let cfg = from_json(
            &json!({"database.host": "db.lab", "database.port": 3307, "database.user": "u",
                    "database.password": "p", "cache": "/tmp/c", "stores": {"local": {"protocol": "file"}}}),
            None,
            no_env,
        )
        .unwrap();
        assert_eq!(cfg.database.host, "db.lab");
        assert_eq!(cfg.database.port, 3307);
        assert_eq!(cfg.database.user, "u");
        assert_eq!(cfg.database.password.expose(), "p");
        assert_eq!(cfg.cache, Some(PathBuf::from("/tmp/c")));
        assert!(cfg.stores.contains_key("local"));
    }

    #[test]
    fn environment_overrides_and_host_port() {
        let env = |k: &str| match k {
            "DJ_HOST" => Some("127.0.0.1:3310".to_string()),
            "DJ_USER" => Some("envuser".to_string()),
            "DJ_PASS" => Some("envpass".to_string()),
            _ => None,
        };
        let cfg = from_json(
            &json!({"database": {"host": "x", "user": "fileuser", "password": "filepass"}}),
            None,
            env,
        )
        .unwrap();
        assert_eq!(
            (cfg.database.host.as_str(), cfg.database.port),
            ("127.0.0.1", 3310)
        );
        assert_eq!(cfg.database.user, "envuser");
        assert_eq!(cfg.database.password.expose(), "envpass");
    }

    #[test]
    fn password_is_never_printed() {
        let cfg = from_json(
            &json!({"database.user": "u", "database.password": "hunter2"}),
            None,
            no_env,
        )
        .unwrap();
        assert!(!format!("{cfg:?}").contains("hunter2"));
    }

    #[test]
    fn readable_config_files_with_secrets_get_a_warning() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dj.json");
        let with_password = json!({"database.user": "u", "database.password": "hunter2"});
        let with_s3_key =
            json!({"database.user": "u", "stores": {"s": {"protocol": "s3", "secret_key": "k"}}});
        let without = json!({"database.user": "u", "stores": {"l": {"protocol": "file"}}});
        std::fs::write(&path, "{}").unwrap();
        let chmod =
            |mode| std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        chmod(0o644);
        let w = exposed_secrets_warning(&path, &with_password).unwrap();
        assert!(w.contains("a database password"), "{w}");
        assert!(w.contains("group and others") && w.contains("0644"), "{w}");
        assert!(w.ends_with(&format!("chmod 600 {}", path.display())), "{w}");
        assert!(!w.contains("hunter2") && !w.contains('\n'), "{w}");
        assert!(exposed_secrets_warning(&path, &with_s3_key)
            .unwrap()
            .contains("an S3 secret key"));
        assert_eq!(exposed_secrets_warning(&path, &without), None);
        chmod(0o640);
        assert!(exposed_secrets_warning(&path, &with_password)
            .unwrap()
            .contains("readable by its group"));
        chmod(0o600);
        assert_eq!(exposed_secrets_warning(&path, &with_password), None);
        chmod(0o620);
        assert_eq!(exposed_secrets_warning(&path, &with_password), None);
    }

    #[test]
    fn use_tls_as_the_client_reads_it() {
        let tls = |use_tls: Option<Value>| {
            let mut j = json!({"database.user": "u"});
            if let Some(v) = use_tls {
                j["database.use_tls"] = v;
            }
            from_json(&j, None, no_env).map(|c| c.database.tls)
        };
        assert_eq!(tls(None).unwrap(), Tls::Preferred);
        assert_eq!(tls(Some(Value::Null)).unwrap(), Tls::Preferred);
        assert_eq!(tls(Some(json!({}))).unwrap(), Tls::Preferred);
        assert_eq!(tls(Some(json!(true))).unwrap(), Tls::Required);
        assert_eq!(tls(Some(json!(false))).unwrap(), Tls::Disabled);
        assert_eq!(
            tls(Some(
                json!({"ca": "/etc/ssl/ca.pem", "cert": "/c.pem", "key": "/k.pem"})
            ))
            .unwrap(),
            Tls::Files(TlsFiles {
                ca: Some(PathBuf::from("/etc/ssl/ca.pem")),
                cert: Some(PathBuf::from("/c.pem")),
                key: Some(PathBuf::from("/k.pem")),
                check_hostname: true,
            })
        );
        // Relative paths from the current folder, as the client opens them.
        let Tls::Files(files) =
            tls(Some(json!({"ca": "ca.pem", "check_hostname": false}))).unwrap()
        else {
            panic!("a dict is TLS with files");
        };
        assert_eq!(
            files.ca,
            Some(std::env::current_dir().unwrap().join("ca.pem"))
        );
        assert!(!files.check_hostname && files.cert.is_none());
        // Nested form too.
        let cfg = from_json(
            &json!({"database": {"user": "u", "use_tls": false}}),
            None,
            no_env,
        )
        .unwrap();
        assert_eq!(cfg.database.tls, Tls::Disabled);
        assert_eq!(cfg.database.tls_setting, "database.use_tls");
        for bad in [
            json!("yes"),
            json!(1),
            json!({"capath": "/etc/ssl"}),
            json!({"key": "/k"}),
        ] {
            let err = tls(Some(bad.clone())).unwrap_err().to_string();
            assert!(err.contains("database.use_tls"), "{bad}: {err}");
        }
    }

    #[test]
    fn dj_use_tls_overrides_the_file() {
        let file = json!({"database.user": "u", "database.use_tls": {"ca": "/ca.pem"}});
        for (value, want) in [
            ("true", Tls::Required),
            ("TRUE", Tls::Required),
            ("1", Tls::Required),
            ("false", Tls::Disabled),
            ("0", Tls::Disabled),
        ] {
            let env = |k: &str| (k == "DJ_USE_TLS").then(|| value.to_string());
            let cfg = from_json(&file, None, env).unwrap();
            assert_eq!(cfg.database.tls, want, "DJ_USE_TLS={value}");
            assert_eq!(cfg.database.tls_setting, "DJ_USE_TLS");
        }
        let env = |k: &str| (k == "DJ_USE_TLS").then(|| "maybe".to_string());
        let err = from_json(&file, None, env).unwrap_err().to_string();
        assert!(err.contains("DJ_USE_TLS"), "{err}");
    }

    #[test]
    fn postgresql_backend_database_and_port() {
        let cfg = from_json(
            &json!({"database.user": "u", "database.backend": "postgresql"}),
            None,
            no_env,
        )
        .unwrap();
        assert_eq!(cfg.database.backend, DbBackend::PostgreSql);
        assert_eq!(cfg.database.port, 5432);
        assert_eq!(cfg.database.database_name, "postgres");
        let env = |k: &str| match k {
            "DJ_BACKEND" => Some("postgresql".to_string()),
            "DJ_DATABASE_NAME" => Some("lab".to_string()),
            "DJ_PORT" => Some("15432".to_string()),
            _ => None,
        };
        let cfg = from_json(
            &json!({"database": {"user": "u", "backend": "mysql", "name": "x", "port": 1}}),
            None,
            env,
        )
        .unwrap();
        assert_eq!(cfg.database.backend, DbBackend::PostgreSql);
        assert_eq!(cfg.database.database_name, "lab");
        assert_eq!(cfg.database.port, 15432);
        // MySQL stays the default, on its own port.
        let cfg = from_json(&json!({"database.user": "u"}), None, no_env).unwrap();
        assert_eq!(
            (cfg.database.backend, cfg.database.port),
            (DbBackend::MySql, 3306)
        );
        let err = from_json(
            &json!({"database.user": "u", "database.backend": "oracle"}),
            None,
            no_env,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("database.backend"), "{err}");
    }

    #[test]
    fn missing_user_is_an_error() {
        assert!(from_json(&json!({}), None, no_env).is_err());
    }

    #[test]
    fn no_config_says_where_it_looked() {
        let home = |name: &str| (name == "HOME").then(|| "/home/alice".to_string());
        let e = from_json(&json!({}), None, home).unwrap_err().to_string();
        assert_eq!(
            e,
            "no DataJoint config found (looked for --config FILE, ./dj_local_conf.json, \
             /home/alice/.datajoint_config.json) and DJ_USER is not set"
        );
        let file = Some(PathBuf::from("/etc/djfs/lab.json"));
        let e = from_json(&json!({}), file, no_env).unwrap_err().to_string();
        assert_eq!(
            e,
            "no database user: set database.user in /etc/djfs/lab.json or DJ_USER"
        );
    }
}
