//! The one linear solve the encoder's fits need (column models' least squares, the learned pass's
//! normal equations): small dense systems, by Gaussian elimination with partial pivoting.

/// x with `a·x = b` (`a` square, row-major), or None where a pivot is smaller in magnitude than
/// `min_pivot(column)` (dependent or nearly dependent unknowns) or x is not finite.
pub fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>, min_pivot: impl Fn(usize) -> f64) -> Option<Vec<f64>> {
    let n = b.len();
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        a.swap(col, pivot);
        b.swap(col, pivot);
        // `is_finite` also refuses a NaN pivot.
        if !a[col][col].is_finite() || a[col][col].abs() < min_pivot(col) {
            return None;
        }
        let (upper, lower) = a.split_at_mut(col + 1);
        let pivot_row = &upper[col];
        for (r, row) in lower.iter_mut().enumerate() {
            let f = row[col] / pivot_row[col];
            for (x, p) in row[col..].iter_mut().zip(&pivot_row[col..]) {
                *x -= f * p;
            }
            b[col + 1 + r] -= f * b[col];
        }
    }
    let mut x = vec![0f64; n];
    for i in (0..n).rev() {
        let s: f64 = (i + 1..n).map(|j| a[i][j] * x[j]).sum();
        x[i] = (b[i] - s) / a[i][i];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solves_with_pivoting_and_refuses_dependent_rows() {
        // The first pivot is 0: only a row swap solves it.
        let a = vec![vec![0.0, 2.0, 1.0], vec![1.0, 1.0, 0.0], vec![2.0, 0.0, 3.0]];
        let x = solve(a.clone(), vec![5.0, 3.0, 11.0], |_| 1e-12).unwrap();
        for (row, b) in a.iter().zip([5.0, 3.0, 11.0]) {
            let ax: f64 = row.iter().zip(&x).map(|(a, x)| a * x).sum();
            assert!((ax - b).abs() < 1e-12, "{x:?}");
        }
        let dependent = vec![vec![1.0, 2.0], vec![2.0, 4.0]];
        assert!(solve(dependent, vec![1.0, 2.0], |_| 1e-12).is_none());
    }
}
