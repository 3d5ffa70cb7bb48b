//! The few HDF5 functions the filter calls, found at run time in the process that loaded it.
//!
//! The plugin links no HDF5: h5repack uses Debian's libhdf5, h5py and netCDF4 wheels each bundle
//! their own (1.14, 2.x …, loaded privately, invisible to a plain `dlsym`). Symbols are looked up
//! in the global scope first (C programs, h5repack, baler-train), then in each loaded object whose
//! file name starts with `libhdf5` (the bundled copies). The filter function itself only needs
//! memory and error reporting, and falls back to malloc/free and stderr if none is found.

use std::ffi::{CStr, CString, c_char, c_int, c_uint, c_void};
use std::sync::OnceLock;

pub type Hid = i64;
pub type Herr = c_int;
pub type Htri = c_int;

type GetChunk = unsafe extern "C" fn(Hid, c_int, *mut u64) -> c_int;
type TypeInt = unsafe extern "C" fn(Hid) -> c_int;
type TypeSize = unsafe extern "C" fn(Hid) -> usize;
type GetFilterById = unsafe extern "C" fn(
    Hid,
    c_int,
    *mut c_uint,
    *mut usize,
    *mut c_uint,
    usize,
    *mut c_char,
    *mut c_uint,
) -> Herr;
type ModifyFilter = unsafe extern "C" fn(Hid, c_int, c_uint, usize, *const c_uint) -> Herr;
type FillDefined = unsafe extern "C" fn(Hid, *mut c_int) -> Herr;
type GetFill = unsafe extern "C" fn(Hid, Hid, *mut c_void) -> Herr;
type Allocate = unsafe extern "C" fn(usize, bool) -> *mut c_void;
type Free = unsafe extern "C" fn(*mut c_void) -> Herr;
type Push = unsafe extern "C" fn(
    Hid,
    *const c_char,
    *const c_char,
    c_uint,
    Hid,
    Hid,
    Hid,
    *const c_char,
    ...
) -> Herr;

/// HDF5's functions, where found.
pub struct Api {
    pub get_chunk: Option<GetChunk>,
    pub type_class: Option<TypeInt>,
    pub type_size: Option<TypeSize>,
    pub type_sign: Option<TypeInt>,
    pub type_order: Option<TypeInt>,
    pub get_filter_by_id: Option<GetFilterById>,
    pub modify_filter: Option<ModifyFilter>,
    pub fill_defined: Option<FillDefined>,
    pub get_fill: Option<GetFill>,
    allocate: Option<Allocate>,
    free: Option<Free>,
    push: Option<Push>,
    // Addresses of HDF5's error class and message ids (variables, read when an error is pushed).
    err_class: Option<*const Hid>,
    major_pipeline: Option<*const Hid>,
    minor_filter: Option<*const Hid>,
}

// The pointers are addresses of HDF5's global variables, only ever read.
unsafe impl Send for Api {}
unsafe impl Sync for Api {}

/// Loaded objects whose file name starts with `libhdf5` (not the high-level or C++ ones).
fn loaded_hdf5_libraries() -> Vec<CString> {
    unsafe extern "C" fn visit(info: *mut libc::dl_phdr_info, _: usize, data: *mut c_void) -> c_int {
        // SAFETY: dl_iterate_phdr passes a valid info and our `data` pointer.
        unsafe {
            let names = &mut *(data as *mut Vec<CString>);
            let name = (*info).dlpi_name;
            if !name.is_null() {
                let path = CStr::from_ptr(name);
                let file = path.to_bytes().rsplit(|&b| b == b'/').next().unwrap_or_default();
                let is_core = file.starts_with(b"libhdf5")
                    && !file.starts_with(b"libhdf5_hl")
                    && !file.starts_with(b"libhdf5_cpp")
                    && !file.starts_with(b"libhdf5_fortran")
                    && !file.starts_with(b"libhdf5_serial_hl")
                    && !file.starts_with(b"libhdf5_serial_fortran");
                if is_core {
                    names.push(path.to_owned());
                }
            }
        }
        0
    }
    let mut names: Vec<CString> = Vec::new();
    // SAFETY: `visit` only reads what it is given and writes into `names`.
    unsafe { libc::dl_iterate_phdr(Some(visit), &mut names as *mut Vec<CString> as *mut c_void) };
    names
}

