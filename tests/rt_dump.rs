//! `weft::runtime::dump()` and the `SIGQUIT` dump (arch/dump.md).
//!
//! Each wait test parks named coroutines in one kind of wait, takes dumps until they show up
//! parked there (bounded), and checks their entries: state, wait reason and the object it
//! names, spawn site, timer, stack (the test's own blocking function and weft's park) and the
//! `Display`. Every test releases what it parked and joins it: the tests of this binary share
//! one runtime, so each looks its coroutines up by id, never by position.
//!
//! The `SIGQUIT` tests run this binary again as a child (`child_sigquit`, which does nothing
//! unless `WEFT_CHILD` names it) and signal it.

mod support;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use support::{ChildOutput, LiveChild, child_command, child_is, child_report, watchdog};
use weft::chan::{self, Receiver, Sender};
use weft::net::{TcpListener, TcpStream};
use weft::runtime::{CoroutineState, Dump, DumpEntry, Frame, SelectOp, WaitReason};
use weft::sync::{Barrier, Condvar, Mutex, OnceLock, RwLock, Semaphore, WaitGroup};
use weft::thread::{JoinHandle, ThreadId};

/// How long a test waits for its coroutines to show up in a dump as expected (less than
/// `CHILD_SECS`, so that a child fails with its own message rather than being killed).
const POLL_SECS: u64 = 10;
/// A child process that has not finished after this long is killed and its test fails.
const CHILD_SECS: u64 = 20;
/// Timeouts that must not expire during a test (they only make a timer armed).
const LONG: Duration = Duration::from_secs(3600);

/// A coroutine spawned by a test, with its name and the line of its spawn.
struct Co<T> {
    handle: JoinHandle<T>,
    name: &'static str,
    line: u32,
}

/// Spawns a named coroutine and records the line of the spawn call (`line!()` and the spawn's
/// caller location are both the line of this macro's invocation).
macro_rules! co {
    ($name:literal, $body:expr) => {
        Co {
            handle: weft::thread::Builder::new()
                .name($name.into())
                .spawn($body)
                .expect("spawn"),
            name: $name,
            line: line!(),
        }
    };
}

impl<T> Co<T> {
    fn id(&self) -> ThreadId {
        self.handle.thread().id()
    }

    #[track_caller]
    fn join(self) -> T {
        let name = self.name;
        self.handle
            .join()
            .unwrap_or_else(|_| panic!("coroutine '{name}' panicked"))
    }
}

/// Accepts the wait reasons of one kind.
type ReasonIs = fn(&WaitReason) -> bool;

/// Takes dumps until every `(id, reason)` pair shows that coroutine parked for a reason the
/// matcher accepts, and returns that dump. Panics with the last dump after `POLL_SECS`.
#[track_caller]
fn dump_when_parked(waits: &[(ThreadId, ReasonIs)]) -> Dump {
    dump_when("the coroutines parked as expected", |dump| {
        waits.iter().all(|&(id, reason)| {
            dump.get(id).is_some_and(|e| {
                e.state() == CoroutineState::Parked && e.wait_reason().is_some_and(reason)
            })
        })
    })
}

/// Takes dumps (every 5 ms) until `ready` holds for one, and returns it.
#[track_caller]
fn dump_when(what: &str, ready: impl Fn(&Dump) -> bool) -> Dump {
    let deadline = Instant::now() + Duration::from_secs(POLL_SECS);
    loop {
        let dump = weft::runtime::dump();
        if ready(&dump) {
            return dump;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not seen within {POLL_SECS} s; the last dump:\n{dump}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Whether `frame` is weft's park (the innermost frame of a parked coroutine).
fn is_weft_park(frame: &Frame) -> bool {
    frame.function() == "weft::park::park"
        || frame.file().is_some_and(|f| f.ends_with("src/park/mod.rs"))
}

/// Whether `frame` is that of the function `rt_dump::{name}` (debug builds give the path,
/// inlined frames of release builds the short name, generics maybe).
fn is_frame_of(frame: &Frame, name: &str) -> bool {
    let f = frame.function();
    let f = f.strip_prefix("rt_dump::").unwrap_or(f);
    f.strip_prefix(name)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('<') || rest.starts_with("::<"))
}

/// Checks the stack of `entry`: it starts at weft's park, and the function `blocker` of this
/// file is further out.
#[track_caller]
fn check_stack(entry: &DumpEntry, blocker: &str) {
    let name = entry.name().unwrap_or("<unnamed>");
    let frames = entry.frames();
    assert!(
        frames.first().is_some_and(is_weft_park),
        "'{name}': the stack does not start at weft's park:\n{entry}"
    );
    let own = frames
        .iter()
        .position(|f| is_frame_of(f, blocker))
        .unwrap_or_else(|| panic!("'{name}': the stack lacks {blocker}:\n{entry}"));
    let f = &frames[own];
    assert!(
        f.file().is_some_and(|p| p.ends_with("rt_dump.rs")) && f.line().is_some(),
        "'{name}': the frame of {blocker} has no place in rt_dump.rs:\n{entry}"
    );
}

/// Checks the entry of `co` in `dump`, parked with a timer or not, blocked in the test's own
/// function `blocker`, and returns its wait reason for the caller's checks.
#[track_caller]
fn check_parked<'d, T>(dump: &'d Dump, co: &Co<T>, blocker: &str, timer: bool) -> &'d WaitReason {
    let id = co.id();
    let name = co.name;
    let entry: &DumpEntry = dump
        .get(id)
        .unwrap_or_else(|| panic!("'{name}' (id {id}) is not in the dump:\n{dump}"));
    let reason = check_entry(dump, entry, name, co.line);
    assert_eq!(
        entry.state(),
        CoroutineState::Parked,
        "'{name}' is not parked:\n{entry}"
    );
    let reason = reason.unwrap_or_else(|| panic!("parked '{name}' has no wait reason:\n{entry}"));
    assert!(
        entry.waited().is_some(),
        "'{name}' is parked, yet has no wait time:\n{entry}"
    );
    assert_eq!(entry.has_timer(), timer, "'{name}' has_timer:\n{entry}");

    // Its stack: weft's park, then (further out) the test's function that blocked.
    check_stack(entry, blocker);

    let text = entry.to_string();
    let head = format!("coroutine '{name}' (id {id}) [{reason}, ");
    assert!(
        text.starts_with(&head),
        "'{name}': the entry does not start with {head:?}:\n{text}"
    );
    assert_eq!(
        text.lines().next().unwrap().contains(", with a timeout]"),
        timer,
        "'{name}': the header says whether a timer is armed:\n{text}"
    );
    reason
}

