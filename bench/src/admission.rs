//! Admission scenario: the real [`decide`] driven by a discrete-event simulation with a simulated
//! clock and executor, on the shape of Kueue's scheduler-performance baseline; no database.
//!
//! The [`Snapshot`] itself is the simulated database: admissions move runs out of its queue and
//! into its ledgers, completions give the resources back. Cycles run on a simulated tick (and at
//! once again while `more`); the clock jumps to the next tick at which a run has finished, so
//! nothing sleeps. Every invariant (quota, worker capacity, admitted once) is checked after every
//! cycle; a broken one is an error line and a non-zero exit, never a silent figure.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::report::Percentiles;
use super::{BenchOptions, Error, Result};
use berth::config::Config;
use berth::resources::Resources;
use berth::scheduler::SchedulerSettings;
use berth::scheduler::admission::{
    Decisions, HeadAction, NamespaceUse, Policy, Priority, QueuedRun, Snapshot, WorkerFree, decide,
};
use berth::store::{RunId, WorkerId};

/// Namespaces the runs are spread over (uniformly at random).
pub const NAMESPACES: usize = 30;
/// Cpu quota of each namespace, in millicores (memory is [`MIB_PER_CORE`] per core).
pub const QUOTA_CPU: i64 = 100_000;
/// Memory requested and offered per core, so both dimensions bind alike.
pub const MIB_PER_CORE: i64 = 2048;
/// Cpu of one simulated worker, in millicores.
pub const WORKER_CPU: i64 = 80_000;
/// Workers when quotas bind: 3,200 cores for 3,000 cores of quota.
pub const WORKERS_QUOTA_BOUND: usize = 40;
/// Workers when the pool binds: 1,600 cores.
pub const WORKERS_POOL_BOUND: usize = 20;
/// Simulated interval between two cycles, in milliseconds.
pub const TICK_MS: i64 = 100;
/// Queued runs of the cycle-cost measurement.
pub const COST_QUEUED: usize = 10_000;
/// Timed `decide` calls of the cycle-cost measurement (after 3 untimed ones).
pub const COST_CALLS: usize = 30;

const SERVICE: &str = "sim";
const MAX_ERROR_LINES: usize = 20;

/// One size class of the workload.
struct Class {
    name: &'static str,
    runs: usize,
    cores: i64,
    runtime_ms: i64,
    priority: Priority,
}

const CLASSES: [Class; 3] = [
    Class { name: "small", runs: 10_000, cores: 1, runtime_ms: 1_000, priority: Priority::Normal },
    Class { name: "medium", runs: 4_000, cores: 5, runtime_ms: 5_000, priority: Priority::Normal },
    Class { name: "large", runs: 1_000, cores: 20, runtime_ms: 20_000, priority: Priority::High },
];

/// One figure of the admission scenario (printed as a table row or one JSON line).
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    /// Always `admission`.
    pub scenario: &'static str,
    /// `quota-bound`, `pool-bound` or `cycle-cost`.
    pub case: &'static str,
    /// What was measured.
    pub what: String,
    /// The value.
    pub value: f64,
    /// Its unit.
    pub unit: &'static str,
}

/// Runs both simulations and the cycle-cost measurement, prints the figures, and fails if an
/// invariant broke.
pub fn run(opts: &BenchOptions, config: &Config) -> Result<()> {
    let mut policy = SchedulerSettings::from_config(config).policy;
    // Kueue's baseline has no per-user cap; keep ours out of the way so quotas are what binds.
    policy.runs_per_user.clear();
    policy.default_runs_per_user = u32::MAX;
    if let Some(b) = opts.batch_size {
        policy.batch_size = b;
    }
    let mut figures = Vec::new();
    let mut errors = Vec::new();
    for (case, workers) in [("quota-bound", WORKERS_QUOTA_BOUND), ("pool-bound", WORKERS_POOL_BOUND)] {
        if !opts.json {
            eprintln!("  admission scenario, {case}: {workers} workers");
        }
        let mut sim = Sim::new(opts.seed, policy.clone(), workers);
        let started = Instant::now();
        sim.run_to_end();
        figures.extend(sim.figures(case, started.elapsed().as_secs_f64()));
        errors.extend(sim.errors.into_iter().map(|e| format!("{case}: {e}")));
    }
    for full in [true, false] {
        figures.extend(cycle_cost(opts.seed, &policy, full));
    }
    print(&figures, opts.json);
    for e in errors.iter().take(MAX_ERROR_LINES) {
        eprintln!("error: {e}");
    }
    match errors.len() {
        0 => Ok(()),
        n => Err(Error::Invariant(format!("{n} invariant violations in the admission scenario"))),
    }
}

