//! `examples/http_server.rs`, included as a module: the behaviours its docs promise, checked
//! from the client's side of a real loopback connection.
//!
//! Keep-alive (many requests on one connection) and pipelining (answers in order); 400 for a
//! malformed request, 431 for an oversized head or too many headers, 413 for an oversized body,
//! 501 for `Transfer-Encoding`, each followed by a close; `Connection: close` and HTTP/1.0
//! closing after the answer; a stalled client dropped by the read timeout; hundreds of
//! concurrent keep-alive clients with every body checked; hundreds of requests parked in
//! `/sleep` at once on two workers; and, in a child process with a low descriptor limit, the
//! accept loop backing off on EMFILE (a bounded number of attempts, a message on stderr) and
//! serving the waiting client once descriptors are free.
//!
//! No assertion is on timing; waits are bounded only so that a hang fails.

mod support;

#[allow(dead_code)]
#[path = "../examples/http_server.rs"]
mod http_server;

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use http_server::{Config, Stats};
use support::{child_is, child_report, run_child_with_timeout, watchdog};

/// Starts a server on a fresh loopback port; returns its address and counters.
fn server(config: Config) -> (SocketAddr, Arc<Stats>) {
    let listener = weft::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let stats = Arc::new(Stats::default());
    let s = stats.clone();
    weft::go!(move || {
        let _ = http_server::serve(listener, Arc::new(config), s);
    });
    (addr, stats)
}

/// One parsed response.
#[derive(Debug)]
struct Response {
    status: u16,
    close: bool,
    body: Vec<u8>,
}

/// A client connection that reads responses one by one (generic over std's and weft's streams).
struct Client<S> {
    conn: S,
    buf: Vec<u8>,
}

impl<S: Read + Write> Client<S> {
    fn new(conn: S) -> Client<S> {
        Client {
            conn,
            buf: Vec::new(),
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.conn.write_all(bytes).unwrap();
    }

    /// Reads the next response (`None` at a clean end of stream before any byte of it).
    fn response(&mut self) -> Option<Response> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 16];
            let mut resp = httparse::Response::new(&mut headers);
            if let httparse::Status::Complete(head) = resp.parse(&self.buf).unwrap() {
                let mut len = 0;
                let mut close = false;
                for h in resp.headers.iter() {
                    if h.name.eq_ignore_ascii_case("content-length") {
                        len = std::str::from_utf8(h.value).unwrap().parse().unwrap();
                    }
                    if h.name.eq_ignore_ascii_case("connection") {
                        close = h.value == b"close";
                    }
                }
                let status = resp.code.unwrap();
                while self.buf.len() < head + len {
                    self.fill().expect("the body is cut short");
                }
                let body = self.buf[head..head + len].to_vec();
                self.buf.drain(..head + len);
                return Some(Response {
                    status,
                    close,
                    body,
                });
            }
            if self.fill().is_none() {
                assert!(self.buf.is_empty(), "stream ended inside a response head");
                return None;
            }
        }
    }

    /// Reads more; `None` at the end of the stream.
    fn fill(&mut self) -> Option<usize> {
        let mut chunk = [0u8; 4096];
        match self.conn.read(&mut chunk) {
            Ok(0) => None,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Some(n)
            }
            // A reset after the server's close counts as the end (the answer was read).
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => None,
            Err(e) => panic!("client read failed: {e}"),
        }
    }

    /// Asserts that the server closes the connection (no further response).
    fn assert_closed(&mut self) {
        assert!(self.response().is_none(), "the server kept the connection");
    }
}

fn connect(addr: SocketAddr) -> Client<std::net::TcpStream> {
    let conn = std::net::TcpStream::connect(addr).unwrap();
    // A hang fails the test instead of blocking it forever.
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    Client::new(conn)
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").into_bytes()
}

fn post(path: &str, body: &[u8]) -> Vec<u8> {
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    req
}

#[test]
fn keep_alive_serves_many_requests_on_one_connection() {
    watchdog(|| {
        let (addr, stats) = server(Config::default());
        let mut c = connect(addr);
        for i in 0..200 {
            if i % 2 == 0 {
                c.send(&get("/"));
                let r = c.response().unwrap();
                assert_eq!((r.status, r.close), (200, false));
                assert_eq!(r.body, b"Hello, World!\n");
            } else {
                let body = format!("request {i}").repeat(i);
                c.send(&post("/echo", body.as_bytes()));
                let r = c.response().unwrap();
                assert_eq!(r.status, 200);
                assert_eq!(r.body, body.as_bytes());
            }
        }
        assert_eq!(stats.accepted.load(Ordering::Relaxed), 1);
        assert_eq!(stats.requests.load(Ordering::Relaxed), 200);
    });
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    watchdog(|| {
        let (addr, _) = server(Config::default());
        let mut c = connect(addr);
        let mut burst = Vec::new();
        for i in 0..50 {
            burst.extend(post("/echo", format!("body number {i}").as_bytes()));
            burst.extend(get("/missing"));
        }
        c.send(&burst);
        for i in 0..50 {
            let r = c.response().unwrap();
            assert_eq!(r.status, 200);
            assert_eq!(r.body, format!("body number {i}").as_bytes());
            assert_eq!(c.response().unwrap().status, 404);
        }
    });
}

