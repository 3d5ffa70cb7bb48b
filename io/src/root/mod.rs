//! ROOT TTrees (`file.root:TREE[:SELECTION]`), read with the pure-Rust `oxyroot`.
//!
//! * `file.root:events`: every flat numeric branch (one value per entry: `float`, `double`,
//!   8..64-bit signed / unsigned integers, `bool`) becomes a column of a [`Dataset::Table`] with
//!   one row per entry, in its own dtype (`bool` as uint8). Other branches (jagged arrays,
//!   strings, objects, fixed-size arrays) are skipped and named in the source line.
//! * `file.root:events:Muon_Px,Muon_Py`: exactly these branches, in the order given. Flat
//!   branches give one row per entry; jagged branches (`float[]` / `std::vector<float>`, ...)
//!   that hold the same number of elements in every entry are flattened to one row per element.
//!   Mixing flat and jagged branches, or jagged branches of different lengths, is an error.
//! * `Muon_*`: a trailing `*` selects every branch with that prefix, in the file's order.
//! * No tree given: the file's only TTree, else an error listing them.
//! * The branches of a large file are also read a slab of rows at a time ([`rows`]).
//!
//! `oxyroot` panics on some malformed input; every call into it runs under
//! [`std::panic::catch_unwind`] (with the panic message kept off stderr) and a panic becomes
//! an [`IoError`] "cannot read ROOT file: ...".

use std::any::Any;
use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::sync::Once;

use baler_codec::data::{Column, DType, Dataset, Values};
use oxyroot::{Branch, Named, ReaderTree, RootFile, Slice};

use super::{IoError, Loaded};

mod rows;
pub(crate) use rows::open_rows;

/// Reads a TTree (see the module documentation for the `inner` syntax).
pub(crate) fn read(path: &Path, inner: Option<&str>) -> Result<Loaded, IoError> {
    std::fs::metadata(path).map_err(|e| IoError::read(path, e))?;
    let (tree, selection) = split_inner(path, inner)?;
    check_header(path).map_err(|msg| IoError::invalid(path, format!("cannot read ROOT file: {msg}")))?;
    match guarded(|| read_tree(path, tree, selection)) {
        Ok(result) => result.map_err(|msg| IoError::invalid(path, msg)),
        // oxyroot panics on damage it does not check for (e.g. "capacity overflow")
        Err(panic_msg) => Err(IoError::invalid(path, panic_error(&panic_msg))),
    }
}

/// `TREE[:SELECTION]` split: (the tree, the selection).
fn split_inner<'a>(
    path: &Path,
    inner: Option<&'a str>,
) -> Result<(Option<&'a str>, Option<&'a str>), IoError> {
    let (tree, selection) = match inner {
        None => (None, None),
        Some(s) => match s.split_once(':') {
            Some((t, sel)) => (Some(t.trim()), Some(sel)),
            None => (Some(s.trim()), None),
        },
    };
    if tree == Some("") {
        return Err(IoError::invalid(path, "empty tree name (expected FILE.root:TREE[:BRANCHES])"));
    }
    Ok((tree, selection))
}

/// The file header: `root`, the version, where the data begins and where the file ends
/// (32-bit offsets before version 1000000, 64-bit after). Catches what oxyroot reports badly.
fn check_header(path: &Path) -> Result<(), String> {
    use std::io::Read;
    let mut head = Vec::with_capacity(20);
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let len = file.metadata().map_err(|e| e.to_string())?.len();
    file.take(20).read_to_end(&mut head).map_err(|e| e.to_string())?;
    if !head.starts_with(b"root") {
        return Err("not a ROOT file (it does not start with 'root')".into());
    }
    let be =
        |r: std::ops::Range<usize>| head.get(r).map(|b| b.iter().fold(0u64, |a, &x| a << 8 | u64::from(x)));
    let end = match be(4..8) {
        Some(v) if v >= 1_000_000 => be(12..20),
        Some(_) => be(12..16),
        None => None,
    };
    match end {
        None => Err(TRUNCATED.into()),
        Some(end) if end > len => {
            Err(format!("file is truncated: its header says it holds {end} bytes, it has {len}"))
        }
        Some(_) => Ok(()),
    }
}

/// What a panic in oxyroot (`guarded`'s message) tells the user.
fn panic_error(panic_msg: &str) -> String {
    match plain(panic_msg) {
        m if m == TRUNCATED || m == DAMAGED => format!("cannot read ROOT file: {m}"),
        m => format!("cannot read ROOT file: {DAMAGED} ({m})"),
    }
}

