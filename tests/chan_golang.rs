//! Our own Rust versions of the behaviours that Go's channel test programs check
//! (`test/chan/*.go` in the Go repository). The code is written for weft; only the ideas come
//! from Go. Dropping every `Sender` is Go's `close`; `chan::never()` stands in for a nil
//! channel. Each test names the Go program it follows:
//!
//! | test | Go program |
//! |---|---|
//! | `sieve_of_coroutines_finds_the_first_100_primes` | `sieve1.go` |
//! | `power_series_by_streams_of_coroutines` | `powser1.go` (a much smaller series algebra) |
//! | `pipeline_of_1000_coroutines_passes_every_value` | `goroutines.go`, `powser1.go` (pipelines) |
//! | `select_chooses_fairly_between_ready_partners` | `select2.go`, `select.go` |
//! | `double_select_delivers_every_value_exactly_once` | `doubleselect.go` |
//! | `non_blocking_operations_on_unbuffered_and_buffered_channels` | `nonblock.go` |
//! | `close_semantics_drain_then_err` | `closedchan.go` |
//! | `chain_of_10000_coroutines` | `goroutines.go` |
//! | `fifo_per_sender_with_interleaved_senders`, `synchronous_fifo_chain` | `fifo.go` |
//! | `select_blocks_only_when_nothing_can_proceed` | `select3.go`, `select4.go` |
//! | `select_losing_on_a_channel_with_other_waiters` | `select6.go` (Go issue 2075) |
//! | `receive_styles_against_send_timings` | `select7.go` |
//! | `zero_sized_messages` | `zerosize.go`, `sendstmt.go` |
//!
//! No timing is asserted; sleeps only make an interleaving likely.

mod support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::{Rng, start, watchdog};
use weft::chan::{self, Receiver, RecvError, Sender, TryRecvError, TrySendError};
use weft::thread;
use weft::{go, select};

const MS: Duration = Duration::from_millis(1);

// ---------------------------------------------------------------------------------------------
// sieve1.go: a chain of filter coroutines, one per prime found, over rendezvous channels.

fn generate(from: u64) -> Receiver<u64> {
    let (tx, rx) = chan::bounded(0);
    go!(move || {
        let mut n = from;
        // Ends when the first filter goes away.
        while tx.send(n).is_ok() {
            n += 1;
        }
    });
    rx
}

fn filter(input: Receiver<u64>, prime: u64) -> Receiver<u64> {
    let (tx, rx) = chan::bounded(0);
    go!(move || {
        for n in input.iter() {
            if n % prime != 0 && tx.send(n).is_err() {
                // Downstream is gone: dropping `input` stops the stage before us.
                return;
            }
        }
    });
    rx
}

fn first_primes_naive(count: usize) -> Vec<u64> {
    let mut primes = Vec::new();
    let mut n = 2;
    while primes.len() < count {
        if primes.iter().all(|p| n % p != 0) {
            primes.push(n);
        }
        n += 1;
    }
    primes
}

#[test]
fn sieve_of_coroutines_finds_the_first_100_primes() {
    watchdog(|| {
        let mut ch = generate(2);
        let mut primes = Vec::new();
        for _ in 0..100 {
            let p = ch.recv().unwrap();
            primes.push(p);
            ch = filter(ch, p);
        }
        assert_eq!(primes, first_primes_naive(100));
        assert_eq!(primes[99], 541);
        // Dropping the last receiver unwinds the whole chain (each stage's send fails).
        drop(ch);
    });
}

// ---------------------------------------------------------------------------------------------
// powser1.go, much reduced: power series as streams of coefficients, each operator a coroutine.

type Series = Receiver<i64>;

/// 1 / (1 - x) = 1 + x + x^2 + ...
fn ones() -> Series {
    let (tx, rx) = chan::bounded(0);
    go!(move || while tx.send(1).is_ok() {});
    rx
}

