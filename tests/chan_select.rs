//! `select!` and the dynamic `Select`: exactly one arm runs; recv and send arms; `default` and
//! `default(timeout)`; disconnected channels are ready; a blocked select registers everywhere
//! and its losing registrations go away; fairness (a statistical bound, not timing);
//! `break`/`continue`, patterns and channel expressions in the macro; timer receivers; a send
//! and a receive arm on one channel (Go: they never match each other); races against plain
//! operations and timeouts on coroutines and OS threads with exact accounting; the `Select`
//! API and its panics; crossbeam's evaluation rule for send arms (only the chosen arm's message
//! is made, SE5).
//!
//! Only lower bounds on elapsed time are asserted; sleeps only make an interleaving likely,
//! nothing depends on them.

mod support;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::{Party, Rng, panic_text, start, stress_factor, watchdog};
use weft::chan::{
    self, Receiver, RecvError, Select, SelectTimeoutError, SendError, Sender, TryRecvError,
    TrySelectError, TrySendError,
};
use weft::thread;
use weft::{go, select};

const MS: Duration = Duration::from_millis(1);
/// Long enough never to pass in a passing run; only bounds a broken one (below the watchdog).
const LONG: Duration = Duration::from_secs(20);

/// A message that counts its drops.
#[derive(Debug)]
struct Tracked {
    id: usize,
    drops: Arc<Vec<AtomicUsize>>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.drops[self.id].fetch_add(1, Ordering::SeqCst);
    }
}

fn drop_table(n: usize) -> Arc<Vec<AtomicUsize>> {
    Arc::new((0..n).map(|_| AtomicUsize::new(0)).collect())
}

fn drops_of(table: &[AtomicUsize]) -> Vec<usize> {
    table.iter().map(|d| d.load(Ordering::SeqCst)).collect()
}

/// Sends with `try_send` until it succeeds (a rendezvous partner has registered).
fn try_send_until_taken<T>(tx: &Sender<T>, mut msg: T) {
    loop {
        match tx.try_send(msg) {
            Ok(()) => return,
            Err(TrySendError::Full(m)) => {
                msg = m;
                thread::yield_now();
            }
            Err(TrySendError::Disconnected(_)) => panic!("partner disconnected"),
        }
    }
}

/// Receives with `try_recv` until a message comes (a rendezvous partner has registered).
fn try_recv_until_given<T>(rx: &Receiver<T>) -> T {
    loop {
        match rx.try_recv() {
            Ok(v) => return v,
            Err(TryRecvError::Empty) => thread::yield_now(),
            Err(TryRecvError::Disconnected) => panic!("partner disconnected"),
        }
    }
}

#[test]
fn exactly_one_arm_runs_when_every_arm_is_ready() {
    watchdog(|| {
        let (tx1, rx1) = chan::bounded::<u32>(1);
        let (tx2, rx2) = chan::bounded::<u32>(1);
        let (tx3, rx3) = chan::unbounded::<u32>();
        let (stx, srx) = chan::bounded::<u32>(1);
        let mut counts = [0usize; 4];
        for round in 0..2000u32 {
            for tx in [&tx1, &tx2, &tx3] {
                if tx.is_empty() {
                    tx.try_send(round).unwrap();
                }
            }
            let mut ran = Vec::new();
            select! {
                recv(rx1) -> m => { assert!(m.is_ok()); ran.push(0) }
                recv(rx2) -> m => { assert!(m.is_ok()); ran.push(1) }
                recv(rx3) -> m => { assert!(m.is_ok()); ran.push(2) }
                send(stx, round) -> r => { r.unwrap(); ran.push(3) }
                default => panic!("every arm is ready; default must not run"),
            }
            assert_eq!(ran.len(), 1, "exactly one arm runs, got {ran:?}");
            counts[ran[0]] += 1;
            let left = rx1.len() + rx2.len() + rx3.len();
            if ran[0] == 3 {
                assert_eq!(left, 3, "a send arm ran: no receive may have happened");
                assert_eq!(srx.try_recv(), Ok(round));
            } else {
                assert_eq!(left, 2, "one receive arm ran: exactly one message is gone");
                assert_eq!(srx.try_recv(), Err(TryRecvError::Empty));
            }
        }
        assert!(
            counts.iter().all(|&c| c > 0),
            "every arm ran some time: {counts:?}"
        );
    });
}

#[test]
fn recv_arm_gets_the_message_and_send_arm_delivers_it() {
    watchdog(|| {
        let (tx, rx) = chan::unbounded::<String>();
        tx.send("hello".to_owned()).unwrap();
        let got = select! {
            recv(rx) -> msg => msg,
        };
        assert_eq!(got.as_deref(), Ok("hello"));

        let (tx, rx) = chan::bounded::<Vec<u8>>(1);
        let sent = select! {
            send(tx, vec![1, 2, 3]) -> res => res,
        };
        assert_eq!(sent, Ok(()));
        assert_eq!(rx.try_recv(), Ok(vec![1, 2, 3]));

        // A rendezvous: the select blocks until the partner takes (or gives) the message.
        let (tx, rx) = chan::bounded::<u64>(0);
        let (tx2, rx2) = chan::bounded::<u64>(0);
        let partner = go!(move || rx.recv().unwrap() + tx2.send(5).map(|()| 0).unwrap());
        select! {
            send(tx, 37) -> res => res.unwrap(),
        }
        select! {
            recv(rx2) -> msg => assert_eq!(msg, Ok(5)),
        }
        assert_eq!(partner.join().unwrap(), 37);
    });
}

#[test]
fn default_runs_only_when_nothing_is_ready() {
    watchdog(|| {
        let (tx, rx) = chan::bounded::<i32>(0);
        let (btx, brx) = chan::bounded::<i32>(1);
        btx.send(0).unwrap(); // full
        let (_utx, urx) = chan::unbounded::<i32>(); // empty
        for _ in 0..100 {
            let ran_default = select! {
                recv(rx) -> _ => panic!("nobody sends"),
                recv(urx) -> _ => panic!("empty"),
                send(tx, 1) -> _ => panic!("nobody receives"),
                send(btx, 2) -> _ => panic!("full"),
                default => true,
            };
            assert!(ran_default);
        }
        assert_eq!(brx.try_recv(), Ok(0), "the default case sent nothing");
        assert_eq!(brx.try_recv(), Err(TryRecvError::Empty));

        // A sender blocked on a rendezvous channel makes the receive arm ready.
        let tx2 = tx.clone();
        let sender = go!(move || tx2.send(99).unwrap());
        let got = loop {
            select! {
                recv(rx) -> msg => break msg.unwrap(),
                default => thread::yield_now(),
            }
        };
        assert_eq!(got, 99);
        sender.join().unwrap();

        // A receiver blocked on a rendezvous channel makes the send arm ready.
        let rx2 = rx.clone();
        let receiver = go!(move || rx2.recv().unwrap());
        loop {
            select! {
                send(tx, 77) -> res => {
                    res.unwrap();
                    break;
                }
                default => thread::yield_now(),
            }
        }
        assert_eq!(receiver.join().unwrap(), 77);

        // An empty select with a default runs the default.
        let x = select! {
            default => 5,
        };
        assert_eq!(x, 5);
    });
}

#[test]
fn default_with_timeout_waits_then_runs_or_an_arm_runs_in_time() {
    watchdog(|| {
        let (tx, rx) = chan::bounded::<i32>(0);
        // Nothing ready within the timeout: the default runs, no earlier than the timeout.
        for d in [MS, 10 * MS] {
            let start = Instant::now();
            let timed_out = select! {
                recv(rx) -> _ => false,
                default(d) => true,
            };
            assert!(timed_out);
            assert!(
                start.elapsed() >= d,
                "default({d:?}) ran after {:?}",
                start.elapsed()
            );
        }
        // An empty select with a timeout only times out.
        let start = Instant::now();
        select! {
            default(5 * MS) => {}
        }
        assert!(start.elapsed() >= 5 * MS);

        // A partner that comes later, within the timeout: its arm runs.
        for round in 0..50 {
            let tx2 = tx.clone();
            let partner = go!(move || {
                if round % 2 == 0 {
                    thread::sleep(MS);
                }
                tx2.send(round).unwrap();
            });
            select! {
                recv(rx) -> msg => assert_eq!(msg, Ok(round)),
                default(LONG) => panic!("the partner came and the timeout is long"),
            }
            partner.join().unwrap();
        }

        // A zero timeout is a plain default.
        let (btx, brx) = chan::bounded::<i32>(1);
        select! {
            recv(brx) -> _ => panic!("empty"),
            default(Duration::ZERO) => {}
        }
        btx.send(3).unwrap();
        select! {
            recv(brx) -> msg => assert_eq!(msg, Ok(3)),
            default(Duration::ZERO) => panic!("a message is ready"),
        }
        // A timeout too large for an `Instant` waits without a deadline.
        btx.send(4).unwrap();
        select! {
            recv(brx) -> msg => assert_eq!(msg, Ok(4)),
            default(Duration::MAX) => panic!("a message is ready"),
        }
    });
}

