//! Drop-in proof, part one: a thread-per-connection server written for `std::net` and
//! `std::thread` runs on weft after changing its imports, and nothing else.
//!
//! The server (a line-based key/value store: one thread per connection via `thread::spawn`,
//! `BufReader::read_line` + `write_all` over a `try_clone`d stream, shared state behind a
//! `std::sync::Mutex`) and its client are written once, in the `kv_program!` macro, against
//! the names `net` and `thread`. That source is expanded twice: in `on_std`, under
//! `use std::{net, thread};`, and in `on_weft`, under `use weft::{net, thread};`. Those two
//! lines are the whole port.
//!
//! The weft build serves 500 clients that are all connected at once (its 500 connection
//! "threads" are coroutines on the default runtime's workers, which the test checks by counting
//! the process's OS threads), the std build 50; in both, every client is a weft coroutine
//! (weft sockets) or a plain OS thread (std sockets, or weft sockets, which block a plain thread
//! like std's), every reply is checked, and a shared counter proves that the store saw every
//! increment exactly once. Waits are bounded only so that a hang fails (support's watchdog).

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use support::{Party, Rng, deepen_backlog, fd_budget, heavy, start, watchdog};
use weft::chan;

// ---------------------------------------------------------------------------------------------
// The program under test, written once against `net` and `thread`
// ---------------------------------------------------------------------------------------------

