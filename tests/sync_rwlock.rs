//! `weft::sync::RwLock`: readers share (proved with a barrier inside the read section),
//! writers exclude everyone (proved with counters and torn-write checks), a waiting writer is
//! not starved by a stream of readers, queued readers are let in together, `try_read` /
//! `try_write`, and poisoning by writers only; from coroutines, OS threads and both at once.
//! A relock by a holder (`write` after `write` or `read`, `read` after `write`) panics naming
//! it (RW6), while `read` after `read` works, and coroutines of one worker just wait for each
//! other. Waits are bounded only so that a hang fails (support's watchdog); no test asserts
//! how long anything took.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use support::{Party, child_is, child_report, panic_text, run_child, start, watchdog};
use weft::go;
use weft::sync::mpsc;
use weft::sync::{Barrier, RwLock, RwLockWriteGuard, TryLockError};

/// Who runs party `i` of `n` in a run of `mode`: coroutines only, OS threads only, or mixed.
#[derive(Clone, Copy, Debug)]
enum Mode {
    Coroutines,
    Threads,
    Mixed,
}

impl Mode {
    fn os(self, i: usize) -> bool {
        match self {
            Mode::Coroutines => false,
            Mode::Threads => true,
            Mode::Mixed => i % 2 == 1,
        }
    }
}

