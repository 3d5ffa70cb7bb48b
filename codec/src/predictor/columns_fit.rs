//! Learning predictor 18's program on a table chunk (encoder only): which columns to decode first,
//! and for each later column a sparse model of the earlier ones.
//!
//! 1. A bank of features (every [`Op`] of up to three columns) is evaluated on a sample of rows,
//!    and for each column the features that correlate best with it are kept (f32, screening).
//! 2. A column's model given the columns available: forward selection (orthogonal matching
//!    pursuit) of up to [`MAX_TERMS`] of those features by least squares in f64, each step priced
//!    by the entropy of the codes it would leave on the sample; kept only where it beats the
//!    column's classic predictions (centre, previous row).
//! 3. The order is greedy: next comes the column that loses least by being decoded now rather
//!    than last (its cost given the columns so far, minus its cost given all the others), so the
//!    columns that others are functions of come first.
//! 4. The chosen models are refitted on a larger sample.
//!
//! All of it is deterministic (fixed samples, ties to the lower index), so archives do not depend
//! on the thread count. The chunk's encoder then prices the program against the classic
//! predictors by real coded size like any candidate.

use crate::coder::buckets::estimated_bytes;
use crate::predictor::StreamInfo;
use crate::predictor::columns::{Base, Columns, MAX_TERMS, Op, Program, Rule, Term, grid_value};
use crate::quant::grid_point;

/// Wider tables get no program: ordering prices every column against every other (columns²
/// fits) and screening every column against the whole bank.
const MAX_COLUMNS: usize = 64;
/// Tables with fewer rows per chunk than this are not worth a program.
const MIN_ROWS: usize = 64;
/// Rows the feature bank is screened and the models selected on.
const SCREEN_ROWS: usize = 512;
/// Rows the chosen models are refitted on.
const FIT_ROWS: usize = 16384;
/// Columns whose values feed features (the first this many that vary): the bank grows with
/// their cube (three-column features).
const MAX_SOURCES: usize = 24;
/// Largest magnitude of a column read as an angle (radians, [−π, π] or [0, 2π]) or as a
/// pseudorapidity.
const ANGLE_LIMIT: f64 = 7.0;
const RAPIDITY_LIMIT: f64 = 12.0;
/// A model must beat the column's classic prediction by this much (relative) beyond its own
/// bytes: the sample's estimates are noisy, and a feature fitting noise gains a fraction of that.
const MODEL_GAIN: f64 = 0.03;
/// A model's bytes in the program (column, rule, intercept, term count) and each term's (feature,
/// columns, weight), its numbers short (about 4 bytes; see [`ROUNDING_SHIFT`]).
const MODEL_BYTES: f64 = 7.0;
const TERM_BYTES: f64 = 9.0;
/// Tables of at most this many columns left to order also look ahead by pairs of columns.
const PAIRS_UP_TO: usize = 32;
/// What each further term must gain (relative) over the best model without it.
const TERM_GAIN: f64 = 0.01;
/// Features kept per column after screening, and tried per selection step.
const KEEP: usize = 48;
const TRY: usize = 8;

