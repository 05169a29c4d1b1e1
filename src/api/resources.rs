//! How the API spells an amount of resources: `{ "cpu", "memory", "pods", "storage" }`.

use serde::Serialize;

use crate::resources::Resources;

/// An amount in the four dimensions: millicores, MiB of memory, pods, MiB of storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ResourcesView {
    /// Millicores.
    pub cpu: i64,
    /// MiB of memory.
    pub memory: i64,
    /// Pods.
    pub pods: i64,
    /// MiB of storage.
    pub storage: i64,
}

impl From<Resources> for ResourcesView {
    fn from(r: Resources) -> Self {
        ResourcesView { cpu: r.cpu, memory: r.memory, pods: r.pods, storage: r.storage }
    }
}
