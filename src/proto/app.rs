//! Per-flow application state for TCP flows: detection, then reassembly and
//! the protocol's parser (DICOM, HL7/MLLP, MQTT). State boxes are recycled
//! through a pool, so once warmed up new connections allocate nothing either.

use super::detect::{self, Verdict};
use super::dicom::{Association, AssociationRecord};
use super::hl7::{Conversation, MessageRecord};
use super::mqtt::{Session, SessionRecord};
use super::{Anomaly, AppProto};
use crate::flow::reassembly::{ReassemblyCounters, Stream, StreamSink};
use crate::kinds::AnomalySet;
use crate::time::{Micros, SECOND};
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

/// Window of the per-client rate checks.
pub const BURST_WINDOW: Micros = 60 * SECOND;
/// More associations than this from one client within [`BURST_WINDOW`] is a burst.
pub const ASSOCIATION_BURST: u32 = 30;
/// More C-FIND/C-MOVE/C-GET requests than this within [`BURST_WINDOW`] is a burst.
pub const QUERY_BURST: u32 = 100;
/// More MQTT authentication failures than this from one client within
/// [`BURST_WINDOW`] is a brute-force attempt.
pub const AUTH_FAILURE_BURST: u32 = 5;
/// AE titles remembered for the "never seen" check.
const MAX_KNOWN_AES: usize = 4096;
/// Clients whose rates are tracked (the oldest window is dropped when full).
const MAX_RATE_CLIENTS: usize = 4096;

/// Per-client counts in the current window.
#[derive(Clone, Copy, Debug)]
struct Rate {
    window_start: Micros,
    associations: u32,
    queries: u32,
    auth_failures: u32,
}

/// Counters for `medtap status`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
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

struct Probe {
    first_seq: u32,
    next_seq: u32,
    len: usize,
    buf: [u8; detect::MAX_PROBE_LEN],
}

/// A parsed TCP flow. It holds every protocol's parser so that one pool
/// serves all; only `proto`'s is used (the others stay empty).
struct TcpApp {
    proto: AppProto,
    streams: [Stream; 2],
    dicom: Association,
    hl7: Conversation,
    mqtt: Session,
    /// Anomaly kinds already reported for this flow.
    reported: AnomalySet,
    dead_counted: bool,
    /// The association's AE titles were added to the known set.
    aes_known: bool,
    /// Queries already counted against the client's rate.
    queries_counted: u64,
}

enum Slot {
    Fresh,
    Probing(Box<Probe>),
    /// Not an application medtap parses (or not TCP).
    Done,
    Parsing(Box<TcpApp>),
}

/// The application layer for all flows of one flow table, indexed by slot.
pub struct AppLayer {
    slots: Vec<Slot>,
    /// Boxed so that moving a state between the pool and a slot moves a pointer.
    #[allow(clippy::vec_box)]
    pool: Vec<Box<TcpApp>>,
    counters: AppCounters,
    known_aes: HashSet<String>,
    rates: HashMap<IpAddr, Rate, foldhash::fast::RandomState>,
    /// Out-of-order arenas the sensor may still allocate (each
    /// [`crate::flow::reassembly::MAX_OOO_BYTES`]; arenas are kept in pooled states).
    arenas_left: usize,
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

impl AppLayer {
    /// An application layer for a flow table of `max_flows` slots, with at
    /// most `reassembly_bytes` of out-of-order buffers in total.
    pub fn new(max_flows: usize, reassembly_bytes: usize) -> AppLayer {
        AppLayer {
            slots: Vec::with_capacity(max_flows),
            pool: Vec::new(),
            counters: AppCounters::default(),
            known_aes: HashSet::new(),
            rates: HashMap::default(),
            arenas_left: reassembly_bytes / crate::flow::reassembly::MAX_OOO_BYTES,
        }
    }

    /// Counters.
    pub fn counters(&self) -> AppCounters {
        self.counters
    }

