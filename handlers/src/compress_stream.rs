//! Compression on the blocking pool: a file region read in chunks and encoded into a
//! streamed body, pausing (off the pool) while the client is slow, so a big file is never
//! whole in memory and a slow client holds no pool thread. Small cached files are
//! compressed whole once and their variant kept in the open-file cache.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Mutex};

use reactor::pool::Busy;
use reactor::{BodySender, Context, Flow, ReactorHandle};

use crate::encoding::{compress, Effort, Encoder, Encoding};
use crate::file_cache::CachedFile;

/// Bytes read from the file per step.
const CHUNK: usize = 64 * 1024;

/// Where a paused job waits for the client to drain.
enum Park {
    /// The job is running (or about to).
    Running,
    /// The job stopped on backpressure and waits here.
    Parked(Box<FileJob>),
    /// The client drained before the job parked: it must not park.
    Resume,
}

/// Compresses `len` bytes of `file` from `offset` into `sender`, on the pool.
pub(crate) struct FileJob {
    file: Arc<File>,
    offset: u64,
    end: u64,
    encoder: Encoder,
    sender: BodySender,
    park: Arc<Mutex<Park>>,
}

/// Starts compressing a file region into `sender` on the pool.
pub(crate) fn start_file(
    cx: &mut Context<'_>,
    encoding: Encoding,
    file: Arc<File>,
    offset: u64,
    len: u64,
    sender: BodySender,
) -> Result<(), Busy> {
    let encoder = Encoder::new(encoding, Effort::Stream).map_err(|e| {
        log::error!("cannot start a {} encoder: {e}", encoding.token());
        Busy
    })?;
    let park = Arc::new(Mutex::new(Park::Running));
    let handle = cx.handle();
    let resume_park = park.clone();
    sender.on_resume(move || resume(&resume_park, &handle));
    let job = Box::new(FileJob {
        file,
        offset,
        end: offset.saturating_add(len),
        encoder,
        sender,
        park,
    });
    cx.spawn_blocking(move || job.run())
}

/// The stream's resume hook (on the reactor thread): restarts a parked job on the pool.
fn resume(park: &Mutex<Park>, handle: &ReactorHandle) {
    let Ok(mut p) = park.lock() else { return };
    match std::mem::replace(&mut *p, Park::Running) {
        Park::Parked(job) => handle.run(move |cx| {
            // A full queue drops the job, which aborts the body: the client sees it cut.
            if cx.spawn_blocking(move || job.run()).is_err() {
                log::warn!("pool busy: a compressed stream was abandoned");
            }
        }),
        Park::Running | Park::Resume => *p = Park::Resume,
    }
}

impl FileJob {
    fn run(mut self: Box<Self>) {
        let mut buf = vec![0u8; CHUNK];
        while self.offset < self.end {
            let want = usize::try_from(self.end - self.offset).map_or(CHUNK, |n| n.min(CHUNK));
            let n = match self.file.read_at(&mut buf[..want], self.offset) {
                Ok(0) => {
                    log::warn!("file shrank while compressed; body cut");
                    return self.sender.abort();
                }
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::error!("read while compressing: {e}");
                    return self.sender.abort();
                }
            };
            self.offset += n as u64;
            if let Err(e) = self.encoder.write(&buf[..n]) {
                log::error!("compressing: {e}");
                return self.sender.abort();
            }
            let out = self.encoder.take_output();
            if out.is_empty() {
                continue;
            }
            match self.sender.send(out) {
                Err(_closed) => return,
                Ok(Flow::Continue) => {}
                Ok(Flow::Pause) if self.offset < self.end => {
                    let park = self.park.clone();
                    let Ok(mut p) = park.lock() else { return };
                    match *p {
                        Park::Resume => *p = Park::Running,
                        _ => {
                            log::debug!("compressed stream paused: the client is slow");
                            *p = Park::Parked(self);
                            return;
                        }
                    }
                }
                Ok(Flow::Pause) => {}
            }
        }
        match self.encoder.finish() {
            Ok(tail) => {
                if self.sender.send(tail).is_ok() {
                    self.sender.finish();
                }
            }
            Err(e) => {
                log::error!("compressing: {e}");
                self.sender.abort();
            }
        }
    }
}

/// Compresses the small cached content of `entry` whole on the pool, keeps the variant in
/// the entry and sends it into `sender` (which may be closed already, for HEAD).
pub(crate) fn start_cached(
    cx: &mut Context<'_>,
    encoding: Encoding,
    entry: Arc<CachedFile>,
    content: Arc<[u8]>,
    sender: BodySender,
) -> Result<(), Busy> {
    cx.spawn_blocking(move || {
        let bytes: Arc<[u8]> = match entry.variant(encoding) {
            Some(done) => done,
            None => match compress(encoding, Effort::Cached, &content) {
                Ok(b) => Arc::from(b),
                Err(e) => {
                    log::error!("compressing {}: {e}", entry.path.display());
                    return sender.abort();
                }
            },
        };
        entry.store_variant(encoding, bytes.clone());
        if sender.send(bytes.to_vec()).is_ok() {
            sender.finish();
        }
    })
}
