//! Calling a tokio-based crate from blocking coroutines: hyper's HTTP client fetches a page
//! from a server written as plain blocking weft code, in one process.
//!
//! The client's future needs tokio (its sockets and timers), so it runs on a tokio runtime with
//! a thread of its own; each coroutine waits for its result with `weft::future::block_on`,
//! which parks only that coroutine:
//!
//! ```text
//! let page = weft::future::block_on(tokio_handle.spawn(fetch(url))).expect("no panic")?;
//! ```
//!
//! Run: `cargo run --release --example tokio_bridge`

use std::io::{self, BufRead, BufReader, Write};
use std::net::SocketAddr;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

/// The server: plain blocking code on weft's sockets, one coroutine per connection.
fn serve(listener: weft::net::TcpListener) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        weft::go!(move || {
            let _ = answer(stream);
        });
    }
}

/// Reads one request head and answers it (keep-alive off, to keep it short).
fn answer(stream: weft::net::TcpStream) -> io::Result<()> {
    let mut reader = BufReader::new(&stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
    loop {
        line.clear();
        if reader.read_line(&mut line)? <= 2 {
            break;
        }
    }
    // A blocking call in the handler: it parks this coroutine only.
    weft::thread::sleep(std::time::Duration::from_millis(10));
    let body = format!("hello from a blocking weft handler, you asked for {path}\n");
    write!(
        &stream,
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// The client: hyper 1's HTTP/1 client on tokio's `TcpStream`: a future that needs tokio.
async fn fetch(
    addr: SocketAddr,
    path: String,
) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let request = hyper::Request::get(path)
        .header(hyper::header::HOST, addr.to_string())
        .body(Empty::<Bytes>::new())?;
    let response = sender.send_request(request).await?;
    let body = response.into_body().collect().await?.to_bytes();
    Ok(String::from_utf8_lossy(&body).into_owned())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listener = weft::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    weft::go!(move || serve(listener));

    // tokio on a thread of its own; weft's coroutines hand it futures and wait.
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let handle = tokio.handle().clone();

    let clients: Vec<_> = (0..4)
        .map(|i| {
            let handle = handle.clone();
            weft::go!(move || {
                let page = weft::future::block_on(handle.spawn(fetch(addr, format!("/page/{i}"))))
                    .expect("the fetch panicked");
                page.map_err(|e| e.to_string())
            })
        })
        .collect();
    for client in clients {
        print!("{}", client.join().expect("no panic")?);
    }
    Ok(())
}
