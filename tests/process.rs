//! `weft::process`: std's behaviour (output, status, NotFound, kill, pipes between children),
//! from coroutines and plain threads, with waits through a pidfd (PR1) and through the
//! blocking-pool fallback (PR2, `WEFT_PIDFD=off` in a child process), and 64 children waited
//! for at once by coroutines of a one-worker runtime while another coroutine makes progress.

mod support;

use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use support::{child_is, child_report, run_child_with_timeout, watchdog, with_timeout};
use weft::chan;
use weft::go;
use weft::process::{Command, Stdio};

/// Runs `f` in a coroutine and on a plain thread (the test body's own thread).
fn both<F>(f: F)
where
    F: Fn() + Send + Sync + Clone + 'static,
{
    let g = f.clone();
    go!(g).join().unwrap();
    f();
}

fn output_captures_everything() {
    let out = Command::new("sh")
        .args(["-c", "echo out; echo err >&2; exit 3"])
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"out\n");
    assert_eq!(out.stderr, b"err\n");
    assert_eq!(out.status.code(), Some(3));
    assert!(!out.status.success());
}

fn missing_program_is_not_found() {
    let mut cmd = Command::new("/nonexistent/weft-no-such-program");
    for err in [
        cmd.spawn().map(drop).unwrap_err(),
        cmd.output().map(drop).unwrap_err(),
        cmd.status().map(drop).unwrap_err(),
    ] {
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound, "{err}");
    }
    let std_err = std::process::Command::new("/nonexistent/weft-no-such-program")
        .spawn()
        .unwrap_err();
    assert_eq!(std_err.kind(), std::io::ErrorKind::NotFound);
}

fn status_and_kill() {
    let status = Command::new("sh").args(["-c", "exit 5"]).status().unwrap();
    assert_eq!(status.code(), Some(5));
    let mut child = Command::new("sleep").arg("30").spawn().unwrap();
    assert!(child.try_wait().unwrap().is_none());
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    assert_eq!(status.code(), None);
    // Waiting again gives the kept status, as std does.
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
    assert_eq!(
        child.try_wait().unwrap().unwrap().signal(),
        Some(libc::SIGKILL)
    );
}