/// Median and p95 wall-clock µs of one `decide` over [`COST_QUEUED`] queued runs, with every
/// namespace full (every run is looked at and gets a block record) or empty (the walk stops at
/// the batch limit).
fn cycle_cost(seed: u64, policy: &Policy, full: bool) -> Vec<Figure> {
    let mut sim = Sim::new(seed, policy.clone(), WORKERS_QUOTA_BOUND);
    sim.snap.queued.truncate(COST_QUEUED);
    if full {
        for ns in sim.snap.namespaces.values_mut() {
            ns.used = ns.limit;
        }
    }
    let mut samples: Vec<f64> = (0..COST_CALLS + 3)
        .map(|_| {
            let started = Instant::now();
            let d = decide(&sim.snap, &sim.policy);
            std::hint::black_box(d);
            started.elapsed().as_secs_f64() * 1e6
        })
        .skip(3)
        .collect();
    let p = Percentiles::of(&mut samples);
    let label = if full { "quotas full" } else { "quotas empty" };
    let fig = |what: &str, value: Option<f64>| Figure {
        scenario: "admission",
        case: "cycle-cost",
        what: format!("decide, {COST_QUEUED} queued, {label}, {what}"),
        value: value.unwrap_or(f64::NAN),
        unit: "us",
    };
    vec![fig("p50", p.p50), fig("p95", p.p95)]
}

/// A deterministic xorshift generator, identical across `rand` versions.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// A simulated run: what it needs and what happened to it.
struct SimRun {
    class: usize,
    ns: usize,
    request: Resources,
    runtime_ms: i64,
    admitted_ms: Option<i64>,
    worker: usize,
    cancelled: bool,
}

fn request(cores: i64) -> Resources {
    Resources { cpu: cores * 1000, memory: cores * MIB_PER_CORE, pods: 1, storage: 0 }
}

/// The workload: every class spread over the namespaces, runtimes ±20 %, classes shuffled into
/// one arrival order (all arrive at t = 0; FIFO is then by id).
fn workload(seed: u64) -> Vec<SimRun> {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut runs = Vec::new();
    for (class, c) in CLASSES.iter().enumerate() {
        for _ in 0..c.runs {
            let per_mille = 800 + rng.below(401) as i64;
            let ns = rng.below(NAMESPACES as u64) as usize;
            let runtime_ms = c.runtime_ms * per_mille / 1000;
            let request = request(c.cores);
            runs.push(SimRun { class, ns, request, runtime_ms, admitted_ms: None, worker: 0, cancelled: false });
        }
    }
    for i in (1..runs.len()).rev() {
        runs.swap(i, rng.below(i as u64 + 1) as usize);
    }
    runs
}

/// The simulation: the snapshot as the database, the runs, the event queue and the tallies.
struct Sim {
    snap: Snapshot,
    policy: Policy,
    runs: Vec<SimRun>,
    names: Vec<String>,
    users: Vec<String>,
    completions: BinaryHeap<Reverse<(i64, usize)>>,
    clock_ms: i64,
    makespan_ms: i64,
    pool_cpu: i64,
    pool_used: i64,
    queued_per_ns: Vec<usize>,
    /// Per namespace: ms with runs queued after the cycles, and cpu-ms used meanwhile.
    backlog: Vec<(i64, f64)>,
    /// The same for the whole pool, while any namespace is backlogged.
    pool_backlog: (i64, f64),
    decide_us: Vec<f64>,
    /// (high admissions, admissions) of cycles where both priorities stayed admissible.
    windows: Vec<(usize, usize)>,
    pending: Option<(usize, usize)>,
    errors: Vec<String>,
}

