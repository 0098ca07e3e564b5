//! HTTP/1.1 plaintext keep-alive, driven by `wrk`: the same tiny response from a weft server
//! and from its peers, each server in its own process pinned to one core, `wrk` on another.
//!
//! Servers (each answers every request with the same bytes, [`RESPONSE`]: `200 OK`,
//! `content-type: text/plain`, `content-length: 13`, `Hello, World!`, keep-alive):
//! - `weft`: hand-rolled, one coroutine per connection over `weft::net`, a weft runtime with ONE
//!   worker; the accept loop is a coroutine too;
//! - `tokio`: the same hand-rolled logic over `tokio::net`, one task per connection, on a
//!   current-thread runtime;
//! - `hyper`: hyper 1's HTTP/1 server (`http1::Builder`, `TokioIo`, `service_fn`) on a
//!   current-thread runtime, with the `date` header turned off so that its bytes match;
//! - `hyper-mt1`: the same on tokio's multi-thread runtime with one worker;
//! - `weft-hyper` (only with `cargo bench --features hyper`): the same hyper service on weft,
//!   one worker, a coroutine per connection running hyper's connection future with
//!   `weft::future::block_on` over weft's `TcpStream` (issue 17);
//! - `std`: `std::net`, one OS thread per connection;
//! - `weft-example`: the full server of `examples/http_server.rs` (httparse, limits, read
//!   timeout), when its release binary has been built (`cargo build --release --example
//!   http_server`); see [`EXAMPLE_ARGS`].
//!
//! The hand-rolled servers share [`serve_conn`]: a 4 KiB buffered read loop that counts the
//! complete request heads (`\r\n\r\n`) in what it has read, answers all of them with one write
//! (pipelining-safe) and keeps an incomplete tail for the next read. Requests are assumed to
//! be bodiless (`GET`), as wrk sends them.
//!
//! One run: the bench re-executes itself (`--serve NAME ADDR`) as a child pinned to the first
//! allowed CPU, checks the server's answers (one request, three pipelined in one write, one
//! split over two writes; the built-in servers must answer byte for byte [`RESPONSE`]), warms
//! up with `wrk` for 1 s, then runs `wrk -t1 -cN -dSECS --latency` pinned to the second CPU.
//! The server's CPU time (utime + stime of the whole process, all threads, dead ones included:
//! `/proc/PID/stat`) is read before and after the measured `wrk` run; `wrk`'s own CPU time comes
//! from `getrusage(RUSAGE_CHILDREN)` around it, and the busy time of both cores from
//! `/proc/stat`, so that what other processes took of each core shows (`others`). Reported per
//! run: req/s, server CPU µs per request, server and wrk CPU utilisation, others' share of each
//! core, p50/p99 latency, socket errors; then each figure as a ratio to `hyper` and to `std` of
//! the same connection count in the same run, and a `key=value` line per run for scripts. wrk
//! on one core saturates near 330k req/s on a quiet reference machine (near 130k on a busy
//! day), so when the wrk column nears 100 % the req/s figure measures the client, and CPU µs
//! per request is the figure to compare; when `others` is above a few percent, req/s and
//! latency measure the neighbours.
//!
//! ```text
//! cargo bench --bench http                          # 4 servers × 50 and 500 connections, ~1 min
//! cargo bench --bench http -- weft                  # runs whose id (c50/weft …) contains "weft"
//! WEFT_BENCH_SECS=10 WEFT_BENCH_CONNS=50,1000 cargo bench --bench http
//! cargo bench --bench http -- --test                # only check the servers' answers, no wrk
//! ```
//!
//! Without `--bench` (as `cargo test --benches` runs it) it only checks the answers. Every run
//! is bounded: wrk runs `-d` seconds and is killed 15 s after that; each server child is
//! killed when its run ends (a guard kills it on every path, panics included) and, through
//! `PR_SET_PDEATHSIG`, when the bench process dies; a watchdog ends the whole bench if it
//! overruns its budget. Loopback only.

mod support;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use support::print_load;

/// The body every server sends.
const BODY: &[u8] = b"Hello, World!";
/// The whole response of the hand-rolled servers, and what hyper sends too (hyper writes
/// lower-case header names; its `date` header is turned off).
const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 13\r\n\r\nHello, World!";
const _: () = assert!(BODY.len() == 13, "content-length of RESPONSE");
/// Read buffer of a hand-rolled connection: the largest request head it accepts.
const BUF: usize = 4096;

