//! Retention as a leader duty: finished runs older than `job-run-cleanup.retention-period` lose
//! their files and logs and become `cleaned`; cleaned runs older than `job-run-cleanup.delete-after`
//! lose their rows; orphan blobs are collected. Small batches, one fenced transaction each, so no
//! statement holds row locks long enough to slow claims or uploads; unfinished runs are never read.
//!
//! The cutoffs are a pure function of the settings and `now` ([`cutoffs`]); `now` is the database
//! clock in production (read once per pass) and the test's fixed clock in tests.

use std::time::Duration;

use chrono::{DateTime, Utc};

use tokio::task::JoinHandle;

use super::duty::{Done, Duty, Term, Trigger, Wake};
use crate::clock::Clock;
use crate::config::CleanupConfig;
use crate::service::BoxFuture;
use crate::store::retention::{Cleaned, Deleted, OrphanWindow, Orphans};
use crate::store::{BlobId, Result, Store};

/// A blob nothing uses is an orphan once it is this old: the transaction that writes a blob
/// references it, so an hour is far past any upload still in progress.
pub const ORPHAN_AGE: Duration = Duration::from_secs(3600);
/// Blob ids one statement of the orphan sweep looks at (each reads the runs table once).
pub const ORPHAN_WINDOW_IDS: i64 = 50_000;
/// A retention transaction takes the fencing lock only at its commit (`Store::leader_tx_held`):
/// held through its statement, that lock would make the admission commit, which updates the leader
/// row, wait for the statement. Idle this long (a frozen scheduler), the server rolls it back.
pub const TX_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Between the end of one orphan sweep and the start of the next.
pub const ORPHAN_SWEEP_EVERY: Duration = Duration::from_secs(3600);

/// The retention settings, derived from `job-run-cleanup`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionSettings {
    /// Whether the duty cleans, deletes and collects anything.
    pub enabled: bool,
    /// A finished run keeps its files this long.
    pub retention: Duration,
    /// A cleaned run's row is deleted this long after it finished (at the earliest once the
    /// retention period is over).
    pub delete_after: Duration,
    /// Between two passes.
    pub interval: Duration,
    /// Most runs (or orphan blobs) per statement.
    pub batch_size: i64,
    /// Most statements of each kind per pass.
    pub batches_per_pass: u32,
    /// Between two passes while there is more to do (zero: at once); above zero a pass runs one
    /// statement of each kind.
    pub pace: Duration,
}

impl RetentionSettings {
    /// The settings of `c`.
    pub fn from_config(c: &CleanupConfig) -> Self {
        Self {
            enabled: c.enabled,
            retention: Duration::from_secs(c.retention_period),
            delete_after: Duration::from_secs(c.delete_after),
            interval: Duration::from_secs(c.interval_seconds),
            batch_size: i64::from(c.batch_size),
            batches_per_pass: if c.pace_ms > 0 { 1 } else { c.batches_per_pass },
            pace: Duration::from_millis(c.pace_ms),
        }
    }
}

/// What a pass removes: runs that finished before each instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cutoffs {
    /// Finished runs that finished before this are cleaned.
    pub clean_before: DateTime<Utc>,
    /// Cleaned runs that finished before this are deleted (never later than `clean_before`).
    pub delete_before: DateTime<Utc>,
    /// Unused blobs created before this are orphans.
    pub orphans_before: DateTime<Utc>,
}

/// The cutoffs at `now`, or `None` when retention is disabled. A period reaching back past the
/// Unix epoch (an absurdly long one) removes nothing.
pub fn cutoffs(s: &RetentionSettings, now: DateTime<Utc>) -> Option<Cutoffs> {
    if !s.enabled {
        return None;
    }
    let back = |d: Duration| {
        chrono::Duration::from_std(d)
            .ok()
            .and_then(|d| now.checked_sub_signed(d))
            .filter(|t| *t > DateTime::UNIX_EPOCH)
            .unwrap_or(DateTime::UNIX_EPOCH)
    };
    let clean_before = back(s.retention);
    Some(Cutoffs {
        clean_before,
        delete_before: back(s.delete_after).min(clean_before),
        orphans_before: back(ORPHAN_AGE),
    })
}

/// The age in seconds of the oldest finished run that is not cleaned (0: none).
pub fn oldest_age_seconds(oldest: Option<DateTime<Utc>>, now: DateTime<Utc>) -> f64 {
    oldest.map_or(0.0, |t| ((now - t).num_milliseconds() as f64 / 1000.0).max(0.0))
}

