//! A tree's flat branches read a slab of entries at a time (streaming compression of large
//! ntuples): oxyroot reads a branch basket by basket as its iterator advances, so memory holds
//! one basket per branch and the slab asked for.
//!
//! oxyroot's iterators borrow the tree they read; a worker thread owns the file, the tree and the
//! iterators, and answers each slab request in order.

use std::cell::Cell;
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use baler_codec::data::{Column, DType, Dataset, DatasetLayout, RowSource};

use super::{
    Listed, Stream, check_header, choose, entries_of, guarded, length_error, list_branches, open_tree,
    panic_error, source_line, split_inner,
};
use crate::{IoError, display};

/// Files from this size on are read by rows: below it reading whole is as fast and memory is no
/// concern (the whole read holds ≈ 2.4 × a zlib-compressed float32 ntuple's size).
pub(crate) const ROWS_FROM_BYTES: u64 = 256 << 20;

/// [`ROWS_FROM_BYTES`], or `BALER_ROOT_ROWS_FROM` where it is set to a number of bytes.
pub(crate) fn rows_from_bytes() -> u64 {
    std::env::var("BALER_ROOT_ROWS_FROM").ok().and_then(|v| v.trim().parse().ok()).unwrap_or(ROWS_FROM_BYTES)
}

/// The flat branches `FILE.root[:TREE[:SELECTION]]` names, read a slab of entries at a time, for
/// a file of [`rows_from_bytes`] or more; `None` for smaller files, jagged selections and
/// anything the whole reader ([`super::read`]) refuses: it reads them, or says what is wrong.
pub(crate) fn open_rows(path: &Path, inner: Option<&str>) -> Result<Option<crate::Rows>, IoError> {
    open_rows_from(path, inner, rows_from_bytes())
}

/// [`open_rows`] for files of `from_bytes` or more.
fn open_rows_from(path: &Path, inner: Option<&str>, from_bytes: u64) -> Result<Option<crate::Rows>, IoError> {
    let bytes = std::fs::metadata(path).map_err(|e| IoError::read(path, e))?.len();
    if bytes < from_bytes {
        return Ok(None);
    }
    let (tree, selection) = split_inner(path, inner)?;
    if check_header(path).is_err() {
        return Ok(None);
    }
    let wanted = Wanted { tree: tree.map(str::to_string), selection: selection.map(str::to_string) };
    Ok(RootRows::spawn(path, wanted)?.map(|(reader, source)| crate::Rows {
        reader: Box::new(reader),
        fill_value: None,
        source,
        axes: Vec::new(),
    }))
}

/// The tree and the selection asked for (`FILE.root[:TREE[:SELECTION]]`).
struct Wanted {
    tree: Option<String>,
    selection: Option<String>,
}

/// What the worker found to read: the flat branches' layout, and the source line.
struct Plan {
    layout: DatasetLayout,
    source: String,
}

type Reply = Result<Vec<Column>, String>;

struct RootRows {
    path: String,
    layout: DatasetLayout,
    /// `(first, rows)` slab requests; dropped first, which ends the worker.
    requests: Option<SyncSender<(usize, usize)>>,
    /// One reply per request, in order.
    replies: Receiver<Reply>,
    worker: Option<JoinHandle<()>>,
}

impl RootRows {
    /// The worker and the source line, once it has opened the tree and found flat branches to
    /// read; `None` where the whole reader must read or refuse the input (the worker has ended).
    fn spawn(path: &Path, wanted: Wanted) -> Result<Option<(Self, String)>, IoError> {
        let (requests, asked) = sync_channel(1);
        let (answer, replies) = sync_channel(1);
        let (planned, plan) = sync_channel(1);
        let file = path.to_path_buf();
        let worker = std::thread::Builder::new()
            .name("baler-root-rows".into())
            .spawn(move || serve(&file, &wanted, &planned, &asked, &answer))
            .map_err(|e| IoError::read(path, e))?;
        let plan = plan.recv().ok().flatten();
        let empty = DatasetLayout { shape: Vec::new(), table: true, streams: Vec::new() };
        let mut rows = Self {
            path: display(path),
            layout: empty,
            requests: Some(requests),
            replies,
            worker: Some(worker),
        };
        Ok(plan.map(|Plan { layout, source }| {
            rows.layout = layout;
            (rows, source)
        }))
    }
}

impl RowSource for RootRows {
    fn layout(&self) -> &DatasetLayout {
        &self.layout
    }

