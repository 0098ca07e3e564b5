//! `Thread`: the handle of a coroutine or an OS thread (its `ThreadId` is defined with the
//! coroutine, coroutine/id.rs).

use std::sync::Arc;

use super::blocking::Job;
use crate::coroutine::{TaskRef, ThreadId};
use crate::park;

/// A handle to a coroutine or an OS thread, as [`std::thread::Thread`].
///
/// Obtained from [`current`](crate::thread::current) or
/// [`JoinHandle::thread`](crate::thread::JoinHandle::thread). Cheap to clone, `Send + Sync`.
/// [`unpark`](Thread::unpark) never blocks.
#[derive(Clone)]
pub struct Thread {
    inner: Inner,
}

#[derive(Clone)]
enum Inner {
    Coroutine(TaskRef),
    Os(Arc<OsThread>),
    /// A `spawn_blocking` job (thread/blocking.rs, B3).
    Job(Arc<dyn Job>),
}

struct OsThread {
    id: ThreadId,
    thread: std::thread::Thread,
}

thread_local! {
    static OS_THREAD: Arc<OsThread> =
        Arc::new(OsThread { id: ThreadId::new(), thread: std::thread::current() });
}

impl Thread {
    #[inline]
    pub(crate) fn from_task(task: TaskRef) -> Thread {
        Thread {
            inner: Inner::Coroutine(task),
        }
    }

    pub(crate) fn from_job(job: Arc<dyn Job>) -> Thread {
        Thread {
            inner: Inner::Job(job),
        }
    }

    pub(crate) fn current_os() -> Thread {
        Thread {
            // During thread-local destruction the thread gets a fresh identity, as in std.
            inner: Inner::Os(OS_THREAD.try_with(Arc::clone).unwrap_or_else(|_| {
                Arc::new(OsThread {
                    id: ThreadId::new(),
                    thread: std::thread::current(),
                })
            })),
        }
    }

    /// The identifier of the coroutine or thread.
    pub fn id(&self) -> ThreadId {
        match &self.inner {
            Inner::Coroutine(task) => task.id,
            Inner::Os(os) => os.id,
            Inner::Job(job) => job.header().id,
        }
    }

    /// What joining this coroutine or job is, for the dump (DU1).
    #[inline]
    pub(crate) fn join_wait(&self) -> crate::park::Wait {
        match &self.inner {
            Inner::Coroutine(task) => crate::park::Wait::Join(task.id),
            Inner::Job(_) => crate::park::Wait::Blocking,
            Inner::Os(os) => crate::park::Wait::Join(os.id),
        }
    }

    /// The name given at spawn (`Builder::name`), or the OS thread's name.
    pub fn name(&self) -> Option<&str> {
        match &self.inner {
            Inner::Coroutine(task) => task.name.as_deref(),
            Inner::Os(os) => os.thread.name(),
            Inner::Job(_) => None,
        }
    }

    /// Makes the park token available: the next (or current) [`park`](crate::thread::park)
    /// of this coroutine or thread returns. Several unparks before a park collapse into one.
    #[inline]
    pub fn unpark(&self) {
        match &self.inner {
            Inner::Coroutine(task) => park::unpark_token(task),
            Inner::Os(os) => os.thread.unpark(),
            Inner::Job(job) => job.header().unpark(),
        }
    }
}

impl std::fmt::Debug for Thread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Thread")
            .field("id", &self.id())
            .field("name", &self.name())
            .finish()
    }
}
