//! `.npy` → blob encoder (spec §1.3, §1.5, §1.10) and the check for raw
//! `.blob` writes.
//!
//! [`encode_npy`] produces what `datajoint.blob.pack(np.load(f))` produces
//! with datajoint 0.14.10 (the byte format is the same in 0.12.4–2.x):
//! `A` array, dims = npy shape, element data in Fortran order (C-ordered input
//! is transposed), complex arrays as a real plane then an imaginary plane,
//! header `mYm\0` unless the array is 0-d or datetime64 (then `dj0\0`), and
//! Python's compression rule (plain length > 1000 and the `ZL123` form
//! strictly shorter), zlib level 6.
//!
//! Differences from `pack(np.load(f))`, all deliberate:
//! * big-endian input (`>f8` …) is converted to little-endian; Python's
//!   `pack` raises "Type >f8 is ambiguous or unknown" on it;
//!
//! The deflate stream comes from C zlib (bundled through `libz-sys`, level 6,
//! as CPython's): compressed blobs are byte-identical to Python's too, so an
//! external blob gets the client's hash (checked on every fixture in
//! `tests/codec_vectors.rs`). zlib versions other than the fixtures' could in
//! principle differ; the inflated bytes would still be identical.
//!
//! Accepted dtypes: `|b1`, `|i1` `|u1`, `<i2` `<u2` `<i4` `<u4` `<i8` `<u8`,
//! `<f4` `<f8`, `<c8` `<c16`, `<M8[unit]` for the 13 units Y … as, and `|S1`
//! (numpy char, stored as MATLAB char class 4 in C order — datajoint's own
//! quirk — under a `mYm` header even when 0-d); with `>`, `=`, `|` or no
//! byte-order mark as well. Rejected with [`EncodeError::Unsupported`]:
//! object, structured/void, unicode (`U`), `S2`+, float16, longdouble,
//! clongdouble, timedelta64, generic or multiplied datetime units.

use std::io::Write as _;

use flate2::{write::ZlibEncoder, Compression};

use super::blob::{inflate_blob, ElementClass, MAX_NDIM, ZL_MAGIC};
use super::value::{decode_plain, element_count};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EncodeError {
    /// not a readable `.npy` file (bad magic, header, shape or data length)
    #[error("not a valid .npy file: {0}")]
    BadNpy(String),
    /// a valid `.npy` whose dtype DataJoint blobs cannot hold
    #[error("cannot store this array in a DataJoint blob: {0}")]
    Unsupported(String),
    /// raw bytes written as `.blob` that DataJoint could not read back
    #[error("not a valid DataJoint blob: {0}")]
    BadBlob(String),
}

fn bad(msg: impl Into<String>) -> EncodeError {
    EncodeError::BadNpy(msg.into())
}

fn unsupported(msg: impl Into<String>) -> EncodeError {
    EncodeError::Unsupported(msg.into())
}

/// Element type of a storable `.npy` array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NpyDtype {
    /// a real class (logical, integer, float, datetime64)
    Real(ElementClass),
    /// `c8` (two f32) or `c16` (two f64): the class of one component
    Complex(ElementClass),
    /// `S1`: one byte per element, stored as MATLAB char
    Char,
}

impl NpyDtype {
    /// bytes per element in the npy data
    pub fn item_size(&self) -> usize {
        match self {
            NpyDtype::Real(c) => c.size(),
            NpyDtype::Complex(c) => 2 * c.size(),
            NpyDtype::Char => 1,
        }
    }
}

/// A parsed `.npy` file.
#[derive(Clone, Debug, PartialEq)]
pub struct NpyFile<'a> {
    pub dtype: NpyDtype,
    /// the descr declared big-endian (`>`)
    pub big_endian: bool,
    pub fortran_order: bool,
    pub shape: Vec<u64>,
    /// the element bytes, exactly `prod(shape) * item_size`
    pub data: &'a [u8],
}

/// numpy refuses headers longer than this by default (`max_header_size`).
const MAX_HEADER: usize = 10_000;

/// What a `.npy` file's header says, before its dtype is interpreted.
#[derive(Clone, Debug, PartialEq)]
pub struct NpyHeader {
    /// The `descr` type string (`<f8`); None for a structured dtype (a list).
    pub descr: Option<String>,
    pub fortran_order: bool,
    pub shape: Vec<u64>,
    /// Where the element data starts.
    pub data_offset: usize,
}

