//! `berth dev`: the API, the scheduler and one worker in one process, on a private Postgres it
//! starts itself when `DATABASE_URL` is unset. It adds no code path of its own: it runs the same
//! services as `berth api`, `berth scheduler` and `berth worker`, through [`crate::service::run`].

pub mod postgres;

use tokio::net::TcpListener;

use crate::store::Store;

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