const TRUNCATED: &str = "file is truncated or not a ROOT file: unexpected end of file";
const DAMAGED: &str = "the file is damaged or holds something this ROOT reader cannot read";

/// oxyroot's errors and panics print Rust debug text (`Io(Error { kind: UnexpectedEof, .. })`):
/// one plain sentence instead.
fn plain(msg: &str) -> String {
    if msg.contains("UnexpectedEof") || msg.contains("CantReadAmountOfBytesFromFile") {
        return TRUNCATED.into();
    }
    let debug_like = ["{", "}", "Error", "kind:", "`", "unwrap"].iter().any(|m| msg.contains(m));
    if debug_like || msg.trim().is_empty() { DAMAGED.into() } else { msg.trim().to_string() }
}

/// What a branch holds, as far as this reader is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// One value per entry.
    Flat(Prim),
    /// A variable-length array per entry: `T[]` (C array with a counter branch).
    JaggedSlice(Prim),
    /// A variable-length array per entry: `vector<T>`.
    JaggedVector(Prim),
}

/// The numeric element types oxyroot can read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Prim {
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    F32,
    F64,
    Bool,
}

impl Prim {
    /// oxyroot's C++ type name (`Branch::item_type_name`) for a primitive.
    fn parse(s: &str) -> Option<Prim> {
        Some(match s.trim() {
            "int8_t" => Prim::I8,
            "uint8_t" => Prim::U8,
            "int16_t" => Prim::I16,
            "uint16_t" => Prim::U16,
            "int32_t" => Prim::I32,
            "uint32_t" => Prim::U32,
            "int64_t" => Prim::I64,
            "uint64_t" => Prim::U64,
            "float" => Prim::F32,
            "double" => Prim::F64,
            "bool" => Prim::Bool,
            _ => return None,
        })
    }

    fn dtype(self) -> DType {
        match self {
            Prim::I8 => DType::I8,
            Prim::U8 | Prim::Bool => DType::U8,
            Prim::I16 => DType::I16,
            Prim::U16 => DType::U16,
            Prim::I32 => DType::I32,
            Prim::U32 => DType::U32,
            Prim::I64 => DType::I64,
            Prim::U64 => DType::U64,
            Prim::F32 => DType::F32,
            Prim::F64 => DType::F64,
        }
    }
}

/// Classifies a C++ type name as oxyroot reports it; `Err` says why it is not read.
fn classify(type_name: &str) -> Result<Kind, String> {
    let t = type_name.trim();
    if let Some(p) = Prim::parse(t) {
        return Ok(Kind::Flat(p));
    }
    if let Some(elem) = t.strip_suffix("[]") {
        return match Prim::parse(elem) {
            Some(p) => Ok(Kind::JaggedSlice(p)),
            None => Err(format!("array of {elem}")),
        };
    }
    if let Some(elem) = t.strip_prefix("vector<").and_then(|r| r.strip_suffix('>')) {
        return match Prim::parse(elem) {
            Some(p) => Ok(Kind::JaggedVector(p)),
            None => Err(t.to_string()),
        };
    }
    if t.ends_with(']') {
        return Err(format!("fixed-size array {t}"));
    }
    Err(t.to_string())
}

/// One branch of the tree as listed: its name and what it holds.
struct Listed<'a> {
    name: String,
    branch: &'a Branch,
    kind: Result<Kind, String>,
}

impl Listed<'_> {
    /// The dtype of a readable branch's values (only those are asked).
    fn dtype(&self) -> DType {
        match self.kind {
            Ok(Kind::Flat(p) | Kind::JaggedSlice(p) | Kind::JaggedVector(p)) => p.dtype(),
            Err(_) => unreachable!("the dtype of a readable branch only"),
        }
    }

    fn is_jagged(&self) -> bool {
        matches!(self.kind, Ok(Kind::JaggedSlice(_) | Kind::JaggedVector(_)))
    }

    /// Why this branch is skipped, in a few words.
    fn skip_reason(&self) -> String {
        match &self.kind {
            Ok(_) => "jagged".into(),
            Err(t) => t.clone(),
        }
    }
}

