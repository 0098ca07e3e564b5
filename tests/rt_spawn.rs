//! Spawning and joining coroutines: values, names, ids, detached and nested coroutines, many
//! live coroutines at once, spawning from OS threads, and stack sizes.

mod support;

use std::collections::HashSet;
use std::hint::black_box;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use support::{Latch, watchdog};
use weft::go;
use weft::thread::{self, Builder, JoinHandle, ThreadId};

#[test]
fn spawn_join_returns_values() {
    watchdog(|| {
        assert_eq!(thread::spawn(|| 40 + 2).join().unwrap(), 42);
        let s = thread::spawn(|| String::from("owned string"))
            .join()
            .unwrap();
        assert_eq!(s, "owned string");
        let v: Vec<u64> = thread::spawn(|| (0..1000).collect()).join().unwrap();
        assert_eq!(v.len(), 1000);
        assert_eq!(v.iter().sum::<u64>(), 499_500);
        // Unit and moved-in captures.
        let data = String::from("moved in");
        thread::spawn(move || assert_eq!(data, "moved in"))
            .join()
            .unwrap();
        // Many at once, summed.
        let handles: Vec<_> = (0..1000u64).map(|i| thread::spawn(move || i * 3)).collect();
        let sum: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(sum, 3 * 499_500);
    });
}

#[test]
fn go_macro_spawns_a_coroutine() {
    watchdog(|| {
        let x = 21;
        let h = go!(move || x * 2);
        assert_eq!(h.join().unwrap(), 42);
        let h = go!(|| {
            let inside = thread::current().id();
            (inside, "block body")
        });
        let id = h.thread().id();
        let (inside, text) = h.join().unwrap();
        assert_eq!(inside, id);
        assert_eq!(text, "block body");
        let handles: Vec<JoinHandle<usize>> = (0..100).map(|i| go!(move || i)).collect();
        let got: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(got, 4950);
    });
}

#[test]
fn builder_name_is_visible_inside_and_through_the_handle() {
    watchdog(|| {
        let h = Builder::new()
            .name("alpha".into())
            .spawn(|| thread::current().name().map(str::to_owned))
            .unwrap();
        assert_eq!(h.thread().name(), Some("alpha"));
        assert_eq!(h.join().unwrap().as_deref(), Some("alpha"));

        // Unnamed coroutines have no name, through either view.
        let h = thread::spawn(|| thread::current().name().map(str::to_owned));
        assert_eq!(h.thread().name(), None);
        assert_eq!(h.join().unwrap(), None);

        // Names survive parking and are per coroutine.
        let handles: Vec<_> = (0..50)
            .map(|i| {
                Builder::new()
                    .name(format!("named-{i}"))
                    .spawn(move || {
                        thread::yield_now();
                        thread::sleep(std::time::Duration::from_millis(1));
                        let me = thread::current();
                        assert_eq!(me.name(), Some(format!("named-{i}").as_str()));
                        me.name().unwrap().to_owned()
                    })
                    .unwrap()
            })
            .collect();
        for (i, h) in handles.into_iter().enumerate() {
            let expect = format!("named-{i}");
            assert_eq!(h.thread().name(), Some(expect.as_str()));
            assert_eq!(h.join().unwrap(), expect);
        }

        // A plain OS thread reports its std name.
        let name = std::thread::Builder::new()
            .name("plain-os-thread".into())
            .spawn(|| thread::current().name().map(str::to_owned))
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(name.as_deref(), Some("plain-os-thread"));
    });
}

#[test]
fn current_inside_a_coroutine_is_the_handle_thread() {
    watchdog(|| {
        let h = thread::spawn(|| {
            let a = thread::current();
            thread::yield_now();
            let b = thread::current();
            assert_eq!(a.id(), b.id());
            a.id()
        });
        let outside = h.thread().id();
        assert_eq!(h.join().unwrap(), outside);
        // The caller (an OS thread) has a stable id of its own.
        let me = thread::current().id();
        assert_eq!(thread::current().id(), me);
        assert_ne!(me, outside);
    });
}

