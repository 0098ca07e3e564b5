//! Loom models of the readiness protocol of one registered I/O source (io/readiness.rs, R1–R5)
//! and of the wait loops that use it (`IoSource::do_io` and `do_io_stream`, net/source.rs).
//!
//! `src/reactor/readiness.rs` is compiled here as it is, against a loom facade of the shape of
//! `src/loom.rs`. What loom cannot run is replaced:
//! - the socket = loom atomics standing for the kernel's state: `data` (units that a read can
//!   take) and `space` (a write can go through). A system call is one atomic step on them, and
//!   `WouldBlock` means "nothing there at that step";
//! - epoll and the driver = the poller, a loom thread that makes data or space available and
//!   *then* calls `set_ready` with a wake, as edge-triggered epoll reports an edge only when
//!   something newly arrives (driver.rs, `DriverGuard::poll`, to which the scheduler passes
//!   `scheduler::wake_owned`);
//! - the runtime's waiter, a `TaskRef` woken by `scheduler::wake_owned`, = `Arc<Waiter>`: a one-token mutex-and-condvar parker (the shape of
//!   `parker.rs`, which is a futex) that also counts the wake-ups it received. The parker
//!   really blocks, so a lost wake-up shows as a loom deadlock;
//! - `do_io` = [`do_io`] below, the coroutine branch of `IoSource::do_io` step for step with the
//!   source already registered (the first-registration branch, IO4, takes no snapshot and clears
//!   nothing, so it is not modelled). A deadline is a flag, since loom has no clock: it passes
//!   while the call is parked, so `park(deadline)` returns without a wake-up.
//!
//! Every model was run against deliberately broken protocols (a copy of readiness.rs, or the
//! model's own `do_io`, edited) and fails on those listed under "Fails when" in its doc (the
//! breakages, by name; each ends in a loom deadlock or a failed assertion):
//! - `no-recheck`: `register` does not re-check readiness under the lock (R3);
//! - `recheck-outside-lock`: `register` checks readiness before taking the lock (R3);
//! - `wake-before-raise`: `set_ready` takes and wakes the waiters before raising the bits (R1);
//! - `clear-ignores-tick`: `clear` clears whatever the tick (R2);
//! - `no-tick-bump`: `set_ready` raises the bits without bumping the tick (R1, R2);
//! - `relaxed-snapshot`: `snapshot` loads with `Relaxed`: it may see an edge's tick while the
//!   system call after it does not see that edge's data, and the clear then drops the edge;
//! - `relaxed-set-ready`: `set_ready` updates the word with `Relaxed` (the same, from the
//!   poller's side: its `Release` pairs with the snapshot's `Acquire`);
//! - `one-per-dir`: `set_ready` wakes one waiter per direction instead of all (R1);
//! - `readers-only`: `set_ready` never looks at the writers (R1);
//! - `first-dir-only`: `set_ready` stops after the first direction that had waiters (R1);
//! - `write-mask-read`: `Direction::Write`'s mask is the read bits;
//! - `cancel-noop`: `cancel` removes nothing (R4);
//! - `cancel-pop-last`: `cancel` removes the last entry of the list, not the one under its key
//!   (R4);
//! - `park-on-none`: `do_io` parks even when `register` returns `None` (R3);
//! - `late-snapshot`: `do_io` takes its snapshot after the system call, not before (R2);
//! - `no-cancel`: `do_io` does not cancel after its park returns (R4);
//! - `drained-ignores-tick`: `clear_drained` clears the readable bit whatever the tick (R5);
//! - `drained-clears-closed`: `clear_drained` clears the whole read mask, `READ_CLOSED` too
//!   (R5).
//!
//! No model fails, and none should, when `clear` or `register`'s load use `Relaxed`, or
//! `set_ready` uses `Release` alone: `clear` decides with a read-modify-write, which always sees
//! the latest tick, and `register` reads under the waiter lock, which `set_ready` takes after
//! raising the bits.
//!
//! Run: `RUSTFLAGS="--cfg weft_loom" CARGO_TARGET_DIR=target/loom cargo test --release --test
//! loom_io` (`--nocapture` prints how many executions each model explored).
#![cfg(weft_loom)]
#![allow(dead_code)]

