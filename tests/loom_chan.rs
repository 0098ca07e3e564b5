//! Loom models of the channel waiting protocol: the selection word (chan/selection.rs, C1–C4),
//! waiter entries and wait queues (chan/waiter.rs, W1–W3), the hand-off under the channel lock
//! (chan/channel.rs, CH1–CH4) and select's registration (chan/select.rs, SE2–SE4).
//!
//! `src/chan/selection.rs` is compiled here as it is, against a loom facade of the shape of
//! `src/loom.rs`. waiter.rs, channel.rs and select.rs cannot run under loom (parking_lot,
//! weft's park, entries on the owner's stack), so they are re-expressed below step for step,
//! each function named after the one it stands for:
//! - a channel = `loom::sync::Mutex` around its state: buffer, `senders_q` and `receivers_q`,
//!   each queue a `VecDeque<Arc<Entry>>`;
//! - an entry's slot = `loom::cell::UnsafeCell<Option<u32>>`, so loom checks every access to
//!   the message for a data race (W3, C2);
//! - the owner's unparker = a one-token parker, `loom::sync::Notify` (which also explores a
//!   spurious wake-up, P4), kept in an `UnsafeCell` of the waiter: the claimer clones it before
//!   `complete` (C3) and wakes the owner through the clone after unlocking (CH3). (Not loom's
//!   `Thread::unpark`: C3 allows a late wake-up to reach the owner after its call returned,
//!   when it may be blocked in a loom `Mutex` or `join`, and loom's `unpark` then wrongly makes
//!   that thread runnable and trips loom's own assertions. weft's `Unparker` is a token, like
//!   `Notify`.)
//! - the owner's frame going away when its call returns (W1, C3) = the owner writing the cells
//!   of its entries and its waiter (`free`); every access by anyone else first reads the
//!   entry's `live` cell (`touch`), so a touch that is not ordered before the owner's return is
//!   a loom causality error, and one after it fails an assertion;
//! - a deadline: loom has no clock, so `deadline == true` means "the deadline passes while the
//!   call waits": it was still ahead at the try pass, and the first time the owner finds its
//!   call `Waiting` it gives up with `try_abort` instead of parking.
//!
//! A lost wake-up shows as a loom deadlock.
//!
//! Every model was run against deliberately broken protocols and fails on those listed under
//! "Fails when" in its doc (the breakages, by name):
//! - `relaxed-complete`: `Selection::complete` stores with `Relaxed` (selection.rs);
//! - `relaxed-seen`: `Selection::seen` loads with `Relaxed` (selection.rs);
//! - `blind-abort`: `try_abort` stores `ABORTED` whatever the state (selection.rs);
//! - `skip-claim`: `claim` takes the first entry without `try_claim` (C1);
//! - `late-unparker`: the claimer copies the unparker after `complete`, still under the lock
//!   (C3);
//! - `late-put`: a sender puts the message into a receiver's entry after `complete` (C2, C3);
//! - `touch-after-unlock`: the claimer reads the entry and the waiter after `complete`, once
//!   it has unlocked (C3, W2);
//! - `early-wake`: the claimer wakes the owner before `complete`, not after (C4);
//! - `skip-remove`: an owner whose call was aborted or completed elsewhere leaves its entry
//!   queued (W1, SE4).
//!
//! The select models do not see `relaxed-complete`, `relaxed-seen`, `late-unparker` and
//! `late-put`, and that is the code, not the model: select.rs retakes every lock of the call,
//! the winning channel's included, before it reads the completed entry (SE4), and the lock
//! orders the transfer. C2's release/acquire carries the transfer only for plain `send` and
//! `recv`, which read their entry without the lock.
//!
//! The models with two loom threads explore every interleaving; those with three use a
//! preemption bound of 4. The file runs in 10–15 s on 2 cores (`--nocapture` prints how many
//! executions each model explored).
//!
//! Run: `RUSTFLAGS="--cfg weft_loom" CARGO_TARGET_DIR=target/loom cargo test --release --test
//! loom_chan`
#![cfg(weft_loom)]
#![allow(dead_code)]

mod loom {
    pub(crate) mod sync {
        pub(crate) mod atomic {
            pub(crate) use ::loom::sync::atomic::{AtomicUsize, Ordering};
        }
    }
}

#[path = "../src/chan/selection.rs"]
mod selection;

use std::collections::VecDeque;

use ::loom::cell::UnsafeCell;
use ::loom::sync::{Arc, Mutex, MutexGuard, Notify};
use ::loom::thread;
use selection::{Seen, Selection};

