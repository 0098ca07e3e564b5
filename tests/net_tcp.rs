//! `weft::net::{TcpListener, TcpStream}`: std's API, where a wait parks a coroutine and blocks
//! a plain OS thread. Every test checks behaviour (bytes, error kinds, who was served), never
//! timing; waits are bounded only so that a hang fails (support's watchdog).
//!
//! Scale: thousands of concurrent connections served one coroutine per connection, thousands
//! of idle ones beside a new client, 64 MiB each way at once with backpressure, many
//! acceptors on one listener. Errors: timeouts (`WouldBlock`), refused connects, peer resets.
//! Conversions to and from std and raw descriptors, the non-blocking mode, and, in child
//! processes, a coroutine blocked in I/O (or in `lookup_host`) leaving its (only) worker to others, a worker stuck in
//! a loop not stopping I/O on the other, I/O in a `Drop` run by unwinding, and sockets on plain
//! threads never starting the runtime.
//!
//! Tests of known, unfixed bugs would be `#[ignore]`d with the bug as the reason (none today);
//! run them with `cargo test --test net_tcp -- --ignored`.
//!
//! The tests that open thousands of descriptors take the `HEAVY` lock, so that they do not add
//! up against the descriptor limit (and the machine) when the harness runs tests in parallel.

mod support;

use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use support::{
    Rng, child_is, child_report, deepen_backlog, fd_budget, heavy, run_child_with_timeout, start,
    watchdog, with_timeout, worker_threads,
};
use weft::net::{TcpListener, TcpStream};
use weft::{chan, go};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn bind() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0")
}

/// A listener whose accept backlog is `backlog` (capped by the system's `somaxconn`) instead of
/// std's 128: `listen(2)` again on a listening socket only changes its backlog. For tests where
/// hundreds of clients connect at once: an overflowing backlog drops SYNs, and each dropped
/// one costs its client a one-second retransmit (slow, though still correct).
fn bind_backlog(backlog: i32) -> TcpListener {
    let listener = bind();
    deepen_backlog(&listener, backlog);
    listener
}

/// A connected pair of weft streams on loopback: (client side, server side). Works from a
/// coroutine or a thread (a loopback handshake completes without an `accept`).
fn pair() -> (TcpStream, TcpStream) {
    let listener = bind();
    let client = TcpStream::connect(listener.local_addr().unwrap()).expect("connect");
    let (server, _) = listener.accept().expect("accept");
    (client, server)
}

/// A connected pair of std streams on loopback.
fn std_pair() -> (std::net::TcpStream, std::net::TcpStream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    (client, server)
}

/// `len` pseudo-random bytes, a different sequence for each `seed`.
fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    (0..len).map(|_| (rng.next_u64() >> 24) as u8).collect()
}

/// Echoes everything it reads until end of file; returns how many bytes it echoed.
fn echo(mut s: TcpStream) -> io::Result<u64> {
    let mut buf = vec![0u8; 4096];
    let mut total = 0;
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Ok(total);
        }
        s.write_all(&buf[..n])?;
        total += n as u64;
    }
}

/// A coroutine that accepts `n` connections and echoes each in a coroutine of its own;
/// returns the number of bytes echoed over all of them.
fn echo_server(listener: TcpListener, n: usize) -> weft::thread::JoinHandle<u64> {
    go!(move || {
        let handlers: Vec<_> = (0..n)
            .map(|i| {
                let (s, _) = listener.accept().expect("accept");
                go!(move || echo(s).unwrap_or_else(|e| panic!("echo handler {i}: {e}")))
            })
            .collect();
        handlers
            .into_iter()
            .map(|h| h.join().expect("echo handler panicked"))
            .sum()
    })
}

/// Writes all of `data` in pieces of random sizes (at most `max_piece`).
fn write_in_pieces(mut s: impl Write, data: &[u8], rng: &mut Rng, max_piece: usize) {
    let mut sent = 0;
    while sent < data.len() {
        let n = (1 + rng.below(max_piece as u64) as usize).min(data.len() - sent);
        s.write_all(&data[sent..sent + n]).expect("write_all");
        sent += n;
    }
}

/// An address nobody listens on: a TCP socket bound to a loopback port (so no other test can
/// take the port while the returned descriptor lives) but not listening, so connecting to it is
/// refused.
fn refusing_addr() -> (OwnedFd, SocketAddr) {
    // SAFETY: plain socket(2) call; the result is checked before use.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    assert!(fd >= 0, "socket: {}", io::Error::last_os_error());
    // SAFETY: `fd` is a fresh descriptor that nothing else owns.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: all-zero is a valid sockaddr_in (INADDR_ANY, port 0) before the fields are set.
    let mut sin: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    sin.sin_family = libc::AF_INET as libc::sa_family_t;
    sin.sin_addr.s_addr = u32::from(std::net::Ipv4Addr::LOCALHOST).to_be();
    let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: `sin` is a valid sockaddr_in of `len` bytes.
    let r = unsafe { libc::bind(fd, (&raw const sin).cast(), len) };
    assert_eq!(r, 0, "bind: {}", io::Error::last_os_error());
    // SAFETY: `sin` and `len` are valid and writable; `len` holds the buffer's size.
    let r = unsafe { libc::getsockname(fd, (&raw mut sin).cast(), &mut len) };
    assert_eq!(r, 0, "getsockname: {}", io::Error::last_os_error());
    let addr = SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, u16::from_be(sin.sin_port)));
    (owned, addr)
}

/// Makes closing `fd` send a reset (RST) instead of an orderly FIN: `SO_LINGER` with a zero
/// time.
fn linger_zero(fd: RawFd) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: `linger` is a valid struct linger of the given size, alive across the call.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&raw const linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(
        r,
        0,
        "setsockopt(SO_LINGER): {}",
        io::Error::last_os_error()
    );
}

/// Whether `fd` is in non-blocking mode (`O_NONBLOCK`).
fn is_nonblocking_fd(fd: RawFd) -> bool {
    // SAFETY: fcntl(F_GETFL) only reads the flags of a descriptor the caller keeps open.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    assert!(flags >= 0, "fcntl: {}", io::Error::last_os_error());
    flags & libc::O_NONBLOCK != 0
}

