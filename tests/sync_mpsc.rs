//! `weft::sync::mpsc`: std's channel API over weft's channels. Every test counts or compares
//! the messages themselves; waits are bounded only so that a hang fails (support's watchdog).
//!
//! Covered: many coroutine and thread producers with exact accounting, the rendezvous of
//! `sync_channel(0)`, a full `sync_channel`, disconnection from either side (buffered messages
//! still delivered, the message given back), timeouts, the three iterators, std's own error
//! types, and hundreds of receivers blocked at once on two workers (they park, the workers go
//! on).

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use support::watchdog;
use weft::go;
use weft::sync::mpsc::{self, RecvError, RecvTimeoutError, TryRecvError, TrySendError};

#[test]
fn producers_in_coroutines_and_threads_every_message_once() {
    watchdog(|| {
        const PER: u64 = 10_000;
        let (tx, rx) = mpsc::channel::<u64>();
        let mut coroutines = Vec::new();
        let mut threads = Vec::new();
        for p in 0..8u64 {
            let tx = tx.clone();
            let send_all = move || {
                for i in 0..PER {
                    tx.send(p * PER + i).unwrap();
                }
            };
            if p % 2 == 0 {
                coroutines.push(go!(send_all));
            } else {
                threads.push(std::thread::spawn(send_all));
            }
        }
        drop(tx);
        // The consumer is a coroutine too; it ends when every sender is gone.
        let seen = go!(move || {
            let mut seen = HashSet::new();
            let mut last = [None::<u64>; 8];
            for v in rx {
                assert!(seen.insert(v), "{v} delivered twice");
                // Per-sender FIFO.
                let p = (v / PER) as usize;
                assert!(last[p].is_none_or(|l| l < v), "producer {p} out of order");
                last[p] = Some(v);
            }
            seen.len()
        });
        for h in coroutines {
            h.join().unwrap();
        }
        for h in threads {
            h.join().unwrap();
        }
        assert_eq!(seen.join().unwrap(), 8 * PER as usize);
    });
}

#[test]
fn sync_channel_zero_is_a_rendezvous() {
    watchdog(|| {
        let (tx, rx) = mpsc::sync_channel::<u32>(0);
        // Nobody receiving: no room.
        assert_eq!(tx.try_send(1), Err(TrySendError::Full(1)));
        let sent = Arc::new(AtomicBool::new(false));
        let s = sent.clone();
        let sender = go!(move || {
            tx.send(7).unwrap();
            s.store(true, Ordering::SeqCst);
            tx
        });
        // The send cannot complete before this receive takes the value.
        std::thread::sleep(Duration::from_millis(20));
        assert!(
            !sent.load(Ordering::SeqCst),
            "a rendezvous send finished alone"
        );
        assert_eq!(rx.recv(), Ok(7));
        let tx = sender.join().unwrap();
        assert!(sent.load(Ordering::SeqCst));
        // A receiver waiting in a coroutine makes room for a try_send.
        let receiver = go!(move || rx.recv());
        let mut v = 100;
        loop {
            match tx.try_send(v) {
                Ok(()) => break,
                Err(TrySendError::Full(back)) => {
                    v = back;
                    std::thread::yield_now();
                }
                Err(e) => panic!("{e:?}"),
            }
        }
        assert_eq!(receiver.join().unwrap(), Ok(100));
    });
}

#[test]
fn bounded_channels_fill_and_disconnect_like_std() {
    watchdog(|| {
        let (tx, rx) = mpsc::sync_channel::<String>(2);
        tx.try_send("a".into()).unwrap();
        tx.send("b".into()).unwrap();
        assert_eq!(tx.try_send("c".into()), Err(TrySendError::Full("c".into())));
        assert_eq!(rx.try_iter().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        assert_eq!(
            rx.recv_timeout(Duration::from_millis(10)),
            Err(RecvTimeoutError::Timeout)
        );
        // Buffered messages outlive the senders, then the channel reports disconnection.
        tx.send("d".into()).unwrap();
        let tx2 = tx.clone();
        drop(tx);
        drop(tx2);
        assert_eq!(rx.recv().as_deref(), Ok("d"));
        assert_eq!(rx.recv(), Err(RecvError));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
        assert_eq!(
            rx.recv_timeout(Duration::from_millis(10)),
            Err(RecvTimeoutError::Disconnected)
        );

        // The receiver gone: the message comes back.
        let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(1);
        drop(rx);
        assert_eq!(tx.send(vec![1, 2]).unwrap_err().0, vec![1, 2]);
        assert_eq!(
            tx.try_send(vec![3]),
            Err(TrySendError::Disconnected(vec![3]))
        );
        let (tx, rx) = mpsc::channel::<u8>();
        drop(rx);
        assert_eq!(tx.send(5).unwrap_err().0, 5);
    });
}

#[test]
fn a_sender_blocked_on_a_full_channel_is_released_by_the_receiver_leaving() {
    watchdog(|| {
        let (tx, rx) = mpsc::sync_channel::<u32>(1);
        tx.send(1).unwrap();
        let blocked = go!(move || tx.send(2));
        std::thread::sleep(Duration::from_millis(20));
        drop(rx);
        assert_eq!(blocked.join().unwrap().unwrap_err().0, 2);
    });
}

#[test]
fn errors_are_std_types() {
    // The re-exports are std's types, so code naming std's errors keeps compiling.
    let (tx, rx) = mpsc::channel::<u8>();
    let e: std::sync::mpsc::TryRecvError = rx.try_recv().unwrap_err();
    assert_eq!(e, std::sync::mpsc::TryRecvError::Empty);
    drop(rx);
    let e: std::sync::mpsc::SendError<u8> = tx.send(1).unwrap_err();
    assert_eq!(e.to_string(), "sending on a closed channel");
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<mpsc::Sender<u8>>();
    send_sync::<mpsc::SyncSender<u8>>();
    send::<mpsc::Receiver<u8>>();
}

#[test]
fn hundreds_of_blocked_receivers_park_instead_of_holding_workers() {
    watchdog(|| {
        // Far more coroutines waiting in `recv` than there are workers; if a wait held its
        // worker, the senders (coroutines too) could not run and the test would hang.
        let (results, all) = mpsc::channel::<u32>();
        let mut senders = Vec::new();
        for _ in 0..500u32 {
            let (tx, rx) = mpsc::sync_channel::<u32>(0);
            let results = results.clone();
            go!(move || results.send(rx.recv().unwrap() * 2).unwrap());
            senders.push(tx);
        }
        drop(results);
        let feeders: Vec<_> = senders
            .into_iter()
            .enumerate()
            .map(|(i, tx)| go!(move || tx.send(i as u32).unwrap()))
            .collect();
        for f in feeders {
            f.join().unwrap();
        }
        let mut got: Vec<u32> = all.iter().collect();
        got.sort_unstable();
        assert_eq!(got, (0..500u32).map(|i| i * 2).collect::<Vec<_>>());
    });
}
