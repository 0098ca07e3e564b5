//! `weft::net::UdpSocket` against `std::net::UdpSocket`'s behaviour: echo between coroutines
//! and OS threads in every mix, many concurrent request/response pairs, timeouts and
//! non-blocking mode (`WouldBlock`, as std on Linux), peeking, connected sockets, options,
//! conversions to and from std, and a receive that parks only its coroutine on a
//! single-worker runtime (child process).

mod support;

use std::io::ErrorKind;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use support::{Rng, child_is, child_report, run_child, start, watchdog};
use weft::go;
use weft::net::UdpSocket;

const SHORT: Duration = Duration::from_millis(50);

/// `dur` as the kernel stores it (rounded to its clock tick), read back through std.
fn as_stored(dur: Duration) -> Option<Duration> {
    let std = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    std.set_read_timeout(Some(dur)).unwrap();
    let stored = std.read_timeout().unwrap();
    assert!(stored.is_some_and(|d| d >= dur), "{stored:?}");
    stored
}

fn bind_local() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").expect("bind 127.0.0.1:0")
}

fn payload(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    (0..len).map(|_| rng.next_u64() as u8).collect()
}

/// What the echo servers send back: every byte inverted, so a reply can never be mistaken for
/// the request looping back.
fn reply_to(request: &[u8]) -> Vec<u8> {
    request.iter().map(|b| !b).collect()
}

/// Serves `n` requests on `socket`: each datagram goes back to its sender, inverted.
fn echo_server(socket: &UdpSocket, n: usize) {
    let mut buf = [0u8; 2048];
    for _ in 0..n {
        let (len, from) = socket.recv_from(&mut buf).expect("server recv_from");
        let sent = socket
            .send_to(&reply_to(&buf[..len]), from)
            .expect("server send_to");
        assert_eq!(sent, len);
    }
}

/// Sends `n` requests of varying sizes to `server` and checks every byte of every reply.
fn echo_client(socket: &UdpSocket, server: SocketAddr, seed: u64, n: usize) {
    let mut buf = [0u8; 2048];
    for i in 0..n {
        let request = payload(seed * 1000 + i as u64, 1 + (i * 37) % 1400);
        assert_eq!(
            socket.send_to(&request, server).expect("client send_to"),
            request.len()
        );
        let (len, from) = socket.recv_from(&mut buf).expect("client recv_from");
        assert_eq!(from, server, "reply from the server");
        assert_eq!(
            &buf[..len],
            &reply_to(&request)[..],
            "reply {i} of client {seed}"
        );
    }
}

fn echo_mix(server_on_os_thread: bool, client_on_os_thread: bool) {
    watchdog(move || {
        const N: usize = 200;
        let server = Arc::new(bind_local());
        let server_addr = server.local_addr().unwrap();
        let srv = server.clone();
        let s = start(server_on_os_thread, move || echo_server(&srv, N));
        let c = start(client_on_os_thread, move || {
            echo_client(&bind_local(), server_addr, 7, N)
        });
        c.join();
        s.join();
    })
}

#[test]
fn echo_coroutine_server_coroutine_client() {
    echo_mix(false, false);
}

#[test]
fn echo_coroutine_server_os_thread_client() {
    echo_mix(false, true);
}

#[test]
fn echo_os_thread_server_coroutine_client() {
    echo_mix(true, false);
}

#[test]
fn echo_os_thread_server_os_thread_client() {
    echo_mix(true, true);
}

#[test]
fn two_hundred_coroutines_request_response() {
    // Every client has its own server socket, so no receive queue ever holds more than one
    // datagram (UDP drops datagrams that overflow a queue, even on loopback).
    watchdog(|| {
        const PAIRS: u64 = 200;
        const ROUNDS: usize = 10;
        let handles: Vec<_> = (0..PAIRS)
            .map(|seed| {
                go!(move || {
                    let server = bind_local();
                    let server_addr = server.local_addr().unwrap();
                    let s = go!(move || echo_server(&server, ROUNDS));
                    echo_client(&bind_local(), server_addr, seed, ROUNDS);
                    s.join().unwrap();
                    seed
                })
            })
            .collect();
        let done: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(done, (0..PAIRS).sum());
    })
}

