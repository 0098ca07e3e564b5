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
//!
//! ```text
//! cargo bench --bench sync                 # everything, under a minute
//! cargo bench --bench sync -- --test       # run each bench once, no timing
//! ```
//!
//! Run on a quiet machine (`uptime`); the load average at start is printed.

mod support;

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use support::{start_criterion, tokio_multi_thread};

/// Members of one group.
const MEMBERS: usize = 10_000;
/// Members of the OS-thread peer's group.
const THREADS: usize = 1_000;

fn main() {
    let mut c = start_criterion(10, Duration::from_secs(3));
    wait_group(&mut c);
    c.final_summary();
}

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
