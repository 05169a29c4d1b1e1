//! Submission: inputs, job, run and events in one transaction, idempotent under a client's key.

use chrono::{DateTime, Utc};

use sqlx::PgConnection;

use super::blobs::{CHUNK_BYTES, blob_write};
use super::{BlobId, Resources, Result, RunId, Store};
use crate::domain::{Flow, Priority};
use crate::retry::RetryPolicy;

/// What to insert for a one-off submission (an upload creates a job and its run at once).
#[derive(Debug, Clone)]
pub struct SubmitParams {
    /// Job name (the upload names it after the service and user).
    pub name: String,
    /// Service the run is routed to.
    pub service: String,
    /// Namespace whose quota it uses; it must exist ([`super::Error::UnknownNamespace`] otherwise).
    pub namespace: String,
    /// Submitting user.
    pub user_id: String,
    /// Its queue.
    pub priority: Priority,
    /// Through admission, or admitted on insert (legacy).
    pub flow: Flow,
    /// Requested resources.
    pub request: Resources,
    /// The uploaded files as a zip archive.
    pub input_zip: Vec<u8>,
    /// Command line instead of `run.sh`.
    pub command: Option<Vec<String>>,
    /// Extra environment.
    pub env: serde_json::Value,
    /// Maximum execution time.
    pub timeout_seconds: Option<i32>,
    /// What follows a failed attempt (stored with the run).
    pub retry: RetryPolicy,
    /// Idempotency key and the request's fingerprint: a second submission with the same key
    /// returns the first run instead of creating another.
    pub idempotency: Option<(String, String)>,
    /// Injected clock; `None` uses the database clock.
    pub now: Option<DateTime<Utc>>,
}

/// What a submission with an idempotency key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    /// A new run.
    Created(RunId),
    /// The key was used before with the same request: that run.
    Replayed(RunId),
    /// The key was used before with another request. Carries no id: the caller's request has no
    /// run, and the other request's run is not the caller's to learn.
    Conflict,
}

impl Store {
    /// Stores the inputs, the job and its run (queued, or admitted for the legacy flow) and the
    /// events, in one transaction; then wakes the leader or the workers. A reused idempotency key
    /// returns the first run (same request) or [`super::Error::IdempotencyConflict`] (another).
    pub async fn run_submit(&self, p: SubmitParams) -> Result<RunId> {
        match self.run_submit_idempotent(p).await? {
            Submitted::Created(id) | Submitted::Replayed(id) => Ok(id),
            Submitted::Conflict => Err(super::Error::IdempotencyConflict),
        }
    }

    /// Like [`Store::run_submit`], answering a reused idempotency key with the first run (same
    /// request) or a conflict (another request). Safe against concurrent submissions of one key.
    pub async fn run_submit_idempotent(&self, p: SubmitParams) -> Result<Submitted> {
        self.run_submit_idempotent_as(p, "api").await
    }

    /// [`Store::run_submit_idempotent`], recording `actor` (the token's subject) as the actor of
    /// the run's events.
    pub async fn run_submit_idempotent_as(&self, p: SubmitParams, actor: &str) -> Result<Submitted> {
        if let Some((key, hash)) = &p.idempotency
            && let Some(found) = self.run_by_idempotency_key(key, hash).await?
        {
            return Ok(found);
        }
        let idempotency = p.idempotency.clone();
        match self.run_insert(p, actor).await {
            Ok(id) => Ok(Submitted::Created(id)),
            // Another request with the same key committed first.
            Err(super::Error::Db(sqlx::Error::Database(e))) if e.constraint() == Some("runs_idempotency_key") => {
                let (key, hash) = idempotency.unwrap_or_default();
                self.run_by_idempotency_key(&key, &hash).await?.ok_or(super::Error::Db(sqlx::Error::RowNotFound))
            }
            Err(e) => Err(e),
        }
    }

    async fn run_by_idempotency_key(&self, key: &str, hash: &str) -> Result<Option<Submitted>> {
        let row: Option<(RunId, Option<String>)> =
            sqlx::query_as(include_str!("../../sql/runs/by_idempotency_key.sql"))
                .bind(key)
                .fetch_optional(self.pool())
                .await?;
        Ok(row.map(|(id, h)| if h.as_deref() == Some(hash) { Submitted::Replayed(id) } else { Submitted::Conflict }))
    }

    async fn run_insert(&self, p: SubmitParams, actor: &str) -> Result<RunId> {
        if p.input_zip.len() <= CHUNK_BYTES {
            // The common case: everything in one statement, one round trip.
            let inline = (!p.input_zip.is_empty()).then_some(p.input_zip.as_slice());
            let mut conn = self.pool().acquire().await?;
            return insert(&mut conn, &p, None, inline, actor).await;
        }
        let mut tx = self.pool().begin().await?;
        let blob = blob_write(&mut tx, &p.input_zip).await?;
        // An unknown namespace returns before the commit: dropping `tx` rolls the blob back.
        let id = insert(&mut tx, &p, Some(blob), None, actor).await?;
        tx.commit().await?;
        Ok(id)
    }
}

/// Runs `runs/submit.sql`: the input is either a blob already written or (at most one chunk) inline.
/// The statement inserts nothing when the namespace does not exist: that is
/// [`super::Error::UnknownNamespace`].
async fn insert(
    conn: &mut PgConnection,
    p: &SubmitParams,
    blob: Option<BlobId>,
    inline: Option<&[u8]>,
    actor: &str,
) -> Result<RunId> {
    let state = p.flow.initial_state();
    let command = p.command.as_ref().map(|c| serde_json::json!(c));
    let id: Option<RunId> = sqlx::query_scalar(include_str!("../../sql/runs/submit.sql"))
        .bind(&p.name)
        .bind(&p.service)
        .bind(&p.namespace)
        .bind(&p.user_id)
        .bind(p.priority)
        .bind(p.flow)
        .bind(p.request.cpu)
        .bind(p.request.memory)
        .bind(p.request.pods)
        .bind(p.request.storage)
        .bind(blob)
        .bind(command)
        .bind(&p.env)
        .bind(p.timeout_seconds)
        .bind(p.retry.max_attempts)
        .bind(state)
        .bind(p.now)
        .bind(p.idempotency.as_ref().map(|(k, _)| k.as_str()))
        .bind(p.idempotency.as_ref().map(|(_, h)| h.as_str()))
        .bind(inline)
        .bind(p.retry.backoff_seconds)
        .bind(p.retry.backoff_max_seconds)
        .bind(actor)
        .fetch_optional(conn)
        .await?;
    id.ok_or_else(|| super::Error::UnknownNamespace(p.namespace.clone()))
}
