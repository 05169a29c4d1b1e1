//! Rides out a database outage: an attempt's last writes (reading its inputs, recording its end,
//! handing it back) are retried with capped exponential back-off until the database answers.
//!
//! Giving up instead would strand the run: the worker keeps heartbeating, so the leader never
//! rescues it, and it would stay `running` forever. Retrying is safe because every such write is
//! fenced by the attempt's token: once the leader has taken the run back, the write is refused,
//! not applied twice.

use std::future::Future;
use std::time::Duration;

/// First pause after a failed write.
pub const RETRY_FIRST_DEFAULT: Duration = Duration::from_millis(100);
/// Longest pause between two tries.
pub const RETRY_MAX_DEFAULT: Duration = Duration::from_secs(5);

/// Calls `op` until it returns `Some`, pausing between tries (doubling from
/// [`RETRY_FIRST_DEFAULT`] up to [`RETRY_MAX_DEFAULT`]). `what` names the write in the log.
pub async fn until_done<T, F, Fut>(what: &str, mut op: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let mut pause = RETRY_FIRST_DEFAULT;
    let mut tries: u32 = 0;
    loop {
        if let Some(v) = op().await {
            if tries > 0 {
                tracing::info!(tries, "{what}: done after the database came back");
            }
            return v;
        }
        tries = tries.saturating_add(1);
        tracing::warn!(tries, retry_in = ?pause, "{what}: the database failed; retrying");
        tokio::time::sleep(pause).await;
        pause = next_pause(pause);
    }
}

/// The pause after `pause`: doubled, capped at [`RETRY_MAX_DEFAULT`].
pub fn next_pause(pause: Duration) -> Duration {
    pause.saturating_mul(2).min(RETRY_MAX_DEFAULT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_up_to_the_cap() {
        let mut p = RETRY_FIRST_DEFAULT;
        let mut seen = vec![p];
        for _ in 0..8 {
            p = next_pause(p);
            seen.push(p);
        }
        assert_eq!(seen[1], Duration::from_millis(200));
        assert_eq!(*seen.last().unwrap(), RETRY_MAX_DEFAULT);
        assert!(seen.windows(2).all(|w| w[0] <= w[1]));
    }
}