/// Seconds of the measured wrk run (`WEFT_BENCH_SECS`).
const DEFAULT_SECS: u64 = 5;
/// Connection counts (`WEFT_BENCH_CONNS`, comma-separated).
const DEFAULT_CONNS: &[usize] = &[50, 500];
/// Seconds of the untimed wrk run before each measured one.
const WARMUP_SECS: u64 = 1;
/// How long a wrk run may overrun its `-d` before it is killed.
const WRK_GRACE: Duration = Duration::from_secs(15);
/// How long a server child may take to accept its first connection.
const STARTUP: Duration = Duration::from_secs(10);

/// Hook for variant (e), the full server of `examples/http_server.rs` (httparse, timeouts,
/// limits; its flags are not settled yet). When set, and the binary exists next to this bench's
/// (`target/release/examples/http_server`: `cargo build --release --example http_server`
/// first), it is run like the others as `weft-example`: pinned to the server CPU, with the
/// arguments this returns for the address to listen on. It must answer `GET /` with
/// `Hello, World!`; its header bytes differ from [`RESPONSE`] (they are printed). One worker,
/// like the hand-rolled weft server.
const EXAMPLE_ARGS: Option<fn(SocketAddr) -> Vec<String>> =
    Some(|addr| vec![addr.to_string(), "--workers".into(), "1".into()]);

/// The servers, in the order they run and are printed.
const SERVERS: &[Server] = &[
    Server {
        name: "weft",
        label: "weft, 1 worker",
    },
    Server {
        name: "tokio",
        label: "tokio hand-rolled",
    },
    Server {
        name: "hyper",
        label: "tokio + hyper",
    },
    Server {
        name: "hyper-mt1",
        label: "tokio mt 1 worker + hyper",
    },
    Server {
        name: "weft-hyper",
        label: "hyper on weft, 1 worker",
    },
    Server {
        name: "std",
        label: "std threads",
    },
    Server {
        name: "weft-example",
        label: "weft examples/http_server",
    },
];

#[derive(Clone, Copy, Debug)]
struct Server {
    /// Argument of `--serve` and part of the run id (`c50/weft`).
    name: &'static str,
    /// Printed in the tables.
    label: &'static str,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--serve") {
        let (Some(name), Some(addr)) = (args.get(1), args.get(2)) else {
            panic!("usage: http --serve weft|tokio|hyper|std ADDR");
        };
        serve(name, addr.parse().expect("--serve takes an address"));
    }
    let measure = args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test");
    let filters: Vec<&str> = args
        .iter()
        .filter(|a| !a.starts_with('-'))
        .map(String::as_str)
        .collect();
    if measure && !on_path("wrk") {
        println!("install wrk: apt-get install wrk");
        return;
    }
    let secs = env_or("WEFT_BENCH_SECS", DEFAULT_SECS);
    let conns: Vec<usize> = match std::env::var("WEFT_BENCH_CONNS") {
        Ok(list) => list
            .split(',')
            .map(|c| {
                c.trim()
                    .parse()
                    .expect("WEFT_BENCH_CONNS: comma-separated numbers")
            })
            .collect(),
        Err(_) => DEFAULT_CONNS.to_vec(),
    };
    let example = example_binary();
    let servers: Vec<Server> = SERVERS
        .iter()
        .copied()
        .filter(|s| s.name != "weft-example" || (EXAMPLE_ARGS.is_some() && example.is_some()))
        // hyper on weft needs weft's `hyper` feature (`cargo bench --features hyper`).
        .filter(|s| s.name != "weft-hyper" || cfg!(feature = "hyper"))
        .collect();
    let wanted = |id: &str| filters.is_empty() || filters.iter().any(|f| id.contains(f));

    let (server_cpu, client_cpu) = match allowed_cpus().as_slice() {
        [a, b, ..] => (Some(*a), Some(*b)),
        _ => {
            eprintln!("fewer than 2 CPUs allowed: server and wrk are not pinned");
            (None, None)
        }
    };
    // Bound the whole bench: every run is warm-up + measurement + grace + start and checks.
    let runs = conns.len() * servers.len();
    let per_run = WARMUP_SECS + secs + 2 * WRK_GRACE.as_secs() + STARTUP.as_secs() + 10;
    let budget = Duration::from_secs(60 + runs as u64 * per_run);
    std::thread::spawn(move || {
        std::thread::sleep(budget);
        // Children die with this process (PR_SET_PDEATHSIG), so exiting here leaves none.
        eprintln!("http bench: over its {budget:?} budget, giving up");
        std::process::exit(2);
    });

    print_load("start");
    if !measure {
        println!("checking the servers' answers (no wrk run: pass --bench to measure)");
    } else {
        println!(
            "HTTP/1.1 keep-alive GET / -> {} B response ({} B body), wrk -t1 --latency, {secs} s per run \
             after a {WARMUP_SECS} s warm-up; server on CPU {}, wrk on CPU {}",
            RESPONSE.len(),
            BODY.len(),
            show_cpu(server_cpu),
            show_cpu(client_cpu),
        );
    }
    if example.is_some() && EXAMPLE_ARGS.is_none() {
        println!(
            "(weft-example: binary found, skipped until EXAMPLE_ARGS is set in benches/http.rs)"
        );
    }
    if !measure {
        for &server in &servers {
            if wanted(server.name) {
                let mut child = start_server(server, example.as_deref(), server_cpu);
                check_answers(&mut child, server);
                println!("{:<13} answers OK", server.name);
            }
        }
        print_load("end");
        return;
    }
    let mut results = Vec::new();
    for &c in &conns {
        let mut rows = Vec::new();
        for &server in &servers {
            let id = format!("c{c}/{}", server.name);
            if !wanted(&id) {
                continue;
            }
            let mut child = start_server(server, example.as_deref(), server_cpu);
            let addr = child.addr;
            check_answers(&mut child, server);
            let _ = run_wrk(addr, c, WARMUP_SECS, client_cpu);
            std::thread::sleep(Duration::from_millis(500)); // let the warm-up's connections close
            let m = measure_run(&mut child, addr, c, secs, [server_cpu, client_cpu]);
            drop(child);
            println!("{}", m.line(&id));
            rows.push((server, m));
        }
        if !rows.is_empty() {
            print_tables(c, &rows);
        }
        results.extend(rows.into_iter().map(|(s, m)| (c, s, m)));
    }
    warn_about(&results);
    print_load("end");
}

