//! Benchmarks of `weft::sync`, each measured next to its peers in the same run.
//!
//! - `wait_group`: a group of 10k members, each a freshly spawned coroutine that only drops
//!   its member, and one `wait` for all of them (issue 5: "WaitGroup of 10k"). One iteration
//!   is one whole group, and the group sets `Throughput::Elements(10k)`, so the time per
//!   member is the batch time divided by 10k. weft: `WaitGroup` in a coroutine
//!   (`weft_wait_group`), and the same batch joined through its `JoinHandle`s instead
//!   (`weft_join_all`, the cost of the spawns themselves). Peers: tokio tasks on a 2-worker
//!   runtime holding clones of an mpsc sender and a receive that ends when all are dropped
//!   (`tokio_sender_group`, the usual tokio idiom), and crossbeam-utils' `WaitGroup` with 1k
//!   OS threads (`std_threads_crossbeam/1k`: 10k threads would measure the kernel).
//! - `uncontended_lock`: one `lock`, an increment of the `u64` inside, and the unlock (the
//!   guard's drop) of a mutex nobody else touches. One criterion iteration is one such
//!   operation (`iter_custom` around a loop of `iters` of them), so the reported time is per
//!   lock/unlock. weft's `Mutex` from the bench's own OS thread (`weft_thread`) and from inside
//!   one coroutine (`weft_coroutine`: the whole loop runs in one `weft::go!`, which returns the
//!   elapsed time; the spawn and join are not timed). Peers: `std::sync::Mutex` and
//!   `parking_lot::Mutex`, from the bench thread. Target (issue): weft ≤ 1.2× std.
//! - `uncontended_read`: the same for a shared lock: `read`, read the `u64`, release, on an
//!   `RwLock` nobody writes. weft's `RwLock` from the bench thread and from a coroutine; peers
//!   `std::sync::RwLock` and `parking_lot::RwLock`.
//! - `uncontended_write`: the same with `write`, an increment, and the release.
//! - `contended_counter`: 1,000 lockers each do 100 lock / increment / unlock on one shared
//!   counter; the total is checked. One iteration is one whole batch of 100k increments and
//!   the group sets `Throughput::Elements(100k)`: the time per increment is the batch time
//!   divided by 100k (`thrpt` in increments per second). How a batch starts (every variant
//!   alike): the lockers are spawned and each waits at a gate (a write-locked `RwLock` of the
//!   same runtime, which each read-locks once) until all of them have started; the clock
//!   starts when the gate opens, waking them all, and stops when the last one is joined.
//!   weft's `Mutex<u64>` with the coroutines placed half on each worker (`weft_mutex`: the two
//!   workers really contend), all on one worker (`weft_mutex_one_worker`: a locker never
//!   parks while it holds the lock, so there is no contention, only 1,000 coroutines taking
//!   turns), and left where `go!` starts them (`weft_mutex_unplaced`: mostly or all on the
//!   spawner's worker, the other stealing a varying share; it swings between the other two).
//!   Peers: 1,000 tokio tasks with `tokio::sync::Mutex` on a 2-worker runtime (`tokio_mutex`)
//!   and on a current-thread runtime (`tokio_mutex_current_thread`, the one-worker analogue);
//!   coroutines placed half on each worker on a `std::sync::Mutex` (`weft_std_mutex`: a
//!   contended lock blocks the whole worker, so at most one locker per worker ever waits,
//!   which is worth seeing next to the parking lock); and the same 100k increments done by 2
//!   OS threads on a `std::sync::Mutex` (`std_threads_2`: the same work without 1,000
//!   lockers).
//! - `semaphore`: 1,000 lockers each take a permit of one semaphore with 4 permits 100 times:
//!   acquire, count, yield (`weft::thread::yield_now`, `tokio::task::yield_now`), release. The
//!   yield makes the holders wait while they hold: without it at most 2 permits (one per
//!   worker) would ever be taken and nobody would queue. Started as in `contended_counter`,
//!   one iteration is the batch of 100k acquisitions (`Throughput::Elements(100k)`). Both
//!   semaphores are FIFO once anyone waits, so most acquisitions queue and park. weft's
//!   `Semaphore` with the coroutines half on each worker (`weft`) and all on one
//!   (`weft_one_worker`); peers: tokio tasks on `tokio::sync::Semaphore`, 2-worker runtime
//!   (`tokio`) and current-thread runtime (`tokio_current_thread`).
//!
//! ```text
//! cargo bench --bench sync                      # everything, about 2 minutes
//! cargo bench --bench sync -- uncontended_lock  # one group (criterion filter)
//! cargo bench --bench sync -- uncontended       # the three uncontended groups
//! cargo bench --bench sync -- --test            # run each bench once, no timing
//! ```
//!
//! Run on a quiet machine (`uptime`); the load average at start and at the end is printed.

