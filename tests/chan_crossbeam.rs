//! crossbeam-channel drop-in completeness (issue 19): behaviours of crossbeam-channel 0.5's API
//! that `weft::chan` must share, written here (not copied from crossbeam's suite). Each test
//! runs the same body on an OS thread and inside a coroutine where that matters.

mod support;

use std::any::Any;
use std::iter::FusedIterator;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use support::{panic_text, watchdog};
use weft::chan::{self, Receiver, select};
use weft::go;

/// Runs `f` on this OS thread, then inside a coroutine.
fn both<F: Fn() + Send + Sync + 'static>(f: F) {
    watchdog(move || {
        let f = Arc::new(f);
        f();
        let g = f.clone();
        go!(move || g()).join().unwrap();
    });
}

/// A message whose `Drop` counts itself and then panics with its id.
struct Bomb(usize, Arc<AtomicUsize>);

impl Drop for Bomb {
    fn drop(&mut self) {
        self.1.fetch_add(1, Ordering::SeqCst);
        panic!("bomb {}", self.0);
    }
}

fn payload_text(p: Box<dyn Any + Send>) -> String {
    panic_text(&*p).unwrap_or_default()
}

#[test]
fn last_receiver_drop_raises_the_first_message_panic_and_leaks_the_rest() {
    both(|| {
        for (tx, rx) in [chan::unbounded(), chan::bounded(8)] {
            let drops = Arc::new(AtomicUsize::new(0));
            for i in 0..3 {
                tx.send(Bomb(i, drops.clone())).unwrap();
            }
            let err = panic::catch_unwind(AssertUnwindSafe(move || drop(rx))).unwrap_err();
            assert_eq!(payload_text(err), "bomb 0");
            assert_eq!(
                drops.load(Ordering::SeqCst),
                1,
                "the rest are leaked, as in crossbeam"
            );
            // The channel is disconnected for the sender, which gets its message back.
            let back = tx.send(Bomb(9, drops.clone())).unwrap_err().into_inner();
            std::mem::forget(back);
        }
    });
}

#[test]
fn blocking_iterators_are_fused() {
    fn fused<I: FusedIterator>(_: &I) {}
    both(|| {
        let (tx, rx) = chan::unbounded();
        tx.send(1).unwrap();
        drop(tx);
        let mut it = rx.iter();
        fused(&it);
        assert_eq!(it.next(), Some(1));
        assert_eq!(it.next(), None);
        assert_eq!(it.next(), None);
        let mut owned = rx.into_iter();
        fused(&owned);
        assert_eq!(owned.next(), None);
        assert_eq!(owned.next(), None);
    });
}

#[test]
fn select_macro_is_importable_from_chan_and_takes_trailing_commas() {
    both(|| {
        let (tx, rx) = chan::bounded(1);
        select! {
            send(tx, 5,) -> res => assert_eq!(res, Ok(())),
            recv(chan::never::<i32>(),) -> _ => unreachable!(),
        }
        select! {
            recv(rx,) -> msg => assert_eq!(msg, Ok(5)),
        }
    });
}

#[test]
fn select_default_with_empty_parentheses_runs_when_nothing_is_ready() {
    both(|| {
        let (_tx, rx) = chan::unbounded::<i32>();
        let mut ran = 0;
        select! {
            recv(rx) -> _ => unreachable!(),
            default() => ran += 1,
        }
        select! {
            recv(rx) -> _ => unreachable!(),
            default(Duration::from_millis(1),) => { ran += 1 }
        }
        assert_eq!(ran, 2);
    });
}

#[test]
fn select_keeps_temporaries_of_channel_expressions_alive() {
    both(|| {
        let (tx, rx) = chan::unbounded();
        tx.send(3).unwrap();
        let some: Option<&Receiver<i32>> = std::hint::black_box(Some(&rx));
        let none: Option<&Receiver<i32>> = std::hint::black_box(None);
        select! {
            recv(some.unwrap_or(&chan::never())) -> msg => assert_eq!(msg, Ok(3)),
        }
        let mut fired = 0;
        select! {
            recv(none.unwrap_or(&chan::never())) -> _ => unreachable!(),
            default => fired += 1,
        }
        assert_eq!(fired, 1);
    });
}

// ---------------------------------------------------------------------------------------------
// `Select`: ready, remove, biased, Clone/Send/Sync, crossbeam's send shape
// ---------------------------------------------------------------------------------------------

