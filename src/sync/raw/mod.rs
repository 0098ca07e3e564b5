//! The parking protocols of `weft::sync`: each lock is a state word plus a FIFO wait queue of
//! nodes on the waiters' stacks (waitq.rs). These files hold every atomic of the protocols and
//! import them, and park, only through `crate::loom` and `crate::park`, so that the loom
//! models in `tests/loom_sync.rs` compile them as they are (arch/testing.md). The typed
//! wrappers (`Mutex<T>`, guards, poisoning) live one level up.

pub(crate) mod condvar;
pub(crate) mod mutex;
pub(crate) mod once;
pub(crate) mod rwlock;
pub(crate) mod semaphore;
pub(crate) mod waitq;
