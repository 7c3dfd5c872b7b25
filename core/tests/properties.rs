//! Property tests for the request parser and the body decoder: a generated request,
//! serialised, parses back to the same fields and body (with Content-Length or chunked
//! framing, chunk extensions and trailers), and any split of its bytes into pieces — fed
//! the way a connection feeds them — gives the same result as the whole.

use proptest::prelude::*;
use reactor::body::BodyDecoder;
use reactor::parse::{parse_head, Limits};
use reactor::request::Framing;
use reactor::Version;

/// How a generated request frames its body.
#[derive(Debug, Clone)]
enum Framed {
    None,
    Length,
    /// Chunk sizes (the last chunk takes the rest), with an extension on some chunks and
    /// trailer fields after the last.
    Chunked {
        cuts: Vec<usize>,
        ext: bool,
        trailers: Vec<(String, String)>,
    },
}

#[derive(Debug, Clone)]
struct Generated {
    method: String,
    target: String,
    http10: bool,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    framed: Framed,
}

impl Generated {
    /// The request's bytes, and where its head ends and its body ends.
    fn serialize(&self) -> (Vec<u8>, usize, usize) {
        let version = if self.http10 { "HTTP/1.0" } else { "HTTP/1.1" };
        let mut out = format!(
            "{} {} {version}\r\nHost: example\r\n",
            self.method, self.target
        )
        .into_bytes();
        for (n, v) in &self.headers {
            out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
        }
        match &self.framed {
            Framed::None => {}
            Framed::Length => {
                out.extend_from_slice(format!("Content-Length: {}\r\n", self.body.len()).as_bytes())
            }
            Framed::Chunked { .. } => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
        }
        out.extend_from_slice(b"\r\n");
        let head = out.len();
        match &self.framed {
            Framed::None => {}
            Framed::Length => out.extend_from_slice(&self.body),
            Framed::Chunked {
                cuts,
                ext,
                trailers,
            } => {
                let mut rest = &self.body[..];
                let mut i = 0;
                while !rest.is_empty() {
                    let n = cuts
                        .get(i)
                        .copied()
                        .unwrap_or(rest.len())
                        .clamp(1, rest.len());
                    let (chunk, tail) = rest.split_at(n);
                    let e = if *ext && i % 2 == 0 {
                        ";name=\"v\""
                    } else {
                        ""
                    };
                    out.extend_from_slice(format!("{n:x}{e}\r\n").as_bytes());
                    out.extend_from_slice(chunk);
                    out.extend_from_slice(b"\r\n");
                    rest = tail;
                    i += 1;
                }
                out.extend_from_slice(b"0\r\n");
                for (n, v) in trailers {
                    out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
                }
                out.extend_from_slice(b"\r\n");
            }
        }
        let end = out.len();
        // A pipelined request follows: neither the head nor the body may eat into it.
        out.extend_from_slice(b"GET /next HTTP/1.1\r\nHost: example\r\n\r\n");
        (out, head, end)
    }

    fn framing(&self) -> Framing {
        match self.framed {
            Framed::None => Framing::None,
            Framed::Length => Framing::Length(self.body.len() as u64),
            Framed::Chunked { .. } => Framing::Chunked,
        }
    }
}

/// Header fields that shape framing or the connection are added by `serialize` itself.
fn reserved(name: &str) -> bool {
    [
        "host",
        "content-length",
        "transfer-encoding",
        "expect",
        "connection",
    ]
    .contains(&name.to_ascii_lowercase().as_str())
}

fn field() -> impl Strategy<Value = (String, String)> {
    (
        "[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]{0,15}",
        "([!-~]{1,10}( [!-~]{1,10}){0,2})?",
    )
        .prop_filter("reserved name", |(n, _)| !reserved(n))
}

fn request() -> impl Strategy<Value = Generated> {
    let method = prop_oneof![
        Just("GET".to_string()),
        Just("POST".to_string()),
        Just("PUT".to_string()),
        "[A-Z]{1,12}",
    ];
    let target = (
        "(/[A-Za-z0-9._~%!$&'()*+,;=:@-]{0,12}){1,4}",
        "(\\?[A-Za-z0-9=&%/?-]{0,20})?",
    )
        .prop_map(|(p, q)| p + &q);
    let framed = prop_oneof![
        Just(Framed::None),
        Just(Framed::Length),
        (
            prop::collection::vec(1usize..200, 0..8),
            any::<bool>(),
            prop::collection::vec(field(), 0..3)
        )
            .prop_map(|(cuts, ext, trailers)| Framed::Chunked {
                cuts,
                ext,
                trailers
            }),
    ];
    (
        method,
        target,
        any::<bool>(),
        prop::collection::vec(field(), 0..12),
        prop::collection::vec(any::<u8>(), 0..600),
        framed,
    )
        .prop_map(|(method, target, http10, headers, body, framed)| {
            // HTTP/1.0 has no chunked framing; a request without framing has no body.
            let http10 = http10 && !matches!(framed, Framed::Chunked { .. });
            let body = if matches!(framed, Framed::None) {
                Vec::new()
            } else {
                body
            };
            Generated {
                method,
                target,
                http10,
                headers,
                body,
                framed,
            }
        })
}

