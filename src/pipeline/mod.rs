//! The hot path: one frame in, counters and flow/device state updated,
//! owned events out on the event channel. Synchronous, no I/O, no
//! allocation per packet.

mod outlet;

pub use outlet::{end_of, Outlet, TcpFlow, Up};

use crate::alert::FlowTuple;
use crate::app::{AppCounters, AppLayer, Segment};
use crate::archive::{ArchiveCounters, FlowFrame, Tap};
use crate::capture::Frame;
use crate::config::Config;
use crate::decode::{decode, DecodeErrorKind, LinkType, Network, Transport};
use crate::device::evidence::{self, Endpoints};
use crate::device::plan::IpPlan;
use crate::device::{Inventory, InventoryOptions};
use crate::event::AnomalyRecord;
use crate::event::Held;
use crate::event::{Backpressure, Event, EventSender};
use crate::flow::table::FlowPacket;
use crate::flow::{FlowCounters, FlowTable, Timeouts};
use crate::kinds::Anomaly;
use crate::net::Cidr;
use crate::policy::{Engine, EngineOptions, FlowCtx};
use crate::proto::dhcp;
use crate::stats::StatsRecord;
use crate::time::{Micros, SECOND};

/// How often (in the driving clock) idle flows are swept.
const SWEEP_EVERY: Micros = SECOND;

/// Settings the pipeline is built from (the config's `[flow]` and `[identity]`).
#[derive(Clone, Debug)]
pub struct PipelineOptions {
    /// Flow table bound.
    pub max_flows: usize,
    /// Flow idle timeouts.
    pub timeouts: Timeouts,
    /// Device table bound.
    pub max_devices: usize,
    /// Networks whose addresses are bound to MACs.
    pub local_networks: Vec<Cidr>,
    /// The asset list's registered addresses and the statically planned
    /// networks (`identity.assets`, `identity.static_networks`).
    pub plan: IpPlan,
    /// Device classes and fingerprint rules (the shipped ones and the
    /// hospital's).
    pub classifier: crate::device::classify::Classifier,
    /// The asset list's classes and attributes.
    pub asset_classes: crate::device::classify::AssetClasses,
    /// The policy engine's settings (the compiled policy among them).
    pub engine: EngineOptions,
    /// How often device last-seen times are written.
    pub device_flush_every: Micros,
    /// First flow id to hand out (one past the database's highest).
    pub first_flow_id: u64,
    /// Sensor-wide cap on out-of-order TCP bytes held for reassembly.
    pub reassembly_bytes: usize,
    /// How often flows open longer than this are written before they end
    /// (an interim record, replaced by the final one), so that a crash
    /// loses at most about two such periods of them. `None`: only when they
    /// end (reading files).
    pub interim_every: Option<Micros>,
}

impl PipelineOptions {
    /// The options `cfg` asks for. `first_flow_id` comes from the store
    /// (one past its highest); `interim_every` from the sensor's mode
    /// (live capture writes long flows before they end, files do not).
    pub fn from_config(
        cfg: &Config,
        first_flow_id: u64,
        interim_every: Option<Micros>,
    ) -> PipelineOptions {
        PipelineOptions {
            max_flows: cfg.flow.max_flows,
            timeouts: cfg.flow.timeouts.to_timeouts(),
            max_devices: cfg.identity.max_devices,
            local_networks: cfg.identity.networks(),
            // The asset list is read by the command that starts the
            // sensor (I/O, and its errors name the file): see
            // `sensor::load_plan`.
            plan: IpPlan::default(),
            classifier: Default::default(),
            asset_classes: Default::default(),
            // The policy is compiled by the command that starts the sensor
            // (it reads the rules directory and the asset list).
            engine: EngineOptions::default(),
            device_flush_every: secs(cfg.identity.flush_interval_secs),
            first_flow_id,
            reassembly_bytes: cfg.flow.reassembly_mib.saturating_mul(1 << 20),
            interim_every,
        }
    }
}