#[test]
fn disconnected_channel_arm_is_ready_and_gets_err() {
    watchdog(|| {
        // Receive side: the buffered messages first, then Err, always ready.
        let (tx, rx) = chan::unbounded::<i32>();
        let (_keep, quiet) = chan::bounded::<i32>(0);
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        drop(tx);
        for want in [Ok(1), Ok(2)] {
            select! {
                recv(quiet) -> _ => panic!("nobody sends"),
                recv(rx) -> msg => assert_eq!(msg, want),
                default => panic!("a message is ready"),
            }
        }
        for _ in 0..200 {
            select! {
                recv(quiet) -> _ => panic!("nobody sends"),
                recv(rx) -> msg => assert_eq!(msg, Err(RecvError)),
                default => panic!("a disconnected channel is ready"),
            }
        }

        // Send side: the message comes back in the error.
        let (tx, rx) = chan::bounded::<String>(0);
        drop(rx);
        for _ in 0..50 {
            select! {
                send(tx, "back".to_owned()) -> res => {
                    assert_eq!(res.unwrap_err().into_inner(), "back");
                }
                default => panic!("a disconnected channel is ready"),
            }
        }

        // A blocked select is woken by the disconnection.
        for round in 0..50 {
            let (tx, rx) = chan::bounded::<i32>(0);
            let (_tx2, rx2) = chan::bounded::<i32>(0);
            let (tx3, rx3) = chan::bounded::<String>(0);
            let waiter = start(round % 5 == 0, move || {
                select! {
                    recv(rx) -> msg => msg.map(|v| v.to_string()).map_err(|_| "recv-err".to_owned()),
                    recv(rx2) -> _ => panic!("nobody sends on rx2"),
                    send(tx3, format!("m{round}")) -> res => Err(res.unwrap_err().into_inner()),
                }
            });
            if round % 2 == 0 {
                thread::sleep(MS);
            }
            if round % 3 == 0 {
                drop(rx3);
                assert_eq!(waiter.join(), Err(format!("m{round}")));
                drop(tx);
            } else {
                drop(tx);
                assert_eq!(waiter.join(), Err("recv-err".to_owned()));
                drop(rx3);
            }
        }
    });
}

#[test]
fn blocked_select_registers_on_every_channel_and_a_late_partner_completes_it() {
    watchdog(|| {
        let mut rng = Rng::new(11);
        for round in 0..400u64 {
            // Arms 0 and 1 receive, arms 2 and 3 send; all rendezvous channels.
            let (tx0, rx0) = chan::bounded::<u64>(0);
            let (tx1, rx1) = chan::bounded::<u64>(0);
            let (tx2, rx2) = chan::bounded::<u64>(0);
            let (tx3, rx3) = chan::bounded::<u64>(0);
            let (r0, r1, t2, t3) = (rx0.clone(), rx1.clone(), tx2.clone(), tx3.clone());
            let selector = start(round % 4 == 3, move || {
                select! {
                    recv(r0) -> m => (0, m.unwrap()),
                    recv(r1) -> m => (1, m.unwrap()),
                    send(t2, 1000 + round) -> r => { r.unwrap(); (2, 1000 + round) }
                    send(t3, 2000 + round) -> r => { r.unwrap(); (3, 2000 + round) }
                }
            });
            // The partner polls without blocking: it can only succeed once the select has
            // registered on its channel.
            let k = rng.below(4) as usize;
            let got = match k {
                0 => {
                    try_send_until_taken(&tx0, round);
                    round
                }
                1 => {
                    try_send_until_taken(&tx1, round);
                    round
                }
                2 => try_recv_until_given(&rx2),
                _ => try_recv_until_given(&rx3),
            };
            let (arm, value) = selector.join();
            assert_eq!(arm, k, "the arm of the partner's channel ran");
            assert_eq!(value, got);
            // The losing registrations are gone: nobody is waiting on any channel.
            assert!(matches!(tx0.try_send(0), Err(TrySendError::Full(_))));
            assert!(matches!(tx1.try_send(0), Err(TrySendError::Full(_))));
            assert_eq!(rx2.try_recv(), Err(TryRecvError::Empty));
            assert_eq!(rx3.try_recv(), Err(TryRecvError::Empty));
        }
    });
}

#[test]
fn losing_registrations_are_removed_and_later_messages_are_not_lost() {
    watchdog(|| {
        let mut rng = Rng::new(5);
        for round in 0..1500u64 {
            let os = round % 10 == 9;
            let (ta, ra) = chan::bounded::<u64>(0);
            let (tb, rb) = chan::bounded::<u64>(if round % 3 == 0 { 1 } else { 0 });
            let (ra2, rb2) = (ra.clone(), rb.clone());
            let selector = start(os, move || {
                select! {
                    recv(ra2) -> m => ('a', m.unwrap()),
                    recv(rb2) -> m => ('b', m.unwrap()),
                }
            });
            let winner_a = rng.below(2) == 0;
            if winner_a {
                ta.send(round).unwrap();
            } else {
                tb.send(round).unwrap();
            }
            let (arm, v) = selector.join();
            assert_eq!((arm, v), (if winner_a { 'a' } else { 'b' }, round));
            // A later message on the losing channel reaches a plain receiver.
            let (ltx, lrx) = if winner_a { (tb, rb) } else { (ta, ra) };
            let sender = go!(move || ltx.send(round + 1).unwrap());
            assert_eq!(lrx.recv(), Ok(round + 1));
            sender.join().unwrap();
        }

        // The same with send arms: the losing message is not delivered, later ones are.
        for round in 0..1000u64 {
            let (ta, ra) = chan::bounded::<u64>(0);
            let (tb, rb) = chan::bounded::<u64>(0);
            let (ta2, tb2) = (ta.clone(), tb.clone());
            let selector = start(round % 10 == 9, move || {
                select! {
                    send(ta2, round) -> r => { r.unwrap(); 'a' }
                    send(tb2, round) -> r => { r.unwrap(); 'b' }
                }
            });
            let winner_a = rng.below(2) == 0;
            let (wrx, lrx, ltx) = if winner_a {
                (&ra, &rb, &tb)
            } else {
                (&rb, &ra, &ta)
            };
            assert_eq!(wrx.recv(), Ok(round));
            assert_eq!(selector.join(), if winner_a { 'a' } else { 'b' });
            assert_eq!(
                lrx.try_recv(),
                Err(TryRecvError::Empty),
                "a losing send was delivered"
            );
            let ltx = ltx.clone();
            let sender = go!(move || ltx.send(round + 7).unwrap());
            assert_eq!(lrx.recv(), Ok(round + 7));
            sender.join().unwrap();
        }
    });
}

#[test]
fn two_always_ready_arms_are_chosen_uniformly() {
    watchdog(|| {
        const N: usize = 10_000;
        let (tx1, rx1) = chan::bounded::<usize>(1);
        let (tx2, rx2) = chan::bounded::<usize>(1);
        tx1.send(0).unwrap();
        tx2.send(0).unwrap();
        let mut counts = [0usize; 2];
        for i in 0..N {
            select! {
                recv(rx1) -> m => {
                    m.unwrap();
                    counts[0] += 1;
                    tx1.send(i).unwrap();
                }
                recv(rx2) -> m => {
                    m.unwrap();
                    counts[1] += 1;
                    tx2.send(i).unwrap();
                }
            }
        }
        assert_eq!(counts[0] + counts[1], N);
        for c in counts {
            assert!(
                c * 10 >= N * 4,
                "an arm was chosen {c} times of {N}: {counts:?}"
            );
        }

        // Disconnected channels are always ready too.
        let (d1, e1) = chan::bounded::<()>(0);
        let (d2, e2) = chan::unbounded::<()>();
        drop((d1, d2));
        let mut counts = [0usize; 2];
        for _ in 0..N {
            select! {
                recv(e1) -> m => { assert!(m.is_err()); counts[0] += 1 }
                recv(e2) -> m => { assert!(m.is_err()); counts[1] += 1 }
            }
        }
        for c in counts {
            assert!(
                c * 10 >= N * 4,
                "an arm was chosen {c} times of {N}: {counts:?}"
            );
        }
    });
}

