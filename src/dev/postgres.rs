//! Starts a private PostgreSQL server for `berth dev`, the test harness and `berth bench` when `DATABASE_URL` is unset.

use std::ffi::{CString, OsString};
use std::fs::{self, OpenOptions};
use std::io;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt, lchown};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, PoisonError, mpsc};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::unistd::{Gid, Pid, Uid, User};
use tracing::{debug, info, warn};

const SUPERUSER: &str = "berth";
/// The superuser's password, in the data folder (mode 0600, berth's own user).
pub const PASSWORD_FILE: &str = "pg-password";
/// `pg_hba.conf` of a cluster made before passwords: every connection needs the password.
const HBA: &str = "# written by berth: every connection needs the password in <data dir>/pg-password\n\
                   local all all scram-sha-256\n\
                   host all all 127.0.0.1/32 scram-sha-256\n\
                   host all all ::1/128 scram-sha-256\n";
const READY_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(20);
const PORT_ATTEMPTS: u32 = 5;

/// Errors from finding, initialising, starting or stopping the embedded server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No directory with both `postgres` and `initdb` was found.
    #[error(
        "no PostgreSQL server found: install postgresql (e.g. apt-get install postgresql postgresql-contrib) or set DATABASE_URL"
    )]
    NotInstalled,
    /// `initdb` failed; holds its exit status and output.
    #[error("initdb failed: {0}")]
    InitDb(String),
    /// The server could not be started or did not become ready; holds the reason and the log tail.
    #[error("could not start PostgreSQL: {0}")]
    Start(String),
    /// The server did not exit, even after SIGQUIT and SIGKILL.
    #[error("could not stop PostgreSQL: {0}")]
    Stop(String),
    /// `postmaster.pid` names a live server that is using this cluster.
    #[error("the PostgreSQL data directory is in use by a running server (pid {pid})")]
    DataDirInUse {
        /// Process id of the running postmaster.
        pid: i32,
    },
    /// Running as root, but neither a `postgres` nor a `nobody` user exists to run the server as.
    #[error("running as root, but there is no postgres or nobody user to run PostgreSQL as")]
    NoUnprivilegedUser,
    /// A file or system operation failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Result type of this module.
pub type Result<T> = std::result::Result<T, Error>;

/// How to start the server.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The berth data folder; the cluster lives in `data_dir/pg`. Created if missing.
    pub data_dir: PathBuf,
    /// TCP port on 127.0.0.1; `None` picks a free one.
    pub port: Option<u16>,
    /// Extra `-c key=value` server settings; they override the defaults
    /// (`listen_addresses=127.0.0.1`, `max_connections=200`, `unix_socket_directories=<data_dir>/pg`).
    pub extra_settings: Vec<(String, String)>,
}

/// A running private PostgreSQL server, reachable on 127.0.0.1 as user `berth` with a random
/// password (scram-sha-256, for TCP and the socket alike) that berth keeps in
/// `<data_dir>/pg-password` (mode 0600) and puts in [`EmbeddedPostgres::url`]: another user of the
/// machine (a job, say) cannot connect.
///
/// The cluster lives in `<data_dir>/pg`, made by `initdb --no-sync` (dev/test data) and reused later; the server
/// log is appended to `<data_dir>/pg/postgres.log`. As root, the server runs as `postgres` (else `nobody`):
/// `<data_dir>/pg` is chowned to it and `<data_dir>` gets `o+x` if needed, but ancestors are never changed (an
/// unsearchable one is named in [`Error::Start`]). The server dies with us (parent-death signal SIGINT) and has
/// its own process group, so a terminal's Ctrl-C reaches only berth. Call [`EmbeddedPostgres::stop`] to shut it
/// down; dropping it only sends SIGINT.
#[derive(Debug)]
pub struct EmbeddedPostgres {
    child: Option<Child>,
    port: u16,
    pg_dir: PathBuf,
    user: Option<String>,
    password: String,
}

/// The unprivileged account the server runs as when we are root.
#[derive(Debug)]
struct RunAs {
    name: String,
    uid: Uid,
    gid: Gid,
    groups: Vec<Gid>,
}