/// The error kinds a reset connection may report, depending on when the RST arrived.
fn is_reset_kind(kind: io::ErrorKind) -> bool {
    matches!(
        kind,
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}

/// A stream of bytes where position `p` holds `block[p % BLOCK]`: a prime-length random block,
/// so that a lost, repeated or misplaced piece of the stream shows up as a mismatch. Filling
/// and checking are slice copies and comparisons (fast in debug builds too).
struct StreamPattern(Vec<u8>);

const BLOCK: usize = 65_521;

impl StreamPattern {
    fn new(seed: u64) -> StreamPattern {
        StreamPattern(pattern(seed, BLOCK))
    }

    fn fill(&self, mut pos: u64, buf: &mut [u8]) {
        let mut done = 0;
        while done < buf.len() {
            let off = (pos % BLOCK as u64) as usize;
            let n = (BLOCK - off).min(buf.len() - done);
            buf[done..done + n].copy_from_slice(&self.0[off..off + n]);
            done += n;
            pos += n as u64;
        }
    }

    fn matches(&self, mut pos: u64, buf: &[u8]) -> bool {
        let mut done = 0;
        while done < buf.len() {
            let off = (pos % BLOCK as u64) as usize;
            let n = (BLOCK - off).min(buf.len() - done);
            if buf[done..done + n] != self.0[off..off + n] {
                return false;
            }
            done += n;
            pos += n as u64;
        }
        true
    }
}

// ---------------------------------------------------------------------------------------------
// Scale
// ---------------------------------------------------------------------------------------------

/// 2000 connections open at once, each served by its own coroutine and driven by a client
/// coroutine (default worker count): every client sends a distinct pattern of 2–6 KiB in
/// several writes, half-closes, and must get exactly its own bytes back.
#[test]
fn two_thousand_concurrent_connections_echo_every_byte() {
    const N: usize = 2000;
    let _heavy = heavy();
    if !fd_budget(2 * N as u64 + 256) {
        return;
    }
    watchdog(|| {
        let listener = bind_backlog(4096);
        let addr = listener.local_addr().unwrap();
        let server = echo_server(listener, N);
        let (connected_tx, connected_rx) = chan::unbounded::<()>();
        let (gate_tx, gate_rx) = chan::bounded::<()>(0);
        let clients: Vec<_> = (0..N)
            .map(|i| {
                let (connected, gate) = (connected_tx.clone(), gate_rx.clone());
                go!(move || {
                    let mut rng = Rng::new(i as u64 + 1);
                    let data = pattern(10_000 + i as u64, 2048 + rng.below(4096) as usize);
                    let mut s = TcpStream::connect(addr)
                        .unwrap_or_else(|e| panic!("client {i}: connect: {e}"));
                    connected.send(()).unwrap();
                    drop(connected);
                    // No byte moves before every connection is open.
                    assert!(gate.recv().is_err());
                    write_in_pieces(&s, &data, &mut rng, 1500);
                    s.shutdown(Shutdown::Write).unwrap();
                    let mut back = Vec::with_capacity(data.len());
                    s.read_to_end(&mut back)
                        .unwrap_or_else(|e| panic!("client {i}: read: {e}"));
                    assert!(
                        back == data,
                        "client {i}: echo differs ({} bytes back, {} sent)",
                        back.len(),
                        data.len()
                    );
                    data.len() as u64
                })
            })
            .collect();
        drop(connected_tx);
        for _ in 0..N {
            connected_rx
                .recv()
                .expect("a client failed before it connected");
        }
        drop(gate_tx);
        let sent: u64 = clients
            .into_iter()
            .map(|h| h.join().expect("client panicked"))
            .sum();
        assert_eq!(server.join().expect("server panicked"), sent);
    });
}

/// 5000 connections sit idle (their server coroutines parked in `read`) while a new client
/// connects from a coroutine: it is accepted and echoed. Afterwards every idle connection is
/// still served.
#[test]
fn five_thousand_idle_connections_do_not_hold_up_a_new_client() {
    const IDLE: usize = 5000;
    let _heavy = heavy();
    if !fd_budget(2 * IDLE as u64 + 256) {
        return;
    }
    watchdog(|| {
        let listener = bind_backlog(4096);
        let addr = listener.local_addr().unwrap();
        let server = echo_server(listener, IDLE + 1);
        // Opened from this plain thread (weft's connect blocks it like std's), a batch at a
        // time: one echoed byte on each connection of a batch shows that it was accepted and
        // has its server coroutine, which is now back in `read`, waiting. (Connecting all at
        // once would only overflow the accept backlog and stall in SYN retransmits.)
        let ping = |batch: &[TcpStream], round: u8| {
            for (i, mut s) in batch.iter().enumerate() {
                s.write_all(&[i as u8 ^ round]).unwrap();
            }
            for (i, mut s) in batch.iter().enumerate() {
                let mut b = [0u8];
                s.read_exact(&mut b).unwrap();
                assert_eq!(b[0], i as u8 ^ round, "idle connection {i}");
            }
        };
        let mut idle: Vec<TcpStream> = Vec::with_capacity(IDLE);
        while idle.len() < IDLE {
            let first = idle.len();
            for i in first..(first + 100).min(IDLE) {
                idle.push(TcpStream::connect(addr).unwrap_or_else(|e| panic!("idle {i}: {e}")));
            }
            ping(&idle[first..], 0);
        }
        let newcomer = go!(move || {
            let mut s = TcpStream::connect(addr).expect("the new client connects");
            s.write_all(b"hello, still there?").unwrap();
            let mut back = [0u8; 19];
            s.read_exact(&mut back).unwrap();
            back
        });
        assert_eq!(&newcomer.join().unwrap(), b"hello, still there?");
        // Every idle connection is still served, all woken at once.
        ping(&idle, 0x5a);
        drop(idle);
        assert_eq!(server.join().unwrap(), 2 * IDLE as u64 + 19);
    });
}

/// 64 MiB each way at once over one connection. Each side has a writer and a reader coroutine;
/// the readers start late and pause now and then, so both writers keep running into full
/// socket buffers and park. One direction uses `write_all`/`read`, the other
/// `write_vectored`/`read_vectored`; every byte is checked in order.
#[test]
fn sixty_four_mib_each_way_at_once_with_backpressure() {
    const TOTAL: u64 = 64 << 20;
    let _heavy = heavy();
    watchdog(|| {
        let (a, b) = pair();
        let (a, b) = (Arc::new(a), Arc::new(b));
        let (pa, pb) = (
            Arc::new(StreamPattern::new(1)),
            Arc::new(StreamPattern::new(2)),
        );
        let writers = [
            spawn_sender(a.clone(), pa.clone(), TOTAL, false, 11),
            spawn_sender(b.clone(), pb.clone(), TOTAL, true, 12),
        ];
        let readers = [
            spawn_receiver(b, pa, false, 21),
            spawn_receiver(a, pb, true, 22),
        ];
        for w in writers {
            w.join().expect("writer panicked");
        }
        for r in readers {
            assert_eq!(r.join().expect("reader panicked"), TOTAL);
        }
    });
}

fn spawn_sender(
    s: Arc<TcpStream>,
    p: Arc<StreamPattern>,
    total: u64,
    vectored: bool,
    seed: u64,
) -> weft::thread::JoinHandle<()> {
    go!(move || {
        let mut rng = Rng::new(seed);
        let mut buf = vec![0u8; 256 << 10];
        let mut w: &TcpStream = &s;
        let mut pos = 0u64;
        while pos < total {
            let n = (1 + rng.below(buf.len() as u64)).min(total - pos) as usize;
            p.fill(pos, &mut buf[..n]);
            if vectored {
                let mid = rng.below(n as u64 + 1) as usize;
                let mut off = 0;
                while off < n {
                    let bufs = [
                        IoSlice::new(&buf[off.min(mid)..mid]),
                        IoSlice::new(&buf[off.max(mid)..n]),
                    ];
                    let k = w.write_vectored(&bufs).expect("write_vectored");
                    assert!(k > 0, "write_vectored wrote nothing");
                    off += k;
                }
            } else {
                w.write_all(&buf[..n]).expect("write_all");
            }
            pos += n as u64;
        }
        s.shutdown(Shutdown::Write).unwrap();
    })
}

fn spawn_receiver(
    s: Arc<TcpStream>,
    p: Arc<StreamPattern>,
    vectored: bool,
    seed: u64,
) -> weft::thread::JoinHandle<u64> {
    go!(move || {
        let mut rng = Rng::new(seed);
        let mut buf = vec![0u8; 128 << 10];
        let mut r: &TcpStream = &s;
        let mut pos = 0u64;
        let mut next_pause = 0u64;
        loop {
            // The writer gets ahead: it fills the socket buffers and parks.
            if pos >= next_pause {
                weft::thread::sleep(Duration::from_millis(if pos == 0 { 50 } else { 2 }));
                next_pause += 4 << 20;
            }
            let want = 1 + rng.below(buf.len() as u64) as usize;
            let k = if vectored {
                let mid = rng.below(want as u64 + 1) as usize;
                let (first, second) = buf[..want].split_at_mut(mid);
                let mut bufs = [IoSliceMut::new(first), IoSliceMut::new(second)];
                r.read_vectored(&mut bufs).expect("read_vectored")
            } else {
                r.read(&mut buf[..want]).expect("read")
            };
            if k == 0 {
                return pos;
            }
            assert!(
                p.matches(pos, &buf[..k]),
                "stream corrupted in the {k} bytes at offset {pos}"
            );
            pos += k as u64;
        }
    })
}

/// Eight coroutines accept on one listener (half through `try_clone` handles) while 400
/// client coroutines connect at once: every connection is accepted exactly once.
#[test]
fn many_acceptors_take_each_connection_exactly_once() {
    const ACCEPTORS: usize = 8;
    const CONNS: u32 = 400;
    watchdog(|| {
        let listener = Arc::new(bind_backlog(1024));
        let addr = listener.local_addr().unwrap();
        let acceptors: Vec<_> = (0..ACCEPTORS)
            .map(|k| {
                let l = if k % 2 == 0 {
                    listener.clone()
                } else {
                    Arc::new(listener.try_clone().unwrap())
                };
                go!(move || {
                    let mut ids = Vec::new();
                    loop {
                        let (mut s, _) = l.accept().expect("accept");
                        let mut id = [0u8; 4];
                        s.read_exact(&mut id).unwrap();
                        s.write_all(&id).unwrap();
                        match u32::from_le_bytes(id) {
                            u32::MAX => return ids,
                            id => ids.push(id),
                        }
                    }
                })
            })
            .collect();
        let clients: Vec<_> = (0..CONNS)
            .map(|id| {
                go!(move || {
                    let mut s = TcpStream::connect(addr).expect("connect");
                    s.write_all(&id.to_le_bytes()).unwrap();
                    let mut ack = [0u8; 4];
                    s.read_exact(&mut ack).unwrap();
                    assert_eq!(u32::from_le_bytes(ack), id);
                })
            })
            .collect();
        for c in clients {
            c.join().expect("client panicked");
        }
        // One stop message per acceptor; an acceptor returns on the first it gets.
        for _ in 0..ACCEPTORS {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(&u32::MAX.to_le_bytes()).unwrap();
            let mut ack = [0u8; 4];
            s.read_exact(&mut ack).unwrap();
        }
        let mut all: Vec<u32> = acceptors
            .into_iter()
            .flat_map(|a| a.join().expect("acceptor panicked"))
            .collect();
        all.sort_unstable();
        assert!(
            all.iter().copied().eq(0..CONNS),
            "accepted ids are not 0..{CONNS} once each: {} accepted",
            all.len()
        );
    });
}

/// `incoming()` hands out one stream per connection, in a server coroutine.
#[test]
fn incoming_yields_every_connection() {
    const N: usize = 20;
    watchdog(|| {
        let listener = bind();
        let addr = listener.local_addr().unwrap();
        let server = go!(move || {
            let mut handlers = Vec::new();
            for s in listener.incoming().take(N) {
                let s = s.expect("incoming");
                handlers.push(go!(move || echo(s).unwrap()));
            }
            handlers.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
        });
        let clients: Vec<_> = (0..N)
            .map(|i| {
                start(i % 2 == 0, move || {
                    let mut s = TcpStream::connect(addr).unwrap();
                    let msg = format!("client number {i}");
                    s.write_all(msg.as_bytes()).unwrap();
                    s.shutdown(Shutdown::Write).unwrap();
                    let mut back = String::new();
                    s.read_to_string(&mut back).unwrap();
                    assert_eq!(back, msg);
                    msg.len() as u64
                })
            })
            .collect();
        let sent: u64 = clients.into_iter().map(|c| c.join()).sum();
        assert_eq!(server.join().unwrap(), sent);
    });
}

/// A histogram of byte values.
fn histogram(hist: &mut [u64; 256], bytes: &[u8]) {
    for &b in bytes {
        hist[b as usize] += 1;
    }
}

/// Twenty coroutines and two threads read one stream at once (through `&TcpStream`): together
/// they get every byte exactly once (same byte histogram as what was sent), and every one of
/// them sees the end of file (the waiters of one socket are woken in batches).
#[test]
fn many_readers_share_one_stream() {
    const TOTAL: usize = 4 << 20;
    const READERS: usize = 22;
    watchdog(|| {
        let (client, server) = pair();
        let server = Arc::new(server);
        let readers: Vec<_> = (0..READERS)
            .map(|k| {
                let s = server.clone();
                start(k >= 20, move || {
                    let mut hist = [0u64; 256];
                    let mut buf = vec![0u8; 1 + k * 997];
                    let mut r: &TcpStream = &s;
                    loop {
                        let n = r.read(&mut buf).expect("read");
                        if n == 0 {
                            return hist;
                        }
                        histogram(&mut hist, &buf[..n]);
                    }
                })
            })
            .collect();
        let p = StreamPattern::new(99);
        let mut data = vec![0u8; TOTAL];
        p.fill(0, &mut data);
        let mut expected = [0u64; 256];
        histogram(&mut expected, &data);
        write_in_pieces(&client, &data, &mut Rng::new(3), 50_000);
        client.shutdown(Shutdown::Write).unwrap();
        let mut got = [0u64; 256];
        for r in readers {
            for (g, h) in got.iter_mut().zip(r.join()) {
                *g += h;
            }
        }
        assert!(
            got == expected,
            "the readers together did not get each byte once"
        );
    });
}

/// Twelve coroutines and two threads write to one stream at once, 1 MiB each of their own
/// byte value, faster than the peer reads (so they keep parking on the full socket): the peer
/// receives exactly 1 MiB of each value.
#[test]
fn many_writers_share_one_stream() {
    const WRITERS: usize = 14;
    const PER: usize = 1 << 20;
    watchdog(|| {
        let (client, server) = pair();
        let client = Arc::new(client);
        let writers: Vec<_> = (0..WRITERS)
            .map(|k| {
                let s = client.clone();
                start(k >= 12, move || {
                    let chunk = vec![k as u8 + 1; 24_000];
                    let mut w: &TcpStream = &s;
                    let mut left = PER;
                    while left > 0 {
                        let n = left.min(chunk.len());
                        w.write_all(&chunk[..n]).expect("write_all");
                        left -= n;
                    }
                })
            })
            .collect();
        let reader = go!(move || {
            let mut hist = [0u64; 256];
            let mut buf = vec![0u8; 16 << 10];
            let mut r: &TcpStream = &server;
            let mut next_pause = 0;
            let mut total = 0;
            loop {
                if total >= next_pause {
                    weft::thread::sleep(Duration::from_millis(if total == 0 { 30 } else { 1 }));
                    next_pause += 1 << 20;
                }
                let n = r.read(&mut buf).expect("read");
                if n == 0 {
                    return hist;
                }
                histogram(&mut hist, &buf[..n]);
                total += n;
            }
        });
        for w in writers {
            w.join();
        }
        client.shutdown(Shutdown::Write).unwrap();
        let hist = reader.join().unwrap();
        for (value, &count) in hist.iter().enumerate() {
            let want = if (1..=WRITERS).contains(&value) {
                PER as u64
            } else {
                0
            };
            assert_eq!(count, want, "bytes of value {value}");
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Timeouts
// ---------------------------------------------------------------------------------------------

fn read_timeout_case(os_thread: bool) {
    let (a, b) = pair();
    start(os_thread, move || {
        assert_eq!(a.read_timeout().unwrap(), None);
        // Whole seconds survive the kernel's rounding to clock ticks.
        a.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        assert_eq!(a.read_timeout().unwrap(), Some(Duration::from_secs(3)));
        a.set_read_timeout(Some(Duration::from_millis(40))).unwrap();
        let set = a.read_timeout().unwrap().expect("a read timeout is set");
        assert!(set >= Duration::from_millis(40), "{set:?}");
        let mut buf = [0u8; 16];
        let err = (&a).read(&mut buf).expect_err("nothing to read: times out");
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock, "read: {err:?}");
        let err = a.peek(&mut buf).expect_err("nothing to peek: times out");
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock, "peek: {err:?}");
        // The stream still works after a timeout.
        (&b).write_all(b"late").unwrap();
        (&a).read_exact(&mut buf[..4]).unwrap();
        assert_eq!(&buf[..4], b"late");
        a.set_read_timeout(None).unwrap();
        assert_eq!(a.read_timeout().unwrap(), None);
    })
    .join();
}

#[test]
fn read_timeout_fails_with_would_block_in_a_coroutine() {
    watchdog(|| read_timeout_case(false));
}

#[test]
fn read_timeout_fails_with_would_block_on_a_thread() {
    watchdog(|| read_timeout_case(true));
}

/// The timeout lives in the socket (std's semantics) although weft caches it per handle: one
/// set through a clone after the original has already waited (and so read its timeout) bounds
/// the original's next wait; one set on a std socket before it is taken over bounds weft's
/// waits; one set through weft bounds std's after the conversion back.
fn timeouts_follow_the_socket_case(os_thread: bool) {
    let (a, b) = pair();
    start(os_thread, move || {
        let mut buf = [0u8; 4];
        // A wait without a timeout, ended by data: the handle has now looked at its timeout.
        let writer = std::thread::spawn({
            let b = b.try_clone().unwrap();
            move || {
                std::thread::sleep(Duration::from_millis(20));
                (&b).write_all(b"ping").unwrap();
            }
        });
        (&a).read_exact(&mut buf).unwrap();
        writer.join().unwrap();
        let clone = a.try_clone().unwrap();
        clone
            .set_read_timeout(Some(Duration::from_millis(30)))
            .unwrap();
        let err = (&a)
            .read(&mut buf)
            .expect_err("times out through the clone's timeout");
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        clone.set_read_timeout(None).unwrap();

        // Set on a std conversion of a clone, after the original has read its timeout.
        let std_clone = std::net::TcpStream::from(a.try_clone().unwrap());
        std_clone
            .set_read_timeout(Some(Duration::from_millis(30)))
            .unwrap();
        let err = (&a)
            .read(&mut buf)
            .expect_err("times out through std's clone");
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        std_clone.set_read_timeout(None).unwrap();
        drop(std_clone);

        // Set on std, then taken over.
        let std_b = std::net::TcpStream::from(b);
        std_b
            .set_read_timeout(Some(Duration::from_millis(30)))
            .unwrap();
        let b = TcpStream::from(std_b);
        let err = (&b)
            .read(&mut buf)
            .expect_err("times out through std's timeout");
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);

        // Set through weft, then given back.
        b.set_read_timeout(Some(Duration::from_millis(30))).unwrap();
        let mut std_b = std::net::TcpStream::from(b);
        let err = std_b.read(&mut buf).expect_err("std times out too");
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        drop(a);
    })
    .join();
}

#[test]
fn timeouts_follow_the_socket_in_a_coroutine() {
    watchdog(|| timeouts_follow_the_socket_case(false));
}

#[test]
fn timeouts_follow_the_socket_on_a_thread() {
    watchdog(|| timeouts_follow_the_socket_case(true));
}

fn write_timeout_case(os_thread: bool) {
    // `b` reads nothing until `a`'s write timed out.
    let (a, b) = pair();
    let written = start(os_thread, move || {
        assert_eq!(a.write_timeout().unwrap(), None);
        a.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
        assert_eq!(a.write_timeout().unwrap(), Some(Duration::from_secs(2)));
        a.set_write_timeout(Some(Duration::from_millis(40)))
            .unwrap();
        let chunk = vec![0xa5u8; 64 << 10];
        let mut written = 0u64;
        let err = loop {
            match (&a).write(&chunk) {
                Ok(n) => written += n as u64,
                Err(e) => break e,
            }
        };
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock, "write: {err:?}");
        assert!(written > 0);
        a.set_write_timeout(None).unwrap();
        assert_eq!(a.write_timeout().unwrap(), None);
        a.shutdown(Shutdown::Write).unwrap();
        written
    })
    .join();
    // The timed-out write sent nothing: the peer gets exactly what the successful writes
    // reported.
    let mut b = b;
    let mut got = 0u64;
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = b.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        assert!(buf[..n].iter().all(|&x| x == 0xa5));
        got += n as u64;
    }
    assert_eq!(got, written);
}

