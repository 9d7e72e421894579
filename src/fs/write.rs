//! Writes through the mount: new values for attributes (scalars, blobs as `.npy`/`.blob`,
//! attachments), new rows (`mkdir` then files), deleted rows (`rmdir`/`rm -r`), and cleanup of
//! unused external objects. External content is uploaded before any row references it; the
//! tracking row and the table row are then written in one transaction.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use md5::{Digest, Md5};

use super::edits::{
    Hidden, MadeRow, PendingNull, PendingRow, HIDE_REQUIRED, NEW_ROW_VIEWS, UNLINK_GRACE,
};
use super::{Attr, ErrorKind, FsError, FsResult, Handle, Node};
use crate::backend::{
    row_gone, write_refusal, ColumnValue, Dependent, Fact, TrackingRow, WriteRefusal,
};
use crate::catalog::{AttrKind, ExternalKind, StoredCodec, TableInfo};
use crate::codec::{classify_blob, encode_npy, encode_raw_blob_check, RECOMMENDED_PREFIX};
use crate::journal::StoredUpload;
use crate::namespace::{permissions, AttrFile, Content, RowId};
use crate::rowname;
use crate::staging::Staging;
use crate::stores::paths::TrackedKind;

/// Which value a write sets.
#[derive(Clone, Debug)]
pub(super) enum WriteKind {
    /// A scalar attribute's text (one trailing newline dropped) or a binary column's bytes.
    Scalar,
    /// A key attribute's file: accepted when it agrees with the folder name.
    KeyCheck,
    /// A read-only view (`.json`): accepted without effect.
    Ignored,
    /// `.npy` into a blob attribute: encoded as the client's `pack` would.
    BlobNpy,
    /// `.blob` into a blob attribute: stored as it is after checking it decodes.
    BlobRaw,
    /// A file in an attachment folder: the attachment, under this name.
    Attach(String),
    /// `<attr>` of a 2.x `<hash@s>` column: its bytes as they are, hash-addressed.
    StoredHash,
    /// `<attr>.npy` of a 2.x `<npy@s>` column: the `.npy` file, schema-addressed.
    StoredNpy,
    /// A file in a 2.x `<object@s>` folder: a file object, keeping this name's extension.
    StoredObject(String),
    /// A temporary file of a temp-then-rename save (`rsync`, editors, `tempfile` +
    /// `os.replace`): staged, never stored under its own name; `rename` stores it under the
    /// final name.
    Temp,
}

/// The row a write goes to.
#[derive(Clone, Debug)]
pub(super) struct RowRef {
    pub id: RowId,
    /// The values of its primary key, in key order.
    pub key: Vec<String>,
}

pub(super) struct WriteHandle {
    pub ino: u64,
    pub table: Arc<TableInfo>,
    pub row: RowRef,
    pub column: usize,
    pub kind: WriteKind,
    pub staging: Mutex<Staging>,
    /// What is staged differs from what is stored (written or truncated since the last commit).
    pub dirty: Mutex<bool>,
    /// Bytes were written since the last commit. A `close` that comes before any write (the
    /// shell's `exec >file` closing a duplicate descriptor, `echo hi > f` before `echo` runs)
    /// stores nothing; the value is stored once, when written bytes are closed, or at the last
    /// close (`release`) for a file left empty.
    pub has_data: std::sync::atomic::AtomicBool,
    /// A write or truncate failed (a full staging filesystem): what is staged is not what the
    /// program wrote, so it is never stored; the old value stays.
    pub broken: std::sync::atomic::AtomicBool,
    /// A program closed a descriptor of it (a `flush` came). A handle released without one was
    /// never the program's: the kernel refused the open after djfs accepted it (another open
    /// of the file holds it through FUSE passthrough), so what its open truncated is not stored.
    pub closed: std::sync::atomic::AtomicBool,
    pub place: String,
}

fn refusal(place: &str, what: &str, e: &anyhow::Error) -> FsError {
    let kind = match write_refusal(e) {
        Some(WriteRefusal::Exists) => ErrorKind::Exists,
        Some(WriteRefusal::Reference) | Some(WriteRefusal::BadValue) => ErrorKind::Invalid,
        None if row_gone(e) => ErrorKind::NotFound,
        None => ErrorKind::Io,
    };
    kind.because(format!("{place}: {what} refused: {e:#}"))
}

impl super::Filesystem {
    fn check_writable(&self) -> FsResult<()> {
        if self.opts.read_only {
            Err(FsError::ReadOnly)
        } else {
            Ok(())
        }
    }

    /// The row of a row folder (existing or pending), by reference.
    fn row_ref(
        &self,
        schema: &Arc<str>,
        class: &Arc<str>,
        folder: &Arc<str>,
    ) -> FsResult<(Arc<TableInfo>, RowRef)> {
        let (table, facts) = self.row(schema, class, folder)?;
        Ok((
            table,
            RowRef {
                id: RowId::new(schema.clone(), class.clone(), folder.clone()),
                key: facts.key.clone(),
            },
        ))
    }

