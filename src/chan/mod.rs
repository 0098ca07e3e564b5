//! CSP channels with Go's semantics in crossbeam-channel's shape.
//!
//! [`bounded`]`(cap)` and [`unbounded`] make a channel; `bounded(0)` is a rendezvous channel
//! (Go's `make(chan T)`): a send completes only when a receiver takes the message. Senders and
//! receivers are `Clone` (many producers, many consumers) and `Send + Sync` for `T: Send`.
//! [`after`], [`tick`] and [`never`] make timer receivers, and [`select!`](crate::select) (or
//! [`Select`]) waits on several operations at once.
//!
//! Every blocking operation parks the caller: a coroutine parks (its worker runs others), an
//! OS thread blocks; both may use the same channel. Messages are delivered in order per
//! sender, exactly once. When every `Sender` is gone, receivers still get the buffered
//! messages, then `Err`; when every `Receiver` is gone, `send` returns the message in the
//! error and the buffered messages are dropped.
//!
//! ```
//! use weft::chan;
//!
//! let (tx, rx) = chan::bounded(0);
//! let h = weft::go!(move || {
//!     for i in 0..3 {
//!         tx.send(i).unwrap();
//!     }
//! });
//! assert_eq!(rx.iter().collect::<Vec<_>>(), [0, 1, 2]);
//! h.join().unwrap();
//! ```
//!
//! Design and invariants: arch/chan.md (channels) and arch/select.md (`select!`, `Select`).

mod channel;
mod error;
mod macros;
mod select;
mod selection;
mod timer;
mod waiter;

use std::fmt;
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use channel::{Chan, Ended, RecvStatus, SendStatus};
pub use error::{
    ReadyTimeoutError, RecvError, RecvTimeoutError, SelectTimeoutError, SendError,
    SendTimeoutError, TryReadyError, TryRecvError, TrySelectError, TrySendError,
};
pub use select::{Select, SelectedOperation};

/// `use weft::chan::{select, select_biased};` work as crossbeam-channel's paths do.
pub use crate::{select, select_biased};

/// Items the `select!` macro expands to; not public API.
#[doc(hidden)]
pub mod __private {
    pub use super::select::{Mode, Op, RecvOp, SendOp, SendReady, Wait, run};
}
use timer::{At, Tick};

/// Creates a channel that holds at most `cap` messages; `cap == 0` makes a rendezvous channel.
pub fn bounded<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
    channel(Some(cap))
}

/// Creates a channel of unlimited capacity: `send` never blocks.
pub fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
    channel(None)
}

fn channel<T>(cap: Option<usize>) -> (Sender<T>, Receiver<T>) {
    let chan = Arc::new(Chan::new(cap));
    (
        Sender { chan: chan.clone() },
        Receiver {
            flavor: Flavor::Chan(chan),
        },
    )
}

/// A receiver that gets one message, the instant it was due, once `duration` has elapsed.
/// Capacity 1; it is never disconnected (after its message, receiving blocks forever).
pub fn after(duration: Duration) -> Receiver<Instant> {
    Receiver {
        flavor: Flavor::At(Arc::new(At::new(Instant::now().checked_add(duration)))),
    }
}

/// A receiver that gets one message, `when`, once `when` has come.
pub fn at(when: Instant) -> Receiver<Instant> {
    Receiver {
        flavor: Flavor::At(Arc::new(At::new(Some(when)))),
    }
}

/// A receiver that gets a message (the instant it was due) every `duration`. A slow receiver
/// misses ticks instead of piling them up; the next one is due `duration` after a receive.
pub fn tick(duration: Duration) -> Receiver<Instant> {
    let now = Instant::now();
    Receiver {
        flavor: Flavor::Tick(Arc::new(Tick::new(now.checked_add(duration), duration))),
    }
}

/// A receiver that never gets a message and is never disconnected (in a `select!`, an arm
/// that never fires).
pub fn never<T>() -> Receiver<T> {
    Receiver {
        flavor: Flavor::Never,
    }
}

/// The message an operation left in its `Option` (it is there by the operation's contract).
fn take_back<T>(msg: Option<T>) -> T {
    match msg {
        Some(v) => v,
        None => crate::fatal::bug("a channel operation lost track of its message"),
    }
}

