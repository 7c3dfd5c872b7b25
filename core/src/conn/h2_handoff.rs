//! Handing a connection to the HTTP/2 driver ([`H2`]): on ALPN `h2` or the preface, the
//! connection's transport and deadline are run by the driver from then on.

use std::io;

use crate::conn_h2::{Drove, Who, H2};

use super::{Conn, Env, Next, Phase};

impl Conn {
    /// The connection began with the HTTP/2 preface: hand it to the HTTP/2 driver.
    pub(super) fn start_h2(&mut self, env: &mut Env<'_>) {
        let tls = self.transport.tls_info();
        let h2 = H2::new(&env.shared.config, self.input.data(), env.now, tls);
        self.input.consume(usize::MAX);
        self.input.release(env.bufs);
        self.h2 = Some(Box::new(h2));
        self.phase = Phase::H2;
        env.shared.stats.h2_connection();
        self.deadline = Some(env.now + env.shared.config.timeouts.keep_alive);
    }

    pub(super) fn who(&self, env: &Env<'_>) -> Who {
        Who {
            key: env.key,
            id: self.id,
            peer: self.peer,
        }
    }

    /// Runs the HTTP/2 driver and keeps the connection's deadline: the send timeout while
    /// streams are open, the keep-alive timeout when idle, none while a handler owes an
    /// answer.
    pub(super) fn drive_h2(&mut self, env: &mut Env<'_>) -> Next {
        let who = self.who(env);
        let Some(h2) = self.h2.as_mut() else {
            return Next::Close;
        };
        match h2.drive(&mut self.transport, env, &who) {
            Err(()) => Next::Close,
            Ok(Drove::Finished) => {
                // As after a last HTTP/1.1 response: shut our side and drain theirs, so
                // the GOAWAY is read before the close could reset the connection.
                self.transport.shutdown_write();
                self.phase = Phase::Linger;
                self.deadline = Some(env.now + env.shared.config.timeouts.linger);
                self.linger()
            }
            Ok(Drove::Running(moved)) => {
                let t = &env.shared.config.timeouts;
                if h2.waiting() {
                    self.deadline = None;
                } else if moved || self.deadline.is_none() {
                    let wait = if h2.is_idle() { t.keep_alive } else { t.send };
                    self.deadline = Some(env.now + wait);
                }
                Next::Keep
            }
        }
    }

    /// A pool job read part of a file body for an HTTP/2 stream.
    pub fn h2_file_read(&mut self, env: &mut Env<'_>, stream: u32, read: io::Result<Vec<u8>>) {
        let who = self.who(env);
        if let Some(h2) = self.h2.as_mut() {
            h2.file_read(stream, read, &who);
        }
    }
}
