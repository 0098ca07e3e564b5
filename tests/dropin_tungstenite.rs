//! Drop-in proof, part two: `tungstenite`, a WebSocket crate written for blocking `Read +
//! Write` streams, runs unchanged over weft sockets, on both ends.
//!
//! The server accepts on a `weft::net::TcpListener` and runs `tungstenite::accept_hdr` and an
//! echo loop in one coroutine per connection; clients call `tungstenite::client` on a connected
//! `weft::net::TcpStream` from coroutines (300 of them, all connected at once, on the default
//! runtime), or on a plain `std::net::TcpStream` from OS threads. Every client sends text
//! (with multi-byte UTF-8) and binary messages of 0 bytes to 256 KiB, so large frames cross many
//! partial reads and writes that park; one after another and in a pipelined burst, plus a ping;
//! every echo is checked exactly. Then the close handshake runs to its end, started by the
//! client or by the server: both sides must see the other's Close frame, and the client must see
//! the server close the connection (`Error::ConnectionClosed`). The server's own report (the
//! request path, message count and bytes, the Close it saw) must match each client's. The
//! reverse, weft coroutine clients against a plain-thread std server, is checked too.
//!
//! Waits are bounded only so that a hang fails (support's watchdog).

mod support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::SocketAddr;

use support::{Party, Rng, deepen_backlog, fd_budget, heavy, start, watchdog};
use tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tungstenite::protocol::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Error, Message, WebSocket};
use weft::{chan, go};

// ---------------------------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------------------------

/// The text message by which a client asks the server to start the close handshake.
const PLEASE_CLOSE: &str = "please close";

/// The response header in which the server returns the request path.
const PATH_HEADER: &str = "x-echo-path";

/// What the server saw on one connection.
#[derive(Debug)]
struct ServerConn {
    path: String,
    /// Text and binary messages echoed (not counting `PLEASE_CLOSE`).
    messages: usize,
    bytes: usize,
    pings: usize,
    /// The Close frame received from the client.
    close: Option<CloseFrame>,
}

/// Serves one WebSocket connection on `stream`: the handshake (echoing the request path in a
/// header), then every text and binary message is sent back as it came, until the close
/// handshake is over. `PLEASE_CLOSE` makes the server start the close handshake itself.
fn serve_ws<S: Read + Write>(stream: S) -> Result<ServerConn, String> {
    let mut path = String::new();
    let callback = |req: &Request, mut resp: Response| -> Result<Response, ErrorResponse> {
        path = req.uri().path().to_owned();
        resp.headers_mut()
            .insert(PATH_HEADER, req.uri().path().parse().unwrap());
        Ok(resp)
    };
    let mut ws = tungstenite::accept_hdr(stream, callback).map_err(|e| format!("accept: {e}"))?;
    let mut conn = ServerConn {
        path,
        messages: 0,
        bytes: 0,
        pings: 0,
        close: None,
    };
    loop {
        match ws.read() {
            Ok(Message::Text(t)) if t.as_str() == PLEASE_CLOSE => {
                let frame = CloseFrame {
                    code: CloseCode::Away,
                    reason: format!("server bye {}", conn.path).into(),
                };
                ws.close(Some(frame))
                    .map_err(|e| format!("{}: close: {e}", conn.path))?;
            }
            Ok(msg @ (Message::Text(_) | Message::Binary(_))) => {
                conn.messages += 1;
                conn.bytes += msg.len();
                ws.send(msg)
                    .map_err(|e| format!("{}: send: {e}", conn.path))?;
            }
            // tungstenite answers the ping itself on the next read.
            Ok(Message::Ping(_)) => conn.pings += 1,
            Ok(Message::Close(frame)) => {
                if conn.close.is_some() {
                    return Err(format!("{}: a second Close", conn.path));
                }
                conn.close = Some(frame.ok_or_else(|| format!("{}: empty Close", conn.path))?);
            }
            Ok(other) => return Err(format!("{}: unexpected {other:?}", conn.path)),
            // The close handshake is complete; dropping the stream closes the connection.
            Err(Error::ConnectionClosed) => return Ok(conn),
            Err(e) => return Err(format!("{}: read: {e}", conn.path)),
        }
    }
}

