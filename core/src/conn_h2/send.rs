//! Sending a stream's response body: parts offered to the session as the flow-control
//! windows and [`HIGH_WATER`] allow, files read on the pool a piece at a time, streams
//! taken as their producer feeds them.

use std::io;
use std::os::unix::fs::FileExt;

use super::{Who, H2, HIGH_WATER, READ_CHUNK};
use crate::conn::Env;
use crate::h2::ErrorCode;
use crate::notify::Msg;
use crate::outbuf::Chunk;
use crate::response::Part;

impl H2 {
    /// Offers body bytes to the session while its output is below the high-water mark
    /// and the windows take them.
    pub(super) fn pump(&mut self, stream: u32, env: &mut Env<'_>, who: &Who) {
        while self.session.output().len() < HIGH_WATER {
            let Some(task) = self.tasks.get_mut(&stream) else {
                return;
            };
            if let Some((chunk, pos, last)) = &mut task.chunk {
                let last = *last;
                match self.session.send_data(stream, &chunk.bytes()[*pos..], last) {
                    Ok(n) => {
                        *pos += n;
                        task.body_sent += n as u64;
                        if *pos < chunk.bytes().len() {
                            return; // windows closed: SendReady brings us back
                        }
                        task.chunk = None;
                        if last {
                            return self.finish(stream, env, who);
                        }
                    }
                    Err(_) => {
                        self.tasks.remove(&stream);
                        return;
                    }
                }
                continue;
            }
            let more_after = task.parts.len() > 1;
            match task.parts.front_mut() {
                None => {
                    let _ = self.session.send_trailers::<&str, &str>(stream, &[]);
                    return self.finish(stream, env, who);
                }
                Some(Part::Bytes(_) | Part::Shared(_)) => {
                    let chunk = match task.parts.pop_front() {
                        Some(Part::Bytes(b)) => Chunk::Owned(b),
                        Some(Part::Shared(s)) => Chunk::Shared(s),
                        _ => return,
                    };
                    task.chunk = Some((chunk, 0, !more_after));
                }
                Some(Part::File(region)) => {
                    if task.reading {
                        return;
                    }
                    if task.file_pos >= region.len {
                        task.parts.pop_front();
                        task.file_pos = 0;
                        continue;
                    }
                    let count = (region.len - task.file_pos).min(READ_CHUNK) as usize;
                    let (file, offset) = (region.file.clone(), region.offset + task.file_pos);
                    let (notifier, conn) = (env.notifier.clone(), who.conn(stream));
                    task.reading = true;
                    env.shared.pool.execute(move || {
                        let mut buf = vec![0; count];
                        let read = file.read_exact_at(&mut buf, offset).map(|()| buf);
                        notifier.send(Msg::Read(conn, read));
                    });
                    return;
                }
                Some(Part::Stream(rx)) => {
                    let mut data = Vec::new();
                    match rx.take(&mut data) {
                        Some(true) => {
                            task.parts.pop_front();
                            task.chunk = Some((Chunk::Owned(data), 0, !more_after));
                        }
                        Some(false) => {
                            return self.abort(stream, who, "streamed body aborted");
                        }
                        None if data.is_empty() => return,
                        None => task.chunk = Some((Chunk::Owned(data), 0, false)),
                    }
                }
            }
        }
    }

    /// A pool job read a piece of the file at the front of a stream's body.
    pub fn file_read(&mut self, stream: u32, read: io::Result<Vec<u8>>, who: &Who) {
        let Some(task) = self.tasks.get_mut(&stream) else {
            return;
        };
        task.reading = false;
        let data = match read {
            Ok(d) => d,
            Err(e) => {
                let why = format!("reading a file body failed: {e}");
                return self.abort(stream, who, &why);
            }
        };
        task.file_pos += data.len() as u64;
        let done = match task.parts.front() {
            Some(Part::File(region)) => task.file_pos >= region.len,
            _ => true,
        };
        if done {
            task.parts.pop_front();
            task.file_pos = 0;
        }
        let last = done && task.parts.is_empty();
        task.chunk = Some((Chunk::Owned(data), 0, last));
    }

    /// The body of `stream` cannot be completed: reset the stream so the client sees a
    /// truncated response, not a complete one.
    fn abort(&mut self, stream: u32, who: &Who, why: &str) {
        log::warn!("{}: {why}; resetting stream {stream}", who.peer);
        self.session.reset(stream, ErrorCode::InternalError);
        self.tasks.remove(&stream);
    }
}