#[test]
fn many_receivers_share_one_socket_each_datagram_once() {
    // Coroutines and OS threads receive on one socket (shared and cloned); clients wait for
    // each reply before sending again, so at most CLIENTS datagrams are queued.
    watchdog(|| {
        const SERVERS: usize = 6;
        const CLIENTS: u64 = 16;
        const ROUNDS: usize = 25;
        let total = CLIENTS as usize * ROUNDS;
        let server = Arc::new(bind_local());
        let server_addr = server.local_addr().unwrap();
        let served = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let servers: Vec<_> = (0..SERVERS)
            .map(|i| {
                let socket = if i % 2 == 0 {
                    server.clone()
                } else {
                    Arc::new(server.try_clone().unwrap())
                };
                let (served, stop) = (served.clone(), stop.clone());
                start(i % 3 == 2, move || {
                    let mut buf = [0u8; 2048];
                    loop {
                        let (len, from) = socket.recv_from(&mut buf).unwrap();
                        if stop.load(Ordering::Acquire) {
                            return;
                        }
                        // Counted before the reply, which the client waits for.
                        served.fetch_add(1, Ordering::SeqCst);
                        socket.send_to(&reply_to(&buf[..len]), from).unwrap();
                    }
                })
            })
            .collect();
        let clients: Vec<_> = (0..CLIENTS)
            .map(|seed| {
                start(seed % 4 == 3, move || {
                    echo_client(&bind_local(), server_addr, seed, ROUNDS)
                })
            })
            .collect();
        for c in clients {
            c.join();
        }
        assert_eq!(served.load(Ordering::SeqCst), total);
        // Wake every server with a datagram it drops after seeing `stop`.
        stop.store(true, Ordering::Release);
        let waker = bind_local();
        for _ in 0..SERVERS {
            waker.send_to(b"stop", server_addr).unwrap();
        }
        for s in servers {
            s.join();
        }
        assert_eq!(served.load(Ordering::SeqCst), total);
    })
}

#[test]
fn coroutine_receiver_woken_by_os_thread_and_back() {
    watchdog(|| {
        let a = bind_local();
        let b = bind_local();
        let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        // The coroutine waits first; the OS thread sends only after the coroutine said it is
        // about to receive (the datagram may also arrive before the wait: both must work).
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let co = go!(move || {
            let mut buf = [0u8; 16];
            for round in 0..50u8 {
                ready_tx.send(()).unwrap();
                let (n, from) = a.recv_from(&mut buf).unwrap();
                assert_eq!((&buf[..n], from), (&[round; 3][..], b_addr));
                a.send_to(&[round; 5], b_addr).unwrap();
            }
        });
        let mut buf = [0u8; 16];
        for round in 0..50u8 {
            ready_rx.recv().unwrap();
            b.send_to(&[round; 3], a_addr).unwrap();
            let (n, from) = b.recv_from(&mut buf).unwrap();
            assert_eq!((&buf[..n], from), (&[round; 5][..], a_addr));
        }
        co.join().unwrap();
    })
}

