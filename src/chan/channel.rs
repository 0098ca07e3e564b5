//! The channel proper: one lock around the buffer and both wait queues (Go's `hchan`).
//!
//! Invariants under the lock (arch/chan.md, CH1–CH5):
//! - CH1: messages are handed over in FIFO order: a waiting receiver gets the oldest message; a
//!   receiver that empties a slot of a full buffer refills it from the oldest waiting sender.
//! - CH2: a receiver waits only while the buffer is empty; a sender waits only while the
//!   buffer is full (always, for a rendezvous channel). So a message is never left in a buffer
//!   while a receiver sleeps.
//! - CH3: a party is woken only after the lock is released (C3: through a copied unparker).
//! - CH4: disconnection happens once per side, under the lock, and completes every waiter of
//!   the other side at once; afterwards no waiter of that side is ever queued again.
//! - CH5: a buffer's memory follows its use: after a burst it shrinks back (to a reserve of
//!   `BUF_RESERVE` messages), so a channel does not keep its peak allocation.

use std::collections::VecDeque;
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};
use std::time::Instant;

use super::waiter::{Claimed, Entry, Grant, WaitQueue, Waiter};
use crate::loom::sync::Mutex;
use crate::loom::sync::atomic::{AtomicUsize, Ordering};
use crate::park::{Unparker, Wait};
use parking_lot::MutexGuard;

/// What a send did. Unless it is `Sent`, the message is still in the caller's `Option`.
/// (Messages travel by `&mut Option<T>` so that a large one is not copied through every frame.)
pub(crate) enum SendStatus {
    /// Sent; wake this receiver (after unlocking).
    Sent(Option<Unparker>),
    Full,
    Disconnected,
}

/// What a receive did. On `Got`, the message is in the caller's `Option`.
pub(crate) enum RecvStatus<T> {
    /// Received; wake this sender (after unlocking).
    Got(Option<Unparker>),
    /// A select's send waits whose message is not made yet (SE5): it is claimed, and the
    /// receiver must finish the handshake (`Chan::handshake`, or the select's receive).
    Handshake(Claimed<T>),
    Empty,
    Disconnected,
}

/// How a blocking operation ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Ended {
    Done,
    Timeout,
    Disconnected,
}

pub(crate) struct State<T> {
    buf: VecDeque<T>,
    pub(crate) senders_q: WaitQueue<T>,
    pub(crate) receivers_q: WaitQueue<T>,
    /// Every `Sender` is gone (CH4).
    tx_gone: bool,
    /// Every `Receiver` is gone (CH4).
    rx_gone: bool,
    /// Buffer slots promised to selected sends whose messages have not come yet (SE5); they
    /// count as full.
    reserved: usize,
    /// Selects waiting for an operation on this channel to become possible, not to do it
    /// (`Select::ready`, and sends whose message is made only once they are chosen, SE5).
    /// Every change that may make an operation possible tells all of them (`notify`).
    pub(crate) watchers: WaitQueue<T>,
    /// Watchers told under the lock, to wake once it is released (CH3; `Locked`'s drop).
    wake_later: Vec<Unparker>,
}

impl<T> State<T> {
    /// Something changed that may make an operation possible: every watcher (but `except`'s,
    /// the caller's own) is completed, to be woken after the lock is released (SE5).
    #[inline]
    pub(crate) fn notify(&mut self, except: Option<&Waiter>) {
        if !self.watchers.is_empty() {
            self.watchers.notify_all(except, &mut self.wake_later);
        }
    }

    /// Whether a receive could proceed now (a message, a waiting sender, or disconnection).
    pub(crate) fn recv_ready(&self) -> bool {
        !self.buf.is_empty() || !self.senders_q.is_empty() || self.tx_gone
    }

    /// Takes the watchers to wake (before the lock is released; wake them after).
    fn take_wake(&mut self) -> Option<Vec<Unparker>> {
        if self.wake_later.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut self.wake_later))
        }
    }
}

/// The channel lock held: a guard that, once the lock is released, wakes the watchers that
/// were told under it (CH3).
pub(crate) struct Locked<'a, T> {
    guard: ManuallyDrop<MutexGuard<'a, State<T>>>,
}

impl<T> Deref for Locked<'_, T> {
    type Target = State<T>;
    #[inline]
    fn deref(&self) -> &State<T> {
        &self.guard
    }
}

impl<T> DerefMut for Locked<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut State<T> {
        &mut self.guard
    }
}

