//! The kernels' worker threads: a fixed set of helpers that spin briefly between jobs and
//! then park.
//!
//! A Plan step runs for tens to hundreds of microseconds, and a step that splits its work
//! must get its helpers at once. A worker that went to sleep after the previous step
//! (as rayon's do within microseconds) costs a futex wake-up, and on a virtual machine an
//! idle virtual CPU's wake-up as well: measured here at 100–250 µs per split, more than a
//! 784×392 GEMM takes on one core. So each helper spins for a short budget after its last
//! job (`SYFT_RS_SPIN_US`, default 2000 µs) before parking; a run of a Plan keeps them
//! hot, an idle process does not burn a core. A spinning helper yields its CPU every few
//! microseconds, so other threads that are ready to run (numpy's BLAS workers between two
//! DataLoader batches) are not kept waiting by it.
//!
//! Parts are claimed, not assigned: every thread of a job, the caller included, takes the
//! next unclaimed part until none is left, and the caller waits only for parts a helper has
//! actually started. A helper that is late (parked, or preempted by another process's
//! threads: numpy's OpenBLAS keeps its own spinning for ~0.1 s after each call) therefore
//! leaves its share to the caller instead of stalling it; before this, a step run right
//! after numpy matmuls measured 3× slower than alone.
//!
//! `SYFT_RS_NUM_THREADS` sets the number of threads a split uses, the caller included
//! (default: the available parallelism; 1 disables the helpers). A split requested while
//! another thread holds the pool runs sequentially on the caller: concurrent Plans never
//! wait for each other here.

use std::any::Any;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The job's function with its borrow's lifetime erased (see the safety note on [`Job`]).
type PartFn = dyn Fn(usize) + Sync + 'static;

/// One job: `f(part)` for every part below `parts`, each part claimed by one thread.
///
/// `f` borrows the caller's stack. It is called only for a part claimed below `parts`, and
/// the caller returns only after `done == parts`: every call of `f` happens while the
/// caller waits, even if a helper still holds this `Job` (through its `Arc`) afterwards.
struct Job {
    f: *const PartFn,
    parts: usize,
    /// The next part to claim (may run past `parts`: each thread overshoots once).
    next: AtomicUsize,
    /// Parts that have finished (or panicked).
    done: AtomicUsize,
    /// A part's panic payload, re-raised on the caller.
    panic: Mutex<Option<Box<dyn Any + Send>>>,
}

// SAFETY: `f` points to a `Sync` closure and is only called under the protocol above.
unsafe impl Send for Job {}
unsafe impl Sync for Job {}

impl Job {
    /// Claim and run parts until none is left.
    fn work(&self) {
        loop {
            let part = self.next.fetch_add(1, Ordering::AcqRel);
            if part >= self.parts {
                return;
            }
            // SAFETY: `part` was claimed below `parts`, so the caller is still waiting
            // for it and the closure is alive.
            let f = unsafe { &*self.f };
            if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(part))) {
                let mut slot = self.panic.lock().unwrap_or_else(|e| e.into_inner());
                slot.get_or_insert(p);
            }
            self.done.fetch_add(1, Ordering::Release);
        }
    }
}

struct Shared {
    /// Bumped once per job; helpers wait for it to change.
    generation: AtomicUsize,
    /// The current job, if any (helpers take a reference and drop it when done).
    current: Mutex<Option<Arc<Job>>>,
    /// Helpers parked (or about to park) on `wake`.
    sleepers: AtomicUsize,
    lock: Mutex<()>,
    wake: Condvar,
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
            current: Mutex::new(None),
            sleepers: AtomicUsize::new(0),
            lock: Mutex::new(()),
            wake: Condvar::new(),
            busy: AtomicBool::new(false),
            disabled: AtomicBool::new(false),
            helpers: threads - 1,
            spin: Duration::from_micros(spin_us),
        }));
        for id in 0..s.helpers {
            let spawned = std::thread::Builder::new()
                .name(format!("syft-rs-{}", id + 1))
                .spawn(move || helper(s));
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

fn helper(s: &'static Shared) {
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
            if spins % 64 == 0 {
                // Give the CPU to any other runnable thread (another runtime's workers:
                // a BLAS that splits its work statically would otherwise wait on this spin).
                std::thread::yield_now();
            }
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
        let job = s.current.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(job) = job {
            job.work();
        }
    }
}

/// Run `f(part)` for `part in 0..parts`, spread over the pool's threads: the caller and
/// the helpers claim parts in order until all are taken. Returns when every part has run.
/// A panic in any part is re-raised here (after all parts have finished).
pub fn run(parts: usize, f: &(dyn Fn(usize) + Sync)) {
    run_with(parts, f, true);
}

/// [`run`] with only the helpers that are awake (still spinning after a recent job): parked
/// helpers are not woken, and when all are parked the caller runs every part itself.
///
/// For work that is worth splitting only when the helpers are hot anyway (a DataLoader
/// gather inside a training loop); a process that does not run Plans keeps its helpers
/// parked and never has them spinning next to its other threads.
pub fn run_with_awake(parts: usize, f: &(dyn Fn(usize) + Sync)) {
    let s = shared();
    if s.sleepers.load(Ordering::SeqCst) >= s.helpers {
        (0..parts).for_each(f);
        return;
    }
    run_with(parts, f, false);
}

fn run_with(parts: usize, f: &(dyn Fn(usize) + Sync), wake: bool) {
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
    // SAFETY: only the lifetime is erased; see the protocol on `Job`.
    let f: *const PartFn =
        unsafe { std::mem::transmute::<*const (dyn Fn(usize) + Sync + '_), *const PartFn>(f) };
    let job = Arc::new(Job {
        f,
        parts,
        next: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
        panic: Mutex::new(None),
    });
    *s.current.lock().unwrap_or_else(|e| e.into_inner()) = Some(job.clone());
    s.generation.fetch_add(1, Ordering::SeqCst);
    if wake && s.sleepers.load(Ordering::SeqCst) > 0 {
        let _guard = s.lock.lock().unwrap_or_else(|e| e.into_inner());
        s.wake.notify_all();
    }
    job.work();
    // Every part is claimed; wait for the ones helpers are still running.
    let start = Instant::now();
    let mut spins = 0u32;
    while job.done.load(Ordering::Acquire) < parts {
        std::hint::spin_loop();
        spins = spins.wrapping_add(1);
        if spins % 256 == 0 && start.elapsed() > Duration::from_micros(200) {
            std::thread::yield_now();
        }
    }
    *s.current.lock().unwrap_or_else(|e| e.into_inner()) = None;
    s.busy.store(false, Ordering::Release);
    let panic = job.panic.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(p) = panic {
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
