//! The few HDF5 functions the filter calls, found at run time in the process that loaded it.
//!
//! The plugin links no HDF5: h5repack uses Debian's libhdf5, h5py and netCDF4 wheels each bundle
//! their own (2.0, 2.2 …, loaded privately, invisible to a plain `dlsym`), and one Python process
//! that imports both holds two. Each callback finds the library that called it: the first frame up
//! its stack that lies in an object named `libhdf5*`, whose functions it then uses. Without one
//! (HDF5 linked into the executable), symbols come from the global scope (C programs built with
//! a shared or exported HDF5, h5repack, baler-train). The filter function itself only needs memory
//! and error reporting, and falls back to malloc/free and stderr if none is found.

use std::ffi::{CStr, CString, c_char, c_int, c_uint, c_void};
use std::sync::Mutex;

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

/// Whether `path` names HDF5's core library (not its high-level, C++ or Fortran ones).
fn is_core_hdf5(path: &CStr) -> bool {
    let file = path.to_bytes().rsplit(|&b| b == b'/').next().unwrap_or_default();
    file.starts_with(b"libhdf5")
        && !["libhdf5_hl", "libhdf5_cpp", "libhdf5_fortran", "libhdf5_serial_hl", "libhdf5_serial_fortran"]
            .iter()
            .any(|p| file.starts_with(p.as_bytes()))
}

/// The HDF5 library running the current callback: the first frame up the stack in a `libhdf5*`.
fn calling_library() -> Option<CString> {
    let mut found = None;
    let mut frames = 0;
    backtrace::trace(|frame| {
        frames += 1;
        // SAFETY: dladdr only reads the address; Dl_info is plain data it fills in.
        let name = unsafe {
            let mut info: libc::Dl_info = std::mem::zeroed();
            if libc::dladdr(frame.ip() as *const c_void, &mut info) == 0 || info.dli_fname.is_null() {
                return frames < 64;
            }
            CStr::from_ptr(info.dli_fname)
        };
        if is_core_hdf5(name) {
            found = Some(name.to_owned());
            return false;
        }
        frames < 64
    });
    found
}

/// Loaded objects named `libhdf5*`, for a callback whose caller could not be told.
fn loaded_hdf5_libraries() -> Vec<CString> {
    unsafe extern "C" fn visit(info: *mut libc::dl_phdr_info, _: usize, data: *mut c_void) -> c_int {
        // SAFETY: dl_iterate_phdr passes a valid info and our `data` pointer.
        unsafe {
            let names = &mut *(data as *mut Vec<CString>);
            let name = (*info).dlpi_name;
            if !name.is_null() && is_core_hdf5(CStr::from_ptr(name)) {
                names.push(CStr::from_ptr(name).to_owned());
            }
        }
        0
    }
    let mut names: Vec<CString> = Vec::new();
    // SAFETY: `visit` only reads what it is given and writes into `names`.
    unsafe { libc::dl_iterate_phdr(Some(visit), &mut names as *mut Vec<CString> as *mut c_void) };
    names
}

/// A handle to the already loaded `path` (RTLD_NOLOAD: never a second copy).
fn handle_of(path: &CStr) -> Option<*mut c_void> {
    // SAFETY: dlopen of a loaded object with RTLD_NOLOAD only returns its handle.
    let h = unsafe { libc::dlopen(path.as_ptr(), libc::RTLD_LAZY | libc::RTLD_NOLOAD) };
    (!h.is_null()).then_some(h)
}

/// `name` in the first of `handles` that has it.
fn lookup(handles: &[*mut c_void], name: &str) -> Option<*mut c_void> {
    let c = CString::new(name).expect("symbol names have no NUL");
    // SAFETY: dlsym with valid handles (or RTLD_DEFAULT) and a NUL-terminated name.
    handles.iter().map(|&h| unsafe { libc::dlsym(h, c.as_ptr()) }).find(|p| !p.is_null())
}

fn resolve(library: Option<&CStr>) -> Api {
    let handles: Vec<*mut c_void> = match library.and_then(handle_of) {
        Some(h) => vec![h],
        None => std::iter::once(libc::RTLD_DEFAULT)
            .chain(loaded_hdf5_libraries().iter().filter_map(|n| handle_of(n)))
            .collect(),
    };
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

/// The functions of the HDF5 library running the current callback (resolved once per library).
pub fn api() -> &'static Api {
    static APIS: Mutex<Vec<(Option<CString>, &'static Api)>> = Mutex::new(Vec::new());
    let library = calling_library();
    let mut apis = APIS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, a)) = apis.iter().find(|(l, _)| *l == library) {
        return a;
    }
    // Leaked on purpose: one small table per HDF5 library for the life of the process.
    let a: &'static Api = Box::leak(Box::new(resolve(library.as_deref())));
    apis.push((library, a));
    a
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
