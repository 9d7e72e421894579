//! Virtual `.npy` files for `A`-array blobs (spec §1.10).
//!
//! The file is header + element data. The header is generated once; data
//! bytes are sliced out of the plain blob on demand. `fortran_order` is always
//! `True` so that real arrays are served verbatim (blob data is column-major).

use super::blob::ArrayHeader;

const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// numpy pads the preamble so the data starts on a 64-byte boundary.
const ALIGN: usize = 64;
/// numpy (>= 1.24) leaves room after the header so the growth axis (the last
/// one for Fortran order) can be rewritten in place with up to 21 digits.
const GROWTH_AXIS_MAX_DIGITS: usize = 21;

/// A virtual .npy file for an array blob: header bytes are generated, data is served from the plain blob without building the file.
#[derive(Clone, Debug)]
pub struct NpyView {
    header: Vec<u8>,
    array: ArrayHeader,
}

/// Python's repr of a shape tuple: `()`, `(3,)`, `(2, 3, 4)`.
fn shape_repr(shape: &[u64]) -> String {
    match shape {
        [] => "()".to_string(),
        [d] => format!("({d},)"),
        _ => {
            let parts: Vec<String> = shape.iter().map(u64::to_string).collect();
            format!("({})", parts.join(", "))
        }
    }
}

/// The full preamble exactly as numpy's `_write_array_header` lays it out:
/// magic, version, header length, dict, spaces, `\n`, total a multiple of 64.
fn build_header(array: &ArrayHeader) -> Vec<u8> {
    let mut dict = format!(
        "{{'descr': '{}', 'fortran_order': True, 'shape': {}, }}",
        array.class.npy_descr(array.complex),
        shape_repr(&array.shape)
    );
    if let Some(last) = array.shape.last() {
        let digits = last.to_string().len();
        dict.extend(std::iter::repeat_n(
            ' ',
            GROWTH_AXIS_MAX_DIGITS.saturating_sub(digits),
        ));
    }
    // Version 1.0 has a u16 length; numpy only falls back to 2.0 (u32) when
    // the header does not fit (cannot happen with <= 64 dims, kept for safety).
    let padded = |prefix_len: usize| {
        let hlen = dict.len() + 1; // + '\n'
                                   // numpy adds 1..=64 spaces: a full block when already aligned.
        hlen + ALIGN - (prefix_len + hlen) % ALIGN
    };
    let v1_len = padded(MAGIC.len() + 2 + 2);
    let (version, total_hlen, mut out) = if v1_len <= usize::from(u16::MAX) {
        let mut out = Vec::with_capacity(10 + v1_len);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&[1, 0]);
        out.extend_from_slice(&(v1_len as u16).to_le_bytes());
        (1, v1_len, out)
    } else {
        let v2_len = padded(MAGIC.len() + 2 + 4);
        let mut out = Vec::with_capacity(12 + v2_len);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&[2, 0]);
        out.extend_from_slice(&(v2_len as u32).to_le_bytes());
        (2, v2_len, out)
    };
    let preamble = out.len();
    out.extend_from_slice(dict.as_bytes());
    out.resize(preamble + total_hlen - 1, b' ');
    out.push(b'\n');
    debug_assert_eq!(out.len() % ALIGN, 0, "npy v{version} header not aligned");
    out
}

impl NpyView {
    pub fn new(array: &ArrayHeader) -> NpyView {
        NpyView {
            header: build_header(array),
            array: array.clone(),
        }
    }

    /// npy v1.0 preamble, padded with spaces + '\n' to a multiple of 64
    /// (numpy's own layout); v2.0 only if the header would exceed 65535.
    pub fn header(&self) -> &[u8] {
        &self.header
    }

    /// The array this view serves.
    pub fn array(&self) -> &ArrayHeader {
        &self.array
    }

    /// header len + data len
    pub fn size(&self) -> u64 {
        self.header.len() as u64 + self.array.data_len
    }

