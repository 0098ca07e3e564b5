//! `weft::io::stdin`: reads park only the coroutine when standard input is a pipe written
//! slowly (one worker, another coroutine keeps running), and std's behaviour with a regular
//! file (one shared buffer across `read_line`, `lines`, `lock` and `read_to_string`, `Ok(0)`
//! at the end), from a coroutine and from a plain thread; the same slow reads when standard
//! input is a terminal (a pseudo-terminal the test drives).

mod support;

use std::fs::File;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use support::{LiveChild, child_command, child_is, child_report, watchdog, with_timeout};
use weft::go;
// The porting line this module is for: std's names, weft's stdin.
use weft::io::{self, BufRead, Read, Write};

const STEPS: usize = 200;

/// Child: one worker; stdin is a pipe the parent writes to only after the ticker has run.
#[test]
fn child_stdin_pipe() {
    if !child_is("stdin-pipe") {
        return;
    }
    with_timeout(60, || {
        let waiting = Arc::new(AtomicBool::new(false));
        let got = Arc::new(AtomicUsize::new(0));
        let (w, g) = (waiting.clone(), got.clone());
        let reader = go!(move || {
            let stdin = io::stdin();
            let mut first = String::new();
            w.store(true, Ordering::SeqCst);
            assert_eq!(stdin.read_line(&mut first).unwrap(), 6);
            g.fetch_add(1, Ordering::SeqCst);
            child_report("line", first.trim_end());
            io::stdout().flush().unwrap();
            let mut count = 1;
            for line in stdin.lines() {
                child_report("line", line.unwrap());
                io::stdout().flush().unwrap();
                count += 1;
            }
            let mut buf = [0u8; 16];
            assert_eq!(io::stdin().read(&mut buf).unwrap(), 0);
            count
        });
        let ticker = go!(move || {
            while !waiting.load(Ordering::SeqCst) {
                weft::thread::yield_now();
            }
            // One worker: the reader is not running, so it is parked in its read.
            for _ in 0..STEPS {
                weft::thread::yield_now();
            }
            assert_eq!(got.load(Ordering::SeqCst), 0);
            child_report("ticked", STEPS);
            io::stdout().flush().unwrap();
        });
        ticker.join().unwrap();
        child_report("count", reader.join().unwrap());
        child_report("workers", support::worker_threads().len());
    });
}

/// The end of `child_stdin_pipe` as its parent sees it: every line read, on one worker.
fn assert_read_three_lines_on_one_worker(child: LiveChild) {
    let out = child.finish();
    out.assert_success();
    out.assert_stdout_contains("[line=second]")
        .assert_stdout_contains("[line=third]");
    assert_eq!(out.stdout_value("count"), "3");
    assert_eq!(out.stdout_value("workers"), "1");
}

#[test]
fn a_coroutine_reading_a_slow_pipe_leaves_its_only_worker_to_others() {
    watchdog(|| {
        let mut cmd = child_command(
            "child_stdin_pipe",
            "stdin-pipe",
            &[("WEFT_WORKERS", "1")],
            false,
        );
        cmd.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = LiveChild::spawn(cmd, "stdin-pipe child", 60);
        let mut stdin = child.take_stdin().unwrap();
        child.wait_for_stdout(&format!("[ticked={STEPS}]"));
        stdin.write_all(b"first\n").unwrap();
        child.wait_for_stdout("[line=first]");
        stdin.write_all(b"second\nthird\n").unwrap();
        drop(stdin);
        assert_read_three_lines_on_one_worker(child);
    });
}

