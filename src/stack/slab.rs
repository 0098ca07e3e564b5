//! Slab allocation of guarded stack slots and the global pool of free slots.
//!
//! Layout of one slot (addresses grow upwards):
//!
//! ```text
//!   bottom            bottom + page                                   top
//!   | guard page (CO1) | usable stack ......................... grows down |
//! ```
//!
//! A slab is one `MAP_NORESERVE` anonymous mapping holding many slots. When a slab is mapped,
//! the guards of all its slots are installed in one batch (CO2), so `madvise` does not contend
//! with the page faults of fresh stacks; carving a slot then only moves a cursor. Free slots of each size class sit in a LIFO
//! list behind one lock; workers keep a small cache in front of it (scheduler/worker.rs).

use std::io;
use std::num::NonZeroUsize;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use corosensei::stack::{Stack, StackPointer};
use parking_lot::Mutex;

/// `MADV_GUARD_INSTALL` from linux/mman.h (Linux ≥ 6.13); not yet in every libc release.
const MADV_GUARD_INSTALL: libc::c_int = 102;
/// Address space reserved per slab.
const SLAB_BYTES: usize = 64 << 20;
/// Slots guarded per growth in `Mprotect` mode.
const MPROTECT_BATCH: usize = 64;
/// Memory maps left for the rest of the process when the mprotect budget is computed.
const MAP_HEADROOM: usize = 1024;

pub(crate) fn page_size() -> usize {
    static PAGE: OnceLock<usize> = OnceLock::new();
    // SAFETY: sysconf has no preconditions.
    *PAGE.get_or_init(|| match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        n if n > 0 => n as usize,
        _ => 4096,
    })
}

/// One stack slot: `[bottom, bottom + page)` is the guard, `[bottom + page, top)` is usable.
#[derive(Debug)]
pub(crate) struct SlabStack {
    bottom: usize,
    top: usize,
}

impl SlabStack {
    /// Usable bytes (without the guard page).
    pub(crate) fn usable(&self) -> usize {
        self.top - self.bottom - page_size()
    }

    /// The guard page's address range.
    pub(crate) fn guard(&self) -> (usize, usize) {
        (self.bottom, self.bottom + page_size())
    }
}

// SAFETY: CO1: `[limit, base)` is a private anonymous mapping that nothing else uses while this
// value exists; its lowest page is a guard (installed when its slab was mapped, kept for the
// life of the process, CO3) and the usable part is at least MIN_STACK_SIZE (≥ corosensei's
// 4096). Both ends are page aligned, hence aligned to STACK_ALIGNMENT.
unsafe impl Stack for SlabStack {
    fn base(&self) -> StackPointer {
        NonZeroUsize::new(self.top).expect("slot top is never null")
    }

    fn limit(&self) -> StackPointer {
        NonZeroUsize::new(self.bottom).expect("slot bottom is never null")
    }
}

/// How the guard page under every coroutine stack is placed (CO2); see
/// [`runtime::Builder::stack_guard`](crate::runtime::Builder::stack_guard) and the
/// `WEFT_STACK_GUARD` variable. Every mode gives every stack a guard page; they differ only in
/// what a guard costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StackGuard {
    /// `madvise(MADV_GUARD_INSTALL)` where the kernel supports it, else `Mprotect`.
    Auto,
    /// `madvise(MADV_GUARD_INSTALL)`: no memory map per guard (Linux ≥ 6.13).
    Madvise,
    /// `mprotect(PROT_NONE)`: two memory maps per guard, within a budget.
    Mprotect,
}

#[derive(Debug)]
struct Class {
    /// Slot size (usable + guard).
    slot: usize,
    free: Vec<SlabStack>,
    /// Next uncarved slot of the current slab, and its end.
    cursor: usize,
    end: usize,
}

#[derive(Debug)]
struct Synced {
    classes: Vec<Class>,
    /// mprotect guards installed so far (only in `StackGuard::Mprotect`).
    mprotect_guards: usize,
}

