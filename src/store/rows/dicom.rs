//! The `dicom_associations` and `dicom_operations` tables: one row per
//! association, and its DIMSE operations.

use super::{children, json, json_value, SessionFlow, SESSION_FLOW_COLUMNS};
use crate::proto::dicom::AssociationRecord;
use crate::store::filter::AppFilter;
use rusqlite::{Connection, Transaction};
use serde::Serialize;

/// One association with its operations (replacing an earlier row of
/// the same flow).
pub fn insert(tx: &Transaction<'_>, flow_id: u64, a: &AssociationRecord) -> rusqlite::Result<()> {
    let mut st = tx.prepare_cached(
        "INSERT OR REPLACE INTO dicom_associations (flow_id, calling_ae, called_ae, result, reject_result,
            reject_source, reject_reason, abort_source, abort_reason, application_context,
            implementation_class_uid, implementation_version, acceptor_implementation_class_uid,
            acceptor_implementation_version, max_pdu_length, acceptor_max_pdu_length,
            user_identity_type, roles, contexts, pdus, data_bytes)
         VALUES (:flow_id, :calling_ae, :called_ae, :result, :reject_result, :reject_source,
            :reject_reason, :abort_source, :abort_reason, :application_context,
            :implementation_class_uid, :implementation_version,
            :acceptor_implementation_class_uid, :acceptor_implementation_version,
            :max_pdu_length, :acceptor_max_pdu_length, :user_identity_type, :roles,
            :contexts, :pdus, :data_bytes)",
    )?;
    execute_named!(st, {
        ":flow_id": flow_id as i64,
        ":calling_ae": a.calling_ae,
        ":called_ae": a.called_ae,
        ":result": a.result,
        ":reject_result": a.reject.map(|r| r.0),
        ":reject_source": a.reject.map(|r| r.1),
        ":reject_reason": a.reject.map(|r| r.2),
        ":abort_source": a.abort.map(|r| r.0),
        ":abort_reason": a.abort.map(|r| r.1),
        ":application_context": a.application_context,
        ":implementation_class_uid": a.implementation_class_uid,
        ":implementation_version": a.implementation_version,
        ":acceptor_implementation_class_uid": a.acceptor_implementation_class_uid,
        ":acceptor_implementation_version": a.acceptor_implementation_version,
        ":max_pdu_length": a.max_pdu_length,
        ":acceptor_max_pdu_length": a.acceptor_max_pdu_length,
        ":user_identity_type": a.user_identity_type,
        ":roles": json(&a.roles),
        ":contexts": json(&a.contexts),
        ":pdus": a.pdus as i64,
        ":data_bytes": a.data_bytes as i64,
    })?;
    let mut op = tx.prepare_cached(
        "INSERT INTO dicom_operations (flow_id, command, sop_class_uid, count, bytes, statuses, move_destination)
         VALUES (:flow_id, :command, :sop_class_uid, :count, :bytes, :statuses,
            :move_destination)",
    )?;
    for o in &a.operations {
        execute_named!(op, {
            ":flow_id": flow_id as i64,
            ":command": o.command,
            ":sop_class_uid": o.sop_class_uid,
            ":count": o.count as i64,
            ":bytes": o.bytes as i64,
            ":statuses": json(&o.statuses),
            ":move_destination": o.move_destination,
        })?;
    }
    Ok(())
}

/// Reject details in `dicom --json`.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct DicomReject {
    /// "rejected-permanent" / "rejected-transient".
    pub result: String,
    /// Who rejected.
    pub source: String,
    /// Why.
    pub reason: String,
}

/// Abort details in `dicom --json`.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct DicomAbort {
    /// "service-user" / "service-provider".
    pub source: String,
    /// Provider reason.
    pub reason: String,
}

/// One operation row in `dicom --json`.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct DicomOperation {
    /// "C-STORE", "C-FIND", ...
    pub command: String,
    /// SOP class UID.
    pub sop_class_uid: String,
    /// Its name, when registered.
    pub sop_class_name: Option<&'static str>,
    /// Requests.
    pub count: u64,
    /// Data set bytes.
    pub bytes: u64,
    /// Distinct response statuses.
    pub statuses: Vec<u16>,
    /// C-MOVE destination.
    pub move_destination: Option<String>,
}