// ---------------------------------------------------------------------------------------------
// Cell access: every read and write of a cell goes through these two, and loom checks each
// against every other access to the same cell.

/// Reads a cell.
fn read<T: Clone>(cell: &UnsafeCell<T>) -> T {
    // SAFETY: loom runs one model thread at a time and fails the model if this read is not
    // ordered after every write to the cell (a data race in the protocol).
    cell.with(|p| unsafe { (*p).clone() })
}

/// Writes a cell, returning what it held.
fn replace<T>(cell: &UnsafeCell<T>, value: T) -> T {
    // SAFETY: as in `read`, for a write: loom fails the model unless it is ordered with every
    // other access to the cell.
    cell.with_mut(|p| unsafe { std::mem::replace(&mut *p, value) })
}

// ---------------------------------------------------------------------------------------------
// waiter.rs

/// `park::Unparker`: wakes one owner; a wake-up that comes first is kept (one token).
type Unparker = Arc<Notify>;

/// `Waiter`: the selection word of one blocking call and how to wake its owner.
struct Waiter {
    sel: Selection,
    /// The owner's own side of its parker (`park::park`).
    parker: Unparker,
    /// The owner's unparker: cloned by a claimer before `complete` (C3); gone (`free`) once the
    /// owner's call returns.
    unparker: UnsafeCell<Option<Unparker>>,
}

// SAFETY: the cell is only reached through `read` and `replace`, which loom checks (C3, W2);
// that is not ordered.
unsafe impl Sync for Waiter {}

impl Waiter {
    /// `Waiter::new`: for the calling (loom) thread.
    fn new() -> Arc<Waiter> {
        let parker = Arc::new(Notify::new());
        Arc::new(Waiter {
            sel: Selection::new(),
            unparker: UnsafeCell::new(Some(parker.clone())),
            parker,
        })
    }

    /// `Waiter::wait`. `deadline`: the deadline passes while waiting (see the file's doc).
    fn wait(&self, deadline: bool) -> Option<usize> {
        loop {
            match self.sel.seen() {
                Seen::Done(case) => return Some(case),
                Seen::Aborted => return None,
                // C4: the claimer wakes us after completing.
                Seen::Claimed => self.parker.wait(),
                Seen::Waiting => {
                    if deadline {
                        if self.sel.try_abort() {
                            return None;
                        }
                        continue;
                    }
                    self.parker.wait();
                }
            }
        }
    }

    /// The owner's call returns: the waiter goes away with its frame.
    fn free(&self) {
        replace(&self.unparker, None);
    }
}

/// `Entry`: one operation of a blocked call, on a wait queue.
struct Entry {
    waiter: Arc<Waiter>,
    case: usize,
    /// A send's message, or where a receive's message is put (W3).
    slot: UnsafeCell<Option<u32>>,
    /// `false` once the owner's call returned and the entry is gone with its frame.
    live: UnsafeCell<bool>,
}

// SAFETY: as for `Waiter`.
unsafe impl Sync for Entry {}

impl Entry {
    /// `Entry::new`.
    fn new(waiter: &Arc<Waiter>, case: usize, slot: Option<u32>) -> Arc<Entry> {
        Arc::new(Entry {
            waiter: waiter.clone(),
            case,
            slot: UnsafeCell::new(slot),
            live: UnsafeCell::new(true),
        })
    }

    /// Anyone but the owner, before using the entry (W2): the owner's frame must still be there.
    fn touch(&self) {
        assert!(
            read(&self.live),
            "W1/W2: an entry was touched after its owner returned"
        );
    }

    /// `Entry::take`: the owner, once `Done` was seen or the entry is off every queue.
    fn take(&self) -> Option<u32> {
        replace(&self.slot, None)
    }

    /// The owner's call returns: the entry goes away with its frame.
    fn free(&self) {
        replace(&self.live, false);
        replace(&self.slot, None);
    }
}

/// `Claimed`: an entry whose call this thread has claimed (C1).
struct Claimed {
    entry: Arc<Entry>,
    unparker: Unparker,
}

impl Claimed {
    /// `Claimed::take`.
    fn take(&mut self) -> Option<u32> {
        self.entry.touch();
        replace(&self.entry.slot, None)
    }

    /// `Claimed::put`.
    fn put(&mut self, value: u32) {
        self.entry.touch();
        replace(&self.entry.slot, Some(value));
    }

    /// `Claimed::finish`: publishes the transfer (C2); the entry is not touched after `complete`
    /// (C3).
    fn finish(self) -> Unparker {
        self.entry.touch();
        self.entry.waiter.sel.complete(self.entry.case);
        self.unparker
    }
}