/// The sum of two series, term by term.
fn add(a: Series, b: Series) -> Series {
    let (tx, rx) = chan::bounded(0);
    go!(move || {
        while let (Ok(x), Ok(y)) = (a.recv(), b.recv()) {
            if tx.send(x + y).is_err() {
                return;
            }
        }
    });
    rx
}

/// The product of two series (Cauchy product), computed term by term.
fn mul(a: Series, b: Series) -> Series {
    let (tx, rx) = chan::bounded(0);
    go!(move || {
        let (mut xs, mut ys) = (Vec::new(), Vec::new());
        while let (Ok(x), Ok(y)) = (a.recv(), b.recv()) {
            xs.push(x);
            ys.push(y);
            let n = xs.len();
            let c = (0..n).map(|i| xs[i] * ys[n - 1 - i]).sum();
            if tx.send(c).is_err() {
                return;
            }
        }
    });
    rx
}

/// Two copies of one series (Go's `split`), each on its own buffered channel so a slow
/// reader of one copy does not stop the other.
fn split(a: Series) -> (Series, Series) {
    let (t1, r1) = chan::unbounded();
    let (t2, r2) = chan::unbounded();
    go!(move || {
        for x in a.iter() {
            if t1.send(x).is_err() || t2.send(x).is_err() {
                return;
            }
        }
    });
    (r1, r2)
}

fn take(s: &Series, n: usize) -> Vec<i64> {
    (0..n).map(|_| s.recv().unwrap()).collect()
}

#[test]
fn power_series_by_streams_of_coroutines() {
    watchdog(|| {
        const N: usize = 30;
        // (1/(1-x))^2 = sum (n+1) x^n
        let sq = mul(ones(), ones());
        assert_eq!(take(&sq, N), (1..=N as i64).collect::<Vec<_>>());
        // (1/(1-x))^3 = sum C(n+2, 2) x^n, with the square split and reused.
        let (a, b) = split(mul(ones(), ones()));
        let cube = mul(a, ones());
        let want: Vec<i64> = (0..N as i64).map(|n| (n + 2) * (n + 1) / 2).collect();
        assert_eq!(take(&cube, N), want);
        // 1/(1-x) + (1/(1-x))^2 = sum (n+2) x^n, from the other copy.
        let sum = add(ones(), b);
        assert_eq!(take(&sum, N), (2..N as i64 + 2).collect::<Vec<_>>());
    });
}

// ---------------------------------------------------------------------------------------------
// A pipeline: each stage adds one and passes the value on.

#[test]
fn pipeline_of_1000_coroutines_passes_every_value() {
    watchdog(|| {
        const STAGES: u64 = 1000;
        const VALUES: u64 = 200;
        let (first_tx, mut rx) = chan::bounded::<u64>(0);
        let mut stages = Vec::new();
        for i in 0..STAGES {
            let (tx, next) = chan::bounded::<u64>(if i % 3 == 0 { 1 } else { 0 });
            let input = rx;
            stages.push(go!(move || {
                let mut n = 0;
                for v in input.iter() {
                    tx.send(v + 1).unwrap();
                    n += 1;
                }
                n
            }));
            rx = next;
        }
        let feeder = go!(move || {
            for v in 0..VALUES {
                first_tx.send(v).unwrap();
            }
        });
        let out: Vec<u64> = rx.iter().collect();
        assert_eq!(out, (STAGES..STAGES + VALUES).collect::<Vec<_>>());
        assert_eq!(
            out.iter().sum::<u64>(),
            VALUES * STAGES + VALUES * (VALUES - 1) / 2
        );
        feeder.join().unwrap();
        for s in stages {
            assert_eq!(s.join().unwrap(), VALUES);
        }
    });
}

// ---------------------------------------------------------------------------------------------
// select2.go / select.go: a sender selects between two channels, the receiver selects between
// them too; both arms keep being chosen, and every value arrives once.

