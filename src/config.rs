//! The configuration file (`config/medtap.toml`): serde structs with
//! `deny_unknown_fields`, defaults for a sensor box, and validation whose
//! messages name the key and its line.

use crate::flow::Timeouts;
use crate::net::Cidr;
use crate::time::SECOND;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Where the daemon looks when `--config` is not given.
pub const DEFAULT_PATH: &str = "/etc/medtap/medtap.toml";

/// Config errors; each names the file and, where known, the key and line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// File path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// TOML syntax, an unknown key or a value of the wrong type.
    #[error("{path}: {message}")]
    Parse {
        /// File path.
        path: String,
        /// toml's message, which names the key and shows the line.
        message: String,
    },
    /// A value of the right type but out of range.
    #[error("{path}:{line}: `{key}`: {problem}")]
    Invalid {
        /// File path.
        path: String,
        /// Line of the key, 0 when the key was not in the file (a default).
        line: usize,
        /// Dotted key, e.g. `flow.max_flows`.
        key: String,
        /// What is wrong.
        problem: String,
    },
}

/// The whole configuration.
#[derive(Clone, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[capture]`
    pub capture: CaptureConfig,
    /// `[flow]`
    pub flow: FlowConfig,
    /// `[identity]`
    pub identity: IdentityConfig,
    /// `[store]`
    pub store: StoreConfig,
    /// `[log]`
    pub log: LogConfig,
}

/// `[capture]`: the live interface.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CaptureConfig {
    /// Interface fed by the SPAN/mirror port.
    pub interface: String,
    /// Promiscuous mode.
    pub promiscuous: bool,
    /// Bytes kept per frame.
    pub snaplen: u32,
    /// Kernel ring buffer, MiB.
    pub buffer_mib: u32,
    /// Deliver packets as they arrive.
    pub immediate_mode: bool,
    /// BPF filter ("" for all traffic).
    pub filter: String,
    /// Seconds between capture statistics rows.
    pub stats_interval_secs: u64,
}

impl Default for CaptureConfig {
    fn default() -> Self {
        CaptureConfig {
            interface: "eth1".into(),
            promiscuous: true,
            snaplen: 65_535,
            buffer_mib: 64,
            immediate_mode: true,
            filter: String::new(),
            stats_interval_secs: 10,
        }
    }
}

/// `[flow]`: the flow table.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FlowConfig {
    /// Most flows held at once.
    pub max_flows: usize,
    /// MiB of out-of-order TCP data held for reassembly, all flows together.
    pub reassembly_mib: usize,
    /// Seconds between interim records of long-open flows in live capture
    /// (0: only when they end). A crash loses at most about twice this.
    pub interim_interval_secs: u64,
    /// `[flow.timeouts]`
    pub timeouts: TimeoutsConfig,
}

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            max_flows: 262_144,
            reassembly_mib: 256,
            interim_interval_secs: 60,
            timeouts: TimeoutsConfig::default(),
        }
    }
}

/// `[flow.timeouts]`, seconds.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimeoutsConfig {
    /// TCP before the handshake completes.
    pub tcp_new: u64,
    /// Established TCP.
    pub tcp_established: u64,
    /// Grace after FIN/RST.
    pub tcp_closed: u64,
    /// UDP.
    pub udp: u64,
    /// ICMP.
    pub icmp: u64,
    /// Other IP protocols.
    pub other: u64,
}

impl Default for TimeoutsConfig {
    fn default() -> Self {
        let t = Timeouts::default();
        let s = |m: i64| (m / SECOND) as u64;
        TimeoutsConfig {
            tcp_new: s(t.tcp_new),
            tcp_established: s(t.tcp_established),
            tcp_closed: s(t.tcp_closed),
            udp: s(t.udp),
            icmp: s(t.icmp),
            other: s(t.other),
        }
    }
}

impl TimeoutsConfig {
    /// As [`Timeouts`] in microseconds.
    pub fn to_timeouts(&self) -> Timeouts {
        let us = |s: u64| {
            i64::try_from(s)
                .unwrap_or(i64::MAX / SECOND)
                .saturating_mul(SECOND)
        };
        Timeouts {
            tcp_new: us(self.tcp_new),
            tcp_established: us(self.tcp_established),
            tcp_closed: us(self.tcp_closed),
            udp: us(self.udp),
            icmp: us(self.icmp),
            other: us(self.other),
        }
    }
}

