//! The application layer for TCP flows: detection (through the probe
//! buffer when the first segment is too short), then reassembly within the
//! sensor's budget and the protocol's conversation, driven through the
//! [`Conversation`](crate::proto::Conversation) trait. Parsers live in
//! `proto`; records, anomalies and protocol facts go up through an
//! [`Upward`], which the pipeline implements with the device and policy
//! layers (so `app` imports neither).
//!
//! - `slots`: per-flow state and the pools (one per protocol) that recycle it;
//! - `probe`: client bytes held until detection decides;
//! - `parsers`: which conversation serves which protocol (the registration);
//! - `budget`: the reassembly budget;
//! - `report`: anomalies and records out, and the stream → parser glue.

mod budget;
mod parsers;
mod probe;
mod report;
mod slots;

use crate::decode::tcp_flags::ACK;
use crate::flow::reassembly::ReassemblyCounters;
use crate::kinds::{Anomaly, AppProto};
use crate::proto::detect::{self, Verdict};
use crate::proto::dicom::AssociationRecord;
use crate::proto::hl7::MessageRecord;
use crate::proto::mqtt::SessionRecord;
use crate::proto::{dir, Fact, Output};
use crate::time::Micros;
use budget::ArenaBudget;
use probe::Probe;
use report::{Report, Sink};
use slots::{Slot, Slots, TcpApp};
use std::net::IpAddr;

/// Where a flow's output goes: its records and anomalies as events, and
/// its protocol [`Fact`]s (an association's AE titles, a DIMSE request, an
/// MQTT CONNECT, PUBLISH or SUBSCRIBE, ...) to the checks above the
/// application layer. Called per protocol event, never per packet.
pub trait Upward {
    /// A record or an anomaly of the flow.
    fn event(&mut self, e: AppEvent);
    /// A fact of the flow at `ts`: the anomaly to raise on that flow, if any.
    fn fact(&mut self, fact: Fact<'_>, ts: Micros) -> Option<Anomaly>;
}

/// An [`Upward`] that takes events only (facts are dropped): where no
/// check listens, e.g. at a flow's end.
pub struct EventsOnly<F: FnMut(AppEvent)>(pub F);

impl<F: FnMut(AppEvent)> Upward for EventsOnly<F> {
    fn event(&mut self, e: AppEvent) {
        (self.0)(e);
    }

    fn fact(&mut self, _fact: Fact<'_>, _ts: Micros) -> Option<Anomaly> {
        None
    }
}

/// Counters for `medtap status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppCounters {
    /// Reassembly.
    pub reassembly: ReassemblyCounters,
    /// Anomalies by kind (every occurrence).
    pub anomalies: [u64; Anomaly::COUNT],
    /// DICOM associations ended.
    pub dicom_associations: u64,
    /// HL7 messages seen.
    pub hl7_messages: u64,
    /// MQTT sessions ended.
    pub mqtt_sessions: u64,
    /// Flows whose parsing stopped early (lost framing).
    pub abandoned: u64,
}

// By hand: `[u64; N]` is `Default` only up to N = 32, and there are more
// anomaly kinds than that.
impl Default for AppCounters {
    fn default() -> AppCounters {
        AppCounters {
            reassembly: ReassemblyCounters::default(),
            anomalies: [0; Anomaly::COUNT],
            dicom_associations: 0,
            hl7_messages: 0,
            mqtt_sessions: 0,
            abandoned: 0,
        }
    }
}

/// What the application layer hands to the pipeline.
#[derive(Clone, Debug, PartialEq)]
pub enum AppEvent {
    /// An anomaly, reported once per flow and kind (all are counted).
    Anomaly {
        /// When.
        ts: Micros,
        /// Which flow.
        flow_id: u64,
        /// What.
        anomaly: Anomaly,
        /// A short static detail (reason name, ACK code).
        detail: Option<&'static str>,
    },
    /// A DICOM association ended with its flow.
    Dicom(Box<(u64, AssociationRecord)>),
    /// An HL7 message (with its acknowledgement, when one came), by flow id.
    Hl7(Box<(u64, MessageRecord)>),
    /// An MQTT session ended with its flow.
    Mqtt(Box<(u64, SessionRecord)>),
}

