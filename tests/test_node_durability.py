"""Durability: ``kill -9`` a real ``syft-rs node --db FILE`` process and restart it (§9).

Processes, checkpoints, cycle state and every acknowledged report must survive, and no
half-written checkpoint may ever be served.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import vector_path
from syft_rs import _core
from test_node_support import Client, client_for

pytestmark = pytest.mark.skipif(os.name != "posix", reason="needs SIGKILL")


@contextmanager
def node_process(db: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``syft-rs node --port 0 --db db`` as a subprocess; yields (process, url)."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "syft_rs.cli",
            "node",
            "--port",
            "0",
            "--db",
            str(db),
            "--log-level",
            "WARNING",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("syft-rs node listening on "), line
        url = line.split(" on ")[1].split()[0]
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


def kill9(proc: subprocess.Popen[str]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)


def capture(name: str) -> bytes:
    return vector_path("pygrid", "capture", name).read_bytes()


def params(state: bytes) -> list[np.ndarray]:
    return list(_core.decode_state(state))


def diffs(model: bytes, k: int) -> list[bytes]:
    base = params(model)
    return [_core.encode_state([np.full_like(p, 0.01 * (i + 1)) for p in base]) for i in range(k)]


def expected_after(model: bytes, ds: list[bytes]) -> list[np.ndarray]:
    parts = [params(d) for d in ds]
    out = []
    for i, p in enumerate(params(model)):
        acc = parts[0][i].copy()
        for d in parts[1:]:
            acc = acc + d[i]
        out.append(p - acc / np.asarray(len(ds), dtype=p.dtype))
    return out


def assert_db_consistent(db: Path, model: bytes) -> None:
    """Open the file directly: intact, and every stored checkpoint decodes with the model's layout."""
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        layout = [(p.shape, p.dtype) for p in params(model)]
        for (value,) in conn.execute("SELECT value FROM model_checkpoint"):
            assert [(p.shape, p.dtype) for p in params(bytes(value))] == layout
        latest = conn.execute(
            "SELECT COUNT(*) FROM model_checkpoint WHERE alias='latest'"
        ).fetchone()
        assert latest[0] == conn.execute("SELECT COUNT(*) FROM model").fetchone()[0]
    finally:
        conn.close()


def host(c: Client, model: bytes, max_diffs: int) -> None:
    data = {
        "model": model.hex(),
        "plans": {"training_plan": capture("uploaded_training_plan.pb").hex()},
        "client_config": {"name": "mnist", "version": "1.0.0"},
        "server_config": {"cycle_length": 3600, "max_diffs": max_diffs, "num_cycles": 0},
    }
    assert c.call("host-training", data) == {"status": "success"}


def join(c: Client) -> tuple[str, str]:
    wid, answer = c.join("mnist", "1.0.0")
    assert answer["status"] == "accepted"
    return wid, answer["request_key"]


def test_kill9_mid_cycle_keeps_acknowledged_reports(tmp_path: Path) -> None:
    db = tmp_path / "node.sqlite"
    model = capture("uploaded_model_state.pb")
    ds = diffs(model, 3)
    with node_process(db) as (proc, url), client_for(url) as c:
        host(c, model, max_diffs=3)
        workers = [join(c) for _ in range(3)]
        for (wid, key), d in zip(workers[:2], ds[:2], strict=True):
            assert c.report(wid, key, d) == {"status": "success"}
        kill9(proc)
    assert_db_consistent(db, model)
    with node_process(db) as (proc, url), client_for(url) as c:
        # process, cycle and assignments survived: the old keys still download
        wid, key = workers[2]
        r = c.get("get-model", worker_id=wid, request_key=key, model_id=1)
        assert r.status_code == 200 and r.content == model
        assert c.call(
            "host-training", {"client_config": {"name": "mnist", "version": "1.0.0"}}
        ) == {"error": "FL Process already exists."}
        # the two acknowledged reports survived: the third completes the cycle with all three
        assert c.report(wid, key, ds[2]) == {"status": "success"}
        got = params(c.checkpoint("mnist", "2").content)
        for g, w in zip(got, expected_after(model, ds), strict=True):
            np.testing.assert_array_equal(g, w)
        kill9(proc)
    assert_db_consistent(db, model)
    with node_process(db) as (_, url), client_for(url) as c:
        assert c.checkpoint("mnist").content == c.checkpoint("mnist", "2").content
        _, answer = c.join("mnist", "1.0.0")
        assert answer["status"] == "accepted"  # cycle 2 was opened and survived


@pytest.mark.parametrize("delay", [0.0, 0.01, 0.03, 0.08])
def test_kill9_around_averaging_report(tmp_path: Path, delay: float) -> None:
    """Kill while the report that triggers averaging is in flight: all or nothing."""
    db = tmp_path / "node.sqlite"
    model = capture("uploaded_model_state.pb")
    ds = diffs(model, 2)
    outcome: dict[str, Any] = {}
    with node_process(db) as (proc, url), client_for(url) as c:
        host(c, model, max_diffs=2)
        (w1, k1), (w2, k2) = join(c), join(c)
        assert c.report(w1, k1, ds[0]) == {"status": "success"}

        def send() -> None:
            try:
                with client_for(url) as c2:
                    outcome["answer"] = c2.report(w2, k2, ds[1])
            except Exception as exc:
                outcome["error"] = exc

        sender = threading.Thread(target=send)
        sender.start()
        time.sleep(delay)
        kill9(proc)
        sender.join(30)
    assert_db_consistent(db, model)
    acknowledged = outcome.get("answer") == {"status": "success"}
    want = expected_after(model, ds)
    with node_process(db) as (_, url), client_for(url) as c:
        second = c.checkpoint("mnist", "2")
        if acknowledged:
            assert second.status_code == 200
        if second.status_code != 200:
            # not committed: the cycle is still open and the report can be sent again
            assert c.checkpoint("mnist").content == model
            assert c.report(w2, k2, ds[1]) == {"status": "success"}
            second = c.checkpoint("mnist", "2")
        for g, w in zip(params(second.content), want, strict=True):
            np.testing.assert_array_equal(g, w)
        assert c.checkpoint("mnist").content == second.content


def test_cli_sigterm_is_graceful_and_temp_db_removed(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "syft_rs.cli", "node", "--port", "0", "--log-level", "WARNING"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    try:
        line = proc.stdout.readline()
        assert line.startswith("syft-rs node listening on http://127.0.0.1:"), line
        db = Path(line.split("(db: ")[1].rstrip().rstrip(")"))
        assert db.exists()
        with client_for(line.split(" on ")[1].split()[0]) as c:
            assert c.send("socket-ping", {}) == {"alive": "True"}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        assert not db.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        proc.stdout.close()
