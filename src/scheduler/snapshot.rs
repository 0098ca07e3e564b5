//! The dump as programs see it: [`Dump`], its entries and their `Display`, built from what
//! the workers listed (dump.rs) (arch/dump.md). `weft::runtime` re-exports these types.

use std::fmt;
use std::panic::Location;
use std::time::Duration;

use super::dump::{Collected, Frame, Record, State};
use crate::coroutine::{ThreadId, WaitReason, epoch, now_ms, tick_clock};

/// Where a coroutine stood when the dump was taken.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoroutineState {
    /// Running on its worker: it held the worker while the dump was taken (the worker could
    /// not list its coroutines, so this one was sampled with a signal).
    Running,
    /// Ready to run: woken, yielded, or not started yet.
    Runnable,
    /// Parked until something wakes it; [`DumpEntry::wait_reason`] says what it waits for.
    Parked,
}

/// One coroutine of a [`Dump`].
#[derive(Debug, Clone)]
pub struct DumpEntry {
    id: ThreadId,
    name: Option<String>,
    spawned_at: &'static Location<'static>,
    worker: usize,
    state: CoroutineState,
    wait: Option<WaitReason>,
    waited: Option<Duration>,
    timer: bool,
    frames: Vec<Frame>,
}

impl DumpEntry {
    /// The coroutine's id (the same as `weft::thread::current().id()` inside it).
    pub fn id(&self) -> ThreadId {
        self.id
    }

    /// The name given at spawn, if any.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Where it was spawned (the caller of `spawn`, `go!` or `Builder::spawn`).
    pub fn spawned_at(&self) -> &'static Location<'static> {
        self.spawned_at
    }

    /// The worker it runs on (a coroutine that has started never changes worker).
    pub fn worker(&self) -> usize {
        self.worker
    }

    /// Running, runnable or parked.
    pub fn state(&self) -> CoroutineState {
        self.state
    }

    /// What a parked coroutine waits for; `None` unless parked.
    pub fn wait_reason(&self) -> Option<&WaitReason> {
        self.wait.as_ref()
    }

    /// How long a parked coroutine has waited (to within about 10 ms); `None` unless parked.
    pub fn waited(&self) -> Option<Duration> {
        self.waited
    }

    /// Whether a timer will wake it (it parked with a deadline: a sleep, a timeout).
    pub fn has_timer(&self) -> bool {
        self.timer
    }

    /// Its stack, innermost call first, from the blocking call down to the spawned closure;
    /// empty for a coroutine that has not started.
    pub fn frames(&self) -> &[Frame] {
        &self.frames
    }
}

impl fmt::Display for DumpEntry {
    /// `coroutine 'reader' (id 12) [socket read fd 9, 1.2 s], spawned at examples/deadlock.rs:23:10:`
    /// then one frame per two lines.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "coroutine '{name}' (id {})", self.id)?,
            None => write!(f, "coroutine <unnamed> (id {})", self.id)?,
        }
        match (self.state, &self.wait) {
            (CoroutineState::Parked, Some(reason)) => {
                write!(f, " [{reason}")?;
                if let Some(waited) = self.waited {
                    write!(f, ", {}", show(waited))?;
                }
                if self.timer {
                    f.write_str(", with a timeout")?;
                }
                f.write_str("]")?;
            }
            (CoroutineState::Running, _) => write!(f, " [running on worker {}]", self.worker)?,
            _ => f.write_str(" [runnable]")?,
        }
        writeln!(f, ", spawned at {}:", self.spawned_at)?;
        if self.frames.is_empty() {
            let why = match self.state {
                CoroutineState::Runnable => "    (not started yet, or its stack was not read)",
                _ => "    (no frames could be read)",
            };
            writeln!(f, "{why}")?;
        }
        for frame in &self.frames {
            writeln!(f, "{frame}")?;
        }
        Ok(())
    }
}

