"""Training throughput: one PlanTrainer epoch of the MNIST MLP plan vs a hand-written numpy loop.

Both train the same 784→392→10 MLP (ReLU, softmax cross-entropy, plain SGD, lr 0.005) for
one epoch over the same 60,000 random MNIST-shaped samples at batch 64 (937 full batches,
shuffled with a seeded DataLoader), starting from the syft.js vector parameters:

- syft_rs: ``PlanTrainer`` over ``mnist_training_plan.Plan.pb`` (the PySyft-traced step, run by
  the Rust interpreter; both the ``tfjs`` role (the plan's base) and the ``torch`` role are
  timed unless ``--framework`` picks one), with ``mnist_model_params.State.pb`` and the §5.3 specs;
- numpy: the forward and backward pass written by hand (two big matmuls fewer than the
  traced plan, which also forms the input gradient: about 2/3 of its FLOPs), same batches.

The two loops alternate, epoch by epoch, ``--repeat`` times. Each timed epoch starts after a
pause of ``QUIESCE_SECONDS``: numpy's OpenBLAS threads keep spinning for about 0.1 s after its
last call, and an epoch started inside that window shares the second core with them (measured
here: 20–30 % slower for whichever loop ran right after numpy). The ratio reported is the
median over the pairs of adjacent epochs, which cancels most of a VM's drift in speed; the
spread of the pair ratios is printed too.

Prints a markdown table and writes benches/results/bench_trainer.json. The run also checks
that both loops end with finite losses of similar size (they train the same model).

    .venv/bin/python benches/bench_trainer.py [--repeat 15] [--framework tfjs|torch|both]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import anyio
import numpy as np

from syft_rs import (
    DataLoader,
    Plan,
    PlanInputSpec,
    PlanOutputSpec,
    PlanTrainer,
    SyftModel,
    TensorDataset,
    _core,
)

ROOT = Path(__file__).resolve().parents[1]
VECTORS = Path(os.environ.get("SYFT_RS_VECTORS", ROOT.parent / "shared" / "vectors"))
N, BS, LR = 60_000, 64, 0.005
#: Idle time before each timed epoch, so that the other loop's spinning threads have parked.
QUIESCE_SECONDS = 0.3
IN, OUT = PlanInputSpec, PlanOutputSpec


def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.random((N, 784), dtype=np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, N)]
    return X, y


def loader(X: np.ndarray, y: np.ndarray) -> DataLoader:
    return DataLoader(TensorDataset(X, y), batch_size=BS, shuffle=True, drop_last=True, seed=3)


def plan_epoch(plan: Any, params: SyftModel, X: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    inputs = [
        IN(IN.TYPE_DATA, index=0),
        IN(IN.TYPE_DATA, index=1),
        IN(IN.TYPE_BATCH_SIZE),
        IN(IN.TYPE_CLIENT_CONFIG_PARAM, "lr"),
        *(IN(IN.TYPE_MODEL_PARAM, n, i) for i, n in enumerate(("W1", "b1", "W2", "b2"))),
    ]
    outputs = [
        OUT(OUT.TYPE_LOSS),
        OUT(OUT.TYPE_METRIC, "accuracy"),
        *(OUT(OUT.TYPE_MODEL_PARAM, n, i) for i, n in enumerate(("W1", "b1", "W2", "b2"))),
    ]
    trainer = PlanTrainer(
        params,
        plan,
        inputs=inputs,
        outputs=outputs,
        data=loader(X, y),
        epochs=1,
        client_config={"lr": LR},
    )
    losses: list[float] = []
    trainer.on("batch_end", lambda p: losses.append(p["loss"]))

    async def run() -> None:
        await trainer.start()

    t0 = time.perf_counter()
    anyio.run(run)
    seconds = time.perf_counter() - t0
    assert len(losses) == N // BS
    return seconds, float(np.mean(losses[-50:]))


def numpy_epoch(params: SyftModel, X: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    W1, b1, W2, b2 = (np.array(p) for p in params.params)
    losses: list[float] = []
    t0 = time.perf_counter()
    for xb, yb in loader(X, y):
        bs = xb.shape[0]
        z1 = xb @ W1.T + b1
        h = np.maximum(z1, 0)
        logits = h @ W2.T + b2
        m = logits.max(axis=1, keepdims=True)
        e = np.exp(logits - m)
        s = e.sum(axis=1, keepdims=True)
        logp = logits - m - np.log(s)
        losses.append(float(-(yb * logp).sum() / bs))
        g = (e / s - yb) / bs  # d loss / d logits
        gW2 = g.T @ h
        gb2 = g.sum(axis=0)
        gh = (g @ W2) * (z1 > 0)
        gW1 = gh.T @ xb
        gb1 = gh.sum(axis=0)
        W1 -= LR * gW1
        b1 -= LR * gb1
        W2 -= LR * gW2
        b2 -= LR * gb2
    seconds = time.perf_counter() - t0
    return seconds, float(np.mean(losses[-50:]))


def measure(
    framework: str, repeat: int, params: SyftModel, X: np.ndarray, y: np.ndarray
) -> dict[str, Any]:
    plan = Plan.from_protobuf(
        (VECTORS / "syftjs" / "mnist_training_plan.Plan.pb").read_bytes(), framework=framework
    )
    plan_times, numpy_times = [], []
    plan_loss = numpy_loss = float("nan")
    for i in range(repeat):  # interleaved, so drift in machine load hits both
        # Alternate which loop goes first, so neither always follows the other.
        order = ("numpy", "plan") if i % 2 == 0 else ("plan", "numpy")
        for which in order:
            time.sleep(QUIESCE_SECONDS)
            if which == "numpy":
                t, numpy_loss = numpy_epoch(params, X, y)
                numpy_times.append(t)
            else:
                t, plan_loss = plan_epoch(plan, params, X, y)
                plan_times.append(t)
    assert np.isfinite(plan_loss) and np.isfinite(numpy_loss)
    assert abs(plan_loss - numpy_loss) < 0.05 * max(1.0, abs(numpy_loss)), (plan_loss, numpy_loss)
    pair_ratios = [p / n for p, n in zip(plan_times, numpy_times, strict=True)]
    return {
        "framework": framework,
        "syft_rs_plantrainer": statistics.median(plan_times),
        "numpy_hand_written": statistics.median(numpy_times),
        "ratio_syft_rs_over_numpy": statistics.median(pair_ratios),
        "pair_ratio_range": [min(pair_ratios), max(pair_ratios)],
        "final_loss": {"syft_rs": plan_loss, "numpy": numpy_loss},
        "all_times": {"syft_rs": plan_times, "numpy": numpy_times},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--framework", choices=("tfjs", "torch", "both"), default="both")
    args = parser.parse_args()

    params = SyftModel(
        _core.decode_state((VECTORS / "syftjs" / "mnist_model_params.State.pb").read_bytes())
    )
    X, y = data()
    frameworks = ("tfjs", "torch") if args.framework == "both" else (args.framework,)
    rows = [measure(f, args.repeat, params, X, y) for f in frameworks]

    result = {
        "benchmark": "one training epoch, MNIST MLP 784-392-10, 60000 samples, batch 64",
        "repeat": args.repeat,
        "statistic": (
            "median seconds per epoch; ratio: median over adjacent (syft_rs, numpy) epoch pairs"
        ),
        "quiesce_seconds": QUIESCE_SECONDS,
        "target_ratio": 1.1,
        "rows": rows,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
    }
    out = ROOT / "benches" / "results" / "bench_trainer.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    samples = N // BS * BS
    print("| loop | plan role | seconds / epoch | samples / s | ratio vs numpy (pair range) |")
    print("|---|---|---:|---:|---:|")
    for r in rows:
        p, n = r["syft_rs_plantrainer"], r["numpy_hand_written"]
        lo, hi = r["pair_ratio_range"]
        print(
            f"| syft_rs PlanTrainer | {r['framework']} | {p:.2f} | {samples / p:,.0f} "
            f"| {r['ratio_syft_rs_over_numpy']:.2f}x ({lo:.2f}–{hi:.2f}) |"
        )
        print(f"| numpy hand-written | (same run) | {n:.2f} | {samples / n:,.0f} | 1.00x |")
    print(f"\nwritten {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
