//! One DICOM association: both directions' parsers plus what medtap keeps
//! about it, and the owned record written when the flow ends.

use super::dimse::{self, operation_name};
use super::pdu::{self, item_type, pdu_type, Abort, Reject};
use super::stream::{DirParser, Handler, Problem};
use super::uids;
use crate::proto::{dir, Anomaly, Conversation, Fact, Output, Record, Side, TwoWay};
use crate::time::Micros;

/// Outstanding requests remembered to match responses (per association).
const MAX_OUTSTANDING: usize = 64;
/// Distinct (operation, SOP class) rows kept per association.
const MAX_OPERATIONS: usize = 256;
/// Distinct statuses kept per operation row.
const MAX_STATUSES: usize = 16;

/// A negotiated presentation context.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ContextRecord {
    /// Presentation context id.
    pub id: u8,
    /// Abstract syntax (SOP class) UID.
    pub abstract_syntax: String,
    /// Its registry name, when known.
    pub abstract_syntax_name: Option<&'static str>,
    /// Transfer syntaxes the requestor proposed.
    pub transfer_syntaxes: Vec<String>,
    /// The acceptor's result ("acceptance", "user-rejection", ...), or null
    /// if no A-ASSOCIATE-AC was seen.
    pub result: Option<&'static str>,
    /// The transfer syntax the acceptor chose.
    pub accepted_transfer_syntax: Option<String>,
}

