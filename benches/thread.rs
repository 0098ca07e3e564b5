//! Benchmarks of weft's hot paths, each measured next to its peers in the same run.
//!
//! What this guards — the cost of weft's hot paths, against targets set from Go and tokio on
//! the 2-core reference machine:
//!
//! - `spawn_join`: spawn 100k trivial coroutines and join them all, from a coroutine (the
//!   realistic case) and from the main OS thread. Target ≤ 136 ns/task (Go 1.19 on the same
//!   machine); peers: tokio tasks on a 2-worker runtime (342 ns/task), std threads (1k).
//! - `yield`: one `thread::yield_now` in a coroutine, alone and with a partner on the same
//!   worker. Target ≤ 20 ns/yield; peers: tokio `yield_now` on a current-thread runtime,
//!   `std::thread::yield_now`.
//! - `park_unpark_pingpong`: one round trip of two coroutines handing a turn over with
//!   `thread::park` / `Thread::unpark`, on one worker and across workers; peers: two std
//!   threads with `std::thread::park` / `unpark`, two tokio tasks with `tokio::sync::Notify`.
//!
//! Reading the numbers: in `spawn_join` one iteration is a whole batch and the group sets
//! `Throughput::Elements(batch)`, so the time per task is the batch time divided by the batch
//! size (the inverse of the reported `thrpt`). In `yield` and `park_unpark_pingpong` one
//! criterion iteration *is* one yield or one round trip (`iter_custom`), so the reported time
//! is already per operation.
//!
//! Setup stays out of the timed region: the weft runtime is started (2 workers, like the tokio
//! peers) before any group, the tokio runtimes are built outside the timed closures, every
//! `spawn_join` bench runs one untimed batch first (so the weft stack pool holds 100k stacks
//! before measuring), and coroutines that must share — or must not share — a worker are placed
//! and checked before the clock starts (`spawn_placed`).
//!
//! ```text
//! cargo bench --bench thread                        # everything, under 2 minutes
//! cargo bench --bench thread -- yield               # one group (criterion filter)
//! cargo bench --bench thread -- --test              # run each bench once, no timing
//! ```
//!
//! The machine is small (2 cores): run it on a quiet machine (`uptime`), or twice and compare.
//! The load average at start is printed to stderr for that reason.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};

mod support;

use support::{Placement, spawn_placed, start_criterion, tokio_current_thread, tokio_multi_thread};

/// Tasks per `spawn_join` batch (weft, tokio).
const SPAWN_BATCH: usize = 100_000;
/// Threads per `spawn_join` batch for std: OS threads are too expensive for 100k.
const STD_SPAWN_BATCH: usize = 1_000;

fn main() {
    let mut c = start_criterion(10, Duration::from_secs(3));
    spawn_join(&mut c, "spawn_join", true);
    yield_now(&mut c);
    park_unpark_pingpong(&mut c);
    // Last, because it changes the allocator for the rest of the process: the same spawn_join
    // with glibc told not to return freed heap to the kernel (see `keep_freed_heap`).
    if keep_freed_heap() {
        spawn_join(&mut c, "spawn_join_glibc_no_trim", false);
    }
    c.final_summary();
}

// ---------------------------------------------------------------------------------------------
// spawn_join
// ---------------------------------------------------------------------------------------------

/// glibc's malloc gives freed memory at the top of a thread's heap back to the kernel as soon
/// as it exceeds `M_TRIM_THRESHOLD`; a batch of 100k spawns frees tens of MiB at once, so the
/// next batch page-faults all of it in again. Go's allocator keeps freed memory for minutes.
/// This sets a threshold that keeps it (and a fixed mmap threshold, since setting one disables
/// glibc's dynamic adjustment), process-wide, for every peer alike. Returns `false` where that
/// cannot be done (not glibc).
fn keep_freed_heap() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes glibc's tuning parameters; it is called from the main
        // thread between benchmark groups, while no allocation is in flight on other threads
        // that could observe a half-made change (glibc takes its own lock anyway).
        unsafe {
            libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30) == 1
                && libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    false
}