/// What every listed entry shows: its identity, spawn site and `Display`, here and in the
/// whole dump's. Returns its wait reason.
#[track_caller]
fn check_entry<'d>(
    dump: &'d Dump,
    entry: &'d DumpEntry,
    name: &str,
    line: u32,
) -> Option<&'d WaitReason> {
    let id = entry.id();
    assert_eq!(entry.name(), Some(name), "{entry}");
    assert_eq!(
        dump.find(name).map(DumpEntry::id),
        Some(id),
        "find('{name}'):\n{dump}"
    );
    assert_eq!(
        dump.iter().filter(|e| e.id() == id).count(),
        1,
        "'{name}' is listed more than once:\n{dump}"
    );
    let at = entry.spawned_at();
    assert!(
        at.file().ends_with("rt_dump.rs") && at.line() == line,
        "'{name}' spawned at {at}, not at rt_dump.rs:{line}"
    );
    let text = entry.to_string();
    assert!(
        text.contains(&format!(", spawned at {}:{line}:", at.file())),
        "'{name}': no spawn site in:\n{text}"
    );
    for f in entry.frames() {
        assert!(
            text.contains(&format!("\n    {}\n", f.function())),
            "'{name}': the frame {} is not shown:\n{text}",
            f.function()
        );
    }
    let whole = dump.to_string();
    assert!(
        whole.contains(&format!("\n\n{text}")),
        "the dump does not show '{name}' as its entry does:\n{text}\n--- the dump:\n{whole}"
    );
    entry.wait_reason()
}

/// Asserts that `addr` lies within the bytes of `object`: the dump names a lock by the address
/// of its shared state, which is inside it.
#[track_caller]
fn assert_inside<T>(addr: usize, object: &T, what: &str) {
    let base = object as *const T as usize;
    assert!(
        (base..base + std::mem::size_of::<T>()).contains(&addr),
        "{what}: {addr:#x} is not inside the object at {base:#x} ({} bytes)",
        std::mem::size_of::<T>()
    );
}

// The functions the coroutines block in: each must show up in the stack of its coroutine.

#[inline(never)]
fn block_in_send(tx: &Sender<u32>, v: u32) -> Result<(), chan::SendError<u32>> {
    tx.send(v)
}

#[inline(never)]
fn block_in_recv(rx: &Receiver<u32>) -> Result<u32, chan::RecvError> {
    rx.recv()
}

#[inline(never)]
fn block_in_recv_timeout(rx: &Receiver<u32>) -> Result<u32, chan::RecvTimeoutError> {
    rx.recv_timeout(LONG)
}

#[inline(never)]
fn block_in_select(rx: &Receiver<u32>, tx: &Sender<u32>) -> &'static str {
    weft::select! {
        recv(rx) -> _ => "recv",
        send(tx, 7) -> _ => "send",
    }
}

#[inline(never)]
fn block_in_timer(after: Duration) -> Instant {
    chan::after(after).recv().expect("a timer channel delivers")
}

#[inline(never)]
fn block_in_sleep(d: Duration) {
    weft::thread::sleep(d);
}

#[inline(never)]
fn block_in_join<T>(h: JoinHandle<T>) -> T {
    h.join().expect("the joined coroutine panicked")
}

#[inline(never)]
fn block_in_park(flag: &AtomicBool) {
    while !flag.load(Ordering::Acquire) {
        weft::thread::park();
    }
}

#[inline(never)]
fn block_in_park_timeout(flag: &AtomicBool) {
    while !flag.load(Ordering::Acquire) {
        weft::thread::park_timeout(LONG);
    }
}

#[inline(never)]
fn block_in_lock(m: &Mutex<u32>) -> u32 {
    *m.lock().unwrap()
}

#[inline(never)]
fn block_in_read_lock(l: &RwLock<u32>) -> u32 {
    *l.read().unwrap()
}

#[inline(never)]
fn block_in_write_lock(l: &RwLock<u32>) -> u32 {
    let mut g = l.write().unwrap();
    *g += 1;
    *g
}

#[inline(never)]
fn block_in_condvar(pair: &(Mutex<bool>, Condvar)) {
    let g = pair.0.lock().unwrap();
    let _g = pair.1.wait_while(g, |ready| !*ready).unwrap();
}

#[inline(never)]
fn block_in_acquire(sem: &Semaphore) {
    drop(sem.acquire());
}

#[inline(never)]
fn block_in_barrier(b: &Barrier) -> bool {
    b.wait().is_leader()
}

#[inline(never)]
fn block_in_wait_group(wg: WaitGroup) {
    wg.wait();
}

#[inline(never)]
fn block_in_once(cell: &OnceLock<u32>) -> u32 {
    *cell.get_or_init(|| 6)
}

#[inline(never)]
fn block_in_read(mut s: &TcpStream) -> usize {
    let mut buf = [0u8; 8];
    s.read(&mut buf).expect("read")
}

#[inline(never)]
fn block_in_accept(l: &TcpListener) -> SocketAddr {
    l.accept().expect("accept").1
}

#[inline(never)]
fn block_in_connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    TcpStream::connect(addr)
}

#[inline(never)]
fn block_in_dump() -> Dump {
    weft::runtime::dump()
}

fn chan_send(r: &WaitReason) -> bool {
    matches!(r, WaitReason::ChanSend { .. })
}

