//! The one way to block: park the current coroutine, or the current OS thread.
//!
//! Every blocking call in weft (join, sleep, `thread::park`, and the channels and locks built
//! later) is written as "register an [`Unparker`] where the waker will find it → re-check the
//! condition → [`park`] → loop". [`park`] may return spuriously (P4), so callers always loop.
//!
//! Inside a coroutine, [`park`] switches to the worker, which commits the park after the
//! switch (P1, coroutine/state.rs); the worker thread goes on with other coroutines. On a plain
//! OS thread, [`park`] blocks the thread on its private `OsParker` (parker.rs). The two kinds
//! of waiter mix freely: an `Unparker` wakes either.
//!
//! The user's park token (`weft::thread::park`, P6) is parked on and set through
//! [`park_token`] and [`unpark_token`], over the same raw park.
//!
//! The invariants P1–P9 are stated in arch/park.md.

use std::cell::Cell;
use std::ptr::NonNull;
use std::sync::Arc;
use std::time::Instant;

pub(crate) use crate::coroutine::{SelectOp, SelectWait, Wait};
use crate::coroutine::{Suspend, Task, TaskRef, ThreadId, current};
use crate::parker::OsParker;
use crate::scheduler;

thread_local! {
    /// The private parker of this OS thread (only used outside coroutines).
    static OS_PARKER: Arc<OsParker> = Arc::new(OsParker::new());
    /// This OS thread's identity as a lock holder ([`holder`]); 0 until first asked. `const`
    /// and without a destructor, so it is there even while thread-locals are destroyed.
    static OS_HOLDER: Cell<u64> = const { Cell::new(0) };
}

/// The private parker of this OS thread; `None` once its thread-locals are being destroyed
/// (a join from a thread-local destructor): the thread then waits on std's park token, as
/// std's own join would (P5).
fn os_parker() -> Option<Arc<OsParker>> {
    OS_PARKER.try_with(Arc::clone).ok()
}

/// A handle that wakes one parked coroutine or OS thread. `Send + Sync`, cheap to clone.
#[derive(Debug, Clone)]
pub(crate) enum Unparker {
    Coroutine(TaskRef),
    Thread(Arc<OsParker>),
    /// An OS thread whose weft thread-locals are already destroyed.
    StdThread(std::thread::Thread),
}

impl Unparker {
    /// Wakes the waiter: its current or next [`park`] returns. Spends the handle: a
    /// coroutine's reference moves into the run queue instead of being copied there.
    #[inline]
    pub(crate) fn unpark(self) {
        match self {
            Unparker::Coroutine(task) => scheduler::wake_owned(task),
            Unparker::Thread(parker) => {
                // A plain thread's parker never polls the I/O driver.
                parker.unpark();
            }
            Unparker::StdThread(thread) => thread.unpark(),
        }
    }
}

/// The unparker of the caller: its coroutine if it runs in one, else its OS thread.
#[inline]
pub(crate) fn current() -> Unparker {
    match current::task() {
        Some(task) => Unparker::Coroutine(task),
        None => match os_parker() {
            Some(parker) => Unparker::Thread(parker),
            None => Unparker::StdThread(std::thread::current()),
        },
    }
}

/// The caller's unparker as its own waiting frame keeps it (a lock's queue node, a channel's
/// wait entry): for a coroutine a plain pointer to its task, so registering as a waiter costs
/// no reference count; a waker that finds it turns it into an [`Unparker`] with
/// [`LocalUnparker::upgrade`] (P8, arch/park.md).
#[derive(Debug)]
pub(crate) enum LocalUnparker {
    Coroutine(NonNull<Task>),
    Other(Unparker),
}

// SAFETY: wakers on other threads only read the pointer (immutable after creation) and, in
// `upgrade`, bump the count of the task it points to, which is thread-safe; P8 keeps the task
// alive meanwhile. `Unparker` is `Sync`.
unsafe impl Sync for LocalUnparker {}

impl LocalUnparker {
    /// An owned [`Unparker`] for the waiter.
    ///
    /// # Safety
    /// The frame that called [`current_local`] has not returned yet. Waiters guarantee it by
    /// taking their node or entry off every queue before they return, and wakers by calling
    /// this under the lock of the queue they found it on.
    #[inline]
    pub(crate) unsafe fn upgrade(&self) -> Unparker {
        match self {
            LocalUnparker::Coroutine(task) => {
                // SAFETY: P8: the caller's frame is live, so the coroutine body that holds its
                // own reference to the task (CO5) has not returned: the pointer, which came
                // from `TaskRef::as_ptr`, points to a live task.
                Unparker::Coroutine(unsafe { TaskRef::from_ptr(task.as_ptr()) })
            }
            LocalUnparker::Other(u) => u.clone(),
        }
    }
}

/// The caller's [`LocalUnparker`], to be kept on the caller's own stack frame (P8).
#[inline]
pub(crate) fn current_local() -> LocalUnparker {
    match current::task_nonnull() {
        Some(task) => LocalUnparker::Coroutine(task),
        None => LocalUnparker::Other(current()),
    }
}

/// The caller's identity as the holder of a lock (M6, RW6 in arch/sync.md): its coroutine's
/// id inside a coroutine, else its OS thread's. Never 0, and never the same for two coroutines
/// or threads of the process (ids are not reused), so coroutines that share a worker thread
/// are told apart. A thread-local read, then the task's id or a second thread-local read; no
/// atomic operation.
#[inline]
pub(crate) fn holder() -> u64 {
    match current::with_task(|task| task.id.as_u64().get()) {
        Some(id) => id,
        None => {
            let id = OS_HOLDER.with(Cell::get);
            if id != 0 { id } else { new_os_holder() }
        }
    }
}

