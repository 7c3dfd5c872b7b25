//! A router: method + path patterns with named parameters, dispatched to closures or
//! handlers. It is itself a [`Handler`], so it sits in a server's chain next to the file
//! handlers and under the filters; it declines every path that no pattern matches.

mod pattern;

use reactor::{Context, Handler, Reply, Request, Response};

use crate::path::percent_decode;
pub use pattern::{Pattern, PatternError};

/// What a route runs: a closure `Fn(&mut Request, &mut Context, &Params) -> Reply`, or any
/// [`Handler`] through [`Router::handler`]. Returning [`Reply::Decline`] passes the request
/// on to the next handler of the server.
pub trait Endpoint: Send + Sync + 'static {
    /// Answers a request whose path matched, with the parameters it captured.
    fn call(&self, req: &mut Request, cx: &mut Context<'_>, params: &Params<'_>) -> Reply;

    /// Whether this endpoint takes `req`'s body as a stream ([`Handler::streams_body`]);
    /// default: no.
    fn streams_body(&self, _req: &Request) -> bool {
        false
    }
}

impl<F> Endpoint for F
where
    F: Fn(&mut Request, &mut Context<'_>, &Params<'_>) -> Reply + Send + Sync + 'static,
{
    fn call(&self, req: &mut Request, cx: &mut Context<'_>, params: &Params<'_>) -> Reply {
        self(req, cx, params)
    }
}

/// A [`Handler`] used as a route's endpoint (it ignores the parameters).
struct HandlerEndpoint<H>(H);

impl<H: Handler> Endpoint for HandlerEndpoint<H> {
    fn call(&self, req: &mut Request, cx: &mut Context<'_>, _: &Params<'_>) -> Reply {
        self.0.handle(req, cx)
    }

    fn streams_body(&self, req: &Request) -> bool {
        self.0.streams_body(req)
    }
}

/// The parameters a pattern captured, by name. Values are as sent (percent-encoded);
/// [`Params::decoded`] decodes one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params<'r> {
    pairs: Vec<(&'r str, String)>,
}

impl Params<'_> {
    /// The raw (still percent-encoded) value of parameter `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The percent-decoded value of `name`; `None` when absent, malformed or not UTF-8.
    pub fn decoded(&self, name: &str) -> Option<String> {
        let raw = percent_decode(self.get(name)?).ok()?;
        String::from_utf8(raw).ok()
    }

    /// All parameters in pattern order, raw.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(n, v)| (*n, v.as_str()))
    }
}

/// One pattern and the endpoints registered for it, by method.
struct Route {
    pattern: Pattern,
    methods: Vec<(String, Box<dyn Endpoint>)>,
}

impl Route {
    fn endpoint(&self, method: &str) -> Option<usize> {
        let find = |m: &str| self.methods.iter().position(|(n, _)| n == m);
        find(method).or_else(|| if method == "HEAD" { find("GET") } else { None })
    }
}

/// What the router decided for a method and path, before running anything.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision<'r> {
    /// No pattern matches the path: the router declines.
    NoMatch,
    /// Run the endpoint of route `route` for method index `method`, with these parameters.
    Run {
        /// Index of the route (pattern) in registration order.
        route: usize,
        /// Index of the method in that route's registration order.
        method: usize,
        /// The captured parameters.
        params: Params<'r>,
    },
    /// The path matches but not the method: 405 (or 204 for `OPTIONS`) with this `Allow`.
    NotAllowed {
        /// The `Allow` value: every method of every matching pattern.
        allow: String,
    },
}

/// Routes requests by method and path pattern (see [`Pattern`] for the syntax).
///
/// When several patterns match, the most specific one that has the request's method
/// wins (a literal segment beats `:param`, which beats `*rest`), whatever the order of
/// registration. `HEAD` runs the `GET` endpoint unless it has its own; `OPTIONS` is
/// answered 204 with `Allow` unless it has its own; any other method that no matching
/// pattern has is answered 405 with `Allow`.
///
/// ```
/// use reactor::{Config, Reply, Response, Server};
/// use reactor_handlers::router::Router;
///
/// let router = Router::new()
///     .get("/api/items/:id", |_req, _cx, params| {
///         let id = params.get("id").unwrap_or_default();
///         Reply::Response(Response::text(200, format!("item {id}\n")))
///     })
///     .delete("/api/items/:id", |_req, _cx, _params| {
///         Reply::Response(Response::new(204))
///     });
/// let server = Server::new(Config::default()).handler(router);
/// # drop(server);
/// ```
#[derive(Default)]
pub struct Router {
    routes: Vec<Route>,
}

impl Router {
    /// A router with no routes (it declines everything).
    pub fn new() -> Self {
        Router::default()
    }

    /// Adds `endpoint` for `method` (e.g. `"PUT"`) on `pattern`, or fails when the pattern
    /// is malformed or the pair is already taken.
    pub fn try_route<F>(
        self,
        method: &str,
        pattern: &str,
        endpoint: F,
    ) -> Result<Self, PatternError>
    where
        F: Fn(&mut Request, &mut Context<'_>, &Params<'_>) -> Reply + Send + Sync + 'static,
    {
        self.add(method, pattern, Box::new(endpoint))
    }

