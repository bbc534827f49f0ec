//! Stage 2 of parsing: the meaning of a deserialised scenario file. Ranges, column families
//! that exist, fault fields, option names and values, the engine configuration; every error
//! names the field it is about (see [`super::span`]).

use std::collections::BTreeMap;

use lsmedic::engine::{EngineConfig, Error as EngineError, DEFAULT_CF};
use lsmedic::telemetry::{Tunable, TunableScope};

mod latent;

use super::schema::*;
use super::span::{toml_message, FieldPath, Reporter};
use super::{ScenarioError, MAX_KEY_SPACE, MAX_REPEAT, MAX_THREADS, MAX_VALUE_BYTES};
use crate::keygen::ValueSize;
use crate::workload::WorkloadKind;

/// Smallest duration (s) or rate (ops/s) a scenario may give: an op every 1000 s at most.
const MIN_POSITIVE: f64 = 1e-3;
/// Largest duration (s) or rate (ops/s) a scenario may give (~31 years; 1e9 ops/s).
const MAX_POSITIVE: f64 = 1e9;

/// Validates `raw`, read from the file `reporter` locates errors in.
pub(super) fn scenario(
    reporter: &Reporter<'_>,
    raw: ScenarioFile,
    default_name: &str,
) -> Result<Scenario, ScenarioError> {
    Validator {
        r: reporter,
        engine: raw.engine.clone(),
    }
    .scenario(raw, default_name)
}

/// Checks one scenario file; `engine` is its engine configuration, against which faults
/// that change options are checked.
struct Validator<'a, 'b> {
    r: &'a Reporter<'b>,
    engine: EngineConfig,
}

/// Where a fault is and what it may refer to.
struct FaultSite<'a> {
    /// `phases[i].faults[j]`.
    path: &'a FieldPath,
    /// Every column family of the scenario.
    column_families: &'a [String],
    /// The key space of a column family in the fault's phase.
    key_space: &'a dyn Fn(&str) -> u64,
}

fn root() -> FieldPath {
    FieldPath::root()
}

