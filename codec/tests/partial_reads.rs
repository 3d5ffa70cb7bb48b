//! Opening an archive from its head and decoding chunk sections fetched on their own (what the
//! viewer does with HTTP Range requests): the same values as a whole-file decode, in any chunk
//! order, and every lie about lengths or offsets refused before anything is fetched for it.
#![cfg(feature = "encode")]

use baler_codec::encode::{CompressOptions, compress};
use baler_codec::{Archive, Array, BoundSpec, DType, Dataset, HeadLen, StreamCheck, Values, head_len};

const GOLDEN: [&[u8]; 4] = [
    include_bytes!("../../tests/golden/pattern_autoencoder_rel1e-3.baler"),
    include_bytes!("../../tests/golden/field_f32_nan_rel1e-3.baler"),
    include_bytes!("../../tests/golden/table_int_float_rel1e-2.baler"),
    include_bytes!("../../tests/golden/wave_levels_v4_rel1e-2.baler"),
];

/// A 3-d field in many chunks.
fn chunked_archive() -> Vec<u8> {
    let shape = vec![24, 10, 12];
    let values = (0..24 * 10 * 12).map(|i| ((i as f64) * 0.01).sin() + (i % 7) as f64 * 0.1).collect();
    let ds = Dataset::Field(Array { dtype: DType::F32, shape, values: Values::Float(values) });
    let opts = CompressOptions { bound: BoundSpec::Rel(1e-3), chunk_elements: 240, ..Default::default() };
    compress(&ds, &opts, None).expect("compress").bytes
}

/// Grows a prefix the way a reader would (what `head_len` asks for, at least 7 bytes more each
/// time), returning the head's length and how many reads it took.
fn find_head(bytes: &[u8]) -> (u64, usize) {
    let mut have = 7u64;
    for reads in 1..16 {
        match head_len(&bytes[..have as usize], bytes.len() as u64).expect("head_len") {
            HeadLen::Complete(n) => return (n, reads),
            HeadLen::AtLeast(n) => {
                assert!(n > have && n <= bytes.len() as u64, "asks for {n} having {have}");
                have = n.max(have + 7).min(bytes.len() as u64);
            }
        }
    }
    panic!("head not found in 16 reads");
}

fn archives() -> Vec<Vec<u8>> {
    let mut all: Vec<Vec<u8>> = GOLDEN.iter().map(|b| b.to_vec()).collect();
    all.push(chunked_archive());
    // Every dtype, with NaN, ±Inf and a fill value among the floats, at a loose and a tight bound.
    for (k, dtype) in [DType::F32, DType::F64, DType::I16, DType::U8, DType::I64].into_iter().enumerate() {
        let values: Vec<f64> = (0..2000)
            .map(|i| match (dtype.is_float(), i % 97) {
                (true, 5) => f64::NAN,
                (true, 6) => f64::INFINITY,
                (true, 7) => -9999.0,
                // Values the dtype holds (an f32 field's are f32).
                (true, _) if dtype == DType::F32 => ((i as f64 * 0.013).sin() * 50.0) as f32 as f64,
                (true, _) => (i as f64 * 0.013).sin() * 50.0 + (i % 13) as f64,
                (false, _) => ((i * 37 + k) % 200) as f64,
            })
            .collect();
        let v = if dtype.is_float() {
            Values::Float(values)
        } else {
            Values::Int(values.iter().map(|&x| x as i64).collect())
        };
        let ds = Dataset::Field(Array { dtype, shape: vec![40, 50], values: v });
        for bound in [BoundSpec::Rel(1e-2), BoundSpec::Abs(1e-9)] {
            let opts = CompressOptions {
                bound,
                chunk_elements: 300,
                fill_value: Some(-9999.0),
                ..Default::default()
            };
            all.push(compress(&ds, &opts, None).expect("compress").bytes);
        }
    }
    all
}

