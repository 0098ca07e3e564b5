//! IO7: weft's streams as `futures::io::{AsyncRead, AsyncWrite}` (feature `futures-io`) and as
//! `tokio::io::{AsyncRead, AsyncWrite}` (feature `tokio`), on weft's own I/O driver: a
//! `Pending` registers the task's waker with the driver (`IoSource::poll_io`), which the
//! runtime's workers poll; no other runtime is involved. The socket's timeouts do not apply to
//! these calls. Closing (`poll_close`, `poll_shutdown`) shuts the writing half down, as
//! tokio's `TcpStream` does.

/// Implements the `futures::io` traits for `$ty` and `&$ty`, whose `inner` field is the
/// stream's `IoSource` (expanded in the stream's own module, which can reach the field).
#[cfg(feature = "futures-io")]
macro_rules! futures_io_impls {
    ($ty:ty) => {
        $crate::net::async_io::futures_io_impls!(@one $ty);
        $crate::net::async_io::futures_io_impls!(@one &$ty);
    };
    (@one $ty:ty) => {
        impl futures_io::AsyncRead for $ty {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.inner.poll_recv(cx, buf)
            }

            fn poll_read_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.inner.poll_recv_vectored(cx, bufs)
            }
        }

        impl futures_io::AsyncWrite for $ty {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.inner.poll_send(cx, buf)
            }

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.inner.poll_send_vectored(cx, bufs)
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(Ok(()))
            }

            fn poll_close(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(self.shutdown(std::net::Shutdown::Write))
            }
        }
    };
}

#[cfg(feature = "futures-io")]
pub(crate) use futures_io_impls;

/// Implements a write trait whose methods are tokio's `AsyncWrite`'s (`poll_write`,
/// `poll_write_vectored`, `is_write_vectored`, `poll_flush`, `poll_shutdown`: tokio's own and
/// hyper 1's `rt::Write` share them) for `$ty`, through its `IoSource`.
#[cfg(any(feature = "tokio", feature = "hyper"))]
macro_rules! shutdown_write_impl {
    ($trait:path, $ty:ty) => {
        impl $trait for $ty {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.inner.poll_send(cx, buf)
            }

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.inner.poll_send_vectored(cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                true
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(Ok(()))
            }

            fn poll_shutdown(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(self.shutdown(std::net::Shutdown::Write))
            }
        }
    };
}

#[cfg(any(feature = "tokio", feature = "hyper"))]
pub(crate) use shutdown_write_impl;

/// Implements tokio's I/O traits for `$ty` and `&$ty` (as `futures_io_impls`).
#[cfg(feature = "tokio")]
macro_rules! tokio_impls {
    ($ty:ty) => {
        $crate::net::async_io::tokio_impls!(@one $ty);
        $crate::net::async_io::tokio_impls!(@one &$ty);
    };
    (@one $ty:ty) => {
        impl tokio::io::AsyncRead for $ty {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut tokio::io::ReadBuf<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                // The unfilled part, initialised (`ReadBuf` remembers what it initialised, so
                // a buffer is zeroed once, not at every read).
                let unfilled = buf.initialize_unfilled();
                let read = self.inner.poll_recv(cx, unfilled);
                read.map_ok(|n| buf.advance(n))
            }
        }

        $crate::net::async_io::shutdown_write_impl!(tokio::io::AsyncWrite, $ty);
    };
}

#[cfg(feature = "tokio")]
pub(crate) use tokio_impls;

/// Implements hyper 1's `rt::Read` and `rt::Write` for `$ty` and `&$ty` (as
/// `futures_io_impls`): a connection served or opened by hyper runs on weft's driver.
#[cfg(feature = "hyper")]
macro_rules! hyper_impls {
    ($ty:ty) => {
        $crate::net::async_io::hyper_impls!(@one $ty);
        $crate::net::async_io::hyper_impls!(@one &$ty);
    };
    (@one $ty:ty) => {
        impl hyper::rt::Read for $ty {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                mut buf: hyper::rt::ReadBufCursor<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                // SAFETY: recv only writes to the slice, never uninitialising a byte.
                let unfilled = unsafe { buf.as_mut() };
                let read = self.inner.poll_recv_uninit(cx, unfilled);
                // SAFETY: recv initialised the first `n` bytes it returned.
                read.map_ok(|n| unsafe { buf.advance(n) })
            }
        }

        $crate::net::async_io::shutdown_write_impl!(hyper::rt::Write, $ty);
    };
}

#[cfg(feature = "hyper")]
pub(crate) use hyper_impls;
