//! Benchmarks of `weft::chan`, each measured next to its peers in the same run.
//!
//! What this guards — the cost of weft's channels against targets set from Go 1.19 on the
//! 2-core reference machine (2 workers there too):
//!
//! - `pingpong`: one round trip (a send and a reply) over two rendezvous channels
//!   (`bounded(0)`, Go's `make(chan T)`). weft: two coroutines on the same worker
//!   (`weft_same_worker`), on different workers (`weft_cross_worker`), and a coroutine with the
//!   main OS thread (`weft_coroutine_thread`). Peers: crossbeam-channel `bounded(0)` between two
//!   OS threads, tokio mpsc `channel(1)` between two tasks on a 2-worker multi-thread runtime
//!   and on a current-thread runtime (tokio has no rendezvous channel; capacity 1 is the
//!   closest, so a tokio send completes as soon as the message is buffered), and std
//!   `mpsc::sync_channel(0)` between two OS threads. Go: 196 ns per round trip; target for
//!   weft ≤ 150 ns.
//! - `mpmc_4p4c`: 4 producers and 4 consumers on one channel of capacity 1024, moving a batch of
//!   1,000,000 `u64`s per iteration; the consumers count and sum what they get and the bench
//!   checks both, so a lost or duplicated message fails the run. weft: 8 coroutines on the 2
//!   workers, in three placements (`Layout`) plus the scheduler's own: `weft_spread` (2
//!   producers and 2 consumers on each worker, the analogue of 8 threads on 2 cores),
//!   `weft_one_worker` (all 8 on one worker: no lock contention), `weft_split` (producers on
//!   one worker, consumers on the other), `weft_unplaced` (spawned from the main thread,
//!   wherever the scheduler starts them: all on one worker or spread unevenly, differently from
//!   batch to batch, so this one varies most). Peer:
//!   crossbeam-channel `bounded(1024)` on 8 OS threads. tokio mpsc and std `sync_channel` are
//!   single-consumer, so their benches (`/4p1c`) have 4 producers and 1 consumer; weft
//!   (spread) and crossbeam are run in that shape too, to compare like with like. Go: 28.6 M
//!   msg/s (4p4c); crossbeam on threads measured 17.1 M msg/s here; target for weft ≥ 28 M
//!   msg/s.
//! - `select`: one select that receives from one of 2 (`/2`) or 8 (`/8`) channels of capacity 64
//!   each, while one producer keeps them fed: it sends message `i` to channel `i % N`, blocking
//!   when that channel is full. weft's `select!` in a coroutine with the producer on the same
//!   worker or on the other one; peers: crossbeam-channel's `select!` with the producer on
//!   another OS thread, and `tokio::select!` over tokio mpsc channels, both tasks on a
//!   current-thread runtime. The selector checks the sum of what it got. How to read it: with
//!   the producer on the selector's worker (and on tokio's single thread) the two take turns,
//!   so the producer fills every channel while the selector is parked and the selector then
//!   drains them: that measures mostly the path where a channel is ready at once. With the
//!   producer on another worker or OS thread both run at the same time and contend for the
//!   channels' locks, and the selector sometimes parks.
//!
//! Reading the numbers: in `pingpong` and `select` one criterion iteration *is* one round trip
//! or one select (`iter_custom`), so the reported time is per operation. In `mpmc_4p4c` one
//! iteration is a whole batch and the group sets `Throughput::Elements(1_000_000)`: criterion's
//! `thrpt` is messages per second (Melem/s = M msg/s), and the time per message is the batch
//! time divided by 1,000,000.
//!
//! Setup stays out of the timed region: the weft runtime is started (2 workers, like the tokio
//! multi-thread peers) before any group; tokio runtimes are built outside the timed closures;
//! partner coroutines are placed on the same or the other worker and checked before the clock
//! starts (`spawn_placed`); in `pingpong` one untimed round trip makes sure the partner (thread,
//! coroutine or task) is up before timing; in `mpmc_4p4c` every producer and consumer (thread,
//! coroutine or task) is started (and placed) and waits at a gate, and the clock starts when the
//! gate opens and stops when the last of them is joined; channels are made before the clock
//! starts.
//!
//! ```text
//! cargo bench --bench chan                        # everything, about 2 minutes
//! cargo bench --bench chan -- pingpong            # one group (criterion filter)
//! cargo bench --bench chan -- --test              # run each bench once, no timing
//! ```
//!
//! The machine is small (2 cores, and 8 OS threads in the crossbeam `mpmc_4p4c` bench): run it
//! on a quiet machine (`uptime`), or twice and compare. The load average is printed to stderr
//! at start and at the end for that reason (the figure at the end includes this bench's own
//! threads, up to 9 of them runnable in `mpmc_4p4c`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use weft::chan;

