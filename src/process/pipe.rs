//! The parent's ends of a child's pipes, `ChildStdin`, `ChildStdout` and `ChildStderr`:
//! non-blocking descriptors registered with the I/O driver, so that a read or write that must
//! wait parks the coroutine (PR3), and blocks a plain thread in `poll(2)` as std's blocking
//! pipe would.

use std::fmt;
use std::fs::File;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, IntoRawFd, OwnedFd, RawFd};
use std::process::{self, Stdio};

use crate::net::IoSource;
use crate::reactor::Direction;

/// PR3: sets or clears `O_NONBLOCK` on `fd`. The parent's ends of a child's pipes are private
/// to this process (std makes them close-on-exec), so the flag changes nothing for anyone else.
fn set_nonblocking(fd: RawFd, nonblocking: bool) -> io::Result<()> {
    // SAFETY: fcntl with F_GETFL/F_SETFL reads and writes only the flags of the descriptor,
    // which the caller owns (an invalid one makes it fail with EBADF).
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 {
            return Err(io::Error::last_os_error());
        }
        let new = if nonblocking {
            flags | libc::O_NONBLOCK
        } else {
            flags & !libc::O_NONBLOCK
        };
        if new != flags && libc::fcntl(fd, libc::F_SETFL, new) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Takes over a pipe end from std: non-blocking from here on (PR3).
fn adopt(fd: OwnedFd) -> IoSource<File> {
    // F_SETFL fails only for a bad descriptor, which the first operation reports anyway.
    let _ = set_nonblocking(fd.as_raw_fd(), true);
    IoSource::new(File::from(fd))
}

/// PR4: the descriptor back in blocking mode, as a child (or std) expects it.
fn release(io: IoSource<File>) -> OwnedFd {
    let fd = OwnedFd::from(io.into_inner());
    let _ = set_nonblocking(fd.as_raw_fd(), false);
    fd
}

macro_rules! pipe_end {
    ($name:ident, $std:ident, $what:literal) => {
        #[doc = concat!("The parent's end of a child's ", $what, ", std's `", stringify!($std), "` with the same methods.")]
        ///
        /// A call that has to wait parks the calling coroutine (its worker runs others) or, on a
        /// plain OS thread, blocks the thread as std does. `Send` and `Sync`.
        pub struct $name {
            inner: IoSource<File>,
        }

        impl $name {
            pub(crate) fn from_std(io: process::$std) -> $name {
                $name {
                    inner: adopt(OwnedFd::from(io)),
                }
            }
        }

        /// Takes over std's pipe end (made non-blocking; weft's calls wait as std's do).
        impl From<process::$std> for $name {
            fn from(io: process::$std) -> $name {
                $name::from_std(io)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name)).finish_non_exhaustive()
            }
        }

        impl AsFd for $name {
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.inner.get_ref().as_fd()
            }
        }

        impl AsRawFd for $name {
            fn as_raw_fd(&self) -> RawFd {
                self.inner.get_ref().as_raw_fd()
            }
        }

        /// The descriptor, back in blocking mode (PR4).
        impl IntoRawFd for $name {
            fn into_raw_fd(self) -> RawFd {
                release(self.inner).into_raw_fd()
            }
        }

        /// The descriptor, back in blocking mode (PR4).
        impl From<$name> for OwnedFd {
            fn from(io: $name) -> OwnedFd {
                release(io.inner)
            }
        }

        /// Hands the pipe to another child (as its stdin, stdout or stderr), in blocking mode
        /// as the child expects it (PR4).
        impl From<$name> for Stdio {
            fn from(io: $name) -> Stdio {
                Stdio::from(release(io.inner))
            }
        }
    };
}

pipe_end!(ChildStdin, ChildStdin, "standard input");
pipe_end!(ChildStdout, ChildStdout, "standard output");
pipe_end!(ChildStderr, ChildStderr, "standard error");

impl ChildStdin {
    fn write_inner(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner
            .do_io_untimed(Direction::Write, |mut f| f.write(buf))
    }

    fn write_vectored_inner(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.inner
            .do_io_untimed(Direction::Write, |mut f| f.write_vectored(bufs))
    }
}

crate::net::io_by_ref!(write ChildStdin);

macro_rules! read_end {
    ($name:ident) => {
        impl $name {
            /// The bytes now in the pipe, without waiting: `WouldBlock` if none (output()'s
            /// plain-thread loop).
            pub(crate) fn read_now(&self, buf: &mut [u8]) -> io::Result<usize> {
                let mut f = self.inner.get_ref();
                f.read(buf)
            }
        }

        impl Read for $name {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.inner
                    .do_io_untimed(Direction::Read, |mut f| f.read(buf))
            }

            fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
                self.inner
                    .do_io_untimed(Direction::Read, |mut f| f.read_vectored(bufs))
            }
        }
    };
}

read_end!(ChildStdout);
read_end!(ChildStderr);
