//! A coroutine that blocks its worker with a leftover std call, and what weft does about it:
//! sysmon's warning names the coroutine and shows where it is (after `WEFT_BLOCKING_WARN`,
//! 100 ms by default), and a spare worker takes the new coroutines meanwhile (after about a
//! millisecond: the worker's thread sleeps in the kernel).
//!
//! ```text
//! cargo run --release --example held_worker            # one round, with the warning
//! cargo run --release --example held_worker -- 10      # ten rounds, figures only
//! ```
//!
//! Each round, on one worker: a coroutine calls `std::thread::sleep(500 ms)`; the main thread
//! then spawns coroutines one after the other and measures how long the first one waited to
//! start (the hand-off: a spare worker runs it) and how long 100 of them took. It prints the
//! figures per round and their medians; the warning and the "gave worker back" lines come on
//! stderr from sysmon.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .map_or(1, |n| n.parse().expect("a number of rounds"));
    let mut builder = weft::runtime::Builder::new().workers(1);
    if rounds > 1 {
        builder = builder.blocking_warn(None);
    }
    builder.init().expect("the runtime starts");
    let mut first = Vec::new();
    let mut hundred = Vec::new();
    for round in 0..rounds {
        let held = Arc::new(AtomicBool::new(false));
        let h = held.clone();
        let blocker = weft::thread::Builder::new()
            .name("leftover-std-sleep".into())
            .spawn(move || {
                h.store(true, Ordering::SeqCst);
                // The bug: std's sleep blocks the worker thread, not just this coroutine.
                std::thread::sleep(Duration::from_millis(500));
            })
            .unwrap();
        while !held.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        let since = Instant::now();
        let started = weft::go!(Instant::now).join().unwrap() - since;
        let handles: Vec<_> = (0..100).map(|i| weft::go!(move || i)).collect();
        let sum: u32 = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(sum, 4950);
        let all = since.elapsed();
        blocker.join().unwrap();
        println!(
            "round {round}: first new coroutine started after {:.1} ms, 100 more done after {:.1} ms (the hold lasts 500 ms)",
            started.as_secs_f64() * 1e3,
            all.as_secs_f64() * 1e3
        );
        first.push(started);
        hundred.push(all);
        // Let the spare leave before the next round.
        std::thread::sleep(Duration::from_millis(50));
    }
    first.sort();
    hundred.sort();
    println!(
        "median of {rounds}: first started after {:.1} ms, 100 done after {:.1} ms",
        first[rounds / 2].as_secs_f64() * 1e3,
        hundred[rounds / 2].as_secs_f64() * 1e3
    );
    // The warning's "gave back" line comes from sysmon's next round.
    std::thread::sleep(Duration::from_millis(50));
}
