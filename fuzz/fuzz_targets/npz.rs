//! `.npz` files (zip: stored or deflated members `data` and `names`), as a field and as a table.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| baler_fuzz::read_round_trip(data, "npz"));