mod support;

use support::{
    Placement, print_load, spawn_placed, start_criterion, tokio_current_thread, tokio_multi_thread,
};

/// Messages moved per `mpmc_4p4c` iteration.
const MPMC_BATCH: u64 = 1_000_000;
/// Capacity of the `mpmc_4p4c` channel.
const MPMC_CAP: usize = 1024;
/// Capacity of each `select` channel.
const SELECT_CAP: usize = 64;

fn main() {
    let mut c = start_criterion(20, Duration::from_secs(2));
    pingpong(&mut c);
    mpmc(&mut c);
    select(&mut c);
    c.final_summary();
    print_load("end");
}

// ---------------------------------------------------------------------------------------------
// pingpong
// ---------------------------------------------------------------------------------------------

fn pingpong(c: &mut Criterion) {
    let mut group = c.benchmark_group("pingpong");

    // Both coroutines on one worker: every hand-off switches coroutine on that worker.
    group.bench_function("weft_same_worker", |b| {
        b.iter_custom(|iters| {
            weft::go!(move || weft_pingpong(iters, Placement::SameWorker))
                .join()
                .expect("no panic")
        })
    });
    // Across workers: every hand-off wakes a coroutine of the other worker (its inbox).
    group.bench_function("weft_cross_worker", |b| {
        b.iter_custom(|iters| {
            weft::go!(move || weft_pingpong(iters, Placement::OtherWorker))
                .join()
                .expect("no panic")
        })
    });
    // The main OS thread against a coroutine: the thread blocks on its parker, the coroutine
    // parks on its worker.
    group.bench_function("weft_coroutine_thread", |b| {
        b.iter_custom(weft_thread_pingpong)
    });

    group.bench_function("crossbeam_threads", |b| b.iter_custom(crossbeam_pingpong));

    let rt = tokio_multi_thread();
    group.bench_function("tokio_mpsc_multi_thread", |b| {
        b.iter_custom(|iters| rt.block_on(tokio_pingpong(iters)))
    });
    drop(rt);
    let rt = tokio_current_thread();
    group.bench_function("tokio_mpsc_current_thread", |b| {
        b.iter_custom(|iters| rt.block_on(tokio_pingpong(iters)))
    });
    drop(rt);

    group.bench_function("std_sync_channel_threads", |b| b.iter_custom(std_pingpong));
    group.finish();
}

/// Runs in a coroutine: places an echo partner, then makes `iters` round trips with it. The
/// partner replies `v + 1`, which is checked.
fn weft_pingpong(iters: u64, placement: Placement) -> Duration {
    let (ping_tx, ping_rx) = chan::bounded::<u64>(0);
    let (pong_tx, pong_rx) = chan::bounded::<u64>(0);
    let partner = spawn_placed(placement, move || {
        for v in ping_rx.iter() {
            pong_tx.send(v + 1).expect("the driver waits for the reply");
        }
    });
    // Untimed: the partner runs its body.
    ping_tx.send(0).expect("the partner is there");
    assert_eq!(pong_rx.recv(), Ok(1));
    let start = Instant::now();
    for i in 0..iters {
        ping_tx.send(i).expect("the partner is there");
        assert_eq!(pong_rx.recv(), Ok(i + 1));
    }
    let elapsed = start.elapsed();
    drop(ping_tx);
    partner.join().expect("no panic");
    elapsed
}

