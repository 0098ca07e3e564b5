//! `Builder`: spawning with a name and a stack size, as [`std::thread::Builder`].

use std::io;
use std::marker::PhantomData;
use std::panic::Location;
use std::sync::Arc;

use super::join::{Packet, Spawned};
use super::{JoinHandle, Scope, ScopedJoinHandle, Thread, ThreadId};
use crate::coroutine::{Start, StartCell, Task, TaskRef};
use crate::runtime;
use crate::scheduler::Scheduler;
use crate::stack::round_stack_size;

/// Closures larger than this are boxed at spawn (see `Builder::spawn`).
const INLINE_CLOSURE_MAX: usize = 1024;

/// Coroutine factory, as [`std::thread::Builder`]: set a name and a stack size, then spawn.
///
/// A plain value (`Send + Sync`); spawning never blocks (the coroutine is queued, and an idle
/// worker is woken to run it).
///
/// ```
/// let h = weft::thread::Builder::new()
///     .name("worker".into())
///     .stack_size(128 * 1024)
///     .spawn(|| weft::thread::current().name().map(str::to_owned))
///     .unwrap();
/// assert_eq!(h.join().unwrap().as_deref(), Some("worker"));
/// ```
#[derive(Debug, Default)]
#[must_use = "must eventually spawn the coroutine"]
pub struct Builder {
    name: Option<String>,
    stack_size: Option<usize>,
}

impl Builder {
    /// A builder with no name and the runtime's default stack size.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the coroutine; the name appears in panic and stack-overflow messages.
    pub fn name(mut self, name: String) -> Builder {
        self.name = Some(name);
        self
    }

    /// Usable stack size in bytes. Rounded up to whole pages and to at least
    /// [`MIN_STACK_SIZE`](crate::stack::MIN_STACK_SIZE); more than
    /// [`MAX_STACK_SIZE`](crate::stack::MAX_STACK_SIZE) makes `spawn` fail.
    pub fn stack_size(mut self, size: usize) -> Builder {
        self.stack_size = Some(size);
        self
    }

    /// Spawns a coroutine running `f`, as [`std::thread::Builder::spawn`].
    ///
    /// # Errors
    /// The runtime could not start (an invalid `WEFT_*` variable names itself), the stack size
    /// is too large, or no guarded stack could be allocated (the message names the limit that
    /// was hit — memory, address space or `vm.max_map_count` — and how to raise it).
    #[track_caller]
    pub fn spawn<F, T>(self, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let at = Location::caller();
        // A big closure is boxed, so that only a pointer is moved through the start-up frames
        // of the coroutine (debug builds copy a closure once per frame, on a small stack).
        if std::mem::size_of::<F>() > INLINE_CLOSURE_MAX {
            self.spawn_joinable(Box::new(f), at)
        } else {
            self.spawn_joinable(f, at)
        }
    }

    /// Spawns a coroutine running `f` without the `'static` bounds, as
    /// [`std::thread::Builder::spawn_unchecked`].
    ///
    /// # Safety
    /// As std's: the caller must ensure that the coroutine does not outlive anything `f`
    /// borrows and that its result type `T` is still valid when the coroutine returns it:
    /// join it (or make sure it has finished) before any of that data goes away. Leaking the
    /// handle does not make that unnecessary.
    ///
    /// # Errors
    /// As [`Builder::spawn`].
    #[track_caller]
    pub unsafe fn spawn_unchecked<F, T>(self, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send,
        T: Send,
    {
        let packet = Arc::new(Packet::new(None));
        let theirs = packet.clone();
        let body: Box<dyn FnOnce() + Send + '_> = Box::new(move || theirs.run(f));
        // SAFETY: only the lifetime is changed; the caller guarantees (this function's
        // contract) that everything `f` and `T` borrow outlives the coroutine's run.
        let body: Box<dyn FnOnce() + Send + 'static> = unsafe { std::mem::transmute(body) };
        let thread = self.spawn_body(body, Location::caller())?;
        Ok(JoinHandle::new_owned(thread, packet))
    }

    /// Creates and queues a coroutine whose join packet shares its task's allocation; `at` is
    /// the spawn site.
    fn spawn_joinable<F, T>(self, f: F, at: &'static Location<'static>) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (sched, task) = self.new_task(Spawned::new(f), at)?;
        let thread = Thread::from_task(task.clone().erase());
        let handle = JoinHandle::new(thread, task.tail().packet());
        sched.spawn(task.erase());
        Ok(handle)
    }

    /// Spawns a scoped coroutine, as [`std::thread::Builder::spawn_scoped`].
    ///
    /// # Errors
    /// As [`Builder::spawn`].
    #[track_caller]
    pub fn spawn_scoped<'scope, 'env, F, T>(
        self,
        scope: &'scope Scope<'scope, 'env>,
        f: F,
    ) -> io::Result<ScopedJoinHandle<'scope, T>>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        // SC1: counted before the packet exists; the packet's drop uncounts it.
        scope.data.increment();
        let packet = Arc::new(Packet::new(Some(scope.data.clone())));
        let theirs = packet.clone();
        let body: Box<dyn FnOnce() + Send + 'scope> =
            if std::mem::size_of::<F>() > INLINE_CLOSURE_MAX {
                let f = Box::new(f);
                Box::new(move || theirs.run(f))
            } else {
                Box::new(move || theirs.run(f))
            };
        // SAFETY: only the lifetime is changed. The body borrows data that lives for 'scope;
        // `scope()` does not return (so 'scope does not end) until every packet of the scope
        // has been dropped (SC1), and `theirs` — owned by the body — is dropped only when the
        // body has run to completion or the body itself is dropped unrun. A started coroutine
        // that never finishes is leaked, never freed (CO5), so its packet never drops and the
        // scope waits forever instead of ending the borrow.
        let body: Box<dyn FnOnce() + Send + 'static> = unsafe { std::mem::transmute(body) };
        let thread = self.spawn_body(body, Location::caller())?;
        Ok(ScopedJoinHandle {
            thread,
            packet,
            _scope: PhantomData,
        })
    }

    /// Creates the coroutine and queues it.
    fn spawn_body(
        self,
        body: impl FnOnce() + Send + 'static,
        at: &'static Location<'static>,
    ) -> io::Result<Thread> {
        let (sched, task) = self.new_task(StartCell::new(body), at)?;
        let task = task.erase();
        let thread = Thread::from_task(task.clone());
        sched.spawn(task);
        Ok(thread)
    }

    /// Creates an unstarted coroutine spawned at `at` (starting the runtime if needed) with a
    /// stack of the requested size; returns it with the scheduler to queue it on.
    fn new_task<S: Start>(
        self,
        start: S,
        at: &'static Location<'static>,
    ) -> io::Result<(&'static Scheduler, TaskRef<S>)> {
        let sched = runtime::start()?;
        let usable = match self.stack_size {
            Some(n) => round_stack_size(n)?,
            None => sched.config.stack_size,
        };
        let stack = sched.alloc_stack(usable)?;
        Ok((
            sched,
            Task::create(ThreadId::new(), self.name, at, stack, start),
        ))
    }
}
