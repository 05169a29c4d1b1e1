//! Chaos on real processes: `berth api` (1), `scheduler` (2) and `worker` (3) on a private Postgres,
//! a stream of runs of varied length, and, on a fixed seed, `kill -9` of workers and of the leader, a
//! Postgres restart and a worker drain, while stored jobs fire on schedules every two seconds and
//! retention cleans finished runs after ten, a streaming job with restart policy `always` keeps
//! its application running, and a fan-out/fan-in workflow starts every four seconds. Checks that
//! nothing is lost, no attempts overlap, no limit is exceeded, every fire started exactly one run,
//! cleanup touched only finished runs, the streaming job never had two live applications, and
//! every workflow step ran once, after its parents succeeded (`workflows.rs`); prints a one-line
//! JSON summary.
//!
//! Short version: part of `cargo test`. Long version (see `docs/chaos.md`):
//! `BERTH_CHAOS_SECONDS=300 cargo test --release --test chaos -- --nocapture`.

#[path = "../common/mod.rs"]
mod common;

mod checks;
mod cluster;
mod streaming;
mod time;
mod workflows;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use checks::{Accepted, Kind, Samples};
use cluster::{Cluster, LEASE_SECONDS, Proc, Role};
use common::wait_for;
use sqlx::postgres::PgPoolOptions;
use tokio_util::sync::CancellationToken;

/// SplitMix64: a seeded generator, so a failing schedule can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    KillWorker,
    KillLeader,
    RestartPostgres,
    DrainWorker,
}

/// How long Postgres stays down: longer than the lease, so a wrong rescue would show.
const OUTAGE: Duration = Duration::from_secs(4);

/// The fault schedule: (seconds from the start, fault).
fn plan(rng: &mut Rng, seconds: f64) -> Vec<(f64, Fault)> {
    // The order is fixed so that even the short run sees every kind; the seed picks the gaps and
    // the victims.
    let kinds = [Fault::KillWorker, Fault::KillLeader, Fault::DrainWorker, Fault::KillWorker, Fault::KillLeader];
    let mut next_pg = (seconds / 2.0).min(30.0);
    let (mut t, mut i, mut out) = (3.0, 0, Vec::new());
    while t < seconds - 1.0 {
        if t >= next_pg {
            out.push((t, Fault::RestartPostgres));
            next_pg += 60.0;
            t += OUTAGE.as_secs_f64() + 2.0;
            continue;
        }
        out.push((t, kinds[i % kinds.len()]));
        i += 1;
        t += 2.0 + 1.5 * rng.unit();
    }
    out
}

fn script(kind: Kind, tag: &str, marker_dir: &std::path::Path, long: bool) -> String {
    let pause = if long { "2" } else { "0" };
    match kind {
        Kind::Ok => format!("sleep {pause}.$((RANDOM%9))\necho {tag} > out.txt\n"),
        Kind::Flaky => format!(
            "m={}/{tag}\nif [ ! -f $m ]; then touch $m; exit 5; fi\necho {tag} > out.txt\n",
            marker_dir.display()
        ),
        Kind::Fail => format!("sleep 0.$((RANDOM%5))\necho {tag} > out.txt\nexit 3\n"),
    }
}

#[derive(Default)]
struct Figures {
    worker_kills: Vec<(String, chrono::DateTime<chrono::Utc>)>,
    leader_kills: u32,
    leader_gaps_ms: Vec<u128>,
    pg_restarts: u32,
    /// Each PostgreSQL outage: (stopped, started again).
    outages: Vec<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)>,
    drains: u32,
    unavailable_answers: u32,
    problems: Vec<String>,
}