/// A snapshot of the runtime's coroutines, taken by [`dump`].
///
/// Iterate it (`for entry in &dump`) or use [`entries`](Dump::entries); its `Display` prints
/// it as Go prints its goroutines on `SIGQUIT`: a header per coroutine, then its frames.
/// A plain value: `Send + Sync`.
#[derive(Debug, Clone, Default)]
pub struct Dump {
    entries: Vec<DumpEntry>,
    unstarted: usize,
    held: Vec<(usize, usize)>,
    uptime: Duration,
}

impl Dump {
    /// Every coroutine listed, ordered by id (spawn order).
    pub fn entries(&self) -> &[DumpEntry] {
        &self.entries
    }

    /// Iterates over the entries.
    pub fn iter(&self) -> std::slice::Iter<'_, DumpEntry> {
        self.entries.iter()
    }

    /// The first entry named `name`.
    pub fn find(&self, name: &str) -> Option<&DumpEntry> {
        self.entries.iter().find(|e| e.name() == Some(name))
    }

    /// The entry of the coroutine with id `id`.
    pub fn get(&self, id: ThreadId) -> Option<&DumpEntry> {
        self.entries.iter().find(|e| e.id == id)
    }

    /// Coroutines spawned and not yet taken by a worker (in the run queues), counted but not
    /// listed.
    pub fn unstarted(&self) -> usize {
        self.unstarted
    }

    /// Workers that were held by a running coroutine and could not list theirs:
    /// `(worker, coroutines of that worker not listed)`.
    pub fn held_workers(&self) -> &[(usize, usize)] {
        &self.held
    }
}

impl<'a> IntoIterator for &'a Dump {
    type Item = &'a DumpEntry;
    type IntoIter = std::slice::Iter<'a, DumpEntry>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter()
    }
}

impl fmt::Display for Dump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.entries.len();
        writeln!(
            f,
            "weft: {n} coroutine{} at {} since the runtime started",
            if n == 1 { "" } else { "s" },
            show(self.uptime)
        )?;
        if self.unstarted > 0 {
            writeln!(
                f,
                "weft: and {} spawned, waiting in the run queues (not listed)",
                self.unstarted
            )?;
        }
        for &(worker, hidden) in &self.held {
            writeln!(
                f,
                "weft: worker {worker} is held by a running coroutine; its other {hidden} \
                 coroutine(s) could not be listed"
            )?;
        }
        for entry in &self.entries {
            writeln!(f)?;
            write!(f, "{entry}")?;
        }
        Ok(())
    }
}

/// Resolves and orders what the workers listed (on an OS thread: symbolisation needs stack).
pub(crate) fn build(collected: Collected) -> Dump {
    tick_clock();
    let now = now_ms();
    let mut entries: Vec<DumpEntry> = collected
        .records
        .into_iter()
        .map(|r| entry(r, now))
        .collect();
    entries.sort_by_key(|e| e.id);
    Dump {
        entries,
        unstarted: collected.unstarted,
        held: collected.held,
        uptime: epoch().elapsed(),
    }
}

fn entry(record: Record, now: u64) -> DumpEntry {
    let Record {
        id,
        name,
        spawned_at,
        worker,
        state,
        wait,
        timer,
        ips,
        sampled,
    } = record;
    let (wait, waited) = match wait {
        Some((reason, since)) => (
            Some(reason),
            Some(Duration::from_millis(u64::from(
                (now as u32).wrapping_sub(since),
            ))),
        ),
        None => (None, None),
    };
    DumpEntry {
        id,
        name,
        spawned_at,
        worker,
        state: match state {
            State::Running => CoroutineState::Running,
            State::Runnable => CoroutineState::Runnable,
            State::Parked => CoroutineState::Parked,
        },
        wait,
        waited,
        timer,
        frames: super::dump::resolve(&ips, sampled),
    }
}

/// `1.25 s`, `140 ms`.
fn show(d: Duration) -> String {
    if d >= Duration::from_secs(1) {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        format!("{} ms", d.as_millis())
    }
}
