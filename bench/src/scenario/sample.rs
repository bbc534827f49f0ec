//! Randomised scenario fields: a number written as `{ min = .., max = .. }`, drawn anew for
//! every seed, so the repeats of a scenario vary fault onsets and sizes instead of replaying
//! one timeline.
//!
//! A file with ranges is kept as its text plus the ranges found in it. An instance for a seed
//! is that text with each range replaced by a drawn number, parsed and validated exactly like
//! a file without ranges; its errors are located in the original text (the field paths are
//! the same, and byte offsets are mapped back across the replaced ranges). Each range has its
//! own generator, seeded from the seed and its field path, so adding a range elsewhere in the
//! file does not move the values drawn for the others.
//!
//! Ranges are allowed at a workload's `rate` and `value_size` and at every field of a fault
//! but `kind`, `cf`, `options` and `global` (whatever the fault kind: its own validation says
//! whether a number fits there). A `{ min, max }` table anywhere else is refused.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use toml_edit::{Item, TableLike, Value};

use super::span::{FieldPath, Reporter};
use super::{Scenario, ScenarioError};
use crate::keygen::{mix64, Rng};

/// Where ranges may be written, for errors about one written elsewhere.
const WHERE_ALLOWED: &str = "a `{ min, max }` range is allowed only at a workload's `rate` or \
                             `value_size` and at a fault's `at_s`, `duration_s` and numeric \
                             fields (not `kind`, `cf`, `options` or `global`)";

/// Fields of a fault table that never take a range: names, and the option tables of
/// `misconfiguration` (whose cross-option rules a per-field draw could break).
const FAULT_FIELDS_WITHOUT_RANGES: [&str; 4] = ["kind", "cf", "options", "global"];

/// Fields of a workload that take a range.
const WORKLOAD_FIELDS_WITH_RANGES: [&str; 2] = ["rate", "value_size"];

/// A value drawn from a range: an integer when both bounds are integers, else a float.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Sampled {
    /// From a range with integer bounds.
    Integer(i64),
    /// From a range with a float bound.
    Float(f64),
}

impl fmt::Display for Sampled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sampled::Integer(v) => write!(f, "{v}"),
            // `{:?}` keeps the point (`10.0`), so a float range reads as one.
            Sampled::Float(v) => write!(f, "{v:?}"),
        }
    }
}

impl Sampled {
    /// The value as TOML source (floats keep every digit, so the text round-trips).
    fn toml(self) -> String {
        match self {
            Sampled::Integer(v) => v.to_string(),
            Sampled::Float(v) => format!("{v:?}"),
        }
    }
}

/// The bounds of one range, checked: `min <= max`, both finite.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Bounds {
    /// Both bounds integers: draws are integers in `[min, max]`.
    Integer(i64, i64),
    /// A float bound: draws are floats in `[min, max]`.
    Float(f64, f64),
}

/// One `{ min, max }` range of a scenario text.
#[derive(Clone, Debug)]
pub(super) struct NumberRange {
    /// The field it stands for, as shown in errors and reports.
    path: String,
    /// Bytes of the inline table in the text.
    span: Range<usize>,
    bounds: Bounds,
}

/// Which value every range of an instance takes.
#[derive(Clone, Copy, Debug)]
enum Draw {
    /// Its minimum (the load-time check).
    Min,
    /// Its maximum (the load-time check).
    Max,
    /// A value drawn for this seed.
    Seed(u64),
}

impl NumberRange {
    fn value(&self, draw: Draw) -> Sampled {
        match (self.bounds, draw) {
            (Bounds::Integer(min, _), Draw::Min) => Sampled::Integer(min),
            (Bounds::Integer(_, max), Draw::Max) => Sampled::Integer(max),
            (Bounds::Float(min, _), Draw::Min) => Sampled::Float(min),
            (Bounds::Float(_, max), Draw::Max) => Sampled::Float(max),
            (Bounds::Integer(min, max), Draw::Seed(seed)) => {
                let mut rng = self.rng(seed);
                // Inclusive width − 1; the full i64 span does not fit `below`'s argument.
                let span = (i128::from(max) - i128::from(min)) as u128;
                let offset = if span >= u128::from(u64::MAX) {
                    rng.next_u64()
                } else {
                    rng.below(span as u64 + 1)
                };
                Sampled::Integer((i128::from(min) + i128::from(offset)) as i64)
            }
            (Bounds::Float(min, max), Draw::Seed(seed)) => {
                let u = self.rng(seed).next_f64();
                // A weighted mean never overflows, and the clamp absorbs its rounding.
                Sampled::Float((min * (1.0 - u) + max * u).clamp(min, max))
            }
        }
    }

