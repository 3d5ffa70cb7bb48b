//! `baler.toml`: every option with its default. `baler-train new` writes [`TEMPLATE`].

use serde::{Deserialize, Serialize};

use crate::model::ConvArch;
use crate::train::TrainConfig;

/// `"a"`, `"a" or "b"`, `"a", "b" or "c"`.
fn quoted_list(names: &[&str]) -> String {
    let q: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
    match q.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// A choice spelled as a string in the config file: serialized by its snake_case name, parsed
/// with a message that names the key and the accepted spellings.
macro_rules! choice {
    ($(#[$doc:meta])* $name:ident, $key:literal, { $($(#[$vdoc:meta])* $var:ident = $s:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case", try_from = "String")]
        pub enum $name {
            $($(#[$vdoc])* $var),+
        }

        impl $name {
            pub const ALL: &[$name] = &[$($name::$var),+];

            /// The spelling in the config file.
            pub fn name(self) -> &'static str {
                match self {
                    $($name::$var => $s),+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(self.name())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, String> {
                Self::ALL.iter().copied().find(|v| v.name() == s).ok_or_else(|| {
                    let names: Vec<&str> = Self::ALL.iter().map(|v| v.name()).collect();
                    format!("{} = \"{s}\": use {}", $key, quoted_list(&names))
                })
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;

            fn try_from(s: String) -> Result<Self, String> {
                s.parse()
            }
        }
    };
}

choice!(
    /// The autoencoder's layers.
    ModelKind, "model.kind", {
        /// Baler's dense AE.
        Dense = "dense",
        /// 2-d convolutions over each block.
        Conv2d = "conv2d",
        /// 3-d convolutions over bricks.
        Conv3d = "conv3d",
    }
);

choice!(
    /// What follows each hidden layer.
    Activation, "model.activation", {
        LeakyRelu = "leaky_relu",
        /// GDN in the encoder, inverse GDN in the decoder (Ballé et al.).
        Gdn = "gdn",
    }
);

choice!(
    /// Min-max normalization of a field.
    Normalization, "model.normalization", {
        /// One min/max for the whole field.
        Global = "global",
        /// One per column (tables are always per column).
        PerColumn = "per_column",
    }
);

choice!(
    /// The training objective.
    Loss, "training.loss", {
        Mse = "mse",
        /// MSE plus `l1_weight` · mean |activation| over hidden layers and latent.
        MseL1 = "mse_l1",
        /// MSE plus `swae_weight` · the sliced-Wasserstein distance of the latents to a normal.
        Swae = "swae",
    }
);

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[derive(Default)]
pub struct Config {
    pub model: ModelConfig,
    pub training: TrainingConfig,
    pub compression: CompressionConfig,
    /// Where training runs: set from `--device`, not from the file.
    #[serde(skip)]
    pub device: crate::device::Compute,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// "dense" (Baler's AE), "conv2d" or "conv3d".
    pub kind: ModelKind,
    /// Encoder hidden widths of the dense model; the decoder mirrors them.
    pub hidden: Vec<usize>,
    pub latent: usize,
    /// Tile values per latent value; when > 0 it sets `latent` (rounded, at least 1).
    pub latent_ratio: f64,
    /// Frames are cut into tiles of `block` = [rows, cols] over their last two axes (1-d data:
    /// segments of rows·cols), or bricks [frames, rows, cols] of 3-d data; tables always use one
    /// row per sample.
    pub block: Vec<usize>,
    /// "leaky_relu", or "gdn" (GDN in the encoder, inverse GDN in the decoder).
    pub activation: Activation,
    /// "global" (one min/max for a field) or "per_column" (tables always use per column).
    pub normalization: Normalization,
    /// When `compress` trains its own model: try a few blocks and latent sizes on a sample first
    /// (and no model at all), keep the one that gives the smallest archive.
    pub search: bool,
    pub conv: ConvConfig,
}

/// The convolutional models' layers (`kind = "conv2d"` or `"conv3d"`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConvConfig {
    /// Channels after each convolution; each one divides the block by `stride` along every axis.
    pub channels: Vec<usize>,
    pub kernel: usize,
    pub stride: usize,
}

impl Default for ConvConfig {
    fn default() -> Self {
        Self { channels: vec![8, 16], kernel: 4, stride: 2 }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainingConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    /// "mse", "mse_l1" (with `l1_weight`) or "swae" (with `swae_weight`, `swae_projections`).
    pub loss: Loss,
    pub l1_weight: f64,
    pub swae_weight: f64,
    pub swae_projections: usize,
    pub validation_fraction: f64,
    pub early_stopping_patience: usize,
    pub lr_patience: usize,
    pub lr_factor: f64,
    pub min_learning_rate: f64,
    pub seed: u64,
    /// Stop after this many seconds (0 = no limit).
    pub max_seconds: f64,
    /// Train on at most this many tiles, sampled evenly (0 = all).
    pub max_samples: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompressionConfig {
    pub chunk_elements: usize,
    pub zstd_level: i32,
    /// Predictors learned per chunk: column models on tables (predictor 18), a learned last
    /// interpolation pass on fields (predictor 19).
    pub learned: bool,
    /// Check each chunk with the decoder's own sweep instead of from the encoder's
    /// reconstruction (the same archive; `--full-check`).
    pub full_check: bool,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            kind: ModelKind::Dense,
            hidden: vec![64, 32],
            latent: 6,
            latent_ratio: 0.0,
            block: vec![8, 8],
            activation: Activation::LeakyRelu,
            normalization: Normalization::Global,
            search: true,
            conv: ConvConfig::default(),
        }
    }
}

impl Default for TrainingConfig {
    fn default() -> Self {
        Self {
            epochs: 200,
            batch_size: 64,
            learning_rate: 2e-3,
            loss: Loss::Mse,
            l1_weight: 0.0,
            swae_weight: 0.01,
            swae_projections: 50,
            validation_fraction: 0.1,
            early_stopping_patience: 25,
            lr_patience: 8,
            lr_factor: 0.5,
            min_learning_rate: 1e-5,
            seed: 0,
            max_seconds: 120.0,
            max_samples: 20_000,
        }
    }
}

impl Default for CompressionConfig {
    fn default() -> Self {
        Self { chunk_elements: 1 << 21, zstd_level: 3, learned: true, full_check: false }
    }
}

impl Config {
    /// Options from TOML text (what `baler-train new` writes), checked.
    pub fn from_toml(text: &str) -> Result<Config, String> {
        let c: Config = toml::from_str(text).map_err(|e| e.message().to_string())?;
        c.validate()?;
        Ok(c)
    }

    pub fn validate(&self) -> Result<(), String> {
        let m = &self.model;
        if m.latent == 0 || m.hidden.contains(&0) || m.block.contains(&0) || m.conv.channels.contains(&0) {
            return Err(
                "model.latent, model.hidden, model.block and model.conv.channels must be positive".into()
            );
        }
        if !(m.latent_ratio >= 0.0 && m.latent_ratio.is_finite()) {
            return Err("model.latent_ratio must be ≥ 0 (0 = use model.latent)".into());
        }
        match (m.kind, m.block.len()) {
            (ModelKind::Conv3d, 3) | (ModelKind::Dense | ModelKind::Conv2d, 2 | 3) => {}
            (ModelKind::Conv3d, _) => {
                return Err("model.kind = \"conv3d\" needs a 3-d model.block [frames, rows, cols]".into());
            }
            _ => return Err("model.block must be [rows, cols] or [frames, rows, cols]".into()),
        }
        let t = &self.training;
        if t.l1_weight > 0.0 && t.loss != Loss::MseL1 {
            return Err("training.l1_weight is used by loss = \"mse_l1\" only: set that loss".into());
        }
        if !(t.swae_weight >= 0.0 && t.swae_weight.is_finite()) || t.swae_projections == 0 {
            return Err("training: swae_weight ≥ 0 and swae_projections ≥ 1 are required".into());
        }
        if t.batch_size == 0
            || t.learning_rate.is_nan()
            || t.learning_rate <= 0.0
            || !(0.0..1.0).contains(&t.validation_fraction)
        {
            return Err(
                "training: batch_size ≥ 1, learning_rate > 0 and 0 ≤ validation_fraction < 1 are required"
                    .into(),
            );
        }
        // Decoders refuse larger chunks (they bound every per-chunk allocation by it).
        let max_chunk = baler_codec::archive::MAX_CHUNK_ELEMENTS;
        if !(1..=22).contains(&self.compression.zstd_level)
            || !(1..=max_chunk).contains(&self.compression.chunk_elements)
        {
            return Err(format!(
                "compression: zstd_level in 1..=22 and chunk_elements in 1..={max_chunk} are required"
            ));
        }
        Ok(())
    }

    pub fn train_config(&self) -> TrainConfig {
        let t = &self.training;
        let m = &self.model;
        let conv = (m.kind != ModelKind::Dense).then(|| ConvArch {
            three_d: m.kind == ModelKind::Conv3d,
            channels: m.conv.channels.clone(),
            kernel: m.conv.kernel,
            stride: m.conv.stride,
        });
        TrainConfig {
            hidden: m.hidden.clone(),
            conv,
            gdn: m.activation == Activation::Gdn,
            latent: m.latent,
            epochs: t.epochs,
            batch_size: t.batch_size,
            learning_rate: t.learning_rate,
            l1_weight: if t.loss == Loss::MseL1 { t.l1_weight } else { 0.0 },
            swae_weight: if t.loss == Loss::Swae { t.swae_weight } else { 0.0 },
            swae_projections: t.swae_projections,
            validation_fraction: t.validation_fraction,
            early_stopping_patience: t.early_stopping_patience,
            lr_patience: t.lr_patience,
            lr_factor: t.lr_factor,
            min_learning_rate: t.min_learning_rate,
            seed: t.seed,
            max_seconds: (t.max_seconds > 0.0).then_some(t.max_seconds),
            device: self.device.clone(),
            ..TrainConfig::default()
        }
    }
}

/// The commented config `baler-train new` writes; a test checks it parses to `Config::default()`.
pub const TEMPLATE: &str = r#"# baler.toml: every option with its default. Delete what you do not change.

[model]
# "dense" (Baler's autoencoder), "conv2d" (2-d convolutions over each block) or "conv3d" (3-d
# convolutions over bricks). The decoder half is stored in the archive (offline mode) as int8
# weights, so every weight costs one byte of the honest ratio: keep it small for small files.
kind = "dense"
# Encoder hidden widths of the dense model; the decoder mirrors them (the original Baler uses
# [200, 100, 50]).
hidden = [64, 32]
# Latent values per tile.
latent = 6
# Tile values per latent value, Baler's "compression ratio" of the network; when > 0 it sets
# latent = round(tile values / latent_ratio). (The archive's ratio is another thing: it counts
# residuals under the error bound and the model, and is always reported as measured.)
latent_ratio = 0.0
# Frames are cut into tiles of rows x cols over their last two axes, or bricks of
# [frames, rows, cols] of 3-d data; each tile is one sample. Tables always use one row per sample.
block = [8, 8]
# "leaky_relu", or "gdn": generalized divisive normalization in the encoder, its inverse in the
# decoder (Ballé et al.), run by the decoders in integer arithmetic.
activation = "leaky_relu"
# "global" (one min/max for the whole field) or "per_column" (tables are always per column).
normalization = "global"
# When `compress` trains its own model (no --model, no --force-model, a --abs / --rel bound):
# first train a few candidates briefly — this block and one twice as large, each with a narrow
# and a wide latent (tables: a few latent sizes) — compress a sample of the data with each, and
# keep the one that gives the smallest archive, or no model when none pays. The archive's notes
# list what was tried. false: use block and latent exactly as given.
search = true

[model.conv]
# Channels after each convolution (conv2d / conv3d); each layer divides the block by `stride`
# along every axis it convolves, so the block must be divisible by stride^layers.
channels = [8, 16]
kernel = 4
stride = 2

[training]
epochs = 200
batch_size = 64
learning_rate = 0.002
# "mse", "mse_l1" (plus l1_weight · mean |activation| over hidden layers and latent) or "swae"
# (plus swae_weight · the sliced-Wasserstein distance between latents and a standard normal).
loss = "mse"
l1_weight = 0.0
swae_weight = 0.01
# Random directions per batch for the sliced-Wasserstein distance.
swae_projections = 50
# Fraction of the tiles held out to watch for over-fitting.
validation_fraction = 0.1
# Stop after this many epochs without improvement (0 = never).
early_stopping_patience = 25
# Halve (lr_factor) the learning rate after this many epochs without improvement (0 = never).
lr_patience = 8
lr_factor = 0.5
min_learning_rate = 0.00001
# Same seed and data give the same model on the CPU.
seed = 0
# Stop training after this many seconds (0 = no limit).
max_seconds = 120.0
# Train on at most this many tiles, sampled evenly over the data (0 = all).
max_samples = 20000

[compression]
# Values per independently decodable chunk. Chunks are whole rows of the first axis; more rows per
# chunk predict better (fewer chunk edges: a 105 MB field of 256 x 256 frames compresses up to
# 17 % smaller with 2^21 than with 2^20), at about 70 bytes of memory per value of the chunks in
# work (one per thread, at most 2^22 values' worth when the input is read a slab at a time).
chunk_elements = 2097152
# zstd level of the lossless pass over each chunk (1-22), after Huffman coding of the codes;
# higher levels gain little there.
zstd_level = 3
# Predictors learned per chunk, where they beat the classic ones. Tables: a column order and small
# models that predict each column from those decoded before it (E from px, py, pz; pT from px,
# py …). Fields of floats: the finest interpolation pass with least-squares weights over 36
# neighbours. Fitting takes milliseconds; false (like --no-model) gives the classic archive.
learned = true
# Every chunk is decoded from its bytes and each value checked against the bound before the
# archive is written. The bytes are decoded to codes, which must be the encoder's; the values
# are then the encoder's own reconstruction (made with the decoder's arithmetic, and covered by
# the content hash every decode checks). true also reruns the decoder's sweep for each chunk:
# the same archive, about 10 % slower.
full_check = false
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_is_the_default() {
        let c: Config = toml::from_str(TEMPLATE).unwrap();
        assert_eq!(c, Config::default());
        c.validate().unwrap();
    }

    #[test]
    fn unknown_keys_and_bad_values_are_rejected() {
        assert!(toml::from_str::<Config>("[model]\nlatnt = 3\n").is_err());
        let err = toml::from_str::<Config>("[model]\nkind = \"conv9d\"\n").unwrap_err().to_string();
        assert!(err.contains(r#"model.kind = "conv9d": use "dense", "conv2d" or "conv3d""#), "{err}");
        let err = toml::from_str::<Config>("[training]\nloss = \"l2\"\n").unwrap_err().to_string();
        assert!(err.contains(r#"training.loss = "l2": use "mse", "mse_l1" or "swae""#), "{err}");
        let err = toml::from_str::<Config>("[model]\nactivation = \"relu\"\n").unwrap_err().to_string();
        assert!(err.contains(r#"model.activation = "relu": use "leaky_relu" or "gdn""#), "{err}");
        let c: Config = toml::from_str("[model]\nlatent = 3\n").unwrap();
        assert_eq!(c.model.latent, 3);
        assert_eq!(c.training, TrainingConfig::default());
    }

    /// Every spelling parses to its variant and serializes back to itself (the model file keeps
    /// the config as TOML, so these strings are part of its bytes).
    #[test]
    fn choices_round_trip_by_name() {
        fn check<T: Copy + std::fmt::Display + Serialize + std::str::FromStr + PartialEq>(all: &[T]) {
            for &v in all {
                assert_eq!(serde_json::to_value(v).unwrap(), v.to_string());
                assert!(v.to_string().parse::<T>().ok() == Some(v));
            }
        }
        check(ModelKind::ALL);
        check(Activation::ALL);
        check(Normalization::ALL);
        check(Loss::ALL);
        let c: Config = toml::from_str(
            "[model]\nkind = \"conv3d\"\nactivation = \"gdn\"\nnormalization = \"per_column\"\n\
             [training]\nloss = \"mse_l1\"\n",
        )
        .unwrap();
        assert_eq!(
            (c.model.kind, c.model.activation, c.model.normalization, c.training.loss),
            (ModelKind::Conv3d, Activation::Gdn, Normalization::PerColumn, Loss::MseL1)
        );
        let back = toml::to_string(&c).unwrap();
        assert!(back.contains("kind = \"conv3d\"") && back.contains("loss = \"mse_l1\""), "{back}");
    }
}
