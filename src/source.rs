//! Where an open file's bytes come from: memory (values fetched from MySQL), a local file (the
//! DataJoint cache), or a store object read with ranged requests and prefetching; plus the
//! streaming inflater for compressed (`ZL123`) blobs and the virtual `.npy` file on top of them.
//! Memory stays bounded by the prefetch window and the inflater's history, whatever the size.

use std::fs::File;
use std::io;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Condvar, Mutex};

use bytes::Bytes;

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
    /// The local file holding exactly these bytes, if there is one (the kernel may then read it
    /// directly: FUSE passthrough).
    fn backing_file(&self) -> Option<&File> {
        None
    }
}

fn clamp(offset: u64, len: usize, total: u64) -> Range<u64> {
    let start = offset.min(total);
    start..start.saturating_add(len as u64).min(total)
}

pub struct MemorySource {
    data: Bytes,
}

impl MemorySource {
    /// The bytes `data[start..]`.
    pub fn new(data: Arc<[u8]>, start: usize) -> MemorySource {
        MemorySource {
            data: Bytes::from_owner(data).slice(start..),
        }
    }
    /// A value fetched whole (from MySQL), kept without copying it.
    pub fn from_vec(data: Vec<u8>) -> MemorySource {
        MemorySource { data: data.into() }
    }
    pub fn bytes(&self) -> &[u8] {
        &self.data
    }
}

impl ByteSource for MemorySource {
    fn len(&self) -> u64 {
        self.data.len() as u64
    }
    fn read_at(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let r = clamp(offset, len, self.len());
        Ok(self.data[r.start as usize..r.end as usize].to_vec())
    }
}

/// The bytes of another source from `start` on (a 2.x attachment object after its `name\0`).
pub struct SliceSource {
    inner: Arc<dyn ByteSource>,
    start: u64,
}

impl SliceSource {
    pub fn new(inner: Arc<dyn ByteSource>, start: u64) -> SliceSource {
        SliceSource { inner, start }
    }
}

impl ByteSource for SliceSource {
    fn len(&self) -> u64 {
        self.inner.len().saturating_sub(self.start)
    }
    fn read_at(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let r = clamp(offset, len, self.len());
        self.inner
            .read_at(self.start + r.start, (r.end - r.start) as usize)
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

    fn backing_file(&self) -> Option<&File> {
        Some(&self.file)
    }
}

/// A read that does not continue the previous ones fetches this much (the kernel's own readahead
/// grows a sequential run from there).
const FIRST_PIECE: u64 = 1 << 20;
/// A sequential run is fetched in pieces of this size, one ranged GET each...
const PIECE: u64 = 8 << 20;
/// ...with up to this many in flight ahead of the reader (doubling from one as the run goes on):
/// several GETs at once is what makes S3 fast; it also bounds the memory per open file.
const MAX_AHEAD: usize = 6;
/// Reads this far behind a run are stragglers of it, not a new start.
const KEEP_BEHIND: u64 = 4 * PIECE;

/// A store object read with ranged requests. A sequential reader gets a pipeline of pieces
/// fetched ahead in parallel; a reader that jumps gets just the piece it needs.
pub struct ObjectSource {
    stores: Arc<Stores>,
    loc: ObjectLoc,
    len: u64,
    pieces: Mutex<Pieces>,
}

/// Contiguous pieces of the object, in order: the one being read, maybe the one before it
/// (the kernel's parallel readahead arrives slightly out of order), and the ones fetched ahead.
#[derive(Default)]
struct Pieces {
    list: std::collections::VecDeque<Piece>,
    /// How many pieces to keep in flight beyond the one being read.
    ahead: usize,
    /// Start of the piece the previous read was in.
    reading: u64,
}

struct Piece {
    range: Range<u64>,
    state: PieceState,
}

enum PieceState {
    Fetching(Ahead),
    Ready(Bytes),
}

impl Pieces {
    fn end(&self) -> Option<u64> {
        self.list.back().map(|p| p.range.end)
    }
    fn clear(&mut self) {
        for piece in self.list.drain(..) {
            if let PieceState::Fetching(ahead) = piece.state {
                ahead.abort();
            }
        }
        self.ahead = 0;
        self.reading = u64::MAX;
    }
}

impl ObjectSource {
    pub fn new(stores: Arc<Stores>, loc: ObjectLoc, len: u64) -> ObjectSource {
        ObjectSource {
            stores,
            loc,
            len,
            pieces: Mutex::new(Pieces::default()),
        }
    }

