//! The configuration file (`config/medtap.toml`): serde structs with
//! `deny_unknown_fields`, defaults for a sensor box, and validation whose
//! messages name the key and its line.

pub mod archive;
pub mod span;

pub use archive::ArchiveConfig;

use crate::flow::Timeouts;
use crate::net::Cidr;
use crate::time::SECOND;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Where the daemon looks when `--config` is not given.
pub const DEFAULT_PATH: &str = "/etc/medtap/medtap.toml";

/// `[identity] assets` by default; no file there means no asset list.
pub const DEFAULT_ASSETS_PATH: &str = "/etc/medtap/assets.toml";

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
    /// `[policy]`
    pub policy: PolicyConfig,
    /// `[outputs]`
    pub outputs: OutputsConfig,
    /// `[archive]`
    pub archive: ArchiveConfig,
}

/// `[outputs]`: what goes to the hospital's SIEM besides the database.
#[derive(Clone, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct OutputsConfig {
    /// This sensor's name in every EVE line (`host`) and syslog message
    /// (`sensor=`); empty: the machine's host name.
    pub sensor_name: String,
    /// Prometheus endpoint `HOST:PORT`; empty: off.
    pub metrics_listen: String,
    /// `[outputs.eve]`
    pub eve: EveConfig,
    /// `[outputs.syslog]`
    pub syslog: SyslogConfig,
}

/// Every EVE event type, in `outputs.eve.types` order.
pub const EVE_TYPES: [&str; 9] = [
    "alert", "anomaly", "flow", "dhcp", "mqtt", "dicom", "hl7", "device", "stats",
];

/// `[outputs.eve]`: EVE JSON lines.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EveConfig {
    /// A file, or `unix:PATH` for a unix stream socket; empty: off.
    pub path: String,
    /// Event types written.
    pub types: Vec<String>,
    /// Events buffered for the output (it drops, counted, when full).
    pub queue: usize,
}

impl Default for EveConfig {
    fn default() -> Self {
        EveConfig {
            path: String::new(),
            types: EVE_TYPES.iter().map(|t| t.to_string()).collect(),
            queue: 65_536,
        }
    }
}

/// `[outputs.syslog]`: RFC 5424 syslog of alerts.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyslogConfig {
    /// `udp://HOST:PORT`, `tcp://HOST:PORT` or `unix:PATH`; empty: off.
    pub target: String,
    /// TCP framing: `octet-counted` (RFC 6587 3.4.1) or `newline`.
    pub framing: String,
    /// The private enterprise number in the structured data's id
    /// (`medtap@N`); 32473 is RFC 5612's documentation number.
    pub enterprise_number: u32,
    /// Syslog facility name (`local0` ... `local7`, `daemon`, `auth`, ...).
    pub facility: String,
    /// Also send protocol anomalies.
    pub anomalies: bool,
    /// Events buffered for the output (it drops, counted, when full).
    pub queue: usize,
}

impl Default for SyslogConfig {
    fn default() -> Self {
        SyslogConfig {
            target: String::new(),
            framing: "octet-counted".into(),
            enterprise_number: 32473,
            facility: "local0".into(),
            anomalies: false,
            queue: 16_384,
        }
    }
}

/// The number of syslog facility `name` (RFC 5424 6.2.1).
pub fn syslog_facility(name: &str) -> Option<u8> {
    const NAMES: [&str; 24] = [
        "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
        "authpriv", "ftp", "ntp", "audit", "alert", "clock", "local0", "local1", "local2",
        "local3", "local4", "local5", "local6", "local7",
    ];
    NAMES.iter().position(|n| *n == name).map(|i| i as u8)
}

/// Whether `target` has the shape of a syslog destination.
pub fn check_syslog_target(target: &str) -> Result<(), String> {
    let hostport = |s: &str| -> Result<(), String> {
        match s.rsplit_once(':') {
            Some((h, p)) if !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0) => Ok(()),
            _ => Err(format!("{s:?} is not HOST:PORT")),
        }
    };
    if let Some(r) = target.strip_prefix("udp://") {
        hostport(r)
    } else if let Some(r) = target.strip_prefix("tcp://") {
        hostport(r)
    } else if let Some(p) = target.strip_prefix("unix:") {
        if p.is_empty() {
            Err("`unix:` needs a socket path".into())
        } else {
            Ok(())
        }
    } else {
        Err(format!(
            "{target:?} is not udp://HOST:PORT, tcp://HOST:PORT or unix:PATH"
        ))
    }
}