fn recv_timeout_case(on_os_thread: bool) {
    watchdog(move || {
        start(on_os_thread, || {
            let socket = bind_local();
            assert_eq!(socket.read_timeout().unwrap(), None);
            socket.set_read_timeout(Some(SHORT)).unwrap();
            assert_eq!(socket.read_timeout().unwrap(), as_stored(SHORT));
            let mut buf = [0u8; 8];
            let errors = [
                socket.recv_from(&mut buf).unwrap_err(),
                socket.peek_from(&mut buf).unwrap_err(),
            ];
            // std on Linux reports a passed SO_RCVTIMEO as EAGAIN.
            let std_socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            std_socket.set_read_timeout(Some(SHORT)).unwrap();
            let std_err = std_socket.recv_from(&mut buf).unwrap_err();
            for e in errors {
                assert_eq!(e.kind(), ErrorKind::WouldBlock, "{e}");
                assert_eq!(e.kind(), std_err.kind());
                assert_eq!(e.raw_os_error(), std_err.raw_os_error());
            }
            // Connected: recv and peek time out the same way.
            let peer = bind_local();
            socket.connect(peer.local_addr().unwrap()).unwrap();
            assert_eq!(
                socket.recv(&mut buf).unwrap_err().kind(),
                ErrorKind::WouldBlock
            );
            assert_eq!(
                socket.peek(&mut buf).unwrap_err().kind(),
                ErrorKind::WouldBlock
            );
            // The timeout bounds a wait only: data that arrives is received.
            peer.send_to(b"late", socket.local_addr().unwrap()).unwrap();
            assert_eq!(socket.recv(&mut buf).unwrap(), 4);
            assert_eq!(&buf[..4], b"late");
            // A zero timeout is refused as in std; None removes the timeout.
            let zero = socket.set_read_timeout(Some(Duration::ZERO)).unwrap_err();
            assert_eq!(zero.kind(), ErrorKind::InvalidInput);
            assert_eq!(
                std_socket
                    .set_read_timeout(Some(Duration::ZERO))
                    .unwrap_err()
                    .kind(),
                ErrorKind::InvalidInput
            );
            socket.set_read_timeout(None).unwrap();
            assert_eq!(socket.read_timeout().unwrap(), None);
            socket.set_write_timeout(Some(SHORT)).unwrap();
            assert_eq!(socket.write_timeout().unwrap(), as_stored(SHORT));
            assert_eq!(
                socket
                    .set_write_timeout(Some(Duration::ZERO))
                    .unwrap_err()
                    .kind(),
                ErrorKind::InvalidInput
            );
        })
        .join();
    })
}

#[test]
fn recv_timeout_in_coroutine_is_would_block() {
    recv_timeout_case(false);
}

#[test]
fn recv_timeout_on_os_thread_is_would_block() {
    recv_timeout_case(true);
}

#[test]
fn read_timeout_is_shared_with_clones_like_std() {
    watchdog(|| {
        let socket = bind_local();
        socket.set_read_timeout(Some(SHORT)).unwrap();
        let clone = socket.try_clone().unwrap();
        assert_eq!(clone.read_timeout().unwrap(), as_stored(SHORT));
        assert_eq!(clone.local_addr().unwrap(), socket.local_addr().unwrap());
        go!(move || {
            let mut buf = [0u8; 4];
            assert_eq!(
                clone.recv_from(&mut buf).unwrap_err().kind(),
                ErrorKind::WouldBlock
            );
        })
        .join()
        .unwrap();
    })
}

fn nonblocking_case(on_os_thread: bool) {
    watchdog(move || {
        start(on_os_thread, || {
            let socket = bind_local();
            let peer = bind_local();
            let addr = socket.local_addr().unwrap();
            socket.set_nonblocking(true).unwrap();
            let mut buf = [0u8; 8];
            for e in [
                socket.recv_from(&mut buf).unwrap_err(),
                socket.peek_from(&mut buf).unwrap_err(),
            ] {
                assert_eq!(e.kind(), ErrorKind::WouldBlock, "{e}");
            }
            // Back to blocking to wait for the datagram without spinning, then a
            // non-blocking receive finds it queued.
            peer.send_to(b"queued", addr).unwrap();
            socket.set_nonblocking(false).unwrap();
            assert_eq!(
                socket.peek_from(&mut buf).unwrap(),
                (6, peer.local_addr().unwrap())
            );
            socket.set_nonblocking(true).unwrap();
            assert_eq!(
                socket.recv_from(&mut buf).unwrap(),
                (6, peer.local_addr().unwrap())
            );
            assert_eq!(&buf[..6], b"queued");
            assert_eq!(
                socket.recv_from(&mut buf).unwrap_err().kind(),
                ErrorKind::WouldBlock
            );
            // Connected receives too.
            socket.connect(peer.local_addr().unwrap()).unwrap();
            assert_eq!(
                socket.recv(&mut buf).unwrap_err().kind(),
                ErrorKind::WouldBlock
            );
            assert_eq!(
                socket.peek(&mut buf).unwrap_err().kind(),
                ErrorKind::WouldBlock
            );
            // Sending has room: it succeeds in non-blocking mode.
            assert_eq!(socket.send(b"out").unwrap(), 3);
            assert_eq!(peer.recv_from(&mut buf).unwrap(), (3, addr));
        })
        .join();
    })
}

