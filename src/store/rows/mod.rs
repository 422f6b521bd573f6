//! One module per table: its row types, its insert (inside the writer's
//! transaction) and its selects (for the query commands), with named SQL
//! parameters.

/// Executes a prepared statement with its named parameters bound by
/// position: `execute_named!(st, { ":a": x, ":b": y })`. The names must
/// be listed in the order they first appear in the SQL (debug builds, and
/// so every test, check it). rusqlite's `named_params!` looks each name up
/// in the statement, a string search per parameter per row: 2–3% of the
/// writer's time on wide rows.
macro_rules! execute_named {
    ($st:expr, { $($name:literal : $value:expr),* $(,)? }) => {{
        let st = &mut $st;
        let mut _i = 0usize;
        $(
            _i += 1;
            debug_assert_eq!(st.parameter_name(_i), Some($name), "parameter order");
            st.raw_bind_parameter(_i, &$value)?;
        )*
        debug_assert_eq!(st.parameter_count(), _i, "every parameter bound");
        st.raw_execute()
    }};
}

pub mod alert;
pub mod anomaly;
pub mod archive;
pub mod assets;
pub mod baseline;
pub mod device;
pub mod dhcp;
pub mod dicom;
pub mod flow;
pub mod hl7;
pub mod inventory;
pub mod mqtt;
pub mod session;
pub mod stats;

use crate::time::rfc3339;
use serde::Serialize;

/// JSON text of the list columns (serialising these types cannot fail).
fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

/// A JSON column read back (`null` if it does not parse).
fn json_value(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or(serde_json::Value::Null)
}

/// The rows of a per-flow child table (`st` selects them by `:flow_id`)
/// that belong to `flow_id`, read by `f`.
fn children<T>(
    st: &mut rusqlite::CachedStatement<'_>,
    flow_id: u64,
    f: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Vec<T>> {
    st.query_map(rusqlite::named_params! {":flow_id": flow_id as i64}, f)?
        .collect()
}

/// The flow an application session (DICOM association, MQTT connection)
/// rode on: the first fields of the `dicom --json` and `mqtt --json` lines.
/// src is the side that opened the connection (requestor, MQTT client).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct SessionFlow {
    /// The flow's id.
    pub flow_id: u64,
    /// Its Community ID.
    pub community_id: Option<String>,
    /// RFC 3339 start of the flow.
    pub start: String,
    /// RFC 3339 end of the flow.
    pub end: String,
    /// Client address.
    pub src_ip: String,
    /// Client port.
    pub src_port: u16,
    /// Server address.
    pub dest_ip: String,
    /// Server port.
    pub dest_port: u16,
}

/// The columns [`SessionFlow::from_row`] reads, first in a SELECT whose
/// flows table is aliased `f`.
const SESSION_FLOW_COLUMNS: &str =
    "f.flow_id, f.community_id, f.start_us, f.end_us, f.src_ip, f.src_port, f.dest_ip, f.dest_port";

impl SessionFlow {
    /// Reads the [`SESSION_FLOW_COLUMNS`] at the start of `r`.
    fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            flow_id: r.get::<_, i64>(0)? as u64,
            community_id: r.get(1)?,
            start: rfc3339(r.get(2)?),
            end: rfc3339(r.get(3)?),
            src_ip: r.get(4)?,
            src_port: r.get(5)?,
            dest_ip: r.get(6)?,
            dest_port: r.get(7)?,
        })
    }
}
