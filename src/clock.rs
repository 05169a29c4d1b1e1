//! Time source for decisions. Services take a [`Clock`]; tests inject a fixed one.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

/// Where "now" comes from.
#[derive(Clone, Debug, Default)]
pub enum Clock {
    /// The system clock (SQL statements use the database clock instead, passing `None`).
    #[default]
    System,
    /// A settable instant, for tests.
    Fixed(Arc<Mutex<DateTime<Utc>>>),
}

impl Clock {
    /// A test clock stopped at `at`.
    pub fn fixed(at: DateTime<Utc>) -> Self {
        Clock::Fixed(Arc::new(Mutex::new(at)))
    }

    /// The current instant.
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Fixed(t) => *t.lock().unwrap_or_else(|e| e.into_inner()),
        }
    }

    /// The instant to bind as `$now` in SQL: `None` (the database clock) unless the clock is fixed.
    pub fn sql_now(&self) -> Option<DateTime<Utc>> {
        match self {
            Clock::System => None,
            Clock::Fixed(_) => Some(self.now()),
        }
    }

    /// Moves a fixed clock forward; no effect on the system clock.
    pub fn advance(&self, by: chrono::Duration) {
        if let Clock::Fixed(t) = self {
            let mut t = t.lock().unwrap_or_else(|e| e.into_inner());
            *t += by;
        }
    }
}