    /// What writing file `name` (at `place`) in a row folder (or in attachment folder
    /// `folder`) means; `new_row`: the folder is a row made with `mkdir` that waits for its
    /// values.
    fn write_kind(
        &self,
        table: &TableInfo,
        folder: Option<&str>,
        name: &str,
        new_row: bool,
        place: &str,
    ) -> FsResult<(usize, WriteKind)> {
        let column = AttrFile::parse(table, folder.unwrap_or(name)).map(|(i, _)| i);
        if let Some(refused) = column.and_then(|i| stored_column_refusal(table, i, place)) {
            return Err(refused);
        }
        if let Some(folder) = folder {
            let Some((i, AttrFile::Value)) = AttrFile::parse(table, folder) else {
                return Err(FsError::NotFound);
            };
            if name.len() > crate::rowname::MAX_NAME_BYTES {
                return Err(FsError::NameTooLong);
            }
            if name.is_empty() || name == "." || name == ".." || name.contains('/') {
                return Err(FsError::Invalid);
            }
            let kind = &table.columns[i].kind;
            return match kind {
                _ if is_attachment(kind) && name.starts_with('.') => Ok((i, WriteKind::Temp)),
                AttrKind::Stored {
                    codec: StoredCodec::Object,
                    ..
                } => Ok((i, WriteKind::StoredObject(name.to_string()))),
                _ if is_attachment(kind) => Ok((i, WriteKind::Attach(name.to_string()))),
                // Filepath values name files in the store's stage: not written through the mount.
                _ => Err(FsError::NotPermitted),
            };
        }
        let is_blob = |i: usize| {
            matches!(
                table.columns[i].kind,
                AttrKind::Blob
                    | AttrKind::External {
                        kind: ExternalKind::Blob,
                        ..
                    }
                    | AttrKind::Stored {
                        codec: StoredCodec::Blob,
                        ..
                    }
            )
        };
        let stored = |i: usize, want: StoredCodec| matches!(&table.columns[i].kind, AttrKind::Stored { codec, .. } if *codec == want);
        match AttrFile::parse(table, name) {
            Some((i, AttrFile::Value)) if table.key.contains(&i) => {
                return Ok((i, WriteKind::KeyCheck))
            }
            Some((i, AttrFile::Value)) => {
                return match &table.columns[i].kind {
                    AttrKind::Text | AttrKind::Uuid | AttrKind::Binary => {
                        Ok((i, WriteKind::Scalar))
                    }
                    _ if stored(i, StoredCodec::Hash) => Ok((i, WriteKind::StoredHash)),
                    _ => Err(FsError::NotPermitted),
                }
            }
            Some((i, AttrFile::Npy)) if is_blob(i) => return Ok((i, WriteKind::BlobNpy)),
            Some((i, AttrFile::Npy)) if stored(i, StoredCodec::Npy) => {
                return Ok((i, WriteKind::StoredNpy))
            }
            Some((i, AttrFile::Blob)) if is_blob(i) => return Ok((i, WriteKind::BlobRaw)),
            Some((i, AttrFile::Json)) if is_blob(i) => return Ok((i, WriteKind::Ignored)),
            // A row folder copied out of a mount carries the PNG views of its arrays: copied
            // into a new row (`cp -r`), they are accepted without effect, as `.json` is.
            Some((i, AttrFile::Png)) if new_row && (is_blob(i) || stored(i, StoredCodec::Npy)) => {
                return Ok((i, WriteKind::Ignored))
            }
            Some((_, AttrFile::Png)) => {
                return Err(ErrorKind::NotPermitted.because(format!(
                    "{}: {name} is a read-only view (write the .npy to change the array)",
                    table.class_name
                )))
            }
            _ => {}
        }
        // A name that is no attribute's (`.title.Xa9z`, `tmpk3j2`, `4913`, `title~`): a
        // temporary file, stored only if renamed to an attribute's name.
        let about_an_attribute = table.columns.iter().any(|c| {
            !c.hidden
                && name
                    .strip_prefix(c.name.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
        });
        if name.starts_with('.') || !about_an_attribute {
            return Ok((0, WriteKind::Temp));
        }
        Err(FsError::NotPermitted)
    }

    /// Starts a write of file `name` under folder `parent` (create) or of an existing file.
    fn start_write(
        &self,
        parent: &Node,
        name: &str,
        truncate: bool,
    ) -> FsResult<(u64, Arc<WriteHandle>)> {
        self.check_writable()?;
        let (schema, class, row, folder) = match parent {
            Node::Row { schema, class, row } => (schema, class, row, None),
            Node::RowEntry {
                schema,
                class,
                row,
                name: folder,
            } => (schema, class, row, Some(folder.clone())),
            _ => return Err(FsError::NotPermitted),
        };
        let (table, row_ref) = self.row_ref(schema, class, row)?;
        let new_row = self.edits.new_row(
            self.clock.now(),
            &RowId::new(schema.clone(), class.clone(), row.clone()),
        );
        let node = self.child_name(parent, name);
        let place = node.path();
        let (column, kind) = self.write_kind(&table, folder.as_deref(), name, new_row, &place)?;
        if matches!(kind, WriteKind::StoredObject(_))
            && self.is_folder_object(schema, class, row, column)
        {
            return Err(ErrorKind::NotPermitted.because(format!(
                "{place}: a folder object is not written through the mount (only a file object: remove the folder's value first)"
            )));
        }
        let ino = self.handles.intern(node);
        let mut staging = match &kind {
            // Attachments hash `name\0contents` as `cp` appends the contents.
            WriteKind::Attach(name) => {
                let mut prefix = name.as_bytes().to_vec();
                prefix.push(0);
                Staging::hashing(&self.staging_dir, &prefix)
            }
            // Hash-addressed raw bytes: hashed as they are appended too.
            WriteKind::StoredHash => Staging::hashing(&self.staging_dir, &[]),
            _ => Staging::new(&self.staging_dir),
        };
        if !truncate {
            // Writing into the middle of an existing file: start from its current bytes.
            if let Ok((fh, _)) = self.open(ino, false) {
                let mut offset = 0u64;
                loop {
                    let chunk = self.read(fh, offset, 1 << 20);
                    match chunk {
                        Ok(c) if !c.is_empty() => {
                            staging.write_at(offset, &c).map_err(|e| {
                                super::staging_error(&place, "staging the current value", e)
                            })?;
                            offset += c.len() as u64;
                        }
                        _ => break,
                    }
                }
                self.release(fh);
            }
        }
        let handle = Arc::new(WriteHandle {
            ino,
            place,
            table,
            row: row_ref,
            column,
            kind,
            staging: Mutex::new(staging),
            dirty: Mutex::new(truncate),
            has_data: Default::default(),
            broken: Default::default(),
            closed: Default::default(),
        });
        self.handles
            .writing
            .lock()
            .unwrap()
            .insert(ino, handle.clone());
        self.note_written(ino);
        if matches!(handle.kind, WriteKind::Temp) {
            let node = self.node(ino)?;
            self.handles
                .temps
                .lock()
                .unwrap()
                .insert(ino, (node, handle.clone()));
        }
        Ok((ino, handle))
    }

    /// `create`: a new file in a row folder or an attachment folder.
    pub fn create(&self, parent: u64, name: &OsStr) -> FsResult<(Attr, u64)> {
        let parent = self.node(parent)?;
        let name = name.to_str().ok_or(FsError::Invalid)?;
        let (ino, handle) = self.start_write(&parent, name, true)?;
        let fh = self.new_handle(Handle::Write(handle));
        // The kernel holds the new entry: one lookup.
        self.handles.add_lookup(ino);
        Ok((self.writing_attr(ino, 0), fh))
    }

    /// `open` for writing an existing file.
    pub(super) fn open_for_write(&self, ino: u64, truncate: bool) -> FsResult<u64> {
        let node = self.node(ino)?;
        let (parent, name) = match &node {
            Node::RowEntry {
                schema,
                class,
                row,
                name,
            } => (
                Node::Row {
                    schema: schema.clone(),
                    class: class.clone(),
                    row: row.clone(),
                },
                name.clone(),
            ),
            Node::AttachFile {
                schema,
                class,
                row,
                folder,
                name,
            } => (
                Node::RowEntry {
                    schema: schema.clone(),
                    class: class.clone(),
                    row: row.clone(),
                    name: folder.clone(),
                },
                name.clone(),
            ),
            Node::ExternalObject { .. } => return Err(FsError::NotPermitted),
            view if view.view_path().is_some() => {
                let path = view.view_path().unwrap_or_default();
                return Err(ErrorKind::NotPermitted
                    .because(format!("{path}: a read-only view; not written")));
            }
            _ => return Err(FsError::IsDir),
        };
        let (_, handle) = self.start_write(&parent, &name, truncate)?;
        Ok(self.new_handle(Handle::Write(handle)))
    }

    pub(super) fn writing_attr(&self, ino: u64, size: u64) -> Attr {
        Attr {
            ino,
            is_dir: false,
            size,
            perm: permissions(false, self.opts.read_only),
            mtime: self.mounted_at,
        }
    }

    pub fn write(&self, fh: u64, offset: u64, data: &[u8]) -> FsResult<u32> {
        let handle = self.write_handle(fh)?;
        handle
            .staging
            .lock()
            .unwrap()
            .write_at(offset, data)
            .map_err(|e| {
                handle
                    .broken
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                FsError::io(
                    format!(
                        "{}: staging the write (this file will not be stored, the old value stays)",
                        handle.place
                    ),
                    e,
                )
            })?;
        *handle.dirty.lock().unwrap() = true;
        handle
            .has_data
            .store(true, std::sync::atomic::Ordering::Relaxed);
        Ok(data.len() as u32)
    }

    /// `truncate`/`ftruncate` of a file being written.
    pub fn truncate(&self, ino: u64, size: u64) -> FsResult<Attr> {
        self.check_writable()?;
        let handle = self.handles.writing.lock().unwrap().get(&ino).cloned();
        match handle {
            Some(h) => {
                h.staging.lock().unwrap().truncate(size).map_err(|e| {
                    h.broken.store(true, std::sync::atomic::Ordering::Relaxed);
                    FsError::io(
                        format!(
                            "{}: staging the truncate (this file will not be stored)",
                            h.place
                        ),
                        e,
                    )
                })?;
                *h.dirty.lock().unwrap() = true;
                Ok(self.writing_attr(ino, size))
            }
            // `truncate -s N file` of a file nobody has open: the value cut (or zero-padded)
            // to N bytes, stored at once, as open + ftruncate + close would.
            None => {
                let temp = self
                    .handles
                    .temps
                    .lock()
                    .unwrap()
                    .get(&ino)
                    .map(|(_, h)| h.clone());
                if let Some(t) = temp {
                    t.staging
                        .lock()
                        .unwrap()
                        .truncate(size)
                        .map_err(|e| super::staging_error(&t.place, "truncating", e))?;
                    return Ok(self.writing_attr(ino, size));
                }
                let fh = self.open_for_write(ino, size == 0)?;
                let result = self.write_handle(fh).and_then(|h| {
                    h.staging
                        .lock()
                        .unwrap()
                        .truncate(size)
                        .map_err(|e| super::staging_error(&h.place, "truncating", e))?;
                    *h.dirty.lock().unwrap() = true;
                    self.commit_if_dirty(&h)
                });
                self.release(fh);
                result?;
                self.getattr(ino)
            }
        }
    }

    fn write_handle(&self, fh: u64) -> FsResult<Arc<WriteHandle>> {
        match self.handles.get(fh) {
            Some(Handle::Write(h)) => Ok(h),
            _ => Err(FsError::BadHandle),
        }
    }

    /// `flush` (every `close` of a descriptor): stores what was written, if bytes were written
    /// since the last commit. Errors reach `close()`. A close before any byte was written stores
    /// nothing (see `WriteHandle::has_data`).
    pub fn flush(&self, fh: u64) -> FsResult<()> {
        let Ok(handle) = self.write_handle(fh) else {
            return Ok(());
        };
        handle
            .closed
            .store(true, std::sync::atomic::Ordering::Relaxed);
        if !handle.has_data.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(());
        }
        self.commit_if_dirty(&handle)
    }

