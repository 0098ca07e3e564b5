//! Stack-overflow reports: a SIGSEGV/SIGBUS handler that names the coroutine.
//!
//! Ground rules (arch/coroutine.md):
//! - CO6: a fault whose address lies in the guard page of the coroutine running on the
//!   faulting thread is a stack overflow of that coroutine: the handler writes
//!   `coroutine 'NAME' (id N) has overflowed its stack of K KiB; …` to stderr and aborts.
//! - CO7: every other fault goes to the handler installed before weft's, so std's own report
//!   for overflowing OS threads (and any other handler) keeps working; if it was the default
//!   action or "ignore", the default action is restored and the fault re-executes into it
//!   (an ignored SIGSEGV would otherwise fault forever).
//! - The handler runs on an alternate signal stack (the coroutine stack is exhausted), uses
//!   only async-signal-safe calls (`write`, `sigaction`, `abort`) and allocates nothing.

use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::coroutine::current;

const SIGNALS: [libc::c_int; 2] = [libc::SIGSEGV, libc::SIGBUS];
/// Longest part of a coroutine name printed in the overflow report (the report buffer is 512
/// bytes and must hold the rest of the message).
const MAX_NAME_BYTES: usize = 256;
/// Size of the alternate signal stack given to workers that have none.
const ALTSTACK_SIZE: usize = 64 * 1024;

/// The previous `sigaction` for each of `SIGNALS`, stored before our handler is installed and
/// never changed afterwards (read from the handler, hence plain atomics-guarded statics).
static PREVIOUS: [PrevAction; 2] = [PrevAction::new(), PrevAction::new()];
static INSTALL: Once = Once::new();

/// A signal's action from before weft installed its own: the handler weft hands signals on to
/// that are not its own business (CO7). Written once, before weft's handler is installed.
pub(crate) struct PrevAction {
    handler: AtomicUsize,
    flags: AtomicUsize,
}

impl PrevAction {
    pub(crate) const fn new() -> PrevAction {
        PrevAction {
            handler: AtomicUsize::new(libc::SIG_DFL),
            flags: AtomicUsize::new(0),
        }
    }

    /// Installs `handler` for `sig` (`SA_SIGINFO | SA_ONSTACK | extra_flags`), keeping the
    /// action it replaces in `self`. Returns `false`, installing nothing, if the current action
    /// cannot be read.
    pub(crate) fn install(
        &self,
        sig: libc::c_int,
        handler: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void),
        extra_flags: libc::c_int,
    ) -> bool {
        // SAFETY: zeroed `sigaction` is a valid "no handler, empty mask" value; the calls get
        // valid pointers to locals and install a handler that is async-signal-safe (each
        // caller's contract).
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, std::ptr::null(), &mut old) != 0 {
                return false;
            }
            self.handler.store(old.sa_sigaction, Ordering::Relaxed);
            self.flags.store(old.sa_flags as usize, Ordering::Relaxed);
            let mut new: libc::sigaction = std::mem::zeroed();
            new.sa_sigaction = handler as *const () as usize;
            new.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | extra_flags;
            libc::sigemptyset(&mut new.sa_mask);
            libc::sigaction(sig, &new, std::ptr::null_mut()) == 0
        }
    }

    /// Calls the previous handler with the signal. Returns `false`, calling nothing, if the
    /// previous action was the default one or "ignore" (the caller decides what that means).
    pub(crate) fn forward(
        &self,
        sig: libc::c_int,
        info: *mut libc::siginfo_t,
        ctx: *mut libc::c_void,
    ) -> bool {
        let prev = self.handler.load(Ordering::Relaxed);
        let flags = self.flags.load(Ordering::Relaxed) as libc::c_int;
        if prev == libc::SIG_DFL || prev == libc::SIG_IGN {
            return false;
        }
        if flags & libc::SA_SIGINFO != 0 {
            // SAFETY: `prev` was installed as an SA_SIGINFO handler with this signature.
            let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                unsafe { std::mem::transmute(prev) };
            f(sig, info, ctx);
        } else {
            // SAFETY: `prev` was installed as a plain handler with this signature.
            let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(prev) };
            f(sig);
        }
        true
    }
}

/// Installs the handler once per process.
pub(crate) fn install() {
    INSTALL.call_once(|| {
        for (i, &sig) in SIGNALS.iter().enumerate() {
            PREVIOUS[i].install(sig, handler, 0);
        }
    });
}

