//! Virtual hosts: several sites on one server, picked by the request's `Host` (or the
//! authority of an absolute-form target), case-insensitively and without the port. A site
//! without names is the default one; with no default, an unknown host gets 421.
//!
//! Each site has its own filters and handlers. They are installed on the [`Server`] as
//! numbered slots: filter slot *i* runs the *i*-th filter of the request's site, handler
//! slot *j* its *j*-th handler, so the core's chain (with its deferred replies and
//! declines) works per site unchanged. The table can be replaced while the server runs
//! (configuration reload); requests already dispatched finish with the site they had.
//! Each thread reads its own copy of the table, taken again only when a replacement has
//! bumped a generation counter, so a slot costs no lock and no reference count; the
//! request's site is found once, by the router, and the slots read it back by the
//! request's serial ([`Request::serial`]). A server with one site that is never replaced
//! needs none of this: put the site's plugins on it directly ([`Server::plugins`]).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use reactor::ascii::lowercase_into;
use reactor::{Context, Filter, Handler, Reply, Request, Response, Server};

/// One site: the host names it answers to, its filters and its handlers.
pub struct Site {
    /// Host names (any case; empty for the default site).
    pub names: Vec<String>,
    /// Filters, in the order their request sides run.
    pub filters: Vec<Box<dyn Filter>>,
    /// Handlers, in order.
    pub handlers: Vec<Box<dyn Handler>>,
}

/// The sites and their index by name.
struct Table {
    sites: Vec<Site>,
    by_name: HashMap<String, usize>,
    default: Option<usize>,
}

impl Table {
    fn new(sites: Vec<Site>) -> Result<Table, String> {
        let mut by_name = HashMap::new();
        let mut default = None;
        for (i, site) in sites.iter().enumerate() {
            if site.names.is_empty() && default.replace(i).is_some() {
                return Err("more than one site without host (default site)".into());
            }
            for name in &site.names {
                if by_name.insert(normalize(name), i).is_some() {
                    return Err(format!("host {name:?} belongs to two sites"));
                }
            }
        }
        Ok(Table {
            sites,
            by_name,
            default,
        })
    }

    /// The index of the site for `req`, if any.
    fn site_index(&self, req: &Request) -> Option<usize> {
        if self.by_name.is_empty() {
            return self.default;
        }
        let mut buf = [0u8; MAX_HOST];
        let lower = host_in(req).and_then(|h| lowercase_into(h.as_bytes(), &mut buf));
        match lower.and_then(|h| std::str::from_utf8(h).ok()) {
            Some(h) => self.by_name.get(h).copied().or(self.default),
            None => self.default,
        }
    }
}

/// Longest host name looked up (DNS allows 253 characters; longer ones get the default).
const MAX_HOST: usize = 256;

/// Lower case, without a trailing dot.
fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// The host a request is for, normalized and without port.
pub fn host_of(req: &Request) -> Option<String> {
    host_in(req).map(str::to_ascii_lowercase)
}

/// The host a request is for as sent (any case), without port or trailing dot.
fn host_in(req: &Request) -> Option<&str> {
    let absolute = match req.target.starts_with('/') {
        true => None,
        false => req.target.split_once("://"),
    };
    let authority = match absolute {
        Some((_, rest)) => rest.split(['/', '?']).next().unwrap_or(""),
        None => req.header("host")?,
    };
    let authority = match authority.rfind('@') {
        Some(at) => &authority[at + 1..],
        None => authority,
    };
    let authority = authority.trim();
    let end = match authority.starts_with('[') {
        true => authority.find(']').map(|i| i + 1),
        false => authority.find(':'),
    };
    let host = &authority[..end.unwrap_or(authority.len())];
    let host = host.trim_end_matches('.');
    (!host.is_empty()).then_some(host)
}

