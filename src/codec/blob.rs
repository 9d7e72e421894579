//! DataJoint blob envelope and `A`-array header parsing (spec §1.2, §1.5).
//!
//! Only what is needed to decide whether a blob is a faithful numpy array and
//! where its element data lives; everything else is reported as
//! [`BlobShape::Other`] and served as raw bytes by the caller (the full
//! decoder is in `value`). Python's compact scalars (int, bool, float,
//! complex) count as 0-d arrays.
//!
//! Out of scope: the 32-bit-dims legacy mode (§1.9). It has no marker in the
//! blob, so such blobs are parsed as 64-bit; they then fail the size check and
//! come back as `Corrupt` (or, if the header is not an `A` array, as `Other`).

use std::borrow::Cow;

use flate2::{Decompress, FlushDecompress, Status};

/// `ZL123\0` magic of a compressed blob, followed by a u64 plain length.
pub const ZL_MAGIC: &[u8; 6] = b"ZL123\0";
/// Magic + u64 plain length.
const ZL_HEADER_LEN: usize = 14;
const MYM: &[u8; 4] = b"mYm\0";
const DJ0: &[u8; 4] = b"dj0\0";
/// numpy 2 cannot hold more dimensions (NPY_MAXDIMS), so datajoint-python
/// cannot decode such a blob either; treated as corrupt.
pub const MAX_NDIM: u64 = 64;
/// Longest plain prefix ever needed to classify a blob:
/// protocol(4) + 'A'(1) + ndim(8) + dims(8 * MAX_NDIM) + class(4) + complex(4).
pub const MAX_PLAIN_HEADER: usize = 4 + 1 + 8 + 8 * MAX_NDIM as usize + 4 + 4;
/// A stored-prefix length that classifies nearly every blob in one call
/// (plain blobs need at most `MAX_PLAIN_HEADER`; compressed ones a bit more).
pub const RECOMMENDED_PREFIX: usize = 1024;

/// numpy datetime64 units in DataJoint's class-id order (65536 + k).
const DATETIME_UNITS: [&str; 13] = [
    "Y", "M", "W", "D", "h", "m", "s", "ms", "us", "ns", "ps", "fs", "as",
];
const DATETIME_BASE: u32 = 65536;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BlobError {
    /// the given prefix is too short to decide; caller should retry with at least this many bytes of the (stored) blob
    #[error("need at least {0} bytes of the stored blob")]
    NeedMore(usize),
    /// corrupt/truncated: human-readable reason
    #[error("corrupt blob: {0}")]
    Corrupt(String),
}

fn corrupt(msg: impl Into<String>) -> BlobError {
    BlobError::Corrupt(msg.into())
}

/// Element class of an `A` array that maps faithfully to npy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElementClass {
    Bool,
    Int8,
    UInt8,
    Int16,
    UInt16,
    Int32,
    UInt32,
    Int64,
    UInt64,
    Float32,
    Float64,
    /// datetime64 with unit index 0..=12 (Y,M,W,D,h,m,s,ms,us,ns,ps,fs,as)
    DateTime64(u8),
}

impl ElementClass {
    /// The class for a blob class id (MATLAB `mxClassID`, or 65536+k for
    /// datetime64), or `None` when the class has no faithful npy form
    /// (unknown 0, cell 1, struct 2, char 4, object 5, function 16, others).
    pub fn from_class_id(id: u32) -> Option<ElementClass> {
        use ElementClass::*;
        Some(match id {
            3 => Bool,
            6 => Float64,
            7 => Float32,
            8 => Int8,
            9 => UInt8,
            10 => Int16,
            11 => UInt16,
            12 => Int32,
            13 => UInt32,
            14 => Int64,
            15 => UInt64,
            _ if (DATETIME_BASE..DATETIME_BASE + DATETIME_UNITS.len() as u32).contains(&id) => {
                DateTime64((id - DATETIME_BASE) as u8)
            }
            _ => return None,
        })
    }

    /// The blob class id written for this class (inverse of `from_class_id`).
    pub fn class_id(&self) -> u32 {
        use ElementClass::*;
        match self {
            Bool => 3,
            Float64 => 6,
            Float32 => 7,
            Int8 => 8,
            UInt8 => 9,
            Int16 => 10,
            UInt16 => 11,
            Int32 => 12,
            UInt32 => 13,
            Int64 => 14,
            UInt64 => 15,
            DateTime64(k) => DATETIME_BASE + u32::from(*k),
        }
    }

    /// Bytes per (real) element.
    pub fn size(&self) -> usize {
        use ElementClass::*;
        match self {
            Bool | Int8 | UInt8 => 1,
            Int16 | UInt16 => 2,
            Int32 | UInt32 | Float32 => 4,
            Int64 | UInt64 | Float64 | DateTime64(_) => 8,
        }
    }

    /// Whether a complex array of this class has a faithful npy dtype. Only
    /// single/double do: complex integer arrays (MATLAB only) become
    /// complex128 in Python and could not be written back as integers.
    pub fn supports_complex(&self) -> bool {
        matches!(self, ElementClass::Float32 | ElementClass::Float64)
    }

