//! Workflows: a job whose steps are jobs with `depends_on` edges. This module holds the pure part,
//! the check of a definition ([`validate`]) into the graph a start stores; the store keeps the
//! runs, and the database trigger `workflow_step_ended` (migration 0018) releases or cancels the
//! dependents of a step in the transaction that ends it (docs/workflows.md).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::domain::JobKind;
use crate::store::JobId;

/// Most steps in one workflow.
pub const STEPS_MAX: usize = 5000;
/// Most dependencies (edges) in a workflow, all steps together: each is a row written at every
/// start, and 5,000 steps that each depend on every earlier one would be 12.5 million.
pub const EDGES_MAX: usize = 50_000;
/// Longest step name (it names the child's `parents/<step>/` folder).
pub const STEP_NAME_MAX_CHARS: usize = 63;

/// One step of a workflow: a stored job, run when every step it depends on succeeded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Unique in the workflow: 1–63 letters, digits, dashes, underscores and dots (not `.` or
    /// `..`); the children of this step find its result files under `parents/<name>/`.
    pub name: String,
    /// The stored batch job the step runs (its payload, resources and retry policy).
    #[schema(value_type = i64)]
    pub job: JobId,
    /// Names of the steps that must succeed before this one is queued.
    #[serde(default)]
    pub depends_on: Vec<String>,
}

/// The checked graph of a workflow, by step index in the definition's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Graph {
    /// `(parent, child)` pairs.
    pub edges: Vec<(usize, usize)>,
    /// Parents of each step (a step with 0 is queued at once).
    pub pending: Vec<i32>,
    /// Every step index once, each after its parents (the order a start draws the runs' ids in,
    /// so that a parent's run id is below its children's: the lock order of the release).
    pub order: Vec<usize>,
}

/// Why a workflow definition is refused. Every message names the step, edge or job at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkflowError {
    /// `steps` is empty (or missing).
    #[error("a workflow needs at least one step")]
    NoSteps,
    /// More steps than [`STEPS_MAX`].
    #[error("a workflow has at most {STEPS_MAX} steps, got {0}")]
    TooManySteps(usize),
    /// More dependencies than [`EDGES_MAX`], all steps together.
    #[error("a workflow has at most {EDGES_MAX} dependencies (depends_on entries, all steps together), got {0}")]
    TooManyEdges(usize),
    /// A name that cannot name a folder.
    #[error(
        "step name {0:?} must be 1 to {STEP_NAME_MAX_CHARS} letters, digits, dashes, underscores and dots, \
         not . or .. (it names the parents/<step> folder of its children)"
    )]
    BadName(String),
    /// Two steps share a name.
    #[error("step name {0:?} is used twice")]
    DuplicateName(String),
    /// `depends_on` names no step of the workflow.
    #[error("step {step:?} depends on {depends_on:?}, which is not a step of this workflow")]
    UnknownStep {
        /// The step.
        step: String,
        /// The name it depends on.
        depends_on: String,
    },
    /// `depends_on` names the same step twice.
    #[error("step {step:?} lists {depends_on:?} twice in depends_on")]
    DuplicateDependency {
        /// The step.
        step: String,
        /// The name listed twice.
        depends_on: String,
    },
    /// The edges form a cycle (listed from a step back to itself).
    #[error("the steps form a cycle: {}", .0.join(" -> "))]
    Cycle(Vec<String>),
    /// The step's job does not exist, was deleted, or is an upload's one-off job.
    #[error(
        "step {step:?}: job {job} does not exist, was deleted, or is an upload's one-off job (a step runs a stored job)"
    )]
    UnknownJob {
        /// The step.
        step: String,
        /// Its job.
        job: JobId,
    },
    /// The step's job is not a batch job.
    #[error("step {step:?}: job {job} is a {kind} job; the steps of a workflow are batch jobs")]
    NotBatch {
        /// The step.
        step: String,
        /// Its job.
        job: JobId,
        /// The job's kind.
        kind: JobKind,
    },
}

