//! Baler as an HDF5 filter (id [`FILTER_ID`]): each HDF5 chunk is stored as one Baler archive,
//! compressed with classic predictors under the bound given in the filter's parameters and
//! verified value by value. Any HDF5 program loads it from `HDF5_PLUGIN_PATH` (`libh5baler.so`);
//! baler-train registers it in-process ([`register`]).
//!
//! Errors (a corrupt chunk, bad parameters, an unsupported dtype) go on HDF5's error stack and the
//! filter returns 0, so the host's read or write fails with that message; nothing panics across
//! the C boundary.

use std::ffi::{c_char, c_int, c_uint, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};

use baler_codec::DType;

pub mod chunk;
mod hdf5_api;
pub mod options;

use hdf5_api::{Herr, Hid, Htri, api};
pub use options::{Bound, ChunkOptions, FILTER_ID, UserOptions, user_cd_values};

const H5Z_FLAG_REVERSE: c_uint = 0x0100;
const H5T_INTEGER: c_int = 0;
const H5T_FLOAT: c_int = 1;
const H5T_SGN_NONE: c_int = 0;
const H5T_ORDER_LE: c_int = 0;
const H5T_ORDER_BE: c_int = 1;
const H5D_FILL_VALUE_USER_DEFINED: c_int = 2;
const H5PL_TYPE_FILTER: c_int = 0;

/// A program that links HDF5 statically hides its functions from plugins.
const MISSING_HDF5: &str = "Baler filter: HDF5's functions were not found in this process (a program linked \
    with a static HDF5 must export them: link it with -rdynamic, or build with h5cc -shlib)";

type CanApply = unsafe extern "C" fn(Hid, Hid, Hid) -> Htri;
type SetLocal = unsafe extern "C" fn(Hid, Hid, Hid) -> Herr;
type FilterFn =
    unsafe extern "C" fn(c_uint, usize, *const c_uint, usize, *mut usize, *mut *mut c_void) -> usize;

/// HDF5's `H5Z_class2_t`.
#[repr(C)]
pub struct FilterClass {
    version: c_int,
    id: c_int,
    encoder_present: c_uint,
    decoder_present: c_uint,
    name: *const c_char,
    can_apply: Option<CanApply>,
    set_local: Option<SetLocal>,
    filter: Option<FilterFn>,
}

// Read-only after construction; the name is a static string.
unsafe impl Sync for FilterClass {}

/// What HDF5 registers.
pub static FILTER_CLASS: FilterClass = FilterClass {
    version: 1, // H5Z_CLASS_T_VERS
    id: FILTER_ID,
    encoder_present: 1,
    decoder_present: 1,
    name: c"Baler: error-bounded compression (https://github.com/baler-collaboration)".as_ptr(),
    can_apply: Some(can_apply),
    set_local: Some(set_local),
    filter: Some(filter),
};

/// HDF5's plugin entry point: this library holds a filter.
#[unsafe(no_mangle)]
pub extern "C" fn H5PLget_plugin_type() -> c_int {
    H5PL_TYPE_FILTER
}

/// HDF5's plugin entry point: the filter's class.
#[unsafe(no_mangle)]
pub extern "C" fn H5PLget_plugin_info() -> *const c_void {
    &FILTER_CLASS as *const FilterClass as *const c_void
}

/// Runs `f`, turning an error or a panic into a message on HDF5's error stack and `failed`.
fn guarded<T>(function: &str, failed: T, f: impl FnOnce() -> Result<T, String>) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => v,
        Ok(Err(msg)) => {
            api().report(function, &msg);
            failed
        }
        Err(_) => {
            api().report(function, "Baler filter: internal error (a bug; please report it)");
            failed
        }
    }
}

