//! Small-sample statistics for repeated, paired benchmark runs: medians, means and 95 %
//! percentile-bootstrap confidence intervals, plain or stratified by scenario.
//!
//! Every interval is computed from a seeded resampler so the same runs always give the same
//! report. With the handful of repeats a benchmark affords (5–10) a percentile bootstrap is
//! on the narrow side; the intervals are a floor on the uncertainty, not a ceiling.

use serde::Serialize;

use crate::keygen::{mix64, Rng};

/// Resamples per bootstrap interval: enough that the 2.5 % / 97.5 % quantiles of the
/// resampled statistic move by well under its own sampling error.
pub const RESAMPLES: usize = 4000;

/// A point estimate with its 95 % confidence interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Estimate {
    /// The statistic on the data (a median or a mean, as the producer says).
    pub value: f64,
    /// 95 % confidence interval `[low, high]`.
    pub ci95: [f64; 2],
    /// Observations it rests on.
    pub n: usize,
}

impl Estimate {
    /// Whether the interval lies strictly above zero (a difference that is better with 95 %
    /// confidence, when higher is better).
    pub fn above_zero(&self) -> bool {
        self.ci95[0] > 0.0
    }

    /// Whether the interval lies strictly below zero.
    pub fn below_zero(&self) -> bool {
        self.ci95[1] < 0.0
    }
}

/// Median of `values` (mean of the two middle values for an even count); `None` if empty
/// or if any value is not finite.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = finite_sorted(values)?;
    let n = sorted.len();
    let mid = n / 2;
    Some(if n % 2 == 1 {
        sorted[mid]
    } else {
        let upper = sorted[mid];
        sorted.truncate(mid);
        (sorted[mid - 1] + upper) / 2.0
    })
}

/// Arithmetic mean; `None` if empty or if any value is not finite.
pub fn mean(values: &[f64]) -> Option<f64> {
    if values.is_empty() || values.iter().any(|v| !v.is_finite()) {
        return None;
    }
    Some(values.iter().sum::<f64>() / values.len() as f64)
}

/// Median with the 95 % percentile-bootstrap interval of the median.
pub fn median_estimate(values: &[f64], seed: u64) -> Option<Estimate> {
    let value = median(values)?;
    let ci95 = bootstrap(&[values], seed, |groups| median(&groups[0]))?;
    Some(Estimate {
        value,
        ci95,
        n: values.len(),
    })
}

/// Mean with the 95 % percentile-bootstrap interval of the mean (for paired differences).
pub fn mean_estimate(values: &[f64], seed: u64) -> Option<Estimate> {
    let value = mean(values)?;
    let ci95 = bootstrap(&[values], seed, |groups| mean(&groups[0]))?;
    Some(Estimate {
        value,
        ci95,
        n: values.len(),
    })
}

/// The mean over groups of each group's mean (every group weighs the same, whatever its
/// size), with a stratified bootstrap interval: each resample redraws within every group.
/// Used for an aggregate over scenarios, each with its own repeats. Empty groups are left
/// out; `None` when none is left.
pub fn stratified_mean_estimate(groups: &[Vec<f64>], seed: u64) -> Option<Estimate> {
    let groups: Vec<&[f64]> = groups
        .iter()
        .filter(|g| !g.is_empty())
        .map(Vec::as_slice)
        .collect();
    let value = mean_of_means(&groups)?;
    let ci95 = bootstrap(&groups, seed, |resampled| {
        let refs: Vec<&[f64]> = resampled.iter().map(Vec::as_slice).collect();
        mean_of_means(&refs)
    })?;
    Some(Estimate {
        value,
        ci95,
        n: groups.iter().map(|g| g.len()).sum(),
    })
}

fn mean_of_means(groups: &[&[f64]]) -> Option<f64> {
    let means: Option<Vec<f64>> = groups.iter().map(|g| mean(g)).collect();
    mean(&means?)
}

fn finite_sorted(values: &[f64]) -> Option<Vec<f64>> {
    if values.is_empty() || values.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    Some(sorted)
}

