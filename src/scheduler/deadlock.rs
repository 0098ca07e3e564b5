//! The deadlock report: "all coroutines are asleep - deadlock?" (arch/dump.md).
//!
//! Go reports a deadlock when no goroutine can run and no M is left outside the scheduler.
//! A weft process has threads weft does not know (the program's own), any of which may still
//! wake a coroutine, so the check is stricter; the monitor runs it when every worker has slept
//! for about a second (`interval`):
//!
//! - DL1: a report means that nothing can wake any parked coroutine, as far as the kernel and
//!   the runtime can tell: every worker sleeps and none has a timer armed; no coroutine waits
//!   for a socket (`io::waiters`); no `spawn_blocking` job is queued or running
//!   (`BLOCKING_JOBS`); every thread of the process that is not weft's own sleeps in the kernel
//!   on a futex without a timeout (/proc/self/task: a thread that runs, sleeps with a timeout,
//!   or waits on a descriptor could still wake someone); and the dump taken then lists at least
//!   one coroutine, every one parked, with no timer, for a reason only another coroutine or
//!   thread can end (`WaitReason::needs_a_waker`).
//! - DL2: one report per episode: a check that finds the same parked coroutines, parked since
//!   the same times, as the last report stays silent, and the checks then space out (up to
//!   `MAX_INTERVAL`).
//!
//! `WEFT_DEADLOCK`: `warn` (the default) reports and goes on; `abort` reports and aborts the
//! process; `off` never checks.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

use super::Scheduler;
use super::dump::{Collected, State};

/// How long every worker must have slept before the first check.
const FIRST_INTERVAL: Duration = Duration::from_secs(1);
/// DL2: the longest pause between checks of an ongoing episode.
const MAX_INTERVAL: Duration = Duration::from_secs(8);

/// What `WEFT_DEADLOCK` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Warn,
    Abort,
    Off,
}

/// DL1: `spawn_blocking` jobs queued or running (thread/blocking.rs counts them).
static BLOCKING_JOBS: AtomicUsize = AtomicUsize::new(0);

/// DL1: a `spawn_blocking` job was queued.
pub(crate) fn job_queued() {
    BLOCKING_JOBS.fetch_add(1, Ordering::SeqCst);
}

/// DL1: a `spawn_blocking` job has returned (or was dropped unrun).
pub(crate) fn job_done() {
    BLOCKING_JOBS.fetch_sub(1, Ordering::SeqCst);
}

/// Kernel thread ids of weft's own threads besides the workers (the monitor, its reporter, the
/// blocking pool, the dump and signal helpers): DL1 does not count them as the program's.
static OWN_THREADS: Mutex<Vec<i32>> = Mutex::new(Vec::new());

/// Marks the calling thread as weft's own for as long as the value lives.
#[derive(Debug)]
pub(crate) struct OwnThread(i32);

/// Marks the calling thread as weft's own (DL1).
pub(crate) fn own_thread() -> OwnThread {
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::gettid() };
    OWN_THREADS.lock().push(tid);
    OwnThread(tid)
}

impl Drop for OwnThread {
    fn drop(&mut self) {
        let mut own = OWN_THREADS.lock();
        if let Some(i) = own.iter().position(|&t| t == self.0) {
            own.swap_remove(i);
        }
    }
}

/// The monitor's deadlock watch.
#[derive(Debug)]
pub(super) struct Watch {
    mode: Mode,
    interval: Duration,
    /// DL2: the episode last reported.
    reported: Option<u64>,
}

/// A deadlock found: what to print, and whether to abort afterwards.
#[derive(Debug)]
pub(super) struct Found {
    pub(super) collected: Collected,
    pub(super) abort: bool,
}

impl Watch {
    pub(super) fn new(mode: Mode) -> Watch {
        Watch {
            mode,
            interval: FIRST_INTERVAL,
            reported: None,
        }
    }