    fn error(e: anyhow::Error) -> io::Error {
        io::Error::other(format!("{e:#}"))
    }

    /// Starts fetching the piece `range` and appends it to the list.
    fn request(&self, pieces: &mut Pieces, range: Range<u64>) -> io::Result<()> {
        let size = range.end - range.start;
        let ahead = self
            .stores
            .fetch_ahead(&self.loc, range.clone(), size, self.len)
            .map_err(Self::error)?;
        pieces.list.push_back(Piece {
            range,
            state: PieceState::Fetching(ahead),
        });
        Ok(())
    }

    /// The bytes of piece `i`, waiting for them if they are still on their way.
    fn piece_bytes(&self, pieces: &mut Pieces, i: usize) -> io::Result<Bytes> {
        let piece = &mut pieces.list[i];
        if let PieceState::Ready(bytes) = &piece.state {
            return Ok(bytes.clone());
        }
        let PieceState::Fetching(ahead) =
            std::mem::replace(&mut piece.state, PieceState::Ready(Bytes::new()))
        else {
            unreachable!()
        };
        match self.stores.wait(ahead) {
            Ok(bytes) if bytes.len() as u64 == piece.range.end - piece.range.start => {
                piece.state = PieceState::Ready(bytes.clone());
                Ok(bytes)
            }
            Ok(_) => {
                pieces.clear();
                Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("{} is shorter than its tracked size", self.loc.display),
                ))
            }
            Err(e) => {
                // Forget the pieces: the next read asks again (the store may be back by then).
                pieces.clear();
                Err(Self::error(e))
            }
        }
    }
}

impl Drop for ObjectSource {
    fn drop(&mut self) {
        self.pieces.lock().unwrap().clear();
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
        let mut pieces = self.pieces.lock().unwrap();
        let covered =
            pieces.list.front().map(|p| p.range.start).unwrap_or(0)..pieces.end().unwrap_or(0);
        // Reads that go on from the pieces, or jump a little ahead of them (the kernel's
        // readahead requests run in parallel and arrive out of order), continue the run.
        let sequential = !pieces.list.is_empty()
            && covered.start <= want.start
            && want.start <= covered.end + PIECE;
        let late = !pieces.list.is_empty()
            && want.start < covered.start
            && want.start + KEEP_BEHIND >= covered.start;
        if late {
            // A straggler behind the run (its piece was already dropped): fetched on its own,
            // leaving the run in flight.
            drop(pieces);
            let ahead = self
                .stores
                .fetch_ahead(&self.loc, want.clone(), want.end - want.start, self.len)
                .map_err(Self::error)?;
            return Ok(self.stores.wait(ahead).map_err(Self::error)?.to_vec());
        }
        if !sequential {
            pieces.clear();
            let first =
                want.start..(want.start + FIRST_PIECE.max(want.end - want.start)).min(self.len);
            self.request(&mut pieces, first)?;
        }
        // Keep the two pieces before the read's own for stragglers; drop what lies further back.
        while pieces.list.len() > 2 && pieces.list[2].range.end <= want.start {
            let _ = pieces.list.pop_front();
        }
        // Continue the run: the pieces the read needs, plus `ahead` more, doubling the number in
        // flight each time the reader enters a new piece.
        let at = |p: &Pieces, pos: u64| p.list.iter().position(|x| x.range.contains(&pos));
        while let Some(from) = pieces.end().filter(|&e| e < want.end) {
            self.request(&mut pieces, from..(from + PIECE).min(self.len))?;
        }
        let first = at(&pieces, want.start).expect("the pieces cover the read");
        let last_needed = at(&pieces, want.end - 1).expect("the pieces cover the read");
        if sequential {
            let piece_start = pieces.list[first].range.start;
            pieces.ahead = if piece_start != pieces.reading {
                (pieces.ahead * 2).clamp(1, MAX_AHEAD)
            } else {
                pieces.ahead.max(1)
            };
            pieces.reading = piece_start;
        } else {
            pieces.reading = want.start;
        }
        while pieces.list.len() - 1 - last_needed < pieces.ahead {
            let Some(from) = pieces.end().filter(|&e| e < self.len) else {
                break;
            };
            self.request(&mut pieces, from..(from + PIECE).min(self.len))?;
        }
        // Gather the bytes.
        let mut out = Vec::with_capacity((want.end - want.start) as usize);
        for i in first..=last_needed {
            let bytes = self.piece_bytes(&mut pieces, i)?;
            let range = pieces.list[i].range.clone();
            let from = (want.start.max(range.start) - range.start) as usize;
            let to = (want.end.min(range.end) - range.start) as usize;
            out.extend_from_slice(&bytes[from..to]);
        }
        Ok(out)
    }
}

