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
            let wake = if d.due <= now {
                d.due = now + trigger.every;
                Wake::Interval
            } else if d.again {
                Wake::Again
            } else if notified.as_deref().is_some_and(|c| trigger.channels.contains(&c)) {
                Wake::Notified
            } else {
                continue;
            };
            d.again = match d.duty.run(&term, wake).await {
                Ok(Done { again }) => again,
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