    /// Accounts one TCP segment; returns the protocol when this segment
    /// identified it.
    pub fn tcp(&mut self, s: &Segment<'_>, out: &mut dyn FnMut(AppEvent)) -> Option<AppProto> {
        let i = s.slot as usize;
        if self.slots.len() <= i {
            self.slots.resize_with(i + 1, || Slot::Fresh);
        }
        let mut detected = None;
        let mut slot = std::mem::replace(&mut self.slots[i], Slot::Done);
        slot = match slot {
            Slot::Fresh if s.payload.is_empty() => Slot::Fresh,
            // Server speaks first: only MQTT on its port is read this way.
            Slot::Fresh if !s.to_server => match detect::probe_server(s.payload, s.server_port) {
                Verdict::NeedMore => Slot::Fresh,
                Verdict::NoMatch => Slot::Done,
                Verdict::Match(proto) => {
                    detected = Some(proto);
                    self.start(proto, s, out)
                }
            },
            // Most flows decide on their first client segment: no probe buffer.
            Slot::Fresh => match detect::probe_client(s.payload, s.server_port) {
                Verdict::NeedMore => {
                    let p = Probe {
                        first_seq: s.seq,
                        next_seq: s.seq,
                        len: 0,
                        buf: [0; detect::MAX_PROBE_LEN],
                    };
                    self.probe(Box::new(p), s, out, &mut detected)
                }
                Verdict::NoMatch => Slot::Done,
                Verdict::Match(proto) => {
                    detected = Some(proto);
                    self.start(proto, s, out)
                }
            },
            Slot::Probing(p) if s.to_server && !s.payload.is_empty() => {
                self.probe(p, s, out, &mut detected)
            }
            Slot::Parsing(mut app) => {
                self.feed(&mut app, s, out);
                Slot::Parsing(app)
            }
            other => other,
        };
        self.slots[i] = slot;
        detected
    }

    /// The flow in `slot` ended: finishes its parser, emits its record and
    /// recycles the state.
    pub fn end(&mut self, slot: u32, flow_id: u64, ts: Micros, out: &mut dyn FnMut(AppEvent)) {
        let Some(s) = self.slots.get_mut(slot as usize) else {
            return;
        };
        let Slot::Parsing(mut app) = std::mem::replace(s, Slot::Fresh) else {
            return;
        };
        for (d, to_server) in [(0, true), (1, false)] {
            let mut stream = std::mem::take(&mut app.streams[d]);
            let mut sink = Sink {
                app: &mut app,
                to_server,
                ts,
                flow_id,
                counters: &mut self.counters,
                out,
            };
            stream.finish(&mut sink, &mut ReassemblyCounters::default());
            app.streams[d] = stream;
        }
        match app.proto {
            AppProto::Dicom => {
                self.counters.dicom_associations += 1;
                out(AppEvent::Dicom(Box::new((
                    flow_id,
                    app.dicom.take_record(),
                ))));
            }
            AppProto::Hl7 => {
                let TcpApp { hl7, reported, .. } = &mut *app;
                let counters = &mut self.counters;
                hl7.finish(ts, &mut |a, detail| {
                    report(a, detail, reported, counters, out, ts, flow_id)
                });
                self.hl7_messages(&mut app, flow_id, out);
            }
            AppProto::Mqtt => {
                self.counters.mqtt_sessions += 1;
                out(AppEvent::Mqtt(Box::new((flow_id, app.mqtt.take_record()))));
            }
            AppProto::DicomTls | AppProto::MqttTls => {}
        }
        app.dicom.reset();
        app.hl7.reset();
        app.mqtt.reset();
        for st in &mut app.streams {
            st.reset();
        }
        app.reported.clear();
        app.dead_counted = false;
        app.aes_known = false;
        app.queries_counted = 0;
        self.pool.push(app);
    }

    fn probe(
        &mut self,
        mut p: Box<Probe>,
        s: &Segment<'_>,
        out: &mut dyn FnMut(AppEvent),
        detected: &mut Option<AppProto>,
    ) -> Slot {
        if s.seq != p.next_seq {
            // Retransmission or reordering before detection: keep the bytes we have.
            return Slot::Probing(p);
        }
        let n = s.payload.len().min(p.buf.len() - p.len);
        p.buf[p.len..p.len + n].copy_from_slice(&s.payload[..n]);
        p.len += n;
        p.next_seq = p.next_seq.wrapping_add(s.payload.len() as u32);
        match detect::probe_client(&p.buf[..p.len], s.server_port) {
            Verdict::NeedMore => Slot::Probing(p),
            Verdict::NoMatch => Slot::Done,
            Verdict::Match(proto) => {
                *detected = Some(proto);
                // Replay from the first client byte: what the probe held
                // before this segment, then this segment.
                let held = Segment {
                    seq: p.first_seq,
                    flags: crate::decode::tcp_flags::ACK,
                    payload: &p.buf[..p.len - n],
                    ..*s
                };
                let slot = self.start(proto, &held, out);
                if let Slot::Parsing(mut app) = slot {
                    self.feed(&mut app, s, out);
                    Slot::Parsing(app)
                } else {
                    slot
                }
            }
        }
    }

