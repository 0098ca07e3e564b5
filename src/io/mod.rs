//! I/O over mio: the driver that polls for readiness, and registered sources whose operations
//! park the calling coroutine instead of blocking its worker (arch/io.md).

pub(crate) mod dgram_sys;
mod driver;
pub(crate) mod readiness;
mod source;
pub(crate) mod stream_sys;

pub(crate) use driver::Driver;
pub(crate) use readiness::Direction;
pub(crate) use source::IoSource;
