//! `File`, std's file with every call that may wait moved off the worker (FS1), reads and
//! writes that need not wait done on the worker (FS2), and the file position left alone while
//! a pool thread uses it (FS3).
//!
//! - FS3: a call on the worker that uses the file position (a fast-path read or write at the
//!   position, `seek` from the start or the current position) is made only while no pool call
//!   on the same open file (this `File` or one of its `try_clone`s) is in flight; otherwise it
//!   goes to the pool too. The kernel serialises position users on a lock, and the worker must
//!   not wait on one a pool thread holds across a slow read. A pool call starting between the
//!   check and the call, or a descriptor duplicated outside weft, is not seen (arch/fs.md,
//!   known gaps).

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::SystemTime;

use super::nowait::NoWait;
use super::offload::offload;
use super::{FileTimes, Metadata, OpenOptions, Permissions, TryLockError};
use crate::coroutine::current::in_coroutine;

/// An open file, as [`std::fs::File`]: the same methods and traits, with `Read`, `Write` and
/// `Seek` for `File` and `&File` (not for `Arc<File>`: the orphan rule forbids it; use
/// `&*arc`).
///
/// **Blocking:** in a coroutine, a call that may wait (on a disk, a network file system, a
/// FIFO's other end, a lock) parks the coroutine while a thread of the blocking pool makes it,
/// borrowing the caller's buffer (no copy); a read of data already in the page cache is made
/// on the worker with `RWF_NOWAIT`, with no pool round trip. On a plain OS thread every call is
/// std's. Errors are std's.
///
/// **Thread safety:** `Send` and `Sync`, like std's; shared use through `&File` behaves as
/// std's (one file position, shared by every handle of the open file).
pub struct File {
    inner: std::fs::File,
    shared: Arc<Shared>,
}

/// What the handles of one open file share (`try_clone` copies the `Arc`).
#[derive(Debug, Default)]
struct Shared {
    /// FS2: the directions without `RWF_NOWAIT`.
    nowait: NoWait,
    /// FS3: pool calls on this open file in flight.
    busy: AtomicUsize,
}

/// FS3: counts one pool call in flight while it lives.
struct Busy<'a>(&'a AtomicUsize);