#[test]
fn thread_ids_are_distinct_across_coroutines_and_os_threads() {
    watchdog(|| {
        let mut ids: Vec<ThreadId> = Vec::new();
        ids.push(thread::current().id());
        // Coroutines, from both views.
        let handles: Vec<_> = (0..2000)
            .map(|_| thread::spawn(|| thread::current().id()))
            .collect();
        for h in handles {
            let outside = h.thread().id();
            let inside = h.join().unwrap();
            assert_eq!(inside, outside);
            ids.push(inside);
        }
        // OS threads that use weft, some of them also spawning coroutines.
        let os: Vec<_> = (0..8)
            .map(|_| {
                std::thread::spawn(|| {
                    let mine = thread::current().id();
                    assert_eq!(thread::current().id(), mine, "stable on one OS thread");
                    let child = thread::spawn(|| thread::current().id()).join().unwrap();
                    vec![mine, child]
                })
            })
            .collect();
        for t in os {
            ids.extend(t.join().unwrap());
        }
        let unique: HashSet<ThreadId> = ids.iter().copied().collect();
        assert_eq!(unique.len(), ids.len(), "a ThreadId was reused");
        let numbers: HashSet<u64> = ids.iter().map(|id| id.as_u64().get()).collect();
        assert_eq!(numbers.len(), ids.len(), "as_u64 collided");
        // Display is the number.
        assert_eq!(ids[0].to_string(), ids[0].as_u64().to_string());
    });
}

#[test]
fn is_finished_becomes_true_and_join_still_returns_the_value() {
    watchdog(|| {
        let release = Arc::new(AtomicBool::new(false));
        let r = release.clone();
        let h = thread::spawn(move || {
            while !r.load(Ordering::Acquire) {
                thread::park();
            }
            "done"
        });
        // Blocked on the flag: cannot have finished.
        assert!(!h.is_finished());
        release.store(true, Ordering::Release);
        h.thread().unpark();
        while !h.is_finished() {
            std::thread::yield_now();
        }
        assert!(h.is_finished());
        assert_eq!(h.join().unwrap(), "done");

        // A trivial coroutine: is_finished eventually true, stays true.
        let h = go!(|| 7);
        while !h.is_finished() {
            std::thread::yield_now();
        }
        assert!(h.is_finished());
        assert_eq!(h.join().unwrap(), 7);
    });
}

#[test]
fn detached_coroutines_still_run() {
    watchdog(|| {
        const N: usize = 2000;
        let count = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = mpsc::channel();
        for i in 0..N {
            let count = count.clone();
            let tx = tx.clone();
            // The handle is dropped at once: the coroutine is detached.
            drop(thread::spawn(move || {
                thread::yield_now();
                count.fetch_add(1, Ordering::Relaxed);
                tx.send(i).unwrap();
            }));
        }
        drop(tx);
        let mut seen = vec![false; N];
        for _ in 0..N {
            let i = rx.recv().expect("a detached coroutine was lost");
            assert!(!seen[i], "coroutine {i} ran twice");
            seen[i] = true;
        }
        // Every sender is gone once every coroutine finished: nothing more arrives.
        assert!(rx.recv().is_err());
        assert_eq!(count.load(Ordering::Relaxed), N);
    });
}

#[test]
fn detached_coroutines_spawned_by_coroutines_run_too() {
    watchdog(|| {
        const N: usize = 500;
        let count = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = mpsc::channel();
        let c = count.clone();
        // The spawner detaches every child and returns before they are done.
        go!(move || {
            for i in 0..N {
                let (c, tx) = (c.clone(), tx.clone());
                go!(move || {
                    thread::yield_now();
                    c.fetch_add(1, Ordering::Relaxed);
                    tx.send(i).unwrap();
                });
            }
        })
        .join()
        .unwrap();
        let mut seen = HashSet::new();
        for _ in 0..N {
            assert!(seen.insert(rx.recv().expect("a detached coroutine was lost")));
        }
        assert!(rx.recv().is_err(), "more completions than coroutines");
        assert_eq!(count.load(Ordering::Relaxed), N);
    });
}

fn tree(depth: u32, fanout: u32) -> u64 {
    if depth == 0 {
        return 1;
    }
    let children: Vec<_> = (0..fanout)
        .map(|_| go!(move || tree(depth - 1, fanout)))
        .collect();
    1 + children.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
}

