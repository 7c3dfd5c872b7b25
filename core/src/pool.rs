//! The blocking pool: a few threads that run file-system and DNS work off the reactor.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;

/// A unit of blocking work.
pub type Job = Box<dyn FnOnce() + Send>;

/// The pool's bounded queue is full; answer 503 and try later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

struct Queue {
    jobs: VecDeque<Job>,
    stopped: bool,
}

struct Inner {
    queue: Mutex<Queue>,
    ready: Condvar,
    capacity: usize,
}

/// A fixed set of threads sharing one bounded job queue.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

impl Pool {
    /// Starts `threads` workers (at least one) with a queue of at most `capacity` jobs.
    pub fn new(threads: usize, capacity: usize) -> std::io::Result<Pool> {
        let inner = Arc::new(Inner {
            queue: Mutex::new(Queue {
                jobs: VecDeque::new(),
                stopped: false,
            }),
            ready: Condvar::new(),
            capacity: capacity.max(1),
        });
        for i in 0..threads.max(1) {
            let inner = inner.clone();
            thread::Builder::new()
                .name(format!("reactor-pool-{i}"))
                .spawn(move || work(&inner))?;
        }
        Ok(Pool { inner })
    }

    /// Queues `job` unless the queue is full.
    pub fn try_execute(&self, job: impl FnOnce() + Send + 'static) -> Result<(), Busy> {
        self.push(Box::new(job), true)
    }

    /// Queues `job` even when the queue is full: for work that finishes something already
    /// admitted (the next chunk of a file being sent), never for new requests.
    pub fn execute(&self, job: impl FnOnce() + Send + 'static) {
        let _ = self.push(Box::new(job), false);
    }

    fn push(&self, job: Job, bounded: bool) -> Result<(), Busy> {
        let Ok(mut q) = self.inner.queue.lock() else {
            return Err(Busy);
        };
        if bounded && q.jobs.len() >= self.inner.capacity {
            return Err(Busy);
        }
        q.jobs.push_back(job);
        drop(q);
        self.inner.ready.notify_one();
        Ok(())
    }

    /// Jobs waiting for a thread.
    pub fn queued(&self) -> usize {
        self.inner.queue.lock().map_or(0, |q| q.jobs.len())
    }

    /// Lets the threads exit once the queue is empty.
    pub fn stop(&self) {
        if let Ok(mut q) = self.inner.queue.lock() {
            q.stopped = true;
        }
        self.inner.ready.notify_all();
    }
}

fn work(inner: &Inner) {
    loop {
        let job = {
            let Ok(mut q) = inner.queue.lock() else {
                return;
            };
            loop {
                if let Some(job) = q.jobs.pop_front() {
                    break job;
                }
                if q.stopped {
                    return;
                }
                q = match inner.ready.wait(q) {
                    Ok(q) => q,
                    Err(_) => return,
                };
            }
        };
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
            log::error!("a blocking job panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn runs_jobs_and_refuses_when_full() {
        let pool = Pool::new(1, 2).unwrap();
        let (gate_tx, gate_rx) = mpsc::channel::<()>();
        let (done_tx, done_rx) = mpsc::channel();
        // Block the only thread, then fill the queue.
        pool.try_execute(move || {
            let _ = gate_rx.recv();
        })
        .unwrap();
        while pool.queued() > 0 {
            std::thread::yield_now();
        }
        for i in 0..2 {
            let tx = done_tx.clone();
            pool.try_execute(move || tx.send(i).unwrap()).unwrap();
        }
        assert_eq!(pool.try_execute(|| ()), Err(Busy));
        gate_tx.send(()).unwrap();
        let got: Vec<i32> = (0..2).map(|_| done_rx.recv().unwrap()).collect();
        assert_eq!(got, vec![0, 1]);
        pool.stop();
    }
}
