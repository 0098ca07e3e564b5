//! `Select`: wait on several channel operations, complete exactly one (Go's `selectgo`).
//!
//! The algorithm (arch/select.md, SE1–SE4):
//! - SE1: the operations are tried in a fresh random order, so when several are ready each is
//!   chosen with equal probability (no arm starves).
//! - SE2: the locks of all channels involved are taken at once, in address order (each
//!   channel once), for the try pass and the registration, so no partner can complete an
//!   operation of this call while it registers; hence no "ready between try and register"
//!   gap and no wake-up lost.
//! - SE3: a call that must wait registers one entry per channel operation, all sharing one
//!   selection word (C1: exactly one is completed), releases the locks and parks once.
//! - SE4: after waking it retakes all locks and takes every entry of its own off the queues
//!   (W1) before it returns; a wake-up for a timer or the deadline aborts the call (C1) and
//!   starts over from the try pass.
//!
//! Go's evaluation rule applies to send operations: each message is given (evaluated) once,
//! up front; the messages of operations that lose are dropped with the `Select`.

use std::cell::Cell;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use super::channel::{Chan, RecvStatus, SendStatus, wake_one};
use super::error::{RecvError, SelectTimeoutError, SendError, TrySelectError};
use super::waiter::{Entry, Waiter};
use super::{Flavor, Receiver, Sender, instant_as};
use crate::park::Unparker;

/// One operation of a select, with its message or outcome. Public (hidden) only so that the
/// `select!` macro can name it; its methods live in the crate-private `OpImpl` (sealed).
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
        /// With the lock held: completes the operation if it can proceed now; `Some(wake)` if it
        /// did (wake after unlocking).
        fn try_now(&mut self, now: Option<Instant>) -> Option<Option<Unparker>>;
        /// With the lock held: queues an entry for `case` of the call waiting on `waiter`.
        fn register(&mut self, waiter: &Waiter, case: usize);
        /// With the lock held: takes the entry off its queue, if it is there (W1).
        fn unregister(&mut self);
        /// After `Done(case)` for this operation: moves the outcome out of the entry (C2).
        fn complete(&mut self);
        /// When a timer operation could next proceed.
        fn next_due(&self) -> Option<Instant>;
        /// The `Sender` or `Receiver` this operation was made with (checked on completion).
        fn handle(&self) -> *const ();
        /// Where the outcome is stored: `Option<Result<T, RecvError>>` for a receive,
        /// `Option<Result<(), SendError<T>>>` for a send.
        fn outcome(&mut self) -> *mut ();
        fn is_send(&self) -> bool;
        /// Whether the operation could still complete (a send is used up once it has).
        fn can_complete(&self) -> bool;
        /// Drops an outcome nobody took (a leaked `SelectedOperation` of an earlier round).
        fn clear_outcome(&mut self);
    }
}

/// A send operation of a select (for `select!`; not public API).
#[doc(hidden)]
pub struct SendOp<'a, T> {
    tx: &'a Sender<T>,
    msg: Option<T>,
    entry: Option<Entry<T>>,
    outcome: Option<Result<(), SendError<T>>>,
}

/// A receive operation of a select (for `select!`; not public API).
#[doc(hidden)]
pub struct RecvOp<'a, T> {
    rx: &'a Receiver<T>,
    entry: Option<Entry<T>>,
    outcome: Option<Result<T, RecvError>>,
}

impl<'a, T> SendOp<'a, T> {
    pub fn new(tx: &'a Sender<T>, msg: T) -> Self {
        SendOp {
            tx,
            msg: Some(msg),
            entry: None,
            outcome: None,
        }
    }

    /// The outcome, if this operation was the one completed.
    pub fn take_outcome(&mut self) -> Option<Result<(), SendError<T>>> {
        self.outcome.take()
    }
}

impl<'a, T> RecvOp<'a, T> {
    pub fn new(rx: &'a Receiver<T>) -> Self {
        RecvOp {
            rx,
            entry: None,
            outcome: None,
        }
    }

    /// The outcome, if this operation was the one completed.
    pub fn take_outcome(&mut self) -> Option<Result<T, RecvError>> {
        self.outcome.take()
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
        // A send completed by an earlier select of a reused `Select` is spent.
        self.msg.as_ref()?;
        // SAFETY: SE2: the select holds this channel's lock (taken through `lock`); the
        // reference ends with this call.
        let st = unsafe { self.tx.chan.state_raw() };
        match self.tx.chan.try_send_locked(st, &mut self.msg) {
            SendStatus::Sent(wake) => {
                self.outcome = Some(Ok(()));
                Some(wake)
            }
            SendStatus::Disconnected => {
                let msg = self.msg.take().expect("a refused send keeps its message");
                self.outcome = Some(Err(SendError(msg)));
                Some(None)
            }
            SendStatus::Full => None,
        }
    }

