//! Golden archives: files written by earlier versions must keep decoding to the same values.
//! The expected hashes live here, not only inside the archives, so a decoder that changed its
//! output and its hash check together would still be caught.

use std::path::Path;

use baler_codec::format::metadata::hex;
use baler_codec::hash::content_hash;
use baler_codec::{Archive, DType, Dataset};

struct Golden {
    file: &'static str,
    shape: &'static [usize],
    dtype: DType,
    hash: &'static str,
    /// Format version that wrote it.
    version: u16,
}

const GOLDEN: &[Golden] = &[
    Golden {
        file: "field_f32_nan_rel1e-3.baler",
        shape: &[6, 12, 16],
        dtype: DType::F32,
        hash: "8f4cb4663fde145d44ccc03aaf9ff08204d46be84d2aa9f5a249863096ddf43e",
        version: 1,
    },
    Golden {
        file: "table_int_float_rel1e-2.baler",
        shape: &[200, 4],
        dtype: DType::I64,
        hash: "543273890823117603264adc6f03341a3f341e6389f3484bacf5a11c871e4293",
        version: 1,
    },
    Golden {
        file: "pattern_autoencoder_rel1e-3.baler",
        shape: &[2, 32, 32],
        dtype: DType::F64,
        hash: "0f9868bb293b6c4650f9310d8950856bf2a202e6141869b7e6f9d0ee5f76c35f",
        version: 1,
    },
    // `baler-train compress ../shared/data/hzz_baler.npz --rel 1e-3 --no-model`: symbol coder 2.
    Golden {
        file: "hzz_table_v2_rel1e-3.baler",
        shape: &[3825, 5],
        dtype: DType::F64,
        hash: "68731e234408eb1623919a0f1ef3fe6426ce80d8f9781133369cfa9748d27b8a",
        version: 2,
    },
    // `node tests/browser/make-field.mjs f.npy 12 48 40`, then `compress f.npy --rel 1e-2
    // --no-model`: the linear interpolation predictor.
    Golden {
        file: "wave_interp_v2_rel1e-2.baler",
        shape: &[12, 48, 40],
        dtype: DType::F32,
        hash: "af06e231291bf0e59f184f229cfad8ca40c2db28d9356ad381197e25f28a1881",
        version: 2,
    },
    // The same field and command after the feedback predictor landed: it wins there.
    Golden {
        file: "wave_feedback_v2_rel1e-2.baler",
        shape: &[12, 48, 40],
        dtype: DType::F32,
        hash: "c82e8c8316ebdb2a5bcec56a3e7ee86a7f8c25dbc774cc76eabb924affabad6c",
        version: 2,
    },
    // Again the same field and command, after level-wise steps landed.
    Golden {
        file: "wave_levelwise_v2_rel1e-2.baler",
        shape: &[12, 48, 40],
        dtype: DType::F32,
        hash: "aaecff4f239a92d9c5982f741634698ac8dee5af32bc6da876a2d3de21ffbe31",
        version: 2,
    },
    // Again the same field and command, after symbol coder 3 (tables per level) landed.
    Golden {
        file: "wave_levels_v2_rel1e-2.baler",
        shape: &[12, 48, 40],
        dtype: DType::F32,
        hash: "aaecff4f239a92d9c5982f741634698ac8dee5af32bc6da876a2d3de21ffbe31",
        version: 2,
    },
    // Model format 2: convolutional decoders with inverse GDN, written by
    // `BALER_WRITE_GOLDEN=DIR cargo test --release -p baler-train --test models` at the commit
    // that added them (c511e82; later encoder changes choose tiles differently).
    Golden {
        file: "conv2d_gdn_v2_rel1e-3.baler",
        shape: &[4, 64, 64],
        dtype: DType::F64,
        hash: "9c62f3214d7285b01c7843db0e491960acedd7949769a6ff8fe8fd2d778a2053",
        version: 2,
    },
    Golden {
        file: "conv3d_gdn_v2_rel1e-3.baler",
        shape: &[16, 64, 64],
        dtype: DType::F64,
        hash: "4ba6e9168779b81e31226d0eee3b51c773d42432a072cf6cbe8aafa792680d1d",
        version: 2,
    },
    // Format 3 (content hash XXH3-128): the wave field and command of the v2 goldens again;
    // the same values as `wave_levels_v2_rel1e-2.baler`.
    Golden {
        file: "wave_levels_v3_rel1e-2.baler",
        shape: &[12, 48, 40],
        dtype: DType::F32,
        hash: "aaecff4f239a92d9c5982f741634698ac8dee5af32bc6da876a2d3de21ffbe31",
        version: 3,
    },
    // Format 4 (the content hash binds the layout too): the same field and command again.
    Golden {
        file: "wave_levels_v4_rel1e-2.baler",
        shape: &[12, 48, 40],
        dtype: DType::F32,
        hash: "aaecff4f239a92d9c5982f741634698ac8dee5af32bc6da876a2d3de21ffbe31",
        version: 4,
    },
    // Format 5, predictor 18 (learned column models): `python3 scripts/hep-tables.py
    // ../shared/data/uproot-HZZ.root DIR` (one row per muon: px, py, pz, E, pT, η, φ, charge,
    // isolation), then `baler-train compress DIR/muons.npz --rel 1e-3`.
    Golden {
        file: "hep_muons_columns_v5_rel1e-3.baler",
        shape: &[3825, 9],
        dtype: DType::F32,
        hash: "f81f88f1c25833820a06e0e346519316a03d640d7c68a4d4141ffbaa29f2dc6d",
        version: 5,
    },
    // Format 5, predictor 19 (interpolation on reconstructed values, last pass learned):
    // `node tests/browser/make-field.mjs f.npy 8 64 64 sea`, then `compress f.npy --rel 1e-4`.
    Golden {
        file: "sea_learned_pass_v5_rel1e-4.baler",
        shape: &[8, 64, 64],
        dtype: DType::F32,
        hash: "419d92c4db94a91e9f22c921aeb7aaf310531b5d1d0026184a9adbb4abae9cd9",
        version: 5,
    },
    // Format 6, predictor 20 (blocks of a period against the block before): CFD_animation's
    // `data` at every other point of each frame, as float32 (`x[:, ::2, ::2].astype(np.float32)`),
    // then `compress f.npy --rel 1e-2`.
    Golden {
        file: "cfd_periodic_v6_rel1e-2.baler",
        shape: &[60, 25, 25],
        dtype: DType::F32,
        hash: "b99abee7842df791e7fe5ab4cac84c0c6090180ed4fcfac86fc43428042b87af",
        version: 6,
    },
    // Format 7: the metadata's compact streams, column models with short numbers (rule 3), a
    // chunk stored unpacked. The first 300 rows of `hep_muons_columns_v5_rel1e-3.baler`'s decoded
    // values (`decompress` to .npz, `data[:300]` and `names`), then `compress t.npz --rel 1e-2`.
    Golden {
        file: "hep_muons_columns_v7_rel1e-2.baler",
        shape: &[300, 9],
        dtype: DType::F32,
        hash: "5d6d5e883ec7fda843ee0e35a4aee5260d166d02740604c7b4dd89365152c5fb",
        version: 7,
    },
];

