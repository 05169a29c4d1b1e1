//! Process backend: runs a job as a local child process group inside a private scratch folder.

use std::fs::Permissions;
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::limits::{self, Limits, OutputMeter};
use super::sandbox::{self, Ids, Lease, Sandbox};
use super::spawn;
use super::{Error, ExecRequest, ExecResult, Execute, LogChunk, LogStream, Outcome, Result, archive, unique_run_name};

/// Default time between SIGTERM and SIGKILL when a run is timed out or cancelled.
pub const KILL_GRACE_DEFAULT: Duration = Duration::from_secs(2);
/// Largest [`LogChunk`] sent, in bytes.
const CHUNK_MAX: usize = 64 * 1024;
/// How long the output readers may take to finish once the process group is gone.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// How many random run folder names are tried before giving up.
const NAME_ATTEMPTS: usize = 8;

/// Runs jobs as child processes of this one, each in its own process group and folder, confined
/// by its [`Sandbox`].
#[derive(Clone, Debug)]
pub struct ProcessExecutor {
    grace: Duration,
    sandbox: Arc<Sandbox>,
}

impl Default for ProcessExecutor {
    fn default() -> Self {
        Self::with_grace(KILL_GRACE_DEFAULT)
    }
}

impl ProcessExecutor {
    /// An executor that waits [`KILL_GRACE_DEFAULT`] between SIGTERM and SIGKILL.
    pub fn new() -> Self {
        Self::default()
    }

    /// An executor that waits `grace` between SIGTERM and SIGKILL and runs jobs as the worker's
    /// own user (see [`Sandbox::default`]).
    pub fn with_grace(grace: Duration) -> Self {
        Self::with_sandbox(grace, Sandbox::default())
    }

    /// An executor that waits `grace` between SIGTERM and SIGKILL and confines jobs by `sandbox`.
    pub fn with_sandbox(grace: Duration, sandbox: Sandbox) -> Self {
        Self { grace, sandbox: Arc::new(sandbox) }
    }

    /// How jobs are confined.
    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// Spawns the job, streams its output and waits for it to exit, time out, be cancelled or
    /// write more logs than its storage request.
    #[allow(clippy::too_many_arguments)] // one call site; a params struct would only rename them
    async fn supervise(
        &self,
        ready: &Ready,
        req: &ExecRequest,
        limits: Limits,
        logs: mpsc::Sender<LogChunk>,
        meter: &Arc<OutputMeter>,
        cancel: &CancellationToken,
    ) -> Result<limits::Exit> {
        let (dir, lease) = (&ready.run_dir.path, &ready.lease);
        let env = sandbox::job_env(req.run_id, dir, &req.env);
        let launch = spawn::Launch { program: &ready.program, args: &ready.args, dir, env: &env };
        let confinement = spawn::Confinement { ids: lease.ids().cloned(), network: self.sandbox.network(), limits };
        if cancel.is_cancelled() {
            return Ok(limits::Exit { outcome: Outcome::Cancelled, code: None, signal: None });
        }
        let mut child = spawn::spawn(&launch, &confinement).map_err(|e| spawn_error(req, e))?;
        let pid = child.id().as_raw();
        let group = ProcessGroup(Pid::from_raw(pid));
        tracing::debug!(run_id = req.run_id, pid, "job started");
        let readers = [
            spawn_reader(child.stdout.take(), LogStream::Stdout, logs.clone(), meter.clone()),
            spawn_reader(child.stderr.take(), LogStream::Stderr, logs, meter.clone()),
        ];
        let timeout = async {
            match req.timeout {
                Some(limit) => tokio::time::sleep(limit).await,
                None => std::future::pending().await,
            }
        };
        let stopped = tokio::select! {
            status = child.wait() => Ended::Exited(status),
            () = timeout => Ended::Stop(Outcome::TimedOut),
            () = cancel.cancelled() => Ended::Stop(Outcome::Cancelled),
            () = meter.over.cancelled() => Ended::Stop(Outcome::Failed),
        };
        let (outcome, status) = match stopped {
            Ended::Exited(status) => {
                let status = status.map_err(wait_error)?;
                let outcome = match status.success() {
                    true => Outcome::Succeeded,
                    false => Outcome::Failed,
                };
                (outcome, status)
            }
            Ended::Stop(outcome) => {
                tracing::debug!(run_id = req.run_id, ?outcome, "stopping job");
                group.signal(Signal::SIGTERM);
                let status = match tokio::time::timeout(self.grace, child.wait()).await {
                    Ok(status) => status,
                    Err(_) => {
                        group.signal(Signal::SIGKILL);
                        child.wait().await
                    }
                };
                (outcome, status.map_err(wait_error)?)
            }
        };
        // Dropping the guard SIGKILLs whatever the job left running in its group, which also
        // closes the pipes those processes held open.
        drop(group);
        // A job's own uid (of a range) may have processes outside its group (setsid): kill those too.
        lease.sweep();
        drain(readers).await;
        Ok(limits::Exit { outcome, code: status.code(), signal: status.signal() })
    }
}

