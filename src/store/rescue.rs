//! The leader's timers on runs: rescue the runs of dead workers, return unclaimed admissions to the
//! queue, and wake runs whose back-off is over. Each runs inside a fenced [`LeaderTx`].

use chrono::{DateTime, Utc};

use super::admission::LeaderTx;
use super::notify::{self, notify};
use super::{Result, RunId};

impl LeaderTx {
    /// Ends the attempts of workers silent for `lease_seconds` as lost and requeues their runs
    /// (or fails them after `max_lost` lost attempts). Returns the runs moved.
    pub async fn rescue_lost(
        &mut self,
        lease_seconds: f64,
        max_lost: i32,
        now: Option<DateTime<Utc>>,
    ) -> Result<Vec<RunId>> {
        let ids: Vec<RunId> = sqlx::query_scalar(include_str!("../../sql/runs/rescue_lost.sql"))
            .bind(lease_seconds)
            .bind(max_lost)
            .bind(now)
            .fetch_all(&mut *self.tx)
            .await?;
        self.wake_if(&ids).await?;
        Ok(ids)
    }

    /// Returns admitted runs nobody claimed within `startup_seconds` to the queue at their place.
    pub async fn requeue_unclaimed(&mut self, startup_seconds: f64, now: Option<DateTime<Utc>>) -> Result<Vec<RunId>> {
        let ids: Vec<RunId> = sqlx::query_scalar(include_str!("../../sql/runs/requeue_unclaimed.sql"))
            .bind(startup_seconds)
            .bind(now)
            .fetch_all(&mut *self.tx)
            .await?;
        Ok(ids)
    }

    /// Moves waiting runs whose back-off is over back to the queue at their place.
    pub async fn wake_due(&mut self, now: Option<DateTime<Utc>>) -> Result<Vec<RunId>> {
        let ids: Vec<RunId> =
            sqlx::query_scalar(include_str!("../../sql/runs/wake_due.sql")).bind(now).fetch_all(&mut *self.tx).await?;
        self.wake_if(&ids).await?;
        Ok(ids)
    }

    /// Workers claim legacy runs put back as admitted.
    async fn wake_if(&mut self, ids: &[RunId]) -> Result<()> {
        if !ids.is_empty() {
            notify(&mut self.tx, notify::ADMITTED).await?;
        }
        Ok(())
    }
}
