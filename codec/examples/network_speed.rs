//! Times the decoder network (`IntDecoder::predict_acc`) on the latents of real archives, chunk by
//! chunk as decoding calls it, and a full decode, best of N. Prints µs per tile, a checksum of
//! every accumulator (which must not change when the network code does) and the cost of calls
//! with few tiles (chunks where the network predicts little).
//!
//! `cargo run --release -p baler-codec --example network_speed -- ARCHIVE...`
//! (`BALER_REPS=N` sets N, default 5; `BALER_FULL=0` skips the full decode, which uses all cores
//! only with `--features parallel`.)
use std::time::Instant;

fn best(n: usize, mut f: impl FnMut()) -> f64 {
    let mut b = f64::MAX;
    for _ in 0..n {
        let t = Instant::now();
        f();
        b = b.min(t.elapsed().as_secs_f64());
    }
    b
}

/// FNV-1a over the accumulators' little-endian bytes, plus their wrapping sum.
fn checksum(acc: &[i32]) -> (u64, i64) {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for b in acc.iter().flat_map(|a| a.to_le_bytes()) {
        h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
    }
    (h, acc.iter().map(|&a| a as i64).sum())
}

fn main() {
    let reps: usize = std::env::var("BALER_REPS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    let full = std::env::var("BALER_FULL").map_or(true, |v| v != "0");
    for path in std::env::args().skip(1) {
        let bytes = std::fs::read(&path).unwrap();
        let archive = baler_codec::Archive::open(&bytes, None).unwrap();
        let Some(dec) = archive.decoder.as_ref() else {
            println!("{path}: no decoder network");
            continue;
        };
        // The network's input per chunk, as decoding calls it.
        let chunks: Vec<(Vec<i32>, usize)> = (0..archive.chunk_count())
            .map(|i| {
                let p = archive.parse_chunk(i).unwrap();
                (p.latents().to_vec(), p.network_tiles())
            })
            .filter(|(_, n)| *n > 0)
            .collect();
        let tiles: usize = chunks.iter().map(|c| c.1).sum();
        let all: Vec<i32> = chunks.iter().flat_map(|(l, n)| dec.predict_acc(l, *n)).collect();
        let (h, s) = checksum(&all);
        let t = best(reps, || {
            for (l, n) in &chunks {
                std::hint::black_box(dec.predict_acc(l, *n));
            }
        });
        let layers: Vec<String> = dec
            .layers
            .iter()
            .enumerate()
            .map(|(i, l)| {
                format!("{}x{}{}", l.out_dim, l.in_dim, if dec.norm(i).is_some() { "+gdn" } else { "" })
            })
            .collect();
        println!(
            "{path}: [{}] {tiles} tiles in {} chunks: {:.3} µs/tile ({:.1} ms); acc fnv {h:016x} sum {s}",
            layers.join(" "),
            chunks.len(),
            t * 1e6 / tiles.max(1) as f64,
            t * 1e3
        );
        // Chunks with few network tiles: µs per call for n tiles.
        let z = dec.latent_dim();
        let flat: Vec<i32> = chunks.iter().flat_map(|c| c.0.iter().copied()).collect();
        let small: Vec<String> = [1usize, 2, 3, 4, 8, 16]
            .iter()
            .filter(|_| tiles > 0)
            .map(|&n| {
                let lat: Vec<i32> = flat.iter().copied().cycle().take(n * z).collect();
                let t = best(reps * 20, || {
                    std::hint::black_box(dec.predict_acc(&lat, n));
                });
                format!("{n}: {:.1}", t * 1e6)
            })
            .collect();
        println!("  µs per call of n tiles: {}", small.join(", "));
        if full {
            let ds = baler_codec::decode(&bytes, None).unwrap();
            let mb = ds.original_bytes() as f64 / 1e6;
            let t = best(reps.min(3), || {
                std::hint::black_box(baler_codec::decode(&bytes, None).unwrap());
            });
            println!("  full decode {:.1} ms = {:.0} MB/s", t * 1e3, mb / t);
        }
    }
}
