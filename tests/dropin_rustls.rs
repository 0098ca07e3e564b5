//! Drop-in proof with `rustls`: its blocking `StreamOwned` runs unchanged over
//! `weft::net::TcpStream`, so a TLS server written thread-per-connection serves hundreds of
//! concurrent sessions from coroutines on two workers. rustls knows nothing of weft: every
//! `read`/`write` it makes on the socket that would block parks the coroutine instead.
//!
//! The certificate is made by `rcgen` at run time for `localhost`; clients trust it through a
//! `RootCertStore`. The configurations use the `ring` provider explicitly (no process default).
//!
//! - Scale: 250 TLS sessions open at once (500 sockets, 500 coroutines, 2 workers), each
//!   exchanging messages of 1 byte to 128 KiB with an echo server (so many TLS records per
//!   message, and reads of random sizes that split records), every byte checked, and each
//!   session closed cleanly both ways with `close_notify` (a truncation would surface as
//!   rustls's `UnexpectedEof`).
//! - Versions: TLS 1.2 and TLS 1.3 negotiated as forced by either side, and a version mismatch
//!   failing the handshake on both sides (an error, not a hang).
//! - Interop: clients on plain OS threads (over `std::net` and over weft's stream, which blocks
//!   like std there) against the coroutine server, and coroutine clients against a server on
//!   plain threads with `std::net`.
//!
//! The tests check behaviour (bytes, versions, counts of completed sessions), never timing;
//! each is bounded by support's watchdog only so that a hang fails.
//!
//! Each echo client keeps at most [`WINDOW`] bytes of a message in flight: a client with a
//! single stream cannot read while it is blocked in a write, so writing a whole large message
//! before reading its echo would deadlock with any echo server once the socket buffers are full
//! (that is TCP, with std as with weft).
//!
//! The coroutines get 256 KiB stacks ([`STACK_SIZE`]): a TLS session in a debug build needs
//! between 60 and 64 KiB, too close to weft's 64 KiB default.

mod support;

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::{Arc, Once, OnceLock};
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{
    ClientConfig, ClientConnection, ProtocolVersion, RootCertStore, ServerConfig, ServerConnection,
    StreamOwned, SupportedProtocolVersion,
};
use support::{Rng, deepen_backlog, fd_budget, watchdog};
use weft::net::{TcpListener, TcpStream};
use weft::{chan, go};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Default stack of this file's coroutines. rustls and ring in a debug build need almost all of
/// weft's default of 64 KiB: measured here (rustls 0.23.48, debug), a session overflows a
/// 60 KiB stack and just fits in 64 KiB. A program ported from std threads (2 MiB stacks by
/// default) sizes its coroutines' stacks the same way, with `runtime::Builder::stack_size` or
/// `thread::Builder::stack_size`.
const STACK_SIZE: usize = 256 << 10;

/// Starts the runtime with two workers and [`STACK_SIZE`] stacks (every test calls this before
/// its first spawn).
fn runtime() {
    static INIT: Once = Once::new();
    let builder = weft::runtime::Builder::new()
        .workers(2)
        .stack_size(STACK_SIZE);
    INIT.call_once(|| match builder.init() {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => panic!("cannot start the runtime: {e}"),
    });
}

/// A loopback listener whose accept backlog is `backlog` rather than std's 128, for hundreds of
/// clients connecting at once (an overflowing backlog drops SYNs: slow, though still correct).
fn bind_backlog(backlog: i32) -> TcpListener {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    deepen_backlog(&listener, backlog);
    listener
}

/// The server's certificate (self-signed for `localhost`, made once per process) and its key.
struct Identity {
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
}

fn identity() -> &'static Identity {
    static ID: OnceLock<Identity> = OnceLock::new();
    ID.get_or_init(|| {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
            .expect("rcgen: self-signed certificate");
        Identity {
            cert: certified.cert.der().clone(),
            key: PrivateKeyDer::from(certified.signing_key),
        }
    })
}

const TLS12: &[&SupportedProtocolVersion] = &[&rustls::version::TLS12];
const TLS13: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13];
const BOTH: &[&SupportedProtocolVersion] = rustls::ALL_VERSIONS;

