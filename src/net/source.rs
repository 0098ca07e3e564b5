//! A non-blocking file descriptor registered with the runtime's I/O driver, and the loop that
//! makes each operation on it look blocking: the sockets' layer, above the driver (io/), which
//! only reports readiness, and above `park`, through which a waiting coroutine parks.
//!
//! Ground rules (arch/io.md):
//! - IO1: every operation first tries its system call; only `WouldBlock` makes it wait. In a
//!   coroutine it waits through the driver (R2, R3) and `park`, so the worker runs other
//!   coroutines; on a plain OS thread it blocks the thread in `poll(2)` on this one
//!   descriptor, like std's blocking sockets (no worker needs to poll for it).
//! - IO2: a timeout (`set_read_timeout` and friends, stored in the socket by the kernel as
//!   std does) bounds the whole call; when it passes, the call fails with the error std's
//!   blocking socket gives on Linux (`EAGAIN`, `ErrorKind::WouldBlock`). It is read from the
//!   socket the first time a wait of the handle needs it and then cached in the handle,
//!   shared with its `try_clone` clones, and updated by their setters ([`Timeouts`]), so a
//!   wait costs no `getsockopt` — unless the socket was taken over from std or one of its
//!   duplicates was given back to std, when every wait asks the socket again.
//! - IO3: after `set_nonblocking(true)` an operation returns `WouldBlock` instead of waiting.
//!   The descriptor's own mode does not matter: listeners and Unix datagram sockets are kept
//!   non-blocking, stream and UDP sockets pass `MSG_DONTWAIT` on every call (`stream_sys`,
//!   `dgram_sys`).
//! - IO4: a descriptor is registered with the driver when a coroutine first has to wait for
//!   it, after its operation saw `WouldBlock` (epoll reports readiness present at
//!   registration, so nothing is missed). Sockets used only by plain threads never touch the
//!   driver or start the runtime, and converting a std socket cannot fail.

use std::io;
use std::mem::ManuallyDrop;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use mio::Token;
use parking_lot::Mutex;

use crate::coroutine::{IoWaiter, current};
use crate::park;
use crate::reactor::{Direction, Driver, ScheduledIo};

/// A descriptor of type `T` (a std socket whose operations never block, IO3), registered with the
/// runtime's driver the first time a coroutine has to wait for it (IO4). `Sync` when `T` is:
/// any number of coroutines and threads may operate on it at once.
#[derive(Debug)]
pub(crate) struct IoSource<T: AsRawFd> {
    io: T,
    registration: OnceLock<Registration>,
    /// Serialises the first registration (epoll refuses a second one for the same descriptor).
    registering: Mutex<()>,
    nonblocking: AtomicBool,
    timeouts: Arc<Timeouts>,
    /// IO7: the waker entry a future's poll left for each direction (read, write), replaced by
    /// the next poll, so that repeated polls without an event leave one entry, not many.
    #[cfg_attr(
        not(any(feature = "futures-io", feature = "tokio", feature = "hyper")),
        allow(dead_code)
    )]
    async_keys: Mutex<[Option<u64>; 2]>,
}

/// IO2: the socket's read and write timeouts (`SO_RCVTIMEO`, `SO_SNDTIMEO`) as last seen by
/// this handle and its `try_clone` clones, so that a wait need not ask the kernel. Each is
/// [`UNKNOWN`] until first needed, then read from the socket; the weft setters write the
/// socket and the cache together (under `set`). Not used (`trusted` off) for a descriptor
/// taken over from std, nor once a duplicate went back to std. Not seen: setsockopt on the raw
/// descriptor of a handle that has already read its timeout.
#[derive(Debug)]
struct Timeouts {
    /// Nanoseconds; [`NO_TIMEOUT`] for none, [`UNKNOWN`] before the first look.
    read: AtomicU64,
    write: AtomicU64,
    /// Keeps the socket and the cache in the same order when setters race.
    set: Mutex<()>,
    /// Whether the cache may be used. Off for a descriptor taken over from std (std handles
    /// duplicated before may set timeouts weft never sees) and, for every remaining
    /// duplicate, once one of them has been given back to std: then each wait asks the
    /// socket, as before the cache.
    trusted: AtomicBool,
}

