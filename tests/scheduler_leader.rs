//! Leadership on real Postgres: one leader at a time, and a deposed leader's writes are refused.

mod common;

use berth::store::Error;

#[tokio::test]
async fn only_one_scheduler_leads_and_a_deposed_leader_cannot_write() {
    let store = common::fresh_store().await;
    let first = store.leader_try_elect("a").await.unwrap().expect("the first candidate wins");
    assert!(store.leader_try_elect("b").await.unwrap().is_none(), "the lock is held");
    let old_epoch = first.epoch();
    store.leader_tx(old_epoch).await.expect("the leader may write").commit().await.unwrap();

    // The leader's connection dies (as a half-open connection eventually does): the lock goes with it.
    let holder: i32 = sqlx::query_scalar(
        "select pid from pg_locks where locktype = 'advisory' and objid = ($1::bigint & 4294967295)::oid and granted",
    )
    .bind(berth::store::leader::LEADER_LOCK_KEY)
    .fetch_one(store.pool())
    .await
    .unwrap();
    sqlx::query("select pg_terminate_backend($1)").bind(holder).execute(store.pool()).await.unwrap();

    let second = common::wait_for("a new leader", std::time::Duration::from_secs(10), || async {
        store.leader_try_elect("b").await.ok().flatten()
    })
    .await;
    assert!(second.epoch() > old_epoch, "a takeover bumps the epoch");
    match store.leader_tx(old_epoch).await {
        Err(Error::Deposed { mine }) => assert_eq!(mine, old_epoch),
        Err(e) => panic!("expected Deposed, got {e}"),
        Ok(_) => panic!("a deposed leader opened a write transaction"),
    }
    store.leader_tx(second.epoch()).await.expect("the new leader writes").commit().await.unwrap();
    drop(first);
    second.release().await;
    assert!(store.leader_try_elect("c").await.unwrap().is_some(), "release frees the lock at once");
}
