//! `ReadDir` and `DirEntry`: a directory's entries read off the worker in batches (FS4).
//!
//! - FS4: in a coroutine, each pool call reads up to `BATCH` entries and the file type of
//!   each (from the directory entry, or an `lstat` where the file system gives none), so a
//!   listing costs one round trip per `BATCH` entries and `file_type` none; on a plain thread
//!   `next` reads one entry, as std. An error ends a batch, and the entries after it are
//!   whatever std's iterator gives next.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fmt;
use std::io;
use std::os::unix::fs::DirEntryExt;
use std::path::PathBuf;

use super::offload::offload;
use super::{FileType, Metadata};
use crate::coroutine::current::in_coroutine;

/// FS4: entries per pool call.
const BATCH: usize = 64;

/// The entries of a directory, as [`std::fs::ReadDir`]: an iterator of
/// `io::Result<DirEntry>`.
///
/// **Blocking:** `next` may read the directory; in a coroutine it parks the coroutine while a
/// blocking-pool thread reads the next 64 entries, and the following calls take them from
/// memory. `Send` and `Sync`.
pub struct ReadDir {
    inner: std::fs::ReadDir,
    ready: VecDeque<io::Result<DirEntry>>,
}

impl ReadDir {
    pub(super) fn new(inner: std::fs::ReadDir) -> ReadDir {
        ReadDir {
            inner,
            ready: VecDeque::new(),
        }
    }
}

impl Iterator for ReadDir {
    type Item = io::Result<DirEntry>;

    fn next(&mut self) -> Option<io::Result<DirEntry>> {
        if self.ready.is_empty() {
            let inner = &mut self.inner;
            let ready = &mut self.ready;
            let batch = if in_coroutine() { BATCH } else { 1 };
            let eager = batch > 1;
            offload(move || {
                for entry in inner.take(batch) {
                    let failed = entry.is_err();
                    ready.push_back(entry.map(|e| DirEntry::new(e, eager)));
                    if failed {
                        break;
                    }
                }
            });
        }
        self.ready.pop_front()
    }
}

impl fmt::Debug for ReadDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

/// One entry of a [`ReadDir`], as [`std::fs::DirEntry`] (with [`DirEntryExt`]'s `ino`).
///
/// **Blocking:** `path`, `file_name`, `ino` and, for entries read in a coroutine, `file_type`
/// never block; `metadata` (a `stat`) parks a coroutine while a blocking-pool thread makes it.
/// `Send` and `Sync`.
pub struct DirEntry {
    inner: std::fs::DirEntry,
    /// FS4: the type read with the entry on the pool, if it was.
    file_type: Option<FileType>,
}

impl DirEntry {
    fn new(inner: std::fs::DirEntry, eager: bool) -> DirEntry {
        let file_type = if eager { inner.file_type().ok() } else { None };
        DirEntry { inner, file_type }
    }

    /// The full path (the directory's path joined with the name), as
    /// [`std::fs::DirEntry::path`].
    #[must_use]
    pub fn path(&self) -> PathBuf {
        self.inner.path()
    }

    /// The entry's metadata, not following a symbolic link, as
    /// [`std::fs::DirEntry::metadata`].
    pub fn metadata(&self) -> io::Result<Metadata> {
        let inner = &self.inner;
        offload(|| inner.metadata())
    }

    /// The entry's file type, not following a symbolic link, as
    /// [`std::fs::DirEntry::file_type`].
    pub fn file_type(&self) -> io::Result<FileType> {
        if let Some(file_type) = self.file_type {
            return Ok(file_type);
        }
        let inner = &self.inner;
        offload(|| inner.file_type())
    }

    /// The entry's name, as [`std::fs::DirEntry::file_name`].
    #[must_use]
    pub fn file_name(&self) -> OsString {
        self.inner.file_name()
    }
}

impl DirEntryExt for DirEntry {
    fn ino(&self) -> u64 {
        self.inner.ino()
    }
}

impl fmt::Debug for DirEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}
