//! Where the hot path's results go: the event channel, with the policy
//! engine beside it. Every device event passes the engine (new devices,
//! address conflicts) on its way out; the engine's alerts go out on the
//! same channel. Also the glue the engine needs per flow: the flow's ends
//! as the policy sees them, and the application layer's [`Upward`].

use crate::alert::{AlertOut, FlowTuple};
use crate::app::{AppEvent, Upward};
use crate::device::classify::UNKNOWN;
use crate::device::evidence::{self, Endpoints};
use crate::device::inventory::DeviceEvent;
use crate::device::Inventory;
use crate::event::{Event, EventSender, Held, Origin};
use crate::kinds::{Anomaly, AppProto};
use crate::net::Mac;
use crate::policy::evaluate::End;
use crate::policy::{Engine, FlowCtx};
use crate::proto::Fact;
use crate::time::Micros;
use std::net::IpAddr;

/// The event channel and the policy engine.
pub struct Outlet {
    /// The channel to the sinks.
    pub tx: EventSender,
    /// The policy engine.
    pub engine: Engine,
}

impl std::ops::Deref for Outlet {
    type Target = EventSender;
    fn deref(&self) -> &EventSender {
        &self.tx
    }
}

impl std::ops::DerefMut for Outlet {
    fn deref_mut(&mut self) -> &mut EventSender {
        &mut self.tx
    }
}

impl Outlet {
    /// A device event: seen by the engine, then handed on.
    pub fn device(&mut self, e: DeviceEvent) {
        let Outlet { tx, engine } = self;
        engine.device_event(&e, &mut |a| tx.send(alert_event(a)));
        tx.send(match e {
            DeviceEvent::Seen(d) => Event::Device(d),
            DeviceEvent::Ip(i) => Event::DeviceIp(i),
            DeviceEvent::Name(n) => Event::DeviceName(n),
            DeviceEvent::Change(c) => Event::DeviceChange(c),
            DeviceEvent::Class(c) => Event::DeviceClass(c),
        });
    }

    /// Runs `f` on the engine with the channel as its alerts' way out.
    pub fn policy<R>(&mut self, f: impl FnOnce(&mut Engine, &mut dyn FnMut(AlertOut)) -> R) -> R {
        let Outlet { tx, engine } = self;
        f(engine, &mut |a| tx.send(alert_event(a)))
    }

    /// An application event of `flow` at `now`: to the engine (HL7 headers,
    /// anomalies), then handed on. `cx` makes the flow's context for the
    /// engine, only for the events it reads (it costs device lookups).
    pub fn app<'d>(
        &mut self,
        (flow, now): (FlowTuple, Micros),
        cx: &dyn Fn() -> FlowCtx<'d>,
        e: AppEvent,
    ) {
        match &e {
            AppEvent::Anomaly {
                anomaly, detail, ..
            } => {
                let (a, d, cx) = (*anomaly, *detail, cx());
                self.policy(|p, emit| p.anomaly(&cx, a, d, emit));
            }
            AppEvent::Hl7(m) => {
                let cx = cx();
                self.policy(|p, emit| p.hl7_message(&cx, &m.1, emit));
            }
            AppEvent::Dicom(_) | AppEvent::Mqtt(_) => {}
        }
        self.tx.send(match e {
            AppEvent::Anomaly {
                ts,
                anomaly,
                detail,
                ..
            } => Event::Anomaly(crate::event::AnomalyRecord {
                ts,
                flow,
                anomaly,
                detail,
            }),
            AppEvent::Dicom(d) => Event::Dicom(Held::new(d), origin(flow, AppProto::Dicom, now)),
            AppEvent::Hl7(m) => Event::Hl7(Held::new(m), origin(flow, AppProto::Hl7, now)),
            AppEvent::Mqtt(m) => Event::Mqtt(Held::new(m), origin(flow, AppProto::Mqtt, now)),
        });
    }
}

/// A record of `flow` made at `ts`, labelled with the protocol it was
/// parsed as.
fn origin(flow: FlowTuple, app: AppProto, ts: Micros) -> Origin {
    Origin {
        flow: FlowTuple {
            app_proto: Some(app),
            ..flow
        },
        ts,
    }
}

fn alert_event(a: AlertOut) -> Event {
    match a {
        AlertOut::Record(r) => Event::Alert(r),
        AlertOut::Seen(s) => Event::AlertSeen(s),
    }
}

/// The end of a flow at `ip`, seen with `mac`, as the policy sees it: a
/// device on a local network with its class and grade, or a bare address.
pub fn end_of(devices: &Inventory, mac: Option<Mac>, ip: IpAddr) -> End<'_> {
    let Some((key, c)) = devices.device_and_class_at(mac, ip) else {
        return End {
            ip: Some(ip),
            ..End::default()
        };
    };
    End {
        mac: key.mac(),
        ip: Some(ip),
        class: c.map(|c| c.class.as_str()).filter(|&c| c != UNKNOWN),
        grade: c.and_then(|c| c.grade).map(|g| g.get()),
        medical: c.is_some_and(|c| c.medical),
    }
}

/// A TCP flow as the engine's calls need it.
#[derive(Clone, Copy, Debug)]
pub struct TcpFlow {
    /// Flow-table slot.
    pub slot: u32,
    /// Flow id.
    pub flow_id: u64,
    /// Client (MAC, IP) and server.
    pub ends: Endpoints,
    /// Client and server ports.
    pub ports: (u16, u16),
}

impl TcpFlow {
    /// Its id and ends as the outputs show them.
    pub fn tuple(&self) -> FlowTuple {
        FlowTuple {
            flow_id: self.flow_id,
            proto: 6,
            src: (self.ends.client.1, self.ports.0),
            dest: (self.ends.server.1, self.ports.1),
            app_proto: None,
        }
    }

    /// The engine's view at `ts`, with ends looked up in `devices`.
    pub fn ctx<'a>(&self, devices: &'a Inventory, ts: Micros) -> FlowCtx<'a> {
        let (c, s) = (self.ends.client, self.ends.server);
        FlowCtx {
            slot: self.slot,
            flow_id: self.flow_id,
            proto: 6,
            client: (c.1, self.ports.0),
            server: (s.1, self.ports.1),
            ends: [end_of(devices, c.0, c.1), end_of(devices, s.0, s.1)],
            ts,
        }
    }
}

/// The application layer's way up for one TCP segment: records and
/// anomalies to the inventory's evidence, the engine and the channel;
/// facts to the engine.
pub struct Up<'a> {
    /// The inventory (evidence from records).
    pub devices: &'a mut Inventory,
    /// The channel and the engine.
    pub out: &'a mut Outlet,
    /// The flow.
    pub flow: TcpFlow,
    /// When (for evidence: the segment's time).
    pub ts: Micros,
}

impl Upward for Up<'_> {
    fn event(&mut self, e: AppEvent) {
        let out = &mut *self.out;
        evidence::app_names(self.devices, self.ts, &self.flow.ends, &e, &mut |d| {
            out.device(d)
        });
        let flow = self.flow.tuple();
        self.out
            .app((flow, self.ts), &|| self.flow.ctx(self.devices, self.ts), e);
    }

    fn fact(&mut self, fact: Fact<'_>, ts: Micros) -> Option<Anomaly> {
        let cx = self.flow.ctx(self.devices, ts);
        self.out.policy(|p, emit| p.fact(&cx, fact, emit))
    }
}