#[test]
fn write_timeout_fails_with_would_block_in_a_coroutine() {
    watchdog(|| write_timeout_case(false));
}

#[test]
fn write_timeout_fails_with_would_block_on_a_thread() {
    watchdog(|| write_timeout_case(true));
}

#[test]
fn zero_timeouts_are_invalid_input() {
    watchdog(|| {
        let (a, _b) = pair();
        a.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        let err = a.set_read_timeout(Some(Duration::ZERO)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        let err = a.set_write_timeout(Some(Duration::ZERO)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        // A rejected value changes nothing.
        assert_eq!(a.read_timeout().unwrap(), Some(Duration::from_secs(1)));
        assert_eq!(a.write_timeout().unwrap(), None);
        let addr = a.peer_addr().unwrap();
        let err = TcpStream::connect_timeout(&addr, Duration::ZERO).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    });
}

/// Reads with a 1 ms timeout while bytes arrive at random moments around it: each wait ends
/// by data or by `WouldBlock` (its waiter entry withdrawn), and no byte is lost or repeated.
fn timeout_race_case(os_thread: bool) {
    const N: usize = 200;
    let (client, server) = pair();
    let reader = start(os_thread, move || {
        server
            .set_read_timeout(Some(Duration::from_millis(1)))
            .unwrap();
        let mut got = Vec::with_capacity(N);
        let mut buf = [0u8; 64];
        while got.len() < N {
            match (&server).read(&mut buf) {
                Ok(0) => panic!("end of file after {} bytes", got.len()),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("read: {e}"),
            }
        }
        got
    });
    let mut rng = Rng::new(5);
    for i in 0..N {
        std::thread::sleep(Duration::from_micros(rng.below(2500)));
        (&client).write_all(&[i as u8]).unwrap();
    }
    let got = reader.join();
    assert!(
        got.iter().copied().eq((0..N).map(|i| i as u8)),
        "bytes lost, repeated or reordered: {got:?}"
    );
}

#[test]
fn read_timeouts_racing_with_data_lose_nothing_in_a_coroutine() {
    watchdog(|| timeout_race_case(false));
}

#[test]
fn read_timeouts_racing_with_data_lose_nothing_on_a_thread() {
    watchdog(|| timeout_race_case(true));
}

// ---------------------------------------------------------------------------------------------
// Connecting
// ---------------------------------------------------------------------------------------------

fn connect_case(os_thread: bool) {
    let (_hold, refused) = refusing_addr();
    let listener = bind();
    let good = listener.local_addr().unwrap();
    let accepter = std::thread::spawn(move || {
        // Accepts the connections of the client below, each echoing one message.
        for _ in 0..3 {
            let (s, _) = listener.accept().unwrap();
            echo(s).unwrap();
        }
    });
    start(os_thread, move || {
        let err = TcpStream::connect(refused).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err:?}");
        let err = TcpStream::connect_timeout(&refused, Duration::from_secs(10)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err:?}");
        // Addresses are tried in order; the first that connects wins.
        let s = TcpStream::connect(&[refused, good][..]).unwrap();
        assert_eq!(s.peer_addr().unwrap(), good);
        roundtrip(s, b"first");
        // Only refusing addresses: the last error is returned.
        let err = TcpStream::connect(&[refused, refused][..]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err:?}");
        let s = TcpStream::connect_timeout(&good, Duration::from_secs(10)).unwrap();
        assert_eq!(s.peer_addr().unwrap(), good);
        roundtrip(s, b"second");
        let s = TcpStream::connect(good).unwrap();
        roundtrip(s, b"third");
        let err = TcpStream::connect_timeout(&good, Duration::ZERO).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    })
    .join();
    accepter.join().unwrap();
}

/// Sends `msg` to an echo server, half-closes and checks the echo.
fn roundtrip(mut s: TcpStream, msg: &[u8]) {
    s.write_all(msg).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut back = Vec::new();
    s.read_to_end(&mut back).unwrap();
    assert_eq!(back, msg);
}

#[test]
fn connect_refused_and_connect_timeout_in_a_coroutine() {
    watchdog(|| connect_case(false));
}

#[test]
fn connect_refused_and_connect_timeout_on_a_thread() {
    watchdog(|| connect_case(true));
}

/// `connect_timeout` gives up with `TimedOut`, on loopback: a listener with backlog 0 that
/// never accepts has a full accept queue after one connection, and the kernel drops further
/// SYNs, so their handshakes cannot complete in time.
fn connect_timeout_case(os_thread: bool) {
    let listener = bind_backlog(0);
    let addr = listener.local_addr().unwrap();
    let queued = start(os_thread, move || {
        let mut queued = Vec::new();
        for _ in 0..16 {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(100)) {
                Ok(s) => queued.push(s),
                Err(e) => {
                    assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e:?}");
                    return queued.len();
                }
            }
        }
        panic!("16 connects to a listener that never accepts all succeeded");
    })
    .join();
    assert!(
        queued >= 1,
        "not even the first connection fit in the backlog"
    );
    drop(listener);
}