const UNKNOWN: u64 = u64::MAX;
const NO_TIMEOUT: u64 = 0;

impl Timeouts {
    fn new(trusted: bool) -> Arc<Timeouts> {
        Arc::new(Timeouts {
            read: AtomicU64::new(UNKNOWN),
            write: AtomicU64::new(UNKNOWN),
            set: Mutex::new(()),
            trusted: AtomicBool::new(trusted),
        })
    }

    fn slot(&self, dir: Direction) -> &AtomicU64 {
        match dir {
            Direction::Read => &self.read,
            Direction::Write => &self.write,
        }
    }
}

fn encode(timeout: Option<Duration>) -> u64 {
    match timeout {
        None => NO_TIMEOUT,
        // Clamped into 1..UNKNOWN: zero is refused by the setters, and 584 years is forever.
        Some(t) => u64::try_from(t.as_nanos()).map_or(UNKNOWN - 1, |n| n.clamp(1, UNKNOWN - 1)),
    }
}

fn decode(nanos: u64) -> Option<Duration> {
    (nanos != NO_TIMEOUT).then(|| Duration::from_nanos(nanos))
}

/// The socket's `SO_RCVTIMEO` (`Read`) or `SO_SNDTIMEO` (`Write`), as std reads it.
fn socket_timeout(fd: RawFd, dir: Direction) -> io::Result<Option<Duration>> {
    let opt = match dir {
        Direction::Read => libc::SO_RCVTIMEO,
        Direction::Write => libc::SO_SNDTIMEO,
    };
    let mut tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 0,
    };
    let mut len = std::mem::size_of::<libc::timeval>() as libc::socklen_t;
    // SAFETY: `tv` is a writable timeval that lives across the call and `len` is its size, as
    // getsockopt requires for these options.
    let r = unsafe { libc::getsockopt(fd, libc::SOL_SOCKET, opt, (&raw mut tv).cast(), &mut len) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((tv.tv_sec != 0 || tv.tv_usec != 0)
        .then(|| Duration::new(tv.tv_sec as u64, tv.tv_usec as u32 * 1000)))
}

#[derive(Debug)]
struct Registration {
    scheduled: Arc<ScheduledIo<IoWaiter>>,
    token: Token,
    driver: &'static Driver<IoWaiter>,
}

// As std's sockets: a panic cannot leave a socket half-updated (its locks guard only the
// one-time registration and the futures' waker keys, and no user code runs under them), so
// the socket types built on this are unwind-safe.
impl<T: AsRawFd> std::panic::UnwindSafe for IoSource<T> {}
impl<T: AsRawFd> std::panic::RefUnwindSafe for IoSource<T> {}

impl<T: AsRawFd> IoSource<T> {
    /// Wraps `io`, whose operations the caller makes non-blocking (IO3).
    pub(crate) fn new(io: T) -> Self {
        IoSource::with_timeouts(io, Timeouts::new(true))
    }

    /// Wraps `io` taken over from std (`From`, `FromRawFd`, `OwnedFd`): std duplicates of it
    /// may exist, so its timeouts are asked of the socket at every wait (IO2).
    pub(crate) fn adopt(io: T) -> Self {
        IoSource::with_timeouts(io, Timeouts::new(false))
    }

    fn with_timeouts(io: T, timeouts: Arc<Timeouts>) -> Self {
        IoSource {
            io,
            registration: OnceLock::new(),
            registering: Mutex::new(()),
            nonblocking: AtomicBool::new(false),
            timeouts,
            async_keys: Mutex::new([None, None]),
        }
    }

