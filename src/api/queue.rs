//! `/api/v1/queue` and `/api/v1/runs/{id}/why`: where a run stands and why it waits, in words.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::ErrorBody;
use super::seed::parse_id;
use super::{AppState, Caller, Error, Result};
use crate::auth::JobPermission;
use crate::domain::Priority;
use crate::scheduler::admission::{FairNamespaces, Turn, fair_order};
use crate::store::RunId;
use crate::store::queue::QueuedRow;
use crate::store::runs::{RunRow, RunState};

/// Most rows the queue view returns.
pub const QUEUE_LIMIT_DEFAULT: i64 = 500;
/// The most rows one queue request may ask for (larger `limit`s are lowered to it).
pub const QUEUE_LIMIT_MAX: i64 = 10_000;

/// Filters of the queue view.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QueueQuery {
    /// Only this namespace.
    pub namespace: Option<String>,
    /// Only `high` or `normal`.
    #[param(pattern = "^(high|normal)$")]
    pub priority: Option<String>,
    /// Most rows (default 500; below 1 means 1, above 10000 means 10000).
    pub limit: Option<i64>,
}

/// A queued run, in admission order.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QueuedView {
    /// Run id.
    pub id: RunId,
    /// Submitting user.
    pub user_id: String,
    /// Service.
    pub service: String,
    /// Namespace.
    pub namespace: String,
    /// Its queue.
    pub priority: Priority,
    /// Queue position key.
    pub enqueued_at: DateTime<Utc>,
    /// Since when it blocks the head of a scope.
    pub head_since: Option<DateTime<Utc>>,
    /// End of its cool-down after a head-timeout retry.
    pub not_before: Option<DateTime<Utc>>,
    /// The last admission cycle's record of why it waits.
    #[schema(value_type = Option<Object>)]
    pub block: Option<serde_json::Value>,
    /// Another tenant's run the caller may not view: shown as its position only (`user_id` and
    /// `service` empty, no `block`).
    pub hidden: bool,
}

impl QueuedView {
    /// The API's view of a stored queued run; one the caller may not view keeps only its place.
    pub fn from_row(q: &QueuedRow) -> Self {
        let shown = |text: &String| if q.visible { text.clone() } else { String::new() };
        QueuedView {
            id: q.id,
            user_id: shown(&q.user_id),
            service: shown(&q.service),
            namespace: q.namespace.clone(),
            priority: q.priority,
            enqueued_at: q.enqueued_at,
            head_since: q.head_since,
            not_before: q.not_before,
            block: q.block.clone().filter(|_| q.visible),
            hidden: !q.visible,
        }
    }
}

/// Queued runs in admission order with their block records: high before normal, then queue order,
/// or in a `fair` namespace its users' turns (what each holds now, then their runs queued before),
/// as the admission cycle walks them. Runs the caller may not view (auth on) keep their place,
/// without their user, service or block record (`hidden`).
#[utoipa::path(get, path = "/api/v1/queue", params(QueueQuery), responses(
    (status = 200, body = Vec<QueuedView>), (status = 400, description = "invalid filter", body = ErrorBody)))]
pub async fn get_queue(
    State(state): State<AppState>,
    caller: Caller,
    query: std::result::Result<Query<QueueQuery>, QueryRejection>,
) -> Result<Json<Vec<QueuedView>>> {
    let Query(q) = query.map_err(|e| {
        Error::bad_request(
            "invalid_query",
            format!("expected namespace, priority (high or normal) and limit (an integer): {}", e.body_text()),
        )
    })?;
    let priority =
        match q.priority.as_deref() {
            None => None,
            Some(p) => Some(p.parse::<Priority>().map_err(|_| {
                Error::bad_request("invalid_field", format!("priority must be high or normal, got {p:?}"))
            })?),
        };
    let limit = q.limit.unwrap_or(QUEUE_LIMIT_DEFAULT).clamp(1, QUEUE_LIMIT_MAX);
    if let Some(ns) = q.namespace.as_deref() {
        super::seed::check_namespace_name(ns)?;
    }
    let viewer = caller.viewer();
    let fair_read = crate::scheduler::SCAN_LIMIT_DEFAULT;
    let rows = state.store.queue_list(q.namespace.as_deref(), priority, limit, fair_read, viewer.as_ref()).await?;
    let ordered = admission_order(&rows, usize::try_from(limit).unwrap_or(usize::MAX));
    Ok(Json(ordered.into_iter().map(QueuedView::from_row).collect()))
}

impl Turn for QueuedRow {
    fn namespace(&self) -> &str {
        &self.namespace
    }

    fn user(&self) -> &str {
        &self.user_id
    }
}

