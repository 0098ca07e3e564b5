//! `TcpListener` and `TcpStream`: std's types, with waits that park the coroutine.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{self, Shutdown, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

use super::{IoSource, stream_sys};
use crate::reactor::Direction;

use super::{connect_progress, each_addr, restore_kept_mode, restore_mode};

/// A TCP socket server, listening for connections: `std::net::TcpListener` with the same
/// methods.
///
/// **Blocking:** `accept` (and `incoming`) waits for a connection; in a coroutine it parks the
/// coroutine and its worker runs other coroutines, on a plain OS thread it blocks the thread
/// as std does. After `set_nonblocking(true)` it returns `WouldBlock` instead.
///
/// **Thread safety:** `Send + Sync`; any number of coroutines and threads may accept on one
/// listener (or on clones from `try_clone`) at once.
pub struct TcpListener {
    inner: IoSource<net::TcpListener>,
}

/// An iterator over the connections of a [`TcpListener`], from [`TcpListener::incoming`]. Each
/// `next` blocks in `accept` (parking a coroutine). It never returns `None`.
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

/// A TCP stream between a local and a remote socket: `std::net::TcpStream` with the same
/// methods, `Read` and `Write` for `TcpStream` and `&TcpStream`.
///
/// **Blocking:** `connect`, `read`, `peek` and `write` wait like std's (honouring
/// `set_read_timeout`/`set_write_timeout`, which fail with `ErrorKind::WouldBlock` as std does
/// on Linux); in a coroutine the coroutine parks and its worker runs other coroutines, on a
/// plain OS thread the thread blocks. After `set_nonblocking(true)` they return `WouldBlock`
/// instead of waiting. Host names given to `connect` as strings (`"host:port"`,
/// `("host", port)`) are resolved on the blocking pool, so they do not block the worker; a
/// custom `ToSocketAddrs` type is resolved where it is called (see
/// [`lookup_host`](super::lookup_host)).
///
/// **Thread safety:** `Send + Sync`; one coroutine may read while another writes, through
/// `&TcpStream` or a `try_clone`.
///
/// Difference from std: the non-blocking flag of `set_nonblocking` belongs to this handle,
/// not to the socket, so a `try_clone` starts out blocking (in std the two share the flag).
pub struct TcpStream {
    inner: IoSource<net::TcpStream>,
}

impl TcpListener {
    /// Creates a listener bound to `addr` (tried in order, like std; the last error is
    /// returned if none binds). Binding never waits. The listen backlog is the system's
    /// maximum (`net.core.somaxconn`), not std's 128, so bursts of connections are not dropped.
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        each_addr(addr, TcpListener::bind_one)
    }

    fn from_std(listener: net::TcpListener) -> io::Result<TcpListener> {
        listener.set_nonblocking(true)?;
        Ok(TcpListener {
            inner: IoSource::new(listener),
        })
    }

    /// std listens with a backlog of 128: a burst of connections beyond that (a server with
    /// many clients starting at once) gets its SYNs dropped and retried a second later. Like
    /// Go, listen with the system's maximum (`net.core.somaxconn`; Linux caps the value).
    fn bind_one(addr: SocketAddr) -> io::Result<TcpListener> {
        let listener = net::TcpListener::bind(addr)?;
        // SAFETY: plain system call on a descriptor `listener` owns; calling listen again on a
        // listening socket only changes its backlog.
        if unsafe { libc::listen(listener.as_raw_fd(), i32::MAX) } != 0 {
            return Err(io::Error::last_os_error());
        }
        listener.set_nonblocking(true)?;
        Ok(TcpListener {
            inner: IoSource::new(listener),
        })
    }

    /// The local address this listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }

    /// A new handle to the same socket (a duplicated descriptor).
    pub fn try_clone(&self) -> io::Result<TcpListener> {
        TcpListener::from_std(self.inner.get_ref().try_clone()?)
    }

    /// Waits for a connection and returns it with the peer's address. The new stream is
    /// blocking (waits park a coroutine), whatever this listener's mode.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (stream, addr) = self
            .inner
            .do_io_within(Direction::Read, None, |l| l.accept())?;
        Ok((TcpStream::from_std(stream)?, addr))
    }

    /// An iterator over incoming connections: `accept` in a loop.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// Sets the IP time-to-live of sent packets.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.inner.get_ref().set_ttl(ttl)
    }

    /// The IP time-to-live of sent packets.
    pub fn ttl(&self) -> io::Result<u32> {
        self.inner.get_ref().ttl()
    }

    /// Takes the pending socket error (`SO_ERROR`), if any.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.get_ref().take_error()
    }

    /// In non-blocking mode `accept` returns `WouldBlock` instead of waiting.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.inner.set_nonblocking(nonblocking);
        Ok(())
    }

    fn into_std(self) -> net::TcpListener {
        let nonblocking = self.inner.is_nonblocking();
        let listener = self.inner.into_inner();
        restore_mode(&listener, nonblocking, net::TcpListener::set_nonblocking);
        listener
    }
}

impl std::iter::FusedIterator for Incoming<'_> {}

impl Iterator for Incoming<'_> {
    type Item = io::Result<TcpStream>;

    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        Some(self.listener.accept().map(|(stream, _)| stream))
    }
}

