//! The blob codec against vectors from the real client (datajoint 0.14.10):
//! `tests/fixtures/blob_vectors.json`, written by
//! `tests/python/make_blob_fixtures.py` (see there for the fixture format).

use std::sync::OnceLock;

use djfs::codec::value::{fortran_to_c, PyChars};
use djfs::codec::{
    classify_blob, decode_blob_with, encode_npy, encode_npy_plain, encode_raw_blob_check,
    inflate_blob, parse_npy, to_json, BlobError, BlobShape, DecodeOptions, NpyView, Value,
};
use proptest::prelude::*;
use serde_json::{json, Value as J};

struct Case {
    name: String,
    blob: Vec<u8>,
    fx: J,
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

fn cases() -> &'static [Case] {
    static CASES: OnceLock<Vec<Case>> = OnceLock::new();
    CASES.get_or_init(|| {
        // At run time first: the compiled-in path is stale when another checkout shares the target.
        let path = std::path::Path::new(
            &std::env::var_os("CARGO_MANIFEST_DIR")
                .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
        )
        .join("tests/fixtures/blob_vectors.json");
        let text = std::fs::read_to_string(path).expect("fixture file");
        let root: J = serde_json::from_str(&text).unwrap();
        root["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| Case {
                name: c["name"].as_str().unwrap().to_string(),
                blob: unhex(c["blob"].as_str().unwrap()),
                fx: c.clone(),
            })
            .collect()
    })
}

fn opts(c: &Case) -> DecodeOptions {
    DecodeOptions {
        dims32: c.fx["dims32"].as_bool().unwrap_or(false),
    }
}

fn fhex(x: f64) -> String {
    hex::encode(x.to_le_bytes())
}

/// What datajoint-python's `unpack` would return, in the generator's
/// canonical form (`describe` in make_blob_fixtures.py).
fn describe(v: &Value) -> J {
    match v {
        Value::None => json!({"t": "none"}),
        Value::Bool(b) => json!({"t": "bool", "v": b}),
        Value::Int(i) => json!({"t": "int", "v": i.to_decimal()}),
        Value::Float(x) => json!({"t": "float", "v": fhex(*x)}),
        Value::Complex { re, im } => json!({"t": "complex", "v": [fhex(*re), fhex(*im)]}),
        Value::Str(s) => json!({"t": "str", "v": s}),
        Value::Bytes(b) => json!({"t": "bytes", "v": hex::encode(b)}),
        Value::Decimal(s) => json!({"t": "decimal", "v": s}),
        Value::Uuid(u) => json!({"t": "uuid", "v": hex::encode(u)}),
        Value::DateTime(d) => match d.iso() {
            Some(s) => json!({"t": "datetime", "v": s}),
            None => json!({"t": "none"}),
        },
        Value::Tuple(v) => json!({"t": "tuple", "v": v.iter().map(describe).collect::<Vec<_>>()}),
        Value::List(v) => json!({"t": "list", "v": v.iter().map(describe).collect::<Vec<_>>()}),
        Value::Set(v) => json!({"t": "set", "v": v.iter().map(describe).collect::<Vec<_>>()}),
        Value::Dict(p) => {
            json!({"t": "dict", "v": p.iter().map(|(k, v)| json!([describe(k), describe(v)])).collect::<Vec<_>>()})
        }
        Value::Array(a) => json!({
            "t": "array", "descr": a.python_descr(), "shape": a.shape, "c_data": hex::encode(a.python_c_bytes())
        }),
        Value::Char(c) => match c.python_value() {
            Some(PyChars::Text(s)) => json!({"t": "ustr", "shape": [1], "v": [s]}),
            Some(PyChars::Chars(v)) => {
                json!({"t": "ustr", "shape": c.shape, "v": fortran_to_c(&v, &c.shape)})
            }
            None => json!({"error": "python cannot decode this char array"}),
        },
        Value::Object(o) => json!({
            "t": "object", "shape": o.shape,
            "v": fortran_to_c(&o.items, &o.shape).iter().map(describe).collect::<Vec<_>>()
        }),
        Value::Struct(s) if s.fields.is_empty() => {
            json!({"t": "object", "shape": [], "v": [{"t": "none"}]})
        }
        Value::Struct(s) => {
            let nf = s.fields.len();
            let elems: Vec<Vec<J>> = s
                .values
                .chunks(nf)
                .map(|e| e.iter().map(describe).collect())
                .collect();
            json!({"t": "struct", "shape": s.shape, "fields": s.fields, "v": fortran_to_c(&elems, &s.shape)})
        }
        // 0.14 builds np.array(list of items): 1-element items collapse to scalars
        Value::Cell(c) => {
            let items: Vec<J> = fortran_to_c(&c.items, &c.shape)
                .iter()
                .map(|it| match it {
                    Value::Char(ch) => match ch.python_value() {
                        Some(PyChars::Text(s)) => json!({"t": "str", "v": s}),
                        _ => describe(it),
                    },
                    Value::Array(a) if a.len() == 1 => json!({
                        "t": "array", "descr": a.python_descr(), "shape": [], "c_data": hex::encode(a.python_c_bytes())
                    }),
                    _ => describe(it),
                })
                .collect();
            json!({"t": "cell", "shape": c.shape, "v": items})
        }
        Value::Record(r) if r.fields.is_empty() => {
            json!({"t": "object", "shape": [], "v": [{"t": "none"}]})
        }
        Value::Record(r) => {
            json!({
                "t": "record", "shape": r.shape(),
                "fields": r.fields.iter().map(|(n, c)| json!([n, describe(c)])).collect::<Vec<_>>()
            })
        }
        Value::Sparse(_) => json!({"error": "python cannot decode sparse matrices"}),
    }
}

