//! .npy parser and encoder: arbitrary bytes, and the encoder's output must decode.
#![no_main]

use djfs::codec::{decode_blob, encode_npy, encode_raw_blob_check};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(blob) = encode_npy(data) {
        decode_blob(&blob).expect("encoded blob decodes");
        encode_raw_blob_check(&blob).expect("encoded blob passes the raw check");
    }
    let _ = encode_raw_blob_check(data);
});
