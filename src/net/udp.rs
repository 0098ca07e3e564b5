//! `UdpSocket`: std's type, with waits that park the coroutine.

use std::io;
use std::net::{self, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

use super::{IoSource, dgram_sys};
use crate::reactor::Direction;

use super::{each_addr, restore_kept_mode};

/// A UDP socket: `std::net::UdpSocket` with the same methods.
///
/// **Blocking:** `recv`, `recv_from`, `peek`, `peek_from`, `send` and `send_to` wait like
/// std's (honouring `set_read_timeout`/`set_write_timeout`, which fail with
/// `ErrorKind::WouldBlock` as std does on Linux); in a coroutine the coroutine parks and its
/// worker runs other coroutines, on a plain OS thread the thread blocks. After
/// `set_nonblocking(true)` they return `WouldBlock` instead of waiting. Host names given to
/// `bind`, `connect` and `send_to` as strings are resolved on the blocking pool; a custom
/// `ToSocketAddrs` type is resolved where it is called (see
/// [`lookup_host`](super::lookup_host)).
///
/// **Thread safety:** `Send + Sync`; any number of coroutines and threads may send and receive
/// on one socket (through `&UdpSocket` or a `try_clone`) at once. Each datagram goes to exactly
/// one receiver.
///
/// Difference from std: the non-blocking flag of `set_nonblocking` belongs to this handle,
/// not to the socket, so a `try_clone` starts out blocking (in std the two share the flag).
pub struct UdpSocket {
    inner: IoSource<net::UdpSocket>,
}

impl UdpSocket {
    /// Creates a socket bound to `addr` (tried in order, like std; the last error is
    /// returned if none binds). Binding never waits.
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<UdpSocket> {
        each_addr(addr, |a| {
            net::UdpSocket::bind(a).and_then(UdpSocket::from_std)
        })
    }

    fn from_std(socket: net::UdpSocket) -> io::Result<UdpSocket> {
        // IO3: the descriptor keeps its mode; every send and receive passes `MSG_DONTWAIT`.
        Ok(UdpSocket {
            inner: IoSource::new(socket),
        })
    }

    /// Receives one datagram and returns its length and sender. Bytes beyond `buf` are
    /// discarded. Waits for a datagram (up to the read timeout).
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner
            .do_io(Direction::Read, |s| dgram_sys::recv_from(s, buf, false))
    }

    /// Like `recv_from`, but leaves the datagram in the queue: the next receive returns it
    /// again.
    pub fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner
            .do_io(Direction::Read, |s| dgram_sys::recv_from(s, buf, true))
    }

    /// Sends `buf` as one datagram to `addr` and returns the number of bytes sent. Like std,
    /// only the first address `addr` resolves to is used (`InvalidInput` if there is none).
    /// Waits while the send buffer is full (up to the write timeout).
    pub fn send_to<A: ToSocketAddrs>(&self, buf: &[u8], addr: A) -> io::Result<usize> {
        let Some(addr) = super::lookup::resolve(&addr)?.into_iter().next() else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no addresses to send data to",
            ));
        };
        self.inner
            .do_io(Direction::Write, |s| dgram_sys::send_to(s, buf, addr))
    }

    /// The address of the peer set by `connect` (`NotConnected` if there is none).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().peer_addr()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }

    /// A new handle to the same socket (a duplicated descriptor).
    pub fn try_clone(&self) -> io::Result<UdpSocket> {
        // The duplicate shares the socket's timeouts (IO2).
        Ok(UdpSocket {
            inner: self.inner.duplicate(self.inner.get_ref().try_clone()?),
        })
    }

    /// Bounds how long a receive waits (`None`: forever). Stored in the socket like std
    /// (`SO_RCVTIMEO`), so clones share it; a zero duration is an `InvalidInput` error.
    pub fn set_read_timeout(&self, dur: Option<Duration>) -> io::Result<()> {
        self.inner
            .set_timeout(Direction::Read, dur, |s| s.set_read_timeout(dur))
    }

    /// Bounds how long a send waits (`None`: forever). See `set_read_timeout`.
    pub fn set_write_timeout(&self, dur: Option<Duration>) -> io::Result<()> {
        self.inner
            .set_timeout(Direction::Write, dur, |s| s.set_write_timeout(dur))
    }

    /// The read timeout.
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        self.inner.get_ref().read_timeout()
    }

    /// The write timeout.
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        self.inner.get_ref().write_timeout()
    }

    /// Sets `SO_BROADCAST`: whether datagrams may be sent to a broadcast address.
    pub fn set_broadcast(&self, broadcast: bool) -> io::Result<()> {
        self.inner.get_ref().set_broadcast(broadcast)
    }

    /// `SO_BROADCAST`.
    pub fn broadcast(&self) -> io::Result<bool> {
        self.inner.get_ref().broadcast()
    }

    /// Sets `IP_MULTICAST_LOOP`: whether IPv4 multicast datagrams are looped back to local
    /// sockets.
    pub fn set_multicast_loop_v4(&self, multicast_loop_v4: bool) -> io::Result<()> {
        self.inner
            .get_ref()
            .set_multicast_loop_v4(multicast_loop_v4)
    }

    /// `IP_MULTICAST_LOOP`.
    pub fn multicast_loop_v4(&self) -> io::Result<bool> {
        self.inner.get_ref().multicast_loop_v4()
    }

    /// Sets `IP_MULTICAST_TTL`: the time-to-live of IPv4 multicast datagrams.
    pub fn set_multicast_ttl_v4(&self, multicast_ttl_v4: u32) -> io::Result<()> {
        self.inner.get_ref().set_multicast_ttl_v4(multicast_ttl_v4)
    }

    /// `IP_MULTICAST_TTL`.
    pub fn multicast_ttl_v4(&self) -> io::Result<u32> {
        self.inner.get_ref().multicast_ttl_v4()
    }

    /// Sets `IPV6_MULTICAST_LOOP`: whether IPv6 multicast datagrams are looped back to local
    /// sockets.
    pub fn set_multicast_loop_v6(&self, multicast_loop_v6: bool) -> io::Result<()> {
        self.inner
            .get_ref()
            .set_multicast_loop_v6(multicast_loop_v6)
    }

    /// `IPV6_MULTICAST_LOOP`.
    pub fn multicast_loop_v6(&self) -> io::Result<bool> {
        self.inner.get_ref().multicast_loop_v6()
    }

    /// Sets the IP time-to-live of sent datagrams (`IP_TTL`).
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.inner.get_ref().set_ttl(ttl)
    }

    /// The IP time-to-live of sent datagrams.
    pub fn ttl(&self) -> io::Result<u32> {
        self.inner.get_ref().ttl()
    }

    /// Joins the IPv4 multicast group `multiaddr` on the interface with address `interface`
    /// (`UNSPECIFIED`: the system's choice).
    pub fn join_multicast_v4(&self, multiaddr: &Ipv4Addr, interface: &Ipv4Addr) -> io::Result<()> {
        self.inner.get_ref().join_multicast_v4(multiaddr, interface)
    }

    /// Joins the IPv6 multicast group `multiaddr` on the interface with index `interface`
    /// (0: the system's choice).
    pub fn join_multicast_v6(&self, multiaddr: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.inner.get_ref().join_multicast_v6(multiaddr, interface)
    }

    /// Leaves an IPv4 multicast group (see `join_multicast_v4`).
    pub fn leave_multicast_v4(&self, multiaddr: &Ipv4Addr, interface: &Ipv4Addr) -> io::Result<()> {
        self.inner
            .get_ref()
            .leave_multicast_v4(multiaddr, interface)
    }

    /// Leaves an IPv6 multicast group (see `join_multicast_v6`).
    pub fn leave_multicast_v6(&self, multiaddr: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.inner
            .get_ref()
            .leave_multicast_v6(multiaddr, interface)
    }

    /// Takes the pending socket error (`SO_ERROR`), if any.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.get_ref().take_error()
    }

    /// Sets the peer: `send` goes to it and only its datagrams are received. Each resolved
    /// address is tried in turn like std (the last error is returned if none works). Never
    /// waits.
    pub fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        each_addr(addr, |a| self.inner.get_ref().connect(a))
    }

    /// Sends `buf` as one datagram to the connected peer. Waits like `send_to`.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner
            .do_io(Direction::Write, |s| dgram_sys::send(s, buf))
    }

    /// Receives one datagram from the connected peer. Waits like `recv_from`.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner
            .do_io(Direction::Read, |s| dgram_sys::recv(s, buf, false))
    }

    /// Like `recv`, but leaves the datagram in the queue.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner
            .do_io(Direction::Read, |s| dgram_sys::recv(s, buf, true))
    }

    /// In non-blocking mode sends and receives return `WouldBlock` instead of waiting.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.inner.set_nonblocking(nonblocking);
        Ok(())
    }

    fn into_std(self) -> net::UdpSocket {
        let nonblocking = self.inner.is_nonblocking();
        let socket = self.inner.into_inner();
        restore_kept_mode(&socket, nonblocking, net::UdpSocket::set_nonblocking);
        socket
    }
}

super::fd_conversions!(UdpSocket, net::UdpSocket, keep_mode);
