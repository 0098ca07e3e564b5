//! A program that deadlocks on purpose, to show what weft prints (README, "When it hangs").
//!
//! Two coroutines each wait on a channel whose sender is still alive, and `main` joins them.
//! About a second after everything went quiet, weft prints "all coroutines are asleep -
//! deadlock?" and a dump of every coroutine with its stack; with `WEFT_DEADLOCK=abort` it then
//! aborts (this example sets it, so that it ends).
//!
//! ```text
//! cargo run --release --example deadlock
//! ```

use weft::chan;

fn main() {
    if std::env::var_os("WEFT_DEADLOCK").is_none() {
        // SAFETY: no other thread runs yet.
        unsafe { std::env::set_var("WEFT_DEADLOCK", "abort") };
    }
    let (to_reader, from_main) = chan::bounded::<String>(0);
    let (to_main, from_reader) = chan::bounded::<String>(0);
    let reader = weft::thread::Builder::new()
        .name("reader".into())
        .spawn(move || {
            let line = from_main.recv().unwrap();
            println!("reader got {line}");
        })
        .unwrap();
    let writer = weft::thread::Builder::new()
        .name("writer".into())
        .spawn(move || {
            let reply = from_reader.recv().unwrap();
            println!("writer got {reply}");
        })
        .unwrap();
    // Both senders stay alive here, so neither receive can end.
    let _keep = (to_reader, to_main);
    if std::env::args().any(|a| a == "--dump") {
        weft::thread::sleep(std::time::Duration::from_millis(200));
        print!("{}", weft::runtime::dump());
        std::process::exit(0);
    }
    reader.join().unwrap();
    writer.join().unwrap();
}
