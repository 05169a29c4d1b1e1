//! Lists: `berth runs`, `berth jobs` and `berth queue`, with the API's filters as flags.

use serde_json::Value;

use super::output::{Table, print_json, text, time};
use super::{Api, ClientArgs, Result};

/// `berth runs`: the filters of `GET /api/v1/runs`.
#[derive(Debug, clap::Args)]
pub struct RunsArgs {
    /// Only runs of this job id.
    #[arg(long)]
    pub job: Option<i64>,
    /// Only these states (repeat, or separate with commas).
    #[arg(long, value_delimiter = ',')]
    pub state: Vec<String>,
    /// Only runs counted against this user.
    #[arg(long)]
    pub user: Option<String>,
    /// Only runs started by this actor (upload, a user).
    #[arg(long)]
    pub triggered_by: Option<String>,
    /// Only this namespace.
    #[arg(long)]
    pub namespace: Option<String>,
    /// Only this priority (high or normal).
    #[arg(long)]
    pub priority: Option<String>,
    /// key=value: only runs whose job carries the label (repeatable).
    #[arg(long)]
    pub tag: Vec<String>,
    /// Enqueued at or after (RFC 3339).
    #[arg(long)]
    pub since: Option<String>,
    /// Enqueued before (RFC 3339).
    #[arg(long)]
    pub until: Option<String>,
    /// A run id, or part of the job's name.
    #[arg(long, short)]
    pub q: Option<String>,
    /// Page size (1 to 500; default 50).
    #[arg(long)]
    pub limit: Option<i64>,
    /// The next page: the cursor the previous page printed.
    #[arg(long)]
    pub cursor: Option<String>,
    /// Server, token, output.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `berth jobs`: the filters of `GET /api/v1/jobs`.
#[derive(Debug, clap::Args)]
pub struct JobsArgs {
    /// Part of the name (closest first).
    #[arg(long, short)]
    pub q: Option<String>,
    /// Only this namespace.
    #[arg(long)]
    pub namespace: Option<String>,
    /// Only this service.
    #[arg(long)]
    pub service: Option<String>,
    /// Only this kind.
    #[arg(long)]
    pub kind: Option<String>,
    /// Only this priority (high or normal).
    #[arg(long)]
    pub priority: Option<String>,
    /// Only this flow (priority or legacy).
    #[arg(long)]
    pub flow: Option<String>,
    /// key=value: only jobs with the label (repeatable).
    #[arg(long)]
    pub tag: Vec<String>,
    /// Only jobs created by this actor.
    #[arg(long)]
    pub created_by: Option<String>,
    /// Include the one-off jobs that uploads (`berth submit`) create.
    #[arg(long)]
    pub one_off: bool,
    /// Page size (1 to 500; default 50).
    #[arg(long)]
    pub limit: Option<i64>,
    /// The next page: the cursor the previous page printed.
    #[arg(long)]
    pub cursor: Option<String>,
    /// Server, token, output.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `berth queue`: the filters of `GET /api/v1/queue`.
#[derive(Debug, clap::Args)]
pub struct QueueArgs {
    /// Only this namespace.
    #[arg(long)]
    pub namespace: Option<String>,
    /// Only this priority (high or normal).
    #[arg(long)]
    pub priority: Option<String>,
    /// Most rows (default 500).
    #[arg(long)]
    pub limit: Option<i64>,
    /// Server, token, output.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Query pairs: each `Some` option once, each repeated value once per value.
fn query(
    single: &[(&'static str, Option<String>)],
    repeated: &[(&'static str, &[String])],
) -> Vec<(&'static str, String)> {
    let mut q: Vec<(&'static str, String)> = single.iter().filter_map(|(k, v)| v.clone().map(|v| (*k, v))).collect();
    for (k, values) in repeated {
        q.extend(values.iter().map(|v| (*k, v.clone())));
    }
    q
}

/// `berth runs`.
pub async fn runs(a: RunsArgs) -> Result<()> {
    let api = Api::new(&a.client)?;
    let q = query(
        &[
            ("job", a.job.map(|j| j.to_string())),
            ("user", a.user),
            ("triggered_by", a.triggered_by),
            ("namespace", a.namespace),
            ("priority", a.priority),
            ("since", a.since),
            ("until", a.until),
            ("q", a.q),
            ("limit", a.limit.map(|l| l.to_string())),
            ("cursor", a.cursor),
        ],
        &[("state", &a.state), ("tag", &a.tag)],
    );
    let page = api.get("/api/v1/runs", &q).await?;
    if a.client.json {
        print_json(&page);
        return Ok(());
    }
    let mut t = Table::new(&["ID", "STATE", "JOB", "PRIORITY", "NAMESPACE", "SERVICE", "USER", "ENQUEUED", "EXIT"]);
    for r in items(&page, "runs") {
        t.row(vec![
            text(r, "id"),
            text(r, "state"),
            text(r, "job_name"),
            text(r, "priority"),
            text(r, "namespace"),
            text(r, "service"),
            text(r, "user_id"),
            time(r, "enqueued_at"),
            text(r, "exit_code"),
        ]);
    }
    t.print();
    more(&page);
    Ok(())
}

/// `berth jobs`.
pub async fn jobs(a: JobsArgs) -> Result<()> {
    let api = Api::new(&a.client)?;
    let q = query(
        &[
            ("q", a.q),
            ("namespace", a.namespace),
            ("service", a.service),
            ("kind", a.kind),
            ("priority", a.priority),
            ("flow", a.flow),
            ("created_by", a.created_by),
            ("one_off", a.one_off.then(|| "true".to_string())),
            ("limit", a.limit.map(|l| l.to_string())),
            ("cursor", a.cursor),
        ],
        &[("tag", &a.tag)],
    );
    let page = api.get("/api/v1/jobs", &q).await?;
    if a.client.json {
        print_json(&page);
        return Ok(());
    }
    let mut t = Table::new(&["ID", "NAME", "KIND", "SERVICE", "NAMESPACE", "PRIORITY", "FLOW", "UPDATED"]);
    for j in items(&page, "jobs") {
        t.row(vec![
            text(j, "id"),
            text(j, "name"),
            text(j, "kind"),
            text(j, "service"),
            text(j, "namespace"),
            text(j, "priority"),
            text(j, "flow"),
            time(j, "updated_at"),
        ]);
    }
    t.print();
    more(&page);
    Ok(())
}

/// `berth queue`.
pub async fn queue(a: QueueArgs) -> Result<()> {
    let api = Api::new(&a.client)?;
    let q =
        query(&[("namespace", a.namespace), ("priority", a.priority), ("limit", a.limit.map(|l| l.to_string()))], &[]);
    let rows = api.get("/api/v1/queue", &q).await?;
    if a.client.json {
        print_json(&rows);
        return Ok(());
    }
    let mut t = Table::new(&["POS", "ID", "NAMESPACE", "PRIORITY", "USER", "SERVICE", "ENQUEUED", "WAITING FOR"]);
    for r in rows.as_array().into_iter().flatten() {
        let block = r.get("block").unwrap_or(&Value::Null);
        t.row(vec![
            text(block, "position"),
            text(r, "id"),
            text(r, "namespace"),
            text(r, "priority"),
            text(r, "user_id"),
            text(r, "service"),
            time(r, "enqueued_at"),
            text(block, "message"),
        ]);
    }
    t.print();
    Ok(())
}

fn items<'a>(page: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    page.get(key).and_then(Value::as_array).into_iter().flatten()
}

/// Says on stderr how to get the next page, when there is one.
fn more(page: &Value) {
    if let Some(c) = page.get("next_cursor").and_then(Value::as_str) {
        eprintln!("more: add --cursor {c}");
    }
}
