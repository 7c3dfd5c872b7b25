//! The write side of a connection: response bytes queued in order, written with `writev`,
//! and body parts turned into bytes as the socket takes them (files by `sendfile(2)` on
//! the pool, streams with backpressure). A partial write keeps a cursor; it is never an
//! error.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::sync::Arc;

use crate::h1;
use crate::handler::ConnRef;
use crate::notify::{Msg, Notifier};
use crate::pool::Pool;
use crate::response::{Body, Part, STREAM_LOW_WATER};
use crate::sendfile::{self, Sent};
use crate::transport::Transport;

/// Bodies this small are copied next to the head so both go in one buffer.
const COALESCE: usize = 4 * 1024;
/// A file body over a transport without sendfile (TLS) is read in chunks this big, one
/// chunk in flight and one queued at most.
pub(crate) const FILE_CHUNK: usize = 64 * 1024;
/// Answers are joined into one buffer up to this size (a batch of pipelined answers).
pub(crate) const JOIN_LIMIT: usize = 64 * 1024;
/// Most buffers handed to one `writev` (answers to pipelined requests add up).
const MAX_SLICES: usize = 64;

/// Bytes ready to be written.
pub(crate) enum Chunk {
    Owned(Vec<u8>),
    Shared(Arc<[u8]>),
}

impl Chunk {
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Chunk::Owned(v) => v,
            Chunk::Shared(s) => s,
        }
    }
}

/// Progress through the file part at the front of the body.
#[derive(Default)]
struct FileSend {
    sent: u64,
    in_flight: bool,
    /// `writable_events` when the job was queued.
    marker: u32,
}

/// What the output can do next.
pub(crate) enum Refill {
    /// More bytes were queued: flush again.
    More,
    /// Waiting for the socket, a pool job or a producer.
    Wait,
    /// The whole response is queued.
    Done,
}

/// What a pool job needs to report back to the connection.
pub(crate) struct Jobs<'a> {
    pub pool: &'a Pool,
    pub notifier: &'a Arc<Notifier>,
    pub conn: ConnRef,
    pub peer: SocketAddr,
}

/// The queued response of one connection.
#[derive(Default)]
pub(crate) struct Output {
    ready: VecDeque<Chunk>,
    ready_pos: usize,
    ready_bytes: usize,
    pending: VecDeque<Part>,
    file: FileSend,
    chunked: bool,
    /// Body bytes queued so far for the current response (for the access log).
    pub body_sent: u64,
    /// A written buffer kept for the next head (see [`Output::take_spare`]).
    spare: Option<Vec<u8>>,
}

impl Output {
    /// Queues bytes to go out before anything queued later.
    pub fn push(&mut self, bytes: Vec<u8>) {
        self.push_chunk(Chunk::Owned(bytes));
    }

    fn push_chunk(&mut self, chunk: Chunk) {
        if self.ready.capacity() == 0 {
            self.ready = crate::spare::write_queue();
        }
        self.ready_bytes += chunk.bytes().len();
        self.ready.push_back(chunk);
    }

    /// For a connection going idle: lends its (empty) write queue to the next connection
    /// on this thread, so that an idle connection holds no allocation.
    pub fn release_queue(&mut self) {
        if self.ready.is_empty() {
            crate::spare::give_write_queue(std::mem::take(&mut self.ready));
        }
    }

    /// Bytes queued and not yet written.
    pub fn queued(&self) -> usize {
        self.ready_bytes
    }

    /// A buffer that has been written out, for the connection to recycle.
    pub fn take_spare(&mut self) -> Option<Vec<u8>> {
        self.spare.take()
    }

    /// True when the current response is queued whole as bytes (no file, stream or other
    /// part still to come): it can wait in the queue for the next one.
    pub fn is_whole(&self) -> bool {
        self.pending.is_empty() && !self.file.in_flight
    }

    /// True while a pool job writes a file region to the socket.
    pub fn file_in_flight(&self) -> bool {
        self.file.in_flight
    }

    /// The buffer to encode the next head into: the bytes queued last, while they are
    /// short of [`JOIN_LIMIT`] (the answers to pipelined requests then build up in one
    /// buffer, each copied once; the last may take it a little past the limit), or else
    /// `fresh()`. Give it back through [`Output::start`].
    pub fn head_buffer(&mut self, fresh: impl FnOnce() -> Vec<u8>) -> Vec<u8> {
        // The front buffer may be partly written: it stays where it is.
        let movable = self.ready.len() > 1 || self.ready_pos == 0;
        if let Some(Chunk::Owned(last)) = self.ready.back_mut() {
            if movable && last.len() < JOIN_LIMIT {
                let mut last = std::mem::take(last);
                self.ready.pop_back();
                self.ready_bytes -= last.len();
                if last.capacity() - last.len() < COALESCE {
                    // Once to the most a batch holds, rather than doubling every answer.
                    last.reserve((JOIN_LIMIT - last.len()).max(COALESCE));
                }
                return last;
            }
        }
        fresh()
    }