fn chan_recv(r: &WaitReason) -> bool {
    matches!(r, WaitReason::ChanRecv { .. })
}

/// The channel of a `ChanSend` or `ChanRecv`.
#[track_caller]
fn chan_of(r: &WaitReason) -> usize {
    match r {
        WaitReason::ChanSend { chan } | WaitReason::ChanRecv { chan } => *chan,
        other => panic!("not a channel wait: {other:?}"),
    }
}

#[test]
fn a_blocked_send_names_its_channel() {
    watchdog(|| {
        let (tx_a, rx_a) = chan::bounded::<u32>(0);
        let (tx_b, rx_b) = chan::bounded::<u32>(0);
        let (a1, a2, b) = (tx_a.clone(), tx_a.clone(), tx_b.clone());
        let a1 = co!("send-a1", move || block_in_send(&a1, 1).unwrap());
        let a2 = co!("send-a2", move || block_in_send(&a2, 2).unwrap());
        let b = co!("send-b", move || block_in_send(&b, 3).unwrap());
        let dump = dump_when_parked(&[
            (a1.id(), chan_send),
            (a2.id(), chan_send),
            (b.id(), chan_send),
        ]);
        let ra1 = check_parked(&dump, &a1, "block_in_send", false);
        let ra2 = check_parked(&dump, &a2, "block_in_send", false);
        let rb = check_parked(&dump, &b, "block_in_send", false);
        assert!(matches!(ra1, WaitReason::ChanSend { .. }), "{ra1:?}");
        assert_eq!(ra1, ra2, "two senders on one channel");
        assert_ne!(chan_of(ra1), chan_of(rb), "two channels");
        assert!(ra1.needs_a_waker());

        let mut got = [
            rx_a.recv().unwrap(),
            rx_a.recv().unwrap(),
            rx_b.recv().unwrap(),
        ];
        got.sort();
        assert_eq!(got, [1, 2, 3]);
        a1.join();
        a2.join();
        b.join();
        drop((tx_a, tx_b));
    });
}

#[test]
fn a_blocked_receive_names_its_channel_and_its_timer() {
    watchdog(|| {
        let (tx_a, rx_a) = chan::bounded::<u32>(1);
        let (tx_b, rx_b) = chan::unbounded::<u32>();
        let (a1, a2, b, bt) = (rx_a.clone(), rx_a.clone(), rx_b.clone(), rx_b.clone());
        let a1 = co!("recv-a1", move || block_in_recv(&a1).unwrap());
        let a2 = co!("recv-a2", move || block_in_recv(&a2).unwrap());
        let b = co!("recv-b", move || block_in_recv(&b).unwrap());
        let bt = co!("recv-b-timeout", move || block_in_recv_timeout(&bt)
            .unwrap());
        let dump = dump_when_parked(&[
            (a1.id(), chan_recv),
            (a2.id(), chan_recv),
            (b.id(), chan_recv),
            (bt.id(), chan_recv),
        ]);
        let ra1 = check_parked(&dump, &a1, "block_in_recv", false);
        let ra2 = check_parked(&dump, &a2, "block_in_recv", false);
        let rb = check_parked(&dump, &b, "block_in_recv", false);
        // A receive with a timeout has a timer armed.
        let rbt = check_parked(&dump, &bt, "block_in_recv_timeout", true);
        assert!(matches!(ra1, WaitReason::ChanRecv { .. }), "{ra1:?}");
        assert_eq!(ra1, ra2, "two receivers on one channel");
        assert_eq!(rb, rbt, "two receivers on one channel");
        assert_ne!(chan_of(ra1), chan_of(rb), "two channels");
        let entry = dump.get(a1.id()).unwrap().to_string();
        assert!(
            entry.starts_with(&format!(
                "coroutine 'recv-a1' (id {}) [chan receive {:#x}, ",
                a1.id(),
                chan_of(ra1)
            )),
            "{entry}"
        );

        for v in [1, 2] {
            tx_a.send(v).unwrap();
            tx_b.send(v + 10).unwrap();
        }
        let mut got = [a1.join(), a2.join(), b.join(), bt.join()];
        got.sort();
        assert_eq!(got, [1, 2, 11, 12]);
    });
}

#[test]
fn a_blocked_select_lists_its_operations() {
    watchdog(|| {
        let (tx1, rx1) = chan::bounded::<u32>(0);
        let (tx2, rx2) = chan::bounded::<u32>(0);
        // Peers parked on the same channels tell their addresses.
        let (r, t) = (rx1.clone(), tx2.clone());
        let peer_recv = co!("select-peer-recv", move || block_in_recv(&r).is_err());
        let peer_send = co!("select-peer-send", move || block_in_send(&t, 1).is_err());
        let (r, t) = (rx1.clone(), tx2.clone());
        let sel = co!("select", move || block_in_select(&r, &t));
        let dump = dump_when_parked(&[
            (peer_recv.id(), chan_recv),
            (peer_send.id(), chan_send),
            (sel.id(), |r| matches!(r, WaitReason::Select { .. })),
        ]);
        let chan1 = chan_of(check_parked(&dump, &peer_recv, "block_in_recv", false));
        let chan2 = chan_of(check_parked(&dump, &peer_send, "block_in_send", false));
        assert_ne!(chan1, chan2);
        let reason = check_parked(&dump, &sel, "block_in_select", false);
        assert_eq!(
            reason,
            &WaitReason::Select {
                ops: vec![
                    SelectOp {
                        send: false,
                        chan: chan1
                    },
                    SelectOp {
                        send: true,
                        chan: chan2
                    },
                ]
            }
        );
        assert!(
            reason
                .to_string()
                .contains(&format!("(receive {chan1:#x}, send {chan2:#x})")),
            "{reason}"
        );

        // Disconnect both channels: every one of them wakes with an error.
        drop((tx1, rx2, rx1));
        assert!(peer_recv.join());
        assert!(peer_send.join());
        let arm = sel.join();
        assert!(arm == "recv" || arm == "send", "{arm}");
    });
}

