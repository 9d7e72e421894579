//! Where an open file's bytes come from: memory (values fetched from MySQL), a local file (the
//! DataJoint cache), or a store object read with ranged requests and prefetching; plus the
//! streaming inflater for compressed (`ZL123`) blobs and the virtual `.npy` file on top of them.
//! Memory stays bounded by the prefetch window and the inflater's history, whatever the size.

use std::fs::File;
use std::io;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use flate2::{Decompress, FlushDecompress, Status};

use crate::codec::NpyView;
use crate::stores::{Ahead, ObjectLoc, Stores};

/// Random-access bytes of known length.
pub trait ByteSource: Send + Sync {
    fn len(&self) -> u64;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Bytes `[offset, offset + len)`, fewer only at the end.
    fn read_at(&self, offset: u64, len: usize) -> io::Result<Vec<u8>>;
}

fn clamp(offset: u64, len: usize, total: u64) -> Range<u64> {
    let start = offset.min(total);
    start..start.saturating_add(len as u64).min(total)
}

pub struct MemorySource {
    data: Arc<[u8]>,
    start: usize,
}

impl MemorySource {
    /// The bytes `data[start..]`.
    pub fn new(data: Arc<[u8]>, start: usize) -> MemorySource {
        MemorySource { data, start }
    }
    pub fn bytes(&self) -> &[u8] {
        &self.data[self.start..]
    }
}

impl ByteSource for MemorySource {
    fn len(&self) -> u64 {
        (self.data.len() - self.start) as u64
    }
    fn read_at(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let r = clamp(offset, len, self.len());
        Ok(self.bytes()[r.start as usize..r.end as usize].to_vec())
    }
}

pub struct FileSource {
    file: File,
    len: u64,
}

impl FileSource {
    pub fn open(path: &std::path::Path) -> io::Result<FileSource> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        Ok(FileSource { file, len })
    }
}

impl ByteSource for FileSource {
    fn len(&self) -> u64 {
        self.len
    }
    fn read_at(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let r = clamp(offset, len, self.len);
        let mut buf = vec![0; (r.end - r.start) as usize];
        let mut done = 0;
        while done < buf.len() {
            let n = self.file.read_at(&mut buf[done..], r.start + done as u64)?;
            if n == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank"));
            }
            done += n;
        }
        Ok(buf)
    }
}

/// Prefetch window sizes for store objects: sequential reads double the window up to the max.
const WINDOW_MIN: u64 = 1 << 20;
const WINDOW_MAX: u64 = 64 << 20;
/// Windows are fetched as parallel ranged requests of this size.
const PART: u64 = 8 << 20;

/// A store object read with ranged requests, keeping one window of it in memory and, while
/// reads go on sequentially, fetching the next window in the background.
pub struct ObjectSource {
    stores: Arc<Stores>,
    loc: ObjectLoc,
    len: u64,
    window: Mutex<Window>,
}

#[derive(Default)]
struct Window {
    start: u64,
    data: Bytes,
    next_size: u64,
    ahead: Option<(Ahead, u64)>,
}

impl ObjectSource {
    pub fn new(stores: Arc<Stores>, loc: ObjectLoc, len: u64) -> ObjectSource {
        ObjectSource {
            stores,
            loc,
            len,
            window: Mutex::new(Window {
                next_size: WINDOW_MIN,
                ..Default::default()
            }),
        }
    }

    fn fetch(&self, range: Range<u64>) -> io::Result<Bytes> {
        let ahead = self
            .stores
            .fetch_ahead(&self.loc, range, PART)
            .map_err(|e| io::Error::other(format!("{e:#}")))?;
        self.stores
            .wait(ahead)
            .map_err(|e| io::Error::other(format!("{e:#}")))
    }
}

impl Drop for ObjectSource {
    fn drop(&mut self) {
        if let Some((ahead, _)) = self.window.lock().unwrap().ahead.take() {
            ahead.abort();
        }
    }
}

