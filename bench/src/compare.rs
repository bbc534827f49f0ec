//! Repeated, paired comparison of healer modes: which seeds each repeat runs, the per-mode
//! medians of the headline figures with 95 % bootstrap intervals, and the paired score
//! differences (per scenario and over all scenarios) that say whether a mode is better than
//! another with 95 % confidence.
//!
//! Pairing: every mode runs the same seeds, so a difference is taken within a seed (same
//! keys, same fault onsets and sizes) before it is averaged: what a seed draws cancels out of
//! the difference, and what is left is the machine's run-to-run noise, which the intervals
//! measure.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::cache::{RunCache, RunIdentity};
use crate::keygen::mix64;
use crate::report::{run_report, RunReport, ScenarioReport};
use crate::runner::{self, RunOptions};
use crate::scenario::{Family, Sampled, Scenario};
use crate::score::{score, ScoreFigures};
use crate::stats::{mean_estimate, mean_of_means_estimate, median_estimate, Estimate};
use crate::subject::HealerMode;

/// The mode every score is taken against.
pub const BASELINE: &str = "off";

/// The second reference: a mode is also compared with the rule policy.
pub const RULES: &str = "rules";

/// Seeds of `repeats` runs: the first is `base` itself (one repeat is the plain single run),
/// the others are derived from it, so the same base always gives the same set.
pub fn repeat_seeds(base: u64, repeats: u32) -> Vec<u64> {
    (0..u64::from(repeats.max(1)))
        .map(|i| if i == 0 { base } else { mix64(base ^ mix64(i)) })
        .collect()
}

/// The order the modes of repeat `index` run in: rotated by one each repeat, so no mode
/// always runs first (on a cold page cache) or last (on a warm, fragmented machine).
pub fn mode_order<T: Copy>(modes: &[T], index: usize) -> Vec<T> {
    let n = modes.len();
    (0..n).map(|k| modes[(index + k) % n.max(1)]).collect()
}

/// Runs `scenario` once per mode and seed (fresh database each run), with `options` as the
/// template (its `healer` and `seed` are set per run). Each seed runs the scenario as drawn
/// for it ([`Scenario::instantiate`]: every mode of a seed gets the same onsets and sizes);
/// every seed is drawn and validated before the first run. The report's `summary` and
/// `paired` are filled in by [`crate::report::Report::push`].
pub fn run_repeats(
    scenario: &Scenario,
    modes: &[HealerMode],
    seeds: &[u64],
    options: &RunOptions,
    cache: Option<&CachedRuns<'_>>,
) -> Result<ScenarioReport, String> {
    let instances = seeds
        .iter()
        .map(|&seed| scenario.instantiate(seed).map_err(|e| e.to_string()))
        .collect::<Result<Vec<Scenario>, String>>()?;
    let mut entry = ScenarioReport::new(
        &scenario.name,
        &scenario.description,
        scenario.family,
        seeds.to_vec(),
    );
    for (repeat, instance) in instances.iter().enumerate() {
        for mode in mode_order(modes, repeat) {
            eprintln!(
                "running {} with healer {} (repeat {}/{}, seed {}{})",
                scenario.name,
                mode.name(),
                repeat + 1,
                seeds.len(),
                instance.seed,
                sampled_note(instance)
            );
            let run_options = RunOptions {
                healer: mode,
                seed: Some(instance.seed),
                ..options.clone()
            };
            let key = cache.map(|c| c.key(mode, &run_options)).transpose()?;
            let cached = cache
                .zip(key.as_deref())
                .and_then(|(c, key)| c.cache.get(&scenario.name, key));
            let mut run = match cached {
                Some(run) => {
                    eprintln!("  (cached)");
                    run
                }
                None => {
                    let out = runner::run(instance, &run_options)?;
                    let mut run = run_report(&out, options.time_scale);
                    run.sampled = sampled_map(instance);
                    if let (Some(c), Some(key)) = (cache, key.as_deref()) {
                        c.cache.put(&scenario.name, key, &run)?;
                    }
                    run
                }
            };
            run.repeat = repeat as u32;
            entry.runs.push(run);
        }
    }
    Ok(entry)
}