/// DIMSE operations aggregated per command and SOP class.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct OperationRecord {
    /// "C-STORE", "C-FIND", "N-ACTION", ...
    pub command: &'static str,
    /// Affected/requested SOP class UID.
    pub sop_class_uid: String,
    /// Its registry name, when known.
    pub sop_class_name: Option<&'static str>,
    /// Requests seen.
    pub count: u64,
    /// Data set bytes that went with requests and responses.
    pub bytes: u64,
    /// Distinct response statuses, in order of first appearance.
    pub statuses: Vec<u16>,
    /// C-MOVE destination AE title.
    pub move_destination: Option<String>,
    /// Requests that named a Move Originator (C-STORE sub-operations of a
    /// C-MOVE, PS3.7 9.1.1.1): objects the sender forwards, not its own.
    #[serde(skip_serializing_if = "is_zero")]
    pub move_sub_operations: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What medtap keeps about one association.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AssociationRecord {
    /// Calling (requesting) AE title.
    pub calling_ae: String,
    /// Called AE title.
    pub called_ae: String,
    /// "accepted", "rejected", "aborted", "released" or "incomplete".
    pub result: &'static str,
    /// A-ASSOCIATE-RJ: (result, source, reason) names.
    pub reject: Option<(&'static str, &'static str, &'static str)>,
    /// A-ABORT: (source, reason) names.
    pub abort: Option<(&'static str, &'static str)>,
    /// Application context name UID.
    pub application_context: Option<String>,
    /// Requestor's implementation class UID.
    pub implementation_class_uid: Option<String>,
    /// Requestor's implementation version name.
    pub implementation_version: Option<String>,
    /// Acceptor's implementation class UID.
    pub acceptor_implementation_class_uid: Option<String>,
    /// Acceptor's implementation version name.
    pub acceptor_implementation_version: Option<String>,
    /// Largest PDU the requestor accepts.
    pub max_pdu_length: Option<u32>,
    /// Largest PDU the acceptor accepts.
    pub acceptor_max_pdu_length: Option<u32>,
    /// User identity type proposed (1 username, 2 username+passcode,
    /// 3 Kerberos, 4 SAML, 5 JWT); the credential is never read.
    pub user_identity_type: Option<u8>,
    /// SCP/SCU role selections proposed: (SOP class, SCU, SCP).
    pub roles: Vec<(String, u8, u8)>,
    /// Presentation contexts.
    pub contexts: Vec<ContextRecord>,
    /// Operations.
    pub operations: Vec<OperationRecord>,
    /// PDUs seen (both directions).
    pub pdus: u64,
    /// Data PDV bytes seen (both directions), including bytes lost in gaps.
    pub data_bytes: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
enum Phase {
    #[default]
    Idle,
    Requested,
    Accepted,
    Rejected,
    Released,
    Aborted,
}

/// Live state of one association.
#[derive(Debug, Default)]
pub struct Association {
    parsers: [DirParser; 2],
    phase: Phase,
    rec: AssociationRecord,
    release_rq_seen: bool,
    /// (message id, operation index) of requests awaiting a response.
    outstanding: Vec<(u16, usize)>,
    /// Operation that data PDVs in each direction belong to.
    data_op: [Option<usize>; 2],
    /// C-MOVE destinations requested since the last [`Conversation::take_output`].
    move_destinations: Vec<String>,
    /// C-FIND/C-MOVE/C-GET requests seen.
    queries: u64,
    /// Of those, how many were reported by [`Conversation::take_output`].
    queries_reported: u64,
    /// The AE titles were reported by [`Conversation::take_output`].
    titles_reported: bool,
    /// Operation rows reported by [`Conversation::take_output`].
    operations_reported: usize,
}

pub use crate::proto::Emit;

impl Association {
    /// Clears everything for reuse (keeps buffer capacities).
    pub fn reset(&mut self) {
        for p in &mut self.parsers {
            p.reset();
        }
        self.phase = Phase::Idle;
        self.rec = AssociationRecord::default();
        self.release_rq_seen = false;
        self.outstanding.clear();
        self.data_op = [None; 2];
        self.move_destinations.clear();
        self.queries = 0;
        self.queries_reported = 0;
        self.titles_reported = false;
        self.operations_reported = 0;
    }

    /// In-order bytes from the client (`to_server`) or the server.
    pub fn data(&mut self, to_server: bool, bytes: &[u8], emit: Emit<'_>) {
        self.drive(to_server, emit, |p, h| p.feed(bytes, h));
    }

    /// Bytes lost in one direction.
    pub fn gap(&mut self, to_server: bool, len: u32, emit: Emit<'_>) {
        self.drive(to_server, emit, |p, h| p.gap(len, h));
    }

    /// True when both directions stopped parsing.
    pub fn is_dead(&self) -> bool {
        self.parsers.iter().all(DirParser::is_dead)
    }

    /// A copy of the record so far (tests look at it mid-stream; the
    /// pipeline moves it out with [`Association::take_record`]).
    #[cfg(test)]
    pub fn record(&self) -> AssociationRecord {
        let mut r = self.rec.clone();
        r.result = self.result();
        r
    }

    /// Moves the record out (at the end of the flow), leaving an empty one.
    pub fn take_record(&mut self) -> AssociationRecord {
        let mut r = std::mem::take(&mut self.rec);
        r.result = self.result();
        r
    }

    fn result(&self) -> &'static str {
        match self.phase {
            Phase::Idle | Phase::Requested => "incomplete",
            Phase::Accepted => "accepted",
            Phase::Rejected => "rejected",
            Phase::Released => "released",
            Phase::Aborted => "aborted",
        }
    }
}

impl Conversation for Association {
    fn feed(&mut self, to_server: bool, bytes: &[u8], _ts: Micros, emit: Emit<'_>) {
        self.data(to_server, bytes, emit);
    }

    fn lost(&mut self, to_server: bool, len: u32, _ts: Micros, emit: Emit<'_>) {
        self.gap(to_server, len, emit);
    }

    /// C-MOVE destinations, then the association's AE titles (once), then
    /// the new queries: the destinations are checked against the titles of
    /// *earlier* associations, before this one's join them.
    fn take_output(&mut self, out: &mut dyn FnMut(Output<'_>)) {
        for dest in self.move_destinations.drain(..) {
            out(Output::Fact(Fact::MoveDestination(&dest)));
        }
        if !self.titles_reported && self.phase != Phase::Idle {
            self.titles_reported = true;
            out(Output::Fact(Fact::AssociationStarted {
                calling: &self.rec.calling_ae,
                called: &self.rec.called_ae,
            }));
        }
        let queries = self.queries - self.queries_reported;
        if queries > 0 {
            self.queries_reported = self.queries;
            out(Output::Fact(Fact::Queries(queries)));
        }
        let new = self.rec.operations.get(self.operations_reported..);
        for op in new.into_iter().flatten() {
            out(Output::Fact(Fact::DicomRequest {
                command: op.command,
                called: &self.rec.called_ae,
            }));
        }
        self.operations_reported = self.rec.operations.len();
    }

    fn take_records(&mut self, out: &mut dyn FnMut(Record)) {
        out(Record::Dicom(self.take_record()));
    }

    fn is_dead(&self) -> bool {
        Association::is_dead(self)
    }

    fn reset(&mut self) {
        Association::reset(self);
    }
}

impl TwoWay for Association {
    type Parser = DirParser;

    fn parsers(&mut self) -> &mut [DirParser; 2] {
        &mut self.parsers
    }
}

/// The association seen from one direction, as the parser's handler.
type Dir<'a, 'e> = Side<'a, 'e, Association>;

/// Longest text kept from one field: UIDs are at most 64 bytes and AE titles
/// 16 (PS3.5 6.2), and a byte kept as `\xhh` takes 4.
const MAX_TEXT: usize = 256;

/// A field's bytes as kept: padding trimmed, then verbatim (invalid UTF-8
/// escaped reversibly, see [`crate::proto::text`]), at most [`MAX_TEXT`].
fn text(b: &[u8]) -> String {
    crate::proto::text::kept(pdu::trim(b), MAX_TEXT)
}

/// Why an AE title does not conform to PS3.5 6.2 (VR AE: the default
/// character repertoire without backslash (5CH) and control characters;
/// leading and trailing spaces are not significant; a value of only spaces
/// shall not be used), as a static reason for the anomaly's detail. `raw`
/// is the title already trimmed of its padding ([`pdu::trim`]).
fn ae_title_problem(raw: &[u8], calling: bool) -> Option<&'static str> {
    let why = |calling_reason, called_reason| {
        Some(if calling {
            calling_reason
        } else {
            called_reason
        })
    };
    if raw.iter().any(|&c| c < 0x20 || c == 0x7f) {
        why(
            "calling AE: control character",
            "called AE: control character",
        )
    } else if raw.iter().any(|&c| c >= 0x80) {
        why(
            "calling AE: byte outside the default repertoire",
            "called AE: byte outside the default repertoire",
        )
    } else if raw.contains(&b'\\') {
        why("calling AE: backslash", "called AE: backslash")
    } else if raw.is_empty() {
        why("calling AE: only spaces", "called AE: only spaces")
    } else {
        None
    }
}

impl Handler for Dir<'_, '_> {
    fn pdu_start(&mut self, t: u8, len: u32) {
        self.c.rec.pdus += 1;
        // Each side announces the largest PDU it will receive.
        let limit = if self.to_server {
            self.c.rec.acceptor_max_pdu_length
        } else {
            self.c.rec.max_pdu_length
        };
        if t == pdu_type::P_DATA_TF {
            if let Some(max) = limit.filter(|&m| m > 0) {
                if len > max {
                    (self.emit)(Anomaly::DicomPduOverMaxLength, None);
                }
            }
            if self.c.phase != Phase::Accepted {
                (self.emit)(Anomaly::DicomPdataBeforeAccept, None);
            }
        }
    }

    fn control(&mut self, t: u8, body: &[u8]) {
        let ok = match (t, self.to_server) {
            (pdu_type::ASSOCIATE_RQ, true) => self.associate_rq(body),
            (pdu_type::ASSOCIATE_AC, false) => self.associate_ac(body),
            (pdu_type::ASSOCIATE_RJ, false) => pdu::reject(body).map(|r| self.rejected(r)),
            (pdu_type::RELEASE_RQ, _) => {
                self.c.release_rq_seen = true;
                Ok(())
            }
            (pdu_type::RELEASE_RP, _) => {
                if self.c.release_rq_seen && self.c.phase == Phase::Accepted {
                    self.c.phase = Phase::Released;
                }
                Ok(())
            }
            (pdu_type::ABORT, _) => pdu::abort(body).map(|ab| self.aborted(ab)),
            // An RQ from the server or an AC/RJ from the client.
            _ => {
                (self.emit)(Anomaly::DicomUnexpectedPdu, None);
                Ok(())
            }
        };
        if ok.is_err() {
            (self.emit)(Anomaly::DicomMalformedPdu, None);
        }
    }

    fn command(&mut self, _ctx: u8, bytes: &[u8]) {
        match dimse::parse(bytes) {
            Ok(c) => self.dimse(&c),
            Err(_) => (self.emit)(Anomaly::DicomMalformedCommand, None),
        }
    }

    fn data(&mut self, _ctx: u8, len: u32, _lost: bool) {
        self.c.rec.data_bytes += u64::from(len);
        let d = dir(self.to_server);
        if let Some(op) = self.c.data_op[d].and_then(|i| self.c.rec.operations.get_mut(i)) {
            op.bytes += u64::from(len);
        }
    }

    fn problem(&mut self, p: Problem) {
        (self.emit)(
            match p {
                Problem::UnknownPduType(_) => Anomaly::DicomUnknownPduType,
                Problem::OverHardCap(_) => Anomaly::DicomPduOverHardCap,
                Problem::MalformedPdv => Anomaly::DicomMalformedPdu,
                Problem::CommandTooLong => Anomaly::DicomMalformedCommand,
                Problem::LostSync => Anomaly::DicomLostSync,
            },
            None,
        );
    }
}

impl Dir<'_, '_> {
    fn associate_rq(&mut self, body: &[u8]) -> Result<(), pdu::Malformed> {
        let a = pdu::associate(body)?;
        self.c.rec.calling_ae = text(a.calling_ae);
        self.c.rec.called_ae = text(a.called_ae);
        // The association is recognised by its structure; a title outside
        // PS3.5 6.2 is reported, and kept as sent.
        for (ae, calling) in [(a.calling_ae, true), (a.called_ae, false)] {
            if let Some(why) = ae_title_problem(ae, calling) {
                (self.emit)(Anomaly::DicomNonconformingAeTitle, Some(why));
            }
        }
        self.c.phase = Phase::Requested;
        for item in pdu::items(a.items, pdu::ASSOCIATE_FIXED_LEN) {
            let item = item?;
            match item.item_type {
                item_type::APPLICATION_CONTEXT => {
                    self.c.rec.application_context = Some(text(item.value))
                }
                item_type::PRESENTATION_CONTEXT_RQ => {
                    let pc = pdu::presentation_context(&item)?;
                    let mut ctx = ContextRecord {
                        id: pc.id,
                        ..ContextRecord::default()
                    };
                    for sub in pdu::items(pc.sub_items, pc.sub_offset) {
                        let sub = sub?;
                        match sub.item_type {
                            item_type::ABSTRACT_SYNTAX => {
                                ctx.abstract_syntax = text(sub.value);
                                ctx.abstract_syntax_name = uids::name(&ctx.abstract_syntax);
                            }
                            item_type::TRANSFER_SYNTAX => {
                                ctx.transfer_syntaxes.push(text(sub.value))
                            }
                            _ => (self.emit)(Anomaly::DicomMalformedItem, None),
                        }
                    }
                    self.c.rec.contexts.push(ctx);
                }
                item_type::USER_INFORMATION => self.user_information(&item, true)?,
                _ => (self.emit)(Anomaly::DicomMalformedItem, None),
            }
        }
        Ok(())
    }

    fn associate_ac(&mut self, body: &[u8]) -> Result<(), pdu::Malformed> {
        let a = pdu::associate(body)?;
        if self.c.phase == Phase::Requested {
            self.c.phase = Phase::Accepted;
        }
        for item in pdu::items(a.items, pdu::ASSOCIATE_FIXED_LEN) {
            let item = item?;
            match item.item_type {
                item_type::APPLICATION_CONTEXT => {}
                item_type::PRESENTATION_CONTEXT_AC => {
                    let pc = pdu::presentation_context(&item)?;
                    let mut ts = None;
                    for sub in pdu::items(pc.sub_items, pc.sub_offset) {
                        let sub = sub?;
                        if sub.item_type == item_type::TRANSFER_SYNTAX {
                            ts = Some(text(sub.value));
                        }
                    }
                    let result = context_result(pc.result);
                    match self.c.rec.contexts.iter_mut().find(|c| c.id == pc.id) {
                        Some(c) => {
                            c.result = Some(result);
                            // PS3.8 9.3.3.2: the transfer syntax is only significant on acceptance.
                            c.accepted_transfer_syntax = ts.filter(|_| pc.result == 0);
                        }
                        None => (self.emit)(Anomaly::DicomMalformedItem, None),
                    }
                }
                item_type::USER_INFORMATION => self.user_information(&item, false)?,
                _ => (self.emit)(Anomaly::DicomMalformedItem, None),
            }
        }
        Ok(())
    }

    fn user_information(&mut self, item: &pdu::Item<'_>, rq: bool) -> Result<(), pdu::Malformed> {
        let rec = &mut self.c.rec;
        for sub in pdu::items(item.value, item.offset + 4) {
            let sub = sub?;
            match sub.item_type {
                item_type::MAX_LENGTH => {
                    let v = sub
                        .value
                        .get(..4)
                        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
                    if rq {
                        rec.max_pdu_length = v;
                    } else {
                        rec.acceptor_max_pdu_length = v;
                    }
                }
                item_type::IMPLEMENTATION_CLASS_UID if rq => {
                    rec.implementation_class_uid = Some(text(sub.value))
                }
                item_type::IMPLEMENTATION_CLASS_UID => {
                    rec.acceptor_implementation_class_uid = Some(text(sub.value))
                }
                item_type::IMPLEMENTATION_VERSION if rq => {
                    rec.implementation_version = Some(text(sub.value))
                }
                item_type::IMPLEMENTATION_VERSION => {
                    rec.acceptor_implementation_version = Some(text(sub.value))
                }
                item_type::ROLE_SELECTION if rq => {
                    let r = pdu::role_selection(&sub)?;
                    rec.roles.push((text(r.sop_class_uid), r.scu, r.scp));
                }
                item_type::USER_IDENTITY_RQ if rq => {
                    rec.user_identity_type = Some(pdu::user_identity_type(&sub)?)
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn rejected(&mut self, r: Reject) {
        self.c.phase = Phase::Rejected;
        self.c.rec.reject = Some(pdu::reject_text(&r));
        (self.emit)(Anomaly::DicomAssociationRejected, None);
    }

    fn aborted(&mut self, ab: Abort) {
        self.c.phase = Phase::Aborted;
        self.c.rec.abort = Some(pdu::abort_text(&ab));
        if ab.source == 2 {
            (self.emit)(Anomaly::DicomProviderAbort, None);
        }
    }

    fn dimse(&mut self, c: &dimse::Command<'_>) {
        let Some(field) = c.command_field else { return };
        let d = dir(self.to_server);
        if self.c.phase != Phase::Accepted {
            (self.emit)(Anomaly::DicomPdataBeforeAccept, None);
        }
        let op = if dimse::is_response(field) {
            let pos = c
                .responded_to
                .and_then(|id| self.c.outstanding.iter().position(|(m, _)| *m == id));
            // C-FIND/C-GET/C-MOVE send pending responses: keep the request
            // outstanding until a final (non-pending) status.
            let pending = c.status.is_some_and(|s| s == 0xFF00 || s == 0xFF01);
            let idx = match pos {
                Some(p) if pending => Some(self.c.outstanding[p].1),
                Some(p) => Some(self.c.outstanding.swap_remove(p).1),
                None => self.operation(field, c),
            };
            if let (Some(i), Some(s)) = (idx, c.status) {
                let st = &mut self.c.rec.operations[i].statuses;
                if !st.contains(&s) && st.len() < MAX_STATUSES {
                    st.push(s);
                }
            }
            idx
        } else {
            if matches!(field, 0x0010 | 0x0020 | 0x0021) {
                self.c.queries += 1;
            }
            if let (0x0021, Some(dest)) = (field, c.move_destination) {
                if self.c.move_destinations.len() < MAX_OUTSTANDING {
                    self.c.move_destinations.push(text(dest));
                }
            }
            let idx = self.operation(field, c);
            if let Some(i) = idx {
                self.c.rec.operations[i].count += 1;
                if c.move_originator.is_some() {
                    self.c.rec.operations[i].move_sub_operations += 1;
                }
                if let Some(id) = c.message_id {
                    if self.c.outstanding.len() < MAX_OUTSTANDING {
                        self.c.outstanding.push((id, i));
                    }
                }
            }
            idx
        };
        self.c.data_op[d] = if c.has_data_set() { op } else { None };
    }

    /// The operation row for this command's operation and SOP class.
    fn operation(&mut self, field: u16, c: &dimse::Command<'_>) -> Option<usize> {
        let command = operation_name(field);
        let sop = c.sop_class().map(text).unwrap_or_default();
        let dest = c.move_destination.map(text);
        let ops = &mut self.c.rec.operations;
        if let Some(i) = ops.iter().position(|o| {
            o.command == command
                && o.sop_class_uid == sop
                && (dest.is_none() || o.move_destination == dest)
        }) {
            return Some(i);
        }
        if ops.len() >= MAX_OPERATIONS {
            return None;
        }
        ops.push(OperationRecord {
            command,
            sop_class_name: uids::name(&sop),
            sop_class_uid: sop,
            move_destination: dest,
            ..OperationRecord::default()
        });
        Some(ops.len() - 1)
    }
}

/// Presentation context result names (PS3.8 Table 9-18).
fn context_result(r: u8) -> &'static str {
    match r {
        0 => "acceptance",
        1 => "user-rejection",
        2 => "no-reason",
        3 => "abstract-syntax-not-supported",
        4 => "transfer-syntaxes-not-supported",
        _ => "unknown",
    }
}
