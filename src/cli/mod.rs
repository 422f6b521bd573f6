//! Subcommands, one file each.

mod alerts;
mod analyze;
mod assets;
mod baseline;
mod config_check;
mod device;
mod devices;
mod dhcp;
mod dicom;
mod extract;
mod flows;
mod hl7;
mod mqtt;
mod outputs;
mod replay;
mod rules;
mod run;
mod session;
mod status;
mod table;
mod verify;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use medtap::config::{Config, DEFAULT_PATH};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Passive monitor for connected medical devices.
#[derive(Parser, Debug)]
#[command(name = "medtap", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Process capture files (pcap/pcapng, `-` for stdin) into the database, then exit.
    Analyze(analyze::AnalyzeArgs),
    /// Capture live until SIGINT/SIGTERM, then flush every open flow and exit.
    Run(run::RunArgs),
    /// List flow records.
    Flows(flows::FlowsArgs),
    /// Alerts (DB3205/T Appendix A detections), oldest first; `--follow` tails them.
    Alerts(alerts::AlertsArgs),
    /// One alert with both ends' device cards and the flows behind it.
    Alert(alerts::AlertArgs),
    /// The device inventory: addresses, vendor, names, protocols, asset
    /// fields; `devices export` writes the asset register.
    Devices(devices::DevicesArgs),
    /// Everything known about one device (by MAC or IP).
    Device(device::DeviceArgs),
    /// DHCP transactions: client, message types, names, leased address.
    Dhcp(dhcp::DhcpArgs),
    /// DICOM associations: AE titles, presentation contexts, DIMSE operations.
    Dicom(dicom::DicomArgs),
    /// HL7 v2 messages (MLLP): header fields, segment counts, ACK code and latency.
    Hl7(hl7::Hl7Args),
    /// MQTT sessions: client id, CONNACK, topics published, subscriptions.
    Mqtt(mqtt::MqttArgs),
    /// Capture statistics: packets, drops, decode errors, records lost, database size.
    Status(status::StatusArgs),
    /// Archived packets behind an alert, a flow or a device, as a pcap
    /// (`-w -` for stdout) with a manifest (SHA-256, selection, sensor).
    Extract(extract::ExtractArgs),
    /// Runs detection again over an alert's archived packets (temporary
    /// database, the sensor's rules and assets) and says whether the same
    /// alert comes out.
    Replay(replay::ReplayArgs),
    /// Checks the evidence chain over the flow and alert rows: names the
    /// first batch changed or removed (exit 5); retention pruning is not tampering.
    Verify(verify::VerifyArgs),
    /// Configuration commands.
    #[command(subcommand)]
    Config(config_check::ConfigCommand),
    /// The asset list: import it from a spreadsheet export.
    #[command(subcommand)]
    Assets(assets::AssetsCommand),
    /// Learnt allow-lists: `baseline propose` prints policy entries for what
    /// devices were seen doing.
    #[command(subcommand)]
    Baseline(baseline::BaselineCommand),
    /// Device classes and fingerprint rules: check them, list the classes
    /// with their DB3205/T grades.
    #[command(subcommand)]
    Rules(rules::RulesCommand),
}

/// `--config` and `--db`, shared by the commands that read the database.
#[derive(Args, Debug, Clone)]
pub struct DbArgs {
    /// Database file [default: the config's store.database]
    #[arg(long, value_name = "PATH")]
    db: Option<PathBuf>,
    /// Config file [default: /etc/medtap/medtap.toml if it exists]
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
}

impl DbArgs {
    /// `--config`, if given.
    fn config_path(&self) -> Option<&Path> {
        self.config.as_deref()
    }

    /// The database path: `--db`, else the config's.
    fn db_path(&self) -> Result<PathBuf> {
        match &self.db {
            Some(p) => Ok(p.clone()),
            None => Ok(load_config(self.config.as_deref())?.store.database),
        }
    }
}

/// `--device`, `--since`, `--until`: which flows or sessions a query covers.
#[derive(Args, Debug, Clone)]
pub struct WindowArgs {
    /// Only traffic to or from this device (MAC or IP)
    #[arg(long, value_name = "MAC|IP")]
    device: Option<String>,
    /// Only traffic active at or after this time (RFC 3339, or relative: -2h, -30m)
    #[arg(long, value_name = "T", allow_hyphen_values = true)]
    since: Option<String>,
    /// Only traffic that started at or before this time
    #[arg(long, value_name = "T", allow_hyphen_values = true)]
    until: Option<String>,
}

/// A parsed [`WindowArgs`].
pub struct Window {
    device: Option<medtap::store::query::DeviceSel>,
    since: Option<medtap::time::Micros>,
    until: Option<medtap::time::Micros>,
}

