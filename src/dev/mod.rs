//! `berth dev`: the API, the scheduler and one worker in one process, on a private Postgres it
//! starts itself when `DATABASE_URL` is unset. It adds no code path of its own: it runs the same
//! services as `berth api`, `berth scheduler` and `berth worker`, through [`crate::service::run`].

pub mod postgres;

use tokio::net::TcpListener;

use crate::config::WorkerConfig;
use crate::store::Store;

/// The first uids `berth dev` tries for its jobs when it runs as root and none are configured.
pub const DEV_UIDS_CANDIDATES: [u32; 4] = [61000, 62000, 63000, 64000];

/// Binds the API's listener on all interfaces.
pub async fn bind(port: u16) -> std::io::Result<TcpListener> {
    TcpListener::bind(("0.0.0.0", port)).await
}

/// Connects to `url` and applies the migrations (what `berth dev` does before starting services).
pub async fn connect_and_migrate(url: &str) -> crate::store::Result<Store> {
    let store = Store::connect(url, crate::store::POOL_SIZE_DEFAULT).await?;
    store.migrate_run().await?;
    Ok(store)
}

/// The file in the data folder that keeps `berth dev`'s admin token (mode 0600).
pub const ADMIN_TOKEN_FILE: &str = "admin-token";

/// `berth dev` with auth on: the admin token kept in `<data_dir>/admin-token` if it still works,
/// else a new one (subject `admin`), written there readable only by this user. Returns the secret
/// and whether it is new (then the caller prints it, once).
pub async fn admin_token(store: &Store, data_dir: &std::path::Path) -> std::io::Result<(String, bool)> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;

    use crate::auth::{TokenKind, token_generate, token_hash};
    use crate::store::tokens::TokenParams;

    let path = data_dir.join(ADMIN_TOKEN_FILE);
    if let Ok(kept) = std::fs::read_to_string(&path) {
        let kept = kept.trim().to_string();
        if store.token_authenticate(&token_hash(&kept)).await.map_err(std::io::Error::other)?.is_some() {
            return Ok((kept, false));
        }
    }
    let secret = token_generate();
    let params = TokenParams {
        subject: "admin".into(),
        kind: TokenKind::User,
        groups: Vec::new(),
        admin: true,
        may_act_for_others: false,
        expires_at: None,
        created_by: "berth dev".into(),
    };
    store.token_create(&token_hash(&secret), &params).await.map_err(std::io::Error::other)?;
    std::fs::create_dir_all(data_dir)?;
    let _ = std::fs::remove_file(&path);
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path)?;
    writeln!(file, "{secret}")?;
    Ok((secret, true))
}

/// As root, with the process executor and neither `worker.run-as-user` nor `worker.run-as-uids`
/// set, gives jobs one uid per slot from a range no account uses (so a job is never root and
/// never the embedded PostgreSQL's user), and logs it. Returns the range it set, if any.
pub fn pick_job_uids(worker: &mut WorkerConfig, is_root: bool) -> Option<String> {
    let configured = !worker.run_as_user.trim().is_empty() || !worker.run_as_uids.trim().is_empty();
    if !is_root || configured || worker.executor != crate::domain::ExecutorKind::Process {
        return None;
    }
    let count = u32::try_from(worker.pods.max(1)).unwrap_or(u32::MAX);
    let unused = |uid: u32| matches!(nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)), Ok(None));
    let first = DEV_UIDS_CANDIDATES
        .into_iter()
        .find(|first| (*first..first.saturating_add(count)).all(unused))
        .unwrap_or(DEV_UIDS_CANDIDATES[0]);
    let range = format!("{first}-{}", first.saturating_add(count - 1));
    tracing::info!(
        uids = %range,
        "berth dev runs as root: jobs run as unprivileged uids {range}, one per slot (set worker.run-as-user or worker.run-as-uids to choose)"
    );
    worker.run_as_uids = range.clone();
    Some(range)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_picks_a_uid_per_slot_only_as_root_and_only_when_none_is_set() {
        let mut worker = WorkerConfig { pods: 4, ..WorkerConfig::default() };
        assert_eq!(pick_job_uids(&mut worker, false), None, "not root: jobs run as the worker");
        let range = pick_job_uids(&mut worker, true).expect("a range");
        let (first, count) = crate::executor::sandbox::parse_uid_range(&range).unwrap();
        assert_eq!(count, 4);
        assert!(DEV_UIDS_CANDIDATES.contains(&first));
        assert_eq!(worker.run_as_uids, range);
        let mut chosen = WorkerConfig { run_as_user: "nobody".into(), ..WorkerConfig::default() };
        assert_eq!(pick_job_uids(&mut chosen, true), None, "the operator's choice stands");
    }
}
