//! Full blob decoder: any mYm / dj0 / ZL123 blob into a [`Value`] tree
//! (spec §1.2–§1.9).
//!
//! The tree keeps what the bytes say (Fortran-ordered element bytes, UTF-16
//! char units, integers of any size) and offers the views datajoint-python
//! builds from them (`python_*` methods). Hostile input is safe: every count
//! read from the blob is checked against the bytes that remain before
//! anything is allocated, nesting is limited to [`MAX_DEPTH`], and nothing
//! panics.
//!
//! Deliberate differences from datajoint-python 0.14 (which is the oracle for
//! everything else):
//! * sparse matrices (`P`) decode (Python raises "not supported");
//! * cell arrays keep one [`Value`] per cell (0.14 builds `np.array(list)`,
//!   which collapses or fails on many cells; 2.x does what we do);
//! * char arrays keep their UTF-16 units (Python keeps the low byte only and
//!   fails on units whose low byte is >= 0x80);
//! * dict pairs and set items are kept in blob order, duplicates included
//!   (Python builds a `dict`/`set`);
//! * `Decimal` text is kept as is (not checked against Python's grammar).

use super::blob::{inflate_blob, BlobError, ElementClass, MAX_NDIM, ZL_MAGIC};

/// Deepest nesting of containers accepted (Python's own recursion limit is
/// about 1000 frames; real blobs nest a handful of levels).
pub const MAX_DEPTH: usize = 100;

/// Cap on the rows [`CharArray::rows`] lists for an empty char array (its
/// dims are not backed by any bytes, so they could be anything).
pub const MAX_EMPTY_ROWS: u64 = 1 << 16;

/// One decoded value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `0xff`, and what Python returns for a blob with an unknown header.
    None,
    /// `0x0b`
    Bool(bool),
    /// `0x0a`: any size
    Int(BigInt),
    /// `0x0d`
    Float(f64),
    /// `0x0c`
    Complex { re: f64, im: f64 },
    /// `0x05` (UTF-8)
    Str(String),
    /// `0x06`
    Bytes(Vec<u8>),
    /// `d`: the text of `str(Decimal)`
    Decimal(String),
    /// `t`
    DateTime(DateTime),
    /// `u`: RFC byte order
    Uuid([u8; 16]),
    /// `0x01`
    Tuple(Vec<Value>),
    /// `0x02`
    List(Vec<Value>),
    /// `0x03`: in blob order
    Set(Vec<Value>),
    /// `0x04`: pairs in blob order
    Dict(Vec<(Value, Value)>),
    /// `A` with a numeric, logical or datetime64 class
    Array(NumArray),
    /// `A` class 4 (MATLAB char)
    Char(CharArray),
    /// `A` class 5 (numpy object / unicode arrays)
    Object(ObjectArray),
    /// `S`
    Struct(StructArray),
    /// `C`
    Cell(CellArray),
    /// `P` (MATLAB only)
    Sparse(SparseMatrix),
    /// `F` (numpy structured / record arrays)
    Record(RecordArray),
}

/// A Python `int` as stored: little-endian two's complement, any length
/// (zero bytes mean 0).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BigInt(pub Vec<u8>);

impl BigInt {
    pub fn from_i64(v: i64) -> BigInt {
        BigInt(v.to_le_bytes().to_vec())
    }

    fn negative(&self) -> bool {
        self.0.last().is_some_and(|b| b & 0x80 != 0)
    }

    /// The value if it fits in an `i64`.
    pub fn to_i64(&self) -> Option<i64> {
        let fill = if self.negative() { 0xff } else { 0 };
        let mut v = [fill; 8];
        for (i, b) in self.0.iter().enumerate() {
            if i < 8 {
                v[i] = *b;
            } else if *b != fill {
                return None;
            }
        }
        let x = i64::from_le_bytes(v);
        // the sign of the truncated value must match the full one
        ((x < 0) == self.negative()).then_some(x)
    }

    /// Decimal text, e.g. `-1180591620717411303424`.
    pub fn to_decimal(&self) -> String {
        let neg = self.negative();
        // magnitude as little-endian u32 limbs
        let mut bytes = self.0.clone();
        if neg {
            // two's complement negation
            let mut carry = true;
            for b in bytes.iter_mut() {
                *b = !*b;
                if carry {
                    let (s, c) = b.overflowing_add(1);
                    *b = s;
                    carry = c;
                }
            }
        }
        let mut limbs: Vec<u32> = bytes
            .chunks(4)
            .map(|c| {
                let mut w = [0u8; 4];
                w[..c.len()].copy_from_slice(c);
                u32::from_le_bytes(w)
            })
            .collect();
        while limbs.last() == Some(&0) {
            limbs.pop();
        }
        if limbs.is_empty() {
            return "0".to_string();
        }
        // repeated division by 10^9
        let mut groups = Vec::new();
        while !limbs.is_empty() {
            let mut rem = 0u64;
            for l in limbs.iter_mut().rev() {
                let cur = (rem << 32) | u64::from(*l);
                *l = (cur / 1_000_000_000) as u32;
                rem = cur % 1_000_000_000;
            }
            groups.push(rem as u32);
            while limbs.last() == Some(&0) {
                limbs.pop();
            }
        }
        let mut s = String::new();
        if neg {
            s.push('-');
        }
        let mut it = groups.iter().rev();
        if let Some(first) = it.next() {
            s.push_str(&first.to_string());
        }
        for g in it {
            s.push_str(&format!("{g:09}"));
        }
        s
    }
}

/// `t` code: Python `date`, `time` or `datetime` (both parts absent = None).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateTime {
    /// (year, month, day)
    pub date: Option<(u32, u32, u32)>,
    /// (hour, minute, second, microsecond)
    pub time: Option<(u32, u32, u32, u32)>,
}

impl DateTime {
    /// Python's `isoformat()`: `2020-01-02`, `03:04:05.000006`,
    /// `2020-01-02T03:04:05`; `None` when both parts are absent.
    pub fn iso(&self) -> Option<String> {
        let d = self.date.map(|(y, m, d)| format!("{y:04}-{m:02}-{d:02}"));
        let t = self.time.map(|(h, mi, s, us)| {
            if us == 0 {
                format!("{h:02}:{mi:02}:{s:02}")
            } else {
                format!("{h:02}:{mi:02}:{s:02}.{us:06}")
            }
        });
        match (d, t) {
            (Some(d), Some(t)) => Some(format!("{d}T{t}")),
            (d, t) => d.or(t),
        }
    }
}

/// Product of dims, `None` on overflow. A zero dim makes it 0.
pub fn element_count(shape: &[u64]) -> Option<u64> {
    if shape.contains(&0) {
        return Some(0);
    }
    shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d))
}

