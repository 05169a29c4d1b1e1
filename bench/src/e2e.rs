//! End to end: `run.sh` jobs from many users through `POST /upload` over real HTTP, executed as
//! processes, until each result zip is downloadable; then every zip is fetched and checked.
//! [`measure`] is the same load with any executor (the `seed` scenario reuses it).

use std::sync::Arc;
use std::time::{Duration, Instant};

use berth::config::Config;
use berth::executor::Executor;
use reqwest::multipart::{Form, Part};
use tokio::sync::Mutex;

use super::report::Measurement;
use super::{Bench, Error, MEASUREMENT_TIMEOUT, Result, SERVICE, Services, db};

/// Distinct users uploading.
pub const USERS: u64 = 50;
/// Concurrent HTTP clients uploading.
pub const CLIENTS: usize = 16;
/// Concurrent runs per worker (processes).
pub const PODS: i64 = 16;
/// Pause between two polling rounds over the jobs not yet downloadable.
pub const POLL: Duration = Duration::from_millis(20);
/// The job: writes a file that must come back in the result zip.
pub const RUN_SH: &str = "#!/bin/bash\necho \"hello from $BERTH_RUN_ID\" > out.txt\n";

/// Uploads, waits, downloads; one figure.
pub async fn run(bench: &Bench) -> Result<Vec<Measurement>> {
    let n = bench.opts.e2e_runs;
    bench.progress(&format!("e2e: {n} run.sh jobs over HTTP"));
    let mut config = bench.config.clone();
    config.worker.executor = berth::domain::ExecutorKind::Process;
    config.worker.pods = PODS;
    let figure = Measurement::new("e2e", "priority", "upload_to_zip", n as u64);
    Ok(vec![measure(bench, &config, RUN_SH, figure).await?])
}

/// Empties the tables, starts a scheduler, one worker (with `config`'s executor) and the API, and
/// pushes `bench.opts.e2e_runs` uploads of `script` through them until each zip is downloadable;
/// `figure` gets the rate, the upload-to-downloadable percentiles and the jobs whose zip was wrong.
pub async fn measure(bench: &Bench, config: &Config, script: &'static str, figure: Measurement) -> Result<Measurement> {
    let n = bench.opts.e2e_runs;
    let (services, base) = start(bench, config).await?;
    let client = reqwest::Client::new();

    let started = Instant::now();
    let cpu_before = super::cpu::busy_ticks();
    let uploaded = upload_all(&client, &base, script, super::users(bench.opts.seed, USERS, n)).await;
    let done = wait_downloadable(&client, &base, &uploaded?).await;
    let seconds = started.elapsed().as_secs_f64();
    let cpu_after = super::cpu::busy_ticks();
    let verified = match &done {
        Ok(done) => verify(&client, &base, done).await,
        Err(_) => 0,
    };
    services.stop().await;
    let done = done?;
    let mut latencies: Vec<f64> = done.iter().filter_map(|d| d.latency_ms).collect();
    Ok(Measurement {
        runs_per_second: Some(latencies.len() as f64 / seconds),
        // Everything on the machine: the HTTP client, the API, the leader, the worker, the jobs'
        // processes and PostgreSQL (and the client's polling).
        cpu_us_per_run: super::cpu::per_run_us(cpu_before, cpu_after, latencies.len() as u64),
        lost: Some((n - verified) as u64),
        ..figure
    }
    .with_latencies(&mut latencies))
}

/// `probes` uploads of `script`, one at a time: each is waited for until its zip is downloadable
/// before the next is sent, through services with `config`. `figure` gets the upload-to-downloadable
/// percentiles on idle services and the jobs that never became downloadable.
pub async fn measure_one_at_a_time(
    bench: &Bench,
    config: &Config,
    script: &'static str,
    probes: usize,
    figure: Measurement,
) -> Result<Measurement> {
    let (services, base) = start(bench, config).await?;
    let client = reqwest::Client::new();
    let (mut latencies, mut lost) = (Vec::new(), 0);
    let mut outcome = Ok(());
    for user in super::users(bench.opts.seed, USERS, probes) {
        let done = match upload_all(&client, &base, script, vec![user]).await {
            Ok(up) => wait_downloadable(&client, &base, &up).await,
            Err(e) => Err(e),
        };
        match done {
            Ok(done) => match done.first().and_then(|d| d.latency_ms) {
                Some(ms) => latencies.push(ms),
                None => lost += 1,
            },
            Err(e) => {
                outcome = Err(e);
                break;
            }
        }
    }
    services.stop().await;
    outcome?;
    Ok(Measurement { runs_per_second: None, lost: Some(lost), ..figure }.with_latencies(&mut latencies))
}

