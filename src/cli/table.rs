//! Aligned tables for human output, with terminal-safe cells.

use comfy_table::{presets::NOTHING, ContentArrangement, Table};

/// Prints `rows` under `header`, columns aligned. Cells are escaped so
/// that attacker-controlled strings cannot move the cursor or recolour the
/// terminal.
pub fn print(header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> std::io::Result<()> {
    let mut t = Table::new();
    t.load_preset(NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header.iter().map(|h| h.to_string()));
    for r in rows {
        t.add_row(r.iter().map(|c| escape(c)));
    }
    // Not println!: a closed pipe (`medtap flows | head`) is an error to
    // return, not a panic.
    use std::io::Write;
    writeln!(std::io::stdout().lock(), "{t}")
}

/// Replaces control characters with `\u{..}` escapes.
pub fn escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_unicode().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}
