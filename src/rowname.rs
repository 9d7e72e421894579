//! Row folder names: a row is named by its primary key, `name=value` pairs joined by `,` in key
//! order (`subject_id=3,session=2`). Pure logic, no database.
//!
//! Values are the text MySQL prints for them (the catalog formats them in SQL). So that every
//! name is a valid, unambiguous single path component, these bytes of a value are written as
//! `%XX` (uppercase hex): `%`, `/`, `,`, `=`, control characters (< 0x20 and 0x7f), and a `.`
//! at the start of a value (so no value can make `.`/`..` or a hidden file).
//!
//! Names longer than 255 bytes (the Linux limit for one component) are shortened: the longest
//! prefix of at most 222 bytes that splits neither a UTF-8 character nor a `%XX` escape, then `~`
//! and the 32 lowercase hex digits of the MD5 of the full name. Such a name resolves through the
//! table listing (one query), since the key cannot be read back from it.

use md5::{Digest, Md5};
use percent_encoding::percent_decode_str;

/// The longest file name Linux accepts.
pub const MAX_NAME_BYTES: usize = 255;
/// Bytes of the full name kept in a shortened name (222 + `~` + 32 hex digits = 255).
const SHORT_PREFIX_BYTES: usize = 222;

/// Bytes escaped anywhere in a value. Non-ASCII UTF-8 is kept as it is (`é` stays `é`), which is
/// why this is not `percent_encoding::utf8_percent_encode` (it always escapes non-ASCII).
fn must_escape(b: u8) -> bool {
    b < 0x20 || b == 0x7f || matches!(b, b'%' | b'/' | b',' | b'=')
}

/// Encodes one key value for use inside a row folder name.
pub fn encode_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for (i, c) in value.char_indices() {
        if (c.is_ascii() && must_escape(c as u8)) || (i == 0 && c == '.') {
            out.push_str(&format!("%{:02X}", c as u8));
        } else {
            out.push(c);
        }
    }
    out
}

/// What an empty stored file name (an attachment stored as `\0contents`) shows as.
pub const EMPTY_FILE_NAME: &str = "(no name)";

/// A stored file name (an attachment's name, a filepath's last part) as a folder entry: itself
/// when it is a valid file name; otherwise `/`, NUL, `%` and control characters are written as
/// `%XX`, `.`/`..` as `%2E`/`%2E.`, an empty name as `(no name)`, and a name over 255 bytes is
/// shortened as row names are (prefix, `~`, MD5 of the escaped name).
pub fn stored_file_name(stored: &str) -> std::borrow::Cow<'_, str> {
    let valid = !stored.is_empty()
        && stored != "."
        && stored != ".."
        && stored.len() <= MAX_NAME_BYTES
        && !stored.bytes().any(|b| b == b'/' || b == 0);
    if valid {
        return stored.into();
    }
    if stored.is_empty() {
        return EMPTY_FILE_NAME.into();
    }
    let mut out = String::with_capacity(stored.len());
    for (i, c) in stored.char_indices() {
        let b = c as u32;
        if c == '/' || c == '%' || b < 0x20 || b == 0x7f || (i == 0 && c == '.') {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(c);
        }
    }
    folder_name(&out).into()
}

