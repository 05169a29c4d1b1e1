//! Batched completion: attempts hand their end to one task per worker, which records every end
//! that is waiting in one statement and one transaction (`runs/finish_batch.sql`), each still
//! checked against its fencing token. Nothing waits for a batch to fill: while one commit is in
//! flight the next ends queue up, so an idle worker commits at once and a busy one in batches.
//! The batches run on a connection the task holds (`store::held`).

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::store::Store;
use crate::store::runs::FinishParams;

/// Most attempt ends recorded by one statement.
pub const FINISH_BATCH_MAX: usize = 1024;

/// An attempt's end and where to say whether it was recorded.
type Request = (FinishParams, oneshot::Sender<Option<bool>>);

/// Handle on a worker's completion task; cheap to clone, one per attempt.
#[derive(Clone, Debug)]
pub struct Completer {
    tx: mpsc::UnboundedSender<Request>,
    store: Store,
}

impl Completer {
    /// Starts the completion task; it ends when every handle is dropped and the queue is empty.
    pub fn start(store: Store) -> (Self, JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(store.clone(), rx));
        (Self { tx, store }, task)
    }

    /// Records an attempt's end: `Some(true)` recorded, `Some(false)` refused (the fencing token
    /// is no longer current; nothing was stored), `None` the database failed (logged).
    pub async fn finish(&self, p: FinishParams) -> Option<bool> {
        let (reply, answer) = oneshot::channel();
        match self.tx.send((p, reply)) {
            Ok(()) => answer.await.ok().flatten(),
            // The task is gone (it never is before the handles): record it alone.
            Err(mpsc::error::SendError((p, _))) => match self.store.run_finish(p).await {
                Ok(done) => Some(done),
                Err(e) => {
                    tracing::error!(error = %e, "cannot record an attempt's end");
                    None
                }
            },
        }
    }
}

async fn run(store: Store, mut rx: mpsc::UnboundedReceiver<Request>) {
    let mut held = store.hold();
    let mut batch: Vec<Request> = Vec::new();
    while rx.recv_many(&mut batch, FINISH_BATCH_MAX).await > 0 {
        let (params, replies): (Vec<FinishParams>, Vec<_>) = batch.drain(..).unzip();
        match held.run_finish_batch(params).await {
            Ok(done) => {
                for (reply, done) in replies.into_iter().zip(done) {
                    let _ = reply.send(Some(done));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, runs = replies.len(), "cannot record a batch of attempt ends");
                for reply in replies {
                    let _ = reply.send(None);
                }
            }
        }
    }
}
