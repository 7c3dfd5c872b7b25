//! Several origins behind one reverse proxy: which one takes a request
//! (`round-robin`, `least-conn`, `uri-hash`), and which are up. Passive health: an origin
//! whose connection fails `max_fails` times in a row is left out for `fail_timeout`;
//! active health (`health.rs`) marks origins down and up from its checks. Shared by
//! every reactor (atomics only, no lock).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::target::Target;

/// How an origin is chosen for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Balance {
    /// Each origin in turn.
    #[default]
    RoundRobin,
    /// The origin with the fewest exchanges in progress (ties: in turn).
    LeastConn,
    /// A hash of the request target: each URL stays on one origin (for their caches).
    UriHash,
}

impl FromStr for Balance {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "round-robin" => Ok(Balance::RoundRobin),
            "least-conn" => Ok(Balance::LeastConn),
            "uri-hash" => Ok(Balance::UriHash),
            _ => Err("expected round-robin, least-conn or uri-hash".into()),
        }
    }
}

/// One origin and what is known of its health.
struct Member {
    target: Target,
    active: AtomicUsize,
    fails: AtomicU32,
    /// Milliseconds since `Origins::epoch` before which it is left out (passive).
    down_until: AtomicU64,
    /// The last active check failed.
    check_failed: AtomicBool,
}

/// The origins of a reverse proxy, with their health.
///
/// ```
/// use std::time::Duration;
/// use reactor_handlers::proxy::balance::{Balance, Origins};
/// use reactor_handlers::proxy::parse_upstream;
///
/// let list = ["http://127.0.0.1:81", "http://127.0.0.1:82"]
///     .map(|u| parse_upstream(u).expect("valid"));
/// let o = Origins::new(list.to_vec(), Balance::RoundRobin, 1, Duration::from_secs(10));
/// let a = o.pick("/x", &[]).expect("an origin");
/// o.failed(a); // one failure with max_fails 1: left out for 10 s
/// assert_ne!(o.pick("/x", &[]), Some(a));
/// assert_ne!(o.pick("/y", &[]), Some(a));
/// ```
pub struct Origins {
    members: Vec<Member>,
    policy: Balance,
    next: AtomicUsize,
    max_fails: u32,
    fail_timeout: Duration,
    epoch: Instant,
}

impl Origins {
    /// `targets` (at least one) balanced by `policy`; `max_fails` consecutive failures
    /// (0: never) take one out for `fail_timeout`.
    pub fn new(
        targets: Vec<Target>,
        policy: Balance,
        max_fails: u32,
        fail_timeout: Duration,
    ) -> Origins {
        let members = targets
            .into_iter()
            .map(|target| Member {
                target,
                active: AtomicUsize::new(0),
                fails: AtomicU32::new(0),
                down_until: AtomicU64::new(0),
                check_failed: AtomicBool::new(false),
            })
            .collect();
        Origins {
            members,
            policy,
            next: AtomicUsize::new(0),
            max_fails,
            fail_timeout,
            epoch: Instant::now(),
        }
    }

