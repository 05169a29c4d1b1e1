//! No-op backend: runs nothing and reports success, keeping no files; for benchmarks.

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{ExecRequest, ExecResult, Execute, LogChunk, Outcome, Result};

/// A backend that runs nothing: every run succeeds with exit code 0 and keeps no files, so its
/// result is an empty archive and nothing touches the disk.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoopExecutor;

impl Execute for NoopExecutor {
    async fn run(
        &self,
        _req: ExecRequest,
        _logs: mpsc::Sender<LogChunk>,
        _cancel: CancellationToken,
    ) -> Result<ExecResult> {
        Ok(ExecResult { outcome: Outcome::Succeeded, exit_code: Some(0), result_zip: None, message: None })
    }
}