    fn read_rows(&mut self, first: usize, rows: usize) -> Result<Dataset, String> {
        let stopped = || format!("{}: the ROOT reader stopped", self.path);
        let requests = self.requests.as_ref().ok_or_else(stopped)?;
        requests.send((first, rows)).map_err(|_| stopped())?;
        let columns =
            self.replies.recv().map_err(|_| stopped())?.map_err(|e| format!("{}: {e}", self.path))?;
        Ok(Dataset::Table { rows, columns })
    }
}

impl Drop for RootRows {
    fn drop(&mut self) {
        self.requests.take();
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

/// The worker: opens the tree once, says what it will read (`planned`: `None` for jagged
/// selections and anything the whole reader refuses, and then it ends), and answers every
/// request in order. An error (or a panic in oxyroot) while reading answers the request being
/// served and every later one.
fn serve(
    path: &Path,
    wanted: &Wanted,
    planned: &SyncSender<Option<Plan>>,
    requests: &Receiver<(usize, usize)>,
    replies: &SyncSender<Reply>,
) {
    let (told, serving) = (Cell::new(false), Cell::new(false));
    let outcome = guarded(|| -> Result<(), String> {
        let tell = |plan: Option<Plan>| -> Result<(), String> {
            told.set(true);
            let _ = planned.send(plan);
            Ok(())
        };
        let Ok((tree_name, tree)) = open_tree(path, wanted.tree.as_deref()) else { return tell(None) };
        let listed = list_branches(&tree);
        let Ok(entries) = entries_of(&tree, &tree_name) else { return tell(None) };
        let choice = match choose(&listed, &tree_name, wanted.selection.as_deref()) {
            Ok(c) if !c.jagged => c,
            _ => return tell(None),
        };
        let streams = choice.chosen.iter().map(|l| (l.name.clone(), l.flat_dtype())).collect();
        let source = source_line(path, &tree_name, entries, &choice.flat_description());
        tell(Some(Plan {
            layout: DatasetLayout { shape: vec![entries, choice.chosen.len()], table: true, streams },
            source,
        }))?;
        let mut cursor: Option<Cursor> = None;
        while let Ok((first, rows)) = requests.recv() {
            serving.set(true);
            // An earlier entry: read again from the start (compression reads each pass in order).
            if cursor.as_ref().is_none_or(|c| first < c.next) {
                cursor = Some(Cursor::open(&choice.chosen)?);
            }
            let columns = cursor.as_mut().expect("opened above").read(first, rows, entries)?;
            serving.set(false);
            if replies.send(Ok(columns)).is_err() {
                break;
            }
        }
        Ok(())
    });
    let error = match outcome {
        _ if !told.get() => {
            // A panic before the plan: the whole reader reports what is wrong.
            let _ = planned.send(None);
            return;
        }
        Ok(Ok(())) => return,
        Ok(Err(e)) => e,
        Err(panic_msg) => panic_error(&panic_msg),
    };
    if serving.get() && replies.send(Err(error.clone())).is_err() {
        return;
    }
    while requests.recv().is_ok() {
        if replies.send(Err(error.clone())).is_err() {
            return;
        }
    }
}

/// The chosen branches' iterators, all at entry `next`.
struct Cursor<'a> {
    streams: Vec<(&'a str, DType, Stream<'a>)>,
    next: usize,
}

impl<'a> Cursor<'a> {
    fn open(chosen: &[&'a Listed<'a>]) -> Result<Self, String> {
        let streams = chosen
            .iter()
            .map(|l| Ok((l.name.as_str(), l.flat_dtype(), Stream::open(l)?)))
            .collect::<Result<_, String>>()?;
        Ok(Self { streams, next: 0 })
    }

