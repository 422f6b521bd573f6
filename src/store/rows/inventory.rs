//! The inventory as the query commands show it: `medtap devices` (one
//! line per device with its names, protocols, services and asset
//! fields), `medtap device` (one device with its history and peers) and
//! `medtap devices export` (the DB3205/T 6.3 a) register).
//!
//! Protocols and services are read from the flows; names from
//! `device_names`; asset fields from the asset list snapshot the sensor
//! wrote at start (`assets`).

use super::assets::{self, AssetRow};
use crate::device::assets::AssetFields;
use crate::time::rfc3339;
use rusqlite::Connection;
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};

/// The names a device uses, as `devices --json` shows them.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Names {
    /// DHCP option 12 (latest).
    pub hostname: Option<String>,
    /// DHCP option 81 (latest).
    pub fqdn: Option<String>,
    /// DHCP option 60 (latest).
    pub dhcp_vendor_class: Option<String>,
    /// DHCP option 55 as "1,3,6,15" (latest).
    pub dhcp_fingerprint: Option<String>,
    /// DHCP option 61, hex (latest).
    pub dhcp_client_id: Option<String>,
    /// DICOM AE titles it used.
    pub dicom_ae_titles: Vec<String>,
    /// HL7 applications it sent as or received as.
    pub hl7_apps: Vec<String>,
    /// MQTT client ids it connected with.
    pub mqtt_client_ids: Vec<String>,
}

impl Names {
    fn set(&mut self, kind: &str, value: String) {
        let single = |f: &mut Option<String>| {
            if f.is_none() {
                *f = Some(value.clone());
            }
        };
        match kind {
            "hostname" => single(&mut self.hostname),
            "fqdn" => single(&mut self.fqdn),
            "dhcp_vendor_class" => single(&mut self.dhcp_vendor_class),
            "dhcp_fingerprint" => single(&mut self.dhcp_fingerprint),
            "dhcp_client_id" => single(&mut self.dhcp_client_id),
            "dicom_ae_titles" => self.dicom_ae_titles.push(value),
            "hl7_apps" => self.hl7_apps.push(value),
            "mqtt_client_ids" => self.mqtt_client_ids.push(value),
            _ => {}
        }
    }
}

/// The Appendix B attributes a device's grade was computed from.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct GradeBasisRow {
    /// Touches or enters the body.
    pub contact: bool,
    /// Usage form (`ionizing_radiation`, ...).
    pub usage_form: String,
    /// Level (`serious`, ...).
    pub level: String,
    /// `class` (the shipped class table), `override` (the hospital's
    /// class file) or `asset` (this device's asset entry).
    pub source: String,
}

/// One device, as `medtap devices --json` prints it (one per line).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct DeviceRow {
    /// MAC address; null for a host known only by its IP behind a router.
    pub mac: Option<String>,
    /// Its addresses, most recently used first.
    pub ips: Vec<String>,
    /// RFC 3339 first frame.
    pub first_seen: String,
    /// RFC 3339 latest frame.
    pub last_seen: String,
    /// IEEE registry organisation of the MAC prefix.
    pub vendor: Option<String>,
    /// Whether that organisation is a medical manufacturer.
    pub medical_vendor: bool,
    /// A locally administered (often randomised) MAC.
    pub locally_administered: bool,
    /// `router`, or null.
    pub role: Option<String>,
    /// Its class id (`unknown` until something identifies it).
    pub class: String,
    /// The class's English name.
    pub class_name: String,
    /// The class's Chinese name.
    pub class_name_zh: String,
    /// `fingerprint` (inferred from its traffic) or `asset` (the asset
    /// list); null while unknown.
    pub class_source: Option<String>,
    /// DB3205/T Table B.1 grade: 1, 2, 3, or null (not a medical class).
    pub grade: Option<u8>,
    /// What the grade was computed from.
    pub grade_basis: Option<GradeBasisRow>,
    /// How sure the class is, 0–1.
    pub confidence: f64,
    /// The evidence behind the class, one line per rule.
    pub evidence: Vec<String>,
    /// The next-best class when close (or the inferred one when the asset
    /// list's differs).
    pub runner_up: Option<String>,
    /// Names it uses.
    pub names: Names,
    /// Protocols it speaks, as client and as server (`dicom-scu`, ...).
    pub protocols: Vec<String>,
    /// Ports it accepted connections on (`tcp/104`), or answered on (`udp/67`).
    pub services: Vec<String>,
    /// Whether the asset list registers it.
    pub registered: bool,
    /// Its asset list entry.
    pub asset: Option<AssetRow>,
    /// The database key (MAC or IP): not printed.
    #[serde(skip)]
    pub key: String,
}

