//! Readable JSON rendering of a decoded blob (the read-only `ATTR.json` file).
//!
//! # Rendering rules
//!
//! The file is one JSON document, pretty-printed with two-space indentation
//! and a final newline. The output is deterministic: the same blob always
//! renders to the same bytes. Lists whose members are all plain scalars are
//! written on one line.
//!
//! | blob value | JSON |
//! |---|---|
//! | `None` (and a blob whose header is not `mYm`/`dj0`) | `null` |
//! | Python `bool` | `true` / `false` |
//! | Python `int` (any size) | a JSON integer with every digit (beyond ±2^53 some tools round it) |
//! | Python `float` | a number in shortest round-trip form (`1.0`, `0.1`, `1e300`); NaN and ±infinity as the strings `"NaN"`, `"Infinity"`, `"-Infinity"` |
//! | Python `complex` | `{"re": 1.0, "im": 2.0}` (same float rules) |
//! | `str` | a string |
//! | `bytes` | `{"hex": "00ff"}` (lower-case hex of the bytes) |
//! | `Decimal` | its text as a string, e.g. `"1.50"` |
//! | `UUID` | `"00112233-4455-6677-8899-aabbccddeeff"` |
//! | `date` / `time` / `datetime` | Python's ISO form: `"2020-01-02"`, `"03:04:05.000006"`, `"2020-01-02T03:04:05"` |
//! | tuple, list, set | an array (set items in stored order) |
//! | dict | an object, pairs in stored order. A key that is not a string is replaced by its one-line JSON rendering (`1` → `"1"`, `(1, 2)` → `"[1, 2]"`, `None` → `"null"`); a key seen before gets ` #2`, ` #3`, ... appended |
//! | numeric / logical / datetime64 array (`A`) | `{"dtype": "float64", "shape": [2, 3], "data": [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]}`: `dtype` is numpy's name (`bool`, `int8` … `uint64`, `float32`, `float64`, `complex64`, `complex128`, `datetime64[D]` …), `shape` is the stored dims, `data` nested lists in row-major (C) order as numpy's `tolist()` would give (a 0-d array's `data` is the bare element). Elements: integers, floats (as above), `true`/`false`, complex `{"re": …, "im": …}` (MATLAB complex integers shown as `complex128`, as Python reads them), datetime64 as numpy's ISO text at the array's unit (`"2020-01-02"`, `"2020-01-02T03:04:05.123"`, `"NaT"`) |
//! | char array (MATLAB `char`, class 4) | a string for a row vector, a 0-d or an empty array (`'hello'` → `"hello"`); a matrix as a list of its rows (`['ab';'cd']` → `["ab", "cd"]`); N-D as nested lists of rows. Text is decoded as UTF-16 (lone surrogates → U+FFFD); datajoint-python would keep only the low byte of each unit |
//! | object array (class 5; numpy `str` arrays are stored this way) | `{"dtype": "object", "shape": [2], "data": ["ab", "c"]}` with each element rendered by these rules |
//! | struct (`S`) | one element (all dims 1): an object of its fields in stored order; otherwise nested lists (row-major, following the dims) of such objects, e.g. a 1×2 struct → `[[{…}, {…}]]` |
//! | cell (`C`) | nested lists in row-major order following the dims: a 1×2 cell → `[["a", 1.0]]`, a 0×0 cell → `[]` |
//! | sparse (`P`, MATLAB only) | `{"dtype": "sparse float64", "shape": [rows, cols], "entries": [[row, col, value], …]}` with 0-based indices, column by column; `sparse bool` for logical, `sparse complex128` (values `{"re", "im"}`) for complex |
//! | record array (`F`) | `{"dtype": "record", "shape": [...], "fields": {"a": <column>, "b": <column>}}`: each column rendered as an array by these rules; `shape` is the first column's |

use std::collections::HashMap;
use std::fmt::Write as _;

use super::blob::ElementClass;
use super::value::{
    element_count, CellArray, CharArray, NumArray, ObjectArray, Scalar, SparseClass, SparseMatrix,
    StructArray, Value,
};

/// Render a decoded value per the module rules (ends with `"\n"`).
pub fn to_json(v: &Value) -> String {
    let mut w = Writer {
        out: String::new(),
        compact: false,
    };
    w.value(v, 0);
    w.out.push('\n');
    w.out
}

