//! What a parked coroutine waits for, and since when: the wait reason of the dump
//! (arch/dump.md).
//!
//! - DU1: a coroutine writes its wait reason and the coarse time into its own task right
//!   before it switches away to park (`park::park`), and nobody else writes them. Its owner
//!   worker reads them only between resumes, while the coroutine sits suspended in that same
//!   park (CO4), so the two fields need no synchronisation, and whatever the reason points to
//!   (a select's list of operations, on the coroutine's stack) is alive while it is read.
//!
//! The time is a coarse clock in milliseconds (`now_ms`), kept by the monitor and by workers
//! that wake from sleep, so that a park pays one plain load for it instead of a clock read.

use std::fmt;
use std::os::fd::RawFd;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use super::ThreadId;

/// What a coroutine parked for, as the code that parks it says (internal, `Copy`, two or three
/// words). Objects are named by address, so that two waiters on one channel or lock can be
/// matched in a dump.
#[derive(Debug, Clone, Copy)]
#[allow(clippy::enum_variant_names)] // `WaitGroup` is the type's name.
pub(crate) enum Wait {
    /// A park whose caller gave no reason.
    Other,
    ChanSend(usize),
    ChanRecv(usize),
    /// A select: `list` writes the operations of the select whose frame is at `ops`.
    Select {
        ops: *const (),
        list: unsafe fn(*const (), &mut Vec<SelectOp>),
    },
    /// A timer receiver (`after`, `tick`, `at`) waits for its due time.
    Timer,
    Sleep,
    Join(ThreadId),
    Scope,
    Park,
    Mutex(usize),
    RwLockRead(usize),
    RwLockWrite(usize),
    Condvar(usize),
    Semaphore(usize),
    Barrier(usize),
    WaitGroup(usize),
    Once(usize),
    SocketRead(RawFd),
    SocketWrite(RawFd),
    Accept(RawFd),
    Connect(RawFd),
    Blocking,
    Dump,
}

/// One operation of a select that waits, in a [`WaitReason::Select`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SelectOp {
    /// `true` for a send, `false` for a receive.
    pub send: bool,
    /// The channel, named as in [`WaitReason::ChanSend`].
    pub chan: usize,
}

/// Why a coroutine in a [`Dump`](crate::runtime::Dump) is parked.
///
/// Objects (channels, locks) are named by the address of their shared state: two coroutines
/// waiting on the same channel show the same address. File descriptors are the socket's.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum WaitReason {
    /// Blocked in `send` on the channel at this address.
    ChanSend {
        /// The channel.
        chan: usize,
    },
    /// Blocked in `recv` on the channel at this address.
    ChanRecv {
        /// The channel.
        chan: usize,
    },
    /// Blocked in a select (`select!`, `Select`) on these operations.
    Select {
        /// The operations, in the select's order.
        ops: Vec<SelectOp>,
    },
    /// Waiting for a timer channel's due time (`after`, `tick`, `at`).
    Timer,
    /// In `thread::sleep`.
    Sleep,
    /// Joining the coroutine or thread with this id.
    Join {
        /// The joined coroutine.
        id: ThreadId,
    },
    /// At the end of `thread::scope`, for its coroutines.
    Scope,
    /// In `thread::park` or `park_timeout`.
    Park,
    /// Locking the `Mutex` at this address.
    Mutex {
        /// The lock.
        addr: usize,
    },
    /// `RwLock::read` on the lock at this address.
    RwLockRead {
        /// The lock.
        addr: usize,
    },
    /// `RwLock::write` on the lock at this address.
    RwLockWrite {
        /// The lock.
        addr: usize,
    },
    /// Waiting on the `Condvar` at this address.
    Condvar {
        /// The condition variable.
        addr: usize,
    },
    /// Acquiring the `Semaphore` at this address.
    Semaphore {
        /// The semaphore.
        addr: usize,
    },
    /// In `Barrier::wait`.
    Barrier {
        /// The barrier.
        addr: usize,
    },
    /// In `WaitGroup::wait`.
    WaitGroup {
        /// The wait group.
        addr: usize,
    },
    /// Waiting for another caller's `Once`/`OnceLock`/`LazyLock` initialisation.
    Once {
        /// The once cell.
        addr: usize,
    },
    /// Waiting for a socket to become readable.
    SocketRead {
        /// The socket.
        fd: RawFd,
    },
    /// Waiting for a socket to become writable.
    SocketWrite {
        /// The socket.
        fd: RawFd,
    },
    /// In `accept` on a listener.
    Accept {
        /// The listener.
        fd: RawFd,
    },
    /// In `connect`.
    Connect {
        /// The socket.
        fd: RawFd,
    },
    /// Waiting for a `spawn_blocking` job (or a call weft runs on the blocking pool).
    Blocking,
    /// Waiting for a dump to be built.
    Dump,
    /// Parked without a reason weft knows.
    Other,
}

impl WaitReason {
    /// Whether only another coroutine or thread can end this wait: no timer, socket or
    /// outside job will (the waits a deadlock is made of).
    pub fn needs_a_waker(&self) -> bool {
        !matches!(
            self,
            WaitReason::Timer
                | WaitReason::Sleep
                | WaitReason::SocketRead { .. }
                | WaitReason::SocketWrite { .. }
                | WaitReason::Accept { .. }
                | WaitReason::Connect { .. }
                | WaitReason::Blocking
                | WaitReason::Dump
        )
    }
}