impl EmbeddedPostgres {
    /// Initialises the cluster if needed, starts the server and waits (up to 30 s) until it accepts connections.
    pub async fn start(opts: Options) -> Result<Self> {
        let bin_dir = find_bin_dir()?;
        let user = run_as()?;
        let data_dir = std::path::absolute(&opts.data_dir)?;
        fs::create_dir_all(&data_dir)?;
        let data_dir = fs::canonicalize(&data_dir)?;
        close_data_dir(&data_dir)?;
        if let Some(u) = &user {
            ensure_reachable(&data_dir, u)?;
        }
        let pg_dir = data_dir.join("pg");
        let (password, legacy) = if !pg_dir.join("PG_VERSION").exists() {
            let password = new_password(&data_dir)?;
            init_cluster(&bin_dir, &data_dir, user.as_ref(), &password).await?;
            (password, false)
        } else {
            match read_password(&data_dir)? {
                Some(password) => (password, false),
                None => (new_password(&data_dir)?, true),
            }
        };
        check_pid_file(&pg_dir)?;
        let log_path = pg_dir.join("postgres.log");
        let log = OpenOptions::new().create(true).append(true).open(&log_path)?;
        if let Some(u) = &user {
            chown_tree(&pg_dir, u)?;
        }
        let mut attempt = 1;
        loop {
            let port = opts.port.map_or_else(free_port, Ok)?;
            let log_start = log.metadata()?.len();
            let mut cmd = command(&bin_dir.join("postgres"), user.as_ref());
            cmd.args(server_args(&pg_dir, port, &opts.extra_settings));
            cmd.stdout(log.try_clone()?).stderr(log.try_clone()?);
            let mut child = spawn_from_launcher(cmd).await?;
            let Err(reason) = wait_ready(&mut child, &pg_dir).await else {
                if legacy {
                    require_password(&child, port, &pg_dir, user.as_ref(), &password).await?;
                }
                let user = user.map(|u| u.name);
                info!(port, pid = child.id(), dir = %pg_dir.display(), ?user, "PostgreSQL ready");
                let child = Some(child);
                return Ok(Self { child, port, pg_dir, user, password });
            };
            let tail = log_tail(&log_path, log_start);
            if opts.port.is_none() && attempt < PORT_ATTEMPTS && tail.contains("could not bind") {
                debug!(port, "PostgreSQL could not bind its port; retrying with another");
                attempt += 1;
                continue;
            }
            let log = log_path.display();
            return Err(Error::Start(format!("{reason}; last lines of {log}:\n{tail}")));
        }
    }

    /// A connection URL for `database`: `postgres://berth:<password>@127.0.0.1:<port>/<database>`.
    /// It holds the password: do not log it (see [`EmbeddedPostgres::url_redacted`]).
    pub fn url(&self, database: &str) -> String {
        format!("postgres://{SUPERUSER}:{}@127.0.0.1:{}/{database}", self.password, self.port)
    }

    /// [`EmbeddedPostgres::url`] without the password, for logs.
    pub fn url_redacted(&self, database: &str) -> String {
        format!("postgres://{SUPERUSER}:***@127.0.0.1:{}/{database}", self.port)
    }

    /// The TCP port the server listens on (127.0.0.1 only).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's process id, until it is stopped.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Fast shutdown (SIGINT) and wait for exit; after 30 s escalates to SIGQUIT, then SIGKILL.
    pub async fn stop(mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        info!(dir = %self.pg_dir.display(), user = ?self.user, "stopping PostgreSQL");
        shutdown(&mut child).await
    }
}

impl Drop for EmbeddedPostgres {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            debug!(dir = %self.pg_dir.display(), "EmbeddedPostgres dropped without stop; sending SIGINT");
            let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGINT);
            // Reap it in the background so that it does not linger as a zombie.
            let reaper = std::thread::Builder::new().name("berth-pg-reaper".into());
            let _ = reaper.spawn(move || child.wait());
        }
    }
}