/// Convert a column-major (Fortran) flat index list into row-major (C) order.
/// `items` has `prod(shape)` entries; returns them in C order.
pub fn fortran_to_c<T: Clone>(items: &[T], shape: &[u64]) -> Vec<T> {
    let n = items.len();
    if shape.len() < 2 || n == 0 || element_count(shape) != Some(n as u64) {
        return items.to_vec();
    }
    let dims: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
    // Fortran strides (in elements)
    let mut fstride = vec![1usize; dims.len()];
    for k in 1..dims.len() {
        fstride[k] = fstride[k - 1] * dims[k - 1];
    }
    let mut out = Vec::with_capacity(n);
    let mut idx = vec![0usize; dims.len()];
    for _ in 0..n {
        let off: usize = idx.iter().zip(&fstride).map(|(i, s)| i * s).sum();
        out.push(items[off].clone());
        // advance the C-order odometer (last axis fastest)
        for k in (0..dims.len()).rev() {
            idx[k] += 1;
            if idx[k] < dims[k] {
                break;
            }
            idx[k] = 0;
        }
    }
    out
}

/// `A` array of a numeric, logical or datetime64 class.
#[derive(Clone, Debug, PartialEq)]
pub struct NumArray {
    pub class: ElementClass,
    /// set for any non-zero complexity flag; then `data` holds two planes
    pub complex: bool,
    /// dims as stored (may be empty: 0-d)
    pub shape: Vec<u64>,
    /// element bytes exactly as stored: little-endian, Fortran order, all real
    /// parts then all imaginary parts when complex
    pub data: Vec<u8>,
}

impl NumArray {
    pub fn len(&self) -> usize {
        self.data.len() / self.class.size() / if self.complex { 2 } else { 1 }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The dtype datajoint-python decodes to, as numpy's `dtype.str`:
    /// `<f8`, `|b1`, `<M8[D]`, ...; complex single → `<c8`, any other
    /// complex class (double, and MATLAB's complex integers/logicals) → `<c16`.
    pub fn python_descr(&self) -> String {
        if self.complex && self.class != ElementClass::Float32 {
            return "<c16".to_string();
        }
        self.class.npy_descr(self.complex)
    }

    /// Real part (or the value) of element `i` (Fortran order) as f64.
    /// datetime64 gives its raw count.
    pub fn real_f64(&self, i: usize) -> f64 {
        self.elem_f64(i, 0)
    }

    /// Imaginary part of element `i` (0 for real arrays).
    pub fn imag_f64(&self, i: usize) -> f64 {
        if self.complex {
            self.elem_f64(i, 1)
        } else {
            0.0
        }
    }

    fn elem_bytes(&self, i: usize, plane: usize) -> &[u8] {
        let e = self.class.size();
        let start = plane * self.len() * e + i * e;
        &self.data[start..start + e]
    }

    fn elem_f64(&self, i: usize, plane: usize) -> f64 {
        let b = self.elem_bytes(i, plane);
        match self.class {
            ElementClass::Bool => f64::from(u8::from(b[0] != 0)),
            ElementClass::Int8 => f64::from(b[0] as i8),
            ElementClass::UInt8 => f64::from(b[0]),
            ElementClass::Int16 => f64::from(i16::from_le_bytes([b[0], b[1]])),
            ElementClass::UInt16 => f64::from(u16::from_le_bytes([b[0], b[1]])),
            ElementClass::Int32 => f64::from(i32::from_le_bytes(arr(b))),
            ElementClass::UInt32 => f64::from(u32::from_le_bytes(arr(b))),
            ElementClass::Int64 | ElementClass::DateTime64(_) => i64::from_le_bytes(arr(b)) as f64,
            ElementClass::UInt64 => u64::from_le_bytes(arr(b)) as f64,
            ElementClass::Float32 => f64::from(f32::from_le_bytes(arr(b))),
            ElementClass::Float64 => f64::from_le_bytes(arr(b)),
        }
    }

    /// Element `i` of `plane` (0 real, 1 imaginary) as a typed scalar.
    pub fn scalar(&self, i: usize, plane: usize) -> Scalar {
        let b = self.elem_bytes(i, plane);
        match self.class {
            ElementClass::Bool => Scalar::Bool(b[0] != 0),
            ElementClass::Int8 => Scalar::Int(i64::from(b[0] as i8)),
            ElementClass::UInt8 => Scalar::Int(i64::from(b[0])),
            ElementClass::Int16 => Scalar::Int(i64::from(i16::from_le_bytes([b[0], b[1]]))),
            ElementClass::UInt16 => Scalar::Int(i64::from(u16::from_le_bytes([b[0], b[1]]))),
            ElementClass::Int32 => Scalar::Int(i64::from(i32::from_le_bytes(arr(b)))),
            ElementClass::UInt32 => Scalar::Int(i64::from(u32::from_le_bytes(arr(b)))),
            ElementClass::Int64 => Scalar::Int(i64::from_le_bytes(arr(b))),
            ElementClass::UInt64 => Scalar::UInt(u64::from_le_bytes(arr(b))),
            ElementClass::Float32 => Scalar::F32(f32::from_le_bytes(arr(b))),
            ElementClass::Float64 => Scalar::F64(f64::from_le_bytes(arr(b))),
            ElementClass::DateTime64(k) => Scalar::DateTime64(i64::from_le_bytes(arr(b)), k),
        }
    }

    /// The array datajoint-python returns, as the bytes of
    /// `np.ascontiguousarray(x)` (C order, dtype [`python_descr`](Self::python_descr)):
    /// real arrays are the stored elements reordered; complex ones are
    /// interleaved (re, im) pairs computed as Python does, `re + 1j*im`: the
    /// real part becomes NaN when `im` is infinite or NaN, and a `-0.0`
    /// imaginary part (or a `-0.0` real part next to a positive imaginary
    /// one) turns into `0.0`; integer/logical complex is converted to f64.
    /// The `.npy` view serves the stored values instead.
    pub fn python_c_bytes(&self) -> Vec<u8> {
        let n = self.len();
        let f_elems: Vec<Vec<u8>> = (0..n)
            .map(|i| {
                if !self.complex {
                    return self.elem_bytes(i, 0).to_vec();
                }
                // data + (0+1j)*imag, as numpy evaluates it: the real array
                // is promoted to (re + 0j) and the product is a full complex
                // multiplication (0*im - 1*0) + (0*0 + 1*im)j.
                match (self.scalar(i, 0), self.scalar(i, 1)) {
                    (Scalar::F32(re), Scalar::F32(im)) => {
                        let r = re + (0.0f32 * im - 0.0);
                        let m = 0.0f32 + (0.0 + im);
                        [r.to_le_bytes(), m.to_le_bytes()].concat()
                    }
                    _ => {
                        let (re, im) = (self.real_f64(i), self.imag_f64(i));
                        let r = re + (0.0 * im - 0.0);
                        let m = 0.0 + (0.0 + im);
                        [r.to_le_bytes(), m.to_le_bytes()].concat()
                    }
                }
            })
            .collect();
        fortran_to_c(&f_elems, &self.shape).concat()
    }

    /// The stored array as numpy holds it in a `.npy` file, in C order:
    /// little-endian elements, complex as interleaved (re, im) of the stored
    /// planes (no arithmetic), dtype [`ElementClass::npy_descr`].
    pub fn stored_c_bytes(&self) -> Vec<u8> {
        let f_elems: Vec<Vec<u8>> = (0..self.len())
            .map(|i| {
                if self.complex {
                    [self.elem_bytes(i, 0), self.elem_bytes(i, 1)].concat()
                } else {
                    self.elem_bytes(i, 0).to_vec()
                }
            })
            .collect();
        fortran_to_c(&f_elems, &self.shape).concat()
    }
}

fn arr<const N: usize>(b: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&b[..N]);
    a
}