/// One TCP segment as the application layer needs it.
#[derive(Clone, Copy, Debug)]
pub struct Segment<'a> {
    /// Flow table slot.
    pub slot: u32,
    /// Flow id.
    pub flow_id: u64,
    /// Client → server.
    pub to_server: bool,
    /// Server port (a hint for detection).
    pub server_port: u16,
    /// Client (initiator) address, for per-client rate checks.
    pub client_ip: IpAddr,
    /// Sequence number.
    pub seq: u32,
    /// TCP flags.
    pub flags: u8,
    /// Payload present in the capture.
    pub payload: &'a [u8],
    /// Capture time.
    pub ts: Micros,
}

/// The application layer for all flows of one flow table, indexed by slot.
pub struct AppLayer {
    slots: Slots,
    counters: AppCounters,
    budget: ArenaBudget,
}

impl AppLayer {
    /// An application layer for a flow table of `max_flows` slots, with at
    /// most `reassembly_bytes` of out-of-order buffers in total.
    pub fn new(max_flows: usize, reassembly_bytes: usize) -> AppLayer {
        AppLayer {
            slots: Slots::new(max_flows),
            counters: AppCounters::default(),
            budget: ArenaBudget::new(reassembly_bytes),
        }
    }

    /// Counters.
    pub fn counters(&self) -> AppCounters {
        self.counters
    }

    /// Accounts one TCP segment; returns the protocol when this segment
    /// identified it.
    pub fn tcp(&mut self, s: &Segment<'_>, out: &mut dyn Upward) -> Option<AppProto> {
        let i = s.slot as usize;
        let mut detected = None;
        let slot = match self.slots.take(i) {
            Slot::Fresh if s.payload.is_empty() => Slot::Fresh,
            // The server spoke first (SSH, VNC, Telnet banners; a CONNACK).
            Slot::Fresh if !s.to_server => match detect::probe_server(s.payload, s.server_port) {
                Verdict::NeedMore => self.probe(Probe::new(s.seq, false), s, out, &mut detected),
                Verdict::NoMatch => Slot::AwaitClient,
                v => self.verdict(v, s, out, &mut detected),
            },
            // The client's first bytes: most flows decide on them at once.
            Slot::Fresh | Slot::AwaitClient if s.to_server && !s.payload.is_empty() => {
                self.client_first(s, out, &mut detected)
            }
            Slot::Probing(p) if !s.payload.is_empty() && s.to_server == p.to_server => {
                self.probe(p, s, out, &mut detected)
            }
            // The server's first bytes were undecided when the client spoke:
            // the client's bytes decide from here.
            Slot::Probing(p) if s.to_server && !s.payload.is_empty() => {
                drop(p);
                self.client_first(s, out, &mut detected)
            }
            Slot::Parsing(mut app) => {
                self.feed(&mut app, s, out);
                Slot::Parsing(app)
            }
            other => other,
        };
        self.slots.put(i, slot);
        detected
    }

    /// The flow in `slot` ended: finishes its parser, emits its record and
    /// recycles the state.
    pub fn end(&mut self, slot: u32, flow_id: u64, ts: Micros, out: &mut dyn FnMut(AppEvent)) {
        let Some(mut app) = self.slots.end(slot as usize) else {
            return;
        };
        let out = &mut EventsOnly(out);
        let TcpApp {
            proto,
            streams,
            parsers,
            reported,
            ..
        } = &mut *app;
        if let Some(conv) = parsers.get(*proto) {
            let mut report = Report {
                reported,
                counters: &mut self.counters,
                out,
                ts,
                flow_id,
            };
            for (stream, to_server) in streams.iter_mut().zip([true, false]) {
                let mut sink = Sink {
                    conv: &mut *conv,
                    to_server,
                    report: &mut report,
                };
                stream.finish(&mut sink, &mut ReassemblyCounters::default());
            }
            // No take_output here, as before the trait: facts in bytes the
            // streams flush at the end reach no cross-flow check.
            conv.end(ts, &mut |a, d| report.anomaly(a, d));
            conv.take_records(&mut |r| report.record(r));
        }
        self.slots.recycle(app);
    }

