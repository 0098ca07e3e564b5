//! Conformance of `weft::chan`'s channel API (not `select`) with crossbeam-channel's contract
//! and Go's channel semantics: bounded, rendezvous and unbounded channels, disconnection from
//! either side, timeouts, the error types (messages compared with crossbeam-channel itself),
//! iterators, cloning, the timer receivers, coroutines and OS threads on one channel, drop
//! accounting, and blocked coroutines parking instead of holding their worker.
//!
//! No test asserts an upper bound on a duration. Waits on other parties are handshakes (latches,
//! channels, counters); the only sleeps are in tests about time, plus a few marked ones that just
//! make it likely that parties are already parked when a disconnection happens (the test passes
//! either way, it only covers the wake-up path more often).
//!
//! Tests marked `#[ignore = "BUG: ..."]` fail on purpose: they document a defect of weft, and
//! pass once it is fixed (`cargo test --test chan_api -- --ignored`).

mod support;

use std::cell::Cell;
use std::collections::HashSet;
use std::error::Error;
use std::marker::PhantomData;
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use support::{Latch, watchdog, with_timeout};
use weft::chan::{
    self, Receiver, RecvError, RecvTimeoutError, SelectTimeoutError, SendError, SendTimeoutError,
    Sender, TryRecvError, TrySelectError, TrySendError,
};
use weft::{go, thread};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Counts, per id, how often a [`Counted`] value was dropped.
#[derive(Debug)]
struct DropLog(Vec<AtomicUsize>);

impl DropLog {
    fn new(n: usize) -> Arc<DropLog> {
        Arc::new(DropLog((0..n).map(|_| AtomicUsize::new(0)).collect()))
    }

    fn total(&self) -> usize {
        self.0.iter().map(|c| c.load(Ordering::SeqCst)).sum()
    }

    fn count(&self, id: usize) -> usize {
        self.0[id].load(Ordering::SeqCst)
    }

    #[track_caller]
    fn assert_each_once(&self) {
        for (id, c) in self.0.iter().enumerate() {
            assert_eq!(
                c.load(Ordering::SeqCst),
                1,
                "value {id} dropped a wrong number of times"
            );
        }
    }
}

/// A message that records its drop in a [`DropLog`].
#[derive(Debug)]
struct Counted {
    id: usize,
    log: Arc<DropLog>,
}

impl Counted {
    fn new(id: usize, log: &Arc<DropLog>) -> Counted {
        Counted {
            id,
            log: log.clone(),
        }
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.log.0[self.id].fetch_add(1, Ordering::SeqCst);
    }
}

/// A payload without `Debug`.
#[derive(PartialEq, Eq, Clone, Copy)]
struct NoDebug(u8);

/// Yields (coroutine or OS thread) until `cond` holds.
fn spin_until(mut cond: impl FnMut() -> bool) {
    while !cond() {
        thread::yield_now();
    }
}

/// Gives parties that have announced they are about to block time to actually park. Never
/// needed for correctness: only makes the wake-up path (rather than the "already disconnected"
/// path) the likely one.
fn let_them_park() {
    std::thread::sleep(Duration::from_millis(20));
}

/// Both ends of a channel.
type Pair<T> = (Sender<T>, Receiver<T>);

const SHORT: Duration = Duration::from_millis(20);
const LONG: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------------
// Bounded channels
// ---------------------------------------------------------------------------------------------