#[test]
fn connect_timeout_times_out_in_a_coroutine() {
    watchdog(|| connect_timeout_case(false));
}

#[test]
fn connect_timeout_times_out_on_a_thread() {
    watchdog(|| connect_timeout_case(true));
}

// ---------------------------------------------------------------------------------------------
// Resets and half-closes
// ---------------------------------------------------------------------------------------------

fn reset_while_reading_case(os_thread: bool) {
    let (client, server) = pair();
    let reader = start(os_thread, move || {
        let mut buf = [0u8; 64];
        let first = (&client).read(&mut buf);
        // Once the error is reported the socket is dead: further reads end at once.
        let second = (&client).read(&mut buf);
        (first.map_err(|e| e.kind()), second.map_err(|e| e.kind()))
    });
    std::thread::sleep(Duration::from_millis(30)); // the reader is most likely waiting by now
    linger_zero(server.as_raw_fd());
    drop(server);
    let (first, second) = reader.join();
    match first {
        Err(kind) => assert!(is_reset_kind(kind), "read after a reset: {kind:?}"),
        Ok(n) => panic!("read after a reset returned Ok({n})"),
    }
    assert!(
        matches!(second, Ok(0) | Err(_)),
        "second read after a reset: {second:?}"
    );
}

#[test]
fn peer_reset_fails_a_waiting_read_in_a_coroutine() {
    watchdog(|| reset_while_reading_case(false));
}

#[test]
fn peer_reset_fails_a_waiting_read_on_a_thread() {
    watchdog(|| reset_while_reading_case(true));
}

fn reset_while_writing_case(os_thread: bool) {
    let (client, server) = pair();
    let progress = Arc::new(AtomicU64::new(0));
    let p = progress.clone();
    let writer = start(os_thread, move || {
        let chunk = vec![1u8; 64 << 10];
        loop {
            match (&client).write(&chunk) {
                Ok(n) => p.fetch_add(n as u64, Ordering::Relaxed),
                Err(e) => return e.kind(),
            };
        }
    });
    // Let the writer fill the buffers (and most likely park), then reset.
    while progress.load(Ordering::Relaxed) < (1 << 20) {
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(30));
    linger_zero(server.as_raw_fd());
    drop(server);
    let kind = writer.join();
    assert!(is_reset_kind(kind), "write after a reset: {kind:?}");
}

#[test]
fn peer_reset_fails_a_waiting_write_in_a_coroutine() {
    watchdog(|| reset_while_writing_case(false));
}

#[test]
fn peer_reset_fails_a_waiting_write_on_a_thread() {
    watchdog(|| reset_while_writing_case(true));
}

fn half_close_case(os_thread: bool) {
    let listener = bind();
    let addr = listener.local_addr().unwrap();
    let server = go!(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut request = Vec::new();
        s.read_to_end(&mut request).unwrap();
        // End of file stays end of file.
        assert_eq!(s.read(&mut [0u8; 8]).unwrap(), 0);
        // The other half still works: the reply goes out after the request ended.
        let reply: Vec<u8> = request.iter().rev().copied().collect();
        s.write_all(&reply).unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        request.len()
    });
    let request = pattern(77, 100_000);
    let expected: Vec<u8> = request.iter().rev().copied().collect();
    let reply = start(os_thread, move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(&request).unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        let err = (&s)
            .write(b"more")
            .expect_err("writing after shutdown(Write)");
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe, "{err:?}");
        let mut reply = Vec::new();
        s.read_to_end(&mut reply).unwrap();
        reply
    })
    .join();
    assert_eq!(server.join().unwrap(), 100_000);
    assert!(reply == expected, "reply differs ({} bytes)", reply.len());
}

#[test]
fn half_close_from_a_coroutine_client() {
    watchdog(|| half_close_case(false));
}

#[test]
fn half_close_from_a_thread_client() {
    watchdog(|| half_close_case(true));
}

/// `shutdown` through a clone ends a read that waits on the other handle (end of file), the
/// usual way to stop a blocked reader.
fn shutdown_wakes_reader_case(os_thread: bool) {
    let (client, _server) = pair();
    let clone = client.try_clone().unwrap();
    let reading = Arc::new(AtomicBool::new(false));
    let r = reading.clone();
    let reader = start(os_thread, move || {
        r.store(true, Ordering::Release);
        let mut buf = [0u8; 16];
        (&client).read(&mut buf).map_err(|e| e.kind())
    });
    while !reading.load(Ordering::Acquire) {
        std::thread::yield_now();
    }
    std::thread::sleep(Duration::from_millis(20));
    clone.shutdown(Shutdown::Both).unwrap();
    assert_eq!(reader.join(), Ok(0));
}

#[test]
fn shutdown_ends_a_waiting_read_in_a_coroutine() {
    watchdog(|| shutdown_wakes_reader_case(false));
}

