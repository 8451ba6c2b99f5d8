"""Job: one model's participation in training cycles (training.md §2, protocol.md §10)."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from syft_rs.errors import (
    GridError,
    GridUnknownCycleStatusError,
    ModelLoadFailedError,
    PlanLoadFailedError,
)
from syft_rs.events import EventEmitter
from syft_rs.grid.messages import parse_timeout
from syft_rs.specs import PlanInputSpec, PlanOutputSpec
from syft_rs.trainer import PlanTrainer

if TYPE_CHECKING:
    from syft_rs.checkpoint import PlanTrainerCheckpoint
    from syft_rs.grid.client import GridClient
    from syft_rs.model import SyftModel
    from syft_rs.plan import Plan

__all__ = ["Job"]

logger = logging.getLogger("syft_rs")


class Job:
    """A training job for one hosted model; made by :meth:`syft_rs.Syft.new_job`.

    Events: ``accepted`` (``{"model", "client_config"}``), ``rejected`` (``{"timeout"}``:
    seconds to wait before retrying, or ``None`` when the process is finished) and ``error``
    (the exception).

    Attributes:
        model_name, model_version, auth_token: As given.
        worker_id: From the last authenticate.
        requires_speed_test: Whether the node asked for a speed test.
        cycle_params: The raw accepted cycle-request payload.
        client_config: The model's client config (dict).
        model: The downloaded model (:class:`~syft_rs.SyftModel`).
        plans: Plan name → :class:`~syft_rs.Plan`.
        protocols: Protocol name → id (not downloaded).
    """

    def __init__(
        self,
        grid: GridClient,
        *,
        model_name: str,
        model_version: str | None,
        auth_token: str | None,
        receive_operations_as: str,
    ) -> None:
        self._grid = grid
        self._receive_operations_as = receive_operations_as
        self.model_name = model_name
        self.model_version = model_version
        self.auth_token = auth_token
        self.worker_id: str | None = None
        self.requires_speed_test = False
        self.request_key: str | None = None
        self.cycle_params: dict[str, Any] = {}
        self.client_config: dict[str, Any] = {}
        self.model: SyftModel | None = None
        self.plans: dict[str, Plan] = {}
        self.protocols: dict[str, Any] = {}
        self._events = EventEmitter(allowed=("accepted", "rejected", "error"))

    # ---- events ------------------------------------------------------------------------

    def on(self, event: str, handler: Callable[[Any], Any]) -> None:
        """Subscribe to ``accepted``, ``rejected`` or ``error`` (other names are ignored)."""
        self._events.on(event, handler)

    def off(self, event: str, handler: Callable[[Any], Any]) -> None:
        """Remove that handler's registrations for ``event``."""
        self._events.off(event, handler)

    # ---- cycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Authenticate, speed-test if asked, request a cycle, download model and plans.

        Emits ``accepted``, ``rejected`` or ``error``; protocol and download failures never
        raise from here. Exceptions raised by event handlers do propagate.
        """
        outcome: tuple[str, Any]
        try:
            outcome = await self._run_cycle_request()
        except Exception as exc:  # cancellation (BaseException) is not an error event
            await self._emit_error(exc)
            return
        await self._events.emit(*outcome)

    async def request(self) -> None:
        """Alias of :meth:`start`."""
        await self.start()

    async def _run_cycle_request(self) -> tuple[str, Any]:
        self.worker_id = None
        self.request_key = None
        auth_data: dict[str, Any] = {"model_name": self.model_name}
        if self.model_version is not None:
            auth_data["model_version"] = self.model_version
        if self.auth_token is not None:
            auth_data["auth_token"] = self.auth_token
        auth = await self._grid.send("authenticate", auth_data)
        worker_id = auth.get("worker_id")
        if not isinstance(worker_id, str | int) or isinstance(worker_id, bool) or worker_id == "":
            raise GridError("authenticate answer has no worker_id", raw=json.dumps(auth))
        self.worker_id = str(worker_id)
        self.requires_speed_test = bool(auth.get("requires_speed_test", False))

        ping = download = upload = 0.0
        if self.requires_speed_test:
            speed = await self._grid.speed_test(self.worker_id)
            ping, download, upload = speed.ping, speed.download, speed.upload

        cycle = await self._grid.send(
            "cycle-request",
            {
                "worker_id": self.worker_id,
                "model": self.model_name,
                "version": self.model_version,
                "ping": ping,
                "download": download,
                "upload": upload,
            },
        )
        status = cycle.get("status")
        if status == "rejected":
            return "rejected", {"timeout": parse_timeout(cycle.get("timeout"))}
        if status != "accepted":
            raise GridUnknownCycleStatusError(
                f"Unknown cycle status: {status!r}", raw=json.dumps(cycle, default=str)
            )

        request_key = cycle.get("request_key")
        model_id = cycle.get("model_id")
        plans = cycle.get("plans") or {}
        if not isinstance(request_key, str) or model_id is None or not isinstance(plans, dict):
            raise GridError(
                "accepted cycle-request answer lacks request_key, model_id or plans",
                raw=json.dumps(cycle, default=str),
            )
        client_config = cycle.get("client_config") or {}
        if not isinstance(client_config, dict):
            raise GridError(
                "accepted client_config is not an object", raw=json.dumps(cycle, default=str)
            )
        self.request_key = request_key
        self.cycle_params = cycle
        self.client_config = client_config
        protocols = cycle.get("protocols") or {}
        self.protocols = dict(protocols) if isinstance(protocols, dict) else {}

        from syft_rs.model import SyftModel

        ids = {"worker_id": self.worker_id, "request_key": request_key}
        model_bytes = await self._grid.get_bytes("get-model", {**ids, "model_id": model_id})
        try:
            model = SyftModel.from_protobuf(model_bytes)
        except ModelLoadFailedError:
            raise
        except Exception as exc:
            raise ModelLoadFailedError(f"Failed to load Model: {exc}") from exc

        loaded: dict[str, Plan] = {}
        if plans:
            from syft_rs.plan import Plan
        for name, plan_id in plans.items():
            plan_bytes = await self._grid.get_bytes(
                "get-plan",
                {**ids, "plan_id": plan_id, "receive_operations_as": self._receive_operations_as},
            )
            try:
                loaded[name] = Plan.from_protobuf(plan_bytes)
            except Exception as exc:
                raise PlanLoadFailedError(
                    f"Failed to load '{name}' Plan: {exc}", plan_name=name
                ) from exc
        self.model = model
        self.plans = loaded
        return "accepted", {"model": model, "client_config": client_config}

    async def _emit_error(self, exc: Exception) -> None:
        if not self._events.has_handlers("error"):
            logger.warning(
                "Job %r: %s: %s (no 'error' handler)", self.model_name, type(exc).__name__, exc
            )
            return
        await self._events.emit("error", exc)

    # ---- report ------------------------------------------------------------------------

    async def report(self, diff: bytes) -> None:
        """Send the serialized diff of this cycle (``original − trained``).

        Sent once: there are no automatic retries, and a timeout is reported as a
        :class:`GridError` saying the node may have received it.

        Raises:
            TypeError: ``diff`` is not bytes.
            RuntimeError: no accepted cycle to report for.
            GridError: any transport or server error.
        """
        if not isinstance(diff, bytes | bytearray | memoryview):
            raise TypeError(f"diff must be bytes, not {type(diff).__name__}")
        if self.worker_id is None or self.request_key is None:
            raise RuntimeError("report() needs an accepted cycle: call start() first")
        data = {
            "worker_id": self.worker_id,
            "request_key": self.request_key,
            "diff": base64.b64encode(bytes(diff)).decode("ascii"),
        }
        try:
            await self._grid.send("report", data)
        except GridError as exc:
            if exc.args and exc.args[0] == "Response timeout":
                exc.add_note(
                    "the report was sent once and not retried; the node may have received it"
                )
            raise

    # ---- training ----------------------------------------------------------------------

    def train(
        self,
        plan_name: str,
        *,
        inputs: Sequence[PlanInputSpec],
        outputs: Sequence[PlanOutputSpec],
        data: Any,
        target: Any = None,
        epochs: int | None = None,
        batch_size: int | None = None,
        steps_per_epoch: int | None = None,
        checkpoint: PlanTrainerCheckpoint | None = None,
        events: Mapping[str, Callable[[Any], Any]] | None = None,
    ) -> PlanTrainer:
        """A :class:`~syft_rs.PlanTrainer` for ``plan_name`` on the downloaded model (not started).

        Raises:
            ValueError: ``plan_name`` is not one of ``plans``, or invalid trainer arguments.
            RuntimeError: no model yet (the job has not been accepted).
        """
        if plan_name not in self.plans:
            raise ValueError(f"unknown plan {plan_name!r}; this job has {sorted(self.plans)}")
        if self.model is None:
            raise RuntimeError("train() needs the model of an accepted cycle")
        return PlanTrainer(
            self.model,
            self.plans[plan_name],
            inputs=inputs,
            outputs=outputs,
            data=data,
            target=target,
            epochs=epochs,
            batch_size=batch_size,
            steps_per_epoch=steps_per_epoch,
            client_config=self.client_config,
            checkpoint=checkpoint,
            events=events,
        )

    def __repr__(self) -> str:
        return f"Job(model_name={self.model_name!r}, model_version={self.model_version!r}, worker_id={self.worker_id!r})"
