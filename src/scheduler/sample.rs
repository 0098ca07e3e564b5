//! Sampling a worker from the monitor: which coroutine holds it, and where that coroutine is.
//!
//! The monitor (sysmon.rs) asks one worker at a time: it writes the worker thread's id into
//! `SLOT.request` and sends that thread `SIGURG` (Go's choice for its preemption signal: a
//! signal programs rarely use, ignored by default). The handler, on the worker thread, takes the
//! request with one CAS from its own thread id (so a late signal never answers a later request
//! for another thread), records the return addresses of its stack, the running coroutine's
//! identity and how many coroutines of the worker are queued, and publishes the answer with a
//! release store. The monitor resolves symbols afterwards, on its own thread; the handler never
//! allocates, locks or formats.
//!
//! - SY3: a `SIGURG` that is not an open request for the receiving thread goes to the handler
//!   installed before weft's (or is ignored, the default action), so a program's own use of the
//!   signal keeps working.
//!
//! Known limits: the stack is walked with the system unwinder (`_Unwind_Backtrace`, through the
//! `backtrace` crate's `trace_unsynchronized`), which is not on POSIX's list of
//! async-signal-safe functions; where libgcc is built to use glibc's `_dl_find_object` (GCC ≥
//! 12 with glibc ≥ 2.35, as on Debian 12) its frame lookup takes no lock, so the remaining risk
//! is a thread interrupted inside the unwinder itself. The handler
//! runs on the worker's alternate signal stack (at least 64 KiB, `signal::ensure_altstack`).
//! A blocking system call interrupted by the signal is restarted (`SA_RESTART`) where the kernel
//! restarts it; the others (socket calls with a timeout, `poll`, `epoll_wait`, see signal(7))
//! fail with `EINTR`: std retries that in `sleep`, `read_exact` and `write_all`, but `read`
//! returns it (`ErrorKind::Interrupted`). So the sample is taken only for a warning, once per
//! episode, never for the hand-off.

use std::panic::Location;
use std::sync::Once;
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::coroutine::current;
use crate::signal::PrevAction;

use super::current as worker;

/// Return addresses kept per sample.
const MAX_FRAMES: usize = 48;
/// Bytes of the coroutine's name kept per sample.
const MAX_NAME: usize = 96;
/// `request` values that are not a thread id (`pthread_t` is an address, never 0 or 1).
const IDLE: usize = 0;
const TAKEN: usize = 1;
const DONE: usize = 2;
/// How long the monitor waits for an answer.
const ANSWER_WITHIN: Duration = Duration::from_millis(200);

struct Slot {
    /// `IDLE`, the `pthread_t` of the thread asked, `TAKEN` while its handler writes, `DONE`.
    request: AtomicUsize,
    /// The instruction the signal interrupted (0 if unknown): the stack is printed from the
    /// frame that holds it.
    pc: AtomicUsize,
    frames: AtomicUsize,
    ips: [AtomicUsize; MAX_FRAMES],
    /// The coroutine: its id (0 if the worker runs none), spawn site, name.
    id: AtomicU64,
    spawned_at: AtomicPtr<Location<'static>>,
    name_len: AtomicUsize,
    name: [AtomicU64; MAX_NAME / 8],
    /// Coroutines queued for the worker that the handler can count safely: woken from
    /// elsewhere or placed (its inbox), and unstarted (its deque).
    waiting: AtomicUsize,
}

static SLOT: Slot = Slot {
    request: AtomicUsize::new(IDLE),
    pc: AtomicUsize::new(0),
    frames: AtomicUsize::new(0),
    ips: [const { AtomicUsize::new(0) }; MAX_FRAMES],
    id: AtomicU64::new(0),
    spawned_at: AtomicPtr::new(std::ptr::null_mut()),
    name_len: AtomicUsize::new(0),
    name: [const { AtomicU64::new(0) }; MAX_NAME / 8],
    waiting: AtomicUsize::new(0),
};

static PREVIOUS: PrevAction = PrevAction::new();
static INSTALL: Once = Once::new();
static INSTALLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Installs the `SIGURG` handler once per process.
pub(super) fn install() {
    INSTALL.call_once(|| {
        let ok = PREVIOUS.install(libc::SIGURG, handler, libc::SA_RESTART);
        INSTALLED.store(ok, Ordering::Relaxed);
    });
}

/// What a sampled worker was doing.
#[derive(Debug)]
pub(super) struct Sample {
    /// The coroutine it runs, if any: id, name, spawn site.
    pub(super) coroutine: Option<(u64, String, &'static Location<'static>)>,
    /// Coroutines queued for it in its inbox and deque (its own run queues are not read from
    /// the signal handler).
    pub(super) waiting: usize,
    /// Return addresses, innermost first, starting inside the handler.
    pub(super) ips: Vec<usize>,
    /// The interrupted instruction (one of `ips`), 0 if unknown.
    pub(super) pc: usize,
}

