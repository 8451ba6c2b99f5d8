"""Benchmark: the PySyft MNIST training plan, run by syft_rs vs TorchScript vs numpy.

One training step of PyGrid's MNIST plan (784→392→10 MLP, softmax cross-entropy, SGD; the
plan traces its backward pass twice: ~1.88 MFLOP per example, of which syft_rs executes
~1.26 after merging each weight's two gradient products) at batch 1, 64 and 256:

- ``syft_rs``: ``Plan.execute`` of ``uploaded_training_plan.pb`` (torch dialect);
- ``torchscript``: the same plan's embedded TorchScript run by ``torch.jit`` (what the
  mobile workers do);
- ``numpy``: a hand-written numpy step of the same math (~1.25 MFLOP per example).

All three run interleaved in the same process; the table reports median ms/step, ratios and
GFLOP/s against numpy's sgemm peak measured in the same run. Also measured: peak RSS of a
process that imports syft_rs and runs 1,000 steps, and ``import syft_rs`` time.

Run (torch is a bench-only dependency; OpenBLAS tuning variables are unset for numpy)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benches/bench_plan.py

Writes ``benches/results/bench_plan.json`` and prints a markdown table. With
``SYFT_RS_BENCH_BLAS=numpy`` the plan's float32 GEMMs go to the OpenBLAS that numpy ships
(``_core._set_external_sgemm``) instead of the gemm crate; results then go to
``benches/results/bench_plan_numpy_blas.json``.
"""

from __future__ import annotations

import io
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
VECTORS = Path(os.environ.get("SYFT_RS_VECTORS", ROOT.parent / "shared" / "vectors"))
CAPTURE = VECTORS / "pygrid" / "capture"
NUMPY_BLAS = os.environ.get("SYFT_RS_BENCH_BLAS") == "numpy"
RESULTS = (
    ROOT
    / "benches"
    / "results"
    / ("bench_plan_numpy_blas.json" if NUMPY_BLAS else "bench_plan.json")
)
BATCHES = (1, 64, 256)


def plan_flop(batch: int) -> int:
    """Multiply-add FLOP of the plan's GEMMs (forward once, backward traced twice)."""
    fwd = 2 * batch * (784 * 392 + 392 * 10)
    bwd = 2 * batch * (10 * 392 + 392 * 10 + 784 * 392)
    return fwd + 2 * bwd


def executed_flop(batch: int) -> int:
    """GEMM FLOP syft_rs executes: the loader merges each weight's two traced gradient
    products (dW1, dW2) into one; the two input-gradient products stay."""
    fwd = 2 * batch * (784 * 392 + 392 * 10)
    bwd = 2 * batch * (784 * 392 + 392 * 10) + 2 * 2 * batch * (10 * 392)
    return fwd + bwd


def numpy_flop(batch: int) -> int:
    """GEMM FLOP of the hand-written step (forward, dW2, da1, dW1)."""
    return 2 * batch * (784 * 392 + 392 * 10 + 10 * 392 + 10 * 392 + 392 * 784)