use std::time::Instant;

use weft::chan::{ReadyTimeoutError, Select, SendError, TryReadyError, TryRecvError};
use weft::thread;

#[test]
fn try_ready_reports_without_consuming() {
    both(|| {
        let (tx, rx) = chan::unbounded::<i32>();
        let (_tx2, rx2) = chan::unbounded::<i32>();
        let mut sel = Select::new();
        let _i2 = sel.recv(&rx2);
        let i = sel.recv(&rx);
        assert_eq!(sel.try_ready(), Err(TryReadyError));
        tx.send(1).unwrap();
        for _ in 0..10 {
            assert_eq!(sel.try_ready(), Ok(i));
        }
        assert_eq!(rx.try_recv(), Ok(1), "ready did not take the message");
        // A disconnected channel is ready.
        drop(tx);
        assert_eq!(sel.try_ready(), Ok(i));
    });
}

#[test]
fn ready_blocks_until_a_partner_makes_an_operation_possible() {
    both(|| {
        // Receive side: a late sender.
        let (tx, rx) = chan::bounded::<i32>(0);
        let mut sel = Select::new();
        let i = sel.recv(&rx);
        let sender = go!(move || tx.send(9).unwrap());
        assert_eq!(sel.ready(), i);
        assert_eq!(rx.recv(), Ok(9));
        sender.join().unwrap();
        // Send side: a full buffer, a late receiver.
        let (tx, rx) = chan::bounded::<i32>(1);
        tx.send(1).unwrap();
        let mut sel = Select::new();
        let i = sel.send(&tx);
        assert_eq!(sel.try_ready(), Err(TryReadyError));
        let receiver = go!(move || (rx.recv().unwrap(), rx));
        assert_eq!(sel.ready(), i);
        assert_eq!(tx.try_send(2), Ok(()));
        let (first, rx) = receiver.join().unwrap();
        assert_eq!(first, 1);
        assert_eq!(rx.recv(), Ok(2));
    });
}

#[test]
fn ready_timeout_and_deadline_give_up() {
    both(|| {
        let (_tx, rx) = chan::unbounded::<i32>();
        let mut sel = Select::new();
        sel.recv(&rx);
        assert_eq!(
            sel.ready_timeout(Duration::from_millis(2)),
            Err(ReadyTimeoutError)
        );
        let deadline = Instant::now() + Duration::from_millis(2);
        assert_eq!(sel.ready_deadline(deadline), Err(ReadyTimeoutError));
        assert!(Instant::now() >= deadline);
        let timer = chan::after(Duration::from_millis(1));
        let i = sel.recv(&timer);
        assert_eq!(sel.ready_timeout(Duration::from_secs(30)), Ok(i));
        assert!(timer.try_recv().is_ok(), "the tick is still there");
    });
}

#[test]
fn ready_error_types_display_and_are_errors() {
    fn error<E: std::error::Error + Send + Sync + 'static>(e: E) -> String {
        e.to_string()
    }
    assert!(!error(TryReadyError).is_empty());
    assert!(!error(ReadyTimeoutError).is_empty());
    assert_ne!(TryReadyError.to_string(), ReadyTimeoutError.to_string());
}

#[test]
fn remove_keeps_the_other_indices_and_never_chooses_the_removed() {
    both(|| {
        let (tx0, rx0) = chan::unbounded::<i32>();
        let (tx1, rx1) = chan::unbounded::<i32>();
        let mut sel = Select::new();
        let i0 = sel.recv(&rx0);
        let i1 = sel.recv(&rx1);
        tx0.send(0).unwrap();
        tx1.send(1).unwrap();
        sel.remove(i0);
        for _ in 0..20 {
            assert_eq!(sel.try_ready(), Ok(i1));
        }
        let oper = sel.select();
        assert_eq!(oper.index(), i1);
        assert_eq!(oper.recv(&rx1), Ok(1));
        let i2 = sel.recv(&rx0);
        assert_eq!(i2, 2, "indices are never reused");
        let oper = sel.select();
        assert_eq!(oper.index(), i2);
        assert_eq!(oper.recv(&rx0), Ok(0));
        let err = panic::catch_unwind(AssertUnwindSafe(|| sel.remove(i0))).unwrap_err();
        assert!(payload_text(err).contains("no operation"));
    });
}

