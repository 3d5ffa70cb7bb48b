//! Predictor 18 (tables, format ≥ 5): each column predicted from the columns decoded before it.
//!
//! Event tables are full of columns that are functions of others (E ≈ |p|, pT = hypot(px, py),
//! η = asinh(pz/pT), px = pT·cos φ …). Per-column compressors cannot see that. This predictor
//! decodes a chunk's columns in a learned order, and predicts each either classically (its centre,
//! or the previous row) or by a small learned model of the columns already decoded: an intercept
//! plus up to [`MAX_TERMS`] weighted features, each a fixed function ([`Op`]) of up to three
//! earlier columns. The order, the features and the weights are fitted per chunk by the encoder
//! (`columns_fit.rs`) and stored in the chunk (docs/format.md §5.3); a column whose model does not
//! beat its classic prediction stays classic.
//!
//! Bit-exactness: a model's prediction is computed in IEEE binary64 from the earlier columns'
//! grid values (`offset + q·step`, or q for integer columns), in exactly the order of
//! [`Rule::predict`], with no fused multiply-add, and the transcendental functions from the
//! `libm` crate (musl's algorithms in plain Rust: the same bits on every target, where the
//! platform's libm may differ in the last place). It is then put on the column's grid as the
//! autoencoder's predictions are (round half away from zero, saturating).

use crate::bytes::Reader;
#[cfg(feature = "encode")]
use crate::bytes::put_varint;
use crate::error::{Result, corrupt};
use crate::predictor::{Family, GridPredictor, Predictor, StreamInfo};
use crate::quant::grid_point;

/// The predictor id.
pub const COLUMNS_ID: u8 = 18;
/// Most weighted features one column's model may have.
pub const MAX_TERMS: usize = 3;

/// Predictor 18.
pub struct ColumnsFamily;

impl Family for ColumnsFamily {
    fn ids(&self) -> std::ops::RangeInclusive<u8> {
        COLUMNS_ID..=COLUMNS_ID
    }

    /// Format 5 added it.
    fn since_version(&self) -> u16 {
        5
    }

    fn build(&self, _id: u8, _streams: &StreamInfo) -> Result<Box<dyn Predictor>> {
        corrupt("predictor 18 needs its column program")
    }

    fn build_with(
        &self,
        _id: u8,
        streams: &StreamInfo,
        params: &mut Reader<'_>,
    ) -> Result<Box<dyn Predictor>> {
        if !streams.table {
            return corrupt("predictor 18 is for tables only");
        }
        let program = Program::read(params, streams.centers.len(), streams.version)?;
        Ok(Box::new(Columns::new(program, streams)))
    }
}

/// A function of up to three columns' values (a, b, c): a feature of a column's model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Op {
    /// a
    Value = 0,
    /// a·b
    Product = 1,
    /// a / b
    Quotient = 2,
    /// √(a² + b²)
    Hypot = 3,
    /// √((a² + b²) + c²)
    Hypot3 = 4,
    /// a·cos b
    TimesCos = 5,
    /// a·sin b
    TimesSin = 6,
    /// a·cosh b
    TimesCosh = 7,
    /// a·sinh b
    TimesSinh = 8,
    /// atan2(a, b)
    Atan2 = 9,
    /// asinh(a / b)
    AsinhRatio = 10,
}

impl Op {
    pub const ALL: [Op; 11] = [
        Op::Value,
        Op::Product,
        Op::Quotient,
        Op::Hypot,
        Op::Hypot3,
        Op::TimesCos,
        Op::TimesSin,
        Op::TimesCosh,
        Op::TimesSinh,
        Op::Atan2,
        Op::AsinhRatio,
    ];

    fn from_byte(b: u8) -> Option<Op> {
        Op::ALL.get(b as usize).copied()
    }

    /// How many columns it reads.
    pub fn arity(self) -> usize {
        match self {
            Op::Value => 1,
            Op::Hypot3 => 3,
            _ => 2,
        }
    }

    /// Whether swapping a and b gives the same value (the encoder tries one order only).
    pub fn symmetric(self) -> bool {
        matches!(self, Op::Product | Op::Hypot | Op::Hypot3)
    }