/// Asks worker thread `thread` (the `pthread_t` of a thread that has not exited) where it is;
/// `None` if it did not answer in time (the handler was replaced, or the thread blocks the
/// signal).
pub(super) fn sample(thread: usize) -> Option<Sample> {
    if !INSTALLED.load(Ordering::Relaxed) || thread <= DONE {
        return None;
    }
    // One request at a time (the monitor's warnings and the dump's held workers share SLOT).
    static ONE_AT_A_TIME: parking_lot::Mutex<()> = parking_lot::Mutex::new(());
    let _one = ONE_AT_A_TIME.lock();
    SLOT.request.store(thread, Ordering::Release);
    // SAFETY: `thread` is the `pthread_t` of a running worker thread (the caller's contract:
    // the monitor samples only workers it has seen running since their last exit check).
    if unsafe { libc::pthread_kill(thread as libc::pthread_t, libc::SIGURG) } != 0 {
        let _ = SLOT
            .request
            .compare_exchange(thread, IDLE, Ordering::Relaxed, Ordering::Relaxed);
        return None;
    }
    let since = Instant::now();
    loop {
        match SLOT.request.load(Ordering::Acquire) {
            DONE => break,
            TAKEN => {}
            _ if since.elapsed() >= ANSWER_WITHIN => {
                // Withdraw the request; if the handler took it meanwhile, wait for it.
                if SLOT
                    .request
                    .compare_exchange(thread, IDLE, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
                {
                    return None;
                }
                continue;
            }
            _ => {}
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    let frames = SLOT.frames.load(Ordering::Relaxed).min(MAX_FRAMES);
    let ips = SLOT.ips[..frames]
        .iter()
        .map(|ip| ip.load(Ordering::Relaxed))
        .collect();
    let id = SLOT.id.load(Ordering::Relaxed);
    let coroutine = (id != 0).then(|| {
        let len = SLOT.name_len.load(Ordering::Relaxed).min(MAX_NAME);
        let bytes: Vec<u8> = SLOT
            .name
            .iter()
            .flat_map(|w| w.load(Ordering::Relaxed).to_ne_bytes())
            .take(len)
            .collect();
        let at = SLOT.spawned_at.load(Ordering::Relaxed);
        // SAFETY: the handler stored a `&'static Location` (the coroutine's spawn site).
        let at: &'static Location<'static> = unsafe { &*at };
        (id, String::from_utf8_lossy(&bytes).into_owned(), at)
    });
    let waiting = SLOT.waiting.load(Ordering::Relaxed);
    let pc = SLOT.pc.load(Ordering::Relaxed);
    SLOT.request.store(IDLE, Ordering::Relaxed);
    Some(Sample {
        coroutine,
        waiting,
        ips,
        pc,
    })
}

extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: pthread_self only reads the calling thread's control block.
    let me = unsafe { libc::pthread_self() } as usize;
    if SLOT
        .request
        .compare_exchange(me, TAKEN, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        // SY3: not ours; the default action of SIGURG is to ignore it.
        PREVIOUS.forward(sig, info, ctx);
        return;
    }
    // The interrupted code may look at errno right after the signal returns.
    // SAFETY: __errno_location returns this thread's errno, valid for the thread's life.
    let errno = unsafe { *libc::__errno_location() };
    SLOT.pc.store(interrupted_pc(ctx), Ordering::Relaxed);
    record();
    SLOT.request.store(DONE, Ordering::Release);
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
}

/// The instruction the signal interrupted, from the handler's `ucontext_t`.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn interrupted_pc(ctx: *mut libc::c_void) -> usize {
    // SAFETY: for an SA_SIGINFO handler the kernel passes a valid `ucontext_t`, live for the
    // handler's length.
    unsafe { (*ctx.cast::<libc::ucontext_t>()).uc_mcontext.gregs[libc::REG_RIP as usize] as usize }
}

/// The instruction the signal interrupted, from the handler's `ucontext_t`.
#[cfg(all(target_os = "linux", target_arch = "aarch64"))]
fn interrupted_pc(ctx: *mut libc::c_void) -> usize {
    // SAFETY: as for x86_64.
    unsafe { (*ctx.cast::<libc::ucontext_t>()).uc_mcontext.pc as usize }
}

/// Unknown elsewhere: the stack is printed whole.
#[cfg(not(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
)))]
fn interrupted_pc(_: *mut libc::c_void) -> usize {
    0
}

/// The handler's work: only atomic stores into `SLOT`, reads of this thread's own state, and
/// the unwinder.
fn record() {
    let mut n = 0;
    // SAFETY: `trace_unsynchronized` is the unsynchronised variant because it takes no lock;
    // nothing else on this thread is unwinding now, since this thread is running the handler
    // (see the module doc for the unwinder's own safety). The closure only stores integers.
    unsafe {
        backtrace::trace_unsynchronized(|frame| {
            SLOT.ips[n].store(frame.ip() as usize, Ordering::Relaxed);
            n += 1;
            n < MAX_FRAMES
        });
    }
    SLOT.frames.store(n, Ordering::Relaxed);
    let named = current::with_task(|task| {
        SLOT.id.store(task.id.as_u64().get(), Ordering::Relaxed);
        SLOT.spawned_at.store(
            std::ptr::from_ref(task.spawned_at).cast_mut(),
            Ordering::Relaxed,
        );
        let name = task.display_name().as_bytes();
        let len = name.len().min(MAX_NAME);
        for (i, word) in SLOT.name.iter().enumerate() {
            let mut bytes = [0u8; 8];
            for (j, b) in bytes.iter_mut().enumerate() {
                *b = name.get(i * 8 + j).copied().unwrap_or(0);
            }
            word.store(u64::from_ne_bytes(bytes), Ordering::Relaxed);
        }
        SLOT.name_len.store(len, Ordering::Relaxed);
    });
    if named.is_none() {
        SLOT.id.store(0, Ordering::Relaxed);
    }
    let waiting = worker::with_worker(|core| core.queued_in_signal()).unwrap_or(0);
    SLOT.waiting.store(waiting, Ordering::Relaxed);
}