#[test]
fn bounded_try_send_fills_up_then_reports_full() {
    watchdog(|| {
        let (tx, rx) = chan::bounded::<i32>(3);
        assert_eq!(tx.capacity(), Some(3));
        assert_eq!(rx.capacity(), Some(3));
        assert!(tx.is_empty() && rx.is_empty());
        assert!(!tx.is_full() && !rx.is_full());
        assert_eq!((tx.len(), rx.len()), (0, 0));

        for i in 0..3 {
            tx.try_send(i).unwrap();
            assert_eq!(tx.len(), i as usize + 1);
            assert_eq!(rx.len(), i as usize + 1);
            assert!(!tx.is_empty() && !rx.is_empty());
        }
        assert!(tx.is_full() && rx.is_full());

        let err = tx.try_send(3).unwrap_err();
        assert_eq!(err, TrySendError::Full(3));
        assert!(err.is_full() && !err.is_disconnected());
        assert_eq!(err.into_inner(), 3);
        assert_eq!(tx.len(), 3, "a refused message is not queued");

        // One out, one slot free.
        assert_eq!(rx.try_recv(), Ok(0));
        assert!(!tx.is_full());
        assert_eq!(tx.len(), 2);
        tx.try_send(3).unwrap();
        assert_eq!(tx.try_send(4), Err(TrySendError::Full(4)));

        assert_eq!(rx.try_iter().collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        assert!(rx.is_empty() && !rx.is_full());

        // Capacity 1 behaves the same way.
        let (tx, rx) = chan::bounded(1);
        tx.send("a").unwrap();
        assert!(tx.is_full());
        assert_eq!(tx.try_send("b"), Err(TrySendError::Full("b")));
        assert_eq!(rx.recv(), Ok("a"));
        tx.send("b").unwrap();
        assert_eq!(rx.recv(), Ok("b"));
    });
}

#[test]
fn bounded_send_blocks_while_full() {
    watchdog(|| {
        const CAP: usize = 2;
        const N: usize = 200;
        let (tx, rx) = chan::bounded::<usize>(CAP);
        tx.send(1000).unwrap();
        tx.send(1001).unwrap();
        // A blocking send on a full channel cannot complete while nobody receives.
        assert_eq!(
            tx.send_timeout(1002, SHORT),
            Err(SendTimeoutError::Timeout(1002))
        );
        assert_eq!(rx.try_recv(), Ok(1000));
        assert_eq!(rx.try_recv(), Ok(1001));

        // A producer coroutine counts its completed sends; completed sends can never run more
        // than CAP ahead of the receives.
        let sent = Arc::new(AtomicUsize::new(0));
        let s2 = sent.clone();
        let tx2 = tx.clone();
        let producer = go!(move || {
            for i in 0..N {
                tx2.send(i).unwrap();
                s2.fetch_add(1, Ordering::SeqCst);
            }
        });
        // The producer fills the buffer and then must block.
        spin_until(|| sent.load(Ordering::SeqCst) >= CAP);
        assert!(rx.is_full());
        assert_eq!(
            tx.send_timeout(9999, SHORT),
            Err(SendTimeoutError::Timeout(9999)),
            "the producer's blocked send must not make room"
        );
        assert!(sent.load(Ordering::SeqCst) <= CAP);

        for k in 0..N {
            let v = rx.recv().unwrap();
            assert_eq!(v, k, "FIFO order");
            let done = sent.load(Ordering::SeqCst);
            assert!(
                done <= k + 1 + CAP,
                "{done} sends completed after only {} receives on a channel of capacity {CAP}",
                k + 1
            );
        }
        producer.join().unwrap();
        assert_eq!(sent.load(Ordering::SeqCst), N);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    });
}

#[test]
fn fifo_order_per_sender_with_many_senders() {
    watchdog(|| {
        const PER: usize = 500;
        const CO: usize = 4;
        const OS: usize = 2;
        let (tx, rx) = chan::bounded::<(usize, usize)>(4);
        let mut cos = Vec::new();
        let mut oss = Vec::new();
        for id in 0..CO + OS {
            let tx = tx.clone();
            let body = move || {
                for seq in 0..PER {
                    tx.send((id, seq)).unwrap();
                }
            };
            if id < CO {
                cos.push(go!(body));
            } else {
                oss.push(std::thread::spawn(body));
            }
        }
        drop(tx);
        let mut next = [0usize; CO + OS];
        let mut total = 0;
        for (id, seq) in &rx {
            assert_eq!(seq, next[id], "sender {id}'s messages out of order");
            next[id] += 1;
            total += 1;
        }
        assert_eq!(total, (CO + OS) * PER);
        assert!(next.iter().all(|&n| n == PER));
        cos.into_iter().for_each(|h| h.join().unwrap());
        oss.into_iter().for_each(|h| h.join().unwrap());
    });
}

// ---------------------------------------------------------------------------------------------
// Rendezvous channels
// ---------------------------------------------------------------------------------------------

#[test]
fn rendezvous_reports_capacity_zero_and_always_full() {
    watchdog(|| {
        let (tx, rx) = chan::bounded::<u8>(0);
        assert_eq!(tx.capacity(), Some(0));
        assert_eq!(rx.capacity(), Some(0));
        assert!(tx.is_full() && rx.is_full());
        assert!(tx.is_empty() && rx.is_empty());
        assert_eq!((tx.len(), rx.len()), (0, 0));
        // Nobody is waiting on either side.
        assert_eq!(tx.try_send(1), Err(TrySendError::Full(1)));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        // Same answers as crossbeam.
        let (ctx, crx) = crossbeam_channel::bounded::<u8>(0);
        assert_eq!(
            (ctx.capacity(), ctx.is_full(), ctx.is_empty(), ctx.len()),
            (tx.capacity(), tx.is_full(), tx.is_empty(), tx.len())
        );
        assert_eq!(
            (crx.capacity(), crx.is_full(), crx.is_empty(), crx.len()),
            (rx.capacity(), rx.is_full(), rx.is_empty(), rx.len())
        );
    });
}

#[test]
fn rendezvous_try_send_succeeds_only_while_a_receiver_waits() {
    watchdog(|| {
        let (tx, rx) = chan::bounded::<u32>(0);
        assert_eq!(tx.try_send(0), Err(TrySendError::Full(0)));

        // A coroutine receiver, then an OS-thread receiver: try_send fails (Full, value back)
        // until the receiver is blocked in recv, then hands the value over directly.
        for round in 0..2u32 {
            let rx2 = rx.clone();
            let co = round == 0;
            let recv = move || rx2.recv();
            let got: Box<dyn FnOnce() -> Result<u32, RecvError>> = if co {
                let h = go!(recv);
                Box::new(move || h.join().unwrap())
            } else {
                let h = std::thread::spawn(recv);
                Box::new(move || h.join().unwrap())
            };
            let value = 100 + round;
            let mut v = value;
            loop {
                match tx.try_send(v) {
                    Ok(()) => break,
                    Err(TrySendError::Full(back)) => {
                        assert_eq!(back, value, "Full gives the message back");
                        v = back;
                        thread::yield_now();
                    }
                    Err(e) => panic!("unexpected {e:?}"),
                }
            }
            assert_eq!(got(), Ok(value));
            // The receiver is gone again: no buffer to fall back on.
            assert_eq!(tx.try_send(7), Err(TrySendError::Full(7)));
            assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        }

        // The mirror image: try_recv succeeds only while a sender is blocked in send.
        let tx2 = tx.clone();
        let h = go!(move || tx2.send(55));
        let got = loop {
            match rx.try_recv() {
                Ok(v) => break v,
                Err(TryRecvError::Empty) => thread::yield_now(),
                Err(e) => panic!("unexpected {e:?}"),
            }
        };
        assert_eq!(got, 55);
        assert_eq!(h.join().unwrap(), Ok(()));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    });
}

#[test]
fn rendezvous_send_completes_only_when_the_message_is_taken() {
    watchdog(|| {
        let (tx, rx) = chan::bounded::<usize>(0);
        // With no receiver, a send cannot complete: it times out and gives the message back.
        assert_eq!(tx.send_timeout(1, SHORT), Err(SendTimeoutError::Timeout(1)));
        assert_eq!(
            tx.send_deadline(2, Instant::now() + SHORT),
            Err(SendTimeoutError::Timeout(2))
        );

        // A sender coroutine sets a flag after its send returns: not before we receive.
        let started = Arc::new(Latch::new(1));
        let done = Arc::new(AtomicBool::new(false));
        let (s2, d2, tx2) = (started.clone(), done.clone(), tx.clone());
        let h = go!(move || {
            s2.count_down();
            tx2.send(42).unwrap();
            d2.store(true, Ordering::SeqCst);
        });
        started.wait();
        for _ in 0..100 {
            thread::yield_now();
            assert!(
                !done.load(Ordering::SeqCst),
                "send on a rendezvous channel returned before anyone received"
            );
        }
        assert_eq!(rx.recv(), Ok(42));
        h.join().unwrap();
        assert!(done.load(Ordering::SeqCst));

        // Progress handshake: after k receives, at most k sends have completed.
        const N: usize = 300;
        let progress = Arc::new(AtomicUsize::new(0));
        let (p2, tx2) = (progress.clone(), tx.clone());
        let h = go!(move || {
            for i in 0..N {
                tx2.send(i).unwrap();
                p2.store(i + 1, Ordering::SeqCst);
            }
        });
        for k in 0..N {
            let before = progress.load(Ordering::SeqCst);
            assert!(before <= k, "{before} sends completed after {k} receives");
            assert_eq!(rx.recv(), Ok(k));
            let after = progress.load(Ordering::SeqCst);
            assert!(
                after <= k + 1,
                "{after} sends completed after {} receives",
                k + 1
            );
        }
        h.join().unwrap();
        assert_eq!(progress.load(Ordering::SeqCst), N);
    });
}

#[test]
fn rendezvous_between_coroutines_carries_large_and_zero_sized_messages() {
    watchdog(|| {
        // (Arrays stay small: by-value messages cost several copies of stack in debug builds;
        // see `large_messages_fit_on_the_default_coroutine_stack`.)
        let (tx, rx) = chan::bounded::<Vec<u64>>(0);
        let (utx, urx) = chan::bounded::<()>(0);
        let (atx, arx) = chan::bounded::<[u64; 64]>(0);
        let h = go!(move || {
            for i in 0..20u64 {
                tx.send(vec![i; 1024]).unwrap();
                atx.send([i * 3; 64]).unwrap();
                utx.send(()).unwrap();
            }
        });
        let consumer = go!(move || {
            let mut n = 0;
            for i in 0..20u64 {
                let b = rx.recv().unwrap();
                assert_eq!(b.len(), 1024);
                assert!(b.iter().all(|&x| x == i));
                let a = arx.recv().unwrap();
                assert!(a.iter().all(|&x| x == i * 3));
                urx.recv().unwrap();
                n += 1;
            }
            assert_eq!(rx.recv(), Err(RecvError));
            assert_eq!(urx.recv(), Err(RecvError));
            n
        });
        h.join().unwrap();
        assert_eq!(consumer.join().unwrap(), 20);
    });
}

// ---------------------------------------------------------------------------------------------
// Unbounded channels
// ---------------------------------------------------------------------------------------------

#[test]
fn unbounded_send_never_blocks() {
    watchdog(|| {
        let (tx, rx) = chan::unbounded::<usize>();
        assert_eq!(tx.capacity(), None);
        assert_eq!(rx.capacity(), None);
        const N: usize = 20_000;
        for i in 0..N {
            tx.send(i).unwrap();
            assert!(!tx.is_full());
        }
        for i in N..N + 100 {
            tx.try_send(i).unwrap();
            tx.send_timeout(i + 100, Duration::ZERO).unwrap();
        }
        assert_eq!(tx.len(), N + 200);
        assert_eq!(rx.len(), N + 200);
        assert!(!rx.is_full() && !rx.is_empty());
        // Drained by a coroutine, in order.
        let h = go!(move || {
            let v: Vec<usize> = rx.try_iter().take(N).collect();
            assert!(v.iter().copied().eq(0..N));
            let rest: Vec<usize> = rx.try_iter().collect();
            assert_eq!(rest.len(), 200);
            assert!(rx.is_empty());
            rx
        });
        let rx = h.join().unwrap();
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        // Sending from a coroutine never blocks either, with nobody receiving.
        let tx2 = tx.clone();
        go!(move || {
            for i in 0..1000 {
                tx2.send(i).unwrap();
            }
        })
        .join()
        .unwrap();
        assert_eq!(rx.len(), 1000);
    });
}

// ---------------------------------------------------------------------------------------------
// Disconnection
// ---------------------------------------------------------------------------------------------

#[test]
fn senders_gone_receivers_drain_then_get_errors() {
    watchdog(|| {
        let kinds: [fn() -> Pair<i32>; 3] = [
            || chan::bounded(5),
            || chan::bounded(3),
            chan::unbounded::<i32>,
        ];
        for make in kinds {
            let (tx, rx) = make();
            let tx2 = tx.clone();
            for i in 0..3 {
                tx.send(i).unwrap();
            }
            drop(tx);
            // One sender left: not disconnected.
            assert_eq!(
                rx.recv_timeout(Duration::ZERO).map(|_| ()),
                Ok(()),
                "buffered message"
            );
            drop(tx2);
            let rx_clone = rx.clone();
            assert_eq!(rx.recv(), Ok(1));
            assert_eq!(rx_clone.try_recv(), Ok(2));
            assert_eq!(rx.recv(), Err(RecvError));
            assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
            assert_eq!(rx.recv_timeout(SHORT), Err(RecvTimeoutError::Disconnected));
            assert_eq!(
                rx_clone.recv_deadline(Instant::now() + SHORT),
                Err(RecvTimeoutError::Disconnected)
            );
            assert_eq!(rx.iter().count(), 0);
            assert_eq!(rx.try_iter().count(), 0);
            assert!(rx.is_empty());
        }

        // Rendezvous: nothing buffered, so the error comes at once.
        let (tx, rx) = chan::bounded::<i32>(0);
        let tx2 = tx.clone();
        drop(tx);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "a sender is left");
        drop(tx2);
        assert_eq!(rx.recv(), Err(RecvError));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
        assert_eq!(rx.recv_timeout(LONG), Err(RecvTimeoutError::Disconnected));

        // The same from inside a coroutine.
        let (tx, rx) = chan::bounded::<i32>(2);
        tx.send(9).unwrap();
        drop(tx);
        let r = go!(move || (rx.recv(), rx.recv(), rx.try_recv()))
            .join()
            .unwrap();
        assert_eq!(r, (Ok(9), Err(RecvError), Err(TryRecvError::Disconnected)));
    });
}

