"""syft_rs: the syft.js federated-learning client for Python, on a Rust core."""

from __future__ import annotations

from syft_rs._core import __version__
from syft_rs.checkpoint import PlanTrainerCheckpoint
from syft_rs.data import DataLoader, Dataset, TensorDataset
from syft_rs.job import Job
from syft_rs.model import SyftModel
from syft_rs.plan import Plan
from syft_rs.specs import PlanInputSpec, PlanOutputSpec
from syft_rs.syft import Syft
from syft_rs.trainer import PlanTrainer

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
