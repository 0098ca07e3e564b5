//! `std::sync::mpsc` for coroutines: the same functions, types and errors, built on
//! [`crate::chan`].
//!
//! A port changes `use std::sync::mpsc` to `use weft::sync::mpsc`. The error types *are* std's
//! (re-exported), so code that names or matches them keeps compiling unchanged.
//!
//! **Blocking:** `send` on a [`SyncSender`] waits while the channel is full (for
//! `sync_channel(0)`, until a receiver takes the message); `recv` and `recv_timeout` wait for a
//! message. A waiting coroutine parks and its worker runs other coroutines; a waiting OS
//! thread blocks. [`Sender::send`] never waits (the channel is unbounded).
//!
//! **Thread safety:** every type is `Send`; `Sender` and `SyncSender` are also `Sync` and
//! `Clone` (many producers), `Receiver` is neither `Clone` nor shared (one consumer), as in std.
//!
//! ```
//! use weft::sync::mpsc;
//!
//! let (tx, rx) = mpsc::channel();
//! for i in 0..10 {
//!     let tx = tx.clone();
//!     weft::go!(move || tx.send(i).unwrap());
//! }
//! drop(tx);
//! let mut got: Vec<i32> = rx.iter().collect();
//! got.sort();
//! assert_eq!(got, (0..10).collect::<Vec<_>>());
//! ```

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

pub use std::sync::mpsc::{RecvError, RecvTimeoutError, SendError, TryRecvError, TrySendError};

/// The iterators are `weft::chan`'s: they receive the same way (`recv`, `try_recv`) and end
/// at the same point (every sender gone).
pub use crate::chan::{IntoIter, Iter, TryIter};

use crate::chan;

/// Creates an unbounded channel: `send` never waits. Like `std::sync::mpsc::channel`.
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let (tx, rx) = chan::unbounded();
    (Sender { inner: tx }, Receiver::new(rx))
}

/// Creates a channel holding at most `bound` messages; `send` waits while it is full, and
/// `bound == 0` makes every `send` a rendezvous with a receiver. Like
/// `std::sync::mpsc::sync_channel`.
pub fn sync_channel<T>(bound: usize) -> (SyncSender<T>, Receiver<T>) {
    let (tx, rx) = chan::bounded(bound);
    (SyncSender { inner: tx }, Receiver::new(rx))
}

/// The sending half of [`channel`]. Cloning adds a producer; the channel disconnects when
/// every sender is dropped.
pub struct Sender<T> {
    inner: chan::Sender<T>,
}

/// The sending half of [`sync_channel`].
pub struct SyncSender<T> {
    inner: chan::Sender<T>,
}

/// The receiving half of either channel. One consumer: not `Clone`, not `Sync` (as in std).
pub struct Receiver<T> {
    inner: chan::Receiver<T>,
    /// `!Sync`, like std's receiver (a `Cell` is `Send` but not `Sync`).
    _not_sync: PhantomData<std::cell::Cell<()>>,
}

fn send_error<T>(e: chan::SendError<T>) -> SendError<T> {
    SendError(e.into_inner())
}

impl<T> Sender<T> {
    /// Sends `t`; never waits. Gives `t` back in the error if the receiver is gone.
    pub fn send(&self, t: T) -> Result<(), SendError<T>> {
        self.inner.send(t).map_err(send_error)
    }
}

impl<T> SyncSender<T> {
    /// Sends `t`, waiting while the channel is full. Gives `t` back in the error if the
    /// receiver is gone (also when it goes while this call waits).
    pub fn send(&self, t: T) -> Result<(), SendError<T>> {
        self.inner.send(t).map_err(send_error)
    }

    /// Sends `t` if there is room now (for `sync_channel(0)`: if a receiver is waiting).
    pub fn try_send(&self, t: T) -> Result<(), TrySendError<T>> {
        self.inner.try_send(t).map_err(|e| match e {
            chan::TrySendError::Full(t) => TrySendError::Full(t),
            chan::TrySendError::Disconnected(t) => TrySendError::Disconnected(t),
        })
    }
}

impl<T> Receiver<T> {
    fn new(inner: chan::Receiver<T>) -> Receiver<T> {
        Receiver {
            inner,
            _not_sync: PhantomData,
        }
    }

    /// Waits for a message. After every sender is gone, the buffered messages still come,
    /// then `Err(RecvError)`.
    pub fn recv(&self) -> Result<T, RecvError> {
        self.inner.recv().map_err(|chan::RecvError| RecvError)
    }

    /// A message if one is ready now.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.inner.try_recv().map_err(|e| match e {
            chan::TryRecvError::Empty => TryRecvError::Empty,
            chan::TryRecvError::Disconnected => TryRecvError::Disconnected,
        })
    }

    /// Waits for a message for at most `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.inner.recv_timeout(timeout).map_err(|e| match e {
            chan::RecvTimeoutError::Timeout => RecvTimeoutError::Timeout,
            chan::RecvTimeoutError::Disconnected => RecvTimeoutError::Disconnected,
        })
    }

    /// Messages as they come, until every sender is gone.
    pub fn iter(&self) -> Iter<'_, T> {
        self.inner.iter()
    }

    /// The messages ready now, without waiting.
    pub fn try_iter(&self) -> TryIter<'_, T> {
        self.inner.try_iter()
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Sender<T> {
        Sender {
            inner: self.inner.clone(),
        }
    }
}

impl<T> Clone for SyncSender<T> {
    fn clone(&self) -> SyncSender<T> {
        SyncSender {
            inner: self.inner.clone(),
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for SyncSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncSender").finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}

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
        self.inner.into_iter()
    }
}
