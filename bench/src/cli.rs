//! The flags of `berth-bench` (and of `berth bench`, which runs it).

use std::time::Duration;

use super::{BenchOptions, SEED_DEFAULT, Scenario};

/// `berth-bench` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Which scenario to run.
    #[arg(long, value_enum, default_value = "all")]
    pub scenario: Scenario,
    /// Runs of the throughput burn-down.
    #[arg(long, default_value_t = 20_000)]
    pub runs: usize,
    /// Repetitions; the figures are their medians.
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
    /// One JSON object per measurement, one per line.
    #[arg(long)]
    pub json: bool,
    /// Seed of every random choice.
    #[arg(long, default_value_t = SEED_DEFAULT)]
    pub seed: u64,
    /// Worker loops in the throughput scenario.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Capacity in runs of each worker (claims take up to this many at once). No-op runs hold a
    /// slot for a few milliseconds, so a claim's batch size is about the slots freed while the
    /// previous claim ran: more slots, larger batches.
    #[arg(long, default_value_t = 1000)]
    pub pods: i64,
    /// Runs submitted one at a time by the latency, depth and history scenarios.
    #[arg(long, default_value_t = 300)]
    pub probes: usize,
    /// Milliseconds between two probes.
    #[arg(long, default_value_t = 20)]
    pub interval_ms: u64,
    /// Runs already in the table for the depth (queued) and history (finished) scenarios.
    #[arg(long, value_delimiter = ',', default_value = "1000,100000,1000000")]
    pub depths: Vec<u64>,
    /// Jobs of the end-to-end scenario.
    #[arg(long, default_value_t = 1000)]
    pub e2e_runs: usize,
    /// Admissions per cycle (`settings.batch-size`); default: the configured value.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Flows measured by the throughput and latency scenarios.
    #[arg(long, value_delimiter = ',', default_value = "legacy,priority")]
    pub flows: Vec<Flow>,
    /// Leave the last scenario's rows in the tables at the end, to look into them with SQL
    /// (the next `berth bench` on that database refuses to start until they are gone).
    #[arg(long)]
    pub keep: bool,
    /// Jobs in the tables of the lists scenario.
    #[arg(long, default_value_t = 1_000_000)]
    pub list_jobs: u64,
    /// Of which stored definitions (the rest are one-off jobs, as uploads leave them).
    #[arg(long, default_value_t = 100_000)]
    pub list_stored: u64,
    /// Finished runs in the tables of the lists scenario (one per one-off job, the rest over the
    /// stored jobs).
    #[arg(long, default_value_t = 3_000_000)]
    pub list_runs: u64,
    /// Users the lists scenario's jobs and runs belong to.
    #[arg(long, default_value_t = 2000)]
    pub list_users: u64,
    /// Timed requests of each kind in the lists scenario.
    #[arg(long, default_value_t = 100)]
    pub list_requests: usize,
    /// Print the plans of the lists scenario's statements on stderr (EXPLAIN ANALYZE, BUFFERS).
    #[arg(long)]
    pub plans: bool,
    /// Schedules due in the same second (schedules scenario).
    #[arg(long, default_value_t = 10_000)]
    pub schedules: usize,
    /// Seconds of steady load, once without and once with retention (retention scenario).
    #[arg(long, default_value_t = 180)]
    pub retention_seconds: u64,
    /// Runs per second of that load.
    #[arg(long, default_value_t = 50)]
    pub retention_rate: u64,
    /// KiB of (incompressible) input files per run of that load.
    #[arg(long, default_value_t = 16)]
    pub retention_input_kib: usize,
    /// Steps of the workflow scenario's workflow (a root, a fan-out, a fan-in; at least 3).
    #[arg(long, default_value_t = 1000)]
    pub workflow_steps: usize,
    /// `job-orchestrator` binaries of the seed scenario, one node each (default: those `.ci/run`
    /// builds, `target/seed-1.6.0/bin/job-orchestrator` and `target/seed-2.3.1/...`, found).
    #[arg(long, value_delimiter = ',')]
    pub seed_bin: Vec<std::path::PathBuf>,
}

/// A flow of the throughput scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Flow {
    /// Admission off: runs go straight to the workers.
    Legacy,
    /// Admission on: the scheduler leader admits every run.
    Priority,
}

impl Flow {
    /// The flow's name in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Flow::Legacy => "legacy",
            Flow::Priority => "priority",
        }
    }
}

impl BenchArgs {
    /// The options these flags describe.
    pub fn options(&self) -> BenchOptions {
        BenchOptions {
            scenario: self.scenario,
            runs: self.runs,
            repeat: self.repeat.max(1),
            json: self.json,
            seed: self.seed,
            workers: self.workers.max(1),
            pods: self.pods.max(1),
            probes: self.probes.max(1),
            interval: Duration::from_millis(self.interval_ms.max(1)),
            depths: self.depths.clone(),
            e2e_runs: self.e2e_runs.max(1),
            batch_size: self.batch_size,
            flows: self.flows.iter().map(|f| f.as_str()).collect(),
            keep: self.keep,
            lists: super::lists::ListSizes {
                jobs: self.list_jobs,
                stored: self.list_stored,
                runs: self.list_runs,
                users: self.list_users,
            },
            list_requests: self.list_requests.max(1),
            plans: self.plans,
            schedules: self.schedules.max(1),
            retention_seconds: self.retention_seconds.max(1),
            retention_rate: self.retention_rate.max(1),
            retention_input_kib: self.retention_input_kib,
            workflow_steps: self.workflow_steps.max(3),
            seed_bins: self.seed_bin.clone(),
        }
    }
}