fn read_tree(path: &Path, tree_name: Option<&str>, selection: Option<&str>) -> Result<Loaded, String> {
    let (tree_name, tree) = open_tree(path, tree_name)?;
    let listed = list_branches(&tree);
    let entries = entries_of(&tree, &tree_name)?;
    let choice = choose(&listed, &tree_name, selection)?;
    let source = |what: String| source_line(path, &tree_name, entries, &what);
    if !choice.jagged {
        let columns =
            choice.chosen.iter().map(|l| read_flat_column(l, entries)).collect::<Result<Vec<_>, _>>()?;
        return Ok(Loaded {
            source: source(choice.flat_description()),
            dataset: Dataset::Table { rows: entries, columns },
            fill_value: None,
            axes: Vec::new(),
        });
    }
    // Jagged: every branch must hold as many elements as the first, entry by entry.
    let mut columns = Vec::with_capacity(choice.chosen.len());
    let mut first_counts: Option<(&str, Vec<usize>)> = None;
    for l in &choice.chosen {
        let (column, counts) = read_jagged_column(l, entries)?;
        match &first_counts {
            None => first_counts = Some((l.name.as_str(), counts)),
            Some((first, reference)) => {
                if let Some(i) = (0..entries).find(|&i| counts[i] != reference[i]) {
                    return Err(differ_error(first, &l.name, i, (reference[i], counts[i])));
                }
            }
        }
        columns.push(column);
    }
    let rows = columns.first().map_or(0, |c: &Column| c.values.len());
    Ok(Loaded {
        source: source(jagged_description(columns.len(), rows)),
        dataset: Dataset::Table { rows, columns },
        fill_value: None,
        axes: Vec::new(),
    })
}

/// Jagged branches `first` and `other` hold `lengths` elements at entry `i`, which differ.
fn differ_error(first: &str, other: &str, i: usize, lengths: (usize, usize)) -> String {
    format!(
        "jagged branches '{first}' and '{other}' differ in length at entry {i} ({} vs {} elements): \
         select branches that share one counter",
        lengths.0, lengths.1
    )
}

/// Jagged branches read, for the source line.
fn jagged_description(branches: usize, rows: usize) -> String {
    format!("{branches} jagged branches flattened to {rows} rows")
}

/// What the archive records as its input: the file, the tree, its entries and `what` was read.
fn source_line(path: &Path, tree_name: &str, entries: usize, what: &str) -> String {
    format!("{}:{tree_name} (ROOT TTree, {entries} entries, {what})", super::file_name(path))
}

/// The file's tree `tree_name`, or its only tree: (its name, the tree).
fn open_tree(path: &Path, tree_name: Option<&str>) -> Result<(String, ReaderTree), String> {
    let mut file =
        RootFile::open(path).map_err(|e| format!("cannot open ROOT file: {}", plain(&e.to_string())))?;
    let mut trees: Vec<String> = Vec::new();
    let mut others: Vec<String> = Vec::new();
    for key in file.keys() {
        let name = key.name().to_string();
        let list = if key.class_name() == "TTree" { &mut trees } else { &mut others };
        if !list.contains(&name) {
            list.push(name);
        }
    }
    let describe_trees = |trees: &[String]| {
        if trees.is_empty() {
            "the file holds no TTree".to_string()
        } else {
            format!("its trees: {}", trees.join(", "))
        }
    };
    let tree_name = match tree_name {
        Some(t) => {
            if !trees.iter().any(|n| n == t) {
                let what = if others.iter().any(|n| n == t) {
                    format!("'{t}' is not a TTree")
                } else {
                    format!("no tree '{t}'")
                };
                return Err(format!("{what} ({})", describe_trees(&trees)));
            }
            t.to_string()
        }
        None => match trees.as_slice() {
            [one] => one.clone(),
            [] => return Err("the file holds no TTree".into()),
            _ => {
                return Err(format!(
                    "the file holds {} trees, name one as FILE.root:TREE ({})",
                    trees.len(),
                    describe_trees(&trees)
                ));
            }
        },
    };
    let tree = file
        .get_tree(&tree_name)
        .map_err(|e| format!("cannot read tree '{tree_name}': {}", plain(&e.to_string())))?;
    Ok((tree_name, tree))
}

fn entries_of(tree: &ReaderTree, tree_name: &str) -> Result<usize, String> {
    usize::try_from(tree.entries()).map_err(|_| format!("tree '{tree_name}' has {} entries", tree.entries()))
}