    /// The generator of this range for `seed`: seeded from the seed and the field path only.
    fn rng(&self, seed: u64) -> Rng {
        let path = self
            .path
            .bytes()
            .fold(0x7261_6e67_6573_u64, |h, b| mix64(h ^ u64::from(b)));
        Rng::new(mix64(seed ^ path))
    }

    /// Whether an error about `field` is about this range (the field or one inside it).
    fn covers(&self, field: &str) -> bool {
        field
            .strip_prefix(self.path.as_str())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
    }
}

/// A scenario text with ranges, from which instances are made.
struct Template {
    text: String,
    file: PathBuf,
    default_name: String,
    ranges: Vec<NumberRange>,
}

/// The ranges of a scenario file and the values drawn for one instance of it; the default
/// (no ranges, nothing drawn) is what a scenario without ranges has.
#[derive(Clone, Default)]
pub struct Sampling {
    template: Option<Arc<Template>>,
    values: Vec<(String, Sampled)>,
}

impl Sampling {
    /// The values drawn for this instance, as (field path, value), in file order.
    pub fn values(&self) -> &[(String, Sampled)] {
        &self.values
    }

    /// Every range of the file, as (field path, min, max), in file order.
    pub fn ranges(&self) -> Vec<(String, Sampled, Sampled)> {
        self.template.as_ref().map_or_else(Vec::new, |template| {
            template
                .ranges
                .iter()
                .map(|r| (r.path.clone(), r.value(Draw::Min), r.value(Draw::Max)))
                .collect()
        })
    }
}

impl fmt::Debug for Sampling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sampling")
            .field("ranges", &self.ranges())
            .field("values", &self.values)
            .finish()
    }
}

/// Loads a text with `ranges` (found by [`find_ranges`], at least one): checks the
/// instances with every range at its minimum and at its maximum, and returns the instance at
/// the scenario's own seed.
pub(super) fn load(
    text: &str,
    file: &Path,
    default_name: &str,
    ranges: Vec<NumberRange>,
) -> Result<Scenario, ScenarioError> {
    let template = Arc::new(Template {
        text: text.to_owned(),
        file: file.to_owned(),
        default_name: default_name.to_owned(),
        ranges,
    });
    let lowest = instance(&template, Draw::Min)?;
    instance(&template, Draw::Max)?;
    instance(&template, Draw::Seed(lowest.seed))
}

/// The scenario as drawn for `seed` (`seed` becomes its seed); a clone with the seed set
/// when it has no ranges.
pub(super) fn instantiate(scenario: &Scenario, seed: u64) -> Result<Scenario, ScenarioError> {
    match &scenario.sampling.template {
        Some(template) => instance(template, Draw::Seed(seed)),
        None => Ok(Scenario {
            seed,
            ..scenario.clone()
        }),
    }
}

/// Parses and validates the template's text with every range replaced as `draw` says.
fn instance(template: &Arc<Template>, draw: Draw) -> Result<Scenario, ScenarioError> {
    let values: Vec<(String, Sampled)> = template
        .ranges
        .iter()
        .map(|r| (r.path.clone(), r.value(draw)))
        .collect();
    let edits = Edits::new(&template.text, &template.ranges, &values);
    let text = edits.apply(&template.text);
    let reporter = Reporter::new(&template.file, &template.text);
    let mut scenario = super::build(
        &reporter,
        &text,
        &|offset| edits.to_original(offset),
        &template.default_name,
    )
    .map_err(|err| explain(&template.ranges, draw, err))?;
    if let Draw::Seed(seed) = draw {
        scenario.seed = seed;
    }
    scenario.sampling = Sampling {
        template: Some(Arc::clone(template)),
        values,
    };
    Ok(scenario)
}