#[test]
fn nonblocking_in_coroutine_returns_would_block() {
    nonblocking_case(false);
}

#[test]
fn nonblocking_on_os_thread_returns_would_block() {
    nonblocking_case(true);
}

#[test]
fn peek_and_peek_from_do_not_consume() {
    watchdog(|| {
        go!(|| {
            let socket = bind_local();
            let peer = bind_local();
            let (addr, peer_addr) = (socket.local_addr().unwrap(), peer.local_addr().unwrap());
            peer.send_to(b"first", addr).unwrap();
            peer.send_to(b"second", addr).unwrap();
            let mut buf = [0u8; 16];
            for _ in 0..3 {
                assert_eq!(socket.peek_from(&mut buf).unwrap(), (5, peer_addr));
                assert_eq!(&buf[..5], b"first");
            }
            // A short buffer truncates the peeked copy only.
            let mut short = [0u8; 2];
            assert_eq!(socket.peek_from(&mut short).unwrap(), (2, peer_addr));
            assert_eq!(&short, b"fi");
            assert_eq!(socket.recv_from(&mut buf).unwrap(), (5, peer_addr));
            assert_eq!(&buf[..5], b"first");
            assert_eq!(socket.peek_from(&mut buf).unwrap(), (6, peer_addr));
            assert_eq!(&buf[..6], b"second");
            assert_eq!(socket.recv_from(&mut buf).unwrap(), (6, peer_addr));
            assert_eq!(&buf[..6], b"second");

            // `peek` on a connected socket, waiting for the datagram first.
            socket.connect(peer_addr).unwrap();
            let p = go!(move || {
                peer.send_to(b"third", addr).unwrap();
                peer
            });
            assert_eq!(socket.peek(&mut buf).unwrap(), 5);
            assert_eq!(socket.peek(&mut buf).unwrap(), 5);
            assert_eq!(&buf[..5], b"third");
            assert_eq!(socket.recv(&mut buf).unwrap(), 5);
            assert_eq!(&buf[..5], b"third");
            p.join().unwrap();
        })
        .join()
        .unwrap();
    })
}

#[test]
fn connect_send_recv_and_filtering() {
    watchdog(|| {
        let a = bind_local();
        let b = bind_local();
        let c = bind_local();
        let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        let e = a.peer_addr().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotConnected);
        // `send` without a peer fails like std's (EDESTADDRREQ).
        let std_unconnected = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        assert_eq!(
            a.send(b"x").unwrap_err().raw_os_error(),
            std_unconnected.send(b"x").unwrap_err().raw_os_error()
        );
        a.connect(b_addr).unwrap();
        b.connect(a_addr).unwrap();
        assert_eq!(a.peer_addr().unwrap(), b_addr);
        assert_eq!(b.peer_addr().unwrap(), a_addr);
        let t = go!(move || {
            let mut buf = [0u8; 64];
            for i in 0..20u8 {
                let n = b.recv(&mut buf).unwrap();
                assert_eq!(&buf[..n], &[i; 10][..]);
                assert_eq!(b.send(&[i; 20]).unwrap(), 20);
            }
            b
        });
        let mut buf = [0u8; 64];
        for i in 0..20u8 {
            // A stranger's datagram is dropped by the kernel: `a` only hears from `b`.
            c.send_to(b"stranger", a_addr).unwrap();
            assert_eq!(a.send(&[i; 10]).unwrap(), 10);
            let n = a.recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], &[i; 20][..]);
        }
        t.join().unwrap();
        // connect tries each address like std, and reports resolution failures like std.
        let none: &[SocketAddr] = &[];
        let weft_err = a.connect(none).unwrap_err();
        let std_err = std_unconnected.connect(none).unwrap_err();
        assert_eq!(weft_err.kind(), std_err.kind());
        assert_eq!(weft_err.kind(), ErrorKind::InvalidInput);
        // An IPv6 peer fails on an IPv4 socket; the next address is tried.
        let c_addr = c.local_addr().unwrap();
        let v6: SocketAddr = (Ipv6Addr::LOCALHOST, c_addr.port()).into();
        a.connect(&[v6, c_addr][..]).unwrap();
        assert_eq!(a.peer_addr().unwrap(), c_addr);
        assert!(a.connect(v6).is_err());
    })
}