#[test]
fn a_timer_receive_and_a_sleep_have_a_timer() {
    watchdog(|| {
        // The first dump of the process resolves symbols, which may take a while: take one
        // with a stack in it before the timers start.
        let warm = co!("timer-warm-up", block_in_dump);
        let warm_id = warm.id();
        let warmed = warm.join();
        assert!(warmed.get(warm_id).is_some());

        let wait = Duration::from_secs(3);
        let timer = co!("timer-receive", move || block_in_timer(wait));
        let sleeper = co!("sleeper", move || block_in_sleep(wait));
        let dump = dump_when_parked(&[
            (timer.id(), |r| *r == WaitReason::Timer),
            (sleeper.id(), |r| *r == WaitReason::Sleep),
        ]);
        let r = check_parked(&dump, &timer, "block_in_timer", true);
        assert_eq!(r, &WaitReason::Timer);
        assert!(!r.needs_a_waker());
        let r = check_parked(&dump, &sleeper, "block_in_sleep", true);
        assert_eq!(r, &WaitReason::Sleep);
        assert!(!r.needs_a_waker());
        // Nothing can end these early: they end when due.
        timer.join();
        sleeper.join();
    });
}

#[test]
fn a_join_names_the_joined_coroutine() {
    watchdog(|| {
        let (tx, rx) = chan::bounded::<u32>(0);
        let joinee = co!("joinee", move || block_in_recv(&rx).unwrap());
        let joinee_id = joinee.id();
        let joinee_name = joinee.name;
        let handle = joinee.handle;
        let joiner = co!("joiner", move || block_in_join(handle));
        let dump = dump_when_parked(&[
            (joinee_id, chan_recv),
            (joiner.id(), |r| matches!(r, WaitReason::Join { .. })),
        ]);
        let r = check_parked(&dump, &joiner, "block_in_join", false);
        assert_eq!(r, &WaitReason::Join { id: joinee_id });
        assert_eq!(dump.get(joinee_id).unwrap().name(), Some(joinee_name));

        tx.send(5).unwrap();
        assert_eq!(joiner.join(), 5);
    });
}

#[test]
fn a_user_park_with_and_without_a_timeout() {
    watchdog(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let f = flag.clone();
        let parked = co!("user-park", move || block_in_park(&f));
        let f = flag.clone();
        let timed = co!("user-park-timeout", move || block_in_park_timeout(&f));
        let is_park = |r: &WaitReason| *r == WaitReason::Park;
        let dump = dump_when_parked(&[(parked.id(), is_park), (timed.id(), is_park)]);
        let r = check_parked(&dump, &parked, "block_in_park", false);
        assert_eq!(r, &WaitReason::Park);
        let r = check_parked(&dump, &timed, "block_in_park_timeout", true);
        assert_eq!(r, &WaitReason::Park);

        flag.store(true, Ordering::Release);
        parked.handle.thread().unpark();
        timed.handle.thread().unpark();
        parked.join();
        timed.join();
    });
}

/// The lock address of a `Mutex`, `RwLock`... wait reason.
#[track_caller]
fn addr_of(r: &WaitReason) -> usize {
    match r {
        WaitReason::Mutex { addr }
        | WaitReason::RwLockRead { addr }
        | WaitReason::RwLockWrite { addr }
        | WaitReason::Condvar { addr }
        | WaitReason::Semaphore { addr }
        | WaitReason::Barrier { addr }
        | WaitReason::WaitGroup { addr }
        | WaitReason::Once { addr } => *addr,
        other => panic!("not a lock wait: {other:?}"),
    }
}

#[test]
fn a_blocked_lock_names_its_mutex() {
    watchdog(|| {
        let a = Arc::new(Mutex::new(1));
        let b = Arc::new(Mutex::new(2));
        let held_a = a.lock().unwrap();
        let held_b = b.lock().unwrap();
        let (m1, m2, m3) = (a.clone(), a.clone(), b.clone());
        let a1 = co!("mutex-a1", move || block_in_lock(&m1));
        let a2 = co!("mutex-a2", move || block_in_lock(&m2));
        let b1 = co!("mutex-b", move || block_in_lock(&m3));
        let is = |r: &WaitReason| matches!(r, WaitReason::Mutex { .. });
        let dump = dump_when_parked(&[(a1.id(), is), (a2.id(), is), (b1.id(), is)]);
        let r1 = check_parked(&dump, &a1, "block_in_lock", false);
        let r2 = check_parked(&dump, &a2, "block_in_lock", false);
        let r3 = check_parked(&dump, &b1, "block_in_lock", false);
        assert!(matches!(r1, WaitReason::Mutex { .. }), "{r1:?}");
        assert_eq!(r1, r2, "two waiters on one mutex");
        assert_inside(addr_of(r1), &*a, "mutex a");
        assert_inside(addr_of(r3), &*b, "mutex b");

        drop(held_a);
        drop(held_b);
        assert_eq!((a1.join(), a2.join(), b1.join()), (1, 1, 2));
    });
}

#[test]
fn a_blocked_read_and_write_name_their_rwlock() {
    watchdog(|| {
        let lock = Arc::new(RwLock::new(0));
        let held = lock.write().unwrap();
        let l = lock.clone();
        let reader = co!("rwlock-reader", move || block_in_read_lock(&l));
        let l = lock.clone();
        let writer = co!("rwlock-writer", move || block_in_write_lock(&l));
        let dump = dump_when_parked(&[
            (reader.id(), |r| matches!(r, WaitReason::RwLockRead { .. })),
            (writer.id(), |r| matches!(r, WaitReason::RwLockWrite { .. })),
        ]);
        let r = check_parked(&dump, &reader, "block_in_read_lock", false);
        let w = check_parked(&dump, &writer, "block_in_write_lock", false);
        assert_eq!(addr_of(r), addr_of(w), "one lock");
        assert_inside(addr_of(r), &*lock, "the rwlock");
        assert!(r.to_string().starts_with("rwlock read 0x"), "{r}");
        assert!(w.to_string().starts_with("rwlock write 0x"), "{w}");

        drop(held);
        let read = reader.join();
        assert!(read == 0 || read == 1, "{read}");
        assert_eq!(writer.join(), 1);
    });
}

