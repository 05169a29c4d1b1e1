//! Starting a job's process, and sweeping a job's uid, without copying the worker.
//!
//! `fork(2)` copies the worker's page tables, and until the child has called `execve` every page
//! the worker writes faults once to be copied. The sandbox (issue 13) started each job with a
//! fork and swept its uid with three more, so a worker of 16 slots spent most of its CPU on
//! `copy_page_range` and copy-on-write faults (docs/benchmarks.md, "issue 18: e2e, session 11").
//! Here the child shares the worker's memory, as `posix_spawn(3)` does: `clone(CLONE_VM |
//! CLONE_VFORK)` on a stack of its own, the calling thread waiting until the child has called
//! `execve` or exited. Nothing is copied, so a spawn costs the same whatever the worker's size.
//!
//! A child that shares the worker's memory may do very little, and every rule below is kept by
//! `child_main`:
//! - everything it reads (paths, argv, envp, limits, ids) is prepared before the clone; it
//!   allocates nothing, takes no lock and cannot panic;
//! - its credentials change through raw system calls: glibc's `setuid`, `setgid` and `setgroups`
//!   make every thread of the process switch too, and the threads such a child would find are the
//!   worker's;
//! - it runs with every signal blocked (glibc's two internal ones too, by a raw call) until it
//!   has reset the handlers it inherited to their defaults (a handler of the worker must never run
//!   on the child's stack);
//! - it runs on a stack of its own with a guard page below it, so an overflow faults instead of
//!   writing into the worker's heap;
//! - before its credentials change it makes the shared memory non-dumpable
//!   (`PR_SET_DUMPABLE` 0), so no process of the job's uid can ptrace it or write its
//!   `/proc/<pid>/mem` (which is the worker's memory) between the uid change and `execve`. The
//!   kernel does the same on a uid change unless `fs.suid_dumpable` is set; the worker is then
//!   not dumpable (no core dumps), which is its state after its first job anyway;
//! - it reports a failure by storing its errno in the parent's memory before it exits.
//!
//! A job also runs with `PR_SET_NO_NEW_PRIVS`: `execve` ignores set-uid bits and file
//! capabilities for it and everything it starts, so no job gains a privilege by running a program
//! (`su`, a setuid file another job left in `/tmp`).
//!
//! Only x86-64 and aarch64: on 32-bit ABIs the raw `setuid`, `setgid` and `setgroups` are the
//! 16-bit ones.

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!("src/executor/spawn.rs makes raw credential system calls checked only on x86-64 and aarch64");

use std::cell::RefCell;
use std::ffi::{CString, c_int, c_void};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::ExitStatus;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use nix::libc;
use nix::sys::wait::{Id, WaitPidFlag, waitid};
use nix::unistd::Pid;
use tokio::net::unix::pipe;
use tokio::task::JoinHandle;

use super::limits::Limits;
use super::sandbox::Ids;
use crate::domain::NetworkMode;

/// Stack of the child between the clone and `execve` (it only makes system calls), above one
/// guard page.
const CHILD_STACK: usize = 64 * 1024;
/// Exit status of a child that could not exec (as a shell reports a command it cannot run).
const EXEC_FAILED: c_int = 127;
/// `PATH` searched when the job's environment has none (glibc's default).
const PATH_WHEN_UNSET: &str = "/bin:/usr/bin";

/// What to start: the program, searched in the `PATH` of `env` unless it holds a `/`, its
/// arguments, its folder and its whole environment.
#[derive(Debug, Clone)]
pub struct Launch<'a> {
    /// The program (`argv[0]` too).
    pub program: &'a str,
    /// The arguments after `argv[0]`.
    pub args: &'a [String],
    /// The folder the job starts in.
    pub dir: &'a Path,
    /// The job's whole environment (nothing is inherited).
    pub env: &'a [(String, String)],
}

/// How the job is confined before `execve`: its own network namespace (`none`), its limits, umask
/// 077, then its groups, gid and uid, and last the parent-death signal (Linux clears it when the
/// credentials change).
#[derive(Debug, Clone)]
pub struct Confinement {
    /// The credentials to switch to; `None`: the worker's own.
    pub ids: Option<Ids>,
    /// The job's network.
    pub network: NetworkMode,
    /// The job's resource limits.
    pub limits: Limits,
}

