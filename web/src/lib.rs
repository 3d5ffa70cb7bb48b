//! Browser viewer for `.baler` archives: built in its own issue. The crate exists so the workspace shape is fixed.
pub use baler_codec as codec;
