//! hyper 1 on weft (feature `hyper`): hyper's HTTP/1 server over weft's `TcpStream`, each
//! connection's future on a coroutine (`weft::future::block_on`), with handlers that make
//! plain blocking weft calls inside hyper's service; hyper's timer on weft's sleeps. Run with
//! `cargo test --features hyper --test net_hyper` (.ci/run does).
#![cfg(feature = "hyper")]

mod support;

use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use support::{child_is, child_report, run_child, watchdog};
use weft::chan;
use weft::future::block_on;
use weft::future::hyper::{Executor, Timer};

/// A plain blocking request handler: the body to answer with.
type Handler = Arc<dyn Fn(&Request<Incoming>) -> String + Send + Sync>;

/// Serves `handler` with hyper on a weft listener.
fn serve(handler: Handler) -> SocketAddr {
    let listener = weft::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    weft::go!(move || {
        for stream in listener.incoming() {
            let stream = stream.unwrap();
            let handler = handler.clone();
            weft::go!(move || {
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    // A blocking call inside the service's future: it runs on this
                    // connection's coroutine, so it parks only that coroutine.
                    let body = handler(&req);
                    async move { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body)))) }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(Timer)
                    .serve_connection(stream, service);
                let _ = block_on(conn);
            });
        }
    });
    addr
}

/// One GET with a plain std client; returns the body.
fn get(addr: SocketAddr, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut all = String::new();
    s.read_to_string(&mut all).unwrap();
    let (head, body) = all.split_once("\r\n\r\n").expect("a response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_owned()
}

#[test]
fn hyper_serves_blocking_handlers_on_weft() {
    watchdog(|| {
        let lock = Arc::new(weft::sync::Mutex::new(0u32));
        let l = lock.clone();
        let addr = serve(Arc::new(move |req: &Request<Incoming>| {
            weft::thread::sleep(std::time::Duration::from_millis(5));
            let mut n = l.lock().unwrap();
            *n += 1;
            format!("{} #{n}", req.uri().path())
        }));
        let clients: Vec<_> = (0..20)
            .map(|i| std::thread::spawn(move || get(addr, &format!("/p{i}"))))
            .collect();
        let mut paths: Vec<String> = clients
            .into_iter()
            .map(|c| c.join().unwrap())
            .map(|body| body.split(' ').next().unwrap().to_owned())
            .collect();
        paths.sort();
        let mut expected: Vec<String> = (0..20).map(|i| format!("/p{i}")).collect();
        expected.sort();
        assert_eq!(paths, expected, "each request answered once");
        assert_eq!(*lock.lock().unwrap(), 20);
    });
}

#[test]
fn the_executor_and_the_timer() {
    use hyper::rt::{Executor as _, Timer as _};
    watchdog(|| {
        let (tx, rx) = chan::bounded::<u32>(1);
        Executor.execute(async move {
            tx.send(5).unwrap();
        });
        assert_eq!(rx.recv().unwrap(), 5);
        let slept = weft::go!(|| {
            let start = std::time::Instant::now();
            block_on(Timer.sleep(std::time::Duration::from_millis(30)));
            start.elapsed()
        })
        .join()
        .unwrap();
        assert!(slept >= std::time::Duration::from_millis(30));
    });
}

/// One worker: the first request's handler waits on a channel that the second request's
/// handler sends to. Both run only if blocking inside hyper's service parks just that
/// connection's coroutine.
#[test]
fn child_one_worker() {
    if !child_is("one-worker") {
        return;
    }
    let (tx, rx) = chan::bounded::<String>(0);
    let (tx, rx) = (Arc::new(tx), Arc::new(rx));
    let addr = serve(Arc::new(move |req: &Request<Incoming>| {
        if req.uri().path() == "/wait" {
            rx.recv().unwrap()
        } else {
            tx.send("from the second".into()).unwrap();
            "sent".into()
        }
    }));
    let first = std::thread::spawn(move || get(addr, "/wait"));
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert_eq!(get(addr, "/send"), "sent");
    assert_eq!(first.join().unwrap(), "from the second");
    child_report("ok", "yes");
}

#[test]
fn on_one_worker_a_blocked_handler_leaves_the_others_running() {
    let out = run_child("child_one_worker", "one-worker", &[("WEFT_WORKERS", "1")]);
    out.assert_success();
    assert!(out.stdout.contains("[ok=yes]"), "{}", out.dump());
}

/// FU2: thousands of sleeps armed and dropped (hyper arms and drops a header timeout at every
/// request) start no coroutine, and the timer still fires afterwards: a short sleep armed after
/// a long one (so the timer thread must be woken for the earlier deadline) completes while the
/// long one is still pending.
#[test]
fn timer_sleeps_armed_and_dropped_cost_no_coroutine() {
    use hyper::rt::Timer as _;
    watchdog(|| {
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        for _ in 0..5000 {
            let mut sleep = Timer.sleep(std::time::Duration::from_secs(3600));
            assert!(sleep.as_mut().poll(&mut cx).is_pending());
            drop(sleep);
        }
        let timer_coroutines = weft::runtime::dump()
            .iter()
            .filter(|e| e.spawned_at().file().contains("src/future/"))
            .count();
        assert_eq!(timer_coroutines, 0, "the timer starts no coroutine");
        let mut long = Timer.sleep(std::time::Duration::from_secs(3600));
        assert!(long.as_mut().poll(&mut cx).is_pending());
        weft::go!(|| block_on(Timer.sleep(std::time::Duration::from_millis(30))))
            .join()
            .unwrap();
        assert!(
            long.as_mut().poll(&mut cx).is_pending(),
            "an hour has not passed"
        );
    });
}
