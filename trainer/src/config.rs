//! `baler.toml`: every option with its default. `baler-train new` writes [`TEMPLATE`].

use serde::{Deserialize, Serialize};

use crate::train::TrainConfig;

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
    /// Only "dense" so far (Baler's AE); conv models come with their own issue.
    pub kind: String,
    /// Encoder hidden widths; the decoder mirrors them.
    pub hidden: Vec<usize>,
    pub latent: usize,
    /// Frames are cut into tiles of `block` = [rows, cols] over their last two axes (1-d data:
    /// segments of rows·cols); tables always use one row per sample.
    pub block: [usize; 2],
    /// "global" (one min/max for a field) or "per_column" (tables always use per column).
    pub normalization: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainingConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub l1_weight: f64,
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
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            kind: "dense".into(),
            hidden: vec![64, 32],
            latent: 6,
            block: [8, 8],
            normalization: "global".into(),
        }
    }
}

impl Default for TrainingConfig {
    fn default() -> Self {
        Self {
            epochs: 200,
            batch_size: 64,
            learning_rate: 2e-3,
            l1_weight: 0.0,
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
        Self { chunk_elements: 1 << 20, zstd_level: 3 }
    }
}

impl Config {
    pub fn validate(&self) -> Result<(), String> {
        let m = &self.model;
        if m.kind != "dense" {
            return Err(format!("model.kind = \"{}\": only \"dense\" is implemented", m.kind));
        }
        if m.latent == 0 || m.hidden.contains(&0) || m.block.contains(&0) {
            return Err("model.latent, model.hidden and model.block must be positive".into());
        }
        if !["global", "per_column"].contains(&m.normalization.as_str()) {
            return Err(format!(
                "model.normalization = \"{}\": use \"global\" or \"per_column\"",
                m.normalization
            ));
        }
        let t = &self.training;
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
        if !(1..=22).contains(&self.compression.zstd_level) || self.compression.chunk_elements == 0 {
            return Err("compression: zstd_level in 1..=22 and chunk_elements ≥ 1 are required".into());
        }
        Ok(())
    }

    pub fn train_config(&self) -> TrainConfig {
        let t = &self.training;
        TrainConfig {
            hidden: self.model.hidden.clone(),
            latent: self.model.latent,
            epochs: t.epochs,
            batch_size: t.batch_size,
            learning_rate: t.learning_rate,
            l1_weight: t.l1_weight,
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
# Baler's dense autoencoder. The decoder half is stored in the archive (offline mode) as int8
# weights, so every weight costs one byte of the honest ratio: keep it small for small files.
kind = "dense"
# Encoder hidden widths; the decoder mirrors them (the original Baler uses [200, 100, 50]).
hidden = [64, 32]
# Latent values per tile.
latent = 6
# Frames are cut into tiles of rows x cols over their last two axes; each tile is one sample.
# Tables always use one row per sample.
block = [8, 8]
# "global" (one min/max for the whole field) or "per_column" (tables are always per column).
normalization = "global"

[training]
epochs = 200
batch_size = 64
learning_rate = 0.002
# Weight of the L1 penalty on hidden and latent activations (0 = plain MSE).
l1_weight = 0.0
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
# Values per independently decodable chunk.
chunk_elements = 1048576
# zstd level of the lossless pass over each chunk (1-22), after Huffman coding of the codes;
# higher levels gain little there.
zstd_level = 3
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
        let c: Config = toml::from_str("[model]\nkind = \"conv9d\"\n").unwrap();
        assert!(c.validate().unwrap_err().contains("conv9d"));
        let c: Config = toml::from_str("[model]\nlatent = 3\n").unwrap();
        assert_eq!(c.model.latent, 3);
        assert_eq!(c.training, TrainingConfig::default());
    }
}
