//! Collecting the dump: every worker lists its own coroutines (arch/dump.md).
//!
//! A started coroutine is touched only by its worker (CO4), so nobody else can walk a worker's
//! coroutines or their stacks. The collector therefore asks: it hands every worker thread a
//! [`Request`], raises the worker's `dump_wanted` flag and unparks it. The worker answers
//! between two resumes, at its next fairness tick (S3) or as soon as it wakes: it walks its
//! list of live coroutines (DU4), records each one's state and wait reason (DU1) and, for a
//! started one, its stack (DU3), and adds them to the request. A worker that does not answer
//! in time is held by one coroutine: the collector samples that one (sample.rs) and reports the
//! worker's other coroutines as not listed. Several collectors may ask at once (`dump()` on
//! several threads, `SIGQUIT`, the deadlock check): a worker keeps every request handed to it,
//! and answers each one.
//!
//! - DU4: a worker keeps the coroutines committed to start on it (S8) and not finished in
//!   `Core::live`, as plain pointers; only that worker reads or changes the list. A listed
//!   task is alive: until it starts, the `TaskRef` in the worker's queues (or in its hands)
//!   keeps it; from its start until its body returns, its own reference does (CO5); it leaves
//!   the list when the body has returned, before that reference is dropped.
//! - DU5: answering never changes what it reads: no run state, queue, timer or wake is
//!   touched, so a dump cannot lose or add a wake; a coroutine woken while its worker answers
//!   is resumed afterwards, as it would have been.

use std::panic::Location;
use std::sync::atomic::Ordering;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use super::{PROGRESS_ASLEEP, Scheduler};
use crate::coroutine::{ThreadId, WaitReason};

/// How long the collector waits for every worker's answer.
const ANSWER_WITHIN: Duration = Duration::from_millis(300);

/// Where a coroutine stood when its worker answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// Running on its worker (a worker that could not answer: the coroutine holds it).
    Running,
    /// Runnable: queued (woken, yielded, or not started yet).
    Runnable,
    /// Parked, waiting for a wake.
    Parked,
}

/// One coroutine, as its worker saw it.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub(crate) id: ThreadId,
    pub(crate) name: Option<String>,
    pub(crate) spawned_at: &'static Location<'static>,
    pub(crate) worker: usize,
    pub(crate) state: State,
    /// For a parked coroutine: what for, and since when (coarse ms, `coroutine::now_ms`,
    /// wrapped to 32 bits).
    pub(crate) wait: Option<(WaitReason, u32)>,
    /// A timer will wake it (it parked with a deadline).
    pub(crate) timer: bool,
    /// Return addresses of its stack (DU3); empty for one not started.
    pub(crate) ips: Vec<usize>,
    /// Whether `ips` come from a signal sample (the first is the interrupted instruction).
    pub(crate) sampled: bool,
}

/// A worker's answer besides its coroutines.
#[derive(Debug, Default)]
struct Answers {
    records: Vec<Record>,
    answered: Vec<usize>,
    /// Workers with a timer armed.
    timers: usize,
}

/// One dump request, shared by the collector and the workers it asked.
#[derive(Debug, Default)]
pub(crate) struct Request {
    answers: Mutex<Answers>,
    all_in: Condvar,
    /// Whether the collector wants the stacks (DU3) or only states and reasons.
    stacks: bool,
}

impl Request {
    /// Whether the collector wants the stacks.
    pub(super) fn stacks(&self) -> bool {
        self.stacks
    }

    /// A worker's answer (DU4, DU5).
    pub(super) fn answer(&self, worker: usize, records: Vec<Record>, has_timers: bool) {
        let mut answers = self.answers.lock().unwrap_or_else(|e| e.into_inner());
        answers.records.extend(records);
        answers.answered.push(worker);
        answers.timers += usize::from(has_timers);
        self.all_in.notify_all();
    }
}

/// What the collector gathered.
#[derive(Debug, Clone)]
pub(crate) struct Collected {
    pub(crate) records: Vec<Record>,
    /// Coroutines spawned and not yet committed to a worker (in the global queue or a
    /// worker's deque): counted, not listed.
    pub(crate) unstarted: usize,
    /// Workers that did not answer: (index, coroutines of theirs not listed).
    pub(crate) held: Vec<(usize, usize)>,
    /// Workers with a timer armed among those that answered.
    pub(crate) timers: usize,
}