impl Sim {
    fn new(seed: u64, policy: Policy, workers: usize) -> Self {
        let runs = workload(seed);
        let names: Vec<String> = (0..NAMESPACES).map(|i| format!("ns-{i:02}")).collect();
        let users: Vec<String> = (0..NAMESPACES).map(|i| format!("user-{i:02}")).collect();
        let t0 = DateTime::<Utc>::default();
        let queued = runs
            .iter()
            .enumerate()
            .map(|(i, r)| QueuedRun {
                id: RunId(i as i64 + 1),
                user: users[r.ns].clone(),
                service: SERVICE.into(),
                namespace: names[r.ns].clone(),
                priority: CLASSES[r.class].priority,
                request: r.request,
                enqueued_at: t0,
                head_since: None,
                head_retries: 0,
                not_before: None,
            })
            .collect();
        let limit = Resources { pods: 1000, ..request(QUOTA_CPU / 1000) };
        let namespaces =
            names.iter().map(|n| (n.clone(), NamespaceUse { limit, used: Resources::default() })).collect();
        let capacity = Resources { pods: 1000, ..request(WORKER_CPU / 1000) };
        let workers = (0..workers)
            .map(|i| WorkerFree { id: WorkerId(i as i64 + 1), services: vec![SERVICE.into()], free: capacity })
            .collect::<Vec<_>>();
        let mut queued_per_ns = vec![0; NAMESPACES];
        runs.iter().for_each(|r| queued_per_ns[r.ns] += 1);
        Sim {
            pool_cpu: WORKER_CPU * workers.len() as i64,
            snap: Snapshot {
                now: t0,
                queued,
                namespaces,
                running_per_user: HashMap::new(),
                workers,
                wrr: Default::default(),
                fair: HashMap::new(),
            },
            policy,
            runs,
            names,
            users,
            completions: BinaryHeap::new(),
            clock_ms: 0,
            makespan_ms: 0,
            pool_used: 0,
            queued_per_ns,
            backlog: vec![(0, 0.0); NAMESPACES],
            pool_backlog: (0, 0.0),
            decide_us: Vec::new(),
            windows: Vec::new(),
            pending: None,
            errors: Vec::new(),
        }
    }

    /// Cycles on every tick at which something finished, until nothing runs any more.
    fn run_to_end(&mut self) {
        loop {
            self.cycles_now();
            let Some(&Reverse((next, _))) = self.completions.peek() else { break };
            let tick = (next + TICK_MS - 1) / TICK_MS * TICK_MS;
            while let Some(&Reverse((at, i))) = self.completions.peek()
                && at <= tick
            {
                self.completions.pop();
                self.advance(at);
                self.finish(i);
            }
            self.advance(tick);
        }
        let left: usize = self.queued_per_ns.iter().sum();
        if left > 0 {
            self.errors.push(format!("{left} runs still queued with nothing running"));
        }
    }

    /// Moves the clock to `to`, integrating use over the time namespaces are backlogged.
    fn advance(&mut self, to: i64) {
        let dt = to - self.clock_ms;
        if dt <= 0 {
            return;
        }
        let mut any = false;
        for (ns, name) in self.names.iter().enumerate() {
            if self.queued_per_ns[ns] > 0 {
                any = true;
                let used = self.snap.namespaces.get(name).map_or(0, |u| u.used.cpu);
                self.backlog[ns].0 += dt;
                self.backlog[ns].1 += used as f64 * dt as f64;
            }
        }
        if any {
            self.pool_backlog.0 += dt;
            self.pool_backlog.1 += self.pool_used as f64 * dt as f64;
        }
        self.clock_ms = to;
        self.snap.now = DateTime::<Utc>::default() + Duration::milliseconds(to);
    }

    /// One cycle now, and again at once while the batch limit cut the walk short.
    fn cycles_now(&mut self) {
        loop {
            let started = Instant::now();
            let d = decide(&self.snap, &self.policy);
            self.decide_us.push(started.elapsed().as_secs_f64() * 1e6);
            self.share_window(&d);
            let again = d.more && !d.admitted.is_empty();
            self.apply(d);
            if !again {
                return;
            }
        }
    }

    /// WRR windows: a full cycle counts when both priorities had an admissible run at its start
    /// and still have one at the start of the next cycle (same instant), so both were admissible
    /// throughout.
    fn share_window(&mut self, d: &Decisions) {
        if !d.more && self.pending.is_none() {
            return;
        }
        let both = self.admissible(Priority::High) && self.admissible(Priority::Normal);
        if let Some(w) = self.pending.take()
            && both
        {
            self.windows.push(w);
        }
        if d.more && both {
            let high = d.admitted.iter().filter(|a| self.priority(a.run) == Some(Priority::High)).count();
            self.pending = Some((high, d.admitted.len()));
        }
    }

