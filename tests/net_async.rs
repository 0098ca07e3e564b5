//! weft's TCP stream as `futures::io::{AsyncRead, AsyncWrite}` (feature `futures-io`; IO7 in
//! arch/io.md), on weft's own I/O driver: no other runtime runs. Run with
//! `cargo test --features futures-io --test net_async` (.ci/run does).
#![cfg(feature = "futures-io")]

mod support;

use futures_util::io::{AsyncReadExt, AsyncWriteExt};
use support::watchdog;
use weft::future::block_on;
use weft::net::{TcpListener, TcpStream};

/// An echo server of plain blocking weft code.
fn echo_server() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    weft::go!(move || {
        for stream in listener.incoming() {
            let stream = stream.unwrap();
            weft::go!(move || {
                let _ = std::io::copy(&mut &stream, &mut &stream);
                drop(stream.shutdown(std::net::Shutdown::Write));
            });
        }
    });
    addr
}

/// Writes `msg` with the async traits, closes the writing half, reads everything back.
async fn round_trip(addr: std::net::SocketAddr, msg: Vec<u8>) -> Vec<u8> {
    // Connecting is blocking weft code; the stream is then used through the async traits.
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(&msg).await.unwrap();
    stream.close().await.unwrap();
    let mut back = Vec::new();
    stream.read_to_end(&mut back).await.unwrap();
    back
}

#[test]
fn an_async_echo_from_a_thread_and_from_coroutines() {
    watchdog(|| {
        let addr = echo_server();
        // From a plain thread: the waker wakes the thread, the runtime's workers poll.
        let msg = b"hello from a thread".to_vec();
        assert_eq!(block_on(round_trip(addr, msg.clone())), msg);
        // 100 coroutines at once, each with 64 KiB (more than a socket buffer: the writes and
        // reads wait for the driver in between).
        let handles: Vec<_> = (0..100u8)
            .map(|i| {
                weft::go!(move || {
                    let msg = vec![i; 64 * 1024];
                    let back = block_on(round_trip(addr, msg.clone()));
                    back == msg
                })
            })
            .collect();
        let ok = handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|&same| same)
            .count();
        assert_eq!(ok, 100, "every echo came back whole");
    });
}

#[test]
fn a_read_waits_for_data_and_a_shared_stream_reads_and_writes() {
    watchdog(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = weft::go!(move || {
            let (stream, _) = listener.accept().unwrap();
            // `&TcpStream` implements the traits too: read and write through shared references.
            block_on(async {
                let mut buf = [0u8; 4];
                (&stream).read_exact(&mut buf).await.unwrap();
                (&stream).write_all(&buf).await.unwrap();
                buf
            })
        });
        let mut client = std::net::TcpStream::connect(addr).unwrap();
        // The server's read is pending for a while (nothing sent yet).
        std::thread::sleep(std::time::Duration::from_millis(50));
        std::io::Write::write_all(&mut client, b"ping").unwrap();
        let mut back = [0u8; 4];
        std::io::Read::read_exact(&mut client, &mut back).unwrap();
        assert_eq!(&back, b"ping");
        assert_eq!(&server.join().unwrap(), b"ping");
    });
}

#[test]
fn a_unix_stream_pair_talks_through_the_async_traits() {
    use weft::os::unix::net::UnixStream;
    watchdog(|| {
        let (a, b) = UnixStream::pair().unwrap();
        let writer = weft::go!(move || {
            block_on(async {
                let mut a = a;
                // More than a socket buffer: the write waits for the reader in between.
                a.write_all(&vec![7u8; 256 * 1024]).await.unwrap();
                a.close().await.unwrap();
            })
        });
        let got = weft::go!(move || {
            block_on(async {
                let mut b = b;
                let mut all = Vec::new();
                b.read_to_end(&mut all).await.unwrap();
                all
            })
        })
        .join()
        .unwrap();
        writer.join().unwrap();
        assert_eq!(got.len(), 256 * 1024);
        assert!(got.iter().all(|&x| x == 7));
    });
}

/// A plain thread's async read when no socket is registered and every worker sleeps: the
/// registration must wake a worker to poll the driver (without it the read waited for ever).
#[test]
fn child_plain_thread_read_with_idle_workers() {
    use weft::os::unix::net::UnixStream;
    if !support::child_is("idle-read") {
        return;
    }
    weft::go!(|| ()).join().unwrap();
    // The workers go to sleep with no source registered.
    std::thread::sleep(std::time::Duration::from_millis(50));
    let (mut a, mut b) = UnixStream::pair().unwrap();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(100));
        std::io::Write::write_all(&mut b, b"late").unwrap();
    });
    let mut got = [0u8; 4];
    block_on(a.read_exact(&mut got)).unwrap();
    writer.join().unwrap();
    support::child_report("got", std::str::from_utf8(&got).unwrap());
}

#[test]
fn a_plain_thread_read_wakes_an_idle_worker_to_poll() {
    let out = support::run_child_with_timeout(
        "child_plain_thread_read_with_idle_workers",
        "idle-read",
        &[("WEFT_WORKERS", "1")],
        20,
    );
    out.assert_success();
    assert!(out.stdout.contains("[got=late]"), "{}", out.dump());
}
