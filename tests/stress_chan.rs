//! Stress: many producers and many consumers, coroutines and OS threads, on rendezvous
//! (`bounded(0)`), `bounded(1)`, `bounded(64)` and unbounded channels, with exact accounting
//! of every message.
//!
//! Every message is tagged (producer, sequence). A producer sends with `send`, `try_send`
//! (falling back to `send` when full), `send_timeout` or `select!` (send arms, blocking or
//! with `default(timeout)`); a send that timed out is skipped, not retried, and only the sends
//! that succeeded are recorded. Each producer stops after a random quota, so the senders go
//! away one by one in a random order and the last one disconnects the channel. Consumers use
//! `recv`, `iter`, `recv_timeout`, `try_recv`, and `select!` over all four flavors at once
//! (blocking, or with `default(timeout)`); each checks that the messages of every producer
//! reach it in increasing sequence order (per-producer FIFO) wherever that must hold. At the
//! end every message that was sent was received exactly once, and nothing else was.
//!
//! - `many_to_many_*`: one channel per flavor, 16 producers of every kind and 8 consumers of
//!   every kind, some on OS threads, while an OS thread keeps unparking the coroutines
//!   (spurious wake-ups in every blocked call);
//! - `select_consumers_over_every_flavor`: `select!` receivers over four channels;
//! - `select_send_arms_over_every_flavor`: every message offered to all four channels at once,
//!   sent on exactly one;
//! - `relays_mix_send_and_recv_arms`: a pipeline whose middle stage selects between receiving
//!   and sending in one call;
//! - `receivers_disconnect_mid_stream_*`: the consumers drop their receivers after a random
//!   number of messages while the producers still send; a producer then gets its message back
//!   in the error, and the messages still buffered when the last receiver goes are dropped by
//!   the channel (counted by their `Drop`): sent = received + dropped, each exactly once.
//!
//! No timing is asserted: timeouts only vary the paths taken.
//!
//! `WEFT_STRESS=n` multiplies the message counts. The default (1) moves about 530,000
//! messages, in 2–4 s in a debug build on 2 cores. `WEFT_STRESS=25` moves about 13 million
//! (over 10 million; each test prints its count with `--nocapture`):
//!
//! ```sh
//! WEFT_STRESS=25 cargo test --release --test stress_chan -- --nocapture
//! ```

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::Duration;

use support::{Rng, TIMEOUT_SECS, stress_factor, with_timeout};
use weft::chan::{
    self, Receiver, RecvTimeoutError, SendTimeoutError, Sender, TryRecvError, TrySendError,
};
use weft::{go, select};

/// Messages per producer at `WEFT_STRESS=1`.
const PER_PRODUCER: usize = 5_000;

/// The flavors, by capacity (`None`: unbounded).
const FLAVORS: [Option<usize>; 4] = [Some(0), Some(1), Some(64), None];

fn channel<T>(cap: Option<usize>) -> (Sender<T>, Receiver<T>) {
    match cap {
        Some(cap) => chan::bounded(cap),
        None => chan::unbounded(),
    }
}

/// The watchdog bound: generous, and growing with `WEFT_STRESS`.
fn timeout_secs() -> u64 {
    TIMEOUT_SECS + 5 * stress_factor() as u64
}

fn tag(producer: usize, seq: usize) -> u64 {
    ((producer as u64) << 32) | seq as u64
}

fn untag(msg: u64) -> (usize, usize) {
    ((msg >> 32) as usize, (msg & 0xFFFF_FFFF) as usize)
}

/// A short timeout, sometimes zero (then the call does not wait at all).
fn short_timeout(rng: &mut Rng) -> Duration {
    Duration::from_micros(rng.below(120).saturating_sub(20))
}

/// Who sent what, who got what and what the channel dropped: one cell per (producer, sequence).
struct Ledger {
    per_producer: usize,
    sent: Vec<AtomicU8>,
    received: Vec<AtomicU8>,
    dropped: Vec<AtomicU8>,
}

