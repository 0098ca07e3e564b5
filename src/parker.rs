//! The raw parker of an OS thread: a futex word with std's three-state protocol.
//!
//! Why not `std::thread::park`: that token belongs to the user (`weft::thread::park` on a plain
//! thread is `std::thread::park`). If weft's internal waits (join, channels, locks) consumed it,
//! an `unpark` meant for the user could be swallowed by an internal wait loop. So every OS
//! thread that blocks inside weft gets a second, private parker; std exposes no such thing.
//! Workers sleep on the same type when idle (arch/scheduler.md, S6).
//!
//! Protocol (P5, arch/park.md): `EMPTY` → `PARKED` by the parker (a `fetch_sub` that also
//! consumes `NOTIFIED`), `NOTIFIED` by any unparker (a `swap`); the futex wake is issued only
//! when the previous state was `PARKED`, and the parker re-reads the word after every wake-up,
//! so a notification is never lost and spurious wake-ups are allowed.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

const EMPTY: u32 = 0;
const NOTIFIED: u32 = 1;
const PARKED: u32 = u32::MAX;
/// A worker waits in the I/O driver's `epoll_wait` instead of the futex (D1, arch/io.md).
const POLLING: u32 = u32::MAX - 1;
/// How many times `park` looks at the word before it sleeps in the kernel (a few µs).
const SPIN_LOADS: u32 = 200;

/// A one-token parker for one OS thread. `Send + Sync`: any thread may unpark; only the owning
/// thread parks.
#[derive(Debug, Default)]
pub(crate) struct OsParker {
    state: AtomicU32,
}

impl OsParker {
    pub(crate) const fn new() -> OsParker {
        OsParker {
            state: AtomicU32::new(EMPTY),
        }
    }

    /// Blocks the calling thread until a notification arrives, the deadline passes, or a
    /// spurious wake-up happens. Consumes the notification. Only the owning thread calls this.
    pub(crate) fn park(&self, deadline: Option<Instant>) {
        // NOTIFIED → EMPTY (return at once) or EMPTY → PARKED.
        if self.state.fetch_sub(1, Ordering::Acquire) == NOTIFIED {
            return;
        }
        // A wake often comes within microseconds (a coroutine finishing on another core), and
        // sleeping in the kernel and being woken costs tens of microseconds on a virtual
        // machine: watch the word a little first (plain loads only).
        for _ in 0..SPIN_LOADS {
            if self.state.load(Ordering::Relaxed) == NOTIFIED {
                break;
            }
            std::hint::spin_loop();
        }
        if self.state.load(Ordering::Relaxed) != NOTIFIED {
            futex_wait(&self.state, PARKED, deadline);
        }
        // Whatever woke us, leave the word EMPTY; a NOTIFIED seen here is consumed.
        self.state.swap(EMPTY, Ordering::Acquire);
    }

    /// Like `park`, but waits through `wait` (the I/O driver's poll) instead of the futex.
    /// An `unpark` meanwhile returns `true`, and its caller must interrupt `wait` (write the
    /// driver's waker). Only the owning thread calls this.
    pub(crate) fn park_polling(&self, wait: impl FnOnce()) {
        if self
            .state
            .compare_exchange(EMPTY, POLLING, Ordering::Acquire, Ordering::Acquire)
            .is_ok()
        {
            wait();
        }
        // NOTIFIED (before or during the wait) is consumed here.
        self.state.swap(EMPTY, Ordering::Acquire);
    }

    /// Makes the next (or current) `park` return. Any thread. Returns `true` when the owner
    /// waits in `park_polling`, which the caller must then interrupt.
    pub(crate) fn unpark(&self) -> bool {
        match self.state.swap(NOTIFIED, Ordering::Release) {
            PARKED => {
                futex_wake(&self.state);
                false
            }
            POLLING => true,
            _ => false,
        }
    }
}

fn futex_wait(word: &AtomicU32, expected: u32, deadline: Option<Instant>) {
    let timeout = match deadline {
        Some(d) => {
            let left = d.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            Some(libc::timespec {
                tv_sec: left.as_secs().min(i64::MAX as u64) as libc::time_t,
                tv_nsec: left.subsec_nanos() as libc::c_long,
            })
        }
        None => None,
    };
    let ts = timeout
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `word` is a live, aligned u32 for the whole call; FUTEX_WAIT only reads it and
    // `ts` is null or points to a timespec that outlives the call. EINTR/EAGAIN/ETIMEDOUT are
    // all fine: the caller re-reads the word.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            expected,
            ts,
        );
    }
}

fn futex_wake(word: &AtomicU32) {
    // SAFETY: `word` is a live, aligned u32; FUTEX_WAKE does not access user memory beyond
    // hashing its address.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            1,
        );
    }
}
