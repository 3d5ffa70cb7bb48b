//! Shared pieces of the fuzz targets: the allocation limit, a scratch file for the path-based
//! readers, and a structure-aware mutator that keeps archives and model files past their checksums.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use baler_codec::Dataset;
use baler_codec::bytes::put_varint;

// ---------------------------------------------------------------------------------------------
// Allocation limit: invariant 5 says no input may make us allocate what it cannot justify. Every
// target links this crate, so every target runs under this allocator.

const MAX_ONE: usize = 1 << 30;
const MAX_LIVE: usize = 2 << 30;
static LIVE: AtomicUsize = AtomicUsize::new(0);

pub struct Limited;

#[global_allocator]
static ALLOC: Limited = Limited;

/// Prints without allocating (we may be inside the allocator), then aborts so libFuzzer saves
/// the input as a crash.
fn die(what: &str, bytes: usize) -> ! {
    use std::io::Write;
    let mut buf = [0u8; 160];
    let mut w = &mut buf[..];
    let _ = write!(w, "baler-fuzz: {what} of {bytes} bytes (limits: 1 GiB each, 2 GiB live)\n");
    let n = 160 - w.len();
    let _ = std::io::stderr().write_all(&buf[..n]);
    std::process::abort()
}

fn grow(by: usize) {
    if by > MAX_ONE {
        die("single allocation", by);
    }
    let live = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    if live > MAX_LIVE {
        die("live heap", live);
    }
}

unsafe impl GlobalAlloc for Limited {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        grow(l.size());
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        grow(l.size());
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        grow(new);
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        unsafe { System.realloc(p, l, new) }
    }
}

// ---------------------------------------------------------------------------------------------
// Readers take paths: the input goes to a per-process file on tmpfs, under the right extension.