// ---------------------------------------------------------------------------------------------
// The servers (child process side).

/// Runs server `name` on `addr` until killed.
fn serve(name: &str, addr: SocketAddr) -> ! {
    match name {
        "weft" => serve_weft(addr),
        "tokio" => serve_tokio(addr, false, false),
        "hyper" => serve_tokio(addr, true, false),
        "hyper-mt1" => serve_tokio(addr, true, true),
        #[cfg(feature = "hyper")]
        "weft-hyper" => serve_weft_hyper(addr),
        "std" => serve_std(addr),
        _ => panic!("unknown server {name:?}"),
    }
    unreachable!("the accept loops never end");
}

fn serve_weft(addr: SocketAddr) {
    serve_weft_with(addr, serve_conn);
}

/// A weft runtime with one worker, and an accept loop (a coroutine) that hands each
/// connection to `serve` on a coroutine of its own.
fn serve_weft_with(addr: SocketAddr, serve: fn(weft::net::TcpStream)) {
    weft::runtime::Builder::new()
        .workers(1)
        .init()
        .expect("the weft runtime starts here");
    let listener = weft::net::TcpListener::bind(addr).expect("bind");
    weft::go!(move || {
        loop {
            match listener.accept() {
                Ok((conn, _)) => {
                    conn.set_nodelay(true).expect("nodelay");
                    weft::go!(move || serve(conn));
                }
                Err(e) => accept_failed(e, weft::thread::sleep),
            }
        }
    })
    .join()
    .expect("the accept loop does not panic");
}

fn serve_std(addr: SocketAddr) {
    let listener = std::net::TcpListener::bind(addr).expect("bind");
    loop {
        match listener.accept() {
            Ok((conn, _)) => {
                conn.set_nodelay(true).expect("nodelay");
                std::thread::spawn(move || serve_conn(conn));
            }
            Err(e) => accept_failed(e, std::thread::sleep),
        }
    }
}

/// The tokio servers: hand-rolled or hyper, on a current-thread runtime or (`multi_thread`,
/// issue 17's second hyper peer) on the multi-thread runtime with one worker.
fn serve_tokio(addr: SocketAddr, hyper: bool, multi_thread: bool) {
    let mut builder = if multi_thread {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(1);
        b
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    let rt = builder.enable_io().build().expect("tokio runtime");
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
        loop {
            match listener.accept().await {
                Ok((conn, _)) => {
                    conn.set_nodelay(true).expect("nodelay");
                    if hyper {
                        tokio::spawn(serve_hyper(conn));
                    } else {
                        tokio::spawn(serve_conn_async(conn));
                    }
                }
                // A short blocking sleep is fine here: nothing can be served when accept fails
                // for lack of descriptors anyway, and it never happens in a normal run.
                Err(e) => accept_failed(e, std::thread::sleep),
            }
        }
    });
}

/// Out of descriptors or the like: say so and back off a little instead of spinning.
fn accept_failed(e: io::Error, sleep: impl FnOnce(Duration)) {
    eprintln!("accept: {e}");
    sleep(Duration::from_millis(10));
}

