//! An HTTP/1.1 keep-alive server written as plain blocking code: one coroutine per connection,
//! requests parsed with `httparse`.
//!
//! ```text
//! cargo run --release --example http_server                         # serve on 127.0.0.1:8080
//! cargo run --release --example http_server -- 0.0.0.0:9000 --workers 1 --read-timeout 5
//! ```
//!
//! It prints a `curl` and a `wrk` command to try it with. Routes:
//! - `GET /` (and `HEAD /`): `Hello, World!`;
//! - `POST /echo`: the request body back;
//! - `GET /sleep/MS`: answers after sleeping MS milliseconds (at most 10 s) — a parked coroutine,
//!   so thousands of such requests at once cost no threads;
//! - `GET /stats`: the server's counters.
//!
//! What a server facing the open internet must do, it does, with the code a
//! thread-per-connection `std::net` server would have:
//! - a malformed request gets `400 Bad Request` and the connection is closed (the stream cannot
//!   be re-synchronised); a request head larger than [`Config::max_head`] gets
//!   `431 Request Header Fields Too Large`; a body larger than [`Config::max_body`] gets `413`;
//!   `Transfer-Encoding` (chunked uploads) gets `501` — each then closes;
//! - a client that stalls (sends nothing, or half a request) longer than the read timeout is
//!   dropped: `set_read_timeout` bounds every read, and weft honours it with a timer while the
//!   coroutine is parked; so is one that sends but never reads its answers
//!   (`set_write_timeout`);
//! - a client that trickles its request head (a byte now and then, each read well within the
//!   read timeout) is dropped once the head has taken longer than [`Config::head_timeout`]
//!   since its first bytes: the read timeout restarts with every byte, so without this
//!   deadline such clients are never dropped, and about a thousand of them hold every
//!   descriptor of a server limited to 1,024 (Slowloris; Go's `ReadHeaderTimeout`, whose
//!   clock also starts once a request begins to arrive). The deadline is checked before each
//!   further read of an incomplete head, so a trickler is dropped at most one read timeout
//!   after it passed; a head that arrives in one read costs nothing;
//! - `Content-Length` must be digits (and agree with any other one), HTTP/1.1 requests must
//!   carry `Host`, else 400;
//! - when `accept` fails because the process or the system is out of descriptors
//!   (EMFILE/ENFILE) or memory, the accept loop says so once and backs off (5 ms doubling to 1 s,
//!   as Go's net/http does) instead of spinning on the error; the connections it has keep being
//!   served and it accepts again as soon as descriptors are free;
//! - pipelined requests are answered in order, with one write for all the responses that were
//!   ready together.
//!
//! The server part (`Config`, `Stats`, `serve`, `handle`) is a library-like module:
//! `tests/http_server.rs` includes this file to test those behaviours.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use weft::net::{TcpListener, TcpStream};

/// Limits of one connection.
#[derive(Debug, Clone)]
pub struct Config {
    /// A read that waits longer than this drops the client.
    pub read_timeout: Duration,
    /// A write that waits longer than this (a client that sends but never reads) drops it.
    pub write_timeout: Duration,
    /// How long one request head (request line and headers) may take to arrive, from its
    /// first bytes; a client slower than this is dropped (checked before each further read).
    pub head_timeout: Duration,
    /// Largest request head (request line and headers) in bytes; larger gets 431.
    pub max_head: usize,
    /// Largest request body in bytes; larger gets 413.
    pub max_body: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            read_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            head_timeout: Duration::from_secs(10),
            max_head: 8 * 1024,
            max_body: 1024 * 1024,
        }
    }
}

/// Counters, shared by every connection (atomics: any coroutine or thread may read them).
#[derive(Debug, Default)]
pub struct Stats {
    /// Connections accepted.
    pub accepted: AtomicU64,
    /// Connections open now.
    pub open: AtomicU64,
    /// Requests answered (any status).
    pub requests: AtomicU64,
    /// Requests refused with a 4xx/5xx status because of what the client sent.
    pub refused: AtomicU64,
    /// Clients dropped for stalling past the read or write timeout.
    pub timed_out: AtomicU64,
    /// `accept` calls that failed for lack of descriptors or memory.
    pub accept_exhausted: AtomicU64,
}

