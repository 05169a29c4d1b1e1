//! The machine's busy CPU time, from `/proc/stat`: what a measurement cost in CPU. On a shared VM
//! a wall-clock rate moves with what the neighbours do (±15 % here from run to run); CPU time spent
//! per run moves much less, so it is the figure to compare two builds by.

/// Clock ticks per second of `/proc/stat` (`USER_HZ`, 100 on every Linux architecture berth
/// targets).
const USER_HZ: f64 = 100.0;

/// Busy CPU time of the whole machine so far, in ticks: user, nice, system, irq and softirq, not
/// idle, iowait or steal (time a hypervisor gave to someone else). `None` without `/proc/stat`.
pub fn busy_ticks() -> Option<u64> {
    parse(&std::fs::read_to_string("/proc/stat").ok()?)
}

fn parse(stat: &str) -> Option<u64> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line.split_whitespace().skip(1).map(|x| x.parse().ok()).collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal ...
    Some(v.first()? + v.get(1)? + v.get(2)? + v.get(5)? + v.get(6)?)
}

/// Microseconds of busy CPU (all cores, all processes) per run between two readings.
pub fn per_run_us(before: Option<u64>, after: Option<u64>, runs: u64) -> Option<f64> {
    let ticks = after?.checked_sub(before?)?;
    (runs > 0).then(|| ticks as f64 / USER_HZ * 1e6 / runs as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_time_leaves_out_idle_iowait_and_steal() {
        let stat = "cpu  100 2 30 5000 40 6 7 800 0 0\ncpu0 50 1 15 2500 20 3 3 400 0 0\nintr 1\n";
        assert_eq!(parse(stat), Some(100 + 2 + 30 + 6 + 7));
        assert_eq!(parse("intr 1\n"), None);
    }

    #[test]
    fn per_run_in_microseconds() {
        // 150 ticks = 1.5 s of CPU over 1,000 runs.
        assert_eq!(per_run_us(Some(1000), Some(1150), 1000), Some(1500.0));
        assert_eq!(per_run_us(Some(1000), Some(1150), 0), None);
        assert_eq!(per_run_us(None, Some(1150), 10), None);
        assert_eq!(per_run_us(Some(1200), Some(1150), 10), None, "a counter that went back is no figure");
    }
}