/// Where a hospital's own rules live (`device_classes.toml`,
/// `fingerprints.toml`; see `device::rules`).
pub const DEFAULT_RULES_DIR: &str = "/etc/medtap/rules.d";

/// `[policy]`: the hospital's rules, learning and detection thresholds.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// Directory of the hospital's rule files, read after the shipped
    /// ones: at [`DEFAULT_RULES_DIR`] it may be absent; any other path
    /// must be a directory; empty for none.
    pub rules_dir: PathBuf,
    /// Learning period ("14d", "12h", "0" for none): from the first start
    /// on a database, violations are observations instead of alerts.
    pub learn_for: String,
    /// Repeats of one finding within this many seconds fold into one alert.
    pub alert_window_secs: u64,
    /// DHCP servers allowed besides the asset list's `dhcp_server` devices.
    pub dhcp_servers: Vec<String>,
    /// A medical device sending more than this many MiB in one flow to a
    /// peer outside its allow-list raises DATA_EXPORT.
    pub export_mib: u64,
    /// A device's services in this long after it is first seen ("1d",
    /// "12h") are its baseline; a port or protocol new after that raises
    /// NEW_SERVICE.
    pub new_service_after: String,
    /// `[policy.thresholds]`
    pub thresholds: ThresholdsConfig,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            rules_dir: PathBuf::from(DEFAULT_RULES_DIR),
            learn_for: "0".into(),
            alert_window_secs: 3600,
            dhcp_servers: Vec::new(),
            export_mib: 100,
            new_service_after: "1d".into(),
            thresholds: ThresholdsConfig::default(),
        }
    }
}

/// `[policy.thresholds]`: when a rate becomes an attack pattern.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ThresholdsConfig {
    /// Window of the per-client rate checks, seconds.
    pub window_secs: u64,
    /// Refused MQTT logins from one client within the window.
    pub mqtt_auth_failures: u32,
    /// More DICOM associations than this from one client within the window.
    pub dicom_association_burst: u32,
    /// More C-FIND/C-MOVE/C-GET requests than this from one client within the window.
    pub dicom_query_burst: u32,
    /// Window of the scan check, seconds.
    pub scan_window_secs: u64,
    /// Distinct hosts one source touches within the scan window.
    pub scan_hosts: u32,
    /// Distinct host:port pairs one source touches within the scan window.
    pub scan_ports: u32,
}

impl Default for ThresholdsConfig {
    fn default() -> Self {
        ThresholdsConfig {
            window_secs: 60,
            mqtt_auth_failures: 5,
            dicom_association_burst: 30,
            dicom_query_burst: 100,
            scan_window_secs: 60,
            scan_hosts: 32,
            scan_ports: 64,
        }
    }
}

pub use crate::time::parse_duration;

impl PolicyConfig {
    /// The rules directory to read: `None` when `rules_dir` is empty, or
    /// is the default and absent. Any other missing path is an error.
    pub fn rules_dir(&self) -> Result<Option<&std::path::Path>, String> {
        let dir = self.rules_dir.as_path();
        if dir.as_os_str().is_empty() {
            return Ok(None);
        }
        if dir.is_dir() {
            return Ok(Some(dir));
        }
        if dir == std::path::Path::new(DEFAULT_RULES_DIR) && !dir.exists() {
            return Ok(None);
        }
        Err(format!(
            "rules directory {} is not a directory",
            dir.display()
        ))
    }
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
    /// Deliver each packet as it arrives (libpcap's immediate mode, a
    /// TPACKET_V2 ring of fixed snaplen-sized slots) instead of in blocks
    /// (TPACKET_V3, packets packed back to back, handed over when a block
    /// fills or after the capture timeout).
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
            // About 2 s of a 1 Gbit/s link (some 280,000 frames of the
            // mixed perf capture): medtap's one worker runs close to 1 Gbit/s
            // on a busy core, and `scripts/bench-live.sh` on a loaded 2-core
            // VM lost 0.5% at 1,045 Mbit/s with 64 MiB (about 0.5 s) and
            // nothing with 256 MiB. Kernel memory, taken once at start.
            buffer_mib: 256,
            // Off: in immediate mode libpcap uses TPACKET_V2, whose ring is
            // cut into fixed slots of the snaplen (64 KiB at 65535 on an
            // interface with segmentation offload), so 64 MiB held about
            // 1,000 frames: `scripts/bench-live.sh` lost 2% of the mixed
            // capture at 200 Mbit/s and 23% at 880 Mbit/s. Blocks
            // (TPACKET_V3) pack frames by their real size; a quiet link's
            // packets wait at most the capture timeout
            // (`capture::BLOCK_TIMEOUT`, 100 ms).
            immediate_mode: false,
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
    /// The asset list (`device::assets`): at [`DEFAULT_ASSETS_PATH`] it
    /// may be absent; any other path must exist; empty for none.
    pub assets: PathBuf,
    /// Networks whose addresses the hospital plans statically (no DHCP),
    /// so that an address there stays with one device.
    pub static_networks: Vec<String>,
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
            assets: PathBuf::from(DEFAULT_ASSETS_PATH),
            static_networks: Vec::new(),
        }
    }
}

