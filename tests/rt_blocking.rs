//! `weft::thread::spawn_blocking`: results and panics through the join handle, the job's own
//! `Thread` (B3), the pool bound (B1), and a worker that keeps running coroutines while a job
//! blocks.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use support::{child_is, child_report, run_child_with_timeout, watchdog};
use weft::go;
use weft::thread;

#[test]
fn results_and_panics_reach_the_join_handle() {
    watchdog(|| {
        // From a plain thread.
        assert_eq!(thread::spawn_blocking(|| 6 * 7).join().unwrap(), 42);
        // From a coroutine, which parks in join.
        let r = go!(|| thread::spawn_blocking(|| "done".to_string())
            .join()
            .unwrap())
        .join()
        .unwrap();
        assert_eq!(r, "done");
        let err = thread::spawn_blocking(|| -> u8 { panic!("job failed") })
            .join()
            .unwrap_err();
        assert_eq!(support::panic_text(&*err).as_deref(), Some("job failed"));
        // The pool thread survived the panic: the next job still runs.
        assert_eq!(thread::spawn_blocking(|| 1).join().unwrap(), 1);
    });
}

#[test]
fn every_job_runs_exactly_once_and_the_pool_stays_bounded() {
    watchdog(|| {
        const JOBS: usize = 600;
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let ran = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..JOBS)
            .map(|i| {
                let (running, most, ran) = (running.clone(), most.clone(), ran.clone());
                thread::spawn_blocking(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(20));
                    running.fetch_sub(1, Ordering::SeqCst);
                    ran.fetch_add(1, Ordering::SeqCst);
                    i
                })
            })
            .collect();
        let sum: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(sum, JOBS * (JOBS - 1) / 2);
        assert_eq!(ran.load(Ordering::SeqCst), JOBS);
        let most = most.load(Ordering::SeqCst);
        assert!(
            (1..=512).contains(&most),
            "at most 512 jobs run at once, saw {most}"
        );
    });
}

#[test]
fn a_job_is_its_own_thread_and_keeps_an_early_unpark() {
    watchdog(|| {
        // The job waits for its own id before parking, so the unpark below comes first. It
        // spins for it: a std channel's blocking `recv` parks the thread itself and would
        // consume the kept token (a hang this test had under load).
        let published = Arc::new(AtomicU64::new(0));
        let seen = published.clone();
        let handle = thread::spawn_blocking(move || {
            let me = thread::current().id();
            let expected = loop {
                match seen.load(Ordering::Acquire) {
                    0 => std::thread::yield_now(),
                    id => break id,
                }
            };
            // B3: the token given before this park is kept: park returns.
            thread::park();
            me.as_u64().get() == expected
        });
        let id = handle.thread().id();
        assert_eq!(handle.thread().name(), None);
        handle.thread().unpark();
        published.store(id.as_u64().get(), Ordering::Release);
        assert!(
            handle.join().unwrap(),
            "current() inside the job is the handle's thread"
        );

        // An unpark while the job is parked wakes it.
        let (tx, rx) = std::sync::mpsc::channel();
        let handle = thread::spawn_blocking(move || {
            tx.send(()).unwrap();
            thread::park();
            7
        });
        rx.recv().unwrap();
        // Unpark until it finishes (the first may land before its park; the token is kept
        // then, so one is enough, but repeating is harmless).
        while !handle.is_finished() {
            handle.thread().unpark();
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(handle.join().unwrap(), 7);
    });
}

#[test]
fn child_one_worker_runs_coroutines_while_a_job_blocks() {
    if !child_is("blocking-one-worker") {
        return;
    }
    // The job blocks its pool thread until a coroutine sends; with one worker, that
    // coroutine can only run if the waiting coroutine parked instead of blocking the worker.
    let (tx, rx) = std::sync::mpsc::channel::<u32>();
    let waiter = go!(
        move || thread::spawn_blocking(move || rx.recv().unwrap() + 1)
            .join()
            .unwrap()
    );
    let sender = go!(move || {
        thread::sleep(Duration::from_millis(20));
        tx.send(41).unwrap();
    });
    sender.join().unwrap();
    child_report("got", waiter.join().unwrap());
}

#[test]
fn with_one_worker_a_blocking_job_does_not_block_the_worker() {
    watchdog(|| {
        let out = run_child_with_timeout(
            "child_one_worker_runs_coroutines_while_a_job_blocks",
            "blocking-one-worker",
            &[("WEFT_WORKERS", "1")],
            20,
        );
        out.assert_success();
        assert_eq!(out.stdout_value("got"), "42");
    });
}
