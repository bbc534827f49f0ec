//! Damage to a live SST file of a closed database, and what the parent knows about each
//! logical column family's physical column family and the damage in it.
//!
//! The file is chosen among the live files of the named column families (listed through a
//! read-only RocksDB handle, dropped before the file is touched); a run of bytes in its
//! middle is inverted, far from the footer and the metadata blocks at the end, so the
//! damage lands in data blocks and every read of them fails its checksum.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use lsmedic::engine::cf_map;

use super::keyspace::{CfIndex, COLUMN_FAMILIES};
use super::Error;
use crate::keygen::Rng;

/// Files smaller than this are left alone: in a small file the middle may be metadata.
const MIN_FILE_BYTES: u64 = 16 * 1024;
/// Bytes inverted, at least and at most.
const RUN_BYTES: (u64, u64) = (8, 64);

/// One injected damage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    /// Logical column family.
    pub cf: String,
    /// Physical column family the file belonged to.
    pub physical: String,
    /// The SST file.
    pub file: PathBuf,
    /// Its level.
    pub level: i32,
    /// Its size in bytes.
    pub size: u64,
    /// First byte inverted.
    pub offset: u64,
    /// Bytes inverted.
    pub bytes: u64,
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} bytes inverted at offset {} of {} ({} bytes, L{}, {:?} served by {:?})",
            self.bytes,
            self.offset,
            self.file
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default(),
            self.size,
            self.level,
            self.cf,
            self.physical
        )
    }
}

/// What the parent knows of one logical column family between checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CfLayout {
    /// The physical column family serving it, as last seen or reported.
    pub physical: String,
    /// Every damage injected into any of its physical column families. Physical names are
    /// never reused (rebuild generations only grow), so a damage record stays true of the
    /// physical column family it names, and ends with it.
    pub damage: Vec<Damage>,
}

/// Every logical column family's [`CfLayout`], in [`COLUMN_FAMILIES`] order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Per column family.
    pub cfs: Vec<CfLayout>,
}

impl Default for Layout {
    fn default() -> Self {
        Layout {
            cfs: COLUMN_FAMILIES
                .iter()
                .map(|name| CfLayout {
                    physical: (*name).to_owned(),
                    damage: Vec::new(),
                })
                .collect(),
        }
    }
}

/// The rebuild generation of a physical name (0 = never rebuilt).
fn generation(physical: &str) -> u64 {
    cf_map::parse_generation(physical).map_or(0, |(_, generation)| generation)
}

impl Layout {
    /// A rebuild reported that `physical` serves `cf` now. Reports of concurrent rebuilds
    /// may arrive out of order; the newest generation wins.
    pub fn rebuilt(&mut self, cf: CfIndex, physical: &str) {
        let layout = &mut self.cfs[usize::from(cf)];
        if generation(physical) > generation(&layout.physical) {
            layout.physical = physical.to_owned();
        }
    }

    /// Whether damage was injected into physical column family `physical` of `cf`.
    pub fn had_damage(&self, cf: CfIndex, physical: &str) -> bool {
        self.cfs[usize::from(cf)]
            .damage
            .iter()
            .any(|damage| damage.physical == physical)
    }

    /// Whether the physical column family serving `cf` now holds injected damage.
    pub fn is_damaged(&self, cf: CfIndex) -> bool {
        self.had_damage(cf, &self.cfs[usize::from(cf)].physical)
    }
}

/// Index of a logical column family name.
pub fn cf_index(name: &str) -> Option<CfIndex> {
    COLUMN_FAMILIES
        .iter()
        .position(|cf| *cf == name)
        .map(|index| index as CfIndex)
}