    /// How many origins there are.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Origin `i`.
    pub fn target(&self, i: usize) -> &Target {
        &self.members[i].target
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// True when origin `i` is neither left out after failures nor failing its checks.
    pub fn is_up(&self, i: usize) -> bool {
        let m = &self.members[i];
        !m.check_failed.load(Ordering::Relaxed)
            && m.down_until.load(Ordering::Relaxed) <= self.now_ms()
    }

    /// The origin for a request to `path`, not one of `tried`: an origin that is up
    /// if there is one, else (everything down) any untried one; `None` when all were tried.
    pub fn pick(&self, path: &str, tried: &[usize]) -> Option<usize> {
        let n = self.members.len();
        let untried = |i: &usize| !tried.contains(i);
        let start = match self.policy {
            Balance::UriHash => {
                let mut h = DefaultHasher::new();
                path.hash(&mut h);
                (h.finish() % n as u64) as usize
            }
            _ => self.next.fetch_add(1, Ordering::Relaxed) % n.max(1),
        };
        let order = (0..n).map(|k| (start + k) % n);
        let up = order.clone().filter(untried).filter(|&i| self.is_up(i));
        let chosen = match self.policy {
            Balance::LeastConn => {
                up.min_by_key(|&i| self.members[i].active.load(Ordering::Relaxed))
            }
            _ => up.into_iter().next(),
        };
        chosen.or_else(|| order.clone().find(untried))
    }

    /// Origin `i` takes an exchange (for `least-conn`): the lease gives it back on drop.
    pub fn lease(self: &Arc<Self>, i: usize) -> Lease {
        self.members[i].active.fetch_add(1, Ordering::Relaxed);
        Lease {
            origins: self.clone(),
            index: i,
        }
    }

    /// A connection to origin `i` failed (refused, reset, timed out): after `max_fails`
    /// in a row it is left out for `fail_timeout`.
    pub fn failed(&self, i: usize) {
        let m = &self.members[i];
        let fails = m.fails.fetch_add(1, Ordering::Relaxed) + 1;
        if self.max_fails > 0 && fails >= self.max_fails {
            m.fails.store(0, Ordering::Relaxed);
            let until = self.now_ms() + self.fail_timeout.as_millis() as u64;
            m.down_until.store(until, Ordering::Relaxed);
            log::warn!(
                "origin {} left out for {} s after {fails} failure(s)",
                m.target.authority(),
                self.fail_timeout.as_secs_f64()
            );
        }
    }

    /// Origin `i` answered: its failure count starts again.
    pub fn succeeded(&self, i: usize) {
        self.members[i].fails.store(0, Ordering::Relaxed);
    }

    /// The outcome of an active check of origin `i`.
    pub fn checked(&self, i: usize, ok: bool) {
        let m = &self.members[i];
        let was_failed = m.check_failed.swap(!ok, Ordering::Relaxed);
        if ok {
            m.down_until.store(0, Ordering::Relaxed);
            m.fails.store(0, Ordering::Relaxed);
        }
        if was_failed == ok {
            let state = if ok { "up again" } else { "down" };
            log::warn!("origin {} is {state} (health check)", m.target.authority());
        }
    }
}

/// An exchange in progress on one origin (counted for `least-conn`).
pub struct Lease {
    origins: Arc<Origins>,
    index: usize,
}

impl Lease {
    /// The origin's index.
    pub fn index(&self) -> usize {
        self.index
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.origins.members[self.index]
            .active
            .fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three(policy: Balance) -> Arc<Origins> {
        let t = |p| Target {
            tls: false,
            host: "127.0.0.1".into(),
            port: p,
            path: "/".into(),
        };
        Arc::new(Origins::new(
            vec![t(1), t(2), t(3)],
            policy,
            2,
            Duration::from_secs(60),
        ))
    }

    #[test]
    fn round_robin_skips_origins_down_and_tried() {
        let o = three(Balance::RoundRobin);
        let picks: Vec<_> = (0..6).map(|_| o.pick("/", &[]).unwrap()).collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2]);
        o.failed(1);
        assert!(o.is_up(1), "one failure of two allowed");
        o.failed(1);
        assert!(!o.is_up(1));
        let picks: Vec<_> = (0..4).map(|_| o.pick("/", &[]).unwrap()).collect();
        assert!(!picks.contains(&1), "{picks:?}");
        assert_eq!(o.pick("/", &[0, 2]), Some(1), "down, but the only one left");
        assert_eq!(o.pick("/", &[0, 1, 2]), None);
        o.checked(1, true);
        assert!(o.is_up(1));
        o.checked(2, false);
        assert!(!o.is_up(2));
    }

    #[test]
    fn least_conn_and_uri_hash() {
        let o = three(Balance::LeastConn);
        let a = o.lease(o.pick("/", &[]).unwrap());
        let b = o.lease(o.pick("/", &[]).unwrap());
        assert_ne!(a.index(), b.index());
        let c = o.pick("/", &[]).unwrap();
        assert!(c != a.index() && c != b.index());
        drop(a);
        let o = three(Balance::UriHash);
        let first = o.pick("/page?x=1", &[]).unwrap();
        for _ in 0..5 {
            assert_eq!(o.pick("/page?x=1", &[]), Some(first));
        }
        let spread: std::collections::HashSet<_> = (0..50)
            .map(|i| o.pick(&format!("/p{i}"), &[]).unwrap())
            .collect();
        assert_eq!(spread.len(), 3);
        let other = o.pick("/page?x=1", &[first]).unwrap();
        assert_ne!(other, first);
    }
}