/// The main OS thread drives, an echo coroutine replies.
fn weft_thread_pingpong(iters: u64) -> Duration {
    let (ping_tx, ping_rx) = chan::bounded::<u64>(0);
    let (pong_tx, pong_rx) = chan::bounded::<u64>(0);
    let partner = weft::go!(move || {
        for v in ping_rx.iter() {
            pong_tx.send(v + 1).expect("the driver waits for the reply");
        }
    });
    // Untimed: the coroutine is up.
    ping_tx.send(0).expect("the partner is there");
    assert_eq!(pong_rx.recv(), Ok(1));
    let start = Instant::now();
    for i in 0..iters {
        ping_tx.send(i).expect("the partner is there");
        assert_eq!(pong_rx.recv(), Ok(i + 1));
    }
    let elapsed = start.elapsed();
    drop(ping_tx);
    partner.join().expect("no panic");
    elapsed
}

fn crossbeam_pingpong(iters: u64) -> Duration {
    let (ping_tx, ping_rx) = crossbeam_channel::bounded::<u64>(0);
    let (pong_tx, pong_rx) = crossbeam_channel::bounded::<u64>(0);
    let partner = std::thread::spawn(move || {
        for v in ping_rx.iter() {
            pong_tx.send(v + 1).expect("the driver waits for the reply");
        }
    });
    ping_tx.send(0).expect("the partner is there");
    assert_eq!(pong_rx.recv(), Ok(1));
    let start = Instant::now();
    for i in 0..iters {
        ping_tx.send(i).expect("the partner is there");
        assert_eq!(pong_rx.recv(), Ok(i + 1));
    }
    let elapsed = start.elapsed();
    drop(ping_tx);
    partner.join().expect("no panic");
    elapsed
}

fn std_pingpong(iters: u64) -> Duration {
    let (ping_tx, ping_rx) = std::sync::mpsc::sync_channel::<u64>(0);
    let (pong_tx, pong_rx) = std::sync::mpsc::sync_channel::<u64>(0);
    let partner = std::thread::spawn(move || {
        for v in ping_rx.iter() {
            pong_tx.send(v + 1).expect("the driver waits for the reply");
        }
    });
    ping_tx.send(0).expect("the partner is there");
    assert_eq!(pong_rx.recv(), Ok(1));
    let start = Instant::now();
    for i in 0..iters {
        ping_tx.send(i).expect("the partner is there");
        assert_eq!(pong_rx.recv(), Ok(i + 1));
    }
    let elapsed = start.elapsed();
    drop(ping_tx);
    partner.join().expect("no panic");
    elapsed
}

/// Both sides are spawned tasks (on a multi-thread runtime both run on workers, not on the
/// `block_on` thread).
async fn tokio_pingpong(iters: u64) -> Duration {
    tokio::spawn(async move {
        let (ping_tx, mut ping_rx) = tokio::sync::mpsc::channel::<u64>(1);
        let (pong_tx, mut pong_rx) = tokio::sync::mpsc::channel::<u64>(1);
        let partner = tokio::spawn(async move {
            while let Some(v) = ping_rx.recv().await {
                pong_tx
                    .send(v + 1)
                    .await
                    .expect("the driver waits for the reply");
            }
        });
        ping_tx.send(0).await.expect("the partner is there");
        assert_eq!(pong_rx.recv().await, Some(1));
        let start = Instant::now();
        for i in 0..iters {
            ping_tx.send(i).await.expect("the partner is there");
            assert_eq!(pong_rx.recv().await, Some(i + 1));
        }
        let elapsed = start.elapsed();
        drop(ping_tx);
        partner.await.expect("no panic");
        elapsed
    })
    .await
    .expect("no panic")
}

// ---------------------------------------------------------------------------------------------
// mpmc_4p4c
// ---------------------------------------------------------------------------------------------

