//! Where a worker's next claim starts its scan of the admitted runs.
//!
//! Claims take the oldest admitted runs through the partial index `runs_admitted`, ordered by
//! admission time. Every claimed run leaves a dead entry at the old end of that index until vacuum
//! removes it, and a scan from the oldest end walks all of them: at thousands of claims a second
//! the claim cost grows with the number of runs claimed since the last vacuum. Measured with
//! pgbench, two clients claiming 30 runs at a time with 30,000 dead entries in front of the live
//! ones: 629 claims/s from the oldest end, 832 claims/s from a floor.
//!
//! So a claim that came back full remembers the oldest admission it took, and the next claim starts
//! there. Runs admitted before the floor can still appear: a transaction that read its clock before
//! the floor was taken and committed after it. They are never left behind: a claim that comes back
//! short (the queue is running dry, or a run did not fit) makes the next claim scan from the oldest
//! end, and so does the first claim after [`FULL_SCAN_EVERY`]. Pure: the caller passes the time.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

/// Longest time between two claims that scan from the oldest admitted run.
pub const FULL_SCAN_EVERY: Duration = Duration::from_secs(1);

/// A worker's claim floor.
#[derive(Debug, Clone)]
pub struct ClaimFloor {
    floor: Option<DateTime<Utc>>,
    next_full_scan: Instant,
}

impl ClaimFloor {
    /// No floor yet: the first claim scans from the oldest run.
    pub fn new(now: Instant) -> Self {
        Self { floor: None, next_full_scan: now }
    }

    /// The floor for a claim made at `now`; `None` means scan from the oldest admitted run.
    pub fn bound(&mut self, now: Instant) -> Option<DateTime<Utc>> {
        if now >= self.next_full_scan {
            self.floor = None;
        }
        if self.floor.is_none() {
            self.next_full_scan = now + FULL_SCAN_EVERY;
        }
        self.floor
    }

    /// Records what a claim asked for and the admission times of the runs it got.
    pub fn observe(&mut self, asked: i64, admitted: impl IntoIterator<Item = DateTime<Utc>>) {
        let mut got = 0_i64;
        let mut oldest: Option<DateTime<Utc>> = None;
        for at in admitted {
            got += 1;
            oldest = Some(oldest.map_or(at, |o| o.min(at)));
        }
        self.floor = if got >= asked { oldest.max(self.floor) } else { None };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).expect("valid")
    }

    #[test]
    fn first_claim_scans_from_the_oldest() {
        let t0 = Instant::now();
        assert_eq!(ClaimFloor::new(t0).bound(t0), None);
    }

    #[test]
    fn a_full_claim_sets_the_floor_to_its_oldest_admission() {
        let t0 = Instant::now();
        let mut f = ClaimFloor::new(t0);
        f.bound(t0);
        f.observe(3, [at(5), at(3), at(4)]);
        assert_eq!(f.bound(t0 + Duration::from_millis(10)), Some(at(3)));
    }

    #[test]
    fn a_short_claim_clears_the_floor() {
        let t0 = Instant::now();
        let mut f = ClaimFloor::new(t0);
        f.bound(t0);
        f.observe(2, [at(3), at(4)]);
        assert_eq!(f.bound(t0), Some(at(3)));
        f.observe(2, [at(9)]);
        assert_eq!(f.bound(t0), None, "a run may have been left below the floor");
        f.observe(2, []);
        assert_eq!(f.bound(t0), None);
    }

    #[test]
    fn the_floor_never_moves_back() {
        let t0 = Instant::now();
        let mut f = ClaimFloor::new(t0);
        f.bound(t0);
        f.observe(1, [at(7)]);
        f.observe(1, [at(6)]);
        assert_eq!(f.bound(t0), Some(at(7)));
    }

    #[test]
    fn a_full_scan_comes_at_least_every_interval() {
        let t0 = Instant::now();
        let mut f = ClaimFloor::new(t0);
        assert_eq!(f.bound(t0), None);
        f.observe(1, [at(1)]);
        let almost = t0 + FULL_SCAN_EVERY - Duration::from_millis(1);
        assert_eq!(f.bound(almost), Some(at(1)));
        f.observe(1, [at(2)]);
        assert_eq!(f.bound(t0 + FULL_SCAN_EVERY), None, "the interval has passed");
        f.observe(1, [at(3)]);
        assert_eq!(f.bound(t0 + FULL_SCAN_EVERY + Duration::from_millis(1)), Some(at(3)), "next interval starts");
    }
}
