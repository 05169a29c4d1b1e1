//! Lists: the speed of the job search and of the job and run lists (issue 12) with a large history
//! in the tables, through real HTTP against the in-process API; then the claim and
//! enqueue-to-start probes of the `history` scenario on the same tables, after a checkpoint.
//!
//! The tables are filled by set-based statements (`bench/sql/fill_jobs.sql`, `fill_runs.sql`):
//! by default 1,000,000 jobs, of which 100,000 stored definitions with names of several words
//! (`fraud-score transactions nightly 2025-03-14 v412`) and 900,000 one-off jobs as uploads leave
//! them, and 3,000,000 finished runs (one per one-off job, 2,100,000 over the stored jobs), over
//! 2,000 users, six namespaces and a year; then `VACUUM (ANALYZE)`.

use std::time::{Duration, Instant};

use super::report::Measurement;
use super::{Bench, Error, Result, Services, db};
use berth::domain::Sharing;
use berth::resources::Resources;
use berth::store::JobId;
use berth::store::lists::{JobFilter, RunFilter};

/// The namespaces the jobs are spread over; the bench creates them before the fill.
pub const NAMESPACES: [&str; 6] = ["default", "ml-platform", "data-eng", "web", "ops", "research"];
/// The history the tables hold: a year.
pub const SPAN: Duration = Duration::from_secs(365 * 24 * 3600);
/// The newest run of the history is this long before the fill starts.
pub const QUIET: Duration = Duration::from_secs(3600);
/// Jobs per fill statement.
pub const JOBS_PER_STATEMENT: u64 = 100_000;
/// Runs per fill statement (about).
pub const RUNS_PER_STATEMENT: u64 = 250_000;
/// Requests of each kind sent before the timed ones.
pub const WARM_UP_REQUESTS: usize = 5;
/// Page size of every list request (the API's default).
pub const PAGE: i64 = 50;

/// The sizes of the `lists` scenario's tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListSizes {
    /// Jobs in all.
    pub jobs: u64,
    /// Of which stored definitions.
    pub stored: u64,
    /// Finished runs.
    pub runs: u64,
    /// Users.
    pub users: u64,
}

impl ListSizes {
    /// Refuses sizes the fill cannot make: every one-off job has its run, so there are at least as
    /// many runs as one-off jobs, and at least one stored job.
    pub fn check(&self) -> std::result::Result<(), String> {
        if self.stored == 0 || self.stored > self.jobs {
            return Err(format!("--list-stored must be 1 to --list-jobs ({}), got {}", self.jobs, self.stored));
        }
        let one_off = self.jobs - self.stored;
        if self.runs < one_off {
            return Err(format!(
                "--list-runs ({}) must be at least the one-off jobs (--list-jobs - --list-stored = {one_off}): \
                 each has its run",
                self.runs
            ));
        }
        if self.users == 0 {
            return Err("--list-users must be at least 1".into());
        }
        Ok(())
    }

    /// The id of the `s`-th stored job (1-based), as `fill_jobs.sql` spreads them.
    pub fn stored_job(&self, s: u64) -> u64 {
        (s * self.jobs).div_ceil(self.stored)
    }
}

/// One kind of list request.
struct Kind {
    what: &'static str,
    /// Query strings, used in turn.
    queries: Vec<String>,
    /// `jobs` or `runs`: the route and the array in the answer.
    list: &'static str,
}

/// The requests measured, in order; `exact` is the whole name of a stored job.
fn kinds(sizes: &ListSizes, exact: &str) -> Vec<Kind> {
    let one = |what, list, q: &str| Kind { what, list, queries: vec![q.to_string()] };
    // Old and new stored jobs alike (the oldest have the most runs).
    let jobs: Vec<String> = (0..20).map(|i| format!("job={}", sizes.stored_job(1 + i * sizes.stored / 20))).collect();
    let users: Vec<String> = (0..20).map(|i| format!("user=user-{}", i * 97 % sizes.users)).collect();
    vec![
        one("jobs_q_typo", "jobs", "q=paymnets-reconcile"),
        one("jobs_q_2chars", "jobs", "q=ml"),
        one("jobs_q_common", "jobs", "q=daily"),
        one("jobs_q_rare", "jobs", "q=zeppelin"),
        one("jobs_q_exact", "jobs", &format!("q={}", exact.replace(' ', "+"))),
        one("jobs_q_prefix", "jobs", "q=fraud-score"),
        one("jobs_newest", "jobs", ""),
        one("jobs_tag", "jobs", "tag=team%3Dfraud"),
        one("jobs_tag_rare", "jobs", "tag=tier%3Dcanary"),
        one("runs_newest", "runs", ""),
        Kind { what: "runs_job", list: "runs", queries: jobs },
        one("runs_failed", "runs", "state=failed"),
        Kind { what: "runs_user_recent", list: "runs", queries: users },
        one("runs_user_old", "runs", "user=departed"),
        one("runs_namespace", "runs", "namespace=research"),
        one("runs_q", "runs", "q=fraud-score"),
    ]
}

