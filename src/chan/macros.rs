//! `select!` and `select_biased!`: Go's select over channels, in crossbeam-channel's syntax
//! (exported at the crate root, and re-exported as `weft::chan::select` as crossbeam does).

/// Waits on several channel operations and runs the arm of the one that completes, with
/// crossbeam-channel's syntax and Go's semantics.
///
/// ```text
/// select! {
///     recv(rx) -> msg => body,          // msg: Result<T, RecvError>
///     send(tx, value) -> res => body,   // res: Result<(), SendError<T>>
///     default => body,                  // or default(timeout) => body; at most one
/// }
/// ```
///
/// Exactly one arm runs. When several operations are ready, one is chosen at random (no arm
/// starves). Without `default`, `select!` blocks until an operation completes (the coroutine
/// parks; an OS thread blocks); `default` runs when nothing is ready now, `default(timeout)`
/// when nothing became ready within `timeout`. The channel expressions are evaluated once, in
/// source order, before anything is tried, and their temporaries live until the `select!` is
/// over; a `send` arm's message is evaluated only if that arm is chosen, as in crossbeam (the
/// channel promised the send first, so it then never blocks). A disconnected channel counts as
/// ready (its arm gets the `Err`). Arms may `break`/`continue` an enclosing loop. At most 32
/// arms. [`select_biased!`](crate::select_biased) prefers the arms in source order. Built on
/// the algorithm of [`chan::Select`](crate::chan::Select) (arch/select.md).
///
/// ```
/// use std::time::Duration;
/// use weft::{chan, select};
///
/// let (tx, rx) = chan::unbounded();
/// weft::go!(move || tx.send("ping").unwrap());
/// let timeout = chan::after(Duration::from_secs(5));
/// select! {
///     recv(rx) -> msg => assert_eq!(msg, Ok("ping")),
///     recv(timeout) -> _ => panic!("timed out"),
/// }
/// ```
#[macro_export]
macro_rules! select {
    ($($tokens:tt)*) => {
        $crate::__select_start!(false ($($tokens)*))
    };
}

/// [`select!`] that prefers the arms in source order: when several operations are ready, the
/// first of them runs (crossbeam-channel's `select_biased!`). Same syntax and semantics
/// otherwise; a busy first arm can starve the others.
///
/// ```
/// use weft::{chan, select_biased};
///
/// let (tx1, rx1) = chan::unbounded();
/// let (tx2, rx2) = chan::unbounded();
/// tx1.send(1).unwrap();
/// tx2.send(2).unwrap();
/// select_biased! {
///     recv(rx1) -> msg => assert_eq!(msg, Ok(1)),
///     recv(rx2) -> _ => unreachable!("the first ready arm wins"),
/// }
/// ```
#[macro_export]
macro_rules! select_biased {
    ($($tokens:tt)*) => {
        $crate::__select_start!(true ($($tokens)*))
    };
}

/// The start of `select!` and `select_biased!` (`$biased`): stage 1 with no case parsed yet
/// and the 32 fresh identifiers its arms take in turn. Not public API.
#[doc(hidden)]
#[macro_export]
macro_rules! __select_start {
    ($biased:tt ($($tokens:tt)*)) => {
        $crate::__select_parse!(
            $biased
            []
            (__c0 __c1 __c2 __c3 __c4 __c5 __c6 __c7 __c8 __c9 __c10 __c11 __c12 __c13 __c14
             __c15 __c16 __c17 __c18 __c19 __c20 __c21 __c22 __c23 __c24 __c25 __c26 __c27
             __c28 __c29 __c30 __c31)
            []
            ($($tokens)*)
        )
    };
}