#[test]
fn shutdown_ends_a_waiting_read_on_a_thread() {
    watchdog(|| shutdown_wakes_reader_case(true));
}

// ---------------------------------------------------------------------------------------------
// std interop
// ---------------------------------------------------------------------------------------------

/// Plain `std::net` clients on OS threads against a weft server whose connections are served
/// by coroutines.
#[test]
fn std_clients_against_a_weft_server() {
    const THREADS: usize = 8;
    const PER_THREAD: usize = 4;
    watchdog(|| {
        let listener = bind();
        let addr = listener.local_addr().unwrap();
        let server = echo_server(listener, THREADS * PER_THREAD);
        let clients: Vec<_> = (0..THREADS)
            .map(|t| {
                std::thread::spawn(move || {
                    let mut total = 0;
                    for c in 0..PER_THREAD {
                        let seed = (t * PER_THREAD + c) as u64;
                        let data = pattern(seed, 20_000 + 1000 * c);
                        let mut s = std::net::TcpStream::connect(addr).unwrap();
                        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                        let mut rng = Rng::new(seed);
                        write_in_pieces(&s, &data, &mut rng, 3000);
                        s.shutdown(Shutdown::Write).unwrap();
                        let mut back = Vec::new();
                        s.read_to_end(&mut back).unwrap();
                        assert!(back == data, "std client {t}/{c}: echo differs");
                        total += data.len() as u64;
                    }
                    total
                })
            })
            .collect();
        let sent: u64 = clients.into_iter().map(|c| c.join().unwrap()).sum();
        assert_eq!(server.join().unwrap(), sent);
    });
}

/// weft clients in coroutines against a `std::net` server with a thread per connection.
#[test]
fn weft_clients_against_a_std_server() {
    const N: usize = 16;
    watchdog(|| {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let handlers: Vec<_> = (0..N)
                .map(|_| {
                    let (mut s, _) = listener.accept().unwrap();
                    std::thread::spawn(move || {
                        let mut total = 0u64;
                        let mut buf = vec![0u8; 8192];
                        loop {
                            let n = s.read(&mut buf).unwrap();
                            if n == 0 {
                                return total;
                            }
                            s.write_all(&buf[..n]).unwrap();
                            total += n as u64;
                        }
                    })
                })
                .collect();
            handlers.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
        });
        let clients: Vec<_> = (0..N)
            .map(|i| {
                go!(move || {
                    let data = pattern(500 + i as u64, 16_384 + 97 * i);
                    let mut s = TcpStream::connect(addr).unwrap();
                    let mut rng = Rng::new(i as u64);
                    write_in_pieces(&s, &data, &mut rng, 2000);
                    s.shutdown(Shutdown::Write).unwrap();
                    let mut back = Vec::new();
                    s.read_to_end(&mut back).unwrap();
                    assert!(back == data, "weft client {i}: echo differs");
                    data.len() as u64
                })
            })
            .collect();
        let sent: u64 = clients.into_iter().map(|c| c.join().unwrap()).sum();
        assert_eq!(server.join().unwrap(), sent);
    });
}

/// `From<std::net::TcpStream>` and back: the weft stream parks coroutines; the std stream
/// given back is blocking again (a read with a read timeout waits for late data) unless
/// `set_nonblocking(true)` was called. The same for the listener, and through `OwnedFd`.
#[test]
fn std_conversions_round_trip() {
    watchdog(|| {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = std_listener.local_addr().unwrap();
        let mut std_peer = std::net::TcpStream::connect(addr).unwrap();
        let (std_stream, _) = std_listener.accept().unwrap();
        assert!(!is_nonblocking_fd(std_stream.as_raw_fd()));

        let stream = TcpStream::from(std_stream);
        let fd = stream.as_raw_fd();
        // Used from a coroutine, with a wait (the stream gets registered with the driver).
        let stream = go!(move || {
            let mut buf = [0u8; 5];
            (&stream).read_exact(&mut buf).unwrap();
            assert_eq!(&buf, b"hello");
            (&stream).write_all(b"world").unwrap();
            stream
        });
        std::thread::sleep(Duration::from_millis(20));
        std_peer.write_all(b"hello").unwrap();
        let stream = stream.join().unwrap();
        let mut buf = [0u8; 5];
        std_peer.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"world");

        let mut back: std::net::TcpStream = stream.into();
        assert_eq!(back.as_raw_fd(), fd);
        assert!(
            !is_nonblocking_fd(fd),
            "the std stream given back is non-blocking"
        );
        // A blocking read with a timeout: it waits for data that comes late...
        back.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            std_peer.write_all(b"late").unwrap();
            std_peer
        });
        let mut buf = [0u8; 4];
        back.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"late");
        let std_peer = writer.join().unwrap();
        // ...and when nothing comes, fails with std's timeout error.
        back.set_read_timeout(Some(Duration::from_millis(30)))
            .unwrap();
        let err = back.read(&mut buf).unwrap_err();
        assert!(
            matches!(
                err.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ),
            "{err:?}"
        );

        // A stream the user made non-blocking goes back non-blocking.
        let weft_again = TcpStream::from(back);
        weft_again.set_nonblocking(true).unwrap();
        let back: std::net::TcpStream = weft_again.into();
        assert!(is_nonblocking_fd(back.as_raw_fd()));

        // Through OwnedFd.
        let owned: OwnedFd = TcpStream::from(back).into();
        let weft_from_owned = TcpStream::from(owned);
        // weft never changes a stream's mode (IO3): still non-blocking, and reads still wait
        // by parking.
        assert!(is_nonblocking_fd(weft_from_owned.as_raw_fd()));
        (&std_peer).write_all(b"x").unwrap();
        let mut one = [0u8];
        (&weft_from_owned).read_exact(&mut one).unwrap();
        assert_eq!(&one, b"x");

        // The listener: std -> weft, accept in a coroutine, weft -> std (blocking again).
        let listener = TcpListener::from(std_listener);
        let listener = go!(move || {
            let (s, peer) = listener.accept().unwrap();
            assert_eq!(s.local_addr().unwrap(), addr);
            drop((s, peer));
            listener
        });
        std::thread::sleep(Duration::from_millis(20));
        let _c = std::net::TcpStream::connect(addr).unwrap();
        let listener = listener.join().unwrap();
        let std_listener: std::net::TcpListener = listener.into();
        assert!(!is_nonblocking_fd(std_listener.as_raw_fd()));
        let _c2 = std::net::TcpStream::connect(addr).unwrap();
        std_listener.accept().unwrap();
    });
}

/// `into_raw_fd` then `from_raw_fd` keeps the connection, for a stream and a listener that
/// were waited on in coroutines before (registered with the driver) and are waited on again
/// afterwards.
#[test]
fn raw_fd_round_trip() {
    watchdog(|| {
        let listener = bind();
        let addr = listener.local_addr().unwrap();
        let (client, server) = pair();
        let first = go!(move || {
            // A wait in accept and in read, in a coroutine: both get registered.
            let (s1, _) = listener.accept().unwrap();
            let mut buf = [0u8; 3];
            (&server).read_exact(&mut buf).unwrap();
            assert_eq!(&buf, b"one");
            let (lfd, sfd) = (listener.as_raw_fd(), server.as_raw_fd());
            let (lraw, sraw) = (listener.into_raw_fd(), server.into_raw_fd());
            assert_eq!((lraw, sraw), (lfd, sfd));
            // Given back in blocking mode, as a std socket would be.
            assert!(!is_nonblocking_fd(lraw) && !is_nonblocking_fd(sraw));
            // SAFETY: both descriptors came from `into_raw_fd` just above and are owned here.
            let back = unsafe { (TcpListener::from_raw_fd(lraw), TcpStream::from_raw_fd(sraw)) };
            (back, s1)
        });
        std::thread::sleep(Duration::from_millis(20));
        let c1 = TcpStream::connect(addr).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        (&client).write_all(b"one").unwrap();
        let ((listener, server), _s1) = first.join().unwrap();

        let second = go!(move || {
            // Waits again after the round trip.
            let (s2, _) = listener.accept().unwrap();
            let mut buf = [0u8; 3];
            (&server).read_exact(&mut buf).unwrap();
            (buf, s2)
        });
        std::thread::sleep(Duration::from_millis(20));
        let c2 = TcpStream::connect(addr).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        (&client).write_all(b"two").unwrap();
        let (buf, s2) = second.join().unwrap();
        assert_eq!(&buf, b"two");
        assert_eq!(s2.peer_addr().unwrap(), c2.local_addr().unwrap());
        drop(c1);
    });
}

// ---------------------------------------------------------------------------------------------
// Modes, options and handles
// ---------------------------------------------------------------------------------------------