    /// `fsync`: stores what was written, now.
    pub fn fsync(&self, fh: u64) -> FsResult<()> {
        match self.write_handle(fh) {
            Ok(handle) => self.commit_if_dirty(&handle),
            Err(_) => Ok(()),
        }
    }

    fn commit_if_dirty(&self, handle: &WriteHandle) -> FsResult<()> {
        let mut dirty = handle.dirty.lock().unwrap();
        if !*dirty {
            return Ok(());
        }
        let result = if handle.broken.load(std::sync::atomic::Ordering::Relaxed) {
            Err(ErrorKind::Io.because(format!(
                "{}: not stored: an earlier write to this file failed; the old value stays",
                handle.place
            )))
        } else {
            self.commit(handle)
        };
        // Tried once: a failure reached the caller's `close`/`fsync`; the last close does not
        // store the same bytes again behind its back (more writes make it dirty again).
        *dirty = false;
        handle
            .has_data
            .store(false, std::sync::atomic::Ordering::Relaxed);
        result
    }

    /// A write was opened or closed on `ino` (see `PageCachePolicy::written`).
    fn note_written(&self, ino: u64) {
        self.page_cache.written(self.clock.now(), ino);
    }

    /// The last close of a write handle; `unopened`: a file `mknod` made that no program
    /// opened (stored as it is, as `touch` stores one).
    pub(super) fn release_write(&self, handle: &WriteHandle, unopened: bool) {
        self.note_written(handle.ino);
        let closed = handle.closed.load(std::sync::atomic::Ordering::Relaxed);
        if !closed && !unopened && *handle.dirty.lock().unwrap() {
            tracing::info!(
                "{}: not stored: no program closed it (the kernel refused its open)",
                handle.place
            );
            *handle.dirty.lock().unwrap() = false;
        }
        // The last close: a file that was created or truncated and left empty is stored now.
        if let Err(e) = self.commit_if_dirty(handle) {
            // No caller gets an errno at the last close: this is the failure's one log line.
            e.report("last close, value not stored");
        }
        let mut writing = self.handles.writing.lock().unwrap();
        if writing
            .get(&handle.ino)
            .is_some_and(|h| std::ptr::eq(&**h, handle))
        {
            writing.remove(&handle.ino);
        }
    }