mod support;

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use support::{
    Placement, WORKERS, print_load, spawn_placed, start_criterion, tokio_current_thread,
    tokio_multi_thread,
};

/// Members of one group.
const MEMBERS: usize = 10_000;
/// Members of the OS-thread peer's group.
const THREADS: usize = 1_000;
/// Lockers of `contended_counter` and `semaphore`.
const LOCKERS: u64 = 1_000;
/// Lock (or acquire) operations of each locker.
const PER_LOCKER: u64 = 100;
/// Permits of the `semaphore` group's semaphore.
const PERMITS: usize = 4;

fn main() {
    let mut c = start_criterion(10, Duration::from_secs(3));
    wait_group(&mut c);
    uncontended_lock(&mut c);
    uncontended_read(&mut c);
    uncontended_write(&mut c);
    contended_counter(&mut c);
    semaphore(&mut c);
    c.final_summary();
    print_load("end");
}

// ---------------------------------------------------------------------------------------------
// wait_group
// ---------------------------------------------------------------------------------------------

/// One group of `n` coroutines that each drop their member, waited for by a coroutine.
fn weft_wait_group(n: usize) -> Duration {
    weft::go!(move || {
        let start = Instant::now();
        let wg = weft::sync::WaitGroup::new();
        for _ in 0..n {
            let member = wg.clone();
            weft::go!(move || drop(member));
        }
        wg.wait();
        start.elapsed()
    })
    .join()
    .expect("no panic")
}

/// The same spawns, joined one by one instead.
fn weft_join_all(n: usize) -> Duration {
    weft::go!(move || {
        let start = Instant::now();
        let handles: Vec<_> = (0..n).map(|_| weft::go!(|| ())).collect();
        for h in handles {
            h.join().expect("no panic");
        }
        start.elapsed()
    })
    .join()
    .expect("no panic")
}

async fn tokio_sender_group(n: usize) -> Duration {
    let start = Instant::now();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
    for _ in 0..n {
        let member = tx.clone();
        tokio::spawn(async move { drop(member) });
    }
    drop(tx);
    assert!(rx.recv().await.is_none());
    start.elapsed()
}

fn std_threads_crossbeam(n: usize) -> Duration {
    let start = Instant::now();
    let wg = crossbeam_utils::sync::WaitGroup::new();
    for _ in 0..n {
        let member = wg.clone();
        std::thread::spawn(move || drop(member));
    }
    wg.wait();
    start.elapsed()
}

fn wait_group(c: &mut Criterion) {
    let mut group = c.benchmark_group("wait_group");
    group.throughput(Throughput::Elements(MEMBERS as u64));
    // Fill the stack pool before measuring, as benches/thread.rs does.
    weft_join_all(MEMBERS);
    group.bench_function(BenchmarkId::new("weft_wait_group", "10k"), |b| {
        b.iter_custom(|iters| (0..iters).map(|_| weft_wait_group(MEMBERS)).sum())
    });
    group.bench_function(BenchmarkId::new("weft_join_all", "10k"), |b| {
        b.iter_custom(|iters| (0..iters).map(|_| weft_join_all(MEMBERS)).sum())
    });
    let rt = tokio_multi_thread();
    group.bench_function(BenchmarkId::new("tokio_sender_group", "10k"), |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    rt.block_on(async { tokio::spawn(tokio_sender_group(MEMBERS)).await })
                        .expect("no panic")
                })
                .sum()
        })
    });
    group.throughput(Throughput::Elements(THREADS as u64));
    group.bench_function(BenchmarkId::new("std_threads_crossbeam", "1k"), |b| {
        b.iter_custom(|iters| (0..iters).map(|_| std_threads_crossbeam(THREADS)).sum())
    });
    group.finish();
}

// ---------------------------------------------------------------------------------------------
// uncontended_lock, uncontended_read, uncontended_write
// ---------------------------------------------------------------------------------------------