/// Writes `data` to this process's scratch file `input.<ext>` and returns its path. The folder is
/// `$BALER_FUZZ_SCRATCH` (scripts/fuzz.sh makes one on tmpfs and removes it), else /dev/shm.
pub fn scratch_file(data: &[u8], ext: &str) -> PathBuf {
    let root = match std::env::var_os("BALER_FUZZ_SCRATCH") {
        Some(d) => PathBuf::from(d),
        None if std::path::Path::new("/dev/shm").is_dir() => "/dev/shm".into(),
        None => std::env::temp_dir(),
    };
    let dir = root.join(format!("baler-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    let path = dir.join(format!("input.{ext}"));
    std::fs::write(&path, data).expect("scratch file");
    path
}

/// `BALER_FUZZ_VERBOSE=1`: targets say what each input did (run a target on a corpus folder with
/// `-runs=0` to see what the seeds or a grown corpus reach).
pub fn verbose() -> bool {
    static V: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *V.get_or_init(|| std::env::var_os("BALER_FUZZ_VERBOSE").is_some_and(|v| v == "1"))
}

/// What a reader must never return: a dataset whose parts disagree on its size.
pub fn check_dataset(ds: &Dataset) {
    match ds {
        Dataset::Field(a) => {
            let n = a.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
            assert_eq!(n, Some(a.values.len()), "field shape {:?} vs {} values", a.shape, a.values.len());
        }
        Dataset::Table { rows, columns } => {
            for c in columns {
                assert_eq!(c.values.len(), *rows, "column '{}' length vs {rows} rows", c.name);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Containers (see codec/src/format/container.rs): magic(8) u16 version u16 flags, then sections of
// u8 kind, 3 zero bytes, u64 payload_len, u32 crc32(first 12 header bytes ++ payload), payload;
// the last is End (255). Mutations that land anywhere but the CRC fail at the CRC: the mutator
// below mutates one section's payload and rebuilds the container around it.

const HEADER: usize = 12;
const SECTION: usize = 16;
const END: u8 = 255;
const METADATA: u8 = 1;
const MODEL: u8 = 2;
const CHUNK_INDEX: u8 = 4;
const CHUNK: u8 = 5;

pub struct Container {
    pub header: [u8; HEADER],
    /// (kind, payload), End excluded.
    pub sections: Vec<(u8, Vec<u8>)>,
}

impl Container {
    /// Splits a container leniently (checksums ignored); None if no section header fits.
    pub fn split(bytes: &[u8]) -> Option<Self> {
        let header = bytes.get(..HEADER)?.try_into().ok()?;
        let (mut sections, mut pos) = (Vec::new(), HEADER);
        while let Some(h) = bytes.get(pos..pos + SECTION) {
            let len = u64::from_le_bytes(h[4..12].try_into().unwrap());
            let start = pos + SECTION;
            let end = start.checked_add(usize::try_from(len).ok()?).filter(|&e| e <= bytes.len())?;
            if h[0] == END {
                break;
            }
            sections.push((h[0], bytes[start..end].to_vec()));
            pos = end;
        }
        (!sections.is_empty()).then_some(Self { header, sections })
    }

    /// Offset of each section's header once joined.
    fn offsets(&self) -> Vec<u64> {
        let mut at = HEADER as u64;
        self.sections
            .iter()
            .map(|(_, p)| {
                let o = at;
                at += (SECTION + p.len()) as u64;
                o
            })
            .collect()
    }

    /// The container with right lengths and checksums, End appended.
    pub fn join(&self) -> Vec<u8> {
        let mut out = self.header.to_vec();
        for (kind, payload) in self.sections.iter().map(|(k, p)| (*k, p.as_slice())).chain([(END, &[][..])]) {
            let start = out.len();
            out.extend_from_slice(&[kind, 0, 0, 0]);
            out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
            let crc = crc(&out[start..start + 12], payload);
            out.extend_from_slice(&crc.to_le_bytes());
            out.extend_from_slice(payload);
        }
        out
    }
}

fn crc(header: &[u8], payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(header);
    h.update(payload);
    h.finalize()
}

/// Recomputes, in place, the checksum of every section whose length fits (after a plain mutation).
pub fn fix_crcs(bytes: &mut [u8]) {
    let mut pos = HEADER;
    while pos + SECTION <= bytes.len() {
        let len = u64::from_le_bytes(bytes[pos + 4..pos + 12].try_into().unwrap());
        let Some(end) = usize::try_from(len).ok().and_then(|l| (pos + SECTION).checked_add(l)) else {
            return;
        };
        if end > bytes.len() {
            return;
        }
        let c = crc(&bytes[pos..pos + 12], &bytes[pos + SECTION..end]);
        bytes[pos + 12..pos + SECTION].copy_from_slice(&c.to_le_bytes());
        pos = end;
    }
}

fn varint(b: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let x = *b.get(*pos)?;
        *pos += 1;
        v |= ((x & 0x7f) as u64) << shift;
        if x & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// Makes a mutated archive consistent again where that is cheap: the embedded model's hash in the
/// metadata, the chunk offsets in the index and, when every chunk still decodes, the content hash.
/// What remains wrong is what the mutation meant to test.
pub fn fix_archive(c: &mut Container) {
    let meta_at = c.sections.iter().position(|s| s.0 == METADATA);
    let model = c.sections.iter().find(|s| s.0 == MODEL).map(|s| baler_codec::model_hash(&s.1));
    if let (Some(m), Some(hash)) = (meta_at, model)
        && let Ok(mut meta) = postcard::from_bytes::<baler_codec::Metadata>(&c.sections[m].1)
        && let baler_codec::ModelUse::Embedded { hash: h } = &mut meta.model
    {
        *h = hash;
        c.sections[m].1 = postcard::to_allocvec(&meta).expect("metadata serializes");
    }
    fix_index(c);
    // The decode below is what the target runs next: a panic here is caught (the target then
    // finds it on the same bytes, with its hash unfixed); big lattices are left alone.
    let bytes = c.join();
    let Some(meta) = quietly(|| {
        let a = baler_codec::Archive::open(&bytes, None).ok()?;
        if a.lattice().iter().product::<usize>() > 1 << 22 {
            return None;
        }
        let chunks = (0..a.chunk_count()).map(|i| a.decode_chunk(i)).collect::<Result<_, _>>().ok()?;
        let ds = a.assemble_unchecked(chunks).ok()?;
        let mut meta = a.meta.clone();
        meta.content_hash = baler_codec::hash::archive_content_hash(a.hash_kind, &a.meta, &ds);
        Some(meta)
    })
    .flatten() else {
        return;
    };
    if let Some(m) = meta_at {
        c.sections[m].1 = postcard::to_allocvec(&meta).expect("metadata serializes");
        fix_index(c);
    }
}

thread_local! {
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f`, a panic becoming None. libFuzzer's hook aborts on any panic: ours passes panics on
/// to it except while `f` runs.
fn quietly<T>(f: impl FnOnce() -> T) -> Option<T> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(|q| q.get()) {
                previous(info)
            }
        }));
    });
    QUIET.with(|q| q.set(true));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).ok();
    QUIET.with(|q| q.set(false));
    r
}

/// Rewrites the chunk index's offsets to where the chunk sections are (its length may change with
/// them, hence the loop).
fn fix_index(c: &mut Container) {
    let Some(ix) = c.sections.iter().position(|s| s.0 == CHUNK_INDEX) else { return };
    let old = c.sections[ix].1.clone();
    let mut pos = 0;
    let Some(n) = varint(&old, &mut pos) else { return };
    let mut rest = Vec::new();
    for _ in 0..n.min(1 << 16) {
        let (Some(_), Some(start), Some(rows)) =
            (varint(&old, &mut pos), varint(&old, &mut pos), varint(&old, &mut pos))
        else {
            return;
        };
        rest.push((start, rows));
    }
    let tail = old[pos..].to_vec();
    for _ in 0..4 {
        let offsets = c.offsets();
        let mut chunk_offsets =
            c.sections.iter().zip(&offsets).filter(|(s, _)| s.0 == CHUNK).map(|(_, o)| *o);
        let mut out = Vec::new();
        put_varint(&mut out, n);
        for &(start, rows) in &rest {
            put_varint(&mut out, chunk_offsets.next().unwrap_or(0));
            put_varint(&mut out, start);
            put_varint(&mut out, rows);
        }
        out.extend_from_slice(&tail);
        if out == c.sections[ix].1 {
            return;
        }
        c.sections[ix].1 = out;
    }
}

/// A small deterministic generator for the mutator's choices (libFuzzer hands us a seed).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

/// libFuzzer custom mutator for archives (see [`mutate_container`]).
pub fn mutate_archive(data: &mut [u8], size: usize, max_size: usize, seed: u32) -> usize {
    mutate_container(data, size, max_size, seed, Some(fix_archive))
}

/// libFuzzer custom mutator for model files: nothing to fix beyond lengths and checksums.
pub fn mutate_model(data: &mut [u8], size: usize, max_size: usize, seed: u32) -> usize {
    mutate_container(data, size, max_size, seed, None)
}

/// Mostly: mutate one section's payload (any size change; a chunk's inflated bytes half the
/// time, so mutations reach past zstd), sometimes drop or duplicate a section, then rebuild with
/// right lengths and checksums and apply `fix` (3 times in 4). Otherwise a plain byte mutation,
/// checksums fixed half the time, so the container parser itself stays fuzzed.
fn mutate_container(
    data: &mut [u8],
    size: usize,
    max_size: usize,
    seed: u32,
    fix: Option<fn(&mut Container)>,
) -> usize {
    let mut rng = Rng(seed as u64 | 1 << 40);
    let split = if rng.below(8) == 0 { None } else { Container::split(&data[..size]) };
    if let Some(mut c) = split {
        let i = rng.below(c.sections.len());
        let room = max_size.saturating_sub(size);
        match rng.below(16) {
            0 => drop(c.sections.remove(i)),
            1 => c.sections.insert(i, c.sections[i].clone()),
            _ if c.sections[i].0 == CHUNK && fix.is_some() && rng.below(2) == 0 => {
                if let Some(p) = mutate_inflated(&c.sections[i].1, room) {
                    c.sections[i].1 = p;
                }
            }
            _ => mutate_bytes(&mut c.sections[i].1, room),
        }
        if let Some(fix) = fix
            && rng.below(4) != 0
            && !c.sections.is_empty()
        {
            fix(&mut c);
        }
        let out = c.join();
        if out.len() <= max_size {
            data[..out.len()].copy_from_slice(&out);
            return out.len();
        }
    }
    let n = libfuzzer_sys::fuzzer_mutate(data, size, max_size);
    if rng.below(2) == 0 {
        fix_crcs(&mut data[..n]);
    }
    n
}

/// libFuzzer's own mutation of `v`, which may grow by up to `room` bytes.
fn mutate_bytes(v: &mut Vec<u8>, room: usize) {
    let len = v.len();
    let cap = len + room.max(1);
    v.resize(cap, 0);
    let n = libfuzzer_sys::fuzzer_mutate(v, len, cap);
    v.truncate(n);
}

/// A chunk payload is varint start, varint rows, u8 predictor, varint inflated length, zstd
/// frame: inflate, mutate the inflated bytes, store them in a raw zstd frame, fix the length.
fn mutate_inflated(payload: &[u8], room: usize) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut pos = 0;
    varint(payload, &mut pos)?;
    varint(payload, &mut pos)?;
    pos += 1;
    let head = payload.get(..pos)?.to_vec();
    varint(payload, &mut pos)?;
    let mut raw = Vec::new();
    let frame = payload.get(pos..)?;
    ruzstd::decoding::StreamingDecoder::new(frame).ok()?.take(1 << 24).read_to_end(&mut raw).ok()?;
    mutate_bytes(&mut raw, room);
    let mut out = head;
    put_varint(&mut out, raw.len() as u64);
    out.extend(ruzstd::encoding::compress_to_vec(&raw[..], ruzstd::encoding::CompressionLevel::Uncompressed));
    Some(out)
}

/// Reads `data` as a file of format `ext`, as a field and as a table; what reads must survive
/// being written and read back (same values, same dtypes and shapes: invariant 4).
pub fn read_round_trip(data: &[u8], ext: &str) {
    let path = scratch_file(data, ext);
    for table in [false, true] {
        let opts = baler_io::ReadOptions { table };
        let whole = baler_io::read_dataset(&path, &opts);
        rows_agree_with(&path, &opts, whole.as_ref().ok());
        let Ok(ds) = whole else { continue };
        check_dataset(&ds);
        let again = path.with_extension(format!("again.{ext}"));
        baler_io::write_dataset(&again, &ds).expect("a dataset that was read can be written");
        let back = baler_io::read_dataset(&again, &opts).expect("what was written reads back");
        assert_eq!(baler_codec::hash::content_hash(&back), baler_codec::hash::content_hash(&ds));
        assert_eq!(describe(&back), describe(&ds), "shape or dtypes changed in a round trip");
    }
}

/// The reader by rows (streaming compression's) against the whole-file reader: where the file
/// opens by rows, all its rows are what the whole file holds, and a file the whole-file reader
/// refuses must not read by rows either (nothing it refuses may be compressed). CSVs and ROOT
/// trees are read by rows from any size here (`BALER_CSV_ROWS_FROM=0`, `BALER_ROOT_ROWS_FROM=0`).
pub fn rows_agree_with(path: &std::path::Path, opts: &baler_io::ReadOptions, whole: Option<&Dataset>) {
    rows_agree_with_spec(path.to_str().expect("a scratch path in UTF-8"), opts, whole)
}

/// [`rows_agree_with`] for an input `FILE[:INNER]`.
pub fn rows_agree_with_spec(spec: &str, opts: &baler_io::ReadOptions, whole: Option<&Dataset>) {
    static BY_ROWS: std::sync::Once = std::sync::Once::new();
    // SAFETY: set once, on the fuzzer's one thread, before any reader looks at it (rayon's
    // workers read no environment once started).
    BY_ROWS.call_once(|| unsafe {
        std::env::set_var("BALER_CSV_ROWS_FROM", "0");
        std::env::set_var("BALER_ROOT_ROWS_FROM", "0");
    });
    let Ok(Some(mut rows)) = baler_io::open_rows(spec, opts) else { return };
    let layout = rows.reader.layout().clone();
    let Ok(lattice) = layout.lattice() else { return };
    let read = rows.reader.read_rows(0, lattice[0]);
    let Some(ds) = whole else {
        assert!(read.is_err(), "read by rows what the whole-file reader refuses: {layout:?}");
        return;
    };
    assert_eq!(&layout, &ds.layout(), "the layout by rows is not the whole file's");
    let read = read.expect("a file the whole-file reader reads reads by rows");
    assert_eq!(baler_codec::hash::content_hash(&read), baler_codec::hash::content_hash(ds), "rows differ");
}

/// Shape, dtypes and column names: what the content hash does not cover.
fn describe(ds: &Dataset) -> String {
    match ds {
        Dataset::Field(a) => format!("field {:?} {:?}", a.dtype, a.shape),
        Dataset::Table { rows, columns } => {
            let cols: Vec<_> = columns.iter().map(|c| format!("{}:{:?}", c.name, c.dtype)).collect();
            format!("table {rows} × [{}]", cols.join(", "))
        }
    }
}
