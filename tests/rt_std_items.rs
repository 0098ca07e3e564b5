//! The last `std::thread` items (issue 19): `available_parallelism`, `Result`, `panicking`
//! per coroutine, `Builder::spawn_unchecked`, and unwind-safe socket types.

mod support;

use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::mpsc;

use support::watchdog;
use weft::go;
use weft::thread::{self, Builder};

#[test]
fn available_parallelism_is_std_s() {
    let ours = thread::available_parallelism().unwrap();
    assert_eq!(ours, std::thread::available_parallelism().unwrap());
    assert!(ours.get() >= 1);
}

#[test]
fn result_alias_is_what_join_returns() {
    watchdog(|| {
        fn joined() -> thread::Result<u32> {
            go!(|| 7).join()
        }
        assert_eq!(joined().unwrap(), 7);
        let err: thread::Result<()> = go!(|| panic!("boom")).join();
        assert!(err.is_err());
    });
}

/// Reports `thread::panicking()` when dropped.
struct Report(mpsc::Sender<bool>);

impl Drop for Report {
    fn drop(&mut self) {
        let _ = self.0.send(thread::panicking());
    }
}

#[test]
fn panicking_is_true_only_in_an_unwinding_coroutine() {
    watchdog(|| {
        let (tx, rx) = mpsc::channel();
        let mut handles = Vec::new();
        // Many of each, spread over the workers, interleaved.
        for i in 0..64 {
            let tx = tx.clone();
            handles.push(go!(move || {
                assert!(!thread::panicking());
                let _report = Report(tx);
                thread::yield_now();
                if i % 2 == 0 {
                    panic!("unwind {i}");
                }
                i
            }));
        }
        drop(tx);
        let results: Vec<bool> = handles.into_iter().map(|h| h.join().is_err()).collect();
        assert_eq!(results.iter().filter(|&&e| e).count(), 32);
        let seen: Vec<bool> = rx.iter().collect();
        assert_eq!(seen.len(), 64);
        assert_eq!(seen.iter().filter(|&&p| p).count(), 32, "{seen:?}");
    });
}

#[test]
fn panicking_on_a_plain_thread_is_std_s() {
    let (tx, rx) = mpsc::channel();
    assert!(!thread::panicking());
    let tx2 = tx.clone();
    let h = std::thread::spawn(move || {
        let _report = Report(tx2);
        panic!("plain thread unwinds");
    });
    assert!(h.join().is_err());
    drop(Report(tx));
    assert_eq!(rx.iter().collect::<Vec<_>>(), [true, false]);
}

#[test]
fn spawn_unchecked_borrows_and_returns_borrowed_data() {
    watchdog(|| {
        let words = [String::from("alpha"), String::from("beta")];
        let mut counter = 0u32;
        let counted = &mut counter;
        // SAFETY: both handles are joined before `words` and `counter` go away.
        let (first, second) = unsafe {
            let first = Builder::new()
                .spawn_unchecked(|| words[0].as_str())
                .unwrap();
            let second = Builder::new()
                .name("unchecked".into())
                .spawn_unchecked(move || {
                    *counted += 5;
                    thread::current().name().map(str::to_owned)
                })
                .unwrap();
            (first, second)
        };
        assert_eq!(first.join().unwrap(), "alpha");
        assert_eq!(second.join().unwrap().as_deref(), Some("unchecked"));
        assert_eq!(counter, 5);
    });
}

#[test]
fn spawn_unchecked_reports_a_panic_and_is_finished() {
    watchdog(|| {
        let local = 3;
        // SAFETY: joined before `local` goes away.
        let h = unsafe { Builder::new().spawn_unchecked(|| -> i32 { panic!("{local}") }) }.unwrap();
        let payload = h.join().unwrap_err();
        assert_eq!(support::panic_text(&*payload).as_deref(), Some("3"));
    });
}

#[test]
fn socket_types_are_unwind_safe() {
    fn unwind_safe<T: UnwindSafe + RefUnwindSafe>() {}
    unwind_safe::<weft::net::TcpStream>();
    unwind_safe::<weft::net::TcpListener>();
    unwind_safe::<weft::net::UdpSocket>();
    unwind_safe::<weft::os::unix::net::UnixStream>();
    unwind_safe::<weft::os::unix::net::UnixListener>();
    unwind_safe::<weft::os::unix::net::UnixDatagram>();
    // And usable as such: a socket crosses `catch_unwind` without `AssertUnwindSafe`.
    let listener = weft::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = std::panic::catch_unwind(|| listener.local_addr().unwrap()).unwrap();
    assert_eq!(addr, listener.local_addr().unwrap());
}
