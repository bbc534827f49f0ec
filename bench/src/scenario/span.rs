//! Where in a scenario file an error is: field paths (`phases[1].faults[0].factor`), the
//! byte span of every key and value of the text (from a `toml_edit` parse), and the
//! [`Reporter`] that turns a path or a serde error into a located [`ScenarioError`].
//!
//! Serde errors come with a byte span, which is mapped back to the deepest path containing
//! it (a span in an instance of a file with ranges is first mapped back to the file's text);
//! the validator's errors come with a path, which is mapped to the span of that field (or of
//! its nearest ancestor that has one).

use std::fmt;
use std::ops::Range;
use std::path::Path;

use super::ScenarioError;

/// One step of a field path.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

/// A field path under construction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct FieldPath(Vec<Seg>);

impl FieldPath {
    /// The empty path: the document root.
    pub(super) fn root() -> FieldPath {
        FieldPath::default()
    }

    /// The path of field `key` of this table.
    pub(super) fn key(&self, key: &str) -> FieldPath {
        let mut next = self.clone();
        next.0.push(Seg::Key(key.to_owned()));
        next
    }

    /// The path of element `index` of this array.
    pub(super) fn index(&self, index: usize) -> FieldPath {
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
        if let Ok(doc) = toml_edit::Document::parse(text.to_owned()) {
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
pub(super) struct Reporter<'a> {
    file: &'a Path,
    spans: SpanIndex,
}

impl<'a> Reporter<'a> {
    /// A reporter for `text`, read from `file`.
    pub(super) fn new(file: &'a Path, text: &str) -> Reporter<'a> {
        Reporter {
            file,
            spans: SpanIndex::new(text),
        }
    }

    /// An error about the field at `path` (located at its key, or its nearest ancestor's).
    pub(super) fn at(&self, path: &FieldPath, message: impl Into<String>) -> ScenarioError {
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

    /// A deserialisation error, located by its byte span: of this reporter's text, or of a
    /// text derived from it (a scenario with its ranges replaced by drawn values), whose byte
    /// offsets `to_original` maps to this text's.
    pub(super) fn toml_error(
        &self,
        err: &toml::de::Error,
        to_original: &dyn Fn(usize) -> usize,
    ) -> ScenarioError {
        let start = err.span().map(|span| to_original(span.start));
        let (line, column) = start
            .map(|start| self.spans.line_column(start))
            .map_or((None, None), |(l, c)| (Some(l), Some(c)));
        let field = start
            .and_then(|start| self.spans.path_at(start))
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
pub(super) fn toml_message(err: &toml::de::Error) -> String {
    match err.message().trim() {
        "" => "invalid TOML syntax (unexpected character)".to_owned(),
        message => message.to_owned(),
    }
}
