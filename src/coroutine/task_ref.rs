//! `TaskRef`: the counted reference to a task, and the cache its memory comes from.
//!
//! A task is shared by run queues, timers, wakers and handles, exactly as an `Arc<Task>` would
//! be; `TaskRef` is that `Arc` with the allocation in weft's hands (CO9, arch/coroutine.md). A
//! spawn allocates one task and a join frees it; with glibc's allocator a batch of spawns and
//! joins frees tens of MiB at once, glibc gives it back to the kernel (heap trimming), and the
//! next batch page-faults all of it in again, which cost spawn+join about 100 ns per task on
//! the reference machine. So the memory of a freed task goes to a cache of the freeing
//! thread, by size class, and the next spawn on that thread takes it from there:
//!
//! - CO9: task memory is recycled, never returned to the kernel piecemeal: a thread keeps up to
//!   `CACHE_BYTES` of freed task blocks (beyond that, and for tasks too large or too aligned
//!   for a size class, the global allocator takes them back); the cache is freed when its
//!   thread exits.
//! - The count follows `Arc`'s rules: a new reference is made only from a live one (relaxed
//!   increment); the decrement that reaches zero is a release, followed by an acquire fence
//!   before the task is dropped, so every use by other holders happens before the drop.

use std::alloc::{self, Layout};
use std::cell::RefCell;
use std::marker::PhantomData;
use std::ops::Deref;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering, fence};

use super::{Start, Task};

/// Size classes of task blocks: multiples of `CLASS_STEP` up to `CLASS_STEP * CLASSES`.
const CLASS_STEP: usize = 64;
const CLASSES: usize = 16;
/// The alignment of every cached block: what `malloc` gives anyway, so blocks cost no
/// alignment padding. Tasks that need more bypass the cache.
const CLASS_ALIGN: usize = 16;
/// CO9: freed task memory one thread keeps at most. A batch of 100,000 spawns of small
/// closures frees about 25 MiB; Go keeps freed memory for minutes.
const CACHE_BYTES: usize = 32 << 20;
/// `RUSTFLAGS="--cfg weft_no_task_cache"` turns the cache off, so that every task block goes back
/// to the allocator at once and memory checkers (valgrind, sanitizers, Miri) see every
/// use-after-free of task memory (arch/testing.md).
const CACHE_ON: bool = !cfg!(weft_no_task_cache);

/// A counted, shared reference to a task (`Arc<Task<S>>` with weft's allocation, CO9).
/// `Send + Sync` like the task it points to.
pub(crate) struct TaskRef<S: ?Sized = dyn Start> {
    ptr: NonNull<Task<S>>,
    _owns: PhantomData<Task<S>>,
}

// SAFETY: a `TaskRef` is a shared reference with shared ownership, like `Arc<Task<S>>`, which is
// `Send`/`Sync` exactly when `Task<S>` is `Send + Sync` (coroutine/mod.rs states why it is).
unsafe impl<S: ?Sized> Send for TaskRef<S> where Task<S>: Send + Sync {}
// SAFETY: as for `Send`.
unsafe impl<S: ?Sized> Sync for TaskRef<S> where Task<S>: Send + Sync {}

impl<S: Start> TaskRef<S> {
    /// Moves `task` into memory from this thread's cache (or the allocator), with a count of 1.
    pub(crate) fn new(task: Task<S>) -> TaskRef<S> {
        let layout = Layout::new::<Task<S>>();
        let ptr = alloc_block(layout).cast::<Task<S>>();
        // SAFETY: `ptr` is a fresh block of `layout`'s size and alignment (at least), owned by
        // nobody else.
        unsafe { ptr.as_ptr().write(task) };
        let task = TaskRef {
            ptr,
            _owns: PhantomData,
        };
        // This is the one reference, whatever the task was built with.
        task.refs().store(1, Ordering::Relaxed);
        task
    }
}

