//! Futures that need tokio, from coroutines (issue 17, item 2; README "Async code from
//! blocking code"): the future runs on a tokio runtime that has threads of its own, and the
//! coroutine waits for its `JoinHandle` with `weft::future::block_on`, parking only itself:
//!
//! ```text
//! let out = weft::future::block_on(handle.spawn(fut)).expect("the task panicked");
//! ```

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use support::{child_is, child_report, run_child, watchdog};
use weft::future::block_on;

/// A tokio runtime on its own threads (one worker), for the tests of this file.
fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

#[test]
fn a_tokio_timer_and_socket_from_coroutines() {
    watchdog(|| {
        let rt = tokio_runtime();
        let handle = rt.handle().clone();
        // tokio's timers: 200 coroutines each wait for a tokio sleep.
        let waiters: Vec<_> = (0..200u64)
            .map(|i| {
                let handle = handle.clone();
                weft::go!(move || {
                    block_on(handle.spawn(async move {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        i
                    }))
                    .expect("no panic")
                })
            })
            .collect();
        let sum: u64 = waiters.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(sum, 199 * 200 / 2);
        // tokio's sockets: an echo over tokio's TcpStream, driven from a coroutine.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            use std::io::{Read, Write};
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 5];
            s.read_exact(&mut buf).unwrap();
            s.write_all(&buf).unwrap();
        });
        let h = handle.clone();
        let echoed = weft::go!(move || {
            block_on(h.spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
                s.write_all(b"hello").await.unwrap();
                let mut buf = [0u8; 5];
                s.read_exact(&mut buf).await.unwrap();
                buf
            }))
            .unwrap()
        })
        .join()
        .unwrap();
        assert_eq!(&echoed, b"hello");
        drop(rt);
    });
}

#[test]
fn a_panic_in_the_tokio_task_reaches_the_coroutine() {
    watchdog(|| {
        let rt = tokio_runtime();
        let handle = rt.handle().clone();
        let err = weft::go!(move || {
            block_on(handle.spawn(async { panic!("inside tokio") })).expect_err("the task panicked")
        })
        .join()
        .unwrap();
        assert!(err.is_panic());
        let payload = err.into_panic();
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"inside tokio"));
    });
}

/// One weft worker: while a coroutine waits for a tokio timer, another coroutine runs to its
/// end (the timer is long enough that the second one finishes first only if the worker is
/// free; the test checks the order through flags, not times).
#[test]
fn child_one_worker() {
    if !child_is("one-worker") {
        return;
    }
    let rt = tokio_runtime();
    let handle = rt.handle().clone();
    let other_done = Arc::new(AtomicBool::new(false));
    let seen = other_done.clone();
    let waiter = weft::go!(move || {
        block_on(handle.spawn(async move {
            // Waits (on tokio's side) until the other coroutine is done.
            while !seen.load(Ordering::Acquire) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            "after"
        }))
        .unwrap()
    });
    let other = weft::go!(move || {
        let mut n = 0u64;
        for i in 0..1000 {
            n += i;
            weft::thread::yield_now();
        }
        other_done.store(true, Ordering::Release);
        n
    });
    assert_eq!(other.join().unwrap(), 499_500);
    assert_eq!(waiter.join().unwrap(), "after");
    child_report("ok", "yes");
}

#[test]
fn on_one_worker_a_coroutine_runs_while_another_waits_for_tokio() {
    let out = run_child("child_one_worker", "one-worker", &[("WEFT_WORKERS", "1")]);
    out.assert_success();
    assert!(out.stdout.contains("[ok=yes]"), "{}", out.dump());
}
