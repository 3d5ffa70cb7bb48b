//! A tree's branches read a slab of rows at a time (streaming compression of large ntuples):
//! oxyroot reads a branch basket by basket as its iterator advances, so memory holds one basket
//! per branch and the slab asked for. Flat branches give a row per entry; jagged ones a row per
//! element, as read whole: their row count comes from reading the first branch once before.
//!
//! oxyroot's iterators borrow the tree they read; a worker thread owns a file, its tree and the
//! iterators of its share of the branches, and answers each slab request in order. Decompressing
//! the baskets is most of a slab's time, so there is a worker per compression thread.

use std::cell::Cell;
use std::ops::Range;
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use baler_codec::data::{Column, DType, Dataset, DatasetLayout, RowSource, Values};

use super::{
    Entries, Listed, Stream, check_header, choose, differ_error, entries_error, entries_of, guarded,
    jagged_description, length_error, list_branches, open_jagged, open_tree, panic_error, source_line,
    split_inner,
};
use crate::{IoError, display};

/// Files from this size on are read by rows: below it reading whole is as fast and memory is no
/// concern (the whole read holds ≈ 2.4 × a zlib-compressed float32 ntuple's size).
pub(crate) const ROWS_FROM_BYTES: u64 = 256 << 20;

/// [`ROWS_FROM_BYTES`], or `BALER_ROOT_ROWS_FROM` where it is set to a number of bytes.
pub(crate) fn rows_from_bytes() -> u64 {
    std::env::var("BALER_ROOT_ROWS_FROM").ok().and_then(|v| v.trim().parse().ok()).unwrap_or(ROWS_FROM_BYTES)
}

/// The branches `FILE.root[:TREE[:SELECTION]]` names, read a slab of rows at a time, for a file
/// of [`rows_from_bytes`] or more; `None` for smaller files and anything the whole reader
/// ([`super::read`]) refuses: it reads them, or says what is wrong. One reader thread per
/// compression thread, each reading its share of the branches (decompressing baskets is most of
/// the time a slab takes).
pub(crate) fn open_rows(path: &Path, inner: Option<&str>) -> Result<Option<crate::Rows>, IoError> {
    open_rows_from(path, inner, rows_from_bytes(), rayon::current_num_threads())
}

/// [`open_rows`] for files of `from_bytes` or more, with at most `readers` reader threads.
fn open_rows_from(
    path: &Path,
    inner: Option<&str>,
    from_bytes: u64,
    readers: usize,
) -> Result<Option<crate::Rows>, IoError> {
    let bytes = std::fs::metadata(path).map_err(|e| IoError::read(path, e))?.len();
    if bytes < from_bytes {
        return Ok(None);
    }
    let (tree, selection) = split_inner(path, inner)?;
    if check_header(path).is_err() {
        return Ok(None);
    }
    let wanted = Wanted { tree: tree.map(str::to_string), selection: selection.map(str::to_string) };
    Ok(RootRows::spawn(path, wanted, readers)?.map(|(reader, source)| crate::Rows {
        reader: Box::new(reader),
        fill_value: None,
        source,
        axes: Vec::new(),
    }))
}

/// The tree and the selection asked for (`FILE.root[:TREE[:SELECTION]]`).
#[derive(Clone)]
struct Wanted {
    tree: Option<String>,
    selection: Option<String>,
}

/// What the first worker found to read: the branches' layout, and the source line.
struct Plan {
    layout: DatasetLayout,
    source: String,
}

/// The branches a worker reads (indices into the selection) and the rows they make.
#[derive(Clone)]
struct Part {
    branches: Range<usize>,
    rows: usize,
}

/// What a worker does before it serves: the first plans, and is then told its part; the others
/// are given theirs.
enum Role {
    Plans { planned: SyncSender<Option<Plan>>, part: Receiver<Part> },
    Reads(Part),
}

type Reply = Result<Vec<Column>, String>;

struct RootRows {
    path: String,
    layout: DatasetLayout,
    /// The workers, each reading the next branches of the selection.
    workers: Vec<Worker>,
}

struct Worker {
    /// `(first, rows)` slab requests; dropped first, which ends the worker.
    requests: Option<SyncSender<(usize, usize)>>,
    /// One reply per request, in order.
    replies: Receiver<Reply>,
    thread: Option<JoinHandle<()>>,
}

