//! Aligned tables for human output, with terminal-safe cells, and the JSON
//! formatter that keeps the same characters out of `--json` lines.
//!
//! Records keep attacker-controlled strings as sent; this is where they are
//! made safe to print. A character is escaped when it can move the cursor,
//! recolour or retitle the terminal, reorder text (bidirectional controls,
//! "Trojan Source", CVE-2021-42574), break a line where none is expected,
//! or hide itself (invisible format characters).

use comfy_table::{presets::NOTHING, ContentArrangement, Table};
use std::io;

/// Prints `rows` under `header`, columns aligned. Cells are escaped so
/// that attacker-controlled strings cannot move the cursor, recolour the
/// terminal, reorder or hide text.
pub fn print(header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> io::Result<()> {
    let mut t = Table::new();
    t.load_preset(NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header.iter().map(|h| escape(h)));
    for r in rows {
        t.add_row(r.iter().map(|c| escape(c)));
    }
    // Not println!: a closed pipe (`medtap flows | head`) is an error to
    // return, not a panic.
    use std::io::Write;
    writeln!(io::stdout().lock(), "{t}")
}

pub use medtap::proto::text::is_unsafe;

/// Replaces every [`is_unsafe`] character with a `\u{..}` escape.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if is_unsafe(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// serde_json's compact output, with every [`is_unsafe`] character written
/// as a `\uXXXX` escape (serde_json itself escapes only U+0000..U+001F): the
/// same JSON values, but DEL, C1 controls, bidirectional controls and line
/// separators do not reach a terminal raw when `--json` is read there.
pub struct JsonFormatter;

impl serde_json::ser::Formatter for JsonFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if is_unsafe(c) {
                w.write_all(&fragment.as_bytes()[start..i])?;
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    write!(w, "\\u{u:04x}")?;
                }
                start = i + c.len_utf8();
            }
        }
        w.write_all(&fragment.as_bytes()[start..])
    }
}

/// Writes `value` as one line of JSON with [`JsonFormatter`].
pub fn write_json_line<W: io::Write, T: serde::Serialize>(w: &mut W, value: &T) -> io::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(&mut *w, JsonFormatter);
    value.serialize(&mut ser).map_err(io::Error::other)?;
    w.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 8 item 6: U+202E and U+2028 reached the terminal raw.
    #[test]
    fn table_escapes_bidi_and_line_separators() {
        for c in [
            '\u{1b}',
            '\r',
            '\n',
            '\u{7f}',
            '\u{9b}',
            '\u{202a}',
            '\u{202b}',
            '\u{202c}',
            '\u{202d}',
            '\u{202e}',
            '\u{2066}',
            '\u{2067}',
            '\u{2068}',
            '\u{2069}',
            '\u{200e}',
            '\u{200f}',
            '\u{061c}',
            '\u{2028}',
            '\u{2029}',
            '\u{200b}',
            '\u{feff}',
            '\u{e0041}',
        ] {
            let s = format!("a{c}b");
            let e = escape(&s);
            assert!(!e.contains(c), "{c:?} reached the output raw: {e:?}");
            assert_eq!(e, format!("a{}b", c.escape_unicode()));
        }
        // Ordinary text, including non-ASCII letters, is untouched.
        for s in [
            "CT01",
            "Müller^Jürgen",
            "北京协和",
            "x';DROP--",
            "\\x41",
            "\u{fffd}",
        ] {
            assert_eq!(escape(s), s);
        }
    }

    #[test]
    fn json_lines_escape_what_a_terminal_would_act_on_and_stay_equal() {
        let v =
            serde_json::json!({"ae": "\u{1b}[2J\nEVIL\u{9b}\u{7f}\u{202e}\u{2028}\u{e0041}ok\"\\"});
        let mut out = Vec::new();
        write_json_line(&mut out, &v).unwrap();
        let line = String::from_utf8(out).unwrap();
        assert!(line.ends_with('\n') && line.lines().count() == 1);
        assert!(line.chars().all(|c| !is_unsafe(c) || c == '\n'), "{line:?}");
        assert!(line.contains("\\u202e") && line.contains("\\udb40\\udc41"));
        let back: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(back, v);
    }
}
