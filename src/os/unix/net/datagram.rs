//! `UnixDatagram`: std's type, with waits that park the coroutine.

use std::io;
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::os::unix::net;
use std::path::Path;
use std::time::Duration;

use super::{SocketAddr, restore_mode};
use crate::net::IoSource;
use crate::reactor::Direction;

/// A Unix domain datagram socket: `std::os::unix::net::UnixDatagram` with the same methods.
///
/// **Blocking:** `recv`, `recv_from`, `send`, `send_to` and `send_to_addr` wait like std's
/// (honouring `set_read_timeout`/`set_write_timeout`, which fail with `ErrorKind::WouldBlock`
/// as std does on Linux); in a coroutine the coroutine parks and its worker runs other
/// coroutines, on a plain OS thread the thread blocks. After `set_nonblocking(true)` they
/// return `WouldBlock` instead of waiting.
///
/// **Thread safety:** `Send + Sync`; any number of coroutines and threads may send and receive
/// on one socket (through `&UnixDatagram` or a `try_clone`) at once. Each datagram goes to
/// exactly one receiver.
///
/// Differences from std: the non-blocking flag of `set_nonblocking` belongs to this handle,
/// not to the socket, so a `try_clone` starts out blocking (in std the two share the flag).
/// A `send_to` to a socket whose receive queue is full, from a socket *not connected* to it,
/// retries in a busy loop (IO5) until the receiver makes room (Linux reports such a sender writable
/// although its send fails with `EAGAIN`; std's blocking send sleeps in the kernel instead):
/// `connect` first when the receiver may fall behind.
pub struct UnixDatagram {
    inner: IoSource<net::UnixDatagram>,
}

impl UnixDatagram {
    /// Creates a socket bound to the socket file `path`, which must not exist yet.
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixDatagram> {
        UnixDatagram::from_std(net::UnixDatagram::bind(path)?)
    }

    /// Creates a socket bound to `socket_addr` (a path, or on Linux an abstract name).
    pub fn bind_addr(socket_addr: &SocketAddr) -> io::Result<UnixDatagram> {
        UnixDatagram::from_std(net::UnixDatagram::bind_addr(socket_addr)?)
    }

    /// Creates a socket bound to no address.
    pub fn unbound() -> io::Result<UnixDatagram> {
        UnixDatagram::from_std(net::UnixDatagram::unbound()?)
    }

