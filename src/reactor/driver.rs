//! The I/O driver: one mio `Poll` for the whole runtime, polled by whichever idle worker takes
//! it (no poller thread).
//!
//! Generic over the waiter `W` that a source's readiness wakes: the driver stores waiters and
//! hands the ready ones to the closure its poller passes to `poll` (the scheduler passes its
//! wake), so it knows nothing of coroutines, parking or the runtime.
//!
//! Ground rules (arch/io.md):
//! - D1: at most one worker polls at a time (`try_lock`). A worker that finds the driver
//!   taken sleeps on its own parker instead; the polling worker sleeps in `epoll_wait`, and
//!   waking it means writing the mio `Waker` (scheduler/mod.rs, `unpark_worker`).
//! - D2: an event's token carries the slot's generation; a slot's generation changes when its
//!   source is deregistered, so a late event for a closed source never wakes the source that
//!   reuses the slot.
//! - D3: a source is deregistered from epoll before its file descriptor is closed (a dup'ed
//!   descriptor would otherwise keep the epoll item, and its events, alive).

use std::io;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Registry, Token, Waker};
use parking_lot::{Mutex, MutexGuard};

use super::readiness::{ERROR, READ_CLOSED, READABLE, ScheduledIo, WRITABLE, WRITE_CLOSED};

/// The token of the driver's own `Waker`; no slot can produce it (slot indexes stay below
/// `u32::MAX`).
const WAKER_TOKEN: Token = Token(usize::MAX);
/// Events taken from the kernel per `epoll_wait`.
const EVENTS: usize = 1024;

/// The runtime's I/O driver, whose sources are waited for by waiters of type `W`. `Sync`: any
/// thread registers sources and wakes the poller; one worker at a time polls (D1).
#[derive(Debug)]
pub(crate) struct Driver<W> {
    poller: Mutex<Poller<W>>,
    registry: Registry,
    waker: Waker,
    sources: Mutex<Sources<W>>,
    /// How many sources are registered: while none is, idle workers sleep on their parkers
    /// and programs without I/O never pay for the driver.
    registered: AtomicUsize,
}

#[derive(Debug)]
struct Poller<W> {
    poll: Poll,
    events: Events,
    /// Sources with an event in the current batch (kept to reuse its allocation).
    batch: Vec<(Arc<ScheduledIo<W>>, usize)>,
}

#[derive(Debug)]
struct Sources<W> {
    slots: Vec<Slot<W>>,
    free: Vec<u32>,
}

#[derive(Debug)]
struct Slot<W> {
    generation: u32,
    io: Option<Arc<ScheduledIo<W>>>,
}

fn token(index: u32, generation: u32) -> Token {
    Token(((generation as usize) << 32) | index as usize)
}

fn split(token: Token) -> (u32, u32) {
    ((token.0 & 0xffff_ffff) as u32, (token.0 >> 32) as u32)
}

impl<W> Driver<W> {
    pub(crate) fn new() -> io::Result<Driver<W>> {
        let poll = Poll::new()?;
        let registry = poll.registry().try_clone()?;
        let waker = Waker::new(poll.registry(), WAKER_TOKEN)?;
        Ok(Driver {
            poller: Mutex::new(Poller {
                poll,
                events: Events::with_capacity(EVENTS),
                batch: Vec::new(),
            }),
            registry,
            waker,
            sources: Mutex::new(Sources {
                slots: Vec::new(),
                free: Vec::new(),
            }),
            registered: AtomicUsize::new(0),
        })
    }

    /// Registers `fd` for read and write readiness, edge-triggered. The caller keeps `fd` open
    /// until it calls `deregister` (D3).
    pub(crate) fn register(&self, fd: RawFd) -> io::Result<(Arc<ScheduledIo<W>>, Token)> {
        let io = Arc::new(ScheduledIo::default());
        let (index, generation) = {
            let mut sources = self.sources.lock();
            match sources.free.pop() {
                Some(index) => {
                    let slot = &mut sources.slots[index as usize];
                    slot.io = Some(io.clone());
                    (index, slot.generation)
                }
                None => {
                    let index = u32::try_from(sources.slots.len())
                        .ok()
                        .filter(|&i| i < u32::MAX)
                        .ok_or_else(|| io::Error::other("weft: too many registered I/O sources"))?;
                    sources.slots.push(Slot {
                        generation: 0,
                        io: Some(io.clone()),
                    });
                    (index, 0)
                }
            }
        };
        let token = token(index, generation);
        if let Err(e) = self.registry.register(
            &mut SourceFd(&fd),
            token,
            Interest::READABLE | Interest::WRITABLE,
        ) {
            self.release(index);
            return Err(e);
        }
        self.registered.fetch_add(1, Ordering::Relaxed);
        Ok((io, token))
    }

