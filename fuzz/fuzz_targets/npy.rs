//! `.npy` files: any header, dtype, byte order and memory order; as a field and as a table.
//! What reads must write back and read again to the same values.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| baler_fuzz::read_round_trip(data, "npy"));
