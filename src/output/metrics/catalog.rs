//! Every metric the endpoint exports, defined once: its name, type and
//! HELP text, and for the statistics counters which `capture_stats`
//! column it comes from. A metric can only be registered through its
//! [`Def`], so none goes out without HELP text (`promtool check metrics`
//! rejects that).
//!
//! Names follow Prometheus' conventions: `medtap_` prefix, the unit in the
//! name (`_bytes`, `_packets`), `_total` on counters and never on gauges.

use crate::stats::{Counter as StatsCounter, COUNTERS};
use metrics::{Counter, Gauge, Key, KeyName, Label, Metadata, Recorder, SharedString};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

/// A metric's type in the exposition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// Only goes up (a Prometheus counter: `rate()` applies).
    Counter,
    /// Goes up and down.
    Gauge,
}

/// One metric family: name, type, HELP text.
#[derive(Clone, Copy, Debug)]
pub(super) struct Def {
    /// Its name in the exposition.
    pub name: &'static str,
    /// Counter or gauge.
    pub kind: Kind,
    /// Its HELP text (one line).
    pub help: &'static str,
}

const fn counter(name: &'static str, help: &'static str) -> Def {
    Def {
        name,
        kind: Kind::Counter,
        help,
    }
}

const fn gauge(name: &'static str, help: &'static str) -> Def {
    Def {
        name,
        kind: Kind::Gauge,
        help,
    }
}

/// A statistics counter exported from the statistics rows (period deltas
/// added up): its `capture_stats` column and its metric. A per-kind
/// counter gets one series per kind, labelled `kind`.
#[derive(Clone, Copy, Debug)]
pub(super) struct FromStats {
    /// The column in [`COUNTERS`].
    pub column: &'static str,
    /// The metric.
    pub def: Def,
}

const fn from_stats(column: &'static str, name: &'static str, help: &'static str) -> FromStats {
    FromStats {
        column,
        def: counter(name, help),
    }
}

/// The label of a per-kind statistics counter's kinds.
pub(super) const KIND_LABEL: &str = "kind";

/// The statistics counters exported as they come in the rows.
pub(super) const FROM_STATS: &[FromStats] = &[
    from_stats(
        "packets",
        "medtap_packets_total",
        "Frames read from the capture source.",
    ),
    from_stats(
        "bytes",
        "medtap_bytes_total",
        "Bytes of the frames read (length on the wire).",
    ),
    from_stats(
        "kernel_received",
        "medtap_kernel_received_packets_total",
        "Packets the kernel received for the capture (live capture only).",
    ),
    from_stats(
        "kernel_drops",
        "medtap_kernel_dropped_packets_total",
        "Packets the kernel dropped because the capture buffer was full (live capture only).",
    ),
    from_stats(
        "if_drops",
        "medtap_interface_dropped_packets_total",
        "Packets the interface or its driver dropped (live capture only).",
    ),
    from_stats(
        "decode_errors",
        "medtap_decode_errors_total",
        "Frames (partly) undecodable, by kind of error.",
    ),
    from_stats(
        "not_ip",
        "medtap_non_ip_frames_total",
        "Frames that are neither IP nor ARP.",
    ),
    from_stats(
        "ip_fragments",
        "medtap_ip_fragments_total",
        "IP fragments seen (counted, not reassembled).",
    ),
    from_stats(
        "flows_created",
        "medtap_flows_created_total",
        "Flows created.",
    ),
    from_stats(
        "flows_evicted",
        "medtap_flows_evicted_total",
        "Flows pushed out of the full flow table.",
    ),
    from_stats(
        "flows_timed_out",
        "medtap_flows_timed_out_total",
        "Flows ended by their idle timeout.",
    ),
    from_stats(
        "devices_untracked",
        "medtap_untracked_device_frames_total",
        "Frames from devices or address claims the full device table could not track.",
    ),
    from_stats(
        "records_dropped",
        "medtap_records_dropped_total",
        "Records lost before the sinks: the event channel was full or over its byte bound.",
    ),
    from_stats(
        "read_errors",
        "medtap_read_errors_total",
        "Read errors from the capture source (a cut-short file, a failing interface).",
    ),
    from_stats(
        "reasm_gaps",
        "medtap_tcp_gaps_total",
        "TCP reassembly gaps: places where stream bytes were never seen.",
    ),
    from_stats(
        "reasm_gap_bytes",
        "medtap_tcp_gap_bytes_total",
        "Stream bytes lost in TCP reassembly gaps.",
    ),
    from_stats(
        "reasm_retransmissions",
        "medtap_tcp_retransmitted_segments_total",
        "TCP retransmissions dropped by reassembly.",
    ),
    from_stats(
        "reasm_overlap_conflicts",
        "medtap_tcp_overlap_conflicts_total",
        "TCP segments overlapping earlier ones with different bytes.",
    ),
    from_stats(
        "reasm_out_of_order",
        "medtap_tcp_out_of_order_segments_total",
        "TCP segments held for reassembly because they came out of order.",
    ),
    from_stats(
        "app_abandoned",
        "medtap_app_parsing_abandoned_total",
        "Flows whose application-protocol parsing stopped early.",
    ),
    from_stats(
        "dicom_associations",
        "medtap_dicom_associations_total",
        "DICOM associations ended.",
    ),
    from_stats(
        "hl7_messages",
        "medtap_hl7_messages_total",
        "HL7 messages seen.",
    ),
    from_stats(
        "mqtt_sessions",
        "medtap_mqtt_sessions_total",
        "MQTT sessions ended.",
    ),
    from_stats(
        "alerts_raised",
        "medtap_alerts_opened_total",
        "Alerts and learning-mode observations opened (repeats within a window fold into one).",
    ),
    from_stats(
        "alerts_folded",
        "medtap_alert_repeats_folded_total",
        "Alert occurrences folded into an alert already open.",
    ),
    from_stats(
        "alerts_suppressed",
        "medtap_alerts_suppressed_total",
        "Alert occurrences a suppression silenced.",
    ),
    from_stats(
        "alerts_closed_early",
        "medtap_alerts_closed_early_total",
        "Open alerts closed early because their table was full.",
    ),
    from_stats(
        "policy_observations",
        "medtap_policy_observations_total",
        "Policy violations recorded as observations (learning mode).",
    ),
    from_stats(
        "archive_frames",
        "medtap_archive_frames_total",
        "Frames handed to the packet archive.",
    ),
    from_stats(
        "archive_dropped",
        "medtap_archive_frames_dropped_total",
        "Frames not archived: the archive's queue was full (its thread or disk behind).",
    ),
    from_stats(
        "archive_cut_bytes",
        "medtap_archive_payload_bytes_cut_total",
        "Payload bytes not archived: past archive.max_payload_per_flow.",
    ),
    from_stats(
        "archive_not_written",
        "medtap_archive_frames_not_written_total",
        "Frames the archive thread could not write (disk errors).",
    ),
    from_stats(
        "archive_files_deleted",
        "medtap_archive_files_deleted_total",
        "Archive files deleted by retention (archive.max_total_mib, archive.max_days).",
    ),
    from_stats(
        "anomalies",
        "medtap_anomalies_total",
        "Protocol anomalies, by kind.",
    ),
];