/// One array element, typed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scalar {
    Bool(bool),
    Int(i64),
    UInt(u64),
    F32(f32),
    F64(f64),
    /// raw count and unit index (see [`ElementClass::DateTime64`])
    DateTime64(i64, u8),
}

/// `A` class 4: MATLAB char array, UTF-16 code units in Fortran order.
#[derive(Clone, Debug, PartialEq)]
pub struct CharArray {
    pub shape: Vec<u64>,
    pub units: Vec<u16>,
}

/// What datajoint-python makes of a char array.
#[derive(Clone, Debug, PartialEq)]
pub enum PyChars {
    /// vectors (`ndim == 1`, or `ndim == 2` with one row): one string, as
    /// the 1-element `<U n` array of shape `(1,)` Python returns
    Text(String),
    /// otherwise a `<U1` array of the stored shape: one char (or `""` for a
    /// NUL unit) per element, Fortran order
    Chars(Vec<String>),
}

impl CharArray {
    /// The text as MATLAB wrote it (UTF-16, Fortran order; invalid surrogates
    /// become U+FFFD).
    pub fn utf16_text(&self) -> String {
        String::from_utf16_lossy(&self.units)
    }

    /// Whether Python joins the characters into one string (a vector).
    pub fn is_vector(&self) -> bool {
        self.shape.len() == 1 || (self.shape.len() == 2 && self.shape[0] == 1)
    }

    /// Python's lossy rule: keep the low byte of each unit, decode it as
    /// ASCII (NUL units vanish), join vectors into one string. `None` where
    /// datajoint-python fails (a low byte >= 0x80 raises UnicodeDecodeError).
    pub fn python_value(&self) -> Option<PyChars> {
        let mut chars = Vec::with_capacity(self.units.len());
        for u in &self.units {
            let b = (*u & 0xff) as u8;
            if b >= 0x80 {
                return None;
            }
            chars.push(if b == 0 {
                String::new()
            } else {
                char::from(b).to_string()
            });
        }
        Some(if self.is_vector() {
            PyChars::Text(chars.concat())
        } else {
            PyChars::Chars(chars)
        })
    }

    /// Rows of the char matrix as strings (for 2-D `m × n`: `m` strings of
    /// `n` chars, MATLAB's reading); for N-D, one string per run along the
    /// last axis, in C order of the remaining axes. An array with an empty
    /// last axis has empty rows (at most [`MAX_EMPTY_ROWS`] of them).
    pub fn rows(&self) -> Vec<String> {
        let Some(&last) = self.shape.last() else {
            return vec![self.utf16_text()];
        };
        let c = fortran_to_c(&self.units, &self.shape);
        if last == 0 || c.is_empty() {
            let n = element_count(&self.shape[..self.shape.len() - 1]).unwrap_or(0);
            return vec![String::new(); n.min(MAX_EMPTY_ROWS) as usize];
        }
        c.chunks(last as usize)
            .map(String::from_utf16_lossy)
            .collect()
    }
}

/// `A` class 5: each element a value (Python object array; numpy `U` arrays
/// are written this way as `str` elements).
#[derive(Clone, Debug, PartialEq)]
pub struct ObjectArray {
    pub shape: Vec<u64>,
    /// Fortran order
    pub items: Vec<Value>,
}

/// `S`: MATLAB struct array.
#[derive(Clone, Debug, PartialEq)]
pub struct StructArray {
    pub shape: Vec<u64>,
    pub fields: Vec<String>,
    /// element-major (Fortran order), field-minor: `values[e * fields.len() + f]`.
    /// Empty when there are no fields (Python then returns `None`).
    pub values: Vec<Value>,
}

impl StructArray {
    pub fn element_count(&self) -> u64 {
        element_count(&self.shape).unwrap_or(0)
    }
}

/// `C`: MATLAB cell array.
#[derive(Clone, Debug, PartialEq)]
pub struct CellArray {
    pub shape: Vec<u64>,
    /// Fortran order
    pub items: Vec<Value>,
}

/// Storage class of a sparse matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SparseClass {
    /// class 6, 8-byte elements
    Double,
    /// class 3, 1-byte elements
    Logical,
}

/// `P`: MATLAB sparse matrix in compressed-column form.
#[derive(Clone, Debug, PartialEq)]
pub struct SparseMatrix {
    pub rows: u64,
    pub cols: u64,
    pub class: SparseClass,
    pub complex: bool,
    /// column starts, `cols + 1` entries
    pub jc: Vec<u64>,
    /// row index of each stored entry (`nzmax` entries)
    pub ir: Vec<u64>,
    /// real parts (`nzmax` elements)
    pub real: Vec<f64>,
    /// imaginary parts (`nzmax` elements when complex, else empty)
    pub imag: Vec<f64>,
}

impl SparseMatrix {
    /// Non-zero entries `(row, col, re, im)` (0-based), column by column.
    pub fn entries(&self) -> Vec<(u64, u64, f64, f64)> {
        let mut out = Vec::new();
        for c in 0..self.cols as usize {
            let (a, b) = (self.jc[c] as usize, self.jc[c + 1] as usize);
            for k in a..b {
                let im = if self.complex { self.imag[k] } else { 0.0 };
                out.push((self.ir[k], c as u64, self.real[k], im));
            }
        }
        out
    }
}

/// `F`: numpy structured array, stored column by column.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordArray {
    /// (name, column); each column is an `A` array or a nested record array.
    /// Empty for zero fields (Python returns `None`).
    pub fields: Vec<(String, Value)>,
}