/// Where the orphan sweep stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sweep {
    /// The next window starts after this blob id.
    At(BlobId),
    /// The last sweep ended; the next starts at this instant.
    Idle(DateTime<Utc>),
}

impl Default for Sweep {
    /// A term starts a sweep.
    fn default() -> Self {
        Sweep::At(BlobId(0))
    }
}

impl Sweep {
    /// Where the window of a pass at `now` starts, if one is due.
    pub fn window_after(&self, now: DateTime<Utc>) -> Option<BlobId> {
        match *self {
            Sweep::At(after) => Some(after),
            Sweep::Idle(at) if now >= at => Some(BlobId(0)),
            Sweep::Idle(_) => None,
        }
    }

    /// Where the sweep stands after a window from `after` found `found`: the same window again
    /// when it deleted a full batch (more may be left), else the next one, else idle until
    /// [`ORPHAN_SWEEP_EVERY`] from `now` when the window reached the largest blob id.
    pub fn after_window(after: BlobId, found: &Orphans, limit: i64, now: DateTime<Utc>) -> Sweep {
        if found.blobs >= limit {
            return Sweep::At(found.last.unwrap_or(after));
        }
        let end = after.0.saturating_add(ORPHAN_WINDOW_IDS);
        if end >= found.max_id.0 {
            let every = chrono::Duration::from_std(ORPHAN_SWEEP_EVERY).unwrap_or(chrono::Duration::hours(1));
            Sweep::Idle(now + every)
        } else {
            Sweep::At(BlobId(end))
        }
    }
}

/// What one pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    /// Cleaning, summed over the batches.
    pub cleaned: Cleaned,
    /// Deletion, summed over the batches.
    pub deleted: Deleted,
    /// Orphan blobs deleted.
    pub orphans: i64,
    /// Their bytes.
    pub orphan_bytes: i64,
    /// A phase's last batch was full: there is more to do now.
    pub more: bool,
}

/// The retention as a leader duty, on its own interval. Its passes run in a task of their own,
/// beside the leader loop: admission (and the other duties) never wait for a retention statement.
/// A pass with more left is followed by the next at once, or after `pace`, in the same task; the
/// duty starts a task when none is running, and takes the last one's result (an error, `Deposed`
/// among them, ends up in the loop as any duty's would).
pub struct Retention {
    trigger: Trigger,
    sweep: Sweep,
    task: Option<JoinHandle<Result<Sweep>>>,
}

impl Retention {
    /// The duty for `term`.
    pub fn new(term: &Term) -> Self {
        Self { trigger: Trigger::every(term.settings.retention.interval), sweep: Sweep::default(), task: None }
    }
}

impl Drop for Retention {
    /// A term's passes end with the term (their writes would be refused by the fence anyway).
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl Duty for Retention {
    fn name(&self) -> &'static str {
        "retention"
    }

    fn trigger(&self) -> Trigger {
        self.trigger
    }

    fn run<'a>(&'a mut self, term: &'a Term, _wake: Wake) -> BoxFuture<'a, Result<Done>> {
        Box::pin(async move {
            if let Some(task) = self.task.take() {
                if !task.is_finished() {
                    self.task = Some(task);
                    return Ok(Done::default());
                }
                match task.await {
                    Ok(Ok(sweep)) => self.sweep = sweep,
                    Ok(Err(e)) => return Err(e),
                    Err(e) => tracing::warn!(error = %e, "the retention task ended abnormally"),
                }
            }
            let (store, epoch, clock) = (term.store.clone(), term.epoch, term.clock.clone());
            let (settings, mut sweep) = (term.settings.retention.clone(), self.sweep);
            self.task = Some(tokio::spawn(async move {
                loop {
                    let report = pass(&store, epoch, &settings, &clock, &mut sweep).await?;
                    match next_pass(report.more, settings.pace) {
                        None => return Ok(sweep),
                        Some(pace) if pace.is_zero() => {}
                        Some(pace) => tokio::time::sleep(pace).await,
                    }
                }
            }));
            Ok(Done::default())
        })
    }
}

/// After a pass: `None` when it left nothing to do (the next pass comes at the interval), else how
/// long until the next one (zero: at once).
fn next_pass(more: bool, pace: Duration) -> Option<Duration> {
    more.then_some(pace)
}