    /// A handle for `io`, a duplicate of this handle's descriptor (`try_clone`): it shares the
    /// timeout cache (the timeouts live in the socket, which both name) but has its own
    /// registration and non-blocking flag (IO3).
    pub(crate) fn duplicate(&self, io: T) -> Self {
        IoSource::with_timeouts(io, self.timeouts.clone())
    }

    /// Sets the socket's timeout for `dir` with `set` (std's setter, which validates it) and,
    /// if that succeeds, the cache (IO2).
    pub(crate) fn set_timeout(
        &self,
        dir: Direction,
        timeout: Option<Duration>,
        set: impl FnOnce(&T) -> io::Result<()>,
    ) -> io::Result<()> {
        let _order = self.timeouts.set.lock();
        set(&self.io)?;
        self.timeouts
            .slot(dir)
            .store(encode(timeout), Ordering::Relaxed);
        Ok(())
    }

    /// IO2: the socket's timeout for `dir`, from the cache or else from the socket.
    fn timeout(&self, dir: Direction) -> io::Result<Option<Duration>> {
        let slot = self.timeouts.slot(dir);
        if !self.timeouts.trusted.load(Ordering::Relaxed) {
            return socket_timeout(self.io.as_raw_fd(), dir);
        }
        match slot.load(Ordering::Relaxed) {
            UNKNOWN => {
                let _order = self.timeouts.set.lock();
                let timeout = socket_timeout(self.io.as_raw_fd(), dir)?;
                slot.store(encode(timeout), Ordering::Relaxed);
                Ok(timeout)
            }
            nanos => Ok(decode(nanos)),
        }
    }

    pub(crate) fn get_ref(&self) -> &T {
        &self.io
    }

    /// IO3: the user's non-blocking flag (the descriptor's own mode is not changed).
    pub(crate) fn set_nonblocking(&self, nonblocking: bool) {
        self.nonblocking.store(nonblocking, Ordering::Relaxed);
    }

    /// IO3: the user's non-blocking flag.
    pub(crate) fn is_nonblocking(&self) -> bool {
        self.nonblocking.load(Ordering::Relaxed)
    }

