//! The thin `fuser` adapter: translates kernel requests into calls on the filesystem core
//! (`fs::Filesystem`) and its results into replies. No logic of its own beyond that.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use fuser::{
    BsdFileFlags, Errno, FileAttr, FileHandle, FileType, FopenFlags, Generation, INodeNo,
    InitFlags, IoctlFlags, KernelConfig, LockOwner, OpenAccMode, OpenFlags, RenameFlags, ReplyAttr,
    ReplyCreate, ReplyData, ReplyDirectory, ReplyDirectoryPlus, ReplyEmpty, ReplyEntry, ReplyIoctl,
    ReplyOpen, ReplyWrite, ReplyXattr, Request, TimeOrNow, WriteFlags,
};

use crate::fs::{Attr, ErrorKind, Filesystem, FsError, ListingItem, PageCache};
use crate::workers::Workers;

/// Requests that may wait on the database or a store are answered on `workers`, so the FUSE
/// threads stay free to read the next request (see `workers`).
#[derive(Clone)]
pub struct FuseAdapter {
    core: Arc<Filesystem>,
    workers: Arc<Workers>,
    /// Files made by `mknod` (see `mknod`): inode → the write handle of the new file, until the
    /// open that follows takes it over.
    made: Arc<Mutex<HashMap<u64, u64>>>,
    /// FUSE passthrough: files served whole from a local file are read by the kernel directly
    /// (root only; off when the kernel refuses it).
    passthrough: Arc<std::sync::atomic::AtomicBool>,
    /// Passthrough handles and write opens in progress (see `Passthrough`).
    pt: Arc<Mutex<Passthrough>>,
}

/// The kernel fails any open of an inode that is not passthrough while a passthrough one is
/// open (EIO, after djfs has answered it). So the two are kept apart: a write open waits for the
/// passthrough readers of its file to close, and a read of a file being opened for writing, or
/// written, is not handed to the kernel.
#[derive(Default)]
struct Passthrough {
    /// The kernel's backing file of each passthrough handle, with its inode, until its release.
    backing: HashMap<u64, (u64, fuser::BackingId)>,
    /// Inodes being opened for writing, and how many times at once.
    opening: HashMap<u64, usize>,
}

impl Passthrough {
    fn held(&self, ino: u64) -> bool {
        self.backing.values().any(|(i, _)| *i == ino)
    }
}

/// How long a write open waits for the passthrough readers of its file to close (then EBUSY).
const PASSTHROUGH_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Workers answering requests at once, at most; idle ones end after this.
const MAX_WORKERS: usize = 64;
const WORKER_IDLE: std::time::Duration = std::time::Duration::from_secs(30);
/// How long a file made by `mknod` waits for the open that writes it (then it is stored empty,
/// as `touch` would make it).
const MADE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

impl FuseAdapter {
    /// `passthrough`: try FUSE passthrough (needs root and a kernel that has it).
    pub fn new(core: Arc<Filesystem>, passthrough: bool) -> FuseAdapter {
        FuseAdapter {
            core,
            workers: Workers::new(MAX_WORKERS, WORKER_IDLE),
            made: Default::default(),
            passthrough: Arc::new(std::sync::atomic::AtomicBool::new(passthrough)),
            pt: Default::default(),
        }
    }