/// The request side of a hand-rolled connection: bytes read and not yet answered.
struct Requests {
    buf: [u8; BUF],
    /// `buf[..len]` is the start of a request head whose end has not been read yet.
    len: usize,
}

impl Requests {
    fn new() -> Requests {
        Requests {
            buf: [0; BUF],
            len: 0,
        }
    }

    /// Where the next read goes.
    fn spare(&mut self) -> &mut [u8] {
        &mut self.buf[self.len..]
    }

    /// Takes `n` bytes just read into [`spare`](Self::spare) and returns how many request
    /// heads they complete, keeping the incomplete tail; `None` if the buffer is full of one
    /// unfinished head (too large: the connection should be closed).
    fn complete(&mut self, n: usize) -> Option<usize> {
        // Only the new bytes, and the 3 before them, can hold a terminator not seen before.
        let mut from = self.len.saturating_sub(3);
        self.len += n;
        let (mut done, mut count) = (0, 0);
        while let Some(i) = self.buf[from..self.len]
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
        {
            done = from + i + 4;
            from = done;
            count += 1;
        }
        self.buf.copy_within(done..self.len, 0);
        self.len -= done;
        if self.len == BUF { None } else { Some(count) }
    }
}

/// The bytes answering `count` requests: [`RESPONSE`] itself for one, else `out` filled with
/// `count` copies (one write for all the requests read together).
fn responses(count: usize, out: &mut Vec<u8>) -> &[u8] {
    if count == 1 {
        return RESPONSE;
    }
    out.clear();
    for _ in 0..count {
        out.extend_from_slice(RESPONSE);
    }
    out
}

/// One hand-rolled connection over blocking sockets (weft or std): answer every request head
/// until the client closes.
fn serve_conn(mut conn: impl Read + Write) {
    let mut requests = Requests::new();
    let mut out = Vec::new();
    loop {
        let n = match conn.read(requests.spare()) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        match requests.complete(n) {
            None => return,
            Some(0) => {}
            Some(count) => {
                if conn.write_all(responses(count, &mut out)).is_err() {
                    return;
                }
            }
        }
    }
}

/// [`serve_conn`] over tokio.
async fn serve_conn_async(mut conn: tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut requests = Requests::new();
    let mut out = Vec::new();
    loop {
        let n = match conn.read(requests.spare()).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        match requests.complete(n) {
            None => return,
            Some(0) => {}
            Some(count) => {
                if conn.write_all(responses(count, &mut out)).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// hyper's server on weft (feature `hyper`): one worker, a coroutine per connection running
/// hyper's connection future with `block_on`, the same service as `serve_hyper`.
#[cfg(feature = "hyper")]
fn serve_weft_hyper(addr: SocketAddr) {
    serve_weft_with(addr, |conn| {
        let service = hyper::service::service_fn(hello);
        // An error is a client that went away mid-request: the connection just ends.
        let _ = weft::future::block_on(
            hyper::server::conn::http1::Builder::new()
                .auto_date_header(false)
                .serve_connection(conn, service),
        );
    });
}

/// The hyper servers' service: [`RESPONSE`]'s headers and body.
async fn hello(
    _request: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<http_body_util::Full<&'static [u8]>>, std::convert::Infallible> {
    use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
    let mut response = hyper::Response::new(http_body_util::Full::new(BODY));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    headers.insert(CONTENT_LENGTH, HeaderValue::from(BODY.len()));
    Ok(response)
}

async fn serve_hyper(conn: tokio::net::TcpStream) {
    let service = hyper::service::service_fn(hello);
    // An error is a client that went away mid-request: the connection just ends.
    let _ = hyper::server::conn::http1::Builder::new()
        .auto_date_header(false)
        .serve_connection(hyper_util::rt::TokioIo::new(conn), service)
        .await;
}

// ---------------------------------------------------------------------------------------------
// Child processes (bench side).

/// A child process that is killed and reaped when this is dropped, on every path.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A running server child.
struct ServerChild {
    child: KillOnDrop,
    addr: SocketAddr,
}

/// Spawns `cmd` pinned to `cpu` (if any) and tied to this process: it gets SIGKILL when this
/// process dies, even by SIGKILL.
fn spawn_pinned(cmd: &mut Command, cpu: Option<usize>) -> KillOnDrop {
    use std::os::unix::process::CommandExt;
    let set = cpu.map(cpu_set);
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs in the forked child before exec. It only makes system calls
    // that are async-signal-safe (prctl, getppid, sched_setaffinity) on values prepared before
    // the fork; it allocates nothing and takes no lock.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died before the prctl: then no signal will come.
            if libc::getppid() != parent {
                return Err(io::Error::other("the bench process is gone"));
            }
            if let Some(set) = &set
                && libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), set) != 0
            {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        })
    };
    KillOnDrop(cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}")))
}

