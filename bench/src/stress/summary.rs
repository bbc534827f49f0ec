//! The figures of a stress run: what was done to the database and what the checks found.

use serde::Serialize;

/// Counters of one stress run (all totals over the run).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Seed of the run (replays the parent's choices; the children's timing varies).
    pub seed: u64,
    /// `off`, `on` or `mixed`.
    pub checkpoints: String,
    /// Wall time in seconds.
    pub elapsed_secs: f64,
    /// Children started (each ends with a kill and a check).
    pub iterations: u64,
    /// Children killed with SIGKILL.
    pub kills: u64,
    /// Kills that landed while a rebuild was running in the child.
    pub kills_during_rebuild: u64,
    /// Kills that landed while the child's engine was reopening its database online.
    pub kills_during_online_reopen: u64,
    /// SST files damaged between children.
    pub corruptions_injected: u64,
    /// Rebuilds that completed (child, healer and parent together).
    pub rebuilds: u64,
    /// Of those, started by the child's maintenance thread.
    pub rebuilds_by_child: u64,
    /// Of those, started by the healer.
    pub rebuilds_by_healer: u64,
    /// Of those, run by the parent to heal a corrupt read.
    pub rebuilds_by_parent: u64,
    /// Rebuilds that failed and rolled back.
    pub rebuilds_failed: u64,
    /// Rebuilds cut short by a kill (started, no outcome reported).
    pub rebuilds_interrupted: u64,
    /// Rebuilds found committed at reopen whose report died with the child.
    pub rebuilds_committed_unreported: u64,
    /// Of those, rebuilds of a damaged column family (the lost ranges of the report the
    /// engine stored with the commit were exempted; all its keys if there was none).
    pub rebuilds_committed_unreported_damaged: u64,
    /// Reopens by the parent.
    pub reopens: u64,
    /// Online reopens (`Engine::recover`) completed in the children, under load.
    pub online_reopens: u64,
    /// Online reopens that failed (the database kept serving or was reopened later).
    pub online_reopens_failed: u64,
    /// Physical column families of interrupted rebuilds dropped by a reopen.
    pub orphans_dropped_at_reopen: u64,
    /// Keys that should have had a value and read absent inside a reported lost range.
    pub keys_lost: u64,
    /// Of those, in iterations with checkpoints on.
    pub keys_lost_with_checkpoints: u64,
    /// Of those, in iterations with checkpoints off.
    pub keys_lost_without_checkpoints: u64,
    /// Of the keys lost in the parent's rebuilds, those a point read still returned just
    /// before the rebuild (readable data dropped with a lost range).
    pub keys_lost_although_readable: u64,
    /// Keys whose point read failed just before one of the parent's rebuilds.
    pub keys_unreadable_before_rebuild: u64,
    /// Keys of the key space inside reported lost ranges (whether or not they held a value).
    pub keys_in_lost_ranges: u64,
    /// Keys rebuilds refilled from a checkpoint.
    pub keys_recovered_from_checkpoint: u64,
    /// Synced writes acknowledged.
    pub writes_acknowledged: u64,
    /// Writes that returned an error.
    pub writes_failed: u64,
    /// Writes announced and unanswered at a kill.
    pub writes_in_flight_at_kill: u64,
    /// Of the uncertain writes, those found applied.
    pub in_flight_applied: u64,
    /// Of the uncertain writes, those found not applied.
    pub in_flight_not_applied: u64,
    /// Option changes applied through `Control::set_cf`.
    pub option_changes: u64,
    /// Option changes refused.
    pub option_refusals: u64,
    /// Flushes and compactions run by the child.
    pub flushes_and_compactions: u64,
    /// Deep checkpoints taken on demand (by the child, and by the parent before it closes).
    pub checkpoints_taken: u64,
    /// Reads in the child that met corruption.
    pub child_read_corruptions: u64,
    /// Violations found (the run stops at the first check that finds any).
    pub violations: u64,
    /// The iteration whose check found violations.
    pub failed_iteration: Option<u64>,
}

impl Summary {
    /// The summary as one JSON line.
    pub fn to_json_line(&self) -> String {
        // Plain numbers and strings: serialisation cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The summary as an aligned table for people.
    pub fn to_table(&self) -> String {
        let rows: Vec<(&str, String)> = vec![
            ("seed", self.seed.to_string()),
            ("checkpoints", self.checkpoints.clone()),
            ("elapsed", format!("{:.1} s", self.elapsed_secs)),
            ("iterations", self.iterations.to_string()),
            (
                "kills",
                format!(
                    "{} ({} during a rebuild, {} during an online reopen)",
                    self.kills, self.kills_during_rebuild, self.kills_during_online_reopen
                ),
            ),
            (
                "corruptions injected",
                self.corruptions_injected.to_string(),
            ),
            (
                "rebuilds",
                format!(
                    "{} (child {}, healer {}, parent {}; {} failed, {} interrupted, {} committed \
                     unreported of which {} damaged)",
                    self.rebuilds,
                    self.rebuilds_by_child,
                    self.rebuilds_by_healer,
                    self.rebuilds_by_parent,
                    self.rebuilds_failed,
                    self.rebuilds_interrupted,
                    self.rebuilds_committed_unreported,
                    self.rebuilds_committed_unreported_damaged
                ),
            ),
            (
                "reopens",
                format!(
                    "{} ({} orphan column families dropped); online in the children {} ({} \
                     failed)",
                    self.reopens,
                    self.orphans_dropped_at_reopen,
                    self.online_reopens,
                    self.online_reopens_failed
                ),
            ),
            (
                "keys reported lost",
                format!(
                    "{} (checkpoints on {}, off {}; {} keys inside lost ranges)",
                    self.keys_lost,
                    self.keys_lost_with_checkpoints,
                    self.keys_lost_without_checkpoints,
                    self.keys_in_lost_ranges,
                ),
            ),
            (
                "parent's rebuilds",
                format!(
                    "{} keys unreadable before, {} keys readable before and lost after",
                    self.keys_unreadable_before_rebuild, self.keys_lost_although_readable
                ),
            ),
            (
                "keys recovered from checkpoints",
                self.keys_recovered_from_checkpoint.to_string(),
            ),
            (
                "writes",
                format!(
                    "{} acknowledged, {} failed, {} in flight at a kill ({} applied, {} not)",
                    self.writes_acknowledged,
                    self.writes_failed,
                    self.writes_in_flight_at_kill,
                    self.in_flight_applied,
                    self.in_flight_not_applied
                ),
            ),
            (
                "maintenance",
                format!(
                    "{} option changes ({} refused), {} flushes/compactions, {} checkpoints on \
                     demand, {} reads in children met corruption",
                    self.option_changes,
                    self.option_refusals,
                    self.flushes_and_compactions,
                    self.checkpoints_taken,
                    self.child_read_corruptions
                ),
            ),
            ("violations", self.violations.to_string()),
        ];
        let width = rows.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
        rows.iter()
            .map(|(name, value)| format!("{name:<width$}  {value}\n"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_summary_is_one_line_with_every_figure() {
        let summary = Summary {
            kills_during_rebuild: 3,
            ..Summary::default()
        };
        let line = summary.to_json_line();
        assert!(!line.contains('\n'));
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["kills_during_rebuild"], 3);
        assert!(summary.to_table().contains("violations"));
    }
}