impl fmt::Display for WaitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitReason::ChanSend { chan } => write!(f, "chan send {chan:#x}"),
            WaitReason::ChanRecv { chan } => write!(f, "chan receive {chan:#x}"),
            WaitReason::Select { ops } => {
                f.write_str("select")?;
                for (i, op) in ops.iter().enumerate() {
                    let sep = if i == 0 { " (" } else { ", " };
                    let dir = if op.send { "send" } else { "receive" };
                    write!(f, "{sep}{dir} {:#x}", op.chan)?;
                }
                if !ops.is_empty() {
                    f.write_str(")")?;
                }
                Ok(())
            }
            WaitReason::Timer => f.write_str("timer receive"),
            WaitReason::Sleep => f.write_str("sleep"),
            WaitReason::Join { id } => write!(f, "join of id {id}"),
            WaitReason::Scope => f.write_str("scope end"),
            WaitReason::Park => f.write_str("park"),
            WaitReason::Mutex { addr } => write!(f, "mutex {addr:#x}"),
            WaitReason::RwLockRead { addr } => write!(f, "rwlock read {addr:#x}"),
            WaitReason::RwLockWrite { addr } => write!(f, "rwlock write {addr:#x}"),
            WaitReason::Condvar { addr } => write!(f, "condvar {addr:#x}"),
            WaitReason::Semaphore { addr } => write!(f, "semaphore {addr:#x}"),
            WaitReason::Barrier { addr } => write!(f, "barrier {addr:#x}"),
            WaitReason::WaitGroup { addr } => write!(f, "wait group {addr:#x}"),
            WaitReason::Once { addr } => write!(f, "once {addr:#x}"),
            WaitReason::SocketRead { fd } => write!(f, "socket read fd {fd}"),
            WaitReason::SocketWrite { fd } => write!(f, "socket write fd {fd}"),
            WaitReason::Accept { fd } => write!(f, "socket accept fd {fd}"),
            WaitReason::Connect { fd } => write!(f, "socket connect fd {fd}"),
            WaitReason::Blocking => f.write_str("spawn_blocking job"),
            WaitReason::Dump => f.write_str("dump"),
            WaitReason::Other => f.write_str("park (no reason given)"),
        }
    }
}

impl Wait {
    /// The public form.
    ///
    /// # Safety
    /// DU1: called on the owner thread of the coroutine that stored `self`, while it is still
    /// suspended in the park that stored it (a select's operation list lives in that frame).
    pub(crate) unsafe fn reason(self) -> WaitReason {
        match self {
            Wait::Other => WaitReason::Other,
            Wait::ChanSend(chan) => WaitReason::ChanSend { chan },
            Wait::ChanRecv(chan) => WaitReason::ChanRecv { chan },
            Wait::Select { ops, list } => {
                let mut out = Vec::new();
                // SAFETY: the caller's contract: the select's frame at `ops` is alive and not
                // running (DU1).
                unsafe { list(ops, &mut out) };
                WaitReason::Select { ops: out }
            }
            Wait::Timer => WaitReason::Timer,
            Wait::Sleep => WaitReason::Sleep,
            Wait::Join(id) => WaitReason::Join { id },
            Wait::Scope => WaitReason::Scope,
            Wait::Park => WaitReason::Park,
            Wait::Mutex(addr) => WaitReason::Mutex { addr },
            Wait::RwLockRead(addr) => WaitReason::RwLockRead { addr },
            Wait::RwLockWrite(addr) => WaitReason::RwLockWrite { addr },
            Wait::Condvar(addr) => WaitReason::Condvar { addr },
            Wait::Semaphore(addr) => WaitReason::Semaphore { addr },
            Wait::Barrier(addr) => WaitReason::Barrier { addr },
            Wait::WaitGroup(addr) => WaitReason::WaitGroup { addr },
            Wait::Once(addr) => WaitReason::Once { addr },
            Wait::SocketRead(fd) => WaitReason::SocketRead { fd },
            Wait::SocketWrite(fd) => WaitReason::SocketWrite { fd },
            Wait::Accept(fd) => WaitReason::Accept { fd },
            Wait::Connect(fd) => WaitReason::Connect { fd },
            Wait::Blocking => WaitReason::Blocking,
            Wait::Dump => WaitReason::Dump,
        }
    }
}

/// The coarse clock: milliseconds since `epoch()`, refreshed by `tick`.
static NOW_MS: AtomicU64 = AtomicU64::new(0);

/// The instant the coarse clock counts from.
pub(crate) fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// The coarse clock, as last refreshed (one plain load; DU2 bounds how stale it is).
#[inline]
pub(crate) fn now_ms() -> u64 {
    NOW_MS.load(Ordering::Relaxed)
}

/// Refreshes the coarse clock (the monitor's rounds, a worker that wakes from sleep).
pub(crate) fn tick() {
    let ms = epoch().elapsed().as_millis() as u64;
    NOW_MS.fetch_max(ms, Ordering::Relaxed);
}