impl Validator<'_, '_> {
    fn scenario(&self, raw: ScenarioFile, default_name: &str) -> Result<Scenario, ScenarioError> {
        self.engine(&raw.engine)?;
        let column_families: Vec<String> = std::iter::once(DEFAULT_CF.to_owned())
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
        let repeat = raw.repeat.unwrap_or(1);
        if !(1..=MAX_REPEAT).contains(&repeat) {
            return Err(self.r.at(
                &root().key("repeat"),
                format!("must be in 1..={MAX_REPEAT}, got {repeat}"),
            ));
        }
        self.value_size_classes(&phases, &column_families)?;
        self.disk_full_space(&phases)?;
        // Unless the file says, a scenario whose every fault changes options is `config`.
        let faults = || phases.iter().flat_map(|p: &Phase| &p.faults);
        let family = raw.family.unwrap_or(
            if faults().next().is_some() && faults().all(|f| f.kind.is_option_change()) {
                Family::Config
            } else {
                Family::Latent
            },
        );
        let name = raw.name.unwrap_or_else(|| default_name.to_owned());
        if name.trim().is_empty() {
            return Err(self.r.at(&root().key("name"), "must not be empty"));
        }
        Ok(Scenario {
            name,
            description: raw.description.unwrap_or_default(),
            seed: raw.seed.unwrap_or(42),
            repeat,
            family,
            engine: raw.engine,
            phases,
            sampling: super::Sampling::default(),
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
                    Some(DEFAULT_CF) => option_path(base.key("cf_options")),
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
        let cf = cf.unwrap_or_else(|| DEFAULT_CF.to_owned());
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
            let site = FaultSite {
                path: &path.key("faults").index(i),
                column_families,
                key_space: &key_space,
            };
            faults.push(self.fault(fault, &site, duration_s)?);
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

    /// One `[[phases.faults]]` table: the timing every fault has, then the fields of its
    /// kind, deserialised strictly and checked by the kind's own step.
    fn fault(
        &self,
        mut table: toml::Table,
        site: &FaultSite<'_>,
        phase_duration: Option<f64>,
    ) -> Result<Fault, ScenarioError> {
        let path = site.path;
        let kind = self.fault_kind(&mut table, path)?;
        let (at_s, duration_s) = self.fault_timing(&mut table, path, phase_duration)?;
        // The rest of the table is the kind's own fields.
        let fields = toml::Value::Table(table);
        let kind = match kind.as_str() {
            "write_burst" => self.write_burst(site, self.strict(path, &kind, fields)?)?,
            "working_set_shift" => {
                self.working_set_shift(site, self.strict(path, &kind, fields)?)?
            }
            "compaction_starvation" => {
                self.compaction_starvation(site, self.strict(path, &kind, fields)?)?
            }
            "delete_storm" => self.delete_storm(site, self.strict(path, &kind, fields)?)?,
            "sst_corruption" => {
                self.sst_corruption(site, self.strict(path, &kind, fields)?, duration_s)?
            }
            "misconfiguration" => self.misconfiguration(site, self.strict(path, &kind, fields)?)?,
            "io_hog" => self.io_hog(site, self.strict(path, &kind, fields)?)?,
            "cpu_hog" => self.cpu_hog(site, self.strict(path, &kind, fields)?)?,
            "write_ramp" => self.write_ramp(site, self.strict(path, &kind, fields)?, duration_s)?,
            "value_size_shift" => self.value_size_shift(site, self.strict(path, &kind, fields)?)?,
            "skew_shift" => self.skew_shift(site, self.strict(path, &kind, fields)?)?,
            "scan_storm" => self.scan_storm(site, self.strict(path, &kind, fields)?)?,
            "range_delete_retention" => {
                self.range_delete_retention(site, self.strict(path, &kind, fields)?)?
            }
            "disk_full" => self.disk_full(site, self.strict(path, &kind, fields)?, duration_s)?,
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
        // A held ramp keeps its last rate to the end of the run: the fault lasts that long.
        let duration_s = match kind {
            FaultKind::WriteRamp { hold: true, .. } => None,
            _ => duration_s,
        };
        Ok(Fault {
            at_s,
            duration_s,
            kind,
        })
    }

    /// Takes `kind` out of a fault table.
    fn fault_kind(
        &self,
        table: &mut toml::Table,
        path: &FieldPath,
    ) -> Result<String, ScenarioError> {
        match table.remove("kind") {
            Some(toml::Value::String(kind)) => Ok(kind),
            Some(_) => Err(self.r.at(&path.key("kind"), "must be a string")),
            None => Err(self.r.at(
                path,
                format!(
                    "missing field `kind` (one of: {})",
                    FaultKind::NAMES.join(", ")
                ),
            )),
        }
    }

    /// Takes `at_s` (within its phase) and `duration_s` out of a fault table.
    fn fault_timing(
        &self,
        table: &mut toml::Table,
        path: &FieldPath,
        phase_duration: Option<f64>,
    ) -> Result<(f64, Option<f64>), ScenarioError> {
        let mut seconds = |key: &str| -> Result<Option<f64>, ScenarioError> {
            match table.remove(key) {
                None => Ok(None),
                Some(toml::Value::Float(v)) => Ok(Some(v)),
                Some(toml::Value::Integer(v)) => Ok(Some(v as f64)),
                Some(_) => Err(self.r.at(&path.key(key), "must be a number of seconds")),
            }
        };
        let at_s = seconds("at_s")?.unwrap_or(0.0);
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
        let duration_s = seconds("duration_s")?
            .map(|d| self.positive(&path.key("duration_s"), d))
            .transpose()?;
        Ok((at_s, duration_s))
    }

    /// Deserialises the fields of a fault of `kind` strictly (unknown fields refused), naming
    /// the offending field when serde says which.
    fn strict<T: serde::de::DeserializeOwned>(
        &self,
        path: &FieldPath,
        kind: &str,
        fields: toml::Value,
    ) -> Result<T, ScenarioError> {
        fields.clone().try_into().map_err(|e: toml::de::Error| {
            let message = toml_message(&e);
            let field = message
                .split('`')
                .nth(1)
                .filter(|_| message.contains("field"))
                .map(str::to_owned)
                .or_else(|| Self::mistyped_field::<T>(&fields));
            let target = match &field {
                Some(field) => path.key(field),
                None => path.clone(),
            };
            self.r.at(&target, format!("{kind}: {message}"))
        })
    }

    /// The field of `fields` a type error is about (serde does not name it): the one whose
    /// removal makes the table deserialise, or leaves only its own absence to complain of.
    fn mistyped_field<T: serde::de::DeserializeOwned>(fields: &toml::Value) -> Option<String> {
        let table = fields.as_table()?;
        table.keys().find_map(|key| {
            let mut without = table.clone();
            without.remove(key);
            match toml::Value::Table(without).try_into::<T>() {
                Ok(_) => Some(key.clone()),
                Err(e) if toml_message(&e).contains(&format!("missing field `{key}`")) => {
                    Some(key.clone())
                }
                Err(_) => None,
            }
        })
    }

    fn write_burst(
        &self,
        site: &FaultSite<'_>,
        f: WriteBurstFile,
    ) -> Result<FaultKind, ScenarioError> {
        let path = site.path;
        if !(f.factor.is_finite() && f.factor > 0.0 && f.factor <= 1000.0) {
            return Err(self.r.at(
                &path.key("factor"),
                "must be a rate multiplier in (0, 1000]",
            ));
        }
        Ok(FaultKind::WriteBurst {
            cf: self.optional_cf(&path.key("cf"), f.cf, site.column_families)?,
            factor: f.factor,
        })
    }

    fn working_set_shift(
        &self,
        site: &FaultSite<'_>,
        f: WorkingSetShiftFile,
    ) -> Result<FaultKind, ScenarioError> {
        let path = site.path;
        let cf = self.optional_cf(&path.key("cf"), f.cf, site.column_families)?;
        let limit = (site.key_space)(cf.as_deref().unwrap_or(DEFAULT_CF));
        Ok(FaultKind::WorkingSetShift {
            key_range: self.key_range(&path.key("key_range"), f.key_range, limit)?,
            cf,
        })
    }

    fn compaction_starvation(
        &self,
        site: &FaultSite<'_>,
        f: CompactionStarvationFile,
    ) -> Result<FaultKind, ScenarioError> {
        let path = site.path;
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
        Ok(FaultKind::CompactionStarvation {
            cf: self.optional_cf(&path.key("cf"), f.cf, site.column_families)?,
            max_background_jobs: jobs,
            background_threads_low: threads,
            disable_auto_compactions: f.disable_auto_compactions.unwrap_or(true),
        })
    }

    fn delete_storm(
        &self,
        site: &FaultSite<'_>,
        f: DeleteStormFile,
    ) -> Result<FaultKind, ScenarioError> {
        let path = site.path;
        let cf = self.cf(&path.key("cf"), f.cf, site.column_families)?;
        let limit = (site.key_space)(&cf);
        let threads = f.threads.unwrap_or(1);
        if !(1..=MAX_THREADS).contains(&threads) {
            return Err(self.r.at(
                &path.key("threads"),
                format!("must be in 1..={MAX_THREADS}"),
            ));
        }
        Ok(FaultKind::DeleteStorm {
            key_range: self.key_range(&path.key("key_range"), f.key_range, limit)?,
            cf,
            rate: f
                .rate
                .map(|r| self.positive(&path.key("rate"), r))
                .transpose()?,
            threads,
        })
    }

    fn sst_corruption(
        &self,
        site: &FaultSite<'_>,
        f: SstCorruptionFile,
        duration_s: Option<f64>,
    ) -> Result<FaultKind, ScenarioError> {
        let path = site.path;
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
        Ok(FaultKind::SstCorruption {
            cf: self.cf(&path.key("cf"), f.cf, site.column_families)?,
            bytes,
            compact: f.compact.unwrap_or(true),
        })
    }

    fn misconfiguration(
        &self,
        site: &FaultSite<'_>,
        f: MisconfigurationFile,
    ) -> Result<FaultKind, ScenarioError> {
        let path = site.path;
        if f.options.is_empty() && f.global.is_empty() {
            return Err(self.r.at(
                path,
                "misconfiguration needs `options` (column-family) or `global` settings",
            ));
        }
        let cf = self.optional_cf(&path.key("cf"), f.cf, site.column_families)?;
        let cf_changes = self.changes(&path.key("options"), &f.options, true)?;
        let global_changes = self.changes(&path.key("global"), &f.global, false)?;
        for cf_name in site.column_families {
            if cf.as_deref().is_some_and(|c| c != cf_name) {
                continue;
            }
            // The cross-option rules, against the options the CF opens with.
            let mut merged = self.engine.cf_options_for(cf_name).tunables();
            merged.extend(cf_changes.iter().copied());
            if let Err(err) = lsmedic::telemetry::control::check_cf_rules(cf_name, &merged) {
                return Err(self.r.at(&path.key("options"), err.to_string()));
            }
        }
        Ok(FaultKind::Misconfiguration {
            cf,
            cf_changes,
            global_changes,
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