impl Ledger {
    fn new(producers: usize, per_producer: usize) -> Arc<Ledger> {
        let cells = || {
            (0..producers * per_producer)
                .map(|_| AtomicU8::new(0))
                .collect()
        };
        Arc::new(Ledger {
            per_producer,
            sent: cells(),
            received: cells(),
            dropped: cells(),
        })
    }

    fn mark(&self, cells: &[AtomicU8], msg: u64, what: &str) {
        let (p, seq) = untag(msg);
        assert!(
            seq < self.per_producer,
            "{what} a message never made: {p}/{seq}"
        );
        let prev = cells[p * self.per_producer + seq].fetch_add(1, Ordering::Relaxed);
        assert_eq!(prev, 0, "message {p}/{seq} {what} twice");
    }

    fn sent(&self, msg: u64) {
        self.mark(&self.sent, msg, "sent");
    }

    fn received(&self, msg: u64) {
        self.mark(&self.received, msg, "received");
    }

    fn dropped(&self, msg: u64) {
        self.mark(&self.dropped, msg, "dropped");
    }

    /// Every message sent was received or dropped by the channel, exactly once, and nothing
    /// else was. Returns how many were received.
    fn check(&self) -> usize {
        let mut received = 0;
        for i in 0..self.sent.len() {
            let s = self.sent[i].load(Ordering::Relaxed);
            let r = self.received[i].load(Ordering::Relaxed);
            let d = self.dropped[i].load(Ordering::Relaxed);
            let (p, seq) = (i / self.per_producer, i % self.per_producer);
            assert_eq!(
                r + d,
                s,
                "message {p}/{seq}: sent {s}, received {r}, dropped by the channel {d}"
            );
            received += usize::from(r);
        }
        received
    }
}

/// A consumer's view of order: the last sequence it got from each producer.
struct Fifo {
    who: String,
    last: Vec<Option<usize>>,
    /// Whether per-producer order must hold for this consumer.
    ordered: bool,
}

impl Fifo {
    fn new(who: String, producers: usize) -> Fifo {
        Fifo {
            who,
            last: vec![None; producers],
            ordered: true,
        }
    }

    /// Records `msg` in the ledger and checks per-producer FIFO order.
    fn got(&mut self, ledger: &Ledger, msg: u64) {
        ledger.received(msg);
        let (p, seq) = untag(msg);
        if let Some(last) = self.last[p].filter(|_| self.ordered) {
            assert!(
                seq > last,
                "{}: producer {p}'s message {seq} came after its message {last}",
                self.who
            );
        }
        self.last[p] = Some(seq);
    }
}

/// A coroutine or an OS thread.
enum Handle<T> {
    Coroutine(weft::thread::JoinHandle<T>),
    Os(std::thread::JoinHandle<T>),
}

impl<T> Handle<T> {
    fn join(self) -> T {
        match self {
            Handle::Coroutine(h) => h.join().unwrap(),
            Handle::Os(h) => h.join().unwrap(),
        }
    }

    /// The coroutine's handle, for `unpark`.
    fn coroutine(&self) -> Option<weft::thread::Thread> {
        match self {
            Handle::Coroutine(h) => Some(h.thread().clone()),
            Handle::Os(_) => None,
        }
    }
}

/// An OS thread that keeps unparking coroutines until stopped: every blocked channel call
/// among them sees spurious wake-ups (P4) and must park again without losing its place.
struct Poker {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Poker {
    fn start(targets: Vec<weft::thread::Thread>) -> Poker {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    for t in &targets {
                        t.unpark();
                    }
                    // Pacing only (nothing waits for it): leave the CPU to the others.
                    std::thread::sleep(Duration::from_micros(100));
                }
            })
        };
        Poker { stop, thread }
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap();
    }
}

fn spawn<T, F>(os_thread: bool, f: F) -> Handle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    if os_thread {
        Handle::Os(std::thread::spawn(f))
    } else {
        Handle::Coroutine(go!(f))
    }
}

#[derive(Debug, Clone, Copy)]
enum Producer {
    Send,
    TrySend,
    SendTimeout,
    Select,
}