#[test]
fn a_condvar_wait_names_the_condvar() {
    watchdog(|| {
        let pair = Arc::new((Mutex::new(false), Condvar::new()));
        let p = pair.clone();
        let waiter = co!("condvar", move || block_in_condvar(&p));
        let dump = dump_when_parked(&[(waiter.id(), |r| matches!(r, WaitReason::Condvar { .. }))]);
        let r = check_parked(&dump, &waiter, "block_in_condvar", false);
        assert_inside(addr_of(r), &pair.1, "the condvar");

        *pair.0.lock().unwrap() = true;
        pair.1.notify_all();
        waiter.join();
    });
}

#[test]
fn a_blocked_acquire_names_the_semaphore() {
    watchdog(|| {
        let sem = Arc::new(Semaphore::new(1));
        let held = sem.acquire();
        let s = sem.clone();
        let waiter = co!("semaphore", move || block_in_acquire(&s));
        let dump =
            dump_when_parked(&[(waiter.id(), |r| matches!(r, WaitReason::Semaphore { .. }))]);
        let r = check_parked(&dump, &waiter, "block_in_acquire", false);
        assert_inside(addr_of(r), &*sem, "the semaphore");

        drop(held);
        waiter.join();
        assert_eq!(sem.available_permits(), 1);
    });
}

#[test]
fn a_barrier_wait_names_the_barrier() {
    watchdog(|| {
        let barrier = Arc::new(Barrier::new(2));
        let b = barrier.clone();
        let waiter = co!("barrier", move || block_in_barrier(&b));
        let dump = dump_when_parked(&[(waiter.id(), |r| matches!(r, WaitReason::Barrier { .. }))]);
        let r = check_parked(&dump, &waiter, "block_in_barrier", false);
        assert_eq!(
            r,
            &WaitReason::Barrier {
                addr: Arc::as_ptr(&barrier) as usize
            }
        );

        // The second party: this one does not wait, and is the leader.
        assert!(barrier.wait().is_leader());
        assert!(!waiter.join());
    });
}

#[test]
fn a_wait_group_wait_names_the_group() {
    watchdog(|| {
        let a = WaitGroup::new();
        let b = WaitGroup::new();
        let (m1, m2, m3) = (a.clone(), a.clone(), b.clone());
        let a1 = co!("wait-group-a1", move || block_in_wait_group(m1));
        let a2 = co!("wait-group-a2", move || block_in_wait_group(m2));
        let b1 = co!("wait-group-b", move || block_in_wait_group(m3));
        let is = |r: &WaitReason| matches!(r, WaitReason::WaitGroup { .. });
        let dump = dump_when_parked(&[(a1.id(), is), (a2.id(), is), (b1.id(), is)]);
        let r1 = check_parked(&dump, &a1, "block_in_wait_group", false);
        let r2 = check_parked(&dump, &a2, "block_in_wait_group", false);
        let r3 = check_parked(&dump, &b1, "block_in_wait_group", false);
        assert_eq!(r1, r2, "one group");
        assert_ne!(r1, r3, "two groups");

        // The last members of each group.
        drop(a);
        drop(b);
        a1.join();
        a2.join();
        b1.join();
    });
}

#[test]
fn a_once_wait_names_the_cell() {
    watchdog(|| {
        let cell = Arc::new(OnceLock::<u32>::new());
        let (tx, rx) = chan::bounded::<u32>(0);
        let c = cell.clone();
        // Holds the initialisation until it receives.
        let init = co!("once-init", move || *c
            .get_or_init(|| block_in_recv(&rx).unwrap()));
        dump_when_parked(&[(init.id(), chan_recv)]);
        let c = cell.clone();
        let waiter = co!("once-wait", move || block_in_once(&c));
        let dump = dump_when_parked(&[(waiter.id(), |r| matches!(r, WaitReason::Once { .. }))]);
        let r = check_parked(&dump, &waiter, "block_in_once", false);
        assert_inside(addr_of(r), &*cell, "the once cell");
        // The initialiser is still in its receive.
        check_parked(&dump, &init, "block_in_recv", false);

        tx.send(5).unwrap();
        assert_eq!(init.join(), 5);
        // The waiter got the initialiser's value, not its own.
        assert_eq!(waiter.join(), 5);
    });
}

#[test]
fn a_socket_read_names_the_descriptor() {
    use std::os::fd::AsRawFd;
    watchdog(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let fd = client.as_raw_fd();
        let reader = co!("socket-read", move || block_in_read(&client));
        let dump =
            dump_when_parked(&[(reader.id(), |r| matches!(r, WaitReason::SocketRead { .. }))]);
        let r = check_parked(&dump, &reader, "block_in_read", false);
        assert_eq!(r, &WaitReason::SocketRead { fd });
        assert!(!r.needs_a_waker());
        assert_eq!(r.to_string(), format!("socket read fd {fd}"));

        server.write_all(b"x").unwrap();
        assert_eq!(reader.join(), 1);
    });
}

#[test]
fn a_blocked_accept_names_the_listener() {
    use std::os::fd::AsRawFd;
    watchdog(|| {
        let listener = Arc::new(TcpListener::bind("127.0.0.1:0").unwrap());
        let addr = listener.local_addr().unwrap();
        let fd = listener.as_raw_fd();
        let l = listener.clone();
        let acceptor = co!("socket-accept", move || block_in_accept(&l));
        let dump = dump_when_parked(&[(acceptor.id(), |r| matches!(r, WaitReason::Accept { .. }))]);
        let r = check_parked(&dump, &acceptor, "block_in_accept", false);
        assert_eq!(r, &WaitReason::Accept { fd });

        let client = TcpStream::connect(addr).unwrap();
        assert_eq!(acceptor.join(), client.local_addr().unwrap());
    });
}

