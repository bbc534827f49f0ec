//! Small-sample statistics for repeated, paired benchmark runs: medians with 95 %
//! percentile-bootstrap intervals, means with 95 % Student-t intervals, and the mean over
//! scenarios of their mean differences.
//!
//! Every bootstrap interval is computed from a seeded resampler so the same runs always give
//! the same report. With the handful of repeats a benchmark affords (3–10) a percentile
//! bootstrap is narrow: under 6 runs the interval of a median is about the range of the runs.
//! The decisions a report states (better or worse with 95 % confidence) therefore rest on
//! the means of paired differences, whose Student-t intervals keep their coverage at small
//! counts (for differences that are roughly normal, as sums of several log ratios are).

use serde::Serialize;
use statrs::distribution::{ContinuousCDF, StudentsT};

use crate::keygen::{mix64, Rng};

/// Resamples per bootstrap interval: enough that the 2.5 % / 97.5 % quantiles of the
/// resampled statistic move by well under its own sampling error.
pub const RESAMPLES: usize = 4000;

/// A point estimate with its 95 % confidence interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Estimate {
    /// The statistic on the data (a median or a mean, as the producer says).
    pub value: f64,
    /// 95 % confidence interval `[low, high]`; `None` (JSON `null`) when one observation
    /// cannot give one.
    pub ci95: Option<[f64; 2]>,
    /// Observations it rests on.
    pub n: usize,
}

impl Estimate {
    /// Whether the interval lies strictly above zero (a difference that is better with 95 %
    /// confidence, when higher is better). False without an interval.
    pub fn above_zero(&self) -> bool {
        self.ci95.is_some_and(|[low, _]| low > 0.0)
    }

