//! Structure-aware edits of a document tree ([`toml::Value`], which can hold everything a
//! TOML or JSON document can, including the non-finite floats only TOML can spell).
//!
//! A target derives a [`DocInput`] from the fuzzer's bytes: which base document to start
//! from, which syntax to render it in, and a short list of [`Edit`]s (set a node to an
//! interesting value, remove it, insert a key, duplicate an array element, copy one subtree
//! over another). The edited tree is rendered as text and handed to the parser under test, so
//! the parser sees documents that are mostly valid and the fuzzer explores the semantic checks
//! behind it (ranges, cross-field rules, unknown names) rather than only TOML syntax.

use arbitrary::Arbitrary;
use toml::Value;

/// Most edits applied to one document (more rarely helps and slows every execution).
pub const MAX_EDITS: usize = 16;

/// The syntax a document is rendered in.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syntax {
    /// `toml::to_string`.
    Toml,
    /// `serde_json::to_string` (non-finite floats become `null`).
    Json,
}

/// What a structured fuzz target decodes from its bytes.
#[derive(Arbitrary, Debug)]
pub struct DocInput {
    /// Index (modulo the count) of the base document.
    pub base: u8,
    /// Syntax of the rendered text.
    pub syntax: Syntax,
    /// Type-preserving changes of scalar values, applied first (only the first
    /// [`MAX_EDITS`]): most documents stay well-typed and reach the range checks.
    pub tweaks: Vec<Tweak>,
    /// Structural edits, applied after the tweaks (only the first [`MAX_EDITS`]).
    pub edits: Vec<Edit>,
}

/// Replaces a scalar by a boundary value of its own type: an integer by one of
/// [`INTERESTING_INTS`] (plus `delta`), a float by one of [`INTERESTING_FLOATS`], a string by
/// a word of the vocabulary, a boolean by its negation. `leaf` indexes the scalars in
/// depth-first order, modulo their count.
#[derive(Arbitrary, Debug)]
pub struct Tweak {
    /// Which scalar.
    pub leaf: u16,
    /// Which boundary value (modulo the list's length).
    pub pick: u8,
    /// Added to an integer pick (off-by-one around a bound).
    pub delta: i8,
}

/// One change to the tree. `node`s index the tree's nodes in depth-first order, modulo their
/// count, so every input names some node.
#[derive(Arbitrary, Debug)]
pub enum Edit {
    /// Replace a node by a leaf.
    Set {
        /// Which node.
        node: u16,
        /// The new value.
        leaf: Leaf,
    },
    /// Remove a node from its table or array.
    Remove {
        /// Which node.
        node: u16,
    },
    /// Insert `key = leaf` into a table node (push into an array node; replace any other).
    Insert {
        /// Where.
        node: u16,
        /// The key.
        key: Word,
        /// The value.
        leaf: Leaf,
    },
    /// Append a copy of an array element after it.
    Duplicate {
        /// Which node (no-op unless it is an array element).
        node: u16,
    },
    /// Replace node `to` by a copy of node `from`.
    Copy {
        /// Source.
        from: u16,
        /// Destination.
        to: u16,
    },
}

/// A value to put into the tree.
#[derive(Arbitrary, Debug)]
pub enum Leaf {
    /// An integer.
    Int(Int),
    /// A float.
    Float(Float),
    /// A boolean.
    Bool(bool),
    /// A string.
    Str(Word),
    /// `{}`.
    EmptyTable,
    /// `[]`.
    EmptyArray,
    /// `[a, b]`: ranges such as `key_range` and `value_size`.
    Pair(Int, Int),
}

/// An integer: mostly boundary values, sometimes raw.
#[derive(Arbitrary, Debug)]
pub enum Int {
    /// One of [`INTERESTING_INTS`].
    Interesting(u8),
    /// A small value.
    Small(i8),
    /// Any `i64`.
    Raw(i64),
    /// An interesting value plus a small delta (off-by-one around a bound).
    Near(u8, i8),
}

