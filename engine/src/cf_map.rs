//! Logical → physical column-family mapping, persisted inside the database.
//!
//! A logical column family (the name users see) is served by one physical RocksDB column
//! family. Until it is rebuilt the two names are equal; a rebuild copies the data into
//! `<logical>__lsmedic_gen<N>` and swaps the mapping. The mapping of rebuilt CFs is one JSON
//! value under one key of the hidden column family [`META_CF`], written with a synced put, so
//! a swap is atomic and durable.
//!
//! At open, [`resolve`] turns the physical CFs on disk plus the stored mapping into the
//! logical table and the list of orphans left by an interrupted rebuild (a new CF whose swap
//! never happened, or an old CF whose drop never happened). Orphans are dropped, so after
//! open every logical name has exactly one live physical CF: never two, never none.

use std::collections::{BTreeMap, BTreeSet};

use lsmedic_telemetry::DEFAULT_CF;
use serde::{Deserialize, Serialize};

/// The hidden column family holding lsmedic's own metadata.
pub const META_CF: &str = "__lsmedic_meta";
/// Column-family names users may not take (lsmedic's own).
pub const RESERVED_PREFIX: &str = "__lsmedic";
/// What separates a logical name from a rebuild generation in a physical name.
pub const GENERATION_MARK: &str = "__lsmedic_gen";
/// Key of the mapping in [`META_CF`].
pub(crate) const MAP_KEY: &[u8] = b"cf_map";
/// Prefix of the key under which the last rebuild's report of a logical CF is stored.
const REPORT_PREFIX: &[u8] = b"rebuild_report/";

/// The meta-CF key of the last rebuild report of `logical`.
pub(crate) fn report_key(logical: &str) -> Vec<u8> {
    let mut key = REPORT_PREFIX.to_vec();
    key.extend_from_slice(logical.as_bytes());
    key
}
/// Longest logical name, so that a physical name (logical + mark + generation) stays within
/// RocksDB's practical 255-byte limit.
pub const MAX_LOGICAL_NAME_BYTES: usize = 200;

/// The persisted mapping: only column families that were rebuilt appear in it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CfMap {
    /// Format version.
    pub version: u32,
    /// Logical name → physical name.
    pub map: BTreeMap<String, String>,
}

impl CfMap {
    /// Parses the stored mapping.
    pub fn from_bytes(bytes: &[u8]) -> Result<CfMap, String> {
        let map: CfMap = serde_json::from_slice(bytes)
            .map_err(|e| format!("stored column-family map is not valid JSON: {e}"))?;
        if map.version != 1 {
            return Err(format!(
                "stored column-family map has version {}, this build reads version 1",
                map.version
            ));
        }
        Ok(map)
    }

    /// Serialises the mapping.
    pub fn to_bytes(&self) -> Vec<u8> {
        let versioned = CfMap {
            version: 1,
            map: self.map.clone(),
        };
        // Serialising a map of strings cannot fail.
        serde_json::to_vec(&versioned).unwrap_or_default()
    }
}

/// The physical name of generation `generation` of `logical`.
pub fn physical_name(logical: &str, generation: u64) -> String {
    format!("{logical}{GENERATION_MARK}{generation}")
}

/// Splits a rebuilt physical name into (logical, generation).
pub fn parse_generation(physical: &str) -> Option<(&str, u64)> {
    let at = physical.rfind(GENERATION_MARK)?;
    let generation = physical[at + GENERATION_MARK.len()..].parse().ok()?;
    Some((&physical[..at], generation))
}

/// The logical name a physical CF belongs to (by its name alone).
pub fn logical_of(physical: &str) -> &str {
    parse_generation(physical).map_or(physical, |(logical, _)| logical)
}

/// The logical table derived at open.
#[derive(Debug, PartialEq, Eq)]
pub struct Resolved {
    /// (logical, physical) for every live logical CF, `default` first.
    pub live: Vec<(String, String)>,
    /// Physical CFs left behind by an interrupted rebuild, to drop.
    pub orphans: Vec<String>,
}

