//! `UnixStream`: std's type, with waits that park the coroutine.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::os::unix::net;
use std::path::Path;
use std::time::Duration;

use super::SocketAddr;
use crate::net::{IoSource, stream_sys};
use crate::net::{connect_progress, restore_kept_mode};
use crate::reactor::Direction;

/// The first pause before retrying a connect refused for a full backlog; it doubles up to
/// [`MAX_BACKLOG_PAUSE`].
const FIRST_BACKLOG_PAUSE: Duration = Duration::from_millis(1);
const MAX_BACKLOG_PAUSE: Duration = Duration::from_millis(50);

/// A Unix domain stream socket: `std::os::unix::net::UnixStream` with the same methods,
/// `Read` and `Write` for `UnixStream` and `&UnixStream`.
///
/// **Blocking:** `connect`, `read` and `write` wait like std's (honouring
/// `set_read_timeout`/`set_write_timeout`, which fail with `ErrorKind::WouldBlock` as std does
/// on Linux); in a coroutine the coroutine parks and its worker runs other coroutines, on a
/// plain OS thread the thread blocks. After `set_nonblocking(true)` reads and writes return
/// `WouldBlock` instead of waiting. A `connect` to a listener whose backlog is full waits (as
/// std's does) by retrying after short sleeps, since Linux gives no readiness event for it.
///
/// **Thread safety:** `Send + Sync`; one coroutine may read while another writes, through
/// `&UnixStream` or a `try_clone`.
///
/// Difference from std: the non-blocking flag of `set_nonblocking` belongs to this handle,
/// not to the socket, so a `try_clone` starts out blocking (in std the two share the flag).
pub struct UnixStream {
    inner: IoSource<net::UnixStream>,
}

impl UnixStream {
    /// Connects to the socket file `path`. Waits while the listener's backlog is full.
    pub fn connect<P: AsRef<Path>>(path: P) -> io::Result<UnixStream> {
        UnixStream::connect_addr(&SocketAddr::from_pathname(path)?)
    }

    /// Connects to `socket_addr` (a path, or on Linux an abstract name). Waits while the
    /// listener's backlog is full.
    pub fn connect_addr(socket_addr: &SocketAddr) -> io::Result<UnixStream> {
        let mut pause = FIRST_BACKLOG_PAUSE;
        // mio makes a non-blocking socket and connects it. For Unix sockets Linux completes
        // the connect at once or fails; `EAGAIN` means the backlog is full, and std's
        // blocking connect would wait for room, which no readiness event reports.
        let started = loop {
            match mio::net::UnixStream::connect_addr(socket_addr) {
                Ok(started) => break started,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    crate::thread::sleep(pause);
                    pause = (pause * 2).min(MAX_BACKLOG_PAUSE);
                }
                Err(e) => return Err(e),
            }
        };
        let stream = UnixStream {
            inner: IoSource::new(net::UnixStream::from(started)),
        };
        // As for TCP: a connect still in progress finishes when the socket becomes writable.
        stream.inner.do_io_within(Direction::Write, None, |s| {
            connect_progress(s.take_error(), || s.peer_addr())
        })?;
        // IO3: on in blocking mode, like a std socket; reads and writes pass `MSG_DONTWAIT`.
        stream.inner.get_ref().set_nonblocking(false)?;
        Ok(stream)
    }

    /// A connected pair of unnamed sockets.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = net::UnixStream::pair()?;
        Ok((UnixStream::from_std(a)?, UnixStream::from_std(b)?))
    }

    pub(super) fn from_std(stream: net::UnixStream) -> io::Result<UnixStream> {
        // IO3: the descriptor keeps its mode; every read and write passes `MSG_DONTWAIT`.
        Ok(UnixStream {
            inner: IoSource::new(stream),
        })
    }

    /// A new handle to the same socket (a duplicated descriptor).
    pub fn try_clone(&self) -> io::Result<UnixStream> {
        // The duplicate shares the socket's timeouts (IO2).
        Ok(UnixStream {
            inner: self.inner.duplicate(self.inner.get_ref().try_clone()?),
        })
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().peer_addr()
    }

    /// Bounds how long a read waits (`None`: forever). Stored in the socket like std
    /// (`SO_RCVTIMEO`), so clones share it; a zero duration is an `InvalidInput` error.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.inner
            .set_timeout(Direction::Read, timeout, |s| s.set_read_timeout(timeout))
    }

    /// Bounds how long a write waits (`None`: forever). See `set_read_timeout`.
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

    /// In non-blocking mode reads and writes return `WouldBlock` instead of waiting.
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

    fn into_std(self) -> net::UnixStream {
        let nonblocking = self.inner.is_nonblocking();
        let stream = self.inner.into_inner();
        restore_kept_mode(&stream, nonblocking, net::UnixStream::set_nonblocking);
        stream
    }

    fn read_inner(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.do_io(Direction::Read, |s| {
            stream_sys::recv(s.as_raw_fd(), buf, false)
        })
    }

    fn read_vectored_inner(&self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.inner.do_io(Direction::Read, |s| {
            stream_sys::recv_vectored(s.as_raw_fd(), bufs)
        })
    }

    fn write_inner(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner
            .do_io(Direction::Write, |s| stream_sys::send(s.as_raw_fd(), buf))
    }

    fn write_vectored_inner(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.inner.do_io(Direction::Write, |s| {
            stream_sys::send_vectored(s.as_raw_fd(), bufs)
        })
    }
}

crate::net::io_by_ref!(read UnixStream);
crate::net::io_by_ref!(write UnixStream);

crate::net::fd_conversions!(UnixStream, net::UnixStream, keep_mode);

// IO7: `futures::io`'s traits (feature `futures-io`), net/async_io.rs.
#[cfg(feature = "futures-io")]
crate::net::async_io::futures_io_impls!(UnixStream);
#[cfg(feature = "tokio")]
crate::net::async_io::tokio_impls!(UnixStream);
#[cfg(feature = "hyper")]
crate::net::async_io::hyper_impls!(UnixStream);
