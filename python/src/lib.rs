//! `baler._baler`: the native half of the Python package. It runs the CLI's own pipeline
//! (`baler_train::job`), so the same array and options give the same archive bytes as
//! `baler-train compress`. Every call releases the GIL while it works; every failure is a
//! `baler.BalerError` carrying the CLI's message, never a panic across the boundary.
//! The Python half (`python/baler/`) checks and normalizes arguments and builds numpy results.

use baler_codec::Archive;
use baler_codec::describe::inspect;
use baler_train::config::Config;
use baler_train::device::{DeviceChoice, resolve as resolve_device};
use baler_train::io::ReadOptions;
use baler_train::job::{self, CompressJob, ModelChoice, Silent};
use baler_train::pipeline::{SavedModel, Target, train_model};
use baler_train::search::Effort;
use std::io::Write;
use std::path::PathBuf;

use clap::ValueEnum;
use numpy::PyUntypedArray;
use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

mod convert;

/// The native code's own allocations (the dataset, codes, chunk buffers) come from mimalloc: under
/// Dask, whose workers set `MALLOC_TRIM_THRESHOLD_=65536`, glibc's malloc returned every freed
/// chunk-sized buffer to the kernel and compression ran 1.5× slower (docs/scale-out.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

create_exception!(
    _baler,
    BalerError,
    PyValueError,
    "Baler refused the input or options, or the data is damaged."
);

/// An error chain as one line, the way the CLI prints it.
fn err(e: anyhow::Error) -> PyErr {
    BalerError::new_err(format!("{e:#}"))
}

/// A trained model: the integer decoder archives embed or reference, and its training record.
#[pyclass(module = "baler._baler", frozen)]
struct Model {
    inner: SavedModel,
}

#[pymethods]
impl Model {
    /// Reads a model file's bytes (what `baler-train train` writes, or `to_bytes`).
    #[staticmethod]
    fn from_bytes(data: &[u8]) -> PyResult<Self> {
        Ok(Self { inner: SavedModel::from_bytes(data).map_err(err)? })
    }

    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.to_bytes())
    }

    /// Pickling (Dask ships codecs with their shared model to its workers): the model file's bytes.
    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyAny>, (Bound<'py, PyBytes>,))> {
        Ok((py.get_type::<Model>().getattr("from_bytes")?, (self.to_bytes(py),)))
    }

    /// Reads a model file (`.bmodel`).
    #[staticmethod]
    fn load(path: PathBuf) -> PyResult<Self> {
        let bytes = std::fs::read(&path)
            .map_err(|e| BalerError::new_err(format!("{}: cannot read model file: {e}", path.display())))?;
        let inner = SavedModel::from_bytes(&bytes)
            .map_err(|e| BalerError::new_err(format!("{}: {e:#}", path.display())))?;
        Ok(Self { inner })
    }

    /// Writes the model file atomically (a temporary file beside `path`, then a rename).
    fn save(&self, path: PathBuf) -> PyResult<()> {
        let bytes = self.inner.to_bytes();
        baler_train::io::write_atomic(&path, |w| w.write_all(&bytes))
            .map_err(|e| BalerError::new_err(e.to_string()))
    }

    /// The same model without what only training and plots use (float decoder layers, epoch
    /// history): what a chunked store keeps beside its data. Same hash, same archives.
    fn for_compression(&self) -> Self {
        Self { inner: self.inner.for_compression() }
    }

    /// The hash that online-mode archives name the model by (hex).
    #[getter]
    fn hash(&self) -> String {
        baler_codec::format::metadata::hex(&self.inner.hash())
    }

    /// Bytes of the integer decoder: what an archive embeds, or what a shared model costs once.
    #[getter]
    fn decoder_bytes(&self) -> usize {
        self.inner.decoder_payload.len()
    }

    /// One line on what was trained, on what, and how it stopped.
    #[getter]
    fn summary(&self) -> String {
        let r = &self.inner.record;
        format!(
            "{} on {}: {} tiles of {:?}, {}",
            if r.ext.model.is_empty() { "dense autoencoder" } else { &r.ext.model },
            r.source,
            r.samples,
            r.tile,
            r.stopped()
        )
    }
}

