"""A federated-learning worker: join cycles of a hosted process and train on local data.

:func:`train_one_cycle` runs one cycle with the public client API (authenticate, cycle-request,
download, :class:`~syft_rs.PlanTrainer` over a shuffled :class:`~syft_rs.DataLoader`, report
the diff). :func:`run_worker` repeats it until the node rejects the worker without a timeout
(the process is finished) or a cycle budget is used up. ``syft-rs worker`` and
``syft-rs demo`` are built on these.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import numpy.typing as npt

from syft_rs.errors import GridError

__all__ = ["CycleResult", "WorkerStats", "load_npz", "run_worker", "train_one_cycle"]

# Keys tried, in order, for the features and the targets of an .npz file.
X_KEYS = ("x", "X", "data", "features", "inputs")
Y_KEYS = ("y", "Y", "target", "targets", "labels", "label")


def load_npz(
    path: str | Path, x_key: str | None = None, y_key: str | None = None
) -> tuple[npt.NDArray[np.float32], npt.NDArray[Any]]:
    """Features and targets from an ``.npz`` file.

    Features become float32 ``[N, features]`` (extra dims are flattened); targets are either
    class indices ``[N]`` (integers) or one-hot / regression targets ``[N, outputs]``.
    Without explicit keys the first of ``x, X, data, features, inputs`` and of
    ``y, Y, target, targets, labels, label`` present is used.

    Raises:
        ValueError: missing keys, mismatched lengths or empty data.
    """
    with np.load(Path(path), allow_pickle=False) as archive:
        keys = list(archive.keys())
        xk = x_key or next((k for k in X_KEYS if k in archive), None)
        yk = y_key or next((k for k in Y_KEYS if k in archive), None)
        if xk is None or xk not in archive or yk is None or yk not in archive:
            raise ValueError(
                f"{path}: need a features array ({'/'.join(X_KEYS)}) and a targets array "
                f"({'/'.join(Y_KEYS)}); the file has {keys}"
            )
        x = np.asarray(archive[xk])
        y = np.asarray(archive[yk])
    if len(x) == 0 or len(x) != len(y):
        raise ValueError(f"{path}: {len(x)} feature rows and {len(y)} targets")
    x = x.reshape(len(x), -1).astype(np.float32)
    if y.ndim > 2:
        raise ValueError(f"{path}: targets must be 1-D class indices or 2-D, got shape {y.shape}")
    return x, y


def _targets(y: npt.NDArray[Any], n_out: int) -> npt.NDArray[np.float32]:
    """Class indices become one-hot rows; 2-D targets are used as they are (float32)."""
    if y.ndim == 1:
        if not np.issubdtype(y.dtype, np.integer):
            if n_out == 1:
                return y.astype(np.float32).reshape(-1, 1)
            raise ValueError("1-D targets must be integer class indices")
        if y.min() < 0 or y.max() >= n_out:
            raise ValueError(f"class indices must be in [0, {n_out}), got {y.min()}…{y.max()}")
        one_hot: npt.NDArray[np.float32] = np.eye(n_out, dtype=np.float32)[y]
        return one_hot
    if y.shape[1] != n_out:
        raise ValueError(f"targets have {y.shape[1]} columns, the model outputs {n_out}")
    return y.astype(np.float32)


def _digest(params: list[npt.NDArray[Any]]) -> str:
    h = hashlib.blake2b(digest_size=16)
    for p in params:
        h.update(np.ascontiguousarray(p).tobytes())
    return h.hexdigest()


@dataclass
class CycleResult:
    """What happened in one attempt to join a cycle."""

    status: str  # "trained", "rejected", "same_model", "cycle_closed"
    timeout: float | None = None
    batches: int = 0
    loss: float | None = None
    accuracy: float | None = None
    model_digest: str | None = None


@dataclass
class WorkerStats:
    """Totals of a :func:`run_worker` run."""

    cycles: int = 0
    batches: int = 0
    last_loss: float | None = None
    last_accuracy: float | None = None
    finished: bool = False
    history: list[CycleResult] = field(default_factory=list)


async def train_one_cycle(
    syft: Any,
    name: str,
    version: str | None,
    x: npt.NDArray[Any],
    y: npt.NDArray[Any],
    *,
    auth_token: str | None = None,
    plan_name: str | None = None,
    seed: int | None = None,
    skip_model: str | None = None,
    on_batch: Callable[[dict[str, Any]], Any] | None = None,
) -> CycleResult:
    """Request a cycle from the node behind ``syft`` (a :class:`~syft_rs.Syft`), train, report.

    Args:
        syft: the client connection.
        name, version: the hosted process.
        x, y: local data; ``y`` as class indices or 2-D targets (see :func:`load_npz`).
        auth_token: JWT when the process requires one.
        plan_name: the training plan (default: ``"training_plan"`` if hosted, else the first).
        seed: shuffling seed of this cycle's DataLoader.
        skip_model: digest of a model already trained on; when the accepted model is the
            same (the cycle has not advanced), nothing is trained or reported.
        on_batch: called with every ``batch_end`` payload.

    Returns:
        ``status`` ``"trained"`` (with the last batch's loss/accuracy), ``"rejected"`` (with
        the node's timeout; ``None`` means the process is finished), ``"same_model"``, or
        ``"cycle_closed"`` (accepted, but the cycle completed before the model download).

    Raises:
        GridError and the load errors of the client (the Job's ``error`` event), and any
        training error.
    """
    from syft_rs import DataLoader, PlanInputSpec, PlanOutputSpec, TensorDataset

    job = syft.new_job(name, version, auth_token)
    outcome: dict[str, Any] = {}

    def accepted(payload: dict[str, Any]) -> None:
        outcome.update(kind="accepted", **payload)

    def rejected(payload: dict[str, Any]) -> None:
        outcome.update(kind="rejected", **payload)

    def failed(error: BaseException) -> None:
        outcome.update(kind="error", error=error)

    job.on("accepted", accepted)
    job.on("rejected", rejected)
    job.on("error", failed)
    await job.start()
    kind = outcome.get("kind")
    if kind == "error":
        error = outcome["error"]
        # Accepted, but the cycle completed (other workers' reports) before the download:
        # protocol.md §5.5 answers 400 "Cycle not found!". Benign; ask again.
        if isinstance(error, GridError) and str(error) == "Cycle not found!":
            return CycleResult("cycle_closed")
        raise error
    if kind == "rejected":
        return CycleResult("rejected", timeout=outcome.get("timeout"))
    if kind != "accepted":
        raise RuntimeError("the job ended without an accepted, rejected or error event")

    model = outcome["model"]
    client_config = outcome.get("client_config") or {}
    params = list(model.params)
    digest = _digest(params)
    if skip_model is not None and digest == skip_model:
        return CycleResult("same_model", model_digest=digest)

    if plan_name is None:
        plan_name = "training_plan" if "training_plan" in job.plans else next(iter(job.plans))
    plan = job.plans[plan_name]
    n = len(params)
    targets = _targets(y, int(params[-1].shape[0]))
    batch_size = int(client_config.get("batch_size") or 32)
    loader = DataLoader(
        TensorDataset(np.ascontiguousarray(x, dtype=np.float32), targets),
        batch_size=batch_size,
        shuffle=True,
        seed=seed,
    )
    inputs = [
        PlanInputSpec(PlanInputSpec.TYPE_DATA, index=0),
        PlanInputSpec(PlanInputSpec.TYPE_DATA, index=1),
        PlanInputSpec(PlanInputSpec.TYPE_BATCH_SIZE),
        PlanInputSpec(PlanInputSpec.TYPE_CLIENT_CONFIG_PARAM, "lr"),
        *(PlanInputSpec(PlanInputSpec.TYPE_MODEL_PARAM, index=i) for i in range(n)),
    ]
    # (loss, accuracy, *params) for classification plans, (loss, *params) otherwise.
    has_metric = int(getattr(plan, "num_outputs", n + 2)) >= n + 2
    outputs = [PlanOutputSpec(PlanOutputSpec.TYPE_LOSS)]
    if has_metric:
        outputs.append(PlanOutputSpec(PlanOutputSpec.TYPE_METRIC, "accuracy"))
    outputs += [PlanOutputSpec(PlanOutputSpec.TYPE_MODEL_PARAM, index=i) for i in range(n)]

    result = CycleResult("trained", model_digest=digest)

    async def batch_end(payload: dict[str, Any]) -> None:
        result.batches += 1
        loss = payload.get("loss")
        result.loss = None if loss is None else float(np.asarray(loss).reshape(-1)[0])
        acc = payload.get("metrics", {}).get("accuracy")
        result.accuracy = None if acc is None else float(np.asarray(acc).reshape(-1)[0])
        if on_batch is not None:
            maybe = on_batch(payload)
            if hasattr(maybe, "__await__"):
                await maybe

    trainer = job.train(
        plan_name, inputs=inputs, outputs=outputs, data=loader, events={"batch_end": batch_end}
    )
    await trainer.start()
    await job.report(model.create_serialized_diff_from_model(trainer.current_model))
    return result


async def run_worker(
    url: str,
    name: str,
    version: str | None,
    x: npt.NDArray[Any],
    y: npt.NDArray[Any],
    *,
    auth_token: str | None = None,
    cycles: int | None = None,
    seed: int | None = None,
    max_wait: float | None = 10.0,
    receive_operations_as: str = "list",
    on_cycle: Callable[[CycleResult], Any] | None = None,
) -> WorkerStats:
    """Join cycles and train until the node rejects without a timeout or ``cycles`` are done.

    After a rejection with a timeout the worker waits ``min(timeout, max_wait)`` seconds
    (``max_wait=None``: the full timeout) and asks again; when it is accepted with the model
    it already trained (the cycle has not advanced), or the cycle completes between its
    acceptance and its download, it neither trains nor reports, and waits the same way.

    Returns:
        Totals and the per-attempt history.
    """
    from syft_rs import Syft

    if cycles is not None and cycles < 1:
        raise ValueError("cycles must be ≥ 1")
    stats = WorkerStats()
    last_model: str | None = None
    attempt = 0
    async with Syft(url, allow_insecure=True, receive_operations_as=receive_operations_as) as syft:
        while cycles is None or stats.cycles < cycles:
            result = await train_one_cycle(
                syft,
                name,
                version,
                x,
                y,
                auth_token=auth_token,
                seed=None if seed is None else seed + attempt,
                skip_model=last_model,
            )
            attempt += 1
            stats.history.append(result)
            if on_cycle is not None:
                on_cycle(result)
            if result.status == "trained":
                stats.cycles += 1
                stats.batches += result.batches
                stats.last_loss, stats.last_accuracy = result.loss, result.accuracy
                last_model = result.model_digest
                continue
            if result.status == "rejected" and result.timeout is None:
                stats.finished = True
                break
            wait = 1.0 if result.timeout is None else result.timeout
            if max_wait is not None:
                wait = min(wait, max_wait)
            await anyio.sleep(max(wait, 0.05))
    return stats
