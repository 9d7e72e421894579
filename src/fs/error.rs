//! Errors of the filesystem core: a kind (which errno the program gets), a message saying what
//! failed and where, and the cause. The core never logs a failure it returns: the FUSE adapter
//! logs each failed operation once (`FsError::report`), so every EIO reaches the log with its
//! cause and no failure is logged twice.

use std::fmt;
use std::sync::Arc;

/// What kind of failure, i.e. which errno the program gets (see `errno`, the one table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    NotFound,
    NotDir,
    IsDir,
    ReadOnly,
    BadHandle,
    /// The row or value already exists.
    Exists,
    /// The content or name is not acceptable (bad value, not an array, …).
    Invalid,
    /// Not something the mount lets change (a key attribute, a filepath, a view, …).
    NotPermitted,
    /// A row others depend on (delete refused).
    NotEmpty,
    /// An unused object that became referenced meanwhile.
    Busy,
    /// A name longer than 255 bytes.
    NameTooLong,
    /// The staging folder's filesystem is full (the value is not stored; the old one stays).
    NoSpace,
    /// The database, a store or the mount's own files failed, or a stored value is damaged.
    Io,
}

impl ErrorKind {
    /// The errno each kind is reported as.
    pub fn errno(self) -> i32 {
        match self {
            ErrorKind::NotFound => libc::ENOENT,
            ErrorKind::NotDir => libc::ENOTDIR,
            ErrorKind::IsDir => libc::EISDIR,
            ErrorKind::ReadOnly => libc::EROFS,
            ErrorKind::BadHandle => libc::EBADF,
            ErrorKind::Exists => libc::EEXIST,
            ErrorKind::Invalid => libc::EINVAL,
            ErrorKind::NotPermitted => libc::EPERM,
            ErrorKind::NotEmpty => libc::ENOTEMPTY,
            ErrorKind::Busy => libc::EBUSY,
            ErrorKind::NameTooLong => libc::ENAMETOOLONG,
            ErrorKind::NoSpace => libc::ENOSPC,
            ErrorKind::Io => libc::EIO,
        }
    }

    /// An error of this kind saying why (`"{place}: a read-only view; not written"`).
    pub fn because(self, message: impl Into<String>) -> FsError {
        FsError {
            kind: self,
            message: Some(message.into()),
            source: None,
        }
    }

    /// Failures of the system (logged as errors) rather than refusals of what was asked.
    fn is_failure(self) -> bool {
        matches!(self, ErrorKind::Io | ErrorKind::NoSpace)
    }
}

/// A failed operation of the core.
#[derive(Clone)]
pub struct FsError {
    kind: ErrorKind,
    message: Option<String>,
    source: Option<Arc<anyhow::Error>>,
}

pub type FsResult<T> = Result<T, FsError>;

/// The bare refusals, which need no words (`ls` of a name that is not there is ENOENT and
/// nothing more). There is deliberately no bare `Io`: an EIO is built with `FsError::io` or
/// `ErrorKind::Io.because(…)`, so it always says why.
#[allow(non_upper_case_globals)]
impl FsError {
    pub const NotFound: FsError = FsError::bare(ErrorKind::NotFound);
    pub const NotDir: FsError = FsError::bare(ErrorKind::NotDir);
    pub const IsDir: FsError = FsError::bare(ErrorKind::IsDir);
    pub const ReadOnly: FsError = FsError::bare(ErrorKind::ReadOnly);
    pub const BadHandle: FsError = FsError::bare(ErrorKind::BadHandle);
    pub const Exists: FsError = FsError::bare(ErrorKind::Exists);
    pub const Invalid: FsError = FsError::bare(ErrorKind::Invalid);
    pub const NotPermitted: FsError = FsError::bare(ErrorKind::NotPermitted);
    pub const NotEmpty: FsError = FsError::bare(ErrorKind::NotEmpty);
    pub const Busy: FsError = FsError::bare(ErrorKind::Busy);
    pub const NameTooLong: FsError = FsError::bare(ErrorKind::NameTooLong);
}