/// Percentile bootstrap: `statistic` on [`RESAMPLES`] resamples (each group redrawn with
/// replacement at its own size), then the 2.5 % and 97.5 % quantiles.
fn bootstrap(
    groups: &[&[f64]],
    seed: u64,
    statistic: impl Fn(&[Vec<f64>]) -> Option<f64>,
) -> Option<[f64; 2]> {
    if groups.is_empty() || groups.iter().any(|g| g.is_empty()) {
        return None;
    }
    let mut rng = Rng::new(mix64(seed ^ 0x5eed_b007_57a9_0000));
    let mut resampled: Vec<Vec<f64>> = groups.iter().map(|g| Vec::with_capacity(g.len())).collect();
    let mut stats = Vec::with_capacity(RESAMPLES);
    for _ in 0..RESAMPLES {
        for (out, group) in resampled.iter_mut().zip(groups) {
            out.clear();
            out.extend((0..group.len()).map(|_| group[rng.below(group.len() as u64) as usize]));
        }
        stats.push(statistic(&resampled)?);
    }
    stats.sort_by(f64::total_cmp);
    Some([quantile(&stats, 0.025), quantile(&stats, 0.975)])
}

/// Linear-interpolation quantile of sorted data (type 7, as numpy's default).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let position = q * (sorted.len() - 1) as f64;
    let below = position.floor() as usize;
    let above = position.ceil() as usize;
    let weight = position - below as f64;
    sorted[below] * (1.0 - weight) + sorted[above] * weight
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[1.0, f64::NAN]), None);
    }

    #[test]
    fn interval_contains_the_estimate_and_lies_within_the_data() {
        let values = [0.8, 1.1, 0.9, 1.4, 1.0, 0.7, 1.2];
        for estimate in [
            median_estimate(&values, 1).unwrap(),
            mean_estimate(&values, 1).unwrap(),
        ] {
            assert!(estimate.ci95[0] <= estimate.value && estimate.value <= estimate.ci95[1]);
            assert!(estimate.ci95[0] >= 0.7 && estimate.ci95[1] <= 1.4);
            assert!(estimate.ci95[1] - estimate.ci95[0] > 0.05, "{estimate:?}");
            assert_eq!(estimate.n, values.len());
        }
    }

    #[test]
    fn same_seed_same_interval_and_constant_data_has_zero_width() {
        let values = [0.3, -0.1, 0.2, 0.5, 0.0];
        assert_eq!(mean_estimate(&values, 9), mean_estimate(&values, 9));
        let constant = mean_estimate(&[2.0; 6], 3).unwrap();
        assert_eq!(constant.ci95, [2.0, 2.0]);
    }

    #[test]
    fn a_clear_paired_improvement_is_above_zero_and_noise_is_not() {
        let better = [0.21, 0.18, 0.25, 0.19, 0.22, 0.24, 0.2, 0.23];
        assert!(mean_estimate(&better, 4).unwrap().above_zero());
        let noise = [0.3, -0.25, 0.1, -0.2, 0.05, -0.1, 0.2, -0.15];
        let estimate = mean_estimate(&noise, 4).unwrap();
        assert!(
            !estimate.above_zero() && !estimate.below_zero(),
            "{estimate:?}"
        );
    }

    #[test]
    fn bootstrap_interval_covers_the_true_mean_about_95_percent_of_the_time() {
        // Normal(0.1, 0.2) samples of 10 via Box-Muller; the percentile interval of a mean
        // of 10 covers a little under 95 %: accept 85 %..99 % over 300 trials.
        let mut rng = Rng::new(77);
        let mut covered = 0;
        let trials = 300;
        for trial in 0..trials {
            let sample: Vec<f64> = (0..10)
                .map(|_| {
                    let (u1, u2) = (rng.next_f64().max(1e-12), rng.next_f64());
                    0.1 + 0.2 * (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
                })
                .collect();
            let estimate = mean_estimate(&sample, trial).unwrap();
            if estimate.ci95[0] <= 0.1 && 0.1 <= estimate.ci95[1] {
                covered += 1;
            }
        }
        let rate = covered as f64 / trials as f64;
        assert!((0.85..=0.99).contains(&rate), "coverage {rate}");
    }

    #[test]
    fn stratified_mean_weighs_each_group_equally() {
        let groups = vec![vec![1.0, 1.0, 1.0, 1.0], vec![0.0], vec![]];
        let estimate = stratified_mean_estimate(&groups, 2).unwrap();
        assert_eq!(estimate.value, 0.5);
        assert_eq!(estimate.ci95, [0.5, 0.5]);
        assert_eq!(estimate.n, 5);
        assert!(stratified_mean_estimate(&[vec![], vec![]], 2).is_none());
    }
}
