//! DataJoint 2.x stored objects (`<blob@s>`, `<attach@s>`, `<hash@s>`, `<npy@s>`, `<object@s>`,
//! `<filepath@s>`): what a column's JSON metadata says, where its object is, how a hash-addressed
//! object is checked, what an attachment object and a folder object's manifest hold. Pure logic;
//! the objects are read by `crate::external`.
//!
//! The object is always at the store's location + `metadata.path` (in the bucket for S3): the
//! path is never rebuilt from the hash or the key (older 2.x versions ignored the prefixes, and
//! both layouts exist in real stores).

use md5::{Digest, Md5};
use serde_json::Value;

use crate::catalog::StoredCodec;
use crate::codec::{ArrayHeader, ElementClass};

/// What a 2.x listing knows of an object before reading it: its size and first bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct Probe {
    pub size: u64,
    pub head: std::sync::Arc<[u8]>,
}

/// A 2.x object a listing wants to know: where, and how many of its first bytes (`blob`: a
/// serialized blob, whose header may ask for more).
#[derive(Clone, Debug, PartialEq)]
pub struct ProbeWant {
    pub store: String,
    pub path: String,
    pub want: u64,
    pub blob: bool,
}

/// Bytes of a folder object's manifest read at most (a manifest lists every file).
pub const MAX_MANIFEST: u64 = 64 << 20;

/// The sidecar of a folder object at `path`.
pub fn manifest_path(path: &str) -> String {
    format!("{path}.manifest.json")
}

/// What a listing must fetch to show a stored value (None: the metadata says enough).
pub fn probe_want(codec: &StoredCodec, store: &str, meta: &StoredMeta) -> Option<ProbeWant> {
    let want = |path: String, want: u64, blob: bool| {
        Some(ProbeWant {
            store: store.to_string(),
            path,
            want,
            blob,
        })
    };
    match codec {
        StoredCodec::Blob => want(
            meta.path.clone(),
            crate::codec::RECOMMENDED_PREFIX as u64,
            true,
        ),
        StoredCodec::Attach => want(meta.path.clone(), crate::backend::ATTACH_NAME_SCAN, false),
        StoredCodec::Npy => want(meta.path.clone(), 0, false),
        StoredCodec::Object if meta.is_dir => want(manifest_path(&meta.path), MAX_MANIFEST, false),
        StoredCodec::Hash | StoredCodec::Object | StoredCodec::Filepath
            if !meta.is_dir && meta.size.is_none() =>
        {
            want(meta.path.clone(), 0, false)
        }
        _ => None,
    }
}

/// What a stored column's JSON metadata says (the fields djfs uses).
#[derive(Clone, Debug, PartialEq)]
pub struct StoredMeta {
    /// `store` (may be empty: `<x@>` without a store name).
    pub store: String,
    /// The object's path relative to the store's location.
    pub path: String,
    /// Hash-addressed objects: base32-MD5 of the object's bytes.
    pub hash: Option<String>,
    /// The object's size (a folder object's total size when `is_dir`).
    pub size: Option<u64>,
    /// `<object@>`: the file's extension (`.txt`), None when null.
    pub ext: Option<String>,
    pub is_dir: bool,
    /// `<npy@>`: the array's dtype name (`uint8`) and shape.
    pub dtype: Option<String>,
    pub shape: Option<Vec<u64>>,
}