#[test]
fn send_to_resolution_matches_std() {
    watchdog(|| {
        let socket = bind_local();
        let std_socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let none: &[SocketAddr] = &[];
        let e = socket.send_to(b"x", none).unwrap_err();
        let std_e = std_socket.send_to(b"x", none).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert_eq!(e.kind(), std_e.kind());
        assert_eq!(e.to_string(), std_e.to_string());
        // A bad address string fails in resolution, as in std.
        let bad = socket.send_to(b"x", "not an address").unwrap_err();
        let std_bad = std_socket.send_to(b"x", "not an address").unwrap_err();
        assert_eq!(bad.kind(), std_bad.kind());
        // Only the first address is used: the datagram reaches the first one.
        let first = bind_local();
        let second = bind_local();
        let addrs = [first.local_addr().unwrap(), second.local_addr().unwrap()];
        assert_eq!(socket.send_to(b"hello", &addrs[..]).unwrap(), 5);
        let mut buf = [0u8; 8];
        assert_eq!(
            first.recv_from(&mut buf).unwrap(),
            (5, socket.local_addr().unwrap())
        );
        second.set_nonblocking(true).unwrap();
        assert_eq!(
            second.recv_from(&mut buf).unwrap_err().kind(),
            ErrorKind::WouldBlock
        );
        // A string address resolves too.
        let text = first.local_addr().unwrap().to_string();
        assert_eq!(socket.send_to(b"text", text.as_str()).unwrap(), 4);
        assert_eq!(first.recv_from(&mut buf).unwrap().0, 4);
    })
}

#[test]
fn bind_tries_each_address_like_std() {
    watchdog(|| {
        let taken = bind_local();
        let addrs = [taken.local_addr().unwrap(), "127.0.0.1:0".parse().unwrap()];
        let socket = UdpSocket::bind(&addrs[..]).unwrap();
        assert_ne!(socket.local_addr().unwrap(), taken.local_addr().unwrap());
        let e = UdpSocket::bind(taken.local_addr().unwrap()).unwrap_err();
        let std_e = std::net::UdpSocket::bind(taken.local_addr().unwrap()).unwrap_err();
        assert_eq!(e.kind(), std_e.kind());
        assert_eq!(e.kind(), ErrorKind::AddrInUse);
    })
}

/// `Ok(value)` or the error kind, to compare results with std's.
fn outcome<T>(r: std::io::Result<T>) -> Result<T, ErrorKind> {
    r.map_err(|e| e.kind())
}