/// Gives the calling thread an alternate signal stack of at least `ALTSTACK_SIZE` bytes if it
/// has none or a smaller one. std gives the threads it spawns one of `SIGSTKSZ` (8 KiB), too
/// small for the unwinder that sysmon's sample runs in its handler (scheduler/sample.rs). The
/// returned guard, kept by the thread until it ends, takes the stack down again (configured
/// workers never end; spare workers do); std unmaps its own at thread exit, as before.
pub(crate) fn ensure_altstack() -> AltStack {
    // SAFETY: querying with a null new-stack pointer only writes `old`.
    unsafe {
        let mut old: libc::stack_t = std::mem::zeroed();
        if libc::sigaltstack(std::ptr::null(), &mut old) != 0
            || (old.ss_flags & libc::SS_DISABLE == 0 && old.ss_size >= ALTSTACK_SIZE)
        {
            return AltStack(None);
        }
    }
    // SAFETY: a fresh anonymous mapping, handed to the kernel as this thread's signal stack;
    // `AltStack` unmaps it only after disabling it.
    unsafe {
        let mem = libc::mmap(
            std::ptr::null_mut(),
            ALTSTACK_SIZE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if mem == libc::MAP_FAILED {
            return AltStack(None);
        }
        let stack = libc::stack_t {
            ss_sp: mem,
            ss_flags: 0,
            ss_size: ALTSTACK_SIZE,
        };
        if libc::sigaltstack(&stack, std::ptr::null_mut()) != 0 {
            libc::munmap(mem, ALTSTACK_SIZE);
            return AltStack(None);
        }
        AltStack(Some(mem))
    }
}

/// The alternate signal stack `ensure_altstack` installed on this thread, if it did. Not
/// `Send`: dropped on the thread it belongs to.
#[derive(Debug)]
pub(crate) struct AltStack(Option<*mut libc::c_void>);

impl Drop for AltStack {
    fn drop(&mut self) {
        let Some(mem) = self.0 else { return };
        // SAFETY: the stack was installed on this thread (the type is not `Send`) and no
        // handler runs on it now (we are not in a handler); it is disabled before it is
        // unmapped, so the kernel never delivers a signal onto unmapped memory.
        unsafe {
            let disable = libc::stack_t {
                ss_sp: std::ptr::null_mut(),
                ss_flags: libc::SS_DISABLE,
                ss_size: 0,
            };
            if libc::sigaltstack(&disable, std::ptr::null_mut()) == 0 {
                libc::munmap(mem, ALTSTACK_SIZE);
            }
        }
    }
}

extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let addr = unsafe { (*info).si_addr() } as usize;
    let task = current::task_ptr();
    if !task.is_null() {
        // SAFETY: a non-null current task is kept alive by its worker while it runs (see
        // coroutine/current.rs); we only read immutable fields.
        let task = unsafe { &*task };
        let (lo, hi) = task.guard();
        if (lo..hi).contains(&addr) {
            report_overflow(
                task.display_name(),
                task.id.as_u64().get(),
                task.stack_size(),
            );
            // SAFETY: abort is async-signal-safe.
            unsafe { libc::abort() };
        }
    }
    chain(sig, info, ctx);
}

/// CO7: hands the fault to the previous handler.
fn chain(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let i = if sig == libc::SIGSEGV { 0 } else { 1 };
    if !PREVIOUS[i].forward(sig, info, ctx) {
        // SAFETY: restoring the default action; returning re-executes the faulting
        // instruction, which then gets the default action (terminate).
        unsafe {
            let mut dfl: libc::sigaction = std::mem::zeroed();
            dfl.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(sig, &dfl, std::ptr::null_mut());
        }
    }
}

/// Writes the overflow message with `write(2)` only (no allocation, no locks).
fn report_overflow(name: &str, id: u64, stack_size: usize) {
    let mut buf = [0u8; 512];
    let mut w = Writer {
        buf: &mut buf,
        len: 0,
    };
    w.put(b"\ncoroutine '");
    // Keep the rest of the report whole: a very long name is cut (at a byte, which is fine
    // for a diagnostic).
    if name.len() > MAX_NAME_BYTES {
        w.put(&name.as_bytes()[..MAX_NAME_BYTES]);
        w.put(b"...");
    } else {
        w.put(name.as_bytes());
    }
    w.put(b"' (id ");
    w.num(id);
    w.put(b") has overflowed its stack of ");
    w.num((stack_size / 1024) as u64);
    w.put(b" KiB; raise it with Builder::stack_size (or WEFT_STACK_SIZE for the default)\n");
    w.put(b"fatal runtime error: coroutine stack overflow, aborting\n");
    // SAFETY: writing initialised bytes from a live buffer to stderr.
    unsafe { libc::write(2, w.buf.as_ptr().cast(), w.len) };
}

