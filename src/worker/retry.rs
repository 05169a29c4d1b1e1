//! Retry decisions after a failed or timed-out attempt: a pure function of the attempt count, the
//! service's policy and a jitter draw.

use crate::config::ServiceConfig;

/// How long to wait before attempt `attempt + 1`, or `None` when the job's attempts are used up.
///
/// `own_attempts` counts the job's own attempts so far (lost attempts excluded). The back-off is
/// exponential (`base * 2^(n-1)`), capped at `max`, with "equal jitter": half fixed, half drawn
/// from `jitter` in `[0, 1)`, so retries of many runs spread out but never collapse to zero.
pub fn retry_delay_seconds(own_attempts: i32, policy: &ServiceConfig, jitter: f64) -> Option<f64> {
    if own_attempts >= i32::try_from(policy.max_attempts).unwrap_or(i32::MAX) {
        return None;
    }
    let exponent = own_attempts.clamp(1, 62) - 1;
    let full = (policy.retry_backoff_seconds * 2f64.powi(exponent)).min(policy.retry_backoff_max_seconds);
    let jitter = jitter.clamp(0.0, 1.0);
    Some(full / 2.0 + full / 2.0 * jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(max_attempts: u32) -> ServiceConfig {
        ServiceConfig {
            max_attempts,
            retry_backoff_seconds: 2.0,
            retry_backoff_max_seconds: 10.0,
            ..ServiceConfig::default()
        }
    }

    #[test]
    fn attempts_are_used_up() {
        assert_eq!(retry_delay_seconds(1, &policy(1), 0.5), None, "the default: one attempt, no retry");
        assert!(retry_delay_seconds(1, &policy(3), 0.5).is_some());
        assert!(retry_delay_seconds(2, &policy(3), 0.5).is_some());
        assert_eq!(retry_delay_seconds(3, &policy(3), 0.5), None);
    }

    #[test]
    fn back_off_doubles_with_jitter_and_a_cap() {
        let p = policy(10);
        // attempt 1: full 2 s → [1, 2]; attempt 2: 4 s → [2, 4]; attempt 4: 16 capped to 10 → [5, 10].
        assert_eq!(retry_delay_seconds(1, &p, 0.0), Some(1.0));
        assert_eq!(retry_delay_seconds(1, &p, 1.0), Some(2.0));
        assert_eq!(retry_delay_seconds(2, &p, 0.0), Some(2.0));
        assert_eq!(retry_delay_seconds(4, &p, 0.0), Some(5.0));
        assert_eq!(retry_delay_seconds(4, &p, 1.0), Some(10.0));
        assert_eq!(retry_delay_seconds(9, &p, 0.5), Some(7.5), "still capped far out");
    }
}