    fn passthrough_on(&self) -> bool {
        self.passthrough.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Answers an open for reading: through the kernel's passthrough when the handle is a local
    /// file served whole and its pages may be shared, else as usual.
    fn reply_opened(&self, reply: ReplyOpen, ino: u64, fh: u64, cache: PageCache) {
        if self.passthrough_on() && cache != PageCache::Bypass {
            if let Some(file) = self.core.backing_file(fh) {
                let mut pt = self.pt.lock().unwrap();
                if pt.opening.contains_key(&ino) || self.core.being_written(ino) {
                    // A writer came meanwhile: this reader goes through djfs.
                    return reply.opened(FileHandle(fh), fopen_flags(PageCache::Bypass));
                }
                match reply.open_backing(&file) {
                    Ok(id) => {
                        tracing::debug!(fh, "passthrough open");
                        reply.opened_passthrough(FileHandle(fh), FopenFlags::empty(), &id);
                        pt.backing.insert(fh, (ino, id));
                        return;
                    }
                    Err(e) => {
                        self.passthrough
                            .store(false, std::sync::atomic::Ordering::Relaxed);
                        tracing::warn!(
                            "FUSE passthrough refused ({e}): files are read through djfs"
                        );
                    }
                }
            }
        }
        reply.opened(FileHandle(fh), fopen_flags(cache));
    }

    /// Registers a write open of `ino`, once no passthrough reader holds it (waiting up to
    /// `PASSTHROUGH_WAIT`); EBUSY, saying why, if they keep it.
    fn begin_write_open(&self, ino: u64) -> Result<(), FsError> {
        let deadline = std::time::Instant::now() + PASSTHROUGH_WAIT;
        loop {
            let mut pt = self.pt.lock().unwrap();
            if !pt.held(ino) {
                *pt.opening.entry(ino).or_default() += 1;
                return Ok(());
            }
            drop(pt);
            if std::time::Instant::now() > deadline {
                return Err(ErrorKind::Busy.because(format!(
                    "{}: open for reading straight from its store file (FUSE passthrough); \
                     it can be written once those readers close it",
                    self.core.place(ino)
                )));
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    fn end_write_open(&self, ino: u64) {
        let mut pt = self.pt.lock().unwrap();
        if let Some(n) = pt.opening.get_mut(&ino) {
            *n -= 1;
            if *n == 0 {
                pt.opening.remove(&ino);
            }
        }
    }

    /// An open for writing (or truncation) of `ino`, answered.
    fn open_for_write(&self, ino: u64, truncate: bool, reply: ReplyOpen) {
        let made = self.made.lock().unwrap().remove(&ino);
        if let Some(fh) = made {
            // The file `mknod` made: written through the handle it started.
            if truncate {
                if let Err(e) = self.core.truncate(ino, 0) {
                    self.core.release(fh);
                    return reply.error(failed("open", e));
                }
            }
            return reply.opened(FileHandle(fh), fopen_flags(PageCache::Bypass));
        }
        match self.core.open_with(ino, true, truncate) {
            Ok((fh, cache)) => reply.opened(FileHandle(fh), fopen_flags(cache)),
            Err(e) => reply.error(failed("open", e)),
        }
    }

    /// Runs a request's work on a worker thread, which replies.
    fn off_thread(&self, work: impl FnOnce(&FuseAdapter) + Send + 'static) {
        let me = self.clone();
        self.workers.run(move || work(&me));
    }

    fn file_attr(&self, attr: &Attr) -> FileAttr {
        let opts = self.core.options();
        FileAttr {
            ino: INodeNo(attr.ino),
            size: attr.size,
            blocks: attr.size.div_ceil(512),
            atime: attr.mtime,
            mtime: attr.mtime,
            ctime: attr.mtime,
            crtime: attr.mtime,
            kind: if attr.is_dir {
                FileType::Directory
            } else {
                FileType::RegularFile
            },
            perm: attr.perm,
            nlink: if attr.is_dir { 2 } else { 1 },
            uid: opts.uid,
            gid: opts.gid,
            rdev: 0,
            blksize: 128 * 1024,
            flags: 0,
        }
    }
}

impl FuseAdapter {
    /// Changes djfs does not support: EROFS on read-only mounts, else EPERM.
    fn refused(&self) -> Errno {
        if self.core.options().read_only {
            Errno::EROFS
        } else {
            Errno::EPERM
        }
    }
}

fn fopen_flags(cache: PageCache) -> FopenFlags {
    match cache {
        PageCache::Keep => FopenFlags::FOPEN_KEEP_CACHE,
        PageCache::Refresh => FopenFlags::empty(),
        PageCache::Bypass => FopenFlags::FOPEN_DIRECT_IO,
    }
}

/// The one place a failed operation is logged (with its cause) and turned into an errno.
fn failed(op: &str, e: FsError) -> Errno {
    e.report(op);
    Errno::from_i32(e.errno())
}

impl fuser::Filesystem for FuseAdapter {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        // Parallel lookups/readdirs in one folder; large reads; many requests in flight.
        let _ = config.add_capabilities(InitFlags::FUSE_PARALLEL_DIROPS);
        let _ = config.add_capabilities(InitFlags::FUSE_DO_READDIRPLUS);
        // O_TRUNC arrives with open, so a value being replaced is never read first.
        let _ = config.add_capabilities(InitFlags::FUSE_ATOMIC_O_TRUNC);
        // Files opened for direct reads (values that may change) can still be mmap'ed.
        let _ = config.add_capabilities(InitFlags::FUSE_DIRECT_IO_ALLOW_MMAP);
        let _ = config.set_max_readahead(1024 * 1024);
        let _ = config.set_max_background(64);
        if self.passthrough_on() {
            let granted = config.add_capabilities(InitFlags::FUSE_PASSTHROUGH).is_ok()
                && config.set_max_stack_depth(1).is_ok();
            if granted {
                tracing::info!(
                    "FUSE passthrough: on (store and cache files are read by the kernel directly)"
                );
            } else {
                self.passthrough
                    .store(false, std::sync::atomic::Ordering::Relaxed);
                tracing::info!("FUSE passthrough: off (the kernel does not offer it)");
            }
        }
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let name = name.to_owned();
        self.off_thread(move |me| match me.core.lookup(parent.0, &name) {
            Ok(attr) => reply.entry(
                &me.core.entry_ttl(attr.ino),
                &me.file_attr(&attr),
                Generation(0),
            ),
            Err(e) => reply.error(failed("lookup", e)),
        });
    }

    /// The kernel dropped lookups of an inode: what djfs keeps of it may go. (fuser's default
    /// `batch_forget` calls this for each inode.)
    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.core.forget(ino.0, nlookup);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        self.off_thread(move |me| match me.core.getattr(ino.0) {
            Ok(attr) => reply.attr(&me.core.entry_ttl(attr.ino), &me.file_attr(&attr)),
            Err(e) => reply.error(failed("getattr", e)),
        });
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        self.off_thread(move |me| {
            let write = flags.acc_mode() != OpenAccMode::O_RDONLY;
            let truncate = flags.0 & libc::O_TRUNC != 0;
            if (write || truncate) && me.core.options().read_only {
                return reply.error(Errno::EROFS);
            }
            if !(write || truncate) {
                return match me.core.open_with(ino.0, false, false) {
                    Ok((fh, cache)) => me.reply_opened(reply, ino.0, fh, cache),
                    Err(e) => reply.error(failed("open", e)),
                };
            }
            if let Err(busy) = me.begin_write_open(ino.0) {
                return reply.error(failed("open", busy));
            }
            me.open_for_write(ino.0, truncate, reply);
            me.end_write_open(ino.0);
        });
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        self.off_thread(move |me| match me.core.read(fh.0, offset, size) {
            Ok(data) => reply.data(&data),
            Err(e) => reply.error(failed("read", e)),
        });
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.off_thread(move |me| {
            me.pt.lock().unwrap().backing.remove(&fh.0);
            me.core.release(fh.0);
            reply.ok();
        });
    }

    /// Folders are never opened (see `fs::walks`): ENOSYS makes the kernel stop asking, read
    /// listings by folder and offset, and keep what it read until djfs says otherwise.
    fn opendir(&self, _req: &Request, _ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        reply.error(Errno::ENOSYS);
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        reply: ReplyDirectory,
    ) {
        // Off the FUSE thread: a paged listing may read its next page here.
        self.off_thread(move |me| {
            let mut reply = reply;
            let filled = me
                .core
                .fill_listing(ino.0, offset, |item, next| match item {
                    // The parent's inode number does not matter to the kernel for "..", which it
                    // resolves itself.
                    ListingItem::Dot(name) => reply.add(ino, next, FileType::Directory, name),
                    ListingItem::Entry(entry) => {
                        let kind = if entry.is_dir {
                            FileType::Directory
                        } else {
                            FileType::RegularFile
                        };
                        reply.add(INodeNo(entry.ino), next, kind, &entry.name)
                    }
                });
            match filled {
                Ok(ended) => {
                    reply.ok();
                    if let Some(walk) = ended {
                        me.core.walk_done(walk);
                    }
                }
                Err(e) => reply.error(failed("readdir", e)),
            }
        });
    }

    /// Entries with their attributes, from the listing query: `ls -l` and `find` need no lookup
    /// per entry.
    fn readdirplus(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        reply: ReplyDirectoryPlus,
    ) {
        self.off_thread(move |me| {
            let mut reply = reply;
            let ttl = me.core.attr_ttl();
            // `.` and `..` carry the folder's own attributes, asked once per reply that has them.
            let mut own: Option<FileAttr> = None;
            let mut own_failed = None;
            let filled = me
                .core
                .fill_listing(ino.0, offset, |item, next| match item {
                    ListingItem::Dot(name) => {
                        if own.is_none() {
                            match me.core.getattr(ino.0) {
                                Ok(attr) => own = Some(me.file_attr(&attr)),
                                Err(e) => {
                                    own_failed = Some(e);
                                    return true;
                                }
                            }
                        }
                        let own = own.as_ref().expect("set above");
                        reply.add(ino, next, name, &ttl, own, Generation(0))
                    }
                    ListingItem::Entry(entry) => {
                        // The kernel counts each entry of a READDIRPLUS reply as a lookup (and will
                        // `forget` it): counted here, and handed out again if it went meanwhile. An
                        // entry the reply has no room for is taken back at once.
                        let entry_ino = me.core.entry_given(entry);
                        let attr = me.file_attr(&Attr {
                            ino: entry_ino,
                            ..entry.attr.clone()
                        });
                        let full = reply.add(
                            INodeNo(entry_ino),
                            next,
                            &entry.name,
                            &me.core.entry_ttl_of(&entry.node),
                            &attr,
                            Generation(0),
                        );
                        if full {
                            me.core.forget(entry_ino, 1);
                        }
                        full
                    }
                });
            match (filled, own_failed) {
                (_, Some(e)) | (Err(e), None) => reply.error(failed("readdirplus", e)),
                (Ok(ended), None) => {
                    reply.ok();
                    if let Some(walk) = ended {
                        me.core.walk_done(walk);
                    }
                }
            }
        });
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        self.off_thread(move |me| {
            // Every close: written bytes are stored now, so errors reach close().
            match me.core.flush(fh.0) {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(failed("flush", e)),
            }
        });
    }

    fn fsync(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        self.off_thread(move |me| match me.core.fsync(fh.0) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(failed("fsync", e)),
        });
    }

    fn ioctl(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _flags: IoctlFlags,
        _cmd: u32,
        _in_data: &[u8],
        _out_size: u32,
        reply: ReplyIoctl,
    ) {
        reply.error(Errno::ENOTTY);
    }

    // Extended attributes (measured with cp -a, rsync -aAX and tar --xattrs, see the README):
    // none are stored. Setting one (system.posix_acl_*, user.*, …) is accepted without effect,
    // as chmod and chown are; listing gives none. Reading one is ENOSYS: the kernel then stops
    // asking (callers get EOPNOTSUPP), instead of asking for security.capability on every write.
    fn getxattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _name: &OsStr,
        _size: u32,
        reply: ReplyXattr,
    ) {
        reply.error(Errno::ENOSYS);
    }

