//! One attempt: fetch the inputs, execute, stream the logs under the fencing token, store the result.

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::executor::{ExecRequest, Executor, LogChunk, Outcome};
use crate::retry::{self, End, Next};
use crate::store::attempts::StreamingEnd;
use crate::store::runs::{ClaimedRun, FinishParams, RunState};
use crate::store::{AttemptId, RunId, Store};

/// Flush buffered log chunks at least this often.
pub const LOG_FLUSH_INTERVAL: Duration = Duration::from_millis(200);
/// Flush as soon as this many bytes are buffered.
pub const LOG_FLUSH_BYTES: usize = 256 * 1024;
/// Output kept in memory while the database cannot take it; beyond this it is dropped (logged).
pub const LOG_BACKLOG_MAX_BYTES: usize = 16 * 1024 * 1024;

/// How an attempt ended, for the worker loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Finished and recorded with this outcome label.
    Finished(&'static str),
    /// Handed back to the queue (drain).
    HandedBack,
    /// The fencing token was no longer current: nothing was recorded.
    Fenced,
    /// The database failed and the worker gave up (it is shutting down); the leader's lease rescue
    /// takes the run back once the worker's heartbeat stops.
    StoreError,
}

/// Everything an attempt needs.
pub struct Attempt {
    /// The claimed run.
    pub run: ClaimedRun,
    /// The database.
    pub store: Store,
    /// The backend.
    pub executor: std::sync::Arc<Executor>,
    /// Parent folder of run folders.
    pub scratch: std::path::PathBuf,
    /// Fired to stop the execution (drain timeout or lost fencing token).
    pub stop: CancellationToken,
    /// Set before `stop` fires when the run should be handed back rather than recorded as cancelled.
    pub hand_back: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Infrastructure faults a run may suffer before it fails (`max-lost-attempts`).
    pub infrastructure_budget: i32,
    /// Records the end, batched with other attempts' ends.
    pub completer: super::complete::Completer,
    /// The worker's capacity: the limits of a run that asks for no memory or storage.
    pub ceiling: crate::resources::Resources,
}

/// The limit of a run's memory or storage, in MiB: what it asked for, or, when it asked for none
/// (0), the worker's whole capacity of it. A request of 0 takes nothing from the namespace's quota,
/// and must not mean "no limit": the job could fill the worker's disk or memory, and every other
/// run on it with it. `None` only when the worker declares none either.
pub fn limit_mib(requested: i64, ceiling: i64) -> Option<u64> {
    let mib = if requested > 0 { requested } else { ceiling };
    u64::try_from(mib).ok().filter(|m| *m > 0)
}

impl Attempt {
    /// Executes the attempt to its end; never panics, never returns an error (it is recorded).
    pub async fn execute(mut self) -> Ended {
        let id = self.run.id;
        let input = match (self.run.input_inline.take(), self.run.input_blob_id) {
            (Some(inline), _) => inline,
            (None, Some(blob)) => {
                super::outage::until_done("read the run's inputs", || async {
                    self.store.blob_read(blob).await.map_err(|e| tracing::warn!(run = %id, error = %e)).ok()
                })
                .await
            }
            (None, None) => Vec::new(),
        };
        let result = AssertUnwindSafe(async {
            let input = match self.run.workflow_run_id {
                Some(_) => self.with_parents(input).await?,
                None => input,
            };
            self.run_executor(input).await
        })
        .catch_unwind()
        .await
        // A panic in berth's own code around the job (the archives, an executor backend): the
        // job's process is gone with the unwound future (its guard kills the process group). The
        // end is recorded as a retryable fault, so the retry policy and `max-lost-attempts` bound
        // a panic that happens every time; the run is never left `running` with nothing running it.
        .unwrap_or_else(|panic| {
            let what = crate::telemetry::panic_text(panic.as_ref());
            tracing::error!(run = %id, panic = %what, "the attempt panicked");
            Err(crate::executor::Error::Retryable(format!("berth's worker failed while running it: {what}")))
        });
        self.record(result).await
    }

