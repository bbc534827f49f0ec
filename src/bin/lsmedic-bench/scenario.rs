//! Scenario files: TOML describing the engine to open, a timeline of phases (workloads per
//! column family, rates) and the faults injected during each phase.
//!
//! Parsing is two-stage. Stage 1 deserialises the document (serde, unknown fields refused);
//! stage 2 checks meaning (ranges, column families that exist, option names). Every error
//! carries the file, the line and column, and the field path (`phases[1].faults[0].factor`):
//! serde errors come with a byte span that is mapped back to a path, semantic errors come
//! with a path that is mapped to a span through a `toml_edit` parse of the same text.
//!
//! The schema is documented in the README (`## lsmedic-bench`).

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use lsmedic::engine::{EngineConfig, Error as EngineError};
use lsmedic::telemetry::{Tunable, TunableScope};
use serde::Deserialize;

use crate::keygen::{Distribution, ValueSize};
use crate::workload::WorkloadKind;

/// Largest key space a workload may declare (the verifier keeps 4 bytes per key).
pub const MAX_KEY_SPACE: u64 = 100_000_000;
/// Largest value.
pub const MAX_VALUE_BYTES: u32 = 16 << 20;
/// Most threads one workload may use.
pub const MAX_THREADS: u32 = 64;

// ----- errors ------------------------------------------------------------------------------

/// A scenario that cannot be used, with where and why.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioError {
    /// The file (or `<inline>`).
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// Field path such as `phases[0].workloads[1].rate`, when known.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        write!(f, ": ")?;
        if let Some(field) = &self.field {
            write!(f, "field `{field}`: ")?;
        }
        write!(f, "{}", self.message)
    }
}

impl std::error::Error for ScenarioError {}

/// One step of a field path.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

/// A field path under construction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct FieldPath(Vec<Seg>);

impl FieldPath {
    fn key(&self, key: &str) -> FieldPath {
        let mut next = self.clone();
        next.0.push(Seg::Key(key.to_owned()));
        next
    }

    fn index(&self, index: usize) -> FieldPath {
        let mut next = self.clone();
        next.0.push(Seg::Index(index));
        next
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(key) if i == 0 => write!(f, "{key}")?,
                Seg::Key(key) => write!(f, ".{key}")?,
                Seg::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// Byte spans of every key and value in a TOML text, by field path.
struct SpanIndex {
    text: String,
    /// (path, span of the key or the value); keys first, so lookups prefer the key.
    nodes: Vec<(FieldPath, Range<usize>)>,
}

impl SpanIndex {
    fn new(text: &str) -> SpanIndex {
        let mut nodes = Vec::new();
        if let Ok(doc) = toml_edit::ImDocument::parse(text.to_owned()) {
            walk_table(doc.as_table(), &FieldPath::default(), &mut nodes);
        }
        SpanIndex {
            text: text.to_owned(),
            nodes,
        }
    }

    /// Line and column (1-based) of byte `offset`.
    fn line_column(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let column = before.rfind('\n').map_or(offset, |nl| offset - nl - 1) + 1;
        (line, column)
    }

    /// The span of `path`, or of its nearest ancestor that has one.
    fn span_of(&self, path: &FieldPath) -> Option<Range<usize>> {
        let mut path = path.clone();
        loop {
            if let Some((_, span)) = self.nodes.iter().find(|(p, _)| *p == path) {
                return Some(span.clone());
            }
            path.0.pop()?;
        }
    }

    /// The deepest path whose key or value span contains `offset`.
    fn path_at(&self, offset: usize) -> Option<FieldPath> {
        self.nodes
            .iter()
            .filter(|(_, span)| span.start <= offset && offset < span.end.max(span.start + 1))
            .max_by_key(|(path, span)| (path.0.len(), std::cmp::Reverse(span.len())))
            .map(|(path, _)| path.clone())
    }
}

fn walk_table(
    table: &toml_edit::Table,
    path: &FieldPath,
    out: &mut Vec<(FieldPath, Range<usize>)>,
) {
    for (name, _) in table.iter() {
        if let Some((key, item)) = table.get_key_value(name) {
            let child = path.key(name);
            if let Some(span) = key.span() {
                out.push((child.clone(), span));
            }
            walk_item(item, &child, out);
        }
    }
}

fn walk_item(item: &toml_edit::Item, path: &FieldPath, out: &mut Vec<(FieldPath, Range<usize>)>) {
    match item {
        toml_edit::Item::None => {}
        toml_edit::Item::Value(value) => walk_value(value, path, out),
        toml_edit::Item::Table(table) => {
            if let Some(span) = table.span() {
                out.push((path.clone(), span));
            }
            walk_table(table, path, out);
        }
        toml_edit::Item::ArrayOfTables(tables) => {
            for (i, table) in tables.iter().enumerate() {
                let child = path.index(i);
                if let Some(span) = table.span() {
                    out.push((child.clone(), span));
                }
                walk_table(table, &child, out);
            }
        }
    }
}

fn walk_value(
    value: &toml_edit::Value,
    path: &FieldPath,
    out: &mut Vec<(FieldPath, Range<usize>)>,
) {
    if let Some(span) = value.span() {
        out.push((path.clone(), span));
    }
    match value {
        toml_edit::Value::Array(array) => {
            for (i, element) in array.iter().enumerate() {
                walk_value(element, &path.index(i), out);
            }
        }
        toml_edit::Value::InlineTable(table) => {
            for (name, _) in table.iter() {
                if let Some((key, item)) = table.get_key_value(name) {
                    let child = path.key(name);
                    if let Some(span) = key.span() {
                        out.push((child.clone(), span));
                    }
                    walk_item(item, &child, out);
                }
            }
        }
        _ => {}
    }
}

/// Builds errors for one file.
struct Reporter<'a> {
    file: &'a Path,
    spans: SpanIndex,
}

impl Reporter<'_> {
    fn at(&self, path: &FieldPath, message: impl Into<String>) -> ScenarioError {
        let (line, column) = match self.spans.span_of(path) {
            Some(span) => {
                let (line, column) = self.spans.line_column(span.start);
                (Some(line), Some(column))
            }
            None => (None, None),
        };
        ScenarioError {
            file: self.file.to_owned(),
            line,
            column,
            field: (!path.0.is_empty()).then(|| path.to_string()),
            message: message.into(),
        }
    }