/// Derives the live logical CFs and the orphans from the physical CFs on disk and the map.
pub fn resolve(on_disk: &[String], map: &CfMap) -> Result<Resolved, String> {
    let on_disk_set: BTreeSet<&str> = on_disk.iter().map(String::as_str).collect();
    for (logical, physical) in &map.map {
        if !on_disk_set.contains(physical.as_str()) {
            return Err(format!(
                "column-family map sends {logical:?} to {physical:?}, which does not exist"
            ));
        }
    }
    let targets: BTreeSet<&str> = map.map.values().map(String::as_str).collect();
    let mut live = Vec::new();
    let mut orphans = Vec::new();
    if on_disk_set.contains(DEFAULT_CF) {
        live.push((DEFAULT_CF.to_owned(), DEFAULT_CF.to_owned()));
    }
    for physical in on_disk {
        let physical = physical.as_str();
        if physical == DEFAULT_CF || physical == META_CF || targets.contains(physical) {
            continue;
        }
        if map.map.contains_key(physical) || parse_generation(physical).is_some() {
            // An old CF whose drop did not happen, or a new one whose swap did not.
            orphans.push(physical.to_owned());
        } else {
            live.push((physical.to_owned(), physical.to_owned()));
        }
    }
    for (logical, physical) in &map.map {
        live.push((logical.clone(), physical.clone()));
    }
    Ok(Resolved { live, orphans })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn generation_names_round_trip() {
        let physical = physical_name("users", 7);
        assert_eq!(parse_generation(&physical), Some(("users", 7)));
        assert_eq!(logical_of(&physical), "users");
        assert_eq!(logical_of("users"), "users");
        assert_eq!(parse_generation("users__lsmedic_genx"), None);
    }

    #[test]
    fn interrupted_rebuild_before_swap_drops_the_new_cf() {
        let resolved = resolve(
            &names(&["default", META_CF, "users", "users__lsmedic_gen1"]),
            &CfMap::default(),
        )
        .unwrap();
        assert_eq!(resolved.orphans, names(&["users__lsmedic_gen1"]));
        assert!(resolved.live.contains(&("users".into(), "users".into())));
    }

    #[test]
    fn interrupted_rebuild_after_swap_drops_the_old_cf() {
        let mut map = CfMap::default();
        map.map.insert("users".into(), "users__lsmedic_gen1".into());
        let resolved = resolve(
            &names(&["default", META_CF, "users", "users__lsmedic_gen1"]),
            &map,
        )
        .unwrap();
        assert_eq!(resolved.orphans, names(&["users"]));
        assert!(resolved
            .live
            .contains(&("users".into(), "users__lsmedic_gen1".into())));
    }

    #[test]
    fn a_map_pointing_at_nothing_is_an_error() {
        let mut map = CfMap::default();
        map.map.insert("users".into(), "users__lsmedic_gen3".into());
        assert!(resolve(&names(&["default", "users"]), &map).is_err());
    }

    #[test]
    fn map_bytes_round_trip_and_reject_other_versions() {
        let mut map = CfMap::default();
        map.map.insert("a".into(), "a__lsmedic_gen2".into());
        let parsed = CfMap::from_bytes(&map.to_bytes()).unwrap();
        assert_eq!(parsed.map, map.map);
        assert!(CfMap::from_bytes(br#"{"version":9,"map":{}}"#).is_err());
        assert!(CfMap::from_bytes(b"not json").is_err());
    }

    proptest! {
        /// Whatever rebuild steps completed before a crash, exactly one live physical CF
        /// serves each logical name, every orphan is a physical CF on disk, and no live
        /// physical CF is also an orphan.
        #[test]
        fn every_logical_name_has_exactly_one_live_physical(
            cfs in proptest::collection::btree_map("[a-c]{1,2}", (0u64..3, 0u8..4), 1..5)
        ) {
            // For each logical CF: current generation g (0 = never rebuilt) and how far a
            // rebuild to g+1 got: 0 none, 1 new CF created, 2 map swapped, 3 old dropped.
            let mut on_disk = vec!["default".to_string(), META_CF.to_string()];
            let mut map = CfMap::default();
            let mut expected = BTreeMap::new();
            for (logical, (generation, step)) in &cfs {
                let current = if *generation == 0 {
                    logical.clone()
                } else {
                    physical_name(logical, *generation)
                };
                let next = physical_name(logical, generation + 1);
                let (disk, serving): (Vec<String>, String) = match step {
                    0 => (vec![current.clone()], current.clone()),
                    1 => (vec![current.clone(), next.clone()], current.clone()),
                    2 => (vec![current.clone(), next.clone()], next.clone()),
                    _ => (vec![next.clone()], next.clone()),
                };
                on_disk.extend(disk);
                if serving != *logical {
                    map.map.insert(logical.clone(), serving.clone());
                }
                expected.insert(logical.clone(), serving);
            }
            let resolved = resolve(&on_disk, &map).unwrap();
            let mut seen = BTreeMap::new();
            for (logical, physical) in &resolved.live {
                if logical == "default" { continue; }
                prop_assert!(seen.insert(logical.clone(), physical.clone()).is_none(),
                    "two live physical CFs for {}", logical);
                prop_assert!(!resolved.orphans.contains(physical));
            }
            prop_assert_eq!(seen, expected);
            for orphan in &resolved.orphans {
                prop_assert!(on_disk.contains(orphan));
            }
        }
    }
}