/// Options from TOML text or JSON (a Python dict), checked as `--config` files are.
fn parse_config(toml_text: Option<&str>, json_text: Option<&str>) -> PyResult<Config> {
    let cfg = match (toml_text, json_text) {
        (Some(t), _) => Config::from_toml(t),
        (_, Some(j)) => serde_json::from_str::<Config>(j)
            .map_err(|e| e.to_string())
            .and_then(|c| c.validate().map(|()| c)),
        _ => Ok(Config::default()),
    };
    cfg.map_err(|e| BalerError::new_err(format!("config: {e}")))
}

/// One of the CLI's choices (`--effort`, `--device`) by its command-line name.
fn parse_choice<T: ValueEnum>(what: &str, name: &str) -> PyResult<T> {
    T::from_str(name, false).map_err(|_| {
        let names: Vec<String> = T::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value())
            .map(|p| p.get_name().into())
            .collect();
        BalerError::new_err(format!("unknown {what} {name:?}: {}", names.join(", ")))
    })
}

/// A field (`kind == "field"`: one array) or a table (`"table"`: named 1-d columns).
fn dataset(kind: &str, arrays: &[(String, Bound<'_, PyUntypedArray>)]) -> PyResult<baler_codec::Dataset> {
    match (kind, arrays) {
        ("field", [(_, a)]) => convert::field(a),
        ("table", cols) => convert::table(cols),
        _ => Err(BalerError::new_err(format!("bad dataset kind {kind:?} with {} arrays", arrays.len()))),
    }
}

/// See `baler.compress`.
#[pyfunction]
#[pyo3(signature = (kind, arrays, mode, value, effort, model, embed_model, fill_value, source, force_model, config_toml, config_json, axes))]
#[allow(clippy::too_many_arguments)]
fn compress<'py>(
    py: Python<'py>,
    kind: &str,
    arrays: Vec<(String, Bound<'py, PyUntypedArray>)>,
    mode: &str,
    value: f64,
    effort: &str,
    model: Option<PyRef<'py, Model>>,
    embed_model: bool,
    fill_value: Option<f64>,
    source: &str,
    force_model: bool,
    config_toml: Option<&str>,
    config_json: Option<&str>,
    axes: Vec<String>,
) -> PyResult<Bound<'py, PyBytes>> {
    let target = Target::from_user(mode, value).map_err(err)?;
    let effort: Effort = parse_choice("effort", effort)?;
    let cfg = parse_config(config_toml, config_json)?;
    if fill_value.is_some_and(|f| !f.is_finite()) {
        return Err(BalerError::new_err("fill_value must be finite (NaN and Inf are always kept exactly)"));
    }
    let ds = dataset(kind, &arrays)?;
    if !axes.is_empty() {
        let what = format!("data of shape {:?}", ds.shape());
        let why = if kind == "field" {
            job::axes_problem(&axes, ds.shape().len(), &what)
        } else {
            Some("names a field's axes, not a table's".into())
        };
        if let Some(why) = why {
            return Err(BalerError::new_err(format!("axes {why}")));
        }
    }
    let given = model.as_ref().map(|m| &m.inner);
    let choice = match given {
        Some(m) => ModelChoice::Given { model: m, embed: embed_model },
        None => ModelChoice::Learn(effort),
    };
    let job = CompressJob {
        dataset: &ds,
        fill_value,
        source,
        axes: &axes,
        target,
        config: &cfg,
        model: choice,
        force_model,
    };
    let outcome = py.detach(|| job::run(&job, &mut Silent)).map_err(err)?;
    Ok(PyBytes::new(py, &outcome.compressed.bytes))
}

/// See `baler.decompress`.
#[pyfunction]
#[pyo3(signature = (data, model=None))]
fn decompress<'py>(
    py: Python<'py>,
    data: &[u8],
    model: Option<PyRef<'py, Model>>,
) -> PyResult<Bound<'py, PyAny>> {
    let payload = model.as_ref().map(|m| m.inner.decoder_payload.as_slice());
    let ds = py
        .detach(|| Archive::open(data, payload).and_then(|a| a.decode()))
        .map_err(|e| BalerError::new_err(e.to_string()))?;
    convert::to_python(py, ds)
}

