//! `lookup_host`: name resolution on the blocking pool, so that `getaddrinfo` never holds up a
//! worker.
//!
//! `connect`, `bind` and `send_to` keep std's signature (`A: ToSocketAddrs`, neither `Send`
//! nor `Sync`), so they must resolve on the caller's thread (arch/io.md, known gaps). A
//! program that connects by host name from coroutines resolves first with [`lookup_host`]
//! (tokio's name for the same thing) and passes the addresses on:
//!
//! ```
//! use weft::net::{lookup_host, TcpListener, TcpStream};
//!
//! let listener = TcpListener::bind("127.0.0.1:0").unwrap();
//! let port = listener.local_addr().unwrap().port();
//! let addrs: Vec<_> = lookup_host(format!("localhost:{port}")).unwrap().collect();
//! # let addrs: Vec<_> = addrs.into_iter().filter(|a| a.is_ipv4()).collect();
//! let stream = TcpStream::connect(&addrs[..]).unwrap();
//! assert_eq!(stream.peer_addr().unwrap().port(), port);
//! ```

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

/// Resolves `host` (anything `ToSocketAddrs` takes: `"example.com:80"`, `("example.com", 80)`,
/// a `SocketAddr`…) into its socket addresses, running the resolution on the
/// [`spawn_blocking`](crate::thread::spawn_blocking) pool.
///
/// **Blocking:** in a coroutine, the coroutine parks until the pool thread has an answer and
/// its worker runs other coroutines meanwhile; on a plain OS thread, the thread blocks. Errors
/// are the resolver's, as `to_socket_addrs` returns them; a panic in a user `ToSocketAddrs`
/// implementation comes back as an `io::Error` of kind `Other`.
pub fn lookup_host<A>(host: A) -> io::Result<std::vec::IntoIter<SocketAddr>>
where
    A: ToSocketAddrs + Send + 'static,
{
    let job = crate::thread::spawn_blocking(move || {
        host.to_socket_addrs()
            .map(|addrs| addrs.collect::<Vec<_>>())
    });
    match job.join() {
        Ok(resolved) => resolved.map(Vec::into_iter),
        Err(_) => Err(io::Error::other(
            "weft::net::lookup_host: the ToSocketAddrs implementation panicked",
        )),
    }
}
