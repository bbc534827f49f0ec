//! The engine configuration every child and the parent open the stress database with.
//!
//! Small memtables and files, so that a child's few seconds of synced writes flush, compact
//! and spread each column family over several SST files (what damage and rebuilds need);
//! the same options for the parent, so its reopen sees the database as the child left it.

use lsmedic::engine::{CheckpointConfig, ColumnFamilyConfig};
use lsmedic::{CfOptions, EngineConfig};

use super::keyspace::COLUMN_FAMILIES;

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

/// The configuration of the stress database; `checkpoints` turns periodic deep checkpoints
/// on (every second, two kept), which rebuilds refill lost ranges from.
pub fn engine_config(checkpoints: bool) -> EngineConfig {
    let cf_options = CfOptions {
        write_buffer_size: 256 * KIB,
        max_write_buffer_number: 3,
        level0_file_num_compaction_trigger: 4,
        target_file_size_base: 256 * KIB,
        max_bytes_for_level_base: MIB,
        ..CfOptions::default()
    };
    EngineConfig {
        block_cache_size: 8 * MIB,
        column_families: COLUMN_FAMILIES
            .iter()
            .skip(1)
            .map(|name| ColumnFamilyConfig {
                name: (*name).to_owned(),
                options: cf_options.clone(),
            })
            .collect(),
        cf_options,
        checkpoints: CheckpointConfig {
            enabled: checkpoints,
            interval_secs: 1,
            keep: 2,
            ..CheckpointConfig::default()
        },
        ..EngineConfig::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stress_configuration_is_valid() {
        for checkpoints in [false, true] {
            engine_config(checkpoints).validate().unwrap();
        }
    }
}