/// Reads a column's metadata; the error says what is wrong with it.
pub fn parse_meta(text: &[u8]) -> Result<StoredMeta, String> {
    let value: Value =
        serde_json::from_slice(text).map_err(|e| format!("metadata is not JSON: {e}"))?;
    let Value::Object(map) = value else {
        return Err("metadata is not a JSON object".into());
    };
    let string = |key: &str| match map.get(key) {
        Some(Value::String(s)) => Ok(Some(s.clone())),
        None | Some(Value::Null) => Ok(None),
        Some(other) => Err(format!("metadata {key:?} is not a string: {other}")),
    };
    let path = string("path")?.ok_or("metadata has no \"path\"")?;
    if path.is_empty() || path.split('/').any(|p| p == "..") || path.contains('\0') {
        return Err(format!(
            "metadata path {path:?} is not a relative object path"
        ));
    }
    let size = match map.get("size") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .ok_or_else(|| format!("metadata \"size\" is not a size: {v}"))?,
        ),
    };
    let shape = match map.get("shape") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .map(|d| d.as_u64().ok_or_else(|| format!("metadata shape has {d}")))
                .collect::<Result<Vec<u64>, String>>()?,
        ),
        Some(other) => return Err(format!("metadata \"shape\" is not a list: {other}")),
    };
    Ok(StoredMeta {
        store: string("store")?.unwrap_or_default(),
        path: path.trim_start_matches('/').to_string(),
        hash: string("hash")?,
        size,
        ext: string("ext")?.filter(|e| !e.is_empty()),
        is_dir: matches!(map.get("is_dir"), Some(Value::Bool(true))),
        dtype: string("dtype")?,
        shape,
    })
}

/// The store a value's object is in: the metadata's `store`, else the column's (`<x@s>`), else
/// `default` (the config's `stores.default`, or `stores.filepath_default` for filepaths).
pub fn store_name<'a>(
    meta: &'a StoredMeta,
    column_store: Option<&'a str>,
    default: Option<&'a str>,
) -> Option<&'a str> {
    [Some(meta.store.as_str()), column_store, default]
        .into_iter()
        .flatten()
        .find(|s| !s.is_empty())
}

/// Whether a codec's objects are hash-addressed (and checked against `hash` when read).
pub fn hash_addressed(codec: &StoredCodec) -> bool {
    matches!(
        codec,
        StoredCodec::Blob | StoredCodec::Attach | StoredCodec::Hash
    )
}

/// DataJoint 2.x's content hash: base32 of the MD5, lowercase, unpadded (26 characters).
pub fn content_hash(bytes: &[u8]) -> String {
    let mut check = HashCheck::new();
    check.update(bytes);
    check.finish()
}

/// A content hash computed as the bytes stream by.
pub struct HashCheck(Md5);

impl HashCheck {
    pub fn new() -> HashCheck {
        HashCheck(Md5::new())
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    pub fn finish(self) -> String {
        data_encoding::BASE32_NOPAD
            .encode(&self.0.finalize())
            .to_ascii_lowercase()
    }
}

impl Default for HashCheck {
    fn default() -> Self {
        HashCheck::new()
    }
}

/// An `<attach@>` object's first bytes (`filename\0contents`): the file name and where the
/// contents start; None when there is no NUL in them.
pub fn split_attach(head: &[u8]) -> Option<(String, u64)> {
    let nul = head.iter().position(|&b| b == 0)?;
    Some((
        String::from_utf8_lossy(&head[..nul]).into_owned(),
        nul as u64 + 1,
    ))
}

/// A folder object's manifest sidecar (`{path}.manifest.json`): its files (relative paths with
/// `/`) and their sizes, sorted by path. Paths that would leave the folder or name nothing are
/// refused.
pub fn parse_manifest(bytes: &[u8]) -> Result<Vec<(String, u64)>, String> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| format!("manifest is not JSON: {e}"))?;
    let files = value
        .get("files")
        .and_then(Value::as_array)
        .ok_or("manifest has no \"files\" list")?;
    let mut out = Vec::with_capacity(files.len());
    for f in files {
        let path = f
            .get("path")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("manifest entry without a path: {f}"))?;
        let size = f
            .get("size")
            .and_then(Value::as_u64)
            .ok_or_else(|| format!("manifest entry {path:?} without a size"))?;
        let path = path.trim_start_matches('/');
        if path
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == ".." || p.contains('\0'))
        {
            return Err(format!(
                "manifest entry {path:?} is not a relative file path"
            ));
        }
        out.push((path.to_string(), size));
    }
    out.sort();
    out.dedup_by(|a, b| a.0 == b.0);
    Ok(out)
}