/// The codec's dtype for an HDF5 datatype, and whether its bytes are big-endian.
fn dtype_of(type_id: Hid) -> Result<(DType, bool), String> {
    let a = api();
    let (Some(class), Some(size), Some(sign), Some(order)) =
        (a.type_class, a.type_size, a.type_sign, a.type_order)
    else {
        return Err(MISSING_HDF5.into());
    };
    // SAFETY: HDF5 functions on the datatype id HDF5 gave the callback.
    let (class, size, order) = unsafe { (class(type_id), size(type_id), order(type_id)) };
    let big_endian = match order {
        H5T_ORDER_LE => false,
        H5T_ORDER_BE => true,
        _ => {
            return Err(format!(
                "Baler filter: byte order {order} is not supported (little or big endian only)"
            ));
        }
    };
    let dtype = match (class, size) {
        (H5T_FLOAT, 4) => DType::F32,
        (H5T_FLOAT, 8) => DType::F64,
        (H5T_INTEGER, 1 | 2 | 4 | 8) => {
            // SAFETY: as above.
            let unsigned = unsafe { sign(type_id) } == H5T_SGN_NONE;
            match (size, unsigned) {
                (1, false) => DType::I8,
                (2, false) => DType::I16,
                (4, false) => DType::I32,
                (8, false) => DType::I64,
                (1, true) => DType::U8,
                (2, true) => DType::U16,
                (4, true) => DType::U32,
                _ => DType::U64,
            }
        }
        _ => {
            return Err(format!(
                "Baler filter: datatype class {class} of {size} bytes is not supported (integers of 1-8 bytes, float32, float64)"
            ));
        }
    };
    Ok((dtype, big_endian))
}

unsafe extern "C" fn can_apply(_dcpl: Hid, type_id: Hid, _space: Hid) -> Htri {
    guarded("can_apply", 0, || dtype_of(type_id).map(|_| 1))
}

/// Completes the parameters from the dataset: dtype, byte order, chunk shape and fill value.
unsafe extern "C" fn set_local(dcpl: Hid, type_id: Hid, _space: Hid) -> Herr {
    guarded("set_local", -1, || {
        let a = api();
        let (Some(get_filter), Some(modify), Some(get_chunk)) =
            (a.get_filter_by_id, a.modify_filter, a.get_chunk)
        else {
            return Err(MISSING_HDF5.into());
        };
        let mut flags: c_uint = 0;
        let mut cd = [0 as c_uint; 64];
        let mut n = cd.len();
        let mut config: c_uint = 0;
        // SAFETY: HDF5 writes at most `n` values and no name (length 0).
        let got = unsafe {
            get_filter(
                dcpl,
                FILTER_ID,
                &mut flags,
                &mut n,
                cd.as_mut_ptr(),
                0,
                std::ptr::null_mut(),
                &mut config,
            )
        };
        if got < 0 {
            return Err(
                "Baler filter: its parameters could not be read from the dataset's creation properties"
                    .into(),
            );
        }
        let user = options::parse_user(&cd[..n.min(cd.len())])?;
        let (dtype, big_endian) = dtype_of(type_id)?;
        let mut dims = [0u64; options::MAX_AXES];
        // SAFETY: at most MAX_AXES extents are written.
        let axes = unsafe { get_chunk(dcpl, dims.len() as c_int, dims.as_mut_ptr()) };
        if axes <= 0 {
            return Err("Baler filter: the dataset is not chunked".into());
        }
        let shape: Vec<usize> = dims[..axes as usize].iter().map(|&d| d as usize).collect();
        let fill_value = if dtype.is_float() { user_fill(dcpl, type_id, dtype, big_endian) } else { None };
        let local = ChunkOptions { user, dtype, big_endian, fill_value, shape };
        let cd = local.to_cd_values();
        // SAFETY: `cd` outlives the call; HDF5 copies it.
        if unsafe { modify(dcpl, FILTER_ID, flags, cd.len(), cd.as_ptr()) } < 0 {
            return Err(
                "Baler filter: could not store its parameters in the dataset's creation properties".into()
            );
        }
        Ok(0)
    })
}