/// Filters of `medtap devices`.
#[derive(Clone, Debug, Default)]
pub struct DeviceFilter {
    /// Only devices the asset list does not register.
    pub unregistered: bool,
    /// Only devices whose vendor contains this text (any case).
    pub vendor: Option<String>,
    /// Only devices of medical manufacturers.
    pub medical: bool,
    /// Only this device (its MAC, or one of its IPs).
    pub device: Option<String>,
    /// Only devices of this class.
    pub class: Option<String>,
    /// Only devices of this grade.
    pub grade: Option<u8>,
}

/// The protocol names of a flow's application protocol, as (client, server).
fn roles(app: &str) -> Option<(&'static str, &'static str)> {
    Some(match app {
        "dicom" | "dicom-tls" => ("dicom-scu", "dicom-scp"),
        "hl7" => ("hl7-sender", "hl7-receiver"),
        "mqtt" | "mqtt-tls" => ("mqtt-client", "mqtt-broker"),
        _ => return None,
    })
}

/// Every device matching `f`, by first appearance.
pub fn devices(conn: &Connection, f: &DeviceFilter) -> rusqlite::Result<Vec<DeviceRow>> {
    let mut ips: HashMap<String, Vec<String>> = HashMap::new();
    let mut st =
        conn.prepare("SELECT device, ip FROM device_ips ORDER BY last_seen_us DESC, ip")?;
    for row in st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))? {
        let (d, ip) = row?;
        ips.entry(d).or_default().push(ip);
    }
    let mut names: HashMap<String, Names> = HashMap::new();
    let mut st = conn.prepare(
        "SELECT device, kind, value FROM device_names ORDER BY last_seen_us DESC, value",
    )?;
    for row in st.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
        ))
    })? {
        let (d, kind, value) = row?;
        names.entry(d).or_default().set(&kind, value);
    }
    let (protocols, services) = protocols_and_services(conn)?;
    let asset_list = assets::all(conn)?;
    let mut st = conn.prepare(
        "SELECT device, mac, first_seen_us, last_seen_us, vendor, medical_vendor,
                locally_administered, role, class, class_name, class_name_zh, class_source,
                grade, contact, usage_form, level, grade_source, confidence, evidence, runner_up
         FROM devices ORDER BY first_seen_us, device",
    )?;
    let unknown = crate::device::classes::Classes::builtin().get(crate::device::classify::UNKNOWN);
    let rows = st.query_map([], |r| {
        let key: String = r.get(0)?;
        let mac: Option<String> = r.get(1)?;
        let dev_ips = ips.get(&key).cloned().unwrap_or_default();
        let asset = assets::matching(&asset_list, mac.as_deref(), &dev_ips).cloned();
        // A host behind a router is known by its IP: its flows are found by it.
        let by = mac.clone().unwrap_or_else(|| key.clone());
        let class: Option<String> = r.get(8)?;
        let grade_basis = match (
            r.get::<_, Option<bool>>(13)?,
            r.get(14)?,
            r.get(15)?,
            r.get(16)?,
        ) {
            (Some(contact), Some(usage_form), Some(level), Some(source)) => Some(GradeBasisRow {
                contact,
                usage_form,
                level,
                source,
            }),
            _ => None,
        };
        let evidence: Option<String> = r.get(18)?;
        Ok(DeviceRow {
            class_name: r
                .get::<_, Option<String>>(9)?
                .or_else(|| unknown.map(|u| u.name.clone()))
                .unwrap_or_default(),
            class_name_zh: r
                .get::<_, Option<String>>(10)?
                .or_else(|| unknown.map(|u| u.name_zh.clone()))
                .unwrap_or_default(),
            class_source: r.get(11)?,
            grade: r.get(12)?,
            grade_basis,
            confidence: r.get::<_, Option<f64>>(17)?.unwrap_or(0.0),
            evidence: evidence
                .and_then(|e| serde_json::from_str(&e).ok())
                .unwrap_or_default(),
            runner_up: r.get(19)?,
            class: class.unwrap_or_else(|| crate::device::classify::UNKNOWN.into()),
            protocols: protocols
                .get(&by)
                .map(|s| s.iter().cloned().collect())
                .unwrap_or_default(),
            services: services
                .get(&by)
                .map(|s| s.iter().cloned().collect())
                .unwrap_or_default(),
            names: names.remove(&key).unwrap_or_default(),
            ips: dev_ips,
            mac,
            first_seen: rfc3339(r.get(2)?),
            last_seen: rfc3339(r.get(3)?),
            vendor: r.get(4)?,
            medical_vendor: r.get(5)?,
            locally_administered: r.get(6)?,
            role: r.get(7)?,
            registered: asset.is_some(),
            asset,
            key,
        })
    })?;
    let mut out = Vec::new();
    for row in rows {
        let d = row?;
        if keep(&d, f) {
            out.push(d);
        }
    }
    Ok(out)
}