    /// Starts a response: its encoded `head`, then `body` (when `plan` says it is sent).
    /// In-memory parts at the front of the body join the head in the first `writev`.
    pub fn start(&mut self, head: Vec<u8>, mut body: Body, plan: h1::Plan, jobs: &Jobs<'_>) {
        self.pending.clear();
        self.file = FileSend::default();
        self.chunked = plan.chunked;
        self.body_sent = 0;
        // The head, until a part too big to copy into it goes after it.
        let mut head = Some(head);
        if plan.with_body {
            for part in body.drain() {
                let in_order = self.pending.is_empty();
                let chunk = match part {
                    Part::Bytes(b) if in_order => Chunk::Owned(b),
                    Part::Shared(b) if in_order => Chunk::Shared(b),
                    Part::Stream(s) => {
                        let (notifier, conn) = (jobs.notifier.clone(), jobs.conn);
                        s.attach(Arc::new(move || notifier.send(Msg::Stream(conn))));
                        self.pending.push_back(Part::Stream(s));
                        continue;
                    }
                    other => {
                        self.pending.push_back(other);
                        continue;
                    }
                };
                let bytes = chunk.bytes();
                self.body_sent += bytes.len() as u64;
                match head.as_mut() {
                    Some(h) if bytes.len() <= COALESCE => h.extend_from_slice(bytes),
                    _ => {
                        if let Some(h) = head.take() {
                            self.push(h);
                        }
                        self.push_chunk(chunk);
                    }
                }
            }
        }
        if let Some(h) = head {
            self.push(h);
        }
    }