impl RecordArray {
    /// The record array's shape: its first column's (as Python builds it).
    pub fn shape(&self) -> Vec<u64> {
        match self.fields.first().map(|f| &f.1) {
            Some(Value::Array(a)) => a.shape.clone(),
            Some(Value::Char(a)) => a.shape.clone(),
            Some(Value::Object(a)) => a.shape.clone(),
            Some(Value::Record(r)) => r.shape(),
            _ => Vec::new(),
        }
    }
}

/// Reader settings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecodeOptions {
    /// 32-bit mYm legacy mode (§1.9): counts, dims and length prefixes (and
    /// the ZL123 size) are u32. No marker in the blob says so.
    pub dims32: bool,
}

fn corrupt(msg: impl Into<String>) -> BlobError {
    BlobError::Corrupt(msg.into())
}

/// Decode a stored blob (maybe ZL123-compressed) the way
/// `datajoint.blob.unpack` does. A blob whose header is neither `mYm\0` nor
/// `dj0\0` is `Value::None`, as in Python.
pub fn decode_blob(stored: &[u8]) -> Result<Value, BlobError> {
    decode_blob_with(stored, DecodeOptions::default())
}

/// [`decode_blob`] with reader settings.
pub fn decode_blob_with(stored: &[u8], opts: DecodeOptions) -> Result<Value, BlobError> {
    if opts.dims32 && stored.starts_with(ZL_MAGIC) {
        // ZL123 with a u32 size: rewrite to the u64 envelope and inflate.
        if stored.len() < 10 {
            return Err(corrupt("ZL123 header truncated"));
        }
        let mut v = Vec::with_capacity(stored.len() + 4);
        v.extend_from_slice(ZL_MAGIC);
        v.extend_from_slice(&u64::from(u32::from_le_bytes(arr(&stored[6..10]))).to_le_bytes());
        v.extend_from_slice(&stored[10..]);
        let plain = inflate_blob(&v)?;
        return decode_plain_with(&plain, opts);
    }
    let plain = inflate_blob(stored)?;
    decode_plain_with(&plain, opts)
}

/// Decode an uncompressed blob (protocol header included).
pub fn decode_plain(plain: &[u8]) -> Result<Value, BlobError> {
    decode_plain_with(plain, DecodeOptions::default())
}