fn keep(d: &DeviceRow, f: &DeviceFilter) -> bool {
    if f.unregistered && d.registered {
        return false;
    }
    if f.class.as_ref().is_some_and(|c| *c != d.class) {
        return false;
    }
    if f.grade.is_some() && f.grade != d.grade {
        return false;
    }
    if f.medical && !d.medical_vendor {
        return false;
    }
    if let Some(v) = &f.vendor {
        let v = v.to_lowercase();
        if !d
            .vendor
            .as_deref()
            .is_some_and(|x| x.to_lowercase().contains(&v))
        {
            return false;
        }
    }
    if let Some(want) = &f.device {
        let want = want.to_lowercase();
        if d.key != want && d.mac.as_deref() != Some(&want) && !d.ips.contains(&want) {
            return false;
        }
    }
    true
}

type ByDevice = HashMap<String, BTreeSet<String>>;

/// Protocols (by role) and services of every MAC and every IP, from the
/// flows and the DHCP messages.
fn protocols_and_services(conn: &Connection) -> rusqlite::Result<(ByDevice, ByDevice)> {
    let mut protocols: ByDevice = HashMap::new();
    let mut services: ByDevice = HashMap::new();
    let mut st = conn.prepare(
        "SELECT src_mac, src_ip, dest_mac, dest_ip, app_proto, proto, src_port, dest_port,
                tcp_flags_toclient, pkts_toclient
         FROM flows
         GROUP BY src_mac, src_ip, dest_mac, dest_ip, app_proto, proto, dest_port,
                  src_port IN (67, 68), tcp_flags_toclient & 18 = 18, pkts_toclient > 0",
    )?;
    let mut rows = st.query([])?;
    while let Some(r) = rows.next()? {
        let src: Vec<String> = [r.get::<_, Option<String>>(0)?, Some(r.get(1)?)]
            .into_iter()
            .flatten()
            .collect();
        let dst: Vec<String> = [r.get::<_, Option<String>>(2)?, Some(r.get(3)?)]
            .into_iter()
            .flatten()
            .collect();
        let app: Option<String> = r.get(4)?;
        let (proto, sport, dport): (u8, u16, u16) = (r.get(5)?, r.get(6)?, r.get(7)?);
        let (flags, answered): (u8, i64) = (r.get(8)?, r.get(9)?);
        let add = |who: &[String], map: &mut ByDevice, what: String| {
            for k in who {
                map.entry(k.clone()).or_default().insert(what.clone());
            }
        };
        if let Some((client, server)) = app.as_deref().and_then(roles) {
            add(&src, &mut protocols, client.into());
            add(&dst, &mut protocols, server.into());
        }
        // DHCP: a client sends from 68 to 67; a server answers from 67
        // (broadcast answers open a flow of their own, from the server).
        if proto == 17 && (sport, dport) == (68, 67) {
            add(&src, &mut protocols, "dhcp-client".into());
            if answered > 0 {
                add(&dst, &mut protocols, "dhcp-server".into());
            }
        }
        if proto == 17 && (sport, dport) == (67, 68) {
            add(&src, &mut protocols, "dhcp-server".into());
        }
        let accepted = match proto {
            6 => flags & 0x12 == 0x12,
            17 => answered > 0,
            _ => false,
        };
        if accepted {
            let name = if proto == 6 { "tcp" } else { "udp" };
            add(&dst, &mut services, format!("{name}/{dport}"));
        }
    }
    let mut st = conn.prepare(
        "SELECT DISTINCT client_mac FROM dhcp_messages WHERE op = 1 AND client_mac IS NOT NULL",
    )?;
    for mac in st.query_map([], |r| r.get::<_, String>(0))? {
        protocols
            .entry(mac?)
            .or_default()
            .insert("dhcp-client".into());
    }
    Ok((protocols, services))
}

/// One address a device used, with where it came from.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct AddressRow {
    /// The address.
    pub ip: String,
    /// `ip`, `arp` or `dhcp`.
    pub source: String,
    /// RFC 3339 first use.
    pub first_seen: String,
    /// RFC 3339 latest use.
    pub last_seen: String,
}

