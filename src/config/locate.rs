//! Finds where a key path (`sources.phucloi.listing.title`) sits in the configuration text, so
//! that every configuration error can name `file:line:col` and the key.

use std::fmt;
use std::ops::Range;

use toml_edit::{Document, Item, Value};

/// One step of a key path: a table key or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSegment {
    Key(String),
    Index(usize),
}

/// A dotted key path, printed as `sources.phucloi.categories[1].listing`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPath(pub Vec<PathSegment>);

impl KeyPath {
    pub fn root() -> KeyPath {
        KeyPath(Vec::new())
    }

    pub fn key(&self, key: &str) -> KeyPath {
        let mut path = self.clone();
        path.0.push(PathSegment::Key(key.to_owned()));
        path
    }

    pub fn index(&self, index: usize) -> KeyPath {
        let mut path = self.clone();
        path.0.push(PathSegment::Index(index));
        path
    }

    pub fn parse_dotted(dotted: &str) -> KeyPath {
        KeyPath(
            dotted
                .split('.')
                .filter(|s| !s.is_empty())
                .map(|s| PathSegment::Key(s.to_owned()))
                .collect(),
        )
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(top level)");
        }
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                PathSegment::Key(key) if i == 0 => write!(f, "{key}")?,
                PathSegment::Key(key) => write!(f, ".{key}")?,
                PathSegment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// Byte span of the deepest element of `path` present in `doc`: the value itself when it exists,
/// otherwise its nearest existing ancestor (a missing key is reported at its table).
/// With `want_key`, the last segment's key is located instead of its value (unknown keys).
pub fn span_of(doc: &Document<String>, path: &KeyPath, want_key: bool) -> Option<Range<usize>> {
    let mut node = Node::Item(doc.as_item());
    let mut best = None;
    let last = path.0.len().saturating_sub(1);
    for (depth, segment) in path.0.iter().enumerate() {
        let next = match (segment, node) {
            (PathSegment::Key(key), Node::Item(item)) => match item.as_table_like() {
                Some(table) => table.get_key_value(key).map(|(k, v)| {
                    if want_key && depth == last {
                        best = k.span().or(best.clone());
                    }
                    Node::Item(v)
                }),
                None => None,
            },
            (PathSegment::Key(key), Node::Value(Value::InlineTable(table))) => {
                table.get_key_value(key).map(|(k, v)| {
                    if want_key && depth == last {
                        best = k.span().or(best.clone());
                    }
                    Node::Item(v)
                })
            }
            (PathSegment::Index(i), Node::Item(Item::ArrayOfTables(tables))) => {
                tables.get(*i).map(Node::Table)
            }
            (PathSegment::Index(i), Node::Item(Item::Value(Value::Array(array))))
            | (PathSegment::Index(i), Node::Value(Value::Array(array))) => {
                array.get(*i).map(Node::Value)
            }
            (PathSegment::Key(key), Node::Table(table)) => {
                table.get_key_value(key).map(|(k, v)| {
                    if want_key && depth == last {
                        best = k.span().or(best.clone());
                    }
                    Node::Item(v)
                })
            }
            _ => None,
        };
        match next {
            Some(found) => {
                node = found;
                if !(want_key && depth == last) {
                    best = node.span().or(best);
                }
            }
            None => break,
        }
    }
    best
}

#[derive(Clone, Copy)]
enum Node<'a> {
    Item(&'a Item),
    Value(&'a Value),
    Table(&'a toml_edit::Table),
}

impl Node<'_> {
    fn span(&self) -> Option<Range<usize>> {
        match self {
            Node::Item(item) => item.span(),
            Node::Value(value) => value.span(),
            Node::Table(table) => table.span(),
        }
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..floor_char_boundary(text, offset)];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "[defaults]\ntimezone = \"Asia/Ho_Chi_Minh\"\n\n[sources.phucloi]\nname = \"Phúc Lợi\"\nlisting = { title = \"h3..a\" }\ncategories = [{ label = \"A\" }, { label = \"B\", slug = \"b c\" }]\n";

    fn at(path: &str, want_key: bool) -> (usize, usize) {
        let doc = Document::parse(TEXT.to_owned()).unwrap();
        let mut key_path = KeyPath::root();
        for part in path.split('.') {
            key_path = match part.parse::<usize>() {
                Ok(i) => key_path.index(i),
                Err(_) => key_path.key(part),
            };
        }
        line_col(TEXT, span_of(&doc, &key_path, want_key).unwrap().start)
    }

    #[test]
    fn locates_values_in_tables_and_inline_tables() {
        assert_eq!(at("defaults.timezone", false), (2, 12));
        assert_eq!(at("sources.phucloi.listing.title", false), (6, 21));
        assert_eq!(at("sources.phucloi.categories.1.slug", false), (7, 54));
    }

    #[test]
    fn locates_keys_and_falls_back_to_the_parent() {
        assert_eq!(at("sources.phucloi.name", true), (5, 1));
        assert_eq!(at("sources.phucloi.missing", false).0, 4);
    }

    #[test]
    fn prints_paths_with_indexes() {
        let path = KeyPath::root()
            .key("sources")
            .key("x")
            .key("categories")
            .index(2);
        assert_eq!(path.to_string(), "sources.x.categories[2]");
    }
}
