//! The lossless stage: every chunk's bytes after its header are one zstd frame, or from format 7
//! the bytes themselves where a frame would be no smaller (`pack_bytes`). Decoding uses the
//! pure-Rust `ruzstd` (builds for wasm32), or the C library with the `zstd-c` feature; encoding
//! uses the reference C zstd.

use crate::error::{Result, corrupt};

/// The first format version whose chunks may hold their data unpacked.
pub const UNPACKED_SINCE_VERSION: u16 = 7;

/// A chunk's data as stored (format ≥ 7): its zstd frame at `level`, or the data itself where the
/// frame would be no smaller (a short chunk near its entropy: the frame's header and block
/// headers are ≈ 10 bytes of a table's 1 KB chunk).
#[cfg(feature = "encode")]
pub fn pack_bytes(raw: Vec<u8>, level: i32) -> Vec<u8> {
    let frame = zstd_compress(&raw, level);
    if frame.len() < raw.len() { frame } else { raw }
}

/// The inverse of `pack_bytes`: stored bytes exactly `expected_len` long are the data itself
/// where `unpacked_allowed` (format ≥ 7), anything else one zstd frame.
pub fn unpack_bytes(
    stored: &[u8],
    expected_len: usize,
    unpacked_allowed: bool,
    what: &str,
) -> Result<Vec<u8>> {
    if unpacked_allowed && stored.len() == expected_len {
        return Ok(stored.to_vec());
    }
    zstd_decompress(stored, expected_len, what)
}

/// Decompresses one zstd frame that must inflate to exactly `expected_len` bytes.
pub fn zstd_decompress(data: &[u8], expected_len: usize, what: &str) -> Result<Vec<u8>> {
    #[cfg(feature = "zstd-c")]
    return zstd_c_decompress(data, expected_len, what);
    #[cfg(not(feature = "zstd-c"))]
    return ruzstd_decompress(data, expected_len, what);
}

/// How many bytes a frame of `compressed` bytes may be trusted to inflate to before it has: what
/// real chunks reach (their codes compress 2–50×), far below zstd's own limit (a 4-byte RLE block
/// is 128 KiB). A claimed length beyond it is not reserved up front but grown into as the frame
/// really yields bytes, so a tiny hostile chunk claiming a gigabyte costs nothing.
fn trusted_len(compressed: usize) -> usize {
    compressed.saturating_mul(64).saturating_add(1 << 16)
}

/// Inflates `reader` into a buffer that grows with what it yields, up to `expected_len + 1` bytes
/// (one more than expected, so an over-long frame is caught without trusting it).
fn read_growing(
    mut reader: impl std::io::Read,
    compressed: usize,
    expected_len: usize,
) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let limit = expected_len.saturating_add(1);
    let mut out = Vec::with_capacity(limit.min(trusted_len(compressed)));
    (&mut reader).take(limit as u64).read_to_end(&mut out)?;
    Ok(out)
}

fn check_len(out: Vec<u8>, expected_len: usize, what: &str) -> Result<Vec<u8>> {
    if out.len() != expected_len {
        return corrupt(format!(
            "{what}: inflates to {}{} bytes, expected {expected_len}",
            out.len(),
            if out.len() > expected_len { "+" } else { "" }
        ));
    }
    Ok(out)
}

/// [`zstd_decompress`] by the C library. A frame whose claimed length the compressed size can
/// justify goes to the bulk API (one reused context per thread, written straight into a buffer of
/// `expected_len + 1` bytes); any other streams into a growing buffer.
#[cfg(feature = "zstd-c")]
fn zstd_c_decompress(data: &[u8], expected_len: usize, what: &str) -> Result<Vec<u8>> {
    thread_local! {
        // One context per thread, reused: creating one costs as much as inflating a small chunk.
        static CONTEXT: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
            const { std::cell::RefCell::new(None) };
    }
    if expected_len >= trusted_len(data.len()) {
        let out = zstd::stream::read::Decoder::with_buffer(data)
            .and_then(|d| read_growing(d, data.len(), expected_len));
        return match out {
            Ok(out) => check_len(out, expected_len, what),
            Err(e) => corrupt(format!("{what}: zstd data (expected {expected_len} bytes): {e}")),
        };
    }
    let mut out = Vec::with_capacity(expected_len + 1);
    let inflated = CONTEXT.with_borrow_mut(|context| {
        if context.is_none() {
            *context = Some(zstd::bulk::Decompressor::new()?);
        }
        context.as_mut().expect("created above").decompress_to_buffer(data, &mut out)
    });
    match inflated {
        Ok(_) => check_len(out, expected_len, what),
        Err(e) => corrupt(format!("{what}: zstd data (expected {expected_len} bytes): {e}")),
    }
}