#[test]
fn biased_select_prefers_the_first_ready_operation() {
    both(|| {
        let (tx0, rx0) = chan::unbounded::<i32>();
        let (tx1, rx1) = chan::unbounded::<i32>();
        for i in 0..50 {
            tx0.send(i).unwrap();
            tx1.send(i).unwrap();
        }
        let mut sel = Select::new_biased();
        let i0 = sel.recv(&rx0);
        sel.recv(&rx1);
        for i in 0..50 {
            assert_eq!(sel.try_ready(), Ok(i0));
            let oper = sel.select();
            assert_eq!(oper.index(), i0);
            assert_eq!(oper.recv(&rx0), Ok(i));
        }
        assert_eq!(rx1.len(), 50);
        // The macro form.
        for i in 0..50 {
            tx0.send(i).unwrap();
            weft::select_biased! {
                recv(rx0) -> m => assert_eq!(m, Ok(i)),
                recv(rx1) -> _ => panic!("the first ready arm wins"),
            }
        }
    });
}

#[test]
fn select_is_clone_send_and_sync() {
    fn send_sync<T: Send + Sync + Clone>(_: &T) {}
    both(|| {
        let (tx, rx) = chan::unbounded::<i32>();
        let mut sel = Select::new();
        let i = sel.recv(&rx);
        send_sync(&sel);
        let mut copy = sel.clone();
        tx.send(4).unwrap();
        let oper = copy.select();
        assert_eq!(oper.index(), i);
        assert_eq!(oper.recv(&rx), Ok(4));
        // Moved to another OS thread and used there.
        tx.send(5).unwrap();
        let rx = &rx;
        let got = std::thread::scope(|s| {
            s.spawn(move || {
                let oper = sel.select();
                oper.recv(rx)
            })
            .join()
            .unwrap()
        });
        assert_eq!(got, Ok(5));
    });
}

#[test]
fn selected_send_takes_its_message_afterwards() {
    both(|| {
        // Buffered: the chosen send holds its slot until the message comes.
        let (tx, rx) = chan::bounded::<i32>(1);
        let mut sel = Select::new();
        let i = sel.send(&tx);
        let oper = sel.select();
        assert_eq!(oper.index(), i);
        assert!(
            matches!(tx.try_send(7), Err(chan::TrySendError::Full(7))),
            "the slot is promised"
        );
        assert_eq!(oper.send(&tx, 1), Ok(()));
        assert_eq!(rx.recv(), Ok(1));
        // Rendezvous: the chosen send found a waiting receiver, which gets the message.
        let (tx, rx) = chan::bounded::<String>(0);
        let receiver = go!(move || rx.recv());
        let mut sel = Select::new();
        sel.send(&tx);
        let oper = sel.select();
        assert_eq!(oper.send(&tx, "late".to_owned()), Ok(()));
        assert_eq!(receiver.join().unwrap().as_deref(), Ok("late"));
        // Disconnected: the message comes back.
        let (tx, rx) = chan::bounded::<String>(0);
        drop(rx);
        let mut sel = Select::new();
        sel.send(&tx);
        let oper = sel.select();
        assert_eq!(
            oper.send(&tx, "back".to_owned()),
            Err(SendError("back".to_owned()))
        );
    });
}

#[test]
fn an_unfinished_selected_send_gives_its_promise_back() {
    both(|| {
        // Buffered: the slot is free again.
        let (tx, rx) = chan::bounded::<i32>(1);
        let mut sel = Select::new();
        sel.send(&tx);
        let err = panic::catch_unwind(AssertUnwindSafe(|| drop(sel.select()))).unwrap_err();
        assert!(payload_text(err).contains("without finishing"));
        assert_eq!(tx.try_send(3), Ok(()));
        assert_eq!(rx.try_recv(), Ok(3));
        // Rendezvous: the receiver it found waits again and gets a later message.
        let (tx, rx) = chan::bounded::<i32>(0);
        let receiver = go!(move || rx.recv());
        let mut sel = Select::new();
        sel.send(&tx);
        let err = panic::catch_unwind(AssertUnwindSafe(|| drop(sel.select()))).unwrap_err();
        assert!(payload_text(err).contains("without finishing"));
        tx.send(4).unwrap();
        assert_eq!(receiver.join().unwrap(), Ok(4));
    });
}

fn no_message() -> i32 {
    panic!("no message")
}