/// Submits `n` runs at an even pace over `seconds`, retrying each through 503s and dropped
/// connections until it is accepted.
async fn submit_stream(
    api: String,
    n: usize,
    seconds: f64,
    seed: u64,
    marker_dir: std::path::PathBuf,
) -> (HashMap<i64, Accepted>, u32, Vec<String>) {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("client");
    let mut rng = Rng(seed ^ 0xABCD);
    let (mut accepted, mut unavailable, mut problems) = (HashMap::new(), 0, Vec::new());
    let pace = Duration::from_secs_f64(seconds / n as f64);
    for k in 0..n {
        let roll = rng.below(100);
        let kind = match roll {
            0..5 => Kind::Fail,
            5..10 => Kind::Flaky,
            _ => Kind::Ok,
        };
        let tag = format!("chaos-{k}");
        let body = script(kind, &tag, &marker_dir, roll >= 90);
        loop {
            let form = reqwest::multipart::Form::new()
                .part("file", reqwest::multipart::Part::bytes(body.clone().into_bytes()).file_name("run.sh"))
                .text("user_id", (k % 5 + 1).to_string())
                .text("service", "example");
            match http.post(format!("{api}/upload")).multipart(form).send().await {
                Ok(res) if res.status() == 201 => {
                    let v: serde_json::Value = res.json().await.expect("upload json");
                    accepted.insert(v["id"].as_i64().expect("id"), Accepted { kind, tag });
                    break;
                }
                Ok(res) if res.status() == 503 => {
                    let v: serde_json::Value = res.json().await.unwrap_or_default();
                    if v["error"] != "unavailable" {
                        problems.push(format!("a 503 without the JSON error body: {v}"));
                    }
                    unavailable += 1;
                }
                Ok(res) => {
                    problems.push(format!(
                        "upload {k} answered {}: {}",
                        res.status(),
                        res.text().await.unwrap_or_default()
                    ));
                    break;
                }
                Err(_) => {}
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        tokio::time::sleep(pace).await;
    }
    (accepted, unavailable, problems)
}

async fn leader(pool: &sqlx::PgPool) -> Option<(i64, String)> {
    sqlx::query_as("select epoch, holder from leader where id = 1").fetch_one(pool).await.ok()
}

/// Any process that exited without the test stopping it is a failure.
fn check_alive(procs: &mut [Proc], problems: &mut Vec<String>) {
    for p in procs.iter_mut().filter(|p| !p.expected_exit) {
        if let Ok(Some(status)) = p.child.try_wait() {
            problems.push(format!("{} exited on its own: {status}", p.name));
            p.expected_exit = true;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_under_chaos() {
    let seconds: f64 = std::env::var("BERTH_CHAOS_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(20.0);
    let seed: u64 = std::env::var("BERTH_CHAOS_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(4);
    let mut rng = Rng(seed);
    let mut c = Cluster::start().await;
    let mut procs = vec![c.spawn(Role::Api, "api"), c.spawn(Role::Scheduler, "scheduler-a")];
    procs.push(c.spawn(Role::Scheduler, "scheduler-b"));
    let mut next_worker = 0;
    for _ in 0..3 {
        procs.push(c.spawn(Role::Worker, &format!("worker-{next_worker}")));
        next_worker += 1;
    }
    let pool = PgPoolOptions::new().max_connections(5).acquire_timeout(Duration::from_secs(2));
    let pool = pool.connect(&c.url).await.expect("connect");
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("client");
    wait_for("the API, a leader and three workers", Duration::from_secs(60), || async {
        let health = http.get(format!("{}/health", c.api)).send().await.is_ok_and(|r| r.status() == 200);
        let workers: i64 = sqlx::query_scalar("select count(*) from workers").fetch_one(&pool).await.unwrap_or(0);
        let led = leader(&pool).await.is_some_and(|(e, _)| e > 0);
        (health && workers == 3 && led).then_some(())
    })
    .await;

    let scheduled = time::create_schedules(&http, &c.api).await;
    let stream = streaming::start(&http, &c.api).await;
    let stream_seen = Arc::new(Mutex::new(streaming::Seen::default()));
    let stop_stream = CancellationToken::new();
    let stream_sampler =
        tokio::spawn(streaming::sample(pool.clone(), stream.job, stream_seen.clone(), stop_stream.clone()));
    let wfs = workflows::create(&http, &c.api).await;
    let wf_starter = tokio::spawn(workflows::start_stream(c.api.clone(), wfs.job, seconds));

    let samples = Arc::new(Mutex::new(Samples::default()));
    let stop = CancellationToken::new();
    let sampler = tokio::spawn(checks::sample_limits(pool.clone(), samples.clone(), stop.clone()));
    let captured = time::Captured::default();
    let stop_collecting = CancellationToken::new();
    let collector = tokio::spawn(time::collect_outputs(
        http.clone(),
        c.api.clone(),
        pool.clone(),
        captured.clone(),
        stop_collecting.clone(),
    ));
    let n = (seconds * 4.0) as usize;
    // Jobs run as unprivileged uids (a different one for each attempt, maybe): their markers
    // go in a folder every uid may write, sticky like /tmp.
    let markers = c.logs().join("markers");
    std::fs::create_dir(&markers).expect("markers folder");
    std::fs::set_permissions(&markers, std::os::unix::fs::PermissionsExt::from_mode(0o1777)).expect("chmod");
    let submitter = tokio::spawn(submit_stream(c.api.clone(), n, seconds, seed, markers));

    let started = Instant::now();
    let mut f = Figures::default();
    for (at, fault) in plan(&mut rng, seconds) {
        tokio::time::sleep_until((started + Duration::from_secs_f64(at)).into()).await;
        match fault {
            Fault::KillWorker | Fault::DrainWorker => {
                let live: Vec<usize> =
                    (0..procs.len()).filter(|&i| procs[i].role == Role::Worker && !procs[i].expected_exit).collect();
                let mut i = live[rng.below(live.len())];
                if fault == Fault::DrainWorker {
                    // The busiest worker, so that the drain has runs to hand back.
                    let busiest: Option<String> = sqlx::query_scalar(
                        "select w.name from runs r join workers w on w.id = r.worker_id \
                         where r.state = 'running' group by w.name order by count(*) desc, w.name limit 1",
                    )
                    .fetch_optional(&pool)
                    .await
                    .ok()
                    .flatten();
                    i = live.iter().copied().find(|&j| Some(&procs[j].name) == busiest.as_ref()).unwrap_or(i);
                }
                if fault == Fault::KillWorker && f.worker_kills.is_empty() {
                    // The first kill takes the streaming application's worker: its run restarts
                    // elsewhere, and its old process must not outlive the worker.
                    let host: Option<String> = sqlx::query_scalar(
                        "select w.name from runs r join workers w on w.id = r.worker_id \
                         where r.id = $1 and r.state = 'running'",
                    )
                    .bind(stream.run)
                    .fetch_optional(&pool)
                    .await
                    .ok()
                    .flatten();
                    i = live.iter().copied().find(|&j| Some(&procs[j].name) == host.as_ref()).unwrap_or(i);
                }
                let name = procs[i].name.clone();
                if fault == Fault::KillWorker {
                    procs[i].kill9();
                    f.worker_kills.push((name, chrono::Utc::now()));
                } else {
                    procs[i].term();
                    let status = procs[i].wait_exit(Duration::from_secs(30)).await;
                    if !status.success() {
                        f.problems.push(format!("drained {name} exited with {status}"));
                    }
                    f.drains += 1;
                }
                procs.push(c.spawn(Role::Worker, &format!("worker-{next_worker}")));
                next_worker += 1;
            }
            Fault::KillLeader => {
                let Some((epoch, holder)) = leader(&pool).await else { continue };
                let Some(i) = procs.iter().position(|p| holder == format!("scheduler-{}", p.pid()) && !p.expected_exit)
                else {
                    continue;
                };
                let name = procs[i].name.clone();
                procs[i].kill9();
                let killed = Instant::now();
                procs.push(c.spawn(Role::Scheduler, &name));
                wait_for("a new leader", Duration::from_secs(30), || async {
                    leader(&pool).await.filter(|(e, _)| *e > epoch).map(|_| ())
                })
                .await;
                f.leader_gaps_ms.push(killed.elapsed().as_millis());
                f.leader_kills += 1;
            }
            Fault::RestartPostgres => {
                let down = Instant::now();
                let stopped = chrono::Utc::now();
                c.stop_pg().await;
                let probe = http.get(format!("{}/api/v1/runs/1", c.api)).send().await;
                match probe {
                    Ok(res) if res.status() == 503 => {
                        let v: serde_json::Value = res.json().await.unwrap_or_default();
                        if v["error"] != "unavailable" {
                            f.problems.push(format!("the outage 503 has no JSON error body: {v}"));
                        }
                        f.unavailable_answers += 1;
                    }
                    Ok(res) => f.problems.push(format!("during the outage the API answered {}", res.status())),
                    Err(e) => f.problems.push(format!("during the outage the API did not answer: {e}")),
                }
                tokio::time::sleep_until((down + OUTAGE).into()).await;
                c.start_pg().await;
                f.pg_restarts += 1;
                let back = chrono::Utc::now();
                f.outages.push((stopped, back));
                let live: Vec<String> = procs
                    .iter()
                    .filter(|p| p.role == Role::Worker && !p.expected_exit)
                    .map(|p| p.name.clone())
                    .collect();
                wait_for("every live worker to heartbeat after the restart", Duration::from_secs(30), || async {
                    let beating: i64 =
                        sqlx::query_scalar("select count(*) from workers where name = any($1) and heartbeat_at > $2")
                            .bind(&live)
                            .bind(back)
                            .fetch_one(&pool)
                            .await
                            .unwrap_or(0);
                    (beating == live.len() as i64).then_some(())
                })
                .await;
            }
        }
        check_alive(&mut procs, &mut f.problems);
    }

    let (accepted, unavailable, submit_problems) = submitter.await.expect("submitter");
    f.unavailable_answers += unavailable;
    f.problems.extend(submit_problems);
    let (wf_started, wf_problems) = wf_starter.await.expect("workflow starter");
    f.problems.extend(wf_problems);
    let fired_until = time::pause_schedules(&http, &c.api, &pool, &scheduled).await;
    let stream_end = streaming::abort(&http, &c.api, &stream).await;
    stop_stream.cancel();
    stream_sampler.await.expect("streaming sampler");
    let deadline = Duration::from_secs_f64(60.0 + seconds / 2.0);
    wait_for("every run to reach a terminal state", deadline, || async {
        let open: i64 = sqlx::query_scalar(
            "select count(*) from runs \
             where state not in ('succeeded', 'failed', 'timed_out', 'cancelled', 'aborted', 'cleaned')",
        )
        .fetch_one(&pool)
        .await
        .unwrap_or(1);
        (open == 0).then_some(())
    })
    .await;
    // Retention catches up with the runs that finished last; the collector reads their results
    // meanwhile, then once more for those it has not read (they are not cleaned yet).
    time::wait_cleaned(&pool).await;
    stop.cancel();
    sampler.await.expect("sampler");
    stop_collecting.cancel();
    collector.await.expect("collector");
    time::sweep(&http, &c.api, &pool, &captured).await;
    check_alive(&mut procs, &mut f.problems);

    let killed: Vec<String> = f.worker_kills.iter().map(|(n, _)| n.clone()).collect();
    let end = checks::end_state(&pool, &accepted, &killed).await;
    let captured = std::mem::take(&mut *captured.lock().unwrap());
    let (outputs_checked, output_problems) = time::check_outputs(&pool, &captured, |id, job| {
        accepted
            .get(&id)
            .map(|a| a.tag.clone())
            .or_else(|| scheduled.tags.get(&job).cloned())
            .or_else(|| wfs.tags.get(&job).cloned())
    })
    .await;
    f.problems.extend(output_problems);
    let fires = time::check_fires(&pool, &scheduled, fired_until).await;
    let cleaning = time::check_cleaning(&pool, &scheduled).await;
    let (stream_figures, stream_problems) = streaming::check(&http, &c.api, &pool, &stream).await;
    f.problems.extend(stream_problems);
    let stream_seen = std::mem::take(&mut *stream_seen.lock().unwrap());
    let wf = workflows::check(&pool).await;
    let mut requeue_ms = Vec::new();
    for (name, at) in &f.worker_kills {
        let first: Option<chrono::DateTime<chrono::Utc>> = sqlx::query_scalar(
            "select min(e.at) from run_events e join workers w on e.details->>'worker_id' = w.id::text \
             where w.name = $1 and e.kind = 'requeued' and e.actor = 'scheduler'",
        )
        .bind(name)
        .fetch_one(&pool)
        .await
        .expect("requeue events");
        if let Some(first) = first {
            // Nobody can requeue while PostgreSQL is down: a kill just before an outage waits it
            // out, so the time it was down does not count against the rescue.
            let down: i64 = f
                .outages
                .iter()
                .map(|(stopped, back)| (first.min(*back) - (*at).max(*stopped)).num_milliseconds().max(0))
                .sum();
            requeue_ms.push((first - *at).num_milliseconds() - down);
        }
    }
    requeue_ms.sort_unstable();

    // Every process still running stops cleanly on SIGTERM.
    let running: Vec<usize> = (0..procs.len()).filter(|&i| !procs[i].expected_exit).collect();
    for &i in &running {
        procs[i].term();
    }
    for &i in &running {
        let p = &mut procs[i];
        let status = p.wait_exit(Duration::from_secs(30)).await;
        if !status.success() {
            f.problems.push(format!("{} exited with {status} on SIGTERM", p.name));
        }
    }

    let samples = std::mem::take(&mut *samples.lock().unwrap());
    let summary = serde_json::json!({
        "seconds": seconds, "seed": seed, "runs": end.runs, "accepted": accepted.len(),
        "kills": { "workers": f.worker_kills.len(), "leaders": f.leader_kills },
        "pg_restarts": f.pg_restarts, "drains": f.drains, "lost": end.lost,
        "overlapping_attempts": end.overlapping, "lost_attempts": end.lost_attempts,
        "handed_back": end.handed_back, "retried_runs": end.retried_runs,
        "limit_samples": samples.taken, "limit_violations": samples.violations.len(),
        "unavailable_503s": f.unavailable_answers,
        "longest_leader_gap_ms": f.leader_gaps_ms.iter().max(),
        "worker_death_to_requeue_ms": { "max": requeue_ms.last(), "median": requeue_ms.get(requeue_ms.len() / 2) },
        "scheduled_runs": fires.runs, "schedule_fires": fires.by_outcome,
        "cleaned": cleaning.cleaned, "outputs_checked": outputs_checked,
        "streaming": { "ended": stream_end, "run": stream_figures,
                       "samples": { "database": stream_seen.db_samples, "processes": stream_seen.proc_samples },
                       "max_live_processes": stream_seen.max_processes,
                       "max_open_attempts": stream_seen.max_open_attempts,
                       "violations": stream_seen.violations.len() },
        "workflow_runs": wf.runs, "workflow_steps": wf.steps, "workflow_edges_checked": wf.edges,
    });
    println!("{summary}");
    let problems: Vec<&String> = f
        .problems
        .iter()
        .chain(&end.problems)
        .chain(&samples.violations)
        .chain(&fires.problems)
        .chain(&cleaning.problems)
        .chain(&stream_seen.violations)
        .chain(&wf.problems)
        .take(20)
        .collect();
    assert!(problems.is_empty(), "chaos found problems (logs in {}):\n{problems:#?}", c.logs().display());
    assert_eq!(end.runs, accepted.len() as i64, "runs rows vs accepted submissions");
    assert_eq!(accepted.len(), n, "every submission was eventually accepted");
    assert_eq!(end.lost, 0);
    assert_eq!(end.overlapping, 0);
    assert!(samples.taken > 0, "the sampler never read the database");
    assert!(fires.by_outcome.get("started").is_some_and(|n| *n > 0), "no schedule started a run");
    assert!(cleaning.cleaned > 0, "retention cleaned nothing");
    assert!(stream_seen.db_samples > 0 && stream_seen.proc_samples > 0, "the streaming sampler saw nothing");
    assert_eq!(stream_seen.max_processes, 1, "the streaming application never ran, or ran twice at once");
    assert!(wf_started > 0 && wf.runs >= wf_started as i64, "{wf_started} workflow starts, {} workflow runs", wf.runs);
    assert!(f.pg_restarts >= 1 && f.unavailable_answers >= 1, "the outage was not seen by the API");
    assert!(
        requeue_ms.iter().all(|ms| *ms < (LEASE_SECONDS as i64 + 5) * 1000),
        "a dead worker's runs waited too long: {requeue_ms:?}"
    );
    c.stop_pg().await;
}
