"""A small numpy training plan with a Plan's execution interface, for PlanTrainer loop tests.

It stands in for a downloaded Plan where the loop's bookkeeping is under test (events,
positions, stop/resume); the real Plans run in test_trainer_vectors.py and the end-to-end
tests. Its arithmetic is ordinary numpy, so expected parameters are computed independently
by :func:`reference_training`.
"""

from __future__ import annotations

from typing import Any

import anyio
import numpy as np

from syft_rs import PlanInputSpec, PlanOutputSpec

IN = PlanInputSpec
OUT = PlanOutputSpec


class LinearRegressionPlan:
    """``(X, y, batch_size, lr, W, b) -> (loss, mae, pair, W', b')`` by one SGD step on MSE.

    ``pair`` is a ``[2]``-shaped metric (to check that non-scalars arrive as arrays).
    Records the batch sizes it receives.
    """

    num_inputs = 6
    num_outputs = 5

    def __init__(self, fail_at: int | None = None) -> None:
        self.batch_sizes: list[int] = []
        self.calls = 0
        self.fail_at = fail_at

    def execute(self, *args: Any) -> list[np.ndarray]:
        X, y, bs, lr, W, b = args
        if self.fail_at is not None and self.calls == self.fail_at:
            self.calls += 1
            raise FloatingPointError("plan failed on purpose")
        self.calls += 1
        self.batch_sizes.append(int(bs))
        return step(X, y, int(bs), float(lr), W, b)

    async def execute_async(self, *args: Any) -> list[np.ndarray]:
        return await anyio.to_thread.run_sync(lambda: self.execute(*args))


def step(X, y, bs, lr, W, b) -> list[np.ndarray]:
    pred = X @ W + b
    err = pred - y
    loss = np.float32((err**2).sum() / bs)
    mae = np.array([np.abs(err).mean()], dtype=np.float32)
    gW = (2.0 / bs) * X.T @ err
    gb = (2.0 / bs) * err.sum(axis=0)
    pair = np.array([loss, loss * 2], dtype=np.float32)
    return [
        np.asarray(loss),
        mae,
        pair,
        (W - lr * gW).astype(np.float32),
        (b - lr * gb).astype(np.float32),
    ]


def make_data(n: int = 40, d: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    y = (X @ np.arange(1, d + 1, dtype=np.float32)[:, None] + 0.5).astype(np.float32)
    return X, y


def initial_params(d: int = 3) -> list[np.ndarray]:
    return [np.zeros((d, 1), np.float32), np.zeros((1,), np.float32)]


def tensor_inputs() -> list[PlanInputSpec]:
    return [
        IN(IN.TYPE_DATA),
        IN(IN.TYPE_TARGET),
        IN(IN.TYPE_BATCH_SIZE),
        IN(IN.TYPE_CLIENT_CONFIG_PARAM, "lr"),
        IN(IN.TYPE_MODEL_PARAM, "W", 0),
        IN(IN.TYPE_MODEL_PARAM, "b", 1),
    ]


def loader_inputs() -> list[PlanInputSpec]:
    return [IN(IN.TYPE_DATA, index=0), IN(IN.TYPE_DATA, index=1), *tensor_inputs()[2:]]


def outputs() -> list[PlanOutputSpec]:
    return [
        OUT(OUT.TYPE_LOSS),
        OUT(OUT.TYPE_METRIC, "mae"),
        OUT(OUT.TYPE_METRIC, "pair"),
        OUT(OUT.TYPE_MODEL_PARAM, "W", 0),
        OUT(OUT.TYPE_MODEL_PARAM, "b", 1),
    ]


def reference_training(
    X: np.ndarray, y: np.ndarray, bs: int, lr: float, epochs: int, steps: int | None = None
) -> list[np.ndarray]:
    """Tensor-mode training done directly: sequential full batches, ``steps`` per epoch."""
    W, b = initial_params(X.shape[1])
    n = X.shape[0] // bs
    if steps is not None:
        n = min(n, steps)
    for _ in range(epochs):
        for k in range(n):
            out = step(X[k * bs : (k + 1) * bs], y[k * bs : (k + 1) * bs], bs, lr, W, b)
            W, b = out[3], out[4]
    return [W, b]


class Recorder:
    """Subscribes to every trainer event and keeps ``(name, payload)`` in order."""

    NAMES = ("start", "end", "stop", "epochStart", "epochEnd", "batchStart", "batchEnd")

    def __init__(self, trainer: Any) -> None:
        self.events: list[tuple[str, Any]] = []
        for name in self.NAMES:
            trainer.on(name, lambda p, name=name: self.events.append((name, p)))

    def names(self) -> list[str]:
        return [n for n, _ in self.events]

    def of(self, name: str) -> list[Any]:
        return [p for n, p in self.events if n == name]