/// Parse a `.npy` file's preamble and header (format versions 1.0, 2.0 and 3.0).
pub fn parse_npy_header(bytes: &[u8]) -> Result<NpyHeader, EncodeError> {
    if !bytes.starts_with(b"\x93NUMPY") {
        return Err(bad("missing the \\x93NUMPY magic"));
    }
    if bytes.len() < 10 {
        return Err(bad("truncated preamble"));
    }
    let (major, minor) = (bytes[6], bytes[7]);
    let (hlen, start) = match (major, minor) {
        (1, 0) => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        (2, 0) | (3, 0) => {
            if bytes.len() < 12 {
                return Err(bad("truncated preamble"));
            }
            let n = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
            (usize::try_from(n).unwrap_or(usize::MAX), 12)
        }
        _ => return Err(bad(format!("unknown format version {major}.{minor}"))),
    };
    if hlen > MAX_HEADER {
        return Err(bad(format!(
            "header of {hlen} bytes (numpy's limit is {MAX_HEADER})"
        )));
    }
    let end = start + hlen;
    if bytes.len() < end {
        return Err(bad("truncated header"));
    }
    let raw = &bytes[start..end];
    // v1/v2 headers are latin-1, v3 UTF-8; the dict itself is ASCII
    let header: String = if major == 3 {
        std::str::from_utf8(raw)
            .map_err(|_| bad("header is not UTF-8"))?
            .to_string()
    } else {
        raw.iter().map(|&b| char::from(b)).collect()
    };
    let lit = Parser::new(&header).parse_header()?;
    let Lit::Dict(pairs) = lit else {
        return Err(bad("header is not a dict"));
    };
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    for (k, v) in pairs {
        let Lit::Str(k) = k else {
            return Err(bad("header has a non-string key"));
        };
        let slot = match k.as_str() {
            "descr" => &mut descr,
            "fortran_order" => &mut fortran,
            "shape" => &mut shape,
            other => return Err(bad(format!("header has an unexpected key {other:?}"))),
        };
        *slot = Some(v);
    }
    let (Some(descr), Some(fortran), Some(shape)) = (descr, fortran, shape) else {
        return Err(bad("header must have descr, fortran_order and shape"));
    };
    let fortran_order = match fortran {
        Lit::Bool(b) => b,
        _ => return Err(bad("fortran_order is not True/False")),
    };
    let shape = match shape {
        Lit::Tuple(items) => items
            .into_iter()
            .map(|d| match d {
                Lit::Int(n) => Ok(n),
                _ => Err(bad("shape must be a tuple of non-negative integers")),
            })
            .collect::<Result<Vec<u64>, _>>()?,
        _ => return Err(bad("shape is not a tuple")),
    };
    if shape.len() as u64 > MAX_NDIM {
        return Err(bad(format!(
            "{} dimensions (numpy's limit is {MAX_NDIM})",
            shape.len()
        )));
    }
    let descr = match descr {
        Lit::Str(s) => Some(s),
        Lit::List => None,
        _ => return Err(bad("descr is not a string")),
    };
    Ok(NpyHeader {
        descr,
        fortran_order,
        shape,
        data_offset: end,
    })
}

/// Parse a `.npy` file (format versions 1.0, 2.0 and 3.0).
pub fn parse_npy(bytes: &[u8]) -> Result<NpyFile<'_>, EncodeError> {
    let header = parse_npy_header(bytes)?;
    let (dtype, big_endian) = match &header.descr {
        Some(s) => parse_descr(s)?,
        None => return Err(unsupported("structured dtypes (record arrays) cannot be written as .npy; write the raw .blob instead")),
    };
    let shape = header.shape;
    let data = &bytes[header.data_offset..];
    let want = element_count(&shape)
        .and_then(|n| n.checked_mul(dtype.item_size() as u64))
        .ok_or_else(|| bad(format!("shape {shape:?} is too large")))?;
    if data.len() as u64 != want {
        return Err(bad(format!(
            "shape {shape:?} needs {want} data bytes but the file has {}",
            data.len()
        )));
    }
    Ok(NpyFile {
        dtype,
        big_endian,
        fortran_order: header.fortran_order,
        shape,
        data,
    })
}