/// Says which draw an error came from, when the error is about a range (a drawn value that
/// does not fit); an error elsewhere in a load-time check is about the text as written.
fn explain(ranges: &[NumberRange], draw: Draw, mut err: ScenarioError) -> ScenarioError {
    let about_a_range = err
        .field
        .as_deref()
        .is_some_and(|field| ranges.iter().any(|r| r.covers(field)));
    let context = match draw {
        Draw::Min if about_a_range => "with every range at its minimum".to_owned(),
        Draw::Max if about_a_range => "with every range at its maximum".to_owned(),
        Draw::Min | Draw::Max => return err,
        Draw::Seed(seed) => format!("with the ranges drawn for seed {seed}"),
    };
    err.message = format!("{context}: {}", err.message);
    err
}

/// The replacement of each range by its value, and the byte offsets it moves.
struct Edits {
    /// (span in the original text, replacement), in text order.
    replaced: Vec<(Range<usize>, String)>,
}

impl Edits {
    /// Each range of `text` replaced by its value; a range written over several lines keeps
    /// its line breaks (after the value), so every later line keeps its number.
    fn new(text: &str, ranges: &[NumberRange], values: &[(String, Sampled)]) -> Edits {
        let mut replaced: Vec<(Range<usize>, String)> = ranges
            .iter()
            .zip(values)
            .map(|(range, (_, value))| {
                let mut replacement = value.toml();
                replacement.extend(text[range.span.clone()].matches('\n'));
                (range.span.clone(), replacement)
            })
            .collect();
        replaced.sort_by_key(|(span, _)| span.start);
        Edits { replaced }
    }

    /// The text with every range replaced.
    fn apply(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for (span, replacement) in &self.replaced {
            out.push_str(&text[at..span.start]);
            out.push_str(replacement);
            at = span.end;
        }
        out.push_str(&text[at..]);
        out
    }

    /// The offset in the original text of `offset` in the edited one (inside a replaced
    /// value: the start of its range).
    fn to_original(&self, offset: usize) -> usize {
        // original = edited − shift, shift being what the edits before `offset` added.
        let mut shift: isize = 0;
        for (span, replacement) in &self.replaced {
            let start = span.start.saturating_add_signed(shift);
            if offset < start {
                break;
            }
            if offset < start + replacement.len() {
                return span.start;
            }
            shift += replacement.len() as isize - span.len() as isize;
        }
        offset.saturating_add_signed(-shift)
    }
}

/// Finds every `{ min, max }` range of `text`, checked; an error for a malformed range or one
/// at a field that takes none. A text that does not parse has none (the parser says why).
pub(super) fn find_ranges(
    text: &str,
    reporter: &Reporter<'_>,
) -> Result<Vec<NumberRange>, ScenarioError> {
    let Ok(doc) = toml_edit::Document::parse(text) else {
        return Ok(Vec::new());
    };
    let mut finder = Finder {
        r: reporter,
        found: Vec::new(),
    };
    for (key, item) in doc.as_table().iter() {
        let path = FieldPath::root().key(key);
        if key == "phases" {
            finder.phases(item, &path)?;
        } else {
            finder.refuse(item, &path)?;
        }
    }
    Ok(finder.found)
}

/// Walks a parsed scenario, collecting ranges where they are allowed and refusing them
/// elsewhere.
struct Finder<'a, 'b> {
    r: &'a Reporter<'b>,
    found: Vec<NumberRange>,
}

impl Finder<'_, '_> {
    fn phases(&mut self, item: &Item, path: &FieldPath) -> Result<(), ScenarioError> {
        for (i, phase) in tables(item) {
            let phase_path = path.index(i);
            for (key, item) in phase.iter() {
                let child = phase_path.key(key);
                match key {
                    "workloads" => self.entries(item, &child, |field| {
                        WORKLOAD_FIELDS_WITH_RANGES.contains(&field)
                    })?,
                    "faults" => self.entries(item, &child, |field| {
                        !FAULT_FIELDS_WITHOUT_RANGES.contains(&field)
                    })?,
                    _ => self.refuse(item, &child)?,
                }
            }
        }
        Ok(())
    }