/// The sites of a server, replaceable while it runs.
///
/// ```no_run
/// use reactor::{Config, Server};
/// use reactor_handlers::vhost::{Site, VirtualHosts};
/// use reactor_handlers::{FsRoot, StaticFiles};
///
/// let site = |names: &[&str], dir: &str| -> std::io::Result<Site> {
///     Ok(Site {
///         names: names.iter().map(|n| n.to_string()).collect(),
///         filters: vec![],
///         handlers: vec![Box::new(StaticFiles::new(FsRoot::new(dir)?))],
///     })
/// };
/// let hosts = VirtualHosts::new(vec![site(&["a.test"], "a")?, site(&[], "www")?]).unwrap();
/// let server = hosts.install(Server::new(Config::default()));
/// server.start()?.wait();
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct VirtualHosts {
    table: Arc<RwLock<Arc<Table>>>,
    /// Counts replacements: a thread's copy of the table is good while this is unchanged.
    generation: Arc<AtomicU64>,
    /// Names this set of sites in the threads' copies (unique in the process, unlike an
    /// address that a later allocation may reuse).
    id: u64,
    slots: (usize, usize),
}

/// A thread's copy of the table of one `VirtualHosts`.
struct ThreadCopy {
    /// The `VirtualHosts` (its id) and the generation the copy was taken at.
    id: u64,
    generation: u64,
    table: Arc<Table>,
    /// The last request looked up (its serial) and its site: the slots after the
    /// router find the request's site here instead of from its host again.
    last: Cell<(u64, Option<usize>)>,
}

impl ThreadCopy {
    /// The site of `req`. It is chosen once per request (by its serial), by the router
    /// that runs before the slots: a rewrite of the host by a site's filter does not move
    /// the request to another site.
    fn site(&self, req: &Request) -> Option<&Site> {
        let serial = req.serial();
        let index = match self.last.get() {
            (s, index) if s == serial => index,
            _ => {
                let index = self.table.site_index(req);
                self.last.set((serial, index));
                index
            }
        };
        self.table.sites.get(index?)
    }
}

thread_local! {
    /// This thread's copies of the tables of the `VirtualHosts` it serves: a slot reads
    /// them without touching the lock or a reference count (a request passes through a
    /// dozen slots).
    static SEEN: RefCell<Vec<ThreadCopy>> = const { RefCell::new(Vec::new()) };
}

/// Most tables a thread keeps copies of (one per server it runs, in practice).
const MAX_SEEN: usize = 4;

/// The id of the next `VirtualHosts`.
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

impl VirtualHosts {
    /// The sites; `Err` when two share a name or two are default.
    pub fn new(sites: Vec<Site>) -> Result<VirtualHosts, String> {
        let table = Table::new(sites)?;
        let slots = slot_counts(&table);
        Ok(VirtualHosts {
            table: Arc::new(RwLock::new(Arc::new(table))),
            generation: Arc::default(),
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            slots,
        })
    }

    /// Installs the host check and the slots on `server` (add other filters and handlers
    /// before or after, as they should run).
    pub fn install(&self, mut server: Server) -> Server {
        server = server.filter(Router(self.clone()));
        for i in 0..self.slots.0 {
            server = server.filter(FilterSlot(self.clone(), i));
        }
        for j in 0..self.slots.1 {
            server = server.handler(HandlerSlot(self.clone(), j));
        }
        server
    }

    /// Replaces the sites; `Err` (and nothing changes) when the new ones are invalid or
    /// need more filter or handler slots than were installed.
    pub fn replace(&self, sites: Vec<Site>) -> Result<(), String> {
        let table = Table::new(sites)?;
        let (f, h) = slot_counts(&table);
        if f > self.slots.0 || h > self.slots.1 {
            return Err(format!(
                "the new sites need {f} filters and {h} handlers; this server has {} and {}",
                self.slots.0, self.slots.1
            ));
        }
        let mut current = self.table.write().map_err(|_| "site table poisoned")?;
        *current = Arc::new(table);
        self.generation.fetch_add(1, Ordering::Release);
        Ok(())
    }

