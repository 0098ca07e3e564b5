//! The `std::fs` mirror: files, directories and the free functions, with std's names and
//! signatures, whose waits park only the calling coroutine (arch/fs.md).
//!
//! From a coroutine, every call that may wait (on a disk, a network file system, a FIFO's
//! other end, a lock) runs on the blocking pool while the coroutine parks, borrowing its
//! arguments and buffers instead of copying them (FS1); reads of data already in the page
//! cache are made on the worker with `RWF_NOWAIT` and cost no round trip (FS2). On a plain OS
//! thread each call is std's own. Errors are std's. `Metadata`, `Permissions`, `FileType`,
//! `FileTimes` and `TryLockError` are std's own types, re-exported.
//!
//! ```
//! use std::io::{Read, Write};
//! use weft::fs;
//!
//! let dir = std::env::temp_dir().join(format!("weft-fs-doc-{}", std::process::id()));
//! let n = weft::go!(move || {
//!     fs::create_dir_all(&dir).unwrap();
//!     let path = dir.join("hello.txt");
//!     fs::File::create(&path).unwrap().write_all(b"hello").unwrap();
//!     let mut text = String::new();
//!     fs::File::open(&path).unwrap().read_to_string(&mut text).unwrap();
//!     fs::remove_dir_all(&dir).unwrap();
//!     text.len()
//! })
//! .join()
//! .unwrap();
//! assert_eq!(n, 5);
//! ```

mod dir_builder;
mod file;
mod nowait;
mod offload;
mod open_options;
mod read_dir;

use std::io;
use std::path::{Path, PathBuf};

pub use dir_builder::DirBuilder;
pub use file::File;
pub use open_options::OpenOptions;
pub use read_dir::{DirEntry, ReadDir};
pub use std::fs::{FileTimes, FileType, Metadata, Permissions, TryLockError};

pub(crate) use offload::offload;

/// The absolute path with every link resolved, as [`std::fs::canonicalize`].
pub fn canonicalize<P: AsRef<Path>>(path: P) -> io::Result<PathBuf> {
    let path = path.as_ref();
    offload(|| std::fs::canonicalize(path))
}

/// Copies a file's contents and permissions, as [`std::fs::copy`]; one pool call in all.
pub fn copy<P: AsRef<Path>, Q: AsRef<Path>>(from: P, to: Q) -> io::Result<u64> {
    let (from, to) = (from.as_ref(), to.as_ref());
    offload(|| std::fs::copy(from, to))
}

/// Creates a directory, as [`std::fs::create_dir`].
pub fn create_dir<P: AsRef<Path>>(path: P) -> io::Result<()> {
    let path = path.as_ref();
    offload(|| std::fs::create_dir(path))
}

/// Creates a directory and its missing parents, as [`std::fs::create_dir_all`].
pub fn create_dir_all<P: AsRef<Path>>(path: P) -> io::Result<()> {
    let path = path.as_ref();
    offload(|| std::fs::create_dir_all(path))
}

/// Whether `path` names an existing entry (following links), as [`std::fs::exists`].
pub fn exists<P: AsRef<Path>>(path: P) -> io::Result<bool> {
    let path = path.as_ref();
    offload(|| std::fs::exists(path))
}

/// Makes `link` a hard link to `original`, as [`std::fs::hard_link`].
pub fn hard_link<P: AsRef<Path>, Q: AsRef<Path>>(original: P, link: Q) -> io::Result<()> {
    let (original, link) = (original.as_ref(), link.as_ref());
    offload(|| std::fs::hard_link(original, link))
}

/// The metadata of `path`, following links, as [`std::fs::metadata`].
pub fn metadata<P: AsRef<Path>>(path: P) -> io::Result<Metadata> {
    let path = path.as_ref();
    offload(|| std::fs::metadata(path))
}

/// A whole file's contents, as [`std::fs::read`]; one pool call (open, size, read, close).
pub fn read<P: AsRef<Path>>(path: P) -> io::Result<Vec<u8>> {
    let path = path.as_ref();
    offload(|| std::fs::read(path))
}

/// The entries of a directory, as [`std::fs::read_dir`]; the iterator reads them in batches
/// (FS4).
pub fn read_dir<P: AsRef<Path>>(path: P) -> io::Result<ReadDir> {
    let path = path.as_ref();
    offload(|| std::fs::read_dir(path)).map(ReadDir::new)
}

/// The target of a symbolic link, as [`std::fs::read_link`].
pub fn read_link<P: AsRef<Path>>(path: P) -> io::Result<PathBuf> {
    let path = path.as_ref();
    offload(|| std::fs::read_link(path))
}

/// A whole file's contents as UTF-8, as [`std::fs::read_to_string`]; one pool call.
pub fn read_to_string<P: AsRef<Path>>(path: P) -> io::Result<String> {
    let path = path.as_ref();
    offload(|| std::fs::read_to_string(path))
}

/// Removes an empty directory, as [`std::fs::remove_dir`].
pub fn remove_dir<P: AsRef<Path>>(path: P) -> io::Result<()> {
    let path = path.as_ref();
    offload(|| std::fs::remove_dir(path))
}

/// Removes a directory and everything in it, as [`std::fs::remove_dir_all`]; one pool call.
pub fn remove_dir_all<P: AsRef<Path>>(path: P) -> io::Result<()> {
    let path = path.as_ref();
    offload(|| std::fs::remove_dir_all(path))
}

/// Removes a file, as [`std::fs::remove_file`].
pub fn remove_file<P: AsRef<Path>>(path: P) -> io::Result<()> {
    let path = path.as_ref();
    offload(|| std::fs::remove_file(path))
}

/// Renames a file or directory, replacing `to` if it is a file, as [`std::fs::rename`].
pub fn rename<P: AsRef<Path>, Q: AsRef<Path>>(from: P, to: Q) -> io::Result<()> {
    let (from, to) = (from.as_ref(), to.as_ref());
    offload(|| std::fs::rename(from, to))
}

/// Changes the permissions of `path`, as [`std::fs::set_permissions`].
pub fn set_permissions<P: AsRef<Path>>(path: P, perm: Permissions) -> io::Result<()> {
    let path = path.as_ref();
    offload(|| std::fs::set_permissions(path, perm))
}

/// Makes `link` a symbolic link to `original`, as the deprecated [`std::fs::soft_link`].
#[deprecated(
    since = "1.1.0",
    note = "replaced with std::os::unix::fs::symlink and std::os::windows::fs::{symlink_file, symlink_dir}"
)]
pub fn soft_link<P: AsRef<Path>, Q: AsRef<Path>>(original: P, link: Q) -> io::Result<()> {
    let (original, link) = (original.as_ref(), link.as_ref());
    offload(|| std::os::unix::fs::symlink(original, link))
}

/// The metadata of `path` itself, not following a link, as [`std::fs::symlink_metadata`].
pub fn symlink_metadata<P: AsRef<Path>>(path: P) -> io::Result<Metadata> {
    let path = path.as_ref();
    offload(|| std::fs::symlink_metadata(path))
}

/// Writes `contents` as the whole file (created or truncated), as [`std::fs::write`]; one pool
/// call.
pub fn write<P: AsRef<Path>, C: AsRef<[u8]>>(path: P, contents: C) -> io::Result<()> {
    let (path, contents) = (path.as_ref(), contents.as_ref());
    offload(|| std::fs::write(path, contents))
}