/// Starts `server` on a free loopback port and waits until it accepts a connection.
fn start_server(
    server: Server,
    example: Option<&std::path::Path>,
    cpu: Option<usize>,
) -> ServerChild {
    let addr = free_port();
    let mut cmd = match server.name {
        "weft-example" => {
            let mut cmd = Command::new(example.expect("checked before"));
            cmd.args(EXAMPLE_ARGS.expect("checked before")(addr))
                .env("WEFT_WORKERS", "1");
            cmd
        }
        name => {
            let mut cmd = Command::new(std::env::current_exe().expect("current_exe"));
            cmd.args(["--serve", name, &addr.to_string()]);
            cmd
        }
    };
    cmd.stdin(Stdio::null()).stdout(Stdio::null());
    let mut child = spawn_pinned(&mut cmd, cpu);
    let deadline = Instant::now() + STARTUP;
    loop {
        if std::net::TcpStream::connect(addr).is_ok() {
            return ServerChild { child, addr };
        }
        if let Some(status) = child.0.try_wait().expect("try_wait") {
            panic!("server {} exited at start: {status}", server.name);
        }
        assert!(
            Instant::now() < deadline,
            "server {} did not start in {STARTUP:?}",
            server.name
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A loopback address with a port that was free a moment ago (std binds with SO_REUSEADDR).
fn free_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
}

/// Checks that the server answers one request, three pipelined in one write, and one split
/// over two writes, each with a `200` and [`BODY`]; the built-in servers must send exactly
/// [`RESPONSE`]. Panics otherwise.
fn check_answers(server: &mut ServerChild, kind: Server) {
    let request = format!("GET / HTTP/1.1\r\nHost: {}\r\n\r\n", server.addr);
    let conn = std::net::TcpStream::connect(server.addr).expect("connect");
    conn.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    conn.set_write_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut reader = BufReader::new(conn.try_clone().expect("clone"));
    let mut conn = conn;
    let mut noted = false;
    let mut expect = |n: usize| {
        for _ in 0..n {
            let response = read_response(&mut reader)
                .unwrap_or_else(|e| panic!("{}: reading a response: {e}", kind.name));
            let text = String::from_utf8_lossy(&response);
            assert!(text.starts_with("HTTP/1.1 200 "), "{}: {text:?}", kind.name);
            // The example's body may end in a newline.
            assert!(
                response.trim_ascii_end().ends_with(BODY),
                "{}: {text:?}",
                kind.name
            );
            if kind.name == "weft-example" {
                if response != RESPONSE && !std::mem::replace(&mut noted, true) {
                    println!("(weft-example answers {} B: {text:?})", response.len());
                }
            } else {
                assert_eq!(text, String::from_utf8_lossy(RESPONSE), "{}", kind.name);
            }
        }
    };
    conn.write_all(request.as_bytes()).expect("write");
    expect(1);
    conn.write_all(request.repeat(3).as_bytes()).expect("write");
    expect(3);
    let (head, tail) = request.split_at(request.len() - 3); // splits the terminator
    conn.write_all(head.as_bytes()).expect("write");
    std::thread::sleep(Duration::from_millis(20));
    conn.write_all(tail.as_bytes()).expect("write");
    expect(1);
    if let Ok(Some(status)) = server.child.0.try_wait() {
        panic!("server {} exited: {status}", kind.name);
    }
}

/// Reads one response with a `content-length` body.
fn read_response(reader: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut response = Vec::new();
    let mut length = None;
    loop {
        let start = response.len();
        if reader.read_until(b'\n', &mut response)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let line = String::from_utf8_lossy(&response[start..])
            .trim()
            .to_ascii_lowercase();
        if line.is_empty() {
            break;
        }
        if let Some(value) = line.strip_prefix("content-length:") {
            length = value.trim().parse::<usize>().ok();
        }
    }
    let length = length.ok_or_else(|| io::Error::other("no content-length"))?;
    let start = response.len();
    response.resize(start + length, 0);
    reader.read_exact(&mut response[start..])?;
    Ok(response)
}

// ---------------------------------------------------------------------------------------------
// wrk and the measurements.

/// What `wrk` reported.
#[derive(Debug, Default, Clone)]
struct WrkReport {
    requests: u64,
    req_per_sec: f64,
    p50: Option<Duration>,
    p99: Option<Duration>,
    /// Socket errors (connect + read + write + timeout) and non-2xx/3xx responses.
    errors: u64,
}

/// One measured run.
#[derive(Debug, Clone)]
struct Measurement {
    wrk: WrkReport,
    /// Server CPU time (all threads) during the wrk run.
    server_cpu: Duration,
    /// wrk's CPU time.
    wrk_cpu: Duration,
    /// CPU time that other processes (and the hypervisor, as steal) took on the server's
    /// core and on wrk's core during the run; `None` when not pinned.
    others: [Option<Duration>; 2],
    /// Wall time of the wrk run, start to exit.
    wall: Duration,
}

impl Measurement {
    fn cpu_us_per_request(&self) -> f64 {
        self.server_cpu.as_secs_f64() * 1e6 / self.wrk.requests.max(1) as f64
    }

    fn server_util(&self) -> f64 {
        self.server_cpu.as_secs_f64() / self.wall.as_secs_f64()
    }

    fn wrk_util(&self) -> f64 {
        self.wrk_cpu.as_secs_f64() / self.wall.as_secs_f64()
    }

    /// Shares of the server's core and of wrk's core that went to other processes.
    fn others(&self) -> [Option<f64>; 2] {
        self.others
            .map(|o| o.map(|o| o.as_secs_f64() / self.wall.as_secs_f64()))
    }

    /// One line per run, `key=value`, for scripts (stable).
    fn line(&self, id: &str) -> String {
        format!(
            "http/{id} req_s={:.0} requests={} cpu_us_per_req={:.3} server_cpu={:.3} wrk_cpu={:.3} \
             others_server_core={} others_wrk_core={} p50_us={} p99_us={} errors={}",
            self.wrk.req_per_sec,
            self.wrk.requests,
            self.cpu_us_per_request(),
            self.server_util(),
            self.wrk_util(),
            self.others()[0].map_or("-".into(), |o| format!("{o:.3}")),
            self.others()[1].map_or("-".into(), |o| format!("{o:.3}")),
            self.wrk
                .p50
                .map_or("-".into(), |d| format!("{:.1}", d.as_secs_f64() * 1e6)),
            self.wrk
                .p99
                .map_or("-".into(), |d| format!("{:.1}", d.as_secs_f64() * 1e6)),
            self.wrk.errors,
        )
    }
}

fn measure_run(
    server: &mut ServerChild,
    addr: SocketAddr,
    conns: usize,
    secs: u64,
    cpus: [Option<usize>; 2],
) -> Measurement {
    let pid = server.child.0.id();
    let cpu_before = process_cpu(pid);
    let busy_before = cpus.map(|c| c.and_then(cpu_busy));
    let wrk_cpu_before = children_cpu();
    let start = Instant::now();
    let wrk = run_wrk(addr, conns, secs, cpus[1]);
    let wall = start.elapsed();
    let wrk_cpu = children_cpu().saturating_sub(wrk_cpu_before);
    let server_cpu = process_cpu(pid).saturating_sub(cpu_before);
    let busy_after = cpus.map(|c| c.and_then(cpu_busy));
    let ours = [server_cpu, wrk_cpu];
    let others = std::array::from_fn(|i| match (busy_before[i], busy_after[i]) {
        (Some(before), Some(after)) => Some(after.saturating_sub(before).saturating_sub(ours[i])),
        _ => None,
    });
    if let Ok(Some(status)) = server.child.0.try_wait() {
        panic!("the server died during the run: {status}");
    }
    Measurement {
        wrk,
        server_cpu,
        wrk_cpu,
        others,
        wall,
    }
}

/// Runs `wrk -t1 -c{conns} -d{secs}s --latency` against `addr`, pinned to `cpu`; kills it if
/// it overruns by [`WRK_GRACE`].
fn run_wrk(addr: SocketAddr, conns: usize, secs: u64, cpu: Option<usize>) -> WrkReport {
    let mut cmd = Command::new("wrk");
    cmd.args([
        "-t1",
        &format!("-c{conns}"),
        &format!("-d{secs}s"),
        "--timeout",
        "5s",
        "--latency",
        &format!("http://{addr}/"),
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut wrk = spawn_pinned(&mut cmd, cpu);
    // Read the pipes on their own threads so that wrk never blocks on a full pipe.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    };
    let stdout = drain(wrk.0.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(wrk.0.stderr.take().map(|p| Box::new(p) as _));
    let deadline = Instant::now() + Duration::from_secs(secs) + WRK_GRACE;
    let status: ExitStatus = loop {
        if let Some(status) = wrk.0.try_wait().expect("try_wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "wrk overran its {secs} s by {WRK_GRACE:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let (stdout, stderr) = (
        stdout.join().expect("reader"),
        stderr.join().expect("reader"),
    );
    assert!(status.success(), "wrk failed ({status}): {stdout}{stderr}");
    parse_wrk(&stdout).unwrap_or_else(|| panic!("cannot read wrk's report:\n{stdout}{stderr}"))
}

/// Reads wrk's text report (`--latency`).
fn parse_wrk(text: &str) -> Option<WrkReport> {
    let mut report = WrkReport::default();
    let mut seen_requests = false;
    for line in text.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            // "123456 requests in 5.00s, 10.12MB read"
            [n, "requests", "in", ..] => {
                report.requests = n.parse().ok()?;
                seen_requests = true;
            }
            ["Requests/sec:", r] => report.req_per_sec = r.parse().ok()?,
            ["50%", d] => report.p50 = parse_wrk_duration(d),
            ["99%", d] => report.p99 = parse_wrk_duration(d),
            // "Socket errors: connect 0, read 0, write 0, timeout 0"
            ["Socket", "errors:", rest @ ..] => {
                report.errors += rest
                    .iter()
                    .filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok())
                    .sum::<u64>();
            }
            // "Non-2xx or 3xx responses: 12"
            ["Non-2xx", .., n] => report.errors += n.parse::<u64>().ok()?,
            _ => {}
        }
    }
    seen_requests.then_some(report)
}

/// wrk's durations: `123.45us`, `1.23ms`, `2.00s`, `1.00m`.
fn parse_wrk_duration(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (value, unit) = text.split_at(split);
    let value: f64 = value.parse().ok()?;
    let scale = match unit {
        "us" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return None,
    };
    Some(Duration::from_secs_f64(value * scale))
}

/// CPU time of process `pid` so far, all its threads (dead ones included): utime + stime of
/// `/proc/PID/stat`, in clock ticks (10 ms at the usual 100 Hz; the kernel scales them from its
/// exact per-thread run time, so the sum is exact to a tick).
fn process_cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
    // The command name, in parentheses, may hold spaces: fields are counted after its end.
    let after_name = &stat[stat.rfind(')').expect("comm") + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 (utime) and 15 (stime) of proc(5); field 3 (state) is fields[0].
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    ticks_to_duration(ticks)
}

/// Clock ticks (`USER_HZ`) to time.
fn ticks_to_duration(ticks: u64) -> Duration {
    // SAFETY: sysconf only reads a configuration value; it has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    assert!(hz > 0, "sysconf(_SC_CLK_TCK)");
    Duration::from_secs_f64(ticks as f64 / hz as f64)
}

/// Busy time of CPU `cpu` so far: user + nice + system + steal of its line in `/proc/stat`
/// (interrupt and softirq time, mostly the loopback traffic of the bench itself, left out).
fn cpu_busy(cpu: usize) -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let name = format!("cpu{cpu}");
    let line = stat
        .lines()
        .find(|l| l.split_whitespace().next() == Some(&name))?;
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal …
    let ticks = f.first()? + f.get(1)? + f.get(2)? + f.get(7).unwrap_or(&0);
    Some(ticks_to_duration(ticks))
}

/// User + system CPU time of this process's children that have been waited for.
fn children_cpu() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: `usage` is valid for writes of one `rusage`, which getrusage fills on success.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, usage.as_mut_ptr()) };
    assert_eq!(rc, 0, "getrusage: {}", io::Error::last_os_error());
    // SAFETY: getrusage returned 0, so it initialised `usage`.
    let usage = unsafe { usage.assume_init() };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// The CPUs this process may run on, in order.
fn allowed_cpus() -> Vec<usize> {
    let mut set = std::mem::MaybeUninit::<libc::cpu_set_t>::zeroed();
    // SAFETY: `set` is valid for writes of one `cpu_set_t`, and its size is passed along.
    let rc = unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), set.as_mut_ptr()) };
    if rc != 0 {
        return Vec::new();
    }
    // SAFETY: a `cpu_set_t` is a plain bit array, valid when zeroed and filled by the kernel.
    let set = unsafe { set.assume_init() };
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below CPU_SETSIZE, inside the set's bit array.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect()
}

