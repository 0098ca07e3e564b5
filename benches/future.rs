//! `weft::future::block_on` next to `futures::executor::block_on` and `pollster::block_on`,
//! each measured on a plain OS thread and inside a weft coroutine, in one process.
//!
//! - `block_on_ready`: one call on a future that is ready at its first poll (the cost of the
//!   call itself: the waker, the context, one poll).
//! - `block_on_round_trip`: one call on a future that is pending once and wakes itself from
//!   inside that poll (one wake, which needs no unpark since the caller is polling, and one
//!   more poll).
//!
//! One criterion iteration is one `block_on` call.
//!
//! ```text
//! cargo bench --bench future
//! cargo bench --bench future -- --test     # run each bench once, no timing
//! ```

mod support;

use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use criterion::Criterion;
use support::{print_load, start_criterion};

/// Pending once (waking itself), then ready.
struct OnceMore(bool);

impl Future for OnceMore {
    type Output = u32;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
        if self.0 {
            return Poll::Ready(7);
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// The executors compared, as plain functions over one future type each.
type Runner<F> = fn(F) -> <F as Future>::Output;

fn executors<F: Future>() -> [(&'static str, Runner<F>); 3] {
    [
        ("weft", weft::future::block_on::<F>),
        ("futures_executor", futures_executor::block_on::<F>),
        ("pollster", pollster::block_on::<F>),
    ]
}

/// `iters` calls of `run` on `make()`'s futures, on this thread (a yield every 4096 calls,
/// so that a coroutine running this does not hold its worker for the whole sample).
fn on_thread<F: Future>(iters: u64, run: Runner<F>, make: fn() -> F) -> Duration {
    let start = Instant::now();
    for i in 0..iters {
        black_box(run(make()));
        if i % 4096 == 4095 {
            weft::thread::yield_now();
        }
    }
    start.elapsed()
}

/// The same inside a coroutine.
fn in_coroutine<F: Future + 'static>(iters: u64, run: Runner<F>, make: fn() -> F) -> Duration
where
    F::Output: 'static,
{
    weft::go!(move || on_thread(iters, run, make))
        .join()
        .expect("no panic")
}

fn group<F: Future + 'static>(c: &mut Criterion, name: &str, make: fn() -> F)
where
    F::Output: 'static,
{
    let mut group = c.benchmark_group(name);
    for (exec, run) in executors::<F>() {
        group.bench_function(format!("{exec}_thread"), |b| {
            b.iter_custom(|iters| on_thread(iters, run, make))
        });
        group.bench_function(format!("{exec}_in_coroutine"), |b| {
            b.iter_custom(|iters| in_coroutine(iters, run, make))
        });
    }
    group.finish();
}

fn main() {
    let mut c = start_criterion(20, Duration::from_secs(2));
    group(&mut c, "block_on_ready", || std::future::ready(7u32));
    group(&mut c, "block_on_round_trip", || OnceMore(false));
    c.final_summary();
    print_load("end");
}