/// Decodes one value; `None` when the escapes do not give valid UTF-8.
pub fn decode_value(encoded: &str) -> Option<String> {
    percent_decode_str(encoded)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// The full, never shortened name of a row from its key attribute names and value texts.
pub fn full_name<S: AsRef<str>>(attrs: &[S], values: &[S]) -> String {
    attrs
        .iter()
        .zip(values)
        .map(|(a, v)| format!("{}={}", a.as_ref(), encode_value(v.as_ref())))
        .collect::<Vec<_>>()
        .join(",")
}

/// The folder name for a full name: itself, or the shortened form when it is too long.
pub fn folder_name(full: &str) -> String {
    if full.len() <= MAX_NAME_BYTES {
        return full.to_string();
    }
    let mut cut = SHORT_PREFIX_BYTES;
    while !full.is_char_boundary(cut) {
        cut -= 1;
    }
    // Do not split a `%XX` escape: if one of the last two kept bytes is a `%`, cut before it.
    let bytes = full.as_bytes();
    for back in 1..=2 {
        if cut >= back && bytes[cut - back] == b'%' {
            cut -= back;
            break;
        }
    }
    format!("{}~{}", &full[..cut], name_digest(full))
}

/// Lowercase hex MD5 of a full name: the suffix of a shortened name.
pub fn name_digest(full: &str) -> String {
    Md5::digest(full.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What a folder name can tell about the row it names.
#[derive(Debug, PartialEq, Eq)]
pub struct ParsedName {
    /// Key values in key order, if the name reads as `attr=value,…` for exactly the key attributes.
    pub key: Option<Vec<String>>,
    /// The MD5 suffix if the name has the shape of a shortened name.
    pub digest: Option<String>,
}

/// Reads a folder name against the table's key attributes. Callers must still check that the row
/// found has exactly this folder name (a value like `03` finds the row `3` in SQL).
pub fn parse(name: &str, key_attrs: &[&str]) -> ParsedName {
    ParsedName {
        key: parse_key(name, key_attrs),
        digest: shortened_digest(name),
    }
}

fn parse_key(name: &str, key_attrs: &[&str]) -> Option<Vec<String>> {
    let parts: Vec<&str> = name.split(',').collect();
    if parts.len() != key_attrs.len() {
        return None;
    }
    parts
        .iter()
        .zip(key_attrs)
        .map(|(part, attr)| {
            let (a, v) = part.split_once('=')?;
            (a == *attr).then(|| decode_value(v))?
        })
        .collect()
}

fn shortened_digest(name: &str) -> Option<String> {
    let (prefix, digest) = name.rsplit_once('~')?;
    let is_digest = digest.len() == 32
        && digest
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    (is_digest && prefix.len() <= SHORT_PREFIX_BYTES).then(|| digest.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn simple_names() {
        assert_eq!(full_name(&["id"], &["0"]), "id=0");
        assert_eq!(
            full_name(&["subject_id", "session"], &["3", "2"]),
            "subject_id=3,session=2"
        );
        assert_eq!(
            full_name(&["d"], &["2024-05-01 13:00:00"]),
            "d=2024-05-01 13:00:00"
        );
    }

    #[test]
    fn escapes() {
        assert_eq!(encode_value("a/b,c=d%e"), "a%2Fb%2Cc%3Dd%25e");
        assert_eq!(encode_value(".hidden"), "%2Ehidden");
        assert_eq!(encode_value(".."), "%2E.");
        assert_eq!(encode_value("a.b"), "a.b");
        assert_eq!(encode_value("tab\there\n"), "tab%09here%0A");
        assert_eq!(encode_value("é µ"), "é µ");
        assert_eq!(encode_value("\u{7f}"), "%7F");
        assert_eq!(decode_value("a%2Fb"), Some("a/b".into()));
        assert_eq!(decode_value("%FF"), None);
    }

    #[test]
    fn parse_checks_attribute_names_and_count() {
        let key = ["subject_id", "session"];
        assert_eq!(
            parse("subject_id=3,session=2", &key).key,
            Some(vec!["3".into(), "2".into()])
        );
        assert_eq!(parse("session=2,subject_id=3", &key).key, None);
        assert_eq!(parse("subject_id=3", &key).key, None);
        assert_eq!(parse("nonsense", &["id"]).key, None);
        assert_eq!(parse("id=a%2Cb", &["id"]).key, Some(vec!["a,b".into()]));
        assert_eq!(parse("id=", &["id"]).key, Some(vec!["".into()]));
    }

    #[test]
    fn long_names_are_shortened_with_digest() {
        let value = "x".repeat(300);
        let full = full_name(&["name"], &[value.as_str()]);
        let short = folder_name(&full);
        assert_eq!(short.len(), 255);
        assert!(short.starts_with("name=xxx"));
        let parsed = parse(&short, &["name"]);
        assert_eq!(parsed.digest, Some(name_digest(&full)));
    }

    #[test]
    fn shortening_never_splits_escapes_or_chars() {
        // Put an escape right at the cut point.
        for pad in 0..6 {
            let value = format!("{}{}", "y".repeat(212 + pad), "/".repeat(40));
            let full = full_name(&["name"], &[value.as_str()]);
            let short = folder_name(&full);
            let prefix = short.rsplit_once('~').unwrap().0;
            assert!(decode_value(prefix).is_some());
            assert!(!prefix.ends_with('%') && !prefix[..prefix.len() - 1].ends_with('%'));
        }
        let value = "é".repeat(200);
        let short = folder_name(&full_name(&["n"], &[value.as_str()]));
        assert!(short.len() <= MAX_NAME_BYTES);
    }

    proptest! {
        #[test]
        fn names_round_trip(values in proptest::collection::vec(".{0,40}", 1..4)) {
            let attrs: Vec<String> = (0..values.len()).map(|i| format!("k{i}")).collect();
            let attr_refs: Vec<&str> = attrs.iter().map(|s| s.as_str()).collect();
            let full = full_name(&attrs, &values);
            prop_assert!(!full.contains('/'));
            let parsed = parse(&full, &attr_refs);
            prop_assert_eq!(parsed.key, Some(values.clone()));
            let folder = folder_name(&full);
            prop_assert!(folder.len() <= MAX_NAME_BYTES);
            prop_assert!(!folder.contains('/') && folder != "." && folder != "..");
        }
    }

    #[test]
    fn stored_file_names_become_valid_entries() {
        assert_eq!(stored_file_name("a.png"), "a.png");
        assert_eq!(stored_file_name("50%.txt"), "50%.txt");
        assert_eq!(stored_file_name(".hidden"), ".hidden");
        assert_eq!(stored_file_name(""), EMPTY_FILE_NAME);
        assert_eq!(stored_file_name("."), "%2E");
        assert_eq!(stored_file_name(".."), "%2E.");
        assert_eq!(stored_file_name("a/b%"), "a%2Fb%25");
        assert_eq!(stored_file_name("../x"), "%2E.%2Fx");
        assert_eq!(stored_file_name("nul\0x"), "nul%00x");
        let long = "é".repeat(200);
        let shown = stored_file_name(&long);
        assert!(shown.len() <= MAX_NAME_BYTES, "{}", shown.len());
        assert!(shown.contains('~'));
        assert_eq!(shown, stored_file_name(&long), "stable");
    }

    proptest::proptest! {
        #[test]
        fn every_stored_name_is_one_valid_component(name in "\\PC{0,300}|[./%\\x00]{0,5}") {
            let shown = stored_file_name(&name);
            proptest::prop_assert!(!shown.is_empty());
            proptest::prop_assert!(shown != "." && shown != "..");
            proptest::prop_assert!(shown.len() <= MAX_NAME_BYTES);
            proptest::prop_assert!(!shown.contains('/') && !shown.contains('\0'));
        }
    }
}