/// Render on one line (used for dict keys).
fn to_json_compact(v: &Value) -> String {
    let mut w = Writer {
        out: String::new(),
        compact: true,
    };
    w.value(v, 0);
    w.out
}

struct Writer {
    out: String,
    compact: bool,
}

/// numpy's dtype name for an array as Python reads it.
pub fn dtype_name(a: &NumArray) -> String {
    use ElementClass::*;
    if a.complex {
        return if a.class == Float32 {
            "complex64"
        } else {
            "complex128"
        }
        .to_string();
    }
    match a.class {
        Bool => "bool".into(),
        Int8 => "int8".into(),
        UInt8 => "uint8".into(),
        Int16 => "int16".into(),
        UInt16 => "uint16".into(),
        Int32 => "int32".into(),
        UInt32 => "uint32".into(),
        Int64 => "int64".into(),
        UInt64 => "uint64".into(),
        Float32 => "float32".into(),
        Float64 => "float64".into(),
        DateTime64(k) => format!("datetime64[{}]", unit_name(k)),
    }
}

const UNITS: [&str; 13] = [
    "Y", "M", "W", "D", "h", "m", "s", "ms", "us", "ns", "ps", "fs", "as",
];

fn unit_name(k: u8) -> &'static str {
    UNITS.get(usize::from(k)).copied().unwrap_or("?")
}

/// Float text: shortest round-trip, non-finite as strings.
fn f64_text(x: f64) -> String {
    if x.is_nan() {
        "\"NaN\"".into()
    } else if x.is_infinite() {
        if x > 0.0 {
            "\"Infinity\""
        } else {
            "\"-Infinity\""
        }
        .into()
    } else {
        format!("{x:?}")
    }
}

fn f32_text(x: f32) -> String {
    if x.is_finite() {
        format!("{x:?}")
    } else {
        f64_text(f64::from(x))
    }
}