impl ByteSource for ObjectSource {
    fn len(&self) -> u64 {
        self.len
    }
    fn read_at(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let want = clamp(offset, len, self.len);
        if want.is_empty() {
            return Ok(Vec::new());
        }
        let mut w = self.window.lock().unwrap();
        let have = w.start..w.start + w.data.len() as u64;
        let inside = have.start <= want.start && want.end <= have.end;
        if !inside {
            // The prefetched window, if the read continues into it.
            let next = match w.ahead.take() {
                Some((ahead, end)) if (ahead.start..end).contains(&want.start) => Some(ahead),
                Some((ahead, _)) => {
                    ahead.abort();
                    None
                }
                None => None,
            };
            let sequential = next.is_some() || have.contains(&want.start) || want.start == have.end;
            let (start, data) = match next {
                Some(ahead) => {
                    let start = ahead.start;
                    (
                        start,
                        self.stores
                            .wait(ahead)
                            .map_err(|e| io::Error::other(format!("{e:#}")))?,
                    )
                }
                None => {
                    let size = if sequential { w.next_size } else { WINDOW_MIN };
                    let fetch =
                        want.start..(want.start + size.max(want.end - want.start)).min(self.len);
                    (fetch.start, self.fetch(fetch)?)
                }
            };
            // Sequential runs grow the window quickly (×4): more parallel parts per request.
            w.next_size = if sequential {
                (w.next_size * 4).min(WINDOW_MAX)
            } else {
                WINDOW_MIN
            };
            w.start = start;
            w.data = data;
        }
        let have = w.start..w.start + w.data.len() as u64;
        if !(have.start <= want.start && want.end <= have.end) {
            // A read larger than the window, or the object is shorter than tracked.
            let data = self.fetch(want.clone())?;
            if (data.len() as u64) < want.end - want.start {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("{} is shorter than its tracked size", self.loc.display),
                ));
            }
            return Ok(data.to_vec());
        }
        // On a sequential run (the window has grown), fetch the next window meanwhile.
        if w.ahead.is_none() && have.end < self.len && w.next_size > WINDOW_MIN {
            let next = have.end..(have.end + w.next_size).min(self.len);
            if let Ok(ahead) = self.stores.fetch_ahead(&self.loc, next.clone(), PART) {
                w.ahead = Some((ahead, next.end));
            }
        }
        let from = (want.start - have.start) as usize;
        Ok(w.data[from..from + (want.end - want.start) as usize].to_vec())
    }
}

/// The plain bytes of a `ZL123` blob, inflated as they are read. Reads that go back further than
/// the kept history restart from the beginning; sequential and slightly out-of-order reads (the
/// kernel's parallel readahead) are served without that.
pub struct InflatingSource {
    stored: Arc<dyn ByteSource>,
    plain_len: u64,
    state: Mutex<Inflater>,
}

/// Plain bytes kept behind the inflater's position.
const HISTORY: usize = 16 << 20;
/// Offset of the zlib stream in a `ZL123` blob: the magic and the u64 plain length.
const ZLIB_START: u64 = 14;

struct Inflater {
    z: Decompress,
    stored_pos: u64,
    /// Plain bytes produced so far.
    out_pos: u64,
    /// The last plain bytes produced, ending at `out_pos`.
    history: Vec<u8>,
    input: Vec<u8>,
    input_pos: usize,
}

impl Inflater {
    fn new() -> Inflater {
        Inflater {
            z: Decompress::new(true),
            stored_pos: ZLIB_START,
            out_pos: 0,
            history: Vec::new(),
            input: Vec::new(),
            input_pos: 0,
        }
    }
}

impl InflatingSource {
    pub fn new(stored: Arc<dyn ByteSource>, plain_len: u64) -> InflatingSource {
        InflatingSource {
            stored,
            plain_len,
            state: Mutex::new(Inflater::new()),
        }
    }
}

