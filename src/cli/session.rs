//! What `analyze` and `run` share: a [`Sensor`] whose first sink is the
//! database writer, built from the config, and how a run's losses become
//! its exit code.

use super::outputs::Outputs;
use anyhow::{Context, Result};
use medtap::alert::EndKey;
use medtap::archive::{Archive, ArchiveOptions};
use medtap::config::Config;
use medtap::device::assets::{Asset, AssetList};
use medtap::device::classify::{AssetClasses, Classifier};
use medtap::device::plan::IpPlan;
use medtap::device::rules;
use medtap::output::metrics::WriterProbe;
use medtap::output::{Delivery, SinkSpec};
use medtap::pipeline::secs;
use medtap::policy::detections::Thresholds;
use medtap::policy::engine::ScanLimits;
use medtap::policy::services::Service;
use medtap::policy::{EngineOptions, Learning, Policy};
use medtap::sensor::{Mode, Sensor, SensorOptions};
use medtap::stats::StatsRecord;
use medtap::store::query::AssetRow;
use medtap::store::rows::baseline::ServedHistory;
use medtap::store::{Store, Writer, WriterTotals};
use medtap::time::Micros;
use std::process::ExitCode;

/// Exit code of `analyze`/`run` when an input could not be read completely.
pub const EXIT_INPUT_INCOMPLETE: u8 = 1;
/// Exit code of `analyze`/`run` when records were lost: dropped on the way
/// to the writer, or not written to the database. Takes precedence over
/// [`EXIT_INPUT_INCOMPLETE`].
pub const EXIT_RECORDS_LOST: u8 = 3;

/// Exit code of `analyze`/`run` when an output (EVE, syslog, metrics)
/// dropped or failed to deliver events while the database has them all.
/// [`EXIT_RECORDS_LOST`] takes precedence over it, and it over
/// [`EXIT_INPUT_INCOMPLETE`].
pub const EXIT_OUTPUT_LOST: u8 = 4;

/// The store sink's name in logs and totals.
const STORE_SINK: &str = "store";

/// Reads the asset list `identity.assets` names (none at the default path
/// is no list), records it in the database for the query commands, and
/// returns the IP plan the inventory checks: registered addresses and
/// `identity.static_networks`.
fn load_assets(cfg: &Config, store: &mut Store) -> Result<(IpPlan, Option<AssetList>)> {
    let (plan, list) = read_assets(cfg)?;
    let rows: Vec<AssetRow> = list
        .iter()
        .flat_map(|l| l.iter())
        .map(AssetRow::from)
        .collect();
    store.replace_assets(&rows)?;
    Ok((plan, list))
}

/// Reads the asset list `identity.assets` names and the IP plan from it.
fn read_assets(cfg: &Config) -> Result<(IpPlan, Option<AssetList>)> {
    let list = AssetList::load_configured(&cfg.identity)
        .with_context(|| format!("asset list {}", cfg.identity.assets.display()))?;
    let assets: Vec<&Asset> = list.iter().flat_map(|l| l.iter()).collect();
    if !assets.is_empty() {
        tracing::info!(devices = assets.len(), file = %cfg.identity.assets.display(), "asset list loaded");
    }
    let plan = IpPlan::new(
        assets.iter().map(|a| (a.mac, a.ip, a.line)),
        cfg.identity.static_cidrs(),
    );
    Ok((plan, list))
}

/// Loads the asset list and every rule file again for a running sensor
/// (SIGHUP), with `cfg`'s paths.
pub fn reload(cfg: &Config) -> Result<medtap::pipeline::Reload> {
    let (plan, list) = read_assets(cfg)?;
    let rules = load_rules(cfg, list.as_ref())?;
    Ok(medtap::pipeline::Reload {
        policy: std::sync::Arc::new(rules.policy),
        plan,
        classifier: rules.classifier,
        asset_classes: rules.asset_classes,
        assets: list
            .map(|l| l.iter().cloned().collect())
            .unwrap_or_default(),
    })
}

/// The rules a sensor runs with.
pub struct Rules {
    /// Classes and fingerprints.
    pub classifier: Classifier,
    /// The asset list's classes.
    pub asset_classes: AssetClasses,
    /// The compiled policy.
    pub policy: Policy,
}

