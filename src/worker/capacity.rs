//! The worker's capacity: configured, or the machine's cores and memory.

use crate::config::WorkerConfig;
use crate::resources::Resources;

/// Capacity from configuration, with cpu and memory defaulting to the machine's when 0.
pub fn from_config(config: &WorkerConfig) -> Resources {
    Resources {
        cpu: if config.cpu > 0 { config.cpu } else { machine_millicores() },
        memory: if config.memory > 0 { config.memory } else { machine_memory_mib() },
        pods: config.pods,
        storage: config.storage,
    }
}

/// Cores of this machine, in millicores.
pub fn machine_millicores() -> i64 {
    std::thread::available_parallelism().map(|n| n.get() as i64 * 1000).unwrap_or(1000)
}

/// Memory of this machine in MiB (`MemTotal` of /proc/meminfo), 1024 when unknown.
pub fn machine_memory_mib() -> i64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<i64>().ok())
        })
        .map(|kb| kb / 1024)
        .unwrap_or(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_means_the_machine() {
        let c = WorkerConfig { cpu: 0, memory: 0, pods: 3, storage: 7, ..WorkerConfig::default() };
        let r = from_config(&c);
        assert!(r.cpu >= 1000 && r.memory > 0);
        assert_eq!((r.pods, r.storage), (3, 7));
        let c = WorkerConfig { cpu: 1500, memory: 2048, ..c };
        assert_eq!((from_config(&c).cpu, from_config(&c).memory), (1500, 2048));
    }
}
