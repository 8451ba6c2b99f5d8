//! Mutation fuzzer: mutated vectors through every decoder; no panic, bounded time and memory.
//!
//! Seeds are the small shared vectors (when `../shared/vectors` is present) plus States and
//! Plans built here, so the fuzzer also runs without the vectors. Each input goes through
//! every message decoder, `describe`, `reencode`, the State functions and FedAvg.
//!
//! Short run (CI): `cargo test -p syft-rs-core --release --test fuzz_decode`.
//! Long run: `SYFT_RS_FUZZ_ITERS=1000000 cargo test -p syft-rs-core --release --test fuzz_decode -- --nocapture`
//! (`SYFT_RS_FUZZ_SEED` picks another deterministic sequence).

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ndarray::{arr1, arr2};
use syft_rs_core::proto::{self, SyftProto};
use syft_rs_core::state;
use syft_rs_core::{average, Tensor};

// ---- allocation accounting: peak live bytes per input --------------------------------------

struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

// ---- a small deterministic RNG (xorshift64*) --------------------------------------------------

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn ld(field: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    varint(u64::from(field) << 3 | 2, &mut out);
    varint(payload.len() as u64, &mut out);
    out.extend_from_slice(payload);
    out
}

// ---- seeds ---------------------------------------------------------------------------------------

fn seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let params = [
        Tensor::F32(arr2(&[[0.5f32, -1.25], [2.0, 3.0]]).into_dyn()),
        Tensor::I64(arr1(&[-7i64, 0, 1 << 40]).into_dyn()),
        Tensor::Bool(arr1(&[true, false]).into_dyn()),
        Tensor::U8(arr1(&[0u8, 255]).into_dyn()),
        Tensor::F64(arr1(&[0.1f64]).into_dyn()),
        Tensor::I32(arr1(&[-1i32]).into_dyn()),
    ];
    let views: Vec<_> = params.iter().map(Tensor::view).collect();
    out.push(state::encode_state(&views).unwrap());
    // A small Plan with every construct the codec has: kwargs, target kinds, roles, state.
    let tensor = proto::tensor_to_proto(&params[0], proto::Id::int(3)).unwrap();
    let action = proto::ComputationAction {
        command: "tf.sum".into(),
        target: Some(proto::computation_action::Target::TargetId(proto::Id::str(
            "x",
        ))),
        args: vec![
            proto::Arg::new(proto::arg::Arg::ArgTensor(Box::new(tensor.clone()))),
            proto::Arg::new(proto::arg::Arg::ArgList(proto::ArgList {
                args: vec![proto::Arg::new(proto::arg::Arg::ArgInt(-1))],
            })),
        ],
        kwargs: vec![proto::Kwarg {
            key: "keepdim".into(),
            value: Some(proto::Arg::new(proto::arg::Arg::ArgBool(true))),
        }],
        return_placeholder_ids: vec![proto::PlaceholderId {
            id: Some(proto::Id::int(9)),
        }],
        ..Default::default()
    };
    let role = proto::Role {
        id: Some(proto::Id::int(1)),
        actions: vec![action],
        state: Some(proto::decode::<proto::State>(&out[0]).unwrap()),
        input_placeholder_ids: vec![proto::Id::int(2)],
        output_placeholder_ids: vec![proto::Id::int(9)],
        ..Default::default()
    };
    let mut plan = proto::Plan {
        name: "p".into(),
        base_framework: "tfjs".into(),
        role: Some(role.clone()),
        ..Default::default()
    };
    plan.roles.insert("torch".into(), role);
    out.push(proto::encode(&plan));
    out.push(proto::encode(&tensor));

    let dir = std::env::var_os("SYFT_RS_VECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors")
        });
    for sub in ["syftproto", "syftjs", "pygrid/capture"] {
        let Ok(entries) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        let mut files: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        files.sort();
        for path in files {
            let small = std::fs::metadata(&path)
                .map(|m| m.len() <= 64 * 1024)
                .unwrap_or(false);
            if path.extension().is_some_and(|e| e == "pb")
                && small
                && !path.ends_with("syft_proto_0.5.3.fds.pb")
            {
                out.push(std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

// ---- mutations -----------------------------------------------------------------------------------

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut data = seeds[rng.below(seeds.len())].clone();
    for _ in 0..1 + rng.below(4) {
        let n = data.len();
        match rng.below(10) {
            // bit flips
            0 | 1 => {
                for _ in 0..1 + rng.below(8) {
                    if n > 0 {
                        let i = rng.below(n);
                        data[i] ^= 1 << rng.below(8);
                    }
                }
            }
            // byte set to an interesting value
            2 => {
                if n > 0 {
                    let i = rng.below(n);
                    data[i] = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x0a, 0x12, 0x08][rng.below(8)];
                }
            }
            // truncation
            3 => data.truncate(rng.below(n + 1)),
            // a huge varint (length prefix or value) inserted
            4 => {
                let at = rng.below(n + 1);
                let mut ins = Vec::new();
                if rng.below(2) == 0 {
                    varint((1 + rng.below(30) as u64) << 3 | 2, &mut ins);
                }
                varint(
                    [u64::MAX, 1 << 62, u32::MAX as u64, 1 << 31, 0x7fff_ffff][rng.below(5)],
                    &mut ins,
                );
                data.splice(at..at, ins);
            }
            // duplicate a slice (repeated/duplicated fields)
            5 => {
                if n > 0 {
                    let a = rng.below(n);
                    let b = (a + 1 + rng.below(64)).min(n);
                    let copy = data[a..b].to_vec();
                    let at = rng.below(n + 1);
                    data.splice(at..at, copy);
                }
            }
            // deep nesting: wrap in many length-delimited layers
            6 => {
                let field = 1 + rng.below(10) as u32;
                for _ in 0..rng.below(200) {
                    data = ld(field, &data);
                }
            }
            // a random field with a random wire type
            7 => {
                let at = rng.below(n + 1);
                let mut ins = Vec::new();
                varint((rng.below(32) as u64) << 3 | rng.below(8) as u64, &mut ins);
                for _ in 0..rng.below(6) {
                    ins.push(rng.next() as u8);
                }
                data.splice(at..at, ins);
            }
            // splice with another seed
            8 => {
                let other = &seeds[rng.below(seeds.len())];
                let a = rng.below(n + 1);
                let b = rng.below(other.len() + 1);
                data.truncate(a);
                data.extend_from_slice(&other[b..]);
            }
            // delete a range
            _ => {
                if n > 0 {
                    let a = rng.below(n);
                    let b = (a + 1 + rng.below(32)).min(n);
                    data.drain(a..b);
                }
            }
        }
    }
    data
}

// ---- the decoders --------------------------------------------------------------------------------

fn dec<M: SyftProto>(data: &[u8]) {
    if let Ok(m) = proto::decode::<M>(data) {
        // Whatever decodes must re-encode, and that encoding must be a fixed point
        // (bytes, not values, are compared so that NaN payloads count as equal).
        let again = proto::encode(&m);
        let back = proto::decode::<M>(&again)
            .unwrap_or_else(|e| panic!("re-decode of {} failed: {e}", M::NAME));
        assert!(
            proto::encode(&back) == again,
            "{} changed through encode/decode",
            M::NAME
        );
    }
}

fn run_all(data: &[u8], model: &[u8], avg: &[Tensor]) {
    dec::<proto::Id>(data);
    dec::<proto::Shape>(data);
    dec::<proto::Arg>(data);
    dec::<proto::TensorData>(data);
    dec::<proto::TorchTensor>(data);
    dec::<proto::Parameter>(data);
    dec::<proto::Placeholder>(data);
    dec::<proto::ComputationAction>(data);
    dec::<proto::State>(data);
    dec::<proto::Role>(data);
    dec::<proto::Plan>(data);
    dec::<proto::Protocol>(data);
    dec::<proto::NestedTypeWrapper>(data);
    dec::<proto::ObjectMessage>(data);
    dec::<proto::SyftMessage>(data);
    for kind in proto::KINDS {
        let _ = proto::describe(kind, data);
        let _ = proto::reencode(kind, data);
    }
    // The borrowing decode agrees with the copying one: same values, same errors.
    let copied = state::decode_state(data);
    match (&copied, state::decode_state_borrowing(data)) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a.len(), b.len());
            for (t, d) in a.iter().zip(b) {
                let d = match d {
                    proto::Decoded::Owned(t) => t,
                    proto::Decoded::Borrowed(v) => v.to_tensor(),
                };
                assert_eq!(format!("{t:?}"), format!("{d:?}"));
            }
        }
        (Err(e1), Err(e2)) => assert_eq!(e1.to_string(), e2.to_string()),
        (a, b) => panic!("decodes disagree: {a:?} vs {b:?}"),
    }
    let _ = state::check_diff(model, data);
    let _ = state::check_diff(data, model);
    let views: Vec<_> = avg.iter().map(Tensor::view).collect();
    let _ = state::state_replace_values(data, &views);
    let _ = average::apply_diff(data, &views);
    let _ = average::mean_diffs(&[model, data]);
}

