//! What `analyze` and `run` share: the database writer and the pipeline,
//! wired together from the config, and how a run's losses become its exit
//! code.

use anyhow::Result;
use medtap::config::Config;
use medtap::event::{self, Backpressure};
use medtap::pipeline::{Pipeline, PipelineOptions};
use medtap::store::{Store, Writer, WriterTotals};
use medtap::time::{Micros, SECOND};
use std::process::ExitCode;

/// Exit code of `analyze`/`run` when an input could not be read completely.
pub const EXIT_INPUT_INCOMPLETE: u8 = 1;
/// Exit code of `analyze`/`run` when records were lost: dropped on the way
/// to the writer, or not written to the database. Takes precedence over
/// [`EXIT_INPUT_INCOMPLETE`].
pub const EXIT_RECORDS_LOST: u8 = 3;

/// A pipeline whose records go to a writer thread on `db`.
pub struct Session {
    pub pipeline: Pipeline,
    writer: Writer,
}

/// How a session ended, as far as records go.
#[derive(Clone, Copy, Debug)]
pub struct Outcome {
    /// Records the writer stored or failed to store.
    pub writer: WriterTotals,
    /// Records dropped before the writer (channel full).
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
    /// builds the pipeline. `interim_every` is how often long-open flows
    /// are written before they end (`None`: only when they end).
    pub fn start(
        cfg: &Config,
        store: Store,
        backpressure: Backpressure,
        interim_every: Option<Micros>,
    ) -> Result<Session> {
        let first_flow_id = store.next_flow_id()?;
        let (tx, rx) = event::channel(cfg.store.channel_capacity, backpressure);
        let writer = store.spawn_writer(rx, cfg.store.batch_rows)?;
        let opts = PipelineOptions {
            max_flows: cfg.flow.max_flows,
            timeouts: cfg.flow.timeouts.to_timeouts(),
            max_devices: cfg.identity.max_devices,
            local_networks: cfg.identity.networks(),
            device_flush_every: i64::try_from(cfg.identity.flush_interval_secs).unwrap_or(60)
                * SECOND,
            first_flow_id,
            reassembly_bytes: cfg.flow.reassembly_mib.saturating_mul(1 << 20),
            interim_every,
        };
        Ok(Session {
            pipeline: Pipeline::new(&opts, tx),
            writer,
        })
    }

    /// Ends every flow, waits for the writer to store everything, records
    /// the session's clean end (`end_reason`) and returns what was lost.
    pub fn finish(mut self, source: &str, end_reason: &str) -> Outcome {
        self.pipeline.finish();
        // Ending the open flows ends their associations and may find
        // anomalies: account for them in a last statistics row.
        let now = medtap::time::now();
        let last = self.pipeline.take_stats(source, now, now);
        if self.pipeline.has_unsent_stats()
            || last
                != (medtap::stats::StatsRecord {
                    source: source.to_string(),
                    period_start: now,
                    period_end: now,
                    ..Default::default()
                })
        {
            self.pipeline.send_stats(last);
        }
        let dropped = self.pipeline.counters().records_dropped;
        drop(self.pipeline);
        Outcome {
            writer: self.writer.finish(end_reason),
            dropped,
        }
    }
}
