"""The node's ASGI application (starlette): WebSocket at ``/``, HTTP under ``/model-centric/``.

Transport concerns only (protocol.md §3): envelopes, request ids, status codes, body bounds,
CORS, the speed test. The logic lives in :class:`~syft_rs.node.service.NodeService`, whose
blocking methods run in worker threads so that the event loop keeps serving.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import anyio
import anyio.to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from syft_rs.node.errors import RequestError
from syft_rs.node.service import NodeService

__all__ = ["PREFIXES", "build_app"]

log = logging.getLogger("syft_rs.node")

#: Route prefixes: the current one first, then the older aliases (§11).
PREFIXES = ("model-centric", "model_centric", "federated")

_OCTET = "application/octet-stream"
_CHUNK = b"x" * (1 << 20)


class _BodyTooLarge(Exception):
    pass


async def _read_body(request: Request, limit: int, *, keep: bool = True) -> bytes:
    """The request body, refusing more than ``limit`` bytes (discarded when ``keep`` is false)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _BodyTooLarge
        if keep:
            chunks.append(chunk)
    return b"".join(chunks)


class _SampleResponse(Response):
    """The speed-test download: a multipart body of ``size`` ASCII ``x``, sent in 1 MiB chunks.

    Written as a plain send loop (no async generator) so that a client that stops reading
    early, as bounded speed tests do, leaves nothing half-consumed behind.
    """

    def __init__(self, size: int) -> None:
        boundary = uuid.uuid4().hex
        self.head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="sample"\r\n\r\n'.encode()
        )
        self.tail = f"\r\n--{boundary}--\r\n".encode()
        self.size = size
        super().__init__(
            media_type=f"multipart/form-data; boundary={boundary}",
            headers={"Content-Length": str(len(self.head) + size + len(self.tail))},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.head, "more_body": True})
        left = self.size
        while left > 0:
            chunk = _CHUNK if left >= len(_CHUNK) else _CHUNK[:left]
            left -= len(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": self.tail, "more_body": False})


def _error(message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class _App:
    """Route handlers bound to one service and its options."""

    def __init__(
        self,
        service: NodeService,
        *,
        max_body_bytes: int,
        speed_test_download_bytes: int,
        timer_interval: float,
    ) -> None:
        self.service = service
        self.max_body_bytes = max_body_bytes
        self.speed_test_download_bytes = speed_test_download_bytes
        self.timer_interval = timer_interval
        self.on_started: list[Callable[[], None]] = []
        self.ws_handlers: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
            "host-training": service.host_training,
            "authenticate": service.authenticate,
            "cycle-request": service.cycle_request,
            "report": service.report,
        }

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await anyio.to_thread.run_sync(partial(fn, *args))

    # ---- lifespan and the expiry timer (§7.4) -------------------------------------------

    @asynccontextmanager
    async def lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        await self._call(self.service.expire_cycles)  # reloaded cycles are evaluated at once
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._timer)
            for callback in self.on_started:
                callback()
            try:
                yield
            finally:
                tg.cancel_scope.cancel()

    async def _timer(self) -> None:
        while True:
            await anyio.sleep(self.timer_interval)
            try:
                await self._call(self.service.expire_cycles)
            except Exception:
                log.exception("cycle expiry check failed")

    # ---- HTTP ----------------------------------------------------------------------------

    async def root(self, _request: Request) -> Response:
        return JSONResponse({"status": "ok", "service": "syft-rs node"})

    async def _guard(self, work: Awaitable[Response]) -> Response:
        try:
            return await work
        except RequestError as exc:
            return _error(exc.message, exc.status)
        except _BodyTooLarge:
            return _error(f"Request body exceeds {self.max_body_bytes} bytes", 413)
        except Exception as exc:
            log.exception("request failed")
            return _error(f"Internal server error: {type(exc).__name__}: {exc}", 500)

    async def _json_body(self, request: Request) -> dict[str, Any]:
        body = await _read_body(request, self.max_body_bytes)
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise RequestError(f"Invalid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise RequestError("Invalid JSON: expected an object")
        return data

    def post(
        self, fn: Callable[[Mapping[str, Any]], dict[str, Any]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def work(request: Request) -> Response:
            data = await self._json_body(request)
            return JSONResponse(await self._call(fn, data))

        async def endpoint(request: Request) -> Response:
            return await self._guard(work(request))

        return endpoint

    def download(
        self, fn: Callable[[Mapping[str, str]], bytes]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def work(request: Request) -> Response:
            body = await self._call(fn, dict(request.query_params))
            return Response(body, media_type=_OCTET)

        async def endpoint(request: Request) -> Response:
            return await self._guard(work(request))

        return endpoint

    async def speed_test(self, request: Request) -> Response:
        async def work() -> Response:
            query = request.query_params
            if "worker_id" not in query or "random" not in query:
                raise RequestError("'worker_id' and 'random' are required")
            if request.method == "POST":
                await _read_body(request, self.max_body_bytes, keep=False)
                return JSONResponse({})
            if "is_ping" in query:
                return JSONResponse({})
            return self._sample()

        return await self._guard(work())

    def _sample(self) -> Response:
        return _SampleResponse(self.speed_test_download_bytes)

    # ---- WebSocket (§3.2) ------------------------------------------------------------------

    async def websocket(self, websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                if message.get("bytes") is not None:
                    await websocket.close(code=1003)
                    return
                reply = await self.ws_message(message.get("text") or "")
                await websocket.send_text(json.dumps(reply))
        except (WebSocketDisconnect, anyio.ClosedResourceError, anyio.BrokenResourceError):
            return  # the peer went away mid-answer
        except Exception:
            # e.g. a send after the peer closed: end this connection only, quietly
            log.debug("WS connection ended abnormally", exc_info=True)

    async def ws_message(self, text: str) -> dict[str, Any]:
        """Answer one WS text frame (exactly one reply, request_id echoed when present)."""
        try:
            message = json.loads(text)
        except ValueError as exc:
            return _router_error(None, f"Invalid JSON: {exc}", None)
        if not isinstance(message, dict):
            return _router_error(None, "Invalid JSON: expected an object", None)
        has_id = "request_id" in message
        request_id = message.get("request_id")
        kind = message.get("type")
        if not isinstance(kind, str):
            return _router_error(None, "Missing 'type'.", message)
        if kind == "socket-ping":
            reply: dict[str, Any] = {"alive": "True"}
            if has_id:
                reply["request_id"] = request_id
            return reply
        prefix, _, name = kind.partition("/")
        handler = self.ws_handlers.get(name) if prefix in PREFIXES else None
        if handler is None:
            return _router_error(kind, f"Unknown message type '{kind}'.", message)
        data = message.get("data")
        if not isinstance(data, dict):
            text = "Missing 'data'." if data is None else "'data' must be an object."
            return _router_error(kind, text, message)
        try:
            answer = await self._call(handler, data)
        except RequestError as exc:
            answer = {"error": exc.message}
        except Exception as exc:
            log.exception("WS %s failed", kind)
            answer = {"error": f"Internal server error: {type(exc).__name__}: {exc}"}
        reply = {"type": kind, "data": answer}
        if has_id:
            reply["request_id"] = request_id
        return reply


def _router_error(kind: str | None, text: str, message: Mapping[str, Any] | None) -> dict[str, Any]:
    reply: dict[str, Any] = {"type": kind, "error": text, "data": {"error": text}}
    if message is not None and "request_id" in message:
        reply["request_id"] = message["request_id"]
    return reply


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _error(str(exc.detail), exc.status_code)


def build_app(
    service: NodeService,
    *,
    max_body_bytes: int,
    speed_test_download_bytes: int,
    timer_interval: float,
    on_started: Callable[[], None] | None = None,
) -> Starlette:
    """The ASGI application of a node over ``service`` (see :class:`syft_rs.node.Node`)."""
    handlers = _App(
        service,
        max_body_bytes=max_body_bytes,
        speed_test_download_bytes=speed_test_download_bytes,
        timer_interval=timer_interval,
    )
    if on_started is not None:
        handlers.on_started.append(on_started)
    routes: list[Route | WebSocketRoute] = [
        Route("/", handlers.root, methods=["GET"]),
        WebSocketRoute("/", handlers.websocket),
    ]
    for prefix in PREFIXES:
        for name, fn in (
            ("authenticate", service.authenticate),
            ("cycle-request", service.cycle_request),
            ("report", service.report),
        ):
            routes.append(Route(f"/{prefix}/{name}", handlers.post(fn), methods=["POST"]))
        for name, dl in (
            ("get-model", service.get_model),
            ("get-plan", service.get_plan),
            ("get-protocol", service.get_protocol),
            ("retrieve-model", service.retrieve_model),
        ):
            routes.append(Route(f"/{prefix}/{name}", handlers.download(dl), methods=["GET"]))
        routes.append(Route(f"/{prefix}/speed-test", handlers.speed_test, methods=["GET", "POST"]))
    return Starlette(
        routes=routes,
        middleware=[
            Middleware(
                CORSMiddleware, allow_origins=["*"], allow_methods=["*"], allow_headers=["*"]
            )
        ],
        exception_handlers={HTTPException: _http_error},
        lifespan=handlers.lifespan,
    )