/// The program for a table chunk of `dims` (`[rows, columns, 1]`) with grid values `q`
/// (anything at `exceptions`), or None where there is nothing to fit.
pub fn fit(dims: [usize; 3], q: &[i64], exceptions: &[bool], info: &StreamInfo) -> Option<Columns> {
    let [rows, cols, depth] = dims;
    if !info.table
        || depth != 1
        || !(2..=MAX_COLUMNS).contains(&cols)
        || rows < MIN_ROWS
        || cols != info.centers.len()
    {
        return None;
    }
    let screen = Sample::new(dims, q, exceptions, info, SCREEN_ROWS);
    if screen.rows.len() < MIN_ROWS / 2 {
        return None;
    }
    let bank = Bank::new(&screen);
    let all: Vec<bool> = vec![true; cols];
    // Each column's cost were every other column decoded before it.
    let last: Vec<f64> = (0..cols)
        .map(|t| {
            let mut avail = all.clone();
            avail[t] = false;
            screen.best_rule(t, &avail, &bank, info).1
        })
        .collect();
    let classic: Vec<f64> = (0..cols).map(|t| screen.classic(t, info).1).collect();
    // What the best single feature of the columns in `avail` would save on column u (bytes), by its
    // correlation: a look ahead at what decoding a column now does for the columns after it (pT
    // and η first make E and pz exact; any one of px, py, pz alone helps nothing).
    let proxy = |u: usize, avail: u64| -> f64 {
        let Some(&(_, r)) = bank.kept[u].iter().find(|(f, _)| bank.features[*f].within(avail)) else {
            return 0.0;
        };
        let cap = (classic[u] * 8.0 / rows as f64 - 1.0).max(0.0);
        rows as f64 * (-0.5 * r.max(1e-30).log2()).clamp(0.0, cap) / 8.0
    };
    let mut avail = vec![false; cols];
    let mut rules = Vec::with_capacity(cols);
    let mut current: Vec<Option<(Base, f64)>> = vec![None; cols];
    for _ in 0..cols {
        let mask = bank.mask(&avail);
        let now: Vec<f64> = (0..cols).map(|u| if avail[u] { 0.0 } else { proxy(u, mask) }).collect();
        // What decoding the columns `next` now does for the columns after them.
        let gain = |next: &[usize]| -> f64 {
            let with = next.iter().fold(mask, |m, &t| m | bank.bit[t]);
            (0..cols).filter(|&u| !avail[u] && !next.contains(&u)).map(|u| proxy(u, with) - now[u]).sum()
        };
        // What decoding t now costs over decoding it last.
        let mut regret = vec![0.0; cols];
        for t in (0..cols).filter(|&t| !avail[t]) {
            let (base, cost) = current[t].take().unwrap_or_else(|| screen.best_rule(t, &avail, &bank, info));
            regret[t] = cost - last[t];
            current[t] = Some((base, cost));
        }
        let left: Vec<usize> = (0..cols).filter(|&t| !avail[t]).collect();
        let mut pick: Option<(f64, usize)> = None;
        let mut offer = |score: f64, t: usize| {
            if pick.is_none_or(|(r, _)| score < r) {
                pick = Some((score, t));
            }
        };
        for &t in &left {
            offer(regret[t] - gain(&[t]), t);
        }
        // Pairs too: pT and η together make pz and E exact, where either alone helps little.
        if left.len() <= PAIRS_UP_TO {
            for (i, &t) in left.iter().enumerate() {
                for &u in &left[i + 1..] {
                    offer(regret[t] + regret[u] - gain(&[t, u]), t);
                }
            }
        }
        let (_, t) = pick.expect("a column is left");
        let (base, _) = current[t].take().expect("priced");
        avail[t] = true;
        // Columns that could read t are priced again.
        for (u, c) in current.iter_mut().enumerate() {
            if bank.kept[u].iter().any(|&(f, _)| bank.features[f].reads(t)) {
                *c = None;
            }
        }
        rules.push(Rule { column: t, base });
    }
    let wide = Sample::new(dims, q, exceptions, info, FIT_ROWS);
    for rule in &mut rules {
        if let Base::Model { intercept, terms } = &mut rule.base
            && let Some(features) = wide.features(terms)
        {
            wide.refit(rule.column, &features, intercept, terms);
            let step = info.grids[rule.column].map_or(1.0, |(step, _)| step);
            wide.shorten(rule.column, step, &features, intercept, terms);
        }
    }
    Some(Columns::new(Program { rules }, info))
}

/// A feature: an op and its columns.
#[derive(Clone, Copy, Debug)]
struct Feature {
    op: Op,
    sources: [usize; 3],
    /// Its columns' [`Bank::bit`]s.
    mask: u64,
}

impl Feature {
    fn reads(&self, c: usize) -> bool {
        self.sources[..self.op.arity()].contains(&c)
    }

    /// Whether it reads only the columns in `avail` (a [`Bank::mask`]).
    fn within(&self, avail: u64) -> bool {
        self.mask & !avail == 0
    }

    fn eval(&self, value: impl Fn(usize) -> f64) -> f64 {
        self.op.apply(self.sources, value)
    }
}

/// Rows of the chunk without exceptions, evenly spaced: each column's grid values there, as
/// grid points and as values.
struct Sample<'a> {
    rows: Vec<usize>,
    cols: usize,
    q: &'a [i64],
    /// values[c][k]: column c's grid value at sampled row k.
    values: Vec<Vec<f64>>,
}

