//! `weft::fs`: std's results and error kinds, from coroutines and plain threads; `Read`,
//! `Write`, `Seek` through `&File`; the unix extension traits; `read_dir` in batches (FS4); a
//! FIFO whose writer comes late does not stall a one-worker runtime (FS1); many coroutines
//! doing file I/O at once, every byte checked.

mod support;

use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, DirEntryExt, FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use support::{child_is, child_report, run_child_with_timeout, watchdog};
use weft::fs;
use weft::go;

/// A fresh directory under the system's temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("weft-fs-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `f` in a coroutine and on a plain thread (the test's watchdog thread).
fn both<F>(f: F)
where
    F: Fn(&str) + Send + Sync + 'static,
{
    let f = Arc::new(f);
    let g = f.clone();
    watchdog(move || {
        go!(move || g("coroutine")).join().unwrap();
        f("thread");
    });
}

fn kind<T: std::fmt::Debug>(r: std::io::Result<T>) -> ErrorKind {
    r.expect_err("an error, as std").kind()
}

#[test]
fn errors_are_stds() {
    both(|who| {
        let dir = TempDir::new("errors");
        let file = dir.join("file");
        std::fs::write(&file, b"x").unwrap();
        let missing = dir.join("missing");
        let sub = dir.join("sub");
        std::fs::create_dir(&sub).unwrap();
        std::fs::write(sub.join("inner"), b"y").unwrap();

        let cases: Vec<(&str, ErrorKind, ErrorKind)> = vec![
            (
                "open missing",
                kind(fs::File::open(&missing)),
                kind(std::fs::File::open(&missing)),
            ),
            (
                "create_new existing",
                kind(fs::File::create_new(&file)),
                kind(std::fs::File::create_new(&file)),
            ),
            (
                "create_dir existing",
                kind(fs::create_dir(&sub)),
                kind(std::fs::create_dir(&sub)),
            ),
            (
                "remove_dir non-empty",
                kind(fs::remove_dir(&sub)),
                kind(std::fs::remove_dir(&sub)),
            ),
            (
                "remove_file of a dir",
                kind(fs::remove_file(&sub)),
                kind(std::fs::remove_file(&sub)),
            ),
            (
                "read_dir of a file",
                kind(fs::read_dir(&file)),
                kind(std::fs::read_dir(&file)),
            ),
            (
                "read of a dir",
                kind(fs::read(&sub)),
                kind(std::fs::read(&sub)),
            ),
            (
                "metadata missing",
                kind(fs::metadata(&missing)),
                kind(std::fs::metadata(&missing)),
            ),
            (
                "read_link of a file",
                kind(fs::read_link(&file)),
                kind(std::fs::read_link(&file)),
            ),
            (
                "canonicalize missing",
                kind(fs::canonicalize(&missing)),
                kind(std::fs::canonicalize(&missing)),
            ),
            (
                "rename missing",
                kind(fs::rename(&missing, dir.join("b"))),
                kind(std::fs::rename(&missing, dir.join("b"))),
            ),
            (
                "write to a read-only file",
                kind(fs::File::open(&file).unwrap().write(b"z")),
                kind(std::fs::File::open(&file).unwrap().write(b"z")),
            ),
            // FS2: the worker's RWF_NOWAIT try fails on a directory; the pool gives std's error.
            (
                "read of an open dir",
                kind(fs::File::open(&sub).unwrap().read(&mut [0u8; 8])),
                kind(std::fs::File::open(&sub).unwrap().read(&mut [0u8; 8])),
            ),
            (
                "read_to_string of bad UTF-8",
                {
                    std::fs::write(dir.join("bad"), [0xff, 0xfe]).unwrap();
                    kind(fs::read_to_string(dir.join("bad")))
                },
                kind(std::fs::read_to_string(dir.join("bad"))),
            ),
        ];
        for (what, weft, std) in cases {
            assert_eq!(weft, std, "{who}: {what}");
        }
        assert_eq!(fs::exists(&file).unwrap(), std::fs::exists(&file).unwrap());
        assert!(!fs::exists(&missing).unwrap(), "{who}");
    });
}

