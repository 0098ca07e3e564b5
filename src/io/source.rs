//! A non-blocking file descriptor registered with the driver, and the loop that makes each
//! operation on it look blocking.
//!
//! Ground rules (arch/io.md):
//! - IO1: every operation first tries its system call; only `WouldBlock` makes it wait. In a
//!   coroutine it waits through the driver (R2, R3) and `park`, so the worker runs other
//!   coroutines; on a plain OS thread it blocks the thread in `poll(2)` on this one
//!   descriptor, like std's blocking sockets (no worker needs to poll for it).
//! - IO2: a timeout (`set_read_timeout` and friends, stored in the socket by the kernel as
//!   std does) is read when the operation first has to wait, and bounds the whole call; when
//!   it passes, the call fails with the error std's blocking socket gives on Linux (`EAGAIN`,
//!   `ErrorKind::WouldBlock`).
//! - IO3: after `set_nonblocking(true)` an operation returns `WouldBlock` instead of waiting.
//!   The descriptor itself is always in non-blocking mode.
//! - IO4: a descriptor is registered with the driver when a coroutine first has to wait for
//!   it, after its operation saw `WouldBlock` (epoll reports readiness present at
//!   registration, so nothing is missed). Sockets used only by plain threads never touch the
//!   driver or start the runtime, and converting a std socket cannot fail.

use std::io;
use std::mem::ManuallyDrop;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use mio::Token;
use parking_lot::Mutex;

use super::driver::Driver;
use super::readiness::{Direction, ScheduledIo};
use crate::park::{self, Unparker};
use crate::runtime::context;

/// A descriptor of type `T` (a std socket in non-blocking mode), registered with the
/// runtime's driver the first time a coroutine has to wait for it (IO4). `Sync` when `T` is:
/// any number of coroutines and threads may operate on it at once.
#[derive(Debug)]
pub(crate) struct IoSource<T: AsRawFd> {
    io: T,
    registration: OnceLock<Registration>,
    /// Serialises the first registration (epoll refuses a second one for the same descriptor).
    registering: Mutex<()>,
    nonblocking: AtomicBool,
}

#[derive(Debug)]
struct Registration {
    scheduled: Arc<ScheduledIo<Unparker>>,
    token: Token,
    driver: &'static Driver,
}

impl<T: AsRawFd> IoSource<T> {
    /// Wraps `io`, which the caller has put in non-blocking mode.
    pub(crate) fn new(io: T) -> Self {
        IoSource {
            io,
            registration: OnceLock::new(),
            registering: Mutex::new(()),
            nonblocking: AtomicBool::new(false),
        }
    }

    pub(crate) fn get_ref(&self) -> &T {
        &self.io
    }

    /// IO3: the user's non-blocking flag (the descriptor stays non-blocking either way).
    pub(crate) fn set_nonblocking(&self, nonblocking: bool) {
        self.nonblocking.store(nonblocking, Ordering::Relaxed);
    }

    /// IO3: the user's non-blocking flag.
    pub(crate) fn is_nonblocking(&self) -> bool {
        self.nonblocking.load(Ordering::Relaxed)
    }

    /// D3: deregisters and hands the descriptor back (still in non-blocking mode).
    pub(crate) fn into_inner(self) -> T {
        let mut this = ManuallyDrop::new(self);
        this.deregister();
        // SAFETY: `this` is never used or dropped again, so each field with a destructor is
        // moved out exactly once: `io` is returned, `registration` (empty after `deregister`)
        // is dropped here; `registering` and `nonblocking` have no destructor.
        unsafe {
            drop(std::ptr::read(&this.registration));
            std::ptr::read(&this.io)
        }
    }

    fn deregister(&mut self) {
        if let Some(reg) = self.registration.take() {
            reg.driver.deregister(self.io.as_raw_fd(), reg.token);
        }
    }

    /// IO4: the registration, made now if this is the first wait in a coroutine (starting
    /// the runtime's driver is not needed: a coroutine runs, so the runtime does).
    fn registration(&self) -> io::Result<&Registration> {
        if let Some(reg) = self.registration.get() {
            return Ok(reg);
        }
        let _guard = self.registering.lock();
        if let Some(reg) = self.registration.get() {
            return Ok(reg);
        }
        let driver = &crate::runtime::start()?.driver;
        let (scheduled, token) = driver.register(self.io.as_raw_fd())?;
        Ok(self.registration.get_or_init(|| Registration {
            scheduled,
            token,
            driver,
        }))
    }

    /// Runs `op` until it does not fail with `WouldBlock`, waiting for `dir` in between
    /// (IO1). `timeout` is asked for when the first wait begins (IO2).
    pub(crate) fn do_io<R>(
        &self,
        dir: Direction,
        timeout: impl FnOnce(&T) -> io::Result<Option<Duration>>,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> io::Result<R> {
        let mut timeout = Some(timeout);
        let mut deadline = None;
        loop {
            let registered = self.registration.get();
            let snap = registered.map(|reg| reg.scheduled.snapshot());
            let err = match op(&self.io) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => e,
                result => return result,
            };
            if self.is_nonblocking() {
                return Err(err);
            }
            if let Some(timeout) = timeout.take() {
                deadline = timeout(&self.io)?.and_then(|t| Instant::now().checked_add(t));
            }
            if deadline.is_some_and(|d| d <= Instant::now()) {
                return Err(timed_out());
            }
            if !context::in_coroutine() {
                poll_fd(self.io.as_raw_fd(), dir, deadline)?;
                continue;
            }
            let scheduled = match (registered, snap) {
                (Some(reg), Some(snap)) => {
                    reg.scheduled.clear(snap, dir);
                    &reg.scheduled
                }
                // IO4: registered after the `WouldBlock`, so epoll reports any readiness
                // from here on; nothing to clear.
                _ => &self.registration()?.scheduled,
            };
            // R3: `None` means an event arrived meanwhile: retry at once.
            if let Some(key) = scheduled.register(dir, park::current()) {
                park::park(deadline);
                scheduled.cancel(dir, key);
            }
        }
    }
}

impl<T: AsRawFd> Drop for IoSource<T> {
    fn drop(&mut self) {
        // D3: before `io` (a field) closes the descriptor.
        self.deregister();
    }
}

/// The error std's blocking sockets return on Linux when `SO_RCVTIMEO`/`SO_SNDTIMEO` passes.
pub(crate) fn timed_out() -> io::Error {
    io::Error::from_raw_os_error(libc::EAGAIN)
}

/// IO1 on a plain OS thread: blocks in `poll(2)` until `fd` is ready for `dir` (or has an
/// error or hang-up, which the retried operation reports) or `deadline` passes.
fn poll_fd(fd: RawFd, dir: Direction, deadline: Option<Instant>) -> io::Result<()> {
    let events = match dir {
        Direction::Read => libc::POLLIN | libc::POLLRDHUP,
        Direction::Write => libc::POLLOUT,
    };
    let mut pfd = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    loop {
        let timeout_ms = match deadline {
            None => -1,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                // Round up: waking a little late is fine, spinning on a zero timeout is not.
                let ms = left.as_nanos().div_ceil(1_000_000);
                ms.min(i32::MAX as u128) as i32
            }
        };
        // SAFETY: `pfd` is a valid pollfd that lives across the call, and the count is 1.
        let r = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        if r >= 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}
