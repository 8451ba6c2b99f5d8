"""Load benchmark of the node: N concurrent simulated clients complete one cycle on loopback.

The node runs as a real ``syft-rs node`` subprocess (its own interpreter, SQLite file, FULL
sync). The clients run in this process as anyio tasks, each with its own WS connection: each
one authenticates, requests a cycle, downloads the model over HTTP and reports a diff. The
process is hosted with ``max_diffs = N``, so the N-th report completes the cycle; the run then
checks that every report was counted exactly once (the new checkpoint must equal the
checkpoint minus the mean of the N distinct diffs, and the database must hold N completed
assignments). The same run is repeated with the JSON calls over HTTP instead of WS, and the
ratio is reported.

    .venv/bin/python benches/bench_load.py            # 200 clients, small model
    .venv/bin/python benches/bench_load.py --clients 50 --model mnist

Prints a table and writes benches/results/bench_load.json.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import anyio
import httpx
import numpy as np
from httpx_ws import aconnect_ws

from syft_rs import _core

ROOT = Path(__file__).resolve().parents[1]
VECTORS = Path(os.environ.get("SYFT_RS_VECTORS", ROOT.parent / "shared" / "vectors"))
MODELS = {
    "small": ("syftproto/state_two_f32_params.pb", "syftproto/plan_linreg_sgd.pb"),
    "mnist": ("pygrid/capture/uploaded_model_state.pb", "pygrid/capture/uploaded_training_plan.pb"),
}


SYNCHRONOUS = "FULL"


def start_node(db: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "syft_rs.cli", "node", "--port", "0", "--db", str(db)),
            *("--log-level", "WARNING", "--synchronous", SYNCHRONOUS),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("syft-rs node listening on "):
        proc.kill()
        raise RuntimeError(f"node did not start: {line!r}")
    return proc, line.split(" on ")[1].split()[0]


class WsCaller:
    """JSON calls over one WS connection (one request in flight, request_id checked)."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws

    async def __call__(self, name: str, data: dict[str, Any]) -> dict[str, Any]:
        rid = uuid.uuid4().hex
        await self.ws.send_text(
            json.dumps({"type": f"model-centric/{name}", "data": data, "request_id": rid})
        )
        reply = json.loads(await self.ws.receive_text())
        assert reply.get("request_id") == rid, reply
        result: dict[str, Any] = reply["data"]
        return result


class HttpCaller:
    def __init__(self, http: httpx.AsyncClient, url: str) -> None:
        self.http, self.url = http, url

    async def __call__(self, name: str, data: dict[str, Any]) -> dict[str, Any]:
        r = await self.http.post(f"{self.url}/model-centric/{name}", json=data)
        result: dict[str, Any] = r.json()
        return result


async def client(
    url: str,
    http: httpx.AsyncClient,
    transport: str,
    diff: str,
    model: bytes,
    stats: dict[str, list[float]],
) -> None:
    async def run(call: Any) -> None:
        auth = await call("authenticate", {"model_name": "load", "model_version": "1"})
        assert auth["status"] == "success", auth
        t0 = time.perf_counter()
        cycle = await call(
            "cycle-request",
            {
                "worker_id": auth["worker_id"],
                "model": "load",
                "version": "1",
                "ping": 1,
                "download": 1,
                "upload": 1,
            },
        )
        stats["cycle_request"].append(time.perf_counter() - t0)
        assert cycle["status"] == "accepted", cycle
        q = {
            "worker_id": auth["worker_id"],
            "request_key": cycle["request_key"],
            "model_id": cycle["model_id"],
        }
        got = await http.get(f"{url}/model-centric/get-model", params=q)
        assert got.status_code == 200 and got.content == model
        t0 = time.perf_counter()
        report = await call(
            "report",
            {"worker_id": auth["worker_id"], "request_key": cycle["request_key"], "diff": diff},
        )
        stats["report"].append(time.perf_counter() - t0)
        assert report == {"status": "success"}, report
        stats["done"].append(time.perf_counter())

    if transport == "ws":
        async with aconnect_ws("ws" + url[4:], http) as ws:
            await run(WsCaller(ws))
    else:
        await run(HttpCaller(http, url))


def host_request(model: bytes, plan: bytes, n: int) -> dict[str, Any]:
    return {
        "model": model.hex(),
        "plans": {"training_plan": plan.hex()},
        "client_config": {"name": "load", "version": "1"},
        "server_config": {"cycle_length": 3600, "max_diffs": n, "num_cycles": 1},
    }


