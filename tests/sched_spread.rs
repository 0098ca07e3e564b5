//! The scheduler spreads unstarted work across workers, and a started coroutine never changes
//! OS thread (the binding soundness rule, CO4), whatever parks, yields, sleeps or joins it.
//!
//! This binary runs its runtime with two workers.

mod support;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once, OnceLock};
use std::time::Duration;

use support::{Rng, watchdog};
use weft::go;
use weft::thread::{self, Thread};

const WORKERS: usize = 2;

/// Starts this binary's runtime with two workers (every test calls this before spawning).
fn two_workers() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        if let Err(e) = weft::runtime::Builder::new().workers(WORKERS).init() {
            panic!("cannot start the runtime with {WORKERS} workers: {e}");
        }
    });
}

/// Tests whose coroutines block a worker until another worker shows up must not run at the
/// same time: two of them could each block one worker and wait for the other forever.
fn exclusive() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn worker_name() -> String {
    std::thread::current()
        .name()
        .expect("coroutines run on named worker threads")
        .to_owned()
}

/// A configured worker (`weft-worker-0` to `-1`) or a spare that sysmon started for a worker
/// held by one of these tests' CPU-bound coroutines (`-2` to `-3`, HO1: never more spares than
/// workers).
fn assert_worker_name(name: &str) {
    let index: usize = name
        .strip_prefix("weft-worker-")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a worker thread name: {name:?}"));
    assert!(index < 2 * WORKERS, "{name}");
}

#[test]
fn coroutines_run_on_named_worker_threads() {
    two_workers();
    watchdog(|| {
        let names: Vec<String> = (0..200)
            .map(|_| go!(worker_name))
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect();
        for n in &names {
            assert_worker_name(n);
        }
    });
}

#[test]
fn unstarted_work_spreads_to_every_worker() {
    two_workers();
    let _serial = exclusive();
    watchdog(|| {
        // One coroutine spawns many CPU-bound coroutines onto its own worker. Each records its
        // worker and then busy-waits, without ever yielding, until every worker has run one:
        // the first one blocks its worker, so the rest can only run if idle workers steal them.
        const N: usize = 256;
        let seen: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let s = seen.clone();
        let per_worker = go!(move || {
            let handles: Vec<_> = (0..N)
                .map(|_| {
                    let s = s.clone();
                    go!(move || {
                        let me = worker_name();
                        *s.lock().unwrap().entry(me.clone()).or_default() += 1;
                        let mut spins = 0u64;
                        while s.lock().unwrap().len() < WORKERS {
                            spins += 1;
                            std::hint::spin_loop();
                        }
                        (me, spins)
                    })
                })
                .collect();
            let mut per_worker: HashMap<String, usize> = HashMap::new();
            for h in handles {
                let (me, _) = h.join().unwrap();
                *per_worker.entry(me).or_default() += 1;
            }
            per_worker
        })
        .join()
        .unwrap();
        // Every worker ran some (a spare may have joined in, HO1).
        assert!(per_worker.len() >= WORKERS, "{per_worker:?}");
        assert_eq!(per_worker.values().sum::<usize>(), N);
        for name in per_worker.keys() {
            assert_worker_name(name);
        }
        assert_eq!(*seen.lock().unwrap(), per_worker);
    });
}