fn push_str_lit(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn uuid_text(u: &[u8; 16]) -> String {
    let h = hex::encode(u);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian.
pub(crate) fn civil_from_days(z: i128) -> (i128, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (y + i128::from(m <= 2), m, d)
}

fn year_text(y: i128) -> String {
    if y < 0 {
        format!("-{:04}", -y)
    } else {
        format!("{y:04}")
    }
}

/// numpy's ISO text of a datetime64 value with unit index `k`.
pub fn datetime64_text(v: i64, k: u8) -> String {
    if v == i64::MIN {
        return "NaT".into();
    }
    let v128 = i128::from(v);
    match k {
        0 => year_text(1970 + v128),
        1 => {
            let y = 1970 + v128.div_euclid(12);
            let m = v128.rem_euclid(12) + 1;
            format!("{}-{m:02}", year_text(y))
        }
        2 | 3 => {
            let days = if k == 2 { v128 * 7 } else { v128 };
            let (y, m, d) = civil_from_days(days);
            format!("{}-{m:02}-{d:02}", year_text(y))
        }
        4..=12 => {
            // units per second as a power of ten (h, m handled separately)
            let (per_day, frac_digits): (i128, u32) = match k {
                4 => (24, 0),
                5 => (1440, 0),
                _ => {
                    let digits = 3 * (u32::from(k) - 6);
                    (86_400 * 10i128.pow(digits), digits)
                }
            };
            let days = v128.div_euclid(per_day);
            let rem = v128.rem_euclid(per_day);
            let (y, m, d) = civil_from_days(days);
            let date = format!("{}-{m:02}-{d:02}", year_text(y));
            match k {
                4 => format!("{date}T{rem:02}"),
                5 => format!("{date}T{:02}:{:02}", rem / 60, rem % 60),
                _ => {
                    let scale = 10i128.pow(frac_digits);
                    let secs = rem / scale;
                    let frac = rem % scale;
                    let mut s = format!(
                        "{date}T{:02}:{:02}:{:02}",
                        secs / 3600,
                        (secs / 60) % 60,
                        secs % 60
                    );
                    if frac_digits > 0 {
                        let _ = write!(s, ".{frac:0width$}", width = frac_digits as usize);
                    }
                    s
                }
            }
        }
        _ => v.to_string(),
    }
}

/// Whether a value renders as a JSON scalar (no brackets).
fn is_scalar(v: &Value) -> bool {
    match v {
        Value::None
        | Value::Bool(_)
        | Value::Int(_)
        | Value::Float(_)
        | Value::Str(_)
        | Value::Decimal(_)
        | Value::DateTime(_)
        | Value::Uuid(_) => true,
        Value::Char(c) => char_is_text(c),
        _ => false,
    }
}

fn char_is_text(c: &CharArray) -> bool {
    c.shape.len() <= 1 || c.is_vector() || c.units.is_empty()
}

/// Most `[]` lists written for an empty array (its dims are not backed by
/// any bytes, so a hostile blob could declare 2^63 empty rows).
const MAX_EMPTY_LISTS: u64 = 1 << 16;

impl Writer {
    fn nl(&mut self, indent: usize) {
        if self.compact {
            return;
        }
        self.out.push('\n');
        for _ in 0..indent {
            self.out.push_str("  ");
        }
    }

    /// `[a, b]` on one line when `inline` (or compact), else one member per line.
    fn list<T>(
        &mut self,
        items: impl ExactSizeIterator<Item = T>,
        inline: bool,
        indent: usize,
        mut f: impl FnMut(&mut Writer, T, usize),
    ) {
        if items.len() == 0 {
            self.out.push_str("[]");
            return;
        }
        let inline = inline || self.compact;
        self.out.push('[');
        for (i, it) in items.enumerate() {
            if i > 0 {
                self.out.push(',');
                if inline {
                    self.out.push(' ');
                }
            }
            if !inline {
                self.nl(indent + 1);
            }
            f(self, it, indent + 1);
        }
        if !inline {
            self.nl(indent);
        }
        self.out.push(']');
    }

    fn obj_open(&mut self) {
        self.out.push('{');
    }

    fn key(&mut self, k: &str, first: bool, indent: usize) {
        if !first {
            self.out.push(',');
            if self.compact {
                self.out.push(' ');
            }
        }
        self.nl(indent + 1);
        push_str_lit(&mut self.out, k);
        self.out.push_str(": ");
    }

    fn obj_close(&mut self, empty: bool, indent: usize) {
        if !empty {
            self.nl(indent);
        }
        self.out.push('}');
    }

    fn value(&mut self, v: &Value, indent: usize) {
        match v {
            Value::None => self.out.push_str("null"),
            Value::Bool(b) => self.out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => self.out.push_str(&i.to_decimal()),
            Value::Float(x) => self.out.push_str(&f64_text(*x)),
            Value::Complex { re, im } => self.complex(&f64_text(*re), &f64_text(*im)),
            Value::Str(s) | Value::Decimal(s) => push_str_lit(&mut self.out, s),
            Value::Bytes(b) => {
                self.out.push_str("{\"hex\": ");
                push_str_lit(&mut self.out, &hex::encode(b));
                self.out.push('}');
            }
            Value::DateTime(d) => match d.iso() {
                Some(s) => push_str_lit(&mut self.out, &s),
                None => self.out.push_str("null"),
            },
            Value::Uuid(u) => push_str_lit(&mut self.out, &uuid_text(u)),
            Value::Tuple(items) | Value::List(items) | Value::Set(items) => {
                let inline = items.iter().all(is_scalar);
                self.list(items.iter(), inline, indent, |w, it, ind| w.value(it, ind));
            }
            Value::Dict(pairs) => self.dict(pairs, indent),
            Value::Array(a) => self.num_array(a, indent),
            Value::Char(c) => self.char_array(c, indent),
            Value::Object(o) => self.object_array(o, indent),
            Value::Struct(s) => self.structure(s, indent),
            Value::Cell(c) => self.cell(c, indent),
            Value::Sparse(s) => self.sparse(s, indent),
            Value::Record(r) => {
                self.obj_open();
                self.key("dtype", true, indent);
                self.out.push_str("\"record\"");
                self.key("shape", false, indent);
                self.shape(&r.shape());
                self.key("fields", false, indent);
                self.obj_open();
                for (i, (name, col)) in r.fields.iter().enumerate() {
                    self.key(name, i == 0, indent + 1);
                    self.value(col, indent + 2);
                }
                self.obj_close(r.fields.is_empty(), indent + 1);
                self.obj_close(false, indent);
            }
        }
    }

    fn complex(&mut self, re: &str, im: &str) {
        let _ = write!(self.out, "{{\"re\": {re}, \"im\": {im}}}");
    }

    fn shape(&mut self, shape: &[u64]) {
        self.list(shape.iter(), true, 0, |w, d, _| {
            let _ = write!(w.out, "{d}");
        });
    }

    fn dict(&mut self, pairs: &[(Value, Value)], indent: usize) {
        self.obj_open();
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (i, (k, v)) in pairs.iter().enumerate() {
            let base = match k {
                Value::Str(s) => s.clone(),
                other => to_json_compact(other),
            };
            let mut key = base.clone();
            let count = seen.entry(base.clone()).or_insert(0);
            *count += 1;
            if *count > 1 {
                // find a free "#n" suffix (the suffixed name may itself be taken)
                let mut n = *count;
                loop {
                    key = format!("{base} #{n}");
                    if !seen.contains_key(&key) {
                        break;
                    }
                    n += 1;
                }
                seen.insert(key.clone(), 1);
            }
            self.key(&key, i == 0, indent);
            self.value(v, indent + 1);
        }
        self.obj_close(pairs.is_empty(), indent);
    }

    /// `{"dtype": .., "shape": .., "data": ..}` with nested row-major data;
    /// `elem(w, fortran_index, indent)` writes one element.
    fn typed_nd(
        &mut self,
        dtype: &str,
        shape: &[u64],
        n: usize,
        inline_leaf: bool,
        indent: usize,
        elem: &mut dyn FnMut(&mut Writer, usize, usize),
    ) {
        self.obj_open();
        self.key("dtype", true, indent);
        push_str_lit(&mut self.out, dtype);
        self.key("shape", false, indent);
        self.shape(shape);
        self.key("data", false, indent);
        self.nd(shape, n, inline_leaf, indent + 1, elem);
        self.obj_close(false, indent);
    }

    /// Nested lists in row-major order over Fortran-ordered elements.
    fn nd(
        &mut self,
        shape: &[u64],
        n: usize,
        inline_leaf: bool,
        indent: usize,
        elem: &mut dyn FnMut(&mut Writer, usize, usize),
    ) {
        if shape.is_empty() {
            if n > 0 {
                elem(self, 0, indent);
            } else {
                self.out.push_str("null");
            }
            return;
        }
        if n == 0 {
            // lists written: the dims up to the first zero, multiplied
            let mut lists = 1u64;
            for &d in shape {
                if d == 0 {
                    break;
                }
                lists = lists.saturating_mul(d);
            }
            if lists > MAX_EMPTY_LISTS {
                self.out.push_str("[]");
                return;
            }
        }
        let mut fstride = vec![1usize; shape.len()];
        for k in 1..shape.len() {
            fstride[k] = fstride[k - 1].saturating_mul(shape[k - 1] as usize);
        }
        self.nd_rec(shape, &fstride, 0, 0, n == 0, inline_leaf, indent, elem);
    }

    #[allow(clippy::too_many_arguments)]
    fn nd_rec(
        &mut self,
        shape: &[u64],
        fstride: &[usize],
        axis: usize,
        base: usize,
        empty: bool,
        inline_leaf: bool,
        indent: usize,
        elem: &mut dyn FnMut(&mut Writer, usize, usize),
    ) {
        // An empty array never reaches an element: some dim on the way is 0.
        let len = shape[axis] as usize;
        let last = axis + 1 == shape.len();
        let inline = last && inline_leaf;
        self.list(0..len, inline, indent, |w, i, ind| {
            let off = base + i * fstride[axis];
            if last {
                if !empty {
                    elem(w, off, ind);
                }
            } else {
                w.nd_rec(shape, fstride, axis + 1, off, empty, inline_leaf, ind, elem);
            }
        });
    }

    fn num_array(&mut self, a: &NumArray, indent: usize) {
        let n = a.len();
        let complex = a.complex;
        let mut elem = |w: &mut Writer, i: usize, _ind: usize| {
            if complex {
                let (re, im) = match (a.scalar(i, 0), a.scalar(i, 1)) {
                    (Scalar::F32(r), Scalar::F32(m)) => (f32_text(r), f32_text(m)),
                    _ => (f64_text(a.real_f64(i)), f64_text(a.imag_f64(i))),
                };
                w.complex(&re, &im);
                return;
            }
            match a.scalar(i, 0) {
                Scalar::Bool(b) => w.out.push_str(if b { "true" } else { "false" }),
                Scalar::Int(x) => {
                    let _ = write!(w.out, "{x}");
                }
                Scalar::UInt(x) => {
                    let _ = write!(w.out, "{x}");
                }
                Scalar::F32(x) => w.out.push_str(&f32_text(x)),
                Scalar::F64(x) => w.out.push_str(&f64_text(x)),
                Scalar::DateTime64(v, k) => push_str_lit(&mut w.out, &datetime64_text(v, k)),
            }
        };
        self.typed_nd(&dtype_name(a), &a.shape, n, !complex, indent, &mut elem);
    }

    fn char_array(&mut self, c: &CharArray, indent: usize) {
        if char_is_text(c) {
            push_str_lit(&mut self.out, &c.utf16_text());
            return;
        }
        // rows along the last axis, nested over the others in row-major order
        let rows = c.rows();
        let outer = &c.shape[..c.shape.len() - 1];
        // rows() is in C order of the outer axes; nd() expects Fortran
        // indices, so map through a C-order index instead.
        let mut cstride = vec![1usize; outer.len()];
        for k in (0..outer.len().saturating_sub(1)).rev() {
            cstride[k] = cstride[k + 1] * outer[k + 1] as usize;
        }
        let mut fstride = vec![1usize; outer.len()];
        for k in 1..outer.len() {
            fstride[k] = fstride[k - 1] * outer[k - 1] as usize;
        }
        let n = rows.len();
        let mut elem = |w: &mut Writer, f: usize, _ind: usize| {
            // Fortran offset -> multi-index -> C offset
            let mut rem = f;
            let mut ci = 0;
            for k in (0..outer.len()).rev() {
                let idx = rem / fstride[k];
                rem %= fstride[k];
                ci += idx * cstride[k];
            }
            if let Some(r) = rows.get(ci) {
                push_str_lit(&mut w.out, r);
            }
        };
        self.nd(outer, n, true, indent, &mut elem);
    }

    fn items_nd(&mut self, shape: &[u64], items: &[Value], indent: usize) {
        let inline = items.iter().all(is_scalar);
        let mut elem = |w: &mut Writer, i: usize, ind: usize| {
            if let Some(v) = items.get(i) {
                w.value(v, ind);
            }
        };
        self.nd(shape, items.len(), inline, indent, &mut elem);
    }

    fn object_array(&mut self, o: &ObjectArray, indent: usize) {
        let inline = o.items.iter().all(is_scalar);
        let items = &o.items;
        let mut elem = |w: &mut Writer, i: usize, ind: usize| {
            if let Some(v) = items.get(i) {
                w.value(v, ind);
            }
        };
        self.typed_nd("object", &o.shape, o.items.len(), inline, indent, &mut elem);
    }

    fn cell(&mut self, c: &CellArray, indent: usize) {
        if c.shape.is_empty() {
            // 0-d cell (never written by MATLAB): its single item
            match c.items.first() {
                Some(v) => self.value(v, indent),
                None => self.out.push_str("null"),
            }
            return;
        }
        self.items_nd(&c.shape, &c.items, indent);
    }

    fn struct_element(&mut self, s: &StructArray, e: usize, indent: usize) {
        self.obj_open();
        let nf = s.fields.len();
        for (f, name) in s.fields.iter().enumerate() {
            self.key(name, f == 0, indent);
            match s.values.get(e * nf + f) {
                Some(v) => self.value(v, indent + 1),
                None => self.out.push_str("null"),
            }
        }
        self.obj_close(nf == 0, indent);
    }

    fn structure(&mut self, s: &StructArray, indent: usize) {
        let n = element_count(&s.shape).unwrap_or(0);
        if n == 1 && s.shape.iter().all(|&d| d == 1) {
            self.struct_element(s, 0, indent);
            return;
        }
        // With zero fields no values are stored; cap the listing so a
        // hostile shape cannot make us write forever.
        if s.fields.is_empty() && n > MAX_EMPTY_LISTS {
            self.out.push_str("[]");
            return;
        }
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        let mut elem = |w: &mut Writer, e: usize, ind: usize| w.struct_element(s, e, ind);
        self.nd(&s.shape, n, false, indent, &mut elem);
    }

    fn sparse(&mut self, s: &SparseMatrix, indent: usize) {
        let dtype = match (s.class, s.complex) {
            (SparseClass::Logical, _) => "sparse bool",
            (SparseClass::Double, false) => "sparse float64",
            (SparseClass::Double, true) => "sparse complex128",
        };
        self.obj_open();
        self.key("dtype", true, indent);
        push_str_lit(&mut self.out, dtype);
        self.key("shape", false, indent);
        self.shape(&[s.rows, s.cols]);
        self.key("entries", false, indent);
        let entries = s.entries();
        self.list(entries.iter(), false, indent + 1, |w, (r, c, re, im), _| {
            let _ = write!(w.out, "[{r}, {c}, ");
            match (s.class, s.complex) {
                (SparseClass::Logical, _) => {
                    w.out.push_str(if *re != 0.0 { "true" } else { "false" })
                }
                (_, false) => w.out.push_str(&f64_text(*re)),
                (_, true) => w.complex(&f64_text(*re), &f64_text(*im)),
            }
            w.out.push(']');
        });
        self.obj_close(false, indent);
    }
}

#[cfg(test)]
mod tests {
    use super::super::blob::tests::hex;
    use super::super::value::{decode_blob, BigInt, DateTime};
    use super::*;

    fn j(h: &str) -> String {
        to_json(&decode_blob(&hex(h)).unwrap())
    }

    fn num(class: ElementClass, complex: bool, shape: &[u64], data: Vec<u8>) -> Value {
        Value::Array(NumArray {
            class,
            complex,
            shape: shape.to_vec(),
            data,
        })
    }

    #[test]
    fn scalars() {
        assert_eq!(j("646a3000 ff"), "null\n");
        assert_eq!(j("646a3000 0b 01"), "true\n");
        assert_eq!(
            j("646a3000 0a 0900 000000000000000040"),
            "1180591620717411303424\n"
        );
        assert_eq!(j("646a3000 0a 0200 80ff"), "-128\n");
        assert_eq!(j("646a3000 0d 000000000000f83f"), "1.5\n");
        assert_eq!(to_json(&Value::Float(f64::NAN)), "\"NaN\"\n");
        assert_eq!(to_json(&Value::Float(f64::NEG_INFINITY)), "\"-Infinity\"\n");
        assert_eq!(to_json(&Value::Float(1e300)), "1e300\n");
        assert_eq!(to_json(&Value::Float(-0.0)), "-0.0\n");
        assert_eq!(
            j("646a3000 0c 000000000000f03f 0000000000000040"),
            "{\"re\": 1.0, \"im\": 2.0}\n"
        );
        assert_eq!(j("646a3000 05 0200000000000000 c3a9"), "\"é\"\n");
        assert_eq!(
            to_json(&Value::Str("a\"\\\n\u{1}".into())),
            "\"a\\\"\\\\\\n\\u0001\"\n"
        );
        assert_eq!(
            j("646a3000 06 0200000000000000 00ff"),
            "{\"hex\": \"00ff\"}\n"
        );
        assert_eq!(j("646a3000 64 0400000000000000 312e3530"), "\"1.50\"\n");
        assert_eq!(
            j("646a3000 75 00112233445566778899aabbccddeeff"),
            "\"00112233-4455-6677-8899-aabbccddeeff\"\n"
        );
        assert_eq!(
            j("646a3000 74 a63a3401 467b471407000000"),
            "\"2020-01-02T03:04:05.000006\"\n"
        );
        assert_eq!(
            to_json(&Value::DateTime(DateTime {
                date: None,
                time: Some((3, 4, 5, 0))
            })),
            "\"03:04:05\"\n"
        );
        assert_eq!(to_json(&Value::Bytes(vec![])), "{\"hex\": \"\"}\n");
    }

    #[test]
    fn containers() {
        assert_eq!(
            j("646a3000 02 0200000000000000 0400000000000000 0a010001 0a00000000000000 05 0100000000000000 61"),
            "[1, \"a\"]\n"
        );
        assert_eq!(
            j("646a3000 04 0100000000000000 0a00000000000000 05 0100000000000000 61 0400000000000000 0a010001"),
            "{\n  \"a\": 1\n}\n"
        );
        let d = Value::Dict(vec![
            (Value::Int(BigInt::from_i64(1)), Value::None),
            (Value::Str("1".into()), Value::List(vec![])),
            (
                Value::Tuple(vec![
                    Value::Int(BigInt::from_i64(1)),
                    Value::Str("x".into()),
                ]),
                Value::Dict(vec![]),
            ),
            (Value::None, Value::Bool(false)),
            (Value::Str("1 #2".into()), Value::None),
        ]);
        assert_eq!(
            to_json(&d),
            "{\n  \"1\": null,\n  \"1 #2\": [],\n  \"[1, \\\"x\\\"]\": {},\n  \"null\": false,\n  \"1 #2 #2\": null\n}\n"
        );
        let nested = Value::List(vec![
            Value::List(vec![Value::Float(1.0)]),
            Value::Str("x".into()),
        ]);
        assert_eq!(to_json(&nested), "[\n  [1.0],\n  \"x\"\n]\n");
    }

    #[test]
    fn arrays() {
        assert_eq!(
            j("6d596d00 41 0200000000000000 0200000000000000 0300000000000000 0c000000 00000000
             01000000 04000000 02000000 05000000 03000000 06000000"),
            "{\n  \"dtype\": \"int32\",\n  \"shape\": [2, 3],\n  \"data\": [\n    [1, 2, 3],\n    [4, 5, 6]\n  ]\n}\n"
        );
        assert_eq!(
            j("646a3000 41 0000000000000000 09000000 00000000 07"),
            "{\n  \"dtype\": \"uint8\",\n  \"shape\": [],\n  \"data\": 7\n}\n"
        );
        assert_eq!(
            j("6d596d00 41 0100000000000000 0200000000000000 06000000 01000000
             000000000000f03f 0000000000000840 0000000000000040 00000000000010c0"),
            "{\n  \"dtype\": \"complex128\",\n  \"shape\": [2],\n  \"data\": [\n    {\"re\": 1.0, \"im\": 2.0},\n    {\"re\": 3.0, \"im\": -4.0}\n  ]\n}\n"
        );
        let v = num(
            ElementClass::Float32,
            false,
            &[3],
            [0.1f32, f32::NAN, f32::INFINITY]
                .iter()
                .flat_map(|x| x.to_le_bytes())
                .collect(),
        );
        assert!(to_json(&v).contains("[0.1, \"NaN\", \"Infinity\"]"));
        let v = num(ElementClass::Bool, false, &[2, 0], vec![]);
        assert!(
            to_json(&v).contains("\"data\": [\n    [],\n    []\n  ]"),
            "{}",
            to_json(&v)
        );
        let v = num(ElementClass::Float64, false, &[0, 2], vec![]);
        assert!(to_json(&v).contains("\"data\": []"));
        let v = num(
            ElementClass::UInt64,
            false,
            &[1],
            u64::MAX.to_le_bytes().to_vec(),
        );
        assert!(to_json(&v).contains("[18446744073709551615]"));
        let v = num(
            ElementClass::DateTime64(3),
            false,
            &[2],
            [18263i64, i64::MIN]
                .iter()
                .flat_map(|x| x.to_le_bytes())
                .collect(),
        );
        assert!(to_json(&v).contains("\"dtype\": \"datetime64[D]\""));
        assert!(to_json(&v).contains("[\"2020-01-02\", \"NaT\"]"));
    }

    #[test]
    fn datetime64_units() {
        assert_eq!(datetime64_text(50, 0), "2020");
        assert_eq!(datetime64_text(601, 1), "2020-02");
        assert_eq!(datetime64_text(-1, 1), "1969-12");
        assert_eq!(datetime64_text(1, 2), "1970-01-08");
        assert_eq!(datetime64_text(-1, 3), "1969-12-31");
        assert_eq!(datetime64_text(25, 4), "1970-01-02T01");
        assert_eq!(datetime64_text(61, 5), "1970-01-01T01:01");
        assert_eq!(datetime64_text(1_577_934_245, 6), "2020-01-02T03:04:05");
        assert_eq!(datetime64_text(-1, 7), "1969-12-31T23:59:59.999");
        assert_eq!(
            datetime64_text(1_577_934_245_000_006, 8),
            "2020-01-02T03:04:05.000006"
        );
        assert_eq!(
            datetime64_text(1, 12),
            "1970-01-01T00:00:00.000000000000000001"
        );
        assert_eq!(datetime64_text(i64::MIN + 1, 0), "-9223372036854773837");
        // extremes of every unit format without overflow
        for k in 0..13 {
            for v in [i64::MAX, i64::MIN + 1, 0] {
                assert!(!datetime64_text(v, k).is_empty());
            }
        }
    }

    #[test]
    fn matlab_things() {
        // char 1x2 'ab', matrix ['ac';'bd'] stored column-major a b c d
        assert_eq!(j("6d596d00 41 0200000000000000 0100000000000000 0200000000000000 04000000 00000000 61006200"), "\"ab\"\n");
        assert_eq!(
            j("6d596d00 41 0200000000000000 0200000000000000 0200000000000000 04000000 00000000 6100 6200 6300 6400"),
            "[\"ac\", \"bd\"]\n"
        );
        assert_eq!(
            j("6d596d00 41 0200000000000000 0000000000000000 0000000000000000 04000000 00000000"),
            "\"\"\n"
        );
        // 2x1x2 char: rows along the last axis
        assert_eq!(
            j("6d596d00 41 0300000000000000 0200000000000000 0100000000000000 0200000000000000 04000000 00000000 6100 6200 6300 6400"),
            "[\n  [\"ac\"],\n  [\"bd\"]\n]\n"
        );
        let cell = j("6d596d00 43 0200000000000000 0100000000000000 0200000000000000
           2900000000000000 41 0200000000000000 0100000000000000 0100000000000000 06000000 00000000 000000000000f03f
           2500000000000000 41 0200000000000000 0100000000000000 0200000000000000 04000000 00000000 61006200");
        assert_eq!(
            cell,
            "[\n  [\n    {\n      \"dtype\": \"float64\",\n      \"shape\": [1, 1],\n      \"data\": [\n        [1.0]\n      ]\n    },\n    \"ab\"\n  ]\n]\n"
        );
        let s = j("6d596d00 53 0200000000000000 0100000000000000 0100000000000000 01000000 6100
           2500000000000000 41 0200000000000000 0100000000000000 0200000000000000 04000000 00000000 61006200");
        assert_eq!(s, "{\n  \"a\": \"ab\"\n}\n");
        let s = j("6d596d00 53 0200000000000000 0000000000000000 0000000000000000 01000000 6100");
        assert_eq!(s, "[]\n");
        let s = j("6d596d00 53 0200000000000000 0100000000000000 0100000000000000 00000000");
        assert_eq!(s, "{}\n");
        // hostile zero-field struct shape does not explode
        let s = j("6d596d00 53 0200000000000000 ffffffff00000000 ffffffff00000000 00000000");
        assert_eq!(s, "[]\n");
    }

    #[test]
    fn record_and_object() {
        let r = j("646a3000 46 02000000 6100 6200
         41 0100000000000000 0100000000000000 0c000000 00000000 01000000
         41 0100000000000000 0100000000000000 06000000 00000000 0000000000000040");
        let v: serde_json::Value = serde_json::from_str(&r).unwrap();
        assert_eq!(v["dtype"], "record");
        assert_eq!(v["shape"], serde_json::json!([1]));
        assert_eq!(v["fields"]["a"]["data"], serde_json::json!([1]));
        assert_eq!(v["fields"]["b"]["data"], serde_json::json!([2.0]));
        let o = j(
            "646a3000 41 0100000000000000 0200000000000000 05000000 00000000
             0b00000000000000 05 0200000000000000 6162 0a00000000000000 05 0100000000000000 63",
        );
        assert_eq!(
            o,
            "{\n  \"dtype\": \"object\",\n  \"shape\": [2],\n  \"data\": [\"ab\", \"c\"]\n}\n"
        );
    }
}
