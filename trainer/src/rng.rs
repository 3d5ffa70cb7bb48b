//! splitmix64: tiny, seedable, good enough for initialisation, splits and shuffling. Training takes
//! every random number from here (not from burn's global RNG), one stream per purpose, so two runs
//! with the same seed and data give identical weights, even when several run in one process.

#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

/// The streams: each purpose draws from its own sequence of the seed.
pub const STREAM_INIT: u64 = 1;
pub const STREAM_SPLIT: u64 = 2;
pub const STREAM_SHUFFLE: u64 = 3;
pub const STREAM_SWAE: u64 = 4;

impl SplitMix64 {
    pub fn new(seed: u64, stream: u64) -> Self {
        let mut r = Self(seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03));
        r.next_u64();
        r
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u = 1.0 - self.next_f64(); // (0, 1]
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * self.next_f64()).cos()
    }

    /// Uniform in [0, n), n >= 1.
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }

    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}