#[test]
fn cpu_bound_spawns_from_one_coroutine_use_both_workers() {
    two_workers();
    let _serial = exclusive();
    watchdog(|| {
        // Many CPU-bound coroutines spawned from one coroutine: while their spawner's worker is
        // busy computing, the other worker steals the unstarted ones. Each keeps computing
        // until a second worker has shown up, so how fast the OS wakes that worker does not
        // matter.
        const N: usize = 1000;
        let seen: Arc<Mutex<HashSet<String>>> = Arc::default();
        let s = seen.clone();
        let results = go!(move || {
            let handles: Vec<_> = (0..N as u64)
                .map(|i| {
                    let s = s.clone();
                    go!(move || {
                        s.lock().unwrap().insert(worker_name());
                        let mut x = i;
                        loop {
                            for _ in 0..1000 {
                                x = std::hint::black_box(
                                    x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1),
                                );
                            }
                            if s.lock().unwrap().len() >= WORKERS {
                                break;
                            }
                        }
                        std::hint::black_box(x);
                        i
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .collect::<Vec<_>>()
        })
        .join()
        .unwrap();
        assert_eq!(results, (0..N as u64).collect::<Vec<_>>());
        let seen = seen.lock().unwrap();
        assert!(seen.len() >= WORKERS, "{seen:?}");
        for n in seen.iter() {
            assert_worker_name(n);
        }
    });
}

#[test]
fn spawns_from_an_os_thread_spread_too() {
    two_workers();
    let _serial = exclusive();
    watchdog(|| {
        // Same blocking pattern, spawned from the OS thread (the global queue).
        const N: usize = 64;
        let seen: Arc<Mutex<HashSet<String>>> = Arc::default();
        let handles: Vec<_> = (0..N)
            .map(|_| {
                let s = seen.clone();
                go!(move || {
                    s.lock().unwrap().insert(worker_name());
                    while s.lock().unwrap().len() < WORKERS {
                        std::hint::spin_loop();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let seen = seen.lock().unwrap();
        assert!(seen.len() >= WORKERS, "{seen:?}");
        for n in seen.iter() {
            assert_worker_name(n);
        }
    });
}

/// The OS thread a coroutine runs on, checked around every blocking call.
struct Pinned {
    id: std::thread::ThreadId,
    name: String,
    checks: usize,
}

impl Pinned {
    fn here() -> Pinned {
        Pinned {
            id: std::thread::current().id(),
            name: worker_name(),
            checks: 0,
        }
    }

    #[track_caller]
    fn check(&mut self, after: &str) {
        let now = std::thread::current();
        assert_eq!(
            now.id(),
            self.id,
            "CO4 violated: a started coroutine moved from {} to {:?} across {after}",
            self.name,
            now.name()
        );
        self.checks += 1;
    }
}

#[test]
fn a_started_coroutine_never_changes_os_thread() {
    two_workers();
    watchdog(|| {
        const N: usize = 400;
        const ITERS: usize = 150;
        let stop = Arc::new(AtomicBool::new(false));
        let threads: Arc<OnceLock<Vec<Thread>>> = Arc::new(OnceLock::new());
        let total_checks = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..N)
            .map(|i| {
                let (threads, total) = (threads.clone(), total_checks.clone());
                go!(move || {
                    let mut pin = Pinned::here();
                    let mut rng = Rng::new(i as u64 + 1);
                    // Wait for the list of peers (a park ended by the OS thread).
                    while threads.get().is_none() {
                        thread::park();
                        pin.check("park");
                    }
                    let peers = threads.get().unwrap();
                    for _ in 0..ITERS {
                        match rng.below(7) {
                            0 => {
                                thread::yield_now();
                                pin.check("yield_now");
                            }
                            1 => {
                                thread::sleep(Duration::from_micros(rng.below(300)));
                                pin.check("sleep");
                            }
                            2 => {
                                thread::park_timeout(Duration::from_micros(rng.below(500)));
                                pin.check("park_timeout");
                            }
                            3 => {
                                // Wake a peer, likely one on the other worker.
                                peers[rng.below(N as u64) as usize].unpark();
                                thread::yield_now();
                                pin.check("unpark + yield_now");
                            }
                            4 => {
                                // A join that parks until a fresh coroutine (maybe stolen by
                                // the other worker) finishes.
                                let v = go!(move || {
                                    thread::yield_now();
                                    i
                                })
                                .join()
                                .unwrap();
                                assert_eq!(v, i);
                                pin.check("join");
                            }
                            5 => {
                                let mut local = [0u64; 8];
                                thread::scope(|s| {
                                    for (k, slot) in local.iter_mut().enumerate() {
                                        s.spawn(move || *slot = k as u64);
                                    }
                                });
                                assert_eq!(local.iter().sum::<u64>(), 28);
                                pin.check("scope");
                            }
                            _ => {
                                // Self-unpark then park: returns at once, on the same thread.
                                thread::current().unpark();
                                thread::park();
                                pin.check("park");
                            }
                        }
                    }
                    total.fetch_add(pin.checks, Ordering::Relaxed);
                    i
                })
            })
            .collect();
        threads
            .set(handles.iter().map(|h| h.thread().clone()).collect())
            .unwrap();
        for h in &handles {
            h.thread().unpark();
        }
        // An OS thread adds cross-thread wakes while they run.
        let st = stop.clone();
        let peers: Vec<Thread> = handles.iter().map(|h| h.thread().clone()).collect();
        let waker = std::thread::spawn(move || {
            let mut rng = Rng::new(99);
            while !st.load(Ordering::Relaxed) {
                for _ in 0..64 {
                    peers[rng.below(N as u64) as usize].unpark();
                }
                std::thread::yield_now();
            }
        });
        for (i, h) in handles.into_iter().enumerate() {
            assert_eq!(h.join().unwrap(), i);
        }
        stop.store(true, Ordering::Relaxed);
        waker.join().unwrap();
        assert!(total_checks.load(Ordering::Relaxed) >= N * ITERS);
    });
}

#[test]
fn a_coroutine_woken_from_the_other_worker_resumes_on_its_own() {
    two_workers();
    watchdog(|| {
        // Pairs of coroutines ping-pong; when the pair sits on different workers every wake
        // crosses workers. Each side checks its OS thread after every park.
        const PAIRS: usize = 20;
        const ROUNDS: usize = 300;
        let handles: Vec<_> = (0..PAIRS)
            .map(|_| {
                go!(|| {
                    let turn = Arc::new(AtomicUsize::new(0));
                    let slot: Arc<OnceLock<Thread>> = Arc::new(OnceLock::new());
                    let (t, sl) = (turn.clone(), slot.clone());
                    let b = go!(move || {
                        let mut pin = Pinned::here();
                        for r in 0..ROUNDS {
                            while t.load(Ordering::Acquire) != 2 * r + 1 {
                                thread::park();
                                pin.check("park (b)");
                            }
                            t.store(2 * r + 2, Ordering::Release);
                            sl.get().unwrap().unpark();
                        }
                        pin.name
                    });
                    slot.set(thread::current()).unwrap();
                    let mut pin = Pinned::here();
                    for r in 0..ROUNDS {
                        while turn.load(Ordering::Acquire) != 2 * r {
                            thread::park();
                            pin.check("park (a)");
                        }
                        turn.store(2 * r + 1, Ordering::Release);
                        b.thread().unpark();
                    }
                    (pin.name, b.join().unwrap())
                })
            })
            .collect();
        for h in handles {
            let (a, b) = h.join().unwrap();
            assert_worker_name(&a);
            assert_worker_name(&b);
        }
    });
}