impl Execute for ProcessExecutor {
    async fn run(
        &self,
        mut req: ExecRequest,
        logs: mpsc::Sender<LogChunk>,
        cancel: CancellationToken,
    ) -> Result<ExecResult> {
        // The file system work before and after the job is done in one trip each to the blocking
        // pool (each trip wakes a thread and the task again).
        let input = std::mem::take(&mut req.input_zip);
        let (sandbox, scratch, run_id) = (self.sandbox.clone(), req.scratch.clone(), req.run_id);
        let (command, env) = (req.command.clone(), req.env.clone());
        let ready =
            blocking(move || Ready::prepare(&sandbox, &scratch, run_id, &input, command.as_deref(), &env)).await?;
        let limits = self.sandbox.limits(req.memory_limit_mib, req.storage_limit_mib);
        let meter = Arc::new(OutputMeter::new(&limits));
        let exit = self.supervise(&ready, &req, limits, logs, &meter, &cancel).await;
        blocking(move || ready.conclude(exit, &limits, &meter)).await
    }
}

/// A run's uid and folder, filled with its input and handed to its user, and what to start.
struct Ready {
    lease: Lease,
    run_dir: RunDir,
    program: String,
    args: Vec<String>,
}

impl Ready {
    /// Takes a uid, creates the run folder, unpacks `input` into it and hands it to the uid.
    /// Blocking.
    fn prepare(
        sandbox: &Arc<Sandbox>,
        scratch: &Path,
        run_id: i64,
        input: &[u8],
        command: Option<&[String]>,
        env: &[(String, String)],
    ) -> Result<Self> {
        let lease = sandbox.acquire().map_err(Error::Retryable)?;
        let run_dir = create_run_dir(scratch, run_id, lease.ids())?;
        let filled = || {
            // Empty: a job with a command and no files starts in an empty folder.
            if !input.is_empty() {
                archive::unpack(input, &run_dir.path)?;
            }
            sandbox::hand_over(&run_dir.path, lease.ids())
                .map_err(|e| Error::Retryable(format!("cannot hand the run folder to the job's user: {e}")))?;
            job_program(&run_dir.path, command, env)
        };
        match filled() {
            Ok((program, args)) => Ok(Self { lease, run_dir, program, args }),
            Err(e) => {
                run_dir.remove();
                Err(e)
            }
        }
    }

    /// After the job: its usage against its limits, its result zip, then the folder removed and
    /// the uid freed (which kills what it still runs), in that order. Blocking.
    fn conclude(self, exit: Result<limits::Exit>, limits: &Limits, meter: &OutputMeter) -> Result<ExecResult> {
        let Self { lease, run_dir, .. } = self;
        let result = exit.and_then(|exit| {
            let (files, largest) = limits::folder_usage(&run_dir.path);
            sandbox::remove_tmp(&run_dir.path);
            let used = files.saturating_add(meter.used());
            let (outcome, message) = limits::verdict(limits, exit, meter, used, largest);
            if message.as_deref().is_some_and(|m| m.starts_with(limits::OUTPUT_EXCEEDED)) {
                // Too large to keep: the run's result is an empty archive.
                return Ok(ExecResult { outcome, exit_code: exit.code, result_zip: None, message });
            }
            let zip = archive::pack(&run_dir.path)?;
            Ok(ExecResult { outcome, exit_code: exit.code, result_zip: Some(zip), message })
        });
        run_dir.remove();
        drop(lease);
        result
    }
}

