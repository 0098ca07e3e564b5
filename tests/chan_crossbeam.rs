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
fn last_receiver_drops_panicking_messages_raising_the_first_once() {
    both(|| {
        for (tx, rx) in [chan::unbounded(), chan::bounded(8)] {
            let drops = Arc::new(AtomicUsize::new(0));
            for i in 0..3 {
                tx.send(Bomb(i, drops.clone())).unwrap();
            }
            let err = panic::catch_unwind(AssertUnwindSafe(move || drop(rx))).unwrap_err();
            assert_eq!(payload_text(err), "bomb 0");
            assert_eq!(drops.load(Ordering::SeqCst), 3, "every message was dropped");
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