/// One pass as the leader of `epoch`: at most `batches_per_pass` cleaning and deletion batches,
/// one orphan window when a sweep is due, and the oldest-finished-run gauge.
pub async fn pass(
    store: &Store,
    epoch: i64,
    s: &RetentionSettings,
    clock: &Clock,
    sweep: &mut Sweep,
) -> Result<Report> {
    let now = store.clock_now(clock.sql_now()).await?;
    let mut report = Report::default();
    if let Some(c) = cutoffs(s, now) {
        let message = format!(
            "files removed: finished before {} (job-run-cleanup.retention-period: {} s)",
            c.clean_before.to_rfc3339(),
            s.retention.as_secs()
        );
        for _ in 0..s.batches_per_pass {
            let mut tx = store.leader_tx_held(epoch, TX_IDLE_TIMEOUT).await?;
            let done = tx.runs_clean_batch(c.clean_before, s.batch_size, now, &message).await?;
            tx.commit().await?;
            crate::metrics::retention_cleaned(
                done.runs,
                done.log_rows,
                done.blobs,
                done.result_bytes,
                done.input_bytes,
            );
            add_cleaned(&mut report.cleaned, &done);
            report.more = done.runs >= s.batch_size;
            if !report.more {
                break;
            }
        }
        let mut more_deleted = false;
        for _ in 0..s.batches_per_pass {
            let mut tx = store.leader_tx_held(epoch, TX_IDLE_TIMEOUT).await?;
            let done = tx.runs_delete_cleaned(c.delete_before, s.batch_size).await?;
            tx.commit().await?;
            let d = &done;
            crate::metrics::retention_deleted(d.runs, d.attempts, d.events, d.log_rows, d.jobs, d.job_events);
            add_deleted(&mut report.deleted, d);
            more_deleted = done.runs >= s.batch_size;
            if !more_deleted {
                break;
            }
        }
        report.more |= more_deleted;
        if let Some(after) = sweep.window_after(now) {
            let window =
                OrphanWindow { after, ids: ORPHAN_WINDOW_IDS, created_before: c.orphans_before, limit: s.batch_size };
            let mut tx = store.leader_tx_held(epoch, TX_IDLE_TIMEOUT).await?;
            let found = tx.blobs_delete_orphans(&window).await?;
            tx.commit().await?;
            crate::metrics::retention_orphans(found.blobs, found.bytes);
            report.orphans = found.blobs;
            report.orphan_bytes = found.bytes;
            *sweep = Sweep::after_window(after, &found, s.batch_size, now);
        }
    }
    let oldest = store.runs_oldest_finished().await?;
    crate::metrics::oldest_finished_run(oldest_age_seconds(oldest, now));
    if report.cleaned.runs + report.deleted.runs + report.orphans > 0 {
        tracing::info!(
            cleaned = report.cleaned.runs,
            blob_bytes = report.cleaned.result_bytes + report.cleaned.input_bytes + report.orphan_bytes,
            deleted = report.deleted.runs,
            orphans = report.orphans,
            more = report.more,
            "retention pass"
        );
    }
    Ok(report)
}

fn add_cleaned(sum: &mut Cleaned, b: &Cleaned) {
    sum.runs += b.runs;
    sum.log_rows += b.log_rows;
    sum.blobs += b.blobs;
    sum.result_bytes += b.result_bytes;
    sum.input_bytes += b.input_bytes;
}