/// A float: boundary values, ratios, raw bits.
#[derive(Arbitrary, Debug)]
pub enum Float {
    /// One of [`INTERESTING_FLOATS`].
    Interesting(u8),
    /// `a / (b + 1)`: ordinary ratios and multipliers.
    Ratio(u8, u8),
    /// Any `f64` (including NaN payloads).
    Raw(f64),
}

/// A string: a word of the target's vocabulary, or anything.
#[derive(Arbitrary, Debug)]
pub enum Word {
    /// Index (modulo its length) into the vocabulary.
    Known(u16),
    /// Arbitrary text.
    Raw(String),
}

/// Integers near the bounds lsmedic checks (sizes, counts, option limits, type limits).
pub const INTERESTING_INTS: &[i64] = &[
    0,
    1,
    -1,
    2,
    3,
    4,
    7,
    8,
    10,
    16,
    20,
    63,
    64,
    65,
    100,
    200,
    201,
    255,
    256,
    257,
    1000,
    1024,
    4096,
    10_000,
    16_384,
    60_000,
    65_536,
    100_000,
    1 << 20,
    1 << 24,
    (1 << 24) + 1,
    100_000_000,
    100_000_001,
    1 << 30,
    (1 << 31) - 1,
    1 << 31,
    (1 << 32) - 1,
    1 << 32,
    1 << 36,
    1 << 40,
    1 << 50,
    1 << 53,
    1 << 62,
    i64::MAX,
    i64::MIN,
    i32::MIN as i64,
];

/// Floats at the edges of what validation accepts.
pub const INTERESTING_FLOATS: &[f64] = &[
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.5,
    0.999_999,
    1.000_001,
    1.5,
    2.0,
    100.0,
    1000.0,
    1_000.000_1,
    1e-9,
    1e-300,
    f64::MIN_POSITIVE,
    5e-324,
    1e15,
    1e20,
    1e300,
    f64::MAX,
    f64::MIN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::NAN,
];

impl Int {
    fn value(&self) -> i64 {
        let pick = |i: &u8| INTERESTING_INTS[usize::from(*i) % INTERESTING_INTS.len()];
        match self {
            Int::Interesting(i) => pick(i),
            Int::Small(v) => i64::from(*v),
            Int::Raw(v) => *v,
            Int::Near(i, delta) => pick(i).wrapping_add(i64::from(*delta)),
        }
    }
}

impl Float {
    fn value(&self) -> f64 {
        match self {
            Float::Interesting(i) => INTERESTING_FLOATS[usize::from(*i) % INTERESTING_FLOATS.len()],
            Float::Ratio(a, b) => f64::from(*a) / (f64::from(*b) + 1.0),
            Float::Raw(v) => *v,
        }
    }
}

impl Word {
    fn text(&self, vocabulary: &[String]) -> String {
        match self {
            Word::Known(i) if !vocabulary.is_empty() => {
                vocabulary[usize::from(*i) % vocabulary.len()].clone()
            }
            Word::Known(_) => String::new(),
            Word::Raw(text) => text.clone(),
        }
    }
}

impl Leaf {
    fn value(&self, vocabulary: &[String]) -> Value {
        match self {
            Leaf::Int(v) => Value::Integer(v.value()),
            Leaf::Float(v) => Value::Float(v.value()),
            Leaf::Bool(v) => Value::Boolean(*v),
            Leaf::Str(word) => Value::String(word.text(vocabulary)),
            Leaf::EmptyTable => Value::Table(toml::Table::new()),
            Leaf::EmptyArray => Value::Array(Vec::new()),
            Leaf::Pair(a, b) => {
                Value::Array(vec![Value::Integer(a.value()), Value::Integer(b.value())])
            }
        }
    }
}

/// One step of a path from the root.
#[derive(Clone, Debug)]
enum Step {
    Key(String),
    Index(usize),
}