/// Why the wait for the job ended.
enum Ended {
    /// The job's leader exited by itself.
    Exited(io::Result<ExitStatus>),
    /// The job must be stopped; the outcome to report.
    Stop(Outcome),
}

/// The job's program and arguments: `bash run.sh` or the given argv. Its environment is
/// [`sandbox::job_env`]'s, nothing inherited. Blocking (it looks at `run.sh`).
fn job_program(dir: &Path, command: Option<&[String]>, env: &[(String, String)]) -> Result<(String, Vec<String>)> {
    for (key, value) in env {
        if key.is_empty() || key.contains(['=', '\0']) || value.contains('\0') {
            return Err(Error::Fatal(format!("invalid environment variable {key:?}")));
        }
    }
    match command {
        None => {
            match std::fs::symlink_metadata(dir.join("run.sh")) {
                Ok(meta) if meta.is_file() => {}
                Ok(_) => return Err(Error::Fatal("run.sh is not a regular file".into())),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(Error::Fatal("input has no run.sh and no command was given".into()));
                }
                Err(e) => return Err(Error::Retryable(format!("cannot inspect run.sh: {e}"))),
            }
            Ok(("bash".into(), vec!["run.sh".into()]))
        }
        Some(argv) => {
            let Some((program, args)) = argv.split_first().filter(|(p, _)| !p.is_empty()) else {
                return Err(Error::Fatal("command is empty".into()));
            };
            if argv.iter().any(|arg| arg.contains('\0')) {
                return Err(Error::Fatal("command contains a NUL byte".into()));
            }
            Ok((program.clone(), args.to_vec()))
        }
    }
}

/// Classifies a failure to start the job.
fn spawn_error(req: &ExecRequest, e: io::Error) -> Error {
    let program = req.command.as_ref().and_then(|argv| argv.first());
    match (program, e.kind()) {
        (Some(program), io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied) => {
            Error::Fatal(format!("cannot run command {program:?}: {e}"))
        }
        (_, io::ErrorKind::OutOfMemory) if req.memory_limit_mib.is_some() => {
            Error::Fatal(format!("job cannot start within its memory limit: {e}"))
        }
        (Some(program), _) => Error::Retryable(format!("cannot spawn {program:?}: {e}")),
        (None, _) => Error::Retryable(format!("cannot spawn bash: {e}")),
    }
}

/// Classifies a failure to wait for the job.
fn wait_error(e: io::Error) -> Error {
    Error::Retryable(format!("cannot wait for the job: {e}"))
}

/// Reads one output pipe in chunks of up to [`CHUNK_MAX`] bytes and forwards them to `logs`.
///
/// Once the receiver is gone the pipe is still read to its end (and the bytes discarded) so the
/// job never blocks on a full pipe.
/// Every chunk is counted by `meter`; once the logs pass the storage request nothing more is
/// forwarded (the job is being stopped).
fn spawn_reader<R>(
    pipe: Option<R>,
    stream: LogStream,
    logs: mpsc::Sender<LogChunk>,
    meter: Arc<OutputMeter>,
) -> Option<JoinHandle<()>>
where
    R: AsyncRead + Unpin + Send + 'static,
{
    let mut pipe = pipe?;
    Some(tokio::spawn(async move {
        // Filled by `read_buf` without zeroing it first (most jobs write little or nothing).
        let mut buf: Vec<u8> = Vec::with_capacity(CHUNK_MAX);
        let mut forwarding = true;
        loop {
            buf.clear();
            match pipe.read_buf(&mut buf).await {
                Ok(0) => break,
                Ok(_) => {
                    if !meter.add(&buf, stream == LogStream::Stderr) {
                        forwarding = false;
                    }
                    let chunk = LogChunk { stream, data: buf.clone() };
                    if forwarding && logs.send(chunk).await.is_err() {
                        tracing::debug!(stream = stream.as_str(), "log receiver gone");
                        forwarding = false;
                    }
                }
                Err(e) => {
                    tracing::warn!(stream = stream.as_str(), error = %e, "cannot read job output");
                    break;
                }
            }
        }
    }))
}