impl<T> Drop for Locked<'_, T> {
    #[inline]
    fn drop(&mut self) {
        let wake = self.guard.take_wake();
        // SAFETY: dropped once, here, and never used afterwards.
        unsafe { ManuallyDrop::drop(&mut self.guard) };
        if let Some(wake) = wake {
            wake.into_iter().for_each(Unparker::unpark);
        }
    }
}

/// How a selected send will deliver the message it gets later (SE5).
pub(crate) enum Promise<T> {
    /// A buffer slot is reserved (or the channel is unbounded).
    Slot,
    /// A waiting receiver is claimed (rendezvous channel); it waits for the message.
    Partner(Claimed<T>),
    /// Every receiver is gone: the message will come back in the error.
    Disconnected,
}

/// A channel shared by its senders and receivers. `Send + Sync` for `T: Send`.
pub(crate) struct Chan<T> {
    state: Mutex<State<T>>,
    /// `None`: unbounded; `Some(0)`: rendezvous.
    cap: Option<usize>,
    senders: AtomicUsize,
    receivers: AtomicUsize,
}

impl<T> std::fmt::Debug for Chan<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chan")
            .field("cap", &self.cap)
            .finish_non_exhaustive()
    }
}

/// Contended lock: the pauses (`spin_loop` calls, ~20 ns each on the reference machine) a
/// locker waits before each new look at the lock, growing from a quick retry (a hand-off that
/// contends briefly, as in a ping-pong with an OS thread) to pauses of about 5 µs, the order of
/// Go's `active_spin` (`lock_futex.go`); after the last it queues on the mutex.
const BACKOFF_PAUSES: [u32; 6] = [4, 32, 256, 256, 256, 256];