    /// Runs `f` on this thread's copy of the current table (`None` if the lock was
    /// poisoned).
    fn with_copy<R>(&self, f: impl FnOnce(&ThreadCopy) -> R) -> Option<R> {
        let id = self.id;
        let generation = self.generation.load(Ordering::Acquire);
        SEEN.with(|seen| {
            if let Ok(list) = seen.try_borrow() {
                if let Some(copy) = list
                    .iter()
                    .find(|c| (c.id, c.generation) == (id, generation))
                {
                    return Some(f(copy));
                }
            }
            let copy = ThreadCopy {
                id,
                generation,
                table: self.table.read().ok()?.clone(),
                last: Cell::new((0, None)),
            };
            // Busy only when a site's filter runs another server's slots: then no copy.
            let Ok(mut list) = seen.try_borrow_mut() else {
                return Some(f(&copy));
            };
            list.retain(|c| c.id != id);
            if list.len() == MAX_SEEN {
                list.remove(0);
            }
            list.push(copy);
            let copy = list.last()?;
            Some(f(copy))
        })
    }
}

fn slot_counts(table: &Table) -> (usize, usize) {
    let f = table.sites.iter().map(|s| s.filters.len()).max();
    let h = table.sites.iter().map(|s| s.handlers.len()).max();
    (f.unwrap_or(0), h.unwrap_or(0))
}

/// Answers 421 for a host no site serves when there is no default site.
struct Router(VirtualHosts);

impl Filter for Router {
    fn request(&self, req: &mut Request, _cx: &mut Context<'_>) -> Reply {
        match self.0.with_copy(|c| c.site(req).is_some()) {
            Some(true) => Reply::Decline,
            _ => Reply::Response(Response::error_with(
                421,
                "This server does not serve that host.",
            )),
        }
    }
}

/// Runs filter `.1` of the request's site.
struct FilterSlot(VirtualHosts, usize);

impl Filter for FilterSlot {
    fn request(&self, req: &mut Request, cx: &mut Context<'_>) -> Reply {
        let request = |c: &ThreadCopy| match c.site(req).and_then(|s| s.filters.get(self.1)) {
            Some(f) => f.request(req, cx),
            None => Reply::Decline,
        };
        self.0.with_copy(request).unwrap_or(Reply::Decline)
    }

    fn response(&self, req: &Request, resp: &mut Response, cx: &mut Context<'_>) {
        self.0.with_copy(|c| {
            if let Some(f) = c.site(req).and_then(|s| s.filters.get(self.1)) {
                f.response(req, resp, cx);
            }
        });
    }
}

/// Runs handler `.1` of the request's site.
struct HandlerSlot(VirtualHosts, usize);

impl Handler for HandlerSlot {
    fn handle(&self, req: &mut Request, cx: &mut Context<'_>) -> Reply {
        let handle = |c: &ThreadCopy| match c.site(req).and_then(|s| s.handlers.get(self.1)) {
            Some(h) => h.handle(req, cx),
            None => Reply::Decline,
        };
        self.0.with_copy(handle).unwrap_or(Reply::Decline)
    }

    fn streams_body(&self, req: &Request) -> bool {
        self.0
            .with_copy(|c| {
                c.site(req)
                    .and_then(|s| s.handlers.get(self.1))
                    .is_some_and(|h| h.streams_body(req))
            })
            .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(names: &[&str]) -> Site {
        Site {
            names: names.iter().map(|n| n.to_string()).collect(),
            filters: vec![],
            handlers: vec![],
        }
    }

    fn names(hosts: &VirtualHosts) -> Vec<String> {
        let all = |c: &ThreadCopy| c.table.sites.iter().flat_map(|s| s.names.clone()).collect();
        hosts.with_copy(all).unwrap()
    }

    #[test]
    fn a_thread_sees_a_replacement_and_keeps_sets_apart() {
        let a = VirtualHosts::new(vec![site(&["a.test"])]).unwrap();
        let b = VirtualHosts::new(vec![site(&["b.test"])]).unwrap();
        assert_eq!(names(&a), ["a.test"]); // now copied on this thread
        assert_eq!(names(&b), ["b.test"]);
        a.replace(vec![site(&["c.test"])]).unwrap();
        assert_eq!(names(&a), ["c.test"]);
        assert_eq!(names(&a.clone()), ["c.test"]);
        assert_eq!(names(&b), ["b.test"]);
    }
}
