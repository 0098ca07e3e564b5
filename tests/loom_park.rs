//! Loom models of the park protocol: the coroutine run state (coroutine/state.rs, P1–P4), the
//! user park token layered over it (coroutine/token.rs, P6), and the join hand-off
//! (thread/join_state.rs, J1–J4).
//!
//! The files of src/ are compiled here as they are, against a loom facade of the same shape
//! as `src/loom.rs`. The coroutine's switch to its worker is sequential code on one thread, so
//! "the coroutine" and "its worker" are one loom thread; wakers are other loom threads.
//!
//! Run: `RUSTFLAGS="--cfg weft_loom" cargo test --release --test loom_park`
#![cfg(weft_loom)]
#![allow(dead_code)]

mod loom {
    pub(crate) mod sync {
        pub(crate) mod atomic {
            pub(crate) use ::loom::sync::atomic::{AtomicU8, Ordering};
        }
    }
}

#[path = "../src/thread/join_state.rs"]
mod join_state;
#[path = "../src/coroutine/state.rs"]
mod state;
#[path = "../src/coroutine/token.rs"]
mod token;

use ::loom::sync::Arc;
use ::loom::sync::atomic::{AtomicUsize, Ordering};
use ::loom::thread;
use state::{RunState, Wake};

/// The raw park of a coroutine as the worker runs it: consume a pending wake, else switch and
/// commit (P1). Returns whether the park committed (the coroutine is now off the CPU).
fn park_and_commit(st: &RunState) -> bool {
    if st.try_consume_wake() {
        return false;
    }
    // ... the coroutine switches to its worker here ...
    if st.transition_to_parked() {
        return true;
    }
    // P3: a wake raced the switch; the worker resumes the coroutine, the wake stays pending
    // (the next park consumes it and returns at once).
    false
}

fn waker(st: &Arc<RunState>, enqueued: &Arc<AtomicUsize>) -> thread::JoinHandle<()> {
    let (st, enqueued) = (st.clone(), enqueued.clone());
    thread::spawn(move || {
        if st.wake() == Wake::Enqueue {
            enqueued.fetch_add(1, Ordering::SeqCst);
        }
    })
}

/// P1–P3: one wake against one park. If the park committed, the waker enqueued the coroutine
/// (no lost wake-up); if it did not, nobody enqueued it (it is still running: no double run).
#[test]
fn wake_races_park() {
    ::loom::model(|| {
        let st = Arc::new(RunState::new_queued());
        let enqueued = Arc::new(AtomicUsize::new(0));
        st.transition_to_running();
        let w = waker(&st, &enqueued);
        let parked = park_and_commit(&st);
        w.join().unwrap();
        assert_eq!(enqueued.load(Ordering::SeqCst), usize::from(parked));
        if parked {
            // The owner pops it again, consuming the wake (P9): nothing is left pending.
            st.transition_to_running();
            assert!(!st.try_consume_wake());
        }
    });
}

/// P2: two wakes against one park enqueue at most once, and exactly once if it parked.
#[test]
fn two_wakes_one_enqueue() {
    ::loom::model(|| {
        let st = Arc::new(RunState::new_queued());
        let enqueued = Arc::new(AtomicUsize::new(0));
        st.transition_to_running();
        let w1 = waker(&st, &enqueued);
        let w2 = waker(&st, &enqueued);
        let parked = park_and_commit(&st);
        w1.join().unwrap();
        w2.join().unwrap();
        assert_eq!(enqueued.load(Ordering::SeqCst), usize::from(parked));
    });
}

/// P3: a wake that arrives while the coroutine sits in a queue after `yield_now` is kept, so
/// its next park returns at once.
#[test]
fn wake_during_yield_is_kept() {
    ::loom::model(|| {
        let st = Arc::new(RunState::new_queued());
        let enqueued = Arc::new(AtomicUsize::new(0));
        st.transition_to_running();
        let w = waker(&st, &enqueued);
        // yield: the coroutine goes on a run queue but stays RUNNING (P2) ...
        st.transition_to_running(); // ... and is popped again
        let parked = park_and_commit(&st);
        w.join().unwrap();
        // The waker either ran before the park (then the park consumed it, not parked) or
        // after the commit (then it enqueued): never lost, never twice.
        assert_eq!(enqueued.load(Ordering::SeqCst), usize::from(parked));
    });
}

/// P9: what a waker did before its wake is visible to the coroutine once the wake is
/// consumed, even when the wake found another one pending. A first wake is pending; a second
/// waker sets a flag (relaxed: only the run-state word orders it) and wakes; the coroutine
/// waits, as every weft wait does, until it sees the flag. A waker that returned on seeing the
/// pending wake without a read-modify-write would let the coroutine consume the first wake,
/// read a stale flag and park for ever (loom reports the deadlock).
#[test]
fn wake_publishes_what_the_waker_did() {
    ::loom::model(|| {
        let st = Arc::new(RunState::new_queued());
        let flag = Arc::new(AtomicUsize::new(0));
        // The worker's run queue: an enqueued coroutine is resumed by waiting on it.
        let queue = Arc::new(::loom::sync::Notify::new());
        st.transition_to_running();
        assert_eq!(st.wake(), Wake::Recorded); // a wake for an earlier wait, still pending
        let waker = {
            let (st, flag, queue) = (st.clone(), flag.clone(), queue.clone());
            thread::spawn(move || {
                flag.store(1, Ordering::Relaxed);
                if st.wake() == Wake::Enqueue {
                    queue.notify();
                }
            })
        };
        while flag.load(Ordering::Relaxed) == 0 {
            if park_and_commit(&st) {
                queue.wait();
                st.transition_to_running();
            }
        }
        waker.join().unwrap();
    });
}

