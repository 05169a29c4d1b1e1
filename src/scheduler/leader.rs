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
    /// A notification on one of its channels arrived since it last started.
    notified: bool,
}

/// Why a duty runs in this round, if it does: its interval is due (which also covers a pending
/// notification or request to run again), it asked to run again, or one of its channels notified.
fn wake(due: bool, again: bool, notified: bool) -> Option<Wake> {
    if due {
        Some(Wake::Interval)
    } else if again {
        Some(Wake::Again)
    } else if notified {
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

/// The duties before `slot` that a notification woke since they last started, each at most once
/// per round (`served`): they run before the duty in `slot`, instead of after the whole round. A
/// submit that arrives while the tick's duties run then waits for one duty, not for all of them,
/// and a stream of notifications cannot hold the timer duties back.
fn jump_ahead(notified: &[bool], served: &[bool], slot: usize) -> Vec<usize> {
    (0..slot.min(notified.len())).filter(|&k| notified[k] && !served.get(k).copied().unwrap_or(true)).collect()
}

/// Marks the duties listening on `channel` as notified.
fn mark(duties: &mut [Scheduled], channel: &str) {
    for d in duties.iter_mut().filter(|d| d.duty.trigger().channels.contains(&channel)) {
        d.notified = true;
    }
}

/// How a duty's run ended the term, if it did.
struct Deposed;

/// Runs one duty and books its next run.
async fn run_one(d: &mut Scheduled, term: &Term, wake: Wake) -> Result<(), Deposed> {
    let now = Instant::now();
    if wake == Wake::Interval {
        d.due = now + d.duty.trigger().every;
    }
    // A notification that arrives while it runs wakes it again.
    d.notified = false;
    d.again = match d.duty.run(term, wake).await {
        Ok(Done { again, within }) => {
            d.due = sooner(d.due, Instant::now(), within);
            again
        }
        Err(Error::Deposed { .. }) => {
            tracing::warn!(epoch = term.epoch, "deposed: another scheduler took over");
            return Err(Deposed);
        }
        Err(e) => {
            tracing::warn!(duty = d.duty.name(), error = %e, "leader duty failed");
            false
        }
    };
    Ok(())
}

/// Leads until the term ends; releases the leadership at once when `cancel` fires.
pub async fn lead(mut session: LeaderSession, term: Term, cancel: &CancellationToken) {
    let epoch = term.epoch;
    let start = Instant::now();
    let mut duties: Vec<Scheduled> = duty::all(&term)
        .into_iter()
        .map(|duty| Scheduled { duty, due: start, again: false, notified: false })
        .collect();
    let mut channels: Vec<&'static str> =
        duties.iter().flat_map(|d| d.duty.trigger().channels.iter().copied()).collect();
    channels.sort_unstable();
    channels.dedup();
    let mut listener = notify::listen(&term.store, &channels).await;
    // The lock connection is checked once per tick: a lost one cannot let a write through
    // meanwhile, because every leader write checks the epoch (a new leader has already bumped it).
    let mut alive_due = start + term.settings.tick;
    loop {
        let mut served = vec![false; duties.len()];
        for slot in 0..duties.len() {
            while let Some(channel) = notify::pending(&mut listener) {
                mark(&mut duties, &channel);
            }
            let flags: Vec<bool> = duties.iter().map(|d| d.notified).collect();
            for k in jump_ahead(&flags, &served, slot) {
                served[k] = true;
                if run_one(&mut duties[k], &term, Wake::Notified).await.is_err() {
                    return;
                }
            }
            let d = &mut duties[slot];
            let Some(wake) = wake(d.due <= Instant::now(), d.again, d.notified) else { continue };
            served[slot] = true;
            if run_one(d, &term, wake).await.is_err() {
                return;
            }
        }
        if !duties.iter().any(|d| d.again || d.notified) {
            let next = duties.iter().map(|d| d.due).min().unwrap_or(alive_due).min(alive_due);
            tokio::select! {
                _ = cancel.cancelled() => {}
                woke = notify::wait(&mut listener) => match woke {
                    Some(channel) => mark(&mut duties, &channel),
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
    fn a_duty_wakes_for_its_interval_a_request_or_a_notification() {
        assert_eq!(wake(true, true, true), Some(Wake::Interval), "the interval wins");
        assert_eq!(wake(false, true, true), Some(Wake::Again));
        assert_eq!(wake(false, false, true), Some(Wake::Notified));
        assert_eq!(wake(false, false, false), None);
    }

    #[test]
    fn a_notified_duty_that_had_its_turn_runs_before_the_next_duty_once_per_round() {
        // Duties 0..4; a notification for duty 1 arrives while duty 2 runs.
        let notified = [false, true, false, false];
        assert_eq!(jump_ahead(&notified, &[false; 4], 3), vec![1], "before duty 3");
        assert_eq!(jump_ahead(&notified, &[false, true, false, false], 3), Vec::<usize>::new(), "once per round");
        assert_eq!(jump_ahead(&notified, &[false; 4], 1), Vec::<usize>::new(), "its own slot comes next anyway");
        assert_eq!(jump_ahead(&[true, false, true, true], &[false; 4], 3), vec![0, 2], "in list order");
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
