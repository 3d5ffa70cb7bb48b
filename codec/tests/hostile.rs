//! Invariant 5 on crafted archives whose checksums are all valid: no allocation larger than the
//! archive's bytes can justify (measured by a counting allocator), and a header rewritten to
//! describe other data fails the content check.
#![cfg(feature = "encode")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use baler_codec::bytes::put_varint;
use baler_codec::coder::lossless::zstd_compress;
use baler_codec::encode::{CompressOptions, compress};
use baler_codec::format::container::{ContainerWriter, SectionKind, read_sections};
use baler_codec::format::metadata::{Metadata, ModelUse, Quantizer, StreamMeta, read_metadata};
use baler_codec::{Archive, Array, BoundSpec, Column, DType, Dataset, Values};

/// Counts live bytes and remembers the peak since the last [`measure`].
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(live, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The tests of this file one at a time, so that one's allocations do not count for another.
static SERIAL: Mutex<()> = Mutex::new(());

/// Runs `f` and returns its result with the most bytes that were live at once above the start.
fn measure<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let out = f();
    (out, PEAK.load(Ordering::Relaxed).saturating_sub(base))
}

const MB: usize = 1 << 20;

fn f64_field_meta(shape: Vec<u64>) -> Metadata {
    let elements: u64 = shape.iter().product();
    Metadata {
        shape,
        table: false,
        streams: vec![StreamMeta {
            name: String::new(),
            dtype: DType::F64,
            quantizer: Quantizer::Float { bound: 0.5, step: 1.0, offset: 0.0 },
            min: 0.0,
            max: 1.0,
        }],
        bound: BoundSpec::Abs(0.5),
        fill_value: None,
        tile: [1, 1, 1],
        model: ModelUse::None,
        ae_norm: Vec::new(),
        content_hash: [0; 32],
        original_bytes: elements * 8,
        notes: Vec::new(),
    }
}

/// An archive of `meta`, an index listing `chunk_count` chunks and the chunk sections
/// `(start, rows, payload)`, every checksum valid.
fn craft(meta: &Metadata, chunk_count: u64, chunks: &[(u64, u64, Vec<u8>)]) -> Vec<u8> {
    let mut w = ContainerWriter::new();
    w.push(SectionKind::Metadata, &baler_codec::format::metadata::metadata_payload(meta));
    let entries: Vec<(u64, u64, &[u8])> = chunks.iter().map(|(s, r, p)| (*s, *r, p.as_slice())).collect();
    baler_codec::format::chunk_index::push_index_and_chunks(&mut w, chunk_count, &entries);
    w.finish()
}

/// A chunk payload: its header, predictor 0 (constant), a claimed inflated length and a frame.
fn chunk_payload(start: u64, rows: u64, raw_len: u64, frame: &[u8]) -> Vec<u8> {
    let mut p = Vec::new();
    put_varint(&mut p, start);
    put_varint(&mut p, rows);
    p.push(0);
    put_varint(&mut p, raw_len);
    p.extend_from_slice(frame);
    p
}

/// The crafted archives are also committed (`tests/hostile/`), for the CLI's tests under a memory
/// limit; they must stay the bytes crafted here (`BALER_WRITE_HOSTILE=1` rewrites them).
fn committed(name: &str, bytes: &[u8]) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/hostile").join(name);
    if std::env::var_os("BALER_WRITE_HOSTILE").is_some() {
        std::fs::write(&path, bytes).unwrap();
    }
    let on_disk = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(on_disk == bytes, "{} is not the archive crafted here", path.display());
}

#[test]
fn a_tiny_archive_claiming_2_pow_40_chunks_is_refused_without_reserving_them() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let meta = f64_field_meta(vec![1 << 40]);
    let bytes = craft(&meta, 1 << 40, &[(0, 1 << 40, chunk_payload(0, 1 << 40, 10, b"x"))]);
    assert!(bytes.len() < 300, "{} bytes", bytes.len());
    committed("index_claims_2pow40_chunks.baler", &bytes);
    let (err, peak) = measure(|| Archive::open(&bytes, None).err().map(|e| e.to_string()));
    let err = err.expect("refused");
    assert!(err.contains("chunk index lists 1099511627776 chunks"), "{err}");
    assert!(peak < MB, "peak {peak} bytes");
    // The metadata-only open (`info`) takes the same path.
    let (err, peak) = measure(|| Archive::open_metadata_only(&bytes).err().map(|e| e.to_string()));
    assert!(err.expect("refused").contains("chunk index"));
    assert!(peak < MB, "peak {peak} bytes");
}

