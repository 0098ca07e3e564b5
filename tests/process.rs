//! `weft::process`: std's behaviour (output, status, NotFound, kill, pipes between children),
//! from coroutines and plain threads, with waits through a pidfd (PR1) and through the
//! blocking-pool fallback (PR2, `WEFT_PIDFD=off` in a child process), and 64 children waited
//! for at once by coroutines of a one-worker runtime while another coroutine makes progress.

mod support;

use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

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

fn basics() {
    both(output_captures_everything);
    both(missing_program_is_not_found);
    both(status_and_kill);
    both(output_reads_both_pipes_at_once);
    both(stdin_and_stdout_pipes);
    both(pipe_between_children);
    both(builder_getters_and_env);
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
                    let status = child.wait().unwrap();
                    finished.fetch_add(1, Ordering::SeqCst);
                    (i, status.code())
                })
            })
            .collect();
        drop(stdins_tx);
        let mut stdins: Vec<_> = (0..CHILDREN).map(|_| stdins_rx.recv().unwrap()).collect();
        // Every coroutine has spawned its child and gone on into `wait`.
        let (step_tx, step_rx) = chan::unbounded();
        let ticker = go!(move || {
            for s in 0..STEPS {
                weft::thread::yield_now();
                step_tx.send(s).unwrap();
            }
        });
        for s in 0..STEPS {
            assert_eq!(step_rx.recv().unwrap(), s);
        }
        ticker.join().unwrap();
        assert_eq!(finished.load(Ordering::SeqCst), 0, "a child exited early");
        child_report("pidfds", open_pidfds());
        for (i, stdin) in &mut stdins {
            writeln!(stdin, "{i}").unwrap();
        }
        drop(stdins);
        for (i, h) in waiters.into_iter().enumerate() {
            assert_eq!(h.join().unwrap(), (i, Some(i as i32)));
        }
        child_report("steps", STEPS);
        child_report("workers", support::worker_threads().len());
    });
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
        assert_eq!(out.stdout_value("workers"), "1");
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
