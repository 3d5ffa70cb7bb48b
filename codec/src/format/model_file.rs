//! Model files (`.bmodel`): the container with its own magic, holding the integer decoder (the exact
//! bytes online-mode archives name by hash) and the trainer's data, which decoders ignore.

use crate::error::{CodecError, Result};
use crate::format::container::{ContainerWriter, MODEL_MAGIC, SectionKind, read_sections_with_magic};

pub struct ModelFile<'a> {
    /// Serialized [`crate::network::int_decoder::IntDecoder`]: what archives embed or reference.
    pub decoder: &'a [u8],
    /// Opaque to the codec.
    pub training: &'a [u8],
}

pub fn write_model_file(decoder: &[u8], training: &[u8]) -> Vec<u8> {
    let mut w = ContainerWriter::with_magic(MODEL_MAGIC);
    w.push(SectionKind::Model, decoder);
    w.push(SectionKind::Training, training);
    w.finish()
}

pub fn read_model_file(bytes: &[u8]) -> Result<ModelFile<'_>> {
    // The container's errors speak of an archive; these are about a model file.
    let sections = read_sections_with_magic(bytes, MODEL_MAGIC).map_err(|e| {
        CodecError::InvalidModel(match e {
            CodecError::NotAnArchive => "not a baler model file (magic bytes missing)".into(),
            CodecError::Truncated(m) => format!("the model file is truncated: {m}"),
            CodecError::Corrupt(m) => format!("the model file is corrupt: {m}"),
            CodecError::FutureVersion { found, supported } => format!(
                "model file format version {found} is newer than this decoder supports (up to {supported}): update baler"
            ),
            e => e.to_string(),
        })
    })?;
    match sections.as_slice() {
        [d, t] if d.kind == SectionKind::Model && t.kind == SectionKind::Training => {
            Ok(ModelFile { decoder: d.payload, training: t.payload })
        }
        _ => Err(CodecError::InvalidModel("model file sections are not decoder + training".into())),
    }
}
