//! The pool hands parts to whichever thread is free: a part that blocks its thread does
//! not hold up the parts queued behind it. (Its own test binary, so no other test holds
//! the pool meanwhile.)

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use syft_rs_core::pool;

#[test]
fn a_blocked_part_leaves_the_rest_to_the_other_threads() {
    if pool::threads() < 2 {
        eprintln!(
            "one thread only (SYFT_RS_NUM_THREADS=1 or a 1-CPU machine): nothing to hand over"
        );
        return;
    }
    // Part 0 waits until every other part has run. With parts dealt out in a fixed
    // stripe, the caller would own parts 0, 2, 4, … and wait on itself; with claiming,
    // the helper takes them. A helper can be late (a busy machine), so a few attempts
    // are allowed, each bounded.
    let parts = 8;
    let mut outcomes = Vec::new();
    for _ in 0..10 {
        let done = AtomicUsize::new(0);
        let seen = AtomicUsize::new(0);
        pool::run(parts, &|i| {
            if i == 0 {
                let t = Instant::now();
                while done.load(Ordering::SeqCst) < parts - 1
                    && t.elapsed() < Duration::from_millis(500)
                {
                    std::hint::spin_loop();
                }
                seen.store(done.load(Ordering::SeqCst), Ordering::SeqCst);
            } else {
                done.fetch_add(1, Ordering::SeqCst);
            }
        });
        assert_eq!(
            done.load(Ordering::SeqCst),
            parts - 1,
            "every part runs once"
        );
        outcomes.push(seen.load(Ordering::SeqCst));
        if outcomes.last() == Some(&(parts - 1)) {
            return;
        }
    }
    panic!("part 0 never saw the other parts finish while it waited: {outcomes:?}");
}
