//! NetCDF input (`file.nc:VARIABLE`, or `file.nc:group/VARIABLE`), behind the `netcdf` cargo
//! feature (Debian: `libnetcdf-dev`). netCDF-3 (classic, 64-bit offset, CDF-5) and netCDF-4 files.
//!
//! * A numeric variable of any type and rank is a [`Dataset::Field`] with its dims as the shape.
//!   The values are returned exactly as stored: `scale_factor` / `add_offset` are not applied
//!   (they are named in the source description), and fill values stay in the data.
//! * The fill value is the variable's `_FillValue` attribute, else its `missing_value`
//!   (the first one if it holds several), as the variable's type rounds it.
//! * Without a variable name the file must hold exactly one data variable in its root group:
//!   coordinate variables (`lat(lat)`) and the variables other variables name in their
//!   `bounds`, `climatology`, `grid_mapping` or `coordinates` attributes do not count.

use std::path::Path;

use super::{IoError, Loaded};

/// Reads the variable `inner` (`None`: the file's only data variable).
pub(crate) fn read(path: &Path, inner: Option<&str>) -> Result<Loaded, IoError> {
    #[cfg(feature = "netcdf")]
    {
        // The netcdf crate unwraps a few library errors (e.g. on odd names or types); turn a
        // panic there into an error on this file rather than a crash.
        std::panic::catch_unwind(|| imp::read(path, inner))
            .unwrap_or_else(|_| Err(IoError::invalid(path, "the NetCDF library wrapper failed on this file")))
    }
    #[cfg(not(feature = "netcdf"))]
    {
        let _ = inner;
        Err(IoError::invalid(
            path,
            "this build has no NetCDF support (rebuild baler-train with --features netcdf)",
        ))
    }
}

/// The variable `inner` for reading by rows, when it is numeric with 1 to 3 dimensions.
pub(crate) fn open_rows(path: &Path, inner: Option<&str>) -> Result<Option<super::Rows>, IoError> {
    #[cfg(feature = "netcdf")]
    {
        std::panic::catch_unwind(|| imp::open_rows(path, inner))
            .unwrap_or_else(|_| Err(IoError::invalid(path, "the NetCDF library wrapper failed on this file")))
    }
    #[cfg(not(feature = "netcdf"))]
    {
        let _ = (path, inner);
        Ok(None)
    }
}

#[cfg(feature = "netcdf")]
mod imp {
    use std::collections::HashSet;
    use std::path::Path;

    use ::netcdf::types::{FloatType, IntType, NcVariableType};
    use ::netcdf::{AttributeValue, Extent, Extents, NcTypeDescriptor, Variable};
    use baler_codec::data::{Array, DType, Dataset, DatasetLayout, RowSource, Values, slabs};
    use baler_codec::preprocess::RangeScan;

    use crate::{IoError, Loaded, display, file_name, fmt_value};

    /// At most this many variable names in an error message.
    const LIST_MAX: usize = 30;

    pub(super) fn read(path: &Path, inner: Option<&str>) -> Result<Loaded, IoError> {
        let file = open(path)?;
        let name = find_variable(path, &file, inner)?;
        with_variable(&file, &name, |v| read_variable(path, v, &name))
            .unwrap_or_else(|| Err(IoError::invalid(path, format!("no variable '{name}'"))))
    }

    /// Opens `path` as NetCDF, or says why not.
    fn open(path: &Path) -> Result<::netcdf::File, IoError> {
        // a missing file is "file not found", like every other format
        std::fs::metadata(path).map_err(|e| IoError::read(path, e))?;
        // netCDF-4 probes attributes that may not exist; HDF5 prints such errors unless told
        // not to, once per thread, and the NetCDF library only tells its first thread
        #[cfg(feature = "hdf5")]
        ::hdf5::silence_errors(true);
        ::netcdf::open(path)
            .map_err(|e| IoError::invalid(path, format!("cannot open as NetCDF: {}", nc_msg(&e))))
    }