impl<S: Start + 'static> TaskRef<S> {
    /// The same reference, as a reference to a task of any closure type.
    #[inline]
    pub(crate) fn erase(self) -> TaskRef {
        let ptr: NonNull<Task> = self.ptr;
        std::mem::forget(self);
        TaskRef {
            ptr,
            _owns: PhantomData,
        }
    }
}

impl TaskRef {
    /// A new reference to the task `ptr` points to.
    ///
    /// # Safety
    /// `ptr` came from [`TaskRef::as_ptr`] and the task is alive: some reference to it is held
    /// until this call returns.
    #[inline]
    pub(crate) unsafe fn from_ptr(ptr: *const Task) -> TaskRef {
        let task = TaskRef {
            // SAFETY: the caller's contract: the pointer is non-null and the task alive, so its
            // count is at least 1 and may be incremented.
            ptr: unsafe { NonNull::new_unchecked(ptr.cast_mut()) },
            _owns: PhantomData,
        };
        // The new reference owns one count (an overflow aborts, so it is never dropped
        // without it).
        increment(task.refs());
        task
    }
}

impl<S: ?Sized> TaskRef<S> {
    /// The task's address, for the current-task slot and waiter entries; not a reference.
    #[inline]
    pub(crate) fn as_ptr(&self) -> *const Task<S> {
        self.ptr.as_ptr()
    }

    /// The task's reference count.
    #[inline]
    fn refs(&self) -> &AtomicUsize {
        &self.refs
    }

    /// Drops the task and recycles its memory; the count has reached zero.
    #[inline(never)]
    fn drop_slow(&mut self) {
        /// Gives the block back even if the task's drop unwinds (as `Arc` does).
        struct Free(NonNull<u8>, Layout);
        impl Drop for Free {
            fn drop(&mut self) {
                // SAFETY: the block came from `alloc_block(self.1)` (in `TaskRef::new`, with
                // the layout `Layout::for_value` gives back for the same task) and the task in
                // it has been dropped: nothing uses it any more.
                unsafe { free_block(self.0, self.1) };
            }
        }
        // SAFETY: the count is zero, so this is the last reference: nobody else can reach the
        // task (the acquire fence in `drop` ordered every other holder's use before this).
        unsafe {
            let _free = Free(self.ptr.cast::<u8>(), Layout::for_value(self.ptr.as_ref()));
            std::ptr::drop_in_place(self.ptr.as_ptr());
        }
    }
}

impl<S: ?Sized> Clone for TaskRef<S> {
    #[inline]
    fn clone(&self) -> TaskRef<S> {
        increment(self.refs());
        TaskRef {
            ptr: self.ptr,
            _owns: PhantomData,
        }
    }
}

impl<S: ?Sized> Drop for TaskRef<S> {
    #[inline]
    fn drop(&mut self) {
        if self.refs().fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        fence(Ordering::Acquire);
        self.drop_slow();
    }
}

impl<S: ?Sized> Deref for TaskRef<S> {
    type Target = Task<S>;

    #[inline]
    fn deref(&self) -> &Task<S> {
        // SAFETY: this reference keeps the task alive (count ≥ 1).
        unsafe { self.ptr.as_ref() }
    }
}

impl<S: ?Sized> std::fmt::Debug for TaskRef<S>
where
    Task<S>: std::fmt::Debug,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

#[inline]
fn increment(refs: &AtomicUsize) {
    // Relaxed, as in `Arc::clone`: a new reference is made from a live one, which orders it.
    if refs.fetch_add(1, Ordering::Relaxed) > isize::MAX as usize {
        overflowed();
    }
}

#[cold]
#[inline(never)]
fn overflowed() -> ! {
    crate::fatal::bug("a task's reference count overflowed")
}

/// Freed task blocks of one thread, by size class (CO9).
struct Cache {
    free: [Vec<NonNull<u8>>; CLASSES],
    bytes: usize,
}

impl Drop for Cache {
    fn drop(&mut self) {
        for (class, blocks) in self.free.iter_mut().enumerate() {
            for block in blocks.drain(..) {
                // SAFETY: every cached block was allocated by `alloc_block` with this class's
                // layout and is owned by the cache alone.
                unsafe { alloc::dealloc(block.as_ptr(), class_layout(class)) };
            }
        }
    }
}