/// Most headers in one request; more is answered like an oversized head (431).
const MAX_HEADERS: usize = 64;
/// First and last wait of the accept back-off.
const BACKOFF_MIN: Duration = Duration::from_millis(5);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Accepts connections forever, one coroutine each. Returns only when `accept` fails in a way
/// that retrying cannot fix (the listener itself is broken).
pub fn serve(listener: TcpListener, config: Arc<Config>, stats: Arc<Stats>) -> io::Result<()> {
    let mut backoff = Duration::ZERO;
    loop {
        match listener.accept() {
            Ok((conn, peer)) => {
                backoff = Duration::ZERO;
                stats.accepted.fetch_add(1, Ordering::Relaxed);
                stats.open.fetch_add(1, Ordering::Relaxed);
                let (config, counters) = (config.clone(), stats.clone());
                // Builder::spawn, not go!: out of memory for a stack is an error to report and
                // survive, like EMFILE, not a panic.
                let spawned = weft::thread::Builder::new().spawn(move || {
                    let mut conn = conn;
                    // Counted before the connection closes, so a client that sees the close
                    // sees the counters of its own connection.
                    if let Err(e) = handle(&mut conn, &config, &counters) {
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                        ) {
                            counters.timed_out.fetch_add(1, Ordering::Relaxed);
                        } else if !quiet(&e) {
                            eprintln!("http_server: connection from {peer}: {e}");
                        }
                    }
                    counters.open.fetch_sub(1, Ordering::Relaxed);
                    drop(conn);
                });
                if let Err(e) = spawned {
                    // The closure (and with it the connection) was dropped: the client sees a
                    // close. Back off as for descriptors: memory may come back.
                    stats.open.fetch_sub(1, Ordering::Relaxed);
                    eprintln!("http_server: cannot start a coroutine for {peer}: {e}");
                    backoff = back_off(backoff);
                }
            }
            Err(e) if exhausted(&e) => {
                stats.accept_exhausted.fetch_add(1, Ordering::Relaxed);
                if backoff.is_zero() {
                    eprintln!(
                        "http_server: accept: {e}; backing off until descriptors are free \
                         (raise the limit with `ulimit -n`)"
                    );
                }
                backoff = back_off(backoff);
            }
            // The connection died between the kernel's accept and ours (ECONNABORTED), a
            // protocol error on it (EPROTO), a signal: that client only.
            Err(e) if transient(&e) => {}
            Err(e) => return Err(e),
        }
    }
}

/// Sleeps (parking the coroutine) for the next step of the accept back-off and returns it.
fn back_off(last: Duration) -> Duration {
    let next = if last.is_zero() {
        BACKOFF_MIN
    } else {
        (last * 2).min(BACKOFF_MAX)
    };
    weft::thread::sleep(next);
    next
}

fn exhausted(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

fn transient(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ECONNABORTED | libc::EPROTO | libc::EINTR | libc::EPERM)
    ) || matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted | io::ErrorKind::Interrupted
    )
}

/// Errors that end a connection in the ordinary course of things: not worth a log line.
fn quiet(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
            | io::ErrorKind::WouldBlock
            | io::ErrorKind::TimedOut
    )
}

/// How a parsed request ends the exchange.
enum Next {
    KeepAlive,
    Close,
}

