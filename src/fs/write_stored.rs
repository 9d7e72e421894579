//! Writes of DataJoint 2.x stored values (`<blob@s>`, `<attach@s>`, `<hash@s>`, `<npy@s>`,
//! `<object@s>` files), as datajoint 2.3.5 writes them: the object is uploaded first, at the
//! path `crate::stored_write` builds (hash-addressed: put-if-missing, a present object checked
//! against its hash; schema-addressed: a fresh token), and the metadata then goes into the row
//! in one transaction (`write.rs`'s `apply`), after which `journal::after_stored_transaction`
//! settles the upload. No tracking table: the JSON metadata is the only reference.

use bytes::Bytes;

use super::write::WriteHandle;
use super::{ErrorKind, FsError, FsResult};
use crate::backend::{ColumnValue, Fact, ATTACH_NAME_SCAN};
use crate::catalog::AttrKind;
use crate::codec::{classify_blob, BlobError, RECOMMENDED_PREFIX};
use crate::external::NewObject;
use crate::journal::StoredUpload;
use crate::staging::Staging;
use crate::stored::content_hash;
use crate::stored_write::{self as layout, KeyPart, Layout};

/// A 2.x value ready for the row: the metadata for the column, the upload to settle after the
/// transaction, and what the listing shows until it reads the row again.
pub(super) struct StoredValue {
    pub value: ColumnValue,
    pub upload: StoredUpload,
    pub fact: Fact,
}

/// Bytes to upload: in memory, or the staging file.
enum Body<'a> {
    Memory(Vec<u8>),
    File(&'a std::path::Path),
}

fn body<'a>(place: &str, staging: &'a Staging) -> FsResult<Body<'a>> {
    match staging.file_path() {
        Some(path) => Ok(Body::File(path)),
        None => Ok(Body::Memory(staging.to_vec().map_err(|e| {
            super::staging_error(place, "reading the staged bytes", e)
        })?)),
    }
}

fn new_object<'a>(prefix: &'a [u8], data: Body<'a>, size: u64, head: &'a [u8]) -> NewObject<'a> {
    let (data, file) = match data {
        Body::Memory(bytes) => (Some(Bytes::from(bytes)), None),
        Body::File(path) => (None, Some(path)),
    };
    NewObject {
        prefix,
        data,
        file,
        size,
        head,
    }
}

impl super::Filesystem {
    /// The store a 2.x column writes to and its layout: the column's store (`<x@s>`), else
    /// `stores.default` (2.3.5 would write `""` for `<x@>`, which it then cannot read back; the
    /// name written is the store's real one).
    fn write_store(&self, h: &WriteHandle) -> FsResult<(String, Layout)> {
        let AttrKind::Stored { store, .. } = &h.table.columns[h.column].kind else {
            return Err(ErrorKind::Io.because(format!("{}: not a 2.x stored column", h.place)));
        };
        let stores = self.external.stores();
        let name = store
            .as_deref()
            .filter(|s| !s.is_empty())
            .or_else(|| stores.default_store(false))
            .ok_or_else(|| {
                ErrorKind::Io.because(format!(
                    "{}: the column names no store and the config has no stores.default; not stored",
                    h.place
                ))
            })?
            .to_string();
        let spec = stores
            .spec_of(&name)
            .map_err(|e| FsError::io(format!("{}: store {name:?}", h.place), e))?;
        Ok((name, Layout::of(spec)))
    }

    /// Uploads a hash-addressed object (unless the store has it with the right bytes) and gives
    /// its metadata. The object is `prefix` + `data`.
    fn hash_addressed(
        &self,
        h: &WriteHandle,
        prefix: &[u8],
        data: Body,
        size: u64,
        hash: String,
        head: &[u8],
    ) -> FsResult<StoredValue> {
        let (store, layout) = self.write_store(h)?;
        let schema = &h.row.id.schema;
        let path = layout::hash_path(&layout, schema, &hash);
        let object = new_object(prefix, data, size, head);
        self.external
            .put_hash_addressed(schema, &store, &path, &hash, object)
            .map_err(|e| FsError::io(format!("{}: store {store:?}", h.place), e))?;
        let meta = layout::hash_metadata(&hash, &path, schema, &store, size);
        Ok(self.stored_value(h, store, path, meta, false))
    }

    /// Uploads a schema-addressed object at a fresh path (`ext`: the file name's extension)
    /// and gives its path; `metadata` makes the metadata from the path.
    fn schema_addressed(
        &self,
        h: &WriteHandle,
        data: Body,
        size: u64,
        ext: Option<&str>,
        head: &[u8],
        metadata: impl FnOnce(&str, &str) -> serde_json::Value,
    ) -> FsResult<StoredValue> {
        let (store, layout) = self.write_store(h)?;
        let table = &h.table;
        let key: Vec<KeyPart> = table
            .key
            .iter()
            .zip(&h.row.key)
            .map(|(&i, text)| KeyPart {
                name: &table.columns[i].name,
                text,
                column_type: &table.columns[i].column_type,
            })
            .collect();
        let token = layout::new_token(layout.token_length)
            .map_err(|e| FsError::io(format!("{}: a random token", h.place), e))?;
        let path = layout::schema_path(
            &layout,
            &h.row.id.schema,
            &table.name,
            &table.columns[h.column].name,
            &key,
            ext,
            &token,
        );
        let object = new_object(&[], data, size, head);
        self.external
            .put_schema_addressed(&h.row.id.schema, &store, &path, object)
            .map_err(|e| FsError::io(format!("{}: store {store:?}", h.place), e))?;
        let meta = metadata(&path, &store);
        Ok(self.stored_value(h, store, path, meta, true))
    }