    /// Whether the interval lies strictly below zero. False without an interval.
    pub fn below_zero(&self) -> bool {
        self.ci95.is_some_and(|[_, high]| high < 0.0)
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

/// Median with the 95 % percentile-bootstrap interval of the median (no interval for a
/// single value).
pub fn median_estimate(values: &[f64], seed: u64) -> Option<Estimate> {
    let value = median(values)?;
    let ci95 = if values.len() < 2 {
        None
    } else {
        bootstrap(values, seed, median)
    };
    Some(Estimate {
        value,
        ci95,
        n: values.len(),
    })
}

/// Mean with its 95 % Student-t interval, `mean ± t(0.975, n − 1) · s / √n` (no interval
/// for a single value). Used for paired differences.
pub fn mean_estimate(values: &[f64]) -> Option<Estimate> {
    let value = mean(values)?;
    let n = values.len();
    let ci95 = if n < 2 {
        None
    } else {
        let variance = values.iter().map(|v| (v - value).powi(2)).sum::<f64>() / (n - 1) as f64;
        let half = t_critical(n - 1)? * (variance / n as f64).sqrt();
        Some([value - half, value + half])
    };
    Some(Estimate { value, ci95, n })
}

/// The mean over groups of each group's mean (every group weighs the same, whatever its
/// size): the aggregate over scenarios, each with its own repeats. The interval is the
/// Student-t interval over the group means, so it counts the spread between scenarios as
/// well as each one's run-to-run noise: it speaks for trouble like the scenarios measured,
/// not only for these scenarios. With one group it is that group's own interval. Empty
/// groups are left out; `None` when none is left. `n` counts every observation.
pub fn mean_of_means_estimate(groups: &[Vec<f64>]) -> Option<Estimate> {
    let groups: Vec<&Vec<f64>> = groups.iter().filter(|g| !g.is_empty()).collect();
    let n = groups.iter().map(|g| g.len()).sum();
    let estimate = match groups.as_slice() {
        [] => return None,
        [only] => mean_estimate(only)?,
        many => {
            let means: Option<Vec<f64>> = many.iter().map(|g| mean(g)).collect();
            mean_estimate(&means?)?
        }
    };
    Some(Estimate { n, ..estimate })
}

/// Two-sided 95 % critical value of Student's t with `df` degrees of freedom.
fn t_critical(df: usize) -> Option<f64> {
    let t = StudentsT::new(0.0, 1.0, df as f64).ok()?;
    Some(t.inverse_cdf(0.975))
}

fn finite_sorted(values: &[f64]) -> Option<Vec<f64>> {
    if values.is_empty() || values.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    Some(sorted)
}

/// Percentile bootstrap: `statistic` on [`RESAMPLES`] resamples of `values` (redrawn with
/// replacement at its own size), then the 2.5 % and 97.5 % quantiles.
fn bootstrap(
    values: &[f64],
    seed: u64,
    statistic: impl Fn(&[f64]) -> Option<f64>,
) -> Option<[f64; 2]> {
    if values.is_empty() {
        return None;
    }
    let mut rng = Rng::new(mix64(seed ^ 0x5eed_b007_57a9_0000));
    let mut resampled = Vec::with_capacity(values.len());
    let mut stats = Vec::with_capacity(RESAMPLES);
    for _ in 0..RESAMPLES {
        resampled.clear();
        resampled
            .extend((0..values.len()).map(|_| values[rng.below(values.len() as u64) as usize]));
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

    fn normal_sample(rng: &mut Rng, n: usize, mu: f64, sigma: f64) -> Vec<f64> {
        (0..n)
            .map(|_| {
                let (u1, u2) = (rng.next_f64().max(1e-12), rng.next_f64());
                mu + sigma * (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
            })
            .collect()
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[1.0, f64::NAN]), None);
    }

    #[test]
    fn median_interval_contains_the_estimate_and_lies_within_the_data() {
        let values = [0.8, 1.1, 0.9, 1.4, 1.0, 0.7, 1.2];
        let estimate = median_estimate(&values, 1).unwrap();
        let [low, high] = estimate.ci95.unwrap();
        assert!(low <= estimate.value && estimate.value <= high);
        assert!(low >= 0.7 && high <= 1.4);
        assert!(high - low > 0.05, "{estimate:?}");
        assert_eq!(estimate.n, values.len());
        assert_eq!(median_estimate(&values, 1), median_estimate(&values, 1));
    }

    #[test]
    fn one_value_has_no_interval() {
        for estimate in [
            median_estimate(&[2.0], 3).unwrap(),
            mean_estimate(&[2.0]).unwrap(),
        ] {
            assert_eq!(estimate.value, 2.0);
            assert_eq!(estimate.ci95, None);
            assert!(!estimate.above_zero() && !estimate.below_zero());
        }
    }

    #[test]
    fn t_interval_matches_the_textbook_values() {
        // t(0.975, 2) = 4.303, t(0.975, 9) = 2.262, t(0.975, 1000) ≈ 1.962.
        assert!((t_critical(2).unwrap() - 4.3027).abs() < 1e-3);
        assert!((t_critical(9).unwrap() - 2.2622).abs() < 1e-3);
        assert!((t_critical(1000).unwrap() - 1.9623).abs() < 1e-3);
        // mean 2, s = 1, n = 3: half width 4.303 / sqrt(3).
        let [low, high] = mean_estimate(&[1.0, 2.0, 3.0]).unwrap().ci95.unwrap();
        let half = 4.3027 / 3f64.sqrt();
        assert!((low - (2.0 - half)).abs() < 1e-3 && (high - (2.0 + half)).abs() < 1e-3);
        let constant = mean_estimate(&[2.0; 6]).unwrap();
        assert_eq!(constant.ci95, Some([2.0, 2.0]));
    }

    #[test]
    fn a_clear_paired_improvement_is_above_zero_and_noise_is_not() {
        let better = [0.21, 0.18, 0.25, 0.19, 0.22, 0.24, 0.2, 0.23];
        assert!(mean_estimate(&better).unwrap().above_zero());
        let noise = [0.3, -0.25, 0.1, -0.2, 0.05, -0.1, 0.2, -0.15];
        let estimate = mean_estimate(&noise).unwrap();
        assert!(
            !estimate.above_zero() && !estimate.below_zero(),
            "{estimate:?}"
        );
    }

    #[test]
    fn mean_interval_covers_the_true_mean_95_percent_of_the_time_even_with_three_runs() {
        // Normal(0.1, 0.2) samples of 3 and of 10: the t interval covers 95 % at any size
        // (a percentile bootstrap of 3 covers about 75 %). Accept 91 %..99 % over 1000 trials.
        let mut rng = Rng::new(77);
        for n in [3, 10] {
            let trials = 1000;
            let covered = (0..trials)
                .filter(|_| {
                    let sample = normal_sample(&mut rng, n, 0.1, 0.2);
                    let [low, high] = mean_estimate(&sample).unwrap().ci95.unwrap();
                    low <= 0.1 && 0.1 <= high
                })
                .count();
            let rate = covered as f64 / trials as f64;
            assert!((0.91..=0.99).contains(&rate), "n = {n}: coverage {rate}");
        }
    }

    #[test]
    fn mean_of_means_weighs_each_group_equally_and_counts_the_spread_between_them() {
        let groups = vec![vec![1.0, 1.0, 1.0, 1.0], vec![0.0], vec![]];
        let estimate = mean_of_means_estimate(&groups).unwrap();
        assert_eq!(estimate.value, 0.5);
        assert_eq!(estimate.n, 5);
        // Two scenario means 1 and 0: s / √2 = 0.5, t(0.975, 1) = 12.706: 6.353 either side.
        let [low, high] = estimate.ci95.unwrap();
        assert!((high - 0.5 - 6.3531).abs() < 1e-3 && (0.5 - low - 6.3531).abs() < 1e-3);
        // One group: its own interval.
        let single = mean_of_means_estimate(&[vec![], vec![1.0, 2.0, 3.0]]).unwrap();
        assert_eq!(single, mean_estimate(&[1.0, 2.0, 3.0]).unwrap());
        assert!(mean_of_means_estimate(&[vec![], vec![]]).is_none());
    }
}
