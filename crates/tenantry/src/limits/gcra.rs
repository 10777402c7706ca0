//! The generic cell rate algorithm, per tenant.
//!
//! One timestamp per tenant — the "theoretical arrival time" (TAT) of the
//! next request at the sustained rate — instead of a bucket refilled by a
//! timer. A request is allowed while the TAT is at most `burst` intervals
//! ahead of now. Tokio's clock, so tests can pause and advance time.

use std::time::Duration;

use tokio::time::Instant;

/// What the rate limiter decided about one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Allowed.
    Allow {
        /// How many more would be allowed right now.
        remaining: u32,
    },
    /// Refused.
    Deny {
        /// When the next request would be allowed.
        retry_after: Duration,
    },
}

/// Applies one request to a tenant's TAT (`None` for a tenant not seen yet).
pub(crate) fn check(
    tat: &mut Option<Instant>,
    now: Instant,
    per_second: u32,
    burst: u32,
) -> Decision {
    let interval = Duration::from_secs(1) / per_second.max(1);
    let tolerance = interval * burst;
    let current = tat.map_or(now, |t| t.max(now));
    let allowed_from = current.checked_sub(tolerance).unwrap_or(now);
    if now < allowed_from {
        return Decision::Deny {
            retry_after: allowed_from - now,
        };
    }
    let next = current + interval;
    *tat = Some(next);
    let ahead = next.saturating_duration_since(now);
    // Rounded up: a slot partly spent since the last request is not free.
    let used =
        u32::try_from(ahead.as_nanos().div_ceil(interval.as_nanos().max(1))).unwrap_or(u32::MAX);
    Decision::Allow {
        remaining: (burst + 1).saturating_sub(used),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn burst_then_steady_rate() {
        let mut tat = None;
        let start = Instant::now();
        // 10/s with a burst of 5: six at once (the first plus the burst).
        for _ in 0..6 {
            assert!(matches!(
                check(&mut tat, start, 10, 5),
                Decision::Allow { .. }
            ));
        }
        let Decision::Deny { retry_after } = check(&mut tat, start, 10, 5) else {
            panic!("the seventh must wait")
        };
        assert_eq!(retry_after, Duration::from_millis(100));
        // After one interval exactly one more is allowed.
        let later = start + Duration::from_millis(100);
        assert!(matches!(
            check(&mut tat, later, 10, 5),
            Decision::Allow { .. }
        ));
        assert!(matches!(
            check(&mut tat, later, 10, 5),
            Decision::Deny { .. }
        ));
    }
}