    fn stored_value(
        &self,
        h: &WriteHandle,
        store: String,
        path: String,
        meta: serde_json::Value,
        schema_addressed: bool,
    ) -> StoredValue {
        let text = meta.to_string();
        StoredValue {
            fact: Fact::Bytes(text.clone().into_bytes()),
            value: ColumnValue::Text(text),
            upload: StoredUpload {
                store,
                path,
                column: h.column,
                schema_addressed,
            },
        }
    }

    /// `<blob@s>`: the serialized blob (the client's `pack`, as for 0.14), hash-addressed.
    pub(super) fn stored_blob(&self, h: &WriteHandle, blob: Vec<u8>) -> FsResult<StoredValue> {
        let size = blob.len() as u64;
        let hash = content_hash(&blob);
        // What a listing reads of a blob: its array header (more of it, rarely).
        let want = match classify_blob(&blob[..blob.len().min(RECOMMENDED_PREFIX)], size) {
            Err(BlobError::NeedMore(n)) => n,
            _ => RECOMMENDED_PREFIX,
        };
        let head = blob[..blob.len().min(want)].to_vec();
        self.hash_addressed(h, &[], Body::Memory(blob), size, hash, &head)
    }

    /// `<attach@s>`: `name\0contents`, hash-addressed (the MD5 was taken while `cp` appended).
    pub(super) fn stored_attachment(
        &self,
        h: &WriteHandle,
        staging: &Staging,
        name: &str,
    ) -> FsResult<StoredValue> {
        let mut prefix = name.as_bytes().to_vec();
        prefix.push(0);
        let md5 = staging
            .md5_with_prefix(&prefix)
            .map_err(|e| super::staging_error(&h.place, "hashing the staged bytes", e))?;
        let hash = data_encoding::BASE32_NOPAD
            .encode(&md5)
            .to_ascii_lowercase();
        let mut head = prefix.clone();
        head.extend(
            staging
                .read_prefix(ATTACH_NAME_SCAN as usize)
                .map_err(|e| super::staging_error(&h.place, "reading the staged bytes", e))?,
        );
        head.truncate(ATTACH_NAME_SCAN as usize);
        let size = prefix.len() as u64 + staging.len();
        let data = body(&h.place, staging)?;
        self.hash_addressed(h, &prefix, data, size, hash, &head)
    }

    /// `<hash@s>`: the file's bytes as they are, hash-addressed.
    pub(super) fn stored_hash(&self, h: &WriteHandle, staging: &Staging) -> FsResult<StoredValue> {
        let md5 = staging
            .md5_with_prefix(&[])
            .map_err(|e| super::staging_error(&h.place, "hashing the staged bytes", e))?;
        let hash = data_encoding::BASE32_NOPAD
            .encode(&md5)
            .to_ascii_lowercase();
        let data = body(&h.place, staging)?;
        self.hash_addressed(h, &[], data, staging.len(), hash, &[])
    }

    /// `<npy@s>`: the `.npy` file itself, schema-addressed, with its dtype and shape in the
    /// metadata; a file that is no storable `.npy` is EINVAL.
    pub(super) fn stored_npy(&self, h: &WriteHandle, staging: &Staging) -> FsResult<StoredValue> {
        // numpy's header limit (10,000 bytes) and the preamble.
        let head = staging
            .read_prefix(10_016)
            .map_err(|e| super::staging_error(&h.place, "reading the staged bytes", e))?;
        let (dtype, shape) = layout::npy_array_info(&head, staging.len()).map_err(|why| {
            ErrorKind::Invalid.because(format!(
                "{}: not a storable .npy: {why}; the old value stays",
                h.place
            ))
        })?;
        let data = body(&h.place, staging)?;
        self.schema_addressed(h, data, staging.len(), Some(".npy"), &[], |path, store| {
            layout::npy_metadata(path, store, &dtype, &shape)
        })
    }

    /// `<object@s>`: one file, schema-addressed, keeping the extension of the name it was
    /// written under (the folder then shows it as `<attr><ext>`).
    pub(super) fn stored_object(
        &self,
        h: &WriteHandle,
        staging: &Staging,
        name: &str,
    ) -> FsResult<StoredValue> {
        let ext = layout::file_suffix(name).to_string();
        let size = staging.len();
        let timestamp = layout::iso_utc(std::time::SystemTime::now());
        let data = body(&h.place, staging)?;
        self.schema_addressed(h, data, size, Some(&ext), &[], |path, store| {
            layout::object_metadata(path, store, size, &ext, &timestamp)
        })
    }
}
