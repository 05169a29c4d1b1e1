//! No-op backend: runs nothing and reports success with an empty result zip, for benchmarks.

use std::io::Cursor;

use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use zip::ZipWriter;

use super::{Error, ExecRequest, ExecResult, Execute, LogChunk, Outcome, Result, unique_run_name};

/// A backend that runs nothing: every run succeeds with exit code 0 and an empty result zip.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoopExecutor;

impl Execute for NoopExecutor {
    async fn run(
        &self,
        req: ExecRequest,
        _logs: mpsc::Sender<LogChunk>,
        _cancel: CancellationToken,
    ) -> Result<ExecResult> {
        let retry = |what: &str, e: &dyn std::fmt::Display| Error::Retryable(format!("{what}: {e}"));
        let empty = ZipWriter::new(Cursor::new(Vec::new()))
            .finish()
            .map_err(|e| retry("cannot build empty zip", &e))?
            .into_inner();
        tokio::fs::create_dir_all(&req.scratch).await.map_err(|e| retry("cannot create scratch folder", &e))?;
        let result_zip = req.scratch.join(format!("{}.zip", unique_run_name(req.run_id)));
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&result_zip)
            .await
            .map_err(|e| retry("cannot create result zip", &e))?;
        let written = async {
            file.write_all(&empty).await?;
            file.flush().await
        };
        if let Err(e) = written.await {
            let _ = tokio::fs::remove_file(&result_zip).await;
            return Err(retry("cannot write result zip", &e));
        }
        Ok(ExecResult { outcome: Outcome::Succeeded, exit_code: Some(0), result_zip })
    }
}