const PRODUCERS: [Producer; 4] = [
    Producer::Send,
    Producer::TrySend,
    Producer::SendTimeout,
    Producer::Select,
];

/// Producer `p`: sends `quota` messages on `tx`, records the ones that went, returns how many.
fn produce(p: usize, kind: Producer, tx: Sender<u64>, quota: usize, ledger: &Ledger) -> usize {
    let mut rng = Rng::new(0x5EED_0000 + p as u64);
    let mut sent = 0;
    for seq in 0..quota {
        let msg = tag(p, seq);
        let went = match kind {
            Producer::Send => {
                tx.send(msg).expect("receivers outlive the senders");
                true
            }
            Producer::TrySend => match tx.try_send(msg) {
                Ok(()) => true,
                Err(TrySendError::Full(back)) => {
                    assert_eq!(back, msg, "try_send gives its own message back");
                    weft::thread::yield_now();
                    tx.send(back).expect("receivers outlive the senders");
                    true
                }
                Err(TrySendError::Disconnected(_)) => panic!("receivers outlive the senders"),
            },
            Producer::SendTimeout => match tx.send_timeout(msg, short_timeout(&mut rng)) {
                Ok(()) => true,
                Err(SendTimeoutError::Timeout(back)) => {
                    assert_eq!(back, msg, "a timed-out send gives its own message back");
                    false
                }
                Err(SendTimeoutError::Disconnected(_)) => panic!("receivers outlive the senders"),
            },
            Producer::Select => {
                let timeout = short_timeout(&mut rng);
                select! {
                    send(tx, msg) -> res => {
                        res.expect("receivers outlive the senders");
                        true
                    }
                    default(timeout) => false,
                }
            }
        };
        if went {
            ledger.sent(msg);
            sent += 1;
        }
    }
    sent
}

#[derive(Debug, Clone, Copy)]
enum Consumer {
    Recv,
    Iter,
    RecvTimeout,
    TryRecv,
}

/// Receives until the channel is empty and disconnected.
fn consume(who: String, kind: Consumer, rx: Receiver<u64>, producers: usize, ledger: &Ledger) {
    let mut rng = Rng::new(who.len() as u64 * 7919 + who.bytes().map(u64::from).sum::<u64>());
    let mut fifo = Fifo::new(who, producers);
    if let Consumer::Iter = kind {
        for msg in &rx {
            fifo.got(ledger, msg);
        }
        return;
    }
    loop {
        let msg = match kind {
            Consumer::Recv | Consumer::Iter => match rx.recv() {
                Ok(msg) => msg,
                Err(_) => return,
            },
            Consumer::RecvTimeout => match rx.recv_timeout(short_timeout(&mut rng)) {
                Ok(msg) => msg,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return,
            },
            Consumer::TryRecv => match rx.try_recv() {
                Ok(msg) => msg,
                Err(TryRecvError::Empty) => {
                    weft::thread::yield_now();
                    continue;
                }
                Err(TryRecvError::Disconnected) => return,
            },
        };
        fifo.got(ledger, msg);
    }
}

/// Receives with `select!` over four channels until all four are empty and disconnected
/// (a disconnected one is replaced by `never()`). `timeout`: with `default(timeout)`;
/// `ordered`: check per-producer order (only when every producer sends on one channel).
fn consume_select(
    who: String,
    rxs: [Receiver<u64>; 4],
    timeout: bool,
    ordered: bool,
    producers: usize,
    ledger: &Ledger,
) {
    let mut rng = Rng::new(who.bytes().map(u64::from).sum::<u64>());
    let mut fifo = Fifo::new(who, producers);
    fifo.ordered = ordered;
    let mut rxs = rxs;
    let mut open = rxs.len();
    loop {
        let (i, res) = if timeout {
            let t = short_timeout(&mut rng);
            select! {
                recv(rxs[0]) -> res => (0, res),
                recv(rxs[1]) -> res => (1, res),
                recv(rxs[2]) -> res => (2, res),
                recv(rxs[3]) -> res => (3, res),
                default(t) => continue,
            }
        } else {
            select! {
                recv(rxs[0]) -> res => (0, res),
                recv(rxs[1]) -> res => (1, res),
                recv(rxs[2]) -> res => (2, res),
                recv(rxs[3]) -> res => (3, res),
            }
        };
        match res {
            Ok(msg) => fifo.got(ledger, msg),
            Err(_) => {
                rxs[i] = chan::never();
                open -= 1;
                if open == 0 {
                    return;
                }
            }
        }
    }
}

