//! Benchmarks of `weft::net`, each measured next to its peers in the same run.
//!
//! - `tcp_echo`: one round trip of a 64-byte message over a loopback TCP connection (the
//!   client writes 64 bytes and reads the 64-byte echo; the server reads 64 and writes them
//!   back). One criterion iteration is one round trip (`iter_custom`). weft: client and server
//!   coroutines on the same worker (`weft_same_worker`: every round trip goes through the I/O
//!   driver, since the worker has nothing else to run while both wait) and on different
//!   workers (`weft_cross_worker`). Peers: std blocking sockets with the client and the server
//!   on two OS threads (`std_threads`), tokio `TcpStream` tasks on a 2-worker multi-thread
//!   runtime and on a current-thread runtime.
//!
//! Setup stays out of the timed region: the weft runtime (2 workers, like the tokio
//! multi-thread peer) is started before any group, connections are made and one untimed round
//! trip is done before the clock starts.
//!
//! ```text
//! cargo bench --bench net                  # everything, under a minute
//! cargo bench --bench net -- --test        # run each bench once, no timing
//! ```
//!
//! Loopback round trips are dominated by system calls and wake-ups: run on a quiet machine
//! (`uptime`), or twice and compare; the load average is printed at start and end.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use criterion::Criterion;

mod support;

use support::{
    Placement, print_load, spawn_placed, start_criterion, tokio_current_thread_io,
    tokio_multi_thread_io,
};

/// Bytes per message.
const MSG: usize = 64;

fn main() {
    let mut c = start_criterion(20, Duration::from_secs(2));
    tcp_echo(&mut c);
    c.final_summary();
    print_load("end");
}

fn tcp_echo(c: &mut Criterion) {
    let mut group = c.benchmark_group("tcp_echo");
    for (name, placement) in [
        ("weft_same_worker", Placement::SameWorker),
        ("weft_cross_worker", Placement::OtherWorker),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                weft::go!(move || weft_echo(iters, placement))
                    .join()
                    .expect("no panic")
            })
        });
    }
    group.bench_function("std_threads", |b| b.iter_custom(std_echo));
    let rt = tokio_multi_thread_io();
    group.bench_function("tokio_multi_thread", |b| {
        b.iter_custom(|iters| rt.block_on(rt.spawn(tokio_echo(iters))).expect("no panic"))
    });
    let rt = tokio_current_thread_io();
    group.bench_function("tokio_current_thread", |b| {
        b.iter_custom(|iters| rt.block_on(tokio_echo(iters)))
    });
    group.finish();
}

/// The client half of a run: one untimed round trip, then `iters` timed ones.
fn client_rounds(mut conn: impl Read + Write, iters: u64) -> Duration {
    let mut msg = [7u8; MSG];
    let mut round = |msg: &mut [u8; MSG]| {
        conn.write_all(msg).expect("write");
        conn.read_exact(msg).expect("read");
    };
    round(&mut msg);
    let start = Instant::now();
    for _ in 0..iters {
        round(&mut msg);
    }
    let elapsed = start.elapsed();
    assert_eq!(msg, [7u8; MSG], "the echo came back intact");
    elapsed
}

/// The server half: echoes 64-byte messages until the client closes.
fn serve(mut conn: impl Read + Write) {
    let mut msg = [0u8; MSG];
    while conn.read_exact(&mut msg).is_ok() {
        conn.write_all(&msg).expect("write");
    }
}

fn weft_echo(iters: u64, placement: Placement) -> Duration {
    let listener = weft::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = spawn_placed(placement, move || {
        let (conn, _) = listener.accept().expect("accept");
        conn.set_nodelay(true).expect("nodelay");
        serve(conn);
    });
    let conn = weft::net::TcpStream::connect(addr).expect("connect");
    conn.set_nodelay(true).expect("nodelay");
    let elapsed = client_rounds(&conn, iters);
    drop(conn);
    server.join().expect("no panic").expect("placed");
    elapsed
}

fn std_echo(iters: u64) -> Duration {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = std::thread::spawn(move || {
        let (conn, _) = listener.accept().expect("accept");
        conn.set_nodelay(true).expect("nodelay");
        serve(conn);
    });
    let conn = std::net::TcpStream::connect(addr).expect("connect");
    conn.set_nodelay(true).expect("nodelay");
    let elapsed = client_rounds(&conn, iters);
    drop(conn);
    server.join().expect("no panic");
    elapsed
}

async fn tokio_echo(iters: u64) -> Duration {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        let (mut conn, _) = listener.accept().await.expect("accept");
        conn.set_nodelay(true).expect("nodelay");
        let mut msg = [0u8; MSG];
        while conn.read_exact(&mut msg).await.is_ok() {
            conn.write_all(&msg).await.expect("write");
        }
    });
    let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
    conn.set_nodelay(true).expect("nodelay");
    let mut msg = [7u8; MSG];
    conn.write_all(&msg).await.expect("write");
    conn.read_exact(&mut msg).await.expect("read");
    let start = Instant::now();
    for _ in 0..iters {
        conn.write_all(&msg).await.expect("write");
        conn.read_exact(&mut msg).await.expect("read");
    }
    let elapsed = start.elapsed();
    assert_eq!(msg, [7u8; MSG], "the echo came back intact");
    drop(conn);
    server.await.expect("no panic");
    elapsed
}
