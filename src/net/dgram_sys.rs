//! Datagram sends and receives that never block, whatever the descriptor's mode (IO3): every
//! call passes `MSG_DONTWAIT`, so UDP sockets can stay in blocking mode and share their open
//! file with std handles. socket2 does the system calls and the address conversions.

use std::io;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::os::fd::AsFd;

use socket2::{SockAddr, SockRef};

/// `&mut [u8]` as the `&mut [MaybeUninit<u8>]` socket2 receives into.
fn uninit(buf: &mut [u8]) -> &mut [MaybeUninit<u8>] {
    // SAFETY: `MaybeUninit<u8>` has the layout of `u8`, and the kernel (through socket2) only
    // writes initialised bytes into the buffer, so `buf` stays initialised.
    unsafe { &mut *(buf as *mut [u8] as *mut [MaybeUninit<u8>]) }
}

fn inet(addr: SockAddr) -> io::Result<SocketAddr> {
    addr.as_socket().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "a datagram came from a non-IP address",
        )
    })
}

/// `recvfrom(2)` with `MSG_DONTWAIT` (and `MSG_PEEK` if `peek`).
pub(crate) fn recv_from(
    socket: &impl AsFd,
    buf: &mut [u8],
    peek: bool,
) -> io::Result<(usize, SocketAddr)> {
    let flags = libc::MSG_DONTWAIT | if peek { libc::MSG_PEEK } else { 0 };
    let (n, addr) = SockRef::from(socket).recv_from_with_flags(uninit(buf), flags)?;
    Ok((n, inet(addr)?))
}

/// `recv(2)` with `MSG_DONTWAIT` (and `MSG_PEEK` if `peek`).
pub(crate) fn recv(socket: &impl AsFd, buf: &mut [u8], peek: bool) -> io::Result<usize> {
    let flags = libc::MSG_DONTWAIT | if peek { libc::MSG_PEEK } else { 0 };
    SockRef::from(socket).recv_with_flags(uninit(buf), flags)
}

/// `sendto(2)` with `MSG_DONTWAIT | MSG_NOSIGNAL`.
pub(crate) fn send_to(socket: &impl AsFd, buf: &[u8], addr: SocketAddr) -> io::Result<usize> {
    let flags = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
    SockRef::from(socket).send_to_with_flags(buf, &SockAddr::from(addr), flags)
}

/// `send(2)` with `MSG_DONTWAIT | MSG_NOSIGNAL`.
pub(crate) fn send(socket: &impl AsFd, buf: &[u8]) -> io::Result<usize> {
    let flags = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
    SockRef::from(socket).send_with_flags(buf, flags)
}