impl Scheduler {
    /// Asks every worker thread for its coroutines and waits for the answers (at most
    /// `ANSWER_WITHIN`). Blocks the calling OS thread: never call it from a coroutine (its own
    /// worker could not answer).
    pub(crate) fn collect_dump(&self, stacks: bool) -> Collected {
        let request = std::sync::Arc::new(Request {
            stacks,
            ..Request::default()
        });
        let mut asked = Vec::new();
        for (index, remote) in self.remotes.iter().enumerate() {
            if remote.thread() == 0 {
                continue;
            }
            remote.dump.lock().push(request.clone());
            remote.dump_wanted.store(true, Ordering::SeqCst);
            // A worker asleep in the I/O driver's poll is woken through the driver's waker.
            self.unpark_worker(index);
            asked.push(index);
        }
        let mut deadline = Instant::now() + ANSWER_WITHIN;
        let mut answers = request.answers.lock().unwrap_or_else(|e| e.into_inner());
        while answers.answered.len() < asked.len() {
            let now = Instant::now();
            if now >= deadline {
                // A worker still answering (thousands of stacks) is waited for, not sampled.
                let answering = asked.iter().any(|&i| {
                    !answers.answered.contains(&i)
                        && self.remotes[i].answering.load(Ordering::SeqCst)
                });
                if !answering {
                    break;
                }
                deadline = now + ANSWER_WITHIN;
                continue;
            }
            answers = match request.all_in.wait_timeout(answers, deadline - now) {
                Ok((a, _)) => a,
                Err(e) => e.into_inner().0,
            };
        }
        let answered = std::mem::take(&mut answers.answered);
        let mut records = std::mem::take(&mut answers.records);
        let timers = answers.timers;
        drop(answers);
        let mut held = Vec::new();
        for index in asked {
            if answered.contains(&index) {
                continue;
            }
            let remote = &self.remotes[index];
            // Withdraw this request (only this one: another collector may be waiting too); an
            // answer already under way goes to a request nobody reads.
            remote
                .dump
                .lock()
                .retain(|r| !std::sync::Arc::ptr_eq(r, &request));
            let live = remote.live.load(Ordering::Relaxed);
            let asleep = remote.progress.load(Ordering::Relaxed) & PROGRESS_ASLEEP != 0;
            match (!asleep)
                .then(|| super::sample::sample(remote.thread()))
                .flatten()
            {
                Some(sample) => {
                    // From the interrupted instruction on (the handler's frames are above).
                    let first = sample.ips.iter().position(|&ip| ip == sample.pc);
                    let ips = sample.ips[first.unwrap_or(0)..].to_vec();
                    if let Some((id, name, spawned_at)) = sample.coroutine
                        && let Some(id) = ThreadId::from_u64(id)
                    {
                        records.push(Record {
                            id,
                            name: (name != "<unnamed>").then_some(name),
                            spawned_at,
                            worker: index,
                            state: State::Running,
                            wait: None,
                            timer: false,
                            ips,
                            sampled: first.is_some(),
                        });
                    }
                    held.push((index, live.saturating_sub(1)));
                }
                None => held.push((index, live)),
            }
        }
        let unstarted = self.injector.len()
            + self
                .remotes
                .iter()
                .filter(|r| r.thread() != 0)
                .map(|r| r.stealer.len())
                .sum::<usize>();
        Collected {
            records,
            unstarted,
            held,
            timers,
        }
    }
}

/// One resolved frame of a stack: function, file and line where known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    function: String,
    file: Option<String>,
    line: Option<u32>,
}

impl Frame {
    /// The function (demangled, without hash), or the address when no symbol is known.
    pub fn function(&self) -> &str {
        &self.function
    }

    /// The source file, when debug information says.
    pub fn file(&self) -> Option<&str> {
        self.file.as_deref()
    }

    /// The line in [`file`](Frame::file).
    pub fn line(&self) -> Option<u32> {
        self.line
    }
}

impl std::fmt::Display for Frame {
    /// Two lines, as in a panic backtrace: the function, then `at FILE:LINE` (indented).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "    {}", self.function)?;
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, "\n        at {file}:{line}"),
            (Some(file), None) => write!(f, "\n        at {file}"),
            _ => Ok(()),
        }
    }
}