/// Loads the classes and fingerprints (shipped, then `policy.rules_dir`'s),
/// checks the asset list's classes against them, and compiles the policy
/// (shipped, then the rules directory's `policy.toml`).
pub fn load_rules(cfg: &Config, assets: Option<&AssetList>) -> Result<Rules> {
    let dir = cfg.policy.rules_dir().map_err(anyhow::Error::msg)?;
    let (classifier, loaded) = rules::load(dir)?;
    for f in &loaded.files {
        tracing::info!(file = %f.display(), "rules loaded");
    }
    let file = cfg.identity.assets.display().to_string();
    let asset_classes = rules::asset_classes(assets, &file, classifier.classes())?;
    let cx = medtap::policy::rules::Context {
        classes: classifier.classes(),
        assets,
        internal: cfg.identity.networks(),
        now: medtap::time::now(),
    };
    let policy = medtap::policy::rules::load(dir, &cx)?;
    if policy.files.len() > 1 {
        tracing::info!(file = %policy.files[1], "policy loaded");
    }
    let expired = policy
        .suppressions
        .iter()
        .filter(|s| s.until.is_some_and(|u| u < cx.now))
        .count();
    if expired > 0 {
        tracing::warn!(
            expired,
            "suppressions have expired and silence nothing now (`medtap rules suppressions`)"
        );
    }
    Ok(Rules {
        classifier,
        asset_classes,
        policy,
    })
}

/// The policy engine's settings from `cfg` (thresholds, window, learning)
/// with the compiled `policy`; `learning` as the mode and the store say.
pub fn engine_options(
    cfg: &Config,
    policy: Policy,
    learning: Learning,
    first_alert_id: u64,
    known_services: Vec<(EndKey, Micros, Vec<Service>)>,
) -> EngineOptions {
    let p = &cfg.policy;
    let t = &p.thresholds;
    EngineOptions {
        policy: std::sync::Arc::new(policy),
        thresholds: Thresholds {
            window: secs(t.window_secs),
            association_burst: t.dicom_association_burst,
            query_burst: t.dicom_query_burst,
            auth_failures: t.mqtt_auth_failures,
        },
        scan: ScanLimits {
            window: secs(t.scan_window_secs),
            hosts: t.scan_hosts,
            ports: t.scan_ports,
        },
        export_bytes: p.export_mib.saturating_mul(1 << 20),
        window: secs(p.alert_window_secs),
        learning,
        first_alert_id,
        dhcp_servers: p
            .dhcp_servers
            .iter()
            .filter_map(|a| a.parse().ok())
            .collect(),
        service_grace: medtap::config::parse_duration(&p.new_service_after).unwrap_or(0),
        known_services: std::sync::Arc::new(known_services),
        first_write_after: medtap::policy::raise::FIRST_WRITE_AFTER,
    }
}

/// What earlier runs saw devices offer, for NEW_SERVICE.
fn known_services(store: &Store) -> Result<Vec<(EndKey, Micros, Vec<Service>)>> {
    Ok(services_of(store.served_history()?))
}

/// NEW_SERVICE's memory from a [`ServedHistory`].
pub fn services_of(history: ServedHistory) -> Vec<(EndKey, Micros, Vec<Service>)> {
    history
        .into_iter()
        .filter_map(|(mac, first, ports, apps)| {
            let mac = medtap::net::Mac::parse(&mac)?;
            let services = ports
                .into_iter()
                .map(|(p, port)| Service::Port(p, port))
                .chain(
                    apps.iter()
                        .filter_map(|a| medtap::kinds::AppProto::from_name(a))
                        .map(Service::App),
                )
                .collect();
            Some((EndKey::Mac(mac), first, services))
        })
        .collect()
}

/// A sensor whose events go to a writer thread on the database.
pub struct Session {
    pub sensor: Sensor,
    writer: Writer,
    /// EVE, syslog, metrics.
    pub outputs: Outputs,
    /// The packet archive's thread, when archiving.
    archive: Option<Archive>,
}

