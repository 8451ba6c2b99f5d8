"""An in-process PyGrid-like node for client tests: a raw ASGI app served by hypercorn on loopback.

It follows protocol.md for one hosted process (authenticate, speed test, cycle-request,
get-model, get-plan, report; WS and HTTP) and can be switched, per test, into the variants
seen in the wild and into failure modes: wrapped or flat HTTP bodies, numeric or timedelta
timeouts, ``rejected`` + ``error``, no ``request_id`` echo, answers that never come, invalid
JSON, HTTP errors, connections dropped in the middle of a download.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import threading
import uuid
from dataclasses import dataclass, field
from hashlib import sha256
from typing import Any
from urllib.parse import parse_qs

from hypercorn.asyncio import serve
from hypercorn.config import Config

PREFIX = "model-centric/"


@dataclass
class MockGrid:
    """Scenario knobs and recorded traffic. Change knobs before the client call under test."""

    model_name: str = "mnist"
    model_version: str = "1.0.0"
    model_bytes: bytes = b""
    plans: dict[str, bytes] = field(default_factory=dict)
    tfjs_plans: dict[str, bytes] = field(default_factory=dict)
    client_config: dict[str, Any] = field(default_factory=dict)
    protocols: dict[str, int] = field(default_factory=dict)
    # variants
    wrap_http: bool = False
    echo_request_id: bool = True
    ids_as_strings: bool = False
    requires_speed_test: bool = False
    speed_download_bytes: int = 1 << 20
    reject: bool = False
    reject_timeout: Any = None  # None: no timeout key
    cycle_error: str | None = None
    cycle_status: str | None = None  # overrides "accepted"
    auth_token: str | None = None
    # failures
    never_answer: set[str] = field(default_factory=set)  # message names, e.g. "authenticate"
    invalid_json: set[str] = field(default_factory=set)
    http_error: dict[str, tuple[int, bytes]] = field(
        default_factory=dict
    )  # route -> (status, body)
    http_error_times: int = 1_000_000  # how many requests the http_error applies to
    drop_downloads: int = 0  # this many get-model/get-plan answers are cut mid-body
    reverse_ws_answers: bool = False  # answer two WS messages in reverse order
    close_ws_on: set[str] = field(default_factory=set)  # close the WS instead of answering
    router_error_on: set[str] = field(default_factory=set)  # PyGrid's bare {"error": "'<type>'"}
    # records
    log: list[tuple[str, str, Any]] = field(default_factory=list)  # (transport, name, data)
    reports: list[dict[str, Any]] = field(default_factory=list)
    workers: dict[str, str] = field(default_factory=dict)  # worker_id -> request_key
    speed_reports: list[dict[str, Any]] = field(default_factory=list)
    ws_connections: int = 0
    open_ws: int = 0
    _held: list[tuple[Any, dict[str, Any]]] = field(default_factory=list)
    _release: asyncio.Event | None = None  # created in the server loop; set to end hangs

    # ---- message logic -----------------------------------------------------------------

    def count(self, name: str) -> int:
        return sum(1 for _, n, _ in self.log if n == name)

    def handle(self, name: str, data: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """(HTTP status, payload) of a model-centric message."""
        if name == "authenticate":
            if data.get("model_name") != self.model_name:
                return 401, {
                    "error": "Not found any process related with this cycle and worker ID."
                }
            if self.auth_token is not None and data.get("auth_token") != self.auth_token:
                if "auth_token" not in data:
                    return 400, {
                        "error": "Authentication is required, please pass an 'auth_token'."
                    }
                return 400, {"error": "The 'auth_token' you sent is invalid."}
            worker_id = str(uuid.uuid4())
            self.workers[worker_id] = ""
            return 200, {
                "status": "success",
                "worker_id": worker_id,
                "requires_speed_test": self.requires_speed_test,
            }
        if name == "cycle-request":
            if self.cycle_error is not None:
                return 200, {
                    "status": "rejected",
                    "error": self.cycle_error + "Traceback (most recent call last):\n  File x",
                }
            if data.get("worker_id") not in self.workers:
                return 200, {"status": "rejected", "error": "Worker ID not found!"}
            if (data.get("model"), data.get("version")) != (self.model_name, self.model_version):
                return 200, {
                    "status": "rejected",
                    "error": "Not found any process related with this cycle and worker ID.",
                }
            if self.requires_speed_test:
                for key in ("ping", "download", "upload"):
                    if key not in data:
                        return 200, {"status": "rejected", "error": f"'{key}' is required"}
                self.speed_reports.append({k: data[k] for k in ("ping", "download", "upload")})
            if self.reject:
                out: dict[str, Any] = {"status": "rejected"}
                if self.reject_timeout is not None:
                    out["timeout"] = self.reject_timeout
                return 200, out
            key = sha256(uuid.uuid4().hex.encode()).hexdigest()
            self.workers[data["worker_id"]] = key
            ident = str if self.ids_as_strings else int
            return 200, {
                "status": self.cycle_status or "accepted",
                "request_key": key,
                "version": self.model_version,
                "model": self.model_name,
                "plans": {n: ident(i + 2) for i, n in enumerate(self.plans)},
                "protocols": dict(self.protocols),
                "client_config": self.client_config,
                "model_id": ident(1),
            }
        if name == "report":
            for key in ("worker_id", "request_key", "diff"):
                if not isinstance(data.get(key), str):
                    return 400, {"error": f"'{key}' is required"}
            if self.workers.get(data["worker_id"]) != data["request_key"]:
                return 401, {"error": "Invalid worker ID or request key!"}
            self.reports.append(
                {
                    "worker_id": data["worker_id"],
                    "diff": base64.b64decode(data["diff"]),
                }
            )
            return 200, {"status": "success"}
        if name == "echo":  # test hook: answers with the request data
            return 200, {"echo": data}
        return 400, {"error": f"Unknown message type '{PREFIX + name}'."}

    def download(self, route: str, query: dict[str, str]) -> tuple[int, bytes]:
        worker, key = query.get("worker_id"), query.get("request_key")
        if worker not in self.workers:
            return 400, json.dumps({"error": "Worker ID not found!"}).encode()
        if not key or self.workers[worker] != key:
            return 401, json.dumps({"error": "Invalid request key!"}).encode()
        if route == "get-model":
            if query.get("model_id") != "1":
                return 400, json.dumps({"error": "Model ID not found!"}).encode()
            return 200, self.model_bytes
        names = list(self.plans)
        try:
            name = names[int(query.get("plan_id", "")) - 2]
        except (ValueError, IndexError):
            return 400, json.dumps({"error": "Plan ID not found!"}).encode()
        variant = query.get("receive_operations_as")
        if variant == "tfjs":
            return 200, self.tfjs_plans.get(name, self.plans[name])
        return 200, self.plans[name]

    # ---- ASGI --------------------------------------------------------------------------

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] == "websocket":
            await self._websocket(receive, send)
            return
        await self._http(scope, receive, send)

    async def _hang(self) -> None:
        if self._release is None:
            self._release = asyncio.Event()
        await self._release.wait()

    def release(self) -> None:
        """End every hanging handler (call on the server loop)."""
        if self._release is not None:
            self._release.set()

    async def _websocket(self, receive: Any, send: Any) -> None:
        msg = await receive()
        assert msg["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        self.ws_connections += 1
        self.open_ws += 1
        try:
            while True:
                msg = await receive()
                if msg["type"] == "websocket.disconnect":
                    return
                text = msg.get("text") or ""
                try:
                    req = json.loads(text)
                except json.JSONDecodeError as exc:
                    await self._ws_send(send, {"error": f"Invalid JSON: {exc}"})
                    continue
                mtype = str(req.get("type", ""))
                name = mtype[len(PREFIX) :] if mtype.startswith(PREFIX) else mtype
                self.log.append(("ws", name, req.get("data")))
                if name in self.never_answer:
                    continue
                if name in self.router_error_on:
                    await self._ws_send(send, {"error": f"'{mtype}'"})
                    continue
                if name in self.close_ws_on:
                    await send({"type": "websocket.close", "code": 1011})
                    return
                if name in self.invalid_json:
                    await send({"type": "websocket.send", "text": "{not json"})
                    continue
                _, payload = self.handle(name, req.get("data") or {})
                answer: dict[str, Any] = {"type": mtype, "data": payload}
                if self.echo_request_id and "request_id" in req:
                    answer["request_id"] = req["request_id"]
                if self.reverse_ws_answers:
                    self._held.append((send, answer))
                    if len(self._held) == 2:
                        for s, a in reversed(self._held):
                            await self._ws_send(s, a)
                        self._held.clear()
                    continue
                await self._ws_send(send, answer)
        finally:
            self.open_ws -= 1

    @staticmethod
    async def _ws_send(send: Any, obj: dict[str, Any]) -> None:
        await send({"type": "websocket.send", "text": json.dumps(obj)})

    async def _http(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        path = scope["path"].strip("/")
        route = path[len(PREFIX) :] if path.startswith(PREFIX) else path
        query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}
        self.log.append(("http", route, query if scope["method"] == "GET" else body[:200]))
        if route in self.never_answer:
            await self._hang()
            return
        if route in self.http_error and self.http_error_times > 0:
            self.http_error_times -= 1
            status, err = self.http_error[route]
            await _respond(send, status, err, b"application/json")
            return
        if route in self.invalid_json:
            await _respond(send, 200, b"<html>not json</html>", b"application/json")
            return
        if route == "speed-test":
            await self._speed_test(scope, query, body, send)
            return
        if route in ("get-model", "get-plan"):
            status, payload = self.download(route, query)
            if status == 200 and self.drop_downloads > 0:
                self.drop_downloads -= 1
                await send(
                    {
                        "type": "http.response.start",
                        "status": 200,
                        "headers": [
                            (b"content-type", b"application/octet-stream"),
                            (b"content-length", str(len(payload)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": payload[:10], "more_body": True})
                raise ConnectionAbortedError("mock: dropping the connection mid-download")
            ctype = b"application/octet-stream" if status == 200 else b"application/json"
            await _respond(send, status, payload, ctype)
            return
        try:
            data = json.loads(body or b"{}")
        except json.JSONDecodeError as exc:
            await _respond(send, 400, json.dumps({"error": str(exc)}).encode(), b"application/json")
            return
        status, payload = self.handle(route, data)
        if self.wrap_http and status == 200 and route in ("cycle-request", "report"):
            payload = {"type": PREFIX + route, "data": payload}
        await _respond(send, status, json.dumps(payload).encode(), b"application/json")

    async def _speed_test(
        self, scope: dict[str, Any], query: dict[str, str], body: bytes, send: Any
    ) -> None:
        if "worker_id" not in query or "random" not in query:
            await _respond(
                send,
                400,
                b"{\"error\": \"'worker_id' and 'random' are required\"}",
                b"application/json",
            )
            return
        if scope["method"] == "POST" or query.get("is_ping"):
            await _respond(send, 200, b"{}", b"application/json")
            return
        size = self.speed_download_bytes
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/octet-stream"),
                    (b"content-length", str(size).encode()),
                ],
            }
        )
        chunk = b"x" * 65536
        sent = 0
        while sent < size:
            piece = chunk[: min(len(chunk), size - sent)]
            sent += len(piece)
            await send({"type": "http.response.body", "body": piece, "more_body": sent < size})


async def _respond(send: Any, status: int, body: bytes, ctype: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", ctype), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class ServedGrid:
    """Serves the current :attr:`grid` with hypercorn on a loopback port, on its own thread
    and event loop. Tests swap in a fresh :class:`MockGrid` with :meth:`use`."""

    def __init__(self, grid: MockGrid | None = None) -> None:
        self.grid = grid or MockGrid()
        self._stop: asyncio.Event | None = None
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(128)
        self.port = self._sock.getsockname()[1]
        self.http_url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mock-grid", daemon=True)

    def _run(self) -> None:
        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            await self.grid(scope, receive, send)

        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            config = Config()
            config.loglevel = "ERROR"
            config.accesslog = None
            config.errorlog = None
            config.graceful_timeout = 0.5
            config.websocket_max_message_size = 64 * 1024 * 1024
            config.h11_max_incomplete_size = 64 * 1024 * 1024
            # hypercorn takes ownership of the fd it is given: hand it a duplicate.
            config.bind = [f"fd://{os.dup(self._sock.fileno())}"]
            self._started.set()
            await serve(app, config, shutdown_trigger=self._stop.wait, mode="asgi")  # type: ignore[arg-type]

        asyncio.run(main())

    def start(self) -> ServedGrid:
        self._thread.start()
        self._started.wait(10)
        return self

    def use(self, grid: MockGrid) -> MockGrid:
        """Serve ``grid`` from now on; handlers hanging in the previous grid are released."""
        old, self.grid = self.grid, grid
        if self._loop is not None:
            self._loop.call_soon_threadsafe(old.release)
        return grid

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.grid.release)
            if self._stop is not None:
                self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
        self._sock.close()
