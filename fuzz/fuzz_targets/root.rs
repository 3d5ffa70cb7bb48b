//! ROOT files through oxyroot: the only tree with its flat branches, and jagged branches by
//! selection. io/src/root/mod.rs turns oxyroot's panics into errors; a panic that escapes is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = baler_fuzz::scratch_file(data, "root");
    let path = path.to_str().expect("utf-8 path");
    // The seeds' tree is `events` (uproot's HZZ sample); `*` selects every branch.
    for spec in [path.to_string(), format!("{path}:events:Muon_*"), format!("{path}:events:*")] {
        if let Ok(l) = baler_io::load(&spec, &Default::default()) {
            baler_fuzz::check_dataset(&l.dataset);
        }
    }
});