/// How a session ended, as far as records go.
#[derive(Clone, Copy, Debug)]
pub struct Outcome {
    /// Records the writer stored or failed to store.
    pub writer: WriterTotals,
    /// Records dropped before the writer (a queue full).
    pub dropped: u64,
    /// Events an output (EVE, syslog, metrics) dropped or failed to deliver.
    pub output_lost: u64,
    /// Frames the packet archive dropped (its queue full) or could not
    /// write.
    pub archive_lost: u64,
}

impl Outcome {
    /// Records lost in this session.
    pub fn lost(&self) -> u64 {
        self.writer.failed + self.dropped
    }

    /// The exit code: records lost beat an incomplete input, which beats
    /// success. Says on stderr why it is not 0.
    pub fn exit_code(&self, inputs_incomplete: u64) -> ExitCode {
        if self.lost() > 0 {
            eprintln!(
                "medtap: {} record(s) lost ({} dropped before the writer, {} not written to the database){}",
                self.lost(),
                self.dropped,
                self.writer.failed,
                if self.writer.accounted {
                    "; `medtap status` shows them"
                } else {
                    "; they could NOT all be recorded in the database"
                }
            );
            return ExitCode::from(EXIT_RECORDS_LOST);
        }
        if self.archive_lost > 0 {
            eprintln!(
                "medtap: {} frame(s) not archived (the archive's queue was full, or its files could not be written); `medtap status` shows them",
                self.archive_lost
            );
        }
        if self.output_lost > 0 {
            eprintln!(
                "medtap: {} event(s) not delivered to an output (EVE, syslog, metrics); the database has every record; `medtap status` shows them",
                self.output_lost
            );
        }
        if self.output_lost + self.archive_lost > 0 {
            return ExitCode::from(EXIT_OUTPUT_LOST);
        }
        if inputs_incomplete > 0 {
            return ExitCode::from(EXIT_INPUT_INCOMPLETE);
        }
        ExitCode::SUCCESS
    }
}

impl Session {
    /// Starts the writer thread on `store` (opened with
    /// [`Store::open_writer`], which takes the database's write lock) and
    /// the sensor feeding it, as `cfg` asks for in `mode`.
    /// Frames are archived under `archive_dir` when one is given.
    pub fn start(
        cfg: &Config,
        store: Store,
        mode: Mode,
        learn_all: bool,
        archive_dir: Option<&std::path::Path>,
    ) -> Result<Session> {
        Session::start_with(cfg, store, mode, learn_all, archive_dir, None)
    }