/// Empties the tables and starts a scheduler, one worker with `config`'s executor and the API;
/// returns them and the API's base URL once warmed up.
async fn start(bench: &Bench, config: &Config) -> Result<(Services, String)> {
    db::reset(&bench.store).await?;
    let executor = Executor::from_config(config).map_err(Error::Refused)?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let base = format!("http://{}", listener.local_addr()?);
    let services = Services::start_with(&bench.store, config, 1, Some(listener), executor);
    tokio::time::sleep(super::latency::WARM_UP).await;
    Ok((services, base))
}

/// One upload: the run id and when its request was sent.
struct Uploaded {
    id: i64,
    sent: Instant,
    /// Upload to first 200 on HEAD /download.
    latency_ms: Option<f64>,
    /// Answered 200, or a final failure status.
    settled: bool,
}

async fn upload_all(
    client: &reqwest::Client,
    base: &str,
    script: &'static str,
    users: Vec<String>,
) -> Result<Vec<Uploaded>> {
    let queue = Arc::new(Mutex::new(users.into_iter().enumerate().collect::<Vec<_>>()));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..CLIENTS {
        let (client, url, queue) = (client.clone(), format!("{base}/upload"), queue.clone());
        tasks.spawn(async move {
            let mut mine = Vec::new();
            loop {
                let Some((_, user)) = queue.lock().await.pop() else { return Ok::<_, Error>(mine) };
                let form = Form::new()
                    .part("file", Part::bytes(script.as_bytes().to_vec()).file_name("run.sh"))
                    .text("user_id", user)
                    .text("service", SERVICE);
                let sent = Instant::now();
                let answer: serde_json::Value =
                    client.post(&url).multipart(form).send().await?.error_for_status()?.json().await?;
                let id = answer.get("id").and_then(serde_json::Value::as_i64).unwrap_or(0);
                mine.push(Uploaded { id, sent, latency_ms: None, settled: false });
            }
        });
    }
    let mut all = Vec::new();
    while let Some(part) = tasks.join_next().await {
        all.extend(part.map_err(std::io::Error::other)??);
    }
    Ok(all)
}

/// Polls `HEAD /download/{id}` over the jobs not yet done until each answers 200 (a zip).
async fn wait_downloadable(client: &reqwest::Client, base: &str, uploads: &[Uploaded]) -> Result<Vec<Uploaded>> {
    let mut out: Vec<Uploaded> =
        uploads.iter().map(|u| Uploaded { id: u.id, sent: u.sent, latency_ms: None, settled: false }).collect();
    let deadline = Instant::now() + MEASUREMENT_TIMEOUT;
    while out.iter().any(|u| !u.settled) && Instant::now() < deadline {
        for u in out.iter_mut().filter(|u| !u.settled) {
            let status = client.head(format!("{base}/download/{}", u.id)).send().await?.status();
            if status == reqwest::StatusCode::OK {
                u.latency_ms = Some(super::ms(u.sent.elapsed()));
            }
            u.settled = status != reqwest::StatusCode::ACCEPTED;
        }
        tokio::time::sleep(POLL).await;
    }
    Ok(out)
}

/// Counts the jobs whose result zip, fetched with `GET /download/{id}`, holds the `out.txt` the job wrote.
async fn verify(client: &reqwest::Client, base: &str, done: &[Uploaded]) -> usize {
    let mut ok = 0;
    for u in done.iter().filter(|u| u.latency_ms.is_some()) {
        let Ok(answer) = client.get(format!("{base}/download/{}", u.id)).send().await else { continue };
        if answer.status() != reqwest::StatusCode::OK {
            continue;
        }
        let Ok(zip) = answer.bytes().await else { continue };
        let Ok(mut archive) = zip::ZipArchive::new(std::io::Cursor::new(zip)) else { continue };
        if archive.by_name("out.txt").is_ok() {
            ok += 1;
        }
    }
    ok
}