/// The server and client source. It names sockets and threads only through `super::net` and
/// `super::thread`, which each expansion site binds to std's or weft's modules.
macro_rules! kv_program {
    () => {
        /// A line-based key/value store, one thread per connection.
        ///
        /// Requests and replies are single lines: `SET k v` → `OK`, `GET k` → `VALUE v` or
        /// `NONE`, `DEL k` → `DELETED` or `NONE`, `INCR k` → the new value, `UPPER text` → the
        /// text in capitals, `QUIT` → `BYE` (and the server closes), anything else →
        /// `ERR unknown command`.
        pub mod server {
            use std::collections::HashMap;
            use std::io::{self, BufRead, BufReader, Write};
            use std::sync::atomic::{AtomicUsize, Ordering};
            use std::sync::{Arc, Mutex};

            use super::net::{TcpListener, TcpStream};
            use super::thread;

            /// The shared state: the map, and counters for whoever watches the server.
            #[derive(Debug, Default)]
            pub struct Store {
                map: Mutex<HashMap<String, String>>,
                /// Connections whose handler is running now.
                pub active: AtomicUsize,
                /// The most handlers that ever ran at once.
                pub peak: AtomicUsize,
                /// Requests answered, over all connections.
                pub requests: AtomicUsize,
            }

            impl Store {
                /// The reply line (without its newline) to one request line.
                fn execute(&self, request: &str) -> String {
                    let (cmd, rest) = request.split_once(' ').unwrap_or((request, ""));
                    // Every critical section is a few map operations: no I/O under the lock.
                    let mut map = self.map.lock().unwrap();
                    match cmd {
                        "SET" => match rest.split_once(' ') {
                            Some((key, value)) => {
                                map.insert(key.to_owned(), value.to_owned());
                                "OK".to_owned()
                            }
                            None => "ERR usage: SET key value".to_owned(),
                        },
                        "GET" => match map.get(rest) {
                            Some(value) => format!("VALUE {value}"),
                            None => "NONE".to_owned(),
                        },
                        "DEL" => match map.remove(rest) {
                            Some(_) => "DELETED".to_owned(),
                            None => "NONE".to_owned(),
                        },
                        "INCR" => {
                            let old = map.get(rest).map_or(Ok(0), |v| v.parse::<u64>());
                            match old {
                                Ok(old) => {
                                    map.insert(rest.to_owned(), (old + 1).to_string());
                                    (old + 1).to_string()
                                }
                                Err(_) => "ERR not a number".to_owned(),
                            }
                        }
                        "UPPER" => rest.to_ascii_uppercase(),
                        "QUIT" => "BYE".to_owned(),
                        _ => "ERR unknown command".to_owned(),
                    }
                }
            }

            /// What the server did, once every connection is over.
            #[derive(Debug, PartialEq, Eq)]
            pub struct Report {
                pub connections: usize,
                pub requests: usize,
                pub peak: usize,
                pub failed: Vec<String>,
            }

            pub fn bind(addr: &str) -> io::Result<TcpListener> {
                TcpListener::bind(addr)
            }

            /// Starts the acceptor thread: it takes `max_conns` connections (like the Rust
            /// book's `incoming().take(n)`), serves each on a thread of its own, and returns
            /// once all of them are done.
            pub fn start(
                listener: TcpListener,
                max_conns: usize,
                store: Arc<Store>,
            ) -> thread::JoinHandle<io::Result<Report>> {
                thread::spawn(move || {
                    let mut handlers = Vec::new();
                    for stream in listener.incoming().take(max_conns) {
                        let stream = stream?;
                        let store = Arc::clone(&store);
                        let handler = thread::Builder::new()
                            .name(format!("conn-{}", handlers.len()))
                            .spawn(move || handle(stream, &store))?;
                        handlers.push(handler);
                    }
                    let connections = handlers.len();
                    let mut failed = Vec::new();
                    for h in handlers {
                        match h.join() {
                            Ok(Ok(())) => {}
                            Ok(Err(e)) => failed.push(format!("I/O error: {e}")),
                            Err(_) => failed.push("handler panicked".to_owned()),
                        }
                    }
                    Ok(Report {
                        connections,
                        requests: store.requests.load(Ordering::SeqCst),
                        peak: store.peak.load(Ordering::SeqCst),
                        failed,
                    })
                })
            }

            /// Counts a running handler in `active`/`peak` while it lives.
            struct Running<'a>(&'a Store);

            impl<'a> Running<'a> {
                fn new(store: &'a Store) -> Running<'a> {
                    let now = store.active.fetch_add(1, Ordering::SeqCst) + 1;
                    store.peak.fetch_max(now, Ordering::SeqCst);
                    Running(store)
                }
            }

            impl Drop for Running<'_> {
                fn drop(&mut self) {
                    self.0.active.fetch_sub(1, Ordering::SeqCst);
                }
            }

            fn handle(stream: TcpStream, store: &Store) -> io::Result<()> {
                let _running = Running::new(store);
                let mut reader = BufReader::new(stream.try_clone()?);
                let mut writer = stream;
                let mut line = String::new();
                loop {
                    line.clear();
                    if reader.read_line(&mut line)? == 0 {
                        return Ok(()); // the client hung up without QUIT
                    }
                    let reply = store.execute(line.trim_end_matches(['\r', '\n']));
                    writer.write_all(format!("{reply}\n").as_bytes())?;
                    store.requests.fetch_add(1, Ordering::SeqCst);
                    if reply == "BYE" {
                        return Ok(()); // dropping both halves closes the connection
                    }
                }
            }
        }

        /// The client side: a connection, requests one at a time or pipelined, and the session
        /// every test client runs.
        pub mod client {
            use std::io::{self, BufRead, BufReader, Write};
            use std::net::SocketAddr;

            use super::net::TcpStream;

            pub struct Client {
                reader: BufReader<TcpStream>,
                writer: TcpStream,
                /// Requests answered so far.
                pub requests: usize,
            }

            impl Client {
                pub fn connect(addr: SocketAddr) -> io::Result<Client> {
                    let writer = TcpStream::connect(addr)?;
                    let reader = BufReader::new(writer.try_clone()?);
                    Ok(Client {
                        reader,
                        writer,
                        requests: 0,
                    })
                }

                fn read_reply(&mut self) -> io::Result<String> {
                    let mut line = String::new();
                    if self.reader.read_line(&mut line)? == 0 {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                    assert!(line.ends_with('\n'), "reply without a newline: {line:?}");
                    line.pop();
                    self.requests += 1;
                    Ok(line)
                }

                /// Sends one request and returns its reply (without the newline).
                pub fn request(&mut self, line: &str) -> io::Result<String> {
                    self.writer.write_all(format!("{line}\n").as_bytes())?;
                    self.read_reply()
                }

                /// Sends all `lines` in one write, then reads their replies.
                pub fn pipeline(&mut self, lines: &[String]) -> io::Result<Vec<String>> {
                    let batch: String = lines.iter().map(|l| format!("{l}\n")).collect();
                    self.writer.write_all(batch.as_bytes())?;
                    lines.iter().map(|_| self.read_reply()).collect()
                }

                /// `QUIT`: the reply is `BYE`, then the server closes the connection.
                pub fn quit(mut self) -> io::Result<usize> {
                    assert_eq!(self.request("QUIT")?, "BYE");
                    let mut rest = String::new();
                    let n = self.reader.read_line(&mut rest)?;
                    assert_eq!(n, 0, "data after BYE: {rest:?}");
                    Ok(self.requests)
                }
            }

            /// Client `id`'s session: `SET` its key, call `connected`, then `rounds` rounds of
            /// `UPPER` (up to 12 KiB, more than a `BufReader` holds), `INCR hits`, `GET` of its
            /// key and a pipelined batch of four; then `QUIT`. Every reply is checked; returns
            /// the `INCR hits` replies and the number of requests.
            pub fn session(
                addr: SocketAddr,
                id: usize,
                rounds: usize,
                connected: impl FnOnce(),
            ) -> io::Result<crate::Outcome> {
                let mut c = Client::connect(addr)?;
                let mut rng = crate::support::Rng::new(id as u64 + 7);
                let value = crate::value_of(id);
                assert_eq!(c.request(&format!("SET key{id} {value}"))?, "OK");
                connected();
                let mut hits = Vec::new();
                for round in 0..rounds {
                    let len = 1 + rng.below(12 << 10) as usize;
                    let text = crate::random_text(&mut rng, len);
                    let upper = c.request(&format!("UPPER {text}"))?;
                    assert!(
                        upper == text.to_ascii_uppercase(),
                        "client {id}: UPPER of {len} bytes came back wrong ({} bytes)",
                        upper.len()
                    );
                    hits.push(crate::parse_count(&c.request("INCR hits")?));
                    assert_eq!(
                        c.request(&format!("GET key{id}"))?,
                        format!("VALUE {value}")
                    );
                    let batch = [
                        "INCR hits".to_owned(),
                        format!("UPPER r{round}-c{id}"),
                        format!("GET missing{id}"),
                        format!("NOPE {round}"),
                    ];
                    let replies = c.pipeline(&batch)?;
                    hits.push(crate::parse_count(&replies[0]));
                    assert_eq!(replies[1], format!("R{round}-C{id}"));
                    assert_eq!(replies[2], "NONE");
                    assert_eq!(replies[3], "ERR unknown command");
                }
                let requests = c.quit()?;
                Ok(crate::Outcome { requests, hits })
            }
        }
    };
}

