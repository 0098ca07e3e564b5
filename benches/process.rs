//! Child processes: `weft::process` in coroutines next to `std::process` on OS threads and
//! `tokio::process` on tokio's multi-thread runtime, in one process.
//!
//! - `spawn_wait_true`: one spawn of `true` and the wait for its exit, one at a time (weft:
//!   one coroutine; std: the bench thread; tokio: one task). One iteration is one child.
//! - `spawn_wait_true_x16`: the same with 16 children in flight at once (weft: 16
//!   coroutines; std: 16 OS threads; tokio: 16 tasks). One iteration is one child.
//! - `output_1mib`: `output()` of a child that writes 1 MiB to stdout and 1 KiB to stderr
//!   (both pipes read at once), one at a time. One iteration is one child.
//!
//! ```text
//! cargo bench --bench process
//! cargo bench --bench process -- --test     # run each bench once, no timing
//! ```

mod support;

use std::time::{Duration, Instant};

use support::{WORKERS, print_load, start_criterion, tokio_multi_thread_io};

const PARALLEL: u64 = 16;
const OUTPUT_SCRIPT: &str = "head -c 1048576 /dev/zero; head -c 1024 /dev/zero >&2";

fn weft_true(n: u64) {
    for _ in 0..n {
        let status = weft::process::Command::new("true")
            .spawn()
            .unwrap()
            .wait()
            .unwrap();
        assert!(status.success());
    }
}

fn std_true(n: u64) {
    for _ in 0..n {
        let status = std::process::Command::new("true")
            .spawn()
            .unwrap()
            .wait()
            .unwrap();
        assert!(status.success());
    }
}

async fn tokio_true(n: u64) {
    for _ in 0..n {
        let status = tokio::process::Command::new("true")
            .spawn()
            .unwrap()
            .wait()
            .await
            .unwrap();
        assert!(status.success());
    }
}

/// `iters` children split over `lanes` concurrent lanes of `run` (lane `i` gets every
/// `lanes`-th child), on weft coroutines.
fn weft_lanes(iters: u64, lanes: u64, run: fn(u64)) -> Duration {
    let start = Instant::now();
    let handles: Vec<_> = (0..lanes)
        .map(|i| {
            let n = iters / lanes + u64::from(i < iters % lanes);
            weft::go!(move || run(n))
        })
        .collect();
    handles.into_iter().for_each(|h| h.join().unwrap());
    start.elapsed()
}

fn std_lanes(iters: u64, lanes: u64, run: fn(u64)) -> Duration {
    let start = Instant::now();
    std::thread::scope(|s| {
        for i in 0..lanes {
            let n = iters / lanes + u64::from(i < iters % lanes);
            s.spawn(move || run(n));
        }
    });
    start.elapsed()
}

fn tokio_lanes<F: Future<Output = ()> + Send + 'static>(
    rt: &tokio::runtime::Runtime,
    iters: u64,
    lanes: u64,
    run: fn(u64) -> F,
) -> Duration {
    let start = Instant::now();
    rt.block_on(async {
        let handles: Vec<_> = (0..lanes)
            .map(|i| {
                let n = iters / lanes + u64::from(i < iters % lanes);
                tokio::spawn(run(n))
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
    });
    start.elapsed()
}

fn weft_output(n: u64) {
    for _ in 0..n {
        let out = weft::process::Command::new("sh")
            .args(["-c", OUTPUT_SCRIPT])
            .output()
            .unwrap();
        assert_eq!((out.stdout.len(), out.stderr.len()), (1 << 20, 1024));
    }
}

fn std_output(n: u64) {
    for _ in 0..n {
        let out = std::process::Command::new("sh")
            .args(["-c", OUTPUT_SCRIPT])
            .output()
            .unwrap();
        assert_eq!((out.stdout.len(), out.stderr.len()), (1 << 20, 1024));
    }
}

async fn tokio_output(n: u64) {
    for _ in 0..n {
        let out = tokio::process::Command::new("sh")
            .args(["-c", OUTPUT_SCRIPT])
            .output()
            .await
            .unwrap();
        assert_eq!((out.stdout.len(), out.stderr.len()), (1 << 20, 1024));
    }
}

fn main() {
    let mut c = start_criterion(10, Duration::from_secs(3));
    let rt = tokio_multi_thread_io();
    eprintln!("weft and tokio with {WORKERS} workers each");
    for (name, lanes) in [("spawn_wait_true", 1), ("spawn_wait_true_x16", PARALLEL)] {
        let mut group = c.benchmark_group(name);
        group.bench_function("weft_coroutines", |b| {
            b.iter_custom(|iters| weft_lanes(iters, lanes, weft_true))
        });
        group.bench_function("std_threads", |b| {
            b.iter_custom(|iters| std_lanes(iters, lanes, std_true))
        });
        group.bench_function("tokio_tasks", |b| {
            b.iter_custom(|iters| tokio_lanes(&rt, iters, lanes, tokio_true))
        });
        group.finish();
    }
    let mut group = c.benchmark_group("output_1mib");
    group.bench_function("weft_coroutine", |b| {
        b.iter_custom(|iters| weft_lanes(iters, 1, weft_output))
    });
    group.bench_function("std_thread", |b| {
        b.iter_custom(|iters| std_lanes(iters, 1, std_output))
    });
    group.bench_function("tokio_task", |b| {
        b.iter_custom(|iters| tokio_lanes(&rt, iters, 1, tokio_output))
    });
    group.finish();
    c.final_summary();
    print_load("end");
}
