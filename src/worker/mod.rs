//! `berth worker`: registers its capacity, claims admitted runs that fit, executes them, stores results.
//!
//! Woken by NOTIFY on `berth_admitted` (coalesced: one wake-up claims a whole batch), with a polling
//! fallback. On shutdown it stops claiming, lets attempts finish within the drain timeout, then hands
//! the rest back to the queue.

pub mod attempt;
pub mod capacity;
pub mod claim_floor;
pub mod complete;
pub mod heartbeat;
pub mod leftovers;
pub mod outage;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::executor::Executor;
use crate::resources::Resources;
use crate::service::{BoxFuture, Service};
use crate::store::runs::ClaimParams;
use crate::store::{RunId, Store, WorkerId, notify};
use attempt::{Attempt, Ended};
use complete::Completer;

/// The notifications that wake this loop.
const CHANNELS: [&str; 2] = [notify::ADMITTED, notify::CANCEL];

/// A worker's own settings, derived from [`Config`].
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Shown in the API.
    pub name: String,
    /// Services it claims.
    pub services: Vec<String>,
    /// What it can hold at once.
    pub capacity: Resources,
    /// Between heartbeats.
    pub heartbeat: Duration,
    /// Between claims when no notification arrives.
    pub poll: Duration,
    /// Parent folder of run folders.
    pub scratch: PathBuf,
    /// How long a drain waits before handing runs back.
    pub drain_timeout: Duration,
    /// Infrastructure faults (lost attempts, retryable executor errors) a run may suffer before
    /// it fails (`max-lost-attempts`).
    pub infrastructure_budget: i32,
}

impl WorkerSettings {
    /// The worker section of `config`, with machine defaults filled in.
    pub fn from_config(config: &Config) -> Self {
        let w = &config.worker;
        let services =
            if w.services.is_empty() { config.services.keys().cloned().collect() } else { w.services.clone() };
        let name = if w.name.is_empty() { format!("{}-{}", hostname(), std::process::id()) } else { w.name.clone() };
        let scratch = if w.scratch_dir.as_os_str().is_empty() {
            std::env::temp_dir().join("berth-worker")
        } else {
            w.scratch_dir.clone()
        };
        Self {
            name,
            services,
            capacity: capacity::from_config(w),
            heartbeat: Duration::from_secs(w.heartbeat_seconds),
            poll: Duration::from_millis(w.poll_ms),
            scratch,
            drain_timeout: Duration::from_secs_f64(w.drain_timeout_seconds.max(0.0)),
            infrastructure_budget: i32::try_from(config.max_lost_attempts).unwrap_or(i32::MAX),
        }
    }
}

/// How long a stopping worker keeps trying to record its attempts' ends and hand-backs while the
/// database is unreachable.
pub const RECORD_GRACE_DEFAULT: Duration = Duration::from_secs(10);

struct InFlight {
    attempt: crate::store::AttemptId,
    /// The task in the worker's `JoinSet` that owns this entry (the attempt's, or the one that
    /// records a panicked attempt's end): only its end removes the entry, and a task that
    /// panicked is traced back to its run by it.
    task: Option<tokio::task::Id>,
    request: Resources,
    stop: CancellationToken,
    hand_back: Arc<AtomicBool>,
    /// A streaming run: it never ends by itself, so a drain hands it back at once.
    streaming: bool,
}

/// A worker as a long-running [`Service`].
pub struct Worker {
    store: Store,
    settings: WorkerSettings,
    executor: Executor,
}

impl Worker {
    /// A worker with `settings` executing on `executor`.
    pub fn new(store: Store, settings: WorkerSettings, executor: Executor) -> Self {
        Self { store, settings, executor }
    }
}

impl Service for Worker {
    fn name(&self) -> &'static str {
        "worker"
    }

    fn run(self: Box<Self>, cancel: CancellationToken) -> BoxFuture<'static, std::result::Result<(), String>> {
        Box::pin(async move {
            run(self.store, self.settings, self.executor, cancel).await.map(|_| ()).map_err(|e| e.to_string())
        })
    }
}

