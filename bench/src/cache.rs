//! Finished runs kept by content, so that a long evaluation can be assembled from runs made
//! in several sittings and an interrupted one resumes where it stopped.
//!
//! A run's key is a SHA-256 over everything that decides what it measures: the scenario file
//! as written, the seed, the healer mode, the time scale, the objective weights, whether the
//! keys were verified, the learned models' bytes (for the modes that load them) and the
//! report format. It does not cover the code: after changing the engine, the healer or the
//! bench, start a fresh cache directory (or delete the old one).
//!
//! Layout: `DIR/<scenario name>/<key>.json`, one `RunReport` each, written to a temporary
//! file and renamed into place so that a killed run never leaves half a file behind.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};
use sha2::{Digest, Sha256};

use crate::report::{RunReport, FORMAT_VERSION};
use crate::scenario::FaultKind;
use crate::subject::HealerMode;

/// What a cached run depends on.
#[derive(Clone, Debug)]
pub struct RunIdentity<'a> {
    /// The scenario file's text as written (before any range is sampled).
    pub scenario_source: &'a str,
    /// Seed of the run.
    pub seed: u64,
    /// Healer mode name.
    pub healer: &'a str,
    /// Time scale.
    pub time_scale: f64,
    /// Objective weights (latency, throughput, resources) as given to the healer.
    pub weights: [f64; 3],
    /// Whether the keys are verified at the end.
    pub verify: bool,
    /// Fingerprint of the models the mode loads (empty for modes without models).
    pub models: &'a str,
}

impl RunIdentity<'_> {
    /// The hex SHA-256 key of this run.
    pub fn key(&self) -> String {
        let mut hash = Sha256::new();
        let mut field = |name: &str, bytes: &[u8]| {
            hash.update((name.len() as u64).to_le_bytes());
            hash.update(name.as_bytes());
            hash.update((bytes.len() as u64).to_le_bytes());
            hash.update(bytes);
        };
        field("format", &FORMAT_VERSION.to_le_bytes());
        field("bench", env!("CARGO_PKG_VERSION").as_bytes());
        field("scenario", self.scenario_source.as_bytes());
        field("seed", &self.seed.to_le_bytes());
        field("healer", self.healer.as_bytes());
        field("time_scale", &self.time_scale.to_le_bytes());
        for weight in self.weights {
            field("weight", &weight.to_le_bytes());
        }
        field("verify", &[u8::from(self.verify)]);
        field("models", self.models.as_bytes());
        hex(&hash.finalize())
    }
}

/// A fingerprint of a set of model files: SHA-256 over their names and bytes, in name order.
pub fn models_fingerprint<'a>(files: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> String {
    let mut files: Vec<(&str, &[u8])> = files.into_iter().collect();
    files.sort_by_key(|(name, _)| *name);
    let mut hash = Sha256::new();
    for (name, bytes) in files {
        hash.update((name.len() as u64).to_le_bytes());
        hash.update(name.as_bytes());
        hash.update((bytes.len() as u64).to_le_bytes());
        hash.update(bytes);
    }
    hex(&hash.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The `&'static str` a report field holds for `name`, one of `known`.
fn intern<E: serde::de::Error>(
    name: &str,
    known: impl IntoIterator<Item = &'static str>,
    what: &str,
) -> Result<&'static str, E> {
    known
        .into_iter()
        .find(|k| *k == name)
        .ok_or_else(|| E::custom(format!("unknown {what} {name:?}")))
}

/// Reads a healer mode's name back as the `&'static str` reports hold.
pub(crate) fn healer_name<'de, D: Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
    let name = String::deserialize(d)?;
    intern(
        &name,
        HealerMode::ALL.iter().map(|m| m.name()),
        "healer mode",
    )
}

/// Reads a fault kind's name back as the `&'static str` reports hold.
pub(crate) fn fault_kind_name<'de, D: Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
    let name = String::deserialize(d)?;
    intern(&name, FaultKind::NAMES, "fault kind")
}

/// Reads a healer log entry's kind (`detect`, `act`) back.
pub(crate) fn entry_kind<'de, D: Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
    let name = String::deserialize(d)?;
    intern(&name, ["detect", "act"], "healer entry kind")
}

