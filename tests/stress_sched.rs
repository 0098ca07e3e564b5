//! Stress: a random mix of park/unpark/yield/sleep/spawn/join across ~2,000 coroutines and
//! several OS threads, counting every completion and every hand-off exactly.
//!
//! `WEFT_STRESS=n` multiplies the iteration counts (default 1: a few seconds in debug builds).

mod support;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use support::{Latch, Rng, stress_factor, watchdog};
use weft::go;
use weft::thread::{self, JoinHandle, Thread};

/// Credits handed to coroutines by OS "server" threads: a coroutine asks for one, parks until
/// it has arrived, and consumes it. Every request is served exactly once.
struct Credits {
    requests: Mutex<VecDeque<usize>>,
    ready: Condvar,
    closed: AtomicBool,
    balance: Vec<AtomicU64>,
    granted: AtomicU64,
}

impl Credits {
    fn new(n: usize) -> Credits {
        Credits {
            requests: Mutex::new(VecDeque::new()),
            ready: Condvar::new(),
            closed: AtomicBool::new(false),
            balance: (0..n).map(|_| AtomicU64::new(0)).collect(),
            granted: AtomicU64::new(0),
        }
    }

    /// Asks for a credit for coroutine `i` and parks until it has arrived, then consumes it.
    fn take(&self, i: usize) {
        self.requests.lock().unwrap().push_back(i);
        self.ready.notify_one();
        loop {
            let have = self.balance[i].load(Ordering::Acquire);
            if have > 0 {
                let prev = self.balance[i].fetch_sub(1, Ordering::AcqRel);
                assert!(prev > 0, "credit of {i} consumed twice");
                return;
            }
            thread::park();
        }
    }

    /// Server loop of an OS thread: grants requests until closed.
    fn serve(&self, peers: &[Thread], seed: u64) -> u64 {
        let mut rng = Rng::new(seed);
        let mut served = 0;
        loop {
            let next = {
                let mut q = self.requests.lock().unwrap();
                loop {
                    if let Some(i) = q.pop_front() {
                        break Some(i);
                    }
                    if self.closed.load(Ordering::Acquire) {
                        break None;
                    }
                    q = self.ready.wait(q).unwrap();
                }
            };
            let Some(i) = next else { return served };
            // A spurious unpark of someone else first, then the real grant.
            peers[rng.below(peers.len() as u64) as usize].unpark();
            self.balance[i].fetch_add(1, Ordering::AcqRel);
            self.granted.fetch_add(1, Ordering::Relaxed);
            peers[i].unpark();
            served += 1;
        }
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        let _guard = self.requests.lock().unwrap();
        self.ready.notify_all();
    }
}

#[derive(Default, Debug, Clone, Copy, PartialEq, Eq)]
struct Tally {
    yields: u64,
    sleeps: u64,
    timed_parks: u64,
    unparks: u64,
    credits: u64,
    children: u64,
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, o: Tally) {
        self.yields += o.yields;
        self.sleeps += o.sleeps;
        self.timed_parks += o.timed_parks;
        self.unparks += o.unparks;
        self.credits += o.credits;
        self.children += o.children;
    }
}