def numpy_step(
    x: np.ndarray,
    y: np.ndarray,
    bs: np.ndarray,
    lr: np.ndarray,
    w1: np.ndarray,
    b1: np.ndarray,
    w2: np.ndarray,
    b2: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """The plan's math, written by hand in float32 numpy."""
    z1 = x @ w1.T + b1
    a1 = np.maximum(z1, 0)
    logits = a1 @ w2.T + b2
    norm = logits - logits.max()
    e = np.exp(norm)
    s = e.sum(axis=1, keepdims=True)
    loss = -(y * (norm - np.log(s))).sum() / bs
    d_logits = (e / s * y.sum(axis=1, keepdims=True) - y) / bs
    dw2 = d_logits.T @ a1
    db2 = d_logits.sum(axis=0)
    dz1 = (d_logits @ w2) * (z1 > 0)
    dw1 = dz1.T @ x
    db1 = dz1.sum(axis=0)
    acc = (logits.argmax(1) == y.argmax(1)).sum().astype(np.float32) / bs
    return loss, acc, w1 - lr * dw1, b1 - lr * db1, w2 - lr * dw2, b2 - lr * db2


def sgemm_peak() -> dict[str, float]:
    """numpy sgemm GFLOP/s on large squares and on the plan's GEMM shapes (batch 64)."""
    rng = np.random.default_rng(0)
    out: dict[str, float] = {}
    for n in (1024, 2048):
        a = rng.random((n, n), dtype=np.float32)
        a @ a
        reps = 10 if n == 1024 else 3
        t = min(_time(lambda a=a: a @ a) for _ in range(reps))
        out[f"square_{n}"] = 2 * n**3 / t / 1e9
    x = rng.random((64, 784), dtype=np.float32)
    w = rng.random((392, 784), dtype=np.float32)
    d = rng.random((64, 392), dtype=np.float32)
    t1 = min(_time(lambda: x @ w.T) for _ in range(50))
    t2 = min(_time(lambda: x.T @ d) for _ in range(50))
    out["mnist_b64_shapes"] = 2 * 2 * 64 * 784 * 392 / (t1 + t2) / 1e9
    return out


def _time(f: Callable[[], object]) -> float:
    t = time.perf_counter()
    f()
    return time.perf_counter() - t


def blas_info() -> list[dict[str, Any]]:
    try:
        import threadpoolctl

        return [
            {
                k: v
                for k, v in i.items()
                if k in ("internal_api", "architecture", "num_threads", "version")
            }
            for i in threadpoolctl.threadpool_info()
        ]
    except ImportError:  # pragma: no cover
        return []


def measure(
    fns: dict[str, Callable[[], object]], seconds: float, blocks: int = 3
) -> dict[str, float]:
    """Median seconds per call. Each contender runs in its own timed block (after a
    warm-up, so that another runtime's idle-spinning worker threads have gone to sleep);
    blocks alternate between contenders ``blocks`` times and the median of all samples
    is kept."""
    samples: dict[str, list[float]] = {k: [] for k in fns}
    per_block = seconds / blocks / len(fns)
    for _ in range(blocks):
        for k, f in fns.items():
            warm = time.perf_counter() + min(0.3, per_block / 3)
            while time.perf_counter() < warm:
                f()
            deadline = time.perf_counter() + per_block
            while time.perf_counter() < deadline:
                samples[k].append(_time(f))
    return {k: statistics.median(v) for k, v in samples.items()}


def rss_and_import() -> dict[str, float]:
    """Peak RSS (MB) of a process running 1,000 plan steps; ``import syft_rs`` time (ms)."""
    script = f"""
import numpy as np
from syft_rs import Plan, _core
data = open({str(CAPTURE / "uploaded_training_plan.pb")!r}, "rb").read()
params = _core.decode_state(open({str(CAPTURE / "uploaded_model_state.pb")!r}, "rb").read())
plan = Plan.from_protobuf(data)
rng = np.random.default_rng(0)
x = rng.random((64, 784), dtype=np.float32)
y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 64)]
params = list(params)
for _ in range(1000):
    out = plan.execute(x, y, np.array([64.0], np.float32), np.array([0.005], np.float32), *params)
    params = out[2:]
# VmHWM: peak RSS of this process image (ru_maxrss would include the forking parent's).
print([int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")][0] / 1024)
"""
    rss = float(
        subprocess.run(
            [sys.executable, "-c", script], check=True, capture_output=True, text=True
        ).stdout
    )
    imports = []
    for _ in range(7):
        r = subprocess.run(
            [
                sys.executable,
                "-c",
                "import time; t = time.perf_counter(); import syft_rs; print(time.perf_counter() - t)",
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        imports.append(float(r.stdout) * 1e3)
    return {"peak_rss_mb_1000_steps": rss, "import_ms_median": statistics.median(imports)}


def use_numpy_blas() -> str:
    """Register numpy's bundled OpenBLAS ``cblas_sgemm`` (ILP64) with the plan kernels."""
    import ctypes
    import glob

    from syft_rs import _core

    libs = glob.glob(
        os.path.join(os.path.dirname(np.__file__), "..", "numpy.libs", "libscipy_openblas64_*.so")
    )
    if not libs:
        raise SystemExit("numpy's bundled scipy-openblas was not found")
    fn = ctypes.CDLL(libs[0]).scipy_cblas_sgemm64_
    _core._set_external_sgemm(ctypes.cast(fn, ctypes.c_void_p).value)
    return os.path.basename(libs[0])


def main() -> None:
    import torch

    from syft_rs import Plan, _core

    backend = (
        f"numpy OpenBLAS ({use_numpy_blas()})"
        if NUMPY_BLAS
        else os.environ.get("SYFT_RS_GEMM", "gemm crate")
    )

    plan_bytes = (CAPTURE / "uploaded_training_plan.pb").read_bytes()
    plan = Plan.from_protobuf(plan_bytes)
    ts_bytes = _core.describe_message("Plan", plan_bytes)["torchscript"]
    script = torch.jit.load(io.BytesIO(ts_bytes))
    params = [
        np.array(p) for p in _core.decode_state((CAPTURE / "uploaded_model_state.pb").read_bytes())
    ]
    tparams = [torch.from_numpy(p) for p in params]
    load_before = os.getloadavg()
    peak = sgemm_peak()
    peak_gflops = max(peak.values())
    rng = np.random.default_rng(0)
    rows = []
    for batch in BATCHES:
        x = rng.random((batch, 784), dtype=np.float32)
        y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, batch)]
        bs = np.array([float(batch)], np.float32)
        lr = np.array([0.005], np.float32)
        tx, ty, tbs, tlr = (torch.from_numpy(a) for a in (x, y, bs, lr))
        ours = plan.execute(x, y, bs, lr, *params)
        with torch.no_grad():
            theirs = script(tx, ty, tbs, tlr, tparams)
        agree = max(float(np.abs(a - b.numpy()).max()) for a, b in zip(ours, theirs, strict=True))

        def run_ts(tx: Any = tx, ty: Any = ty, tbs: Any = tbs, tlr: Any = tlr) -> object:
            with torch.no_grad():
                return script(tx, ty, tbs, tlr, tparams)

        t = measure(
            {
                "syft_rs": lambda x=x, y=y, bs=bs, lr=lr: plan.execute(x, y, bs, lr, *params),
                "torchscript": run_ts,
                "numpy": lambda x=x, y=y, bs=bs, lr=lr: numpy_step(x, y, bs, lr, *params),
            },
            seconds=9.0 if batch < 256 else 12.0,
        )
        rows.append(
            {
                "batch": batch,
                "ms": {k: v * 1e3 for k, v in t.items()},
                "ratio_vs_torchscript": t["syft_rs"] / t["torchscript"],
                "ratio_vs_numpy": t["syft_rs"] / t["numpy"],
                "gflops": {
                    "syft_rs": plan_flop(batch) / t["syft_rs"] / 1e9,
                    "syft_rs_executed": executed_flop(batch) / t["syft_rs"] / 1e9,
                    "torchscript": plan_flop(batch) / t["torchscript"] / 1e9,
                    "numpy": numpy_flop(batch) / t["numpy"] / 1e9,
                },
                "plan_mflop": plan_flop(batch) / 1e6,
                "executed_mflop": executed_flop(batch) / 1e6,
                "numpy_mflop": numpy_flop(batch) / 1e6,
                "max_abs_diff_vs_torchscript": agree,
            }
        )
    extra = rss_and_import()
    result = {
        "bench": "bench_plan",
        "plan": "pygrid/capture/uploaded_training_plan.pb (torch dialect)",
        "plan_steps_after_optimization": plan._plan.num_steps,
        "plan_actions": len(plan.commands),
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "numpy": np.__version__,
        "blas": blas_info(),
        "openblas_env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")},
        "gemm_backend": backend,
        "loadavg_before_after": [load_before, os.getloadavg()],
        "numpy_sgemm_gflops": peak,
        "rows": rows,
        **extra,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"numpy sgemm peak: {peak_gflops:.0f} GFLOP/s ({', '.join(f'{k} {v:.0f}' for k, v in peak.items())})"
    )
    print()
    print(
        "| batch | syft_rs ms | TorchScript ms | numpy ms | vs TorchScript | vs numpy "
        "| syft_rs GFLOP/s executed (% of peak) | traced plan GFLOP/s |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        g = r["gflops"]["syft_rs_executed"]
        print(
            f"| {r['batch']} | {r['ms']['syft_rs']:.3f} | {r['ms']['torchscript']:.3f} | {r['ms']['numpy']:.3f} "
            f"| {r['ratio_vs_torchscript']:.2f}× | {r['ratio_vs_numpy']:.2f}× "
            f"| {g:.0f} ({100 * g / peak_gflops:.0f}%) | {r['gflops']['syft_rs']:.0f} |"
        )
    print()
    print(
        f"peak RSS, 1,000 steps at batch 64: {extra['peak_rss_mb_1000_steps']:.1f} MB; "
        f"import syft_rs: {extra['import_ms_median']:.1f} ms (median of 7)"
    )


if __name__ == "__main__":
    main()