#[test]
fn golden_archives_decode_to_the_same_values() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("golden");
    for g in GOLDEN {
        let bytes = std::fs::read(dir.join(g.file)).unwrap_or_else(|e| panic!("{}: {e}", g.file));
        assert_eq!(u16::from_le_bytes([bytes[8], bytes[9]]), g.version, "{}", g.file);
        let archive = Archive::open(&bytes, None).unwrap();
        let ds = archive.decode().unwrap_or_else(|e| panic!("{}: {e}", g.file));
        assert_eq!(ds.shape(), g.shape, "{}", g.file);
        let first_dtype = match &ds {
            Dataset::Field(a) => a.dtype,
            Dataset::Table { columns, .. } => columns[0].dtype,
        };
        assert_eq!(first_dtype, g.dtype, "{}", g.file);
        assert_eq!(hex(&content_hash(&ds)), g.hash, "{} decodes to other values", g.file);
    }
}

/// The first chunk's (predictor, coder) of a golden archive, as `info` names them.
fn first_chunk_choices(file: &str) -> (String, &'static str) {
    let bytes = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("golden").join(file)).unwrap();
    Archive::open(&bytes, None).unwrap().parse_chunk(0).unwrap().choices()
}

#[test]
fn the_v2_goldens_really_use_coder_2_and_both_interpolations() {
    assert_eq!(first_chunk_choices("hzz_table_v2_rel1e-3.baler").1, "buckets + Huffman per stream");
    assert_eq!(first_chunk_choices("wave_levels_v2_rel1e-2.baler").1, "buckets + Huffman per level");
    for (file, predictor) in [
        ("wave_interp_v2_rel1e-2.baler", "linear interpolation"),
        ("wave_feedback_v2_rel1e-2.baler", "linear interpolation on reconstructed values"),
        ("wave_levelwise_v2_rel1e-2.baler", "cubic interpolation on reconstructed values, level-wise steps"),
    ] {
        assert_eq!(first_chunk_choices(file).0, predictor, "{file}");
    }
}