/// Times `iters` calls of `op` on `lock` in a loop, on the calling thread or coroutine.
/// `black_box` keeps the compiler from merging the iterations or keeping the lock's address
/// in a register across them; the loop is the same for every lock.
fn timed_loop<L>(iters: u64, lock: &L, op: impl Fn(&L)) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        op(black_box(lock));
    }
    start.elapsed()
}

/// The same loop inside one fresh coroutine; only the loop is timed. The lock is made in the
/// coroutine, as the other benches make theirs on the bench thread. Generic (not `fn`
/// pointers), so that `op` is inlined into the loop exactly as on the bench thread.
fn in_coroutine<L, M, O, C>(iters: u64, make: M, op: O, check: C) -> Duration
where
    L: 'static,
    M: FnOnce() -> L + Send + 'static,
    O: Fn(&L) + Send + 'static,
    C: FnOnce(L, u64) + Send + 'static,
{
    weft::go!(move || {
        let lock = make();
        let elapsed = timed_loop(iters, &lock, op);
        check(lock, iters);
        elapsed
    })
    .join()
    .expect("no panic")
}

fn weft_mutex_inc(m: &weft::sync::Mutex<u64>) {
    *m.lock().expect("not poisoned") += 1;
}

fn std_mutex_inc(m: &std::sync::Mutex<u64>) {
    *m.lock().expect("not poisoned") += 1;
}

fn parking_lot_mutex_inc(m: &parking_lot::Mutex<u64>) {
    *m.lock() += 1;
}

fn weft_rwlock_read(l: &weft::sync::RwLock<u64>) {
    black_box(*l.read().expect("not poisoned"));
}

fn std_rwlock_read(l: &std::sync::RwLock<u64>) {
    black_box(*l.read().expect("not poisoned"));
}

fn parking_lot_rwlock_read(l: &parking_lot::RwLock<u64>) {
    black_box(*l.read());
}

fn weft_rwlock_write(l: &weft::sync::RwLock<u64>) {
    *l.write().expect("not poisoned") += 1;
}

fn std_rwlock_write(l: &std::sync::RwLock<u64>) {
    *l.write().expect("not poisoned") += 1;
}

fn parking_lot_rwlock_write(l: &parking_lot::RwLock<u64>) {
    *l.write() += 1;
}

fn uncontended_lock(c: &mut Criterion) {
    let mut group = c.benchmark_group("uncontended_lock");
    group.measurement_time(Duration::from_secs(2));
    group.bench_function("weft_thread", |b| {
        b.iter_custom(|iters| {
            let m = weft::sync::Mutex::new(0);
            let elapsed = timed_loop(iters, &m, weft_mutex_inc);
            assert_eq!(m.into_inner().expect("not poisoned"), iters);
            elapsed
        })
    });
    group.bench_function("weft_coroutine", |b| {
        b.iter_custom(|iters| {
            in_coroutine(
                iters,
                || weft::sync::Mutex::new(0),
                weft_mutex_inc,
                |m, iters| assert_eq!(m.into_inner().expect("not poisoned"), iters),
            )
        })
    });
    group.bench_function("std", |b| {
        b.iter_custom(|iters| {
            let m = std::sync::Mutex::new(0);
            let elapsed = timed_loop(iters, &m, std_mutex_inc);
            assert_eq!(m.into_inner().expect("not poisoned"), iters);
            elapsed
        })
    });
    group.bench_function("parking_lot", |b| {
        b.iter_custom(|iters| {
            let m = parking_lot::Mutex::new(0);
            let elapsed = timed_loop(iters, &m, parking_lot_mutex_inc);
            assert_eq!(m.into_inner(), iters);
            elapsed
        })
    });
    group.finish();
}

fn uncontended_read(c: &mut Criterion) {
    let mut group = c.benchmark_group("uncontended_read");
    group.measurement_time(Duration::from_secs(2));
    group.bench_function("weft_thread", |b| {
        b.iter_custom(|iters| timed_loop(iters, &weft::sync::RwLock::new(1), weft_rwlock_read))
    });
    group.bench_function("weft_coroutine", |b| {
        b.iter_custom(|iters| {
            in_coroutine(
                iters,
                || weft::sync::RwLock::new(1),
                weft_rwlock_read,
                |_, _| (),
            )
        })
    });
    group.bench_function("std", |b| {
        b.iter_custom(|iters| timed_loop(iters, &std::sync::RwLock::new(1), std_rwlock_read))
    });
    group.bench_function("parking_lot", |b| {
        b.iter_custom(|iters| {
            timed_loop(iters, &parking_lot::RwLock::new(1), parking_lot_rwlock_read)
        })
    });
    group.finish();
}

