//! Connection and store settings, read from DataJoint's own configuration the way the clients
//! find it, 0.14 and 2.x files alike. The file: `--config FILE`, else `./dj_local_conf.json`
//! (0.14), else `datajoint.json` in the working folder or the nearest folder above it, stopping
//! at a folder holding `.git`/`.hg` (2.x), else `~/.datajoint_config.json` (0.14). Keys are flat
//! (`"database.host"`) or nested. For 2.x, secret files (`.secrets/` beside `datajoint.json`,
//! else `/run/secrets/datajoint/`) fill what the file leaves unset. `DJ_HOST` (host or
//! host:port), `DJ_PORT`, `DJ_USER`, `DJ_PASS`, `DJ_BACKEND`, `DJ_DATABASE_NAME`, `DJ_USE_TLS`
//! and `DJ_STORES` (a JSON object replacing the whole `stores` block) override both.

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
    /// Where the settings came from (None: defaults, environment and secrets only).
    pub source: Option<PathBuf>,
    /// Which client's configuration it is.
    pub kind: ConfigKind,
    /// The 2.x secrets folder read, if any.
    pub secrets_dir: Option<PathBuf>,
    pub database: DbConfig,
    /// The `stores` section as the client reads it; interpreted by the store layer.
    pub stores: BTreeMap<String, Value>,
    /// DataJoint's blob cache folder (`cache`), shared with the client.
    pub cache: Option<PathBuf>,
}

/// Which client's configuration a file is: decides the 2.x-only rules (secrets, `secure`
/// defaulting to true, flat `stores.<name>.<attr>` keys).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigKind {
    /// DataJoint 0.14: `dj_local_conf.json`, `~/.datajoint_config.json`, or `--config FILE`
    /// named anything but `datajoint.json`.
    V014,
    /// DataJoint 2.x: a `datajoint.json` (found upward from the working folder, or given with
    /// `--config`), or no file at all (environment and secrets only).
    V2,
}

/// The name of the 2.x configuration file.
pub const V2_FILE_NAME: &str = "datajoint.json";
/// The folder of secret files beside a 2.x `datajoint.json`.
pub const SECRETS_DIR_NAME: &str = ".secrets";
/// The secrets folder the 2.x client reads when there is none beside `datajoint.json`.
pub const SYSTEM_SECRETS_DIR: &str = "/run/secrets/datajoint";

/// Where the settings come from.
#[derive(Clone, Debug, PartialEq)]
pub struct Found {
    /// The config file (None: environment, secrets and defaults only).
    pub file: Option<PathBuf>,
    pub kind: ConfigKind,
    /// 2.x: the folder of secret files (`.secrets/` beside `datajoint.json`, else
    /// `/run/secrets/datajoint/` when it exists).
    pub secrets_dir: Option<PathBuf>,
    /// The places looked at, in order, for the error when nothing gives a user.
    pub looked: Vec<String>,
}

/// What `find` needs from the process (the working folder, the home folder, the system secrets
/// folder, the environment), so that the search is testable.
pub struct Lookup<'a> {
    pub explicit: Option<&'a Path>,
    pub cwd: &'a Path,
    pub home: Option<&'a Path>,
    pub system_secrets: &'a Path,
    /// `DJ_IGNORE_CONFIG_FILE` (2.x): skip `datajoint.json` and the secrets folders.
    pub ignore_v2_files: bool,
}

