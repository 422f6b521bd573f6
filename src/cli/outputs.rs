//! The outputs `analyze` and `run` feed besides the database: EVE JSON,
//! syslog and the metrics endpoint, built from `[outputs]` (and the
//! `--eve`/`--syslog` flags), each a best-effort sink on its own thread.

use anyhow::{Context, Result};
use medtap::config::Config;
use medtap::device::assets::Asset;
use medtap::event::Event;
use medtap::kinds::SinkKind;
use medtap::output::eve::{Destination, EveOptions, EveSink, EveType};
use medtap::output::metrics::{self, MetricsOptions, MetricsServer, WriterProbe};
use medtap::output::syslog::{local_hostname, parse_facility, SyslogOptions, SyslogSink, Target};
use medtap::output::{spawn_sink, Delivery, SinkCounters, SinkSpec, SinkThread};
use medtap::stats::StatsRecord;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Events queued for the metrics sink (it only counts: it keeps up).
const METRICS_QUEUE: usize = 16_384;

/// How long an output may take, at the end, to deliver what it holds.
const FINISH_WITHIN: Duration = Duration::from_secs(10);

/// The running outputs.
#[derive(Default)]
pub struct Outputs {
    sinks: Vec<(SinkKind, Arc<SinkCounters>, SinkThread)>,
    /// The metrics endpoint's HTTP server (stopped when dropped).
    metrics: Option<MetricsServer>,
    /// Set on SIGHUP: the EVE file is opened again (logrotate moved it).
    pub eve_reopen: Arc<AtomicBool>,
}

/// The name of this sensor in the outputs: `outputs.sensor_name`, else
/// the machine's host name.
pub fn sensor_name(cfg: &Config) -> String {
    if !cfg.outputs.sensor_name.is_empty() {
        return cfg.outputs.sensor_name.clone();
    }
    local_hostname()
}

/// `--eve` and `--syslog` replace the config's destinations for one run
/// (checked as the config file's values are).
pub fn override_from_flags(
    cfg: &mut Config,
    eve: Option<&str>,
    syslog: Option<&str>,
) -> Result<()> {
    if let Some(e) = eve {
        e.parse::<Destination>()
            .map_err(anyhow::Error::msg)
            .context("--eve")?;
        cfg.outputs.eve.path = e.to_string();
    }
    if let Some(s) = syslog {
        s.parse::<Target>()
            .map_err(anyhow::Error::msg)
            .context("--syslog")?;
        cfg.outputs.syslog.target = s.to_string();
    }
    Ok(())
}