fn spawn_join(c: &mut Criterion, name: &str, with_std: bool) {
    let mut group = c.benchmark_group(name);
    // A batch takes tens of milliseconds: give the 10 samples room.
    group.measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(SPAWN_BATCH as u64));

    // The realistic case: a coroutine spawns (onto its worker's local queue) and joins.
    let mut warm = untimed_once(|| weft_in_coroutine_batch(SPAWN_BATCH));
    group.bench_function(BenchmarkId::new("weft_in_coroutine", "100k"), |b| {
        warm();
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| weft_in_coroutine_batch(SPAWN_BATCH))
                .sum()
        })
    });

    // From the main OS thread: every spawn goes through the global injector, joins park the
    // OS thread.
    let mut warm = untimed_once(|| weft_batch(SPAWN_BATCH));
    group.bench_function(BenchmarkId::new("weft_from_main", "100k"), |b| {
        warm();
        b.iter_custom(|iters| (0..iters).map(|_| weft_batch(SPAWN_BATCH)).sum())
    });

    {
        let rt = tokio_multi_thread();
        // As specified by the Go comparison: spawn from `block_on` (the main thread).
        let block_on = || rt.block_on(tokio_batch(SPAWN_BATCH));
        let mut warm = untimed_once(block_on);
        group.bench_function(BenchmarkId::new("tokio_block_on", "100k"), |b| {
            warm();
            b.iter_custom(|iters| (0..iters).map(|_| block_on()).sum())
        });
        // tokio's own realistic case: spawning from a task running on a worker.
        let in_task = || {
            rt.block_on(async {
                tokio::spawn(tokio_batch(SPAWN_BATCH))
                    .await
                    .expect("no panic")
            })
        };
        let mut warm = untimed_once(in_task);
        group.bench_function(BenchmarkId::new("tokio_in_task", "100k"), |b| {
            warm();
            b.iter_custom(|iters| (0..iters).map(|_| in_task()).sum())
        });
    }

    if !with_std {
        group.finish();
        return;
    }
    group.throughput(Throughput::Elements(STD_SPAWN_BATCH as u64));
    let mut warm = untimed_once(|| std_batch(STD_SPAWN_BATCH));
    group.bench_function(BenchmarkId::new("std_thread", "1k"), |b| {
        warm();
        b.iter_custom(|iters| (0..iters).map(|_| std_batch(STD_SPAWN_BATCH)).sum())
    });
    group.finish();
}

/// A closure that runs `batch` once, untimed, the first time it is called: the first batch
/// fills the stack pool (weft) and the allocators, and must not be measured. Called inside
/// the `bench_function` closure, so a filtered-out bench does not run it.
fn untimed_once(batch: impl Fn() -> Duration) -> impl FnMut() {
    let mut done = false;
    move || {
        if !std::mem::replace(&mut done, true) {
            batch();
        }
    }
}

/// Spawns `n` trivial coroutines from the caller (coroutine or OS thread), joins them all, and
/// returns the time taken. The handle vector is allocated before the clock starts.
fn weft_batch(n: usize) -> Duration {
    let mut handles = Vec::with_capacity(n);
    let start = Instant::now();
    for i in 0..n {
        handles.push(weft::thread::spawn(move || black_box(i)));
    }
    for h in handles.drain(..) {
        black_box(h.join().expect("no panic"));
    }
    let elapsed = start.elapsed();
    drop(handles);
    elapsed
}

/// `weft_batch` run by a driver coroutine; the driver's own spawn and join are not timed.
fn weft_in_coroutine_batch(n: usize) -> Duration {
    weft::go!(move || weft_batch(n)).join().expect("no panic")
}

async fn tokio_batch(n: usize) -> Duration {
    let mut handles = Vec::with_capacity(n);
    let start = Instant::now();
    for i in 0..n {
        handles.push(tokio::spawn(async move { black_box(i) }));
    }
    for h in handles.drain(..) {
        black_box(h.await.expect("no panic"));
    }
    let elapsed = start.elapsed();
    drop(handles);
    elapsed
}

