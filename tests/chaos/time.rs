//! Time under chaos (issue 14): stored jobs on schedules firing every two seconds, and retention
//! with a period of seconds. While the chaos runs, a collector reads every succeeded run's result
//! before retention removes it; at the end the fires are checked against the runs (exactly one run
//! per started fire, none without its fire, no gaps) and every cleaned run against the cutoff.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::checks::{TERMINAL, TIMELINE, effective_state};
use crate::cluster::RETENTION_SECONDS;
use crate::common::wait_for;

/// Seconds between two fire times of every schedule.
pub const EVERY_SECONDS: i64 = 2;

/// The scheduled jobs: (name, concurrency policy, what run.sh does before writing its tag). The
/// `forbid` one runs longer than the interval, so some of its fires are skipped.
const JOBS: [(&str, &str, &str); 3] =
    [("tick-a", "allow", "sleep 0.$((RANDOM%5))"), ("tick-b", "allow", "true"), ("tick-c", "forbid", "sleep 3")];

/// The stored jobs on schedules.
#[derive(Debug, Clone)]
pub struct Scheduled {
    /// job id → the tag its runs write to `out.txt`.
    pub tags: HashMap<i64, String>,
    /// Just before the first schedule was set.
    pub set_at: DateTime<Utc>,
}

/// Creates the stored jobs (each with a `run.sh`, so their runs have input files that retention
/// must keep) and puts them on `*/2 * * * * *`.
pub async fn create_schedules(http: &reqwest::Client, api: &str) -> Scheduled {
    let set_at = Utc::now();
    let mut tags = HashMap::new();
    for (k, (name, policy, before)) in JOBS.iter().enumerate() {
        let tag = format!("sched-{name}");
        let script = format!("{before}\necho {tag} > out.txt\n");
        let form = reqwest::multipart::Form::new()
            .text("name", name.to_string())
            .text("service", "example")
            // Users of their own, so the per-user cap of the uploads' users is not shared.
            .text("user", (6 + k).to_string())
            .part("file", reqwest::multipart::Part::bytes(script.into_bytes()).file_name("run.sh"));
        let res = http.post(format!("{api}/api/v1/jobs")).multipart(form).send().await.expect("create job");
        assert_eq!(res.status(), 201, "create job {name}");
        let job: Value = res.json().await.expect("job json");
        let id = job["id"].as_i64().expect("job id");
        let body = json!({"cron": format!("*/{EVERY_SECONDS} * * * * *"), "concurrency_policy": policy});
        let res = http.put(format!("{api}/api/v1/jobs/{id}/schedule")).json(&body).send().await.expect("schedule");
        assert_eq!(res.status(), 200, "schedule of {name}");
        tags.insert(id, tag);
    }
    Scheduled { tags, set_at }
}

/// Waits until every schedule has decided its fire times up to `until` (the leader is current),
/// then pauses them all, so the runs can drain. Returns the last fire time waited for.
pub async fn pause_schedules(http: &reqwest::Client, api: &str, pool: &PgPool, s: &Scheduled) -> DateTime<Utc> {
    let now = Utc::now();
    let until = DateTime::from_timestamp(now.timestamp() - now.timestamp() % EVERY_SECONDS, 0).expect("instant");
    let jobs: Vec<i64> = s.tags.keys().copied().collect();
    wait_for("the leader to decide every fire time so far", Duration::from_secs(30), || async {
        let behind: i64 = sqlx::query_scalar(
            "select count(*) from unnest($1::bigint[]) j (id) \
             where coalesce((select max(fire_at) from schedule_fires f where f.job_id = j.id), '-infinity') < $2",
        )
        .bind(&jobs)
        .bind(until)
        .fetch_one(pool)
        .await
        .unwrap_or(1);
        (behind == 0).then_some(())
    })
    .await;
    for id in &jobs {
        wait_for("the schedule to pause", Duration::from_secs(30), || async {
            let res = http
                .patch(format!("{api}/api/v1/jobs/{id}/schedule"))
                .json(&json!({"paused": true}))
                .send()
                .await
                .ok()?;
            (res.status() == 200).then_some(())
        })
        .await;
    }
    until
}