fn mpmc(c: &mut Criterion) {
    let mut group = c.benchmark_group("mpmc_4p4c");
    // A batch takes tens of milliseconds: one batch per iteration, the same count per sample.
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(4));
    group.throughput(Throughput::Elements(MPMC_BATCH));

    // weft, with the coroutines placed (see `Layout`), and as the scheduler puts them.
    for (layout, name) in [
        (Layout::Spread, "weft_spread"),
        (Layout::OneWorker, "weft_one_worker"),
        (Layout::Split, "weft_split"),
    ] {
        group.bench_function(BenchmarkId::new(name, "4p4c"), |b| {
            b.iter_custom(|iters| (0..iters).map(|_| weft_mpmc(4, 4, Some(layout))).sum())
        });
    }
    group.bench_function(BenchmarkId::new("weft_unplaced", "4p4c"), |b| {
        b.iter_custom(|iters| (0..iters).map(|_| weft_mpmc(4, 4, None)).sum())
    });
    group.bench_function(BenchmarkId::new("crossbeam_threads", "4p4c"), |b| {
        b.iter_custom(|iters| (0..iters).map(|_| crossbeam_mpmc(4, 4)).sum())
    });
    // 4 producers, 1 consumer: the shape of the single-consumer peers.
    group.bench_function(BenchmarkId::new("weft_spread", "4p1c"), |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| weft_mpmc(4, 1, Some(Layout::Spread)))
                .sum()
        })
    });
    group.bench_function(BenchmarkId::new("crossbeam_threads", "4p1c"), |b| {
        b.iter_custom(|iters| (0..iters).map(|_| crossbeam_mpmc(4, 1)).sum())
    });
    let rt = tokio_multi_thread();
    group.bench_function(BenchmarkId::new("tokio_mpsc_multi_thread", "4p1c"), |b| {
        b.iter_custom(|iters| (0..iters).map(|_| rt.block_on(tokio_mpsc(4))).sum())
    });
    drop(rt);
    group.bench_function(BenchmarkId::new("std_sync_channel_threads", "4p1c"), |b| {
        b.iter_custom(|iters| (0..iters).map(|_| std_mpsc(4)).sum())
    });
    group.finish();
}

/// Producer `p` of `producers` sends the values `p, p + producers, p + 2 * producers, …` below
/// `MPMC_BATCH`: together, every value of `0..MPMC_BATCH` once.
fn producer_values(p: usize, producers: usize) -> impl Iterator<Item = u64> {
    (p as u64..MPMC_BATCH).step_by(producers)
}

/// What the consumers of one batch got, altogether: checked against the batch.
fn check_batch(count: u64, sum: u64) {
    assert_eq!(count, MPMC_BATCH, "messages received");
    assert_eq!(
        sum,
        MPMC_BATCH * (MPMC_BATCH - 1) / 2,
        "sum of the messages"
    );
}

/// Waits (yielding the OS thread) until `ready` reaches `n`.
fn wait_ready(ready: &AtomicUsize, n: usize) {
    while ready.load(Ordering::Acquire) < n {
        std::thread::yield_now();
    }
}

/// Where the coroutines of a weft `mpmc_4p4c` batch run. Started coroutines never change
/// worker (weft's CO4), so a layout holds for the whole batch.
#[derive(Clone, Copy, Debug)]
enum Layout {
    /// Half of the producers and half of the consumers on each worker (the consumer of a
    /// single-consumer batch on the first worker): like 8 threads on 2 cores.
    Spread,
    /// All on one worker: no lock contention, every hand-off is local.
    OneWorker,
    /// The producers on one worker, the consumers on the other: every message crosses.
    Split,
}

impl Layout {
    /// Whether producer (or consumer) `i` goes on the driver's worker.
    fn on_driver_worker(self, producer: bool, i: usize) -> bool {
        match self {
            Layout::Spread => i.is_multiple_of(2),
            Layout::OneWorker => true,
            Layout::Split => producer,
        }
    }
}

