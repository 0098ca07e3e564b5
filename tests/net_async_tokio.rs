//! weft's TCP and Unix streams as `tokio::io::{AsyncRead, AsyncWrite}` (feature `tokio`; IO7
//! in arch/io.md), driven by `weft::future::block_on` with no tokio runtime anywhere: tokio's
//! own combinators (`AsyncReadExt`, `AsyncWriteExt`, `tokio::io::copy`) over weft's driver.
//! Run with `cargo test --features tokio --test net_async_tokio` (.ci/run does).
#![cfg(feature = "tokio")]

mod support;

use support::watchdog;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use weft::future::block_on;
use weft::net::{TcpListener, TcpStream};

#[test]
fn tokio_combinators_over_weft_tcp_without_a_tokio_runtime() {
    watchdog(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // The server: tokio::io::copy from a weft stream to itself (an echo), in a coroutine.
        let server = weft::go!(move || {
            let (stream, _) = listener.accept().unwrap();
            block_on(async {
                let (mut r, mut w) = (&stream, &stream);
                let n = tokio::io::copy(&mut r, &mut w).await.unwrap();
                AsyncWriteExt::shutdown(&mut w).await.unwrap();
                n
            })
        });
        let sent = vec![3u8; 200 * 1024];
        let expected = sent.clone();
        let client = weft::go!(move || {
            let stream = TcpStream::connect(addr).unwrap();
            block_on(async {
                let (mut r, mut w) = (&stream, &stream);
                // Write and read at once (the echo needs both to flow).
                let write = async {
                    w.write_all(&sent).await.unwrap();
                    AsyncWriteExt::shutdown(&mut w).await.unwrap();
                };
                let read = async {
                    let mut back = Vec::new();
                    r.read_to_end(&mut back).await.unwrap();
                    back
                };
                let ((), back) = tokio::join!(write, read);
                back
            })
        });
        assert_eq!(client.join().unwrap(), expected);
        assert_eq!(server.join().unwrap(), 200 * 1024);
    });
}

#[test]
fn a_unix_stream_pair_through_tokio_traits() {
    use weft::os::unix::net::UnixStream;
    watchdog(|| {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        let writer = std::thread::spawn(move || {
            block_on(async {
                a.write_all(b"over tokio's traits").await.unwrap();
                AsyncWriteExt::shutdown(&mut a).await.unwrap();
            })
        });
        let mut got = String::new();
        block_on(b.read_to_string(&mut got)).unwrap();
        writer.join().unwrap();
        assert_eq!(got, "over tokio's traits");
    });
}