/// The process-wide pool of stack slots (one per process, [`StackPool::global`]). `Sync`;
/// allocation and release take one short lock.
#[derive(Debug)]
pub(crate) struct StackPool {
    mode: StackGuard,
    /// Maximum number of mprotect guards (`Mprotect` mode), from `vm.max_map_count`.
    mprotect_budget: usize,
    max_map_count: usize,
    synced: Mutex<Synced>,
    /// Stacks handed out and not yet returned: the number of live coroutines.
    live: AtomicUsize,
}

/// The process's pool, once the runtime has started (`StackPool::start_global`).
static GLOBAL: OnceLock<StackPool> = OnceLock::new();

impl StackPool {
    /// The process's pool, built with `mode` on the first call (the runtime starts once); later
    /// calls return the same pool.
    pub(crate) fn start_global(mode: StackGuard) -> &'static StackPool {
        GLOBAL.get_or_init(|| StackPool::new(mode))
    }

    /// The process's pool, if the runtime has started.
    pub(crate) fn global() -> Option<&'static StackPool> {
        GLOBAL.get()
    }

    /// Builds the pool, resolving `Auto` by probing the kernel.
    fn new(mode: StackGuard) -> StackPool {
        let mode = match mode {
            StackGuard::Auto if madvise_guard_supported() => StackGuard::Madvise,
            StackGuard::Auto => StackGuard::Mprotect,
            m => m,
        };
        let max_map_count = read_usize("/proc/sys/vm/max_map_count").unwrap_or(65530);
        let in_use = count_maps().unwrap_or(0);
        let mprotect_budget = max_map_count.saturating_sub(in_use + MAP_HEADROOM) / 2;
        StackPool {
            mode,
            mprotect_budget,
            max_map_count,
            synced: Mutex::new(Synced {
                classes: Vec::new(),
                mprotect_guards: 0,
            }),
            live: AtomicUsize::new(0),
        }
    }

    /// Hands out a stack with `usable` bytes (already rounded by `round_stack_size`).
    pub(crate) fn alloc(&self, usable: usize) -> io::Result<SlabStack> {
        let mut synced = self.synced.lock();
        let idx = Self::class_index(&mut synced, usable + page_size());
        let stack = self.take(&mut synced, idx)?;
        self.live.fetch_add(1, Ordering::Relaxed);
        Ok(stack)
    }

    /// Hands out up to `n` stacks with `usable` bytes into `out`, under one lock: at least one,
    /// or the error that stopped the first.
    pub(crate) fn alloc_batch(
        &self,
        usable: usize,
        n: usize,
        out: &mut Vec<SlabStack>,
    ) -> io::Result<()> {
        let mut synced = self.synced.lock();
        let idx = Self::class_index(&mut synced, usable + page_size());
        let mut handed = 0;
        while handed < n {
            match self.take(&mut synced, idx) {
                Ok(stack) => out.push(stack),
                Err(e) if handed == 0 => return Err(e),
                Err(_) => break,
            }
            handed += 1;
        }
        self.live.fetch_add(handed, Ordering::Relaxed);
        Ok(())
    }

    /// The size class for slots of `slot` bytes, created on first use.
    fn class_index(synced: &mut Synced, slot: usize) -> usize {
        match synced.classes.iter().position(|c| c.slot == slot) {
            Some(i) => i,
            None => {
                synced.classes.push(Class {
                    slot,
                    free: Vec::new(),
                    cursor: 0,
                    end: 0,
                });
                synced.classes.len() - 1
            }
        }
    }

    /// One stack of class `idx`: a free one, else a newly carved one.
    fn take(&self, synced: &mut Synced, idx: usize) -> io::Result<SlabStack> {
        match synced.classes[idx].free.pop() {
            Some(stack) => Ok(stack),
            None => self.carve(synced, idx),
        }
    }

    /// Takes a stack back for reuse. Its pages stay resident (reuse is then free); the guard
    /// stays installed (CO3).
    pub(crate) fn release(&self, stack: SlabStack) {
        self.release_batch(std::iter::once(stack));
    }

    /// Takes stacks back under one lock.
    pub(crate) fn release_batch(&self, stacks: impl IntoIterator<Item = SlabStack>) {
        let mut synced = self.synced.lock();
        let mut released = 0;
        for stack in stacks {
            let slot = stack.top - stack.bottom;
            if let Some(class) = synced.classes.iter_mut().find(|c| c.slot == slot) {
                class.free.push(stack);
                released += 1;
            }
        }
        self.live.fetch_sub(released, Ordering::Relaxed);
    }

    /// Stacks currently handed out (to coroutines, or held in a worker's cache).
    pub(crate) fn live(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    fn carve(&self, synced: &mut Synced, idx: usize) -> io::Result<SlabStack> {
        let slot = synced.classes[idx].slot;
        if synced.classes[idx].cursor == synced.classes[idx].end {
            self.grow(synced, idx, slot)?;
        }
        let class = &mut synced.classes[idx];
        let bottom = class.cursor;
        class.cursor += slot;
        Ok(SlabStack {
            bottom,
            top: bottom + slot,
        })
    }

    /// Maps a new slab for a class and guards all its slots at once (CO2): installing guards
    /// in one batch keeps `madvise` from contending with the page faults of fresh stacks.
    #[cold]
    fn grow(&self, synced: &mut Synced, idx: usize, slot: usize) -> io::Result<()> {
        let mut slots = (SLAB_BYTES / slot).max(1);
        if self.mode == StackGuard::Mprotect {
            // Every mprotect guard spends budget at once: grow by small batches so stacks of
            // many sizes can share it.
            let left = self.mprotect_budget.saturating_sub(synced.mprotect_guards);
            if left == 0 {
                return Err(self.budget_error());
            }
            slots = slots.min(MPROTECT_BATCH).min(left);
        }
        let base = map_slab(slots * slot).map_err(|e| self.map_error(slot, e))?;
        // One system call per 1,024 guards where the kernel allows it (process_madvise on the
        // own process, Linux >= 6.13); the loop below does whatever is left one page at a time.
        let batched = if self.mode == StackGuard::Madvise {
            madvise_guards_batched(base, slot, slots)
        } else {
            0
        };
        for i in batched..slots {
            if let Err(e) = self.install_guard(synced, base + i * slot) {
                if i == 0 {
                    // SAFETY: unmapping the slab mapped above; nothing was handed out from it.
                    unsafe { libc::munmap(base as *mut _, slots * slot) };
                    return Err(e);
                }
                // Keep the slots guarded so far; the next growth reports the error.
                slots = i;
                break;
            }
        }
        let class = &mut synced.classes[idx];
        class.cursor = base;
        class.end = base + slots * slot;
        Ok(())
    }

    fn install_guard(&self, synced: &mut Synced, bottom: usize) -> io::Result<()> {
        let page = page_size();
        match self.mode {
            StackGuard::Madvise | StackGuard::Auto => {
                // SAFETY: `[bottom, bottom + page)` lies in a private anonymous RW mapping made
                // by `map_slab` and not yet handed out, so no live data is affected.
                let rc = unsafe { libc::madvise(bottom as *mut _, page, MADV_GUARD_INSTALL) };
                if rc != 0 {
                    return Err(io::Error::other(format!(
                        "weft: could not install a stack guard page with MADV_GUARD_INSTALL: {}",
                        io::Error::last_os_error()
                    )));
                }
            }
            StackGuard::Mprotect => {
                if synced.mprotect_guards >= self.mprotect_budget {
                    return Err(self.budget_error());
                }
                // SAFETY: as above: the page is part of our own mapping and not handed out.
                let rc = unsafe { libc::mprotect(bottom as *mut _, page, libc::PROT_NONE) };
                if rc != 0 {
                    let os = io::Error::last_os_error();
                    return Err(if os.raw_os_error() == Some(libc::ENOMEM) {
                        self.budget_error()
                    } else {
                        os
                    });
                }
                synced.mprotect_guards += 1;
            }
        }
        Ok(())
    }

    fn budget_error(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::OutOfMemory,
            format!(
                "weft: cannot guard another coroutine stack: {} stacks are in use and the \
                 mprotect guard budget of {} stacks is used up. Each mprotect guard page costs \
                 two memory maps and vm.max_map_count is {}. Raise it (sysctl -w \
                 vm.max_map_count=N), run on Linux >= 6.13 where weft guards stacks with \
                 MADV_GUARD_INSTALL at no map cost, or run fewer coroutines at once",
                self.live(),
                self.mprotect_budget,
                self.max_map_count
            ),
        )
    }

    fn map_error(&self, slot: usize, e: io::Error) -> io::Error {
        io::Error::new(
            io::ErrorKind::OutOfMemory,
            format!(
                "weft: cannot reserve {} MiB of address space for more coroutine stacks of {} KiB \
                 ({} stacks are in use): {e}. Lower the stack size (Builder::stack_size, \
                 WEFT_STACK_SIZE) or run fewer coroutines at once",
                ((SLAB_BYTES / slot).max(1) * slot) >> 20,
                (slot - page_size()) >> 10,
                self.live()
            ),
        )
    }
}

