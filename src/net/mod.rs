//! Blocking-style networking: `std::net`'s types with the same names and methods, whose waits
//! park the calling coroutine instead of its worker thread (arch/io.md).
//!
//! Port a `std::net` program by changing `use std::net::…` to `use weft::net::…`. Every type
//! also works on plain OS threads, where it blocks the thread exactly like std.
//!
//! ```
//! use std::io::{Read, Write};
//! use weft::net::{TcpListener, TcpStream};
//!
//! let listener = TcpListener::bind("127.0.0.1:0").unwrap();
//! let addr = listener.local_addr().unwrap();
//! let server = weft::go!(move || {
//!     let (mut conn, _) = listener.accept().unwrap();
//!     let mut buf = [0; 5];
//!     conn.read_exact(&mut buf).unwrap();
//!     conn.write_all(&buf).unwrap();
//! });
//! let mut client = TcpStream::connect(addr).unwrap();
//! client.write_all(b"hello").unwrap();
//! let mut echo = [0; 5];
//! client.read_exact(&mut echo).unwrap();
//! assert_eq!(&echo, b"hello");
//! server.join().unwrap();
//! ```

use std::io;

/// The std conversions every weft socket type has: `Debug` (std's), `From` the std type and
/// back, `AsFd`, `AsRawFd`, `FromRawFd`, `IntoRawFd`, `From<::std::os::fd::OwnedFd>` and `Into<OwnedFd>`. The
/// type must have an `inner: IoSource<$std>` field and an `into_std(self) -> $std` method.
/// `keep_mode` marks a socket whose sends and receives pass `MSG_DONTWAIT` (streams, UDP) and
/// which is therefore taken over in whatever mode it is in (IO3); other descriptors
/// (listeners, Unix datagram sockets) are switched to non-blocking mode.
macro_rules! fd_conversions {
    ($weft:ident, $std:ty) => {
        $crate::net::fd_conversions!(@impl $weft, $std, true);
    };
    ($weft:ident, $std:ty, keep_mode) => {
        $crate::net::fd_conversions!(@impl $weft, $std, false);
    };
    (@impl $weft:ident, $std:ty, $set_nonblocking:expr) => {
        impl ::std::fmt::Debug for $weft {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                ::std::fmt::Debug::fmt(self.inner.get_ref(), f)
            }
        }

        /// Takes over a std socket. Streams and UDP sockets keep their descriptor's mode;
        /// listeners and Unix datagram sockets are switched to non-blocking mode (weft's
        /// blocking behaviour depends on neither).
        impl From<$std> for $weft {
            fn from(io: $std) -> $weft {
                if $set_nonblocking {
                    // fcntl(F_SETFL) on an open descriptor fails only for a bad descriptor,
                    // which the first operation on it reports anyway.
                    let _ = io.set_nonblocking(true);
                }
                $weft {
                    inner: $crate::net::IoSource::adopt(io),
                }
            }
        }

        /// Gives the socket back to std: non-blocking if `set_nonblocking(true)` was called on
        /// this handle; otherwise a listener or Unix datagram socket in blocking mode, a stream
        /// or UDP socket in the mode it had (weft never changes their mode, IO3).
        impl From<$weft> for $std {
            fn from(io: $weft) -> $std {
                io.into_std()
            }
        }

        impl ::std::os::fd::AsFd for $weft {
            fn as_fd(&self) -> ::std::os::fd::BorrowedFd<'_> {
                ::std::os::fd::AsFd::as_fd(self.inner.get_ref())
            }
        }

        impl ::std::os::fd::AsRawFd for $weft {
            fn as_raw_fd(&self) -> ::std::os::fd::RawFd {
                ::std::os::fd::AsRawFd::as_raw_fd(self.inner.get_ref())
            }
        }

        impl ::std::os::fd::FromRawFd for $weft {
            /// # Safety
            ///
            /// `fd` must be an open socket of the right kind that the caller owns, as for std.
            unsafe fn from_raw_fd(fd: ::std::os::fd::RawFd) -> $weft {
                // SAFETY: the caller upholds std's contract for `fd` (see above).
                <$weft>::from(unsafe { <$std as ::std::os::fd::FromRawFd>::from_raw_fd(fd) })
            }
        }

        impl ::std::os::fd::IntoRawFd for $weft {
            fn into_raw_fd(self) -> ::std::os::fd::RawFd {
                ::std::os::fd::IntoRawFd::into_raw_fd(self.into_std())
            }
        }

        impl From<::std::os::fd::OwnedFd> for $weft {
            fn from(fd: ::std::os::fd::OwnedFd) -> $weft {
                <$weft>::from(<$std>::from(fd))
            }
        }

        impl From<$weft> for ::std::os::fd::OwnedFd {
            fn from(io: $weft) -> ::std::os::fd::OwnedFd {
                io.into_std().into()
            }
        }
    };
}

