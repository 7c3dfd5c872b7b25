//! Streamed response bodies: a [`BodySender`] a producer feeds from any thread, and the
//! [`StreamReceiver`] the connection drains, with high/low water marks for backpressure.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// Queued bytes above which a producer is asked to pause.
pub const STREAM_HIGH_WATER: usize = 256 * 1024;
/// Queued bytes below which a paused producer is resumed.
pub const STREAM_LOW_WATER: usize = 64 * 1024;

type ResumeFn = Box<dyn FnMut() + Send>;
/// Tells the connection that a stream has news (data, end, abort).
pub(crate) type WakeFn = Arc<dyn Fn() + Send + Sync>;

#[derive(Default)]
pub(crate) struct StreamState {
    pub(crate) queue: VecDeque<Vec<u8>>,
    pub(crate) queued: usize,
    pub(crate) finished: bool,
    pub(crate) aborted: bool,
    paused: bool,
    resume: Option<ResumeFn>,
    pub(crate) wake: Option<WakeFn>,
}

/// The receiving end of a streamed body, owned by the connection.
pub struct StreamReceiver {
    pub(crate) shared: Arc<Mutex<StreamState>>,
    pub(crate) len: Option<u64>,
}

impl StreamReceiver {
    /// Takes up to the queued bytes; calls the producer's resume hook when the queue falls
    /// under the low-water mark. Returns the data and whether the stream ended
    /// (`Some(true)` finished, `Some(false)` aborted, `None` still open).
    pub(crate) fn take(&self, out: &mut Vec<u8>) -> Option<bool> {
        let mut resume = None;
        let state = {
            let Ok(mut s) = self.shared.lock() else {
                return Some(false);
            };
            while let Some(chunk) = s.queue.pop_front() {
                s.queued -= chunk.len();
                if out.is_empty() {
                    *out = chunk;
                } else {
                    out.extend_from_slice(&chunk);
                }
                if out.len() >= STREAM_LOW_WATER {
                    break;
                }
            }
            if s.paused && s.queued < STREAM_LOW_WATER {
                s.paused = false;
                resume = s.resume.take();
            }
            match (s.aborted, s.finished && s.queue.is_empty()) {
                (true, _) => Some(false),
                (_, true) => Some(true),
                _ => None,
            }
        };
        if let Some(mut f) = resume {
            // The hook is a plugin's code: a panic in it ends this stream, nothing more.
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(&mut f)).is_err() {
                log::error!("a stream's resume hook panicked; aborting the stream");
                return Some(false);
            }
            if let Ok(mut s) = self.shared.lock() {
                s.resume.get_or_insert(f);
            }
        }
        state
    }

    pub(crate) fn attach(&self, wake: WakeFn) {
        if let Ok(mut s) = self.shared.lock() {
            s.wake = Some(wake);
        }
    }
}

impl Drop for StreamReceiver {
    fn drop(&mut self) {
        if let Ok(mut s) = self.shared.lock() {
            s.aborted = true;
            s.queue.clear();
            s.wake = None;
        }
    }
}

/// Whether a producer may keep sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep going.
    Continue,
    /// The client is slow: stop until the resume hook is called.
    Pause,
}

/// The producing end of a streamed body. Usable from any thread.
pub struct BodySender {
    shared: Arc<Mutex<StreamState>>,
}

/// The body can no longer be sent (the client went away).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

impl BodySender {
    /// Queues `data`. `Flow::Pause` means the queue is over the high-water mark: wait for
    /// the resume hook (see [`BodySender::on_resume`]) before sending more.
    pub fn send(&self, data: Vec<u8>) -> Result<Flow, Closed> {
        let mut s = self.shared.lock().map_err(|_| Closed)?;
        if s.aborted {
            return Err(Closed);
        }
        if !data.is_empty() {
            s.queued += data.len();
            s.queue.push_back(data);
        }
        let flow = if s.queued >= STREAM_HIGH_WATER {
            s.paused = true;
            Flow::Pause
        } else {
            Flow::Continue
        };
        wake(&s);
        Ok(flow)
    }

    /// Sets the hook called (on the reactor thread) when a paused stream may resume.
    pub fn on_resume(&self, f: impl FnMut() + Send + 'static) {
        if let Ok(mut s) = self.shared.lock() {
            s.resume = Some(Box::new(f));
        }
    }

    /// True once the client has gone away.
    pub fn is_closed(&self) -> bool {
        self.shared.lock().map_or(true, |s| s.aborted)
    }

    /// Ends the body normally.
    pub fn finish(self) {
        if let Ok(mut s) = self.shared.lock() {
            s.finished = true;
            wake(&s);
        }
    }

    /// Ends the body as broken: the client connection is closed without completing it,
    /// so the client can tell the body is truncated.
    pub fn abort(self) {
        if let Ok(mut s) = self.shared.lock() {
            s.aborted = true;
            wake(&s);
        }
    }
}

impl Drop for BodySender {
    fn drop(&mut self) {
        if let Ok(mut s) = self.shared.lock() {
            if !s.finished {
                s.aborted = true;
                wake(&s);
            }
        }
    }
}

fn wake(s: &StreamState) {
    if let Some(wake) = &s.wake {
        wake();
    }
}

/// A connected receiver and sender; `len` is the body's length if known.
pub(crate) fn channel(len: Option<u64>) -> (StreamReceiver, BodySender) {
    let shared = Arc::new(Mutex::new(StreamState::default()));
    let rx = StreamReceiver {
        shared: shared.clone(),
        len,
    };
    (rx, BodySender { shared })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::response::{Body, Part};

    #[test]
    fn stream_backpressure() {
        let (body, tx) = Body::stream(None);
        let Some(Part::Stream(rx)) = body.front() else {
            panic!()
        };
        let resumed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let r2 = resumed.clone();
        tx.on_resume(move || r2.store(true, std::sync::atomic::Ordering::SeqCst));
        assert_eq!(tx.send(vec![0; STREAM_HIGH_WATER]).unwrap(), Flow::Pause);
        let mut out = Vec::new();
        assert_eq!(rx.take(&mut out), None);
        assert_eq!(out.len(), STREAM_HIGH_WATER);
        assert!(resumed.load(std::sync::atomic::Ordering::SeqCst));
        tx.finish();
        out.clear();
        assert_eq!(rx.take(&mut out), Some(true));
    }
}