/// The file DataJoint would read, in djfs's order: `--config FILE`; `./dj_local_conf.json`
/// (0.14); `datajoint.json` in the working folder or a folder above it, stopping at a folder
/// holding `.git` or `.hg`, or at `/` (2.x); `~/.datajoint_config.json` (0.14).
pub fn find(lookup: &Lookup<'_>) -> Result<Found> {
    let secrets_for = |config: Option<&Path>| -> Option<PathBuf> {
        if lookup.ignore_v2_files {
            return None;
        }
        if let Some(beside) = config
            .and_then(Path::parent)
            .map(|d| d.join(SECRETS_DIR_NAME))
        {
            if beside.is_dir() {
                return Some(beside);
            }
        }
        lookup
            .system_secrets
            .is_dir()
            .then(|| lookup.system_secrets.to_path_buf())
    };
    let v2 = |path: PathBuf, looked: Vec<String>| Found {
        secrets_dir: secrets_for(Some(&path)),
        file: Some(path),
        kind: ConfigKind::V2,
        looked,
    };
    let v014 = |path: PathBuf, looked: Vec<String>| Found {
        file: Some(path),
        kind: ConfigKind::V014,
        secrets_dir: None,
        looked,
    };
    if let Some(path) = lookup.explicit {
        if !lookup.cwd.join(path).is_file() {
            bail!("config file {} does not exist", path.display());
        }
        let path = lookup.cwd.join(path);
        let looked = vec![path.display().to_string()];
        return Ok(if path.file_name() == Some(V2_FILE_NAME.as_ref()) {
            v2(path, looked)
        } else {
            v014(path, looked)
        });
    }
    let mut looked = vec![
        "--config FILE".to_string(),
        "./dj_local_conf.json".to_string(),
    ];
    let local = lookup.cwd.join("dj_local_conf.json");
    if local.is_file() {
        return Ok(v014(local, looked));
    }
    if !lookup.ignore_v2_files {
        looked.push(format!(
            "{V2_FILE_NAME} in {} and the folders above it (up to one holding .git or .hg)",
            lookup.cwd.display()
        ));
        if let Some(path) = find_v2_file(lookup.cwd) {
            return Ok(v2(path, looked));
        }
    }
    if let Some(home) = lookup.home {
        let global = home.join(".datajoint_config.json");
        looked.push(global.display().to_string());
        if global.is_file() {
            return Ok(v014(global, looked));
        }
    } else {
        looked.push("~/.datajoint_config.json (HOME is not set)".to_string());
    }
    Ok(Found {
        file: None,
        kind: ConfigKind::V2,
        secrets_dir: secrets_for(None),
        looked,
    })
}

/// `datajoint.json` in `start` or the nearest folder above it; the search stops at a folder
/// holding `.git` or `.hg` (after looking in it) and at `/`, as the 2.x client's does.
pub fn find_v2_file(start: &Path) -> Option<PathBuf> {
    let start = std::fs::canonicalize(start).unwrap_or_else(|_| start.to_path_buf());
    for dir in start.ancestors() {
        let candidate = dir.join(V2_FILE_NAME);
        if candidate.is_file() {
            return Some(candidate);
        }
        if dir.join(".git").exists() || dir.join(".hg").exists() {
            return None;
        }
    }
    None
}

/// The lookup of this process: its working folder, `HOME`, `/run/secrets/datajoint`,
/// `DJ_IGNORE_CONFIG_FILE`.
fn process_lookup<'a>(
    explicit: Option<&'a Path>,
    cwd: &'a Path,
    home: Option<&'a Path>,
) -> Lookup<'a> {
    Lookup {
        explicit,
        cwd,
        home,
        system_secrets: Path::new(SYSTEM_SECRETS_DIR),
        ignore_v2_files: env_var("DJ_IGNORE_CONFIG_FILE").is_some_and(|v| is_true(&v)),
    }
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn is_true(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "true" | "1" | "yes" | "on"
    )
}

/// Where this process finds its settings (see `find`).
pub fn find_for_process(explicit: Option<&Path>) -> Result<Found> {
    let cwd = std::env::current_dir().context("cannot read the working folder")?;
    let home = std::env::var_os("HOME").map(PathBuf::from);
    find(&process_lookup(explicit, &cwd, home.as_deref()))
}

/// The config file DataJoint would read (see `find`), if any.
pub fn find_config_file(explicit: Option<&Path>) -> Result<Option<PathBuf>> {
    Ok(find_for_process(explicit)?.file)
}

/// The secret files of a 2.x secrets folder that djfs uses: `database.user`,
/// `database.password` and `stores.<name>.<attr>`, each file's text without surrounding
/// whitespace.
#[derive(Clone, Default)]
pub struct Secrets {
    values: BTreeMap<String, String>,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.values.keys()).finish()
    }
}

