"""DataLoader benchmark: one epoch over 60,000 x 784 float32 (+ int64 labels) at batch 64.

Compares, in the same run, on the same arrays:
- syft_rs ``DataLoader(TensorDataset(X, y), batch_size=64)`` (Rust permutation + Rust row
  gather into fresh contiguous arrays),
- numpy fancy indexing ``X[idx], y[idx]`` over a ``numpy`` permutation (the hand-written
  loop a numpy user writes),
- torch ``DataLoader(TensorDataset(...), batch_size=64)`` (``num_workers=0``; torch is only
  in the ``bench`` extra).

Shuffled and sequential epochs are both timed; the contenders run in rotation ``--repeat`` times and the table
shows the best epoch of each (medians are in the JSON). Prints a markdown table and writes benches/results/bench_dataloader.json.

    .venv/bin/python benches/bench_dataloader.py [--repeat 15]
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

from syft_rs import DataLoader, TensorDataset

ROOT = Path(__file__).resolve().parents[1]
N, D, BS = 60_000, 784, 64


def timed(epochs: dict[str, Callable[[], int]], repeat: int) -> dict[str, dict[str, float]]:
    """Run the contenders in rotation ``repeat`` times (so load drift hits all alike)."""
    for epoch in epochs.values():
        epoch()  # warm-up: page in the arrays, build lazy state
    times: dict[str, list[float]] = {name: [] for name in epochs}
    for _ in range(repeat):
        for name, epoch in epochs.items():
            t0 = time.perf_counter()
            batches = epoch()
            times[name].append(time.perf_counter() - t0)
            assert batches == -(-N // BS), (name, batches)
    return {n: {"min": min(t), "median": statistics.median(t)} for n, t in times.items()}


def syft_epoch(X: np.ndarray, y: np.ndarray, shuffle: bool) -> Callable[[], int]:
    loader = DataLoader(TensorDataset(X, y), batch_size=BS, shuffle=shuffle, seed=0)

    def run() -> int:
        n = 0
        for _batch in loader:
            n += 1
        return n

    return run


def numpy_epoch(X: np.ndarray, y: np.ndarray, shuffle: bool) -> Callable[[], int]:
    rng = np.random.default_rng(0)

    def run() -> int:
        order = rng.permutation(N) if shuffle else np.arange(N)
        n = 0
        for start in range(0, N, BS):
            idx = order[start : start + BS]
            _batch = X[idx], y[idx]
            n += 1
        return n

    return run


def torch_epoch(X: np.ndarray, y: np.ndarray, shuffle: bool) -> Callable[[], int] | None:
    try:
        import torch
        from torch.utils.data import DataLoader as TorchLoader
        from torch.utils.data import TensorDataset as TorchDataset
    except ImportError:
        return None
    torch.manual_seed(0)
    loader = TorchLoader(
        TorchDataset(torch.from_numpy(X), torch.from_numpy(y)), batch_size=BS, shuffle=shuffle
    )

    def run() -> int:
        n = 0
        for _batch in loader:
            n += 1
        return n

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()

    rng = np.random.default_rng(1)
    X = rng.random((N, D), dtype=np.float32)
    y = rng.integers(0, 10, N).astype(np.int64)

    rows: list[dict[str, Any]] = []
    for shuffle in (True, False):
        epochs = {}
        for name, make in (("syft_rs", syft_epoch), ("numpy", numpy_epoch), ("torch", torch_epoch)):
            epoch = make(X, y, shuffle)
            if epoch is not None:
                epochs[name] = epoch
        stats = timed(epochs, args.repeat)
        entry: dict[str, Any] = {"shuffle": shuffle, "seconds": stats}
        best = {
            name: stats[name]["min"] if name in stats else None
            for name in ("syft_rs", "numpy", "torch")
        }
        entry.update(best)
        entry["numpy_over_syft_rs"] = best["numpy"] / best["syft_rs"]
        entry["torch_over_syft_rs"] = best["torch"] / best["syft_rs"] if best["torch"] else None
        rows.append(entry)

    try:
        import torch

        torch_version: str | None = torch.__version__
    except ImportError:
        torch_version = None
    result = {
        "benchmark": "one DataLoader epoch, 60000x784 float32 + int64 labels, batch 64",
        "repeat": args.repeat,
        "statistic": "best of repeat (seconds per epoch); medians under rows[].seconds",
        "numpy": np.__version__,
        "torch": torch_version,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "rows": rows,
    }
    out = ROOT / "benches" / "results" / "bench_dataloader.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")

    print(
        "| order | syft_rs (ms) | numpy X[idx] (ms) | torch DataLoader (ms) | numpy / syft_rs | torch / syft_rs |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        torch_ms = f"{r['torch'] * 1e3:.1f}" if r["torch"] else "n/a"
        torch_ratio = f"{r['torch_over_syft_rs']:.1f}x" if r["torch_over_syft_rs"] else "n/a"
        print(
            f"| {'shuffled' if r['shuffle'] else 'sequential'} | {r['syft_rs'] * 1e3:.1f} | "
            f"{r['numpy'] * 1e3:.1f} | {torch_ms} | {r['numpy_over_syft_rs']:.2f}x | {torch_ratio} |"
        )
    print(f"\nwritten {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