/// A random quota in `3/4 * max ..= max`, so the producers stop at different times.
fn quota(rng: &mut Rng, max: usize) -> usize {
    max - rng.below(max as u64 / 4 + 1) as usize
}

/// 16 producers (every kind, 4 of them on OS threads) and 8 consumers (every kind, 3 on OS
/// threads) on one channel of capacity `cap`.
fn many_to_many(cap: Option<usize>) {
    const N_PRODUCERS: usize = 16;
    let per_producer = PER_PRODUCER * stress_factor();
    let ledger = Ledger::new(N_PRODUCERS, per_producer);
    let (tx, rx) = channel::<u64>(cap);
    let mut rng = Rng::new(cap.map_or(99, |c| c as u64 + 1));

    let consumers: Vec<Handle<()>> = [
        (Consumer::Recv, false),
        (Consumer::Iter, false),
        (Consumer::RecvTimeout, false),
        (Consumer::TryRecv, false),
        (Consumer::Recv, true),
        (Consumer::RecvTimeout, true),
        (Consumer::Iter, true),
        (Consumer::Recv, false),
    ]
    .into_iter()
    .enumerate()
    .map(|(c, (kind, os))| {
        let (rx, ledger) = (rx.clone(), ledger.clone());
        let who = format!("consumer {c} ({kind:?}, os thread: {os})");
        spawn(os, move || consume(who, kind, rx, N_PRODUCERS, &ledger))
    })
    .collect();
    drop(rx);

    let producers: Vec<Handle<usize>> = (0..N_PRODUCERS)
        .map(|p| {
            let (tx, ledger) = (tx.clone(), ledger.clone());
            let kind = PRODUCERS[p / 4];
            let quota = quota(&mut rng, per_producer);
            spawn(p % 4 == 3, move || produce(p, kind, tx, quota, &ledger))
        })
        .collect();
    drop(tx);
    let poker = Poker::start(
        producers
            .iter()
            .map(Handle::coroutine)
            .chain(consumers.iter().map(Handle::coroutine))
            .flatten()
            .collect(),
    );

    let sent: usize = producers.into_iter().map(Handle::join).sum();
    consumers.into_iter().for_each(Handle::join);
    poker.stop();
    let received = ledger.check();
    assert_eq!(received, sent);
    eprintln!("bounded({cap:?}): {received} messages");
}

#[test]
fn many_to_many_rendezvous() {
    with_timeout(timeout_secs(), || many_to_many(Some(0)));
}

#[test]
fn many_to_many_bounded_1() {
    with_timeout(timeout_secs(), || many_to_many(Some(1)));
}

#[test]
fn many_to_many_bounded_64() {
    with_timeout(timeout_secs(), || many_to_many(Some(64)));
}

#[test]
fn many_to_many_unbounded() {
    with_timeout(timeout_secs(), || many_to_many(None));
}