fn uncontended_write(c: &mut Criterion) {
    let mut group = c.benchmark_group("uncontended_write");
    group.measurement_time(Duration::from_secs(2));
    group.bench_function("weft_thread", |b| {
        b.iter_custom(|iters| {
            let l = weft::sync::RwLock::new(0);
            let elapsed = timed_loop(iters, &l, weft_rwlock_write);
            assert_eq!(l.into_inner().expect("not poisoned"), iters);
            elapsed
        })
    });
    group.bench_function("weft_coroutine", |b| {
        b.iter_custom(|iters| {
            in_coroutine(
                iters,
                || weft::sync::RwLock::new(0),
                weft_rwlock_write,
                |l, iters| assert_eq!(l.into_inner().expect("not poisoned"), iters),
            )
        })
    });
    group.bench_function("std", |b| {
        b.iter_custom(|iters| {
            let l = std::sync::RwLock::new(0);
            let elapsed = timed_loop(iters, &l, std_rwlock_write);
            assert_eq!(l.into_inner().expect("not poisoned"), iters);
            elapsed
        })
    });
    group.bench_function("parking_lot", |b| {
        b.iter_custom(|iters| {
            let l = parking_lot::RwLock::new(0);
            let elapsed = timed_loop(iters, &l, parking_lot_rwlock_write);
            assert_eq!(l.into_inner(), iters);
            elapsed
        })
    });
    group.finish();
}

// ---------------------------------------------------------------------------------------------
// contended_counter, semaphore: 1,000 lockers started behind a gate
// ---------------------------------------------------------------------------------------------

/// Increments of one `contended_counter` batch (and acquisitions of one `semaphore` batch).
const TOTAL: u64 = LOCKERS * PER_LOCKER;

/// Where the weft lockers run.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Lockers {
    /// Half on each worker (`spawn_placed`, alternating): the two workers contend.
    Spread,
    /// All on the spawner's worker (`spawn_placed`): no wake-up crosses workers.
    OneWorker,
    /// Spawned with `go!` and left where the scheduler starts them: mostly (often all) on
    /// the spawner's worker, the other one stealing a share or none, differently per batch.
    Unplaced,
}

/// Runs in a coroutine: spawns `LOCKERS` coroutines that each run `body` once, and times the
/// batch from the moment all of them wait at the gate (a write-locked weft `RwLock`, which
/// they read-lock and release) to the last join. Opening the gate wakes them all at once.
fn weft_gated<F: Fn() + Send + Sync + 'static>(lockers: Lockers, body: F) -> Duration {
    let body = Arc::new(body);
    let gate = Arc::new(weft::sync::RwLock::new(()));
    let started = Arc::new(AtomicU64::new(0));
    let closed = gate.write().expect("not poisoned");
    let handles: Vec<_> = (0..LOCKERS)
        .map(|i| {
            let (body, gate, started) = (body.clone(), gate.clone(), started.clone());
            let locker = move || {
                started.fetch_add(1, Ordering::Relaxed);
                drop(gate.read().expect("not poisoned"));
                body();
            };
            match lockers {
                Lockers::Spread if i % 2 == 1 => spawn_placed(Placement::OtherWorker, locker),
                Lockers::Spread | Lockers::OneWorker => spawn_placed(Placement::SameWorker, locker),
                Lockers::Unplaced => weft::go!(move || {
                    locker();
                    Some(())
                }),
            }
        })
        .collect();
    while started.load(Ordering::Relaxed) < LOCKERS {
        weft::thread::yield_now();
    }
    let start = Instant::now();
    drop(closed);
    for h in handles {
        // `None` would be a misplaced probe, which `spawn_placed` never returns.
        h.join().expect("no panic").expect("placed");
    }
    start.elapsed()
}