/// Fills the tables, measures every kind of list request, then the probes.
pub async fn run(bench: &Bench) -> Result<Vec<Measurement>> {
    // The fill is a year of history an installation keeps. Retention (on by default, 30 days)
    // would clean and delete most of it while the lists are measured, changing the tables under
    // them and loading the leader during the probes.
    let mut config = bench.config.clone();
    config.job_run_cleanup.enabled = false;
    let bench = &Bench { store: bench.store.clone(), config, opts: bench.opts.clone() };
    let sizes = bench.opts.lists;
    sizes.check().map_err(Error::Refused)?;
    db::reset(&bench.store).await?;
    let q = berth::config::QuotaConfig::default();
    let quota = Resources { cpu: q.cpu, memory: q.memory, pods: q.pods, storage: q.storage };
    let namespaces: Vec<(String, Resources, Sharing)> =
        NAMESPACES.iter().map(|n| (n.to_string(), quota, Sharing::Fifo)).collect();
    bench.store.namespace_create_missing(&namespaces).await?;
    fill(bench, &sizes).await?;

    let depth = Some(sizes.runs);
    let exact = db::job_name(&bench.store, i64::try_from(sizes.stored_job(sizes.stored / 2)).unwrap_or(1)).await?;
    let mut out = measure(bench, &sizes, &exact).await?;
    if bench.opts.plans {
        plans(bench, &sizes, &exact).await?;
    }
    // The fill's pages written back before the probes (the fill ends with `VACUUM (ANALYZE)`,
    // so the statistics are taken): in session 9 the probes ran within the first checkpoint after
    // the fill, and their tails were slower in whichever build had written more.
    let started = Instant::now();
    db::checkpoint(&bench.store).await?;
    bench.progress(&format!("lists: checkpoint in {:.1} s", started.elapsed().as_secs_f64()));
    for flow in ["legacy", "priority"] {
        bench.progress(&format!("lists, flow {flow}: {} probes", bench.opts.probes));
        let m = super::latency::probe(bench, flow, "lists", "enqueue_to_start", "default").await?;
        out.push(Measurement { depth, ..m });
    }
    out.push(Measurement { depth, ..super::depth::claim_cost(bench, "lists").await? });
    Ok(out)
}

/// The fill, slice by slice, then the sequences and `VACUUM (ANALYZE)`.
async fn fill(bench: &Bench, sizes: &ListSizes) -> Result<()> {
    let int = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let fill = db::ListsFill {
        jobs: int(sizes.jobs),
        stored: int(sizes.stored),
        runs: int(sizes.runs),
        users: int(sizes.users),
        namespaces: NAMESPACES.iter().map(|n| n.to_string()).collect(),
        seed: int(bench.opts.seed),
        end: chrono::Utc::now() - QUIET,
        span_seconds: SPAN.as_secs_f64(),
    };
    let started = Instant::now();
    let mut first = 1;
    while first <= sizes.jobs {
        let last = (first + JOBS_PER_STATEMENT - 1).min(sizes.jobs);
        db::fill_jobs(&bench.store, &fill, int(first), int(last)).await?;
        bench.progress(&format!("lists: {last} of {} jobs ({:.0} s)", sizes.jobs, started.elapsed().as_secs_f64()));
        first = last + 1;
    }
    let slices = sizes.runs.div_ceil(RUNS_PER_STATEMENT).max(1);
    let mut runs = 0;
    for slice in 1..=slices {
        runs += db::fill_runs(&bench.store, &fill, int(slice), int(slices)).await?;
        bench.progress(&format!("lists: {runs} of {} runs ({:.0} s)", sizes.runs, started.elapsed().as_secs_f64()));
    }
    db::fill_sequences(&bench.store, fill.jobs, fill.runs).await?;
    db::vacuum_lists(&bench.store).await?;
    bench.progress(&format!("lists: filled and vacuumed in {:.0} s", started.elapsed().as_secs_f64()));
    Ok(())
}

