//! Store settings from the DataJoint config's `stores` section, read as the client reads them
//! (spec §3.1). Pure logic.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde_json::Value;

/// Where a store keeps its objects.
#[derive(Clone, PartialEq)]
pub enum Protocol {
    /// A folder (`protocol: file`); `location` is used as it is.
    File { location: PathBuf },
    /// An S3 bucket (`protocol: s3`); keys start with the normalised `location`.
    S3 {
        endpoint: String,
        bucket: String,
        /// Both empty: the ambient AWS credentials (2.x allows a store without keys).
        access_key: String,
        secret_key: String,
        secure: bool,
        location: String,
    },
}

impl fmt::Debug for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Protocol::File { location } => write!(f, "file:{}", location.display()),
            Protocol::S3 {
                endpoint,
                bucket,
                location,
                secure,
                ..
            } => write!(
                f,
                "s3:{}://{endpoint}/{bucket}/{location}",
                if *secure { "https" } else { "http" }
            ),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct StoreSpec {
    pub name: String,
    pub protocol: Protocol,
    /// Fold widths of the object path below the schema folder; default (2, 2).
    pub subfolding: Vec<usize>,
    /// The local root of `filepath@store` paths.
    pub stage: Option<PathBuf>,
    /// 2.x: the folder of hash-addressed objects (`hash_prefix`, default `_hash`). Objects are
    /// read at `location + metadata.path`; the prefixes only say where to list them.
    pub hash_prefix: String,
    /// 2.x: the folder of schema-addressed objects (`schema_prefix`, default `_schema`).
    pub schema_prefix: String,
    /// 2.x: the fold widths of hash-addressed paths, only as configured (2.x has no default
    /// subfolding: empty means flat, unlike 0.14's (2, 2) above).
    pub v2_subfolding: Vec<usize>,
    /// 2.x: the length of the random token in schema-addressed paths (`token_length`, default
    /// 8, clamped to 4–16 as the client clamps it).
    pub token_length: usize,
    /// 2.x: `partition_pattern` (`{subject_id}/{session}`): key attributes that go before the
    /// schema folder in schema-addressed paths.
    pub partition_pattern: Option<String>,
}

/// Keys of the `stores` section that name a store instead of describing one (2.x).
pub const STORE_NAME_KEYS: [&str; 2] = ["default", "filepath_default"];

/// Reads one store's settings; the error says what is wrong with them.
pub fn parse_store(name: &str, value: &Value) -> Result<StoreSpec, String> {
    let field = |key: &str| -> Option<String> {
        match value.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    };
    let required = |key: &str| field(key).ok_or_else(|| format!("store {name:?} has no {key}"));
    let protocol = required("protocol")?.to_ascii_lowercase();
    let protocol = match protocol.as_str() {
        "file" => Protocol::File {
            location: PathBuf::from(required("location")?),
        },
        "s3" => {
            // Both keys or neither (2.x: neither means the ambient AWS credentials).
            let (access_key, secret_key) = match (field("access_key"), field("secret_key")) {
                (Some(a), Some(s)) => (a, s),
                (None, None) => (String::new(), String::new()),
                (Some(_), None) => {
                    return Err(format!(
                        "store {name:?} has an access_key but no secret_key"
                    ))
                }
                (None, Some(_)) => {
                    return Err(format!("store {name:?} has a secret_key but no access_key"))
                }
            };
            if access_key.is_empty() != secret_key.is_empty() {
                return Err(format!(
                    "store {name:?}: access_key and secret_key must both be set or both be empty"
                ));
            }
            let secure = match value.get("secure") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => true,
                Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => false,
                Some(other) => {
                    return Err(format!(
                        "store {name:?}: secure must be true or false, got {other}"
                    ))
                }
            };
            Protocol::S3 {
                endpoint: required("endpoint")?,
                bucket: required("bucket")?,
                access_key,
                secret_key,
                secure,
                location: field("location").unwrap_or_default(),
            }
        }
        other => return Err(format!("store {name:?}: unknown protocol {other:?}")),
    };
    let subfolding = match value.get("subfolding") {
        None | Some(Value::Null) => vec![2, 2],
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_u64()
                    .filter(|&w| (1..=32).contains(&w))
                    .map(|w| w as usize)
                    .ok_or_else(|| format!("store {name:?}: bad subfolding {v}"))
            })
            .collect::<Result<_, _>>()?,
        Some(other) => return Err(format!("store {name:?}: bad subfolding {other}")),
    };
    if subfolding.iter().sum::<usize>() > 32 {
        return Err(format!("store {name:?}: subfolding longer than the hash"));
    }
    // 2.x folds only when `subfolding` is given (and not empty).
    let v2_subfolding = match value.get("subfolding") {
        Some(Value::Array(_)) => subfolding.clone(),
        _ => Vec::new(),
    };
    // (A value that is no integer only matters to writes, which then use the default: reads
    // never need it.)
    let token_length = value
        .get("token_length")
        .and_then(Value::as_u64)
        .unwrap_or(8)
        .clamp(4, 16) as usize;
    Ok(StoreSpec {
        name: name.to_string(),
        protocol,
        subfolding,
        stage: field("stage").map(PathBuf::from),
        hash_prefix: prefix(field("hash_prefix"), "_hash"),
        schema_prefix: prefix(field("schema_prefix"), "_schema"),
        v2_subfolding,
        token_length,
        partition_pattern: field("partition_pattern").filter(|p| !p.is_empty()),
    })
}

