//! sysmon: the monitor thread (Go's sysmon), started with the runtime. It never runs user code.
//!
//! Ground rules (arch/scheduler.md, "sysmon"):
//! - SY1 (idle.rs): it sleeps without a deadline while every worker sleeps, and the first
//!   worker to wake wakes it; so an idle runtime costs it no wake-ups at all. (With
//!   coroutines alive and every worker asleep, the deadlock check, DL1–DL2 in deadlock.rs,
//!   wakes it after 1 s, then 2, 4 and every 8 s while nothing runs; `WEFT_DEADLOCK=off`
//!   turns that off.)
//! - SY2: each worker publishes a progress word (`Remote::progress`): before every resume it
//!   stores a word with a count one higher (and its load, S8; the only cost on the switch
//!   path), and while it sleeps the word is odd. A worker whose word is even and has not
//!   changed since the monitor last saw it change is held by one resume: the coroutine it runs
//!   has made no weft call that switched since then.
//! - SY3 (sample.rs): the monitor learns which coroutine holds a worker, and where it is, by a
//!   signal to that worker thread, never by reading its queues or its task from here.
//! - SY4: a warning is printed once per episode (one unchanged progress value), when the hold
//!   has lasted `Config::blocking_warn`; when the worker moves on, one line says for how long
//!   it was held.
//! - HO1: a worker held for `BLOCKED_HANDOFF_AFTER` while its thread sleeps in the kernel (a
//!   blocking system call: the kernel says so in /proc), or for `BUSY_HANDOFF_AFTER` while it
//!   computes, stops counting as a worker: the monitor starts a thread in a spare slot (never
//!   more spares than workers), which takes new coroutines like any worker, and steals the
//!   held worker's unstarted ones; nobody places coroutines on the held worker meanwhile. When
//!   the held worker moves on, the monitor retires the spare, which runs its started
//!   coroutines to their end and leaves (HO3, worker.rs).
//!
//! While workers run, the monitor looks at every worker every 20 µs at first and backs off, as
//! Go's sysmon does: after 50 rounds in which it had nothing to do, the pause doubles each
//! round up to 10 ms; a round in which it warned starts again at 20 µs.
//!
//! Symbolising a sampled stack reads the program's debug information, which takes up to a
//! second the first time in a debug build; so the monitor sends what it found to a reporter
//! thread (started at the first report), which formats and prints, in order, while the monitor
//! goes on watching.

use std::fmt::Write as _;
use std::io::Write as _;
use std::panic::Location;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::sample::{self, Sample};
use super::{Scheduler, progress_load};

/// The shortest pause between two rounds, and the longest (Go's 20 µs and 10 ms).
const MIN_PAUSE: Duration = Duration::from_micros(20);
const MAX_PAUSE: Duration = Duration::from_millis(10);
/// The pause after a wake from the deep sleep of SY1.
const WOKEN_PAUSE: Duration = Duration::from_millis(1);
/// Rounds with nothing to do before the pause starts doubling (Go's 50).
const QUIET_ROUNDS: u32 = 50;
/// HO1: how long one resume may hold a worker whose thread sleeps in the kernel (a blocking
/// system call) before a spare stands in for it. Go takes the processor of a goroutine in a
/// system call at sysmon's next tick (20 µs up to 10 ms) when other work waits; weft looks
/// once the hold has lasted a millisecond, at its own next round.
const BLOCKED_HANDOFF_AFTER: Duration = Duration::from_millis(1);
/// HO1: the same for a worker whose thread is running (a long computation). A spare then
/// competes with it for the cores, so it comes late: ten times Go's `forcePreemptNS`, after
/// which Go preempts a running goroutine (which weft cannot do). With the default
/// `WEFT_BLOCKING_WARN` the warning comes at the same time.
const BUSY_HANDOFF_AFTER: Duration = Duration::from_millis(100);
/// Frames of the held coroutine's stack printed at most.
const MAX_PRINTED_FRAMES: usize = 24;