impl WindowArgs {
    /// Parses the device selector and the times (relative to now).
    fn parse(&self) -> Result<Window> {
        use medtap::store::query::DeviceSel;
        use medtap::time::{self, parse_time};
        let now = time::now();
        Ok(Window {
            device: self
                .device
                .as_deref()
                .map(|d| {
                    DeviceSel::parse(d).ok_or_else(|| {
                        anyhow::anyhow!("--device {d:?} is neither a MAC nor an IP address")
                    })
                })
                .transpose()?,
            since: self
                .since
                .as_deref()
                .map(|t| parse_time(t, now))
                .transpose()?,
            until: self
                .until
                .as_deref()
                .map(|t| parse_time(t, now))
                .transpose()?,
        })
    }
}

/// Options of the per-protocol queries (`dicom`, `hl7`, `mqtt`).
#[derive(Args, Debug, Clone)]
pub struct AppQueryArgs {
    #[command(flatten)]
    db: DbArgs,
    #[command(flatten)]
    window: WindowArgs,
    /// Most rows to print; 0 for all
    #[arg(long, value_name = "N", default_value_t = 0)]
    limit: u64,
    /// One JSON object per line
    #[arg(long)]
    json: bool,
}

/// Parses [`AppQueryArgs`] into a store filter.
fn app_filter(a: &AppQueryArgs) -> Result<medtap::store::query::AppFilter> {
    let w = a.window.parse()?;
    Ok(medtap::store::query::AppFilter {
        device: w.device,
        since: w.since,
        until: w.until,
        limit: (a.limit > 0).then_some(a.limit),
    })
}

/// Runs a per-protocol query. With `--json` its rows are printed as JSON
/// lines here and `None` is returned; otherwise the rows, for the caller's
/// table.
fn app_rows<T: serde::Serialize>(
    a: &AppQueryArgs,
    query: fn(&rusqlite::Connection, &medtap::store::query::AppFilter) -> rusqlite::Result<Vec<T>>,
) -> Result<Option<Vec<T>>> {
    let filter = app_filter(a)?;
    let conn = open_db(&a.db.db_path()?)?;
    let rows = query(&conn, &filter)?;
    if a.json {
        print_json_lines(&rows)?;
        return Ok(None);
    }
    Ok(Some(rows))
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Analyze(a) => analyze::run(a),
        Command::Run(a) => run::run(a),
        Command::Flows(a) => flows::run(a),
        Command::Alerts(a) => alerts::run(a),
        Command::Alert(a) => alerts::run_one(a),
        Command::Devices(a) => devices::run(a),
        Command::Device(a) => device::run(a),
        Command::Dhcp(a) => dhcp::run(a),
        Command::Status(a) => status::run(a),
        Command::Extract(a) => extract::run(a),
        Command::Replay(a) => replay::run(a),
        Command::Verify(a) => verify::run(a),
        Command::Dicom(a) => dicom::run(a),
        Command::Hl7(a) => hl7::run(a),
        Command::Mqtt(a) => mqtt::run(a),
        Command::Config(c) => config_check::run(c),
        Command::Assets(c) => assets::run(c),
        Command::Rules(c) => rules::run(c),
        Command::Baseline(c) => baseline::run(c),
    }
}

/// A path argument that may be empty (`--assets=`: none), which clap's
/// own path parser refuses.
fn any_path() -> impl clap::builder::TypedValueParser<Value = PathBuf> {
    use clap::builder::TypedValueParser;
    clap::builder::OsStringValueParser::new().map(PathBuf::from)
}

/// Loads `--config`, or the default file if present, or built-in defaults.
fn load_config(path: Option<&Path>) -> Result<Config> {
    match path {
        Some(p) => Ok(Config::load(p)?),
        None if Path::new(DEFAULT_PATH).exists() => Ok(Config::load(Path::new(DEFAULT_PATH))?),
        None => Ok(Config::default()),
    }
}

/// Sets up logging to stderr from the config (RUST_LOG overrides the level).
fn init_logging(cfg: &Config) -> Result<()> {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&cfg.log.level))
        .context("log level")?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let res = if cfg.log.format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    res.map_err(|e| anyhow::anyhow!("cannot set up logging: {e}"))
}

/// Opens a database for reading, with a hint when it does not exist.
fn open_db(path: &Path) -> Result<rusqlite::Connection> {
    if !path.exists() {
        anyhow::bail!(
            "database {} does not exist (run `medtap analyze` or `medtap run` first, or pass --db)",
            path.display()
        );
    }
    Ok(medtap::store::open_read(path)?)
}

/// Writes one JSON object per line, terminal-safe ([`table::JsonFormatter`]).
fn print_json_lines<T: serde::Serialize>(rows: &[T]) -> Result<()> {
    use std::io::Write;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for r in rows {
        table::write_json_line(&mut out, r)?;
    }
    out.flush()?;
    Ok(())
}
