//! The process backend's resource limits: what a job may use, how they are set, and how a run that
//! hit one is told apart (so its message names the limit).
//!
//! Set with `setrlimit(2)` in the child before it drops root: processes (`RLIMIT_NPROC`, per uid),
//! open files (`RLIMIT_NOFILE`), file size (`RLIMIT_FSIZE`, the storage request), memory
//! (`RLIMIT_DATA`, the memory request) and no core dumps (`RLIMIT_CORE` 0). Total output, the run
//! folder plus the logs, is counted by the worker and bounded by the storage request too.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use nix::libc;
use tokio_util::sync::CancellationToken;

use super::Outcome;

/// Default `worker.max-processes`: processes (and threads) a job's user may have at once.
pub const MAX_PROCESSES_DEFAULT: u64 = 1024;
/// Default `worker.max-open-files`: file descriptors one process of a job may hold.
pub const MAX_OPEN_FILES_DEFAULT: u64 = 1024;
/// `SIGXFSZ` on Linux: what a process that writes past `RLIMIT_FSIZE` receives.
const SIGXFSZ: i32 = 25;
const MIB: u64 = 1024 * 1024;
/// How the message of a run whose files and logs outgrew its storage request starts.
pub const OUTPUT_EXCEEDED: &str = "output limit exceeded";

/// How the job's process ended, as the backend saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    /// The outcome before the limits are considered.
    pub outcome: Outcome,
    /// The leader's exit status, if it exited.
    pub code: Option<i32>,
    /// The signal that killed the leader, if one did.
    pub signal: Option<i32>,
}

/// The run's outcome and message once its limits are considered: a run that outgrew its storage
/// request (`used`: the bytes of its files and logs) or has a file at the file size limit (`largest`)
/// fails, whatever its exit status; a failed or timed-out run's message names a limit its error
/// output reports. A cancelled run stays cancelled.
pub fn verdict(limits: &Limits, exit: Exit, meter: &OutputMeter, used: u64, largest: u64) -> (Outcome, Option<String>) {
    if exit.outcome == Outcome::Cancelled {
        return (exit.outcome, None);
    }
    // The more precise first: a file at the limit also makes the total pass it.
    if let Some(message) = limits.file_size_hit(exit.code, exit.signal, largest) {
        let outcome = if exit.outcome == Outcome::TimedOut { Outcome::TimedOut } else { Outcome::Failed };
        return (outcome, Some(message));
    }
    if let Some(message) = limits.output_exceeded(used) {
        return (Outcome::Failed, Some(message));
    }
    match exit.outcome {
        Outcome::Failed | Outcome::TimedOut => (exit.outcome, limits.explain(meter.hints())),
        other => (other, None),
    }
}

/// The limits of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `RLIMIT_NPROC`: processes of the job's uid (`worker.max-processes`).
    pub processes: u64,
    /// `RLIMIT_NOFILE` (`worker.max-open-files`).
    pub open_files: u64,
    /// The run's memory request in MiB (`RLIMIT_DATA`); `None`: not limited.
    pub memory_mib: Option<u64>,
    /// The run's storage request in MiB: the largest file (`RLIMIT_FSIZE`) and the total of files
    /// and logs; `None`: not limited.
    pub storage_mib: Option<u64>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            processes: MAX_PROCESSES_DEFAULT,
            open_files: MAX_OPEN_FILES_DEFAULT,
            memory_mib: None,
            storage_mib: None,
        }
    }
}

impl Limits {
    /// The storage request in bytes.
    pub fn storage_bytes(&self) -> Option<u64> {
        self.storage_mib.map(|m| m.saturating_mul(MIB))
    }

    /// The `setrlimit(2)` resources and values (soft and hard alike) to set on the job's process,
    /// in order; prepared before the spawn (`super::spawn`), whose child only makes the calls.
    pub fn rlimits(&self) -> Vec<(libc::c_int, u64)> {
        let mut out = vec![
            (libc::RLIMIT_CORE as libc::c_int, 0),
            (libc::RLIMIT_NPROC as libc::c_int, self.processes),
            (libc::RLIMIT_NOFILE as libc::c_int, self.open_files),
        ];
        if let Some(bytes) = self.storage_bytes() {
            out.push((libc::RLIMIT_FSIZE as libc::c_int, bytes));
        }
        if let Some(mib) = self.memory_mib {
            out.push((libc::RLIMIT_DATA as libc::c_int, mib.saturating_mul(MIB)));
        }
        out
    }

