//! The process backend's sandbox: the user a job runs as, its environment, its folder and its network.
//!
//! A worker started as root runs each job as an unprivileged user: `worker.run-as-user`, or one uid
//! per slot from `worker.run-as-uids` (so concurrent jobs cannot reach each other's folders or
//! processes, and per-uid limits count one job). The child drops root before `execve`
//! (supplementary groups, then gid, then uid) after entering an empty network namespace
//! (`worker.network = none`) and setting its limits ([`super::limits`]); [`super::spawn`] starts
//! it without copying the worker. A worker that is not root runs jobs as itself. See
//! `docs/security.md`.

use std::collections::BTreeSet;
use std::ffi::CString;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt, lchown};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use nix::unistd::{Gid, Uid, User};

use super::limits::{self, Limits};
pub use crate::domain::NetworkMode;

/// The `PATH` a job starts with.
pub const PATH_DEFAULT: &str = "/usr/local/bin:/usr/bin:/bin";
/// The folder inside the run folder that is the job's `TMPDIR`; removed before the results are packed.
pub const TMP_FOLDER: &str = ".tmp";
/// Mode of the scratch folder: jobs may pass through it to their own folder, but not list it.
const SCRATCH_MODE: u32 = 0o711;

/// The credentials a job switches to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ids {
    /// User id.
    pub uid: Uid,
    /// Primary group id.
    pub gid: Gid,
    /// Supplementary groups (the user's own; never the worker's).
    pub groups: Vec<Gid>,
}

impl Ids {
    /// A bare numeric uid (no passwd entry needed): its own number as its only group.
    pub fn bare(uid: u32) -> Self {
        Self { uid: Uid::from_raw(uid), gid: Gid::from_raw(uid), groups: vec![Gid::from_raw(uid)] }
    }
}

/// Who jobs run as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// The worker's own user (a worker that is not root).
    Worker,
    /// One user for every job (`worker.run-as-user`).
    User(Ids),
    /// One uid per slot from `first` (`worker.run-as-uids`).
    Uids {
        /// The lowest uid.
        first: u32,
        /// How many.
        count: u32,
    },
}

/// A worker's sandbox settings and the uids its running jobs hold.
#[derive(Debug)]
pub struct Sandbox {
    identity: Identity,
    network: NetworkMode,
    processes: u64,
    open_files: u64,
    in_use: Mutex<BTreeSet<u32>>,
}

impl Default for Sandbox {
    /// Jobs run as the worker's own user on the host network, with the default limits.
    fn default() -> Self {
        Self::new(Identity::Worker, NetworkMode::Host)
    }
}

impl Sandbox {
    /// A sandbox with the default limits.
    pub fn new(identity: Identity, network: NetworkMode) -> Self {
        Self {
            identity,
            network,
            processes: limits::MAX_PROCESSES_DEFAULT,
            open_files: limits::MAX_OPEN_FILES_DEFAULT,
            in_use: Mutex::default(),
        }
    }

    /// The sandbox `worker` configures, for a worker running as `euid`. Refuses what cannot be
    /// honoured: jobs as root, switching users without root, a network namespace without root.
    pub fn from_config(worker: &crate::config::WorkerConfig, euid: Uid) -> Result<Self, String> {
        let identity = identity_of(&worker.run_as_user, &worker.run_as_uids)?;
        let root = euid.is_root();
        match &identity {
            Identity::Worker if root => {
                return Err("the worker runs as root and would run jobs as root: set worker.run-as-user \
                            (a user name or uid) or worker.run-as-uids (a range such as 60000-60063, one uid \
                            per slot); see docs/security.md"
                    .into());
            }
            Identity::User(ids) if ids.uid.is_root() => return Err("worker.run-as-user must not be root".into()),
            Identity::User(ids) if !root && ids.uid != euid => {
                return Err("worker.run-as-user needs a worker started as root (unset it to run jobs as \
                            the worker's own user)"
                    .into());
            }
            Identity::Uids { .. } if !root => {
                return Err("worker.run-as-uids needs a worker started as root".into());
            }
            // `--worker-pods` is applied after the configuration was validated.
            Identity::Uids { count, .. } if i64::from(*count) < worker.pods => {
                return Err("worker.run-as-uids must hold at least worker.pods uids (one per slot)".into());
            }
            _ => {}
        }
        if worker.network == NetworkMode::None && !root {
            return Err("worker.network = none needs a worker started as root".into());
        }
        let mut sandbox = Self::new(identity, worker.network);
        sandbox.processes = worker.max_processes;
        sandbox.open_files = worker.max_open_files;
        Ok(sandbox)
    }