    /// numpy `descr` string, e.g. `|b1`, `<f8`, `<M8[D]`; with `complex`
    /// set, `<c8` / `<c16` for single / double. `complex` is ignored for
    /// classes without a complex dtype (see [`supports_complex`](Self::supports_complex)).
    pub fn npy_descr(&self, complex: bool) -> String {
        use ElementClass::*;
        let s = match self {
            Float32 if complex => "<c8",
            Float64 if complex => "<c16",
            Bool => "|b1",
            Int8 => "|i1",
            UInt8 => "|u1",
            Int16 => "<i2",
            UInt16 => "<u2",
            Int32 => "<i4",
            UInt32 => "<u4",
            Int64 => "<i8",
            UInt64 => "<u8",
            Float32 => "<f4",
            Float64 => "<f8",
            DateTime64(k) => {
                // Out-of-range units cannot come from a blob; fall back to
                // numpy's generic datetime rather than panicking.
                return match DATETIME_UNITS.get(usize::from(*k)) {
                    Some(u) => format!("<M8[{u}]"),
                    None => "<M8".to_string(),
                };
            }
        };
        s.to_string()
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ArrayHeader {
    pub class: ElementClass,
    pub complex: bool,
    /// dims as stored (column-major dims), may be empty (0-d)
    pub shape: Vec<u64>,
    /// offset of the element data inside the PLAIN blob (after protocol header + A header);
    /// 0 when `inline` is set
    pub data_offset: usize,
    /// bytes of element data in the plain blob (both planes for complex);
    /// equals `inline.len()` when `inline` is set
    pub data_len: u64,
    /// The npy element bytes when they are not a verbatim slice of the plain
    /// blob: a compact dj0 int (`0x0a`, sign-extended to 8 bytes `<i8`) or
    /// bool (`0x0b`, normalized to 0/1). `None` for `A` arrays and for the
    /// compact float/complex codes, which are served from the blob.
    pub inline: Option<Vec<u8>>,
}

impl ArrayHeader {
    /// Number of elements (product of dims; 1 for 0-d).
    pub fn element_count(&self) -> u64 {
        let plane = self.class.size() as u64 * if self.complex { 2 } else { 1 };
        self.data_len / plane
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum BlobShape {
    /// an `A` array of a faithful class, or a compact dj0 scalar (`0x0a` int
    /// that fits in i64, `0x0b` bool, `0x0c` complex, `0x0d` float) as a 0-d
    /// array: shown as ATTR.npy
    Array(ArrayHeader),
    /// anything else that has a valid mYm/dj0/ZL123 envelope or not (char arrays, structs, cells, dj0 scalars, unknown header...): shown as ATTR.blob
    Other,
}

/// Outcome of looking at (a prefix of) the plain blob.
enum PlainStep {
    Done(BlobShape),
    /// this many plain bytes are needed (always <= the plain length)
    Need(usize),
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8-byte slice"))
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4-byte slice"))
}

/// Classify from `p`, a prefix of the plain blob whose full length is `plain_len`.
fn classify_plain(p: &[u8], plain_len: u64) -> Result<PlainStep, BlobError> {
    use PlainStep::*;
    // Ask for more only for bytes the full blob is known to have, so that a
    // caller following NeedMore always makes progress.
    let need = |n: usize| (p.len() < n).then_some(Need(n));

    // Python silently returns None for any header other than mYm/dj0.
    if plain_len < 4 {
        return Ok(Done(BlobShape::Other));
    }
    if let Some(s) = need(4) {
        return Ok(s);
    }
    if &p[..4] != MYM && &p[..4] != DJ0 {
        return Ok(Done(BlobShape::Other));
    }
    if plain_len < 5 {
        return Ok(Done(BlobShape::Other));
    }
    if let Some(s) = need(5) {
        return Ok(s);
    }
    // S, C, P, F and the dj0 containers have no npy form; the compact
    // scalar codes are shown as 0-d arrays.
    if p[4] != b'A' {
        return classify_compact(p, plain_len);
    }

    if plain_len < 13 {
        return Err(corrupt("A array header truncated before ndim"));
    }
    if let Some(s) = need(13) {
        return Ok(s);
    }
    let ndim = u64_at(p, 5);
    if ndim > MAX_NDIM {
        return Err(corrupt(format!(
            "A array with {ndim} dimensions (max {MAX_NDIM})"
        )));
    }
    let hdr_end = 13 + 8 * ndim as usize + 8;
    if hdr_end as u64 > plain_len {
        return Err(corrupt(format!(
            "A array header needs {hdr_end} bytes but the blob has {plain_len}"
        )));
    }
    if let Some(s) = need(hdr_end) {
        return Ok(s);
    }
    let shape: Vec<u64> = (0..ndim as usize).map(|i| u64_at(p, 13 + 8 * i)).collect();
    let class_id = u32_at(p, hdr_end - 8);
    // Python treats any non-zero flag as complex.
    let complex = u32_at(p, hdr_end - 4) != 0;

    let Some(class) = ElementClass::from_class_id(class_id) else {
        return Ok(Done(BlobShape::Other));
    };
    if complex && !class.supports_complex() {
        return Ok(Done(BlobShape::Other));
    }

    let data_len = array_data_len(&shape, class.size() as u64, complex).ok_or_else(|| {
        corrupt(format!(
            "A array dims {shape:?} overflow the addressable size"
        ))
    })?;
    let available = plain_len - hdr_end as u64;
    if data_len != available {
        // Python requires the value to consume exactly the rest of the blob.
        return Err(corrupt(format!(
            "A array dims {shape:?} declare {data_len} data bytes but the blob has {available}"
        )));
    }
    Ok(Done(BlobShape::Array(ArrayHeader {
        class,
        complex,
        shape,
        data_offset: hdr_end,
        data_len,
        inline: None,
    })))
}

/// Python's compact dj0 scalars (`0x0a` int, `0x0b` bool, `0x0c` complex,
/// `0x0d` float) as 0-d arrays. `p` holds at least the 5 bytes up to and
/// including the type code; the value must fill the rest of the plain blob
/// exactly (Python's length check).
fn classify_compact(p: &[u8], plain_len: u64) -> Result<PlainStep, BlobError> {
    use PlainStep::*;
    let need = |n: usize| (p.len() < n).then_some(Need(n));
    let exact = |n: u64, what: &str| {
        if plain_len == n {
            Ok(())
        } else {
            Err(corrupt(format!(
                "dj0 {what} needs a {n}-byte blob but it has {plain_len}"
            )))
        }
    };
    let array = |class, complex, data_offset, data_len, inline| {
        Ok(Done(BlobShape::Array(ArrayHeader {
            class,
            complex,
            shape: Vec::new(),
            data_offset,
            data_len,
            inline,
        })))
    };
    match p[4] {
        0x0d => {
            exact(13, "float")?;
            array(ElementClass::Float64, false, 5, 8, None)
        }
        // f64 re, f64 im: for one element the two "planes" are already
        // npy's interleaved (re, im) layout.
        0x0c => {
            exact(21, "complex")?;
            array(ElementClass::Float64, true, 5, 16, None)
        }
        0x0b => {
            exact(6, "bool")?;
            if let Some(s) = need(6) {
                return Ok(s);
            }
            array(
                ElementClass::Bool,
                false,
                0,
                1,
                Some(vec![u8::from(p[5] != 0)]),
            )
        }
        0x0a => {
            if plain_len < 7 {
                return Err(corrupt("dj0 int truncated before its length"));
            }
            if let Some(s) = need(7) {
                return Ok(s);
            }
            let n = u16::from_le_bytes([p[5], p[6]]);
            exact(7 + u64::from(n), "int")?;
            // Python writes floor(bitlen/8)+1 bytes, so every value that fits
            // in i64 has 1..=8 bytes; anything else is shown as .blob.
            if n == 0 || n > 8 {
                return Ok(Done(BlobShape::Other));
            }
            let end = 7 + usize::from(n);
            if let Some(s) = need(end) {
                return Ok(s);
            }
            let fill = if p[end - 1] & 0x80 != 0 { 0xff } else { 0 };
            let mut v = [fill; 8];
            v[..usize::from(n)].copy_from_slice(&p[7..end]);
            array(ElementClass::Int64, false, 0, 8, Some(v.to_vec()))
        }
        _ => Ok(Done(BlobShape::Other)),
    }
}

/// prod(dims) * elem * (2 if complex), or None on u64 overflow. A zero dim
/// makes the array empty whatever the other dims are.
fn array_data_len(shape: &[u64], elem: u64, complex: bool) -> Option<u64> {
    if shape.contains(&0) {
        return Some(0);
    }
    let n = shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d))?;
    n.checked_mul(elem)?
        .checked_mul(if complex { 2 } else { 1 })
}

/// `stored_prefix`: the first bytes of the blob as stored (maybe ZL123-compressed); `stored_len`: its full stored length.
/// Decides what the blob is using only the prefix (for compressed blobs inflating only the beginning).
/// For arrays, validates that the declared size agrees with the plain length (plain length = stored_len for plain blobs, the ZL123 u64 for compressed) and returns Corrupt if not.
///
/// `NeedMore(n)` is only returned when `n > stored_prefix.len()` and
/// `n <= stored_len`, so retrying with the requested prefix always progresses;
/// given the whole blob it never returns `NeedMore`.
pub fn classify_blob(stored_prefix: &[u8], stored_len: u64) -> Result<BlobShape, BlobError> {
    // Bytes beyond stored_len are not part of the blob.
    let avail =
        usize::try_from(stored_len).map_or(stored_prefix.len(), |l| l.min(stored_prefix.len()));
    let prefix = &stored_prefix[..avail];
    let complete = prefix.len() as u64 == stored_len;
    let clamp = |n: usize| usize::try_from(stored_len).map_or(n, |l| n.min(l));

    if prefix.starts_with(ZL_MAGIC) {
        if prefix.len() < ZL_HEADER_LEN {
            return Err(if complete {
                corrupt("ZL123 header truncated")
            } else {
                BlobError::NeedMore(clamp(ZL_HEADER_LEN))
            });
        }
        let declared = u64_at(prefix, 6);
        let want = declared.min(MAX_PLAIN_HEADER as u64);
        let inflated = inflate_into(&prefix[ZL_HEADER_LEN..], want)?;
        match classify_plain(&inflated.out, declared)? {
            PlainStep::Done(shape) => Ok(shape),
            PlainStep::Need(_) if complete || inflated.ended => Err(corrupt(format!(
                "zlib stream ends after {} bytes, declared {declared}",
                inflated.out.len()
            ))),
            // How many stored bytes inflate to the header is unknown:
            // ask for a generous amount, at least doubling each time.
            PlainStep::Need(_) => Err(BlobError::NeedMore(clamp(
                prefix
                    .len()
                    .saturating_mul(2)
                    .max(ZL_HEADER_LEN + RECOMMENDED_PREFIX),
            ))),
        }
    } else if !complete && prefix.len() < ZL_MAGIC.len() && ZL_MAGIC.starts_with(prefix) {
        // Could still turn out to be compressed.
        Err(BlobError::NeedMore(clamp(ZL_HEADER_LEN)))
    } else {
        match classify_plain(prefix, stored_len)? {
            PlainStep::Done(shape) => Ok(shape),
            PlainStep::Need(n) => Err(BlobError::NeedMore(n)),
        }
    }
}

/// Result of inflating (part of) a zlib stream.
struct Inflated {
    out: Vec<u8>,
    /// input bytes consumed
    consumed: usize,
    /// the zlib stream ended (checksum verified)
    ended: bool,
}

/// Inflate `input` until `limit` output bytes, the end of the stream, or the
/// end of the input, whichever comes first. The output may overshoot `limit`
/// slightly (callers truncate or treat it as "too long"). Memory grows with
/// the produced output only, so a bogus declared length cannot force a huge
/// allocation.
fn inflate_into(input: &[u8], limit: u64) -> Result<Inflated, BlobError> {
    const MAX_INITIAL: usize = 64 << 20;
    const MIN_STEP: usize = 16 << 10;
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    // deflate cannot expand more than ~1032:1, which bounds a sane first guess.
    let initial = limit
        .min(input.len().saturating_mul(1032).saturating_add(64))
        .min(MAX_INITIAL);
    let mut out = Vec::with_capacity(initial);
    let mut d = Decompress::new(true);
    let mut ended = false;
    while out.len() < limit {
        if out.len() == out.capacity() {
            let step = out.capacity().max(MIN_STEP).min(limit - out.len());
            out.reserve_exact(step);
        }
        let (in_before, out_before) = (d.total_in(), d.total_out());
        let status = d
            .decompress_vec(
                &input[in_before as usize..],
                &mut out,
                FlushDecompress::None,
            )
            .map_err(|e| corrupt(format!("bad zlib stream: {e}")))?;
        if status == Status::StreamEnd {
            ended = true;
            break;
        }
        if d.total_in() == in_before && d.total_out() == out_before {
            break; // input exhausted: truncated stream
        }
    }
    Ok(Inflated {
        out,
        consumed: d.total_in() as usize,
        ended,
    })
}

/// The plain (decompressed) form of a whole stored blob: borrowed if not compressed; for ZL123 inflates and checks the declared length (Corrupt on mismatch / bad stream / trailing garbage).
///
/// Note: Python's `zlib.decompress` ignores bytes after the end of the zlib
/// stream; we reject them since no DataJoint client writes any.
pub fn inflate_blob(stored: &[u8]) -> Result<Cow<'_, [u8]>, BlobError> {
    if !stored.starts_with(ZL_MAGIC) {
        return Ok(Cow::Borrowed(stored));
    }
    if stored.len() < ZL_HEADER_LEN {
        return Err(corrupt("ZL123 header truncated"));
    }
    let declared = u64_at(stored, 6);
    let input = &stored[ZL_HEADER_LEN..];
    // One byte beyond the declared length is enough to detect "too long".
    let r = inflate_into(input, declared.saturating_add(1))?;
    if r.out.len() as u64 > declared {
        return Err(corrupt(format!(
            "zlib stream inflates to more than the declared {declared} bytes"
        )));
    }
    if !r.ended {
        return Err(corrupt(format!(
            "truncated zlib stream: {} of {declared} bytes",
            r.out.len()
        )));
    }
    if r.out.len() as u64 != declared {
        return Err(corrupt(format!(
            "zlib stream inflates to {} bytes, declared {declared}",
            r.out.len()
        )));
    }
    if r.consumed != input.len() {
        return Err(corrupt(format!(
            "{} trailing bytes after the zlib stream",
            input.len() - r.consumed
        )));
    }
    Ok(Cow::Owned(r.out))
}

/// Up to `max_out` bytes of the beginning of the plain form, inflating only as much as needed; tolerates a truncated compressed stream (returns what could be inflated).
///
/// A prefix that does not start with the full `ZL123\0` magic is taken as
/// plain. Output is also capped at the declared plain length.
pub fn plain_prefix(stored_prefix: &[u8], max_out: usize) -> Result<Cow<'_, [u8]>, BlobError> {
    if !stored_prefix.starts_with(ZL_MAGIC) {
        let n = stored_prefix.len().min(max_out);
        return Ok(Cow::Borrowed(&stored_prefix[..n]));
    }
    if stored_prefix.len() < ZL_HEADER_LEN {
        return Ok(Cow::Owned(Vec::new()));
    }
    let declared = u64_at(stored_prefix, 6);
    let limit = declared.min(max_out as u64);
    let mut r = inflate_into(&stored_prefix[ZL_HEADER_LEN..], limit)?;
    r.out.truncate(limit as usize);
    Ok(Cow::Owned(r.out))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use flate2::{write::ZlibEncoder, Compression};
    use proptest::prelude::*;
    use std::io::Write;