fn nonblocking_case(os_thread: bool) {
    let listener = bind();
    let addr = listener.local_addr().unwrap();
    start(os_thread, move || {
        listener.set_nonblocking(true).unwrap();
        let err = listener.accept().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock, "accept: {err:?}");
        let client = TcpStream::connect(addr).unwrap();
        let server = loop {
            match listener.accept() {
                Ok((s, _)) => break s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    weft::thread::sleep(Duration::from_millis(1))
                }
                Err(e) => panic!("accept: {e}"),
            }
        };
        // The accepted stream waits, whatever the listener's mode.
        let late = std::thread::spawn({
            let c = client.try_clone().unwrap();
            move || {
                std::thread::sleep(Duration::from_millis(30));
                (&c).write_all(b"waited").unwrap();
            }
        });
        let mut buf = [0u8; 6];
        (&server).read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"waited");
        late.join().unwrap();

        server.set_nonblocking(true).unwrap();
        let err = (&server).read(&mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock, "read: {err:?}");
        let err = server.peek(&mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock, "peek: {err:?}");
        (&client).write_all(b"abc").unwrap();
        let n = loop {
            match (&server).read(&mut buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    weft::thread::sleep(Duration::from_millis(1))
                }
                Err(e) => panic!("read: {e}"),
            }
        };
        assert_eq!(&buf[..n], &b"abc"[..n]);
        // A non-blocking writer gets WouldBlock once the buffers are full, without waiting.
        let chunk = vec![0u8; 64 << 10];
        let err = loop {
            if let Err(e) = (&server).write(&chunk) {
                break e;
            }
        };
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock, "write: {err:?}");

        // Back to blocking: accept waits for a late connection.
        listener.set_nonblocking(false).unwrap();
        let late = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            TcpStream::connect(addr).unwrap()
        });
        let (s, _) = listener.accept().expect("blocking accept");
        let c = late.join().unwrap();
        assert_eq!(s.peer_addr().unwrap(), c.local_addr().unwrap());
    })
    .join();
}

#[test]
fn nonblocking_mode_returns_would_block_in_a_coroutine() {
    watchdog(|| nonblocking_case(false));
}

#[test]
fn nonblocking_mode_returns_would_block_on_a_thread() {
    watchdog(|| nonblocking_case(true));
}

/// `peek` returns queued data without consuming it, and waits (parks) when there is none.
#[test]
fn peek_does_not_consume() {
    watchdog(|| {
        let (client, server) = pair();
        let peeker = go!(move || {
            let mut buf = [0u8; 11];
            // Waits for the data.
            let mut n = server.peek(&mut buf[..5]).unwrap();
            assert!(n >= 1 && buf[..n] == b"hello"[..n], "{:?}", &buf[..n]);
            while n < 11 {
                n = server.peek(&mut buf).unwrap();
            }
            assert_eq!(&buf, b"hello world");
            assert_eq!(server.peek(&mut buf).unwrap(), 11);
            let mut all = [0u8; 11];
            (&server).read_exact(&mut all).unwrap();
            assert_eq!(&all, b"hello world");
            // Consumed now: a peek would wait.
            server.set_nonblocking(true).unwrap();
            let err = server.peek(&mut buf).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        });
        std::thread::sleep(Duration::from_millis(20));
        (&client).write_all(b"hello world").unwrap();
        peeker.join().unwrap();
    });
}

/// A `try_clone` is the same socket: one coroutine writes through the clone while another
/// reads the echo through the original; timeouts are shared; the clone's non-blocking flag
/// is its own (documented difference from std).
#[test]
fn try_clone_shares_the_socket() {
    const LEN: usize = 1 << 20;
    watchdog(|| {
        let listener = bind();
        let addr = listener.local_addr().unwrap();
        let server = echo_server(listener, 1);
        let original = TcpStream::connect(addr).unwrap();
        let clone = original.try_clone().unwrap();
        assert_ne!(original.as_raw_fd(), clone.as_raw_fd());
        assert_eq!(original.local_addr().unwrap(), clone.local_addr().unwrap());
        assert_eq!(original.peer_addr().unwrap(), clone.peer_addr().unwrap());
        original
            .set_read_timeout(Some(Duration::from_secs(7)))
            .unwrap();
        assert_eq!(clone.read_timeout().unwrap(), Some(Duration::from_secs(7)));
        original.set_read_timeout(None).unwrap();

        let data = Arc::new(pattern(4242, LEN));
        let d = data.clone();
        let writer = go!(move || {
            let mut rng = Rng::new(9);
            write_in_pieces(&clone, &d, &mut rng, 20_000);
            clone.shutdown(Shutdown::Write).unwrap();
            clone
        });
        let reader = go!(move || {
            let mut back = Vec::with_capacity(LEN);
            (&original).read_to_end(&mut back).unwrap();
            (back, original)
        });
        let (back, original) = reader.join().unwrap();
        let clone = writer.join().unwrap();
        assert!(back == *data, "echo through the clone differs");
        assert_eq!(server.join().unwrap(), LEN as u64);

        // The non-blocking flag belongs to the handle.
        original.set_nonblocking(true).unwrap();
        let fresh = original.try_clone().unwrap();
        let mut b = [0u8];
        assert_eq!((&original).read(&mut b).unwrap(), 0); // end of file: never WouldBlock
        assert_eq!((&fresh).read(&mut b).unwrap(), 0);
        drop(clone);
    });
}

/// The non-blocking flag of one handle does not leak into a clone made from it: the clone's
/// read waits for late data.
#[test]
fn try_clone_of_a_nonblocking_stream_blocks() {
    watchdog(|| {
        let (client, server) = pair();
        server.set_nonblocking(true).unwrap();
        let clone = server.try_clone().unwrap();
        let mut b = [0u8; 4];
        let err = (&server).read(&mut b).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        let reader = go!(move || {
            let mut b = [0u8; 4];
            (&clone).read_exact(&mut b).map(|()| b)
        });
        std::thread::sleep(Duration::from_millis(30));
        (&client).write_all(b"wait").unwrap();
        assert_eq!(&reader.join().unwrap().unwrap(), b"wait");
    });
}

/// Closing a handle that is registered with the driver leaves a clone, waiting in another
/// coroutine at that moment, working (D3: only the closed descriptor leaves epoll). A new
/// socket that may reuse the closed descriptor's number and driver slot works too.
#[test]
fn closing_a_registered_handle_leaves_its_clone_working() {
    watchdog(|| {
        let (client, server) = pair();
        let clone = server.try_clone().unwrap();
        // A wait in a coroutine registers the original.
        let server = go!(move || {
            let mut b = [0u8; 1];
            (&server).read_exact(&mut b).unwrap();
            server
        });
        std::thread::sleep(Duration::from_millis(20));
        (&client).write_all(b"a").unwrap();
        let server = server.join().unwrap();
        let reader = go!(move || {
            let mut b = [0u8; 5];
            (&clone).read_exact(&mut b).unwrap();
            b
        });
        std::thread::sleep(Duration::from_millis(20));
        drop(server);
        std::thread::sleep(Duration::from_millis(20));
        (&client).write_all(b"after").unwrap();
        assert_eq!(&reader.join().unwrap(), b"after");

        let (c2, s2) = pair();
        let reader = go!(move || {
            let mut b = [0u8; 3];
            (&s2).read_exact(&mut b).unwrap();
            b
        });
        std::thread::sleep(Duration::from_millis(20));
        (&c2).write_all(b"new").unwrap();
        assert_eq!(&reader.join().unwrap(), b"new");
    });
}

#[test]
fn socket_options_round_trip() {
    watchdog(|| {
        let listener = bind();
        let (client, server) = pair();
        for s in [&client, &server] {
            s.set_nodelay(true).unwrap();
            assert!(s.nodelay().unwrap());
            s.set_nodelay(false).unwrap();
            assert!(!s.nodelay().unwrap());
            s.set_ttl(77).unwrap();
            assert_eq!(s.ttl().unwrap(), 77);
            assert!(s.take_error().unwrap().is_none());
        }
        assert_eq!(client.peer_addr().unwrap(), server.local_addr().unwrap());
        assert_eq!(client.local_addr().unwrap(), server.peer_addr().unwrap());
        listener.set_ttl(42).unwrap();
        assert_eq!(listener.ttl().unwrap(), 42);
        assert!(listener.take_error().unwrap().is_none());
        let dbg = format!("{client:?} {listener:?}");
        assert!(
            dbg.contains("TcpStream") && dbg.contains("TcpListener"),
            "{dbg}"
        );
    });
}

// ---------------------------------------------------------------------------------------------
// Child processes
// ---------------------------------------------------------------------------------------------