    /// Whether `first` has a run admissible now: `decide` with that queue given every turn,
    /// stopped after one admission.
    fn admissible(&self, first: Priority) -> bool {
        let share = if first == Priority::High { 100 } else { 0 };
        let probe = Policy { high_share_percent: share, batch_size: 1, ..self.policy.clone() };
        decide(&self.snap, &probe).admitted.first().is_some_and(|a| self.priority(a.run) == Some(first))
    }

    fn index(&self, run: RunId) -> Option<usize> {
        usize::try_from(run.0 - 1).ok().filter(|&i| i < self.runs.len())
    }

    fn priority(&self, run: RunId) -> Option<Priority> {
        self.index(run).map(|i| CLASSES[self.runs[i].class].priority)
    }

    /// Applies a cycle's decisions to the snapshot, then checks the invariants.
    fn apply(&mut self, d: Decisions) {
        for a in &d.admitted {
            self.admit(a.run, a.worker);
        }
        let mut retries = HashMap::new();
        for t in &d.timeouts {
            match (&t.action, self.index(t.run)) {
                (HeadAction::Retry { not_before, retries: n }, _) => drop(retries.insert(t.run, (*not_before, *n))),
                (HeadAction::Cancel { .. }, Some(i)) if !self.runs[i].cancelled => {
                    self.runs[i].cancelled = true;
                    self.queued_per_ns[self.runs[i].ns] -= 1;
                }
                (HeadAction::Cancel { .. }, _) => self.errors.push(format!("cancelled unknown run {}", t.run)),
            }
        }
        let heads: HashMap<RunId, Option<DateTime<Utc>>> = d.head_updates.into_iter().collect();
        let runs = &self.runs;
        self.snap.queued.retain_mut(|q| {
            let Some(r) = usize::try_from(q.id.0 - 1).ok().and_then(|i| runs.get(i)) else { return false };
            if let Some(&since) = heads.get(&q.id) {
                q.head_since = since;
            }
            if let Some(&(not_before, n)) = retries.get(&q.id) {
                (q.not_before, q.head_retries) = (Some(not_before), n);
            }
            r.admitted_ms.is_none() && !r.cancelled
        });
        self.snap.wrr = d.wrr;
        self.check();
    }

    fn admit(&mut self, run: RunId, worker: WorkerId) {
        let Some(i) = self.index(run).filter(|&i| self.runs[i].admitted_ms.is_none() && !self.runs[i].cancelled) else {
            return self.errors.push(format!("run {run} admitted but not queued"));
        };
        let Some(w) = usize::try_from(worker.0 - 1).ok().filter(|&w| w < self.snap.workers.len()) else {
            return self.errors.push(format!("run {run} admitted on unknown worker {worker}"));
        };
        let (ns, request) = (self.runs[i].ns, self.runs[i].request);
        self.runs[i].admitted_ms = Some(self.clock_ms);
        self.runs[i].worker = w;
        self.queued_per_ns[ns] -= 1;
        self.book(i, true);
        self.pool_used += request.cpu;
        self.completions.push(Reverse((self.clock_ms + self.runs[i].runtime_ms, i)));
    }

    fn finish(&mut self, i: usize) {
        self.book(i, false);
        self.pool_used -= self.runs[i].request.cpu;
        self.makespan_ms = self.makespan_ms.max(self.clock_ms);
    }

    /// Books run `i`'s request on its namespace, its worker and its user's running count
    /// (`admit`), or gives it back (completion).
    fn book(&mut self, i: usize, admit: bool) {
        let r = &self.runs[i];
        let (take, give) = if admit { (r.request, Resources::default()) } else { (Resources::default(), r.request) };
        if let Some(w) = self.snap.workers.get_mut(r.worker) {
            w.free = w.free.saturating_sub(&take).saturating_add(&give);
        }
        if let Some(u) = self.snap.namespaces.get_mut(&self.names[r.ns]) {
            u.used = u.used.saturating_add(&take).saturating_sub(&give);
        }
        let count = self.snap.running_per_user.entry((self.users[r.ns].clone(), SERVICE.into())).or_default();
        *count = if admit { count.saturating_add(1) } else { count.saturating_sub(1) };
    }