#[test]
fn read_write_seek_through_a_shared_reference() {
    both(|who| {
        let dir = TempDir::new("rws");
        let path = dir.join("data");
        let file = fs::File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        let mut w = &file;
        w.write_all(b"hello, ").unwrap();
        assert_eq!(w.write(b"world").unwrap(), 5);
        assert_eq!(w.stream_position().unwrap(), 12);
        let mut r = &file;
        assert_eq!(r.seek(SeekFrom::Start(7)).unwrap(), 7);
        let mut word = [0u8; 5];
        r.read_exact(&mut word).unwrap();
        assert_eq!(&word, b"world", "{who}");
        assert_eq!(r.read(&mut word).unwrap(), 0, "{who}: end of file");
        assert_eq!(r.seek(SeekFrom::End(-5)).unwrap(), 7);
        assert_eq!(r.seek(SeekFrom::Current(-7)).unwrap(), 0);
        let mut all = String::new();
        (&file).read_to_string(&mut all).unwrap();
        assert_eq!(all, "hello, world");

        // Positional I/O leaves the position alone.
        assert_eq!(file.write_at(b"W", 7).unwrap(), 1);
        let mut one = [0u8; 1];
        assert_eq!(file.read_at(&mut one, 7).unwrap(), 1);
        assert_eq!(&one, b"W");
        file.write_all_at(b"!!", 12).unwrap();
        let mut tail = [0u8; 3];
        file.read_exact_at(&mut tail, 11).unwrap();
        assert_eq!(&tail, b"d!!");
        assert_eq!((&file).stream_position().unwrap(), 12);

        // A clone shares the position.
        let clone = file.try_clone().unwrap();
        (&clone).seek(SeekFrom::Start(1)).unwrap();
        assert_eq!((&file).stream_position().unwrap(), 1, "{who}");

        file.set_len(5).unwrap();
        assert_eq!(file.metadata().unwrap().len(), 5);
        file.sync_all().unwrap();
        file.sync_data().unwrap();
        let mut v = Vec::new();
        (&file).seek(SeekFrom::Start(0)).unwrap();
        (&file).read_to_end(&mut v).unwrap();
        assert_eq!(v, b"hello");
        let mut vectored = [0u8; 2];
        let mut rest = [0u8; 2];
        (&file).seek(SeekFrom::Start(0)).unwrap();
        let n = (&file)
            .read_vectored(&mut [
                std::io::IoSliceMut::new(&mut vectored),
                std::io::IoSliceMut::new(&mut rest),
            ])
            .unwrap();
        assert_eq!((n, &vectored, &rest), (4, b"he", b"ll"));

        // Locks, times, permissions, conversions.
        file.lock().unwrap();
        file.unlock().unwrap();
        file.lock_shared().unwrap();
        file.unlock().unwrap();
        file.try_lock().unwrap();
        file.unlock().unwrap();
        file.try_lock_shared().unwrap();
        file.unlock().unwrap();
        let when = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        file.set_modified(when).unwrap();
        assert_eq!(file.metadata().unwrap().modified().unwrap(), when);
        file.set_times(fs::FileTimes::new().set_accessed(when))
            .unwrap();
        assert_eq!(file.metadata().unwrap().accessed().unwrap(), when);
        let mut perm = file.metadata().unwrap().permissions();
        perm.set_readonly(true);
        file.set_permissions(perm).unwrap();
        assert!(fs::metadata(&path).unwrap().permissions().readonly());
        let std_file: std::fs::File = file.into();
        let file = fs::File::from(std_file);
        let fd: std::os::fd::OwnedFd = file.into();
        let file = fs::File::from(fd);
        assert!(format!("{file:?}").contains("File"), "Debug as std's");
    });
}

#[test]
fn a_locked_file_is_would_block_for_try_lock() {
    both(|who| {
        let dir = TempDir::new("lock");
        let a = fs::File::create(dir.join("l")).unwrap();
        let b = fs::File::open(dir.join("l")).unwrap();
        a.lock().unwrap();
        assert!(
            matches!(b.try_lock(), Err(fs::TryLockError::WouldBlock)),
            "{who}"
        );
        a.unlock().unwrap();
        b.try_lock().unwrap();
    });
}