    /// Entries `first..first + rows` (`first` not before `next`), each branch a column; the
    /// branches must hold exactly `entries` values, as read whole.
    fn read(&mut self, first: usize, rows: usize, entries: usize) -> Result<Vec<Column>, String> {
        let skip = first - self.next;
        let mut columns = Vec::with_capacity(self.streams.len());
        for (name, dtype, stream) in &mut self.streams {
            if !stream.skip(skip) {
                return Err(length_error(name, format!("fewer than {first}"), entries));
            }
            let values = stream.take(rows);
            if values.len() < rows {
                return Err(length_error(name, first + values.len(), entries));
            }
            if first + rows == entries && stream.skip(1) {
                return Err(length_error(name, format!("more than {entries}"), entries));
            }
            columns.push(Column { name: name.to_string(), dtype: *dtype, values });
        }
        self.next = first + rows;
        Ok(columns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::shared_data;
    use baler_codec::data::Values;

    fn columns(ds: Dataset) -> (usize, Vec<Column>) {
        match ds {
            Dataset::Table { rows, columns } => (rows, columns),
            Dataset::Field(_) => panic!("a table"),
        }
    }

    fn part(v: &Values, from: usize, to: usize) -> Values {
        match v {
            Values::Float(v) => Values::Float(v[from..to].to_vec()),
            Values::Int(v) => Values::Int(v[from..to].to_vec()),
        }
    }

    /// The whole reader's table of `inner`, and the same read by rows in slabs of `slab`.
    fn whole_and_by_rows(path: &Path, inner: &str, slab: usize) -> (crate::Loaded, Vec<Column>, crate::Rows) {
        let whole = super::super::read(path, Some(inner)).expect("read whole");
        let mut rows = open_rows_from(path, Some(inner), 0).expect("opens").expect("flat branches stream");
        let entries = rows.reader.layout().shape[0];
        let mut got: Vec<Column> = Vec::new();
        for first in (0..entries).step_by(slab) {
            let (n, part) = columns(rows.reader.read_rows(first, slab.min(entries - first)).expect("a slab"));
            assert_eq!(n, slab.min(entries - first));
            if got.is_empty() {
                got = part;
                continue;
            }
            for (c, p) in got.iter_mut().zip(part) {
                match (&mut c.values, p.values) {
                    (Values::Float(a), Values::Float(b)) => a.extend(b),
                    (Values::Int(a), Values::Int(b)) => a.extend(b),
                    _ => panic!("{}: the kind changed between slabs", c.name),
                }
            }
        }
        (whole, got, rows)
    }

    #[test]
    fn slabs_of_flat_branches_are_the_whole_table() {
        let path = shared_data("uproot-HZZ.root");
        for (inner, branches) in [("events", 28), ("events:MET_*,NJet", 3)] {
            let (whole, got, mut rows) = whole_and_by_rows(&path, inner, 700);
            assert_eq!(rows.source, whole.source);
            let (entries, want) = columns(whole.dataset);
            assert_eq!(entries, 2421);
            assert_eq!(rows.reader.layout().shape, [entries, want.len()]);
            assert_eq!(want.len(), branches);
            assert_eq!(got, want);
            // Back to the start (a second pass), and a slab that skips ahead.
            let (_, again) = columns(rows.reader.read_rows(0, 10).unwrap());
            let (_, later) = columns(rows.reader.read_rows(2000, 421).unwrap());
            for ((a, l), w) in again.iter().zip(&later).zip(&want) {
                assert_eq!(a.values, part(&w.values, 0, 10), "{}", w.name);
                assert_eq!(l.values, part(&w.values, 2000, 2421), "{}", w.name);
            }
        }
        // Below the size threshold, and jagged selections: read whole.
        assert!(open_rows_from(&path, Some("events"), u64::MAX).unwrap().is_none());
        assert!(open_rows_from(&path, Some("events:Muon_Px"), 0).unwrap().is_none());
        assert!(open_rows_from(&path, Some("events:MET_px,Jet_Px"), 0).unwrap().is_none());
        // What the whole reader refuses, it reports.
        assert!(open_rows_from(&path, Some("nope"), 0).unwrap().is_none());
        let Err(empty) = open_rows_from(&path, Some(""), 0) else { panic!("an empty tree name opens") };
        assert!(empty.to_string().contains("empty tree name"), "{empty}");
    }

    #[test]
    fn a_damaged_basket_is_an_error_naming_the_file_for_every_slab_after() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("damaged.root");
        let mut bytes = std::fs::read(shared_data("uproot-HZZ.root")).unwrap();
        // MET_px's only basket: its key, then its compressed values.
        let key = b"\x07TBasket\x06MET_px\x06events";
        let at = bytes.windows(key.len()).position(|w| w == key).expect("MET_px's basket") + key.len();
        bytes[at + 40..at + 240].fill(0x55);
        std::fs::write(&path, &bytes).unwrap();
        assert!(super::super::read(&path, Some("events:MET_px")).is_err());
        let mut rows = open_rows_from(&path, Some("events:MET_px,MET_py"), 0).unwrap().expect("opens");
        for first in [0, 100, 0] {
            let err = rows.reader.read_rows(first, 100).unwrap_err();
            assert!(err.starts_with(&display(&path)) && err.contains("cannot read ROOT file"), "{err}");
        }
    }
}