/// One batch through a weft channel. The producer and consumer coroutines are placed by a
/// driver coroutine according to `layout` (`None`: spawned from the main thread, wherever
/// the scheduler puts them) and wait at a gate, a weft channel whose sender is dropped to open
/// it; the time runs from the opening to the last join.
fn weft_mpmc(producers: usize, consumers: usize, layout: Option<Layout>) -> Duration {
    let (tx, rx) = chan::bounded::<u64>(MPMC_CAP);
    let (gate_tx, gate_rx) = chan::bounded::<()>(0);
    let ready = Arc::new(AtomicUsize::new(0));
    let start_all = move || {
        let mut handles = Vec::with_capacity(producers + consumers);
        for p in 0..producers {
            let tx = tx.clone();
            handles.push(spawn_member(
                (&ready, &gate_rx, layout),
                (true, p),
                Box::new(move || {
                    for v in producer_values(p, producers) {
                        tx.send(v).expect("the consumers are there");
                    }
                    (0, 0)
                }),
            ));
        }
        for c in 0..consumers {
            let rx = rx.clone();
            handles.push(spawn_member(
                (&ready, &gate_rx, layout),
                (false, c),
                Box::new(move || rx.iter().fold((0, 0), |(n, s), v| (n + 1, s + v))),
            ));
        }
        // Only the coroutines hold the channel now: it disconnects when the producers are
        // done.
        drop((tx, rx, gate_rx));
        while ready.load(Ordering::Acquire) < producers + consumers {
            weft::thread::yield_now();
        }
        let start = Instant::now();
        drop(gate_tx);
        let (count, sum) = handles
            .into_iter()
            .map(|h| h.join().expect("no panic").expect("placed"))
            .fold((0, 0), |(n, s), (hn, hs)| (n + hn, s + hs));
        let elapsed = start.elapsed();
        check_batch(count, sum);
        elapsed
    };
    match layout {
        // The driver is the main thread.
        None => start_all(),
        // The driver must be a coroutine to place the others relative to itself.
        Some(_) => weft::go!(start_all).join().expect("no panic"),
    }
}

/// The body of an `mpmc_4p4c` producer or consumer: returns the count and the sum received.
type MemberBody = Box<dyn FnOnce() -> (u64, u64) + Send>;

/// Spawns producer (`role.0`) or consumer number `role.1` of a weft batch where `layout` puts
/// it (`None`: a plain spawn); it counts itself `ready`, waits for the gate, runs `body`.
fn spawn_member(
    (ready, gate_rx, layout): (&Arc<AtomicUsize>, &chan::Receiver<()>, Option<Layout>),
    (producer, i): (bool, usize),
    body: MemberBody,
) -> weft::thread::JoinHandle<Option<(u64, u64)>> {
    let (ready, gate_rx) = (ready.clone(), gate_rx.clone());
    let body = move || {
        ready.fetch_add(1, Ordering::Release);
        assert!(gate_rx.recv().is_err(), "the gate only opens");
        body()
    };
    match layout {
        None => weft::go!(move || Some(body())),
        Some(layout) if layout.on_driver_worker(producer, i) => {
            spawn_placed(Placement::SameWorker, body)
        }
        Some(_) => spawn_placed(Placement::OtherWorker, body),
    }
}

/// As `weft_mpmc`, with OS threads and crossbeam-channel (the gate too).
fn crossbeam_mpmc(producers: usize, consumers: usize) -> Duration {
    let (tx, rx) = crossbeam_channel::bounded::<u64>(MPMC_CAP);
    let (gate_tx, gate_rx) = crossbeam_channel::bounded::<()>(0);
    let ready = Arc::new(AtomicUsize::new(0));
    let prod: Vec<_> = (0..producers)
        .map(|p| {
            let (tx, gate_rx, ready) = (tx.clone(), gate_rx.clone(), ready.clone());
            std::thread::spawn(move || {
                ready.fetch_add(1, Ordering::Release);
                assert!(gate_rx.recv().is_err(), "the gate only opens");
                for v in producer_values(p, producers) {
                    tx.send(v).expect("the consumers are there");
                }
            })
        })
        .collect();
    let cons: Vec<_> = (0..consumers)
        .map(|_| {
            let (rx, gate_rx, ready) = (rx.clone(), gate_rx.clone(), ready.clone());
            std::thread::spawn(move || {
                ready.fetch_add(1, Ordering::Release);
                assert!(gate_rx.recv().is_err(), "the gate only opens");
                rx.iter().fold((0u64, 0u64), |(n, s), v| (n + 1, s + v))
            })
        })
        .collect();
    drop((tx, rx, gate_rx));
    wait_ready(&ready, producers + consumers);
    let start = Instant::now();
    drop(gate_tx);
    for h in prod {
        h.join().expect("no panic");
    }
    let (count, sum) = cons
        .into_iter()
        .map(|h| h.join().expect("no panic"))
        .fold((0, 0), |(n, s), (cn, cs)| (n + cn, s + cs));
    let elapsed = start.elapsed();
    check_batch(count, sum);
    elapsed
}

