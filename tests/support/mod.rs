//! Shared helpers of the integration tests: a watchdog so no test can hang CI, a child-process
//! runner for tests that must abort or need their own runtime configuration (and, for tests
//! that talk to the child while it runs, its parts: `child_command` and `LiveChild`), a latch
//! built on weft's own park/unpark, and a tiny deterministic RNG.
//!
//! Every test binary compiles this module, and each uses only part of it.
#![allow(dead_code)]

use std::any::Any;
use std::io::Read;
use std::panic::{self, AssertUnwindSafe};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Names of this process's threads that are weft workers (configured and spare), sorted, from
/// /proc (so idle ones too).
pub fn worker_threads() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| s.starts_with("weft-worker-"))
        .collect();
    names.sort();
    names
}

/// Generous bound for one test body (the suite as a whole takes a few seconds).
pub const TIMEOUT_SECS: u64 = 60;

/// Runs `f` on a fresh OS thread and returns its value. Panics with a clear message if `f` has
/// not finished after `secs` seconds (a deadlock or a lost wake-up), and re-raises `f`'s own
/// panic with its original payload.
///
/// On a timeout the stuck thread is left behind (it cannot be killed); the test fails and the
/// test binary exits when the remaining tests are done.
#[track_caller]
pub fn with_timeout<T, F>(secs: u64, f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let name = std::thread::current()
        .name()
        .map_or_else(|| "test-body".to_owned(), |n| format!("{n}-body"));
    let (tx, rx) = mpsc::channel::<Result<T, Box<dyn Any + Send>>>();
    std::thread::Builder::new()
        .name(name.clone())
        .spawn(move || {
            let result = panic::catch_unwind(AssertUnwindSafe(f));
            let _ = tx.send(result);
        })
        .expect("watchdog: cannot spawn the test body thread");
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(Ok(value)) => value,
        Ok(Err(payload)) => panic::resume_unwind(payload),
        Err(mpsc::RecvTimeoutError::Timeout) => panic!(
            "watchdog: `{name}` did not finish within {secs} s: a deadlock, a lost wake-up or a \
             starved coroutine"
        ),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            panic!("watchdog: `{name}` vanished without a result")
        }
    }
}

/// [`with_timeout`] with the default bound.
#[track_caller]
pub fn watchdog<T, F>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    with_timeout(TIMEOUT_SECS, f)
}

/// The text of a panic payload (`&str` or `String`), if it is one.
pub fn panic_text(payload: &(dyn Any + Send)) -> Option<String> {
    if let Some(s) = payload.downcast_ref::<&str>() {
        Some((*s).to_owned())
    } else {
        payload.downcast_ref::<String>().cloned()
    }
}