/// One channel of each flavor; 16 producers, four per channel; a single-channel consumer per
/// channel, and four consumers that `select!` over all four channels (two with
/// `default(timeout)` and one blocking in coroutines, one with `default(timeout)` on an OS
/// thread). Every message is counted once and per-producer order holds for every consumer
/// (a producer sends on one channel only).
#[test]
fn select_consumers_over_every_flavor() {
    with_timeout(timeout_secs(), || {
        const N_PRODUCERS: usize = 16;
        let per_producer = PER_PRODUCER * stress_factor();
        let ledger = Ledger::new(N_PRODUCERS, per_producer);
        let (txs, rxs): (Vec<_>, Vec<_>) = FLAVORS.iter().map(|&cap| channel::<u64>(cap)).unzip();
        let mut rng = Rng::new(4242);

        let mut consumers: Vec<Handle<()>> = Vec::new();
        for (i, rx) in rxs.iter().enumerate() {
            let (rx, ledger) = (rx.clone(), ledger.clone());
            let kind = [
                Consumer::Recv,
                Consumer::RecvTimeout,
                Consumer::TryRecv,
                Consumer::Iter,
            ][i];
            let who = format!("single-channel consumer of {:?} ({kind:?})", FLAVORS[i]);
            consumers.push(spawn(i == 0, move || {
                consume(who, kind, rx, N_PRODUCERS, &ledger)
            }));
        }
        for (s, (timeout, os)) in [(true, false), (true, false), (false, false), (true, true)]
            .into_iter()
            .enumerate()
        {
            let rxs: [Receiver<u64>; 4] = std::array::from_fn(|i| rxs[i].clone());
            let ledger = ledger.clone();
            let who = format!("select consumer {s} (default: {timeout}, os thread: {os})");
            consumers.push(spawn(os, move || {
                consume_select(who, rxs, timeout, true, N_PRODUCERS, &ledger)
            }));
        }
        drop(rxs);

        let producers: Vec<Handle<usize>> = (0..N_PRODUCERS)
            .map(|p| {
                let (tx, ledger) = (txs[p % 4].clone(), ledger.clone());
                let kind = PRODUCERS[(p / 4) % 4];
                let quota = quota(&mut rng, per_producer);
                spawn(p % 8 == 5, move || produce(p, kind, tx, quota, &ledger))
            })
            .collect();
        drop(txs);
        let poker = Poker::start(consumers.iter().filter_map(Handle::coroutine).collect());

        let sent: usize = producers.into_iter().map(Handle::join).sum();
        consumers.into_iter().for_each(Handle::join);
        poker.stop();
        let received = ledger.check();
        assert_eq!(received, sent);
        eprintln!("select over every flavor: {received} messages");
    });
}

/// 12 producers whose every message goes through a `select!` with one send arm per flavor
/// (the same tagged message in all four: exactly one arm may send it; half of them with
/// `default(timeout)`, a quarter on OS threads); a single-channel consumer per flavor checks
/// per-producer order, and two `select!` consumers over all four (one with `default(timeout)`,
/// one blocking on an OS thread) check exactly-once only (a producer's messages are spread
/// over the channels, so they may overtake each other there).
#[test]
fn select_send_arms_over_every_flavor() {
    with_timeout(timeout_secs(), || {
        const N_PRODUCERS: usize = 12;
        let per_producer = PER_PRODUCER * stress_factor();
        let ledger = Ledger::new(N_PRODUCERS, per_producer);
        let (txs, rxs): (Vec<_>, Vec<_>) = FLAVORS.iter().map(|&cap| channel::<u64>(cap)).unzip();
        let mut rng = Rng::new(777);

        let mut consumers: Vec<Handle<()>> = Vec::new();
        for (i, rx) in rxs.iter().enumerate() {
            let (rx, ledger) = (rx.clone(), ledger.clone());
            let kind = [
                Consumer::Iter,
                Consumer::TryRecv,
                Consumer::RecvTimeout,
                Consumer::Recv,
            ][i];
            let who = format!("single-channel consumer of {:?} ({kind:?})", FLAVORS[i]);
            consumers.push(spawn(i == 2, move || {
                consume(who, kind, rx, N_PRODUCERS, &ledger)
            }));
        }
        for (s, (timeout, os)) in [(true, false), (false, true)].into_iter().enumerate() {
            let rxs: [Receiver<u64>; 4] = std::array::from_fn(|i| rxs[i].clone());
            let ledger = ledger.clone();
            let who = format!("select consumer {s} (default: {timeout}, os thread: {os})");
            consumers.push(spawn(os, move || {
                consume_select(who, rxs, timeout, false, N_PRODUCERS, &ledger)
            }));
        }
        drop(rxs);

        let producers: Vec<Handle<usize>> = (0..N_PRODUCERS)
            .map(|p| {
                let txs: [Sender<u64>; 4] = std::array::from_fn(|i| txs[i].clone());
                let ledger = ledger.clone();
                let quota = quota(&mut rng, per_producer);
                let with_default = p.is_multiple_of(2);
                spawn(p % 4 == 1, move || {
                    let mut rng = Rng::new(p as u64 + 3000);
                    let mut sent = 0;
                    for seq in 0..quota {
                        let msg = tag(p, seq);
                        let went = if with_default {
                            let t = short_timeout(&mut rng);
                            select! {
                                send(txs[0], msg) -> res => res.is_ok(),
                                send(txs[1], msg) -> res => res.is_ok(),
                                send(txs[2], msg) -> res => res.is_ok(),
                                send(txs[3], msg) -> res => res.is_ok(),
                                default(t) => false,
                            }
                        } else {
                            select! {
                                send(txs[0], msg) -> res => res.is_ok(),
                                send(txs[1], msg) -> res => res.is_ok(),
                                send(txs[2], msg) -> res => res.is_ok(),
                                send(txs[3], msg) -> res => res.is_ok(),
                            }
                        };
                        if went {
                            ledger.sent(msg);
                            sent += 1;
                        }
                    }
                    sent
                })
            })
            .collect();
        drop(txs);

        let sent: usize = producers.into_iter().map(Handle::join).sum();
        consumers.into_iter().for_each(Handle::join);
        let received = ledger.check();
        assert_eq!(received, sent);
        eprintln!("select send arms over every flavor: {received} messages");
    });
}