/// Rules loaded again while the sensor runs (SIGHUP).
pub struct Reload {
    /// The compiled policy.
    pub policy: std::sync::Arc<crate::policy::Policy>,
    /// The asset list's addresses and the static networks.
    pub plan: IpPlan,
    /// Classes and fingerprints.
    pub classifier: crate::device::classify::Classifier,
    /// The asset list's classes.
    pub asset_classes: crate::device::classify::AssetClasses,
    /// The asset list, for the database's snapshot.
    pub assets: Vec<crate::device::assets::Asset>,
}

/// A whole number of seconds from the config as [`Micros`] (saturating).
pub fn secs(n: u64) -> Micros {
    i64::try_from(n).unwrap_or(i64::MAX / SECOND) * SECOND
}

/// Cumulative counters of the hot path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Frames processed.
    pub packets: u64,
    /// Their bytes on the wire.
    pub bytes: u64,
    /// Undecodable frames by kind.
    pub decode_errors: [u64; DecodeErrorKind::COUNT],
    /// Frames that are neither IP nor ARP.
    pub not_ip: u64,
    /// IP fragments.
    pub ip_fragments: u64,
    /// Flow table counters.
    pub flows: FlowCounters,
    /// Frames from devices not tracked (device table full).
    pub devices_untracked: u64,
    /// Devices in the table.
    pub devices: u64,
    /// Records dropped on the way to the fan-out (channel full).
    pub records_dropped: u64,
    /// DHCP messages parsed.
    pub dhcp_messages: u64,
    /// Datagrams on the DHCP ports that did not parse (each an anomaly).
    pub dhcp_malformed: u64,
    /// Application layer (reassembly, parsers, anomalies).
    pub app: AppCounters,
    /// The policy engine (alerts raised, folded, suppressed).
    pub policy: crate::policy::engine::EngineCounters,
    /// The packet archive (zero when not archiving).
    pub archive: ArchiveCounters,
}

/// The capture → flow → device chain for one packet source.
pub struct Pipeline {
    flows: FlowTable,
    app: AppLayer,
    devices: Inventory,
    out: Outlet,
    counters: Counters,
    /// The running totals at the last statistics row.
    sampled: StatsRecord,
    next_sweep: Micros,
    next_device_flush: Micros,
    next_alert_flush: Micros,
    device_flush_every: Micros,
    interim_every: Option<Micros>,
    next_interim: Micros,
    /// A statistics row the channel had no room for, merged into the next.
    unsent_stats: Option<StatsRecord>,
    /// The packet archive's hot-path end, when archiving.
    archive: Option<Tap>,
}

impl Pipeline {
    /// Builds the chain; records go to `out`.
    pub fn new(opts: &PipelineOptions, out: EventSender) -> Pipeline {
        let device_flush_every = opts.device_flush_every.max(SECOND);
        Pipeline {
            flows: FlowTable::new(opts.max_flows, opts.timeouts, opts.first_flow_id),
            app: AppLayer::new(opts.max_flows, opts.reassembly_bytes),
            devices: Inventory::new(InventoryOptions {
                max_devices: opts.max_devices,
                max_flows: opts.max_flows,
                local_networks: opts.local_networks.clone(),
                plan: opts.plan.clone(),
                name_refresh: device_flush_every,
                classifier: opts.classifier.clone(),
                asset_classes: opts.asset_classes.clone(),
            }),
            out: Outlet {
                tx: out,
                engine: Engine::new(opts.engine.clone(), opts.max_flows),
            },
            counters: Counters::default(),
            sampled: StatsRecord::default(),
            next_sweep: Micros::MIN,
            next_device_flush: Micros::MIN,
            next_alert_flush: Micros::MIN,
            device_flush_every,
            interim_every: opts.interim_every.map(|e| e.max(SECOND)),
            next_interim: Micros::MIN,
            unsent_stats: None,
            archive: None,
        }
    }

    /// Archives every frame from now on through `tap`.
    pub fn set_archive(&mut self, tap: Tap) {
        self.archive = Some(tap);
    }

