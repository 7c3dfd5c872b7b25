//! Reading the request body: whole into the request before dispatch (the usual case), or
//! chunk by chunk into a handler's sink after dispatch (a streamed body).

use crate::body::BodyDecoder;
use crate::body_budget::{ceiling, Reservation, STEP};
use crate::h1;
use crate::handler::busy;
use crate::parse::HttpError;
use crate::request::{Framing, Request};
use crate::request_body::BodyError;
use crate::stream_in::{Fed, StreamIn};

use super::{Conn, Env, Phase};

impl Conn {
    pub(super) fn begin_request(&mut self, env: &mut Env<'_>, mut req: Box<Request>) {
        req.tls = self.transport.tls_info();
        self.keep_alive = req.keep_alive;
        self.unread_request = false;
        let framing = req.framing;
        let streams = framing != Framing::None && env.shared.chain.streams_body(&req);
        let max_body = env.shared.config.limits.max_body;
        let too_large = matches!(framing, Framing::Length(n) if n > max_body) && !streams;
        // A body to read whole holds a share of the budget from the start (a step, or its
        // length if shorter), so that one past it is refused before the client sends it
        // (or gets 100 Continue).
        self.body_held = None;
        let mut over_budget = false;
        if framing != Framing::None && !streams && !too_large {
            let mut held = Reservation::new(&env.shared.body_budget);
            let ceiling = body_ceiling(framing, max_body);
            over_budget = !held.cover(ceiling.min(STEP), ceiling);
            self.body_held = Some(held);
        }
        // A streamed body's 100 Continue waits for a handler to take the body (see
        // `dispatch`): a handler that refuses at once spares the client sending it.
        if req.expect_continue && self.input.is_empty() && !too_large && !over_budget && !streams {
            self.out.push(h1::CONTINUE.to_vec());
        }
        self.current = Some(req);
        if too_large {
            self.fail(env, HttpError::new(413, "request body too large"));
            return;
        }
        if over_budget {
            return self.over_budget(env);
        }
        self.phase = if framing == Framing::None {
            Phase::Dispatch(0)
        } else {
            self.deadline = Some(env.now + env.shared.config.timeouts.body);
            if streams {
                self.stream = Some(Box::new(StreamIn::new(framing)));
                Phase::Dispatch(0)
            } else {
                Phase::Body(BodyDecoder::new(framing, max_body))
            }
        };
    }

    pub(super) fn read_body(&mut self, env: &mut Env<'_>) -> Result<bool, ()> {
        // The 100 Continue interim response goes out before we wait for the body.
        if self.out.queued() > 0 {
            self.out.flush(&mut self.transport)?;
        }
        let Phase::Body(decoder) = &mut self.phase else {
            return Ok(false);
        };
        let (Some(req), Some(held)) = (self.current.as_mut(), self.body_held.as_mut()) else {
            return Err(());
        };
        if !self.input.is_empty() {
            // The body grows by at most what was read: the budget must cover that first.
            let ceiling = body_ceiling(req.framing, env.shared.config.limits.max_body);
            let needed = req.body.len().saturating_add(self.input.data().len());
            if !held.cover(needed.min(ceiling), ceiling) {
                self.over_budget(env);
                return Ok(true);
            }
            match decoder.decode(self.input.data(), &mut req.body) {
                Ok(n) => self.input.consume(n),
                Err(e) => {
                    self.fail(env, e);
                    return Ok(true);
                }
            }
        }
        if decoder.is_done() {
            self.phase = Phase::Dispatch(0);
            return Ok(true);
        }
        let got = self.fill(env)?;
        if got {
            self.deadline = Some(env.now + env.shared.config.timeouts.body);
        }
        Ok(got)
    }

    /// The body budget cannot cover this request's body: 503 with `Retry-After`, and the
    /// connection closes after it (what the budget held goes back once it is sent).
    fn over_budget(&mut self, env: &mut Env<'_>) {
        log::info!("{}: 503 request bodies over --max-body-memory", self.peer);
        self.refuse(env, busy());
    }

    /// Reads a streamed body into the handler's sink, while the sink wants data.
    pub(super) fn read_stream(&mut self, env: &mut Env<'_>, index: usize) -> Result<bool, ()> {
        if self.out.queued() > 0 {
            self.out.flush(&mut self.transport)?; // 100 Continue
        }
        let Some(stream) = self.stream.as_mut() else {
            return Err(());
        };
        if stream.paused() {
            self.deadline = None;
            return Ok(false);
        }
        if !self.input.is_empty() {
            let (used, fed) = stream.feed(self.input.data());
            self.input.consume(used);
            match fed {
                Fed::More => return Ok(true),
                Fed::Done => {
                    self.stream = None;
                    self.phase = Phase::Waiting(index);
                    self.deadline = None;
                    return Ok(false);
                }
                Fed::Bad(e) => {
                    self.stream = None;
                    self.fail(env, e);
                    return Ok(true);
                }
            }
        }
        let got = self.fill(env);
        self.deadline = Some(env.now + env.shared.config.timeouts.body);
        if got.is_err() {
            self.end_stream(Err(BodyError {
                status: 0,
                detail: "the client went away mid-body",
            }));
        }
        got
    }

    /// Tells the sink how its body ended; the stream is over.
    pub(super) fn end_stream(&mut self, result: Result<(), BodyError>) {
        if let Some(mut stream) = self.stream.take() {
            stream.end(result);
        }
    }

    /// An answer came before a streamed body was read: the rest stays unread (the
    /// connection closes after the answer).
    pub(super) fn abandon_stream(&mut self) {
        if self.stream.is_some() {
            self.end_stream(Err(BodyError {
                status: 0,
                detail: "answered before the body was read",
            }));
            self.keep_alive = false;
            self.unread_request = true;
        }
    }
}

/// The longest a body with `framing` can be.
fn body_ceiling(framing: Framing, max_body: u64) -> usize {
    let declared = match framing {
        Framing::Length(n) => Some(n),
        _ => None,
    };
    ceiling(declared, max_body)
}
