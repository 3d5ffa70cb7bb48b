//! From a dataset to a trained model and an archive: tiling and normalization (the codec's
//! [`baler_codec::preprocess`]), training, and the bridge to the codec's compressor (the encoder runs here in f32; the decoder runs in the codec's
//! integer arithmetic, so the predictions the compressor relies on are the decoders' own).

use std::time::Instant;

use anyhow::{Result, bail};
use baler_codec::data::RowSource;
use baler_codec::encode::{AeModel, CompressOptions, Compressed, Streamed, compress, compress_rows};
use baler_codec::format::model_file::{read_model_file, write_model_file};
use baler_codec::layout::lattice;
use baler_codec::network::{FloatGdn, FloatLayer, quantize_decoder};
use baler_codec::preprocess::{dataset_tiles, normalization};
use baler_codec::{BoundSpec, Dataset, parse_model};
use serde::{Deserialize, Serialize};

use crate::config::{Config, Loss, ModelKind};
use crate::model::infer::{forward_f32, forward_on};
use crate::model::{DenseLayer, FloatNorm, dense_layers};
use crate::train::{EpochStats, train_autoencoder};

/// Everything a model file holds beside the integer decoder.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainingRecord {
    pub encoder: Vec<DenseLayer>,
    pub decoder: Vec<DenseLayer>,
    pub leaky_slope: f64,
    /// Tile over the lattice that one sample covers.
    pub tile: [usize; 3],
    /// Per stream [lo, hi] the network was trained with.
    pub norm: Vec<[f64; 2]>,
    pub table: bool,
    pub history: Vec<EpochStats>,
    pub stop_reason: String,
    pub best_epoch: usize,
    pub samples: usize,
    pub seconds: f64,
    pub source: String,
    pub config_toml: String,
    /// Written after the fields above, so model files from before it still load.
    #[serde(skip)]
    pub ext: RecordExt,
}

impl TrainingRecord {
    /// Why training stopped, in words: "all 200 epochs", "early stopping at epoch 80", …
    pub fn stopped(&self) -> String {
        if self.stop_reason == "epochs" {
            format!("all {} epochs", self.history.len())
        } else {
            self.stop_reason.clone()
        }
    }
}

/// What the record gained with the convolutional models and GDN.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RecordExt {
    /// The normalization after each encoder / decoder layer (empty: LeakyReLU everywhere).
    pub encoder_norms: Vec<Option<FloatNorm>>,
    pub decoder_norms: Vec<Option<FloatNorm>>,
    /// The model as configured, e.g. `conv2d channels [8, 16] kernel 4 stride 2, gdn`.
    pub model: String,
    /// The loss trained with, e.g. `mse`, `swae (weight 0.01, 50 projections)`.
    pub loss: String,
    /// Tile values per latent value asked for (`model.latent_ratio`; 0 when `latent` was given).
    pub requested_latent_ratio: f64,
}

impl TrainingRecord {
    /// Tile values per latent value of the network as built.
    pub fn latent_ratio(&self) -> f64 {
        let dim: usize = self.tile.iter().product();
        dim as f64 / self.encoder.last().map_or(1, |l| l.out_dim) as f64
    }
}

/// A trained model: the integer decoder's bytes (what archives embed or reference) plus its record.
#[derive(Clone, Debug)]
pub struct SavedModel {
    pub decoder_payload: Vec<u8>,
    pub record: TrainingRecord,
}