impl<T> Chan<T> {
    /// Takes the channel lock. Under contention (two workers sending and receiving on one
    /// channel) the locker first backs off without touching the lock's cache line, a few
    /// microseconds at a time, before it queues on the mutex: the holder keeps the line and
    /// does several operations in a row, which doubled the 4-producer/4-consumer throughput on
    /// 2 workers (arch/chan.md). parking_lot's own spin retries sooner and then yields the
    /// thread, and spinning on the line made it worse.
    #[inline]
    fn lock(&self) -> Locked<'_, T> {
        Locked {
            guard: ManuallyDrop::new(self.lock_guard()),
        }
    }

    #[inline]
    fn lock_guard(&self) -> MutexGuard<'_, State<T>> {
        match self.state.try_lock() {
            Some(guard) => guard,
            None => self.lock_contended(),
        }
    }

    #[inline(never)]
    fn lock_contended(&self) -> MutexGuard<'_, State<T>> {
        for pauses in BACKOFF_PAUSES {
            for _ in 0..pauses {
                std::hint::spin_loop();
            }
            if let Some(guard) = self.state.try_lock() {
                return guard;
            }
        }
        self.state.lock()
    }

    /// A channel with one sender and one receiver counted.
    pub(crate) fn new(cap: Option<usize>) -> Chan<T> {
        Chan {
            state: Mutex::new(State {
                buf: VecDeque::with_capacity(cap.unwrap_or(0).min(1024)),
                senders_q: WaitQueue::default(),
                receivers_q: WaitQueue::default(),
                tx_gone: false,
                rx_gone: false,
                reserved: 0,
                watchers: WaitQueue::default(),
                wake_later: Vec::new(),
            }),
            cap,
            senders: AtomicUsize::new(1),
            receivers: AtomicUsize::new(1),
        }
    }

    pub(crate) fn capacity(&self) -> Option<usize> {
        self.cap
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().buf.len()
    }

    pub(crate) fn is_full(&self) -> bool {
        match self.cap {
            None => false,
            Some(cap) => self.lock().buf.len() >= cap,
        }
    }

    /// Under the lock: sends `msg` now if possible (CH1, CH2).
    pub(crate) fn try_send_locked(&self, st: &mut State<T>, msg: &mut Option<T>) -> SendStatus {
        if st.rx_gone {
            return SendStatus::Disconnected;
        }
        if let Some(mut receiver) = st.receivers_q.claim() {
            receiver.put(msg);
            return SendStatus::Sent(Some(receiver.finish()));
        }
        if self.cap.is_none_or(|cap| st.buf.len() + st.reserved < cap) {
            if let Some(value) = msg.take() {
                st.buf.push_back(value);
            }
            st.notify(None);
            return SendStatus::Sent(None);
        }
        SendStatus::Full
    }

    /// Under the lock: whether a send could proceed now (room, a waiting receiver, or
    /// disconnection).
    pub(crate) fn send_ready(&self, st: &State<T>) -> bool {
        st.rx_gone
            || self.cap.is_none_or(|cap| st.buf.len() + st.reserved < cap)
            || !st.receivers_q.is_empty()
    }

    /// Under the lock: promises a send whose message comes later (SE5), if one could proceed
    /// now: reserves a slot, or claims a waiting receiver of a rendezvous channel.
    pub(crate) fn promise_send_locked(&self, st: &mut State<T>) -> Option<Promise<T>> {
        if st.rx_gone {
            return Some(Promise::Disconnected);
        }
        match self.cap {
            None => Some(Promise::Slot),
            Some(0) => st.receivers_q.claim().map(Promise::Partner),
            Some(cap) if st.buf.len() + st.reserved < cap => {
                st.reserved += 1;
                Some(Promise::Slot)
            }
            Some(_) => None,
        }
    }

    /// Keeps a `Promise::Slot`: sends `msg` in the reserved slot (or to a waiting receiver).
    /// `Err` gives it back if every receiver went away meanwhile.
    pub(crate) fn send_promised(&self, msg: T) -> Result<(), T> {
        let mut st = self.lock();
        if self.cap.is_some() {
            st.reserved -= 1;
        }
        if st.rx_gone {
            return Err(msg);
        }
        let mut msg = Some(msg);
        let wake = match st.receivers_q.claim() {
            Some(mut receiver) => {
                receiver.put(&mut msg);
                Some(receiver.finish())
            }
            None => {
                if let Some(value) = msg.take() {
                    st.buf.push_back(value);
                }
                st.notify(None);
                None
            }
        };
        drop(st);
        wake_one(wake);
        Ok(())
    }

    /// Breaks a `Promise::Slot` (its message never came): the slot goes to the oldest waiting
    /// sender, or is free again.
    pub(crate) fn release_promised(&self) {
        let mut st = self.lock();
        if self.cap.is_none() {
            return;
        }
        st.reserved -= 1;
        let wake = st.senders_q.claim().map(|sender| refill(&mut st, sender));
        st.notify(None);
        drop(st);
        wake_one(wake);
    }

    /// Breaks a `Promise::Partner`: the claimed receiver waits again, first in line; or, if a
    /// sender queued meanwhile, it meets that sender now (a plain send's message, or a select's
    /// send as its new partner); or, if every sender is gone meanwhile, its receive ends
    /// disconnected (CH4).
    pub(crate) fn release_partner(&self, mut partner: Claimed<T>) {
        let mut st = self.lock();
        let mut also = None;
        let wake = if st.tx_gone {
            partner.finish()
        } else if let Some(mut sender) = st.senders_q.claim() {
            // SE5: a sender queued while the receiver was claimed (it found no receiver then);
            // the receiver, handed back, meets it now, as a receive arriving would (else both
            // would wait for ever).
            if sender.is_lazy() {
                // Another select's send: the receiver, still claimed, becomes its partner
                // (the claim passes on; the receiver's owner goes on waiting, C4).
                sender.grant(Grant::Partner(partner.entry_ptr()));
                drop(partner);
                sender.finish()
            } else {
                let mut msg = sender.take();
                partner.put(&mut msg);
                also = Some(sender.finish());
                partner.finish()
            }
        } else {
            partner.unclaim(&mut st.receivers_q)
        };
        drop(st);
        wake.unpark();
        wake_one(also);
    }

    /// Under the lock: receives into `out` now if possible (CH1, CH2).
    pub(crate) fn try_recv_locked(&self, st: &mut State<T>, out: &mut Option<T>) -> RecvStatus<T> {
        *out = st.buf.pop_front();
        if out.is_some() {
            // CH5: a buffer that a burst left mostly empty gives its memory back.
            if st.buf.capacity() > BUF_RESERVE && st.buf.len() < st.buf.capacity() / 4 {
                shrink(&mut st.buf);
            }
            // CH1: the freed slot goes to the oldest waiting sender.
            let wake = st.senders_q.claim().map(|sender| refill(st, sender));
            if wake.is_none() {
                st.notify(None);
            }
            return RecvStatus::Got(wake);
        }
        if let Some(mut sender) = st.senders_q.claim() {
            if sender.is_lazy() {
                return RecvStatus::Handshake(sender);
            }
            *out = sender.take();
            return RecvStatus::Got(Some(sender.finish()));
        }
        if st.tx_gone {
            RecvStatus::Disconnected
        } else {
            RecvStatus::Empty
        }
    }

    pub(crate) fn try_send(&self, msg: &mut Option<T>) -> SendStatus {
        let mut st = self.lock();
        let r = self.try_send_locked(&mut st, msg);
        drop(st);
        if let SendStatus::Sent(wake) = r {
            wake_one(wake);
            return SendStatus::Sent(None);
        }
        r
    }

    pub(crate) fn try_recv(&self, out: &mut Option<T>) -> RecvStatus<T> {
        let mut st = self.lock();
        let r = self.try_recv_locked(&mut st, out);
        match r {
            RecvStatus::Got(wake) => {
                drop(st);
                wake_one(wake);
                RecvStatus::Got(None)
            }
            RecvStatus::Handshake(sender) => {
                // Not waiting for anything but the sender's message: give up at once if the
                // sender backs out.
                drop(st);
                match self.handshake(sender, out, Some(Instant::now()), None) {
                    Some(_) if out.is_some() => RecvStatus::Got(None),
                    Some(_) => RecvStatus::Disconnected,
                    None => RecvStatus::Empty,
                }
            }
            r => r,
        }
    }

    /// The receiving half of the rendezvous handshake with a select's send (SE5), the send
    /// claimed (W2: popped under the lock, now released): a receive entry, claimed by its own
    /// owner, is granted to the send, which gives its message through it. If the send backs
    /// out, the entry is queued as a plain waiting receive (until `deadline`). Returns the
    /// completed case (`None`: the deadline), with the message (if any) in `out`.
    pub(crate) fn handshake(
        &self,
        mut sender: Claimed<T>,
        out: &mut Option<T>,
        deadline: Option<Instant>,
        why: Option<Wait>,
    ) -> Option<usize> {
        let waiter = Waiter::new();
        let mut entry = Entry::new(&waiter, 0, None);
        // Our own claim: it only gives the send our entry and unparker (C3), and ends when
        // the send completes it or gives it back (`release_partner`).
        let mine = entry.claim_own();
        sender.grant(Grant::Partner(mine.entry_ptr()));
        drop(mine);
        let wake = sender.finish();
        wake.unpark();
        let why = why.unwrap_or(Wait::ChanRecv(self as *const Chan<T> as usize));
        let done = waiter.wait(deadline, why);
        if done.is_none() {
            // W1: the entry is queued if the send backed out.
            self.lock().receivers_q.remove(&entry);
        }
        *out = entry.take();
        done
    }

    /// Blocking send of `msg`; unless it returns `Done`, the message is back in `msg`.
    pub(crate) fn send(&self, msg: &mut Option<T>, deadline: Option<Instant>) -> Ended {
        let mut st = self.lock();
        match self.try_send_locked(&mut st, msg) {
            SendStatus::Sent(wake) => {
                drop(st);
                wake_one(wake);
                return Ended::Done;
            }
            SendStatus::Disconnected => return Ended::Disconnected,
            SendStatus::Full => {}
        }
        // The message waits in the entry, and comes back unless a receiver took it.
        let why = Wait::ChanSend(self as *const Chan<T> as usize);
        let done = self.wait_queued(st, |st| &mut st.senders_q, msg, deadline, why);
        match (done, msg.is_some()) {
            (Some(_), false) => Ended::Done,
            // Completed by the receivers' disconnection (CH4): the message comes back.
            (Some(_), true) => Ended::Disconnected,
            (None, _) => Ended::Timeout,
        }
    }

    /// Blocking receive into `out` (`Done`: the message is there).
    pub(crate) fn recv(
        &self,
        out: &mut Option<T>,
        deadline: Option<Instant>,
        why: Option<Wait>,
    ) -> Ended {
        let mut st = self.lock();
        match self.try_recv_locked(&mut st, out) {
            RecvStatus::Got(wake) => {
                drop(st);
                wake_one(wake);
                return Ended::Done;
            }
            RecvStatus::Handshake(sender) => {
                drop(st);
                return match self.handshake(sender, out, deadline, why) {
                    Some(_) if out.is_some() => Ended::Done,
                    Some(_) => Ended::Disconnected,
                    None => Ended::Timeout,
                };
            }
            RecvStatus::Disconnected => return Ended::Disconnected,
            RecvStatus::Empty => {}
        }
        let why = why.unwrap_or(Wait::ChanRecv(self as *const Chan<T> as usize));
        let done = self.wait_queued(st, |st| &mut st.receivers_q, out, deadline, why);
        match (done, out.is_some()) {
            (Some(_), true) => Ended::Done,
            // Completed by the senders' disconnection (CH4).
            (Some(_), false) => Ended::Disconnected,
            (None, _) => Ended::Timeout,
        }
    }

    /// The waiting half of a blocking `send`/`recv`, entered with the lock held: moves `slot`
    /// into an entry on `queue`, releases the lock and waits until a partner or a
    /// disconnection completes the call, or the deadline passes (then the entry is taken off
    /// the queue again, W1); the entry's slot then moves back into `slot`. Returns the
    /// completed case, `None` for the deadline.
    // Inlined: both callers are the blocking hot paths, as before this was shared.
    #[inline(always)]
    fn wait_queued(
        &self,
        mut st: Locked<'_, T>,
        queue: fn(&mut State<T>) -> &mut WaitQueue<T>,
        slot: &mut Option<T>,
        deadline: Option<Instant>,
        why: Wait,
    ) -> Option<usize> {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return None;
        }
        let waiter = Waiter::new();
        let mut entry = Entry::new(&waiter, 0, slot.take());
        queue(&mut st).push(&entry);
        // A party waits now: a watcher's operation on the other side may proceed (SE5).
        st.notify(None);
        drop(st);
        let done = waiter.wait(deadline, why);
        if done.is_none() {
            // W1: off the queue before the entry goes away.
            queue(&mut self.lock()).remove(&entry);
        }
        *slot = entry.take();
        done
    }

    pub(crate) fn add_sender(&self) {
        self.senders.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn add_receiver(&self) {
        self.receivers.fetch_add(1, Ordering::Relaxed);
    }

    /// The last sender went away: receivers get the buffered messages, then an error (CH4).
    pub(crate) fn drop_sender(&self) {
        if self.senders.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        let mut st = self.lock();
        st.tx_gone = true;
        let wake = st.receivers_q.disconnect();
        st.notify(None);
        drop(st);
        wake.into_iter().for_each(Unparker::unpark);
    }

    /// The last receiver went away: senders get their messages back, and the buffered ones
    /// are dropped now, since nobody can receive them (CH4).
    pub(crate) fn drop_receiver(&self) {
        if self.receivers.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        let mut st = self.lock();
        st.rx_gone = true;
        let wake = st.senders_q.disconnect();
        st.notify(None);
        let dropped = std::mem::take(&mut st.buf);
        drop(st);
        // Wake first: a message whose `Drop` panics must not leave the senders asleep.
        wake.into_iter().for_each(Unparker::unpark);
        drop_all(dropped);
    }

    /// How many messages the buffer has room for without reallocating (CH5's figure).
    #[cfg(test)]
    pub(crate) fn allocated(&self) -> usize {
        self.lock().buf.capacity()
    }
}