    /// Hex to bytes, ignoring whitespace and the `|` plane separator used in the spec.
    pub(crate) fn hex(s: &str) -> Vec<u8> {
        let digits: Vec<u8> = s.bytes().filter(|b| b.is_ascii_hexdigit()).collect();
        assert_eq!(digits.len() % 2, 0, "odd hex: {s}");
        digits
            .chunks(2)
            .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap(), 16).unwrap())
            .collect()
    }

    pub(crate) fn compress(plain: &[u8]) -> Vec<u8> {
        let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
        e.write_all(plain).unwrap();
        let z = e.finish().unwrap();
        let mut out = ZL_MAGIC.to_vec();
        out.extend_from_slice(&(plain.len() as u64).to_le_bytes());
        out.extend_from_slice(&z);
        out
    }

    /// Build a plain `A` blob.
    pub(crate) fn a_blob(
        proto: &[u8; 4],
        dims: &[u64],
        class_id: u32,
        complex: u32,
        data: &[u8],
    ) -> Vec<u8> {
        let mut b = proto.to_vec();
        b.push(b'A');
        b.extend_from_slice(&(dims.len() as u64).to_le_bytes());
        for d in dims {
            b.extend_from_slice(&d.to_le_bytes());
        }
        b.extend_from_slice(&class_id.to_le_bytes());
        b.extend_from_slice(&complex.to_le_bytes());
        b.extend_from_slice(data);
        b
    }

    fn classify_full(b: &[u8]) -> Result<BlobShape, BlobError> {
        classify_blob(b, b.len() as u64)
    }

    fn array(b: &[u8]) -> ArrayHeader {
        match classify_full(b) {
            Ok(BlobShape::Array(a)) => a,
            other => panic!("expected array, got {other:?}"),
        }
    }

    /// Classify by following NeedMore from an empty prefix, as the caller would.
    pub(crate) fn classify_incremental(b: &[u8]) -> Result<BlobShape, BlobError> {
        let mut n = 0usize;
        for _ in 0..200 {
            match classify_blob(&b[..n], b.len() as u64) {
                Err(BlobError::NeedMore(m)) => {
                    assert!(
                        m > n && m <= b.len(),
                        "NeedMore({m}) with prefix {n} of {}",
                        b.len()
                    );
                    n = m;
                }
                r => return r,
            }
        }
        panic!("NeedMore loop did not terminate");
    }

    #[test]
    fn spec_float64_vector() {
        let b = hex(
            "6d596d00 41 0100000000000000 0300000000000000 06000000 00000000
             000000000000f03f 0000000000000040 0000000000000840",
        );
        assert_eq!(b.len(), 53);
        assert_eq!(
            array(&b),
            ArrayHeader {
                class: ElementClass::Float64,
                complex: false,
                shape: vec![3],
                data_offset: 29,
                data_len: 24,
                inline: None,
            }
        );
    }

    #[test]
    fn spec_int32_matrix() {
        let b = hex(
            "6d596d00 41 0200000000000000 0200000000000000 0300000000000000 0c000000 00000000
             01000000 04000000 02000000 05000000 03000000 06000000",
        );
        let a = array(&b);
        assert_eq!(a.class, ElementClass::Int32);
        assert_eq!(a.shape, vec![2, 3]);
        assert_eq!((a.data_offset, a.data_len), (37, 24));
        assert_eq!(a.element_count(), 6);
    }

    #[test]
    fn spec_complex_bool_0d_datetime() {
        let c = array(&hex(
            "6d596d00 41 0100000000000000 0200000000000000 06000000 01000000
             000000000000f03f 0000000000000840 | 0000000000000040 00000000000010c0",
        ));
        assert_eq!(
            (c.class, c.complex, c.data_len),
            (ElementClass::Float64, true, 32)
        );
        assert_eq!(c.element_count(), 2);

        let b = array(&hex(
            "6d596d00 41 0100000000000000 0200000000000000 03000000 00000000 01 00",
        ));
        assert_eq!(
            (b.class, b.shape, b.data_len),
            (ElementClass::Bool, vec![2], 2)
        );

        let z = array(&hex("646a3000 41 0000000000000000 09000000 00000000 07"));
        assert_eq!(
            (z.class, z.shape.len(), z.data_offset, z.data_len),
            (ElementClass::UInt8, 0, 21, 1)
        );

        let np_bool = array(&hex("646a3000 41 0000000000000000 03000000 00000000 01"));
        assert_eq!(np_bool.class, ElementClass::Bool);

        let t = array(&hex(
            "646a3000 41 0100000000000000 0100000000000000 03000100 00000000 5747000000000000",
        ));
        assert_eq!(t.class, ElementClass::DateTime64(3));
        assert_eq!(t.class.npy_descr(false), "<M8[D]");
        assert_eq!(t.class.class_id(), 65539);
    }

    #[test]
    fn spec_int64_column_cross_language() {
        let b = hex(
            "6d596d00 41 0200000000000000 0200000000000000 0100000000000000 0e000000 00000000
             0100000000000000 0200000000000000",
        );
        assert_eq!(b.len(), 53);
        let a = array(&b);
        assert_eq!((a.class, a.shape), (ElementClass::Int64, vec![2, 1]));
    }

    #[test]
    fn spec_non_arrays_are_other() {
        let others = [
            // unicode array -> class 5 objects
            "646a3000 41 0100000000000000 0200000000000000 05000000 00000000
             0b00000000000000 05 0200000000000000 6162 0a00000000000000 05 0100000000000000 63",
            // 2**70 does not fit in i64; 9-byte ints are never faithful
            "646a3000 0a 0900 000000000000000040",
            "646a3000 0a 0900 ffffffffffffffffff",
            // zero-length int (Python reads 0, never writes it)
            "646a3000 0a 0000",
            "646a3000 ff",
            "646a3000 05 0300000000000000 616263",
            "646a3000 06 0200000000000000 0001",
            "646a3000 02 0200000000000000 0400000000000000 0a010001 0a00000000000000 05 0100000000000000 61",
            "646a3000 04 0100000000000000 0a00000000000000 05 0100000000000000 61 0400000000000000 0a010001",
            "646a3000 74 a63a3401 467b471407000000",
            "646a3000 75 00112233445566778899aabbccddeeff",
            "646a3000 64 0400000000000000 312e3530",
            "646a3000 46 02000000 6100 6200
             41 0100000000000000 0100000000000000 0c000000 00000000 01000000
             41 0100000000000000 0100000000000000 06000000 00000000 0000000000000040",
            // MatCell 1x2 {1.0, 'ab'}
            "6d596d00 43 0200000000000000 0100000000000000 0200000000000000
             2900000000000000 41 0200000000000000 0100000000000000 0100000000000000 06000000 00000000 000000000000f03f
             2500000000000000 41 0200000000000000 0100000000000000 0200000000000000 04000000 00000000 61006200",
            // MatStruct (only the start matters)
            "6d596d00 53 0200000000000000 0100000000000000 0200000000000000 02000000 6100 6200",
            // char 1x2 'ab'
            "6d596d00 41 0200000000000000 0100000000000000 0200000000000000 04000000 00000000 61006200",
            // unknown header, empty, short
            "786d6c00 41 00",
            "",
            "6d59",
            "6d596d00",
        ];
        for h in others {
            let b = hex(h);
            assert_eq!(classify_full(&b), Ok(BlobShape::Other), "{h}");
            assert_eq!(classify_incremental(&b), Ok(BlobShape::Other), "{h}");
        }
    }

    fn compact(h: &str) -> (ArrayHeader, Vec<u8>) {
        let b = hex(h);
        let a = array(&b);
        assert_eq!(
            classify_incremental(&b),
            Ok(BlobShape::Array(a.clone())),
            "{h}"
        );
        // compressed (never written by Python, but legal) classifies the same
        assert_eq!(
            classify_full(&compress(&b)),
            Ok(BlobShape::Array(a.clone()))
        );
        let data = match &a.inline {
            Some(v) => v.clone(),
            None => b[a.data_offset..a.data_offset + a.data_len as usize].to_vec(),
        };
        assert_eq!(data.len() as u64, a.data_len);
        assert!(a.shape.is_empty());
        assert_eq!(a.element_count(), 1);
        (a, data)
    }

    #[test]
    fn spec_compact_scalars_are_0d_arrays() {
        let i64s = [
            ("646a3000 0a 0100 01", 1i64),
            ("646a3000 0a 0100 ff", -1),
            ("646a3000 0a 0200 ff00", 255),
            ("646a3000 0a 0200 80ff", -128),
            ("646a3000 0a 0800 ffffffffffffff7f", i64::MAX),
            ("646a3000 0a 0800 0000000000000080", i64::MIN),
            // a wider-than-needed encoding still decodes (Python reads any n)
            ("6d596d00 0a 0300 050000", 5),
        ];
        for (h, v) in i64s {
            let (a, data) = compact(h);
            assert_eq!((a.class, a.complex), (ElementClass::Int64, false), "{h}");
            assert_eq!(data, v.to_le_bytes(), "{h}");
        }
        let (a, data) = compact("646a3000 0d 000000000000f83f");
        assert_eq!(
            (a.class, a.complex, a.data_offset, a.inline),
            (ElementClass::Float64, false, 5, None)
        );
        assert_eq!(data, 1.5f64.to_le_bytes());
        let (a, data) = compact("646a3000 0c 000000000000f03f 0000000000000040");
        assert_eq!((a.class, a.complex), (ElementClass::Float64, true));
        assert_eq!(a.class.npy_descr(a.complex), "<c16");
        assert_eq!(data, [1.0f64.to_le_bytes(), 2.0f64.to_le_bytes()].concat());
        for (h, v) in [
            ("646a3000 0b 01", 1u8),
            ("646a3000 0b 00", 0),
            ("646a3000 0b 07", 1),
        ] {
            let (a, data) = compact(h);
            assert_eq!(a.class, ElementClass::Bool);
            assert_eq!(data, [v]);
        }
        // wrong sizes are corrupt, as in Python's length check
        for h in [
            "646a3000 0d 000000000000f8",
            "646a3000 0d 000000000000f83f 00",
            "646a3000 0c 000000000000f03f",
            "646a3000 0b",
            "646a3000 0b 0101",
            "646a3000 0a 01",
            "646a3000 0a 0200 01",
            "646a3000 0a 0100 0102",
        ] {
            assert!(
                matches!(classify_full(&hex(h)), Err(BlobError::Corrupt(_))),
                "{h}"
            );
            assert!(
                matches!(classify_incremental(&hex(h)), Err(BlobError::Corrupt(_))),
                "{h}"
            );
        }
        // asks for exactly the bytes it needs
        let b = hex("646a3000 0a 0800 ffffffffffffff7f");
        assert_eq!(
            classify_blob(&b[..5], b.len() as u64),
            Err(BlobError::NeedMore(7))
        );
        assert_eq!(
            classify_blob(&b[..7], b.len() as u64),
            Err(BlobError::NeedMore(15))
        );
    }

    #[test]
    fn unfaithful_classes_are_other() {
        for id in [0u32, 1, 2, 4, 5, 16, 17, 65535, 65549, u32::MAX] {
            assert_eq!(
                classify_full(&a_blob(MYM, &[1, 1], id, 0, &[0; 8])),
                Ok(BlobShape::Other),
                "{id}"
            );
        }
        // complex integer / bool / datetime (MATLAB complex int) -> lossy -> Other
        for id in [3u32, 8, 9, 10, 11, 12, 13, 14, 15, 65539] {
            assert_eq!(
                classify_full(&a_blob(MYM, &[1, 1], id, 1, &[0; 16])),
                Ok(BlobShape::Other),
                "{id}"
            );
        }
        // every faithful id round-trips through ElementClass
        for id in (3..=15).filter(|i| *i != 4 && *i != 5).chain(65536..=65548) {
            let c = ElementClass::from_class_id(id).unwrap();
            assert_eq!(c.class_id(), id);
        }
    }

    #[test]
    fn descrs() {
        use ElementClass::*;
        let want = [
            (Bool, "|b1"),
            (Int8, "|i1"),
            (UInt8, "|u1"),
            (Int16, "<i2"),
            (UInt16, "<u2"),
            (Int32, "<i4"),
            (UInt32, "<u4"),
            (Int64, "<i8"),
            (UInt64, "<u8"),
            (Float32, "<f4"),
            (Float64, "<f8"),
            (DateTime64(0), "<M8[Y]"),
            (DateTime64(8), "<M8[us]"),
            (DateTime64(12), "<M8[as]"),
            (DateTime64(13), "<M8"),
        ];
        for (c, d) in want {
            assert_eq!(c.npy_descr(false), d);
        }
        assert_eq!(Float32.npy_descr(true), "<c8");
        assert_eq!(Float64.npy_descr(true), "<c16");
    }

    #[test]
    fn size_mismatch_is_corrupt() {
        // dims larger than data
        let b = a_blob(MYM, &[2, 3], 6, 0, &[0; 40]);
        assert!(matches!(classify_full(&b), Err(BlobError::Corrupt(_))));
        // data longer than dims (Python requires exact consumption)
        let b = a_blob(MYM, &[1, 1], 6, 0, &[0; 9]);
        assert!(matches!(classify_full(&b), Err(BlobError::Corrupt(_))));
        // complex needs both planes
        let b = a_blob(MYM, &[1, 2], 7, 1, &[0; 8]);
        assert!(matches!(classify_full(&b), Err(BlobError::Corrupt(_))));
        // header truncated
        let b = hex("6d596d00 41 0200000000000000 0200000000000000");
        assert!(matches!(classify_full(&b), Err(BlobError::Corrupt(_))));
        let b = hex("6d596d00 41 0200");
        assert!(matches!(classify_full(&b), Err(BlobError::Corrupt(_))));
    }

    #[test]
    fn absurd_dims_are_corrupt() {
        // product overflows u64
        let b = a_blob(MYM, &[u64::MAX, 3], 6, 0, &[]);
        assert!(matches!(classify_full(&b), Err(BlobError::Corrupt(_))));
        let b = a_blob(MYM, &[1 << 61], 6, 0, &[]);
        assert!(matches!(classify_full(&b), Err(BlobError::Corrupt(_))));
        // a zero dim makes it empty regardless of the others
        let a = array(&a_blob(MYM, &[u64::MAX, 0, u64::MAX], 6, 0, &[]));
        assert_eq!(a.data_len, 0);
        // too many dims, and a huge ndim: decided from the first 13 bytes
        let b = a_blob(MYM, &[1; 65], 9, 0, &[0]);
        assert!(matches!(classify_full(&b), Err(BlobError::Corrupt(_))));
        let mut b = hex("6d596d00 41 ffffffffffffffff");
        b.extend_from_slice(&[0; 100]);
        assert!(matches!(
            classify_blob(&b[..13], 1 << 40),
            Err(BlobError::Corrupt(_))
        ));
        // 64 dims is still fine
        let a = array(&a_blob(DJ0, &[1; 64], 9, 0, &[5]));
        assert_eq!((a.shape.len(), a.data_offset), (64, MAX_PLAIN_HEADER));
    }

    #[test]
    fn need_more_on_short_prefix() {
        let b = a_blob(MYM, &[2, 3, 4], 9, 0, &(1..=24).collect::<Vec<u8>>());
        let len = b.len() as u64;
        assert_eq!(classify_blob(&[], len), Err(BlobError::NeedMore(14)));
        assert_eq!(classify_blob(&b[..5], len), Err(BlobError::NeedMore(13)));
        assert_eq!(
            classify_blob(&b[..13], len),
            Err(BlobError::NeedMore(13 + 24 + 8))
        );
        assert!(matches!(
            classify_blob(&b[..45], len),
            Ok(BlobShape::Array(_))
        ));
        // a prefix longer than stored_len is cut to stored_len
        let mut longer = b.clone();
        longer.extend_from_slice(&[1, 2, 3]);
        assert!(matches!(
            classify_blob(&longer, len),
            Ok(BlobShape::Array(_))
        ));
        assert_eq!(classify_incremental(&b), classify_full(&b));
    }

    fn big_float_blob() -> (Vec<u8>, Vec<u8>) {
        let data: Vec<u8> = (0..10000u32)
            .flat_map(|i| f64::from(i % 7).to_le_bytes())
            .collect();
        let plain = a_blob(MYM, &[10000, 1], 6, 0, &data);
        let stored = compress(&plain);
        (plain, stored)
    }

    #[test]
    fn compressed_classify_from_64_bytes() {
        let (plain, stored) = big_float_blob();
        assert!(stored.len() > 200 && stored.len() < plain.len());
        // zlib's dynamic-Huffman block header alone takes ~50-100 bytes, so
        // 64 stored bytes may or may not be enough; a single NeedMore round
        // trip must be.
        let a = match classify_blob(&stored[..64], stored.len() as u64) {
            Ok(BlobShape::Array(a)) => a,
            Err(BlobError::NeedMore(n)) => {
                assert!(n > 64 && n <= ZL_HEADER_LEN + RECOMMENDED_PREFIX);
                match classify_blob(&stored[..n], stored.len() as u64) {
                    Ok(BlobShape::Array(a)) => a,
                    other => panic!("{other:?}"),
                }
            }
            other => panic!("{other:?}"),
        };
        assert_eq!(
            classify_blob(&stored[..128], stored.len() as u64),
            Ok(BlobShape::Array(a.clone()))
        );
        assert_eq!(a.shape, vec![10000, 1]);
        assert_eq!(a.data_len, 80000);
        assert_eq!(a.data_offset + a.data_len as usize, plain.len());
        assert_eq!(inflate_blob(&stored).unwrap().as_ref(), plain.as_slice());
        assert_eq!(
            plain_prefix(&stored[..256], 100).unwrap().as_ref(),
            &plain[..100]
        );
        assert!(plain.starts_with(&plain_prefix(&stored[..64], 100).unwrap()));
        // too short a compressed prefix asks for more, never more than exists
        assert_eq!(
            classify_blob(&stored[..10], stored.len() as u64),
            Err(BlobError::NeedMore(14))
        );
        match classify_blob(&stored[..16], stored.len() as u64) {
            Err(BlobError::NeedMore(n)) => assert!(n > 16 && n <= stored.len()),
            other => panic!("{other:?}"),
        }
        assert_eq!(classify_incremental(&stored), Ok(BlobShape::Array(a)));
    }

    #[test]
    fn spec_compressed_zeros_200() {
        // np.zeros(200): plain 1629 bytes, compressed per spec to 47 bytes with zlib;
        // our deflate may differ, but the envelope must classify the same.
        let plain = a_blob(MYM, &[200], 6, 0, &[0; 1600]);
        assert_eq!(plain.len(), 1629);
        let stored = compress(&plain);
        assert_eq!(&stored[..14], &hex("5a4c31323300 5d06000000000000")[..]);
        let a = array(&stored);
        assert_eq!((a.shape, a.data_len), (vec![200], 1600));
    }

    #[test]
    fn compressed_corruption() {
        let (plain, stored) = big_float_blob();
        // truncated stream
        let cut = &stored[..stored.len() - 10];
        assert!(matches!(inflate_blob(cut), Err(BlobError::Corrupt(_))));
        // plain_prefix tolerates truncation
        let p = plain_prefix(cut, usize::MAX).unwrap();
        assert!(!p.is_empty() && plain.starts_with(&p));
        // wrong declared length, both ways
        for declared in [plain.len() as u64 - 1, plain.len() as u64 + 1, u64::MAX] {
            let mut s = stored.clone();
            s[6..14].copy_from_slice(&declared.to_le_bytes());
            assert!(
                matches!(inflate_blob(&s), Err(BlobError::Corrupt(_))),
                "{declared}"
            );
            // the array no longer fits the declared plain length
            assert!(
                matches!(classify_full(&s), Err(BlobError::Corrupt(_))),
                "{declared}"
            );
        }
        // trailing garbage
        let mut s = stored.clone();
        s.push(0);
        assert!(matches!(inflate_blob(&s), Err(BlobError::Corrupt(_))));
        // bad stream
        let mut s = stored.clone();
        s[14] ^= 0xff;
        assert!(matches!(inflate_blob(&s), Err(BlobError::Corrupt(_))));
        assert!(matches!(classify_full(&s), Err(BlobError::Corrupt(_))));
        // header cut
        assert!(matches!(
            inflate_blob(&stored[..10]),
            Err(BlobError::Corrupt(_))
        ));
        assert!(matches!(
            classify_full(&stored[..10]),
            Err(BlobError::Corrupt(_))
        ));
        assert_eq!(plain_prefix(&stored[..10], 100).unwrap().as_ref(), b"");
        // a complete but truncated stream that ends inside the header
        let short = &stored[..20];
        assert!(matches!(classify_full(short), Err(BlobError::Corrupt(_))));
    }

    #[test]
    fn uncompressed_passthrough() {
        let b = hex("6d596d00 41 0100000000000000 0200000000000000 03000000 00000000 01 00");
        assert!(matches!(inflate_blob(&b), Ok(Cow::Borrowed(_))));
        assert_eq!(plain_prefix(&b, 5).unwrap().as_ref(), &b[..5]);
        assert_eq!(plain_prefix(b"ZL1", 5).unwrap().as_ref(), b"ZL1");
    }

    #[test]
    fn compressed_other_and_unknown_inner_header() {
        let s = compress(&hex("646a3000 05 0300000000000000 616263"));
        assert_eq!(classify_full(&s), Ok(BlobShape::Other));
        let s = compress(b"hello world, not a blob");
        assert_eq!(classify_full(&s), Ok(BlobShape::Other));
        assert_eq!(
            inflate_blob(&s).unwrap().as_ref(),
            b"hello world, not a blob"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn garbage_never_panics(b in proptest::collection::vec(any::<u8>(), 0..300), cut in 0usize..300, extra in 0u64..1000) {
            let cut = cut.min(b.len());
            let _ = classify_blob(&b[..cut], b.len() as u64);
            let _ = classify_blob(&b[..cut], b.len() as u64 + extra);
            let _ = classify_blob(&b, cut as u64);
            let _ = plain_prefix(&b[..cut], cut);
            let _ = plain_prefix(&b, usize::MAX);
            let _ = inflate_blob(&b);
        }

        #[test]
        fn garbage_with_magic_never_panics(kind in 0u8..3, tail in proptest::collection::vec(any::<u8>(), 0..200), declared in any::<u64>()) {
            let mut b: Vec<u8> = match kind {
                0 => { let mut v = ZL_MAGIC.to_vec(); v.extend_from_slice(&declared.to_le_bytes()); v.extend_from_slice(&[0x78, 0x9c]); v }
                1 => b"mYm\0A".to_vec(),
                _ => b"dj0\0A".to_vec(),
            };
            b.extend_from_slice(&tail);
            let full = classify_full(&b);
            prop_assert!(!matches!(full, Err(BlobError::NeedMore(_))));
            prop_assert_eq!(classify_incremental(&b), full);
            let _ = plain_prefix(&b, 1000);
            let _ = inflate_blob(&b);
        }

        #[test]
        fn incremental_matches_full(dims in proptest::collection::vec(0u64..5, 0..=4), id in prop::sample::select(vec![3u32, 4, 5, 6, 7, 9, 12, 14, 65539]), complex in any::<bool>(), zl in any::<bool>(), fuzz in 0usize..64) {
            let elem = ElementClass::from_class_id(id).map_or(2, |c| c.size());
            let n: u64 = dims.iter().product();
            let mut data = vec![7u8; n as usize * elem * if complex { 2 } else { 1 }];
            // occasionally break the size agreement
            if fuzz == 0 { data.push(1); }
            let plain = a_blob(DJ0, &dims, id, u32::from(complex), &data);
            let stored = if zl { compress(&plain) } else { plain.clone() };
            prop_assert_eq!(classify_incremental(&stored), classify_full(&stored));
            prop_assert_eq!(classify_full(&stored), classify_full(&plain));
        }
    }
}
