//! `ATTR.png`: arrays that are images, encoded as PNG as `plt.imshow` shows them (row 0 at the
//! top, pixel (x, y) = `arr[y, x]`).
//!
//! Which arrays qualify is decided from the array header alone ([`ImageShape::of`]), so a
//! listing can show the file without reading the array:
//!
//! | array (as numpy indexes it) | PNG |
//! |---|---|
//! | 2-D `uint8` H×W | 8-bit grey, the values as they are |
//! | 2-D `uint16` H×W | 16-bit grey, the values as they are |
//! | 3-D `uint8` H×W×3 / H×W×4 | 8-bit RGB / RGBA |
//! | 2-D `float32` / `float64` H×W | 8-bit grey, min–max scaled (see [`scale_floats`]) |
//!
//! H and W must be at least 1 and fit a PNG (< 2^31), the element data at most
//! [`MAX_IMAGE_BYTES`], and the array real (not complex). Anything else (1-D, 0-d, other dtypes,
//! other channel counts, empty) has no PNG view.
//!
//! Blob element data is column-major (spec §1.5: `arr[y, x, c]` is element
//! `y + x·H + c·H·W`) whatever the order of the numpy array that was stored, so the encoder
//! transposes it into PNG's row-major scanlines.
//!
//! The image data is stored without compression (deflate "stored" blocks, no row filters), so
//! the PNG's length follows from the header too ([`png_len`]): a listing gives exact sizes
//! without reading the array, which is read (and encoded) only when the file is opened.

use crate::codec::{ArrayHeader, ElementClass};

/// The largest array (bytes of element data) shown as PNG: rendering holds the array and its
/// PNG in memory.
pub const MAX_IMAGE_BYTES: u64 = 256 << 20;

/// PNG's own limit on width and height.
const MAX_SIDE: u64 = (1 << 31) - 1;

/// What an image array's elements are and what the PNG's pixels become.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PixelKind {
    /// 2-D uint8: 8-bit grey.
    Grey8,
    /// 2-D uint16: 16-bit grey.
    Grey16,
    /// 2-D float32: 8-bit grey, min–max scaled.
    GreyF32,
    /// 2-D float64: 8-bit grey, min–max scaled.
    GreyF64,
    /// H×W×3 uint8.
    Rgb8,
    /// H×W×4 uint8.
    Rgba8,
}

impl PixelKind {
    /// Bytes per element of the array.
    fn element_size(self) -> usize {
        match self {
            PixelKind::Grey8 | PixelKind::Rgb8 | PixelKind::Rgba8 => 1,
            PixelKind::Grey16 => 2,
            PixelKind::GreyF32 => 4,
            PixelKind::GreyF64 => 8,
        }
    }

    fn channels(self) -> usize {
        match self {
            PixelKind::Rgb8 => 3,
            PixelKind::Rgba8 => 4,
            _ => 1,
        }
    }
}

/// An array that is an image: its pixel kind and size (numpy shape `(height, width[, c])`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageShape {
    pub kind: PixelKind,
    pub height: u32,
    pub width: u32,
}

impl ImageShape {
    /// Whether an array is shown as PNG, from its header alone (dtype and shape).
    pub fn of(array: &ArrayHeader) -> Option<ImageShape> {
        if array.complex || array.inline.is_some() {
            return None;
        }
        let kind = match (array.shape.as_slice(), array.class) {
            ([_, _], ElementClass::UInt8) => PixelKind::Grey8,
            ([_, _], ElementClass::UInt16) => PixelKind::Grey16,
            ([_, _], ElementClass::Float32) => PixelKind::GreyF32,
            ([_, _], ElementClass::Float64) => PixelKind::GreyF64,
            ([_, _, 3], ElementClass::UInt8) => PixelKind::Rgb8,
            ([_, _, 4], ElementClass::UInt8) => PixelKind::Rgba8,
            _ => return None,
        };
        let (h, w) = (array.shape[0], array.shape[1]);
        if !(1..=MAX_SIDE).contains(&h) || !(1..=MAX_SIDE).contains(&w) {
            return None;
        }
        let image = ImageShape {
            kind,
            height: h as u32,
            width: w as u32,
        };
        // The header's data length must be what the shape says (it always is for a valid blob).
        (image.data_len() <= MAX_IMAGE_BYTES && image.data_len() == array.data_len).then_some(image)
    }

    fn pixels(&self) -> u64 {
        u64::from(self.height) * u64::from(self.width)
    }

