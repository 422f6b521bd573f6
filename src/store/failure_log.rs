//! Write failures, logged once and then summarised: a full disk fails
//! every insert, and one log line each would bury the log (49,868 lines in
//! one test before this existed).

use std::time::{Duration, Instant};

/// How often a summary of further failures is logged.
pub const SUMMARY_EVERY: Duration = Duration::from_secs(60);

/// Longest error text kept for the summaries.
const MAX_ERROR_TEXT: usize = 256;

/// Counts write failures and rate-limits their log lines.
#[derive(Debug, Default)]
pub struct FailureLog {
    total: u64,
    since_summary: u64,
    last_error: String,
    last_summary: Option<Instant>,
    lines: u64,
}

impl FailureLog {
    /// Notes that `rows` records were not written because of `error`. The
    /// first failure is logged at once; later ones at most once per
    /// [`SUMMARY_EVERY`], as a count.
    pub fn note(&mut self, error: &dyn std::fmt::Display, rows: u64) {
        self.total += rows;
        self.since_summary += rows;
        self.last_error.clear();
        use std::fmt::Write;
        let _ = write!(self.last_error, "{error}");
        if self.last_error.len() > MAX_ERROR_TEXT {
            let mut cut = MAX_ERROR_TEXT;
            while !self.last_error.is_char_boundary(cut) {
                cut -= 1;
            }
            self.last_error.truncate(cut);
        }
        match self.last_summary {
            None => {
                tracing::warn!(
                    error = %self.last_error,
                    rows,
                    "could not write records to the database; further failures are summarised every {} s",
                    SUMMARY_EVERY.as_secs()
                );
                self.lines += 1;
                self.since_summary = 0;
                self.last_summary = Some(Instant::now());
            }
            Some(t) if t.elapsed() >= SUMMARY_EVERY => self.summarise(),
            Some(_) => {}
        }
    }

    /// Logs the failures not yet summarised, if any.
    fn summarise(&mut self) {
        if self.since_summary == 0 {
            return;
        }
        tracing::warn!(
            rows = self.since_summary,
            total = self.total,
            last_error = %self.last_error,
            "records not written to the database since the last report"
        );
        self.lines += 1;
        self.since_summary = 0;
        self.last_summary = Some(Instant::now());
    }

    /// At the end of a session: the failures not yet summarised, then the
    /// total, once.
    pub fn finish(&mut self) {
        if self.total == 0 {
            return;
        }
        self.summarise();
        tracing::error!(
            total = self.total,
            last_error = %self.last_error,
            "records not written to the database in this session"
        );
        self.lines += 1;
    }

    /// Records not written so far.
    #[cfg(test)]
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Log lines written so far.
    #[cfg(test)]
    pub fn lines(&self) -> u64 {
        self.lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_failures_make_few_log_lines() {
        let mut log = FailureLog::default();
        for _ in 0..50_000 {
            log.note(&"database or disk is full", 1);
        }
        log.finish();
        assert_eq!(log.total(), 50_000);
        assert_eq!(log.lines(), 3, "first, one summary, total");
    }

    #[test]
    fn long_errors_are_clipped_on_a_char_boundary() {
        let mut log = FailureLog::default();
        log.note(&"é".repeat(500), 2);
        assert!(log.last_error.len() <= MAX_ERROR_TEXT);
        assert_eq!(log.total(), 2);
    }
}