fn deadline_after(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

/// The sending side of a channel. `Clone`; `Send + Sync` for `T: Send`. `send` blocks while
/// the channel is full (a coroutine parks, an OS thread blocks); `try_send` never blocks.
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
}

/// The receiving side of a channel, or a timer receiver. `Clone`; `Send + Sync` for
/// `T: Send`. `recv` blocks while nothing is ready (a coroutine parks, an OS thread blocks);
/// `try_recv` never blocks.
pub struct Receiver<T> {
    flavor: Flavor<T>,
}

enum Flavor<T> {
    Chan(Arc<Chan<T>>),
    /// Only in `Receiver<Instant>` (`after`, `at`).
    At(Arc<At>),
    /// Only in `Receiver<Instant>` (`tick`).
    Tick(Arc<Tick>),
    Never,
}

/// Turns a timer's `Instant` into the receiver's `T`.
///
/// # Safety
/// Only for the `At` and `Tick` flavors, which are only ever built inside a
/// `Receiver<Instant>` (by `after`, `at` and `tick`), so `T` is `Instant`.
unsafe fn instant_as<T>(instant: Instant) -> T {
    debug_assert_eq!(std::mem::size_of::<T>(), std::mem::size_of::<Instant>());
    // SAFETY: `T` is `Instant` (the caller's contract); `Instant` is `Copy`, so reading it
    // out by value duplicates nothing that needs dropping.
    unsafe { std::mem::transmute_copy(&instant) }
}

impl<T> Sender<T> {
    /// Sends `msg`, blocking while the channel is full (for a rendezvous channel: until a
    /// receiver takes it). Fails, giving `msg` back, when every receiver is gone.
    #[inline]
    pub fn send(&self, msg: T) -> Result<(), SendError<T>> {
        let mut msg = Some(msg);
        match self.chan.send(&mut msg, None) {
            Ended::Done => Ok(()),
            _ => Err(SendError(take_back(msg))),
        }
    }

    /// Sends `msg` if that is possible without blocking.
    pub fn try_send(&self, msg: T) -> Result<(), TrySendError<T>> {
        let mut msg = Some(msg);
        match self.chan.try_send(&mut msg) {
            SendStatus::Sent(_) => Ok(()),
            SendStatus::Full => Err(TrySendError::Full(take_back(msg))),
            SendStatus::Disconnected => Err(TrySendError::Disconnected(take_back(msg))),
        }
    }

    /// As [`send`](Sender::send), giving up after `timeout`.
    pub fn send_timeout(&self, msg: T, timeout: Duration) -> Result<(), SendTimeoutError<T>> {
        self.send_until(msg, deadline_after(timeout))
    }

    /// As [`send`](Sender::send), giving up at `deadline`.
    pub fn send_deadline(&self, msg: T, deadline: Instant) -> Result<(), SendTimeoutError<T>> {
        self.send_until(msg, Some(deadline))
    }

    fn send_until(&self, msg: T, deadline: Option<Instant>) -> Result<(), SendTimeoutError<T>> {
        let mut msg = Some(msg);
        match self.chan.send(&mut msg, deadline) {
            Ended::Done => Ok(()),
            Ended::Timeout => Err(SendTimeoutError::Timeout(take_back(msg))),
            Ended::Disconnected => Err(SendTimeoutError::Disconnected(take_back(msg))),
        }
    }

    /// Messages in the buffer now.
    pub fn len(&self) -> usize {
        self.chan.len()
    }

    /// Whether the buffer is empty now.
    pub fn is_empty(&self) -> bool {
        self.chan.len() == 0
    }

    /// Whether the buffer is full now (always for a rendezvous channel).
    pub fn is_full(&self) -> bool {
        self.chan.is_full()
    }

    /// The capacity: `None` for an unbounded channel.
    pub fn capacity(&self) -> Option<usize> {
        self.chan.capacity()
    }

    /// Whether both senders belong to the same channel.
    pub fn same_channel(&self, other: &Sender<T>) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }
}