/// Checks a workflow definition against the kinds of the jobs that exist (`jobs`: every job the
/// steps name that exists and is not deleted) and returns its graph. Checks run in a fixed order
/// (names, dependencies, cycles, jobs) so that a definition always gets the same answer.
pub fn validate(steps: &[Step], jobs: &HashMap<JobId, JobKind>) -> Result<Graph, WorkflowError> {
    if steps.is_empty() {
        return Err(WorkflowError::NoSteps);
    }
    if steps.len() > STEPS_MAX {
        return Err(WorkflowError::TooManySteps(steps.len()));
    }
    let edges: usize = steps.iter().map(|s| s.depends_on.len()).sum();
    if edges > EDGES_MAX {
        return Err(WorkflowError::TooManyEdges(edges));
    }
    let mut index = HashMap::with_capacity(steps.len());
    for (i, s) in steps.iter().enumerate() {
        if !name_ok(&s.name) {
            return Err(WorkflowError::BadName(s.name.clone()));
        }
        if index.insert(s.name.as_str(), i).is_some() {
            return Err(WorkflowError::DuplicateName(s.name.clone()));
        }
    }
    let mut parents: Vec<Vec<usize>> = Vec::with_capacity(steps.len());
    for s in steps {
        let mut mine = Vec::with_capacity(s.depends_on.len());
        let mut seen = std::collections::HashSet::with_capacity(s.depends_on.len());
        for d in &s.depends_on {
            let Some(&p) = index.get(d.as_str()) else {
                return Err(WorkflowError::UnknownStep { step: s.name.clone(), depends_on: d.clone() });
            };
            if !seen.insert(p) {
                return Err(WorkflowError::DuplicateDependency { step: s.name.clone(), depends_on: d.clone() });
            }
            mine.push(p);
        }
        parents.push(mine);
    }
    if let Some(cycle) = find_cycle(&parents) {
        return Err(WorkflowError::Cycle(cycle.into_iter().map(|i| steps[i].name.clone()).collect()));
    }
    for s in steps {
        match jobs.get(&s.job) {
            None => return Err(WorkflowError::UnknownJob { step: s.name.clone(), job: s.job }),
            Some(JobKind::Batch) => {}
            Some(kind) => return Err(WorkflowError::NotBatch { step: s.name.clone(), job: s.job, kind: *kind }),
        }
    }
    let edges = parents.iter().enumerate().flat_map(|(c, ps)| ps.iter().map(move |p| (*p, c))).collect();
    let pending = parents.iter().map(|ps| i32::try_from(ps.len()).unwrap_or(i32::MAX)).collect();
    Ok(Graph { edges, pending, order: topological(&parents) })
}

/// The nodes of an acyclic graph (given by each node's parents), each after its parents; among
/// the nodes ready at once, the lowest index first (Kahn's algorithm).
fn topological(parents: &[Vec<usize>]) -> Vec<usize> {
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); parents.len()];
    let mut left: Vec<usize> = parents.iter().map(Vec::len).collect();
    for (c, ps) in parents.iter().enumerate() {
        for p in ps {
            children[*p].push(c);
        }
    }
    let mut ready: std::collections::BTreeSet<usize> = (0..parents.len()).filter(|i| left[*i] == 0).collect();
    let mut order = Vec::with_capacity(parents.len());
    while let Some(n) = ready.pop_first() {
        order.push(n);
        for c in &children[n] {
            left[*c] -= 1;
            if left[*c] == 0 {
                ready.insert(*c);
            }
        }
    }
    order
}