/// numpy type string → dtype and whether it is big-endian.
fn parse_descr(s: &str) -> Result<(NpyDtype, bool), EncodeError> {
    let (order, t) = match s.chars().next() {
        Some(c @ ('<' | '>' | '|' | '=')) => (c, &s[1..]),
        _ => ('=', s),
    };
    let big = match order {
        '>' => true,
        '<' => false,
        _ => cfg!(target_endian = "big"),
    };
    use ElementClass::*;
    let real = |c| Ok((NpyDtype::Real(c), big && c.size() > 1));
    match t {
        "b1" | "?" => real(Bool),
        "i1" | "b" => real(Int8),
        "u1" | "B" => real(UInt8),
        "i2" | "h" => real(Int16),
        "u2" | "H" => real(UInt16),
        "i4" | "i" => real(Int32),
        "u4" | "I" => real(UInt32),
        "i8" | "q" => real(Int64),
        "u8" | "Q" => real(UInt64),
        "f4" | "f" => real(Float32),
        "f8" | "d" => real(Float64),
        "c8" | "F" => Ok((NpyDtype::Complex(Float32), big)),
        "c16" | "D" => Ok((NpyDtype::Complex(Float64), big)),
        "S1" | "c" => Ok((NpyDtype::Char, false)),
        _ => {
            if let Some(unit) = t.strip_prefix("M8[").and_then(|u| u.strip_suffix(']')) {
                const UNITS: [&str; 13] = [
                    "Y", "M", "W", "D", "h", "m", "s", "ms", "us", "ns", "ps", "fs", "as",
                ];
                return match UNITS.iter().position(|u| *u == unit) {
                    Some(k) => real(DateTime64(k as u8)),
                    None => Err(unsupported(format!(
                        "datetime64 unit [{unit}] (DataJoint stores only Y, M, W, D, h, m, s, ms, us, ns, ps, fs, as)"
                    ))),
                };
            }
            Err(unsupported(match t {
                "f2" | "e" => "float16 arrays (convert to float32)".to_string(),
                "f16" | "f12" | "g" => "long double arrays (convert to float64)".to_string(),
                "c32" | "c24" | "G" => {
                    "complex long double arrays (convert to complex128)".to_string()
                }
                "O" | "O8" | "O4" => {
                    "object arrays (need pickle); write the raw .blob instead".to_string()
                }
                "M8" => "datetime64 without a unit".to_string(),
                _ if t.starts_with('U') => {
                    format!("unicode string arrays ({s}); write the raw .blob instead")
                }
                _ if t.starts_with('S') || t.starts_with('a') => {
                    format!("byte strings wider than one byte ({s}); only S1 (char) is stored")
                }
                _ if t.starts_with('m') => format!("timedelta64 arrays ({s})"),
                _ if t.starts_with('V') => format!("void/structured arrays ({s})"),
                _ => format!("dtype {s:?}"),
            }))
        }
    }
}

/// A Python literal, as far as npy headers use them.
#[derive(Debug)]
enum Lit {
    Str(String),
    Int(u64),
    Bool(bool),
    None,
    Tuple(Vec<Lit>),
    /// a list (structured descr); its items are not needed
    List,
    Dict(Vec<(Lit, Lit)>),
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn new(s: &'a str) -> Parser<'a> {
        Parser {
            s: s.as_bytes(),
            pos: 0,
            depth: 0,
        }
    }

    fn ws(&mut self) {
        while self.pos < self.s.len() && self.s[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.pos).copied()
    }

    fn expect(&mut self, c: u8) -> Result<(), EncodeError> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(bad(format!(
                "header: expected '{}' at {}",
                char::from(c),
                self.pos
            )))
        }
    }

    fn parse_header(&mut self) -> Result<Lit, EncodeError> {
        let v = self.lit()?;
        if self.peek().is_some() {
            return Err(bad("header: text after the dict"));
        }
        Ok(v)
    }

    /// Comma-separated items up to `close`; returns them and whether a
    /// trailing comma was seen (to tell `(1,)` from `(1)`).
    fn items(&mut self, close: u8) -> Result<(Vec<Lit>, bool), EncodeError> {
        let mut out = Vec::new();
        let mut comma = false;
        loop {
            if self.peek() == Some(close) {
                self.pos += 1;
                return Ok((out, comma));
            }
            out.push(self.lit()?);
            comma = false;
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    comma = true;
                }
                Some(c) if c == close => {}
                _ => return Err(bad(format!("header: expected ',' at {}", self.pos))),
            }
        }
    }

    fn lit(&mut self) -> Result<Lit, EncodeError> {
        self.depth += 1;
        if self.depth > 32 {
            return Err(bad("header nested too deeply"));
        }
        let r = self.lit_inner();
        self.depth -= 1;
        r
    }

    fn lit_inner(&mut self) -> Result<Lit, EncodeError> {
        match self.peek() {
            Some(b'{') => {
                self.pos += 1;
                let mut pairs = Vec::new();
                loop {
                    if self.peek() == Some(b'}') {
                        self.pos += 1;
                        return Ok(Lit::Dict(pairs));
                    }
                    let k = self.lit()?;
                    self.expect(b':')?;
                    let v = self.lit()?;
                    pairs.push((k, v));
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b'}') => {}
                        _ => return Err(bad(format!("header: expected ',' at {}", self.pos))),
                    }
                }
            }
            Some(b'(') => {
                self.pos += 1;
                let (mut items, comma) = self.items(b')')?;
                // `(x)` is just x
                if items.len() == 1 && !comma {
                    return Ok(items.pop().expect("one item"));
                }
                Ok(Lit::Tuple(items))
            }
            Some(b'[') => {
                self.pos += 1;
                self.items(b']')?;
                Ok(Lit::List)
            }
            Some(q @ (b'\'' | b'"')) => {
                self.pos += 1;
                let mut out = String::new();
                loop {
                    let c = *self
                        .s
                        .get(self.pos)
                        .ok_or_else(|| bad("header: unterminated string"))?;
                    self.pos += 1;
                    if c == q {
                        return Ok(Lit::Str(out));
                    }
                    if c == b'\\' {
                        let e = *self
                            .s
                            .get(self.pos)
                            .ok_or_else(|| bad("header: unterminated string"))?;
                        self.pos += 1;
                        out.push(char::from(e));
                    } else {
                        out.push(char::from(c));
                    }
                }
            }
            Some(c) if c.is_ascii_digit() => {
                let start = self.pos;
                while self.pos < self.s.len()
                    && (self.s[self.pos].is_ascii_digit() || self.s[self.pos] == b'_')
                {
                    self.pos += 1;
                }
                let text: String = self.s[start..self.pos]
                    .iter()
                    .filter(|&&b| b != b'_')
                    .map(|&b| char::from(b))
                    .collect();
                // Python 2 long suffix, which numpy still filters out
                if matches!(self.s.get(self.pos), Some(b'L' | b'l')) {
                    self.pos += 1;
                }
                text.parse::<u64>()
                    .map(Lit::Int)
                    .map_err(|_| bad(format!("header: bad integer {text}")))
            }
            Some(c) if c.is_ascii_alphabetic() => {
                let start = self.pos;
                while self.pos < self.s.len() && self.s[self.pos].is_ascii_alphanumeric() {
                    self.pos += 1;
                }
                match &self.s[start..self.pos] {
                    b"True" => Ok(Lit::Bool(true)),
                    b"False" => Ok(Lit::Bool(false)),
                    b"None" => Ok(Lit::None),
                    other => Err(bad(format!(
                        "header: unexpected name {:?}",
                        String::from_utf8_lossy(other)
                    ))),
                }
            }
            Some(b'-') => Err(bad("header: negative numbers are not allowed here")),
            _ => Err(bad(format!("header: unexpected text at {}", self.pos))),
        }
    }
}

