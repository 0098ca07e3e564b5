//! One million coroutines that each sleep one second — then one million parked at once.
//!
//! ```text
//! cargo run --release --example million            # 1,000,000 coroutines
//! cargo run --release --example million -- 100000  # another count
//! ```
//!
//! Part 1 spawns the coroutines from the main thread; each sleeps one second on its worker's
//! timer and returns; the program joins them all and prints the elapsed time and the peak
//! memory. Part 2 measures what a parked coroutine costs: it spawns the same number again,
//! each parking until the main thread unparks it, reads the resident memory while all of them
//! are parked, then wakes and joins them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use weft::thread;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(1_000_000, |s| s.parse().expect("a count"));
    let base_rss = status_kib("VmRSS:");

    // Part 1: n coroutines, each sleeping one second.
    let start = Instant::now();
    let handles: Vec<_> = (0..n)
        .map(|i| {
            weft::go!(move || {
                thread::sleep(Duration::from_secs(1));
                i
            })
        })
        .collect();
    let spawned = start.elapsed();
    let sum: usize = handles
        .into_iter()
        .map(|h| h.join().expect("no panic"))
        .sum();
    let finished = start.elapsed();
    assert_eq!(
        sum,
        n * (n - 1) / 2,
        "every coroutine finished exactly once"
    );
    println!("{n} coroutines, each sleeping 1 s");
    println!("  spawned in          {:>8.3} s", spawned.as_secs_f64());
    println!("  all finished in     {:>8.3} s", finished.as_secs_f64());
    println!(
        "  peak memory         {:>8.1} MiB (VmHWM)",
        status_kib("VmHWM:") as f64 / 1024.0
    );

    // Part 2: n coroutines parked at the same time.
    static PARKED: AtomicUsize = AtomicUsize::new(0);
    let handles: Vec<_> = (0..n)
        .map(|_| {
            weft::go!(|| {
                PARKED.fetch_add(1, Ordering::Relaxed);
                thread::park();
            })
        })
        .collect();
    while PARKED.load(Ordering::Relaxed) < n {
        std::thread::sleep(Duration::from_millis(5));
    }
    let parked_rss = status_kib("VmRSS:");
    let maps = std::fs::read_to_string("/proc/self/maps").map_or(0, |m| m.lines().count());
    for h in &handles {
        h.thread().unpark();
    }
    for h in handles {
        h.join().expect("no panic");
    }
    println!("{n} coroutines parked at once");
    // Whole-process resident memory over the count: stacks, tasks, handles, queues and the
    // leftovers of part 1 all included, so this is an upper bound per parked coroutine.
    println!(
        "  resident memory     {:>8.2} KiB per parked coroutine ({:.1} MiB in all)",
        parked_rss.saturating_sub(base_rss) as f64 / n as f64,
        parked_rss as f64 / 1024.0
    );
    println!(
        "  memory maps         {maps:>8} (vm.max_map_count: {})",
        max_map_count()
    );
}

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn max_map_count() -> String {
    std::fs::read_to_string("/proc/sys/vm/max_map_count").map_or("?".into(), |s| s.trim().into())
}