    /// The feature, in exactly these IEEE binary64 operations.
    #[inline]
    pub fn eval(self, a: f64, b: f64, c: f64) -> f64 {
        match self {
            Op::Value => a,
            Op::Product => a * b,
            Op::Quotient => a / b,
            Op::Hypot => libm::sqrt(a * a + b * b),
            Op::Hypot3 => libm::sqrt((a * a + b * b) + c * c),
            Op::TimesCos => a * libm::cos(b),
            Op::TimesSin => a * libm::sin(b),
            Op::TimesCosh => a * libm::cosh(b),
            Op::TimesSinh => a * libm::sinh(b),
            Op::Atan2 => libm::atan2(a, b),
            Op::AsinhRatio => libm::asinh(a / b),
        }
    }

    /// The feature of the columns `sources` (the first [`Self::arity`]), column c reading
    /// `value(c)`.
    #[inline]
    pub fn apply(self, sources: [usize; 3], value: impl Fn(usize) -> f64) -> f64 {
        let [a, b, c] = sources;
        match self.arity() {
            1 => self.eval(value(a), 0.0, 0.0),
            2 => self.eval(value(a), value(b), 0.0),
            _ => self.eval(value(a), value(b), value(c)),
        }
    }

    /// In words, with the columns' names.
    pub fn describe(self, s: &[&str]) -> String {
        match self {
            Op::Value => s[0].to_string(),
            Op::Product => format!("{}·{}", s[0], s[1]),
            Op::Quotient => format!("{}/{}", s[0], s[1]),
            Op::Hypot => format!("hypot({}, {})", s[0], s[1]),
            Op::Hypot3 => format!("hypot({}, {}, {})", s[0], s[1], s[2]),
            Op::TimesCos => format!("{}·cos {}", s[0], s[1]),
            Op::TimesSin => format!("{}·sin {}", s[0], s[1]),
            Op::TimesCosh => format!("{}·cosh {}", s[0], s[1]),
            Op::TimesSinh => format!("{}·sinh {}", s[0], s[1]),
            Op::Atan2 => format!("atan2({}, {})", s[0], s[1]),
            Op::AsinhRatio => format!("asinh({}/{})", s[0], s[1]),
        }
    }
}

/// One weighted feature of a column's model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Term {
    pub op: Op,
    /// The columns it reads (the first `op.arity()`; the rest 0).
    pub sources: [usize; 3],
    pub weight: f64,
}

/// How one column is predicted.
#[derive(Clone, Debug, PartialEq)]
pub enum Base {
    /// Its centre on the grid (as predictor 0).
    Center,
    /// The previous row's grid value, 0 for the chunk's first row (as Lorenzo along rows).
    PreviousRow,
    /// `intercept + Σ weight·feature` of earlier columns, put on the column's grid.
    Model { intercept: f64, terms: Vec<Term> },
}

/// A column and how it is predicted.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    pub column: usize,
    pub base: Base,
}

impl Rule {
    /// The model's prediction for a row whose earlier columns read `value(column)`: the intercept,
    /// then each term added in order.
    #[inline]
    pub fn predict(intercept: f64, terms: &[Term], value: impl Fn(usize) -> f64) -> f64 {
        let mut p = intercept;
        for t in terms {
            p += t.weight * t.op.apply(t.sources, &value);
        }
        p
    }
}

/// The columns in decode order, each with its rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Program {
    pub rules: Vec<Rule>,
}

const BASE_CENTER: u8 = 0;
const BASE_PREVIOUS_ROW: u8 = 1;
const BASE_MODEL: u8 = 2;
/// A model whose numbers are [`short_float`]s (format ≥ 7).
const BASE_MODEL_SHORT: u8 = 3;
const SHORT_SINCE_VERSION: u16 = 7;