/// One association, as `medtap dicom --json` prints it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct DicomRow {
    /// The flow carrying it (its fields are flattened into the JSON line).
    #[serde(flatten)]
    pub flow: SessionFlow,
    /// Calling AE title.
    pub calling_ae: String,
    /// Called AE title.
    pub called_ae: String,
    /// accepted / rejected / aborted / released / incomplete.
    pub result: String,
    /// A-ASSOCIATE-RJ details.
    pub reject: Option<DicomReject>,
    /// A-ABORT details.
    pub abort: Option<DicomAbort>,
    /// Application context name.
    pub application_context: Option<String>,
    /// Requestor's implementation class UID.
    pub implementation_class_uid: Option<String>,
    /// Requestor's implementation version name.
    pub implementation_version: Option<String>,
    /// Acceptor's implementation class UID.
    pub acceptor_implementation_class_uid: Option<String>,
    /// Acceptor's implementation version name.
    pub acceptor_implementation_version: Option<String>,
    /// Requestor's maximum PDU length.
    pub max_pdu_length: Option<u32>,
    /// Acceptor's maximum PDU length.
    pub acceptor_max_pdu_length: Option<u32>,
    /// User identity type proposed (never the credential).
    pub user_identity_type: Option<u8>,
    /// Role selections proposed: [sop class, scu, scp].
    pub roles: serde_json::Value,
    /// Presentation contexts.
    pub contexts: serde_json::Value,
    /// DIMSE operations.
    pub operations: Vec<DicomOperation>,
    /// PDUs seen.
    pub pdus: u64,
    /// Data PDV bytes.
    pub data_bytes: u64,
}

/// DICOM associations matching `f`, oldest first.
pub fn dicom(conn: &Connection, f: &AppFilter) -> rusqlite::Result<Vec<DicomRow>> {
    let w = f.flow_where();
    let sql = format!(
        "SELECT {SESSION_FLOW_COLUMNS},
                a.calling_ae, a.called_ae, a.result, a.reject_result, a.reject_source, a.reject_reason,
                a.abort_source, a.abort_reason, a.application_context, a.implementation_class_uid,
                a.implementation_version, a.acceptor_implementation_class_uid, a.acceptor_implementation_version,
                a.max_pdu_length, a.acceptor_max_pdu_length, a.user_identity_type, a.roles, a.contexts,
                a.pdus, a.data_bytes
         FROM dicom_associations a JOIN flows f ON f.flow_id = a.flow_id WHERE 1=1{}",
        w.sql
    );
    let mut st = conn.prepare(&sql)?;
    let mut rows: Vec<DicomRow> = st
        .query_map(w.params().as_slice(), |r| {
            let reject = match (r.get::<_, Option<String>>(11)?, r.get(12)?, r.get(13)?) {
                (Some(result), Some(source), Some(reason)) => Some(DicomReject {
                    result,
                    source,
                    reason,
                }),
                _ => None,
            };
            let abort = match (r.get::<_, Option<String>>(14)?, r.get(15)?) {
                (Some(source), Some(reason)) => Some(DicomAbort { source, reason }),
                _ => None,
            };
            Ok(DicomRow {
                flow: SessionFlow::from_row(r)?,
                calling_ae: r.get(8)?,
                called_ae: r.get(9)?,
                result: r.get(10)?,
                reject,
                abort,
                application_context: r.get(16)?,
                implementation_class_uid: r.get(17)?,
                implementation_version: r.get(18)?,
                acceptor_implementation_class_uid: r.get(19)?,
                acceptor_implementation_version: r.get(20)?,
                max_pdu_length: r.get(21)?,
                acceptor_max_pdu_length: r.get(22)?,
                user_identity_type: r.get(23)?,
                roles: json_value(&r.get::<_, String>(24)?),
                contexts: json_value(&r.get::<_, String>(25)?),
                operations: Vec::new(),
                pdus: r.get::<_, i64>(26)? as u64,
                data_bytes: r.get::<_, i64>(27)? as u64,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut ops = conn.prepare_cached(
        "SELECT command, sop_class_uid, count, bytes, statuses, move_destination
         FROM dicom_operations WHERE flow_id = :flow_id ORDER BY rowid",
    )?;
    for row in &mut rows {
        row.operations = children(&mut ops, row.flow.flow_id, |r| {
            let uid: String = r.get(1)?;
            Ok(DicomOperation {
                command: r.get(0)?,
                sop_class_name: crate::proto::dicom::uids::name(&uid),
                sop_class_uid: uid,
                count: r.get::<_, i64>(2)? as u64,
                bytes: r.get::<_, i64>(3)? as u64,
                statuses: serde_json::from_str(&r.get::<_, String>(4)?).unwrap_or_default(),
                move_destination: r.get(5)?,
            })
        })?;
    }
    Ok(rows)
}
