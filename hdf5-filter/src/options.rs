//! The filter's `cd_values`: what the user gives (the bound) and what `set_local` adds from the
//! dataset (dtype, byte order, chunk shape, fill value), so each chunk decodes on its own.
//!
//! Layout (unsigned 32-bit words; an f64 is two words, low half first):
//!
//! | index | given by  | meaning                                                         |
//! |-------|-----------|-----------------------------------------------------------------|
//! | 0     | user      | bound mode: 0 = abs, 1 = rel (to the chunk's range), 2 = PSNR dB |
//! | 1, 2  | user      | the bound's value (f64)                                         |
//! | 3     | user, opt | effort: 0 = fast (classic predictors; the only one the filter runs) |
//! | 4     | set_local | [`LOCAL_MARK`]                                                  |
//! | 5     | set_local | dtype code ([`dtype_code`])                                     |
//! | 6     | set_local | 1 = big-endian element bytes                                    |
//! | 7     | set_local | 1 = a fill value follows                                        |
//! | 8, 9  | set_local | the fill value (f64; floats only)                               |
//! | 10    | set_local | number of chunk axes n                                          |
//! | 11 …  | set_local | the chunk's n extents                                           |
//!
//! `set_local` rewrites words 4 onwards every time it runs, so copying a filtered dataset with
//! `h5repack` recomputes them for the new dataset.

use baler_codec::DType;

/// HDF5 filter id, from HDF5's range for testing (256–511) until one is registered with The HDF
/// Group. Every tool names the filter by this number (`h5repack -f UD=305,…`).
pub const FILTER_ID: i32 = 305;

/// Word 4 once `set_local` has run (not a valid effort or bound mode).
pub const LOCAL_MARK: u32 = 0xBA1E_0001;

/// The most chunk axes HDF5 allows (H5S_MAX_RANK).
pub const MAX_AXES: usize = 32;

/// The user's part: words 0–3.
const USER_WORDS: usize = 4;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Bound {
    /// |x − x′| ≤ value.
    Abs(f64),
    /// |x − x′| ≤ value × the chunk's range of finite values (at most the dataset's range, so
    /// the same holds against the whole dataset's range).
    Rel(f64),
    /// PSNR ≥ value dB against the chunk's range (so also against the dataset's).
    Psnr(f64),
}

/// What the user gives.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UserOptions {
    pub bound: Bound,
    /// 0 = fast. Learning per chunk would train a network inside the host's read/write calls; the
    /// filter refuses anything else.
    pub effort: u32,
}

/// Everything a chunk's encoder and decoder need.
#[derive(Clone, Debug, PartialEq)]
pub struct ChunkOptions {
    pub user: UserOptions,
    pub dtype: DType,
    pub big_endian: bool,
    /// Kept exactly and left out of the range (floats only).
    pub fill_value: Option<f64>,
    /// The chunk's extents, slowest axis first (HDF5's order).
    pub shape: Vec<usize>,
}

fn f64_words(v: f64) -> [u32; 2] {
    let b = v.to_bits();
    [b as u32, (b >> 32) as u32]
}

fn words_f64(lo: u32, hi: u32) -> f64 {
    f64::from_bits(u64::from(lo) | (u64::from(hi) << 32))
}

/// The user's `cd_values` for `bound` (fast effort): what `h5repack -f UD=305,0,3,…`, h5py's
/// `compression_opts` or `H5Pset_filter` take.
pub fn user_cd_values(bound: Bound) -> Vec<u32> {
    let (mode, v) = match bound {
        Bound::Abs(v) => (0, v),
        Bound::Rel(v) => (1, v),
        Bound::Psnr(v) => (2, v),
    };
    let [lo, hi] = f64_words(v);
    vec![mode, lo, hi]
}

