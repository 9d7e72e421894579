//! Where a DataJoint 2.x write puts its object and which JSON metadata it writes in the row, as
//! datajoint 2.3.5 does it (`hash_registry.put_hash`, `storage.build_object_path` and
//! `generate_token`, the `<npy@>` and `<object@>` codecs): hash-addressed paths, schema-addressed
//! paths with a fresh random token, key values as the client spells them in paths, the metadata
//! of each codec, `.npy` dtype names. Pure logic (the token's randomness aside): the uploads are
//! `crate::external`'s, the row's transaction the backend's.

use md5::{Digest, Md5};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{json, Value};

use crate::stores::spec::StoreSpec;

/// A store's 2.x layout settings (defaults applied as the client applies them).
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    /// `hash_prefix` without surrounding slashes (default `_hash`).
    pub hash_prefix: String,
    /// `schema_prefix` without surrounding slashes (default `_schema`).
    pub schema_prefix: String,
    /// Fold widths of hash-addressed paths, only as configured (empty: flat).
    pub subfolding: Vec<usize>,
    /// Characters of the random token (4–16, default 8).
    pub token_length: usize,
    /// `{attr}` placeholders naming key attributes that go before the schema folder.
    pub partition_pattern: Option<String>,
}

impl Layout {
    pub fn of(spec: &StoreSpec) -> Layout {
        Layout {
            hash_prefix: spec.hash_prefix.clone(),
            schema_prefix: spec.schema_prefix.clone(),
            subfolding: spec.v2_subfolding.clone(),
            token_length: spec.token_length,
            partition_pattern: spec.partition_pattern.clone(),
        }
    }
}

/// The path of a hash-addressed object (`<blob@>`, `<attach@>`, `<hash@>`):
/// `{hash_prefix}/{schema}/{folds…}/{hash}`, the folds cut from the base32 hash itself.
pub fn hash_path(layout: &Layout, schema: &str, hash: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    if !layout.hash_prefix.is_empty() {
        parts.push(&layout.hash_prefix);
    }
    parts.push(schema);
    let mut rest = hash;
    for &width in &layout.subfolding {
        let cut = width.min(rest.len());
        parts.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    parts.push(hash);
    parts.join("/")
}

/// The client's token alphabet: URL- and file-name-safe, 64 characters.
pub const TOKEN_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// A token from random bytes, one character per byte (64 divides 256: each character equally
/// likely).
pub fn token_from(random: &[u8]) -> String {
    random
        .iter()
        .map(|b| char::from(TOKEN_ALPHABET[usize::from(b & 63)]))
        .collect()
}

/// A fresh random token of `length` characters (clamped to 4–16, as the client clamps it),
/// from the kernel's random source.
pub fn new_token(length: usize) -> std::io::Result<String> {
    let mut random = vec![0u8; length.clamp(4, 16)];
    let mut filled = 0;
    while filled < random.len() {
        let rest = &mut random[filled..];
        // SAFETY: the pointer and length describe `rest`, a live, writable buffer.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        filled += n as usize;
    }
    Ok(token_from(&random))
}

/// One primary-key attribute of a row, for its schema-addressed path.
#[derive(Clone, Copy, Debug)]
pub struct KeyPart<'a> {
    pub name: &'a str,
    /// The value as djfs writes it in folder names (the database's text of it).
    pub text: &'a str,
    /// The column's SQL type (`integer`, `timestamp(3) without time zone`, `varchar(64)`).
    pub column_type: &'a str,
}

/// The path of a schema-addressed object (`<npy@>`, `<object@>`):
/// `{schema_prefix}/{partitions…}/{schema}/{table}/{k1=v1}/…/{field}_{token}{ext}`, where the
/// partitions are the key attributes `partition_pattern` names (in its order) and the other key
/// attributes follow in key order. `table` is the SQL table name.
pub fn schema_path(
    layout: &Layout,
    schema: &str,
    table: &str,
    field: &str,
    key: &[KeyPart],
    ext: Option<&str>,
    token: &str,
) -> String {
    let mut filename = format!("{field}_{token}");
    if let Some(ext) = ext.filter(|e| !e.is_empty()) {
        if !ext.starts_with('.') {
            filename.push('.');
        }
        filename.push_str(ext);
    }
    let partitions = layout
        .partition_pattern
        .as_deref()
        .map(pattern_attributes)
        .unwrap_or_default();
    let segment = |k: &KeyPart| format!("{}={}", k.name, encode_key_value(k.text, k.column_type));
    let mut parts: Vec<String> = Vec::new();
    if !layout.schema_prefix.is_empty() {
        parts.push(layout.schema_prefix.clone());
    }
    for attr in &partitions {
        if let Some(k) = key.iter().find(|k| k.name == attr) {
            parts.push(segment(k));
        }
    }
    parts.push(schema.to_string());
    parts.push(table.to_string());
    for k in key {
        if !partitions.iter().any(|p| p == k.name) {
            parts.push(segment(k));
        }
    }
    parts.push(filename);
    parts.join("/")
}