/// A coroutine that accepts `n` connections on `listener` and serves each in a coroutine of
/// its own; returns what each connection saw, in accept order.
fn weft_server(
    listener: weft::net::TcpListener,
    n: usize,
) -> weft::thread::JoinHandle<Vec<Result<ServerConn, String>>> {
    go!(move || {
        let handlers: Vec<_> = (0..n)
            .map(|_| {
                let (stream, _) = listener.accept().expect("accept");
                go!(move || serve_ws(stream))
            })
            .collect();
        handlers
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("handler panicked".into())))
            .collect()
    })
}

/// The same server on plain std: an OS thread that accepts, and one OS thread per connection.
fn std_server(
    listener: std::net::TcpListener,
    n: usize,
) -> std::thread::JoinHandle<Vec<Result<ServerConn, String>>> {
    std::thread::spawn(move || {
        let handlers: Vec<_> = (0..n)
            .map(|_| {
                let (stream, _) = listener.accept().expect("accept");
                std::thread::spawn(move || serve_ws(stream))
            })
            .collect();
        handlers
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("handler panicked".into())))
            .collect()
    })
}

// ---------------------------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------------------------

/// Characters of the text messages: one to four bytes each in UTF-8, so that a large message
/// splits a character across reads somewhere.
const CHARS: &[char] = &['a', 'z', '0', ' ', 'é', 'ß', '→', '€', '字', '🦀', '𝄞'];

/// Client `id`'s messages, in order: alternately text and binary, of 0 bytes to 256 KiB (one in
/// ten above 64 KiB, and the first one for every fourth client).
fn plan(id: usize) -> Vec<Message> {
    let mut rng = Rng::new(id as u64 + 1000);
    (0..6)
        .map(|j| {
            let size = match rng.below(10) {
                _ if j == 0 && id.is_multiple_of(4) => 65_537 + rng.below(196_608) as usize,
                0 => 65_537 + rng.below(196_608) as usize,
                1..=4 => 1024 + rng.below(15 << 10) as usize,
                _ => rng.below(201) as usize,
            };
            if j % 2 == 0 {
                let mut text = String::with_capacity(size + 4);
                while text.len() < size {
                    text.push(CHARS[rng.below(CHARS.len() as u64) as usize]);
                }
                Message::text(text)
            } else {
                let bytes: Vec<u8> = (0..size).map(|_| (rng.next_u64() >> 32) as u8).collect();
                Message::binary(bytes)
            }
        })
        .collect()
}

/// Small messages a client writes back to back and flushes once, before reading any echo.
fn burst(id: usize) -> Vec<Message> {
    (0..5)
        .map(|k| {
            if k % 2 == 0 {
                Message::text(format!("burst {k} from {id} ✓"))
            } else {
                Message::binary(vec![k as u8; k * 37 + id % 50])
            }
        })
        .collect()
}

/// What one client did.
#[derive(Debug)]
struct ClientReport {
    id: usize,
    messages: usize,
    bytes: usize,
    /// The length of its largest message.
    largest: usize,
    server_closed_first: bool,
}

fn describe(m: &Message) -> String {
    match m {
        Message::Text(t) => format!("text of {} bytes", t.len()),
        Message::Binary(b) => format!("binary of {} bytes", b.len()),
        other => format!("{other:?}"),
    }
}

/// Reads the next message, which must equal `want`.
fn expect_echo<S: Read + Write>(ws: &mut WebSocket<S>, id: usize, want: &Message) {
    let got = ws
        .read()
        .unwrap_or_else(|e| panic!("client {id}: read the echo of a {}: {e}", describe(want)));
    assert!(
        got == *want,
        "client {id}: sent a {}, got back a different {}",
        describe(want),
        describe(&got)
    );
}