impl<T> Receiver<T> {
    /// Receives a message, blocking until one is ready. Fails when the channel is empty and
    /// every sender is gone.
    #[inline]
    pub fn recv(&self) -> Result<T, RecvError> {
        let mut out = None;
        match self.recv_into(&mut out, None) {
            Ended::Done => Ok(take_back(out)),
            _ => Err(RecvError),
        }
    }

    /// Receives a message if one is ready. A select waiting to send on a rendezvous channel
    /// counts as ready: the call then waits for that select to make its message (as in
    /// crossbeam; arch/select.md, SE5), and reports `Empty` if the select backs out.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        let instant = match &self.flavor {
            Flavor::Chan(chan) => {
                let mut out = None;
                return match chan.try_recv(&mut out) {
                    RecvStatus::Got(_) => Ok(take_back(out)),
                    RecvStatus::Empty | RecvStatus::Handshake(_) => Err(TryRecvError::Empty),
                    RecvStatus::Disconnected => Err(TryRecvError::Disconnected),
                };
            }
            Flavor::At(at) => at.try_recv(Instant::now()),
            Flavor::Tick(tick) => tick.try_recv(Instant::now()),
            Flavor::Never => None,
        };
        match instant {
            // SAFETY: only the `At` and `Tick` flavors yield an instant, and they only exist in
            // a `Receiver<Instant>`.
            Some(i) => Ok(unsafe { instant_as(i) }),
            None => Err(TryRecvError::Empty),
        }
    }

    /// As [`recv`](Receiver::recv), giving up after `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.recv_until(deadline_after(timeout))
    }

    /// As [`recv`](Receiver::recv), giving up at `deadline`.
    pub fn recv_deadline(&self, deadline: Instant) -> Result<T, RecvTimeoutError> {
        self.recv_until(Some(deadline))
    }

    fn recv_until(&self, deadline: Option<Instant>) -> Result<T, RecvTimeoutError> {
        let mut out = None;
        match self.recv_into(&mut out, deadline) {
            Ended::Done => Ok(take_back(out)),
            Ended::Timeout => Err(RecvTimeoutError::Timeout),
            Ended::Disconnected => Err(RecvTimeoutError::Disconnected),
        }
    }

    /// Receives into `out` (`Done`: the message is there).
    fn recv_into(&self, out: &mut Option<T>, deadline: Option<Instant>) -> Ended {
        let Flavor::Chan(chan) = &self.flavor else {
            return self.recv_timer(out, deadline);
        };
        chan.recv(out, deadline, None)
    }

    /// `recv`, reported in a dump as `why` (a wait group built on this channel, DU1).
    pub(crate) fn recv_for(&self, why: crate::park::Wait) -> Result<T, RecvError> {
        let mut out = None;
        let ended = match &self.flavor {
            Flavor::Chan(chan) => chan.recv(&mut out, None, Some(why)),
            _ => self.recv_timer(&mut out, None),
        };
        match ended {
            Ended::Done => Ok(take_back(out)),
            _ => Err(RecvError),
        }
    }

    /// `recv_into` for the timer flavors: park until the due time or the deadline.
    fn recv_timer(&self, out: &mut Option<T>, deadline: Option<Instant>) -> Ended {
        loop {
            let now = Instant::now();
            if let Ok(v) = self.try_recv() {
                *out = Some(v);
                return Ended::Done;
            }
            if deadline.is_some_and(|d| now >= d) {
                return Ended::Timeout;
            }
            let wake_at = match (self.timer_due(), deadline) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            // Nobody unparks us: we wake at the due time or the deadline (or never).
            crate::park::park(wake_at, crate::park::Wait::Timer);
        }
    }

    /// When a timer receiver's next message is due (`None` for channels and `never`).
    fn timer_due(&self) -> Option<Instant> {
        match &self.flavor {
            Flavor::At(at) => at.next_due(),
            Flavor::Tick(tick) => tick.next_due(),
            Flavor::Chan(_) | Flavor::Never => None,
        }
    }

    /// A blocking iterator: yields messages until the channel is empty and disconnected.
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { rx: self }
    }

    /// A non-blocking iterator: yields the messages ready now.
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter { rx: self }
    }

    /// Messages ready now.
    pub fn len(&self) -> usize {
        match &self.flavor {
            Flavor::Chan(chan) => chan.len(),
            Flavor::At(at) => usize::from(at.next_due().is_some_and(|d| Instant::now() >= d)),
            Flavor::Tick(tick) => usize::from(tick.next_due().is_some_and(|d| Instant::now() >= d)),
            Flavor::Never => 0,
        }
    }

    /// Whether no message is ready now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the buffer is full now.
    pub fn is_full(&self) -> bool {
        match &self.flavor {
            Flavor::Chan(chan) => chan.is_full(),
            Flavor::Never => true,
            _ => self.len() == 1,
        }
    }

    /// The capacity: `None` for an unbounded channel; timer receivers hold one message.
    pub fn capacity(&self) -> Option<usize> {
        match &self.flavor {
            Flavor::Chan(chan) => chan.capacity(),
            Flavor::At(_) | Flavor::Tick(_) => Some(1),
            Flavor::Never => Some(0),
        }
    }

    /// Whether both receivers belong to the same channel.
    pub fn same_channel(&self, other: &Receiver<T>) -> bool {
        match (&self.flavor, &other.flavor) {
            (Flavor::Chan(a), Flavor::Chan(b)) => Arc::ptr_eq(a, b),
            (Flavor::At(a), Flavor::At(b)) => Arc::ptr_eq(a, b),
            (Flavor::Tick(a), Flavor::Tick(b)) => Arc::ptr_eq(a, b),
            (Flavor::Never, Flavor::Never) => true,
            _ => false,
        }
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.chan.add_sender();
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.chan.drop_sender();
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        let flavor = match &self.flavor {
            Flavor::Chan(chan) => {
                chan.add_receiver();
                Flavor::Chan(chan.clone())
            }
            Flavor::At(at) => Flavor::At(at.clone()),
            Flavor::Tick(tick) => Flavor::Tick(tick.clone()),
            Flavor::Never => Flavor::Never,
        };
        Receiver { flavor }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        if let Flavor::Chan(chan) = &self.flavor {
            chan.drop_receiver();
        }
    }
}

