"""``syft-rs demo``: the whole federated loop on one machine, over real sockets.

An embedded node (free loopback port, temporary database) hosts an MLP for scikit-learn's
bundled digits dataset (8×8 images, 10 classes; no download). ``clients`` workers, each with
its own connection and its own shard of the training split, train one cycle each, in
parallel; their reports complete the cycle and the node averages them (through the hosted
averaging plan). After every cycle the new checkpoint is retrieved like an owner would and
evaluated with a numpy forward pass on a held-out split.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

import anyio
import httpx
import numpy as np
import numpy.typing as npt

from syft_rs.plans import MLP
from syft_rs.plans.host import host_mlp

__all__ = ["DemoConfig", "DemoResult", "load_digits_split", "run_demo"]


@dataclass(frozen=True)
class DemoConfig:
    """Settings of :func:`run_demo` (defaults reach ≈0.95 held-out accuracy in 5 cycles)."""

    clients: int = 4
    cycles: int = 5
    hidden: tuple[int, ...] = (32,)
    activation: str = "relu"
    lr: float = 0.3
    batch_size: int = 16
    epochs: int = 2
    test_fraction: float = 0.2
    seed: int = 0
    dialect: str = "list"

    def __post_init__(self) -> None:
        if self.clients < 1:
            raise ValueError("clients must be ≥ 1")
        if self.cycles < 1:
            raise ValueError("cycles must be ≥ 1")
        if not 0 < self.test_fraction < 1:
            raise ValueError("test_fraction must be in (0, 1)")
        if self.batch_size < 1 or self.epochs < 1 or self.lr <= 0:
            raise ValueError("batch_size and epochs must be ≥ 1 and lr > 0")
        if self.dialect not in ("list", "tfjs"):
            raise ValueError("dialect must be 'list' or 'tfjs'")


@dataclass
class DemoResult:
    """Outcome of :func:`run_demo`."""

    accuracies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    clients: int = 0
    url: str = ""

    @property
    def accuracy(self) -> float:
        """Held-out accuracy of the final checkpoint."""
        return self.accuracies[-1] if self.accuracies else 0.0

    def summary(self) -> dict[str, Any]:
        """The ``--json`` line."""
        return {
            "cycles": len(self.accuracies),
            "clients": self.clients,
            "accuracy": round(self.accuracy, 4),
            "seconds": round(self.seconds, 2),
        }


def load_digits_split(
    test_fraction: float, seed: int
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64], npt.NDArray[np.float32], npt.NDArray[np.int64]]:  # fmt: skip
    """scikit-learn's digits scaled to [0, 1], shuffled, split into (train, held-out).

    Raises:
        RuntimeError: scikit-learn is not installed (the ``demo`` extra).
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise RuntimeError(
            "syft-rs demo needs scikit-learn for its bundled digits dataset: "
            "pip install 'syft-rs[demo]'"
        ) from exc
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = round(len(x) * test_fraction)
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]


class _Progress:
    """Live progress: one rewritten status line on a terminal, plain lines otherwise."""

    def __init__(self, out: TextIO, clients: int, batches: int) -> None:
        self.out = out
        self.tty = out.isatty()
        self.done = [0] * clients
        self.batches = batches
        self.cycle = 0
        self._last = 0.0

    def start_cycle(self, cycle: int) -> None:
        self.cycle = cycle
        self.done = [0] * len(self.done)

    def batch(self, client: int) -> None:
        self.done[client] += 1
        now = time.monotonic()
        if self.tty and (now - self._last > 0.05 or self.done[client] == self.batches):
            self._last = now
            parts = " ".join(f"c{i + 1}:{d:>3}/{self.batches}" for i, d in enumerate(self.done))
            self.out.write(f"\r  cycle {self.cycle} training  {parts}")
            self.out.flush()

    def line(self, text: str) -> None:
        if self.tty:
            self.out.write("\r\x1b[2K")
        self.out.write(text + "\n")
        self.out.flush()


async def _retrieve_latest(client: httpx.AsyncClient, url: str, name: str, version: str) -> bytes:
    response = await client.get(
        f"{url}/model-centric/retrieve-model",
        params={"name": name, "version": version, "checkpoint": "latest"},
    )
    response.raise_for_status()
    return response.content