#[test]
fn select_chooses_fairly_between_ready_partners() {
    watchdog(|| {
        const N: u64 = 10_000;
        // Sender and receiver concurrent; counts per channel from both sides.
        for (cap, os_receiver) in [(0usize, false), (1, false), (0, true)] {
            let (t1, r1) = chan::bounded::<u64>(cap);
            let (t2, r2) = chan::bounded::<u64>(cap);
            let sender = go!(move || {
                let mut via = [0u64; 2];
                for i in 0..N {
                    select! {
                        send(t1, i) -> r => { r.unwrap(); via[0] += 1 }
                        send(t2, i) -> r => { r.unwrap(); via[1] += 1 }
                    }
                }
                via
            });
            let receive = move || {
                let mut got = [0u64; 2];
                let mut sum = 0;
                let mut open = [true; 2];
                let never = chan::never();
                while open[0] || open[1] {
                    let (k, m) = select! {
                        recv(if open[0] { &r1 } else { &never }) -> m => (0, m),
                        recv(if open[1] { &r2 } else { &never }) -> m => (1, m),
                    };
                    match m {
                        Ok(v) => {
                            got[k] += 1;
                            sum += v;
                        }
                        Err(RecvError) => open[k] = false,
                    }
                }
                (got, sum)
            };
            let (got, sum) = if os_receiver {
                std::thread::spawn(receive).join().unwrap()
            } else {
                go!(receive).join().unwrap()
            };
            let via = sender.join().unwrap();
            assert_eq!(got, via, "each channel delivered what was sent on it");
            assert_eq!(sum, N * (N - 1) / 2, "every value once");
            for c in via {
                // 40%: a statistical bound (both selects pick in random order).
                assert!(
                    c * 10 >= N * 4,
                    "cap {cap}: a channel was chosen {c} of {N}: {via:?}"
                );
            }
        }
    });
}

// ---------------------------------------------------------------------------------------------
// doubleselect.go: senders select over several rendezvous channels; several muxes forward to
// one channel; no value may be taken by two cases (or two receivers).

#[test]
fn double_select_delivers_every_value_exactly_once() {
    watchdog(|| {
        const SENDERS: u64 = 3;
        const PER: u64 = 3000;
        let chans: Vec<(Sender<u64>, Receiver<u64>)> = (0..4).map(|_| chan::bounded(0)).collect();
        let senders: Vec<_> = (0..SENDERS)
            .map(|s| {
                let txs: Vec<Sender<u64>> = chans.iter().map(|(t, _)| t.clone()).collect();
                go!(move || {
                    for i in s * PER..(s + 1) * PER {
                        select! {
                            send(txs[0], i) -> r => r.unwrap(),
                            send(txs[1], i) -> r => r.unwrap(),
                            send(txs[2], i) -> r => r.unwrap(),
                            send(txs[3], i) -> r => r.unwrap(),
                        }
                    }
                })
            })
            .collect();
        let (mux_tx, mux_rx) = chan::bounded::<u64>(0);
        // One plain mux per channel, and two that select over all four.
        let mut muxes = Vec::new();
        for (_, rx) in &chans {
            let (rx, out) = (rx.clone(), mux_tx.clone());
            muxes.push(start(false, move || {
                for v in rx.iter() {
                    out.send(v).unwrap();
                }
            }));
        }
        for m in 0..2 {
            let rxs: Vec<Receiver<u64>> = chans.iter().map(|(_, r)| r.clone()).collect();
            let out = mux_tx.clone();
            let body = move || {
                let never = chan::never();
                let mut open = [true; 4];
                while open.iter().any(|&o| o) {
                    let r = |k: usize| if open[k] { &rxs[k] } else { &never };
                    let (k, m) = select! {
                        recv(r(0)) -> m => (0, m),
                        recv(r(1)) -> m => (1, m),
                        recv(r(2)) -> m => (2, m),
                        recv(r(3)) -> m => (3, m),
                    };
                    match m {
                        Ok(v) => out.send(v).unwrap(),
                        Err(_) => open[k] = false,
                    }
                }
            };
            // The second one on an OS thread.
            muxes.push(start(m == 1, body));
        }
        drop(chans);
        drop(mux_tx);
        let mut seen = HashSet::new();
        for v in mux_rx.iter() {
            assert!(seen.insert(v), "value {v} received twice");
        }
        for s in senders {
            s.join().unwrap();
        }
        for m in muxes {
            m.join();
        }
        assert_eq!(seen.len() as u64, SENDERS * PER);
        assert!((0..SENDERS * PER).all(|v| seen.contains(&v)));
    });
}