/// One name a device used, with its times.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct NameRow {
    /// The name's kind (`hostname`, `dicom_ae_titles`, ...).
    pub kind: String,
    /// The value as sent.
    pub value: String,
    /// RFC 3339 first seen.
    pub first_seen: String,
    /// RFC 3339 latest seen.
    pub last_seen: String,
}

/// A protocol a device spoke with one peer.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct PeerRow {
    /// `client` (it opened the flows) or `server`.
    pub role: String,
    /// The application protocol, or `tcp/104`-style transport and port.
    pub protocol: String,
    /// The peer's address.
    pub peer_ip: String,
    /// The peer's MAC, when on the segment.
    pub peer_mac: Option<String>,
    /// Flows.
    pub flows: u64,
    /// RFC 3339 first flow start.
    pub first_seen: String,
    /// RFC 3339 latest flow end.
    pub last_seen: String,
}

/// A device event.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct EventRow {
    /// RFC 3339 time.
    pub time: String,
    /// What happened (`new_device`, `ip_conflict`, ...).
    pub kind: String,
    /// The address concerned.
    pub ip: Option<String>,
    /// The other MAC (a conflict's holder, a registered owner).
    pub other_mac: Option<String>,
    /// The frame or message that showed it.
    pub evidence: String,
    /// How the holder held the address.
    pub held_by: Option<String>,
    /// RFC 3339 latest use (or lease end) by the holder.
    pub held_until: Option<String>,
    /// Explanation or new value.
    pub detail: Option<String>,
}

/// Everything known about one device: `medtap device`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct DeviceDetail {
    /// The inventory line.
    #[serde(flatten)]
    pub device: DeviceRow,
    /// Every address it used.
    pub addresses: Vec<AddressRow>,
    /// Every name with its times.
    pub name_history: Vec<NameRow>,
    /// Its peers by protocol and role.
    pub peers: Vec<PeerRow>,
    /// Its events, oldest first.
    pub events: Vec<EventRow>,
}