#[test]
fn random_mix_counts_every_completion_exactly() {
    watchdog(|| {
        const N: usize = 2000;
        const SERVERS: usize = 3;
        const SPAWNERS: usize = 3;
        let iters = 100 * stress_factor();

        let credits = Arc::new(Credits::new(N));
        let peers: Arc<OnceLock<Vec<Thread>>> = Arc::new(OnceLock::new());
        let completed: Arc<Vec<AtomicUsize>> =
            Arc::new((0..N).map(|_| AtomicUsize::new(0)).collect());
        let children_done = Arc::new(AtomicU64::new(0));

        let body = {
            let (credits, peers, completed, children_done) = (
                credits.clone(),
                peers.clone(),
                completed.clone(),
                children_done.clone(),
            );
            move |i: usize| -> (usize, Tally) {
                let mut t = Tally::default();
                let mut rng = Rng::new(0xC0FFEE + i as u64);
                while peers.get().is_none() {
                    thread::park();
                }
                let peers = peers.get().unwrap();
                for _ in 0..iters {
                    match rng.below(8) {
                        0 | 1 => {
                            thread::yield_now();
                            t.yields += 1;
                        }
                        2 => {
                            let d = Duration::from_micros(rng.below(400));
                            let start = Instant::now();
                            thread::sleep(d);
                            assert!(start.elapsed() >= d, "sleep({d:?}) returned early");
                            t.sleeps += 1;
                        }
                        3 => {
                            thread::park_timeout(Duration::from_micros(rng.below(400)));
                            t.timed_parks += 1;
                        }
                        4 => {
                            peers[rng.below(N as u64) as usize].unpark();
                            t.unparks += 1;
                        }
                        5 | 6 => {
                            credits.take(i);
                            t.credits += 1;
                        }
                        _ => {
                            let cd = children_done.clone();
                            let v = go!(move || {
                                thread::yield_now();
                                cd.fetch_add(1, Ordering::Relaxed);
                                i * 2
                            })
                            .join()
                            .unwrap();
                            assert_eq!(v, i * 2);
                            t.children += 1;
                        }
                    }
                }
                let prev = completed[i].fetch_add(1, Ordering::AcqRel);
                assert_eq!(prev, 0, "coroutine {i} completed twice");
                (i, t)
            }
        };

        // Spawned from the main thread and from several OS threads at once.
        let body = Arc::new(body);
        let chunk = N / (SPAWNERS + 1);
        let spawn_range =
            |lo: usize, hi: usize, body: Arc<dyn Fn(usize) -> (usize, Tally) + Send + Sync>| {
                (lo..hi)
                    .map(|i| {
                        let body = body.clone();
                        go!(move || body(i))
                    })
                    .collect::<Vec<JoinHandle<(usize, Tally)>>>()
            };
        let spawners: Vec<_> = (1..=SPAWNERS)
            .map(|s| {
                let body: Arc<dyn Fn(usize) -> (usize, Tally) + Send + Sync> = body.clone();
                let hi = if s == SPAWNERS { N } else { (s + 1) * chunk };
                std::thread::spawn(move || spawn_range(s * chunk, hi, body))
            })
            .collect();
        let mut handles = spawn_range(0, chunk, body.clone());
        for s in spawners {
            handles.extend(s.join().unwrap());
        }
        assert_eq!(handles.len(), N);
        // The ranges were appended in order: handles[i] is coroutine i.
        let list: Vec<Thread> = handles.iter().map(|h| h.thread().clone()).collect();
        peers.set(list.clone()).unwrap();
        for p in &list {
            p.unpark();
        }
        let servers: Vec<_> = (0..SERVERS)
            .map(|k| {
                let (credits, list) = (credits.clone(), list.clone());
                std::thread::spawn(move || credits.serve(&list, 7 + k as u64))
            })
            .collect();

        let mut total = Tally::default();
        for (i, h) in handles.into_iter().enumerate() {
            let (got, t) = h.join().unwrap();
            assert_eq!(got, i, "joined the wrong coroutine");
            total += t;
        }
        credits.close();
        let served: u64 = servers.into_iter().map(|s| s.join().unwrap()).sum();

        // Exact accounting: nothing lost, nothing duplicated.
        for (i, c) in completed.iter().enumerate() {
            assert_eq!(c.load(Ordering::Relaxed), 1, "coroutine {i}");
        }
        assert_eq!(served, total.credits, "requests served != credits consumed");
        assert_eq!(credits.granted.load(Ordering::Relaxed), total.credits);
        assert!(credits.requests.lock().unwrap().is_empty());
        for (i, b) in credits.balance.iter().enumerate() {
            assert_eq!(
                b.load(Ordering::Relaxed),
                0,
                "coroutine {i} left a credit unused"
            );
        }
        assert_eq!(children_done.load(Ordering::Relaxed), total.children);
        let ops = total.yields
            + total.sleeps
            + total.timed_parks
            + total.unparks
            + total.credits
            + total.children;
        assert_eq!(ops, (N * iters) as u64);
    });
}

#[test]
fn spawn_join_churn_from_several_os_threads() {
    watchdog(|| {
        const THREADS: usize = 4;
        let rounds = 30 * stress_factor();
        const PER_ROUND: usize = 200;
        let done = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let done = done.clone();
                std::thread::spawn(move || {
                    let mut rng = Rng::new(t as u64 + 1);
                    let mut sum = 0usize;
                    for r in 0..rounds {
                        let hs: Vec<_> = (0..PER_ROUND)
                            .map(|k| {
                                let (done, how) = (done.clone(), rng.below(4));
                                go!(move || {
                                    match how {
                                        0 => thread::yield_now(),
                                        1 => thread::sleep(Duration::from_micros(50)),
                                        2 => {
                                            thread::current().unpark();
                                            thread::park();
                                        }
                                        _ => {}
                                    }
                                    done.fetch_add(1, Ordering::Relaxed);
                                    r * PER_ROUND + k
                                })
                            })
                            .collect();
                        for (k, h) in hs.into_iter().enumerate() {
                            let v = h.join().unwrap();
                            assert_eq!(v, r * PER_ROUND + k);
                            sum += v;
                        }
                    }
                    sum
                })
            })
            .collect();
        let n = rounds * PER_ROUND;
        for t in threads {
            assert_eq!(t.join().unwrap(), n * (n - 1) / 2);
        }
        assert_eq!(done.load(Ordering::Relaxed), THREADS * n);
    });
}

#[test]
fn detached_churn_counts_every_completion() {
    watchdog(|| {
        // Generations of detached coroutines, each spawning the next, reported through a latch
        // to the plain main thread.
        let generations = 10 * stress_factor();
        const WIDTH: usize = 400;
        let done: Arc<Vec<AtomicUsize>> = Arc::new(
            (0..generations * WIDTH)
                .map(|_| AtomicUsize::new(0))
                .collect(),
        );
        let latch = Arc::new(Latch::new(generations * WIDTH));
        fn generation(
            g: usize,
            k: usize,
            gens: usize,
            done: Arc<Vec<AtomicUsize>>,
            latch: Arc<Latch>,
        ) {
            if g + 1 < gens {
                let (d, l) = (done.clone(), latch.clone());
                drop(go!(move || generation(g + 1, k, gens, d, l)));
            }
            if k.is_multiple_of(2) {
                thread::yield_now();
            }
            let prev = done[g * WIDTH + k].fetch_add(1, Ordering::AcqRel);
            assert_eq!(prev, 0);
            latch.count_down();
        }
        for k in 0..WIDTH {
            let (d, l) = (done.clone(), latch.clone());
            drop(go!(move || generation(0, k, generations, d, l)));
        }
        latch.wait();
        for (i, d) in done.iter().enumerate() {
            assert_eq!(d.load(Ordering::Relaxed), 1, "slot {i}");
        }
    });
}