impl Worker {
    fn spawn(path: &Path, wanted: &Wanted, role: Role) -> Result<Self, IoError> {
        let (requests, asked) = sync_channel(1);
        let (answer, replies) = sync_channel(1);
        let (file, wanted) = (path.to_path_buf(), wanted.clone());
        let thread = std::thread::Builder::new()
            .name("baler-root-rows".into())
            .spawn(move || serve(&file, &wanted, role, &asked, &answer))
            .map_err(|e| IoError::read(path, e))?;
        Ok(Self { requests: Some(requests), replies, thread: Some(thread) })
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.requests.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl RootRows {
    /// The workers and the source line, once the first has opened the tree and found branches
    /// to read; `None` where the whole reader must read or refuse the input (the worker has
    /// ended). The selection's branches are shared out in order among at most `readers` workers.
    fn spawn(path: &Path, wanted: Wanted, readers: usize) -> Result<Option<(Self, String)>, IoError> {
        let (planned, plan) = sync_channel(1);
        let (tell_part, part) = sync_channel(1);
        let first = Worker::spawn(path, &wanted, Role::Plans { planned, part })?;
        let Some(Plan { layout, source }) = plan.recv().ok().flatten() else { return Ok(None) };
        let (branches, rows) = (layout.streams.len(), layout.shape[0]);
        let n = readers.clamp(1, branches.max(1));
        let part = |k: usize| Part { branches: k * branches / n..(k + 1) * branches / n, rows };
        // The first worker is waiting for its part (it has ended where it cannot be told).
        let _ = tell_part.send(part(0));
        let mut workers = vec![first];
        for k in 1..n {
            workers.push(Worker::spawn(path, &wanted, Role::Reads(part(k)))?);
        }
        Ok(Some((Self { path: display(path), layout, workers }, source)))
    }
}

impl RowSource for RootRows {
    fn layout(&self) -> &DatasetLayout {
        &self.layout
    }

    fn read_rows(&mut self, first: usize, rows: usize) -> Result<Dataset, String> {
        let stopped = || format!("{}: the ROOT reader stopped", self.path);
        for w in &self.workers {
            w.requests.as_ref().ok_or_else(stopped)?.send((first, rows)).map_err(|_| stopped())?;
        }
        // Every worker's reply is taken (the next request must find none left), the first error
        // reported.
        let (mut columns, mut error) = (Vec::with_capacity(self.layout.streams.len()), None);
        for w in &self.workers {
            match w.replies.recv() {
                Ok(Ok(part)) => columns.extend(part),
                Ok(Err(e)) => _ = error.get_or_insert_with(|| format!("{}: {e}", self.path)),
                Err(_) => _ = error.get_or_insert_with(stopped),
            }
        }
        if let Some(e) = error {
            return Err(e);
        }
        Ok(Dataset::Table { rows, columns })
    }
}

/// A worker: opens the tree, plans or is given its part, and answers every request in order
/// with its branches' columns. The planning worker says what it will read (`None` for anything
/// the whole reader refuses, and then it ends). An error (or a panic in oxyroot) while reading
/// answers the request being served and every later one.
fn serve(
    path: &Path,
    wanted: &Wanted,
    role: Role,
    requests: &Receiver<(usize, usize)>,
    replies: &SyncSender<Reply>,
) {
    let planned = match &role {
        Role::Plans { planned, .. } => Some(planned),
        Role::Reads(_) => None,
    };
    // Whether the planning worker has told its plan (the others have none to tell).
    let (told, serving) = (Cell::new(planned.is_none()), Cell::new(false));
    let outcome = guarded(|| -> Result<(), String> {
        let tell = |plan: Option<Plan>| {
            told.set(true);
            if let Some(planned) = planned {
                let _ = planned.send(plan);
            }
        };
        // What cannot be opened the planning worker leaves to the whole reader.
        let refuse = |e: String| match planned {
            Some(_) => {
                tell(None);
                Ok(())
            }
            None => Err(e),
        };
        let (tree_name, tree) = match open_tree(path, wanted.tree.as_deref()) {
            Ok(t) => t,
            Err(e) => return refuse(e),
        };
        let listed = list_branches(&tree);
        let entries = match entries_of(&tree, &tree_name) {
            Ok(e) => e,
            Err(e) => return refuse(e),
        };
        let choice = match choose(&listed, &tree_name, wanted.selection.as_deref()) {
            Ok(c) => c,
            Err(e) => return refuse(e),
        };
        let part = match &role {
            Role::Reads(part) => part.clone(),
            Role::Plans { part, .. } => {
                let (rows, what) = match choice.jagged {
                    false => (entries, choice.flat_description()),
                    // A row per element of the first branch, counted by reading it once; where
                    // that fails, the whole reader says why.
                    true => match count_elements(choice.chosen[0], entries) {
                        Some(rows) => (rows, jagged_description(choice.chosen.len(), rows)),
                        None => return refuse(String::new()),
                    },
                };
                let streams = choice.chosen.iter().map(|l| (l.name.clone(), l.dtype())).collect();
                let shape = vec![rows, choice.chosen.len()];
                let source = source_line(path, &tree_name, entries, &what);
                let layout = DatasetLayout { shape, table: true, streams };
                tell(Some(Plan { layout, source }));
                // No part: the reader was given up.
                let Ok(part) = part.recv() else { return Ok(()) };
                part
            }
        };
        // A part of jagged branches also reads the selection's first, which every branch's
        // lengths are checked by (the whole reader's errors).
        let hidden = choice.jagged && part.branches.start > 0;
        let mut branches: Vec<&Listed> = Vec::with_capacity(part.branches.len() + 1);
        if hidden {
            branches.push(choice.chosen[0]);
        }
        branches.extend(&choice.chosen[part.branches.clone()]);
        let shape = Shape { entries, rows: part.rows };
        let mut cursor: Option<Cursor> = None;
        while let Ok((first, n)) = requests.recv() {
            serving.set(true);
            // An earlier row: read again from the start (compression reads each pass in order).
            if cursor.as_ref().is_none_or(|c| first < c.next()) {
                cursor = Some(Cursor::open(&branches, choice.jagged)?);
            }
            let mut columns = cursor.as_mut().expect("opened above").read(first, n, shape)?;
            if hidden {
                columns.remove(0);
            }
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
            if let Some(planned) = planned {
                let _ = planned.send(None);
            }
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

/// The elements of the jagged branch `l`, which must have `entries` entries; `None` where it
/// cannot be read so.
fn count_elements(l: &Listed, entries: usize) -> Option<usize> {
    let (mut held, mut elements) = (0usize, 0usize);
    for entry in open_jagged(l).ok()? {
        held += 1;
        elements += entry.len();
    }
    (held == entries).then_some(elements)
}

/// A tree's entries and the rows its chosen branches make.
#[derive(Clone, Copy)]
struct Shape {
    entries: usize,
    rows: usize,
}

/// The chosen branches, all at the same row.
enum Cursor<'a> {
    Flat(FlatCursor<'a>),
    Jagged(JaggedCursor<'a>),
}

impl<'a> Cursor<'a> {
    fn open(chosen: &[&'a Listed<'a>], jagged: bool) -> Result<Self, String> {
        Ok(match jagged {
            false => Cursor::Flat(FlatCursor::open(chosen)?),
            true => Cursor::Jagged(JaggedCursor::open(chosen)?),
        })
    }

    /// The row the next slab may start from.
    fn next(&self) -> usize {
        match self {
            Cursor::Flat(c) => c.next,
            Cursor::Jagged(c) => c.next,
        }
    }

    /// Rows `first..first + n` (`first` not before [`Self::next`]), a column per branch.
    fn read(&mut self, first: usize, n: usize, shape: Shape) -> Result<Vec<Column>, String> {
        match self {
            Cursor::Flat(c) => c.read(first, n, shape.entries),
            Cursor::Jagged(c) => c.read(first, n, shape),
        }
    }
}

/// Flat branches' iterators, all at entry `next`.
struct FlatCursor<'a> {
    streams: Vec<(&'a str, DType, Stream<'a>)>,
    next: usize,
}

impl<'a> FlatCursor<'a> {
    fn open(chosen: &[&'a Listed<'a>]) -> Result<Self, String> {
        let streams = chosen
            .iter()
            .map(|l| Ok((l.name.as_str(), l.dtype(), Stream::open(l)?)))
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

/// Jagged branches, flattened: all at element (row) `next`. Each must hold as many elements as
/// the first in every entry, and as many entries as the tree, as read whole.
struct JaggedCursor<'a> {
    branches: Vec<JaggedBranch<'a>>,
    next: usize,
}

/// One jagged branch's entries, and the entry it is in.
struct JaggedBranch<'a> {
    name: &'a str,
    dtype: DType,
    entries: Entries<'a>,
    /// The last entry read, of which `used` elements are read.
    entry: Values,
    used: usize,
    /// Entries read so far.
    read: usize,
}

/// The first branch's element counts of the entries it read in one request, from entry `from`:
/// the other branches' must be the same.
struct Counts<'a> {
    first: &'a str,
    from: usize,
    counts: Vec<usize>,
}

impl JaggedBranch<'_> {
    /// The next entry into `entry`, its count checked against (or, for the first branch, kept
    /// in) `counts`; false where the branch has no more.
    fn next_entry(&mut self, counts: &mut Counts, is_first: bool) -> Result<bool, String> {
        let Some(entry) = self.entries.next() else { return Ok(false) };
        let i = self.read;
        if is_first {
            counts.counts.push(entry.len());
        } else {
            // Before the first difference both branches read the same entries: the first's
            // count of entry i is there.
            let theirs = i.checked_sub(counts.from).and_then(|k| counts.counts.get(k)).copied();
            if theirs != Some(entry.len()) {
                return Err(differ_error(counts.first, self.name, i, (theirs.unwrap_or(0), entry.len())));
            }
        }
        self.read += 1;
        (self.entry, self.used) = (entry, 0);
        Ok(true)
    }

    /// Passes over `n` elements, into `out` where given.
    fn advance(
        &mut self,
        n: usize,
        mut out: Option<&mut Values>,
        counts: &mut Counts,
        is_first: bool,
        entries: usize,
    ) -> Result<(), String> {
        let mut left = n;
        while left > 0 {
            if self.used == self.entry.len() {
                if !self.next_entry(counts, is_first)? {
                    return Err(entries_error(self.name, self.read, entries));
                }
                continue;
            }
            let k = left.min(self.entry.len() - self.used);
            if let Some(out) = out.as_deref_mut() {
                out.extend_from(&self.entry, self.used..self.used + k);
            }
            (self.used, left) = (self.used + k, left - k);
        }
        Ok(())
    }

    /// After the last row: the entries left must be empty (the first's were, when counted),
    /// and the branch must hold the tree's entries.
    fn finish(&mut self, counts: &mut Counts, is_first: bool, entries: usize) -> Result<(), String> {
        while self.next_entry(counts, is_first)? {}
        match self.read == entries {
            true => Ok(()),
            false => Err(entries_error(self.name, self.read, entries)),
        }
    }
}

impl<'a> JaggedCursor<'a> {
    fn open(chosen: &[&'a Listed<'a>]) -> Result<Self, String> {
        let branches = chosen
            .iter()
            .map(|l| {
                Ok(JaggedBranch {
                    name: l.name.as_str(),
                    dtype: l.dtype(),
                    entries: open_jagged(l)?,
                    entry: Values::empty(l.dtype()),
                    used: 0,
                    read: 0,
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(Self { branches, next: 0 })
    }

    /// Elements `first..first + n` (`first` not before `next`), each branch a column.
    fn read(&mut self, first: usize, n: usize, shape: Shape) -> Result<Vec<Column>, String> {
        let first_name = self.branches.first().map_or("", |b| b.name);
        let from = self.branches.first().map_or(0, |b| b.read);
        let mut counts = Counts { first: first_name, from, counts: Vec::new() };
        let mut columns = Vec::with_capacity(self.branches.len());
        for (k, b) in self.branches.iter_mut().enumerate() {
            let is_first = k == 0;
            b.advance(first - self.next, None, &mut counts, is_first, shape.entries)?;
            let mut values = Values::empty(b.dtype);
            b.advance(n, Some(&mut values), &mut counts, is_first, shape.entries)?;
            if first + n == shape.rows {
                b.finish(&mut counts, is_first, shape.entries)?;
            }
            columns.push(Column { name: b.name.to_string(), dtype: b.dtype, values });
        }
        self.next = first + n;
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

    /// The whole reader's table of `inner`, and the same read by rows in slabs of `slab` by
    /// `readers` workers.
    fn whole_and_by_rows(
        path: &Path,
        inner: &str,
        slab: usize,
        readers: usize,
    ) -> (crate::Loaded, Vec<Column>, crate::Rows) {
        let whole = super::super::read(path, Some(inner)).expect("read whole");
        let mut rows = open_rows_from(path, Some(inner), 0, readers).expect("opens").expect("streams");
        let entries = rows.reader.layout().shape[0];
        let mut got: Vec<Column> = Vec::new();
        for first in (0..entries).step_by(slab) {
            let (n, part) = columns(rows.reader.read_rows(first, slab.min(entries - first)).expect("a slab"));
            assert_eq!(n, slab.min(entries - first));
            if got.is_empty() {
                got = part;
                continue;
            }
            // (Panics where a column's kind changed between slabs.)
            for (c, p) in got.iter_mut().zip(part) {
                c.values.extend_from(&p.values, 0..p.values.len());
            }
        }
        (whole, got, rows)
    }

    #[test]
    fn slabs_of_flat_branches_are_the_whole_table() {
        let path = shared_data("uproot-HZZ.root");
        // One reader, and the branches shared out among several.
        let cases =
            [("events", 28, 1), ("events", 28, 5), ("events:MET_*,NJet", 3, 2), ("events:MET_*,NJet", 3, 8)];
        for (inner, branches, readers) in cases {
            let (whole, got, mut rows) = whole_and_by_rows(&path, inner, 700, readers);
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
        // Below the size threshold: read whole.
        assert!(open_rows_from(&path, Some("events"), u64::MAX, 2).unwrap().is_none());
        // What the whole reader refuses, it reports: mixed kinds, a missing tree, an empty name.
        assert!(open_rows_from(&path, Some("events:MET_px,Jet_Px"), 0, 2).unwrap().is_none());
        assert!(open_rows_from(&path, Some("nope"), 0, 2).unwrap().is_none());
        let Err(empty) = open_rows_from(&path, Some(""), 0, 2) else { panic!("an empty tree name opens") };
        assert!(empty.to_string().contains("empty tree name"), "{empty}");
    }

    #[test]
    fn slabs_of_jagged_branches_are_the_whole_flattened_table() {
        let path = shared_data("uproot-HZZ.root");
        // Slabs that split entries, of one row, and of the whole table; a float and an int
        // branch (Muon_Charge).
        let cases = [
            ("events:Muon_*", 97, 1),
            ("events:Muon_*", 97, 3),
            ("events:Jet_Px,Jet_E", 1, 2),
            ("events:Muon_Px", 4000, 2),
        ];
        for (inner, slab, readers) in cases {
            let (whole, got, mut rows) = whole_and_by_rows(&path, inner, slab, readers);
            assert_eq!(rows.source, whole.source, "{inner}");
            assert!(whole.source.contains("jagged branches flattened to"), "{}", whole.source);
            let (n, want) = columns(whole.dataset);
            assert!(n > 2421, "{inner}: {n} rows, more than the entries");
            assert_eq!(rows.reader.layout().shape, [n, want.len()]);
            assert!(want.iter().any(|c| matches!(c.values, Values::Int(_))) || !inner.ends_with('*'));
            assert_eq!(got, want, "{inner}");
            let (_, again) = columns(rows.reader.read_rows(0, 3).unwrap());
            let (_, later) = columns(rows.reader.read_rows(n - 5, 5).unwrap());
            for ((a, l), w) in again.iter().zip(&later).zip(&want) {
                assert_eq!(a.values, part(&w.values, 0, 3), "{}", w.name);
                assert_eq!(l.values, part(&w.values, n - 5, n), "{}", w.name);
            }
        }
        // Branches of other lengths: the whole reader's error, in the slab where they differ, also
        // where the branch that differs is read by another worker than the first branch.
        let inner = "events:Muon_Px,Muon_Py,Jet_Px";
        let whole = super::super::read(&path, Some(inner)).unwrap_err().to_string();
        assert!(whole.contains("'Muon_Px' and 'Jet_Px' differ in length at entry"), "{whole}");
        for readers in [1, 2, 3] {
            let mut rows = open_rows_from(&path, Some(inner), 0, readers).unwrap().expect("streams");
            let n = rows.reader.layout().shape[0];
            let slabs = (0..n).step_by(500);
            let err = slabs.clone().find_map(|f| rows.reader.read_rows(f, 500.min(n - f)).err()).unwrap();
            assert_eq!(err, whole, "{readers} readers");
        }
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
        // Two readers: the other's replies are still taken, request by request.
        let mut rows = open_rows_from(&path, Some("events:MET_px,MET_py"), 0, 2).unwrap().expect("opens");
        for first in [0, 100, 0] {
            let err = rows.reader.read_rows(first, 100).unwrap_err();
            assert!(err.starts_with(&display(&path)) && err.contains("cannot read ROOT file"), "{err}");
        }
    }
}
