//! The envelope of a message: MAIL FROM with its parameters, RCPT TO for each
//! recipient, and the pipelined form of both (RFC 2920).

use super::*;

impl<T: Transport> Session<'_, T> {
    /// The MAIL FROM command with its parameters (SMTPUTF8, BODY, SIZE, RET).
    pub(super) fn mail_command(&self) -> Result<String, Error> {
        let stage = Stage::Mail;
        let utf8 = self.message.needs_smtputf8();
        if utf8 && !self.caps.smtputf8 {
            return Err(Error::other(
                stage,
                "an address has a non-ASCII local part, which needs SMTPUTF8, \
                 and the server does not offer it",
            ));
        }
        let sender = envelope_addr(&self.message.sender().addr, self.caps.smtputf8)
            .map_err(|e| Error::other(Stage::Input, e))?;
        let mut cmd = format!("MAIL FROM:<{sender}>");
        if utf8 {
            cmd.push_str(" SMTPUTF8");
        }
        if self.message.eight_bit() {
            if self.caps.eight_bit_mime {
                cmd.push_str(" BODY=8BITMIME");
            } else {
                log::warn!("8-bit message but the server does not offer 8BITMIME");
            }
        }
        if let Some(limit) = self.caps.size {
            let size = self
                .message
                .size()
                .map_err(|e| Error::io(Stage::Input, e))?;
            if limit > 0 && size > limit {
                return Err(Error::other(
                    stage,
                    format!("message is {size} octets, server accepts at most {limit}"),
                ));
            }
            cmd.push_str(&format!(" SIZE={size}"));
        }
        if let Some(ret) = self.config.dsn_return {
            if self.dsn_offered() {
                cmd.push_str(match ret {
                    DsnReturn::Full => " RET=FULL",
                    DsnReturn::Headers => " RET=HDRS",
                });
            }
        }
        Ok(cmd)
    }

    pub(super) fn dsn_offered(&self) -> bool {
        if !self.caps.dsn {
            log::warn!("the server does not offer DSN: delivery notifications not requested");
        }
        self.caps.dsn
    }

    /// The address of recipient `i` and its RCPT TO command (with NOTIFY).
    pub(super) fn rcpt_command(&self, i: usize) -> Result<(String, String), Error> {
        let addr = &self
            .message
            .recipients()
            .get(i)
            .ok_or_else(|| Error::other(Stage::Rcpt, "no recipients"))?
            .addr;
        let wire =
            envelope_addr(addr, self.caps.smtputf8).map_err(|e| Error::other(Stage::Input, e))?;
        let mut cmd = format!("RCPT TO:<{wire}>");
        if let Some(notify) = self.config.dsn_notify {
            if self.dsn_offered() {
                cmd.push_str(&format!(" NOTIFY={}", notify.param()));
            }
        }
        Ok((addr.clone(), cmd))
    }

    /// Records a recipient's acceptance or refusal.
    pub(super) fn rcpt_reply(&mut self, addr: String, reply: &Reply) {
        if matches!(reply.code, 250 | 251) {
            self.accepted.push(addr);
        } else {
            log::warn!("recipient {addr} refused: {reply}");
            self.rejected.push((addr, reply.clone()));
        }
    }

    /// RFC 2920: MAIL, every RCPT and DATA in one write, then their replies
    /// in order. Returns [`State::Message`] once DATA got 354.
    pub(super) fn pipelined_envelope(&mut self) -> Result<State, Error> {
        let mail = self.mail_command()?;
        let mut rcpts = Vec::new();
        for i in 0..self.message.recipients().len() {
            rcpts.push(self.rcpt_command(i)?);
        }
        let mut batch = String::new();
        for cmd in std::iter::once(&mail).chain(rcpts.iter().map(|(_, c)| c)) {
            log::debug!("C: {cmd}");
            batch.push_str(cmd);
            batch.push_str("\r\n");
        }
        log::debug!("C: DATA");
        batch.push_str("DATA\r\n");
        self.io
            .write_all(batch.as_bytes())
            .and_then(|()| self.io.flush())
            .map_err(|e| Error::io(Stage::Mail, e))?;

        let mail_reply = self.read_reply(Stage::Mail)?;
        let mut last_rcpt = None;
        for (addr, cmd) in rcpts {
            let reply = self.read_reply(Stage::Rcpt)?;
            self.rcpt_reply(addr, &reply);
            last_rcpt = Some((cmd, reply));
        }
        let data_reply = self.read_reply(Stage::Data)?;
        let failure = if mail_reply.code != 250 {
            Some(rejected(Stage::Mail, &mail, mail_reply))
        } else if self.accepted.is_empty() {
            let (cmd, reply) =
                last_rcpt.ok_or_else(|| Error::other(Stage::Rcpt, "no recipients"))?;
            Some(rejected(Stage::Rcpt, &cmd, reply))
        } else {
            None
        };
        match (failure, data_reply.code) {
            (None, 354) => Ok(State::Message),
            (None, _) => Err(rejected(Stage::Data, "DATA", data_reply)),
            (Some(err), 354) => {
                // DATA was accepted anyway: end it empty, then report.
                self.send(Stage::Data, ".", ".")?;
                let _ = self.read_reply(Stage::Data)?;
                Err(err)
            }
            (Some(err), _) => Err(err),
        }
    }
}