mod loom {
    pub(crate) mod sync {
        /// parking_lot's shape over loom's mutex.
        #[derive(Debug)]
        pub(crate) struct Mutex<T>(::loom::sync::Mutex<T>);

        impl<T> Mutex<T> {
            pub(crate) fn new(value: T) -> Mutex<T> {
                Mutex(::loom::sync::Mutex::new(value))
            }

            pub(crate) fn lock(&self) -> ::loom::sync::MutexGuard<'_, T> {
                self.0.lock().unwrap()
            }
        }

        pub(crate) mod atomic {
            pub(crate) use ::loom::sync::atomic::{AtomicUsize, Ordering};
        }
    }
}

#[path = "../src/reactor/readiness.rs"]
mod readiness;

use ::loom::sync::Arc;
use ::loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use ::loom::thread;
use readiness::{Direction, READ_CLOSED, READABLE, ScheduledIo, WRITABLE};

// ---------------------------------------------------------------------------------------------
// The waiter, the socket and the wait loop

#[path = "support/loom_parker.rs"]
mod loom_parker;
use loom_parker::Parker;

/// The waiter type `W` of `ScheduledIo<W>`: one coroutine's parker, and how many wake-ups the
/// poller sent it.
#[derive(Default)]
struct Waiter {
    parker: Parker,
    wakes: AtomicUsize,
}

impl Waiter {
    fn wakes(&self) -> usize {
        self.wakes.load(SeqCst)
    }
}

type Unparker = Arc<Waiter>;
type Io = ScheduledIo<Unparker>;

/// The wake the driver passes to `set_ready` (the scheduler's `wake_owned` in the runtime).
fn wake(waiter: Unparker) {
    waiter.wakes.fetch_add(1, SeqCst);
    waiter.parker.unpark();
}

/// The kernel's side of the socket.
#[derive(Default)]
struct Socket {
    /// Units of data a read can take.
    data: AtomicUsize,
    /// Whether a write can go through (it does not use the space up).
    space: AtomicBool,
}

impl Socket {
    /// `read(2)`: takes one unit, or `WouldBlock` (false).
    fn read(&self) -> bool {
        self.data
            .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    /// `write(2)`: goes through, or `WouldBlock` (false).
    fn write(&self) -> bool {
        self.space.load(SeqCst)
    }

    /// The poller: `n` units arrive, then epoll reports the edge.
    fn data_arrives(&self, io: &Io, n: usize) {
        self.data.fetch_add(n, SeqCst);
        io.set_ready(READABLE, wake);
    }

    /// The poller: the send buffer drains, then epoll reports the edge.
    fn space_frees(&self, io: &Io) {
        self.space.store(true, SeqCst);
        io.set_ready(WRITABLE, wake);
    }
}

/// How a modelled call waits.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Deadline {
    /// No timeout: parks until woken.
    None,
    /// The deadline passes during the first park: `park(deadline)` returns without a wake-up,
    /// and the call ends at its next `WouldBlock` (IO2).
    PassesWhileParked,
}

/// Marks the stretch of `do_io` between a system call's `WouldBlock` and the end of its
/// `clear`, so that a model can check that loom did run an event inside it (R2). Plain std
/// atomics: loom neither sees nor schedules them, it runs one model thread at a time.
#[derive(Default)]
struct Window {
    /// Odd while the caller is inside the stretch; bumped on entry and on exit.
    generation: std::sync::atomic::AtomicUsize,
}