/// The same for tokio tasks, on the runtime this runs on: each locker runs one future made
/// by `body`.
async fn tokio_gated<F, Fut>(body: F) -> Duration
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let gate = Arc::new(tokio::sync::RwLock::new(()));
    let started = Arc::new(AtomicU64::new(0));
    let closed = gate.write().await;
    let handles: Vec<_> = (0..LOCKERS)
        .map(|_| {
            let (gate, started, run) = (gate.clone(), started.clone(), body());
            tokio::spawn(async move {
                started.fetch_add(1, Ordering::Relaxed);
                drop(gate.read().await);
                run.await;
            })
        })
        .collect();
    while started.load(Ordering::Relaxed) < LOCKERS {
        tokio::task::yield_now().await;
    }
    let start = Instant::now();
    drop(closed);
    for h in handles {
        h.await.expect("no panic");
    }
    start.elapsed()
}

/// Runs in a coroutine: `LOCKERS` coroutines increment one weft mutex `PER_LOCKER` times each.
fn weft_counter(lockers: Lockers) -> Duration {
    let m = Arc::new(weft::sync::Mutex::new(0u64));
    let counter = m.clone();
    let elapsed = weft_gated(lockers, move || {
        for _ in 0..PER_LOCKER {
            *counter.lock().expect("not poisoned") += 1;
        }
    });
    assert_eq!(*m.lock().expect("not poisoned"), TOTAL);
    elapsed
}

/// The same with a `std::sync::Mutex`: a contended `lock` blocks the worker thread.
fn weft_std_counter(lockers: Lockers) -> Duration {
    let m = Arc::new(std::sync::Mutex::new(0u64));
    let counter = m.clone();
    let elapsed = weft_gated(lockers, move || {
        for _ in 0..PER_LOCKER {
            *counter.lock().expect("not poisoned") += 1;
        }
    });
    assert_eq!(*m.lock().expect("not poisoned"), TOTAL);
    elapsed
}

/// Runs in a tokio task: the same with `tokio::sync::Mutex`.
async fn tokio_counter() -> Duration {
    let m = Arc::new(tokio::sync::Mutex::new(0u64));
    let elapsed = tokio_gated(|| {
        let m = m.clone();
        async move {
            for _ in 0..PER_LOCKER {
                *m.lock().await += 1;
            }
        }
    })
    .await;
    assert_eq!(*m.lock().await, TOTAL);
    elapsed
}

/// The same increments on [`WORKERS`] OS threads and a `std::sync::Mutex`; the threads wait
/// at a held lock (the counter's own) while they start.
fn std_threads_counter() -> Duration {
    let m = std::sync::Mutex::new(0u64);
    let started = AtomicU64::new(0);
    let elapsed = std::thread::scope(|s| {
        let gate = m.lock().expect("not poisoned");
        let handles: Vec<_> = (0..WORKERS)
            .map(|_| {
                s.spawn(|| {
                    started.fetch_add(1, Ordering::Relaxed);
                    for _ in 0..TOTAL / WORKERS as u64 {
                        *m.lock().expect("not poisoned") += 1;
                    }
                })
            })
            .collect();
        while started.load(Ordering::Relaxed) < WORKERS as u64 {
            std::thread::yield_now();
        }
        let start = Instant::now();
        drop(gate);
        for h in handles {
            h.join().expect("no panic");
        }
        start.elapsed()
    });
    assert_eq!(m.into_inner().expect("not poisoned"), TOTAL);
    elapsed
}

/// `iters` batches of `batch`, each in a fresh coroutine, timed by `batch` itself.
fn weft_batches(iters: u64, batch: fn(Lockers) -> Duration, lockers: Lockers) -> Duration {
    (0..iters)
        .map(|_| weft::go!(move || batch(lockers)).join().expect("no panic"))
        .sum()
}

/// `iters` batches of `batch`, each in a task spawned on `rt` (as the multi-thread peers of
/// `wait_group` do), timed by `batch` itself.
fn tokio_batches<F: Future<Output = Duration> + Send + 'static>(
    iters: u64,
    rt: &tokio::runtime::Runtime,
    batch: fn() -> F,
) -> Duration {
    (0..iters)
        .map(|_| {
            rt.block_on(async { tokio::spawn(batch()).await })
                .expect("no panic")
        })
        .sum()
}