/// `producers` tasks and one consumer task through a tokio mpsc channel; the gate is a
/// `watch` channel whose sender is dropped to open it.
async fn tokio_mpsc(producers: usize) -> Duration {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(MPMC_CAP);
    let (gate_tx, gate_rx) = tokio::sync::watch::channel(());
    let ready = Arc::new(AtomicUsize::new(0));
    let prod: Vec<_> = (0..producers)
        .map(|p| {
            let (tx, mut gate_rx, ready) = (tx.clone(), gate_rx.clone(), ready.clone());
            tokio::spawn(async move {
                ready.fetch_add(1, Ordering::Release);
                assert!(gate_rx.changed().await.is_err(), "the gate only opens");
                for v in producer_values(p, producers) {
                    tx.send(v).await.expect("the consumer is there");
                }
            })
        })
        .collect();
    let mut consumer_gate = gate_rx.clone();
    let consumer_ready = ready.clone();
    let consumer = tokio::spawn(async move {
        consumer_ready.fetch_add(1, Ordering::Release);
        assert!(
            consumer_gate.changed().await.is_err(),
            "the gate only opens"
        );
        let (mut n, mut s) = (0u64, 0u64);
        while let Some(v) = rx.recv().await {
            n += 1;
            s += v;
        }
        (n, s)
    });
    drop((tx, gate_rx));
    while ready.load(Ordering::Acquire) < producers + 1 {
        tokio::task::yield_now().await;
    }
    let start = Instant::now();
    drop(gate_tx);
    for h in prod {
        h.await.expect("no panic");
    }
    let (count, sum) = consumer.await.expect("no panic");
    let elapsed = start.elapsed();
    check_batch(count, sum);
    elapsed
}

/// `producers` threads and one consumer thread through `std::sync::mpsc::sync_channel`; the
/// gate is a crossbeam channel (not what is measured).
fn std_mpsc(producers: usize) -> Duration {
    let (tx, rx) = std::sync::mpsc::sync_channel::<u64>(MPMC_CAP);
    let (gate_tx, gate_rx) = crossbeam_channel::bounded::<()>(0);
    let ready = Arc::new(AtomicUsize::new(0));
    let prod: Vec<_> = (0..producers)
        .map(|p| {
            let (tx, gate_rx, ready) = (tx.clone(), gate_rx.clone(), ready.clone());
            std::thread::spawn(move || {
                ready.fetch_add(1, Ordering::Release);
                assert!(gate_rx.recv().is_err(), "the gate only opens");
                for v in producer_values(p, producers) {
                    tx.send(v).expect("the consumer is there");
                }
            })
        })
        .collect();
    let (consumer_gate, consumer_ready) = (gate_rx.clone(), ready.clone());
    let consumer = std::thread::spawn(move || {
        consumer_ready.fetch_add(1, Ordering::Release);
        assert!(consumer_gate.recv().is_err(), "the gate only opens");
        rx.iter().fold((0u64, 0u64), |(n, s), v| (n + 1, s + v))
    });
    drop((tx, gate_rx));
    wait_ready(&ready, producers + 1);
    let start = Instant::now();
    drop(gate_tx);
    for h in prod {
        h.join().expect("no panic");
    }
    let (count, sum) = consumer.join().expect("no panic");
    let elapsed = start.elapsed();
    check_batch(count, sum);
    elapsed
}

