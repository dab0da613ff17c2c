//! The connection workers: one current-thread tokio runtime per core, each on its own thread
//! (`davaudit-w0`, `davaudit-w1`, ...). The accept loop hands each proxy connection to the
//! worker with the fewest connections, and the connection lives there to its end with all it
//! starts: its requests, their upstream connections (one pool per worker, `upstream`) and the
//! audit tasks of its responses. The frames of a streamed body pass between those tasks on
//! one thread, each hand-over a queue push; on a work-stealing runtime the tasks sat on
//! different threads and every frame woke the other thread (a context switch each way).
//!
//! Connections are not moved between workers, as between nginx's worker processes. One piece
//! of work is: the audit of a long body (`audit::task`) may move, once, to a worker with fewer
//! connections ([`offload`]), so the scanner and the forwarding of the same stream run on two
//! cores instead of taking turns on one. Everything else (accept loops, admin, signals,
//! reload, probes) runs on the runtime that started davaudit.

use std::cell::{Cell, RefCell};
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use tokio::runtime::Handle;
use tokio::sync::oneshot;

thread_local! {
    /// The worker this thread is (0 on any other thread).
    static INDEX: Cell<usize> = const { Cell::new(0) };
    /// Set when a task on this thread was just handed work that should run before more of
    /// a response is pulled (`request_turn`).
    static TURN: Cell<bool> = const { Cell::new(false) };
    /// The workers this thread is one of (empty on any other thread): where [`offload`]
    /// looks. Weak: the threads must not keep their own set alive.
    static SET: RefCell<Weak<Inner>> = const { RefCell::new(Weak::new()) };
}

/// Most bytes a connection pulls from a response body in one scheduler turn: the write
/// `listener::coalesce` gathers.
pub(crate) const TURN_BYTES: usize = 1024 * 1024;

/// Asks the response writer polling on this thread (`listener::coalesce`) to send what it
/// gathered now and let the scheduler turn: the tee just handed a batch to its audit task,
/// which runs on this thread too and should take it before more frames are pulled (so
/// `audit.when_behind: skip` is not tripped by a write that gathered past the queue).
pub(crate) fn request_turn() {
    TURN.with(|t| t.set(true));
}

/// Whether a turn was asked for since the last call (and clears it).
pub(crate) fn take_turn_request() -> bool {
    TURN.with(|t| t.replace(false))
}

/// The worker the calling thread is, `0..count`; 0 outside the workers.
pub(crate) fn current() -> usize {
    INDEX.with(Cell::get)
}

/// How many workers to start: `TOKIO_WORKER_THREADS` when set to a positive number (as
/// tokio's own runtime read it before), else one per available core.
pub(crate) fn default_count() -> usize {
    std::env::var("TOKIO_WORKER_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

struct Worker {
    handle: Handle,
    /// Connections placed here and not yet ended.
    load: AtomicUsize,
}

struct Inner {
    workers: Box<[Worker]>,
    /// Dropped with the last `Workers` clone: each thread ends its runtime (cancelling what
    /// is left on it, such as idle pooled connections) and exits.
    _stop: Vec<oneshot::Sender<()>>,
}

/// The running workers. Cheap to clone; the threads stop when the last clone is dropped.
#[derive(Clone)]
pub(crate) struct Workers {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Workers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workers")
            .field("count", &self.count())
            .finish()
    }
}

impl Workers {
    /// Starts `count` (at least 1) worker threads, each with its current-thread runtime.
    pub(crate) fn start(count: usize) -> io::Result<Workers> {
        let count = count.max(1);
        let mut workers = Vec::with_capacity(count);
        let mut stops = Vec::with_capacity(count);
        for index in 0..count {
            let (ready_tx, ready_rx) = std::sync::mpsc::channel();
            let (stop_tx, stop_rx) = oneshot::channel::<()>();
            std::thread::Builder::new()
                .name(format!("davaudit-w{index}"))
                .spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build();
                    let runtime = match runtime {
                        Ok(runtime) => runtime,
                        Err(error) => {
                            let _ = ready_tx.send(Err(error));
                            return;
                        }
                    };
                    INDEX.with(|i| i.set(index));
                    let _ = ready_tx.send(Ok(runtime.handle().clone()));
                    runtime.block_on(async {
                        let _ = stop_rx.await;
                    });
                })?;
            let handle = ready_rx
                .recv()
                .map_err(|_| io::Error::other("a worker thread ended before it started"))??;
            workers.push(Worker {
                handle,
                load: AtomicUsize::new(0),
            });
            stops.push(stop_tx);
        }
        let inner = Arc::new(Inner {
            workers: workers.into_boxed_slice(),
            _stop: stops,
        });
        for worker in &inner.workers {
            let set = Arc::downgrade(&inner);
            // Runs before any connection placed there (the runtime polls in spawn order).
            worker.handle.spawn(async move {
                SET.with(|s| *s.borrow_mut() = set);
            });
        }
        Ok(Workers { inner })
    }

    pub(crate) fn count(&self) -> usize {
        self.inner.workers.len()
    }

    /// The worker with the fewest connections (the first of equals); the placement counts
    /// the connection there until it is dropped.
    pub(crate) fn place(&self) -> Placement {
        let index = self
            .inner
            .workers
            .iter()
            .enumerate()
            .min_by_key(|(_, w)| w.load.load(Ordering::Relaxed))
            .map_or(0, |(i, _)| i);
        if let Some(worker) = self.inner.workers.get(index) {
            worker.load.fetch_add(1, Ordering::Relaxed);
        }
        Placement {
            workers: self.inner.clone(),
            index,
        }
    }
}