fn std_batch(n: usize) -> Duration {
    let mut handles = Vec::with_capacity(n);
    let start = Instant::now();
    for i in 0..n {
        handles.push(std::thread::spawn(move || black_box(i)));
    }
    for h in handles.drain(..) {
        black_box(h.join().expect("no panic"));
    }
    let elapsed = start.elapsed();
    drop(handles);
    elapsed
}

// ---------------------------------------------------------------------------------------------
// yield
// ---------------------------------------------------------------------------------------------

fn yield_now(c: &mut Criterion) {
    let mut group = c.benchmark_group("yield");

    // One coroutine alone on its worker: each yield goes through the worker's queues and
    // resumes the same coroutine.
    group.bench_function("weft_solo", |b| {
        b.iter_custom(|iters| {
            weft::go!(move || {
                let start = Instant::now();
                for _ in 0..iters {
                    weft::thread::yield_now();
                }
                start.elapsed()
            })
            .join()
            .expect("no panic")
        })
    });

    // Two coroutines on the same worker, taking turns: every yield switches coroutine.
    group.bench_function("weft_pair_same_worker", |b| {
        b.iter_custom(|iters| {
            weft::go!(move || weft_yield_pair(iters))
                .join()
                .expect("no panic")
        })
    });

    let rt = tokio_current_thread();
    group.bench_function("tokio_current_thread_solo", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async move {
                tokio::spawn(async move {
                    let start = Instant::now();
                    for _ in 0..iters {
                        tokio::task::yield_now().await;
                    }
                    start.elapsed()
                })
                .await
                .expect("no panic")
            })
        })
    });
    group.bench_function("tokio_current_thread_pair", |b| {
        b.iter_custom(|iters| rt.block_on(tokio_yield_pair(iters)))
    });
    drop(rt);

    group.bench_function("std_thread", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                std::thread::yield_now();
            }
            start.elapsed()
        })
    });
    group.finish();
}

/// Runs in a coroutine: places a second coroutine on this worker, then both yield until
/// `iters` yields were made in total. Returns the time scaled to exactly `iters` yields.
fn weft_yield_pair(iters: u64) -> Duration {
    let per_side = iters.div_ceil(2);
    let done = Arc::new(AtomicBool::new(false));
    let child_done = done.clone();
    let child = spawn_placed(Placement::SameWorker, move || {
        for _ in 0..per_side {
            weft::thread::yield_now();
        }
        child_done.store(true, Ordering::Release);
    });
    let start = Instant::now();
    let mut yields = per_side;
    for _ in 0..per_side {
        weft::thread::yield_now();
    }
    while !done.load(Ordering::Acquire) {
        weft::thread::yield_now();
        yields += 1;
    }
    let elapsed = start.elapsed();
    child.join().expect("no panic");
    scale(elapsed, yields + per_side, iters)
}

async fn tokio_yield_pair(iters: u64) -> Duration {
    let per_side = iters.div_ceil(2);
    let yielder = move || async move {
        for _ in 0..per_side {
            tokio::task::yield_now().await;
        }
    };
    let start = Instant::now();
    let a = tokio::spawn(yielder());
    let b = tokio::spawn(yielder());
    a.await.expect("no panic");
    b.await.expect("no panic");
    scale(start.elapsed(), 2 * per_side, iters)
}

// ---------------------------------------------------------------------------------------------
// park_unpark_pingpong
// ---------------------------------------------------------------------------------------------