    /// How long the monitor sleeps while every worker sleeps: until the next check, or for
    /// ever when there is nothing to check (no coroutine alive, or `off`).
    pub(super) fn sleep_for(&self, sched: &Scheduler) -> Option<Duration> {
        if self.mode == Mode::Off || live(sched) == 0 {
            return None;
        }
        Some(self.interval)
    }

    /// DL2: something ran since the monitor went to sleep: the next quiet spell is checked
    /// after the first interval again.
    pub(super) fn activity(&mut self) {
        self.interval = FIRST_INTERVAL;
    }

    /// DL1: every worker has slept through `sleep_for` with nothing happening: checks. Cheap
    /// conditions first; then the states and reasons without stacks; only a deadlock takes the
    /// stacks, and it is reported only if a second look at everything finds nothing changed.
    pub(super) fn check(&mut self, sched: &Scheduler) -> Option<Found> {
        // DL2: whatever the outcome, the next check of this quiet spell comes later.
        self.interval = (self.interval * 2).min(MAX_INTERVAL);
        if BLOCKING_JOBS.load(Ordering::SeqCst) > 0 || live(sched) == 0 || timed_sleeper(sched) {
            return None;
        }
        let threads = others_blocked_forever(sched)?;
        let quick = sched.collect_dump(false);
        let key = stuck(&quick)?;
        if self.reported == Some(key) {
            return None;
        }
        let full = sched.collect_dump(true);
        // The second look: the same coroutines in the same waits, still no job or timer, the
        // same other threads, none of which ran meanwhile (context switch counts).
        if stuck(&full) != Some(key)
            || BLOCKING_JOBS.load(Ordering::SeqCst) > 0
            || timed_sleeper(sched)
            || others_blocked_forever(sched).as_ref() != Some(&threads)
        {
            return None;
        }
        self.reported = Some(key);
        Some(Found {
            collected: full,
            abort: self.mode == Mode::Abort,
        })
    }
}

/// DL1: the episode's key if `collected` is a deadlock: every coroutine listed, at least one,
/// each parked without a timer for a reason only a waker can end, and no worker with a timer.
fn stuck(collected: &Collected) -> Option<u64> {
    let stuck = collected.held.is_empty()
        && collected.unstarted == 0
        && collected.timers == 0
        && !collected.records.is_empty()
        && collected.records.iter().all(|r| {
            r.state == State::Parked
                && !r.timer
                && r.wait.as_ref().is_some_and(|(why, _)| why.needs_a_waker())
        });
    if !stuck {
        return None;
    }
    // DL2: the same coroutines parked since the same times: the same episode.
    let mut ids: Vec<_> = collected
        .records
        .iter()
        .map(|r| (r.id, r.wait.as_ref().map(|w| w.1)))
        .collect();
    ids.sort_unstable();
    let mut hasher = DefaultHasher::new();
    ids.hash(&mut hasher);
    Some(hasher.finish())
}

/// DL1: whether a worker went to sleep with a timer armed.
fn timed_sleeper(sched: &Scheduler) -> bool {
    sched
        .remotes
        .iter()
        .any(|r| r.thread() != 0 && r.timed_sleep.load(Ordering::SeqCst))
}

/// Coroutines committed to a worker and not finished, over all workers.
fn live(sched: &Scheduler) -> usize {
    sched
        .remotes
        .iter()
        .map(|r| r.live.load(Ordering::Relaxed))
        .sum()
}

/// DL1: if every thread of the process that is not weft's sleeps on a private futex without a
/// timeout, those threads with their context switch counts (a second look compares them:
/// a thread that ran in between shows a new count); `None` otherwise, or when /proc cannot be
/// read.
fn others_blocked_forever(sched: &Scheduler) -> Option<Vec<(i32, u64)>> {
    let mut own: Vec<i32> = OWN_THREADS.lock().clone();
    own.extend(
        sched
            .remotes
            .iter()
            .map(|r| r.tid() as i32)
            .filter(|&t| t != 0),
    );
    let mut others = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let Some(tid) = task
            .file_name()
            .to_str()
            .and_then(|t| t.parse::<i32>().ok())
        else {
            continue;
        };
        if own.contains(&tid) {
            continue;
        }
        others.push((tid, blocked_forever(tid)?));
    }
    others.sort_unstable();
    Some(others)
}

