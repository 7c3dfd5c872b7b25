//! The WebSocket connection state without I/O: bytes in → events, messages → bytes out.

use std::collections::VecDeque;
use std::fmt;

use ring::rand::{SecureRandom, SystemRandom};

use super::frame::{self, Header, Opcode, MAX_CONTROL, MAX_HEADER};
use super::{close, Error};

/// Which end of the connection this codec is: servers receive masked frames and send
/// unmasked ones; clients the other way round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Accepted the connection.
    Server,
    /// Opened the connection.
    Client,
}

/// Size limits on what the peer sends; going over fails the connection with 1009.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest frame payload accepted (default 1 MiB).
    pub max_frame: u64,
    /// The largest message accepted, all fragments together (default 1 MiB).
    pub max_message: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame: 1 << 20,
            max_message: 1 << 20,
        }
    }
}

/// A complete data message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message (valid UTF-8, checked).
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
}

/// The peer's close frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Close {
    /// Its status code, or [`close::NO_STATUS`] (1005) when it carried none.
    pub code: u16,
    /// Its reason (possibly empty).
    pub reason: String,
}

/// What the peer's bytes amounted to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A complete message (fragments already joined).
    Message(Message),
    /// A ping; the pong has already been queued.
    Ping(Vec<u8>),
    /// A pong (the answer to a ping, or unsolicited).
    Pong(Vec<u8>),
    /// The peer closed. If we had not sent a close frame, the answer (echoing the code) is
    /// queued. No more input is read: flush [`Codec::output`] and close the connection.
    Closed(Close),
    /// The peer broke the protocol. A close frame with the error's code is queued (unless
    /// one was sent already); no more input is read: flush and close.
    Failed(Error),
}

/// Why a message could not be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// A close frame has been sent: nothing may follow it.
    Closing,
    /// A control payload over 125 bytes (a close reason over 123).
    TooLong,
    /// A close code that may not be sent (see [`close::valid_on_wire`]).
    BadCode,
    /// No random masking key could be had (client role only).
    Random,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SendError::Closing => "the websocket is closing",
            SendError::TooLong => "control frame payload too long",
            SendError::BadCode => "close code not allowed on the wire",
            SendError::Random => "no random masking key available",
        })
    }
}

impl std::error::Error for SendError {}

/// A data message being received (fragments so far).
struct Partial {
    text: bool,
    data: Vec<u8>,
    /// How much of `data` is known to be valid UTF-8 (text only).
    valid: usize,
}

impl Partial {
    /// Checks the text received so far; an incomplete character at the end is fine unless
    /// the message is `complete`. Fails fast: the first invalid byte ends the connection.
    fn check_utf8(&mut self, complete: bool) -> Result<(), Error> {
        match std::str::from_utf8(&self.data[self.valid..]) {
            Ok(_) => self.valid = self.data.len(),
            Err(e) if e.error_len().is_none() && !complete => self.valid += e.valid_up_to(),
            Err(_) => return Err(invalid("text message is not valid UTF-8")),
        }
        Ok(())
    }
}

/// Where the receiver is within the current frame.
enum Recv {
    Header,
    Payload { header: Header, done: u64 },
}

fn protocol(reason: &'static str) -> Error {
    Error {
        code: close::PROTOCOL_ERROR,
        reason,
    }
}

fn invalid(reason: &'static str) -> Error {
    Error {
        code: close::INVALID_DATA,
        reason,
    }
}

fn too_big(reason: &'static str) -> Error {
    Error {
        code: close::TOO_BIG,
        reason,
    }
}

/// One WebSocket connection's protocol state (see the [module docs](super)).
///
/// Memory is bounded by the limits: at most one message being assembled
/// ([`Limits::max_message`]), one control payload (125 bytes) and a partial header
/// (14 bytes), plus the events not yet taken and the output not yet written, which the
/// owner drains.
pub struct Codec {
    role: Role,
    limits: Limits,
    head: Vec<u8>,
    recv: Recv,
    message: Option<Partial>,
    control: Vec<u8>,
    out: Vec<u8>,
    out_start: usize,
    events: VecDeque<Event>,
    close_sent: bool,
    done: bool,
    rng: SystemRandom,
}

