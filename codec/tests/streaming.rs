//! Compression of an input read a slab of rows at a time (`compress_rows`) writes exactly the
//! archive that in-memory compression writes for the same values, checks every value as it goes,
//! and turns a reader's failure or a slab of the wrong length into an error.
#![cfg(feature = "encode")]

use baler_codec::data::{DatasetLayout, RowSource};
use baler_codec::encode::{CompressOptions, Streamed, compress, compress_rows};
use baler_codec::{Array, BoundSpec, CodecError, Column, DType, Dataset, Values, decode};
use proptest::prelude::*;

/// A dataset in memory handed out by rows, as a file reader would.
struct InMemory {
    ds: Dataset,
    layout: DatasetLayout,
    /// Values per stream in one lattice row.
    row: usize,
    reads: usize,
}

impl InMemory {
    fn new(ds: Dataset) -> Self {
        let layout = ds.layout();
        let lattice = layout.lattice().unwrap();
        let row = if layout.table { 1 } else { lattice[1] * lattice[2] };
        Self { ds, layout, row, reads: 0 }
    }
}

fn slice(v: &Values, from: usize, to: usize) -> Values {
    match v {
        Values::Float(v) => Values::Float(v[from..to].to_vec()),
        Values::Int(v) => Values::Int(v[from..to].to_vec()),
    }
}

impl RowSource for InMemory {
    fn layout(&self) -> &DatasetLayout {
        &self.layout
    }

    fn read_rows(&mut self, first: usize, rows: usize) -> Result<Dataset, String> {
        self.reads += 1;
        let (from, to) = (first * self.row, (first + rows) * self.row);
        Ok(match &self.ds {
            Dataset::Field(a) => Dataset::Field(Array {
                dtype: a.dtype,
                shape: vec![to - from],
                values: slice(&a.values, from, to),
            }),
            Dataset::Table { columns, .. } => Dataset::Table {
                rows,
                columns: columns
                    .iter()
                    .map(|c| Column {
                        name: c.name.clone(),
                        dtype: c.dtype,
                        values: slice(&c.values, from, to),
                    })
                    .collect(),
            },
        })
    }
}

fn streamed_bytes(
    source: &mut dyn RowSource,
    opts: &CompressOptions,
) -> Result<(Streamed, Vec<u8>), CodecError> {
    let mut chunks = Vec::new();
    let mut last = (0, 0);
    let s = compress_rows(source, opts, &mut chunks, &mut |done, total| last = (done, total))?;
    assert_eq!(last.0, last.1, "progress ends at the last row");
    assert_eq!(chunks.len() as u64, s.chunk_bytes);
    let mut bytes = s.head.clone();
    bytes.extend_from_slice(&chunks);
    bytes.extend_from_slice(&s.tail);
    assert_eq!(bytes.len() as u64, s.total_bytes());
    Ok((s, bytes))
}

fn field(shape: Vec<usize>, dtype: DType, values: Vec<f64>) -> Dataset {
    let values = match dtype {
        DType::F32 => Values::Float(values.into_iter().map(|v| v as f32 as f64).collect()),
        DType::F64 => Values::Float(values),
        _ => Values::Int(values.into_iter().map(|v| v as i64).collect()),
    };
    Dataset::Field(Array { dtype, shape, values })
}

fn wave(n: usize, seed: u64) -> Vec<f64> {
    let a = (seed % 89) as f64 / 7.0;
    (0..n).map(|i| ((i as f64) * 0.011 + a).sin() * 40.0 + ((i * 7919) % 13) as f64 * 0.02).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn streamed_archives_equal_in_memory_ones(
        shape in prop::sample::select(vec![vec![37usize], vec![9, 31], vec![5, 6, 7], vec![2, 3, 4, 5], vec![40, 8, 8]]),
        dtype in prop::sample::select(vec![DType::F32, DType::F64, DType::I16, DType::U8]),
        chunk_elements in 1usize..400,
        seed in 0u64..1000,
        rel in prop::sample::select(vec![1e-1, 1e-3, 1e-6]),
        specials in any::<bool>(),
    ) {
        let n: usize = shape.iter().product();
        let mut values = wave(n, seed);
        if dtype == DType::U8 {
            values.iter_mut().for_each(|v| *v = v.abs().min(255.0));
        }
        let fill = (specials && dtype.is_float()).then_some(-999.0);
        if fill.is_some() {
            values[seed as usize % n] = f64::NAN;
            values[(seed as usize * 7) % n] = -999.0;
            values[(seed as usize * 13) % n] = f64::INFINITY;
        }
        let ds = field(shape, dtype, values);
        let opts = CompressOptions {
            bound: BoundSpec::Rel(rel),
            fill_value: fill,
            chunk_elements,
            notes: vec!["note".into()],
            ..Default::default()
        };
        let whole = compress(&ds, &opts, None).unwrap();
        let mut source = InMemory::new(ds.clone());
        let (s, bytes) = streamed_bytes(&mut source, &opts).unwrap();
        prop_assert_eq!(&bytes, &whole.bytes);
        prop_assert_eq!(s.sizes, whole.sizes);
        prop_assert_eq!(s.predictors, whole.predictors);
        prop_assert_eq!(s.exceptions, whole.exceptions);
        prop_assert_eq!(decode(&bytes, None).unwrap().element_count(), ds.element_count());
    }
}