/// Every leaf branch of the tree (the ones that hold data), in the file's order.
fn list_branches(tree: &ReaderTree) -> Vec<Listed<'_>> {
    tree.branches_r()
        .into_iter()
        .filter(|b| b.branches().next().is_none())
        .map(|b| {
            // oxyroot panics (todo!) on some type names: such a branch is just unreadable.
            let kind = match guarded(|| b.item_type_name()) {
                Ok(t) => classify(&t),
                Err(_) => Err("unknown type".into()),
            };
            Listed { name: b.name().to_string(), branch: b, kind }
        })
        .collect()
}

/// The branches a selection names (see the module documentation), all flat or all jagged.
struct Choice<'t, 'l> {
    chosen: Vec<&'l Listed<'t>>,
    jagged: bool,
    /// Without a selection: the branches skipped, with why ("" where none).
    skipped: String,
}

impl Choice<'_, '_> {
    /// The flat branches read, for the source line.
    fn flat_description(&self) -> String {
        match self.skipped.is_empty() {
            true => format!("{} flat branches", self.chosen.len()),
            false => format!("{} flat branches; skipped: {}", self.chosen.len(), self.skipped),
        }
    }
}

fn choose<'t, 'l>(
    listed: &'l [Listed<'t>],
    tree_name: &str,
    selection: Option<&str>,
) -> Result<Choice<'t, 'l>, String> {
    let all_names = || listed.iter().map(|l| l.name.as_str()).collect::<Vec<_>>().join(", ");
    let Some(selection) = selection else {
        // Every flat numeric branch.
        let (flat, skipped): (Vec<&Listed>, Vec<&Listed>) =
            listed.iter().partition(|l| matches!(l.kind, Ok(Kind::Flat(_))));
        let skipped = skipped
            .iter()
            .map(|l| format!("{} ({})", l.name, l.skip_reason()))
            .collect::<Vec<_>>()
            .join(", ");
        if flat.is_empty() {
            return Err(format!(
                "tree '{tree_name}' has no flat numeric branch; select branches as \
                 {tree_name}:A,B (its branches: {})",
                if skipped.is_empty() { "none".to_string() } else { skipped }
            ));
        }
        return Ok(Choice { chosen: flat, jagged: false, skipped });
    };

    // An explicit selection: names and `prefix*` patterns, comma-separated.
    let mut chosen: Vec<&Listed> = Vec::new();
    for item in selection.split(',').map(str::trim) {
        if item.is_empty() {
            return Err(format!(
                "empty branch name in '{selection}' (expected {tree_name}:A,B or {tree_name}:PREFIX*)"
            ));
        }
        let matched: Vec<&Listed> = if let Some(prefix) = item.strip_suffix('*') {
            listed.iter().filter(|l| l.name.starts_with(prefix)).collect()
        } else {
            listed.iter().filter(|l| l.name == item).collect()
        };
        if matched.is_empty() {
            let what = if item.ends_with('*') {
                format!("no branch of tree '{tree_name}' matches '{item}'")
            } else {
                format!("no branch '{item}' in tree '{tree_name}'")
            };
            return Err(format!("{what} (its branches: {})", all_names()));
        }
        for l in matched {
            if !chosen.iter().any(|c| c.name == l.name) {
                chosen.push(l);
            }
        }
    }
    if let Some(bad) = chosen.iter().find(|l| l.kind.is_err()) {
        return Err(format!(
            "branch '{}' of tree '{tree_name}' holds {}, not numbers this reader can read \
             (flat or jagged int / float / bool)",
            bad.name,
            bad.skip_reason()
        ));
    }
    let jagged: Vec<&&Listed> = chosen.iter().filter(|l| l.is_jagged()).collect();
    let flat: Vec<&&Listed> = chosen.iter().filter(|l| !l.is_jagged()).collect();
    if !jagged.is_empty() && !flat.is_empty() {
        return Err(format!(
            "cannot mix flat branches ({}) with jagged branches ({}): select one kind",
            names(&flat),
            names(&jagged)
        ));
    }
    let jagged = !jagged.is_empty();
    Ok(Choice { chosen, jagged, skipped: String::new() })
}

fn branch_error(name: &str, e: impl std::fmt::Display) -> String {
    format!("cannot read branch '{name}': {}", plain(&e.to_string()))
}

fn names(list: &[&&Listed]) -> String {
    list.iter().map(|l| l.name.as_str()).collect::<Vec<_>>().join(", ")
}