/// A started job: its process group leader, its output pipes, and its exit, awaited on the
/// blocking pool. Dropped before it was awaited to the end, the process gets SIGKILL.
#[derive(Debug)]
pub struct Child {
    pid: Pid,
    /// The read end of the job's standard output.
    pub stdout: Option<pipe::Receiver>,
    /// The read end of the job's standard error.
    pub stderr: Option<pipe::Receiver>,
    exit: Option<JoinHandle<io::Result<ExitStatus>>>,
    ended: Option<Result<ExitStatus, (io::ErrorKind, String)>>,
    /// True once the process is reaped: from then on its pid may name another process.
    reaped: Arc<Mutex<bool>>,
}

impl Child {
    /// The process id (also the job's process group id).
    pub fn id(&self) -> Pid {
        self.pid
    }

    /// Waits for the process to exit and reaps it; cancel-safe, and answers the same again once
    /// it has ended.
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        if self.ended.is_none() {
            let Some(exit) = self.exit.as_mut() else { return Err(io::Error::other("no waiter for the job")) };
            let ended = exit.await.unwrap_or_else(|e| Err(io::Error::other(e)));
            self.exit = None;
            self.ended = Some(ended.map_err(|e| (e.kind(), e.to_string())));
        }
        match &self.ended {
            Some(Ok(status)) => Ok(*status),
            Some(Err((kind, message))) => Err(io::Error::new(*kind, message.clone())),
            None => Err(io::Error::other("no waiter for the job")),
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        // Under the lock the waiter reaps with: an unreaped pid is still this process.
        let reaped = self.reaped.lock().unwrap_or_else(PoisonError::into_inner);
        if !*reaped {
            // SAFETY: kill(2) with a pid this process has not reaped.
            unsafe { libc::kill(self.pid.as_raw(), libc::SIGKILL) };
        }
    }
}