/// Whether `name` can name a step (and a folder).
fn name_ok(name: &str) -> bool {
    let chars = name.chars().count();
    (1..=STEP_NAME_MAX_CHARS).contains(&chars)
        && name != "."
        && name != ".."
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A cycle in the graph given by each node's parents, as a path that starts and ends at the same
/// node; `None` when it is acyclic. Iterative depth-first search (a 5,000-step chain must not
/// overflow the stack), visiting nodes in index order so the answer is stable.
fn find_cycle(parents: &[Vec<usize>]) -> Option<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    let mut mark = vec![Mark::New; parents.len()];
    for start in 0..parents.len() {
        if mark[start] != Mark::New {
            continue;
        }
        // (node, next parent to look at)
        let mut path: Vec<(usize, usize)> = vec![(start, 0)];
        mark[start] = Mark::OnPath;
        while let Some(&mut (node, ref mut next)) = path.last_mut() {
            if let Some(&p) = parents[node].get(*next) {
                *next += 1;
                match mark[p] {
                    Mark::New => {
                        mark[p] = Mark::OnPath;
                        path.push((p, 0));
                    }
                    Mark::OnPath => {
                        // The path walks from children to parents; report it parent first.
                        let from = path.iter().position(|(n, _)| *n == p).unwrap_or(0);
                        let mut cycle: Vec<usize> = path[from..].iter().map(|(n, _)| *n).collect();
                        cycle.push(p);
                        cycle.reverse();
                        return Some(cycle);
                    }
                    Mark::Done => {}
                }
            } else {
                mark[node] = Mark::Done;
                path.pop();
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(name: &str, job: i64, deps: &[&str]) -> Step {
        Step { name: name.into(), job: JobId(job), depends_on: deps.iter().map(|d| d.to_string()).collect() }
    }

    fn batch(ids: &[i64]) -> HashMap<JobId, JobKind> {
        ids.iter().map(|i| (JobId(*i), JobKind::Batch)).collect()
    }

    #[test]
    fn a_diamond_is_a_graph_with_its_pending_counts() {
        let steps = [step("a", 1, &[]), step("b", 1, &["a"]), step("c", 2, &["a"]), step("d", 2, &["b", "c"])];
        let g = validate(&steps, &batch(&[1, 2])).unwrap();
        assert_eq!(g.pending, vec![0, 1, 1, 2]);
        assert_eq!(g.edges, vec![(0, 1), (0, 2), (1, 3), (2, 3)]);
        assert_eq!(g.order, vec![0, 1, 2, 3]);
        // A child listed before its parent still comes after it.
        let g = validate(&[step("load", 1, &["extract"]), step("extract", 1, &[])], &batch(&[1])).unwrap();
        assert_eq!(g.order, vec![1, 0]);
    }

    #[test]
    fn a_cycle_is_refused_and_named() {
        let steps = [step("x", 1, &[]), step("a", 1, &["c"]), step("b", 1, &["a"]), step("c", 1, &["b", "x"])];
        let e = validate(&steps, &batch(&[1])).unwrap_err();
        let WorkflowError::Cycle(path) = &e else { panic!("{e:?}") };
        assert_eq!(path.first(), path.last());
        assert_eq!(path.len(), 4, "{path:?}");
        let message = e.to_string();
        for name in ["a", "b", "c"] {
            assert!(message.contains(name), "{message}");
        }
        assert!(!path.contains(&"x".to_string()), "x is not on the cycle: {path:?}");
        let own = validate(&[step("self", 1, &["self"])], &batch(&[1])).unwrap_err();
        assert_eq!(own, WorkflowError::Cycle(vec!["self".into(), "self".into()]));
    }

    #[test]
    fn unknown_or_duplicate_names_are_refused_and_named() {
        let e = validate(&[step("a", 1, &[]), step("b", 1, &["nope"])], &batch(&[1])).unwrap_err();
        assert_eq!(e, WorkflowError::UnknownStep { step: "b".into(), depends_on: "nope".into() });
        assert!(e.to_string().contains("\"nope\""), "{e}");
        let e = validate(&[step("a", 1, &[]), step("a", 1, &[])], &batch(&[1])).unwrap_err();
        assert_eq!(e, WorkflowError::DuplicateName("a".into()));
        let e = validate(&[step("a", 1, &[]), step("b", 1, &["a", "a"])], &batch(&[1])).unwrap_err();
        assert!(matches!(e, WorkflowError::DuplicateDependency { .. }), "{e:?}");
        for bad in ["", ".", "..", "a/b", "sp ace", &"x".repeat(64)] {
            assert_eq!(validate(&[step(bad, 1, &[])], &batch(&[1])), Err(WorkflowError::BadName(bad.into())));
        }
        assert_eq!(validate(&[], &batch(&[1])), Err(WorkflowError::NoSteps));
    }

    #[test]
    fn a_workflow_with_more_dependencies_than_the_bound_is_refused_before_any_graph_work() {
        // 400 steps, each depending on every earlier one: 79,800 dependencies.
        let names: Vec<String> = (0..400).map(|i| format!("s{i}")).collect();
        let steps: Vec<Step> =
            (0..400).map(|i| Step { name: names[i].clone(), job: JobId(1), depends_on: names[..i].to_vec() }).collect();
        assert_eq!(validate(&steps, &batch(&[1])).unwrap_err(), WorkflowError::TooManyEdges(79_800));
        // 300 steps the same way: 44,850, under the bound, and a graph.
        let g = validate(&steps[..300], &batch(&[1])).unwrap();
        assert_eq!(g.edges.len(), 44_850);
    }

    #[test]
    fn unknown_or_non_batch_jobs_are_refused_and_named() {
        let e = validate(&[step("a", 1, &[]), step("b", 7, &["a"])], &batch(&[1])).unwrap_err();
        assert_eq!(e, WorkflowError::UnknownJob { step: "b".into(), job: JobId(7) });
        assert!(e.to_string().contains("job 7"), "{e}");
        let mut jobs = batch(&[1]);
        jobs.insert(JobId(3), JobKind::Workflow);
        let e = validate(&[step("a", 1, &[]), step("w", 3, &[])], &jobs).unwrap_err();
        assert!(e.to_string().contains("workflow job"), "{e}");
    }

    #[test]
    fn a_long_chain_and_a_wide_fan_are_fine() {
        let mut chain = vec![step("s0", 1, &[])];
        for i in 1..STEPS_MAX {
            let prev = format!("s{}", i - 1);
            chain.push(step(&format!("s{i}"), 1, &[prev.as_str()]));
        }
        assert!(validate(&chain, &batch(&[1])).is_ok());
        // The last step depends on the first: still acyclic; pointing the first at the last is not.
        chain[0].depends_on = vec![format!("s{}", STEPS_MAX - 1)];
        let e = validate(&chain, &batch(&[1])).unwrap_err();
        assert!(matches!(&e, WorkflowError::Cycle(p) if p.len() == STEPS_MAX + 1), "{e:?}");
        let mut fan = vec![step("root", 1, &[])];
        let middle: Vec<String> = (0..998).map(|i| format!("m{i}")).collect();
        fan.extend(middle.iter().map(|m| step(m, 1, &["root"])));
        fan.push(Step { name: "join".into(), job: JobId(1), depends_on: middle.clone() });
        let g = validate(&fan, &batch(&[1])).unwrap();
        assert_eq!(g.edges.len(), 998 * 2);
        assert_eq!(g.pending[999], 998);
    }
}