    /// As [`Session::start`], with NEW_SERVICE's memory taken from
    /// `history` instead of `store` (a replay remembers what the sensor
    /// knew before the alert).
    pub fn start_with(
        cfg: &Config,
        mut store: Store,
        mode: Mode,
        learn_all: bool,
        archive_dir: Option<&std::path::Path>,
        history: Option<ServedHistory>,
    ) -> Result<Session> {
        let first_flow_id = store.next_flow_id()?;
        let mut opts = SensorOptions::from_config(cfg, mode, first_flow_id);
        let (plan, assets) = load_assets(cfg, &mut store)?;
        let rules = load_rules(cfg, assets.as_ref())?;
        opts.pipeline.plan = plan;
        opts.pipeline.classifier = rules.classifier;
        opts.pipeline.asset_classes = rules.asset_classes;
        let learn_for = medtap::config::parse_duration(&cfg.policy.learn_for).unwrap_or(0);
        let learning = match (learn_all, mode, learn_for > 0) {
            (true, _, _) => Learning::Always,
            (false, _, false) => Learning::Off,
            // Files: from the first packet of this run.
            (false, Mode::Files, true) => Learning::For(learn_for),
            // Live: from the first start on this database, across restarts.
            (false, Mode::Live, true) => {
                let started = store.learning_started(medtap::time::now())?;
                Learning::Until(started.saturating_add(learn_for))
            }
        };
        if learning != Learning::Off {
            tracing::info!(
                ?learning,
                "learning mode: violations are recorded as observations"
            );
        }
        store.set_retention(medtap::store::retention::Policy::from_config(&cfg.store))?;
        let first_alert_id = store.next_alert_id()?;
        let known = match history {
            Some(h) => services_of(h),
            None => known_services(&store)?,
        };
        opts.pipeline.engine = engine_options(cfg, rules.policy, learning, first_alert_id, known);
        // Live, an alert is written at once: the security office tails them.
        if mode == Mode::Live {
            opts.pipeline.engine.first_write_after = 0;
        }
        let archive_index = match archive_dir {
            Some(_) => Some(store.archive_files()?),
            None => None,
        };
        let (tx, rx) = crossbeam_channel::bounded(cfg.store.channel_capacity.max(1));
        let index_tx = tx.clone();
        let alert_within = match mode {
            Mode::Live => medtap::store::ALERT_COMMIT_WITHIN,
            Mode::Files => medtap::store::COMMIT_EVERY,
        };
        let queue = rx.clone();
        let writer = store.spawn_writer(rx, cfg.store.batch_rows, alert_within)?;
        let probe = WriterProbe {
            // A receiver: it never keeps the writer's stream open.
            queue: Box::new(move || queue.len()),
            counters: Some(writer.counters()),
        };
        let asset_list = assets.iter().flat_map(|l| l.iter()).cloned().collect();
        let (outputs, output_sinks) = Outputs::start(cfg, asset_list, probe)?;
        let mut sinks = vec![SinkSpec::new(STORE_SINK, tx, Delivery::Authority)];
        sinks.extend(output_sinks);
        let mut sensor = Sensor::new(&opts, sinks)?;
        let archive = match (archive_dir, archive_index) {
            (Some(dir), Some(index)) => {
                // Reading files, the archive waits for room as the
                // database does; live, it drops (counted) instead.
                let wait = (mode == Mode::Files).then_some(medtap::sensor::WAIT_FOR_ROOM);
                let a = ArchiveOptions::from_config(&cfg.archive, dir, wait);
                let (archive, tap) = Archive::start(&a, index, index_tx, cfg.flow.max_flows)
                    .context("cannot start the packet archive")?;
                sensor.attach_archive(tap);
                Some(archive)
            }
            _ => {
                drop(index_tx);
                None
            }
        };
        Ok(Session {
            sensor,
            writer,
            outputs,
            archive,
        })
    }

    /// Ends every flow, waits for the writer to store everything, records
    /// the session's clean end (`end_reason`) and returns what was lost.
    pub fn finish(self, source: &str, end_reason: &str) -> Outcome {
        let totals = self.sensor.finish(source);
        // Failures are logged as they happen (1st, 2nd, 4th, ...); this is
        // the summary.
        for sink in totals.sinks.iter().filter(|s| s.dropped > 0) {
            tracing::warn!(
                sink = sink.name,
                delivered = sink.delivered,
                dropped = sink.dropped,
                "sink could not take every event"
            );
        }
        // The outputs deliver what they hold; what they did since the
        // last statistics row goes in with the session's last accounting.
        let (mut last, output_lost) = self.outputs.finish();
        // The archive thread writes its last blocks after the sensor's last
        // statistics row: what it failed at then goes in with the session's
        // last accounting.
        let mut archive = totals.counters.archive;
        if let Some(a) = self.archive {
            let (not_written, deleted) = a.finish();
            let late = StatsRecord {
                archive_not_written: not_written.saturating_sub(archive.not_written),
                archive_files_deleted: deleted.saturating_sub(archive.files_deleted),
                ..StatsRecord::default()
            };
            archive.not_written = not_written;
            if late.archive_not_written + late.archive_files_deleted > 0 {
                let now = medtap::time::now();
                let mut row = last.take().unwrap_or_else(|| StatsRecord {
                    source: "medtap archive".into(),
                    period_start: now,
                    period_end: now,
                    ..StatsRecord::default()
                });
                row.absorb(StatsRecord {
                    source: row.source.clone(),
                    period_start: row.period_start,
                    period_end: row.period_end,
                    ..late
                });
                last = Some(row);
            }
        }
        Outcome {
            writer: self.writer.finish_with(end_reason, last),
            dropped: totals.lost_for(STORE_SINK),
            output_lost,
            archive_lost: archive.lost(),
        }
    }
}