    fn toml_error(&self, err: &toml::de::Error) -> ScenarioError {
        let span = err.span();
        let (line, column) = span
            .as_ref()
            .map(|span| self.spans.line_column(span.start))
            .map_or((None, None), |(l, c)| (Some(l), Some(c)));
        let field = span
            .and_then(|span| self.spans.path_at(span.start))
            .map(|path| path.to_string());
        ScenarioError {
            file: self.file.to_owned(),
            line,
            column,
            field,
            message: toml_message(err),
        }
    }
}

/// The parser's message; a few syntax errors (a control character in a comment) come with
/// none, and an error must always say something.
fn toml_message(err: &toml::de::Error) -> String {
    match err.message().trim() {
        "" => "invalid TOML syntax (unexpected character)".to_owned(),
        message => message.to_owned(),
    }
}

// ----- the file as written (stage 1) -------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    name: Option<String>,
    description: Option<String>,
    seed: Option<u64>,
    #[serde(default)]
    engine: EngineConfig,
    #[serde(default)]
    phases: Vec<PhaseFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PhaseFile {
    name: Option<String>,
    duration_s: Option<f64>,
    #[serde(default)]
    warmup: bool,
    #[serde(default)]
    workloads: Vec<WorkloadFile>,
    #[serde(default)]
    faults: Vec<toml::Table>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ValueSizeFile {
    Fixed(u32),
    Range([u32; 2]),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkloadFile {
    workload: String,
    cf: Option<String>,
    key_space: Option<u64>,
    key_range: Option<[u64; 2]>,
    value_size: Option<ValueSizeFile>,
    threads: Option<u32>,
    rate: Option<f64>,
    ops: Option<u64>,
    distribution: Option<Distribution>,
    scan_length: Option<ValueSizeFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WriteBurstFile {
    cf: Option<String>,
    factor: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkingSetShiftFile {
    cf: Option<String>,
    key_range: [u64; 2],
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CompactionStarvationFile {
    cf: Option<String>,
    max_background_jobs: Option<u64>,
    background_threads_low: Option<u64>,
    disable_auto_compactions: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteStormFile {
    cf: Option<String>,
    key_range: [u64; 2],
    rate: Option<f64>,
    threads: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SstCorruptionFile {
    cf: Option<String>,
    bytes: Option<usize>,
    compact: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MisconfigurationFile {
    cf: Option<String>,
    #[serde(default)]
    options: BTreeMap<String, toml::Value>,
    #[serde(default)]
    global: BTreeMap<String, toml::Value>,
}

// ----- the validated scenario (stage 2) ----------------------------------------------------

/// A validated scenario, times unscaled (seconds as written).
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Name (the file stem unless `name` is set).
    pub name: String,
    /// One line saying what it shows.
    pub description: String,
    /// Seed of every generator (overridable on the command line).
    pub seed: u64,
    /// The engine as opened at the start of every run.
    pub engine: EngineConfig,
    /// Phases, run in order.
    pub phases: Vec<Phase>,
}

/// A span of time (or a number of ops) running some workloads, with faults.
#[derive(Clone, Debug)]
pub struct Phase {
    /// Name shown in reports.
    pub name: String,
    /// Length in seconds; `None` = until every workload has done its `ops`.
    pub duration_s: Option<f64>,
    /// Left out of the summary figures (loading, warming caches); still charted.
    pub warmup: bool,
    /// Workloads running at the same time.
    pub workloads: Vec<Workload>,
    /// Faults, timed from the phase's start.
    pub faults: Vec<Fault>,
}

/// One workload on one column family.
#[derive(Clone, Debug)]
pub struct Workload {
    /// Which mix.
    pub kind: WorkloadKind,
    /// Logical column family.
    pub cf: String,
    /// Keys `0..key_space` make up the column family's data set.
    pub key_space: u64,
    /// The keys this workload touches (default the whole key space).
    pub key_range: (u64, u64),
    /// Value sizes written.
    pub value_size: ValueSize,
    /// Worker threads.
    pub threads: u32,
    /// Target ops/s over all threads (open loop); `None` = as fast as possible.
    pub rate: Option<f64>,
    /// Stop after this many ops (all threads together).
    pub ops: Option<u64>,
    /// Key distribution.
    pub distribution: Distribution,
    /// Entries read per scan, uniform in the range.
    pub scan_length: (u32, u32),
}

/// A fault injected `at_s` seconds into its phase.
#[derive(Clone, Debug)]
pub struct Fault {
    /// Start, seconds from the phase start.
    pub at_s: f64,
    /// How long it lasts; `None` = until the end of the run (or instantaneous).
    pub duration_s: Option<f64>,
    /// What it does.
    pub kind: FaultKind,
}

/// What a fault does.
#[derive(Clone, Debug)]
pub enum FaultKind {
    /// Multiplies the rate of the write-bearing workloads (of `cf`, or all) by `factor`.
    WriteBurst {
        /// Column family, `None` = every workload that writes.
        cf: Option<String>,
        /// Rate multiplier.
        factor: f64,
    },
    /// Moves the keys that workloads (of `cf`, or all) touch to `key_range`.
    WorkingSetShift {
        /// Column family, `None` = every workload.
        cf: Option<String>,
        /// New keys `[lo, hi)`.
        key_range: (u64, u64),
    },
    /// Cuts background work: compaction threads, jobs, and (optionally) auto compactions.
    CompactionStarvation {
        /// Column family whose auto compactions stop, `None` = all.
        cf: Option<String>,
        /// `max_background_jobs` during the fault.
        max_background_jobs: u64,
        /// `background_threads_low` (compaction pool) during the fault.
        background_threads_low: u64,
        /// Also set `disable_auto_compactions`.
        disable_auto_compactions: bool,
    },
    /// Deletes every key of `key_range` in order, as fast as `rate` allows.
    DeleteStorm {
        /// Column family.
        cf: String,
        /// Keys `[lo, hi)`.
        key_range: (u64, u64),
        /// Deletes/s over all storm threads, `None` = as fast as possible.
        rate: Option<f64>,
        /// Storm threads.
        threads: u32,
    },
    /// Flips `bytes` bytes in the middle of a live SST of `cf`.
    SstCorruption {
        /// Column family.
        cf: String,
        /// Bytes flipped.
        bytes: usize,
        /// Compact the column family right after, so a background job reads the damage.
        compact: bool,
    },
    /// Bad option values (tiny memtables, low L0 triggers, tiny cache …).
    Misconfiguration {
        /// Column family of `cf_changes`, `None` = all.
        cf: Option<String>,
        /// Column-family tunables.
        cf_changes: Vec<(Tunable, u64)>,
        /// DB/engine/process tunables.
        global_changes: Vec<(Tunable, u64)>,
    },
}

impl FaultKind {
    /// Name as written in scenario files (`kind = "..."`).
    pub fn name(&self) -> &'static str {
        match self {
            FaultKind::WriteBurst { .. } => "write_burst",
            FaultKind::WorkingSetShift { .. } => "working_set_shift",
            FaultKind::CompactionStarvation { .. } => "compaction_starvation",
            FaultKind::DeleteStorm { .. } => "delete_storm",
            FaultKind::SstCorruption { .. } => "sst_corruption",
            FaultKind::Misconfiguration { .. } => "misconfiguration",
        }
    }

    /// Every fault kind's name.
    pub const NAMES: [&'static str; 6] = [
        "write_burst",
        "working_set_shift",
        "compaction_starvation",
        "delete_storm",
        "sst_corruption",
        "misconfiguration",
    ];
}

impl Scenario {
    /// Reads and validates a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
            file: path.to_owned(),
            line: None,
            column: None,
            field: None,
            message: format!("cannot read: {e}"),
        })?;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "scenario".to_owned());
        Scenario::parse(&text, path, &stem)
    }

    /// Parses and validates scenario `text`; `file` is only used in errors, `default_name`
    /// names a scenario without `name`.
    pub fn parse(text: &str, file: &Path, default_name: &str) -> Result<Scenario, ScenarioError> {
        let reporter = Reporter {
            file,
            spans: SpanIndex::new(text),
        };
        let raw: ScenarioFile = toml::from_str(text).map_err(|e| reporter.toml_error(&e))?;
        Validator {
            r: &reporter,
            engine: raw.engine.clone(),
        }
        .scenario(raw, default_name)
    }

    /// Seconds the timed phases add up to (op-count phases count as 0).
    pub fn planned_seconds(&self) -> f64 {
        self.phases.iter().filter_map(|p| p.duration_s).sum()
    }

    /// Every column family the scenario uses.
    pub fn column_families(&self) -> Vec<String> {
        let mut names = vec![lsmedic::engine::DEFAULT_CF.to_owned()];
        names.extend(self.engine.column_families.iter().map(|cf| cf.name.clone()));
        names
    }

    /// The key space of a column family (largest declared by its workloads).
    pub fn key_space(&self, cf: &str) -> u64 {
        self.phases
            .iter()
            .flat_map(|p| &p.workloads)
            .filter(|w| w.cf == cf)
            .map(|w| w.key_space)
            .max()
            .unwrap_or(0)
    }
}

/// Smallest duration (s) or rate (ops/s) a scenario may give: an op every 1000 s at most.
const MIN_POSITIVE: f64 = 1e-3;
/// Largest duration (s) or rate (ops/s) a scenario may give (~31 years; 1e9 ops/s).
const MAX_POSITIVE: f64 = 1e9;

struct Validator<'a, 'b> {
    r: &'a Reporter<'b>,
    engine: EngineConfig,
}

fn root() -> FieldPath {
    FieldPath::default()
}

impl Validator<'_, '_> {
    fn scenario(&self, raw: ScenarioFile, default_name: &str) -> Result<Scenario, ScenarioError> {
        self.engine(&raw.engine)?;
        let column_families: Vec<String> = std::iter::once("default".to_owned())
            .chain(raw.engine.column_families.iter().map(|cf| cf.name.clone()))
            .collect();
        if raw.phases.is_empty() {
            return Err(self
                .r
                .at(&root(), "a scenario needs at least one [[phases]] entry"));
        }
        let mut phases = Vec::with_capacity(raw.phases.len());
        for (i, phase) in raw.phases.into_iter().enumerate() {
            phases.push(self.phase(phase, &root().key("phases").index(i), i, &column_families)?);
        }
        let name = raw.name.unwrap_or_else(|| default_name.to_owned());
        if name.trim().is_empty() {
            return Err(self.r.at(&root().key("name"), "must not be empty"));
        }
        Ok(Scenario {
            name,
            description: raw.description.unwrap_or_default(),
            seed: raw.seed.unwrap_or(42),
            engine: raw.engine,
            phases,
        })
    }

    fn engine(&self, engine: &EngineConfig) -> Result<(), ScenarioError> {
        let base = root().key("engine");
        match engine.validate() {
            Ok(()) => Ok(()),
            Err(EngineError::InvalidOption {
                option,
                cf,
                value,
                reason,
            }) => {
                let option_path =
                    |prefix: FieldPath| option.split('.').fold(prefix, |path, part| path.key(part));
                let path = match cf.as_deref() {
                    None => option_path(base),
                    Some("default") => option_path(base.key("cf_options")),
                    Some(name) => {
                        match engine.column_families.iter().position(|c| c.name == name) {
                            Some(i) => {
                                option_path(base.key("column_families").index(i).key("options"))
                            }
                            None => base.key("column_families"),
                        }
                    }
                };
                Err(self.r.at(&path, format!("invalid value {value}: {reason}")))
            }
            Err(EngineError::ColumnFamilyExists { name }) => Err(self.r.at(
                &base.key("column_families"),
                format!("column family {name:?} is listed twice"),
            )),
            Err(other) => Err(self.r.at(&base, other.to_string())),
        }
    }

    /// Seconds and rates: finite and within [`MIN_POSITIVE`, `MAX_POSITIVE`], so that every
    /// time the runner derives from them (an op interval, a phase end at any time scale) fits
    /// a `Duration`.
    fn positive(&self, path: &FieldPath, value: f64) -> Result<f64, ScenarioError> {
        if value.is_finite() && (MIN_POSITIVE..=MAX_POSITIVE).contains(&value) {
            Ok(value)
        } else {
            Err(self.r.at(
                path,
                format!(
                    "must be a positive number of seconds or ops/s, from {MIN_POSITIVE} to \
                     {MAX_POSITIVE:e}, \
                     got {value}"
                ),
            ))
        }
    }

    fn cf(
        &self,
        path: &FieldPath,
        cf: Option<String>,
        column_families: &[String],
    ) -> Result<String, ScenarioError> {
        let cf = cf.unwrap_or_else(|| "default".to_owned());
        if column_families.contains(&cf) {
            Ok(cf)
        } else {
            Err(self.r.at(
                path,
                format!(
                    "unknown column family {cf:?} (declare it under [[engine.column_families]]; known: {})",
                    column_families.join(", ")
                ),
            ))
        }
    }

    fn optional_cf(
        &self,
        path: &FieldPath,
        cf: Option<String>,
        column_families: &[String],
    ) -> Result<Option<String>, ScenarioError> {
        match cf {
            None => Ok(None),
            some => self.cf(path, some, column_families).map(Some),
        }
    }

    fn key_range(
        &self,
        path: &FieldPath,
        range: [u64; 2],
        limit: u64,
    ) -> Result<(u64, u64), ScenarioError> {
        let [lo, hi] = range;
        if lo >= hi {
            return Err(self.r.at(
                path,
                format!("must be [lo, hi) with lo < hi, got [{lo}, {hi}]"),
            ));
        }
        if hi > limit {
            return Err(self.r.at(
                path,
                format!("must lie within 0..{limit}, got [{lo}, {hi}]"),
            ));
        }
        Ok((lo, hi))
    }

    fn phase(
        &self,
        raw: PhaseFile,
        path: &FieldPath,
        index: usize,
        column_families: &[String],
    ) -> Result<Phase, ScenarioError> {
        let duration_s = raw
            .duration_s
            .map(|d| self.positive(&path.key("duration_s"), d))
            .transpose()?;
        let mut workloads = Vec::with_capacity(raw.workloads.len());
        for (i, workload) in raw.workloads.into_iter().enumerate() {
            workloads.push(self.workload(
                workload,
                &path.key("workloads").index(i),
                column_families,
            )?);
        }
        if duration_s.is_none() {
            if workloads.is_empty() {
                return Err(self
                    .r
                    .at(path, "a phase needs duration_s or workloads with ops"));
            }
            if let Some(i) = workloads.iter().position(|w| w.ops.is_none()) {
                return Err(self.r.at(
                    &path.key("workloads").index(i),
                    "in a phase without duration_s every workload needs ops",
                ));
            }
        }
        let key_space = |cf: &str| {
            workloads
                .iter()
                .filter(|w| w.cf == cf)
                .map(|w| w.key_space)
                .max()
                .unwrap_or(u64::MAX)
        };
        let mut faults = Vec::with_capacity(raw.faults.len());
        for (i, fault) in raw.faults.into_iter().enumerate() {
            faults.push(self.fault(
                fault,
                &path.key("faults").index(i),
                duration_s,
                column_families,
                &key_space,
            )?);
        }
        Ok(Phase {
            name: raw.name.unwrap_or_else(|| format!("phase {}", index + 1)),
            duration_s,
            warmup: raw.warmup,
            workloads,
            faults,
        })
    }

    fn workload(
        &self,
        raw: WorkloadFile,
        path: &FieldPath,
        column_families: &[String],
    ) -> Result<Workload, ScenarioError> {
        let kind = WorkloadKind::from_name(&raw.workload).ok_or_else(|| {
            self.r.at(
                &path.key("workload"),
                format!(
                    "unknown workload {:?}; one of: {}",
                    raw.workload,
                    WorkloadKind::ALL.map(WorkloadKind::name).join(", ")
                ),
            )
        })?;
        let cf = self.cf(&path.key("cf"), raw.cf, column_families)?;
        let key_space = raw.key_space.unwrap_or(100_000);
        if key_space == 0 || key_space > MAX_KEY_SPACE {
            return Err(self.r.at(
                &path.key("key_space"),
                format!("must be in 1..={MAX_KEY_SPACE}"),
            ));
        }
        let key_range = match raw.key_range {
            Some(range) => self.key_range(&path.key("key_range"), range, key_space)?,
            None => (0, key_space),
        };
        let value_size = self.sizes(
            &path.key("value_size"),
            raw.value_size,
            (100, 100),
            MAX_VALUE_BYTES,
        )?;
        let threads = raw.threads.unwrap_or(1);
        if !(1..=MAX_THREADS).contains(&threads) {
            return Err(self.r.at(
                &path.key("threads"),
                format!("must be in 1..={MAX_THREADS}"),
            ));
        }
        let rate = raw
            .rate
            .map(|r| self.positive(&path.key("rate"), r))
            .transpose()?;
        if raw.ops == Some(0) {
            return Err(self.r.at(&path.key("ops"), "must be at least 1"));
        }
        let scan_default = kind.default_scan_length();
        let scan = self.sizes(
            &path.key("scan_length"),
            raw.scan_length,
            scan_default,
            100_000,
        )?;
        Ok(Workload {
            kind,
            cf,
            key_space,
            key_range,
            value_size,
            threads,
            rate,
            ops: raw.ops,
            distribution: raw.distribution.unwrap_or(kind.default_distribution()),
            scan_length: (scan.min, scan.max),
        })
    }

    fn sizes(
        &self,
        path: &FieldPath,
        raw: Option<ValueSizeFile>,
        default: (u32, u32),
        max: u32,
    ) -> Result<ValueSize, ScenarioError> {
        let (min, hi) = match raw {
            None => default,
            Some(ValueSizeFile::Fixed(n)) => (n, n),
            Some(ValueSizeFile::Range([a, b])) => (a, b),
        };
        if min == 0 || hi > max || min > hi {
            return Err(self.r.at(
                path,
                format!("must be n or [min, max] with 1 <= min <= max <= {max}"),
            ));
        }
        Ok(ValueSize { min, max: hi })
    }

    fn fault(
        &self,
        mut table: toml::Table,
        path: &FieldPath,
        phase_duration: Option<f64>,
        column_families: &[String],
        key_space: &dyn Fn(&str) -> u64,
    ) -> Result<Fault, ScenarioError> {
        let kind = match table.remove("kind") {
            Some(toml::Value::String(kind)) => kind,
            Some(_) => return Err(self.r.at(&path.key("kind"), "must be a string")),
            None => {
                return Err(self.r.at(
                    path,
                    format!(
                        "missing field `kind` (one of: {})",
                        FaultKind::NAMES.join(", ")
                    ),
                ))
            }
        };
        let number = |table: &mut toml::Table, key: &str| -> Result<Option<f64>, ScenarioError> {
            match table.remove(key) {
                None => Ok(None),
                Some(toml::Value::Float(v)) => Ok(Some(v)),
                Some(toml::Value::Integer(v)) => Ok(Some(v as f64)),
                Some(_) => Err(self.r.at(&path.key(key), "must be a number of seconds")),
            }
        };
        let at_s = number(&mut table, "at_s")?.unwrap_or(0.0);
        if !(at_s.is_finite() && at_s >= 0.0) {
            return Err(self.r.at(&path.key("at_s"), "must be >= 0"));
        }
        if let Some(duration) = phase_duration {
            if at_s >= duration {
                return Err(self.r.at(
                    &path.key("at_s"),
                    format!("must be before the end of its phase ({duration} s)"),
                ));
            }
        }
        let duration_s = number(&mut table, "duration_s")?
            .map(|d| self.positive(&path.key("duration_s"), d))
            .transpose()?;
        // The rest of the table is the kind's own fields, deserialised strictly.
        let fields = toml::Value::Table(table);
        fn strict<T: serde::de::DeserializeOwned>(
            v: &Validator<'_, '_>,
            path: &FieldPath,
            kind: &str,
            fields: toml::Value,
        ) -> Result<T, ScenarioError> {
            fields.try_into().map_err(|e: toml::de::Error| {
                let message = toml_message(&e);
                // Name the offending field when serde says which.
                let field = message
                    .split('`')
                    .nth(1)
                    .filter(|_| message.contains("field"))
                    .map(str::to_owned);
                let target = match &field {
                    Some(field) => path.key(field),
                    None => path.clone(),
                };
                v.r.at(&target, format!("{kind}: {message}"))
            })
        }
        let kind = match kind.as_str() {
            "write_burst" => {
                let f: WriteBurstFile = strict(self, path, &kind, fields)?;
                if !(f.factor.is_finite() && f.factor > 0.0 && f.factor <= 1000.0) {
                    return Err(self.r.at(
                        &path.key("factor"),
                        "must be a rate multiplier in (0, 1000]",
                    ));
                }
                FaultKind::WriteBurst {
                    cf: self.optional_cf(&path.key("cf"), f.cf, column_families)?,
                    factor: f.factor,
                }
            }
            "working_set_shift" => {
                let f: WorkingSetShiftFile = strict(self, path, &kind, fields)?;
                let cf = self.optional_cf(&path.key("cf"), f.cf, column_families)?;
                let limit = key_space(cf.as_deref().unwrap_or("default"));
                FaultKind::WorkingSetShift {
                    key_range: self.key_range(&path.key("key_range"), f.key_range, limit)?,
                    cf,
                }
            }
            "compaction_starvation" => {
                let f: CompactionStarvationFile = strict(self, path, &kind, fields)?;
                let jobs = f.max_background_jobs.unwrap_or(1);
                self.tunable_value(
                    &path.key("max_background_jobs"),
                    Tunable::MaxBackgroundJobs,
                    jobs,
                )?;
                let threads = f.background_threads_low.unwrap_or(1);
                self.tunable_value(
                    &path.key("background_threads_low"),
                    Tunable::BackgroundThreadsLow,
                    threads,
                )?;
                FaultKind::CompactionStarvation {
                    cf: self.optional_cf(&path.key("cf"), f.cf, column_families)?,
                    max_background_jobs: jobs,
                    background_threads_low: threads,
                    disable_auto_compactions: f.disable_auto_compactions.unwrap_or(true),
                }
            }
            "delete_storm" => {
                let f: DeleteStormFile = strict(self, path, &kind, fields)?;
                let cf = self.cf(&path.key("cf"), f.cf, column_families)?;
                let limit = key_space(&cf);
                let threads = f.threads.unwrap_or(1);
                if !(1..=MAX_THREADS).contains(&threads) {
                    return Err(self.r.at(
                        &path.key("threads"),
                        format!("must be in 1..={MAX_THREADS}"),
                    ));
                }
                FaultKind::DeleteStorm {
                    key_range: self.key_range(&path.key("key_range"), f.key_range, limit)?,
                    cf,
                    rate: f
                        .rate
                        .map(|r| self.positive(&path.key("rate"), r))
                        .transpose()?,
                    threads,
                }
            }
            "sst_corruption" => {
                let f: SstCorruptionFile = strict(self, path, &kind, fields)?;
                let bytes = f.bytes.unwrap_or(64);
                if !(1..=1 << 20).contains(&bytes) {
                    return Err(self.r.at(&path.key("bytes"), "must be in 1..=1048576"));
                }
                if duration_s.is_some() {
                    return Err(self.r.at(
                        &path.key("duration_s"),
                        "sst_corruption is instantaneous: remove duration_s",
                    ));
                }
                FaultKind::SstCorruption {
                    cf: self.cf(&path.key("cf"), f.cf, column_families)?,
                    bytes,
                    compact: f.compact.unwrap_or(true),
                }
            }
            "misconfiguration" => {
                let f: MisconfigurationFile = strict(self, path, &kind, fields)?;
                if f.options.is_empty() && f.global.is_empty() {
                    return Err(self.r.at(
                        path,
                        "misconfiguration needs `options` (column-family) or `global` settings",
                    ));
                }
                let cf = self.optional_cf(&path.key("cf"), f.cf, column_families)?;
                let cf_changes = self.changes(&path.key("options"), &f.options, true)?;
                let global_changes = self.changes(&path.key("global"), &f.global, false)?;
                for cf_name in column_families {
                    if cf.as_deref().is_some_and(|c| c != cf_name) {
                        continue;
                    }
                    // The cross-option rules, against the options the CF opens with.
                    let mut merged = self.engine.cf_options_for(cf_name).tunables();
                    merged.extend(cf_changes.iter().copied());
                    if let Err(err) = lsmedic::telemetry::control::check_cf_rules(cf_name, &merged)
                    {
                        return Err(self.r.at(&path.key("options"), err.to_string()));
                    }
                }
                FaultKind::Misconfiguration {
                    cf,
                    cf_changes,
                    global_changes,
                }
            }
            other => {
                return Err(self.r.at(
                    &path.key("kind"),
                    format!(
                        "unknown fault kind {other:?}; one of: {}",
                        FaultKind::NAMES.join(", ")
                    ),
                ))
            }
        };
        Ok(Fault {
            at_s,
            duration_s,
            kind,
        })
    }

    fn tunable_value(
        &self,
        path: &FieldPath,
        tunable: Tunable,
        value: u64,
    ) -> Result<(), ScenarioError> {
        tunable
            .check(value)
            .map_err(|e| self.r.at(path, e.to_string()))
    }

    fn changes(
        &self,
        path: &FieldPath,
        values: &BTreeMap<String, toml::Value>,
        cf_scope: bool,
    ) -> Result<Vec<(Tunable, u64)>, ScenarioError> {
        let mut out = Vec::with_capacity(values.len());
        for (name, value) in values {
            let field = path.key(name);
            let tunable = Tunable::from_name(name)
                .ok_or_else(|| self.r.at(&field, format!("unknown option {name:?}")))?;
            let is_cf = tunable.scope() == TunableScope::Cf;
            if is_cf != cf_scope {
                let hint = if is_cf {
                    "it is a column-family option: put it under `options`"
                } else {
                    "it is a DB-wide option: put it under `global`"
                };
                return Err(self.r.at(&field, format!("{name}: {hint}")));
            }
            let text = match value {
                toml::Value::Integer(v) => v.to_string(),
                toml::Value::Boolean(v) => v.to_string(),
                _ => return Err(self.r.at(&field, "must be an integer (or a boolean)")),
            };
            let parsed = tunable
                .parse_value(&text)
                .map_err(|e| self.r.at(&field, e.to_string()))?;
            out.push((tunable, parsed));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "demo"
seed = 7

[engine]
max_background_jobs = 2
[engine.cf_options]
write_buffer_size = 4194304
[[engine.column_families]]
name = "events"

[[phases]]
name = "load"
warmup = true
[[phases.workloads]]
workload = "fillseq"
key_space = 1000
ops = 1000
value_size = [100, 200]

[[phases]]
duration_s = 10
[[phases.workloads]]
workload = "ycsb-a"
cf = "events"
key_space = 1000
rate = 500
threads = 2
[[phases.faults]]
kind = "write_burst"
at_s = 2
duration_s = 3
factor = 4
[[phases.faults]]
kind = "misconfiguration"
at_s = 5
cf = "events"
options = { write_buffer_size = 65536, level0_slowdown_writes_trigger = 20 }
global = { block_cache_capacity = 1048576 }
"#;

    fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        Scenario::parse(text, Path::new("test.toml"), "test")
    }

    #[test]
    fn a_good_file_parses_with_its_values() {
        let s = parse(GOOD).expect("parses");
        assert_eq!(s.name, "demo");
        assert_eq!(s.seed, 7);
        assert_eq!(s.engine.cf_options.write_buffer_size, 4 << 20);
        assert_eq!(s.phases.len(), 2);
        assert!(s.phases[0].warmup);
        assert_eq!(
            s.phases[0].workloads[0].value_size,
            ValueSize { min: 100, max: 200 }
        );
        let w = &s.phases[1].workloads[0];
        assert_eq!(
            (w.kind, w.cf.as_str(), w.threads),
            (WorkloadKind::YcsbA, "events", 2)
        );
        assert_eq!(w.distribution, Distribution::Zipfian);
        assert_eq!(s.phases[1].faults.len(), 2);
        match &s.phases[1].faults[1].kind {
            FaultKind::Misconfiguration {
                cf_changes,
                global_changes,
                ..
            } => {
                assert!(cf_changes.contains(&(Tunable::WriteBufferSize, 65536)));
                assert_eq!(
                    global_changes,
                    &vec![(Tunable::BlockCacheCapacity, 1 << 20)]
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(s.planned_seconds(), 10.0);
        assert_eq!(s.key_space("events"), 1000);
    }

    /// (mutated GOOD, text on the line the error must point at, field, words in the message)
    fn bad_cases() -> Vec<(String, &'static str, &'static str, &'static str)> {
        let replace = |from: &str, to: &str| {
            assert!(GOOD.contains(from), "{from}");
            GOOD.replacen(from, to, 1)
        };
        vec![
            (
                replace("factor = 4", "factor = -4"),
                "factor = -4",
                "phases[1].faults[0].factor",
                "multiplier",
            ),
            (
                replace("factor = 4", "factr = 4"),
                "factr = 4",
                "phases[1].faults[0].factr",
                "unknown field",
            ),
            (
                replace("rate = 500", "rate = 0"),
                "rate = 0",
                "phases[1].workloads[0].rate",
                "positive",
            ),
            (
                replace("rate = 500", "rate = \"fast\""),
                "rate = \"fast\"",
                "phases[1].workloads[0].rate",
                "invalid type",
            ),
            (
                replace("threads = 2", "thread = 2"),
                "thread = 2",
                "phases[1].workloads[0].thread",
                "unknown field",
            ),
            (
                replace("cf = \"events\"\nkey_space", "cf = \"evnts\"\nkey_space"),
                "cf = \"evnts\"",
                "phases[1].workloads[0].cf",
                "unknown column family",
            ),
            (
                replace("workload = \"ycsb-a\"", "workload = \"ycsb-z\""),
                "ycsb-z",
                "phases[1].workloads[0].workload",
                "unknown workload",
            ),
            (
                replace("write_buffer_size = 4194304", "write_buffer_size = 10"),
                "write_buffer_size = 10",
                "engine.cf_options.write_buffer_size",
                "must be in",
            ),
            (
                replace("max_background_jobs = 2", "max_backgroud_jobs = 2"),
                "max_backgroud_jobs",
                "engine.max_backgroud_jobs",
                "unknown field",
            ),
            (
                replace("kind = \"write_burst\"", "kind = \"meteor\""),
                "meteor",
                "phases[1].faults[0].kind",
                "unknown fault kind",
            ),
            (
                replace("at_s = 2\n", "at_s = 12\n"),
                "at_s = 12",
                "phases[1].faults[0].at_s",
                "before the end",
            ),
            (
                replace("write_buffer_size = 65536,", "write_bufer_size = 65536,"),
                "write_bufer_size = 65536",
                "phases[1].faults[1].options.write_bufer_size",
                "unknown option",
            ),
            (
                replace("block_cache_capacity", "write_buffer_size"),
                "global = ",
                "phases[1].faults[1].global.write_buffer_size",
                "column-family option",
            ),
            (
                replace(
                    "level0_slowdown_writes_trigger = 20",
                    "level0_slowdown_writes_trigger = 0",
                ),
                "level0_slowdown_writes_trigger = 0",
                "phases[1].faults[1].options.level0_slowdown_writes_trigger",
                "must be in",
            ),
            (
                replace("value_size = [100, 200]", "value_size = [300, 200]"),
                "value_size = [300, 200]",
                "phases[0].workloads[0].value_size",
                "min <= max",
            ),
            (
                replace("ops = 1000\n", ""),
                "[[phases.workloads]]",
                "phases[0].workloads[0]",
                "needs ops",
            ),
            (
                replace("duration_s = 10\n", "duration_s = 10\nspeed = 3\n"),
                "speed = 3",
                "phases[1].speed",
                "unknown field",
            ),
        ]
    }

    #[test]
    fn bad_files_name_the_line_and_the_field() {
        for (text, marker, field, words) in bad_cases() {
            let line = 1 + text
                .lines()
                .position(|l| l.contains(marker))
                .unwrap_or_else(|| panic!("marker {marker:?}"));
            let err = parse(&text).expect_err(field);
            assert_eq!(err.field.as_deref(), Some(field), "{err}");
            assert_eq!(err.line, Some(line), "{err}");
            assert!(err.message.contains(words), "{err} should say {words:?}");
            let shown = err.to_string();
            assert!(shown.starts_with(&format!("test.toml:{line}:")), "{shown}");
        }
    }

    #[test]
    fn syntax_errors_point_at_the_line() {
        let err = parse("name = \"x\"\n[[phases]]\nduration_s = = 3\n").unwrap_err();
        assert_eq!(err.line, Some(3), "{err}");
        let err = parse("name = \"x\"\n").unwrap_err();
        assert!(err.message.contains("at least one"), "{err}");
        // The TOML parser gives no message for a control character in a comment (found by
        // the `scenario_text` fuzz target); the error must still say something.
        let err = parse("# \u{1}\n").unwrap_err();
        assert_eq!(err.line, Some(1), "{err}");
        assert!(!err.message.is_empty(), "{err:?}");
    }

    #[test]
    fn out_of_range_times_and_rates_are_refused() {
        // Both made the runner panic (Duration overflow); found by the scenario_text fuzz target.
        let long =
            "[[phases]]\nduration_s = 1e300\n[[phases.workloads]]\nworkload = \"readrandom\"\n";
        let err = parse(long).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("phases[0].duration_s"), "{err}");
        let slow = "[[phases]]\nduration_s = 10\n[[phases.workloads]]\nworkload = \"readrandom\"\n\
                    threads = 2\nrate = 1e-300\n";
        let err = parse(slow).unwrap_err();
        assert_eq!(
            err.field.as_deref(),
            Some("phases[0].workloads[0].rate"),
            "{err}"
        );
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

            /// Whatever bytes come in, parsing returns (never panics), and an error's line
            /// lies inside the text.
            #[test]
            fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
                if let Err(err) = parse(&text) {
                    if let Some(line) = err.line {
                        prop_assert!(line >= 1 && line <= text.lines().count().max(1) + 1);
                    }
                }
            }

            /// Mutating one byte of a good file gives a scenario or an error with a position.
            #[test]
            fn one_byte_mutations_give_located_errors(pos in 0usize..GOOD.len(), byte in 0x20u8..0x7f) {
                let mut bytes = GOOD.as_bytes().to_vec();
                bytes[pos] = byte;
                if let Ok(text) = String::from_utf8(bytes) {
                    if let Err(err) = parse(&text) {
                        prop_assert!(err.line.is_some() || err.field.is_some(), "{}", err);
                    }
                }
            }

            /// Rates, thread counts and durations in range are accepted, out of range refused
            /// with the field named.
            #[test]
            fn numeric_fields_are_range_checked(rate in -10.0f64..1e6, threads in 0u32..100) {
                let text = GOOD
                    .replacen("rate = 500", &format!("rate = {rate:?}"), 1)
                    .replacen("threads = 2", &format!("threads = {threads}"), 1);
                match parse(&text) {
                    Ok(s) => {
                        prop_assert!(rate > 0.0 && (1..=MAX_THREADS).contains(&threads));
                        prop_assert_eq!(s.phases[1].workloads[0].threads, threads);
                    }
                    Err(err) => {
                        let field = err.field.unwrap_or_default();
                        prop_assert!(field.ends_with(".rate") || field.ends_with(".threads"), "{}", field);
                    }
                }
            }
        }
    }
}
