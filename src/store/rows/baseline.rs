//! What `medtap baseline propose` reads: every flow in a window with the
//! classes of its ends' devices and the protocol operations it carried
//! (DICOM called AE and commands, HL7 receiving applications and message
//! types, MQTT topics published and filters subscribed).

use crate::time::Micros;
use rusqlite::Connection;

/// One flow as the baseline sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BaselineFlow {
    /// Flow id.
    pub flow_id: u64,
    /// Start and end.
    pub start: Micros,
    /// End.
    pub end: Micros,
    /// IP protocol.
    pub proto: u8,
    /// Initiator address.
    pub src_ip: String,
    /// Responder address.
    pub dest_ip: String,
    /// Responder port.
    pub dest_port: u16,
    /// Initiator MAC.
    pub src_mac: Option<String>,
    /// Responder MAC.
    pub dest_mac: Option<String>,
    /// Application protocol.
    pub app_proto: Option<String>,
    /// Bytes both ways.
    pub bytes: u64,
    /// Class of the device with the initiator's MAC.
    pub src_class: Option<String>,
    /// Class of the device with the responder's MAC.
    pub dest_class: Option<String>,
    /// DICOM called AE title.
    pub called_ae: Option<String>,
    /// DIMSE commands requested.
    pub dicom_ops: Vec<String>,
    /// HL7 MSH-5 values (acknowledgements left out).
    pub hl7_receiving: Vec<String>,
    /// HL7 MSH-9 values (acknowledgements left out).
    pub hl7_types: Vec<String>,
    /// MQTT topics the client published to.
    pub mqtt_publish: Vec<String>,
    /// MQTT filters the client subscribed to.
    pub mqtt_subscribe: Vec<String>,
}

/// An asset list entry as stored: (mac, ip, name, class).
pub type StoredAsset = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// Separator of the lists below: a control character no kept string holds
/// raw (kept strings escape controls, see `proto::text`).
const SEP: char = '\u{1f}';

/// Flows active within `[since, until]`, oldest first.
pub fn flows(
    conn: &Connection,
    since: Option<Micros>,
    until: Option<Micros>,
) -> rusqlite::Result<Vec<BaselineFlow>> {
    let list = |table: &str, col: &str, cond: &str| {
        format!(
            "(SELECT GROUP_CONCAT(v, char(31)) FROM (SELECT DISTINCT {col} AS v FROM {table} x
               WHERE x.flow_id = f.flow_id AND {col} IS NOT NULL {cond} ORDER BY {col}))"
        )
    };
    let not_ack = "AND x.message_type NOT LIKE 'ACK%'";
    let sql = format!(
        "SELECT f.flow_id, f.start_us, f.end_us, f.proto, f.src_ip, f.dest_ip, f.dest_port,
                f.src_mac, f.dest_mac, f.app_proto, f.bytes_toserver + f.bytes_toclient,
                sd.class, dd.class, da.called_ae, {}, {}, {}, {}, {}
         FROM flows f
         LEFT JOIN devices sd ON sd.mac = f.src_mac
         LEFT JOIN devices dd ON dd.mac = f.dest_mac
         LEFT JOIN dicom_associations da ON da.flow_id = f.flow_id
         WHERE f.end_us >= :since AND f.start_us <= :until
         ORDER BY f.start_us, f.flow_id",
        list("dicom_operations", "x.command", ""),
        list("hl7_messages", "x.receiving_app", not_ack),
        list("hl7_messages", "x.message_type", not_ack),
        list("mqtt_publishes", "x.topic", "AND x.to_server = 1"),
        list("mqtt_subscriptions", "x.filter", ""),
    );
    let mut st = conn.prepare(&sql)?;
    let rows = st.query_map(
        rusqlite::named_params! {
            ":since": since.unwrap_or(Micros::MIN),
            ":until": until.unwrap_or(Micros::MAX),
        },
        |r| {
            let split = |i: usize| -> rusqlite::Result<Vec<String>> {
                Ok(r.get::<_, Option<String>>(i)?
                    .map(|s| s.split(SEP).map(str::to_string).collect())
                    .unwrap_or_default())
            };
            Ok(BaselineFlow {
                flow_id: r.get::<_, i64>(0)?.max(0) as u64,
                start: r.get(1)?,
                end: r.get(2)?,
                proto: r.get(3)?,
                src_ip: r.get(4)?,
                dest_ip: r.get(5)?,
                dest_port: r.get(6)?,
                src_mac: r.get(7)?,
                dest_mac: r.get(8)?,
                app_proto: r.get(9)?,
                bytes: r.get::<_, i64>(10)?.max(0) as u64,
                src_class: r.get(11)?,
                dest_class: r.get(12)?,
                called_ae: r.get(13)?,
                dicom_ops: split(14)?,
                hl7_receiving: split(15)?,
                hl7_types: split(16)?,
                mqtt_publish: split(17)?,
                mqtt_subscribe: split(18)?,
            })
        },
    )?;
    rows.collect()
}

/// The asset list the last session ran with.
pub fn assets(conn: &Connection) -> rusqlite::Result<Vec<StoredAsset>> {
    let mut st = conn.prepare("SELECT mac, ip, name, class FROM assets ORDER BY line")?;
    let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
    rows.collect()
}

/// What earlier runs saw each device (by MAC) offer: its first-seen time,
/// the (IP protocol, port) pairs it answered on below the dynamic range,
/// and the application protocols it spoke. NEW_SERVICE's memory across
/// restarts.
pub type ServedHistory = Vec<(String, Micros, Vec<(u8, u16)>, Vec<String>)>;

/// One device's part of a [`ServedHistory`]: first seen, ports, protocols.
type Served = (Micros, Vec<(u8, u16)>, Vec<String>);

/// See [`ServedHistory`]; only flows that started before `before` count
/// (`Micros::MAX`: all), so that a replay sees what the sensor knew then.
pub fn served_history(conn: &Connection, before: Micros) -> rusqlite::Result<ServedHistory> {
    let mut by_mac: std::collections::BTreeMap<String, Served> = Default::default();
    let mut st = conn.prepare(
        "SELECT d.mac, d.first_seen_us, f.proto, f.dest_port FROM flows f
         JOIN devices d ON d.mac = f.dest_mac
         WHERE f.start_us < ?1 AND f.dest_port BETWEEN 1 AND 49151
           AND ((f.proto = 6 AND (f.tcp_flags_toclient & 18) = 18)
                OR (f.proto = 17 AND f.pkts_toclient > 0))
         GROUP BY d.mac, f.proto, f.dest_port",
    )?;
    let mut rows = st.query([before])?;
    while let Some(r) = rows.next()? {
        let e = by_mac
            .entry(r.get(0)?)
            .or_insert((r.get(1)?, vec![], vec![]));
        e.1.push((r.get(2)?, r.get(3)?));
    }
    let mut st = conn.prepare(
        "SELECT d.mac, d.first_seen_us, f.app_proto FROM flows f
         JOIN devices d ON d.mac = f.dest_mac OR d.mac = f.src_mac
         WHERE f.start_us < ?1 AND f.app_proto IS NOT NULL
         GROUP BY d.mac, f.app_proto",
    )?;
    let mut rows = st.query([before])?;
    while let Some(r) = rows.next()? {
        let e = by_mac
            .entry(r.get(0)?)
            .or_insert((r.get(1)?, vec![], vec![]));
        e.2.push(r.get(2)?);
    }
    Ok(by_mac
        .into_iter()
        .map(|(mac, (first, ports, apps))| (mac, first, ports, apps))
        .collect())
}