/// Inverts a run of bytes in the middle of a random live SST file of a random named column
/// family of the closed database at `db`; `None` when no file is large enough.
pub fn damage_random_sst(
    db: &Path,
    layout: &mut Layout,
    rng: &mut Rng,
) -> Result<Option<Damage>, Error> {
    let options = rocksdb::Options::default();
    let names = rocksdb::DB::list_cf(&options, db)
        .map_err(|e| Error::rocksdb("list column families", e))?;
    let files = {
        let reader = rocksdb::DB::open_cf_for_read_only(&options, db, &names, false)
            .map_err(|e| Error::rocksdb("open read-only to list live files", e))?;
        reader
            .live_files()
            .map_err(|e| Error::rocksdb("live files", e))?
        // The read-only handle closes here, before any file is touched.
    };
    let candidates: Vec<(CfIndex, &rocksdb::LiveFile)> = files
        .iter()
        .filter(|file| file.size as u64 >= MIN_FILE_BYTES)
        .filter_map(|file| {
            let cf = layout
                .cfs
                .iter()
                .position(|cf| cf.physical == file.column_family_name)?;
            (cf > 0).then_some((cf as CfIndex, file))
        })
        .collect();
    if candidates.is_empty() {
        return Ok(None);
    }
    let (cf, file) = candidates[rng.below(candidates.len() as u64) as usize];
    let size = file.size as u64;
    let (low, high) = (size * 3 / 8, size * 5 / 8);
    let damage = Damage {
        cf: COLUMN_FAMILIES[usize::from(cf)].to_owned(),
        physical: file.column_family_name.clone(),
        file: db.join(file.name.trim_start_matches('/')),
        level: file.level,
        size,
        offset: rng.between(low, high),
        bytes: rng.between(RUN_BYTES.0, RUN_BYTES.1),
    };
    invert(&damage.file, damage.offset, damage.bytes)?;
    layout.cfs[usize::from(cf)].damage.push(damage.clone());
    Ok(Some(damage))
}

/// Inverts `count` bytes of `file` from `offset`, in place, and syncs the file.
fn invert(file: &Path, offset: u64, count: u64) -> Result<(), Error> {
    let handle = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(file)
        .map_err(|e| Error::io("open for damage", file, e))?;
    let mut bytes = vec![0u8; count as usize];
    handle
        .read_exact_at(&mut bytes, offset)
        .map_err(|e| Error::io("read for damage", file, e))?;
    for byte in &mut bytes {
        *byte ^= 0xff;
    }
    handle
        .write_all_at(&bytes, offset)
        .map_err(|e| Error::io("damage", file, e))?;
    handle
        .sync_all()
        .map_err(|e| Error::io("sync the damaged", file, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverting_twice_restores_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("000001.sst");
        let original: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        std::fs::write(&path, &original).unwrap();
        invert(&path, 100, 16).unwrap();
        let damaged = std::fs::read(&path).unwrap();
        assert_eq!(damaged[99], original[99]);
        assert_eq!(damaged[100], !original[100]);
        assert_eq!(damaged[115], !original[115]);
        assert_eq!(damaged[116], original[116]);
        invert(&path, 100, 16).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), original);
    }

    #[test]
    fn damage_belongs_to_the_physical_column_family_it_was_injected_into() {
        let mut layout = Layout::default();
        layout.cfs[1].damage.push(Damage {
            cf: "users".into(),
            physical: "users".into(),
            file: PathBuf::from("000009.sst"),
            level: 1,
            size: 20_000,
            offset: 9_000,
            bytes: 8,
        });
        assert!(layout.is_damaged(1) && !layout.is_damaged(2));
        layout.rebuilt(1, "users__lsmedic_gen2");
        // A late report of an older rebuild does not go back.
        layout.rebuilt(1, "users__lsmedic_gen1");
        assert_eq!(layout.cfs[1].physical, "users__lsmedic_gen2");
        assert!(!layout.is_damaged(1));
        assert!(layout.had_damage(1, "users"));
        assert_eq!(cf_index("orders"), Some(2));
        assert_eq!(cf_index("nope"), None);
    }
}
