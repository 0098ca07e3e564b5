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

pub(super) use crate::net::restore_mode;

mod datagram;
mod listener;
mod stream;

pub use datagram::UnixDatagram;
pub use listener::{Incoming, UnixListener};
/// std's address type, re-exported so that `use weft::os::unix::net::…` covers a port.
pub use std::os::unix::net::SocketAddr;
pub use stream::UnixStream;
