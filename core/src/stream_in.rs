//! The connection's side of a streamed request body ([`crate::request_body`]): the body's
//! de-framing and the handler's sink, fed from the read buffer while the sink wants data.

use crate::body::BodyDecoder;
use crate::parse::HttpError;
use crate::request::Framing;
use crate::request_body::{BodyError, BodySink};

/// A body being read into a sink (the sink comes once the handler has taken it).
pub(crate) struct StreamIn {
    decoder: BodyDecoder,
    sink: Option<Box<dyn BodySink>>,
}

/// What feeding the sink came to.
pub(crate) enum Fed {
    /// Some body went to the sink; more is to come.
    More,
    /// The whole body went to the sink, which has been told so.
    Done,
    /// The framing is broken; the sink has been told so.
    Bad(HttpError),
}

impl StreamIn {
    /// A body with `framing`, which no limit but the handler's bounds.
    pub fn new(framing: Framing) -> Self {
        StreamIn {
            decoder: BodyDecoder::new(framing, u64::MAX),
            sink: None,
        }
    }

    /// The handler's sink.
    pub fn set_sink(&mut self, sink: Box<dyn BodySink>) {
        self.sink = Some(sink);
    }

    /// True once a handler has taken the body.
    pub fn has_sink(&self) -> bool {
        self.sink.is_some()
    }

    /// True while the sink wants no data (reading stops; its waker resumes it).
    pub fn paused(&mut self) -> bool {
        !self.sink.as_mut().is_some_and(|s| s.wants_data())
    }

    /// Passes the body bytes at the start of `input` to the sink; returns how many input
    /// bytes were used and what came of it.
    pub fn feed(&mut self, input: &[u8]) -> (usize, Fed) {
        let mut chunk = Vec::new();
        let used = match self.decoder.decode(input, &mut chunk) {
            Ok(n) => n,
            Err(e) => {
                self.end(Err(BodyError {
                    status: e.status,
                    detail: e.detail,
                }));
                return (0, Fed::Bad(e));
            }
        };
        if let (false, Some(sink)) = (chunk.is_empty(), self.sink.as_mut()) {
            sink.data(&chunk);
        }
        if self.decoder.is_done() {
            self.end(Ok(()));
            return (used, Fed::Done);
        }
        (used, Fed::More)
    }

    /// Tells the sink how the body ended (once; later calls do nothing).
    pub fn end(&mut self, result: Result<(), BodyError>) {
        if let Some(mut sink) = self.sink.take() {
            sink.end(result);
        }
    }
}
