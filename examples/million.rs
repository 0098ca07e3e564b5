//! One million coroutines that each sleep one second.
//!
//! ```text
//! cargo run --release --example million            # 1,000,000 coroutines
//! cargo run --release --example million -- 100000  # another count
//! ```
//!
//! Every coroutine gets its own guarded stack and parks on its worker's timer; the program
//! prints how long spawning and the whole run took, and the peak memory per coroutine.

use std::time::{Duration, Instant};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(1_000_000, |s| s.parse().expect("a count"));
    let base = status_kib("VmRSS:");
    let start = Instant::now();

    let handles: Vec<_> = (0..n)
        .map(|i| {
            weft::go!(move || {
                weft::thread::sleep(Duration::from_secs(1));
                i % 2 == 0
            })
        })
        .collect();
    let spawned = start.elapsed();
    let live_rss = status_kib("VmRSS:");
    let maps = std::fs::read_to_string("/proc/self/maps").map_or(0, |m| m.lines().count());

    let even = handles
        .into_iter()
        .map(|h| h.join().expect("no panic"))
        .filter(|&e| e)
        .count();
    let total = start.elapsed();
    assert_eq!(even, n.div_ceil(2), "every coroutine finished exactly once");

    let peak = status_kib("VmHWM:");
    println!("{n} coroutines, each sleeping 1 s");
    println!("  spawned in        {:>8.3} s", spawned.as_secs_f64());
    println!("  all finished in   {:>8.3} s", total.as_secs_f64());
    println!(
        "  peak memory       {:>8.1} MiB (VmHWM)",
        peak as f64 / 1024.0
    );
    println!(
        "  per coroutine     {:>8.2} KiB resident while all were parked",
        live_rss.saturating_sub(base) as f64 / n as f64
    );
    println!(
        "  memory maps       {maps:>8} (vm.max_map_count is {})",
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