/// Statistics columns not exported from the rows, and where their figure
/// comes from instead (read by the test that keeps the tables complete).
#[cfg_attr(not(test), allow(dead_code))]
pub(super) const NOT_FROM_STATS: &[(&str, &str)] = &[
    (
        "records_failed",
        "filled in by the database writer in its own copy of the row (0 in the rows the sinks \
         get): read live from the writer's counters (medtap_records_not_written_total)",
    ),
    (
        "pruned_rows",
        "filled in by the database writer in its own copy of the row (0 in the rows the sinks \
         get): read live from the writer's counters (medtap_db_pruned_rows_total)",
    ),
    (
        "sink_sent",
        "read live from each output's counters (medtap_sink_events_sent_total)",
    ),
    (
        "sink_dropped",
        "read live from each output's counters (medtap_sink_events_dropped_total)",
    ),
    (
        "sink_failed",
        "read live from each output's counters (medtap_sink_events_failed_total)",
    ),
];

/// `medtap_sensor_info{sensor, version}`.
pub(super) const SENSOR_INFO: Def = gauge(
    "medtap_sensor_info",
    "The sensor: its sensor_name and medtap's version (always 1).",
);
/// Per output, read live.
pub(super) const SINK_SENT: Def = counter(
    "medtap_sink_events_sent_total",
    "Events an output (eve, syslog, metrics) delivered to its destination.",
);
/// Per output, read live.
pub(super) const SINK_DROPPED: Def = counter(
    "medtap_sink_events_dropped_total",
    "Events an output's queue had no room for (the output was behind).",
);
/// Per output, read live.
pub(super) const SINK_FAILED: Def = counter(
    "medtap_sink_events_failed_total",
    "Events an output could not deliver (write or connection errors).",
);
/// Events handed to the sinks, by table.
pub(super) const RECORDS: Def = counter(
    "medtap_records_total",
    "Records (inserts and updates) handed to the sinks, by database table, as the metrics \
     sink received them.",
);
/// The writer's counters, read live.
pub(super) const RECORDS_WRITTEN: Def = counter(
    "medtap_records_written_total",
    "Records the database writer committed.",
);
/// The writer's counters, read live.
pub(super) const RECORDS_NOT_WRITTEN: Def = counter(
    "medtap_records_not_written_total",
    "Records the database writer could not store (database errors).",
);
/// The writer's retention, read live, by table.
pub(super) const DB_PRUNED: Def = counter(
    "medtap_db_pruned_rows_total",
    "Rows the database writer deleted by retention (store.retention_days, \
     store.alert_retention_days, store.max_db_mib), by table.",
);
/// The label of [`DB_PRUNED`]'s tables.
pub(super) const TABLE_LABEL: &str = "table";
/// The writer's queue, read live.
pub(super) const WRITER_QUEUE: Def = gauge(
    "medtap_writer_queue_events",
    "Events waiting in the database writer's queue (writer lag).",
);
/// Alerts by rule and severity.
pub(super) const ALERTS: Def = counter(
    "medtap_alerts_total",
    "Alerts raised, by rule and severity: each alert once, however often it repeats; \
     learning-mode observations are not counted.",
);
/// Devices by class and grade.
pub(super) const DEVICES: Def = gauge(
    "medtap_devices",
    "Devices this sensor has seen since it started, by class and DB3205/T risk grade \
     (grade none: not a medical class).",
);
/// Devices not in the asset list.
pub(super) const DEVICES_UNREGISTERED: Def = gauge(
    "medtap_devices_unregistered",
    "Devices this sensor has seen since it started that match no entry of the asset list.",
);
/// Flows open now.
pub(super) const FLOWS_ACTIVE: Def = gauge(
    "medtap_flows_active",
    "Flows open now: flows created less flows ended, as the metrics sink received them.",
);