#[test]
fn four_ready_arms_mixing_sends_and_receives_are_chosen_uniformly() {
    watchdog(|| {
        const N: usize = 20_000;
        let (rt1, rr1) = chan::unbounded::<usize>();
        let (rt2, rr2) = chan::unbounded::<usize>();
        let (st1, sr1) = chan::unbounded::<usize>();
        let (st2, sr2) = chan::bounded::<usize>(1);
        for i in 0..N {
            rt1.send(i).unwrap();
            rt2.send(i).unwrap();
        }
        let mut counts = [0usize; 4];
        for i in 0..N {
            let arm = select! {
                recv(rr1) -> m => { m.unwrap(); 0 }
                send(st1, i) -> r => { r.unwrap(); 2 }
                recv(rr2) -> m => { m.unwrap(); 1 }
                send(st2, i) -> r => { r.unwrap(); 3 }
            };
            counts[arm] += 1;
            if arm == 3 {
                assert_eq!(sr2.try_recv(), Ok(i));
            }
        }
        assert_eq!(counts.iter().sum::<usize>(), N);
        assert_eq!(rr1.len(), N - counts[0]);
        assert_eq!(rr2.len(), N - counts[1]);
        assert_eq!(sr1.len(), counts[2]);
        for c in counts {
            assert!(c * 5 >= N, "an arm was chosen {c} times of {N}: {counts:?}");
        }
    });
}

#[test]
fn dynamic_select_chooses_ready_operations_uniformly() {
    watchdog(|| {
        const N: usize = 9_000;
        let chans: Vec<_> = (0..3).map(|_| chan::unbounded::<usize>()).collect();
        for (tx, _) in &chans {
            for i in 0..N {
                tx.send(i).unwrap();
            }
        }
        let mut counts = [0usize; 3];
        for _ in 0..N {
            let mut sel = Select::new();
            for (_, rx) in &chans {
                sel.recv(rx);
            }
            let oper = sel.select();
            let i = oper.index();
            oper.recv(&chans[i].1).unwrap();
            counts[i] += 1;
        }
        for c in counts {
            // Expected N / 3 each; at least 80% of that.
            assert!(c * 30 >= N * 8, "chosen {c} times of {N}: {counts:?}");
        }
    });
}

#[test]
fn break_and_continue_from_arms_reach_the_enclosing_loop() {
    watchdog(|| {
        let (tx, rx) = chan::bounded::<u32>(0);
        let producer = go!(move || {
            for i in 1..=100 {
                tx.send(i).unwrap();
            }
        });
        let mut odd_sum = 0;
        let mut seen = 0;
        loop {
            select! {
                recv(rx) -> msg => {
                    let Ok(v) = msg else { break };
                    seen += 1;
                    if v % 2 == 0 {
                        continue;
                    }
                    odd_sum += v;
                }
            }
        }
        producer.join().unwrap();
        assert_eq!(seen, 100);
        assert_eq!(odd_sum, 2500);

        // A labeled break out of nested loops, and `break` with a value.
        let (tx, rx) = chan::unbounded::<u32>();
        for i in 0..10 {
            tx.send(i).unwrap();
        }
        let mut taken = 0;
        'outer: for _ in 0..3 {
            for _ in 0..10 {
                select! {
                    recv(rx) -> msg => {
                        taken += 1;
                        if msg == Ok(6) {
                            break 'outer;
                        }
                    }
                    default => unreachable!("messages are ready"),
                }
            }
        }
        assert_eq!(taken, 7);
        let v = loop {
            select! {
                recv(rx) -> msg => if msg == Ok(8) { break msg.unwrap() * 10 },
                default => break 0,
            }
        };
        assert_eq!(v, 80);
        // `continue` in a default arm, and `break` in a default(timeout) arm.
        let never = chan::never::<u8>();
        let mut defaults = 0;
        for _ in 0..5 {
            select! {
                recv(never) -> _ => unreachable!(),
                default => {
                    defaults += 1;
                    continue;
                }
            }
        }
        assert_eq!(defaults, 5);
        let mut laps = 0;
        loop {
            laps += 1;
            select! {
                recv(never) -> _ => unreachable!(),
                default(MS) => if laps == 3 { break },
            }
        }
        assert_eq!(laps, 3);
        // `return` from an arm leaves the function.
        fn first_or(rx: &Receiver<u32>, or: u32) -> u32 {
            select! {
                recv(rx) -> msg => return msg.unwrap_or(or),
                default => {}
            }
            or + 1
        }
        let (tx, rx) = chan::unbounded::<u32>();
        assert_eq!(first_or(&rx, 4), 5);
        tx.send(9).unwrap();
        assert_eq!(first_or(&rx, 4), 9);
        drop(tx);
        assert_eq!(first_or(&rx, 4), 4);
    });
}

#[test]
fn arm_patterns_and_body_forms() {
    watchdog(|| {
        let (tx, rx) = chan::unbounded::<i32>();
        let (stx, srx) = chan::unbounded::<i32>();
        // `-> msg`, block body with a trailing comma.
        tx.send(1).unwrap();
        select! {
            recv(rx) -> msg => {
                assert_eq!(msg, Ok(1));
            },
        }
        // `-> _`, expression body without a trailing comma.
        tx.send(2).unwrap();
        select! {
            recv(rx) -> _ => ()
        }
        assert!(
            rx.is_empty(),
            "`-> _` still receives (and drops) the message"
        );
        // `-> mut msg`.
        tx.send(3).unwrap();
        select! {
            recv(rx) -> mut msg => {
                if let Ok(v) = msg.as_mut() {
                    *v += 1;
                }
                assert_eq!(msg, Ok(4));
            }
        }
        // Send arms: `-> res`, `-> _`.
        select! {
            send(stx, 10) -> res => assert_eq!(res, Ok(())),
        }
        select! {
            send(stx, 11) -> _ => {}
        }
        assert_eq!(srx.try_iter().collect::<Vec<_>>(), [10, 11]);
        // Block and expression bodies mixed, with and without commas, default in the middle.
        tx.send(5).unwrap();
        let never = chan::never::<i32>();
        let r = select! {
            recv(never) -> _ => 0,
            default => -1,
            recv(rx) -> m => { m.unwrap() }
        };
        assert_eq!(r, 5);
        // A select used as an expression of a match arm, and a nested select in an arm.
        tx.send(6).unwrap();
        stx.send(7).unwrap();
        let r = select! {
            recv(rx) -> a => select! {
                recv(srx) -> b => a.unwrap() * b.unwrap(),
                default => 0,
            },
        };
        assert_eq!(r, 42);
        // Zero-sized messages.
        let (ztx, zrx) = chan::bounded::<()>(0);
        let p = go!(move || ztx.send(()).unwrap());
        select! {
            recv(zrx) -> m => assert_eq!(m, Ok(())),
        }
        p.join().unwrap();
    });
}

struct Holder {
    rx: Receiver<u8>,
    tx: Sender<u8>,
}

impl Holder {
    fn rx(&self) -> &Receiver<u8> {
        &self.rx
    }
}

#[test]
#[allow(clippy::needless_range_loop)] // `chans[i]` in the arms is the point.
fn channel_expressions_in_arms() {
    watchdog(|| {
        let chans: Vec<(Sender<usize>, Receiver<usize>)> =
            (0..4).map(|_| chan::unbounded()).collect();
        for i in 0..4 {
            chans[i].0.send(i).unwrap();
            let got = select! {
                recv(chans[i].1) -> m => m.unwrap(),
                default => usize::MAX,
            };
            assert_eq!(got, i);
            // `send(chans[i].0, ..)` then `recv(&chans[i].1)`.
            select! {
                send(chans[i].0, i * 10) -> r => r.unwrap(),
            }
            let rx_ref: &Receiver<usize> = &chans[i].1;
            select! {
                recv(&rx_ref) -> m => assert_eq!(m, Ok(i * 10)),
            }
        }
        let (tx, rx) = chan::unbounded::<u8>();
        let h = Holder { rx, tx };
        h.tx.send(1).unwrap();
        select! {
            recv(h.rx()) -> m => assert_eq!(m, Ok(1)),
        }
        select! {
            send(&h.tx, 2) -> r => r.unwrap(),
        }
        select! {
            recv(&h.rx) -> m => assert_eq!(m, Ok(2)),
        }
        // A block expression. (A temporary receiver made in the arm, such as crossbeam's
        // `recv(after(d))`, does not compile with weft's `select!`: see the report.)
        let k = 3;
        select! {
            recv({ chans[k].0.send(33).unwrap(); &chans[k].1 }) -> m => assert_eq!(m, Ok(33)),
        }
        // The same receiver in two arms: each message is received once.
        let (tx, rx) = chan::unbounded::<u32>();
        for i in 0..100 {
            tx.send(i).unwrap();
        }
        let mut got = Vec::new();
        for _ in 0..100 {
            select! {
                recv(rx) -> m => got.push(m.unwrap()),
                recv(rx) -> m => got.push(m.unwrap()),
            }
        }
        assert_eq!(got, (0..100).collect::<Vec<_>>());
        assert!(rx.is_empty());
    });
}