    /// Encodes, uploads and stores one written value.
    fn commit(&self, h: &WriteHandle) -> FsResult<()> {
        type Parts = (ColumnValue, Option<TrackingRow>, Fact, Option<StoredUpload>);
        let plain = |(value, tracking, fact): (ColumnValue, Option<TrackingRow>, Fact)| -> Parts {
            (value, tracking, fact, None)
        };
        let stored = |v: super::write_stored::StoredValue| -> Parts {
            (v.value, None, v.fact, Some(v.upload))
        };
        let staging = h.staging.lock().unwrap();
        let table = &h.table;
        let info = &table.columns[h.column];
        let invalid = |why: String| {
            ErrorKind::Invalid.because(format!("{}: {why}; the old value stays", h.place))
        };
        let read_all = || {
            staging
                .to_vec()
                .map_err(|e| super::staging_error(&h.place, "reading the staged bytes", e))
        };
        let (value, tracking, fact, upload) = match &h.kind {
            WriteKind::Ignored | WriteKind::Temp => return Ok(()),
            WriteKind::KeyCheck => {
                let bytes = read_all()?;
                let text = String::from_utf8_lossy(&bytes);
                let text = text.strip_suffix('\n').unwrap_or(&text);
                let pos = table.key.iter().position(|&k| k == h.column).unwrap_or(0);
                let row_key = h.row.id.clone();
                if text == h.row.key[pos] {
                    self.edits
                        .show_key_file(self.clock.now(), &row_key, h.column);
                    return Ok(());
                }
                // `cp -r row Table/<new key>` duplicates a row: in a row made in this mount the
                // folder name is the key, and the copied key file is ignored.
                if self.edits.new_row(self.clock.now(), &row_key) {
                    self.edits
                        .show_key_file(self.clock.now(), &row_key, h.column);
                    tracing::info!(
                        "{}: says {text:?}, the folder name says {:?}: the folder name is the key; ignored",
                        h.place,
                        h.row.key[pos]
                    );
                    return Ok(());
                }
                return Err(ErrorKind::NotPermitted.because(format!(
                    "{}: key attributes cannot be changed (folder says {:?})",
                    h.place, h.row.key[pos]
                )));
            }
            WriteKind::Scalar => {
                let bytes = read_all()?;
                if info.kind == AttrKind::Binary {
                    (
                        ColumnValue::Bytes(bytes.clone()),
                        None,
                        Fact::Bytes(bytes),
                        None,
                    )
                } else {
                    let text =
                        String::from_utf8(bytes).map_err(|_| invalid("not UTF-8 text".into()))?;
                    let text = text.strip_suffix('\n').unwrap_or(&text).to_string();
                    if info.json {
                        // MariaDB keeps 2.x `json` as longtext and checks nothing: neither
                        // djfs nor the client may store what the client cannot read back.
                        serde_json::from_str::<serde::de::IgnoredAny>(&text)
                            .map_err(|e| invalid(format!("not JSON: {e}")))?;
                    }
                    (
                        ColumnValue::Text(text.clone()),
                        None,
                        Fact::Bytes(text.into_bytes()),
                        None,
                    )
                }
            }
            WriteKind::BlobNpy | WriteKind::BlobRaw => {
                let bytes = read_all()?;
                let blob = if matches!(h.kind, WriteKind::BlobNpy) {
                    encode_npy(&bytes).map_err(|e| invalid(format!("not a storable .npy: {e}")))?
                } else {
                    encode_raw_blob_check(&bytes)
                        .map_err(|e| invalid(format!("not a valid blob: {e}")))?;
                    bytes
                };
                if matches!(info.kind, AttrKind::Stored { .. }) {
                    stored(self.stored_blob(h, blob)?)
                } else {
                    plain(self.blob_value(h, blob)?)
                }
            }
            WriteKind::Attach(name) if matches!(info.kind, AttrKind::Stored { .. }) => {
                stored(self.stored_attachment(h, &staging, name)?)
            }
            WriteKind::Attach(name) => plain(self.attachment_value(h, &staging, name)?),
            WriteKind::StoredHash => stored(self.stored_hash(h, &staging)?),
            WriteKind::StoredNpy => stored(self.stored_npy(h, &staging)?),
            WriteKind::StoredObject(name) => stored(self.stored_object(h, &staging, name)?),
        };
        drop(staging);
        self.apply(
            h.table.clone(),
            &h.row,
            &h.place,
            vec![(h.column, value, fact)],
            tracking.into_iter().collect(),
            upload.into_iter().collect(),
        )?;
        self.stored_after_rm(&h.row, h.column);
        self.value_changed(h.ino);
        let row_key = h.row.id.clone();
        self.edits
            .show_in_made_row(self.clock.now(), &row_key, h.column);
        Ok(())
    }

    /// A blob's column value: the bytes, or (external) the hash after uploading the object.
    fn blob_value(
        &self,
        h: &WriteHandle,
        blob: Vec<u8>,
    ) -> FsResult<(ColumnValue, Option<TrackingRow>, Fact)> {
        let AttrKind::External { store, .. } = &h.table.columns[h.column].kind else {
            let head = blob[..blob.len().min(RECOMMENDED_PREFIX)].to_vec();
            let len = blob.len() as u64;
            return Ok((ColumnValue::Bytes(blob), None, Fact::Blob { len, head }));
        };
        let hash: [u8; 16] = Md5::digest(&blob).into();
        let size = blob.len() as u64;
        if let Ok(shape) = classify_blob(&blob, size) {
            self.external.blob_written(&hash, shape);
        }
        self.upload(
            h,
            store,
            &hash,
            &TrackedKind::Blob,
            Some(Bytes::from(blob)),
            None,
        )?;
        Ok(stored_externally(store, &hash, size, None))
    }

    fn attachment_value(
        &self,
        h: &WriteHandle,
        staging: &Staging,
        name: &str,
    ) -> FsResult<(ColumnValue, Option<TrackingRow>, Fact)> {
        let size = staging.len();
        let AttrKind::External { store, .. } = &h.table.columns[h.column].kind else {
            let mut value = name.as_bytes().to_vec();
            value.push(0);
            value.extend(
                staging
                    .to_vec()
                    .map_err(|e| super::staging_error(&h.place, "reading the staged bytes", e))?,
            );
            return Ok((
                ColumnValue::Bytes(value),
                None,
                Fact::Attach {
                    name: name.to_string(),
                    size,
                },
            ));
        };
        let mut prefix = name.as_bytes().to_vec();
        prefix.push(0);
        let hash = staging
            .md5_with_prefix(&prefix)
            .map_err(|e| super::staging_error(&h.place, "hashing the staged bytes", e))?;
        let kind = TrackedKind::Attachment(name.to_string());
        match staging.file_path() {
            Some(path) => self.upload(h, store, &hash, &kind, None, Some(path))?,
            None => {
                let data =
                    Bytes::from(staging.to_vec().map_err(|e| {
                        super::staging_error(&h.place, "reading the staged bytes", e)
                    })?);
                self.upload(h, store, &hash, &kind, Some(data), None)?
            }
        }
        Ok(stored_externally(store, &hash, size, Some(name)))
    }

    /// Uploads an object unless its store already has it (same hash, same bytes).
    fn upload(
        &self,
        h: &WriteHandle,
        store: &str,
        hash: &[u8],
        kind: &TrackedKind,
        data: Option<Bytes>,
        file: Option<&std::path::Path>,
    ) -> FsResult<()> {
        self.external
            .put_if_missing(&h.row.id.schema, store, hash, kind, data, file)
            .map_err(|e| FsError::io(format!("{}: store {store:?}", h.place), e))
    }

    /// Writes column values of a row: an UPDATE of an existing row, or (pending row) the INSERT
    /// once every required attribute is there.
    fn apply(
        &self,
        table: Arc<TableInfo>,
        row: &RowRef,
        place: &str,
        values: Vec<(usize, ColumnValue, Fact)>,
        tracking: Vec<TrackingRow>,
        uploads: Vec<StoredUpload>,
    ) -> FsResult<()> {
        let row_key = row.id.clone();
        {
            let mut pending = self.edits.pending.lock().unwrap();
            if let Some(p) = pending.get_mut(&row_key) {
                for (i, v, f) in values {
                    p.values.insert(i, v);
                    p.facts.insert(i, f);
                    p.shown.insert(i);
                }
                p.tracking.extend(tracking);
                p.uploads.extend(uploads);
                let missing = p.missing();
                if !missing.is_empty() {
                    tracing::debug!("{place}: row waits for {missing:?}");
                    return Ok(());
                }
                let p = pending.remove(&row_key).expect("present");
                // insert_pending puts the row back on failure: release the lock first.
                drop(pending);
                return self.insert_pending(p, &row_key, place);
            }
        }
        let sets: Vec<(usize, ColumnValue)> = values.into_iter().map(|(i, v, _)| (i, v)).collect();
        let result = self.db.write_row(&table, &row.key, &sets, &tracking, false);
        crate::journal::after_transaction(
            &*self.db,
            self.external.stores(),
            &row.id.schema,
            &tracking,
            result.is_ok(),
        );
        self.after_stored(&table, &row.key, &row.id.schema, &uploads, result.is_ok());
        self.invalidate(&row.id.schema, &table, &row.id.folder);
        result.map_err(|e| refusal(place, "update", &e))
    }

