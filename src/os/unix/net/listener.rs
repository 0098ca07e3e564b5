//! `UnixListener`: std's type, with waits that park the coroutine.

use std::io;
use std::os::unix::net;
use std::path::Path;

use super::{SocketAddr, UnixStream, restore_mode};
use crate::net::IoSource;
use crate::reactor::Direction;

/// A Unix domain socket server, listening for connections: `std::os::unix::net::UnixListener`
/// with the same methods.
///
/// **Blocking:** `accept` (and `incoming`) waits for a connection; in a coroutine it parks the
/// coroutine and its worker runs other coroutines, on a plain OS thread it blocks the thread
/// as std does. After `set_nonblocking(true)` it returns `WouldBlock` instead.
///
/// **Thread safety:** `Send + Sync`; any number of coroutines and threads may accept on one
/// listener (or on clones from `try_clone`) at once.
///
/// As with std, dropping the listener does not remove its socket file.
pub struct UnixListener {
    inner: IoSource<net::UnixListener>,
}

/// An iterator over the connections of a [`UnixListener`], from [`UnixListener::incoming`].
/// Each `next` blocks in `accept` (parking a coroutine). It never returns `None`.
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a UnixListener,
}

impl UnixListener {
    /// Creates a listener bound to the socket file `path`, which must not exist yet. Never
    /// waits.
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixListener> {
        UnixListener::from_std(net::UnixListener::bind(path)?)
    }

    /// Creates a listener bound to `socket_addr` (a path, or on Linux an abstract name).
    pub fn bind_addr(socket_addr: &SocketAddr) -> io::Result<UnixListener> {
        UnixListener::from_std(net::UnixListener::bind_addr(socket_addr)?)
    }

    fn from_std(listener: net::UnixListener) -> io::Result<UnixListener> {
        listener.set_nonblocking(true)?;
        Ok(UnixListener {
            inner: IoSource::new(listener),
        })
    }

    /// Waits for a connection and returns it with the peer's address. The new stream is
    /// blocking (waits park a coroutine), whatever this listener's mode.
    pub fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (stream, addr) = self
            .inner
            .do_io_within(Direction::Read, None, |l| l.accept())?;
        Ok((UnixStream::from_std(stream)?, addr))
    }

    /// A new handle to the same socket (a duplicated descriptor).
    pub fn try_clone(&self) -> io::Result<UnixListener> {
        UnixListener::from_std(self.inner.get_ref().try_clone()?)
    }

    /// The local address this listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }

    /// In non-blocking mode `accept` returns `WouldBlock` instead of waiting.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.inner.set_nonblocking(nonblocking);
        Ok(())
    }

    /// Takes the pending socket error (`SO_ERROR`), if any.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.get_ref().take_error()
    }

    /// An iterator over incoming connections: `accept` in a loop.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    fn into_std(self) -> net::UnixListener {
        let nonblocking = self.inner.is_nonblocking();
        let listener = self.inner.into_inner();
        restore_mode(&listener, nonblocking, net::UnixListener::set_nonblocking);
        listener
    }
}

impl<'a> IntoIterator for &'a UnixListener {
    type Item = io::Result<UnixStream>;
    type IntoIter = Incoming<'a>;

    fn into_iter(self) -> Incoming<'a> {
        self.incoming()
    }
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<UnixStream>;

    fn next(&mut self) -> Option<io::Result<UnixStream>> {
        Some(self.listener.accept().map(|(stream, _)| stream))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (usize::MAX, None)
    }
}

crate::net::fd_conversions!(UnixListener, net::UnixListener);