    /// The name of the variable `inner` names (`group/VAR` inside a group), or of the file's
    /// only data variable.
    fn find_variable(path: &Path, file: &::netcdf::File, inner: Option<&str>) -> Result<String, IoError> {
        let wanted = inner.map(|s| s.trim().trim_start_matches('/')).filter(|s| !s.is_empty());
        let root: Vec<Variable> = file.variables().collect();
        match wanted {
            Some(name) => with_variable(file, name, |_| name.to_string())
                .ok_or_else(|| IoError::invalid(path, format!("no variable '{name}' ({})", list(&root)))),
            None => {
                let data = data_variables(root);
                match data.len() {
                    1 => Ok(data[0].name()),
                    0 => {
                        let all: Vec<Variable> = file.variables().collect();
                        Err(IoError::invalid(path, format!("no data variable to read ({})", list(&all))))
                    }
                    n => Err(IoError::invalid(
                        path,
                        format!(
                            "the file holds {n} data variables, name one as {}:VARIABLE ({})",
                            display(path),
                            list(&data)
                        ),
                    )),
                }
            }
        }
    }

    /// `f` of the variable `name` (`group/VAR` inside a group), if there is one.
    fn with_variable<T>(file: &::netcdf::File, name: &str, f: impl FnOnce(&Variable) -> T) -> Option<T> {
        match name.rsplit_once('/') {
            None => file.variable(name).map(|v| f(&v)),
            Some((groups, stem)) => match file.group(groups) {
                Ok(Some(g)) => g.variable(stem).map(|v| f(&v)),
                _ => None,
            },
        }
    }

    /// A numeric variable read a slab of its first dimension at a time (streaming compression);
    /// `None` for a variable [`read`] must read whole (no dimensions, more than 3).
    pub(super) fn open_rows(path: &Path, inner: Option<&str>) -> Result<Option<crate::Rows>, IoError> {
        let file = open(path)?;
        let name = find_variable(path, &file, inner)?;
        let found = with_variable(&file, &name, |var| -> Result<_, IoError> {
            let dtype = numeric(path, var, &name)?;
            let shape: Vec<usize> = var.dimensions().iter().map(|d| d.len()).collect();
            let (fill_value, source) = describe(path, var, &name, dtype);
            Ok((dtype, shape, fill_value, source, axis_names(var)))
        });
        let (dtype, shape, fill_value, source, axes) =
            found.ok_or_else(|| IoError::invalid(path, format!("no variable '{name}'")))??;
        if shape.is_empty() || shape.len() > 3 {
            return Ok(None);
        }
        let layout = DatasetLayout { shape, table: false, streams: vec![(String::new(), dtype)] };
        let reader = NcRows { path: display(path), file, name, dtype, layout };
        Ok(Some(crate::Rows { reader: Box::new(reader), fill_value, source, axes }))
    }

    struct NcRows {
        path: String,
        file: ::netcdf::File,
        /// The variable's name, as [`find_variable`] gives it (`group/VAR` inside a group).
        name: String,
        dtype: DType,
        layout: DatasetLayout,
    }

    impl RowSource for NcRows {
        fn layout(&self) -> &DatasetLayout {
            &self.layout
        }

        fn read_rows(&mut self, first: usize, rows: usize) -> Result<Dataset, String> {
            let values = self.read_slab(first, rows, |v, extents| values(v, self.dtype, extents))?;
            let shape = vec![values.len()];
            Ok(Dataset::Field(Array { dtype: self.dtype, shape, values }))
        }

        /// A float variable's range from slabs of its first dimension read in its own type, with
        /// no f64 copy of float32 values (as HDF5's [`RowSource::field_range`]).
        fn field_range(&mut self, fill: Option<f64>) -> Option<Result<Option<(f64, f64)>, String>> {
            if !self.dtype.is_float() {
                return None;
            }
            let shape = &self.layout.shape;
            let mut scan = RangeScan::new(fill, self.dtype);
            for (first, rows) in slabs(shape[0], shape[1..].iter().product(), SCAN_VALUES) {
                let scanned = self.read_slab(first, rows, |v, extents| match self.dtype {
                    DType::F32 => v.get_values::<f32, _>(extents).map(|v| scan.add_f32(&v)),
                    _ => v.get_values::<f64, _>(extents).map(|v| scan.add(&v)),
                });
                if let Err(e) = scanned {
                    return Some(Err(e));
                }
            }
            Some(Ok(scan.range()))
        }
    }

