//! Named workloads (db_bench's and YCSB's) as operation mixes, and the per-op choice.
//!
//! | name | mix | default distribution |
//! |---|---|---|
//! | `fillseq` | insert keys in order (the range is split between threads) | — |
//! | `fillrandom` | update uniformly random keys | uniform |
//! | `overwrite` | update existing keys | uniform |
//! | `readrandom` | read | uniform |
//! | `readwhilewriting` | 90 % read, 10 % update | uniform |
//! | `seekrandom` | scan (seek + `scan_length` nexts) | uniform |
//! | `deleterandom` | delete | uniform |
//! | `ycsb-a` | 50 % read, 50 % update | zipfian |
//! | `ycsb-b` | 95 % read, 5 % update | zipfian |
//! | `ycsb-c` | 100 % read | zipfian |
//! | `ycsb-d` | 95 % read, 5 % insert | latest |
//! | `ycsb-e` | 95 % scan (1..=100 keys), 5 % insert | zipfian |
//! | `ycsb-f` | 50 % read, 50 % read-modify-write | zipfian |

use serde::{Deserialize, Serialize};

use crate::keygen::{Distribution, Rng};

/// One kind of request a worker sends.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum OpType {
    /// Point read of an existing key.
    Read,
    /// Put of an existing key (a new version).
    Update,
    /// Put of a new key (YCSB insert: the key space grows).
    Insert,
    /// Seek, then read up to n entries.
    Scan,
    /// Point delete.
    Delete,
    /// Read, then put the next version (YCSB F); timed as one write.
    ReadModifyWrite,
}

impl OpType {
    /// Whether the op writes (counts toward write latency).
    pub fn is_write(self) -> bool {
        matches!(
            self,
            OpType::Update | OpType::Insert | OpType::Delete | OpType::ReadModifyWrite
        )
    }
}

/// The named workloads.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum WorkloadKind {
    /// Sequential load.
    Fillseq,
    /// Random-key load.
    Fillrandom,
    /// Updates of existing keys.
    Overwrite,
    /// Point reads.
    Readrandom,
    /// Reads with some writes.
    Readwhilewriting,
    /// Short range scans.
    Seekrandom,
    /// Deletes.
    Deleterandom,
    /// YCSB A: update heavy.
    #[serde(rename = "ycsb-a")]
    #[value(name = "ycsb-a")]
    YcsbA,
    /// YCSB B: read mostly.
    #[serde(rename = "ycsb-b")]
    #[value(name = "ycsb-b")]
    YcsbB,
    /// YCSB C: read only.
    #[serde(rename = "ycsb-c")]
    #[value(name = "ycsb-c")]
    YcsbC,
    /// YCSB D: read latest.
    #[serde(rename = "ycsb-d")]
    #[value(name = "ycsb-d")]
    YcsbD,
    /// YCSB E: short ranges.
    #[serde(rename = "ycsb-e")]
    #[value(name = "ycsb-e")]
    YcsbE,
    /// YCSB F: read-modify-write.
    #[serde(rename = "ycsb-f")]
    #[value(name = "ycsb-f")]
    YcsbF,
}

impl WorkloadKind {
    /// Every workload.
    pub const ALL: [WorkloadKind; 13] = [
        WorkloadKind::Fillseq,
        WorkloadKind::Fillrandom,
        WorkloadKind::Overwrite,
        WorkloadKind::Readrandom,
        WorkloadKind::Readwhilewriting,
        WorkloadKind::Seekrandom,
        WorkloadKind::Deleterandom,
        WorkloadKind::YcsbA,
        WorkloadKind::YcsbB,
        WorkloadKind::YcsbC,
        WorkloadKind::YcsbD,
        WorkloadKind::YcsbE,
        WorkloadKind::YcsbF,
    ];

