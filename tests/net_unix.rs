//! `weft::os::unix::net` against `std::os::unix::net`'s behaviour: stream echo between
//! coroutines and OS threads, large transfers in both directions at once, vectored I/O,
//! end of file and shutdown, `incoming`, connects to a full backlog, datagram pairs and bound
//! datagram sockets, abstract addresses, timeouts and non-blocking mode (`WouldBlock`),
//! conversions to and from std, and waits that park only their coroutine on a single-worker
//! runtime (child process).

mod support;

use std::io::{ErrorKind, IoSlice, IoSliceMut, Read, Write};
use std::net::Shutdown;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::linux::net::SocketAddrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use support::{Rng, child_is, child_report, run_child, start, watchdog};
use weft::go;
use weft::os::unix::net::{SocketAddr, UnixDatagram, UnixListener, UnixStream};

const SHORT: Duration = Duration::from_millis(50);

/// A unique socket path under the temp directory, removed (if it exists) on drop.
struct TempPath(PathBuf);

impl TempPath {
    fn new(tag: &str) -> TempPath {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "weft-net-unix-{}-{n}-{tag}.sock",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&path);
        TempPath(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A unique abstract socket name (Linux): no file to clean up.
fn abstract_addr(tag: &str) -> SocketAddr {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let name = format!("weft-net-unix-{}-{n}-{tag}", std::process::id());
    SocketAddr::from_abstract_name(name.as_bytes()).unwrap()
}

fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    (0..len).map(|_| rng.next_u64() as u8).collect()
}

fn is_fd_nonblocking(fd: RawFd) -> bool {
    // SAFETY: F_GETFL on a descriptor the caller keeps open reads its flags; no memory is
    // passed.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    assert!(flags >= 0, "fcntl(F_GETFL) failed");
    flags & libc::O_NONBLOCK != 0
}

/// Echoes everything read from `stream`, inverted, until end of file.
fn echo_until_eof(mut stream: UnixStream) {
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).expect("server read");
        if n == 0 {
            return;
        }
        let inverted: Vec<u8> = buf[..n].iter().map(|b| !b).collect();
        stream.write_all(&inverted).expect("server write");
    }
}

/// Sends requests of varying sizes and checks every byte of every reply.
fn echo_client(stream: &mut UnixStream, seed: u64, rounds: usize) {
    for i in 0..rounds {
        let request = pattern(seed * 1000 + i as u64, 1 + (i * 997) % 20_000);
        stream.write_all(&request).unwrap();
        let mut reply = vec![0u8; request.len()];
        stream.read_exact(&mut reply).unwrap();
        assert!(
            reply.iter().zip(&request).all(|(r, q)| *r == !*q),
            "reply {i} of client {seed} is wrong"
        );
    }
}

fn stream_echo_mix(server_on_os_thread: bool, client_on_os_thread: bool) {
    watchdog(move || {
        const CLIENTS: u64 = 4;
        let path = TempPath::new("echo");
        let listener = UnixListener::bind(path.path()).unwrap();
        let server = start(server_on_os_thread, move || {
            let conns: Vec<_> = (0..CLIENTS)
                .map(|_| {
                    let (conn, peer) = listener.accept().unwrap();
                    assert!(peer.as_pathname().is_none(), "clients are unnamed");
                    start(server_on_os_thread, move || echo_until_eof(conn))
                })
                .collect();
            for c in conns {
                c.join();
            }
        });
        let clients: Vec<_> = (0..CLIENTS)
            .map(|seed| {
                let p = path.path().to_owned();
                start(client_on_os_thread, move || {
                    let mut s = UnixStream::connect(&p).unwrap();
                    assert_eq!(s.peer_addr().unwrap().as_pathname(), Some(p.as_path()));
                    echo_client(&mut s, seed, 20);
                })
            })
            .collect();
        for c in clients {
            c.join();
        }
        server.join();
    })
}

#[test]
fn stream_echo_coroutines() {
    stream_echo_mix(false, false);
}

#[test]
fn stream_echo_coroutine_server_os_thread_clients() {
    stream_echo_mix(false, true);
}

#[test]
fn stream_echo_os_thread_server_coroutine_clients() {
    stream_echo_mix(true, false);
}