/// What the collector read for one succeeded run.
#[derive(Debug, Clone)]
pub enum Capture {
    /// The text of `out.txt` in its result zip (empty without one).
    Out(String),
    /// Retention had cleaned it before the collector read it.
    Cleaned,
    /// The download answered something else.
    Problem(String),
}

/// Outputs read so far, by run id.
pub type Captured = Arc<Mutex<HashMap<i64, Capture>>>;

/// Every 250 ms until `stop`, downloads (through the API) the result of every succeeded run not
/// read yet: retention removes it `RETENTION_SECONDS` after the run finished.
pub async fn collect_outputs(http: reqwest::Client, api: String, pool: PgPool, out: Captured, stop: CancellationToken) {
    while !stop.is_cancelled() {
        sweep(&http, &api, &pool, &out).await;
        tokio::select! {
            _ = stop.cancelled() => {}
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
    }
}

/// One pass of the collector.
pub async fn sweep(http: &reqwest::Client, api: &str, pool: &PgPool, out: &Captured) {
    let Ok(ids) = sqlx::query_scalar::<_, i64>("select id from runs where state = 'succeeded'").fetch_all(pool).await
    else {
        return;
    };
    for id in ids {
        if out.lock().unwrap().contains_key(&id) {
            continue;
        }
        if let Some(c) = read_output(http, api, id).await {
            out.lock().unwrap().insert(id, c);
        }
    }
}

/// `None`: not now (the API or the database is away), try again.
async fn read_output(http: &reqwest::Client, api: &str, id: i64) -> Option<Capture> {
    let res = http.get(format!("{api}/download/{id}")).send().await.ok()?;
    let status = res.status();
    if status == 503 {
        return None;
    }
    if status != 200 {
        return Some(Capture::Problem(format!("download answered {status}")));
    }
    let zip = res.headers().get(reqwest::header::CONTENT_TYPE).is_some_and(|v| v == "application/zip");
    let body = res.bytes().await.ok()?;
    if !zip {
        let v: Value = serde_json::from_slice(&body).unwrap_or_default();
        if v["status"] == "Cleaned" {
            return Some(Capture::Cleaned);
        }
        return Some(Capture::Problem(format!("download of a succeeded run answered {v}")));
    }
    let names = crate::common::zip_names(&body);
    let text =
        if names.iter().any(|n| n == "out.txt") { crate::common::zip_read(&body, "out.txt") } else { String::new() };
    Some(Capture::Out(text.trim().to_string()))
}

/// Every run that ended succeeded (cleaned since or not) had its own `out.txt`, read while it
/// still had files: an upload's tag, or its scheduled job's. Returns (runs checked, problems).
pub async fn check_outputs(
    pool: &PgPool,
    captured: &HashMap<i64, Capture>,
    expected: impl Fn(i64, i64) -> Option<String>,
) -> (usize, Vec<String>) {
    let rows: Vec<(i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select r.id, r.job_id from runs r where {} = 'succeeded' order by r.id",
        effective_state()
    )))
    .fetch_all(pool)
    .await
    .expect("succeeded runs");
    let mut problems = Vec::new();
    for (id, job) in &rows {
        let want = expected(*id, *job).unwrap_or_else(|| "(not accepted)".into());
        match captured.get(id) {
            Some(Capture::Out(got)) if *got == want => {}
            Some(Capture::Out(got)) => problems.push(format!("run {id}: out.txt is {got:?}, expected {want:?}")),
            Some(Capture::Cleaned) => {
                problems.push(format!("run {id}: cleaned before the test read its result (the collector lagged)"))
            }
            Some(Capture::Problem(p)) => problems.push(format!("run {id}: {p}")),
            None => problems.push(format!("run {id}: its result was never read")),
        }
    }
    (rows.len(), problems)
}

/// Fire figures.
#[derive(Debug, Default)]
pub struct Fires {
    /// Decided fire times by outcome.
    pub by_outcome: HashMap<String, i64>,
    /// Runs with `triggered_by = 'schedule'`.
    pub runs: i64,
    /// Problems, one line each.
    pub problems: Vec<String>,
}

/// A fire that does not match its run: job, fire time, outcome, run, matching runs.
type BadFire = (i64, DateTime<Utc>, String, Option<i64>, i64);
/// A schedule's decided fire times: job, first, last, how many, gaps.
type Span = (i64, Option<DateTime<Utc>>, Option<DateTime<Utc>>, i64, i64);