/// The ring provider, explicitly (no process-wide default is installed). rustls 0.23.48
/// deprecated `ring::default_provider` for lacking post-quantum key exchange, which these tests
/// do not need; aws-lc-rs, which has it, needs more than a C compiler to build.
#[allow(deprecated)]
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn server_config(versions: &[&'static SupportedProtocolVersion]) -> Arc<ServerConfig> {
    let id = identity();
    let config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .expect("server protocol versions")
        .with_no_client_auth()
        .with_single_cert(vec![id.cert.clone()], id.key.clone_key())
        .expect("server certificate");
    Arc::new(config)
}

fn client_config(versions: &[&'static SupportedProtocolVersion]) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots
        .add(identity().cert.clone())
        .expect("trust the certificate");
    let config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .expect("client protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

fn localhost() -> ServerName<'static> {
    ServerName::try_from("localhost").expect("server name")
}

/// What one server connection did.
#[derive(Debug)]
struct Served {
    bytes: u64,
    version: Option<ProtocolVersion>,
}

/// The server side of one TLS connection over any blocking transport: echoes the plaintext it
/// reads until the client's `close_notify` (rustls's `Ok(0)`; an end of TCP without it is an
/// `UnexpectedEof` error), then answers with its own `close_notify`.
fn serve_echo<T: Read + Write>(config: Arc<ServerConfig>, sock: T) -> io::Result<Served> {
    let conn = ServerConnection::new(config).map_err(io::Error::other)?;
    let mut tls = StreamOwned::new(conn, sock);
    let mut buf = vec![0u8; 24 << 10];
    let mut bytes = 0u64;
    loop {
        let n = tls.read(&mut buf)?;
        if n == 0 {
            break;
        }
        tls.write_all(&buf[..n])?;
        bytes += n as u64;
    }
    let version = tls.conn.protocol_version();
    tls.conn.send_close_notify();
    tls.flush()?;
    Ok(Served { bytes, version })
}

/// A coroutine that accepts `n` connections and serves each in a coroutine of its own with
/// [`serve_echo`]; returns what each connection did, in accept order.
fn coroutine_server(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    n: usize,
) -> weft::thread::JoinHandle<Vec<Served>> {
    go!(move || {
        let handlers: Vec<_> = (0..n)
            .map(|i| {
                let (sock, _) = listener.accept().expect("accept");
                let config = config.clone();
                go!(move || {
                    serve_echo(config, sock)
                        .unwrap_or_else(|e| panic!("server connection {i}: {e}"))
                })
            })
            .collect();
        handlers
            .into_iter()
            .map(|h| h.join().expect("server connection panicked"))
            .collect()
    })
}

/// Starts a client session over `sock` and completes the handshake.
fn tls_connect<T: Read + Write>(
    config: &Arc<ClientConfig>,
    sock: T,
) -> io::Result<StreamOwned<ClientConnection, T>> {
    let conn = ClientConnection::new(config.clone(), localhost()).map_err(io::Error::other)?;
    let mut tls = StreamOwned::new(conn, sock);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock)?;
    }
    Ok(tls)
}

/// Most bytes of a message an echo client has sent but not yet read back.
const WINDOW: usize = 64 << 10;

/// A random block of prime length; message bytes are runs of it, so that a lost, repeated or
/// misplaced piece shows up as a mismatch (and filling and checking are slice copies and
/// comparisons, fast in debug builds too).
fn block() -> &'static [u8] {
    static BLOCK: OnceLock<Vec<u8>> = OnceLock::new();
    BLOCK.get_or_init(|| {
        let mut rng = Rng::new(0x7e57);
        (0..65_521).map(|_| (rng.next_u64() >> 24) as u8).collect()
    })
}

/// `len` bytes of the pattern starting at position `start`.
fn message(start: u64, len: usize) -> Vec<u8> {
    let block = block();
    let mut off = (start % block.len() as u64) as usize;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        let n = (block.len() - off).min(len - out.len());
        out.extend_from_slice(&block[off..off + n]);
        off = 0;
    }
    out
}

/// Message sizes of one client: tiny, up to one record, several records, and more than
/// 64 KiB (up to 128 KiB).
fn message_sizes(rng: &mut Rng) -> [usize; 4] {
    [
        1 + rng.below(100) as usize,
        1 + rng.below(16 << 10) as usize,
        (16 << 10) + rng.below(48 << 10) as usize,
        (64 << 10) + 1 + rng.below(64 << 10) as usize,
    ]
}