#[test]
fn a_malformed_request_gets_400_and_a_close() {
    watchdog(|| {
        let (addr, stats) = server(Config::default());
        for bad in [
            &b"GET / HTTP/1.1\r\nHost t\r\n\r\n"[..], // header without a colon
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", // TLS on a plain port
            b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: x\r\n\r\n",
            b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
            // Lenient parses a proxy may read differently: a sign, a Unicode space.
            b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: +3\r\n\r\nabc",
            b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\xc2\xa0\r\n\r\nabc",
            b"GET / HTTP/1.1\r\n\r\n", // HTTP/1.1 without Host
        ] {
            let mut c = connect(addr);
            c.send(bad);
            let r = c.response().unwrap();
            assert_eq!((r.status, r.close), (400, true), "for {bad:?}");
            c.assert_closed();
        }
        assert_eq!(stats.refused.load(Ordering::Relaxed), 7);
    });
}

#[test]
fn oversized_heads_get_431_and_a_close() {
    watchdog(|| {
        let (addr, _) = server(Config::default());
        // One header larger than the whole head budget (8 KiB), sent before the server answers.
        let mut c = connect(addr);
        let big = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(10_000));
        c.send(big.as_bytes());
        let r = c.response().unwrap();
        assert_eq!((r.status, r.close), (431, true));
        c.assert_closed();

        // More headers than the parser takes.
        let mut c = connect(addr);
        let mut many = String::from("GET / HTTP/1.1\r\n");
        for i in 0..100 {
            many.push_str(&format!("X-{i}: v\r\n"));
        }
        many.push_str("\r\n");
        c.send(many.as_bytes());
        assert_eq!(c.response().unwrap().status, 431);
        c.assert_closed();
    });
}

