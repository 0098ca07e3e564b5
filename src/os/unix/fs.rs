//! The `std::os::unix::fs` mirror: std's extension traits (weft's `File`, `OpenOptions`,
//! `DirBuilder` and `DirEntry` implement the ones that apply to them, and `Metadata`,
//! `Permissions` and `FileType` are std's own), and the free functions, which from a coroutine
//! run on the blocking pool while the coroutine parks, as `weft::fs`'s do (FS1). On a plain OS
//! thread each is std's own call. Errors are std's.

use std::io;
use std::os::fd::AsFd;
use std::path::Path;

pub use std::os::unix::fs::{
    DirBuilderExt, DirEntryExt, FileExt, FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt,
};

use crate::fs::offload;

/// Makes `link` a symbolic link to `original`, as [`std::os::unix::fs::symlink`].
pub fn symlink<P: AsRef<Path>, Q: AsRef<Path>>(original: P, link: Q) -> io::Result<()> {
    let (original, link) = (original.as_ref(), link.as_ref());
    offload(|| std::os::unix::fs::symlink(original, link))
}

/// Changes the owner and group of `dir` (following links), as [`std::os::unix::fs::chown`].
pub fn chown<P: AsRef<Path>>(dir: P, uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
    let dir = dir.as_ref();
    offload(|| std::os::unix::fs::chown(dir, uid, gid))
}

/// Changes the owner and group of an open file, as [`std::os::unix::fs::fchown`].
pub fn fchown<F: AsFd>(fd: F, uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
    let fd = fd.as_fd();
    offload(|| std::os::unix::fs::fchown(fd, uid, gid))
}

/// Changes the owner and group of `dir` itself (not following a link), as
/// [`std::os::unix::fs::lchown`].
pub fn lchown<P: AsRef<Path>>(dir: P, uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
    let dir = dir.as_ref();
    offload(|| std::os::unix::fs::lchown(dir, uid, gid))
}

/// Changes the process's root directory, as [`std::os::unix::fs::chroot`].
pub fn chroot<P: AsRef<Path>>(dir: P) -> io::Result<()> {
    let dir = dir.as_ref();
    offload(|| std::os::unix::fs::chroot(dir))
}