#[test]
fn mutated_inputs_never_panic_and_stay_bounded() {
    let iters: usize = std::env::var("SYFT_RS_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000);
    let seed: u64 = std::env::var("SYFT_RS_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5EED_F00D);
    let seeds = seeds();
    let model = seeds[0].clone();
    let avg = state::decode_state(&model).unwrap();
    let mut rng = Rng(seed | 1);
    let start = Instant::now();
    let (mut worst_time, mut worst_ratio) = (Duration::ZERO, 0f64);
    for i in 0..iters {
        let data = mutate(&mut rng, &seeds);
        let base = LIVE.load(Ordering::Relaxed);
        PEAK.store(base, Ordering::Relaxed);
        let t = Instant::now();
        let outcome = std::panic::catch_unwind(|| run_all(&data, &model, &avg));
        let took = t.elapsed();
        let extra = PEAK.load(Ordering::Relaxed).saturating_sub(base);
        if outcome.is_err() {
            let path = std::env::temp_dir().join(format!("syft_rs_fuzz_crash_{i}.pb"));
            std::fs::write(&path, &data).unwrap();
            panic!("input #{i} panicked; saved to {}", path.display());
        }
        // Bounded memory: all decoders together stay within a fixed multiple of the input.
        let bound = 512 * data.len() + (4 << 20);
        assert!(
            extra <= bound,
            "input #{i} ({} bytes) peaked at {extra} extra bytes",
            data.len()
        );
        // Bounded time: every input is handled in well under a second.
        assert!(
            took < Duration::from_secs(2),
            "input #{i} ({} bytes) took {took:?}",
            data.len()
        );
        worst_time = worst_time.max(took);
        worst_ratio = worst_ratio.max(extra as f64 / (data.len().max(1)) as f64);
    }
    eprintln!(
        "fuzz: {iters} inputs x every decoder from {} seeds in {:.1?}; slowest input {worst_time:?}; \
         worst peak-alloc/input-size ratio {worst_ratio:.0}",
        seeds.len(),
        start.elapsed()
    );
}