/// Runs a worker until `cancel`, then drains. Returns its registration id.
pub async fn run(
    store: Store,
    settings: WorkerSettings,
    executor: Executor,
    cancel: CancellationToken,
) -> crate::store::Result<WorkerId> {
    let id = store.worker_register(&settings.name, &settings.services, settings.capacity).await?;
    tracing::info!(worker = %id, name = %settings.name, services = ?settings.services, capacity = ?settings.capacity, "worker registered");
    // Before the first claim, so nothing of this process is in flight yet.
    leftovers::sweep(&store, &settings.scratch).await;
    let executor = Arc::new(executor);
    // The heartbeat outlives `cancel`: a draining worker still holds its runs.
    let beat_stop = CancellationToken::new();
    let (cancel_tx, mut cancel_rx) = tokio::sync::mpsc::unbounded_channel();
    let attempts = heartbeat::InFlightAttempts::default();
    let beat = tokio::spawn(heartbeat::run(
        store.clone(),
        id,
        settings.heartbeat,
        attempts.clone(),
        cancel_tx.clone(),
        beat_stop.clone(),
    ));
    let (completer, completing) = Completer::start(store.clone());
    let mut listener = notify::listen(&store, &CHANNELS).await;
    let mut in_flight: HashMap<RunId, InFlight> = HashMap::new();
    let mut tasks: JoinSet<(RunId, Ended)> = JoinSet::new();
    let mut claimer = Claimer {
        id,
        floor: claim_floor::ClaimFloor::new(std::time::Instant::now()),
        held: store.hold(),
        store: store.clone(),
        settings: settings.clone(),
        executor,
        completer: completer.clone(),
        unsure: false,
    };

    while !cancel.is_cancelled() {
        claimer.claim_until_full(&mut in_flight, &mut tasks).await;
        publish(&attempts, &in_flight);
        tokio::select! {
            _ = cancel.cancelled() => break,
            Some(done) = tasks.join_next_with_id() => {
                finished(done, &mut in_flight, &mut tasks, &completer);
                // Batched completions end many attempts at once: take every ended one before
                // claiming, so the next claim fills all the free slots in one statement.
                while let Some(done) = tasks.try_join_next_with_id() {
                    finished(done, &mut in_flight, &mut tasks, &completer);
                }
            }
            Some(stops) = cancel_rx.recv() => stop_attempts(&stops, &in_flight),
            woke = notify::wait(&mut listener) => {
                match woke.as_deref() {
                    None => listener = None,
                    Some(notify::CANCEL) => heartbeat::beat(&store, id, &attempts, &cancel_tx).await,
                    Some(_) => {}
                }
            }
            _ = tokio::time::sleep(settings.poll) => {
                if listener.is_none() {
                    listener = notify::listen(&store, &CHANNELS).await;
                }
            }
        }
    }
    drain(&settings, &mut in_flight, &mut tasks, &mut cancel_rx, &completer).await;
    // The completion task ends once every handle is gone and its queue is empty.
    drop(claimer);
    drop(completer);
    let _ = completing.await;
    beat_stop.cancel();
    let _ = beat.await;
    if let Err(e) = store.worker_stop(id).await {
        tracing::warn!(worker = %id, error = %e, "cannot mark the worker stopped");
    }
    tracing::info!(worker = %id, "worker stopped");
    Ok(id)
}

/// Claims for one worker and starts the claimed runs' attempts.
struct Claimer {
    id: WorkerId,
    floor: claim_floor::ClaimFloor,
    /// The connection of the claims.
    held: crate::store::held::Held,
    store: Store,
    settings: WorkerSettings,
    executor: Arc<Executor>,
    completer: Completer,
    /// A claim failed: it may have committed with its reply lost (the connection broke after the
    /// commit), leaving runs on this worker that it does not hold. Until they are handed back, a
    /// claim would fill their room again.
    unsure: bool,
}

