//! Archives: open (with and without the model), parse every chunk, decode whole and streamed,
//! and read as the viewer reads them (the head, then each chunk section on its own). Any panic
//! is a bug; so is a whole decode that disagrees with the streamed one, or with the partial read.
#![no_main]

use baler_codec::{Archive, HeadLen, StreamCheck, head_len};
use baler_codec::hash::{ContentHasher, content_hash};
use libfuzzer_sys::{fuzz_mutator, fuzz_target};

/// The viewer's way: grow a prefix as `head_len` asks, open the head, decode each chunk from its
/// own section bytes in order with the hash checked. The hash of the values, or None on error.
fn read_in_parts(data: &[u8]) -> Option<[u8; 32]> {
    let len = data.len() as u64;
    let mut have = 64.min(data.len());
    let head = loop {
        match head_len(&data[..have], len).ok()? {
            HeadLen::Complete(n) => break n as usize,
            HeadLen::AtLeast(n) => {
                assert!(n as usize > have && n <= len, "head_len asks for {n} having {have} of {len}");
                have = n as usize;
            }
        }
    };
    let a = Archive::open_head(&data[..head], len, None).ok()?;
    let mut check = StreamCheck::new(&a);
    let mut parts = ContentHasher::new();
    for i in 0..a.chunk_count() {
        let r = a.chunk_section_range(i).expect("a range for every chunk");
        assert!(r.start <= r.end && r.end <= len, "chunk {i}: range {r:?} outside {len} bytes");
        let c = a.decode_section(i, &data[r.start as usize..r.end as usize], None).ok()?;
        let part = check.accept(&a, &c).ok()?;
        parts.update(&part);
    }
    check.finish(&a).ok()?;
    Some(parts.finalize())
}

fuzz_target!(|data: &[u8]| {
    let partial = read_in_parts(data);
    if let Ok(a) = Archive::open_metadata_only(data) {
        for i in 0..a.chunk_count() {
            let _ = a.parse_chunk(i);
        }
    }
    let a = match Archive::open(data, None) {
        Ok(a) => a,
        Err(e) => {
            assert!(partial.is_none(), "the partial read accepted what open refused: {e}");
            if baler_fuzz::verbose() {
                eprintln!("open: {e}");
            }
            return;
        }
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
            let hash = content_hash(ds);
            assert_eq!(hash, parts.finalize(), "whole and streamed decodes differ");
            assert_eq!(partial, Some(hash), "the partial read disagrees with the whole decode");
        }
        (Err(_), Err(_)) => assert!(partial.is_none(), "the partial read accepted what decode refused"),
        _ => panic!("whole decode: {:?}, streamed decode: {:?}", whole.as_ref().err(), streamed.err()),
    }
});

fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    baler_fuzz::mutate_archive(data, size, max_size, seed)
});