#[test]
fn readers_hold_the_lock_at_the_same_time() {
    watchdog(|| {
        for (mode, n) in [
            (Mode::Coroutines, 50),
            (Mode::Threads, 6),
            (Mode::Mixed, 12),
        ] {
            let lock = Arc::new(RwLock::new(17u32));
            // Every reader waits at the barrier inside its read section: if readers excluded
            // each other, the first would wait there forever.
            let barrier = Arc::new(Barrier::new(n));
            let inside = Arc::new(AtomicUsize::new(0));
            let parties: Vec<_> = (0..n)
                .map(|i| {
                    let (lock, barrier, inside) = (lock.clone(), barrier.clone(), inside.clone());
                    start(mode.os(i), move || {
                        let g = lock.read().unwrap();
                        inside.fetch_add(1, Ordering::SeqCst);
                        assert!(matches!(lock.try_write(), Err(TryLockError::WouldBlock)));
                        barrier.wait();
                        // Everyone is inside now.
                        assert_eq!(inside.load(Ordering::SeqCst), n);
                        assert!(lock.try_read().is_ok(), "readers share");
                        let v = *g;
                        barrier.wait();
                        v
                    })
                })
                .collect();
            for p in parties {
                assert_eq!(p.join(), 17, "{mode:?}");
            }
            *lock.try_write().expect("free at the end") += 1;
            assert_eq!(*lock.read().unwrap(), 18);
        }
        // OS threads with std's barrier, so the proof does not rest on weft's Barrier alone.
        let lock = Arc::new(RwLock::new(()));
        let barrier = Arc::new(std::sync::Barrier::new(4));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (lock, barrier) = (lock.clone(), barrier.clone());
                std::thread::spawn(move || {
                    let _g = lock.read().unwrap();
                    barrier.wait();
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    });
}

#[test]
fn writers_exclude_readers_and_writers_with_exact_counts() {
    watchdog(|| {
        for mode in [Mode::Coroutines, Mode::Threads, Mode::Mixed] {
            const WRITERS: usize = 8;
            const READERS: usize = 8;
            const WRITES: usize = 300;
            const READS: usize = 300;
            // Two fields written apart (with a yield in between): a reader or a writer that
            // overlapped a writer would see them differ.
            let lock = Arc::new(RwLock::new((0usize, 0usize)));
            let writers_in = Arc::new(AtomicUsize::new(0));
            let readers_in = Arc::new(AtomicUsize::new(0));
            let reads = Arc::new(AtomicUsize::new(0));
            let mut parties: Vec<Party<()>> = Vec::new();
            for i in 0..WRITERS {
                let (lock, w_in, r_in) = (lock.clone(), writers_in.clone(), readers_in.clone());
                parties.push(start(mode.os(i), move || {
                    for k in 0..WRITES {
                        let mut g = lock.write().unwrap();
                        assert_eq!(w_in.fetch_add(1, Ordering::SeqCst), 0, "two writers");
                        assert_eq!(r_in.load(Ordering::SeqCst), 0, "a reader with a writer");
                        assert_eq!(g.0, g.1);
                        g.0 += 1;
                        if k % 4 == 0 {
                            weft::thread::yield_now();
                        }
                        g.1 += 1;
                        w_in.fetch_sub(1, Ordering::SeqCst);
                    }
                }));
            }
            for i in 0..READERS {
                let (lock, w_in, r_in) = (lock.clone(), writers_in.clone(), readers_in.clone());
                let reads = reads.clone();
                parties.push(start(mode.os(i + 1), move || {
                    for k in 0..READS {
                        let g = lock.read().unwrap();
                        r_in.fetch_add(1, Ordering::SeqCst);
                        assert_eq!(w_in.load(Ordering::SeqCst), 0, "a writer with a reader");
                        assert_eq!(g.0, g.1, "a torn write");
                        if k % 8 == 0 {
                            weft::thread::yield_now();
                        }
                        assert_eq!(g.0, g.1, "a torn write");
                        r_in.fetch_sub(1, Ordering::SeqCst);
                        reads.fetch_add(1, Ordering::SeqCst);
                    }
                }));
            }
            for p in parties {
                p.join();
            }
            let (a, b) = *lock.read().unwrap();
            assert_eq!((a, b), (WRITERS * WRITES, WRITERS * WRITES), "{mode:?}");
            assert_eq!(reads.load(Ordering::SeqCst), READERS * READS);
        }
    });
}

/// Readers keep the lock read-held without a gap (each takes a new read lock while others
/// still hold theirs) until the writer got in once; then they stop. Only a writer that
/// eventually goes ahead of the newer readers lets this finish.
fn writer_against_reader_stream(writer_os: bool, reader_modes: &[bool]) {
    let lock = Arc::new(RwLock::new(0u64));
    let written = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));
    let readers: Vec<_> = reader_modes
        .iter()
        .map(|&os| {
            let (lock, written, reads) = (lock.clone(), written.clone(), reads.clone());
            start(os, move || {
                let mut mine = 0usize;
                while !written.load(Ordering::SeqCst) {
                    let g = lock.read().unwrap();
                    assert!(*g == 0 || *g == 1);
                    reads.fetch_add(1, Ordering::SeqCst);
                    mine += 1;
                    // Hold across a yield, so that read sections overlap.
                    weft::thread::yield_now();
                    drop(g);
                }
                mine
            })
        })
        .collect();
    // The stream is flowing before the writer arrives.
    while reads.load(Ordering::SeqCst) < 100 {
        std::thread::yield_now();
    }
    let (lock2, written2) = (lock.clone(), written.clone());
    start(writer_os, move || {
        *lock2.write().unwrap() = 1;
        written2.store(true, Ordering::SeqCst);
    })
    .join();
    let total: usize = readers.into_iter().map(Party::join).sum();
    assert!(total >= 100);
    assert_eq!(*lock.read().unwrap(), 1);
}

#[test]
fn a_waiting_writer_is_not_starved_by_readers() {
    watchdog(|| {
        writer_against_reader_stream(false, &[false, false, false, false]);
        writer_against_reader_stream(true, &[false, false, false, false]);
        writer_against_reader_stream(false, &[true, true, true]);
        writer_against_reader_stream(true, &[true, true, true]);
        writer_against_reader_stream(false, &[false, true, false, true]);
        writer_against_reader_stream(true, &[true, false, true, false]);
    });
}