#[test]
fn unframeable_or_oversized_bodies_are_refused() {
    watchdog(|| {
        let (addr, _) = server(Config {
            max_body: 1000,
            ..Config::default()
        });
        let mut c = connect(addr);
        c.send(&post("/echo", &[b'x'; 1001]));
        assert_eq!(c.response().unwrap().status, 413);
        c.assert_closed();

        let mut c = connect(addr);
        c.send(b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
        assert_eq!(c.response().unwrap().status, 501);
        c.assert_closed();

        // Exactly the limit is fine, and a body longer than the head buffer arrives whole.
        let mut c = connect(addr);
        let body: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
        c.send(&post("/echo", &body));
        assert_eq!(c.response().unwrap().body, body);
    });
}

#[test]
fn connection_close_and_http_1_0_end_the_connection() {
    watchdog(|| {
        let (addr, _) = server(Config::default());
        let mut c = connect(addr);
        c.send(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: keep-alive, close\r\n\r\n");
        let r = c.response().unwrap();
        assert_eq!((r.status, r.close), (200, true));
        c.assert_closed();

        let mut c = connect(addr);
        c.send(b"GET / HTTP/1.0\r\n\r\n");
        assert!(c.response().unwrap().close);
        c.assert_closed();

        // HTTP/1.0 asking for keep-alive keeps it.
        let mut c = connect(addr);
        for _ in 0..3 {
            c.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
            let r = c.response().unwrap();
            assert_eq!((r.status, r.close), (200, false));
        }
    });
}

#[test]
fn a_stalled_client_is_dropped_after_the_read_timeout() {
    watchdog(|| {
        let (addr, stats) = server(Config {
            read_timeout: Duration::from_millis(200),
            ..Config::default()
        });
        // Half a request, then silence; and a client that never sends anything.
        let mut half = connect(addr);
        half.send(b"GET / HTTP/1.1\r\nHo");
        let mut silent = connect(addr);
        half.assert_closed();
        silent.assert_closed();
        assert_eq!(stats.timed_out.load(Ordering::Relaxed), 2);
        assert_eq!(stats.requests.load(Ordering::Relaxed), 0);

        // The server goes on serving.
        let mut c = connect(addr);
        c.send(&get("/"));
        assert_eq!(c.response().unwrap().status, 200);
    });
}

/// A client that trickles its head (a byte every 50 ms, each read well within the read
/// timeout) is dropped once the head takes longer than the head timeout, long before it
/// could finish (a 2 KiB head at that pace would take 100 s).
#[test]
fn a_trickling_client_is_dropped_after_the_head_timeout() {
    watchdog(|| {
        let (addr, stats) = server(Config {
            read_timeout: Duration::from_secs(10),
            head_timeout: Duration::from_millis(300),
            ..Config::default()
        });
        let mut head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ".to_vec();
        head.resize(2048, b'a');
        head.extend_from_slice(b"\r\n\r\n");
        let mut c = connect(addr);
        let mut sent = 0;
        for byte in &head {
            if c.conn.write_all(std::slice::from_ref(byte)).is_err() {
                break;
            }
            sent += 1;
            if stats.timed_out.load(Ordering::Relaxed) > 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(sent < head.len(), "the whole head went through");
        c.assert_closed();
        assert_eq!(stats.timed_out.load(Ordering::Relaxed), 1);
        assert_eq!(stats.requests.load(Ordering::Relaxed), 0);

        // A normal client is served.
        let mut c = connect(addr);
        c.send(&get("/"));
        assert_eq!(c.response().unwrap().status, 200);
    });
}

#[test]
fn a_client_that_never_reads_is_dropped_after_the_write_timeout() {
    watchdog(|| {
        let (addr, stats) = server(Config {
            write_timeout: Duration::from_millis(200),
            ..Config::default()
        });
        // Pipelined requests whose answers pile up unread until both socket buffers are full.
        let c = connect(addr);
        let burst = get("/stats").repeat(1000);
        let writer = std::thread::spawn({
            let mut conn = c.conn.try_clone().unwrap();
            move || {
                // Ends when the server drops the connection (a reset, or a write timeout of
                // our own once its buffers are full).
                conn.set_write_timeout(Some(Duration::from_secs(30)))
                    .unwrap();
                while conn.write_all(&burst).is_ok() {}
            }
        });
        while stats.timed_out.load(Ordering::Relaxed) == 0 {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(stats.timed_out.load(Ordering::Relaxed), 1);
        drop(c);
        writer.join().unwrap();
        // The server goes on serving.
        let mut c = connect(addr);
        c.send(&get("/"));
        assert_eq!(c.response().unwrap().status, 200);
    });
}

#[test]
fn hundreds_of_keep_alive_clients_every_body_checked() {
    watchdog(|| {
        let (addr, stats) = server(Config::default());
        const CLIENTS: usize = 300;
        const REQUESTS: usize = 20;
        let clients: Vec<_> = (0..CLIENTS)
            .map(|i| {
                weft::go!(move || {
                    let conn = weft::net::TcpStream::connect(addr).unwrap();
                    let mut c = Client::new(conn);
                    for r in 0..REQUESTS {
                        let body = format!("client {i} request {r} ").repeat(1 + (i + r) % 40);
                        c.send(&post("/echo", body.as_bytes()));
                        let resp = c.response().unwrap();
                        assert_eq!(resp.status, 200);
                        assert_eq!(resp.body, body.as_bytes(), "client {i} request {r}");
                    }
                    REQUESTS
                })
            })
            .collect();
        let answered: usize = clients.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(answered, CLIENTS * REQUESTS);
        assert_eq!(stats.accepted.load(Ordering::Relaxed), CLIENTS as u64);
    });
}

#[test]
fn sleeping_requests_park_instead_of_holding_workers() {
    watchdog(|| {
        let (addr, _) = server(Config::default());
        // Far more requests in /sleep at once than there are workers: each handler parks.
        let clients: Vec<_> = (0..200)
            .map(|_| {
                weft::go!(move || {
                    let mut c = Client::new(weft::net::TcpStream::connect(addr).unwrap());
                    c.send(&get("/sleep/300"));
                    c.response().unwrap()
                })
            })
            .collect();
        for h in clients {
            let r = h.join().unwrap();
            assert_eq!((r.status, &r.body[..]), (200, &b"slept 300 ms\n"[..]));
        }
    });
}

/// Child: a descriptor limit so low that `accept` fails with EMFILE while a client waits.
#[test]
fn child_accept_backs_off_on_emfile() {
    if !child_is("emfile") {
        return;
    }
    let (addr, stats) = server(Config::default());
    // Warm up: the runtime, its driver and the listener's registration hold descriptors too.
    let mut c = connect(addr);
    c.send(&get("/"));
    assert_eq!(c.response().unwrap().status, 200);
    drop(c);

    // Use up every descriptor left, keeping one for the client's own socket.
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    lim.rlim_cur = 256;
    // SAFETY: `lim` is a valid rlimit with the soft limit below the hard one.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
    let mut hoard = Vec::new();
    while let Ok(f) = std::fs::File::open("/dev/null") {
        hoard.push(f);
    }
    assert!(hoard.len() > 10, "the limit left no room to test");
    drop(hoard.pop());
    let mut c = connect(addr);
    c.send(&get("/"));
    // The server sees EMFILE on accept and backs off; wait until it has, then a while longer.
    while stats.accept_exhausted.load(Ordering::Relaxed) == 0 {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(400));
    child_report("attempts", stats.accept_exhausted.load(Ordering::Relaxed));
    // Descriptors come back: the waiting client is served.
    drop(hoard);
    let r = c.response().unwrap();
    child_report("status", r.status);
}

#[test]
fn the_accept_loop_backs_off_on_emfile_and_recovers() {
    watchdog(|| {
        let out = run_child_with_timeout("child_accept_backs_off_on_emfile", "emfile", &[], 40);
        out.assert_success()
            .assert_stderr_contains("backing off until descriptors are free");
        assert_eq!(out.stdout_value("status"), "200");
        // A back-off of 5 ms doubling needs about 7 attempts for 400 ms; a loop spinning on the
        // error would make hundreds of thousands.
        let attempts: u64 = out.stdout_value("attempts").parse().unwrap();
        assert!((1..100).contains(&attempts), "{attempts} accept attempts");
    });
}
