"""syft_rs: the syft.js federated-learning client for Python, on a Rust core.

Public names are imported on first use (PEP 562), so ``import syft_rs`` stays cheap: a
process that only executes Plans never loads the network stack.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from syft_rs._core import __version__

if TYPE_CHECKING:
    from syft_rs.checkpoint import PlanTrainerCheckpoint
    from syft_rs.data import DataLoader, Dataset, TensorDataset
    from syft_rs.job import Job
    from syft_rs.model import SyftModel
    from syft_rs.plan import Plan
    from syft_rs.specs import PlanInputSpec, PlanOutputSpec
    from syft_rs.syft import Syft
    from syft_rs.trainer import PlanTrainer

# public name -> defining module
_LAZY = {
    "DataLoader": "syft_rs.data",
    "Dataset": "syft_rs.data",
    "Job": "syft_rs.job",
    "Plan": "syft_rs.plan",
    "PlanInputSpec": "syft_rs.specs",
    "PlanOutputSpec": "syft_rs.specs",
    "PlanTrainer": "syft_rs.trainer",
    "PlanTrainerCheckpoint": "syft_rs.checkpoint",
    "Syft": "syft_rs.syft",
    "SyftModel": "syft_rs.model",
    "TensorDataset": "syft_rs.data",
}

__all__ = [
    "DataLoader",
    "Dataset",
    "Job",
    "Plan",
    "PlanInputSpec",
    "PlanOutputSpec",
    "PlanTrainer",
    "PlanTrainerCheckpoint",
    "Syft",
    "SyftModel",
    "TensorDataset",
    "__version__",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'syft_rs' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