/// See `baler.info`: what `baler-train info --json` prints, as JSON text.
#[pyfunction]
#[pyo3(signature = (data, model=None, name="<bytes>"))]
fn info(py: Python<'_>, data: &[u8], model: Option<PyRef<'_, Model>>, name: &str) -> PyResult<String> {
    let payload = model.as_ref().map(|m| m.inner.decoder_payload.as_slice());
    let summary =
        py.detach(|| inspect(name, data, payload)).map_err(|e| BalerError::new_err(e.to_string()))?;
    Ok(serde_json::to_string(&summary).expect("summary serializes"))
}

/// See `baler.train`.
#[pyfunction]
#[pyo3(signature = (kind, arrays, fill_value, source, device, config_toml, config_json))]
#[allow(clippy::too_many_arguments)]
fn train<'py>(
    py: Python<'py>,
    kind: &str,
    arrays: Vec<(String, Bound<'py, PyUntypedArray>)>,
    fill_value: Option<f64>,
    source: &str,
    device: &str,
    config_toml: Option<&str>,
    config_json: Option<&str>,
) -> PyResult<Model> {
    let mut cfg = parse_config(config_toml, config_json)?;
    cfg.device = resolve_device(parse_choice::<DeviceChoice>("device", device)?, true).map_err(err)?;
    let ds = dataset(kind, &arrays)?;
    let inner = py.detach(|| train_model(&ds, &cfg, fill_value, source, &mut |_| {})).map_err(err)?;
    Ok(Model { inner })
}

/// See `baler.compress_file`: what was written, as JSON text.
#[pyfunction]
#[pyo3(signature = (input, output, mode, value, fill_value, table, config_toml, config_json))]
#[allow(clippy::too_many_arguments)]
fn compress_file(
    py: Python<'_>,
    input: &str,
    output: PathBuf,
    mode: &str,
    value: f64,
    fill_value: Option<f64>,
    table: bool,
    config_toml: Option<&str>,
    config_json: Option<&str>,
) -> PyResult<String> {
    let bound = match Target::from_user(mode, value).map_err(err)? {
        Target::Bound(b) => b,
        Target::Psnr(_) => {
            return Err(BalerError::new_err(
                "compress_file takes abs or rel: a PSNR target needs the data in memory (use compress)",
            ));
        }
    };
    if fill_value.is_some_and(|f| !f.is_finite()) {
        return Err(BalerError::new_err("fill_value must be finite (NaN and Inf are always kept exactly)"));
    }
    let cfg = parse_config(config_toml, config_json)?;
    let opts = ReadOptions { table };
    let o = py
        .detach(|| job::compress_file(input, &output, bound, &opts, fill_value, &cfg, &mut |_, _| {}))
        .map_err(err)?;
    let summary = serde_json::json!({
        "archive": output, "original_bytes": o.original_bytes, "archive_bytes": o.archive_bytes,
        "ratio": o.original_bytes as f64 / o.archive_bytes as f64, "exceptions": o.exceptions,
        "predictors": o.predictors, "notes": o.notes, "streamed": o.streamed,
    });
    Ok(summary.to_string())
}

/// The address of the Baler HDF5 filter's class (`H5Z_class2_t`), for `h5py.h5z.register_filter`.
#[pyfunction]
fn hdf5_filter_class() -> usize {
    h5baler::H5PLget_plugin_info() as usize
}

#[pymodule]
fn _baler(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("BalerError", m.py().get_type::<BalerError>())?;
    m.add_class::<Model>()?;
    m.add_function(wrap_pyfunction!(compress, m)?)?;
    m.add_function(wrap_pyfunction!(compress_file, m)?)?;
    m.add_function(wrap_pyfunction!(decompress, m)?)?;
    m.add_function(wrap_pyfunction!(info, m)?)?;
    m.add_function(wrap_pyfunction!(train, m)?)?;
    m.add_function(wrap_pyfunction!(hdf5_filter_class, m)?)?;
    Ok(())
}