/// Starts `launch` confined by `confinement`, in a process group of its own, stdin from
/// `/dev/null` and stdout and stderr into pipes. The error is the one the child met (a program
/// not found, a limit or a credential refused) or the clone's.
pub fn spawn(launch: &Launch<'_>, confinement: &Confinement) -> io::Result<Child> {
    let plan = ExecPlan::new(launch, confinement)?;
    let stdin: OwnedFd = std::fs::File::open("/dev/null")?.into();
    let (out_read, out_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let (err_read, err_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let work = Work::Exec { plan: &plan, stdio: [stdin.as_raw_fd(), out_write.as_raw_fd(), err_write.as_raw_fd()] };
    let pid = clone_vfork(&work)?;
    // The child's ends are its own now (or it is gone); the parent keeps only the read ends.
    drop((stdin, out_write, err_write));
    let reaped = Arc::new(Mutex::new(false));
    let waiter = reaped.clone();
    let exit = tokio::task::spawn_blocking(move || wait_and_reap(pid, &waiter));
    // Built before the pipes are registered, so a failure there kills the job (its drop).
    let mut child = Child { pid, stdout: None, stderr: None, exit: Some(exit), ended: None, reaped };
    child.stdout = Some(pipe::Receiver::from_owned_fd(out_read)?);
    child.stderr = Some(pipe::Receiver::from_owned_fd(err_read)?);
    Ok(child)
}

/// Kills every process of `uid`: a child that shares the worker's memory becomes `uid` and sends
/// SIGKILL to every process it may signal (`kill(-1)`: those of its own uid, atomically with
/// respect to their forks). Blocks until the child is reaped.
pub fn kill_all_of(uid: u32) -> io::Result<()> {
    let pid = clone_vfork(&Work::KillAllOf { uid })?;
    loop {
        // SAFETY: waitpid(2) on the child just cloned, which nothing else reaps.
        match unsafe { libc::waitpid(pid.as_raw(), std::ptr::null_mut(), 0) } {
            -1 if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => continue,
            -1 => return Err(io::Error::last_os_error()),
            _ => return Ok(()),
        }
    }
}

/// The files to try for `program` in order, as `execvp(3)` would: the program itself if it holds
/// a `/`, else each folder of `path` (unset: `/bin:/usr/bin`; an empty entry is the current
/// folder) joined with it.
pub fn candidates(program: &str, path: Option<&str>) -> Vec<String> {
    if program.contains('/') {
        return vec![program.to_string()];
    }
    path.unwrap_or(PATH_WHEN_UNSET)
        .split(':')
        .map(|dir| match dir {
            "" => program.to_string(),
            dir => format!("{}/{program}", dir.trim_end_matches('/')),
        })
        .collect()
}

/// Everything the child reads, prepared (and allocated) before the clone.
struct ExecPlan {
    programs: Vec<CString>,
    _argv: Vec<CString>,
    argv: Vec<*const libc::c_char>,
    _envp: Vec<CString>,
    envp: Vec<*const libc::c_char>,
    dir: CString,
    network_none: bool,
    rlimits: Vec<(c_int, u64)>,
    /// (uid, gid, groups).
    ids: Option<(libc::uid_t, libc::gid_t, Vec<libc::gid_t>)>,
}

impl ExecPlan {
    fn new(launch: &Launch<'_>, confinement: &Confinement) -> io::Result<Self> {
        let c = |s: &[u8]| CString::new(s).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL byte"));
        let path = launch.env.iter().rev().find(|(k, _)| k == "PATH").map(|(_, v)| v.as_str());
        let programs = candidates(launch.program, path).iter().map(|p| c(p.as_bytes())).collect::<io::Result<_>>()?;
        let argv_owned: Vec<CString> = std::iter::once(launch.program)
            .chain(launch.args.iter().map(String::as_str))
            .map(|a| c(a.as_bytes()))
            .collect::<io::Result<_>>()?;
        let envp_owned: Vec<CString> =
            launch.env.iter().map(|(k, v)| c(format!("{k}={v}").as_bytes())).collect::<io::Result<_>>()?;
        let argv = argv_owned.iter().map(|a| a.as_ptr()).chain([std::ptr::null()]).collect();
        let envp = envp_owned.iter().map(|e| e.as_ptr()).chain([std::ptr::null()]).collect();
        let ids = confinement
            .ids
            .as_ref()
            .map(|ids| (ids.uid.as_raw(), ids.gid.as_raw(), ids.groups.iter().map(|g| g.as_raw()).collect()));
        Ok(Self {
            programs,
            _argv: argv_owned,
            argv,
            _envp: envp_owned,
            envp,
            dir: c(launch.dir.as_os_str().as_bytes())?,
            network_none: confinement.network == NetworkMode::None,
            rlimits: confinement.limits.rlimits(),
            ids,
        })
    }
}

/// What the child does.
enum Work<'a> {
    /// Confine itself and exec the job with `stdio` as its fds 0, 1 and 2.
    Exec { plan: &'a ExecPlan, stdio: [RawFd; 3] },
    /// Become `uid` and kill every process it may signal.
    KillAllOf { uid: u32 },
}

/// The child's argument: the work and where it leaves its errno.
struct ChildArg<'a> {
    work: &'a Work<'a>,
    errno: AtomicI32,
}

/// Clones a child that shares this process's memory and runs `work`; returns once it has called
/// `execve` or exited. An errno the child stored is returned as the error (the child reaped).
fn clone_vfork(work: &Work<'_>) -> io::Result<Pid> {
    STACK.with(|cell| {
        let mut slot = cell.borrow_mut();
        let stack = match slot.as_ref() {
            Some(stack) => stack,
            None => slot.insert(Stack::new()?),
        };
        clone_on(stack, work)
    })
}

thread_local! {
    /// This thread's child stack, mapped at its first clone and kept: the thread is suspended
    /// while its child runs on it (CLONE_VFORK) and the child leaves it at `execve` or `_exit`, so
    /// one per thread is enough. Mapping and unmapping one per clone cost a TLB shootdown on every
    /// core running the worker's threads, three times per job (7 % of e2e's throughput).
    static STACK: RefCell<Option<Stack>> = const { RefCell::new(None) };
}

/// [`clone_vfork`] on `stack`.
fn clone_on(stack: &Stack, work: &Work<'_>) -> io::Result<Pid> {
    let arg = ChildArg { work, errno: AtomicI32::new(0) };
    // SAFETY: the stack and `arg` outlive the child's use of them: CLONE_VFORK suspends this
    // thread until the child has exec'd or exited. Every signal is blocked across the clone (raw
    // rt_sigprocmask: glibc's leaves its two internal signals unblocked) so none runs a handler on
    // the child's stack; the child resets the handlers before unblocking.
    let pid = unsafe {
        let all: u64 = !0;
        let mut old: u64 = 0;
        libc::syscall(libc::SYS_rt_sigprocmask, libc::SIG_SETMASK, &all, &mut old, 8);
        let pid = libc::clone(
            child_main,
            stack.top(),
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            std::ptr::from_ref(&arg).cast_mut().cast::<c_void>(),
        );
        let clone_error = io::Error::last_os_error();
        libc::syscall(libc::SYS_rt_sigprocmask, libc::SIG_SETMASK, &old, std::ptr::null_mut::<u64>(), 8);
        if pid == -1 {
            return Err(clone_error);
        }
        Pid::from_raw(pid)
    };
    match arg.errno.load(Ordering::Acquire) {
        0 => Ok(pid),
        errno => {
            loop {
                // SAFETY: reaps the child that just exited.
                match unsafe { libc::waitpid(pid.as_raw(), std::ptr::null_mut(), 0) } {
                    -1 if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => continue,
                    _ => break,
                }
            }
            Err(io::Error::from_raw_os_error(errno))
        }
    }
}

/// The child's stack: an anonymous mapping whose lowest page is inaccessible.
struct Stack {
    base: *mut c_void,
    len: usize,
}

impl Stack {
    fn new() -> io::Result<Self> {
        // SAFETY: sysconf has no preconditions.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096).max(4096);
        let len = CHILD_STACK + page;
        // SAFETY: a fresh private anonymous mapping, unmapped in drop.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let stack = Stack { base, len };
        // SAFETY: the lowest page of the mapping just made.
        if unsafe { libc::mprotect(base, page, libc::PROT_NONE) } == -1 {
            return Err(io::Error::last_os_error());
        }
        Ok(stack)
    }

    /// The top of the stack (it grows down towards the guard page), 16-byte aligned.
    fn top(&self) -> *mut c_void {
        // SAFETY: one past the end of the mapping, then aligned down inside it.
        let end = unsafe { self.base.cast::<u8>().add(self.len) };
        // SAFETY: moves down by less than 16 bytes, far above the guard page.
        unsafe { end.sub(end as usize % 16) }.cast::<c_void>()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, no longer used (its thread is ending, and no child of
        // it runs: each clone returned once its child had exec'd or exited).
        unsafe { libc::munmap(self.base, self.len) };
    }
}

/// Waits for `pid` to exit without reaping it, then reaps it under `reaped`'s lock, so a kill
/// from [`Child`]'s drop never reaches a pid reused by another process.
fn wait_and_reap(pid: Pid, reaped: &Mutex<bool>) -> io::Result<ExitStatus> {
    loop {
        match waitid(Id::Pid(pid), WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT) {
            Ok(_) => break,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    let mut reaped = reaped.lock().unwrap_or_else(PoisonError::into_inner);
    let mut status: c_int = 0;
    // SAFETY: reaps our own child, which has exited (waitid above).
    let done = unsafe { libc::waitpid(pid.as_raw(), &mut status, 0) };
    *reaped = true;
    if done == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(ExitStatus::from_raw(status))
}

/// The child: does its work with raw system calls only, stores the errno that stopped it and
/// exits. See the module documentation for the rules it keeps.
extern "C" fn child_main(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the `ChildArg` of `clone_vfork`, alive while the parent is suspended.
    let arg = unsafe { &*arg.cast::<ChildArg<'_>>() };
    // SAFETY: each helper makes only system calls on memory prepared before the clone.
    let errno = unsafe {
        match arg.work {
            Work::Exec { plan, stdio } => exec(plan, *stdio),
            Work::KillAllOf { uid } => kill_all_as(*uid),
        }
    };
    arg.errno.store(errno, Ordering::Release);
    // SAFETY: ends the child without running any of the parent's exit handlers.
    unsafe { libc::_exit(if errno == 0 { 0 } else { EXEC_FAILED }) }
}

/// The errno of the last failed call.
fn errno() -> c_int {
    io::Error::last_os_error().raw_os_error().unwrap_or(libc::EINVAL)
}

/// `Err(errno)` if a system call returned -1.
fn check(ret: libc::c_long) -> Result<(), c_int> {
    if ret == -1 { Err(errno()) } else { Ok(()) }
}

/// Drops to `uid` (its own number as its only group) and kills every process it may signal.
unsafe fn kill_all_as(uid: u32) -> c_int {
    let gid: libc::gid_t = uid;
    let result = check(unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0) }.into())
        .and_then(|()| unsafe { set_ids(uid, gid, std::slice::from_ref(&gid)) })
        .and_then(|()| check(unsafe { libc::kill(-1, libc::SIGKILL) }.into()));
    // No process left to signal is not a failure.
    match result {
        Ok(()) | Err(libc::ESRCH) => 0,
        Err(e) => e,
    }
}

/// Groups, then gid, then uid, each a raw system call (see the module documentation).
unsafe fn set_ids(uid: libc::uid_t, gid: libc::gid_t, groups: &[libc::gid_t]) -> Result<(), c_int> {
    unsafe {
        check(libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr()))?;
        check(libc::syscall(libc::SYS_setgid, gid))?;
        check(libc::syscall(libc::SYS_setuid, uid))
    }
}

/// Confines the child and execs the job; returns only on failure, with the errno.
unsafe fn exec(plan: &ExecPlan, stdio: [RawFd; 3]) -> c_int {
    match unsafe { confine(plan, stdio) } {
        Ok(()) => {}
        Err(e) => return e,
    }
    // As execvp(3): a file not found (or not a folder on the way) lets the search go on; a file
    // found but not executable is reported if nothing later runs.
    let mut denied = false;
    let mut last = libc::ENOENT;
    for program in &plan.programs {
        unsafe { libc::execve(program.as_ptr(), plan.argv.as_ptr(), plan.envp.as_ptr()) };
        last = errno();
        match last {
            libc::EACCES => denied = true,
            libc::ENOENT | libc::ENOTDIR | libc::ESTALE | libc::ENODEV | libc::ETIMEDOUT => {}
            _ => return last,
        }
    }
    if denied { libc::EACCES } else { last }
}

/// Everything between the clone and `execve`, in order.
unsafe fn confine(plan: &ExecPlan, stdio: [RawFd; 3]) -> Result<(), c_int> {
    unsafe {
        reset_signals();
        for (target, fd) in (0..).zip(stdio) {
            if fd == target {
                check(libc::fcntl(fd, libc::F_SETFD, 0).into())?;
            } else {
                check(libc::dup2(fd, target).into())?;
            }
        }
        check(libc::setpgid(0, 0).into())?;
        check(libc::chdir(plan.dir.as_ptr()).into())?;
        if plan.network_none {
            check(libc::unshare(libc::CLONE_NEWNET).into())?;
        }
        for &(resource, value) in &plan.rlimits {
            let limit = libc::rlimit64 { rlim_cur: value, rlim_max: value };
            check(libc::syscall(libc::SYS_prlimit64, 0, resource, &limit, std::ptr::null_mut::<libc::rlimit64>()))?;
        }
        libc::umask(0o077);
        // No program the job runs gains a privilege (set-uid bits, file capabilities).
        check(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0).into())?;
        if let Some((uid, gid, groups)) = &plan.ids {
            // Not ptraceable by the job's uid while it still shares the worker's memory.
            check(libc::prctl(libc::PR_SET_DUMPABLE, 0).into())?;
            set_ids(*uid, *gid, groups)?;
        }
        // Set after the uid change, which clears it. The signal follows the thread that cloned,
        // a runtime thread that lives as long as the worker.
        check(libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL).into())?;
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
    }
    Ok(())
}