fn map_slab(bytes: usize) -> io::Result<usize> {
    // SAFETY: an anonymous private mapping at an address of the kernel's choosing touches no
    // existing memory.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            bytes,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    // A touched stack page must not pull in a 2 MiB huge page. Failure only costs memory.
    // SAFETY: advice on our own fresh mapping.
    unsafe { libc::madvise(ptr, bytes, libc::MADV_NOHUGEPAGE) };
    Ok(ptr as usize)
}

/// Installs guard pages at the bottom of the first slots of a fresh slab with as few system
/// calls as the kernel allows (`process_madvise` on this process takes up to 1,024 ranges per
/// call). Returns how many leading slots are guarded; the caller guards the rest one by one
/// (all of them where `process_madvise` is refused, as before Linux 6.13).
fn madvise_guards_batched(base: usize, slot: usize, slots: usize) -> usize {
    const IOV_MAX: usize = 1024;
    let page = page_size();
    // SAFETY: pidfd_open on our own pid has no preconditions; it returns a new fd or -1.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, libc::getpid(), 0) };
    if pidfd < 0 {
        return 0;
    }
    let mut done = 0;
    'chunks: while done < slots {
        let n = (slots - done).min(IOV_MAX);
        let iov: Vec<libc::iovec> = (done..done + n)
            .map(|i| libc::iovec {
                iov_base: (base + i * slot) as *mut libc::c_void,
                iov_len: page,
            })
            .collect();
        // SAFETY: every range is the first page of a slot of the private anonymous mapping
        // `map_slab` just made, not yet handed out, so guarding it affects no live data; `iov`
        // outlives the call.
        let advised = unsafe {
            libc::syscall(
                libc::SYS_process_madvise,
                pidfd,
                iov.as_ptr(),
                n,
                MADV_GUARD_INSTALL,
                0,
            )
        };
        // Whole ranges advised (a short count ends at a range boundary or mid-range; only
        // whole pages count, and a partly advised page is advised again one by one).
        let whole = if advised > 0 {
            advised as usize / page
        } else {
            0
        };
        done += whole.min(n);
        if whole < n {
            break 'chunks;
        }
    }
    // SAFETY: closing the descriptor opened above, used by nobody else.
    unsafe { libc::close(pidfd as libc::c_int) };
    done
}

/// Probes `MADV_GUARD_INSTALL` on a scratch mapping.
fn madvise_guard_supported() -> bool {
    let page = page_size();
    let Ok(base) = map_slab(2 * page) else {
        return false;
    };
    // SAFETY: advice on the scratch mapping made just above, which nothing else uses.
    let ok = unsafe { libc::madvise(base as *mut _, page, MADV_GUARD_INSTALL) } == 0;
    // SAFETY: unmapping the scratch mapping made above; no references into it exist.
    unsafe { libc::munmap(base as *mut _, 2 * page) };
    ok
}

fn read_usize(path: &str) -> Option<usize> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn count_maps() -> Option<usize> {
    Some(
        std::fs::read_to_string("/proc/self/maps")
            .ok()?
            .lines()
            .count(),
    )
}