    /// D2, D3: removes `fd` from epoll and retires its slot. Call before closing `fd`.
    pub(crate) fn deregister(&self, fd: RawFd, token: Token) {
        // An error here means the descriptor is already gone from epoll (closed behind weft's
        // back through `from_raw_fd` misuse); the slot is retired all the same.
        let _ = self.registry.deregister(&mut SourceFd(&fd));
        self.release(split(token).0);
        self.registered.fetch_sub(1, Ordering::Relaxed);
    }

    fn release(&self, index: u32) {
        let mut sources = self.sources.lock();
        let slot = &mut sources.slots[index as usize];
        slot.io = None;
        slot.generation = slot.generation.wrapping_add(1);
        sources.free.push(index);
    }

    /// Whether any source is registered (D4).
    pub(crate) fn is_in_use(&self) -> bool {
        self.registered.load(Ordering::Relaxed) > 0
    }

    /// D1: the driver, unless another worker is polling it or no source is registered.
    /// (A source is registered by a coroutine or thread before anyone waits for it, and a
    /// coroutine's worker checks the count when it next goes idle, after its coroutine's
    /// wait began.)
    pub(crate) fn try_lock(&self) -> Option<DriverGuard<'_, W>> {
        if !self.is_in_use() {
            return None;
        }
        self.poller.try_lock().map(|poller| DriverGuard {
            driver: self,
            poller,
        })
    }

    /// Interrupts the worker sleeping in `poll` (D1).
    pub(crate) fn wake(&self) {
        if let Err(e) = self.waker.wake() {
            // The eventfd cannot be written: the polling worker sleeps until its timeout or
            // the next I/O event. Say so instead of hanging silently.
            crate::fatal::eprint(&format!(
                "weft: cannot wake the worker polling for I/O: {e}\n"
            ));
        }
    }
}

/// The right to poll (D1). Dropping it lets another worker poll.
#[derive(Debug)]
pub(crate) struct DriverGuard<'a, W> {
    driver: &'a Driver<W>,
    poller: MutexGuard<'a, Poller<W>>,
}

impl<W> DriverGuard<'_, W> {
    /// Waits up to `timeout` (`None`: until an event or a wake) and passes the waiters of
    /// every source that became ready to `wake`. Returns how many source events were
    /// dispatched.
    pub(crate) fn poll(&mut self, timeout: Option<Duration>, mut wake: impl FnMut(W)) -> usize {
        let Poller {
            poll,
            events,
            batch,
        } = &mut *self.poller;
        if let Err(e) = poll.poll(events, timeout) {
            if e.kind() != io::ErrorKind::Interrupted {
                crate::fatal::eprint(&format!("weft: polling for I/O failed: {e}\n"));
            }
            return 0;
        }
        {
            let sources = self.driver.sources.lock();
            for event in events.iter() {
                if event.token() == WAKER_TOKEN {
                    continue;
                }
                let (index, generation) = split(event.token());
                let Some(slot) = sources.slots.get(index as usize) else {
                    continue;
                };
                // D2: an event for a retired registration is dropped.
                if slot.generation != generation {
                    continue;
                }
                if let Some(io) = &slot.io {
                    batch.push((io.clone(), ready_bits(event)));
                }
            }
        }
        let n = batch.len();
        for (io, ready) in batch.drain(..) {
            io.set_ready(ready, &mut wake);
        }
        n
    }
}

fn ready_bits(event: &mio::event::Event) -> usize {
    let mut ready = 0;
    if event.is_readable() {
        ready |= READABLE;
    }
    if event.is_writable() {
        ready |= WRITABLE;
    }
    if event.is_read_closed() {
        ready |= READ_CLOSED;
    }
    if event.is_write_closed() {
        ready |= WRITE_CLOSED;
    }
    if event.is_error() {
        ready |= ERROR;
    }
    ready
}