/// The plain bytes of a `ZL123` blob, inflated as they are read. A worker thread inflates ahead
/// of a sequential reader (inflating is the slowest step, so it overlaps the kernel's copies and
/// the reader's own work); reads that go back further than the kept history restart from the
/// beginning, and slightly out-of-order reads (the kernel's parallel readahead) are served from it.
pub struct InflatingSource {
    shared: Arc<Inflation>,
}

/// Plain bytes kept behind the inflater's position.
const HISTORY: usize = 16 << 20;
/// How far the worker inflates beyond a sequential reader.
const INFLATE_AHEAD: u64 = 8 << 20;
/// Plain bytes the worker produces per step (between looks at the shared state).
const INFLATE_STEP: usize = 1 << 20;
/// Offset of the zlib stream in a `ZL123` blob: the magic and the u64 plain length.
const ZLIB_START: u64 = 14;

/// What the reader and the inflating worker share.
struct Inflation {
    stored: Arc<dyn ByteSource>,
    plain_len: u64,
    state: Mutex<Inflated>,
    changed: Condvar,
}

struct Inflated {
    /// The last plain bytes produced, ending at `out_pos`.
    history: Vec<u8>,
    out_pos: u64,
    /// How far readers want the worker to have inflated.
    target: u64,
    /// Bumped when a read goes back past the history: the worker starts over.
    generation: u64,
    /// The worker's last failure, handed to the next reader (who may retry).
    error: Option<io::Error>,
    /// End of the previous read, to recognise a sequential reader.
    last_end: u64,
    /// The stream ended where declared and its checksum matched.
    ended: bool,
    worker: bool,
    closed: bool,
}

impl Inflated {
    /// Whether the worker has something to do: bytes readers want, or (when they want the end)
    /// the stream's checksum, so that a damaged end is an error rather than unnoticed.
    fn needs_work(&self, plain_len: u64) -> bool {
        self.error.is_none()
            && (self.out_pos < self.target || (self.target >= plain_len && !self.ended))
    }
}

impl InflatingSource {
    pub fn new(stored: Arc<dyn ByteSource>, plain_len: u64) -> InflatingSource {
        InflatingSource {
            shared: Arc::new(Inflation {
                stored,
                plain_len,
                state: Mutex::new(Inflated {
                    history: Vec::new(),
                    out_pos: 0,
                    target: 0,
                    generation: 0,
                    error: None,
                    last_end: 0,
                    ended: false,
                    worker: false,
                    closed: false,
                }),
                changed: Condvar::new(),
            }),
        }
    }
}

impl Drop for InflatingSource {
    fn drop(&mut self) {
        self.shared.state.lock().unwrap().closed = true;
        self.shared.changed.notify_all();
    }
}