impl Codec {
    /// A codec for an open connection (after the handshake).
    pub fn new(role: Role, limits: Limits) -> Self {
        Codec {
            role,
            limits,
            head: Vec::with_capacity(MAX_HEADER),
            recv: Recv::Header,
            message: None,
            control: Vec::new(),
            out: Vec::new(),
            out_start: 0,
            events: VecDeque::new(),
            close_sent: false,
            done: false,
            rng: SystemRandom::new(),
        }
    }

    /// Takes bytes read from the peer (any amount, split anywhere). Once the peer closed
    /// or failed ([`Codec::is_done`]), further bytes are ignored.
    pub fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() && !self.done {
            let step = match self.recv {
                Recv::Header => self.read_header(&mut data),
                Recv::Payload { .. } => self.read_payload(&mut data),
            };
            if let Err(e) = step {
                self.fail(e);
            }
        }
    }

    /// The next event, in the order the peer's frames arrived.
    pub fn next_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Bytes waiting to be written to the peer.
    pub fn output(&self) -> &[u8] {
        &self.out[self.out_start..]
    }

    /// Marks `n` bytes of [`Codec::output`] as written.
    pub fn consume(&mut self, n: usize) {
        self.out_start = (self.out_start + n).min(self.out.len());
        if self.out_start == self.out.len() {
            self.out.clear();
            self.out_start = 0;
        }
    }

    /// True once the peer's close frame arrived or the peer broke the protocol: no more
    /// input will be read; write out what is pending and close the connection.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// True once a close frame has been queued (by [`Codec::close`], in answer to the
    /// peer's, or on a protocol error).
    pub fn close_sent(&self) -> bool {
        self.close_sent
    }

    /// Queues a message as one frame.
    pub fn send(&mut self, message: &Message) -> Result<(), SendError> {
        match message {
            Message::Text(s) => self.write(Opcode::Text, s.as_bytes()),
            Message::Binary(b) => self.write(Opcode::Binary, b),
        }
    }

    /// Queues a ping (payload at most 125 bytes).
    pub fn ping(&mut self, payload: &[u8]) -> Result<(), SendError> {
        if payload.len() > MAX_CONTROL {
            return Err(SendError::TooLong);
        }
        self.write(Opcode::Ping, payload)
    }

    /// Starts the close handshake: queues a close frame with `code` and `reason` (at most
    /// 123 bytes). Nothing may be sent after it; the peer's answer arrives as
    /// [`Event::Closed`].
    pub fn close(&mut self, code: u16, reason: &str) -> Result<(), SendError> {
        if !close::valid_on_wire(code) {
            return Err(SendError::BadCode);
        }
        if reason.len() > MAX_CONTROL - 2 {
            return Err(SendError::TooLong);
        }
        let mut payload = code.to_be_bytes().to_vec();
        payload.extend_from_slice(reason.as_bytes());
        self.write(Opcode::Close, &payload)?;
        self.close_sent = true;
        Ok(())
    }

    fn write(&mut self, opcode: Opcode, payload: &[u8]) -> Result<(), SendError> {
        if self.close_sent {
            return Err(SendError::Closing);
        }
        let mask = match self.role {
            Role::Server => None,
            Role::Client => {
                let mut key = [0u8; 4];
                self.rng.fill(&mut key).map_err(|_| SendError::Random)?;
                Some(key)
            }
        };
        frame::encode(true, opcode, payload, mask, &mut self.out);
        Ok(())
    }

    fn fail(&mut self, e: Error) {
        self.done = true;
        self.message = None;
        if !self.close_sent {
            let _ = self.close(e.code, e.reason);
        }
        self.events.push_back(Event::Failed(e));
    }

    fn read_header(&mut self, data: &mut &[u8]) -> Result<(), Error> {
        let old = self.head.len();
        let take = (MAX_HEADER - old).min(data.len());
        self.head.extend_from_slice(&data[..take]);
        match frame::parse_header(&self.head)? {
            None => *data = &data[take..],
            Some((header, used)) => {
                *data = &data[used - old..];
                self.head.clear();
                self.start_frame(header)?;
            }
        }
        Ok(())
    }

    fn start_frame(&mut self, h: Header) -> Result<(), Error> {
        match (self.role, h.mask) {
            (Role::Server, None) => return Err(protocol("client frame not masked")),
            (Role::Client, Some(_)) => return Err(protocol("server frame masked")),
            _ => {}
        }
        if h.len > self.limits.max_frame {
            return Err(too_big("frame larger than the limit"));
        }
        match (h.opcode, &self.message) {
            (Opcode::Continuation, None) => {
                return Err(protocol("continuation frame without a message to continue"))
            }
            (Opcode::Text | Opcode::Binary, Some(_)) => {
                return Err(protocol("new message before the previous one ended"))
            }
            (Opcode::Text | Opcode::Binary, None) => {
                self.message = Some(Partial {
                    text: h.opcode == Opcode::Text,
                    data: Vec::new(),
                    valid: 0,
                });
            }
            _ => self.control.clear(),
        }
        if let (false, Some(m)) = (h.opcode.is_control(), &self.message) {
            if m.data.len() as u64 + h.len > self.limits.max_message as u64 {
                return Err(too_big("message larger than the limit"));
            }
        }
        self.recv = Recv::Payload { header: h, done: 0 };
        if h.len == 0 {
            self.recv = Recv::Header;
            self.end_frame(h)?;
        }
        Ok(())
    }

    fn read_payload(&mut self, data: &mut &[u8]) -> Result<(), Error> {
        let Recv::Payload { header, done } = &mut self.recv else {
            return Ok(());
        };
        let header = *header;
        let offset = (*done % 4) as usize;
        let n = usize::try_from(header.len - *done).map_or(data.len(), |left| left.min(data.len()));
        *done += n as u64;
        let finished = *done == header.len;
        let (chunk, rest) = data.split_at(n);
        *data = rest;
        let target = match (header.opcode.is_control(), self.message.as_mut()) {
            (false, Some(m)) => &mut m.data,
            _ => &mut self.control,
        };
        let start = target.len();
        target.extend_from_slice(chunk);
        if let Some(key) = header.mask {
            frame::apply_mask(&mut target[start..], key, offset);
        }
        if let (false, Some(m)) = (header.opcode.is_control(), self.message.as_mut()) {
            if m.text {
                m.check_utf8(false)?;
            }
        }
        if finished {
            self.recv = Recv::Header;
            self.end_frame(header)?;
        }
        Ok(())
    }

    fn end_frame(&mut self, h: Header) -> Result<(), Error> {
        match h.opcode {
            Opcode::Continuation | Opcode::Text | Opcode::Binary => {
                if !h.fin {
                    return Ok(());
                }
                let Some(mut m) = self.message.take() else {
                    return Ok(());
                };
                let message = if m.text {
                    m.check_utf8(true)?;
                    let text = String::from_utf8(m.data)
                        .map_err(|_| invalid("text message is not valid UTF-8"))?;
                    Message::Text(text)
                } else {
                    Message::Binary(m.data)
                };
                self.events.push_back(Event::Message(message));
            }
            Opcode::Ping => {
                let payload = std::mem::take(&mut self.control);
                if !self.close_sent {
                    let _ = self.write(Opcode::Pong, &payload);
                }
                self.events.push_back(Event::Ping(payload));
            }
            Opcode::Pong => {
                let payload = std::mem::take(&mut self.control);
                self.events.push_back(Event::Pong(payload));
            }
            Opcode::Close => {
                let peer = parse_close(&self.control)?;
                self.done = true;
                self.message = None;
                if !self.close_sent {
                    let echo = match peer.code {
                        close::NO_STATUS => Vec::new(),
                        code => code.to_be_bytes().to_vec(),
                    };
                    let _ = self.write(Opcode::Close, &echo);
                    self.close_sent = true;
                }
                self.events.push_back(Event::Closed(peer));
            }
        }
        Ok(())
    }
}

/// The status code and reason of a close frame's payload.
fn parse_close(payload: &[u8]) -> Result<Close, Error> {
    match payload {
        [] => Ok(Close {
            code: close::NO_STATUS,
            reason: String::new(),
        }),
        [_] => Err(protocol("close frame with a one-byte payload")),
        [a, b, rest @ ..] => {
            let code = u16::from_be_bytes([*a, *b]);
            if !close::valid_on_wire(code) {
                return Err(protocol("close frame with an invalid status code"));
            }
            let reason = std::str::from_utf8(rest)
                .map_err(|_| invalid("close reason is not valid UTF-8"))?;
            Ok(Close {
                code,
                reason: reason.to_string(),
            })
        }
    }
}