    /// The limit a finished job hit that its exit status or folder proves: a process killed by
    /// `SIGXFSZ` (directly, or reported by bash as exit code 128 + 25), or a file as large as
    /// the storage request (`largest_file`, bytes).
    pub fn file_size_hit(&self, code: Option<i32>, signal: Option<i32>, largest_file: u64) -> Option<String> {
        let bytes = self.storage_bytes()?;
        let by_signal = signal == Some(SIGXFSZ) || code == Some(128 + SIGXFSZ);
        (by_signal || largest_file >= bytes)
            .then(|| format!("file size limit exceeded: a file reached the storage request ({} MiB)", bytes / MIB))
    }

    /// Whether `used` bytes of files and logs exceed the storage request; the message if so.
    pub fn output_exceeded(&self, used: u64) -> Option<String> {
        let bytes = self.storage_bytes()?;
        (used > bytes).then(|| {
            format!("{OUTPUT_EXCEEDED}: files and logs took more than the storage request ({} MiB)", bytes / MIB)
        })
    }

    /// The message for what the job's own error output says it ran into.
    pub fn explain(&self, hints: Hints) -> Option<String> {
        if hints.fork_failed {
            return Some(format!(
                "process limit reached: a fork failed ({} processes per user, worker.max-processes)",
                self.processes
            ));
        }
        if hints.out_of_memory
            && let Some(mib) = self.memory_mib
        {
            return Some(format!("memory limit reached: an allocation failed (memory request {mib} MiB)"));
        }
        if hints.out_of_files {
            return Some(format!("open file limit reached ({} per process, worker.max-open-files)", self.open_files));
        }
        None
    }
}

/// What a job's error output says it ran into (the limit it hit has no other trace: a failed
/// `fork` or `malloc` only returns an error to the program, which reports it as it likes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hints {
    /// `fork: Resource temporarily unavailable` (bash and most tools).
    pub fork_failed: bool,
    /// `Cannot allocate memory`, `memory exhausted`, `MemoryError`, `out of memory`.
    pub out_of_memory: bool,
    /// `Too many open files`.
    pub out_of_files: bool,
}

impl Hints {
    /// Notes what `chunk` (a piece of standard error) reports. A message split across two
    /// chunks is missed; that only costs the hint.
    pub fn scan(&mut self, chunk: &[u8]) {
        let text = String::from_utf8_lossy(chunk).to_lowercase();
        self.fork_failed |= text.contains("fork: ") && text.contains("resource temporarily unavailable");
        self.out_of_memory |= ["cannot allocate memory", "memory exhausted", "memoryerror", "out of memory"]
            .iter()
            .any(|p| text.contains(p))
            || (text.contains("xmalloc") || text.contains("xrealloc")) && text.contains("cannot allocate");
        self.out_of_files |= text.contains("too many open files");
    }
}

/// Counts a run's log bytes against its storage request and keeps its error-output hints.
#[derive(Debug)]
pub struct OutputMeter {
    cap: Option<u64>,
    used: AtomicU64,
    hints: Mutex<Hints>,
    /// Fires once the logs alone exceed the storage request.
    pub over: CancellationToken,
}

impl OutputMeter {
    /// A meter for a run with `limits`.
    pub fn new(limits: &Limits) -> Self {
        Self {
            cap: limits.storage_bytes(),
            used: AtomicU64::new(0),
            hints: Mutex::default(),
            over: CancellationToken::new(),
        }
    }

    /// Counts `chunk`; returns false (and fires [`OutputMeter::over`]) once the total is over
    /// the cap, after which nothing more should be forwarded.
    pub fn add(&self, chunk: &[u8], stderr: bool) -> bool {
        if stderr && let Ok(mut hints) = self.hints.lock() {
            hints.scan(chunk);
        }
        let total = self.used.fetch_add(chunk.len() as u64, Ordering::Relaxed) + chunk.len() as u64;
        let within = self.cap.is_none_or(|cap| total <= cap);
        if !within {
            self.over.cancel();
        }
        within
    }

    /// Log bytes so far.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// The hints gathered so far.
    pub fn hints(&self) -> Hints {
        self.hints.lock().map(|h| *h).unwrap_or_default()
    }
}

