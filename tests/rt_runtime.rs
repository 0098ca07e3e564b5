//! Runtime configuration, in child processes (each process has one global runtime):
//! `runtime::Builder` and the `WEFT_*` environment variables.

mod support;

use std::hint::black_box;
use std::io;
use std::sync::{Arc, Mutex};

use support::{child_is, child_report, run_child, watchdog, worker_threads};
use weft::go;
use weft::runtime::{Builder as Runtime, StackGuard};
use weft::thread::{self, Builder};

/// Waits until at least `n` worker threads have named themselves (threads name themselves
/// when they start, which may be after `init` returned), then returns them all.
fn started_workers(n: usize) -> Vec<String> {
    loop {
        let names = worker_threads();
        if names.len() >= n {
            return names;
        }
        std::thread::yield_now();
    }
}

/// Runs 200 coroutines and returns the set of worker names they ran on.
fn workers_used() -> Vec<String> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let hs: Vec<_> = (0..200)
        .map(|_| {
            let seen = seen.clone();
            go!(move || {
                let name = std::thread::current().name().unwrap().to_owned();
                let mut s = seen.lock().unwrap();
                if !s.contains(&name) {
                    s.push(name);
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    let mut v = seen.lock().unwrap().clone();
    v.sort();
    v
}

/// Uses over `kib` KiB of stack; returns `kib`.
#[inline(never)]
fn use_stack(kib: usize) -> usize {
    let buf = black_box([1u8; 1024]);
    if kib <= 1 {
        return buf[0] as usize;
    }
    use_stack(kib - 1) + black_box(&buf)[1023] as usize
}

#[test]
fn child_builder_init() {
    if !child_is("builder-init") {
        return;
    }
    Runtime::new()
        .workers(3)
        .stack_size(1 << 20)
        .stack_guard(StackGuard::Auto)
        .init()
        .expect("the first init succeeds");
    let err = Runtime::new().workers(1).init().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
    assert_eq!(
        started_workers(3),
        ["weft-worker-0", "weft-worker-1", "weft-worker-2"]
    );
    // The configured default stack is 1 MiB: 300 KiB of recursion fits in a plain spawn.
    assert_eq!(go!(|| use_stack(300)).join().unwrap(), 300);
    for name in workers_used() {
        assert!(
            ["weft-worker-0", "weft-worker-1", "weft-worker-2"].contains(&name.as_str()),
            "{name}"
        );
    }
    child_report("done", "yes");
}

#[test]
fn runtime_builder_configures_the_runtime() {
    watchdog(|| {
        // The environment is overridden by the builder.
        let out = run_child(
            "child_builder_init",
            "builder-init",
            &[("WEFT_WORKERS", "1"), ("WEFT_STACK_SIZE", "16k")],
        );
        out.assert_success();
        assert_eq!(out.stdout_value("done"), "yes");
    });
}

#[test]
fn child_builder_invalid() {
    if !child_is("builder-invalid") {
        return;
    }
    let err = Runtime::new().workers(0).init().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    child_report("zero", &err);
    let err = Builder::new().spawn(|| ()).unwrap_err();
    child_report("spawn_after", &err);
    child_report("done", "yes");
}

#[test]
fn runtime_builder_refuses_zero_workers() {
    watchdog(|| {
        let out = run_child("child_builder_invalid", "builder-invalid", &[]);
        out.assert_success();
        assert_eq!(out.stdout_value("done"), "yes");
        assert!(
            out.stdout_value("zero").contains("workers"),
            "{}",
            out.dump()
        );
        // A failed init is final: later spawns report the same error.
        assert_eq!(out.stdout_value("spawn_after"), out.stdout_value("zero"));
    });
}

#[test]
fn child_env_error() {
    if !child_is("env-error") {
        return;
    }
    let err = Builder::new().spawn(|| ()).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    child_report("error", &err);
}

#[test]
fn invalid_environment_values_are_errors_naming_the_variable() {
    watchdog(|| {
        for (var, value) in [
            ("WEFT_WORKERS", "0"),
            ("WEFT_WORKERS", "1025"),
            ("WEFT_WORKERS", "-1"),
            ("WEFT_STACK_SIZE", "lots"),
            ("WEFT_STACK_SIZE", "2g"),
            ("WEFT_STACK_SIZE", "99999999999999999999"),
            ("WEFT_STACK_GUARD", "bogus"),
            ("WEFT_BLOCKING_WARN", "soon"),
            ("WEFT_BLOCKING_WARN", "0ms"),
            ("WEFT_BLOCKING_WARN", "100"),
            ("WEFT_BLOCKING_WARN", "1h"),
        ] {
            let out = run_child("child_env_error", "env-error", &[(var, value)]);
            out.assert_success();
            let msg = out.stdout_value("error");
            assert!(msg.contains(var), "{var}={value}: {msg}");
        }
    });
}

#[test]
fn an_oversized_weft_stack_size_is_an_error_naming_the_variable() {
    // runtime/mod.rs documents: "An invalid value is reported by the first spawn as an
    // `io::Error` naming the variable". A well-formed but too large WEFT_STACK_SIZE is such an
    // invalid value.
    watchdog(|| {
        let out = run_child(
            "child_env_error",
            "env-error",
            &[("WEFT_STACK_SIZE", "2048m")],
        );
        out.assert_success();
        let msg = out.stdout_value("error");
        assert!(msg.contains("2147483648"), "{msg}");
        assert!(
            msg.contains("WEFT_STACK_SIZE"),
            "WEFT_STACK_SIZE=2048m is refused without naming the variable: {msg}"
        );
    });
}

#[test]
fn child_env_config() {
    if !child_is("env-config") {
        return;
    }
    let workers: usize = std::env::var("EXPECT_WORKERS").unwrap().parse().unwrap();
    assert_eq!(go!(|| 1).join().unwrap(), 1);
    let names = started_workers(workers);
    assert_eq!(names.len(), workers, "{names:?}");
    let used = workers_used();
    assert!(used.len() <= workers, "{used:?}");
    // WEFT_STACK_SIZE=1m: deep recursion fits a plain spawn.
    assert_eq!(go!(|| use_stack(400)).join().unwrap(), 400);
    // An explicit small size still applies to that coroutine only.
    let h = Builder::new()
        .stack_size(16 * 1024)
        .spawn(|| use_stack(4))
        .unwrap();
    assert_eq!(h.join().unwrap(), 4);
    child_report("done", "yes");
}

#[test]
fn environment_configures_the_runtime() {
    watchdog(|| {
        for (workers, size, guard) in [
            ("1", "1m", "auto"),
            ("3", "1024K", "mprotect"),
            ("2", "1048576", "auto"),
        ] {
            let out = run_child(
                "child_env_config",
                "env-config",
                &[
                    ("WEFT_WORKERS", workers),
                    ("EXPECT_WORKERS", workers),
                    ("WEFT_STACK_SIZE", size),
                    ("WEFT_STACK_GUARD", guard),
                ],
            );
            out.assert_success();
            assert_eq!(out.stdout_value("done"), "yes");
        }
    });
}

#[test]
fn child_madvise_guard() {
    if !child_is("madvise") {
        return;
    }
    match Builder::new().spawn(|| 5) {
        Ok(h) => {
            assert_eq!(h.join().unwrap(), 5);
            // Far more stacks than mprotect guards could cover would fit; a modest count
            // here just checks they work.
            let hs: Vec<_> = (0..5000).map(|i| go!(move || i)).collect();
            assert_eq!(
                hs.into_iter().map(|h| h.join().unwrap()).sum::<i32>(),
                4999 * 2500
            );
            child_report("result", "ok");
        }
        // Kernels before 6.13 lack MADV_GUARD_INSTALL; forcing it must then be an error.
        Err(e) => child_report("result", format!("error: {e}")),
    }
}

#[test]
fn forced_madvise_guard_works_or_reports_the_missing_kernel_feature() {
    watchdog(|| {
        let out = run_child(
            "child_madvise_guard",
            "madvise",
            &[("WEFT_STACK_GUARD", "madvise")],
        );
        out.assert_success();
        let result = out.stdout_value("result");
        assert!(
            result == "ok" || result.contains("MADV_GUARD_INSTALL"),
            "{result}"
        );
    });
}

#[test]
fn default_worker_count_is_the_available_parallelism() {
    watchdog(|| {
        // This process's own runtime: no init, no WEFT_WORKERS (unless the caller set one).
        if std::env::var_os("WEFT_WORKERS").is_some() {
            return;
        }
        go!(|| ()).join().unwrap();
        let expect = std::thread::available_parallelism().map_or(1, |n| n.get());
        let names = started_workers(expect);
        assert_eq!(names.len(), expect, "{names:?}");
        // yield on the OS thread is harmless.
        thread::yield_now();
    });
}
