//! `HealerConfig` from TOML and JSON text, and its validation.
//!
//! Input layout: the first byte picks the mode: `0` TOML text, `1` JSON text (the rest of the
//! input, if UTF-8), anything else a structured edit ([`lsmedic_fuzz::doc`]) of a valid base
//! configuration rendered as TOML or JSON. Seeds in `fuzz/seeds/healer_config/` are text inputs.
//!
//! Parsing and validation must never panic. A configuration that validates must:
//! - hold only finite numbers;
//! - have normalised weights (finite, in `0..=1`, summing to 1);
//! - validate again, unchanged but for the weights' rounding;
//! - round-trip through JSON and TOML unchanged (so the C ABI's JSON and TOML entry points
//!   and a saved configuration agree with what was accepted);
//! - give guard bounds inside every tunable's hard bounds and a drain interval no longer than
//!   the tick interval.

#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use lsmedic_fuzz::doc::{self, DocInput, Syntax};
use lsmedic_fuzz::roundtrip::{assert_finite, assert_round_trips};
use lsmedic_healer::{ActionFamily, HealerConfig, Mode};
use lsmedic_telemetry::Tunable;
use std::sync::OnceLock;

struct Bases {
    docs: Vec<toml::Value>,
    vocabulary: Vec<String>,
}

fn bases() -> &'static Bases {
    static BASES: OnceLock<Bases> = OnceLock::new();
    BASES.get_or_init(|| {
        let default = HealerConfig::default();
        let mut advisory = HealerConfig {
            mode: Mode::Advisory,
            allow_destructive: true,
            tick_interval_ms: 50,
            drain_interval_ms: 200,
            ..HealerConfig::default()
        };
        advisory.weights.latency = 0.8;
        advisory.audit.path = Some("/tmp/lsmedic-audit.jsonl".into());
        advisory.guard.verify.enabled = false;
        let mut docs: Vec<toml::Value> = [default, advisory]
            .iter()
            .map(|c| doc::to_tree(c).expect("a default HealerConfig serialises"))
            .collect();
        // One small document per top-level section as well (the rest defaulted): they parse
        // faster, and every edit lands in the section.
        if let Some(table) = docs[0].as_table().cloned() {
            for (key, value) in table {
                docs.push(toml::Value::Table(toml::Table::from_iter([(key, value)])));
            }
        }
        let names: Vec<String> = Tunable::ALL
            .iter()
            .map(|t| t.name().to_owned())
            .chain(ActionFamily::ALL.iter().map(|f| {
                serde_json::to_value(f)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            }))
            .chain(
                [
                    "off",
                    "advisory",
                    "active",
                    "min",
                    "max",
                    "write_rate_limit",
                ]
                .map(String::from),
            )
            .collect();
        let vocabulary = doc::vocabulary(&docs, names.iter().map(String::as_str));
        Bases { docs, vocabulary }
    })
}

fn check(text: &str, syntax: Syntax) {
    let parsed: Result<HealerConfig, String> = match syntax {
        Syntax::Toml => toml::from_str(text).map_err(|e| e.to_string()),
        Syntax::Json => serde_json::from_str(text).map_err(|e| e.to_string()),
    };
    let Ok(config) = parsed else { return };
    let Ok(valid) = config.validated() else {
        return;
    };
    assert_finite(&valid, "HealerConfig");

    let w = valid.weights;
    for part in [w.latency, w.throughput, w.resources] {
        assert!(
            part.is_finite() && (0.0..=1.0).contains(&part),
            "weights not normalised: {w:?}"
        );
    }
    let sum = w.latency + w.throughput + w.resources;
    assert!((sum - 1.0).abs() < 1e-9, "weights sum to {sum}: {w:?}");

    let again = match valid.clone().validated() {
        Ok(again) => again,
        Err(e) => panic!("a validated config no longer validates: {e}\n{valid:?}"),
    };
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-12;
    assert!(
        close(again.weights.latency, w.latency)
            && close(again.weights.throughput, w.throughput)
            && close(again.weights.resources, w.resources),
        "weights drift on re-validation: {w:?} -> {:?}",
        again.weights
    );
    assert_eq!(
        HealerConfig {
            weights: valid.weights,
            ..again
        },
        valid,
        "re-validation changed more than the weights"
    );

    assert_round_trips(&valid, "HealerConfig");

    assert!(valid.drain_interval() <= valid.tick_interval());
    for tunable in Tunable::ALL {
        let bounds = valid.guard.bounds_of(tunable);
        let (hard_min, hard_max) = tunable.bounds();
        assert!(
            bounds.min <= bounds.max && bounds.min >= hard_min && bounds.max <= hard_max,
            "{tunable}: guard bounds {bounds:?} outside the hard bounds {hard_min}..={hard_max}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode {
        0 | 1 => {
            if let Ok(text) = std::str::from_utf8(rest) {
                check(
                    text,
                    if mode == 0 {
                        Syntax::Toml
                    } else {
                        Syntax::Json
                    },
                );
            }
        }
        _ => {
            let Ok(input) = DocInput::arbitrary_take_rest(Unstructured::new(rest)) else {
                return;
            };
            let bases = bases();
            let mut tree = bases.docs[usize::from(input.base) % bases.docs.len()].clone();
            doc::apply_input(&mut tree, &input, &bases.vocabulary);
            if let Some(text) = doc::render(&tree, input.syntax) {
                check(&text, input.syntax);
            }
        }
    }
});
