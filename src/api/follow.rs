//! `GET /api/v1/runs/{id}/logs?follow=true`: a run's output streamed as its process writes it.
//!
//! The worker appends the output to `run_logs` every `worker::attempt::LOG_FLUSH_INTERVAL`
//! (200 ms) or sooner; a follower reads what is new every [`FOLLOW_POLL`] by position
//! (`run_logs/after.sql`, an index range read), so each follower costs one small query per poll
//! and nothing else. The response is a chunked `text/plain` body fed through an in-memory pipe: the
//! reading task ends when the run has ended and everything written before its end was sent, or
//! when the client leaves (the pipe's reader is dropped: the next write, or the empty write of
//! an idle poll, fails), or when its caller may no longer read it: every [`FOLLOW_RECHECK`] the
//! token is authenticated again and the `view` permission checked again, so a token revoked or
//! expired, or a grant taken back, ends the stream (the run's state then says whether it ended).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::Response;
use tokio::io::{AsyncWriteExt, DuplexStream};
use tokio_util::io::ReaderStream;

use super::auth::Caller;
use crate::auth::JobPermission;
use crate::store::{JobId, RunId, Store};

/// Between reads of new output.
pub const FOLLOW_POLL: Duration = Duration::from_millis(250);
/// Between two checks that the caller may still read the run (its token and its `view`).
pub const FOLLOW_RECHECK: Duration = Duration::from_secs(1);
/// Most chunks read at once (a reader behind catches up in pages of this size).
pub const FOLLOW_PAGE: i64 = 500;
/// Bytes buffered between the reading task and the client.
const PIPE_BYTES: usize = 256 * 1024;

/// Followers reading in this process.
static ACTIVE: AtomicUsize = AtomicUsize::new(0);

/// How many log followers this process is serving (each polls the database until it ends).
pub fn active() -> usize {
    ACTIVE.load(Ordering::SeqCst)
}

/// Counts a follower while it lives.
struct Counted;

impl Counted {
    fn new() -> Self {
        ACTIVE.fetch_add(1, Ordering::SeqCst);
        Counted
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        ACTIVE.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Who follows a run: checked again while the stream lasts.
pub struct Reader {
    /// The caller, with the token it came with.
    pub caller: Caller,
    /// The job of the run: the `view` permission is on it.
    pub job: JobId,
}

/// The streaming response for run `id`'s output, for `reader` (already allowed to view it).
pub fn response(store: Store, id: RunId, reader: Reader) -> Response {
    let (writer, out) = tokio::io::duplex(PIPE_BYTES);
    tokio::spawn(follow(store, id, reader, writer));
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-cache")
        .header("x-content-type-options", "nosniff")
        .body(Body::from_stream(ReaderStream::new(out)))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

/// Copies the run's output into `out` until the run ends, the client leaves or `reader` may no
/// longer view it.
async fn follow(store: Store, id: RunId, reader: Reader, mut out: DuplexStream) {
    let _counted = Counted::new();
    let mut after = 0i64;
    let mut checked = tokio::time::Instant::now();
    loop {
        if checked.elapsed() >= FOLLOW_RECHECK {
            match reader.caller.still_allowed(&store, reader.job, JobPermission::View).await {
                Ok(true) => checked = tokio::time::Instant::now(),
                Ok(false) => {
                    tracing::info!(run = %id, subject = %reader.caller.subject,
                        "log follow: the token was revoked or expired, or the view taken back; ending the stream");
                    let _ = out.shutdown().await;
                    return;
                }
                // Checked again at the next poll.
                Err(e) => tracing::warn!(run = %id, error = %e, "log follow: cannot check the caller; trying again"),
            }
        }
        // The state first: output written before the run ended is committed before its end, so a
        // read after seeing the end gets all of it.
        let ended = match store.run_state(id).await {
            Ok(Some(state)) => state.is_terminal(),
            Ok(None) => true,
            Err(e) => {
                tracing::warn!(run = %id, error = %e, "log follow: cannot read the run; trying again");
                false
            }
        };
        let chunks = match store.run_logs_after(id, after, FOLLOW_PAGE).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(run = %id, error = %e, "log follow: cannot read the output; trying again");
                Vec::new()
            }
        };
        let full = i64::try_from(chunks.len()).unwrap_or(i64::MAX) >= FOLLOW_PAGE;
        for chunk in chunks {
            if out.write_all(&chunk.data).await.is_err() {
                return; // the client left
            }
            after = chunk.id;
        }
        if full {
            continue;
        }
        if ended {
            let _ = out.shutdown().await;
            return;
        }
        // An empty write fails once the client has gone, so an idle follower notices too.
        if out.write(&[]).await.is_err() {
            return;
        }
        tokio::time::sleep(FOLLOW_POLL).await;
    }
}
