//! Blob decoder: arbitrary bytes through every read path of the codec.
#![no_main]

use djfs::codec::{
    classify_blob, decode_blob, decode_blob_with, inflate_blob, plain_prefix, to_json, BlobError,
    BlobShape, DecodeOptions, NpyView,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // the full decoder and its JSON rendering, both reader modes
    for dims32 in [false, true] {
        if let Ok(v) = decode_blob_with(data, DecodeOptions { dims32 }) {
            let j = to_json(&v);
            assert!(j.ends_with('\n'));
        }
    }
    // classification from every prefix length must agree with the full blob
    let full = classify_blob(data, data.len() as u64);
    assert!(!matches!(full, Err(BlobError::NeedMore(_))));
    let mut n = 0usize;
    let incremental = loop {
        match classify_blob(&data[..n], data.len() as u64) {
            Err(BlobError::NeedMore(m)) => {
                assert!(m > n && m <= data.len());
                n = m;
            }
            r => break r,
        }
    };
    // A damaged zlib stream may only show its damage once enough of it is
    // read, so with a short prefix a compressed blob can classify where the
    // whole one is Corrupt; otherwise prefix and whole must agree.
    let compressed = data.starts_with(b"ZL123\0");
    if !(compressed && matches!(full, Err(BlobError::Corrupt(_)))) {
        assert_eq!(incremental, full);
    }
    let _ = plain_prefix(data, 4096);
    if let Ok(BlobShape::Array(a)) = full {
        // a compressed blob may still fail to inflate past its header
        if let Ok(plain) = inflate_blob(data) {
            let v = NpyView::new(&a);
            let whole = v.read(&plain, 0, usize::MAX);
            assert_eq!(whole.len() as u64, v.size());
            // the full decoder agrees that it is a valid blob
            assert!(decode_blob(data).is_ok());
        }
    }
});
