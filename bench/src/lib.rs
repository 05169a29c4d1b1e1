//! `berth-bench` (also run as `berth bench`): measures berth the same way every time, on a private
//! Postgres it starts itself (fsync on, as deployed) unless `DATABASE_URL` is set, with the real
//! scheduler, worker and API loops running in-process. One file per scenario; [`report`] prints
//! the figures.
//!
//! This crate sits beside the `berth` library and uses only its public API: the services every
//! replica runs do not carry the bench's code, its statements (`bench/sql/`, run by [`db`]) or
//! its destructive resets.
#![warn(missing_docs)]

pub mod admission;
pub mod cli;
pub mod cpu;
pub mod db;
pub mod depth;
pub mod e2e;
pub mod fairness;
pub mod latency;
pub mod lists;
pub mod report;
pub mod retention;
pub mod schedules;
pub mod seed;
pub mod throughput;
pub mod workflow;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use berth::clock::Clock;
use berth::config::{Config, ServiceConfig};
use berth::dev::postgres::{EmbeddedPostgres, Options};
use berth::domain::Sharing;
use berth::executor::Executor;
use berth::resources::Resources;
use berth::scheduler::{Scheduler, SchedulerSettings};
use berth::service::Supervisor;
use berth::store::Store;
use berth::store::batch::SubmitBatchParams;
use berth::worker::{Worker, WorkerSettings};
use report::{Machine, Measurement};

/// The service every benchmark run belongs to.
pub const SERVICE: &str = "bench";
/// Seed of every random choice (users, payload order), so runs are comparable.
pub const SEED_DEFAULT: u64 = 5;
/// Runs per bulk-enqueue statement.
pub const ENQUEUE_BATCH: usize = 1000;
/// Between two progress checks of a measurement. The figures come from the runs' own timestamps,
/// so this only bounds the check's own load on the database (a count over the hot states).
pub const POLL: Duration = Duration::from_millis(250);
/// Longest a single measurement may take before it is reported as lost runs.
pub const MEASUREMENT_TIMEOUT: Duration = Duration::from_secs(600);

/// Which scenario to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// Every scenario in turn.
    All,
    /// Burn-down of N no-op runs, legacy and priority flow.
    Throughput,
    /// Enqueue-to-start on idle workers.
    Latency,
    /// Latency and claim cost with a deep queue.
    Depth,
    /// Latency and claim cost with a long history of finished runs in the table.
    History,
    /// `run.sh` jobs through HTTP upload to download.
    E2e,
    /// The job search and the job and run lists over HTTP with 1,000,000 jobs and 3,000,000 runs.
    Lists,
    /// The admission function in a simulated cluster (no database).
    Admission,
    /// 10,000 schedules due in the same second: fire-to-enqueue lag, each fired once.
    Schedules,
    /// Retention under a steady load: table and blob sizes over time, enqueue-to-start and claim
    /// cost with retention off and on.
    Retention,
    /// `schedules` then `retention` (issue 14).
    Time,
    /// One user's 100,000 runs held by their cap, other users' runs behind them (issue 18).
    Fairness,
    /// A 1,000-step workflow (fan-out and fan-in) from start to end: each step's start after its
    /// last parent's end (issue 15).
    Workflow,
    /// The `e2e` load through the process executor, then through an `http` worker and each real
    /// seed executor given by `--seed-bin` (issue 16). Not part of `all`: it needs those binaries.
    Seed,
}

/// What to measure and how often.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// The scenario.
    pub scenario: Scenario,
    /// Runs of the throughput burn-down.
    pub runs: usize,
    /// Repetitions; the figures are their medians.
    pub repeat: usize,
    /// One JSON object per line instead of a table.
    pub json: bool,
    /// Seed of the random choices.
    pub seed: u64,
    /// Worker loops for the throughput scenario.
    pub workers: usize,
    /// Capacity in runs of each worker.
    pub pods: i64,
    /// Runs probed one at a time by the latency, depth and history scenarios.
    pub probes: usize,
    /// Interval between probes.
    pub interval: Duration,
    /// Runs already in the table for the depth (queued) and history (finished) scenarios.
    pub depths: Vec<u64>,
    /// Jobs of the end-to-end scenario.
    pub e2e_runs: usize,
    /// Admissions per cycle (`settings.batch-size`); `None` keeps the configured value.
    pub batch_size: Option<usize>,
    /// Flows of the throughput and latency scenarios (`legacy`, `priority`).
    pub flows: Vec<&'static str>,
    /// Leave the rows in the tables at the end.
    pub keep: bool,
    /// Sizes of the lists scenario's tables.
    pub lists: lists::ListSizes,
    /// Timed requests of each kind in the lists scenario.
    pub list_requests: usize,
    /// Print the plans of the lists scenario's statements on stderr.
    pub plans: bool,
    /// Schedules due in the same second (schedules scenario).
    pub schedules: usize,
    /// Seconds of load per mode (retention scenario).
    pub retention_seconds: u64,
    /// Runs per second of that load.
    pub retention_rate: u64,
    /// KiB of input files per run of that load.
    pub retention_input_kib: usize,
    /// Steps of the workflow scenario's workflow.
    pub workflow_steps: usize,
    /// The seed executors of the seed scenario (`job-orchestrator` binaries).
    pub seed_bins: Vec<PathBuf>,
}

