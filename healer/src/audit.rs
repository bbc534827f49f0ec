//! The audit log: one JSON line per decision, per measured outcome, per error and per
//! configuration change, so every action the healer took (or would have taken) can be
//! explained afterwards from the numbers that triggered it.
//!
//! Entries go to an in-memory ring (what [`HealerHandle::audit_entries`] returns) and, when a
//! path is configured, to a JSON-lines file. When the file would grow past `max_bytes` it is
//! renamed to `<path>.1` (replacing the previous one) and a new file is started, so the log
//! never takes more than about twice `max_bytes`. [`read_audit_file`] reads both back.
//!
//! Writing never fails a tick: I/O errors are counted and reported in the statistics.
//!
//! [`HealerHandle::audit_entries`]: crate::HealerHandle::audit_entries

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::action::{Action, ActionKind};
use crate::config::{AuditConfig, Mode, Weights};
use crate::detect::HeadState;
use crate::error::HealerError;
use crate::guard::{OutcomeVerdict, PendingVerification, Review, Verdict, VerificationResult};
use crate::objective::{ObjectiveComparison, ObjectiveSample};
use crate::observation::Observation;
use crate::predict::NodeRisk;

/// One line of the audit log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Sequence number, from 1, never reused while the healer runs.
    pub seq: u64,
    /// Healer tick.
    pub tick: u64,
    /// Engine telemetry clock (ns).
    pub at_ns: u64,
    /// Wall clock, ms since the Unix epoch.
    pub unix_ms: u64,
    /// Mode at the time.
    pub mode: Mode,
    /// Weights at the time.
    pub weights: Weights,
    /// What happened.
    #[serde(flatten)]
    pub record: AuditRecord,
}

/// What an entry is about.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AuditRecord {
    /// A tick in which a policy proposed something that was applied, advised, refused as
    /// destructive, invalid or failed.
    Decision(DecisionRecord),
    /// The measured outcome of an earlier decision.
    Outcome(OutcomeRecord),
    /// A tick failed or panicked.
    Error {
        /// The error or panic message.
        message: String,
        /// Whether it was a panic.
        panicked: bool,
    },
    /// The mode or weights changed, adaptation was requested, models loaded or not.
    Config {
        /// What changed, in words.
        change: String,
    },
}

/// A decision: inputs summary, all candidates with scores and verdicts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DecisionRecord {
    /// Policy that proposed (`rules`, …).
    pub policy: String,
    /// Summary of the features the decision was taken on.
    pub summary: FeatureSummary,
    /// Objective of the tick.
    pub objective: ObjectiveSample,
    /// Every candidate, best first.
    pub candidates: Vec<CandidateRecord>,
    /// What the learned models saw (learned policy only): the detector's score, the riskiest
    /// nodes and every action's value, so each proposal can be explained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learned: Option<LearnedRecord>,
}

/// The learned models' view of a decision.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LearnedRecord {
    /// The detector.
    pub detector: DetectorRecord,
    /// The riskiest nodes (cascade GNN), highest first.
    pub top_risks: Vec<NodeRisk>,
    /// Every catalog action's value under the weights in force, in catalog order (empty while
    /// the history is too short for the predictor and policy).
    pub action_scores: Vec<ActionScore>,
    /// The rule policy's choice and whether the learned policy departed from it (with
    /// `learned.follow_rules`, once the values are available).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<BaselineRecord>,
}

/// The rule policy's choice against the learned values, in a [`LearnedRecord`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BaselineRecord {
    /// Catalog name of the rules' best candidate (`noop` when they proposed nothing), or
    /// `None` when it has no catalog counterpart (then the rules are followed).
    pub rules_choice: Option<String>,
    /// The rules' best candidate's rule name (`None` when they proposed nothing).
    pub rules_rule: Option<String>,
    /// Catalog name of the best-valued action possible this tick.
    pub best: String,
    /// Its weighted value minus that of the rules' choice.
    pub gain: f64,
    /// The margin `gain` had to exceed.
    pub margin: f64,
    /// What the learned policy did with the rules' choice.
    pub decision: BaselineDecision,
}

/// What the learned policy did with the rule policy's choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BaselineDecision {
    /// Proposed the rules' candidates unchanged.
    Followed,
    /// Proposed another catalog action instead.
    Replaced,
    /// Proposed nothing in place of the rules' action.
    Vetoed,
}