impl Program {
    /// Reads the program of a table of `columns` columns in an archive of format `version`: every
    /// column exactly once, each model reading only columns decoded before it.
    pub fn read(r: &mut Reader<'_>, columns: usize, version: u16) -> Result<Self> {
        let mut seen = vec![false; columns];
        let mut rules = Vec::with_capacity(columns.min(r.remaining()));
        for _ in 0..columns {
            let column = r.len(columns.saturating_sub(1), "program column")?;
            if seen[column] {
                return corrupt(format!("program names column {column} twice"));
            }
            let base = match r.u8("column rule")? {
                BASE_CENTER => Base::Center,
                BASE_PREVIOUS_ROW => Base::PreviousRow,
                rule @ (BASE_MODEL | BASE_MODEL_SHORT) => {
                    if rule == BASE_MODEL_SHORT && version < SHORT_SINCE_VERSION {
                        return corrupt(format!(
                            "column rule {rule}, which format version {version} does not have"
                        ));
                    }
                    let number = |r: &mut Reader<'_>, what: &str| match rule {
                        BASE_MODEL => f64_le(r, what),
                        _ => short_float::read(r, what),
                    };
                    let intercept = number(r, "model intercept")?;
                    let count = r.u8("model terms")? as usize;
                    if count > MAX_TERMS {
                        return corrupt(format!("a column model with {count} terms (at most {MAX_TERMS})"));
                    }
                    let mut terms = Vec::with_capacity(count);
                    for _ in 0..count {
                        let b = r.u8("feature")?;
                        let op = Op::from_byte(b).ok_or_else(|| {
                            crate::error::CodecError::Corrupt(format!("unknown feature {b}"))
                        })?;
                        let mut sources = [0usize; 3];
                        for s in sources.iter_mut().take(op.arity()) {
                            *s = r.len(columns.saturating_sub(1), "feature column")?;
                            if !seen[*s] {
                                return corrupt("a column model reads a column not decoded before it");
                            }
                        }
                        terms.push(Term { op, sources, weight: number(r, "feature weight")? });
                    }
                    Base::Model { intercept, terms }
                }
                k => return corrupt(format!("unknown column rule {k}")),
            };
            seen[column] = true;
            rules.push(Rule { column, base });
        }
        Ok(Self { rules })
    }

    #[cfg(feature = "encode")]
    pub fn write(&self, out: &mut Vec<u8>) {
        for rule in &self.rules {
            put_varint(out, rule.column as u64);
            match &rule.base {
                Base::Center => out.push(BASE_CENTER),
                Base::PreviousRow => out.push(BASE_PREVIOUS_ROW),
                Base::Model { intercept, terms } => {
                    // Short floats where every number is one and they take fewer bytes (the fit
                    // rounds them so), else in full.
                    let numbers = || std::iter::once(*intercept).chain(terms.iter().map(|t| t.weight));
                    let short = numbers()
                        .map(short_float::len)
                        .sum::<Option<usize>>()
                        .is_some_and(|n| n < 8 * numbers().count());
                    let number = |out: &mut Vec<u8>, x: f64| match short {
                        true => short_float::write(out, x),
                        false => out.extend_from_slice(&x.to_le_bytes()),
                    };
                    out.push(if short { BASE_MODEL_SHORT } else { BASE_MODEL });
                    number(out, *intercept);
                    out.push(terms.len() as u8);
                    for t in terms {
                        out.push(t.op as u8);
                        for &s in &t.sources[..t.op.arity()] {
                            put_varint(out, s as u64);
                        }
                        number(out, t.weight);
                    }
                }
            }
        }
    }
}

fn f64_le(r: &mut Reader<'_>, what: &str) -> Result<f64> {
    let b = r.take(8, what)?;
    Ok(f64::from_le_bytes(b.try_into().expect("8 bytes")))
}

/// A number m·2^e stored as two zigzag varints, m (|m| ≤ 2^53) then e (−1022 ≤ e ≤ 1023): a
/// fitted weight rounded to the bits its column needs takes 2–5 bytes instead of 8. Decoding is
/// exact: m converts to f64 exactly and the product with a normal power of two is exact unless
/// it leaves the finite range, which is refused.
pub mod short_float {
    use crate::bytes::Reader;
    use crate::error::{Result, corrupt};
    use crate::quant::power_of_two;

    const MAX_MANTISSA: u64 = 1 << 53;

    /// (m, e) with m odd (or 0) and m·2^e == x bit for bit, where there is one: not for −0, NaN,
    /// infinities, subnormals, or a number whose lowest set bit lies below 2^−1022.
    pub fn split(x: f64) -> Option<(i64, i64)> {
        if x.to_bits() == 0 {
            return Some((0, 0));
        }
        let bits = x.to_bits();
        let biased = ((bits >> 52) & 0x7ff) as i64;
        if biased == 0 || biased == 0x7ff {
            return None;
        }
        let full = (bits & ((1 << 52) - 1)) | (1 << 52);
        let zeros = full.trailing_zeros();
        let (m, e) = ((full >> zeros) as i64, biased - 1075 + zeros as i64);
        power_of_two(e).map(|_| (if x < 0.0 { -m } else { m }, e))
    }

