//! `Child`: a running or exited child process, std's `Child` whose waits park the coroutine.

use std::fmt;
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::process::{self, ExitStatus, Output};

use super::pipe::{ChildStderr, ChildStdin, ChildStdout};
use super::reap::Reaper;
use crate::coroutine::current;

/// A child process, as std's `Child`, with the same fields and methods.
///
/// `wait`, `wait_with_output` (and `Command::output`/`status`) park the calling coroutine until
/// the child exits; its worker runs other coroutines meanwhile (PR1, PR2). On a plain OS
/// thread they block the thread as std's do. Like std's, a `Child` that is dropped is neither
/// killed nor waited for (it stays a zombie until this process exits or reaps it). `Send` and
/// `Sync`.
pub struct Child {
    inner: process::Child,
    reaper: Reaper,
    /// The handle for writing to the child's standard input, if it was piped.
    pub stdin: Option<ChildStdin>,
    /// The handle for reading the child's standard output, if it was piped.
    pub stdout: Option<ChildStdout>,
    /// The handle for reading the child's standard error, if it was piped.
    pub stderr: Option<ChildStderr>,
}

impl fmt::Debug for Child {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child")
            .field("pid", &self.inner.id())
            .field("stdin", &self.stdin)
            .field("stdout", &self.stdout)
            .field("stderr", &self.stderr)
            .finish_non_exhaustive()
    }
}

/// Takes over a child spawned by std: its pipes become weft's, and its exit is watched
/// through a pidfd where the kernel gives one (PR1). A child std has already reaped keeps its
/// status.
impl From<process::Child> for Child {
    fn from(mut inner: process::Child) -> Child {
        let reaper = Reaper::for_child(&inner);
        Child {
            stdin: inner.stdin.take().map(ChildStdin::from_std),
            stdout: inner.stdout.take().map(ChildStdout::from_std),
            stderr: inner.stderr.take().map(ChildStderr::from_std),
            inner,
            reaper,
        }
    }
}

impl Child {
    /// Sends `SIGKILL` to the child, as std's `kill` (`Ok` if it has already exited and not
    /// been waited for; an `InvalidInput` error if it has been waited for).
    pub fn kill(&mut self) -> io::Result<()> {
        self.inner.kill()
    }

    /// The OS process id of the child.
    pub fn id(&self) -> u32 {
        self.inner.id()
    }

    /// Waits for the child to exit and returns its status. Closes the child's standard input
    /// first, as std does, so a child that reads it to the end does not wait forever. Parks
    /// the coroutine (the worker runs others); on a plain thread, blocks it.
    pub fn wait(&mut self) -> io::Result<ExitStatus> {
        drop(self.stdin.take());
        self.reaper.wait(&mut self.inner)
    }

    /// The child's status if it has exited, else `Ok(None)`, without waiting (std's
    /// `try_wait`).
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.inner.try_wait()
    }

    /// Closes the child's standard input, reads all of its standard output and standard error
    /// (both at once, PR5, so a child that fills one pipe while the other is read cannot
    /// deadlock), waits for it to exit and returns all three. Parks the coroutine.
    pub fn wait_with_output(mut self) -> io::Result<Output> {
        drop(self.stdin.take());
        let (stdout, stderr) = read2(self.stdout.take(), self.stderr.take())?;
        let status = self.wait()?;
        Ok(Output {
            status,
            stdout,
            stderr,
        })
    }
}

/// PR5: reads both pipes to their end, concurrently.
fn read2(out: Option<ChildStdout>, err: Option<ChildStderr>) -> io::Result<(Vec<u8>, Vec<u8>)> {
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    match (out, err) {
        (None, None) => {}
        (Some(mut out), None) => {
            out.read_to_end(&mut stdout)?;
        }
        (None, Some(mut err)) => {
            err.read_to_end(&mut stderr)?;
        }
        (Some(mut out), Some(mut err)) if current::in_coroutine() => {
            // A second coroutine reads stderr; both park in the driver.
            let other = crate::thread::spawn(move || {
                let mut buf = Vec::new();
                err.read_to_end(&mut buf).map(|_| buf)
            });
            let mine = out.read_to_end(&mut stdout);
            stderr = other
                .join()
                .map_err(|_| io::Error::other("weft: the stderr reader panicked"))??;
            mine?;
        }
        (Some(out), Some(err)) => poll2(&out, &err, &mut stdout, &mut stderr)?,
    }
    Ok((stdout, stderr))
}

/// PR5 on a plain thread: std's `read2`, one `poll(2)` over both (non-blocking) pipes.
fn poll2(
    out: &ChildStdout,
    err: &ChildStderr,
    stdout: &mut Vec<u8>,
    stderr: &mut Vec<u8>,
) -> io::Result<()> {
    type ReadNow<'a> = &'a dyn Fn(&mut [u8]) -> io::Result<usize>;
    let read_out = |b: &mut [u8]| out.read_now(b);
    let read_err = |b: &mut [u8]| err.read_now(b);
    // (descriptor, reader, collected bytes, still open)
    let mut ends: [(i32, ReadNow<'_>, &mut Vec<u8>, bool); 2] = [
        (out.as_raw_fd(), &read_out, stdout, true),
        (err.as_raw_fd(), &read_err, stderr, true),
    ];
    let mut chunk = [0u8; 8192];
    loop {
        for (_, read, collected, open) in ends.iter_mut() {
            while *open {
                match read(&mut chunk) {
                    Ok(0) => *open = false,
                    Ok(n) => collected.extend_from_slice(&chunk[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
        let mut pfds: Vec<libc::pollfd> = ends
            .iter()
            .filter(|end| end.3)
            .map(|end| libc::pollfd {
                fd: end.0,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        if pfds.is_empty() {
            return Ok(());
        }
        // SAFETY: `pfds` is a valid array of `pfds.len()` pollfds that lives across the call.
        let r = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, -1) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}
