//! RFC 5424 syslog of alerts (and, if asked, protocol anomalies) to the
//! hospital's collector: over UDP (RFC 5426), TCP (RFC 6587, octet
//! counting or LF framing) or a unix socket (datagram like /dev/log and
//! rsyslog's imuxsock, or stream).
//!
//! The sink runs on its own thread behind a bounded queue
//! ([`crate::output::spawn_sink`]): the fan-out drops what it has no room
//! for (counted as dropped). Here, a message handed to the kernel is
//! counted as sent; one the destination did not take is counted as failed:
//! refused, not written within 250 ms (a server that stopped reading, a
//! full unix socket), or arriving while the sink waits to reconnect (0.5 s
//! after a failure, doubling to 30 s while attempts fail). Neither UDP nor
//! RFC 6587 acknowledges anything, so "sent" is what the kernel took: a
//! UDP datagram to a closed port, or a TCP write to a server that vanished
//! without closing its end, is lost as sent (the next one fails). A TCP
//! server that closed its end is noticed before writing.
//!
//! Only an alert's first write is sent: the same alert is written again
//! (same id) when its evidence grows, and [`crate::event::Event::AlertSeen`]
//! only updates its count. Learning-mode observations are not sent. The
//! message's format is in [`mod@format`].
//!
//! A receiving rsyslog reads the messages with any of its inputs: imudp,
//! imtcp or imptcp, and for a unix socket imuxsock with
//! `useSpecialParser="off" parseHostname="on" ignoreTimestamp="off"`
//! (imuxsock's own parser expects syslog(3)'s format and would replace
//! the alert's time with the time of arrival).

pub mod format;
mod link;

pub use format::{format_alert, format_anomaly, MAX_MESSAGE, MAX_VALUE};

use crate::event::Event;
use crate::output::first_writes::FirstWrites;
use crate::output::{Sink, SinkCounters};
use link::Link;
use std::fmt;
use std::net::Ipv6Addr;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

/// The private enterprise number in medtap's SD-ID by default: 32473,
/// reserved for documentation (RFC 5612). A hospital with its own number
/// configures it.
pub const DEFAULT_ENTERPRISE: u32 = 32473;

/// The facility by default: local0 (16). The local facilities are the
/// ones RFC 5424 §6.2.1 leaves to the site, so the collector can route
/// medtap's alerts without mixing them into the sensor's own auth or
/// daemon logs.
pub const DEFAULT_FACILITY: u8 = 16;

/// Where messages go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// `udp://HOST:PORT`: one message per datagram (RFC 5426).
    Udp(String),
    /// `tcp://HOST:PORT`: framed (RFC 6587).
    Tcp(String),
    /// `unix:PATH`: a datagram socket (like /dev/log), or a stream socket,
    /// framed as TCP.
    Unix(PathBuf),
}

impl FromStr for Target {
    type Err = String;

    /// Parses `udp://HOST:PORT`, `tcp://HOST:PORT` (an IPv6 address in
    /// brackets: `udp://[::1]:514`) or `unix:PATH`.
    fn from_str(s: &str) -> Result<Target, String> {
        let bad = |why: &str| {
            format!(
                "syslog target {s:?}: {why}; expected udp://HOST:PORT, tcp://HOST:PORT \
                 (IPv6 as [::1]:514) or unix:PATH"
            )
        };
        if let Some(rest) = s.strip_prefix("udp://") {
            return host_port(rest).map(Target::Udp).map_err(bad);
        }
        if let Some(rest) = s.strip_prefix("tcp://") {
            return host_port(rest).map(Target::Tcp).map_err(bad);
        }
        if let Some(path) = s.strip_prefix("unix:") {
            if path.is_empty() {
                return Err(bad("no socket path"));
            }
            if path.contains('\0') {
                return Err(bad("a NUL byte in the path"));
            }
            return Ok(Target::Unix(PathBuf::from(path)));
        }
        Err(bad("unknown scheme"))
    }
}

/// Checks `HOST:PORT` (after `udp://` or `tcp://`); gives it back.
fn host_port(s: &str) -> Result<String, &'static str> {
    let (host, port) = s
        .rsplit_once(':')
        .ok_or("no port (e.g. udp://10.0.0.5:514)")?;
    match port.parse::<u16>() {
        Ok(p) if p > 0 => {}
        _ => return Err("the port is not a number from 1 to 65535"),
    }
    if host.is_empty() {
        return Err("no host");
    }
    if let Some(inner) = host.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or("'[' without ']'")?;
        inner
            .parse::<Ipv6Addr>()
            .map_err(|_| "not an IPv6 address inside [...]")?;
    } else if host.contains(':') {
        return Err("an IPv6 address needs brackets");
    } else if !host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    {
        return Err("not a host name or IPv4 address");
    }
    Ok(s.to_string())
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Udp(a) => write!(f, "udp://{a}"),
            Target::Tcp(a) => write!(f, "tcp://{a}"),
            Target::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// How messages are delimited on a stream (TCP, unix stream).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Framing {
    /// RFC 6587 §3.4.1 octet counting, `LEN SP MSG`: what RFC 6587
    /// recommends, and safe whatever a message holds.
    #[default]
    OctetCounted,
    /// RFC 6587 §3.4.2 non-transparent framing with an LF trailer, for
    /// receivers that only read lines (medtap's messages never hold an LF).
    Newline,
}