    fn insert_pending(&self, p: PendingRow, row_key: &RowId, place: &str) -> FsResult<()> {
        let values: Vec<(usize, ColumnValue)> =
            p.values.iter().map(|(i, v)| (*i, v.clone())).collect();
        let result = self
            .db
            .write_row(&p.table, &p.key, &values, &p.tracking, true);
        if result.is_ok() {
            crate::journal::after_transaction(
                &*self.db,
                self.external.stores(),
                &row_key.schema,
                &p.tracking,
                true,
            );
            // (On failure the row stays pending with its objects, for the next try.)
            self.after_stored(&p.table, &p.key, &row_key.schema, &p.uploads, true);
        }
        self.invalidate(&row_key.schema, &p.table, &row_key.folder);
        match result {
            Ok(()) => {
                tracing::info!("{place}: row inserted");
                let mut made = self.edits.made.lock().unwrap();
                made.retain(|_, m| self.since(m.at) < NEW_ROW_VIEWS);
                made.insert(
                    row_key.clone(),
                    MadeRow {
                        at: self.clock.now(),
                        shown: p.shown.clone(),
                    },
                );
                Ok(())
            }
            Err(e) => {
                // Keep the row pending so the user can fix the value; nothing was stored.
                let errno = refusal(place, "insert", &e);
                self.edits
                    .pending
                    .lock()
                    .unwrap()
                    .insert(row_key.clone(), p);
                Err(errno)
            }
        }
    }

    /// Settles the 2.x uploads of a row transaction (see `journal::after_stored_transaction`):
    /// after a failure, whether a column references its new object after all is read anew.
    fn after_stored(
        &self,
        table: &TableInfo,
        key: &[String],
        schema: &str,
        uploads: &[StoredUpload],
        committed: bool,
    ) {
        if uploads.is_empty() {
            return;
        }
        crate::journal::after_stored_transaction(
            self.external.stores(),
            schema,
            uploads,
            committed,
            |column| {
                Ok(self
                    .db
                    .fetch_value(table, key, column)?
                    .and_then(|meta| crate::stored::parse_meta(&meta).ok())
                    .map(|meta| meta.path))
            },
        );
    }

    /// Whether a 2.x `<object@>` column of a row holds a folder object now.
    fn is_folder_object(
        &self,
        schema: &Arc<str>,
        class: &Arc<str>,
        row: &Arc<str>,
        column: usize,
    ) -> bool {
        let Ok((_, facts)) = self.row(schema, class, row) else {
            return false;
        };
        match facts.values.get(column) {
            Some(Fact::Bytes(meta)) => crate::stored::parse_meta(meta).is_ok_and(|m| m.is_dir),
            _ => false,
        }
    }

    /// Forgets cached views of a table and row after a change.
    pub(super) fn invalidate(&self, schema: &Arc<str>, table: &TableInfo, folder: &str) {
        self.metadata.invalidate(schema, table, folder);
    }

    /// `mkdir` in a table folder: a new row, inserted once its required attributes are written
    /// (at once when the key is all it needs).
    pub fn mkdir(&self, parent: u64, name: &OsStr) -> FsResult<Attr> {
        let attr = self.make_dir(parent, name)?;
        // The kernel holds the new entry: one lookup.
        self.handles.add_lookup(attr.ino);
        Ok(attr)
    }