    /// Writes queued bytes. Ok(true): all written; Ok(false): the socket is full.
    pub fn flush(&mut self, t: &mut Transport) -> Result<bool, ()> {
        while !self.ready.is_empty() {
            if !t.writable {
                return Ok(false);
            }
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            let mut n = 0;
            for (i, chunk) in self.ready.iter().take(MAX_SLICES).enumerate() {
                let bytes = chunk.bytes();
                slices[n] = IoSlice::new(if i == 0 {
                    &bytes[self.ready_pos..]
                } else {
                    bytes
                });
                n += 1;
            }
            let asked: usize = slices[..n].iter().map(|s| s.len()).sum();
            match t.write_vectored(&slices[..n]) {
                Ok(0) => return Err(()),
                Ok(written) => {
                    // A short write means the socket buffer is full: wait for the
                    // writable edge rather than make a write that says WouldBlock.
                    if written < asked {
                        t.writable = false;
                    }
                    self.advance(written);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    t.writable = false;
                    return Ok(false);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(()),
            }
        }
        Ok(true)
    }

    fn advance(&mut self, mut written: usize) {
        self.ready_bytes -= written;
        while written > 0 {
            let Some(front) = self.ready.front() else {
                break;
            };
            let left = front.bytes().len() - self.ready_pos;
            if written >= left {
                written -= left;
                if let Some(Chunk::Owned(buf)) = self.ready.pop_front() {
                    // The bigger one is kept: it can hold the next batch of answers.
                    if self
                        .spare
                        .as_ref()
                        .is_none_or(|s| s.capacity() < buf.capacity())
                    {
                        self.spare = Some(buf);
                    }
                }
                self.ready_pos = 0;
            } else {
                self.ready_pos += written;
                written = 0;
            }
        }
    }

    /// Moves the next body part's bytes into the ready queue.
    pub fn refill(&mut self, t: &Transport, jobs: &Jobs<'_>) -> Result<Refill, ()> {
        let Some(part) = self.pending.front_mut() else {
            return Ok(Refill::Done);
        };
        match part {
            Part::Bytes(_) | Part::Shared(_) => {
                let chunk = match self.pending.pop_front() {
                    Some(Part::Bytes(b)) => Chunk::Owned(b),
                    Some(Part::Shared(s)) => Chunk::Shared(s),
                    _ => return Err(()),
                };
                self.body_sent += chunk.bytes().len() as u64;
                self.push_chunk(chunk);
                Ok(Refill::More)
            }
            Part::File(region) => {
                if self.file.in_flight {
                    return Ok(Refill::Wait);
                }
                if self.file.sent >= region.len {
                    self.pending.pop_front();
                    self.file = FileSend::default();
                    return Ok(Refill::More);
                }
                if !t.can_sendfile() {
                    return Ok(self.read_file_chunk(jobs));
                }
                // Bytes queued before the file go first; then the socket must have room.
                if !self.ready.is_empty() || !t.writable {
                    return Ok(Refill::Wait);
                }
                let sock = match sendfile::dup_socket(t) {
                    Ok(fd) => fd,
                    Err(e) => {
                        log::error!("{}: cannot duplicate socket: {e}", jobs.peer);
                        return Err(());
                    }
                };
                let file = region.file.clone();
                let offset = region.offset + self.file.sent;
                let count = region.len - self.file.sent;
                let (notifier, conn) = (jobs.notifier.clone(), jobs.conn);
                self.file.in_flight = true;
                self.file.marker = t.writable_events;
                jobs.pool.execute(move || {
                    let sent = sendfile::send(&sock, &file, offset, count);
                    drop(sock);
                    notifier.send(Msg::Sent(conn, sent));
                });
                Ok(Refill::Wait)
            }
            Part::Stream(_) if self.ready_bytes >= STREAM_LOW_WATER => Ok(Refill::Wait),
            Part::Stream(rx) => {
                let mut data = Vec::new();
                let state = rx.take(&mut data);
                let got = !data.is_empty();
                if got {
                    self.body_sent += data.len() as u64;
                    if self.chunked {
                        self.push(h1::chunk_start(data.len()));
                        data.extend_from_slice(b"\r\n");
                    }
                    self.push(data);
                }
                match state {
                    Some(true) => {
                        if self.chunked {
                            self.push(h1::LAST_CHUNK.to_vec());
                        }
                        self.pending.pop_front();
                        Ok(Refill::More)
                    }
                    Some(false) => {
                        log::warn!("{}: streamed body aborted; closing", jobs.peer);
                        Err(())
                    }
                    None if got => Ok(Refill::More),
                    None => Ok(Refill::Wait),
                }
            }
        }
    }

    /// Starts a pool job reading the next chunk of the file part at the front, unless
    /// enough is queued already (backpressure: one chunk queued, one being read).
    fn read_file_chunk(&mut self, jobs: &Jobs<'_>) -> Refill {
        let Some(Part::File(region)) = self.pending.front() else {
            return Refill::Wait;
        };
        if self.ready_bytes >= FILE_CHUNK {
            return Refill::Wait;
        }
        let file = region.file.clone();
        let offset = region.offset + self.file.sent;
        let len = (region.len - self.file.sent).min(FILE_CHUNK as u64) as usize;
        let (notifier, conn) = (jobs.notifier.clone(), jobs.conn);
        self.file.in_flight = true;
        jobs.pool.execute(move || {
            let chunk = sendfile::read_chunk(&file, offset, len);
            notifier.send(Msg::FileChunk(conn, chunk));
        });
        Refill::Wait
    }

    /// A chunk of the file part at the front arrived from the pool. Err: the connection
    /// must close (the file could not be read, or it is shorter than announced).
    pub fn file_read(&mut self, chunk: io::Result<Vec<u8>>, peer: SocketAddr) -> Result<(), ()> {
        self.file.in_flight = false;
        match chunk {
            Ok(bytes) if !bytes.is_empty() => {
                self.file.sent += bytes.len() as u64;
                self.body_sent += bytes.len() as u64;
                self.push(bytes);
                Ok(())
            }
            Ok(_) => {
                log::warn!("{peer}: file shorter than expected; closing");
                Err(())
            }
            Err(e) => {
                log::warn!("{peer}: reading file body failed: {e}; closing");
                Err(())
            }
        }
    }

    /// A sendfile job finished: returns the bytes it sent, Err when the connection must
    /// close.
    pub fn file_sent(
        &mut self,
        t: &mut Transport,
        sent: Sent,
        peer: SocketAddr,
    ) -> Result<u64, ()> {
        self.file.in_flight = false;
        self.file.sent += sent.bytes;
        self.body_sent += sent.bytes;
        if let Some(e) = sent.error {
            match e.kind() {
                io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe => {
                    log::debug!("{peer}: client went away during a file body")
                }
                _ => log::warn!("{peer}: sending file body failed: {e}; closing"),
            }
            return Err(());
        }
        // Wait for writability only if no writable edge arrived while the job ran.
        if sent.blocked && t.writable_events == self.file.marker {
            t.writable = false;
        }
        Ok(sent.bytes)
    }
}