#[test]
fn receivers_gone_sends_fail_and_give_the_message_back() {
    watchdog(|| {
        let kinds: [fn() -> Pair<String>; 3] = [
            || chan::bounded(0),
            || chan::bounded(2),
            chan::unbounded::<String>,
        ];
        for make in kinds {
            let (tx, rx) = make();
            let rx2 = rx.clone();
            drop(rx);
            // One receiver left: a buffered channel still accepts.
            if tx.capacity() != Some(0) {
                tx.try_send("kept".into()).unwrap();
            } else {
                assert!(tx.try_send("x".into()).unwrap_err().is_full());
            }
            drop(rx2);

            let err = tx.send("one".into()).unwrap_err();
            assert_eq!(err, SendError("one".to_owned()));
            assert_eq!(err.into_inner(), "one");

            let err = tx.try_send("two".into()).unwrap_err();
            assert!(err.is_disconnected() && !err.is_full());
            assert_eq!(err, TrySendError::Disconnected("two".to_owned()));
            assert_eq!(err.into_inner(), "two");

            let err = tx.send_timeout("three".into(), LONG).unwrap_err();
            assert!(err.is_disconnected() && !err.is_timeout());
            assert_eq!(err.into_inner(), "three");

            let err = tx
                .send_deadline("four".into(), Instant::now() + LONG)
                .unwrap_err();
            assert_eq!(err, SendTimeoutError::Disconnected("four".to_owned()));

            // The buffered messages went with the last receiver.
            assert_eq!(tx.len(), 0);
            assert!(tx.is_empty());
        }

        // From a coroutine too.
        let (tx, rx) = chan::bounded::<u8>(1);
        drop(rx);
        let r = go!(move || (tx.send(1), tx.try_send(2))).join().unwrap();
        assert_eq!(r, (Err(SendError(1)), Err(TrySendError::Disconnected(2))));
    });
}

#[test]
fn dropping_the_senders_wakes_every_blocked_receiver() {
    watchdog(|| {
        const CO: usize = 6;
        const OS: usize = 3;
        for cap in [Some(0), Some(4), None] {
            let (tx, rx) = match cap {
                Some(c) => chan::bounded::<u32>(c),
                None => chan::unbounded::<u32>(),
            };
            let ready = Arc::new(Latch::new(CO + OS));
            let mut cos = Vec::new();
            let mut oss = Vec::new();
            for i in 0..CO + OS {
                let (rx, ready) = (rx.clone(), ready.clone());
                // Three ways of blocking: recv, recv_timeout, iter.
                let body = move || {
                    ready.count_down();
                    match i % 3 {
                        0 => rx.recv().map_err(|_| "recv"),
                        1 => rx.recv_timeout(LONG).map_err(|e| {
                            assert_eq!(e, RecvTimeoutError::Disconnected);
                            "recv_timeout"
                        }),
                        _ => match rx.iter().next() {
                            Some(v) => Ok(v),
                            None => Err("iter"),
                        },
                    }
                };
                if i < CO {
                    cos.push(go!(body));
                } else {
                    oss.push(std::thread::spawn(body));
                }
            }
            drop(rx);
            ready.wait();
            let_them_park();
            let tx2 = tx.clone();
            drop(tx);
            drop(tx2);
            let mut errs = 0;
            for h in cos {
                assert!(h.join().unwrap().is_err());
                errs += 1;
            }
            for h in oss {
                assert!(h.join().unwrap().is_err());
                errs += 1;
            }
            assert_eq!(errs, CO + OS);
        }
    });
}

#[test]
fn dropping_the_receivers_wakes_every_blocked_sender_with_its_message() {
    watchdog(|| {
        const CO: usize = 6;
        const OS: usize = 3;
        for cap in [0usize, 1] {
            let (tx, rx) = chan::bounded::<usize>(cap);
            for i in 0..cap {
                tx.send(1000 + i).unwrap();
            }
            let ready = Arc::new(Latch::new(CO + OS));
            let mut cos = Vec::new();
            let mut oss = Vec::new();
            for i in 0..CO + OS {
                let (tx, ready) = (tx.clone(), ready.clone());
                let body = move || {
                    ready.count_down();
                    if i % 2 == 0 {
                        tx.send(i).map_err(SendError::into_inner)
                    } else {
                        tx.send_timeout(i, LONG).map_err(|e| {
                            assert!(e.is_disconnected(), "{e:?}");
                            e.into_inner()
                        })
                    }
                };
                if i < CO {
                    cos.push(go!(body));
                } else {
                    oss.push(std::thread::spawn(body));
                }
            }
            drop(tx);
            ready.wait();
            let_them_park();
            let rx2 = rx.clone();
            drop(rx);
            drop(rx2);
            let mut back = HashSet::new();
            for h in cos {
                back.insert(h.join().unwrap().unwrap_err());
            }
            for h in oss {
                back.insert(h.join().unwrap().unwrap_err());
            }
            assert_eq!(back, (0..CO + OS).collect::<HashSet<_>>());
        }
    });
}

#[test]
fn disconnection_is_per_channel_not_per_handle() {
    watchdog(|| {
        let (tx, rx) = chan::bounded::<u8>(1);
        let txs: Vec<_> = (0..10).map(|_| tx.clone()).collect();
        drop(tx);
        for (i, t) in txs.into_iter().enumerate() {
            assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
            t.send(i as u8).unwrap();
            assert_eq!(rx.recv(), Ok(i as u8));
        }
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));

        let (tx, rx) = chan::bounded::<u8>(1);
        let rxs: Vec<_> = (0..10).map(|_| rx.clone()).collect();
        drop(rx);
        for r in rxs {
            tx.send(1).unwrap();
            assert_eq!(r.recv(), Ok(1));
        }
        assert_eq!(tx.send(2), Err(SendError(2)));
    });
}

// ---------------------------------------------------------------------------------------------
// Timeouts and deadlines
// ---------------------------------------------------------------------------------------------

#[test]
fn receive_timeouts_expire_when_nothing_arrives() {
    watchdog(|| {
        for cap in [Some(0), Some(1), None] {
            let (tx, rx) = match cap {
                Some(c) => chan::bounded::<u8>(c),
                None => chan::unbounded::<u8>(),
            };
            let start = Instant::now();
            let err = rx.recv_timeout(SHORT).unwrap_err();
            assert_eq!(err, RecvTimeoutError::Timeout);
            assert!(err.is_timeout() && !err.is_disconnected());
            assert!(start.elapsed() >= SHORT, "returned before the timeout");

            let deadline = Instant::now() + SHORT;
            assert_eq!(rx.recv_deadline(deadline), Err(RecvTimeoutError::Timeout));
            assert!(Instant::now() >= deadline);

            // A zero timeout and a past deadline are a non-blocking attempt.
            assert_eq!(
                rx.recv_timeout(Duration::ZERO),
                Err(RecvTimeoutError::Timeout)
            );
            assert_eq!(
                rx.recv_deadline(start - Duration::from_millis(1)),
                Err(RecvTimeoutError::Timeout)
            );

            // Same inside a coroutine.
            let rx2 = rx.clone();
            let r = go!(move || {
                let s = Instant::now();
                (rx2.recv_timeout(SHORT), s.elapsed() >= SHORT)
            })
            .join()
            .unwrap();
            assert_eq!(r, (Err(RecvTimeoutError::Timeout), true));

            // The channel still works afterwards: no stale waiter swallows a message.
            if cap != Some(0) {
                tx.send(5).unwrap();
                assert_eq!(rx.recv_timeout(Duration::ZERO), Ok(5));
                tx.send(6).unwrap();
                assert_eq!(
                    rx.recv_deadline(start),
                    Ok(6),
                    "ready beats a past deadline"
                );
            }
            drop(tx);
        }
    });
}

#[test]
fn send_timeouts_expire_and_give_the_message_back() {
    watchdog(|| {
        for cap in [0usize, 2] {
            let (tx, rx) = chan::bounded::<String>(cap);
            for i in 0..cap {
                tx.send(format!("fill{i}")).unwrap();
            }
            let start = Instant::now();
            let err = tx.send_timeout("a".into(), SHORT).unwrap_err();
            assert!(err.is_timeout() && !err.is_disconnected());
            assert_eq!(err, SendTimeoutError::Timeout("a".to_owned()));
            assert_eq!(err.into_inner(), "a");
            assert!(start.elapsed() >= SHORT);

            let deadline = Instant::now() + SHORT;
            let err = tx.send_deadline("b".into(), deadline).unwrap_err();
            assert_eq!(err, SendTimeoutError::Timeout("b".to_owned()));
            assert!(Instant::now() >= deadline);

            assert_eq!(
                tx.send_timeout("c".into(), Duration::ZERO),
                Err(SendTimeoutError::Timeout("c".to_owned()))
            );
            assert_eq!(
                tx.send_deadline("d".into(), start),
                Err(SendTimeoutError::Timeout("d".to_owned()))
            );

            // In a coroutine.
            let tx2 = tx.clone();
            let r = go!(move || tx2.send_timeout("e".into(), SHORT))
                .join()
                .unwrap();
            assert_eq!(r, Err(SendTimeoutError::Timeout("e".to_owned())));

            // Nothing timed out was left behind in the channel.
            assert_eq!(rx.len(), cap);
            let got: Vec<String> = rx.try_iter().collect();
            assert_eq!(
                got,
                (0..cap).map(|i| format!("fill{i}")).collect::<Vec<_>>()
            );
            assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));

            // With room, a past deadline still sends.
            if cap > 0 {
                tx.send_deadline("f".into(), start).unwrap();
                tx.send_timeout("g".into(), Duration::ZERO).unwrap();
                assert_eq!(rx.try_iter().collect::<Vec<_>>(), ["f", "g"]);
            }
        }
    });
}