    fn check(&mut self) {
        for w in &self.snap.workers {
            if !Resources::default().fits_in(&w.free) {
                self.errors.push(format!("worker {} overcommitted at {} ms: free {:?}", w.id, self.clock_ms, w.free));
            }
        }
        for (name, u) in &self.snap.namespaces {
            if !u.used.fits_in(&u.limit) {
                self.errors.push(format!("namespace {name} over quota at {} ms: used {:?}", self.clock_ms, u.used));
            }
        }
    }

    /// The figures of one simulation.
    fn figures(&self, case: &'static str, wall_s: f64) -> Vec<Figure> {
        let mut out = Vec::new();
        let mut fig = |what: String, value: f64, unit: &'static str| {
            out.push(Figure { scenario: "admission", case, what, value, unit });
        };
        fig("wall time (real)".into(), wall_s, "s");
        fig("makespan (simulated)".into(), self.makespan_ms as f64 / 1000.0, "s");
        fig("cycles".into(), self.decide_us.len() as f64, "");
        let mut cycle = self.decide_us.clone();
        let p = Percentiles::of(&mut cycle);
        fig("decide per cycle p50".into(), p.p50.unwrap_or(f64::NAN), "us");
        fig("decide per cycle p95".into(), p.p95.unwrap_or(f64::NAN), "us");
        let mut util: Vec<f64> = self
            .backlog
            .iter()
            .filter(|(ms, _)| *ms > 0)
            .map(|(ms, area)| 100.0 * area / (QUOTA_CPU as f64 * *ms as f64))
            .collect();
        util.sort_by(f64::total_cmp);
        let mean = util.iter().sum::<f64>() / util.len().max(1) as f64;
        fig("quota use while backlogged, min ns".into(), util.first().copied().unwrap_or(f64::NAN), "%");
        fig("quota use while backlogged, median ns".into(), util.get(util.len() / 2).copied().unwrap_or(f64::NAN), "%");
        fig("quota use while backlogged, mean ns".into(), mean, "%");
        let (ms, area) = self.pool_backlog;
        fig("pool use while backlogged".into(), 100.0 * area / (self.pool_cpu as f64 * ms.max(1) as f64), "%");
        for (c, class) in CLASSES.iter().enumerate() {
            let mut waits: Vec<f64> = self
                .runs
                .iter()
                .filter(|r| r.class == c)
                .filter_map(|r| r.admitted_ms)
                .map(|ms| ms as f64 / 1000.0)
                .collect();
            let mean = waits.iter().sum::<f64>() / waits.len().max(1) as f64;
            let p = Percentiles::of(&mut waits);
            let name = format!("{} ({}), time to admission", class.name, class.priority);
            fig(format!("{name} mean"), mean, "s");
            fig(format!("{name} p95"), p.p95.unwrap_or(f64::NAN), "s");
        }
        let cancelled = self.runs.iter().filter(|r| r.cancelled).count();
        fig("cancelled by head timeout".into(), cancelled as f64, "");
        let (high, all) = self.windows.iter().fold((0, 0), |(h, a), &(wh, wa)| (h + wh, a + wa));
        let share = 100.0 * high as f64 / all.max(1) as f64;
        let target = f64::from(self.policy.high_share_percent.min(100));
        let worst = self.windows.iter().map(|&(h, a)| (100.0 * h as f64 / a.max(1) as f64 - target).abs());
        fig("WRR windows (full cycles, both admissible)".into(), self.windows.len() as f64, "");
        fig("WRR high share over windows".into(), share, "%");
        fig("WRR share error over windows".into(), (share - target).abs(), "pt");
        fig("WRR worst single-window error".into(), worst.fold(0.0, f64::max), "pt");
        fig("invariant violations".into(), self.errors.len() as f64, "");
        out
    }
}

/// Prints the figures as an aligned table or as JSON lines.
fn print(figures: &[Figure], json: bool) {
    if json {
        for f in figures {
            println!("{}", serde_json::to_string(f).unwrap_or_default());
        }
        return;
    }
    println!("{:<12} {:<50} {:>12} unit", "case", "what", "value");
    for f in figures {
        println!("{:<12} {:<50} {:>12.1} {}", f.case, f.what, f.value, f.unit);
    }
}