    /// Sets up the parser for a detected protocol and feeds it `s`.
    fn start(&mut self, proto: AppProto, s: &Segment<'_>, out: &mut dyn FnMut(AppEvent)) -> Slot {
        match proto {
            AppProto::Dicom | AppProto::Hl7 | AppProto::Mqtt => {
                let mut app = self.pool.pop().unwrap_or_else(|| {
                    Box::new(TcpApp {
                        proto,
                        streams: Default::default(),
                        dicom: Association::default(),
                        hl7: Conversation::default(),
                        mqtt: Session::default(),
                        reported: AnomalySet::new(),
                        dead_counted: false,
                        aes_known: false,
                        queries_counted: 0,
                    })
                });
                app.proto = proto;
                self.feed(&mut app, s, out);
                Slot::Parsing(app)
            }
            // Encrypted: the flow is labelled, its content is not read.
            AppProto::DicomTls | AppProto::MqttTls => Slot::Done,
        }
    }

    fn feed(&mut self, app: &mut TcpApp, s: &Segment<'_>, out: &mut dyn FnMut(AppEvent)) {
        let d = usize::from(!s.to_server);
        let mut stream = std::mem::take(&mut app.streams[d]);
        let mut rc = self.counters.reassembly;
        let mut sink = Sink {
            app,
            to_server: s.to_server,
            ts: s.ts,
            flow_id: s.flow_id,
            counters: &mut self.counters,
            out,
        };
        let had_arena = stream.has_arena();
        stream.allow_arena(self.arenas_left > 0);
        stream.segment(s.seq, s.flags, s.payload, &mut sink, &mut rc);
        if !had_arena && stream.has_arena() {
            self.arenas_left -= 1;
        }
        self.counters.reassembly = rc;
        app.streams[d] = stream;
        let dead = match app.proto {
            AppProto::Dicom => {
                self.dicom_checks(app, s, out);
                app.dicom.is_dead()
            }
            AppProto::Hl7 => {
                self.hl7_messages(app, s.flow_id, out);
                false
            }
            AppProto::Mqtt => {
                self.mqtt_checks(app, s, out);
                app.mqtt.is_dead()
            }
            AppProto::DicomTls | AppProto::MqttTls => false,
        };
        if dead && !app.dead_counted {
            app.dead_counted = true;
            self.counters.abandoned += 1;
        }
    }
}

impl AppLayer {
    /// Hands finished HL7 messages to the pipeline.
    fn hl7_messages(&mut self, app: &mut TcpApp, flow_id: u64, out: &mut dyn FnMut(AppEvent)) {
        for m in app.hl7.take_messages() {
            self.counters.hl7_messages += 1;
            out(AppEvent::Hl7(Box::new((flow_id, m))));
        }
    }

    /// Per-client authentication failures: many within a minute is brute force.
    fn mqtt_checks(&mut self, app: &mut TcpApp, s: &Segment<'_>, out: &mut dyn FnMut(AppEvent)) {
        if !app.mqtt.take_auth_failure() {
            return;
        }
        let rate = self.rate(s.client_ip, s.ts);
        rate.auth_failures += 1;
        if rate.auth_failures == AUTH_FAILURE_BURST + 1 {
            report(
                Anomaly::MqttAuthBruteForce,
                None,
                &mut app.reported,
                &mut self.counters,
                out,
                s.ts,
                s.flow_id,
            );
        }
    }

    /// The client's counts in the current window (a new window once the old
    /// one is over; the longest-idle client is forgotten when the table is full).
    fn rate(&mut self, client: IpAddr, ts: Micros) -> &mut Rate {
        if self.rates.len() >= MAX_RATE_CLIENTS && !self.rates.contains_key(&client) {
            if let Some(oldest) = self
                .rates
                .iter()
                .min_by_key(|(_, r)| r.window_start)
                .map(|(ip, _)| *ip)
            {
                self.rates.remove(&oldest);
            }
        }
        let fresh = Rate {
            window_start: ts,
            associations: 0,
            queries: 0,
            auth_failures: 0,
        };
        let rate = self.rates.entry(client).or_insert(fresh);
        if ts - rate.window_start >= BURST_WINDOW {
            *rate = fresh;
        }
        rate
    }

