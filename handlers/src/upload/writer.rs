//! One upload's disk work, queued in order from the reactor and run on the pool: at most
//! one pool job per upload at a time drains the queue, so writes land in order without
//! holding a pool thread while the client is slow. The queue is bounded by bytes: past
//! [`HIGH`] the sink asks the reactor to stop reading; when the writes catch up below
//! [`LOW`], the waker resumes it.

use std::collections::VecDeque;
use std::fs::File;
use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard};

use reactor::pool::{Busy, Pool};
use reactor::request_body::Waker;
use reactor::{Responder, Response};

use super::disk::{self, Temp};
use crate::path::ResolvedPath;
use crate::FsRoot;

/// Queued bytes past which reading pauses.
pub const HIGH: usize = 1 << 20;
/// Queued bytes below which a paused read resumes.
pub const LOW: usize = 256 << 10;

/// Builds the answer once every file is in place: from what was stored (each target and
/// whether it replaced a file).
pub type Answer = Box<dyn FnOnce(&[(Temp, bool)]) -> Response + Send>;

/// Told the decoded path of a directory (ending in `/`) whose files changed.
pub type OnChange = Arc<dyn Fn(&str) + Send + Sync>;

/// A step of an upload, run on the pool in the order queued.
pub enum Op {
    /// Checks that the target directory exists (`missing`: the status when not).
    Directory(u16),
    /// Opens a temporary file for a file called `name` in the target directory.
    Open(String),
    /// Appends to the file being written.
    Write(Vec<u8>),
    /// The file being written is complete (it waits for `Commit` under its temporary name).
    Close,
    /// Moves every complete file into place and answers.
    Commit(Answer),
    /// Removes every temporary file (the body was cut short, or refused).
    Abort,
}

impl Op {
    fn bytes(&self) -> usize {
        match self {
            Op::Write(b) => b.len(),
            _ => 0,
        }
    }
}

/// What the upload is about: set when it starts, never changed.
pub struct Target {
    /// The document root.
    pub root: FsRoot,
    /// The directory the files go to.
    pub dir: ResolvedPath,
    /// Replace existing files.
    pub overwrite: bool,
    /// Told the decoded directory path after files were stored (a listing cache).
    pub on_change: Option<OnChange>,
}

/// The ops waiting, and the reactor's side of the backpressure.
#[derive(Default)]
struct Queue {
    ops: VecDeque<Op>,
    /// A pool job is draining the queue.
    running: bool,
    /// Bytes queued and not yet written.
    bytes: usize,
    /// The sink said it wants no data: wake it below [`LOW`].
    paused: bool,
    /// The upload failed (answered already): nothing more is queued.
    failed: bool,
}

/// The pool side: the files of this upload.
#[derive(Default)]
struct Files {
    /// The directory, once checked.
    dir: Option<std::path::PathBuf>,
    /// The file being written.
    current: Option<(File, Temp)>,
    /// Complete files waiting for the commit.
    closed: Vec<Temp>,
}

/// The responder, once given, or the answer that came before it.
#[derive(Default)]
struct Answering {
    responder: Option<Responder>,
    early: Option<Response>,
    done: bool,
}

struct Shared {
    target: Target,
    queue: Mutex<Queue>,
    files: Mutex<Files>,
    answering: Mutex<Answering>,
    waker: Option<Waker>,
}

