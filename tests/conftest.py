"""Shared test fixtures: the ../shared/vectors ground truth and the anyio backends."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# The steering repo lays shared/ beside the checkout (../shared); SYFT_RS_VECTORS overrides.
VECTORS = Path(
    os.environ.get("SYFT_RS_VECTORS", Path(__file__).resolve().parents[2] / "shared" / "vectors")
)


def vector_path(*parts: str) -> Path:
    """Path of a file under shared/vectors, skipping the test when shared/ is absent."""
    path = VECTORS.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"test vector {path} is absent (../shared/vectors is not beside the checkout)")
    return path


@pytest.fixture
def vectors() -> Path:
    """The shared/vectors directory (skips when it is absent)."""
    if not VECTORS.is_dir():
        pytest.skip(f"{VECTORS} is absent (../shared/vectors is not beside the checkout)")
    return VECTORS


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run every anyio test under both backends."""
    return str(request.param)