/// Reads words 0–3. Words after them (an earlier `set_local`'s) are ignored.
pub fn parse_user(cd: &[u32]) -> Result<UserOptions, String> {
    if cd.len() < 3 {
        return Err(format!(
            "Baler filter needs at least 3 parameters (bound mode, then the bound as two halves of an f64), got {}",
            cd.len()
        ));
    }
    let value = words_f64(cd[1], cd[2]);
    let bound = match cd[0] {
        0 if value > 0.0 && value.is_finite() => Bound::Abs(value),
        1 if value > 0.0 && value < 1.0 => Bound::Rel(value),
        2 if value > 0.0 && value < 400.0 => Bound::Psnr(value),
        0..=2 => return Err(format!("Baler filter: bad bound value {value} for mode {}", cd[0])),
        m => return Err(format!("Baler filter: unknown bound mode {m} (0 = abs, 1 = rel, 2 = psnr)")),
    };
    let effort = match cd.get(3) {
        None | Some(0) | Some(&LOCAL_MARK) => 0,
        Some(e) => {
            return Err(format!(
                "Baler filter: effort {e} is not supported (0 = fast, classic predictors; learning runs in baler-train)"
            ));
        }
    };
    Ok(UserOptions { bound, effort })
}

/// The number HDF5's `cd_values` store for a dtype.
pub fn dtype_code(d: DType) -> u32 {
    match d {
        DType::F32 => 1,
        DType::F64 => 2,
        DType::I8 => 3,
        DType::I16 => 4,
        DType::I32 => 5,
        DType::I64 => 6,
        DType::U8 => 7,
        DType::U16 => 8,
        DType::U32 => 9,
        DType::U64 => 10,
    }
}

fn code_dtype(c: u32) -> Option<DType> {
    Some(match c {
        1 => DType::F32,
        2 => DType::F64,
        3 => DType::I8,
        4 => DType::I16,
        5 => DType::I32,
        6 => DType::I64,
        7 => DType::U8,
        8 => DType::U16,
        9 => DType::U32,
        10 => DType::U64,
        _ => return None,
    })
}

impl ChunkOptions {
    /// The full `cd_values` that `set_local` stores.
    pub fn to_cd_values(&self) -> Vec<u32> {
        let mut cd = user_cd_values(self.user.bound);
        cd.push(self.user.effort);
        let fill = self.fill_value.unwrap_or(0.0);
        let [flo, fhi] = f64_words(fill);
        cd.extend([LOCAL_MARK, dtype_code(self.dtype), self.big_endian as u32]);
        cd.extend([self.fill_value.is_some() as u32, flo, fhi, self.shape.len() as u32]);
        cd.extend(self.shape.iter().map(|&d| d as u32));
        debug_assert_eq!(cd.len(), USER_WORDS + 7 + self.shape.len());
        cd
    }