impl SavedModel {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut training = postcard::to_allocvec(&self.record).expect("record serializes");
        training.extend(postcard::to_allocvec(&self.record.ext).expect("record serializes"));
        write_model_file(&self.decoder_payload, &training)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let f = read_model_file(bytes)?;
        let decoder = parse_model(f.decoder)?;
        let bad = |e: postcard::Error| anyhow::anyhow!("training record: {e}");
        let (mut record, rest): (TrainingRecord, _) = postcard::take_from_bytes(f.training).map_err(bad)?;
        if !rest.is_empty() {
            record.ext = postcard::from_bytes(rest).map_err(bad)?;
        }
        check_record(&record, decoder.latent_dim(), decoder.output_dim())?;
        Ok(Self { decoder_payload: f.decoder.to_vec(), record })
    }

    pub fn hash(&self) -> [u8; 32] {
        baler_codec::model_hash(&self.decoder_payload)
    }

    /// What compressing and decoding with this model need, and no more: the float decoder layers
    /// (the integer decoder is what decodes) and the epoch history are dropped, how training
    /// stopped is kept in words. The hash is the same. For a model stored beside chunked data
    /// (the Zarr codec's configuration), where its bytes count in the ratio.
    pub fn for_compression(&self) -> Self {
        let mut record = self.record.clone();
        record.stop_reason = record.stopped();
        record.decoder.clear();
        record.ext.decoder_norms.clear();
        record.history.clear();
        Self { decoder_payload: self.decoder_payload.clone(), record }
    }
}

/// A model file comes from outside: its encoder must fit the decoder and the tile before the
/// compressor runs it (a mismatch would otherwise be an index panic deep in a matrix product).
fn check_record(r: &TrainingRecord, latent: usize, outputs: usize) -> Result<()> {
    let dim: usize = r.tile.iter().product();
    if dim == 0 || dim != outputs {
        bail!("invalid model: tile {:?} does not match the decoder's {outputs} outputs", r.tile);
    }
    let mut width = dim;
    for (i, l) in r.encoder.iter().enumerate() {
        if l.in_dim != width || l.weight.len() != l.in_dim * l.out_dim || l.bias.len() != l.out_dim {
            bail!("invalid model: encoder layer {i} has inconsistent sizes");
        }
        width = l.out_dim;
    }
    if r.encoder.is_empty() || width != latent {
        bail!("invalid model: the encoder gives {width} latents, the decoder takes {latent}");
    }
    let norms_fit = |layers: &[DenseLayer], norms: &[Option<FloatNorm>]| {
        norms.is_empty()
            || (norms.len() == layers.len()
                && layers.iter().zip(norms).all(|(l, n)| {
                    n.as_ref().is_none_or(|n| {
                        n.channels > 0
                            && l.out_dim % n.channels == 0
                            && n.beta.len() == n.channels
                            && n.gamma.len() == n.channels * n.channels
                    })
                }))
    };
    if !norms_fit(&r.encoder, &r.ext.encoder_norms) || !norms_fit(&r.decoder, &r.ext.decoder_norms) {
        bail!("invalid model: normalization sizes do not match the layers");
    }
    if r.norm.is_empty() || r.norm.iter().any(|[lo, hi]| !(lo.is_finite() && hi.is_finite())) {
        bail!("invalid model: missing or non-finite normalization");
    }
    if !r.leaky_slope.is_finite() {
        bail!("invalid model: LeakyReLU slope is not finite");
    }
    Ok(())
}

/// The tile one network sample covers: `block` over the last two axes of a field (a segment of
/// rows·cols for 1-d data), one whole row for a table; clamped to the data.
pub fn tile_for(ds: &Dataset, block: &[usize]) -> Result<[usize; 3]> {
    let shape: Vec<u64> = ds.shape().iter().map(|&d| d as u64).collect();
    let table = matches!(ds, Dataset::Table { .. });
    let lat = lattice(&shape, table)?;
    let t = if table {
        [1, lat[1], 1]
    } else {
        match (shape.len(), block) {
            (0 | 1, &[r, c]) => [r * c, 1, 1],
            (2, &[r, c]) => [r, c, 1],
            (_, &[r, c]) => [1, r, c],
            (3.., &[f, r, c]) => [f, r, c],
            (n, _) => bail!("model.block {block:?} needs data with at least 3 dimensions; the input has {n}"),
        }
    };
    Ok([0, 1, 2].map(|a| t[a].min(lat[a]).max(1)))
}

