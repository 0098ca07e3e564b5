//! `Select`: wait on several channel operations, complete exactly one (Go's `selectgo`).
//!
//! The algorithm (arch/select.md, SE1–SE5):
//! - SE1: the operations are tried in a fresh random order, so when several are ready each is
//!   chosen with equal probability (no arm starves); a waiting call also queues its entries in
//!   that order, so that two operations on one channel are equally likely to be taken first.
//!   A biased select (`Select::new_biased`, `select_biased!`) uses the order of the operations.
//! - SE2: the locks of all channels involved are taken at once, in address order (each
//!   channel once), for the try pass and the registration, so no partner can complete an
//!   operation of this call while it registers; hence no "ready between try and register"
//!   gap and no wake-up lost.
//! - SE3: a call that must wait registers one entry per channel operation, all sharing one
//!   selection word (C1: exactly one is completed), releases the locks and parks once.
//! - SE4: after waking it retakes all locks and takes every entry of its own off the queues
//!   (W1) before it returns; a wake-up for a timer or the deadline aborts the call (C1) and
//!   starts over from the try pass.
//! - SE5: a send's message is made only once the send is chosen (crossbeam's rule). So a
//!   chosen send first gets a promise under the lock (a reserved slot, or a claimed waiting
//!   receiver of a rendezvous channel) and keeps it with the message afterwards. A send that
//!   cannot proceed, and every operation of `Select::ready`, waits as a watcher: any change to
//!   the channel completes the watcher, and the call starts over from the try pass.

use std::cell::Cell;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use super::channel::{Chan, Promise, RecvStatus, wake_one};
use super::error::{
    ReadyTimeoutError, RecvError, SelectTimeoutError, SendError, TryReadyError, TrySelectError,
};
use super::waiter::{Claimed, Entry, Grant, Waiter};
use super::{Flavor, Receiver, Sender, instant_as};
use crate::park::Unparker;

/// One operation of a select, with its outcome. Public (hidden) only so that the `select!`
/// macro can name it; its methods live in the crate-private `OpImpl` (sealed).
#[doc(hidden)]
pub trait Op: sealed::OpImpl {}

impl<T> Op for SendOp<'_, T> {}
impl<T> Op for RecvOp<'_, T> {}

mod sealed {
    use std::time::Instant;

    use crate::chan::waiter::Waiter;
    use crate::park::Unparker;

    /// What a select does with one operation. Unnameable outside `select.rs` (this module is
    /// private), so the crate-private types in its signatures stay private.
    #[allow(private_interfaces)]
    pub trait OpImpl {
        /// The channel whose lock this operation needs (`None`: a timer, no lock).
        fn lock_key(&self) -> Option<usize>;
        fn lock(&self);
        /// # Safety
        /// The lock was taken by `lock` on this thread and nothing borrowed from it remains.
        unsafe fn unlock(&self);
        /// With the lock held: completes (or, watching, finds ready) the operation if it can
        /// proceed now; `Some(wake)` if so (wake after unlocking).
        fn try_now(&mut self, now: Option<Instant>) -> Option<Option<Unparker>>;
        /// With the lock held: queues an entry for `case` of the call waiting on `waiter`.
        fn register(&mut self, waiter: &Waiter, case: usize);
        /// With the lock held: takes the entry off its queue, if it is there (W1).
        fn unregister(&mut self);
        /// After `Done(case)` for this operation: moves the outcome out of the entry (C2) and
        /// returns `true`; `false` if the entry was a watcher's (SE5: look again).
        fn complete(&mut self) -> bool;
        /// After the locks are released, for the chosen operation: finishes what it could not
        /// do under them (a receive's handshake with a lazy send, SE5). `false`: it came to
        /// nothing, look again.
        fn settle(&mut self) -> bool;
        /// When a timer operation could next proceed.
        fn next_due(&self) -> Option<Instant>;
        /// The `Sender` or `Receiver` this operation was made with (checked on completion).
        fn handle(&self) -> *const ();
        /// Where the outcome is stored: `Option<Result<T, RecvError>>` for a receive,
        /// `Option<SendReady<'_, T>>` for a send.
        fn outcome(&mut self) -> *mut ();
        fn is_send(&self) -> bool;
    }
}

/// Whether a select does its operations or only waits until one could proceed.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `select`, `select!`: complete one operation.
    Take,
    /// `Select::ready`: find one that could proceed, do nothing.
    Watch,
}