#[test]
fn try_read_and_try_write() {
    watchdog(|| {
        let lock = RwLock::new(1);
        {
            let r = lock.read().unwrap();
            let r2 = lock.try_read().expect("readers share");
            assert_eq!(*r + *r2, 2);
            assert!(matches!(lock.try_write(), Err(TryLockError::WouldBlock)));
        }
        {
            let mut w = lock.try_write().expect("free");
            *w = 2;
            assert!(matches!(lock.try_read(), Err(TryLockError::WouldBlock)));
            assert!(matches!(lock.try_write(), Err(TryLockError::WouldBlock)));
        }
        assert_eq!(*lock.try_read().unwrap(), 2);

        // Held by a coroutine or an OS thread, tried from the other kind and the same kind.
        for (holder_os, tryer_os) in [(false, false), (false, true), (true, false), (true, true)] {
            for write in [false, true] {
                let lock = Arc::new(RwLock::new(0u8));
                let (held_tx, held_rx) = mpsc::channel::<()>();
                let (release_tx, release_rx) = mpsc::channel::<()>();
                let l2 = lock.clone();
                let holder = start(holder_os, move || {
                    if write {
                        let _g = l2.write().unwrap();
                        held_tx.send(()).unwrap();
                        release_rx.recv().unwrap();
                    } else {
                        let _g = l2.read().unwrap();
                        held_tx.send(()).unwrap();
                        release_rx.recv().unwrap();
                    }
                });
                held_rx.recv().unwrap();
                let l3 = lock.clone();
                start(tryer_os, move || {
                    assert_eq!(l3.try_read().is_ok(), !write);
                    assert!(matches!(l3.try_write(), Err(TryLockError::WouldBlock)));
                })
                .join();
                release_tx.send(()).unwrap();
                holder.join();
                let l4 = lock.clone();
                start(tryer_os, move || {
                    drop(l4.try_read().expect("free"));
                    drop(l4.try_write().expect("free"));
                })
                .join();
            }
        }
    });
}

#[test]
fn a_queued_writer_keeps_new_readers_out_until_it_is_done() {
    watchdog(|| {
        for (writer_os, reader_os) in [(false, false), (true, false), (false, true)] {
            let lock = Arc::new(RwLock::new(0u32));
            let r = lock.read().unwrap();
            let l2 = lock.clone();
            let writer = start(writer_os, move || {
                *l2.write().unwrap() = 5;
            });
            // Once the writer queues, a new reader may not go ahead of it, though the lock is
            // only read-held.
            while lock.try_read().is_ok() {
                weft::thread::yield_now();
            }
            // A blocking reader queues behind the writer, and so sees its write.
            let l3 = lock.clone();
            let reader = start(reader_os, move || *l3.read().unwrap());
            drop(r);
            writer.join();
            assert_eq!(reader.join(), 5);
            assert_eq!(*lock.try_read().unwrap(), 5);
        }
    });
}