/// The attribute names a partition pattern holds (`{subject_id}/{session}`), in order: each
/// `{` + word characters + `}`, as the client's `re.findall(r"\{(\w+)\}", …)` finds them.
pub fn pattern_attributes(pattern: &str) -> Vec<String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '{' {
            let word: String = chars[i + 1..]
                .iter()
                .take_while(|c| c.is_alphanumeric() || **c == '_')
                .collect();
            let end = i + 1 + word.chars().count();
            if !word.is_empty() && chars.get(end) == Some(&'}') {
                found.push(word);
                i = end + 1;
                continue;
            }
        }
        i += 1;
    }
    found
}

/// Python's `urllib.parse.quote(s, safe="")`: everything but letters, digits and `_.-~`.
const QUOTED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'_')
    .remove(b'.')
    .remove(b'-')
    .remove(b'~');

/// A key value as the client writes it in a path (`storage.encode_pk_value`), from djfs's text
/// of it and the column's SQL type: integers and decimals as they are, floats as Python prints
/// them, booleans `True`/`False`, dates as they are, datetimes `YYYY-MM-DDTHH-MM-SS`; strings
/// as they are unless they hold one of `/\:*?"<>|` or are over 100 characters (then cut to 50
/// characters, `_` and 8 hex digits of their MD5, and percent-encoded).
pub fn encode_key_value(text: &str, column_type: &str) -> String {
    let ty = column_type.trim().to_ascii_lowercase();
    let base = ty.split(['(', ' ']).next().unwrap_or("");
    match base {
        "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint" | "numeric"
        | "decimal" | "date" | "time" => text.to_string(),
        "boolean" | "bool" => match text {
            "1" | "t" | "true" | "True" => "True".into(),
            "0" | "f" | "false" | "False" => "False".into(),
            other => other.to_string(),
        },
        "real" | "double" | "float" => text
            .parse::<f64>()
            .map(python_float)
            .unwrap_or_else(|_| text.to_string()),
        "timestamp" | "datetime" => python_datetime(text).unwrap_or_else(|| text.to_string()),
        _ => {
            const UNSAFE: &[char] = &['/', '\\', ':', '*', '?', '"', '<', '>', '|'];
            let chars = text.chars().count();
            if !text.contains(UNSAFE) && chars <= 100 {
                return text.to_string();
            }
            let cut = if chars > 100 {
                let digest = hex::encode(Md5::digest(text.as_bytes()));
                let head: String = text.chars().take(50).collect();
                format!("{head}_{}", &digest[..8])
            } else {
                text.to_string()
            };
            utf8_percent_encode(&cut, QUOTED).to_string()
        }
    }
}

/// `repr(float)` in Python: the shortest digits that read back, in fixed notation with at least
/// one decimal (`100.0`) when the decimal point falls within 16 digits (`1e-05`, `1e+16` else).
pub fn python_float(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.into();
    }
    // Rust's `{:e}` gives the same shortest round-trip digits: `-1.25e-7`.
    let sci = format!("{x:e}");
    let (mantissa, exp) = sci.split_once('e').expect("{:e} has an exponent");
    let exp: i32 = exp.parse().expect("{:e} exponent");
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let point = exp + 1; // digits d1d2… = 0.d1d2… × 10^point
    if -4 < point && point <= 16 {
        let n = digits.len() as i32;
        let body = if point <= 0 {
            format!("0.{}{digits}", "0".repeat((-point) as usize))
        } else if point >= n {
            format!("{digits}{}.0", "0".repeat((point - n) as usize))
        } else {
            format!(
                "{}.{}",
                &digits[..point as usize],
                &digits[point as usize..]
            )
        };
        format!("{sign}{body}")
    } else {
        let rest = if digits.len() > 1 {
            format!(".{}", &digits[1..])
        } else {
            String::new()
        };
        let e = point - 1;
        let e_sign = if e < 0 { '-' } else { '+' };
        format!(
            "{sign}{}{rest}e{e_sign}{:02}",
            &digits[..1],
            e.unsigned_abs()
        )
    }
}