    /// Bytes [offset, offset+len) of the .npy file (clamped to size), given the whole PLAIN blob.
    /// Real arrays: data part is a verbatim slice of plain[data_offset..]; compact dj0
    /// int/bool scalars: the header's `inline` bytes (`plain` is not used). Complex: the blob holds all real parts then all imaginary parts (Fortran order); npy wants interleaved (re,im) per element — compute only the requested range, never the whole file.
    ///
    /// If `plain` is shorter than the array header promised (the caller passed
    /// the wrong blob), the result stops early instead of panicking.
    pub fn read(&self, plain: &[u8], offset: u64, len: usize) -> Vec<u8> {
        let size = self.size();
        if offset >= size || len == 0 {
            return Vec::new();
        }
        let end = offset.saturating_add(len as u64).min(size);
        // Never reserve more than header + plain could supply.
        let cap = (end - offset).min((self.header.len() + plain.len()) as u64);
        let mut out = Vec::with_capacity(cap as usize);
        let hlen = self.header.len() as u64;
        if offset < hlen {
            out.extend_from_slice(&self.header[offset as usize..end.min(hlen) as usize]);
        }
        if end > hlen {
            let start = offset.max(hlen) - hlen;
            self.read_data(plain, start, end - hlen, &mut out);
        }
        out
    }

    /// Append npy data bytes [start, end) (relative to the data section).
    fn read_data(&self, plain: &[u8], start: u64, end: u64, out: &mut Vec<u8>) {
        if let Some(inline) = &self.array.inline {
            let from = clamp_index(start, inline.len());
            let to = clamp_index(end, inline.len());
            out.extend_from_slice(&inline[from..to]);
            return;
        }
        let base = self.array.data_offset as u64;
        if !self.array.complex {
            let from = clamp_index(base.saturating_add(start), plain.len());
            let to = clamp_index(base.saturating_add(end), plain.len());
            out.extend_from_slice(&plain[from..to]);
            return;
        }
        // npy element i is (re_i, im_i); the blob has re_0..re_{n-1} then
        // im_0..im_{n-1}. Walk the range in runs that stay inside one part.
        let e = self.array.class.size() as u64;
        let plane = self.array.data_len / 2;
        let mut p = start;
        while p < end {
            let elem = p / (2 * e);
            let within = p % (2 * e);
            let part = within / e;
            let byte = within % e;
            let run = (e - byte).min(end - p);
            let src = base + part * plane + elem * e + byte;
            let from = clamp_index(src, plain.len());
            let to = clamp_index(src + run, plain.len());
            out.extend_from_slice(&plain[from..to]);
            if (to - from) as u64 != run {
                return; // plain too short
            }
            p += run;
        }
    }
}

fn clamp_index(i: u64, len: usize) -> usize {
    usize::try_from(i).map_or(len, |i| i.min(len))
}

#[cfg(test)]
mod tests {
    use super::super::blob::tests::{a_blob, compress, hex};
    use super::super::blob::{classify_blob, inflate_blob, BlobShape, ElementClass};
    use super::*;
    use proptest::prelude::*;

    fn view(stored: &[u8]) -> NpyView {
        match classify_blob(stored, stored.len() as u64) {
            Ok(BlobShape::Array(a)) => NpyView::new(&a),
            other => panic!("expected array, got {other:?}"),
        }
    }

    /// numpy's layout: dict, spaces, '\n', whole preamble `total` bytes.
    fn numpy_header(dict: &str, total: usize) -> Vec<u8> {
        let hlen = (total - 10) as u16;
        let mut h = b"\x93NUMPY\x01\x00".to_vec();
        h.extend_from_slice(&hlen.to_le_bytes());
        h.extend_from_slice(format!("{dict:<width$}\n", width = total - 11).as_bytes());
        h
    }

    fn full(v: &NpyView, plain: &[u8]) -> Vec<u8> {
        v.read(plain, 0, usize::MAX)
    }

