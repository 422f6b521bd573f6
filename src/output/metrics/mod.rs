//! The Prometheus metrics endpoint (`outputs.metrics_listen`): an HTTP
//! `GET /metrics` in the text exposition format 0.0.4, every metric with
//! HELP text (`promtool check metrics` clean). The names, types and HELP
//! texts are defined once, in `catalog.rs`.
//!
//! Nothing on the hot path touches a metric. The endpoint is one more
//! sink ([`MetricsSink`], started with [`crate::output::spawn_sink`] as
//! [`crate::output::Delivery::BestEffort`]): on its own thread it turns
//! the events of the fan-out into metrics —
//!
//! - statistics rows (period deltas) into counters (`medtap_packets_total`,
//!   `medtap_decode_errors_total{kind}`, ...);
//! - every event into `medtap_records_total{table}`;
//! - an alert's first write into `medtap_alerts_total{rule,severity}`
//!   (an alert, not its repeats; learning-mode observations are left out);
//! - device events into `medtap_devices{class,grade}` and
//!   `medtap_devices_unregistered`;
//! - flows created (rows) less flows ended (flow records) into
//!   `medtap_flows_active`.
//!
//! What other threads count live is read when Prometheus scrapes, on the
//! endpoint's thread: each output's [`SinkCounters`]
//! (`medtap_sink_events_{sent,dropped,failed}_total{sink}`), the database
//! writer's queue depth (`medtap_writer_queue_events`) and its
//! [`WriterCounters`] (`medtap_records_{written,not_written}_total`,
//! `medtap_db_pruned_rows_total{table}`).
//!
//! The metrics live in a recorder of the endpoint's own
//! (`metrics-exporter-prometheus`'s, which renders the exposition), never
//! installed as the process' global one.
//!
//! What the metrics derived from events miss: the events the metrics
//! sink's own queue had no room for, counted in
//! `medtap_sink_events_dropped_total{sink="metrics"}` (a statistics row
//! lost there takes its period's deltas with it; the database keeps them).

mod catalog;
mod devices;
mod http;
mod tally;

pub use http::MetricsServer;

use crate::device::assets::Asset;
use crate::event::Event;
use crate::kinds::{PrunedTable, SinkKind};
use crate::output::{Sink, SinkCounters};
use crate::store::WriterCounters;
use catalog::Registry;
use metrics::{Counter, Gauge};
use metrics_exporter_prometheus::PrometheusHandle;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tally::Tally;

/// Where the endpoint listens and what it knows at start.
#[derive(Clone, Debug)]
pub struct MetricsOptions {
    /// The HTTP endpoint's address (`outputs.metrics_listen`, e.g.
    /// `127.0.0.1:9187`; port 0 picks a free one, see
    /// [`MetricsServer::local_addr`]).
    pub listen: SocketAddr,
    /// The sensor's `sensor_name`, in `medtap_sensor_info`.
    pub sensor_name: String,
    /// The asset list the sensor starts with (reloads come as
    /// [`Event::Assets`]): which devices count as registered.
    pub assets: Vec<Asset>,
}

/// What the endpoint reads from the database writer at each scrape.
pub struct WriterProbe {
    /// Events waiting in the writer's queue. Give it a clone of the
    /// queue's `Receiver` (`move || rx.len()`), never a `Sender`: a sender
    /// kept alive here would keep the writer from seeing the stream end.
    pub queue: Box<dyn Fn() -> usize + Send + Sync>,
    /// The writer's counters ([`crate::store::Writer::counters`]), for
    /// records written and not written; `None`: those metrics are left out.
    pub counters: Option<Arc<WriterCounters>>,
}

/// Starts the HTTP endpoint (`GET /metrics`, text exposition format
/// 0.0.4) and returns the sink to hand to [`crate::output::spawn_sink`]
/// and the handle that stops the server.
///
/// `outputs` are the other outputs' kinds and live counters (EVE,
/// syslog); the metrics sink's own ([`MetricsSink::counters`]) is added.
/// Give the fan-out the sink's counters too (`SinkSpec::counted(SinkKind::
/// Metrics, sink.counters())`), so the events its queue had no room for
/// are counted.
pub fn start(
    opts: MetricsOptions,
    outputs: Vec<(SinkKind, Arc<SinkCounters>)>,
    writer: WriterProbe,
) -> std::io::Result<(MetricsSink, MetricsServer)> {
    let (sink, page) = build(&opts, outputs, writer);
    let server = MetricsServer::start(opts.listen, page)?;
    Ok((sink, server))
}