/// If thread `tid` of this process sleeps in a private `futex(FUTEX_WAIT…)` without a timeout,
/// its number of context switches so far.
fn blocked_forever(tid: i32) -> Option<u64> {
    let dir = format!("/proc/self/task/{tid}");
    let stat = std::fs::read_to_string(format!("{dir}/stat")).ok()?;
    // The state follows the command name, which is in parentheses and may hold anything.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    if state != Some('S') {
        return None;
    }
    let syscall = std::fs::read_to_string(format!("{dir}/syscall")).ok()?;
    if !futex_wait_forever(&syscall) {
        return None;
    }
    let status = std::fs::read_to_string(format!("{dir}/status")).ok()?;
    Some(
        status
            .lines()
            .filter(|l| l.contains("ctxt_switches:"))
            .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
            .sum(),
    )
}

/// Parses /proc/…/syscall ("nr arg1 … arg6 sp pc", hex arguments): `futex(uaddr, op, val,
/// timeout, …)` with a private wait operation and a null timeout (a shared futex may be woken
/// by another process).
fn futex_wait_forever(syscall: &str) -> bool {
    const FUTEX_WAIT: u64 = 0;
    const FUTEX_WAIT_BITSET: u64 = 9;
    const FUTEX_PRIVATE_FLAG: u64 = 128;
    /// Without `FUTEX_PRIVATE_FLAG` and `FUTEX_CLOCK_REALTIME`.
    const FUTEX_CMD_MASK: u64 = !(FUTEX_PRIVATE_FLAG | 256);
    let mut fields = syscall.split_whitespace();
    if fields.next().and_then(|nr| nr.parse::<i64>().ok()) != Some(libc::SYS_futex) {
        return false;
    }
    let args: Vec<u64> = fields
        .take(4)
        .filter_map(|a| u64::from_str_radix(a.trim_start_matches("0x"), 16).ok())
        .collect();
    let [_uaddr, op, _val, timeout] = args[..] else {
        return false;
    };
    op & FUTEX_PRIVATE_FLAG != 0
        && matches!(op & FUTEX_CMD_MASK, FUTEX_WAIT | FUTEX_WAIT_BITSET)
        && timeout == 0
}

#[cfg(test)]
mod tests {
    use super::futex_wait_forever;

    #[test]
    fn reads_the_futex_line() {
        // FUTEX_WAIT_PRIVATE, no timeout.
        assert!(futex_wait_forever(
            "202 0x7f0000001000 0x80 0x0 0x0 0x0 0x0 0x7ffd0000 0x7f000000"
        ));
        // FUTEX_WAIT_BITSET_PRIVATE with a timeout.
        assert!(!futex_wait_forever(
            "202 0x7f0000001000 0x89 0x0 0x7ffd1000 0x0 0xffffffff 0x7ffd0000 0x7f000000"
        ));
        // A shared (not private) FUTEX_WAIT: another process may wake it.
        assert!(!futex_wait_forever(
            "202 0x7f0000001000 0x0 0x0 0x0 0x0 0x0 0x7ffd0000 0x7f000000"
        ));
        // FUTEX_WAKE.
        assert!(!futex_wait_forever(
            "202 0x7f0000001000 0x81 0x1 0x0 0x0 0x0 0x7ffd0000 0x7f000000"
        ));
        // nanosleep, epoll_wait, a running thread.
        assert!(!futex_wait_forever(
            "230 0x1 0x0 0x7ffd1000 0x0 0x0 0x0 0x7ffd0000 0x7f000000"
        ));
        assert!(!futex_wait_forever(
            "232 0x3 0x7ffd1000 0x400 0xffffffff 0x0 0x0 0x7ffd0000 0x7f000000"
        ));
        assert!(!futex_wait_forever("running"));
    }
}