impl ByteSource for InflatingSource {
    fn len(&self) -> u64 {
        self.plain_len
    }
    fn read_at(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let want = clamp(offset, len, self.plain_len);
        let mut st = self.state.lock().unwrap();
        let history_start = st.out_pos - st.history.len() as u64;
        if want.start < history_start {
            *st = Inflater::new();
        }
        let mut out = Vec::with_capacity((want.end - want.start) as usize);
        let mut chunk = vec![0u8; 256 << 10];
        loop {
            // Serve what the history already holds.
            let hist_start = st.out_pos - st.history.len() as u64;
            let pos = want.start + out.len() as u64;
            if pos >= want.end {
                return Ok(out);
            }
            if pos >= hist_start && pos < st.out_pos {
                let from = (pos - hist_start) as usize;
                let to = ((want.end.min(st.out_pos)) - hist_start) as usize;
                out.extend_from_slice(&st.history[from..to]);
                continue;
            }
            if st.out_pos >= self.plain_len {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "compressed blob ends before its declared size",
                ));
            }
            // Inflate more.
            if st.input_pos >= st.input.len() {
                let next = self.stored.read_at(st.stored_pos, 1 << 20)?;
                if next.is_empty() {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "compressed blob is truncated",
                    ));
                }
                st.stored_pos += next.len() as u64;
                st.input = next;
                st.input_pos = 0;
            }
            let st = &mut *st;
            let before_in = st.z.total_in();
            let before_out = st.z.total_out();
            let status =
                st.z.decompress(&st.input[st.input_pos..], &mut chunk, FlushDecompress::None)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
            st.input_pos += (st.z.total_in() - before_in) as usize;
            let produced = (st.z.total_out() - before_out) as usize;
            st.history.extend_from_slice(&chunk[..produced]);
            st.out_pos += produced as u64;
            if st.history.len() > 2 * HISTORY {
                let drop = st.history.len() - HISTORY;
                st.history.drain(..drop);
            }
            if status == Status::StreamEnd && st.out_pos < self.plain_len {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "compressed blob is shorter than its declared size",
                ));
            }
        }
    }
}

/// A virtual `.npy` file: the generated header, then the array data from the plain blob.
pub struct NpyFile {
    view: NpyView,
    plain: Plain,
}

enum Plain {
    /// Real arrays: data served straight from the (maybe streaming) plain blob.
    Source(Arc<dyn ByteSource>),
    /// Complex arrays interleave the blob's two planes and compact dj0 scalars are converted,
    /// so those read the plain blob into memory once (small for scalars).
    Memory(Arc<[u8]>),
}

impl NpyFile {
    pub fn new(view: NpyView, plain: Arc<dyn ByteSource>) -> io::Result<NpyFile> {
        let array = view.array();
        let plain = if array.complex || array.inline.is_some() {
            Plain::Memory(plain.read_at(0, plain.len() as usize)?.into())
        } else {
            Plain::Source(plain)
        };
        Ok(NpyFile { view, plain })
    }

    pub fn size(&self) -> u64 {
        self.view.size()
    }

    pub fn read(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let source = match &self.plain {
            Plain::Memory(plain) => return Ok(self.view.read(plain, offset, len)),
            Plain::Source(source) => source,
        };
        let want = clamp(offset, len, self.view.size());
        let header = self.view.header();
        let hlen = header.len() as u64;
        let mut out = Vec::with_capacity((want.end - want.start) as usize);
        if want.start < hlen {
            out.extend_from_slice(&header[want.start as usize..want.end.min(hlen) as usize]);
        }
        if want.end > hlen {
            let data_from = want.start.max(hlen) - hlen;
            let n = (want.end - hlen - data_from) as usize;
            let data_offset = self.view.array().data_offset as u64;
            let data = source.read_at(data_offset + data_from, n)?;
            if data.len() != n {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "blob data shorter than its header says",
                ));
            }
            out.extend_from_slice(&data);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn compressed(plain: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(6));
        e.write_all(plain).unwrap();
        let mut blob = b"ZL123\0".to_vec();
        blob.extend((plain.len() as u64).to_le_bytes());
        blob.extend(e.finish().unwrap());
        blob
    }

    #[test]
    fn inflating_source_serves_any_order() {
        let plain: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let stored: Arc<dyn ByteSource> = Arc::new(MemorySource::new(compressed(&plain).into(), 0));
        let src = InflatingSource::new(stored, plain.len() as u64);
        for (off, len) in [
            (0u64, 10usize),
            (100_000, 70_000),
            (50, 20),
            (2_999_990, 100),
            (1_000_000, 1_500_000),
            (0, 3_000_000),
        ] {
            let got = src.read_at(off, len).unwrap();
            let end = (off as usize + len).min(plain.len());
            assert_eq!(got, plain[off as usize..end], "{off}+{len}");
        }
    }

    #[test]
    fn truncated_compressed_blob_is_an_error() {
        let plain: Vec<u8> = (0..100_000u32).map(|i| (i * 31 % 253) as u8).collect();
        let mut blob = compressed(&plain);
        blob.truncate(blob.len() / 2);
        let stored: Arc<dyn ByteSource> = Arc::new(MemorySource::new(blob.into(), 0));
        let src = InflatingSource::new(stored, plain.len() as u64);
        assert!(src.read_at(0, 100_000).is_err());
    }
}
