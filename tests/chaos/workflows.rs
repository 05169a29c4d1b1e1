//! Workflows under chaos: a fan-out/fan-in workflow (a root, four parallel steps, a join) started
//! every few seconds through the API while workers and leaders die and PostgreSQL restarts. Each
//! step checks its parents' `out.txt` under `parents/<step>/` and writes its own. Afterwards: every
//! workflow run ended `succeeded` with every step succeeded (none skipped, none cancelled), every
//! step's first attempt started after each of its parents finished, and the counters agree with
//! the steps. (No step ran twice at once: the overlap check of `checks.rs` covers every attempt.)

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::PgPool;

use crate::checks::effective_state;

/// Parallel steps between the root and the join.
pub const FAN: usize = 4;
/// Between two starts of the workflow.
pub const EVERY: Duration = Duration::from_secs(4);

/// The workflow job and the tag each step job writes.
#[derive(Debug, Default, Clone)]
pub struct Workflows {
    /// The workflow job.
    pub job: i64,
    /// Step job id → the text its `out.txt` holds.
    pub tags: HashMap<i64, String>,
}

async fn step_job(http: &reqwest::Client, api: &str, name: &str, user: &str, script: String) -> i64 {
    let form = reqwest::multipart::Form::new()
        .text("name", name.to_string())
        .text("service", "example")
        // Users of their own, so the per-user cap of the uploads' users is not shared.
        .text("user", user.to_string())
        .part("file", reqwest::multipart::Part::bytes(script.into_bytes()).file_name("run.sh"));
    let res = http.post(format!("{api}/api/v1/jobs")).multipart(form).send().await.expect("create step job");
    assert_eq!(res.status(), 201, "create step job {name}");
    let job: Value = res.json().await.expect("job json");
    job["id"].as_i64().expect("job id")
}

/// Creates the step jobs and the workflow: root -> m0..m3 -> join.
pub async fn create(http: &reqwest::Client, api: &str) -> Workflows {
    let root = step_job(http, api, "wf-root", "20", "sleep 0.$((RANDOM%5))\necho wf-root > out.txt\n".into()).await;
    let mid = step_job(
        http,
        api,
        "wf-mid",
        "21",
        "grep -qx wf-root parents/root/out.txt || exit 7\nsleep 0.$((RANDOM%9))\necho wf-mid > out.txt\n".into(),
    )
    .await;
    let mids: Vec<String> = (0..FAN).map(|i| format!("m{i}")).collect();
    let join_script = format!(
        "for p in {}; do grep -qx wf-mid parents/$p/out.txt || exit 7; done\necho wf-join > out.txt\n",
        mids.join(" ")
    );
    let join = step_job(http, api, "wf-join", "22", join_script).await;
    let mut steps = vec![json!({"name": "root", "job": root})];
    steps.extend(mids.iter().map(|m| json!({"name": m, "job": mid, "depends_on": ["root"]})));
    steps.push(json!({"name": "join", "job": join, "depends_on": mids}));
    let body = json!({"name": "wf-fan", "kind": "workflow", "steps": steps});
    let res = http.post(format!("{api}/api/v1/jobs")).json(&body).send().await.expect("create workflow");
    assert_eq!(res.status(), 201, "create the workflow");
    let wf: Value = res.json().await.expect("workflow json");
    let tags = [(root, "wf-root"), (mid, "wf-mid"), (join, "wf-join")];
    Workflows { job: wf["id"].as_i64().expect("id"), tags: tags.into_iter().map(|(j, t)| (j, t.to_string())).collect() }
}

