//! The worker's fast path for reads and writes that need not wait (FS2, arch/fs.md):
//! `preadv2`/`pwritev2` with `RWF_NOWAIT`, which move data between the page cache and the
//! caller's buffers, or fail with `EAGAIN` instead of waiting for a device, a lock or a pipe.
//!
//! - FS2: a fast-path result is used only when it succeeded; any error sends the call to the
//!   pool, where std's call gives the result and the error kind. `EOPNOTSUPP`, `EINVAL` and
//!   `ENOSYS` (a file or kernel without `RWF_NOWAIT` for this direction) turn the fast path
//!   off for that direction of the open file, so each costs one failed call at most.

use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU8, Ordering};

const READ_OFF: u8 = 1;
const WRITE_OFF: u8 = 2;

/// FS2: which directions of one open file have no `RWF_NOWAIT`.
#[derive(Debug, Default)]
pub(super) struct NoWait(AtomicU8);

/// The most buffers one call passes (the kernel's `UIO_MAXIOV`).
const IOV_MAX: usize = 1024;

impl NoWait {
    /// FS2: reads at `offset` (`-1`: at and past the file position) if that needs no wait.
    pub(super) fn read(
        &self,
        fd: RawFd,
        bufs: &mut [IoSliceMut<'_>],
        offset: i64,
    ) -> Option<usize> {
        if self.0.load(Ordering::Relaxed) & READ_OFF != 0 {
            return None;
        }
        let count = bufs.len().min(IOV_MAX) as libc::c_int;
        // SAFETY: `IoSliceMut` is ABI-compatible with `iovec` on Unix (std guarantees it), and
        // each one describes writable memory the caller lends for this call.
        let n = unsafe {
            libc::preadv2(
                fd,
                bufs.as_mut_ptr().cast::<libc::iovec>(),
                count,
                offset,
                libc::RWF_NOWAIT,
            )
        };
        self.outcome(n, READ_OFF)
    }

    /// FS2: writes at `offset` (`-1`: at the file position, or the end with `O_APPEND`) if
    /// that needs no wait.
    pub(super) fn write(&self, fd: RawFd, bufs: &[IoSlice<'_>], offset: i64) -> Option<usize> {
        if self.0.load(Ordering::Relaxed) & WRITE_OFF != 0 {
            return None;
        }
        let count = bufs.len().min(IOV_MAX) as libc::c_int;
        // SAFETY: `IoSlice` is ABI-compatible with `iovec` on Unix (std guarantees it), and
        // each one describes readable memory the caller lends for this call.
        let n = unsafe {
            libc::pwritev2(
                fd,
                bufs.as_ptr().cast::<libc::iovec>(),
                count,
                offset,
                libc::RWF_NOWAIT,
            )
        };
        self.outcome(n, WRITE_OFF)
    }

    /// FS2: a count on success; `None` (go to the pool) on any error, remembering a missing
    /// `RWF_NOWAIT`.
    fn outcome(&self, n: isize, direction: u8) -> Option<usize> {
        if n >= 0 {
            return Some(n as usize);
        }
        let errno = io::Error::last_os_error().raw_os_error();
        if matches!(errno, Some(libc::EOPNOTSUPP | libc::EINVAL | libc::ENOSYS)) {
            self.0.fetch_or(direction, Ordering::Relaxed);
        }
        None
    }
}