#[test]
fn stream_echo_os_threads() {
    stream_echo_mix(true, true);
}

/// Writes `len` bytes of `pattern(seed)` in chunks of varying sizes, some vectored.
fn write_pattern(mut w: &UnixStream, seed: u64, len: usize) {
    let data = pattern(seed, len);
    let mut off = 0;
    let mut i = 0;
    while off < len {
        let chunk = (1 + (i * 7919) % 70_000).min(len - off);
        if i % 3 == 0 && chunk > 1 {
            let (a, b) = data[off..off + chunk].split_at(chunk / 2);
            let n = w
                .write_vectored(&[IoSlice::new(a), IoSlice::new(b)])
                .unwrap();
            assert!(n > 0);
            off += n;
        } else {
            w.write_all(&data[off..off + chunk]).unwrap();
            off += chunk;
        }
        i += 1;
    }
}

/// Reads exactly `len` bytes and checks them against `pattern(seed)`; then expects end of
/// file.
fn read_pattern(mut r: &UnixStream, seed: u64, len: usize) {
    let expected = pattern(seed, len);
    let mut got = vec![0u8; len];
    let mut off = 0;
    let mut i = 0;
    while off < len {
        let n = if i % 2 == 0 {
            let end = (off + 10_000).min(len);
            let (a, rest) = got[off..end].split_at_mut((end - off) / 2);
            r.read_vectored(&mut [IoSliceMut::new(a), IoSliceMut::new(rest)])
                .unwrap()
        } else {
            r.read(&mut got[off..]).unwrap()
        };
        assert!(n > 0, "early end of file at {off} of {len}");
        off += n;
        i += 1;
    }
    assert!(got == expected, "stream {seed}: bytes differ");
    let mut extra = [0u8; 1];
    assert_eq!(r.read(&mut extra).unwrap(), 0, "end of file after the data");
}

fn bidirectional(a_on_os_thread: bool, b_on_os_thread: bool) {
    watchdog(move || {
        // Far more than the socket buffers hold: writers park until the readers catch up.
        const LEN: usize = 3 << 20;
        let (a, b) = UnixStream::pair().unwrap();
        let (a, b) = (Arc::new(a), Arc::new(b));
        let mut parties = Vec::new();
        for (me, other_seed, my_seed, os) in [(a, 2, 1, a_on_os_thread), (b, 1, 2, b_on_os_thread)]
        {
            let w = me.clone();
            parties.push(start(os, move || {
                write_pattern(&w, my_seed, LEN);
                w.shutdown(Shutdown::Write).unwrap();
            }));
            parties.push(start(os, move || read_pattern(&me, other_seed, LEN)));
        }
        for p in parties {
            p.join();
        }
    })
}

#[test]
fn large_transfers_both_directions_coroutines() {
    bidirectional(false, false);
}

#[test]
fn large_transfers_both_directions_mixed() {
    bidirectional(false, true);
}

#[test]
fn large_transfers_both_directions_os_threads() {
    bidirectional(true, true);
}

#[test]
fn reader_woken_by_eof_and_by_peer_drop() {
    watchdog(|| {
        // Shutdown of the peer's write half wakes a parked reader with end of file.
        let (a, b) = UnixStream::pair().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = go!(move || {
            tx.send(()).unwrap();
            let mut buf = [0u8; 8];
            (&b).read(&mut buf).unwrap()
        });
        rx.recv().unwrap();
        a.shutdown(Shutdown::Write).unwrap();
        assert_eq!(reader.join().unwrap(), 0);
        // Writing to a shut-down half fails like std (EPIPE).
        assert_eq!((&a).write(b"x").unwrap_err().kind(), ErrorKind::BrokenPipe);

        // Dropping the peer does too, and then writes fail.
        let (a, b) = UnixStream::pair().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = go!(move || {
            tx.send(()).unwrap();
            let mut buf = [0u8; 8];
            let n = (&b).read(&mut buf).unwrap();
            (n, (&b).write(b"x").map_err(|e| e.kind()))
        });
        rx.recv().unwrap();
        drop(a);
        assert_eq!(reader.join().unwrap(), (0, Err(ErrorKind::BrokenPipe)));
    })
}