/// Child: one worker. A coroutine waiting in `read`, `accept` or `write` must park, or the
/// other coroutine (which unblocks it, on the same only worker) could never run. The
/// unblocking coroutine then keeps the worker busy (yields only) until the first one has its
/// data: the I/O is collected without the worker ever going idle.
#[test]
fn child_one_worker_io() {
    if !child_is("one-worker-io") {
        return;
    }
    with_timeout(20, || {
        let worker = || std::thread::current().name().unwrap_or("?").to_owned();

        // read
        let (client, server) = pair();
        let waiting = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicBool::new(false));
        let (w, d) = (waiting.clone(), done.clone());
        let reader = go!(move || {
            w.store(true, Ordering::SeqCst);
            let mut buf = [0u8; 5];
            (&server).read_exact(&mut buf).unwrap();
            d.store(true, Ordering::SeqCst);
            (buf, worker())
        });
        let (w, d) = (waiting.clone(), done.clone());
        let unblocker = go!(move || {
            while !w.load(Ordering::SeqCst) {
                weft::thread::yield_now();
            }
            // One worker: the reader is not running, so it is parked in `read`.
            assert!(!d.load(Ordering::SeqCst));
            (&client).write_all(b"ready").unwrap();
            while !d.load(Ordering::SeqCst) {
                weft::thread::yield_now();
            }
            (client, worker())
        });
        let (buf, reader_worker) = reader.join().unwrap();
        let (_client, unblocker_worker) = unblocker.join().unwrap();
        assert_eq!(&buf, b"ready");
        assert_eq!(reader_worker, unblocker_worker);
        child_report("read", "parked");

        // accept
        let listener = bind();
        let addr = listener.local_addr().unwrap();
        let waiting = Arc::new(AtomicBool::new(false));
        let w = waiting.clone();
        let acceptor = go!(move || {
            w.store(true, Ordering::SeqCst);
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 2];
            s.read_exact(&mut buf).unwrap();
            buf
        });
        let connector = go!(move || {
            while !waiting.load(Ordering::SeqCst) {
                weft::thread::yield_now();
            }
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(b"hi").unwrap();
            s
        });
        assert_eq!(&acceptor.join().unwrap(), b"hi");
        drop(connector.join().unwrap());
        child_report("accept", "parked");

        // write: far more than the socket buffers hold, so the writer must park.
        const TOTAL: usize = 32 << 20;
        let (client, server) = pair();
        let writing = Arc::new(AtomicBool::new(false));
        let written = Arc::new(AtomicBool::new(false));
        let (w, d) = (writing.clone(), written.clone());
        let writer = go!(move || {
            w.store(true, Ordering::SeqCst);
            (&client).write_all(&vec![3u8; TOTAL]).unwrap();
            d.store(true, Ordering::SeqCst);
            client.shutdown(Shutdown::Write).unwrap();
        });
        let drainer = go!(move || {
            while !writing.load(Ordering::SeqCst) {
                weft::thread::yield_now();
            }
            assert!(
                !written.load(Ordering::SeqCst),
                "32 MiB fit without a reader"
            );
            let mut got = 0;
            let mut buf = vec![0u8; 1 << 16];
            loop {
                let n = (&server).read(&mut buf).unwrap();
                if n == 0 {
                    return got;
                }
                assert!(buf[..n].iter().all(|&b| b == 3));
                got += n;
            }
        });
        writer.join().unwrap();
        assert_eq!(drainer.join().unwrap(), TOTAL);
        child_report("write", "parked");
        child_report("workers", worker_threads().len());
    });
}

#[test]
fn a_coroutine_waiting_for_io_leaves_its_only_worker_to_others() {
    watchdog(|| {
        let out = run_child_with_timeout(
            "child_one_worker_io",
            "one-worker-io",
            &[("WEFT_WORKERS", "1")],
            30,
        );
        out.assert_success();
        assert_eq!(out.stdout_value("read"), "parked");
        assert_eq!(out.stdout_value("accept"), "parked");
        assert_eq!(out.stdout_value("write"), "parked");
        assert_eq!(out.stdout_value("workers"), "1");
    });
}

/// Child: sockets used only from plain threads work like std's (blocking accept, read with a
/// timeout, echo) and never start the runtime (no worker thread appears).
#[test]
fn child_plain_threads_only() {
    if !child_is("plain-threads") {
        return;
    }
    with_timeout(20, || {
        let listener = bind();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (s, _) = listener.accept().unwrap();
            echo(s).unwrap()
        });
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        let err = c.read(&mut [0u8; 4]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        c.set_read_timeout(None).unwrap();
        c.write_all(b"ping").unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let mut back = String::new();
        c.read_to_string(&mut back).unwrap();
        assert_eq!(back, "ping");
        assert_eq!(server.join().unwrap(), 4);
        child_report("workers", worker_threads().len());
    });
}

#[test]
fn sockets_on_plain_threads_do_not_start_the_runtime() {
    watchdog(|| {
        let out = run_child_with_timeout("child_plain_threads_only", "plain-threads", &[], 30);
        out.assert_success();
        assert_eq!(out.stdout_value("workers"), "0");
    });
}

fn worker_name() -> String {
    std::thread::current().name().unwrap_or("?").to_owned()
}

/// Child: two workers, one of them taken by a coroutine that never parks (a CPU-bound loop,
/// started first). A server coroutine, which can then only run on the other worker, still
/// serves 200 echo round trips to a client thread.
#[test]
fn child_busy_worker() {
    if !child_is("busy-worker") {
        return;
    }
    with_timeout(20, || {
        let done = Arc::new(AtomicBool::new(false));
        let (name_tx, name_rx) = chan::bounded(2);
        let (d, tx) = (done.clone(), name_tx.clone());
        let hog = go!(move || {
            tx.send(worker_name()).unwrap();
            while !d.load(Ordering::Acquire) {
                std::hint::spin_loop();
            }
        });
        let hog_worker = name_rx.recv().unwrap();
        let listener = bind();
        let addr = listener.local_addr().unwrap();
        let server = go!(move || {
            name_tx.send(worker_name()).unwrap();
            let (s, _) = listener.accept().unwrap();
            echo(s).unwrap()
        });
        let server_worker = name_rx.recv().unwrap();
        assert_ne!(hog_worker, server_worker);
        let mut c = TcpStream::connect(addr).unwrap();
        for i in 0..200u32 {
            c.write_all(&i.to_le_bytes()).unwrap();
            let mut b = [0u8; 4];
            c.read_exact(&mut b).unwrap();
            assert_eq!(u32::from_le_bytes(b), i);
        }
        done.store(true, Ordering::Release);
        hog.join().unwrap();
        drop(c);
        assert_eq!(server.join().unwrap(), 800);
        child_report("roundtrips", 200);
    });
}

#[test]
fn a_worker_stuck_in_a_loop_does_not_stop_io_on_the_other() {
    watchdog(|| {
        let out = run_child_with_timeout(
            "child_busy_worker",
            "busy-worker",
            &[("WEFT_WORKERS", "2")],
            30,
        );
        out.assert_success();
        assert_eq!(out.stdout_value("roundtrips"), "200");
    });
}

/// A value whose drop reads three bytes from a socket: run by unwinding, it waits while its
/// coroutine is panicking (P7: the coroutine blocks its worker instead of switching).
struct ReadOnDrop(Option<TcpStream>, chan::Sender<io::Result<[u8; 3]>>);

impl Drop for ReadOnDrop {
    fn drop(&mut self) {
        let s = self.0.take().unwrap();
        let mut b = [0u8; 3];
        let r = (&s).read_exact(&mut b).map(|()| b);
        let _ = self.1.send(r);
    }
}

/// Child: a coroutine panics; a value dropped by the unwinding reads from a socket whose data
/// comes from a plain thread a little later. The read must complete (and the panic reach
/// `join`).
#[test]
fn child_io_while_panicking() {
    if !child_is("io-while-panicking") {
        return;
    }
    with_timeout(10, || {
        let (client, server) = pair();
        let (tx, rx) = chan::bounded(1);
        let h = go!(move || {
            let _guard = ReadOnDrop(Some(server), tx);
            panic!("deliberate panic, to unwind through a socket read");
        });
        std::thread::sleep(Duration::from_millis(50));
        (&client).write_all(b"bye").unwrap();
        let read = rx.recv().unwrap();
        child_report(
            "read",
            format!(
                "{:?}",
                read.map(|b| String::from_utf8_lossy(&b).into_owned())
            ),
        );
        assert!(h.join().is_err(), "the panic reaches join");
    });
}

#[test]
fn io_in_a_drop_during_unwinding_completes_with_a_free_worker() {
    watchdog(|| {
        let out = run_child_with_timeout(
            "child_io_while_panicking",
            "io-while-panicking",
            &[("WEFT_WORKERS", "2")],
            30,
        );
        out.assert_success();
        assert_eq!(out.stdout_value("read"), "Ok(\"bye\")");
    });
}

/// The same with one worker: the panicking coroutine blocks the only worker (P7), so no
/// worker is idle to poll the I/O driver; the P7 wait polls it itself.
#[test]
fn io_in_a_drop_during_unwinding_completes_with_one_worker() {
    watchdog(|| {
        let out = run_child_with_timeout(
            "child_io_while_panicking",
            "io-while-panicking",
            &[("WEFT_WORKERS", "1")],
            30,
        );
        out.assert_success();
        assert_eq!(out.stdout_value("read"), "Ok(\"bye\")");
    });
}

