//! Issue 16: the `e2e` load (uploads over HTTP until each zip is downloadable) through berth's own
//! `process` executor, then through an `http` worker handing each run to a real seed executor
//! (`job-orchestrator client`, one node per binary given), in one run, side by side.
//!
//! The seed node is started here, on a free port with a private folder, and killed afterwards.
//! It starts the runs it received on its runner tick, every 500 ms, and (2.x) notices their end on
//! its updater tick, every 500 ms: that tick is the floor of its latency, whatever berth does.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::report::Measurement;
use berth::config::Config;

use super::{Bench, Error, Result, SERVICE, db, e2e};

/// The job: the trap line the seed 2.x validator requires (1.x and berth ignore it), then writes a
/// file that must come back in the result zip.
pub const RUN_SH: &str = "#!/bin/bash\ntrap 'echo $? > .orchestrator.exit' EXIT\necho hello > out.txt\n";

/// Where `.ci/run` builds the seed executors, looked for when `--seed-bin` is not given.
pub const DEFAULT_BINS: [&str; 2] =
    ["target/seed-1.6.0/bin/job-orchestrator", "target/seed-2.3.1/bin/job-orchestrator"];

/// Jobs sent one at a time (each after the previous one's zip is downloadable) on each side: the
/// latency of one job on idle services.
pub const PROBES: usize = 30;

/// How long a seed node may take to answer its first `GET /`.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// The process executor, then each seed node; two figures each (the burst, one at a time).
pub async fn run(bench: &Bench) -> Result<Vec<Measurement>> {
    let n = bench.opts.e2e_runs;
    let bins: Vec<PathBuf> = if bench.opts.seed_bins.is_empty() {
        DEFAULT_BINS.iter().map(PathBuf::from).filter(|p| p.is_file()).collect()
    } else {
        bench.opts.seed_bins.clone()
    };
    if bins.is_empty() {
        return Err(Error::Refused(format!(
            "the seed scenario needs a seed executor: none at {} (build them as docs/executors.md says, or give --seed-bin)",
            DEFAULT_BINS.join(", ")
        )));
    }
    let mut out = Vec::new();

    bench.progress(&format!(
        "seed: {n} run.sh jobs over HTTP through berth's process executor, then {PROBES} one at a time"
    ));
    let mut config = bench.config.clone();
    config.worker.executor = berth::domain::ExecutorKind::Process;
    config.worker.pods = e2e::PODS;
    out.extend(both(bench, &config, "process").await?);

    for bin in bins {
        let label = label_of(&bin);
        bench.progress(&format!("seed: the same through an http worker and {label} ({})", bin.display()));
        let node = Node::start(&bin).await?;
        let mut config = bench.config.clone();
        config.worker.executor = berth::domain::ExecutorKind::Http;
        config.worker.pods = e2e::PODS;
        let service = config.services.get_mut(SERVICE).ok_or_else(|| Error::Refused("no bench service".into()))?;
        service.executors = node.url.clone();
        let figures = both(bench, &config, label).await;
        drop(node);
        out.extend(figures?);
    }
    Ok(out)
}

/// The burst of `e2e_runs` jobs, then [`PROBES`] jobs one at a time, through `config`'s executor.
async fn both(bench: &Bench, config: &Config, label: &'static str) -> Result<Vec<Measurement>> {
    let n = bench.opts.e2e_runs;
    let burst = Measurement::new("seed", label, "upload_to_zip", n as u64);
    let burst = e2e::measure(bench, config, RUN_SH, burst).await?;
    let (attempts, runs) = db::lost_attempts(&bench.store).await?;
    bench.progress(&format!(
        "{label}: {attempts} attempts lost by the executor and retried by berth, over {runs} of {n} runs"
    ));
    let single = Measurement::new("seed", label, "one_at_a_time", PROBES as u64);
    let single = e2e::measure_one_at_a_time(bench, config, RUN_SH, PROBES, single).await?;
    let (attempts, runs) = db::lost_attempts(&bench.store).await?;
    bench.progress(&format!(
        "{label}: one at a time, {attempts} attempts lost and retried, over {runs} of {PROBES} runs"
    ));
    Ok(vec![burst, single])
}

/// `seed-<version>`, read from the `.crates.toml` `cargo install` left beside the binary's `bin/`,
/// else `seed`. Leaked: a handful per process, for the figures' `&'static str` labels.
fn label_of(bin: &Path) -> &'static str {
    let version = bin
        .parent()
        .and_then(Path::parent)
        .and_then(|root| std::fs::read_to_string(root.join(".crates.toml")).ok())
        .and_then(|toml| {
            let rest = toml.split("\"job-orchestrator ").nth(1)?;
            Some(rest.split_whitespace().next()?.to_string())
        });
    match version {
        Some(v) => Box::leak(format!("seed-{v}").into_boxed_str()),
        None => "seed",
    }
}

/// A running `job-orchestrator client`, killed when dropped.
struct Node {
    child: std::process::Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Node {
    async fn start(bin: &Path) -> Result<Node> {
        let dir = tempfile::Builder::new().prefix("berth-bench-seed-").tempdir()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = std::process::Command::new(bin)
            .arg("client")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("PORT", port.to_string())
            .env("DB_PATH", dir.path().join("payloads.sqlite"))
            .env("DATA_PATH", dir.path().join("data"))
            .env("MAX_AGE", "3600")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()?;
        let node = Node { child, url: format!("http://127.0.0.1:{port}"), _dir: dir };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + START_TIMEOUT;
        // `GET /` (ping): the one route every version's client answers.
        while !client.get(format!("{}/", node.url)).send().await.is_ok_and(|r| r.status().is_success()) {
            if Instant::now() > deadline {
                return Err(Error::Refused(format!(
                    "the seed executor {} did not answer on {}",
                    bin.display(),
                    node.url
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(node)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