/// crossbeam's idiom `recv(after(d))`: a channel expression that makes a temporary receiver.
/// `select!` binds its handles before creating its `Select`, so temporaries live long enough.
#[test]
fn temporary_receivers_as_channel_expressions() {
    watchdog(|| {
        let (_tx, rx) = chan::bounded::<i32>(0);
        select! {
            recv(rx) -> _ => panic!("nobody sends"),
            recv(chan::after(MS)) -> t => assert!(t.is_ok()),
        }
        select! {
            recv(chan::never::<i32>()) -> _ => panic!("never fires"),
            default(MS) => {}
        }
    });
}

#[test]
fn channels_are_evaluated_once_in_source_order_and_only_the_chosen_message() {
    watchdog(|| {
        let log = RefCell::new(Vec::new());
        fn note<T>(log: &RefCell<Vec<&'static str>>, what: &'static str, v: T) -> T {
            log.borrow_mut().push(what);
            v
        }
        let (tx0, rx0) = chan::unbounded::<i32>();
        let (tx1, _rx1) = chan::bounded::<i32>(0);
        let (_tx2, rx2) = chan::bounded::<i32>(0);
        let (tx3, _rx3) = chan::bounded::<i32>(0);
        // Nothing ready: every channel expression runs exactly once, in order; no message.
        select! {
            recv(note(&log, "rx0", &rx0)) -> _ => panic!("empty"),
            send(note(&log, "tx1", &tx1), note(&log, "msg1", 1)) -> _ => panic!("no receiver"),
            recv(note(&log, "rx2", &rx2)) -> _ => panic!("no sender"),
            send(note(&log, "tx3", &tx3), note(&log, "msg3", 3)) -> _ => panic!("no receiver"),
            default => log.borrow_mut().push("default"),
        }
        assert_eq!(*log.borrow(), ["rx0", "tx1", "rx2", "tx3", "default"]);
        // A receive arm wins: the send message is not made (crossbeam's rule).
        log.borrow_mut().clear();
        tx0.send(0).unwrap();
        select! {
            recv(note(&log, "rx0", &rx0)) -> m => { assert_eq!(m, Ok(0)); log.borrow_mut().push("arm0") }
            send(note(&log, "tx1", &tx1), note(&log, "msg1", 1)) -> _ => panic!("no receiver"),
        }
        assert_eq!(*log.borrow(), ["rx0", "tx1", "arm0"]);
        // A send arm wins: its message is made after the channels, once.
        log.borrow_mut().clear();
        let (tx4, rx4) = chan::bounded::<i32>(1);
        select! {
            recv(note(&log, "rx2", &rx2)) -> _ => panic!("no sender"),
            send(note(&log, "tx4", &tx4), note(&log, "msg4", 4)) -> r => { r.unwrap(); log.borrow_mut().push("arm4") }
        }
        assert_eq!(*log.borrow(), ["rx2", "tx4", "msg4", "arm4"]);
        assert_eq!(rx4.try_recv(), Ok(4));

        // Over many selects, some blocking until a partner comes, one message expression runs
        // per select: the chosen arm's.
        let evals = Cell::new(0u64);
        let make = |v: u64| {
            evals.set(evals.get() + 1);
            v
        };
        let (tx, rx) = chan::bounded::<u64>(0);
        let (btx, brx) = chan::bounded::<u64>(2);
        let consumer = go!(move || {
            let mut sum = 0;
            while let Ok(v) = rx.recv() {
                sum += v;
                if v % 3 == 0 {
                    thread::yield_now();
                }
            }
            sum
        });
        let mut sent_rendezvous = 0;
        let mut sent_buffered = 0;
        for i in 0..2000u64 {
            select! {
                send(tx, make(i)) -> r => { r.unwrap(); sent_rendezvous += i }
                send(btx, make(i)) -> r => { r.unwrap(); sent_buffered += 1 }
            }
            if i % 2 == 0 {
                let _ = brx.try_recv();
            }
        }
        assert_eq!(evals.get(), 2000);
        drop(tx);
        assert_eq!(consumer.join().unwrap(), sent_rendezvous);
        assert!(sent_buffered <= 2000);
    });
}

#[test]
fn losing_send_messages_are_never_made_and_sent_ones_dropped_once() {
    watchdog(|| {
        let drops = drop_table(64);
        let t = |id| Tracked {
            id,
            drops: drops.clone(),
        };
        // Nothing ready: default, no message made.
        let (full, _full_rx) = chan::bounded::<Tracked>(0);
        select! {
            send(full, t(0)) -> _ => panic!("no receiver"),
            send(full, t(1)) -> _ => panic!("no receiver"),
            default => {}
        }
        assert_eq!(drops_of(&drops)[..2], [0, 0]);
        // default(timeout): the same.
        select! {
            send(full, t(2)) -> _ => panic!("no receiver"),
            default(MS) => {}
        }
        assert_eq!(drops_of(&drops)[2], 0);
        // A receive arm wins: the send message is not made.
        let (utx, urx) = chan::unbounded::<u8>();
        utx.send(1).unwrap();
        select! {
            send(full, t(3)) -> _ => panic!("no receiver"),
            recv(urx) -> m => assert_eq!(m, Ok(1)),
        }
        assert_eq!(drops_of(&drops)[3], 0);
        // A blocked select: the partner takes one message, the other is never made.
        let (ta, ra) = chan::bounded::<Tracked>(0);
        let (tb, rb) = chan::bounded::<Tracked>(0);
        let (ta2, tb2, d) = (ta.clone(), tb.clone(), drops.clone());
        let selector = go!(move || {
            let t = |id| Tracked {
                id,
                drops: d.clone(),
            };
            select! {
                send(ta2, t(4)) -> r => { r.unwrap(); 'a' }
                send(tb2, t(5)) -> r => { r.unwrap(); 'b' }
            }
        });
        let got = ra.recv().unwrap();
        assert_eq!(got.id, 4);
        assert_eq!(selector.join().unwrap(), 'a');
        assert_eq!(
            drops_of(&drops)[4..6],
            [0, 0],
            "the loser never made, the winner delivered"
        );
        drop(got);
        assert_eq!(drops_of(&drops)[4..6], [1, 0]);
        assert!(rb.try_recv().is_err());
        // Disconnected: the message comes back in the error, not dropped.
        drop(ra);
        let back = select! {
            send(ta, t(6)) -> r => r.unwrap_err().into_inner(),
        };
        assert_eq!(back.id, 6);
        assert_eq!(drops_of(&drops)[6], 0);
        drop(back);
        assert_eq!(drops_of(&drops)[6], 1);
        // Delivered into a buffer that is then dropped with the channel: once.
        let (btx, brx) = chan::bounded::<Tracked>(1);
        select! {
            send(btx, t(7)) -> r => r.unwrap(),
            send(tb, t(8)) -> _ => panic!("no receiver"),
        }
        assert_eq!(drops_of(&drops)[7..9], [0, 0]);
        drop((btx, brx));
        assert_eq!(drops_of(&drops)[7], 1);
        drop(rb);

        // Many rounds with random readiness: every message dropped exactly once in the end.
        const ROUNDS: usize = 3000;
        let drops = drop_table(3 * ROUNDS);
        let (c0, r0) = chan::bounded::<Tracked>(1);
        let (c1, r1) = chan::bounded::<Tracked>(0);
        let (c2, r2) = chan::unbounded::<Tracked>();
        let consumer = go!(move || {
            let mut got = 0;
            while let Ok(m) = r1.recv() {
                assert!(m.id % 3 == 1);
                got += 1;
            }
            got
        });
        let mut rng = Rng::new(3);
        let mut via = [0usize; 3];
        for round in 0..ROUNDS {
            let mk = |k: usize| Tracked {
                id: 3 * round + k,
                drops: drops.clone(),
            };
            select! {
                send(c0, mk(0)) -> r => { r.unwrap(); via[0] += 1 }
                send(c1, mk(1)) -> r => { r.unwrap(); via[1] += 1 }
                send(c2, mk(2)) -> r => { r.unwrap(); via[2] += 1 }
                default => {}
            }
            if rng.below(2) == 0 {
                drop(r0.try_recv());
            }
            if rng.below(4) == 0 {
                drop(r2.try_recv());
            }
        }
        drop(c1);
        assert_eq!(consumer.join().unwrap(), via[1]);
        drop((c0, r0, c2, r2));
        let counts = drops_of(&drops);
        let made = counts.iter().filter(|&&c| c == 1).count();
        assert_eq!(
            made,
            via.iter().sum::<usize>(),
            "only chosen messages are made"
        );
        assert!(
            counts.iter().all(|&c| c <= 1),
            "every message is dropped at most once: {:?}",
            counts
                .iter()
                .enumerate()
                .filter(|&(_, &c)| c > 1)
                .take(10)
                .collect::<Vec<_>>()
        );
    });
}

