//! After the response, the connection may stop speaking HTTP: a tunnel relays bytes to a
//! peer socket (CONNECT), or an upgraded object (after a 101) takes the connection over.

use crate::handler::ConnRef;
use crate::tunnel::Tunnel;
use crate::upgrade::{UpgradeIo, Waker};

use super::{Conn, Env, Next, Phase};

impl Conn {
    pub(super) fn start_tunnel(&mut self, env: &mut Env<'_>, peer: mio::net::TcpStream) {
        let up = self.input.take_rest(env.bufs);
        match Tunnel::open(peer, up, env.registry, env.sockets, env.key, self.id) {
            Ok(t) => {
                self.tunnel = Some(Box::new(t));
                self.phase = Phase::Tunnel;
                self.deadline = Some(env.now + env.shared.config.timeouts.tunnel_idle);
            }
            Err(e) => {
                log::error!("{}: cannot register tunnel peer: {e}", self.peer);
                self.phase = Phase::Linger;
            }
        }
    }

    /// Readiness of the tunnel's peer socket.
    pub fn peer_ready(&mut self, readable: bool, writable: bool) {
        if let Some(t) = self.tunnel.as_mut() {
            t.peer_ready(readable, writable);
        }
    }

    pub(super) fn pump_tunnel(&mut self, env: &mut Env<'_>) -> Next {
        let Some(t) = self.tunnel.as_mut() else {
            return Next::Close;
        };
        match t.pump(&mut self.transport) {
            Ok(Some(moved)) => {
                if moved {
                    self.deadline = Some(env.now + env.shared.config.timeouts.tunnel_idle);
                }
                Next::Keep
            }
            Ok(None) | Err(()) => Next::Close,
        }
    }

    /// Calls the upgraded object (on readiness, a wake-up, a stop, or its deadline).
    pub(super) fn run_upgraded(&mut self, env: &mut Env<'_>, timed_out: bool) -> Next {
        let Some(takeover) = self.upgraded.as_mut() else {
            return Next::Close;
        };
        let object = &mut takeover.object;
        let mut io = UpgradeIo {
            stream: &mut self.transport,
            pending: &mut takeover.input,
            deadline: &mut self.deadline,
            now: env.now,
            timed_out,
            stopping: env.stopping,
            waker: Waker {
                mailbox: env.notifier.clone(),
                conn: ConnRef {
                    key: env.key,
                    id: self.id,
                    stream: 0,
                },
            },
        };
        if object.ready(&mut io) {
            Next::Keep
        } else {
            Next::Close
        }
    }
}
