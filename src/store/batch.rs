//! Set-based variants of the run writes: bulk enqueue and batched completion, one statement each.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

use super::blobs::{CHUNK_BYTES, blob_write};
use super::held::Held;
use super::namespaces::namespace_require;
use super::notify::{self, notify};
use super::runs::{FinishParams, RunState};
use super::{AttemptId, Resources, Result, RunId, Store};
use crate::domain::{Flow, Priority};

/// A bulk enqueue: one job and run per entry of `user_ids`, all from one template.
#[derive(Debug, Clone)]
pub struct SubmitBatchParams {
    /// Job name.
    pub name: String,
    /// Service the runs are routed to.
    pub service: String,
    /// Namespace whose quota they use; it must exist ([`super::Error::UnknownNamespace`] otherwise).
    pub namespace: String,
    /// Its queue.
    pub priority: Priority,
    /// Through admission, or admitted on insert (legacy).
    pub flow: Flow,
    /// Requested resources of each run.
    pub request: Resources,
    /// The input files as a zip, stored once and shared by every job of the batch.
    pub input_zip: Vec<u8>,
    /// Maximum execution time.
    pub timeout_seconds: Option<i32>,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// Submitting user of each run, in queue order.
    pub user_ids: Vec<String>,
    /// Injected clock; `None` uses the database clock.
    pub now: Option<DateTime<Utc>>,
}

impl Store {
    /// Enqueues a whole batch in one transaction with one set-based statement, then wakes the
    /// leader or the workers once. Returns the run ids in queue order.
    pub async fn run_submit_batch(&self, p: &SubmitBatchParams) -> Result<Vec<RunId>> {
        if p.user_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.pool().begin().await?;
        namespace_require(&mut tx, &p.namespace).await?;
        let blob = blob_write(&mut tx, &p.input_zip).await?;
        let state = p.flow.initial_state();
        let ids: Vec<RunId> = sqlx::query_scalar(include_str!("../../sql/runs/submit_batch.sql"))
            .bind(&p.name)
            .bind(&p.service)
            .bind(&p.namespace)
            .bind(p.priority)
            .bind(p.flow)
            .bind(&p.user_ids)
            .bind(p.request.cpu)
            .bind(p.request.memory)
            .bind(p.request.pods)
            .bind(p.request.storage)
            .bind(blob)
            .bind(p.timeout_seconds)
            .bind(p.max_attempts)
            .bind(state)
            .bind(p.now)
            .fetch_all(&mut *tx)
            .await?;
        let channel = if state == RunState::Admitted { notify::ADMITTED } else { notify::QUEUED };
        notify(&mut tx, channel).await?;
        tx.commit().await?;
        Ok(ids)
    }

    /// Ends many attempts in one transaction and one statement, each exactly as
    /// [`Store::run_finish`] would: returns, per entry, whether it was recorded (false: its
    /// fencing token is no longer current and nothing of it was stored). Entries whose result is
    /// larger than one blob chunk, and retries, go through [`Store::run_finish`] instead.
    pub async fn run_finish_batch(&self, batch: Vec<FinishParams>) -> Result<Vec<bool>> {
        let (mut done, set) = self.finish_alone(batch).await?;
        if !set.is_empty() {
            let finished = finish_batch(self.generic_pool(), &set).await?;
            mark_done(&mut done, &set, &finished);
        }
        Ok(done)
    }

    /// Ends the entries the batched statement does not take, one by one ([`Store::run_finish`]);
    /// returns what each of them did and the other entries, with their places in `batch`.
    async fn finish_alone(&self, batch: Vec<FinishParams>) -> Result<(Vec<bool>, Vec<(usize, FinishParams)>)> {
        let mut done = vec![false; batch.len()];
        let mut set = Vec::with_capacity(batch.len());
        for (i, p) in batch.into_iter().enumerate() {
            // Streaming runs go alone too: runs/finish.sql keeps their attempt counts.
            if p.retry_after_seconds.is_some()
                || p.streaming.is_some()
                || p.result_zip.as_ref().is_some_and(|z| z.len() > CHUNK_BYTES)
            {
                done[i] = self.run_finish(p).await?;
            } else {
                set.push((i, p));
            }
        }
        Ok((done, set))
    }
}

impl Held {
    /// [`Store::run_finish_batch`], the batched statement on the held connection.
    pub async fn run_finish_batch(&mut self, batch: Vec<FinishParams>) -> Result<Vec<bool>> {
        let (mut done, set) = self.store().finish_alone(batch).await?;
        if !set.is_empty() {
            let result = finish_batch(self.conn().await?, &set).await;
            mark_done(&mut done, &set, &self.settle(result)?);
        }
        Ok(done)
    }
}

/// Runs runs/finish_batch.sql on `db` for `set`: one statement in its own transaction, which also
/// wakes the leader when anything ended. Returns the runs whose end it recorded.
async fn finish_batch<'e>(db: impl PgExecutor<'e>, set: &[(usize, FinishParams)]) -> Result<Vec<RunId>> {
    let runs: Vec<RunId> = set.iter().map(|(_, p)| p.run).collect();
    let tokens: Vec<AttemptId> = set.iter().map(|(_, p)| p.attempt_id).collect();
    let states: Vec<RunState> = set.iter().map(|(_, p)| p.state).collect();
    let codes: Vec<Option<i32>> = set.iter().map(|(_, p)| p.exit_code).collect();
    let zips: Vec<Option<&[u8]>> = set.iter().map(|(_, p)| p.result_zip.as_deref()).collect();
    let messages: Vec<&str> = set.iter().map(|(_, p)| p.message.as_str()).collect();
    // One clock for the whole batch: the first injected instant, else the database's.
    let now = set.iter().find_map(|(_, p)| p.now);
    Ok(sqlx::query_scalar(include_str!("../../sql/runs/finish_batch.sql"))
        .bind(&runs)
        .bind(&tokens)
        .bind(&states)
        .bind(&codes)
        .bind(&zips)
        .bind(&messages)
        .bind(now)
        .fetch_all(db)
        .await?)
}

/// Marks the entries of `set` whose run is in `finished` as recorded.
fn mark_done(done: &mut [bool], set: &[(usize, FinishParams)], finished: &[RunId]) {
    for (i, p) in set {
        done[*i] = finished.contains(&p.run);
    }
}