/// A send operation of a select (for `select!`; not public API). Its message is given only
/// once it is chosen (SE5).
#[doc(hidden)]
pub struct SendOp<'a, T> {
    tx: &'a Sender<T>,
    mode: Mode,
    /// A watcher's entry (SE5): sends wait as watchers.
    entry: Option<Entry<T>>,
    outcome: Option<SendReady<'a, T>>,
}

/// A receive operation of a select (for `select!`; not public API).
#[doc(hidden)]
pub struct RecvOp<'a, T> {
    rx: &'a Receiver<T>,
    mode: Mode,
    entry: Option<Entry<T>>,
    /// A lazy send claimed by the try pass, to finish the handshake with (SE5).
    handshake: Option<Claimed<T>>,
    outcome: Option<Result<T, RecvError>>,
}

impl<'a, T> SendOp<'a, T> {
    pub fn new(tx: &'a Sender<T>, mode: Mode) -> Self {
        SendOp {
            tx,
            mode,
            entry: None,
            outcome: None,
        }
    }

    /// The chosen send, waiting for its message, if this operation was the one chosen.
    pub fn take_outcome(&mut self) -> Option<SendReady<'a, T>> {
        self.outcome.take()
    }
}

impl<'a, T> RecvOp<'a, T> {
    pub fn new(rx: &'a Receiver<T>, mode: Mode) -> Self {
        RecvOp {
            rx,
            mode,
            entry: None,
            handshake: None,
            outcome: None,
        }
    }

    /// The outcome, if this operation was the one completed.
    pub fn take_outcome(&mut self) -> Option<Result<T, RecvError>> {
        self.outcome.take()
    }
}

/// A chosen send of a select, which gets its message now (SE5; for `select!`, not public
/// API). Sending never blocks: the channel promised room, or a receiver, when it was chosen.
/// Dropped unsent, it gives the promise back (the slot is free again, the receiver waits
/// again).
#[doc(hidden)]
pub struct SendReady<'a, T> {
    tx: &'a Sender<T>,
    promise: Option<Promise<T>>,
}

impl<T> SendReady<'_, T> {
    /// Sends `msg` as promised; `Err` gives it back if every receiver is gone.
    pub fn send(mut self, msg: T) -> Result<(), SendError<T>> {
        match self.promise.take() {
            Some(Promise::Slot) => self.tx.chan.send_promised(msg).map_err(SendError),
            Some(Promise::Partner(mut receiver)) => {
                receiver.put(&mut Some(msg));
                // C3: the receiver waits for this (its claim lasted, C4); wake it through the
                // copied unparker.
                receiver.finish().unpark();
                Ok(())
            }
            Some(Promise::Disconnected) | None => Err(SendError(msg)),
        }
    }
}

impl<T> Drop for SendReady<'_, T> {
    fn drop(&mut self) {
        match self.promise.take() {
            Some(Promise::Slot) => self.tx.chan.release_promised(),
            Some(Promise::Partner(receiver)) => self.tx.chan.release_partner(receiver),
            Some(Promise::Disconnected) | None => {}
        }
    }
}

impl<T> fmt::Debug for SendReady<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("SendReady { .. }")
    }
}

impl<T> fmt::Debug for SendOp<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("SendOp { .. }")
    }
}

impl<T> fmt::Debug for RecvOp<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("RecvOp { .. }")
    }
}

impl<T> SendOp<'_, T> {
    fn chan(&self) -> &Chan<T> {
        &self.tx.chan
    }
}

