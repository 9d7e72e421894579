//! A pool of worker threads that answers FUSE requests off the threads that read them from the
//! kernel. A request that waits on the database (a table locked by another client, a slow
//! query) or on a store then holds one worker, not one of the few FUSE threads: requests for
//! other tables keep being read and answered. Threads are started on demand up to a bound and
//! end after a while idle.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

type Job = Box<dyn FnOnce() + Send + 'static>;

pub struct Workers {
    state: Mutex<State>,
    wake: Condvar,
    max_threads: usize,
    idle_exit: Duration,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    threads: usize,
    idle: usize,
}

impl Workers {
    pub fn new(max_threads: usize, idle_exit: Duration) -> Arc<Workers> {
        Arc::new(Workers {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            max_threads: max_threads.max(1),
            idle_exit,
        })
    }

    /// Runs `job` on a worker: an idle one, a new one (below the bound), or the first one free.
    pub fn run(self: &Arc<Self>, job: impl FnOnce() + Send + 'static) {
        let mut state = self.state.lock().unwrap();
        state.queue.push_back(Box::new(job));
        if state.idle > 0 {
            self.wake.notify_one();
            return;
        }
        if state.threads < self.max_threads {
            state.threads += 1;
            let pool = self.clone();
            let spawned = std::thread::Builder::new()
                .name("djfs-worker".into())
                .spawn(move || pool.work());
            if let Err(e) = spawned {
                state.threads -= 1;
                tracing::warn!("cannot start a worker thread: {e}; requests wait for one");
            }
        }
    }

    fn work(&self) {
        let mut state = self.state.lock().unwrap();
        loop {
            if let Some(job) = state.queue.pop_front() {
                drop(state);
                // A panic in one request must not take the worker count down with it.
                if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
                    tracing::error!("a request panicked; its reply was dropped");
                }
                state = self.state.lock().unwrap();
                continue;
            }
            state.idle += 1;
            let (next, timeout) = self.wake.wait_timeout(state, self.idle_exit).unwrap();
            state = next;
            state.idle -= 1;
            if timeout.timed_out() && state.queue.is_empty() {
                state.threads -= 1;
                return;
            }
        }
    }

    /// Threads running now (for tests and the debug log).
    pub fn threads(&self) -> usize {
        self.state.lock().unwrap().threads
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;

    #[test]
    fn a_blocked_job_does_not_hold_up_the_others() {
        let pool = Workers::new(4, Duration::from_secs(5));
        let (release_tx, release_rx) = mpsc::channel::<()>();
        pool.run(move || {
            let _ = release_rx.recv(); // blocked until the end of the test
        });
        let (done_tx, done_rx) = mpsc::channel();
        for i in 0..10 {
            let done_tx = done_tx.clone();
            pool.run(move || done_tx.send(i).unwrap());
        }
        let mut got: Vec<i32> = (0..10)
            .map(|_| done_rx.recv_timeout(Duration::from_secs(5)).unwrap())
            .collect();
        got.sort();
        assert_eq!(got, (0..10).collect::<Vec<_>>());
        assert!(pool.threads() <= 4);
        release_tx.send(()).unwrap();
    }

    #[test]
    fn threads_are_bounded_and_end_when_idle() {
        let pool = Workers::new(3, Duration::from_millis(100));
        let ran = Arc::new(AtomicUsize::new(0));
        for _ in 0..50 {
            let ran = ran.clone();
            pool.run(move || {
                std::thread::sleep(Duration::from_millis(2));
                ran.fetch_add(1, Ordering::SeqCst);
            });
        }
        let start = std::time::Instant::now();
        while ran.load(Ordering::SeqCst) < 50 && start.elapsed() < Duration::from_secs(5) {
            assert!(pool.threads() <= 3);
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(ran.load(Ordering::SeqCst), 50);
        std::thread::sleep(Duration::from_millis(400));
        assert_eq!(pool.threads(), 0);
    }

    #[test]
    fn a_panicking_job_keeps_the_pool_working() {
        let pool = Workers::new(1, Duration::from_secs(5));
        pool.run(|| panic!("boom"));
        let (tx, rx) = mpsc::channel();
        pool.run(move || tx.send(7).unwrap());
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), 7);
    }
}