impl ByteSource for InflatingSource {
    fn len(&self) -> u64 {
        self.shared.plain_len
    }
    fn read_at(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let shared = &self.shared;
        let want = clamp(offset, len, shared.plain_len);
        let mut st = shared.state.lock().unwrap();
        if want.start < st.out_pos - st.history.len() as u64 {
            st.generation += 1;
            st.history.clear();
            st.out_pos = 0;
            st.target = 0;
            st.error = None;
            st.ended = false;
        }
        let ahead = if want.start > 0 && want.start == st.last_end {
            INFLATE_AHEAD
        } else {
            0
        };
        st.last_end = want.end;
        st.target = st.target.max((want.end + ahead).min(shared.plain_len));
        if !st.worker && st.needs_work(shared.plain_len) {
            st.worker = true;
            let worker = Arc::clone(shared);
            let generation = st.generation;
            std::thread::Builder::new()
                .name("djfs-inflate".into())
                .spawn(move || worker.run(generation))?;
        }
        shared.changed.notify_all();
        loop {
            if st.out_pos >= want.end && (want.end < shared.plain_len || st.ended) {
                let hist_start = st.out_pos - st.history.len() as u64;
                let from = (want.start - hist_start) as usize;
                let to = (want.end - hist_start) as usize;
                return Ok(st.history[from..to].to_vec());
            }
            if let Some(e) = st.error.take() {
                return Err(e);
            }
            st = shared.changed.wait(st).unwrap();
        }
    }
}

impl Inflation {
    /// The worker: inflates in steps up to the readers' target, until the source is dropped.
    fn run(&self, mut generation: u64) {
        let mut z = Inflater::new();
        let mut step = vec![0u8; INFLATE_STEP];
        loop {
            {
                let mut st = self.state.lock().unwrap();
                loop {
                    if st.closed {
                        st.worker = false;
                        return;
                    }
                    if st.generation != generation {
                        generation = st.generation;
                        z = Inflater::new();
                    }
                    if st.needs_work(self.plain_len) {
                        break;
                    }
                    st = self.changed.wait(st).unwrap();
                }
            }
            let produced = z.step(&*self.stored, self.plain_len, &mut step);
            let mut st = self.state.lock().unwrap();
            if st.generation != generation {
                continue;
            }
            match produced {
                Ok(n) => {
                    st.history.extend_from_slice(&step[..n]);
                    st.out_pos += n as u64;
                    st.ended = z.ended;
                    if st.history.len() > 2 * HISTORY {
                        let drop = st.history.len() - HISTORY;
                        st.history.drain(..drop);
                    }
                }
                Err(e) => st.error = Some(e),
            }
            drop(st);
            self.changed.notify_all();
        }
    }
}

/// The zlib stream's reading position (zlib-rs: faster inflating than zlib, same bytes out).
struct Inflater {
    z: zlib_rs::Inflate,
    stored_pos: u64,
    out_pos: u64,
    input: Vec<u8>,
    input_pos: usize,
    /// The stream's end (and checksum) has been read.
    ended: bool,
}

impl Inflater {
    fn new() -> Inflater {
        Inflater {
            z: zlib_rs::Inflate::new(true, 15),
            stored_pos: ZLIB_START,
            out_pos: 0,
            input: Vec::new(),
            input_pos: 0,
            ended: false,
        }
    }