impl IdentityConfig {
    /// The parsed networks (validated by [`Config::validate`]).
    pub fn networks(&self) -> Vec<Cidr> {
        parse_networks(&self.local_networks)
    }

    /// The parsed `static_networks` (validated by [`Config::validate`]).
    pub fn static_cidrs(&self) -> Vec<Cidr> {
        parse_networks(&self.static_networks)
    }
}

fn parse_networks(list: &[String]) -> Vec<Cidr> {
    list.iter().filter_map(|s| Cidr::parse(s)).collect()
}

/// `[store]`: the database.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// SQLite database path.
    pub database: PathBuf,
    /// Records buffered between the capture and the writer.
    pub channel_capacity: usize,
    /// MiB of record data (MQTT sessions, HL7 messages, DICOM associations)
    /// buffered between the capture and the sinks: the queue is full at
    /// whichever of this and `channel_capacity` comes first.
    pub queue_mib: usize,
    /// Most records per transaction. A transaction also ends a second after
    /// its first record, so this only bounds bursts: large transactions
    /// write each touched index page once instead of once per commit.
    pub batch_rows: usize,
    /// Days flows and application records (DICOM, HL7, MQTT, DHCP,
    /// anomalies) are kept, counted back from the newest record written
    /// (packet time); 0 keeps them forever. China's Cybersecurity Law
    /// (art. 21) asks for at least six months of network logs; DB3205/T
    /// A.4 e) limits how long data about patients' devices is kept.
    pub retention_days: u32,
    /// Days alerts and device history (device events, statistics rows) are
    /// kept; 0 keeps them forever. At least `retention_days` unless 0:
    /// alerts outlive the flows behind them.
    pub alert_retention_days: u32,
    /// MiB of database pages in use past which the oldest rows are pruned
    /// (flows and application records first, then alerts and device
    /// history); 0: no cap.
    pub max_db_mib: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            database: PathBuf::from("/var/lib/medtap/medtap.db"),
            channel_capacity: 16_384,
            queue_mib: 16,
            batch_rows: 50_000,
            retention_days: 180,
            alert_retention_days: 730,
            max_db_mib: 0,
        }
    }
}

