//! Reads and writes on a stream socket that never block, whatever the descriptor's mode
//! (IO3): every call passes `MSG_DONTWAIT`, so weft's stream sockets can stay in blocking mode
//! and share their open file with std handles (a `try_clone` given back to std, a std
//! duplicate taken over) without either side changing the other's behaviour.

use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::RawFd;

/// Most buffers one vectored call passes (the kernel's `UIO_MAXIOV`); std caps the same way.
const MAX_IOV: usize = 1024;

/// The bytes one vectored call can move: those of the buffers it passes (R5 compares the
/// result with this, not with the total of all buffers).
pub(crate) fn vectored_len<B: std::ops::Deref<Target = [u8]>>(bufs: &[B]) -> usize {
    bufs.iter().take(MAX_IOV).map(|b| b.len()).sum()
}

fn check(r: isize) -> io::Result<usize> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

/// `recv(2)` with `MSG_DONTWAIT` (and `MSG_PEEK` if `peek`).
pub(crate) fn recv(fd: RawFd, buf: &mut [u8], peek: bool) -> io::Result<usize> {
    let flags = libc::MSG_DONTWAIT | if peek { libc::MSG_PEEK } else { 0 };
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the whole call.
    check(unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), flags) })
}

/// `recv(2)` with `MSG_DONTWAIT` into memory that may be uninitialised (hyper's read buffers).
#[cfg(feature = "hyper")]
pub(crate) fn recv_uninit(fd: RawFd, buf: &mut [std::mem::MaybeUninit<u8>]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the whole call; the kernel
    // only writes to it (what it writes is initialised).
    check(unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) })
}

/// `send(2)` with `MSG_DONTWAIT | MSG_NOSIGNAL` (std's sends pass `MSG_NOSIGNAL` too: a
/// closed peer is an `EPIPE` error, not a signal).
pub(crate) fn send(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    let flags = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
    // SAFETY: `buf` is valid for reads of `buf.len()` bytes for the whole call.
    check(unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), flags) })
}

/// `recvmsg(2)` into `bufs` with `MSG_DONTWAIT`.
pub(crate) fn recv_vectored(fd: RawFd, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
    // SAFETY: an all-zero msghdr is valid (no name, no control data, no buffers).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    // `IoSliceMut` is ABI-compatible with `iovec` on Unix (documented by std).
    msg.msg_iov = bufs.as_mut_ptr().cast();
    msg.msg_iovlen = bufs.len().min(MAX_IOV) as _;
    // SAFETY: `msg` points at `msg_iovlen` valid, writable iovecs that outlive the call.
    check(unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT) })
}

/// `sendmsg(2)` of `bufs` with `MSG_DONTWAIT | MSG_NOSIGNAL`.
pub(crate) fn send_vectored(fd: RawFd, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    // SAFETY: an all-zero msghdr is valid (no name, no control data, no buffers).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    // `IoSlice` is ABI-compatible with `iovec` on Unix; sendmsg only reads through it.
    msg.msg_iov = bufs.as_ptr().cast_mut().cast();
    msg.msg_iovlen = bufs.len().min(MAX_IOV) as _;
    let flags = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
    // SAFETY: `msg` points at `msg_iovlen` valid iovecs that outlive the call; the kernel
    // only reads the buffers.
    check(unsafe { libc::sendmsg(fd, &msg, flags) })
}