impl<'a> Sample<'a> {
    fn new(dims: [usize; 3], q: &'a [i64], exceptions: &[bool], info: &StreamInfo, want: usize) -> Self {
        let [rows, cols, _] = dims;
        let take = rows.min(want);
        let rows: Vec<usize> = (0..take)
            .map(|k| k * rows / take)
            .filter(|&i| !exceptions[i * cols..(i + 1) * cols].iter().any(|&x| x))
            .collect();
        let values = (0..cols)
            .map(|c| rows.iter().map(|&i| grid_value(info.grids[c], q[i * cols + c])).collect())
            .collect();
        Self { rows, cols, q, values }
    }

    fn q(&self, k: usize, c: usize) -> i64 {
        self.q[self.rows[k] * self.cols + c]
    }

    /// Estimated bytes of the chunk's column whose sampled codes are `codes`, as coder 2 (one
    /// Huffman table of bucket symbols per column, which tables' wide codes end up in) stores it.
    fn scaled(&self, codes: &[i64]) -> f64 {
        let total = self.q.len() / self.cols;
        estimated_bytes(codes) * total as f64 / codes.len().max(1) as f64
    }

    /// Column t's cheaper classic rule (centre or previous row) and its estimated bytes.
    fn classic(&self, t: usize, info: &StreamInfo) -> (Base, f64) {
        let n = self.rows.len();
        let center: Vec<i64> = (0..n).map(|k| self.q(k, t).wrapping_sub(info.centers[t])).collect();
        let previous: Vec<i64> = (0..n)
            .map(|k| {
                let i = self.rows[k];
                let before = if i == 0 { 0 } else { self.q[(i - 1) * self.cols + t] };
                self.q(k, t).wrapping_sub(before)
            })
            .collect();
        let (c_cost, p_cost) = (self.scaled(&center) + 2.0, self.scaled(&previous) + 2.0);
        if p_cost < c_cost { (Base::PreviousRow, p_cost) } else { (Base::Center, c_cost) }
    }

    /// Column t's cheapest rule with the columns in `avail` decoded before it, and its estimated
    /// bytes (the rule's own bytes included).
    fn best_rule(&self, t: usize, avail: &[bool], bank: &Bank, info: &StreamInfo) -> (Base, f64) {
        let n = self.rows.len();
        let mut best = self.classic(t, info);
        let classic = best.1;
        let candidates: Vec<usize> = bank.kept[t]
            .iter()
            .map(|&(f, _)| f)
            .filter(|&f| bank.features[f].within(bank.mask(avail)))
            .take(TRY)
            .collect();
        // The model's cost with intercept `w[0]` and `terms`.
        let price = |intercept: f64, terms: &[Term]| {
            let codes: Vec<i64> = (0..n)
                .map(|k| {
                    let p = Rule::predict(intercept, terms, |c| self.values[c][k]);
                    let g = if p.is_finite() { grid_point(p, info.grids[t]) } else { info.centers[t] };
                    self.q(k, t).wrapping_sub(g)
                })
                .collect();
            self.scaled(&codes) + MODEL_BYTES + TERM_BYTES * terms.len() as f64
        };
        // An intercept alone (the mean) is a better centre for a skewed column (isolation), and
        // keeps a term that only shifts the codes from being stored.
        let mean = self.values[t].iter().sum::<f64>() / n.max(1) as f64;
        let flat = price(mean, &[]);
        if flat < classic * (1.0 - MODEL_GAIN) {
            best = (Base::Model { intercept: mean, terms: Vec::new() }, flat);
        }
        let mut chosen: Vec<usize> = Vec::new();
        let mut last_rss = f64::INFINITY;
        for _ in 0..MAX_TERMS {
            let mut step: Option<(f64, usize, Vec<f64>)> = None;
            for &f in candidates.iter().filter(|f| !chosen.contains(f)) {
                let mut with = chosen.clone();
                with.push(f);
                let cols: Vec<&[f64]> = with.iter().map(|&g| bank.values[g].as_slice()).collect();
                if let Some((w, rss)) = least_squares(&cols, &self.values[t])
                    && step.as_ref().is_none_or(|s| rss < s.0)
                {
                    step = Some((rss, f, w));
                }
            }
            let Some((rss, f, w)) = step else { break };
            if rss >= last_rss * 0.99 {
                break;
            }
            last_rss = rss;
            chosen.push(f);
            let terms: Vec<Term> = chosen
                .iter()
                .zip(&w[1..])
                .map(|(&g, &weight)| Term {
                    op: bank.features[g].op,
                    sources: bank.features[g].sources,
                    weight,
                })
                .collect();
            let cost = price(w[0], &terms);
            // Each term must pay beyond noise, against the classic rule and the smaller model.
            if cost < best.1 * (1.0 - TERM_GAIN) && cost < classic * (1.0 - MODEL_GAIN) {
                best = (Base::Model { intercept: w[0], terms }, cost);
            }
        }
        best
    }