fn peer() -> std::net::SocketAddr {
    "127.0.0.1:9".parse().unwrap()
}

/// Parses the head and decodes the body in one go.
fn parse_whole(bytes: &[u8]) -> (reactor::Request, usize, Vec<u8>, usize) {
    let limits = Limits::default();
    let (req, used) = parse_head(bytes, &limits, peer())
        .expect("valid request")
        .expect("complete head");
    let mut decoder = BodyDecoder::new(req.framing(), limits.max_body);
    let mut body = Vec::new();
    let n = decoder
        .decode(&bytes[used..], &mut body)
        .expect("valid body");
    assert!(decoder.is_done());
    (req, used, body, n)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn serialize_then_parse_round_trips(g in request()) {
        let (bytes, head, end) = g.serialize();
        let (req, used, body, n) = parse_whole(&bytes);
        prop_assert_eq!(used, head);
        prop_assert_eq!(head + n, end, "the body ends where it was written to end");
        prop_assert_eq!(&req.method, &g.method);
        prop_assert_eq!(&req.target, &g.target);
        prop_assert_eq!(req.version, if g.http10 { Version::Http10 } else { Version::Http11 });
        prop_assert_eq!(req.framing(), g.framing());
        prop_assert_eq!(req.keep_alive(), !g.http10);
        let fields: Vec<(String, Vec<u8>)> = req
            .headers
            .iter()
            .filter(|h| !reserved(&h.name))
            .map(|h| (h.name.clone(), h.value.clone()))
            .collect();
        let want: Vec<(String, Vec<u8>)> = g
            .headers
            .iter()
            .map(|(n, v)| (n.clone(), v.clone().into_bytes()))
            .collect();
        prop_assert_eq!(fields, want);
        prop_assert_eq!(body, g.body);
    }

    #[test]
    fn any_split_parses_like_the_whole(
        g in request(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let (bytes, head, end) = g.serialize();
        let bytes = &bytes[..end];
        let (whole, used, whole_body, n) = parse_whole(bytes);
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
        points.push(bytes.len());
        points.sort_unstable();
        points.dedup();

        // As the connection does: a fresh parse of everything buffered after each piece;
        // nothing until the head is complete, then the same request.
        let limits = Limits::default();
        let mut parsed = None;
        let mut start = 0;
        for &p in &points {
            match parse_head(&bytes[..p], &limits, peer()).expect("a prefix is never refused") {
                None => prop_assert!(p < head, "prefix of {p} bytes with the whole head unparsed"),
                Some((req, u)) => {
                    prop_assert_eq!(u, used);
                    parsed = Some(req);
                    start = p;
                    break;
                }
            }
        }
        let req = parsed.expect("the head parses once all of it is there");
        prop_assert_eq!(&req.method, &whole.method);
        prop_assert_eq!(&req.target, &whole.target);
        prop_assert_eq!(req.framing(), whole.framing());
        prop_assert_eq!(req.headers.len(), whole.headers.len());

        // The body, fed piece by piece: first what was buffered behind the head, then
        // each later piece as it arrives.
        let mut bounds = vec![used, start];
        bounds.extend(points.iter().copied().filter(|&p| p > start));
        bounds.push(bytes.len());
        bounds.dedup();
        let mut decoder = BodyDecoder::new(req.framing(), limits.max_body);
        let mut body = Vec::new();
        let mut consumed = 0;
        for w in bounds.windows(2) {
            let k = decoder.decode(&bytes[w[0]..w[1]], &mut body).expect("valid body");
            prop_assert_eq!(k, w[1] - w[0], "the body ends where the bytes end");
            consumed += k;
        }
        prop_assert!(decoder.is_done());
        prop_assert_eq!(consumed, n);
        prop_assert_eq!(body, whole_body);
    }
}