/// Times every kind of request through the API over HTTP, one request at a time.
async fn measure(bench: &Bench, sizes: &ListSizes, exact: &str) -> Result<Vec<Measurement>> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let base = format!("http://{}/api/v1", listener.local_addr()?);
    let services = Services::start(&bench.store, &bench.config, 1, Some(listener));
    tokio::time::sleep(super::latency::WARM_UP).await;
    let client = reqwest::Client::new();
    let n = bench.opts.list_requests.max(1);
    let mut out = Vec::new();
    let result = async {
        for kind in kinds(sizes, exact) {
            let mut samples = Vec::with_capacity(n);
            let mut failed = 0u64;
            let mut rows = None;
            for i in 0..WARM_UP_REQUESTS + n {
                let query = &kind.queries[i % kind.queries.len()];
                let url = format!("{base}/{}?{query}", kind.list);
                let started = Instant::now();
                let answer = client.get(&url).send().await?;
                let ok = answer.status() == reqwest::StatusCode::OK;
                let body: serde_json::Value = answer.json().await.unwrap_or_default();
                let took = super::ms(started.elapsed());
                if i < WARM_UP_REQUESTS {
                    if i == 0 {
                        rows = body.get(kind.list).and_then(|l| l.as_array()).map(Vec::len);
                    }
                    continue;
                }
                samples.push(took);
                failed += u64::from(!ok);
            }
            let m = Measurement {
                depth: Some(sizes.runs),
                lost: Some(failed),
                ..Measurement::new("lists", "-", kind.what, n as u64)
            }
            .with_latencies(&mut samples);
            bench.progress(&format!(
                "lists: {} ({}?{}): p50 {:.1} ms, p95 {:.1} ms; first page {} rows",
                kind.what,
                kind.list,
                kind.queries[0],
                m.p50_ms.unwrap_or_default(),
                m.p95_ms.unwrap_or_default(),
                rows.map_or_else(|| "no".to_string(), |r| r.to_string())
            ));
            out.push(m);
        }
        Ok::<_, Error>(())
    }
    .await;
    services.stop().await;
    result?;
    Ok(out)
}

/// Prints on stderr the plan PostgreSQL runs each list with (`--plans`), as a compact tree.
async fn plans(bench: &Bench, sizes: &ListSizes, exact: &str) -> Result<()> {
    let jobs = |q: Option<&str>, tags: Vec<(String, String)>| JobFilter {
        q: q.map(str::to_string),
        tags,
        limit: PAGE,
        ..JobFilter::default()
    };
    let tag = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
    let job_plans = [
        ("jobs?q=paymnets-reconcile", jobs(Some("paymnets-reconcile"), vec![])),
        ("jobs?q=ml", jobs(Some("ml"), vec![])),
        ("jobs?q=daily", jobs(Some("daily"), vec![])),
        ("jobs?q=zeppelin", jobs(Some("zeppelin"), vec![])),
        ("jobs?q=<a stored job's whole name>", jobs(Some(exact), vec![])),
        ("jobs?q=fraud-score", jobs(Some("fraud-score"), vec![])),
        ("jobs", jobs(None, vec![])),
        ("jobs?tag=team=fraud", jobs(None, tag("team", "fraud"))),
        ("jobs?tag=tier=canary", jobs(None, tag("tier", "canary"))),
    ];
    for (what, filter) in job_plans {
        for step in bench.store.job_list_plan(&filter).await? {
            eprintln!("plan of GET /api/v1/{what} ({})\n{}", step.what, render(&step.plan));
        }
    }
    let runs = |f: RunFilter| RunFilter { limit: PAGE, ..f };
    let old_job = i64::try_from(sizes.stored_job(1)).unwrap_or(1);
    let run_plans = [
        ("runs", runs(RunFilter::default())),
        ("runs?job=<the oldest stored job>", runs(RunFilter { job: Some(JobId(old_job)), ..RunFilter::default() })),
        (
            "runs?state=failed",
            runs(RunFilter { states: vec![berth::domain::RunState::Failed], ..RunFilter::default() }),
        ),
        ("runs?user=user-0", runs(RunFilter { user: Some("user-0".into()), ..RunFilter::default() })),
        ("runs?user=departed", runs(RunFilter { user: Some("departed".into()), ..RunFilter::default() })),
        ("runs?namespace=research", runs(RunFilter { namespace: Some("research".into()), ..RunFilter::default() })),
        ("runs?q=fraud-score", runs(RunFilter { q: Some("fraud-score".into()), ..RunFilter::default() })),
    ];
    for (what, filter) in run_plans {
        let plan = bench.store.run_list_plan(&filter).await?;
        eprintln!("plan of GET /api/v1/{what}\n{}", render(&plan));
    }
    Ok(())
}

