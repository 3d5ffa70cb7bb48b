//! The viewer's decode path under Node (wasm-bindgen-test's default runner): the same `.npy`
//! bytes as the codec's one-shot decode, streaming chunk by chunk, and clean errors on damage.
#![cfg(target_arch = "wasm32")]

mod common;

use wasm_bindgen_test::wasm_bindgen_test;

#[wasm_bindgen_test]
async fn golden_archives_decode_to_the_reference_bytes() {
    for (name, bytes) in common::GOLDEN {
        let (npy, summary) =
            common::viewer_decode(bytes, None).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(npy, common::reference_npy(bytes), "{name}");
        assert!(!summary.on_gpu);
        if name == "pattern_autoencoder" {
            assert!(summary.network_tiles > 0, "the autoencoder golden archive uses the network");
        }
    }
}

#[wasm_bindgen_test]
async fn damaged_archives_give_errors() {
    let (_, bytes) = common::GOLDEN[0];
    assert!(common::viewer_decode(&bytes[..bytes.len() / 2], None).await.is_err());
    let mut flipped = bytes.to_vec();
    let at = flipped.len() - 40;
    flipped[at] ^= 0x20;
    assert!(common::viewer_decode(&flipped, None).await.is_err());
    let err = common::viewer_decode(b"hello, not an archive", None).await.expect_err("an error");
    assert!(err.to_string().contains("not a .baler archive"), "{err}");
}