    /// Processes one frame. Packet time drives the timers.
    #[inline]
    pub fn process(&mut self, link: LinkType, frame: &Frame<'_>) {
        let flow = self.analyse(link, frame);
        if let Some(tap) = self.archive.as_mut() {
            tap.frame(link, frame, flow);
        }
        self.advance(frame.ts);
    }

    /// Everything but the archive and the timers for one frame; says which
    /// flow the frame went to, and where its TCP/UDP payload is.
    fn analyse(&mut self, link: LinkType, frame: &Frame<'_>) -> Option<FlowFrame> {
        let c = &mut self.counters;
        c.packets += 1;
        c.bytes += u64::from(frame.wire_len);
        let view = match decode(link, frame.data) {
            Ok(v) => v,
            Err(kind) => {
                c.decode_errors[kind as usize] += 1;
                return None;
            }
        };
        if let Some(kind) = view.error {
            c.decode_errors[kind as usize] += 1;
        }
        let out = &mut self.out;
        // Frames that reach a flow are shown to the device table by the
        // flow (below); the others here.
        let in_flow = match view.network {
            Network::Ip(ip) => match ip.transport {
                Transport::Opaque => view.error.is_none() && !ip.fragment,
                _ => true,
            },
            _ => false,
        };
        if !in_flow {
            self.devices
                .observe(frame.ts, &view, &mut |e| out.device(e));
        }
        match view.network {
            Network::Ip(ip) => {
                if ip.fragment {
                    c.ip_fragments += 1;
                }
                // Where the TCP/UDP payload starts in the frame (for the
                // archive's per-flow cap): the payload borrows the frame.
                let offset_of =
                    |p: &[u8]| (p.as_ptr() as usize).wrapping_sub(frame.data.as_ptr() as usize);
                let mut payload_at = (frame.data.len(), 0);
                let (ports, payload_len, tcp_flags, icmp) = match ip.transport {
                    Transport::Tcp(t) => {
                        payload_at = (offset_of(t.payload), t.payload.len());
                        ((t.src_port, t.dst_port), t.payload_len, Some(t.flags), None)
                    }
                    Transport::Udp {
                        src_port,
                        dst_port,
                        payload,
                    } => {
                        payload_at = (offset_of(payload), payload.len());
                        ((src_port, dst_port), payload.len() as u32, None, None)
                    }
                    Transport::Icmp { icmp_type, code } => {
                        let k = icmp_key_port(ip.proto == 58, icmp_type, code);
                        ((k, k), 0, None, Some((icmp_type, code)))
                    }
                    // A frame whose transport header failed to decode is
                    // counted as an error above and not given to a flow:
                    // its ports are unknown. Other protocols and non-first
                    // fragments key on addresses alone.
                    Transport::Opaque if view.error.is_some() => {
                        return None;
                    }
                    Transport::Opaque if ip.fragment => {
                        return None;
                    }
                    Transport::Opaque => ((0, 0), 0, None, None),
                };
                let fp = FlowPacket {
                    ts: frame.ts,
                    src: (ip.src, ports.0),
                    dst: (ip.dst, ports.1),
                    proto: ip.proto,
                    vlan: view.vlan,
                    src_mac: view.src_mac,
                    dst_mac: view.dst_mac,
                    wire_len: frame.wire_len,
                    payload_len,
                    tcp_flags,
                    icmp,
                };
                let (app, devices) = (&mut self.app, &mut self.devices);
                let flow = self
                    .flows
                    .update(&fp, &mut |slot, r| end_flow(app, devices, out, slot, r));
                self.devices
                    .observe_flow(&flow, frame.ts, &view, &mut |e| out.device(e));
                let (client, server) = if flow.to_server {
                    ((view.src_mac, ip.src), (view.dst_mac, ip.dst))
                } else {
                    ((view.dst_mac, ip.dst), (view.src_mac, ip.src))
                };
                let ends = Endpoints { client, server };
                if flow.new {
                    // ICMP flows key on a pseudo-port; policy sees none.
                    let server_port = match (icmp, flow.to_server) {
                        (Some(_), _) => 0,
                        (None, true) => ports.1,
                        (None, false) => ports.0,
                    };
                    let client_port = match (icmp, flow.to_server) {
                        (Some(_), _) => 0,
                        (None, true) => ports.0,
                        (None, false) => ports.1,
                    };
                    let cx = FlowCtx {
                        slot: flow.slot,
                        flow_id: flow.flow_id,
                        proto: ip.proto,
                        client: (client.1, client_port),
                        server: (server.1, server_port),
                        ends: [
                            end_of(&self.devices, client.0, client.1),
                            end_of(&self.devices, server.0, server.1),
                        ],
                        ts: frame.ts,
                    };
                    out.policy(|p, emit| p.flow_started(&cx, emit));
                }
                if let Transport::Udp {
                    src_port,
                    dst_port,
                    payload,
                } = ip.transport
                {
                    let devices = &mut self.devices;
                    // The datagram's own ends (a reply runs server → client),
                    // made only for a DHCP datagram.
                    let datagram = || FlowTuple {
                        flow_id: flow.flow_id,
                        proto: ip.proto,
                        src: (ip.src, src_port),
                        dest: (ip.dst, dst_port),
                        app_proto: None,
                    };
                    if dhcp_ports(src_port, dst_port) {
                        let m = (frame.ts, datagram(), payload, view.vlan);
                        dhcp_message(devices, out, c, m, (view.src_mac, ip.src));
                    } else if dhcp6_ports(src_port, dst_port) {
                        let client = (dst_port == dhcp::V6_SERVER_PORT).then_some(view.src_mac);
                        let m = (frame.ts, datagram(), payload, client.flatten());
                        dhcp6_message(devices, out, c, m);
                    }
                }
                if let Transport::Tcp(t) = ip.transport {
                    let tcp = TcpFlow {
                        slot: flow.slot,
                        flow_id: flow.flow_id,
                        ends,
                        ports: if flow.to_server {
                            (t.src_port, t.dst_port)
                        } else {
                            (t.dst_port, t.src_port)
                        },
                    };
                    let seg = Segment {
                        slot: flow.slot,
                        flow_id: flow.flow_id,
                        to_server: flow.to_server,
                        client_ip: client.1,
                        server_port: tcp.ports.1,
                        seq: t.seq,
                        flags: t.flags,
                        payload: t.payload,
                        ts: frame.ts,
                    };
                    let mut up = Up {
                        devices: &mut self.devices,
                        out,
                        flow: tcp,
                        ts: frame.ts,
                    };
                    if let Some(proto) = self.app.tcp(&seg, &mut up) {
                        self.flows.set_app_proto(flow.slot, proto);
                        let cx = tcp.ctx(&self.devices, frame.ts);
                        out.policy(|p, emit| p.app_recognised(&cx, proto, emit));
                    }
                }
                Some(FlowFrame {
                    slot: flow.slot,
                    new: flow.new,
                    flow_id: flow.flow_id,
                    payload_offset: payload_at.0,
                    payload_len: payload_at.1,
                })
            }
            Network::Arp(_) => None,
            Network::Other => {
                if view.error.is_none() {
                    c.not_ip += 1;
                }
                None
            }
        }
    }

