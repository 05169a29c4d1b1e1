//! What the chaos test asserts: limits (and unfinished runs' files) sampled while it runs, and the
//! end state read back from the database. Results and schedules: `time.rs`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::cluster::RUNS_PER_USER;

/// What a submitted script does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Sleeps a little, writes its output, exits 0.
    Ok,
    /// Fails its first attempt, succeeds on the retry.
    Flaky,
    /// Always exits 3: fails once its attempts are used up.
    Fail,
}

/// One accepted submission.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// What the script does.
    pub kind: Kind,
    /// The text it writes to `out.txt`.
    pub tag: String,
}

/// Limit violations seen by the sampler, and how many samples it took.
#[derive(Debug, Default)]
pub struct Samples {
    /// Successful samples.
    pub taken: u64,
    /// One line per violation.
    pub violations: Vec<String>,
}

/// Samples every 100 ms until `stop`: namespace quota (admitted + running requests vs limits), the
/// per-user cap, every worker's capacity (its running requests), and that every unfinished run
/// still has its input files (retention never touches it). Failed samples (the database is down)
/// are skipped.
pub async fn sample_limits(pool: PgPool, samples: Arc<Mutex<Samples>>, stop: CancellationToken) {
    while !stop.is_cancelled() {
        if let Ok(found) = sample_once(&pool).await {
            let mut s = samples.lock().unwrap();
            s.taken += 1;
            s.violations.extend(found);
        }
        tokio::select! {
            _ = stop.cancelled() => {}
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
}

async fn sample_once(pool: &PgPool) -> sqlx::Result<Vec<String>> {
    // One statement per scope: each is one consistent snapshot.
    let namespaces: Vec<(String, String)> = sqlx::query_as(
        "select n.name, format('pods %s/%s cpu %s/%s memory %s/%s storage %s/%s', \
                sum(r.pods), n.pods_limit, sum(r.cpu), n.cpu_limit, sum(r.memory), n.memory_limit, \
                sum(r.storage), n.storage_limit) \
         from namespaces n join runs r on r.namespace = n.name and r.state in ('admitted', 'running') \
         group by n.name \
         having sum(r.pods) > n.pods_limit or sum(r.cpu) > n.cpu_limit \
             or sum(r.memory) > n.memory_limit or sum(r.storage) > n.storage_limit",
    )
    .fetch_all(pool)
    .await?;
    let users: Vec<(String, i64)> = sqlx::query_as(
        "select user_id, count(*) from runs where state in ('admitted', 'running') \
         group by user_id, service having count(*) > $1",
    )
    .bind(RUNS_PER_USER)
    .fetch_all(pool)
    .await?;
    let workers: Vec<(String, String)> = sqlx::query_as(
        "select w.name, format('pods %s/%s cpu %s/%s memory %s/%s storage %s/%s', \
                sum(r.pods), w.pods, sum(r.cpu), w.cpu, sum(r.memory), w.memory, sum(r.storage), w.storage) \
         from workers w join runs r on r.worker_id = w.id and r.state = 'running' \
         group by w.id \
         having sum(r.pods) > w.pods or sum(r.cpu) > w.cpu or sum(r.memory) > w.memory \
             or sum(r.storage) > w.storage",
    )
    .fetch_all(pool)
    .await?;
    // Nothing unfinished may lose its files to retention: every run that can still execute has
    // its input blob with its data.
    let bare: Vec<(i64, String)> = sqlx::query_as(
        "select r.id, r.state from runs r where r.state in ('queued', 'waiting', 'admitted', 'running') \
         and not exists (select 1 from blob_chunks b where b.blob_id = r.input_blob_id)",
    )
    .fetch_all(pool)
    .await?;
    let mut out: Vec<String> = namespaces.into_iter().map(|(n, u)| format!("namespace {n} over quota: {u}")).collect();
    out.extend(users.into_iter().map(|(u, n)| format!("user {u} has {n} runs admitted or running")));
    out.extend(workers.into_iter().map(|(w, u)| format!("worker {w} over capacity: {u}")));
    out.extend(bare.into_iter().map(|(r, s)| format!("run {r} is {s} without its input files")));
    Ok(out)
}

/// The end state, checked run by run.
#[derive(Debug, Default)]
pub struct EndState {
    /// Rows in `runs` not started by a schedule and not workflow steps (`workflows.rs`).
    pub runs: i64,
    /// Accepted runs not in a terminal state (or missing).
    pub lost: usize,
    /// Pairs of attempts of one run whose time ranges overlap.
    pub overlapping: i64,
    /// Problems, one line each.
    pub problems: Vec<String>,
    /// Attempts ended `lost` (rescued from dead workers).
    pub lost_attempts: i64,
    /// Attempts handed back by draining workers.
    pub handed_back: i64,
    /// Runs with more than one attempt.
    pub retried_runs: i64,
}

/// id, state, attempt, attempt rows, failed, succeeded, handed back, final terminal events.
type RunRow = (i64, String, i32, i64, i64, i64, i64, i64);

/// The terminal states before retention (a `cleaned` run was one of them).
pub const TERMINAL: &str = "('succeeded', 'failed', 'timed_out', 'cancelled', 'aborted')";

/// SQL for every run's timeline as the API shows it (sql/run_events/list.sql): the event rows, and
/// the starts and reported ends the attempts carry (migration 0023; the running one from its run, 0024). Columns `run_id, at, kind,
/// message, id` (null for an attempt's), and `src, seq, phase`: the timeline's order is
/// `(at, src, seq, phase)` (rows at the same instant first, by id; then the attempts', by id, a
/// start before its end).
pub const TIMELINE: &str = "(select run_id, at, kind, message, id, 0 as src, id as seq, 0 as phase from run_events \
     union all select run_id, started_at, 'started', '', null, 1, id, 0 from attempts_seen \
     union all select run_id, finished_at, outcome, message, null, 1, id, 1 from attempts_seen \
         where message is not null and finished_at is not null)";

/// SQL for run `r`'s state as it ended: a `cleaned` run's last terminal event, else its state.
pub fn effective_state() -> String {
    format!(
        "(case when r.state = 'cleaned' then (select e.kind from {TIMELINE} e where e.run_id = r.id \
                and e.kind in {TERMINAL} order by e.at desc, e.src desc, e.seq desc, e.phase desc limit 1) else r.state end)"
    )
}

/// A run's events with their messages, oldest first: what a problem report needs to be read.
pub async fn timeline(pool: &PgPool, run: i64) -> String {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "select coalesce(string_agg(kind || coalesce(' (' || nullif(message, '') || ')', ''), ' -> ' \
                order by at, src, seq, phase), '') \
         from {TIMELINE} e where run_id = $1"
    )))
    .bind(run)
    .fetch_one(pool)
    .await
    .unwrap_or_else(|e| format!("(events unreadable: {e})"))
}