    /// Adds the closure `endpoint` for `method` on `pattern`.
    ///
    /// # Panics
    ///
    /// When the pattern is malformed or taken (a programming error; use
    /// [`Router::try_route`] for patterns that come from configuration).
    pub fn route<F>(self, method: &str, pattern: &str, endpoint: F) -> Self
    where
        F: Fn(&mut Request, &mut Context<'_>, &Params<'_>) -> Reply + Send + Sync + 'static,
    {
        self.endpoint(method, pattern, endpoint)
    }

    /// Adds any [`Endpoint`] for `method` on `pattern`. Panics like [`Router::route`].
    pub fn endpoint(self, method: &str, pattern: &str, endpoint: impl Endpoint) -> Self {
        match self.add(method, pattern, Box::new(endpoint)) {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        }
    }

    /// Routes `method` on `pattern` to a [`Handler`] (which sees the request unchanged),
    /// e.g. the static-file handler under a prefix. Panics like [`Router::route`].
    pub fn handler(self, method: &str, pattern: &str, handler: impl Handler) -> Self {
        self.endpoint(method, pattern, HandlerEndpoint(handler))
    }

    fn add(
        mut self,
        method: &str,
        pattern: &str,
        endpoint: Box<dyn Endpoint>,
    ) -> Result<Self, PatternError> {
        let parsed = Pattern::parse(pattern)?;
        let index = match self.routes.iter().position(|r| r.pattern == parsed) {
            Some(i) => i,
            None => {
                self.routes.push(Route {
                    pattern: parsed,
                    methods: Vec::new(),
                });
                self.routes.len() - 1
            }
        };
        let route = &mut self.routes[index];
        if route.methods.iter().any(|(m, _)| m == method) {
            return Err(PatternError {
                pattern: pattern.to_string(),
                reason: "this method already has a route on this pattern",
            });
        }
        route.methods.push((method.to_string(), endpoint));
        Ok(self)
    }

    /// `GET` (and `HEAD`) on `pattern`. Panics like [`Router::route`].
    pub fn get<F>(self, pattern: &str, endpoint: F) -> Self
    where
        F: Fn(&mut Request, &mut Context<'_>, &Params<'_>) -> Reply + Send + Sync + 'static,
    {
        self.route("GET", pattern, endpoint)
    }

    /// `POST` on `pattern`. Panics like [`Router::route`].
    pub fn post<F>(self, pattern: &str, endpoint: F) -> Self
    where
        F: Fn(&mut Request, &mut Context<'_>, &Params<'_>) -> Reply + Send + Sync + 'static,
    {
        self.route("POST", pattern, endpoint)
    }

    /// `PUT` on `pattern`. Panics like [`Router::route`].
    pub fn put<F>(self, pattern: &str, endpoint: F) -> Self
    where
        F: Fn(&mut Request, &mut Context<'_>, &Params<'_>) -> Reply + Send + Sync + 'static,
    {
        self.route("PUT", pattern, endpoint)
    }

    /// `DELETE` on `pattern`. Panics like [`Router::route`].
    pub fn delete<F>(self, pattern: &str, endpoint: F) -> Self
    where
        F: Fn(&mut Request, &mut Context<'_>, &Params<'_>) -> Reply + Send + Sync + 'static,
    {
        self.route("DELETE", pattern, endpoint)
    }

    /// Decides what to do with `method` on `path` (pure: runs nothing).
    pub fn decide(&self, method: &str, path: &str) -> Decision<'_> {
        let mut matching: Vec<(usize, Vec<(&str, &str)>)> = self
            .routes
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.pattern.matches(path).map(|p| (i, p)))
            .collect();
        if matching.is_empty() {
            return Decision::NoMatch;
        }
        matching.sort_by(|a, b| {
            let (pa, pb) = (&self.routes[a.0].pattern, &self.routes[b.0].pattern);
            pa.specificity(pb)
        });
        for (route, params) in &matching {
            if let Some(method) = self.routes[*route].endpoint(method) {
                let pairs = params.iter().map(|(n, v)| (*n, v.to_string())).collect();
                return Decision::Run {
                    route: *route,
                    method,
                    params: Params { pairs },
                };
            }
        }
        let mut allow: Vec<&str> = Vec::new();
        for (route, _) in &matching {
            for (m, _) in &self.routes[*route].methods {
                if !allow.contains(&m.as_str()) {
                    allow.push(m);
                }
            }
        }
        if allow.contains(&"GET") && !allow.contains(&"HEAD") {
            let at = allow.iter().position(|m| *m == "GET").map_or(0, |i| i + 1);
            allow.insert(at, "HEAD");
        }
        if !allow.contains(&"OPTIONS") {
            allow.push("OPTIONS");
        }
        Decision::NotAllowed {
            allow: allow.join(", "),
        }
    }
}