    /// Runs the timers up to `now`: expires idle flows, writes device
    /// last-seen times. Called per packet with packet time, and by the live
    /// loop with wall time when the link is idle.
    pub fn advance(&mut self, now: Micros) {
        if now >= self.next_sweep {
            self.next_sweep = now.saturating_add(SWEEP_EVERY);
            // A quiet link's frames reach the archive files within about
            // two sweeps.
            if let Some(tap) = self.archive.as_mut() {
                tap.flush_if_older(now, SWEEP_EVERY);
            }
            let (out, app, devices) = (&mut self.out, &mut self.app, &mut self.devices);
            self.flows
                .expire(now, &mut |slot, r| end_flow(app, devices, out, slot, r));
        }
        if let Some(every) = self.interim_every {
            if now >= self.next_interim {
                // The first call only arms the timer.
                if self.next_interim != Micros::MIN {
                    let out = &mut self.out;
                    self.flows
                        .interim(now, every, &mut |r| out.send(Event::Flow(r)));
                }
                self.next_interim = now.saturating_add(every);
            }
        }
        if now >= self.next_device_flush {
            self.next_device_flush = now.saturating_add(self.device_flush_every);
            let out = &mut self.out;
            self.devices.flush(&mut |e| out.device(e));
        }
        if now >= self.next_alert_flush {
            // New alerts reach the sinks within FIRST_WRITE_AFTER and a
            // tick of this timer; growing ones within a second.
            self.next_alert_flush = now.saturating_add(crate::policy::raise::FIRST_WRITE_AFTER);
            self.out.policy(|p, emit| p.flush(now, emit));
        }
    }

