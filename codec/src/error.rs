//! Errors of the codec. Every message says what is wrong with the archive or the request in one line.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum CodecError {
    #[error("not a .baler archive (magic bytes missing)")]
    NotAnArchive,
    #[error(
        "archive format version {found} is newer than this decoder supports (up to {supported}): update baler"
    )]
    FutureVersion { found: u16, supported: u16 },
    #[error("archive is truncated: {0}")]
    Truncated(String),
    #[error("archive is corrupt: {0}")]
    Corrupt(String),
    #[error(
        "archive needs model {hash} (online mode), which was not given: pass the model file with --model"
    )]
    ModelMissing { hash: String },
    #[error("model has hash {found}, but the archive needs model {expected}")]
    ModelMismatch { expected: String, found: String },
    #[error("invalid model: {0}")]
    InvalidModel(String),
    #[error("invalid request: {0}")]
    InvalidInput(String),
    #[error("decoder backend failed: {0}")]
    Backend(String),
    /// Reading the input failed (the message names the input).
    #[error("{0}")]
    Input(String),
    #[error("verification failed after compression: {0}")]
    Verification(String),
}

pub type Result<T> = std::result::Result<T, CodecError>;

pub(crate) fn corrupt<T>(msg: impl Into<String>) -> Result<T> {
    Err(CodecError::Corrupt(msg.into()))
}