/// The detector in a [`LearnedRecord`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DetectorRecord {
    /// Anomaly probability (`None` while silent or before a full window).
    pub score: Option<f32>,
    /// Decision threshold.
    pub threshold: f32,
    /// `score >= threshold`.
    pub anomalous: bool,
    /// State scored with.
    pub head: HeadState,
    /// Adaptations finished so far.
    pub adaptations: u64,
    /// Support windows gathered so far, while an adaptation is pending.
    pub gathering: Option<usize>,
    /// Nodes with the highest scores: `(node label, score)`, highest first.
    pub top_nodes: Vec<(String, f32)>,
}

/// One catalog action's value in a [`LearnedRecord`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionScore {
    /// Catalog index (0 = noop).
    pub index: usize,
    /// Catalog name.
    pub name: String,
    /// Per-objective values `q` (latency, throughput, resources; higher is better; the
    /// ensemble members' mean).
    pub q: [f32; 3],
    /// `Σ w_j q_j` with the weights in force (`q` = the ensemble members' mean).
    pub score: f64,
    /// The lowest and highest member's weighted value (equal with a single member): how much
    /// the data behind the values agrees.
    #[serde(default)]
    pub score_range: [f64; 2],
    /// Whether the action was masked (invalid or at a bound) this tick.
    pub masked: bool,
}

/// One candidate of a decision.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CandidateRecord {
    /// Kind.
    pub kind: ActionKind,
    /// As proposed.
    pub proposed: Action,
    /// As applied or advised (within bounds), when it passed.
    pub action: Option<Action>,
    /// Rule that proposed it.
    pub rule: String,
    /// Why.
    pub reason: String,
    /// Score.
    pub score: f64,
    /// Guard verdict.
    pub verdict: Verdict,
    /// Clamping notes, refusal reason or control error.
    pub detail: Option<String>,
}

/// The measured outcome of a decision.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutcomeRecord {
    /// `seq` of the decision entry.
    pub decision_seq: u64,
    /// Kind of the action.
    pub kind: ActionKind,
    /// What had been applied.
    pub action: Action,
    /// Verdict.
    pub verdict: OutcomeVerdict,
    /// Objective before (mean), for verified actions.
    pub before: Option<ObjectiveSample>,
    /// Objective after (mean), for verified actions.
    pub after: Option<ObjectiveSample>,
    /// The comparison, when conclusive.
    pub comparison: Option<ObjectiveComparison>,
    /// Errors, reports (e.g. a rebuild's lost ranges), notes.
    pub detail: Option<String>,
}

impl CandidateRecord {
    /// The record of a reviewed candidate.
    pub fn of(review: &Review) -> CandidateRecord {
        CandidateRecord {
            kind: review.candidate.kind,
            proposed: review.candidate.action.clone(),
            action: review.action.clone(),
            rule: review.candidate.rule.clone(),
            reason: review.candidate.reason.clone(),
            score: review.candidate.score,
            verdict: review.verdict,
            detail: review.detail.clone(),
        }
    }
}

impl OutcomeRecord {
    /// A verification dropped before its verdict (the healer left active mode): the action
    /// is kept.
    pub fn abandoned(pending: &PendingVerification) -> OutcomeRecord {
        OutcomeRecord {
            decision_seq: pending.decision_seq,
            kind: pending.kind,
            action: pending.action.clone(),
            verdict: OutcomeVerdict::Abandoned,
            before: Some(pending.before),
            after: None,
            comparison: None,
            detail: Some("left active mode before the verdict; kept".to_owned()),
        }
    }

    /// A finished verification, with the verdict it ended on once acted upon.
    pub fn verified(
        result: VerificationResult,
        verdict: OutcomeVerdict,
        detail: Option<String>,
    ) -> OutcomeRecord {
        OutcomeRecord {
            decision_seq: result.pending.decision_seq,
            kind: result.pending.kind,
            action: result.pending.action,
            verdict,
            before: Some(result.pending.before),
            after: Some(result.after),
            comparison: result.comparison,
            detail,
        }
    }
}

/// The inputs of a decision in a few numbers per column family.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FeatureSummary {
    /// Completed operations per second.
    pub ops_per_sec: f64,
    /// Write p99 latency, µs.
    pub write_p99_us: Option<f64>,
    /// Read p99 latency, µs.
    pub read_p99_us: Option<f64>,
    /// Fraction of the tick writers were stalled.
    pub stall_fraction: f64,
    /// Block-cache hit ratio of the tick.
    pub block_cache_hit_ratio: Option<f64>,
    /// `max_background_jobs` in force.
    pub max_background_jobs: u64,
    /// Per column family.
    pub cfs: Vec<CfSummary>,
    /// The most abnormal features: `(node label, feature, z-score)`, largest |z| first.
    pub top_anomalies: Vec<(String, String, f32)>,
}

