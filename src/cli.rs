//! The command line: parse, load configuration, start logging and metrics, dispatch.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{CommandFactory, Parser, Subcommand};

use crate::config::Config;
use crate::dev;
use crate::dev::postgres::{EmbeddedPostgres, Options};
use crate::service::{self, Roles};
use crate::store::Store;

/// berth: a job orchestrator on PostgreSQL.
#[derive(Debug, Parser)]
#[command(name = "berth", version, about)]
pub struct Cli {
    /// TOML configuration file (between the defaults and the environment).
    #[arg(long, global = true, env = "BERTH_CONFIG")]
    pub config: Option<PathBuf>,
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Worker capacity flags.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct CapacityArgs {
    /// Worker capacity in millicores (default: the machine's cores).
    #[arg(long = "worker-cpu", alias = "cpu")]
    pub cpu: Option<i64>,
    /// Worker capacity in MiB (default: the machine's memory).
    #[arg(long = "worker-memory", alias = "memory")]
    pub memory: Option<i64>,
    /// Worker capacity in concurrent runs.
    #[arg(long = "worker-pods", alias = "pods")]
    pub pods: Option<i64>,
    /// Worker capacity in MiB of scratch storage.
    #[arg(long = "worker-storage", alias = "storage")]
    pub storage: Option<i64>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// API, scheduler and one worker in one process; starts a private Postgres when DATABASE_URL is unset.
    Dev {
        /// API port (default 5000, or PORT).
        #[arg(long)]
        port: Option<u16>,
        /// Metrics port (default 8000; 0 disables).
        #[arg(long)]
        metrics_port: Option<u16>,
        /// Where the private Postgres keeps its data.
        #[arg(long, default_value = ".berth")]
        data_dir: PathBuf,
        /// Worker capacity.
        #[command(flatten)]
        capacity: CapacityArgs,
    },
    /// The HTTP API (stateless; run many).
    Api {
        /// API port (default 5000, or PORT).
        #[arg(long)]
        port: Option<u16>,
        /// Metrics port (default 8000; 0 disables).
        #[arg(long)]
        metrics_port: Option<u16>,
    },
    /// A worker: claims admitted runs and executes them.
    Worker {
        /// Metrics port (default 8000; 0 disables).
        #[arg(long)]
        metrics_port: Option<u16>,
        /// Services to run (comma-separated; default: every configured service).
        #[arg(long, value_delimiter = ',')]
        services: Vec<String>,
        /// Capacity.
        #[command(flatten)]
        capacity: CapacityArgs,
    },
    /// A scheduler: one leads (admission); the others stand by.
    Scheduler {
        /// Metrics port (default 8000; 0 disables).
        #[arg(long)]
        metrics_port: Option<u16>,
    },
    /// Measures throughput, latency, queue depth and end-to-end speed on a private Postgres
    /// (runs the `berth-bench` binary next to this one; `berth bench --help` lists its flags).
    #[command(disable_help_flag = true)]
    Bench {
        /// The flags of `berth-bench`, passed through.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
    /// Prints shell completions for `berth` (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// The client commands (submit, status, logs, download, cancel, runs, jobs, queue, why).
    #[command(flatten)]
    Client(Box<crate::client::ClientCommand>),
    /// Bearer tokens, straight in the database (DATABASE_URL), so the first admin token can be
    /// made before any exists.
    Token {
        /// What to do.
        #[command(subcommand)]
        action: TokenCommand,
    },
    /// Applies the embedded migrations.
    Migrate {
        /// Reverts every migration instead.
        #[arg(long, conflicts_with = "check")]
        undo: bool,
        /// Only checks that the schema is up to date.
        #[arg(long)]
        check: bool,
    },
}

/// `berth token …`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Creates a token and prints its secret (shown this once: only its hash is kept).
    Create {
        /// The user or service account it speaks for.
        #[arg(long)]
        subject: String,
        /// Its groups (comma-separated).
        #[arg(long, value_delimiter = ',')]
        groups: Vec<String>,
        /// Every permission on everything.
        #[arg(long)]
        admin: bool,
        /// A service account rather than a user.
        #[arg(long)]
        service: bool,
        /// A service account that may name another user (a portal submitting for its users).
        #[arg(long, requires = "service")]
        act_for_others: bool,
        /// Days until it stops working (default: never).
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
    /// Lists every token (never a secret).
    List,
    /// Revokes a token by id: every API replica refuses it from the next request on.
    Revoke {
        /// The token's id (from `berth token list`).
        id: i64,
    },
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Completions { shell } = cli.command {
        clap_complete::generate(shell, &mut Cli::command(), "berth", &mut std::io::stdout());
        return ExitCode::SUCCESS;
    }
    crate::telemetry::init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("berth: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Command::Client(command) = cli.command {
        return runtime.block_on(command.run());
    }
    match runtime.block_on(dispatch(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("berth: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    let mut config = Config::load(cli.config.as_deref(), std::env::vars()).context("cannot load the configuration")?;
    match cli.command {
        Command::Dev { port, metrics_port, data_dir, capacity } => {
            override_port(&mut config, port, metrics_port);
            apply_capacity(&mut config, &capacity);
            run_dev(config, data_dir).await
        }
        Command::Api { port, metrics_port } => {
            override_port(&mut config, port, metrics_port);
            run_one(config, Roles { api: true, scheduler: false, worker: false }).await
        }
        Command::Worker { metrics_port, services, capacity } => {
            override_port(&mut config, None, metrics_port);
            apply_capacity(&mut config, &capacity);
            if !services.is_empty() {
                config.worker.services = services;
            }
            run_one(config, Roles { api: false, scheduler: false, worker: true }).await
        }
        Command::Scheduler { metrics_port } => {
            override_port(&mut config, None, metrics_port);
            run_one(config, Roles { api: false, scheduler: true, worker: false }).await
        }
        Command::Bench { args } => Err(exec_bench(cli.config.as_deref(), &args)),
        Command::Completions { .. } | Command::Client(_) => bail!("handled before the configuration is loaded"),
        Command::Token { action } => {
            let url = database_url(&config)?;
            let store = Store::connect(&url, 2).await.context("cannot connect to the database")?;
            store.migrate_check().await?;
            token_command(&store, action).await
        }
        Command::Migrate { undo, check } => {
            let url = database_url(&config)?;
            let store = Store::connect(&url, 2).await.context("cannot connect to the database")?;
            if check {
                store.migrate_check().await?;
                println!("the schema is up to date");
            } else if undo {
                store.migrate_undo_all().await?;
                println!("every migration reverted");
            } else {
                store.migrate_run().await?;
                println!("migrations applied");
            }
            Ok(())
        }
    }
}

async fn run_dev(mut config: Config, data_dir: PathBuf) -> anyhow::Result<()> {
    let cancel = crate::shutdown::on_signal();
    let pg = match &config.database_url {
        Some(_) => None,
        None => {
            std::fs::create_dir_all(&data_dir).with_context(|| format!("cannot create {}", data_dir.display()))?;
            let pg =
                EmbeddedPostgres::start(Options { data_dir: data_dir.clone(), port: None, extra_settings: vec![] })
                    .await?;
            tracing::info!(url = %pg.url_redacted("postgres"), data = %data_dir.display(), "private Postgres started (its password is in the data folder, pg-password)");
            config.database_url = Some(pg.url("postgres"));
            Some(pg)
        }
    };
    dev::pick_job_uids(&mut config.worker, nix::unistd::Uid::effective().is_root());
    let result = async {
        let url = database_url(&config)?;
        let store = dev::connect_and_migrate(&url).await.context("cannot prepare the database")?;
        announce_auth(&store, &config, &data_dir).await?;
        crate::metrics::install(config.metrics.listen()).map_err(anyhow::Error::msg)?;
        let listener =
            dev::bind(config.api.port).await.with_context(|| format!("cannot listen on port {}", config.api.port))?;
        tracing::info!(
            port = config.api.port,
            metrics = config.metrics.port,
            "berth dev is up: try curl http://localhost:{}/health",
            config.api.port
        );
        service::run(store, Arc::new(config), Roles::ALL, Some(listener), cancel).await?;
        anyhow::Ok(())
    }
    .await;
    if let Some(pg) = pg {
        pg.stop().await.context("cannot stop the private Postgres")?;
        tracing::info!("private Postgres stopped");
    }
    result
}

async fn run_one(config: Config, roles: Roles) -> anyhow::Result<()> {
    if roles.worker {
        // Before anything else: a worker that cannot run jobs safely says so at once.
        crate::executor::Executor::from_config(&config).map_err(anyhow::Error::msg)?;
    }
    let url = database_url(&config)?;
    if roles.api {
        require_auth_setting(&config)?;
    }
    let store =
        Store::connect(&url, crate::store::POOL_SIZE_DEFAULT).await.context("cannot connect to the database")?;
    store.migrate_check().await?;
    crate::metrics::install(config.metrics.listen()).map_err(anyhow::Error::msg)?;
    let listener = if roles.api {
        Some(dev::bind(config.api.port).await.with_context(|| format!("cannot listen on port {}", config.api.port))?)
    } else {
        None
    };
    let cancel = crate::shutdown::on_signal();
    service::run(store, Arc::new(config), roles, listener, cancel).await?;
    Ok(())
}

/// `berth api` does not start unless `auth.enabled` is set, either way, on purpose.
fn require_auth_setting(config: &Config) -> anyhow::Result<()> {
    match config.auth.enabled {
        Some(true) => Ok(()),
        Some(false) => {
            tracing::warn!("auth is off (auth.enabled = false): every caller may do everything");
            Ok(())
        }
        None => bail!(
            "auth.enabled is not set: berth api refuses to start without an explicit choice. Set it in the \
             configuration file ([auth] enabled = true, or BERTH_AUTH_ENABLED=true) to require tokens, or to false \
             on purpose when the API is reachable only by trusted callers; see docs/security.md"
        ),
    }
}

/// `berth dev`: says whether auth is on; with auth on, makes sure there is an admin token (kept in
/// `<data dir>/admin-token`) and prints it when new.
async fn announce_auth(store: &Store, config: &Config, data_dir: &Path) -> anyhow::Result<()> {
    if !config.auth.on() {
        tracing::warn!(
            "auth is off: every caller may do everything, as the seed's curl lines expect \
             (set BERTH_AUTH_ENABLED=true to require tokens)"
        );
        if config.worker.executor == crate::domain::ExecutorKind::Process
            && config.worker.network == crate::domain::NetworkMode::Host
        {
            tracing::warn!(
                "auth is off and jobs share this machine's network (worker.network = host): a job can call this \
                 API as anyone; for other people's jobs, require tokens or set worker.network = none (docs/security.md)"
            );
        }
        return Ok(());
    }
    let (secret, new) = dev::admin_token(store, data_dir)
        .await
        .with_context(|| format!("cannot make the admin token in {}", data_dir.display()))?;
    let path = data_dir.join(dev::ADMIN_TOKEN_FILE);
    if new {
        println!("berth dev: auth is on; the admin token (kept in {}, shown only now):\n{secret}", path.display());
    } else {
        tracing::info!(file = %path.display(), "auth is on; the admin token is kept in the data folder");
    }
    Ok(())
}

async fn token_command(store: &Store, action: TokenCommand) -> anyhow::Result<()> {
    use crate::api::tokens::{TokenBody, token_params};
    use crate::auth::{TokenKind, token_generate, token_hash};
    match action {
        TokenCommand::Create { subject, groups, admin, service, act_for_others, expires_in_days } => {
            let now = chrono::Utc::now();
            let body = TokenBody {
                subject,
                kind: Some(if service { TokenKind::Service } else { TokenKind::User }),
                groups: Some(groups),
                admin: Some(admin),
                may_act_for_others: Some(act_for_others),
                expires_at: expires_in_days.map(|d| now + chrono::Duration::days(i64::from(d))),
            };
            let params = token_params(body, "cli", now).map_err(anyhow::Error::msg)?;
            let secret = token_generate();
            let (id, _) = store.token_create(&token_hash(&secret), &params).await?;
            eprintln!("token {id} for {:?} created; its secret is shown only now:", params.subject);
            println!("{secret}");
        }
        TokenCommand::List => {
            println!(
                "{:>6}  {:<24} {:<8} {:<6} {:<10} {:<25} {:<25} groups",
                "id", "subject", "kind", "admin", "state", "expires", "last used"
            );
            for t in store.token_list().await? {
                let state = match (t.revoked_at, t.expires_at) {
                    (Some(_), _) => "revoked",
                    (None, Some(e)) if e <= chrono::Utc::now() => "expired",
                    _ => "active",
                };
                let time =
                    |t: Option<chrono::DateTime<chrono::Utc>>| t.map(|t| t.to_rfc3339()).unwrap_or_else(|| "-".into());
                println!(
                    "{:>6}  {:<24} {:<8} {:<6} {:<10} {:<25} {:<25} {}",
                    t.id,
                    t.subject,
                    t.kind,
                    t.admin,
                    state,
                    time(t.expires_at),
                    time(t.last_used_at),
                    t.groups.join(",")
                );
            }
        }
        TokenCommand::Revoke { id } => {
            if !store.token_revoke(id).await? {
                bail!("no token {id}");
            }
            println!("token {id} revoked");
        }
    }
    Ok(())
}

fn database_url(config: &Config) -> anyhow::Result<String> {
    match &config.database_url {
        Some(url) => Ok(url.clone()),
        None => bail!("DATABASE_URL is not set (berth dev starts a private Postgres; the other commands need one)"),
    }
}

fn override_port(config: &mut Config, port: Option<u16>, metrics_port: Option<u16>) {
    if let Some(p) = port {
        config.api.port = p;
    }
    if let Some(p) = metrics_port {
        config.metrics.port = p;
    }
}

fn apply_capacity(config: &mut Config, c: &CapacityArgs) {
    let w = &mut config.worker;
    w.cpu = c.cpu.unwrap_or(w.cpu);
    w.memory = c.memory.unwrap_or(w.memory);
    w.pods = c.pods.unwrap_or(w.pods);
    w.storage = c.storage.unwrap_or(w.storage);
}

/// The benchmark's binary: built by the same `cargo build`, installed beside `berth`.
pub const BENCH_BINARY: &str = "berth-bench";

/// `berth bench`: replaces this process with the `berth-bench` binary next to this one, with the
/// same flags (and `--config`). The benchmark lives in its own crate so that the library every
/// replica runs carries none of it. Returns only if the exec failed.
fn exec_bench(config: Option<&Path>, args: &[OsString]) -> anyhow::Error {
    let dir = match std::env::current_exe() {
        Ok(exe) => exe.parent().map(Path::to_path_buf).unwrap_or_default(),
        Err(e) => return anyhow::Error::new(e).context("cannot find this executable's folder"),
    };
    let bench = dir.join(BENCH_BINARY);
    if !bench.is_file() {
        return anyhow::anyhow!(
            "{} not found: build it with `cargo build --release` (it is the {BENCH_BINARY} binary of this workspace)",
            bench.display()
        );
    }
    let mut command = std::process::Command::new(&bench);
    if let Some(path) = config {
        command.arg("--config").arg(path);
    }
    let err = command.args(args).exec();
    anyhow::Error::new(err).context(format!("cannot run {}", bench.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bench_args(line: &[&str]) -> Vec<OsString> {
        match Cli::try_parse_from(line).expect("parses").command {
            Command::Bench { args } => args,
            other => panic!("not bench: {other:?}"),
        }
    }

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    /// `berth bench` hands every flag to berth-bench untouched, `--help` included.
    #[test]
    fn bench_passes_its_flags_through() {
        assert_eq!(
            bench_args(&["berth", "bench", "--scenario", "latency", "--probes", "50", "--json"]),
            ["--scenario", "latency", "--probes", "50", "--json"]
        );
        assert_eq!(bench_args(&["berth", "bench", "--help"]), ["--help"]);
        assert!(bench_args(&["berth", "bench"]).is_empty());
        let cli = Cli::try_parse_from(["berth", "--config", "b.toml", "bench", "--runs", "10"]).expect("parses");
        assert_eq!(cli.config.as_deref(), Some(Path::new("b.toml")));
    }
}
