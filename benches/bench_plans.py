"""Authored training plans: PySyft's backward layout (``gradient="reference"``) against the fused
layout (``gradient="fused"``), and both against a hand-written numpy training step.

One SGD step of the MNIST MLP (784→392→10, relu, softmax CE, batch 64, the syft.js vectors) per
call, in the same run, contenders in rotation ``--repeat`` times; the table shows the best
time of each and its ratio to the reference layout (medians in the JSON). Writes
benches/results/bench_plans.json.

    .venv/bin/python benches/bench_plans.py [--repeat 15] [--steps 20]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from syft_rs import _core
from syft_rs.plans import MLP

ROOT = Path(__file__).resolve().parents[1]
VECTORS = ROOT.parent / "shared" / "vectors" / "syftjs"


def numpy_step(x: np.ndarray, y: np.ndarray, lr: float, params: list[np.ndarray]) -> list[Any]:
    """The same step written directly in numpy (float32), fused backward."""
    w1, b1, w2, b2 = params
    z1 = x @ w1.T + b1
    h = np.maximum(z1, 0)
    logits = h @ w2.T + b2
    shifted = logits - logits.max()
    e = np.exp(shifted)
    s = e.sum(1, keepdims=True)
    n = np.float32(len(x))
    loss = -(y * (shifted - np.log(s))).sum() / n
    g = (e / s * y.sum(1, keepdims=True) - y) / n
    gw2, gb2 = g.T @ h, g.sum(0)
    gh = (g @ w2) * (z1 > 0)
    gw1, gb1 = gh.T @ x, gh.sum(0)
    acc = (logits.argmax(1) == y.argmax(1)).sum() / n
    return [loss, acc, w1 - lr * gw1, b1 - lr * gb1, w2 - lr * gw2, b2 - lr * gb2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--steps", type=int, default=20, help="steps per timed sample")
    args = parser.parse_args()

    x, y = _core.decode_state((VECTORS / "mnist_batch_data.State.pb").read_bytes())
    params = _core.decode_state((VECTORS / "mnist_model_params.State.pb").read_bytes())
    mlp = MLP((784, 392, 10))
    contenders: dict[str, Callable[[], Any]] = {}
    actions: dict[str, int] = {}
    for layout in ("reference", "fused"):
        spec = mlp.training_plan_spec(gradient=layout)
        actions[layout] = len(spec["role"]["actions"])
        for framework in ("torch", "tfjs"):
            plan = _core.Plan.from_bytes(_core.encode_plan(spec), framework)
            contenders[f"plan {layout} ({framework})"] = lambda plan=plan: plan.execute(
                [x, y, 64, 0.005, *params]
            )
    contenders["numpy step"] = lambda: numpy_step(x, y, np.float32(0.005), params)

    # Same step everywhere: every contender's outputs agree with the reference plan's.
    ref = contenders["plan reference (torch)"]()
    for name, run in contenders.items():
        for a, b in zip(run(), ref, strict=True):
            np.testing.assert_allclose(np.asarray(a), b, rtol=1e-4, atol=1e-6, err_msg=name)
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(args.repeat):
        for name, run in contenders.items():
            t0 = time.perf_counter()
            for _ in range(args.steps):
                run()
            times[name].append((time.perf_counter() - t0) / args.steps)
    best = {n: min(t) for n, t in times.items()}
    base = best["plan reference (torch)"]
    print(f"MNIST MLP step, batch 64 (reference layout {actions['reference']} actions, "
          f"fused {actions['fused']})\n")  # fmt: skip
    print("| contender | best ms/step | vs reference (torch) |")
    print("|---|---:|---:|")
    for name, t in best.items():
        print(f"| {name} | {t * 1e3:.3f} | {base / t:.2f}× |")
    out = ROOT / "benches" / "results" / "bench_plans.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "machine": platform.platform(),
        "python": platform.python_version(),
        "actions": actions,
        "best_ms": {n: t * 1e3 for n, t in best.items()},
        "median_ms": {n: statistics.median(t) * 1e3 for n, t in times.items()},
        "speedup_vs_reference_torch": {n: base / t for n, t in best.items()},
    }
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
