//! `medtap devices`: the device inventory, and `medtap devices export`,
//! the DB3205/T 6.3 a) register (type, manufacturer, IP, MAC, unique
//! identifier, department, location, first/last seen).

use super::{open_db, print_json_lines, table, DbArgs};
use anyhow::Result;
use clap::{Args, Subcommand, ValueEnum};
use medtap::store::query::{self, DeviceFilter, DeviceRow, ExportRow};
use std::io::Write;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct DevicesArgs {
    #[command(subcommand)]
    export: Option<DevicesCommand>,
    #[command(flatten)]
    db: DbArgs,
    /// One JSON object per line
    #[arg(long)]
    json: bool,
    /// Only devices the asset list does not register
    #[arg(long)]
    unregistered: bool,
    /// Only devices whose vendor contains TEXT (any case)
    #[arg(long, value_name = "TEXT")]
    vendor: Option<String>,
    /// Only devices made by medical manufacturers (rules/medical_vendors.toml)
    #[arg(long)]
    medical: bool,
    /// Only devices of this class (`medtap rules classes` lists them)
    #[arg(long, value_name = "ID")]
    class: Option<String>,
    /// Only devices of this DB3205/T risk grade
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=3))]
    grade: Option<u8>,
}

#[derive(Subcommand, Debug)]
enum DevicesCommand {
    /// Write the inventory as the hospital's asset register (CSV or JSON lines).
    Export(ExportArgs),
}

#[derive(Args, Debug)]
struct ExportArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Csv)]
    format: Format,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Format {
    Csv,
    Json,
}

pub fn run(a: DevicesArgs) -> Result<ExitCode> {
    if let Some(DevicesCommand::Export(e)) = a.export {
        return export(e);
    }
    let conn = open_db(&a.db.db_path()?)?;
    let filter = DeviceFilter {
        unregistered: a.unregistered,
        vendor: a.vendor.clone(),
        medical: a.medical,
        device: None,
        class: a.class.clone(),
        grade: a.grade,
    };
    let rows = query::devices(&conn, &filter)?;
    if a.json {
        print_json_lines(&rows)?;
        return Ok(ExitCode::SUCCESS);
    }
    table::print(
        &[
            "mac",
            "ips",
            "vendor",
            "name",
            "class",
            "grade",
            "confidence",
            "registered",
            "protocols",
            "last_seen",
        ],
        rows.iter().map(|d| {
            vec![
                d.mac.clone().unwrap_or_else(|| "(behind router)".into()),
                dash(d.ips.join(",")),
                vendor_cell(d),
                dash(display_name(d)),
                class_cell(d),
                d.grade.map_or_else(|| "-".into(), |g| g.to_string()),
                confidence_cell(d),
                if d.registered { "yes" } else { "no" }.into(),
                dash(d.protocols.join(",")),
                d.last_seen.clone(),
            ]
        }),
    )?;
    Ok(ExitCode::SUCCESS)
}

/// The class, with the runner-up when one is close.
pub fn class_cell(d: &DeviceRow) -> String {
    match &d.runner_up {
        Some(r) => format!("{} (or {r})", d.class),
        None => d.class.clone(),
    }
}

/// The confidence, or where the class came from when it is not inferred.
pub fn confidence_cell(d: &DeviceRow) -> String {
    match d.class_source.as_deref() {
        Some("asset") => "asset".into(),
        Some(_) => format!("{:.2}", d.confidence),
        None => "-".into(),
    }
}

fn dash(s: String) -> String {
    if s.is_empty() {
        "-".into()
    } else {
        s
    }
}

/// The vendor, marked when medical, or why there is none.
pub fn vendor_cell(d: &DeviceRow) -> String {
    match (&d.vendor, d.locally_administered, &d.role) {
        (Some(v), _, _) if d.medical_vendor => format!("{v} [medical]"),
        (Some(v), _, _) => v.clone(),
        (None, true, _) => "(locally administered)".into(),
        (None, _, Some(r)) => format!("({r})"),
        (None, _, None) => "-".into(),
    }
}

/// The asset name, else the hostname, else the first AE title or client id.
pub fn display_name(d: &DeviceRow) -> String {
    d.asset
        .as_ref()
        .and_then(|a| a.fields.name.clone())
        .or_else(|| d.names.hostname.clone())
        .or_else(|| d.names.dicom_ae_titles.first().cloned())
        .or_else(|| d.names.mqtt_client_ids.first().cloned())
        .or_else(|| d.names.hl7_apps.first().cloned())
        .unwrap_or_default()
}

fn export(e: ExportArgs) -> Result<ExitCode> {
    let conn = open_db(&e.db.db_path()?)?;
    let rows: Vec<ExportRow> = query::devices(&conn, &DeviceFilter::default())?
        .iter()
        .map(ExportRow::of)
        .collect();
    match e.format {
        Format::Json => print_json_lines(&rows)?,
        Format::Csv => {
            let stdout = std::io::stdout();
            let mut w = csv::Writer::from_writer(stdout.lock());
            w.write_record(ExportRow::COLUMNS)?;
            for r in &rows {
                // A spreadsheet runs a cell that starts with = + - @ as a
                // formula (CSV injection): such cells get a leading quote.
                w.write_record(r.values().iter().map(|v| neutralise(v)))?;
            }
            w.flush()?;
            std::io::stdout().flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A CSV cell a spreadsheet will not run as a formula, and whose control
/// characters are escaped.
fn neutralise(v: &str) -> String {
    let v = table::escape(v);
    if v.starts_with(['=', '+', '-', '@']) {
        format!("'{v}")
    } else {
        v
    }
}
