//! hyper's HTTP/1.1 server on weft, with plain blocking handlers (feature `hyper`).
//!
//! Each connection is a coroutine that runs hyper's connection future with
//! `weft::future::block_on`, so the service's code runs on that coroutine's stack: the handler
//! below is an ordinary function that sleeps, locks a `weft::sync::Mutex` and receives on a
//! channel, inside hyper's service, and each of those parks only its connection's coroutine.
//! hyper's timer (header read timeout) runs on weft's sleeps.
//!
//! ```text
//! cargo run --release --features hyper --example hyper_server            # 127.0.0.1:3000
//! curl http://127.0.0.1:3000/hello
//! ```

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use weft::chan;
use weft::future::block_on;
use weft::future::hyper::Timer;

/// What every handler shares: a request counter behind a weft lock, and a channel a helper
/// coroutine keeps filled with tickets.
struct App {
    served: weft::sync::Mutex<u64>,
    tickets: chan::Receiver<u64>,
}

/// The handler: plain blocking code.
fn handle(app: &App, req: &Request<Incoming>) -> String {
    // A blocking sleep: parks this connection's coroutine only.
    weft::thread::sleep(Duration::from_millis(1));
    // A blocking lock.
    let n = {
        let mut served = app.served.lock().unwrap_or_else(|e| e.into_inner());
        *served += 1;
        *served
    };
    // A blocking receive.
    let ticket = app.tickets.recv().unwrap_or(0);
    format!(
        "{} {}: request {n}, ticket {ticket}\n",
        req.method(),
        req.uri().path()
    )
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3000".into());
    let (tx, tickets) = chan::bounded::<u64>(16);
    weft::go!(move || {
        for ticket in 1.. {
            if tx.send(ticket).is_err() {
                break;
            }
        }
    });
    let app = Arc::new(App {
        served: weft::sync::Mutex::new(0),
        tickets,
    });
    let listener = weft::net::TcpListener::bind(&addr)?;
    println!("hyper on weft: http://{}/", listener.local_addr()?);
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let app = app.clone();
        weft::go!(move || {
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let body = handle(&app, &req);
                async move { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body)))) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(Timer)
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(stream, service);
            if let Err(e) = block_on(connection) {
                eprintln!("connection: {e}");
            }
        });
    }
    Ok(())
}