/// [`zstd_decompress`] in pure Rust (the wasm build's).
#[cfg_attr(feature = "zstd-c", allow(dead_code))]
fn ruzstd_decompress(data: &[u8], expected_len: usize, what: &str) -> Result<Vec<u8>> {
    let decoder = match ruzstd::decoding::StreamingDecoder::new(data) {
        Ok(d) => d,
        Err(e) => return corrupt(format!("{what}: zstd frame header: {e}")),
    };
    match read_growing(decoder, data.len(), expected_len) {
        Ok(out) => check_len(out, expected_len, what),
        Err(e) => corrupt(format!("{what}: zstd data: {e}")),
    }
}

/// One zstd frame of `data` at `level`: the bytes `zstd::bulk::compress` makes, from one context
/// per thread, reused (creating a context and clearing its tables took 10 % of a small table's
/// compression; zstd's output depends on the parameters and the input only, not on the context's
/// history).
#[cfg(feature = "encode")]
pub fn zstd_compress(data: &[u8], level: i32) -> Vec<u8> {
    thread_local! {
        static CONTEXT: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
            const { std::cell::RefCell::new(None) };
    }
    CONTEXT
        .with_borrow_mut(|context| {
            let compressor = match context {
                Some(c) => {
                    c.set_compression_level(level)?;
                    c
                }
                None => context.insert(zstd::bulk::Compressor::new(level)?),
            };
            compressor.compress(data)
        })
        .expect("zstd compression of an in-memory buffer cannot fail")
}

#[cfg(all(test, feature = "encode"))]
mod tests {
    use super::*;

    /// Bytes zstd cannot shrink are stored as they are (format ≥ 7 only reads them so); bytes it
    /// can are one frame, read the same in every version.
    #[test]
    fn incompressible_data_is_stored_unpacked() {
        let mut rng = crate::testing::Rng(4);
        let noise: Vec<u8> = (0..1000).map(|_| rng.below(256) as u8).collect();
        let stored = pack_bytes(noise.clone(), 19);
        assert_eq!(stored, noise);
        assert_eq!(unpack_bytes(&stored, noise.len(), true, "noise").unwrap(), noise);
        assert!(unpack_bytes(&stored, noise.len(), false, "noise").is_err(), "not a zstd frame");
        let runs = vec![3u8; 1000];
        let stored = pack_bytes(runs.clone(), 19);
        assert!(stored.len() < 100);
        for unpacked_allowed in [true, false] {
            assert_eq!(unpack_bytes(&stored, runs.len(), unpacked_allowed, "runs").unwrap(), runs);
        }
    }

    #[test]
    fn zstd_frames_decode_with_ruzstd_and_length_is_enforced() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 7) as u8).collect();
        let z = zstd_compress(&data, 19);
        assert_eq!(zstd_decompress(&z, data.len(), "t").unwrap(), data);
        assert!(zstd_decompress(&z, data.len() - 1, "t").is_err());
        assert!(zstd_decompress(&z, data.len() + 1, "t").is_err());
        assert!(zstd_decompress(&z[..z.len() / 2], data.len(), "t").is_err());
    }

    /// The thread's reused context makes the bytes a fresh one does, whatever it compressed
    /// before at whatever level (archives must not depend on what a thread did earlier).
    #[test]
    fn a_reused_context_makes_a_fresh_contexts_bytes() {
        let inputs: Vec<Vec<u8>> = [1usize, 300, 70_000, 5, 1 << 20]
            .iter()
            .map(|&n| {
                (0..n as u32)
                    .map(|i| ((i * 2_654_435_761) >> (i % 29)) as u8 % (1 + (i % 17) as u8))
                    .collect()
            })
            .collect();
        for round in 0..2 {
            for (i, data) in inputs.iter().enumerate() {
                for level in [19, 3, 1, -1, 3] {
                    let fresh = zstd::bulk::compress(data, level).unwrap();
                    assert_eq!(zstd_compress(data, level), fresh, "round {round} input {i} level {level}");
                }
            }
        }
    }

    #[test]
    fn the_c_and_rust_inflaters_agree_on_good_and_damaged_frames() {
        let data: Vec<u8> = (0..50_000u32).map(|i| ((i * 7919) % 251 % (1 + i % 13)) as u8).collect();
        let z = zstd_compress(&data, 3);
        for len in [data.len() - 1, data.len(), data.len() + 1] {
            let (c, r) = (zstd_c_decompress(&z, len, "t"), ruzstd_decompress(&z, len, "t"));
            assert_eq!(c.as_ref().ok(), r.as_ref().ok(), "expected length {len}");
        }
        assert_eq!(zstd_c_decompress(&z, data.len(), "t").unwrap(), data);
        for i in (0..z.len()).step_by(97) {
            let mut bad = z.clone();
            bad[i] ^= 0x5a;
            let (c, r) = (zstd_c_decompress(&bad, data.len(), "t"), ruzstd_decompress(&bad, data.len(), "t"));
            // Damage the frame does not notice (zstd has no checksum here) gives the same bytes.
            if let (Ok(c), Ok(r)) = (&c, &r) {
                assert_eq!(c, r, "flip at {i}");
            }
        }
        for cut in [0, 1, z.len() / 3, z.len() - 1] {
            assert!(zstd_c_decompress(&z[..cut], data.len(), "t").is_err(), "cut at {cut}");
        }
    }
}
