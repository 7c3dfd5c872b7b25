//! "Hit-for-pass": URLs whose last response could not be stored. Concurrent misses for
//! such a URL are not collapsed onto one fetch (the waiters would only queue behind the
//! leader and then fetch for themselves anyway); each goes to the origin at once. A mark
//! lasts [`PASS_FOR`], or until a response for the URL is stored; the set is bounded.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a URL stays marked after an unstorable response.
pub const PASS_FOR: Duration = Duration::from_secs(60);
/// URLs marked at most (the oldest marks go first when full).
const MAX_MARKS: usize = 4096;

/// URLs not worth collapsing requests for.
///
/// ```
/// use reactor_handlers::proxy::pass::PassList;
///
/// let p = PassList::default();
/// p.mark("http://h/no-store");
/// assert!(p.contains("http://h/no-store"));
/// p.unmark("http://h/no-store");
/// assert!(!p.contains("http://h/no-store"));
/// ```
#[derive(Default)]
pub struct PassList {
    marks: Mutex<HashMap<String, Instant>>,
}

impl PassList {
    /// True when `url` was recently seen unstorable.
    pub fn contains(&self, url: &str) -> bool {
        let Ok(m) = self.marks.lock() else {
            return false;
        };
        m.get(url).is_some_and(|at| at.elapsed() < PASS_FOR)
    }

    /// `url`'s response could not be stored.
    pub fn mark(&self, url: &str) {
        let Ok(mut m) = self.marks.lock() else {
            return;
        };
        if let Some(at) = m.get_mut(url) {
            *at = Instant::now();
            return;
        }
        if m.len() >= MAX_MARKS {
            m.retain(|_, at| at.elapsed() < PASS_FOR);
            if m.len() >= MAX_MARKS {
                m.clear();
            }
        }
        m.insert(url.to_string(), Instant::now());
    }

    /// `url`'s response was stored: collapse again.
    pub fn unmark(&self, url: &str) {
        if let Ok(mut m) = self.marks.lock() {
            m.remove(url);
        }
    }

    /// URLs marked (expired marks included until they are swept).
    pub fn len(&self) -> usize {
        self.marks.lock().map_or(0, |m| m.len())
    }

    /// True when nothing is marked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded() {
        let p = PassList::default();
        for i in 0..MAX_MARKS + 5 {
            p.mark(&format!("http://h/{i}"));
        }
        assert!(p.len() <= MAX_MARKS);
        assert!(p.contains(&format!("http://h/{}", MAX_MARKS + 4)));
    }
}