#[test]
fn fixture_file_is_broad() {
    let cs = cases();
    assert!(cs.len() > 200, "{} cases", cs.len());
    let count = |f: &dyn Fn(&Case) -> bool| cs.iter().filter(|c| f(c)).count();
    assert!(count(&|c| c.fx["compressed"] == true) >= 20);
    assert!(count(&|c| c.fx["source"] == "matlab") >= 20);
    assert!(count(&|c| c.fx["npy_in"].is_string()) >= 100);
    assert!(count(&|c| c.fx.get("json").is_some()) >= 150);
}

#[test]
fn decode_matches_python() {
    let mut failures = Vec::new();
    for c in cases() {
        let v = match decode_blob_with(&c.blob, opts(c)) {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!("{}: decode failed: {e}", c.name));
                continue;
            }
        };
        let want = &c.fx["py"];
        if want.get("error").is_some() {
            // the client cannot decode these (sparse, 0.14 cells, non-ASCII
            // chars); we do, and render them
            continue;
        }
        let got = describe(&v);
        if &got != want {
            failures.push(format!("{}:\n  got  {got}\n  want {want}", c.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn npy_view_matches() {
    let mut failures = Vec::new();
    let mut arrays = 0;
    for c in cases() {
        if c.fx["dims32"] == true {
            continue;
        }
        let shape = classify_blob(&c.blob, c.blob.len() as u64);
        let faithful = c.fx["faithful"].as_bool().unwrap();
        let a = match (shape, faithful) {
            (Ok(BlobShape::Array(a)), true) => a,
            (Ok(BlobShape::Other), false) => continue,
            (other, _) => {
                failures.push(format!(
                    "{}: faithful={faithful} but classify gave {other:?}",
                    c.name
                ));
                continue;
            }
        };
        arrays += 1;
        // classification from a short prefix, following NeedMore, agrees
        let mut n = 0usize;
        let inc = loop {
            match classify_blob(&c.blob[..n], c.blob.len() as u64) {
                Err(BlobError::NeedMore(m)) => n = m,
                r => break r,
            }
        };
        assert_eq!(inc, Ok(BlobShape::Array(a.clone())), "{}", c.name);
        let plain = inflate_blob(&c.blob).unwrap();
        let view = NpyView::new(&a);
        let file = view.read(&plain, 0, usize::MAX);
        assert_eq!(file.len() as u64, view.size());
        // our own reading of the .npy: descr from the header, data to C order
        let header = std::str::from_utf8(&view.header()[10..]).unwrap();
        let descr = header.split('\'').nth(3).unwrap();
        let npy = parse_npy(&file).unwrap();
        assert!(npy.fortran_order);
        let item = npy.dtype.item_size();
        let elems: Vec<&[u8]> = npy.data.chunks(item).collect();
        let c_data: Vec<u8> = fortran_to_c(&elems, &npy.shape).concat();
        let want = &c.fx["npy"];
        let got = json!({"descr": descr, "shape": npy.shape, "c_data": hex::encode(&c_data)});
        if &got != want {
            failures.push(format!("{}:\n  got  {got}\n  want {want}", c.name));
        }
    }
    assert!(arrays > 150, "{arrays}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn encode_matches_pack() {
    // With the real zlib (level 6, as CPython), every blob is byte-identical to the client's
    // `pack`, compressed ones included, so external blobs get the client's hash.
    let (mut exact, mut compressed) = (0, 0);
    for c in cases() {
        let Some(npy_in) = c.fx["npy_in"].as_str() else {
            continue;
        };
        let npy_in = unhex(npy_in);
        let plain = inflate_blob(&c.blob).unwrap();
        assert_eq!(
            encode_npy_plain(&npy_in).unwrap(),
            plain.as_ref(),
            "{}",
            c.name
        );
        let ours = encode_npy(&npy_in).unwrap();
        assert_eq!(hex::encode(&ours), hex::encode(&c.blob), "{}", c.name);
        if c.fx["compressed"] == true {
            compressed += 1;
        } else {
            exact += 1;
        }
    }
    eprintln!(
        "encode: {exact} uncompressed and {compressed} compressed blobs byte-identical to pack"
    );
    assert!(exact > 100 && compressed >= 20);
}

#[test]
fn json_rendering() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for c in cases() {
        let v = decode_blob_with(&c.blob, opts(c)).unwrap();
        let text = to_json(&v);
        assert!(text.ends_with('\n'), "{}", c.name);
        assert_eq!(text, to_json(&v), "{}: not deterministic", c.name);
        let parsed: J = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: invalid JSON {e}:\n{text}", c.name));
        let Some(want) = c.fx.get("json") else {
            continue;
        };
        checked += 1;
        if &parsed != want {
            failures.push(format!("{}:\n  got  {parsed}\n  want {want}", c.name));
        }
    }
    assert!(checked > 150, "{checked}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn raw_blob_check() {
    for c in cases() {
        let r = encode_raw_blob_check(&c.blob);
        let expect_ok = c.fx["dims32"] != true && c.name != "unknown_header";
        assert_eq!(r.is_ok(), expect_ok, "{}: {r:?}", c.name);
    }
}

#[test]
fn matlab_json_examples() {
    let find = |name: &str| {
        let c = cases().iter().find(|c| c.name == name).unwrap();
        to_json(&decode_blob_with(&c.blob, opts(c)).unwrap())
    };
    assert_eq!(find("matlab_char_string"), "\"character string\"\n");
    assert_eq!(find("matlab_char_greek"), "\"aα\"\n");
    assert_eq!(find("matlab_char_matrix"), "[\"abc\", \"def\"]\n");
    assert_eq!(
        find("matlab_cell_strings"),
        "[\n  [\"string1\", \"string2\"]\n]\n"
    );
    let sparse: J = serde_json::from_str(&find("matlab_sparse_double")).unwrap();
    assert_eq!(
        sparse,
        json!({"dtype": "sparse float64", "shape": [2, 3], "entries": [[0, 0, 1.0], [1, 2, 2.0]]})
    );
    let sparse: J = serde_json::from_str(&find("matlab_sparse_complex")).unwrap();
    assert_eq!(sparse["entries"], json!([[2, 0, {"re": 1.5, "im": -2.5}]]));
    let s: J = serde_json::from_str(&find("matlab_struct_array_magic")).unwrap();
    assert_eq!(s[0][0]["name"], "first");
    assert_eq!(s[0][0]["value"]["data"][0], json!([8.0, 1.0, 6.0]));
    assert_eq!(s[0][0]["sub"]["m"]["shape"], json!([3, 3]));
    assert_eq!(s[0][1]["sub"]["shape"], json!([0, 0]));
    let s: J = serde_json::from_str(&find("matlab_32bit_dims_struct")).unwrap();
    assert_eq!(s["stage"], "T");
    assert_eq!(s["hits"]["data"], json!([[1.0, 0.0, 1.0]]));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, failure_persistence: None, ..ProptestConfig::default() })]

    /// Any truncation or bit flip of a real blob decodes or fails cleanly.
    #[test]
    fn damaged_fixtures_never_panic(i in any::<prop::sample::Index>(), cut in any::<prop::sample::Index>(), flip in any::<prop::sample::Index>(), bit in 0u8..8, flips in 0usize..3) {
        let c = i.get(cases());
        let mut b = c.blob.clone();
        for k in 0..flips {
            if !b.is_empty() {
                let at = (flip.index(b.len()) + 31 * k) % b.len();
                b[at] ^= 1 << bit;
            }
        }
        let n = cut.index(b.len() + 1);
        for bytes in [&b[..], &b[..n]] {
            for dims32 in [false, true] {
                if let Ok(v) = decode_blob_with(bytes, DecodeOptions { dims32 }) {
                    let _ = to_json(&v);
                }
            }
            let _ = encode_raw_blob_check(bytes);
            if let Ok(BlobShape::Array(a)) = classify_blob(bytes, bytes.len() as u64) {
                if let Ok(p) = inflate_blob(bytes) {
                    let v = NpyView::new(&a);
                    prop_assert_eq!(v.read(&p, 0, usize::MAX).len() as u64, v.size());
                }
            }
        }
    }

    /// Damaged .npy inputs are rejected or encoded, never a panic; what is
    /// encoded always decodes.
    #[test]
    fn damaged_npy_never_panics(i in any::<prop::sample::Index>(), at in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<prop::sample::Index>()) {
        let with_npy: Vec<&Case> = cases().iter().filter(|c| c.fx["npy_in"].is_string()).collect();
        let c = i.get(&with_npy);
        let mut f = unhex(c.fx["npy_in"].as_str().unwrap());
        let k = at.index(f.len());
        f[k] = byte;
        let n = cut.index(f.len() + 1);
        for bytes in [&f[..], &f[..n]] {
            if let Ok(b) = encode_npy(bytes) {
                prop_assert!(decode_blob_with(&b, DecodeOptions::default()).is_ok());
            }
        }
    }
}