impl TcpStream {
    /// Opens a connection to `addr`, trying each resolved address in turn like std (the last
    /// error is returned if none connects). Waiting for the handshake parks a coroutine.
    pub fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        each_addr(addr, |a| TcpStream::connect_inner(a, None))
    }

    /// Opens a connection to `addr`, giving up after `timeout` with `ErrorKind::TimedOut`.
    /// A zero `timeout` is an `InvalidInput` error, as in std.
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        if timeout.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot set a 0 duration timeout",
            ));
        }
        TcpStream::connect_inner(*addr, Some(timeout))
    }

    fn connect_inner(addr: SocketAddr, timeout: Option<Duration>) -> io::Result<TcpStream> {
        // mio starts a non-blocking connect (socket, connect → EINPROGRESS).
        let started = mio::net::TcpStream::connect(addr)?;
        let stream = TcpStream {
            inner: IoSource::new(net::TcpStream::from(OwnedFd::from(started))),
        };
        // Still connecting means: wait for writability.
        let result = stream.inner.do_io_within(Direction::Write, timeout, |s| {
            connect_progress(s.take_error(), || s.peer_addr())
        });
        match result {
            // IO3: the connect was non-blocking (mio); the socket now goes on in blocking
            // mode, like a std one, since every read and write passes `MSG_DONTWAIT`.
            Ok(()) => {
                stream.inner.get_ref().set_nonblocking(false)?;
                Ok(stream)
            }
            // The only `WouldBlock` `do_io` returns here is the deadline (IO2).
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "connection timed out",
            )),
            Err(e) => Err(e),
        }
    }

    fn from_std(stream: net::TcpStream) -> io::Result<TcpStream> {
        // IO3: the descriptor keeps its mode; every read and write passes `MSG_DONTWAIT`.
        Ok(TcpStream {
            inner: IoSource::new(stream),
        })
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().peer_addr()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }

    /// Shuts down the read half, the write half or both. Never waits.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.get_ref().shutdown(how)
    }

    /// A new handle to the same socket (a duplicated descriptor).
    pub fn try_clone(&self) -> io::Result<TcpStream> {
        // The duplicate shares the socket's timeouts (IO2).
        Ok(TcpStream {
            inner: self.inner.duplicate(self.inner.get_ref().try_clone()?),
        })
    }

    /// Bounds how long a read waits (`None`: forever). Stored in the socket like std
    /// (`SO_RCVTIMEO`), so clones share it; a zero duration is an `InvalidInput` error.
    pub fn set_read_timeout(&self, dur: Option<Duration>) -> io::Result<()> {
        self.inner
            .set_timeout(Direction::Read, dur, |s| s.set_read_timeout(dur))
    }

    /// Bounds how long a write waits (`None`: forever). See `set_read_timeout`.
    pub fn set_write_timeout(&self, dur: Option<Duration>) -> io::Result<()> {
        self.inner
            .set_timeout(Direction::Write, dur, |s| s.set_write_timeout(dur))
    }

    /// The read timeout.
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        self.inner.get_ref().read_timeout()
    }

    /// The write timeout.
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        self.inner.get_ref().write_timeout()
    }

    /// Reads without removing the data from the socket's queue; waits like `read`.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.do_io(Direction::Read, |s| {
            stream_sys::recv(s.as_raw_fd(), buf, true)
        })
    }

    /// Sets `TCP_NODELAY`.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.inner.get_ref().set_nodelay(nodelay)
    }

    /// `TCP_NODELAY`.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.inner.get_ref().nodelay()
    }

    /// Sets the IP time-to-live of sent packets.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.inner.get_ref().set_ttl(ttl)
    }

    /// The IP time-to-live of sent packets.
    pub fn ttl(&self) -> io::Result<u32> {
        self.inner.get_ref().ttl()
    }

    /// Takes the pending socket error (`SO_ERROR`), if any.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.get_ref().take_error()
    }

    /// In non-blocking mode reads and writes return `WouldBlock` instead of waiting.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.inner.set_nonblocking(nonblocking);
        Ok(())
    }

    fn into_std(self) -> net::TcpStream {
        let nonblocking = self.inner.is_nonblocking();
        let stream = self.inner.into_inner();
        restore_kept_mode(&stream, nonblocking, net::TcpStream::set_nonblocking);
        stream
    }

    fn read_inner(&self, buf: &mut [u8]) -> io::Result<usize> {
        let len = buf.len();
        self.inner.do_io_stream(Direction::Read, len, |s| {
            stream_sys::recv(s.as_raw_fd(), buf, false)
        })
    }

    fn read_vectored_inner(&self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        let len = stream_sys::vectored_len(bufs);
        self.inner.do_io_stream(Direction::Read, len, |s| {
            stream_sys::recv_vectored(s.as_raw_fd(), bufs)
        })
    }

    fn write_inner(&self, buf: &[u8]) -> io::Result<usize> {
        let len = buf.len();
        self.inner.do_io_stream(Direction::Write, len, |s| {
            stream_sys::send(s.as_raw_fd(), buf)
        })
    }

    fn write_vectored_inner(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let len = stream_sys::vectored_len(bufs);
        self.inner.do_io_stream(Direction::Write, len, |s| {
            stream_sys::send_vectored(s.as_raw_fd(), bufs)
        })
    }
}

super::io_by_ref!(read TcpStream);
super::io_by_ref!(write TcpStream);

super::fd_conversions!(TcpListener, net::TcpListener);
super::fd_conversions!(TcpStream, net::TcpStream, keep_mode);

// IO7: `futures::io`'s traits (feature `futures-io`), net/async_io.rs.
#[cfg(feature = "futures-io")]
super::async_io::futures_io_impls!(TcpStream);
#[cfg(feature = "tokio")]
super::async_io::tokio_impls!(TcpStream);
#[cfg(feature = "hyper")]
super::async_io::hyper_impls!(TcpStream);