/// Sends `msg` in writes of random sizes and reads its echo in reads of random sizes, with at
/// most [`WINDOW`] bytes outstanding; fails on the first byte that differs.
fn exchange<T: Read + Write>(
    tls: &mut StreamOwned<ClientConnection, T>,
    msg: &[u8],
    rng: &mut Rng,
) -> io::Result<()> {
    let mut buf = vec![0u8; WINDOW];
    let (mut sent, mut got) = (0, 0);
    while got < msg.len() {
        let room = WINDOW - (sent - got);
        if sent < msg.len() && room > 0 {
            let n = (1 + rng.below(room as u64) as usize).min(msg.len() - sent);
            tls.write_all(&msg[sent..sent + n])?;
            sent += n;
            // Sometimes send more before reading.
            if rng.below(2) == 0 {
                continue;
            }
        }
        let want = 1 + rng.below((sent - got) as u64) as usize;
        let k = tls.read(&mut buf[..want])?;
        if k == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("echo ended after {got} of {} bytes", msg.len()),
            ));
        }
        if buf[..k] != msg[got..got + k] {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("echo differs in the {k} bytes at offset {got}"),
            ));
        }
        got += k;
    }
    Ok(())
}

/// Ends a client session cleanly: sends `close_notify`, then reads the server's own
/// (`Ok(0)`; an end of TCP without it would be `UnexpectedEof`). Returns the version used.
fn tls_close<T: Read + Write>(
    mut tls: StreamOwned<ClientConnection, T>,
) -> io::Result<Option<ProtocolVersion>> {
    let version = tls.conn.protocol_version();
    tls.conn.send_close_notify();
    tls.flush()?;
    let mut rest = [0u8; 16];
    match tls.read(&mut rest)? {
        0 => Ok(version),
        n => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{n} unexpected bytes after the last echo"),
        )),
    }
}

/// A whole client session over `sock`: handshake, the messages of `seed`, clean close.
/// Returns the plaintext bytes exchanged each way and the version used.
fn client_session<T: Read + Write>(
    config: &Arc<ClientConfig>,
    sock: T,
    seed: u64,
) -> io::Result<(u64, Option<ProtocolVersion>)> {
    let mut tls = tls_connect(config, sock)?;
    let mut rng = Rng::new(seed);
    let mut bytes = 0;
    for (k, len) in message_sizes(&mut rng).into_iter().enumerate() {
        let msg = message(seed * 7919 + k as u64 * 104_729, len);
        exchange(&mut tls, &msg, &mut rng)
            .map_err(|e| io::Error::new(e.kind(), format!("message {k} ({len} bytes): {e}")))?;
        bytes += len as u64;
    }
    Ok((bytes, tls_close(tls)?))
}

/// Runs `f` and panics with `what` and the error if it fails.
fn expect_ok<T>(what: impl std::fmt::Display, r: io::Result<T>) -> T {
    r.unwrap_or_else(|e| panic!("{what}: {e}"))
}

// ---------------------------------------------------------------------------------------------
// Scale
// ---------------------------------------------------------------------------------------------

/// 250 TLS clients in coroutines against the coroutine echo server, on two workers. Every
/// client connects and completes its handshake, and only when all 250 sessions are open at
/// once does any application data move. Then each exchanges four messages (up to 128 KiB)
/// with every byte checked, and closes with `close_notify` both ways. The server must have
/// served all 250 sessions to a clean end, echoing exactly the bytes the clients sent.
#[test]
fn hundreds_of_concurrent_tls_sessions_echo_every_byte() {
    const N: usize = 250;
    if !fd_budget(2 * N as u64 + 256) {
        return;
    }
    runtime();
    watchdog(|| {
        let listener = bind_backlog(1024);
        let addr = listener.local_addr().unwrap();
        let server = coroutine_server(listener, server_config(BOTH), N);
        let client_cfg = client_config(BOTH);
        let (ready_tx, ready_rx) = chan::unbounded::<Result<(), String>>();
        let (gate_tx, gate_rx) = chan::bounded::<()>(0);
        let clients: Vec<_> = (0..N)
            .map(|i| {
                let (ready, gate, cfg) = (ready_tx.clone(), gate_rx.clone(), client_cfg.clone());
                go!(move || {
                    let opened = TcpStream::connect(addr).and_then(|s| tls_connect(&cfg, s));
                    let mut tls = match opened {
                        Ok(tls) => {
                            ready.send(Ok(())).unwrap();
                            tls
                        }
                        Err(e) => {
                            ready
                                .send(Err(format!("client {i}: connect: {e}")))
                                .unwrap();
                            panic!("client {i}: connect: {e}");
                        }
                    };
                    drop(ready);
                    // No application data moves before every session is open.
                    assert!(gate.recv().is_err());
                    let seed = 1000 + i as u64;
                    let mut rng = Rng::new(seed);
                    let mut bytes = 0;
                    for (k, len) in message_sizes(&mut rng).into_iter().enumerate() {
                        let msg = message(seed * 7919 + k as u64 * 104_729, len);
                        let r = exchange(&mut tls, &msg, &mut rng);
                        expect_ok(format_args!("client {i}: message {k} ({len} bytes)"), r);
                        bytes += len as u64;
                    }
                    let version = expect_ok(format_args!("client {i}: close"), tls_close(tls));
                    assert_eq!(version, Some(ProtocolVersion::TLSv1_3), "client {i}");
                    bytes
                })
            })
            .collect();
        drop(ready_tx);
        for _ in 0..N {
            if let Err(e) = ready_rx.recv().expect("every client reports") {
                panic!("{e}");
            }
        }
        drop(gate_tx);
        let sent: Vec<u64> = clients
            .into_iter()
            .map(|h| h.join().expect("client panicked"))
            .collect();
        let served = server.join().expect("server panicked");
        assert_eq!(served.len(), N, "sessions served to a clean close_notify");
        assert!(
            served
                .iter()
                .all(|s| s.version == Some(ProtocolVersion::TLSv1_3))
        );
        assert!(
            sent.iter().all(|&b| b > 64 << 10),
            "every client sent more than 64 KiB"
        );
        assert_eq!(
            served.iter().map(|s| s.bytes).sum::<u64>(),
            sent.iter().sum::<u64>(),
            "bytes echoed by the server"
        );
    });
}