/// The set of the one CPU `cpu`.
fn cpu_set(cpu: usize) -> libc::cpu_set_t {
    assert!(cpu < libc::CPU_SETSIZE as usize, "CPU {cpu} out of range");
    // SAFETY: a `cpu_set_t` is a plain bit array: all zeroes is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` is below CPU_SETSIZE (checked above), inside the set's bit array.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    set
}

// ---------------------------------------------------------------------------------------------
// Output.

fn print_tables(conns: usize, rows: &[(Server, Measurement)]) {
    println!();
    println!("{conns} connections");
    println!(
        "{:<27} {:>9} {:>11} {:>11} {:>7} {:>8} {:>7} {:>10} {:>10} {:>7}",
        "server",
        "req/s",
        "CPU µs/req",
        "server CPU",
        "others",
        "wrk CPU",
        "others",
        "p50",
        "p99",
        "errors"
    );
    for (server, m) in rows {
        println!(
            "{:<27} {:>9.0} {:>11.2} {:>10.1}% {:>7} {:>7.1}% {:>7} {:>10} {:>10} {:>7}",
            server.label,
            m.wrk.req_per_sec,
            m.cpu_us_per_request(),
            100.0 * m.server_util(),
            show_share(m.others()[0]),
            100.0 * m.wrk_util(),
            show_share(m.others()[1]),
            show_latency(m.wrk.p50),
            show_latency(m.wrk.p99),
            m.wrk.errors,
        );
    }
    let find = |name: &str| rows.iter().find(|(s, _)| s.name == name).map(|(_, m)| m);
    let (hyper, std) = (find("hyper"), find("std"));
    println!(
        "{:<27} {:>15} {:>15} {:>15} {:>15} {:>15}",
        "ratio ÷ hyper / ÷ std", "req/s", "CPU µs/req", "server CPU", "p50", "p99"
    );
    let secs = |d: Option<Duration>| d.map(|d| d.as_secs_f64());
    for (server, m) in rows {
        let figures = |m: &Measurement| {
            [
                Some(m.wrk.req_per_sec),
                Some(m.cpu_us_per_request()),
                Some(m.server_util()),
                secs(m.wrk.p50),
                secs(m.wrk.p99),
            ]
        };
        let mine = figures(m);
        let (vs_hyper, vs_std) = (hyper.map(figures), std.map(figures));
        let cells: Vec<String> = (0..mine.len())
            .map(|i| {
                let ratio =
                    |peer: Option<[Option<f64>; 5]>| match (mine[i], peer.and_then(|p| p[i])) {
                        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
                        _ => "-".into(),
                    };
                format!("{} / {}", ratio(vs_hyper), ratio(vs_std))
            })
            .collect();
        println!(
            "{:<27} {:>15} {:>15} {:>15} {:>15} {:>15}",
            server.label, cells[0], cells[1], cells[2], cells[3], cells[4]
        );
    }
    println!();
}

