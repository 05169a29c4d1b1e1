//! Logging setup: `RUST_LOG` filters, `info` by default. Logs go to stderr, always: stdout carries
//! only a command's data and results (`berth bench --json`, `berth migrate`), so it can be piped.

use tracing_subscriber::EnvFilter;

/// Installs the global tracing subscriber, writing to stderr (idempotent: a second call is a no-op).
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let _ =
        tracing_subscriber::fmt().with_env_filter(filter).with_target(false).with_writer(std::io::stderr).try_init();
}

/// A panic's message, when it has one (for the log line that reports it).
pub fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string())
}