/// `[log]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// error, warn, info, debug, trace or off, or tracing filter directives
    /// that each end in one of those levels.
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
        if let Err(problem) = check_interface(&c.interface) {
            return Err(bad("capture.interface", problem));
        }
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
        // `run` compiles the filter again against the interface's real link
        // type; here no interface is opened (no privilege needed, and the
        // check may run on another host), so it is compiled for Ethernet,
        // the link type of a SPAN/mirror port.
        if !c.filter.trim().is_empty() {
            if let Err(e) = crate::capture::check_filter(&c.filter, pcap::Linktype::ETHERNET) {
                return Err(bad(
                    "capture.filter",
                    format!(
                        "{:?} does not compile for Ethernet (the mirror port's link type): {e}",
                        c.filter
                    ),
                ));
            }
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
        for (key, list) in [
            ("identity.local_networks", &id.local_networks),
            ("identity.static_networks", &id.static_networks),
        ] {
            if let Some(n) = list.iter().find(|n| Cidr::parse(n).is_none()) {
                return Err(bad(
                    key,
                    format!("{n:?} is not a CIDR network like 10.0.0.0/8"),
                ));
            }
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
        let p = &self.policy;
        if parse_duration(&p.learn_for).is_none() {
            return Err(bad(
                "policy.learn_for",
                format!(
                    "{:?} is not a duration like \"14d\", \"12h\" or \"0\"",
                    p.learn_for
                ),
            ));
        }
        if parse_duration(&p.new_service_after).is_none() {
            return Err(bad(
                "policy.new_service_after",
                format!(
                    "{:?} is not a duration like \"1d\" or \"12h\"",
                    p.new_service_after
                ),
            ));
        }
        if p.alert_window_secs == 0 || p.alert_window_secs > 7 * 86_400 {
            return Err(bad(
                "policy.alert_window_secs",
                format!("{} is outside 1..=604800", p.alert_window_secs),
            ));
        }
        if let Some(a) = p
            .dhcp_servers
            .iter()
            .find(|a| a.parse::<std::net::IpAddr>().is_err())
        {
            return Err(bad(
                "policy.dhcp_servers",
                format!("{a:?} is not an IP address"),
            ));
        }
        self.validate_outputs(&bad)?;
        self.archive.validate(&bad)?;
        let th = &p.thresholds;
        for (key, v) in [
            ("policy.thresholds.window_secs", th.window_secs),
            ("policy.thresholds.scan_window_secs", th.scan_window_secs),
        ] {
            if !(1..=86_400).contains(&v) {
                return Err(bad(key, format!("{v} seconds is outside 1..=86400")));
            }
        }
        for (key, v) in [
            (
                "policy.thresholds.mqtt_auth_failures",
                th.mqtt_auth_failures,
            ),
            (
                "policy.thresholds.dicom_association_burst",
                th.dicom_association_burst,
            ),
            ("policy.thresholds.dicom_query_burst", th.dicom_query_burst),
            ("policy.thresholds.scan_hosts", th.scan_hosts),
            ("policy.thresholds.scan_ports", th.scan_ports),
        ] {
            if v < 2 {
                return Err(bad(key, format!("{v} is below 2")));
            }
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
        if !(1..=4096).contains(&s.queue_mib) {
            return Err(bad(
                "store.queue_mib",
                format!("{} is outside 1..=4096", s.queue_mib),
            ));
        }
        if !(1..=1_000_000).contains(&s.batch_rows) {
            return Err(bad(
                "store.batch_rows",
                format!("{} is outside 1..=1000000", s.batch_rows),
            ));
        }
        if s.retention_days > MAX_RETENTION_DAYS {
            return Err(bad(
                "store.retention_days",
                format!(
                    "{} is outside 0..={MAX_RETENTION_DAYS} (0 keeps flows forever)",
                    s.retention_days
                ),
            ));
        }
        if s.alert_retention_days > MAX_RETENTION_DAYS {
            return Err(bad(
                "store.alert_retention_days",
                format!(
                    "{} is outside 0..={MAX_RETENTION_DAYS} (0 keeps alerts forever)",
                    s.alert_retention_days
                ),
            ));
        }
        // Alerts must outlive the flows behind them: 0 is forever, so
        // flows kept forever need alerts kept forever too.
        if s.alert_retention_days != 0
            && (s.retention_days == 0 || s.alert_retention_days < s.retention_days)
        {
            let flows = match s.retention_days {
                0 => "forever (retention_days = 0)".to_string(),
                d => format!("{d} days (retention_days)"),
            };
            // A default alert retention clashes with the retention_days
            // line the user wrote: point there.
            let line = match line_of(text, "store.alert_retention_days") {
                0 => line_of(text, "store.retention_days"),
                l => l,
            };
            return Err(ConfigError::Invalid {
                path: path.to_string(),
                line,
                key: "store.alert_retention_days".into(),
                problem: format!(
                    "{} days is shorter than flows are kept, {flows}: alerts must outlive the \
                     flows behind them; make it at least retention_days, or 0 (forever)",
                    s.alert_retention_days
                ),
            });
        }
        if s.max_db_mib > MAX_DB_MIB {
            return Err(bad(
                "store.max_db_mib",
                format!("{} is outside 0..={MAX_DB_MIB} (0: no cap)", s.max_db_mib),
            ));
        }
        if !matches!(self.log.format.as_str(), "text" | "json") {
            return Err(bad(
                "log.format",
                format!("{:?} is not \"text\" or \"json\"", self.log.format),
            ));
        }
        if let Err(problem) = check_log_level(&self.log.level) {
            return Err(bad("log.level", problem));
        }
        // The directive grammar beyond levels (span and field filters).
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            return Err(bad(
                "log.level",
                format!("{:?} is not a level or filter directive", self.log.level),
            ));
        }
        Ok(())
    }
}