impl FsError {
    const fn bare(kind: ErrorKind) -> FsError {
        FsError {
            kind,
            message: None,
            source: None,
        }
    }

    /// `what` failed because of `cause`: ENOSPC when a full filesystem is anywhere in the
    /// cause's chain (staging, the upload journal), EIO for anything else.
    pub fn io(what: impl Into<String>, cause: impl Into<anyhow::Error>) -> FsError {
        let cause: anyhow::Error = cause.into();
        let full = cause
            .chain()
            .filter_map(|c| c.downcast_ref::<std::io::Error>())
            .any(|e| {
                e.raw_os_error() == Some(libc::ENOSPC)
                    || e.kind() == std::io::ErrorKind::StorageFull
            });
        FsError {
            kind: if full {
                ErrorKind::NoSpace
            } else {
                ErrorKind::Io
            },
            message: Some(what.into()),
            source: Some(Arc::new(cause)),
        }
    }

    /// A state the code does not expect (a bug, not the user's doing): EIO.
    pub fn internal(what: impl fmt::Display) -> FsError {
        ErrorKind::Io.because(format!("internal error: {what}"))
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn errno(&self) -> i32 {
        self.kind.errno()
    }

    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// The same error with `place` (a path, an operation) in front of its message.
    pub fn at(mut self, place: impl fmt::Display) -> FsError {
        self.message = Some(match self.message {
            Some(m) => format!("{place}: {m}"),
            None => place.to_string(),
        });
        self
    }

    /// Logs the failed operation `op` once: failures of the system as errors with their cause,
    /// refusals that say why as warnings, bare refusals (ENOENT of a lookup) at debug level.
    pub fn report(&self, op: &str) {
        if self.kind.is_failure() {
            tracing::error!("{op}: {self}");
        } else if self.message.is_some() {
            tracing::warn!("{op}: {self}");
        } else {
            tracing::debug!("{op}: {self}");
        }
    }
}

impl fmt::Display for FsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.message {
            Some(m) => write!(f, "{m}")?,
            None => write!(f, "{}", std::io::Error::from_raw_os_error(self.errno()))?,
        }
        if let Some(cause) = &self.source {
            write!(f, ": {cause:#}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for FsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}({self})", self.kind)
    }
}

impl std::error::Error for FsError {}

/// Errors compare by kind (what the program sees); the words are for the log.
impl PartialEq for FsError {
    fn eq(&self, other: &FsError) -> bool {
        self.kind == other.kind
    }
}

impl Eq for FsError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_has_its_errno() {
        assert_eq!(FsError::NotFound.errno(), libc::ENOENT);
        assert_eq!(FsError::NameTooLong.errno(), libc::ENAMETOOLONG);
        assert_eq!(ErrorKind::Io.because("x").errno(), libc::EIO);
    }

    #[test]
    fn a_full_disk_anywhere_in_the_cause_is_enospc_and_keeps_the_cause() {
        let full = std::io::Error::from_raw_os_error(libc::ENOSPC);
        let err = FsError::io(
            "staging the write",
            anyhow::Error::new(full).context("spill"),
        );
        assert_eq!(err.kind(), ErrorKind::NoSpace);
        let text = err.to_string();
        assert!(text.starts_with("staging the write: spill: "), "{text}");
        assert!(text.contains("No space left on device"), "{text}");
        let other = FsError::io("reading", std::io::Error::other("broken pipe"));
        assert_eq!(other.kind(), ErrorKind::Io);
        assert_eq!(other.to_string(), "reading: broken pipe");
    }

    #[test]
    fn context_goes_in_front_and_bare_errors_say_their_errno() {
        let err = ErrorKind::Invalid
            .because("not an array")
            .at("db/T/id=1/x.npy");
        assert_eq!(err.to_string(), "db/T/id=1/x.npy: not an array");
        assert_eq!(err, FsError::Invalid);
        assert_eq!(
            FsError::NotFound.to_string(),
            "No such file or directory (os error 2)"
        );
        assert_eq!(
            FsError::internal("no handle").to_string(),
            "internal error: no handle"
        );
    }
}