// `OpImpl` cannot be named outside this module (sealed), so its crate-private types do not
// leak, whatever the lint sees through the public operation types.
#[allow(private_interfaces)]
impl<T> sealed::OpImpl for SendOp<'_, T> {
    fn lock_key(&self) -> Option<usize> {
        Some(self.chan() as *const Chan<T> as usize)
    }

    fn lock(&self) {
        self.chan().lock_raw();
    }

    unsafe fn unlock(&self) {
        // SAFETY: the caller's contract (taken by `lock`, nothing borrowed).
        unsafe { self.chan().unlock_raw() }
    }

    fn try_now(&mut self, _now: Option<Instant>) -> Option<Option<Unparker>> {
        // SAFETY: SE2: the select holds this channel's lock (taken through `lock`); the
        // reference ends with this call.
        let st = unsafe { self.tx.chan.state_raw() };
        match self.mode {
            Mode::Watch => self.tx.chan.send_ready(st).then_some(None),
            Mode::Take => {
                let promise = self.tx.chan.promise_send_locked(st)?;
                self.outcome = Some(SendReady {
                    tx: self.tx,
                    promise: Some(promise),
                });
                // A claimed receiver is woken once it has the message (`SendReady::send`).
                Some(None)
            }
        }
    }

    fn register(&mut self, waiter: &Waiter, case: usize) {
        // SAFETY: as in `try_now`.
        let st = unsafe { self.tx.chan.state_raw() };
        match self.mode {
            Mode::Watch => st
                .watchers
                .push(self.entry.insert(Entry::new(waiter, case, None))),
            Mode::Take => {
                // SE5: a sender without its message; a claimer grants it a way to deliver.
                st.senders_q
                    .push(self.entry.insert(Entry::new_lazy(waiter, case)));
                // A sender waits now: a watching receive may proceed.
                st.notify(Some(waiter));
            }
        }
    }

    fn unregister(&mut self) {
        // W1: removed where it lies (the queue holds its address), before it is dropped.
        if let Some(entry) = &self.entry {
            // SAFETY: as in `try_now`.
            let st = unsafe { self.tx.chan.state_raw() };
            match self.mode {
                Mode::Watch => st.watchers.remove(entry),
                Mode::Take => st.senders_q.remove(entry),
            }
        }
        self.entry = None;
    }

    fn complete(&mut self) -> bool {
        let mut entry = self.entry.take().expect("a completed send was registered");
        if self.mode == Mode::Watch {
            // A watcher was told that the channel changed (SE5): look again.
            return false;
        }
        let promise = match entry.take_grant() {
            Grant::None => Promise::Disconnected,
            Grant::Slot => Promise::Slot,
            // SAFETY: a `Partner` grant comes from a receiver's `claim_own`; it waits for us.
            Grant::Partner(partner) => Promise::Partner(unsafe { Entry::partner(partner) }),
        };
        self.outcome = Some(SendReady {
            tx: self.tx,
            promise: Some(promise),
        });
        true
    }

    fn settle(&mut self) -> bool {
        true
    }

    fn next_due(&self) -> Option<Instant> {
        None
    }

    fn handle(&self) -> *const () {
        self.tx as *const Sender<T> as *const ()
    }

    fn outcome(&mut self) -> *mut () {
        &mut self.outcome as *mut Option<SendReady<'_, T>> as *mut ()
    }

    fn is_send(&self) -> bool {
        true
    }
}