#[test]
fn timer_receivers_in_select() {
    watchdog(|| {
        let (_tx, rx) = chan::bounded::<i32>(0);
        // after: fires once, not before its time.
        let start = Instant::now();
        let timer = chan::after(10 * MS);
        let at = select! {
            recv(rx) -> _ => panic!("nobody sends"),
            recv(timer) -> t => t.unwrap(),
        };
        assert!(at >= start + 10 * MS);
        assert!(Instant::now() >= at);
        select! {
            recv(timer) -> _ => panic!("an `after` delivers once"),
            default(5 * MS) => {}
        }
        // at: a past instant is ready at once.
        let when = Instant::now();
        let at = chan::at(when);
        select! {
            recv(at) -> t => assert_eq!(t, Ok(when)),
            default => panic!("a past `at` is ready"),
        }
        // A data message that comes first wins over a far timer.
        let (tx2, rx2) = chan::bounded::<i32>(0);
        let p = go!(move || tx2.send(8).unwrap());
        let far = chan::after(LONG);
        select! {
            recv(rx2) -> m => assert_eq!(m, Ok(8)),
            recv(far) -> _ => panic!("timed out"),
        }
        p.join().unwrap();

        // tick: several ticks during a stream of data; every data message is received.
        let ticker = chan::tick(2 * MS);
        let (dtx, drx) = chan::bounded::<u32>(0);
        let producer = go!(move || {
            for i in 0..200 {
                dtx.send(i).unwrap();
                if i % 20 == 0 {
                    thread::sleep(MS);
                }
            }
        });
        let mut data = Vec::new();
        let mut ticks = 0;
        let mut data_done = false;
        let mut last_tick: Option<Instant> = None;
        while !data_done || ticks < 3 {
            select! {
                recv(drx) -> m => match m {
                    Ok(v) => data.push(v),
                    Err(_) => data_done = true,
                },
                recv(ticker) -> t => {
                    let t = t.unwrap();
                    assert!(Instant::now() >= t);
                    if let Some(prev) = last_tick {
                        assert!(t >= prev + 2 * MS, "ticks are a period apart");
                    }
                    last_tick = Some(t);
                    ticks += 1;
                }
            }
        }
        producer.join().unwrap();
        assert_eq!(data, (0..200).collect::<Vec<_>>());

        // never: its arm never runs; with a ready channel that channel always wins.
        let (utx, urx) = chan::unbounded::<u32>();
        let never = chan::never::<u32>();
        for i in 0..100 {
            utx.send(i).unwrap();
            select! {
                recv(never) -> _ => panic!("never fires"),
                recv(urx) -> m => assert_eq!(m, Ok(i)),
            }
        }
        let start = Instant::now();
        select! {
            recv(never) -> _ => panic!("never fires"),
            default(5 * MS) => {}
        }
        assert!(start.elapsed() >= 5 * MS);

        // A select blocked only on timers in a coroutine and on an OS thread.
        for os in [false, true] {
            let p = start_timer_select(os);
            assert_eq!(p.join(), "after");
        }
    });
}

fn start_timer_select(os: bool) -> Party<&'static str> {
    start(os, || {
        let never = chan::never::<Instant>();
        let far = chan::after(LONG);
        let near = chan::after(3 * MS);
        select! {
            recv(never) -> _ => "never",
            recv(far) -> _ => "far",
            recv(near) -> _ => "after",
        }
    })
}

#[test]
fn send_and_recv_arms_on_one_channel_never_match_each_other() {
    watchdog(|| {
        // Rendezvous, alone: the select only ends by its timeout.
        let (tx, rx) = chan::bounded::<u32>(0);
        for _ in 0..20 {
            select! {
                send(tx, 1) -> _ => panic!("matched itself"),
                recv(rx) -> _ => panic!("matched itself"),
                default(MS) => {}
            }
        }
        let mut sel = Select::new();
        sel.send(&tx);
        sel.recv(&rx);
        assert!(sel.select_timeout(2 * MS).is_err());
        drop(sel);

        // Buffered: an empty buffer makes only the send ready, a full one only the receive.
        let (btx, brx) = chan::bounded::<u32>(1);
        for i in 0..200 {
            let sent = select! {
                send(btx, i) -> r => { r.unwrap(); true }
                recv(brx) -> _ => false,
            };
            assert_eq!(sent, i % 2 == 0);
        }

        // Two parties each selecting to send and to receive on one rendezvous channel pair up:
        // one sends, the other receives that message.
        #[derive(Debug, PartialEq)]
        enum Did {
            Sent(u64),
            Got(u64),
        }
        for round in 0..500u64 {
            let parties: Vec<Party<Did>> = (0..2u64)
                .map(|who| {
                    let (tx, rx) = (tx.clone(), rx.clone());
                    let id = round * 2 + who;
                    start(round % 7 == 0 && who == 1, move || {
                        select! {
                            send(tx, id as u32) -> r => { r.unwrap(); Did::Sent(id) }
                            recv(rx) -> m => Did::Got(u64::from(m.unwrap())),
                        }
                    })
                })
                .collect();
            let mut did: Vec<Did> = parties.into_iter().map(Party::join).collect();
            if matches!(did[0], Did::Got(_)) {
                did.swap(0, 1);
            }
            match did[..] {
                [Did::Sent(a), Did::Got(b)] => assert_eq!(a, b),
                _ => panic!("the two selects must pair up: {did:?}"),
            }
        }
    });
}

/// A send arm blocked on a full buffer is completed by a receiver that frees a slot: its
/// message goes into the buffer behind the older ones (CH1), once.
#[test]
fn blocked_send_arm_on_a_full_buffer_is_completed_by_a_receive() {
    watchdog(|| {
        for round in 0..300u32 {
            let (tx, rx) = chan::bounded::<u32>(2);
            let (_qtx, quiet) = chan::bounded::<u32>(0);
            tx.send(round).unwrap();
            tx.send(round + 1).unwrap();
            let t = tx.clone();
            let selector = start(round % 5 == 4, move || {
                select! {
                    send(t, round + 2) -> r => r.unwrap(),
                    recv(quiet) -> _ => panic!("nobody sends"),
                }
            });
            if round % 2 == 0 {
                thread::sleep(Duration::from_micros(200));
            }
            let mut got = vec![rx.recv().unwrap()];
            selector.join();
            got.extend(rx.try_iter());
            assert_eq!(got, [round, round + 1, round + 2]);
        }
    });
}

/// Timer receivers shared (cloned) between concurrent selects: an `after` message goes to
/// exactly one of them, and no `tick` message is delivered twice.
#[test]
fn shared_timers_deliver_each_message_to_one_select() {
    watchdog(|| {
        for round in 0..10 {
            let timer = chan::after(Duration::from_micros(500));
            let parties: Vec<Party<usize>> = (0..5)
                .map(|p| {
                    let timer = timer.clone();
                    start(p == 4 && round % 2 == 0, move || {
                        // The timeout is far past the due time of `timer` for every party.
                        select! {
                            recv(timer) -> t => { t.unwrap(); 1 }
                            default(30 * MS) => 0,
                        }
                    })
                })
                .collect();
            let winners: usize = parties.into_iter().map(Party::join).sum();
            assert_eq!(
                winners, 1,
                "an `after` message goes to exactly one receiver"
            );
        }

        let ticker = chan::tick(Duration::from_micros(300));
        let parties: Vec<Party<Vec<Instant>>> = (0..3)
            .map(|p| {
                let ticker = ticker.clone();
                start(p == 2, move || {
                    let never = chan::never::<Instant>();
                    (0..20)
                        .map(|_| {
                            select! {
                                recv(ticker) -> t => t.unwrap(),
                                recv(never) -> _ => unreachable!(),
                            }
                        })
                        .collect()
                })
            })
            .collect();
        let mut all: Vec<Instant> = parties.into_iter().flat_map(Party::join).collect();
        all.sort_unstable();
        let n = all.len();
        all.dedup();
        assert_eq!(all.len(), n, "a tick was delivered twice");
        assert_eq!(n, 60);
    });
}

