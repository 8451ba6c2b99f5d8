//! Samplers and batch assembly for the DataLoader: seedable permutations and row gathers.
//!
//! The permutation generator is self-contained (SplitMix64 seeding a xoshiro256++ stream,
//! Fisher–Yates with Lemire's unbiased bounded draw) so that a `(seed, epoch)` pair gives
//! the same order on every platform and every release, independent of any RNG crate.

use std::fmt;

/// SplitMix64 step: used to expand a 64-bit seed into a full generator state.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// xoshiro256++: small, fast, and good enough statistically for shuffling.
struct Xoshiro256pp {
    s: [u64; 4],
}

impl Xoshiro256pp {
    /// A stream keyed by `(seed, epoch)`. The two words are mixed through SplitMix64 in
    /// sequence, so neighbouring seeds or epochs give unrelated streams.
    fn new(seed: u64, epoch: u64) -> Self {
        let mut sm = seed;
        let a = splitmix64(&mut sm);
        let mut sm2 = a ^ epoch.wrapping_mul(0xD605_BBB5_8C8A_BBED);
        let mut s = [0u64; 4];
        for w in &mut s {
            *w = splitmix64(&mut sm2);
        }
        // The all-zero state is the one fixed point of xoshiro; SplitMix64 output makes it
        // practically impossible, but guard anyway.
        if s == [0; 4] {
            s[0] = 1;
        }
        Xoshiro256pp { s }
    }

    fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform integer in `0..bound` (`bound > 0`) without modulo bias (Lemire 2019).
    fn below(&mut self, bound: u64) -> u64 {
        let mut m = u128::from(self.next_u64()) * u128::from(bound);
        let mut low = m as u64;
        if low < bound {
            let threshold = bound.wrapping_neg() % bound;
            while low < threshold {
                m = u128::from(self.next_u64()) * u128::from(bound);
                low = m as u64;
            }
        }
        (m >> 64) as u64
    }
}

/// A uniform random permutation of `0..n`, deterministic for `(seed, epoch)`.
///
/// The DataLoader passes its seed and the pass number, so each pass gets a new order and
/// two loaders with the same seed produce the same sequence of orders.
pub fn permutation(n: usize, seed: u64, epoch: u64) -> Vec<i64> {
    let mut out: Vec<i64> = (0..n as i64).collect();
    if n < 2 {
        return out;
    }
    let mut rng = Xoshiro256pp::new(seed, epoch);
    // Fisher–Yates from the end: position i takes a uniform pick from 0..=i.
    for i in (1..n).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        out.swap(i, j);
    }
    out
}

/// An index outside `0..rows` met by [`gather_rows`]; nothing was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexOutOfRange {
    /// Position of the offending entry in the index list.
    pub position: usize,
    /// The offending index.
    pub index: i64,
    /// Number of rows of the source.
    pub rows: usize,
}

impl fmt::Display for IndexOutOfRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "index {} (at position {}) is out of bounds for axis 0 with size {}",
            self.index, self.position, self.rows
        )
    }
}

impl std::error::Error for IndexOutOfRange {}