/// Every node's path, depth first, the root (empty path) first.
fn node_paths(root: &Value) -> Vec<Vec<Step>> {
    fn walk(value: &Value, path: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
        out.push(path.clone());
        match value {
            Value::Table(table) => {
                for (key, child) in table {
                    path.push(Step::Key(key.clone()));
                    walk(child, path, out);
                    path.pop();
                }
            }
            Value::Array(array) => {
                for (i, child) in array.iter().enumerate() {
                    path.push(Step::Index(i));
                    walk(child, path, out);
                    path.pop();
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(root, &mut Vec::new(), &mut out);
    out
}

fn get<'a>(mut value: &'a Value, path: &[Step]) -> Option<&'a Value> {
    for step in path {
        value = match (step, value) {
            (Step::Key(key), Value::Table(table)) => table.get(key)?,
            (Step::Index(i), Value::Array(array)) => array.get(*i)?,
            _ => return None,
        };
    }
    Some(value)
}

fn get_mut<'a>(mut value: &'a mut Value, path: &[Step]) -> Option<&'a mut Value> {
    for step in path {
        value = match (step, value) {
            (Step::Key(key), Value::Table(table)) => table.get_mut(key)?,
            (Step::Index(i), Value::Array(array)) => array.get_mut(*i)?,
            _ => return None,
        };
    }
    Some(value)
}

fn pick_path(paths: &[Vec<Step>], node: u16) -> &[Step] {
    // `node_paths` always returns at least the root.
    &paths[usize::from(node) % paths.len()]
}

/// Applies `input`'s tweaks, then its edits, to `root`.
pub fn apply_input(root: &mut Value, input: &DocInput, vocabulary: &[String]) {
    tweak(root, &input.tweaks, vocabulary);
    apply(root, &input.edits, vocabulary);
}

/// Applies `tweaks` (at most [`MAX_EDITS`]) to the scalars of `root`.
pub fn tweak(root: &mut Value, tweaks: &[Tweak], vocabulary: &[String]) {
    let scalars: Vec<Vec<Step>> = node_paths(root)
        .into_iter()
        .filter(|path| get(root, path).is_some_and(|v| !v.is_table() && !v.is_array()))
        .collect();
    if scalars.is_empty() {
        return;
    }
    for t in tweaks.iter().take(MAX_EDITS) {
        let Some(slot) = get_mut(root, &scalars[usize::from(t.leaf) % scalars.len()]) else {
            continue;
        };
        let i = usize::from(t.pick);
        match slot {
            Value::Integer(v) => {
                *v = INTERESTING_INTS[i % INTERESTING_INTS.len()].wrapping_add(i64::from(t.delta))
            }
            Value::Float(v) => *v = INTERESTING_FLOATS[i % INTERESTING_FLOATS.len()],
            Value::Boolean(v) => *v = !*v,
            Value::String(v) if !vocabulary.is_empty() => {
                *v = vocabulary[i % vocabulary.len()].clone()
            }
            _ => {}
        }
    }
}

/// Applies `edits` (at most [`MAX_EDITS`]) to `root`; `vocabulary` supplies keys and string
/// values. The root stays a table (edits that would replace or remove it are skipped).
pub fn apply(root: &mut Value, edits: &[Edit], vocabulary: &[String]) {
    for edit in edits.iter().take(MAX_EDITS) {
        let paths = node_paths(root);
        match edit {
            Edit::Set { node, leaf } => {
                let path = pick_path(&paths, *node);
                if !path.is_empty() {
                    if let Some(slot) = get_mut(root, path) {
                        *slot = leaf.value(vocabulary);
                    }
                }
            }
            Edit::Remove { node } => {
                if let Some((last, parent)) = pick_path(&paths, *node).split_last() {
                    match (last, get_mut(root, parent)) {
                        (Step::Key(key), Some(Value::Table(table))) => {
                            table.remove(key);
                        }
                        (Step::Index(i), Some(Value::Array(array))) if *i < array.len() => {
                            array.remove(*i);
                        }
                        _ => {}
                    }
                }
            }
            Edit::Insert { node, key, leaf } => {
                let value = leaf.value(vocabulary);
                match get_mut(root, pick_path(&paths, *node)) {
                    Some(Value::Table(table)) => {
                        table.insert(key.text(vocabulary), value);
                    }
                    Some(Value::Array(array)) => array.push(value),
                    Some(slot) => *slot = value,
                    None => {}
                }
            }
            Edit::Duplicate { node } => {
                if let Some((Step::Index(i), parent)) = pick_path(&paths, *node).split_last() {
                    if let Some(Value::Array(array)) = get_mut(root, parent) {
                        if let Some(copy) = array.get(*i).cloned() {
                            array.insert(i + 1, copy);
                        }
                    }
                }
            }
            Edit::Copy { from, to } => {
                let (from, to) = (pick_path(&paths, *from), pick_path(&paths, *to));
                if to.is_empty() {
                    continue;
                }
                if let Some(copy) = get(root, from).cloned() {
                    if let Some(slot) = get_mut(root, to) {
                        *slot = copy;
                    }
                }
            }
        }
    }
}

