//! What cache fills may hold for slow clients, outside the cache's own bytes.
//!
//! While a response is being stored, the origin is read at its own pace even when the
//! client that asked stops reading (so the fill, and the clients collapsed onto it, are
//! not held back). The bytes queued for such a client beyond its stream window are held
//! against one shared [`FillBudget`] (a quarter of the cache size): a fill that cannot
//! hold more gives up storing and pauses the origin like any other exchange, so a crowd of
//! stalled clients costs at most that budget plus one stream window each.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The bytes all fills together may queue for stalled clients.
///
/// ```
/// use reactor_handlers::proxy::fill::FillBudget;
/// let budget = FillBudget::new(100);
/// let a = budget.backlog();
/// let b = budget.backlog();
/// assert!(a.hold(60) && !b.hold(60) && b.hold(40));
/// a.release();                  // a's client drained its queue
/// assert!(b.hold(60));
/// drop(b);                      // or went away
/// assert_eq!(budget.held(), 0);
/// ```
#[derive(Clone)]
pub struct FillBudget {
    held: Arc<AtomicUsize>,
    limit: usize,
}

impl FillBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Self {
        FillBudget {
            held: Arc::new(AtomicUsize::new(0)),
            limit,
        }
    }

    /// Bytes held by every fill now.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Acquire)
    }

    /// The account of one client's stream.
    pub fn backlog(&self) -> Backlog {
        Backlog {
            budget: self.clone(),
            mine: AtomicUsize::new(0),
        }
    }
}

/// One stalled client's queued bytes, held against the [`FillBudget`] until its queue
/// drains ([`Backlog::release`]) or the account is dropped.
pub struct Backlog {
    budget: FillBudget,
    mine: AtomicUsize,
}

impl Backlog {
    /// Holds `n` more bytes; false (nothing held) when the budget has no room.
    pub fn hold(&self, n: usize) -> bool {
        let held = &self.budget.held;
        let ok = held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |h| {
                h.checked_add(n).filter(|&t| t <= self.budget.limit)
            })
            .is_ok();
        if ok {
            self.mine.fetch_add(n, Ordering::AcqRel);
        }
        ok
    }

    /// Gives back everything held (the client caught up).
    pub fn release(&self) {
        let n = self.mine.swap(0, Ordering::AcqRel);
        self.budget.held.fetch_sub(n, Ordering::AcqRel);
    }
}

impl Drop for Backlog {
    fn drop(&mut self) {
        self.release();
    }
}
