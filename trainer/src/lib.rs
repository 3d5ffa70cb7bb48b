//! baler-train: training, compression pipeline, file formats and the CLI behind `baler-train`.

pub mod cmd;
pub mod config;
/// File formats live in their own crate (no burn), so fuzzers and the Python package use them too.
pub use baler_io as io;
pub mod device;
pub mod job;
pub mod linear_gate;
pub mod metrics;
pub mod model;
pub mod pipeline;
pub mod plot;
pub mod rng;
pub mod search;
pub mod train;
