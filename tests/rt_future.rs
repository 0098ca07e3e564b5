//! `weft::future::block_on` (FU1, arch/future.md): on plain threads and in coroutines, with
//! wakes from other threads, from inside the poll and after completion; 2,000 at once; and on
//! one worker, another coroutine keeps running while one waits in `block_on`.

mod support;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use support::{child_is, child_report, run_child, watchdog};
use weft::future::block_on;

/// A one-shot future completed from outside: `Pending` until `complete`, then `Ready(value)`.
#[derive(Clone, Default)]
struct Gate(Arc<GateState>);

#[derive(Default)]
struct GateState {
    done: AtomicBool,
    value: AtomicUsize,
    waker: Mutex<Option<Waker>>,
    /// How many times the future was polled (a wake must cause a poll).
    polls: AtomicUsize,
}

impl Gate {
    fn complete(&self, value: usize) {
        self.0.value.store(value, Ordering::Relaxed);
        self.0.done.store(true, Ordering::Release);
        if let Some(w) = self.0.waker.lock().unwrap().take() {
            w.wake();
        }
    }

    fn is_waiting(&self) -> bool {
        self.0.waker.lock().unwrap().is_some()
    }
}

impl Future for Gate {
    type Output = usize;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
        self.0.polls.fetch_add(1, Ordering::Relaxed);
        // The waker first, then the check: a `complete` in between is seen (it takes the
        // waker under the same lock, or finds `done` already read here as set).
        *self.0.waker.lock().unwrap() = Some(cx.waker().clone());
        if self.0.done.load(Ordering::Acquire) {
            return Poll::Ready(self.0.value.load(Ordering::Relaxed));
        }
        Poll::Pending
    }
}

/// Pending `n` times, waking itself from inside the poll each time (wake while polling).
struct SelfWaking(usize);

impl Future for SelfWaking {
    type Output = &'static str;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<&'static str> {
        if self.0 == 0 {
            return Poll::Ready("done");
        }
        self.0 -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

fn wait_until(what: &str, cond: impl Fn() -> bool) {
    for _ in 0..20_000 {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("{what}: not within 20 s");
}

#[test]
fn a_ready_future_returns_its_output_on_a_thread_and_in_a_coroutine() {
    watchdog(|| {
        assert_eq!(block_on(async { 6 * 7 }), 42);
        assert_eq!(weft::go!(|| block_on(async { 6 * 7 })).join().unwrap(), 42);
    });
}

#[test]
fn a_wake_from_inside_the_poll_makes_it_poll_again() {
    watchdog(|| {
        assert_eq!(block_on(SelfWaking(3)), "done");
        assert_eq!(
            weft::go!(|| block_on(SelfWaking(3))).join().unwrap(),
            "done"
        );
    });
}

#[test]
fn a_wake_from_another_thread_completes_it() {
    watchdog(|| {
        for in_coroutine in [false, true] {
            let gate = Gate::default();
            let g = gate.clone();
            let waiter = support::start(!in_coroutine, move || block_on(g));
            wait_until("the future waits", || gate.is_waiting());
            gate.complete(7);
            assert_eq!(waiter.join(), 7);
            // Pending once, then one poll for the wake (at most a few spurious ones).
            let polls = gate.0.polls.load(Ordering::Relaxed);
            assert!((2..=4).contains(&polls), "polled {polls} times");
        }
    });
}

#[test]
fn a_wake_after_completion_is_harmless() {
    watchdog(|| {
        let kept = Arc::new(Mutex::new(None::<Waker>));
        let k = kept.clone();
        let h = weft::go!(move || {
            let out = block_on(std::future::poll_fn(|cx| {
                *k.lock().unwrap() = Some(cx.waker().clone());
                Poll::Ready(5)
            }));
            // Woken late (below), while sleeping or after: the wake only sets the cached
            // signal's flag; the next block_on on it still waits for its own future.
            weft::thread::sleep(Duration::from_millis(50));
            let gate = Gate::default();
            let g = gate.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                g.complete(6);
            });
            (out, block_on(gate))
        });
        wait_until("the waker kept", || kept.lock().unwrap().is_some());
        let waker = kept.lock().unwrap().take().unwrap();
        waker.wake_by_ref();
        waker.wake();
        assert_eq!(h.join().unwrap(), (5, 6));
    });
}

#[test]
fn two_thousand_coroutines_in_block_on_at_once() {
    const N: usize = 2000;
    watchdog(|| {
        let gates: Vec<Gate> = (0..N).map(|_| Gate::default()).collect();
        let handles: Vec<_> = gates
            .iter()
            .cloned()
            .map(|g| weft::go!(move || block_on(g)))
            .collect();
        wait_until("every future waits", || gates.iter().all(Gate::is_waiting));
        // Completed from two plain threads, in two halves.
        let (a, b) = gates.split_at(N / 2);
        std::thread::scope(|s| {
            s.spawn(|| a.iter().enumerate().for_each(|(i, g)| g.complete(i)));
            s.spawn(|| {
                b.iter()
                    .enumerate()
                    .for_each(|(i, g)| g.complete(N / 2 + i))
            });
        });
        let mut seen: Vec<usize> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..N).collect::<Vec<_>>(), "each value once");
    });
}

#[test]
fn a_block_on_is_listed_in_the_dump() {
    watchdog(|| {
        let gate = Gate::default();
        let g = gate.clone();
        let h = weft::thread::Builder::new()
            .name("bridge".into())
            .spawn(move || block_on(g))
            .unwrap();
        let id = h.thread().id();
        wait_until("block_on listed", || {
            weft::runtime::dump()
                .get(id)
                .is_some_and(|e| e.wait_reason() == Some(&weft::runtime::WaitReason::BlockOn))
        });
        gate.complete(1);
        assert_eq!(h.join().unwrap(), 1);
    });
}

/// One worker: a coroutine waits in `block_on` for a future that a plain thread completes
/// only after a second coroutine has run to its end. If `block_on` held the worker, the second
/// could never run: the child would hang and its watchdog fail.
#[test]
fn child_one_worker() {
    if !child_is("one-worker") {
        return;
    }
    let gate = Gate::default();
    let g = gate.clone();
    let waiter = weft::go!(move || block_on(g));
    wait_until("the future waits", || gate.is_waiting());
    let other_ran = Arc::new(AtomicBool::new(false));
    let o = other_ran.clone();
    let other = weft::go!(move || {
        let mut sum = 0u64;
        for i in 0..1000 {
            sum += i;
            weft::thread::yield_now();
        }
        o.store(true, Ordering::Release);
        sum
    });
    let completer = std::thread::spawn(move || {
        wait_until("the other coroutine ran", || {
            other_ran.load(Ordering::Acquire)
        });
        gate.complete(9);
    });
    assert_eq!(other.join().unwrap(), 499_500);
    assert_eq!(waiter.join().unwrap(), 9);
    completer.join().unwrap();
    child_report("ok", "yes");
}

#[test]
fn on_one_worker_another_coroutine_runs_during_a_block_on() {
    let out = run_child("child_one_worker", "one-worker", &[("WEFT_WORKERS", "1")]);
    out.assert_success();
    assert!(out.stdout.contains("[ok=yes]"), "{}", out.dump());
}
