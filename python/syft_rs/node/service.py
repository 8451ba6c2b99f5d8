"""The node's request handlers, independent of the transport (protocol.md §5).

Each public method takes the decoded request (a dict for JSON messages, the query for
downloads), runs as one transaction and returns the answer, or raises
:class:`~syft_rs.node.errors.RequestError` with the message and HTTP status to send. They are
blocking (SQLite, Rust): the ASGI layer calls them in worker threads.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from syft_rs import _core
from syft_rs.errors import DiffMismatchError
from syft_rs.node.auth import auth_enabled, check_token
from syft_rs.node.config import parse_host_request
from syft_rs.node.cycles import CycleManager
from syft_rs.node.errors import RequestError
from syft_rs.node.store import Cycle, Process, Store, Tx, cycle_end, utcnow

__all__ = ["NOT_FOUND_PROCESS", "NodeService"]

log = logging.getLogger("syft_rs.node")

NOT_FOUND_PROCESS = "Not found any process related with this cycle and worker ID."
_SPEED_FIELDS = ("ping", "download", "upload")


def _int_id(value: object) -> int | None:
    """An id sent as a JSON integer or a decimal string (§4)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdecimal():
        return int(value.strip())
    return None


def _is_speed(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0


class NodeService:
    """Transport-independent node logic over a :class:`Store`.

    Args:
        store: The database.
        seed: Seed for ``pool_selection: "random"``.
        clock: Source of "now" (UTC, timezone-aware).
    """

    def __init__(
        self, store: Store, *, seed: int | None = None, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.store = store
        self.cycles = CycleManager(seed)
        self.clock = clock

    # ---- owner ---------------------------------------------------------------------------

    def host_training(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """``model-centric/host-training`` (§5.1): store a process atomically."""
        client_config = data.get("client_config")
        if isinstance(client_config, dict):
            name, version = client_config.get("name"), client_config.get("version")
            if isinstance(name, str) and isinstance(version, str):
                with self.store.transaction() as tx:
                    if tx.process_exists(name, version):
                        raise RequestError("FL Process already exists.")
        request = parse_host_request(data)  # CPU work (Rust decode) outside the lock
        now = self.clock()
        with self.store.transaction() as tx:
            if tx.process_exists(request.name, request.version):
                raise RequestError("FL Process already exists.")
            pid, model_id = tx.insert_process(
                request.name, request.version, request.client_config, request.server_config
            )
            tx.insert_checkpoint(model_id, 1, request.model)
            # the averaging plan first: plan ids then match PyGrid's numbering
            if request.averaging_plan is not None:
                tx.insert_plan(
                    pid,
                    None,
                    is_avg_plan=True,
                    value=request.averaging_plan,
                    value_ts=None,
                    value_tfjs=None,
                    source=request.averaging_plan,
                )
            for plan_name, v in request.plans.items():
                tx.insert_plan(
                    pid,
                    plan_name,
                    is_avg_plan=False,
                    value=v.list,
                    value_ts=v.torchscript,
                    value_tfjs=v.tfjs,
                    source=v.source,
                )
            for proto_name, value in request.protocols.items():
                tx.insert_protocol(pid, proto_name, value)
            length = request.server_config.get("cycle_length")
            tx.insert_cycle(pid, 1, request.version, now, cycle_end(now, length))
        log.info("hosted %s %s", request.name, request.version)
        return {"status": "success"}

    def retrieve_model(self, query: Mapping[str, str]) -> bytes:
        """``GET retrieve-model`` (§5.9)."""
        name = query.get("name")
        if not name:
            raise RequestError("'name' is required")
        checkpoint = query.get("checkpoint")
        with self.store.transaction() as tx:
            process = tx.find_process(name, query.get("version"))
            if process is None:
                raise RequestError(NOT_FOUND_PROCESS, 404)
            self.cycles.check_expiry(tx, process, self.clock())
            if checkpoint is None:
                value = tx.checkpoint(process.model_id, alias="latest")
            elif checkpoint.strip().isdecimal():
                value = tx.checkpoint(process.model_id, number=int(checkpoint.strip()))
            else:
                value = tx.checkpoint(process.model_id, alias=checkpoint)
        if value is None:
            raise RequestError("Model ID not found!", 404)
        return value

    # ---- worker: join ----------------------------------------------------------------------

    def authenticate(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """``model-centric/authenticate`` (§5.2): check the token, create a worker."""
        name = data.get("model_name")
        if not isinstance(name, str) or not name:
            raise RequestError("'model_name' is required")
        version = data.get("model_version")
        with self.store.transaction() as tx:
            process = tx.find_process(name, version)
        if process is None:
            raise RequestError(NOT_FOUND_PROCESS, 401)
        error = check_token(process.server_config, data.get("auth_token"))  # may block (endpoint)
        if error is not None:
            raise RequestError(error)
        worker_id = str(uuid.uuid4())
        with self.store.transaction() as tx:
            tx.insert_worker(worker_id, self.clock())
        cfg = process.server_config
        return {
            "status": "success",
            "worker_id": worker_id,
            "requires_speed_test": cfg.get("minimum_upload_speed") is not None
            or cfg.get("minimum_download_speed") is not None,
        }

    def requires_auth(self, name: str) -> bool:
        """Whether the newest process ``name`` requires an ``auth_token`` (for tools)."""
        with self.store.transaction() as tx:
            process = tx.find_process(name)
        return process is not None and auth_enabled(process.server_config)

    def cycle_request(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """``model-centric/cycle-request`` (§5.4, §7.2). Errors are answered as
        ``{"status": "rejected", "error": …}``."""
        try:
            return self._cycle_request(data)
        except RequestError as exc:
            return {"status": "rejected", "error": exc.message}

    def _cycle_request(self, data: Mapping[str, Any]) -> dict[str, Any]:
        worker_id = data.get("worker_id")
        version = data.get("version")
        with self.store.transaction() as tx:
            if not tx.worker_exists(worker_id):
                raise RequestError("Worker ID not found!")
            assert isinstance(worker_id, str)
            process = (
                tx.find_process(data.get("model"), version) if isinstance(version, str) else None
            )
            if process is None:
                raise RequestError(NOT_FOUND_PROCESS)
            cfg = process.server_config
            required = (
                cfg.get("minimum_upload_speed") is not None
                or cfg.get("minimum_download_speed") is not None
            )
            if required:
                for f in _SPEED_FIELDS:
                    if data.get(f) is None:
                        raise RequestError(f"'{f}' is required")
            for f in _SPEED_FIELDS:
                if data.get(f) is not None and not _is_speed(data[f]):
                    raise RequestError(f"'{f}' needs to be a positive number")
            speeds = {f: (None if data.get(f) is None else float(data[f])) for f in _SPEED_FIELDS}
            tx.update_worker_speeds(worker_id, speeds["ping"], speeds["download"], speeds["upload"])
            return self.cycles.accept(tx, process, worker_id, speeds, self.clock())

    # ---- worker: downloads -----------------------------------------------------------------

    def _check_assignment(self, tx: Tx, process: Process, query: Mapping[str, str]) -> Cycle:
        """The get-model checks after "model exists" (§5.5), first failure wins."""
        self.cycles.check_expiry(tx, process, self.clock())
        cycle = tx.current_cycle(process.id)
        if cycle is None:
            raise RequestError("Cycle not found!")
        worker_id = query.get("worker_id")
        if not tx.worker_exists(worker_id):
            raise RequestError("Worker ID not found!")
        assert worker_id is not None
        assignment = tx.assignment(cycle.id, worker_id)
        if assignment is None:
            raise RequestError("Cycle not found!")
        if not hmac.compare_digest(
            str(assignment["request_key"]).encode(), (query.get("request_key") or "").encode()
        ):
            raise RequestError("Invalid request key!", 401)
        return cycle

    def get_model(self, query: Mapping[str, str]) -> bytes:
        """``GET get-model`` (§5.5): the latest checkpoint for an assigned worker."""
        model_id = _int_id(query.get("model_id"))
        with self.store.transaction() as tx:
            process = None if model_id is None else tx.process_of_model(model_id)
            if process is None:
                raise RequestError("Model ID not found!")
            self._check_assignment(tx, process, query)
            latest = tx.latest_checkpoint(process.model_id)
        assert latest is not None
        return latest[1]

    def get_plan(self, query: Mapping[str, str]) -> bytes:
        """``GET get-plan`` (§5.6): one variant of a client plan."""
        plan_id = _int_id(query.get("plan_id"))
        with self.store.transaction() as tx:
            plan = None if plan_id is None else tx.plan(plan_id)
            if plan is None or plan["is_avg_plan"]:
                raise RequestError("Plan ID not found!")
            process = tx.process_by_id(plan["process_id"])
            assert process is not None
            self._check_assignment(tx, process, query)
        variant = query.get("receive_operations_as") or "list"
        column = {"torchscript": "value_ts", "tfjs": "value_tfjs"}.get(variant, "value")
        if plan[column] is None:
            raise RequestError(f"Plan variant '{variant}' not available!")
        return bytes(plan[column])

    def get_protocol(self, query: Mapping[str, str]) -> bytes:
        """``GET get-protocol`` (§5.7); ``plan_id`` is accepted for ``protocol_id``."""
        raw = query.get("protocol_id", query.get("plan_id"))
        protocol_id = _int_id(raw)
        with self.store.transaction() as tx:
            protocol = None if protocol_id is None else tx.protocol(protocol_id)
            if protocol is None:
                raise RequestError("Protocol ID not found!")
            process = tx.process_by_id(protocol["process_id"])
            assert process is not None
            self._check_assignment(tx, process, query)
        return bytes(protocol["value"])

    # ---- worker: report --------------------------------------------------------------------

    def report(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """``model-centric/report`` (§5.8): validate, store, maybe complete the cycle."""
        for f in ("worker_id", "request_key", "diff"):
            if not isinstance(data.get(f), str):
                raise RequestError(f"'{f}' is required")
        worker_id, request_key = data["worker_id"], data["request_key"]
        bad_base64 = ""
        try:
            diff = base64.b64decode("".join(data["diff"].split()), validate=True)
        except (binascii.Error, ValueError) as exc:
            diff = None
            bad_base64 = str(exc)
        with self.store.transaction() as tx:  # read only: who is reporting, against what
            assignment = tx.assignment_by_key(worker_id, request_key)
            if assignment is None:
                raise RequestError("Invalid worker ID or request key!", 401)
            if diff is None:
                raise RequestError(f"Diff is not a valid State: invalid base64 ({bad_base64})")
            cycle = tx.cycle(assignment["cycle_id"])
            assert cycle is not None
            process = tx.process_by_id(cycle.process_id)
            assert process is not None
            latest = tx.latest_checkpoint(process.model_id)
            assert latest is not None
        # Validation decodes two States in Rust (GIL released) outside the store lock, so
        # reports are checked in parallel; every checkpoint shares the hosted layout.
        try:
            _core.check_diff(latest[1], diff)
        except DiffMismatchError as exc:
            raise RequestError(str(exc)) from None
        except ValueError as exc:  # PlanDecodeError
            text = str(exc)
            if not text.startswith("Diff is not a valid State"):
                text = f"Diff is not a valid State: {text}"
            raise RequestError(text) from None
        with self.store.transaction() as tx:  # all writes of the report: one transaction
            now = self.clock()  # inside the lock: completion order is commit order
            tx.store_report(assignment["id"], diff, now)
            cycle = tx.cycle(assignment["cycle_id"])  # it may have completed meanwhile
            assert cycle is not None
            if not cycle.is_completed:
                self.cycles.after_report(tx, process, cycle, now)
        return {"status": "success"}

    # ---- timer -------------------------------------------------------------------------------

    def expire_cycles(self) -> None:
        """Apply the time trigger to every process whose current cycle has ended."""
        now = self.clock()
        with self.store.transaction() as tx:
            pids = tx.expired_open_cycles(now)
        for pid in pids:
            with self.store.transaction() as tx:
                process = tx.process_by_id(pid)
                if process is not None:
                    self.cycles.check_expiry(tx, process, now)
