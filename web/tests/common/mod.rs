//! Shared by the wasm test binaries: the golden archives and a CPU reference decode.

use baler_codec::{Archive, npy};
use baler_web::decode::{DecodeSummary, decode_into, empty_output};

pub const GOLDEN: [(&str, &[u8]); 10] = [
    ("pattern_autoencoder", include_bytes!("../../../tests/golden/pattern_autoencoder_rel1e-3.baler")),
    ("field_f32_nan", include_bytes!("../../../tests/golden/field_f32_nan_rel1e-3.baler")),
    ("table_int_float", include_bytes!("../../../tests/golden/table_int_float_rel1e-2.baler")),
    ("hzz_table_v2", include_bytes!("../../../tests/golden/hzz_table_v2_rel1e-3.baler")),
    ("wave_interp_v2", include_bytes!("../../../tests/golden/wave_interp_v2_rel1e-2.baler")),
    ("wave_feedback_v2", include_bytes!("../../../tests/golden/wave_feedback_v2_rel1e-2.baler")),
    ("wave_levelwise_v2", include_bytes!("../../../tests/golden/wave_levelwise_v2_rel1e-2.baler")),
    ("wave_levels_v2", include_bytes!("../../../tests/golden/wave_levels_v2_rel1e-2.baler")),
    ("conv2d_gdn_v2", include_bytes!("../../../tests/golden/conv2d_gdn_v2_rel1e-3.baler")),
    ("conv3d_gdn_v2", include_bytes!("../../../tests/golden/conv3d_gdn_v2_rel1e-3.baler")),
];

/// The `.npy` bytes of the codec's one-shot decode (what `baler-train decompress` writes).
pub fn reference_npy(bytes: &[u8]) -> Vec<u8> {
    npy::to_npy(&baler_codec::decode(bytes, None).expect("reference decode"))
}

/// Decodes through the viewer's streaming path; returns its `.npy` bytes and what ran.
pub async fn viewer_decode(
    bytes: &[u8],
    gpu: Option<&baler_codec::network::gpu::GpuDecoder>,
) -> Result<(Vec<u8>, DecodeSummary), baler_codec::CodecError> {
    let archive = Archive::open(bytes, None)?;
    let mut out = empty_output(&archive);
    let mut calls = 0;
    let summary = decode_into(&archive, gpu, &mut out, |_, done, total| {
        calls += 1;
        assert!(done <= total);
        true
    })
    .await?;
    assert_eq!(calls, archive.chunk_count());
    Ok((out.npy_bytes().to_vec(), summary))
}
