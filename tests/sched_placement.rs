//! First placement (S8, arch/scheduler.md): where a coroutine first runs is where it lives
//! (CO4), so long-lived coroutines spawned together must land evenly on the workers, whether
//! spawned from a plain thread or from a coroutine (an accept loop).
//!
//! Each round spawns four long-lived coroutines on a runtime of two workers. Each works in
//! slices with a yield between them (so a worker that starts one can go on to start another),
//! and records the worker it runs on (every resume runs on its first worker, CO4). The round
//! counts as balanced when each worker runs two. The target (issue 15) is 2/2 in at least 95 %
//! of rounds from either kind of spawner.

mod support;

use std::time::{Duration, Instant};

use support::watchdog;

const ROUNDS: usize = 40;
const COROUTINES: usize = 4;

/// Rounds of the two tests must not overlap: they share the runtime's two workers.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Starts the runtime (Err if another test of this binary started it first, with the same
/// configuration) and takes the workers for this test.
fn runtime() -> std::sync::MutexGuard<'static, ()> {
    let _ = weft::runtime::Builder::new().workers(2).init();
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// A long-lived coroutine: 20 ms of work in 1 ms slices, a yield after each; returns the
/// name of the worker thread it ran on.
fn long_lived() -> String {
    let end = Instant::now() + Duration::from_millis(20);
    while Instant::now() < end {
        let slice = Instant::now() + Duration::from_millis(1);
        while Instant::now() < slice {
            std::hint::spin_loop();
        }
        weft::thread::yield_now();
    }
    std::thread::current().name().unwrap_or("?").to_owned()
}

/// Spawns one round and returns how many of its coroutines ran on the busier worker.
fn round() -> usize {
    let handles: Vec<_> = (0..COROUTINES).map(|_| weft::go!(long_lived)).collect();
    let workers: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let on_first = workers.iter().filter(|w| **w == workers[0]).count();
    on_first.max(COROUTINES - on_first)
}

fn assert_balanced(from: &str, busiest: &[usize]) {
    let balanced = busiest.iter().filter(|&&b| b == COROUTINES / 2).count();
    eprintln!("{from}: busiest worker per round {busiest:?}, {balanced}/{ROUNDS} balanced");
    assert!(
        balanced * 100 >= ROUNDS * 95,
        "from {from}: only {balanced} of {ROUNDS} rounds put 2 coroutines on each worker \
         (busiest worker per round: {busiest:?})"
    );
}

#[test]
fn long_lived_coroutines_spawned_from_a_thread_land_evenly() {
    let _workers = runtime();
    watchdog(|| {
        let busiest: Vec<usize> = (0..ROUNDS).map(|_| round()).collect();
        assert_balanced("a plain thread", &busiest);
    });
}

#[test]
fn long_lived_coroutines_spawned_from_a_coroutine_land_evenly() {
    let _workers = runtime();
    watchdog(|| {
        let busiest: Vec<usize> = weft::go!(|| (0..ROUNDS).map(|_| round()).collect())
            .join()
            .unwrap();
        assert_balanced("a coroutine", &busiest);
    });
}