impl Claimer {
    /// Claims until the worker is full or nothing admitted fits; starts an attempt per claimed run.
    async fn claim_until_full(
        &mut self,
        in_flight: &mut HashMap<RunId, InFlight>,
        tasks: &mut JoinSet<(RunId, Ended)>,
    ) {
        if self.unsure && !self.hand_back_lost_claims(in_flight).await {
            return;
        }
        loop {
            // Every run takes a slot of its worker (a process, a uid of `run-as-uids`), whatever
            // pods it asked of its namespace (`on_worker`): so free pods never exceed free slots,
            // and a claim of at most that many runs cannot fill the worker past them.
            let used =
                in_flight.values().fold(Resources::default(), |acc, f| acc.saturating_add(&f.request.on_worker()));
            let free = self.settings.capacity.saturating_sub(&used);
            if free.pods <= 0 {
                return;
            }
            let floor = self.floor.bound(std::time::Instant::now());
            let params = ClaimParams {
                worker: self.id,
                services: self.settings.services.clone(),
                free,
                limit: free.pods,
                now: None,
                floor,
            };
            let claimed = match self.held.run_claim_batch(&params).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "claim failed; retrying at the next wake-up");
                    self.unsure = true;
                    return;
                }
            };
            self.floor.observe(params.limit, claimed.iter().map(|r| r.admitted_at));
            let short = i64::try_from(claimed.len()).unwrap_or(i64::MAX) < params.limit;
            if !claimed.is_empty() {
                let n = claimed.len();
                self.start_attempts(claimed, in_flight, tasks);
                crate::metrics::runs_claimed(n, in_flight.len());
            }
            // A short claim from the oldest end took everything that fits: claiming again now
            // would come back empty. A short claim above a floor looks again from the oldest end.
            if short && floor.is_none() {
                return;
            }
        }
    }

    /// After a failed claim: hands back at once what the database gives this worker but it does not
    /// hold. No claim of this worker is in flight (they are made one at a time, here), so no grace
    /// is needed, unlike the heartbeat's check. True once done; false if the database failed again.
    async fn hand_back_lost_claims(&mut self, in_flight: &HashMap<RunId, InFlight>) -> bool {
        let held: Vec<_> = in_flight.values().map(|f| f.attempt).collect();
        match self.store.run_release_orphans(self.id, &held, 0.0).await {
            Ok(runs) => {
                if !runs.is_empty() {
                    tracing::warn!(runs = ?runs, "a failed claim had committed: its runs were handed back");
                }
                self.unsure = false;
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot check for a failed claim's runs; retrying at the next wake-up");
                false
            }
        }
    }

    /// Starts an attempt task for each claimed run.
    fn start_attempts(
        &self,
        claimed: Vec<crate::store::runs::ClaimedRun>,
        in_flight: &mut HashMap<RunId, InFlight>,
        tasks: &mut JoinSet<(RunId, Ended)>,
    ) {
        for run in claimed {
            let stop = CancellationToken::new();
            let hand_back = Arc::new(AtomicBool::new(false));
            // A run claimed again while an old attempt of it still runs here (rescued while this
            // worker was cut off, then claimed back): the old attempt is stopped; its writes are
            // refused anyway, and its task no longer owns the entry.
            let replaced = in_flight.insert(
                run.id,
                InFlight {
                    attempt: run.attempt_id,
                    task: None,
                    request: run.request,
                    stop: stop.clone(),
                    hand_back: hand_back.clone(),
                    streaming: run.restart.is_some(),
                },
            );
            if let Some(old) = replaced {
                tracing::warn!(run = %run.id, attempt = %old.attempt, "claimed again while an old attempt ran here: stopping it");
                old.stop.cancel();
            }
            let run_id = run.id;
            let attempt = Attempt {
                run,
                store: self.store.clone(),
                executor: self.executor.clone(),
                scratch: self.settings.scratch.clone(),
                stop,
                hand_back,
                infrastructure_budget: self.settings.infrastructure_budget,
                completer: self.completer.clone(),
                ceiling: self.settings.capacity,
            };
            // Boxed: the attempt's future is 10.7 KB (its rare paths hold database futures), and
            // tokio copies a task's whole future when it spawns it, starts it and reads its
            // output; unboxed, `memmove` took 30 % of the worker's CPU in the no-op burn-down.
            let task = tasks.spawn(Box::pin(async move { (run_id, attempt.execute().await) }));
            if let Some(f) = in_flight.get_mut(&run_id) {
                f.task = Some(task.id());
            }
        }
    }
}