/// The reactor's handle on one upload's disk work.
pub struct Writer {
    shared: Arc<Shared>,
    pool: Pool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Writer {
    /// Starts an upload with `first` as its first op, admitted to the pool like a new
    /// request (`Busy`: the pool is saturated; answer 503). Take the responder after, and
    /// give it with [`Writer::respond_with`].
    pub fn start(
        target: Target,
        pool: Pool,
        waker: Option<Waker>,
        first: Op,
    ) -> Result<Self, Busy> {
        let shared = Arc::new(Shared {
            target,
            queue: Mutex::new(Queue {
                running: true,
                ops: VecDeque::from([first]),
                ..Queue::default()
            }),
            files: Mutex::default(),
            answering: Mutex::default(),
            waker,
        });
        let job = shared.clone();
        pool.try_execute(move || drain(&job))?;
        Ok(Writer { shared, pool })
    }

    /// Gives the responder the answer goes through (sent at once if the answer is known).
    pub fn respond_with(&self, responder: Responder) {
        let mut a = lock(&self.shared.answering);
        match a.early.take() {
            Some(r) => responder.send(r),
            None => a.responder = Some(responder),
        }
    }

    /// Queues `op` (nothing once the upload failed).
    pub fn push(&self, op: Op) {
        let mut q = lock(&self.shared.queue);
        if q.failed {
            return;
        }
        q.bytes += op.bytes();
        q.ops.push_back(op);
        if !q.running {
            q.running = true;
            drop(q);
            let job = self.shared.clone();
            self.pool.execute(move || drain(&job));
        }
    }

    /// False (and remembered, to wake the reader later) while too much is queued, and for
    /// good once the upload failed.
    pub fn wants_data(&self) -> bool {
        let mut q = lock(&self.shared.queue);
        let wants = !q.failed && q.bytes < HIGH;
        q.paused = !wants;
        wants
    }

    /// Fails the upload with `response`: temporary files are removed, nothing more is
    /// written, and the client gets `response` (if it is still there to get one).
    pub fn fail(&self, response: Response) {
        self.push(Op::Abort);
        self.shared.fail(response);
    }
}

/// Runs the queued ops until none is left.
fn drain(shared: &Shared) {
    loop {
        let op = {
            let mut q = lock(&shared.queue);
            match q.ops.pop_front() {
                Some(op) => op,
                None => {
                    q.running = false;
                    return;
                }
            }
        };
        let bytes = op.bytes();
        let failed = lock(&shared.queue).failed;
        if let Err(response) = shared.run(op, failed) {
            shared.abort();
            shared.fail(response);
        }
        let wake = {
            let mut q = lock(&shared.queue);
            q.bytes = q.bytes.saturating_sub(bytes);
            let wake = q.paused && (q.bytes < LOW || q.failed);
            q.paused &= !wake;
            wake
        };
        if let (true, Some(w)) = (wake, &shared.waker) {
            w.wake();
        }
    }
}

impl Shared {
    /// Runs one op (after a failure, only cleanup runs).
    fn run(&self, op: Op, failed: bool) -> Result<(), Response> {
        let t = &self.target;
        let mut files = lock(&self.files);
        match op {
            Op::Abort => {
                drop(files);
                self.abort();
            }
            _ if failed => {}
            Op::Directory(missing) => {
                files.dir = Some(disk::directory(&t.root, &t.dir, missing)?);
            }
            Op::Open(name) => {
                let dir = match files.dir.clone() {
                    Some(d) => d,
                    None => disk::directory(&t.root, &t.dir, 409)?,
                };
                files.current = Some(disk::create(&dir, &name, t.overwrite)?);
                files.dir = Some(dir);
            }
            Op::Write(bytes) => {
                if let Some((file, temp)) = files.current.as_mut() {
                    file.write_all(&bytes).map_err(|e| write_error(temp, &e))?;
                }
            }
            Op::Close => {
                if let Some((file, temp)) = files.current.take() {
                    let synced = file.sync_all().map_err(|e| write_error(&temp, &e));
                    files.closed.push(temp);
                    synced?;
                }
            }
            Op::Commit(answer) => {
                let closed = std::mem::take(&mut files.closed);
                drop(files);
                let stored = self.commit(closed)?;
                if let Some(f) = &t.on_change {
                    f(&t.dir.decoded);
                }
                self.answer(answer(&stored));
            }
        }
        Ok(())
    }

    /// Moves the complete files into place, all or (as far as can be) none: on a failure
    /// the files this upload created are removed again, with every temporary file.
    fn commit(&self, closed: Vec<Temp>) -> Result<Vec<(Temp, bool)>, Response> {
        let mut stored: Vec<(Temp, bool)> = Vec::with_capacity(closed.len());
        let mut rest = closed.into_iter();
        for temp in rest.by_ref() {
            match disk::commit(&temp, self.target.overwrite) {
                Ok(replaced) => stored.push((temp, replaced)),
                Err(response) => {
                    disk::remove(&temp.temp);
                    for t in rest {
                        disk::remove(&t.temp);
                    }
                    for (t, _) in stored.iter().filter(|(_, replaced)| !replaced) {
                        disk::remove(&t.target);
                    }
                    return Err(response);
                }
            }
        }
        Ok(stored)
    }

    /// Removes every temporary file.
    fn abort(&self) {
        let mut files = lock(&self.files);
        if let Some((file, temp)) = files.current.take() {
            drop(file);
            disk::remove(&temp.temp);
        }
        for temp in files.closed.drain(..) {
            disk::remove(&temp.temp);
        }
    }

    /// Marks the upload failed and answers with `response` (the first answer wins).
    fn fail(&self, response: Response) {
        let mut q = lock(&self.queue);
        q.failed = true;
        q.ops.retain(|op| matches!(op, Op::Abort));
        q.bytes = 0;
        drop(q);
        self.answer(response);
    }

    /// Sends the answer, or keeps it for the responder to come; later answers are dropped.
    fn answer(&self, response: Response) {
        let mut a = lock(&self.answering);
        if a.done {
            return;
        }
        a.done = true;
        match a.responder.take() {
            Some(responder) => responder.send(response),
            None => a.early = Some(response),
        }
    }
}

/// The answer to a failed write (a full disk is 507).
fn write_error(temp: &Temp, e: &std::io::Error) -> Response {
    log::error!("{}: {e}", temp.temp.display());
    match e.raw_os_error() {
        Some(libc::ENOSPC | libc::EDQUOT) => {
            Response::error_with(507, "The server has no room for the file.")
        }
        _ => Response::error(500),
    }
}