    /// D3: deregisters and hands the descriptor back (in the mode it is in).
    pub(crate) fn into_inner(self) -> T {
        let mut this = ManuallyDrop::new(self);
        this.deregister();
        // IO2: std may now set timeouts on this socket behind the duplicates' backs.
        this.timeouts.trusted.store(false, Ordering::Relaxed);
        // SAFETY: `this` is never used or dropped again, so each field with a destructor is
        // moved out exactly once: `io` is returned, `registration` (empty after `deregister`)
        // and `timeouts` are dropped here; `registering` and `nonblocking` have no destructor.
        unsafe {
            drop(std::ptr::read(&this.registration));
            drop(std::ptr::read(&this.timeouts));
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
        let sched = crate::runtime::start()?;
        let driver = &sched.driver;
        let (scheduled, token) = driver.register(self.io.as_raw_fd())?;
        let reg = self.registration.get_or_init(|| Registration {
            scheduled,
            token,
            driver,
        });
        if !current::in_coroutine() {
            // IO7: registered from outside the workers (a future polled on a plain thread):
            // idle workers sleep on their parkers while no source is registered, so wake one;
            // it takes the driver when it sleeps again. (A coroutine's own worker sees the
            // registration when it next sleeps.)
            sched.notify_work();
        }
        Ok(reg)
    }

    /// Runs `op` until it does not fail with `WouldBlock`, waiting for `dir` in between
    /// (IO1), for no longer than the socket's timeout for `dir` (IO2).
    pub(crate) fn do_io<R>(
        &self,
        dir: Direction,
        op: impl FnMut(&T) -> io::Result<R>,
    ) -> io::Result<R> {
        self.wait_loop(dir, false, || self.timeout(dir), None::<fn(&R) -> bool>, op)
    }

    /// [`do_io`](Self::do_io) for a read or write of `len` bytes on a TCP stream (not a
    /// peek, not a datagram, not a Unix stream), where moving fewer than `len` bytes means the
    /// queue is drained or the buffer full (R5; `len` counts only the buffers one call
    /// passes): the readiness is then cleared, and the next call in a
    /// coroutine waits for the next edge without first trying its system call. Saves the
    /// `WouldBlock` call of every request-response exchange (tokio does the same).
    pub(crate) fn do_io_stream(
        &self,
        dir: Direction,
        len: usize,
        op: impl FnMut(&T) -> io::Result<usize>,
    ) -> io::Result<usize> {
        if len == 0 {
            // Nothing to move says nothing about the queue, and std returns `Ok(0)` at once.
            return self.do_io(dir, op);
        }
        self.wait_loop(
            dir,
            false,
            || self.timeout(dir),
            Some(move |n: &usize| *n > 0 && *n < len),
            op,
        )
    }

    /// [`do_io`](Self::do_io) with no timeout, for descriptors that are not sockets (a child
    /// process's pipes and pidfd, process/): their socket timeouts cannot be asked for.
    pub(crate) fn do_io_untimed<R>(
        &self,
        dir: Direction,
        op: impl FnMut(&T) -> io::Result<R>,
    ) -> io::Result<R> {
        self.wait_loop(dir, false, || Ok(None), None::<fn(&R) -> bool>, op)
    }

    /// [`do_io`](Self::do_io) bounded by `timeout` instead of the socket's (accept, connect).
    pub(crate) fn do_io_within<R>(
        &self,
        dir: Direction,
        timeout: Option<Duration>,
        op: impl FnMut(&T) -> io::Result<R>,
    ) -> io::Result<R> {
        self.wait_loop(dir, true, || Ok(timeout), None::<fn(&R) -> bool>, op)
    }

    /// IO7: `op` as a future's poll: its result, or `Pending` with the waker of `cx`
    /// registered for `dir` with the driver (replacing the one an earlier poll left). The
    /// socket's timeouts do not apply (a future's caller times it out). Works in and out of
    /// coroutines: the driver is polled by the runtime's workers.
    #[cfg_attr(
        not(any(feature = "futures-io", feature = "tokio", feature = "hyper")),
        allow(dead_code)
    )]
    pub(crate) fn poll_io<R>(
        &self,
        dir: Direction,
        cx: &mut std::task::Context<'_>,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> std::task::Poll<io::Result<R>> {
        let reg = match self.registration() {
            Ok(reg) => reg,
            Err(e) => return std::task::Poll::Ready(Err(e)),
        };
        let slot = match dir {
            Direction::Read => 0,
            Direction::Write => 1,
        };
        loop {
            let snap = reg.scheduled.snapshot();
            match op(&self.io) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    reg.scheduled.clear(snap, dir);
                    let mut keys = self.async_keys.lock();
                    // The replaced waker is dropped after the locks (user code).
                    let _old = keys[slot]
                        .take()
                        .and_then(|old| reg.scheduled.cancel(dir, old));
                    // R3: `None`: an event came meanwhile; try again.
                    if let Some(key) = reg
                        .scheduled
                        .register(dir, IoWaiter::Waker(cx.waker().clone()))
                    {
                        keys[slot] = Some(key);
                        drop(keys);
                        return std::task::Poll::Pending;
                    }
                }
                done => return std::task::Poll::Ready(done),
            }
        }
    }

    /// IO7: `recv` as a future's poll (the async I/O traits, net/async_io.rs).
    #[cfg(any(feature = "futures-io", feature = "tokio"))]
    pub(crate) fn poll_recv(
        &self,
        cx: &mut std::task::Context<'_>,
        buf: &mut [u8],
    ) -> std::task::Poll<io::Result<usize>> {
        self.poll_io(Direction::Read, cx, |s| {
            super::stream_sys::recv(s.as_raw_fd(), buf, false)
        })
    }

    /// IO7: `recv` into possibly uninitialised memory as a future's poll (hyper's reads).
    #[cfg(feature = "hyper")]
    pub(crate) fn poll_recv_uninit(
        &self,
        cx: &mut std::task::Context<'_>,
        buf: &mut [std::mem::MaybeUninit<u8>],
    ) -> std::task::Poll<io::Result<usize>> {
        self.poll_io(Direction::Read, cx, |s| {
            super::stream_sys::recv_uninit(s.as_raw_fd(), buf)
        })
    }

    /// IO7: vectored `recv` as a future's poll.
    #[cfg(feature = "futures-io")]
    pub(crate) fn poll_recv_vectored(
        &self,
        cx: &mut std::task::Context<'_>,
        bufs: &mut [std::io::IoSliceMut<'_>],
    ) -> std::task::Poll<io::Result<usize>> {
        self.poll_io(Direction::Read, cx, |s| {
            super::stream_sys::recv_vectored(s.as_raw_fd(), bufs)
        })
    }

    /// IO7: `send` as a future's poll.
    #[cfg(any(feature = "futures-io", feature = "tokio", feature = "hyper"))]
    pub(crate) fn poll_send(
        &self,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        self.poll_io(Direction::Write, cx, |s| {
            super::stream_sys::send(s.as_raw_fd(), buf)
        })
    }

    /// IO7: vectored `send` as a future's poll.
    #[cfg(any(feature = "futures-io", feature = "tokio", feature = "hyper"))]
    pub(crate) fn poll_send_vectored(
        &self,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<io::Result<usize>> {
        self.poll_io(Direction::Write, cx, |s| {
            super::stream_sys::send_vectored(s.as_raw_fd(), bufs)
        })
    }

    /// The loop of `do_io`: `timeout` is asked for when the first wait begins (IO2);
    /// `drained`, for stream calls only, tells from a result that the call drained the queue
    /// or filled the buffer (R5); `connection` says the call is an accept (read) or a connect
    /// (write), for the dump's wait reason.
    fn wait_loop<R>(
        &self,
        dir: Direction,
        connection: bool,
        timeout: impl FnOnce() -> io::Result<Option<Duration>>,
        drained: Option<impl Fn(&R) -> bool>,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> io::Result<R> {
        let mut timeout = Some(timeout);
        let mut deadline = None;
        loop {
            let registered = self.registration.get();
            let snap = registered.map(|reg| reg.scheduled.snapshot());
            // R5: the last stream call drained the queue and no edge came since: the system
            // call would say `WouldBlock`, so wait at once (a coroutine waiting through the
            // driver only; a thread's `poll(2)` or the user's non-blocking mode try first).
            let skip = drained.is_some()
                && snap.is_some_and(|snap| !snap.is_ready(dir))
                && !self.is_nonblocking()
                && current::in_coroutine();
            if !skip {
                match op(&self.io) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        if self.is_nonblocking() {
                            return Err(e);
                        }
                    }
                    Ok(done) => {
                        if let (Some(drained), Some(reg), Some(snap)) = (&drained, registered, snap)
                            && drained(&done)
                        {
                            reg.scheduled.clear_drained(snap, dir);
                        }
                        return Ok(done);
                    }
                    Err(e) => return Err(e),
                }
            }
            if let Some(timeout) = timeout.take() {
                deadline = timeout()?.and_then(|t| Instant::now().checked_add(t));
            }
            if deadline.is_some_and(|d| d <= Instant::now()) {
                return Err(timed_out());
            }
            let Some(task) = current::task() else {
                poll_fd(self.io.as_raw_fd(), dir, deadline)?;
                continue;
            };
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
            if let Some(key) = scheduled.register(dir, IoWaiter::Task(task)) {
                let fd = self.io.as_raw_fd();
                let why = match (dir, connection) {
                    (Direction::Read, false) => park::Wait::SocketRead(fd),
                    (Direction::Write, false) => park::Wait::SocketWrite(fd),
                    (Direction::Read, true) => park::Wait::Accept(fd),
                    (Direction::Write, true) => park::Wait::Connect(fd),
                };
                park::park(deadline, why);
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