/// [`decode_plain`] with reader settings.
pub fn decode_plain_with(plain: &[u8], opts: DecodeOptions) -> Result<Value, BlobError> {
    if !(plain.starts_with(b"mYm\0") || plain.starts_with(b"dj0\0")) {
        return Ok(Value::None);
    }
    let mut r = Reader {
        b: plain,
        pos: 4,
        dims32: opts.dims32,
    };
    let v = r.value(0)?;
    if r.pos != plain.len() {
        return Err(corrupt(format!(
            "{} bytes left after the value",
            plain.len() - r.pos
        )));
    }
    Ok(v)
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
    dims32: bool,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.b.len() - self.pos
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], BlobError> {
        if n > self.remaining() {
            return Err(corrupt(format!(
                "{what} needs {n} bytes at offset {} but {} remain",
                self.pos,
                self.remaining()
            )));
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u8(&mut self, what: &str) -> Result<u8, BlobError> {
        Ok(self.take(1, what)?[0])
    }

    fn u16(&mut self, what: &str) -> Result<u16, BlobError> {
        Ok(u16::from_le_bytes(arr(self.take(2, what)?)))
    }

    fn u32(&mut self, what: &str) -> Result<u32, BlobError> {
        Ok(u32::from_le_bytes(arr(self.take(4, what)?)))
    }

    fn i32(&mut self, what: &str) -> Result<i32, BlobError> {
        Ok(i32::from_le_bytes(arr(self.take(4, what)?)))
    }

    fn i64(&mut self, what: &str) -> Result<i64, BlobError> {
        Ok(i64::from_le_bytes(arr(self.take(8, what)?)))
    }

    fn u64(&mut self, what: &str) -> Result<u64, BlobError> {
        Ok(u64::from_le_bytes(arr(self.take(8, what)?)))
    }

    fn f64(&mut self, what: &str) -> Result<f64, BlobError> {
        Ok(f64::from_le_bytes(arr(self.take(8, what)?)))
    }

    /// A count / dim / length prefix: u64, or u32 in 32-bit mode.
    fn count(&mut self, what: &str) -> Result<u64, BlobError> {
        if self.dims32 {
            Ok(u64::from(self.u32(what)?))
        } else {
            self.u64(what)
        }
    }

    fn count_size(&self) -> usize {
        if self.dims32 {
            4
        } else {
            8
        }
    }

    /// A count of items each taking at least `min_each` bytes: checked
    /// against the remaining bytes so it can size an allocation.
    fn bounded_count(&mut self, min_each: usize, what: &str) -> Result<usize, BlobError> {
        let n = self.count(what)?;
        self.check_fits(n, min_each, what)
    }

    fn check_fits(&self, n: u64, min_each: usize, what: &str) -> Result<usize, BlobError> {
        let need = n.checked_mul(min_each as u64);
        match need {
            Some(need) if need <= self.remaining() as u64 => Ok(n as usize),
            _ => Err(corrupt(format!(
                "{what}: {n} items cannot fit in the {} remaining bytes",
                self.remaining()
            ))),
        }
    }

    fn shape(&mut self, what: &str) -> Result<Vec<u64>, BlobError> {
        let ndim = self.count(what)?;
        if ndim > MAX_NDIM {
            return Err(corrupt(format!(
                "{what} with {ndim} dimensions (max {MAX_NDIM})"
            )));
        }
        let n = self.check_fits(ndim, self.count_size(), what)?;
        (0..n).map(|_| self.count(what)).collect()
    }

    /// NUL-terminated UTF-8 name.
    fn name(&mut self) -> Result<String, BlobError> {
        let rest = &self.b[self.pos..];
        let end = rest
            .iter()
            .position(|&c| c == 0)
            .ok_or_else(|| corrupt("field name without NUL terminator"))?;
        let s = std::str::from_utf8(&rest[..end])
            .map_err(|_| corrupt("field name is not UTF-8"))?
            .to_string();
        self.pos += end + 1;
        Ok(s)
    }

    /// A length-prefixed nested value that must use exactly that length.
    fn sized_value(&mut self, depth: usize) -> Result<Value, BlobError> {
        let len = self.count("length prefix")?;
        if len > self.remaining() as u64 {
            return Err(corrupt(format!(
                "nested value of {len} bytes but {} remain",
                self.remaining()
            )));
        }
        let start = self.pos;
        let v = self.value(depth)?;
        if (self.pos - start) as u64 != len {
            return Err(corrupt(format!(
                "nested value used {} bytes, its length prefix says {len}",
                self.pos - start
            )));
        }
        Ok(v)
    }

    /// `n` length-prefixed values (each at least prefix + type code).
    fn sized_values(&mut self, n: usize, depth: usize) -> Result<Vec<Value>, BlobError> {
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(self.sized_value(depth)?);
        }
        Ok(v)
    }

    fn min_item(&self) -> usize {
        self.count_size() + 1
    }

    fn value(&mut self, depth: usize) -> Result<Value, BlobError> {
        if depth >= MAX_DEPTH {
            return Err(corrupt(format!("values nested deeper than {MAX_DEPTH}")));
        }
        let d = depth + 1;
        let code = self.u8("type code")?;
        Ok(match code {
            b'A' => self.array(d)?,
            b'P' => Value::Sparse(self.sparse()?),
            b'S' => Value::Struct(self.structure(d)?),
            b'C' => {
                let shape = self.shape("cell dims")?;
                let n = element_count(&shape).ok_or_else(|| corrupt("cell dims overflow"))?;
                let n = self.check_fits(n, self.min_item(), "cell")?;
                Value::Cell(CellArray {
                    shape,
                    items: self.sized_values(n, d)?,
                })
            }
            b'F' => Value::Record(self.record(d)?),
            0xff => Value::None,
            0x01..=0x03 => {
                let n = self.bounded_count(self.min_item(), "sequence")?;
                let items = self.sized_values(n, d)?;
                match code {
                    0x01 => Value::Tuple(items),
                    0x02 => Value::List(items),
                    _ => Value::Set(items),
                }
            }
            0x04 => {
                let n = self.bounded_count(2 * self.min_item(), "dict")?;
                let mut pairs = Vec::with_capacity(n);
                for _ in 0..n {
                    let k = self.sized_value(d)?;
                    let v = self.sized_value(d)?;
                    pairs.push((k, v));
                }
                Value::Dict(pairs)
            }
            0x05 => Value::Str(self.text("str")?),
            0x06 => {
                let n = self.count("bytes length")?;
                let n = self.check_fits(n, 1, "bytes")?;
                Value::Bytes(self.take(n, "bytes")?.to_vec())
            }
            b'd' => Value::Decimal(self.text("Decimal")?),
            0x0a => {
                let n = self.u16("int length")?;
                Value::Int(BigInt(self.take(usize::from(n), "int")?.to_vec()))
            }
            0x0b => Value::Bool(self.u8("bool")? != 0),
            0x0c => {
                let re = self.f64("complex")?;
                let im = self.f64("complex")?;
                Value::Complex { re, im }
            }
            0x0d => Value::Float(self.f64("float")?),
            b't' => Value::DateTime(self.datetime()?),
            b'u' => Value::Uuid(arr(self.take(16, "UUID")?)),
            other => {
                return Err(corrupt(format!(
                    "unknown data structure code 0x{other:02x}"
                )))
            }
        })
    }

    fn text(&mut self, what: &str) -> Result<String, BlobError> {
        let n = self.count(what)?;
        let n = self.check_fits(n, 1, what)?;
        let b = self.take(n, what)?;
        String::from_utf8(b.to_vec()).map_err(|_| corrupt(format!("{what} is not UTF-8")))
    }

    fn datetime(&mut self) -> Result<DateTime, BlobError> {
        let date = self.i32("date")?;
        let time = self.i64("time")?;
        let date = if date >= 0 {
            let (y, m, d) = (date / 10000, (date / 100) % 100, date % 100);
            let (y, m, d) = (y as u32, m as u32, d as u32);
            if !(1..=9999).contains(&y)
                || !(1..=12).contains(&m)
                || d < 1
                || d > days_in_month(y, m)
            {
                return Err(corrupt(format!("invalid date {date}")));
            }
            Some((y, m, d))
        } else {
            None
        };
        let time = if time >= 0 {
            let h = ((time / 10_000_000_000) % 100) as u32;
            let mi = ((time / 100_000_000) % 100) as u32;
            let s = ((time / 1_000_000) % 100) as u32;
            let us = (time % 1_000_000) as u32;
            if h > 23 || mi > 59 || s > 59 {
                return Err(corrupt(format!("invalid time {time}")));
            }
            Some((h, mi, s, us))
        } else {
            None
        };
        Ok(DateTime { date, time })
    }

    fn array(&mut self, depth: usize) -> Result<Value, BlobError> {
        let shape = self.shape("array dims")?;
        let n = element_count(&shape).ok_or_else(|| corrupt("array dims overflow"))?;
        let class_id = self.u32("class id")?;
        let complex = self.u32("complexity")? != 0;
        match class_id {
            4 => {
                let n = self.check_fits(n, 2, "char array")?;
                let b = self.take(2 * n, "char array")?;
                let units = b
                    .chunks_exact(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]))
                    .collect();
                Ok(Value::Char(CharArray { shape, units }))
            }
            5 => {
                let n = self.check_fits(n, self.min_item(), "object array")?;
                Ok(Value::Object(ObjectArray {
                    shape,
                    items: self.sized_values(n, depth)?,
                }))
            }
            _ => {
                let class = ElementClass::from_class_id(class_id).ok_or_else(|| {
                    corrupt(format!("array class id {class_id} is not supported"))
                })?;
                if complex && matches!(class, ElementClass::DateTime64(_)) {
                    return Err(corrupt("complex datetime64 array"));
                }
                let planes = if complex { 2 } else { 1 };
                let n = self.check_fits(n, class.size() * planes, "array data")?;
                let data = self.take(n * class.size() * planes, "array data")?.to_vec();
                Ok(Value::Array(NumArray {
                    class,
                    complex,
                    shape,
                    data,
                }))
            }
        }
    }

    fn structure(&mut self, depth: usize) -> Result<StructArray, BlobError> {
        let shape = self.shape("struct dims")?;
        let n_elem = element_count(&shape).ok_or_else(|| corrupt("struct dims overflow"))?;
        let n_fields = self.u32("struct field count")?;
        if n_fields == 0 {
            return Ok(StructArray {
                shape,
                fields: Vec::new(),
                values: Vec::new(),
            });
        }
        let n_fields = self.check_fits(u64::from(n_fields), 1, "struct field names")?;
        let fields = (0..n_fields)
            .map(|_| self.name())
            .collect::<Result<Vec<_>, _>>()?;
        let total = n_elem
            .checked_mul(n_fields as u64)
            .ok_or_else(|| corrupt("struct size overflow"))?;
        let total = self.check_fits(total, self.min_item(), "struct values")?;
        Ok(StructArray {
            shape,
            fields,
            values: self.sized_values(total, depth)?,
        })
    }

    fn record(&mut self, depth: usize) -> Result<RecordArray, BlobError> {
        let n_fields = self.u32("record field count")?;
        let n_fields = self.check_fits(u64::from(n_fields), 2, "record fields")?;
        let names = (0..n_fields)
            .map(|_| self.name())
            .collect::<Result<Vec<_>, _>>()?;
        let mut fields = Vec::with_capacity(n_fields);
        for name in names {
            let start = self.pos;
            let v = self.value(depth)?;
            match v {
                Value::Array(_) | Value::Char(_) | Value::Object(_) | Value::Record(_) => {}
                _ => {
                    return Err(corrupt(format!(
                        "record field {name:?} at offset {start} is not an array"
                    )))
                }
            }
            fields.push((name, v));
        }
        Ok(RecordArray { fields })
    }

    fn sparse(&mut self) -> Result<SparseMatrix, BlobError> {
        let rows = self.count("sparse rows")?;
        let cols = self.count("sparse cols")?;
        let nzmax = self.count("sparse nzmax")?;
        let class_id = self.u32("sparse class")?;
        let complex = self.u32("sparse complexity")? != 0;
        let (class, elem) = match class_id {
            3 => (SparseClass::Logical, 1),
            6 => (SparseClass::Double, 8),
            other => return Err(corrupt(format!("sparse matrix of class {other}"))),
        };
        let ncol1 = cols
            .checked_add(1)
            .ok_or_else(|| corrupt("sparse cols overflow"))?;
        let ncol1 = self.check_fits(ncol1, self.count_size(), "sparse jc")?;
        let jc = (0..ncol1)
            .map(|_| self.count("jc"))
            .collect::<Result<Vec<_>, _>>()?;
        let nz = self.check_fits(nzmax, self.count_size(), "sparse ir")?;
        let ir = (0..nz)
            .map(|_| self.count("ir"))
            .collect::<Result<Vec<_>, _>>()?;
        let planes = if complex { 2 } else { 1 };
        self.check_fits(nzmax, elem * planes, "sparse data")?;
        let read_plane = |r: &mut Self| -> Result<Vec<f64>, BlobError> {
            let b = r.take(nz * elem, "sparse data")?;
            Ok(if elem == 1 {
                b.iter().map(|&x| f64::from(u8::from(x != 0))).collect()
            } else {
                b.chunks_exact(8)
                    .map(|c| f64::from_le_bytes(arr(c)))
                    .collect()
            })
        };
        let real = read_plane(self)?;
        let imag = if complex {
            read_plane(self)?
        } else {
            Vec::new()
        };
        // compressed-column consistency (MATLAB guarantees it)
        if jc[0] != 0
            || jc.windows(2).any(|w| w[0] > w[1])
            || jc[ncol1 - 1] > nzmax
            || ir.iter().take(jc[ncol1 - 1] as usize).any(|&r| r >= rows)
        {
            return Err(corrupt("inconsistent sparse matrix indices"));
        }
        Ok(SparseMatrix {
            rows,
            cols,
            class,
            complex,
            jc,
            ir,
            real,
            imag,
        })
    }
}

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