/// The array an `<npy@>` column's metadata describes (dtype name and numpy shape), as far as
/// the `.png` view needs it: None for dtypes no image has.
pub fn npy_array(meta: &StoredMeta) -> Option<ArrayHeader> {
    let class = match meta.dtype.as_deref()? {
        "uint8" => ElementClass::UInt8,
        "uint16" => ElementClass::UInt16,
        "float32" => ElementClass::Float32,
        "float64" => ElementClass::Float64,
        _ => return None,
    };
    let shape = meta.shape.clone()?;
    let count = shape.iter().try_fold(1u64, |n, &d| n.checked_mul(d))?;
    Some(ArrayHeader {
        class,
        complex: false,
        data_len: count.checked_mul(class.size() as u64)?,
        shape,
        data_offset: 0,
        inline: None,
    })
}

/// A `.npy` file's element data in the column-major order `views::png::encode` takes
/// (`arr[y, x, c]` at `y + x·H + c·H·W`), little-endian; `item` bytes per element.
pub fn column_major(
    data: &[u8],
    shape: &[u64],
    item: usize,
    fortran: bool,
    big_endian: bool,
) -> Vec<u8> {
    let mut out = if fortran || shape.len() < 2 {
        data.to_vec()
    } else {
        let dims: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
        let n: usize = dims.iter().product();
        let mut out = vec![0u8; data.len()];
        // C order: the last index varies fastest; walk the elements in C order and write each
        // at its column-major place.
        let mut index = vec![0usize; dims.len()];
        for c_pos in 0..n {
            let mut f_pos = 0;
            let mut stride = 1;
            for (i, &d) in index.iter().zip(&dims) {
                f_pos += i * stride;
                stride *= d;
            }
            out[f_pos * item..(f_pos + 1) * item]
                .copy_from_slice(&data[c_pos * item..(c_pos + 1) * item]);
            for k in (0..dims.len()).rev() {
                index[k] += 1;
                if index[k] < dims[k] {
                    break;
                }
                index[k] = 0;
            }
        }
        out
    };
    if big_endian && item > 1 {
        for element in out.chunks_mut(item) {
            element.reverse();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_of_each_kind() {
        let blob = parse_meta(br#"{"hash": "7xopdoc6g7mwe3j7jjxzpdzvby", "path": "_hash/s/7xopdoc6g7mwe3j7jjxzpdzvby", "size": 837, "store": "local", "schema": "s"}"#).unwrap();
        assert_eq!(blob.path, "_hash/s/7xopdoc6g7mwe3j7jjxzpdzvby");
        assert_eq!(blob.hash.as_deref(), Some("7xopdoc6g7mwe3j7jjxzpdzvby"));
        assert_eq!((blob.size, blob.is_dir), (Some(837), false));
        let npy = parse_meta(br#"{"path": "_schema/s/arrays/arr_id=1/n_Yy2KYaJU.npy", "dtype": "uint8", "shape": [48, 64, 3], "store": "local"}"#).unwrap();
        assert_eq!(npy.shape, Some(vec![48, 64, 3]));
        assert_eq!(npy.size, None);
        let image = npy_array(&npy).unwrap();
        assert_eq!(image.data_len, 48 * 64 * 3);
        assert!(crate::views::png::ImageShape::of(&image).is_some());
        let obj = parse_meta(br#"{"ext": null, "path": "_schema/s/o/id=2/o_sJnKcdaP", "size": 695, "store": "", "is_dir": true, "timestamp": "2026-12-04T15:13:16+00:00", "item_count": 4}"#).unwrap();
        assert!(obj.is_dir && obj.ext.is_none() && obj.store.is_empty());
        for bad in [
            &b"[1]"[..],
            b"{\"store\": \"x\"}",
            b"{\"path\": \"../etc/passwd\"}",
            b"{\"path\": \"a\", \"size\": -1}",
            b"not json",
        ] {
            assert!(parse_meta(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn store_resolution_prefers_the_metadata_then_the_column_then_the_default() {
        let mut meta = parse_meta(br#"{"path": "p", "store": "shared"}"#).unwrap();
        assert_eq!(store_name(&meta, Some("local"), Some("d")), Some("shared"));
        meta.store.clear();
        assert_eq!(store_name(&meta, Some("local"), Some("d")), Some("local"));
        assert_eq!(store_name(&meta, Some(""), Some("d")), Some("d"));
        assert_eq!(store_name(&meta, None, None), None);
    }

    #[test]
    fn base32_md5_as_the_client_computes_it() {
        // Hashes the 2.x client stored (tests/python/make_v2_reference.py): b"hello\n" and
        // ten NUL bytes; the empty object.
        assert_eq!(content_hash(b"hello\n"), "wgkgvsjesljdi7dcgw2neyirqq");
        assert_eq!(content_hash(&[0u8; 10]), "uy6jbtbwqswywcrbo2tkr7uqau");
        assert_eq!(content_hash(b""), "2qoyzwmpaczaj2mabgmoz6ccpy");
        let mut streamed = HashCheck::new();
        streamed.update(b"hel");
        streamed.update(b"lo\n");
        assert_eq!(streamed.finish(), "wgkgvsjesljdi7dcgw2neyirqq");
        assert_eq!(content_hash(b"x").len(), 26);
    }

    #[test]
    fn attachment_name_split() {
        assert_eq!(
            split_attach("résumé µ.txt\0contents\0more".as_bytes()),
            Some(("résumé µ.txt".to_string(), 16))
        );
        assert_eq!(split_attach(b"empty.dat\0"), Some(("empty.dat".into(), 10)));
        assert_eq!(split_attach(b"no nul here"), None);
    }

    #[test]
    fn manifest_files_and_bad_paths() {
        let m = br#"{"files": [{"path": "summary.txt", "size": 8}, {"path": "plots/deeper/values.json", "size": 9},
                    {"path": "empty.bin", "size": 0}], "total_size": 17, "item_count": 3, "created": "x"}"#;
        assert_eq!(
            parse_manifest(m).unwrap(),
            vec![
                ("empty.bin".to_string(), 0),
                ("plots/deeper/values.json".to_string(), 9),
                ("summary.txt".to_string(), 8)
            ]
        );
        assert!(parse_manifest(br#"{"files": [{"path": "../x", "size": 1}]}"#).is_err());
        assert!(parse_manifest(br#"{"files": [{"path": "a//b", "size": 1}]}"#).is_err());
        assert!(parse_manifest(br#"{"files": [{"path": "a"}]}"#).is_err());
        assert!(parse_manifest(br#"{"total_size": 1}"#).is_err());
    }

    #[test]
    fn c_order_to_column_major() {
        // shape (2, 3): C order 0 1 2 / 3 4 5 → column-major 0 3 1 4 2 5.
        let c = [0u8, 1, 2, 3, 4, 5];
        assert_eq!(
            column_major(&c, &[2, 3], 1, false, false),
            [0, 3, 1, 4, 2, 5]
        );
        assert_eq!(column_major(&c, &[2, 3], 1, true, false), c);
        // 16-bit big-endian elements are swapped.
        assert_eq!(
            column_major(&[0, 1, 0, 2], &[1, 2], 2, false, true),
            [1, 0, 2, 0]
        );
        // (2, 2, 3): arr[y, x, c] = 100y + 10x + c.
        let mut rgb = Vec::new();
        for y in 0..2u8 {
            for x in 0..2u8 {
                for ch in 0..3u8 {
                    rgb.push(100 * y + 10 * x + ch);
                }
            }
        }
        let f = column_major(&rgb, &[2, 2, 3], 1, false, false);
        for y in 0..2usize {
            for x in 0..2usize {
                for ch in 0..3usize {
                    assert_eq!(f[y + x * 2 + ch * 4], (100 * y + 10 * x + ch) as u8);
                }
            }
        }
    }
}