    fn make_dir(&self, parent: u64, name: &OsStr) -> FsResult<Attr> {
        self.check_writable()?;
        let parent = self.node(parent)?;
        let name = name.to_str().ok_or(FsError::Invalid)?;
        let Node::Table { schema, class } = &parent else {
            // Attachment folders exist in every row; in a new row they appear when made.
            let Node::Row { schema, class, row } = &parent else {
                return Err(FsError::NotPermitted);
            };
            let row_key = RowId::new(schema.clone(), class.clone(), row.clone());
            // (The lock must not be held in the `else` branch, which looks the row up.)
            let mut pending = self.edits.pending.lock().unwrap();
            if let Some(p) = pending.get_mut(&row_key) {
                let column = p
                    .table
                    .columns
                    .iter()
                    .position(|c| c.name == name && shows_as_folder(&c.kind));
                let Some(column) = column else {
                    let stored = p.table.columns.iter().position(|c| c.name == name);
                    let place = format!("{row_key}/{name}");
                    return Err(stored
                        .and_then(|i| stored_column_refusal(&p.table, i, &place))
                        .unwrap_or(FsError::NotPermitted));
                };
                if !p.shown.insert(column) {
                    return Err(FsError::Exists);
                }
            } else {
                drop(pending);
                // `cp -r` of a row whose attachment is NULL: the INSERT came with the row's last
                // required file; the NULL attachment's folder appears when the copy makes it.
                let (table, _) = self.row(schema, class, row)?;
                let column = table
                    .columns
                    .iter()
                    .position(|c| c.name == name && shows_as_folder(&c.kind) && !c.hidden);
                if let Some(column) = column {
                    if self
                        .edits
                        .made_row_shown(self.clock.now(), &row_key)
                        .is_some_and(|s| !s.contains(&column))
                    {
                        self.edits
                            .show_in_made_row(self.clock.now(), &row_key, column);
                        let node = Node::RowEntry {
                            schema: schema.clone(),
                            class: class.clone(),
                            row: row.clone(),
                            name: name.into(),
                        };
                        let ino = self.handles.intern(node);
                        return Ok(self.dir_attr(ino));
                    }
                }
                return match self.child(&parent, name) {
                    Ok(_) => Err(FsError::Exists),
                    Err(_) => Err(FsError::NotPermitted),
                };
            }
            let node = Node::RowEntry {
                schema: schema.clone(),
                class: class.clone(),
                row: row.clone(),
                name: name.into(),
            };
            let ino = self.handles.intern(node);
            return Ok(self.dir_attr(ino));
        };
        let table = self.table(schema, class)?;
        let parsed = rowname::parse(name, &table.key_names());
        let key = parsed.key.ok_or_else(|| {
            ErrorKind::Invalid.because(format!(
                "{schema}/{class}: {name:?} is not a row name ({})",
                table.key_names().join(", ")
            ))
        })?;
        let refs: Vec<&str> = key.iter().map(|s| s.as_str()).collect();
        if rowname::folder_name(&rowname::full_name(&table.key_names(), &refs)) != name {
            return Err(ErrorKind::Invalid.because(format!(
                "{schema}/{class}: {name:?} is not written the way djfs names rows"
            )));
        }
        // Integers must be written as MySQL prints them (`id=07` would become the row `id=7`).
        for (&i, value) in table.key.iter().zip(&key) {
            let ty = table.columns[i].column_type.to_ascii_lowercase();
            let integer = ["tinyint", "smallint", "mediumint", "int", "bigint"]
                .iter()
                .any(|t| ty.starts_with(t));
            if integer
                && value.parse::<i128>().map(|v| v.to_string()).as_deref() != Ok(value.as_str())
            {
                return Err(ErrorKind::Invalid.because(format!(
                    "{schema}/{class}: {name:?}: {value:?} is not an integer as MySQL writes it"
                )));
            }
        }
        let folder: Arc<str> = name.into();
        match self.row(schema, class, &folder) {
            Ok(_) => return Err(FsError::Exists),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let row_key = RowId::new(schema.clone(), class.clone(), folder.clone());
        let pending = PendingRow {
            table: table.clone(),
            key,
            folder: name.to_string(),
            values: BTreeMap::new(),
            tracking: vec![],
            uploads: vec![],
            facts: BTreeMap::new(),
            shown: Default::default(),
        };
        let place = row_key.to_string();
        if pending.missing().is_empty() {
            if let Err(e) = self.insert_pending(pending, &row_key, &place) {
                // Refused at `mkdir` (bad key, missing parent): there is no folder.
                self.edits.pending.lock().unwrap().remove(&row_key);
                return Err(e);
            }
        } else {
            self.edits.pending.lock().unwrap().insert(row_key, pending);
        }
        let node = Node::Row {
            schema: schema.clone(),
            class: class.clone(),
            row: folder,
        };
        let ino = self.handles.intern(node);
        Ok(self.dir_attr(ino))
    }

    /// `unlink`: a nullable attribute's file sets it NULL (after a short grace, see
    /// `UNLINK_GRACE`); other attribute files are hidden until the row folder is removed or the
    /// refresh delay passes; an object in `.unused` is deleted.
    pub fn unlink(&self, parent: u64, name: &OsStr) -> FsResult<()> {
        let parent_node = self.node(parent)?;
        let name_str = name.to_str().ok_or(FsError::NotFound)?;
        if let Some(removed) = self.unlink_unused(&parent_node, name_str) {
            return removed;
        }
        self.check_writable()?;
        if let Some(ino) = self.temp_ino(&self.child_name(&parent_node, name_str)) {
            self.handles.temps.lock().unwrap().remove(&ino);
            return Ok(());
        }
        let child = match self.child(&parent_node, name_str) {
            // A view whose data file was just removed went with it (`rm -r` of a row removes
            // `x.npy`, then `x.png`; `x.blob`, then `x.json`).
            Err(e) if e == FsError::NotFound && self.view_of_removed(&parent_node, name_str) => {
                return Ok(())
            }
            other => other?,
        };
        let (schema, class, row) = match &child {
            Node::RowEntry {
                schema, class, row, ..
            }
            | Node::AttachFile {
                schema, class, row, ..
            } => (schema, class, row),
            view if view.view_path().is_some() => {
                let path = view.view_path().unwrap_or_default();
                return Err(ErrorKind::NotPermitted
                    .because(format!("{path}: a read-only view; not removed")));
            }
            _ => return Err(FsError::NotPermitted),
        };
        let target = self.file(&child)?;
        if matches!(target.content, Content::Png { .. }) {
            return Err(ErrorKind::NotPermitted.because(format!(
                "{}: a read-only view; remove the .npy beside it to clear the attribute",
                target.place
            )));
        }
        let (_, _, column) = target.in_table.clone().ok_or(FsError::NotPermitted)?;
        self.remove_attribute(schema, class, row, column, &target.place, false)
    }

    /// `rename` of a temporary file to an attribute's file or attachment name in the same
    /// folder: its bytes are stored under the final name, in one step (the old value shows
    /// until then). Anything else: EPERM (names are data).
    pub fn rename(
        &self,
        parent: u64,
        name: &OsStr,
        new_parent: u64,
        new_name: &OsStr,
    ) -> FsResult<()> {
        self.check_writable()?;
        let parent_node = self.node(parent)?;
        let (name, new_name) = match (name.to_str(), new_name.to_str()) {
            (Some(a), Some(b)) => (a, b),
            _ => return Err(FsError::NotPermitted),
        };
        let from = self.child_name(&parent_node, name);
        let Some(ino) = self.temp_ino(&from) else {
            return Err(ErrorKind::NotPermitted.because(format!(
                "rename of {name:?}: only temporary files can be renamed (names are data)"
            )));
        };
        if new_parent != parent {
            return Err(ErrorKind::NotPermitted.because(format!(
                "rename of {name:?} to another folder: not supported"
            )));
        }
        let temp = self
            .handles
            .temp(ino)
            .map(|(_, h)| h)
            .ok_or(FsError::NotFound)?;
        let (schema, class, row, folder) = match &parent_node {
            Node::Row { schema, class, row } => (schema, class, row, None),
            Node::RowEntry {
                schema,
                class,
                row,
                name: folder,
            } => (schema, class, row, Some(folder.clone())),
            _ => return Err(FsError::NotPermitted),
        };
        let to = self.child_name(&parent_node, new_name);
        let new_row = self.edits.new_row(
            self.clock.now(),
            &RowId::new(schema.clone(), class.clone(), row.clone()),
        );
        let (column, kind) = self.write_kind(
            &temp.table,
            folder.as_deref(),
            new_name,
            new_row,
            &to.path(),
        )?;
        if matches!(kind, WriteKind::Temp) {
            // A temporary file renamed to another temporary name.
            self.handles
                .temps
                .lock()
                .unwrap()
                .insert(ino, (to.clone(), temp));
            self.handles.inodes.lock().unwrap().rename(ino, to);
            return Ok(());
        }
        let place = to.path();
        let staged = std::mem::replace(
            &mut *temp.staging.lock().unwrap(),
            Staging::new(&self.staging_dir),
        );
        let target = WriteHandle {
            ino,
            table: temp.table.clone(),
            row: temp.row.clone(),
            column,
            kind,
            staging: Mutex::new(staged),
            dirty: Mutex::new(true),
            has_data: Default::default(),
            broken: Default::default(),
            closed: Default::default(),
            place,
        };
        match self.commit(&target) {
            Ok(()) => {
                self.handles.temps.lock().unwrap().remove(&ino);
                self.handles.inodes.lock().unwrap().rename(ino, to);
                self.value_changed(ino);
                tracing::info!("{}: stored from {name:?}", target.place);
                Ok(())
            }
            Err(e) => {
                // The temporary file keeps its bytes (the caller may try again or remove it).
                *temp.staging.lock().unwrap() = target.staging.into_inner().unwrap();
                Err(e)
            }
        }
    }

    /// Whether `name` in row folder `parent` is the `.png` or `.json` view of an attribute whose
    /// file was removed (hidden while its change is pending).
    fn view_of_removed(&self, parent: &Node, name: &str) -> bool {
        let Node::Row { schema, class, row } = parent else {
            return false;
        };
        let Ok(table) = self.table(schema, class) else {
            return false;
        };
        let Some((column, file)) = AttrFile::parse(&table, name) else {
            return false;
        };
        if !file.is_view() {
            return false;
        }
        let row_key = RowId::new(schema.clone(), class.clone(), row.clone());
        self.edits
            .hidden
            .lock()
            .unwrap()
            .get(&(row_key, column))
            .is_some_and(|h| self.since(h.at) < HIDE_REQUIRED)
    }

    /// The removal of an attribute's file (or, `folder`, an attachment folder): hidden at once;
    /// a nullable attribute becomes NULL after the grace, unless a new value was written
    /// meanwhile; a required one reappears unless its row goes. In a row that waits for its
    /// INSERT, the staged value is simply dropped.
    fn remove_attribute(
        &self,
        schema: &Arc<str>,
        class: &Arc<str>,
        row: &Arc<str>,
        column: usize,
        place: &str,
        folder: bool,
    ) -> FsResult<()> {
        let row_key = RowId::new(schema.clone(), class.clone(), row.clone());
        if let Some(p) = self.edits.pending.lock().unwrap().get_mut(&row_key) {
            p.values.remove(&column);
            p.facts.remove(&column);
            if folder || !is_attachment(&p.table.columns[column].kind) {
                p.shown.remove(&column);
            }
            return Ok(());
        }
        let (table, row_ref) = self.row_ref(schema, class, row)?;
        let info = &table.columns[column];
        if info.nullable && !table.key.contains(&column) {
            let fingerprint = self
                .db
                .value_fingerprint(&table, &row_ref.key, column)
                .map_err(|e| super::db_error(&format!("reading {place} before removing it"), e))?
                .ok_or(FsError::NotFound)?;
            self.hide(&row_key, column, folder);
            self.edits.nulls.lock().unwrap().push(PendingNull {
                due: self.clock.now() + UNLINK_GRACE,
                seq: self.edits.next(),
                table,
                row: row_ref,
                column,
                fingerprint,
            });
        } else {
            self.hide(&row_key, column, folder);
            tracing::info!(
                "{place}: attribute {} is required; hidden until its row folder is removed",
                info.name
            );
        }
        Ok(())
    }

    fn hide(&self, row_key: &RowId, column: usize, folder: bool) {
        let mut hidden = self.edits.hidden.lock().unwrap();
        let entry = hidden.entry((row_key.clone(), column)).or_insert(Hidden {
            at: self.clock.now(),
            folder,
        });
        entry.at = self.clock.now();
        entry.folder |= folder;
    }

    /// A value was stored in (row, column): an earlier `rm` of it is void (its NULL is not
    /// written, its file shows again).
    fn stored_after_rm(&self, row: &RowRef, column: usize) {
        let row_key = row.id.clone();
        self.edits.nulls.lock().unwrap().retain(|n| {
            !(n.column == column
                && n.row.id.schema == row.id.schema
                && n.row.id.class == row.id.class
                && n.row.id.folder == row.id.folder)
        });
        self.edits.hidden.lock().unwrap().remove(&(row_key, column));
    }

    /// Writes the NULLs of `rm`s whose grace has passed (called by the janitor thread), each
    /// only if the column still holds what it held at the `rm`.
    pub fn apply_due_nulls(&self) {
        let due: Vec<PendingNull> = {
            let mut nulls = self.edits.nulls.lock().unwrap();
            let now = self.clock.now();
            let (due, later) = std::mem::take(&mut *nulls)
                .into_iter()
                .partition(|n| n.due <= now);
            *nulls = later;
            due
        };
        for n in due {
            let place = format!("{}/{}", n.row.id, n.table.columns[n.column].name);
            let row_key = n.row.id.clone();
            if self.edits.deleted_since(&row_key, n.seq) {
                continue; // the row went away with `rm -r` (or `rmdir`) after the `rm`
            }
            let result = self
                .db
                .null_if_unchanged(&n.table, &n.row.key, n.column, &n.fingerprint);
            self.invalidate(&n.row.id.schema, &n.table, &n.row.id.folder);
            match result {
                Ok(true) => tracing::info!("{place}: set to NULL"),
                Ok(false) => tracing::info!(
                    "{place}: not set to NULL: its value changed after the rm (or the row is gone)"
                ),
                Err(e) => tracing::warn!("{place}: could not set NULL: {e:#}"),
            }
            self.edits
                .hidden
                .lock()
                .unwrap()
                .remove(&(row_key, n.column));
        }
    }

    /// `rmdir` of a row folder: deletes the row and its part-table rows in one transaction; rows of
    /// other tables that depend on it make it fail (ENOTEMPTY) unless mounted with
    /// `--cascade-delete`. Objects of deleted rows stay in their stores (they show in `.unused`).
    pub fn rmdir(&self, parent: u64, name: &OsStr) -> FsResult<()> {
        let parent = self.node(parent)?;
        let name = name.to_str().ok_or(FsError::NotFound)?;
        if let Some(removed) = self.rmdir_unused(&parent, name) {
            return removed;
        }
        self.check_writable()?;
        if let Node::Row { schema, class, row } = &parent {
            // `rm -r` of a row removes its attachment folders on the way.
            let (table, _) = self.row(schema, class, row)?;
            let column = table
                .columns
                .iter()
                .position(|c| c.name == name && !c.hidden)
                .ok_or(FsError::NotFound)?;
            return self.remove_attribute(
                schema,
                class,
                row,
                column,
                &format!("{}/{name}", parent.path()),
                true,
            );
        }
        let Node::Table { schema, class } = &parent else {
            return Err(FsError::NotPermitted);
        };
        let folder: Arc<str> = name.into();
        let row_key = RowId::new(schema.clone(), class.clone(), folder.clone());
        if self
            .edits
            .pending
            .lock()
            .unwrap()
            .remove(&row_key)
            .is_some()
        {
            return Ok(());
        }
        let (table, row_ref) = self.row_ref(schema, class, &folder)?;
        let place = row_key.to_string();
        let catalog = self.catalog(schema)?;
        let mut steps = Vec::new();
        let mut blocked = Vec::new();
        // Whenever the row is not deleted, it stays whole (see `RowEdits::keep_row`).
        self.plan_delete(
            &catalog,
            &table,
            &row_ref.key,
            &mut Vec::new(),
            &mut steps,
            &mut blocked,
        )
        .inspect_err(|_| self.edits.keep_row(&row_key))?;
        if !blocked.is_empty() && !self.opts.cascade_delete {
            self.edits.keep_row(&row_key);
            return Err(ErrorKind::NotEmpty.because(format!(
                "{place}: not deleted: rows of other tables depend on it: {} (mount with --cascade-delete to delete them too)",
                blocked.iter().map(|(t, n)| format!("{t}: {n}")).collect::<Vec<_>>().join(", ")
            )));
        }
        let counts = self
            .db
            .delete_rows(&table, &row_ref.key, &steps)
            .map_err(|e| {
                self.edits.keep_row(&row_key);
                refusal(&place, "delete", &e)
            })?;
        let seq = self.edits.next();
        self.edits
            .deleted
            .lock()
            .unwrap()
            .insert(row_key.clone(), seq);
        // No longer a row made here: if another client inserts the key again, its folder shows
        // all of its files (found by the reference-model test).
        self.edits.made.lock().unwrap().remove(&row_key);
        self.edits.unhide_row(&row_key);
        let summary: Vec<String> = steps
            .iter()
            .zip(&counts)
            .filter(|(_, n)| **n > 0)
            .map(|(path, n)| {
                let name = path
                    .last()
                    .map_or(table.name.as_str(), |d| d.table.as_str());
                format!("{name}: {n}")
            })
            .collect();
        tracing::info!("{place}: deleted ({})", summary.join(", "));
        // Every table may have changed.
        for t in &catalog.tables {
            self.invalidate(schema, t, name);
        }
        self.metadata.forget_rows();
        Ok(())
    }

    /// Plans the deletion of a row: the dependency paths to delete along, children first
    /// (post-order), ending with the row itself (an empty path); and the tables outside its own
    /// part tables that hold dependent rows.
    fn plan_delete(
        &self,
        catalog: &crate::catalog::SchemaCatalog,
        root: &TableInfo,
        key: &[String],
        path: &mut Vec<Dependent>,
        steps: &mut Vec<Vec<Dependent>>,
        blocked: &mut Vec<(String, u64)>,
    ) -> FsResult<()> {
        let (schema, table) = match path.last() {
            Some(d) => (d.schema.clone(), d.table.clone()),
            None => (root.schema.clone(), root.name.clone()),
        };
        if path.len() > 16 {
            return Err(
                ErrorKind::Io.because(format!("{schema}.{table}: dependency chain too deep"))
            );
        }
        let dependents = self
            .db
            .dependents(&schema, &table)
            .map_err(|e| super::db_error("finding dependent tables", e))?;
        for d in dependents {
            if path
                .iter()
                .any(|p| p.schema == d.schema && p.table == d.table)
                || (d.schema == root.schema && d.table == root.name)
            {
                continue; // a cycle
            }
            let is_own_part = path.is_empty()
                && d.schema == root.schema
                && d.table.starts_with(&format!("{}__", root.name));
            path.push(d.clone());
            if !is_own_part {
                let n = self
                    .db
                    .count_dependents(root, key, path)
                    .map_err(|e| super::db_error("counting dependent rows", e))?;
                if n > 0 {
                    let label = if d.schema == root.schema {
                        catalog
                            .tables
                            .iter()
                            .find(|t| t.name == d.table)
                            .map(|t| t.class_name.clone())
                            .unwrap_or_else(|| d.table.clone())
                    } else {
                        format!("{}.{}", d.schema, d.table)
                    };
                    blocked.push((label, n));
                }
            }
            self.plan_delete(catalog, root, key, path, steps, blocked)?;
            steps.push(path.clone());
            path.pop();
        }
        if path.is_empty() {
            steps.push(Vec::new());
        }
        Ok(())
    }
}

/// Why a file of a DataJoint 2.x column whose value is JSON metadata (`AttrKind::Stored`) is not
/// written, or None when it is (any other column, and values kept in a store: `<blob@s>`,
/// `<attach@s>`, `<hash@s>`, `<npy@s>`, `<object@s>`, see `write_stored.rs`). `<filepath@s>`
/// names a file the user put in the store (EPERM, as 0.14's `filepath@store`); an add-on codec's
/// metadata is shown, never written (EPERM). Per column: the row's other attributes stay
/// writable.
fn stored_column_refusal(table: &TableInfo, column: usize, place: &str) -> Option<FsError> {
    let info = &table.columns[column];
    let AttrKind::Stored { codec, store } = &info.kind else {
        return None;
    };
    let label = match store {
        Some(store) => format!("<{}@{store}>", codec.name()),
        None => format!("<{}>", codec.name()),
    };
    let attr = &info.name;
    match codec {
        StoredCodec::Filepath => Some(ErrorKind::NotPermitted.because(format!(
            "{place}: {attr} is a DataJoint 2.x {label} value, a file of the store's own: \
             not written through the mount"
        ))),
        StoredCodec::Other(_) => Some(ErrorKind::NotPermitted.because(format!(
            "{place}: {attr} is a value of the add-on codec {label}, which djfs shows but does \
             not write"
        ))),
        _ => None,
    }
}

/// Whether an attribute shows as a folder (also when NULL), which `cp -r` of a row folder makes
/// in a new row: attachments, 2.x objects, and filepaths (a folder made stays NULL: filepath
/// values are not written through the mount).
fn shows_as_folder(kind: &AttrKind) -> bool {
    is_attachment(kind)
        || matches!(
            kind,
            AttrKind::External {
                kind: ExternalKind::Filepath,
                ..
            } | AttrKind::Stored {
                codec: StoredCodec::Filepath,
                ..
            }
        )
}

/// Whether an attribute shows as a folder that a written file fills: attachments, and 2.x
/// `<object@>` values (one file).
fn is_attachment(kind: &AttrKind) -> bool {
    matches!(
        kind,
        AttrKind::Attach
            | AttrKind::External {
                kind: ExternalKind::Attach,
                ..
            }
            | AttrKind::Stored {
                codec: StoredCodec::Attach | StoredCodec::Object,
                ..
            }
    )
}

/// What a value stored in an external store writes: its hash in the column, a tracking row, and
/// the fact the listing shows until it is read again.
fn stored_externally(
    store: &str,
    hash: &[u8; 16],
    size: u64,
    attachment_name: Option<&str>,
) -> (ColumnValue, Option<TrackingRow>, Fact) {
    (
        ColumnValue::Bytes(hash.to_vec()),
        Some(TrackingRow {
            store: store.to_string(),
            hash: hash.to_vec(),
            size,
            attachment_name: attachment_name.map(str::to_string),
        }),
        Fact::External {
            hash: hash.to_vec(),
            attachment_name: attachment_name.map(str::to_string),
            filepath: None,
            size: Some(size),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::ColumnInfo;
    use crate::naming::Tier;

    fn column(name: &str, kind: AttrKind) -> ColumnInfo {
        ColumnInfo {
            name: name.into(),
            column_type: "jsonb".into(),
            nullable: true,
            has_default: true,
            kind,
            hidden: false,
            json: false,
            enum_type: None,
        }
    }

    #[test]
    fn stored_2x_values_are_written_but_filepaths_and_add_on_codecs_refused() {
        let stored = |codec| AttrKind::Stored {
            codec,
            store: Some("local".into()),
        };
        let table = TableInfo {
            schema: "s".into(),
            name: "t".into(),
            class_name: "T".into(),
            tier: Tier::Manual,
            columns: vec![
                column("id", AttrKind::Text),
                column("obj", stored(StoredCodec::Blob)),
                column("fp", stored(StoredCodec::Filepath)),
                column("z", stored(StoredCodec::Other("zarr".into()))),
                column("doc", AttrKind::Attach),
                column("n", stored(StoredCodec::Npy)),
            ],
            key: vec![0],
        };
        let refusal = |i| stored_column_refusal(&table, i, "s/T/id=1/x");
        let fp = refusal(2).unwrap();
        assert_eq!(fp.errno(), libc::EPERM);
        assert!(
            fp.message().unwrap().contains("<filepath@local> value"),
            "{fp}"
        );
        assert!(refusal(3)
            .unwrap()
            .message()
            .unwrap()
            .contains("<zarr@local>"));
        // Values kept in a store, and the row's other attributes, are written.
        for i in [0, 1, 4, 5] {
            assert!(refusal(i).is_none(), "{i}");
        }
    }
}