    /// The workloads or faults of a phase: a field `allowed` names may be a range.
    fn entries(
        &mut self,
        item: &Item,
        path: &FieldPath,
        allowed: fn(&str) -> bool,
    ) -> Result<(), ScenarioError> {
        for (i, entry) in tables(item) {
            let entry_path = path.index(i);
            for (key, item) in entry.iter() {
                let child = entry_path.key(key);
                match item.as_table_like() {
                    Some(table) if allowed(key) && is_range_like(table) => {
                        self.range(item, table, &child)?;
                    }
                    _ => self.refuse(item, &child)?,
                }
            }
        }
        Ok(())
    }

    /// Checks the range at `path` and keeps it.
    fn range(
        &mut self,
        item: &Item,
        table: &dyn TableLike,
        path: &FieldPath,
    ) -> Result<(), ScenarioError> {
        let span = match (item, item.span()) {
            (Item::Value(Value::InlineTable(_)), Some(span)) => span,
            _ => {
                return Err(self.r.at(
                    path,
                    "write a range inline, as `field = { min = .., max = .. }`",
                ))
            }
        };
        if let Some((key, _)) = table.iter().find(|(k, _)| !matches!(*k, "min" | "max")) {
            return Err(self.r.at(
                &path.key(key),
                format!("a range has only `min` and `max`, not `{key}`"),
            ));
        }
        let min = self.bound(table, path, "min")?;
        let max = self.bound(table, path, "max")?;
        let bounds = match (min, max) {
            (Sampled::Integer(min), Sampled::Integer(max)) => Bounds::Integer(min, max),
            (min, max) => Bounds::Float(as_f64(min), as_f64(max)),
        };
        let empty = match bounds {
            Bounds::Integer(min, max) => min > max,
            Bounds::Float(min, max) => min > max,
        };
        if empty {
            return Err(self.r.at(
                path,
                format!("empty range: min ({min}) is greater than max ({max})"),
            ));
        }
        self.found.push(NumberRange {
            path: path.to_string(),
            span,
            bounds,
        });
        Ok(())
    }

    /// `min` or `max` of a range: a finite number.
    fn bound(
        &self,
        table: &dyn TableLike,
        path: &FieldPath,
        key: &str,
    ) -> Result<Sampled, ScenarioError> {
        let value = match table.get(key) {
            None => {
                return Err(self.r.at(
                    path,
                    format!("a range needs both `min` and `max`: `{key}` is missing"),
                ))
            }
            Some(item) => item,
        };
        match (value.as_integer(), value.as_float()) {
            (Some(v), _) => Ok(Sampled::Integer(v)),
            (None, Some(v)) if v.is_finite() => Ok(Sampled::Float(v)),
            _ => Err(self
                .r
                .at(&path.key(key), format!("`{key}` must be a finite number"))),
        }
    }

    /// Anything where no range is allowed: refuses a `{ min, max }` table in it.
    fn refuse(&self, item: &Item, path: &FieldPath) -> Result<(), ScenarioError> {
        match item {
            Item::Value(value) => self.refuse_value(value, path),
            Item::Table(table) => self.refuse_table(table, path),
            Item::ArrayOfTables(tables) => {
                for (i, table) in tables.iter().enumerate() {
                    self.refuse_table(table, &path.index(i))?;
                }
                Ok(())
            }
            Item::None => Ok(()),
        }
    }