pub(crate) use fd_conversions;

/// `Read` (`read`) or `Write` (`write`) for a type and for a shared reference to it, as std
/// has them for its streams and the child's stdin, through the type's inherent `read_inner`
/// and `read_vectored_inner`, or `write_inner` and `write_vectored_inner`. A write needs no
/// flush: nothing is buffered.
macro_rules! io_by_ref {
    (read $t:ty) => {
        $crate::net::io_by_ref!(@read $t);
        $crate::net::io_by_ref!(@read &$t);
    };
    (write $t:ty) => {
        $crate::net::io_by_ref!(@write $t);
        $crate::net::io_by_ref!(@write &$t);
    };
    (@read $t:ty) => {
        impl ::std::io::Read for $t {
            fn read(&mut self, buf: &mut [u8]) -> ::std::io::Result<usize> {
                self.read_inner(buf)
            }

            fn read_vectored(
                &mut self,
                bufs: &mut [::std::io::IoSliceMut<'_>],
            ) -> ::std::io::Result<usize> {
                self.read_vectored_inner(bufs)
            }
        }
    };
    (@write $t:ty) => {
        impl ::std::io::Write for $t {
            fn write(&mut self, buf: &[u8]) -> ::std::io::Result<usize> {
                self.write_inner(buf)
            }

            fn write_vectored(
                &mut self,
                bufs: &[::std::io::IoSlice<'_>],
            ) -> ::std::io::Result<usize> {
                self.write_vectored_inner(bufs)
            }

            fn flush(&mut self) -> ::std::io::Result<()> {
                Ok(())
            }
        }
    };
}
pub(crate) use io_by_ref;

/// The progress of a non-blocking `connect` (TCP and Unix), from the socket's pending error
/// and its `peer_addr`: done, failed with the connect's error, or still connecting
/// (`WouldBlock`: wait for writability, then ask again).
pub(crate) fn connect_progress<A>(
    pending: io::Result<Option<io::Error>>,
    peer_addr: impl FnOnce() -> io::Result<A>,
) -> io::Result<()> {
    if let Some(e) = pending? {
        return Err(e);
    }
    match peer_addr() {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Err(io::ErrorKind::WouldBlock.into()),
        Err(e) => Err(e),
    }
}

/// Gives a listener or Unix datagram socket back to std in the mode its weft handle's user asked
/// for (IO3: weft keeps them non-blocking while it owns them).
pub(crate) fn restore_mode<T>(
    io: &T,
    nonblocking: bool,
    set: impl FnOnce(&T, bool) -> io::Result<()>,
) {
    // fcntl(F_SETFL) on a descriptor we own fails only for a bad descriptor, which the next
    // operation on it reports anyway.
    let _ = set(io, nonblocking);
}

/// Gives a socket whose mode weft never changes (streams, UDP; IO3) back to std: only the
/// user's `set_nonblocking(true)` on the weft handle is applied; otherwise std duplicates of
/// the socket keep the mode they had.
pub(crate) fn restore_kept_mode<T>(
    io: &T,
    nonblocking: bool,
    set: impl FnOnce(&T, bool) -> io::Result<()>,
) {
    if nonblocking {
        // As in `restore_mode`.
        let _ = set(io, true);
    }
}

#[cfg(any(feature = "futures-io", feature = "tokio", feature = "hyper"))]
pub(crate) mod async_io;
pub(crate) mod dgram_sys;
mod lookup;
mod source;
pub(crate) mod stream_sys;
mod tcp;
mod udp;

pub(crate) use source::IoSource;

pub use lookup::lookup_host;
/// std's address and option types, re-exported so that `use weft::net::…` covers a port.
pub use std::net::{
    AddrParseError, IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, SocketAddrV4, SocketAddrV6,
    ToSocketAddrs,
};
pub use tcp::{Incoming, TcpListener, TcpStream};
pub use udp::UdpSocket;

/// std's address loop: resolve `addr`, try `f` on each address, return the first success or
/// the last error.
pub(crate) fn each_addr<A: ToSocketAddrs, T>(
    addr: A,
    mut f: impl FnMut(SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for a in lookup::resolve(&addr)? {
        match f(a) {
            Ok(t) => return Ok(t),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any addresses",
        )
    }))
}
