//! Figures of `berth bench`: one [`Measurement`] per line, medians of repetitions, the machine and
//! Postgres settings, printed as a table or as JSON lines.

use std::collections::BTreeMap;

use serde::Serialize;

/// One figure: what was measured, how fast, how long it took, what got lost.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Measurement {
    /// `throughput`, `latency`, `depth`, `history` or `e2e`.
    pub scenario: &'static str,
    /// `legacy` (admitted on insert) or `priority` (admission on).
    pub flow: &'static str,
    /// Which part: `enqueue_single`, `enqueue_batch`, `burn_down`, `enqueue_to_start`, `claim`, ...
    pub what: &'static str,
    /// Runs already in the table (queued for `depth`, finished for `history`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub depth: Option<u64>,
    /// Runs measured.
    pub runs: u64,
    /// Rate, where it applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runs_per_second: Option<f64>,
    /// Median delay in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p50_ms: Option<f64>,
    /// 95th percentile in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p95_ms: Option<f64>,
    /// 99th percentile in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p99_ms: Option<f64>,
    /// Largest delay in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_ms: Option<f64>,
    /// Busy CPU time of the whole machine per run, in microseconds (see [`crate::cpu`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_us_per_run: Option<f64>,
    /// Runs submitted but not completed successfully.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lost: Option<u64>,
    /// Repetitions this figure is the median of.
    pub repeat: usize,
}

impl Measurement {
    /// A figure named by scenario, flow and part.
    pub fn new(scenario: &'static str, flow: &'static str, what: &'static str, runs: u64) -> Self {
        Self { scenario, flow, what, runs, repeat: 1, ..Self::default() }
    }

    /// Adds the percentiles of `samples` (milliseconds).
    pub fn with_latencies(mut self, samples: &mut [f64]) -> Self {
        let p = Percentiles::of(samples);
        (self.p50_ms, self.p95_ms, self.p99_ms, self.max_ms) = (p.p50, p.p95, p.p99, p.max);
        self
    }

    fn key(&self) -> (&'static str, &'static str, &'static str, Option<u64>) {
        (self.scenario, self.flow, self.what, self.depth)
    }
}

/// Nearest-rank percentiles of a sample.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Percentiles {
    /// Median.
    pub p50: Option<f64>,
    /// 95th.
    pub p95: Option<f64>,
    /// 99th.
    pub p99: Option<f64>,
    /// Largest.
    pub max: Option<f64>,
}

impl Percentiles {
    /// Sorts `samples` and reads the percentiles; all `None` when empty.
    pub fn of(samples: &mut [f64]) -> Self {
        samples.sort_by(f64::total_cmp);
        Self { p50: rank(samples, 0.50), p95: rank(samples, 0.95), p99: rank(samples, 0.99), max: rank(samples, 1.0) }
    }
}

fn rank(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted.get(i).copied()
}

fn median(values: Vec<Option<f64>>) -> Option<f64> {
    let mut v: Vec<f64> = values.into_iter().flatten().collect();
    v.sort_by(f64::total_cmp);
    if v.is_empty() { None } else { v.get(v.len() / 2).copied() }
}

/// The median of each figure over repetitions (`reps[i]` holds repetition i's figures).
pub fn medians(reps: &[Vec<Measurement>]) -> Vec<Measurement> {
    let mut groups: BTreeMap<usize, (Measurement, Vec<&Measurement>)> = BTreeMap::new();
    let mut order: Vec<(&'static str, &'static str, &'static str, Option<u64>)> = Vec::new();
    for m in reps.iter().flatten() {
        let at = order.iter().position(|k| *k == m.key()).unwrap_or_else(|| {
            order.push(m.key());
            order.len() - 1
        });
        groups.entry(at).or_insert_with(|| (m.clone(), Vec::new())).1.push(m);
    }
    groups
        .into_values()
        .map(|(first, all)| {
            let pick = |f: fn(&Measurement) -> Option<f64>| median(all.iter().map(|m| f(m)).collect());
            Measurement {
                runs_per_second: pick(|m| m.runs_per_second),
                p50_ms: pick(|m| m.p50_ms),
                p95_ms: pick(|m| m.p95_ms),
                p99_ms: pick(|m| m.p99_ms),
                max_ms: pick(|m| m.max_ms),
                cpu_us_per_run: pick(|m| m.cpu_us_per_run),
                lost: all.iter().filter_map(|m| m.lost).max(),
                repeat: all.len(),
                ..first
            }
        })
        .collect()
}

/// Where the figures were measured.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// Always `machine` (so JSON lines can be told apart).
    pub scenario: &'static str,
    /// Logical cores.
    pub cores: usize,
    /// Memory in MiB.
    pub memory_mib: i64,
    /// CPU model name.
    pub cpu: String,
    /// Postgres version and settings.
    pub postgres: BTreeMap<String, String>,
    /// Whether the bench started its own Postgres.
    pub private_postgres: bool,
}

