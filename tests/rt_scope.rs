//! Scoped coroutines: borrowing from the caller, values, panics, nesting, and use from both
//! coroutines and OS threads.

mod support;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use support::{panic_text, watchdog};
use weft::go;
use weft::thread::{self, Builder};

#[test]
fn scoped_coroutines_borrow_chunks_mutably() {
    watchdog(|| {
        let mut data: Vec<u64> = (0..10_000).collect();
        thread::scope(|s| {
            for (c, chunk) in data.chunks_mut(100).enumerate() {
                s.spawn(move || {
                    for x in chunk.iter_mut() {
                        *x = *x * 2 + c as u64;
                    }
                    thread::yield_now();
                });
            }
        });
        for (i, x) in data.iter().enumerate() {
            assert_eq!(*x, i as u64 * 2 + (i / 100) as u64);
        }
    });
}

#[test]
fn scoped_coroutines_borrow_immutably_and_return_values() {
    watchdog(|| {
        let data: Vec<u64> = (1..=10_000).collect();
        let label = String::from("sum");
        let total = thread::scope(|s| {
            let handles: Vec<_> = data
                .chunks(1000)
                .map(|chunk| {
                    let label = &label;
                    s.spawn(move || {
                        assert_eq!(label, "sum");
                        thread::sleep(Duration::from_millis(1));
                        chunk.iter().sum::<u64>()
                    })
                })
                .collect();
            // Readers share the borrow with the caller.
            assert_eq!(data.len(), 10_000);
            handles.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
        });
        assert_eq!(total, 10_000 * 10_001 / 2);
        assert_eq!(label, "sum");
    });
}

#[test]
fn scope_returns_the_closure_value_after_joining_everything() {
    watchdog(|| {
        let finished = AtomicUsize::new(0);
        let v = thread::scope(|s| {
            for i in 0..100 {
                let finished = &finished;
                // Not joined explicitly: scope joins them.
                s.spawn(move || {
                    for _ in 0..i % 5 {
                        thread::yield_now();
                    }
                    finished.fetch_add(1, Ordering::Relaxed);
                });
            }
            "closure value"
        });
        assert_eq!(v, "closure value");
        assert_eq!(finished.load(Ordering::Relaxed), 100);
    });
}

#[test]
fn scoped_join_handle_returns_values_and_reports_state() {
    watchdog(|| {
        let base = 10u32;
        thread::scope(|s| {
            let h = s.spawn(|| base + 1);
            let name = Builder::new()
                .name("scoped-named".into())
                .spawn_scoped(s, || thread::current().name().map(str::to_owned))
                .unwrap();
            assert_eq!(name.thread().name(), Some("scoped-named"));
            let id = h.thread().id();
            while !h.is_finished() {
                std::thread::yield_now();
            }
            assert_eq!(h.join().unwrap(), 11);
            assert_eq!(name.join().unwrap().as_deref(), Some("scoped-named"));
            assert_ne!(id, thread::current().id());
        });
    });
}

#[test]
fn an_unjoined_panicking_scoped_coroutine_makes_scope_panic() {
    watchdog(|| {
        let others_done = AtomicUsize::new(0);
        let result = catch_unwind(AssertUnwindSafe(|| {
            thread::scope(|s| {
                s.spawn(|| panic!("scoped boom"));
                for _ in 0..10 {
                    s.spawn(|| {
                        thread::sleep(Duration::from_millis(5));
                        others_done.fetch_add(1, Ordering::Relaxed);
                    });
                }
            })
        }));
        let payload = result.expect_err("scope must panic when a scoped coroutine panicked");
        let msg = panic_text(&*payload).expect("a text payload");
        assert!(
            msg.contains("a scoped coroutine panicked"),
            "scope panicked with {msg:?}"
        );
        // scope panics only after every coroutine has finished.
        assert_eq!(others_done.load(Ordering::Relaxed), 10);
    });
}

#[test]
fn a_joined_panicking_scoped_coroutine_does_not_make_scope_panic() {
    watchdog(|| {
        let v = thread::scope(|s| {
            let h = s.spawn(|| -> u32 { panic!("joined boom") });
            let err = h.join().expect_err("the coroutine panicked");
            assert_eq!(panic_text(&*err).as_deref(), Some("joined boom"));
            let ok = s.spawn(|| 5);
            ok.join().unwrap()
        });
        assert_eq!(v, 5);
    });
}