/// A run cache and what, besides the run options, keys a run in it.
pub struct CachedRuns<'a> {
    /// Where finished runs are kept.
    pub cache: &'a RunCache,
    /// The scenario file's text as written.
    pub scenario_source: &'a str,
}

impl CachedRuns<'_> {
    fn key(&self, mode: HealerMode, options: &RunOptions) -> Result<String, String> {
        let models = mode.models_fingerprint()?;
        let weights = options.weights;
        Ok(RunIdentity {
            scenario_source: self.scenario_source,
            seed: options.seed.unwrap_or_default(),
            healer: mode.name(),
            time_scale: options.time_scale,
            weights: [weights.latency, weights.throughput, weights.resources],
            verify: options.verify,
            models: &models,
        }
        .key())
    }
}

/// The values drawn for an instance, keyed by field path (`RunReport::sampled`).
pub fn sampled_map(instance: &Scenario) -> BTreeMap<String, Sampled> {
    instance.sampled().iter().cloned().collect()
}

/// `; path = value, …` for a progress line, empty without ranges.
fn sampled_note(instance: &Scenario) -> String {
    instance
        .sampled()
        .iter()
        .map(|(path, value)| format!("; {path} = {value}"))
        .collect()
}

/// A headline figure: its JSON name and how it is read off a run.
pub struct Figure {
    /// Name in the JSON `summary` and in the table.
    pub name: &'static str,
    /// The value of a run (`None`: not measured, e.g. no reads).
    pub value: fn(&RunReport) -> Option<f64>,
}

/// The figures summarised per mode, in report order.
pub const FIGURES: &[Figure] = &[
    Figure {
        name: "worst_p99_us",
        value: worst_p99_us,
    },
    Figure {
        name: "write_p99_us",
        value: |r| r.write_p99_us,
    },
    Figure {
        name: "write_p999_us",
        value: |r| r.write_p999_us,
    },
    Figure {
        name: "read_p99_us",
        value: |r| r.read_p99_us,
    },
    Figure {
        name: "read_p999_us",
        value: |r| r.read_p999_us,
    },
    Figure {
        name: "scan_p99_us",
        value: |r| r.scan_p99_us,
    },
    Figure {
        name: "scan_p999_us",
        value: |r| r.scan_p999_us,
    },
    Figure {
        name: "stall_seconds",
        value: |r| Some(r.stall_seconds),
    },
    Figure {
        name: "throughput_ops_per_s",
        value: |r| Some(r.throughput_ops_per_s),
    },
    Figure {
        name: "resource_units_mean",
        value: |r| r.resource_units_mean,
    },
    Figure {
        name: "keys_lost",
        value: |r| r.keys_lost.map(|v| v as f64),
    },
    Figure {
        name: "wrong_values",
        value: |r| r.wrong_values.map(|v| v as f64),
    },
];

/// The worst of the write, read and scan p99 latencies, µs.
pub fn worst_p99_us(run: &RunReport) -> Option<f64> {
    [run.write_p99_us, run.read_p99_us, run.scan_p99_us]
        .into_iter()
        .flatten()
        .reduce(f64::max)
}

/// What the aggregate score reads off a run.
pub fn score_figures(run: &RunReport) -> ScoreFigures {
    ScoreFigures {
        worst_p99_us: worst_p99_us(run),
        throughput_ops_per_s: run.throughput_ops_per_s,
        stall_seconds: run.stall_seconds,
        resource_units_mean: run.resource_units_mean,
        lost_or_wrong: run.keys_lost.unwrap_or(0) > 0 || run.wrong_values.unwrap_or(0) > 0,
    }
}

/// One figure of one mode over its repeats.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct FigureSummary {
    /// Median over the repeats.
    pub median: f64,
    /// 95 % bootstrap interval of the median (`null` for a single run).
    pub ci95: Option<[f64; 2]>,
    /// Repeats that measured it.
    pub n: usize,
}

impl FigureSummary {
    /// `median [low, high]`, each value written by `fmt`; the median alone without an
    /// interval.
    pub fn display(&self, fmt: impl Fn(f64) -> String) -> String {
        match self.ci95 {
            Some([low, high]) => format!("{} [{}, {}]", fmt(self.median), fmt(low), fmt(high)),
            None => fmt(self.median),
        }
    }
}

