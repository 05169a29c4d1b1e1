//! The chaos test's streaming job: one application with restart policy `always` that exits 0
//! every few seconds (so it restarts after successes too) while workers are killed and drained and
//! PostgreSQL restarts. Sampled every 50 ms, from the database (the job's active runs and its
//! attempts that have not ended) and from the machine's processes (the application renames
//! itself, so `/proc` shows every live copy whichever worker started it, even while the database
//! is down): at most one live application at every sampled moment.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

/// Who starts the streaming run (the chaos checks of uploads leave it out).
pub const TRIGGERED_BY: &str = "chaos-stream";

/// The name the application's process shows, unique to this test process.
fn marker() -> String {
    format!("berth-chaos-stream-{}", std::process::id())
}

/// The streaming job and its one run.
pub struct Stream {
    /// Job id.
    pub job: i64,
    /// Run id.
    pub run: i64,
}

/// What the sampler saw.
#[derive(Debug, Default)]
pub struct Seen {
    /// Samples of the database taken.
    pub db_samples: u64,
    /// Samples of the processes taken.
    pub proc_samples: u64,
    /// Most live applications seen at once, in the processes.
    pub max_processes: usize,
    /// Most attempts of the job not ended at once, in the database.
    pub max_open_attempts: i64,
    /// One line per moment with more than one.
    pub violations: Vec<String>,
}

/// Creates the job and starts its run.
pub async fn start(http: &reqwest::Client, api: &str) -> Stream {
    // With files (a run.sh), as the checks expect every unfinished run to have its input files.
    let script = format!("exec -a {} sleep $((6 + RANDOM % 4))\n", marker());
    let form = reqwest::multipart::Form::new()
        .text("name", "chaos stream")
        .text("service", "example")
        .text("kind", "streaming")
        .text("restart_policy", "always")
        .text("failure_retry_interval", "0.2")
        .text("submission_retry_interval", "0.2")
        .part("file", reqwest::multipart::Part::bytes(script.into_bytes()).file_name("run.sh"));
    let res = http.post(format!("{api}/api/v1/jobs")).multipart(form).send().await.expect("create the streaming job");
    assert_eq!(res.status(), 201, "streaming job refused: {}", res.text().await.unwrap_or_default());
    let job = res.json::<serde_json::Value>().await.expect("job json")["id"].as_i64().expect("job id");
    let res = http
        .post(format!("{api}/api/v1/jobs/{job}/runs"))
        .json(&serde_json::json!({"triggered_by": TRIGGERED_BY}))
        .send()
        .await
        .expect("start the streaming run");
    assert_eq!(res.status(), 201, "streaming start refused: {}", res.text().await.unwrap_or_default());
    let run = res.json::<serde_json::Value>().await.expect("run json")["id"].as_i64().expect("run id");
    Stream { job, run }
}

/// Samples until `stop`.
pub async fn sample(pool: PgPool, job: i64, seen: Arc<Mutex<Seen>>, stop: CancellationToken) {
    let marker = marker();
    while !stop.is_cancelled() {
        let live = live_processes(&marker);
        let db = sqlx::query_as::<_, (i64, i64)>(
            "select (select count(*) from runs where job_id = $1 \
                     and state in ('waiting', 'queued', 'admitted', 'running')), \
                    (select count(*) from attempts_seen a join runs r on r.id = a.run_id \
                     where r.job_id = $1 and a.finished_at is null)",
        )
        .bind(job)
        .fetch_one(&pool)
        .await;
        {
            let mut s = seen.lock().unwrap();
            s.proc_samples += 1;
            s.max_processes = s.max_processes.max(live.len());
            if live.len() > 1 {
                s.violations.push(format!("{} live applications at once: pids {live:?}", live.len()));
            }
            if let Ok((active, open)) = db {
                s.db_samples += 1;
                s.max_open_attempts = s.max_open_attempts.max(open);
                if active > 1 || open > 1 {
                    s.violations.push(format!("the database shows {active} active runs and {open} open attempts"));
                }
            }
        }
        tokio::select! {
            _ = stop.cancelled() => {}
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    }
}

/// Pids whose command line starts with `marker` (zombies have none, so an exited copy not yet
/// reaped is not counted).
fn live_processes(marker: &str) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c.starts_with(marker.as_bytes())))
        .collect()
}

/// Aborts the run (through 503s while the API or the database is away) and waits for it to end.
pub async fn abort(http: &reqwest::Client, api: &str, s: &Stream) -> String {
    crate::common::wait_for("the streaming run to be aborted", Duration::from_secs(60), || async {
        let res = http.post(format!("{api}/api/v1/runs/{}/abort", s.run)).send().await.ok()?;
        if res.status() != 200 && res.status() != 409 {
            return None;
        }
        let (_, run) = get(http, api, s.run).await?;
        let state = run["state"].as_str()?.to_string();
        (state != "running").then_some(state)
    })
    .await
}

async fn get(http: &reqwest::Client, api: &str, id: i64) -> Option<(u16, serde_json::Value)> {
    let res = http.get(format!("{api}/api/v1/runs/{id}")).send().await.ok()?;
    Some((res.status().as_u16(), res.json().await.ok()?))
}

/// The run's end, checked: aborted, the job's only run, restarted at least once, and its
/// figures for the summary.
pub async fn check(http: &reqwest::Client, api: &str, pool: &PgPool, s: &Stream) -> (serde_json::Value, Vec<String>) {
    let mut problems = Vec::new();
    let runs: i64 = sqlx::query_scalar("select count(*) from runs where job_id = $1")
        .bind(s.job)
        .fetch_one(pool)
        .await
        .expect("streaming runs");
    if runs != 1 {
        problems.push(format!("the streaming job has {runs} runs, expected its one"));
    }
    let Some((_, run)) = get(http, api, s.run).await else {
        problems.push("the streaming run cannot be read".into());
        return (serde_json::Value::Null, problems);
    };
    if run["state"] != "aborted" {
        problems.push(format!("the streaming run ended {}, expected aborted", run["state"]));
    }
    let restarts = run["events"].as_array().map(|e| e.iter().filter(|e| e["kind"] == "restart").count()).unwrap_or(0);
    if restarts == 0 {
        problems.push("the streaming run was never restarted".into());
    }
    let st = &run["streaming"];
    let figures = serde_json::json!({
        "restarts": restarts, "executions": st["execution_attempts"], "submissions": st["submission_attempts"],
        "execution_failures": st["execution_failures"], "submission_failures": st["submission_failures"],
        "attempts": run["attempts"].as_array().map(Vec::len),
    });
    (figures, problems)
}
