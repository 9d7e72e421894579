//! Where DataJoint puts external objects (spec §3.5, §3.7, §5). Pure logic.

use std::path::{Path, PathBuf};

/// What kind of tracked object a `~external_<store>` row describes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrackedKind {
    Blob,
    Attachment(String),
    /// `filepath@store`: the path relative to the store's location (and to `stage`).
    Filepath(String),
    /// A DataJoint 2.x object at `path` (relative to the store's location, as its metadata
    /// says). `skip`: bytes before what the file shows (an attachment's `name\0`); `check`: the
    /// base32-MD5 the whole object must have (hash-addressed objects).
    Stored {
        path: String,
        skip: u64,
        check: Option<String>,
    },
}

/// 32 lowercase hex digits of a 16-byte hash.
pub fn hex(hash: &[u8]) -> String {
    hex::encode(hash)
}

/// S3 `location` as the client normalises it: backslashes become `/`, a Windows drive and leading
/// slashes are dropped, and no trailing slash is kept (`f:\a\b` → `a/b`, `/` → ``).
pub fn s3_prefix(location: &str) -> String {
    let unified = location.replace('\\', "/");
    let bytes = unified.as_bytes();
    let without_drive = if bytes.len() >= 2 && bytes[1] == b':' && bytes[0].is_ascii_alphabetic() {
        &unified[2..]
    } else {
        &unified[..]
    };
    without_drive.trim_matches('/').to_string()
}

/// The object's path relative to the store location: `<schema>/<folds>/<hex>[.<name>]` for
/// blobs and attachments, the relative path itself for filepaths.
pub fn relative_path(
    schema: &str,
    subfolding: &[usize],
    hash_hex: &str,
    kind: &TrackedKind,
) -> String {
    match kind {
        TrackedKind::Filepath(relpath) | TrackedKind::Stored { path: relpath, .. } => {
            relpath.trim_start_matches('/').to_string()
        }
        _ => {
            let mut path = schema.to_string();
            let mut start = 0;
            for &width in subfolding {
                let end = (start + width).min(hash_hex.len());
                path.push('/');
                path.push_str(&hash_hex[start..end]);
                start = end;
            }
            path.push('/');
            path.push_str(hash_hex);
            if let TrackedKind::Attachment(name) = kind {
                path.push('.');
                path.push_str(name);
            }
            path
        }
    }
}

/// A key inside an S3 bucket: the normalised location, then the relative path.
pub fn s3_key(location: &str, relative: &str) -> String {
    let prefix = s3_prefix(location);
    if prefix.is_empty() {
        relative.to_string()
    } else {
        format!("{prefix}/{relative}")
    }
}

/// The client's blob cache file: `<cache>/<hex[0:2]>/<hex[2:4]>/<hex>` (fixed (2,2) folds, no
/// schema or store part), shared by djfs and the Python client.
pub fn cache_path(cache: &Path, hash_hex: &str) -> PathBuf {
    cache
        .join(&hash_hex[0..2])
        .join(&hash_hex[2..4])
        .join(hash_hex)
}

/// The name a tracked object has in `.external/<store>/`: its base name in the store for blobs
/// (`<hex>`) and attachments (`<hex>.<name>`); `<hex>.<file name>` for filepaths.
/// Stored names that are not valid file names are shown as `namespace::shown_name` says.
pub fn view_name(hash_hex: &str, kind: &TrackedKind) -> String {
    match kind {
        TrackedKind::Blob => hash_hex.to_string(),
        TrackedKind::Attachment(name) => {
            crate::namespace::shown_name(&format!("{hash_hex}.{name}"))
        }
        TrackedKind::Stored { path, .. } => {
            crate::namespace::shown_name(path.rsplit('/').next().unwrap_or(path))
        }
        TrackedKind::Filepath(path) => crate::namespace::shown_name(&format!(
            "{hash_hex}.{}",
            path.rsplit('/').next().unwrap_or(path)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "4c16e9e15b64474e4b56ba22bb17faae";

    #[test]
    fn layout_and_subfolding() {
        assert_eq!(
            relative_path("myschema", &[2, 2], HEX, &TrackedKind::Blob),
            format!("myschema/4c/16/{HEX}")
        );
        assert_eq!(
            relative_path("myschema", &[1, 1], HEX, &TrackedKind::Blob),
            format!("myschema/4/c/{HEX}")
        );
        assert_eq!(
            relative_path("myschema", &[2, 4], HEX, &TrackedKind::Blob),
            format!("myschema/4c/16e9/{HEX}")
        );
        assert_eq!(
            relative_path("myschema", &[], HEX, &TrackedKind::Blob),
            format!("myschema/{HEX}")
        );
        assert_eq!(
            relative_path(
                "myschema",
                &[2, 2],
                "7adeff91af20987f7d122b0c6ec7d1e7",
                &TrackedKind::Attachment("data.tar.gz".into())
            ),
            "myschema/7a/de/7adeff91af20987f7d122b0c6ec7d1e7.data.tar.gz"
        );
        assert_eq!(
            relative_path(
                "s",
                &[2, 2],
                HEX,
                &TrackedKind::Filepath("subject1/file.dat".into())
            ),
            "subject1/file.dat"
        );
    }

    #[test]
    fn a_2x_object_is_at_its_metadata_path() {
        let kind = TrackedKind::Stored {
            path: "objects/by-hash/lab/hs/xxm/hsxxmqltz5sh74kine2njicx2a".into(),
            skip: 0,
            check: None,
        };
        // Never rebuilt from the hash or the schema: the store's own subfolding is ignored.
        assert_eq!(
            relative_path("other", &[2, 2], HEX, &kind),
            "objects/by-hash/lab/hs/xxm/hsxxmqltz5sh74kine2njicx2a"
        );
        assert_eq!(
            s3_key("/lab/v2/", &relative_path("s", &[], "", &kind)),
            "lab/v2/objects/by-hash/lab/hs/xxm/hsxxmqltz5sh74kine2njicx2a"
        );
        assert_eq!(view_name("", &kind), "hsxxmqltz5sh74kine2njicx2a");
    }

    #[test]
    fn s3_location_normalisation() {
        let rel = format!("myschema/4c/16/{HEX}");
        assert_eq!(s3_key("dj/repo", &rel), format!("dj/repo/{rel}"));
        for loc in [
            "/leading/slash/test",
            "leading\\slash\\test",
            "f:\\leading\\slash\\test",
        ] {
            assert_eq!(
                s3_key(loc, &rel),
                format!("leading/slash/test/{rel}"),
                "{loc}"
            );
        }
        for loc in ["/", "C:\\", ""] {
            assert_eq!(s3_key(loc, &rel), rel, "{loc:?}");
        }
    }

    #[test]
    fn cache_layout_and_view_names() {
        assert_eq!(
            cache_path(Path::new("/c"), HEX),
            PathBuf::from(format!("/c/4c/16/{HEX}"))
        );
        assert_eq!(view_name(HEX, &TrackedKind::Blob), HEX);
        assert_eq!(
            view_name(HEX, &TrackedKind::Filepath("a/b/c.dat".into())),
            format!("{HEX}.c.dat")
        );
    }
}