#[test]
fn a_message_that_arrives_before_the_deadline_is_received() {
    watchdog(|| {
        // Receiver waits with a long timeout (coroutine, then OS thread); the sender sends once
        // the receiver has started.
        for co in [true, false] {
            for cap in [0usize, 1] {
                let (tx, rx) = chan::bounded::<u32>(cap);
                let started = Arc::new(Latch::new(1));
                let s2 = started.clone();
                let body = move || {
                    s2.count_down();
                    let a = rx.recv_timeout(LONG);
                    let b = rx.recv_deadline(Instant::now() + LONG);
                    (a, b)
                };
                let join: Box<dyn FnOnce() -> _> = if co {
                    let h = go!(body);
                    Box::new(move || h.join().unwrap())
                } else {
                    let h = std::thread::spawn(body);
                    Box::new(move || h.join().unwrap())
                };
                started.wait();
                tx.send(1).unwrap();
                tx.send(2).unwrap();
                assert_eq!(join(), (Ok(1), Ok(2)));
            }
        }

        // Sender waits with a long timeout on a full channel; the receiver makes room.
        for co in [true, false] {
            for cap in [0usize, 1] {
                let (tx, rx) = chan::bounded::<u32>(cap);
                if cap == 1 {
                    tx.send(0).unwrap();
                }
                let started = Arc::new(Latch::new(1));
                let s2 = started.clone();
                let body = move || {
                    s2.count_down();
                    let a = tx.send_timeout(1, LONG);
                    let b = tx.send_deadline(2, Instant::now() + LONG);
                    (a, b)
                };
                let join: Box<dyn FnOnce() -> _> = if co {
                    let h = go!(body);
                    Box::new(move || h.join().unwrap())
                } else {
                    let h = std::thread::spawn(body);
                    Box::new(move || h.join().unwrap())
                };
                started.wait();
                let got: Vec<u32> = rx.iter().collect();
                let expect: Vec<u32> = if cap == 1 { vec![0, 1, 2] } else { vec![1, 2] };
                assert_eq!(got, expect);
                assert_eq!(join(), (Ok(()), Ok(())));
            }
        }
    });
}

#[test]
fn huge_timeouts_mean_wait_forever() {
    watchdog(|| {
        let (tx, rx) = chan::bounded::<u8>(0);
        let tx2 = tx.clone();
        let h = go!(move || tx2.send_timeout(1, Duration::MAX));
        assert_eq!(rx.recv_timeout(Duration::MAX), Ok(1));
        assert_eq!(h.join().unwrap(), Ok(()));
        let rx2 = rx.clone();
        let h = std::thread::spawn(move || rx2.recv_timeout(Duration::MAX));
        tx.send_timeout(2, Duration::MAX).unwrap();
        assert_eq!(h.join().unwrap(), Ok(2));
        drop(tx);
        assert_eq!(
            rx.recv_timeout(Duration::MAX),
            Err(RecvTimeoutError::Disconnected)
        );
    });
}

