//! `.csv` files: a header of column names, then numeric rows; read whole and by rows alike.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = baler_fuzz::scratch_file(data, "csv");
    let opts = baler_io::ReadOptions::default();
    let whole = baler_io::read_dataset(&path, &opts);
    baler_fuzz::rows_agree_with(&path, &opts, whole.as_ref().ok());
    if let Ok(ds) = whole {
        baler_fuzz::check_dataset(&ds);
    }
});