/// A 2.x path prefix without surrounding slashes; `default` when unset. An empty prefix stays
/// empty, as the client keeps it (`setdefault`): objects are then at the store's root level
/// (`<schema>/…`), the layout of stores written before 2.3.1.
fn prefix(value: Option<String>, default: &str) -> String {
    match value {
        Some(p) => p.trim_matches('/').to_string(),
        None => default.to_string(),
    }
}

impl Protocol {
    /// An S3 store's access and secret key; None for a folder, or for an S3 store without keys
    /// (the ambient AWS credentials: environment, profile, instance role).
    pub fn s3_keys(&self) -> Option<(&str, &str)> {
        match self {
            Protocol::S3 {
                access_key,
                secret_key,
                ..
            } if !access_key.is_empty() => Some((access_key, secret_key)),
            _ => None,
        }
    }
}

/// Writes out the client's default `secure` into every S3 store that does not set it: true for
/// a 2.x configuration (`datajoint.json`, `DJ_STORES`), false for 0.14. `parse_store` reads an
/// absent `secure` as false, so a 2.x store must pass through here first (`crate::config` does).
pub fn apply_client_defaults(stores: &mut BTreeMap<String, Value>, v2: bool) {
    for (name, value) in stores.iter_mut() {
        if STORE_NAME_KEYS.contains(&name.as_str()) && value.is_string() {
            continue;
        }
        let Value::Object(map) = value else { continue };
        let s3 = map
            .get("protocol")
            .and_then(Value::as_str)
            .is_some_and(|p| p.eq_ignore_ascii_case("s3"));
        if s3 && map.get("secure").is_none_or(Value::is_null) {
            map.insert("secure".to_string(), Value::Bool(v2));
        }
    }
}