#[test]
fn timeouts_racing_hand_offs_never_lose_or_duplicate_messages() {
    watchdog(|| {
        const N: u64 = 1500;
        // Short, varying timeouts (zero included) so that hand-offs race aborts; after many
        // misses in a row a longer one, so that two impatient parties cannot livelock.
        fn timeout_for(seed: u64, attempt: u64) -> Duration {
            if attempt > 20 {
                Duration::from_millis(2)
            } else {
                Duration::from_micros(seed % 60)
            }
        }
        for (cap, co_sender) in [(0usize, true), (0, false), (1, true), (1, false)] {
            let (tx, rx) = chan::bounded::<u64>(cap);
            // The sender retries on timeout with the message it got back.
            let sender = move || {
                let mut timeouts = 0u64;
                for i in 0..N {
                    let mut v = i;
                    for attempt in 0u64.. {
                        let t = timeout_for(i * 7 + attempt * 3, attempt);
                        match tx.send_timeout(v, t) {
                            Ok(()) => break,
                            Err(SendTimeoutError::Timeout(back)) => {
                                assert_eq!(back, i);
                                v = back;
                                timeouts += 1;
                            }
                            Err(e) => panic!("{e:?}"),
                        }
                    }
                }
                timeouts
            };
            let receiver = move || {
                let mut got = Vec::with_capacity(N as usize);
                let mut attempt = 0u64;
                loop {
                    let t = timeout_for(got.len() as u64 * 13 + attempt * 5, attempt);
                    match rx.recv_timeout(t) {
                        Ok(v) => {
                            got.push(v);
                            attempt = 0;
                        }
                        Err(RecvTimeoutError::Timeout) => attempt += 1,
                        Err(RecvTimeoutError::Disconnected) => break got,
                    }
                }
            };
            let got = if co_sender {
                let s = go!(sender);
                let r = std::thread::spawn(receiver);
                s.join().unwrap();
                r.join().unwrap()
            } else {
                let s = std::thread::spawn(sender);
                let r = go!(receiver);
                s.join().unwrap();
                r.join().unwrap()
            };
            assert_eq!(
                got.len() as u64,
                N,
                "cap {cap}: messages lost or duplicated"
            );
            assert!(got.iter().copied().eq(0..N), "cap {cap}: out of order");
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

#[test]
fn error_messages_equal_crossbeams() {
    watchdog(|| {
        use crossbeam_channel as cb;
        let pairs: Vec<(String, String, &str)> = vec![
            (
                SendError(1).to_string(),
                cb::SendError(1).to_string(),
                "sending on a disconnected channel",
            ),
            (
                TrySendError::Full(1).to_string(),
                cb::TrySendError::Full(1).to_string(),
                "sending on a full channel",
            ),
            (
                TrySendError::Disconnected(1).to_string(),
                cb::TrySendError::Disconnected(1).to_string(),
                "sending on a disconnected channel",
            ),
            (
                SendTimeoutError::Timeout(1).to_string(),
                cb::SendTimeoutError::Timeout(1).to_string(),
                "timed out waiting on send operation",
            ),
            (
                SendTimeoutError::Disconnected(1).to_string(),
                cb::SendTimeoutError::Disconnected(1).to_string(),
                "sending on a disconnected channel",
            ),
            (
                RecvError.to_string(),
                cb::RecvError.to_string(),
                "receiving on an empty and disconnected channel",
            ),
            (
                TryRecvError::Empty.to_string(),
                cb::TryRecvError::Empty.to_string(),
                "receiving on an empty channel",
            ),
            (
                TryRecvError::Disconnected.to_string(),
                cb::TryRecvError::Disconnected.to_string(),
                "receiving on an empty and disconnected channel",
            ),
            (
                RecvTimeoutError::Timeout.to_string(),
                cb::RecvTimeoutError::Timeout.to_string(),
                "timed out waiting on receive operation",
            ),
            (
                RecvTimeoutError::Disconnected.to_string(),
                cb::RecvTimeoutError::Disconnected.to_string(),
                "channel is empty and disconnected",
            ),
            (
                TrySelectError.to_string(),
                cb::TrySelectError.to_string(),
                "all operations in select would block",
            ),
            (
                SelectTimeoutError.to_string(),
                cb::SelectTimeoutError.to_string(),
                "timed out waiting on select",
            ),
        ];
        for (weft, crossbeam, literal) in pairs {
            assert_eq!(weft, crossbeam);
            assert_eq!(weft, literal);
        }

        // The errors real operations return print the same.
        let (tx, rx) = chan::bounded::<u8>(0);
        assert_eq!(
            tx.try_send(1).unwrap_err().to_string(),
            "sending on a full channel"
        );
        assert_eq!(
            rx.try_recv().unwrap_err().to_string(),
            "receiving on an empty channel"
        );
        assert_eq!(
            rx.recv_timeout(Duration::ZERO).unwrap_err().to_string(),
            "timed out waiting on receive operation"
        );
        assert_eq!(
            tx.send_timeout(1, Duration::ZERO).unwrap_err().to_string(),
            "timed out waiting on send operation"
        );
        drop(rx);
        assert_eq!(
            tx.send(1).unwrap_err().to_string(),
            "sending on a disconnected channel"
        );
    });
}

#[test]
fn error_display_honours_format_flags_like_crossbeam() {
    watchdog(|| {
        use crossbeam_channel as cb;
        let pairs = [
            (
                format!("{:>40}", SendError(1)),
                format!("{:>40}", cb::SendError(1)),
            ),
            (
                format!("{:<30}|", TrySendError::Full(1)),
                format!("{:<30}|", cb::TrySendError::Full(1)),
            ),
            (
                format!("{:*^50}", SendTimeoutError::Timeout(1)),
                format!("{:*^50}", cb::SendTimeoutError::Timeout(1)),
            ),
            (
                format!("{:>60}", RecvError),
                format!("{:>60}", cb::RecvError),
            ),
            (
                format!("{:>40}", TryRecvError::Empty),
                format!("{:>40}", cb::TryRecvError::Empty),
            ),
            (
                format!("{:>50}", RecvTimeoutError::Timeout),
                format!("{:>50}", cb::RecvTimeoutError::Timeout),
            ),
        ];
        let differ: Vec<_> = pairs.iter().filter(|(w, c)| w != c).collect();
        assert!(differ.is_empty(), "weft vs crossbeam: {differ:#?}");
    });
}
#[test]
fn error_debug_matches_crossbeam_and_needs_no_debug_payload() {
    watchdog(|| {
        use crossbeam_channel as cb;
        let n = NoDebug(1);
        // The payload-free errors derive Debug, as in crossbeam.
        let pairs = [
            (format!("{:?}", RecvError), format!("{:?}", cb::RecvError)),
            (
                format!("{:?}", TryRecvError::Empty),
                format!("{:?}", cb::TryRecvError::Empty),
            ),
            (
                format!("{:?}", TryRecvError::Disconnected),
                format!("{:?}", cb::TryRecvError::Disconnected),
            ),
            (
                format!("{:?}", RecvTimeoutError::Timeout),
                format!("{:?}", cb::RecvTimeoutError::Timeout),
            ),
            (
                format!("{:?}", RecvTimeoutError::Disconnected),
                format!("{:?}", cb::RecvTimeoutError::Disconnected),
            ),
            (
                format!("{:?}", TrySelectError),
                format!("{:?}", cb::TrySelectError),
            ),
            (
                format!("{:?}", SelectTimeoutError),
                format!("{:?}", cb::SelectTimeoutError),
            ),
        ];
        for (weft, crossbeam) in pairs {
            assert_eq!(weft, crossbeam);
        }
        // crossbeam 0.5 prints the payload errors through `str`'s Debug, quotes included
        // ("\"SendError(..)\""); weft prints the same text without the quotes.
        let quoted = [
            (
                format!("{:?}", SendError(n)),
                format!("{:?}", cb::SendError(n)),
            ),
            (
                format!("{:?}", TrySendError::Full(n)),
                format!("{:?}", cb::TrySendError::Full(n)),
            ),
            (
                format!("{:?}", TrySendError::Disconnected(n)),
                format!("{:?}", cb::TrySendError::Disconnected(n)),
            ),
        ];
        for (weft, crossbeam) in quoted {
            assert_eq!(weft, crossbeam.trim_matches('"'));
        }
        // crossbeam prints "SendTimeoutError(..)" for both variants; weft names the variant.
        assert_eq!(format!("{:?}", SendTimeoutError::Timeout(n)), "Timeout(..)");
        assert_eq!(format!("{:?}", SendError(n)), "SendError(..)");
        assert_eq!(format!("{:?}", TrySendError::Full(n)), "Full(..)");
        assert_eq!(
            format!("{:?}", SendTimeoutError::Disconnected(n)),
            "Disconnected(..)"
        );

        // Handles print like crossbeam's, also for payloads without Debug.
        let (tx, rx) = chan::unbounded::<NoDebug>();
        let (ctx, crx) = cb::unbounded::<NoDebug>();
        assert_eq!(format!("{tx:?}"), format!("{ctx:?}"));
        assert_eq!(format!("{rx:?}"), format!("{crx:?}"));
        assert_eq!(format!("{tx:?}"), "Sender { .. }");
        assert_eq!(format!("{rx:?}"), "Receiver { .. }");
    });
}

fn assert_value_traits<T: PartialEq + Eq + Clone + Copy + std::fmt::Debug>() {}
fn assert_error<E: Error + Send + Sync + 'static>() {}

#[test]
fn error_traits_conversions_and_helpers() {
    watchdog(|| {
        assert_value_traits::<SendError<u8>>();
        assert_value_traits::<TrySendError<u8>>();
        assert_value_traits::<SendTimeoutError<u8>>();
        assert_value_traits::<RecvError>();
        assert_value_traits::<TryRecvError>();
        assert_value_traits::<RecvTimeoutError>();
        assert_value_traits::<TrySelectError>();
        assert_value_traits::<SelectTimeoutError>();
        // Error without T: Debug (and with a non-Sync payload, as far as the bounds allow).
        assert_error::<SendError<NoDebug>>();
        assert_error::<TrySendError<NoDebug>>();
        assert_error::<SendTimeoutError<NoDebug>>();
        assert_error::<RecvError>();
        assert_error::<TryRecvError>();
        assert_error::<RecvTimeoutError>();
        assert_error::<TrySelectError>();
        assert_error::<SelectTimeoutError>();
        let _: &dyn Error = &SendError(Cell::new(1));

        // Clone/Copy/Eq on values.
        let e = TrySendError::Full(3);
        let f = e;
        assert_eq!(e, f);
        #[allow(clippy::clone_on_copy)]
        let g = e.clone();
        assert_eq!(g, TrySendError::Full(3));
        assert_ne!(g, TrySendError::Disconnected(3));
        assert_ne!(g, TrySendError::Full(4));
        assert_ne!(
            SendTimeoutError::Timeout(1),
            SendTimeoutError::Disconnected(1)
        );
        assert_ne!(TryRecvError::Empty, TryRecvError::Disconnected);
        assert_ne!(RecvTimeoutError::Timeout, RecvTimeoutError::Disconnected);

        // From conversions, as in crossbeam.
        assert_eq!(
            TrySendError::from(SendError(5)),
            TrySendError::Disconnected(5)
        );
        assert_eq!(
            SendTimeoutError::from(SendError(5)),
            SendTimeoutError::Disconnected(5)
        );
        assert_eq!(TryRecvError::from(RecvError), TryRecvError::Disconnected);
        assert_eq!(
            RecvTimeoutError::from(RecvError),
            RecvTimeoutError::Disconnected
        );

        // Helpers.
        assert!(TrySendError::Full(0).is_full());
        assert!(!TrySendError::Full(0).is_disconnected());
        assert!(TrySendError::Disconnected(0).is_disconnected());
        assert!(!TrySendError::Disconnected(0).is_full());
        assert!(SendTimeoutError::Timeout(0).is_timeout());
        assert!(!SendTimeoutError::Timeout(0).is_disconnected());
        assert!(SendTimeoutError::Disconnected(0).is_disconnected());
        assert!(!SendTimeoutError::Disconnected(0).is_timeout());
        assert!(TryRecvError::Empty.is_empty());
        assert!(!TryRecvError::Empty.is_disconnected());
        assert!(TryRecvError::Disconnected.is_disconnected());
        assert!(!TryRecvError::Disconnected.is_empty());
        assert!(RecvTimeoutError::Timeout.is_timeout());
        assert!(!RecvTimeoutError::Timeout.is_disconnected());
        assert!(RecvTimeoutError::Disconnected.is_disconnected());
        assert!(!RecvTimeoutError::Disconnected.is_timeout());
        assert_eq!(SendError(7).into_inner(), 7);
        assert_eq!(SendError(7).0, 7);
        assert_eq!(TrySendError::Disconnected(8).into_inner(), 8);
        assert_eq!(SendTimeoutError::Timeout(9).into_inner(), 9);

        // `?` into boxed errors.
        fn send_boxed(tx: &Sender<u8>) -> Result<(), Box<dyn Error + Send + Sync>> {
            tx.send(1)?;
            tx.try_send(2)?;
            tx.send_timeout(3, Duration::ZERO)?;
            Ok(())
        }
        fn recv_boxed(rx: &Receiver<u8>) -> Result<u8, Box<dyn Error>> {
            let a = rx.try_recv()?;
            let b = rx.recv_timeout(Duration::ZERO)?;
            let c = rx.recv()?;
            Ok(a + b + c)
        }
        let (tx, rx) = chan::bounded::<u8>(3);
        send_boxed(&tx).unwrap();
        assert_eq!(recv_boxed(&rx).unwrap(), 6);
        assert_eq!(
            recv_boxed(&rx).unwrap_err().to_string(),
            "receiving on an empty channel"
        );
        drop(rx);
        assert_eq!(
            send_boxed(&tx).unwrap_err().to_string(),
            "sending on a disconnected channel"
        );
    });
}

// ---------------------------------------------------------------------------------------------
// Iterators
// ---------------------------------------------------------------------------------------------

#[test]
fn iterators_block_until_disconnected_or_stop_when_empty() {
    watchdog(|| {
        // iter blocks until the last sender is gone.
        let (tx, rx) = chan::bounded::<u32>(0);
        let h = go!(move || {
            for i in 0..100 {
                tx.send(i).unwrap();
            }
        });
        assert!(rx.iter().eq(0..100));
        h.join().unwrap();

        // `for x in &rx`, from two producers, one coroutine and one OS thread.
        let (tx, rx) = chan::bounded::<u32>(3);
        let tx2 = tx.clone();
        let a = go!(move || (0..50).for_each(|i| tx.send(i).unwrap()));
        let b = std::thread::spawn(move || (50..100).for_each(|i| tx2.send(i).unwrap()));
        let mut sum = 0;
        let mut n = 0;
        for x in &rx {
            sum += x;
            n += 1;
        }
        assert_eq!((n, sum), (100, 4950));
        a.join().unwrap();
        b.join().unwrap();
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));

        // `for x in rx` (owning), inside a coroutine.
        let (tx, rx) = chan::unbounded::<String>();
        let h = go!(move || {
            let mut v = Vec::new();
            for s in rx {
                v.push(s);
            }
            v
        });
        for w in ["a", "b", "c"] {
            tx.send(w.to_owned()).unwrap();
        }
        drop(tx);
        assert_eq!(h.join().unwrap(), ["a", "b", "c"]);

        // try_iter yields what is there now and stops, though the sender is alive.
        let (tx, rx) = chan::bounded::<u32>(10);
        for i in 0..5 {
            tx.send(i).unwrap();
        }
        let mut it = rx.try_iter();
        assert_eq!(it.by_ref().take(2).collect::<Vec<_>>(), [0, 1]);
        assert_eq!(it.collect::<Vec<_>>(), [2, 3, 4]);
        assert_eq!(rx.try_iter().next(), None);
        tx.send(9).unwrap();
        assert_eq!(rx.try_iter().collect::<Vec<_>>(), [9]);

        // try_iter on a rendezvous channel takes from blocked senders only.
        let (tx, rx) = chan::bounded::<u32>(0);
        assert_eq!(rx.try_iter().count(), 0);
        let h = go!(move || tx.send(3));
        spin_until(|| {
            let v: Vec<u32> = rx.try_iter().collect();
            match v.as_slice() {
                [] => false,
                [3] => true,
                other => panic!("unexpected {other:?}"),
            }
        });
        assert_eq!(h.join().unwrap(), Ok(()));
        assert_eq!(rx.iter().next(), None);
    });
}

// ---------------------------------------------------------------------------------------------
// Clone, Send, Sync
// ---------------------------------------------------------------------------------------------

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn handles_are_send_and_sync_for_send_payloads() {
    watchdog(|| {
        // `Cell` is Send but not Sync: the handles need only T: Send.
        assert_send_sync::<Sender<Cell<u8>>>();
        assert_send_sync::<Receiver<Cell<u8>>>();
        assert_send_sync::<Sender<Box<dyn FnOnce() + Send>>>();
        assert_send_sync::<Receiver<Box<dyn FnOnce() + Send>>>();
        assert_send_sync::<Receiver<Instant>>();
        assert_send_sync::<chan::Iter<'static, u8>>();
        assert_send_sync::<chan::TryIter<'static, u8>>();
        assert_send_sync::<chan::IntoIter<u8>>();
        // And they are really usable across threads by reference.
        let (tx, rx) = chan::unbounded::<Cell<u8>>();
        std::thread::scope(|s| {
            s.spawn(|| tx.send(Cell::new(4)).unwrap());
            s.spawn(|| tx.send(Cell::new(5)).unwrap());
        });
        let mut got: Vec<u8> = std::thread::scope(|s| {
            let a = s.spawn(|| rx.recv().unwrap().get());
            let b = s.spawn(|| rx.recv().unwrap().get());
            vec![a.join().unwrap(), b.join().unwrap()]
        });
        got.sort_unstable();
        assert_eq!(got, [4, 5]);
    });
}

/// Whether a type is `UnwindSafe + RefUnwindSafe`, without failing to compile when it is not
/// (the inherent method wins when its bounds hold, else the trait's fallback answers).
struct UnwindProbe<T>(PhantomData<T>);
trait NotUnwindSafe {
    fn unwind_safe(&self) -> bool {
        false
    }
}
impl<T> NotUnwindSafe for UnwindProbe<T> {}
impl<T: UnwindSafe + RefUnwindSafe> UnwindProbe<T> {
    fn unwind_safe(&self) -> bool {
        true
    }
}

#[test]
fn handles_are_unwind_safe_like_crossbeams() {
    watchdog(|| {
        // The probe itself, and crossbeam's handles.
        assert!(UnwindProbe::<u8>(PhantomData).unwind_safe());
        assert!(!UnwindProbe::<Cell<u8>>(PhantomData).unwind_safe());
        assert!(UnwindProbe::<crossbeam_channel::Sender<u8>>(PhantomData).unwind_safe());
        assert!(UnwindProbe::<crossbeam_channel::Receiver<u8>>(PhantomData).unwind_safe());
        let weft = [
            UnwindProbe::<Sender<u8>>(PhantomData).unwind_safe(),
            UnwindProbe::<Receiver<u8>>(PhantomData).unwind_safe(),
        ];
        assert_eq!(weft, [true, true], "[Sender, Receiver] unwind-safe");
    });
}

#[test]
fn many_producers_many_consumers_deliver_each_message_once() {
    watchdog(|| {
        const PRODUCERS_CO: usize = 6;
        const PRODUCERS_OS: usize = 2;
        const CONSUMERS_CO: usize = 4;
        const CONSUMERS_OS: usize = 2;
        const PER: usize = 400;
        const TOTAL: usize = (PRODUCERS_CO + PRODUCERS_OS) * PER;
        for cap in [Some(0), Some(3), None] {
            let (tx, rx) = match cap {
                Some(c) => chan::bounded::<usize>(c),
                None => chan::unbounded::<usize>(),
            };
            let mut prod_co = Vec::new();
            let mut prod_os = Vec::new();
            for p in 0..PRODUCERS_CO + PRODUCERS_OS {
                let tx = tx.clone();
                let body = move || {
                    for i in 0..PER {
                        tx.send(p * PER + i).unwrap();
                    }
                };
                if p < PRODUCERS_CO {
                    prod_co.push(go!(body));
                } else {
                    prod_os.push(std::thread::spawn(body));
                }
            }
            drop(tx);
            let mut cons_co = Vec::new();
            let mut cons_os = Vec::new();
            for c in 0..CONSUMERS_CO + CONSUMERS_OS {
                let rx = rx.clone();
                let body = move || rx.iter().collect::<Vec<usize>>();
                if c < CONSUMERS_CO {
                    cons_co.push(go!(body));
                } else {
                    cons_os.push(std::thread::spawn(body));
                }
            }
            drop(rx);
            prod_co.into_iter().for_each(|h| h.join().unwrap());
            prod_os.into_iter().for_each(|h| h.join().unwrap());
            let mut all: Vec<usize> = Vec::with_capacity(TOTAL);
            for h in cons_co {
                let v = h.join().unwrap();
                // Per producer, each consumer sees increasing values (FIFO per sender).
                let mut last = [None; PRODUCERS_CO + PRODUCERS_OS];
                for &x in &v {
                    let p = x / PER;
                    assert!(last[p] < Some(x), "cap {cap:?}: out of order");
                    last[p] = Some(x);
                }
                all.extend(v);
            }
            for h in cons_os {
                all.extend(h.join().unwrap());
            }
            assert_eq!(all.len(), TOTAL, "cap {cap:?}: lost or duplicated");
            all.sort_unstable();
            assert!(all.iter().copied().eq(0..TOTAL), "cap {cap:?}");
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Timer receivers
// ---------------------------------------------------------------------------------------------

#[test]
fn after_delivers_exactly_one_instant() {
    watchdog(|| {
        let start = Instant::now();
        let rx = chan::after(SHORT);
        assert_eq!(rx.capacity(), Some(1));
        let t = rx.recv().unwrap();
        let now = Instant::now();
        assert!(t >= start + SHORT, "delivered before it was due");
        assert!(now >= t);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        assert!(rx.is_empty() && !rx.is_full());
        assert_eq!(rx.len(), 0);
        assert_eq!(rx.recv_timeout(SHORT), Err(RecvTimeoutError::Timeout));

        // Not ready before its time; ready (len 1, full) once due, without being received.
        let rx = chan::after(SHORT);
        let created = Instant::now();
        let early = rx.try_recv();
        if created.elapsed() < SHORT {
            assert_eq!(early, Err(TryRecvError::Empty));
        }
        std::thread::sleep(SHORT * 2);
        assert_eq!(rx.len(), 1);
        assert!(rx.is_full() && !rx.is_empty());
        assert!(rx.try_recv().unwrap() >= created);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));

        // A clone shares the one message.
        let rx = chan::after(Duration::ZERO);
        let rx2 = rx.clone();
        assert!(rx2.try_recv().is_ok());
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));

        // recv_timeout shorter than the due time times out; then the message still comes.
        let start = Instant::now();
        let rx = chan::after(SHORT * 3);
        let r = rx.recv_timeout(Duration::from_millis(1));
        if start.elapsed() < SHORT * 3 {
            assert_eq!(r, Err(RecvTimeoutError::Timeout));
            assert!(rx.recv_timeout(LONG).unwrap() >= start + SHORT * 3);
        }

        // In a coroutine, several at once: each gets its own instant.
        let hs: Vec<_> = (1..=10u64)
            .map(|i| {
                go!(move || {
                    let s = Instant::now();
                    let d = Duration::from_millis(i * 2);
                    let t = chan::after(d).recv().unwrap();
                    assert!(t >= s + d);
                    assert!(Instant::now() >= t);
                })
            })
            .collect();
        hs.into_iter().for_each(|h| h.join().unwrap());

        // Never due.
        let rx = chan::after(Duration::MAX);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        assert_eq!(rx.recv_timeout(SHORT), Err(RecvTimeoutError::Timeout));
    });
}

#[test]
fn at_delivers_its_instant() {
    watchdog(|| {
        let when = Instant::now() + SHORT;
        let rx = chan::at(when);
        assert_eq!(rx.capacity(), Some(1));
        assert_eq!(rx.recv(), Ok(when));
        assert!(Instant::now() >= when);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));

        // An instant in the past is ready at once.
        let past = Instant::now() - Duration::from_millis(5);
        let rx = chan::at(past);
        assert_eq!(rx.len(), 1);
        assert_eq!(rx.try_recv(), Ok(past));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));

        // recv_deadline at the very instant of `at` receives it (ready at `when`).
        let when = Instant::now() + SHORT;
        let rx = chan::at(when);
        assert_eq!(rx.recv_deadline(when + LONG), Ok(when));

        // In a coroutine.
        let when = Instant::now() + SHORT;
        let got = go!(move || chan::at(when).recv()).join().unwrap();
        assert_eq!(got, Ok(when));
    });
}

