//! Positions in TOML files for error messages: the line of a byte offset
//! and the key path (`device[3].mac`) at it, from toml's spans.
//!
//! The configuration names keys by section (`flow.max_flows`, see
//! `line_of` in the parent module); files made of arrays of tables (the
//! asset list, the medical vendor list) need the array index as well, which
//! only the parser's spans give.

use std::ops::Range;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// 1-based line of byte `offset` in `text` (the last line if past the end).
pub fn line_at(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The dotted key path of the innermost key or value whose span holds
/// `offset`, with array indices from 0: `device[3].mac`,
/// `vendor[0].orgs[2]`. `None` when the text does not parse as TOML or no
/// key holds the offset (a comment, a table header).
pub fn key_at(text: &str, offset: usize) -> Option<String> {
    let doc = DeTable::parse(text).ok()?;
    let mut path = String::new();
    walk_table(doc.get_ref(), offset, &mut path);
    (!path.is_empty()).then_some(path)
}

/// A problem at a place in a file: `file:line: `key`: problem`, or
/// `file:line: problem` when no key is known.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {}{problem}", key_prefix(.key))]
pub struct Located {
    /// The file as named to the user.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// Key path, e.g. `device[3].mac`, when known.
    pub key: Option<String>,
    /// What is wrong.
    pub problem: String,
}

impl Located {
    /// A problem at byte `offset` of `text`.
    pub fn at(file: &str, text: &str, offset: usize, key: Option<String>, problem: String) -> Self {
        Located {
            file: file.to_string(),
            line: line_at(text, offset),
            key,
            problem,
        }
    }

    /// Where a toml error is: its line (1 when toml gives no span), the
    /// key path at it if any, and toml's one-line message (without the
    /// excerpt that its `Display` adds).
    pub fn from_toml(file: &str, text: &str, err: &toml::de::Error) -> Self {
        let problem = err.message().trim_end().to_string();
        match err.span() {
            Some(span) => Located::at(file, text, span.start, key_at(text, span.start), problem),
            None => Located {
                file: file.to_string(),
                line: 1,
                key: None,
                problem,
            },
        }
    }
}

fn key_prefix(key: &Option<String>) -> String {
    key.as_ref().map(|k| format!("`{k}`: ")).unwrap_or_default()
}

fn contains(span: &Range<usize>, offset: usize) -> bool {
    span.start <= offset && offset < span.end.max(span.start + 1)
}

fn walk_table(table: &DeTable<'_>, offset: usize, path: &mut String) {
    // `holds` looks below a value as well: an array of tables' elements
    // are spanned by their `[[header]]` only, not by the keys under it.
    if let Some((k, v)) = table
        .iter()
        .find(|(k, v)| contains(&k.span(), offset) || holds(v, offset))
    {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(k.get_ref());
        walk_value(v, offset, path);
    }
}

/// True when `offset` lies in `v` or in any key or value below it.
fn holds(v: &Spanned<DeValue<'_>>, offset: usize) -> bool {
    if contains(&v.span(), offset) {
        return true;
    }
    match v.get_ref() {
        DeValue::Table(t) => t
            .iter()
            .any(|(k, v)| contains(&k.span(), offset) || holds(v, offset)),
        DeValue::Array(a) => a.iter().any(|e| holds(e, offset)),
        _ => false,
    }
}

fn walk_value(v: &Spanned<DeValue<'_>>, offset: usize, path: &mut String) {
    match v.get_ref() {
        DeValue::Table(t) => walk_table(t, offset, path),
        DeValue::Array(items) => {
            if let Some(i) = items.iter().position(|e| holds(e, offset)) {
                path.push_str(&format!("[{i}]"));
                walk_value(&items[i], offset, path);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn line_at_counts_newlines_before_the_offset() {
        let t = "a = 1\nb = 2\n\nc = 3";
        assert_eq!(line_at(t, 0), 1);
        assert_eq!(line_at(t, 5), 1);
        assert_eq!(line_at(t, 6), 2);
        assert_eq!(line_at(t, t.find('c').unwrap()), 4);
        assert_eq!(line_at(t, 10_000), 4);
    }

    #[test]
    fn key_at_names_array_of_tables_elements_and_inline_arrays() {
        let t = "# list\n[[device]]\nmac = \"aa\"\n\n[[device]]\nname = \"x\"\nip = \"b\"\n\
                 [[vendor]]\nname = \"v\"\norgs = [\"A\", \"B\",\n  \"C\"]\n";
        let at = |needle: &str| key_at(t, t.find(needle).unwrap());
        assert_eq!(at("mac").as_deref(), Some("device[0].mac"));
        assert_eq!(at("\"aa\"").as_deref(), Some("device[0].mac"));
        assert_eq!(at("ip =").as_deref(), Some("device[1].ip"));
        assert_eq!(at("\"b\"").as_deref(), Some("device[1].ip"));
        assert_eq!(at("\"x\"").as_deref(), Some("device[1].name"));
        assert_eq!(at("\"B\"").as_deref(), Some("vendor[0].orgs[1]"));
        assert_eq!(at("\"C\"").as_deref(), Some("vendor[0].orgs[2]"));
        assert_eq!(at("# list"), None);
        assert_eq!(key_at("not = [toml", 0), None);
    }

    #[test]
    fn key_at_names_nested_and_inline_tables() {
        let t = "[identity]\nassets = \"/x\"\n[flow.timeouts]\nudp = 3\n\
                 device = [{ mac = \"m\" }, { ip = \"i\" }]\n";
        let at = |needle: &str| key_at(t, t.find(needle).unwrap());
        assert_eq!(at("\"/x\"").as_deref(), Some("identity.assets"));
        assert_eq!(at("udp").as_deref(), Some("flow.timeouts.udp"));
        assert_eq!(at("\"i\"").as_deref(), Some("flow.timeouts.device[1].ip"));
    }

    #[test]
    fn located_names_file_line_key_and_toml_message() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct D {
            mac: Option<String>,
        }
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct F {
            device: Vec<D>,
        }
        let t = "[[device]]\nmac = \"a\"\n[[device]]\ncolour = \"red\"\n";
        let err = toml::from_str::<F>(t).unwrap_err();
        let msg = Located::from_toml("a.toml", t, &err).to_string();
        assert!(
            msg.starts_with("a.toml:4: `device[1].colour`: unknown field `colour`"),
            "{msg}"
        );
        let t = "[[device]]\nmac = 3\n";
        let err = toml::from_str::<F>(t).unwrap_err();
        let msg = Located::from_toml("a.toml", t, &err).to_string();
        assert!(msg.starts_with("a.toml:2: `device[0].mac`: "), "{msg}");
        let t = "[[device]\n";
        let err = toml::from_str::<F>(t).unwrap_err();
        let msg = Located::from_toml("a.toml", t, &err).to_string();
        assert!(msg.starts_with("a.toml:1: "), "{msg}");
        assert!(!msg.contains('\n'), "one line: {msg}");
    }
}