/// Bytes of regular files under `dir` and the largest one (symlinks are not followed).
pub fn folder_usage(dir: &Path) -> (u64, u64) {
    let (mut total, mut largest) = (0u64, 0u64);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else { continue };
        for entry in entries.flatten() {
            let Ok(meta) = entry.path().symlink_metadata() else { continue };
            if meta.is_dir() {
                stack.push(entry.path());
            } else if meta.is_file() {
                total = total.saturating_add(meta.len());
                largest = largest.max(meta.len());
            }
        }
    }
    (total, largest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn storage(mib: u64) -> Limits {
        Limits { storage_mib: Some(mib), ..Limits::default() }
    }

    #[test]
    fn a_file_size_signal_or_a_file_at_the_limit_names_the_storage_request() {
        let limits = storage(2);
        let hit = limits.file_size_hit(None, Some(SIGXFSZ), 0).unwrap();
        assert!(hit.contains("file size limit") && hit.contains("2 MiB"), "{hit}");
        assert!(limits.file_size_hit(Some(153), None, 0).is_some(), "bash reports SIGXFSZ as 128 + 25");
        assert!(limits.file_size_hit(Some(0), None, 2 * MIB).is_some(), "a file at the limit");
        assert_eq!(limits.file_size_hit(Some(1), None, 2 * MIB - 1), None);
        assert_eq!(Limits::default().file_size_hit(Some(153), Some(SIGXFSZ), u64::MAX), None, "no request, no limit");
    }

    #[test]
    fn output_over_the_storage_request_is_named() {
        assert_eq!(storage(1).output_exceeded(MIB), None);
        assert!(storage(1).output_exceeded(MIB + 1).unwrap().contains("output limit"));
        assert_eq!(Limits::default().output_exceeded(u64::MAX), None);
    }

    #[test]
    fn error_output_names_the_limit_it_reports() {
        let mut hints = Hints::default();
        hints.scan(b"run.sh: line 1: fork: retry: Resource temporarily unavailable\n");
        let limits = Limits { processes: 64, memory_mib: Some(32), ..Limits::default() };
        assert!(limits.explain(hints).unwrap().contains("process limit reached"));
        let mut hints = Hints::default();
        hints.scan(b"bash: xrealloc: cannot allocate 268435456 bytes\n");
        assert!(limits.explain(hints).unwrap().contains("memory request 32 MiB"));
        assert_eq!(Limits::default().explain(hints), None, "no memory request: not our limit");
        let mut hints = Hints::default();
        hints.scan(b"cat: f: Too many open files\n");
        assert!(limits.explain(hints).unwrap().contains("open file limit"));
        let mut quiet = Hints::default();
        quiet.scan(b"all fine\n");
        assert_eq!(limits.explain(quiet), None);
    }

    #[test]
    fn the_verdict_fails_a_run_that_hit_a_storage_limit_even_if_it_exited_0() {
        let limits = storage(1);
        let ok = Exit { outcome: Outcome::Succeeded, code: Some(0), signal: None };
        let meter = OutputMeter::new(&limits);
        assert_eq!(verdict(&limits, ok, &meter, 10, 10), (Outcome::Succeeded, None));
        let (outcome, message) = verdict(&limits, ok, &meter, MIB + 10, MIB);
        assert_eq!(outcome, Outcome::Failed);
        assert!(message.unwrap().contains("file size limit"), "the file size limit is named, not the total");
        let (outcome, message) = verdict(&limits, ok, &meter, 2 * MIB, 10);
        assert_eq!(outcome, Outcome::Failed);
        assert!(message.unwrap().starts_with(OUTPUT_EXCEEDED));
        let cancelled = Exit { outcome: Outcome::Cancelled, ..ok };
        assert_eq!(verdict(&limits, cancelled, &meter, 2 * MIB, MIB), (Outcome::Cancelled, None));
        let failed = Exit { outcome: Outcome::Failed, code: Some(1), signal: None };
        meter.add(b"bash: fork: retry: Resource temporarily unavailable", true);
        let (outcome, message) = verdict(&limits, failed, &meter, 0, 0);
        assert_eq!(outcome, Outcome::Failed);
        assert!(message.unwrap().contains("process limit"));
        assert_eq!(verdict(&limits, ok, &meter, 0, 0), (Outcome::Succeeded, None), "a run that coped succeeds");
    }

    #[test]
    fn the_meter_fires_once_the_logs_pass_the_storage_request() {
        let meter = OutputMeter::new(&storage(1));
        assert!(meter.add(&vec![0; MIB as usize], false));
        assert!(!meter.over.is_cancelled());
        assert!(!meter.add(b"x", false));
        assert!(meter.over.is_cancelled());
        assert_eq!(meter.used(), MIB + 1);
        let unlimited = OutputMeter::new(&Limits::default());
        assert!(unlimited.add(&vec![0; 4 * MIB as usize], true));
    }
}