/// Errors of a benchmark.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] berth::store::Error),
    /// The private Postgres failed.
    #[error(transparent)]
    Postgres(#[from] berth::dev::postgres::Error),
    /// A file or socket failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The HTTP client failed.
    #[error(transparent)]
    Http(#[from] reqwest::Error),
    /// The bench refuses to run.
    #[error("{0}")]
    Refused(String),
    /// The admission scenario saw a quota or a worker overcommitted.
    #[error("{0}")]
    Invariant(String),
}

/// Result alias of the bench.
pub type Result<T> = std::result::Result<T, Error>;

/// A benchmark database: the store, the configuration every scenario starts from.
pub struct Bench {
    /// The database.
    pub store: Store,
    /// Base configuration (one service, no metrics exporter).
    pub config: Config,
    /// The options.
    pub opts: BenchOptions,
}

/// Runs the chosen scenarios and prints the figures; `config` supplies `DATABASE_URL` if any.
pub async fn run(opts: BenchOptions, config: Config) -> Result<()> {
    if matches!(opts.scenario, Scenario::All | Scenario::Admission) {
        admission::run(&opts, &config)?;
        if opts.scenario == Scenario::Admission {
            return Ok(());
        }
    }
    let scratch = tempfile::Builder::new().prefix("berth-bench-").tempdir()?;
    let pg = match &config.database_url {
        Some(_) => None,
        None => Some(
            EmbeddedPostgres::start(Options {
                data_dir: scratch.path().join("data"),
                port: None,
                extra_settings: vec![],
            })
            .await?,
        ),
    };
    let url = pg.as_ref().map(|p| p.url("postgres")).or_else(|| config.database_url.clone()).unwrap_or_default();
    let result = async {
        let store = berth::dev::connect_and_migrate(&url).await?;
        if pg.is_none() && db::any_runs(&store).await? {
            return Err(Error::Refused(
                "DATABASE_URL names a database that holds runs; berth bench empties its tables, so give it an empty one"
                    .into(),
            ));
        }
        let machine = Machine::detect(db::settings(&store).await?, pg.is_some());
        machine.print(opts.json);
        let bench = Bench { store, config: bench_config(config, &opts, scratch.path().join("scratch")), opts };
        // Submissions never create namespaces: `default` and the bench's own exist before any.
        berth::api::create_namespaces(&bench.store, &bench.config).await?;
        let q = berth::config::QuotaConfig::default();
        let unlimited = Resources { cpu: q.cpu, memory: q.memory, pods: q.pods, storage: q.storage };
        let own = [
            ("backlog".to_string(), Resources::default(), Sharing::Fifo),
            ("history".to_string(), unlimited, Sharing::Fifo),
            (fairness::FAIR_NAMESPACE.to_string(), unlimited, Sharing::Fair),
        ];
        bench.store.namespace_create_missing(&own).await?;
        let figures = bench.all().await?;
        report::print(&figures, bench.opts.json);
        if !bench.opts.keep {
            db::reset(&bench.store).await?;
        }
        Ok(())
    }
    .await;
    if let Some(pg) = pg {
        pg.stop().await?;
    }
    result
}

fn bench_config(mut config: Config, opts: &BenchOptions, scratch: PathBuf) -> Config {
    config.metrics.port = 0;
    config.services.clear();
    config.services.insert(SERVICE.into(), ServiceConfig { runs_per_user: 5, ..ServiceConfig::default() });
    config.worker.services = vec![SERVICE.into()];
    config.worker.pods = opts.pods;
    config.worker.scratch_dir = scratch;
    config.worker.executor = berth::domain::ExecutorKind::Noop;
    if let Some(b) = opts.batch_size {
        config.settings.batch_size = b;
    }
    config
}

impl Bench {
    async fn all(&self) -> Result<Vec<Measurement>> {
        let mut reps = Vec::new();
        for rep in 0..self.opts.repeat.max(1) {
            if !self.opts.json {
                eprintln!("repetition {} of {}", rep + 1, self.opts.repeat.max(1));
            }
            let mut figures = Vec::new();
            let s = self.opts.scenario;
            if matches!(s, Scenario::All | Scenario::Throughput) {
                figures.extend(throughput::run(self).await?);
            }
            if matches!(s, Scenario::All | Scenario::Latency) {
                figures.extend(latency::run(self).await?);
            }
            if matches!(s, Scenario::All | Scenario::Depth) {
                figures.extend(depth::run(self, depth::Backlog::Queued).await?);
            }
            if matches!(s, Scenario::All | Scenario::History) {
                figures.extend(depth::run(self, depth::Backlog::Finished).await?);
            }
            if matches!(s, Scenario::All | Scenario::E2e) {
                figures.extend(e2e::run(self).await?);
            }
            if matches!(s, Scenario::All | Scenario::Lists) {
                figures.extend(lists::run(self).await?);
            }
            if matches!(s, Scenario::All | Scenario::Schedules | Scenario::Time) {
                figures.extend(schedules::run(self).await?);
            }
            if matches!(s, Scenario::All | Scenario::Retention | Scenario::Time) {
                figures.extend(retention::run(self).await?);
            }
            if matches!(s, Scenario::All | Scenario::Fairness) {
                figures.extend(fairness::run(self).await?);
            }
            if matches!(s, Scenario::All | Scenario::Workflow) {
                figures.extend(workflow::run(self).await?);
            }
            if s == Scenario::Seed {
                figures.extend(seed::run(self).await?);
            }
            reps.push(figures);
        }
        Ok(report::medians(&reps))
    }

    /// Prints progress on stderr (never in JSON mode).
    pub fn progress(&self, what: &str) {
        if !self.opts.json {
            eprintln!("  {what}");
        }
    }

    /// A bulk-enqueue template for `users` (one run each) in `flow`.
    pub fn batch(&self, flow: &str, namespace: &str, users: Vec<String>) -> SubmitBatchParams {
        SubmitBatchParams {
            name: format!("{SERVICE}-{flow}"),
            service: SERVICE.into(),
            namespace: namespace.into(),
            priority: berth::domain::Priority::Normal,
            // The bench's flows are literals of the domain's names ("legacy", "priority").
            flow: flow.parse().expect("a bench flow is a domain flow"),
            request: Resources { cpu: 0, memory: 0, pods: 1, storage: 0 },
            input_zip: Vec::new(),
            timeout_seconds: None,
            max_attempts: 1,
            user_ids: users,
            now: None,
        }
    }

    /// Waits until no run is pending (probing the hot partial indexes), or the timeout.
    pub async fn wait_drained(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        while db::pending(&self.store).await? && Instant::now() < deadline {
            tokio::time::sleep(POLL).await;
        }
        Ok(())
    }

    /// Waits until every run from `from` on has finished, or the timeout.
    pub async fn wait_finished_from(&self, from: berth::store::RunId, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        while db::pending_from(&self.store, from).await? > 0 && Instant::now() < deadline {
            tokio::time::sleep(POLL).await;
        }
        Ok(())
    }
}

/// The scheduler, workers and API running in-process for one measurement.
pub struct Services {
    supervisor: Supervisor,
}

impl Services {
    /// Starts a scheduler, `workers` worker loops with `config`'s executor kind (one that needs
    /// no configuration), and the API on `listener`.
    pub fn start(store: &Store, config: &Config, workers: usize, listener: Option<TcpListener>) -> Self {
        Self::start_with(store, config, workers, listener, Executor::of_kind(config.worker.executor))
    }

    /// [`Services::start`] with `executor` (e.g. an `http` one built from the configuration).
    pub fn start_with(
        store: &Store,
        config: &Config,
        workers: usize,
        listener: Option<TcpListener>,
        executor: Executor,
    ) -> Self {
        let mut supervisor = Supervisor::new(CancellationToken::new());
        supervisor.spawn(Scheduler::new(store.clone(), SchedulerSettings::from_config(config), Clock::System));
        for i in 0..workers {
            let mut settings = WorkerSettings::from_config(config);
            settings.name = format!("bench-worker-{i}");
            supervisor.spawn(Worker::new(store.clone(), settings, executor.clone()));
        }
        if let Some(listener) = listener {
            let state = berth::api::AppState { store: store.clone(), config: Arc::new(config.clone()) };
            supervisor.spawn(berth::api::Server::new(listener, state));
        }
        Self { supervisor }
    }

    /// Stops everything and waits for it.
    pub async fn stop(self) {
        if let Err(e) = self.supervisor.stop().await {
            tracing::error!(error = %e, "a bench service failed");
        }
    }
}

/// Deterministic user names: `count` picks among `users` users from `seed`.
pub fn users(seed: u64, users: u64, count: usize) -> Vec<String> {
    // A small xorshift keeps the sequence identical across rand versions.
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..count)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            format!("{}", x % users.max(1))
        })
        .collect()
}

/// Milliseconds in a duration, as a float.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
