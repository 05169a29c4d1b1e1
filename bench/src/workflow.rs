//! Workflow: one workflow of `--workflow-steps` (1,000) steps, a root that fans out to all but two
//! parallel steps and a last step that fans them in, started once and run by the real leader and
//! workers (no-op executor) to its end. Figures per flow: for each step with parents, from its
//! last parent's end to its own start (`runs.started_at - max(parent runs.finished_at)`, the
//! parent's finish transaction and the child's claim, both on the database's clock), and the
//! workflow run's start to end. Each step is its own stored job with its own user, so the per-user
//! cap (`runs-per-user`) does not serialise the fan-out: what is measured is the release, the
//! admission and the claim.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use berth::domain::{Flow, JobKind, Priority, WorkflowRunState};
use berth::resources::Resources;
use berth::retry::RetryPolicy;
use berth::store::jobs::{Input, JobSpec, StartParams};
use berth::store::workflows::Started;
use berth::workflow::Step;

use super::report::Measurement;
use super::{Bench, Error, POLL, Result, SERVICE, Services, db};

/// Longest wait for the workflow run to end.
pub const TIMEOUT: Duration = Duration::from_secs(600);
/// The namespace of the steps' jobs (unlimited quota: the bench creates it).
pub const NAMESPACE: &str = "history";

/// Both flows: the steps are admitted by the leader (`priority`) or on release (`legacy`).
pub async fn run(bench: &Bench) -> Result<Vec<Measurement>> {
    let mut out = Vec::new();
    for flow in ["legacy", "priority"] {
        out.extend(measure(bench, flow).await?);
    }
    Ok(out)
}

fn job(name: String, kind: JobKind, flow: &str, user: String, steps: Vec<Step>) -> JobSpec {
    JobSpec {
        name,
        description: String::new(),
        kind,
        service: SERVICE.into(),
        namespace: NAMESPACE.into(),
        run_as: user,
        priority: Priority::Normal,
        flow: flow.parse().unwrap_or(Flow::Priority),
        request: Resources { cpu: 0, memory: 0, pods: 1, storage: 0 },
        command: (kind == JobKind::Batch).then(|| vec!["true".into()]),
        args: vec![],
        env: BTreeMap::new(),
        timeout_seconds: None,
        retry: RetryPolicy::default(),
        tags: BTreeMap::new(),
        restart: None,
        steps,
    }
}

async fn measure(bench: &Bench, flow: &'static str) -> Result<Vec<Measurement>> {
    let n = bench.opts.workflow_steps.max(3);
    bench.progress(&format!("workflow, flow {flow}: {n} steps (1 root, {} in parallel, 1 fan-in)", n - 2));
    db::reset(&bench.store).await?;
    let store = &bench.store;
    let mut steps = Vec::with_capacity(n);
    for i in 0..n {
        let spec = job(format!("step-{i}"), JobKind::Batch, flow, format!("user-{i}"), vec![]);
        let id = store.job_create(&spec, &Input::Keep(None), serde_json::json!({}), "bench").await?;
        let depends_on = match i {
            0 => vec![],
            i if i == n - 1 => (1..n - 1).map(|m| format!("s{m}")).collect(),
            _ => vec!["s0".into()],
        };
        steps.push(Step { name: format!("s{i}"), job: id, depends_on });
    }
    let wf_spec = job("fan".into(), JobKind::Workflow, flow, "bench".into(), steps);
    let wf_job = store.job_create(&wf_spec, &Input::Keep(None), serde_json::json!({}), "bench").await?;
    let services = Services::start(store, &bench.config, bench.opts.workers, None);
    let p = StartParams { triggered_by: "bench".into(), ..StartParams::default() };
    let started = Instant::now();
    let wf = match store.workflow_start(wf_job, &p).await? {
        Started::Started { id, .. } => id,
        other => return Err(Error::Invariant(format!("the workflow did not start: {other:?}"))),
    };
    let state = loop {
        let w = store.workflow_run_get(wf).await?.ok_or_else(|| Error::Invariant("workflow run gone".into()))?;
        if w.state != WorkflowRunState::Running || started.elapsed() > TIMEOUT {
            break w.state;
        }
        tokio::time::sleep(POLL / 5).await;
    };
    services.stop().await;
    if state != WorkflowRunState::Succeeded {
        return Err(Error::Invariant(format!("the workflow run ended {state}, not succeeded")));
    }
    let lags = db::workflow_lags(store, wf).await?;
    let mut fan_out: Vec<f64> =
        lags.iter().filter(|(name, _, _)| name != &format!("s{}", n - 1)).map(|l| l.1).collect();
    let mut fan_in: Vec<f64> = lags.iter().filter(|(name, _, _)| name == &format!("s{}", n - 1)).map(|l| l.1).collect();
    let mut every: Vec<f64> = lags.iter().map(|l| l.1).collect();
    let mut total: Vec<f64> = lags.first().and_then(|l| l.2).into_iter().collect();
    let runs = n as u64;
    Ok(vec![
        Measurement::new("workflow", flow, "parent_end_to_child_start", runs - 1).with_latencies(&mut every),
        Measurement::new("workflow", flow, "fan_out_root_end_to_start", runs - 2).with_latencies(&mut fan_out),
        Measurement::new("workflow", flow, "fan_in_last_parent_end_to_start", 1).with_latencies(&mut fan_in),
        Measurement::new("workflow", flow, "workflow_start_to_end", runs).with_latencies(&mut total),
    ])
}