    impl NcRows {
        /// `get` of rows `first..first + rows` of the first dimension (all of the others), with
        /// errors that name the file and the variable.
        fn read_slab<T>(
            &self,
            first: usize,
            rows: usize,
            get: impl FnOnce(&Variable, Vec<Extent>) -> ::netcdf::Result<T>,
        ) -> Result<T, String> {
            let read = || -> Result<T, String> {
                // With at most 3 dimensions a lattice row is one index of the first.
                let extents: Vec<Extent> = (0..self.layout.shape.len())
                    .map(|axis| if axis == 0 { (first..first + rows).into() } else { (..).into() })
                    .collect();
                with_variable(&self.file, &self.name, |v| get(v, extents))
                    .ok_or_else(|| format!("variable '{}' is gone", self.name))?
                    .map_err(|e| format!("cannot read variable '{}': {}", self.name, nc_msg(&e)))
            };
            // The netcdf crate unwraps a few library errors: an error on this file, not a crash.
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(read))
                .unwrap_or_else(|_| Err("the NetCDF library wrapper failed on this file".into()))
                .map_err(|e| format!("{}: {e}", self.path))
        }
    }

    /// Values a slab of the range scan holds.
    const SCAN_VALUES: usize = 1 << 22;

    /// The netcdf crate's message, without its "netcdf error(N): " prefix.
    fn nc_msg(e: &::netcdf::Error) -> String {
        let s = e.to_string();
        match s.split_once("): ") {
            Some((head, tail)) if head.starts_with("netcdf error(") => tail.to_string(),
            _ => s,
        }
    }

    /// `time (float64, time), sst (float32, time×lat×lon), ...` (or "the file holds no
    /// variables"), at most [`LIST_MAX`] of them.
    fn list(vars: &[Variable]) -> String {
        if vars.is_empty() {
            return "the file holds no variables".into();
        }
        let mut parts: Vec<String> = vars
            .iter()
            .take(LIST_MAX)
            .map(|v| format!("{} ({}, {})", v.name(), type_name(&v.vartype()), dims_text(v)))
            .collect();
        if vars.len() > LIST_MAX {
            parts.push(format!("and {} more", vars.len() - LIST_MAX));
        }
        format!("variables: {}", parts.join(", "))
    }

    /// The variables that hold data: numeric, not a coordinate variable, not named by
    /// another variable's `bounds`, `climatology`, `grid_mapping` or `coordinates`.
    fn data_variables(vars: Vec<Variable>) -> Vec<Variable> {
        let mut auxiliary = HashSet::new();
        for v in &vars {
            for attr in ["bounds", "climatology", "grid_mapping", "coordinates"] {
                if let Some(Ok(AttributeValue::Str(s))) = v.attribute_value(attr) {
                    // grid_mapping may read "crs: lat lon"; take every word
                    auxiliary.extend(s.split_whitespace().map(|w| w.trim_end_matches(':').to_string()));
                }
            }
        }
        vars.into_iter()
            .filter(|v| {
                let name = v.name();
                let dims = v.dimensions();
                let coordinate = dims.len() == 1 && dims[0].name() == name;
                !coordinate && !auxiliary.contains(&name) && dtype_of(&v.vartype()).is_some()
            })
            .collect()
    }

    fn dtype_of(t: &NcVariableType) -> Option<DType> {
        Some(match t {
            NcVariableType::Float(FloatType::F32) => DType::F32,
            NcVariableType::Float(FloatType::F64) => DType::F64,
            NcVariableType::Int(IntType::I8) => DType::I8,
            NcVariableType::Int(IntType::I16) => DType::I16,
            NcVariableType::Int(IntType::I32) => DType::I32,
            NcVariableType::Int(IntType::I64) => DType::I64,
            NcVariableType::Int(IntType::U8) => DType::U8,
            NcVariableType::Int(IntType::U16) => DType::U16,
            NcVariableType::Int(IntType::U32) => DType::U32,
            NcVariableType::Int(IntType::U64) => DType::U64,
            _ => return None,
        })
    }

    fn type_name(t: &NcVariableType) -> &'static str {
        match (dtype_of(t), t) {
            (Some(d), _) => d.name(),
            (None, NcVariableType::Char) => "char",
            (None, NcVariableType::String) => "string",
            (None, NcVariableType::Compound(_)) => "compound",
            (None, NcVariableType::Enum(_)) => "enum",
            (None, NcVariableType::Vlen(_)) => "vlen",
            (None, NcVariableType::Opaque(_)) => "opaque",
            (None, _) => "unknown type",
        }
    }

    /// `time×lat×lon`, or `scalar`.
    fn dims_text(v: &Variable) -> String {
        let dims = v.dimensions();
        if dims.is_empty() {
            return "scalar".into();
        }
        dims.iter().map(|d| d.name()).collect::<Vec<_>>().join("×")
    }

    fn read_variable(path: &Path, v: &Variable, name: &str) -> Result<Loaded, IoError> {
        let dtype = numeric(path, v, name)?;
        let values = values(v, dtype, Extents::All)
            .map_err(|e| IoError::invalid(path, format!("cannot read variable '{name}': {}", nc_msg(&e))))?;
        let shape: Vec<usize> = v.dimensions().iter().map(|d| d.len()).collect();
        let (fill_value, source) = describe(path, v, name, dtype);
        let axes = axis_names(v);
        Ok(Loaded { dataset: Dataset::Field(Array { dtype, shape, values }), fill_value, source, axes })
    }

    /// The variable's dimension names, one per axis.
    fn axis_names(v: &Variable) -> Vec<String> {
        v.dimensions().iter().map(|d| d.name()).collect()
    }

    /// The dtype of a numeric variable, or an error naming what it holds.
    fn numeric(path: &Path, v: &Variable, name: &str) -> Result<DType, IoError> {
        let vartype = v.vartype();
        dtype_of(&vartype).ok_or_else(|| {
            IoError::invalid(
                path,
                format!("variable '{name}' holds {} values, not numbers", type_name(&vartype)),
            )
        })
    }

    /// The values of `extents` of a variable of `dtype`.
    fn values(v: &Variable, dtype: DType, extents: impl Into<Extents>) -> ::netcdf::Result<Values> {
        let extents: Extents = extents.into();
        fn get<T: NcTypeDescriptor + Copy>(v: &Variable, e: &Extents) -> ::netcdf::Result<Vec<T>> {
            v.get_values::<T, _>(e.clone())
        }
        fn ints<T: NcTypeDescriptor + Copy + Into<i64>>(
            v: &Variable,
            e: &Extents,
        ) -> ::netcdf::Result<Values> {
            Ok(Values::Int(get::<T>(v, e)?.into_iter().map(Into::into).collect()))
        }
        let e = &extents;
        Ok(match dtype {
            DType::F32 => Values::Float(get::<f32>(v, e)?.into_iter().map(f64::from).collect()),
            DType::F64 => Values::Float(get::<f64>(v, e)?),
            DType::I8 => ints::<i8>(v, e)?,
            DType::I16 => ints::<i16>(v, e)?,
            DType::I32 => ints::<i32>(v, e)?,
            DType::I64 => ints::<i64>(v, e)?,
            DType::U8 => ints::<u8>(v, e)?,
            DType::U16 => ints::<u16>(v, e)?,
            DType::U32 => ints::<u32>(v, e)?,
            // a u64 above i64::MAX is kept by its bits
            DType::U64 => Values::Int(get::<u64>(v, e)?.into_iter().map(|x| x as i64).collect()),
        })
    }

    /// The fill value (`_FillValue`, else `missing_value`) and the one-line description of the
    /// variable that archives record.
    fn describe(path: &Path, v: &Variable, name: &str, dtype: DType) -> (Option<f64>, String) {
        let attr = |n: &str| -> Option<AttributeValue> { v.attribute_value(n)?.ok() };
        let fill = attr("_FillValue").and_then(|a| first_number(&a));
        let missing = attr("missing_value").and_then(|a| first_number(&a));
        let fill_value = fill.or(missing).map(|x| as_dtype(x, dtype));

        let mut source =
            format!("{}:{name} (NetCDF, {}, dims {}", file_name(path), dtype.name(), dims_text(v));
        if let Some(f) = fill {
            source += &format!(", _FillValue {}", fmt_value(as_dtype(f, dtype), dtype));
        }
        if let Some(m) = missing {
            let m = as_dtype(m, dtype);
            match fill_value {
                Some(f) if f.to_bits() != m.to_bits() => {
                    source += &format!(", missing_value {} (not used)", fmt_value(m, dtype));
                }
                Some(_) if fill.is_some() => {}
                _ => source += &format!(", missing_value {}", fmt_value(m, dtype)),
            }
        }
        for a in ["scale_factor", "add_offset"] {
            if let Some(x) = attr(a).and_then(|x| first_number(&x)) {
                source += &format!(", {a} {} (not applied)", fmt_value(x, DType::F64));
            }
        }
        source.push(')');
        (fill_value, source)
    }

    /// A numeric attribute's (first) value.
    fn first_number(a: &AttributeValue) -> Option<f64> {
        fn first<T: Copy>(v: &[T], f: impl Fn(T) -> f64) -> Option<f64> {
            v.first().map(|&x| f(x))
        }
        match a {
            AttributeValue::Uchar(x) => Some(f64::from(*x)),
            AttributeValue::Schar(x) => Some(f64::from(*x)),
            AttributeValue::Ushort(x) => Some(f64::from(*x)),
            AttributeValue::Short(x) => Some(f64::from(*x)),
            AttributeValue::Uint(x) => Some(f64::from(*x)),
            AttributeValue::Int(x) => Some(f64::from(*x)),
            AttributeValue::Ulonglong(x) => Some(*x as f64),
            AttributeValue::Longlong(x) => Some(*x as f64),
            AttributeValue::Float(x) => Some(f64::from(*x)),
            AttributeValue::Double(x) => Some(*x),
            AttributeValue::Uchars(v) => first(v, f64::from),
            AttributeValue::Schars(v) => first(v, f64::from),
            AttributeValue::Ushorts(v) => first(v, f64::from),
            AttributeValue::Shorts(v) => first(v, f64::from),
            AttributeValue::Uints(v) => first(v, f64::from),
            AttributeValue::Ints(v) => first(v, f64::from),
            AttributeValue::Ulonglongs(v) => first(v, |x| x as f64),
            AttributeValue::Longlongs(v) => first(v, |x| x as f64),
            AttributeValue::Floats(v) => first(v, f64::from),
            AttributeValue::Doubles(v) => first(v, |x| x),
            AttributeValue::Str(_) | AttributeValue::Strs(_) => None,
        }
    }

    /// A fill value as it appears in data of `dtype` (a double attribute on float data is
    /// rounded to float, so that it equals the values it marks).
    fn as_dtype(v: f64, dtype: DType) -> f64 {
        if dtype == DType::F32 {
            let r = v as f32;
            if r.is_finite() || !v.is_finite() {
                return f64::from(r);
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(not(feature = "netcdf"))]
    #[test]
    fn without_the_feature_the_error_says_how_to_get_it() {
        let err = read(Path::new("data.nc"), Some("sst")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "data.nc: this build has no NetCDF support (rebuild baler-train with --features netcdf)"
        );
    }

    #[cfg(feature = "netcdf")]
    #[test]
    fn missing_file_is_not_found() {
        let err = read(Path::new("no/such/file.nc"), None).unwrap_err();
        assert!(matches!(err, IoError::NotFound { .. }), "{err:?}");
    }
}
