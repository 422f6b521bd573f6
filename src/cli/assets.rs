//! `medtap assets import FILE.csv [-o OUT.toml]`: a spreadsheet export to
//! an asset list (`device::assets`).
//!
//! The CSV's first row names the columns: `mac`, `ip`, `name`, `class`,
//! `department`, `location`, `owner`, `asset_id`, `udi`, `notes` (any case,
//! surrounding spaces ignored, any order, any subset with `mac` or `ip`).
//! An unknown column is an error naming it. Each row is checked as the
//! asset file's `[[device]]` would be; a bad row (bad MAC or IP, neither
//! given, a MAC or IP of an earlier row) is reported with its physical line
//! in the CSV (a quoted cell may span lines). If any row is bad nothing is
//! written and the exit code is 1: an asset list that silently lacks
//! devices would make them look unknown. Rows with every cell empty are
//! skipped (spreadsheets export trailing blank rows). The separator is
//! `,`, or `;` or a tab when the header row has more of those.

use super::table::{escape, is_unsafe};
use anyhow::{bail, Context, Result};
use clap::Subcommand;
use medtap::config::span::Located;
use medtap::device::assets::{AssetFields, AssetList};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Exit code when rows of the spreadsheet are bad (nothing written).
pub const EXIT_BAD_ROWS: u8 = 1;

#[derive(Subcommand, Debug)]
pub enum AssetsCommand {
    /// Convert a spreadsheet export (CSV, header row of column names) to an
    /// asset list; bad rows are listed by line and nothing is written
    Import {
        /// CSV file with columns mac, ip, name, class, department, location,
        /// owner, asset_id, udi, notes (any subset with mac or ip)
        #[arg(value_name = "FILE.csv")]
        file: PathBuf,
        /// Write the asset list here [default: standard output]
        #[arg(short = 'o', long, value_name = "OUT.toml")]
        output: Option<PathBuf>,
    },
}

pub fn run(c: AssetsCommand) -> Result<ExitCode> {
    match c {
        AssetsCommand::Import { file, output } => import_command(&file, output.as_deref()),
    }
}

fn import_command(file: &Path, output: Option<&Path>) -> Result<ExitCode> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let name = file.display().to_string();
    let imported = import(&bytes, &name)?;
    if !imported.problems.is_empty() {
        for p in &imported.problems {
            eprintln!("{}", escape(&p.to_string()));
        }
        eprintln!(
            "medtap: {} problem(s) in {}; nothing written (fix the rows and import again); exit {EXIT_BAD_ROWS}",
            imported.problems.len(),
            escape(&name)
        );
        return Ok(ExitCode::from(EXIT_BAD_ROWS));
    }
    let text = to_toml(&imported.list, &name);
    match output {
        Some(out) => write_atomically(out, text.as_bytes())?,
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(text.as_bytes())?;
            stdout.flush()?;
        }
    }
    eprintln!(
        "medtap: imported {} device(s) from {}{}",
        imported.list.len(),
        escape(&name),
        output
            .map(|o| format!(" -> {}", escape(&o.display().to_string())))
            .unwrap_or_default()
    );
    Ok(ExitCode::SUCCESS)
}

/// A spreadsheet read: the good rows, and the problems of the bad ones.
struct Imported {
    list: AssetList,
    problems: Vec<Located>,
}

/// Reads a CSV export; `file` names it in messages. A header it cannot
/// use is an error; bad rows are collected in `problems`.
fn import(bytes: &[u8], file: &str) -> Result<Imported> {
    // The csv reader skips a UTF-8 byte order mark (Excel's "CSV UTF-8").
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter(bytes))
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut records = reader.byte_records();
    let header = match records.next() {
        Some(h) => h.with_context(|| format!("{file}: cannot read the header row"))?,
        None => bail!("{file}: empty file; the first row must name the columns"),
    };
    let columns = columns(&header, file)?;
    let mut list = AssetList::default();
    let mut problems = Vec::new();
    let mut lines = Lines::new(bytes);
    for record in records {
        let record = record.with_context(|| format!("{file}: cannot read"))?;
        let line = lines.at(record.position().map_or(0, |p| p.byte() as usize));
        let at = |key: Option<&str>, problem: String| Located {
            file: file.to_string(),
            line,
            key: key.map(str::to_string),
            problem,
        };
        if record
            .iter()
            .all(|cell| cell.iter().all(u8::is_ascii_whitespace))
        {
            continue;
        }
        if record.len() > columns.len()
            && record
                .iter()
                .skip(columns.len())
                .any(|c| !c.iter().all(u8::is_ascii_whitespace))
        {
            problems.push(at(
                None,
                format!(
                    "{} cells, but the header names {} columns",
                    record.len(),
                    columns.len()
                ),
            ));
            continue;
        }
        let mut fields = AssetFields::default();
        let mut bad = false;
        for (column, cell) in columns.iter().zip(record.iter()) {
            match std::str::from_utf8(cell) {
                Ok(text) => {
                    if let Some(f) = fields.field_mut(column) {
                        *f = Some(text.to_string());
                    }
                }
                Err(_) => {
                    bad = true;
                    problems.push(at(
                        Some(column),
                        "not UTF-8 text (export the sheet as \"CSV UTF-8\")".into(),
                    ));
                }
            }
        }
        if bad {
            continue;
        }
        match fields.check(line) {
            Ok(asset) => {
                if let Err(dups) = list.insert(asset) {
                    problems.extend(dups.iter().map(|d| at(Some(d.field), d.to_string())));
                }
            }
            Err(ps) => problems.extend(ps.into_iter().map(|(k, p)| at(k, p))),
        }
    }
    Ok(Imported { list, problems })
}