/// Trains the dense autoencoder on `ds` and exports its decoder to integers.
pub fn train_model(
    ds: &Dataset,
    cfg: &Config,
    fill: Option<f64>,
    source: &str,
    on_epoch: &mut dyn FnMut(&EpochStats),
) -> Result<SavedModel> {
    cfg.validate().map_err(anyhow::Error::msg)?;
    let tile = tile_for(ds, &cfg.model.block)?;
    let norm = normalization(ds, fill);
    let (samples, n) = dataset_tiles(ds, tile, &norm, fill, cfg.training.max_samples)?;
    let dim: usize = tile.iter().product();
    if n < 2 {
        bail!("too little data to train on: {n} tile(s) of {tile:?}");
    }
    let mut tc = cfg.train_config();
    if cfg.model.latent_ratio > 0.0 {
        tc.latent = ((dim as f64 / cfg.model.latent_ratio).round() as usize).max(1);
    }
    // A 2-d block of a 2-d field is [rows, cols, 1] on the lattice: the same values as [1, rows, cols].
    tc.tile = Some(if tile[2] == 1 && tile[0] > 1 { [1, tile[0], tile[1]] } else { tile });
    let started = Instant::now();
    let ae = train_autoencoder(&samples, n, dim, &tc, on_epoch)?;
    let seconds = started.elapsed().as_secs_f64();
    let (encoder, encoder_norms) = dense_layers(&ae.encoder);
    let (decoder, decoder_norms) = dense_layers(&ae.decoder);
    // Calibrate the fixed-point scales on the latents of (up to 4096) training tiles.
    let calib_rows = n.min(4096);
    let calib =
        forward_f32(&encoder, &encoder_norms, ae.leaky_slope, &samples[..calib_rows * dim], calib_rows);
    let layers: Vec<FloatLayer> = ae
        .decoder
        .iter()
        .map(|l| FloatLayer {
            op: l.op,
            weight: &l.weight,
            bias: &l.bias,
            gdn: l.norm.as_ref().map(|g| FloatGdn { beta: &g.beta, gamma: &g.gamma }),
        })
        .collect();
    let decoder_payload = quantize_decoder(&layers, ae.leaky_slope, &calib)?.to_bytes();
    let t = &cfg.training;
    let ext = RecordExt {
        encoder_norms: if tc.gdn { encoder_norms } else { Vec::new() },
        decoder_norms: if tc.gdn { decoder_norms } else { Vec::new() },
        model: describe_model(cfg),
        loss: match t.loss {
            Loss::MseL1 => format!("mse_l1 (weight {})", t.l1_weight),
            Loss::Swae => format!("swae (weight {}, {} projections)", t.swae_weight, t.swae_projections),
            Loss::Mse => t.loss.to_string(),
        },
        requested_latent_ratio: cfg.model.latent_ratio,
    };
    Ok(SavedModel {
        decoder_payload,
        record: TrainingRecord {
            encoder,
            decoder,
            leaky_slope: ae.leaky_slope,
            tile,
            norm,
            table: matches!(ds, Dataset::Table { .. }),
            history: ae.history,
            stop_reason: ae.stop_reason,
            best_epoch: ae.best_epoch,
            samples: n,
            seconds,
            source: source.to_string(),
            config_toml: toml::to_string(cfg).unwrap_or_default(),
            ext,
        },
    })
}

/// The model as configured, in one line.
pub fn describe_model(cfg: &Config) -> String {
    let m = &cfg.model;
    let layers = match m.kind {
        ModelKind::Dense => format!("hidden {:?}", m.hidden),
        ModelKind::Conv2d | ModelKind::Conv3d => {
            format!("channels {:?} kernel {} stride {}", m.conv.channels, m.conv.kernel, m.conv.stride)
        }
    };
    format!("{} {layers}, {}, block {:?}", m.kind, m.activation, m.block)
}

/// How the archive gets its model.
#[derive(Clone, Copy)]
pub enum ModelMode<'m> {
    /// Classic predictors only.
    None,
    /// Model inside the archive (offline mode).
    Embed(&'m SavedModel),
    /// Model named by hash (online mode).
    Reference(&'m SavedModel),
}

/// What to compress and how: the dataset, the bound (or PSNR target), the fill value, the
/// configuration (chunking, zstd level, the device the encoder runs on), the model and the notes.
#[derive(Clone)]
pub struct CompressRequest<'a> {
    pub dataset: &'a Dataset,
    pub target: Target,
    /// Values equal to this are "no data": kept exactly, left out of ranges.
    pub fill_value: Option<f64>,
    pub config: &'a Config,
    pub model: ModelMode<'a>,
    /// Free text recorded in the archive.
    pub notes: Vec<String>,
    /// Keep the model even where classic predictors alone would give a smaller archive.
    pub force_model: bool,
}