/// The document as text, or `None` when it cannot be written in that syntax (TOML cannot
/// write every tree, e.g. a non-table root).
pub fn render(root: &Value, syntax: Syntax) -> Option<String> {
    match syntax {
        Syntax::Toml => toml::to_string(root).ok(),
        Syntax::Json => serde_json::to_string(root).ok(),
    }
}

/// Every key and string value in `value`, appended to `out` (a vocabulary for [`Word`]).
pub fn harvest_words(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(text) => out.push(text.clone()),
        Value::Table(table) => {
            for (key, child) in table {
                out.push(key.clone());
                harvest_words(child, out);
            }
        }
        Value::Array(array) => array.iter().for_each(|child| harvest_words(child, out)),
        _ => {}
    }
}

/// A sorted, de-duplicated vocabulary from `bases` and `extra` words.
pub fn vocabulary<'a>(bases: &[Value], extra: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut words = Vec::new();
    for base in bases {
        harvest_words(base, &mut words);
    }
    words.extend(extra.into_iter().map(str::to_owned));
    words.sort();
    words.dedup();
    words
}

/// `value` serialised into a [`toml::Value`] tree (for building base documents from
/// configuration structs); `None` if serde refuses.
pub fn to_tree<T: serde::Serialize>(value: &T) -> Option<Value> {
    Value::try_from(value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        toml::from_str("a = 1\nb = [1, 2]\n[t]\nx = \"y\"\n").expect("parses")
    }

    #[test]
    fn edits_reach_every_kind_of_node() {
        let words = vec!["k".to_owned()];
        let mut root = doc();
        let paths = node_paths(&root);
        // root, a, b, b[0], b[1], t, t.x
        assert_eq!(paths.len(), 7);
        apply(
            &mut root,
            &[
                Edit::Set {
                    node: 1,
                    leaf: Leaf::Bool(true),
                },
                Edit::Duplicate { node: 3 },
                Edit::Insert {
                    node: 6,
                    key: Word::Known(0),
                    leaf: Leaf::Int(Int::Small(5)),
                },
            ],
            &words,
        );
        assert_eq!(root["a"], Value::Boolean(true));
        assert_eq!(root["b"].as_array().map(Vec::len), Some(3));
        assert_eq!(root["t"]["k"], Value::Integer(5));
        apply(
            &mut root,
            &[
                Edit::Remove { node: 0 },
                Edit::Set {
                    node: 0,
                    leaf: Leaf::EmptyArray,
                },
            ],
            &words,
        );
        assert!(root.is_table(), "the root is never replaced");
        tweak(
            &mut root,
            &[Tweak {
                leaf: 1,
                pick: 3,
                delta: 1,
            }],
            &words,
        );
        assert_eq!(
            root["b"][0],
            Value::Integer(INTERESTING_INTS[3] + 1),
            "the first scalar"
        );
        assert!(render(&root, Syntax::Toml).is_some());
        assert!(render(&root, Syntax::Json).is_some());
    }
}