    /// Name as written in scenario files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            WorkloadKind::Fillseq => "fillseq",
            WorkloadKind::Fillrandom => "fillrandom",
            WorkloadKind::Overwrite => "overwrite",
            WorkloadKind::Readrandom => "readrandom",
            WorkloadKind::Readwhilewriting => "readwhilewriting",
            WorkloadKind::Seekrandom => "seekrandom",
            WorkloadKind::Deleterandom => "deleterandom",
            WorkloadKind::YcsbA => "ycsb-a",
            WorkloadKind::YcsbB => "ycsb-b",
            WorkloadKind::YcsbC => "ycsb-c",
            WorkloadKind::YcsbD => "ycsb-d",
            WorkloadKind::YcsbE => "ycsb-e",
            WorkloadKind::YcsbF => "ycsb-f",
        }
    }

    /// The workload named `name`.
    pub fn from_name(name: &str) -> Option<WorkloadKind> {
        WorkloadKind::ALL.into_iter().find(|w| w.name() == name)
    }

    /// The standard mix: (op, weight) pairs summing to 1.
    pub fn mix(self) -> &'static [(OpType, f64)] {
        use OpType::*;
        match self {
            WorkloadKind::Fillseq => &[(Insert, 1.0)],
            WorkloadKind::Fillrandom | WorkloadKind::Overwrite => &[(Update, 1.0)],
            WorkloadKind::Readrandom | WorkloadKind::YcsbC => &[(Read, 1.0)],
            WorkloadKind::Readwhilewriting => &[(Read, 0.9), (Update, 0.1)],
            WorkloadKind::Seekrandom => &[(Scan, 1.0)],
            WorkloadKind::Deleterandom => &[(Delete, 1.0)],
            WorkloadKind::YcsbA => &[(Read, 0.5), (Update, 0.5)],
            WorkloadKind::YcsbB => &[(Read, 0.95), (Update, 0.05)],
            WorkloadKind::YcsbD => &[(Read, 0.95), (Insert, 0.05)],
            WorkloadKind::YcsbE => &[(Scan, 0.95), (Insert, 0.05)],
            WorkloadKind::YcsbF => &[(Read, 0.5), (ReadModifyWrite, 0.5)],
        }
    }

    /// The distribution used when the scenario does not name one.
    pub fn default_distribution(self) -> Distribution {
        match self {
            WorkloadKind::YcsbA
            | WorkloadKind::YcsbB
            | WorkloadKind::YcsbC
            | WorkloadKind::YcsbE
            | WorkloadKind::YcsbF => Distribution::Zipfian,
            WorkloadKind::YcsbD => Distribution::Latest,
            _ => Distribution::Uniform,
        }
    }

    /// Default scan length range (entries read after a seek).
    pub fn default_scan_length(self) -> (u32, u32) {
        match self {
            WorkloadKind::YcsbE => (1, 100),
            _ => (10, 10),
        }
    }

    /// Whether the mix contains writes.
    pub fn writes(self) -> bool {
        self.mix().iter().any(|(op, _)| op.is_write())
    }
}

/// Draws op types from a mix.
#[derive(Clone, Debug)]
pub struct MixChooser {
    /// Cumulative weights.
    cumulative: Vec<(OpType, f64)>,
}

impl MixChooser {
    /// A chooser for `mix`.
    pub fn new(mix: &[(OpType, f64)]) -> MixChooser {
        let total: f64 = mix.iter().map(|(_, w)| w).sum();
        let mut acc = 0.0;
        let cumulative = mix
            .iter()
            .map(|&(op, weight)| {
                acc += weight / total;
                (op, acc)
            })
            .collect();
        MixChooser { cumulative }
    }

    /// The next op type.
    #[inline]
    pub fn next(&self, rng: &mut Rng) -> OpType {
        if self.cumulative.len() == 1 {
            return self.cumulative[0].0;
        }
        let u = rng.next_f64();
        self.cumulative
            .iter()
            .find(|(_, upto)| u < *upto)
            .unwrap_or(self.cumulative.last().expect("non-empty mix"))
            .0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixes_sum_to_one_and_names_round_trip() {
        for kind in WorkloadKind::ALL {
            let total: f64 = kind.mix().iter().map(|(_, w)| w).sum();
            assert!((total - 1.0).abs() < 1e-9, "{kind:?}");
            assert_eq!(WorkloadKind::from_name(kind.name()), Some(kind));
        }
    }

    #[test]
    fn ycsb_a_is_half_reads() {
        let chooser = MixChooser::new(WorkloadKind::YcsbA.mix());
        let mut rng = Rng::new(5);
        let reads = (0..100_000)
            .filter(|_| chooser.next(&mut rng) == OpType::Read)
            .count();
        assert!((48_500..51_500).contains(&reads), "{reads}");
    }
}