/// A datetime's text (`2024-05-06 07:08:09.123`) as `strftime("%Y-%m-%dT%H-%M-%S")` writes it.
fn python_datetime(text: &str) -> Option<String> {
    let (date, time) = text.split_once([' ', 'T'])?;
    let time = time.split(['.', '+']).next()?;
    let hms: Vec<&str> = time.split(':').collect();
    if hms.len() != 3 || date.len() != 10 {
        return None;
    }
    Some(format!("{date}T{}-{}-{}", hms[0], hms[1], hms[2]))
}

/// The suffix Python's `PurePath(name).suffix` gives (the `<object@>` codec's `ext`): from the
/// last `.`, unless that is the first or the last character (`.bashrc`, `a.`: none).
pub fn file_suffix(name: &str) -> &str {
    let name = name.rsplit('/').next().unwrap_or(name);
    match name.rfind('.') {
        Some(i) if i > 0 && i < name.len() - 1 => &name[i..],
        _ => "",
    }
}

/// `datetime.now(timezone.utc).isoformat()`: `2026-12-04T15:13:16.123456+00:00` (no fraction
/// when the microseconds are 0).
pub fn iso_utc(time: std::time::SystemTime) -> String {
    let since = time
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = since.as_secs() as i128;
    let micros = since.subsec_micros();
    let (y, m, d) = crate::codec::json::civil_from_days(secs.div_euclid(86_400));
    let day = secs.rem_euclid(86_400);
    let clock = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        day / 3600,
        day / 60 % 60,
        day % 60
    );
    if micros == 0 {
        format!("{clock}+00:00")
    } else {
        format!("{clock}.{micros:06}+00:00")
    }
}

/// A hash-addressed object's metadata (`<blob@>`, `<attach@>`, `<hash@>`):
/// `{hash, path, schema, store, size}`.
pub fn hash_metadata(hash: &str, path: &str, schema: &str, store: &str, size: u64) -> Value {
    json!({"hash": hash, "path": path, "schema": schema, "store": store, "size": size})
}

/// An `<npy@>` value's metadata: `{path, store, dtype, shape}`.
pub fn npy_metadata(path: &str, store: &str, dtype: &str, shape: &[u64]) -> Value {
    json!({"path": path, "store": store, "dtype": dtype, "shape": shape})
}

/// An `<object@>` file's metadata: `{path, store, size, ext, is_dir, item_count, timestamp}`
/// (`ext` as `file_suffix` gives it, `""` for none; `item_count` null for a file).
pub fn object_metadata(path: &str, store: &str, size: u64, ext: &str, timestamp: &str) -> Value {
    json!({
        "path": path, "store": store, "size": size, "ext": ext, "is_dir": false,
        "item_count": null, "timestamp": timestamp,
    })
}

/// What an `.npy` file written into an `<npy@>` column holds: numpy's name of its dtype (as
/// `str(arr.dtype)`: `float64`, `datetime64[ms]`, `<U5`, `>f8`) and its shape. `head` is the
/// file's beginning (its header fits in the first 10,012 bytes) and `len` its whole length,
/// which must be the header plus exactly the elements' bytes. Object arrays (pickles) and
/// structured dtypes are refused, as the client refuses them or cannot describe them.
pub fn npy_array_info(head: &[u8], len: u64) -> Result<(String, Vec<u64>), String> {
    let header = crate::codec::encode::parse_npy_header(head).map_err(|e| e.to_string())?;
    let descr = header
        .descr
        .ok_or("structured dtypes (record arrays) are not stored as <npy@>")?;
    let (name, item) = dtype_name(&descr)?;
    let count = header
        .shape
        .iter()
        .try_fold(1u64, |n, &d| n.checked_mul(d))
        .and_then(|n| n.checked_mul(item))
        .ok_or_else(|| format!("shape {:?} is too large", header.shape))?;
    let data = len.saturating_sub(header.data_offset as u64);
    if len < header.data_offset as u64 || data != count {
        return Err(format!(
            "shape {:?} of {descr} needs {count} data bytes but the file has {data}",
            header.shape
        ));
    }
    Ok((name, header.shape))
}