/// What the monitor remembers of one worker.
#[derive(Debug, Clone)]
struct Watch {
    /// The progress word last seen, and when it was first seen with that value.
    seen: u64,
    since: Instant,
    episode: Episode,
    /// HO1: the spare slot standing in for this worker during this episode.
    stand_in: Option<usize>,
}

#[derive(Debug, Clone)]
enum Episode {
    /// Nothing said about this hold (yet).
    Quiet,
    /// Looked at: no coroutine held the worker (the worker loop itself was held up, by the OS
    /// for one); nothing more to say about this value, and no spare for it.
    Settled,
    /// The worker did not answer the sample (SIGURG handled elsewhere); warned without the
    /// coroutine. A spare may still stand in for it.
    Unanswered,
    /// Warned about coroutine `id` named `name` (SY4).
    Warned { id: u64, name: String },
}

/// What to do about a held worker, after every warning.
const REMEDY: &str = "  \
  It blocks its worker thread instead of parking: a std call that waits (std::thread::sleep,
  std::sync locks and channels, std::net, files), a blocking C call, or a long loop. Use the
  weft twin of the std call (weft::thread, weft::sync, weft::net), move blocking work to
  weft::thread::spawn_blocking, or call weft::thread::yield_now() now and then in a long loop
  (README, \"What blocks what\"). WEFT_BLOCKING_WARN sets when this warning comes (off: never).
";

/// What the monitor has to say, formatted and printed by the reporter thread.
#[derive(Debug)]
enum Report {
    /// SY4: a coroutine holds worker `index`.
    Held {
        index: usize,
        held: Duration,
        id: u64,
        name: String,
        spawned_at: &'static Location<'static>,
        sample: Sample,
    },
    /// SY4: worker `index` is held, and its thread did not answer the sample.
    Unsampled { index: usize, held: Duration },
    /// HO1: no spare thread could be started for held worker `index`.
    NoSpare { index: usize, error: String },
    /// SY4: the coroutine gave its worker back.
    GaveBack {
        index: usize,
        held: Duration,
        id: u64,
        name: String,
    },
    /// DL1: every coroutine is asleep and nothing can wake one.
    Deadlock(super::deadlock::Found),
}

impl Report {
    /// Prints the report; a deadlock report under `WEFT_DEADLOCK=abort` then aborts.
    fn deliver(self) {
        emit(&self.text());
        if let Report::Deadlock(found) = self
            && found.abort
        {
            emit("weft: aborting (WEFT_DEADLOCK=abort)\n");
            std::process::abort();
        }
    }

    fn text(&self) -> String {
        match self {
            Report::Deadlock(found) => format!(
                "weft: all coroutines are asleep - deadlock?\n{}",
                super::snapshot::build(found.collected.clone())
            ),
            Report::Held {
                index,
                held,
                id,
                name,
                spawned_at,
                sample,
            } => held_text(*index, *held, (*id, name, spawned_at), sample),
            Report::Unsampled { index, held } => format!(
                "weft: worker {index} has been held by one coroutine for {} without a weft \
                 call; it did not answer the sampling signal (SIGURG), so the coroutine and its \
                 stack are unknown.\n{REMEDY}",
                show(*held)
            ),
            Report::NoSpare { index, error } => format!(
                "weft: worker {index} is held, and no spare worker thread could be started to \
                 stand in for it ({error}); new coroutines wait for the other workers. \
                 (Reported once.)\n"
            ),
            Report::GaveBack {
                index,
                held,
                id,
                name,
            } => format!(
                "weft: coroutine '{name}' (id {id}) gave worker {index} back after {}.\n",
                show(*held)
            ),
        }
    }
}

/// Hands reports to the reporter thread, started at the first one.
#[derive(Debug, Default)]
struct Reporter {
    to_thread: Option<mpsc::Sender<Report>>,
}

impl Reporter {
    fn send(&mut self, report: Report) {
        if self.to_thread.is_none() {
            let (tx, rx) = mpsc::channel::<Report>();
            let started = std::thread::Builder::new()
                .name("weft-sysmon-report".to_owned())
                .spawn(move || {
                    let _own = super::deadlock::own_thread();
                    rx.into_iter().for_each(Report::deliver);
                });
            // Without the thread, the monitor prints itself (and is late meanwhile).
            self.to_thread = started.is_ok().then_some(tx);
        }
        match &self.to_thread {
            Some(tx) => {
                if let Err(mpsc::SendError(report)) = tx.send(report) {
                    report.deliver();
                }
            }
            None => report.deliver(),
        }
    }
}

/// HO1: the spare threads the monitor started, by spare slot; a slot is reused only after its
/// previous thread has been joined (so its `pthread_t`, which SY3 signals, stays valid while
/// the slot is not idle, and its deque is back).
#[derive(Debug)]
struct Spares {
    threads: Vec<Option<std::thread::JoinHandle<()>>>,
    /// The failure to start one, reported once.
    reported: bool,
}

impl Spares {
    /// Joins the threads that have ended, and forgets their ids (SY3 must never signal them).
    fn reap(&mut self, sched: &Scheduler) {
        let n = sched.workers();
        for (i, slot) in self.threads.iter_mut().enumerate() {
            if slot.as_ref().is_some_and(|t| t.is_finished())
                && let Some(thread) = slot.take()
            {
                let _ = thread.join();
                let remote = &sched.remotes[n + i];
                remote.thread.store(0, std::sync::atomic::Ordering::Release);
                remote.tid.store(0, std::sync::atomic::Ordering::Release);
            }
        }
    }
}

/// Body of the monitor thread.
pub(super) fn run(sched: &'static Scheduler) {
    let _own = super::deadlock::own_thread();
    let mut deadlock = super::deadlock::Watch::new(sched.config.deadlock);
    let start = Instant::now();
    let mut watches: Vec<Watch> = sched
        .remotes
        .iter()
        .map(|r| Watch {
            seen: r.progress.load(std::sync::atomic::Ordering::Relaxed),
            since: start,
            episode: Episode::Quiet,
            stand_in: None,
        })
        .collect();
    let mut spares = Spares {
        threads: (0..sched.workers()).map(|_| None).collect(),
        reported: false,
    };
    let mut pause = MIN_PAUSE;
    let mut quiet = 0u32;
    let mut reporter = Reporter::default();
    loop {
        // DU2: the coarse clock of the wait reasons moves on at every round.
        crate::coroutine::tick_clock();
        if round(
            sched,
            &mut watches,
            &mut spares,
            &mut reporter,
            Instant::now(),
        ) {
            quiet = 0;
            pause = MIN_PAUSE;
        } else {
            quiet = quiet.saturating_add(1);
            if quiet > QUIET_ROUNDS {
                pause = (pause * 2).min(MAX_PAUSE);
            }
        }
        if sched.idle.sysmon_try_sleep() {
            // SY1: every worker sleeps, so every episode has ended: say so before sleeping.
            round(
                sched,
                &mut watches,
                &mut spares,
                &mut reporter,
                Instant::now(),
            );
            // DL1: with coroutines alive, wake up now and then to look for a deadlock.
            let quiet_for = deadlock.sleep_for(sched);
            let before = progress_words(sched);
            sched.sysmon.park(quiet_for.map(|d| Instant::now() + d));
            if quiet_for.is_some() && sched.idle.all_asleep() && progress_words(sched) == before {
                // Awake before the check: the workers its dumps wake must not wake the
                // monitor (SY1) and make it check again at once.
                sched.idle.sysmon_woke();
                if let Some(found) = deadlock.check(sched) {
                    reporter.send(Report::Deadlock(found));
                }
                continue;
            }
            sched.idle.sysmon_woke();
            if progress_words(sched) != before {
                // DL2: something ran; the next quiet spell is checked after a second again.
                deadlock.activity();
            }
            // A worker woke: work begins after a quiet spell, and a hold may begin with it. Go
            // polls at 20 µs again after such a wake; weft looks every millisecond for the
            // next 50 rounds, which brings a blocked worker's hand-off (HO1) from sysmon's
            // 10 ms back-off period down to about a millisecond, at most a thousand wake-ups a
            // second while it lasts.
            pause = pause.min(WOKEN_PAUSE);
            quiet = 0;
            continue;
        }
        sched.sysmon.park(Some(Instant::now() + pause));
    }
}

/// DL1: every worker's progress word (all unchanged: nothing ran meanwhile).
fn progress_words(sched: &Scheduler) -> Vec<u64> {
    sched
        .remotes
        .iter()
        .map(|r| r.progress.load(std::sync::atomic::Ordering::Relaxed))
        .collect()
}

/// Looks at every worker once. Returns whether it did anything (a warning, a hand-off).
fn round(
    sched: &'static Scheduler,
    watches: &mut [Watch],
    spares: &mut Spares,
    reporter: &mut Reporter,
    now: Instant,
) -> bool {
    let mut acted = false;
    for (index, (remote, watch)) in sched.remotes.iter().zip(watches.iter_mut()).enumerate() {
        let progress = remote.progress.load(std::sync::atomic::Ordering::Relaxed);
        if progress != watch.seen || remote.slot.is_idle() {
            if let Episode::Warned { id, name } =
                std::mem::replace(&mut watch.episode, Episode::Quiet)
            {
                reporter.send(Report::GaveBack {
                    index,
                    held: now - watch.since,
                    id,
                    name,
                });
            }
            if let Some(spare) = watch.stand_in.take() {
                // HO1: the worker is back: it takes placements again, and the spare leaves.
                remote
                    .held
                    .store(false, std::sync::atomic::Ordering::Relaxed);
                sched.retire_spare(spare);
            }
            *watch = Watch {
                seen: progress,
                since: now,
                episode: Episode::Quiet,
                stand_in: None,
            };
            continue;
        }
        // SY2: an odd word is a sleeping worker.
        if progress & 1 == 1 {
            continue;
        }
        let held = now - watch.since;
        if held >= BLOCKED_HANDOFF_AFTER
            && watch.stand_in.is_none()
            && !matches!(watch.episode, Episode::Settled)
            && remote.slot.is_active()
            && (held >= BUSY_HANDOFF_AFTER || sleeps_in_kernel(remote.tid()))
        {
            // No sample first: the signal would make a blocking system call with a timeout
            // fail with `EINTR` (socket(7)), and a hold this short is not worth that.
            acted |= hand_off(sched, index, watch, spares, reporter);
        }
        if !matches!(watch.episode, Episode::Quiet) {
            continue;
        }
        if let Some(after) = sched.config.blocking_warn
            && held >= after
        {
            acted = true;
            watch.episode = match sample::sample(remote.thread()) {
                Some(mut sample) => match sample.coroutine.take() {
                    Some((id, name, spawned_at)) => {
                        // Waiting for the worker: its coroutines that are not parked besides
                        // the holder (the load of its progress word, S8), and those in its
                        // inbox and deque (counted by the handler).
                        sample.waiting += progress_load(progress).saturating_sub(1);
                        reporter.send(Report::Held {
                            index,
                            held,
                            id,
                            name: name.clone(),
                            spawned_at,
                            sample,
                        });
                        Episode::Warned { id, name }
                    }
                    // The worker was between coroutines: its loop was held up (descheduled by
                    // the OS, for one), which is not a coroutine's doing.
                    None => Episode::Settled,
                },
                None => {
                    reporter.send(Report::Unsampled { index, held });
                    Episode::Unanswered
                }
            };
        }
    }
    acted
}

/// HO1: whether kernel thread `tid` of this process is asleep in the kernel (state `S` or `D`
/// in /proc: a blocking system call, a page fault on a slow disk), as opposed to running or
/// waiting for a core (`R`). `false` if the state cannot be read.
fn sleeps_in_kernel(tid: usize) -> bool {
    if tid == 0 {
        return false;
    }
    let Ok(stat) = std::fs::read(format!("/proc/self/task/{tid}/stat")) else {
        return false;
    };
    // "tid (comm) S ...": the state follows the last ')' (the name may contain one).
    let Some(close) = stat.iter().rposition(|&b| b == b')') else {
        return false;
    };
    matches!(stat.get(close + 2), Some(b'S' | b'D'))
}

/// HO1: worker `index` has been held long enough: a spare stands in for it, if a spare slot
/// is free. Returns whether one was started.
fn hand_off(
    sched: &'static Scheduler,
    index: usize,
    watch: &mut Watch,
    spares: &mut Spares,
    reporter: &mut Reporter,
) -> bool {
    spares.reap(sched);
    let n = sched.workers();
    let free = |slot: usize| spares.threads[slot - n].is_none();
    match sched.start_spare(free) {
        Some(Ok((spare, thread))) => {
            spares.threads[spare - n] = Some(thread);
            sched.remotes[index]
                .held
                .store(true, std::sync::atomic::Ordering::Relaxed);
            watch.stand_in = Some(spare);
            true
        }
        Some(Err(e)) => {
            if !std::mem::replace(&mut spares.reported, true) {
                reporter.send(Report::NoSpare {
                    index,
                    error: e.to_string(),
                });
            }
            false
        }
        // Every spare slot is taken: never more spares than workers.
        None => false,
    }
}

/// SY4: the warning for a coroutine that holds worker `index`.
fn held_text(
    index: usize,
    held: Duration,
    (id, name, spawned_at): (u64, &str, &Location<'static>),
    sample: &Sample,
) -> String {
    let mut text = format!(
        "weft: coroutine '{name}' (id {id}, spawned at {spawned_at}) has held worker {index} for \
         {} without a weft call",
        show(held)
    );
    match sample.waiting {
        0 => text.push_str("; no other coroutine waits for that worker yet.\n"),
        1 => text.push_str("; 1 other coroutine waits for that worker.\n"),
        n => {
            let _ = writeln!(text, "; {n} other coroutines wait for that worker.");
        }
    }
    text.push_str("  where it is (innermost call first):\n");
    text.push_str(&stack_text(&sample.ips, sample.pc));
    text.push_str(REMEDY);
    text
}

/// Straight to the process's stderr (not a test harness's capture of the thread that happened
/// to start the runtime), in one write.
fn emit(text: &str) {
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// `1.25 s`, `140 ms`, `350 µs`.
fn show(d: Duration) -> String {
    if d >= Duration::from_secs(1) {
        format!("{:.2} s", d.as_secs_f64())
    } else if d >= Duration::from_millis(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{} µs", d.as_micros())
    }
}

/// The sampled stack, symbolised: from the frame the signal interrupted (`pc`, the first of
/// `ips` if unknown) to the user's closure (dump.rs, `resolve`). Without debug information
/// the spawn wrapper cannot be found, and the stack is cut at `MAX_PRINTED_FRAMES`.
fn stack_text(ips: &[usize], pc: usize) -> String {
    let first = ips.iter().position(|&ip| ip == pc);
    let frames = super::dump::resolve(&ips[first.unwrap_or(0)..], first.is_some());
    let mut text = String::new();
    for (printed, frame) in frames.iter().enumerate() {
        if printed == MAX_PRINTED_FRAMES {
            text.push_str("    ...\n");
            break;
        }
        let _ = writeln!(text, "{frame}");
    }
    if frames.is_empty() {
        text.push_str("    (no frames could be read)\n");
    }
    text
}