    /// Ends every flow and writes every device (end of input or shutdown).
    /// From here on, events wait for room (up to a minute each)
    /// instead of being dropped: capture has stopped, nothing is gained by
    /// losing the open flows.
    pub fn finish(&mut self) {
        self.out
            .set_backpressure(Backpressure::Wait(std::time::Duration::from_secs(60)));
        let (out, app, devices) = (&mut self.out, &mut self.app, &mut self.devices);
        self.flows
            .drain(&mut |slot, r| end_flow(app, devices, out, slot, r));
        self.devices.flush(&mut |e| out.device(e));
        out.policy(|p, emit| p.finish(emit));
        if let Some(tap) = self.archive.as_mut() {
            tap.flush();
        }
    }

    /// Events handed to the channel so far.
    pub fn events_sent(&self) -> u64 {
        self.out.sent()
    }

    /// Cumulative counters.
    pub fn counters(&self) -> Counters {
        let inv = self.devices.counters();
        Counters {
            flows: self.flows.counters(),
            devices: inv.devices,
            // Devices and address claims not tracked (a table was full).
            devices_untracked: inv.untracked + inv.bindings_untracked,
            records_dropped: self.out.dropped(),
            app: self.app.counters(),
            policy: self.out.engine.counters(),
            archive: self
                .archive
                .as_ref()
                .map_or_else(ArchiveCounters::default, Tap::archive_counters),
            ..self.counters
        }
    }

    /// The counters' change since the previous call, as a stats record for
    /// `source` over `[start, end]`; capture-level fields (kernel drops,
    /// read errors) are left for the caller to fill in.
    pub fn take_stats(&mut self, source: &str, start: Micros, end: Micros) -> StatsRecord {
        let now = self.running_totals();
        let mut delta = now.since(&self.sampled);
        self.sampled = now;
        delta.source = source.to_string();
        delta.period_start = start;
        delta.period_end = end;
        delta
    }

    /// The hot path's cumulative counters as a statistics row (the
    /// statistics' delta, absorb, columns and status lines are all defined
    /// once, in [`crate::stats`]).
    fn running_totals(&self) -> StatsRecord {
        let c = self.counters();
        StatsRecord {
            packets: c.packets,
            bytes: c.bytes,
            decode_errors: c.decode_errors,
            not_ip: c.not_ip,
            ip_fragments: c.ip_fragments,
            flows_created: c.flows.created,
            flows_evicted: c.flows.evicted,
            flows_timed_out: c.flows.timed_out,
            devices_untracked: c.devices_untracked,
            records_dropped: c.records_dropped,
            reassembly: c.app.reassembly,
            anomalies: c.app.anomalies,
            app_abandoned: c.app.abandoned,
            dicom_associations: c.app.dicom_associations,
            hl7_messages: c.app.hl7_messages,
            mqtt_sessions: c.app.mqtt_sessions,
            alerts_raised: c.policy.raise.opened,
            alerts_folded: c.policy.raise.folded,
            alerts_suppressed: c.policy.raise.suppressed,
            alerts_closed_early: c.policy.raise.closed_early,
            policy_observations: c.policy.observations,
            archive_frames: c.archive.frames,
            archive_dropped: c.archive.dropped,
            archive_cut_bytes: c.archive.cut_bytes,
            archive_not_written: c.archive.not_written,
            archive_files_deleted: c.archive.files_deleted,
            ..StatsRecord::default()
        }
    }