/// One mode of one scenario over its repeats (`scenarios[].summary.<mode>`).
#[derive(Clone, Debug, Serialize)]
pub struct ModeSummary {
    /// Runs of this mode.
    pub runs: usize,
    /// Every figure of [`FIGURES`] that some run measured.
    pub figures: BTreeMap<&'static str, FigureSummary>,
}

/// A paired score difference of one mode against a reference mode, in one scenario.
#[derive(Clone, Debug, Serialize)]
pub struct PairedScore {
    /// The mode.
    pub healer: String,
    /// The reference (`off` or `rules`).
    pub reference: String,
    /// Per seed (in `seeds` order): S(healer) − S(reference), both scored against `off` of
    /// that seed; null where a run is missing or had nothing to compare.
    pub per_seed: Vec<Option<f64>>,
    /// Mean difference with its 95 % Student-t interval (null: no seed had both runs; its
    /// interval null with a single pair).
    pub difference: Option<Estimate>,
}

/// A paired score difference over every scenario (`paired[]` at the top of the report).
#[derive(Clone, Debug, Serialize)]
pub struct AggregatePaired {
    /// The mode.
    pub healer: String,
    /// The reference.
    pub reference: String,
    /// Scenarios with at least one paired seed.
    pub scenarios: usize,
    /// Mean over scenarios of each scenario's mean difference (every scenario weighs the
    /// same), with the Student-t interval over the scenario means: it counts the spread
    /// between scenarios as well as the noise within each, so it speaks for trouble like the
    /// scenarios measured, not only for these ones.
    pub difference: Option<Estimate>,
}

/// Seed of the bootstrap resampler for a statistic named `label`: reports are reproducible.
fn bootstrap_seed(label: &str) -> u64 {
    label
        .bytes()
        .fold(0x006c_736d_6564_6963_u64, |h, b| mix64(h ^ u64::from(b)))
}

/// Medians and intervals of every figure, per mode, over the scenario's runs.
pub fn summarise(scenario: &ScenarioReport) -> BTreeMap<String, ModeSummary> {
    let mut by_mode: BTreeMap<String, Vec<&RunReport>> = BTreeMap::new();
    for run in &scenario.runs {
        by_mode.entry(run.healer.to_owned()).or_default().push(run);
    }
    by_mode
        .into_iter()
        .map(|(mode, runs)| {
            let figures = FIGURES
                .iter()
                .filter_map(|figure| {
                    let values: Vec<f64> = runs.iter().filter_map(|r| (figure.value)(r)).collect();
                    let label = format!("{}/{mode}/{}", scenario.name, figure.name);
                    let estimate = median_estimate(&values, bootstrap_seed(&label))?;
                    Some((
                        figure.name,
                        FigureSummary {
                            median: estimate.value,
                            ci95: estimate.ci95,
                            n: estimate.n,
                        },
                    ))
                })
                .collect();
            (
                mode,
                ModeSummary {
                    runs: runs.len(),
                    figures,
                },
            )
        })
        .collect()
}

/// S of every run against the `off` run of its seed, keyed by (mode, seed); `off` itself
/// scores 0 by definition.
fn scores_by_seed(scenario: &ScenarioReport) -> BTreeMap<(&str, u64), Option<f64>> {
    let baseline: BTreeMap<u64, ScoreFigures> = scenario
        .runs
        .iter()
        .filter(|r| r.healer == BASELINE)
        .map(|r| (r.seed, score_figures(r)))
        .collect();
    scenario
        .runs
        .iter()
        .filter_map(|run| {
            let off = baseline.get(&run.seed)?;
            Some(((run.healer, run.seed), score(&score_figures(run), off)))
        })
        .collect()
}

/// The pairs a report shows: every mode against `off`, and every mode but `off` and
/// `rules` against `rules`, for the modes present.
pub fn pairs(modes: &[&str]) -> Vec<(String, String)> {
    let has = |m: &str| modes.contains(&m);
    let mut out = Vec::new();
    for reference in [BASELINE, RULES] {
        if !has(reference) {
            continue;
        }
        for &mode in modes {
            if mode != BASELINE && mode != reference {
                out.push((mode.to_owned(), reference.to_owned()));
            }
        }
    }
    out
}