#[test]
fn socket_options_match_std() {
    watchdog(|| {
        let weft = bind_local();
        let std = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();

        assert_eq!(outcome(weft.broadcast()), outcome(std.broadcast()));
        for on in [true, false] {
            weft.set_broadcast(on).unwrap();
            std.set_broadcast(on).unwrap();
            assert_eq!(weft.broadcast().unwrap(), on);
            assert_eq!(outcome(weft.broadcast()), outcome(std.broadcast()));
        }
        weft.set_ttl(17).unwrap();
        assert_eq!(weft.ttl().unwrap(), 17);
        weft.set_multicast_ttl_v4(5).unwrap();
        assert_eq!(weft.multicast_ttl_v4().unwrap(), 5);
        for on in [false, true] {
            weft.set_multicast_loop_v4(on).unwrap();
            assert_eq!(weft.multicast_loop_v4().unwrap(), on);
        }
        assert!(weft.take_error().unwrap().is_none());
        assert_eq!(
            outcome(weft.multicast_loop_v6()),
            outcome(std.multicast_loop_v6())
        );

        // Multicast membership: whatever this host allows std, it allows weft.
        let group = Ipv4Addr::new(239, 255, 43, 21);
        let any = Ipv4Addr::UNSPECIFIED;
        let joined = outcome(std.join_multicast_v4(&group, &any));
        assert_eq!(outcome(weft.join_multicast_v4(&group, &any)), joined);
        assert_eq!(
            outcome(weft.leave_multicast_v4(&group, &any)),
            outcome(std.leave_multicast_v4(&group, &any))
        );

        // IPv6, if the host has it.
        if let Ok(std6) = std::net::UdpSocket::bind("[::1]:0") {
            let weft6 = UdpSocket::bind("[::1]:0").unwrap();
            for on in [false, true] {
                weft6.set_multicast_loop_v6(on).unwrap();
                std6.set_multicast_loop_v6(on).unwrap();
                assert_eq!(weft6.multicast_loop_v6().unwrap(), on);
                assert_eq!(
                    outcome(weft6.multicast_loop_v6()),
                    outcome(std6.multicast_loop_v6())
                );
            }
            let group6: Ipv6Addr = "ff02::1:2:3".parse().unwrap();
            assert_eq!(
                outcome(weft6.join_multicast_v6(&group6, 0)),
                outcome(std6.join_multicast_v6(&group6, 0))
            );
            assert_eq!(
                outcome(weft6.leave_multicast_v6(&group6, 0)),
                outcome(std6.leave_multicast_v6(&group6, 0))
            );
            // An IPv6 exchange between coroutines.
            let addr6 = weft6.local_addr().unwrap();
            let h = go!(move || {
                let client = UdpSocket::bind("[::1]:0").unwrap();
                client.send_to(b"v6", addr6).unwrap();
                client.local_addr().unwrap()
            });
            let mut buf = [0u8; 4];
            let (n, from) = weft6.recv_from(&mut buf).unwrap();
            assert_eq!((&buf[..n], from), (&b"v6"[..], h.join().unwrap()));
        }
    })
}

fn is_fd_nonblocking(fd: RawFd) -> bool {
    // SAFETY: F_GETFL on a descriptor the caller keeps open reads its flags; no memory is
    // passed.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    assert!(flags >= 0, "fcntl(F_GETFL) failed");
    flags & libc::O_NONBLOCK != 0
}

#[test]
fn conversions_to_and_from_std() {
    watchdog(|| {
        // std -> weft: a blocking std socket becomes a weft socket that parks coroutines.
        let std_server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let server_addr = std_server.local_addr().unwrap();
        let server = UdpSocket::from(std_server);
        assert_eq!(server.local_addr().unwrap(), server_addr);
        let debug = format!("{server:?}");
        assert!(debug.contains("UdpSocket"), "{debug}");
        assert!(debug.contains(&server_addr.to_string()), "{debug}");
        let s = go!(move || {
            echo_server(&server, 3);
            server
        });
        echo_client(&bind_local(), server_addr, 99, 3);
        let server = s.join().unwrap();

        // weft -> std: blocking again, and still the same socket.
        let raw = server.as_raw_fd();
        assert_eq!(server.as_fd().as_raw_fd(), raw);
        let std_again: std::net::UdpSocket = server.into();
        assert_eq!(std_again.as_raw_fd(), raw);
        assert!(!is_fd_nonblocking(raw));
        assert_eq!(std_again.local_addr().unwrap(), server_addr);
        let client = bind_local();
        client.send_to(b"to std", server_addr).unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(std_again.recv_from(&mut buf).unwrap().0, 6);

        // A weft socket in non-blocking mode gives a non-blocking std socket. Taking one
        // over leaves its mode alone (IO3: sends and receives pass MSG_DONTWAIT).
        let weft = UdpSocket::from(std_again);
        assert!(!is_fd_nonblocking(weft.as_raw_fd()));
        weft.set_nonblocking(true).unwrap();
        let std_nb = std::net::UdpSocket::from(weft);
        assert!(is_fd_nonblocking(std_nb.as_raw_fd()));
        assert_eq!(
            std_nb.recv_from(&mut buf).unwrap_err().kind(),
            ErrorKind::WouldBlock
        );

        // OwnedFd both ways.
        let owned: OwnedFd = UdpSocket::from(std_nb).into();
        let weft = UdpSocket::from(owned);
        assert_eq!(weft.local_addr().unwrap(), server_addr);
        // Raw descriptors both ways.
        // (the descriptor is still in the non-blocking mode `std_nb` had: weft keeps it)
        let raw = weft.into_raw_fd();
        assert!(
            is_fd_nonblocking(raw),
            "weft never changes a UDP socket's mode"
        );
        // SAFETY: `raw` came from `into_raw_fd` just above and is owned by nobody else.
        let weft = unsafe { UdpSocket::from_raw_fd(raw) };
        // A receive in a coroutine still parks, whatever the mode.
        let h = go!(move || {
            let mut buf = [0u8; 8];
            let (n, _) = weft.recv_from(&mut buf).unwrap();
            buf[..n].to_vec()
        });
        client.send_to(b"raw", server_addr).unwrap();
        assert_eq!(h.join().unwrap(), b"raw");
    })
}

