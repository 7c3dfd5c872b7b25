//! A request body on an HTTP/2 stream that a handler takes as a stream
//! ([`crate::Handler::streams_body`]). DATA is handed to the handler's [`BodySink`] while
//! it wants data; what it does not take yet waits here, and its flow-control window is
//! returned to the client only once the sink has taken it, so the client can never send
//! more than one stream window ahead of a slow sink (the HTTP/2 form of "stop reading").

use std::collections::VecDeque;

use crate::request_body::{BodyError, BodySink};

/// The body of one stream on its way to a handler's sink.
#[derive(Default)]
pub(crate) struct Inbound {
    sink: Option<Box<dyn BodySink>>,
    /// DATA the sink has not taken yet.
    held: VecDeque<Vec<u8>>,
    /// END_STREAM has arrived.
    complete: bool,
    /// The sink was told how the body ended (or the handler never took it).
    over: bool,
}

impl Inbound {
    /// The handler's sink: what arrived before it is handed over on the next feed.
    pub fn set_sink(&mut self, sink: Box<dyn BodySink>) {
        if self.over {
            let mut sink = sink;
            sink.end(Err(ANSWERED));
        } else {
            self.sink = Some(sink);
        }
    }

    /// Whether a sink is taking the body, or will when it arrives.
    pub fn has_sink(&self) -> bool {
        self.sink.is_some()
    }

    /// A DATA frame's payload. Returns the bytes to give back to the flow-control window
    /// at once (all of them once nobody will take the body).
    pub fn data(&mut self, data: Vec<u8>, end_stream: bool) -> usize {
        self.complete |= end_stream;
        if self.over {
            return data.len();
        }
        if !data.is_empty() {
            self.held.push_back(data);
        }
        0
    }

    /// Hands held DATA to the sink while it wants data, and ends it once END_STREAM has
    /// arrived and everything was taken. Returns the bytes taken (window to give back).
    pub fn feed(&mut self) -> usize {
        let Some(sink) = self.sink.as_mut() else {
            return 0;
        };
        let mut taken = 0;
        while !self.held.is_empty() {
            if !sink.wants_data() {
                return taken;
            }
            if let Some(chunk) = self.held.pop_front() {
                sink.data(&chunk);
                taken += chunk.len();
            }
        }
        if self.complete {
            sink.end(Ok(()));
            self.sink = None;
            self.over = true;
        }
        taken
    }

    /// Nobody will take the rest of the body (the handler answered without a sink, or
    /// before the body was over): the sink, if any, learns it; DATA still arriving is
    /// dropped. Returns the held bytes (window to give back).
    pub fn abandon(&mut self) -> usize {
        if let Some(mut sink) = self.sink.take() {
            sink.end(Err(ANSWERED));
        }
        self.over = true;
        self.held.drain(..).map(|c| c.len()).sum()
    }

    /// True while the sink has taken everything and more must come from the client.
    pub fn awaits_client(&self) -> bool {
        self.sink.is_some() && self.held.is_empty() && !self.complete
    }

    /// True once END_STREAM has arrived.
    pub fn is_complete(&self) -> bool {
        self.complete
    }
}

const ANSWERED: BodyError = BodyError {
    status: 0,
    detail: "answered before the body was read",
};

impl Drop for Inbound {
    /// A stream reset, or a connection gone, before the body was over.
    fn drop(&mut self) {
        if let Some(mut sink) = self.sink.take() {
            sink.end(Err(BodyError {
                status: 0,
                detail: "the client went away mid-body",
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// What a sink saw: the bytes, how the body ended, and whether it wants data.
    type Record = (Vec<u8>, Option<Result<(), BodyError>>, bool);

    /// Records what a sink saw; wants data only while the flag is set.
    #[derive(Clone, Default)]
    struct Seen(Arc<Mutex<Record>>);

    impl BodySink for Seen {
        fn data(&mut self, chunk: &[u8]) {
            self.0.lock().unwrap().0.extend_from_slice(chunk);
        }
        fn wants_data(&mut self) -> bool {
            self.0.lock().unwrap().2
        }
        fn end(&mut self, result: Result<(), BodyError>) {
            self.0.lock().unwrap().1 = Some(result);
        }
    }

    #[test]
    fn holds_data_until_the_sink_wants_it() {
        let seen = Seen::default();
        let mut body = Inbound::default();
        assert_eq!(body.data(b"ab".to_vec(), false), 0);
        body.set_sink(Box::new(seen.clone()));
        assert_eq!(body.feed(), 0, "the sink does not want data yet");
        seen.0.lock().unwrap().2 = true;
        assert_eq!(body.feed(), 2);
        assert_eq!(body.data(b"cd".to_vec(), true), 0);
        assert_eq!(body.feed(), 2);
        let s = seen.0.lock().unwrap();
        assert_eq!((&s.0[..], s.1), (&b"abcd"[..], Some(Ok(()))));
    }

    #[test]
    fn a_cut_body_is_an_error_never_a_short_success() {
        let seen = Seen::default();
        seen.0.lock().unwrap().2 = true;
        let mut body = Inbound::default();
        body.set_sink(Box::new(seen.clone()));
        body.data(b"ab".to_vec(), false);
        body.feed();
        drop(body); // reset, or the connection went away
        assert!(matches!(seen.0.lock().unwrap().1, Some(Err(e)) if e.status == 0));
    }

    #[test]
    fn abandoned_bodies_are_dropped_and_their_window_returned() {
        let seen = Seen::default();
        let mut body = Inbound::default();
        body.set_sink(Box::new(seen.clone()));
        body.data(b"abc".to_vec(), false);
        assert_eq!(body.abandon(), 3);
        assert_eq!(body.data(b"de".to_vec(), true), 2);
        assert!(matches!(seen.0.lock().unwrap().1, Some(Err(_))));
        assert!(seen.0.lock().unwrap().0.is_empty());
    }
}