    /// Parses what `set_local` stored; every word is checked (a file's `cd_values` are its bytes).
    pub fn from_cd_values(cd: &[u32]) -> Result<Self, String> {
        let user = parse_user(cd)?;
        let local = cd.get(USER_WORDS..).unwrap_or(&[]);
        let [mark, dtype, big, has_fill, flo, fhi, axes, dims @ ..] = local else {
            return Err(format!(
                "Baler filter parameters were never completed by set_local ({} words; the dataset's type and chunk shape are missing)",
                cd.len()
            ));
        };
        if *mark != LOCAL_MARK {
            return Err(format!("Baler filter parameters: word 4 is {mark:#x}, not the set_local mark"));
        }
        let dtype = code_dtype(*dtype)
            .ok_or_else(|| format!("Baler filter parameters: unknown dtype code {dtype}"))?;
        if *axes as usize != dims.len() || dims.is_empty() || dims.len() > MAX_AXES {
            return Err(format!("Baler filter parameters: {axes} chunk axes but {} extents", dims.len()));
        }
        let fill = words_f64(*flo, *fhi);
        let fill_value = match has_fill {
            0 => None,
            1 if fill.is_finite() => Some(fill),
            _ => return Err(format!("Baler filter parameters: bad fill value flag {has_fill} ({fill})")),
        };
        let shape: Vec<usize> = dims.iter().map(|&d| d as usize).collect();
        // HDF5 itself keeps a chunk under 4 GiB.
        shape
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d as u64))
            .and_then(|n| n.checked_mul(dtype.size_bytes() as u64))
            .filter(|&bytes| bytes > 0 && bytes <= u32::MAX as u64)
            .ok_or_else(|| format!("Baler filter parameters: bad chunk shape {shape:?}"))?;
        Ok(Self { user, dtype, big_endian: *big == 1, fill_value, shape })
    }

    /// Elements in one chunk.
    pub fn elements(&self) -> usize {
        self.shape.iter().product()
    }

    /// Bytes of one uncompressed chunk.
    pub fn chunk_bytes(&self) -> usize {
        self.elements() * self.dtype.size_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ChunkOptions {
        ChunkOptions {
            user: UserOptions { bound: Bound::Rel(1e-3), effort: 0 },
            dtype: DType::F32,
            big_endian: true,
            fill_value: Some(-9.96921e36),
            shape: vec![4, 30, 40],
        }
    }

    #[test]
    fn cd_values_round_trip_and_set_local_is_idempotent() {
        let o = sample();
        let cd = o.to_cd_values();
        assert_eq!(ChunkOptions::from_cd_values(&cd).unwrap(), o);
        // set_local on an already-completed list keeps the user's words.
        assert_eq!(parse_user(&cd).unwrap(), o.user);
        let none = ChunkOptions { fill_value: None, big_endian: false, ..o };
        assert_eq!(ChunkOptions::from_cd_values(&none.to_cd_values()).unwrap(), none);
    }

    #[test]
    fn user_values_encode_the_f64_in_two_halves() {
        let cd = user_cd_values(Bound::Abs(0.25));
        assert_eq!(cd, vec![0, 0, 0x3FD0_0000]);
        assert_eq!(parse_user(&cd).unwrap().bound, Bound::Abs(0.25));
        assert_eq!(parse_user(&user_cd_values(Bound::Psnr(60.0))).unwrap().bound, Bound::Psnr(60.0));
    }

    #[test]
    fn bad_parameters_are_named_errors() {
        let msg = |cd: &[u32]| parse_user(cd).unwrap_err();
        assert!(msg(&[0, 1]).contains("at least 3"));
        assert!(msg(&[7, 0, 0x3FD0_0000]).contains("unknown bound mode 7"));
        assert!(msg(&user_cd_values(Bound::Abs(-1.0))).contains("bad bound value"));
        assert!(msg(&user_cd_values(Bound::Rel(2.0))).contains("bad bound value"));
        let mut cd = user_cd_values(Bound::Abs(1.0));
        cd.push(2);
        assert!(msg(&cd).contains("effort 2"));
        let err = ChunkOptions::from_cd_values(&user_cd_values(Bound::Abs(1.0))).unwrap_err();
        assert!(err.contains("never completed by set_local"), "{err}");
        let mut cd = sample().to_cd_values();
        cd[10] = 2; // axes disagree with the extents that follow
        assert!(ChunkOptions::from_cd_values(&cd).unwrap_err().contains("chunk axes"));
        let mut cd = sample().to_cd_values();
        cd[11] = 0;
        assert!(ChunkOptions::from_cd_values(&cd).unwrap_err().contains("bad chunk shape"));
        let mut cd = sample().to_cd_values();
        cd[11..14].copy_from_slice(&[1 << 20, 1 << 10, 1]); // 2^30 float32: 4 GiB, over HDF5's limit
        assert!(ChunkOptions::from_cd_values(&cd).unwrap_err().contains("bad chunk shape"));
        let mut cd = sample().to_cd_values();
        cd[5] = 99;
        assert!(ChunkOptions::from_cd_values(&cd).unwrap_err().contains("dtype code 99"));
    }
}