/// Standard input is a terminal: the child's stdin is the slave side of a pseudo-terminal
/// (canonical mode: a line arrives at its newline, `^D` at a line's start reads as the end),
/// written to slowly through the master side, on one worker.
#[test]
fn a_coroutine_reading_a_terminal_leaves_its_only_worker_to_others() {
    use std::os::fd::{FromRawFd, OwnedFd};
    watchdog(|| {
        let (mut master, slave) = {
            let (mut m, mut s) = (-1, -1);
            // SAFETY: openpty writes two descriptors into the given ints; the name, termios
            // and window size arguments may be null.
            let rc = unsafe {
                libc::openpty(
                    &mut m,
                    &mut s,
                    std::ptr::null_mut(),
                    std::ptr::null(),
                    std::ptr::null(),
                )
            };
            assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
            // SAFETY: both descriptors are fresh and owned by nothing else.
            unsafe { (File::from_raw_fd(m), OwnedFd::from_raw_fd(s)) }
        };
        let mut cmd = child_command(
            "child_stdin_pipe",
            "stdin-pipe",
            &[("WEFT_WORKERS", "1")],
            false,
        );
        cmd.stdin(std::process::Stdio::from(slave))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = LiveChild::spawn(cmd, "stdin-terminal child", 60);
        child.wait_for_stdout(&format!("[ticked={STEPS}]"));
        master.write_all(b"first\n").unwrap();
        child.wait_for_stdout("[line=first]");
        // Two ends: one for `lines`, one for the last `read`.
        master.write_all(b"second\nthird\n\x04\x04").unwrap();
        assert_read_three_lines_on_one_worker(child);
        drop(master);
    });
}

const LINES: usize = 2000;

fn read_the_file() -> usize {
    let stdin = io::stdin();
    let mut first = String::new();
    stdin.read_line(&mut first).unwrap();
    assert_eq!(first, "line 0\n");
    // More than the 8 KiB buffer holds: several fills.
    let middle: Vec<String> = stdin.lock().lines().take(999).map(|l| l.unwrap()).collect();
    assert_eq!(middle.first().map(String::as_str), Some("line 1"));
    assert_eq!(middle.last().map(String::as_str), Some("line 999"));
    // The rest, through `Read for &Stdin`, from the same buffer.
    let mut rest = String::new();
    (&io::stdin()).read_to_string(&mut rest).unwrap();
    assert!(rest.starts_with("line 1000\n"), "{:?}", &rest[..20]);
    let mut buf = [0u8; 4];
    assert_eq!(io::stdin().lock().read(&mut buf).unwrap(), 0);
    1 + middle.len() + rest.lines().count()
}

/// Child: stdin is a regular file; read in a coroutine or on the main thread (by tag).
#[test]
fn child_stdin_file() {
    let in_coroutine = child_is("stdin-file-coroutine");
    if !in_coroutine && !child_is("stdin-file-thread") {
        return;
    }
    with_timeout(60, move || {
        let n = if in_coroutine {
            go!(read_the_file).join().unwrap()
        } else {
            read_the_file()
        };
        child_report("lines", n);
    });
}

#[test]
fn stdin_from_a_file_reads_like_std() {
    watchdog(|| {
        let path = std::env::temp_dir().join(format!("weft-stdio-{}.txt", std::process::id()));
        let text: String = (0..LINES).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&path, text).unwrap();
        for tag in ["stdin-file-coroutine", "stdin-file-thread"] {
            let mut cmd = child_command("child_stdin_file", tag, &[], false);
            cmd.stdin(File::open(&path).unwrap())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            let out = LiveChild::spawn(cmd, tag, 60).finish();
            out.assert_success();
            assert_eq!(out.stdout_value("lines"), LINES.to_string(), "{tag}");
        }
        std::fs::remove_file(&path).unwrap();
    });
}

#[test]
fn weft_io_is_std_io_with_weft_stdin() {
    // std's items come through the glob; stdout keeps std's lock type.
    let _: io::StdoutLock<'static> = io::stdout().lock();
    let e: io::Error = io::ErrorKind::NotFound.into();
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    let stdin: weft::io::Stdin = io::stdin();
    assert_eq!(format!("{stdin:?}"), "Stdin { .. }");
    use std::os::fd::AsRawFd;
    assert_eq!(stdin.as_raw_fd(), 0);
}