/// The sink and the page it feeds, without the HTTP server.
fn build(
    opts: &MetricsOptions,
    mut outputs: Vec<(SinkKind, Arc<SinkCounters>)>,
    writer: WriterProbe,
) -> (MetricsSink, Exposition) {
    let reg = Registry::new();
    reg.gauge(
        &catalog::SENSOR_INFO,
        &[
            ("sensor", opts.sensor_name.as_str()),
            ("version", env!("CARGO_PKG_VERSION")),
        ],
    )
    .set(1.0);
    let own = Arc::new(SinkCounters::default());
    outputs.push((SinkKind::Metrics, Arc::clone(&own)));
    let live = Live::new(&reg, outputs, writer);
    let page = Exposition {
        handle: reg.handle(),
        live,
    };
    let sink = MetricsSink {
        tally: Tally::new(reg, &opts.assets),
        counters: own,
    };
    (sink, page)
}

/// The metrics sink: counts every event it is handed (see the module).
pub struct MetricsSink {
    tally: Tally,
    counters: Arc<SinkCounters>,
}

impl MetricsSink {
    /// Its live counters, for the fan-out (`SinkSpec::counted`): `sent`
    /// is the events it counted.
    pub fn counters(&self) -> Arc<SinkCounters> {
        Arc::clone(&self.counters)
    }
}

impl Sink for MetricsSink {
    fn event(&mut self, event: Event) {
        self.tally.event(&event);
        self.counters.add_sent(1);
    }
}

/// The series read from other threads' counters at each scrape.
struct Live {
    /// Per output kind: its counters (one kind may have several) and its
    /// sent, dropped, failed series.
    outputs: Vec<(Vec<Arc<SinkCounters>>, [Counter; 3])>,
    queue: Box<dyn Fn() -> usize + Send + Sync>,
    queue_gauge: Gauge,
    writer: Option<(Arc<WriterCounters>, Counter, Counter)>,
    /// Rows the writer pruned, one series per table.
    pruned: Vec<Counter>,
}

impl Live {
    fn new(reg: &Registry, outputs: Vec<(SinkKind, Arc<SinkCounters>)>, w: WriterProbe) -> Live {
        let outputs = SinkKind::ALL
            .iter()
            .filter_map(|&kind| {
                let of_kind: Vec<_> = outputs
                    .iter()
                    .filter(|(k, _)| *k == kind)
                    .map(|(_, c)| Arc::clone(c))
                    .collect();
                if of_kind.is_empty() {
                    return None;
                }
                let label = [("sink", kind.name())];
                let series = [
                    reg.counter(&catalog::SINK_SENT, &label),
                    reg.counter(&catalog::SINK_DROPPED, &label),
                    reg.counter(&catalog::SINK_FAILED, &label),
                ];
                Some((of_kind, series))
            })
            .collect();
        let pruned = match &w.counters {
            Some(_) => PrunedTable::ALL
                .iter()
                .map(|t| reg.counter(&catalog::DB_PRUNED, &[(catalog::TABLE_LABEL, t.name())]))
                .collect(),
            None => Vec::new(),
        };
        let writer = w.counters.map(|c| {
            (
                c,
                reg.counter(&catalog::RECORDS_WRITTEN, &[]),
                reg.counter(&catalog::RECORDS_NOT_WRITTEN, &[]),
            )
        });
        Live {
            outputs,
            queue: w.queue,
            queue_gauge: reg.gauge(&catalog::WRITER_QUEUE, &[]),
            writer,
            pruned,
        }
    }

    /// Copies the live figures into their series.
    fn refresh(&self) {
        for (counters, series) in &self.outputs {
            let mut sum = [0u64; 3];
            for c in counters {
                for (s, v) in sum.iter_mut().zip(c.snapshot()) {
                    *s = s.saturating_add(v);
                }
            }
            for (s, v) in series.iter().zip(sum) {
                s.absolute(v);
            }
        }
        self.queue_gauge.set((self.queue)() as f64);
        if let Some((c, written, failed)) = &self.writer {
            // Relaxed: monotonic counters read for reporting.
            written.absolute(c.written.load(Ordering::Relaxed));
            failed.absolute(c.failed.load(Ordering::Relaxed));
            for (series, n) in self.pruned.iter().zip(&c.pruned) {
                series.absolute(n.load(Ordering::Relaxed));
            }
        }
    }
}

/// The page the endpoint serves.
struct Exposition {
    handle: PrometheusHandle,
    live: Live,
}

impl http::Page for Exposition {
    fn render(&self) -> String {
        self.live.refresh();
        self.handle.render()
    }
}

#[cfg(test)]
mod tests;