/// Finds the directory holding `postgres` and `initdb`: `pg_config --bindir`, then `PATH`,
/// then `/usr/lib/postgresql/*/bin` (highest version first).
pub fn find_bin_dir() -> Result<PathBuf> {
    find_bin_dir_in(std::env::var_os("PATH"), Path::new("/usr/lib/postgresql"))
}

fn find_bin_dir_in(path: Option<OsString>, versions_root: &Path) -> Result<PathBuf> {
    let is_server_dir = |d: &Path| is_executable(&d.join("postgres")) && is_executable(&d.join("initdb"));
    let path_dirs: Vec<PathBuf> =
        path.map(|p| std::env::split_paths(&p).filter(|d| d.is_absolute()).collect()).unwrap_or_default();
    if let Some(pg_config) = path_dirs.iter().map(|d| d.join("pg_config")).find(|p| is_executable(p)) {
        let out = Command::new(pg_config).arg("--bindir").stdin(Stdio::null()).stderr(Stdio::null()).output();
        if let Ok(out) = out
            && out.status.success()
        {
            let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            if is_server_dir(&dir) {
                return Ok(dir);
            }
        }
    }
    if let Some(dir) = path_dirs.into_iter().find(|d| is_server_dir(d)) {
        return Ok(dir);
    }
    let mut versions: Vec<PathBuf> =
        fs::read_dir(versions_root).into_iter().flatten().flatten().map(|e| e.path()).collect();
    let version = |dir: &PathBuf| -> Vec<u32> {
        let name = dir.file_name().unwrap_or_default().to_string_lossy();
        name.split('.').map(|part| part.parse().unwrap_or(0)).collect()
    };
    versions.sort_by_key(|dir| std::cmp::Reverse(version(dir)));
    versions.into_iter().map(|dir| dir.join("bin")).find(|d| is_server_dir(d)).ok_or(Error::NotInstalled)
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.mode() & 0o111 != 0)
}

/// As root, the account to run PostgreSQL as (`postgres`, else `nobody`); otherwise `None`.
fn run_as() -> Result<Option<RunAs>> {
    if !Uid::effective().is_root() {
        return Ok(None);
    }
    for name in ["postgres", "nobody"] {
        if let Some(u) = User::from_name(name).map_err(io::Error::from)? {
            let c_name = CString::new(name).map_err(io::Error::other)?;
            let groups = nix::unistd::getgrouplist(&c_name, u.gid).unwrap_or_else(|_| vec![u.gid]);
            return Ok(Some(RunAs { name: u.name, uid: u.uid, gid: u.gid, groups }));
        }
    }
    Err(Error::NoUnprivilegedUser)
}

fn searchable(meta: &fs::Metadata, u: &RunAs) -> bool {
    let in_group = u.groups.iter().any(|g| g.as_raw() == meta.gid());
    let bit = if meta.uid() == u.uid.as_raw() {
        0o100
    } else if in_group {
        0o010
    } else {
        0o001
    };
    meta.mode() & bit != 0
}

/// Lets `u` enter `data_dir` (adding `o+x` if needed) and checks that it can reach it at all.
fn ensure_reachable(data_dir: &Path, u: &RunAs) -> Result<()> {
    let meta = fs::metadata(data_dir)?;
    if !searchable(&meta, u) {
        info!(dir = %data_dir.display(), user = %u.name, "adding o+x so that PostgreSQL can enter it");
        fs::set_permissions(data_dir, fs::Permissions::from_mode((meta.mode() & 0o7777) | 0o001))?;
    }
    for dir in data_dir.ancestors().skip(1) {
        if !searchable(&fs::metadata(dir)?, u) {
            let (dir, data) = (dir.display(), data_dir.display());
            return Err(Error::Start(format!(
                "PostgreSQL runs as user {}, which cannot reach {data}: {dir} is not searchable by it \
                 (chmod o+x {dir}, or use a data directory elsewhere)",
                u.name
            )));
        }
    }
    Ok(())
}

