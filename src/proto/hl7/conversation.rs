//! One MLLP connection: both directions' framers, the message under
//! construction in each, and acknowledgements matched to the messages they
//! answer (by MSA-2 = MSH-10) for the round-trip time. Only MSH and MSA
//! fields and segment ids are kept — never a PID, OBX or any other value.

use super::message::{self, Separators};
use super::mllp::{FrameEnd, Framer, Handler, Problem};
use crate::proto::{dir, Anomaly, Emit, Output, Record, Side, TwoWay};
use crate::time::Micros;
use serde::Serialize;
use std::collections::VecDeque;

/// Messages remembered per connection while they wait for their ACK; the
/// oldest is written without one when more arrive.
pub const MAX_PENDING: usize = 32;
/// Distinct segment ids counted per message (further ids go to `other`).
pub const MAX_SEGMENT_IDS: usize = 32;

/// How many segments of one id a message had.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SegmentCount {
    /// Segment id bytes (`PID`, `OBX`, ...).
    pub id: [u8; 3],
    /// Occurrences.
    pub count: u32,
}

impl SegmentCount {
    /// The id as text; bytes that are not letters or digits show as `?`.
    pub fn id(&self) -> String {
        self.id
            .iter()
            .map(|&b| {
                if b.is_ascii_alphanumeric() {
                    b as char
                } else {
                    '?'
                }
            })
            .collect()
    }
}

/// How a message's frame ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Framing {
    /// End block seen.
    #[default]
    Complete,
    /// A new start block came first.
    NoTrailer,
    /// Bytes were lost in the capture.
    Gap,
    /// Over [`super::mllp::MAX_MESSAGE`]: the rest was not read.
    Oversized,
    /// The connection ended inside the frame.
    Unfinished,
}

impl Framing {
    /// Stable name.
    pub fn name(self) -> &'static str {
        match self {
            Framing::Complete => "complete",
            Framing::NoTrailer => "no_trailer",
            Framing::Gap => "gap",
            Framing::Oversized => "oversized",
            Framing::Unfinished => "unfinished",
        }
    }
}

/// What medtap keeps about one HL7 message (metadata only).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MessageRecord {
    /// When its frame ended.
    pub ts: Micros,
    /// Sent by the connection's client.
    pub to_server: bool,
    /// MSH-3.
    pub sending_app: Option<String>,
    /// MSH-4.
    pub sending_facility: Option<String>,
    /// MSH-5.
    pub receiving_app: Option<String>,
    /// MSH-6.
    pub receiving_facility: Option<String>,
    /// MSH-7 as sent.
    pub message_time: Option<String>,
    /// MSH-9, components joined with `^` (`ADT^A01`, `ACK`).
    pub message_type: Option<String>,
    /// MSH-10.
    pub control_id: Option<String>,
    /// MSH-11.
    pub processing_id: Option<String>,
    /// MSH-12.
    pub version: Option<String>,
    /// MSH-21, the message profile (repetitions as sent, `~` between).
    pub profile: Option<String>,
    /// This message's own MSA-1, when it is an acknowledgement.
    pub msa_code: Option<String>,
    /// This message's own MSA-2 (the control id it answers).
    pub msa_control_id: Option<String>,
    /// MSA-1 of the acknowledgement that answered this message.
    pub ack_code: Option<String>,
    /// Time from this message's end to its acknowledgement's end.
    pub ack_latency_us: Option<i64>,
    /// Segment counts by id, in order of first appearance.
    pub segments: Vec<SegmentCount>,
    /// Segments not counted by id: more distinct ids than
    /// [`MAX_SEGMENT_IDS`], or lines without the shape of a segment id
    /// ([`message::segment_id`]).
    pub other_segments: u32,
    /// Bytes of the frame between the MLLP blocks (in a batch frame the
    /// last message carries the frame's total, the others 0).
    pub bytes: u64,
    /// How the frame ended.
    pub framing: Framing,
}

/// The message under construction in one direction.
#[derive(Debug, Default)]
struct Building {
    /// The next segment is the frame's first.
    frame_first: bool,
    /// An MSH started a message in this frame.
    rec: Option<MessageRecord>,
    seps: Separators,
    ids: [SegmentCount; MAX_SEGMENT_IDS],
    n_ids: usize,
    other: u32,
}