    /// Who jobs run as.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The limits of a run with these requests.
    pub fn limits(&self, memory_mib: Option<u64>, storage_mib: Option<u64>) -> Limits {
        Limits { processes: self.processes, open_files: self.open_files, memory_mib, storage_mib }
    }

    /// The credentials for one run: for a uid range, the lowest free uid, held until the lease
    /// is dropped, and swept first (a worker that crashed may have left processes of it, and a
    /// setuid program a job left in a shared folder may have started one since). Blocks while it
    /// sweeps: call it off the async threads.
    pub fn acquire(self: &Arc<Self>) -> Result<Lease, String> {
        let (ids, slot) = match &self.identity {
            Identity::Worker => (None, None),
            Identity::User(ids) => (Some(ids.clone()), None),
            Identity::Uids { first, count } => {
                let mut in_use = self.in_use.lock().unwrap_or_else(PoisonError::into_inner);
                let uid = lowest_free(&in_use, *first, *count)
                    .ok_or_else(|| format!("every uid of worker.run-as-uids is in use ({count})"))?;
                in_use.insert(uid);
                drop(in_use);
                kill_all_of(Uid::from_raw(uid));
                (Some(Ids::bare(uid)), Some(uid))
            }
        };
        Ok(Lease { sandbox: self.clone(), ids, slot, swept: AtomicBool::new(false) })
    }

    /// The network the jobs get.
    pub fn network(&self) -> NetworkMode {
        self.network
    }
}

/// One run's credentials. A uid of a range is swept (every process it still has is killed) when
/// its job ends ([`Lease::sweep`], or else when the lease is dropped) and freed with the lease.
#[derive(Debug)]
pub struct Lease {
    sandbox: Arc<Sandbox>,
    ids: Option<Ids>,
    slot: Option<u32>,
    /// Swept after the job ended (a kill of all of its processes cannot miss a fork).
    swept: AtomicBool,
}

impl Lease {
    /// The credentials the job switches to; `None`: it runs as the worker.
    pub fn ids(&self) -> Option<&Ids> {
        self.ids.as_ref()
    }

    /// Kills every process of the run's own uid (one of a range), including those that left the
    /// job's process group. Nothing for a shared user: other runs may be using it.
    pub fn sweep(&self) {
        if let Some(uid) = self.slot {
            self.swept.store(kill_all_of(Uid::from_raw(uid)), Ordering::SeqCst);
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(uid) = self.slot {
            // Swept when the job ended: the uid's next job sweeps it again before it starts.
            if !self.swept.load(Ordering::SeqCst) {
                kill_all_of(Uid::from_raw(uid));
            }
            self.sandbox.in_use.lock().unwrap_or_else(PoisonError::into_inner).remove(&uid);
        }
    }
}

/// The lowest uid of `first..first + count` not in `in_use`.
pub fn lowest_free(in_use: &BTreeSet<u32>, first: u32, count: u32) -> Option<u32> {
    (first..first.saturating_add(count)).find(|uid| !in_use.contains(uid))
}

/// Parses `worker.run-as-uids`: `first-last`, inclusive, `0 < first <= last`.
pub fn parse_uid_range(text: &str) -> Result<(u32, u32), String> {
    let bad = || format!("worker.run-as-uids must be a range of uids such as 60000-60063, not {text:?}");
    let (first, last) = text.trim().split_once('-').ok_or_else(bad)?;
    let first: u32 = first.trim().parse().map_err(|_| bad())?;
    let last: u32 = last.trim().parse().map_err(|_| bad())?;
    if first == 0 || last < first || last == u32::MAX {
        return Err(bad());
    }
    Ok((first, last - first + 1))
}

/// The identity `worker.run-as-user` and `worker.run-as-uids` describe (both empty: the worker's).
pub fn identity_of(user: &str, uids: &str) -> Result<Identity, String> {
    match (user.trim(), uids.trim()) {
        ("", "") => Ok(Identity::Worker),
        (_, "") => resolve_user(user.trim()).map(Identity::User),
        ("", range) => parse_uid_range(range).map(|(first, count)| Identity::Uids { first, count }),
        _ => Err("set worker.run-as-user or worker.run-as-uids, not both".into()),
    }
}

/// A user name or numeric uid, with its groups when it has a passwd entry.
fn resolve_user(text: &str) -> Result<Ids, String> {
    let user = match text.parse::<u32>() {
        Ok(uid) => User::from_uid(Uid::from_raw(uid)),
        Err(_) => User::from_name(text),
    }
    .map_err(|e| format!("cannot look up worker.run-as-user {text:?}: {e}"))?;
    match (user, text.parse::<u32>()) {
        (Some(u), _) => {
            let groups = CString::new(u.name.as_str())
                .ok()
                .and_then(|name| nix::unistd::getgrouplist(&name, u.gid).ok())
                .unwrap_or_else(|| vec![u.gid]);
            Ok(Ids { uid: u.uid, gid: u.gid, groups })
        }
        (None, Ok(uid)) => Ok(Ids::bare(uid)),
        (None, Err(_)) => Err(format!("worker.run-as-user {text:?}: no such user")),
    }
}

/// The job's whole environment: a minimal `PATH`, `HOME` and `TMPDIR` inside its folder, then the
/// job's own variables (which may replace those three), then `BERTH_RUN_ID` (which they may not).
pub fn job_env(run_id: i64, dir: &Path, env: &[(String, String)]) -> Vec<(String, String)> {
    let base = [
        ("PATH".to_string(), PATH_DEFAULT.to_string()),
        ("HOME".to_string(), dir.display().to_string()),
        ("TMPDIR".to_string(), dir.join(TMP_FOLDER).display().to_string()),
    ];
    let mut out: Vec<(String, String)> = Vec::with_capacity(env.len() + 4);
    for (key, value) in base.into_iter().chain(env.iter().cloned()) {
        if key == "BERTH_RUN_ID" {
            continue;
        }
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => out.push((key, value)),
        }
    }
    out.push(("BERTH_RUN_ID".into(), run_id.to_string()));
    out
}