    /// Bytes of element data the array has.
    pub fn data_len(&self) -> u64 {
        self.pixels() * (self.kind.channels() * self.kind.element_size()) as u64
    }

    /// Bytes per pixel in the PNG.
    fn png_pixel_bytes(&self) -> u64 {
        let sample = if self.kind == PixelKind::Grey16 { 2 } else { 1 };
        (self.kind.channels() * sample) as u64
    }
}

/// Longest stored deflate block.
const STORED_BLOCK: u64 = 65535;
/// Longest IDAT chunk the `png` crate writes.
const MAX_IDAT: u64 = (u32::MAX >> 1) as u64;

/// The length of the PNG [`encode`] makes of an image, from its shape alone: signature, IHDR,
/// the zlib stream (2-byte header, the scanlines with a filter byte each in stored blocks of at
/// most 65535 bytes with a 5-byte header each, Adler-32) in IDAT chunks, IEND.
pub fn png_len(image: &ImageShape) -> u64 {
    let raw = u64::from(image.height) * (1 + u64::from(image.width) * image.png_pixel_bytes());
    let blocks = raw.div_ceil(STORED_BLOCK).max(1);
    let zlib = 2 + raw + 5 * blocks + 4;
    let chunks = zlib.div_ceil(MAX_IDAT);
    8 + (12 + 13) + 12 * chunks + zlib + 12
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PngError {
    #[error("array data is {got} bytes, its header says {want}")]
    DataLength { got: usize, want: u64 },
    #[error("PNG encoder: {0}")]
    Encode(String),
}

/// The PNG of an image array. `data` is the array's element data as the blob stores it (and as
/// the `.npy` view serves it after its header): little-endian, column-major.
pub fn encode(image: &ImageShape, data: &[u8]) -> Result<Vec<u8>, PngError> {
    if data.len() as u64 != image.data_len() {
        return Err(PngError::DataLength {
            got: data.len(),
            want: image.data_len(),
        });
    }
    let (h, w) = (image.height as usize, image.width as usize);
    let (color, depth, pixels) = match image.kind {
        PixelKind::Grey8 => (
            png::ColorType::Grayscale,
            png::BitDepth::Eight,
            interleave::<1>(data, h, w, 1),
        ),
        PixelKind::Grey16 => {
            // PNG samples are big-endian.
            let be: Vec<u8> = data.chunks_exact(2).flat_map(|s| [s[1], s[0]]).collect();
            (
                png::ColorType::Grayscale,
                png::BitDepth::Sixteen,
                interleave::<2>(&be, h, w, 1),
            )
        }
        PixelKind::GreyF32 => {
            let values = data
                .chunks_exact(4)
                .map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])));
            (
                png::ColorType::Grayscale,
                png::BitDepth::Eight,
                interleave::<1>(&scale_floats(values), h, w, 1),
            )
        }
        PixelKind::GreyF64 => {
            let values = data
                .chunks_exact(8)
                .map(|b| f64::from_le_bytes(b.try_into().unwrap()));
            (
                png::ColorType::Grayscale,
                png::BitDepth::Eight,
                interleave::<1>(&scale_floats(values), h, w, 1),
            )
        }
        PixelKind::Rgb8 => (
            png::ColorType::Rgb,
            png::BitDepth::Eight,
            interleave::<1>(data, h, w, 3),
        ),
        PixelKind::Rgba8 => (
            png::ColorType::Rgba,
            png::BitDepth::Eight,
            interleave::<1>(data, h, w, 4),
        ),
    };
    let encode_error = |e: png::EncodingError| PngError::Encode(e.to_string());
    let mut out = Vec::with_capacity(png_len(image) as usize);
    let mut encoder = png::Encoder::new(&mut out, image.width, image.height);
    encoder.set_color(color);
    encoder.set_depth(depth);
    // Stored blocks: the length is known from the shape (`png_len`), and the same array always
    // gives the same bytes.
    encoder.set_compression(png::Compression::NoCompression);
    let mut writer = encoder.write_header().map_err(encode_error)?;
    writer.write_image_data(&pixels).map_err(encode_error)?;
    writer.finish().map_err(encode_error)?;
    if out.len() as u64 != png_len(image) {
        return Err(PngError::Encode(format!(
            "{} bytes, expected {}",
            out.len(),
            png_len(image)
        )));
    }
    Ok(out)
}