impl Outputs {
    /// Starts the outputs `cfg` asks for; returns their sinks for the
    /// sensor's fan-out.
    pub fn start(
        cfg: &Config,
        assets: Vec<Asset>,
        writer: WriterProbe,
    ) -> Result<(Outputs, Vec<SinkSpec>)> {
        let mut outputs = Outputs::default();
        let mut specs = Vec::new();
        let o = &cfg.outputs;
        let sensor = sensor_name(cfg);
        if !o.eve.path.trim().is_empty() {
            let to: Destination = o
                .eve
                .path
                .parse()
                .map_err(anyhow::Error::msg)
                .context("outputs.eve.path")?;
            let types: Vec<EveType> = o
                .eve
                .types
                .iter()
                .filter_map(|t| EveType::from_name(t))
                .collect();
            let mask = EveType::mask(&types);
            let counters = Arc::new(SinkCounters::default());
            let mut sink = EveSink::new(
                EveOptions {
                    to: to.clone(),
                    types: mask,
                    sensor_name: sensor.clone(),
                    reopen: Arc::clone(&outputs.eve_reopen),
                },
                Arc::clone(&counters),
            );
            // A file that cannot be written is a configuration error; a
            // socket nobody listens on yet is retried (its reader may start
            // later).
            if let (Err(e), Destination::File(p)) = (sink.check(), &to) {
                return Err(e).with_context(|| format!("EVE output {}", p.display()));
            }
            tracing::info!(to = ?to, types = ?o.eve.types, "EVE output");
            let (spec, thread) = spawn_sink("eve", o.eve.queue, Delivery::BestEffort, sink)?;
            let spec = spec.only(move |e| medtap::output::eve::line::carries(mask, e));
            specs.push(spec.counted(SinkKind::Eve, Arc::clone(&counters)));
            outputs.sinks.push((SinkKind::Eve, counters, thread));
        }
        if !o.syslog.target.is_empty() {
            let s = &o.syslog;
            let target: Target = s
                .target
                .parse()
                .map_err(anyhow::Error::msg)
                .context("outputs.syslog.target")?;
            let opts = SyslogOptions {
                framing: s
                    .framing
                    .parse()
                    .map_err(anyhow::Error::msg)
                    .context("outputs.syslog.framing")?,
                enterprise: s.enterprise_number,
                anomalies: s.anomalies,
                facility: parse_facility(&s.facility)
                    .map_err(anyhow::Error::msg)
                    .context("outputs.syslog.facility")?,
                hostname: local_hostname(),
                sensor_name: sensor.clone(),
                ..SyslogOptions::new(target.clone())
            };
            tracing::info!(to = %target, "syslog output");
            let counters = Arc::new(SinkCounters::default());
            let sink = SyslogSink::new(opts, Arc::clone(&counters));
            let anomalies = s.anomalies;
            let (spec, thread) = spawn_sink("syslog", s.queue, Delivery::BestEffort, sink)?;
            // Only what it sends: a flow storm must not fill its queue.
            let spec = spec.only(move |e| match e {
                Event::Alert(a) => !a.observation,
                Event::Anomaly(_) => anomalies,
                _ => false,
            });
            specs.push(spec.counted(SinkKind::Syslog, Arc::clone(&counters)));
            outputs.sinks.push((SinkKind::Syslog, counters, thread));
        }
        if !o.metrics_listen.is_empty() {
            let listen: SocketAddr = o.metrics_listen.parse().context("outputs.metrics_listen")?;
            let watched = outputs
                .sinks
                .iter()
                .map(|(k, c, _)| (*k, Arc::clone(c)))
                .collect();
            let opts = MetricsOptions {
                listen,
                sensor_name: sensor.clone(),
                assets,
            };
            let (sink, server) = metrics::start(opts, watched, writer)
                .with_context(|| format!("metrics endpoint on {listen}"))?;
            let counters = sink.counters();
            let (spec, thread) = spawn_sink("metrics", METRICS_QUEUE, Delivery::BestEffort, sink)?;
            specs.push(spec.counted(SinkKind::Metrics, Arc::clone(&counters)));
            outputs.sinks.push((SinkKind::Metrics, counters, thread));
            outputs.metrics = Some(server);
        }
        Ok((outputs, specs))
    }

    /// Waits (bounded) for every output to deliver what it holds; returns
    /// a statistics row of what they did since the last row counted them
    /// (`None` if nothing), and the events lost to outputs in all.
    pub fn finish(self) -> (Option<StatsRecord>, u64) {
        let now = medtap::time::now();
        let mut row = StatsRecord {
            source: "medtap outputs".into(),
            period_start: now,
            period_end: now,
            ..StatsRecord::default()
        };
        let mut lost = 0;
        for (kind, c, thread) in self.sinks {
            // Events a stuck output never took are lost to it.
            let left = thread.finish(FINISH_WITHIN);
            c.dropped.fetch_add(left, Ordering::Relaxed);
            let delta = c.take_unreported();
            SinkCounters::add_to(kind, delta, &mut row);
            let [_, dropped, failed] = c.snapshot();
            lost += dropped + failed;
        }
        let any = row
            .sink_sent
            .iter()
            .chain(&row.sink_dropped)
            .chain(&row.sink_failed)
            .any(|n| *n > 0);
        (any.then_some(row), lost)
    }
}