/// Copy rows `indices` of a row-major buffer into `dst`, one `memcpy` per row.
///
/// `src` holds `rows` rows of `row_bytes` bytes each; `dst` must hold
/// exactly `indices.len() * row_bytes` bytes. Every index is checked before anything is
/// copied, so on error `dst` is untouched. Working on bytes makes the gather independent of
/// the element type (the caller guarantees the elements are plain data).
pub fn gather_rows(
    src: &[u8],
    rows: usize,
    row_bytes: usize,
    indices: &[i64],
    dst: &mut [u8],
) -> Result<(), IndexOutOfRange> {
    assert_eq!(
        src.len(),
        rows * row_bytes,
        "gather_rows: src has the wrong size"
    );
    assert_eq!(
        dst.len(),
        indices.len() * row_bytes,
        "gather_rows: dst has the wrong size"
    );
    if let Some((position, &index)) = indices
        .iter()
        .enumerate()
        .find(|(_, &i)| i < 0 || i as u64 >= rows as u64)
    {
        return Err(IndexOutOfRange {
            position,
            index,
            rows,
        });
    }
    if row_bytes == 0 {
        return Ok(());
    }
    // Large gathers are split over the worker threads that are awake (a training loop keeps
    // them so): scattered rows are bound by memory latency, and two cores keep twice as many
    // rows in flight. Parked helpers are not woken for this (see `pool::run_with_awake`).
    let parts = if dst.len() >= PARALLEL_GATHER_BYTES {
        crate::pool::threads().min(indices.len())
    } else {
        1
    };
    if parts <= 1 {
        copy_runs(src, row_bytes, indices, dst);
        return Ok(());
    }
    let per = indices.len().div_ceil(parts);
    let chunks: Vec<std::sync::Mutex<(&[i64], &mut [u8])>> = indices
        .chunks(per)
        .zip(dst.chunks_mut(per * row_bytes))
        .map(std::sync::Mutex::new)
        .collect();
    crate::pool::run_with_awake(chunks.len(), &|i| {
        let mut chunk = chunks[i].lock().unwrap_or_else(|e| e.into_inner());
        let (idx, out) = &mut *chunk;
        copy_runs(src, row_bytes, idx, out);
    });
    Ok(())
}

/// Output size from which [`gather_rows`] splits its copy over the worker threads.
const PARALLEL_GATHER_BYTES: usize = 128 * 1024;

/// Copy checked rows `indices` into `dst`.
fn copy_runs(src: &[u8], row_bytes: usize, indices: &[i64], dst: &mut [u8]) {
    // Copy runs of consecutive indices with one memcpy each (a sequential loader's batch is
    // one run). Between runs, prefetch the next run's first row while this run is copied:
    // shuffled rows are scattered, and this hides DRAM latency row by row.
    let mut k = 0;
    while k < indices.len() {
        let first = indices[k] as usize;
        let mut len = 1;
        while k + len < indices.len() && indices[k + len] as usize == first + len {
            len += 1;
        }
        if let Some(&next) = indices.get(k + len) {
            let next = next as usize * row_bytes;
            prefetch_row(&src[next..next + row_bytes]);
        }
        dst[k * row_bytes..(k + len) * row_bytes]
            .copy_from_slice(&src[first * row_bytes..(first + len) * row_bytes]);
        k += len;
    }
}