/// One connection's place on a worker.
pub(crate) struct Placement {
    workers: Arc<Inner>,
    index: usize,
}

impl Placement {
    /// The runtime to spawn the connection on.
    pub(crate) fn handle(&self) -> &Handle {
        match self.workers.workers.get(self.index) {
            Some(worker) => &worker.handle,
            None => unreachable_worker(),
        }
    }
}

#[cold]
fn unreachable_worker() -> ! {
    unreachable!("a placement's index is always one of its workers")
}

impl Drop for Placement {
    fn drop(&mut self) {
        if let Some(worker) = self.workers.workers.get(self.index) {
            worker.load.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// A place on another worker for work this one started (a long body's audit): the worker
/// with the fewest connections (placed and offloaded work both count), when it has fewer than
/// the calling worker. None off the workers, with one worker, or when no other is less busy.
/// The placement counts there until it is dropped.
pub(crate) fn offload() -> Option<Placement> {
    let workers = SET.with(|s| s.borrow().upgrade())?;
    let here = current();
    let own = workers.workers.get(here)?.load.load(Ordering::Relaxed);
    let (index, target) = workers
        .workers
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != here)
        .min_by_key(|(_, w)| w.load.load(Ordering::Relaxed))?;
    if target.load.load(Ordering::Relaxed) >= own {
        return None;
    }
    target.load.fetch_add(1, Ordering::Relaxed);
    Some(Placement { workers, index })
}

/// Each worker's share of `total` (the first ones get the remainder): per-worker pools whose
/// sizes add up to the configured one.
pub(crate) fn share(total: usize, count: usize, index: usize) -> usize {
    let count = count.max(1);
    total / count + usize::from(index < total % count)
}

#[cfg(test)]
mod tests {
    use super::{Workers, current, offload, share};

    #[test]
    fn shares_add_up_to_the_total() {
        for total in [0, 1, 2, 7, 32] {
            for count in 1..5 {
                let sum: usize = (0..count).map(|i| share(total, count, i)).sum();
                assert_eq!(sum, total, "{total} over {count}");
            }
        }
        assert_eq!(share(1, 2, 0), 1);
        assert_eq!(share(1, 2, 1), 0);
    }

    #[test]
    fn connections_go_to_the_least_busy_worker_and_run_on_its_thread() {
        let workers = Workers::start(2).unwrap();
        let a = workers.place();
        let b = workers.place();
        assert_ne!(
            a.index, b.index,
            "the second connection goes to the idle worker"
        );
        drop(a);
        let c = workers.place();
        assert_ne!(c.index, b.index);
        let (tx, rx) = std::sync::mpsc::channel();
        c.handle().spawn(async move {
            let _ = tx.send((current(), std::thread::current().name().map(str::to_owned)));
        });
        let seen = rx.recv().unwrap();
        assert_eq!(seen.0, c.index);
        assert_eq!(
            seen.1.as_deref(),
            Some(format!("davaudit-w{}", c.index).as_str())
        );
        assert_eq!(current(), 0, "not a worker thread");
    }

    #[test]
    fn work_is_offloaded_only_to_a_less_busy_worker_and_counts_there() {
        assert!(offload().is_none(), "not a worker thread");
        let workers = Workers::start(2).unwrap();
        let busy = workers.place();
        let on = |placement: &super::Placement| {
            let (tx, rx) = std::sync::mpsc::channel();
            placement.handle().spawn(async move {
                let _ = tx.send(offload().map(|p| p.index));
            });
            rx.recv().unwrap()
        };
        // One connection here, none there: the other worker takes the work.
        let target = on(&busy);
        assert_eq!(target, Some(1 - busy.index));
        // Equal loads: nothing moves (and the probe's placement was dropped).
        let other = workers.place();
        assert_eq!(other.index, 1 - busy.index);
        assert_eq!(on(&busy), None);
        assert_eq!(on(&other), None);
        let single = Workers::start(1).unwrap();
        let only = single.place();
        assert_eq!(on(&only), None, "one worker: nowhere to go");
    }
}