/// The dataset's user-defined fill value (floats; HDF5's default 0 is ordinary data).
fn user_fill(dcpl: Hid, type_id: Hid, dtype: DType, big_endian: bool) -> Option<f64> {
    let a = api();
    let (defined, get) = (a.fill_defined?, a.get_fill?);
    let mut status: c_int = 0;
    // SAFETY: HDF5 writes one enum value.
    if unsafe { defined(dcpl, &mut status) } < 0 || status != H5D_FILL_VALUE_USER_DEFINED {
        return None;
    }
    let mut raw = [0u8; 8];
    // SAFETY: the fill value converted to the dataset's type: at most 8 bytes (float64).
    if unsafe { get(dcpl, type_id, raw.as_mut_ptr() as *mut c_void) } < 0 {
        return None;
    }
    let value = match (dtype, big_endian) {
        (DType::F32, false) => f32::from_le_bytes(raw[..4].try_into().ok()?) as f64,
        (DType::F32, true) => f32::from_be_bytes(raw[..4].try_into().ok()?) as f64,
        (_, false) => f64::from_le_bytes(raw),
        (_, true) => f64::from_be_bytes(raw),
    };
    value.is_finite().then_some(value)
}

/// HDF5's filter function: compresses (or, with H5Z_FLAG_REVERSE, decompresses) `*buf` in place:
/// the result goes into a new buffer from HDF5's allocator and the old one is freed.
unsafe extern "C" fn filter(
    flags: c_uint,
    cd_nelmts: usize,
    cd_values: *const c_uint,
    nbytes: usize,
    buf_size: *mut usize,
    buf: *mut *mut c_void,
) -> usize {
    guarded("filter", 0, || {
        // SAFETY: `buf` is checked before it is read.
        if buf.is_null() || buf_size.is_null() || cd_values.is_null() || unsafe { (*buf).is_null() } {
            return Err("Baler filter: called without a buffer or parameters".into());
        }
        // SAFETY: HDF5 passes `cd_nelmts` parameters and a buffer holding `nbytes` valid bytes.
        let cd = unsafe { std::slice::from_raw_parts(cd_values, cd_nelmts) };
        let input = unsafe { std::slice::from_raw_parts(*buf as *const u8, nbytes) };
        let opts = ChunkOptions::from_cd_values(cd)?;
        let a = api();
        // Decoding writes straight into the buffer HDF5 gets back; encoding copies its archive.
        let (out, len) = if flags & H5Z_FLAG_REVERSE != 0 {
            let values = chunk::decode_values(input, &opts)?;
            let len = opts.chunk_bytes();
            let out = a.allocate(len);
            if out.is_null() {
                return Err(format!("Baler filter: could not allocate {len} bytes"));
            }
            // SAFETY: `out` holds `len` bytes, ours until handed to HDF5.
            chunk::write_values(&values, &opts, unsafe {
                std::slice::from_raw_parts_mut(out as *mut u8, len)
            });
            (out, len)
        } else {
            let archive = chunk::encode(input, &opts)?;
            let out = a.allocate(archive.len());
            if out.is_null() {
                return Err(format!("Baler filter: could not allocate {} bytes", archive.len()));
            }
            // SAFETY: `out` holds at least archive.len() bytes.
            unsafe { std::ptr::copy_nonoverlapping(archive.as_ptr(), out as *mut u8, archive.len()) };
            (out, archive.len())
        };
        // SAFETY: the old buffer is HDF5's; it is replaced by `out` before it is freed.
        unsafe {
            a.free(*buf);
            *buf = out;
            *buf_size = len;
        }
        Ok(len)
    })
}

/// Registers the filter with the HDF5 library this process links (baler-train's `--h5-filter`);
/// `h5z_register` is that library's `H5Zregister`. Returns its status.
///
/// # Safety
/// `h5z_register` must be HDF5's `H5Zregister`.
pub unsafe fn register(h5z_register: unsafe extern "C" fn(*const c_void) -> Herr) -> Herr {
    // SAFETY: FILTER_CLASS is a valid, static H5Z_class2_t.
    unsafe { h5z_register(H5PLget_plugin_info()) }
}
