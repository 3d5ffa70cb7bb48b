//! ROOT files through oxyroot: the only tree with its flat branches, and jagged branches by
//! selection, each read whole and by rows. The ROOT reader (`root` in io/src) turns oxyroot's panics into
//! errors; a panic that escapes is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = baler_fuzz::scratch_file(data, "root");
    let path = path.to_str().expect("utf-8 path");
    // The seeds' tree is `events` (uproot's HZZ sample); `*` selects every branch.
    for spec in [path.to_string(), format!("{path}:events:Muon_*"), format!("{path}:events:*")] {
        let whole = baler_io::load(&spec, &Default::default());
        // By rows too: the same table, or an error where the whole read fails.
        baler_fuzz::rows_agree_with_spec(&spec, &Default::default(), whole.as_ref().ok().map(|l| &l.dataset));
        if let Ok(l) = whole {
            baler_fuzz::check_dataset(&l.dataset);
        }
    }
});
