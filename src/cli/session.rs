//! What `analyze` and `run` share: a [`Sensor`] whose first sink is the
//! database writer, built from the config, and how a run's losses become
//! its exit code.

use anyhow::{Context, Result};
use medtap::config::Config;
use medtap::device::assets::{Asset, AssetList};
use medtap::device::classify::{AssetClasses, Classifier};
use medtap::device::plan::IpPlan;
use medtap::device::rules;
use medtap::output::{Delivery, SinkSpec};
use medtap::sensor::{Mode, Sensor, SensorOptions};
use medtap::store::query::AssetRow;
use medtap::store::{Store, Writer, WriterTotals};
use std::process::ExitCode;

/// Exit code of `analyze`/`run` when an input could not be read completely.
pub const EXIT_INPUT_INCOMPLETE: u8 = 1;
/// Exit code of `analyze`/`run` when records were lost: dropped on the way
/// to the writer, or not written to the database. Takes precedence over
/// [`EXIT_INPUT_INCOMPLETE`].
pub const EXIT_RECORDS_LOST: u8 = 3;

/// The store sink's name in logs and totals.
const STORE_SINK: &str = "store";

/// Reads the asset list `identity.assets` names (none at the default path
/// is no list), records it in the database for the query commands, and
/// returns the IP plan the inventory checks: registered addresses and
/// `identity.static_networks`.
fn load_assets(cfg: &Config, store: &mut Store) -> Result<(IpPlan, Option<AssetList>)> {
    let list = AssetList::load_configured(&cfg.identity)
        .with_context(|| format!("asset list {}", cfg.identity.assets.display()))?;
    let assets: Vec<&Asset> = list.iter().flat_map(|l| l.iter()).collect();
    let rows: Vec<AssetRow> = assets.iter().map(|a| AssetRow::from(*a)).collect();
    store.replace_assets(&rows)?;
    if !rows.is_empty() {
        tracing::info!(devices = rows.len(), file = %cfg.identity.assets.display(), "asset list loaded");
    }
    let plan = IpPlan::new(
        assets.iter().map(|a| (a.mac, a.ip, a.line)),
        cfg.identity.static_cidrs(),
    );
    Ok((plan, list))
}

/// Loads the classes and fingerprints (shipped, then `policy.rules_dir`'s)
/// and checks the asset list's classes against them.
fn load_rules(cfg: &Config, assets: Option<&AssetList>) -> Result<(Classifier, AssetClasses)> {
    let dir = cfg.policy.rules_dir().map_err(anyhow::Error::msg)?;
    let (classifier, loaded) = rules::load(dir)?;
    for f in &loaded.files {
        tracing::info!(file = %f.display(), "rules loaded");
    }
    let file = cfg.identity.assets.display().to_string();
    let classes = rules::asset_classes(assets, &file, classifier.classes())?;
    Ok((classifier, classes))
}

/// A sensor whose events go to a writer thread on the database.
pub struct Session {
    pub sensor: Sensor,
    writer: Writer,
}

/// How a session ended, as far as records go.
#[derive(Clone, Copy, Debug)]
pub struct Outcome {
    /// Records the writer stored or failed to store.
    pub writer: WriterTotals,
    /// Records dropped before the writer (a queue full).
    pub dropped: u64,
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
    pub fn start(cfg: &Config, mut store: Store, mode: Mode) -> Result<Session> {
        let first_flow_id = store.next_flow_id()?;
        let mut opts = SensorOptions::from_config(cfg, mode, first_flow_id);
        let (plan, assets) = load_assets(cfg, &mut store)?;
        let (classifier, asset_classes) = load_rules(cfg, assets.as_ref())?;
        opts.pipeline.plan = plan;
        opts.pipeline.classifier = classifier;
        opts.pipeline.asset_classes = asset_classes;
        let (tx, rx) = crossbeam_channel::bounded(cfg.store.channel_capacity.max(1));
        let writer = store.spawn_writer(rx, cfg.store.batch_rows)?;
        let sinks = vec![SinkSpec::new(STORE_SINK, tx, Delivery::Authority)];
        let sensor = Sensor::new(&opts, sinks)?;
        Ok(Session { sensor, writer })
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
        Outcome {
            writer: self.writer.finish(end_reason),
            dropped: totals.lost_for(STORE_SINK),
        }
    }
}
