//! Resources in berth's four dimensions: cpu (millicores), memory (MiB), pods, storage (MiB).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Amounts of the four resources that a run requests and a namespace or worker offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Resources {
    /// CPU in millicores.
    pub cpu: i64,
    /// Memory in MiB.
    pub memory: i64,
    /// Number of pods.
    pub pods: i64,
    /// Storage in MiB.
    pub storage: i64,
}

impl Resources {
    /// What a run with this request takes of its worker: at least one slot (a process, a uid of
    /// `run-as-uids`), whatever pods it asked of its namespace; the rest as requested.
    pub fn on_worker(&self) -> Self {
        Self { pods: self.pods.max(1), ..*self }
    }

    /// The amount in one dimension.
    pub fn get(&self, dimension: Dimension) -> i64 {
        match dimension {
            Dimension::Cpu => self.cpu,
            Dimension::Memory => self.memory,
            Dimension::Pods => self.pods,
            Dimension::Storage => self.storage,
        }
    }

    /// Whether `self`, taken as a request, fits in `available` in all four dimensions.
    pub fn fits_in(&self, available: &Resources) -> bool {
        Dimension::ALL.iter().all(|&d| self.get(d) <= available.get(d))
    }

    /// Dimension-wise sum, saturating at the bounds of `i64`.
    pub fn saturating_add(&self, other: &Resources) -> Resources {
        self.zip(other, i64::saturating_add)
    }

    /// Dimension-wise difference, saturating at the bounds of `i64` (it may go negative).
    pub fn saturating_sub(&self, other: &Resources) -> Resources {
        self.zip(other, i64::saturating_sub)
    }

    /// `n` times the amount (what `n` runs of this request use together), saturating.
    pub fn times(&self, n: i64) -> Resources {
        self.zip(self, |v, _| v.saturating_mul(n))
    }

    /// `(dimension, requested, available, shortfall)` for every dimension in which `request`
    /// exceeds `available`, in the order of [`Dimension::ALL`].
    pub fn shortfalls(request: &Resources, available: &Resources) -> Vec<(Dimension, i64, i64, i64)> {
        Dimension::ALL
            .iter()
            .filter(|&&d| request.get(d) > available.get(d))
            .map(|&d| {
                let (r, a) = (request.get(d), available.get(d));
                (d, r, a, r.saturating_sub(a))
            })
            .collect()
    }

    /// Combines two amounts dimension by dimension with `f`.
    pub fn zip(&self, other: &Resources, f: impl Fn(i64, i64) -> i64) -> Resources {
        Resources {
            cpu: f(self.cpu, other.cpu),
            memory: f(self.memory, other.memory),
            pods: f(self.pods, other.pods),
            storage: f(self.storage, other.storage),
        }
    }
}

/// One of the four resource dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    /// CPU, in millicores.
    Cpu,
    /// Memory, in MiB.
    Memory,
    /// Pod count.
    Pods,
    /// Storage, in MiB.
    Storage,
}

impl Dimension {
    /// All dimensions, in the order they are checked and reported.
    pub const ALL: [Dimension; 4] = [Dimension::Cpu, Dimension::Memory, Dimension::Pods, Dimension::Storage];

    /// The unit amounts of this dimension are given in (`""` for the pod count).
    pub fn unit(&self) -> &'static str {
        match self {
            Dimension::Cpu => "m",
            Dimension::Memory | Dimension::Storage => "MiB",
            Dimension::Pods => "",
        }
    }
}

impl fmt::Display for Dimension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dimension::Cpu => "cpu",
            Dimension::Memory => "memory",
            Dimension::Pods => "pods",
            Dimension::Storage => "storage",
        })
    }
}
