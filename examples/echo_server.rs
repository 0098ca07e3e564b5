//! A TCP echo server written as plain blocking code: one coroutine per connection.
//!
//! ```text
//! cargo run --release --example echo_server                    # serve on 127.0.0.1:7878
//! cargo run --release --example echo_server -- 0.0.0.0:9000    # another address
//! cargo run --release --example echo_server -- --demo 5000     # server and 5,000 clients
//! ```
//!
//! Serving: try it with `nc 127.0.0.1 7878`. The code is what a thread-per-connection server
//! for `std::net` looks like; only the imports differ.
//!
//! `--demo N` runs the server and N client coroutines in one process: every client connects,
//! sends 100 messages of 64 bytes, checks each echo byte for byte, and stays connected until
//! all clients are done, so N connections are open at once. It prints the elapsed time, the
//! round trips per second and the peak memory, all on the runtime's few worker threads.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::Instant;

use weft::chan;
use weft::net::{TcpListener, TcpStream};

fn handle(mut conn: TcpStream) -> io::Result<u64> {
    let mut buf = [0u8; 4096];
    let mut echoed = 0;
    loop {
        let n = conn.read(&mut buf)?;
        if n == 0 {
            return Ok(echoed);
        }
        conn.write_all(&buf[..n])?;
        echoed += n as u64;
    }
}

fn serve(listener: TcpListener) {
    for conn in listener.incoming() {
        match conn {
            Ok(conn) => {
                weft::go!(move || {
                    if let Err(e) = handle(conn) {
                        eprintln!("connection ended with an error: {e}");
                    }
                });
            }
            // Out of descriptors (EMFILE/ENFILE) or a connection reset before accept: report
            // it and go on accepting.
            Err(e) => {
                eprintln!("accept failed: {e}");
                weft::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
    }
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--demo") {
        let clients = match args.get(1) {
            Some(n) => n.parse().map_err(|_| {
                io::Error::new(io::ErrorKind::InvalidInput, "--demo takes a client count")
            })?,
            None => 5_000,
        };
        return demo(clients);
    }
    let addr = args.first().map_or("127.0.0.1:7878", String::as_str);
    let listener = TcpListener::bind(addr)?;
    println!(
        "echo server on {}; try: nc {}",
        listener.local_addr()?,
        listener.local_addr()?.to_string().replace(':', " ")
    );
    serve(listener);
    Ok(())
}

/// Messages per client in `--demo`.
const ROUNDS: usize = 100;
/// Bytes per message.
const MSG: usize = 64;

fn demo(clients: usize) -> io::Result<()> {
    raise_fd_limit(clients * 2 + 64)?;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    weft::go!(move || serve(listener));
    let start = Instant::now();
    // Each client reports its result, then keeps its connection open until `release` is
    // dropped, so all `clients` connections are open at once.
    let (results, reported) = chan::unbounded();
    let (release, released) = chan::bounded::<()>(0);
    let handles: Vec<_> = (0..clients)
        .map(|i| {
            let (results, released) = (results.clone(), released.clone());
            weft::go!(move || {
                let conn = client(addr, i);
                let ok = conn.is_ok();
                results
                    .send(
                        conn.as_ref()
                            .map(|_| ())
                            .map_err(|e| io::Error::new(e.kind(), e.to_string())),
                    )
                    .expect("main is listening");
                let _ = released.recv();
                drop(conn);
                ok
            })
        })
        .collect();
    let mut failed = 0;
    for _ in 0..clients {
        if let Err(e) = reported.recv().expect("every client reports") {
            failed += 1;
            if failed <= 5 {
                eprintln!("client failed: {e}");
            }
        }
    }
    let elapsed = start.elapsed();
    let peak = peak_kib();
    drop(release);
    for h in handles {
        h.join().expect("a client panicked");
    }
    println!("{clients} clients x {ROUNDS} round trips of {MSG} bytes, every byte checked");
    println!("  elapsed         {:>10.3} s", elapsed.as_secs_f64());
    println!(
        "  round trips/s   {:>10.0}",
        (clients * ROUNDS) as f64 / elapsed.as_secs_f64()
    );
    println!("  peak memory     {:>10.1} MiB (VmHWM)", peak / 1024.0);
    if failed > 0 {
        return Err(io::Error::other(format!("{failed} clients failed")));
    }
    Ok(())
}

/// One client's rounds; returns the still open connection.
fn client(addr: SocketAddr, i: usize) -> io::Result<TcpStream> {
    let mut conn = TcpStream::connect(addr)?;
    let mut msg = [0u8; MSG];
    let mut echo = [0u8; MSG];
    for round in 0..ROUNDS {
        for (k, b) in msg.iter_mut().enumerate() {
            *b = (i + round * 7 + k) as u8;
        }
        conn.write_all(&msg)?;
        conn.read_exact(&mut echo)?;
        if echo != msg {
            return Err(io::Error::other(format!(
                "client {i}: round {round} came back wrong"
            )));
        }
    }
    Ok(conn)
}

fn raise_fd_limit(needed: usize) -> io::Result<()> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into `lim`, which lives across the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if lim.rlim_cur as usize >= needed {
        return Ok(());
    }
    if (lim.rlim_max as usize) < needed {
        return Err(io::Error::other(format!(
            "{needed} file descriptors are needed but the hard limit is {}; raise it \
             (ulimit -Hn) or ask for fewer clients",
            lim.rlim_max
        )));
    }
    lim.rlim_cur = needed as libc::rlim_t;
    // SAFETY: setrlimit reads one valid rlimit.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn peak_kib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0.0)
}