/// Starts the workflow every [`EVERY`] for `seconds`, each start retried through 503s and dropped
/// connections until it is accepted. Returns how many were accepted, and problems.
pub async fn start_stream(api: String, job: i64, seconds: f64) -> (usize, Vec<String>) {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("client");
    let (started, mut accepted, mut problems) = (Instant::now(), 0, Vec::new());
    while started.elapsed().as_secs_f64() < seconds - 1.0 {
        loop {
            match http.post(format!("{api}/api/v1/jobs/{job}/runs")).json(&json!({})).send().await {
                Ok(res) if res.status() == 201 => {
                    accepted += 1;
                    break;
                }
                Ok(res) if res.status() == 503 => {}
                Ok(res) => {
                    problems.push(format!("a workflow start answered {}", res.status()));
                    break;
                }
                Err(_) => {}
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        tokio::time::sleep(EVERY).await;
    }
    (accepted, problems)
}

/// When, from the database.
type At = Option<chrono::DateTime<chrono::Utc>>;
/// A step: run, workflow run, name, end reason, finished at, state as it ended.
type StepRow = (i64, i64, String, Option<String>, At, String);

/// Figures and problems of the workflows' end state.
#[derive(Debug, Default)]
pub struct Checked {
    /// Workflow runs in the database.
    pub runs: i64,
    /// Their steps.
    pub steps: i64,
    /// Edges checked for order.
    pub edges: i64,
    /// Problems, one line each.
    pub problems: Vec<String>,
}

/// Reads every workflow run back and checks it (see the module's comment).
pub async fn check(pool: &PgPool) -> Checked {
    let mut c = Checked {
        runs: sqlx::query_scalar("select count(*) from workflow_runs").fetch_one(pool).await.expect("workflow runs"),
        ..Checked::default()
    };
    let not_succeeded: Vec<(i64, String)> =
        sqlx::query_as("select id, state from workflow_runs where state <> 'succeeded' order by id")
            .fetch_all(pool)
            .await
            .expect("workflow runs");
    for (id, state) in not_succeeded {
        c.problems.push(format!("workflow run {id} ended {state}"));
    }
    let steps = format!(
        "select s.run_id, s.workflow_run_id, s.name, s.end_reason, r.finished_at, {} as state \
         from workflow_steps s join runs r on r.id = s.run_id",
        effective_state()
    );
    let rows: Vec<StepRow> = sqlx::query_as(sqlx::AssertSqlSafe(steps.clone())).fetch_all(pool).await.expect("steps");
    c.steps = rows.len() as i64;
    for (run, wf, name, reason, _, state) in &rows {
        if state != "succeeded" {
            c.problems.push(format!("step {name} (run {run}) of workflow run {wf} ended {state} ({reason:?})"));
        }
    }
    // Each edge: the child's first attempt started after the parent finished, and only if the
    // parent succeeded.
    let order = format!(
        "with s as ({steps}) \
         select p.name, c.name, c.workflow_run_id, p.state, p.finished_at, \
                (select min(a.started_at) from attempts_seen a where a.run_id = c.run_id) \
         from workflow_edges e join s p on p.run_id = e.parent_run_id join s c on c.run_id = e.child_run_id"
    );
    type Edge =
        (String, String, i64, String, Option<chrono::DateTime<chrono::Utc>>, Option<chrono::DateTime<chrono::Utc>>);
    let edges: Vec<Edge> = sqlx::query_as(sqlx::AssertSqlSafe(order)).fetch_all(pool).await.expect("edges");
    c.edges = edges.len() as i64;
    for (parent, child, wf, parent_state, parent_end, child_start) in edges {
        let Some(start) = child_start else { continue };
        match parent_end {
            Some(end) if parent_state == "succeeded" && start >= end => {}
            _ => c.problems.push(format!(
                "workflow run {wf}: {child} started at {start} but its parent {parent} was {parent_state} \
                 (finished {parent_end:?})"
            )),
        }
    }
    let counters: Vec<(i64, String)> = sqlx::query_as(
        "select w.id, format('total %s, left %s, succeeded %s vs %s steps', w.steps_total, w.steps_left, \
                w.steps_succeeded, (select count(*) from workflow_steps s where s.workflow_run_id = w.id)) \
         from workflow_runs w \
         where w.steps_left <> 0 or w.steps_total <> (select count(*) from workflow_steps s where s.workflow_run_id = w.id)",
    )
    .fetch_all(pool)
    .await
    .expect("counters");
    for (id, what) in counters {
        c.problems.push(format!("workflow run {id}: {what}"));
    }
    c
}