/// Min–max scaling of float pixels to 8-bit grey, element by element in the given order:
///
/// * `min` and `max` are taken over the finite values (NaN and ±inf are left out);
/// * a finite value `v` becomes `floor((v - min) / (max - min) * 255 + 0.5)`, computed in
///   float64 (float32 values are widened exactly), so `min` → 0 and `max` → 255; when
///   `max - min` overflows, the same ratio is computed from halved values;
/// * a constant array (`max == min`), and every finite value of an array with only one distinct
///   finite value, → 0;
/// * NaN → 0, -inf → 0, +inf → 255.
pub fn scale_floats(values: impl Iterator<Item = f64> + Clone) -> Vec<u8> {
    let (min, max) = values
        .clone()
        .filter(|v| v.is_finite())
        .fold(None, |acc: Option<(f64, f64)>, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
        .unwrap_or((0.0, 0.0));
    let range = max - min;
    values
        .map(|v| {
            if v.is_nan() || v == f64::NEG_INFINITY {
                0
            } else if v == f64::INFINITY {
                255
            } else if range == 0.0 {
                0
            } else {
                let t = if range.is_finite() {
                    (v - min) / range
                } else {
                    (v / 2.0 - min / 2.0) / (max / 2.0 - min / 2.0)
                };
                (t * 255.0 + 0.5).floor().clamp(0.0, 255.0) as u8
            }
        })
        .collect()
}

/// Column-major planes (`channels` planes of `h`×`w` samples of `S` bytes, `y` fastest) into
/// row-major interleaved pixels (PNG scanlines without filter bytes). Works in tiles so both
/// sides stay in cache.
fn interleave<const S: usize>(src: &[u8], h: usize, w: usize, channels: usize) -> Vec<u8> {
    const TILE: usize = 64;
    let plane = h * w * S;
    let mut out = vec![0u8; plane * channels];
    for c in 0..channels {
        let src = &src[c * plane..(c + 1) * plane];
        for x0 in (0..w).step_by(TILE) {
            for y0 in (0..h).step_by(TILE) {
                for x in x0..(x0 + TILE).min(w) {
                    for y in y0..(y0 + TILE).min(h) {
                        let s = (y + x * h) * S;
                        let d = ((y * w + x) * channels + c) * S;
                        out[d..d + S].copy_from_slice(&src[s..s + S]);
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{classify_blob, inflate_blob, BlobShape};
    use proptest::prelude::*;

    /// A plain `mYm` `A` blob (spec §1.5).
    fn blob(shape: &[u64], class: ElementClass, data: &[u8]) -> Vec<u8> {
        let mut b = b"mYm\0A".to_vec();
        b.extend((shape.len() as u64).to_le_bytes());
        for d in shape {
            b.extend(d.to_le_bytes());
        }
        b.extend(class.class_id().to_le_bytes());
        b.extend(0u32.to_le_bytes());
        b.extend_from_slice(data);
        b
    }

    fn header(stored: &[u8]) -> ArrayHeader {
        match classify_blob(stored, stored.len() as u64) {
            Ok(BlobShape::Array(a)) => a,
            other => panic!("{other:?}"),
        }
    }

    /// What the `.npy` body of a blob is: its element data.
    fn render(stored: &[u8]) -> Option<Vec<u8>> {
        let array = header(stored);
        let image = ImageShape::of(&array)?;
        let plain = inflate_blob(stored).unwrap();
        let data = &plain[array.data_offset..array.data_offset + array.data_len as usize];
        let png = encode(&image, data).unwrap();
        assert_eq!(png.len() as u64, png_len(&image), "{image:?}");
        Some(png)
    }

    #[test]
    fn length_is_known_from_the_shape() {
        // Around the 65535-byte stored block boundary: one scanline of W bytes is W + 1 raw bytes.
        for (kind, h, w) in [
            (PixelKind::Grey8, 1, 65533),
            (PixelKind::Grey8, 1, 65534),
            (PixelKind::Grey8, 1, 65535),
            (PixelKind::Grey8, 2, 65534),
            (PixelKind::Grey16, 3, 40000),
            (PixelKind::Rgb8, 100, 300),
            (PixelKind::Rgba8, 1, 1),
            (PixelKind::GreyF64, 7, 9),
        ] {
            let image = ImageShape {
                kind,
                height: h,
                width: w,
            };
            let data = vec![3u8; image.data_len() as usize];
            let png = encode(&image, &data).unwrap();
            assert_eq!(png.len() as u64, png_len(&image), "{image:?}");
            let d = decode(&png);
            assert_eq!((d.width, d.height), (w, h));
        }
        // 1×1 grey: signature, IHDR, one IDAT of 2 + 2 + 5 + 4 bytes, IEND.
        let one = ImageShape {
            kind: PixelKind::Grey8,
            height: 1,
            width: 1,
        };
        assert_eq!(png_len(&one), 8 + 25 + 12 + 13 + 12);
    }

    struct Decoded {
        width: u32,
        height: u32,
        color: png::ColorType,
        depth: png::BitDepth,
        pixels: Vec<u8>,
    }

    fn decode(bytes: &[u8]) -> Decoded {
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut pixels).unwrap();
        pixels.truncate(info.buffer_size());
        Decoded {
            width: info.width,
            height: info.height,
            color: info.color_type,
            depth: info.bit_depth,
            pixels,
        }
    }

    /// Column-major element data of a C-order (row-major) H×W[×C] array given as nested values.
    fn fortran<T: Copy>(c_order: &[T], shape: &[usize]) -> Vec<T> {
        let (h, w) = (shape[0], shape[1]);
        let ch = shape.get(2).copied().unwrap_or(1);
        let mut out = Vec::with_capacity(c_order.len());
        for c in 0..ch {
            for x in 0..w {
                for y in 0..h {
                    out.push(c_order[(y * w + x) * ch + c]);
                }
            }
        }
        out
    }

    #[test]
    fn grey8_is_row_major_with_row_0_on_top() {
        // numpy [[1, 2, 3], [4, 5, 6]]: 2 rows, 3 columns; stored 1,4,2,5,3,6.
        let b = blob(&[2, 3], ElementClass::UInt8, &[1, 4, 2, 5, 3, 6]);
        let d = decode(&render(&b).unwrap());
        assert_eq!((d.width, d.height), (3, 2));
        assert_eq!(d.color, png::ColorType::Grayscale);
        assert_eq!(d.depth, png::BitDepth::Eight);
        assert_eq!(d.pixels, [1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn grey16_keeps_all_bits() {
        let c: [u16; 4] = [0, 1, 0x1234, 0xffff];
        let data: Vec<u8> = fortran(&c, &[2, 2])
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let d = decode(&render(&blob(&[2, 2], ElementClass::UInt16, &data)).unwrap());
        assert_eq!(d.depth, png::BitDepth::Sixteen);
        let got: Vec<u16> = d
            .pixels
            .chunks(2)
            .map(|p| u16::from_be_bytes([p[0], p[1]]))
            .collect();
        assert_eq!(got, c);
    }

    #[test]
    fn rgb_and_rgba_channels() {
        // 1×2 RGB: pixel 0 red, pixel 1 (10, 20, 30).
        let c = [255u8, 0, 0, 10, 20, 30];
        let d = decode(
            &render(&blob(
                &[1, 2, 3],
                ElementClass::UInt8,
                &fortran(&c, &[1, 2, 3]),
            ))
            .unwrap(),
        );
        assert_eq!((d.width, d.height, d.color), (2, 1, png::ColorType::Rgb));
        assert_eq!(d.pixels, c);
        let c: Vec<u8> = (0..2 * 3 * 4).map(|i| i as u8 * 7).collect();
        let d = decode(
            &render(&blob(
                &[2, 3, 4],
                ElementClass::UInt8,
                &fortran(&c, &[2, 3, 4]),
            ))
            .unwrap(),
        );
        assert_eq!((d.width, d.height, d.color), (3, 2, png::ColorType::Rgba));
        assert_eq!(d.pixels, c);
    }

    #[test]
    fn floats_are_min_max_scaled() {
        let c = [
            -1.0f64,
            0.0,
            1.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.5,
            -0.5,
        ];
        let data: Vec<u8> = fortran(&c, &[2, 4])
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let d = decode(&render(&blob(&[2, 4], ElementClass::Float64, &data)).unwrap());
        assert_eq!((d.width, d.height), (4, 2));
        // (v + 1) / 2 * 255 + 0.5, floored: 0.5 → 191.75 → 191, -0.5 → 64.25 → 64, 0 → 128
        assert_eq!(d.pixels, [0, 128, 255, 0, 255, 0, 191, 64]);

        let c = [2.5f32, 2.5, 2.5];
        let data: Vec<u8> = c.iter().flat_map(|v| v.to_le_bytes()).collect();
        let d = decode(&render(&blob(&[3, 1], ElementClass::Float32, &data)).unwrap());
        assert_eq!((d.width, d.height), (1, 3));
        assert_eq!(d.pixels, [0, 0, 0], "constant arrays are black");
    }

    #[test]
    fn float_scaling_edge_cases() {
        let s = |v: &[f64]| scale_floats(v.iter().copied());
        assert_eq!(s(&[f64::NAN, f64::NAN]), [0, 0]);
        assert_eq!(s(&[f64::INFINITY, 7.0, f64::NEG_INFINITY]), [255, 0, 0]);
        assert_eq!(s(&[-f64::MAX, f64::MAX, 0.0]), [0, 255, 128]);
        assert_eq!(s(&[0.0, 5e-324]), [0, 255]);
        assert_eq!(s(&[0.0, 1.0, 2.0, 3.0]), [0, 85, 170, 255]);
    }

    #[test]
    fn which_arrays_qualify() {
        let shape = |shape: &[u64], class: ElementClass| {
            let n: u64 = shape.iter().product();
            ArrayHeader {
                class,
                complex: false,
                shape: shape.to_vec(),
                data_offset: 0,
                data_len: n * class.size() as u64,
                inline: None,
            }
        };
        use ElementClass::*;
        let yes = [
            (shape(&[1, 1], UInt8), PixelKind::Grey8),
            (shape(&[300, 1], UInt16), PixelKind::Grey16),
            (shape(&[2, 3], Float32), PixelKind::GreyF32),
            (shape(&[2, 3], Float64), PixelKind::GreyF64),
            (shape(&[2, 3, 3], UInt8), PixelKind::Rgb8),
            (shape(&[2, 3, 4], UInt8), PixelKind::Rgba8),
        ];
        for (a, kind) in yes {
            let image = ImageShape::of(&a).unwrap_or_else(|| panic!("{a:?}"));
            assert_eq!(image.kind, kind);
            assert_eq!(
                (image.height, image.width),
                (a.shape[0] as u32, a.shape[1] as u32)
            );
        }
        let no = [
            shape(&[6], UInt8),
            shape(&[], Float64),
            shape(&[0, 3], UInt8),
            shape(&[3, 0], Float64),
            shape(&[2, 3], Int16),
            shape(&[2, 3], Bool),
            shape(&[2, 3], Int8),
            shape(&[2, 3], UInt32),
            shape(&[2, 3], DateTime64(3)),
            shape(&[2, 3, 3], Float64),
            shape(&[2, 3, 3], UInt16),
            shape(&[2, 3, 2], UInt8),
            shape(&[2, 3, 1], UInt8),
            shape(&[2, 3, 4, 1], UInt8),
            shape(&[1 << 31, 1], UInt8),
            shape(&[20_000, 20_000], UInt8),
        ];
        for a in no {
            assert_eq!(ImageShape::of(&a), None, "{a:?}");
        }
        let mut complex = shape(&[2, 2], Float64);
        complex.complex = true;
        complex.data_len *= 2;
        assert_eq!(ImageShape::of(&complex), None);
        // Exactly at the cap: still shown.
        assert!(ImageShape::of(&shape(&[16384, 16384], UInt8)).is_some());
    }

    #[test]
    fn wrong_data_length_is_an_error() {
        let image = ImageShape {
            kind: PixelKind::Grey8,
            height: 2,
            width: 2,
        };
        assert_eq!(
            encode(&image, &[1, 2, 3]),
            Err(PngError::DataLength { got: 3, want: 4 })
        );
    }

    #[test]
    fn deterministic_and_compressed_blobs() {
        let data: Vec<u8> = (0..100 * 70).map(|i| (i % 251) as u8).collect();
        let plain = blob(&[100, 70], ElementClass::UInt8, &data);
        let compressed = crate::codec::compress_blob(plain.clone());
        assert!(compressed.starts_with(b"ZL123\0"));
        let a = render(&plain).unwrap();
        assert_eq!(a, render(&compressed).unwrap());
        assert_eq!(a, render(&plain).unwrap());
        let d = decode(&a);
        assert_eq!(d.pixels.len(), 7000);
        // Row 0 is every 100th stored element (column-major, 100 rows).
        assert_eq!(d.pixels[0..3], [0, 100, 200]);
    }

    fn kinds() -> impl Strategy<Value = PixelKind> {
        prop::sample::select(vec![
            PixelKind::Grey8,
            PixelKind::Grey16,
            PixelKind::GreyF32,
            PixelKind::GreyF64,
            PixelKind::Rgb8,
            PixelKind::Rgba8,
        ])
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Every qualifying array decodes to its own values at (x, y) = arr[y, x].
        #[test]
        fn pixels_equal_the_array(
            kind in kinds(),
            h in 1u64..70,
            w in 1u64..70,
            seed in any::<u64>(),
            specials in proptest::collection::vec((0usize..10_000, 0usize..4), 0..6),
        ) {
            let class = match kind {
                PixelKind::Grey8 | PixelKind::Rgb8 | PixelKind::Rgba8 => ElementClass::UInt8,
                PixelKind::Grey16 => ElementClass::UInt16,
                PixelKind::GreyF32 => ElementClass::Float32,
                PixelKind::GreyF64 => ElementClass::Float64,
            };
            let ch = kind.channels();
            let mut shape = vec![h, w];
            if ch > 1 {
                shape.push(ch as u64);
            }
            let n = (h * w) as usize * ch;
            let mut x = seed | 1;
            let mut next = move || { x ^= x << 13; x ^= x >> 7; x ^= x << 17; x };
            // Element values in Fortran order, as f64 (exact for every kind here).
            let mut values: Vec<f64> = (0..n)
                .map(|_| match kind {
                    PixelKind::Grey16 => (next() as u16).into(),
                    PixelKind::GreyF32 => f64::from((next() as i32) as f32 / 1000.0),
                    PixelKind::GreyF64 => (next() as i64) as f64 / 1e9,
                    _ => (next() as u8).into(),
                })
                .collect();
            if matches!(kind, PixelKind::GreyF32 | PixelKind::GreyF64) {
                for (i, s) in specials {
                    values[i % n] = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.25][s];
                }
            }
            let data: Vec<u8> = values
                .iter()
                .flat_map(|&v| match kind {
                    PixelKind::Grey16 => (v as u16).to_le_bytes().to_vec(),
                    PixelKind::GreyF32 => (v as f32).to_le_bytes().to_vec(),
                    PixelKind::GreyF64 => v.to_le_bytes().to_vec(),
                    _ => vec![v as u8],
                })
                .collect();
            let b = blob(&shape, class, &data);
            let stored = if seed % 2 == 0 { crate::codec::compress_blob(b) } else { b };
            let d = decode(&render(&stored).expect("qualifies"));
            prop_assert_eq!((d.width, d.height), (w as u32, h as u32));
            // The reference: min/max over finite values, the documented formula.
            let finite = values.iter().copied().filter(|v| v.is_finite());
            let lo = finite.clone().fold(f64::INFINITY, f64::min);
            let hi = finite.fold(f64::NEG_INFINITY, f64::max);
            let (h, w) = (h as usize, w as usize);
            for y in 0..h {
                for x in 0..w {
                    for c in 0..ch {
                        let v = values[y + x * h + c * h * w];
                        let at = (y * w + x) * ch + c;
                        match kind {
                            PixelKind::Grey16 => {
                                let p = u16::from_be_bytes([d.pixels[2 * at], d.pixels[2 * at + 1]]);
                                prop_assert_eq!(f64::from(p), v);
                            }
                            PixelKind::GreyF32 | PixelKind::GreyF64 => {
                                let want = if v.is_nan() || v == f64::NEG_INFINITY {
                                    0.0
                                } else if v == f64::INFINITY {
                                    255.0
                                } else if hi == lo {
                                    0.0
                                } else {
                                    ((v - lo) / (hi - lo) * 255.0 + 0.5).floor()
                                };
                                prop_assert_eq!(f64::from(d.pixels[at]), want, "({}, {}) = {}", x, y, v);
                            }
                            _ => prop_assert_eq!(f64::from(d.pixels[at]), v),
                        }
                    }
                }
            }
        }

        /// Scaling: min → 0, max → 255, order kept, everything in range.
        #[test]
        fn scaling_is_monotone(values in proptest::collection::vec(-1e6f64..1e6, 1..200)) {
            let px = scale_floats(values.iter().copied());
            let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            for (i, &v) in values.iter().enumerate() {
                if hi > lo && v == lo { prop_assert_eq!(px[i], 0); }
                if hi > lo && v == hi { prop_assert_eq!(px[i], 255); }
                for (j, &u) in values.iter().enumerate() {
                    if v <= u { prop_assert!(px[i] <= px[j]); }
                }
            }
        }
    }
}