/// Exactly once: every started (or replaced) fire names exactly one run, of its job, triggered by
/// the schedule and enqueued no earlier than the fire time; every scheduled run is named by exactly
/// one fire; skipped and missed fires name none; each schedule decided every fire time from its
/// first (at most one interval after it was set) to `until`, without a gap; every scheduled run
/// ended succeeded.
pub async fn check_fires(pool: &PgPool, s: &Scheduled, until: DateTime<Utc>) -> Fires {
    let mut f = Fires::default();
    let jobs: Vec<i64> = s.tags.keys().copied().collect();
    let outcomes: Vec<(String, i64)> = sqlx::query_as("select outcome, count(*) from schedule_fires group by outcome")
        .fetch_all(pool)
        .await
        .expect("fires");
    f.by_outcome = outcomes.into_iter().collect();
    f.runs = sqlx::query_scalar("select count(*) from runs where triggered_by = 'schedule'")
        .fetch_one(pool)
        .await
        .expect("scheduled runs");
    let bad: Vec<BadFire> = sqlx::query_as(
        "select f.job_id, f.fire_at, f.outcome, f.run_id, \
                (select count(*) from runs r where r.id = f.run_id and r.job_id = f.job_id \
                    and r.triggered_by = 'schedule' and r.enqueued_at >= f.fire_at) \
         from schedule_fires f \
         where (f.outcome in ('started', 'replaced')) <> (f.run_id is not null) \
            or (f.run_id is not null and (select count(*) from runs r where r.id = f.run_id and r.job_id = f.job_id \
                    and r.triggered_by = 'schedule' and r.enqueued_at >= f.fire_at) <> 1)",
    )
    .fetch_all(pool)
    .await
    .expect("fires against runs");
    for (job, at, outcome, run, n) in bad {
        f.problems.push(format!("fire of job {job} at {at} ({outcome}) names run {run:?}, which matches {n} runs"));
    }
    let unnamed: Vec<(i64, i64)> = sqlx::query_as(
        "select r.id, (select count(*) from schedule_fires f where f.run_id = r.id) as n \
         from runs r where r.triggered_by = 'schedule' and (select count(*) from schedule_fires f where f.run_id = r.id) <> 1",
    )
    .fetch_all(pool)
    .await
    .expect("runs against fires");
    for (run, n) in unnamed {
        f.problems.push(format!("scheduled run {run} is named by {n} fires, expected exactly one"));
    }
    let spans: Vec<Span> = sqlx::query_as(
        "with d as (select job_id, fire_at, lag(fire_at) over (partition by job_id order by fire_at) as prev \
                    from schedule_fires where job_id = any($1)) \
         select j.id, min(d.fire_at), max(d.fire_at), count(d.fire_at), \
                count(*) filter (where d.fire_at - d.prev <> make_interval(secs => $2)) \
         from unnest($1::bigint[]) j (id) left join d on d.job_id = j.id group by j.id",
    )
    .bind(&jobs)
    .bind(EVERY_SECONDS as f64)
    .fetch_all(pool)
    .await
    .expect("fire spans");
    let first_by = s.set_at + chrono::Duration::seconds(2 * EVERY_SECONDS);
    for (job, first, last, n, gaps) in spans {
        if first.is_none_or(|t| t > first_by) || last.is_none_or(|t| t < until) || gaps > 0 {
            f.problems.push(format!(
                "job {job}: {n} fire times decided from {first:?} to {last:?} with {gaps} gaps; expected every \
                 {EVERY_SECONDS} s from before {first_by} to {until}"
            ));
        }
    }
    let unsucceeded: Vec<(i64, Option<String>)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select r.id, {0} from runs r where r.triggered_by = 'schedule' and {0} is distinct from 'succeeded'",
        effective_state()
    )))
    .fetch_all(pool)
    .await
    .expect("scheduled outcomes");
    for (run, state) in unsucceeded {
        let timeline = crate::checks::timeline(pool, run).await;
        f.problems.push(format!("scheduled run {run} ended {state:?}, expected succeeded: {timeline}"));
    }
    f
}

