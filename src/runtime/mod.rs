//! The runtime: its configuration, and the lazy, once-only start of the scheduler with it.
//!
//! The runtime starts on the first spawn. Its configuration comes from [`Builder`] if the
//! program calls [`Builder::init`] before that, else from the environment:
//!
//! | variable            | meaning                                  | default                   |
//! |---------------------|------------------------------------------|---------------------------|
//! | `WEFT_WORKERS`      | number of worker threads (1–1024)        | `available_parallelism()` |
//! | `WEFT_STACK_SIZE`   | usable stack bytes per coroutine (`k`/`m` suffix allowed) | 64 KiB   |
//! | `WEFT_STACK_GUARD`  | `auto`, `madvise` or `mprotect`          | `auto`                    |
//! | `WEFT_BLOCKING_WARN` | warn when a coroutine holds its worker this long without a weft call (`100ms`, `2s`, `500us`; `off`) | `100ms` |
//! | `WEFT_DEADLOCK`     | when every coroutine is asleep and nothing can wake one: `warn` (print the dump once per episode), `abort` (print, then abort), `off` | `warn` |
//! | `WEFT_SIGQUIT`      | `off`: leave `SIGQUIT` alone; otherwise, if it still has its default action, it prints the dump to stderr and the program goes on | on |
//!
//! An invalid value is reported by the first spawn as an `io::Error` naming the variable
//! (`thread::spawn` and `go!` panic with that message, like `std::thread::spawn`).

use std::io;
use std::sync::OnceLock;
use std::time::Duration;

mod dump;

pub use crate::coroutine::{SelectOp, WaitReason};
use crate::scheduler::deadlock::Mode as DeadlockMode;
pub use crate::scheduler::dump::Frame;
pub use crate::scheduler::snapshot::{CoroutineState, Dump, DumpEntry};
use crate::scheduler::{Config, Scheduler};
pub use crate::stack::StackGuard;
use crate::stack::{DEFAULT_STACK_SIZE, round_stack_size};
pub use dump::dump;

/// Most worker threads accepted.
const MAX_WORKERS: usize = 1024;
/// SY4: the default of `WEFT_BLOCKING_WARN`.
const DEFAULT_BLOCKING_WARN: Duration = Duration::from_millis(100);

/// Explicit configuration of the global runtime, used instead of the environment.
///
/// Call [`Builder::init`] before the first spawn. Values not set fall back to the environment
/// variables of the module doc, then to the defaults. A plain value type (`Send + Sync`);
/// `init` never blocks beyond starting the worker threads, and only the first `init` or spawn
/// of the process decides the configuration.
///
/// ```
/// weft::runtime::Builder::new().workers(2).init().ok(); // Err if the runtime already runs
/// let h = weft::go!(|| 6 * 7);
/// assert_eq!(h.join().unwrap(), 42);
/// ```
#[derive(Debug, Default, Clone)]
pub struct Builder {
    workers: Option<usize>,
    stack_size: Option<usize>,
    stack_guard: Option<StackGuard>,
    blocking_warn: Option<Option<Duration>>,
}

impl Builder {
    /// A builder with nothing set.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Number of worker threads (OS threads that run coroutines).
    pub fn workers(mut self, n: usize) -> Builder {
        self.workers = Some(n);
        self
    }

    /// Default usable stack size of a coroutine, in bytes.
    pub fn stack_size(mut self, bytes: usize) -> Builder {
        self.stack_size = Some(bytes);
        self
    }

    /// How stack guard pages are placed (see [`StackGuard`]).
    pub fn stack_guard(mut self, guard: StackGuard) -> Builder {
        self.stack_guard = Some(guard);
        self
    }

    /// When to warn about a coroutine that holds its worker thread without a weft call (a std
    /// call that blocks, a long loop): after `after`, or never for `None`. The warning names the
    /// coroutine, shows where it is and how to fix it (README, "When a coroutine holds its
    /// worker"). Default: `WEFT_BLOCKING_WARN`, else 100 ms.
    pub fn blocking_warn(mut self, after: Option<Duration>) -> Builder {
        self.blocking_warn = Some(after);
        self
    }