    /// A workflow step's input: its own files plus each parent's result under
    /// `parents/<step name>/` (read from the database, so no disk is shared between workers).
    async fn with_parents(&self, input: Vec<u8>) -> Result<Vec<u8>, crate::executor::Error> {
        let id = self.run.id;
        let parents = super::outage::until_done("read the step's parents", || async {
            self.store.workflow_parent_results(id).await.map_err(|e| tracing::warn!(run = %id, error = %e)).ok()
        })
        .await;
        let mut zips = Vec::with_capacity(parents.len());
        for (name, blob) in parents {
            let zip = match blob {
                Some(blob) => {
                    super::outage::until_done("read a parent's result", || async {
                        self.store.blob_read(blob).await.map_err(|e| tracing::warn!(run = %id, error = %e)).ok()
                    })
                    .await
                }
                None => Vec::new(),
            };
            zips.push((name, zip));
        }
        crate::executor::archive::with_parents(&input, &zips)
    }

    /// Runs the executor on `input` with the logs pumped under the fencing token.
    async fn run_executor(&self, input: Vec<u8>) -> Result<crate::executor::ExecResult, crate::executor::Error> {
        let id = self.run.id;
        let token = self.run.attempt_id;
        let request = ExecRequest {
            run_id: id.0,
            input_zip: input,
            command: self.run.command.clone(),
            env: self.run.env.clone(),
            timeout: self.run.timeout_seconds.and_then(|s| u64::try_from(s).ok()).map(Duration::from_secs),
            memory_limit_mib: limit_mib(self.run.request.memory, self.ceiling.memory),
            storage_limit_mib: limit_mib(self.run.request.storage, self.ceiling.storage),
            scratch: self.scratch.clone(),
            service: self.run.service.clone(),
        };
        let (log_tx, log_rx) = mpsc::channel(64);
        let pump = tokio::spawn(pump_logs(self.store.clone(), id, token, log_rx, self.stop.clone()));
        let result = self.executor.run(request, log_tx, self.stop.clone()).await;
        // The sender is gone with the executor: the pump flushes what is left and ends.
        let _ = pump.await;
        result
    }

    /// Records how the attempt ended: hand back, retry or final state.
    async fn record(self, result: Result<crate::executor::ExecResult, crate::executor::Error>) -> Ended {
        let id = self.run.id;
        let token = self.run.attempt_id;

        let handing_back = self.hand_back.load(std::sync::atomic::Ordering::SeqCst);
        let (end, exit_code, zip, message) = match result {
            Ok(r) if handing_back && r.outcome == Outcome::Cancelled => {
                let released = super::outage::until_done("hand the run back", || async {
                    let reason = "worker shut down: handed back to the queue";
                    self.store
                        .run_release_to(id, token, reason)
                        .await
                        .map_err(|e| tracing::warn!(run = %id, error = %e))
                        .ok()
                })
                .await;
                // A run whose cancel was requested ends instead of going back (runs/release.sql):
                // counted as what it became.
                return match released {
                    Some(state) if state.is_terminal() => Ended::Finished(state.as_str()),
                    Some(_) => Ended::HandedBack,
                    None => Ended::Fenced,
                };
            }
            Ok(r) => {
                let (end, message) = match r.outcome {
                    Outcome::Succeeded => (End::Succeeded, "run.sh exited with 0".to_string()),
                    Outcome::Failed => (
                        End::Failed,
                        match r.exit_code {
                            Some(code) => format!("exited with code {code}"),
                            None => "killed by a signal".to_string(),
                        },
                    ),
                    Outcome::TimedOut => (End::TimedOut, "killed at its maximum execution time".to_string()),
                    Outcome::Cancelled if self.run.restart.is_some() => (End::Cancelled, "aborted".to_string()),
                    Outcome::Cancelled => (End::Cancelled, "cancelled while running".to_string()),
                };
                // A limit the job hit, named by the backend.
                let message = match &r.message {
                    Some(limit) => format!("{message}: {limit}"),
                    None => message,
                };
                (end, r.exit_code, r.result_zip, message)
            }
            Err(e) => (End::ExecutorError(e.class()), None, None, format!("executor error: {e}")),
        };
        let next = match &self.run.restart {
            // A streaming run: its restart policy decides (retry::restart).
            Some(settings) => retry::restart(end, settings, self.run.failures),
            None => {
                let used = retry::Used {
                    own: self.run.attempt - self.run.excused_attempts,
                    infrastructure: self.run.lost_attempts,
                };
                retry::decide(end, &self.run.retry, used, self.infrastructure_budget, rand::random::<f64>())
            }
        };
        let (state, retry_after_seconds, excused) = match next {
            Next::Final(state) => (state, None, false),
            // The attempt's own outcome is recorded; the run waits for its retry.
            Next::Retry { after_seconds, excused } => (attempt_state(end), Some(after_seconds), excused),
        };
        let streaming = self.run.restart.map(|_| StreamingEnd {
            ran: retry::restart::ran(end),
            failure: retry::Failure::of(end),
            restart_reason: retry_after_seconds.map(|_| retry::restart::reason(end)),
        });
        let finish = FinishParams {
            run: id,
            attempt_id: token,
            state,
            exit_code,
            result_zip: zip,
            message,
            retry_after_seconds,
            excused,
            now: None,
            streaming,
        };
        // The result stays in memory (in `finish`) until the end is recorded or refused.
        let recorded =
            super::outage::until_done("record the attempt's end", || self.completer.finish(finish.clone())).await;
        if recorded {
            Ended::Finished(state.as_str())
        } else {
            tracing::warn!(run = %id, attempt = %token, "attempt is no longer current; result discarded");
            Ended::Fenced
        }
    }
}

