//! Spilling a fill straight to disk: a response too big for the memory tier is written
//! to the disk tier as it arrives, on a thread of its own, through a bounded queue, so it
//! is never whole in memory. When the queue is full the fill holds its piece and pauses
//! the origin until the thread makes room (it calls the fill's wake hook). The file
//! appears (renamed into place and indexed) only when the body ended exactly; a fill that
//! breaks off leaves nothing behind.

use std::fs::File;
use std::io::BufWriter;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;

use super::format::{encode_head, file_name, FileWriter};
use super::{DiskTier, Job, SPILLING};
use crate::proxy::cache::Entry;

/// Body pieces queued for a spill's thread at most (each up to one origin read, 64 KiB).
const QUEUE: usize = 256;
/// Spills running at once at most; more fills of big objects are not stored.
const MAX_SPILLS: usize = 4;

static RUNNING: AtomicUsize = AtomicUsize::new(0);

enum Piece {
    Body(Vec<u8>),
    End,
}

/// Called by the spill's thread when it made room after the queue was full.
pub type Wake = Arc<dyn Fn() + Send + Sync>;

/// What the fill and the spill's thread share.
struct Shared {
    /// The fill found the queue full and waits for room.
    full: AtomicBool,
    wake: Wake,
}

/// What became of a piece of body handed to [`Spill::write`].
pub enum Queued {
    /// Queued.
    Done,
    /// The queue is full: here is the piece back; try again after the wake hook ran.
    Full(Vec<u8>),
    /// The spill failed (the writer stopped): drop it.
    Failed,
}

/// One fill being written to the disk tier. Dropped before [`Spill::finish`], it writes
/// nothing.
pub struct Spill {
    tx: Option<SyncSender<Piece>>,
    shared: Arc<Shared>,
}

impl Spill {
    /// Starts writing `entry`'s head (its body comes through [`Spill::write`]) as the disk
    /// copy of `url`; `None` when too many spills run or the thread cannot start.
    pub(super) fn start(
        tier: &Arc<DiskTier>,
        url: &str,
        entry: &Entry,
        wake: Wake,
    ) -> Option<Spill> {
        let taken = RUNNING.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < MAX_SPILLS).then_some(n + 1)
        });
        taken.ok()?;
        let (tx, rx) = sync_channel(QUEUE);
        let (tier, url, head) = (tier.clone(), url.to_string(), encode_head(url, entry));
        let shared = Arc::new(Shared {
            full: AtomicBool::new(false),
            wake,
        });
        let shared2 = shared.clone();
        let spawned = std::thread::Builder::new()
            .name("cache-spill".into())
            .spawn(move || {
                write(&tier, &url, &head, &rx, &shared2);
                RUNNING.fetch_sub(1, Ordering::AcqRel);
            });
        if spawned.is_err() {
            RUNNING.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Spill {
            tx: Some(tx),
            shared,
        })
    }

    /// Queues body bytes (see [`Queued`]).
    pub fn write(&mut self, bytes: Vec<u8>) -> Queued {
        let Some(tx) = &self.tx else {
            return Queued::Failed;
        };
        let bytes = match tx.try_send(Piece::Body(bytes)) {
            Ok(()) => return Queued::Done,
            Err(TrySendError::Full(Piece::Body(b))) => b,
            Err(_) => {
                self.tx = None;
                return Queued::Failed;
            }
        };
        // Flag first, then try once more: the queue was full, so the thread takes at
        // least one more piece after the flag is set and wakes us then.
        self.shared.full.store(true, Ordering::Release);
        match tx.try_send(Piece::Body(bytes)) {
            Ok(()) => Queued::Done,
            Err(TrySendError::Full(Piece::Body(b))) => Queued::Full(b),
            Err(_) => {
                self.tx = None;
                Queued::Failed
            }
        }
    }

    /// The body ended exactly (`rest`: its last bytes, not yet queued): the file is
    /// completed, renamed into place and indexed. Never blocks: what does not fit the
    /// queue now is handed over by a helper thread.
    pub fn finish(mut self, rest: Vec<u8>) {
        let Some(tx) = self.tx.take() else { return };
        let mut pieces = Vec::new();
        if !rest.is_empty() {
            pieces.push(Piece::Body(rest));
        }
        pieces.push(Piece::End);
        let mut pieces = pieces.into_iter();
        while let Some(piece) = pieces.next() {
            match tx.try_send(piece) {
                Ok(()) => continue,
                Err(TrySendError::Full(piece)) => {
                    let late = move || {
                        for p in std::iter::once(piece).chain(pieces) {
                            if tx.send(p).is_err() {
                                return;
                            }
                        }
                    };
                    if let Err(e) = std::thread::Builder::new().spawn(late) {
                        log::warn!("cache disk: cannot finish a spill: {e}");
                    }
                    return;
                }
                Err(TrySendError::Disconnected(_)) => return,
            }
        }
    }
}

/// The spill's thread: head, body pieces, and on `End` the trailer; then the tier's
/// writer thread renames the file into place (in order with the removals it was told of
/// before, see `disk`).
fn write(tier: &DiskTier, url: &str, head: &[u8], rx: &Receiver<Piece>, shared: &Shared) {
    // Numbered: two fills of one URL may spill at once.
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let tmp = tier
        .dir
        .join(SPILLING)
        .join(format!("{n}.{}", file_name(url)));
    let result = (|| -> std::io::Result<Option<u64>> {
        let file = BufWriter::with_capacity(256 * 1024, File::create(&tmp)?);
        let mut w = FileWriter::new(file, head)?;
        loop {
            let piece = rx.recv();
            if shared.full.swap(false, Ordering::AcqRel) {
                (shared.wake)();
            }
            match piece {
                Ok(Piece::Body(bytes)) => w.body(&bytes)?,
                Ok(Piece::End) => break,
                // The fill broke off.
                Err(_) => return Ok(None),
            }
        }
        let body = w.body_len();
        let (_, len) = w.finish()?;
        log::info!("cache disk: spilled {url} ({body} bytes)");
        Ok(Some(len))
    })();
    match result {
        Ok(Some(len)) => {
            let job = Job::Place {
                tmp: tmp.clone(),
                url: url.to_string(),
                len,
            };
            // Waits for room: this thread has nothing else to do.
            let writer = tier.jobs.lock().map(|tx| tx.clone());
            if writer.map_or(true, |tx| tx.send(job).is_err()) {
                let _ = std::fs::remove_file(&tmp);
            }
        }
        Ok(None) => {
            let _ = std::fs::remove_file(&tmp);
        }
        Err(e) => {
            log::warn!("cache disk: cannot write {}: {e}", tmp.display());
            let _ = std::fs::remove_file(&tmp);
        }
    }
}
