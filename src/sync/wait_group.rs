//! `WaitGroup` in crossbeam-utils' shape, over a `weft::chan` channel.

use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;

use crate::chan;

/// Waits until a group of coroutines or threads is done.
///
/// Each clone is a member; a member finishes by being dropped (or by calling `wait`, which
/// drops it first). [`WaitGroup::wait`] returns once every member has finished. The API is
/// crossbeam-utils' `WaitGroup`.
///
/// **Blocking:** `wait` waits for the other members: a coroutine parks (its worker runs other
/// coroutines), an OS thread blocks. `clone` and `drop` never wait.
///
/// **Thread safety:** `Send + Sync`; members may live on any mix of coroutines and threads.
///
/// Built on a channel that never carries a message: the members share its only sender (one
/// `Arc`, so joining or leaving the group is one atomic operation), and `wait` receives until
/// the last member drops that sender (disconnection wakes every waiter at once, CH4), so it
/// needs no protocol of its own.
///
/// ```
/// use weft::sync::WaitGroup;
///
/// let wg = WaitGroup::new();
/// for _ in 0..100 {
///     let wg = wg.clone();
///     weft::go!(move || {
///         // ... work ...
///         drop(wg);
///     });
/// }
/// wg.wait(); // all 100 are done
/// ```
pub struct WaitGroup {
    members: Arc<Members>,
}

/// Dropped with the last member: dropping `_sender` (held only to be dropped) disconnects the
/// channel.
struct Members {
    _sender: chan::Sender<Infallible>,
    done: chan::Receiver<Infallible>,
}

impl WaitGroup {
    /// A group with one member: this one.
    pub fn new() -> WaitGroup {
        let (_sender, done) = chan::unbounded();
        WaitGroup {
            members: Arc::new(Members { _sender, done }),
        }
    }

    /// Finishes this member and waits until every other member has finished.
    pub fn wait(self) {
        let done = self.members.done.clone();
        let label = crate::park::Wait::WaitGroup(Arc::as_ptr(&self.members) as usize);
        drop(self);
        // No message is ever sent: `recv` returns when the last sender is dropped.
        let Err(chan::RecvError) = done.recv_for(label);
    }
}

impl Default for WaitGroup {
    fn default() -> WaitGroup {
        WaitGroup::new()
    }
}

impl Clone for WaitGroup {
    /// A new member of the same group.
    fn clone(&self) -> WaitGroup {
        WaitGroup {
            members: self.members.clone(),
        }
    }
}

impl fmt::Debug for WaitGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitGroup").finish_non_exhaustive()
    }
}