/// numpy's name of a dtype given by its type string, and its item size.
fn dtype_name(descr: &str) -> Result<(String, u64), String> {
    let (big, t) = match descr.chars().next() {
        Some('>') => (true, &descr[1..]),
        Some('<' | '|' | '=') => (false, &descr[1..]),
        _ => (false, descr),
    };
    let unsupported = || Err(format!("dtype {descr:?} is not stored as <npy@>"));
    let kind = t.chars().next().unwrap_or(' ');
    let rest = &t[kind.len_utf8().min(t.len())..];
    if kind == 'O' {
        return Err("object arrays (pickles) are not stored as <npy@>".into());
    }
    // `M8[ms]`, `m8`: 8 bytes, an optional unit.
    if kind == 'M' || kind == 'm' {
        let unit = match rest {
            "8" => "",
            _ => match rest.strip_prefix("8[").and_then(|u| u.strip_suffix(']')) {
                Some(u) if !u.is_empty() && u.chars().all(|c| c.is_ascii_alphanumeric()) => u,
                _ => return unsupported(),
            },
        };
        let unit_text = if unit.is_empty() {
            String::new()
        } else {
            format!("[{unit}]")
        };
        let name = match (big, kind) {
            (true, k) => format!(">{k}8{unit_text}"),
            (false, 'M') => format!("datetime64{unit_text}"),
            (false, _) => format!("timedelta64{unit_text}"),
        };
        return Ok((name, 8));
    }
    let Ok(size) = rest.parse::<u64>() else {
        return unsupported();
    };
    let numeric = |family: &str, sizes: &[u64], bits_per: u64| -> Result<(String, u64), String> {
        if !sizes.contains(&size) {
            return Err(format!("dtype {descr:?} is not stored as <npy@>"));
        }
        if big && size > 1 {
            Ok((format!(">{kind}{size}"), size))
        } else {
            Ok((format!("{family}{}", size * bits_per), size))
        }
    };
    match kind {
        'b' if size == 1 => Ok(("bool".into(), 1)),
        'i' => numeric("int", &[1, 2, 4, 8], 8),
        'u' => numeric("uint", &[1, 2, 4, 8], 8),
        'f' => numeric("float", &[2, 4, 8, 16], 8),
        'c' => numeric("complex", &[8, 16, 32], 8),
        'U' => Ok((format!("{}U{size}", if big { '>' } else { '<' }), 4 * size)),
        'S' => Ok((format!("|S{size}"), size)),
        _ => unsupported(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Layout {
        Layout {
            hash_prefix: "_hash".into(),
            schema_prefix: "_schema".into(),
            subfolding: vec![],
            token_length: 8,
            partition_pattern: None,
        }
    }

    #[test]
    fn hash_paths_as_the_client_builds_them() {
        // Seen with 2.3.5 (datajoint2-format.md, tests/postgres.rs): flat by default, folds cut
        // from the base32 hash under the store's own prefix.
        let hash = "6iwmn7widibwg3fugt5jie7p24";
        assert_eq!(
            hash_path(&layout(), "lab2", hash),
            "_hash/lab2/6iwmn7widibwg3fugt5jie7p24"
        );
        let deep = Layout {
            hash_prefix: "objects/by-hash".into(),
            subfolding: vec![2, 3],
            ..layout()
        };
        assert_eq!(
            hash_path(&deep, "s", "tlpyrsuntcvnoofkx4tkptje3u"),
            "objects/by-hash/s/tl/pyr/tlpyrsuntcvnoofkx4tkptje3u"
        );
    }

    #[test]
    fn tokens_use_the_clients_alphabet_and_length() {
        assert_eq!(token_from(&[0, 25, 26, 51, 52, 61, 62, 63]), "AZaz09-_");
        assert_eq!(token_from(&[64, 255]), "A_");
        for length in [1, 8, 12, 40] {
            let t = new_token(length).unwrap();
            assert_eq!(t.len(), length.clamp(4, 16));
            assert!(t.bytes().all(|b| TOKEN_ALPHABET.contains(&b)), "{t}");
        }
        // Fresh each time.
        assert_ne!(new_token(16).unwrap(), new_token(16).unwrap());
    }

    #[test]
    fn schema_paths_as_the_client_builds_them() {
        let key = [KeyPart {
            name: "id",
            text: "1",
            column_type: "integer",
        }];
        // Seen with 2.3.5: `_schema/lab2/t/id=1/n__WfVzbps.npy`, `…/o_4ji_xdh2.txt`.
        assert_eq!(
            schema_path(&layout(), "lab2", "t", "n", &key, Some(".npy"), "_WfVzbps"),
            "_schema/lab2/t/id=1/n__WfVzbps.npy"
        );
        assert_eq!(
            schema_path(&layout(), "lab2", "t", "o", &key, Some("txt"), "4ji_xdh2"),
            "_schema/lab2/t/id=1/o_4ji_xdh2.txt"
        );
        assert_eq!(
            schema_path(&layout(), "lab2", "t", "o", &key, Some(""), "tok"),
            "_schema/lab2/t/id=1/o_tok"
        );
        // Partitions first (in the pattern's order), the rest of the key in key order.
        let key = [
            KeyPart {
                name: "subject_id",
                text: "7",
                column_type: "integer",
            },
            KeyPart {
                name: "session",
                text: "2024-05-06 07:08:09",
                column_type: "timestamp without time zone",
            },
            KeyPart {
                name: "probe",
                text: "a/b",
                column_type: "character varying(16)",
            },
        ];
        let parted = Layout {
            schema_prefix: "objects/by-key".into(),
            partition_pattern: Some("{session}/{subject_id}/{nope}".into()),
            ..layout()
        };
        assert_eq!(
            schema_path(&parted, "s", "__computed", "f", &key, None, "T0K3N_xy"),
            "objects/by-key/session=2024-05-06T07-08-09/subject_id=7/s/__computed/probe=a%2Fb/f_T0K3N_xy"
        );
        assert_eq!(pattern_attributes("{a{b}_{c_1}/{}x{d"), ["b", "c_1"]);
    }

    #[test]
    fn key_values_as_the_client_writes_them_in_paths() {
        assert_eq!(encode_key_value("42", "bigint"), "42");
        assert_eq!(encode_key_value("12.50", "numeric(6,2)"), "12.50");
        assert_eq!(encode_key_value("1", "boolean"), "True");
        assert_eq!(encode_key_value("0", "boolean"), "False");
        assert_eq!(encode_key_value("2020-01-02", "date"), "2020-01-02");
        assert_eq!(
            encode_key_value("2024-05-06 07:08:09.123", "timestamp(3) without time zone"),
            "2024-05-06T07-08-09"
        );
        assert_eq!(encode_key_value("100", "double precision"), "100.0");
        assert_eq!(encode_key_value("0.1", "real"), "0.1");
        assert_eq!(
            encode_key_value("caf\u{e9} au lait", "varchar(64)"),
            "café au lait"
        );
        assert_eq!(
            encode_key_value("a/b:c?", "character varying(64)"),
            "a%2Fb%3Ac%3F"
        );
        assert_eq!(encode_key_value("it's ~ok_.-", "text"), "it's ~ok_.-");
        // Over 100 characters: 50 of them, `_`, 8 hex digits of the MD5, percent-encoded.
        let long = "é".repeat(101);
        let digest = hex::encode(Md5::digest(long.as_bytes()));
        assert_eq!(
            encode_key_value(&long, "varchar(200)"),
            format!("{}_{}", "%C3%A9".repeat(50), &digest[..8])
        );
        assert_eq!(
            encode_key_value("3f2504e0-4f89-11d3-9a0c-0305e82c3301", "uuid"),
            "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
        );
    }

    #[test]
    fn floats_as_python_prints_them() {
        for (x, text) in [
            (100.0, "100.0"),
            (0.1, "0.1"),
            (-1.5, "-1.5"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (1.25e-5, "1.25e-05"),
            (0.0001, "0.0001"),
            (123.456, "123.456"),
            (0.0, "0.0"),
            (1e300, "1e+300"),
            (16777216.0, "16777216.0"),
            (f64::INFINITY, "inf"),
        ] {
            assert_eq!(python_float(x), text, "{x}");
        }
    }

    #[test]
    fn suffixes_and_timestamps_as_python_gives_them() {
        assert_eq!(file_suffix("data.h5"), ".h5");
        assert_eq!(file_suffix("a.tar.gz"), ".gz");
        assert_eq!(file_suffix("README"), "");
        assert_eq!(file_suffix(".bashrc"), "");
        assert_eq!(file_suffix("a."), "");
        let t = std::time::UNIX_EPOCH + std::time::Duration::new(1_796_397_196, 123_456_789);
        assert_eq!(iso_utc(t), "2026-12-04T15:13:16.123456+00:00");
        let whole = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_796_397_196);
        assert_eq!(iso_utc(whole), "2026-12-04T15:13:16+00:00");
    }

    #[test]
    fn metadata_of_each_codec_as_the_client_writes_it() {
        let h = hash_metadata(
            "6iwmn7widibwg3fugt5jie7p24",
            "_hash/s/6iwm",
            "s",
            "local",
            837,
        );
        assert_eq!(
            h,
            json!({"hash": "6iwmn7widibwg3fugt5jie7p24", "path": "_hash/s/6iwm", "schema": "s",
                   "store": "local", "size": 837})
        );
        let n = npy_metadata("_schema/s/t/id=1/n_x.npy", "local", "uint8", &[48, 64, 3]);
        assert_eq!(n["shape"], json!([48, 64, 3]));
        assert_eq!(n["dtype"], "uint8");
        let o = object_metadata("_schema/s/t/id=1/o_x.txt", "shared", 5, ".txt", "T");
        assert_eq!(
            o,
            json!({"path": "_schema/s/t/id=1/o_x.txt", "store": "shared", "size": 5,
                   "ext": ".txt", "is_dir": false, "item_count": null, "timestamp": "T"})
        );
        // djfs reads back what it writes.
        for meta in [h, n, o] {
            crate::stored::parse_meta(meta.to_string().as_bytes()).unwrap();
        }
    }

    /// A `.npy` file's bytes with this descr and shape header and `data` after it.
    fn npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
        npy_lit(&format!("'{descr}'"), shape, data)
    }

    /// The same with the descr as a Python literal (a string, or a structured dtype's list).
    fn npy_lit(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
        let mut header =
            format!("{{'descr': {descr}, 'fortran_order': False, 'shape': {shape}, }}");
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend((header.len() as u16).to_le_bytes());
        out.extend(header.as_bytes());
        out.extend(data);
        out
    }

    #[test]
    fn npy_dtypes_and_shapes_as_numpy_names_them() {
        for (descr, shape, item, name) in [
            ("<f8", "(2, 3)", 8, "float64"),
            ("|u1", "(48, 64, 3)", 1, "uint8"),
            ("|b1", "(4,)", 1, "bool"),
            ("<c16", "()", 16, "complex128"),
            ("<M8[ms]", "(2,)", 8, "datetime64[ms]"),
            ("<m8[s]", "(1,)", 8, "timedelta64[s]"),
            (">f8", "(3,)", 8, ">f8"),
            (">i1", "(3,)", 1, "int8"),
            ("<f2", "(2,)", 2, "float16"),
            ("<U5", "(2,)", 20, "<U5"),
            ("|S3", "(2,)", 3, "|S3"),
        ] {
            let n: usize = shape
                .trim_matches(['(', ')'])
                .split(',')
                .filter(|d| !d.trim().is_empty())
                .map(|d| d.trim().parse::<usize>().unwrap())
                .product();
            let file = npy(descr, shape, &vec![0u8; n * item]);
            let (got, dims) = npy_array_info(&file, file.len() as u64).unwrap();
            assert_eq!(got, name, "{descr}");
            assert_eq!(dims.iter().product::<u64>() as usize, n);
        }
        // Short or long data, object arrays, structured dtypes, no .npy at all.
        let short = npy("<f8", "(2,)", &[0u8; 15]);
        assert!(npy_array_info(&short, short.len() as u64).is_err());
        let long = npy("<f8", "(2,)", &[0u8; 17]);
        assert!(npy_array_info(&long, long.len() as u64).is_err());
        let object = npy("|O", "(2,)", &[0u8; 16]);
        assert!(npy_array_info(&object, object.len() as u64)
            .unwrap_err()
            .contains("object"));
        let structured = npy_lit("[('a', '<f8')]", "(1,)", &[0u8; 8]);
        assert!(npy_array_info(&structured, structured.len() as u64)
            .unwrap_err()
            .contains("structured"));
        assert!(npy_array_info(b"hello", 5).is_err());
        // A header read from the first bytes of a longer (staged) file.
        let big = npy("<f4", "(1000,)", &[0u8; 4000]);
        assert_eq!(
            npy_array_info(&big[..200], big.len() as u64).unwrap(),
            ("float32".to_string(), vec![1000])
        );
    }
}