/// `[identity]`: device identity.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdentityConfig {
    /// Networks whose addresses are bound to the MAC that sends from them.
    pub local_networks: Vec<String>,
    /// Most devices tracked.
    pub max_devices: usize,
    /// Seconds between last-seen updates in the database.
    pub flush_interval_secs: u64,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        IdentityConfig {
            local_networks: [
                "10.0.0.0/8",
                "172.16.0.0/12",
                "192.168.0.0/16",
                "169.254.0.0/16",
                "fc00::/7",
                "fe80::/10",
            ]
            .map(String::from)
            .to_vec(),
            max_devices: 65_536,
            flush_interval_secs: 60,
        }
    }
}

impl IdentityConfig {
    /// The parsed networks (validated by [`Config::validate`]).
    pub fn networks(&self) -> Vec<Cidr> {
        self.local_networks
            .iter()
            .filter_map(|s| Cidr::parse(s))
            .collect()
    }
}

/// `[store]`: the database.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// SQLite database path.
    pub database: PathBuf,
    /// Records buffered between the capture and the writer.
    pub channel_capacity: usize,
    /// Most rows per transaction.
    pub batch_rows: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            database: PathBuf::from("/var/lib/medtap/medtap.db"),
            channel_capacity: 65_536,
            batch_rows: 5_000,
        }
    }
}

/// `[log]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// error, warn, info, debug or trace (or a tracing filter directive).
    pub level: String,
    /// "text" or "json".
    pub format: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            format: "text".into(),
        }
    }
}

impl Config {
    /// Reads, parses and validates `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(&text, &path.display().to_string())
    }

    /// Parses and validates `text`; `path` is used in messages.
    pub fn parse(text: &str, path: &str) -> Result<Config, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        cfg.validate(text, path)?;
        Ok(cfg)
    }

    fn validate(&self, text: &str, path: &str) -> Result<(), ConfigError> {
        let bad = |key: &str, problem: String| ConfigError::Invalid {
            path: path.to_string(),
            line: line_of(text, key),
            key: key.to_string(),
            problem,
        };
        let c = &self.capture;
        if !(64..=262_144).contains(&c.snaplen) {
            return Err(bad(
                "capture.snaplen",
                format!("{} is outside 64..=262144", c.snaplen),
            ));
        }
        if !(1..=4096).contains(&c.buffer_mib) {
            return Err(bad(
                "capture.buffer_mib",
                format!("{} is outside 1..=4096", c.buffer_mib),
            ));
        }
        if c.stats_interval_secs == 0 {
            return Err(bad(
                "capture.stats_interval_secs",
                "must be at least 1".into(),
            ));
        }
        if !(1..=50_000_000).contains(&self.flow.max_flows) {
            return Err(bad(
                "flow.max_flows",
                format!("{} is outside 1..=50000000", self.flow.max_flows),
            ));
        }
        if !(1..=65_536).contains(&self.flow.reassembly_mib) {
            return Err(bad(
                "flow.reassembly_mib",
                format!("{} is outside 1..=65536", self.flow.reassembly_mib),
            ));
        }
        if self.flow.interim_interval_secs > 86_400 {
            return Err(bad(
                "flow.interim_interval_secs",
                format!("{} is outside 0..=86400", self.flow.interim_interval_secs),
            ));
        }
        let t = &self.flow.timeouts;
        for (key, v) in [
            ("flow.timeouts.tcp_new", t.tcp_new),
            ("flow.timeouts.tcp_established", t.tcp_established),
            ("flow.timeouts.tcp_closed", t.tcp_closed),
            ("flow.timeouts.udp", t.udp),
            ("flow.timeouts.icmp", t.icmp),
            ("flow.timeouts.other", t.other),
        ] {
            if !(1..=7 * 86_400).contains(&v) {
                return Err(bad(key, format!("{v} seconds is outside 1..=604800")));
            }
        }
        let id = &self.identity;
        if let Some(n) = id.local_networks.iter().find(|n| Cidr::parse(n).is_none()) {
            return Err(bad(
                "identity.local_networks",
                format!("{n:?} is not a CIDR network like 10.0.0.0/8"),
            ));
        }
        if !(1..=10_000_000).contains(&id.max_devices) {
            return Err(bad(
                "identity.max_devices",
                format!("{} is outside 1..=10000000", id.max_devices),
            ));
        }
        if id.flush_interval_secs == 0 {
            return Err(bad(
                "identity.flush_interval_secs",
                "must be at least 1".into(),
            ));
        }
        let s = &self.store;
        if s.database.as_os_str().is_empty() {
            return Err(bad("store.database", "must not be empty".into()));
        }
        if !(16..=10_000_000).contains(&s.channel_capacity) {
            return Err(bad(
                "store.channel_capacity",
                format!("{} is outside 16..=10000000", s.channel_capacity),
            ));
        }
        if !(1..=10_000).contains(&s.batch_rows) {
            return Err(bad(
                "store.batch_rows",
                format!("{} is outside 1..=10000", s.batch_rows),
            ));
        }
        if !matches!(self.log.format.as_str(), "text" | "json") {
            return Err(bad(
                "log.format",
                format!("{:?} is not \"text\" or \"json\"", self.log.format),
            ));
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            return Err(bad(
                "log.level",
                format!("{:?} is not a level or filter directive", self.log.level),
            ));
        }
        Ok(())
    }
}