fn contended_counter(c: &mut Criterion) {
    assert_eq!(
        TOTAL % WORKERS as u64,
        0,
        "the threads share the work evenly"
    );
    let mut group = c.benchmark_group("contended_counter");
    group.throughput(Throughput::Elements(TOTAL));
    // Batches of milliseconds: the same number of them in every sample.
    group.sampling_mode(SamplingMode::Flat);
    group.bench_function(BenchmarkId::new("weft_mutex", "1k_x_100"), |b| {
        b.iter_custom(|iters| weft_batches(iters, weft_counter, Lockers::Spread))
    });
    group.bench_function(BenchmarkId::new("weft_mutex_one_worker", "1k_x_100"), |b| {
        b.iter_custom(|iters| weft_batches(iters, weft_counter, Lockers::OneWorker))
    });
    group.bench_function(BenchmarkId::new("weft_mutex_unplaced", "1k_x_100"), |b| {
        b.iter_custom(|iters| weft_batches(iters, weft_counter, Lockers::Unplaced))
    });
    let rt = tokio_multi_thread();
    group.bench_function(BenchmarkId::new("tokio_mutex", "1k_x_100"), |b| {
        b.iter_custom(|iters| tokio_batches(iters, &rt, tokio_counter))
    });
    drop(rt);
    let rt = tokio_current_thread();
    group.bench_function(
        BenchmarkId::new("tokio_mutex_current_thread", "1k_x_100"),
        |b| b.iter_custom(|iters| tokio_batches(iters, &rt, tokio_counter)),
    );
    drop(rt);
    group.bench_function(BenchmarkId::new("weft_std_mutex", "1k_x_100"), |b| {
        b.iter_custom(|iters| weft_batches(iters, weft_std_counter, Lockers::Spread))
    });
    group.bench_function(BenchmarkId::new("std_threads_2", "2_x_50k"), |b| {
        b.iter_custom(|iters| (0..iters).map(|_| std_threads_counter()).sum())
    });
    group.finish();
}

/// Runs in a coroutine: `LOCKERS` coroutines take a permit `PER_LOCKER` times each, and yield
/// while they hold it.
fn weft_semaphore(lockers: Lockers) -> Duration {
    let sem = Arc::new(weft::sync::Semaphore::new(PERMITS));
    let count = Arc::new(AtomicU64::new(0));
    let (s, n) = (sem.clone(), count.clone());
    let elapsed = weft_gated(lockers, move || {
        for _ in 0..PER_LOCKER {
            let _permit = s.acquire();
            n.fetch_add(1, Ordering::Relaxed);
            weft::thread::yield_now();
        }
    });
    assert_eq!(count.load(Ordering::Relaxed), TOTAL);
    assert_eq!(sem.available_permits(), PERMITS);
    elapsed
}

/// Runs in a tokio task: the same with `tokio::sync::Semaphore`.
async fn tokio_semaphore() -> Duration {
    let sem = Arc::new(tokio::sync::Semaphore::new(PERMITS));
    let count = Arc::new(AtomicU64::new(0));
    let elapsed = tokio_gated(|| {
        let (sem, count) = (sem.clone(), count.clone());
        async move {
            for _ in 0..PER_LOCKER {
                let _permit = sem.acquire().await.expect("not closed");
                count.fetch_add(1, Ordering::Relaxed);
                tokio::task::yield_now().await;
            }
        }
    })
    .await;
    assert_eq!(count.load(Ordering::Relaxed), TOTAL);
    assert_eq!(sem.available_permits(), PERMITS);
    elapsed
}

fn semaphore(c: &mut Criterion) {
    let mut group = c.benchmark_group("semaphore");
    group.throughput(Throughput::Elements(TOTAL));
    group.sampling_mode(SamplingMode::Flat);
    group.bench_function(BenchmarkId::new("weft", "1k_x_100"), |b| {
        b.iter_custom(|iters| weft_batches(iters, weft_semaphore, Lockers::Spread))
    });
    group.bench_function(BenchmarkId::new("weft_one_worker", "1k_x_100"), |b| {
        b.iter_custom(|iters| weft_batches(iters, weft_semaphore, Lockers::OneWorker))
    });
    let rt = tokio_multi_thread();
    group.bench_function(BenchmarkId::new("tokio", "1k_x_100"), |b| {
        b.iter_custom(|iters| tokio_batches(iters, &rt, tokio_semaphore))
    });
    drop(rt);
    let rt = tokio_current_thread();
    group.bench_function(BenchmarkId::new("tokio_current_thread", "1k_x_100"), |b| {
        b.iter_custom(|iters| tokio_batches(iters, &rt, tokio_semaphore))
    });
    drop(rt);
    group.finish();
}