#[test]
fn the_v5_golden_really_predicts_columns_from_earlier_ones() {
    let (predictor, _) = first_chunk_choices("hep_muons_columns_v5_rel1e-3.baler");
    assert!(predictor.starts_with("columns["), "{predictor}");
    // pT, φ, pz and E from the columns before them, through four kinds of feature.
    for feature in ["hypot(Muon_Px, Muon_Py)", "atan2(Muon_Py, Muon_Px)", "·sinh Muon_eta", "·cosh Muon_eta"]
    {
        assert!(predictor.contains(feature), "{feature} in {predictor}");
    }
}

#[test]
fn the_v5_field_golden_really_learns_its_last_pass() {
    let (predictor, _) = first_chunk_choices("sea_learned_pass_v5_rel1e-4.baler");
    assert!(predictor.ends_with(", learned last pass"), "{predictor}");
}

#[test]
fn the_v6_golden_really_codes_blocks_against_their_period() {
    let (predictor, _) = first_chunk_choices("cfd_periodic_v6_rel1e-2.baler");
    // Lorenzo on block 0, then interpolation against the block before at weights below 1 and at 1.
    for part in ["period of 12 frames", "[Lorenzo, ", "+ 0.5·ref", "+ 0.75·ref", "+ ref"] {
        assert!(predictor.contains(part), "{part} in {predictor}");
    }
}

/// The payloads of a container's sections, (kind, payload), in order.
fn sections(bytes: &[u8]) -> Vec<(u8, &[u8])> {
    let mut at = 12;
    let mut out = Vec::new();
    while at < bytes.len() {
        let len = u64::from_le_bytes(bytes[at + 4..at + 12].try_into().unwrap()) as usize;
        out.push((bytes[at], &bytes[at + 16..at + 16 + len]));
        at += 16 + len;
    }
    out
}

