//! A one-token parker for the loom models, the shape of `src/parker.rs` (which loom cannot run:
//! it is a futex): a wake-up that comes first is kept, several collapse into one. Included by
//! the models with `#[path]`.

use ::loom::sync::{Condvar, Mutex};

#[derive(Default)]
pub(crate) struct Parker {
    notified: Mutex<bool>,
    cond: Condvar,
}

impl Parker {
    pub(crate) fn park(&self) {
        let mut n = self.notified.lock().unwrap();
        while !*n {
            n = self.cond.wait(n).unwrap();
        }
        *n = false;
    }

    pub(crate) fn unpark(&self) {
        *self.notified.lock().unwrap() = true;
        self.cond.notify_one();
    }
}