/// All configured stores; a store whose settings are wrong maps to the reason.
pub fn parse_stores(
    stores: &BTreeMap<String, Value>,
) -> BTreeMap<String, Result<StoreSpec, String>> {
    stores
        .iter()
        .filter(|(name, value)| {
            !(STORE_NAME_KEYS.contains(&name.as_str()) && matches!(value, Value::String(_)))
        })
        .map(|(name, value)| (name.clone(), parse_store(name, value)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn seed_notebook_stores() {
        let s3 = parse_store(
            "shared",
            &json!({"protocol": "s3", "endpoint": "localhost:9000", "access_key": "datajoint",
                    "secret_key": "datajoint", "bucket": "datajoint-demo", "location": ""}),
        )
        .unwrap();
        assert_eq!(s3.subfolding, vec![2, 2]);
        assert!(matches!(s3.protocol, Protocol::S3 { secure: false, .. }));
        assert!(!format!("{s3:?}").contains("datajoint-demo/datajoint"));
        let file = parse_store(
            "local",
            &json!({"protocol": "FILE", "location": "/data/dj-store", "subfolding": [1, 1]}),
        )
        .unwrap();
        assert_eq!(file.subfolding, vec![1, 1]);
        assert_eq!(
            (file.hash_prefix.as_str(), file.schema_prefix.as_str()),
            ("_hash", "_schema")
        );
        // 2.x: folds only as configured, a token of 8 characters, no partitions.
        assert_eq!(file.v2_subfolding, vec![1, 1]);
        assert!(s3.v2_subfolding.is_empty());
        assert_eq!(
            (s3.token_length, s3.partition_pattern.as_deref()),
            (8, None)
        );
        let deep = parse_store(
            "deep",
            &json!({"protocol": "file", "location": "/d", "token_length": 40,
                    "partition_pattern": "{subject_id}/{session}"}),
        )
        .unwrap();
        assert_eq!(deep.token_length, 16);
        assert_eq!(
            deep.partition_pattern.as_deref(),
            Some("{subject_id}/{session}")
        );
        assert_eq!(
            file.protocol,
            Protocol::File {
                location: "/data/dj-store".into()
            }
        );
    }

    #[test]
    fn v2_prefixes_and_store_name_keys() {
        let deep = parse_store(
            "deep",
            &json!({"protocol": "file", "location": "/d", "hash_prefix": "objects/by-hash/",
                    "schema_prefix": "/objects/by-key"}),
        )
        .unwrap();
        assert_eq!(deep.hash_prefix, "objects/by-hash");
        assert_eq!(deep.schema_prefix, "objects/by-key");
        // An empty prefix is the root-level layout, not the default (the client keeps it).
        let legacy = parse_store(
            "legacy",
            &json!({"protocol": "file", "location": "/d", "schema_prefix": "", "hash_prefix": "/"}),
        )
        .unwrap();
        assert_eq!(
            (legacy.hash_prefix.as_str(), legacy.schema_prefix.as_str()),
            ("", "")
        );
        let stores: BTreeMap<String, Value> = [
            ("default".to_string(), json!("deep")),
            ("filepath_default".to_string(), json!("deep")),
            (
                "deep".to_string(),
                json!({"protocol": "file", "location": "/d"}),
            ),
        ]
        .into_iter()
        .collect();
        let parsed = parse_stores(&stores);
        assert_eq!(parsed.keys().collect::<Vec<_>>(), vec!["deep"]);
    }

    #[test]
    fn s3_keys_both_or_neither() {
        let s3 = |extra: Value| {
            let mut v = json!({"protocol": "s3", "endpoint": "s3.lab:9000", "bucket": "b"});
            v.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            parse_store("s", &v)
        };
        let ambient = s3(json!({})).unwrap();
        assert_eq!(ambient.protocol.s3_keys(), None);
        let keyed = s3(json!({"access_key": "ak", "secret_key": "sk"})).unwrap();
        assert_eq!(keyed.protocol.s3_keys(), Some(("ak", "sk")));
        let e = s3(json!({"access_key": "ak"})).unwrap_err();
        assert_eq!(e, "store \"s\" has an access_key but no secret_key");
        let e = s3(json!({"secret_key": "sk"})).unwrap_err();
        assert_eq!(e, "store \"s\" has a secret_key but no access_key");
        assert!(s3(json!({"access_key": "", "secret_key": "sk"}))
            .unwrap_err()
            .contains("both"));
        assert!(s3(json!({"secure": "maybe"}))
            .unwrap_err()
            .contains("secure must be true or false"));
        assert!(matches!(
            s3(json!({"secure": true})).unwrap().protocol,
            Protocol::S3 { secure: true, .. }
        ));
    }

    #[test]
    fn secure_default_by_client_version() {
        let block = || -> BTreeMap<String, Value> {
            [
                ("default".to_string(), json!("s")),
                (
                    "s".to_string(),
                    json!({"protocol": "S3", "endpoint": "e", "bucket": "b"}),
                ),
                (
                    "plain".to_string(),
                    json!({"protocol": "s3", "endpoint": "e", "bucket": "b", "secure": false}),
                ),
                (
                    "f".to_string(),
                    json!({"protocol": "file", "location": "/d"}),
                ),
            ]
            .into_iter()
            .collect()
        };
        let secure = |stores: &BTreeMap<String, Value>, name: &str| match parse_stores(stores)[name]
            .as_ref()
            .unwrap()
            .protocol
        {
            Protocol::S3 { secure, .. } => secure,
            _ => panic!("{name} is not S3"),
        };
        let mut v2 = block();
        apply_client_defaults(&mut v2, true);
        assert!(secure(&v2, "s"));
        assert!(!secure(&v2, "plain"));
        assert_eq!(v2["default"], json!("s"));
        assert!(v2["f"].get("secure").is_none());
        let mut v014 = block();
        apply_client_defaults(&mut v014, false);
        assert!(!secure(&v014, "s") && !secure(&v014, "plain"));
        assert!(!secure(&block(), "s"));
    }

    #[test]
    fn bad_settings_say_why() {
        assert!(parse_store("x", &json!({"protocol": "ftp"}))
            .unwrap_err()
            .contains("unknown protocol"));
        assert!(parse_store("x", &json!({"protocol": "s3", "location": ""}))
            .unwrap_err()
            .contains("endpoint"));
        assert!(parse_store(
            "x",
            &json!({"protocol": "file", "location": "/a", "subfolding": [40]})
        )
        .is_err());
    }
}