#[allow(private_interfaces)]
impl<T> sealed::OpImpl for RecvOp<'_, T> {
    fn lock_key(&self) -> Option<usize> {
        match &self.rx.flavor {
            Flavor::Chan(chan) => Some(&**chan as *const Chan<T> as usize),
            _ => None,
        }
    }

    fn lock(&self) {
        if let Flavor::Chan(chan) = &self.rx.flavor {
            chan.lock_raw();
        }
    }

    unsafe fn unlock(&self) {
        if let Flavor::Chan(chan) = &self.rx.flavor {
            // SAFETY: the caller's contract (taken by `lock`, nothing borrowed).
            unsafe { chan.unlock_raw() }
        }
    }

    fn try_now(&mut self, now: Option<Instant>) -> Option<Option<Unparker>> {
        if self.mode == Mode::Watch {
            let ready = match &self.rx.flavor {
                // SAFETY: SE2: `Select` holds this channel's lock; the reference ends here.
                Flavor::Chan(chan) => unsafe { chan.state_raw() }.recv_ready(),
                Flavor::At(_) | Flavor::Tick(_) => self
                    .rx
                    .timer_due()
                    .is_some_and(|due| now.unwrap_or_else(Instant::now) >= due),
                Flavor::Never => false,
            };
            return ready.then_some(None);
        }
        let instant = match &self.rx.flavor {
            Flavor::Chan(chan) => {
                // SAFETY: SE2: `Select` holds this channel's lock; the reference ends here.
                let st = unsafe { chan.state_raw() };
                let mut out = None;
                return match chan.try_recv_locked(st, &mut out) {
                    RecvStatus::Got(wake) => {
                        self.outcome = out.map(Ok);
                        Some(wake)
                    }
                    RecvStatus::Handshake(sender) => {
                        // Finished in `settle`, after the locks are released.
                        self.handshake = Some(sender);
                        Some(None)
                    }
                    RecvStatus::Disconnected => {
                        self.outcome = Some(Err(RecvError));
                        Some(None)
                    }
                    RecvStatus::Empty => None,
                };
            }
            Flavor::At(at) => at.try_recv(now.unwrap_or_else(Instant::now))?,
            Flavor::Tick(tick) => tick.try_recv(now.unwrap_or_else(Instant::now))?,
            Flavor::Never => return None,
        };
        // SAFETY: timer flavors only exist in a `Receiver<Instant>`.
        self.outcome = Some(Ok(unsafe { instant_as(instant) }));
        Some(None)
    }

    fn register(&mut self, waiter: &Waiter, case: usize) {
        if let Flavor::Chan(chan) = &self.rx.flavor {
            let entry = self.entry.insert(Entry::new(waiter, case, None));
            // SAFETY: as in `try_now`.
            let st = unsafe { chan.state_raw() };
            match self.mode {
                Mode::Watch => st.watchers.push(entry),
                Mode::Take => {
                    st.receivers_q.push(entry);
                    // A receiver waits now: a watching send may proceed (SE5).
                    st.notify(Some(waiter));
                }
            }
        }
    }

    fn unregister(&mut self) {
        if let (Some(entry), Flavor::Chan(chan)) = (&self.entry, &self.rx.flavor) {
            // SAFETY: as in `try_now`.
            let st = unsafe { chan.state_raw() };
            match self.mode {
                Mode::Watch => st.watchers.remove(entry),
                Mode::Take => st.receivers_q.remove(entry),
            }
        }
        self.entry = None;
    }

    fn complete(&mut self) -> bool {
        let mut entry = self
            .entry
            .take()
            .expect("a completed receive was registered");
        if self.mode == Mode::Watch {
            return false;
        }
        self.outcome = Some(entry.take().ok_or(RecvError));
        true
    }

    fn settle(&mut self) -> bool {
        let (Some(sender), Flavor::Chan(chan)) = (self.handshake.take(), &self.rx.flavor) else {
            return true;
        };
        let mut out = None;
        // If the send backs out, give up at once and look again.
        match chan.handshake(sender, &mut out, Some(Instant::now()), None) {
            Some(_) => {
                self.outcome = Some(out.ok_or(RecvError));
                true
            }
            None => false,
        }
    }

    fn next_due(&self) -> Option<Instant> {
        self.rx.timer_due()
    }

    fn handle(&self) -> *const () {
        self.rx as *const Receiver<T> as *const ()
    }

    fn outcome(&mut self) -> *mut () {
        &mut self.outcome as *mut Option<Result<T, RecvError>> as *mut ()
    }

    fn is_send(&self) -> bool {
        false
    }
}

/// A `Sender` or `Receiver` given to a [`Select`]: makes the select's operation on it.
/// `Sync`, so that a `Select` is `Send + Sync`.
trait SelectHandle: Sync {
    fn op(&self, mode: Mode) -> Box<dyn Op + '_>;
}

impl<T: Send> SelectHandle for Sender<T> {
    fn op(&self, mode: Mode) -> Box<dyn Op + '_> {
        Box::new(SendOp::new(self, mode))
    }
}

impl<T: Send> SelectHandle for Receiver<T> {
    fn op(&self, mode: Mode) -> Box<dyn Op + '_> {
        Box::new(RecvOp::new(self, mode))
    }
}

