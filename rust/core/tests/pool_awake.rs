//! `pool::run_with_awake` never wakes parked helpers: with all of them parked, the caller
//! runs every part. (Its own test binary, so no other test wakes the helpers meanwhile.)

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use syft_rs_core::pool;

#[test]
fn parked_helpers_stay_parked() {
    if pool::threads() < 2 {
        eprintln!("one thread only (SYFT_RS_NUM_THREADS=1 or a 1-CPU machine): no helpers");
        return;
    }
    // Wake the helpers once, then give them far more than their spin budget to park.
    pool::run(4, &|_| {});
    std::thread::sleep(Duration::from_millis(100));
    let me = std::thread::current().id();
    assert!(
        threads_of_awake_run().iter().all(|&t| t == me),
        "a parked helper was woken"
    );

    // Awake helpers do take parts. A job whose first part waits for the others makes sure
    // a helper is up (a wake-up takes a while); right after it, the helper is spinning.
    // A busy machine may still delay it, so a few attempts are allowed.
    for _ in 0..10 {
        let done = AtomicUsize::new(0);
        pool::run(4, &|i| {
            if i == 0 {
                let t = Instant::now();
                while done.load(Ordering::SeqCst) < 3 && t.elapsed() < Duration::from_millis(500) {
                    std::hint::spin_loop();
                }
            } else {
                done.fetch_add(1, Ordering::SeqCst);
            }
        });
        if threads_of_awake_run().iter().any(|&t| t != me) {
            return;
        }
    }
    panic!("no awake helper ever took a part");
}

/// The thread each of 16 one-millisecond parts of a `run_with_awake` ran on.
fn threads_of_awake_run() -> Vec<ThreadId> {
    let ran_on = Mutex::new(Vec::new());
    pool::run_with_awake(16, &|_| {
        std::thread::sleep(Duration::from_millis(1));
        ran_on.lock().unwrap().push(std::thread::current().id());
    });
    let ran_on = ran_on.into_inner().unwrap();
    assert_eq!(ran_on.len(), 16, "every part runs once");
    ran_on
}
