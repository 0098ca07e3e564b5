//! Coroutine stacks: slots carved from large slabs, each with a guard page, pooled for reuse.
//!
//! Ground rules (arch/coroutine.md):
//! - CO1: every stack handed out has an inaccessible guard page directly below its usable
//!   memory, so an overflow faults instead of writing into the neighbouring slot (this is the
//!   contract of corosensei's `Stack` trait, and what makes overflow detection possible).
//! - CO2: guards are placed with `madvise(MADV_GUARD_INSTALL)` (Linux ≥ 6.13): page-table
//!   markers that cost no memory map, so a million guarded stacks fit under the default
//!   `vm.max_map_count`. Where the kernel lacks it (or `WEFT_STACK_GUARD=mprotect` forces it),
//!   guards are `mprotect(PROT_NONE)` pages, each costing two maps, within a budget computed
//!   from `/proc/sys/vm/max_map_count` at start. Running out of budget or memory is an
//!   `io::Error` from `Builder::spawn` naming the limit, never a panic or an abort.
//! - CO3: a slot keeps its guard for the life of the process; returning a stack to the pool
//!   and reusing it costs no `mmap`, `mprotect` or `madvise` (a worker's own cache needs no
//!   lock at all).

mod slab;

pub use slab::StackGuard;
pub(crate) use slab::{SlabStack, StackPool};

/// Smallest usable stack handed out; smaller requests are rounded up to it.
pub const MIN_STACK_SIZE: usize = 16 * 1024;
/// Largest usable stack accepted; larger requests are an error.
pub const MAX_STACK_SIZE: usize = 1 << 30;
/// Usable stack of a coroutine when neither the runtime nor the spawn names one
/// (arch/coroutine.md explains the choice).
pub const DEFAULT_STACK_SIZE: usize = 64 * 1024;

/// Checks a requested usable stack size and rounds it to whole pages (and up to
/// [`MIN_STACK_SIZE`]).
pub(crate) fn round_stack_size(requested: usize) -> std::io::Result<usize> {
    if requested > MAX_STACK_SIZE {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "weft: a coroutine stack of {requested} bytes is larger than the maximum of {} MiB",
                MAX_STACK_SIZE >> 20
            ),
        ));
    }
    let page = slab::page_size();
    Ok(requested.max(MIN_STACK_SIZE).div_ceil(page) * page)
}