// ---------------------------------------------------------------------------------------------
// Protocol versions
// ---------------------------------------------------------------------------------------------

/// TLS 1.2 and TLS 1.3, forced by one side or the other: a server offering both serves
/// clients that allow only 1.2 or only 1.3 (each session uses the client's version), a
/// 1.2-only server serves clients offering both over 1.2, and a 1.3-only one over 1.3. Every
/// session echoes its messages and closes cleanly; both ends agree on the version.
#[test]
fn tls12_and_tls13_both_work_when_forced() {
    runtime();
    watchdog(|| {
        // (server versions, client versions, expected version, clients)
        let cases: [(_, _, _, usize); 4] = [
            (BOTH, TLS12, ProtocolVersion::TLSv1_2, 12),
            (BOTH, TLS13, ProtocolVersion::TLSv1_3, 12),
            (TLS12, BOTH, ProtocolVersion::TLSv1_2, 12),
            (TLS13, BOTH, ProtocolVersion::TLSv1_3, 12),
        ];
        let runs: Vec<_> = cases
            .into_iter()
            .enumerate()
            .map(|(c, (server_versions, client_versions, expected, n))| {
                let listener = bind_backlog(256);
                let addr = listener.local_addr().unwrap();
                let server = coroutine_server(listener, server_config(server_versions), n);
                let cfg = client_config(client_versions);
                let clients: Vec<_> = (0..n)
                    .map(|i| {
                        let cfg = cfg.clone();
                        go!(move || {
                            let seed = 50_000 + (c * 100 + i) as u64;
                            let r = TcpStream::connect(addr)
                                .and_then(|s| client_session(&cfg, s, seed));
                            let (bytes, version) =
                                expect_ok(format_args!("case {c} client {i}"), r);
                            assert_eq!(version, Some(expected), "case {c} client {i}");
                            bytes
                        })
                    })
                    .collect();
                (c, expected, server, clients)
            })
            .collect();
        for (c, expected, server, clients) in runs {
            let sent: u64 = clients
                .into_iter()
                .map(|h| h.join().expect("client panicked"))
                .sum();
            let served = server.join().expect("server panicked");
            assert!(
                served.iter().all(|s| s.version == Some(expected)),
                "case {c}: the server saw {:?}",
                served.iter().map(|s| s.version).collect::<Vec<_>>()
            );
            assert_eq!(
                served.iter().map(|s| s.bytes).sum::<u64>(),
                sent,
                "case {c}"
            );
        }
    });
}