/// Waits on a set of channel operations known at run time, as crossbeam-channel's `Select`
/// (the [`select!`](crate::select) macro is built on the same algorithm).
///
/// Add operations with [`send`](Select::send) and [`recv`](Select::recv) (each returns its
/// index; [`remove`](Select::remove) takes one out again), then either
/// - [`select`](Select::select), [`try_select`](Select::try_select),
///   [`select_timeout`](Select::select_timeout) or [`select_deadline`](Select::select_deadline):
///   one operation is chosen and must be finished with [`SelectedOperation::send`] (which
///   takes the message now) or [`SelectedOperation::recv`]; finishing never blocks;
/// - or [`ready`](Select::ready), [`try_ready`](Select::try_ready),
///   [`ready_timeout`](Select::ready_timeout) or [`ready_deadline`](Select::ready_deadline):
///   the index of an operation that could proceed now is returned and nothing is done (it may
///   be gone again when the caller tries it, as in crossbeam).
///
/// When several operations are ready, one is chosen at random; [`new_biased`](Select::new_biased)
/// makes a select that prefers them in the order they were added. Blocking parks the calling
/// coroutine or thread. `Clone`, `Send` and `Sync` (it holds only the handles; the message types
/// must be `Send`). A chosen send on a rendezvous channel holds the receiver it found until the
/// message is given, and a chosen send on a bounded channel holds a slot.
///
/// ```
/// use weft::chan::{self, Select};
///
/// let (tx1, rx1) = chan::unbounded::<i32>();
/// let (tx2, rx2) = chan::bounded::<&str>(1);
/// tx1.send(7).unwrap();
/// let mut sel = Select::new();
/// let recv1 = sel.recv(&rx1);
/// let send2 = sel.send(&tx2);
/// let oper = sel.select();
/// match oper.index() {
///     i if i == recv1 => assert_eq!(oper.recv(&rx1), Ok(7)),
///     i if i == send2 => assert_eq!(oper.send(&tx2, "hello"), Ok(())),
///     _ => unreachable!(),
/// }
/// ```
#[derive(Clone)]
pub struct Select<'a> {
    /// Each operation's index and handle, in the order they were added.
    handles: Vec<(usize, &'a dyn SelectHandle)>,
    next_index: usize,
    biased: bool,
}

impl fmt::Debug for Select<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Select")
            .field("operations", &self.handles.len())
            .field("biased", &self.biased)
            .finish()
    }
}

impl Default for Select<'_> {
    fn default() -> Self {
        Select::new()
    }
}

impl<'a> Select<'a> {
    /// An empty set of operations; when several are ready, one is chosen at random. A
    /// `Select` may be used any number of times.
    pub fn new() -> Select<'a> {
        Select {
            handles: Vec::new(),
            next_index: 0,
            biased: false,
        }
    }

    /// An empty set of operations; when several are ready, the one added first is chosen.
    pub fn new_biased() -> Select<'a> {
        Select {
            biased: true,
            ..Select::new()
        }
    }

    /// Adds sending on `tx`; returns the operation's index. The message is given to
    /// [`SelectedOperation::send`] once this operation is chosen.
    pub fn send<T: Send>(&mut self, tx: &'a Sender<T>) -> usize {
        self.add(tx)
    }

    /// Adds receiving on `rx`; returns the operation's index.
    pub fn recv<T: Send>(&mut self, rx: &'a Receiver<T>) -> usize {
        self.add(rx)
    }

    fn add(&mut self, handle: &'a dyn SelectHandle) -> usize {
        let index = self.next_index;
        self.next_index += 1;
        self.handles.push((index, handle));
        index
    }

    /// Removes the operation with this index (the indices of the others stay).
    ///
    /// # Panics
    /// If no operation has this index (never added, or already removed).
    pub fn remove(&mut self, index: usize) {
        let at = self
            .handles
            .iter()
            .position(|&(i, _)| i == index)
            .unwrap_or_else(|| panic!("Select::remove: no operation has index {index}"));
        self.handles.remove(at);
    }

    /// Completes an operation that is ready now, without blocking.
    pub fn try_select(&mut self) -> Result<SelectedOperation<'a>, TrySelectError> {
        self.run(Mode::Take, Wait::No)
            .map(SelectedOperation::new)
            .ok_or(TrySelectError)
    }

    /// Blocks until an operation completes.
    ///
    /// # Panics
    /// If there is no operation (waiting would hang forever; crossbeam panics too).
    pub fn select(&mut self) -> SelectedOperation<'a> {
        self.assert_not_empty("select");
        let chosen = self.run(Mode::Take, Wait::Until(None));
        SelectedOperation::new(chosen.expect("a select without deadline returns an operation"))
    }

    /// Blocks until an operation completes or `timeout` passes.
    pub fn select_timeout(
        &mut self,
        timeout: Duration,
    ) -> Result<SelectedOperation<'a>, SelectTimeoutError> {
        match Instant::now().checked_add(timeout) {
            Some(deadline) => self.select_deadline(deadline),
            None => Ok(self.select()),
        }
    }

    /// Blocks until an operation completes or `deadline` comes.
    pub fn select_deadline(
        &mut self,
        deadline: Instant,
    ) -> Result<SelectedOperation<'a>, SelectTimeoutError> {
        self.run(Mode::Take, Wait::Until(Some(deadline)))
            .map(SelectedOperation::new)
            .ok_or(SelectTimeoutError)
    }

    /// The index of an operation that could proceed now, without blocking and without doing
    /// it.
    pub fn try_ready(&mut self) -> Result<usize, TryReadyError> {
        self.run(Mode::Watch, Wait::No)
            .map(|(index, _)| index)
            .ok_or(TryReadyError)
    }

    /// Blocks until an operation could proceed and returns its index, without doing it. A
    /// disconnected channel counts as ready. The operation may be gone again when the caller
    /// tries it (another party may take it first), so try it without blocking.
    ///
    /// # Panics
    /// If there is no operation.
    pub fn ready(&mut self) -> usize {
        self.assert_not_empty("ready");
        let (index, _) = self
            .run(Mode::Watch, Wait::Until(None))
            .expect("a select without deadline returns an operation");
        index
    }

    /// As [`ready`](Select::ready), giving up after `timeout`.
    pub fn ready_timeout(&mut self, timeout: Duration) -> Result<usize, ReadyTimeoutError> {
        match Instant::now().checked_add(timeout) {
            Some(deadline) => self.ready_deadline(deadline),
            None => Ok(self.ready()),
        }
    }

    /// As [`ready`](Select::ready), giving up at `deadline`.
    pub fn ready_deadline(&mut self, deadline: Instant) -> Result<usize, ReadyTimeoutError> {
        self.run(Mode::Watch, Wait::Until(Some(deadline)))
            .map(|(index, _)| index)
            .ok_or(ReadyTimeoutError)
    }

    fn assert_not_empty(&self, what: &str) {
        assert!(
            !self.handles.is_empty(),
            "Select::{what}: no operations have been added to the Select"
        );
    }

    /// Runs the select over fresh operations; returns the chosen one with its index.
    fn run(&self, mode: Mode, wait: Wait) -> Option<(usize, Box<dyn Op + 'a>)> {
        let mut ops: Vec<Box<dyn Op + 'a>> =
            self.handles.iter().map(|&(_, h)| h.op(mode)).collect();
        let mut refs: Vec<&mut dyn Op> =
            ops.iter_mut().map(|op| &mut **op as &mut dyn Op).collect();
        let chosen = run(&mut refs, wait, self.biased)?;
        drop(refs);
        Some((self.handles[chosen].0, ops.swap_remove(chosen)))
    }
}