/// Longest `store.retention_days` and `store.alert_retention_days`
/// (100 years: beyond it a typo, not a policy).
pub const MAX_RETENTION_DAYS: u32 = 36_500;

/// Largest `store.max_db_mib` (16 TiB, far past what SQLite on a sensor
/// holds; beyond it a typo).
pub const MAX_DB_MIB: u64 = 16 * 1024 * 1024;

/// `capture.interface` must name an interface: an empty one passes nothing
/// useful to libpcap and fails only when `run` starts (a restart loop under
/// systemd).
fn check_interface(name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err(format!(
            "{name:?} names no interface; give the one fed by the mirror port, e.g. \"eth1\""
        ));
    }
    // Linux interface names hold no whitespace, so surrounding spaces would
    // only make libpcap look for a device that cannot exist.
    if name.trim() != name {
        return Err(format!(
            "{name:?} has surrounding whitespace; interface names have none"
        ));
    }
    Ok(())
}

/// Level names `log.level` accepts, alone or after `target=`.
const LEVELS: [&str; 6] = ["error", "warn", "info", "debug", "trace", "off"];

/// `log.level` must be a level or directives that each end in a level.
///
/// `EnvFilter` reads a bare word that is not a level as a target name, so
/// `"warning"` parses but enables only events whose target is `warning`:
/// none, errors included. Every directive must therefore carry a level.
fn check_log_level(spec: &str) -> Result<(), String> {
    const USE: &str = "use error, warn, info, debug, trace or off, \
                       or directives like \"medtap=debug,info\"";
    let directives: Vec<&str> = spec
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .collect();
    if directives.is_empty() {
        return Err(format!("{spec:?} is empty; {USE}"));
    }
    for d in directives {
        let (target, level) = match d.rsplit_once('=') {
            Some((t, l)) => (Some(t.trim()), l.trim()),
            None => (None, d),
        };
        if is_level(level) && target.is_none_or(|t| !t.is_empty()) {
            continue;
        }
        let problem = match (target, level_hint(level)) {
            (Some(""), _) => format!("directive {d:?} has no target before `=`"),
            (_, Some(hint)) => format!("{level:?} is not a level (did you mean {hint}?)"),
            (Some(_), None) => format!("{level:?} is not a level"),
            // tracing would take the bare word as a target name and show
            // nothing else.
            (None, None) => {
                format!("{level:?} is not a level; a target needs one, e.g. \"{level}=debug\"")
            }
        };
        let context = if d == spec.trim() && target.is_none() {
            String::new()
        } else {
            format!(" in {spec:?}")
        };
        return Err(format!("{problem}{context}; {USE}"));
    }
    Ok(())
}

fn is_level(word: &str) -> bool {
    // tracing compares level names without regard to case.
    LEVELS.iter().any(|l| l.eq_ignore_ascii_case(word))
}

/// The level a misspelt or borrowed (syslog, log4j) level name most likely
/// meant.
fn level_hint(word: &str) -> Option<&'static str> {
    let w = word.to_ascii_lowercase();
    let synonym = match w.as_str() {
        "err" | "fatal" | "crit" | "critical" | "alert" | "emerg" | "severe" => Some("error"),
        "wrn" | "warning" | "warnings" => Some("warn"),
        "inf" | "notice" | "information" | "informational" => Some("info"),
        "dbg" | "verbose" | "fine" => Some("debug"),
        "trc" | "all" | "finest" => Some("trace"),
        "none" | "silent" | "quiet" | "false" | "no" => Some("off"),
        _ => None,
    };
    // Otherwise a level name with something added ("debugging", "errors").
    synonym.or_else(|| {
        LEVELS
            .iter()
            .copied()
            .find(|l| w.len() > l.len() && w.starts_with(l))
    })
}

