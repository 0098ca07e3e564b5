//! `weft::sync::Barrier`: over many rounds, nobody passes before every party of the round has
//! arrived (counter checks), exactly one party per round is the leader, and the barrier is
//! reused round after round; with coroutines (far more than the workers), OS threads, and
//! both at once. Waits are bounded only so that a hang fails (support's watchdog).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use support::{Party, Rng, start, watchdog};
use weft::sync::Barrier;

/// `n` parties (`os(i)` says which are OS threads) go through `rounds` rounds of one barrier.
fn rounds_of(n: usize, rounds: usize, os: impl Fn(usize) -> bool) {
    let barrier = Arc::new(Barrier::new(n));
    let arrived = Arc::new(AtomicUsize::new(0));
    let leaders: Arc<Vec<AtomicUsize>> = Arc::new((0..rounds).map(|_| 0.into()).collect());
    let parties: Vec<Party<usize>> = (0..n)
        .map(|i| {
            let (barrier, arrived, leaders) = (barrier.clone(), arrived.clone(), leaders.clone());
            start(os(i), move || {
                let mut rng = Rng::new(i as u64 + 1);
                let mut led = 0;
                for round in 0..rounds {
                    // Arrive at different moments.
                    if rng.below(4) == 0 {
                        weft::thread::yield_now();
                    }
                    arrived.fetch_add(1, Ordering::SeqCst);
                    let result = barrier.wait();
                    let now = arrived.load(Ordering::SeqCst);
                    // Everyone of this round arrived before anyone passed, and nobody can
                    // have arrived for the round after next, which needs us.
                    assert!(
                        now >= n * (round + 1),
                        "passed early: {now} in round {round}"
                    );
                    assert!(now < n * (round + 2), "{now} arrivals in round {round}");
                    if result.is_leader() {
                        leaders[round].fetch_add(1, Ordering::SeqCst);
                        led += 1;
                    }
                }
                led
            })
        })
        .collect();
    let led: usize = parties.into_iter().map(Party::join).sum();
    assert_eq!(led, rounds);
    for (round, l) in leaders.iter().enumerate() {
        assert_eq!(l.load(Ordering::SeqCst), 1, "leaders in round {round}");
    }
    assert_eq!(arrived.load(Ordering::SeqCst), n * rounds);
}

#[test]
fn a_thousand_coroutines_one_leader_per_round() {
    watchdog(|| rounds_of(1_000, 10, |_| false));
}

#[test]
fn coroutines_many_rounds() {
    watchdog(|| rounds_of(16, 300, |_| false));
}

#[test]
fn os_threads_many_rounds() {
    watchdog(|| rounds_of(4, 300, |_| true));
}

#[test]
fn coroutines_and_threads_together() {
    watchdog(|| {
        rounds_of(12, 200, |i| i % 3 == 0);
        rounds_of(2, 500, |i| i == 0);
    });
}

#[test]
fn barriers_of_zero_and_one_never_wait() {
    watchdog(|| {
        for n in [0, 1] {
            let b = Barrier::new(n);
            for _ in 0..3 {
                assert!(b.wait().is_leader());
            }
            let b = Arc::new(b);
            let b2 = b.clone();
            assert!(weft::go!(move || b2.wait().is_leader()).join().unwrap());
        }
        static B: Barrier = Barrier::new(1);
        let r = B.wait();
        assert_eq!(format!("{r:?}"), "BarrierWaitResult { is_leader: true }");
        assert_eq!(format!("{B:?}"), "Barrier { .. }");
    });
}