/// Client `id`'s session over `stream` (already connected to the server at `addr`): the
/// handshake, then `connected()`, then its planned messages one at a time, a burst, a ping,
/// and the close handshake, started by the server if `server_closes` and by the client
/// otherwise. Every echo and both Close frames are checked.
fn ws_client<S: Read + Write>(
    stream: S,
    addr: SocketAddr,
    id: usize,
    server_closes: bool,
    connected: impl FnOnce(),
) -> ClientReport {
    let path = format!("/echo/{id}");
    let (mut ws, resp) = tungstenite::client(format!("ws://{addr}{path}"), stream)
        .unwrap_or_else(|e| panic!("client {id}: handshake: {e}"));
    assert_eq!(resp.status(), 101, "client {id}: handshake status");
    assert_eq!(
        resp.headers().get(PATH_HEADER).map(|v| v.to_str().unwrap()),
        Some(path.as_str()),
        "client {id}: the server saw another path"
    );
    connected();

    let mut report = ClientReport {
        id,
        messages: 0,
        bytes: 0,
        largest: 0,
        server_closed_first: server_closes,
    };
    for msg in plan(id) {
        ws.send(msg.clone())
            .unwrap_or_else(|e| panic!("client {id}: send a {}: {e}", describe(&msg)));
        expect_echo(&mut ws, id, &msg);
        report.messages += 1;
        report.bytes += msg.len();
        report.largest = report.largest.max(msg.len());
    }
    let burst = burst(id);
    for msg in &burst {
        ws.write(msg.clone())
            .unwrap_or_else(|e| panic!("client {id}: write: {e}"));
    }
    ws.flush()
        .unwrap_or_else(|e| panic!("client {id}: flush: {e}"));
    for msg in &burst {
        expect_echo(&mut ws, id, msg);
        report.messages += 1;
        report.bytes += msg.len();
    }
    let ping = format!("ping {id}");
    ws.send(Message::Ping(ping.clone().into_bytes().into()))
        .unwrap_or_else(|e| panic!("client {id}: ping: {e}"));
    match ws.read() {
        Ok(Message::Pong(p)) => assert_eq!(&p[..], ping.as_bytes(), "client {id}: pong"),
        other => panic!("client {id}: expected the pong, got {other:?}"),
    }

    // The close handshake. The Close frame that comes back is the server's own when it started
    // the handshake, else the echo of ours (tungstenite replies with the frame it received).
    let frame = if server_closes {
        ws.send(Message::text(PLEASE_CLOSE))
            .unwrap_or_else(|e| panic!("client {id}: send {PLEASE_CLOSE:?}: {e}"));
        CloseFrame {
            code: CloseCode::Away,
            reason: format!("server bye {path}").into(),
        }
    } else {
        let frame = CloseFrame {
            code: CloseCode::Normal,
            reason: format!("bye {id}").into(),
        };
        ws.close(Some(frame.clone()))
            .unwrap_or_else(|e| panic!("client {id}: close: {e}"));
        frame
    };
    let mut closes = 0;
    loop {
        match ws.read() {
            Ok(Message::Close(got)) => {
                assert_eq!(got.as_ref(), Some(&frame), "client {id}: Close frame");
                closes += 1;
            }
            // The server closed the TCP connection after the handshake.
            Err(Error::ConnectionClosed) => break,
            other => panic!("client {id}: expected Close, got {other:?}"),
        }
    }
    assert_eq!(closes, 1, "client {id}: Close frames received");
    report
}

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

/// How a client runs: a weft coroutine on a weft stream, or a plain OS thread on a std stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Coroutine,
    OsStd,
}

/// Runs `n` clients of `kind` against `addr`, client `id` asking the server to close first
/// when `server_closes(id)`. All complete their handshake before any sends a message, so all
/// `n` connections are open at once. Returns their reports, by id.
fn drive_clients(
    addr: SocketAddr,
    n: usize,
    kind: impl Fn(usize) -> Kind,
    server_closes: impl Fn(usize) -> bool,
) -> Vec<ClientReport> {
    let (connected_tx, connected_rx) = chan::unbounded::<()>();
    let (gate_tx, gate_rx) = chan::bounded::<()>(0);
    let clients: Vec<Party<ClientReport>> = (0..n)
        .map(|id| {
            let (connected, gate) = (connected_tx.clone(), gate_rx.clone());
            let ready = move || {
                connected.send(()).unwrap();
                drop(connected);
                // No client goes on before every connection is open.
                assert!(gate.recv().is_err());
            };
            let (kind, server_closes) = (kind(id), server_closes(id));
            start(kind == Kind::OsStd, move || match kind {
                Kind::Coroutine => {
                    let stream = weft::net::TcpStream::connect(addr)
                        .unwrap_or_else(|e| panic!("client {id}: connect: {e}"));
                    ws_client(stream, addr, id, server_closes, ready)
                }
                Kind::OsStd => {
                    let stream = std::net::TcpStream::connect(addr)
                        .unwrap_or_else(|e| panic!("client {id}: connect: {e}"));
                    ws_client(stream, addr, id, server_closes, ready)
                }
            })
        })
        .collect();
    drop(connected_tx);
    for _ in 0..n {
        connected_rx
            .recv()
            .expect("a client failed before its handshake was done");
    }
    drop(gate_tx);
    clients.into_iter().map(Party::join).collect()
}