async def _run(
    config: DemoConfig, url: str, out: TextIO, on_cycle: Callable[[int, float], None] | None
) -> list[float]:
    from syft_rs import Syft, _core
    from syft_rs.demo.worker import train_one_cycle

    x_train, y_train, x_test, y_test = load_digits_split(config.test_fraction, config.seed)
    shards = np.array_split(np.arange(len(x_train)), config.clients)
    mlp = MLP((x_train.shape[1], *config.hidden, 10), activation=config.activation)
    name, version = "digits", "1.0"
    await host_mlp(
        url,
        mlp,
        name=name,
        version=version,
        batch_size=config.batch_size,
        lr=config.lr,
        max_updates=None,
        max_epochs=config.epochs,
        server_config={
            "max_diffs": config.clients,
            "min_workers": config.clients,
            "max_workers": config.clients,
            "num_cycles": config.cycles,
        },
        seed=config.seed,
    )
    batches = config.epochs * -(-len(shards[0]) // config.batch_size)
    progress = _Progress(out, config.clients, batches)
    progress.line(
        f"hosted '{name}' {version}: MLP {'-'.join(map(str, mlp.sizes))} ({config.activation}, "
        f"softmax CE), {config.clients} clients × {len(shards[0])} samples, "
        f"{len(x_test)} held out, {config.cycles} cycles"
    )
    accuracies: list[float] = []
    syfts = [
        Syft(url, allow_insecure=True, receive_operations_as=config.dialect)
        for _ in range(config.clients)
    ]
    try:
        async with httpx.AsyncClient(timeout=60.0) as http:
            for cycle in range(1, config.cycles + 1):
                started = time.monotonic()
                progress.start_cycle(cycle)
                results: list[Any] = [None] * config.clients

                async def client(k: int, cycle: int = cycle, results: list[Any] = results) -> None:
                    idx = shards[k]
                    results[k] = await train_one_cycle(
                        syfts[k],
                        name,
                        version,
                        x_train[idx],
                        y_train[idx],
                        seed=config.seed * 1000 + cycle * 100 + k,
                        on_batch=lambda _payload: progress.batch(k),
                    )

                async with anyio.create_task_group() as tg:
                    for k in range(config.clients):
                        tg.start_soon(client, k)
                for k, result in enumerate(results):
                    if result is None or result.status != "trained":
                        status = None if result is None else result.status
                        raise RuntimeError(
                            f"client {k + 1} was not trained in cycle {cycle}: {status}"
                        )
                params = _core.decode_state(await _retrieve_latest(http, url, name, version))
                accuracy = mlp.accuracy(params, x_test, y_test)
                accuracies.append(accuracy)
                losses = ", ".join(f"{r.loss:.3f}" for r in results)
                progress.line(
                    f"cycle {cycle}/{config.cycles}: client losses [{losses}]  "
                    f"held-out accuracy {accuracy:.4f}  ({time.monotonic() - started:.2f} s)"
                )
                if on_cycle is not None:
                    on_cycle(cycle, accuracy)
    finally:
        for syft in syfts:
            await syft.close()
    return accuracies


def run_demo(
    config: DemoConfig | None = None,
    *,
    out: TextIO | None = None,
    on_cycle: Callable[[int, float], None] | None = None,
) -> DemoResult:
    """Run the demo (blocking) and return per-cycle held-out accuracies.

    Raises:
        RuntimeError: scikit-learn is missing, or a client could not train in a cycle.
    """
    from syft_rs.node import start_node

    config = config or DemoConfig()
    out = out or sys.stdout
    load_digits_split(config.test_fraction, config.seed)  # fail fast without scikit-learn
    started = time.monotonic()
    result = DemoResult(clients=config.clients)
    with start_node() as node:
        result.url = node.url
        out.write(f"syft-rs node on {node.url} (temporary database)\n")
        result.accuracies = anyio.run(_run, config, node.url, out, on_cycle)
    result.seconds = time.monotonic() - started
    out.write(
        f"done: {len(result.accuracies)} cycles, {config.clients} clients, final held-out "
        f"accuracy {result.accuracy:.4f} in {result.seconds:.1f} s\n"
    )
    return result


def plot_accuracy(result: DemoResult, path: str) -> None:
    """Draw held-out accuracy per cycle into ``path`` (PNG).

    Raises:
        RuntimeError: matplotlib is not installed (the ``plot`` extra).
    """
    mpl = require_matplotlib()
    import matplotlib.pyplot as plt

    del mpl
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=120)
    cycles = list(range(1, len(result.accuracies) + 1))
    ax.plot(cycles, result.accuracies, marker="o")
    ax.set_xlabel("cycle")
    ax.set_ylabel("held-out accuracy")
    ax.set_ylim(0, 1)
    ax.set_xticks(cycles)
    ax.grid(alpha=0.3)
    ax.set_title(f"syft-rs demo: digits, {result.clients} clients")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def require_matplotlib() -> Any:
    """Import matplotlib with the non-interactive backend, or explain how to install it."""
    try:
        import matplotlib
    except ImportError as exc:
        raise RuntimeError("--plot needs matplotlib: pip install 'syft-rs[plot]'") from exc
    matplotlib.use("Agg")
    return matplotlib


def summary_line(result: DemoResult) -> str:
    """The single JSON line ``--json`` ends the output with."""
    return json.dumps(result.summary())