/// A plan of `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)` as an indented tree: each node with its
/// index or table, its conditions, its actual time, rows and loops, and its buffers.
pub fn render(explain: &serde_json::Value) -> String {
    let mut out = String::new();
    node(&explain[0]["Plan"], 0, &mut out);
    if let Some(t) = explain[0]["Execution Time"].as_f64() {
        out.push_str(&format!("Execution Time: {t:.3} ms\n"));
    }
    out
}

fn node(plan: &serde_json::Value, depth: usize, out: &mut String) {
    let text = |k: &str| plan.get(k).and_then(|v| v.as_str());
    let num = |k: &str| plan.get(k).and_then(|v| v.as_f64()).unwrap_or_default();
    let indent = "  ".repeat(depth);
    let mut line = format!("{indent}-> {}", text("Node Type").unwrap_or("?"));
    if let Some(i) = text("Index Name") {
        line.push_str(&format!(" using {i}"));
    }
    if let Some(r) = text("Relation Name") {
        line.push_str(&format!(" on {r}"));
        if let Some(a) = text("Alias").filter(|a| Some(*a) != text("Relation Name")) {
            line.push_str(&format!(" {a}"));
        }
    }
    line.push_str(&format!(
        " (actual time={:.3}..{:.3} rows={} loops={})",
        num("Actual Startup Time"),
        num("Actual Total Time"),
        num("Actual Rows"),
        num("Actual Loops")
    ));
    out.push_str(&line);
    out.push('\n');
    for key in ["Index Cond", "Recheck Cond", "Filter", "Join Filter", "Hash Cond", "Sort Key"] {
        match plan.get(key) {
            Some(serde_json::Value::String(s)) => out.push_str(&format!("{indent}     {key}: {s}\n")),
            Some(serde_json::Value::Array(a)) => {
                let keys: Vec<&str> = a.iter().filter_map(|v| v.as_str()).collect();
                out.push_str(&format!("{indent}     {key}: {}\n", keys.join(", ")));
            }
            _ => {}
        }
    }
    for key in ["Rows Removed by Filter", "Rows Removed by Index Recheck", "Heap Blocks Exact"] {
        if let Some(v) = plan.get(key).and_then(|v| v.as_f64()).filter(|v| *v > 0.0) {
            out.push_str(&format!("{indent}     {key}: {v}\n"));
        }
    }
    let (hit, read) = (num("Shared Hit Blocks"), num("Shared Read Blocks"));
    if hit + read > 0.0 {
        out.push_str(&format!("{indent}     Buffers: shared hit={hit} read={read}\n"));
    }
    for child in plan.get("Plans").and_then(|p| p.as_array()).into_iter().flatten() {
        node(child, depth + 1, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_the_fill_cannot_make_are_refused() {
        let ok = ListSizes { jobs: 1_000_000, stored: 100_000, runs: 3_000_000, users: 2000 };
        assert!(ok.check().is_ok());
        assert!(ListSizes { runs: 899_999, ..ok }.check().is_err(), "each one-off job has its run");
        assert!(ListSizes { stored: 0, ..ok }.check().is_err());
        assert!(ListSizes { stored: 1_000_001, ..ok }.check().is_err());
        assert!(ListSizes { users: 0, ..ok }.check().is_err());
    }

    #[test]
    fn stored_jobs_are_spread_over_the_ids_as_the_fill_spreads_them() {
        let sizes = ListSizes { jobs: 1000, stored: 100, runs: 2000, users: 10 };
        // fill_jobs.sql: job g is stored when g * stored / jobs steps up.
        let stored: Vec<u64> =
            (1..=sizes.jobs).filter(|g| g * sizes.stored / sizes.jobs != (g - 1) * sizes.stored / sizes.jobs).collect();
        assert_eq!(stored.len(), 100);
        assert_eq!(stored, (1..=sizes.stored).map(|s| sizes.stored_job(s)).collect::<Vec<_>>());
    }

    #[test]
    fn a_plan_renders_as_a_tree() {
        let plan = serde_json::json!([{"Plan": {"Node Type": "Limit", "Actual Rows": 50.0, "Actual Loops": 1.0,
            "Plans": [{"Node Type": "Index Scan", "Index Name": "runs_pkey", "Relation Name": "runs", "Alias": "r",
                       "Filter": "(user_id = 'x')", "Rows Removed by Filter": 12.0, "Shared Hit Blocks": 3.0}]},
            "Execution Time": 0.5}]);
        let text = render(&plan);
        assert!(text.contains("-> Limit"), "{text}");
        assert!(text.contains("  -> Index Scan using runs_pkey on runs r"), "{text}");
        assert!(text.contains("Filter: (user_id = 'x')") && text.contains("Rows Removed by Filter: 12"), "{text}");
        assert!(text.contains("Execution Time: 0.500 ms"), "{text}");
    }
}
