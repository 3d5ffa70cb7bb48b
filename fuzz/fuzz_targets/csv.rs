//! `.csv` files: a header of column names, then numeric rows.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = baler_fuzz::scratch_file(data, "csv");
    if let Ok(ds) = baler_io::read_dataset(&path, &Default::default()) {
        baler_fuzz::check_dataset(&ds);
    }
});