/// The kernel's `struct sigaction` (`rt_sigaction(2)`), the same on x86-64 and aarch64.
#[repr(C)]
struct KernelSigaction {
    handler: libc::sighandler_t,
    flags: libc::c_ulong,
    restorer: usize,
    mask: u64,
}

/// Every signal's disposition back to its default: the worker's handlers, and the signals it
/// ignores (SIGPIPE, as Rust programs do and `std::process::Command` resets; glibc's two internal
/// ones; and whatever the worker inherited ignored, such as SIGHUP under `nohup`), so a job starts
/// the same however its worker was started. Raw `rt_sigaction(2)`: the child has its own copy of
/// the handlers (no `CLONE_SIGHAND`), so the worker's are untouched.
unsafe fn reset_signals() {
    for signal in 1..=64 {
        if signal == libc::SIGKILL || signal == libc::SIGSTOP {
            continue;
        }
        unsafe {
            let mut old: KernelSigaction = std::mem::zeroed();
            let none = std::ptr::null::<KernelSigaction>();
            if libc::syscall(libc::SYS_rt_sigaction, signal, none, &mut old, 8) != 0 {
                continue;
            }
            if old.handler != libc::SIG_DFL {
                let default: KernelSigaction = std::mem::zeroed();
                libc::syscall(libc::SYS_rt_sigaction, signal, &default, std::ptr::null_mut::<KernelSigaction>(), 8);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_is_searched_like_execvp() {
        assert_eq!(candidates("./run.sh", Some("/usr/bin")), ["./run.sh"]);
        assert_eq!(candidates("/bin/true", None), ["/bin/true"]);
        assert_eq!(candidates("bash", None), ["/bin/bash", "/usr/bin/bash"]);
        assert_eq!(candidates("bash", Some("/opt/x/:/usr/bin")), ["/opt/x/bash", "/usr/bin/bash"]);
        assert_eq!(candidates("tool", Some(":/bin")), ["tool", "/bin/tool"], "an empty entry is the current folder");
    }
}
