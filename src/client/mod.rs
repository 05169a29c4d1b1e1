//! The command-line client: `berth submit`, `status`, `logs`, `download`, `cancel`, `runs`, `jobs`,
//! `queue` and `why`, talking to a berth API over HTTP.
//!
//! Output is for people by default (aligned tables, sentences) and the API's own JSON with
//! `--json`. An error is one line on stderr and a non-zero exit status (see [`EXIT_ERROR`] and
//! the others); `berth submit --wait` exits with the job's exit code.

pub mod http;
pub mod lists;
pub mod output;
pub mod runs;
pub mod submit;

use std::process::ExitCode;

use clap::Subcommand;

pub use http::Api;

/// Where the API is unless `--url` or `BERTH_URL` says otherwise.
pub const URL_DEFAULT: &str = "http://127.0.0.1:5000";

/// Exit status of a failed command: the API refused it, the server is unreachable, a file could
/// not be read or written.
pub const EXIT_ERROR: u8 = 1;
/// Exit status of a command line that does not parse (clap's own).
pub const EXIT_USAGE: u8 = 2;
/// Exit status of `submit --wait` when the run ended without an exit code of its own: cancelled,
/// aborted, timed out without one, or cleaned.
pub const EXIT_NO_EXIT_CODE: u8 = 3;

/// The flags every client command takes.
#[derive(Debug, Clone, clap::Args)]
pub struct ClientArgs {
    /// The berth API.
    #[arg(long, env = "BERTH_URL", default_value = URL_DEFAULT)]
    pub url: String,
    /// A bearer token, sent as `Authorization: Bearer <token>`.
    #[arg(long, env = "BERTH_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print the API's JSON instead of tables (for scripts).
    #[arg(long)]
    pub json: bool,
}

/// Errors of the client: each is printed as one line.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No answer from the server.
    #[error("cannot reach {url}: {reason}")]
    Unreachable {
        /// The URL asked.
        url: String,
        /// Why, in words.
        reason: String,
    },
    /// The API answered with an error.
    #[error("{message} (HTTP {status}, {code})")]
    Api {
        /// The HTTP status.
        status: u16,
        /// The API's error code (`not_found`, `unauthorized`, ...).
        code: String,
        /// The API's message.
        message: String,
    },
    /// The answer is not what the API documents.
    #[error("unexpected answer from {url}: {reason}")]
    Unexpected {
        /// The URL asked.
        url: String,
        /// What was wrong.
        reason: String,
    },
    /// A local file could not be read or written.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The arguments are valid for the parser but not together.
    #[error("{0}")]
    Usage(String),
}

/// Result alias of the client.
pub type Result<T> = std::result::Result<T, Error>;

/// The client's subcommands (flattened into `berth`'s own).
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Uploads files as a job run (one must be run.sh); with --wait, follows it and exits with its exit code.
    Submit(submit::SubmitArgs),
    /// A run: state, times, attempts and timeline.
    Status(runs::IdArgs),
    /// A run's stdout and stderr; --follow polls until the run ends.
    Logs(runs::LogsArgs),
    /// Saves a run's result zip.
    Download(runs::DownloadArgs),
    /// Cancels a run (kills it if it runs).
    Cancel(runs::IdArgs),
    /// Lists runs, newest first, with the filters of GET /api/v1/runs.
    Runs(lists::RunsArgs),
    /// Lists stored jobs (search with -q).
    Jobs(lists::JobsArgs),
    /// Queued runs in admission order, with what blocks them.
    Queue(lists::QueueArgs),
    /// Why a run waits (or what it is doing), with each blocking dimension.
    Why(runs::IdArgs),
}

impl ClientCommand {
    /// Runs the command; prints its error as one line and returns the exit status.
    pub async fn run(self) -> ExitCode {
        let outcome = match self {
            ClientCommand::Submit(a) => submit::submit(a).await,
            ClientCommand::Status(a) => runs::status(a).await.map(|()| 0),
            ClientCommand::Logs(a) => runs::logs(a).await.map(|()| 0),
            ClientCommand::Download(a) => runs::download(a).await.map(|()| 0),
            ClientCommand::Cancel(a) => runs::cancel(a).await.map(|()| 0),
            ClientCommand::Runs(a) => lists::runs(a).await.map(|()| 0),
            ClientCommand::Jobs(a) => lists::jobs(a).await.map(|()| 0),
            ClientCommand::Queue(a) => lists::queue(a).await.map(|()| 0),
            ClientCommand::Why(a) => runs::why(a).await.map(|()| 0),
        };
        match outcome {
            Ok(code) => ExitCode::from(code),
            Err(e) => {
                eprintln!("berth: {}", one_line(&e.to_string()));
                ExitCode::from(match e {
                    Error::Usage(_) => EXIT_USAGE,
                    _ => EXIT_ERROR,
                })
            }
        }
    }
}

/// `text` on one line: line breaks become spaces.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_print_on_one_line() {
        let e = Error::Api { status: 404, code: "not_found".into(), message: "run 7\nnot found".into() };
        assert_eq!(one_line(&e.to_string()), "run 7 not found (HTTP 404, not_found)");
    }
}
