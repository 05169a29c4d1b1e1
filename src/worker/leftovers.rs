//! Run folders and result zips a crashed worker left in its scratch folder, removed at start.
//!
//! The process backend names them `run-<run id>-<random hex>` (and `.zip`) and removes them when an
//! attempt ends; a worker killed mid-attempt leaves them behind. Several workers on one machine may
//! share a scratch folder, so an entry is in flight, and stays, while its run is `running` on any
//! worker: the folder is created after the claim, so a folder listed before the database is asked
//! belongs to a run that is still running or has ended.

use std::path::{Path, PathBuf};

use crate::store::{RunId, Store};

/// The run id in a leftover's file name, if it is one: `run-<id>-<hex>` or `run-<id>-<hex>.zip`.
pub fn run_of(name: &str) -> Option<RunId> {
    let rest = name.strip_prefix("run-")?;
    let rest = rest.strip_suffix(".zip").unwrap_or(rest);
    let (id, hex) = rest.split_once('-')?;
    let hex_ok = !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit());
    let id = id.parse::<i64>().ok().filter(|id| *id > 0)?;
    hex_ok.then_some(RunId(id))
}

/// Removes every leftover in `scratch` whose run is not running; returns how many it removed.
/// Logs what it removes; a database or disk error skips the sweep (or the entry) with a warning.
pub async fn sweep(store: &Store, scratch: &Path) -> usize {
    let dir = scratch.to_path_buf();
    let found = tokio::task::spawn_blocking(move || list(&dir)).await.unwrap_or_default();
    if found.is_empty() {
        return 0;
    }
    let ids: Vec<RunId> = found.iter().map(|(id, _)| *id).collect();
    let running = match store.runs_running_among(&ids).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "cannot tell which leftover run folders are in use; keeping them until the next start");
            return 0;
        }
    };
    let doomed: Vec<(RunId, PathBuf)> = found.into_iter().filter(|(id, _)| !running.contains(id)).collect();
    let n = doomed.len();
    let _ = tokio::task::spawn_blocking(move || {
        for (run, path) in doomed {
            tracing::info!(run = %run, path = %path.display(), "removing a run's leftover from an earlier worker");
            if path.is_dir() {
                crate::executor::process::remove_tree_logged(&path);
            } else if let Err(e) = std::fs::remove_file(&path) {
                tracing::warn!(path = %path.display(), error = %e, "cannot remove a leftover result file");
            }
        }
    })
    .await;
    if n > 0 {
        tracing::info!(removed = n, scratch = %scratch.display(), "leftover run folders removed");
    }
    n
}

/// The leftovers in `dir` with their runs (none when `dir` does not exist).
fn list(dir: &Path) -> Vec<(RunId, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name();
            let run = run_of(name.to_str()?)?;
            Some((run, e.path()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_backends_names_are_leftovers() {
        assert_eq!(run_of("run-42-00ff00ff00ff00ff"), Some(RunId(42)));
        assert_eq!(run_of("run-42-00ff00ff00ff00ff.zip"), Some(RunId(42)));
        assert_eq!(run_of(&crate::executor::unique_run_name(7)), Some(RunId(7)));
        for other in
            ["run-42", "run-42-", "run-x-00ff", "run--1-00ff", "run-0-00ff", "notes.txt", "run-42-zz", "brun-1-00"]
        {
            assert_eq!(run_of(other), None, "{other}");
        }
    }
}