    /// Starts the global runtime with this configuration.
    ///
    /// # Errors
    /// `AlreadyExists` if the runtime is already running (it starts on the first spawn);
    /// `InvalidInput` for a bad value (here or in the environment); the error of starting the
    /// worker threads otherwise.
    pub fn init(self) -> io::Result<()> {
        let mut fresh = false;
        let result = RUNTIME.get_or_init(|| {
            fresh = true;
            build(self.resolve())
        });
        match (fresh, result) {
            (true, Ok(_)) => Ok(()),
            (true, Err(e)) => Err(io::Error::new(e.0, e.1.clone())),
            (false, Err(e)) => Err(io::Error::new(
                e.0,
                format!("weft: the runtime failed to start earlier: {}", e.1),
            )),
            (false, Ok(_)) => Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "weft: the runtime is already running; call runtime::Builder::init before the \
                 first spawn",
            )),
        }
    }

    fn resolve(self) -> Result<Config, (io::ErrorKind, String)> {
        let invalid = |msg: String| (io::ErrorKind::InvalidInput, msg);
        let workers = match self.workers {
            Some(n) => n,
            None => match env_value("WEFT_WORKERS").map_err(invalid)? {
                Some(v) => parse_workers(&v).map_err(invalid)?,
                None => std::thread::available_parallelism().map_or(1, |n| n.get()),
            },
        };
        if workers == 0 || workers > MAX_WORKERS {
            return Err(invalid(format!(
                "weft: the number of workers must be between 1 and {MAX_WORKERS}, got {workers}"
            )));
        }
        let stack_size = match self.stack_size {
            Some(n) => round_stack_size(n).map_err(|e| (e.kind(), e.to_string()))?,
            None => match env_value("WEFT_STACK_SIZE").map_err(invalid)? {
                Some(v) => match parse_size(&v) {
                    Some(n) => round_stack_size(n)
                        .map_err(|e| (e.kind(), format!("weft: WEFT_STACK_SIZE={v}: {e}")))?,
                    None => {
                        return Err(invalid(format!(
                            "weft: WEFT_STACK_SIZE must be a size in bytes such as 65536, 64k \
                             or 1m, got {v:?}"
                        )));
                    }
                },
                None => DEFAULT_STACK_SIZE,
            },
        };
        let stack_guard = match self.stack_guard {
            Some(g) => g,
            None => match env_value("WEFT_STACK_GUARD").map_err(invalid)?.as_deref() {
                None | Some("auto") => StackGuard::Auto,
                Some("madvise") => StackGuard::Madvise,
                Some("mprotect") => StackGuard::Mprotect,
                Some(v) => {
                    return Err(invalid(format!(
                        "weft: WEFT_STACK_GUARD must be auto, madvise or mprotect, got {v:?}"
                    )));
                }
            },
        };
        let blocking_warn = match self.blocking_warn {
            Some(after) => after,
            None => match env_value("WEFT_BLOCKING_WARN").map_err(invalid)?.as_deref() {
                None => Some(DEFAULT_BLOCKING_WARN),
                Some("off") => None,
                Some(v) => Some(parse_duration(v).ok_or_else(|| {
                    invalid(format!(
                        "weft: WEFT_BLOCKING_WARN must be a duration such as 100ms, 2s or 500us, \
                         or off, got {v:?}"
                    ))
                })?),
            },
        };
        let deadlock = match env_value("WEFT_DEADLOCK").map_err(invalid)?.as_deref() {
            None | Some("warn") => DeadlockMode::Warn,
            Some("abort") => DeadlockMode::Abort,
            Some("off") => DeadlockMode::Off,
            Some(v) => {
                return Err(invalid(format!(
                    "weft: WEFT_DEADLOCK must be warn, abort or off, got {v:?}"
                )));
            }
        };
        let sigquit = match env_value("WEFT_SIGQUIT").map_err(invalid)?.as_deref() {
            None | Some("on") => true,
            Some("off") => false,
            Some(v) => {
                return Err(invalid(format!(
                    "weft: WEFT_SIGQUIT must be on or off, got {v:?}"
                )));
            }
        };
        Ok(Config {
            workers,
            stack_size,
            stack_guard,
            blocking_warn,
            deadlock,
            sigquit,
        })
    }
}

fn env_value(name: &str) -> Result<Option<String>, String> {
    match std::env::var(name) {
        Ok(v) => Ok(Some(v.trim().to_owned())),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(v)) => {
            Err(format!("weft: {name} must be valid UTF-8, got {v:?}"))
        }
    }
}

fn parse_workers(v: &str) -> Result<usize, String> {
    v.parse::<usize>()
        .ok()
        .filter(|n| (1..=MAX_WORKERS).contains(n))
        .ok_or_else(|| {
            format!("weft: WEFT_WORKERS must be a whole number from 1 to {MAX_WORKERS}, got {v:?}")
        })
}

/// A positive whole number of `ns`, `us` (or `µs`), `ms` or `s`.
fn parse_duration(v: &str) -> Option<Duration> {
    let digits = v.find(|c: char| !c.is_ascii_digit())?;
    let n: u64 = v[..digits].parse().ok().filter(|&n| n > 0)?;
    match v[digits..].trim() {
        "ns" => Some(Duration::from_nanos(n)),
        "us" | "µs" => Some(Duration::from_micros(n)),
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        _ => None,
    }
}

fn parse_size(v: &str) -> Option<usize> {
    let lower = v.to_ascii_lowercase();
    let (digits, shift) = match lower.trim_end_matches('b').trim_end_matches('i') {
        s if s.ends_with('k') => (&s[..s.len() - 1], 10),
        s if s.ends_with('m') => (&s[..s.len() - 1], 20),
        s => (s, 0),
    };
    digits.trim().parse::<usize>().ok()?.checked_mul(1 << shift)
}

type InitResult = Result<&'static Scheduler, (io::ErrorKind, String)>;

static RUNTIME: OnceLock<InitResult> = OnceLock::new();

fn build(config: Result<Config, (io::ErrorKind, String)>) -> InitResult {
    let config = config?;
    crate::signal::install();
    let sigquit = config.sigquit;
    // The panic hook is installed by the workers as they start (`panic::install_hook`): this
    // thread may be panicking right now (a `Drop` that spawns), and std refuses to change the
    // hook from a panicking thread.
    let sched = Scheduler::start(config).map_err(|e| (e.kind(), e.to_string()))?;
    if sigquit {
        dump::on_sigquit(sched);
    }
    Ok(sched)
}

/// The global scheduler, starting it from the environment on first use.
#[inline]
pub(crate) fn start() -> io::Result<&'static Scheduler> {
    // Every spawn comes here: the started runtime is one load away.
    if let Some(Ok(sched)) = RUNTIME.get() {
        return Ok(sched);
    }
    start_slow()
}

#[inline(never)]
fn start_slow() -> io::Result<&'static Scheduler> {
    match RUNTIME.get_or_init(|| build(Builder::new().resolve())) {
        Ok(s) => Ok(s),
        Err((kind, msg)) => Err(io::Error::new(*kind, msg.clone())),
    }
}
