//! Criterion bench of the State codec: decode and encode of a 10M-parameter float32 model (4 tensors).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ndarray::ArrayD;
use syft_rs_core::proto::{self, State};
use syft_rs_core::state::{self, StateEncoder};
use syft_rs_core::Tensor;

/// Four float32 tensors, 10M parameters in all (the shape of a small MLP scaled up).
fn model() -> Vec<Tensor> {
    let shapes: [&[usize]; 4] = [&[2500, 3000], &[3000], &[832, 3000], &[1000]];
    let mut seed = 1u32;
    shapes
        .iter()
        .map(|s| {
            let n: usize = s.iter().product();
            let values = (0..n)
                .map(|_| {
                    seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
                })
                .collect();
            Tensor::F32(ArrayD::from_shape_vec(s.to_vec(), values).unwrap())
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let params = model();
    assert_eq!(params.iter().map(Tensor::len).sum::<usize>(), 10_000_000);
    let views: Vec<_> = params.iter().map(Tensor::view).collect();
    let bytes = state::encode_state(&views).unwrap();

    let mut g = c.benchmark_group("state_10M_f32");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function(BenchmarkId::new("decode_to_tensors", bytes.len()), |b| {
        b.iter(|| state::decode_state(&bytes).unwrap())
    });
    g.bench_function(BenchmarkId::new("decode_prost_only", bytes.len()), |b| {
        b.iter(|| proto::decode::<State>(&bytes).unwrap())
    });
    g.bench_function(BenchmarkId::new("encode_streaming", bytes.len()), |b| {
        b.iter(|| state::encode_state(&views).unwrap())
    });
    let mut out = vec![0u8; bytes.len()];
    g.bench_function(
        BenchmarkId::new("encode_into_preallocated", bytes.len()),
        |b| {
            b.iter(|| {
                let enc = StateEncoder::new(&views).unwrap();
                enc.write(&mut out.as_mut_slice());
            })
        },
    );
    let msg = proto::decode::<State>(&bytes).unwrap();
    g.bench_function(BenchmarkId::new("encode_prost_structs", bytes.len()), |b| {
        b.iter(|| proto::encode(&msg))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