    /// A connected pair of unnamed sockets.
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = net::UnixDatagram::pair()?;
        Ok((UnixDatagram::from_std(a)?, UnixDatagram::from_std(b)?))
    }

    fn from_std(socket: net::UnixDatagram) -> io::Result<UnixDatagram> {
        socket.set_nonblocking(true)?;
        Ok(UnixDatagram {
            inner: IoSource::new(socket),
        })
    }

    /// Sets the peer at `path`: `send` goes to it and only its datagrams are received. Never
    /// waits.
    pub fn connect<P: AsRef<Path>>(&self, path: P) -> io::Result<()> {
        self.inner.get_ref().connect(path)
    }

    /// Sets the peer at `socket_addr` (see `connect`).
    pub fn connect_addr(&self, socket_addr: &SocketAddr) -> io::Result<()> {
        self.inner.get_ref().connect_addr(socket_addr)
    }

    /// A new handle to the same socket (a duplicated descriptor).
    pub fn try_clone(&self) -> io::Result<UnixDatagram> {
        // The duplicate shares the file's non-blocking mode (always on, IO3) and the timeouts.
        Ok(UnixDatagram {
            inner: self.inner.duplicate(self.inner.get_ref().try_clone()?),
        })
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }

    /// The address of the peer set by `connect` or `pair`.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().peer_addr()
    }

    /// Receives one datagram and returns its length and sender. Bytes beyond `buf` are
    /// discarded. Waits for a datagram (up to the read timeout). After `shutdown(Read)` it
    /// returns 0 bytes from an unnamed sender at once, like std's blocking socket (in
    /// non-blocking mode: `WouldBlock`, like std's).
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let blocking = !self.inner.is_nonblocking();
        self.inner
            .do_io(Direction::Read, |s| match s.recv_from(buf) {
                Err(e) if blocking && is_read_shut_down(s, &e) => {
                    Ok((0, SocketAddr::from_pathname("")?))
                }
                result => result,
            })
    }

    /// Receives one datagram. Waits like `recv_from`.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        let blocking = !self.inner.is_nonblocking();
        self.inner.do_io(Direction::Read, |s| match s.recv(buf) {
            Err(e) if blocking && is_read_shut_down(s, &e) => Ok(0),
            result => result,
        })
    }

    /// Sends `buf` as one datagram to the socket file `path`. Waits while the receiver's
    /// queue is full (up to the write timeout; see the type's documentation).
    pub fn send_to<P: AsRef<Path>>(&self, buf: &[u8], path: P) -> io::Result<usize> {
        let path = path.as_ref();
        self.inner.do_io(Direction::Write, |s| s.send_to(buf, path))
    }

    /// Sends `buf` as one datagram to `socket_addr`. Waits like `send_to`.
    pub fn send_to_addr(&self, buf: &[u8], socket_addr: &SocketAddr) -> io::Result<usize> {
        self.inner
            .do_io(Direction::Write, |s| s.send_to_addr(buf, socket_addr))
    }

    /// Sends `buf` as one datagram to the connected peer. Waits while its queue is full (up
    /// to the write timeout).
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner.do_io(Direction::Write, |s| s.send(buf))
    }

    /// Bounds how long a receive waits (`None`: forever). Stored in the socket like std
    /// (`SO_RCVTIMEO`), so clones share it; a zero duration is an `InvalidInput` error.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.inner
            .set_timeout(Direction::Read, timeout, |s| s.set_read_timeout(timeout))
    }

    /// Bounds how long a send waits (`None`: forever). See `set_read_timeout`.
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.inner
            .set_timeout(Direction::Write, timeout, |s| s.set_write_timeout(timeout))
    }

    /// The read timeout.
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        self.inner.get_ref().read_timeout()
    }

    /// The write timeout.
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        self.inner.get_ref().write_timeout()
    }

    /// In non-blocking mode sends and receives return `WouldBlock` instead of waiting.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.inner.set_nonblocking(nonblocking);
        Ok(())
    }

    /// Takes the pending socket error (`SO_ERROR`), if any.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.get_ref().take_error()
    }

    /// Shuts down the read half, the write half or both. Never waits.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.get_ref().shutdown(how)
    }

    fn into_std(self) -> net::UnixDatagram {
        let nonblocking = self.inner.is_nonblocking();
        let socket = self.inner.into_inner();
        restore_mode(&socket, nonblocking, net::UnixDatagram::set_nonblocking);
        socket
    }
}

/// IO5: whether a receive that failed with `err` did so because the read half is shut down. A
/// blocking receive then returns 0 bytes at once (from an unnamed sender), but on a
/// non-blocking descriptor Linux reports `EAGAIN` while poll(2) reports the socket readable:
/// waiting would never end (a coroutine) or spin (a plain thread).
fn is_read_shut_down(socket: &net::UnixDatagram, err: &io::Error) -> bool {
    if err.kind() != io::ErrorKind::WouldBlock {
        return false;
    }
    let mut pfd = libc::pollfd {
        fd: socket.as_raw_fd(),
        events: libc::POLLRDHUP,
        revents: 0,
    };
    // SAFETY: `pfd` is a valid pollfd that lives across the call, the count is 1, and the
    // zero timeout makes the call return at once.
    let ready = unsafe { libc::poll(&mut pfd, 1, 0) };
    ready > 0 && pfd.revents & libc::POLLRDHUP != 0
}

crate::net::fd_conversions!(UnixDatagram, net::UnixDatagram);