#[test]
fn nested_spawns_fan_out() {
    watchdog(|| {
        // 1 + 6 + 36 + 216 + 1296 coroutines.
        let n = go!(|| tree(4, 6)).join().unwrap();
        assert_eq!(n, 1 + 6 + 36 + 216 + 1296);
        // Also from the OS thread directly.
        assert_eq!(tree(3, 10), 1 + 10 + 100 + 1000);
    });
}

fn chain(depth: u32) -> u32 {
    if depth == 0 {
        return 0;
    }
    go!(move || chain(depth - 1)).join().unwrap() + 1
}

#[test]
fn nested_spawns_deep_chain() {
    watchdog(|| {
        // 500 coroutines each parked in join on its child, all live at once.
        assert_eq!(go!(|| chain(500)).join().unwrap(), 500);
    });
}

#[test]
fn hundred_thousand_parked_coroutines() {
    watchdog(|| {
        const N: usize = 100_000;
        let parked = Arc::new(Latch::new(N));
        let release = Arc::new(AtomicBool::new(false));
        let finished = Arc::new(AtomicUsize::new(0));
        let mut handles = Vec::with_capacity(N);
        for i in 0..N {
            let (parked, release, finished) = (parked.clone(), release.clone(), finished.clone());
            handles.push(thread::spawn(move || {
                parked.count_down();
                while !release.load(Ordering::Acquire) {
                    thread::park();
                }
                finished.fetch_add(1, Ordering::Relaxed);
                i
            }));
        }
        // Every coroutine has started and none can finish: all N are live at once.
        parked.wait();
        assert_eq!(finished.load(Ordering::Relaxed), 0);
        assert!(handles.iter().all(|h| !h.is_finished()));
        release.store(true, Ordering::Release);
        for h in &handles {
            h.thread().unpark();
        }
        let mut sum = 0usize;
        for (i, h) in handles.into_iter().enumerate() {
            let got = h.join().unwrap();
            assert_eq!(got, i);
            sum += got;
        }
        assert_eq!(sum, N * (N - 1) / 2);
        assert_eq!(finished.load(Ordering::Relaxed), N);
    });
}

