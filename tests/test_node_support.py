"""Helpers shared by the node tests: a sync WS + HTTP client and small hosted processes."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from httpx_ws import WebSocketSession, connect_ws

from conftest import vector_path


def small_model() -> bytes:
    """State with W[2,3] and b[3], float32."""
    return vector_path("syftproto", "state_two_f32_params.pb").read_bytes()


def small_diff() -> bytes:
    return vector_path("syftproto", "state_two_f32_params_diff.pb").read_bytes()


def small_plan() -> bytes:
    return vector_path("syftproto", "plan_linreg_sgd.pb").read_bytes()


def host_data(
    name: str = "m",
    version: str = "1",
    *,
    model: bytes | None = None,
    plans: dict[str, bytes] | None = None,
    averaging_plan: bytes | None = None,
    protocols: dict[str, bytes] | None = None,
    **server_config: Any,
) -> dict[str, Any]:
    """A host-training ``data`` object for the small model (plain mean by default)."""
    server_config.setdefault("cycle_length", 3600)
    data: dict[str, Any] = {
        "model": (model if model is not None else small_model()).hex(),
        "plans": {k: v.hex() for k, v in (plans or {"training_plan": small_plan()}).items()},
        "protocols": {k: v.hex() for k, v in (protocols or {}).items()},
        "client_config": {"name": name, "version": version, "batch_size": 2, "lr": 0.1},
        "server_config": server_config,
    }
    if averaging_plan is not None:
        data["averaging_plan"] = averaging_plan.hex()
    return data


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class Client:
    """A blocking client of one node: HTTP via httpx, WS on one connection."""

    def __init__(self, url: str, http: httpx.Client, ws: WebSocketSession) -> None:
        self.url = url
        self.http = http
        self.ws = ws

    def send(self, kind: str, data: Any, request_id: str | None = None) -> dict[str, Any]:
        """One WS request; returns the whole reply (checks the request_id echo)."""
        message: dict[str, Any] = {"type": kind, "data": data}
        if request_id is not None:
            message["request_id"] = request_id
        self.ws.send_text(json.dumps(message))
        reply: dict[str, Any] = json.loads(self.ws.receive_text(timeout=60))
        if request_id is not None:
            assert reply.get("request_id") == request_id
        return reply

    def call(self, name: str, data: Any) -> dict[str, Any]:
        """``model-centric/<name>`` over WS with a fresh request_id; returns ``data``."""
        reply = self.send(f"model-centric/{name}", data, uuid.uuid4().hex)
        assert reply["type"] == f"model-centric/{name}"
        result: dict[str, Any] = reply["data"]
        return result

    def get(self, route: str, /, **params: Any) -> httpx.Response:
        return self.http.get(f"{self.url}/model-centric/{route}", params=params)

    def post(self, route: str, body: Any) -> httpx.Response:
        return self.http.post(f"{self.url}/model-centric/{route}", json=body)

    # -- a worker's steps --
    def host(self, **kwargs: Any) -> None:
        assert self.call("host-training", host_data(**kwargs)) == {"status": "success"}

    def join(
        self, name: str = "m", version: str = "1", **speeds: Any
    ) -> tuple[str, dict[str, Any]]:
        """authenticate + cycle-request; returns ``(worker_id, cycle answer)``."""
        auth = self.call("authenticate", {"model_name": name, "model_version": version})
        assert auth["status"] == "success", auth
        answer = self.call(
            "cycle-request",
            {"worker_id": auth["worker_id"], "model": name, "version": version, **speeds},
        )
        return auth["worker_id"], answer

    def report(self, worker_id: str, request_key: str, diff: bytes) -> dict[str, Any]:
        return self.call(
            "report", {"worker_id": worker_id, "request_key": request_key, "diff": b64(diff)}
        )

    def checkpoint(self, name: str = "m", checkpoint: str | None = None) -> httpx.Response:
        params = {"name": name} if checkpoint is None else {"name": name, "checkpoint": checkpoint}
        return self.get("retrieve-model", **params)


@contextmanager
def client_for(url: str) -> Iterator[Client]:
    with httpx.Client(timeout=60) as http, connect_ws("ws" + url[4:], http) as ws:
        yield Client(url, http, ws)