#[test]
fn unix_extension_traits_work_on_wefts_types() {
    both(|who| {
        let dir = TempDir::new("ext");
        let path = dir.join("private");
        let f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .unwrap();
        assert_eq!(f.metadata().unwrap().mode() & 0o777, 0o600, "{who}");
        let append = fs::OpenOptions::new()
            .append(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .unwrap();
        (&append).write_all(b"ab").unwrap();
        (&append).write_all(b"cd").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"abcd");

        let sub = dir.join("a/b");
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&sub)
            .unwrap();
        assert_eq!(fs::metadata(&sub).unwrap().mode() & 0o777, 0o700);
        assert_eq!(
            fs::DirBuilder::new().create(&sub).unwrap_err().kind(),
            ErrorKind::AlreadyExists
        );
    });
}

#[test]
fn free_functions_match_std() {
    both(|who| {
        let dir = TempDir::new("free");
        let a = dir.join("a");
        fs::write(&a, b"contents").unwrap();
        assert_eq!(fs::read(&a).unwrap(), b"contents");
        assert_eq!(fs::read_to_string(&a).unwrap(), "contents");
        assert_eq!(fs::copy(&a, dir.join("b")).unwrap(), 8);
        fs::rename(dir.join("b"), dir.join("c")).unwrap();
        assert!(!fs::exists(dir.join("b")).unwrap());
        fs::hard_link(dir.join("c"), dir.join("d")).unwrap();
        assert_eq!(fs::metadata(dir.join("d")).unwrap().nlink(), 2);
        #[allow(deprecated)]
        fs::soft_link(&a, dir.join("link")).unwrap();
        assert_eq!(fs::read_link(dir.join("link")).unwrap(), a);
        assert!(fs::symlink_metadata(dir.join("link")).unwrap().is_symlink());
        assert!(fs::metadata(dir.join("link")).unwrap().is_file());
        assert_eq!(
            fs::canonicalize(dir.join("link")).unwrap(),
            std::fs::canonicalize(&a).unwrap()
        );
        let mut perm = fs::metadata(&a).unwrap().permissions();
        perm.set_readonly(true);
        fs::set_permissions(&a, perm).unwrap();
        assert!(
            std::fs::metadata(&a).unwrap().permissions().readonly(),
            "{who}"
        );
        fs::create_dir_all(dir.join("x/y/z")).unwrap();
        fs::create_dir(dir.join("x/w")).unwrap();
        fs::remove_dir(dir.join("x/w")).unwrap();
        fs::remove_file(dir.join("d")).unwrap();
        fs::remove_dir_all(dir.join("x")).unwrap();
        assert!(!std::fs::exists(dir.join("x")).unwrap());
    });
}

#[test]
fn read_dir_lists_what_std_lists() {
    both(|who| {
        let dir = TempDir::new("readdir");
        // More than one batch (FS4).
        for i in 0..150 {
            std::fs::write(dir.join(&format!("f{i:03}")), [i as u8; 3]).unwrap();
        }
        std::fs::create_dir(dir.join("sub")).unwrap();
        let mut names = Vec::new();
        for entry in fs::read_dir(&dir.0).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().into_string().unwrap();
            assert_eq!(entry.path(), dir.join(&name));
            let meta = entry.metadata().unwrap();
            assert_eq!(entry.ino(), meta.ino());
            assert_eq!(
                entry.file_type().unwrap().is_dir(),
                name == "sub",
                "{who}: {name}"
            );
            if name != "sub" {
                assert_eq!(meta.len(), 3);
            }
            names.push(name);
        }
        names.sort();
        let mut expected: Vec<String> = std::fs::read_dir(&dir.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        expected.sort();
        assert_eq!(names, expected, "{who}");
        assert_eq!(names.len(), 151);
    });
}

/// Reads of a 1 MiB file in 4 KiB pieces (mostly the worker's fast path, FS2) interleaved
/// with seeks give the right bytes at the right positions.
#[test]
fn sequential_reads_and_seeks_see_the_right_bytes() {
    both(|who| {
        let dir = TempDir::new("seq");
        let path = dir.join("big");
        let data: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let mut f = fs::File::open(&path).unwrap();
        let mut buf = vec![0u8; 4096];
        for (i, chunk) in data.chunks(4096).enumerate() {
            f.read_exact(&mut buf).unwrap();
            assert_eq!(&buf[..], chunk, "{who}: chunk {i}");
            if i % 16 == 15 {
                let pos = f.stream_position().unwrap();
                assert_eq!(pos, (i as u64 + 1) * 4096);
                assert_eq!(f.seek(SeekFrom::Current(-1)).unwrap(), pos - 1);
                f.seek(SeekFrom::Current(1)).unwrap();
            }
        }
        assert_eq!(f.read(&mut buf).unwrap(), 0);
        let mut whole = Vec::new();
        f.seek(SeekFrom::Start(0)).unwrap();
        f.read_to_end(&mut whole).unwrap();
        assert!(whole == data, "{who}: read_to_end");
    });
}

