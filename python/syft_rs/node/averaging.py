"""Federated averaging of reported diffs (protocol.md §8).

All arithmetic runs in the Rust core: the plain mean through ``_core.mean_diffs`` and the
update ``new = old − avg`` through ``_core.apply_diff``; a hosted averaging plan runs on the
Rust interpreter (``_core.Plan``). Python only sequences the calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from syft_rs import _core

__all__ = ["AveragingError", "average"]


class AveragingError(RuntimeError):
    """Averaging failed; the cycle stays open and the checkpoint unchanged (§8.3)."""


def _plan_average(
    plan: _core.Plan, diffs: Sequence[bytes], model: list[npt.NDArray[Any]], iterative: bool
) -> list[npt.NDArray[Any]]:
    n = len(model)
    decoded = [_core.decode_state(d) for d in diffs]
    if iterative:
        avg: list[npt.NDArray[Any]] = list(decoded[0])
        for i, item in enumerate(decoded[1:], start=1):
            num = np.array([i], dtype=np.int64)
            avg = list(plan.execute([*avg, *item, num]))
            if len(avg) != n:
                raise AveragingError(f"averaging plan returned {len(avg)} tensors, model has {n}")
    else:
        if len(decoded) * n != plan.num_inputs:
            raise AveragingError(
                f"averaging plan takes {plan.num_inputs} inputs, "
                f"{len(decoded)} diffs of {n} tensors given"
            )
        avg = list(plan.execute([t for d in decoded for t in d]))
    if len(avg) != n:
        raise AveragingError(f"averaging plan returned {len(avg)} tensors, model has {n}")
    out = []
    for i, (a, p) in enumerate(zip(avg, model, strict=True)):
        a = np.asarray(a)
        if a.shape != p.shape:
            raise AveragingError(
                f"averaging plan output {i} has shape {list(a.shape)}, model tensor {list(p.shape)}"
            )
        out.append(np.ascontiguousarray(a.astype(p.dtype, copy=False)))
    return out


def average(
    checkpoint: bytes,
    diffs: Sequence[bytes],
    *,
    plan: _core.Plan | None = None,
    iterative: bool = False,
) -> bytes:
    """The next checkpoint: ``checkpoint − mean(diffs)`` (or the plan's average).

    Args:
        checkpoint: The current checkpoint (State bytes).
        diffs: Serialized diffs, in report completion order (at least one).
        plan: A hosted averaging plan, or ``None`` for the plain mean.
        iterative: How the plan is called (§8.3).

    Raises:
        AveragingError: anything failed; nothing is to be written.
    """
    if not diffs:
        raise AveragingError("no diffs to average")
    try:
        if plan is None:
            avg = _core.mean_diffs(list(diffs))
        else:
            avg = _plan_average(plan, diffs, _core.decode_state(checkpoint), iterative)
        return _core.apply_diff(checkpoint, avg)
    except AveragingError:
        raise
    except Exception as exc:  # any decode/shape/plan failure leaves the cycle open
        raise AveragingError(f"{type(exc).__name__}: {exc}") from exc
