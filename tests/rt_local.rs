//! `coroutine_local!`: one value per coroutine across parks, drops at the coroutine's end
//! (also after a panic, also by a destructor that parks), one value per OS thread outside
//! coroutines, lazy initialisation, the `Cell` / `RefCell` helpers and access during
//! destruction (arch/coroutine.md, CL1–CL3).
//!
//! Tests of one binary run in parallel and share the statics, so every test uses its own keys
//! and counters.

mod support;

use std::cell::{Cell, RefCell};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use support::watchdog;
use weft::thread::{self, AccessError};

/// Increments its counter when dropped.
struct Counted(&'static AtomicUsize);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

weft::coroutine_local! {
    /// Test (1): a coroutine's own number.
    static MINE: Cell<usize> = const { Cell::new(usize::MAX) };
    static MINE_TOO: RefCell<String> = RefCell::new(String::new())
}

#[test]
fn each_of_a_thousand_coroutines_sees_its_own_value_across_parks() {
    watchdog(|| {
        let handles: Vec<_> = (0..1000usize)
            .map(|i| {
                thread::spawn(move || {
                    assert_eq!(MINE.get(), usize::MAX, "a fresh coroutine starts fresh");
                    MINE.set(i);
                    MINE_TOO.set(format!("coroutine {i}"));
                    thread::sleep(Duration::from_millis(1 + (i % 3) as u64));
                    assert_eq!(MINE.get(), i);
                    thread::yield_now();
                    MINE.replace(i * 2);
                    thread::sleep(Duration::from_millis(1));
                    assert_eq!(MINE.get(), i * 2);
                    MINE_TOO.with_borrow(|s| assert_eq!(*s, format!("coroutine {i}")));
                    MINE.get()
                })
            })
            .collect();
        for (i, h) in handles.into_iter().enumerate() {
            assert_eq!(h.join().unwrap(), i * 2);
        }
    });
}

static DROPPED: AtomicUsize = AtomicUsize::new(0);

weft::coroutine_local! {
    static DROPS: RefCell<Option<Counted>> = const { RefCell::new(None) };
}

#[test]
fn values_are_dropped_when_each_coroutine_ends() {
    watchdog(|| {
        let handles: Vec<_> = (0..1000)
            .map(|_| {
                thread::spawn(|| {
                    DROPS.set(Some(Counted(&DROPPED)));
                    thread::sleep(Duration::from_millis(2));
                    DROPS.with_borrow(|c| assert!(c.is_some()));
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        // Locals die before the result is published, so every join saw its drop.
        assert_eq!(DROPPED.load(Ordering::SeqCst), 1000);
    });
}

static PARKING_DROPS: AtomicUsize = AtomicUsize::new(0);

/// Sleeps (parks the coroutine) in its destructor, then checks where it runs.
struct ParksOnDrop {
    coroutine: thread::ThreadId,
    os_thread: std::thread::ThreadId,
}

impl Drop for ParksOnDrop {
    fn drop(&mut self) {
        thread::sleep(Duration::from_millis(1));
        // Still inside its own coroutine, on the OS thread that created it.
        if thread::current().id() == self.coroutine && std::thread::current().id() == self.os_thread
        {
            PARKING_DROPS.fetch_add(1, Ordering::SeqCst);
        }
    }
}

weft::coroutine_local! {
    static PARKER: ParksOnDrop = ParksOnDrop {
        coroutine: thread::current().id(),
        os_thread: std::thread::current().id(),
    };
}

#[test]
fn a_destructor_may_park_and_runs_inside_its_coroutine() {
    watchdog(|| {
        let handles: Vec<_> = (0..100)
            .map(|_| {
                thread::spawn(|| {
                    PARKER.with(|p| assert_eq!(p.coroutine, thread::current().id()));
                    thread::yield_now();
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(PARKING_DROPS.load(Ordering::SeqCst), 100);
    });
}

static OS_DROPPED: AtomicUsize = AtomicUsize::new(0);

weft::coroutine_local! {
    static PER_THREAD: Cell<u32> = const { Cell::new(0) };
    static OS_COUNTED: Counted = Counted(&OS_DROPPED);
}

#[test]
fn plain_os_threads_have_one_value_each() {
    watchdog(|| {
        let threads: Vec<_> = (1..=8u32)
            .map(|i| {
                std::thread::spawn(move || {
                    assert_eq!(PER_THREAD.get(), 0);
                    PER_THREAD.set(i);
                    OS_COUNTED.with(|_| {});
                    thread::sleep(Duration::from_millis(2)); // a plain thread sleep here
                    assert_eq!(PER_THREAD.get(), i);
                    assert_eq!(PER_THREAD.try_with(Cell::get), Ok(i));
                    PER_THREAD.get()
                })
            })
            .collect();
        for (i, t) in threads.into_iter().enumerate() {
            assert_eq!(t.join().unwrap(), i as u32 + 1);
        }
        // std's thread_local! behind the key dropped each thread's value at thread exit.
        assert_eq!(OS_DROPPED.load(Ordering::SeqCst), 8);
    });
}

weft::coroutine_local! {
    static WORLD: Cell<u32> = Cell::new(1);
}

#[test]
fn a_coroutine_and_its_spawning_thread_see_different_values() {
    watchdog(|| {
        WORLD.set(42);
        let seen = thread::spawn(|| {
            let before = WORLD.get();
            WORLD.set(7);
            thread::yield_now();
            (before, WORLD.get())
        })
        .join()
        .unwrap();
        assert_eq!(seen, (1, 7));
        assert_eq!(WORLD.get(), 42);

        // And the other way: a coroutine spawning a plain OS thread.
        let seen = thread::spawn(|| {
            WORLD.set(5);
            let other = std::thread::spawn(|| WORLD.get()).join().unwrap();
            (other, WORLD.get())
        })
        .join()
        .unwrap();
        assert_eq!(seen, (1, 5));
    });
}

static INITS: AtomicUsize = AtomicUsize::new(0);

weft::coroutine_local! {
    static LAZY: usize = INITS.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn initialisation_is_lazy_and_runs_once_per_coroutine() {
    watchdog(|| {
        let users: Vec<_> = (0..100)
            .map(|_| {
                thread::spawn(|| {
                    let first = LAZY.with(|v| *v);
                    for _ in 0..10 {
                        thread::yield_now();
                        assert_eq!(LAZY.with(|v| *v), first);
                    }
                })
            })
            .collect();
        // Coroutines that never touch the key never initialise it.
        let idle: Vec<_> = (0..50).map(|_| thread::spawn(thread::yield_now)).collect();
        for h in users.into_iter().chain(idle) {
            h.join().unwrap();
        }
        assert_eq!(INITS.load(Ordering::SeqCst), 100);
    });
}

static CELL_INITS: AtomicUsize = AtomicUsize::new(0);
static REFCELL_INITS: AtomicUsize = AtomicUsize::new(0);

weft::coroutine_local! {
    static C: Cell<u32> = {
        CELL_INITS.fetch_add(1, Ordering::SeqCst);
        Cell::new(10)
    };
    static R: RefCell<Vec<u32>> = {
        REFCELL_INITS.fetch_add(1, Ordering::SeqCst);
        RefCell::new(vec![1])
    };
}

/// The std conveniences, run in either world: `set` before any access does not run the
/// initialiser; the others do.
fn exercise_cell_helpers() {
    let cell_inits = CELL_INITS.load(Ordering::SeqCst);
    C.set(3);
    assert_eq!(
        CELL_INITS.load(Ordering::SeqCst),
        cell_inits,
        "set skips init"
    );
    assert_eq!(C.get(), 3);
    assert_eq!(C.replace(4), 3);
    assert_eq!(C.take(), 4);
    assert_eq!(C.get(), 0);
    C.set(5);
    assert_eq!(C.with(Cell::get), 5);

    let refcell_inits = REFCELL_INITS.load(Ordering::SeqCst);
    assert_eq!(R.with_borrow(Vec::len), 1, "first access runs init");
    assert_eq!(REFCELL_INITS.load(Ordering::SeqCst), refcell_inits + 1);
    R.with_borrow_mut(|v| v.push(2));
    assert_eq!(R.with_borrow(Vec::clone), vec![1, 2]);
    assert_eq!(R.replace(vec![9]), vec![1, 2]);
    assert_eq!(R.take(), vec![9]);
    assert!(R.with_borrow(Vec::is_empty));
    R.set(vec![7, 8]);
    assert_eq!(R.with_borrow(Vec::clone), vec![7, 8]);
    assert_eq!(REFCELL_INITS.load(Ordering::SeqCst), refcell_inits + 1);
}

#[test]
fn cell_and_refcell_helpers_mirror_std() {
    watchdog(|| {
        thread::spawn(exercise_cell_helpers).join().unwrap();
        std::thread::spawn(exercise_cell_helpers).join().unwrap();
        // A coroutine's `set` before init, then the initialiser for a fresh coroutine.
        let got = thread::spawn(|| {
            R.set(vec![3]);
            (C.get(), R.with_borrow(Vec::clone))
        })
        .join()
        .unwrap();
        assert_eq!(got, (10, vec![3]));
    });
}

static PANIC_DROPPED: AtomicUsize = AtomicUsize::new(0);

weft::coroutine_local! {
    static DOOMED: Counted = Counted(&PANIC_DROPPED);
}

#[test]
fn a_panicking_coroutine_still_drops_its_locals() {
    watchdog(|| {
        let handles: Vec<_> = (0..10)
            .map(|_| {
                thread::spawn(|| {
                    DOOMED.with(|_| {});
                    thread::sleep(Duration::from_millis(1));
                    panic!("deliberate panic with a local alive");
                })
            })
            .collect();
        for h in handles {
            assert!(h.join().is_err());
        }
        assert_eq!(PANIC_DROPPED.load(Ordering::SeqCst), 10);
    });
}

static DESTRUCTION_REPORT: AtomicUsize = AtomicUsize::new(0);

/// Bits of `DESTRUCTION_REPORT` set by `Probe`'s destructor.
const EARLIER_VALUE_ALIVE: usize = 1;
const OWN_VALUE_GONE: usize = 2;
const NEW_VALUE_CREATED: usize = 4;

/// Looks at other keys while the coroutine's locals are being destroyed.
struct Probe;

impl Drop for Probe {
    fn drop(&mut self) {
        let mut bits = 0;
        // Created before the probe, so dropped after it: still there.
        if EARLIER.try_with(Cell::get) == Ok(11) {
            bits |= EARLIER_VALUE_ALIVE;
        }
        if let Err(err) = PROBE.try_with(|_| ()) {
            bits |= OWN_VALUE_GONE;
            *SEEN_ERROR.lock().unwrap() = Some(err);
        }
        // A key the coroutine never used gets a value now, dropped in turn (std's rule).
        if LATE.try_with(|late| late.0) == Ok(7) {
            bits |= NEW_VALUE_CREATED;
        }
        DESTRUCTION_REPORT.fetch_or(bits, Ordering::SeqCst);
    }
}

weft::coroutine_local! {
    static EARLIER: Cell<u32> = const { Cell::new(11) };
    static PROBE: Probe = Probe;
    static LATE: Late = Late(7);
}

static LATE_DROPPED: AtomicUsize = AtomicUsize::new(0);

/// A value first created by `Probe`'s destructor.
struct Late(u32);

impl Drop for Late {
    fn drop(&mut self) {
        LATE_DROPPED.fetch_add(1, Ordering::SeqCst);
    }
}

static SEEN_ERROR: Mutex<Option<AccessError>> = Mutex::new(None);

#[test]
fn try_with_fails_for_values_gone_during_destruction() {
    watchdog(|| {
        thread::spawn(|| {
            EARLIER.with(|_| {});
            PROBE.with(|_| {});
        })
        .join()
        .unwrap();
        assert_eq!(
            DESTRUCTION_REPORT.load(Ordering::SeqCst),
            EARLIER_VALUE_ALIVE | OWN_VALUE_GONE | NEW_VALUE_CREATED
        );
        assert_eq!(LATE_DROPPED.load(Ordering::SeqCst), 1);
        // The error itself, as std's.
        let err = SEEN_ERROR
            .lock()
            .unwrap()
            .expect("the probe stored its error");
        assert_eq!(err.to_string(), "already destroyed");
        assert_eq!(format!("{err:?}"), "AccessError { .. }");
        let copy = err;
        assert_eq!(copy, err);
        let _: &dyn std::error::Error = &err;
    });
}

weft::coroutine_local! {
    static NESTED: Cell<bool> = const { Cell::new(false) };
    static RECURSIVE: u32 = if NESTED.replace(true) { 1 } else { RECURSIVE.with(|v| *v) + 100 };
}

#[test]
fn an_initialiser_that_reaches_its_own_key_keeps_the_first_value() {
    watchdog(|| {
        let v = thread::spawn(|| (RECURSIVE.with(|v| *v), RECURSIVE.with(|v| *v)))
            .join()
            .unwrap();
        assert_eq!(v, (1, 1));
    });
}

/// Calls `with` on its own, already dropped, key from its destructor.
struct WithOnDrop;

impl Drop for WithOnDrop {
    fn drop(&mut self) {
        SELF_REF.with(|_| {});
    }
}

weft::coroutine_local! {
    static SELF_REF: WithOnDrop = WithOnDrop;
}

#[test]
fn child_with_on_a_dropped_value() {
    if !support::child_is("with-on-dropped") {
        return;
    }
    let h = thread::spawn(|| SELF_REF.with(|_| {}));
    support::child_report("spawned", "yes");
    let _ = h.join();
    support::child_report("joined", "yes");
}

#[test]
fn with_on_a_dropped_value_panics_and_a_panicking_destructor_aborts() {
    watchdog(|| {
        let out = support::run_child("child_with_on_a_dropped_value", "with-on-dropped", &[]);
        out.assert_failure()
            .assert_stderr_contains(
                "cannot access a coroutine-local value during or after destruction",
            )
            .assert_stderr_contains("weft: fatal: a coroutine-local value panicked on drop");
        assert!(!out.stdout.contains("[joined="), "{}", out.dump());
    });
}

mod syntax {
    //! The declaration forms of `thread_local!`: visibility, attributes, several declarations,
    //! `const` initialisers, no `;` after the last one.
    use std::cell::Cell;

    weft::coroutine_local! {
        /// Documented and public.
        pub static PUBLIC: Cell<u8> = const { Cell::new(1) };
        #[allow(dead_code)]
        pub(crate) static CRATE: u8 = 2;
        static PRIVATE: u8 = const { 3 }
    }

    weft::coroutine_local!(
        static SINGLE: &'static str = "single";
    );

    pub fn sum() -> u32 {
        u32::from(PUBLIC.get())
            + u32::from(CRATE.with(|v| *v))
            + u32::from(PRIVATE.with(|v| *v))
            + SINGLE.with(|s| s.len() as u32)
    }
}

#[test]
fn every_declaration_form_works_in_both_worlds() {
    watchdog(|| {
        assert_eq!(syntax::sum(), 12);
        assert_eq!(weft::go!(syntax::sum).join().unwrap(), 12);
        assert_eq!(syntax::PUBLIC.replace(5), 1);
        assert_eq!(weft::go!(|| syntax::PUBLIC.get()).join().unwrap(), 1);
    });
}