    fn listxattr(&self, _req: &Request, _ino: INodeNo, size: u32, reply: ReplyXattr) {
        if size == 0 {
            reply.size(0);
        } else {
            reply.data(&[]);
        }
    }

    // ----- changes -----

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        _mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        self.off_thread(move |me| {
            if me.core.options().read_only {
                return reply.error(Errno::EROFS);
            }
            // Sizes change through writes; modes, owners and times are the mount's and are kept
            // (accepted without effect, so `cp -p` and `touch` do not fail).
            let result = match size {
                Some(size) => me.core.truncate(ino.0, size),
                None => me.core.getattr(ino.0),
            };
            match result {
                Ok(attr) => reply.attr(&me.core.entry_ttl(attr.ino), &me.file_attr(&attr)),
                Err(e) => reply.error(failed("setattr", e)),
            }
        });
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        _mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        let name = name.to_owned();
        self.off_thread(move |me| match me.core.mkdir(parent.0, &name) {
            Ok(attr) => reply.entry(
                &me.core.entry_ttl(attr.ino),
                &me.file_attr(&attr),
                Generation(0),
            ),
            Err(e) => reply.error(failed("mkdir", e)),
        });
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let name = name.to_owned();
        self.off_thread(move |me| match me.core.unlink(parent.0, &name) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(failed("unlink", e)),
        });
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let name = name.to_owned();
        self.off_thread(move |me| match me.core.rmdir(parent.0, &name) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(failed("rmdir", e)),
        });
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        _mode: u32,
        _umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        let name = name.to_owned();
        self.off_thread(move |me| match me.core.create(parent.0, &name) {
            Ok((attr, fh)) => reply.created(
                &me.core.attr_ttl(),
                &me.file_attr(&attr),
                Generation(0),
                FileHandle(fh),
                fopen_flags(PageCache::Bypass),
            ),
            Err(e) => reply.error(failed("create", e)),
        });
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        match self.core.write(fh.0, offset, data) {
            Ok(n) => reply.written(n),
            Err(e) => reply.error(failed("write", e)),
        }
    }

    /// A regular file (`tar --xattrs -x` makes each file with mknod, sets its extended
    /// attributes, then opens it to write): made as `create` makes it, and its write handle kept
    /// for the open that follows, so that nothing is stored before the bytes are written. Other
    /// kinds (devices, FIFOs, sockets) are not supported: names here are data.
    fn mknod(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        if mode & libc::S_IFMT != libc::S_IFREG {
            return reply.error(self.refused());
        }
        let name = name.to_owned();
        self.off_thread(move |me| {
            let (attr, fh) = match me.core.create(parent.0, &name) {
                Ok(made) => made,
                Err(e) => return reply.error(failed("mknod", e)),
            };
            if let Some(old) = me.made.lock().unwrap().insert(attr.ino, fh) {
                me.core.release(old);
            }
            // Never opened: released after a while (stored empty, as `touch` stores it).
            let (made, core) = (me.made.clone(), me.core.clone());
            std::thread::spawn(move || {
                std::thread::sleep(MADE_WAIT);
                let mut made = made.lock().unwrap();
                if made.get(&attr.ino) == Some(&fh) {
                    made.remove(&attr.ino);
                    drop(made);
                    core.release_unopened(fh);
                }
            });
            reply.entry(
                &me.core.entry_ttl(attr.ino),
                &me.file_attr(&attr),
                Generation(0),
            );
        });
    }

    // Not supported: names here are data (keys, attributes), not free-form links or moves.
    fn symlink(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _link_name: &OsStr,
        _target: &Path,
        reply: ReplyEntry,
    ) {
        reply.error(self.refused());
    }

    /// Only the last step of a temp-then-rename save (a temporary file renamed to an
    /// attribute's name in its folder); other renames are EPERM.
    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        if self.core.options().read_only {
            return reply.error(Errno::EROFS);
        }
        if flags.contains(RenameFlags::RENAME_EXCHANGE) {
            return reply.error(Errno::EPERM);
        }
        let (name, newname) = (name.to_owned(), newname.to_owned());
        self.off_thread(
            move |me| match me.core.rename(parent.0, &name, newparent.0, &newname) {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(failed("rename", e)),
            },
        );
    }

    fn link(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _newparent: INodeNo,
        _newname: &OsStr,
        reply: ReplyEntry,
    ) {
        reply.error(self.refused());
    }

    fn setxattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _name: &OsStr,
        _value: &[u8],
        _flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        if self.core.options().read_only {
            return reply.error(Errno::EROFS);
        }
        reply.ok();
    }

    fn removexattr(&self, _req: &Request, _ino: INodeNo, _name: &OsStr, reply: ReplyEmpty) {
        if self.core.options().read_only {
            return reply.error(Errno::EROFS);
        }
        reply.error(Errno::ENODATA);
    }

    fn fallocate(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _offset: u64,
        _length: u64,
        _mode: i32,
        reply: ReplyEmpty,
    ) {
        reply.error(self.refused());
    }
}
