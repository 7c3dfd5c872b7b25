//! Messages from other threads (the blocking pool, responders, stream producers) to one
//! reactor, delivered through a queue plus the reactor's `mio::Waker`.

use std::sync::{Arc, Mutex};

use crate::handler::Mailbox;
pub use crate::handler::{ConnRef, ReactorHandle, Task};
use crate::response::Response;

pub(crate) enum Msg {
    /// A deferred reply: a response, or `None` to try the next handler.
    Reply(ConnRef, Option<Response>),
    /// An interim (`1xx`) response ahead of a deferred reply.
    Interim(ConnRef, Response),
    /// A sendfile job for a file body finished.
    Sent(ConnRef, crate::sendfile::Sent),
    /// A pool job read the next chunk of a file body (for transports without sendfile).
    FileChunk(ConnRef, std::io::Result<Vec<u8>>),
    /// A streamed body has data, ended or was aborted; or an upgraded connection was woken.
    Stream(ConnRef),
    /// A pool job read part of a file body for an HTTP/2 stream (`ConnRef::stream`).
    Read(ConnRef, std::io::Result<Vec<u8>>),
    /// Run a closure on the reactor.
    Run(Task),
}

/// The queue into one reactor.
pub(crate) struct Notifier {
    queue: Mutex<Vec<Msg>>,
    waker: mio::Waker,
}

impl Notifier {
    pub(crate) fn new(waker: mio::Waker) -> Arc<Self> {
        Arc::new(Notifier {
            queue: Mutex::new(Vec::new()),
            waker,
        })
    }

    /// Queues `msg`, waking the reactor if the queue was empty.
    pub(crate) fn send(&self, msg: Msg) {
        let was_empty = match self.queue.lock() {
            Ok(mut q) => {
                q.push(msg);
                q.len() == 1
            }
            Err(_) => return,
        };
        if was_empty {
            if let Err(e) = self.waker.wake() {
                log::error!("cannot wake reactor: {e}");
            }
        }
    }

    /// Wakes the reactor without a message (it then checks its stop flag).
    pub(crate) fn wake(&self) {
        let _ = self.waker.wake();
    }

    /// Takes every queued message.
    pub(crate) fn drain(&self, into: &mut Vec<Msg>) {
        if let Ok(mut q) = self.queue.lock() {
            std::mem::swap(&mut *q, into);
        }
    }
}

impl Mailbox for Notifier {
    fn reply(&self, conn: ConnRef, reply: Option<Response>) {
        self.send(Msg::Reply(conn, reply));
    }

    fn interim(&self, conn: ConnRef, response: Response) {
        self.send(Msg::Interim(conn, response));
    }

    fn run(&self, task: Task) {
        self.send(Msg::Run(task));
    }

    fn wake(&self, conn: ConnRef) {
        self.send(Msg::Stream(conn));
    }
}