#[test]
fn two_hundred_coroutines_do_file_io_at_once() {
    watchdog(|| {
        let dir = Arc::new(TempDir::new("many"));
        let handles: Vec<_> = (0..200u32)
            .map(|i| {
                let dir = dir.clone();
                go!(move || {
                    let path = dir.join(&format!("c{i}"));
                    let len = 1000 + (i as usize) * 37;
                    let data: Vec<u8> = (0..len).map(|j| (j as u32 ^ i) as u8).collect();
                    let mut f = fs::File::create_new(&path).unwrap();
                    for piece in data.chunks(512) {
                        f.write_all(piece).unwrap();
                    }
                    f.seek(SeekFrom::Start(0)).unwrap();
                    let mut back = vec![0u8; len];
                    f.read_exact(&mut back).unwrap();
                    assert!(back == data, "coroutine {i}: bytes differ");
                    assert_eq!(fs::read(&path).unwrap(), data);
                    fs::remove_file(&path).unwrap();
                    len
                })
            })
            .collect();
        let total: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(total, (0..200).map(|i| 1000 + i * 37).sum::<usize>());
        assert_eq!(std::fs::read_dir(&dir.0).unwrap().count(), 0);
    });
}

/// How far the counting coroutine got when the FIFO's open and read returned.
const OPEN_AFTER: usize = 5;
const WRITE_AFTER: usize = 10;