/// The device whose MAC or one of whose IPs is `id`.
pub fn device(conn: &Connection, id: &str) -> rusqlite::Result<Option<DeviceDetail>> {
    let f = DeviceFilter {
        device: Some(id.to_string()),
        ..DeviceFilter::default()
    };
    let mut found = devices(conn, &f)?;
    // An IP a MAC-keyed device used wins over a host keyed by that IP.
    found.sort_by_key(|d| d.mac.is_none());
    let Some(device) = found.into_iter().next() else {
        return Ok(None);
    };
    let key = device.key.clone();
    let mut st = conn.prepare(
        "SELECT ip, source, first_seen_us, last_seen_us FROM device_ips
         WHERE device = ?1 ORDER BY first_seen_us, ip",
    )?;
    let addresses = st
        .query_map([&key], |r| {
            Ok(AddressRow {
                ip: r.get(0)?,
                source: r.get(1)?,
                first_seen: rfc3339(r.get(2)?),
                last_seen: rfc3339(r.get(3)?),
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut st = conn.prepare(
        "SELECT kind, value, first_seen_us, last_seen_us FROM device_names
         WHERE device = ?1 ORDER BY kind, first_seen_us, value",
    )?;
    let name_history = st
        .query_map([&key], |r| {
            Ok(NameRow {
                kind: r.get(0)?,
                value: r.get(1)?,
                first_seen: rfc3339(r.get(2)?),
                last_seen: rfc3339(r.get(3)?),
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut st = conn.prepare(
        "SELECT ts_us, kind, ip, other_mac, evidence, held_by, held_until_us, detail
         FROM device_events WHERE device = ?1 ORDER BY ts_us, id",
    )?;
    let events = st
        .query_map([&key], |r| {
            Ok(EventRow {
                time: rfc3339(r.get(0)?),
                kind: r.get(1)?,
                ip: r.get(2)?,
                other_mac: r.get(3)?,
                evidence: r.get(4)?,
                held_by: r.get(5)?,
                held_until: r.get::<_, Option<i64>>(6)?.map(held_until),
                detail: r.get(7)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let peers = peers(conn, &device)?;
    Ok(Some(DeviceDetail {
        device,
        addresses,
        name_history,
        peers,
        events,
    }))
}

/// A lease end far in the future (an infinite lease) reads as such.
fn held_until(us: i64) -> String {
    if us >= i64::MAX - 1 {
        "infinite lease".into()
    } else {
        rfc3339(us)
    }
}

/// The device's flows grouped by role, protocol and peer.
fn peers(conn: &Connection, d: &DeviceRow) -> rusqlite::Result<Vec<PeerRow>> {
    // A MAC-keyed device's flows by MAC; a host behind a router by IP.
    let (col_src, col_dst, id) = match &d.mac {
        Some(m) => ("src_mac", "dest_mac", m.clone()),
        None => ("src_ip", "dest_ip", d.key.clone()),
    };
    let sql = format!(
        "SELECT 'client', app_proto, proto, dest_port, dest_ip, dest_mac, count(*),
                min(start_us), max(end_us)
         FROM flows WHERE {col_src} = ?1 GROUP BY app_proto, proto, dest_port, dest_ip, dest_mac
         UNION ALL
         SELECT 'server', app_proto, proto, dest_port, src_ip, src_mac, count(*),
                min(start_us), max(end_us)
         FROM flows WHERE {col_dst} = ?1 GROUP BY app_proto, proto, dest_port, src_ip, src_mac
         ORDER BY 1, 2, 3, 4, 5"
    );
    let mut st = conn.prepare(&sql)?;
    let rows = st.query_map([&id], |r| {
        let app: Option<String> = r.get(1)?;
        let proto: u8 = r.get(2)?;
        let port: u16 = r.get(3)?;
        let protocol = match app {
            Some(a) => a,
            None => format!("{}/{port}", crate::flow::proto_name(proto)),
        };
        Ok(PeerRow {
            role: r.get(0)?,
            protocol,
            peer_ip: r.get(4)?,
            peer_mac: r.get(5)?,
            flows: r.get::<_, i64>(6)? as u64,
            first_seen: rfc3339(r.get(7)?),
            last_seen: rfc3339(r.get(8)?),
        })
    })?;
    rows.collect()
}

/// One line of the DB3205/T 6.3 a) register (`medtap devices export`).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ExportRow {
    /// Device type: its class's name (the asset list's class, else the
    /// inferred one; empty while unknown).
    pub r#type: Option<String>,
    /// Its class id.
    pub class: String,
    /// Its DB3205/T Table B.1 grade (1–3; empty for a non-medical class).
    pub grade: Option<u8>,
    /// Manufacturer: IEEE registry organisation of the MAC.
    pub manufacturer: Option<String>,
    /// Current IP (most recently used).
    pub ip: Option<String>,
    /// MAC address.
    pub mac: Option<String>,
    /// Unique identifier: the asset list's UDI, else its asset id.
    pub unique_id: Option<String>,
    /// Asset name.
    pub name: Option<String>,
    /// The name the device gives itself (DHCP host name).
    pub hostname: Option<String>,
    /// Department.
    pub department: Option<String>,
    /// Location.
    pub location: Option<String>,
    /// Whether the asset list registers it.
    pub registered: bool,
    /// RFC 3339 first seen.
    pub first_seen: String,
    /// RFC 3339 last seen.
    pub last_seen: String,
}

impl ExportRow {
    /// The column names, in order.
    pub const COLUMNS: [&'static str; 14] = [
        "type",
        "class",
        "grade",
        "manufacturer",
        "ip",
        "mac",
        "unique_id",
        "name",
        "hostname",
        "department",
        "location",
        "registered",
        "first_seen",
        "last_seen",
    ];

    /// The register line of a device.
    pub fn of(d: &DeviceRow) -> ExportRow {
        let a = d.asset.as_ref();
        let field = |f: fn(&AssetFields) -> &Option<String>| a.and_then(|a| f(&a.fields).clone());
        ExportRow {
            r#type: (d.class != crate::device::classify::UNKNOWN).then(|| d.class_name.clone()),
            class: d.class.clone(),
            grade: d.grade,
            manufacturer: d.vendor.clone(),
            ip: d.ips.first().cloned(),
            mac: d.mac.clone(),
            unique_id: field(|a| &a.udi).or_else(|| field(|a| &a.asset_id)),
            name: field(|a| &a.name),
            hostname: d.names.hostname.clone(),
            department: field(|a| &a.department),
            location: field(|a| &a.location),
            registered: d.registered,
            first_seen: d.first_seen.clone(),
            last_seen: d.last_seen.clone(),
        }
    }

    /// The values in [`ExportRow::COLUMNS`] order.
    pub fn values(&self) -> Vec<String> {
        let o = |v: &Option<String>| v.clone().unwrap_or_default();
        vec![
            o(&self.r#type),
            self.class.clone(),
            self.grade.map(|g| g.to_string()).unwrap_or_default(),
            o(&self.manufacturer),
            o(&self.ip),
            o(&self.mac),
            o(&self.unique_id),
            o(&self.name),
            o(&self.hostname),
            o(&self.department),
            o(&self.location),
            self.registered.to_string(),
            self.first_seen.clone(),
            self.last_seen.clone(),
        ]
    }
}
