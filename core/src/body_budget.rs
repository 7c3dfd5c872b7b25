//! A process-wide bound on request-body bytes held in memory ([`Config::max_body_memory`]).
//!
//! Bodies are read whole before dispatch, so without it the worst case is every
//! connection holding a body one byte short of `max_body` (10,000 × 1 MiB by default).
//! Each body being read holds a [`Reservation`] on the shared [`BodyBudget`]: a first
//! [`STEP`] (or the body's length, if shorter) when its head arrives, then more as its
//! bytes arrive, a step ahead (so the atomic is touched once per 64 KiB, not per read),
//! all given back when the reservation is dropped: when the request is done with, or the
//! connection or HTTP/2 stream goes, on any path. A body the budget cannot cover is
//! refused with 503 and `Retry-After`; requests without a body, and streamed bodies
//! ([`crate::Handler::streams_body`]), are not counted.
//!
//! [`Config::max_body_memory`]: crate::Config::max_body_memory

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Bytes taken from the budget at a time (less when the body is known to be shorter).
pub(crate) const STEP: usize = 64 * 1024;

/// The longest a body can be: its `declared` length, or `max_body` when not declared
/// (chunked), as a bound for [`Reservation::cover`].
pub(crate) fn ceiling(declared: Option<u64>, max_body: u64) -> usize {
    let longest = declared.map_or(max_body, |n| n.min(max_body));
    usize::try_from(longest).unwrap_or(usize::MAX)
}

/// Request-body bytes all connections of a server may hold, and how many they hold.
#[derive(Debug)]
pub(crate) struct BodyBudget {
    limit: usize,
    used: AtomicUsize,
}

impl BodyBudget {
    /// A budget of `limit` bytes, none used.
    pub fn new(limit: usize) -> Self {
        BodyBudget {
            limit,
            used: AtomicUsize::new(0),
        }
    }

    /// Bytes held by reservations now.
    #[cfg(test)]
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    /// Takes `n` bytes if they fit under the limit.
    fn take(&self, n: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(n).filter(|&total| total <= self.limit)
            })
            .is_ok()
    }

    fn give(&self, n: usize) {
        self.used.fetch_sub(n, Ordering::AcqRel);
    }
}

/// The part of the budget one request body holds; given back when dropped.
#[derive(Debug)]
pub(crate) struct Reservation {
    budget: Arc<BodyBudget>,
    held: usize,
}

impl Reservation {
    /// A reservation on `budget` holding nothing yet.
    pub fn new(budget: &Arc<BodyBudget>) -> Self {
        Reservation {
            budget: budget.clone(),
            held: 0,
        }
    }

    /// Makes sure `needed` bytes are held, taking a [`STEP`] more than held at a time but
    /// never more than `ceiling` (the longest the body can be). False when the budget
    /// cannot cover `needed` (what is held stays held until the drop).
    pub fn cover(&mut self, needed: usize, ceiling: usize) -> bool {
        if needed <= self.held {
            return true;
        }
        let ahead = self.held.saturating_add(STEP).min(ceiling).max(needed);
        for want in [ahead, needed] {
            if self.budget.take(want - self.held) {
                self.held = want;
                return true;
            }
        }
        false
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.give(self.held);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_in_steps_up_to_the_ceiling_and_gives_back_on_drop() {
        let budget = Arc::new(BodyBudget::new(10 * STEP));
        let mut a = Reservation::new(&budget);
        assert!(a.cover(10, usize::MAX));
        assert_eq!(budget.used(), STEP, "a step ahead");
        assert!(a.cover(STEP, usize::MAX));
        assert_eq!(budget.used(), STEP, "still covered");
        assert!(a.cover(STEP + 1, STEP + 100));
        assert_eq!(budget.used(), STEP + 100, "no more than the ceiling");
        let mut b = Reservation::new(&budget);
        assert!(b.cover(30, 30));
        assert_eq!(budget.used(), STEP + 130);
        drop(a);
        assert_eq!(budget.used(), 30);
        drop(b);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn refuses_past_the_limit_and_keeps_what_it_held() {
        let budget = Arc::new(BodyBudget::new(STEP + 10));
        let mut a = Reservation::new(&budget);
        assert!(a.cover(1, usize::MAX));
        let mut b = Reservation::new(&budget);
        assert!(
            b.cover(5, usize::MAX),
            "a step does not fit; what is needed does"
        );
        assert_eq!(budget.used(), STEP + 5);
        assert!(b.cover(6, usize::MAX));
        assert_eq!(budget.used(), STEP + 6);
        assert!(!b.cover(11, usize::MAX));
        assert!(!a.cover(STEP + 11, usize::MAX));
        drop(b);
        assert!(a.cover(STEP + 10, usize::MAX));
        assert_eq!(budget.used(), STEP + 10);
        drop(a);
        assert_eq!(budget.used(), 0);
    }
}
