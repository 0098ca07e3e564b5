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

/// What a coroutine parked for, as the code that parks it says, and since when: two words
/// (`Copy`), the time in the tag's padding. Objects are named by address, so that two waiters on
/// one channel or lock can be matched in a dump. Built with the constructors below, named as
/// the variants of the public [`WaitReason`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Wait {
    kind: Kind,
    /// The coarse clock's milliseconds when the park began, wrapped to 32 bits (waits up to
    /// 49 days read right).
    since: u32,
    /// The object: an address, a descriptor or an id; 0 for none.
    obj: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Kind {
    ChanSend,
    ChanRecv,
    /// `obj` points to the `SelectWait` in the select's frame.
    Select,
    Timer,
    Sleep,
    Join,
    Scope,
    Park,
    Mutex,
    RwLockRead,
    RwLockWrite,
    Condvar,
    Semaphore,
    Barrier,
    WaitGroup,
    Once,
    SocketRead,
    SocketWrite,
    Accept,
    Connect,
    Blocking,
    BlockOn,
    Dump,
}

macro_rules! constructors {
    ($($name:ident($arg:ident: $ty:ty) => $conv:expr;)* ; $($unit:ident),*) => {
        #[allow(non_snake_case)] // Named as the reasons they build.
        impl Wait {
            $(
                #[inline(always)]
                pub(crate) fn $name($arg: $ty) -> Wait {
                    Wait { kind: Kind::$name, since: 0, obj: $conv }
                }
            )*
            $(
                #[allow(non_upper_case_globals)]
                pub(crate) const $unit: Wait = Wait { kind: Kind::$unit, since: 0, obj: 0 };
            )*
        }
    };
}

constructors! {
    ChanSend(chan: usize) => chan;
    ChanRecv(chan: usize) => chan;
    Select(select: *const SelectWait) => select as usize;
    Join(id: ThreadId) => id.as_u64().get() as usize;
    Mutex(addr: usize) => addr;
    RwLockRead(addr: usize) => addr;
    RwLockWrite(addr: usize) => addr;
    Condvar(addr: usize) => addr;
    Semaphore(addr: usize) => addr;
    Barrier(addr: usize) => addr;
    WaitGroup(addr: usize) => addr;
    Once(addr: usize) => addr;
    SocketRead(fd: RawFd) => fd as usize;
    SocketWrite(fd: RawFd) => fd as usize;
    Accept(fd: RawFd) => fd as usize;
    Connect(fd: RawFd) => fd as usize;
    ; Timer, Sleep, Scope, Park, Blocking, BlockOn, Dump
}

/// How a waiting select lists its operations (DU1): `list(ops, out)` writes them. Lives in the
/// select's frame for as long as it waits.
#[derive(Debug)]
pub(crate) struct SelectWait {
    pub(crate) ops: *const (),
    pub(crate) list: unsafe fn(*const (), &mut Vec<SelectOp>),
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
    /// In `weft::future::block_on`, waiting for its future's waker.
    BlockOn,
    /// Waiting for a dump to be built.
    Dump,
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
                | WaitReason::BlockOn
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
            WaitReason::BlockOn => f.write_str("block_on"),
            WaitReason::Dump => f.write_str("dump"),
        }
    }
}

impl Wait {
    /// The same wait, begun now (DU1, DU2).
    #[inline(always)]
    pub(crate) fn since_now(self) -> Wait {
        Wait {
            since: now_ms() as u32,
            ..self
        }
    }

    /// When the wait began (the coarse clock's milliseconds, wrapped to 32 bits).
    pub(crate) fn since(self) -> u32 {
        self.since
    }

    /// The public form.
    ///
    /// # Safety
    /// DU1: called on the owner thread of the coroutine that stored `self`, while it is still
    /// suspended in the park that stored it (a select's operation list lives in that frame).
    pub(crate) unsafe fn reason(self) -> WaitReason {
        let obj = self.obj;
        let fd = obj as RawFd;
        match self.kind {
            Kind::ChanSend => WaitReason::ChanSend { chan: obj },
            Kind::ChanRecv => WaitReason::ChanRecv { chan: obj },
            Kind::Select => {
                let select = obj as *const SelectWait;
                let mut out = Vec::new();
                // SAFETY: the caller's contract: the select's frame, which holds `select` and
                // the operations it points to, is alive and not running (DU1).
                unsafe { ((*select).list)((*select).ops, &mut out) };
                WaitReason::Select { ops: out }
            }
            Kind::Timer => WaitReason::Timer,
            Kind::Sleep => WaitReason::Sleep,
            Kind::Join => match ThreadId::from_u64(obj as u64) {
                Some(id) => WaitReason::Join { id },
                None => WaitReason::Park,
            },
            Kind::Scope => WaitReason::Scope,
            Kind::Park => WaitReason::Park,
            Kind::Mutex => WaitReason::Mutex { addr: obj },
            Kind::RwLockRead => WaitReason::RwLockRead { addr: obj },
            Kind::RwLockWrite => WaitReason::RwLockWrite { addr: obj },
            Kind::Condvar => WaitReason::Condvar { addr: obj },
            Kind::Semaphore => WaitReason::Semaphore { addr: obj },
            Kind::Barrier => WaitReason::Barrier { addr: obj },
            Kind::WaitGroup => WaitReason::WaitGroup { addr: obj },
            Kind::Once => WaitReason::Once { addr: obj },
            Kind::SocketRead => WaitReason::SocketRead { fd },
            Kind::SocketWrite => WaitReason::SocketWrite { fd },
            Kind::Accept => WaitReason::Accept { fd },
            Kind::Connect => WaitReason::Connect { fd },
            Kind::Blocking => WaitReason::Blocking,
            Kind::BlockOn => WaitReason::BlockOn,
            Kind::Dump => WaitReason::Dump,
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