/// CH5: buffers keep at least this much room (in messages) when they shrink, so steady
/// traffic does not reallocate.
const BUF_RESERVE: usize = 1024;

/// Shrinks a buffer that holds less than a quarter of its room to twice its length (but not
/// below `BUF_RESERVE`): the peak of a burst goes back, and since the room left is double
/// what is used, shrinking and growing never alternate at every message (amortised O(1)).
#[cold]
#[inline(never)]
fn shrink<T>(buf: &mut VecDeque<T>) {
    buf.shrink_to(buf.len().saturating_mul(2).max(BUF_RESERVE));
}

/// Drops the messages nobody can receive any more, in order, as crossbeam does: if a `Drop`
/// panics, that panic propagates and the messages after it are leaked (dropping them while
/// the first panic unwinds would abort the process on a second one).
fn drop_all<T>(messages: VecDeque<T>) {
    let mut rest = messages.into_iter();
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rest.by_ref().for_each(drop);
    }));
    if let Err(payload) = dropped {
        std::mem::forget(rest);
        std::panic::resume_unwind(payload);
    }
}

/// CH1: a slot freed under the lock goes to the claimed oldest waiting sender: its message,
/// or, for a select's send without one yet (SE5), the slot reserved for it. Returns how to
/// wake it.
fn refill<T>(st: &mut State<T>, mut sender: Claimed<T>) -> Unparker {
    if sender.is_lazy() {
        st.reserved += 1;
        sender.grant(Grant::Slot);
    } else if let Some(value) = sender.take() {
        st.buf.push_back(value);
    }
    sender.finish()
}