/// Stage 1 of `select!`: parses the arms into `[cases] [default]`, one case per arm with a
/// fresh identifier. Not public API.
#[doc(hidden)]
#[macro_export]
macro_rules! __select_parse {
    // Done.
    ($biased:tt [$($cases:tt)*] ($($ids:ident)*) [$($default:tt)*] ()) => {
        $crate::__select_gen!($biased [$($cases)*] [$($default)*])
    };
    // A separating comma.
    ($biased:tt [$($cases:tt)*] ($($ids:ident)*) [$($default:tt)*] (, $($rest:tt)*)) => {
        $crate::__select_parse!($biased [$($cases)*] ($($ids)*) [$($default)*] ($($rest)*))
    };
    // recv(rx) -> pat => body
    ($biased:tt [$($cases:tt)*] ($id:ident $($ids:ident)*) [$($default:tt)*]
     (recv($rx:expr $(,)?) -> $res:pat => $body:block $($rest:tt)*)) => {
        $crate::__select_parse!(
            $biased [$($cases)* (recv $id ($rx) ($res) $body)] ($($ids)*) [$($default)*] ($($rest)*))
    };
    ($biased:tt [$($cases:tt)*] ($id:ident $($ids:ident)*) [$($default:tt)*]
     (recv($rx:expr $(,)?) -> $res:pat => $body:expr, $($rest:tt)*)) => {
        $crate::__select_parse!(
            $biased [$($cases)* (recv $id ($rx) ($res) { $body })] ($($ids)*) [$($default)*] ($($rest)*))
    };
    ($biased:tt [$($cases:tt)*] ($id:ident $($ids:ident)*) [$($default:tt)*]
     (recv($rx:expr $(,)?) -> $res:pat => $body:expr)) => {
        $crate::__select_parse!(
            $biased [$($cases)* (recv $id ($rx) ($res) { $body })] ($($ids)*) [$($default)*] ())
    };
    // send(tx, msg) -> pat => body
    ($biased:tt [$($cases:tt)*] ($id:ident $($ids:ident)*) [$($default:tt)*]
     (send($tx:expr, $msg:expr $(,)?) -> $res:pat => $body:block $($rest:tt)*)) => {
        $crate::__select_parse!(
            $biased [$($cases)* (send $id ($tx, $msg) ($res) $body)] ($($ids)*) [$($default)*]
            ($($rest)*))
    };
    ($biased:tt [$($cases:tt)*] ($id:ident $($ids:ident)*) [$($default:tt)*]
     (send($tx:expr, $msg:expr $(,)?) -> $res:pat => $body:expr, $($rest:tt)*)) => {
        $crate::__select_parse!(
            $biased [$($cases)* (send $id ($tx, $msg) ($res) { $body })] ($($ids)*) [$($default)*]
            ($($rest)*))
    };
    ($biased:tt [$($cases:tt)*] ($id:ident $($ids:ident)*) [$($default:tt)*]
     (send($tx:expr, $msg:expr $(,)?) -> $res:pat => $body:expr)) => {
        $crate::__select_parse!(
            $biased [$($cases)* (send $id ($tx, $msg) ($res) { $body })] ($($ids)*) [$($default)*] ())
    };
    // default => body / default(timeout) => body
    ($biased:tt [$($cases:tt)*] ($($ids:ident)*) [] (default => $body:block $($rest:tt)*)) => {
        $crate::__select_parse!($biased [$($cases)*] ($($ids)*) [() $body] ($($rest)*))
    };
    ($biased:tt [$($cases:tt)*] ($($ids:ident)*) [] (default => $body:expr $(, $($rest:tt)*)?)) => {
        $crate::__select_parse!($biased [$($cases)*] ($($ids)*) [() { $body }] ($($($rest)*)?))
    };
    ($biased:tt [$($cases:tt)*] ($($ids:ident)*) [] (default() => $($rest:tt)*)) => {
        $crate::__select_parse!($biased [$($cases)*] ($($ids)*) [] (default => $($rest)*))
    };
    ($biased:tt [$($cases:tt)*] ($($ids:ident)*) [] (default($t:expr $(,)?) => $body:block $($rest:tt)*)) => {
        $crate::__select_parse!($biased [$($cases)*] ($($ids)*) [($t) $body] ($($rest)*))
    };
    ($biased:tt [$($cases:tt)*] ($($ids:ident)*) []
     (default($t:expr $(,)?) => $body:expr $(, $($rest:tt)*)?)) => {
        $crate::__select_parse!($biased [$($cases)*] ($($ids)*) [($t) { $body }] ($($($rest)*)?))
    };
    // Errors.
    ($biased:tt [$($cases:tt)*] ($($ids:ident)*) [$($default:tt)+] (default $($rest:tt)*)) => {
        ::core::compile_error!("select!: more than one `default` arm")
    };
    ($biased:tt [$($cases:tt)*] () [$($default:tt)*] ($($rest:tt)+)) => {
        ::core::compile_error!("select!: more than 32 arms")
    };
    ($biased:tt [$($cases:tt)*] ($($ids:ident)*) [$($default:tt)*] ($($rest:tt)+)) => {
        ::core::compile_error!(
            "select!: expected `recv(rx) -> pat => body`, `send(tx, msg) -> pat => body`, \
             `default => body` or `default(timeout) => body`"
        )
    };
}