    /// The bytes [`write`] takes for `x`, where it is a short float.
    #[cfg(feature = "encode")]
    pub fn len(x: f64) -> Option<usize> {
        use crate::bytes::{varint_len, zigzag};
        split(x).map(|(m, e)| varint_len(zigzag(m)) + varint_len(zigzag(e)))
    }

    #[cfg(feature = "encode")]
    pub fn write(out: &mut Vec<u8>, x: f64) {
        use crate::bytes::{put_varint, zigzag};
        let (m, e) = split(x).expect("a short float");
        put_varint(out, zigzag(m));
        put_varint(out, zigzag(e));
    }

    pub fn read(r: &mut Reader<'_>, what: &str) -> Result<f64> {
        use crate::bytes::unzigzag;
        let m = unzigzag(r.varint(what)?);
        let e = unzigzag(r.varint(what)?);
        let Some(scale) = power_of_two(e).filter(|_| m.unsigned_abs() <= MAX_MANTISSA) else {
            return corrupt(format!("{what}: {m}·2^{e} is not a short float"));
        };
        let x = m as f64 * scale;
        if !x.is_finite() {
            return corrupt(format!("{what}: {m}·2^{e} is not finite"));
        }
        Ok(x)
    }
}

/// Predictor 18 for one chunk: its program and the archive's column grids.
pub struct Columns {
    pub program: Program,
    centers: Vec<i64>,
    /// Each column's (step, offset), None for integer columns.
    grids: Vec<Option<(f64, f64)>>,
    names: Vec<String>,
    /// Columns some model reads.
    sources: Vec<bool>,
}

impl Columns {
    pub fn new(program: Program, streams: &StreamInfo) -> Self {
        let mut sources = vec![false; streams.centers.len()];
        for rule in &program.rules {
            if let Base::Model { terms, .. } = &rule.base {
                for t in terms {
                    for &s in &t.sources[..t.op.arity()] {
                        sources[s] = true;
                    }
                }
            }
        }
        Self {
            program,
            centers: streams.centers.clone(),
            grids: streams.grids.clone(),
            names: streams.names.clone(),
            sources,
        }
    }

    fn name_of(&self, column: usize) -> String {
        self.names
            .get(column)
            .filter(|n| !n.is_empty())
            .cloned()
            .unwrap_or_else(|| format!("column {column}"))
    }
}

/// A column's value on its grid: what a model reads of the columns before it.
#[inline]
pub fn grid_value(grid: Option<(f64, f64)>, q: i64) -> f64 {
    match grid {
        Some((step, offset)) => offset + q as f64 * step,
        None => q as f64,
    }
}

impl GridPredictor for Columns {
    fn id(&self) -> u8 {
        COLUMNS_ID
    }

    /// The order and every model, in words.
    fn name(&self) -> String {
        let mut parts = Vec::new();
        for rule in &self.program.rules {
            let name = self.name_of(rule.column);
            parts.push(match &rule.base {
                Base::Center => name,
                Base::PreviousRow => format!("{name} (previous row)"),
                Base::Model { intercept, terms } => {
                    let mut s = format!("{name} ← {}", short(*intercept));
                    for t in terms {
                        let names: Vec<String> =
                            t.sources[..t.op.arity()].iter().map(|&c| self.name_of(c)).collect();
                        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                        s.push_str(&format!(" + {}·{}", short(t.weight), t.op.describe(&refs)));
                    }
                    s
                }
            });
        }
        format!("columns[{}]", parts.join("; "))
    }