/// 1-based line of a dotted key (`section.sub.key`) in a TOML text, found
/// by tracking `[section]` headers; 0 when absent (the default was used).
fn line_of(text: &str, dotted: &str) -> usize {
    let (section, key) = dotted.rsplit_once('.').unwrap_or(("", dotted));
    let mut current = String::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if let Some(h) = line.strip_prefix('[').and_then(|l| l.split(']').next()) {
            current = h.trim().to_string();
            continue;
        }
        let Some((k, _)) = line.split_once('=') else {
            continue;
        };
        if current == section && k.trim() == key {
            return i + 1;
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_config_is_valid_and_matches_defaults_where_documented() {
        let text = include_str!("../config/medtap.toml");
        let cfg = Config::parse(text, "config/medtap.toml").unwrap();
        assert_eq!(cfg.capture.buffer_mib, 64);
        assert_eq!(
            cfg.store.database,
            PathBuf::from("/var/lib/medtap/medtap.db")
        );
        assert_eq!(cfg.flow.max_flows, FlowConfig::default().max_flows);
    }

    #[test]
    fn empty_config_takes_defaults() {
        let cfg = Config::parse("", "x.toml").unwrap();
        assert!(cfg.capture.promiscuous);
        assert_eq!(cfg.identity.networks().len(), 6);
    }

    #[test]
    fn unknown_key_is_rejected_with_its_name_and_line() {
        let err = Config::parse("[flow]\nmax_flows = 10\nmax_flow = 3\n", "x.toml").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("max_flow"), "{msg}");
        assert!(msg.contains('3'), "line number missing: {msg}");
    }

    #[test]
    fn unknown_section_is_rejected() {
        let err = Config::parse("[flows]\nmax_flows = 10\n", "x.toml").unwrap_err();
        assert!(err.to_string().contains("flows"), "{err}");
    }

    #[test]
    fn out_of_range_value_names_key_and_line() {
        let text = "[capture]\ninterface = \"eth0\"\n\n[flow]\n# comment\nmax_flows = 0\n";
        let err = Config::parse(text, "m.toml").unwrap_err();
        assert_eq!(
            err.to_string(),
            "m.toml:6: `flow.max_flows`: 0 is outside 1..=50000000"
        );
        let text = "[flow.timeouts]\nudp = 0\n";
        let err = Config::parse(text, "m.toml").unwrap_err();
        assert_eq!(
            err.to_string(),
            "m.toml:2: `flow.timeouts.udp`: 0 seconds is outside 1..=604800"
        );
    }

    #[test]
    fn bad_network_and_log_format_are_named() {
        let err =
            Config::parse("[identity]\nlocal_networks = [\"10.0.0.0/40\"]\n", "m").unwrap_err();
        assert!(
            err.to_string().contains("m:2: `identity.local_networks`"),
            "{err}"
        );
        let err = Config::parse("[log]\nformat = \"xml\"\n", "m").unwrap_err();
        assert!(err.to_string().contains("`log.format`"), "{err}");
    }

    #[test]
    fn wrong_type_is_rejected() {
        let err = Config::parse("[capture]\nsnaplen = \"big\"\n", "m").unwrap_err();
        assert!(err.to_string().contains("snaplen"), "{err}");
    }
}