#[test]
fn the_v7_golden_really_stores_short_numbers_unpacked() {
    use baler_codec::bytes::Reader;
    use baler_codec::predictor::columns::Program;
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/hep_muons_columns_v7_rel1e-2.baler");
    let bytes = std::fs::read(path).unwrap();
    let (predictor, _) = first_chunk_choices("hep_muons_columns_v7_rel1e-2.baler");
    assert!(predictor.contains("Muon_Px ← ") && predictor.contains("·Muon_pt·cos Muon_phi"), "{predictor}");
    // The chunk's data follows its length unpacked: exceptions (none), then the program, whose
    // models' numbers only format 7 reads.
    let (_, chunk) = sections(&bytes).into_iter().find(|(kind, _)| *kind == 5).unwrap();
    let mut r = Reader::new(chunk);
    let _start_rows_predictor =
        (r.varint("start").unwrap(), r.varint("rows").unwrap(), r.u8("predictor").unwrap());
    let raw_len = r.varint("length").unwrap() as usize;
    assert_eq!(r.remaining(), raw_len);
    let mut data = Reader::new(r.take(raw_len, "data").unwrap());
    assert_eq!(data.varint("exceptions").unwrap(), 0);
    let at = raw_len - data.remaining();
    let program = |version| Program::read(&mut Reader::new(&chunk[chunk.len() - raw_len + at..]), 9, version);
    assert!(program(7).is_ok());
    assert!(program(6).is_err());
    // Its metadata reads only as format 7's: the same bytes as format 6 are not an archive.
    let mut as_v6 = bytes.clone();
    as_v6[8] = 6;
    assert!(Archive::open(&as_v6, None).is_err());
}

#[test]
fn the_autoencoder_golden_really_uses_the_integer_decoder() {
    let bytes =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/pattern_autoencoder_rel1e-3.baler"))
            .unwrap();
    let archive = Archive::open(&bytes, None).unwrap();
    let dec = archive.decoder.as_ref().expect("embedded model");
    assert_eq!(dec.latent_dim(), 2);
    assert!(archive.sizes.model > 0);
}

#[test]
fn the_conv_goldens_run_transposed_convolutions_and_inverse_gdn_on_network_tiles() {
    for (file, tile) in
        [("conv2d_gdn_v2_rel1e-3.baler", [1, 16, 16]), ("conv3d_gdn_v2_rel1e-3.baler", [4, 8, 8])]
    {
        let bytes = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("golden").join(file)).unwrap();
        let archive = Archive::open(&bytes, None).unwrap();
        let summary = archive.model_summary.as_ref().expect("embedded model");
        assert_eq!(summary.layers, "dense+igdn → conv_transpose+igdn → conv_transpose", "{file}");
        assert_eq!(archive.meta.tile, tile, "{file}");
        assert!(archive.decoder.as_ref().unwrap().norms.iter().flatten().count() == 2, "{file}");
        let network_tiles: usize =
            (0..archive.chunk_count()).map(|i| archive.parse_chunk(i).unwrap().network_tiles()).sum();
        assert!(network_tiles > 0, "{file}: no tile uses the network");
    }
}

#[test]
fn each_version_checks_the_hash_it_names() {
    use baler_codec::hash::{HashKind, archive_content_hash, content_hash_of_kind};
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("golden");
    for (file, kind) in [
        ("wave_levels_v4_rel1e-2.baler", HashKind::Xxh3Layout),
        ("wave_levels_v3_rel1e-2.baler", HashKind::Xxh3),
        ("wave_levels_v2_rel1e-2.baler", HashKind::Blake3),
    ] {
        let bytes = std::fs::read(dir.join(file)).unwrap();
        let archive = Archive::open(&bytes, None).unwrap();
        assert_eq!(archive.hash_kind, kind, "{file}");
        let ds = archive.decode().unwrap();
        assert_eq!(archive_content_hash(kind, &archive.meta, &ds), archive.meta.content_hash, "{file}");
        // Format 4 hashes the layout before the values: not the values' hash alone.
        let values_only = content_hash_of_kind(kind, &ds) == archive.meta.content_hash;
        assert_eq!(values_only, kind != HashKind::Xxh3Layout, "{file}");
        // The version byte has no checksum of its own; a flip to a neighbouring version changes
        // the hash it names, so the decode fails.
        let version = bytes[8];
        for other in [version - 1, version + 1] {
            if !(1..=4).contains(&other) || (other <= 2 && version <= 2) {
                continue;
            }
            let mut flipped = bytes.clone();
            flipped[8] = other;
            let err = Archive::open(&flipped, None).and_then(|a| a.decode()).unwrap_err().to_string();
            assert!(err.contains("content hash"), "{file} as version {other}: {err}");
        }
    }
}