    #[test]
    fn spec_float64_vector() {
        let b = hex(
            "6d596d00 41 0100000000000000 0300000000000000 06000000 00000000
             000000000000f03f 0000000000000040 0000000000000840",
        );
        let v = view(&b);
        assert_eq!(
            v.header(),
            numpy_header(
                "{'descr': '<f8', 'fortran_order': True, 'shape': (3,), }",
                128
            )
        );
        assert_eq!(v.size(), 128 + 24);
        let f = full(&v, &b);
        assert_eq!(&f[128..], &b[29..]);
        assert_eq!(v.read(&b, 128 + 8, 8), 2.0f64.to_le_bytes());
    }

    #[test]
    fn spec_int32_matrix_fortran() {
        let b = hex(
            "6d596d00 41 0200000000000000 0200000000000000 0300000000000000 0c000000 00000000
             01000000 04000000 02000000 05000000 03000000 06000000",
        );
        let v = view(&b);
        assert_eq!(
            v.header(),
            numpy_header(
                "{'descr': '<i4', 'fortran_order': True, 'shape': (2, 3), }",
                128
            )
        );
        let data: Vec<i32> = full(&v, &b)[128..]
            .chunks(4)
            .map(|c| i32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(data, [1, 4, 2, 5, 3, 6]);
    }

    #[test]
    fn spec_complex_interleaved() {
        let b = hex(
            "6d596d00 41 0100000000000000 0200000000000000 06000000 01000000
             000000000000f03f 0000000000000840 | 0000000000000040 00000000000010c0",
        );
        let v = view(&b);
        assert_eq!(
            v.header(),
            numpy_header(
                "{'descr': '<c16', 'fortran_order': True, 'shape': (2,), }",
                128
            )
        );
        let want: Vec<u8> = [1.0f64, 2.0, 3.0, -4.0]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        assert_eq!(&full(&v, &b)[128..], want.as_slice());
        // a range straddling header, re/im boundaries, starting mid-element
        assert_eq!(
            v.read(&b, 120, 8 + 13),
            [&v.header()[120..], &want[..13]].concat()
        );
        assert_eq!(v.read(&b, 128 + 5, 20), want[5..25].to_vec());
        assert_eq!(v.read(&b, v.size() - 3, 100), want[29..].to_vec());
        assert!(v.read(&b, v.size(), 10).is_empty());
        assert!(v.read(&b, u64::MAX, usize::MAX).is_empty());
    }

    #[test]
    fn spec_bool_0d_datetime() {
        let b = hex("6d596d00 41 0100000000000000 0200000000000000 03000000 00000000 01 00");
        let v = view(&b);
        assert_eq!(
            v.header(),
            numpy_header(
                "{'descr': '|b1', 'fortran_order': True, 'shape': (2,), }",
                128
            )
        );
        assert_eq!(&full(&v, &b)[128..], [1, 0]);

        let b = hex("646a3000 41 0000000000000000 09000000 00000000 07");
        let v = view(&b);
        assert_eq!(
            v.header(),
            numpy_header(
                "{'descr': '|u1', 'fortran_order': True, 'shape': (), }",
                128
            )
        );
        assert_eq!(&full(&v, &b)[128..], [7]);

        let b =
            hex("646a3000 41 0100000000000000 0100000000000000 03000100 00000000 5747000000000000");
        let v = view(&b);
        assert_eq!(
            v.header(),
            numpy_header(
                "{'descr': '<M8[D]', 'fortran_order': True, 'shape': (1,), }",
                128
            )
        );
        assert_eq!(&full(&v, &b)[128..], 18263i64.to_le_bytes());
    }

    #[test]
    fn compact_dj0_scalars_as_0d() {
        let cases: [(&str, &str, Vec<u8>); 5] = [
            (
                "646a3000 0a 0200 80ff",
                "<i8",
                (-128i64).to_le_bytes().to_vec(),
            ),
            ("646a3000 0a 0900 000000000000000040", "", vec![]),
            (
                "646a3000 0d 000000000000f83f",
                "<f8",
                1.5f64.to_le_bytes().to_vec(),
            ),
            (
                "646a3000 0c 000000000000f03f 0000000000000040",
                "<c16",
                [1.0f64.to_le_bytes(), 2.0f64.to_le_bytes()].concat(),
            ),
            ("646a3000 0b 05", "|b1", vec![1]),
        ];
        for (h, descr, data) in cases {
            let b = hex(h);
            let a = match classify_blob(&b, b.len() as u64) {
                Ok(BlobShape::Array(a)) => a,
                Ok(BlobShape::Other) if descr.is_empty() => continue,
                other => panic!("{h}: {other:?}"),
            };
            let v = NpyView::new(&a);
            assert_eq!(
                v.header(),
                numpy_header(
                    &format!("{{'descr': '{descr}', 'fortran_order': True, 'shape': (), }}"),
                    128
                ),
                "{h}"
            );
            assert_eq!(v.size(), 128 + data.len() as u64);
            assert_eq!(&full(&v, &b)[128..], data.as_slice(), "{h}");
            // byte-wise reads agree
            let joined: Vec<u8> = (0..v.size()).flat_map(|o| v.read(&b, o, 1)).collect();
            assert_eq!(joined, full(&v, &b));
        }
    }

    #[test]
    fn spec_uint8_3d_example() {
        // §1.10: MATLAB reshape(uint8(1:24),[2,3,4]) -> 128-byte preamble, data verbatim
        let data: Vec<u8> = (1..=24).collect();
        let b = a_blob(b"mYm\0", &[2, 3, 4], 9, 0, &data);
        let v = view(&b);
        assert_eq!(
            v.header(),
            numpy_header(
                "{'descr': '|u1', 'fortran_order': True, 'shape': (2, 3, 4), }",
                128
            )
        );
        assert_eq!(&full(&v, &b)[128..], data.as_slice());
    }

    #[test]
    fn header_layouts_match_numpy() {
        // Lengths checked against numpy 2.4 `_write_array_header` (growth-axis
        // padding makes some headers a block longer than the bare dict needs).
        let cases: [(&[u64], ElementClass, bool, usize); 5] = [
            (&[12345678901, 0, 3], ElementClass::Float64, false, 128),
            (
                &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14],
                ElementClass::Int16,
                false,
                192,
            ),
            (
                &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
                ElementClass::Int16,
                false,
                128,
            ),
            (&[u64::MAX; 64], ElementClass::Float32, true, 1536),
            (&[0; 64], ElementClass::DateTime64(9), false, 320),
        ];
        for (shape, class, complex, total) in cases {
            let a = ArrayHeader {
                class,
                complex,
                shape: shape.to_vec(),
                data_offset: 0,
                data_len: 0,
                inline: None,
            };
            let h = NpyView::new(&a).header().to_vec();
            assert_eq!(h.len(), total, "{shape:?}");
            assert_eq!(&h[..8], b"\x93NUMPY\x01\x00");
            assert_eq!(usize::from(u16::from_le_bytes([h[8], h[9]])) + 10, total);
            assert_eq!(h[total - 1], b'\n');
            let text = std::str::from_utf8(&h[10..]).unwrap();
            let dict_end = text.find('}').unwrap() + 1;
            assert!(text[dict_end..total - 11].bytes().all(|c| c == b' '));
        }
    }