impl Building {
    /// Counts one segment: by id when it has the shape of one, else under
    /// `other` (free text split off by a raw line feed, garbage).
    fn count(&mut self, seg: &[u8]) {
        let Some(key) = message::segment_id(seg, self.seps) else {
            self.other += 1;
            return;
        };
        if let Some(c) = self.ids[..self.n_ids].iter_mut().find(|c| c.id == key) {
            c.count += 1;
        } else if self.n_ids < MAX_SEGMENT_IDS {
            self.ids[self.n_ids] = SegmentCount { id: key, count: 1 };
            self.n_ids += 1;
        } else {
            self.other += 1;
        }
    }
}

/// Live state of one MLLP connection.
#[derive(Debug, Default)]
pub struct Conversation {
    framers: [Framer; 2],
    building: [Building; 2],
    /// Messages waiting for their acknowledgement.
    pending: VecDeque<MessageRecord>,
    /// Finished messages, taken by [`Conversation::take_messages`].
    done: Vec<MessageRecord>,
    /// When the bytes being read were seen (stamps the messages they end).
    now: Micros,
}

impl Conversation {
    /// Clears everything for reuse (keeps buffer capacities).
    pub fn reset(&mut self) {
        for f in &mut self.framers {
            f.reset();
        }
        self.building = Default::default();
        self.pending.clear();
        self.done.clear();
        self.now = 0;
    }

    /// In-order bytes from the client (`to_server`) or the server, seen at `ts`.
    pub fn data(&mut self, to_server: bool, bytes: &[u8], ts: Micros, emit: Emit<'_>) {
        self.now = ts;
        self.drive(to_server, emit, |f, h| f.feed(bytes, h));
    }

    /// Bytes lost in one direction: the open frame is cut, and framing
    /// resumes at the next start block.
    pub fn gap(&mut self, to_server: bool, ts: Micros, emit: Emit<'_>) {
        self.now = ts;
        self.drive(to_server, emit, |f, h| f.gap(h));
    }

    /// The connection ended: open frames end unfinished and messages still
    /// waiting for an acknowledgement are finished without one.
    pub fn finish(&mut self, ts: Micros, emit: Emit<'_>) {
        self.now = ts;
        for to_server in [true, false] {
            self.drive(to_server, emit, |f, h| f.finish(h));
        }
        self.done.extend(self.pending.drain(..));
    }

    /// Finished messages since the last call.
    pub fn take_messages(&mut self) -> std::vec::Drain<'_, MessageRecord> {
        self.done.drain(..)
    }

    /// A message is complete: an acknowledgement is matched to the message
    /// it answers; any other message waits for its own.
    fn finished(&mut self, rec: MessageRecord, emit: Emit<'_>) {
        let Some(code) = rec.msa_code.as_deref() else {
            if self.pending.len() >= MAX_PENDING {
                self.done.extend(self.pending.pop_front());
            }
            self.pending.push_back(rec);
            return;
        };
        if let Some(n) = message::negative_ack(code.as_bytes()) {
            emit(Anomaly::Hl7NegativeAck, Some(n));
        }
        let answered = self.pending.iter().position(|m| {
            m.to_server != rec.to_server
                && m.control_id.is_some()
                && m.control_id == rec.msa_control_id
        });
        if let Some(mut m) = answered.and_then(|i| self.pending.remove(i)) {
            m.ack_code = rec.msa_code.clone();
            m.ack_latency_us = Some(rec.ts.saturating_sub(m.ts));
            self.done.push(m);
        }
        self.done.push(rec);
    }
}

// HL7 recovers at the next start block after any loss, so it is never dead.
impl crate::proto::Conversation for Conversation {
    fn feed(&mut self, to_server: bool, bytes: &[u8], ts: Micros, emit: Emit<'_>) {
        self.data(to_server, bytes, ts, emit);
    }

    fn lost(&mut self, to_server: bool, _len: u32, ts: Micros, emit: Emit<'_>) {
        self.gap(to_server, ts, emit);
    }

    fn take_output(&mut self, out: &mut dyn FnMut(Output<'_>)) {
        for m in self.take_messages() {
            out(Output::Record(Record::Hl7(m)));
        }
    }

    fn end(&mut self, ts: Micros, emit: Emit<'_>) {
        self.finish(ts, emit);
    }

    fn take_records(&mut self, out: &mut dyn FnMut(Record)) {
        for m in self.take_messages() {
            out(Record::Hl7(m));
        }
    }

    fn reset(&mut self) {
        Conversation::reset(self);
    }
}

impl TwoWay for Conversation {
    type Parser = Framer;

