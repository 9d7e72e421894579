//! Pure byte-level codecs: DataJoint blob envelope (mYm / dj0 / ZL123), the
//! virtual `.npy` view of arrays, the full value decoder with its JSON
//! rendering, and the `.npy` → blob encoder (spec §1).
//!
//! No I/O here: callers hand in byte slices (a prefix of the stored blob to
//! classify it, the whole plain blob to serve file bytes).

pub mod blob;
pub mod encode;
pub mod json;
pub mod npy;
pub mod value;

pub use blob::{
    classify_blob, inflate_blob, plain_prefix, ArrayHeader, BlobError, BlobShape, ElementClass,
    MAX_NDIM, MAX_PLAIN_HEADER, RECOMMENDED_PREFIX,
};
pub use encode::{
    compress_blob, encode_npy, encode_npy_plain, encode_raw_blob_check, parse_npy, EncodeError,
    NpyDtype, NpyFile,
};
pub use json::to_json;
pub use npy::NpyView;
pub use value::{decode_blob, decode_blob_with, decode_plain, DecodeOptions, Value};