    fn sweep(&self, dims: [usize; 3], q: &mut [i64], mut visit: impl FnMut(usize, i64, i64) -> i64) {
        let [rows, cols, depth] = dims;
        // Build (`Program::read`) checked the program against the table's columns; a chunk is
        // `[rows, columns, 1]`.
        debug_assert!(depth == 1 && cols == self.centers.len());
        let mut values: Vec<Vec<f64>> = vec![Vec::new(); cols];
        for rule in &self.program.rules {
            let t = rule.column;
            match &rule.base {
                Base::Center => {
                    let c = self.centers[t];
                    for i in 0..rows {
                        let e = i * cols + t;
                        q[e] = visit(e, c, q[e]);
                    }
                }
                Base::PreviousRow => {
                    let mut prev = 0i64;
                    for i in 0..rows {
                        let e = i * cols + t;
                        q[e] = visit(e, prev, q[e]);
                        prev = q[e];
                    }
                }
                Base::Model { intercept, terms } => {
                    let (grid, center) = (self.grids[t], self.centers[t]);
                    for (i, e) in (t..rows * cols).step_by(cols).enumerate() {
                        let p = Rule::predict(*intercept, terms, |c| values[c][i]);
                        let g = if p.is_finite() { grid_point(p, grid) } else { center };
                        q[e] = visit(e, g, q[e]);
                    }
                }
            }
            if self.sources[t] {
                values[t] = (0..rows).map(|i| grid_value(self.grids[t], q[i * cols + t])).collect();
            }
        }
    }

    #[cfg(feature = "encode")]
    fn params(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.program.write(&mut out);
        out
    }
}

/// A weight or intercept, short.
fn short(x: f64) -> String {
    if x == 0.0 || (1e-3..1e4).contains(&x.abs()) { format!("{:.4}", x) } else { format!("{x:.3e}") }
}

#[cfg(all(test, feature = "encode"))]
mod tests {
    use super::*;
    use crate::format::container::FORMAT_VERSION;

    fn info(columns: usize) -> StreamInfo {
        StreamInfo {
            table: true,
            centers: vec![0; columns],
            float_field: None,
            grids: vec![Some((0.5, 0.0)); columns],
            names: (0..columns).map(|c| format!("c{c}")).collect(),
            version: FORMAT_VERSION,
        }
    }

    fn program() -> Program {
        Program {
            rules: vec![
                Rule { column: 1, base: Base::PreviousRow },
                Rule { column: 2, base: Base::Center },
                Rule {
                    column: 0,
                    base: Base::Model {
                        intercept: 0.25,
                        terms: vec![
                            Term { op: Op::Hypot, sources: [1, 2, 0], weight: 1.0 },
                            Term { op: Op::TimesCosh, sources: [2, 1, 0], weight: -0.5 },
                        ],
                    },
                },
            ],
        }
    }

    #[test]
    fn a_program_reads_back_as_written() {
        let mut bytes = Vec::new();
        program().write(&mut bytes);
        let mut r = Reader::new(&bytes);
        assert_eq!(Program::read(&mut r, 3, FORMAT_VERSION).unwrap(), program());
        r.finish("program").unwrap();
    }