async def one_run(
    n: int, transport: str, model: bytes, plan: bytes, limit_s: float
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "load.sqlite"
        proc, url = start_node(db)
        try:
            base = list(_core.decode_state(model))
            diffs = [
                _core.encode_state([np.full_like(p, (i + 1) / n) for p in base]) for i in range(n)
            ]
            encoded = [base64.b64encode(d).decode() for d in diffs]
            async with httpx.AsyncClient(timeout=limit_s) as http:
                async with aconnect_ws("ws" + url[4:], http) as ws:
                    assert (await WsCaller(ws)("host-training", host_request(model, plan, n))) == {
                        "status": "success"
                    }
                stats: dict[str, list[float]] = {"cycle_request": [], "report": [], "done": []}
                # One httpx client per simulated device, as real devices have (one shared pool
                # of N connections would measure httpcore's pool scan, not the node); made
                # before the clock starts, sharing one TLS context (unused on http://).
                tls = ssl.create_default_context()
                async with AsyncExitStack() as stack:
                    devices = [
                        await stack.enter_async_context(
                            httpx.AsyncClient(timeout=limit_s, verify=tls)
                        )
                        for _ in range(n)
                    ]
                    start = time.perf_counter()
                    with anyio.fail_after(limit_s):  # self-stopping
                        async with anyio.create_task_group() as tg:
                            for i in range(n):
                                tg.start_soon(
                                    client, url, devices[i], transport, encoded[i], model, stats
                                )
                    elapsed = max(stats["done"]) - start
                r = await http.get(
                    f"{url}/model-centric/retrieve-model",
                    params={"name": "load", "checkpoint": "2"},
                )
                assert r.status_code == 200, "the N-th report did not complete the cycle"
                checkpoint = list(_core.decode_state(r.content))
        finally:
            proc.terminate()
            proc.wait(30)
            assert proc.stdout is not None
            proc.stdout.close()
        # every report counted exactly once: N completed assignments, mean of N distinct diffs
        conn = sqlite3.connect(db)
        completed = conn.execute(
            "SELECT COUNT(*) FROM worker_cycle WHERE is_completed=1"
        ).fetchone()[0]
        conn.close()
        assert completed == n == len(stats["report"]), (completed, n)
        mean = np.float32(sum(range(1, n + 1)) / n / n)
        for p, c in zip(base, checkpoint, strict=True):
            np.testing.assert_allclose(c, p - mean, rtol=1e-5, atol=1e-6)
    cr = np.array(stats["cycle_request"]) * 1000
    rep = np.array(stats["report"]) * 1000
    return {
        "transport": transport,
        "clients": n,
        "seconds": elapsed,
        "reports_per_s": n / elapsed,
        "cycle_request_p50_ms": float(np.percentile(cr, 50)),
        "cycle_request_p95_ms": float(np.percentile(cr, 95)),
        "report_p95_ms": float(np.percentile(rep, 95)),
        "reports_counted": completed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--model", choices=sorted(MODELS), default="small")
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--synchronous", choices=["FULL", "NORMAL"], default="FULL")
    args = parser.parse_args()
    global SYNCHRONOUS
    SYNCHRONOUS = args.synchronous
    model_file, plan_file = MODELS[args.model]
    model = (VECTORS / model_file).read_bytes()
    plan = (VECTORS / plan_file).read_bytes()
    results = [
        anyio.run(one_run, args.clients, transport, model, plan, args.timeout)
        for transport in ("ws", "http")
    ]
    ws, http = results
    print(
        f"{args.clients} concurrent clients, model {args.model} ({len(model)} B), node in a subprocess"
    )
    print(
        f"{'transport':<10}{'reports/s':>12}{'cycle-req p50 ms':>18}{'cycle-req p95 ms':>18}{'report p95 ms':>15}{'counted':>9}"
    )
    for r in results:
        print(
            f"{r['transport']:<10}{r['reports_per_s']:>12.1f}{r['cycle_request_p50_ms']:>18.1f}"
            f"{r['cycle_request_p95_ms']:>18.1f}{r['report_p95_ms']:>15.1f}{r['reports_counted']:>9}"
        )
    ratio = ws["reports_per_s"] / http["reports_per_s"]
    print(f"ws / http reports/s ratio: {ratio:.2f}")
    out = ROOT / "benches" / "results" / "bench_load.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "bench": "bench_load",
                "model": args.model,
                "clients": args.clients,
                "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
                "results": results,
                "ws_over_http_reports_per_s": ratio,
            },
            indent=2,
        )
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