impl Secrets {
    /// Reads the secret files of `dir` (none when `dir` is None).
    pub fn read(dir: Option<&Path>) -> Result<Secrets> {
        let mut values = BTreeMap::new();
        let Some(dir) = dir else {
            return Ok(Secrets { values });
        };
        let entries = std::fs::read_dir(dir)
            .with_context(|| format!("cannot list the secrets folder {}", dir.display()))?;
        for entry in entries {
            let entry = entry
                .with_context(|| format!("cannot list the secrets folder {}", dir.display()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if !Self::used(&name) || !path.is_file() {
                continue;
            }
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read secret file {}", path.display()))?;
            values.insert(name, text.trim().to_string());
        }
        Ok(Secrets { values })
    }

    /// Secrets given directly (tests).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Secrets {
        Secrets {
            values: pairs
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// Whether djfs reads a secret file of this name (as the client does).
    fn used(name: &str) -> bool {
        if name.starts_with('.') {
            return false;
        }
        matches!(name, "database.user" | "database.password")
            || matches!(name.split('.').collect::<Vec<_>>()[..], ["stores", s, a] if !s.is_empty() && !a.is_empty())
    }

    fn get(&self, name: &str) -> Option<String> {
        self.values.get(name).cloned()
    }

    /// `(store, attribute, value)` of every `stores.<name>.<attr>` secret.
    fn store_values(&self) -> impl Iterator<Item = (&str, &str, &str)> {
        self.values.iter().filter_map(|(k, v)| {
            let (store, attr) = k.strip_prefix("stores.")?.split_once('.')?;
            Some((store, attr, v.as_str()))
        })
    }
}

/// Reads the configuration: file (if any), secrets (2.x), then environment overrides.
pub fn load(explicit: Option<&Path>) -> Result<Config> {
    let found = find_for_process(explicit)?;
    let json = match &found.file {
        Some(path) => read_json(path)?,
        None => Value::Object(Default::default()),
    };
    for warning in exposed_warnings(&found, &json) {
        tracing::warn!("{warning}");
    }
    let secrets = Secrets::read(found.secrets_dir.as_deref())?;
    build(&json, &found, &secrets, env_var)
}

fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("config file {} is not valid JSON", path.display()))
}

/// The warnings about secrets others may read: the config file's, and the secret files'.
fn exposed_warnings(found: &Found, json: &Value) -> Vec<String> {
    let mut warnings = Vec::new();
    if let Some(path) = &found.file {
        warnings.extend(exposed_secrets_warning(path, json));
    }
    if let Some(dir) = &found.secrets_dir {
        warnings.extend(exposed_secret_files_warning(dir));
    }
    warnings
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

/// The same checks for the files `load` would read (for a launcher that does not load them
/// itself): one line, the warnings joined by "; ".
pub fn exposed_secrets_warning_for(explicit: Option<&Path>) -> Option<String> {
    let found = find_for_process(explicit).ok()?;
    let json = match &found.file {
        Some(path) => serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?,
        None => Value::Object(Default::default()),
    };
    let warnings = exposed_warnings(&found, &json);
    (!warnings.is_empty()).then(|| warnings.join("; "))
}

/// The warning for a 2.x secrets folder whose secret files (`database.password`,
/// `stores.<name>.secret_key`) users other than their owner may read; None when there are none.
pub fn exposed_secret_files_warning(dir: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mut exposed: Vec<(String, u32)> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let secret = name == "database.password"
                || (name.starts_with("stores.") && name.ends_with(".secret_key"));
            let meta = std::fs::metadata(entry.path()).ok()?;
            let mode = meta.permissions().mode() & 0o7777;
            (secret && meta.is_file() && mode & 0o044 != 0).then_some((name, mode))
        })
        .collect();
    exposed.sort();
    let (first, mode) = exposed.first()?;
    let path = dir.join(first);
    Some(format!(
        "secret file {} is readable by {} (mode {mode:04o}){}: chmod 600 {}",
        path.display(),
        match (mode & 0o040 != 0, mode & 0o004 != 0) {
            (true, true) => "group and others",
            (true, false) => "its group",
            _ => "others",
        },
        match exposed.len() {
            1 => String::new(),
            n => format!(", and {} more secret files there", n - 1),
        },
        if exposed.len() == 1 {
            path.display().to_string()
        } else {
            format!("{}/*", dir.display())
        }
    ))
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

/// Builds the configuration from a 0.14 file's parsed JSON (or none) and an environment lookup
/// (testable without files): no secrets, S3 `secure` defaults to false.
pub fn from_json(
    json: &Value,
    source: Option<PathBuf>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Config> {
    let home = env("HOME").unwrap_or_else(|| "~".to_string());
    let found = Found {
        looked: vec![
            "--config FILE".to_string(),
            "./dj_local_conf.json".to_string(),
            format!("{V2_FILE_NAME} from the working folder upward"),
            format!("{home}/.datajoint_config.json"),
        ],
        file: source,
        kind: ConfigKind::V014,
        secrets_dir: None,
    };
    build(json, &found, &Secrets::default(), env)
}

/// Builds the configuration from the file's parsed JSON, where it was found, the secrets and an
/// environment lookup. Precedence: environment > file > secrets > defaults.
pub fn build(
    json: &Value,
    found: &Found,
    secrets: &Secrets,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Config> {
    let source = found.file.clone();
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
    let user = match env("DJ_USER")
        .or_else(|| setting_str(json, "database.user"))
        .or_else(|| secrets.get("database.user"))
    {
        Some(user) => user,
        None => match &source {
            Some(path) => bail!(
                "no database user: set database.user in {}{} or DJ_USER",
                path.display(),
                match (found.kind, &found.secrets_dir) {
                    (ConfigKind::V2, Some(dir)) =>
                        format!(", the secret file {}/database.user,", dir.display()),
                    (ConfigKind::V2, None) => format!(
                        ", the secret file {}/{SECRETS_DIR_NAME}/database.user,",
                        path.parent().unwrap_or(Path::new(".")).display()
                    ),
                    (ConfigKind::V014, _) => String::new(),
                }
            ),
            None => bail!(
                "no DataJoint config found (looked for {}) and DJ_USER is not set",
                found.looked.join(", ")
            ),
        },
    };
    let password = Secret(
        env("DJ_PASS")
            .or_else(|| setting_str(json, "database.password"))
            .or_else(|| secrets.get("database.password"))
            .unwrap_or_default(),
    );
    let (tls, tls_setting) = match env("DJ_USE_TLS") {
        Some(v) => (tls_from_env(&v)?, "DJ_USE_TLS"),
        None => (
            tls_from_json(setting(json, "database.use_tls"))?,
            "database.use_tls",
        ),
    };
    let stores = stores(json, found.kind, secrets, &env)?;
    let cache = setting_str(json, "cache").map(PathBuf::from);
    Ok(Config {
        source,
        kind: found.kind,
        secrets_dir: found.secrets_dir.clone(),
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

/// The `stores` block: `DJ_STORES` (a JSON object) replaces the file's; a 2.x file's flat
/// `stores.<name>.<attr>` keys are merged into its `stores`; secret files `stores.<name>.<attr>`
/// then fill attributes that neither set, of stores that exist; S3 stores without `secure` get
/// the client's default (true for 2.x and `DJ_STORES`, false for 0.14), written out.
fn stores(
    json: &Value,
    kind: ConfigKind,
    secrets: &Secrets,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<BTreeMap<String, Value>> {
    let (mut stores, v2): (BTreeMap<String, Value>, bool) = match env("DJ_STORES") {
        Some(text) => match serde_json::from_str(&text) {
            Ok(Value::Object(map)) => (map.into_iter().collect(), true),
            Ok(other) => bail!("DJ_STORES must be a JSON object, got {other}"),
            Err(e) => bail!("DJ_STORES is not valid JSON: {e}"),
        },
        None => {
            let mut stores: BTreeMap<String, Value> = match setting(json, "stores") {
                Some(Value::Object(map)) => map.clone().into_iter().collect(),
                Some(Value::Null) | None => BTreeMap::new(),
                Some(other) => bail!("stores must be an object, got {other}"),
            };
            if kind == ConfigKind::V2 {
                for (key, value) in json.as_object().into_iter().flatten() {
                    let Some((store, attr)) = key
                        .strip_prefix("stores.")
                        .and_then(|rest| rest.split_once('.'))
                        .filter(|(s, a)| !s.is_empty() && !a.is_empty() && !a.contains('.'))
                    else {
                        continue;
                    };
                    let entry = stores
                        .entry(store.to_string())
                        .or_insert_with(|| Value::Object(Default::default()));
                    match entry {
                        Value::Object(map) => {
                            map.insert(attr.to_string(), value.clone());
                        }
                        _ => bail!("{key}: stores.{store} is not an object"),
                    }
                }
            }
            (stores, kind == ConfigKind::V2)
        }
    };
    if kind == ConfigKind::V2 || v2 {
        for (store, attr, value) in secrets.store_values() {
            if let Some(Value::Object(map)) = stores.get_mut(store) {
                if map.get(attr).is_none_or(Value::is_null) {
                    map.insert(attr.to_string(), Value::String(value.to_string()));
                }
            }
        }
    }
    crate::stores::spec::apply_client_defaults(&mut stores, v2);
    Ok(stores)
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
             datajoint.json from the working folder upward, /home/alice/.datajoint_config.json) \
             and DJ_USER is not set"
        );
        let file = Some(PathBuf::from("/etc/djfs/lab.json"));
        let e = from_json(&json!({}), file, no_env).unwrap_err().to_string();
        assert_eq!(
            e,
            "no database user: set database.user in /etc/djfs/lab.json or DJ_USER"
        );
        // The real search, from an empty folder (with .git: the search ends there).
        let t = tempfile::tempdir().unwrap();
        let cwd = t.path().join("work");
        std::fs::create_dir_all(cwd.join(".git")).unwrap();
        let home = t.path().join("home");
        let found = find(&lookup(&cwd, Some(&home), &t.path().join("none"))).unwrap();
        assert_eq!((found.file.as_ref(), found.kind), (None, ConfigKind::V2));
        let e = build(&json!({}), &found, &Secrets::default(), no_env)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            format!(
                "no DataJoint config found (looked for --config FILE, ./dj_local_conf.json, \
                 datajoint.json in {} and the folders above it (up to one holding .git or .hg), \
                 {}/.datajoint_config.json) and DJ_USER is not set",
                cwd.display(),
                home.display()
            )
        );
    }

    fn lookup<'a>(cwd: &'a Path, home: Option<&'a Path>, system: &'a Path) -> Lookup<'a> {
        Lookup {
            explicit: None,
            cwd,
            home,
            system_secrets: system,
            ignore_v2_files: false,
        }
    }

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn datajoint_json_is_found_upward_and_the_search_stops_at_git_or_hg() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().canonicalize().unwrap();
        // Stop the search inside the temp dir whatever lies above it.
        std::fs::create_dir_all(root.join(".hg")).unwrap();
        let deep = root.join("project/analysis/day1");
        std::fs::create_dir_all(&deep).unwrap();
        let none = root.join("no-secrets");
        // Nothing yet: not found, however deep.
        assert_eq!(find_v2_file(&deep), None);
        // In the folder holding .hg itself: found (looked in before stopping).
        write(&root.join("datajoint.json"), "{}");
        assert_eq!(find_v2_file(&deep), Some(root.join("datajoint.json")));
        // Nearer one wins.
        write(&root.join("project/datajoint.json"), "{}");
        let found = find(&lookup(&deep, None, &none)).unwrap();
        assert_eq!(found.file, Some(root.join("project/datajoint.json")));
        assert_eq!(found.kind, ConfigKind::V2);
        // A repository between: the search stops at it, the file above is not read.
        std::fs::create_dir_all(root.join("project/analysis/.git")).unwrap();
        assert_eq!(find_v2_file(&deep), None);
        let found = find(&lookup(&deep, None, &none)).unwrap();
        assert_eq!(found.file, None);
        // DJ_IGNORE_CONFIG_FILE: no 2.x file even in the working folder.
        write(&deep.join("datajoint.json"), "{}");
        assert_eq!(find_v2_file(&deep), Some(deep.join("datajoint.json")));
        let mut l = lookup(&deep, None, &none);
        l.ignore_v2_files = true;
        assert_eq!(find(&l).unwrap().file, None);
    }