/// Every metric that is not a statistics counter.
pub(super) const OTHERS: &[Def] = &[
    SENSOR_INFO,
    SINK_SENT,
    SINK_DROPPED,
    SINK_FAILED,
    RECORDS,
    RECORDS_WRITTEN,
    RECORDS_NOT_WRITTEN,
    DB_PRUNED,
    WRITER_QUEUE,
    ALERTS,
    DEVICES,
    DEVICES_UNREGISTERED,
    FLOWS_ACTIVE,
];

/// Every metric.
pub(super) fn all() -> impl Iterator<Item = Def> {
    FROM_STATS
        .iter()
        .map(|s| s.def)
        .chain(OTHERS.iter().copied())
}

/// The statistics counter of `column`.
pub(super) fn stats_counter(column: &str) -> Option<&'static StatsCounter> {
    COUNTERS.iter().find(|c| c.column == column)
}

/// The recorder the metrics live in: this endpoint's own, never installed
/// as the process' global recorder (so two in one process, as in tests,
/// do not mix).
pub(super) struct Registry {
    recorder: PrometheusRecorder,
}

/// Registration metadata (the recorder ignores it).
const META: Metadata<'static> =
    Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

impl Registry {
    /// A recorder with every metric described (HELP text).
    pub fn new() -> Registry {
        let recorder = PrometheusBuilder::new().build_recorder();
        for d in all() {
            let (name, help) = (KeyName::from(d.name), SharedString::from(d.help));
            match d.kind {
                Kind::Counter => recorder.describe_counter(name, None, help),
                Kind::Gauge => recorder.describe_gauge(name, None, help),
            }
        }
        Registry { recorder }
    }

    /// What renders the exposition.
    pub fn handle(&self) -> PrometheusHandle {
        self.recorder.handle()
    }

    fn key(def: &Def, labels: &[(&'static str, &str)]) -> Key {
        let labels: Vec<Label> = labels
            .iter()
            .map(|(k, v)| Label::new(*k, v.to_string()))
            .collect();
        Key::from_parts(def.name, labels)
    }

    /// Series `labels` of counter `def` (registered at 0 if new).
    pub fn counter(&self, def: &Def, labels: &[(&'static str, &str)]) -> Counter {
        debug_assert_eq!(def.kind, Kind::Counter, "{}", def.name);
        self.recorder
            .register_counter(&Registry::key(def, labels), &META)
    }

    /// Series `labels` of gauge `def` (registered at 0 if new).
    pub fn gauge(&self, def: &Def, labels: &[(&'static str, &str)]) -> Gauge {
        debug_assert_eq!(def.kind, Kind::Gauge, "{}", def.name);
        self.recorder
            .register_gauge(&Registry::key(def, labels), &META)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// A counter added to the statistics table must be given a metric (or
    /// a reason not to): this fails until it is.
    #[test]
    fn every_statistics_counter_is_exported_or_says_why_not() {
        for c in COUNTERS {
            let exported = FROM_STATS.iter().filter(|s| s.column == c.column).count();
            let excluded = NOT_FROM_STATS
                .iter()
                .filter(|(col, _)| *col == c.column)
                .count();
            assert_eq!(exported + excluded, 1, "column {}", c.column);
        }
        for s in FROM_STATS {
            assert!(stats_counter(s.column).is_some(), "no column {}", s.column);
        }
        for (col, _) in NOT_FROM_STATS {
            assert!(stats_counter(col).is_some(), "no column {col}");
        }
    }

    #[test]
    fn names_are_unique_and_follow_the_conventions() {
        let mut seen = HashSet::new();
        for d in all() {
            assert!(seen.insert(d.name), "{} twice", d.name);
            assert!(d.name.starts_with("medtap_"), "{}", d.name);
            assert!(
                d.name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{}",
                d.name
            );
            assert_eq!(
                d.name.ends_with("_total"),
                d.kind == Kind::Counter,
                "{}: `_total` on counters only",
                d.name
            );
            assert!(!d.help.is_empty() && !d.help.contains('\n'), "{}", d.name);
        }
    }
}