#[test]
fn stream_timeouts_and_nonblocking_are_would_block() {
    watchdog(|| {
        for os in [false, true] {
            start(os, || {
                let (a, b) = UnixStream::pair().unwrap();
                assert_eq!(a.read_timeout().unwrap(), None);
                a.set_read_timeout(Some(SHORT)).unwrap();
                assert!(a.read_timeout().unwrap().is_some_and(|d| d >= SHORT));
                let mut buf = [0u8; 8];
                let e = (&a).read(&mut buf).unwrap_err();
                assert_eq!(e.kind(), ErrorKind::WouldBlock, "{e}");
                // Same as std's blocking socket.
                let (sa, _sb) = std::os::unix::net::UnixStream::pair().unwrap();
                sa.set_read_timeout(Some(SHORT)).unwrap();
                let std_e = (&sa).read(&mut buf).unwrap_err();
                assert_eq!(e.raw_os_error(), std_e.raw_os_error());
                assert_eq!(
                    a.set_read_timeout(Some(Duration::ZERO)).unwrap_err().kind(),
                    ErrorKind::InvalidInput
                );

                // A write timeout bounds a write into a full buffer.
                b.set_write_timeout(Some(SHORT)).unwrap();
                assert!(b.write_timeout().unwrap().is_some_and(|d| d >= SHORT));
                let chunk = vec![7u8; 1 << 16];
                let mut written = 0usize;
                let e = loop {
                    match (&b).write(&chunk) {
                        Ok(n) => written += n,
                        Err(e) => break e,
                    }
                };
                assert_eq!(e.kind(), ErrorKind::WouldBlock, "{e}");
                assert!(written > 0);

                // Non-blocking mode: no waiting at all.
                b.set_write_timeout(None).unwrap();
                b.set_nonblocking(true).unwrap();
                assert_eq!(
                    (&b).write(&chunk).unwrap_err().kind(),
                    ErrorKind::WouldBlock
                );
                a.set_read_timeout(None).unwrap();
                let mut drained = 0usize;
                let mut big = vec![0u8; 1 << 16];
                while drained < written {
                    drained += (&a).read(&mut big).unwrap();
                }
                assert_eq!(drained, written);
                a.set_nonblocking(true).unwrap();
                assert_eq!(
                    (&a).read(&mut buf).unwrap_err().kind(),
                    ErrorKind::WouldBlock
                );
                // With room again, a non-blocking write goes through.
                assert_eq!((&b).write(b"abc").unwrap(), 3);
                a.set_nonblocking(false).unwrap();
                assert_eq!((&a).read(&mut buf).unwrap(), 3);
            })
            .join();
        }
    })
}

#[test]
fn listener_incoming_and_into_iterator() {
    watchdog(|| {
        const CLIENTS: usize = 12;
        let path = TempPath::new("incoming");
        let listener = UnixListener::bind(path.path()).unwrap();
        assert_eq!(
            listener.local_addr().unwrap().as_pathname(),
            Some(path.path())
        );
        assert!(listener.take_error().unwrap().is_none());
        assert_eq!(listener.incoming().size_hint(), (usize::MAX, None));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|i| {
                let p = path.path().to_owned();
                start(i % 3 == 0, move || {
                    let mut s = UnixStream::connect(&p).unwrap();
                    s.write_all(&[i as u8]).unwrap();
                    let mut reply = [0u8; 2];
                    s.read_exact(&mut reply).unwrap();
                    assert_eq!(reply, [i as u8, 0xAA]);
                })
            })
            .collect();
        let server = go!(move || {
            let mut seen = vec![false; CLIENTS];
            let serve = |stream: std::io::Result<UnixStream>, seen: &mut Vec<bool>| {
                let mut s = stream.unwrap();
                let mut id = [0u8; 1];
                s.read_exact(&mut id).unwrap();
                assert!(!seen[id[0] as usize], "client {} twice", id[0]);
                seen[id[0] as usize] = true;
                s.write_all(&[id[0], 0xAA]).unwrap();
            };
            for stream in listener.incoming().take(CLIENTS / 2) {
                serve(stream, &mut seen);
            }
            for stream in (&listener).into_iter().take(CLIENTS - CLIENTS / 2) {
                serve(stream, &mut seen);
            }
            assert!(seen.iter().all(|&s| s));
        });
        for c in clients {
            c.join();
        }
        server.join().unwrap();
    })
}

