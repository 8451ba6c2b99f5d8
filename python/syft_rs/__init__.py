"""syft_rs: the syft.js federated-learning client for Python, on a Rust core."""

from __future__ import annotations

from syft_rs._core import __version__
from syft_rs.model import SyftModel
from syft_rs.plan import Plan

__all__ = ["Plan", "SyftModel", "__version__"]