/// Serves one connection until the client closes it, stalls past the read timeout, or sends
/// something that ends it (answered first). Returns the I/O error that ended it, if any.
pub fn handle(conn: &mut TcpStream, config: &Config, stats: &Stats) -> io::Result<()> {
    conn.set_read_timeout(Some(config.read_timeout))?;
    conn.set_write_timeout(Some(config.write_timeout))?;
    conn.set_nodelay(true)?;
    // `buf[start..end]` holds bytes received and not yet parsed; the buffer is one maximal
    // request head, so a head that does not fit in it is too large.
    let mut buf = vec![0u8; config.max_head];
    let (mut start, mut end) = (0, 0);
    // Responses not yet written: flushed before every wait for more input, so pipelined
    // requests are answered with one write.
    let mut out = Vec::with_capacity(1024);
    // When the wait for the current request head began (`None` between requests).
    let mut head_since: Option<Instant> = None;
    loop {
        let parsed = {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut req = httparse::Request::new(&mut headers);
            match req.parse(&buf[start..end]) {
                Ok(httparse::Status::Complete(head_len)) => {
                    Some(request(&req).map(|r| (r, head_len)))
                }
                Ok(httparse::Status::Partial) => None,
                Err(httparse::Error::TooManyHeaders) => {
                    Some(Err((431, "Request Header Fields Too Large")))
                }
                Err(_) => Some(Err((400, "Bad Request"))),
            }
        };
        match parsed {
            Some(Ok((req, head_len))) => {
                head_since = None;
                // The next head's clock starts with its own first bytes.
                start += head_len;
                let body = match req.body_len {
                    0 => Vec::new(),
                    n if n > config.max_body => {
                        return refuse(conn, &mut out, stats, 413, "Content Too Large");
                    }
                    n => {
                        let mut body = Vec::with_capacity(n);
                        let buffered = n.min(end - start);
                        body.extend_from_slice(&buf[start..start + buffered]);
                        start += buffered;
                        if body.len() < n {
                            flush(conn, &mut out)?;
                            body.resize(n, 0);
                            conn.read_exact(&mut body[buffered..])?;
                        }
                        body
                    }
                };
                let next = respond(&req, &body, &mut out, stats);
                stats.requests.fetch_add(1, Ordering::Relaxed);
                if let Next::Close = next {
                    flush(conn, &mut out)?;
                    close_gracefully(conn);
                    return Ok(());
                }
            }
            Some(Err((status, reason))) => {
                return refuse(conn, &mut out, stats, status, reason);
            }
            None => {
                if end - start == buf.len() {
                    return refuse(
                        conn,
                        &mut out,
                        stats,
                        431,
                        "Request Header Fields Too Large",
                    );
                }
                // Make room at the end, then wait for more.
                if end == buf.len() {
                    buf.copy_within(start..end, 0);
                    (start, end) = (0, end - start);
                } else if start == end {
                    (start, end) = (0, 0);
                }
                flush(conn, &mut out)?;
                // Part of a head is here and the rest is not: its clock runs from the first
                // part seen (an idle keep-alive connection is the read timeout's business).
                if end > start {
                    let since = *head_since.get_or_insert_with(Instant::now);
                    if since.elapsed() > config.head_timeout {
                        // A trickling client: its head is not complete in time.
                        return Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "request head not complete within the head timeout",
                        ));
                    }
                }
                match conn.read(&mut buf[end..]) {
                    Ok(0) => return Ok(()),
                    Ok(n) => end += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }
}

/// Answers with an error status and closes: what follows a bad request cannot be trusted to
/// start a new one.
fn refuse(
    conn: &mut TcpStream,
    out: &mut Vec<u8>,
    stats: &Stats,
    status: u16,
    reason: &str,
) -> io::Result<()> {
    stats.refused.fetch_add(1, Ordering::Relaxed);
    stats.requests.fetch_add(1, Ordering::Relaxed);
    let body = format!("{status} {reason}\n");
    response(out, status, reason, body.as_bytes(), false, true);
    flush(conn, out)?;
    close_gracefully(conn);
    Ok(())
}

/// Says we are done sending and lets the client see the last answer before the close: unread
/// input would otherwise make the close a reset that may destroy the answer in flight. Reads
/// (and drops) at most 64 KiB, each read bounded by the read timeout.
fn close_gracefully(mut conn: &TcpStream) {
    let _ = conn.shutdown(std::net::Shutdown::Write);
    let mut sink = [0u8; 1024];
    let mut drained = 0;
    while drained < 64 * 1024 {
        match conn.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
}

fn flush(conn: &mut TcpStream, out: &mut Vec<u8>) -> io::Result<()> {
    if !out.is_empty() {
        conn.write_all(out)?;
        out.clear();
    }
    Ok(())
}

/// What the handler needs of a parsed request head.
struct Request<'a> {
    method: &'a str,
    path: &'a str,
    body_len: usize,
    keep_alive: bool,
}

/// Checks a complete request head: framing (Content-Length, digits only; Transfer-Encoding is
/// refused), `Host` (required in HTTP/1.1) and persistence (HTTP/1.1 keeps the connection
/// unless `Connection` lists `close`; HTTP/1.0 only if it lists `keep-alive`).
fn request<'a>(req: &httparse::Request<'_, 'a>) -> Result<Request<'a>, (u16, &'static str)> {
    let method = req.method.unwrap_or("");
    let path = req.path.unwrap_or("");
    let version = req.version.unwrap_or(1);
    let mut body_len = None::<usize>;
    let mut keep_alive = version == 1;
    let mut close = false;
    let mut host = false;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            // RFC 9112: `1*DIGIT`. A lenient parse (a sign, Unicode spaces) that a proxy in
            // front reads differently is a request-smuggling hole.
            let digits = h.value.trim_ascii();
            let n = (!digits.is_empty() && digits.iter().all(u8::is_ascii_digit))
                .then(|| std::str::from_utf8(digits).ok()?.parse::<usize>().ok())
                .flatten()
                .ok_or((400, "Bad Request"))?;
            // Two different lengths are a request-smuggling attempt.
            if body_len.is_some_and(|m| m != n) {
                return Err((400, "Bad Request"));
            }
            body_len = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err((501, "Not Implemented"));
        } else if h.name.eq_ignore_ascii_case("connection") {
            for option in h.value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
                if option.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if option.eq_ignore_ascii_case(b"keep-alive") {
                    keep_alive = true;
                }
            }
        } else if h.name.eq_ignore_ascii_case("host") {
            host = true;
        }
    }
    if version == 1 && !host {
        return Err((400, "Bad Request"));
    }
    Ok(Request {
        method,
        path,
        body_len: body_len.unwrap_or(0),
        keep_alive: keep_alive && !close,
    })
}

