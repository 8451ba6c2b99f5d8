"""Running federated learning end to end: workers on local data and the ``syft-rs demo``.

- :func:`~syft_rs.demo.worker.run_worker` / :func:`~syft_rs.demo.worker.train_one_cycle`:
  a worker that joins cycles of a hosted process and trains on a local dataset.
- :func:`~syft_rs.demo.run.run_demo`: embedded node, digits MLP, several clients, held-out
  accuracy per cycle.
"""

from __future__ import annotations

from syft_rs.demo.run import DemoConfig, DemoResult, run_demo
from syft_rs.demo.worker import CycleResult, WorkerStats, load_npz, run_worker, train_one_cycle

__all__ = [
    "CycleResult",
    "DemoConfig",
    "DemoResult",
    "WorkerStats",
    "load_npz",
    "run_demo",
    "run_worker",
    "train_one_cycle",
]
