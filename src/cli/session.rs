//! What `analyze` and `run` share: the database writer and the pipeline,
//! wired together from the config.

use anyhow::{Context, Result};
use medtap::config::Config;
use medtap::pipeline::{Pipeline, PipelineOptions};
use medtap::record::{self, Backpressure};
use medtap::store::{self, Writer};
use medtap::time::SECOND;
use std::path::Path;

/// A pipeline whose records go to a writer thread on `db`.
pub struct Session {
    pub pipeline: Pipeline,
    writer: Writer,
}

impl Session {
    /// Opens (migrating) the database and starts the writer.
    pub fn start(cfg: &Config, db: &Path, backpressure: Backpressure) -> Result<Session> {
        let conn = store::open(db)?;
        let first_flow_id =
            store::query::max_flow_id(&conn).context("reading the highest flow id")? + 1;
        drop(conn);
        let (tx, rx) = record::channel(cfg.store.channel_capacity, backpressure);
        let writer = store::spawn_writer(db, rx, cfg.store.batch_rows)?;
        let opts = PipelineOptions {
            max_flows: cfg.flow.max_flows,
            timeouts: cfg.flow.timeouts.to_timeouts(),
            max_devices: cfg.identity.max_devices,
            local_networks: cfg.identity.networks(),
            device_flush_every: i64::try_from(cfg.identity.flush_interval_secs).unwrap_or(60)
                * SECOND,
            first_flow_id,
            reassembly_bytes: cfg.flow.reassembly_mib.saturating_mul(1 << 20),
        };
        Ok(Session {
            pipeline: Pipeline::new(&opts, tx),
            writer,
        })
    }

    /// Ends every flow, waits for the writer to store everything, and
    /// returns (rows written, rows failed).
    pub fn finish(mut self, source: &str) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        self.pipeline.finish();
        // Ending the open flows ends their associations and may find
        // anomalies: account for them in a last statistics row.
        let now = medtap::time::now();
        let last = self.pipeline.take_stats(source, now, now);
        if last
            != (medtap::record::StatsRecord {
                source: source.to_string(),
                period_start: now,
                period_end: now,
                ..Default::default()
            })
        {
            self.pipeline.send_stats(last);
        }
        drop(self.pipeline);
        let c = self.writer.join();
        (c.written.load(Relaxed), c.failed.load(Relaxed))
    }
}
