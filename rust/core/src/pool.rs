//! The kernels' worker threads: a fixed set of helpers that spin briefly between jobs and
//! then park.
//!
//! A Plan step runs for tens to hundreds of microseconds, and a step that splits its work
//! must get its helpers at once. A worker that went to sleep after the previous step
//! (as rayon's do within microseconds) costs a futex wake-up, and on a virtual machine an
//! idle virtual CPU's wake-up as well: measured here at 100–250 µs per split, more than a
//! 784×392 GEMM takes on one core. So each helper spins for a short budget after its last
//! job (`SYFT_RS_SPIN_US`, default 2000 µs) before parking; a run of a Plan keeps them
//! hot, an idle process does not burn a core.
//!
//! `SYFT_RS_NUM_THREADS` sets the number of threads a split uses, the caller included
//! (default: the available parallelism; 1 disables the helpers). A split requested while
//! another thread holds the pool runs sequentially on the caller: concurrent Plans never
//! wait for each other here.

use std::any::Any;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// One job: `f(part)` for every part below `parts`.
struct Job<'a> {
    f: &'a (dyn Fn(usize) + Sync),
    parts: usize,
}

struct Shared {
    /// Bumped once per job; helpers wait for it to change.
    generation: AtomicUsize,
    /// The current job (valid while `pending > 0`).
    job: AtomicPtr<Job<'static>>,
    /// Helpers that have not finished the current job.
    pending: AtomicUsize,
    /// Helpers parked (or about to park) on `wake`.
    sleepers: AtomicUsize,
    lock: Mutex<()>,
    wake: Condvar,
    /// A helper's panic payload, re-raised on the caller.
    panic: Mutex<Option<Box<dyn Any + Send>>>,
    /// Held by the thread whose job runs.
    busy: AtomicBool,
    /// Set when the helpers could not all be started.
    disabled: AtomicBool,
    helpers: usize,
    spin: Duration,
}

fn shared() -> &'static Shared {
    static S: OnceLock<&'static Shared> = OnceLock::new();
    S.get_or_init(|| {
        let threads = std::env::var("SYFT_RS_NUM_THREADS")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|n| *n >= 1)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .min(64);
        let spin_us = std::env::var("SYFT_RS_SPIN_US")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(2000);
        let s: &'static Shared = Box::leak(Box::new(Shared {
            generation: AtomicUsize::new(0),
            job: AtomicPtr::new(std::ptr::null_mut()),
            pending: AtomicUsize::new(0),
            sleepers: AtomicUsize::new(0),
            lock: Mutex::new(()),
            wake: Condvar::new(),
            panic: Mutex::new(None),
            busy: AtomicBool::new(false),
            disabled: AtomicBool::new(false),
            helpers: threads - 1,
            spin: Duration::from_micros(spin_us),
        }));
        for id in 0..s.helpers {
            let spawned = std::thread::Builder::new()
                .name(format!("syft-rs-{}", id + 1))
                .spawn(move || helper(s, id + 1));
            if spawned.is_err() {
                // Not all helpers could start: every split runs on its caller.
                s.disabled.store(true, Ordering::SeqCst);
                break;
            }
        }
        s
    })
}

/// Threads a split uses, the caller included.
pub fn threads() -> usize {
    let s = shared();
    if s.disabled.load(Ordering::Relaxed) {
        1
    } else {
        s.helpers + 1
    }
}

