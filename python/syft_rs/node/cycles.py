"""Cycle logic of the node (protocol.md §7): acceptance, readiness, completion.

Every method runs inside the caller's transaction (:class:`~syft_rs.node.store.Tx`), and
transactions are serialized, so completion is serialized per process (and across processes).
A report that completes a cycle commits the new checkpoint in the same transaction as the
report itself, before the report is answered.
"""

from __future__ import annotations

import hashlib
import logging
import random
import uuid
from datetime import datetime
from typing import Any

from syft_rs import _core
from syft_rs.node.averaging import AveragingError, average
from syft_rs.node.store import Cycle, Process, Tx, cycle_end

__all__ = ["CycleManager", "new_request_key"]

log = logging.getLogger("syft_rs.node")

NO_END_TIMEOUT = 60.0


def new_request_key() -> str:
    """A fresh request key: 64 lowercase hex characters (§4)."""
    return hashlib.sha256(uuid.uuid4().hex.encode()).hexdigest()


def _timeout(cycle: Cycle, now: datetime) -> float:
    if cycle.end is None:
        return NO_END_TIMEOUT
    return max(0.0, (cycle.end - now).total_seconds())


class CycleManager:
    """Acceptance and completion rules, with the averaging-plan cache.

    Args:
        seed: Seed of the ``pool_selection: "random"`` admission draw (reproducible runs).
    """

    def __init__(self, seed: int | None = None) -> None:
        self._rng = random.Random(seed)
        self._plans: dict[int, _core.Plan] = {}
        self._failed_cycles: set[int] = set()

    # ---- acceptance (§7.2) -------------------------------------------------------------

    def accept(
        self,
        tx: Tx,
        process: Process,
        worker_id: str,
        speeds: dict[str, float | None],
        now: datetime,
    ) -> dict[str, Any]:
        """Apply rules 1–6 to a validated cycle-request and answer it."""
        cfg = process.server_config
        self.check_expiry(tx, process, now)
        cycle = tx.current_cycle(process.id)
        if cycle is None:
            return {"status": "rejected"}
        rejected = {"status": "rejected", "timeout": _timeout(cycle, now)}
        if tx.assignment(cycle.id, worker_id) is not None:
            return rejected
        for key, field in (
            ("minimum_upload_speed", "upload"),
            ("minimum_download_speed", "download"),
        ):
            minimum = cfg.get(key)
            if minimum is not None:
                value = speeds.get(field)
                if value is None or value < minimum:
                    return rejected
        gap = cfg.get("do_not_reuse_workers_until_cycle") or 0
        if gap > 1:
            last = tx.last_sequence_of_worker(process.id, worker_id)
            if last is not None and cycle.sequence < last + gap:
                wait = last + gap - cycle.sequence
                length = cfg.get("cycle_length")
                if cycle.end is None or length is None:
                    return rejected
                return {"status": "rejected", "timeout": rejected["timeout"] + (wait - 1) * length}
        max_workers = cfg.get("max_workers")
        if max_workers is not None:
            assigned = tx.count_assigned(cycle.id)
            if assigned >= max_workers:
                return rejected
            if cfg.get("pool_selection") == "random":
                if self._rng.random() >= (max_workers - assigned) / max_workers:
                    return rejected
        request_key = new_request_key()
        tx.insert_assignment(cycle.id, worker_id, request_key, now)
        return {
            "status": "accepted",
            "request_key": request_key,
            "version": process.version,
            "model": process.name,
            "plans": tx.client_plans(process.id),
            "protocols": tx.protocols(process.id),
            "client_config": process.client_config,
            "model_id": process.model_id,
        }

    # ---- readiness and completion (§7.4) -------------------------------------------------

    def check_expiry(self, tx: Tx, process: Process, now: datetime) -> None:
        """The time trigger: complete (or close) the current cycle once ``now ≥ end``."""
        cycle = tx.current_cycle(process.id)
        if cycle is None or cycle.end is None or now < cycle.end:
            return
        min_diffs = process.server_config.get("min_diffs") or 1
        self._complete(tx, process, cycle, now, averaged=tx.count_received(cycle.id) >= min_diffs)

    def after_report(self, tx: Tx, process: Process, cycle: Cycle, now: datetime) -> None:
        """Evaluate the diff and no-limit triggers (and expiry) after a valid report."""
        self._failed_cycles.discard(cycle.id)  # a new report retries a failed averaging
        if cycle.end is not None and now >= cycle.end:
            self.check_expiry(tx, process, now)
            return
        cfg = process.server_config
        received = tx.count_received(cycle.id)
        max_diffs = cfg.get("max_diffs")
        if max_diffs is not None:
            ready = received >= max_diffs
        else:
            ready = cycle.end is None
        ready = (
            ready
            and received >= (cfg.get("min_diffs") or 1)
            and tx.count_assigned(cycle.id) >= (cfg.get("min_workers") or 0)
        )
        if ready:
            self._complete(tx, process, cycle, now, averaged=True)

    def _averaging_plan(self, tx: Tx, process: Process) -> _core.Plan | None:
        found = tx.avg_plan(process.id)
        if found is None:
            return None
        plan_id, value = found
        plan = self._plans.get(plan_id)
        if plan is None:
            plan = self._plans[plan_id] = _core.Plan.from_bytes(value)
        return plan

    def _complete(
        self, tx: Tx, process: Process, cycle: Cycle, now: datetime, *, averaged: bool
    ) -> None:
        number = None
        if averaged:
            if cycle.id in self._failed_cycles:
                return  # retried on the next valid report, not on every timer tick
            latest = tx.latest_checkpoint(process.model_id)
            assert latest is not None, "a hosted model always has checkpoint 1"
            try:
                plan = self._averaging_plan(tx, process)
                new = average(
                    latest[1],
                    tx.received_diffs(cycle.id),
                    plan=plan,
                    iterative=bool(process.server_config.get("iterative_plan", False)),
                )
            except (AveragingError, ValueError, NotImplementedError) as exc:
                self._failed_cycles.add(cycle.id)
                log.error(
                    "averaging cycle %d of %s %s failed (cycle stays open): %s",
                    cycle.sequence,
                    process.name,
                    process.version,
                    exc,
                )
                return
            number = latest[0] + 1
            tx.insert_checkpoint(process.model_id, number, new)
        tx.complete_cycle(cycle.id, number)
        log.info(
            "cycle %d of %s %s completed%s",
            cycle.sequence,
            process.name,
            process.version,
            f" → checkpoint {number}" if number else " without reports",
        )
        num_cycles = process.server_config.get("num_cycles") or 0
        if num_cycles == 0 or tx.checkpoint_cycles(process.id) < num_cycles:
            length = process.server_config.get("cycle_length")
            tx.insert_cycle(
                process.id, cycle.sequence + 1, process.version, now, cycle_end(now, length)
            )