/// The state an attempt that ended with `end` records as its outcome when the run is retried.
fn attempt_state(end: End) -> RunState {
    match end {
        End::Succeeded => RunState::Succeeded,
        End::TimedOut => RunState::TimedOut,
        End::Cancelled => RunState::Cancelled,
        End::Failed | End::ExecutorError(_) | End::Lost => RunState::Failed,
    }
}

/// Batches log chunks into few inserts: flushes every [`LOG_FLUSH_INTERVAL`], at
/// [`LOG_FLUSH_BYTES`], and when the executor closes the channel. Stops the execution if the
/// fencing token is refused.
async fn pump_logs(
    store: Store,
    run: RunId,
    token: AttemptId,
    mut rx: mpsc::Receiver<LogChunk>,
    stop: CancellationToken,
) {
    let mut buffer = LogBuffer { store, run, token, stop, chunks: Vec::new(), bytes: 0 };
    let mut tick = tokio::time::interval(LOG_FLUSH_INTERVAL);
    loop {
        tokio::select! {
            chunk = rx.recv() => match chunk {
                Some(c) => {
                    buffer.bytes += c.data.len();
                    buffer.chunks.push((c.stream.as_str().to_string(), c.data));
                    if buffer.bytes >= LOG_FLUSH_BYTES {
                        buffer.flush().await;
                    }
                }
                None => {
                    // The attempt's end waits for the database anyway: let its output go first.
                    let mut pause = super::outage::RETRY_FIRST_DEFAULT;
                    while !buffer.flush().await {
                        tokio::time::sleep(pause).await;
                        pause = super::outage::next_pause(pause);
                    }
                    return;
                }
            },
            _ = tick.tick() => {
                buffer.flush().await;
            }
        }
    }
}

struct LogBuffer {
    store: Store,
    run: RunId,
    token: AttemptId,
    stop: CancellationToken,
    chunks: Vec<(String, Vec<u8>)>,
    bytes: usize,
}

impl LogBuffer {
    /// Writes the buffered chunks. On a database error they stay buffered for the next flush (up to
    /// [`LOG_BACKLOG_MAX_BYTES`]); returns false in that case.
    async fn flush(&mut self) -> bool {
        if self.chunks.is_empty() {
            return true;
        }
        match self.store.run_log_append(self.run, self.token, &self.chunks).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(run = %self.run, "log write refused: attempt no longer current; stopping it");
                self.stop.cancel();
            }
            Err(e) if self.bytes <= LOG_BACKLOG_MAX_BYTES => {
                tracing::warn!(run = %self.run, error = %e, bytes = self.bytes, "cannot store log chunks; keeping them for the next try");
                return false;
            }
            Err(e) => {
                tracing::error!(run = %self.run, error = %e, bytes = self.bytes, "cannot store log chunks; backlog too large, dropping it");
            }
        }
        self.chunks.clear();
        self.bytes = 0;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::limit_mib;

    #[test]
    fn a_run_that_asks_for_nothing_is_limited_by_the_workers_capacity() {
        assert_eq!(limit_mib(512, 4096), Some(512), "what it asked for");
        assert_eq!(limit_mib(0, 4096), Some(4096), "nothing asked: the worker's whole capacity, not unlimited");
        assert_eq!(limit_mib(0, 0), None, "a worker that declares none");
        assert_eq!(limit_mib(-1, 100), Some(100));
    }
}