/// For each destination position, the source element index, when copying an
/// N-d array between memory orders (`*_fortran`: first axis fastest).
fn reorder(shape: &[u64], src_fortran: bool, dst_fortran: bool) -> Box<dyn Iterator<Item = usize>> {
    let n = element_count(shape).unwrap_or(0) as usize;
    if src_fortran == dst_fortran || shape.len() < 2 || n == 0 {
        return Box::new(0..n);
    }
    let dims: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
    let nd = dims.len();
    // strides of the source order, and the destination's axis walk order
    let mut stride = vec![1usize; nd];
    if src_fortran {
        for k in 1..nd {
            stride[k] = stride[k - 1] * dims[k - 1];
        }
    } else {
        for k in (0..nd - 1).rev() {
            stride[k] = stride[k + 1] * dims[k + 1];
        }
    }
    let axes: Vec<usize> = if dst_fortran {
        (0..nd).collect()
    } else {
        (0..nd).rev().collect()
    };
    let mut idx = vec![0usize; nd];
    let mut off = 0usize;
    let mut left = n;
    Box::new(std::iter::from_fn(move || {
        if left == 0 {
            return None;
        }
        left -= 1;
        let cur = off;
        for &a in &axes {
            idx[a] += 1;
            off += stride[a];
            if idx[a] < dims[a] {
                break;
            }
            off -= stride[a] * dims[a];
            idx[a] = 0;
        }
        Some(cur)
    }))
}

/// Element bytes, little-endian.
fn le(elem: &[u8], big: bool, out: &mut Vec<u8>) {
    if big {
        out.extend(elem.iter().rev());
    } else {
        out.extend_from_slice(elem);
    }
}

