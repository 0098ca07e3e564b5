//! Helpers shared by the benches (`mod support;` in each): starting a criterion bench, placing
//! a coroutine on the caller's worker or on another one, and the tokio peer runtimes.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Worker threads of the weft runtime and of the multi-thread tokio runtimes.
pub const WORKERS: usize = 2;

/// Prints the load average (`when`: "start" or "end"): the machine is small, so a figure taken
/// while it was busy is worth knowing about.
pub fn print_load(when: &str) {
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        eprintln!("load average at {when}: {}", load.trim());
    }
}

/// The start of a criterion bench: the weft runtime with [`WORKERS`] workers (before any
/// spawn), the load average printed, and criterion set to `samples` samples of
/// `measurement` each after a 1 s warm-up (command-line arguments override).
pub fn start_criterion(samples: usize, measurement: Duration) -> criterion::Criterion {
    weft::runtime::Builder::new()
        .workers(WORKERS)
        .init()
        .expect("the weft runtime is started by this bench, before any spawn");
    print_load("start");
    criterion::Criterion::default()
        .sample_size(samples)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(measurement)
        .configure_from_args()
}

/// Where `spawn_placed` must put the new coroutine relative to the calling one.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Placement {
    SameWorker,
    OtherWorker,
}

/// Spawns `body` from the calling coroutine so that it runs on the caller's worker or on
/// another one, and returns once it is placed (it is then parked, about to run `body`); its
/// result is `None` if it was a misplaced probe, which never happens to the returned one.
///
/// weft has no pinning API, but a started coroutine never changes worker (CO4). So each
/// attempt spawns a probe that reports its OS thread and parks until it is told to run
/// `body` or to quit; a misplaced probe quits and another is spawned. To land on this worker
/// the caller parks until the probe reports (a worker whose coroutines are all parked starts
/// a new one itself: first placement, S8, sends it elsewhere only to a worker with a smaller
/// load); to land on another, the caller spins, so that its worker counts as loaded and an
/// idle worker steals the probe.
pub fn spawn_placed<F, T>(placement: Placement, body: F) -> weft::thread::JoinHandle<Option<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    const PENDING: u8 = 0;
    const SAME: u8 = 1;
    const OTHER: u8 = 2;
    const RUN: u8 = 3;
    const QUIT: u8 = 4;
    let body = Arc::new(Mutex::new(Some(body)));
    let here = std::thread::current().id();
    let caller = weft::thread::current();
    for _attempt in 0..1000 {
        let gate = Arc::new(AtomicU8::new(PENDING));
        let (probe_gate, probe_body, caller) = (gate.clone(), body.clone(), caller.clone());
        let probe = weft::thread::spawn(move || {
            let at = if std::thread::current().id() == here {
                SAME
            } else {
                OTHER
            };
            probe_gate.store(at, Ordering::Release);
            caller.unpark();
            loop {
                match probe_gate.load(Ordering::Acquire) {
                    RUN => break,
                    QUIT => return None,
                    _ => weft::thread::park(),
                }
            }
            let body = probe_body.lock().expect("not poisoned").take();
            Some(body.expect("run once")())
        });
        let spin_until = Instant::now() + Duration::from_millis(50);
        let at = loop {
            match gate.load(Ordering::Acquire) {
                PENDING if placement == Placement::OtherWorker && Instant::now() < spin_until => {
                    std::hint::spin_loop()
                }
                PENDING if placement == Placement::OtherWorker => weft::thread::yield_now(),
                PENDING => weft::thread::park(),
                at => break at,
            }
        };
        let wanted = match placement {
            Placement::SameWorker => SAME,
            Placement::OtherWorker => OTHER,
        };
        if at == wanted {
            gate.store(RUN, Ordering::Release);
            probe.thread().unpark();
            return probe;
        }
        gate.store(QUIT, Ordering::Release);
        probe.thread().unpark();
        probe.join().expect("no panic");
    }
    panic!("could not place a coroutine {placement:?} in 1000 attempts");
}

pub fn tokio_multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .build()
        .expect("tokio runtime")
}

pub fn tokio_current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime")
}

/// The tokio runtimes with their I/O driver (for the network benches).
pub fn tokio_multi_thread_io() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .enable_io()
        .build()
        .expect("tokio runtime")
}

pub fn tokio_current_thread_io() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("tokio runtime")
}