/// Waits for the output readers, at most [`DRAIN_TIMEOUT`] in all, and aborts the late ones.
async fn drain(readers: [Option<JoinHandle<()>>; 2]) {
    let deadline = tokio::time::Instant::now() + DRAIN_TIMEOUT;
    for reader in readers.into_iter().flatten() {
        let abort = reader.abort_handle();
        if tokio::time::timeout_at(deadline, reader).await.is_err() {
            tracing::warn!("job output still open after the run; discarding the rest");
            abort.abort();
        }
    }
}

/// The job's process group; dropping it sends SIGKILL to every process still in it.
struct ProcessGroup(Pid);

impl ProcessGroup {
    /// Sends `signal` to the group; a group that no longer exists is not an error.
    fn signal(&self, signal: Signal) {
        match killpg(self.0, signal) {
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(e) => tracing::warn!(pgid = self.0.as_raw(), %signal, error = %e, "killpg failed"),
        }
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.signal(Signal::SIGKILL);
    }
}

/// A run's private folder.
///
/// The folder is removed by [`RunDir::remove`], or in the background if the run is dropped.
struct RunDir {
    path: PathBuf,
    armed: bool,
}

impl RunDir {
    /// Removes the folder now; failures are logged. Blocking.
    fn remove(mut self) {
        self.armed = false;
        remove_tree_logged(&self.path);
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let path = std::mem::take(&mut self.path);
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn_blocking(move || remove_tree_logged(&path));
            }
            Err(_) => remove_tree_logged(&path),
        }
    }
}

/// Creates `scratch` if needed (mode 0711: jobs cannot list it) and a fresh `run-<id>-<random>`
/// folder with mode 0700 inside it. Blocking.
fn create_run_dir(scratch: &Path, run_id: i64, ids: Option<&Ids>) -> Result<RunDir> {
    let create_err = |what: &str, path: &Path, e: io::Error| {
        Error::Retryable(format!("cannot create {what} {}: {e}", path.display()))
    };
    std::fs::create_dir_all(scratch).map_err(|e| create_err("scratch folder", scratch, e))?;
    sandbox::prepare_scratch(scratch, ids).map_err(Error::Retryable)?;
    for _ in 0..NAME_ATTEMPTS {
        let name = unique_run_name(run_id);
        let path = scratch.join(&name);
        match std::fs::DirBuilder::new().mode(0o700).create(&path) {
            Ok(()) => {
                let run_dir = RunDir { path, armed: true };
                // The umask may have cleared bits of 0700; set the mode exactly.
                std::fs::set_permissions(&run_dir.path, Permissions::from_mode(0o700))
                    .map_err(|e| create_err("run folder", &run_dir.path, e))?;
                return Ok(run_dir);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(create_err("run folder", &path, e)),
        }
    }
    Err(Error::Retryable(format!("cannot find an unused run folder name in {}", scratch.display())))
}

/// Removes a folder tree, first making its folders writable if the job locked them; logs failures
/// (also the worker's start-up sweep of leftovers, `worker::leftovers`).
pub(crate) fn remove_tree_logged(path: &Path) {
    let result = match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            unlock_folders(path);
            std::fs::remove_dir_all(path)
        }
        other => other,
    };
    match result {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(path = %path.display(), error = %e, "cannot remove run folder"),
    }
}

/// Gives the owner full access to every folder under `path` (symlinks are not followed).
fn unlock_folders(path: &Path) {
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let _ = std::fs::set_permissions(&dir, Permissions::from_mode(0o700));
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(entry.path());
            }
        }
    }
}

/// Runs synchronous work on the blocking pool.
async fn blocking<T, F>(work: F) -> Result<T>
where
    F: FnOnce() -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(work).await.map_err(|e| Error::Retryable(format!("blocking task failed: {e}")))?
}