    #[test]
    fn lookup_order_explicit_then_0_14_local_then_2x_upward_then_home() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join(".git")).unwrap();
        let cwd = root.join("work");
        let home = root.join("home");
        let none = root.join("no-secrets");
        std::fs::create_dir_all(&cwd).unwrap();
        let l = || lookup(&cwd, Some(&home), &none);
        write(&home.join(".datajoint_config.json"), "{}");
        let found = find(&l()).unwrap();
        assert_eq!(
            (found.file, found.kind),
            (Some(home.join(".datajoint_config.json")), ConfigKind::V014)
        );
        write(&root.join("datajoint.json"), "{}");
        let found = find(&l()).unwrap();
        assert_eq!(
            (found.file, found.kind),
            (Some(root.join("datajoint.json")), ConfigKind::V2)
        );
        write(&cwd.join("dj_local_conf.json"), "{}");
        let found = find(&l()).unwrap();
        assert_eq!(
            (found.file, found.kind, found.secrets_dir),
            (Some(cwd.join("dj_local_conf.json")), ConfigKind::V014, None)
        );
        // --config wins; its kind is by its name.
        let other = root.join("lab.json");
        write(&other, "{}");
        let explicit = |path: &Path| {
            let mut l = l();
            l.explicit = Some(path);
            find(&l).map(|f| (f.file, f.kind))
        };
        let v2_elsewhere = root.join("elsewhere/datajoint.json");
        write(&v2_elsewhere, "{}");
        assert_eq!(
            explicit(&other).unwrap(),
            (Some(other.clone()), ConfigKind::V014)
        );
        assert_eq!(
            explicit(&v2_elsewhere).unwrap(),
            (Some(v2_elsewhere.clone()), ConfigKind::V2)
        );
        // A relative --config is taken from the working folder.
        write(&cwd.join("rel/lab.json"), "{}");
        assert_eq!(
            explicit(Path::new("rel/lab.json")).unwrap(),
            (Some(cwd.join("rel/lab.json")), ConfigKind::V014)
        );
        let e = explicit(&root.join("missing.json"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            format!(
                "config file {} does not exist",
                root.join("missing.json").display()
            )
        );
    }

    #[test]
    fn secrets_folder_beside_datajoint_json_else_the_system_one() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join(".git")).unwrap();
        let system = root.join("run-secrets");
        let cwd = root.join("work/sub");
        std::fs::create_dir_all(&cwd).unwrap();
        write(&root.join("work/datajoint.json"), "{}");
        // Neither folder: none.
        assert_eq!(
            find(&lookup(&cwd, None, &system)).unwrap().secrets_dir,
            None
        );
        // The system folder when there is none beside the file (and with no file at all).
        std::fs::create_dir_all(&system).unwrap();
        assert_eq!(
            find(&lookup(&cwd, None, &system)).unwrap().secrets_dir,
            Some(system.clone())
        );
        let bare = root.join("bare");
        std::fs::create_dir_all(&bare).unwrap();
        std::fs::create_dir_all(bare.join(".git")).unwrap();
        assert_eq!(
            find(&lookup(&bare, None, &system)).unwrap().secrets_dir,
            Some(system.clone())
        );
        // The one beside the file first.
        std::fs::create_dir_all(root.join("work/.secrets")).unwrap();
        assert_eq!(
            find(&lookup(&cwd, None, &system)).unwrap().secrets_dir,
            Some(root.join("work/.secrets"))
        );
        // A 0.14 file reads no secrets.
        write(&cwd.join("dj_local_conf.json"), "{}");
        assert_eq!(
            find(&lookup(&cwd, None, &system)).unwrap().secrets_dir,
            None
        );
        // DJ_IGNORE_CONFIG_FILE: no secrets either.
        std::fs::remove_file(cwd.join("dj_local_conf.json")).unwrap();
        let mut l = lookup(&cwd, None, &system);
        l.ignore_v2_files = true;
        assert_eq!(find(&l).unwrap().secrets_dir, None);
    }

    #[test]
    fn secret_files_are_read_trimmed_and_only_those_used() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path();
        write(&dir.join("database.password"), "  pw with spaces inside \n");
        write(&dir.join("database.user"), "alice\n");
        write(&dir.join("stores.shared.secret_key"), "sk\n");
        write(&dir.join("stores.a.b.c"), "ignored");
        write(&dir.join("notes.txt"), "ignored");
        write(&dir.join(".gitignore"), "*");
        std::fs::create_dir_all(dir.join("stores.sub.dir")).unwrap();
        let secrets = Secrets::read(Some(dir)).unwrap();
        assert_eq!(
            format!("{secrets:?}"),
            r#"["database.password", "database.user", "stores.shared.secret_key"]"#
        );
        assert_eq!(
            secrets.get("database.password").as_deref(),
            Some("pw with spaces inside")
        );
        assert_eq!(secrets.get("database.user").as_deref(), Some("alice"));
        assert_eq!(
            secrets.store_values().collect::<Vec<_>>(),
            vec![("shared", "secret_key", "sk")]
        );
        assert!(Secrets::read(Some(&dir.join("missing")))
            .unwrap_err()
            .to_string()
            .contains("cannot list the secrets folder"));
    }

    fn v2_found() -> Found {
        Found {
            file: Some(PathBuf::from("/lab/datajoint.json")),
            kind: ConfigKind::V2,
            secrets_dir: Some(PathBuf::from("/lab/.secrets")),
            looked: vec![],
        }
    }

    #[test]
    fn secrets_fill_only_what_nothing_else_set() {
        let secrets = Secrets::from_pairs([
            ("database.user", "secret-user"),
            ("database.password", "secret-pw"),
            ("stores.shared.access_key", "secret-ak"),
            ("stores.shared.secret_key", "secret-sk"),
            ("stores.ghost.secret_key", "x"),
        ]);
        let file = json!({"database.user": "file-user", "stores": {"shared": {
            "protocol": "s3", "endpoint": "e", "bucket": "b", "access_key": "file-ak"}}});
        let cfg = build(&file, &v2_found(), &secrets, no_env).unwrap();
        assert_eq!(cfg.database.user, "file-user");
        assert_eq!(cfg.database.password.expose(), "secret-pw");
        assert_eq!(cfg.stores["shared"]["access_key"], json!("file-ak"));
        assert_eq!(cfg.stores["shared"]["secret_key"], json!("secret-sk"));
        // Secrets fill stores that exist; they make none.
        assert!(!cfg.stores.contains_key("ghost"));
        // The environment beats both.
        let env = |k: &str| match k {
            "DJ_PASS" => Some("env-pw".to_string()),
            "DJ_USER" => Some("env-user".to_string()),
            _ => None,
        };
        let cfg = build(&file, &v2_found(), &secrets, env).unwrap();
        assert_eq!(cfg.database.user, "env-user");
        assert_eq!(cfg.database.password.expose(), "env-pw");
        // The file beats the secret.
        let with_pw = json!({"database": {"password": "file-pw"}});
        let cfg = build(&with_pw, &v2_found(), &secrets, no_env).unwrap();
        assert_eq!(cfg.database.user, "secret-user");
        assert_eq!(cfg.database.password.expose(), "file-pw");
        // No user anywhere: the error names the secret file too.
        let e = build(&json!({}), &v2_found(), &Secrets::default(), no_env)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "no database user: set database.user in /lab/datajoint.json, the secret file \
             /lab/.secrets/database.user, or DJ_USER"
        );
        // 0.14 files take no secrets even when given some (find gives them none).
        let cfg = from_json(&json!({"database.user": "u"}), None, no_env).unwrap();
        assert_eq!(cfg.database.password.expose(), "");
    }

    #[test]
    fn dj_stores_replaces_the_whole_stores_block() {
        let file = json!({"database.user": "u", "stores": {
            "default": "local",
            "local": {"protocol": "file", "location": "/data"},
            "shared": {"protocol": "s3", "endpoint": "e", "bucket": "b", "secure": false}}});
        let env = |k: &str| {
            (k == "DJ_STORES").then(|| {
                r#"{"default": "cloud", "cloud": {"protocol": "s3", "endpoint": "s3.lab", "bucket": "c"}}"#
                    .to_string()
            })
        };
        let secrets = Secrets::from_pairs([
            ("stores.cloud.access_key", "ak"),
            ("stores.cloud.secret_key", "sk"),
        ]);
        let cfg = build(&file, &v2_found(), &secrets, env).unwrap();
        assert_eq!(
            cfg.stores.keys().collect::<Vec<_>>(),
            vec!["cloud", "default"]
        );
        assert_eq!(cfg.stores["default"], json!("cloud"));
        assert_eq!(
            cfg.stores["cloud"],
            json!({"protocol": "s3", "endpoint": "s3.lab", "bucket": "c", "secure": true,
                   "access_key": "ak", "secret_key": "sk"})
        );
        // DJ_STORES is 2.x's: its S3 stores are secure by default under a 0.14 file too.
        let cfg = from_json(&file, None, env).unwrap();
        assert_eq!(cfg.stores["cloud"]["secure"], json!(true));
        for (bad, why) in [
            ("[1]", "DJ_STORES must be a JSON object, got [1]"),
            ("{nope", "DJ_STORES is not valid JSON"),
        ] {
            let env = |k: &str| (k == "DJ_STORES").then(|| bad.to_string());
            let e = build(&file, &v2_found(), &Secrets::default(), env)
                .unwrap_err()
                .to_string();
            assert!(e.starts_with(why), "{bad}: {e}");
        }
    }

    #[test]
    fn s3_secure_defaults_to_true_in_a_2x_file_and_false_in_a_0_14_one() {
        let file = json!({"database.user": "u", "stores": {
            "shared": {"protocol": "s3", "endpoint": "e", "bucket": "b"},
            "plain": {"protocol": "s3", "endpoint": "e", "bucket": "b", "secure": false},
            "local": {"protocol": "file", "location": "/data"}}});
        let secure =
            |cfg: &Config, name: &str| match &crate::stores::spec::parse_stores(&cfg.stores)[name]
                .as_ref()
                .unwrap()
                .protocol
            {
                crate::stores::spec::Protocol::S3 { secure, .. } => *secure,
                other => panic!("{other:?}"),
            };
        let v2 = build(&file, &v2_found(), &Secrets::default(), no_env).unwrap();
        assert_eq!(v2.kind, ConfigKind::V2);
        assert!(secure(&v2, "shared"));
        assert!(!secure(&v2, "plain"));
        let v014 = from_json(&file, None, no_env).unwrap();
        assert_eq!(v014.kind, ConfigKind::V014);
        assert!(!secure(&v014, "shared"));
        assert!(!secure(&v014, "plain"));
    }

    #[test]
    fn flat_store_keys_in_a_2x_file() {
        let file = json!({"database.user": "u",
            "stores": {"local": {"protocol": "file"}},
            "stores.local.location": "/data",
            "stores.cloud.protocol": "s3", "stores.cloud.endpoint": "e", "stores.cloud.bucket": "b"});
        let cfg = build(&file, &v2_found(), &Secrets::default(), no_env).unwrap();
        assert_eq!(
            cfg.stores["local"],
            json!({"protocol": "file", "location": "/data"})
        );
        assert_eq!(
            cfg.stores["cloud"],
            json!({"protocol": "s3", "endpoint": "e", "bucket": "b", "secure": true})
        );
    }

    #[test]
    fn a_2x_lab_setup_read_from_files_end_to_end() {
        use std::os::unix::fs::PermissionsExt;
        let t = tempfile::tempdir().unwrap();
        let root = t.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join(".git")).unwrap();
        write(
            &root.join("datajoint.json"),
            r#"{"database": {"backend": "postgresql", "host": "pg.lab:5433", "name": "lab"},
                "stores": {"default": "main", "main": {"protocol": "s3", "endpoint": "s3.lab",
                "bucket": "raw", "location": "v2"}}}"#,
        );
        write(&root.join(".secrets/database.user"), "alice\n");
        write(&root.join(".secrets/database.password"), "hunter2\n");
        write(&root.join(".secrets/stores.main.access_key"), "ak");
        write(&root.join(".secrets/stores.main.secret_key"), "sk");
        let cwd = root.join("analysis/2026");
        std::fs::create_dir_all(&cwd).unwrap();
        let found = find(&lookup(&cwd, None, &root.join("none"))).unwrap();
        let json = read_json(found.file.as_ref().unwrap()).unwrap();
        let secrets = Secrets::read(found.secrets_dir.as_deref()).unwrap();
        let cfg = build(&json, &found, &secrets, no_env).unwrap();
        assert_eq!(cfg.source, Some(root.join("datajoint.json")));
        assert_eq!(cfg.secrets_dir, Some(root.join(".secrets")));
        let db = &cfg.database;
        assert_eq!(
            (
                db.backend,
                db.host.as_str(),
                db.port,
                db.database_name.as_str()
            ),
            (DbBackend::PostgreSql, "pg.lab", 5433, "lab")
        );
        assert_eq!(
            (db.user.as_str(), db.password.expose()),
            ("alice", "hunter2")
        );
        let spec = crate::stores::spec::parse_stores(&cfg.stores)["main"]
            .clone()
            .unwrap();
        assert_eq!(spec.protocol.s3_keys(), Some(("ak", "sk")));
        assert_eq!(format!("{:?}", spec.protocol), "s3:https://s3.lab/raw/v2");
        // The secret files readable by others: one warning naming the first and counting the
        // rest; none once private.
        let chmod = |name: &str, mode| {
            std::fs::set_permissions(
                root.join(".secrets").join(name),
                std::fs::Permissions::from_mode(mode),
            )
            .unwrap()
        };
        for name in [
            "database.user",
            "database.password",
            "stores.main.access_key",
            "stores.main.secret_key",
        ] {
            chmod(name, 0o644);
        }
        std::fs::set_permissions(
            root.join("datajoint.json"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let warnings = exposed_warnings(&found, &json);
        let dir = root.join(".secrets");
        assert_eq!(
            warnings,
            vec![format!(
                "secret file {}/database.password is readable by group and others (mode 0644), \
                 and 1 more secret files there: chmod 600 {}/*",
                dir.display(),
                dir.display()
            )]
        );
        chmod("stores.main.secret_key", 0o600);
        chmod("database.password", 0o640);
        assert_eq!(
            exposed_warnings(&found, &json),
            vec![format!(
                "secret file {0}/database.password is readable by its group (mode 0640): chmod 600 \
                 {0}/database.password",
                dir.display()
            )]
        );
        chmod("database.password", 0o600);
        assert!(exposed_warnings(&found, &json).is_empty());
        // A password in a readable datajoint.json: the config file warning, as for 0.14 files.
        let with_pw = json!({"database.password": "p"});
        let w = exposed_warnings(&found, &with_pw);
        assert_eq!(w.len(), 1);
        assert!(
            w[0].starts_with(&format!(
                "config file {} holds a database password",
                root.join("datajoint.json").display()
            )),
            "{w:?}"
        );
    }
}