    /// The terms' features on this sample, or None where one is not finite somewhere.
    fn features(&self, terms: &[Term]) -> Option<Vec<Vec<f64>>> {
        let features: Vec<Vec<f64>> = terms
            .iter()
            .map(|term| {
                let f = Feature { op: term.op, sources: term.sources, mask: 0 };
                (0..self.rows.len()).map(|k| f.eval(|c| self.values[c][k])).collect()
            })
            .collect();
        features.iter().all(|f| f.iter().all(|x| x.is_finite())).then_some(features)
    }

    /// Least squares again for a chosen model's weights, on this (larger) sample, whose
    /// [`Self::features`] of `terms` are `features`.
    fn refit(&self, t: usize, features: &[Vec<f64>], intercept: &mut f64, terms: &mut [Term]) {
        let cols: Vec<&[f64]> = features.iter().map(Vec::as_slice).collect();
        if let Some((w, _)) = least_squares(&cols, &self.values[t]) {
            *intercept = w[0];
            for (term, &weight) in terms.iter_mut().zip(&w[1..]) {
                term.weight = weight;
            }
        }
    }
}

/// How far a model's rounded numbers may move its predictions on the sample, all together, in
/// steps of its column's grid: a shift of 1/64 of a step changes the rounding of about as few
/// codes by one, while a number rounded so takes 2–5 bytes instead of 8.
const ROUNDING_SHIFT: f64 = 1.0 / 64.0;

impl Sample<'_> {
    /// Rounds a model's weights to the fewest bits that keep its predictions on this sample
    /// within [`ROUNDING_SHIFT`] of a grid `step` (a share each), then fits the intercept to the
    /// rounded weights (the mean residual, least squares' own) and rounds it too: numbers that
    /// store short (format 7's rule 3). `features`: the sample's [`Self::features`] of `terms`.
    fn shorten(&self, t: usize, step: f64, features: &[Vec<f64>], intercept: &mut f64, terms: &mut [Term]) {
        let share = step * ROUNDING_SHIFT / (terms.len() + 1) as f64;
        for (term, f) in terms.iter_mut().zip(features) {
            let largest = f.iter().fold(0.0f64, |m, x| m.max(x.abs()));
            if largest > 0.0 {
                term.weight = round_to_power_of_two(term.weight, share / largest);
            }
        }
        let n = self.rows.len().max(1) as f64;
        let residual: f64 = (0..self.rows.len())
            .map(|k| {
                self.values[t][k]
                    - terms.iter().zip(features).map(|(term, f)| term.weight * f[k]).sum::<f64>()
            })
            .sum();
        let mean = residual / n;
        if mean.is_finite() {
            *intercept = round_to_power_of_two(mean, share);
        }
    }
}

/// `x` rounded to a multiple of the largest power of two at most `tolerance` (x itself where
/// that is not a normal number); 0 rounds to +0.
fn round_to_power_of_two(x: f64, tolerance: f64) -> f64 {
    let unit = f64::from_bits(tolerance.to_bits() & (0x7ff << 52));
    if !(unit.is_normal() && tolerance > 0.0) {
        return x;
    }
    let r = (x / unit).round() * unit;
    if r == 0.0 { 0.0 } else { r }
}

/// The features of the sampled rows, and for each column the indices of those that track it best.
struct Bank {
    features: Vec<Feature>,
    /// Each feature's values on the sample (finite everywhere, else the feature is left out).
    values: Vec<Vec<f64>>,
    /// Per column, the features that track it best and their unexplained variance (1 − corr²),
    /// best first.
    kept: Vec<Vec<(usize, f64)>>,
    /// Each column's bit in a set of feature columns (0 for a column no feature reads).
    bit: Vec<u64>,
}