    /// Puts reloaded rules in force (SIGHUP): the policy, the IP plan, the
    /// classes and the asset list; flows, devices and open alerts are kept.
    pub fn reload(&mut self, r: Reload, now: Micros) {
        let out = &mut self.out;
        self.devices
            .set_rules(r.plan, r.classifier, r.asset_classes, now, &mut |e| {
                out.device(e)
            });
        self.out.engine.set_policy(r.policy);
        self.out.send(Event::Assets(Box::new(r.assets)));
    }

    /// Whether a statistics row is waiting for room on the channel.
    pub fn has_unsent_stats(&self) -> bool {
        self.unsent_stats.is_some()
    }

    /// Hands a stats record to the fan-out. When the channel is full, the
    /// row is kept and merged into the next one instead of being dropped:
    /// the statistics are what tell the security office what was lost.
    pub fn send_stats(&mut self, stats: StatsRecord) {
        let row = match self.unsent_stats.take() {
            Some(mut earlier) => {
                earlier.absorb(stats);
                earlier
            }
            None => stats,
        };
        if let Err(row) = self.out.send_stats_or_keep(Box::new(row)) {
            self.unsent_stats = Some(*row);
        }
    }
}

/// The pseudo-port ICMP flows are keyed on: a request and its reply
/// (echo, timestamp, neighbour solicitation/advertisement, ...) share one
/// flow, pairs as in the Community ID spec; every other type/code (errors
/// such as port unreachable) gets a flow of its own instead of landing in
/// the echo flow between the same hosts.
fn icmp_key_port(v6: bool, icmp_type: u8, code: u8) -> u16 {
    const V4_PAIRS: [(u8, u8); 5] = [(8, 0), (13, 14), (15, 16), (10, 9), (17, 18)];
    const V6_PAIRS: [(u8, u8); 6] = [
        (128, 129),
        (130, 131),
        (133, 134),
        (135, 136),
        (139, 140),
        (144, 145),
    ];
    let pairs: &[(u8, u8)] = if v6 { &V6_PAIRS } else { &V4_PAIRS };
    match pairs
        .iter()
        .find(|(req, rep)| icmp_type == *req || icmp_type == *rep)
    {
        Some((req, _)) => u16::from(*req) << 8 | 0xff,
        None => u16::from(icmp_type) << 8 | u16::from(code),
    }
}

/// A flow ended: its application state first (association records), then
/// the policy's end-of-flow checks, then the flow record itself.
fn end_flow(
    app: &mut AppLayer,
    devices: &mut Inventory,
    out: &mut Outlet,
    slot: u32,
    r: crate::flow::FlowRecord,
) {
    let ends = Endpoints {
        client: (r.src_mac, r.src_ip),
        server: (r.dest_mac, r.dest_ip),
    };
    let flow = TcpFlow {
        slot,
        flow_id: r.flow_id,
        ends,
        ports: (r.src_port, r.dest_port),
    };
    app.end(slot, r.flow_id, r.end, &mut |e| {
        evidence::app_names(devices, r.start, &ends, &e, &mut |d| out.device(d));
        let tuple = FlowTuple {
            proto: r.proto,
            ..flow.tuple()
        };
        out.app((tuple, r.end), &|| flow.ctx(devices, r.end), e);
    });
    evidence::flow_facts(devices, &r, &mut |d| out.device(d));
    let mut cx = flow.ctx(devices, r.end);
    cx.proto = r.proto;
    out.policy(|p, emit| p.flow_ended(&cx, &r, emit));
    out.send(Event::Flow(r));
}