    fn register(&mut self, waiter: &Waiter, case: usize) {
        // A send completed by an earlier `select` of a reused `Select` has no message left:
        // it is spent and never offered again.
        let Some(msg) = self.msg.take() else {
            return;
        };
        let entry = self.entry.insert(Entry::new(waiter, case, Some(msg)));
        // SAFETY: as in `try_now`.
        unsafe { self.tx.chan.state_raw() }.senders_q.push(entry);
    }

    fn unregister(&mut self) {
        // W1: removed where it lies (the queue holds its address), then moved out.
        if let Some(entry) = &self.entry {
            // SAFETY: as in `try_now`.
            unsafe { self.tx.chan.state_raw() }.senders_q.remove(entry);
        }
        if let Some(mut entry) = self.entry.take() {
            // Not completed: the message is still ours.
            self.msg = entry.take();
        }
    }

    fn complete(&mut self) {
        let mut entry = self.entry.take().expect("a completed send was registered");
        self.outcome = Some(match entry.take() {
            None => Ok(()),
            Some(v) => Err(SendError(v)),
        });
    }

    fn next_due(&self) -> Option<Instant> {
        None
    }

    fn handle(&self) -> *const () {
        self.tx as *const Sender<T> as *const ()
    }

    fn outcome(&mut self) -> *mut () {
        &mut self.outcome as *mut Option<Result<(), SendError<T>>> as *mut ()
    }

    fn is_send(&self) -> bool {
        true
    }

    fn can_complete(&self) -> bool {
        self.msg.is_some()
    }

    fn clear_outcome(&mut self) {
        self.outcome = None;
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
            unsafe { chan.state_raw() }.receivers_q.push(entry);
        }
    }

    fn unregister(&mut self) {
        if let (Some(entry), Flavor::Chan(chan)) = (&self.entry, &self.rx.flavor) {
            // SAFETY: as in `try_now`.
            unsafe { chan.state_raw() }.receivers_q.remove(entry);
        }
        self.entry = None;
    }

    fn complete(&mut self) {
        let mut entry = self
            .entry
            .take()
            .expect("a completed receive was registered");
        self.outcome = Some(entry.take().ok_or(RecvError));
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

    fn can_complete(&self) -> bool {
        true
    }

    fn clear_outcome(&mut self) {
        self.outcome = None;
    }
}

/// Waits on a set of channel operations known at run time and completes exactly one, as
/// crossbeam-channel's `Select` (the [`select!`](crate::select) macro is built on it).
///
/// Add operations with [`send`](Select::send) and [`recv`](Select::recv) (each returns its
/// index), then call [`select`](Select::select), [`try_select`](Select::try_select) or
/// [`select_timeout`](Select::select_timeout). When several operations are ready, one is
/// chosen at random. The chosen operation is already complete when it is returned; finish it
/// with [`SelectedOperation::send`] or [`SelectedOperation::recv`] to get its outcome.
///
/// Unlike crossbeam, a send's message is given to [`Select::send`] up front (Go's rule: it is
/// evaluated once, before waiting); if another operation is chosen, the message is dropped
/// with the `Select`. Blocking parks the calling coroutine or thread. Not `Send`: use it on the
/// coroutine or thread that built it.
///
/// ```
/// use weft::chan::{self, Select};
///
/// let (tx1, rx1) = chan::unbounded::<i32>();
/// let (tx2, rx2) = chan::bounded::<&str>(1);
/// tx1.send(7).unwrap();
/// let mut sel = Select::new();
/// let recv1 = sel.recv(&rx1);
/// let send2 = sel.send(&tx2, "hello");
/// let oper = sel.select();
/// match oper.index() {
///     i if i == recv1 => assert_eq!(oper.recv(&rx1), Ok(7)),
///     i if i == send2 => assert_eq!(oper.send(&tx2), Ok(())),
///     _ => unreachable!(),
/// }
/// ```
pub struct Select<'a> {
    ops: Vec<Box<dyn Op + 'a>>,
}

impl fmt::Debug for Select<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Select")
            .field("operations", &self.ops.len())
            .finish()
    }
}

impl Default for Select<'_> {
    fn default() -> Self {
        Select::new()
    }
}