impl Bank {
    fn new(sample: &Sample<'_>) -> Self {
        let cols = sample.cols;
        let n = sample.rows.len();
        // Columns that vary on the sample feed features; a constant column predicts nothing.
        let sources: Vec<usize> = (0..cols)
            .filter(|&c| sample.values[c].iter().any(|&v| v != sample.values[c][0]))
            .take(MAX_SOURCES)
            .collect();
        // Angles feed cos and sin, pseudorapidities cosh and sinh: a column far outside those
        // ranges would only give features that fit noise (cosh 300 ≈ 10^130).
        let largest: Vec<f64> =
            (0..cols).map(|c| sample.values[c].iter().fold(0.0f64, |m, v| m.max(v.abs()))).collect();
        let fits = |op: Op, b: usize| match op {
            Op::TimesCos | Op::TimesSin => largest[b] <= ANGLE_LIMIT,
            Op::TimesCosh | Op::TimesSinh => largest[b] <= RAPIDITY_LIMIT,
            _ => true,
        };
        let mut bit = vec![0u64; cols];
        for (slot, &c) in sources.iter().enumerate() {
            bit[c] = 1 << slot;
        }
        let mut features = Vec::new();
        let feature = |op: Op, sources: [usize; 3]| {
            let mask = sources[..op.arity()].iter().fold(0, |m, &c| m | bit[c]);
            Feature { op, sources, mask }
        };
        for (ia, &a) in sources.iter().enumerate() {
            features.push(feature(Op::Value, [a, 0, 0]));
            for (ib, &b) in sources.iter().enumerate().filter(|&(ib, _)| ib != ia) {
                for op in Op::ALL
                    .into_iter()
                    .filter(|&op| op.arity() == 2 && !(op.symmetric() && ib < ia) && fits(op, b))
                {
                    features.push(feature(op, [a, b, 0]));
                }
                if ib > ia {
                    for &c in &sources[ib + 1..] {
                        features.push(feature(Op::Hypot3, [a, b, c]));
                    }
                }
            }
        }
        let values: Vec<Vec<f64>> =
            features.iter().map(|f| (0..n).map(|k| f.eval(|c| sample.values[c][k])).collect()).collect();
        let (features, values): (Vec<Feature>, Vec<Vec<f64>>) = features
            .into_iter()
            .zip(values)
            .filter(|(_, v)| v.iter().all(|x| x.is_finite()) && v.iter().any(|&x| x != v[0]))
            .unzip();
        let stats: Vec<(f64, f64)> = values.iter().map(|v| mean_and_norm(v)).collect();
        let kept = (0..cols)
            .map(|t| {
                let y = &sample.values[t];
                let (ym, yn) = mean_and_norm(y);
                if yn == 0.0 {
                    return Vec::new();
                }
                let mut scored: Vec<(f64, usize)> = (0..features.len())
                    .filter(|&f| !features[f].reads(t))
                    .map(|f| {
                        let (fm, fnorm) = stats[f];
                        let dot: f64 = values[f].iter().zip(y).map(|(a, b)| (a - fm) * (b - ym)).sum();
                        let corr = dot / (fnorm * yn);
                        (1.0 - corr * corr, f)
                    })
                    .filter(|s| s.0.is_finite())
                    .collect();
                scored.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                scored.into_iter().take(KEEP).map(|(r, f)| (f, r)).collect()
            })
            .collect();
        Self { features, values, kept, bit }
    }

    /// The set of the columns in `avail`, as feature masks hold them.
    fn mask(&self, avail: &[bool]) -> u64 {
        avail.iter().zip(&self.bit).filter(|(a, _)| **a).fold(0, |m, (_, b)| m | b)
    }
}

/// Mean, and the norm of the deviations from it.
fn mean_and_norm(v: &[f64]) -> (f64, f64) {
    let mean = v.iter().sum::<f64>() / v.len().max(1) as f64;
    (mean, v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>().sqrt())
}