/// A pipeline whose middle stage mixes send and receive arms in one `select!`: 8 producers →
/// rendezvous channel → 4 relays → `bounded(1)` → 4 consumers. A relay keeps up to 8 messages
/// and selects between receiving one more and sending its oldest (a copy: it is dropped if the
/// receive wins, and popped only if the send won); some relays add `default(timeout)`, one
/// runs on an OS thread. Relays reorder, so only exactly-once is checked at the end, and the
/// order within each relay (per producer) is checked on the way in.
#[test]
fn relays_mix_send_and_recv_arms() {
    with_timeout(timeout_secs(), || {
        const N_PRODUCERS: usize = 8;
        const RELAYS: usize = 4;
        let per_producer = PER_PRODUCER * stress_factor();
        let ledger = Ledger::new(N_PRODUCERS, per_producer);
        let (in_tx, in_rx) = chan::bounded::<u64>(0);
        let (out_tx, out_rx) = chan::bounded::<u64>(1);
        let mut rng = Rng::new(31337);

        let consumers: Vec<Handle<()>> = (0..4)
            .map(|c| {
                let (rx, ledger) = (out_rx.clone(), ledger.clone());
                let kind = [
                    Consumer::Recv,
                    Consumer::Iter,
                    Consumer::RecvTimeout,
                    Consumer::Recv,
                ][c];
                spawn(c == 3, move || {
                    let mut rng = Rng::new(c as u64 + 4000);
                    let mut fifo = Fifo::new(format!("consumer {c}"), N_PRODUCERS);
                    fifo.ordered = false;
                    loop {
                        let msg = match kind {
                            Consumer::RecvTimeout => match rx.recv_timeout(short_timeout(&mut rng))
                            {
                                Ok(msg) => msg,
                                Err(RecvTimeoutError::Timeout) => continue,
                                Err(RecvTimeoutError::Disconnected) => return,
                            },
                            _ => match rx.recv() {
                                Ok(msg) => msg,
                                Err(_) => return,
                            },
                        };
                        fifo.got(&ledger, msg);
                    }
                })
            })
            .collect();
        drop(out_rx);

        let relays: Vec<Handle<usize>> = (0..RELAYS)
            .map(|r| {
                let (rx, tx) = (in_rx.clone(), out_tx.clone());
                spawn(r == 1, move || {
                    let mut rng = Rng::new(r as u64 + 5000);
                    let mut held: std::collections::VecDeque<u64> = Default::default();
                    let mut last_in = [None; N_PRODUCERS];
                    let mut input_open = true;
                    let mut relayed = 0;
                    let with_default = r.is_multiple_of(2);
                    loop {
                        // What happened: Some(Some(msg)) received, Some(None) input closed,
                        // None sent the oldest (or timed out).
                        let event: Option<Option<u64>> = match (input_open, held.front()) {
                            (false, None) => return relayed,
                            (true, None) => Some(rx.recv().ok()),
                            (false, Some(&front)) => {
                                tx.send(front).expect("consumers outlive the relays");
                                held.pop_front();
                                relayed += 1;
                                None
                            }
                            (true, Some(&front)) if held.len() >= 8 => {
                                tx.send(front).expect("consumers outlive the relays");
                                held.pop_front();
                                relayed += 1;
                                None
                            }
                            (true, Some(&front)) if with_default => {
                                let t = short_timeout(&mut rng);
                                select! {
                                    recv(rx) -> res => Some(res.ok()),
                                    send(tx, front) -> res => {
                                        res.expect("consumers outlive the relays");
                                        held.pop_front();
                                        relayed += 1;
                                        None
                                    }
                                    default(t) => None,
                                }
                            }
                            (true, Some(&front)) => select! {
                                recv(rx) -> res => Some(res.ok()),
                                send(tx, front) -> res => {
                                    res.expect("consumers outlive the relays");
                                    held.pop_front();
                                    relayed += 1;
                                    None
                                }
                            },
                        };
                        match event {
                            Some(Some(msg)) => {
                                let (p, seq) = untag(msg);
                                assert!(
                                    last_in[p].is_none_or(|last| seq > last),
                                    "relay {r}: producer {p}'s message {seq} came late"
                                );
                                last_in[p] = Some(seq);
                                held.push_back(msg);
                            }
                            Some(None) => input_open = false,
                            None => {}
                        }
                    }
                })
            })
            .collect();
        drop((in_rx, out_tx));

        let producers: Vec<Handle<usize>> = (0..N_PRODUCERS)
            .map(|p| {
                let (tx, ledger) = (in_tx.clone(), ledger.clone());
                let kind = PRODUCERS[p % 4];
                let quota = quota(&mut rng, per_producer);
                spawn(p == 6, move || produce(p, kind, tx, quota, &ledger))
            })
            .collect();
        drop(in_tx);

        let sent: usize = producers.into_iter().map(Handle::join).sum();
        let relayed: usize = relays.into_iter().map(Handle::join).sum();
        consumers.into_iter().for_each(Handle::join);
        let received = ledger.check();
        assert_eq!(received, sent);
        assert_eq!(relayed, sent);
        eprintln!("relays: {received} messages, each moved twice");
    });
}