impl Machine {
    /// Reads this machine's cores, memory and CPU model, with the given server settings.
    pub fn detect(settings: Vec<(String, String)>, private_postgres: bool) -> Self {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| s.lines().find(|l| l.starts_with("model name")).map(|l| l.to_string()))
            .and_then(|l| l.split_once(':').map(|(_, v)| v.trim().to_string()))
            .unwrap_or_else(|| "unknown".into());
        Self {
            scenario: "machine",
            cores: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            memory_mib: berth::worker::capacity::machine_memory_mib(),
            cpu,
            postgres: settings.into_iter().collect(),
            private_postgres,
        }
    }

    /// Prints the machine as text or one JSON line.
    pub fn print(&self, json: bool) {
        if json {
            println!("{}", serde_json::to_string(self).unwrap_or_default());
            return;
        }
        println!("machine: {} cores ({}), {} MiB memory", self.cores, self.cpu, self.memory_mib);
        let origin = if self.private_postgres { "private, started by berth bench" } else { "DATABASE_URL" };
        let settings: Vec<String> = self.postgres.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!("postgres ({origin}): {}", settings.join(" "));
    }
}

/// Prints the figures as an aligned table or as JSON lines.
pub fn print(figures: &[Measurement], json: bool) {
    if json {
        for m in figures {
            println!("{}", serde_json::to_string(m).unwrap_or_default());
        }
        return;
    }
    let num = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.1}"));
    println!(
        "{:<10} {:<10} {:<16} {:>8} {:>7} {:>10} {:>8} {:>8} {:>8} {:>8} {:>10} {:>5}",
        "scenario",
        "flow",
        "what",
        "depth",
        "runs",
        "runs/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "max ms",
        "cpu µs/run",
        "lost"
    );
    for m in figures {
        println!(
            "{:<10} {:<10} {:<16} {:>8} {:>7} {:>10} {:>8} {:>8} {:>8} {:>8} {:>10} {:>5}",
            m.scenario,
            m.flow,
            m.what,
            m.depth.map_or_else(|| "-".to_string(), |d| d.to_string()),
            m.runs,
            m.runs_per_second.map_or_else(|| "-".to_string(), |v| format!("{v:.0}")),
            num(m.p50_ms),
            num(m.p95_ms),
            num(m.p99_ms),
            num(m.max_ms),
            m.cpu_us_per_run.map_or_else(|| "-".to_string(), |v| format!("{v:.0}")),
            m.lost.map_or_else(|| "-".to_string(), |v| v.to_string()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        let p = Percentiles::of(&mut v);
        assert_eq!((p.p50, p.p95, p.p99, p.max), (Some(50.0), Some(95.0), Some(99.0), Some(100.0)));
        assert_eq!(Percentiles::of(&mut []), Percentiles::default());
    }

    #[test]
    fn medians_per_figure() {
        let fig = |rate: f64| Measurement { runs_per_second: Some(rate), ..Measurement::new("t", "legacy", "x", 5) };
        let out = medians(&[vec![fig(1.0)], vec![fig(9.0)], vec![fig(3.0)]]);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].runs_per_second, out[0].repeat), (Some(3.0), 3));
    }
}