#[test]
fn chunks_fetched_on_their_own_decode_to_the_whole_files_values() {
    for (n, bytes) in archives().iter().enumerate() {
        let (len, _) = find_head(bytes);
        let whole = Archive::open(bytes, None).unwrap();
        let part = Archive::open_head(&bytes[..len as usize], bytes.len() as u64, None).unwrap();
        assert_eq!(part.chunks, whole.chunks, "archive {n}");
        assert_eq!(part.sizes, whole.sizes, "archive {n}");
        let count = part.chunk_count();
        assert!(n != 4 || count >= 10, "the chunked archive has {count} chunks");
        // Back to front, each from exactly its own bytes; the ranges tile the file after the head.
        let mut decoded = Vec::new();
        let mut next = len;
        for i in 0..count {
            let r = part.chunk_section_range(i).unwrap();
            assert_eq!(r.start, next);
            next = r.end;
        }
        assert_eq!(next, bytes.len() as u64);
        for i in (0..count).rev() {
            let r = part.chunk_section_range(i).unwrap();
            let c = part.decode_section(i, &bytes[r.start as usize..r.end as usize], None).unwrap();
            let reference = whole.chunk_values(&whole.decode_chunk(i).unwrap()).unwrap();
            assert_eq!(format!("{:?}", part.chunk_values(&c).unwrap()), format!("{reference:?}"));
            // A field's bytes written straight from the grid are the .npy bytes of its values.
            if let Some(direct) = part.chunk_field_bytes(&c).unwrap() {
                let mut npy = Vec::new();
                let Dataset::Field(a) = &reference else { panic!("a field") };
                baler_codec::npy::append_values(&mut npy, &reference, a.dtype);
                assert_eq!(direct, npy, "archive {n} chunk {i}");
            }
            decoded.push(c);
        }
        // In order, the content hash holds.
        let mut check = StreamCheck::new(&part);
        for c in decoded.iter().rev() {
            check.accept(&part, c).unwrap();
        }
        check.finish(&part).unwrap();
    }
}

#[test]
fn the_head_takes_few_reads_and_refuses_lies() {
    let bytes = chunked_archive();
    let (len, reads) = find_head(&bytes);
    assert!(reads <= 5, "{reads} reads");
    let file_len = bytes.len() as u64;
    // A head that claims more than the file has is refused before it is fetched.
    let mut big = bytes.clone();
    big[12 + 4..12 + 12].copy_from_slice(&(file_len * 1000).to_le_bytes());
    let err = head_len(&big[..64], file_len).unwrap_err().to_string();
    assert!(err.contains("declares"), "{err}");
    assert!(head_len(b"PK\x03\x04 not an archive", 100).is_err());
    assert!(head_len(b"BAL", 3).is_err());
    assert_eq!(head_len(b"BAL", 100).unwrap(), HeadLen::AtLeast(12));
    // A file length other than the real one fails at the latest with the last chunk's bytes.
    let head = &bytes[..len as usize];
    let mut padded = bytes.clone();
    padded.push(0);
    for (wrong, file) in
        [(file_len - 1, &bytes[..bytes.len() - 1]), (file_len + 1, &padded[..]), (len + 16, &bytes[..])]
    {
        let failed = Archive::open_head(head, wrong, None).and_then(|a| {
            let last = a.chunk_count() - 1;
            let r = a.chunk_section_range(last).unwrap();
            a.decode_section(last, &file[r.start as usize..r.end as usize], None)
        });
        assert!(failed.is_err(), "file length {wrong}");
    }
    assert!(Archive::open_head(&bytes[..len as usize - 1], file_len, None).is_err());
    // A section from the wrong place, cut short or damaged is refused.
    let a = Archive::open_head(head, file_len, None).unwrap();
    let r0 = a.chunk_section_range(0).unwrap();
    let r1 = a.chunk_section_range(1).unwrap();
    let (s0, s1) = (&bytes[r0.start as usize..r0.end as usize], &bytes[r1.start as usize..r1.end as usize]);
    assert!(a.decode_section(1, s0, None).is_err());
    assert!(a.decode_section(0, &s0[..s0.len() - 1], None).is_err());
    let mut flipped = s1.to_vec();
    flipped[20] ^= 1;
    assert!(a.decode_section(1, &flipped, None).is_err());
    // The last range holds the End section: without it, or damaged, the chunk is refused.
    let last = a.chunk_count() - 1;
    let rl = a.chunk_section_range(last).unwrap();
    let mut tail = bytes[rl.start as usize..].to_vec();
    assert!(a.decode_section(last, &tail, None).is_ok());
    let n = tail.len();
    tail[n - 16] = 4;
    assert!(a.decode_section(last, &tail, None).is_err());
}
