//! Unix domain sockets: `std::os::unix::net`'s types with the same names and methods, whose
//! waits park the calling coroutine instead of its worker thread (arch/io.md).
//!
//! Port a program by changing `use std::os::unix::net::…` to `use weft::os::unix::net::…`.
//! Every type also works on plain OS threads, where it blocks the thread exactly like std.
//! The methods std has only behind feature gates (`peek`, `peek_from`, `peer_cred`,
//! `set_mark`, ancillary data) are not mirrored.
//!
//! ```
//! use std::io::{Read, Write};
//! use weft::os::unix::net::UnixStream;
//!
//! let (mut a, mut b) = UnixStream::pair().unwrap();
//! let echo = weft::go!(move || {
//!     let mut buf = [0; 5];
//!     b.read_exact(&mut buf).unwrap();
//!     b.write_all(&buf).unwrap();
//! });
//! a.write_all(b"hello").unwrap();
//! let mut back = [0; 5];
//! a.read_exact(&mut back).unwrap();
//! assert_eq!(&back, b"hello");
//! echo.join().unwrap();
//! ```

use std::io;

mod datagram;
mod listener;
mod stream;

pub use datagram::UnixDatagram;
pub use listener::{Incoming, UnixListener};
/// std's address type, re-exported so that `use weft::os::unix::net::…` covers a port.
pub use std::os::unix::net::SocketAddr;
pub use stream::UnixStream;

/// Gives a descriptor back in the mode its user asked for (weft keeps every descriptor
/// non-blocking while it owns it).
fn restore_mode<T>(io: &T, nonblocking: bool, set: impl FnOnce(&T, bool) -> io::Result<()>) {
    if !nonblocking {
        // fcntl(F_SETFL) on a descriptor we own fails only for a bad descriptor, which the
        // next operation on it reports anyway.
        let _ = set(io, false);
    }
}