/// The error bound asked for: a bound, or a PSNR target the loosest range-relative bound reaching it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Target {
    Bound(BoundSpec),
    /// Target PSNR in dB (per column for tables, the worst column counting).
    Psnr(f64),
}

impl<'a> CompressRequest<'a> {
    /// A request at `bound` with classic predictors only, no fill value, no notes.
    pub fn new(dataset: &'a Dataset, target: impl Into<Target>, config: &'a Config) -> Self {
        Self {
            dataset,
            target: target.into(),
            fill_value: None,
            config,
            model: ModelMode::None,
            notes: Vec::new(),
            force_model: false,
        }
    }

    pub fn fill_value(self, fill_value: Option<f64>) -> Self {
        Self { fill_value, ..self }
    }

    pub fn model(self, model: ModelMode<'a>) -> Self {
        Self { model, ..self }
    }

    pub fn notes(self, notes: Vec<String>) -> Self {
        Self { notes, ..self }
    }

    pub fn force_model(self, force_model: bool) -> Self {
        Self { force_model, ..self }
    }
}

impl Target {
    /// A bound or PSNR target as the user gave it (`mode`: `abs`, `rel` or `psnr`), checked: a
    /// bound finite and > 0, a PSNR between 0 and 400 dB. The CLI and the Python package read
    /// theirs here.
    pub fn from_user(mode: &str, value: f64) -> Result<Target> {
        match mode {
            "psnr" if value > 0.0 && value < 400.0 => Ok(Target::Psnr(value)),
            "psnr" => bail!("psnr {value}: give a target between 0 and 400 dB"),
            "abs" | "rel" if !(value > 0.0 && value.is_finite()) => {
                bail!("error bound {value} must be a finite number > 0")
            }
            "abs" => Ok(Target::Bound(BoundSpec::Abs(value))),
            "rel" => Ok(Target::Bound(BoundSpec::Rel(value))),
            _ => bail!("unknown bound mode {mode:?}: abs, rel or psnr"),
        }
    }
}

impl From<BoundSpec> for Target {
    fn from(b: BoundSpec) -> Self {
        Target::Bound(b)
    }
}

/// Compresses under the request's bound, or to its PSNR target (see [`compress_to_psnr`]).
pub fn compress_dataset(req: &CompressRequest<'_>) -> Result<Compressed> {
    match req.target {
        Target::Bound(bound) => compress_at(req, bound, req.notes.clone()),
        Target::Psnr(_) => compress_to_psnr(req),
    }
}

/// The codec's options for `bound` under `cfg`.
fn options(cfg: &Config, bound: BoundSpec, fill_value: Option<f64>, notes: Vec<String>) -> CompressOptions {
    CompressOptions {
        bound,
        fill_value,
        chunk_elements: cfg.compression.chunk_elements,
        zstd_level: cfg.compression.zstd_level,
        notes,
        force_model: false,
        learned: cfg.compression.learned,
        full_check: cfg.compression.full_check,
    }
}