/// 1-based line of a dotted key (`section.sub.key`) in a TOML text, found
/// by tracking `[section]` headers; 0 when absent (the default was used).
impl Config {
    fn validate_outputs(
        &self,
        bad: &dyn Fn(&str, String) -> ConfigError,
    ) -> Result<(), ConfigError> {
        let o = &self.outputs;
        if o.sensor_name.chars().any(|c| c.is_control()) || o.sensor_name.len() > 64 {
            return Err(bad(
                "outputs.sensor_name",
                "must be at most 64 bytes, without control characters".into(),
            ));
        }
        if !o.metrics_listen.is_empty() {
            match o.metrics_listen.parse::<std::net::SocketAddr>() {
                Err(_) => {
                    return Err(bad(
                        "outputs.metrics_listen",
                        format!(
                            "{:?} is not an address and port like 127.0.0.1:9187",
                            o.metrics_listen
                        ),
                    ))
                }
                // `run` drops every privilege before it opens the
                // endpoint: a port below 1024 would fail at start.
                Ok(a) if a.port() != 0 && a.port() < 1024 => {
                    return Err(bad(
                        "outputs.metrics_listen",
                        format!(
                            "port {} is below 1024, which medtap cannot bind once it has dropped its privileges (9187 is the usual one)",
                            a.port()
                        ),
                    ))
                }
                Ok(_) => {}
            }
        }
        if let Some(t) = o
            .eve
            .types
            .iter()
            .find(|t| !EVE_TYPES.contains(&t.as_str()))
        {
            return Err(bad(
                "outputs.eve.types",
                format!("{t:?} is not one of {}", EVE_TYPES.join(", ")),
            ));
        }
        if o.eve.path.trim() == "unix:" {
            return Err(bad(
                "outputs.eve.path",
                "`unix:` needs a socket path".into(),
            ));
        }
        for (key, q) in [
            ("outputs.eve.queue", o.eve.queue),
            ("outputs.syslog.queue", o.syslog.queue),
        ] {
            if !(1..=10_000_000).contains(&q) {
                return Err(bad(key, format!("{q} is outside 1..=10000000")));
            }
        }
        let s = &o.syslog;
        if !s.target.is_empty() {
            check_syslog_target(&s.target).map_err(|p| bad("outputs.syslog.target", p))?;
        }
        if !matches!(s.framing.as_str(), "octet-counted" | "newline") {
            return Err(bad(
                "outputs.syslog.framing",
                format!("{:?} is not \"octet-counted\" or \"newline\"", s.framing),
            ));
        }
        if syslog_facility(&s.facility).is_none() {
            return Err(bad(
                "outputs.syslog.facility",
                format!(
                    "{:?} is not a syslog facility (local0 ... local7, daemon, ...)",
                    s.facility
                ),
            ));
        }
        Ok(())
    }
}

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
        assert_eq!(cfg.capture.buffer_mib, CaptureConfig::default().buffer_mib);
        assert_eq!(
            cfg.capture.immediate_mode,
            CaptureConfig::default().immediate_mode
        );
        assert_eq!(
            cfg.store.database,
            PathBuf::from("/var/lib/medtap/medtap.db")
        );
        assert_eq!(cfg.flow.max_flows, FlowConfig::default().max_flows);
        let id = IdentityConfig::default();
        assert_eq!(cfg.identity.assets, id.assets);
        assert_eq!(cfg.identity.static_networks, id.static_networks);
        let (o, d) = (&cfg.outputs, OutputsConfig::default());
        assert_eq!(o.eve.types, d.eve.types);
        assert_eq!(o.eve.queue, d.eve.queue);
        assert_eq!(o.eve.path, d.eve.path);
        assert_eq!(o.syslog.framing, d.syslog.framing);
        assert_eq!(o.syslog.enterprise_number, d.syslog.enterprise_number);
        assert_eq!(o.syslog.facility, d.syslog.facility);
        assert_eq!(o.syslog.queue, d.syslog.queue);
        assert_eq!(o.metrics_listen, d.metrics_listen);
        let st = StoreConfig::default();
        assert_eq!(cfg.store.retention_days, st.retention_days);
        assert_eq!(cfg.store.alert_retention_days, st.alert_retention_days);
        assert_eq!(cfg.store.max_db_mib, st.max_db_mib);
    }

    #[test]
    fn retention_settings_are_checked_and_named_with_their_line() {
        let cases = [
            (
                "[store]\nretention_days = 800\n",
                "m.toml:2: `store.alert_retention_days`: 730 days is shorter than flows are kept, \
                 800 days (retention_days)",
            ),
            (
                "[store]\nretention_days = 30\nalert_retention_days = 7\n",
                "m.toml:3: `store.alert_retention_days`: 7 days is shorter than flows are kept, \
                 30 days (retention_days)",
            ),
            (
                "[store]\nretention_days = 0\n",
                "m.toml:2: `store.alert_retention_days`: 730 days is shorter than flows are kept, \
                 forever (retention_days = 0)",
            ),
            (
                "[store]\nretention_days = 40000\n",
                "m.toml:2: `store.retention_days`: 40000 is outside 0..=36500",
            ),
            (
                "[store]\nmax_db_mib = 20000000\n",
                "m.toml:2: `store.max_db_mib`: 20000000 is outside 0..=16777216",
            ),
        ];
        for (text, want) in cases {
            let err = Config::parse(text, "m.toml").unwrap_err().to_string();
            assert!(err.starts_with(want), "{text}: {err}");
        }
        for ok in [
            "[store]\nretention_days = 0\nalert_retention_days = 0\n",
            "[store]\nretention_days = 30\nalert_retention_days = 0\n",
            "[store]\nretention_days = 30\nalert_retention_days = 30\nmax_db_mib = 512\n",
        ] {
            Config::parse(ok, "m.toml").unwrap();
        }
    }

    #[test]
    fn bad_outputs_are_named_with_their_line() {
        let cases = [
            (
                "[outputs.syslog]\ntarget = \"syslog.example:514\"\n",
                "m.toml:2: `outputs.syslog.target`: \"syslog.example:514\" is not udp://HOST:PORT, tcp://HOST:PORT or unix:PATH",
            ),
            (
                "[outputs.syslog]\ntarget = \"tcp://collector\"\n",
                "m.toml:2: `outputs.syslog.target`: \"collector\" is not HOST:PORT",
            ),
            (
                "[outputs]\nmetrics_listen = \"127.0.0.1:80\"\n",
                "m.toml:2: `outputs.metrics_listen`: port 80 is below 1024, which medtap cannot bind once it has dropped its privileges (9187 is the usual one)",
            ),
            (
                "[outputs.syslog]\nfacility = \"local9\"\n",
                "m.toml:2: `outputs.syslog.facility`: \"local9\" is not a syslog facility (local0 ... local7, daemon, ...)",
            ),
            (
                "[outputs.eve]\ntypes = [\"alert\", \"http\"]\n",
                "m.toml:2: `outputs.eve.types`: \"http\" is not one of alert, anomaly, flow, dhcp, mqtt, dicom, hl7, device, stats",
            ),
            (
                "[outputs]\nmetrics_listen = \"9187\"\n",
                "m.toml:2: `outputs.metrics_listen`: \"9187\" is not an address and port like 127.0.0.1:9187",
            ),
            (
                "[outputs]\nsensor_name = \"ward\\u001b[31m\"\n",
                "m.toml:2: `outputs.sensor_name`: must be at most 64 bytes, without control characters",
            ),
        ];
        for (text, want) in cases {
            let err = Config::parse(text, "m.toml").unwrap_err();
            assert_eq!(err.to_string(), want, "{text}");
        }
        let ok = "[outputs]\nsensor_name = \"ward-3\"\nmetrics_listen = \"127.0.0.1:9187\"\n\
                  [outputs.syslog]\ntarget = \"udp://[::1]:514\"\nfacility = \"local5\"\n\
                  [outputs.eve]\npath = \"unix:/run/fever.sock\"\ntypes = [\"alert\"]\n";
        let cfg = Config::parse(ok, "m.toml").unwrap();
        assert_eq!(syslog_facility(&cfg.outputs.syslog.facility), Some(21));
    }

    #[test]
    fn identity_assets_and_static_networks() {
        let cfg = Config::parse("", "m").unwrap();
        assert_eq!(cfg.identity.assets, PathBuf::from(DEFAULT_ASSETS_PATH));
        assert!(cfg.identity.static_cidrs().is_empty());
        let text = "[identity]\nassets = \"/srv/a.toml\"\nstatic_networks = [\"10.20.0.0/16\", \"fd00:20::/64\"]\n";
        let cfg = Config::parse(text, "m").unwrap();
        assert_eq!(cfg.identity.assets, PathBuf::from("/srv/a.toml"));
        let nets = cfg.identity.static_cidrs();
        assert_eq!(nets.len(), 2);
        assert!(nets[0].contains("10.20.3.4".parse().unwrap()));
        let text = "[identity]\n\nstatic_networks = [\"10.20.0.0/16\", \"10.30.0.0\"]\n";
        let err = Config::parse(text, "m.toml").unwrap_err().to_string();
        assert_eq!(
            err,
            "m.toml:3: `identity.static_networks`: \"10.30.0.0\" is not a CIDR network like 10.0.0.0/8"
        );
        let err = Config::parse("[identity]\nassets = 3\n", "m").unwrap_err();
        assert!(err.to_string().contains("assets"), "{err}");
    }

    #[test]
    fn empty_config_takes_defaults() {
        let cfg = Config::parse("", "x.toml").unwrap();
        assert!(cfg.capture.promiscuous);
        assert!(
            !cfg.capture.immediate_mode,
            "blocks (TPACKET_V3) by default"
        );
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

    // Regression (issue 8 item 7): `level = "warning"` passed and then
    // silenced every log line, errors included (tracing read it as a
    // target name).
    #[test]
    fn log_level_warning_is_rejected_instead_of_silencing_all_logging() {
        let err = Config::parse("[log]\nformat = \"text\"\nlevel = \"warning\"\n", "m.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "m.toml:3: `log.level`: \"warning\" is not a level (did you mean warn?)"
            ),
            "{err}"
        );
        for (spec, hint) in [
            ("medtap=warning", "warn"),
            ("info,medtap=err", "error"),
            ("debugging", "debug"),
            ("FATAL", "error"),
        ] {
            let err = check_log_level(spec).unwrap_err();
            assert!(
                err.contains(&format!("did you mean {hint}?")),
                "{spec}: {err}"
            );
        }
        // A bare target, an empty target or an empty spec has no level.
        for spec in [
            "info,medtap",
            "medtap",
            "=info",
            "",
            " , ",
            "medtap=",
            "medtap=5",
        ] {
            assert!(check_log_level(spec).is_err(), "{spec:?} accepted");
        }
        let err = check_log_level("info,medtap").unwrap_err();
        assert!(
            err.contains("\"medtap=debug\"") && err.contains("in \"info,medtap\""),
            "{err}"
        );
    }

    #[test]
    fn log_levels_and_directive_lists_are_accepted() {
        for spec in [
            "error",
            "warn",
            "info",
            "debug",
            "trace",
            "off",
            "WARN",
            " info ",
            "medtap=debug,info",
            "medtap::store=trace, warn",
            "medtap[session]=debug",
            "info,",
        ] {
            assert_eq!(check_log_level(spec), Ok(()), "{spec:?}");
            let text = format!("[log]\nlevel = {spec:?}\n");
            assert!(Config::parse(&text, "m").is_ok(), "{spec:?}");
        }
    }

    // Regression (issue 8 item 7): a filter libpcap cannot compile passed
    // `config check` and failed only at `run` (a restart loop under systemd).
    #[test]
    fn invalid_bpf_filter_is_rejected_by_config_check_not_at_run() {
        let text = "[capture]\ninterface = \"eth1\"\nfilter = \"tcp port dicom-ish\"\n";
        let err = Config::parse(text, "m.toml").unwrap_err().to_string();
        assert!(
            err.starts_with(
                "m.toml:3: `capture.filter`: \"tcp port dicom-ish\" does not compile for \
                 Ethernet (the mirror port's link type): "
            ),
            "{err}"
        );
        for bad in ["tcp and", "port 99999", "host 10.0.0.300", "proto nosuch"] {
            let text = format!("[capture]\nfilter = {bad:?}\n");
            assert!(Config::parse(&text, "m").is_err(), "{bad:?} accepted");
        }
        // Ethernet-only primitives compile, as they will on the mirror port.
        for good in [
            "",
            "  ",
            "tcp port 104 or tcp port 2575 or tcp port 1883",
            "not port 22",
            "vlan and ip",
            "ether host 00:11:22:33:44:55",
        ] {
            let text = format!("[capture]\nfilter = {good:?}\n");
            assert!(Config::parse(&text, "m").is_ok(), "{good:?} rejected");
        }
    }

    // Regression (issue 8 item 7): an empty interface passed `config check`
    // and failed only at `run`.
    #[test]
    fn empty_capture_interface_is_rejected_by_config_check_not_at_run() {
        for (name, why) in [
            ("", "names no interface"),
            ("   ", "names no interface"),
            ("\t", "names no interface"),
            (" eth1", "surrounding whitespace"),
        ] {
            let text = format!("# sensor\n[capture]\ninterface = {name:?}\n");
            let err = Config::parse(&text, "m.toml").unwrap_err().to_string();
            assert!(err.starts_with("m.toml:3: `capture.interface`: "), "{err}");
            assert!(err.contains(why), "{name:?}: {err}");
        }
    }

    #[test]
    fn wrong_type_is_rejected() {
        let err = Config::parse("[capture]\nsnaplen = \"big\"\n", "m").unwrap_err();
        assert!(err.to_string().contains("snaplen"), "{err}");
    }
}