/// A directory of cached runs.
#[derive(Clone, Debug)]
pub struct RunCache {
    dir: PathBuf,
}

impl RunCache {
    /// The cache in `dir` (created when missing).
    pub fn open(dir: &Path) -> Result<RunCache, String> {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create the run cache {}: {e}", dir.display()))?;
        Ok(RunCache {
            dir: dir.to_owned(),
        })
    }

    fn path(&self, scenario: &str, key: &str) -> PathBuf {
        // Scenario names are free text: keep the directory name to a safe alphabet.
        let folder: String = scenario
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.dir.join(folder).join(format!("{key}.json"))
    }

    /// The cached run of `scenario` under `key`, if there is a readable one. A file that does
    /// not parse (another format, a torn write from an old version) counts as absent.
    pub fn get(&self, scenario: &str, key: &str) -> Option<RunReport> {
        let file = std::fs::File::open(self.path(scenario, key)).ok()?;
        let value: serde_json::Value =
            serde_json::from_reader(std::io::BufReader::new(file)).ok()?;
        // An owned `Value` deserialises at any lifetime, as the names held as `&'static str`
        // (interned from the known modes and kinds) need.
        RunReport::deserialize(value).ok()
    }

    /// Stores `run` under `key`.
    pub fn put(&self, scenario: &str, key: &str, run: &RunReport) -> Result<(), String> {
        let path = self.path(scenario, key);
        let parent = path.parent().unwrap_or(&self.dir);
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        let text = serde_json::to_string(run).map_err(|e| e.to_string())?;
        let temporary = path.with_extension("json.partial");
        std::fs::write(&temporary, text)
            .and_then(|()| std::fs::rename(&temporary, &path))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(seed: u64) -> RunIdentity<'static> {
        RunIdentity {
            scenario_source: "name = \"x\"",
            seed,
            healer: "rules",
            time_scale: 0.5,
            weights: [1.0, 1.0, 1.0],
            verify: true,
            models: "",
        }
    }

    #[test]
    fn the_key_changes_with_every_input_and_only_with_them() {
        let base = identity(1);
        assert_eq!(base.key(), identity(1).key());
        assert_eq!(base.key().len(), 64);
        let variants = [
            RunIdentity {
                seed: 2,
                ..base.clone()
            },
            RunIdentity {
                healer: "off",
                ..base.clone()
            },
            RunIdentity {
                time_scale: 0.25,
                ..base.clone()
            },
            RunIdentity {
                weights: [2.0, 1.0, 1.0],
                ..base.clone()
            },
            RunIdentity {
                verify: false,
                ..base.clone()
            },
            RunIdentity {
                models: "abc",
                ..base.clone()
            },
            RunIdentity {
                scenario_source: "name = \"y\"",
                ..base.clone()
            },
        ];
        for variant in &variants {
            assert_ne!(variant.key(), base.key(), "{variant:?}");
        }
    }

    #[test]
    fn model_fingerprints_ignore_file_order_but_not_content() {
        let a = models_fingerprint([("a.onnx", &b"1"[..]), ("b.onnx", &b"2"[..])]);
        let b = models_fingerprint([("b.onnx", &b"2"[..]), ("a.onnx", &b"1"[..])]);
        let c = models_fingerprint([("a.onnx", &b"1"[..]), ("b.onnx", &b"3"[..])]);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn a_stored_run_comes_back_and_a_damaged_file_is_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let cache = RunCache::open(dir.path()).unwrap();
        let key = identity(3).key();
        assert!(cache.get("write burst/x", &key).is_none());
        let run = RunReport {
            healer: "rules",
            seed: 3,
            throughput_ops_per_s: 1234.5,
            ..RunReport::default()
        };
        cache.put("write burst/x", &key, &run).unwrap();
        let back = cache.get("write burst/x", &key).unwrap();
        assert_eq!(back.seed, 3);
        assert_eq!(back.healer, "rules");
        assert_eq!(back.throughput_ops_per_s, 1234.5);
        std::fs::write(cache.path("write burst/x", &key), "{ torn").unwrap();
        assert!(cache.get("write burst/x", &key).is_none());
    }
}