type WaitQueue = VecDeque<Arc<Entry>>;

/// `WaitQueue::claim`.
fn claim(q: &mut WaitQueue) -> Option<Claimed> {
    while let Some(entry) = q.pop_front() {
        // W2: we hold the channel lock, so the entry's owner has not returned.
        entry.touch();
        let waiter = &entry.waiter;
        if waiter.sel.try_claim() {
            // C3: copied now; the waiter may be gone once the claim completes.
            return Some(Claimed {
                unparker: read(&waiter.unparker).expect("a waiting owner has its unparker"),
                entry,
            });
        }
    }
    None
}

/// `WaitQueue::remove` (W1).
fn remove(q: &mut WaitQueue, entry: &Arc<Entry>) {
    if let Some(i) = q.iter().position(|e| Arc::ptr_eq(e, entry)) {
        q.remove(i);
    }
}

/// `WaitQueue::disconnect`.
fn disconnect(q: &mut WaitQueue) -> Vec<Unparker> {
    let mut wake = Vec::new();
    while let Some(claimed) = claim(q) {
        wake.push(claimed.finish());
    }
    wake
}

// ---------------------------------------------------------------------------------------------
// channel.rs

#[derive(Debug, PartialEq, Eq)]
enum TrySend {
    /// Sent: handed straight to a waiting receiver (`true`, who must be woken) or buffered.
    Sent(bool),
    Full(u32),
    Disconnected(u32),
}

#[derive(Debug, PartialEq, Eq)]
enum TryRecv {
    Got(u32),
    Empty,
    Disconnected,
}

#[derive(Default)]
struct State {
    buf: VecDeque<u32>,
    senders_q: WaitQueue,
    receivers_q: WaitQueue,
    tx_gone: bool,
    rx_gone: bool,
}

/// `Chan`: one lock around the buffer and both wait queues.
struct Chan {
    state: Mutex<State>,
    cap: Option<usize>,
}

fn wake_one(wake: Option<Unparker>) {
    if let Some(u) = wake {
        u.notify();
    }
}