#[test]
fn a_panicking_scope_closure_waits_for_its_coroutines_then_resumes_the_panic() {
    watchdog(|| {
        let done = AtomicUsize::new(0);
        let result = catch_unwind(AssertUnwindSafe(|| {
            thread::scope(|s| {
                for _ in 0..20 {
                    s.spawn(|| {
                        thread::sleep(Duration::from_millis(5));
                        done.fetch_add(1, Ordering::Relaxed);
                    });
                }
                panic!("closure boom");
            })
        }));
        let payload = result.expect_err("the closure panicked");
        assert_eq!(panic_text(&*payload).as_deref(), Some("closure boom"));
        assert_eq!(done.load(Ordering::Relaxed), 20);
    });
}

#[test]
fn scope_inside_a_coroutine() {
    watchdog(|| {
        let total = go!(|| {
            let mut v: Vec<u32> = vec![1; 4096];
            let n = thread::scope(|s| {
                let mut handles = Vec::new();
                for chunk in v.chunks_mut(512) {
                    handles.push(s.spawn(move || {
                        for x in chunk.iter_mut() {
                            *x += 1;
                        }
                        chunk.len()
                    }));
                }
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap())
                    .sum::<usize>()
            });
            assert_eq!(n, 4096);
            v.iter().sum::<u32>()
        })
        .join()
        .unwrap();
        assert_eq!(total, 2 * 4096);

        // A panic caught around a scope inside a coroutine.
        let caught = go!(|| {
            catch_unwind(|| {
                thread::scope(|s| {
                    s.spawn(|| panic!("inner"));
                })
            })
            .map_err(|p| panic_text(&*p))
        })
        .join()
        .unwrap();
        assert!(
            caught
                .unwrap_err()
                .unwrap()
                .contains("a scoped coroutine panicked")
        );
    });
}

#[test]
fn nested_scopes() {
    watchdog(|| {
        let mut grid = vec![vec![0u32; 64]; 16];
        let scale = 3u32;
        thread::scope(|outer| {
            for (r, row) in grid.iter_mut().enumerate() {
                let scale = &scale;
                outer.spawn(move || {
                    thread::scope(|inner| {
                        for (c, cell) in row.chunks_mut(8).enumerate() {
                            inner.spawn(move || {
                                for (k, x) in cell.iter_mut().enumerate() {
                                    *x = *scale * (r * 64 + c * 8 + k) as u32;
                                }
                            });
                        }
                    });
                });
            }
        });
        for (r, row) in grid.iter().enumerate() {
            for (c, x) in row.iter().enumerate() {
                assert_eq!(*x, scale * (r * 64 + c) as u32);
            }
        }
    });
}

#[test]
fn scoped_coroutines_spawn_into_their_own_scope() {
    watchdog(|| {
        let count = AtomicUsize::new(0);
        thread::scope(|s| {
            for _ in 0..10 {
                s.spawn(|| {
                    for _ in 0..10 {
                        s.spawn(|| {
                            thread::yield_now();
                            count.fetch_add(1, Ordering::Relaxed);
                        });
                    }
                    count.fetch_add(1, Ordering::Relaxed);
                });
            }
        });
        assert_eq!(count.load(Ordering::Relaxed), 110);
    });
}

#[test]
fn scope_from_several_os_threads_at_once() {
    watchdog(|| {
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                std::thread::spawn(move || {
                    let mut v: Vec<u64> = (0..1000).collect();
                    thread::scope(|s| {
                        for chunk in v.chunks_mut(10) {
                            s.spawn(move || chunk.iter_mut().for_each(|x| *x += t));
                        }
                    });
                    v.iter().sum::<u64>()
                })
            })
            .collect();
        for (t, h) in threads.into_iter().enumerate() {
            assert_eq!(h.join().unwrap(), 999 * 1000 / 2 + 1000 * t as u64);
        }
    });
}

#[test]
fn a_failed_scoped_spawn_does_not_keep_the_scope_waiting() {
    watchdog(|| {
        let ran = AtomicUsize::new(0);
        let v = thread::scope(|s| {
            let err = Builder::new()
                .stack_size(usize::MAX)
                .spawn_scoped(s, || ran.fetch_add(1, Ordering::Relaxed))
                .expect_err("an absurd stack size is refused");
            assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
            s.spawn(|| ran.fetch_add(1, Ordering::Relaxed));
            "returned"
        });
        assert_eq!(v, "returned");
        assert_eq!(ran.load(Ordering::Relaxed), 1);
    });
}