fn park_unpark_pingpong(c: &mut Criterion) {
    let mut group = c.benchmark_group("park_unpark_pingpong");

    // The common case: both coroutines on one worker, each unpark puts the other in `runnext`.
    group.bench_function("weft_same_worker", |b| {
        b.iter_custom(|iters| {
            weft::go!(move || weft_pingpong(iters, Placement::SameWorker))
                .join()
                .expect("no panic")
        })
    });
    // Across workers: each unpark goes through the other worker's inbox and, if it went to
    // sleep, its futex.
    group.bench_function("weft_cross_worker", |b| {
        b.iter_custom(|iters| {
            weft::go!(move || weft_pingpong(iters, Placement::OtherWorker))
                .join()
                .expect("no panic")
        })
    });

    group.bench_function("std_thread", |b| b.iter_custom(std_pingpong));

    let rt = tokio_current_thread();
    group.bench_function("tokio_notify_current_thread", |b| {
        b.iter_custom(|iters| rt.block_on(tokio_pingpong(iters)))
    });
    drop(rt);
    let rt = tokio_multi_thread();
    group.bench_function("tokio_notify_multi_thread", |b| {
        b.iter_custom(|iters| rt.block_on(tokio_pingpong(iters)))
    });
    drop(rt);
    group.finish();
}

/// Runs in a coroutine: places a partner coroutine, then hands the turn back and forth
/// `iters` times. The turn counter makes spurious wake-ups harmless: odd = partner's turn.
fn weft_pingpong(iters: u64, placement: Placement) -> Duration {
    let turn = Arc::new(AtomicU64::new(0));
    let me = weft::thread::current();
    let partner_turn = turn.clone();
    let partner = spawn_placed(placement, move || {
        for i in 0..iters {
            while partner_turn.load(Ordering::Acquire) != 2 * i + 1 {
                weft::thread::park();
            }
            partner_turn.store(2 * i + 2, Ordering::Release);
            me.unpark();
        }
    });
    let other = partner.thread().clone();
    let start = Instant::now();
    for i in 0..iters {
        turn.store(2 * i + 1, Ordering::Release);
        other.unpark();
        while turn.load(Ordering::Acquire) != 2 * i + 2 {
            weft::thread::park();
        }
    }
    let elapsed = start.elapsed();
    partner.join().expect("no panic");
    elapsed
}

fn std_pingpong(iters: u64) -> Duration {
    let turn = Arc::new(AtomicU64::new(0));
    let ready = Arc::new(AtomicBool::new(false));
    let me = std::thread::current();
    let (partner_turn, partner_ready) = (turn.clone(), ready.clone());
    let partner = std::thread::spawn(move || {
        partner_ready.store(true, Ordering::Release);
        for i in 0..iters {
            while partner_turn.load(Ordering::Acquire) != 2 * i + 1 {
                std::thread::park();
            }
            partner_turn.store(2 * i + 2, Ordering::Release);
            me.unpark();
        }
    });
    while !ready.load(Ordering::Acquire) {
        std::thread::yield_now();
    }
    let other = partner.thread().clone();
    let start = Instant::now();
    for i in 0..iters {
        turn.store(2 * i + 1, Ordering::Release);
        other.unpark();
        while turn.load(Ordering::Acquire) != 2 * i + 2 {
            std::thread::park();
        }
    }
    let elapsed = start.elapsed();
    partner.join().expect("no panic");
    elapsed
}

/// Two tasks (both spawned, so on a multi-thread runtime both run on workers) handing the
/// turn over with one `Notify` each; `notify_one` stores a permit, so no turn is lost.
async fn tokio_pingpong(iters: u64) -> Duration {
    tokio::spawn(async move {
        let (ping, pong) = (
            Arc::new(tokio::sync::Notify::new()),
            Arc::new(tokio::sync::Notify::new()),
        );
        let (partner_ping, partner_pong) = (ping.clone(), pong.clone());
        let partner = tokio::spawn(async move {
            for _ in 0..iters {
                partner_ping.notified().await;
                partner_pong.notify_one();
            }
        });
        let start = Instant::now();
        for _ in 0..iters {
            ping.notify_one();
            pong.notified().await;
        }
        let elapsed = start.elapsed();
        partner.await.expect("no panic");
        elapsed
    })
    .await
    .expect("no panic")
}

// ---------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------

/// `elapsed` measured over `done` operations, scaled to `wanted` operations.
fn scale(elapsed: Duration, done: u64, wanted: u64) -> Duration {
    Duration::from_secs_f64(elapsed.as_secs_f64() * wanted as f64 / done.max(1) as f64)
}