impl<'a> Select<'a> {
    /// An empty set of operations. A `Select` may be used again: a receive can complete every
    /// time, a send only once (its message is gone after that).
    pub fn new() -> Select<'a> {
        Select { ops: Vec::new() }
    }

    /// Adds sending `msg` on `tx`; returns the operation's index.
    pub fn send<T>(&mut self, tx: &'a Sender<T>, msg: T) -> usize {
        self.ops.push(Box::new(SendOp::new(tx, msg)));
        self.ops.len() - 1
    }

    /// Adds receiving on `rx`; returns the operation's index.
    pub fn recv<T>(&mut self, rx: &'a Receiver<T>) -> usize {
        self.ops.push(Box::new(RecvOp::new(rx)));
        self.ops.len() - 1
    }

    /// Completes an operation that is ready now, without blocking.
    pub fn try_select(&mut self) -> Result<SelectedOperation<'_, 'a>, TrySelectError> {
        match self.run(Wait::No) {
            Some(index) => Ok(self.selected(index)),
            None => Err(TrySelectError),
        }
    }

    /// Blocks until an operation completes.
    ///
    /// # Panics
    /// If no operation can ever complete: none was added, or every one is a send that already
    /// completed in an earlier select of this `Select` (as crossbeam panics on an empty
    /// `Select`; waiting would hang forever).
    pub fn select(&mut self) -> SelectedOperation<'_, 'a> {
        assert!(
            self.ops.iter().any(|op| op.can_complete()),
            "Select::select: no operation can ever complete (none was added, or every one is a \
             send that already completed in an earlier select of this Select)"
        );
        let index = self
            .run(Wait::Until(None))
            .expect("a select without deadline only returns with an operation");
        self.selected(index)
    }

    /// Blocks until an operation completes or `timeout` passes.
    pub fn select_timeout(
        &mut self,
        timeout: Duration,
    ) -> Result<SelectedOperation<'_, 'a>, SelectTimeoutError> {
        match Instant::now().checked_add(timeout) {
            Some(deadline) => self.select_deadline(deadline),
            None => Ok(self.select()),
        }
    }

    /// Blocks until an operation completes or `deadline` comes.
    pub fn select_deadline(
        &mut self,
        deadline: Instant,
    ) -> Result<SelectedOperation<'_, 'a>, SelectTimeoutError> {
        match self.run(Wait::Until(Some(deadline))) {
            Some(index) => Ok(self.selected(index)),
            None => Err(SelectTimeoutError),
        }
    }

    fn selected(&mut self, index: usize) -> SelectedOperation<'_, 'a> {
        SelectedOperation {
            op: &mut *self.ops[index],
            index,
            finished: false,
        }
    }

    fn run(&mut self, wait: Wait) -> Option<usize> {
        // Outside the locks: an old outcome's drop is user code.
        self.ops.iter_mut().for_each(|op| op.clear_outcome());
        let mut ops: Vec<&mut dyn Op> = self
            .ops
            .iter_mut()
            .map(|op| &mut **op as &mut dyn Op)
            .collect();
        run(&mut ops, wait)
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

/// The select algorithm (SE1–SE4) over `ops`, which must not move while it runs (their
/// entries are queued by address). Returns the index of the completed operation (its outcome
/// is in it), or `None` for "nothing ready" (`Wait::No`) or the deadline. Public only for the
/// `select!` macro.
#[doc(hidden)]
pub fn run<'o>(ops: &mut [&'o mut (dyn Op + 'o)], wait: Wait) -> Option<usize> {
    let n = ops.len();
    // SE1: a random order. SE2: each channel locked once, in address order.
    let (mut order_buf, mut order_vec) = ([0usize; INLINE_OPS], Vec::new());
    let order: &mut [usize] = if n <= INLINE_OPS {
        &mut order_buf[..n]
    } else {
        order_vec.resize(n, 0);
        &mut order_vec
    };
    random_order(order);
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
            // SE3: register everywhere (under all the locks), then park once.
            let waiter = waiter.insert(Waiter::new());
            for (i, op) in ops.iter_mut().enumerate() {
                op.register(waiter, i);
            }
            Step::Wait
        });
        match step {
            Step::Done(i, wake) => {
                wake_one(wake);
                return Some(i);
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
        if let Some(i) = done {
            ops[i].complete();
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

/// The operation a [`Select`] completed. Finish it with [`send`](SelectedOperation::send) or
/// [`recv`](SelectedOperation::recv), passing the same handle that was given to the `Select`.
/// Those never block (the operation already happened). Not `Send`, like the `Select` it
/// borrows.
pub struct SelectedOperation<'s, 'a> {
    op: &'s mut (dyn Op + 'a),
    index: usize,
    finished: bool,
}

impl fmt::Debug for SelectedOperation<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SelectedOperation")
            .field("index", &self.index)
            .finish()
    }
}

impl SelectedOperation<'_, '_> {
    /// The index the operation got when it was added.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The outcome of the selected send: `Err` gives the message back if every receiver was
    /// gone.
    ///
    /// # Panics
    /// If `tx` is not the sender this operation was added with.
    pub fn send<T>(mut self, tx: &Sender<T>) -> Result<(), SendError<T>> {
        assert!(
            self.op.is_send() && self.op.handle() == tx as *const Sender<T> as *const (),
            "SelectedOperation::send: not the sender of the selected operation"
        );
        self.finished = true;
        let outcome = self.op.outcome() as *mut Option<Result<(), SendError<T>>>;
        // SAFETY: the operation was made by `Select::send` with this very `Sender<T>`
        // (checked above), so its outcome slot has exactly this type; `self.op` borrows it
        // mutably, so nothing else touches it.
        unsafe { (*outcome).take() }.expect("a selected operation has an outcome")
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

impl Drop for SelectedOperation<'_, '_> {
    fn drop(&mut self) {
        // The operation already happened: dropping its outcome would silently lose a message.
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