/// Child (one worker): a stream and its `try_clone`; the original goes back to std (blocking,
/// as documented). A coroutine reading the weft clone must still park, not block the only
/// worker in `recv(2)`: the coroutine that writes the data it waits for runs on that worker.
/// If the worker is stuck anyway, a plain thread writes "rescue" after 10 s to unstick it, so
/// that the child reports instead of hanging.
#[test]
fn child_clone_after_std_conversion() {
    if !child_is("clone-std") {
        return;
    }
    with_timeout(30, || {
        let (client, server) = pair();
        let clone = server.try_clone().unwrap();
        let std_server: std::net::TcpStream = server.into();
        child_report("clone_nonblocking", is_nonblocking_fd(clone.as_raw_fd()));
        let client = Arc::new(client);
        let reading = Arc::new(AtomicBool::new(false));
        let wrote = Arc::new(AtomicBool::new(false));
        let r = reading.clone();
        let reader = go!(move || {
            r.store(true, Ordering::SeqCst);
            let mut b = [0u8; 6];
            (&clone).read_exact(&mut b).unwrap();
            b
        });
        let (c, w) = (client.clone(), wrote.clone());
        let writer = go!(move || {
            while !reading.load(Ordering::SeqCst) {
                weft::thread::yield_now();
            }
            (&*c).write_all(b"from-b").unwrap();
            w.store(true, Ordering::SeqCst);
        });
        let rescue = std::thread::spawn(move || {
            for _ in 0..1000 {
                if wrote.load(Ordering::SeqCst) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            (&*client).write_all(b"rescue").unwrap();
        });
        let got = reader.join().unwrap();
        writer.join().unwrap();
        rescue.join().unwrap();
        child_report("got", String::from_utf8_lossy(&got));
        drop(std_server);
    });
}

/// IO3: stream sockets stay in blocking mode and every weft read and write passes
/// `MSG_DONTWAIT`, so the clone shares a blocking open file with the std handle and still
/// parks.
#[test]
fn converting_a_handle_to_std_keeps_its_clones_parking() {
    watchdog(|| {
        let out = run_child_with_timeout(
            "child_clone_after_std_conversion",
            "clone-std",
            &[("WEFT_WORKERS", "1")],
            40,
        );
        out.assert_success();
        assert_eq!(
            out.stdout_value("got"),
            "from-b",
            "the reading coroutine blocked the only worker in recv(2)\n{}",
            out.dump()
        );
        assert_eq!(out.stdout_value("clone_nonblocking"), "false");
    });
}

/// R5 only concludes "drained" from a call that could have moved more: a vectored call counts
/// the buffers one system call passes (at most 1024), and an empty write concludes nothing
/// and returns at once. A wrong conclusion would leave the next call waiting for an edge that
/// never comes (the timeouts turn that hang into a failure).
#[test]
fn short_vectored_calls_and_empty_writes_do_not_hide_readiness() {
    watchdog(|| {
        let (a, b) = pair();
        go!(move || {
            a.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            a.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
            // A first wait registers the socket with the driver.
            let waiter = std::thread::spawn({
                let b = b.try_clone().unwrap();
                move || {
                    std::thread::sleep(Duration::from_millis(20));
                    (&b).write_all(&[7u8; 1101]).unwrap();
                }
            });
            let mut one = [0u8; 1];
            (&a).read_exact(&mut one).unwrap();
            waiter.join().unwrap();
            std::thread::sleep(Duration::from_millis(50));
            // 1100 one-byte buffers: one call fills 1024 of them, leaving 76 bytes queued.
            let mut bytes = vec![[0u8; 1]; 1100];
            let mut bufs: Vec<IoSliceMut<'_>> =
                bytes.iter_mut().map(|b| IoSliceMut::new(b)).collect();
            assert_eq!((&a).read_vectored(&mut bufs).unwrap(), 1024);
            let mut rest = [0u8; 100];
            assert_eq!((&a).read(&mut rest).expect("the 76 queued bytes"), 76);

            let ones = vec![[1u8; 1]; 1100];
            let bufs: Vec<IoSlice<'_>> = ones.iter().map(|b| IoSlice::new(b)).collect();
            assert_eq!((&a).write_vectored(&bufs).unwrap(), 1024);
            (&a).write_all(b"x").expect("the send buffer has room");
            assert_eq!((&a).write(&[]).unwrap(), 0);
            let mut got = vec![0u8; 1025];
            (&b).read_exact(&mut got).unwrap();
            assert!(got[..1024].iter().all(|&x| x == 1) && got[1024] == b'x');
        })
        .join()
        .unwrap();
    });
}

/// IO3, the other way: taking a std stream over leaves the std handles that share its open
/// file blocking (a std read with a timeout still waits for late data).
#[test]
fn taking_a_std_stream_over_leaves_its_std_clones_blocking() {
    watchdog(|| {
        let (std_a, mut std_b) = std_pair();
        let std_clone = std_a.try_clone().unwrap();
        let weft_a = TcpStream::from(std_a);
        let reader = go!(move || {
            let mut buf = [0u8; 2];
            (&weft_a).read_exact(&mut buf).unwrap();
            (buf, weft_a)
        });
        std_b.write_all(b"hi").unwrap();
        let (buf, weft_a) = reader.join().unwrap();
        assert_eq!(&buf, b"hi");
        assert!(!is_nonblocking_fd(std_clone.as_raw_fd()));
        std_clone
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            std_b.write_all(b"late").unwrap();
            std_b
        });
        let mut late = [0u8; 4];
        (&std_clone).read_exact(&mut late).unwrap();
        assert_eq!(&late, b"late");
        drop((writer.join().unwrap(), weft_a));
    });
}

// ---- lookup_host: name resolution on the blocking pool ----

#[test]
fn lookup_host_resolves_and_connects_from_a_coroutine() {
    watchdog(|| {
        let listener = weft::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let client = go!(move || {
            let addrs: Vec<SocketAddr> = weft::net::lookup_host(format!("localhost:{port}"))
                .unwrap()
                .collect();
            assert!(
                addrs
                    .iter()
                    .any(|a| a.ip().is_loopback() && a.port() == port),
                "localhost resolves to a loopback address: {addrs:?}"
            );
            let v4: Vec<SocketAddr> = addrs.into_iter().filter(|a| a.is_ipv4()).collect();
            let mut s = weft::net::TcpStream::connect(&v4[..]).unwrap();
            s.write_all(b"hi").unwrap();
        });
        let (mut conn, _) = listener.accept().unwrap();
        let mut got = [0; 2];
        conn.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hi");
        client.join().unwrap();
        // On a plain thread too, and a literal address comes back as it is.
        let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let back: Vec<_> = weft::net::lookup_host(addr).unwrap().collect();
        assert_eq!(back, vec![addr]);
    });
}

#[test]
fn lookup_host_returns_the_resolvers_errors() {
    watchdog(|| {
        // No port: std's own parse error, without asking the resolver.
        let err = go!(|| weft::net::lookup_host("localhost").unwrap_err())
            .join()
            .unwrap();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        // A panicking user implementation becomes an error, not a panic in the caller.
        struct Broken;
        impl std::net::ToSocketAddrs for Broken {
            type Iter = std::vec::IntoIter<SocketAddr>;
            fn to_socket_addrs(&self) -> io::Result<Self::Iter> {
                panic!("broken resolver")
            }
        }
        let err = weft::net::lookup_host(Broken).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Other);
        assert!(err.to_string().contains("panicked"), "{err}");
    });
}

/// A `ToSocketAddrs` that blocks its thread until told to go on.
struct Gate(std::sync::Mutex<std::sync::mpsc::Receiver<SocketAddr>>);

impl std::net::ToSocketAddrs for Gate {
    type Iter = std::option::IntoIter<SocketAddr>;
    fn to_socket_addrs(&self) -> io::Result<Self::Iter> {
        Ok(Some(self.0.lock().unwrap().recv().unwrap()).into_iter())
    }
}

#[test]
fn child_one_worker_runs_coroutines_while_lookup_host_resolves() {
    if !child_is("lookup-one-worker") {
        return;
    }
    // The resolution blocks its thread until a coroutine sends; with one worker, that
    // coroutine can only run if the resolving coroutine parked instead of blocking the worker.
    let (tx, rx) = std::sync::mpsc::channel::<SocketAddr>();
    let resolver = go!(move || {
        weft::net::lookup_host(Gate(std::sync::Mutex::new(rx)))
            .unwrap()
            .collect::<Vec<_>>()
    });
    let sender = go!(move || {
        weft::thread::sleep(Duration::from_millis(20));
        tx.send("127.0.0.1:4242".parse().unwrap()).unwrap();
    });
    sender.join().unwrap();
    let got = resolver.join().unwrap();
    child_report("got", got[0].port());
}

#[test]
fn with_one_worker_lookup_host_does_not_block_the_worker() {
    watchdog(|| {
        let out = run_child_with_timeout(
            "child_one_worker_runs_coroutines_while_lookup_host_resolves",
            "lookup-one-worker",
            &[("WEFT_WORKERS", "1")],
            20,
        );
        out.assert_success();
        assert_eq!(out.stdout_value("got"), "4242");
    });
}

/// IO6: host names given to `connect`/`bind` in std's string forms resolve (on the blocking
/// pool from a coroutine, inline on a thread) and connect like std.
#[test]
#[allow(
    clippy::needless_borrows_for_generic_args,
    reason = "`&String` is one of the forms"
)]
fn connect_and_bind_by_host_name() {
    watchdog(|| {
        let listener = TcpListener::bind("localhost:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let ip = listener.local_addr().unwrap().ip();
        assert!(ip.is_loopback(), "localhost binds a loopback address: {ip}");
        let forms = go!(move || {
            let a = TcpStream::connect(format!("localhost:{port}")).unwrap();
            let b = TcpStream::connect(("localhost", port)).unwrap();
            let c = TcpStream::connect(&format!("localhost:{port}")).unwrap();
            [a, b, c].map(|s| s.peer_addr().unwrap().port())
        });
        let from_thread = TcpStream::connect(("localhost", port)).unwrap();
        for _ in 0..4 {
            listener.accept().unwrap();
        }
        assert_eq!(forms.join().unwrap(), [port; 3]);
        assert_eq!(from_thread.peer_addr().unwrap().port(), port);
        // A name that cannot be parsed is the resolver's error, from a coroutine too.
        let err = go!(|| TcpStream::connect("localhost").unwrap_err())
            .join()
            .unwrap();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    });
}