#[test]
fn a_blocked_connect_names_its_socket() {
    watchdog(|| {
        // A listener whose accept queue is full drops new SYNs, so a connect to it waits
        // (retrying) instead of completing: fill a queue of backlog 0, accepting nothing.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        support::deepen_backlog(&listener, 0);
        let addr = listener.local_addr().unwrap();
        let mut queued = Vec::new();
        let full = loop {
            if queued.len() == 8 {
                break false;
            }
            match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
                Ok(s) => queued.push(s),
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => break true,
                Err(e) => panic!("connect to the filled listener: {e}"),
            }
        };
        if !full {
            eprintln!(
                "SKIPPED: the kernel completed {} connects to a listener of backlog 0 without \
                 accepting; no connect can be made to wait",
                queued.len()
            );
            return;
        }
        let connector = co!("socket-connect", move || block_in_connect(addr));
        let dump =
            dump_when_parked(&[(connector.id(), |r| matches!(r, WaitReason::Connect { .. }))]);
        let r = check_parked(&dump, &connector, "block_in_connect", false);
        let WaitReason::Connect { fd } = *r else {
            unreachable!()
        };
        assert!(!r.needs_a_waker());
        // The socket is not the test's to see: check the descriptor is this process's socket,
        // and end the connect through it (shutdown of a connecting socket resets it).
        let link = std::fs::read_link(format!("/proc/self/fd/{fd}")).unwrap();
        assert!(
            link.to_string_lossy().starts_with("socket:["),
            "fd {fd} is {link:?}"
        );
        // SAFETY: shutdown(2) on the descriptor the parked connect owns and keeps open until
        // it returns, which it cannot do before this call wakes it.
        let rc = unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
        assert_eq!(rc, 0, "shutdown: {}", std::io::Error::last_os_error());
        assert!(connector.join().is_err(), "the reset connect fails");
        drop((queued, listener));
    });
}

#[test]
fn a_join_of_a_blocking_job_is_a_blocking_wait() {
    watchdog(|| {
        let (tx, rx) = mpsc::channel::<u32>();
        let joiner = co!("blocking-joiner", move || {
            let job = weft::thread::spawn_blocking(move || rx.recv().unwrap());
            block_in_join(job)
        });
        let dump = dump_when_parked(&[(joiner.id(), |r| *r == WaitReason::Blocking)]);
        let r = check_parked(&dump, &joiner, "block_in_join", false);
        assert_eq!(r.to_string(), "spawn_blocking job");
        assert!(!r.needs_a_waker());

        tx.send(9).unwrap();
        assert_eq!(joiner.join(), 9);
    });
}

#[test]
fn a_yielding_coroutine_is_runnable() {
    watchdog(|| {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let spinner = co!("spinner", move || {
            let mut n = 0u64;
            while !s.load(Ordering::Acquire) {
                n += 1;
                weft::thread::yield_now();
            }
            n
        });
        let id = spinner.id();
        let dump = dump_when("the spinner listed", |d| d.get(id).is_some());
        let entry = dump.get(id).unwrap();
        check_entry(&dump, entry, spinner.name, spinner.line);
        let text = entry.to_string();
        match entry.state() {
            CoroutineState::Runnable => {
                assert!(text.contains(" [runnable], spawned at "), "{text}")
            }
            CoroutineState::Running => assert!(text.contains(" [running on worker "), "{text}"),
            CoroutineState::Parked => panic!("a yielding coroutine is listed as parked:\n{text}"),
            _ => panic!("unknown state:\n{text}"),
        }
        assert_eq!(entry.wait_reason(), None, "{text}");
        assert_eq!(entry.waited(), None, "{text}");
        assert!(!entry.has_timer(), "{text}");

        stop.store(true, Ordering::Release);
        assert!(spinner.join() > 0);
    });
}

/// A coroutine that waited in a select and now only yields keeps the select's old reason in
/// its task, pointing into a frame that is gone (here overwritten on purpose): a dump must
/// not read it (it is read only for a parked coroutine, DU1). Before that rule, a dump of
/// this coroutine called through the overwritten frame.
#[test]
fn a_yielding_coroutine_after_a_select_is_dumped_without_its_old_reason() {
    #[inline(never)]
    fn scribble() -> u8 {
        let junk = std::hint::black_box([0xA5u8; 8192]);
        junk[junk.len() / 2]
    }
    watchdog(|| {
        let (tx, rx) = chan::bounded::<u32>(0);
        let (_tx2, rx2) = chan::bounded::<u32>(0);
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let looper = co!("select-then-yield", move || {
            // Waits in the select (parked, reason Select) until the message comes.
            let got = weft::select! {
                recv(rx) -> v => v.unwrap(),
                recv(rx2) -> v => v.unwrap(),
            };
            let mut n = 0u64;
            while !s.load(Ordering::Acquire) {
                n += u64::from(scribble());
                weft::thread::yield_now();
            }
            (got, n)
        });
        let id = looper.id();
        dump_when("the select parked", |d| {
            d.get(id)
                .is_some_and(|e| matches!(e.wait_reason(), Some(WaitReason::Select { .. })))
        });
        tx.send(7).unwrap();
        let mut yielding = 0;
        for _ in 0..40 {
            let dump = weft::runtime::dump();
            if let Some(entry) = dump.get(id)
                && entry.state() != CoroutineState::Parked
            {
                assert_eq!(entry.wait_reason(), None, "{entry}");
                yielding += 1;
            }
        }
        stop.store(true, Ordering::Release);
        let (got, n) = looper.join();
        assert_eq!(got, 7);
        assert!(n > 0);
        assert!(yielding > 0, "the coroutine was never seen yielding");
    });
}