    /// Acts on a verdict on a fresh flow's first bytes: starts the parser
    /// on a match (the flow stays fresh while more bytes are needed).
    fn verdict(
        &mut self,
        v: Verdict,
        s: &Segment<'_>,
        out: &mut dyn Upward,
        detected: &mut Option<AppProto>,
    ) -> Slot {
        match v {
            Verdict::NeedMore => Slot::Fresh,
            Verdict::NoMatch => Slot::Done,
            Verdict::Match(proto) => {
                *detected = Some(proto);
                self.start(proto, s, out)
            }
        }
    }

    /// Probes the client's first segment; holds it in a probe buffer when
    /// it is too short to tell.
    fn client_first(
        &mut self,
        s: &Segment<'_>,
        out: &mut dyn Upward,
        detected: &mut Option<AppProto>,
    ) -> Slot {
        match detect::probe_client(s.payload, s.server_port) {
            Verdict::NeedMore => self.probe(Probe::new(s.seq, true), s, out, detected),
            v => self.verdict(v, s, out, detected),
        }
    }

    /// Adds a segment (from the probe's side) to the probe buffer and
    /// probes again.
    fn probe(
        &mut self,
        mut p: Box<Probe>,
        s: &Segment<'_>,
        out: &mut dyn Upward,
        detected: &mut Option<AppProto>,
    ) -> Slot {
        let Some(n) = p.push(s.seq, s.payload) else {
            return Slot::Probing(p);
        };
        let verdict = if p.to_server {
            detect::probe_client(p.held(), s.server_port)
        } else {
            detect::probe_server(p.held(), s.server_port)
        };
        match verdict {
            Verdict::NeedMore => Slot::Probing(p),
            Verdict::NoMatch if p.to_server => Slot::Done,
            // The server's bytes told nothing: the client's may.
            Verdict::NoMatch => Slot::AwaitClient,
            Verdict::Match(proto) => {
                *detected = Some(proto);
                // Replay from the first held byte: what the probe held
                // before this segment, then this segment.
                let before = p.held().len() - n;
                let held = Segment {
                    seq: p.first_seq,
                    flags: ACK,
                    payload: &p.held()[..before],
                    ..*s
                };
                match self.start(proto, &held, out) {
                    Slot::Parsing(mut app) => {
                        self.feed(&mut app, s, out);
                        Slot::Parsing(app)
                    }
                    slot => slot,
                }
            }
        }
    }

    /// Sets up the parser for a detected protocol and feeds it `s`.
    fn start(&mut self, proto: AppProto, s: &Segment<'_>, out: &mut dyn Upward) -> Slot {
        // Encrypted: the flow is labelled, its content is not read.
        let Some(mut app) = self.slots.state(proto) else {
            return Slot::Done;
        };
        self.feed(&mut app, s, out);
        Slot::Parsing(app)
    }

    /// Reassembles a segment into the flow's conversation, then hands the
    /// conversation's facts to the cross-flow checks and its records on.
    fn feed(&mut self, app: &mut TcpApp, s: &Segment<'_>, out: &mut dyn Upward) {
        let TcpApp {
            proto,
            streams,
            parsers,
            reported,
            dead_counted,
        } = app;
        let Some(conv) = parsers.get(*proto) else {
            return;
        };
        let mut report = Report {
            reported,
            counters: &mut self.counters,
            out,
            ts: s.ts,
            flow_id: s.flow_id,
        };
        // The sink holds the counters (for anomalies): the stream counts
        // into a copy, written back after.
        let mut rc = report.counters.reassembly;
        let mut sink = Sink {
            conv: &mut *conv,
            to_server: s.to_server,
            report: &mut report,
        };
        let stream = &mut streams[dir(s.to_server)];
        let segment = (s.seq, s.flags, s.payload);
        self.budget.segment(stream, segment, &mut sink, &mut rc);
        report.counters.reassembly = rc;
        conv.take_output(&mut |o| match o {
            Output::Fact(f) => {
                if let Some(a) = report.out.fact(f, s.ts) {
                    report.anomaly(a, None);
                }
            }
            Output::Record(r) => report.record(r),
        });
        if conv.is_dead() && !*dead_counted {
            *dead_counted = true;
            self.counters.abandoned += 1;
        }
    }
}

#[cfg(test)]
mod tests;