// ---------------------------------------------------------------------------------------------
// select
// ---------------------------------------------------------------------------------------------

fn select(c: &mut Criterion) {
    let mut group = c.benchmark_group("select");
    let rt = tokio_current_thread();
    select_n::<2, TokioSelect2>(&mut group, &rt, weft_select_2, crossbeam_select_2);
    select_n::<8, TokioSelect8>(&mut group, &rt, weft_select_8, crossbeam_select_8);
    drop(rt);
    group.finish();
}

type Group<'a> = criterion::BenchmarkGroup<'a, criterion::measurement::WallTime>;
type TokioRx = tokio::sync::mpsc::Receiver<u64>;

fn select_n<const N: usize, S: TokioSelectN<N>>(
    group: &mut Group<'_>,
    rt: &tokio::runtime::Runtime,
    weft_select: fn(&[chan::Receiver<u64>; N]) -> u64,
    crossbeam_select: fn(&[crossbeam_channel::Receiver<u64>; N]) -> u64,
) {
    group.bench_function(BenchmarkId::new("weft_same_worker", N), |b| {
        b.iter_custom(|iters| {
            weft::go!(move || weft_select_run(iters, Placement::SameWorker, weft_select))
                .join()
                .expect("no panic")
        })
    });
    group.bench_function(BenchmarkId::new("weft_cross_worker", N), |b| {
        b.iter_custom(|iters| {
            weft::go!(move || weft_select_run(iters, Placement::OtherWorker, weft_select))
                .join()
                .expect("no panic")
        })
    });
    group.bench_function(BenchmarkId::new("crossbeam_threads", N), |b| {
        b.iter_custom(|iters| crossbeam_select_run(iters, crossbeam_select))
    });
    group.bench_function(BenchmarkId::new("tokio_current_thread", N), |b| {
        b.iter_custom(|iters| rt.block_on(tokio_select_run::<N, S>(iters)))
    });
}

/// The selector's check: the `iters` messages it got are `0..iters` (each select returns one
/// message, so the count is right by construction).
fn check_select(iters: u64, sum: u64) {
    assert_eq!(
        sum,
        iters * iters.saturating_sub(1) / 2,
        "sum of the messages"
    );
}

/// Runs in a coroutine: places a producer that feeds `N` channels round-robin (and returns
/// the senders, so that no channel disconnects while the selects run), then times `iters`
/// selects.
fn weft_select_run<const N: usize>(
    iters: u64,
    placement: Placement,
    select: fn(&[chan::Receiver<u64>; N]) -> u64,
) -> Duration {
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..N).map(|_| chan::bounded::<u64>(SELECT_CAP)).unzip();
    let rxs: [chan::Receiver<u64>; N] = rxs.try_into().expect("N receivers");
    let producer = spawn_placed(placement, move || {
        for i in 0..iters {
            txs[(i % N as u64) as usize]
                .send(i)
                .expect("the selector is there");
        }
        txs
    });
    let start = Instant::now();
    let mut sum = 0u64;
    for _ in 0..iters {
        sum += select(&rxs);
    }
    let elapsed = start.elapsed();
    drop(producer.join().expect("no panic"));
    check_select(iters, sum);
    elapsed
}

fn weft_select_2(rxs: &[chan::Receiver<u64>; 2]) -> u64 {
    let [r0, r1] = rxs;
    weft::select! {
        recv(r0) -> m => m,
        recv(r1) -> m => m,
    }
    .expect("fed")
}

fn weft_select_8(rxs: &[chan::Receiver<u64>; 8]) -> u64 {
    let [r0, r1, r2, r3, r4, r5, r6, r7] = rxs;
    weft::select! {
        recv(r0) -> m => m,
        recv(r1) -> m => m,
        recv(r2) -> m => m,
        recv(r3) -> m => m,
        recv(r4) -> m => m,
        recv(r5) -> m => m,
        recv(r6) -> m => m,
        recv(r7) -> m => m,
    }
    .expect("fed")
}