impl FromStr for Framing {
    type Err = String;

    /// Parses `octet-counted` or `newline`.
    fn from_str(s: &str) -> Result<Framing, String> {
        match s {
            "octet-counted" => Ok(Framing::OctetCounted),
            "newline" => Ok(Framing::Newline),
            _ => Err(format!(
                "syslog framing {s:?}: expected \"octet-counted\" or \"newline\""
            )),
        }
    }
}

impl fmt::Display for Framing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Framing::OctetCounted => "octet-counted",
            Framing::Newline => "newline",
        })
    }
}

/// Parses a facility: a name (`kern`, `user`, `daemon`, `auth`,
/// `authpriv`, `local0`..`local7`, ...) or its number 0..=23 (RFC 5424
/// §6.2.1).
pub fn parse_facility(s: &str) -> Result<u8, String> {
    if let Some(n) = crate::config::syslog_facility(s) {
        return Ok(n);
    }
    match s.parse::<u8>() {
        Ok(n) if n <= 23 => Ok(n),
        _ => Err(format!(
            "syslog facility {s:?}: expected a name (local0..local7, user, daemon, auth, \
             authpriv, ...) or a number from 0 to 23"
        )),
    }
}

/// The machine's host name (`/proc/sys/kernel/hostname`), or `-` (RFC
/// 5424's NILVALUE) when it cannot be read.
pub fn local_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "-".to_string())
}

/// What the syslog output sends, where and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyslogOptions {
    /// Where messages go.
    pub target: Target,
    /// Framing on a stream (TCP, unix stream); unused for datagrams.
    pub framing: Framing,
    /// The private enterprise number in the SD-ID `medtap@PEN`
    /// ([`DEFAULT_ENTERPRISE`]).
    pub enterprise: u32,
    /// Also send protocol anomalies (MSGID `ANOMALY`).
    pub anomalies: bool,
    /// The facility, 0..=23 ([`DEFAULT_FACILITY`], local0; a larger value is
    /// written as 23).
    pub facility: u8,
    /// HOSTNAME: the machine's name (sanitised to PRINTUSASCII, at most
    /// 255 bytes, when written).
    pub hostname: String,
    /// The sensor's name, in every message as `sensor=`.
    pub sensor_name: String,
}

impl SyslogOptions {
    /// Options for `target` with every default: octet counting, the
    /// documentation enterprise number, alerts only, local0, this
    /// machine's name as hostname and as sensor name.
    pub fn new(target: Target) -> SyslogOptions {
        let hostname = local_hostname();
        SyslogOptions {
            target,
            framing: Framing::default(),
            enterprise: DEFAULT_ENTERPRISE,
            anomalies: false,
            facility: DEFAULT_FACILITY,
            sensor_name: hostname.clone(),
            hostname,
        }
    }
}

/// The syslog output: a [`Sink`] for [`crate::output::spawn_sink`].
pub struct SyslogSink {
    opts: SyslogOptions,
    counters: Arc<SinkCounters>,
    link: Link,
    sent_ids: FirstWrites,
    /// The message being sent, reused.
    buf: String,
}

impl SyslogSink {
    /// A sink sending as `opts` say, counting in `counters` (sent and
    /// failed; the fan-out counts dropped). Nothing is connected before
    /// the first message.
    pub fn new(opts: SyslogOptions, counters: Arc<SinkCounters>) -> SyslogSink {
        SyslogSink {
            link: Link::new(opts.target.clone(), opts.framing),
            opts,
            counters,
            sent_ids: FirstWrites::default(),
            buf: String::with_capacity(1024),
        }
    }

    /// Sends the message in `buf`.
    fn deliver(&mut self) {
        if self.link.send(&self.buf) {
            self.counters.add_sent(1);
        } else {
            self.counters.add_failed(1);
        }
    }
}

impl Sink for SyslogSink {
    fn event(&mut self, event: Event) {
        self.buf.clear();
        match event {
            Event::Alert(a) => {
                if a.observation || !self.sent_ids.first(a.alert_id) {
                    return;
                }
                format_alert(&a, &self.opts, &mut self.buf);
            }
            Event::Anomaly(r) if self.opts.anomalies => {
                format_anomaly(&r, &self.opts, &mut self.buf);
            }
            _ => return,
        }
        self.deliver();
    }

    fn finish(&mut self) {
        self.link.close();
        let (sent, failed) = self.link.totals();
        if failed > 0 {
            tracing::warn!(
                target_addr = %self.opts.target,
                sent,
                failed,
                "syslog: finished with messages lost"
            );
        }
    }
}

#[cfg(test)]
mod tests;
