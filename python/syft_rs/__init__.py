"""syft_rs: the syft.js federated-learning client for Python, on a Rust core."""

from __future__ import annotations

from syft_rs._core import __version__
from syft_rs.model import SyftModel

__all__ = ["SyftModel", "__version__"]
