//! Archives: open (with and without the model), parse every chunk, decode whole and streamed.
//! Any panic is a bug; so is a whole decode that disagrees with the streamed one.
#![no_main]

use baler_codec::Archive;
use baler_codec::hash::{ContentHasher, content_hash};
use libfuzzer_sys::{fuzz_mutator, fuzz_target};

fuzz_target!(|data: &[u8]| {
    if let Ok(a) = Archive::open_metadata_only(data) {
        for i in 0..a.chunk_count() {
            let _ = a.parse_chunk(i);
        }
    }
    let a = match Archive::open(data, None) {
        Ok(a) => a,
        Err(e) if baler_fuzz::verbose() => return eprintln!("open: {e}"),
        Err(_) => return,
    };
    let whole = a.decode();
    let mut parts = ContentHasher::new();
    let streamed = a.decode_each(|part| {
        baler_fuzz::check_dataset(&part);
        parts.update(&part);
        Ok(())
    });
    if baler_fuzz::verbose() {
        eprintln!("open: ok, decode: {:?}", whole.as_ref().map(|_| ()));
    }
    match (&whole, &streamed) {
        (Ok(ds), Ok(())) => {
            baler_fuzz::check_dataset(ds);
            assert_eq!(content_hash(ds), parts.finalize(), "whole and streamed decodes differ");
        }
        (Err(_), Err(_)) => {}
        _ => panic!("whole decode: {:?}, streamed decode: {:?}", whole.as_ref().err(), streamed.err()),
    }
});

fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    baler_fuzz::mutate_archive(data, size, max_size, seed)
});
