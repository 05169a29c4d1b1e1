//! The environment layer: `BERTH_<KEY>` for every key, and the seed system's names.

use super::Config;

/// The configuration keys set by `env`, with their string values.
pub(super) fn env_overrides(env: &[(String, String)]) -> Vec<(String, String)> {
    let mut keys = Vec::new();
    if let Ok(value) = serde_json::to_value(Config::default()) {
        leaf_keys(&value, String::new(), &mut keys);
    }
    let mut out = Vec::new();
    for (name, value) in env {
        if let Some(key) = seed_key(name) {
            out.push((key, value.clone()));
        }
    }
    for key in keys {
        let name = env_name(&key);
        if let Some((_, value)) = env.iter().find(|(n, _)| *n == name) {
            out.push((key, value.clone()));
        }
    }
    out
}

/// The environment variable name of a configuration key.
pub fn env_name(key: &str) -> String {
    format!("BERTH_{}", key.to_uppercase().replace(['.', '-'], "_"))
}

/// Maps the seed system's environment names onto configuration keys.
fn seed_key(name: &str) -> Option<String> {
    match name {
        "PORT" => Some("api.port".into()),
        "MAX_AGE" => Some("job-run-cleanup.retention-period".into()),
        "DATABASE_URL" => Some("database-url".into()),
        _ => {
            let rest = name.strip_prefix("SERVICE_")?;
            let (service, key) = [
                ("_RUNS_PER_USER", "runs-per-user"),
                ("_UPLOAD_URL", "upload-url"),
                ("_DOWNLOAD_URL", "download-url"),
                ("_TERMINATE_URL", "terminate-url"),
            ]
            .iter()
            .find_map(|(suffix, key)| rest.strip_suffix(suffix).map(|s| (s, *key)))?;
            if service.is_empty() {
                return None;
            }
            Some(format!("services.{}.{key}", service.to_lowercase()))
        }
    }
}

fn leaf_keys(value: &serde_json::Value, prefix: String, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                // Map-valued sections are keyed by user data (service names); their keys are not fixed.
                if prefix.is_empty() && k == "services" {
                    continue;
                }
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                leaf_keys(v, key, out);
            }
        }
        _ => out.push(prefix),
    }
}
