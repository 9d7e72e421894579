//! Pure byte-level codecs: DataJoint blob envelope (mYm / dj0 / ZL123) and the
//! virtual `.npy` view of `A` arrays (spec §1.2, §1.5, §1.10).
//!
//! No I/O here: callers hand in byte slices (a prefix of the stored blob to
//! classify it, the whole plain blob to serve file bytes).

pub mod blob;
pub mod npy;

pub use blob::{
    classify_blob, inflate_blob, plain_prefix, ArrayHeader, BlobError, BlobShape, ElementClass,
    MAX_NDIM, MAX_PLAIN_HEADER, RECOMMENDED_PREFIX,
};
pub use npy::NpyView;
