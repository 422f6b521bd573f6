//! Where one flow's parser output goes: anomalies (counted every time,
//! reported once per flow and kind) and records (counted, then handed on
//! as events); and the glue from a reassembled stream to the parser.

use super::{AppCounters, AppEvent, Upward};
use crate::flow::reassembly::StreamSink;
use crate::kinds::{Anomaly, AnomalySet};
use crate::proto::{Conversation, Record};
use crate::time::Micros;

/// One flow's output at one moment.
pub(super) struct Report<'a, 'o> {
    /// Kinds already reported for the flow.
    pub reported: &'a mut AnomalySet,
    /// The layer's counters.
    pub counters: &'a mut AppCounters,
    /// Where events and facts go.
    pub out: &'o mut dyn Upward,
    /// When.
    pub ts: Micros,
    /// Which flow.
    pub flow_id: u64,
}

impl Report<'_, '_> {
    /// Counts an anomaly and reports it once per flow and kind.
    pub fn anomaly(&mut self, anomaly: Anomaly, detail: Option<&'static str>) {
        self.counters.anomalies[anomaly as usize] += 1;
        if self.reported.insert(anomaly) {
            self.out.event(AppEvent::Anomaly {
                ts: self.ts,
                flow_id: self.flow_id,
                anomaly,
                detail,
            });
        }
    }

    /// Counts a record and hands it on.
    pub fn record(&mut self, r: Record) {
        let c = &mut *self.counters;
        let e = match r {
            Record::Dicom(a) => {
                c.dicom_associations += 1;
                AppEvent::Dicom(Box::new((self.flow_id, a)))
            }
            Record::Hl7(m) => {
                c.hl7_messages += 1;
                AppEvent::Hl7(Box::new((self.flow_id, m)))
            }
            Record::Mqtt(s) => {
                c.mqtt_sessions += 1;
                AppEvent::Mqtt(Box::new((self.flow_id, s)))
            }
        };
        self.out.event(e);
    }
}

/// Connects one direction's reassembled stream to the flow's conversation.
pub(super) struct Sink<'r, 'a, 'o> {
    /// The flow's parser.
    pub conv: &'r mut dyn Conversation,
    /// Client → server.
    pub to_server: bool,
    /// Where its anomalies go.
    pub report: &'r mut Report<'a, 'o>,
}

impl StreamSink for Sink<'_, '_, '_> {
    fn data(&mut self, bytes: &[u8]) {
        let r = &mut *self.report;
        let ts = r.ts;
        self.conv
            .feed(self.to_server, bytes, ts, &mut |a, d| r.anomaly(a, d));
    }

    fn gap(&mut self, len: u32) {
        let r = &mut *self.report;
        let ts = r.ts;
        self.conv
            .lost(self.to_server, len, ts, &mut |a, d| r.anomaly(a, d));
    }
}