/// Stops what the heartbeat asks for, if it still runs here (an attempt may have ended since the
/// heartbeat read the in-flight list: a stale token of an ended attempt is no news).
fn stop_attempts(stops: &[heartbeat::Stop], in_flight: &HashMap<RunId, InFlight>) {
    for stop in stops {
        match *stop {
            heartbeat::Stop::Cancel(run) => {
                if let Some(f) = in_flight.get(&run) {
                    tracing::info!(run = %run, "cancellation requested: stopping the attempt");
                    f.stop.cancel();
                }
            }
            heartbeat::Stop::Stale(run, attempt) => {
                if let Some(f) = in_flight.get(&run).filter(|f| f.attempt == attempt) {
                    tracing::warn!(run = %run, attempt = %attempt, "attempt no longer current (rescued while this worker was silent): stopping it");
                    f.stop.cancel();
                }
            }
        }
    }
}

/// Shares the attempts in flight with the heartbeat.
fn publish(attempts: &heartbeat::InFlightAttempts, in_flight: &HashMap<RunId, InFlight>) {
    if let Ok(mut shared) = attempts.lock() {
        shared.clear();
        shared.extend(in_flight.iter().map(|(run, f)| (f.attempt, *run)));
    }
}

/// What a joined attempt task gave: its run and how it ended, or the panic that ended it.
type Joined = Result<(tokio::task::Id, (RunId, Ended)), tokio::task::JoinError>;

/// Takes an ended attempt task off the in-flight list. An entry is only removed by its own task: a
/// run claimed again on this worker (rescued while it was cut off, then claimed back) keeps its new
/// attempt's entry when the old attempt's task ends.
///
/// A task that panicked outside what the attempt catches (attempt.rs) ended without its end
/// recorded: it is recorded here, `failed` with the panic in its message, by a task that takes the
/// entry over. So the run never stays `running` with nothing running it, its room is freed only
/// once the database says so, and a panic that happens every time ends its run instead of looping.
fn finished(
    done: Joined,
    in_flight: &mut HashMap<RunId, InFlight>,
    tasks: &mut JoinSet<(RunId, Ended)>,
    completer: &Completer,
) {
    match done {
        Ok((task, (run, ended))) => {
            if in_flight.get(&run).is_some_and(|f| f.task == Some(task)) {
                in_flight.remove(&run);
            }
            let label = match ended {
                Ended::Finished(state) => state,
                Ended::HandedBack => "handed_back",
                Ended::Fenced => "fenced",
                Ended::StoreError => "store_error",
            };
            crate::metrics::run_finished(label, in_flight.len());
        }
        Err(e) => {
            let task = e.id();
            let Some((&run, f)) = in_flight.iter_mut().find(|(_, f)| f.task == Some(task)) else {
                tracing::error!(error = %e, "an attempt task ended abnormally");
                return;
            };
            let what = if e.is_panic() {
                crate::telemetry::panic_text(e.into_panic().as_ref())
            } else {
                "its task was cancelled".to_string()
            };
            tracing::error!(run = %run, attempt = %f.attempt, panic = %what, "an attempt task panicked; recording the run failed");
            let end = crate::store::runs::FinishParams {
                run,
                attempt_id: f.attempt,
                state: crate::store::runs::RunState::Failed,
                exit_code: None,
                result_zip: None,
                message: format!("berth's worker failed while running it: {what}"),
                retry_after_seconds: None,
                excused: false,
                now: None,
                streaming: f.streaming.then_some(crate::store::attempts::StreamingEnd {
                    ran: true,
                    failure: Some(crate::retry::Failure::Execution),
                    restart_reason: None,
                }),
            };
            let completer = completer.clone();
            let recording = tasks.spawn(async move {
                let ended = match completer.finish(end).await {
                    Some(true) => Ended::Finished("failed"),
                    Some(false) => Ended::Fenced,
                    None => Ended::StoreError,
                };
                (run, ended)
            });
            f.task = Some(recording.id());
        }
    }
}

