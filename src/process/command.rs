//! `Command`: std's process builder, whose `spawn` returns weft's `Child` and whose `output`
//! and `status` park the coroutine.

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{self, CommandArgs, CommandEnvs, ExitStatus, Output, Stdio};

use super::child::Child;

/// A process builder, as std's `Command`, with the same methods.
///
/// The builder methods only record; `spawn` starts the child on the calling thread or
/// coroutine (std's fork/exec or `posix_spawn`, which does not wait for the child to run: a
/// short system call, PR6), and `output` and `status` then park the coroutine until the child
/// exits (PR1, PR2). On a plain OS thread they block the thread, as std's do. `Send` and
/// `Sync`, like std's.
///
/// std's `std::os::unix::process::CommandExt` is sealed, so its common methods are inherent
/// here (`uid`, `gid`, `process_group`, `arg0`, `pre_exec`, `exec`); the rest are reached
/// through [`as_std_mut`](Command::as_std_mut).
pub struct Command {
    inner: process::Command,
    /// PR7: which standard streams the user set, so that `output` picks std's defaults for the
    /// others (null stdin, piped stdout and stderr) and `spawn` keeps inheriting them.
    set: [bool; 3],
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

/// Takes over a std builder with everything set on it. Its standard streams count as unset
/// for `output` (std's builder does not tell), which therefore pipes stdout and stderr and
/// gives a null stdin, as for a builder that never set them.
impl From<process::Command> for Command {
    fn from(inner: process::Command) -> Command {
        Command {
            inner,
            set: [false; 3],
        }
    }
}

impl Command {
    /// A builder for running `program`, as std's `Command::new`.
    pub fn new<S: AsRef<OsStr>>(program: S) -> Command {
        Command::from(process::Command::new(program))
    }

    /// Adds an argument.
    pub fn arg<S: AsRef<OsStr>>(&mut self, arg: S) -> &mut Command {
        self.inner.arg(arg);
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.inner.args(args);
        self
    }

    /// Sets an environment variable of the child.
    pub fn env<K, V>(&mut self, key: K, val: V) -> &mut Command
    where
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.inner.env(key, val);
        self
    }

    /// Sets environment variables of the child.
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Command
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.inner.envs(vars);
        self
    }

    /// Removes an environment variable from the child's environment.
    pub fn env_remove<K: AsRef<OsStr>>(&mut self, key: K) -> &mut Command {
        self.inner.env_remove(key);
        self
    }

    /// Clears the child's environment.
    pub fn env_clear(&mut self) -> &mut Command {
        self.inner.env_clear();
        self
    }

    /// Sets the child's working directory.
    pub fn current_dir<P: AsRef<Path>>(&mut self, dir: P) -> &mut Command {
        self.inner.current_dir(dir);
        self
    }

    /// Sets the child's standard input (`Stdio::piped()` gives [`Child::stdin`]).
    pub fn stdin<T: Into<Stdio>>(&mut self, cfg: T) -> &mut Command {
        self.inner.stdin(cfg);
        self.set[0] = true;
        self
    }

    /// Sets the child's standard output.
    pub fn stdout<T: Into<Stdio>>(&mut self, cfg: T) -> &mut Command {
        self.inner.stdout(cfg);
        self.set[1] = true;
        self
    }

    /// Sets the child's standard error.
    pub fn stderr<T: Into<Stdio>>(&mut self, cfg: T) -> &mut Command {
        self.inner.stderr(cfg);
        self.set[2] = true;
        self
    }

    /// Starts the child (standard streams inherited unless set). A missing program is
    /// `ErrorKind::NotFound`, as with std. Its pipes are weft's (PR3).
    pub fn spawn(&mut self) -> io::Result<Child> {
        self.inner.spawn().map(Child::from)
    }

    /// Runs the child to its end and collects its output: stdin is null and stdout and
    /// stderr are piped unless set (std's defaults); both pipes are read at once (PR5). Parks
    /// the coroutine until the child has exited.
    pub fn output(&mut self) -> io::Result<Output> {
        // PR7: std's defaults for `output`, for this spawn only.
        let defaults = self.set;
        if !defaults[0] {
            self.inner.stdin(Stdio::null());
        }
        if !defaults[1] {
            self.inner.stdout(Stdio::piped());
        }
        if !defaults[2] {
            self.inner.stderr(Stdio::piped());
        }
        let child = self.inner.spawn();
        if !defaults[0] {
            self.inner.stdin(Stdio::inherit());
        }
        if !defaults[1] {
            self.inner.stdout(Stdio::inherit());
        }
        if !defaults[2] {
            self.inner.stderr(Stdio::inherit());
        }
        Child::from(child?).wait_with_output()
    }

    /// Runs the child to its end (standard streams inherited unless set) and returns its
    /// status. Parks the coroutine until the child has exited.
    pub fn status(&mut self) -> io::Result<ExitStatus> {
        self.spawn()?.wait()
    }

    /// The program, as given to `new`.
    pub fn get_program(&self) -> &OsStr {
        self.inner.get_program()
    }

    /// The arguments (without the program).
    pub fn get_args(&self) -> CommandArgs<'_> {
        self.inner.get_args()
    }

    /// The environment changes made with `env`, `envs` and `env_remove` (`None`: removed).
    pub fn get_envs(&self) -> CommandEnvs<'_> {
        self.inner.get_envs()
    }

    /// The working directory, if set.
    pub fn get_current_dir(&self) -> Option<&Path> {
        self.inner.get_current_dir()
    }

    /// std's builder inside, for what this type does not mirror.
    pub fn as_std(&self) -> &process::Command {
        &self.inner
    }

    /// std's builder inside, mutable: for `std::os::unix::process::CommandExt` methods that
    /// are not inherent here (`groups`, `before_exec`…). Standard streams set through it
    /// count as unset for [`output`](Command::output).
    pub fn as_std_mut(&mut self) -> &mut process::Command {
        &mut self.inner
    }

    /// The user id the child runs as (`CommandExt::uid`).
    pub fn uid(&mut self, id: u32) -> &mut Command {
        self.inner.uid(id);
        self
    }

    /// The group id the child runs as (`CommandExt::gid`).
    pub fn gid(&mut self, id: u32) -> &mut Command {
        self.inner.gid(id);
        self
    }

    /// The child's process group (`CommandExt::process_group`; 0: a new group led by the
    /// child).
    pub fn process_group(&mut self, pgroup: i32) -> &mut Command {
        self.inner.process_group(pgroup);
        self
    }

    /// The child's `argv[0]` (`CommandExt::arg0`).
    pub fn arg0<S: AsRef<OsStr>>(&mut self, arg: S) -> &mut Command {
        self.inner.arg0(arg);
        self
    }

    /// A closure run in the child after `fork` and before `exec` (`CommandExt::pre_exec`).
    ///
    /// # Safety
    /// As std's: the closure runs in a forked copy of this process where only
    /// async-signal-safe operations are sound (no allocation, no locks another thread may
    /// hold).
    pub unsafe fn pre_exec<F>(&mut self, f: F) -> &mut Command
    where
        F: FnMut() -> io::Result<()> + Send + Sync + 'static,
    {
        // SAFETY: the caller upholds `pre_exec`'s contract, which is std's.
        unsafe { self.inner.pre_exec(f) };
        self
    }

    /// Replaces this process with the program (`CommandExt::exec`): returns only on failure.
    pub fn exec(&mut self) -> io::Error {
        self.inner.exec()
    }
}