// ---------------------------------------------------------------------------------------------
// nonblock.go: non-blocking sends and receives, as try_* and as select with default.

fn non_blocking_round<T>(cap: usize, make: fn(u32) -> T)
where
    T: Send + PartialEq + std::fmt::Debug + 'static,
{
    let (tx, rx) = chan::bounded::<T>(cap);
    // Nothing to receive.
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    select! {
        recv(rx) -> _ => panic!("cap {cap}: received from an empty channel"),
        default => {}
    }
    // Fill what buffer there is without blocking, then sending fails.
    for i in 0..cap as u32 {
        tx.try_send(make(i)).unwrap();
    }
    assert!(matches!(tx.try_send(make(99)), Err(TrySendError::Full(_))));
    select! {
        send(tx, make(98)) -> _ => panic!("cap {cap}: sent to a full channel"),
        default => {}
    }
    for i in 0..cap as u32 {
        select! {
            recv(rx) -> m => assert_eq!(m, Ok(make(i))),
            default => panic!("cap {cap}: a buffered message is ready"),
        }
    }

    // A partner sender: keep trying to receive until its message comes.
    let t = tx.clone();
    let partner = go!(move || t.send(make(7)).unwrap());
    let mut tries = 0u64;
    let got = loop {
        tries += 1;
        if tries.is_multiple_of(2) {
            if let Ok(v) = rx.try_recv() {
                break v;
            }
        } else {
            select! {
                recv(rx) -> m => break m.unwrap(),
                default => {}
            }
        }
        thread::yield_now();
    };
    assert_eq!(got, make(7));
    partner.join().unwrap();

    // A partner receiver: keep trying to send until it takes the message.
    let r = rx.clone();
    let partner = go!(move || r.recv().unwrap());
    let mut msg = Some(make(8));
    let mut tries = 0u64;
    while let Some(m) = msg.take() {
        tries += 1;
        if tries.is_multiple_of(2) {
            match tx.try_send(m) {
                Ok(()) => {}
                Err(TrySendError::Full(m)) => msg = Some(m),
                Err(TrySendError::Disconnected(_)) => panic!("the partner is there"),
            }
        } else {
            // The message is evaluated for each select; only a successful one consumes it.
            select! {
                send(tx, make(8)) -> r => r.unwrap(),
                default => msg = Some(m),
            }
        }
        if msg.is_some() {
            thread::yield_now();
        }
    }
    assert_eq!(partner.join().unwrap(), make(8));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn non_blocking_operations_on_unbuffered_and_buffered_channels() {
    watchdog(|| {
        for cap in [0, 1, 8] {
            non_blocking_round::<i32>(cap, |i| i as i32);
            non_blocking_round::<u8>(cap, |i| i as u8);
            non_blocking_round::<u64>(cap, u64::from);
            non_blocking_round::<String>(cap, |i| format!("s{i}"));
            non_blocking_round::<()>(cap, |_| ());
        }
    });
}

// ---------------------------------------------------------------------------------------------
// closedchan.go: dropping every sender is Go's close.

#[test]
fn close_semantics_drain_then_err() {
    watchdog(|| {
        for cap in [0usize, 1, 5] {
            let (tx, rx) = chan::bounded::<u32>(cap);
            let sender = go!(move || {
                for i in 0..cap as u32 {
                    tx.send(i).unwrap();
                }
                // `tx` dropped: closed.
            });
            sender.join().unwrap();
            // The buffered messages first, then Err forever, in every form of receive.
            assert_eq!(rx.len(), cap);
            for i in 0..cap as u32 {
                if i % 2 == 0 {
                    assert_eq!(rx.recv(), Ok(i));
                } else {
                    assert_eq!(rx.try_recv(), Ok(i));
                }
            }
            for _ in 0..3 {
                assert_eq!(rx.recv(), Err(RecvError));
                assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
                assert_eq!(
                    rx.recv_timeout(MS),
                    Err(chan::RecvTimeoutError::Disconnected)
                );
                select! {
                    recv(rx) -> m => assert_eq!(m, Err(RecvError)),
                    default => panic!("a closed channel is always ready"),
                }
            }
            assert_eq!(rx.iter().count(), 0);
        }

        // iter() yields what was sent, then ends.
        let (tx, rx) = chan::bounded::<u32>(2);
        let sender = go!(move || (0..50).for_each(|i| tx.send(i).unwrap()));
        assert_eq!(rx.iter().collect::<Vec<_>>(), (0..50).collect::<Vec<_>>());
        sender.join().unwrap();

        // Closing wakes every blocked receiver, plain or selecting, coroutine or OS thread.
        let (tx, rx) = chan::bounded::<u32>(0);
        let woken = Arc::new(AtomicUsize::new(0));
        let mut waiters = Vec::new();
        for w in 0..6 {
            let (rx, woken) = (rx.clone(), woken.clone());
            let body = move || {
                let r = if w % 2 == 0 {
                    rx.recv()
                } else {
                    select! {
                        recv(rx) -> m => m,
                    }
                };
                assert_eq!(r, Err(RecvError));
                woken.fetch_add(1, Ordering::SeqCst);
            };
            waiters.push(start(w >= 4, body));
        }
        thread::sleep(2 * MS);
        drop(tx);
        for w in waiters {
            w.join();
        }
        assert_eq!(woken.load(Ordering::SeqCst), 6);

        // A clone keeps the channel open; the last drop closes it.
        let (tx, rx) = chan::unbounded::<u32>();
        let tx2 = tx.clone();
        drop(tx);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        tx2.send(1).unwrap();
        drop(tx2);
        assert_eq!(rx.recv(), Ok(1));
        assert_eq!(rx.recv(), Err(RecvError));

        // The other side: with every receiver gone, sends fail and give the message back,
        // blocked senders are woken with theirs.
        let (tx, rx) = chan::bounded::<String>(0);
        let blocked: Vec<_> = (0..3)
            .map(|i| {
                let tx = tx.clone();
                go!(move || tx.send(format!("m{i}")).unwrap_err().into_inner())
            })
            .collect();
        thread::sleep(2 * MS);
        drop(rx);
        for (i, b) in blocked.into_iter().enumerate() {
            assert_eq!(b.join().unwrap(), format!("m{i}"));
        }
        assert_eq!(tx.send("x".into()).unwrap_err().into_inner(), "x");
        assert!(matches!(tx.try_send("y".into()), Err(TrySendError::Disconnected(m)) if m == "y"));
        select! {
            send(tx, "z".into()) -> r => assert_eq!(r.unwrap_err().into_inner(), "z"),
            default => panic!("a closed channel is always ready"),
        }
    });
}

// ---------------------------------------------------------------------------------------------
// goroutines.go: a long chain of coroutines, each waiting for its right neighbour.

#[test]
fn chain_of_10000_coroutines() {
    watchdog(|| {
        const N: u64 = 10_000;
        let (leftmost_tx, leftmost) = chan::bounded::<u64>(0);
        let mut left = leftmost_tx;
        let mut links = Vec::with_capacity(N as usize);
        for _ in 0..N {
            let (right_tx, right) = chan::bounded::<u64>(0);
            let l = left;
            links.push(go!(move || l.send(1 + right.recv().unwrap()).unwrap()));
            left = right_tx;
        }
        // `left` feeds the rightmost coroutine.
        left.send(0).unwrap();
        assert_eq!(leftmost.recv(), Ok(N));
        for l in links {
            l.join().unwrap();
        }
    });
}

// ---------------------------------------------------------------------------------------------
// fifo.go: messages arrive in the order each sender sent them.

#[test]
fn fifo_per_sender_with_interleaved_senders() {
    watchdog(|| {
        // Asynchronous: a buffered channel returns what one sender sent, in order.
        const N: u32 = 1000;
        let (tx, rx) = chan::bounded::<u32>(N as usize);
        for i in 0..N {
            tx.send(i).unwrap();
        }
        for i in 0..N {
            assert_eq!(rx.recv(), Ok(i));
        }

        // Several senders interleaved on one channel (coroutines and OS threads): for each
        // sender its values arrive in order; all of them arrive.
        const SENDERS: usize = 6;
        const PER: u32 = 2000;
        for cap in [0usize, 1, 16] {
            let (tx, rx) = chan::bounded::<(usize, u32)>(cap);
            let mut parties = Vec::new();
            for s in 0..SENDERS {
                let tx = tx.clone();
                let body = move || {
                    for seq in 0..PER {
                        if seq % 3 == 0 {
                            select! {
                                send(tx, (s, seq)) -> r => r.unwrap(),
                            }
                        } else {
                            tx.send((s, seq)).unwrap();
                        }
                        if seq % 100 == 0 {
                            thread::yield_now();
                        }
                    }
                };
                parties.push(start(s == SENDERS - 1, body));
            }
            drop(tx);
            let mut next = [0u32; SENDERS];
            let mut total = 0;
            for (s, seq) in rx.iter() {
                assert_eq!(seq, next[s], "cap {cap}: sender {s} out of order");
                next[s] += 1;
                total += 1;
            }
            assert_eq!(total, SENDERS as u32 * PER);
            assert!(next.iter().all(|&n| n == PER));
            for p in parties {
                p.join();
            }
        }
    });
}

#[test]
fn synchronous_fifo_chain() {
    watchdog(|| {
        // Each coroutine waits for its turn (its `input`), sends its number on the shared
        // rendezvous channel, then hands the turn on. The receiver sees 0, 1, 2, ...
        const N: usize = 500;
        let (tx, rx) = chan::bounded::<usize>(0);
        let (first, mut turn) = chan::bounded::<()>(0);
        let mut parties = Vec::new();
        for i in 0..N {
            let (next_tx, next_rx) = chan::bounded::<()>(0);
            let (input, tx) = (turn, tx.clone());
            parties.push(go!(move || {
                input.recv().unwrap();
                tx.send(i).unwrap();
                next_tx.send(()).unwrap();
            }));
            turn = next_rx;
        }
        drop(tx);
        let last = go!(move || turn.recv().unwrap());
        first.send(()).unwrap();
        for i in 0..N {
            assert_eq!(rx.recv(), Ok(i));
        }
        assert_eq!(rx.recv(), Err(RecvError));
        last.join().unwrap();
        for p in parties {
            p.join().unwrap();
        }
    });
}

// ---------------------------------------------------------------------------------------------
// select3.go / select4.go: which selects block and which do not.

/// Whether `f` (a select with a timeout) gave up, i.e. would have blocked.
fn blocks(f: impl FnOnce(Duration) -> bool) -> bool {
    f(2 * MS)
}

#[test]
fn select_blocks_only_when_nothing_can_proceed() {
    watchdog(|| {
        let never = chan::never::<u32>();
        let (tx0, rx0) = chan::bounded::<u32>(0);
        let (txb, rxb) = chan::bounded::<u32>(1);
        let (txc, rxc) = chan::bounded::<u32>(0);
        drop(txc); // closed
        let (dead_tx, dead_rx) = chan::bounded::<u32>(1);
        drop(dead_rx); // nobody can receive

        // Never-ready channels block (Go's nil channels).
        assert!(blocks(|t| select! {
            recv(never) -> _ => false,
            default(t) => true,
        }));
        // An empty select blocks.
        assert!(blocks(|t| select! { default(t) => true }));
        // A rendezvous with no partner blocks, both ways.
        assert!(blocks(|t| select! {
            recv(rx0) -> _ => false,
            send(tx0, 1) -> _ => false,
            default(t) => true,
        }));
        // An empty buffer blocks a receive; a buffer with room does not block a send.
        assert!(blocks(|t| select! {
            recv(rxb) -> _ => false,
            default(t) => true,
        }));
        assert!(!blocks(|t| select! {
            send(txb, 1) -> r => { r.unwrap(); false }
            default(t) => true,
        }));
        // Now full: a send blocks, a receive does not (select4.go: a ready value proceeds,
        // alongside a never-ready case).
        assert!(blocks(|t| select! {
            send(txb, 2) -> _ => false,
            default(t) => true,
        }));
        assert!(!blocks(|t| select! {
            recv(never) -> _ => false,
            recv(rxb) -> m => { assert_eq!(m, Ok(1)); false }
            default(t) => true,
        }));
        // Closed channels never block, in either direction.
        assert!(!blocks(|t| select! {
            recv(never) -> _ => false,
            recv(rxc) -> m => { assert_eq!(m, Err(RecvError)); false }
            default(t) => true,
        }));
        assert!(!blocks(|t| select! {
            send(dead_tx, 3) -> r => { assert!(r.is_err()); false }
            default(t) => true,
        }));
        // Plain operations agree.
        assert_eq!(
            rx0.recv_timeout(2 * MS),
            Err(chan::RecvTimeoutError::Timeout)
        );
        assert_eq!(
            rxc.recv_timeout(LONG_ENOUGH),
            Err(chan::RecvTimeoutError::Disconnected)
        );
        assert!(matches!(
            never.recv_timeout(2 * MS),
            Err(chan::RecvTimeoutError::Timeout)
        ));
    });
}

const LONG_ENOUGH: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------------
// select6.go (Go issue 2075): a select that loses on a channel where a plain receiver also
// waits must leave that channel's queue working for later receivers.

#[test]
fn select_losing_on_a_channel_with_other_waiters() {
    watchdog(|| {
        for round in 0..500 {
            let (c1_tx, c1) = chan::bounded::<bool>(0);
            let (c2_tx, c2) = chan::bounded::<bool>(0);
            let (c3_tx, c3) = chan::bounded::<bool>(0);
            // A plain receiver waits on c1.
            let r = c1.clone();
            let plain = go!(move || r.recv().unwrap());
            // A select waits on c1 and c2; it is served on c2, then waits on c1 again.
            let (r1, r2) = (c1.clone(), c2.clone());
            let selecting = go!(move || {
                select! {
                    recv(r1) -> _ => panic!("c1 must not reach the select"),
                    recv(r2) -> m => {
                        m.unwrap();
                        c3_tx.send(true).unwrap();
                    }
                }
                r1.recv().unwrap()
            });
            let feeder = go!(move || c2_tx.send(true).unwrap());
            if round % 2 == 0 {
                thread::yield_now();
            }
            assert_eq!(c3.recv(), Ok(true));
            // Both receivers of c1 must get a value.
            c1_tx.send(true).unwrap();
            c1_tx.send(true).unwrap();
            assert!(plain.join().unwrap());
            assert!(selecting.join().unwrap());
            feeder.join().unwrap();
            drop(c1);
        }
    });
}

// ---------------------------------------------------------------------------------------------
// select7.go: each way of receiving (plain, a one-case select, a select with a never-ready
// case) against each send timing (before, right after, a little later).

#[test]
fn receive_styles_against_send_timings() {
    watchdog(|| {
        type Recv = fn(&Receiver<u32>) -> u32;
        let styles: [(&str, Recv); 3] = [
            ("plain", |rx| rx.recv().unwrap()),
            ("one case", |rx| {
                select! {
                    recv(rx) -> m => m.unwrap(),
                }
            }),
            ("with never", |rx| {
                let never = chan::never::<u32>();
                select! {
                    recv(rx) -> m => m.unwrap(),
                    recv(never) -> _ => unreachable!(),
                }
            }),
        ];
        for (name, style) in styles {
            for timing in 0..3 {
                for cap in [0usize, 1] {
                    let (tx, rx) = chan::bounded::<u32>(cap);
                    let sent = Arc::new(AtomicBool::new(false));
                    let s = sent.clone();
                    let sender = go!(move || {
                        match timing {
                            0 => {}
                            1 => thread::yield_now(),
                            _ => thread::sleep(MS),
                        }
                        tx.send(42).unwrap();
                        s.store(true, Ordering::SeqCst);
                    });
                    if timing == 0 && cap == 1 {
                        while !sent.load(Ordering::SeqCst) {
                            thread::yield_now();
                        }
                    }
                    assert_eq!(style(&rx), 42, "{name}, timing {timing}, cap {cap}");
                    sender.join().unwrap();
                }
            }
        }
    });
}

// ---------------------------------------------------------------------------------------------
// zerosize.go / sendstmt.go: zero-sized messages, and sending an expression's value.

#[test]
fn zero_sized_messages() {
    watchdog(|| {
        #[derive(Debug, PartialEq, Clone, Copy)]
        struct Unit;
        for cap in [0usize, 1, 64] {
            let (tx, rx) = chan::bounded::<Unit>(cap);
            let sender = go!(move || {
                for _ in 0..500 {
                    tx.send(Unit).unwrap();
                }
            });
            let mut n = 0;
            let never = chan::never::<Unit>();
            loop {
                select! {
                    recv(rx) -> m => match m {
                        Ok(u) => {
                            assert_eq!(u, Unit);
                            n += 1;
                        }
                        Err(_) => break,
                    },
                    recv(never) -> _ => unreachable!(),
                }
            }
            assert_eq!(n, 500);
            sender.join().unwrap();
        }
        let (tx, rx) = chan::unbounded::<[u8; 0]>();
        tx.send([]).unwrap();
        assert_eq!(rx.recv(), Ok([]));
        // A send's value is computed before the send (sendstmt.go).
        let (tx, rx) = chan::bounded::<u32>(1);
        let mut x = 1;
        tx.send({
            x += 1;
            x * 10
        })
        .unwrap();
        assert_eq!(rx.recv(), Ok(20));
        assert_eq!(x, 2);
    });
}

/// A mix of everything above at once, on a small random schedule: every value exactly once.
#[test]
fn mixed_network_of_selects_and_plain_operations() {
    watchdog(|| {
        const WORKERS: u64 = 8;
        const PER: u64 = 1000;
        let (in_tx, in_rx) = chan::bounded::<u64>(0);
        let (out_tx, out_rx) = chan::bounded::<u64>(4);
        let total_forwarded = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(Mutex::new(HashSet::new()));
        // Forwarders: receive from `in`, send to `out`, some through selects with timeouts.
        let forwarders: Vec<_> = (0..WORKERS)
            .map(|w| {
                let (in_rx, out_tx, total) =
                    (in_rx.clone(), out_tx.clone(), total_forwarded.clone());
                go!(move || {
                    let mut rng = Rng::new(w);
                    loop {
                        let v = if w % 2 == 0 {
                            match in_rx.recv() {
                                Ok(v) => v,
                                Err(_) => return,
                            }
                        } else {
                            let t = Duration::from_micros(rng.below(100));
                            select! {
                                recv(in_rx) -> m => match m {
                                    Ok(v) => v,
                                    Err(_) => return,
                                },
                                default(t) => continue,
                            }
                        };
                        out_tx.send(v).unwrap();
                        total.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        drop((in_rx, out_tx));
        let collector = {
            let seen = seen.clone();
            go!(move || {
                for v in out_rx.iter() {
                    assert!(seen.lock().unwrap().insert(v), "{v} twice");
                }
            })
        };
        for v in 0..WORKERS * PER {
            in_tx.send(v).unwrap();
        }
        drop(in_tx);
        for f in forwarders {
            f.join().unwrap();
        }
        collector.join().unwrap();
        assert_eq!(
            total_forwarded.load(Ordering::Relaxed) as u64,
            WORKERS * PER
        );
        assert_eq!(seen.lock().unwrap().len() as u64, WORKERS * PER);
    });
}