thread_local! {
    static CACHE: RefCell<Cache> = const {
        RefCell::new(Cache { free: [const { Vec::new() }; CLASSES], bytes: 0 })
    };
}

/// The size class of blocks for `layout`, if it has one.
#[inline]
fn class_of(layout: Layout) -> Option<usize> {
    if layout.align() > CLASS_ALIGN || layout.size() > CLASS_STEP * CLASSES {
        return None;
    }
    Some(layout.size().div_ceil(CLASS_STEP).max(1) - 1)
}

fn class_layout(class: usize) -> Layout {
    Layout::from_size_align(CLASS_STEP * (class + 1), CLASS_ALIGN).expect("a valid class layout")
}

/// A block for a task of `layout`: a cached one of its class if this thread has one.
fn alloc_block(layout: Layout) -> NonNull<u8> {
    let layout = match class_of(layout).filter(|_| CACHE_ON) {
        Some(class) => {
            let cached = CACHE
                .try_with(|cache| {
                    let mut cache = cache.borrow_mut();
                    let block = cache.free[class].pop()?;
                    cache.bytes -= class_layout(class).size();
                    Some(block)
                })
                .ok()
                .flatten();
            if let Some(block) = cached {
                return block;
            }
            class_layout(class)
        }
        None => layout,
    };
    // SAFETY: a task layout has a non-zero size (it holds atomics and a closure slot).
    match NonNull::new(unsafe { alloc::alloc(layout) }) {
        Some(block) => block,
        None => alloc::handle_alloc_error(layout),
    }
}

/// Gives back the block of a dropped task of `layout` (CO9).
///
/// # Safety
/// `block` came from `alloc_block(layout)` and nothing uses it any more.
unsafe fn free_block(block: NonNull<u8>, layout: Layout) {
    let layout = match class_of(layout).filter(|_| CACHE_ON) {
        Some(class) => {
            let size = class_layout(class).size();
            // During thread exit the cache may be gone: the allocator takes the block then.
            let kept = CACHE
                .try_with(|cache| {
                    let mut cache = cache.borrow_mut();
                    if cache.bytes + size > CACHE_BYTES {
                        return false;
                    }
                    cache.bytes += size;
                    cache.free[class].push(block);
                    true
                })
                .unwrap_or(false);
            if kept {
                return;
            }
            class_layout(class)
        }
        None => layout,
    };
    // SAFETY: the caller's contract: `block` was allocated with this layout (its class's, or
    // its own when it has no class) and is no longer used.
    unsafe { alloc::dealloc(block.as_ptr(), layout) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_cover_sizes_up_to_the_last_class() {
        let l = |size, align| Layout::from_size_align(size, align).unwrap();
        assert_eq!(class_of(l(1, 8)), Some(0));
        assert_eq!(class_of(l(64, 8)), Some(0));
        assert_eq!(class_of(l(65, 8)), Some(1));
        assert_eq!(class_of(l(232, 8)), Some(3));
        assert_eq!(class_of(l(1024, 16)), Some(15));
        assert_eq!(class_of(l(1025, 8)), None);
        assert_eq!(class_of(l(64, 32)), None);
        for class in 0..CLASSES {
            let layout = class_layout(class);
            assert_eq!(class_of(layout), Some(class));
        }
    }

    #[test]
    #[cfg(not(weft_no_task_cache))]
    fn a_freed_block_is_reused_by_the_next_allocation_of_its_class() {
        let layout = Layout::from_size_align(200, 8).unwrap();
        let a = alloc_block(layout);
        // SAFETY: `a` came from `alloc_block(layout)` and is not used any more.
        unsafe { free_block(a, layout) };
        let other = Layout::from_size_align(250, 8).unwrap();
        let b = alloc_block(other);
        assert_eq!(a, b, "same class, same thread: the cached block comes back");
        // SAFETY: `b` came from `alloc_block(other)` and is not used any more.
        unsafe { free_block(b, other) };
    }
}