#[test]
fn accept_nonblocking_and_clone() {
    watchdog(|| {
        let path = TempPath::new("accept-nb");
        let listener = UnixListener::bind(path.path()).unwrap();
        listener.set_nonblocking(true).unwrap();
        assert_eq!(listener.accept().unwrap_err().kind(), ErrorKind::WouldBlock);
        // A clone starts out blocking and accepts for the same socket.
        let clone = listener.try_clone().unwrap();
        let p = path.path().to_owned();
        let accepted = go!(move || {
            let (s, _) = clone.accept().unwrap();
            let mut buf = [0u8; 2];
            (&s).read_exact(&mut buf).unwrap();
            buf
        });
        let mut c = UnixStream::connect(&p).unwrap();
        c.write_all(b"hi").unwrap();
        assert_eq!(&accepted.join().unwrap(), b"hi");
        // Accepted streams are blocking even from a non-blocking listener.
        let c2 = UnixStream::connect(&p).unwrap();
        let (s2, _) = loop {
            match listener.accept() {
                Ok(pair) => break pair,
                Err(e) if e.kind() == ErrorKind::WouldBlock => weft::thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
        };
        let reader = go!(move || {
            let mut buf = [0u8; 3];
            (&s2).read_exact(&mut buf).unwrap();
            buf
        });
        (&c2).write_all(b"abc").unwrap();
        assert_eq!(&reader.join().unwrap(), b"abc");
    })
}

#[test]
fn connect_errors_match_std() {
    watchdog(|| {
        let missing = TempPath::new("missing");
        let e = UnixStream::connect(missing.path()).unwrap_err();
        let std_e = std::os::unix::net::UnixStream::connect(missing.path()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(e.kind(), std_e.kind());
        // A path too long for sockaddr_un.
        let long = std::env::temp_dir().join("x".repeat(200));
        let e = UnixStream::connect(&long).unwrap_err();
        let std_e = std::os::unix::net::UnixStream::connect(&long).unwrap_err();
        assert_eq!(e.kind(), std_e.kind());
        // A socket file nobody listens on any more: refused.
        let stale = TempPath::new("stale");
        drop(UnixListener::bind(stale.path()).unwrap());
        let e = UnixStream::connect(stale.path()).unwrap_err();
        let std_e = std::os::unix::net::UnixStream::connect(stale.path()).unwrap_err();
        assert_eq!(e.kind(), std_e.kind());
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
        // Binding an existing path fails like std.
        let taken = TempPath::new("taken");
        let _l = UnixListener::bind(taken.path()).unwrap();
        let e = UnixListener::bind(taken.path()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AddrInUse);
    })
}

/// A listening Unix socket at `path` with the given backlog (std always uses its own).
fn listener_with_backlog(path: &Path, backlog: i32) -> UnixListener {
    let std_listener = std::os::unix::net::UnixListener::bind(path).unwrap();
    // SAFETY: listen(2) on a descriptor `std_listener` owns and keeps open; no memory is
    // passed.
    let r = unsafe { libc::listen(std_listener.as_raw_fd(), backlog) };
    assert_eq!(r, 0, "listen: {}", std::io::Error::last_os_error());
    UnixListener::from(std_listener)
}

#[test]
fn connect_waits_while_backlog_is_full() {
    watchdog(|| {
        let path = TempPath::new("backlog");
        // Backlog 0: one pending connection fills the queue.
        let listener = listener_with_backlog(path.path(), 0);
        let first = UnixStream::connect(path.path()).unwrap();
        // The premise: a non-blocking connect now fails with EAGAIN instead of waiting.
        match mio::net::UnixStream::connect(path.path()) {
            Err(e) => assert_eq!(e.kind(), ErrorKind::WouldBlock, "{e}"),
            Ok(_) => panic!("the backlog should be full"),
        }
        // weft's connect waits instead, in coroutines and on OS threads.
        let waiting: Vec<_> = (0..4u8)
            .map(|i| {
                let p = path.path().to_owned();
                start(i % 2 == 1, move || {
                    let mut s = UnixStream::connect(&p).unwrap();
                    s.write_all(&[i]).unwrap();
                    let mut back = [0u8; 1];
                    s.read_exact(&mut back).unwrap();
                    assert_eq!(back[0], !i);
                })
            })
            .collect();
        let (s0, _) = listener.accept().unwrap();
        drop(first);
        drop(s0);
        for _ in 0..4 {
            let (mut s, _) = listener.accept().unwrap();
            let mut id = [0u8; 1];
            s.read_exact(&mut id).unwrap();
            s.write_all(&[!id[0]]).unwrap();
        }
        for w in waiting {
            w.join();
        }
    })
}

#[test]
fn abstract_addresses() {
    watchdog(|| {
        let addr = abstract_addr("stream");
        let listener = UnixListener::bind_addr(&addr).unwrap();
        assert_eq!(
            listener.local_addr().unwrap().as_abstract_name(),
            addr.as_abstract_name()
        );
        let server = go!(move || {
            let (conn, _) = listener.accept().unwrap();
            echo_until_eof(conn);
        });
        let mut client = UnixStream::connect_addr(&addr).unwrap();
        assert_eq!(
            client.peer_addr().unwrap().as_abstract_name(),
            addr.as_abstract_name()
        );
        echo_client(&mut client, 3, 5);
        client.shutdown(Shutdown::Write).unwrap();
        server.join().unwrap();

        // Datagrams: bind_addr, connect_addr, send_to_addr.
        let (a_addr, b_addr) = (abstract_addr("dgram-a"), abstract_addr("dgram-b"));
        let a = UnixDatagram::bind_addr(&a_addr).unwrap();
        let b = UnixDatagram::bind_addr(&b_addr).unwrap();
        let receiver = go!(move || {
            let mut buf = [0u8; 16];
            let (n, from) = b.recv_from(&mut buf).unwrap();
            (
                buf[..n].to_vec(),
                from.as_abstract_name().map(<[u8]>::to_vec),
            )
        });
        assert_eq!(a.send_to_addr(b"to b", &b_addr).unwrap(), 4);
        assert_eq!(
            receiver.join().unwrap(),
            (
                b"to b".to_vec(),
                a_addr.as_abstract_name().map(<[u8]>::to_vec)
            )
        );
        let c = UnixDatagram::unbound().unwrap();
        c.connect_addr(&a_addr).unwrap();
        assert_eq!(c.send(b"to a").unwrap(), 4);
        let mut buf = [0u8; 8];
        assert_eq!(a.recv(&mut buf).unwrap(), 4);
        assert_eq!(&buf[..4], b"to a");
    })
}

#[test]
fn datagram_pair_between_coroutines_and_threads() {
    watchdog(|| {
        for (a_os, b_os) in [(false, false), (false, true), (true, false)] {
            let (a, b) = UnixDatagram::pair().unwrap();
            assert!(a.peer_addr().unwrap().is_unnamed());
            const N: usize = 300;
            // More datagrams than the receive queue holds (net.unix.max_dgram_qlen is
            // usually 10): the sender parks until the receiver drains it.
            let sender = start(a_os, move || {
                for i in 0..N {
                    let msg = pattern(i as u64, 1 + (i * 131) % 4000);
                    assert_eq!(a.send(&msg).unwrap(), msg.len());
                }
                let mut buf = [0u8; 8];
                assert_eq!(a.recv(&mut buf).unwrap(), 4);
                assert_eq!(&buf[..4], b"done");
            });
            let receiver = start(b_os, move || {
                let mut buf = vec![0u8; 8192];
                for i in 0..N {
                    let (n, from) = b.recv_from(&mut buf).unwrap();
                    assert!(from.is_unnamed());
                    assert!(
                        buf[..n] == pattern(i as u64, 1 + (i * 131) % 4000)[..],
                        "datagram {i}"
                    );
                }
                b.send(b"done").unwrap();
            });
            sender.join();
            receiver.join();
        }
    })
}

#[test]
fn datagram_bound_paths_connect_timeouts_nonblocking() {
    watchdog(|| {
        let (pa, pb) = (TempPath::new("dg-a"), TempPath::new("dg-b"));
        let a = UnixDatagram::bind(pa.path()).unwrap();
        let b = UnixDatagram::bind(pb.path()).unwrap();
        assert_eq!(a.local_addr().unwrap().as_pathname(), Some(pa.path()));
        assert_eq!(a.peer_addr().unwrap_err().kind(), ErrorKind::NotConnected);
        let pb_path = pb.path().to_owned();
        let pa_path = pa.path().to_owned();
        let server = go!(move || {
            let mut buf = [0u8; 64];
            for _ in 0..10 {
                let (n, from) = b.recv_from(&mut buf).unwrap();
                let reply: Vec<u8> = buf[..n].iter().map(|x| !x).collect();
                b.send_to(&reply, from.as_pathname().unwrap()).unwrap();
            }
            b
        });
        let mut buf = [0u8; 64];
        for i in 0..10u8 {
            assert_eq!(a.send_to(&[i; 9], &pb_path).unwrap(), 9);
            let (n, from) = a.recv_from(&mut buf).unwrap();
            assert_eq!(from.as_pathname(), Some(pb_path.as_path()));
            assert_eq!(&buf[..n], &[!i; 9]);
        }
        let b = server.join().unwrap();

        // connect + send/recv.
        a.connect(&pb_path).unwrap();
        assert_eq!(
            a.peer_addr().unwrap().as_pathname(),
            Some(pb_path.as_path())
        );
        b.connect(&pa_path).unwrap();
        assert_eq!(a.send(b"connected").unwrap(), 9);
        assert_eq!(b.recv(&mut buf).unwrap(), 9);

        // Timeouts and non-blocking mode, in a coroutine and on a thread.
        let (a, b) = (Arc::new(a), Arc::new(b));
        for os in [false, true] {
            let (a, b) = (a.clone(), b.clone());
            start(os, move || {
                let mut buf = [0u8; 8];
                a.set_read_timeout(Some(SHORT)).unwrap();
                assert!(a.read_timeout().unwrap().is_some_and(|d| d >= SHORT));
                assert_eq!(a.recv(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
                assert_eq!(
                    a.recv_from(&mut buf).unwrap_err().kind(),
                    ErrorKind::WouldBlock
                );
                a.set_read_timeout(None).unwrap();
                a.set_nonblocking(true).unwrap();
                assert_eq!(a.recv(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
                a.set_nonblocking(false).unwrap();
                // A full peer queue: writes time out, or fail at once when non-blocking.
                b.set_write_timeout(Some(SHORT)).unwrap();
                assert!(b.write_timeout().unwrap().is_some_and(|d| d >= SHORT));
                let mut sent = 0;
                let e = loop {
                    match b.send(b"fill") {
                        Ok(_) => sent += 1,
                        Err(e) => break e,
                    }
                };
                assert_eq!(e.kind(), ErrorKind::WouldBlock, "{e}");
                assert!(sent > 0);
                b.set_write_timeout(None).unwrap();
                b.set_nonblocking(true).unwrap();
                assert_eq!(b.send(b"more").unwrap_err().kind(), ErrorKind::WouldBlock);
                b.set_nonblocking(false).unwrap();
                for _ in 0..sent {
                    assert_eq!(a.recv(&mut buf).unwrap(), 4);
                    assert_eq!(&buf[..4], b"fill");
                }
                assert!(a.take_error().unwrap().is_none());
            })
            .join();
        }
    })
}

#[test]
fn datagram_shutdown_read_returns_zero_like_std() {
    watchdog(|| {
        // std's blocking socket: 0 bytes from an unnamed sender once the read half is shut.
        let (sa, _sb) = std::os::unix::net::UnixDatagram::pair().unwrap();
        sa.shutdown(Shutdown::Read).unwrap();
        let mut buf = [0u8; 4];
        assert_eq!(sa.recv(&mut buf).unwrap(), 0);
        for os in [false, true] {
            start(os, || {
                let (a, _b) = UnixDatagram::pair().unwrap();
                a.shutdown(Shutdown::Read).unwrap();
                let mut buf = [0u8; 4];
                assert_eq!(a.recv(&mut buf).unwrap(), 0);
                let (n, from) = a.recv_from(&mut buf).unwrap();
                assert_eq!(n, 0);
                assert!(from.is_unnamed());
                // Non-blocking, std says WouldBlock.
                a.set_nonblocking(true).unwrap();
                assert_eq!(a.recv(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
            })
            .join();
        }
        // A receiver parked before the shutdown is woken by it.
        let (a, _b) = UnixDatagram::pair().unwrap();
        let a = Arc::new(a);
        let (tx, rx) = std::sync::mpsc::channel();
        let r = a.clone();
        let parked = go!(move || {
            tx.send(()).unwrap();
            let mut buf = [0u8; 4];
            r.recv(&mut buf).unwrap()
        });
        rx.recv().unwrap();
        a.shutdown(Shutdown::Read).unwrap();
        assert_eq!(parked.join().unwrap(), 0);
    })
}

#[test]
fn try_clone_shares_the_socket() {
    watchdog(|| {
        let (a, b) = UnixStream::pair().unwrap();
        let a2 = a.try_clone().unwrap();
        a.set_read_timeout(Some(SHORT)).unwrap();
        assert_eq!(a2.read_timeout().unwrap(), a.read_timeout().unwrap());
        a.set_read_timeout(None).unwrap();
        // One coroutine reads through the clone while another writes through the original.
        let reader = go!(move || {
            let mut buf = vec![0u8; 100_000];
            (&a2).read_exact(&mut buf).unwrap();
            buf
        });
        let writer = go!(move || {
            (&a).write_all(&pattern(4, 100_000)).unwrap();
            a
        });
        let echo = go!(move || {
            let mut buf = vec![0u8; 100_000];
            (&b).read_exact(&mut buf).unwrap();
            (&b).write_all(&buf).unwrap();
            b
        });
        assert!(reader.join().unwrap() == pattern(4, 100_000));
        writer.join().unwrap();
        echo.join().unwrap();

        let (d, e) = UnixDatagram::pair().unwrap();
        let d2 = d.try_clone().unwrap();
        e.send(b"x").unwrap();
        let mut buf = [0u8; 2];
        assert_eq!(d2.recv(&mut buf).unwrap(), 1);
        d.set_nonblocking(true).unwrap();
        assert_eq!(d.recv(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
    })
}

#[test]
fn conversions_to_and_from_std() {
    watchdog(|| {
        // Streams: std -> weft -> std.
        let (sa, sb) = std::os::unix::net::UnixStream::pair().unwrap();
        let raw = sa.as_raw_fd();
        let a = UnixStream::from(sa);
        // IO3: a stream keeps its mode (its reads pass MSG_DONTWAIT) and still parks.
        assert!(!is_fd_nonblocking(raw));
        assert_eq!(a.as_fd().as_raw_fd(), raw);
        let debug = format!("{a:?}");
        assert!(debug.contains("UnixStream"), "{debug}");
        let h = go!(move || {
            let mut buf = [0u8; 4];
            (&a).read_exact(&mut buf).unwrap();
            (a, buf)
        });
        (&sb).write_all(b"std!").unwrap();
        let (a, buf) = h.join().unwrap();
        assert_eq!(&buf, b"std!");
        let sa: std::os::unix::net::UnixStream = a.into();
        assert!(!is_fd_nonblocking(sa.as_raw_fd()));
        (&sb).write_all(b"back").unwrap();
        let mut buf = [0u8; 4];
        (&sa).read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"back");
        // Non-blocking weft -> non-blocking std.
        let a = UnixStream::from(sa);
        a.set_nonblocking(true).unwrap();
        let sa = std::os::unix::net::UnixStream::from(a);
        assert!(is_fd_nonblocking(sa.as_raw_fd()));
        // OwnedFd and raw descriptors.
        let owned: OwnedFd = UnixStream::from(sa).into();
        let a = UnixStream::from(owned);
        let raw = a.into_raw_fd();
        // weft never changes a stream's mode (IO3): it stays as the user left it.
        assert!(is_fd_nonblocking(raw));
        // SAFETY: `raw` came from `into_raw_fd` just above and is owned by nobody else.
        let a = unsafe { UnixStream::from_raw_fd(raw) };
        (&sb).write_all(b"raw").unwrap();
        let h = go!(move || {
            let mut buf = [0u8; 3];
            (&a).read_exact(&mut buf).unwrap();
            buf
        });
        assert_eq!(&h.join().unwrap(), b"raw");

        // Listener.
        let path = TempPath::new("conv");
        let std_listener = std::os::unix::net::UnixListener::bind(path.path()).unwrap();
        let listener = UnixListener::from(std_listener);
        assert!(format!("{listener:?}").contains("UnixListener"));
        let p = path.path().to_owned();
        let client = go!(move || UnixStream::connect(&p).unwrap());
        let (_conn, _) = listener.accept().unwrap();
        let _client = client.join().unwrap();
        let std_listener: std::os::unix::net::UnixListener = listener.into();
        assert!(!is_fd_nonblocking(std_listener.as_raw_fd()));
        let owned: OwnedFd = UnixListener::from(std_listener).into();
        let raw = UnixListener::from(owned).into_raw_fd();
        // SAFETY: `raw` came from `into_raw_fd` just above and is owned by nobody else.
        let listener = unsafe { UnixListener::from_raw_fd(raw) };
        assert_eq!(
            listener.local_addr().unwrap().as_pathname(),
            Some(path.path())
        );

        // Datagram.
        let (sd, se) = std::os::unix::net::UnixDatagram::pair().unwrap();
        let d = UnixDatagram::from(sd);
        assert!(format!("{d:?}").contains("UnixDatagram"));
        let h = go!(move || {
            let mut buf = [0u8; 8];
            let n = d.recv(&mut buf).unwrap();
            (d, buf[..n].to_vec())
        });
        se.send(b"dgram").unwrap();
        let (d, got) = h.join().unwrap();
        assert_eq!(got, b"dgram");
        let sd: std::os::unix::net::UnixDatagram = d.into();
        assert!(!is_fd_nonblocking(sd.as_raw_fd()));
        let owned: OwnedFd = UnixDatagram::from(sd).into();
        let raw = UnixDatagram::from(owned).into_raw_fd();
        // SAFETY: `raw` came from `into_raw_fd` just above and is owned by nobody else.
        let d = unsafe { UnixDatagram::from_raw_fd(raw) };
        se.send(b"again").unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(d.recv(&mut buf).unwrap(), 5);
    })
}

#[test]
fn child_unix_waits_park_only_their_coroutine() {
    if !child_is("unix-one-worker") {
        return;
    }
    // One worker: a coroutine parked in `read` and one parked in `accept` must leave the
    // worker to the others, which then wake them.
    let path = TempPath::new("one-worker");
    let listener = UnixListener::bind(path.path()).unwrap();
    let (a, b) = UnixStream::pair().unwrap();
    let entered = Arc::new(AtomicUsize::new(0));
    let e = entered.clone();
    let reader = go!(move || {
        e.fetch_add(1, Ordering::Release);
        let mut buf = [0u8; 5];
        (&a).read_exact(&mut buf).unwrap();
        buf
    });
    let e = entered.clone();
    let acceptor = go!(move || {
        e.fetch_add(1, Ordering::Release);
        let (s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 6];
        (&s).read_exact(&mut buf).unwrap();
        buf
    });
    // Both ran up to their wait on the only worker before anything else is spawned.
    while entered.load(Ordering::Acquire) < 2 {
        std::thread::yield_now();
    }
    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    let p = path.path().to_owned();
    let others = go!(move || {
        // A stream echo between two more coroutines, then the wake-ups.
        let (x, y) = UnixStream::pair().unwrap();
        let echo = go!(move || echo_until_eof(y));
        let mut x = x;
        echo_client(&mut x, 11, 10);
        drop(x);
        echo.join().unwrap();
        (&b).write_all(b"hello").unwrap();
        let c = UnixStream::connect(&p).unwrap();
        (&c).write_all(b"accept").unwrap();
        d.store(true, Ordering::Release);
        c
    });
    let _c = others.join().unwrap();
    assert!(done.load(Ordering::Acquire));
    assert_eq!(&reader.join().unwrap(), b"hello");
    assert_eq!(&acceptor.join().unwrap(), b"accept");
    child_report("unix-one-worker", "ok");
}

#[test]
fn blocked_unix_waits_do_not_block_other_coroutines_with_one_worker() {
    watchdog(|| {
        let out = run_child(
            "child_unix_waits_park_only_their_coroutine",
            "unix-one-worker",
            &[("WEFT_WORKERS", "1")],
        );
        out.assert_success();
        assert_eq!(out.stdout_value("unix-one-worker"), "ok");
    })
}