/// Makes `scratch` passable but not listable by jobs (mode 0711), and checks that a job running
/// as another user can reach it. A shared sticky folder (such as `/tmp`) is refused: its mode is
/// not berth's to change.
pub fn prepare_scratch(scratch: &Path, ids: Option<&Ids>) -> Result<(), String> {
    let meta = std::fs::metadata(scratch).map_err(|e| format!("cannot inspect {}: {e}", scratch.display()))?;
    if meta.mode() & 0o1000 != 0 {
        return Err(format!(
            "worker.scratch-dir {} is a shared sticky folder: give the worker a folder of its own",
            scratch.display()
        ));
    }
    if meta.mode() & 0o7777 != SCRATCH_MODE {
        std::fs::set_permissions(scratch, std::fs::Permissions::from_mode(SCRATCH_MODE))
            .map_err(|e| format!("cannot set the mode of {}: {e}", scratch.display()))?;
    }
    let Some(ids) = ids else { return Ok(()) };
    for dir in scratch.ancestors().skip(1) {
        let meta = std::fs::metadata(dir).map_err(|e| format!("cannot inspect {}: {e}", dir.display()))?;
        let bit = if meta.uid() == ids.uid.as_raw() {
            0o100
        } else if ids.groups.iter().chain([&ids.gid]).any(|g| g.as_raw() == meta.gid()) {
            0o010
        } else {
            0o001
        };
        if meta.mode() & bit == 0 {
            return Err(format!(
                "jobs run as uid {} cannot reach worker.scratch-dir {}: {} is not searchable by them \
                 (chmod o+x it, or choose another scratch folder)",
                ids.uid,
                scratch.display(),
                dir.display()
            ));
        }
    }
    Ok(())
}

/// Gives the run folder (and what was unpacked into it) to the job's user, and creates its
/// `TMPDIR`. Symbolic links are not followed (the input archive has none anyway).
pub fn hand_over(dir: &Path, ids: Option<&Ids>) -> io::Result<()> {
    let tmp = dir.join(TMP_FOLDER);
    match std::fs::DirBuilder::new().create(&tmp) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
        _ => std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o700))?,
    }
    let Some(ids) = ids else { return Ok(()) };
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        lchown(&path, Some(ids.uid.as_raw()), Some(ids.gid.as_raw()))?;
        if std::fs::symlink_metadata(&path)?.is_dir() {
            for entry in std::fs::read_dir(&path)? {
                stack.push(entry?.path());
            }
        }
    }
    Ok(())
}