#[test]
fn spawning_from_os_threads_concurrently() {
    watchdog(|| {
        const THREADS: usize = 6;
        const PER: usize = 1500;
        let start = Arc::new(std::sync::Barrier::new(THREADS));
        let seen = Arc::new(Mutex::new(HashSet::new()));
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let (start, seen) = (start.clone(), seen.clone());
                std::thread::spawn(move || {
                    start.wait();
                    let handles: Vec<_> = (0..PER)
                        .map(|i| {
                            go!(move || {
                                if i % 3 == 0 {
                                    thread::yield_now();
                                }
                                (t, i)
                            })
                        })
                        .collect();
                    for (i, h) in handles.into_iter().enumerate() {
                        let got = h.join().unwrap();
                        assert_eq!(got, (t, i));
                        assert!(seen.lock().unwrap().insert(got), "duplicate result {got:?}");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(seen.lock().unwrap().len(), THREADS * PER);
    });
}

#[test]
fn join_handles_can_be_joined_elsewhere() {
    watchdog(|| {
        // A handle spawned on the main thread, joined in a coroutine, and vice versa.
        let inner = go!(|| 5);
        let outer = go!(move || inner.join().unwrap() * 2);
        assert_eq!(outer.join().unwrap(), 10);
        let made_inside = go!(|| go!(|| "from inside")).join().unwrap();
        assert_eq!(made_inside.join().unwrap(), "from inside");
        // Joined on another OS thread.
        let h = go!(|| 99);
        assert_eq!(
            std::thread::spawn(move || h.join().unwrap())
                .join()
                .unwrap(),
            99
        );
    });
}

#[test]
fn tiny_stack_sizes_are_rounded_up_and_work() {
    watchdog(|| {
        for size in [0, 1, 100, 4095, 4097, 12 * 1024] {
            let h = Builder::new()
                .name(format!("tiny-{size}"))
                .stack_size(size)
                .spawn(move || {
                    // Use a few KiB of stack: fine with the 16 KiB minimum.
                    let buf = black_box([size as u8; 4096]);
                    thread::yield_now();
                    buf.iter().map(|&b| b as usize).sum::<usize>()
                })
                .unwrap_or_else(|e| panic!("stack_size({size}) failed: {e}"));
            assert_eq!(h.join().unwrap(), (size as u8) as usize * 4096);
        }
    });
}

#[test]
fn absurd_stack_sizes_are_invalid_input_naming_the_size() {
    watchdog(|| {
        for size in [(1usize << 30) + 1, 3 << 30, usize::MAX] {
            let err = Builder::new()
                .stack_size(size)
                .spawn(|| ())
                .expect_err("a stack larger than 1 GiB must be refused");
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
            let msg = err.to_string();
            assert!(
                msg.contains(&size.to_string()),
                "message does not name {size}: {msg}"
            );
        }
        // The runtime is unaffected.
        assert_eq!(go!(|| 1).join().unwrap(), 1);
    });
}

#[test]
fn the_largest_accepted_stack_size_works() {
    watchdog(|| {
        assert_eq!(weft::stack::MAX_STACK_SIZE, 1 << 30);
        // Exactly the maximum is accepted (address space is reserved, not memory).
        let h = Builder::new()
            .stack_size(weft::stack::MAX_STACK_SIZE)
            .spawn(|| stack_used_by(300))
            .unwrap();
        assert!(h.join().unwrap() >= 300 * 1024);
    });
}

/// Recurses `depth` levels using over 1 KiB of stack each; returns how many bytes of stack the
/// deepest level is below `top` (the address of a local of the caller).
#[inline(never)]
fn recurse(depth: usize, top: usize) -> usize {
    let buf = black_box([depth as u8; 1024]);
    let here = black_box(&buf) as *const [u8; 1024] as usize;
    if depth == 0 {
        return top - here;
    }
    let used = recurse(depth - 1, top);
    black_box(&buf);
    used
}

/// Bytes of stack used by `depth` levels of `recurse`.
fn stack_used_by(depth: usize) -> usize {
    let top = 0u8;
    recurse(depth, black_box(&top) as *const u8 as usize)
}

#[test]
fn deep_recursion_fits_a_large_stack() {
    watchdog(|| {
        // 200 levels of over 1 KiB each: far more than the 64 KiB default stack.
        let h = Builder::new()
            .name("deep".into())
            .stack_size(1 << 20)
            .spawn(|| stack_used_by(200))
            .unwrap();
        let used = h.join().unwrap();
        assert!(
            used >= 200 * 1024,
            "the recursion used only {used} bytes of stack"
        );
        assert!(used < 1 << 20);
    });
}

#[test]
fn runtime_init_after_start_is_already_exists() {
    watchdog(|| {
        // This binary's runtime is running once anything has spawned.
        go!(|| ()).join().unwrap();
        let err = weft::runtime::Builder::new()
            .workers(1)
            .init()
            .expect_err("init after the first spawn must fail");
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists, "{err}");
        // And the running runtime is unaffected.
        assert_eq!(go!(|| 3).join().unwrap(), 3);
    });
}

#[test]
fn handles_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<JoinHandle<u32>>();
    send_sync::<thread::Thread>();
    send_sync::<ThreadId>();
    send_sync::<thread::ScopedJoinHandle<'static, u32>>();
    send_sync::<thread::Scope<'static, 'static>>();
    send_sync::<Builder>();
}

/// Joins a coroutine (and asks for the current thread) from a thread-local destructor.
struct JoinOnDrop;
impl Drop for JoinOnDrop {
    fn drop(&mut self) {
        let v = go!(|| 5).join().unwrap();
        let id = thread::current().id();
        support::child_report("dtor_join", v);
        support::child_report("dtor_id", id);
    }
}

thread_local! {
    static JOIN_ON_DROP: std::cell::RefCell<Option<JoinOnDrop>> =
        const { std::cell::RefCell::new(None) };
}

#[test]
fn child_join_in_tls_destructor() {
    if !support::child_is("tls-join") {
        return;
    }
    std::thread::spawn(|| {
        // The program's thread-local exists before the thread first uses weft.
        JOIN_ON_DROP.with(|t| *t.borrow_mut() = Some(JoinOnDrop));
        assert_eq!(go!(|| 1).join().unwrap(), 1);
    })
    .join()
    .unwrap();
    support::child_report("done", "yes");
}

#[test]
fn join_works_in_a_thread_local_destructor() {
    // std's JoinHandle::join works while an OS thread's thread-locals are being destroyed;
    // weft's join on an OS thread needs its own thread-local parker (park/mod.rs OS_PARKER),
    // which may already be gone then.
    watchdog(|| {
        let out = support::run_child("child_join_in_tls_destructor", "tls-join", &[]);
        out.assert_success();
        assert_eq!(out.stdout_value("dtor_join"), "5");
        assert_eq!(out.stdout_value("done"), "yes");
    });
}

#[test]
fn closures_larger_than_corosensei_initial_object_limit_run() {
    // corosensei refuses initial objects over 1 KiB; weft hands it only a pointer and moves the
    // closure onto the coroutine's stack at its first instruction (CO8).
    watchdog(|| {
        let small = [3u8; 900];
        let mid = [5u8; 8 * 1024];
        let h1 = weft::thread::spawn(move || small.iter().map(|&b| b as u64).sum::<u64>());
        let h2 = weft::thread::spawn(move || mid.iter().map(|&b| b as u64).sum::<u64>());
        assert_eq!(h1.join().unwrap(), 900 * 3);
        assert_eq!(h2.join().unwrap(), 8 * 1024 * 5);
        // A capture bigger than the default stack, spawned from a coroutine, on a stack that is
        // big enough (the spawner needs a big stack as well: the closure is built on it).
        let outer = Builder::new().stack_size(8 << 20).spawn(|| {
            let big = [7u8; 256 * 1024];
            weft::thread::Builder::new()
                .stack_size(2 << 20)
                .spawn(move || big.iter().map(|&b| b as u64).sum::<u64>())
                .unwrap()
                .join()
                .unwrap()
        });
        assert_eq!(outer.unwrap().join().unwrap(), 256 * 1024 * 7);
        // The workers survived all of it.
        assert_eq!(weft::go!(|| 1).join().unwrap(), 1);
    });
}

/// Counts its drops.
struct DropCounter(Arc<AtomicUsize>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// J4: a result nobody will join is dropped exactly once, as soon as both the coroutine has
/// finished and its handle is gone, even while clones of its `Thread` live on.
#[test]
fn a_detached_result_is_dropped_once_and_promptly() {
    watchdog(|| {
        // Handle dropped before the coroutine finishes: the coroutine drops the result.
        let drops = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(AtomicBool::new(false));
        let (d, g) = (drops.clone(), gate.clone());
        let h = go!(move || {
            while !g.load(Ordering::Acquire) {
                thread::yield_now();
            }
            DropCounter(d)
        });
        let t = h.thread().clone();
        drop(h);
        gate.store(true, Ordering::Release);
        while drops.load(Ordering::SeqCst) == 0 {
            std::thread::yield_now();
        }
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        drop(t);

        // Handle dropped after the coroutine finished: the handle drops the result.
        let drops = Arc::new(AtomicUsize::new(0));
        let d = drops.clone();
        let h = go!(move || DropCounter(d));
        while !h.is_finished() {
            std::thread::yield_now();
        }
        let t = h.thread().clone();
        assert_eq!(
            drops.load(Ordering::SeqCst),
            0,
            "nothing dropped before the handle"
        );
        drop(h);
        assert_eq!(drops.load(Ordering::SeqCst), 1, "dropped with the handle");
        drop(t);
        assert_eq!(drops.load(Ordering::SeqCst), 1, "dropped once");

        // Joined: the caller owns the result; nothing else drops it.
        let drops = Arc::new(AtomicUsize::new(0));
        let d = drops.clone();
        let h = go!(move || DropCounter(d));
        let t = h.thread().clone();
        let value = h.join().unwrap();
        assert_eq!(drops.load(Ordering::SeqCst), 0);
        drop(value);
        drop(t);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    });
}