// A channel's lock is never held while user code runs (messages are only moved under it, and
// dropped after it is released), so a panic cannot leave a channel half-updated: the handles
// are unwind-safe whatever `T` is, as in crossbeam-channel.
impl<T> UnwindSafe for Sender<T> {}
impl<T> RefUnwindSafe for Sender<T> {}
impl<T> UnwindSafe for Receiver<T> {}
impl<T> RefUnwindSafe for Receiver<T> {}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("Sender { .. }")
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("Receiver { .. }")
    }
}

/// Blocking iterator over a receiver's messages ([`Receiver::iter`]): `next` parks the
/// calling coroutine (or blocks the thread) until a message arrives, and ends once the channel
/// is empty and disconnected. `Send`/`Sync` as `&Receiver<T>`.
#[derive(Debug)]
pub struct Iter<'a, T> {
    rx: &'a Receiver<T>,
}

/// Non-blocking iterator over the messages ready now ([`Receiver::try_iter`]); never blocks.
#[derive(Debug)]
pub struct TryIter<'a, T> {
    rx: &'a Receiver<T>,
}

/// Owning blocking iterator (`Receiver`'s `IntoIterator`); blocks as [`Iter`]. `Send`/`Sync`
/// as `Receiver<T>`.
#[derive(Debug)]
pub struct IntoIter<T> {
    rx: Receiver<T>,
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

impl<T> Iterator for TryIter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.try_recv().ok()
    }
}

impl<T> Iterator for IntoIter<T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

// Once the channel is empty and disconnected it stays so (no sender can be made again), and a
// timer receiver never ends: both blocking iterators are fused, as crossbeam's are.
impl<T> std::iter::FusedIterator for Iter<'_, T> {}
impl<T> std::iter::FusedIterator for IntoIter<T> {}

impl<'a, T> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;
    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

impl<T> IntoIterator for Receiver<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;
    fn into_iter(self) -> IntoIter<T> {
        IntoIter { rx: self }
    }
}