/// Physical line numbers of record starts. The csv crate's own
/// `Position::line` lags after `\r\n` and blank lines (a record's position
/// is where the reader was after the previous one, so it can point at the
/// line break before it); here lines are counted from the bytes, with
/// `\r\n`, `\n` and a lone `\r` each ending one.
struct Lines<'a> {
    bytes: &'a [u8],
    /// Offset counted up to, and the line there.
    offset: usize,
    line: usize,
}

impl<'a> Lines<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Lines {
            bytes,
            offset: 0,
            line: 1,
        }
    }

    /// The line of the record whose position is `start` (offsets only grow).
    fn at(&mut self, mut start: usize) -> usize {
        while matches!(self.bytes.get(start), Some(b'\r' | b'\n')) {
            start += 1;
        }
        let from = self.offset.min(start);
        let seen = self.bytes.get(from..start).unwrap_or_default();
        for (i, &b) in seen.iter().enumerate() {
            let lone_cr = b == b'\r' && self.bytes.get(from + i + 1) != Some(&b'\n');
            if b == b'\n' || lone_cr {
                self.line += 1;
            }
        }
        self.offset = self.offset.max(start);
        self.line
    }
}

/// The separator the header row uses most: `,`, or `;` (spreadsheets in
/// locales whose decimal mark is a comma) or a tab.
fn delimiter(bytes: &[u8]) -> u8 {
    let first = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    let count = |d: u8| first.iter().filter(|&&b| b == d).count();
    [b';', b'\t']
        .into_iter()
        .filter(|&d| count(d) > count(b','))
        .max_by_key(|&d| count(d))
        .unwrap_or(b',')
}

/// The header's column names, checked: known, each once, `mac` or `ip`
/// among them.
fn columns(header: &csv::ByteRecord, file: &str) -> Result<Vec<&'static str>> {
    let mut columns = Vec::new();
    let mut unknown = Vec::new();
    for (i, cell) in header.iter().enumerate() {
        let name = String::from_utf8_lossy(cell).trim().to_ascii_lowercase();
        match AssetFields::NAMES.iter().find(|n| **n == name) {
            Some(n) if columns.contains(n) => bail!("{file}:1: column `{n}` appears twice"),
            Some(n) => columns.push(*n),
            None if name.is_empty() => unknown.push(format!("column {} has no name", i + 1)),
            None => unknown.push(format!("{name:?}")),
        }
    }
    if !unknown.is_empty() {
        bail!(
            "{file}:1: unknown column(s): {}; the columns are {}",
            unknown.join(", "),
            AssetFields::NAMES.join(", ")
        );
    }
    if !columns.contains(&"mac") && !columns.contains(&"ip") {
        bail!("{file}:1: needs a `mac` or an `ip` column (or both)");
    }
    Ok(columns)
}

/// The asset file: a comment naming the source, then one `[[device]]`
/// per asset with its fields in [`AssetFields::NAMES`] order.
fn to_toml(list: &AssetList, source: &str) -> String {
    let mut out = format!(
        "# medtap asset list, imported by `medtap assets import` from {}\n\
         # on {}. Check it with `medtap config check` ([identity] assets).\n",
        escape(source).replace(['\n', '\r'], " "),
        chrono::Utc::now().format("%Y-%m-%d")
    );
    for asset in list.iter() {
        let mut fields = AssetFields::from(asset);
        out.push_str("\n[[device]]\n");
        for name in AssetFields::NAMES {
            if let Some(Some(v)) = fields.field_mut(name) {
                let _ = writeln!(out, "{name} = {}", toml_string(v));
            }
        }
    }
    out
}

/// `s` as a TOML basic string. Quotes, backslashes and every character
/// that must not reach a terminal raw ([`is_unsafe`]: controls, bidi,
/// line separators) are escapes, so the file is safe to `cat` and reads
/// back as the same text (TOML 1.0 "String": `\uXXXX`, `\UXXXXXXXX`).
fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_unsafe(c) && u32::from(c) <= 0xFFFF => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c if is_unsafe(c) => {
                let _ = write!(out, "\\U{:08X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Writes `path` through a temporary file in the same directory and a
/// rename, so a failed write never leaves half an asset list.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile_in(dir, path)?;
    let result = (|| -> Result<()> {
        tmp.1.write_all(bytes)?;
        tmp.1.sync_all()?;
        std::fs::rename(&tmp.0, path)?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp.0);
    }
    result.with_context(|| format!("cannot write {}", path.display()))
}

/// A new file beside `path` (`.NAME.PID.tmp`), created exclusively.
fn tempfile_in(dir: &Path, path: &Path) -> Result<(PathBuf, std::fs::File)> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "assets.toml".into());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    Ok((tmp, file))
}

#[cfg(test)]
mod tests;