/// Reads the end state and checks every accepted run against what its script does.
pub async fn end_state(pool: &PgPool, accepted: &HashMap<i64, Accepted>, killed_workers: &[String]) -> EndState {
    let mut end = EndState {
        // Neither the schedules' runs, nor the streaming job's (streaming.rs), nor workflow steps
        // were submitted.
        runs: scalar(
            pool,
            "select count(*) from runs where triggered_by not in ('schedule', 'chaos-stream') and workflow_run_id is null",
        )
        .await,
        ..EndState::default()
    };
    let rows: Vec<RunRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "with e as (select run_id, kind, lead(kind) over (partition by run_id order by at, src, seq, phase) as next \
                    from {TIMELINE} t) \
         select r.id, {state}, r.attempt, \
                (select count(*) from attempts_seen a where a.run_id = r.id), \
                (select count(*) from attempts_seen a where a.run_id = r.id and a.outcome = 'failed'), \
                (select count(*) from attempts_seen a where a.run_id = r.id and a.outcome = 'succeeded'), \
                (select count(*) from attempts_seen a where a.run_id = r.id and a.outcome = 'handed_back'), \
                (select count(*) from e where e.run_id = r.id and e.kind in {TERMINAL} \
                    and e.next is distinct from 'requeued') \
         from runs r",
        state = effective_state()
    )))
    .fetch_all(pool)
    .await
    .expect("read the runs");
    let by_id: HashMap<i64, _> = rows.into_iter().map(|r| (r.0, r)).collect();
    for (id, sub) in accepted {
        let Some((_, state, attempt, attempts, failed, succeeded, _handed_back, finals)) = by_id.get(id) else {
            end.lost += 1;
            end.problems.push(format!("run {id} was accepted but has no row"));
            continue;
        };
        if !TERMINAL.contains(&format!("'{state}'")) {
            end.lost += 1;
            end.problems.push(format!("run {id} is still {state}"));
            continue;
        }
        let mut problem = |what: String| end.problems.push(format!("run {id} ({:?}): {what}", sub.kind));
        if *finals != 1 {
            problem(format!("{finals} final terminal events, expected exactly one"));
        }
        if i64::from(*attempt) != *attempts {
            problem(format!("run.attempt is {attempt} but it has {attempts} attempt rows"));
        }
        // Two own attempts; a run can also end failed after too many lost attempts, hence `>= 1`.
        let expected = match sub.kind {
            Kind::Ok => state == "succeeded" && *succeeded == 1 && *failed == 0,
            Kind::Flaky => state == "succeeded" && *succeeded == 1 && *failed <= 1,
            Kind::Fail => state == "failed" && *succeeded == 0 && *failed >= 1 && *failed <= 2,
        };
        if !expected {
            let timeline = timeline(pool, *id).await;
            problem(format!("ended {state} with {failed} failed and {succeeded} succeeded attempts: {timeline}"));
        }
    }
    end.overlapping = scalar(
        pool,
        "select count(*) from attempts_seen a join attempts_seen b on a.run_id = b.run_id and a.id < b.id \
         where tstzrange(a.started_at, coalesce(a.finished_at, 'infinity')) \
            && tstzrange(b.started_at, coalesce(b.finished_at, 'infinity'))",
    )
    .await;
    end.lost_attempts = scalar(pool, "select count(*) from attempts where outcome = 'lost'").await;
    end.handed_back = scalar(pool, "select count(*) from attempts where outcome = 'handed_back'").await;
    end.retried_runs = scalar(pool, "select count(*) from runs where attempt > 1").await;
    // An attempt may be lost only on a worker the test killed: a live worker that merely could not
    // reach the database must keep its runs (otherwise the run executes twice at once).
    let lost_on: Vec<String> = sqlx::query_scalar(
        "select distinct w.name from attempts a join workers w on w.id = a.worker_id where a.outcome = 'lost'",
    )
    .fetch_all(pool)
    .await
    .expect("lost attempts");
    for name in lost_on.iter().filter(|n| !killed_workers.contains(n)) {
        end.problems.push(format!("worker {name} was never killed but lost an attempt"));
    }
    let open = scalar(pool, "select count(*) from attempts_seen where finished_at is null").await;
    if open > 0 {
        end.problems.push(format!("{open} attempts never ended"));
    }
    end
}

async fn scalar(pool: &PgPool, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.expect(sql)
}