/// `chown -R` without following symbolic links.
fn chown_tree(path: &Path, u: &RunAs) -> io::Result<()> {
    lchown(path, Some(u.uid.as_raw()), Some(u.gid.as_raw()))?;
    if fs::symlink_metadata(path)?.is_dir() {
        for entry in fs::read_dir(path)? {
            chown_tree(&entry?.path(), u)?;
        }
    }
    Ok(())
}

/// A command that runs as `user` (if any) in its own process group and gets SIGINT when we die.
fn command(program: &Path, user: Option<&RunAs>) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir("/").stdin(Stdio::null()).process_group(0);
    let ids = user.map(|u| (u.uid, u.gid, u.groups.clone()));
    let parent = nix::unistd::getpid();
    // SAFETY: runs between fork and exec; it only makes async-signal-safe system calls and does not
    // allocate (errors convert to `io::Error` from a raw OS error code).
    unsafe {
        cmd.pre_exec(move || {
            if let Some((uid, gid, groups)) = &ids {
                nix::unistd::setgroups(groups)?;
                nix::unistd::setgid(*gid)?;
                nix::unistd::setuid(*uid)?;
            }
            // Changing credentials clears the parent-death signal, so it is set afterwards.
            nix::sys::prctl::set_pdeathsig(Signal::SIGINT)?;
            if nix::unistd::getppid() != parent {
                return Err(Errno::ESRCH.into()); // we died before the signal was armed
            }
            Ok(())
        });
    }
    cmd
}

type SpawnJob = (Command, tokio::sync::oneshot::Sender<io::Result<Child>>);

/// Spawns `cmd` from a thread that lives as long as the process: the parent-death signal fires
/// when the forking *thread* exits, and tokio worker threads (or a test's runtime) do not last.
async fn spawn_from_launcher(cmd: Command) -> io::Result<Child> {
    let gone = || io::Error::other("PostgreSQL launcher thread is gone");
    let (reply, result) = tokio::sync::oneshot::channel();
    launcher()?.send((cmd, reply)).map_err(|_| gone())?;
    result.await.map_err(|_| gone())?
}

fn launcher() -> io::Result<mpsc::Sender<SpawnJob>> {
    static LAUNCHER: Mutex<Option<mpsc::Sender<SpawnJob>>> = Mutex::new(None);
    let mut launcher = LAUNCHER.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(jobs) = launcher.as_ref() {
        return Ok(jobs.clone());
    }
    let (jobs, queue) = mpsc::channel::<SpawnJob>();
    std::thread::Builder::new().name("berth-pg-launcher".into()).spawn(move || {
        for (mut cmd, reply) in queue {
            let _ = reply.send(cmd.spawn());
        }
    })?;
    Ok(launcher.insert(jobs).clone())
}