/// Compresses an input read a slab of rows at a time, with classic predictors, under `bound`:
/// the chunk sections go to `spill`, the archive is `head`, those sections, `tail` (the same
/// bytes as [`compress_dataset`] on the same values). `progress(rows done, rows)`.
pub fn compress_rows_at(
    rows: &mut dyn RowSource,
    bound: BoundSpec,
    fill_value: Option<f64>,
    cfg: &Config,
    notes: Vec<String>,
    spill: &mut dyn std::io::Write,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Streamed> {
    Ok(compress_rows(rows, &options(cfg, bound, fill_value, notes), spill, progress)?)
}

/// Compresses under `bound` with `notes` (the request's target aside).
fn compress_at(req: &CompressRequest<'_>, bound: BoundSpec, notes: Vec<String>) -> Result<Compressed> {
    let (ds, cfg) = (req.dataset, req.config);
    let opts = CompressOptions { force_model: req.force_model, ..options(cfg, bound, req.fill_value, notes) };
    let (model, embed) = match req.model {
        ModelMode::None => return Ok(compress(ds, &opts, None)?),
        ModelMode::Embed(m) => (m, true),
        ModelMode::Reference(m) => (m, false),
    };
    let r = &model.record;
    let table = matches!(ds, Dataset::Table { .. });
    if r.table != table {
        bail!("the model was trained on a {}, the input is a {}", kind(r.table), kind(table));
    }
    let decoder = parse_model(&model.decoder_payload)?;
    let encode = |input: &[f32], n: usize| {
        forward_on(&cfg.device, &r.encoder, &r.ext.encoder_norms, r.leaky_slope, input, n).unwrap_or_else(
            |e| {
                eprintln!("warning: encoding on the GPU failed ({e:#}); encoding on the CPU");
                forward_f32(&r.encoder, &r.ext.encoder_norms, r.leaky_slope, input, n)
            },
        )
    };
    let ae = AeModel {
        decoder,
        payload: model.decoder_payload.clone(),
        tile: r.tile,
        norm: r.norm.clone(),
        embed,
        encode: &encode,
    };
    let shape: Vec<u64> = ds.shape().iter().map(|&d| d as u64).collect();
    let lat = lattice(&shape, table)?;
    if (0..3).any(|a| r.tile[a] > lat[a]) {
        bail!("the model's tile {:?} is larger than the data's {:?}", r.tile, lat);
    }
    Ok(compress(ds, &opts, Some(&ae))?)
}

fn kind(table: bool) -> &'static str {
    if table { "table" } else { "field" }
}

/// Compresses to a target PSNR (per column for tables, the worst column counting): starts from
/// the range-relative bound that uniform quantization error would give, √3·10^(−PSNR/20), checks
/// the PSNR actually reached and tightens until it is met (at most 6 tries). A request with a
/// bound instead of a PSNR target is compressed under that bound.
pub fn compress_to_psnr(req: &CompressRequest<'_>) -> Result<Compressed> {
    let Target::Psnr(psnr) = req.target else {
        return compress_dataset(req);
    };
    let ds = req.dataset;
    let mut rel = 3f64.sqrt() * 10f64.powf(-psnr / 20.0);
    let external = match req.model {
        ModelMode::Reference(m) => Some(m.decoder_payload.as_slice()),
        _ => None,
    };
    for _ in 0..6 {
        let mut attempt_notes = req.notes.clone();
        attempt_notes.push(format!("target PSNR {psnr} dB: bound {rel:.4e} × range"));
        let c = compress_at(req, BoundSpec::Rel(rel), attempt_notes)?;
        let metrics = crate::metrics::evaluate(ds, &baler_codec::decode(&c.bytes, external)?)?;
        let reached = match ds {
            Dataset::Table { .. } => metrics[1..].iter().map(|m| m.psnr_db).fold(f64::INFINITY, f64::min),
            Dataset::Field(_) => metrics[0].psnr_db,
        };
        if reached >= psnr || reached.is_nan() {
            return Ok(c);
        }
        rel *= 10f64.powf((reached - psnr) / 20.0) * 0.98;
    }
    bail!("could not reach PSNR {psnr} dB")
}

#[cfg(test)]
mod tests {
    use super::*;
    use baler_codec::network::{IntDecoder, IntLayer, to_bytes};