/// A column family in a [`FeatureSummary`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CfSummary {
    /// Name.
    pub name: String,
    /// L0 files.
    pub l0_files: u64,
    /// L0 / slowdown trigger.
    pub l0_slowdown_ratio: f64,
    /// Pending compaction bytes.
    pub pending_compaction_bytes: u64,
    /// Pending / soft limit.
    pub pending_ratio: f64,
    /// Immutable memtables.
    pub immutable_memtables: u64,
    /// Write bytes/s.
    pub write_bytes_per_sec: f64,
    /// lsmedic write limit.
    pub write_rate_limit: Option<u64>,
    /// RocksDB stall condition.
    pub stall: String,
}

impl FeatureSummary {
    /// Summary of an observation (anomalies are filled by the caller from the features).
    pub fn of(observation: &Observation) -> FeatureSummary {
        let g = &observation.global;
        FeatureSummary {
            ops_per_sec: g.ops_per_sec,
            write_p99_us: g.write_latency.map(|p| p.p99_ns as f64 / 1e3),
            read_p99_us: g.read_latency.map(|p| p.p99_ns as f64 / 1e3),
            stall_fraction: g.stall_fraction,
            block_cache_hit_ratio: g.block_cache_hit_ratio,
            max_background_jobs: g.max_background_jobs,
            cfs: observation
                .cfs
                .iter()
                .map(|cf| CfSummary {
                    name: cf.name.clone(),
                    l0_files: cf.l0_files(),
                    l0_slowdown_ratio: cf.l0_slowdown_ratio(),
                    pending_compaction_bytes: cf.pending_compaction_bytes,
                    pending_ratio: cf.pending_ratio(),
                    immutable_memtables: cf.immutable_memtables,
                    write_bytes_per_sec: cf.write_bytes_per_sec,
                    write_rate_limit: cf.write_rate_limit,
                    stall: format!("{:?}", cf.stall).to_lowercase(),
                })
                .collect(),
            top_anomalies: Vec::new(),
        }
    }
}

/// Where entries go: memory ring plus optional rotating file.
#[derive(Debug)]
pub struct AuditLog {
    config: AuditConfig,
    memory: VecDeque<AuditEntry>,
    file: Option<File>,
    file_bytes: u64,
    next_seq: u64,
    write_errors: u64,
    last_error: Option<String>,
}

impl AuditLog {
    /// Opens (appends to) the configured file, if any.
    pub fn open(config: AuditConfig) -> Result<AuditLog, HealerError> {
        let mut log = AuditLog {
            config,
            memory: VecDeque::new(),
            file: None,
            file_bytes: 0,
            next_seq: 1,
            write_errors: 0,
            last_error: None,
        };
        if let Some(path) = log.config.path.clone() {
            let (file, bytes) = open_append(&path)?;
            log.file = Some(file);
            log.file_bytes = bytes;
        }
        Ok(log)
    }

    /// The sequence number the next entry will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Write errors so far and the last one.
    pub fn write_errors(&self) -> (u64, Option<&str>) {
        (self.write_errors, self.last_error.as_deref())
    }

    /// The last `limit` entries in memory, oldest first.
    pub fn recent(&self, limit: usize) -> Vec<AuditEntry> {
        let skip = self.memory.len().saturating_sub(limit);
        self.memory.iter().skip(skip).cloned().collect()
    }

    /// Records an entry (its `seq` is assigned here) and returns the `seq`.
    pub fn append(&mut self, mut entry: AuditEntry) -> u64 {
        entry.seq = self.next_seq;
        self.next_seq += 1;
        let seq = entry.seq;
        if self.file.is_some() {
            if let Err(err) = self.write_line(&entry) {
                self.write_errors += 1;
                self.last_error = Some(err.to_string());
            }
        }
        if self.config.memory_entries > 0 {
            if self.memory.len() == self.config.memory_entries {
                self.memory.pop_front();
            }
            self.memory.push_back(entry);
        }
        seq
    }

    fn write_line(&mut self, entry: &AuditEntry) -> Result<(), HealerError> {
        let Some(path) = self.config.path.clone() else {
            return Ok(());
        };
        let mut line = serde_json::to_string(entry).map_err(|source| HealerError::AuditParse {
            path: path.clone(),
            line: 0,
            source,
        })?;
        line.push('\n');
        let len = line.len() as u64;
        if self.file_bytes > 0 && self.file_bytes + len > self.config.max_bytes {
            self.file = None;
            let rotated = rotated_path(&path);
            std::fs::rename(&path, &rotated).map_err(|source| HealerError::Audit {
                path: rotated.clone(),
                source,
            })?;
            let (file, bytes) = open_append(&path)?;
            self.file = Some(file);
            self.file_bytes = bytes;
        }
        let file = match self.file.as_mut() {
            Some(file) => file,
            None => {
                let (file, bytes) = open_append(&path)?;
                self.file_bytes = bytes;
                self.file.insert(file)
            }
        };
        file.write_all(line.as_bytes())
            .map_err(|source| HealerError::Audit {
                path: path.clone(),
                source,
            })?;
        self.file_bytes += len;
        Ok(())
    }