#[test]
fn tick_delivers_repeatedly() {
    watchdog(|| {
        let period = Duration::from_millis(10);
        let start = Instant::now();
        let rx = chan::tick(period);
        assert_eq!(rx.capacity(), Some(1));
        let mut prev = start;
        for i in 0..3 {
            let t = rx.recv().unwrap();
            assert!(t >= prev + period, "tick {i} came early");
            assert!(Instant::now() >= t);
            prev = t;
        }

        // In a coroutine, with recv_timeout.
        let got = go!(move || {
            let start = Instant::now();
            let rx = chan::tick(period);
            let mut v = Vec::new();
            for _ in 0..3 {
                v.push(rx.recv_timeout(LONG).unwrap());
            }
            (start, v)
        })
        .join()
        .unwrap();
        let (s, v) = got;
        assert!(v[0] >= s + period);
        assert!(v[1] >= v[0] + period && v[2] >= v[1] + period);

        // A slow receiver misses ticks: they do not pile up.
        let period = Duration::from_millis(30);
        let rx = chan::tick(period);
        std::thread::sleep(period * 4);
        let t0 = Instant::now();
        let first = rx.try_recv();
        let second = rx.try_recv();
        assert!(first.is_ok());
        if t0.elapsed() < period {
            assert_eq!(second, Err(TryRecvError::Empty), "missed ticks piled up");
        }

        // A timeout shorter than the period times out.
        let rx = chan::tick(Duration::from_secs(3600));
        assert_eq!(rx.recv_timeout(SHORT), Err(RecvTimeoutError::Timeout));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    });
}