/// P6: the user token over a raw park. An unpark from another thread always ends the park;
/// an unpark that came first makes the park return without blocking.
#[test]
fn token_unpark_ends_park() {
    ::loom::model(|| {
        let tok = Arc::new(token::Token::new());
        let me = thread::current();
        let t = {
            let tok = tok.clone();
            thread::spawn(move || {
                if tok.unpark() {
                    me.unpark();
                }
            })
        };
        // Raw park = loom's thread park (spurious wake-ups allowed by P4 are fine too).
        tok.park(|| {
            thread::park();
            false
        });
        t.join().unwrap();
    });
}

/// J1–J3: the result and the waiter are handed over without a data race (loom's `UnsafeCell`
/// checks every access), and a joiner that waits is always woken.
#[test]
fn join_hand_off() {
    use ::loom::cell::UnsafeCell;
    struct Packet {
        state: join_state::JoinState,
        result: UnsafeCell<Option<u32>>,
        waiter: UnsafeCell<Option<thread::Thread>>,
    }
    // SAFETY: (test) accesses follow J1–J2; loom reports any that do not.
    unsafe impl Sync for Packet {}
    ::loom::model(|| {
        let p = Arc::new(Packet {
            state: join_state::JoinState::new(),
            result: UnsafeCell::new(None),
            waiter: UnsafeCell::new(None),
        });
        let coroutine = {
            let p = p.clone();
            thread::spawn(move || {
                // SAFETY: the join protocol (J1–J4) orders this access; loom checks it.
                p.result.with_mut(|r| unsafe { *r = Some(42) });
                match p.state.complete() {
                    join_state::Completed::WakeJoiner => {
                        // SAFETY: the join protocol (J1–J4) orders this access; loom checks it.
                        let w = p.waiter.with_mut(|w| unsafe { (*w).take() });
                        w.expect("a waiting joiner left its waiter").unpark();
                    }
                    join_state::Completed::Kept => {}
                    join_state::Completed::DropResult => panic!("nobody detached"),
                }
            })
        };
        // The joiner (Packet::join).
        if !p.state.is_done() {
            p.waiter
                // SAFETY: the join protocol (J1–J4) orders this access; loom checks it.
                .with_mut(|w| unsafe { *w = Some(thread::current()) });
            if p.state.start_waiting() {
                while !p.state.is_done() {
                    thread::park();
                }
            }
        }
        // SAFETY: the join protocol (J1–J4) orders this access; loom checks it.
        assert_eq!(p.result.with_mut(|r| unsafe { (*r).take() }), Some(42));
        coroutine.join().unwrap();
    });
}

/// J4: a handle dropped without joining races the coroutine publishing its result; whichever
/// comes second drops the result, exactly once, without a data race.
#[test]
fn detach_drops_the_result_once() {
    use ::loom::cell::UnsafeCell;
    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    struct Packet {
        state: join_state::JoinState,
        result: UnsafeCell<Option<Counted>>,
    }
    // SAFETY: (test) accesses follow J1 and J4; loom reports any that do not.
    unsafe impl Sync for Packet {}
    // SAFETY: the join protocol (J1–J4) orders this access; loom checks it.
    unsafe impl Send for Packet {}
    ::loom::model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let p = Arc::new(Packet {
            state: join_state::JoinState::new(),
            result: UnsafeCell::new(None),
        });
        let coroutine = {
            let (p, drops) = (p.clone(), drops.clone());
            thread::spawn(move || {
                // SAFETY: the join protocol (J1–J4) orders this access; loom checks it.
                p.result.with_mut(|r| unsafe { *r = Some(Counted(drops)) });
                match p.state.complete() {
                    join_state::Completed::DropResult => {
                        // SAFETY: the join protocol (J1–J4) orders this access; loom checks it.
                        drop(p.result.with_mut(|r| unsafe { (*r).take() }));
                    }
                    join_state::Completed::Kept => {}
                    join_state::Completed::WakeJoiner => panic!("nobody joins"),
                }
            })
        };
        // The handle is dropped (JoinHandle::drop).
        if p.state.detach() {
            // SAFETY: the join protocol (J1–J4) orders this access; loom checks it.
            drop(p.result.with_mut(|r| unsafe { (*r).take() }));
        }
        coroutine.join().unwrap();
        assert_eq!(drops.load(Ordering::SeqCst), 1, "dropped exactly once");
        // SAFETY: the join protocol (J1–J4) orders this access; loom checks it.
        assert!(p.result.with_mut(|r| unsafe { (*r).is_none() }));
    });
}