/// The first `limit` of `rows` (in queue order: priority, then age) in the order admission walks
/// them: high before normal, and within each priority a fair namespace's runs in fair order in the
/// places they hold, as `scheduler::admission` orders them (`fair.rs`). A run cooling down keeps
/// its place and takes no turn: admission does not read it. Pure.
pub fn admission_order(rows: &[QueuedRow], limit: usize) -> Vec<&QueuedRow> {
    let mut fair = FairNamespaces::new();
    for r in rows.iter().filter(|r| r.fair) {
        let active = u32::try_from(r.active).unwrap_or(u32::MAX);
        fair.entry(r.namespace.clone()).or_default().insert(r.user_id.clone(), active);
    }
    let mut out = Vec::with_capacity(rows.len().min(limit));
    for priority in [Priority::High, Priority::Normal] {
        let queue: Vec<&QueuedRow> = rows.iter().filter(|r| r.priority == priority).collect();
        let mut walked: Vec<&QueuedRow> = queue.iter().copied().filter(|r| !r.cooling).collect();
        fair_order(&mut walked, &fair);
        let mut walked = walked.into_iter();
        out.extend(queue.iter().filter_map(|r| if r.cooling { Some(*r) } else { walked.next() }));
    }
    out.truncate(limit);
    out
}

/// Why a run is where it is.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WhyView {
    /// Run id.
    pub id: i64,
    /// State name.
    pub state: RunState,
    /// In words.
    pub message: String,
    /// The last admission cycle's record (reason, scopes with requested/available/shortfall, position).
    #[schema(value_type = Option<Object>)]
    pub record: Option<serde_json::Value>,
}

impl WhyView {
    /// The API's view of where a stored run stands.
    pub fn from_row(run: &RunRow) -> Self {
        WhyView { id: run.id.0, state: run.state, message: explain(run), record: run.block.clone() }
    }
}

/// Why the run waits (or what it is doing), in words and as JSON.
#[utoipa::path(get, path = "/api/v1/runs/{id}/why", params(("id" = i64, Path, description = "run id", example = 1)), responses(
    (status = 200, body = WhyView), (status = 404, description = "unknown run", body = ErrorBody)))]
pub async fn why(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Json<WhyView>> {
    let id = parse_id(&id)?;
    let run = super::runs::visible_run(&state, &caller, id, JobPermission::View).await?;
    Ok(Json(WhyView::from_row(&run)))
}

/// One sentence on where the run stands.
pub fn explain(run: &RunRow) -> String {
    match run.state {
        RunState::Queued => match run.block.as_ref().and_then(|b| b.get("message")).and_then(|m| m.as_str()) {
            Some(m) => m.to_string(),
            None => "queued; the next admission cycle has not looked at it yet".to_string(),
        },
        RunState::Waiting => match run.not_before {
            Some(t) => format!("waiting until {t} (retry back-off), then back to the queue at its place"),
            None => "waiting for its dependencies or schedule".to_string(),
        },
        RunState::Admitted => format!(
            "admitted; waiting for a live worker of service {} with room for cpu {} m, memory {} MiB, pods {}, storage {} MiB",
            run.service, run.cpu, run.memory, run.pods, run.storage
        ),
        RunState::Running => match run.worker_id {
            Some(w) => format!("running attempt {} on worker {w}", run.attempt),
            None => "running".to_string(),
        },
        s => {
            let detail = if run.message.is_empty() { String::new() } else { format!(": {}", run.message) };
            format!("finished {}{detail}", s.as_str())
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    /// Run `id` of `user` in namespace `ns` (fair or not), queued at second `id`.
    fn row(id: i64, ns: &str, fair: bool, user: &str, active: i64) -> QueuedRow {
        QueuedRow {
            id: RunId(id),
            user_id: user.into(),
            service: "svc".into(),
            namespace: ns.into(),
            priority: Priority::Normal,
            enqueued_at: Utc.timestamp_opt(id, 0).unwrap(),
            head_since: None,
            not_before: None,
            block: None,
            fair,
            active,
            cooling: false,
            visible: true,
        }
    }

    fn ids(rows: Vec<&QueuedRow>) -> Vec<i64> {
        rows.into_iter().map(|r| r.id.0).collect()
    }

    #[test]
    fn a_fair_namespace_takes_turns_in_its_own_places_and_the_limit_counts_after() {
        // etl is fair: alice holds 1 run, bob none; ops keeps queue order in its places (2 and 5).
        let rows = vec![
            row(1, "etl", true, "alice", 1),
            row(2, "ops", false, "carol", 0),
            row(3, "etl", true, "alice", 1),
            row(4, "etl", true, "bob", 0),
            row(5, "ops", false, "carol", 0),
        ];
        assert_eq!(ids(admission_order(&rows, 10)), [4, 2, 1, 3, 5], "bob's turn 0, then alice's 1 and 2");
        assert_eq!(ids(admission_order(&rows, 1)), [4], "the limit keeps the first in admission order");
    }

    #[test]
    fn a_run_cooling_down_keeps_its_place_and_takes_no_turn() {
        let mut cooling = row(1, "etl", true, "alice", 0);
        cooling.cooling = true;
        let rows = vec![cooling, row(2, "etl", true, "alice", 0), row(3, "etl", true, "bob", 0)];
        // Alice's second run has her first turn (her first run cools down): it goes before bob's.
        assert_eq!(ids(admission_order(&rows, 10)), [1, 2, 3]);
    }

    #[test]
    fn high_comes_before_normal() {
        let mut high = row(9, "ops", false, "carol", 0);
        high.priority = Priority::High;
        let rows = vec![row(1, "ops", false, "carol", 0), high];
        assert_eq!(ids(admission_order(&rows, 10)), [9, 1]);
    }
}