    fn refuse_value(&self, value: &Value, path: &FieldPath) -> Result<(), ScenarioError> {
        match value {
            Value::InlineTable(table) => self.refuse_table(table, path),
            Value::Array(array) => {
                for (i, element) in array.iter().enumerate() {
                    self.refuse_value(element, &path.index(i))?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn refuse_table(&self, table: &dyn TableLike, path: &FieldPath) -> Result<(), ScenarioError> {
        if !table.is_empty() && table.iter().all(|(k, _)| matches!(k, "min" | "max")) {
            return Err(self.r.at(path, WHERE_ALLOWED));
        }
        for (key, item) in table.iter() {
            self.refuse(item, &path.key(key))?;
        }
        Ok(())
    }
}

/// A table meant as a range: it has `min` or `max`.
fn is_range_like(table: &dyn TableLike) -> bool {
    table.contains_key("min") || table.contains_key("max")
}

fn as_f64(value: Sampled) -> f64 {
    match value {
        Sampled::Integer(v) => v as f64,
        Sampled::Float(v) => v,
    }
}

/// The tables of an array of tables (`[[phases]]`) or of an inline array, with their index
/// (elements that are not tables are skipped: the deserialiser refuses them).
fn tables(item: &Item) -> Vec<(usize, &dyn TableLike)> {
    match item {
        Item::ArrayOfTables(tables) => tables
            .iter()
            .enumerate()
            .map(|(i, t)| (i, t as &dyn TableLike))
            .collect(),
        Item::Value(Value::Array(array)) => array
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.as_inline_table().map(|t| (i, t as &dyn TableLike)))
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keygen::ValueSize;
    use crate::scenario::FaultKind;

    /// A load phase, then a measured phase with a ranged workload and ranged faults.
    const RANGED: &str = r#"
name = "ranged"
seed = 7

[[phases]]
name = "load"
warmup = true
[[phases.workloads]]
workload = "fillseq"
key_space = 1000
ops = 1000

[[phases]]
duration_s = 20
[[phases.workloads]]
workload = "ycsb-a"
key_space = 1000
rate = { min = 100.0, max = 1000.0 }
value_size = { min = 100, max = 1000 }
threads = 2
[[phases.faults]]
kind = "write_burst"
at_s = { min = 2.5, max = 12.5 }
duration_s = { min = 1, max = 5 }
factor = { min = 2, max = 8 }
[[phases.faults]]
kind = "misconfiguration"
at_s = 5
options = { write_buffer_size = 65536 }
"#;

    fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        Scenario::parse(text, Path::new("test.toml"), "test")
    }

    fn value(s: &Scenario, path: &str) -> Sampled {
        s.sampled()
            .iter()
            .find(|(p, _)| p == path)
            .unwrap_or_else(|| panic!("{path} not drawn: {:?}", s.sampled()))
            .1
    }

    fn float(v: Sampled) -> f64 {
        match v {
            Sampled::Float(v) => v,
            Sampled::Integer(v) => panic!("integer {v} from a float range"),
        }
    }

    fn integer(v: Sampled) -> i64 {
        match v {
            Sampled::Integer(v) => v,
            Sampled::Float(v) => panic!("float {v} from an integer range"),
        }
    }

    #[test]
    fn draws_are_deterministic_per_seed_and_differ_across_seeds() {
        let s = parse(RANGED).expect("parses");
        let mut onsets = Vec::new();
        for seed in 0..64 {
            let a = s.instantiate(seed).unwrap();
            let b = s.instantiate(seed).unwrap();
            assert_eq!(a.sampled(), b.sampled(), "seed {seed}");
            assert_eq!(a.seed, seed);
            onsets.push(float(value(&a, "phases[1].faults[0].at_s")));
        }
        let mut distinct = onsets.clone();
        distinct.sort_by(f64::total_cmp);
        distinct.dedup();
        assert!(distinct.len() > 60, "{onsets:?}");
        // Spread over the range, not bunched at one end.
        assert!(
            distinct[0] < 4.0 && distinct[distinct.len() - 1] > 11.0,
            "{distinct:?}"
        );
    }

    #[test]
    fn drawn_values_stay_in_range_and_reach_the_scenario() {
        let s = parse(RANGED).unwrap();
        for seed in 0..200 {
            let i = s.instantiate(seed).unwrap();
            assert_eq!(i.sampled().len(), 5, "{:?}", i.sampled());
            let fault = &i.phases[1].faults[0];
            let at_s = float(value(&i, "phases[1].faults[0].at_s"));
            assert!((2.5..=12.5).contains(&at_s), "{at_s}");
            assert_eq!(fault.at_s, at_s);
            let duration = integer(value(&i, "phases[1].faults[0].duration_s"));
            assert!((1..=5).contains(&duration));
            assert_eq!(fault.duration_s, Some(duration as f64));
            let factor = integer(value(&i, "phases[1].faults[0].factor"));
            assert!((2..=8).contains(&factor));
            match fault.kind {
                FaultKind::WriteBurst { factor: f, .. } => assert_eq!(f, factor as f64),
                ref other => panic!("{other:?}"),
            }
            let w = &i.phases[1].workloads[0];
            let rate = float(value(&i, "phases[1].workloads[0].rate"));
            assert!((100.0..=1000.0).contains(&rate));
            assert_eq!(w.rate, Some(rate));
            let size = integer(value(&i, "phases[1].workloads[0].value_size"));
            assert!((100..=1000).contains(&size));
            assert_eq!(
                w.value_size,
                ValueSize::fixed(size as u32),
                "one size per seed"
            );
            // Untouched fields are as written.
            assert_eq!(i.phases[1].faults[1].at_s, 5.0);
            assert_eq!(w.threads, 2);
        }
    }

    #[test]
    fn parse_gives_the_instance_of_the_scenario_seed() {
        let s = parse(RANGED).unwrap();
        assert_eq!(s.seed, 7);
        assert_eq!(s.sampled(), s.instantiate(7).unwrap().sampled());
        let ranges = s.sampling.ranges();
        assert_eq!(ranges.len(), 5);
        assert_eq!(
            ranges[0],
            (
                "phases[1].workloads[0].rate".to_owned(),
                Sampled::Float(100.0),
                Sampled::Float(1000.0)
            )
        );
    }

    #[test]
    fn a_new_range_does_not_move_the_draws_of_the_others() {
        let one = parse(RANGED).unwrap();
        let more =
            parse(&RANGED.replace("threads = 2", "threads = 2\nops = { min = 10, max = 99 }"));
        // `ops` takes no range; use a fault field instead.
        assert!(more.is_err());
        let more = parse(&RANGED.replace(
            "options = { write_buffer_size = 65536 }",
            "options = { write_buffer_size = 65536 }\nduration_s = { min = 1.0, max = 3.0 }",
        ))
        .unwrap();
        for seed in [1, 2, 3, 99] {
            let a = one.instantiate(seed).unwrap();
            let b = more.instantiate(seed).unwrap();
            assert_eq!(b.sampled().len(), a.sampled().len() + 1);
            for (path, v) in a.sampled() {
                assert_eq!(value(&b, path), *v, "{path}");
            }
        }
    }

    #[test]
    fn a_scenario_without_ranges_instantiates_as_a_clone_with_the_seed() {
        let text = RANGED
            .replace("{ min = 100.0, max = 1000.0 }", "500")
            .replace("{ min = 100, max = 1000 }", "[100, 1000]")
            .replace("{ min = 2.5, max = 12.5 }", "3")
            .replace("{ min = 1, max = 5 }", "4")
            .replace("{ min = 2, max = 8 }", "4");
        let s = parse(&text).unwrap();
        assert!(s.sampled().is_empty() && s.sampling.ranges().is_empty());
        let i = s.instantiate(99).unwrap();
        assert_eq!(i.seed, 99);
        assert!(i.sampled().is_empty());
        assert_eq!(format!("{:?}", i.phases), format!("{:?}", s.phases));
        // `[min, max]` stays a per-op range of value sizes.
        assert_eq!(
            i.phases[1].workloads[0].value_size,
            ValueSize {
                min: 100,
                max: 1000
            }
        );
    }

    /// (replace this, with this, text on the error's line, field, words in the message)
    const BAD: &[(&str, &str, &str, &str, &str)] = &[
        (
            "at_s = { min = 2.5, max = 12.5 }",
            "at_s = { min = 5, max = 2 }",
            "at_s = { min = 5",
            "phases[1].faults[0].at_s",
            "greater than max",
        ),
        (
            "at_s = { min = 2.5, max = 12.5 }",
            "at_s = { min = \"soon\", max = 2 }",
            "at_s = { min = \"soon\"",
            "phases[1].faults[0].at_s.min",
            "finite number",
        ),
        (
            "at_s = { min = 2.5, max = 12.5 }",
            "at_s = { min = 2.5, max = inf }",
            "max = inf",
            "phases[1].faults[0].at_s.max",
            "finite number",
        ),
        (
            "at_s = { min = 2.5, max = 12.5 }",
            "at_s = { min = 2.5 }",
            "at_s = { min = 2.5 }",
            "phases[1].faults[0].at_s",
            "both `min` and `max`",
        ),
        (
            "at_s = { min = 2.5, max = 12.5 }",
            "at_s = { min = 2.5, max = 3, step = 1 }",
            "step = 1",
            "phases[1].faults[0].at_s.step",
            "only `min` and `max`",
        ),
        (
            "at_s = { min = 2.5, max = 12.5 }",
            "at_s.min = 2.5\nat_s.max = 3.5",
            "at_s.min",
            "phases[1].faults[0].at_s",
            "inline",
        ),
        (
            "threads = 2",
            "threads = { min = 1, max = 4 }",
            "threads = {",
            "phases[1].workloads[0].threads",
            "allowed only at a workload's `rate` or `value_size`",
        ),
        (
            "name = \"ranged\"",
            "name = { min = 1, max = 2 }",
            "name = {",
            "name",
            "allowed only",
        ),
        (
            "duration_s = 20",
            "duration_s = { min = 10, max = 20 }",
            "duration_s = { min = 10",
            "phases[1].duration_s",
            "allowed only",
        ),
        (
            "write_buffer_size = 65536",
            "write_buffer_size = { min = 65536, max = 131072 }",
            "write_buffer_size = {",
            "phases[1].faults[1].options.write_buffer_size",
            "not `kind`, `cf`, `options` or `global`",
        ),
        (
            "at_s = { min = 2.5, max = 12.5 }",
            "at_s = { min = 1, max = 1e12 }",
            "at_s = { min = 1, max = 1e12 }",
            "phases[1].faults[0].at_s",
            "with every range at its maximum: must be before the end of its phase",
        ),
        (
            "factor = { min = 2, max = 8 }",
            "factor = { min = 0, max = 8 }",
            "factor = { min = 0",
            "phases[1].faults[0].factor",
            "with every range at its minimum: must be a rate multiplier",
        ),
        (
            "value_size = { min = 100, max = 1000 }",
            "value_size = { min = 100, max = 99999999 }",
            "value_size = { min = 100, max = 99999999 }",
            "phases[1].workloads[0].value_size",
            "with every range at its maximum",
        ),
    ];

    #[test]
    fn bad_ranges_name_the_line_and_the_field() {
        for (from, to, marker, field, words) in BAD {
            assert!(RANGED.contains(from), "{from}");
            let text = RANGED.replacen(from, to, 1);
            let line = 1 + text
                .lines()
                .position(|l| l.contains(marker))
                .unwrap_or_else(|| panic!("marker {marker:?}"));
            let err = parse(&text).expect_err(to);
            assert_eq!(err.field.as_deref(), Some(*field), "{err}");
            assert_eq!(err.line, Some(line), "{err}");
            assert!(err.message.contains(words), "{err} should say {words:?}");
            assert!(
                err.to_string().starts_with(&format!("test.toml:{line}:")),
                "{err}"
            );
        }
    }

    #[test]
    fn an_error_unrelated_to_the_ranges_is_shown_as_written() {
        let err = parse(&RANGED.replace("threads = 2", "thread = 2")).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("phases[1].workloads[0].thread"));
        assert!(err.message.starts_with("unknown field"), "{err}");
    }

    #[test]
    fn errors_after_a_range_on_its_line_keep_their_column() {
        // A type error right of a range: located in the text as written, not the instance.
        let text = "[[phases]]\nduration_s = 5\nworkloads = [{ workload = \"ycsb-a\", \
                    rate = { min = 100, max = 500 }, threads = \"two\" }]\n";
        let err = parse(text).unwrap_err();
        let line = text.lines().nth(2).unwrap();
        assert_eq!(err.line, Some(3), "{err}");
        assert_eq!(err.column, Some(line.find("\"two\"").unwrap() + 1), "{err}");
        assert_eq!(
            err.field.as_deref(),
            Some("phases[0].workloads[0].threads"),
            "{err}"
        );
    }

    #[test]
    fn a_range_over_several_lines_keeps_the_later_line_numbers() {
        let text = RANGED.replacen(
            "rate = { min = 100.0, max = 1000.0 }",
            "rate = { min = 100.0,\n         max = 1000.0 }",
            1,
        );
        let s = parse(&text).expect("a multi-line inline table is TOML 1.1");
        assert!(s.sampled().iter().any(|(p, _)| p.ends_with("rate")));
        let bad = text.replacen("factor = { min = 2, max = 8 }", "factr = 3", 1);
        let err = parse(&bad).unwrap_err();
        let line = 1 + bad.lines().position(|l| l.starts_with("factr")).unwrap();
        assert_eq!(err.line, Some(line), "{err}");
    }

    #[test]
    fn offsets_map_back_across_replaced_ranges() {
        let text = "a = {min=1,max=9}\nb = 2 # after\n";
        let range = NumberRange {
            path: "a".into(),
            span: 4..17,
            bounds: Bounds::Integer(1, 9),
        };
        assert_eq!(&text[range.span.clone()], "{min=1,max=9}");
        let values = vec![("a".to_owned(), Sampled::Integer(5))];
        let edits = Edits::new(text, &[range], &values);
        let edited = edits.apply(text);
        assert_eq!(edited, "a = 5\nb = 2 # after\n");
        assert_eq!(edits.to_original(0), 0, "before the range");
        assert_eq!(edits.to_original(4), 4, "the value: the range's start");
        let b = edited.find('b').unwrap();
        assert_eq!(
            edits.to_original(b),
            text.find('b').unwrap(),
            "after the range"
        );
    }

    #[test]
    fn integer_draws_cover_the_whole_i64_range_without_overflow() {
        let range = NumberRange {
            path: "x".into(),
            span: 0..0,
            bounds: Bounds::Integer(i64::MIN, i64::MAX),
        };
        let draws: Vec<i64> = (0..64)
            .map(|s| integer(range.value(Draw::Seed(s))))
            .collect();
        assert!(draws.iter().any(|&v| v < 0) && draws.iter().any(|&v| v > 0));
        let point = NumberRange {
            bounds: Bounds::Integer(-3, -3),
            ..range
        };
        assert_eq!(point.value(Draw::Seed(5)), Sampled::Integer(-3));
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

            /// Mutating one byte of a file with ranges gives a scenario whose every instance
            /// keeps the drawn values in range, or an error with a position inside the text.
            #[test]
            fn one_byte_mutations_of_ranges_give_located_errors(
                pos in 0usize..RANGED.len(), byte in 0x20u8..0x7f, seed in any::<u64>(),
            ) {
                let mut bytes = RANGED.as_bytes().to_vec();
                bytes[pos] = byte;
                let Ok(text) = String::from_utf8(bytes) else { return Ok(()) };
                match parse(&text) {
                    Ok(s) => {
                        let ranges = s.sampling.ranges();
                        if let Ok(i) = s.instantiate(seed) {
                            for ((path, v), (range_path, min, max)) in i.sampled().iter().zip(&ranges) {
                                prop_assert_eq!(path, range_path);
                                let (v, min, max) = (as_f64(*v), as_f64(*min), as_f64(*max));
                                prop_assert!(min <= v && v <= max, "{} = {}", path, v);
                            }
                        }
                    }
                    Err(err) => {
                        let line = err.line.unwrap_or(1);
                        prop_assert!(err.line.is_some() || err.field.is_some(), "{}", err);
                        prop_assert!(line >= 1 && line <= text.lines().count() + 1, "{}", err);
                    }
                }
            }

            /// Every draw lies in [min, max], for float and integer bounds alike.
            #[test]
            fn draws_lie_in_their_range(
                a in -1e300f64..1e300, b in -1e300f64..1e300,
                i in any::<i64>(), j in any::<i64>(), seed in any::<u64>(),
            ) {
                let (lo, hi) = (a.min(b), a.max(b));
                let float = NumberRange { path: "f".into(), span: 0..0, bounds: Bounds::Float(lo, hi) };
                let v = super::float(float.value(Draw::Seed(seed)));
                prop_assert!(lo <= v && v <= hi, "{} not in [{}, {}]", v, lo, hi);
                let (lo, hi) = (i.min(j), i.max(j));
                let int = NumberRange { path: "i".into(), span: 0..0, bounds: Bounds::Integer(lo, hi) };
                let v = super::integer(int.value(Draw::Seed(seed)));
                prop_assert!(lo <= v && v <= hi);
            }
        }
    }
}