    #[test]
    fn compressed_large_read() {
        let data: Vec<u8> = (0..10000u32)
            .flat_map(|i| f64::from(i).to_le_bytes())
            .collect();
        let plain = a_blob(b"mYm\0", &[100, 100], 6, 0, &data);
        let stored = compress(&plain);
        // 256 stored bytes: room for zlib's dynamic Huffman tables
        let a = match classify_blob(&stored[..256], stored.len() as u64) {
            Ok(BlobShape::Array(a)) => a,
            other => panic!("{other:?}"),
        };
        let v = NpyView::new(&a);
        let p = inflate_blob(&stored).unwrap();
        assert_eq!(v.size(), 128 + 80000);
        assert_eq!(v.read(&p, 128 + 8 * 9999, 8), 9999f64.to_le_bytes());
        assert_eq!(&full(&v, &p)[128..], data.as_slice());
    }

    #[test]
    fn short_plain_does_not_panic() {
        let b = hex(
            "6d596d00 41 0100000000000000 0200000000000000 06000000 01000000
             000000000000f03f 0000000000000840 | 0000000000000040 00000000000010c0",
        );
        let v = view(&b);
        for cut in 0..b.len() {
            let r = v.read(&b[..cut], 0, usize::MAX);
            assert!(r.len() <= v.size() as usize);
            assert!(r.starts_with(v.header()) || v.header().starts_with(&r));
        }
    }

