//! Name resolution on the blocking pool, so that `getaddrinfo` never holds up a worker (IO6,
//! arch/io.md).
//!
//! `connect`, `bind` and `send_to` keep std's signature, `A: ToSocketAddrs`, which is neither
//! `Send` nor `Sync`: an arbitrary `A` cannot be handed to another thread. [`resolve`]
//! recognises std's string forms (`&str`, `String`, `(&str, u16)`, `(String, u16)`, and each
//! of them behind one more `&`), the ones whose `to_socket_addrs` asks the system resolver, copies the host
//! name out and resolves the copy on the pool; IP literals and every other type resolve inline
//! (a user's own `ToSocketAddrs` runs where it is called, as with std). [`lookup_host`]
//! (tokio's name) does the same for any `ToSocketAddrs + Send + 'static` value:
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
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

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
    on_pool(host)?.map(Vec::into_iter)
}

/// IO6: the addresses of `addr` for `connect`, `bind` and `send_to`. In a coroutine, a host
/// name given in one of std's string forms is resolved on the blocking pool; everything else
/// (IP literals, `SocketAddr`s, slices, user types, any call on a plain thread) resolves
/// inline, exactly as std would, and so does a name when no pool thread can be started. Like
/// every `spawn_blocking` job, a resolution waits its turn when all the pool's threads are
/// busy.
pub(crate) fn resolve<A: ToSocketAddrs>(addr: &A) -> io::Result<Vec<SocketAddr>> {
    if crate::coroutine::current::in_coroutine()
        && let Some(name) = host_name(addr)
        && let Ok(resolved) = on_pool(name)
    {
        return resolved;
    }
    // Everything else, and a name when no pool thread can be started: here, as std would.
    Ok(addr.to_socket_addrs()?.collect())
}

/// Runs `host.to_socket_addrs()` on the blocking pool and waits for it. The outer error: no
/// pool thread could be started; the inner result is the resolver's, with a panic in the
/// `ToSocketAddrs` implementation turned into an error of kind `Other`.
fn on_pool<A>(host: A) -> io::Result<io::Result<Vec<SocketAddr>>>
where
    A: ToSocketAddrs + Send + 'static,
{
    let job = crate::thread::try_spawn_blocking(move || {
        host.to_socket_addrs().map(Iterator::collect::<Vec<_>>)
    })?;
    Ok(job.join().unwrap_or_else(|_| {
        Err(io::Error::other(
            "weft::net: name resolution panicked (in a ToSocketAddrs implementation)",
        ))
    }))
}

/// A host name copied out of one of std's string address forms.
enum HostName {
    /// `"host:port"`, parsed by std on the pool.
    Joined(String),
    Pair(String, u16),
}

impl ToSocketAddrs for HostName {
    // std resolves both forms into a `Vec` and hands out its iterator.
    type Iter = std::vec::IntoIter<SocketAddr>;

    fn to_socket_addrs(&self) -> io::Result<Self::Iter> {
        match self {
            HostName::Joined(s) => s.to_socket_addrs(),
            HostName::Pair(host, port) => (host.as_str(), *port).to_socket_addrs(),
        }
    }
}

/// `addr` as an owned host name, if it is one of std's string forms and not an IP literal
/// (those never reach the resolver).
fn host_name<A: ToSocketAddrs>(addr: &A) -> Option<HostName> {
    let id = typeid::of::<A>();
    let ptr: *const A = addr;
    // Why the casts below are sound: `typeid::of` gives the type with every lifetime replaced
    // by 'static, so an equal id means `A` is exactly the named type up to lifetimes, which do
    // not change layout. Each read borrows from `*addr`, which outlives this function, and
    // only an owned copy leaves it.
    let joined = |s: &str| (s.parse::<SocketAddr>().is_err()).then(|| HostName::Joined(s.into()));
    let pair =
        |h: &str, p: u16| (h.parse::<IpAddr>().is_err()).then(|| HostName::Pair(h.into(), p));
    if id == typeid::of::<&str>() {
        // SAFETY: see above; `A` is `&str`.
        joined(unsafe { *ptr.cast::<&str>() })
    } else if id == typeid::of::<String>() {
        // SAFETY: see above; `A` is `String`.
        joined(unsafe { &*ptr.cast::<String>() })
    } else if id == typeid::of::<&String>() {
        // SAFETY: see above; `A` is `&String`.
        joined(unsafe { *ptr.cast::<&String>() })
    } else if id == typeid::of::<(&str, u16)>() {
        // SAFETY: see above; `A` is `(&str, u16)`.
        let (h, p) = unsafe { *ptr.cast::<(&str, u16)>() };
        pair(h, p)
    } else if id == typeid::of::<(String, u16)>() {
        // SAFETY: see above; `A` is `(String, u16)`.
        let (h, p) = unsafe { &*ptr.cast::<(String, u16)>() };
        pair(h, *p)
    } else if id == typeid::of::<&&str>() {
        // SAFETY: see above; `A` is `&&str`.
        joined(unsafe { *ptr.cast::<&&str>() })
    } else if id == typeid::of::<&(&str, u16)>() {
        // SAFETY: see above; `A` is `&(&str, u16)`.
        let (h, p) = unsafe { **ptr.cast::<&(&str, u16)>() };
        pair(h, p)
    } else if id == typeid::of::<&(String, u16)>() {
        // SAFETY: see above; `A` is `&(String, u16)`.
        let (h, p) = unsafe { *ptr.cast::<&(String, u16)>() };
        pair(h, *p)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::{HostName, host_name};
    use std::net::{SocketAddr, ToSocketAddrs};

    fn name<A: ToSocketAddrs>(addr: A) -> Option<(String, Option<u16>)> {
        host_name(&addr).map(|n| match n {
            HostName::Joined(s) => (s, None),
            HostName::Pair(h, p) => (h, Some(p)),
        })
    }

    /// IO6: std's string forms with a host name go to the pool; IP literals and other types
    /// do not.
    #[test]
    #[allow(
        clippy::needless_borrows_for_generic_args,
        reason = "the borrowed forms are tested"
    )]
    fn host_names_are_recognised_in_stds_string_forms_only() {
        let joined = |s: &str| Some((s.to_string(), None));
        assert_eq!(name("example.org:80"), joined("example.org:80"));
        assert_eq!(
            name(String::from("example.org:80")),
            joined("example.org:80")
        );
        assert_eq!(
            name(&String::from("example.org:80")),
            joined("example.org:80")
        );
        assert_eq!(
            name(("example.org", 80)),
            Some(("example.org".to_string(), Some(80)))
        );
        assert_eq!(
            name((String::from("example.org"), 80)),
            Some(("example.org".to_string(), Some(80)))
        );
        // IP literals never reach the resolver.
        assert_eq!(name("127.0.0.1:80"), None);
        assert_eq!(name("[::1]:80"), None);
        assert_eq!(name(("10.0.0.1", 80)), None);
        assert_eq!(name(String::from("127.0.0.1:80")), None);
        // Other types resolve inline.
        let sa: SocketAddr = "127.0.0.1:80".parse().unwrap();
        assert_eq!(name(sa), None);
        assert_eq!(name(&[sa][..]), None);
        // One more reference is recognised too (`&&str`, `&(&str, u16)`, `&(String, u16)`).
        assert_eq!(name(&"example.org:80"), joined("example.org:80"));
        let pair = Some(("example.org".to_string(), Some(80)));
        assert_eq!(name(&("example.org", 80)), pair);
        assert_eq!(name(&(String::from("example.org"), 80)), pair);
        assert_eq!(name(&&"example.org:80"), None); // `&&&str`: resolved inline
    }
}