fn lookup(handles: &[*mut c_void], name: &str) -> Option<*mut c_void> {
    let c = CString::new(name).expect("symbol names have no NUL");
    // SAFETY: dlsym with a valid handle (or RTLD_DEFAULT) and a NUL-terminated name.
    let global = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c.as_ptr()) };
    if !global.is_null() {
        return Some(global);
    }
    handles.iter().map(|&h| unsafe { libc::dlsym(h, c.as_ptr()) }).find(|p| !p.is_null())
}

fn resolve() -> Api {
    let handles: Vec<*mut c_void> = loaded_hdf5_libraries()
        .iter()
        // RTLD_NOLOAD: a handle to what is already loaded, never a second copy.
        .map(|n| unsafe { libc::dlopen(n.as_ptr(), libc::RTLD_LAZY | libc::RTLD_NOLOAD) })
        .filter(|h| !h.is_null())
        .collect();
    let f = |name: &str| lookup(&handles, name);
    // SAFETY: each symbol is HDF5's function of that name, whose C signature the type spells.
    unsafe {
        Api {
            get_chunk: f("H5Pget_chunk").map(|p| std::mem::transmute::<*mut c_void, GetChunk>(p)),
            type_class: f("H5Tget_class").map(|p| std::mem::transmute::<*mut c_void, TypeInt>(p)),
            type_size: f("H5Tget_size").map(|p| std::mem::transmute::<*mut c_void, TypeSize>(p)),
            type_sign: f("H5Tget_sign").map(|p| std::mem::transmute::<*mut c_void, TypeInt>(p)),
            type_order: f("H5Tget_order").map(|p| std::mem::transmute::<*mut c_void, TypeInt>(p)),
            get_filter_by_id: f("H5Pget_filter_by_id2")
                .map(|p| std::mem::transmute::<*mut c_void, GetFilterById>(p)),
            modify_filter: f("H5Pmodify_filter").map(|p| std::mem::transmute::<*mut c_void, ModifyFilter>(p)),
            fill_defined: f("H5Pfill_value_defined")
                .map(|p| std::mem::transmute::<*mut c_void, FillDefined>(p)),
            get_fill: f("H5Pget_fill_value").map(|p| std::mem::transmute::<*mut c_void, GetFill>(p)),
            allocate: f("H5allocate_memory").map(|p| std::mem::transmute::<*mut c_void, Allocate>(p)),
            free: f("H5free_memory").map(|p| std::mem::transmute::<*mut c_void, Free>(p)),
            push: f("H5Epush2").map(|p| std::mem::transmute::<*mut c_void, Push>(p)),
            err_class: f("H5E_ERR_CLS_g").map(|p| p as *const Hid),
            major_pipeline: f("H5E_PLINE_g").map(|p| p as *const Hid),
            minor_filter: f("H5E_CANTFILTER_g").map(|p| p as *const Hid),
        }
    }
}

/// The HDF5 functions of this process (resolved once).
pub fn api() -> &'static Api {
    static API: OnceLock<Api> = OnceLock::new();
    API.get_or_init(resolve)
}

impl Api {
    /// A buffer HDF5 may free (or resize) after the filter returns it.
    pub fn allocate(&self, size: usize) -> *mut c_void {
        match self.allocate {
            // SAFETY: HDF5's allocator; `false`: no need to clear, every byte is written.
            Some(a) => unsafe { a(size.max(1), false) },
            None => unsafe { libc::malloc(size.max(1)) },
        }
    }

    /// Frees a buffer HDF5 handed to the filter.
    pub fn free(&self, p: *mut c_void) {
        match self.free {
            // SAFETY: `p` came from HDF5's allocator (the buffer the pipeline gave us).
            Some(f) => unsafe {
                f(p);
            },
            None => unsafe { libc::free(p) },
        }
    }

    /// Puts `message` on HDF5's error stack (what h5py raises and h5dump prints), or on stderr
    /// where HDF5's error functions are not found.
    pub fn report(&self, function: &str, message: &str) {
        let text = CString::new(message.replace('\0', " ")).expect("NULs replaced");
        let func = CString::new(function).expect("function names have no NUL");
        if let (Some(push), Some(cls), Some(maj), Some(min)) =
            (self.push, self.err_class, self.major_pipeline, self.minor_filter)
        {
            // SAFETY: H5Epush2 with the default stack (0), HDF5's own class and message ids, and
            // "%s" as the format so the message is never read as one.
            unsafe {
                push(
                    0,
                    c"baler-hdf5-filter".as_ptr(),
                    func.as_ptr(),
                    line!(),
                    *cls,
                    *maj,
                    *min,
                    c"%s".as_ptr(),
                    text.as_ptr(),
                );
            }
        } else {
            eprintln!("{message}");
        }
    }
}
