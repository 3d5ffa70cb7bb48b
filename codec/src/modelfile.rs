//! Model files (`.bmodel`): the container with its own magic, holding the integer decoder (the exact
//! bytes online-mode archives name by hash) and the trainer's data, which decoders ignore.

use crate::container::{ContainerWriter, MODEL_MAGIC, SectionKind, read_sections_with_magic};
use crate::error::{CodecError, Result};

pub struct ModelFile<'a> {
    /// Serialized [`crate::model::IntDecoder`]: what archives embed or reference.
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
    let sections = read_sections_with_magic(bytes, MODEL_MAGIC).map_err(|e| match e {
        CodecError::NotAnArchive => {
            CodecError::InvalidModel("not a baler model file (magic bytes missing)".into())
        }
        e => e,
    })?;
    match sections.as_slice() {
        [d, t] if d.kind == SectionKind::Model && t.kind == SectionKind::Training => {
            Ok(ModelFile { decoder: d.payload, training: t.payload })
        }
        _ => Err(CodecError::InvalidModel("model file sections are not decoder + training".into())),
    }
}