    #[test]
    fn programs_that_break_the_order_are_refused() {
        let mut bytes = Vec::new();
        program().write(&mut bytes);
        // Too few columns for its indices, or the model column read before it is decoded.
        assert!(Program::read(&mut Reader::new(&bytes), 2, FORMAT_VERSION).is_err());
        let mut reordered = program();
        reordered.rules.swap(0, 2);
        let mut bad = Vec::new();
        reordered.write(&mut bad);
        assert!(Program::read(&mut Reader::new(&bad), 3, FORMAT_VERSION).is_err());
        let mut twice = program();
        twice.rules[1].column = 1;
        let mut bad = Vec::new();
        twice.write(&mut bad);
        assert!(Program::read(&mut Reader::new(&bad), 3, FORMAT_VERSION).is_err());
        // Truncated anywhere.
        for cut in 0..bytes.len() {
            assert!(
                Program::read(&mut Reader::new(&bytes[..cut]), 3, FORMAT_VERSION).is_err(),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn short_floats_read_back_bit_for_bit() {
        let mut rng = crate::testing::Rng(9);
        let mut values = vec![0.0, 1.0, -1.0, 0.5, -0.7008, 0.9997, 1e300, f64::MAX, f64::MIN_POSITIVE];
        values.push(f64::from_bits(2046 << 52) * 1.5); // 1.5 · 2^1023: e = 1022
        values.extend((0..20_000).map(|_| f64::from_bits(rng.next())).filter(|x| x.is_finite()));
        let tiny = f64::MIN_POSITIVE * (1u64 << 53) as f64;
        let mut short = 0;
        for x in values {
            let Some(n) = short_float::len(x) else {
                // Only −0, subnormals and numbers with bits below 2^−1022 have no short form.
                assert!(x.to_bits() == (-0.0f64).to_bits() || x.abs() < tiny, "{x:e}");
                continue;
            };
            let mut bytes = Vec::new();
            short_float::write(&mut bytes, x);
            assert_eq!(bytes.len(), n);
            let mut r = Reader::new(&bytes);
            assert_eq!(short_float::read(&mut r, "x").unwrap().to_bits(), x.to_bits(), "{x:e}");
            r.finish("x").unwrap();
            short += 1;
        }
        assert!(short > 18_000, "{short}");
        // A mantissa over 53 bits, an exponent out of range, or a product past the finite range.
        for (m, e) in [(1i64 << 54, 0i64), (1, 1024), (1, -1023), (1 << 53, 1023)] {
            let mut bytes = Vec::new();
            put_varint(&mut bytes, crate::bytes::zigzag(m));
            put_varint(&mut bytes, crate::bytes::zigzag(e));
            assert!(short_float::read(&mut Reader::new(&bytes), "x").is_err(), "{m}·2^{e}");
        }
    }

    #[test]
    fn rounded_numbers_are_written_short_and_only_format_7_reads_them() {
        // 0.25, 1 and −0.5 take two bytes each instead of eight.
        let mut short = Vec::new();
        program().write(&mut short);
        let mut long = program();
        let Base::Model { intercept, terms } = &mut long.rules[2].base else { unreachable!() };
        // 53 bits of mantissa each: nine bytes short, so the rule keeps its f64s.
        (*intercept, terms[0].weight, terms[1].weight) = (0.1, 0.3, -0.7);
        let mut full = Vec::new();
        long.write(&mut full);
        assert_eq!(full.len(), short.len() + 3 * (8 - 2));
        assert_eq!(Program::read(&mut Reader::new(&full), 3, 6).unwrap(), long);
        assert_eq!(Program::read(&mut Reader::new(&full), 3, FORMAT_VERSION).unwrap(), long);
        assert_eq!(Program::read(&mut Reader::new(&short), 3, FORMAT_VERSION).unwrap(), program());
        assert!(Program::read(&mut Reader::new(&short), 3, 6).is_err(), "rule 3 in a format 6 archive");
    }

    #[test]
    fn columns_round_trip_any_grid_values() {
        let p = Columns::new(program(), &info(3));
        let mut rng = crate::testing::Rng(3);
        let q: Vec<i64> =
            (0..300).map(|i| if i % 7 == 0 { i64::MAX - i } else { rng.range(-1000, 1000) }).collect();
        let dims = [100, 3, 1];
        let codes = crate::predictor::tests::codes_of(&p, dims, &q);
        assert_eq!(crate::predictor::tests::decode(&p, dims, &codes), q);
    }

    #[test]
    fn a_derived_column_costs_nothing() {
        // c0 = hypot(c1, c2) exactly on the grid: its codes are all 0.
        let rows = 50;
        let mut q = vec![0i64; rows * 3];
        for i in 0..rows {
            let (a, b) = (3 * i as i64, 4 * i as i64);
            q[i * 3 + 1] = a;
            q[i * 3 + 2] = b;
            q[i * 3] = 5 * i as i64;
        }
        let program = Program {
            rules: vec![
                Rule { column: 1, base: Base::Center },
                Rule { column: 2, base: Base::Center },
                Rule {
                    column: 0,
                    base: Base::Model {
                        intercept: 0.0,
                        terms: vec![Term { op: Op::Hypot, sources: [1, 2, 0], weight: 1.0 }],
                    },
                },
            ],
        };
        let p = Columns::new(program, &info(3));
        let codes = crate::predictor::tests::codes_of(&p, [rows, 3, 1], &q);
        assert!((0..rows).all(|i| codes[i * 3] == 0), "{codes:?}");
        let name = GridPredictor::name(&p);
        assert!(name.contains("c0 ← 0.0000 + 1.0000·hypot(c1, c2)"), "{name}");
    }
}