fn crossbeam_select_run<const N: usize>(
    iters: u64,
    select: fn(&[crossbeam_channel::Receiver<u64>; N]) -> u64,
) -> Duration {
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..N)
        .map(|_| crossbeam_channel::bounded::<u64>(SELECT_CAP))
        .unzip();
    let rxs: [crossbeam_channel::Receiver<u64>; N] = rxs.try_into().expect("N receivers");
    let started = Arc::new(AtomicUsize::new(0));
    let producer_started = started.clone();
    let producer = std::thread::spawn(move || {
        producer_started.store(1, Ordering::Release);
        for i in 0..iters {
            txs[(i % N as u64) as usize]
                .send(i)
                .expect("the selector is there");
        }
        txs
    });
    wait_ready(&started, 1);
    let start = Instant::now();
    let mut sum = 0u64;
    for _ in 0..iters {
        sum += select(&rxs);
    }
    let elapsed = start.elapsed();
    drop(producer.join().expect("no panic"));
    check_select(iters, sum);
    elapsed
}

fn crossbeam_select_2(rxs: &[crossbeam_channel::Receiver<u64>; 2]) -> u64 {
    let [r0, r1] = rxs;
    crossbeam_channel::select! {
        recv(r0) -> m => m,
        recv(r1) -> m => m,
    }
    .expect("fed")
}

fn crossbeam_select_8(rxs: &[crossbeam_channel::Receiver<u64>; 8]) -> u64 {
    let [r0, r1, r2, r3, r4, r5, r6, r7] = rxs;
    crossbeam_channel::select! {
        recv(r0) -> m => m,
        recv(r1) -> m => m,
        recv(r2) -> m => m,
        recv(r3) -> m => m,
        recv(r4) -> m => m,
        recv(r5) -> m => m,
        recv(r6) -> m => m,
        recv(r7) -> m => m,
    }
    .expect("fed")
}

/// Both tasks on the current-thread runtime: the selector is the `block_on` future, the
/// producer a spawned task.
async fn tokio_select_run<const N: usize, S: TokioSelectN<N>>(iters: u64) -> Duration {
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..N)
        .map(|_| tokio::sync::mpsc::channel::<u64>(SELECT_CAP))
        .unzip();
    let mut rxs: [TokioRx; N] = rxs.try_into().expect("N receivers");
    let producer = tokio::spawn(async move {
        for i in 0..iters {
            txs[(i % N as u64) as usize]
                .send(i)
                .await
                .expect("the selector is there");
        }
        txs
    });
    let start = Instant::now();
    let mut sum = 0u64;
    for _ in 0..iters {
        sum += S::select(&mut rxs).await;
    }
    let elapsed = start.elapsed();
    drop(producer.await.expect("no panic"));
    check_select(iters, sum);
    elapsed
}

/// One `tokio::select!` over `N` receivers. A trait rather than a function pointer, so that the
/// future needs no box: an allocation per select would be charged to tokio.
trait TokioSelectN<const N: usize> {
    async fn select(rxs: &mut [TokioRx; N]) -> u64;
}

struct TokioSelect2;
struct TokioSelect8;

impl TokioSelectN<2> for TokioSelect2 {
    async fn select(rxs: &mut [TokioRx; 2]) -> u64 {
        let [r0, r1] = rxs;
        tokio::select! {
            Some(v) = r0.recv() => v,
            Some(v) = r1.recv() => v,
            else => unreachable!("the senders outlive the selects"),
        }
    }
}

impl TokioSelectN<8> for TokioSelect8 {
    async fn select(rxs: &mut [TokioRx; 8]) -> u64 {
        let [r0, r1, r2, r3, r4, r5, r6, r7] = rxs;
        tokio::select! {
            Some(v) = r0.recv() => v,
            Some(v) = r1.recv() => v,
            Some(v) = r2.recv() => v,
            Some(v) = r3.recv() => v,
            Some(v) = r4.recv() => v,
            Some(v) = r5.recv() => v,
            Some(v) = r6.recv() => v,
            Some(v) = r7.recv() => v,
            else => unreachable!("the senders outlive the selects"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------