/// Counts a datagram on the DHCP ports and reports what was wrong with
/// it: each issue of a message as a `dhcp.bad_option` anomaly, or why it
/// was no message as `dhcp.malformed`. True when it was a message.
fn dhcp_checked(
    out: &mut Outlet,
    c: &mut Counters,
    (ts, flow): (Micros, FlowTuple),
    parsed: Result<dhcp::Issues, dhcp::Malformed>,
) -> bool {
    let anomaly = |anomaly, detail| {
        Event::Anomaly(AnomalyRecord {
            ts,
            flow,
            anomaly,
            detail: Some(detail),
        })
    };
    match parsed {
        Ok(issues) => {
            c.dhcp_messages += 1;
            for issue in issues.names() {
                out.send(anomaly(Anomaly::DhcpBadOption, issue));
            }
            true
        }
        Err(e) => {
            c.dhcp_malformed += 1;
            out.send(anomaly(Anomaly::DhcpMalformed, e.name()));
            false
        }
    }
}

/// A DHCP message `(ts, datagram, payload, VLAN)`: recorded, learnt from
/// by the inventory; a datagram that does not parse is an anomaly.
fn dhcp_message(
    devices: &mut Inventory,
    out: &mut Outlet,
    c: &mut Counters,
    (ts, datagram, payload, vlan): (Micros, FlowTuple, &[u8], Option<u16>),
    (sender, sender_ip): (Option<crate::net::Mac>, std::net::IpAddr),
) {
    let parsed = dhcp::parse_v4(payload);
    let verdict = parsed.as_ref().map(|m| m.issues).map_err(|e| *e);
    let (true, Ok(m)) = (dhcp_checked(out, c, (ts, datagram), verdict), parsed) else {
        return;
    };
    let rec = dhcp::MessageRecord::from_message(ts, &m);
    let ev = evidence::dhcp(&rec, vlan, sender);
    devices.observe_dhcp(ts, &ev, &mut |e| out.device(e));
    // DHCPOFFER (2) and DHCPACK (5) hand out addresses (RFC 2132 9.6).
    if let (Some(server), Some(2 | 5)) = (ev.server, ev.message_type) {
        out.policy(|p, emit| p.dhcp_server(ts, Some(server), sender_ip, emit));
    }
    let flow_id = datagram.flow_id;
    let origin = crate::event::Origin { flow: datagram, ts };
    out.send(Event::Dhcp(Held::new(Box::new((flow_id, rec))), origin));
}

/// A DHCPv6 message `(ts, datagram, payload, client MAC)`: as for DHCPv4;
/// the client's names (DUID, FQDN, vendor class) reach the inventory
/// under the MAC that sent a client message.
fn dhcp6_message(
    devices: &mut Inventory,
    out: &mut Outlet,
    c: &mut Counters,
    (ts, datagram, payload, client_mac): (Micros, FlowTuple, &[u8], Option<crate::net::Mac>),
) {
    let parsed = dhcp::parse_v6(payload);
    let verdict = parsed.as_ref().map(|m| m.issues).map_err(|e| *e);
    let (true, Ok(m)) = (dhcp_checked(out, c, (ts, datagram), verdict), parsed) else {
        return;
    };
    let record = dhcp::MessageRecordV6::from_message(ts, &m);
    // A relayed message comes from the relay agent's MAC.
    let client_mac = client_mac.filter(|_| record.relay_hops == 0);
    devices.observe_dhcp(ts, &evidence::dhcp6(&record, client_mac), &mut |e| {
        out.device(e)
    });
    let r = crate::event::Dhcp6Record { client_mac, record };
    let origin = crate::event::Origin { flow: datagram, ts };
    out.send(Event::Dhcp6(
        Held::new(Box::new((datagram.flow_id, r))),
        origin,
    ));
}

/// DHCPv6 runs between UDP ports 546 (client) and 547 (server, relay);
/// like tshark, either port is enough (a reply to an odd port is still read).
fn dhcp6_ports(src: u16, dst: u16) -> bool {
    matches!(src, 546 | 547) || matches!(dst, 546 | 547)
}

/// DHCPv4 runs between UDP ports 67 (server, relay) and 68 (client); as
/// for tshark, either port is enough.
fn dhcp_ports(src: u16, dst: u16) -> bool {
    matches!(src, 67 | 68) || matches!(dst, 67 | 68)
}
