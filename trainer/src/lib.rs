//! baler-train: training, compression pipeline, file formats and the CLI behind `baler-train`.

pub mod bench;
pub mod cli;
pub mod config;
pub mod demo;
pub mod device;
pub mod io;
pub mod metrics;
pub mod net;
pub mod pipeline;
pub mod plot;
pub mod search;
pub mod train;
pub mod zoo;
