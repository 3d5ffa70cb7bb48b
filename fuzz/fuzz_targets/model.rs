//! Model section payloads and `.bmodel` files: parse, expand, validate, and run what validates on
//! a few tiles (the validation promises that inference cannot overflow or index out of range).
#![no_main]

use baler_codec::format::model_file::read_model_file;
use baler_codec::parse_model;
use libfuzzer_sys::{fuzz_mutator, fuzz_target};

fn run(payload: &[u8]) {
    let Ok(dec) = parse_model(payload) else { return };
    // Huge valid models are merely slow (up to 2^27 weights): keep executions fast.
    if dec.layers.iter().map(|l| l.weights.len()).sum::<usize>() > 1 << 20 {
        return;
    }
    let d = dec.latent_dim();
    // One tile (the plain path) and 17 (a batch of 16 plus one: the batched SIMD path).
    for n in [1, 17] {
        // Zero latents, and the extremes the archive reader clamps latents to (int16).
        for v in [0, i16::MAX as i32, i16::MIN as i32] {
            let acc = dec.predict_acc(&vec![v; n * d], n);
            assert_eq!(acc.len(), n * dec.output_dim());
            let _ = dec.outputs(&acc);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    run(data);
    if let Ok(f) = read_model_file(data) {
        run(f.decoder);
    }
});

fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    baler_fuzz::mutate_model(data, size, max_size, seed)
});