/// A panic in an arm's body: the channels keep working.
#[test]
fn a_panicking_arm_leaves_the_channels_working() {
    watchdog(|| {
        let drops = drop_table(2);
        let (tx, rx) = chan::unbounded::<u32>();
        let (stx, srx) = chan::bounded::<Tracked>(0);
        tx.send(1).unwrap();
        let d = drops.clone();
        let err = panic::catch_unwind(AssertUnwindSafe(|| {
            select! {
                recv(rx) -> _ => panic!("arm body panics"),
                send(stx, Tracked { id: 0, drops: d.clone() }) -> _ => unreachable!("no receiver"),
            }
        }))
        .expect_err("the arm panicked");
        assert_eq!(panic_text(&*err).as_deref(), Some("arm body panics"));
        // The losing send's message was never made.
        assert_eq!(drops_of(&drops), [0, 0]);
        // Both channels still work, from other parties too.
        let r = srx.clone();
        let p = go!(move || r.recv().unwrap().id);
        select! {
            send(stx, Tracked { id: 1, drops: drops.clone() }) -> res => res.unwrap(),
        }
        assert_eq!(p.join().unwrap(), 1);
        assert_eq!(drops_of(&drops), [0, 1]);
        let t = tx.clone();
        let p = go!(move || t.send(2).unwrap());
        assert_eq!(rx.recv(), Ok(2));
        p.join().unwrap();
    });
}

/// Senders `send_timeout` and count their successes; receivers `select!` over every channel
/// with `default(timeout)`, or use `recv_timeout`; some parties are OS threads. Every value a
/// sender reports as sent is received exactly once, and no other.
#[test]
fn select_races_plain_operations_and_timeouts_with_exact_accounting() {
    watchdog(|| {
        const SENDERS: usize = 6;
        let per_sender = 1500 * stress_factor() as u64;
        let (ta, ra) = chan::bounded::<u64>(0);
        let (tb, rb) = chan::bounded::<u64>(3);
        let (tc, rc) = chan::bounded::<u64>(0);
        let txs = [ta, tb, tc];

        let senders: Vec<Party<Vec<u64>>> = (0..SENDERS)
            .map(|s| {
                let txs = txs.clone();
                start(s % 3 == 2, move || {
                    let mut rng = Rng::new(s as u64 + 100);
                    let mut sent = Vec::new();
                    for seq in 0..per_sender {
                        let v = ((s as u64) << 32) | seq;
                        let timeout = Duration::from_micros(rng.below(150));
                        if s % 2 == 0 {
                            // A plain send with a timeout.
                            let tx = &txs[rng.below(3) as usize];
                            if tx.send_timeout(v, timeout).is_ok() {
                                sent.push(v);
                            }
                        } else {
                            // A select over all channels with a timeout.
                            select! {
                                send(txs[0], v) -> r => { r.unwrap(); sent.push(v) }
                                send(txs[1], v) -> r => { r.unwrap(); sent.push(v) }
                                send(txs[2], v) -> r => { r.unwrap(); sent.push(v) }
                                default(timeout) => {}
                            }
                        }
                        if seq % 64 == 0 {
                            thread::yield_now();
                        }
                    }
                    sent
                })
            })
            .collect();
        drop(txs);

        let receivers: Vec<Party<Vec<u64>>> = (0..4)
            .map(|r| {
                let (ra, rb, rc) = (ra.clone(), rb.clone(), rc.clone());
                start(r == 3, move || {
                    let mut rng = Rng::new(r as u64 + 7);
                    let mut got = Vec::new();
                    let mut open = [true; 3];
                    while open.iter().any(|&o| o) {
                        let timeout = Duration::from_micros(rng.below(200));
                        if r == 2 {
                            // Plain receives with a timeout, on each open channel in turn.
                            let k = rng.below(3) as usize;
                            if !open[k] {
                                continue;
                            }
                            match [&ra, &rb, &rc][k].recv_timeout(timeout) {
                                Ok(v) => got.push(v),
                                Err(chan::RecvTimeoutError::Timeout) => {}
                                Err(chan::RecvTimeoutError::Disconnected) => open[k] = false,
                            }
                            continue;
                        }
                        let never = chan::never();
                        select! {
                            recv(if open[0] { &ra } else { &never }) -> m => match m {
                                Ok(v) => got.push(v),
                                Err(_) => open[0] = false,
                            },
                            recv(if open[1] { &rb } else { &never }) -> m => match m {
                                Ok(v) => got.push(v),
                                Err(_) => open[1] = false,
                            },
                            recv(if open[2] { &rc } else { &never }) -> m => match m {
                                Ok(v) => got.push(v),
                                Err(_) => open[2] = false,
                            },
                            default(timeout) => {}
                        }
                    }
                    got
                })
            })
            .collect();
        drop((ra, rb, rc));

        let mut sent: Vec<u64> = senders.into_iter().flat_map(Party::join).collect();
        let mut got: Vec<u64> = receivers.into_iter().flat_map(Party::join).collect();
        assert!(!sent.is_empty());
        sent.sort_unstable();
        got.sort_unstable();
        let mut dup = got.clone();
        dup.dedup();
        assert_eq!(dup.len(), got.len(), "a value was received twice");
        assert_eq!(
            got.len(),
            sent.len(),
            "received {} of {} sent",
            got.len(),
            sent.len()
        );
        assert_eq!(got, sent);
    });
}

/// Selects on both sides of rendezvous and buffered channels, no timeouts: producers select
/// over send arms (or send plainly), consumers select over receive arms (or receive plainly).
#[test]
fn selects_on_both_sides_deliver_every_message_once() {
    watchdog(|| {
        const PRODUCERS: u64 = 4;
        let per = 2000 * stress_factor() as u64;
        let chans: Vec<(Sender<u64>, Receiver<u64>)> = vec![
            chan::bounded(0),
            chan::bounded(0),
            chan::bounded(1),
            chan::unbounded(),
        ];
        let producers: Vec<Party<()>> = (0..PRODUCERS)
            .map(|p| {
                let txs: Vec<Sender<u64>> = chans.iter().map(|(t, _)| t.clone()).collect();
                start(p == 3, move || {
                    for seq in 0..per {
                        let v = p * per + seq;
                        if p == 0 {
                            txs[(seq % 2) as usize].send(v).unwrap();
                            continue;
                        }
                        select! {
                            send(txs[0], v) -> r => r.unwrap(),
                            send(txs[1], v) -> r => r.unwrap(),
                            send(txs[2], v) -> r => r.unwrap(),
                            send(txs[if seq % 5 == 0 { 3 } else { 0 }], v) -> r => r.unwrap(),
                        }
                    }
                })
            })
            .collect();
        let consumers: Vec<Party<Vec<u64>>> = (0..4)
            .map(|c| {
                let rxs: Vec<Receiver<u64>> = chans.iter().map(|(_, r)| r.clone()).collect();
                start(c == 2, move || {
                    let mut got = Vec::new();
                    if c == 0 {
                        // A plain receiver of channel 0 only.
                        got.extend(rxs[0].iter());
                        return got;
                    }
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
                            Ok(v) => got.push(v),
                            Err(_) => open[k] = false,
                        }
                    }
                    got
                })
            })
            .collect();
        drop(chans);
        for p in producers {
            p.join();
        }
        let mut got: Vec<u64> = consumers.into_iter().flat_map(Party::join).collect();
        got.sort_unstable();
        assert_eq!(got, (0..PRODUCERS * per).collect::<Vec<_>>());
    });
}