#[test]
fn a_dump_taken_in_a_coroutine_lists_it_waiting_for_the_dump() {
    watchdog(|| {
        let (tx, rx) = chan::bounded::<u32>(0);
        let peer = co!("dump-peer", move || block_in_recv(&rx).unwrap());
        dump_when_parked(&[(peer.id(), chan_recv)]);
        let dumper = co!("dumper", block_in_dump);
        let (id, name, line) = (dumper.id(), dumper.name, dumper.line);
        let dump = dumper.join();

        // The dumper, as it stood while its dump was taken.
        let entry = dump
            .get(id)
            .unwrap_or_else(|| panic!("no dumper in:\n{dump}"));
        let reason = check_entry(&dump, entry, name, line);
        assert_eq!(reason, Some(&WaitReason::Dump), "{entry}");
        assert_eq!(entry.state(), CoroutineState::Parked, "{entry}");
        check_stack(entry, "block_in_dump");
        assert!(
            entry
                .to_string()
                .starts_with(&format!("coroutine 'dumper' (id {id}) [dump, ")),
            "{entry}"
        );
        // The others are listed too.
        check_parked(&dump, &peer, "block_in_recv", false);
        let whole = dump.to_string();
        assert!(whole.starts_with("weft: "), "{whole}");
        assert!(whole.contains(" coroutines at "), "{whole}");

        tx.send(1).unwrap();
        assert_eq!(peer.join(), 1);
    });
}

#[test]
fn dumps_taken_at_once_on_several_threads_each_list_every_coroutine() {
    watchdog(|| {
        let (tx, rx) = chan::bounded::<u32>(0);
        let cos: Vec<Co<u32>> = (0..4)
            .map(|_| {
                let rx = rx.clone();
                co!("concurrent-dumps", move || block_in_recv(&rx).unwrap())
            })
            .collect();
        let ids: Arc<Vec<ThreadId>> = Arc::new(cos.iter().map(Co::id).collect());
        let waits: Vec<_> = ids.iter().map(|&id| (id, chan_recv as ReasonIs)).collect();
        dump_when_parked(&waits);
        // Each collector's request must be answered by every worker, whoever else asks.
        let takers: Vec<_> = (0..4)
            .map(|_| {
                let ids = ids.clone();
                std::thread::spawn(move || {
                    for _ in 0..25 {
                        let dump = weft::runtime::dump();
                        for &id in ids.iter() {
                            let listed = dump.get(id).is_some_and(|e| {
                                e.state() == CoroutineState::Parked
                                    && e.wait_reason().is_some_and(chan_recv)
                            });
                            assert!(
                                listed,
                                "coroutine {id} is missing or not parked in:\n{dump}"
                            );
                        }
                    }
                })
            })
            .collect();
        for t in takers {
            t.join().expect("a dump missed a parked coroutine");
        }

        for v in 0..4 {
            tx.send(v).unwrap();
        }
        let mut got: Vec<u32> = cos.into_iter().map(Co::join).collect();
        got.sort();
        assert_eq!(got, [0, 1, 2, 3]);
    });
}

#[test]
fn child_one_worker() {
    if !child_is("one-worker") {
        return;
    }
    // A registered socket makes the idle worker sleep in the I/O driver's poll (D1), not on
    // its parker: the dump must wake it there.
    let listener = Arc::new(TcpListener::bind("127.0.0.1:0").unwrap());
    let addr = listener.local_addr().unwrap();
    let l = listener.clone();
    let acceptor = co!("one-worker-acceptor", move || block_in_accept(&l));
    let (tx, rx) = chan::bounded::<u32>(0);
    let waiter = co!("one-worker-waiter", move || block_in_recv(&rx).unwrap());
    let dump = dump_when_parked(&[
        (acceptor.id(), |r| matches!(r, WaitReason::Accept { .. })),
        (waiter.id(), chan_recv),
    ]);
    check_parked(&dump, &waiter, "block_in_recv", false);
    assert_eq!(dump.held_workers(), &[], "{dump}");
    // Again, now that the worker has been idle for a while.
    std::thread::sleep(Duration::from_millis(50));
    let dump = weft::runtime::dump();
    check_parked(&dump, &waiter, "block_in_recv", false);
    check_parked(&dump, &acceptor, "block_in_accept", false);
    tx.send(3).unwrap();
    assert_eq!(waiter.join(), 3);
    let client = TcpStream::connect(addr).unwrap();
    assert_eq!(acceptor.join(), client.local_addr().unwrap());
    child_report("listed", "yes");
}

#[test]
fn a_dump_wakes_a_worker_asleep_in_the_io_poll() {
    watchdog(|| {
        let out = support::run_child_with_timeout(
            "child_one_worker",
            "one-worker",
            &[("WEFT_WORKERS", "1")],
            CHILD_SECS,
        );
        out.assert_success();
        assert_eq!(out.stdout_value("listed"), "yes", "{}", out.dump());
    });
}

// ---- SIGQUIT ------------------------------------------------------------------------------

/// How the child treats `SIGQUIT` before the runtime starts (`DUMP_TEST_QUIT`).
const QUIT_MODE: &str = "DUMP_TEST_QUIT";

/// Counts the signals the child's own handler got.
static OWN_HANDLER_CALLS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn own_quit_handler(_sig: libc::c_int) {
    OWN_HANDLER_CALLS.fetch_add(1, Ordering::SeqCst);
    let msg = b"own handler called\n";
    // SAFETY: write(2) of a static buffer is async-signal-safe.
    unsafe { libc::write(1, msg.as_ptr().cast(), msg.len()) };
}

/// The current action of `SIGQUIT`: "default", "ignored", "own" (the child's handler) or
/// "other".
fn quit_action() -> &'static str {
    // SAFETY: a zeroed sigaction is a valid out-parameter; a null new action only reads.
    let old = unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        assert_eq!(
            libc::sigaction(libc::SIGQUIT, std::ptr::null(), &mut old),
            0
        );
        old.sa_sigaction
    };
    match old {
        libc::SIG_DFL => "default",
        libc::SIG_IGN => "ignored",
        h if h == own_quit_handler as *const () as usize => "own",
        _ => "other",
    }
}

