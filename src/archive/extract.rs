//! From a selection (flows, or the frames of some devices over a time
//! window) to a standard pcap of the archived frames behind it, reading
//! only the archive files the index points at, and saying which part of
//! the range retention has already deleted.

use super::pcapfile::{self, file_header, put_record, Reader};
use crate::decode::{decode, LinkType, Network, PacketView, Transport};
use crate::net::Mac;
use crate::store::rows::archive::{self as index, FileRow};
use crate::time::Micros;
use rusqlite::Connection;
use serde::Serialize;
use std::collections::HashMap;
use std::io::Write;
use std::net::IpAddr;

/// One flow to extract: its ends and the time its frames span.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct FlowSpan {
    /// Flow id.
    pub flow_id: u64,
    /// IP protocol.
    pub proto: u8,
    /// Initiator address and port.
    pub src: (IpAddr, u16),
    /// Responder address and port.
    pub dest: (IpAddr, u16),
    /// First frame.
    pub start: Micros,
    /// Last frame.
    pub end: Micros,
}

impl FlowSpan {
    /// Whether a frame at `ts` of protocol `proto` from `a` to `b` is one
    /// of this flow's. ICMP flows match on addresses alone (their "ports"
    /// are the flow table's).
    fn holds(&self, ts: Micros, proto: u8, a: (IpAddr, u16), b: (IpAddr, u16)) -> bool {
        if ts < self.start || ts > self.end || proto != self.proto {
            return false;
        }
        if proto == 1 || proto == 58 {
            let (x, y) = (self.src.0, self.dest.0);
            return (a.0, b.0) == (x, y) || (a.0, b.0) == (y, x);
        }
        (a, b) == (self.src, self.dest) || (a, b) == (self.dest, self.src)
    }
}

/// A device as a selection names it: by MAC, by address, or both (then a
/// frame matches on either).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct End {
    /// Its MAC.
    #[serde(serialize_with = "mac_text")]
    pub mac: Option<Mac>,
    /// Its address.
    pub ip: Option<IpAddr>,
}

impl End {
    /// Parses a MAC or an IP address.
    pub fn parse(s: &str) -> Option<End> {
        if let Some(mac) = Mac::parse(s) {
            return Some(End {
                mac: Some(mac),
                ip: None,
            });
        }
        s.parse().ok().map(|ip| End {
            mac: None,
            ip: Some(ip),
        })
    }

    /// Whether the frame is from or to this device (ARP: as sender or target).
    fn in_frame(&self, v: &PacketView<'_>) -> bool {
        let mac_hit = self.mac.is_some_and(|m| {
            v.src_mac == Some(m)
                || v.dst_mac == Some(m)
                || matches!(v.network, Network::Arp(a) if a.sender_mac == m || a.target_mac == m)
        });
        mac_hit || self.ip.is_some_and(|ip| ips_of(v).contains(&Some(ip)))
    }
}

fn mac_text<S: serde::Serializer>(m: &Option<Mac>, s: S) -> Result<S::Ok, S::Error> {
    match m {
        Some(m) => s.serialize_str(&m.to_string()),
        None => s.serialize_none(),
    }
}

/// A frame's two IP addresses (ARP: sender and target).
fn ips_of(v: &PacketView<'_>) -> [Option<IpAddr>; 2] {
    match v.network {
        Network::Ip(ip) => [Some(ip.src), Some(ip.dst)],
        Network::Arp(a) => [Some(a.sender_ip.into()), Some(a.target_ip.into())],
        Network::Other => [None, None],
    }
}

/// What to extract.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Selection {
    /// Every frame of these flows.
    Flows(Vec<FlowSpan>),
    /// Frames with `device` as one end (and `peer` as the other, when
    /// given) within `[from, to]`.
    Between {
        /// The device.
        device: End,
        /// The other end.
        peer: Option<End>,
        /// Window start.
        from: Micros,
        /// Window end.
        to: Micros,
    },
    /// Frames of any of these devices (ARP included) within `[from, to]`:
    /// an alert about no single flow (an address conflict, a scan).
    Involving {
        /// The devices.
        ends: Vec<End>,
        /// Window start.
        from: Micros,
        /// Window end.
        to: Micros,
    },
}

impl Selection {
    /// The time the frames may fall in.
    pub fn window(&self) -> (Micros, Micros) {
        match self {
            Selection::Flows(f) => (
                f.iter().map(|s| s.start).min().unwrap_or(0),
                f.iter().map(|s| s.end).max().unwrap_or(0),
            ),
            Selection::Between { from, to, .. } | Selection::Involving { from, to, .. } => {
                (*from, *to)
            }
        }
    }

    fn matches(&self, ts: Micros, v: &PacketView<'_>) -> bool {
        match self {
            Selection::Flows(flows) => {
                let Network::Ip(ip) = v.network else {
                    return false;
                };
                let (sp, dp) = match ip.transport {
                    Transport::Tcp(t) => (t.src_port, t.dst_port),
                    Transport::Udp {
                        src_port, dst_port, ..
                    } => (src_port, dst_port),
                    Transport::Icmp { .. } => (0, 0),
                    // Non-first fragments: no ports, no flow (as in the
                    // flow table).
                    Transport::Opaque if ip.fragment => return false,
                    Transport::Opaque => (0, 0),
                };
                flows
                    .iter()
                    .any(|f| f.holds(ts, ip.proto, (ip.src, sp), (ip.dst, dp)))
            }
            Selection::Between {
                device,
                peer,
                from,
                to,
            } => {
                ts >= *from
                    && ts <= *to
                    && device.in_frame(v)
                    && peer.as_ref().is_none_or(|p| p.in_frame(v))
            }
            Selection::Involving { ends, from, to } => {
                ts >= *from && ts <= *to && ends.iter().any(|e| e.in_frame(v))
            }
        }
    }
}