fn helper(s: &'static Shared, id: usize) {
    let mut seen = 0usize;
    loop {
        // Spin for the budget, then park until the next job.
        let start = Instant::now();
        let mut spins = 0u32;
        loop {
            let g = s.generation.load(Ordering::SeqCst);
            if g != seen {
                seen = g;
                break;
            }
            std::hint::spin_loop();
            spins = spins.wrapping_add(1);
            if spins % 256 == 0 && start.elapsed() >= s.spin {
                let mut guard = s.lock.lock().unwrap_or_else(|e| e.into_inner());
                s.sleepers.fetch_add(1, Ordering::SeqCst);
                while s.generation.load(Ordering::SeqCst) == seen {
                    guard = s.wake.wait(guard).unwrap_or_else(|e| e.into_inner());
                }
                s.sleepers.fetch_sub(1, Ordering::SeqCst);
                drop(guard);
                seen = s.generation.load(Ordering::SeqCst);
                break;
            }
        }
        let job = s.job.load(Ordering::SeqCst);
        // SAFETY: the caller of `run` keeps the job alive until `pending` is zero, and
        // this helper decrements `pending` only after its last use of the job.
        let job = unsafe { &*job };
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut part = id;
            while part < job.parts {
                (job.f)(part);
                part += s.helpers + 1;
            }
        }));
        if let Err(p) = r {
            *s.panic.lock().unwrap_or_else(|e| e.into_inner()) = Some(p);
        }
        s.pending.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Run `f(part)` for `part in 0..parts`, spread over the pool's threads (the caller takes
/// part 0 and every `threads()`-th after it). Returns when every part has run. A panic in
/// any part is re-raised here.
pub fn run(parts: usize, f: &(dyn Fn(usize) + Sync)) {
    let s = shared();
    if parts <= 1
        || s.helpers == 0
        || s.disabled.load(Ordering::Relaxed)
        || s.busy
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
    {
        (0..parts).for_each(f);
        return;
    }
    let job = Job { f, parts };
    s.pending.store(s.helpers, Ordering::SeqCst);
    s.job.store(
        (&job as *const Job<'_>).cast_mut().cast::<Job<'static>>(),
        Ordering::SeqCst,
    );
    s.generation.fetch_add(1, Ordering::SeqCst);
    if s.sleepers.load(Ordering::SeqCst) > 0 {
        let _guard = s.lock.lock().unwrap_or_else(|e| e.into_inner());
        s.wake.notify_all();
    }
    let mine = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut part = 0;
        while part < parts {
            f(part);
            part += s.helpers + 1;
        }
    }));
    // Wait for the helpers even if this thread's part panicked: they borrow `job`.
    let start = Instant::now();
    let mut spins = 0u32;
    while s.pending.load(Ordering::SeqCst) != 0 {
        std::hint::spin_loop();
        spins = spins.wrapping_add(1);
        if spins % 256 == 0 && start.elapsed() > Duration::from_micros(200) {
            std::thread::yield_now();
        }
    }
    let theirs = s.panic.lock().unwrap_or_else(|e| e.into_inner()).take();
    s.busy.store(false, Ordering::Release);
    if let Err(p) = mine {
        std::panic::resume_unwind(p);
    }
    if let Some(p) = theirs {
        std::panic::resume_unwind(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_part_runs_once() {
        for parts in [0, 1, 2, 3, 17] {
            let hits: Vec<AtomicUsize> = (0..parts).map(|_| AtomicUsize::new(0)).collect();
            run(parts, &|i| {
                hits[i].fetch_add(1, Ordering::SeqCst);
            });
            assert!(hits.iter().all(|h| h.load(Ordering::SeqCst) == 1));
        }
    }

    #[test]
    fn concurrent_callers_and_panics() {
        std::thread::scope(|sc| {
            for _ in 0..4 {
                sc.spawn(|| {
                    for _ in 0..200 {
                        let n = AtomicUsize::new(0);
                        run(4, &|_| {
                            n.fetch_add(1, Ordering::SeqCst);
                        });
                        assert_eq!(n.load(Ordering::SeqCst), 4);
                    }
                });
            }
        });
        let r = std::panic::catch_unwind(|| run(2, &|i| assert!(i != 1, "part 1 fails")));
        assert!(r.is_err());
        // The pool still works after a panic.
        let n = AtomicUsize::new(0);
        run(2, &|_| {
            n.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(n.load(Ordering::SeqCst), 2);
    }
}