/// Resolves a coroutine's stack (symbols, files, lines), innermost call first, from the
/// caller's side of the runtime's own frames down to the user's closure: the frames that
/// recorded it (DU3's walk, a signal handler) and the spawn wrapper with everything under it
/// are left out. `exact_first`: the first address is an interrupted instruction (a sample),
/// not a return address. Needs a large stack: call it on an OS thread.
pub(crate) fn resolve(ips: &[usize], exact_first: bool) -> Vec<Frame> {
    // Paths under the working directory are shown relative to it, as std's backtraces do.
    let cwd = std::env::current_dir().ok();
    let show = |path: &std::path::Path| match cwd.as_deref().and_then(|c| path.strip_prefix(c).ok())
    {
        Some(rel) => rel.display().to_string(),
        None => path.display().to_string(),
    };
    let mut frames: Vec<Frame> = Vec::new();
    for (i, &ip) in ips.iter().enumerate() {
        // A return address points after its call: look up the call itself.
        let addr = if i == 0 && exact_first {
            ip
        } else {
            ip.saturating_sub(1)
        } as *mut std::ffi::c_void;
        let before = frames.len();
        backtrace::resolve(addr, |symbol| {
            frames.push(Frame {
                function: symbol
                    .name()
                    .map_or_else(|| format!("{ip:#x}"), |n| format!("{n:#}")),
                file: symbol.filename().map(show),
                line: symbol.lineno(),
            });
        });
        if frames.len() == before {
            frames.push(Frame {
                function: format!("{ip:#x}"),
                file: None,
                line: None,
            });
        }
    }
    // DU3's walk: everything up to the frame that recorded the stack, then the switch itself.
    let start = frames
        .iter()
        .rposition(|f| f.function.contains("record_stack"))
        .map_or(0, |i| i + 1);
    // The park (or yield) the coroutine sits in is its innermost frame worth showing, as
    // Go's dumps begin at `gopark`.
    let start = match frames[start..].iter().position(|f| {
        let park_file = f
            .file
            .as_deref()
            .is_some_and(|p| p.ends_with("src/park/mod.rs"));
        // Inlined frames carry the short name.
        matches!(
            f.function.as_str(),
            "weft::park::park" | "weft::park::yield_now"
        ) || (park_file && matches!(f.function.as_str(), "park" | "yield_now"))
    }) {
        Some(i) => start + i,
        None => {
            start
                + frames[start..]
                    .iter()
                    .take_while(|f| {
                        f.function.starts_with("weft::coroutine::")
                            || f.function.starts_with("weft::park::park_coroutine")
                            || f.function.starts_with("corosensei::")
                    })
                    .count()
        }
    };
    let mut end = frames[start..]
        .iter()
        .position(is_spawn_wrapper)
        .map_or(frames.len(), |i| start + i);
    while end > start && is_unwind_guard(&frames[end - 1].function) {
        end -= 1;
    }
    frames.truncate(end);
    frames.drain(..start);
    frames
}

/// Whether `frame` is the spawn wrapper that runs the user's closure (`Packet::run`), or a
/// frame under it. Only `run`: a coroutine blocked in `JoinHandle::join` has join.rs frames of
/// its own above the user's.
fn is_spawn_wrapper(frame: &Frame) -> bool {
    let name = frame.function.as_str();
    let run = name.starts_with("weft::thread::join::Packet<") && name.ends_with(">::run");
    // Inlined frames carry the short name (`run<...>`, with or without its generics).
    let inlined_run = (name == "run" || name.starts_with("run<"))
        && frame
            .file
            .as_deref()
            .is_some_and(|p| p.ends_with("src/thread/join.rs"));
    run || inlined_run
        || name.starts_with("weft::coroutine::build_co")
        || name.starts_with("corosensei::")
}

/// Whether `name` is one of the std frames through which the spawn wrapper calls the closure.
fn is_unwind_guard(name: &str) -> bool {
    name.starts_with("std::panicking::")
        || name.starts_with("<core::panic::unwind_safe::AssertUnwindSafe<")
        || name == "__rust_try"
        || name.starts_with("std::panic::")
        || name.starts_with("core::ops::function::")
        || name.starts_with("catch_unwind")
        || name.starts_with("do_call")
        || name.starts_with("call_once")
}