    fn parsers(&mut self) -> &mut [Framer; 2] {
        &mut self.framers
    }
}

/// The conversation seen from one direction, as the framer's handler.
type Dir<'a, 'e> = Side<'a, 'e, Conversation>;

impl Dir<'_, '_> {
    fn b(&mut self) -> &mut Building {
        &mut self.c.building[dir(self.to_server)]
    }

    /// Ends the message under construction, if an MSH started one.
    fn end_message(&mut self, framing: Framing, bytes: u64) {
        let ts = self.c.now;
        let b = self.b();
        let Some(mut rec) = b.rec.take() else { return };
        rec.ts = ts;
        rec.bytes = bytes;
        rec.framing = framing;
        rec.segments = b.ids[..b.n_ids].to_vec();
        rec.other_segments = b.other;
        b.n_ids = 0;
        b.other = 0;
        self.c.finished(rec, &mut *self.emit);
    }

    fn start_message(&mut self, seg: &[u8]) -> bool {
        let Some((seps, m)) = message::msh(seg) else {
            return false;
        };
        let t = |v| message::text(v, seps);
        let rec = MessageRecord {
            to_server: self.to_server,
            sending_app: t(m.sending_app),
            sending_facility: t(m.sending_facility),
            receiving_app: t(m.receiving_app),
            receiving_facility: t(m.receiving_facility),
            message_time: t(m.time),
            message_type: t(m.message_type),
            control_id: t(m.control_id),
            processing_id: t(m.processing_id),
            version: t(m.version),
            profile: t(m.profile),
            ..MessageRecord::default()
        };
        let b = self.b();
        b.seps = seps;
        b.rec = Some(rec);
        b.count(b"MSH");
        true
    }
}

impl Handler for Dir<'_, '_> {
    fn frame_start(&mut self) {
        let b = self.b();
        b.frame_first = true;
        b.rec = None;
        b.n_ids = 0;
        b.other = 0;
    }

    fn segment(&mut self, seg: &[u8]) {
        let id = seg.get(..3).unwrap_or(seg);
        let first = std::mem::take(&mut self.b().frame_first);
        if id == b"MSH" {
            // In a batch, each MSH starts the next message of the frame.
            self.end_message(Framing::Complete, 0);
            if !self.start_message(seg) {
                (self.emit)(Anomaly::Hl7MalformedMsh, None);
            }
            return;
        }
        if first && message::header_separators(seg).is_none() {
            // Neither a message header nor a batch header (FHS/BHS).
            (self.emit)(Anomaly::Hl7MalformedMsh, None);
        }
        let b = self.b();
        let Some(rec) = b.rec.as_mut() else { return };
        // An acknowledgement's MSA follows MSH (and the optional SFT/UAC):
        // an "MSA" anywhere else is not read.
        let header_only = b.other == 0
            && b.ids[..b.n_ids]
                .iter()
                .all(|c| matches!(&c.id, b"MSH" | b"SFT" | b"UAC"));
        if id == b"MSA" && header_only && rec.msa_code.is_none() {
            let seps = b.seps;
            rec.msa_code = message::field(seg, seps, 1).and_then(|v| message::text(v, seps));
            rec.msa_control_id = message::field(seg, seps, 2).and_then(|v| message::text(v, seps));
        }
        b.count(seg);
    }

    fn frame_end(&mut self, how: FrameEnd, bytes: u64, oversized: bool) {
        let framing = match how {
            FrameEnd::Complete => Framing::Complete,
            FrameEnd::NoTrailer => {
                (self.emit)(Anomaly::Hl7FrameWithoutTrailer, None);
                Framing::NoTrailer
            }
            FrameEnd::Gap => Framing::Gap,
            FrameEnd::Unfinished => Framing::Unfinished,
        };
        let framing = if oversized {
            Framing::Oversized
        } else {
            framing
        };
        self.end_message(framing, bytes);
    }

    fn problem(&mut self, p: Problem) {
        match p {
            Problem::BytesOutsideFrame => (self.emit)(Anomaly::Hl7BytesOutsideFrame, None),
            Problem::Oversized => (self.emit)(Anomaly::Hl7OversizedMessage, None),
        }
    }
}