/// Hint the CPU to load `row` into cache (no effect on results; a no-op off x86-64).
#[inline]
fn prefetch_row(row: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        for off in (0..row.len()).step_by(64) {
            // SAFETY: prefetch never faults and the address is inside `row`.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(row.as_ptr().add(off).cast::<i8>()) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = row;
}

/// Number of batches a batch sampler yields over `n` samples.
pub fn num_batches(n: usize, batch_size: usize, drop_last: bool) -> usize {
    if batch_size == 0 {
        return 0;
    }
    if drop_last {
        n / batch_size
    } else {
        n.div_ceil(batch_size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn permutation_is_deterministic_per_seed_and_epoch() {
        assert_eq!(permutation(100, 7, 0), permutation(100, 7, 0));
        assert_ne!(permutation(100, 7, 0), permutation(100, 7, 1));
        assert_ne!(permutation(100, 7, 0), permutation(100, 8, 0));
    }

    #[test]
    fn permutation_small_sizes() {
        assert!(permutation(0, 1, 0).is_empty());
        assert_eq!(permutation(1, 1, 0), vec![0]);
        let mut p = permutation(2, 3, 0);
        p.sort_unstable();
        assert_eq!(p, vec![0, 1]);
    }

    #[test]
    fn permutation_is_roughly_uniform() {
        // Position of element 0 over many epochs of n = 4: each of 4 slots ~ 1/4.
        let mut counts = [0usize; 4];
        for e in 0..8000 {
            let p = permutation(4, 42, e);
            counts[p.iter().position(|&x| x == 0).unwrap()] += 1;
        }
        for c in counts {
            assert!((1700..2300).contains(&c), "counts {counts:?}");
        }
    }

    #[test]
    fn below_has_no_bias_at_the_bound() {
        let mut rng = Xoshiro256pp::new(1, 2);
        for bound in [1u64, 2, 3, 7, 1 << 40, u64::MAX] {
            for _ in 0..1000 {
                assert!(rng.below(bound) < bound);
            }
        }
    }

    #[test]
    fn gather_copies_rows_and_rejects_out_of_range() {
        let src: Vec<u8> = (0..12).collect(); // 4 rows of 3 bytes
        let mut dst = vec![0u8; 6];
        gather_rows(&src, 4, 3, &[3, 0], &mut dst).unwrap();
        assert_eq!(dst, vec![9, 10, 11, 0, 1, 2]);

        let mut dst = vec![0u8; 6];
        let err = gather_rows(&src, 4, 3, &[1, 4], &mut dst).unwrap_err();
        assert_eq!(
            err,
            IndexOutOfRange {
                position: 1,
                index: 4,
                rows: 4
            }
        );
        assert_eq!(dst, vec![0; 6], "nothing written on error");
        assert!(gather_rows(&src, 4, 3, &[-1], &mut [0u8; 3]).is_err());
    }

    #[test]
    fn gather_mixes_runs_and_jumps() {
        let src: Vec<u8> = (0..20).collect(); // 10 rows of 2 bytes
        let idx = [3i64, 4, 5, 0, 9, 8, 8, 1, 2];
        let mut dst = vec![0u8; idx.len() * 2];
        gather_rows(&src, 10, 2, &idx, &mut dst).unwrap();
        let naive: Vec<u8> = idx
            .iter()
            .flat_map(|&i| [2 * i as u8, 2 * i as u8 + 1])
            .collect();
        assert_eq!(dst, naive);
    }

    #[test]
    fn gather_zero_width_rows() {
        let mut dst: Vec<u8> = vec![];
        // Five rows of zero bytes (numpy shape (5, 0)): indices are still range-checked.
        gather_rows(&[], 5, 0, &[0, 4], &mut dst).unwrap();
        gather_rows(&[], 5, 0, &[5], &mut dst).unwrap_err();
    }

    #[test]
    fn batch_counts() {
        assert_eq!(num_batches(10, 4, false), 3);
        assert_eq!(num_batches(10, 4, true), 2);
        assert_eq!(num_batches(10, 5, true), 2);
        assert_eq!(num_batches(0, 5, false), 0);
    }

    proptest! {
        #[test]
        fn permutation_is_a_permutation(n in 0usize..500, seed: u64, epoch in 0u64..5) {
            let mut p = permutation(n, seed, epoch);
            p.sort_unstable();
            prop_assert_eq!(p, (0..n as i64).collect::<Vec<_>>());
        }

        #[test]
        fn gather_matches_naive(rows in 1usize..20, width in 0usize..9,
                                idx in proptest::collection::vec(0usize..20, 0..30)) {
            let src: Vec<u8> = (0..rows * width).map(|x| (x * 7 % 251) as u8).collect();
            let idx: Vec<i64> = idx.into_iter().filter(|&i| i < rows).map(|i| i as i64).collect();
            let mut dst = vec![0u8; idx.len() * width];
            gather_rows(&src, rows, width, &idx, &mut dst).unwrap();
            let naive: Vec<u8> = idx.iter()
                .flat_map(|&i| src[i as usize * width..(i as usize + 1) * width].to_vec())
                .collect();
            prop_assert_eq!(dst, naive);
        }

        #[test]
        fn large_gathers_split_over_threads_match_naive(
            n in 1usize..200, width in 1000usize..4000, seed: u64,
        ) {
            // Outputs from PARALLEL_GATHER_BYTES up take the split path (helpers awake).
            let rows = 300;
            let src: Vec<u8> = (0..rows * width).map(|x| (x * 13 % 251) as u8).collect();
            let perm = permutation(rows, seed, 0);
            let idx: Vec<i64> = (0..n).map(|k| perm[k % rows]).collect();
            let mut dst = vec![0u8; n * width];
            // A job first, so that the helpers are awake and the gather splits.
            crate::pool::run(2, &|_| {});
            gather_rows(&src, rows, width, &idx, &mut dst).unwrap();
            for (k, &i) in idx.iter().enumerate() {
                let i = i as usize;
                prop_assert_eq!(&dst[k * width..(k + 1) * width], &src[i * width..(i + 1) * width]);
            }
        }
    }
}