/// DU1: the operations of a waiting select, for the dump.
///
/// # Safety
/// `ops` points to the `*const [&mut dyn Op]` that `run` keeps in its frame while it waits, and
/// that frame is suspended in the wait (the dump's owner worker calls this between resumes).
unsafe fn list_ops(ops: *const (), out: &mut Vec<crate::park::SelectOp>) {
    // SAFETY: the caller's contract: the pointer and the operations it points to are alive
    // and nobody uses them meanwhile.
    let ops = unsafe { &**ops.cast::<*const [&mut dyn Op]>() };
    for op in ops {
        out.push(crate::park::SelectOp {
            send: op.is_send(),
            chan: op.lock_key().unwrap_or(0),
        });
    }
}

/// Arms of a select up to this many need no heap allocation in `run`.
const INLINE_OPS: usize = 32;

/// The select algorithm (SE1–SE5) over `ops`, which must not move while it runs (their
/// entries are queued by address). Returns the index of the completed operation (its outcome
/// is in it), or `None` for "nothing ready" (`Wait::No`) or the deadline. Public only for the
/// `select!` macro.
#[doc(hidden)]
pub fn run<'o>(ops: &mut [&'o mut (dyn Op + 'o)], wait: Wait, biased: bool) -> Option<usize> {
    let n = ops.len();
    // SE1: a random order (or the given one). SE2: each channel locked once, in address order.
    let (mut order_buf, mut order_vec) = ([0usize; INLINE_OPS], Vec::new());
    let order: &mut [usize] = if n <= INLINE_OPS {
        &mut order_buf[..n]
    } else {
        order_vec.resize(n, 0);
        &mut order_vec
    };
    if biased {
        order.iter_mut().enumerate().for_each(|(i, slot)| *slot = i);
    } else {
        random_order(order);
    }
    let (mut lock_buf, mut lock_vec) = ([(0usize, 0usize); INLINE_OPS], Vec::new());
    let mut nlocks = 0;
    let mut timers = false;
    for (i, op) in ops.iter().enumerate() {
        match op.lock_key() {
            Some(key) if n <= INLINE_OPS => {
                lock_buf[nlocks] = (key, i);
                nlocks += 1;
            }
            Some(key) => lock_vec.push((key, i)),
            None => timers = true,
        }
    }
    let locks: &mut [(usize, usize)] = if n <= INLINE_OPS {
        &mut lock_buf[..nlocks]
    } else {
        &mut lock_vec
    };
    locks.sort_unstable();
    let mut unique = 0;
    for i in 0..locks.len() {
        if unique == 0 || locks[unique - 1].0 != locks[i].0 {
            locks[unique] = locks[i];
            unique += 1;
        }
    }
    let locks = &locks[..unique];
    let deadline = match wait {
        Wait::No => None,
        Wait::Until(d) => d,
    };
    // The clock is read only when a timer or a deadline needs it.
    let needs_clock = timers || deadline.is_some();
    loop {
        let now = needs_clock.then(Instant::now);
        // Made only if the call must wait; it outlives the locked part (entries point to it).
        let mut waiter: Option<Waiter> = None;
        let step = with_locks(ops, locks, |ops| {
            // SE1: the first ready operation in random order.
            for &i in order.iter() {
                if let Some(wake) = ops[i].try_now(now) {
                    return Step::Done(i, wake);
                }
            }
            if matches!(wait, Wait::No) || deadline.is_some_and(|d| now.is_some_and(|n| n >= d)) {
                return Step::GiveUp;
            }
            // SE3: register everywhere (under all the locks), then park once; SE1: in the
            // same order, so that of two operations on one channel neither is always first.
            let waiter = waiter.insert(Waiter::new());
            for &i in order.iter() {
                ops[i].register(waiter, i);
            }
            Step::Wait
        });
        match step {
            Step::Done(i, wake) => {
                wake_one(wake);
                if ops[i].settle() {
                    return Some(i);
                }
                continue;
            }
            Step::GiveUp => return None,
            Step::Wait => {}
        }
        let wake_at = ops
            .iter()
            .filter_map(|op| op.next_due())
            .chain(deadline)
            .min();
        // DU1: the dump lists the operations through this pointer, while this frame waits.
        let listed: *const [&'o mut (dyn Op + 'o)] = &*ops;
        let select = crate::park::SelectWait {
            ops: (&raw const listed).cast(),
            list: list_ops,
        };
        let why = crate::park::Wait::Select(&select);
        let done = match &waiter {
            Some(waiter) => waiter.wait(wake_at, why),
            None => unreachable!("a select that waits has registered"),
        };
        // SE4: every entry off its queue before `waiter` goes away (W1).
        with_locks(ops, locks, |ops| {
            for (i, op) in ops.iter_mut().enumerate() {
                if Some(i) != done {
                    op.unregister();
                }
            }
        });
        // SE5: unless a watcher was told of a change (then look again).
        if let Some(i) = done
            && ops[i].complete()
        {
            return Some(i);
        }
    }
}

