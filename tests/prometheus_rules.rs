//! The Prometheus files pass promtool: `prometheus/prometheus.yml` (`check config`, which also
//! checks the rule files it loads), the alert rules (`check rules`) and their unit tests
//! (`test rules prometheus/alerts_test.yml`). Every alert is tested and documented.
//!
//! Needs promtool (Debian's `prometheus` package; `.ci/run` installs it).

use std::path::PathBuf;
use std::process::Command;

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Runs `promtool ARGS`; panics with its output unless it succeeds.
fn promtool(args: &[&str]) {
    let out = match Command::new("promtool").args(args).current_dir(repo("prometheus")).output() {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "promtool is not installed: `apt-get install prometheus` (Debian's package ships it; .ci/run installs it)"
        ),
        Err(e) => panic!("cannot run promtool: {e}"),
    };
    assert!(
        out.status.success(),
        "promtool {args:?} failed: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The alert names of `prometheus/alerts.yml`.
fn alert_names() -> Vec<String> {
    let rules = std::fs::read_to_string(repo("prometheus/alerts.yml")).expect("read alerts.yml");
    rules.lines().filter_map(|l| l.trim().strip_prefix("- alert: ")).map(|n| n.trim().to_string()).collect()
}

#[test]
fn promtool_accepts_the_config() {
    promtool(&["check", "config", "prometheus.yml"]);
}

#[test]
fn promtool_accepts_the_alert_rules() {
    promtool(&["check", "rules", "alerts.yml"]);
}

#[test]
fn the_alert_rules_pass_their_unit_tests() {
    promtool(&["test", "rules", "alerts_test.yml"]);
}

#[test]
fn every_alert_is_tested_and_documented() {
    let names = alert_names();
    assert!(names.len() >= 5, "{names:?}");
    let tests = std::fs::read_to_string(repo("prometheus/alerts_test.yml")).expect("read alerts_test.yml");
    let guide = std::fs::read_to_string(repo("docs/operations.md")).expect("read docs/operations.md");
    for name in &names {
        // A firing case: the name followed by expected alerts that are not `[]`.
        let fires = tests.split("alertname: ").skip(1).any(|case| {
            case.starts_with(name.as_str()) && case.lines().nth(1).is_some_and(|l| l.trim() == "exp_alerts:")
        });
        assert!(fires, "prometheus/alerts_test.yml has no case where {name} fires");
        assert!(guide.contains(&format!("### {name}")), "docs/operations.md has no section for {name}");
    }
}