impl NpyFile<'_> {
    /// The uncompressed blob `pack` writes for this array.
    pub fn to_plain_blob(&self) -> Vec<u8> {
        let (class_id, complex, dj0) = match self.dtype {
            NpyDtype::Real(c) => (
                c.class_id(),
                false,
                self.shape.is_empty() || matches!(c, ElementClass::DateTime64(_)),
            ),
            NpyDtype::Complex(c) => (c.class_id(), true, self.shape.is_empty()),
            // char: datajoint-python only switches to dj0 for numeric 0-d arrays
            NpyDtype::Char => (4, false, false),
        };
        let n = self.data.len() / self.dtype.item_size();
        let data_len = match self.dtype {
            NpyDtype::Char => 2 * n,
            _ => self.data.len(),
        };
        let mut b = Vec::with_capacity(4 + 1 + 8 + 8 * self.shape.len() + 8 + data_len);
        b.extend_from_slice(if dj0 { b"dj0\0" } else { b"mYm\0" });
        b.push(b'A');
        b.extend_from_slice(&(self.shape.len() as u64).to_le_bytes());
        for d in &self.shape {
            b.extend_from_slice(&d.to_le_bytes());
        }
        b.extend_from_slice(&class_id.to_le_bytes());
        b.extend_from_slice(&u32::from(complex).to_le_bytes());
        let e = self.dtype.item_size();
        let elem = |i: usize| &self.data[i * e..(i + 1) * e];
        match self.dtype {
            NpyDtype::Real(_) => {
                for i in reorder(&self.shape, self.fortran_order, true) {
                    le(elem(i), self.big_endian, &mut b);
                }
            }
            NpyDtype::Complex(_) => {
                let h = e / 2;
                for part in 0..2 {
                    for i in reorder(&self.shape, self.fortran_order, true) {
                        le(&elem(i)[part * h..(part + 1) * h], self.big_endian, &mut b);
                    }
                }
            }
            NpyDtype::Char => {
                // datajoint-python writes char units in C order (its bug; kept
                // for byte identity)
                for i in reorder(&self.shape, self.fortran_order, false) {
                    b.extend_from_slice(&u16::from(elem(i)[0]).to_le_bytes());
                }
            }
        }
        b
    }
}

/// Python's compression rule: `ZL123\0` + u64 plain length + zlib(level 6)
/// when the plain blob is longer than 1000 bytes and that form is strictly
/// shorter; otherwise the plain blob itself.
pub fn compress_blob(plain: Vec<u8>) -> Vec<u8> {
    if plain.len() <= 1000 {
        return plain;
    }
    let mut out = Vec::with_capacity(plain.len() / 2 + 64);
    out.extend_from_slice(ZL_MAGIC);
    out.extend_from_slice(&(plain.len() as u64).to_le_bytes());
    let mut z = ZlibEncoder::new(out, Compression::new(6));
    if z.write_all(&plain).is_err() {
        return plain;
    }
    match z.finish() {
        Ok(c) if c.len() < plain.len() => c,
        _ => plain,
    }
}

/// The uncompressed blob for a `.npy` file.
pub fn encode_npy_plain(npy: &[u8]) -> Result<Vec<u8>, EncodeError> {
    Ok(parse_npy(npy)?.to_plain_blob())
}

/// The stored blob for a `.npy` file: what `pack(np.load(f))` writes (see
/// the module notes for the deflate caveat).
pub fn encode_npy(npy: &[u8]) -> Result<Vec<u8>, EncodeError> {
    Ok(compress_blob(encode_npy_plain(npy)?))
}