#[test]
fn a_one_chunk_archive_claiming_a_gigabyte_is_refused_cheaply() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let n = 1u64 << 26;
    let meta = f64_field_meta(vec![n]);
    // (what the frame holds, what it claims to inflate to, the error)
    let small = zstd_compress(&[7u8; 100], 3);
    let cases: Vec<(Vec<u8>, u64, &str)> = vec![
        // A valid 100-byte frame that claims 1 GiB.
        (small.clone(), 1 << 30, "inflates to 100 bytes, expected 1073741824"),
        // Bytes that are not zstd at all.
        (vec![0xab; 40], 1 << 30, "zstd"),
        // A frame that inflates to what it claims, but far too little for 2^26 elements: the
        // exception count is read, then the code symbols are missing.
        (zstd_compress(&[0u8; 64], 3), 64, "needs 67108864 bytes"),
    ];
    for (frame, raw_len, want) in cases {
        let bytes = craft(&meta, 1, &[(0, n, chunk_payload(0, n, raw_len, &frame))]);
        assert!(bytes.len() < 400, "{} bytes", bytes.len());
        if raw_len == 1 << 30 && frame == small {
            committed("one_chunk_claims_1gib.baler", &bytes);
        }
        let archive = Archive::open(&bytes, None).unwrap();
        type Decode = fn(&Archive<'_>) -> baler_codec::Result<()>;
        let runs: [(&str, Decode); 3] = [
            ("chunk", |a| a.decode_chunk(0).map(|_| ())),
            ("whole", |a| a.decode().map(|_| ())),
            ("streamed", |a| a.decode_each(|_| Ok(()))),
        ];
        for (what, run) in runs {
            let (result, peak) = measure(|| run(&archive));
            let err = result.expect_err(what).to_string();
            assert!(err.contains(want), "{what}: {err}");
            assert!(peak < 4 * MB, "{what} ({want}): peak {peak} bytes");
        }
    }
}

/// The sections of `bytes` again, with the metadata changed by `f` and the chunk index's offsets
/// moved by the metadata's change in length: a rewritten header with every checksum valid.
fn rewrite_metadata(bytes: &[u8], f: impl FnOnce(&mut Metadata)) -> Vec<u8> {
    let sections = read_sections(bytes).unwrap();
    let version = u16::from_le_bytes([bytes[8], bytes[9]]);
    let mut meta = read_metadata(sections[0].kind, sections[0].payload, version).unwrap();
    f(&mut meta);
    let entries = Archive::open(bytes, None).unwrap().chunks;
    let chunks: Vec<(u64, u64, Vec<u8>)> = sections
        .iter()
        .filter(|s| s.kind == SectionKind::Chunk)
        .zip(&entries)
        .map(|(s, e)| (e.start, e.rows, s.payload.to_vec()))
        .collect();
    assert!(
        sections
            .iter()
            .all(|s| s.kind.is_metadata() || matches!(s.kind, SectionKind::ChunkIndex | SectionKind::Chunk))
    );
    craft(&meta, entries.len() as u64, &chunks)
}

fn decode_error(bytes: &[u8]) -> String {
    let archive = match Archive::open(bytes, None) {
        Ok(a) => a,
        Err(e) => return e.to_string(),
    };
    let whole = archive.decode().expect_err("whole decode must fail").to_string();
    let streamed = archive.decode_each(|_| Ok(())).expect_err("streamed decode must fail").to_string();
    assert_eq!(whole, streamed);
    whole
}

fn small_field() -> Dataset {
    let values = (0..6 * 12 * 16).map(|i| ((i as f64) * 0.1).sin() as f32 as f64).collect();
    Dataset::Field(Array { dtype: DType::F32, shape: vec![6, 12, 16], values: Values::Float(values) })
}