/// The documented maximum: 32 channel arms (and a `default`).
#[test]
fn thirty_two_arms_and_a_default() {
    watchdog(|| {
        let chans: Vec<(Sender<usize>, Receiver<usize>)> =
            (0..32).map(|_| chan::bounded(1)).collect();
        let rs: Vec<&Receiver<usize>> = chans.iter().map(|(_, r)| r).collect();
        for round in 0..200 {
            let k = (round * 7) % 33;
            if k < 32 {
                chans[k].0.send(round).unwrap();
            }
            let (arm, m) = select! {
                recv(rs[0]) -> m => (0, m),
                recv(rs[1]) -> m => (1, m),
                recv(rs[2]) -> m => (2, m),
                recv(rs[3]) -> m => (3, m),
                recv(rs[4]) -> m => (4, m),
                recv(rs[5]) -> m => (5, m),
                recv(rs[6]) -> m => (6, m),
                recv(rs[7]) -> m => (7, m),
                recv(rs[8]) -> m => (8, m),
                recv(rs[9]) -> m => (9, m),
                recv(rs[10]) -> m => (10, m),
                recv(rs[11]) -> m => (11, m),
                recv(rs[12]) -> m => (12, m),
                recv(rs[13]) -> m => (13, m),
                recv(rs[14]) -> m => (14, m),
                recv(rs[15]) -> m => (15, m),
                recv(rs[16]) -> m => (16, m),
                recv(rs[17]) -> m => (17, m),
                recv(rs[18]) -> m => (18, m),
                recv(rs[19]) -> m => (19, m),
                recv(rs[20]) -> m => (20, m),
                recv(rs[21]) -> m => (21, m),
                recv(rs[22]) -> m => (22, m),
                recv(rs[23]) -> m => (23, m),
                recv(rs[24]) -> m => (24, m),
                recv(rs[25]) -> m => (25, m),
                recv(rs[26]) -> m => (26, m),
                recv(rs[27]) -> m => (27, m),
                recv(rs[28]) -> m => (28, m),
                recv(rs[29]) -> m => (29, m),
                recv(rs[30]) -> m => (30, m),
                recv(rs[31]) -> m => (31, m),
                default => (32, Ok(usize::MAX)),
            };
            assert_eq!(arm, k);
            if k < 32 {
                assert_eq!(m, Ok(round));
            }
        }
    });
}

#[test]
fn dynamic_select_api() {
    watchdog(|| {
        let (tx1, rx1) = chan::unbounded::<i32>();
        let (tx2, rx2) = chan::bounded::<&str>(1);
        let (_tx3, rx3) = chan::bounded::<u8>(0);

        // Indices in order of addition.
        let mut sel = Select::new();
        assert_eq!(sel.recv(&rx1), 0);
        assert_eq!(sel.send(&tx2), 1);
        assert_eq!(sel.recv(&rx3), 2);
        assert_eq!(sel.recv(&rx1), 3);
        // try_select: only the send is ready.
        let oper = sel.try_select().expect("the send is ready");
        assert_eq!(oper.index(), 1);
        assert_eq!(oper.send(&tx2, "a"), Ok(()));
        drop(sel);
        assert_eq!(rx2.try_recv(), Ok("a"));

        // Nothing ready: try_select fails, select_timeout and select_deadline time out.
        let mut sel = Select::new();
        sel.recv(&rx1);
        sel.recv(&rx3);
        assert_eq!(sel.try_select().unwrap_err(), TrySelectError);
        let start = Instant::now();
        assert_eq!(sel.select_timeout(5 * MS).unwrap_err(), SelectTimeoutError);
        assert!(start.elapsed() >= 5 * MS);
        let deadline = Instant::now() + 5 * MS;
        assert_eq!(
            sel.select_deadline(deadline).unwrap_err(),
            SelectTimeoutError
        );
        assert!(Instant::now() >= deadline);
        // A past deadline still completes a ready operation (the try pass comes first).
        tx1.send(4).unwrap();
        let oper = sel.select_deadline(start).expect("ready");
        assert_eq!(oper.index(), 0);
        assert_eq!(oper.recv(&rx1), Ok(4));
        // select_timeout with a partner that comes later.
        let t = tx1.clone();
        let p = go!(move || {
            thread::sleep(MS);
            t.send(5).unwrap();
        });
        let oper = sel.select_timeout(LONG).expect("the partner sends");
        assert_eq!(oper.index(), 0);
        assert_eq!(oper.recv(&rx1), Ok(5));
        p.join().unwrap();
        // A blocking select, the partner on an OS thread.
        let t = tx1.clone();
        let p = std::thread::spawn(move || t.send(6).unwrap());
        let oper = sel.select();
        assert_eq!(oper.recv(&rx1), Ok(6));
        p.join().unwrap();
        drop(sel);

        // An empty Select: never ready.
        let mut empty = Select::new();
        assert!(empty.try_select().is_err());
        assert!(empty.select_timeout(MS).is_err());
        assert!(format!("{empty:?}").contains("Select"));
        let mut def = Select::default();
        assert!(def.try_select().is_err());

        // Disconnected operations complete with their errors.
        let (dtx, drx) = chan::bounded::<String>(0);
        let (dtx2, drx2) = chan::bounded::<String>(0);
        drop(dtx);
        drop(drx2);
        let mut sel = Select::new();
        let i_recv = sel.recv(&drx);
        let i_send = sel.send(&dtx2);
        let oper = sel.select();
        if oper.index() == i_recv {
            assert_eq!(oper.recv(&drx), Err(RecvError));
        } else {
            assert_eq!(oper.index(), i_send);
            assert_eq!(
                oper.send(&dtx2, "kept".to_owned()),
                Err(SendError("kept".to_owned()))
            );
        }

        // Many operations: only the ready one is chosen.
        let many: Vec<(Sender<usize>, Receiver<usize>)> =
            (0..64).map(|_| chan::bounded(1)).collect();
        for k in [0, 17, 63] {
            many[k].0.send(k).unwrap();
            let mut sel = Select::new();
            for (_, rx) in &many {
                sel.recv(rx);
            }
            let oper = sel.select();
            assert_eq!(oper.index(), k);
            assert_eq!(oper.recv(&many[k].1), Ok(k));
        }
        // ... and a late partner on one of 64 rendezvous channels completes a blocked select.
        let many: Vec<(Sender<usize>, Receiver<usize>)> =
            (0..64).map(|_| chan::bounded(0)).collect();
        let t = many[40].0.clone();
        let p = go!(move || t.send(40).unwrap());
        let mut sel = Select::new();
        for (_, rx) in &many {
            sel.recv(rx);
        }
        let oper = sel.select();
        assert_eq!(oper.index(), 40);
        assert_eq!(oper.recv(&many[40].1), Ok(40));
        p.join().unwrap();
    });
}

#[test]
fn selected_operation_with_the_wrong_handle_panics() {
    watchdog(|| {
        let (tx, rx) = chan::unbounded::<i32>();
        let (otx, orx) = chan::unbounded::<i32>();
        let (stx, _srx) = chan::unbounded::<String>();
        let rx_clone = rx.clone();

        let expect_panic = |what: &str, f: &mut dyn FnMut()| {
            let err = panic::catch_unwind(AssertUnwindSafe(f)).expect_err(what);
            let text = panic_text(&*err).unwrap_or_default();
            assert!(
                text.contains("not the"),
                "{what}: unexpected panic {text:?}"
            );
        };

        // recv with another receiver, even a clone of the same channel.
        for wrong in [&orx, &rx_clone] {
            tx.send(1).unwrap();
            let mut sel = Select::new();
            sel.recv(&rx);
            expect_panic("recv with another receiver", &mut || {
                let oper = sel.select();
                let _ = oper.recv(wrong);
            });
        }
        // send with another sender (same and other message type).
        let mut sel = Select::new();
        sel.send(&tx);
        expect_panic("send with another sender", &mut || {
            let oper = sel.select();
            let _ = oper.send(&otx, 2);
        });
        let mut sel = Select::new();
        sel.send(&tx);
        expect_panic("send with a sender of another type", &mut || {
            let oper = sel.select();
            let _ = oper.send(&stx, String::new());
        });
        // The wrong direction.
        let mut sel = Select::new();
        sel.send(&tx);
        expect_panic("recv on a send operation", &mut || {
            let oper = sel.select();
            let _ = oper.recv(&rx);
        });
        tx.send(5).unwrap();
        let mut sel = Select::new();
        sel.recv(&rx);
        expect_panic("send on a receive operation", &mut || {
            let oper = sel.select();
            let _ = oper.send(&tx, 5);
        });
        drop(sel);
        // The channel still works afterwards.
        tx.send(6).unwrap();
        assert_eq!(rx.try_iter().last(), Some(6));
    });
}

