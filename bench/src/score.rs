//! The aggregate score S: one number per run that says how much better (higher) or worse a
//! healer mode did than a reference run of the same scenario and seed (normally healer
//! `off`). The report in `healer/train/REPORT.md` and every `compare` use this one
//! definition:
//!
//! ```text
//! S(m) = ( -ln(p99_m / p99_ref) + ln(tp_m / tp_ref) - ln((1 + stall_m) / (1 + stall_ref)) - res_m ) / 4
//!        - 1 if m lost keys or returned wrong values
//! ```
//!
//! p99 is the worst of the write, read and scan p99 latencies; tp the measured throughput;
//! stall RocksDB's write-stall seconds; res_m = ln(mean resource units) of the run (1.0 = as
//! configured; 0 when unknown). Every log term is clipped to ±[`LOG_CLIP`], so S(ref) = 0
//! and 0.1 is about 10 % better overall.

use serde::Serialize;

/// Bound on each log-ratio term: one pathological figure cannot outweigh the rest.
pub const LOG_CLIP: f64 = 3.0;

/// Penalty for losing an acknowledged write or returning a wrong value.
pub const LOSS_PENALTY: f64 = 1.0;

/// The figures of one run the score reads.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ScoreFigures {
    /// Worst of the write, read and scan p99 latencies, µs (`None`: no latency measured).
    pub worst_p99_us: Option<f64>,
    /// Measured throughput, ops/s.
    pub throughput_ops_per_s: f64,
    /// RocksDB write-stall seconds.
    pub stall_seconds: f64,
    /// Mean resource units in force (`None`: not measured, counts as 1.0).
    pub resource_units_mean: Option<f64>,
    /// Whether verification found a lost key or a wrong value.
    pub lost_or_wrong: bool,
}

fn clipped_ln(ratio: f64) -> f64 {
    ratio.ln().clamp(-LOG_CLIP, LOG_CLIP)
}

/// S of `run` against `reference`; `None` when either lacks a latency or a throughput
/// (nothing to compare).
pub fn score(run: &ScoreFigures, reference: &ScoreFigures) -> Option<f64> {
    let p99 = run.worst_p99_us.filter(|v| *v > 0.0)?;
    let p99_ref = reference.worst_p99_us.filter(|v| *v > 0.0)?;
    let (tp, tp_ref) = (run.throughput_ops_per_s, reference.throughput_ops_per_s);
    if !(tp > 0.0 && tp_ref > 0.0) {
        return None;
    }
    let mut s = -clipped_ln(p99 / p99_ref) + clipped_ln(tp / tp_ref)
        - clipped_ln((1.0 + run.stall_seconds.max(0.0)) / (1.0 + reference.stall_seconds.max(0.0)));
    if let Some(units) = run.resource_units_mean {
        s -= clipped_ln(units.max(1e-6));
    }
    s /= 4.0;
    if run.lost_or_wrong {
        s -= LOSS_PENALTY;
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(p99: f64, tp: f64, stall: f64) -> ScoreFigures {
        ScoreFigures {
            worst_p99_us: Some(p99),
            throughput_ops_per_s: tp,
            stall_seconds: stall,
            resource_units_mean: Some(1.0),
            lost_or_wrong: false,
        }
    }

    #[test]
    fn the_reference_scores_zero_and_better_runs_score_above_it() {
        let off = figures(1000.0, 5000.0, 2.0);
        assert_eq!(score(&off, &off), Some(0.0));
        let halved_p99 = figures(500.0, 5000.0, 2.0);
        let s = score(&halved_p99, &off).unwrap();
        assert!((s - 2f64.ln() / 4.0).abs() < 1e-12, "{s}");
        assert!(score(&figures(2000.0, 4000.0, 5.0), &off).unwrap() < 0.0);
    }

    #[test]
    fn each_term_is_clipped_and_losses_cost_one() {
        let off = figures(1.0, 5000.0, 0.0);
        let awful = figures(1e9, 5000.0, 0.0);
        assert!((score(&awful, &off).unwrap() + LOG_CLIP / 4.0).abs() < 1e-12);
        let lossy = ScoreFigures {
            lost_or_wrong: true,
            ..off
        };
        assert_eq!(score(&lossy, &off), Some(-LOSS_PENALTY));
    }

    #[test]
    fn more_resources_cost_and_unknown_resources_count_as_configured() {
        let off = figures(100.0, 100.0, 0.0);
        let doubled = ScoreFigures {
            resource_units_mean: Some(2.0),
            ..off
        };
        assert!((score(&doubled, &off).unwrap() + 2f64.ln() / 4.0).abs() < 1e-12);
        let unknown = ScoreFigures {
            resource_units_mean: None,
            ..off
        };
        assert_eq!(score(&unknown, &off), Some(0.0));
    }

    #[test]
    fn nothing_to_compare_gives_none() {
        let off = figures(100.0, 100.0, 0.0);
        let silent = ScoreFigures {
            worst_p99_us: None,
            ..off
        };
        assert_eq!(score(&silent, &off), None);
        assert_eq!(score(&off, &silent), None);
        let idle = ScoreFigures {
            throughput_ops_per_s: 0.0,
            ..off
        };
        assert_eq!(score(&idle, &off), None);
    }
}