/// A flat branch's values in order, as the dataset holds them.
enum Stream<'a> {
    Int(Box<dyn Iterator<Item = i64> + 'a>),
    Float(Box<dyn Iterator<Item = f64> + 'a>),
}

impl Stream<'_> {
    /// Opens the flat numeric branch `l`.
    fn open<'a>(l: &Listed<'a>) -> Result<Stream<'a>, String> {
        let Ok(Kind::Flat(p)) = l.kind else { unreachable!("Stream::open on a non-flat branch") };
        let b = l.branch;
        let err = |e| branch_error(&l.name, e);
        macro_rules! int {
            ($t:ty) => {
                Stream::Int(Box::new(b.as_iter::<$t>().map_err(err)?.map(|v| v as i64)))
            };
        }
        Ok(match p {
            Prim::I8 => int!(i8),
            Prim::U8 => int!(u8),
            Prim::I16 => int!(i16),
            Prim::U16 => int!(u16),
            Prim::I32 => int!(i32),
            Prim::U32 => int!(u32),
            Prim::I64 => int!(i64),
            // a u64 above i64::MAX is kept by its bits (see baler_codec::data)
            Prim::U64 => int!(u64),
            Prim::Bool => Stream::Int(Box::new(b.as_iter::<bool>().map_err(err)?.map(i64::from))),
            Prim::F32 => Stream::Float(Box::new(b.as_iter::<f32>().map_err(err)?.map(f64::from))),
            Prim::F64 => Stream::Float(Box::new(b.as_iter::<f64>().map_err(err)?)),
        })
    }

    /// The next `n` values, or fewer where the branch ends.
    fn take(&mut self, n: usize) -> Values {
        match self {
            Stream::Int(it) => Values::Int(it.by_ref().take(n).collect()),
            Stream::Float(it) => Values::Float(it.by_ref().take(n).collect()),
        }
    }

    /// Passes over `n` values; false where the branch ends first.
    fn skip(&mut self, n: usize) -> bool {
        n == 0
            || match self {
                Stream::Int(it) => it.nth(n - 1).is_some(),
                Stream::Float(it) => it.nth(n - 1).is_some(),
            }
    }
}

/// "branch 'X' holds N values but the tree has M entries": a flat branch of the wrong length.
fn length_error(name: &str, values: impl std::fmt::Display, entries: usize) -> String {
    format!("branch '{name}' holds {values} values but the tree has {entries} entries")
}

/// Reads a flat numeric branch: exactly `entries` values.
fn read_flat_column(l: &Listed, entries: usize) -> Result<Column, String> {
    let values = Stream::open(l)?.take(usize::MAX);
    if values.len() != entries {
        return Err(length_error(&l.name, values.len(), entries));
    }
    Ok(Column { name: l.name.clone(), dtype: l.dtype(), values })
}

/// A jagged numeric branch's entries in order, each entry's values as the dataset holds them.
type Entries<'a> = Box<dyn Iterator<Item = Values> + 'a>;

/// Opens the jagged numeric branch `l`.
fn open_jagged<'a>(l: &Listed<'a>) -> Result<Entries<'a>, String> {
    let (p, is_vector) = match l.kind {
        Ok(Kind::JaggedSlice(p)) => (p, false),
        Ok(Kind::JaggedVector(p)) => (p, true),
        _ => unreachable!("open_jagged on a non-jagged branch"),
    };
    let b = l.branch;
    let err = |e| branch_error(&l.name, e);
    macro_rules! entries {
        ($t:ty, $variant:ident, $conv:expr) => {{
            let values = |v: Vec<$t>| Values::$variant(v.into_iter().map($conv).collect());
            if is_vector {
                Box::new(b.as_iter::<Vec<$t>>().map_err(err)?.map(values)) as Entries<'a>
            } else {
                Box::new(b.as_iter::<Slice<$t>>().map_err(err)?.map(move |s| values(s.into_vec())))
            }
        }};
    }
    Ok(match p {
        Prim::I8 => entries!(i8, Int, i64::from),
        Prim::U8 => entries!(u8, Int, i64::from),
        Prim::I16 => entries!(i16, Int, i64::from),
        Prim::U16 => entries!(u16, Int, i64::from),
        Prim::I32 => entries!(i32, Int, i64::from),
        Prim::U32 => entries!(u32, Int, i64::from),
        Prim::I64 => entries!(i64, Int, |v| v),
        // a u64 above i64::MAX is kept by its bits (see baler_codec::data)
        Prim::U64 => entries!(u64, Int, |v| v as i64),
        Prim::Bool => entries!(bool, Int, i64::from),
        Prim::F32 => entries!(f32, Float, f64::from),
        Prim::F64 => entries!(f64, Float, |v| v),
    })
}

