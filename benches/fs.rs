//! `weft::fs` next to `std::fs` on a plain thread and `tokio::fs` (current-thread and
//! multi-thread runtimes), in one process: the cost of one `read_exact` or `write_all` of
//! 64 B, 4 KiB and 1 MiB on a file in the page cache (a temp file, read once before).
//!
//! - `std_thread`: `std::fs::File` on this thread (the floor: the system call and the copy).
//! - `weft_coroutine`: `weft::fs::File` in a coroutine. Reads of cached data go straight to
//!   `preadv2(RWF_NOWAIT)` on the worker (FS2); writes on ext4 take a blocking-pool round trip,
//!   borrowing the buffer (FS1, B4).
//! - `weft_thread`: `weft::fs::File` on a plain thread (std's call inline).
//! - `tokio_current`, `tokio_multi`: `tokio::fs::File` with `AsyncReadExt::read_exact` /
//!   `AsyncWriteExt::write_all` (a `spawn_blocking` round trip and a copy per call).
//!
//! The position wraps to the start before it would pass 8 MiB (one seek per wrap, counted in
//! the figure). One criterion iteration is one call.
//!
//! ```text
//! cargo bench --bench fs -- --warm-up-time 1 --measurement-time 3 --noplot
//! cargo bench --bench fs -- --test     # run each bench once, no timing
//! ```

mod support;

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::Criterion;
use support::{print_load, start_criterion, tokio_current_thread, tokio_multi_thread};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

const FILE_LEN: usize = 8 << 20;
const SIZES: [(usize, &str); 3] = [(64, "64B"), (4096, "4KiB"), (1 << 20, "1MiB")];

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Read,
    Write,
}

/// `iters` calls of `op` with `n` bytes on `file`, any `Read + Write + Seek` (std's or weft's
/// `File`), from the current position, wrapping to the start before the end.
fn sync_loop<F>(file: &mut F, op: Op, n: usize, iters: u64) -> Duration
where
    F: Read + Write + Seek,
{
    let mut buf = vec![7u8; n];
    let mut pos = file.stream_position().unwrap() as usize;
    let start = Instant::now();
    for i in 0..iters {
        if pos + n > FILE_LEN {
            file.seek(SeekFrom::Start(0)).unwrap();
            pos = 0;
        }
        match op {
            Op::Read => file.read_exact(&mut buf).unwrap(),
            Op::Write => file.write_all(&buf).unwrap(),
        }
        pos += n;
        if i % 256 == 255 {
            // A coroutine whose reads never park must not hold its worker for a whole sample.
            weft::thread::yield_now();
        }
    }
    start.elapsed()
}

async fn tokio_loop(file: &mut tokio::fs::File, op: Op, n: usize, iters: u64) -> Duration {
    let mut buf = vec![7u8; n];
    let mut pos = file.stream_position().await.unwrap() as usize;
    let start = Instant::now();
    for _ in 0..iters {
        if pos + n > FILE_LEN {
            file.seek(SeekFrom::Start(0)).await.unwrap();
            pos = 0;
        }
        match op {
            Op::Read => {
                file.read_exact(&mut buf).await.unwrap();
            }
            Op::Write => file.write_all(&buf).await.unwrap(),
        }
        pos += n;
    }
    if op == Op::Write {
        file.flush().await.unwrap();
    }
    start.elapsed()
}

fn open_std(path: &Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap()
}

fn group(c: &mut Criterion, path: &Path, op: Op, n: usize, label: &str) {
    let name = match op {
        Op::Read => format!("fs_read_{label}"),
        Op::Write => format!("fs_write_{label}"),
    };
    let mut group = c.benchmark_group(name);
    let mut std_file = open_std(path);
    group.bench_function("std_thread", |b| {
        b.iter_custom(|iters| sync_loop(&mut std_file, op, n, iters))
    });
    let mut weft_file = weft::fs::File::from(open_std(path));
    group.bench_function("weft_thread", |b| {
        b.iter_custom(|iters| sync_loop(&mut weft_file, op, n, iters))
    });
    let mut slot = Some(weft::fs::File::from(open_std(path)));
    group.bench_function("weft_coroutine", |b| {
        b.iter_custom(|iters| {
            let mut file = slot.take().unwrap();
            let (file, took) = weft::go!(move || {
                let took = sync_loop(&mut file, op, n, iters);
                (file, took)
            })
            .join()
            .unwrap();
            slot = Some(file);
            took
        })
    });
    let rt = tokio_current_thread();
    let mut file = rt.block_on(tokio::fs::File::open(path)).unwrap();
    if op == Op::Write {
        file = tokio::fs::File::from_std(open_std(path));
    }
    group.bench_function("tokio_current", |b| {
        b.iter_custom(|iters| rt.block_on(tokio_loop(&mut file, op, n, iters)))
    });
    let rt = tokio_multi_thread();
    let mut slot = Some(tokio::fs::File::from_std(open_std(path)));
    group.bench_function("tokio_multi", |b| {
        b.iter_custom(|iters| {
            let mut file = slot.take().unwrap();
            let (file, took) = rt
                .block_on(rt.spawn(async move {
                    let took = tokio_loop(&mut file, op, n, iters).await;
                    (file, took)
                }))
                .unwrap();
            slot = Some(file);
            took
        })
    });
    group.finish();
}

/// A temp file of `FILE_LEN` bytes, read once so that it is in the page cache.
fn cached_file(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, vec![1u8; FILE_LEN]).unwrap();
    assert_eq!(std::fs::read(&path).unwrap().len(), FILE_LEN);
    path
}

fn main() {
    let mut c = start_criterion(20, Duration::from_secs(3));
    let dir = std::env::temp_dir().join(format!("weft-bench-fs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let read_path = cached_file(&dir, "read");
    let write_path = cached_file(&dir, "write");
    for (n, label) in SIZES {
        group(&mut c, &read_path, Op::Read, n, label);
    }
    for (n, label) in SIZES {
        group(&mut c, &write_path, Op::Write, n, label);
    }
    c.final_summary();
    let _ = std::fs::remove_dir_all(&dir);
    print_load("end");
}