#[test]
fn dropping_an_unfinished_selected_operation_panics() {
    watchdog(|| {
        let (tx, rx) = chan::unbounded::<i32>();
        tx.send(1).unwrap();
        let mut sel = Select::new();
        sel.recv(&rx);
        let err = panic::catch_unwind(AssertUnwindSafe(|| {
            let oper = sel.select();
            let _ = oper.index();
            drop(oper);
        }))
        .expect_err("dropping an unfinished SelectedOperation panics");
        let text = panic_text(&*err).unwrap_or_default();
        assert!(
            text.contains("without finishing"),
            "unexpected panic {text:?}"
        );
        drop(sel);

        let mut sel = Select::new();
        sel.send(&tx);
        let err = panic::catch_unwind(AssertUnwindSafe(|| {
            let _ = sel.try_select().unwrap();
        }))
        .expect_err("dropping an unfinished SelectedOperation panics");
        assert!(
            panic_text(&*err)
                .unwrap_or_default()
                .contains("without finishing")
        );
        drop(sel);
        // The receive did happen (1 was taken); the send never got a message.
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    });
}

/// A `Select` may be used again and again: its send is offered every time, with the message
/// given after it is chosen.
#[test]
fn reused_select_offers_its_send_every_time() {
    watchdog(|| {
        let (tx, rx) = chan::bounded::<u32>(0);
        let (rtx, rrx) = chan::unbounded::<u32>();
        let mut sel = Select::new();
        let i_send = sel.send(&tx);
        let i_recv = sel.recv(&rrx);
        for k in 0..3 {
            rtx.send(k).unwrap();
            let oper = sel.select();
            assert_eq!(
                oper.index(),
                i_recv,
                "no receiver on the rendezvous channel"
            );
            assert_eq!(oper.recv(&rrx), Ok(k));
        }
        for round in 0..3 {
            let r = rx.clone();
            let p = go!(move || r.recv().unwrap());
            let oper = sel.select();
            assert_eq!(oper.index(), i_send);
            assert_eq!(oper.send(&tx, 10 + round), Ok(()));
            assert_eq!(p.join().unwrap(), 10 + round);
        }
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    });
}

/// Go's select6 (issue 2075) in spirit, with many waiters: a select that loses on a channel
/// where others wait too must not disturb their order or lose their wake-ups.
#[test]
fn losing_select_among_other_waiters_leaves_the_queue_intact() {
    watchdog(|| {
        for round in 0..300u64 {
            let (t1, r1) = chan::bounded::<u64>(0);
            let (t2, r2) = chan::bounded::<u64>(0);
            let got = Arc::new(Mutex::new(HashMap::new()));
            let ready = Arc::new(AtomicUsize::new(0));
            // Plain receivers waiting on channel 1, before and after the select.
            let mut waiters = Vec::new();
            for w in 0..3u64 {
                let (r, g, rd) = (r1.clone(), got.clone(), ready.clone());
                waiters.push(go!(move || {
                    rd.fetch_add(1, Ordering::SeqCst);
                    let v = r.recv().unwrap();
                    g.lock().unwrap().insert(w, v);
                }));
                if w == 1 {
                    let (r1, r2, ready) = (r1.clone(), r2.clone(), ready.clone());
                    waiters.push(go!(move || {
                        ready.fetch_add(1, Ordering::SeqCst);
                        select! {
                            recv(r1) -> m => { m.unwrap(); panic!("only channel 2 may fire") }
                            recv(r2) -> m => assert_eq!(m, Ok(round)),
                        }
                    }));
                }
            }
            while ready.load(Ordering::SeqCst) < 4 {
                thread::yield_now();
            }
            // The select may not have registered yet, so channel 1 gets values only after it
            // has been served by channel 2.
            t2.send(round).unwrap();
            for v in 0..3 {
                t1.send(100 + v).unwrap();
            }
            for w in waiters {
                w.join().unwrap();
            }
            let got = got.lock().unwrap();
            let mut values: Vec<u64> = got.values().copied().collect();
            values.sort_unstable();
            assert_eq!(values, [100, 101, 102]);
        }
    });
}

/// Timer arms racing channel arms and the select's own timeout: whichever wins, nothing is
/// lost: a value that a sender reports sent is received.
#[test]
fn timers_and_timeouts_racing_partners_lose_nothing() {
    watchdog(|| {
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = chan::bounded::<u64>(0);
        let senders: Vec<Party<u64>> = (0..3)
            .map(|s| {
                let (tx, stop) = (tx.clone(), stop.clone());
                start(s == 2, move || {
                    let mut sum = 0;
                    let mut v = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        v += 1;
                        if tx
                            .send_timeout(v, Duration::from_micros(50 * (s + 1)))
                            .is_ok()
                        {
                            sum += v;
                        }
                    }
                    sum
                })
            })
            .collect();
        drop(tx);
        let mut received = 0u64;
        let mut data_wins = 0;
        let mut timer_wins = 0;
        let mut timeouts = 0;
        let mut rng = Rng::new(99);
        let rounds = 3000 * stress_factor();
        for i in 0..rounds {
            let timer = chan::after(Duration::from_micros(rng.below(100)));
            select! {
                // Err once every sender has stopped (after the stop flag).
                recv(rx) -> m => {
                    received += m.unwrap_or(0);
                    data_wins += 1;
                }
                recv(timer) -> _ => timer_wins += 1,
                default(Duration::from_micros(rng.below(100))) => timeouts += 1,
            }
            if i == rounds * 2 / 3 {
                stop.store(true, Ordering::Relaxed);
            }
        }
        stop.store(true, Ordering::Relaxed);
        // Whatever is still in flight ends with the senders.
        let drain = go!(move || rx.iter().sum::<u64>());
        let sent: u64 = senders.into_iter().map(Party::join).sum();
        received += drain.join().unwrap();
        assert_eq!(received, sent);
        assert_eq!(
            data_wins + timer_wins + timeouts,
            rounds,
            "one arm per select"
        );
    });
}

/// `select` and `ready` on a `Select` without operations panic (as crossbeam's do) instead of
/// hanging; the `try_` forms find nothing.
#[test]
fn select_without_operations_panics_instead_of_hanging() {
    watchdog(|| {
        let (tx, _rx) = chan::unbounded::<u32>();
        let mut sel = Select::new();
        let i = sel.send(&tx);
        sel.remove(i);
        assert!(sel.try_select().is_err());
        assert!(sel.try_ready().is_err());
        for what in ["select", "ready"] {
            let err = panic::catch_unwind(AssertUnwindSafe(|| {
                if what == "select" {
                    let _ = sel.select();
                } else {
                    let _ = sel.ready();
                }
            }))
            .expect_err("an empty select must panic, not hang");
            let text = panic_text(&*err).unwrap_or_default();
            assert!(text.contains("no operations"), "{text}");
        }
    });
}

/// The message of a losing send arm is never made: what it would have moved stays where it is
/// while the chosen arm runs.
#[test]
fn losing_send_messages_are_not_made() {
    watchdog(|| {
        for _ in 0..200 {
            let (ready_tx, ready_rx) = chan::unbounded::<u32>();
            ready_tx.send(7).unwrap();
            let (full_tx, _full_rx) = chan::bounded::<chan::Sender<u32>>(0);
            let (reply_tx, reply_rx) = chan::unbounded::<u32>();
            select! {
                // Never ready: a rendezvous channel with no receiver waiting.
                send(full_tx, reply_tx) -> _ => panic!("no receiver waits"),
                recv(ready_rx) -> v => {
                    assert_eq!(v, Ok(7));
                    // The losing arm's message (`reply_tx`) was not moved: still connected.
                    assert_eq!(reply_rx.try_recv(), Err(TryRecvError::Empty));
                }
            }
        }
    });
}

/// SE5: a select's send arm claims a receiver waiting on a rendezvous channel, then its message
/// expression panics (no message comes). A plain sender that came while the receiver was
/// claimed found no receiver and queued; the receiver, handed back, must meet it (before the
/// fix both waited for ever). The sleeps only make that order likely.
#[test]
fn a_claim_given_back_meets_a_sender_that_queued_meanwhile() {
    watchdog(|| {
        let (tx, rx) = chan::bounded::<u32>(0);
        let receiver = std::thread::spawn(move || rx.recv());
        std::thread::sleep(20 * MS);
        let plain_tx = tx.clone();
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
            select! {
                send(tx, {
                    // The receiver is claimed now; a plain send comes and queues.
                    let plain_tx = plain_tx.clone();
                    std::thread::spawn(move || plain_tx.send(9).unwrap());
                    std::thread::sleep(50 * MS);
                    if std::hint::black_box(true) {
                        panic!("no message after all");
                    }
                    0
                }) -> _ => unreachable!("the message expression panics"),
            }
        }));
        assert!(outcome.is_err(), "the message expression panicked");
        assert_eq!(
            receiver.join().unwrap(),
            Ok(9),
            "the queued sender's value arrives"
        );
    });
}