/// "branch 'X' holds N entries but the tree has M": a jagged branch of the wrong length.
fn entries_error(name: &str, held: impl std::fmt::Display, entries: usize) -> String {
    format!("branch '{name}' holds {held} entries but the tree has {entries}")
}

/// Reads a jagged numeric branch, flattened: the column and the element count of each entry.
fn read_jagged_column(l: &Listed, entries: usize) -> Result<(Column, Vec<usize>), String> {
    let mut counts = Vec::with_capacity(entries);
    let mut values = Values::empty(l.dtype());
    for entry in open_jagged(l)? {
        counts.push(entry.len());
        values.extend_from(&entry, 0..entry.len());
    }
    if counts.len() != entries {
        return Err(entries_error(&l.name, counts.len(), entries));
    }
    Ok((Column { name: l.name.clone(), dtype: l.dtype(), values }, counts))
}

thread_local! {
    /// Set while this thread runs oxyroot under [`guarded`]: its panics are not printed.
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f`, turning a panic into `Err(message)`. Panics on this thread are kept off stderr
/// while `f` runs; other threads' panics are reported as before.
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                previous(info);
            }
        }));
    });
    let was = QUIET.with(|q| q.replace(true));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(was));
    result.map_err(|payload| panic_message(payload.as_ref()))
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    let msg = if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "internal error in the ROOT reader".to_string()
    };
    let msg = msg.lines().next().unwrap_or("").trim().to_string();
    if msg.is_empty() { "internal error in the ROOT reader".into() } else { msg }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names() {
        assert_eq!(classify("float"), Ok(Kind::Flat(Prim::F32)));
        assert_eq!(classify("bool"), Ok(Kind::Flat(Prim::Bool)));
        assert_eq!(classify("uint64_t"), Ok(Kind::Flat(Prim::U64)));
        assert_eq!(classify("float[]"), Ok(Kind::JaggedSlice(Prim::F32)));
        assert_eq!(classify("vector<int32_t>"), Ok(Kind::JaggedVector(Prim::I32)));
        assert!(classify("float[3]").unwrap_err().contains("fixed-size"));
        assert_eq!(classify("char*"), Err("char*".into()));
        assert_eq!(classify("vector<string>"), Err("vector<string>".into()));
        assert_eq!(Prim::Bool.dtype(), DType::U8);
    }

    #[test]
    fn a_panic_becomes_an_error() {
        let r: Result<(), String> = guarded(|| panic!("boom at offset 12\nmore"));
        assert_eq!(r.unwrap_err(), "boom at offset 12");
        assert!(!QUIET.with(Cell::get));
        assert_eq!(guarded(|| 3), Ok(3));
    }

    #[test]
    fn oxyroot_debug_text_becomes_plain_words() {
        let eof =
            "IO/Root Error: Io(Error { kind: UnexpectedEof, message: \"failed to fill whole buffer\" })";
        assert_eq!(plain(eof), TRUNCATED);
        assert_eq!(plain("IO/Root Error: KeyNotInFile { key: \"t\", file: \"f\" }"), DAMAGED);
        assert_eq!(plain("called `Option::unwrap()` on a `None` value"), DAMAGED);
        assert_eq!(plain("capacity overflow"), "capacity overflow");
    }

    #[test]
    fn header_checks_name_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.root");
        let real = std::fs::read(crate::tests::shared_data("uproot-HZZ.root")).unwrap();
        let check = |bytes: &[u8]| {
            std::fs::write(&p, bytes).unwrap();
            check_header(&p)
        };
        assert_eq!(check(&real), Ok(()));
        assert_eq!(check(&real[..10]).unwrap_err(), TRUNCATED);
        assert_eq!(
            check(&real[..1000]).unwrap_err(),
            "file is truncated: its header says it holds 217945 bytes, it has 1000"
        );
        assert!(check(b"PK\x03\x04 not root").unwrap_err().starts_with("not a ROOT file"));
        // 64-bit offsets from version 1000000 on
        let mut big = b"root".to_vec();
        big.extend_from_slice(&1_062_206u32.to_be_bytes());
        big.extend_from_slice(&100u32.to_be_bytes());
        big.extend_from_slice(&(1u64 << 33).to_be_bytes());
        assert!(check(&big).unwrap_err().contains("holds 8589934592 bytes, it has 20"));
    }
}