/// Stage 2 of `select!`: evaluates the handles in source order, builds one operation per arm
/// on the stack (no allocation), runs the select, and dispatches to the arm whose operation
/// holds the outcome (a chosen send arm's message is evaluated there, SE5). Not public API.
#[doc(hidden)]
#[macro_export]
macro_rules! __select_gen {
    ($biased:tt [$($case:tt)*] [$($default:tt)*]) => {{
        // Handles and messages first, in source order, in a `match` scrutinee, so that
        // temporaries among them (such as `recv(chan::after(d))` or
        // `recv(r.unwrap_or(&chan::never()))`) live until the whole `select!` is over.
        match ($( $crate::__select_bind!($case), )*) {
            ($( $crate::__select_id!($case), )*) => {
        $( $crate::__select_op!($case); )*
        let __selected = $crate::chan::__private::run(
            &mut [$( $crate::__select_ref!($case) ),*],
            $crate::__select_wait!([$($default)*]),
            $biased,
        );
        // Each operation gives up its outcome before the arm runs (losing send arms hold no
        // message, SE5).
        $( $crate::__select_outcome!($case); )*
        $crate::__select_finish!(__selected [$($default)*] $($case)*)
            }
        }
    }};
}

#[doc(hidden)]
#[macro_export]
macro_rules! __select_bind {
    ((recv $id:ident ($rx:expr) ($res:pat) $body:block)) => {
        (&$rx, ())
    };
    ((send $id:ident ($tx:expr, $msg:expr) ($res:pat) $body:block)) => {
        (&$tx, ())
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __select_id {
    (($kind:ident $id:ident $($rest:tt)*)) => {
        $id
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __select_op {
    ((recv $id:ident ($rx:expr) ($res:pat) $body:block)) => {
        let mut $id =
            $crate::chan::__private::RecvOp::new($id.0, $crate::chan::__private::Mode::Take);
    };
    ((send $id:ident ($tx:expr, $msg:expr) ($res:pat) $body:block)) => {
        let mut $id =
            $crate::chan::__private::SendOp::new($id.0, $crate::chan::__private::Mode::Take);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __select_ref {
    (($kind:ident $id:ident $($rest:tt)*)) => {
        &mut $id as &mut dyn $crate::chan::__private::Op
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __select_outcome {
    (($kind:ident $id:ident $($rest:tt)*)) => {
        // Taken in place (moving each operation out to drop it would copy it): the operation
        // itself holds nothing to drop early; it goes with the `select!`.
        let $id = $id.take_outcome();
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __select_wait {
    ([]) => {
        $crate::chan::__private::Wait::Until(::core::option::Option::None)
    };
    ([() $default:block]) => {
        $crate::chan::__private::Wait::No
    };
    ([($t:expr) $default:block]) => {
        $crate::chan::__private::Wait::Until(::std::time::Instant::now().checked_add($t))
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __select_finish {
    ($selected:ident [] $($case:tt)*) => {{
        let _ = $selected;
        $crate::__select_dispatch!($($case)*)
    }};
    ($selected:ident [$t:tt $default:block] $($case:tt)*) => {
        match $selected {
            ::core::option::Option::Some(_) => $crate::__select_dispatch!($($case)*),
            ::core::option::Option::None => $default,
        }
    };
}

/// The arm to run is the one whose operation gave an outcome (exactly one did).
#[doc(hidden)]
#[macro_export]
macro_rules! __select_dispatch {
    () => {
        ::core::unreachable!("select!: the selected operation has no arm")
    };
    ((recv $id:ident ($rx:expr) ($res:pat) $body:block) $($rest:tt)*) => {
        if let ::core::option::Option::Some(__outcome) = $id {
            let $res = __outcome;
            $body
        } else {
            $crate::__select_dispatch!($($rest)*)
        }
    };
    // The chosen send's message is evaluated now, and only now (SE5).
    ((send $id:ident ($tx:expr, $msg:expr) ($res:pat) $body:block) $($rest:tt)*) => {
        if let ::core::option::Option::Some(__ready) = $id {
            let $res = __ready.send($msg);
            $body
        } else {
            $crate::__select_dispatch!($($rest)*)
        }
    };
}