    /// Flushes the file.
    pub fn flush(&mut self) -> Result<(), HealerError> {
        if let (Some(file), Some(path)) = (self.file.as_mut(), self.config.path.as_ref()) {
            file.flush().map_err(|source| HealerError::Audit {
                path: path.clone(),
                source,
            })?;
        }
        Ok(())
    }
}

fn open_append(path: &Path) -> Result<(File, u64), HealerError> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| HealerError::Audit {
            path: path.to_owned(),
            source,
        })?;
    let bytes = file
        .metadata()
        .map_err(|source| HealerError::Audit {
            path: path.to_owned(),
            source,
        })?
        .len();
    Ok((file, bytes))
}

/// `<path>.1`.
pub fn rotated_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".1");
    PathBuf::from(name)
}

/// Reads an audit log back: `<path>.1` then `<path>`, the last `limit` entries, oldest first.
pub fn read_audit_file(path: &Path, limit: usize) -> Result<Vec<AuditEntry>, HealerError> {
    let mut entries = VecDeque::new();
    for file_path in [rotated_path(path), path.to_owned()] {
        let file = match File::open(&file_path) {
            Ok(file) => file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => {
                return Err(HealerError::Audit {
                    path: file_path,
                    source,
                })
            }
        };
        for (index, line) in BufReader::new(file).lines().enumerate() {
            let line = line.map_err(|source| HealerError::Audit {
                path: file_path.clone(),
                source,
            })?;
            if line.trim().is_empty() {
                continue;
            }
            let entry: AuditEntry =
                serde_json::from_str(&line).map_err(|source| HealerError::AuditParse {
                    path: file_path.clone(),
                    line: index + 1,
                    source,
                })?;
            if entries.len() == limit {
                entries.pop_front();
            }
            if limit > 0 {
                entries.push_back(entry);
            }
        }
    }
    Ok(entries.into())
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(change: &str) -> AuditEntry {
        AuditEntry {
            seq: 0,
            tick: 7,
            at_ns: 1,
            unix_ms: 2,
            mode: Mode::Advisory,
            weights: Weights::default(),
            record: AuditRecord::Config {
                change: change.to_owned(),
            },
        }
    }

    #[test]
    fn entries_round_trip_and_rotate_within_the_size_bound() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.jsonl");
        let config = AuditConfig {
            path: Some(path.clone()),
            max_bytes: 4096,
            memory_entries: 8,
        };
        let mut log = AuditLog::open(config).expect("open");
        let filler = "x".repeat(200);
        for i in 0..100 {
            assert_eq!(log.append(entry(&format!("{i} {filler}"))), i + 1);
        }
        assert_eq!(log.write_errors().0, 0);
        log.flush().expect("flush");
        let current = std::fs::metadata(&path).expect("file").len();
        let rotated = std::fs::metadata(rotated_path(&path))
            .expect("rotated")
            .len();
        assert!(current <= 4096 && rotated <= 4096, "{current} {rotated}");

        let back = read_audit_file(&path, 1000).expect("read");
        assert!(back.len() > 10 && back.len() < 100, "{}", back.len());
        let seqs: Vec<u64> = back.iter().map(|e| e.seq).collect();
        assert!(
            seqs.windows(2).all(|w| w[1] == w[0] + 1),
            "contiguous, oldest first"
        );
        assert_eq!(seqs.last(), Some(&100));
        assert_eq!(read_audit_file(&path, 3).expect("read").len(), 3);

        let memory = log.recent(100);
        assert_eq!(memory.len(), 8);
        assert_eq!(memory.last().map(|e| e.seq), Some(100));
        assert_eq!(log.recent(2).len(), 2);

        let json = serde_json::to_string(&memory[0]).expect("json");
        assert!(json.contains("\"type\":\"config\""), "{json}");
        let parsed: AuditEntry = serde_json::from_str(&json).expect("parse");
        assert_eq!(parsed, memory[0]);
    }

    #[test]
    fn a_bad_line_is_reported_with_its_number() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.jsonl");
        std::fs::write(&path, "{\"nope\": 1}\n").expect("write");
        let err = read_audit_file(&path, 10).unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
        assert!(read_audit_file(&dir.path().join("missing"), 10)
            .expect("missing is empty")
            .is_empty());
    }
}