/// Removes the job's `TMPDIR` (temporary files are not results).
pub fn remove_tmp(dir: &Path) {
    let tmp: PathBuf = dir.join(TMP_FOLDER);
    if tmp.symlink_metadata().is_ok_and(|m| m.is_dir()) {
        super::process::remove_tree_logged(&tmp);
    }
}

/// Kills every process of `uid` (see [`super::spawn::kill_all_of`]: a child sharing the worker's
/// memory becomes `uid` and sends SIGKILL to every process it may signal). Never called for root.
/// Whether it swept.
fn kill_all_of(uid: Uid) -> bool {
    if uid.is_root() || !Uid::effective().is_root() {
        return false;
    }
    match super::spawn::kill_all_of(uid.as_raw()) {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(%uid, error = %e, "cannot sweep a job's processes");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uid_range_is_first_dash_last() {
        assert_eq!(parse_uid_range("60000-60063"), Ok((60000, 64)));
        assert_eq!(parse_uid_range(" 7 - 7 "), Ok((7, 1)));
        for bad in ["", "60000", "0-10", "10-9", "a-b", "1-4294967295", "-5"] {
            assert!(parse_uid_range(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn each_slot_gets_the_lowest_free_uid() {
        let mut in_use = BTreeSet::new();
        assert_eq!(lowest_free(&in_use, 100, 3), Some(100));
        in_use.extend([100, 101]);
        assert_eq!(lowest_free(&in_use, 100, 3), Some(102));
        in_use.insert(102);
        assert_eq!(lowest_free(&in_use, 100, 3), None);
        in_use.remove(&101);
        assert_eq!(lowest_free(&in_use, 100, 3), Some(101));
    }

    #[test]
    fn the_identity_comes_from_one_setting() {
        assert_eq!(identity_of("", ""), Ok(Identity::Worker));
        assert_eq!(identity_of("", "500-501"), Ok(Identity::Uids { first: 500, count: 2 }));
        assert_eq!(identity_of("61234", ""), Ok(Identity::User(Ids::bare(61234))), "a uid needs no passwd entry");
        assert!(identity_of("nobody", "500-501").unwrap_err().contains("not both"));
        assert!(identity_of("no-such-user-berth", "").unwrap_err().contains("no such user"));
    }

    #[test]
    fn a_sandbox_never_runs_jobs_as_root() {
        let mut w = crate::config::WorkerConfig::default();
        let err = Sandbox::from_config(&w, Uid::from_raw(0)).unwrap_err();
        assert!(err.contains("worker.run-as-user") && err.contains("worker.run-as-uids"), "{err}");
        assert!(Sandbox::from_config(&w, Uid::from_raw(1000)).is_ok(), "not root: jobs run as the worker");
        w.run_as_user = "0".into();
        assert!(Sandbox::from_config(&w, Uid::from_raw(0)).is_err());
        w.run_as_user = "61234".into();
        assert!(Sandbox::from_config(&w, Uid::from_raw(0)).is_ok());
        assert!(Sandbox::from_config(&w, Uid::from_raw(1000)).is_err(), "switching users needs root");
        w.run_as_user.clear();
        w.run_as_uids = "500-503".into();
        w.pods = 5;
        assert!(Sandbox::from_config(&w, Uid::from_raw(0)).unwrap_err().contains("worker.pods"));
        w.pods = 4;
        assert!(Sandbox::from_config(&w, Uid::from_raw(0)).is_ok());
        w.run_as_uids.clear();
        w.network = NetworkMode::None;
        assert!(Sandbox::from_config(&w, Uid::from_raw(1000)).unwrap_err().contains("network"));
    }

    #[test]
    fn the_environment_is_built_not_inherited() {
        let env = [("FOO".to_string(), "bar".to_string()), ("BERTH_RUN_ID".to_string(), "forged".to_string())];
        let built = job_env(7, Path::new("/scratch/run-7-ab"), &env);
        let expected: Vec<(String, String)> = [
            ("PATH", PATH_DEFAULT),
            ("HOME", "/scratch/run-7-ab"),
            ("TMPDIR", "/scratch/run-7-ab/.tmp"),
            ("FOO", "bar"),
            ("BERTH_RUN_ID", "7"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(built, expected);
        let own_path = [("PATH".to_string(), "/opt/tool/bin".to_string())];
        assert_eq!(job_env(1, Path::new("/d"), &own_path)[0], ("PATH".to_string(), "/opt/tool/bin".to_string()));
    }
}