#[test]
fn a_panicking_message_expression_gives_the_promise_back() {
    both(|| {
        let (tx, rx) = chan::bounded::<i32>(0);
        let receiver = go!(move || rx.recv());
        let err = panic::catch_unwind(AssertUnwindSafe(|| {
            select! {
                send(tx, no_message()) -> _ => {}
            }
        }))
        .unwrap_err();
        assert_eq!(payload_text(err), "no message");
        tx.send(8).unwrap();
        assert_eq!(receiver.join().unwrap(), Ok(8));
    });
}

// ---------------------------------------------------------------------------------------------
// `select!`: lazy messages; a non-blocking receive meets a waiting select send
// ---------------------------------------------------------------------------------------------

#[test]
fn select_makes_only_the_chosen_send_message() {
    both(|| {
        let made = AtomicUsize::new(0);
        let make = |v: i32| {
            made.fetch_add(1, Ordering::SeqCst);
            v
        };
        let (tx, _rx) = chan::bounded::<i32>(0);
        let (utx, urx) = chan::unbounded::<i32>();
        utx.send(1).unwrap();
        select! {
            send(tx, make(1)) -> _ => panic!("no receiver"),
            recv(urx) -> m => assert_eq!(m, Ok(1)),
        }
        select! {
            send(tx, make(2)) -> _ => panic!("no receiver"),
            default => {}
        }
        assert_eq!(made.load(Ordering::SeqCst), 0);
        select! {
            send(tx, make(3)) -> _ => panic!("no receiver"),
            send(utx, make(4)) -> r => r.unwrap(),
        }
        assert_eq!(made.load(Ordering::SeqCst), 1);
        assert_eq!(urx.try_recv(), Ok(4));
    });
}

#[test]
fn try_recv_takes_from_a_select_waiting_to_send() {
    both(|| {
        for round in 0..100 {
            let (tx, rx) = chan::bounded::<i32>(0);
            let (_keep, quiet) = chan::bounded::<i32>(0);
            let sender = go!(move || {
                select! {
                    send(tx, round) -> r => { r.unwrap(); true }
                    recv(quiet) -> _ => false,
                }
            });
            let got = loop {
                match rx.try_recv() {
                    Ok(v) => break v,
                    Err(TryRecvError::Empty) => thread::yield_now(),
                    Err(TryRecvError::Disconnected) => panic!("the sender is there"),
                }
            };
            assert_eq!(got, round);
            assert!(sender.join().unwrap());
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Fairness between operations on one channel (no timing: counts)
// ---------------------------------------------------------------------------------------------

#[test]
fn two_receive_arms_on_one_channel_share_the_messages() {
    both(|| {
        const N: usize = 200;
        let (tx, rx) = chan::bounded::<usize>(0);
        // `try_send` on a rendezvous channel succeeds only once the select waits (queued its
        // entries), so every message goes through the queueing order.
        let sender = std::thread::spawn(move || {
            let mut i = 0;
            while i < N {
                match tx.try_send(i) {
                    Ok(()) => i += 1,
                    Err(chan::TrySendError::Full(_)) => std::thread::yield_now(),
                    Err(chan::TrySendError::Disconnected(_)) => panic!("the receiver is there"),
                }
            }
        });
        let mut arms = [0usize; 2];
        for _ in 0..N {
            select! {
                recv(rx) -> m => { m.unwrap(); arms[0] += 1 }
                recv(rx) -> m => { m.unwrap(); arms[1] += 1 }
            }
        }
        sender.join().unwrap();
        // Binomial(200, 1/2): below 40 has probability < 1e-17.
        assert!(arms.iter().all(|&a| a >= 40), "{arms:?}");
    });
}

#[test]
fn two_send_arms_on_one_channel_share_the_messages() {
    // Go's TestPseudoRandomSend, in spirit.
    both(|| {
        const N: usize = 200;
        let (tx, rx) = chan::bounded::<usize>(0);
        let receiver = std::thread::spawn(move || rx.iter().take(N).collect::<Vec<_>>());
        for _ in 0..N {
            select! {
                send(tx, 0) -> r => r.unwrap(),
                send(tx, 1) -> r => r.unwrap(),
            }
        }
        let got = receiver.join().unwrap();
        let ones = got.iter().filter(|&&v| v == 1).count();
        assert!((40..=N - 40).contains(&ones), "{ones} ones of {N}");
    });
}