impl<'a> Busy<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Busy(count)
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl File {
    /// Opens a file for reading, as [`std::fs::File::open`].
    pub fn open<P: AsRef<Path>>(path: P) -> io::Result<File> {
        OpenOptions::new().read(true).open(path.as_ref())
    }

    /// Creates or truncates a file for writing, as [`std::fs::File::create`].
    pub fn create<P: AsRef<Path>>(path: P) -> io::Result<File> {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path.as_ref())
    }

    /// Creates a new file for reading and writing; fails if it exists, as
    /// [`std::fs::File::create_new`].
    pub fn create_new<P: AsRef<Path>>(path: P) -> io::Result<File> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path.as_ref())
    }

    /// A blank [`OpenOptions`], as [`std::fs::File::options`].
    #[must_use]
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    /// Flushes data and metadata to the device, as [`std::fs::File::sync_all`].
    pub fn sync_all(&self) -> io::Result<()> {
        self.pool(|f| f.sync_all())
    }

    /// Flushes data to the device, as [`std::fs::File::sync_data`].
    pub fn sync_data(&self) -> io::Result<()> {
        self.pool(|f| f.sync_data())
    }

    /// Waits for an exclusive advisory lock, as [`std::fs::File::lock`]. In a coroutine the
    /// wait holds a blocking-pool thread.
    pub fn lock(&self) -> io::Result<()> {
        self.pool(|f| f.lock())
    }

    /// Waits for a shared advisory lock, as [`std::fs::File::lock_shared`].
    pub fn lock_shared(&self) -> io::Result<()> {
        self.pool(|f| f.lock_shared())
    }

    /// Takes an exclusive advisory lock if free, as [`std::fs::File::try_lock`].
    pub fn try_lock(&self) -> Result<(), TryLockError> {
        self.pool(|f| f.try_lock())
    }

    /// Takes a shared advisory lock if possible, as [`std::fs::File::try_lock_shared`].
    pub fn try_lock_shared(&self) -> Result<(), TryLockError> {
        self.pool(|f| f.try_lock_shared())
    }

    /// Releases an advisory lock, as [`std::fs::File::unlock`].
    pub fn unlock(&self) -> io::Result<()> {
        self.pool(|f| f.unlock())
    }

    /// Truncates or extends the file, as [`std::fs::File::set_len`].
    pub fn set_len(&self, size: u64) -> io::Result<()> {
        self.pool(|f| f.set_len(size))
    }

    /// The file's metadata, as [`std::fs::File::metadata`].
    pub fn metadata(&self) -> io::Result<Metadata> {
        self.pool(|f| f.metadata())
    }

    /// A new handle to the same open file (same position), as [`std::fs::File::try_clone`].
    /// Duplicating a descriptor never waits, so this runs where it is called.
    pub fn try_clone(&self) -> io::Result<File> {
        Ok(File {
            inner: self.inner.try_clone()?,
            shared: self.shared.clone(),
        })
    }

    /// Changes the file's permissions, as [`std::fs::File::set_permissions`].
    pub fn set_permissions(&self, perm: Permissions) -> io::Result<()> {
        self.pool(|f| f.set_permissions(perm))
    }

    /// Changes the file's timestamps, as [`std::fs::File::set_times`].
    pub fn set_times(&self, times: FileTimes) -> io::Result<()> {
        self.pool(|f| f.set_times(times))
    }

    /// Changes the file's modification time, as [`std::fs::File::set_modified`].
    pub fn set_modified(&self, time: SystemTime) -> io::Result<()> {
        self.pool(|f| f.set_modified(time))
    }

    /// FS1: `f` on std's file, off the worker from a coroutine (counted for FS3).
    fn pool<T, F>(&self, f: F) -> T
    where
        F: FnOnce(&std::fs::File) -> T + Send,
        T: Send + 'static,
    {
        if !in_coroutine() {
            return f(&self.inner);
        }
        let _busy = Busy::new(&self.shared.busy);
        let inner = &self.inner;
        offload(move || f(inner))
    }

    /// FS3: no pool call on this open file is in flight.
    fn position_free(&self) -> bool {
        self.shared.busy.load(Ordering::SeqCst) == 0
    }

    /// FS2, FS3: a read at the position on the worker, if it needs no wait.
    fn fast_read(&self, bufs: &mut [IoSliceMut<'_>]) -> Option<usize> {
        if !self.position_free() {
            return None;
        }
        self.shared.nowait.read(self.inner.as_raw_fd(), bufs, -1)
    }

    /// FS2, FS3: a write at the position on the worker, if it needs no wait.
    fn fast_write(&self, bufs: &[IoSlice<'_>]) -> Option<usize> {
        if !self.position_free() {
            return None;
        }
        self.shared.nowait.write(self.inner.as_raw_fd(), bufs, -1)
    }
}

impl Read for &File {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !in_coroutine() {
            return (&self.inner).read(buf);
        }
        if let Some(n) = self.fast_read(&mut [IoSliceMut::new(&mut *buf)]) {
            return Ok(n);
        }
        self.pool(|mut f| f.read(buf))
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        if !in_coroutine() {
            return (&self.inner).read_vectored(bufs);
        }
        if let Some(n) = self.fast_read(bufs) {
            return Ok(n);
        }
        self.pool(|mut f| f.read_vectored(bufs))
    }

    /// One pool call for the whole file (std sizes the buffer by the file's length).
    fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        self.pool(|mut f| f.read_to_end(buf))
    }

    /// One pool call for the whole file.
    fn read_to_string(&mut self, buf: &mut String) -> io::Result<usize> {
        self.pool(|mut f| f.read_to_string(buf))
    }
}

impl Write for &File {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !in_coroutine() {
            return (&self.inner).write(buf);
        }
        if let Some(n) = self.fast_write(&[IoSlice::new(buf)]) {
            return Ok(n);
        }
        self.pool(|mut f| f.write(buf))
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        if !in_coroutine() {
            return (&self.inner).write_vectored(bufs);
        }
        if let Some(n) = self.fast_write(bufs) {
            return Ok(n);
        }
        self.pool(|mut f| f.write_vectored(bufs))
    }

    /// One pool call for the whole buffer, after a fast-path attempt.
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        if !in_coroutine() {
            return (&self.inner).write_all(buf);
        }
        let mut rest = buf;
        if let Some(n) = self.fast_write(&[IoSlice::new(rest)]) {
            rest = &rest[n..];
        }
        if rest.is_empty() {
            return Ok(());
        }
        self.pool(|mut f| f.write_all(rest))
    }

    /// std's `File` buffers nothing: a no-op, as there.
    fn flush(&mut self) -> io::Result<()> {
        (&self.inner).flush()
    }
}