/// A client that allows only TLS 1.3 against a server that allows only TLS 1.2: both sides'
/// handshakes fail with an error (the alert and the close travel through weft's sockets),
/// neither hangs nor panics. Then the other way round.
#[test]
fn mismatched_versions_fail_the_handshake_on_both_sides() {
    runtime();
    watchdog(|| {
        for (server_versions, client_versions) in [(TLS12, TLS13), (TLS13, TLS12)] {
            let listener = bind_backlog(16);
            let addr = listener.local_addr().unwrap();
            let server_cfg = server_config(server_versions);
            let server = go!(move || {
                let (sock, _) = listener.accept().expect("accept");
                serve_echo(server_cfg, sock)
            });
            let cfg = client_config(client_versions);
            let client = go!(move || {
                let sock = TcpStream::connect(addr).expect("connect");
                client_session(&cfg, sock, 1)
            });
            let client_err = client
                .join()
                .unwrap()
                .expect_err("the client's handshake must fail");
            let server_err = server
                .join()
                .unwrap()
                .expect_err("the server's handshake must fail");
            // rustls's own errors (not an I/O failure of the socket): the peer's alert on one
            // side, the missing common version on the other.
            for e in [&client_err, &server_err] {
                assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
            }
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Interop with plain threads
// ---------------------------------------------------------------------------------------------

/// Clients on plain OS threads against the coroutine server: half of the threads use
/// `std::net::TcpStream`, the other half weft's `TcpStream` (which blocks the thread like
/// std's there). Each runs three sessions in turn, every byte checked, clean closes.
#[test]
fn os_thread_clients_against_a_coroutine_server() {
    const THREADS: usize = 8;
    const PER_THREAD: usize = 3;
    runtime();
    watchdog(|| {
        let listener = bind_backlog(256);
        let addr = listener.local_addr().unwrap();
        let server = coroutine_server(listener, server_config(BOTH), THREADS * PER_THREAD);
        let cfg = client_config(BOTH);
        let clients: Vec<_> = (0..THREADS)
            .map(|t| {
                let cfg = cfg.clone();
                std::thread::spawn(move || {
                    let mut total = 0;
                    for c in 0..PER_THREAD {
                        let seed = 70_000 + (t * PER_THREAD + c) as u64;
                        let what = format!("thread {t} session {c}");
                        let r = if t % 2 == 0 {
                            std_connect(addr).and_then(|s| client_session(&cfg, s, seed))
                        } else {
                            TcpStream::connect(addr).and_then(|s| client_session(&cfg, s, seed))
                        };
                        let (bytes, version) = expect_ok(what, r);
                        assert_eq!(version, Some(ProtocolVersion::TLSv1_3));
                        total += bytes;
                    }
                    total
                })
            })
            .collect();
        let sent: u64 = clients.into_iter().map(|c| c.join().unwrap()).sum();
        let served = server.join().expect("server panicked");
        assert_eq!(served.len(), THREADS * PER_THREAD);
        assert_eq!(served.iter().map(|s| s.bytes).sum::<u64>(), sent);
    });
}

/// A `std::net` stream with generous timeouts, so that a thread stuck on a broken peer ends
/// (the watchdog fails the test long before).
fn std_connect(addr: SocketAddr) -> io::Result<std::net::TcpStream> {
    let s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(120)))?;
    s.set_write_timeout(Some(Duration::from_secs(120)))?;
    Ok(s)
}

/// Coroutine clients (weft sockets) against a TLS server written for plain threads: a
/// `std::net` listener and a thread per connection running the same `StreamOwned` echo over
/// `std::net::TcpStream`. Both versions are exercised (clients alternate 1.2 and 1.3).
#[test]
fn coroutine_clients_against_a_std_thread_server() {
    const N: usize = 32;
    runtime();
    watchdog(|| {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server_cfg = server_config(BOTH);
        let server = std::thread::spawn(move || {
            let handlers: Vec<_> = (0..N)
                .map(|i| {
                    let (sock, _) = listener.accept().unwrap();
                    sock.set_read_timeout(Some(Duration::from_secs(120)))
                        .unwrap();
                    let cfg = server_cfg.clone();
                    std::thread::spawn(move || {
                        expect_ok(
                            format_args!("std server connection {i}"),
                            serve_echo(cfg, sock),
                        )
                    })
                })
                .collect();
            handlers
                .into_iter()
                .map(|h| h.join().unwrap())
                .collect::<Vec<_>>()
        });
        let configs = [client_config(TLS12), client_config(TLS13)];
        let clients: Vec<_> = (0..N)
            .map(|i| {
                let cfg = configs[i % 2].clone();
                go!(move || {
                    let seed = 90_000 + i as u64;
                    let r = TcpStream::connect(addr).and_then(|s| client_session(&cfg, s, seed));
                    let (bytes, version) = expect_ok(format_args!("client {i}"), r);
                    let expected = [ProtocolVersion::TLSv1_2, ProtocolVersion::TLSv1_3][i % 2];
                    assert_eq!(version, Some(expected), "client {i}");
                    bytes
                })
            })
            .collect();
        let sent: u64 = clients
            .into_iter()
            .map(|h| h.join().expect("client panicked"))
            .sum();
        let served = server.join().expect("std server panicked");
        assert_eq!(served.len(), N);
        let tls12 = served
            .iter()
            .filter(|s| s.version == Some(ProtocolVersion::TLSv1_2))
            .count();
        assert_eq!(tls12, N / 2, "sessions over TLS 1.2");
        assert_eq!(served.iter().map(|s| s.bytes).sum::<u64>(), sent);
    });
}