/// Lets the attempts in flight finish within the drain timeout, then hands the rest back. The
/// heartbeat runs on meanwhile, and its stop orders (`stops`) are obeyed as before the drain: a
/// cancel requested, or an attempt rescued while this worker was silent, stops at the next
/// heartbeat instead of running on for the whole drain timeout.
async fn drain(
    settings: &WorkerSettings,
    in_flight: &mut HashMap<RunId, InFlight>,
    tasks: &mut JoinSet<(RunId, Ended)>,
    stops: &mut tokio::sync::mpsc::UnboundedReceiver<Vec<heartbeat::Stop>>,
    completer: &Completer,
) {
    if tasks.is_empty() {
        return;
    }
    // A streaming run runs until stopped: waiting for it would only delay its restart elsewhere.
    for f in in_flight.values().filter(|f| f.streaming) {
        f.hand_back.store(true, Ordering::SeqCst);
        f.stop.cancel();
    }
    tracing::info!(running = tasks.len(), timeout = ?settings.drain_timeout, "draining: waiting for running attempts");
    let deadline = tokio::time::Instant::now() + settings.drain_timeout;
    while !tasks.is_empty() {
        tokio::select! {
            Some(done) = tasks.join_next_with_id() => finished(done, in_flight, tasks, completer),
            Some(stop) = stops.recv() => stop_attempts(&stop, in_flight),
            _ = tokio::time::sleep_until(deadline) => break,
        }
    }
    if !in_flight.is_empty() {
        tracing::info!(running = in_flight.len(), "drain timeout: handing the remaining runs back to the queue");
        for f in in_flight.values() {
            f.hand_back.store(true, Ordering::SeqCst);
            f.stop.cancel();
        }
        // Handing back needs the database; during an outage, give up after a grace period and let
        // the leader's lease rescue take the runs back once this process stops heartbeating.
        let grace = tokio::time::Instant::now() + RECORD_GRACE_DEFAULT;
        while !tasks.is_empty() {
            tokio::select! {
                Some(done) = tasks.join_next_with_id() => finished(done, in_flight, tasks, completer),
                Some(stop) = stops.recv() => stop_attempts(&stop, in_flight),
                _ = tokio::time::sleep_until(grace) => break,
            }
        }
    }
    if !tasks.is_empty() {
        tracing::warn!(runs = in_flight.len(), "the database did not answer: leaving these runs to the lease rescue");
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
        for _ in in_flight.drain() {
            crate::metrics::run_finished("store_error", 0);
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "worker".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::AttemptId;
    use heartbeat::Stop;

    fn running(attempt: i64) -> InFlight {
        InFlight {
            attempt: AttemptId(attempt),
            task: None,
            request: Resources::default(),
            stop: CancellationToken::new(),
            hand_back: Arc::new(AtomicBool::new(false)),
            streaming: false,
        }
    }

    #[test]
    fn a_stale_token_stops_only_the_attempt_it_names() {
        let in_flight: HashMap<RunId, InFlight> = [(RunId(1), running(10)), (RunId(2), running(21))].into();
        // Run 2's attempt 20 ended and the run was claimed again (attempt 21); run 3 ended here.
        let stops = [
            Stop::Stale(RunId(1), AttemptId(10)),
            Stop::Stale(RunId(2), AttemptId(20)),
            Stop::Stale(RunId(3), AttemptId(30)),
        ];
        stop_attempts(&stops, &in_flight);
        assert!(in_flight[&RunId(1)].stop.is_cancelled(), "rescued while this worker was silent");
        assert!(!in_flight[&RunId(2)].stop.is_cancelled(), "a newer attempt of the run keeps going");
    }

    /// A stand-in for an attempt's task, owning its entry: ends when its run is stopped. Returns
    /// the entry's hand-back flag.
    fn spawn_waiting(
        tasks: &mut JoinSet<(RunId, Ended)>,
        in_flight: &mut HashMap<RunId, InFlight>,
        run: RunId,
    ) -> Arc<AtomicBool> {
        let f = running(run.0 * 10);
        let (stop, hand_back) = (f.stop.clone(), f.hand_back.clone());
        let task = tasks.spawn(async move {
            stop.cancelled().await;
            (run, Ended::Finished("cancelled"))
        });
        in_flight.insert(run, InFlight { task: Some(task.id()), ..f });
        hand_back
    }

    /// A completer whose database is absent: every end it is given answers "the store failed".
    fn offline_completer() -> Completer {
        Completer::start(crate::store::Store::lazy("postgres://nobody@127.0.0.1:1/none")).0
    }

    fn settings(drain_timeout: Duration) -> WorkerSettings {
        WorkerSettings {
            name: "test".into(),
            services: Vec::new(),
            capacity: Resources::default(),
            heartbeat: Duration::from_secs(5),
            poll: Duration::from_secs(1),
            scratch: PathBuf::new(),
            drain_timeout,
            infrastructure_budget: 3,
        }
    }

    /// The heartbeat's stop orders are obeyed while the worker drains: the cancelled run stops at
    /// once and is not handed back at the drain timeout (the clock is paused: tokio moves it to
    /// the deadline as soon as nothing else can happen, so an order left unread fails the test).
    #[tokio::test(start_paused = true)]
    async fn a_draining_worker_obeys_the_heartbeat_s_stop_orders() {
        let (mut tasks, mut in_flight) = (JoinSet::new(), HashMap::new());
        let hand_back = spawn_waiting(&mut tasks, &mut in_flight, RunId(1));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        tx.send(vec![Stop::Cancel(RunId(1))]).unwrap();
        let completer = offline_completer();
        drain(&settings(Duration::from_secs(60)), &mut in_flight, &mut tasks, &mut rx, &completer).await;
        assert!(in_flight.is_empty() && tasks.is_empty());
        assert!(!hand_back.load(Ordering::SeqCst), "stopped by its cancel, not handed back at the drain timeout");
    }

    /// A task that panicked is traced back to its run by its task id, and a task of its own takes
    /// the entry over to record the end (here the database is absent: the completer's answer is
    /// a store error, and then the entry goes). Another run's entry is untouched.
    #[tokio::test]
    async fn a_panicked_attempt_task_is_recorded_by_a_task_that_takes_its_entry_over() {
        let completer = offline_completer();
        let (mut tasks, mut in_flight) = (JoinSet::new(), HashMap::new());
        spawn_waiting(&mut tasks, &mut in_flight, RunId(1));
        let f = running(20);
        let task = tasks.spawn(async { panic!("a bug") });
        in_flight.insert(RunId(2), InFlight { task: Some(task.id()), ..f });
        let done = tasks.join_next_with_id().await.unwrap();
        assert!(done.as_ref().is_err_and(|e| e.is_panic()));
        finished(done, &mut in_flight, &mut tasks, &completer);
        let taken_over = in_flight[&RunId(2)].task;
        assert!(taken_over.is_some() && taken_over != Some(task.id()), "the recording task owns the entry");
        let done = tasks.join_next_with_id().await.unwrap();
        assert_eq!(done.as_ref().ok().map(|(id, (run, _))| (Some(*id), *run)), Some((taken_over, RunId(2))));
        finished(done, &mut in_flight, &mut tasks, &completer);
        assert_eq!(in_flight.keys().collect::<Vec<_>>(), [&RunId(1)]);
    }

    /// The end of an old attempt's task leaves the entry of the run's newer attempt alone.
    #[tokio::test]
    async fn an_old_attempt_s_end_leaves_the_run_s_new_attempt_in_flight() {
        let completer = offline_completer();
        let (mut tasks, mut in_flight) = (JoinSet::new(), HashMap::new());
        spawn_waiting(&mut tasks, &mut in_flight, RunId(1));
        let old = in_flight.remove(&RunId(1)).unwrap();
        spawn_waiting(&mut tasks, &mut in_flight, RunId(1));
        old.stop.cancel();
        let done = tasks.join_next_with_id().await.unwrap();
        finished(done, &mut in_flight, &mut tasks, &completer);
        assert!(in_flight.contains_key(&RunId(1)), "the new attempt's entry stays");
        in_flight[&RunId(1)].stop.cancel();
        let done = tasks.join_next_with_id().await.unwrap();
        finished(done, &mut in_flight, &mut tasks, &completer);
        assert!(in_flight.is_empty());
    }

    #[test]
    fn a_cancellation_stops_the_run_whatever_its_attempt() {
        let in_flight: HashMap<RunId, InFlight> = [(RunId(1), running(10))].into();
        stop_attempts(&[Stop::Cancel(RunId(1)), Stop::Cancel(RunId(9))], &in_flight);
        assert!(in_flight[&RunId(1)].stop.is_cancelled());
    }
}