/// What the locked part of one round of `run` decided.
enum Step {
    Done(usize, Option<Unparker>),
    GiveUp,
    Wait,
}

/// Runs `f` with the locks of all the select's channels held (SE2) and always releases them: a
/// panic in there (which would be a bug in weft) unwinds after every entry `f` may have queued
/// is taken off again (W1) and the locks are free, instead of leaving the channels locked and
/// their other parties hanging.
fn with_locks<'o, R>(
    ops: &mut [&'o mut (dyn Op + 'o)],
    locks: &[(usize, usize)],
    f: impl FnOnce(&mut [&'o mut (dyn Op + 'o)]) -> R,
) -> R {
    lock_all(ops, locks);
    let result = panic::catch_unwind(AssertUnwindSafe(|| f(&mut *ops)));
    if result.is_err() {
        for op in ops.iter_mut() {
            op.unregister();
        }
    }
    unlock_all(ops, locks);
    match result {
        Ok(r) => r,
        Err(payload) => panic::resume_unwind(payload),
    }
}

fn lock_all(ops: &[&mut (dyn Op + '_)], locks: &[(usize, usize)]) {
    for &(_, i) in locks {
        ops[i].lock();
    }
}

fn unlock_all(ops: &[&mut (dyn Op + '_)], locks: &[(usize, usize)]) {
    for &(_, i) in locks.iter().rev() {
        // SAFETY: `lock_all` took exactly these locks on this thread, and the operations keep
        // no reference into the channel states between calls.
        unsafe { ops[i].unlock() };
    }
}

/// How long a select may wait (for `select!`; not public API).
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub enum Wait {
    /// Not at all (`try_select`, `default`).
    No,
    /// Until an operation completes, or the deadline if any.
    Until(Option<Instant>),
}

/// The operation a [`Select`] chose. Finish it with [`send`](SelectedOperation::send) or
/// [`recv`](SelectedOperation::recv), passing the same handle that was given to the `Select`.
/// Those never block (the channel promised the send, or the message was received). Dropping
/// it unfinished panics, as crossbeam's does. Not `Send`.
#[must_use = "a selected operation must be finished with `send` or `recv`"]
pub struct SelectedOperation<'a> {
    index: usize,
    op: Box<dyn Op + 'a>,
    finished: bool,
}

impl fmt::Debug for SelectedOperation<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SelectedOperation")
            .field("index", &self.index)
            .finish()
    }
}

impl<'a> SelectedOperation<'a> {
    fn new((index, op): (usize, Box<dyn Op + 'a>)) -> SelectedOperation<'a> {
        SelectedOperation {
            index,
            op,
            finished: false,
        }
    }

    /// The index the operation got when it was added.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Sends `msg` as the selected send; never blocks. `Err` gives the message back if every
    /// receiver is gone.
    ///
    /// # Panics
    /// If `tx` is not the sender this operation was added with.
    pub fn send<T>(mut self, tx: &Sender<T>, msg: T) -> Result<(), SendError<T>> {
        assert!(
            self.op.is_send() && self.op.handle() == tx as *const Sender<T> as *const (),
            "SelectedOperation::send: not the sender of the selected operation"
        );
        self.finished = true;
        let outcome = self.op.outcome() as *mut Option<SendReady<'_, T>>;
        // SAFETY: the operation was made by `Select::send` with this very `Sender<T>`
        // (checked above), so its outcome slot has this type (its lifetime is that of the
        // `&Sender` it holds, which outlives this call); `self.op` is ours, nothing else
        // touches it.
        let ready = unsafe { (*outcome).take() };
        ready
            .expect("a selected operation has an outcome")
            .send(msg)
    }

    /// The outcome of the selected receive: the message, or `Err` if the channel was empty
    /// and disconnected.
    ///
    /// # Panics
    /// If `rx` is not the receiver this operation was added with.
    pub fn recv<T>(mut self, rx: &Receiver<T>) -> Result<T, RecvError> {
        assert!(
            !self.op.is_send() && self.op.handle() == rx as *const Receiver<T> as *const (),
            "SelectedOperation::recv: not the receiver of the selected operation"
        );
        self.finished = true;
        let outcome = self.op.outcome() as *mut Option<Result<T, RecvError>>;
        // SAFETY: as in `send`, for `Select::recv` with this very `Receiver<T>`.
        unsafe { (*outcome).take() }.expect("a selected operation has an outcome")
    }
}

impl Drop for SelectedOperation<'_> {
    fn drop(&mut self) {
        // A received message or a promised send would be silently lost.
        if !self.finished && !std::thread::panicking() {
            panic!("dropped a SelectedOperation without finishing it with `send` or `recv`");
        }
    }
}

/// Fills `order` with a random permutation of `0..order.len()` (SE1).
fn random_order(order: &mut [usize]) {
    for (i, slot) in order.iter_mut().enumerate() {
        *slot = i;
    }
    for i in (1..order.len()).rev() {
        let j = (next_random() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
}

fn next_random() -> u64 {
    thread_local! {
        static RNG: Cell<u64> = Cell::new(seed());
    }
    RNG.with(|rng| {
        // xorshift64*: only spreads choices; quality beyond uniformity does not matter.
        let mut x = rng.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        rng.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    })
}

fn seed() -> u64 {
    let local = 0u8;
    let addr = &local as *const u8 as u64;
    let time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    (addr ^ time.rotate_left(32)) | 1
}