/// Routes one request and appends its response to `out`.
fn respond(req: &Request<'_>, body: &[u8], out: &mut Vec<u8>, stats: &Stats) -> Next {
    let head = req.method == "HEAD";
    let get = req.method == "GET" || head;
    let (status, reason, payload): (u16, &str, std::borrow::Cow<'_, [u8]>) = match req.path {
        "/" if get => (200, "OK", b"Hello, World!\n"[..].into()),
        "/echo" if req.method == "POST" => (200, "OK", body.into()),
        "/stats" if get => (200, "OK", stats_text(stats).into_bytes().into()),
        p if get && p.starts_with("/sleep/") => match p["/sleep/".len()..].parse::<u64>() {
            Ok(ms) if ms <= 10_000 => {
                weft::thread::sleep(Duration::from_millis(ms));
                (200, "OK", format!("slept {ms} ms\n").into_bytes().into())
            }
            _ => (
                400,
                "Bad Request",
                b"/sleep/MS takes 0..=10000\n"[..].into(),
            ),
        },
        "/" | "/echo" | "/stats" => (
            405,
            "Method Not Allowed",
            b"405 Method Not Allowed\n"[..].into(),
        ),
        _ => (404, "Not Found", b"404 Not Found\n"[..].into()),
    };
    response(out, status, reason, &payload, head, !req.keep_alive);
    if req.keep_alive {
        Next::KeepAlive
    } else {
        Next::Close
    }
}

fn response(out: &mut Vec<u8>, status: u16, reason: &str, body: &[u8], head: bool, close: bool) {
    let connection = if close { "close" } else { "keep-alive" };
    // Writing into a Vec cannot fail.
    let _ = write!(
        out,
        "HTTP/1.1 {status} {reason}\r\nServer: weft\r\nContent-Type: text/plain\r\n\
         Content-Length: {}\r\nConnection: {connection}\r\n\r\n",
        body.len()
    );
    if !head {
        out.extend_from_slice(body);
    }
}

fn stats_text(stats: &Stats) -> String {
    let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
    format!(
        "accepted {}\nopen {}\nrequests {}\nrefused {}\ntimed_out {}\naccept_exhausted {}\n",
        get(&stats.accepted),
        get(&stats.open),
        get(&stats.requests),
        get(&stats.refused),
        get(&stats.timed_out),
        get(&stats.accept_exhausted),
    )
}

/// Command line: `[ADDR] [--workers N] [--read-timeout SECS]`.
#[allow(dead_code)] // tests/http_server.rs includes this file and has its own main
fn main() -> io::Result<()> {
    let mut addr = "127.0.0.1:8080".to_owned();
    let mut config = Config::default();
    let mut args = std::env::args().skip(1);
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, what.to_owned());
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--workers" => {
                let n = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| bad("--workers takes a number of worker threads"))?;
                weft::runtime::Builder::new().workers(n).init()?;
            }
            "--read-timeout" => {
                let secs: f64 = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|s: &f64| s.is_finite() && *s > 0.0)
                    .ok_or_else(|| bad("--read-timeout takes a positive number of seconds"))?;
                config.read_timeout = Duration::from_secs_f64(secs);
            }
            "-h" | "--help" => {
                println!("usage: http_server [ADDR] [--workers N] [--read-timeout SECS]");
                return Ok(());
            }
            a if a.starts_with('-') => return Err(bad(&format!("unknown option {a}"))),
            a => addr = a.to_owned(),
        }
    }
    let listener = TcpListener::bind(&addr)?;
    let local: SocketAddr = listener.local_addr()?;
    println!(
        "weft HTTP server on http://{local}/ (read timeout {:?})",
        config.read_timeout
    );
    println!("  try:  curl -i http://{local}/   curl -d hello http://{local}/echo");
    println!("  load: wrk -t1 -c100 -d10s http://{local}/");
    serve(listener, Arc::new(config), Arc::new(Stats::default()))
}