#[test]
fn child_recv_parks_only_its_coroutine() {
    if !child_is("udp-one-worker") {
        return;
    }
    // One worker: while `blocked` waits in `recv_from`, other coroutines (including an echo
    // pair that waits on UDP itself) must run, and one of them wakes `blocked`.
    let blocked = bind_local();
    let blocked_addr = blocked.local_addr().unwrap();
    let entered = Arc::new(AtomicBool::new(false));
    let e = entered.clone();
    let waiter = go!(move || {
        e.store(true, Ordering::Release);
        let mut buf = [0u8; 16];
        let (n, _) = blocked.recv_from(&mut buf).unwrap();
        buf[..n].to_vec()
    });
    // The waiter runs on the only worker; nothing else can run there until it parks.
    while !entered.load(Ordering::Acquire) {
        std::thread::yield_now();
    }
    let others = go!(move || {
        let server = bind_local();
        let server_addr = server.local_addr().unwrap();
        let s = go!(move || echo_server(&server, 20));
        let client = bind_local();
        echo_client(&client, server_addr, 5, 20);
        s.join().unwrap();
        client.send_to(b"wake up", blocked_addr).unwrap();
        weft::thread::current().name().map(str::to_owned)
    });
    others.join().unwrap();
    assert_eq!(waiter.join().unwrap(), b"wake up");
    child_report("udp-one-worker", "ok");
}

#[test]
fn blocked_recv_does_not_block_other_coroutines_with_one_worker() {
    watchdog(|| {
        let out = run_child(
            "child_recv_parks_only_its_coroutine",
            "udp-one-worker",
            &[("WEFT_WORKERS", "1")],
        );
        out.assert_success();
        assert_eq!(out.stdout_value("udp-one-worker"), "ok");
    })
}

/// IO3: a UDP socket stays in the mode std gave it, and weft's receives pass `MSG_DONTWAIT`: a
/// clone given back to std keeps std's blocking mode for std, while the weft original, in
/// non-blocking mode, still returns `WouldBlock` at once and, in blocking mode, still parks.
#[test]
fn a_clone_given_back_to_std_leaves_the_original_working() {
    watchdog(|| {
        let weft = bind_local();
        let addr = weft.local_addr().unwrap();
        let std_clone = std::net::UdpSocket::from(weft.try_clone().unwrap());
        assert!(!is_fd_nonblocking(std_clone.as_raw_fd()));
        let (checked, was_checked) = std::sync::mpsc::channel();
        let h = go!(move || {
            let mut buf = [0u8; 8];
            weft.set_nonblocking(true).unwrap();
            let err = weft.recv_from(&mut buf).unwrap_err();
            weft.set_nonblocking(false).unwrap();
            checked.send(()).unwrap();
            let (n, _) = weft.recv_from(&mut buf).unwrap();
            (err.kind(), buf[..n].to_vec())
        });
        // Sent only after the non-blocking receive has found nothing.
        was_checked.recv().unwrap();
        bind_local().send_to(b"late", addr).unwrap();
        assert_eq!(h.join().unwrap(), (ErrorKind::WouldBlock, b"late".to_vec()));
        drop(std_clone);
    })
}
