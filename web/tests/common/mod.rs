//! Shared by the wasm test binaries: the golden archives and a CPU reference decode.

use std::rc::Rc;

use baler_codec::{Archive, HeadLen, npy};
use baler_web::decode::{DecodeSummary, Engine, InOrder, empty_output};

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

/// Decodes through the viewer's path: the head alone opens the archive, then each chunk's section
/// is decoded from its own bytes, in order, into the viewer's chunk store; returns the `.npy`
/// bytes that its download saves, and what ran.
pub async fn viewer_decode(
    bytes: &[u8],
    gpu: Option<Rc<baler_codec::network::gpu::GpuDecoder>>,
) -> Result<(Vec<u8>, DecodeSummary), baler_codec::CodecError> {
    let len = bytes.len() as u64;
    let head = match baler_codec::head_len(&bytes[..bytes.len().min(64)], len)? {
        HeadLen::Complete(n) => n,
        HeadLen::AtLeast(_) => match baler_codec::head_len(bytes, len)? {
            HeadLen::Complete(n) => n,
            HeadLen::AtLeast(n) => panic!("the whole file is not enough: {n}"),
        },
    };
    let archive = Rc::new(Archive::open_head(&bytes[..head as usize], len, None)?);
    let mut out = empty_output(&archive, usize::MAX);
    let mut calls = 0;
    let engine = Engine::Here(gpu);
    let mut chunks = InOrder::new(&archive, &engine, |i| {
        let r = archive.chunk_section_range(i).expect("a chunk");
        std::future::ready(Ok(Rc::new(bytes[r.start as usize..r.end as usize].to_vec())))
    });
    while let Some((i, chunk)) = chunks.next().await? {
        assert_eq!(i, calls);
        calls += 1;
        out.insert(i, chunk.into_held(archive.meta.table), &(0..0));
    }
    let summary = chunks.finish()?;
    assert_eq!(calls, archive.chunk_count());
    let mut npy = out.npy_header();
    for i in 0..out.chunk_count() {
        let mut part = Vec::new();
        npy.extend_from_slice(out.chunk(i).expect("every chunk held").bytes(&mut part));
    }
    Ok((npy, summary))
}
