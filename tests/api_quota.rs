//! The seed's per-user, per-service cap: 10 runs of one user with a cap of 5.

mod common;

use chrono::{DateTime, Utc};
use common::{TestApp, test_config};

#[tokio::test]
async fn ten_runs_of_one_user_with_cap_five_never_run_more_than_five_at_once_and_all_finish() {
    let mut config = test_config();
    config.services.get_mut("example").unwrap().runs_per_user = 5;
    config.worker.pods = 10;
    let app = TestApp::spawn_all(config).await;
    let mut ids = Vec::new();
    for _ in 0..10 {
        ids.push(app.submit_script("sleep 0.5\necho ok > out.txt\n", "7").await);
    }
    for id in &ids {
        assert_eq!(app.wait_terminal(*id).await, "succeeded");
    }
    // From the attempts' recorded times, not from sleeps: the most that overlapped at any instant.
    let spans: Vec<(DateTime<Utc>, DateTime<Utc>)> =
        sqlx::query_as("select started_at, finished_at from attempts order by started_at")
            .fetch_all(app.store.pool())
            .await
            .unwrap();
    assert_eq!(spans.len(), 10);
    let mut most = 0;
    for (start, _) in &spans {
        let overlapping = spans.iter().filter(|(s, f)| s <= start && start < f).count();
        most = most.max(overlapping);
    }
    assert!(most <= 5, "at most 5 ran at once, saw {most}");
    assert!(most >= 2, "runs did run concurrently (saw {most}), so the cap is what limited them");
    app.stop().await;
}