    /// Expected npy data: interleave the two planes for complex.
    fn expected_data(data: &[u8], elem: usize, complex: bool) -> Vec<u8> {
        if !complex {
            return data.to_vec();
        }
        let (re, im) = data.split_at(data.len() / 2);
        re.chunks(elem)
            .zip(im.chunks(elem))
            .flat_map(|(r, i)| [r, i].concat())
            .collect()
    }

    fn classes() -> impl Strategy<Value = ElementClass> {
        let ids: Vec<u32> = (3..=15)
            .filter(|i| *i != 4 && *i != 5)
            .chain(65536..=65548)
            .collect();
        prop::sample::select(ids).prop_map(|i| ElementClass::from_class_id(i).unwrap())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        #[test]
        fn chunked_reads_equal_full(
            dims in proptest::collection::vec(0u64..5, 0..=4),
            class in classes(),
            complex in any::<bool>(),
            dj0 in any::<bool>(),
            zl in any::<bool>(),
            seed in any::<u64>(),
            cuts in proptest::collection::vec(1usize..200, 1..40),
        ) {
            let complex = complex && class.supports_complex();
            let n: u64 = dims.iter().product();
            let len = n as usize * class.size() * if complex { 2 } else { 1 };
            // deterministic pseudo-random data
            let mut x = seed | 1;
            let data: Vec<u8> = (0..len).map(|_| { x ^= x << 13; x ^= x >> 7; x ^= x << 17; x as u8 }).collect();
            let plain = a_blob(if dj0 { b"dj0\0" } else { b"mYm\0" }, &dims, class.class_id(), u32::from(complex), &data);
            let stored = if zl { compress(&plain) } else { plain.clone() };
            let a = match classify_blob(&stored, stored.len() as u64) {
                Ok(BlobShape::Array(a)) => a,
                other => return Err(TestCaseError::fail(format!("{other:?}"))),
            };
            prop_assert_eq!(&a.shape, &dims);
            prop_assert_eq!(a.class, class);
            prop_assert_eq!(a.complex, complex);
            let p = inflate_blob(&stored).unwrap();
            prop_assert_eq!(p.as_ref(), plain.as_slice());
            let v = NpyView::new(&a);
            let whole = v.read(&p, 0, usize::MAX);
            prop_assert_eq!(whole.len() as u64, v.size());
            prop_assert_eq!(whole.len() % 64, len % 64);
            let want = [v.header().to_vec(), expected_data(&data, class.size(), complex)].concat();
            prop_assert_eq!(&whole, &want);
            let mut joined = Vec::new();
            let mut off = 0u64;
            for c in cuts.iter().cycle() {
                if off >= v.size() { break; }
                let part = v.read(&p, off, *c);
                prop_assert_eq!(part.len(), (*c).min((v.size() - off) as usize));
                off += part.len() as u64;
                joined.extend(part);
            }
            prop_assert_eq!(joined, whole);
        }
    }
}