/// Child: one worker. A coroutine opens a FIFO for reading and reads it; a plain thread opens
/// the write end 400 ms later, once the counting coroutine has made `OPEN_AFTER` steps, and
/// writes once it has made `WRITE_AFTER`. The counter starts first, so it is pinned to the
/// only worker: it can only move if the reader parked instead of blocking that worker.
#[test]
fn child_fifo_read_leaves_the_worker_free() {
    if !child_is("fifo-one-worker") {
        return;
    }
    let dir = TempDir::new("fifo");
    let fifo = dir.join("fifo");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid C string; mkfifo touches nothing else.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);

    let steps = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let wait_for = |steps: &AtomicUsize, n: usize| {
        let end = Instant::now() + Duration::from_secs(20);
        while steps.load(Ordering::SeqCst) < n && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    let writer = {
        let (fifo, steps) = (fifo.clone(), steps.clone());
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(400));
            wait_for(&steps, OPEN_AFTER);
            let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
            wait_for(&steps, WRITE_AFTER);
            w.write_all(b"late data").unwrap();
        })
    };
    let counter = {
        let (steps, done) = (steps.clone(), done.clone());
        go!(move || {
            while done.load(Ordering::SeqCst) == 0 {
                steps.fetch_add(1, Ordering::SeqCst);
                weft::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    // The counter has started, so it is pinned to the only worker (CO4): a spare worker
    // (HO1) cannot run it if the reader blocks that worker.
    wait_for(&steps, 1);
    let reader = {
        let (fifo, steps) = (fifo.clone(), steps.clone());
        go!(move || {
            let mut f = fs::File::open(&fifo).unwrap();
            let at_open = steps.load(Ordering::SeqCst);
            let mut buf = [0u8; 9];
            f.read_exact(&mut buf).unwrap();
            (at_open, steps.load(Ordering::SeqCst), buf)
        })
    };
    let (at_open, at_read, buf) = reader.join().unwrap();
    done.store(1, Ordering::SeqCst);
    counter.join().unwrap();
    writer.join().unwrap();
    assert_eq!(&buf, b"late data");
    child_report("at_open", at_open);
    child_report("at_read", at_read);
}

#[test]
fn a_fifo_whose_writer_comes_late_does_not_stall_a_one_worker_runtime() {
    watchdog(|| {
        let out = run_child_with_timeout(
            "child_fifo_read_leaves_the_worker_free",
            "fifo-one-worker",
            &[("WEFT_WORKERS", "1")],
            60,
        );
        out.assert_success();
        let at_open: usize = out.stdout_value("at_open").parse().unwrap();
        let at_read: usize = out.stdout_value("at_read").parse().unwrap();
        assert!(
            at_open >= OPEN_AFTER,
            "the worker ran while open waited: {at_open}"
        );
        assert!(
            at_read >= WRITE_AFTER,
            "the worker ran while read waited: {at_read}"
        );
    });
}

#[test]
fn a_path_argument_need_not_be_send() {
    // `P: AsRef<Path>` types that are not `Send` work, as with std: only the `&Path` crosses.
    struct Local(PathBuf, std::marker::PhantomData<*const ()>);
    impl AsRef<Path> for Local {
        fn as_ref(&self) -> &Path {
            &self.0
        }
    }
    watchdog(|| {
        go!(|| {
            let dir = TempDir::new("notsend");
            let p = Local(dir.join("f"), std::marker::PhantomData);
            fs::write(&p, b"1").unwrap();
            assert_eq!(fs::read(p).unwrap(), b"1");
        })
        .join()
        .unwrap();
    });
}

/// A pipe wrapped in a weft `File`: a read finds data (the worker's fast path, FS2) or,
/// on an empty pipe, `EAGAIN` sends it to the pool, where it waits for the writer.
#[test]
fn a_pipe_read_waits_on_the_pool_and_gets_every_byte() {
    watchdog(|| {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors pipe(2) writes.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: both descriptors were just opened and are owned by nothing else.
        let (r, w) = unsafe {
            use std::os::fd::FromRawFd;
            (
                fs::File::from_raw_fd(fds[0]),
                std::fs::File::from_raw_fd(fds[1]),
            )
        };
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let writer = std::thread::spawn(move || {
            let mut w = w;
            w.write_all(b"first").unwrap();
            // The reader has taken "first"; the pipe is empty while it waits for "second".
            rx.recv().unwrap();
            std::thread::sleep(Duration::from_millis(50));
            w.write_all(b"second").unwrap();
        });
        let got = go!(move || {
            let mut r = r;
            let mut buf = [0u8; 5];
            r.read_exact(&mut buf).unwrap();
            assert_eq!(&buf, b"first");
            tx.send(()).unwrap();
            let mut rest = Vec::new();
            r.read_to_end(&mut rest).unwrap();
            rest
        })
        .join()
        .unwrap();
        writer.join().unwrap();
        assert_eq!(got, b"second");
    });
}

/// `weft::os::unix::fs`: std's unix traits by the weft path, and the free functions (symlink,
/// the chown family with no change, chroot refused without privilege as std's is), with std's
/// results, from a coroutine and from a plain thread.
#[test]
fn unix_free_functions_match_std() {
    use weft::os::unix::fs as ufs;
    use weft::os::unix::fs::PermissionsExt as _;
    both(|_| {
        let dir = TempDir::new("unix");
        let target = dir.join("target");
        fs::write(&target, b"x").unwrap();
        ufs::symlink(&target, dir.join("link")).unwrap();
        assert_eq!(fs::read_link(dir.join("link")).unwrap(), target);
        assert_eq!(
            kind(ufs::symlink(&target, dir.join("link"))),
            kind(std::os::unix::fs::symlink(&target, dir.join("link")))
        );
        ufs::chown(&target, None, None).unwrap();
        ufs::lchown(dir.join("link"), None, None).unwrap();
        let file = fs::File::open(&target).unwrap();
        ufs::fchown(&file, None, None).unwrap();
        assert_eq!(
            kind(ufs::chown(dir.join("missing"), None, None)),
            ErrorKind::NotFound
        );
        let mode = fs::metadata(&target).unwrap().permissions().mode();
        assert_eq!(
            mode,
            std::fs::metadata(&target).unwrap().permissions().mode()
        );
        assert_eq!(
            kind(ufs::chroot(dir.join("missing"))),
            kind(std::os::unix::fs::chroot(dir.join("missing")))
        );
    });
}