async fn init_cluster(bin_dir: &Path, data_dir: &Path, user: Option<&RunAs>, password: &str) -> Result<()> {
    let pg_dir = data_dir.join("pg");
    if let Some(u) = user {
        if !pg_dir.exists() {
            fs::DirBuilder::new().mode(0o700).create(&pg_dir)?;
        }
        chown_tree(&pg_dir, u)?;
    }
    info!(dir = %pg_dir.display(), "initialising PostgreSQL cluster");
    // initdb reads the password from a file, as the server's user; removed once it is done.
    let pwfile = data_dir.join(format!("{PASSWORD_FILE}.initdb"));
    write_private(&pwfile, password)?;
    if let Some(u) = user {
        lchown(&pwfile, Some(u.uid.as_raw()), Some(u.gid.as_raw()))?;
    }
    let mut cmd = command(&bin_dir.join("initdb"), user);
    cmd.arg("-D").arg(&pg_dir).arg(format!("--pwfile={}", pwfile.display()));
    cmd.args(["-U", SUPERUSER, "--auth-local=scram-sha-256", "--auth-host=scram-sha-256"]);
    cmd.args(["-E", "UTF8", "--locale=C", "--no-sync"]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = spawn_from_launcher(cmd).await;
    let out = match child {
        Ok(child) => tokio::task::spawn_blocking(move || child.wait_with_output()).await.map_err(io::Error::other)?,
        Err(e) => Err(e),
    };
    let _ = fs::remove_file(&pwfile);
    let out = out?;
    if out.status.success() {
        return Ok(());
    }
    let output = String::from_utf8_lossy(&out.stderr) + String::from_utf8_lossy(&out.stdout);
    Err(Error::InitDb(format!("{}: {}", out.status, output.trim())))
}

/// Takes read and write access to the data folder away from other users (they keep `x`, which the
/// server's user needs to reach `pg/`), if it is ours.
fn close_data_dir(data_dir: &Path) -> io::Result<()> {
    let meta = fs::metadata(data_dir)?;
    let mode = meta.mode() & 0o7777;
    if meta.uid() == Uid::effective().as_raw() && mode & 0o066 != 0 {
        info!(dir = %data_dir.display(), "making the data folder private (no read or write for other users)");
        fs::set_permissions(data_dir, fs::Permissions::from_mode(mode & !0o066))?;
    }
    Ok(())
}

/// A new random password (256 bits, hex), kept in `<data_dir>/pg-password`.
fn new_password(data_dir: &Path) -> io::Result<String> {
    let bytes: [u8; 32] = rand::random();
    let password: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    write_private(&data_dir.join(PASSWORD_FILE), &password)?;
    Ok(password)
}

/// The kept password, if there is one.
fn read_password(data_dir: &Path) -> io::Result<Option<String>> {
    match fs::read_to_string(data_dir.join(PASSWORD_FILE)) {
        Ok(text) if !text.trim().is_empty() => Ok(Some(text.trim().to_string())),
        Ok(_) => Ok(None),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes `text` to a new file only its owner can read (replacing what was there).
fn write_private(path: &Path, text: &str) -> io::Result<()> {
    let _ = fs::remove_file(path);
    let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    io::Write::write_all(&mut file, text.as_bytes())
}

/// A cluster made before passwords (trust): sets the password over the trusted connection, then
/// requires it of every connection (`pg_hba.conf`) and reloads the server.
async fn require_password(child: &Child, port: u16, pg_dir: &Path, user: Option<&RunAs>, password: &str) -> Result<()> {
    use sqlx::Connection;
    info!(dir = %pg_dir.display(), "this cluster trusted every local connection: setting a password");
    let start = |e: sqlx::Error| Error::Start(format!("cannot set the password of the older cluster: {e}"));
    let url = format!("postgres://{SUPERUSER}@127.0.0.1:{port}/postgres");
    let mut conn = sqlx::PgConnection::connect(&url).await.map_err(start)?;
    // The password is hex: nothing to quote.
    let statement = format!("alter role {SUPERUSER} with password '{password}'");
    sqlx::query(sqlx::AssertSqlSafe(statement)).execute(&mut conn).await.map_err(start)?;
    let _ = conn.close().await;
    let hba = pg_dir.join("pg_hba.conf");
    fs::write(&hba, HBA)?;
    if let Some(u) = user {
        lchown(&hba, Some(u.uid.as_raw()), Some(u.gid.as_raw()))?;
    }
    let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGHUP);
    Ok(())
}

/// Removes a `postmaster.pid` left by a server that is gone; fails if that server still runs.
fn check_pid_file(pg_dir: &Path) -> Result<()> {
    let path = pg_dir.join("postmaster.pid");
    let text = match fs::read_to_string(&path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        other => other?,
    };
    match text.lines().next().and_then(|l| l.trim().parse::<i32>().ok()) {
        Some(pid) if pid > 0 && is_live_postgres(pid) => Err(Error::DataDirInUse { pid }),
        pid => {
            warn!(?pid, file = %path.display(), "removing stale postmaster.pid");
            Ok(fs::remove_file(&path)?)
        }
    }
}

/// Whether `pid` is a live (non-zombie) process named postgres/postmaster; another name means the
/// pid was reused after a crash or reboot.
fn is_live_postgres(pid: i32) -> bool {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let Some((head, state)) = stat.rsplit_once(") ") else { return false };
    let name = head.split_once(" (").map_or("", |(_, name)| name);
    !state.starts_with('Z') && (name == "postgres" || name == "postmaster")
}

fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port())
}