impl Handler for Router {
    fn handle(&self, req: &mut Request, cx: &mut Context<'_>) -> Reply {
        match self.decide(&req.method, req.path()) {
            Decision::NoMatch => Reply::Decline,
            Decision::Run {
                route,
                method,
                params,
            } => self.routes[route].methods[method].1.call(req, cx, &params),
            Decision::NotAllowed { allow } => {
                let r = if req.method == "OPTIONS" {
                    Response::new(204)
                } else {
                    Response::error(405)
                };
                Reply::Response(r.with_header("Allow", allow))
            }
        }
    }

    /// Asks the endpoint the request would be routed to.
    fn streams_body(&self, req: &Request) -> bool {
        match self.decide(&req.method, req.path()) {
            Decision::Run { route, method, .. } => {
                self.routes[route].methods[method].1.streams_body(req)
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(_: &mut Request, _: &mut Context<'_>, _: &Params<'_>) -> Reply {
        Reply::Decline
    }

    fn router() -> Router {
        Router::new()
            .get("/api/items", ok)
            .post("/api/items", ok)
            .get("/api/items/:id", ok)
            .put("/api/items/:id", ok)
            .delete("/api/items/:id", ok)
            .post("/api/items/new", ok)
            .get("/static/*rest", ok)
            .route("OPTIONS", "/cors", ok)
    }

    fn run(r: &Router, method: &str, path: &str) -> Option<(String, Vec<(String, String)>)> {
        match r.decide(method, path) {
            Decision::Run {
                route,
                method,
                params,
            } => {
                let pattern = r.routes[route].pattern.as_str().to_string();
                let m = &r.routes[route].methods[method].0;
                let ps = params
                    .iter()
                    .map(|(n, v)| (n.to_string(), v.to_string()))
                    .collect();
                Some((format!("{m} {pattern}"), ps))
            }
            _ => None,
        }
    }

    #[test]
    fn picks_route_by_method_and_pattern() {
        let r = router();
        let id = |v: &str| vec![("id".to_string(), v.to_string())];
        assert_eq!(
            run(&r, "GET", "/api/items"),
            Some(("GET /api/items".into(), vec![]))
        );
        assert_eq!(
            run(&r, "PUT", "/api/items/7"),
            Some(("PUT /api/items/:id".into(), id("7")))
        );
        assert_eq!(
            run(&r, "HEAD", "/api/items/7"),
            Some(("GET /api/items/:id".into(), id("7"))),
            "HEAD runs GET"
        );
        assert_eq!(
            run(&r, "POST", "/api/items/new"),
            Some(("POST /api/items/new".into(), vec![])),
            "the literal beats the parameter"
        );
        assert_eq!(
            run(&r, "GET", "/api/items/new"),
            Some(("GET /api/items/:id".into(), id("new"))),
            "the literal has no GET, so the parameter pattern takes it"
        );
        assert_eq!(
            run(&r, "GET", "/static/css/a.css"),
            Some((
                "GET /static/*rest".into(),
                vec![("rest".into(), "css/a.css".into())]
            ))
        );
        assert_eq!(
            run(&r, "OPTIONS", "/cors"),
            Some(("OPTIONS /cors".into(), vec![]))
        );
    }

    #[test]
    fn unmatched_paths_decline() {
        let r = router();
        for path in ["/", "/api", "/api/items/", "/api/items/1/2", "/static", "*"] {
            assert_eq!(r.decide("GET", path), Decision::NoMatch, "{path}");
        }
        assert_eq!(Router::new().decide("GET", "/"), Decision::NoMatch);
    }

    #[test]
    fn wrong_method_lists_allow() {
        let r = router();
        let allow = |m: &str, p: &str| match r.decide(m, p) {
            Decision::NotAllowed { allow } => allow,
            _ => panic!("{m} {p} was not refused"),
        };
        assert_eq!(allow("PATCH", "/api/items"), "GET, HEAD, POST, OPTIONS");
        assert_eq!(
            allow("PATCH", "/api/items/new"),
            "POST, GET, HEAD, PUT, DELETE, OPTIONS",
            "the union over every matching pattern"
        );
        assert_eq!(allow("OPTIONS", "/static/x"), "GET, HEAD, OPTIONS");
        assert_eq!(allow("GET", "/cors"), "OPTIONS");
    }

    #[test]
    fn params_decode() {
        let r = Router::new().get("/f/:name", ok);
        let Decision::Run { params, .. } = r.decide("GET", "/f/caf%C3%A9%20au%20lait") else {
            panic!("no match");
        };
        assert_eq!(params.get("name"), Some("caf%C3%A9%20au%20lait"));
        assert_eq!(params.decoded("name").as_deref(), Some("café au lait"));
        assert_eq!(params.get("other"), None);
        let Decision::Run { params, .. } = r.decide("GET", "/f/%FF") else {
            panic!("no match");
        };
        assert_eq!(params.decoded("name"), None, "not UTF-8");
    }

    #[test]
    fn taken_and_malformed_routes_are_refused() {
        assert!(Router::new().try_route("GET", "nope", ok).is_err());
        let e = Router::new()
            .get("/a", ok)
            .try_route("GET", "/a", ok)
            .err()
            .unwrap();
        assert!(e.to_string().contains("already has a route"), "{e}");
    }
}
