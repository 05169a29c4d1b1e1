//! The `berth-bench` binary (also reached as `berth bench`): parse the flags, load berth's
//! configuration, log to stderr, run [`berth_bench::run`]. Figures go to stdout, nothing else does.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use tracing_subscriber::EnvFilter;

use berth_bench::cli::BenchArgs;

/// Logs of the services under measurement unless `RUST_LOG` says otherwise: warnings and errors
/// only, so that their info lines do not interleave with the progress lines on stderr.
const LOG_FILTER_DEFAULT: &str = "warn";

/// berth-bench: measures berth's throughput, latency, queue depth and end-to-end speed.
#[derive(Debug, Parser)]
#[command(name = "berth-bench", version, about)]
struct Cli {
    /// berth's TOML configuration file (between the defaults and the environment).
    #[arg(long, env = "BERTH_CONFIG")]
    config: Option<PathBuf>,
    /// What to measure.
    #[command(flatten)]
    args: BenchArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(LOG_FILTER_DEFAULT));
    let colour = std::io::stderr().is_terminal();
    let subscriber = tracing_subscriber::fmt().with_env_filter(filter).with_target(false).with_ansi(colour);
    let _ = subscriber.with_writer(std::io::stderr).try_init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("berth-bench: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("berth-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = berth::config::Config::load(cli.config.as_deref(), std::env::vars())
        .context("cannot load the configuration")?;
    berth_bench::run(cli.args.options(), config).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from(["berth-bench", "--scenario", "throughput", "--runs", "2000"]).expect("parses");
        assert_eq!(cli.args.options().runs, 2000);
    }
}