#[test]
fn never_never_delivers() {
    watchdog(|| {
        let rx = chan::never::<u32>();
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        let start = Instant::now();
        assert_eq!(rx.recv_timeout(SHORT), Err(RecvTimeoutError::Timeout));
        assert!(start.elapsed() >= SHORT);
        assert_eq!(
            rx.recv_deadline(Instant::now() + SHORT),
            Err(RecvTimeoutError::Timeout)
        );
        assert_eq!(rx.capacity(), Some(0));
        assert_eq!(rx.len(), 0);
        assert!(rx.is_empty());
        assert!(rx.is_full());
        assert_eq!(rx.try_iter().count(), 0);
        let r = go!(move || rx.recv_timeout(SHORT)).join().unwrap();
        assert_eq!(r, Err(RecvTimeoutError::Timeout));
    });
}

#[test]
fn timer_receivers_report_state_like_crossbeam() {
    watchdog(|| {
        use crossbeam_channel as cb;
        fn state<T>(r: &Receiver<T>) -> (Option<usize>, usize, bool, bool) {
            (r.capacity(), r.len(), r.is_empty(), r.is_full())
        }
        fn cb_state<T>(r: &cb::Receiver<T>) -> (Option<usize>, usize, bool, bool) {
            (r.capacity(), r.len(), r.is_empty(), r.is_full())
        }
        let hour = Duration::from_secs(3600);
        assert_eq!(state(&chan::after(hour)), cb_state(&cb::after(hour)));
        assert_eq!(state(&chan::tick(hour)), cb_state(&cb::tick(hour)));
        assert_eq!(state(&chan::never::<u8>()), cb_state(&cb::never::<u8>()));
        let past = Instant::now() - Duration::from_millis(1);
        assert_eq!(state(&chan::at(past)), cb_state(&cb::at(past)));
        assert_eq!(
            state(&chan::after(Duration::ZERO)),
            cb_state(&cb::after(Duration::ZERO))
        );
        assert_eq!(state(&chan::after(hour)), (Some(1), 0, true, false));
        assert_eq!(state(&chan::at(past)), (Some(1), 1, false, true));
        assert_eq!(state(&chan::never::<u8>()), (Some(0), 0, true, true));
        // Drained `at`: empty again in both.
        let (w, c) = (chan::at(past), cb::at(past));
        assert_eq!(w.try_recv(), c.try_recv().map_err(|_| TryRecvError::Empty));
        assert_eq!(state(&w), cb_state(&c));
        // Unbounded channels too.
        assert_eq!(
            state(&chan::unbounded::<u8>().1),
            cb_state(&cb::unbounded::<u8>().1)
        );
    });
}

// ---------------------------------------------------------------------------------------------
// Coroutines and OS threads on one channel
// ---------------------------------------------------------------------------------------------

#[test]
fn coroutines_and_os_threads_exchange_messages_both_ways() {
    watchdog(|| {
        const N: u64 = 2000;
        for cap in [0usize, 1, 16] {
            for co_sends in [true, false] {
                let (tx, rx) = chan::bounded::<u64>(cap);
                let send = move || {
                    for i in 0..N {
                        tx.send(i).unwrap();
                    }
                };
                let recv = move || {
                    let mut next = 0;
                    let mut sum = 0;
                    for v in rx.iter() {
                        assert_eq!(v, next, "out of order");
                        next += 1;
                        sum += v;
                    }
                    (next, sum)
                };
                let (count, sum) = if co_sends {
                    let s = go!(send);
                    let r = std::thread::spawn(recv);
                    s.join().unwrap();
                    r.join().unwrap()
                } else {
                    let s = std::thread::spawn(send);
                    let r = go!(recv);
                    s.join().unwrap();
                    r.join().unwrap()
                };
                assert_eq!(count, N, "cap {cap}, coroutine sends: {co_sends}");
                assert_eq!(sum, N * (N - 1) / 2);
            }
        }

        // Ping-pong across the worlds: every hand-off wakes a party of the other kind.
        let (ping_tx, ping_rx) = chan::bounded::<u32>(0);
        let (pong_tx, pong_rx) = chan::bounded::<u32>(0);
        let co = go!(move || {
            let mut n = 0;
            for v in ping_rx {
                pong_tx.send(v + 1).unwrap();
                n += 1;
            }
            n
        });
        for i in 0..500 {
            ping_tx.send(i * 2).unwrap();
            assert_eq!(pong_rx.recv(), Ok(i * 2 + 1));
        }
        drop(ping_tx);
        assert_eq!(co.join().unwrap(), 500);
        assert_eq!(pong_rx.recv(), Err(RecvError));
    });
}

// ---------------------------------------------------------------------------------------------
// Drop accounting
// ---------------------------------------------------------------------------------------------

#[test]
fn buffered_messages_are_dropped_once_when_the_last_receiver_goes() {
    watchdog(|| {
        for cap in [Some(10), None] {
            let log = DropLog::new(7);
            let (tx, rx) = match cap {
                Some(c) => chan::bounded::<Counted>(c),
                None => chan::unbounded::<Counted>(),
            };
            for id in 0..5 {
                tx.send(Counted::new(id, &log)).unwrap();
            }
            let rx2 = rx.clone();
            drop(rx);
            assert_eq!(log.total(), 0, "a receiver is left");
            drop(rx2);
            // Nobody can receive them any more: dropped now, each once.
            assert_eq!(log.total(), 5);
            (0..5).for_each(|id| assert_eq!(log.count(id), 1));

            // A message refused by a disconnected channel comes back and is not dropped by
            // the channel.
            let back = tx.send(Counted::new(5, &log)).unwrap_err().into_inner();
            assert_eq!(back.id, 5);
            assert_eq!(log.count(5), 0);
            let back2 = tx.try_send(Counted::new(6, &log)).unwrap_err();
            assert!(back2.is_disconnected());
            assert_eq!(log.count(6), 0);
            drop(tx);
            assert_eq!(log.count(5) + log.count(6), 0);
            drop(back);
            drop(back2);
            log.assert_each_once();
        }
    });
}

#[test]
fn messages_of_an_abandoned_channel_are_dropped_once() {
    watchdog(|| {
        // Senders go first, then the receiver, with messages still buffered.
        for cap in [Some(8), None] {
            let log = DropLog::new(8);
            let (tx, rx) = match cap {
                Some(c) => chan::bounded::<Counted>(c),
                None => chan::unbounded::<Counted>(),
            };
            for id in 0..8 {
                tx.send(Counted::new(id, &log)).unwrap();
            }
            drop(tx);
            assert_eq!(log.total(), 0, "still receivable");
            let a = rx.recv().unwrap();
            let b = rx.recv().unwrap();
            assert_eq!((a.id, b.id), (0, 1));
            drop(a);
            assert_eq!(log.total(), 1);
            drop(rx);
            assert_eq!(log.total(), 7);
            drop(b);
            log.assert_each_once();
        }

        // Receiver goes first, then the sender.
        let log = DropLog::new(1000);
        let (tx, rx) = chan::unbounded::<Counted>();
        for id in 0..1000 {
            tx.send(Counted::new(id, &log)).unwrap();
        }
        drop(rx);
        drop(tx);
        log.assert_each_once();

        // Handles dropped inside coroutines and OS threads.
        let log = DropLog::new(4);
        let (tx, rx) = chan::bounded::<Counted>(4);
        for id in 0..4 {
            tx.send(Counted::new(id, &log)).unwrap();
        }
        go!(move || drop(tx)).join().unwrap();
        std::thread::spawn(move || drop(rx)).join().unwrap();
        log.assert_each_once();
    });
}