impl Chan {
    fn new(cap: Option<usize>) -> Chan {
        Chan {
            state: Mutex::new(State::default()),
            cap,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    /// `Chan::try_send_locked`; the receiver to wake (after unlocking) goes to `wake`.
    fn try_send_locked(&self, st: &mut State, value: u32, wake: &mut Option<Unparker>) -> TrySend {
        if st.rx_gone {
            return TrySend::Disconnected(value);
        }
        if let Some(mut receiver) = claim(&mut st.receivers_q) {
            receiver.put(value);
            *wake = Some(receiver.finish());
            return TrySend::Sent(true);
        }
        if self.cap.is_none_or(|cap| st.buf.len() < cap) {
            st.buf.push_back(value);
            return TrySend::Sent(false);
        }
        TrySend::Full(value)
    }

    /// `Chan::try_recv_locked`; the sender to wake (after unlocking) goes to `wake`.
    fn try_recv_locked(&self, st: &mut State, wake: &mut Option<Unparker>) -> TryRecv {
        if let Some(value) = st.buf.pop_front() {
            // CH1: the freed slot goes to the oldest waiting sender.
            if let Some(mut sender) = claim(&mut st.senders_q) {
                let v = sender.take().expect("a waiting sender holds its message");
                st.buf.push_back(v);
                *wake = Some(sender.finish());
            }
            return TryRecv::Got(value);
        }
        if let Some(mut sender) = claim(&mut st.senders_q) {
            let value = sender.take().expect("a waiting sender holds its message");
            *wake = Some(sender.finish());
            return TryRecv::Got(value);
        }
        if st.tx_gone {
            TryRecv::Disconnected
        } else {
            TryRecv::Empty
        }
    }

    /// `Chan::try_send`.
    fn try_send(&self, value: u32) -> TrySend {
        let mut wake = None;
        let r = self.try_send_locked(&mut self.lock(), value, &mut wake);
        wake_one(wake);
        r
    }

    /// `Chan::try_recv`.
    fn try_recv(&self) -> TryRecv {
        let mut wake = None;
        let r = self.try_recv_locked(&mut self.lock(), &mut wake);
        wake_one(wake);
        r
    }

    /// `Chan::send`: `Ok(handed to a waiting receiver)`, or `Err((timed_out, message))`.
    fn send(&self, value: u32, deadline: bool) -> Result<bool, (bool, u32)> {
        let mut st = self.lock();
        let mut wake = None;
        let value = match self.try_send_locked(&mut st, value, &mut wake) {
            TrySend::Sent(handed) => {
                drop(st);
                wake_one(wake);
                return Ok(handed);
            }
            TrySend::Disconnected(v) => return Err((false, v)),
            TrySend::Full(v) => v,
        };
        let waiter = Waiter::new();
        let entry = Entry::new(&waiter, 0, Some(value));
        st.senders_q.push_back(entry.clone());
        drop(st);
        let done = waiter.wait(deadline);
        if done.is_none() {
            // W1: off the queue before the entry goes away.
            remove(&mut self.lock().senders_q, &entry);
        }
        let r = match (done, entry.take()) {
            (Some(_), None) => Ok(false),
            // Completed by the receivers' disconnection (CH4): the message comes back.
            (Some(_), Some(v)) => Err((false, v)),
            (None, Some(v)) => Err((true, v)),
            (None, None) => unreachable!("an aborted send keeps its message"),
        };
        entry.free();
        waiter.free();
        r
    }

    /// `Chan::recv`: `Ok(value)`, or `Err(timed_out)`.
    fn recv(&self, deadline: bool) -> Result<u32, bool> {
        let mut st = self.lock();
        let mut wake = None;
        match self.try_recv_locked(&mut st, &mut wake) {
            TryRecv::Got(v) => {
                drop(st);
                wake_one(wake);
                return Ok(v);
            }
            TryRecv::Disconnected => return Err(false),
            TryRecv::Empty => {}
        }
        let waiter = Waiter::new();
        let entry = Entry::new(&waiter, 0, None);
        st.receivers_q.push_back(entry.clone());
        drop(st);
        let done = waiter.wait(deadline);
        if done.is_none() {
            remove(&mut self.lock().receivers_q, &entry);
        }
        let r = match (done, entry.take()) {
            (Some(_), Some(v)) => Ok(v),
            // Completed by the senders' disconnection (CH4).
            (Some(_), None) => Err(false),
            (None, _) => Err(true),
        };
        entry.free();
        waiter.free();
        r
    }

    /// A select's chosen send on a rendezvous channel (SE5): claims a waiting receiver under
    /// the lock (`Chan::promise_send_locked`), then, with the lock released, either gives it
    /// the message (`SendReady::send`: put, complete, wake) or gives the claim back
    /// (`Chan::release_partner`: under the lock, a plain sender that queued meanwhile meets the
    /// receiver; else `Claimed::unclaim`, the entry queued again at the front; then the
    /// wake). Returns whether it claimed a receiver.
    fn lazy_send(&self, give: Option<u32>) -> bool {
        let claimed = claim(&mut self.lock().receivers_q);
        let Some(mut receiver) = claimed else {
            return false;
        };
        match give {
            Some(value) => {
                receiver.put(value);
                receiver.finish().notify();
            }
            None => {
                let mut st = self.lock();
                // A plain sender that queued while the receiver was claimed meets it now.
                if let Some(mut sender) = claim(&mut st.senders_q) {
                    let value = sender.take().expect("a waiting sender holds its message");
                    receiver.put(value);
                    let also = sender.finish();
                    let wake = receiver.finish();
                    drop(st);
                    wake.notify();
                    also.notify();
                    return true;
                }
                // C4: the owner waits (without deadline) while the claim lasts.
                receiver.entry.touch();
                receiver.entry.waiter.sel.unclaim();
                st.receivers_q.push_front(receiver.entry.clone());
                drop(st);
                receiver.unparker.notify();
            }
        }
        true
    }

    /// `Chan::drop_sender` of the last sender.
    fn drop_last_sender(&self) {
        let mut st = self.lock();
        st.tx_gone = true;
        let wake = disconnect(&mut st.receivers_q);
        drop(st);
        wake.iter().for_each(|u| u.notify());
    }

    /// `Chan::drop_receiver` of the last receiver.
    fn drop_last_receiver(&self) {
        let mut st = self.lock();
        st.rx_gone = true;
        let wake = disconnect(&mut st.senders_q);
        st.buf.clear();
        drop(st);
        wake.iter().for_each(|u| u.notify());
    }

    /// Nobody waits any more and the buffer holds `buf` (checked once every thread is done).
    fn assert_quiet(&self, buf: &[u32]) {
        let st = self.lock();
        assert!(
            st.senders_q.is_empty(),
            "W1: a sender entry was left queued"
        );
        assert!(
            st.receivers_q.is_empty(),
            "W1: a receiver entry was left queued"
        );
        assert!(
            st.buf.iter().eq(buf),
            "buffer {:?}, expected {buf:?}",
            st.buf
        );
    }
}

// ---------------------------------------------------------------------------------------------
// select.rs

/// `Select::run` over receive operations, case `i` on `chans[i]`; `chans` is in lock order
/// (SE2, address order in the real code) and is also the try order (SE1's random order is
/// fixed here). `Some((case, Ok(v)))`, `Some((case, Err(())))` for a disconnected channel, or
/// `None` at the deadline.
fn select_recv(chans: &[&Chan], deadline: bool) -> Option<(usize, Result<u32, ()>)> {
    let mut deadline_passed = false;
    loop {
        // SE2: every lock at once, for the try pass and the registration.
        let mut guards: Vec<_> = chans.iter().map(|c| c.lock()).collect();
        for (i, (chan, st)) in chans.iter().zip(guards.iter_mut()).enumerate() {
            let mut wake = None;
            let outcome = match chan.try_recv_locked(st, &mut wake) {
                TryRecv::Got(v) => Ok(v),
                TryRecv::Disconnected => Err(()),
                TryRecv::Empty => continue,
            };
            drop(guards);
            wake_one(wake);
            return Some((i, outcome));
        }
        if deadline_passed {
            return None;
        }
        // SE3: one entry per operation, one selection word, one park.
        let waiter = Waiter::new();
        let mut entries: Vec<Option<Arc<Entry>>> = Vec::new();
        for (i, st) in guards.iter_mut().enumerate() {
            let entry = Entry::new(&waiter, i, None);
            st.receivers_q.push_back(entry.clone());
            entries.push(Some(entry));
        }
        drop(guards);
        let done = waiter.wait(deadline);
        // SE4: every entry off its queue before the waiter goes away (W1).
        let mut guards: Vec<_> = chans.iter().map(|c| c.lock()).collect();
        for (i, st) in guards.iter_mut().enumerate() {
            if Some(i) != done {
                let entry = entries[i].take().expect("registered");
                remove(&mut st.receivers_q, &entry);
                entry.free();
            }
        }
        drop(guards);
        let outcome = done.map(|i| {
            let entry = entries[i].take().expect("registered");
            let outcome = entry.take().ok_or(());
            entry.free();
            (i, outcome)
        });
        waiter.free();
        if outcome.is_some() {
            return outcome;
        }
        // The call was aborted: one more try pass, then give up.
        deadline_passed = true;
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
        thread_name(),
        executions.load(Ordering::Relaxed)
    );
}

fn thread_name() -> String {
    std::thread::current().name().unwrap_or("?").to_owned()
}

/// A receiver and a sender meet on a rendezvous channel; either may block first (the other
/// then claims its entry). The value is delivered exactly once and the blocked side wakes (a
/// lost wake-up is a loom deadlock).
///
/// Fails when: `relaxed-complete`, `relaxed-seen` (race on the slot), `late-unparker`,
/// `late-put`, `touch-after-unlock` (race with the owner's return), `early-wake` (deadlock).
/// Not `skip-claim` or `skip-remove`: one claimer, nothing aborts.
#[test]
fn rendezvous_blocked_side_gets_exactly_one_hand_off() {
    model(None, || {
        let chan = Arc::new(Chan::new(Some(0)));
        let sender = {
            let chan = chan.clone();
            thread::spawn(move || chan.send(7, false))
        };
        assert_eq!(chan.recv(false), Ok(7));
        let sent = sender.join().unwrap();
        assert!(sent.is_ok(), "send: {sent:?}");
        chan.assert_quiet(&[]);
    });
}

/// A receive whose deadline passes while it waits, racing a sender's claim of its entry
/// (`try_abort` against `try_claim`, C1) on a rendezvous channel: exactly one of "delivered"
/// and "aborted"; if aborted, the sender still holds the value.
///
/// Fails when: `skip-claim` and `blind-abort` (the value goes to an aborted receiver and is
/// lost), `skip-remove` (the sender touches the aborted receiver's entry), and every
/// ordering breakage: `relaxed-complete`, `relaxed-seen`, `late-unparker`, `late-put`,
/// `touch-after-unlock`, `early-wake`.
#[test]
fn recv_deadline_races_a_senders_claim() {
    model(None, || {
        let chan = Arc::new(Chan::new(Some(0)));
        let sender = {
            let chan = chan.clone();
            thread::spawn(move || chan.try_send(7))
        };
        let got = chan.recv(true);
        let sent = sender.join().unwrap();
        match got {
            Ok(v) => {
                assert_eq!(v, 7);
                assert_eq!(sent, TrySend::Sent(true), "delivered, so handed over");
            }
            Err(timed_out) => {
                assert!(timed_out, "nobody disconnected");
                assert_eq!(sent, TrySend::Full(7), "not delivered: the sender keeps it");
            }
        }
        chan.assert_quiet(&[]);
    });
}

/// As above with a buffer of one and a blocking send: if the receive was aborted, the value
/// is in the buffer; either way it exists exactly once.
///
/// Fails when: all nine breakages, as `recv_deadline_races_a_senders_claim`.
#[test]
fn recv_deadline_races_a_send_into_a_buffer() {
    model(None, || {
        let chan = Arc::new(Chan::new(Some(1)));
        let sender = {
            let chan = chan.clone();
            thread::spawn(move || chan.send(7, false))
        };
        let got = chan.recv(true);
        let handed = sender.join().unwrap().expect("the buffer has room");
        match got {
            Ok(v) => {
                assert_eq!(v, 7);
                chan.assert_quiet(&[]);
            }
            Err(timed_out) => {
                assert!(timed_out && !handed, "aborted, so not handed over");
                chan.assert_quiet(&[7]);
            }
        }
    });
}

/// The mirror image: a send whose deadline passes while it waits, racing a receiver's claim
/// of its entry: either the receiver got the value, or the send timed out and got it back.
///
/// Fails when: `skip-claim` and `blind-abort` (the value is duplicated: the receiver takes
/// it and the aborted sender gets it back, or the send finds its slot empty), `skip-remove`,
/// `relaxed-complete`, `relaxed-seen`, `late-unparker`, `touch-after-unlock`, `early-wake`
/// (`late-put` does not apply: nobody puts).
#[test]
fn send_deadline_races_a_receivers_claim() {
    model(None, || {
        let chan = Arc::new(Chan::new(Some(0)));
        let receiver = {
            let chan = chan.clone();
            thread::spawn(move || chan.try_recv())
        };
        let sent = chan.send(7, true);
        let got = receiver.join().unwrap();
        match sent {
            Ok(handed) => {
                assert!(!handed);
                assert_eq!(got, TryRecv::Got(7));
            }
            Err((timed_out, v)) => {
                assert!(timed_out && v == 7, "{timed_out} {v}");
                assert_eq!(got, TryRecv::Empty, "not delivered");
            }
        }
        chan.assert_quiet(&[]);
    });
}

/// select.rs: one owner receives on two channels (buffer 1 each) with two entries sharing one
/// selection; one partner per channel sends. When both partners find an entry, exactly one
/// claims the call and the other skips the entry and buffers its value; the owner takes its
/// remaining entry off its queue (W1) and gets exactly one value; nothing is lost.
///
/// Fails when: `skip-claim` (two hand-offs to one call: a value is lost), `skip-remove` (the
/// losing partner touches the freed entry), `touch-after-unlock`, `early-wake` (see the
/// file's doc for the ordering breakages that SE4's relocking hides).
#[test]
fn select_two_partners_exactly_one_claims() {
    model(Some(4), || {
        let a = Arc::new(Chan::new(Some(1)));
        let b = Arc::new(Chan::new(Some(1)));
        let partners: Vec<_> = [(a.clone(), 1), (b.clone(), 2)]
            .into_iter()
            .map(|(chan, v)| thread::spawn(move || chan.send(v, false).expect("room")))
            .collect();
        let (case, got) = select_recv(&[&a, &b], false).expect("no deadline");
        let got = got.expect("nobody disconnected");
        assert_eq!(
            got,
            [1, 2][case],
            "case {case} delivers its own channel's value"
        );
        let handed: Vec<bool> = partners.into_iter().map(|p| p.join().unwrap()).collect();
        assert!(
            !(handed[0] && handed[1]),
            "C1: both partners claimed one call"
        );
        // The other value is still in its channel: exactly once in all.
        let (mine, other) = if case == 0 { (&a, &b) } else { (&b, &a) };
        mine.assert_quiet(&[]);
        other.assert_quiet(&[[2, 1][case]]);
    });
}

/// select.rs with a deadline: the owner's `try_abort` races both partners' claims (three
/// parties, one selection). Exactly one of them wins; after an abort the owner's second try
/// pass may still find a buffered value; nothing is lost or duplicated.
///
/// Fails when: `skip-claim`, `blind-abort`, `skip-remove`, `touch-after-unlock`,
/// `early-wake`.
#[test]
fn select_deadline_races_two_partners() {
    model(Some(4), || {
        let a = Arc::new(Chan::new(Some(1)));
        let b = Arc::new(Chan::new(Some(1)));
        let partners: Vec<_> = [(a.clone(), 1), (b.clone(), 2)]
            .into_iter()
            .map(|(chan, v)| thread::spawn(move || chan.send(v, false).expect("room")))
            .collect();
        let got = select_recv(&[&a, &b], true);
        let handed: Vec<bool> = partners.into_iter().map(|p| p.join().unwrap()).collect();
        assert!(
            !(handed[0] && handed[1]),
            "C1: both partners claimed one call"
        );
        let mut left: Vec<u32> = Vec::new();
        for chan in [&a, &b] {
            let st = chan.lock();
            assert!(st.receivers_q.is_empty() && st.senders_q.is_empty(), "W1");
            left.extend(st.buf.iter());
        }
        match got {
            Some((case, got)) => {
                let got = got.expect("nobody disconnected");
                assert_eq!(got, [1, 2][case]);
                assert_eq!(left, [[2, 1][case]], "the other value is still buffered");
            }
            None => {
                assert!(!handed[0] && !handed[1], "aborted, so nobody handed over");
                assert_eq!(left, [1, 2], "both values still buffered");
            }
        }
    });
}

/// A partner's claim and a disconnection's claim on the same selection (C1): the owner
/// selects on two rendezvous channels; one partner `try_send`s on the first while the last
/// sender of the second goes away. Exactly one completes the call: either the owner got the
/// value (and the partner handed it over) or it got the disconnection (and the partner kept
/// its value). The partner never waits, so the call can only end through one of the two.
///
/// Fails when: `skip-claim` (the call is completed twice and the value lost), `skip-remove`,
/// `touch-after-unlock`, `early-wake`.
#[test]
fn disconnect_races_a_claim_on_one_selection() {
    model(Some(4), || {
        let a = Arc::new(Chan::new(Some(0)));
        let b = Arc::new(Chan::new(Some(0)));
        let partner = {
            let a = a.clone();
            thread::spawn(move || a.try_send(7))
        };
        let closer = {
            let b = b.clone();
            thread::spawn(move || b.drop_last_sender())
        };
        let got = select_recv(&[&a, &b], false).expect("no deadline");
        let sent = partner.join().unwrap();
        closer.join().unwrap();
        match got {
            (0, Ok(7)) => assert_eq!(sent, TrySend::Sent(true)),
            (1, Err(())) => assert_eq!(sent, TrySend::Full(7), "the partner keeps it"),
            other => panic!("unexpected outcome {other:?}"),
        }
        a.assert_quiet(&[]);
        b.assert_quiet(&[]);
    });
}

/// A partner's claim and a disconnection's claim on the same entry: a receiver blocks on a
/// rendezvous channel; a partner `try_send`s while the channel's senders are disconnected.
/// (Stricter than the API: there the disconnection comes only once every sender is gone; here
/// the two claimers meet on one queue, so the channel lock orders them.) Exactly one
/// completes the call.
///
/// Fails when: `relaxed-complete`, `relaxed-seen`, `late-unparker`, `late-put`,
/// `touch-after-unlock`, `early-wake`. Not `skip-claim`: the lock already orders the two.
#[test]
fn disconnect_races_a_claim_on_one_entry() {
    model(Some(4), || {
        let chan = Arc::new(Chan::new(Some(0)));
        let partner = {
            let chan = chan.clone();
            thread::spawn(move || chan.try_send(7))
        };
        let closer = {
            let chan = chan.clone();
            thread::spawn(move || chan.drop_last_sender())
        };
        let got = chan.recv(false);
        let sent = partner.join().unwrap();
        closer.join().unwrap();
        match got {
            Ok(v) => {
                assert_eq!(v, 7);
                assert_eq!(sent, TrySend::Sent(true));
            }
            Err(timed_out) => {
                assert!(!timed_out, "no deadline");
                assert_eq!(sent, TrySend::Full(7), "the partner keeps it");
            }
        }
        chan.assert_quiet(&[]);
    });
}

/// The owner's `try_abort` racing a disconnection's claim (C1): a receive whose deadline
/// passes while the last sender goes away ends exactly once, as a timeout or a disconnection,
/// and its entry is off the queue.
///
/// Fails when: `skip-remove` (the disconnection touches the aborted call's entry),
/// `relaxed-complete`, `relaxed-seen` (race on the entry with the owner's return),
/// `late-unparker`, `touch-after-unlock`, `early-wake`. Not `skip-claim`: completing an
/// aborted receive that gets no message changes nothing the owner reads, and the owner's W1
/// `remove` waits for the disconnection's lock.
#[test]
fn recv_deadline_races_a_disconnection() {
    model(None, || {
        let chan = Arc::new(Chan::new(Some(0)));
        let closer = {
            let chan = chan.clone();
            thread::spawn(move || chan.drop_last_sender())
        };
        let got = chan.recv(true);
        closer.join().unwrap();
        assert!(got.is_err(), "nobody sent: {got:?}");
        chan.assert_quiet(&[]);
    });
}

/// A blocked sender whose receivers disconnect gets its message back (CH4), or the receiver
/// took it first; with a deadline the abort can win as well. Either way, exactly once.
///
/// Fails when: `skip-claim`, `blind-abort`, `skip-remove`, `relaxed-complete`,
/// `relaxed-seen`, `late-unparker`, `touch-after-unlock`, `early-wake`.
#[test]
fn send_deadline_races_a_receiver_and_a_disconnection() {
    model(None, || {
        let chan = Arc::new(Chan::new(Some(0)));
        let receiver = {
            let chan = chan.clone();
            thread::spawn(move || {
                let got = chan.try_recv();
                chan.drop_last_receiver();
                got
            })
        };
        let sent = chan.send(7, true);
        let got = receiver.join().unwrap();
        match sent {
            Ok(handed) => {
                assert!(!handed);
                assert_eq!(got, TryRecv::Got(7));
            }
            Err((_, v)) => {
                assert_eq!(v, 7, "the message comes back");
                assert_eq!(got, TryRecv::Empty, "not delivered");
            }
        }
        chan.assert_quiet(&[]);
    });
}

/// SE5/C4: a select's chosen send claims a receiver waiting on a rendezvous channel, and its
/// message never comes (the `SendReady` is dropped): the claim is handed back (`unclaim`, the
/// entry queued again) and the owner woken, while the owner's deadline passes. The receive
/// times out exactly once, its entry leaves the queue, nobody parks for good.
///
/// Fails when the hand-back does not wake the owner (deadlock: it parked on `CLAIMED`), or
/// does not queue the entry again before the owner can abort (an entry left queued).
#[test]
fn a_claim_handed_back_by_a_lazy_send_leaves_a_timed_receive_clean() {
    model(None, || {
        let chan = Arc::new(Chan::new(Some(0)));
        let sender = {
            let chan = chan.clone();
            thread::spawn(move || chan.lazy_send(None))
        };
        assert_eq!(chan.recv(true), Err(true), "nothing was delivered");
        sender.join().unwrap();
        chan.assert_quiet(&[]);
    });
}

/// SE5: a lazy send that claims a waiting receiver and gives the message after releasing the
/// lock, racing the receiver's deadline: exactly one of "delivered" (the claim came first;
/// the owner then waits past its deadline, C4) and "timed out" (the abort came first; the send
/// claims nothing).
#[test]
fn a_lazy_send_delivers_after_the_lock_or_finds_the_receive_aborted() {
    model(None, || {
        let chan = Arc::new(Chan::new(Some(0)));
        let sender = {
            let chan = chan.clone();
            thread::spawn(move || chan.lazy_send(Some(7)))
        };
        let got = chan.recv(true);
        let claimed = sender.join().unwrap();
        match got {
            Ok(v) => {
                assert_eq!(v, 7);
                assert!(claimed, "delivered, so claimed");
            }
            Err(timed_out) => {
                assert!(timed_out);
                assert!(!claimed, "an aborted receive is never claimed");
            }
        }
        chan.assert_quiet(&[]);
    });
}

/// SE5/C4 with a second sender: the first (a lazy send) hands its claim back, a plain send
/// delivers to the same receive, which has no deadline. The value arrives once, also when the
/// plain send came while the receive was claimed (it queued, finding no receiver).
///
/// Fails when the hand-back only queues the receiver again (found by this model: the
/// receiver and the queued sender then both wait for ever).
#[test]
fn a_receive_handed_back_by_a_lazy_send_gets_the_next_senders_value() {
    model(Some(3), || {
        let chan = Arc::new(Chan::new(Some(0)));
        let lazy = {
            let chan = chan.clone();
            thread::spawn(move || chan.lazy_send(None))
        };
        let plain = {
            let chan = chan.clone();
            thread::spawn(move || chan.send(9, false))
        };
        assert_eq!(chan.recv(false), Ok(9));
        lazy.join().unwrap();
        assert!(plain.join().unwrap().is_ok());
        chan.assert_quiet(&[]);
    });
}
