//! Connection and store settings, read from DataJoint's own configuration the way the DataJoint
//! client finds it: `--config FILE`, else `./dj_local_conf.json`, else `~/.datajoint_config.json`;
//! then `DJ_HOST` (host or host:port), `DJ_USER`, `DJ_PASS` override the file.

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
    let host_setting = env("DJ_HOST")
        .or_else(|| setting_str(json, "database.host"))
        .unwrap_or_else(|| "localhost".to_string());
    let mut port = match setting(json, "database.port") {
        Some(Value::Number(n)) => n.as_u64().and_then(|p| u16::try_from(p).ok()),
        Some(Value::String(s)) => s.parse().ok(),
        Some(other) => bail!("database.port must be a number, got {other}"),
        None => None,
    }
    .unwrap_or(3306);
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
    let user = env("DJ_USER")
        .or_else(|| setting_str(json, "database.user"))
        .context("no database user: set database.user in the DataJoint config or DJ_USER")?;
    let password = Secret(
        env("DJ_PASS")
            .or_else(|| setting_str(json, "database.password"))
            .unwrap_or_default(),
    );
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
        },
        stores,
        cache,
    })
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
    fn missing_user_is_an_error() {
        assert!(from_json(&json!({}), None, no_env).is_err());
    }
}