/// A message that reports to the ledger if it is dropped before anybody took it (by the
/// channel, when the last receiver goes with messages still buffered).
struct Tracked {
    msg: u64,
    ledger: Arc<Ledger>,
    armed: bool,
}

impl Tracked {
    /// Taken by a receiver, or given back to its producer: not the channel's to drop any more.
    fn take(mut self) -> u64 {
        self.armed = false;
        self.msg
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if self.armed {
            self.ledger.dropped(self.msg);
        }
    }
}

/// 8 producers (`send`, `try_send`, `send_timeout`; two on OS threads) send until the
/// receivers are gone; 4 consumers (one on an OS thread) each stop after a random number of
/// messages and drop their receiver. Whatever was sent is received or dropped by the channel,
/// exactly once; a producer whose send fails gets its own message back.
fn receivers_disconnect_mid_stream(cap: Option<usize>) {
    const N_PRODUCERS: usize = 8;
    const N_CONSUMERS: usize = 4;
    let per_producer = PER_PRODUCER * stress_factor();
    let ledger = Ledger::new(N_PRODUCERS, per_producer);
    let (tx, rx) = channel::<Tracked>(cap);
    let mut rng = Rng::new(cap.map_or(7, |c| c as u64 + 77));

    let consumers: Vec<Handle<()>> = (0..N_CONSUMERS)
        .map(|c| {
            let (rx, ledger) = (rx.clone(), ledger.clone());
            // On average the consumers stop before the producers are done.
            let stop_after = rng.below((N_PRODUCERS * per_producer / N_CONSUMERS) as u64) as usize;
            let mut crng = Rng::new(c as u64 + 1000);
            spawn(c == 1, move || {
                let mut fifo = Fifo::new(format!("consumer {c}"), N_PRODUCERS);
                for _ in 0..stop_after {
                    let got = match c % 3 {
                        0 => rx.recv().ok(),
                        1 => loop {
                            match rx.recv_timeout(short_timeout(&mut crng)) {
                                Ok(m) => break Some(m),
                                Err(RecvTimeoutError::Timeout) => {}
                                Err(RecvTimeoutError::Disconnected) => break None,
                            }
                        },
                        _ => loop {
                            match rx.try_recv() {
                                Ok(m) => break Some(m),
                                Err(TryRecvError::Empty) => weft::thread::yield_now(),
                                Err(TryRecvError::Disconnected) => break None,
                            }
                        },
                    };
                    let Some(tracked) = got else { break };
                    fifo.got(&ledger, tracked.take());
                }
                // The receiver goes here; the last one disconnects the channel.
            })
        })
        .collect();
    drop(rx);

    let producers: Vec<Handle<usize>> = (0..N_PRODUCERS)
        .map(|p| {
            let (tx, ledger) = (tx.clone(), ledger.clone());
            let mut prng = Rng::new(p as u64 + 2000);
            spawn(p % 4 == 1, move || {
                let mut sent = 0;
                for seq in 0..per_producer {
                    let msg = tag(p, seq);
                    let tracked = Tracked {
                        msg,
                        ledger: ledger.clone(),
                        armed: true,
                    };
                    let back = match p % 3 {
                        0 => tx.send(tracked).err().map(|e| (false, e.into_inner())),
                        1 => match tx.try_send(tracked) {
                            Ok(()) => None,
                            Err(TrySendError::Full(t)) => {
                                tx.send(t).err().map(|e| (false, e.into_inner()))
                            }
                            Err(TrySendError::Disconnected(t)) => Some((false, t)),
                        },
                        _ => match tx.send_timeout(tracked, short_timeout(&mut prng)) {
                            Ok(()) => None,
                            Err(SendTimeoutError::Timeout(t)) => Some((true, t)),
                            Err(SendTimeoutError::Disconnected(t)) => Some((false, t)),
                        },
                    };
                    match back {
                        None => {
                            ledger.sent(msg);
                            sent += 1;
                        }
                        Some((timed_out, t)) => {
                            assert_eq!(t.take(), msg, "a failed send gives its own message back");
                            if !timed_out {
                                // Disconnected: every receiver is gone.
                                break;
                            }
                        }
                    }
                }
                sent
            })
        })
        .collect();
    drop(tx);

    let sent: usize = producers.into_iter().map(Handle::join).sum();
    consumers.into_iter().for_each(Handle::join);
    let received = ledger.check();
    assert!(received <= sent);
    eprintln!("receivers disconnect, bounded({cap:?}): {received} received of {sent} sent");
}

#[test]
fn receivers_disconnect_mid_stream_rendezvous() {
    with_timeout(timeout_secs(), || receivers_disconnect_mid_stream(Some(0)));
}

#[test]
fn receivers_disconnect_mid_stream_bounded_1() {
    with_timeout(timeout_secs(), || receivers_disconnect_mid_stream(Some(1)));
}

#[test]
fn receivers_disconnect_mid_stream_bounded_64() {
    with_timeout(timeout_secs(), || receivers_disconnect_mid_stream(Some(64)));
}

#[test]
fn receivers_disconnect_mid_stream_unbounded() {
    with_timeout(timeout_secs(), || receivers_disconnect_mid_stream(None));
}