/// Paired differences S(mode) − S(reference) per seed and their mean with a 95 % interval.
pub fn paired(scenario: &ScenarioReport) -> Vec<PairedScore> {
    let scores = scores_by_seed(scenario);
    let mut modes: Vec<&str> = Vec::new();
    for run in &scenario.runs {
        if !modes.contains(&run.healer) {
            modes.push(run.healer);
        }
    }
    pairs(&modes)
        .into_iter()
        .map(|(healer, reference)| {
            let per_seed: Vec<Option<f64>> = scenario
                .seeds
                .iter()
                .map(|&seed| {
                    let mode = (*scores.get(&(healer.as_str(), seed))?)?;
                    let base = (*scores.get(&(reference.as_str(), seed))?)?;
                    Some(mode - base)
                })
                .collect();
            let values: Vec<f64> = per_seed.iter().flatten().copied().collect();
            let difference = mean_estimate(&values);
            PairedScore {
                healer,
                reference,
                per_seed,
                difference,
            }
        })
        .collect()
}

/// [`aggregate`] over the scenarios of each family present.
pub fn aggregate_by_family(scenarios: &[ScenarioReport]) -> BTreeMap<Family, Vec<AggregatePaired>> {
    let mut families: Vec<Family> = scenarios.iter().map(|s| s.family).collect();
    families.sort();
    families.dedup();
    families
        .into_iter()
        .map(|family| {
            let members: Vec<ScenarioReport> = scenarios
                .iter()
                .filter(|s| s.family == family)
                .cloned()
                .collect();
            (family, aggregate(&members))
        })
        .collect()
}