fn add_deleted(sum: &mut Deleted, b: &Deleted) {
    sum.runs += b.runs;
    sum.attempts += b.attempts;
    sum.events += b.events;
    sum.log_rows += b.log_rows;
    sum.jobs += b.jobs;
    sum.job_events += b.job_events;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("an RFC 3339 instant")
    }

    fn settings(retention: u64, delete_after: u64) -> RetentionSettings {
        RetentionSettings {
            enabled: true,
            retention: Duration::from_secs(retention),
            delete_after: Duration::from_secs(delete_after),
            interval: Duration::from_secs(60),
            batch_size: 500,
            batches_per_pass: 4,
            pace: Duration::ZERO,
        }
    }

    #[test]
    fn a_paced_pass_runs_one_statement_of_each_kind_and_the_next_follows_after_the_pace() {
        let c = CleanupConfig { pace_ms: 100, ..CleanupConfig::default() };
        let s = RetentionSettings::from_config(&c);
        assert_eq!((s.batches_per_pass, s.pace), (1, Duration::from_millis(100)));
        assert_eq!(next_pass(true, s.pace), Some(Duration::from_millis(100)));
        assert_eq!(next_pass(false, s.pace), None);
        let unpaced = RetentionSettings::from_config(&CleanupConfig::default());
        assert_eq!((unpaced.batches_per_pass, unpaced.pace), (4, Duration::ZERO));
        assert_eq!(next_pass(true, unpaced.pace), Some(Duration::ZERO));
    }

    #[test]
    fn the_defaults_clean_after_30_days_and_delete_after_90() {
        let s = RetentionSettings::from_config(&CleanupConfig::default());
        let c = cutoffs(&s, at("2024-03-31T12:00:00Z")).expect("enabled by default");
        assert_eq!(c.clean_before, at("2024-03-01T12:00:00Z"));
        assert_eq!(c.delete_before, at("2024-01-01T12:00:00Z"), "90 days back, across a leap February");
        assert_eq!(c.orphans_before, at("2024-03-31T11:00:00Z"));
    }

    #[test]
    fn disabled_removes_nothing() {
        let s = RetentionSettings { enabled: false, ..settings(60, 120) };
        assert_eq!(cutoffs(&s, at("2024-01-01T00:00:00Z")), None);
    }

    #[test]
    fn rows_are_never_deleted_before_the_files_are_due() {
        let now = at("2024-06-01T00:00:00Z");
        let c = cutoffs(&settings(3600, 60), now).unwrap();
        assert_eq!(c.clean_before, at("2024-05-31T23:00:00Z"));
        assert_eq!(c.delete_before, c.clean_before, "a shorter delete-after waits for the retention period");
    }

    #[test]
    fn the_cutoffs_move_with_the_injected_clock() {
        let clock = Clock::fixed(at("2024-06-01T00:00:00Z"));
        let s = settings(10, 20);
        let first = cutoffs(&s, clock.now()).unwrap();
        clock.advance(chrono::Duration::seconds(5));
        let later = cutoffs(&s, clock.now()).unwrap();
        assert_eq!(later.clean_before - first.clean_before, chrono::Duration::seconds(5));
        assert_eq!(later.clean_before, at("2024-05-31T23:59:55Z"));
        assert_eq!(later.delete_before, at("2024-05-31T23:59:45Z"));
    }

    #[test]
    fn an_absurd_period_removes_nothing_instead_of_overflowing() {
        let now = at("2024-06-01T00:00:00Z");
        let c = cutoffs(&settings(u64::MAX, u64::MAX), now).unwrap();
        assert_eq!(c.clean_before, DateTime::UNIX_EPOCH);
        assert_eq!(c.delete_before, DateTime::UNIX_EPOCH);
        let c = cutoffs(&settings(100 * 365 * 24 * 3600, 0), now).unwrap();
        assert_eq!(c.clean_before, DateTime::UNIX_EPOCH, "before 1970: nothing finished then");
    }

    #[test]
    fn the_oldest_age_is_zero_without_finished_runs() {
        let now = at("2024-06-01T00:00:00Z");
        assert_eq!(oldest_age_seconds(None, now), 0.0);
        assert_eq!(oldest_age_seconds(Some(at("2024-05-31T23:59:30Z")), now), 30.0);
        assert_eq!(oldest_age_seconds(Some(at("2024-06-01T00:00:10Z")), now), 0.0, "clock skew reads 0");
    }

    #[test]
    fn the_orphan_sweep_walks_windows_then_rests() {
        let now = at("2024-06-01T00:00:00Z");
        let found = |blobs, last: Option<i64>, max_id| Orphans {
            blobs,
            bytes: 0,
            last: last.map(BlobId),
            max_id: BlobId(max_id),
        };
        assert_eq!(Sweep::default().window_after(now), Some(BlobId(0)), "a term starts with a sweep");
        // A full batch: the same window again, from the last one deleted.
        assert_eq!(Sweep::after_window(BlobId(0), &found(500, Some(700), 200_000), 500, now), Sweep::At(BlobId(700)));
        // Not full, more ids beyond: the next window.
        assert_eq!(
            Sweep::after_window(BlobId(700), &found(3, Some(900), 200_000), 500, now),
            Sweep::At(BlobId(700 + ORPHAN_WINDOW_IDS))
        );
        // The window reached the largest id: rest for an hour.
        let rest = Sweep::after_window(BlobId(190_000), &found(0, None, 200_000), 500, now);
        assert_eq!(rest, Sweep::Idle(at("2024-06-01T01:00:00Z")));
        assert_eq!(rest.window_after(at("2024-06-01T00:59:59Z")), None);
        assert_eq!(rest.window_after(at("2024-06-01T01:00:00Z")), Some(BlobId(0)));
    }
}