fn compress_it(ds: &Dataset) -> Vec<u8> {
    let opts = CompressOptions { bound: BoundSpec::Rel(1e-3), ..Default::default() };
    compress(ds, &opts, None).unwrap().bytes
}

#[test]
fn a_rewritten_layout_with_valid_checksums_fails_the_content_check() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let bytes = compress_it(&small_field());
    assert!(Archive::open(&bytes, None).unwrap().decode().is_ok());
    // The rewrite itself changes nothing: the same metadata gives an archive that decodes.
    assert!(Archive::open(&rewrite_metadata(&bytes, |_| {}), None).unwrap().decode().is_ok());
    type Tamper = fn(&mut Metadata);
    let tampers: [(&str, Tamper); 5] = [
        // The same lattice, so the same values: only the layout hash can tell.
        ("4-d shape", |m| m.shape = vec![1, 6, 12, 16]),
        ("name", |m| m.streams[0].name = "pressure".into()),
        ("fill value", |m| m.fill_value = Some(12345.0)),
        ("dtype", |m| {
            m.streams[0].dtype = DType::F64;
            m.original_bytes *= 2;
        }),
        // Fewer rows than the chunks hold: the index no longer tiles the data.
        ("empty shape", |m| {
            m.shape = vec![0, 12, 16];
            m.original_bytes = 0;
        }),
    ];
    for (what, tamper) in tampers {
        let err = decode_error(&rewrite_metadata(&bytes, tamper));
        assert!(err.contains("content hash") || err.contains("chunks cover"), "{what}: {err}");
    }
    // The ratio's numerator must be what the shape says.
    let err = decode_error(&rewrite_metadata(&bytes, |m| m.original_bytes *= 100));
    assert!(err.contains("original bytes"), "{err}");
}

#[test]
fn a_renamed_column_with_valid_checksums_fails_the_content_check() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let rows = 300;
    let columns = vec![
        Column {
            name: "pt".into(),
            dtype: DType::F64,
            values: Values::Float((0..rows).map(|i| i as f64 * 0.5).collect()),
        },
        Column {
            name: "q".into(),
            dtype: DType::I16,
            values: Values::Int((0..rows as i64).map(|i| i % 3 - 1).collect()),
        },
    ];
    let bytes = compress_it(&Dataset::Table { rows, columns });
    assert!(Archive::open(&bytes, None).unwrap().decode().is_ok());
    let err = decode_error(&rewrite_metadata(&bytes, |m| m.streams[1].name = "charge".into()));
    assert!(err.contains("content hash"), "{err}");
    let err = decode_error(&rewrite_metadata(&bytes, |m| m.streams.swap(0, 1)));
    assert!(!err.is_empty());
}

/// A zstd'd metadata section (format 6) is inflated only as far as its frame really yields, up to
/// the length it claims; a claim past the limit, a frame that yields another length, and the
/// section in an archive of format 5 are errors.
#[test]
fn a_zstd_metadata_section_is_read_only_as_far_as_it_is_true() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let meta = f64_field_meta(vec![4]);
    let raw = postcard::to_allocvec(&meta).unwrap();
    let section = |claimed: u64| {
        let mut p = Vec::new();
        put_varint(&mut p, claimed);
        p.extend_from_slice(&zstd_compress(&raw, 3));
        p
    };
    let read = read_metadata(SectionKind::MetadataZstd, &section(raw.len() as u64), 6).unwrap();
    assert_eq!(postcard::to_allocvec(&read).unwrap(), raw);
    let limit = baler_codec::format::metadata::MAX_METADATA_BYTES as u64;
    for (claimed, version, want) in [
        (limit, 6, "expected"),
        (limit + 1, 6, "exceeds the limit"),
        (raw.len() as u64 - 1, 6, "expected"),
        (raw.len() as u64, 5, "format version 5 does not have"),
    ] {
        let payload = section(claimed);
        let (result, peak) =
            measure(|| read_metadata(SectionKind::MetadataZstd, &payload, version).map(|_| ()));
        let err = result.expect_err(want).to_string();
        assert!(err.contains(want), "{claimed}: {err}");
        assert!(peak < 4 * MB, "{claimed}: peak {peak} bytes");
    }
}
