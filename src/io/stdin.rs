//! weft's standard input: std's process-wide buffer in a weft `Mutex`, filled by `read(2)` on
//! the blocking pool when the caller is a coroutine (SI1–SI3).

use std::fmt;
use std::io::{self, BufRead, BufReader, IoSliceMut, Lines, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use crate::coroutine::current;
use crate::sync::{Mutex, MutexGuard};

/// std's buffer size for standard input.
const CAPACITY: usize = 8 * 1024;

/// Descriptor 0, read with `read(2)`, never made non-blocking (SI2).
#[derive(Debug)]
struct Fd0;

/// SI3: std treats a closed descriptor 0 (`EBADF`) as empty input.
fn ebadf_is_eof(r: io::Result<usize>) -> io::Result<usize> {
    match r {
        Err(e) if e.raw_os_error() == Some(libc::EBADF) => Ok(0),
        r => r,
    }
}

/// `read(2)` of descriptor 0 into `buf`, retried on `EINTR`; blocks the calling thread.
fn read_fd0(buf: &mut [u8]) -> io::Result<usize> {
    loop {
        // SAFETY: `buf` is writable for `buf.len()` bytes for the length of the call.
        let n = unsafe { libc::read(libc::STDIN_FILENO, buf.as_mut_ptr().cast(), buf.len()) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return ebadf_is_eof(Err(e));
        }
    }
}

impl Read for Fd0 {
    /// SI1: on a plain thread the read blocks it, as std's; in a coroutine it runs on the
    /// blocking pool with an owned buffer, and the coroutine parks in the join.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if !current::in_coroutine() {
            return read_fd0(buf);
        }
        let len = buf.len().min(CAPACITY);
        let (owned, r) = crate::thread::spawn_blocking(move || {
            let mut owned = vec![0u8; len];
            let r = read_fd0(&mut owned);
            (owned, r)
        })
        .join()
        .map_err(|_| io::Error::other("weft: the stdin read job panicked"))?;
        let n = r?;
        buf[..n].copy_from_slice(&owned[..n]);
        Ok(n)
    }
}

type Buffer = BufReader<Fd0>;

/// SI3: the process's one buffer, as std's.
fn buffer() -> &'static Mutex<Buffer> {
    // A std `OnceLock`: its initialiser cannot block, so no caller waits on it for long.
    static INSTANCE: std::sync::OnceLock<Mutex<Buffer>> = std::sync::OnceLock::new();
    INSTANCE.get_or_init(|| Mutex::new(BufReader::with_capacity(CAPACITY, Fd0)))
}

/// A handle to the process's standard input, as std's `Stdin`: every handle shares one
/// buffer, and each call locks it for its length (`lock` for longer).
///
/// A read that must wait for input parks the calling coroutine (the read runs on the blocking
/// pool, SI1); on a plain OS thread it blocks the thread, as std's. Another coroutine that
/// reads meanwhile parks on the lock. `Send` and `Sync`.
pub struct Stdin {
    inner: &'static Mutex<Buffer>,
}

/// A locked handle to standard input: `Read` and `BufRead` on the shared buffer, as std's
/// `StdinLock`. Other readers (coroutines or threads) wait until it is dropped; a coroutine
/// that waits for the lock parks.
pub struct StdinLock<'a> {
    inner: MutexGuard<'a, Buffer>,
}

/// A new handle to the process's standard input (std's `stdin`, SI1–SI3).
pub fn stdin() -> Stdin {
    Stdin { inner: buffer() }
}

impl Stdin {
    /// Locks the shared buffer for this handle alone (std's `lock`). Parks a coroutine
    /// while another reader holds it.
    pub fn lock(&self) -> StdinLock<'static> {
        StdinLock {
            inner: self.inner.lock().unwrap_or_else(|e| e.into_inner()),
        }
    }

    /// Reads a line, with its newline, and appends it to `buf` (std's `read_line`); returns
    /// the bytes read, 0 at the end of input.
    pub fn read_line(&self, buf: &mut String) -> io::Result<usize> {
        self.lock().read_line(buf)
    }

    /// The lines of standard input, without their newlines, holding the lock (std's
    /// `lines`).
    pub fn lines(self) -> Lines<StdinLock<'static>> {
        self.lock().lines()
    }

    /// Whether standard input is a terminal (std's `IsTerminal`, which is sealed).
    pub fn is_terminal(&self) -> bool {
        // SAFETY: isatty only inspects the descriptor number it is given.
        unsafe { libc::isatty(libc::STDIN_FILENO) == 1 }
    }
}

impl fmt::Debug for Stdin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stdin").finish_non_exhaustive()
    }
}

impl fmt::Debug for StdinLock<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StdinLock").finish_non_exhaustive()
    }
}

macro_rules! read_via_lock {
    () => {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.lock().read(buf)
        }

        fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
            self.lock().read_vectored(bufs)
        }

        fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
            self.lock().read_to_end(buf)
        }

        fn read_to_string(&mut self, buf: &mut String) -> io::Result<usize> {
            self.lock().read_to_string(buf)
        }

        fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
            self.lock().read_exact(buf)
        }
    };
}

impl Read for Stdin {
    read_via_lock!();
}

impl Read for &Stdin {
    read_via_lock!();
}

impl Read for StdinLock<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.inner.read_vectored(bufs)
    }

    fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        self.inner.read_to_end(buf)
    }

    fn read_to_string(&mut self, buf: &mut String) -> io::Result<usize> {
        self.inner.read_to_string(buf)
    }
}

impl BufRead for StdinLock<'_> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        self.inner.consume(amt)
    }

    fn read_until(&mut self, byte: u8, buf: &mut Vec<u8>) -> io::Result<usize> {
        self.inner.read_until(byte, buf)
    }

    fn read_line(&mut self, buf: &mut String) -> io::Result<usize> {
        self.inner.read_line(buf)
    }
}

impl AsFd for Stdin {
    fn as_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: descriptor 0 stays open for the life of the process, as std assumes.
        unsafe { BorrowedFd::borrow_raw(libc::STDIN_FILENO) }
    }
}

impl AsRawFd for Stdin {
    fn as_raw_fd(&self) -> RawFd {
        libc::STDIN_FILENO
    }
}

impl AsFd for StdinLock<'_> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: descriptor 0 stays open for the life of the process, as std assumes.
        unsafe { BorrowedFd::borrow_raw(libc::STDIN_FILENO) }
    }
}

impl AsRawFd for StdinLock<'_> {
    fn as_raw_fd(&self) -> RawFd {
        libc::STDIN_FILENO
    }
}
