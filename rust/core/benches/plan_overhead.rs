//! Criterion benches of the interpreter: dispatch overhead per trivial op (a chain of N
//! one-element `add`s) and an elementwise kernel on a [64, 392] float32 tensor.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use syft_rs_core::interp::Input;
use syft_rs_core::plan::{LoadOptions, Plan};
use syft_rs_core::proto::{
    self, arg, computation_action, Arg, ComputationAction, Id, PlaceholderId,
};
use syft_rs_core::tensor::Tensor;

fn pid(v: i64) -> PlaceholderId {
    PlaceholderId {
        id: Some(Id::int(v)),
    }
}

/// `x_{i+1} = x_i.add(y)` for i in 0..n: every op depends on the previous one, so nothing
/// can be merged or dropped and the run is pure dispatch for one-element tensors.
fn chain(n: usize) -> Plan {
    let actions = (0..n)
        .map(|i| ComputationAction {
            command: "add".into(),
            target: Some(computation_action::Target::TargetPlaceholderId(pid(
                10 + i as i64
            ))),
            args: vec![Arg::new(arg::Arg::ArgPlaceholderId(pid(2)))],
            return_placeholder_ids: vec![pid(11 + i as i64)],
            ..Default::default()
        })
        .collect();
    let role = proto::Role {
        id: Some(Id::int(1)),
        actions,
        state: Some(proto::State::default()),
        input_placeholder_ids: vec![Id::int(10), Id::int(2)],
        output_placeholder_ids: vec![Id::int(10 + n as i64)],
        ..Default::default()
    };
    let msg = proto::Plan {
        id: Some(Id::int(0)),
        role: Some(role),
        name: "chain".into(),
        base_framework: "torch".into(),
        ..Default::default()
    };
    Plan::load(msg, None, LoadOptions::default()).expect("chain plan loads")
}

fn one(v: f32, shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    Tensor::from_shape_vec(shape, vec![v; n]).expect("shape")
}

fn dispatch(c: &mut Criterion) {
    let mut g = c.benchmark_group("dispatch");
    for n in [100usize, 1000] {
        let plan = chain(n);
        let (x, y) = (one(1.0, &[1]), one(0.5, &[1]));
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("add_chain_1elem", n), &n, |b, _| {
            b.iter(|| {
                let out = plan
                    .execute(vec![Input::View(x.view()), Input::View(y.view())])
                    .expect("runs");
                std::hint::black_box(out)
            })
        });
    }
    g.finish();
}

fn kernel(c: &mut Criterion) {
    let plan = chain(1);
    let (x, y) = (one(1.0, &[64, 392]), one(0.5, &[392]));
    c.bench_function("add_f32_64x392_broadcast", |b| {
        b.iter(|| {
            let out = plan
                .execute(vec![Input::View(x.view()), Input::View(y.view())])
                .expect("runs");
            std::hint::black_box(out)
        })
    });
}

criterion_group!(benches, dispatch, kernel);
criterion_main!(benches);