/// Multiplier for the iteration counts of the stress tests: `WEFT_STRESS` (default 1).
pub fn stress_factor() -> usize {
    std::env::var("WEFT_STRESS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(1)
}

/// xorshift64*: a small deterministic RNG (the tests may not add dependencies).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-ish in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// A count-down latch built on weft's park/unpark: works for a waiter that is a coroutine or
/// an OS thread. `wait` returns once `count_down` was called `n` times.
#[derive(Debug)]
pub struct Latch {
    left: AtomicUsize,
    waiter: weft::thread::Thread,
}

impl Latch {
    /// A latch for `n` count-downs, waited on by the calling coroutine or thread.
    pub fn new(n: usize) -> Latch {
        Latch {
            left: AtomicUsize::new(n),
            waiter: weft::thread::current(),
        }
    }

    pub fn count_down(&self) {
        let prev = self.left.fetch_sub(1, Ordering::AcqRel);
        assert!(prev > 0, "latch counted down too often");
        if prev == 1 {
            self.waiter.unpark();
        }
    }

    /// Waits (parks) until the count reaches zero. Only the creator may wait.
    pub fn wait(&self) {
        assert_eq!(
            weft::thread::current().id(),
            self.waiter.id(),
            "only the latch's creator may wait on it"
        );
        while self.left.load(Ordering::Acquire) != 0 {
            weft::thread::park();
        }
    }
}

/// Whether this process is a child started by [`run_child`] for the child test `tag`.
pub fn child_is(tag: &str) -> bool {
    std::env::var("WEFT_CHILD").as_deref() == Ok(tag)
}

/// Prints `[key=value]` on stdout for the parent to read with [`ChildOutput::stdout_value`].
pub fn child_report(key: &str, value: impl std::fmt::Display) {
    println!("[{key}={value}]");
}

/// The value printed with [`child_report`] under `key` in `text` (a child's stdout).
pub fn reported(text: &str, key: &str) -> Option<String> {
    let open = format!("[{key}=");
    let start = text.find(&open)? + open.len();
    let len = text[start..].find(']')?;
    Some(text[start..start + len].to_owned())
}

/// What a child process did.
#[derive(Debug)]
pub struct ChildOutput {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl ChildOutput {
    #[track_caller]
    pub fn assert_success(&self) -> &Self {
        assert!(
            self.status.success(),
            "child failed ({}):\n{}",
            self.status,
            self.dump()
        );
        self
    }

    #[track_caller]
    pub fn assert_failure(&self) -> &Self {
        assert!(
            !self.status.success(),
            "child should have failed but exited with {}:\n{}",
            self.status,
            self.dump()
        );
        self
    }

    #[track_caller]
    pub fn assert_stderr_contains(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.contains(needle),
            "child stderr lacks {needle:?}:\n{}",
            self.dump()
        );
        self
    }

    #[track_caller]
    pub fn assert_stderr_lacks(&self, needle: &str) -> &Self {
        assert!(
            !self.stderr.contains(needle),
            "child stderr should not contain {needle:?}:\n{}",
            self.dump()
        );
        self
    }

    #[track_caller]
    pub fn assert_stdout_contains(&self, needle: &str) -> &Self {
        assert!(
            self.stdout.contains(needle),
            "child stdout lacks {needle:?}:\n{}",
            self.dump()
        );
        self
    }

    /// The value the child printed with [`child_report`] under `key`.
    #[track_caller]
    pub fn stdout_value(&self, key: &str) -> String {
        reported(&self.stdout, key)
            .unwrap_or_else(|| panic!("child reported no {key}:\n{}", self.dump()))
    }

    pub fn dump(&self) -> String {
        format!(
            "--- status: {}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// Runs the child test `test` of this test binary in a new process with `WEFT_CHILD=tag` and
/// `envs` (every inherited `WEFT_*` variable is removed first), and returns its exit status and
/// output. The child is killed, and this panics, if it runs longer than [`TIMEOUT_SECS`].
#[track_caller]
pub fn run_child(test: &str, tag: &str, envs: &[(&str, &str)]) -> ChildOutput {
    run_child_with_timeout(test, tag, envs, TIMEOUT_SECS)
}

/// [`run_child`] with an explicit bound.
#[track_caller]
pub fn run_child_with_timeout(
    test: &str,
    tag: &str,
    envs: &[(&str, &str)],
    secs: u64,
) -> ChildOutput {
    let mut cmd = child_command(test, tag, envs, false);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    LiveChild::spawn(cmd, format!("child test `{test}` ({tag})"), secs).finish()
}

/// The command that runs the child test `test` of this test binary alone, with
/// `WEFT_CHILD=tag`, `RUST_BACKTRACE=0` and `envs`; every inherited `WEFT_*` variable is
/// removed, and core dumps are off (children that abort on purpose must not write one).
/// `capture`: libtest captures the test's output (no `--nocapture`) and shows it on stdout if
/// the test fails. The caller chooses the standard streams; more `pre_exec` hooks may be
/// added (they run after this one).
pub fn child_command(test: &str, tag: &str, envs: &[(&str, &str)], capture: bool) -> Command {
    use std::os::unix::process::CommandExt;

    let mut cmd = Command::new(std::env::current_exe().expect("current_exe"));
    cmd.args(["--exact", test, "--test-threads=1", "--include-ignored"]);
    if !capture {
        cmd.arg("--nocapture");
    }
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("WEFT_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("WEFT_CHILD", tag).env("RUST_BACKTRACE", "0");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    // SAFETY: the closure runs in the forked child before exec and only calls setrlimit, which
    // is async-signal-safe; it touches no memory shared with the parent.
    unsafe {
        cmd.pre_exec(|| {
            let none = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            libc::setrlimit(libc::RLIMIT_CORE, &none);
            Ok(())
        });
    }
    cmd
}

/// A running child process whose piped stdout and stderr are read as they come, so that the
/// parent can wait for a line before it acts (a signal, closing the child's stdin), under one
/// bound for the whole run: past it, the child is killed and the waiting call panics with what
/// the child wrote. Dropping it kills a child still running.
pub struct LiveChild {
    child: std::process::Child,
    label: String,
    secs: u64,
    deadline: Instant,
    /// `(is_stderr, chunk)`; `None` at the end of that stream.
    chunks: mpsc::Receiver<(bool, Option<Vec<u8>>)>,
    /// Streams not at their end yet.
    open: usize,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl LiveChild {
    /// Starts `cmd` (its piped streams are read; others are left alone) and drops it, so that
    /// the child alone holds what `cmd` handed it (a pipe's writing end). `label` names the
    /// child in failure messages; `secs` bounds the whole run.
    #[track_caller]
    pub fn spawn(mut cmd: Command, label: impl Into<String>, secs: u64) -> LiveChild {
        let label = label.into();
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {label}: {e}"));
        drop(cmd);
        let (tx, chunks) = mpsc::channel();
        let mut open = 0;
        let streams: [(bool, Option<Box<dyn Read + Send>>); 2] = [
            (false, child.stdout.take().map(|p| Box::new(p) as _)),
            (true, child.stderr.take().map(|p| Box::new(p) as _)),
        ];
        for (is_err, pipe) in streams {
            let Some(mut pipe) = pipe else { continue };
            open += 1;
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                loop {
                    match pipe.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if tx.send((is_err, Some(buf[..n].to_vec()))).is_err() {
                                return;
                            }
                        }
                    }
                }
                let _ = tx.send((is_err, None));
            });
        }
        LiveChild {
            child,
            label,
            secs,
            deadline: Instant::now() + Duration::from_secs(secs),
            chunks,
            open,
            stdout: Vec::new(),
            stderr: Vec::new(),
        }
    }

    /// The child's process id.
    pub fn pid(&self) -> libc::pid_t {
        self.child.id() as libc::pid_t
    }

    /// What the child wrote on stdout so far.
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// The child's stdin, if it was piped and not taken yet (drop it to close the pipe).
    pub fn take_stdin(&mut self) -> Option<std::process::ChildStdin> {
        self.child.stdin.take()
    }

    /// Waits until the child's stdout contains `needle`. Panics if that stream ends first or
    /// the bound passes (the child is killed).
    #[track_caller]
    pub fn wait_for_stdout(&mut self, needle: &str) {
        self.wait_for(false, needle);
    }

    /// Waits until the child's stderr contains `needle`, as
    /// [`wait_for_stdout`](LiveChild::wait_for_stdout).
    #[track_caller]
    pub fn wait_for_stderr(&mut self, needle: &str) {
        self.wait_for(true, needle);
    }

    #[track_caller]
    fn wait_for(&mut self, is_err: bool, needle: &str) {
        let which = if is_err { "stderr" } else { "stdout" };
        loop {
            let text = if is_err { &self.stderr } else { &self.stdout };
            if String::from_utf8_lossy(text).contains(needle) {
                return;
            }
            let ended = match self.next_chunk() {
                Next::Data => continue,
                Next::End(from) => from == is_err,
                Next::AllEnded => true,
                Next::Timeout => {
                    let out = self.finish_now(true);
                    panic!(
                        "watchdog: {} did not write {needle:?} on {which} within {} s and was \
                         killed:\n{}",
                        self.label,
                        self.secs,
                        out.dump()
                    );
                }
            };
            if ended {
                let out = self.finish_now(false);
                panic!(
                    "{}: its {which} ended without {needle:?}:\n{}",
                    self.label,
                    out.dump()
                );
            }
        }
    }

    /// Takes the next chunk of output, or the end of a stream, waiting at most until the
    /// bound.
    fn next_chunk(&mut self) -> Next {
        if self.open == 0 {
            return Next::AllEnded;
        }
        let left = self.deadline.saturating_duration_since(Instant::now());
        match self.chunks.recv_timeout(left) {
            Ok((is_err, Some(bytes))) => {
                let to = if is_err {
                    &mut self.stderr
                } else {
                    &mut self.stdout
                };
                to.extend_from_slice(&bytes);
                Next::Data
            }
            Ok((is_err, None)) => {
                self.open -= 1;
                Next::End(is_err)
            }
            Err(_) => Next::Timeout,
        }
    }

    /// Waits for the child to end (both piped streams at their end, then its exit) and returns
    /// what it did. Panics, killing the child, if the bound passes first.
    #[track_caller]
    pub fn finish(mut self) -> ChildOutput {
        let mut timed_out = false;
        while self.open > 0 {
            if let Next::Timeout = self.next_chunk() {
                timed_out = true;
                break;
            }
        }
        // Streams closed, yet not exited: wait for the exit under the same bound.
        while !timed_out && matches!(self.child.try_wait(), Ok(None)) {
            if Instant::now() >= self.deadline {
                timed_out = true;
            } else {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        let out = self.finish_now(timed_out);
        assert!(
            !timed_out,
            "watchdog: {} did not finish within {} s and was killed:\n{}",
            self.label,
            self.secs,
            out.dump()
        );
        out
    }

    /// Kills the child if `kill` (or if it has not exited by now), collects what is left of
    /// its output (for a short while only: a grandchild may hold the pipes) and its status.
    fn finish_now(&mut self, kill: bool) -> ChildOutput {
        if kill || matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let drain_until = Instant::now() + Duration::from_secs(5);
        while self.open > 0 {
            let left = drain_until.saturating_duration_since(Instant::now());
            match self.chunks.recv_timeout(left) {
                Ok((true, Some(bytes))) => self.stderr.extend_from_slice(&bytes),
                Ok((false, Some(bytes))) => self.stdout.extend_from_slice(&bytes),
                Ok((_, None)) => self.open -= 1,
                Err(_) => break,
            }
        }
        let status = self.child.wait().expect("wait for the child");
        ChildOutput {
            status,
            stdout: String::from_utf8_lossy(&self.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&self.stderr).into_owned(),
        }
    }
}

/// What [`LiveChild::next_chunk`] got.
enum Next {
    /// Output, stored.
    Data,
    /// The end of stderr (`true`) or stdout (`false`).
    End(bool),
    /// Every piped stream had already ended.
    AllEnded,
    /// The bound passed.
    Timeout,
}

impl Drop for LiveChild {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A coroutine or an OS thread, joined the same way (never join an OS thread from inside a
/// coroutine: that would block the coroutine's worker).
pub enum Party<T> {
    Co(weft::thread::JoinHandle<T>),
    Os(std::thread::JoinHandle<T>),
}

impl<T> Party<T> {
    pub fn join(self) -> T {
        match self {
            Party::Co(h) => h.join().expect("coroutine panicked"),
            Party::Os(h) => h.join().expect("OS thread panicked"),
        }
    }
}

/// Runs `f` on a new OS thread (`os_thread`) or in a new coroutine.
pub fn start<T, F>(os_thread: bool, f: F) -> Party<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    if os_thread {
        Party::Os(std::thread::spawn(f))
    } else {
        Party::Co(weft::thread::spawn(f))
    }
}

/// Makes sure this process may hold `need` descriptors, raising the soft `RLIMIT_NOFILE` up to
/// the hard one if needed. Returns false, after saying why, when that is not possible (the
/// caller then skips its test).
pub fn fd_budget(need: u64) -> bool {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit.
    let r = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    assert_eq!(r, 0, "getrlimit: {}", std::io::Error::last_os_error());
    if lim.rlim_cur >= need {
        return true;
    }
    if lim.rlim_max < need {
        eprintln!(
            "SKIPPED: this test needs {need} file descriptors, but the hard RLIMIT_NOFILE is {} \
             (raise it with `ulimit -Hn`)",
            lim.rlim_max
        );
        return false;
    }
    let raised = libc::rlimit {
        rlim_cur: if lim.rlim_max == libc::RLIM_INFINITY {
            need.max(1 << 16)
        } else {
            lim.rlim_max
        },
        rlim_max: lim.rlim_max,
    };
    // SAFETY: `raised` is a valid rlimit that lives across the call.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
        eprintln!(
            "SKIPPED: this test needs {need} file descriptors; the soft RLIMIT_NOFILE is {} and \
             raising it failed: {}",
            lim.rlim_cur,
            std::io::Error::last_os_error()
        );
        return false;
    }
    true
}

/// Serialises, within one test binary, the tests that hold hundreds or thousands of
/// descriptors or move a lot of data, so that they do not add up against the descriptor limit
/// (and the machine) when the harness runs tests in parallel.
static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Takes the [`HEAVY`] lock for the caller's test.
pub fn heavy() -> std::sync::MutexGuard<'static, ()> {
    // A failed heavy test poisons the lock; the next one may still run.
    HEAVY.lock().unwrap_or_else(|e| e.into_inner())
}

/// Lets `listener` queue `backlog` connections (capped by `somaxconn`) instead of std's 128, so
/// that hundreds of clients connecting at once are not slowed by dropped SYNs: `listen(2)`
/// again on a listening socket only changes its backlog. Works on std's and weft's listeners.
pub fn deepen_backlog(listener: &impl std::os::fd::AsRawFd, backlog: i32) {
    // SAFETY: listen(2) on a socket the caller keeps open; no memory is passed.
    let r = unsafe { libc::listen(listener.as_raw_fd(), backlog) };
    assert_eq!(r, 0, "listen: {}", std::io::Error::last_os_error());
}