#[test]
fn readers_queued_behind_a_writer_are_let_in_together() {
    watchdog(|| {
        for mode in [Mode::Coroutines, Mode::Mixed] {
            const N: usize = 16;
            let lock = Arc::new(RwLock::new(0u32));
            let w = lock.write().unwrap();
            // The barrier inside the read section needs all N readers in at once, which the
            // writer's release must grant together.
            let barrier = Arc::new(Barrier::new(N));
            let started = Arc::new(AtomicUsize::new(0));
            let readers: Vec<_> = (0..N)
                .map(|i| {
                    let (lock, barrier) = (lock.clone(), barrier.clone());
                    let started = started.clone();
                    start(mode.os(i), move || {
                        started.fetch_add(1, Ordering::SeqCst);
                        let g = lock.read().unwrap();
                        barrier.wait();
                        *g
                    })
                })
                .collect();
            // Give them time to queue (if some are late they take the read lock alone; the
            // test stays correct, only weaker).
            while started.load(Ordering::SeqCst) < N {
                std::thread::yield_now();
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
            assert!(matches!(lock.try_read(), Err(TryLockError::WouldBlock)));
            let mut w = w;
            *w = 9;
            drop(w);
            for r in readers {
                assert_eq!(r.join(), 9, "{mode:?}");
            }
        }
    });
}

#[test]
fn a_panicking_writer_poisons_and_a_panicking_reader_does_not() {
    watchdog(|| {
        for os in [false, true] {
            let lock = Arc::new(RwLock::new(vec![1]));
            // A reader panics: not poisoned.
            let l2 = lock.clone();
            let err = join_err(start(os, move || {
                let _g = l2.read().unwrap();
                panic!("reader fails");
            }));
            assert_eq!(err.as_deref(), Some("reader fails"));
            assert!(!lock.is_poisoned());
            drop(lock.write().unwrap());

            // A writer panics: poisoned, with the data as it left it.
            let l2 = lock.clone();
            let err = join_err(start(os, move || {
                let mut g = l2.write().unwrap();
                g.push(2);
                panic!("writer fails");
            }));
            assert_eq!(err.as_deref(), Some("writer fails"));
            assert!(lock.is_poisoned());
            assert_eq!(*lock.read().unwrap_err().into_inner(), [1, 2]);
            lock.write().unwrap_err().into_inner().push(3);
            assert!(matches!(lock.try_read(), Err(TryLockError::Poisoned(_))));
            match lock.try_write() {
                Err(TryLockError::Poisoned(e)) => assert_eq!(*e.into_inner(), [1, 2, 3]),
                _ => panic!("try_write should report the poison"),
            }
            assert_eq!(
                format!("{lock:?}"),
                "RwLock { data: [1, 2, 3], poisoned: true, .. }"
            );
            lock.clear_poison();
            assert!(!lock.is_poisoned());
            assert_eq!(*lock.read().unwrap(), [1, 2, 3]);

            // Poisoned again: into_inner and get_mut report it.
            let l2 = lock.clone();
            join_err(start(os, move || {
                let _g = l2.write().unwrap();
                panic!("again");
            }));
            let mut lock = Arc::try_unwrap(lock).expect("the only owner");
            assert_eq!(*lock.get_mut().unwrap_err().into_inner(), [1, 2, 3]);
            assert_eq!(lock.into_inner().unwrap_err().into_inner(), [1, 2, 3]);
        }
    });
}

/// Joins a party that must have panicked; returns its panic message.
fn join_err(p: Party<()>) -> Option<String> {
    let err = match p {
        Party::Co(h) => h.join().unwrap_err(),
        Party::Os(h) => h.join().unwrap_err(),
    };
    panic_text(&*err)
}

static TABLE: RwLock<Vec<u32>> = RwLock::new(Vec::new());

#[test]
fn static_unsized_debug_default_and_from() {
    watchdog(|| {
        let handles: Vec<_> = (0..50u32)
            .map(|i| {
                go!(move || {
                    TABLE.write().unwrap().push(i);
                    TABLE.read().unwrap().contains(&i)
                })
            })
            .collect();
        for h in handles {
            assert!(h.join().unwrap());
        }
        let mut all = TABLE.read().unwrap().clone();
        all.sort_unstable();
        assert_eq!(all, (0..50).collect::<Vec<_>>());

        let b: Box<RwLock<[u8]>> = Box::new(RwLock::new([1, 2]));
        b.write().unwrap()[0] = 7;
        assert_eq!(&*b.read().unwrap(), &[7, 2]);

        let lock = RwLock::new(3);
        assert_eq!(
            format!("{lock:?}"),
            "RwLock { data: 3, poisoned: false, .. }"
        );
        {
            let w = lock.write().unwrap();
            assert_eq!(
                format!("{lock:?}"),
                "RwLock { data: <locked>, poisoned: false, .. }"
            );
            assert_eq!(format!("{w:?} {w}"), "3 3");
        }
        {
            let r = lock.read().unwrap();
            assert_eq!(format!("{r:?} {r}"), "3 3");
        }
        let mut d: RwLock<String> = RwLock::default();
        d.get_mut().unwrap().push('x');
        assert_eq!(d.into_inner().unwrap(), "x");
        assert_eq!(RwLock::from(4).into_inner().unwrap(), 4);
    });
}

#[test]
fn a_downgraded_writer_lets_readers_in_and_keeps_writers_out() {
    watchdog(|| {
        let lock = Arc::new(RwLock::new(0u32));
        let mut w = lock.write().unwrap();
        *w = 1;
        // A reader (likely queued by now) and, later, a writer.
        let (seen_tx, seen_rx) = std::sync::mpsc::channel();
        let reader = {
            let lock = Arc::clone(&lock);
            go!(move || {
                let r = lock.read().unwrap();
                seen_tx.send(*r).unwrap();
            })
        };
        weft::thread::sleep(std::time::Duration::from_millis(10));
        let r = RwLockWriteGuard::downgrade(w);
        assert_eq!(*r, 1);
        // The reader gets in while the downgraded guard is still held.
        assert_eq!(seen_rx.recv().unwrap(), 1);
        reader.join().unwrap();
        // Writers stay out until the last reader leaves.
        assert!(matches!(lock.try_write(), Err(TryLockError::WouldBlock)));
        let writer = {
            let lock = Arc::clone(&lock);
            go!(move || *lock.write().unwrap() += 10)
        };
        assert_eq!(*r, 1);
        drop(r);
        writer.join().unwrap();
        assert_eq!(*lock.read().unwrap(), 11);
    });
}

/// How RW6's messages name the caller: a coroutine (`in_coroutine`) or a named OS thread.
fn who(in_coroutine: bool) -> String {
    let me = weft::thread::current();
    if in_coroutine {
        let name = me.name().unwrap_or("<unnamed>");
        format!("coroutine '{name}' (id {})", me.id())
    } else {
        format!("thread '{}'", std::thread::current().name().unwrap())
    }
}

/// RW6's message: `who` called `call` ("read" or "write") on a lock it holds as `held` says.
fn relock_message(who: &str, call: &str, held: &str) -> String {
    format!(
        "weft: {who} called {call} on a weft::sync::RwLock it {held} (std's RwLock may deadlock \
         here; weft panics)"
    )
}

const FOR_WRITING: &str = "already holds for writing";
const A_READ_GUARD: &str = "holds a read guard of";

/// The panic message of `f`, which must panic.
fn caught<R>(f: impl FnOnce() -> R) -> String {
    let payload = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .err()
        .expect("the relock returned");
    panic_text(&*payload).expect("a text payload")
}

/// Every relock of one holder, caught inside it: `write` and `read` by the writer, `write` by
/// a reader that reads alone (twice: `read` after `read` works) and by a downgraded writer.
/// Each time the holder's guard stays good, `try_read`/`try_write` say `WouldBlock` instead
/// of panicking, and the lock ends free, unpoisoned, and one higher.
fn relock_everything(lock: &RwLock<u32>, in_coroutine: bool) {
    let who = who(in_coroutine);
    let mut w = lock.write().unwrap();
    let msg = caught(|| lock.write());
    assert_eq!(msg, relock_message(&who, "write", FOR_WRITING));
    let msg = caught(|| lock.read());
    assert_eq!(msg, relock_message(&who, "read", FOR_WRITING));
    assert!(matches!(lock.try_write(), Err(TryLockError::WouldBlock)));
    assert!(matches!(lock.try_read(), Err(TryLockError::WouldBlock)));
    *w += 1;
    drop(w);
    assert!(!lock.is_poisoned(), "a caught relock poisoned the lock");

    let r1 = lock.read().unwrap();
    // A recursive read: no writer waits, so it goes through, as with std.
    let r2 = lock.read().unwrap();
    assert_eq!(*r1 + *r2, 2 * *r1);
    let msg = caught(|| lock.write());
    assert_eq!(msg, relock_message(&who, "write", A_READ_GUARD));
    assert!(matches!(lock.try_write(), Err(TryLockError::WouldBlock)));
    // `r1`, the first, is the recorded reader: still caught with `r2` gone.
    drop(r2);
    let msg = caught(|| lock.write());
    assert_eq!(msg, relock_message(&who, "write", A_READ_GUARD));
    drop(r1);

    let r = RwLockWriteGuard::downgrade(lock.write().unwrap());
    let msg = caught(|| lock.write());
    assert_eq!(msg, relock_message(&who, "write", A_READ_GUARD));
    drop(r);
    assert!(!lock.is_poisoned());
    // Free for anyone.
    assert!(lock.try_write().is_ok());
}

#[test]
fn a_relock_by_a_holder_panics_naming_it_and_leaves_the_lock_usable() {
    watchdog(|| {
        let lock = Arc::new(RwLock::new(0u32));
        for name in [Some("relocker"), None] {
            let lock = lock.clone();
            let mut b = weft::thread::Builder::new();
            if let Some(name) = name {
                b = b.name(name.to_owned());
            }
            b.spawn(move || relock_everything(&lock, true))
                .unwrap()
                .join()
                .unwrap();
        }
        let lock2 = lock.clone();
        std::thread::Builder::new()
            .name("relock-thread".to_owned())
            .spawn(move || relock_everything(&lock2, false))
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(*lock.read().unwrap(), 3);

        // Not caught: the coroutine ends with the panic. A write guard dropped by the
        // unwinding poisons the lock (as any panic would); a read guard does not.
        for writer in [true, false] {
            let lock2 = lock.clone();
            let h = weft::thread::Builder::new()
                .name("uncaught".to_owned())
                .spawn(move || {
                    if writer {
                        let _w = lock2.write().unwrap();
                        let _again = lock2.write();
                    } else {
                        let _r = lock2.read().unwrap();
                        let _again = lock2.write();
                    }
                    unreachable!("the relock returned");
                })
                .unwrap();
            let who = format!("coroutine 'uncaught' (id {})", h.thread().id());
            let err = h.join().unwrap_err();
            let held = if writer { FOR_WRITING } else { A_READ_GUARD };
            assert_eq!(
                panic_text(&*err).unwrap(),
                relock_message(&who, "write", held)
            );
            assert_eq!(lock.is_poisoned(), writer);
            lock.clear_poison();
            *lock.write().unwrap() += 1;
        }
        assert_eq!(*lock.read().unwrap(), 5);
    });
}

/// One case of the child below: a coroutine holds the lock (for writing or reading) until
/// another coroutine of the same worker has started to `write` or `read` it; that one must
/// wait, not panic. Returns whether the waiter ended normally.
fn holder_and_waiter_on_one_worker(holder_writes: bool, waiter_writes: bool) -> bool {
    let lock = Arc::new(RwLock::new(0u32));
    let (held_tx, held_rx) = mpsc::channel::<std::thread::ThreadId>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let (locking_tx, locking_rx) = mpsc::channel::<()>();
    let holder = {
        let lock = lock.clone();
        go!(move || {
            if holder_writes {
                let mut w = lock.write().unwrap();
                held_tx.send(std::thread::current().id()).unwrap();
                release_rx.recv().unwrap();
                *w += 1;
            } else {
                let r = lock.read().unwrap();
                held_tx.send(std::thread::current().id()).unwrap();
                release_rx.recv().unwrap();
                drop(r);
            }
        })
    };
    let waiter = {
        let lock = lock.clone();
        go!(move || {
            let holders_thread = held_rx.recv().unwrap();
            assert_eq!(std::thread::current().id(), holders_thread);
            locking_tx.send(()).unwrap();
            // With one worker the holder cannot run, and let go, before this coroutine parks
            // in the call below: it takes the slow path, which checks for a relock.
            if waiter_writes {
                assert!(matches!(lock.try_write(), Err(TryLockError::WouldBlock)));
                *lock.write().unwrap() += 10;
            } else {
                assert!(matches!(lock.try_read(), Err(TryLockError::WouldBlock)));
                assert!(*lock.read().unwrap() <= 1);
            }
        })
    };
    locking_rx.recv().unwrap();
    release_tx.send(()).unwrap();
    holder.join().unwrap();
    waiter.join().is_ok()
}

/// The child of `coroutines_of_one_worker_wait_for_each_others_locks_without_panicking`.
#[test]
fn child_one_worker_rwlock_holder_and_waiter() {
    if !child_is("one-worker-rwlock") {
        return;
    }
    for (holder_writes, waiter_writes) in [(true, true), (true, false), (false, true)] {
        let ok = holder_and_waiter_on_one_worker(holder_writes, waiter_writes);
        child_report(&format!("waiter_ok_{holder_writes}_{waiter_writes}"), ok);
    }
}

#[test]
fn coroutines_of_one_worker_wait_for_each_others_locks_without_panicking() {
    watchdog(|| {
        let out = run_child(
            "child_one_worker_rwlock_holder_and_waiter",
            "one-worker-rwlock",
            &[("WEFT_WORKERS", "1")],
        );
        out.assert_success();
        for key in ["true_true", "true_false", "false_true"] {
            assert_eq!(out.stdout_value(&format!("waiter_ok_{key}")), "true");
        }
        out.assert_stderr_lacks("already holds");
        out.assert_stderr_lacks("holds a read guard");
    });
}
