"""The shared WebSocket of a Syft client: one connection, many concurrent requests.

The upgrade handshake goes through httpx (same client, TLS and proxies as the HTTP calls);
frames are handled by wsproto on the upgraded network stream. There is no background task:
whichever waiting request finds the socket idle reads from it and hands each answer to the
request it belongs to (by ``request_id``; else the oldest pending request of that ``type``;
else the oldest pending request). So nothing outlives the calls that use the connection,
and the connection can be opened by one task and closed by another, on asyncio and trio.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import uuid
from collections import OrderedDict
from typing import Any

import anyio
import httpx
import wsproto
import wsproto.connection
import wsproto.events

from syft_rs.errors import GridError

__all__ = ["WebSocketConnection"]

logger = logging.getLogger("syft_rs")

_READ_CHUNK = 1 << 16


class _Pending:
    __slots__ = ("answer", "error", "request_id", "type")

    def __init__(self, request_id: str, type: str) -> None:
        self.request_id = request_id
        self.type = type
        self.answer: Any = None
        self.error: GridError | None = None

    @property
    def done(self) -> bool:
        return self.answer is not None or self.error is not None


class _Socket:
    """One upgraded connection: the httpx response that owns it and its wsproto state."""

    def __init__(self, response: httpx.Response, stream: Any) -> None:
        self.response = response
        self.stream = stream
        self.proto = wsproto.connection.Connection(wsproto.connection.ConnectionType.CLIENT)
        self.text_parts: list[str] = []
        self.closed = False

    async def aclose(self) -> None:
        if self.closed:
            return
        self.closed = True
        with anyio.CancelScope(shield=True):
            try:
                if self.proto.state is wsproto.connection.ConnectionState.OPEN:
                    data = self.proto.send(wsproto.events.CloseConnection(code=1000))
                    with anyio.move_on_after(1.0):
                        await self.stream.write(data)
            except Exception:  # the peer may be gone already; closing must not fail
                pass
            try:
                await self.stream.aclose()
            except Exception:
                pass
            try:
                await self.response.aclose()
            except Exception:
                pass


class WebSocketConnection:
    """Request/response over one lazily opened WebSocket.

    Args:
        client: The httpx client used for the upgrade request.
        url: ``ws://`` or ``wss://`` URL.
        request_timeout: Seconds to wait for each answer (and for connecting).
    """

    def __init__(self, client: httpx.AsyncClient, url: str, request_timeout: float) -> None:
        self._client = client
        self._url = url
        self._timeout = request_timeout
        self._socket: _Socket | None = None
        self._connect_lock = anyio.Lock()
        self._send_lock = anyio.Lock()
        self._pending: OrderedDict[str, _Pending] = OrderedDict()
        self._reading = False
        self._changed = anyio.Event()
        self._closed = False

    # ---- public ------------------------------------------------------------------------

    async def request(self, type: str, data: dict[str, Any]) -> Any:
        """Send ``{"type", "data", "request_id"}`` and return the decoded answer object.

        Raises:
            GridError: connection failure, ``Response timeout``, ``WS connection closed``,
                or an answer that is not valid JSON.
        """
        if self._closed:
            raise GridError("the Syft client is closed")
        pending = _Pending(uuid.uuid4().hex, type)
        frame = json.dumps({"type": type, "data": data, "request_id": pending.request_id})
        with anyio.move_on_after(self._timeout) as scope:
            sock = await self._ensure_socket()
            self._pending[pending.request_id] = pending
            try:
                await self._send(sock, frame)
                await self._wait_for(pending)
            finally:
                self._pending.pop(pending.request_id, None)
        if scope.cancelled_caught and not pending.done:
            raise GridError(
                "Response timeout", raw=f"no answer to {type!r} within {self._timeout} s"
            )
        if pending.error is not None:
            raise pending.error
        return pending.answer

    async def aclose(self) -> None:
        """Close the connection; pending requests fail with ``WS connection closed``."""
        self._closed = True
        await self._drop("WS connection closed")

    # ---- connection --------------------------------------------------------------------

    async def _ensure_socket(self) -> _Socket:
        async with self._connect_lock:
            if self._socket is not None and not self._socket.closed:
                return self._socket
            key = base64.b64encode(os.urandom(16)).decode("ascii")
            headers = {
                "connection": "upgrade",
                "upgrade": "websocket",
                "sec-websocket-key": key,
                "sec-websocket-version": "13",
            }
            url = "http" + self._url[2:]  # httpx speaks http(s); ws -> http, wss -> https
            try:
                request = self._client.build_request("GET", url, headers=headers)
                response = await self._client.send(request, stream=True)
            except httpx.HTTPError as exc:
                raise GridError(f"WS connection failed: {exc}", raw=repr(exc)) from exc
            if response.status_code != 101:
                body = b""
                try:
                    body = await response.aread()
                finally:
                    await response.aclose()
                raise GridError(
                    f"WS upgrade refused: {response.status_code} {response.reason_phrase or httpx.codes.get_reason_phrase(response.status_code)}",
                    raw=body.decode("utf-8", "replace"),
                    status=response.status_code,
                )
            self._socket = _Socket(response, response.extensions["network_stream"])
            return self._socket

    async def _send(self, sock: _Socket, text: str) -> None:
        async with self._send_lock:
            try:
                data = sock.proto.send(wsproto.events.TextMessage(data=text))
                await sock.stream.write(data)
            except BaseException as exc:
                # A frame cut short (error or cancellation) leaves the stream unusable.
                with anyio.CancelScope(shield=True):
                    await self._drop("WS connection closed", sock)
                if isinstance(exc, Exception):
                    raise GridError("WS connection closed", raw=repr(exc)) from exc
                raise

    async def _drop(self, reason: str, sock: _Socket | None = None) -> None:
        """Forget the socket (if it is still current) and fail every pending request."""
        sock = sock or self._socket
        if sock is not None and sock is self._socket:
            self._socket = None
        for p in list(self._pending.values()):
            if not p.done:
                p.error = GridError(reason)
        self._notify()
        if sock is not None:
            await sock.aclose()

    # ---- reading -----------------------------------------------------------------------

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def _wait_for(self, pending: _Pending) -> None:
        while not pending.done:
            if self._reading:
                changed = self._changed
                await changed.wait()
                continue
            sock = self._socket
            if sock is None:
                pending.error = GridError("WS connection closed")
                return
            self._reading = True
            try:
                await self._read_once(sock)
            finally:
                self._reading = False
                self._notify()

    async def _read_once(self, sock: _Socket) -> None:
        try:
            chunk = await sock.stream.read(_READ_CHUNK)
        except Exception as exc:
            logger.debug("WS read failed: %r", exc)
            chunk = b""
        if not chunk:
            await self._drop("WS connection closed", sock)
            return
        sock.proto.receive_data(chunk)
        for event in sock.proto.events():
            if isinstance(event, wsproto.events.TextMessage):
                sock.text_parts.append(event.data)
                if event.message_finished:
                    text = "".join(sock.text_parts)
                    sock.text_parts.clear()
                    self._dispatch(text)
            elif isinstance(event, wsproto.events.Ping):
                async with self._send_lock:
                    await sock.stream.write(sock.proto.send(event.response()))
            elif isinstance(event, wsproto.events.CloseConnection):
                if sock.proto.state is wsproto.connection.ConnectionState.REMOTE_CLOSING:
                    try:
                        await sock.stream.write(sock.proto.send(event.response()))
                    except Exception:
                        pass
                await self._drop("WS connection closed", sock)
                return
            elif isinstance(event, wsproto.events.BytesMessage):
                logger.warning(
                    "dropping an unexpected binary WS frame of %d bytes", len(event.data)
                )

    def _dispatch(self, text: str) -> None:
        try:
            msg = json.loads(text)
        except json.JSONDecodeError as exc:
            target = next(iter(self._pending.values()), None)
            if target is None:
                logger.warning("dropping an unparseable WS message: %.200s", text)
                return
            target.error = GridError(f"Invalid JSON from the grid: {exc}", raw=text)
            self._pending.pop(target.request_id, None)
            return
        target = self._match(msg)
        if target is None:
            logger.warning("dropping an unmatched WS message: %.200s", text)
            return
        target.answer = msg
        self._pending.pop(target.request_id, None)

    def _match(self, msg: Any) -> _Pending | None:
        if not isinstance(msg, dict):
            return next(iter(self._pending.values()), None)
        rid = msg.get("request_id")
        if rid is not None:
            return self._pending.get(str(rid))
        mtype = msg.get("type")
        if isinstance(mtype, str):
            return next((p for p in self._pending.values() if p.type == mtype), None)
        return next(iter(self._pending.values()), None)