/// The program compiled against std.
mod on_std {
    use std::{net, thread};
    kv_program!();
}

/// The same program compiled against weft: only the imports differ.
mod on_weft {
    use weft::{net, thread};
    kv_program!();
}

// ---------------------------------------------------------------------------------------------
// Helpers shared by both builds
// ---------------------------------------------------------------------------------------------

/// What one client session saw.
#[derive(Debug)]
pub struct Outcome {
    /// Requests answered (including `SET` and `QUIT`).
    requests: usize,
    /// The replies to its `INCR hits` requests.
    hits: Vec<u64>,
}

/// `INCR` requests per round of a session.
const INCRS_PER_ROUND: usize = 2;

/// The value client `id` stores under `key{id}`.
fn value_of(id: usize) -> String {
    format!("value-{id}-{:x}", Rng::new(id as u64).next_u64())
}

/// `len` random lower-case letters, digits and spaces.
fn random_text(rng: &mut Rng, len: usize) -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789 ";
    (0..len)
        .map(|_| CHARS[rng.below(CHARS.len() as u64) as usize] as char)
        .collect()
}

fn parse_count(reply: &str) -> u64 {
    reply
        .parse()
        .unwrap_or_else(|_| panic!("INCR replied {reply:?}"))
}

/// The number of OS threads in this process.
fn os_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .count()
}

/// How client `id` runs: as a weft coroutine with weft sockets, as a plain OS thread with std
/// sockets, or as a plain OS thread with weft sockets (which block it like std's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Coroutine,
    OsStd,
    OsWeft,
}