/// Check bytes written to a `.blob` file before storing them verbatim: they
/// must have a `ZL123\0`, `mYm\0` or `dj0\0` envelope (what
/// datajoint-python's `bypass_serialization` also insists on), inflate
/// correctly, carry a `mYm`/`dj0` header inside, and decode completely.
pub fn encode_raw_blob_check(bytes: &[u8]) -> Result<(), EncodeError> {
    let blob_err = |m: String| EncodeError::BadBlob(m);
    if !(bytes.starts_with(ZL_MAGIC) || bytes.starts_with(b"mYm\0") || bytes.starts_with(b"dj0\0"))
    {
        return Err(blob_err(
            "must start with \"mYm\\0\", \"dj0\\0\" or \"ZL123\\0\"".into(),
        ));
    }
    let plain = inflate_blob(bytes).map_err(|e| blob_err(e.to_string()))?;
    if !(plain.starts_with(b"mYm\0") || plain.starts_with(b"dj0\0")) {
        return Err(blob_err(
            "the compressed content does not start with \"mYm\\0\" or \"dj0\\0\"".into(),
        ));
    }
    decode_plain(&plain).map_err(|e| blob_err(e.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::blob::tests::hex;
    use super::super::value::{decode_blob, Value};
    use super::*;
    use proptest::prelude::*;

    /// A .npy v1 file as numpy lays it out.
    pub(crate) fn npy(descr: &str, fortran: bool, shape: &[u64], data: &[u8]) -> Vec<u8> {
        let shape_s = match shape {
            [] => "()".to_string(),
            [d] => format!("({d},)"),
            _ => format!(
                "({})",
                shape
                    .iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let f = if fortran { "True" } else { "False" };
        let dict = format!("{{'descr': '{descr}', 'fortran_order': {f}, 'shape': {shape_s}, }}");
        let total = (10 + dict.len() + 1).div_ceil(64) * 64;
        let mut h = b"\x93NUMPY\x01\x00".to_vec();
        h.extend_from_slice(&((total - 10) as u16).to_le_bytes());
        h.extend_from_slice(format!("{dict:<width$}\n", width = total - 11).as_bytes());
        h.extend_from_slice(data);
        h
    }

    fn f64s(v: &[f64]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn spec_examples() {
        assert_eq!(
            encode_npy(&npy("<f8", false, &[3], &f64s(&[1.0, 2.0, 3.0]))).unwrap(),
            hex(
                "6d596d00 41 0100000000000000 0300000000000000 06000000 00000000
                 000000000000f03f 0000000000000040 0000000000000840"
            )
        );
        let c_data: Vec<u8> = [1i32, 2, 3, 4, 5, 6]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let want = hex(
            "6d596d00 41 0200000000000000 0200000000000000 0300000000000000 0c000000 00000000
                 01000000 04000000 02000000 05000000 03000000 06000000",
        );
        assert_eq!(
            encode_npy(&npy("<i4", false, &[2, 3], &c_data)).unwrap(),
            want
        );
        // the same array Fortran-ordered, and big-endian
        let f_data: Vec<u8> = [1i32, 4, 2, 5, 3, 6]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        assert_eq!(
            encode_npy(&npy("<i4", true, &[2, 3], &f_data)).unwrap(),
            want
        );
        let be: Vec<u8> = [1i32, 2, 3, 4, 5, 6]
            .iter()
            .flat_map(|x| x.to_be_bytes())
            .collect();
        assert_eq!(encode_npy(&npy(">i4", false, &[2, 3], &be)).unwrap(), want);
        assert_eq!(
            encode_npy(&npy("<c16", false, &[2], &f64s(&[1.0, 2.0, 3.0, -4.0]))).unwrap(),
            hex(
                "6d596d00 41 0100000000000000 0200000000000000 06000000 01000000
                 000000000000f03f 0000000000000840 0000000000000040 00000000000010c0"
            )
        );
        assert_eq!(
            encode_npy(&npy("|b1", false, &[2], &[1, 0])).unwrap(),
            hex("6d596d00 41 0100000000000000 0200000000000000 03000000 00000000 01 00")
        );
        assert_eq!(
            encode_npy(&npy("|u1", false, &[], &[7])).unwrap(),
            hex("646a3000 41 0000000000000000 09000000 00000000 07")
        );
        assert_eq!(
            encode_npy(&npy("<M8[D]", false, &[1], &18263i64.to_le_bytes())).unwrap(),
            hex("646a3000 41 0100000000000000 0100000000000000 03000100 00000000 5747000000000000")
        );
        assert_eq!(
            encode_npy(&npy(
                "<i8",
                false,
                &[2, 1],
                &[1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]
            ))
            .unwrap(),
            hex(
                "6d596d00 41 0200000000000000 0200000000000000 0100000000000000 0e000000 00000000
                 0100000000000000 0200000000000000"
            )
        );
        // S1 char: C-order units, mYm even when 0-d (self-produced with 0.14.10)
        assert_eq!(
            encode_npy(&npy("|S1", false, &[2, 2], b"abcd")).unwrap(),
            hex("6d596d00 41 0200000000000000 0200000000000000 0200000000000000 04000000 00000000 6100620063006400")
        );
        assert_eq!(
            encode_npy(&npy("|S1", true, &[2, 2], b"acbd")).unwrap(),
            hex("6d596d00 41 0200000000000000 0200000000000000 0200000000000000 04000000 00000000 6100620063006400")
        );
        assert_eq!(
            encode_npy(&npy("|S1", false, &[], b"a")).unwrap(),
            hex("6d596d00 41 0000000000000000 04000000 00000000 6100")
        );
    }

    #[test]
    fn compression_rule() {
        // np.zeros(121) -> 997 plain bytes stays plain; np.zeros(122) -> 1005 compresses
        let z121 = encode_npy(&npy("<f8", false, &[121], &[0; 968])).unwrap();
        assert_eq!(z121.len(), 997);
        let z122 = encode_npy(&npy("<f8", false, &[122], &[0; 976])).unwrap();
        assert!(z122.starts_with(b"ZL123\0"));
        assert_eq!(&z122[6..14], &1005u64.to_le_bytes());
        assert_eq!(
            inflate_blob(&z122).unwrap().as_ref(),
            encode_npy_plain(&npy("<f8", false, &[122], &[0; 976]))
                .unwrap()
                .as_slice()
        );
        // incompressible data above 1000 bytes stays plain
        let mut x = 0x1234_5678_9abc_def0u64;
        let noise: Vec<u8> = (0..2000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let b = encode_npy(&npy("|u1", false, &[2000], &noise)).unwrap();
        assert!(b.starts_with(b"mYm\0"));
    }

    #[test]
    fn header_variants() {
        let data = f64s(&[1.0, 2.0]);
        let want = encode_npy(&npy("<f8", false, &[2], &data)).unwrap();
        for dict in [
            "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }",
            "{\"shape\": (2,), \"fortran_order\": False, \"descr\": \"<f8\"}",
            "{'descr':'f8','fortran_order':False,'shape':(2L,)}",
            "{'descr': '=f8', 'fortran_order': False, 'shape': (2,)}",
            "{'descr': '|f8', 'fortran_order': True, 'shape': (2,)}",
        ] {
            for version in [1u8, 2, 3] {
                let mut f = b"\x93NUMPY".to_vec();
                f.extend_from_slice(&[version, 0]);
                let body = format!("{dict}\n");
                if version == 1 {
                    f.extend_from_slice(&(body.len() as u16).to_le_bytes());
                } else {
                    f.extend_from_slice(&(body.len() as u32).to_le_bytes());
                }
                f.extend_from_slice(body.as_bytes());
                f.extend_from_slice(&data);
                assert_eq!(encode_npy(&f).unwrap(), want, "{dict} v{version}");
            }
        }
    }

    #[test]
    fn rejections() {
        let unsup = |descr: &str, item: usize| {
            let e = encode_npy(&npy(descr, false, &[2], &vec![0; 2 * item])).unwrap_err();
            assert!(matches!(e, EncodeError::Unsupported(_)), "{descr}: {e}");
        };
        for (d, s) in [
            ("<f2", 2),
            ("<f16", 16),
            ("<c32", 32),
            ("|O", 8),
            ("|S2", 2),
            ("<U1", 4),
            ("<U3", 12),
            ("<m8[s]", 8),
            ("|V8", 8),
            ("<M8", 8),
            ("<M8[2D]", 8),
            ("<M8[D2]", 8),
        ] {
            unsup(d, s);
        }
        // structured
        let mut f = b"\x93NUMPY\x01\x00".to_vec();
        let body = "{'descr': [('a', '<i4')], 'fortran_order': False, 'shape': (1,), }\n";
        f.extend_from_slice(&(body.len() as u16).to_le_bytes());
        f.extend_from_slice(body.as_bytes());
        f.extend_from_slice(&[0; 4]);
        assert!(matches!(encode_npy(&f), Err(EncodeError::Unsupported(_))));
        // malformed files
        let good = npy("<f8", false, &[2], &f64s(&[1.0, 2.0]));
        for cut in 0..good.len() {
            assert!(
                matches!(encode_npy(&good[..cut]), Err(EncodeError::BadNpy(_))),
                "{cut}"
            );
        }
        let mut long = good.clone();
        long.push(0);
        assert!(matches!(encode_npy(&long), Err(EncodeError::BadNpy(_))));
        for dict in [
            "{'descr': '<f8', 'fortran_order': False}",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), 'x': 1}",
            "{'descr': '<f8', 'fortran_order': 0, 'shape': (2,)}",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (-2,)}",
            "{'descr': '<f8', 'fortran_order': False, 'shape': [2]}",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (2,)} x",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999,)}",
            "['descr']",
        ] {
            let mut f = b"\x93NUMPY\x01\x00".to_vec();
            let body = format!("{dict}\n");
            f.extend_from_slice(&(body.len() as u16).to_le_bytes());
            f.extend_from_slice(body.as_bytes());
            f.extend_from_slice(&f64s(&[1.0, 2.0]));
            assert!(
                matches!(encode_npy(&f), Err(EncodeError::BadNpy(_))),
                "{dict}"
            );
        }
        // shape (2) is the int 2, not a tuple
        let mut f = b"\x93NUMPY\x01\x00".to_vec();
        let body = "{'descr': '<f8', 'fortran_order': False, 'shape': (2)}\n";
        f.extend_from_slice(&(body.len() as u16).to_le_bytes());
        f.extend_from_slice(body.as_bytes());
        f.extend_from_slice(&f64s(&[1.0, 2.0]));
        assert!(matches!(encode_npy(&f), Err(EncodeError::BadNpy(_))));
    }

    #[test]
    fn raw_blob_check() {
        assert!(encode_raw_blob_check(&hex("646a3000 05 0300000000000000 616263")).is_ok());
        let big = encode_npy(&npy("<f8", false, &[200], &[0; 1600])).unwrap();
        assert!(big.starts_with(b"ZL123\0"));
        assert!(encode_raw_blob_check(&big).is_ok());
        for bad in [
            &b""[..],
            b"hello",
            b"mYm\0",
            b"dj0\0\x05\x03",
            b"ZL123\0\x05\x00\x00\x00\x00\x00\x00\x00",
        ] {
            assert!(
                matches!(encode_raw_blob_check(bad), Err(EncodeError::BadBlob(_))),
                "{bad:?}"
            );
        }
        // compressed non-blob
        let z = compress_blob([b"xyz\0".to_vec(), vec![0; 2000]].concat());
        assert!(z.starts_with(b"ZL123\0"));
        assert!(matches!(
            encode_raw_blob_check(&z),
            Err(EncodeError::BadBlob(_))
        ));
    }

    #[test]
    fn reorder_orders() {
        let c_to_f: Vec<usize> = reorder(&[2, 3], false, true).collect();
        assert_eq!(c_to_f, [0, 3, 1, 4, 2, 5]);
        let f_to_c: Vec<usize> = reorder(&[2, 3], true, false).collect();
        assert_eq!(f_to_c, [0, 2, 4, 1, 3, 5]);
        let same: Vec<usize> = reorder(&[2, 3], true, true).collect();
        assert_eq!(same, [0, 1, 2, 3, 4, 5]);
        assert_eq!(reorder(&[2, 0, 3], false, true).count(), 0);
        // 3-d round trip
        let shape = [2u64, 3, 4];
        let fwd: Vec<usize> = reorder(&shape, false, true).collect();
        let back: Vec<usize> = reorder(&shape, true, false).collect();
        for (i, &b) in back.iter().enumerate() {
            assert_eq!(fwd[b], i);
        }
    }

    fn descr_strategy() -> impl Strategy<Value = (&'static str, usize)> {
        prop::sample::select(vec![
            ("|b1", 1),
            ("|i1", 1),
            ("|u1", 1),
            ("<i2", 2),
            ("<u2", 2),
            ("<i4", 4),
            ("<u4", 4),
            ("<i8", 8),
            ("<u8", 8),
            ("<f4", 4),
            ("<f8", 8),
            ("<c8", 8),
            ("<c16", 16),
            ("<M8[D]", 8),
            ("<M8[ns]", 8),
            (">f8", 8),
            (">i2", 2),
            (">c8", 8),
            (">M8[s]", 8),
        ])
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        /// encode → decode is the identity on the array (dtype, shape, values).
        #[test]
        fn encode_decode_identity(
            (descr, item) in descr_strategy(),
            shape in proptest::collection::vec(0u64..5, 0..=4),
            fortran in any::<bool>(),
            seed in any::<u64>(),
            repeat in 1usize..50,
        ) {
            let n = element_count(&shape).unwrap() as usize;
            let mut x = seed | 1;
            // C- or F-ordered element bytes of a logical array: elements indexed by C position
            let mut c_elems: Vec<Vec<u8>> = (0..n)
                .map(|_| (0..item).map(|_| { x ^= x << 13; x ^= x >> 7; x ^= x << 17; (x as u8) % (repeat as u8 + 1) }).collect())
                .collect();
            if descr == "|b1" {
                for e in c_elems.iter_mut() { e[0] &= 1; }
            }
            let file_elems: Vec<u8> = if fortran {
                reorder(&shape, false, true).flat_map(|i| c_elems[i].clone()).collect()
            } else {
                c_elems.concat()
            };
            let blob = encode_npy(&npy(descr, fortran, &shape, &file_elems)).unwrap();
            let v = decode_blob(&blob).unwrap();
            let Value::Array(a) = v else { return Err(TestCaseError::fail("not an array")) };
            prop_assert_eq!(&a.shape, &shape);
            let big = descr.starts_with('>');
            let le_descr = descr.replace('>', "<");
            prop_assert_eq!(a.python_descr(), le_descr);
            // expected little-endian C-order bytes
            let want: Vec<u8> = c_elems.iter().flat_map(|e| {
                if !big { return e.clone(); }
                let h = if descr.starts_with(">c") { item / 2 } else { item };
                e.chunks(h).flat_map(|c| c.iter().rev().copied().collect::<Vec<_>>()).collect()
            }).collect();
            prop_assert_eq!(a.python_c_bytes(), want);
            prop_assert_eq!(blob.starts_with(b"dj0\0") || blob.starts_with(b"ZL123\0") && inflate_blob(&blob).unwrap().starts_with(b"dj0\0"),
                shape.is_empty() || descr.contains("M8"));
            prop_assert!(encode_raw_blob_check(&blob).is_ok());
        }

        #[test]
        fn npy_garbage_never_panics(b in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = encode_npy(&b);
            let mut f = b"\x93NUMPY\x01\x00".to_vec();
            f.extend_from_slice(&b);
            let _ = encode_npy(&f);
            let _ = encode_raw_blob_check(&b);
        }

        #[test]
        fn npy_header_garbage_never_panics(dict in "[{}()\\[\\]':, 0-9a-zTF_L\"-]{0,80}", tail in proptest::collection::vec(any::<u8>(), 0..40)) {
            let mut f = b"\x93NUMPY\x01\x00".to_vec();
            f.extend_from_slice(&(dict.len() as u16).to_le_bytes());
            f.extend_from_slice(dict.as_bytes());
            f.extend_from_slice(&tail);
            let _ = encode_npy(&f);
        }
    }
}