struct Writer<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        let n = bytes.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
        self.len += n;
    }

    fn num(&mut self, mut v: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.put(&digits[i..]);
    }
}

/// DU6: the write end of the pipe the `SIGQUIT` handler writes a byte to; -1 until installed.
static QUIT_PIPE: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

/// DU6: the pipe the `SIGQUIT` handler writes to: (read end, blocking; write end,
/// non-blocking: a full pipe already holds a request), both close-on-exec.
pub(crate) fn quit_pipe() -> Option<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)> {
    use std::os::fd::FromRawFd;
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return None;
    }
    // SAFETY: fcntl on a descriptor pipe2 just made.
    unsafe { libc::fcntl(fds[1], libc::F_SETFL, libc::O_NONBLOCK) };
    // SAFETY: pipe2 succeeded: both descriptors are open and owned by nobody else.
    Some(unsafe {
        (
            std::os::fd::OwnedFd::from_raw_fd(fds[0]),
            std::os::fd::OwnedFd::from_raw_fd(fds[1]),
        )
    })
}

/// DU6: installs the `SIGQUIT` handler writing to `write` (kept open for the life of the
/// process), if the signal still has its default action: the action replaced is checked in the
/// same `sigaction` call that installs ours, and put back if it was not the default (a program's
/// handler, or an ignored signal). Returns whether ours is installed. The reading thread must
/// already run.
pub(crate) fn install_quit(write: std::os::fd::OwnedFd) -> bool {
    let fd = std::os::fd::IntoRawFd::into_raw_fd(write);
    QUIT_PIPE.store(fd, Ordering::Release);
    // SAFETY: zeroed `sigaction`s are valid; ours has an empty mask and a handler that only
    // calls write(2), which is async-signal-safe, keeping errno.
    let installed = unsafe {
        let mut new: libc::sigaction = std::mem::zeroed();
        new.sa_sigaction = quit_handler as *const () as usize;
        new.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut new.sa_mask);
        let mut old: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(libc::SIGQUIT, &new, &mut old) != 0 {
            false
        } else if old.sa_sigaction != libc::SIG_DFL {
            libc::sigaction(libc::SIGQUIT, &old, std::ptr::null_mut());
            false
        } else {
            true
        }
    };
    if !installed {
        QUIT_PIPE.store(-1, Ordering::Release);
        // SAFETY: `fd` came from `into_raw_fd` above and nobody else uses it (the handler
        // reads -1 now, and is not ours anyway).
        drop(unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) });
    }
    installed
}

/// DU6: the dump thread is gone: `SIGQUIT` gets its default action back (a handler writing to
/// a pipe nobody reads would make it do nothing).
pub(crate) fn uninstall_quit() {
    // Only if ours is installed (a refused install left the program's action in place).
    if QUIT_PIPE.swap(-1, Ordering::AcqRel) < 0 {
        return;
    }
    // SAFETY: a zeroed `sigaction` with `SIG_DFL` restores the default action.
    unsafe {
        let mut dfl: libc::sigaction = std::mem::zeroed();
        dfl.sa_sigaction = libc::SIG_DFL;
        libc::sigemptyset(&mut dfl.sa_mask);
        libc::sigaction(libc::SIGQUIT, &dfl, std::ptr::null_mut());
    }
}

/// DU6: only signals the dump thread.
extern "C" fn quit_handler(_sig: libc::c_int) {
    let fd = QUIT_PIPE.load(Ordering::Acquire);
    if fd < 0 {
        return;
    }
    // SAFETY: errno is thread-local; reading and restoring it around write(2) keeps the
    // interrupted code's value. `fd` is the pipe's write end, open for the process's life.
    unsafe {
        let errno = *libc::__errno_location();
        let byte = 0u8;
        let _ = libc::write(fd, (&raw const byte).cast(), 1);
        *libc::__errno_location() = errno;
    }
}