/// Weights `[intercept, w1 …]` minimizing Σ (y − intercept − Σ w·x)² over the rows, and that sum;
/// None where the features are (nearly) dependent. Centred normal equations, solved by Gaussian
/// elimination with partial pivoting (at most [`MAX_TERMS`] unknowns).
fn least_squares(x: &[&[f64]], y: &[f64]) -> Option<(Vec<f64>, f64)> {
    let m = x.len();
    let n = y.len();
    if n <= m + 1 {
        return None;
    }
    let means: Vec<f64> = x.iter().map(|c| c.iter().sum::<f64>() / n as f64).collect();
    let ym = y.iter().sum::<f64>() / n as f64;
    let mut a = vec![vec![0.0f64; m + 1]; m];
    for i in 0..m {
        for j in i..m {
            let s: f64 = (0..n).map(|k| (x[i][k] - means[i]) * (x[j][k] - means[j])).sum();
            a[i][j] = s;
            a[j][i] = s;
        }
        a[i][m] = (0..n).map(|k| (x[i][k] - means[i]) * (y[k] - ym)).sum();
    }
    let scale: Vec<f64> = (0..m).map(|i| a[i][i]).collect();
    if scale.iter().any(|&s| s == 0.0 || !s.is_finite()) {
        return None;
    }
    let rhs: Vec<f64> = a.iter_mut().map(|row| row.pop().expect("the right-hand side")).collect();
    // Relative to the features' own scales: a near-zero pivot means dependent features.
    let w = crate::predictor::linear::solve(a, rhs, |col| 1e-10 * scale[col])?;
    let intercept = ym - w.iter().zip(&means).map(|(w, m)| w * m).sum::<f64>();
    let rss: f64 = (0..n)
        .map(|k| {
            let p = intercept + (0..m).map(|i| w[i] * x[i][k]).sum::<f64>();
            (y[k] - p) * (y[k] - p)
        })
        .sum();
    if !rss.is_finite() || !intercept.is_finite() || w.iter().any(|w| !w.is_finite()) {
        return None;
    }
    let mut out = vec![intercept];
    out.extend(w);
    Some((out, rss))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::predictor::GridPredictor;
    use crate::predictor::tests::{codes_of, decode};

    /// A muon-like table: px, py, pz free, E = |p| (+ a tiny mass), pT = hypot(px, py), on grids
    /// of step 0.01.
    fn kinematics(rows: usize) -> (Vec<i64>, StreamInfo) {
        let mut rng = crate::testing::Rng(11);
        let step = 0.01;
        let grid = |v: f64| (v / step).round() as i64;
        let mut q = Vec::with_capacity(rows * 5);
        for _ in 0..rows {
            let [px, py, pz] = [0; 3].map(|_| rng.range(-50_000, 50_000) as f64 / 1000.0);
            let e = (px * px + py * py + pz * pz + 0.011).sqrt();
            for v in [px, py, pz, e, px.hypot(py)] {
                q.push(grid(v));
            }
        }
        let info = StreamInfo {
            table: true,
            centers: vec![0; 5],
            float_field: None,
            grids: vec![Some((step, 0.0)); 5],
            names: ["px", "py", "pz", "E", "pt"].map(String::from).to_vec(),
            version: crate::format::container::FORMAT_VERSION,
        };
        (q, info)
    }

    #[test]
    fn derived_columns_are_learned_and_cost_little() {
        let rows = 4000;
        let (q, info) = kinematics(rows);
        let exceptions = vec![false; q.len()];
        let p = fit([rows, 5, 1], &q, &exceptions, &info).expect("a program");
        let name = GridPredictor::name(&p);
        // E and pT are modelled from earlier columns; the order puts free columns first.
        for column in [3, 4] {
            let rule = p.program.rules.iter().find(|r| r.column == column).unwrap();
            assert!(matches!(rule.base, Base::Model { .. }), "{name}");
        }
        let codes = codes_of(&p, [rows, 5, 1], &q);
        let column_bytes = |c: usize| {
            let col: Vec<i64> = (0..rows).map(|i| codes[i * 5 + c]).collect();
            estimated_bytes(&col)
        };
        // A free column costs ~13 bits a value here; a derived one a couple at most.
        assert!(
            column_bytes(3) < column_bytes(0) / 4.0,
            "{name}: {} vs {}",
            column_bytes(3),
            column_bytes(0)
        );
        assert!(column_bytes(4) < column_bytes(0) / 4.0, "{name}");
        assert_eq!(decode(&p, [rows, 5, 1], &codes), q);
    }

    /// The fitted numbers are rounded to the bits their column needs: they store in at most 5
    /// bytes each instead of 8, and the codes cost what the least-squares numbers' cost.
    #[test]
    fn fitted_numbers_are_short_and_cost_no_codes() {
        use crate::predictor::columns::short_float;
        let (rows, dims) = (4000, [4000, 5, 1]);
        let (q, info) = kinematics(rows);
        let exceptions = vec![false; q.len()];
        let p = fit(dims, &q, &exceptions, &info).expect("a program");
        let wide = Sample::new(dims, &q, &exceptions, &info, FIT_ROWS);
        let mut exact = p.program.clone();
        let mut numbers = 0;
        for (rule, rounded) in exact.rules.iter_mut().zip(&p.program.rules) {
            if let (Base::Model { intercept, terms }, Base::Model { intercept: i, terms: t }) =
                (&mut rule.base, &rounded.base)
            {
                for x in std::iter::once(*i).chain(t.iter().map(|t| t.weight)) {
                    assert!(short_float::len(x).is_some_and(|n| n <= 5), "{x:e}");
                    numbers += 1;
                }
                let features = wide.features(terms).expect("finite features");
                wide.refit(rule.column, &features, intercept, terms);
            }
        }
        assert!(numbers >= 4, "{}", GridPredictor::name(&p));
        let bytes = |program: Program| {
            let codes = codes_of(&Columns::new(program, &info), dims, &q);
            (0..5)
                .map(|c| estimated_bytes(&(0..rows).map(|i| codes[i * 5 + c]).collect::<Vec<_>>()))
                .sum::<f64>()
        };
        let (rounded, unrounded) = (bytes(p.program.clone()), bytes(exact));
        assert!(rounded <= unrounded * 1.002, "{rounded} vs {unrounded}");
    }

    #[test]
    fn tables_too_wide_or_too_short_get_no_program() {
        let (q, info) = kinematics(4000);
        assert!(fit([40, 5, 1], &q[..200], &[false; 200], &info).is_none(), "40 rows");
        let wide = StreamInfo {
            centers: vec![0; MAX_COLUMNS + 1],
            grids: vec![Some((1.0, 0.0)); MAX_COLUMNS + 1],
            names: vec![String::new(); MAX_COLUMNS + 1],
            ..info
        };
        let n = 100 * (MAX_COLUMNS + 1);
        let q: Vec<i64> = (0..n as i64).collect();
        assert!(fit([100, MAX_COLUMNS + 1, 1], &q, &vec![false; n], &wide).is_none());
    }

    #[test]
    fn unrelated_columns_stay_classic() {
        let rows = 2000;
        let mut rng = crate::testing::Rng(5);
        let q: Vec<i64> = (0..rows * 3).map(|_| rng.range(-10_000, 10_000)).collect();
        let info = StreamInfo {
            table: true,
            centers: vec![0; 3],
            float_field: None,
            grids: vec![Some((1.0, 0.0)); 3],
            names: vec![String::new(); 3],
            version: crate::format::container::FORMAT_VERSION,
        };
        let p = fit([rows, 3, 1], &q, &vec![false; q.len()], &info).expect("a program");
        assert!(
            p.program.rules.iter().all(|r| !matches!(r.base, Base::Model { .. })),
            "{}",
            GridPredictor::name(&p)
        );
    }

    #[test]
    fn least_squares_recovers_a_linear_relation() {
        let a: Vec<f64> = (0..100).map(|i| (i as f64 * 0.37).sin()).collect();
        let b: Vec<f64> = (0..100).map(|i| (i as f64 * 0.11).cos()).collect();
        let y: Vec<f64> = a.iter().zip(&b).map(|(a, b)| 2.0 + 3.0 * a - 0.5 * b).collect();
        let (w, rss) = least_squares(&[&a, &b], &y).unwrap();
        assert!((w[0] - 2.0).abs() < 1e-9 && (w[1] - 3.0).abs() < 1e-9 && (w[2] + 0.5).abs() < 1e-9, "{w:?}");
        assert!(rss < 1e-18);
        // Dependent features are refused.
        assert!(least_squares(&[&a, &a], &y).is_none());
    }
}