/// Every pair over all scenarios: the mean of the per-scenario mean differences, with the
/// Student-t interval over the scenarios (see [`mean_of_means_estimate`]).
pub fn aggregate(scenarios: &[ScenarioReport]) -> Vec<AggregatePaired> {
    // Per pair, in order of first appearance: each scenario's paired values.
    let mut keys: Vec<(String, String)> = Vec::new();
    let mut groups: Vec<Vec<Vec<f64>>> = Vec::new();
    for scenario in scenarios {
        for pair in &scenario.paired {
            let key = (pair.healer.clone(), pair.reference.clone());
            let values: Vec<f64> = pair.per_seed.iter().flatten().copied().collect();
            match keys.iter().position(|k| *k == key) {
                Some(i) => groups[i].push(values),
                None => {
                    keys.push(key);
                    groups.push(vec![values]);
                }
            }
        }
    }
    keys.into_iter()
        .zip(groups)
        .map(|((healer, reference), values)| AggregatePaired {
            scenarios: values.iter().filter(|v| !v.is_empty()).count(),
            difference: mean_of_means_estimate(&values),
            healer,
            reference,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(
        healer: &'static str,
        seed: u64,
        p99_us: f64,
        throughput: f64,
        stall_s: f64,
    ) -> RunReport {
        RunReport {
            healer,
            seed,
            write_p99_us: Some(p99_us),
            throughput_ops_per_s: throughput,
            stall_seconds: stall_s,
            resource_units_mean: Some(1.0),
            keys_lost: Some(0),
            wrong_values: Some(0),
            ..RunReport::default()
        }
    }

    fn scenario(runs: Vec<RunReport>, seeds: Vec<u64>) -> ScenarioReport {
        let mut entry = ScenarioReport::new("s", "", Family::Latent, seeds);
        entry.runs = runs;
        entry.summary = summarise(&entry);
        entry.paired = paired(&entry);
        entry
    }

    #[test]
    fn repeat_seeds_start_at_the_scenario_seed_and_are_distinct_and_stable() {
        let seeds = repeat_seeds(42, 5);
        assert_eq!(seeds[0], 42);
        assert_eq!(seeds, repeat_seeds(42, 5));
        assert_eq!(
            &repeat_seeds(42, 3)[..],
            &seeds[..3],
            "more repeats extend the set"
        );
        let mut unique = seeds.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), 5);
        assert_eq!(repeat_seeds(7, 0), vec![7], "at least one run");
    }

    #[test]
    fn mode_order_rotates_so_no_mode_always_runs_first() {
        let modes = ["off", "rules", "learned"];
        assert_eq!(mode_order(&modes, 0), modes);
        assert_eq!(mode_order(&modes, 1), ["rules", "learned", "off"]);
        let firsts: Vec<&str> = (0..3).map(|i| mode_order(&modes, i)[0]).collect();
        assert_eq!(firsts, modes);
        assert!(mode_order::<u8>(&[], 3).is_empty());
    }

    #[test]
    fn pairs_compare_every_mode_with_off_and_the_others_with_rules() {
        let names = |pairs: Vec<(String, String)>| -> Vec<String> {
            pairs.into_iter().map(|(m, r)| format!("{m}-{r}")).collect()
        };
        assert_eq!(
            names(pairs(&["off", "auto", "rules", "learned"])),
            [
                "auto-off",
                "rules-off",
                "learned-off",
                "auto-rules",
                "learned-rules"
            ]
        );
        assert_eq!(names(pairs(&["rules", "learned"])), ["learned-rules"]);
        assert!(pairs(&["off"]).is_empty());
    }

    #[test]
    fn paired_differences_are_taken_within_each_seed() {
        // Seed 2 is a slow run for every mode: pairing cancels it, and rules halve the p99
        // on every seed, so S(rules) − S(off) = ln 2 / 4 on each.
        let runs = vec![
            run("off", 1, 1000.0, 100.0, 0.0),
            run("rules", 1, 500.0, 100.0, 0.0),
            run("off", 2, 8000.0, 50.0, 3.0),
            run("rules", 2, 4000.0, 50.0, 3.0),
            run("off", 3, 2000.0, 100.0, 0.0),
            run("rules", 3, 1000.0, 100.0, 0.0),
        ];
        let entry = scenario(runs, vec![1, 2, 3]);
        assert_eq!(entry.paired.len(), 1);
        let pair = &entry.paired[0];
        let expected = 2f64.ln() / 4.0;
        for s in &pair.per_seed {
            assert!((s.unwrap() - expected).abs() < 1e-12);
        }
        let d = pair.difference.unwrap();
        assert!(
            (d.value - expected).abs() < 1e-12 && d.above_zero(),
            "{d:?}"
        );
        let off = &entry.summary["off"];
        assert_eq!(off.runs, 3);
        assert_eq!(off.figures["worst_p99_us"].median, 2000.0);
        assert!(
            !off.figures.contains_key("read_p99_us"),
            "no reads measured"
        );
    }

    #[test]
    fn a_seed_missing_a_run_is_left_out_of_the_pair() {
        let runs = vec![
            run("off", 1, 1000.0, 100.0, 0.0),
            run("rules", 1, 1000.0, 100.0, 0.0),
            run("rules", 2, 10.0, 100.0, 0.0),
        ];
        let entry = scenario(runs, vec![1, 2]);
        let pair = &entry.paired[0];
        assert_eq!(pair.per_seed, vec![Some(0.0), None]);
        assert_eq!(pair.difference.unwrap().n, 1);
    }

    #[test]
    fn the_aggregate_weighs_each_scenario_alike() {
        let one = scenario(
            (1..=4)
                .flat_map(|seed| {
                    [
                        run("off", seed, 100.0, 10.0, 0.0),
                        run("rules", seed, 100.0, 10.0, 0.0),
                    ]
                })
                .collect(),
            vec![1, 2, 3, 4],
        );
        let two = scenario(
            vec![
                run("off", 9, 100.0, 10.0, 0.0),
                run("rules", 9, 50.0, 10.0, 0.0),
            ],
            vec![9],
        );
        let all = aggregate(&[one, two]);
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].scenarios, 2);
        let d = all[0].difference.unwrap();
        assert!((d.value - 2f64.ln() / 8.0).abs() < 1e-12, "{d:?}");
    }

    #[test]
    fn worst_p99_takes_the_slowest_kind_measured() {
        let mut r = run("off", 1, 100.0, 1.0, 0.0);
        r.read_p99_us = Some(300.0);
        assert_eq!(worst_p99_us(&r), Some(300.0));
        r.write_p99_us = None;
        r.read_p99_us = None;
        assert_eq!(worst_p99_us(&r), None);
    }
}