    /// Inflates up to `out.len()` more bytes into `out` (how many), never beyond the declared
    /// `plain_len`; once there, reads on to the stream's end and checksum. An error leaves the
    /// position where it was, so a later step retries (a store that was briefly unreachable).
    fn step(
        &mut self,
        stored: &dyn ByteSource,
        plain_len: u64,
        out: &mut [u8],
    ) -> io::Result<usize> {
        let bad = |why: &str| io::Error::new(io::ErrorKind::InvalidData, why.to_string());
        let mut produced = 0;
        let mut beyond = [0u8; 64];
        while !self.ended && (produced < out.len() || self.out_pos >= plain_len) {
            if self.input_pos >= self.input.len() {
                // Bytes produced in this step are handed out before any failure is reported.
                let next = match stored.read_at(self.stored_pos, 1 << 20) {
                    Ok(next) if !next.is_empty() => next,
                    _ if produced > 0 => break,
                    Ok(_) => return Err(bad("compressed blob is truncated")),
                    Err(e) => return Err(e),
                };
                self.stored_pos += next.len() as u64;
                self.input = next;
                self.input_pos = 0;
            }
            let at_end = self.out_pos >= plain_len;
            let room: &mut [u8] = if at_end {
                &mut beyond
            } else {
                let left = (plain_len - self.out_pos).min((out.len() - produced) as u64);
                &mut out[produced..produced + left as usize]
            };
            let (before_in, before_out) = (self.z.total_in(), self.z.total_out());
            let status = self
                .z
                .decompress(
                    &self.input[self.input_pos..],
                    room,
                    zlib_rs::InflateFlush::NoFlush,
                )
                .map_err(|e| bad(&format!("bad zlib stream: {}", e.as_str())))?;
            self.input_pos += (self.z.total_in() - before_in) as usize;
            let n = (self.z.total_out() - before_out) as usize;
            if at_end && n > 0 {
                return Err(bad("compressed blob is longer than its declared size"));
            }
            produced += n;
            self.out_pos += n as u64;
            if status == zlib_rs::Status::StreamEnd {
                if self.out_pos < plain_len {
                    return Err(bad("compressed blob is shorter than its declared size"));
                }
                self.ended = true;
            }
        }
        Ok(produced)
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

    /// An object in a folder store, read through the same ranged requests S3 gets.
    fn object_in_a_folder_store(
        len: usize,
    ) -> (tempfile::TempDir, Arc<Stores>, ObjectLoc, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..len)
            .map(|i| (i % 251) as u8 ^ (i >> 16) as u8)
            .collect();
        let kind = crate::stores::paths::TrackedKind::Blob;
        let hash = [7u8; 16];
        let stores: std::collections::BTreeMap<String, serde_json::Value> = [(
            "s".to_string(),
            serde_json::json!({"protocol": "file", "location": dir.path()}),
        )]
        .into();
        let stores = Arc::new(Stores::new(&stores, None).unwrap());
        let loc = stores.locate("s", "schema", &hash, &kind).unwrap();
        let path = stores.local_path(&loc).unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &data).unwrap();
        (dir, stores, loc, data)
    }

    #[test]
    fn object_source_pipelines_sequential_reads_and_fetches_little_for_a_jump() {
        let len = 40 << 20;
        let (_dir, stores, loc, data) = object_in_a_folder_store(len);
        let src = ObjectSource::new(stores.clone(), loc.clone(), len as u64);
        // A jump into the middle fetches one small piece.
        let got = src.read_at(20 << 20, 65536).unwrap();
        assert!(got == data[20 << 20..(20 << 20) + 65536]);
        assert_eq!(stores.bytes_fetched(), FIRST_PIECE);
        // A sequential run, with reads arriving slightly out of order, reads every byte once
        // (plus the pieces fetched ahead at most).
        let src = ObjectSource::new(stores.clone(), loc.clone(), len as u64);
        let before = stores.bytes_fetched();
        let step = 1 << 20;
        let mut offsets: Vec<usize> = (0..len).step_by(step).collect();
        for pair in offsets.chunks_mut(2) {
            pair.reverse();
        }
        offsets.swap(0, 1); // the run starts at 0
        for off in offsets {
            let got = src.read_at(off as u64, step).unwrap();
            assert!(got == data[off..off + step], "bytes at {off}");
        }
        let fetched = stores.bytes_fetched() - before;
        assert!(
            fetched <= len as u64 + FIRST_PIECE,
            "fetched {fetched} of {len}"
        );
        // A straggler well behind the run is fetched on its own; the run goes on undisturbed.
        let src = ObjectSource::new(stores.clone(), loc.clone(), len as u64);
        for off in (0..30 << 20).step_by(step) {
            src.read_at(off as u64, step).unwrap();
        }
        let (before, requests) = (stores.bytes_fetched(), stores.requests());
        let got = src.read_at(3 << 20, 4096).unwrap();
        assert!(got == data[3 << 20..(3 << 20) + 4096]);
        assert_eq!(stores.bytes_fetched() - before, 4096);
        assert_eq!(stores.requests(), requests + 1);
        let got = src.read_at(30 << 20, step).unwrap();
        assert!(got == data[30 << 20..(30 << 20) + step]);
        // Reading past the end gives what there is.
        assert_eq!(src.read_at(len as u64 - 10, 100).unwrap(), data[len - 10..]);
    }

    /// A store that fails one read (an outage), then works again.
    struct FlakyOnce {
        inner: MemorySource,
        fail_at: u64,
        failed: Mutex<bool>,
    }

    impl ByteSource for FlakyOnce {
        fn len(&self) -> u64 {
            self.inner.len()
        }
        fn read_at(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
            let mut failed = self.failed.lock().unwrap();
            if offset >= self.fail_at && !*failed {
                *failed = true;
                return Err(io::Error::other("store unreachable"));
            }
            self.inner.read_at(offset, len)
        }
    }

    #[test]
    fn inflating_source_recovers_after_a_store_failure() {
        // Barely compressible bytes, so the stored blob is read in several pieces.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let plain: Vec<u8> = (0..6_000_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let blob = compressed(&plain);
        let flaky = Arc::new(FlakyOnce {
            fail_at: blob.len() as u64 / 2,
            inner: MemorySource::new(blob.into(), 0),
            failed: Mutex::new(false),
        });
        let stored: Arc<dyn ByteSource> = flaky.clone();
        let src = InflatingSource::new(stored, plain.len() as u64);
        let mut got = Vec::new();
        let mut errors = 0;
        while got.len() < plain.len() {
            match src.read_at(got.len() as u64, 128 << 10) {
                Ok(part) => got.extend(part),
                Err(e) => {
                    assert_eq!(e.to_string(), "store unreachable");
                    errors += 1;
                }
            }
        }
        // The failure reached a reader, or a retry within the same step absorbed it.
        assert!(*flaky.failed.lock().unwrap());
        assert!(errors <= 1);
        assert!(got == plain, "bytes after the failure differ");
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

    #[test]
    fn a_damaged_end_is_an_error_when_the_end_is_read() {
        let plain: Vec<u8> = (0..100_000u32).map(|i| (i % 7) as u8).collect();
        let source = |blob: Vec<u8>, declared: usize| {
            let stored: Arc<dyn ByteSource> = Arc::new(MemorySource::from_vec(blob));
            InflatingSource::new(stored, declared as u64)
        };
        // The checksum cut off (what the corrupt-blob test does): the start still reads, the
        // end does not.
        let mut cut = compressed(&plain);
        cut.truncate(cut.len() - 5);
        let src = source(cut, plain.len());
        assert_eq!(src.read_at(0, 1000).unwrap(), plain[..1000]);
        let err = src.read_at(99_000, 1000).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
        // A wrong checksum.
        let mut bad_sum = compressed(&plain);
        let last = bad_sum.len() - 1;
        bad_sum[last] ^= 1;
        assert!(source(bad_sum, plain.len())
            .read_at(0, plain.len())
            .is_err());
        // More plain bytes than declared, and fewer.
        assert!(source(compressed(&plain), plain.len() - 1)
            .read_at(0, plain.len())
            .is_err());
        assert!(source(compressed(&plain), plain.len() + 1)
            .read_at(0, plain.len() + 1)
            .is_err());
        // Intact, and empty.
        let whole = source(compressed(&plain), plain.len());
        assert_eq!(whole.read_at(0, plain.len()).unwrap(), plain);
        assert_eq!(source(compressed(&[]), 0).read_at(0, 10).unwrap(), b"");
    }
}