#[cfg(test)]
mod tests {
    use super::super::blob::tests::{compress, hex};
    use super::*;
    use proptest::prelude::*;

    fn dec(h: &str) -> Value {
        decode_blob(&hex(h)).unwrap_or_else(|e| panic!("{h}: {e}"))
    }

    fn int(v: i64) -> Value {
        Value::Int(BigInt({
            let b = v.to_le_bytes();
            // minimal Python width
            let mut n = 8;
            while n > 1
                && ((b[n - 1] == 0 && b[n - 2] & 0x80 == 0)
                    || (b[n - 1] == 0xff && b[n - 2] & 0x80 != 0))
            {
                n -= 1;
            }
            b[..n].to_vec()
        }))
    }

    #[test]
    fn spec_scalars() {
        assert_eq!(dec("646a3000 0a 0100 01"), int(1));
        assert_eq!(dec("646a3000 0a 0100 ff"), int(-1));
        assert_eq!(dec("646a3000 0a 0200 ff00"), int(255));
        let big = dec("646a3000 0a 0900 000000000000000040");
        match &big {
            Value::Int(b) => {
                assert_eq!(b.to_decimal(), "1180591620717411303424");
                assert_eq!(b.to_i64(), None);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(dec("646a3000 0d 000000000000f83f"), Value::Float(1.5));
        assert_eq!(
            dec("646a3000 0c 000000000000f03f 0000000000000040"),
            Value::Complex { re: 1.0, im: 2.0 }
        );
        assert_eq!(dec("646a3000 0b 01"), Value::Bool(true));
        assert_eq!(dec("646a3000 ff"), Value::None);
        assert_eq!(
            dec("646a3000 05 0300000000000000 616263"),
            Value::Str("abc".into())
        );
        assert_eq!(
            dec("646a3000 05 0200000000000000 c3a9"),
            Value::Str("é".into())
        );
        assert_eq!(
            dec("646a3000 06 0200000000000000 0001"),
            Value::Bytes(vec![0, 1])
        );
        assert_eq!(
            dec("646a3000 02 0200000000000000 0400000000000000 0a010001 0a00000000000000 05 0100000000000000 61"),
            Value::List(vec![int(1), Value::Str("a".into())])
        );
        assert_eq!(
            dec("646a3000 01 0200000000000000 0400000000000000 0a010002 0900000000000000 0d 0000000000000040"),
            Value::Tuple(vec![int(2), Value::Float(2.0)])
        );
        assert_eq!(
            dec("646a3000 03 0100000000000000 0400000000000000 0a010003"),
            Value::Set(vec![int(3)])
        );
        assert_eq!(
            dec("646a3000 04 0100000000000000 0a00000000000000 05 0100000000000000 61 0400000000000000 0a010001"),
            Value::Dict(vec![(Value::Str("a".into()), int(1))])
        );
        let dt = |h| match dec(h) {
            Value::DateTime(d) => d.iso(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            dt("646a3000 74 a63a3401 ffffffffffffffff").as_deref(),
            Some("2020-01-02")
        );
        assert_eq!(
            dt("646a3000 74 ffffffff 467b471407000000").as_deref(),
            Some("03:04:05.000006")
        );
        assert_eq!(
            dt("646a3000 74 a63a3401 467b471407000000").as_deref(),
            Some("2020-01-02T03:04:05.000006")
        );
        assert_eq!(dt("646a3000 74 ffffffff ffffffffffffffff"), None);
        assert_eq!(
            dec("646a3000 75 00112233445566778899aabbccddeeff"),
            Value::Uuid(arr(&hex("00112233445566778899aabbccddeeff")))
        );
        assert_eq!(
            dec("646a3000 64 0400000000000000 312e3530"),
            Value::Decimal("1.50".into())
        );
    }

    #[test]
    fn bigint_decimal() {
        for v in [
            0i64,
            1,
            -1,
            127,
            128,
            -128,
            -129,
            255,
            65535,
            i64::MAX,
            i64::MIN,
            1_000_000_000,
            -999_999_999_999,
        ] {
            let b = BigInt::from_i64(v);
            assert_eq!(b.to_decimal(), v.to_string());
            assert_eq!(b.to_i64(), Some(v));
            if let Value::Int(m) = int(v) {
                assert_eq!(m.to_decimal(), v.to_string());
                assert_eq!(m.to_i64(), Some(v));
            }
        }
        assert_eq!(BigInt(vec![]).to_decimal(), "0");
        assert_eq!(BigInt(vec![]).to_i64(), Some(0));
        // -2**70
        let mut b = vec![0u8; 9];
        b[8] = 0xc0;
        assert_eq!(BigInt(b).to_decimal(), "-1180591620717411303424");
        // 2**64 - 1 as 9 bytes
        let mut b = vec![0xffu8; 9];
        b[8] = 0;
        let b = BigInt(b);
        assert_eq!(b.to_decimal(), u64::MAX.to_string());
        assert_eq!(b.to_i64(), None);
        // padded encodings of small values still fit
        assert_eq!(BigInt(vec![5, 0, 0, 0, 0, 0, 0, 0, 0, 0]).to_i64(), Some(5));
        assert_eq!(
            BigInt(vec![0xfb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).to_i64(),
            Some(-5)
        );
    }

    #[test]
    fn spec_arrays() {
        let v = dec(
            "6d596d00 41 0200000000000000 0200000000000000 0300000000000000 0c000000 00000000
             01000000 04000000 02000000 05000000 03000000 06000000",
        );
        let Value::Array(a) = v else { panic!() };
        assert_eq!(
            (a.class, a.shape.clone(), a.len()),
            (ElementClass::Int32, vec![2, 3], 6)
        );
        let c: Vec<i32> = a
            .python_c_bytes()
            .chunks(4)
            .map(|c| i32::from_le_bytes(arr(c)))
            .collect();
        assert_eq!(c, [1, 2, 3, 4, 5, 6]);
        let Value::Array(c) = dec(
            "6d596d00 41 0100000000000000 0200000000000000 06000000 01000000
             000000000000f03f 0000000000000840 0000000000000040 00000000000010c0",
        ) else {
            panic!()
        };
        assert_eq!(c.python_descr(), "<c16");
        let f: Vec<f64> = c
            .python_c_bytes()
            .chunks(8)
            .map(|c| f64::from_le_bytes(arr(c)))
            .collect();
        assert_eq!(f, [1.0, 2.0, 3.0, -4.0]);
        // MATLAB complex int16 -> complex128 in Python
        let Value::Array(c) = dec(
            "6d596d00 41 0100000000000000 0200000000000000 0a000000 01000000 0100 0200 0300 0400",
        ) else {
            panic!()
        };
        assert_eq!(c.python_descr(), "<c16");
        let f: Vec<f64> = c
            .python_c_bytes()
            .chunks(8)
            .map(|c| f64::from_le_bytes(arr(c)))
            .collect();
        assert_eq!(f, [1.0, 3.0, 2.0, 4.0]);
        // unicode array -> object array of str
        let v = dec(
            "646a3000 41 0100000000000000 0200000000000000 05000000 00000000
             0b00000000000000 05 0200000000000000 6162 0a00000000000000 05 0100000000000000 63",
        );
        assert_eq!(
            v,
            Value::Object(ObjectArray {
                shape: vec![2],
                items: vec![Value::Str("ab".into()), Value::Str("c".into())]
            })
        );
    }

    #[test]
    fn spec_records_structs_cells() {
        let v = dec("646a3000 46 02000000 6100 6200
         41 0100000000000000 0100000000000000 0c000000 00000000 01000000
         41 0100000000000000 0100000000000000 06000000 00000000 0000000000000040");
        let Value::Record(r) = v else { panic!() };
        assert_eq!(
            r.fields.iter().map(|f| f.0.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        let elem = |x: f64| {
            let mut b =
                hex("41 0200000000000000 0100000000000000 0100000000000000 06000000 00000000");
            b.extend_from_slice(&x.to_le_bytes());
            let mut out = (b.len() as u64).to_le_bytes().to_vec();
            out.extend(b);
            out
        };
        let mut s = hex(
            "6d596d00 53 0200000000000000 0100000000000000 0200000000000000 02000000 6100 6200",
        );
        for x in [1.0, 2.0, 3.0, 4.0] {
            s.extend(elem(x));
        }
        let Value::Struct(st) = decode_blob(&s).unwrap() else {
            panic!()
        };
        assert_eq!(
            (st.shape.clone(), st.fields.clone(), st.values.len()),
            (vec![1, 2], vec!["a".into(), "b".into()], 4)
        );
        let Value::Array(e2b) = &st.values[3] else {
            panic!()
        };
        assert_eq!(e2b.real_f64(0), 4.0);
        let v = dec("6d596d00 43 0200000000000000 0100000000000000 0200000000000000
           2900000000000000 41 0200000000000000 0100000000000000 0100000000000000 06000000 00000000 000000000000f03f
           2500000000000000 41 0200000000000000 0100000000000000 0200000000000000 04000000 00000000 61006200");
        let Value::Cell(c) = v else { panic!() };
        assert_eq!(c.shape, [1, 2]);
        let Value::Char(ch) = &c.items[1] else {
            panic!()
        };
        assert_eq!(ch.python_value(), Some(PyChars::Text("ab".into())));
        // struct with zero fields: nothing after the count
        let v = dec("6d596d00 53 0200000000000000 0100000000000000 0100000000000000 00000000");
        assert!(matches!(v, Value::Struct(StructArray { ref fields, .. }) if fields.is_empty()));
    }

    #[test]
    fn char_rules() {
        let ch = |dims: &[u64], units: &[u16]| CharArray {
            shape: dims.to_vec(),
            units: units.to_vec(),
        };
        assert_eq!(
            ch(&[1, 4], &[0x61, 0, 0x62, 0x63]).python_value(),
            Some(PyChars::Text("abc".into()))
        );
        assert_eq!(ch(&[1, 2], &[0x61, 0x3b1]).python_value(), None);
        assert_eq!(ch(&[1, 2], &[0x61, 0x3b1]).utf16_text(), "aα");
        assert_eq!(
            ch(&[1, 2], &[0x61, 0x161]).python_value(),
            Some(PyChars::Text("aa".into()))
        );
        assert_eq!(ch(&[2, 2], &[0x61, 0x62, 0x63, 0x64]).rows(), ["ac", "bd"]);
        assert_eq!(
            ch(&[2, 2], &[0x61, 0x62, 0x63, 0]).python_value(),
            Some(PyChars::Chars(vec![
                "a".into(),
                "b".into(),
                "c".into(),
                "".into()
            ]))
        );
        assert_eq!(ch(&[0, 0], &[]).rows(), Vec::<String>::new());
        assert_eq!(ch(&[2, 0], &[]).rows(), ["", ""]);
        assert_eq!(ch(&[], &[0x41]).rows(), ["A"]);
    }

    #[test]
    fn sparse_decodes() {
        // 3x2 double sparse: (0,0)=1, (2,1)=5, nzmax 3 (one unused slot)
        let mut b = hex("6d596d00 50");
        for x in [3u64, 2, 3] {
            b.extend_from_slice(&x.to_le_bytes());
        }
        b.extend_from_slice(&6u32.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        for x in [0u64, 1, 2, 0, 2, 0] {
            b.extend_from_slice(&x.to_le_bytes());
        }
        for x in [1.0f64, 5.0, 0.0] {
            b.extend_from_slice(&x.to_le_bytes());
        }
        let Value::Sparse(s) = decode_blob(&b).unwrap() else {
            panic!()
        };
        assert_eq!(s.entries(), [(0, 0, 1.0, 0.0), (2, 1, 5.0, 0.0)]);
        // row index out of range
        let mut bad = b.clone();
        let ir1 = 5 + 24 + 8 + 24 + 8;
        bad[ir1..ir1 + 8].copy_from_slice(&7u64.to_le_bytes());
        assert!(decode_blob(&bad).is_err());
    }

    #[test]
    fn errors_and_limits() {
        // unknown header -> None, as in Python
        assert_eq!(decode_blob(b"xyz\0\x05").unwrap(), Value::None);
        assert_eq!(decode_blob(b"").unwrap(), Value::None);
        for h in [
            "6d596d00",                                       // no value
            "646a3000 ff 00",                                 // trailing byte
            "646a3000 05 0400000000000000 616263",            // short string
            "646a3000 05 0100000000000000 ff",                // not UTF-8
            "646a3000 02 ffffffffffffffff",                   // huge count
            "646a3000 02 0100000000000000 0500000000000000 0a010001", // wrong prefix
            "646a3000 74 a63a3401 ffffffffffffff",            // short time
            "646a3000 74 3d3b3401 ffffffffffffffff",          // 2020-01-33
            "646a3000 74 ffffffff 00b864d945000000",          // hour 30
            "646a3000 41 0100000000000000 0100000000000000 11000000 00000000 0000000000000000", // class 17
            "646a3000 41 0100000000000000 0100000000000000 03000100 01000000 0000000000000000 0000000000000000", // complex datetime
            "6d596d00 41 4100000000000000",                   // 65 dims
            "6d596d00 41 0200000000000000 ffffffffffffffff ffffffffffffffff 06000000 00000000", // overflow
            "6d596d00 53 0100000000000000 0100000000000000 01000000 61", // name without NUL
            "646a3000 46 01000000 6100 ff",                   // record field not an array
            "646a3000 99",                                    // unknown code
        ] {
            assert!(matches!(decode_blob(&hex(h)), Err(BlobError::Corrupt(_))), "{h}");
        }
        // nesting limit
        let mut b = b"dj0\0".to_vec();
        let mut inner = vec![0xffu8];
        for _ in 0..MAX_DEPTH + 5 {
            let mut v = vec![0x02];
            v.extend_from_slice(&1u64.to_le_bytes());
            v.extend_from_slice(&(inner.len() as u64).to_le_bytes());
            v.extend_from_slice(&inner);
            inner = v;
        }
        b.extend_from_slice(&inner);
        assert!(matches!(decode_blob(&b), Err(BlobError::Corrupt(m)) if m.contains("nested")));
        // ... and just under it
        let mut b = b"dj0\0".to_vec();
        let mut inner = vec![0xffu8];
        for _ in 0..MAX_DEPTH - 1 {
            let mut v = vec![0x02];
            v.extend_from_slice(&1u64.to_le_bytes());
            v.extend_from_slice(&(inner.len() as u64).to_le_bytes());
            v.extend_from_slice(&inner);
            inner = v;
        }
        b.extend_from_slice(&inner);
        assert!(decode_blob(&b).is_ok());
    }

    #[test]
    fn compressed_and_dims32() {
        let plain = hex("646a3000 05 0300000000000000 616263");
        assert_eq!(
            decode_blob(&compress(&plain)).unwrap(),
            Value::Str("abc".into())
        );
        // 32-bit dims: 'A' u32 ndim, u32 dims
        let b = hex("6d596d00 41 02000000 01000000 02000000 06000000 00000000 000000000000f03f 0000000000000040");
        assert!(decode_blob(&b).is_err());
        let v = decode_blob_with(&b, DecodeOptions { dims32: true }).unwrap();
        let Value::Array(a) = v else { panic!() };
        assert_eq!((a.shape.clone(), a.len()), (vec![1, 2], 2));
        // ZL123 with a u32 size
        let z = compress(&b);
        let mut z32 = z[..6].to_vec();
        z32.extend_from_slice(&(b.len() as u32).to_le_bytes());
        z32.extend_from_slice(&z[14..]);
        assert!(decode_blob_with(&z32, DecodeOptions { dims32: true }).is_ok());
    }

    #[test]
    fn fortran_to_c_order() {
        // 2x3 Fortran [a00 a10 a01 a11 a02 a12] -> C [a00 a01 a02 a10 a11 a12]
        assert_eq!(
            fortran_to_c(&[0, 3, 1, 4, 2, 5], &[2, 3]),
            [0, 1, 2, 3, 4, 5]
        );
        // 2x3x4 uint8 1..24: C element [0][1][0] is F index 2
        let f: Vec<u8> = (1..=24).collect();
        let c = fortran_to_c(&f, &[2, 3, 4]);
        assert_eq!(c[4], 3); // [0][1][0] = 1 + 2*1
        assert_eq!(c[1], 7); // [0][0][1] = 1 + 6
        assert_eq!(c[12], 2); // [1][0][0]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn garbage_never_panics(b in proptest::collection::vec(any::<u8>(), 0..400), dims32 in any::<bool>()) {
            let _ = decode_blob_with(&b, DecodeOptions { dims32 });
            let mut m = b"dj0\0".to_vec();
            m.extend_from_slice(&b);
            let _ = decode_blob_with(&m, DecodeOptions { dims32 });
        }
    }
}
