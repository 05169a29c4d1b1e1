//! One leadership term: run the duties on their triggers until deposed, disconnected or cancelled.

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::duty::{self, Done, Duty, Term, Wake};
use crate::store::leader::LeaderSession;
use crate::store::{Error, notify};

/// A duty with its next timer.
struct Scheduled {
    duty: Box<dyn Duty>,
    due: Instant,
    again: bool,
}

/// Why a duty runs in this round, if it does: its interval is due (which also covers a pending
/// notification or request to run again), it asked to run again, or one of its channels notified.
fn wake(due: bool, again: bool, notified: Option<&str>, channels: &[&str]) -> Option<Wake> {
    if due {
        Some(Wake::Interval)
    } else if again {
        Some(Wake::Again)
    } else if notified.is_some_and(|c| channels.contains(&c)) {
        Some(Wake::Notified)
    } else {
        None
    }
}

/// When a duty runs next: at its interval `due`, or sooner when its last run asked to run again
/// `within` some time from `now`.
fn sooner(due: Instant, now: Instant, within: Option<std::time::Duration>) -> Instant {
    within.map_or(due, |w| due.min(now + w))
}

/// Leads until the term ends; releases the leadership at once when `cancel` fires.
pub async fn lead(mut session: LeaderSession, term: Term, cancel: &CancellationToken) {
    let epoch = term.epoch;
    let start = Instant::now();
    let mut duties: Vec<Scheduled> =
        duty::all(&term).into_iter().map(|duty| Scheduled { duty, due: start, again: false }).collect();
    let mut channels: Vec<&'static str> =
        duties.iter().flat_map(|d| d.duty.trigger().channels.iter().copied()).collect();
    channels.sort_unstable();
    channels.dedup();
    let mut listener = notify::listen(&term.store, &channels).await;
    let mut notified: Option<String> = None;
    // The lock connection is checked once per tick: a lost one cannot let a write through
    // meanwhile, because every leader write checks the epoch (a new leader has already bumped it).
    let mut alive_due = start + term.settings.tick;
    loop {
        for d in &mut duties {
            let trigger = d.duty.trigger();
            let now = Instant::now();
            let Some(wake) = wake(d.due <= now, d.again, notified.as_deref(), trigger.channels) else { continue };
            if wake == Wake::Interval {
                d.due = now + trigger.every;
            }
            d.again = match d.duty.run(&term, wake).await {
                Ok(Done { again, within }) => {
                    d.due = sooner(d.due, Instant::now(), within);
                    again
                }
                Err(Error::Deposed { .. }) => {
                    tracing::warn!(epoch, "deposed: another scheduler took over");
                    return;
                }
                Err(e) => {
                    tracing::warn!(duty = d.duty.name(), error = %e, "leader duty failed");
                    false
                }
            };
        }
        notified = None;
        if !duties.iter().any(|d| d.again) {
            let next = duties.iter().map(|d| d.due).min().unwrap_or(alive_due).min(alive_due);
            tokio::select! {
                _ = cancel.cancelled() => {}
                woke = notify::wait(&mut listener) => match woke {
                    Some(channel) => notified = Some(channel),
                    None => listener = None,
                },
                _ = tokio::time::sleep_until(next) => {
                    if listener.is_none() {
                        listener = notify::listen(&term.store, &channels).await;
                    }
                }
            }
        }
        if cancel.is_cancelled() {
            // The duties first: what they hold open (prepared schedule fires) rolls back before the
            // next leader's takeover waits for it.
            drop(duties);
            session.release().await;
            tracing::info!(epoch, "leadership released");
            return;
        }
        if alive_due <= Instant::now() {
            alive_due = Instant::now() + term.settings.tick;
            if !session.alive().await {
                tracing::warn!(epoch, "lost the leader connection: leadership lost");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duty_wakes_for_its_interval_a_request_or_its_own_channels_only() {
        let admission = ["berth_queued", "berth_finished"];
        assert_eq!(wake(true, true, Some("berth_queued"), &admission), Some(Wake::Interval), "the interval wins");
        assert_eq!(wake(false, true, None, &admission), Some(Wake::Again));
        assert_eq!(wake(false, false, Some("berth_finished"), &admission), Some(Wake::Notified));
        assert_eq!(wake(false, false, Some("berth_admitted"), &admission), None, "another duty's channel");
        assert_eq!(wake(false, false, Some("berth_queued"), &[]), None, "a timer-only duty");
        assert_eq!(wake(false, false, None, &admission), None);
    }

    #[test]
    fn a_duty_asking_to_run_within_a_time_runs_then_unless_its_interval_comes_first() {
        use std::time::Duration;
        let now = Instant::now();
        let due = now + Duration::from_secs(1);
        assert_eq!(sooner(due, now, None), due, "no request: the interval");
        assert_eq!(sooner(due, now, Some(Duration::from_millis(300))), now + Duration::from_millis(300));
        assert_eq!(sooner(due, now, Some(Duration::from_secs(5))), due, "the interval comes first");
        assert_eq!(sooner(due, now, Some(Duration::ZERO)), now);
    }
}