    /// Checks that need more than one association: AE titles never seen
    /// before as C-MOVE destinations, and per-client bursts.
    fn dicom_checks(&mut self, app: &mut TcpApp, s: &Segment<'_>, out: &mut dyn FnMut(AppEvent)) {
        let mut emit = |a: Anomaly, app: &mut TcpApp, counters: &mut AppCounters| {
            report(a, None, &mut app.reported, counters, out, s.ts, s.flow_id)
        };
        // Destinations are checked against AEs of *earlier* associations,
        // before this one's titles join the set.
        let dests: Vec<String> = app.dicom.take_move_destinations().collect();
        for dest in dests {
            if !self.known_aes.contains(&dest) {
                emit(Anomaly::DicomMoveToUnknownAe, app, &mut self.counters);
            }
        }
        let new_association = !app.aes_known && app.dicom.ae_titles().is_some();
        if new_association {
            app.aes_known = true;
            if let Some((calling, called)) = app.dicom.ae_titles() {
                for ae in [calling, called] {
                    if self.known_aes.len() < MAX_KNOWN_AES && !self.known_aes.contains(ae) {
                        self.known_aes.insert(ae.to_string());
                    }
                }
            }
        }
        let queries = app.dicom.queries() - app.queries_counted;
        if !new_association && queries == 0 {
            return;
        }
        app.queries_counted += queries;
        let rate = self.rate(s.client_ip, s.ts);
        let before = *rate;
        rate.associations += u32::from(new_association);
        rate.queries = rate.queries.saturating_add(queries as u32);
        let (assoc_burst, query_burst) = (
            before.associations <= ASSOCIATION_BURST && rate.associations > ASSOCIATION_BURST,
            before.queries <= QUERY_BURST && rate.queries > QUERY_BURST,
        );
        if assoc_burst {
            emit(Anomaly::DicomAssociationBurst, app, &mut self.counters);
        }
        if query_burst {
            emit(Anomaly::DicomQueryBurst, app, &mut self.counters);
        }
    }
}

/// Connects a stream to the protocol parser and the anomaly output.
struct Sink<'a, 'o> {
    app: &'a mut TcpApp,
    to_server: bool,
    ts: Micros,
    flow_id: u64,
    counters: &'a mut AppCounters,
    out: &'o mut dyn FnMut(AppEvent),
}

/// Counts an anomaly and reports it once per flow and kind.
fn report(
    a: Anomaly,
    detail: Option<&'static str>,
    reported: &mut AnomalySet,
    counters: &mut AppCounters,
    out: &mut dyn FnMut(AppEvent),
    ts: Micros,
    flow_id: u64,
) {
    counters.anomalies[a as usize] += 1;
    if reported.insert(a) {
        out(AppEvent::Anomaly {
            ts,
            flow_id,
            anomaly: a,
            detail,
        });
    }
}

impl Sink<'_, '_> {
    /// Runs the flow's parser on in-order bytes (`Some`) or a gap (`None`).
    fn parse(&mut self, bytes: Option<&[u8]>, gap: u32) {
        let Sink {
            app,
            to_server,
            ts,
            flow_id,
            counters,
            out,
        } = self;
        let TcpApp {
            proto,
            dicom,
            hl7,
            mqtt,
            reported,
            ..
        } = &mut **app;
        let (to_server, ts, flow_id) = (*to_server, *ts, *flow_id);
        let emit = &mut |a, detail| report(a, detail, reported, counters, *out, ts, flow_id);
        match (proto, bytes) {
            (AppProto::Dicom, Some(b)) => dicom.data(to_server, b, emit),
            (AppProto::Dicom, None) => dicom.gap(to_server, gap, emit),
            (AppProto::Hl7, Some(b)) => hl7.data(to_server, b, ts, emit),
            (AppProto::Hl7, None) => hl7.gap(to_server, ts, emit),
            (AppProto::Mqtt, Some(b)) => mqtt.data(to_server, b, emit),
            (AppProto::Mqtt, None) => mqtt.gap(to_server, gap, emit),
            (AppProto::DicomTls | AppProto::MqttTls, _) => {}
        }
    }
}

impl StreamSink for Sink<'_, '_> {
    fn data(&mut self, bytes: &[u8]) {
        self.parse(Some(bytes), 0);
    }

    fn gap(&mut self, len: u32) {
        self.parse(None, len);
    }
}