#[test]
fn a_table_streams_to_the_same_archive() {
    let rows = 1000;
    let px: Vec<f64> = wave(rows, 3);
    let e: Vec<f64> = px.iter().map(|p| (p * p + 0.011).sqrt()).collect();
    let charge: Vec<i64> = (0..rows).map(|i| if i % 3 == 0 { -1 } else { 1 }).collect();
    let ds = Dataset::Table {
        rows,
        columns: vec![
            Column {
                name: "px".into(),
                dtype: DType::F32,
                values: Values::Float(px.iter().map(|&v| v as f32 as f64).collect()),
            },
            Column { name: "E".into(), dtype: DType::F64, values: Values::Float(e) },
            Column { name: "q".into(), dtype: DType::I8, values: Values::Int(charge) },
        ],
    };
    let opts = CompressOptions { bound: BoundSpec::Rel(1e-4), chunk_elements: 600, ..Default::default() };
    let whole = compress(&ds, &opts, None).unwrap();
    let mut source = InMemory::new(ds);
    let (_, bytes) = streamed_bytes(&mut source, &opts).unwrap();
    assert_eq!(bytes, whole.bytes);
    // The range pass and more than one batch of chunks: the input was read in several slabs.
    assert!(source.reads > 2, "{} reads", source.reads);
}

/// Every way the chunks go through the pool gives the in-memory archive: from this thread (the
/// next slab read while the pool works, where it has more than one thread), on a one-thread pool
/// (read, then encode), and from a worker of a larger pool; a reader failing while the pool works
/// on a batch is still an error.
#[test]
fn every_thread_count_streams_the_same_archive() {
    let ds = field(vec![48, 12, 10], DType::F32, wave(48 * 120, 5));
    let opts = CompressOptions { bound: BoundSpec::Rel(1e-4), chunk_elements: 600, ..Default::default() };
    let whole = compress(&ds, &opts, None).unwrap();
    let here = streamed_bytes(&mut InMemory::new(ds.clone()), &opts).unwrap().1;
    assert_eq!(here, whole.bytes);
    for threads in [1, 3] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let on_worker = pool.install(|| streamed_bytes(&mut InMemory::new(ds.clone()), &opts).unwrap().1);
        assert_eq!(on_worker, whole.bytes, "{threads} threads");
    }
    for good in [1, 2, 4] {
        let mut src = Faulty { inner: InMemory::new(ds.clone()), good, short: false };
        let err = compress_rows(&mut src, &opts, &mut Vec::new(), &mut |_, _| {}).err().expect("an error");
        assert!(err.to_string().contains("disk on fire"), "{err}");
    }
}

/// A reader that fails, or hands back the wrong number of values, after `good` reads.
struct Faulty {
    inner: InMemory,
    good: usize,
    short: bool,
}

impl RowSource for Faulty {
    fn layout(&self) -> &DatasetLayout {
        self.inner.layout()
    }

    fn read_rows(&mut self, first: usize, rows: usize) -> Result<Dataset, String> {
        if self.inner.reads >= self.good {
            if !self.short {
                return Err("input.npy: disk on fire".into());
            }
            return self.inner.read_rows(first, rows.saturating_sub(1).max(1)).map(|d| match rows {
                1 => {
                    Dataset::Field(Array { dtype: DType::F64, shape: vec![0], values: Values::Float(vec![]) })
                }
                _ => d,
            });
        }
        self.inner.read_rows(first, rows)
    }
}

#[test]
fn reader_failures_and_short_slabs_are_errors() {
    let ds = field(vec![64, 4, 4], DType::F64, wave(1024, 1));
    let opts = CompressOptions { bound: BoundSpec::Abs(1e-3), chunk_elements: 64, ..Default::default() };
    for good in [0, 1, 3] {
        for short in [false, true] {
            let mut src = Faulty { inner: InMemory::new(ds.clone()), good, short };
            let mut chunks = Vec::new();
            let err = compress_rows(&mut src, &opts, &mut chunks, &mut |_, _| {}).err().expect("an error");
            let msg = err.to_string();
            match short {
                false => assert!(msg.contains("input.npy: disk on fire"), "{msg}"),
                true => assert!(msg.contains("another layout or length"), "{msg}"),
            }
        }
    }
}