/// Drives `n` concurrent clients of `kinds(id)` against the server at `addr`. Every client
/// connects and stores its key, then waits until all `n` have done so (so all `n` connections
/// are open and served at once, and `at_gate` runs then), then runs the rest of its session.
/// Afterwards a last client checks the store: every key, and the `hits` counter, whose
/// replies over all clients must be exactly 1..=total. Returns the requests sent, over all
/// `n + 1` connections.
fn drive_clients(
    addr: SocketAddr,
    n: usize,
    rounds: usize,
    kinds: impl Fn(usize) -> Kind,
    at_gate: impl FnOnce(),
) -> usize {
    let (connected_tx, connected_rx) = chan::unbounded::<()>();
    let (gate_tx, gate_rx) = chan::bounded::<()>(0);
    let clients: Vec<Party<Outcome>> = (0..n)
        .map(|id| {
            let (connected, gate) = (connected_tx.clone(), gate_rx.clone());
            let ready = move || {
                connected.send(()).unwrap();
                drop(connected);
                // No client goes on before every connection is open.
                assert!(gate.recv().is_err());
            };
            let kind = kinds(id);
            start(kind != Kind::Coroutine, move || {
                let outcome = match kind {
                    Kind::OsStd => on_std::client::session(addr, id, rounds, ready),
                    Kind::Coroutine | Kind::OsWeft => {
                        on_weft::client::session(addr, id, rounds, ready)
                    }
                };
                outcome.unwrap_or_else(|e| panic!("client {id} ({kind:?}): {e}"))
            })
        })
        .collect();
    drop(connected_tx);
    for _ in 0..n {
        connected_rx
            .recv()
            .expect("a client failed before it was connected");
    }
    at_gate();
    drop(gate_tx);

    let mut requests = 0;
    let mut hits = Vec::new();
    for client in clients {
        let outcome = client.join();
        requests += outcome.requests;
        hits.extend(outcome.hits);
    }
    let total = (n * rounds * INCRS_PER_ROUND) as u64;
    hits.sort_unstable();
    assert!(
        hits.iter().copied().eq(1..=total),
        "the INCR replies are not exactly 1..={total} ({} replies)",
        hits.len()
    );

    // The last client, on this plain thread: every key is still there, `hits` is the total,
    // and `DEL` removes.
    let mut c = on_std::client::Client::connect(addr).expect("checker connects");
    for id in 0..n {
        assert_eq!(
            c.request(&format!("GET key{id}")).unwrap(),
            format!("VALUE {}", value_of(id))
        );
    }
    assert_eq!(c.request("GET hits").unwrap(), format!("VALUE {total}"));
    assert_eq!(c.request("DEL key0").unwrap(), "DELETED");
    assert_eq!(c.request("GET key0").unwrap(), "NONE");
    assert_eq!(c.request("SET lonely").unwrap(), "ERR usage: SET key value");
    assert_eq!(c.request("INCR key1").unwrap(), "ERR not a number");
    requests + c.quit().unwrap()
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

/// The weft build on the default runtime: 500 clients connected at once (80% coroutines, the
/// rest OS threads with std or weft sockets), 4 rounds each. While all 500 connections are open,
/// all 500 handlers are running, yet the process has far fewer than 500 OS threads: the
/// connection "threads" are coroutines. Every reply is checked and the server's own count of
/// connections and requests must match the clients'.
#[test]
fn weft_build_serves_five_hundred_concurrent_clients() {
    const N: usize = 500;
    const ROUNDS: usize = 4;
    let _heavy = heavy();
    // Two descriptors per end (each end `try_clone`s its stream), plus slack.
    if !fd_budget(4 * N as u64 + 256) {
        return;
    }
    watchdog(|| {
        let listener = on_weft::server::bind("127.0.0.1:0").unwrap();
        deepen_backlog(&listener, 1024);
        let addr = listener.local_addr().unwrap();
        let store = Arc::new(on_weft::server::Store::default());
        let server = on_weft::server::start(listener, N + 1, store.clone());
        let kinds = |id: usize| match id % 10 {
            0 => Kind::OsStd,
            5 => Kind::OsWeft,
            _ => Kind::Coroutine,
        };
        let os_clients = (0..N).filter(|&id| kinds(id) != Kind::Coroutine).count();
        let requests = drive_clients(addr, N, ROUNDS, kinds, || {
            assert_eq!(store.active.load(Ordering::SeqCst), N);
            let threads = os_threads();
            assert!(
                threads < os_clients + N / 4,
                "{N} connection handlers and {os_clients} OS-thread clients run on {threads} OS \
                 threads: the handlers are not coroutines"
            );
        });
        let report = server.join().expect("acceptor panicked").unwrap();
        assert_eq!(
            report,
            on_weft::server::Report {
                connections: N + 1,
                requests,
                peak: N,
                failed: vec![],
            }
        );
        // Per client: SET, 7 per round, QUIT; the checker: N + 6.
        assert_eq!(requests, N * (2 + ROUNDS * 7) + N + 6);
    });
}

/// The very same source built against std (one OS thread per connection): 50 clients, half of
/// them weft coroutines, the rest OS threads with std or weft sockets; the same checks.
#[test]
fn std_build_serves_the_same_clients() {
    const N: usize = 50;
    const ROUNDS: usize = 4;
    let _heavy = heavy();
    if !fd_budget(4 * N as u64 + 256) {
        return;
    }
    watchdog(|| {
        let listener = on_std::server::bind("127.0.0.1:0").unwrap();
        deepen_backlog(&listener, 1024);
        let addr = listener.local_addr().unwrap();
        let store = Arc::new(on_std::server::Store::default());
        let server = on_std::server::start(listener, N + 1, store.clone());
        let kinds = |id: usize| match id % 4 {
            0 => Kind::OsStd,
            1 => Kind::OsWeft,
            _ => Kind::Coroutine,
        };
        let requests = drive_clients(addr, N, ROUNDS, kinds, || {
            assert_eq!(store.active.load(Ordering::SeqCst), N);
        });
        let report = server.join().expect("acceptor panicked").unwrap();
        assert_eq!(
            report,
            on_std::server::Report {
                connections: N + 1,
                requests,
                peak: N,
                failed: vec![],
            }
        );
        // Per client: SET, 7 per round, QUIT; the checker: N + 6.
        assert_eq!(requests, N * (2 + ROUNDS * 7) + N + 6);
    });
}