/// Wakes a party handed over by an operation (CH3: the lock is released).
#[inline]
pub(crate) fn wake_one(wake: Option<Unparker>) {
    if let Some(u) = wake {
        u.unpark();
    }
}

impl<T> Chan<T> {
    /// Takes the lock and keeps it until `unlock_raw` (for `select`, which holds the locks of
    /// all its channels at once, in address order).
    pub(crate) fn lock_raw(&self) {
        std::mem::forget(self.lock_guard());
    }

    /// Releases the lock taken by `lock_raw`.
    ///
    /// # Safety
    /// The caller took the lock with `lock_raw` and uses no reference from `state_raw` any more.
    #[inline]
    pub(crate) unsafe fn unlock_raw(&self) {
        // SAFETY: the caller's contract: this thread holds the lock through `lock_raw` and no
        // other reference to the state exists.
        if unsafe { (*self.state.data_ptr()).wake_later.is_empty() } {
            // SAFETY: the caller's contract: this thread holds the lock through `lock_raw`.
            unsafe { self.state.force_unlock() };
        } else {
            // SAFETY: as above.
            unsafe { self.unlock_raw_and_wake() };
        }
    }

    /// `unlock_raw` with watchers to wake (CH3: after the lock is released).
    ///
    /// # Safety
    /// As for `unlock_raw`.
    #[cold]
    #[inline(never)]
    unsafe fn unlock_raw_and_wake(&self) {
        // SAFETY: the caller's contract: this thread holds the lock through `lock_raw` and no
        // other reference to the state exists.
        let wake = unsafe { (*self.state.data_ptr()).take_wake() };
        // SAFETY: the caller's contract: this thread holds the lock through `lock_raw`.
        unsafe { self.state.force_unlock() };
        if let Some(wake) = wake {
            wake.into_iter().for_each(Unparker::unpark);
        }
    }