fn server_args(pg_dir: &Path, port: u16, extra: &[(String, String)]) -> Vec<OsString> {
    // Unix sockets are a convenience (psql -h <dir>); skip them if the path is unusable.
    let socket_dir = pg_dir.to_string_lossy().into_owned();
    let usable = socket_dir.len() + 16 < 108 && !socket_dir.contains([',', '"', '\'', ' ', '\\']);
    let socket_dir = if usable { socket_dir } else { String::new() };
    let defaults =
        [("listen_addresses", "127.0.0.1"), ("max_connections", "200"), ("unix_socket_directories", &socket_dir)];
    let mut args: Vec<OsString> = vec!["-D".into(), pg_dir.into(), "-p".into(), port.to_string().into()];
    let settings = defaults.into_iter().filter(|(k, _)| !extra.iter().any(|(e, _)| e == k));
    for (key, value) in settings.chain(extra.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
        args.extend(["-c".into(), format!("{key}={value}").into()]);
    }
    args
}

/// Waits until `postmaster.pid` names `child` and says "ready", as `pg_ctl -w` does (PostgreSQL 10+).
async fn wait_ready(child: &mut Child, pg_dir: &Path) -> std::result::Result<(), String> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let pid = child.id().to_string();
    loop {
        if let Some(status) = child.try_wait().map_err(|e| format!("could not check on postgres: {e}"))? {
            return Err(format!("postgres exited during startup ({status})"));
        }
        let text = fs::read_to_string(pg_dir.join("postmaster.pid")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        if lines.first() == Some(&pid.as_str()) && lines.get(7).is_some_and(|s| s.trim() == "ready") {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let _ = shutdown(child).await;
            return Err(format!("postgres was not ready after {} s", READY_TIMEOUT.as_secs()));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// SIGINT (fast shutdown), then SIGQUIT, then SIGKILL, each with a deadline; reaps the child.
async fn shutdown(child: &mut Child) -> Result<()> {
    let pid = Pid::from_raw(child.id() as i32);
    let steps = [
        (Signal::SIGINT, STOP_TIMEOUT),
        (Signal::SIGQUIT, Duration::from_secs(10)),
        (Signal::SIGKILL, Duration::from_secs(10)),
    ];
    for (signal, timeout) in steps {
        if child.try_wait()?.is_some() {
            return Ok(());
        }
        if signal != Signal::SIGINT {
            warn!(%pid, ?signal, "PostgreSQL did not stop in time");
        }
        // The child is not reaped yet, so its pid cannot have been reused.
        let _ = kill(pid, signal);
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if child.try_wait()?.is_some() {
                return Ok(());
            }
            tokio::time::sleep(POLL).await;
        }
    }
    Err(Error::Stop(format!("postmaster (pid {pid}) did not exit")))
}

/// The last lines the server logged since byte `from`.
fn log_tail(path: &Path, from: u64) -> String {
    let bytes = fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(bytes.get(from as usize..).unwrap_or_default());
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_installed_without_path_or_versions() {
        let root = tempfile::tempdir().unwrap();
        let err = find_bin_dir_in(Some(OsString::new()), root.path()).unwrap_err();
        assert!(matches!(err, Error::NotInstalled) && !err.to_string().contains('\n'));
    }

    #[test]
    fn highest_version_wins() {
        let root = tempfile::tempdir().unwrap();
        for (version, names) in
            [("9.6", &["postgres", "initdb"][..]), ("15", &["postgres", "initdb"]), ("16", &["psql"])]
        {
            let bin = root.path().join(version).join("bin");
            fs::create_dir_all(&bin).unwrap();
            for name in names {
                fs::write(bin.join(name), "").unwrap();
                fs::set_permissions(bin.join(name), fs::Permissions::from_mode(0o755)).unwrap();
            }
        }
        assert_eq!(find_bin_dir_in(None, root.path()).unwrap(), root.path().join("15/bin"));
    }
}