#[cold]
fn new_os_holder() -> u64 {
    let id = ThreadId::new().as_u64().get();
    OS_HOLDER.with(|h| h.set(id));
    id
}

/// Panics because the caller tried to take a lock it holds (M6, RW6): `what` says what it did,
/// e.g. "locked a weft::sync::Mutex it already holds (…)". The message names the coroutine (its
/// name and id) or the OS thread (its name). Called before anything was queued, so the
/// unwinding leaves the lock as it was.
#[cold]
#[track_caller]
pub(crate) fn relock_panic(what: &str) -> ! {
    match current::with_task(|task| (task.display_name().to_owned(), task.id)) {
        Some((name, id)) => panic!("weft: coroutine '{name}' (id {id}) {what}"),
        None => {
            let thread = std::thread::current();
            let name = thread.name().unwrap_or("<unnamed>");
            panic!("weft: thread '{name}' {what}")
        }
    }
}

/// Blocks the caller until it is unparked, `deadline` passes, or a spurious wake-up (P4).
/// `wait` says what for, for the dump (DU1); a plain thread ignores it.
#[inline]
pub(crate) fn park(deadline: Option<Instant>, wait: Wait) {
    if current::with_task(|task| park_coroutine(task, deadline, wait)).is_some() {
        return;
    }
    match (os_parker(), deadline) {
        (Some(parker), _) => parker.park(deadline),
        (None, None) => std::thread::park(),
        (None, Some(d)) => std::thread::park_timeout(d.saturating_duration_since(Instant::now())),
    }
}

#[inline]
fn park_coroutine(task: &Task, deadline: Option<Instant>, wait: Wait) {
    if task.state.try_consume_wake() {
        return;
    }
    if deadline.is_some_and(|d| d <= Instant::now()) {
        return;
    }
    if std::thread::panicking() {
        return park_while_panicking(task, deadline);
    }
    // The wake that ends this park is consumed by the worker that pops the coroutine (P9); a
    // wake that made the commit fail stays pending, and makes the next park return at once.
    // DU1: stored by the coroutine itself, for a dump's trace resume to read (DU3).
    task.set_wait(wait);
    task.suspend(Suspend::Park(deadline));
    if deadline.is_some() {
        // T2: if the wake came from elsewhere, the timer is now stale.
        scheduler::disarm_timer(task);
    }
}

/// P6: waits on the current coroutine's user park token until it is set (consuming it) or
/// `deadline` passes. Returns `false` at once, without waiting, outside coroutines.
#[inline]
pub(crate) fn park_token(deadline: Option<Instant>) -> bool {
    current::with_task(|task| {
        task.token.park(|| {
            // Already inside the coroutine: no second look at which one it is.
            park_coroutine(task, deadline, Wait::Park);
            deadline.is_some_and(|d| Instant::now() >= d)
        })
    })
    .is_some()
}

/// P6: sets `task`'s user park token, and wakes the coroutine if it waits on it. Any thread.
#[inline]
pub(crate) fn unpark_token(task: &TaskRef) {
    if task.token.unpark() {
        scheduler::wake(task);
    }
}

/// P7: a coroutine that blocks while it is panicking (in a `Drop` run by unwinding, or in a
/// panic hook) does not switch away: std keeps the panic count and the panic-hook state per
/// OS thread, and other coroutines of the worker would inherit them (wrong lock poisoning,
/// "panicked while processing panic" aborts). It blocks the worker thread instead, polling its
/// wake bit with growing sleeps. Other coroutines of this worker wait meanwhile; one of them
/// cannot be the waker (that would deadlock), which arch/README.md lists under what blocks what.
#[cold]
fn park_while_panicking(task: &Task, deadline: Option<Instant>) {
    let mut pause = std::time::Duration::from_micros(10);
    let since = Instant::now();
    let mut warned = false;
    while !task.state.try_consume_wake() {
        let now = Instant::now();
        if deadline.is_some_and(|d| d <= now) {
            return;
        }
        if !warned && now - since >= std::time::Duration::from_secs(1) {
            warned = true;
            crate::fatal::eprint(&format!(
                "weft: coroutine '{}' (id {}) has been blocking its worker thread for 1 s while \
                 panicking (a Drop run by unwinding, or a panic hook, waits for something); \
                 the other coroutines of that worker cannot run until it is woken, so if one of \
                 them is the waker this is a deadlock\n",
                task.display_name(),
                task.id
            ));
        }
        // The worker is blocked here, so it would never poll for I/O: if this coroutine
        // waits for a socket (and it is the only worker), nobody else would see the event.
        if scheduler::poll_io_now() > 0 {
            continue;
        }
        let nap = deadline.map_or(pause, |d| pause.min(d - now));
        std::thread::sleep(nap);
        pause = (pause * 2).min(std::time::Duration::from_millis(1));
    }
}

/// Yields the current coroutine behind the other runnable work of its worker; on a plain
/// thread, `std::thread::yield_now`. A panicking coroutine does not switch (P7).
#[inline]
pub(crate) fn yield_now() {
    match current::with_task(|task| {
        // Alone on its worker, a yield would be resumed at once: skip the two switches.
        if scheduler::yield_returns_at_once() {
            return;
        }
        if !std::thread::panicking() {
            task.suspend(Suspend::Yield);
        }
    }) {
        Some(()) => {}
        None => std::thread::yield_now(),
    }
}