    /// The state, while the lock taken by `lock_raw` is held.
    ///
    /// # Safety
    /// The caller holds the lock through `lock_raw` and drops the reference before
    /// `unlock_raw`; no other reference to the state exists meanwhile.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn state_raw(&self) -> &mut State<T> {
        // SAFETY: the caller's contract: the lock is held by this thread and this is the only
        // reference, as a `MutexGuard` would guarantee.
        unsafe { &mut *self.state.data_ptr() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_s_buffer_is_given_back_and_a_reserve_kept() {
        let chan = Chan::<u64>::new(None);
        for i in 0..1_000_000 {
            assert!(matches!(chan.try_send(&mut Some(i)), SendStatus::Sent(_)));
        }
        assert!(chan.allocated() >= 1_000_000);
        let mut out = None;
        for i in 0..1_000_000 {
            assert!(matches!(chan.try_recv(&mut out), RecvStatus::Got(_)));
            assert_eq!(out.take(), Some(i));
        }
        let after = chan.allocated();
        assert!((BUF_RESERVE..4 * BUF_RESERVE).contains(&after), "{after}");
        // Steady traffic within the reserve does not reallocate.
        for i in 0..10_000 {
            for j in 0..100 {
                assert!(matches!(
                    chan.try_send(&mut Some(i + j)),
                    SendStatus::Sent(_)
                ));
            }
            for _ in 0..100 {
                assert!(matches!(chan.try_recv(&mut out), RecvStatus::Got(_)));
            }
            assert_eq!(chan.allocated(), after);
        }
    }

    #[test]
    fn a_half_consumed_burst_keeps_what_it_holds() {
        let chan = Chan::<u64>::new(None);
        for i in 0..100_000 {
            assert!(matches!(chan.try_send(&mut Some(i)), SendStatus::Sent(_)));
        }
        let mut out = None;
        for i in 0..90_000 {
            assert!(matches!(chan.try_recv(&mut out), RecvStatus::Got(_)));
            assert_eq!(out.take(), Some(i));
        }
        assert!(chan.allocated() >= 10_000 && chan.allocated() < 100_000);
        for i in 90_000..100_000 {
            assert!(matches!(chan.try_recv(&mut out), RecvStatus::Got(_)));
            assert_eq!(out.take(), Some(i));
        }
    }
}