/// Retention figures.
#[derive(Debug, Default)]
pub struct Cleaning {
    /// Runs `cleaned`.
    pub cleaned: i64,
    /// Problems, one line each.
    pub problems: Vec<String>,
}

/// Waits (bounded) until retention has cleaned every run that finished more than the retention
/// period (plus a margin for the pass interval) ago.
pub async fn wait_cleaned(pool: &PgPool) {
    let margin = RETENTION_SECONDS as f64 + 3.0;
    wait_for("retention to clean every run past its period", Duration::from_secs(60), || async {
        let due: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "select count(*) from runs where state in {TERMINAL} and finished_at < now() - make_interval(secs => $1)"
        )))
        .bind(margin)
        .fetch_one(pool)
        .await
        .unwrap_or(1);
        (due == 0).then_some(())
    })
    .await;
}

/// Nothing unfinished lost anything to cleanup: every cleaned run has exactly one `cleaned` event,
/// right after a terminal one, nothing after it, no attempt started after it, no files left, and
/// finished before that pass's cutoff (its time minus the retention period); every scheduled job
/// still has its files.
pub async fn check_cleaning(pool: &PgPool, s: &Scheduled) -> Cleaning {
    let mut c = Cleaning {
        cleaned: sqlx::query_scalar("select count(*) from runs where state = 'cleaned'")
            .fetch_one(pool)
            .await
            .expect("cleaned"),
        ..Cleaning::default()
    };
    let bad: Vec<(i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "with c as ( \
           select r.id, r.finished_at, r.input_blob_id, r.result_blob_id, \
                  (select count(*) from run_events e where e.run_id = r.id and e.kind = 'cleaned') as events, \
                  (select min(e.id) from run_events e where e.run_id = r.id and e.kind = 'cleaned') as event_id, \
                  (select min(e.at) from run_events e where e.run_id = r.id and e.kind = 'cleaned') as at \
           from runs r where r.state = 'cleaned') \
         select c.id, format('%s cleaned events, before it %s, after it %s events and %s attempts started, \
                              finished %s, cleaned %s, input %s, result %s', \
                c.events, \
                (select e.kind from {TIMELINE} e where e.run_id = c.id and (e.at, e.src, e.seq, e.phase) < (c.at, 0, c.event_id, 0) \
                 order by e.at desc, e.src desc, e.seq desc, e.phase desc limit 1), \
                (select count(*) from {TIMELINE} e where e.run_id = c.id and (e.at, e.src, e.seq, e.phase) > (c.at, 0, c.event_id, 0)), \
                (select count(*) from attempts_seen a where a.run_id = c.id and a.started_at >= c.at), \
                c.finished_at, c.at, c.input_blob_id, c.result_blob_id) \
         from c \
         where c.events <> 1 \
            or (select e.kind from {TIMELINE} e where e.run_id = c.id and (e.at, e.src, e.seq, e.phase) < (c.at, 0, c.event_id, 0) \
                 order by e.at desc, e.src desc, e.seq desc, e.phase desc limit 1) \
               not in {TERMINAL} \
            or exists (select 1 from {TIMELINE} e where e.run_id = c.id and (e.at, e.src, e.seq, e.phase) > (c.at, 0, c.event_id, 0)) \
            or exists (select 1 from attempts_seen a where a.run_id = c.id and a.started_at >= c.at) \
            or c.finished_at is null or c.finished_at >= c.at - make_interval(secs => $1) \
            or c.input_blob_id is not null or c.result_blob_id is not null"
    )))
    .bind(RETENTION_SECONDS as f64)
    .fetch_all(pool)
    .await
    .expect("cleaned runs");
    for (run, what) in bad {
        c.problems.push(format!("cleaned run {run}: {what}"));
    }
    let jobs: Vec<i64> = s.tags.keys().copied().collect();
    let bare: Vec<i64> = sqlx::query_scalar(
        "select j.id from jobs j where j.id = any($1) \
         and not exists (select 1 from blob_chunks b where b.blob_id = j.input_blob_id)",
    )
    .bind(&jobs)
    .fetch_all(pool)
    .await
    .expect("stored jobs' files");
    for job in bare {
        c.problems.push(format!("stored job {job} lost its files to cleanup"));
    }
    c
}