/// Checks the server's view of every connection against the clients' reports.
fn check_server(server: Vec<Result<ServerConn, String>>, clients: &[ClientReport]) {
    assert_eq!(server.len(), clients.len(), "connections served");
    let mut by_path = BTreeMap::new();
    for conn in server {
        let conn = conn.unwrap_or_else(|e| panic!("server connection failed: {e}"));
        let path = conn.path.clone();
        assert!(
            by_path.insert(path.clone(), conn).is_none(),
            "two connections on {path}"
        );
    }
    for c in clients {
        let path = format!("/echo/{}", c.id);
        let conn = by_path
            .get(&path)
            .unwrap_or_else(|| panic!("the server never served {path}"));
        assert_eq!(conn.messages, c.messages, "{path}: messages echoed");
        assert_eq!(conn.bytes, c.bytes, "{path}: bytes echoed");
        assert_eq!(conn.pings, 1, "{path}: pings");
        let want = if c.server_closed_first {
            // The client's reply repeats the server's frame.
            CloseFrame {
                code: CloseCode::Away,
                reason: format!("server bye {path}").into(),
            }
        } else {
            CloseFrame {
                code: CloseCode::Normal,
                reason: format!("bye {}", c.id).into(),
            }
        };
        assert_eq!(conn.close.as_ref(), Some(&want), "{path}: Close seen");
    }
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

/// 300 coroutine clients on weft streams against the coroutine server, all connected at once on
/// the default runtime; one in three asks the server to close first.
#[test]
fn three_hundred_coroutine_clients_against_coroutine_server() {
    const N: usize = 300;
    let _heavy = heavy();
    if !fd_budget(2 * N as u64 + 256) {
        return;
    }
    watchdog(|| {
        let listener = weft::net::TcpListener::bind("127.0.0.1:0").unwrap();
        deepen_backlog(&listener, 1024);
        let addr = listener.local_addr().unwrap();
        let server = weft_server(listener, N);
        let clients = drive_clients(addr, N, |_| Kind::Coroutine, |id| id % 3 == 1);
        let large = clients.iter().filter(|c| c.largest > 64 << 10).count();
        assert!(
            large >= N / 4,
            "only {large} clients sent a message > 64 KiB"
        );
        check_server(server.join().expect("acceptor panicked"), &clients);
    });
}

/// Plain OS threads on `std::net::TcpStream` as clients of the coroutine server, half of them
/// closed by the server first.
#[test]
fn os_thread_clients_on_std_streams_against_coroutine_server() {
    const N: usize = 32;
    let _heavy = heavy();
    watchdog(|| {
        let listener = weft::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = weft_server(listener, N);
        let clients = drive_clients(addr, N, |_| Kind::OsStd, |id| id % 2 == 0);
        check_server(server.join().expect("acceptor panicked"), &clients);
    });
}

/// The reverse: weft coroutine clients (with a few OS threads among them) against a
/// thread-per-connection std server running the same `serve_ws`.
#[test]
fn coroutine_clients_against_std_thread_server() {
    const N: usize = 32;
    let _heavy = heavy();
    watchdog(|| {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std_server(listener, N);
        let kind = |id: usize| {
            if id.is_multiple_of(8) {
                Kind::OsStd
            } else {
                Kind::Coroutine
            }
        };
        let clients = drive_clients(addr, N, kind, |id| id % 2 == 1);
        check_server(server.join().expect("acceptor panicked"), &clients);
    });
}