    fn model(encoder_in: usize) -> SavedModel {
        let dec = IntDecoder {
            latent_frac_bits: 8,
            leaky_num: 41,
            layers: vec![IntLayer {
                in_dim: 2,
                out_dim: 4,
                weights: vec![1; 8],
                shifts: vec![8; 4],
                bias: vec![0; 4],
            }],
            norms: vec![],
        };
        SavedModel {
            decoder_payload: to_bytes(&dec),
            record: TrainingRecord {
                encoder: vec![DenseLayer {
                    in_dim: encoder_in,
                    out_dim: 2,
                    weight: vec![0.1; encoder_in * 2],
                    bias: vec![0.0; 2],
                }],
                decoder: Vec::new(),
                leaky_slope: 0.01,
                tile: [1, 2, 2],
                norm: vec![[0.0, 1.0]],
                table: false,
                history: Vec::new(),
                stop_reason: "epochs".into(),
                best_epoch: 1,
                samples: 1,
                seconds: 0.0,
                source: "test".into(),
                config_toml: String::new(),
                ext: RecordExt::default(),
            },
        }
    }

    fn epoch(epoch: usize) -> EpochStats {
        EpochStats { epoch, train_loss: 0.1, val_loss: None, learning_rate: 1e-3, seconds: 0.0 }
    }

    #[test]
    fn why_training_stopped_names_the_epoch_count() {
        let mut m = model(4);
        m.record.history = (1..=3).map(epoch).collect();
        assert_eq!(m.record.stopped(), "all 3 epochs");
        m.record.stop_reason = "time limit".into();
        assert_eq!(m.record.stopped(), "time limit");
    }

    #[test]
    fn model_files_round_trip_and_inconsistent_ones_are_refused() {
        let good = model(4);
        let back = SavedModel::from_bytes(&good.to_bytes()).unwrap();
        assert_eq!(back.decoder_payload, good.decoder_payload);
        let err = SavedModel::from_bytes(&model(5).to_bytes()).unwrap_err().to_string();
        assert!(err.contains("encoder layer 0"), "{err}");
        let mut no_norm = model(4);
        no_norm.record.norm.clear();
        assert!(SavedModel::from_bytes(&no_norm.to_bytes()).is_err());
        // Model files written before the record's extension existed still load.
        let old = write_model_file(&good.decoder_payload, &postcard::to_allocvec(&good.record).unwrap());
        let back = SavedModel::from_bytes(&old).unwrap();
        assert!(back.record.ext.model.is_empty() && back.record.ext.encoder_norms.is_empty());
        // The extension round-trips, and normalizations that do not fit the layers are refused.
        let mut ext = model(4);
        ext.record.ext.model = "conv2d".into();
        assert_eq!(SavedModel::from_bytes(&ext.to_bytes()).unwrap().record.ext.model, "conv2d");
        let norm = FloatNorm { channels: 3, beta: vec![1.0; 3], gamma: vec![0.0; 9], inverse: false };
        ext.record.ext.encoder_norms = vec![Some(norm)];
        assert!(SavedModel::from_bytes(&ext.to_bytes()).unwrap_err().to_string().contains("normalization"));
    }

    #[test]
    fn a_model_for_compression_keeps_its_hash_and_what_compressing_needs() {
        let mut m = model(4);
        m.record.history = (1..=50).map(epoch).collect();
        m.record.decoder = m.record.encoder.clone();
        let lean = SavedModel::from_bytes(&m.for_compression().to_bytes()).unwrap();
        assert_eq!(lean.hash(), m.hash());
        assert!(lean.to_bytes().len() < m.to_bytes().len());
        assert!(lean.record.history.is_empty() && lean.record.decoder.is_empty());
        assert_eq!(lean.record.stopped(), "all 50 epochs");
        assert_eq!(lean.record.encoder.len(), m.record.encoder.len());
        // The same archive from either.
        let ds = Dataset::Field(baler_codec::Array {
            dtype: baler_codec::DType::F32,
            shape: vec![2, 4, 4],
            values: baler_codec::Values::Float((0..32).map(|i| (i as f64 * 0.3).sin()).collect()),
        });
        let cfg = Config::default();
        let archive = |m: &SavedModel| {
            let req = CompressRequest::new(&ds, BoundSpec::Abs(1e-2), &cfg)
                .model(ModelMode::Reference(m))
                .force_model(true);
            compress_dataset(&req).unwrap().bytes
        };
        assert_eq!(archive(&lean), archive(&m));
    }
}