/// Notes on figures that should not be taken at face value.
fn warn_about(results: &[(usize, Server, Measurement)]) {
    for (c, server, m) in results {
        let id = format!("c{c}/{}", server.name);
        if m.wrk.errors > 0 {
            println!(
                "note: {id}: {} socket errors or non-2xx responses",
                m.wrk.errors
            );
        }
        if m.wrk_util() > 0.9 {
            println!(
                "note: {id}: wrk used {:.0}% of its core: req/s is bounded by the client, compare CPU µs/req",
                100.0 * m.wrk_util()
            );
        }
        let [on_server, on_wrk] = m.others().map(|o| o.unwrap_or(0.0));
        if on_server > 0.05 || on_wrk > 0.05 {
            println!(
                "note: {id}: other processes took {:.0}% of the server's core and {:.0}% of \
                 wrk's: req/s and latency are not the servers' own (CPU µs/req holds up better)",
                100.0 * on_server,
                100.0 * on_wrk,
            );
        } else if m.server_util() < 0.9 {
            println!(
                "note: {id}: the server used {:.0}% of its core and had it to itself: it was \
                 not the bottleneck",
                100.0 * m.server_util()
            );
        }
    }
}

fn show_share(share: Option<f64>) -> String {
    share.map_or("-".into(), |s| format!("{:.1}%", 100.0 * s))
}

fn show_latency(d: Option<Duration>) -> String {
    match d {
        None => "-".into(),
        Some(d) if d < Duration::from_millis(1) => format!("{:.0} µs", d.as_secs_f64() * 1e6),
        Some(d) => format!("{:.2} ms", d.as_secs_f64() * 1e3),
    }
}

fn show_cpu(cpu: Option<usize>) -> String {
    cpu.map_or("any".into(), |c| c.to_string())
}

// ---------------------------------------------------------------------------------------------
// Small helpers.

fn env_or(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}: expected a whole number, got {v:?}")),
        Err(_) => default,
    }
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// `examples/http_server` of the same build profile, next to this bench's directory
/// (`target/release/deps/http-…` → `target/release/examples/http_server`).
fn example_binary() -> Option<std::path::PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let path = exe.parent()?.parent()?.join("examples").join("http_server");
    path.is_file().then_some(path)
}