/// Both pipes fill far beyond a pipe's buffer: reading one after the other would deadlock.
fn output_reads_both_pipes_at_once() {
    let out = Command::new("sh")
        .args([
            "-c",
            "head -c 300000 /dev/zero | tr '\\0' e >&2; head -c 300000 /dev/zero | tr '\\0' o",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(out.stderr.len(), 300_000);
    assert!(out.stderr.iter().all(|&b| b == b'e'));
    assert_eq!(out.stdout.len(), 300_000);
    assert!(out.stdout.iter().all(|&b| b == b'o'));
}

/// Writes 1 MiB into `cat` while reading it back: each side must wait for the other.
fn stdin_and_stdout_pipes() {
    let mut child = Command::new("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let data: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
    let expected = data.clone();
    let writer = go!(move || {
        stdin.write_all(&data).unwrap();
        // Dropped: cat sees the end of its input.
    });
    let mut got = Vec::new();
    stdout.read_to_end(&mut got).unwrap();
    writer.join().unwrap();
    assert_eq!(got.len(), expected.len());
    assert!(got == expected);
    assert!(child.wait().unwrap().success());
}

/// A's stdout becomes B's stdin, in blocking mode (B would fail on `EAGAIN` otherwise: A
/// writes only after a pause, so B's first read finds the pipe empty).
fn pipe_between_children() {
    let mut a = Command::new("sh")
        .args(["-c", "sleep 0.2; echo hello; echo world"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let b = Command::new("tr")
        .arg("a-z")
        .arg("A-Z")
        .stdin(Stdio::from(a.stdout.take().unwrap()))
        .output()
        .unwrap();
    assert!(b.status.success(), "{b:?}");
    assert_eq!(b.stdout, b"HELLO\nWORLD\n");
    assert!(b.stderr.is_empty());
    assert!(a.wait().unwrap().success());
}

fn builder_getters_and_env() {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("echo $WEFT_T_A-$WEFT_T_B; pwd")
        .env("WEFT_T_A", "a")
        .envs([("WEFT_T_B", "b")])
        .env_remove("WEFT_T_C")
        .current_dir("/");
    assert_eq!(cmd.get_program(), "sh");
    assert_eq!(cmd.get_args().count(), 2);
    assert_eq!(cmd.get_envs().count(), 3);
    assert_eq!(cmd.get_current_dir(), Some(std::path::Path::new("/")));
    let out = cmd.output().unwrap();
    assert_eq!(out.stdout, b"a-b\n/\n");
    // `output` left spawn's defaults alone: an explicitly set stream stays as set.
    let out = Command::new("sh")
        .args(["-c", "echo gone"])
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert!(out.stdout.is_empty());
    let from_std = Command::from(std::process::Command::new("true"));
    assert!(format!("{from_std:?}").contains("true"));
}

/// The inherent mirrors of std's sealed `CommandExt`.
fn unix_extensions() {
    let out = Command::new("sh")
        .arg0("weft-sh")
        .args(["-c", "echo $0; cut -d' ' -f5 /proc/$$/stat; echo $$"])
        .process_group(0)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "weft-sh");
    // A new process group, led by the child.
    assert_eq!(lines[1], lines[2], "{text}");
    let mut cmd = Command::new("true");
    // SAFETY: the closure only builds an error value; it allocates nothing and takes no lock.
    unsafe {
        cmd.pre_exec(|| Err(std::io::Error::from_raw_os_error(libc::EACCES)));
    }
    let err = cmd.spawn().map(drop).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::PermissionDenied);
}

fn basics() {
    both(output_captures_everything);
    both(missing_program_is_not_found);
    both(status_and_kill);
    both(output_reads_both_pipes_at_once);
    both(stdin_and_stdout_pipes);
    both(pipe_between_children);
    both(builder_getters_and_env);
    both(unix_extensions);
}

#[test]
fn std_behaviour_with_pidfd() {
    watchdog(basics);
}

/// Child: the same with the blocking-pool fallback (PR2).
#[test]
fn child_basics_fallback() {
    if !child_is("basics-fallback") {
        return;
    }
    with_timeout(60, || {
        basics();
        child_report("basics", "ok");
    });
}

#[test]
fn std_behaviour_with_the_fallback() {
    watchdog(|| {
        let out = run_child_with_timeout(
            "child_basics_fallback",
            "basics-fallback",
            &[("WEFT_PIDFD", "off")],
            60,
        );
        out.assert_success();
        assert_eq!(out.stdout_value("basics"), "ok");
    });
}

/// The process's open pidfds.
fn open_pidfds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|l| l.to_string_lossy().contains("pidfd"))
        .count()
}

const CHILDREN: usize = 64;
const STEPS: usize = 200;

/// Child: one worker. 64 coroutines each start `sh -c 'read x; exit $x'` and wait for it; the
/// children stay blocked until this thread writes to them, so the waits are all pending at
/// once. Meanwhile a ticker coroutine on the same worker must complete its steps, which it
/// can only do if every waiting coroutine is parked.
#[test]
fn child_many_children() {
    if !child_is("many-children") {
        return;
    }
    with_timeout(60, || {
        let finished = Arc::new(AtomicUsize::new(0));
        let (stdins_tx, stdins_rx) = chan::unbounded();
        let waiters: Vec<_> = (0..CHILDREN)
            .map(|i| {
                let (stdins_tx, finished) = (stdins_tx.clone(), finished.clone());
                go!(move || {
                    let mut child = Command::new("sh")
                        .args(["-c", "read x; exit $x"])
                        .stdin(Stdio::piped())
                        .spawn()
                        .unwrap();
                    stdins_tx.send((i, child.stdin.take().unwrap())).unwrap();
                    let worker = worker_name();
                    let status = child.wait().unwrap();
                    finished.fetch_add(1, Ordering::SeqCst);
                    (i, status.code(), worker)
                })
            })
            .collect();
        drop(stdins_tx);
        let mut stdins: Vec<_> = (0..CHILDREN).map(|_| stdins_rx.recv().unwrap()).collect();
        // Every coroutine has spawned its child and gone on into `wait`.
        let ticker_worker = tick_while(Arc::new(AtomicBool::new(true)));
        assert_eq!(finished.load(Ordering::SeqCst), 0, "a child exited early");
        child_report("pidfds", open_pidfds());
        for (i, stdin) in &mut stdins {
            writeln!(stdin, "{i}").unwrap();
        }
        drop(stdins);
        let mut beside_ticker = 0;
        for (i, h) in waiters.into_iter().enumerate() {
            let (j, code, worker) = h.join().unwrap();
            assert_eq!((j, code), (i, Some(i as i32)));
            beside_ticker += usize::from(worker == ticker_worker);
        }
        // Normally all 64. A spawn that holds the worker 1 ms in the kernel (a loaded
        // machine) makes sysmon start a spare that takes the later coroutines (HO1); the
        // first one always waits on the ticker's worker.
        child_report("beside-ticker", beside_ticker);
        child_report("steps", STEPS);
        pipes_park_on_one_worker();
    });
}

fn worker_name() -> String {
    std::thread::current().name().unwrap_or("?").to_owned()
}

/// `ticker` steps of a coroutine, received here (on the plain main thread of the child).
fn tick_while(started: Arc<AtomicBool>) -> String {
    let (step_tx, step_rx) = chan::unbounded();
    let ticker = go!(move || {
        while !started.load(Ordering::SeqCst) {
            weft::thread::yield_now();
        }
        for s in 0..STEPS {
            weft::thread::yield_now();
            step_tx.send(s).unwrap();
        }
        worker_name()
    });
    for s in 0..STEPS {
        assert_eq!(step_rx.recv().unwrap(), s);
    }
    ticker.join().unwrap()
}

/// On the one worker: a coroutine reading a child's stdout before the child writes, and one
/// writing 1 MiB to a `cat` nobody reads yet, both park while a ticker completes its steps.
fn pipes_park_on_one_worker() {
    // Read.
    let mut child = Command::new("sh")
        .args(["-c", "read x; echo got-$x"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let started = Arc::new(AtomicBool::new(false));
    let s = started.clone();
    let reader = go!(move || {
        s.store(true, Ordering::SeqCst);
        let worker = worker_name();
        let mut text = String::new();
        stdout.read_to_string(&mut text).unwrap();
        (text, worker)
    });
    let ticker_worker = tick_while(started);
    assert!(!reader.is_finished());
    writeln!(stdin, "x").unwrap();
    drop(stdin);
    assert_eq!(
        reader.join().unwrap(),
        ("got-x\n".to_owned(), ticker_worker)
    );
    assert!(child.wait().unwrap().success());
    child_report("pipe-read", "parked");

    // Write: more than both pipes hold while cat's stdout is not read.
    let mut child = Command::new("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let started = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicBool::new(false));
    let (s, w) = (started.clone(), written.clone());
    let writer = go!(move || {
        s.store(true, Ordering::SeqCst);
        let worker = worker_name();
        stdin.write_all(&vec![7u8; 1 << 20]).unwrap();
        w.store(true, Ordering::SeqCst);
        worker
    });
    let ticker_worker = tick_while(started);
    assert!(!written.load(Ordering::SeqCst), "1 MiB fit in two pipes");
    // Read here, on a plain thread (poll(2) on the non-blocking pipe).
    let mut got = Vec::new();
    stdout.read_to_end(&mut got).unwrap();
    assert_eq!(writer.join().unwrap(), ticker_worker);
    assert_eq!(got.len(), 1 << 20);
    assert!(child.wait().unwrap().success());
    child_report("pipe-write", "parked");
}

#[test]
fn sixty_four_children_on_one_worker_through_pidfds() {
    watchdog(|| {
        let out = run_child_with_timeout(
            "child_many_children",
            "many-children",
            &[("WEFT_WORKERS", "1")],
            60,
        );
        out.assert_success();
        assert_eq!(out.stdout_value("steps"), STEPS.to_string());
        let beside: usize = out.stdout_value("beside-ticker").parse().unwrap();
        assert!((1..=CHILDREN).contains(&beside), "{beside}");
        assert_eq!(out.stdout_value("pipe-read"), "parked");
        assert_eq!(out.stdout_value("pipe-write"), "parked");
        let pidfds: usize = out.stdout_value("pidfds").parse().unwrap();
        assert!(pidfds >= CHILDREN, "only {pidfds} pidfds open");
    });
}

#[test]
fn sixty_four_children_on_one_worker_through_the_pool() {
    watchdog(|| {
        let out = run_child_with_timeout(
            "child_many_children",
            "many-children",
            &[("WEFT_WORKERS", "1"), ("WEFT_PIDFD", "off")],
            60,
        );
        out.assert_success();
        assert_eq!(out.stdout_value("steps"), STEPS.to_string());
        assert_eq!(out.stdout_value("pidfds"), "0");
    });
}