#[test]
fn child_sigquit() {
    if !child_is("sigquit") {
        return;
    }
    // The program's own choice, made before the runtime starts.
    match std::env::var(QUIT_MODE).as_deref() {
        Ok("ignore") => {
            // SAFETY: sets the action of SIGQUIT to "ignore"; no handler involved.
            unsafe { libc::signal(libc::SIGQUIT, libc::SIG_IGN) };
        }
        Ok("handler") => {
            // SAFETY: the handler only counts and calls write(2) (async-signal-safe).
            unsafe {
                libc::signal(
                    libc::SIGQUIT,
                    own_quit_handler as *const () as libc::sighandler_t,
                )
            };
        }
        _ => {}
    }
    child_report("before", quit_action());
    let (tx, rx) = chan::bounded::<u32>(0);
    let waiter = co!("quit-waiter", move || block_in_recv(&rx).unwrap());
    dump_when_parked(&[(waiter.id(), chan_recv)]);
    child_report("id", waiter.id());
    child_report("after_start", quit_action());
    println!("ready");
    // The parent signals, then closes our stdin.
    let mut rest = Vec::new();
    std::io::stdin().read_to_end(&mut rest).unwrap();
    child_report("at_end", quit_action());
    child_report("own_calls", OWN_HANDLER_CALLS.load(Ordering::SeqCst));
    tx.send(4).unwrap();
    assert_eq!(waiter.join(), 4);
    println!("done");
}

/// Starts `child_sigquit` with `SIGQUIT` at its default action and unblocked (a CI shell may
/// start us with it ignored, and exec keeps that), and waits until it is ready.
fn start_quit_child(mode: &str, envs: &[(&str, &str)]) -> LiveChild {
    use std::os::unix::process::CommandExt;
    let mut all = vec![(QUIT_MODE, mode)];
    all.extend_from_slice(envs);
    let mut cmd = child_command("child_sigquit", "sigquit", &all, false);
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    // SAFETY: runs in the forked child before exec; signal, sigemptyset, sigaddset and
    // sigprocmask are async-signal-safe and touch only the child's own state and locals.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGQUIT, libc::SIG_DFL);
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGQUIT);
            libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
            Ok(())
        });
    }
    let mut child = LiveChild::spawn(cmd, format!("child_sigquit ({mode})"), CHILD_SECS);
    child.wait_for_stdout("ready\n");
    child
}

#[track_caller]
fn send_quit(child: &LiveChild) {
    // SAFETY: kill(2) with a valid signal to our own child, which has not been waited for.
    let rc = unsafe { libc::kill(child.pid(), libc::SIGQUIT) };
    assert_eq!(rc, 0, "kill: {}", std::io::Error::last_os_error());
}

const QUIT_BANNER: &str = "weft: SIGQUIT: dump of every coroutine";

#[test]
fn sigquit_prints_the_dump_and_the_program_goes_on() {
    watchdog(|| {
        let mut child = start_quit_child("default", &[]);
        let id = support::reported(&child.stdout_text(), "id").expect("the child reports its id");
        send_quit(&child);
        let head = format!("coroutine 'quit-waiter' (id {id}) [chan receive ");
        child.wait_for_stderr(&head);
        // The entry's last part: its stack, down to the test's own function.
        child.wait_for_stderr("block_in_recv");
        drop(child.take_stdin());
        let out = child.finish();
        out.assert_success()
            .assert_stdout_contains("done")
            .assert_stderr_contains(QUIT_BANNER);
        assert_eq!(out.stdout_value("before"), "default", "{}", out.dump());
        assert_eq!(out.stdout_value("after_start"), "other", "{}", out.dump());
        assert_eq!(out.stderr.matches(QUIT_BANNER).count(), 1, "{}", out.dump());
        let entry = &out.stderr[out.stderr.find(&head).unwrap()..];
        assert!(
            entry.contains(", spawned at ") && entry.contains("rt_dump.rs:"),
            "{}",
            out.dump()
        );
        assert!(
            out.stderr.find(QUIT_BANNER) < out.stderr.find(&head),
            "{}",
            out.dump()
        );
    });
}

#[test]
fn sigquit_kills_when_weft_sigquit_is_off() {
    use std::os::unix::process::ExitStatusExt;
    watchdog(|| {
        let child = start_quit_child("default", &[("WEFT_SIGQUIT", "off")]);
        send_quit(&child);
        // The child still waits on its stdin: only the signal can end it.
        let out = child.finish();
        assert_eq!(out.status.signal(), Some(libc::SIGQUIT), "{}", out.dump());
        assert_eq!(out.stdout_value("after_start"), "default", "{}", out.dump());
        out.assert_stderr_lacks(QUIT_BANNER);
        assert!(!out.stdout.contains("done"), "{}", out.dump());
    });
}

#[test]
fn sigquit_ignored_by_the_program_stays_ignored() {
    watchdog(|| {
        let mut child = start_quit_child("ignore", &[]);
        send_quit(&child);
        drop(child.take_stdin());
        let out = quit_left_alone(child.finish());
        assert_eq!(out.stdout_value("at_end"), "ignored", "{}", out.dump());
    });
}

#[test]
fn sigquit_handled_by_the_program_stays_its_own() {
    watchdog(|| {
        let mut child = start_quit_child("handler", &[]);
        send_quit(&child);
        // The program's handler got it.
        child.wait_for_stdout("own handler called");
        drop(child.take_stdin());
        let out = quit_left_alone(child.finish());
        assert_eq!(out.stdout_value("at_end"), "own", "{}", out.dump());
        assert_eq!(out.stdout_value("own_calls"), "1", "{}", out.dump());
    });
}

/// Checks a child whose `SIGQUIT` action was the program's: weft did not take it over, printed
/// no dump, and the program finished.
#[track_caller]
fn quit_left_alone(out: ChildOutput) -> ChildOutput {
    out.assert_success()
        .assert_stdout_contains("done")
        .assert_stderr_lacks(QUIT_BANNER);
    let before = out.stdout_value("before");
    assert_ne!(before, "default", "{}", out.dump());
    assert_eq!(out.stdout_value("after_start"), before, "{}", out.dump());
    out
}
