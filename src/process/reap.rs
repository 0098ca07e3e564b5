//! Waiting for a child to exit without holding the worker (PR1, PR2): through a pidfd
//! registered with the I/O driver, or, where the kernel gives none, on the blocking pool.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{self, ExitStatus};
use std::sync::OnceLock;

use crate::coroutine::current;
use crate::net::IoSource;
use crate::reactor::Direction;

/// How a coroutine waits for one child.
#[derive(Debug)]
pub(crate) enum Reaper {
    /// PR1: the child's pidfd, readable once the child has exited.
    Pidfd(IoSource<OwnedFd>),
    /// PR2: no pidfd: `waitid(WNOWAIT)` on the blocking pool.
    Pool,
}

/// PR2: whether pidfds may be used: not when `WEFT_PIDFD=off` (read once), which makes every
/// child take the fallback, as on a kernel older than 5.3 (for tests).
fn pidfd_allowed() -> bool {
    static ALLOWED: OnceLock<bool> = OnceLock::new();
    *ALLOWED.get_or_init(|| std::env::var_os("WEFT_PIDFD").is_none_or(|v| v != "off"))
}

impl Reaper {
    /// PR1: opened right after the spawn, while the child cannot have been reaped, so `pid`
    /// names it. Any failure (ENOSYS before Linux 5.3, EPERM under a seccomp filter, EMFILE)
    /// means the fallback.
    pub(crate) fn for_child(child: &process::Child) -> Reaper {
        if !pidfd_allowed() {
            return Reaper::Pool;
        }
        let pid = child.id() as libc::pid_t;
        // SAFETY: pidfd_open takes a pid and a flags word and returns a new descriptor or -1;
        // it touches no memory of ours.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            return Reaper::Pool;
        }
        // SAFETY: `fd` was just returned by pidfd_open, so it is open and owned by no one else.
        Reaper::Pidfd(IoSource::new(unsafe { OwnedFd::from_raw_fd(fd as i32) }))
    }

    /// Waits for `child` to exit and reaps it through std (so std's `Child` keeps the status).
    /// In a coroutine, parks it (PR1, PR2); on a plain thread, std's blocking `wait`.
    pub(crate) fn wait(&self, child: &mut process::Child) -> io::Result<ExitStatus> {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if !current::in_coroutine() {
            return child.wait();
        }
        match self {
            // PR1: readable once the child is a zombie; the reap itself is std's
            // `waitpid(WNOHANG)`, retried until it reports the exit.
            Reaper::Pidfd(source) => source.do_io_untimed(Direction::Read, |_| {
                child
                    .try_wait()?
                    .ok_or_else(|| io::Error::from(io::ErrorKind::WouldBlock))
            }),
            Reaper::Pool => loop {
                let pid = child.id() as libc::id_t;
                // PR2: WNOWAIT leaves the child a zombie: std reaps it below and keeps the
                // status; its pid cannot be reused before that.
                let waited = crate::thread::spawn_blocking(move || wait_exited(pid))
                    .join()
                    .map_err(|_| io::Error::other("weft: the waitid job panicked"))?;
                waited?;
                if let Some(status) = child.try_wait()? {
                    return Ok(status);
                }
            },
        }
    }
}

/// PR2: blocks the calling (pool) thread until child `pid` has exited, without reaping it.
fn wait_exited(pid: libc::id_t) -> io::Result<()> {
    loop {
        // SAFETY: an all-zero siginfo_t is a valid value of this plain C struct.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is a writable siginfo_t that lives across the call.
        let r = unsafe { libc::waitid(libc::P_PID, pid, &mut info, libc::WEXITED | libc::WNOWAIT) };
        if r == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}