impl Seek for &File {
    /// From the start or the current position, `lseek` only updates the position and runs on
    /// the worker (FS3); from the end it may ask a network file system for the length, so it
    /// goes to the pool.
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        if !in_coroutine() || (!matches!(pos, SeekFrom::End(_)) && self.position_free()) {
            return (&self.inner).seek(pos);
        }
        self.pool(|mut f| f.seek(pos))
    }
}

/// `Read`, `Write` and `Seek` for `File` are those of `&File`, as in std. (std also has them
/// for `Arc<File>`; the orphan rule keeps weft from adding them for its own `File`.)
macro_rules! through_ref {
    ($ty:ty) => {
        impl Read for $ty {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                {
                    let mut file: &File = self;
                    file.read(buf)
                }
            }
            fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
                {
                    let mut file: &File = self;
                    file.read_vectored(bufs)
                }
            }
            fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
                {
                    let mut file: &File = self;
                    file.read_to_end(buf)
                }
            }
            fn read_to_string(&mut self, buf: &mut String) -> io::Result<usize> {
                {
                    let mut file: &File = self;
                    file.read_to_string(buf)
                }
            }
        }

        impl Write for $ty {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                {
                    let mut file: &File = self;
                    file.write(buf)
                }
            }
            fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
                {
                    let mut file: &File = self;
                    file.write_vectored(bufs)
                }
            }
            fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
                {
                    let mut file: &File = self;
                    file.write_all(buf)
                }
            }
            fn flush(&mut self) -> io::Result<()> {
                (&*self as &File).flush()
            }
        }

        impl Seek for $ty {
            fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
                {
                    let mut file: &File = self;
                    file.seek(pos)
                }
            }
        }
    };
}

through_ref!(File);

/// `read_at` and `write_at` leave the file position alone, so their fast path (FS2) needs no
/// FS3 check.
impl FileExt for File {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        if !in_coroutine() {
            return self.inner.read_at(buf, offset);
        }
        if let Ok(at) = i64::try_from(offset)
            && let Some(n) = self.shared.nowait.read(
                self.inner.as_raw_fd(),
                &mut [IoSliceMut::new(&mut *buf)],
                at,
            )
        {
            return Ok(n);
        }
        self.pool(|f| f.read_at(buf, offset))
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        if !in_coroutine() {
            return self.inner.write_at(buf, offset);
        }
        if let Ok(at) = i64::try_from(offset)
            && let Some(n) =
                self.shared
                    .nowait
                    .write(self.inner.as_raw_fd(), &[IoSlice::new(buf)], at)
        {
            return Ok(n);
        }
        self.pool(|f| f.write_at(buf, offset))
    }

    /// One pool call for the whole buffer.
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.pool(|f| f.write_all_at(buf, offset))
    }
}

impl fmt::Debug for File {
    /// As std's: the descriptor, the path and the access mode.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

impl From<std::fs::File> for File {
    fn from(inner: std::fs::File) -> File {
        File {
            inner,
            shared: Arc::default(),
        }
    }
}

impl From<File> for std::fs::File {
    fn from(file: File) -> std::fs::File {
        file.inner
    }
}

impl From<OwnedFd> for File {
    fn from(fd: OwnedFd) -> File {
        File::from(std::fs::File::from(fd))
    }
}

impl From<File> for OwnedFd {
    fn from(file: File) -> OwnedFd {
        file.inner.into()
    }
}

impl From<File> for std::process::Stdio {
    fn from(file: File) -> std::process::Stdio {
        file.inner.into()
    }
}

impl AsFd for File {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

impl AsRawFd for File {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

impl FromRawFd for File {
    unsafe fn from_raw_fd(fd: RawFd) -> File {
        // SAFETY: the caller's contract is std's (`fd` is open and owned), passed on.
        File::from(unsafe { std::fs::File::from_raw_fd(fd) })
    }
}

impl IntoRawFd for File {
    fn into_raw_fd(self) -> RawFd {
        self.inner.into_raw_fd()
    }
}
