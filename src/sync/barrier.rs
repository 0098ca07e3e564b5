//! `Barrier` and `BarrierWaitResult`, mirroring `std::sync`.

use std::fmt;
use std::sync::PoisonError;

use super::{Condvar, Mutex};

/// Lets a fixed number of coroutines or threads wait for each other, with std's API.
///
/// **Blocking:** [`wait`](Barrier::wait) waits until `n` callers have called it: a coroutine
/// parks, an OS thread blocks. The `n`-th caller wakes the others and is told it is the
/// leader. The barrier is reusable: the next `n` calls form the next round.
///
/// **Thread safety:** `Send + Sync`.
///
/// ```
/// use std::sync::Arc;
/// use weft::sync::Barrier;
///
/// let barrier = Arc::new(Barrier::new(10));
/// let handles: Vec<_> = (0..10)
///     .map(|_| {
///         let b = Arc::clone(&barrier);
///         weft::go!(move || b.wait().is_leader())
///     })
///     .collect();
/// let leaders = handles.into_iter().map(|h| h.join().unwrap());
/// assert_eq!(leaders.filter(|&leader| leader).count(), 1);
/// ```
pub struct Barrier {
    lock: Mutex<Round>,
    cvar: Condvar,
    n: usize,
}

impl std::panic::UnwindSafe for Barrier {}
impl std::panic::RefUnwindSafe for Barrier {}

struct Round {
    arrived: usize,
    generation: u64,
}

/// What [`Barrier::wait`] tells its caller.
pub struct BarrierWaitResult(bool);

impl BarrierWaitResult {
    /// `true` for exactly one caller of each round: the last to arrive.
    pub fn is_leader(&self) -> bool {
        self.0
    }
}

impl Barrier {
    /// A barrier for `n` parties (`n` of 0 or 1 never waits). `const`, like std's.
    pub const fn new(n: usize) -> Barrier {
        Barrier {
            lock: Mutex::new(Round {
                arrived: 0,
                generation: 0,
            }),
            cvar: Condvar::new(),
            n,
        }
    }

    /// Waits until all `n` parties of this round have called `wait`.
    pub fn wait(&self) -> BarrierWaitResult {
        // A panic never happens while the lock is held, so poison cannot stick; ignore it.
        let mut round = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        let generation = round.generation;
        round.arrived += 1;
        if round.arrived < self.n {
            let label = crate::park::Wait::Barrier(self as *const Barrier as usize);
            let _round = self
                .cvar
                .wait_while_for(round, |r| r.generation == generation, label)
                .unwrap_or_else(PoisonError::into_inner);
            BarrierWaitResult(false)
        } else {
            round.arrived = 0;
            round.generation = round.generation.wrapping_add(1);
            drop(round);
            self.cvar.notify_all();
            BarrierWaitResult(true)
        }
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier").finish_non_exhaustive()
    }
}

impl fmt::Debug for BarrierWaitResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BarrierWaitResult")
            .field("is_leader", &self.0)
            .finish()
    }
}
