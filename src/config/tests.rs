//! The configuration's tests: defaults, the file and environment layers, the seed's names and the
//! range checks.

use super::*;
use crate::domain::Sharing;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn defaults_match_the_design() {
    let c = Config::load(None, env(&[])).unwrap();
    assert_eq!(c.queue.high.scheduling_share_percentage, 90);
    assert_eq!(c.queue.head_timeout_seconds, 3600);
    assert_eq!(c.queue.head_retry_count, 0);
    assert_eq!(c.settings.batch_size, 20);
    assert!(c.job_run_cleanup.enabled);
    assert_eq!(c.job_run_cleanup.retention_period, 2_592_000);
    assert_eq!(c.job_run_cleanup.delete_after, 7_776_000);
    assert_eq!(c.api.port, 5000);
    assert_eq!(c.metrics.port, 8000);
    assert_eq!(c.metrics.listen(), "0.0.0.0:8000".parse().unwrap());
    assert_eq!(c.runs_per_user("example"), Some(5));
}

#[test]
fn berth_env_names_override_any_key() {
    let c = Config::load(
        None,
        env(&[
            ("BERTH_QUEUE_HEAD_TIMEOUT_SECONDS", "2"),
            ("BERTH_QUEUE_HIGH_SCHEDULING_SHARE_PERCENTAGE", "75"),
            ("BERTH_SETTINGS_BATCH_SIZE", "7"),
            ("BERTH_METRICS_ADDRESS", "127.0.0.1"),
        ]),
    )
    .unwrap();
    assert_eq!(c.metrics.listen(), "127.0.0.1:8000".parse().unwrap());
    assert_eq!(c.queue.head_timeout_seconds, 2);
    assert_eq!(c.queue.high.scheduling_share_percentage, 75);
    assert_eq!(c.settings.batch_size, 7);
}

#[test]
fn seed_env_names_keep_working() {
    let c = Config::load(
        None,
        env(&[
            ("PORT", "9999"),
            ("SERVICE_HADDOCK_RUNS_PER_USER", "3"),
            ("SERVICE_EXAMPLE_RUNS_PER_USER", "10"),
            ("MAX_AGE", "60"),
        ]),
    )
    .unwrap();
    assert_eq!(c.api.port, 9999);
    assert_eq!(c.runs_per_user("haddock"), Some(3));
    assert_eq!(c.runs_per_user("example"), Some(10));
    assert_eq!(c.job_run_cleanup.retention_period, 60);
    assert_eq!(c.services["haddock"].pods, 1, "a service defined by env gets the other defaults");
    let c = Config::load(
        None,
        env(&[
            ("SERVICE_HADDOCK_UPLOAD_URL", "http://a:9000/submit,http://b:9000/submit"),
            ("SERVICE_HADDOCK_DOWNLOAD_URL", "http://a:9000/retrieve,http://b:9000/retrieve"),
            ("SERVICE_HADDOCK_TERMINATE_URL", "http://a:9000/kill,http://b:9000/kill"),
            ("BERTH_WORKER_EXECUTOR", "http"),
        ]),
    )
    .unwrap();
    assert_eq!(c.services["haddock"].upload_url, "http://a:9000/submit,http://b:9000/submit");
    assert_eq!(c.services["haddock"].terminate_url, "http://a:9000/kill,http://b:9000/kill");
    assert!(
        Config::load(
            None,
            env(&[
                ("SERVICE_HADDOCK_UPLOAD_URL", "http://a:9000/submit,http://b:9000/submit"),
                ("SERVICE_HADDOCK_DOWNLOAD_URL", "http://a:9000/retrieve"),
                ("BERTH_WORKER_EXECUTOR", "http"),
            ]),
        )
        .is_err(),
        "a download list that does not match the upload list is a startup error"
    );
}

#[test]
fn auth_is_unset_unless_said() {
    assert_eq!(Config::load(None, env(&[])).unwrap().auth.enabled, None);
    assert_eq!(Config::load(None, env(&[("BERTH_AUTH_ENABLED", "false")])).unwrap().auth.enabled, Some(false));
    assert_eq!(Config::load(None, env(&[("BERTH_AUTH_ENABLED", "true")])).unwrap().auth.enabled, Some(true));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("berth.toml");
    std::fs::write(&path, "[auth]\nenabled = true\n").unwrap();
    assert!(Config::load(Some(&path), env(&[])).unwrap().auth.on());
}

#[test]
fn out_of_range_values_are_startup_errors() {
    assert!(Config::load(None, env(&[("BERTH_QUEUE_HIGH_SCHEDULING_SHARE_PERCENTAGE", "101")])).is_err());
    assert!(Config::load(None, env(&[("BERTH_SETTINGS_BATCH_SIZE", "0")])).is_err());
    assert!(Config::load(None, env(&[("PORT", "not-a-port")])).is_err());
}

#[test]
fn a_file_sits_between_defaults_and_env() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("berth.toml");
    std::fs::write(&path, "[settings]\nbatch-size = 50\n[services.gpu]\nruns-per-user = 2\n").unwrap();
    let c = Config::load(Some(&path), env(&[("BERTH_SETTINGS_BATCH_SIZE", "60")])).unwrap();
    assert_eq!(c.settings.batch_size, 60);
    assert_eq!(c.runs_per_user("gpu"), Some(2));
    assert_eq!(c.runs_per_user("example"), Some(5));
}

#[test]
fn namespaces_are_declared_under_their_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("berth.toml");
    let text = "[namespaces.default-quota]\npods = 10\n[namespaces.etl]\nsharing = \"fair\"\n\
                [namespaces.gpu.quota]\ncpu = 8000\n";
    std::fs::write(&path, text).unwrap();
    let c = Config::load(Some(&path), env(&[])).unwrap();
    let ten = QuotaConfig { pods: 10, ..QuotaConfig::default() };
    let gpu = QuotaConfig { cpu: 8000, ..QuotaConfig::default() };
    assert_eq!(
        c.namespaces.at_startup(),
        vec![
            ("default".to_string(), ten, Sharing::Fifo),
            ("etl".to_string(), ten, Sharing::Fair),
            ("gpu".to_string(), gpu, Sharing::Fifo)
        ]
    );
    assert_eq!(Config::load(None, env(&[])).unwrap().namespaces.at_startup().len(), 1, "default always");
    std::fs::write(&path, "[namespaces.etl]\nsharing = \"round-robin\"\n").unwrap();
    assert!(Config::load(Some(&path), env(&[])).is_err(), "an unknown sharing");
    std::fs::write(&path, "[namespaces.\"a b\"]\n").unwrap();
    assert!(Config::load(Some(&path), env(&[])).is_err(), "a name the API would refuse");
}