impl Window {
    fn bump(&self) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    fn get(&self) -> usize {
        self.generation.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// `IoSource::do_io` in a coroutine whose source is registered: runs `op` until it does not
/// return `WouldBlock` (false), waiting for `dir` in between. Returns false when the call timed
/// out.
fn do_io(
    io: &Io,
    me: &Unparker,
    dir: Direction,
    deadline: Deadline,
    window: Option<&Window>,
    mut op: impl FnMut() -> bool,
) -> bool {
    let mut expired = false;
    loop {
        let snap = io.snapshot();
        if op() {
            return true;
        }
        if expired {
            return false;
        }
        if let Some(w) = window {
            w.bump();
        }
        io.clear(snap, dir);
        if let Some(w) = window {
            w.bump();
        }
        // R3: `None` means an event arrived meanwhile: retry at once.
        if let Some(key) = io.register(dir, me.clone()) {
            match deadline {
                Deadline::None => me.parker.park(),
                Deadline::PassesWhileParked => expired = true,
            }
            // R4
            io.cancel(dir, key);
        }
    }
}

/// A stream socket's receive side: queued units and the peer's FIN in one word, so that a
/// read sees both at one instant, as the kernel's socket lock makes it.
#[derive(Default)]
struct StreamSocket {
    /// Units in the low bits, [`FIN`] once the peer has closed.
    word: AtomicUsize,
}

const FIN: usize = 1 << 16;

impl StreamSocket {
    /// `read(2)` into a buffer of `cap` units: takes up to `cap`, returns 0 at end of stream
    /// (FIN and nothing queued), `None` for `WouldBlock`.
    fn read(&self, cap: usize) -> Option<usize> {
        let old = self
            .word
            .fetch_update(SeqCst, SeqCst, |w| {
                let n = (w & (FIN - 1)).min(cap);
                (n > 0).then(|| w - n)
            })
            .unwrap_or_else(|w| w);
        let n = (old & (FIN - 1)).min(cap);
        if n > 0 {
            Some(n)
        } else if old & FIN != 0 {
            Some(0)
        } else {
            None
        }
    }

    /// The poller: `n` units arrive (and the FIN with them if `fin`), then epoll reports the
    /// edge.
    fn arrive(&self, io: &Io, n: usize, fin: bool) {
        self.word.fetch_add(n + if fin { FIN } else { 0 }, SeqCst);
        io.set_ready(
            if fin {
                READABLE | READ_CLOSED
            } else {
                READABLE
            },
            wake,
        );
    }
}

/// `IoSource::do_io_stream` for a read into a buffer of `cap` units, in a coroutine whose
/// source is registered (R5): waits without a system call while the snapshot shows no
/// readiness, and after a short read (fewer than `cap` units) clears the plain readiness bit
/// with the snapshot's tick. Returns the units read (0: end of stream).
fn do_io_stream(io: &Io, me: &Unparker, cap: usize, socket: &StreamSocket) -> usize {
    loop {
        let snap = io.snapshot();
        if snap.is_ready(Direction::Read)
            && let Some(n) = socket.read(cap)
        {
            if n > 0 && n < cap {
                io.clear_drained(snap, Direction::Read);
            }
            return n;
        }
        io.clear(snap, Direction::Read);
        if let Some(key) = io.register(Direction::Read, me.clone()) {
            me.parker.park();
            io.cancel(Direction::Read, key);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Models

/// Runs `f` under loom with at most `preemption_bound` preemptions per execution (`None`: all
/// interleavings), and prints how many executions were explored (`--nocapture`).
fn model(preemption_bound: Option<usize>, f: impl Fn() + Sync + Send + 'static) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let executions = std::sync::Arc::new(AtomicUsize::new(0));
    let mut builder = ::loom::model::Builder::new();
    builder.preemption_bound = preemption_bound;
    builder.check({
        let executions = executions.clone();
        move || {
            executions.fetch_add(1, Ordering::Relaxed);
            f();
        }
    });
    eprintln!(
        "{}: {} executions (preemption bound {preemption_bound:?})",
        std::thread::current().name().unwrap_or("?"),
        executions.load(Ordering::Relaxed)
    );
}

/// Sends one more `set_ready` for `ready` once every call has returned, and checks that it
/// wakes none of `waiters`: every entry was taken by the poller or cancelled (R4).
fn assert_no_entry_left(io: &Io, ready: usize, waiters: &[&Unparker]) {
    let before: Vec<usize> = waiters.iter().map(|w| w.wakes()).collect();
    io.set_ready(ready, wake);
    let after: Vec<usize> = waiters.iter().map(|w| w.wakes()).collect();
    assert_eq!(before, after, "a stale entry was woken");
}

/// No lost wake-up (R1, R3): one reader, and a poller that makes one unit of data available and
/// reports one edge. Whatever the interleaving, the reader takes the unit; a wake-up that is
/// lost leaves it parked forever (a loom deadlock).
///
/// Fails when: `no-recheck`, `recheck-outside-lock`, `wake-before-raise`, `park-on-none`,
/// `relaxed-snapshot`, `relaxed-set-ready`, `clear-ignores-tick`, `no-tick-bump`,
/// `late-snapshot` (all: deadlock).
#[test]
fn one_edge_always_wakes_the_reader() {
    model(None, || {
        let io = Arc::new(Io::default());
        let socket = Arc::new(Socket::default());
        let reader = {
            let (io, socket) = (io.clone(), socket.clone());
            thread::spawn(move || {
                let me = Unparker::default();
                let read = || socket.read();
                assert!(do_io(&io, &me, Direction::Read, Deadline::None, None, read));
                me
            })
        };
        socket.data_arrives(&io, 1);
        let me = reader.join().unwrap();
        assert_eq!(socket.data.load(SeqCst), 0);
        assert!(me.wakes() <= 1);
        assert_no_entry_left(&io, READABLE, &[&me]);
    });
}

/// The R2 race: the poller reports two edges, one unit each, and the reader reads twice. The
/// model checks that loom ran an edge (data and `set_ready`) entirely between a `WouldBlock`
/// and the end of the `clear` that follows it: that edge's bits must survive the clear, so the
/// reader retries instead of parking for an edge that will not come again (a loom deadlock).
///
/// Fails when: `clear-ignores-tick`, `no-tick-bump`, `late-snapshot` (the R2 breakages), and
/// `no-recheck`, `recheck-outside-lock`, `wake-before-raise`, `park-on-none`,
/// `relaxed-snapshot`, `relaxed-set-ready` (all: deadlock).
#[test]
fn an_edge_between_would_block_and_clear_is_not_lost() {
    static RACE_RUN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    model(None, || {
        let io = Arc::new(Io::default());
        let socket = Arc::new(Socket::default());
        let window = std::sync::Arc::new(Window::default());
        let reader = {
            let (io, socket, window) = (io.clone(), socket.clone(), window.clone());
            thread::spawn(move || {
                let me = Unparker::default();
                for _ in 0..2 {
                    assert!(do_io(
                        &io,
                        &me,
                        Direction::Read,
                        Deadline::None,
                        Some(&window),
                        || socket.read()
                    ));
                }
                me
            })
        };
        for _ in 0..2 {
            let before = window.get();
            socket.data_arrives(&io, 1);
            if before % 2 == 1 && window.get() == before {
                RACE_RUN.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        }
        let me = reader.join().unwrap();
        assert_eq!(socket.data.load(SeqCst), 0);
        assert_no_entry_left(&io, READABLE, &[&me]);
    });
    assert!(
        RACE_RUN.load(std::sync::atomic::Ordering::Relaxed),
        "loom never ran an edge between WouldBlock and clear"
    );
}

/// Two readers and a writer wait on one source; the poller makes two units of data available
/// and reports READABLE, then frees space and reports WRITABLE. Every call completes (a waiter
/// of either direction left parked is a loom deadlock), each reader takes one unit, and once
/// all have returned no entry is left for a later `set_ready` to wake (R4).
///
/// Four loom threads, so a preemption bound of 1 keeps the model to a few seconds. The writer is
/// the main thread and the poller a thread of its own: once the writer parks, loom may run the
/// readers to their parks and only then the poller without spending a preemption, so every
/// waiter being parked at the edge costs none (with the main thread as the poller it costs two,
/// and `one-per-dir` went unseen at bound 1).
///
/// Fails when: `one-per-dir`, `readers-only`, `write-mask-read`, and every breakage that fails
/// `one_edge_always_wakes_the_reader` (all: deadlock). `first-dir-only` needs one event for
/// both directions: see the next model.
#[test]
fn readers_and_a_writer_all_complete() {
    model(Some(1), || {
        let io = Arc::new(Io::default());
        let socket = Arc::new(Socket::default());
        let reader = || {
            let (io, socket) = (io.clone(), socket.clone());
            thread::spawn(move || {
                let me = Unparker::default();
                let read = || socket.read();
                assert!(do_io(&io, &me, Direction::Read, Deadline::None, None, read));
                me
            })
        };
        let readers = [reader(), reader()];
        let poller = {
            let (io, socket) = (io.clone(), socket.clone());
            thread::spawn(move || {
                socket.data_arrives(&io, 2);
                socket.space_frees(&io);
            })
        };
        // The writer is the model's main thread.
        let writer = Unparker::default();
        assert!(do_io(
            &io,
            &writer,
            Direction::Write,
            Deadline::None,
            None,
            || { socket.write() }
        ));
        let readers = readers.map(|r| r.join().unwrap());
        poller.join().unwrap();
        assert_eq!(socket.data.load(SeqCst), 0);
        for w in readers.iter().chain([&writer]) {
            assert!(w.wakes() <= 1);
        }
        assert_no_entry_left(
            &io,
            READABLE | WRITABLE,
            &[&readers[0], &readers[1], &writer],
        );
    });
}

/// One event for both directions (epoll reports every bit that is ready at the edge, say
/// EPOLLIN | EPOLLOUT): a reader and a writer wait, the poller makes data and space available
/// and reports READABLE | WRITABLE once. Both calls complete and no entry is left (R1: the
/// waiters of *every* direction that became ready are woken).
///
/// Fails when: `first-dir-only`, `readers-only`, `one-per-dir`, and every breakage that fails
/// `one_edge_always_wakes_the_reader` (all: deadlock).
#[test]
fn one_event_for_both_directions_wakes_both() {
    model(Some(2), || {
        let io = Arc::new(Io::default());
        let socket = Arc::new(Socket::default());
        let spawn = |dir: Direction| {
            let (io, socket) = (io.clone(), socket.clone());
            thread::spawn(move || {
                let me = Unparker::default();
                assert!(do_io(&io, &me, dir, Deadline::None, None, || match dir {
                    Direction::Read => socket.read(),
                    Direction::Write => socket.write(),
                }));
                me
            })
        };
        let reader = spawn(Direction::Read);
        let writer = spawn(Direction::Write);
        socket.data.fetch_add(1, SeqCst);
        socket.space.store(true, SeqCst);
        io.set_ready(READABLE | WRITABLE, wake);
        let reader = reader.join().unwrap();
        let writer = writer.join().unwrap();
        assert_eq!(socket.data.load(SeqCst), 0);
        assert_no_entry_left(&io, READABLE | WRITABLE, &[&reader, &writer]);
    });
}

/// A call that gives up is not woken later (R4). Two readers wait on one source, one of them
/// (`hasty`) with a deadline that passes while it is parked: it returns without a wake-up
/// (no data has arrived yet) and cancels its entry, concurrently with the other reader
/// (`patient`) registering on the same list. Only then does the poller make one unit available
/// and report the edge: `patient` completes, and that `set_ready` (and one more after it) does
/// not wake `hasty` — its wake count stays 0. The cancel took out `hasty`'s own entry and not
/// `patient`'s.
///
/// Fails when: `cancel-noop` and `no-cancel` (`hasty` is woken), `cancel-pop-last` (`patient`
/// deadlocks), and every breakage that fails `one_edge_always_wakes_the_reader` (deadlock).
#[test]
fn a_cancelled_entry_is_never_woken_later() {
    model(None, || {
        let io = Arc::new(Io::default());
        let socket = Arc::new(Socket::default());
        let spawn = |deadline: Deadline| {
            let (io, socket) = (io.clone(), socket.clone());
            thread::spawn(move || {
                let me = Unparker::default();
                let done = do_io(&io, &me, Direction::Read, deadline, None, || socket.read());
                (me, done)
            })
        };
        let hasty = spawn(Deadline::PassesWhileParked);
        let patient = spawn(Deadline::None);
        let (hasty, hasty_done) = hasty.join().unwrap();
        assert!(!hasty_done, "no data arrived, yet the call succeeded");
        assert_eq!(hasty.wakes(), 0);
        socket.data_arrives(&io, 1);
        let (patient, patient_done) = patient.join().unwrap();
        assert!(patient_done);
        assert_eq!(socket.data.load(SeqCst), 0);
        assert_eq!(hasty.wakes(), 0, "a cancelled entry was woken");
        assert!(patient.wakes() <= 1);
        assert_no_entry_left(&io, READABLE, &[&patient, &hasty]);
    });
}

/// A give-up racing the edge (R4): as above, but the poller makes two units available and
/// reports the edge while `hasty` registers, gives up and cancels, so the poller may take
/// `hasty`'s entry just before the cancel (a late wake-up, allowed: P4). `patient` always
/// completes, nobody gets more than one wake-up per entry, and once both calls have returned a
/// later `set_ready` wakes neither.
///
/// Fails when: `cancel-pop-last`, `one-per-dir`, and every breakage that fails
/// `one_edge_always_wakes_the_reader` (all: deadlock). It does not see `cancel-noop`: here a
/// stale entry exists only if `hasty` registered before the edge, and then the edge takes it.
#[test]
fn a_give_up_racing_the_edge_leaves_no_entry() {
    model(Some(3), || {
        let io = Arc::new(Io::default());
        let socket = Arc::new(Socket::default());
        let spawn = |deadline: Deadline| {
            let (io, socket) = (io.clone(), socket.clone());
            thread::spawn(move || {
                let me = Unparker::default();
                let done = do_io(&io, &me, Direction::Read, deadline, None, || socket.read());
                (me, done)
            })
        };
        let patient = spawn(Deadline::None);
        let hasty = spawn(Deadline::PassesWhileParked);
        socket.data_arrives(&io, 2);
        let (patient, patient_done) = patient.join().unwrap();
        let (hasty, hasty_done) = hasty.join().unwrap();
        assert!(patient_done);
        assert_eq!(
            socket.data.load(SeqCst),
            if hasty_done { 0 } else { 1 },
            "a read was lost or doubled"
        );
        assert!(patient.wakes() <= 1);
        assert!(hasty.wakes() <= 1);
        assert_no_entry_left(&io, READABLE, &[&patient, &hasty]);
    });
}

/// R5, the tick: two edges of one unit each, and a reader whose every read is short (its
/// buffer holds three units), so each read clears the readable bit. An edge that lands between
/// a read and its `clear_drained` must survive it, or the reader waits without a system call
/// for an edge that already came (a loom deadlock).
///
/// Fails when: `drained-ignores-tick` (`clear_drained` clears whatever the tick), and
/// `no-recheck`, `wake-before-raise`, `no-tick-bump` (all: deadlock).
#[test]
fn a_short_read_racing_an_edge_keeps_it() {
    model(None, || {
        let io = Arc::new(Io::default());
        let socket = Arc::new(StreamSocket::default());
        let reader = {
            let (io, socket) = (io.clone(), socket.clone());
            thread::spawn(move || {
                let me = Unparker::default();
                let mut got = 0;
                while got < 2 {
                    got += do_io_stream(&io, &me, 3, &socket);
                }
                assert_eq!(got, 2);
                me
            })
        };
        socket.arrive(&io, 1, false);
        socket.arrive(&io, 1, false);
        let me = reader.join().unwrap();
        assert_no_entry_left(&io, READABLE, &[&me]);
    });
}

/// R5, the closed bit: the peer's last unit and its FIN come in one edge. The short read that
/// takes the unit clears the readable bit but must leave `READ_CLOSED`, so the next read makes
/// its system call and sees the end of the stream; no later edge would wake it.
///
/// Fails when: `drained-clears-closed` (`clear_drained` clears the whole read mask: deadlock).
#[test]
fn a_fin_that_came_with_the_last_data_is_seen() {
    model(None, || {
        let io = Arc::new(Io::default());
        let socket = Arc::new(StreamSocket::default());
        let reader = {
            let (io, socket) = (io.clone(), socket.clone());
            thread::spawn(move || {
                let me = Unparker::default();
                let mut got = 0;
                loop {
                    match do_io_stream(&io, &me, 3, &socket) {
                        0 => break,
                        n => got += n,
                    }
                }
                assert_eq!(got, 2);
                me
            })
        };
        socket.arrive(&io, 1, false);
        socket.arrive(&io, 1, true);
        let me = reader.join().unwrap();
        assert_no_entry_left(&io, READABLE, &[&me]);
    });
}