/// An archive file whose frames in the selection's range are gone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Gap {
    /// The file's name.
    pub file: String,
    /// Its first frame (RFC 3339).
    pub first: Option<String>,
    /// Its last frame.
    pub last: Option<String>,
    /// Why: "deleted by retention (max_total_mib)", "missing on disk", ...
    pub reason: String,
}

/// What an extraction found and wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Frames written.
    pub packets: u64,
    /// Bytes of the pcap written.
    pub bytes: u64,
    /// Archive files read.
    pub files_read: Vec<String>,
    /// Parts of the range that are no longer in the archive.
    pub gaps: Vec<Gap>,
    /// Frames of another link type than the first file's, left out (a
    /// classic pcap has one link type).
    pub other_link: u64,
}

impl Report {
    /// Whether the whole range was in the archive.
    pub fn complete(&self) -> bool {
        self.gaps.is_empty()
    }
}

/// Why an extraction failed.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    /// The index could not be read.
    #[error("archive index: {0}")]
    Index(#[from] rusqlite::Error),
    /// Writing the output failed.
    #[error("writing the extract: {0}")]
    Write(#[from] std::io::Error),
}

/// Writes to `out` a pcap of every archived frame `sel` selects (and
/// `filter` passes), in the order captured.
pub fn extract(
    conn: &Connection,
    sel: &Selection,
    filter: Option<&pcap::BpfProgram>,
    out: &mut dyn Write,
) -> Result<Report, ExtractError> {
    let (from, to) = sel.window();
    let files = index::files_between(conn, from, to)?;
    // Where each selected flow's frames start, per file.
    let mut starts: HashMap<i64, u64> = HashMap::new();
    if let Selection::Flows(flows) = sel {
        for f in flows {
            for (file, offset) in index::flow_files(conn, f.flow_id)? {
                let s = starts.entry(file).or_insert(offset);
                *s = (*s).min(offset);
            }
        }
    }
    let mut report = Report::default();
    let mut link: Option<u32> = None;
    let mut data = Vec::with_capacity(1 << 16);
    let mut rec_out = Vec::with_capacity(1 << 16);
    for f in &files {
        if f.state == index::DELETED {
            report.gaps.push(gap(f, deleted_reason(conn, f.file_id)?));
            continue;
        }
        // A closed file whose index lists every flow in it is read only if
        // it holds one of the flows, from the first of their frames.
        let from_offset = match sel {
            Selection::Flows(_) if f.flows_complete && f.state == index::CLOSED => {
                match starts.get(&f.file_id) {
                    Some(&o) => o,
                    None => continue,
                }
            }
            Selection::Flows(_) => starts.get(&f.file_id).copied().unwrap_or(0),
            _ => 0,
        };
        let mut r = match Reader::open(&f.path()) {
            Ok(r) => r,
            Err(e) => {
                report.gaps.push(gap(f, format!("unreadable: {e}")));
                continue;
            }
        };
        let Some(file_link) = LinkType::from_dlt(r.dlt() as i32) else {
            report
                .gaps
                .push(gap(f, format!("unknown link type {}", r.dlt())));
            continue;
        };
        if from_offset > 0 {
            if let Err(e) = r.seek(from_offset) {
                report.gaps.push(gap(f, format!("unreadable: {e}")));
                continue;
            }
        }
        report.files_read.push(f.name.clone());
        loop {
            let rec = match r.next(&mut data) {
                Ok(Some(rec)) => rec,
                Ok(None) => break,
                Err(e) => {
                    report.gaps.push(gap(f, format!("read error: {e}")));
                    break;
                }
            };
            // Capture order is not always time order (files of several
            // captures analyzed together): the rest of the file is read.
            if rec.ts < from || rec.ts > to {
                continue;
            }
            let Ok(view) = decode(file_link, &data) else {
                continue;
            };
            if !sel.matches(rec.ts, &view) || filter.is_some_and(|p| !p.filter(&data)) {
                continue;
            }
            match link {
                None => {
                    link = Some(r.dlt());
                    out.write_all(&file_header(r.dlt()))?;
                    report.bytes += pcapfile::FILE_HEADER;
                }
                Some(l) if l != r.dlt() => {
                    report.other_link += 1;
                    continue;
                }
                Some(_) => {}
            }
            rec_out.clear();
            put_record(&mut rec_out, rec.ts, rec.wire_len, &data);
            out.write_all(&rec_out)?;
            report.bytes += rec_out.len() as u64;
            report.packets += 1;
        }
    }
    if link.is_none() {
        // An empty extract is still a pcap every tool opens.
        out.write_all(&file_header(1))?;
        report.bytes += pcapfile::FILE_HEADER;
    }
    out.flush()?;
    Ok(report)
}

fn gap(f: &FileRow, reason: String) -> Gap {
    Gap {
        file: f.name.clone(),
        first: f.first_us.map(crate::time::rfc3339),
        last: f.last_us.map(crate::time::rfc3339),
        reason,
    }
}

fn deleted_reason(conn: &Connection, file_id: i64) -> rusqlite::Result<String> {
    let (reason, at): (Option<String>, Option<i64>) = conn.query_row(
        "SELECT deleted_reason, deleted_us FROM archive_files WHERE file_id = ?1",
        [file_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(format!(
        "deleted by retention ({}) at {}",
        reason.unwrap_or_default(),
        at.map(crate::time::rfc3339).unwrap_or_default()
    ))
}