#[test]
fn blocked_and_timed_out_sends_keep_their_messages() {
    watchdog(|| {
        // A timed-out send gives its message back, undropped.
        let log = DropLog::new(4);
        let (tx, rx) = chan::bounded::<Counted>(0);
        let back = tx
            .send_timeout(Counted::new(0, &log), Duration::from_millis(2))
            .unwrap_err();
        assert!(back.is_timeout());
        assert_eq!(log.count(0), 0);
        let back = tx.try_send(back.into_inner()).unwrap_err();
        assert!(back.is_full());
        assert_eq!(log.count(0), 0);
        drop(back);
        assert_eq!(log.count(0), 1);

        // Blocked senders get their messages back when the receiver goes; the channel drops
        // none of them, and none twice.
        let ready = Arc::new(Latch::new(2));
        let mk = |id: usize| {
            let (tx, ready, log) = (tx.clone(), ready.clone(), log.clone());
            move || {
                ready.count_down();
                let e = tx.send(Counted::new(id, &log)).unwrap_err();
                assert_eq!(log.count(id), 0, "dropped while it was handed back");
                e.into_inner()
            }
        };
        let a = go!(mk(1));
        let b = std::thread::spawn(mk(2));
        ready.wait();
        let_them_park();
        drop(rx);
        let (a, b) = (a.join().unwrap(), b.join().unwrap());
        assert_eq!((a.id, b.id), (1, 2));
        assert_eq!(log.count(1) + log.count(2), 0);
        drop((a, b));
        let c = tx.send(Counted::new(3, &log)).unwrap_err();
        drop(tx);
        assert_eq!(log.count(3), 0);
        drop(c);
        log.assert_each_once();

        // Messages handed through the channel are dropped once, by the receiver.
        let log = DropLog::new(300);
        let (tx, rx) = chan::bounded::<Counted>(0);
        let l2 = log.clone();
        let h = go!(move || {
            for id in 0..300 {
                tx.send(Counted::new(id, &l2)).unwrap();
            }
        });
        for (i, m) in rx.iter().enumerate() {
            assert_eq!(m.id, i);
            assert_eq!(log.count(i), 0);
        }
        h.join().unwrap();
        log.assert_each_once();
    });
}

// ---------------------------------------------------------------------------------------------
// same_channel
// ---------------------------------------------------------------------------------------------

#[test]
fn same_channel_tells_channels_apart() {
    watchdog(|| {
        let (tx, rx) = chan::bounded::<u8>(1);
        let (tx_b, rx_b) = chan::bounded::<u8>(1);
        let tx2 = tx.clone();
        let rx2 = rx.clone();
        assert!(tx.same_channel(&tx));
        assert!(tx.same_channel(&tx2) && tx2.same_channel(&tx));
        assert!(rx.same_channel(&rx2) && rx2.same_channel(&rx));
        assert!(!tx.same_channel(&tx_b));
        assert!(!rx.same_channel(&rx_b));
        let (utx, urx) = chan::unbounded::<u8>();
        assert!(!utx.same_channel(&tx) && !urx.same_channel(&rx));
        assert!(urx.same_channel(&urx.clone()));

        // Timer receivers, as in crossbeam.
        let hour = Duration::from_secs(3600);
        let a = chan::after(hour);
        assert!(a.same_channel(&a.clone()));
        assert!(!a.same_channel(&chan::after(hour)));
        let t = chan::tick(hour);
        assert!(t.same_channel(&t.clone()));
        assert!(!t.same_channel(&chan::tick(hour)));
        assert!(!a.same_channel(&t));
        let n = chan::never::<Instant>();
        assert_eq!(
            n.same_channel(&chan::never()),
            crossbeam_channel::never::<Instant>().same_channel(&crossbeam_channel::never())
        );
        assert!(!n.same_channel(&a));
        let (_itx, irx) = chan::bounded::<Instant>(0);
        assert!(!irx.same_channel(&n) && !irx.same_channel(&a) && !a.same_channel(&irx));
    });
}

// ---------------------------------------------------------------------------------------------
// Blocked coroutines park
// ---------------------------------------------------------------------------------------------

#[test]
fn a_thousand_coroutines_blocked_in_recv_do_not_hold_their_workers() {
    // If a blocked recv held its worker, the latch would never reach zero (only as many
    // coroutines as workers could ever start): the tighter watchdog reports it.
    with_timeout(20, || {
        const N: usize = 1000;
        for cap in [Some(0), None] {
            let (tx, rx) = match cap {
                Some(c) => chan::bounded::<usize>(c),
                None => chan::unbounded::<usize>(),
            };
            let started = Arc::new(Latch::new(N));
            let handles: Vec<_> = (0..N)
                .map(|_| {
                    let (rx, started) = (rx.clone(), started.clone());
                    go!(move || {
                        started.count_down();
                        rx.recv().unwrap()
                    })
                })
                .collect();
            started.wait();
            for i in 0..N {
                tx.send(i).unwrap();
            }
            let mut seen = vec![false; N];
            for h in handles {
                let v = h.join().unwrap();
                assert!(!seen[v], "message {v} received twice");
                seen[v] = true;
            }
            assert!(seen.iter().all(|&s| s), "cap {cap:?}");
            assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        }

        // The same for senders blocked on a full channel.
        let (tx, rx) = chan::bounded::<usize>(0);
        let started = Arc::new(Latch::new(N));
        let handles: Vec<_> = (0..N)
            .map(|i| {
                let (tx, started) = (tx.clone(), started.clone());
                go!(move || {
                    started.count_down();
                    tx.send(i).unwrap();
                })
            })
            .collect();
        drop(tx);
        started.wait();
        let mut got: Vec<usize> = rx.iter().collect();
        handles.into_iter().for_each(|h| h.join().unwrap());
        got.sort_unstable();
        assert!(got.iter().copied().eq(0..N));
    });
}

#[test]
fn child_one_worker_ping_pong() {
    if !support::child_is("one-worker") {
        return;
    }
    // One worker: two coroutines can only take turns if a blocked one parks.
    let (ping_tx, ping_rx) = chan::bounded::<u32>(0);
    let (pong_tx, pong_rx) = chan::bounded::<u32>(0);
    let a = go!(move || {
        for i in 0..1000 {
            ping_tx.send(i).unwrap();
            assert_eq!(pong_rx.recv(), Ok(i + 1));
        }
    });
    let b = go!(move || {
        let mut n = 0;
        for v in ping_rx {
            pong_tx.send(v + 1).unwrap();
            n += 1;
        }
        n
    });
    a.join().unwrap();
    let n = b.join().unwrap();
    // A coroutine blocked with a timeout parks too, and so does one waiting on a timer.
    let (tx, rx) = chan::bounded::<u8>(0);
    let waiter = go!(move || rx.recv_timeout(Duration::from_secs(30)));
    let timer = go!(|| chan::after(Duration::from_millis(5)).recv().is_ok());
    let sender = go!(move || tx.send(7));
    support::child_report("pingpong", n);
    support::child_report("timeout_recv", format!("{:?}", waiter.join().unwrap()));
    support::child_report("timer", timer.join().unwrap());
    support::child_report("send", format!("{:?}", sender.join().unwrap()));
}

#[test]
fn with_one_worker_blocked_coroutines_take_turns() {
    watchdog(|| {
        let out = support::run_child_with_timeout(
            "child_one_worker_ping_pong",
            "one-worker",
            &[("WEFT_WORKERS", "1")],
            20,
        );
        out.assert_success();
        assert_eq!(out.stdout_value("pingpong"), "1000");
        assert_eq!(out.stdout_value("timeout_recv"), "Ok(7)");
        assert_eq!(out.stdout_value("timer"), "true");
        assert_eq!(out.stdout_value("send"), "Ok(())");
    });
}

#[test]
fn child_large_message() {
    if !support::child_is("large-message") {
        return;
    }
    const N: usize = 4096;
    let (tx, rx) = chan::bounded::<[u8; N]>(0);
    let sender = go!(move || tx.send([7u8; N]).is_ok());
    let receiver = go!(move || rx.recv().map(|m| m.iter().all(|&b| b == 7)));
    support::child_report("sent", sender.join().unwrap());
    support::child_report("received", format!("{:?}", receiver.join().unwrap()));
}

#[test]
fn large_messages_fit_on_the_default_coroutine_stack() {
    watchdog(|| {
        let out = support::run_child_with_timeout("child_large_message", "large-message", &[], 20);
        out.assert_success();
        assert_eq!(out.stdout_value("sent"), "true");
        assert_eq!(out.stdout_value("received"), "Ok(true)");
    });
}

/// A message whose drop panics (once it is armed).
struct PanicOnDrop(bool);

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if self.0 && !std::thread::panicking() {
            panic!("message drop panics");
        }
    }
}

#[test]
fn a_panicking_buffered_message_does_not_strand_blocked_senders() {
    watchdog(|| {
        // A full channel holding a message whose drop panics, and a sender blocked behind it.
        // (crossbeam-channel wakes the blocked senders before it discards the buffer.)
        let (tx, rx) = chan::bounded::<PanicOnDrop>(1);
        tx.send(PanicOnDrop(true)).unwrap();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let ready = Arc::new(Latch::new(1));
        let r2 = ready.clone();
        let sender = go!(move || {
            r2.count_down();
            let r = tx.send(PanicOnDrop(false));
            let _ = done_tx.send(r.is_err());
        });
        ready.wait();
        let_them_park();
        // Dropping the last receiver drops the buffered message, which panics.
        let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(rx)));
        assert!(dropped.is_err(), "the message's panic reaches the dropper");
        // The blocked sender must still learn that the receivers are gone.
        let got = done_rx.recv_timeout(Duration::from_secs(5));
        assert_eq!(got, Ok(true), "the blocked sender was never woken");
        sender.join().unwrap();
    });
}
