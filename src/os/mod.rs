//! Platform-specific extensions: mirrors of `std::os`'s networking types, whose waits park the
//! calling coroutine instead of its worker thread.

pub mod unix;
