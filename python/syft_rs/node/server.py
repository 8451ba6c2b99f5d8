"""The node object and ways to serve it with hypercorn: blocking, in an anyio task group, or on
a background thread (for tests, demos and notebooks).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
from hypercorn.config import Config
from starlette.types import Receive, Scope, Send

from syft_rs.node.app import build_app
from syft_rs.node.service import NodeService
from syft_rs.node.store import Store

__all__ = ["Node", "RunningNode", "serve", "serve_node", "start_node"]

MIB = 1 << 20


class Node:
    """A PyGrid-compatible model-centric node: storage, cycle logic and the ASGI app.

    A ``Node`` is itself an ASGI application (``await node(scope, receive, send)``); serve it
    with :func:`serve`, :func:`serve_node` or :func:`start_node`.

    Args:
        db: SQLite file (created if absent; reopened with all its state), ``":memory:"``, or
            ``None`` for a temporary file deleted by :meth:`close`.
        max_body_bytes: Largest HTTP request body and WS text frame accepted (at least 64 MiB
            by default, as the protocol requires).
        speed_test_download_bytes: Size of the speed-test download sample.
        seed: Seed of the ``pool_selection: "random"`` admission draw.
        synchronous: SQLite ``synchronous`` pragma (``"FULL"``: every acknowledged write is on
            disk; ``"NORMAL"``: faster, survives process crashes but not power loss).
        timer_interval: Seconds between cycle-expiry checks (≤ 1 s).
    """

    def __init__(
        self,
        db: str | os.PathLike[str] | None = None,
        *,
        max_body_bytes: int = 128 * MIB,
        speed_test_download_bytes: int = 64 * MIB,
        seed: int | None = None,
        synchronous: str = "FULL",
        timer_interval: float = 0.5,
    ) -> None:
        if max_body_bytes < 1:
            raise ValueError("max_body_bytes must be positive")
        if speed_test_download_bytes < 0:
            raise ValueError("speed_test_download_bytes must be ≥ 0")
        if not 0 < timer_interval <= 1.0:
            raise ValueError("timer_interval must be in (0, 1] seconds")
        self.store = Store(db, synchronous=synchronous)
        self.service = NodeService(self.store, seed=seed)
        self.max_body_bytes = max_body_bytes
        self._started: list[Callable[[], None]] = []
        self.app = build_app(
            self.service,
            max_body_bytes=max_body_bytes,
            speed_test_download_bytes=speed_test_download_bytes,
            timer_interval=timer_interval,
            on_started=self._on_started,
        )

    @property
    def db_path(self) -> str:
        """Path of the SQLite database (``":memory:"`` for an in-memory one)."""
        return self.store.path

    def _on_started(self) -> None:
        for callback in self._started:
            callback()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    def close(self) -> None:
        """Close the database (and delete it if it was a temporary file)."""
        self.store.close()

    def hypercorn_config(self, sock: socket.socket) -> Config:
        """A hypercorn config serving this node on an already bound, listening socket."""
        config = Config()
        config.bind = [f"fd://{sock.detach()}"]
        config.websocket_max_message_size = max(self.max_body_bytes, 64 * MIB)
        config.accesslog = None
        config.errorlog = logging.getLogger("hypercorn.error")  # through logging, not stderr
        config.graceful_timeout = 2.0
        config.include_server_header = False
        return config


def bind_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening TCP socket; ``port=0`` picks a free port (read it with ``getsockname``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    return sock


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def _serve_on(
    node: Node, sock: socket.socket, shutdown_trigger: Callable[[], Awaitable[Any]] | None
) -> None:
    config = node.hypercorn_config(sock)
    app: Any = node.app  # starlette's ASGI types are not hypercorn's nominal ones
    try:
        asyncio.get_running_loop()
        under_trio = False
    except RuntimeError:  # no asyncio loop: the anyio backend is trio
        under_trio = True
    if under_trio:
        from hypercorn.trio import serve as trio_serve

        await trio_serve(app, config, shutdown_trigger=shutdown_trigger, mode="asgi")
    else:
        from hypercorn.asyncio import serve as asyncio_serve

        await asyncio_serve(app, config, shutdown_trigger=shutdown_trigger, mode="asgi")


async def serve(
    node: Node,
    host: str = "127.0.0.1",
    port: int = 5000,
    *,
    shutdown_trigger: Callable[[], Awaitable[Any]] | None = None,
    on_listening: Callable[[str], None] | None = None,
) -> None:
    """Serve ``node`` until ``shutdown_trigger`` returns (or SIGINT/SIGTERM when it is None).

    Works under asyncio and trio. ``on_listening(url)`` is called once the port is bound.
    """
    sock = bind_socket(host, port)
    bound_host, bound_port = sock.getsockname()[:2]
    if on_listening is not None:
        on_listening(_url(bound_host, bound_port))
    await _serve_on(node, sock, shutdown_trigger)


class RunningNode:
    """A node being served; returned by :func:`start_node` and :func:`serve_node`.

    Attributes:
        node: The :class:`Node`.
        url: ``http://host:port`` (the client's base URL; the WS URL is :attr:`ws_url`).
    """

    def __init__(self, node: Node, host: str, port: int) -> None:
        self.node = node
        self.host = host
        self.port = port
        self.url = _url(host, port)
        self.ws_url = "ws" + self.url[4:]
        self._stop: Callable[[], None] = lambda: None
        self._thread: threading.Thread | None = None
        self._owns_node = False
        self._error: BaseException | None = None

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving (graceful), wait for the server thread, close an owned node."""
        self._stop()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise RuntimeError("the node server thread did not stop")
            self._thread = None
        if self._owns_node:
            self._owns_node = False
            self.node.close()

    def __enter__(self) -> RunningNode:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _bind(
    node: Node | None, host: str, port: int, options: dict[str, Any]
) -> tuple[Node, socket.socket, RunningNode, bool]:
    """The node to serve (made from ``options`` when ``None``: then owned), its bound socket
    and the :class:`RunningNode` describing where it listens."""
    owned = node is None
    if node is None:
        node = Node(**options)
    elif options:
        raise TypeError("pass either a Node or Node options, not both")
    sock = bind_socket(host, port)
    bound_host, bound_port = sock.getsockname()[:2]
    return node, sock, RunningNode(node, bound_host, bound_port), owned


def start_node(
    node: Node | None = None, *, host: str = "127.0.0.1", port: int = 0, **options: Any
) -> RunningNode:
    """Serve a node on a background thread and return once it accepts requests.

    Args:
        node: The node to serve; when ``None`` a new :class:`Node` is made from ``options``
            (e.g. ``db=...``) and closed by :meth:`RunningNode.stop`.
        host: Interface to bind (loopback by default).
        port: Port; ``0`` picks a free one (see :attr:`RunningNode.url`).

    Example::

        with start_node() as running:
            syft = Syft(running.url, allow_insecure=True)
    """
    node, sock, running, owned = _bind(node, host, port, options)
    running._owns_node = owned
    started = threading.Event()
    loop_box: list[asyncio.AbstractEventLoop] = []
    stop_box: list[asyncio.Event] = []
    node._started.append(started.set)

    async def main() -> None:
        stop = asyncio.Event()
        loop_box.append(asyncio.get_running_loop())
        stop_box.append(stop)
        await _serve_on(node, sock, stop.wait)

    def target() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:
            running._error = exc
        finally:
            started.set()

    def request_stop() -> None:
        if loop_box and stop_box:
            try:
                loop_box[0].call_soon_threadsafe(stop_box[0].set)
            except RuntimeError:
                pass  # loop already closed

    running._stop = request_stop
    thread = threading.Thread(target=target, name=f"syft-rs-node:{running.port}", daemon=True)
    running._thread = thread
    thread.start()
    started.wait(30.0)
    node._started.remove(started.set)
    if running._error is not None or not thread.is_alive():
        running.stop()
        raise RuntimeError(f"the node failed to start: {running._error!r}")
    return running


@asynccontextmanager
async def serve_node(
    node: Node | None = None, *, host: str = "127.0.0.1", port: int = 0, **options: Any
) -> AsyncIterator[RunningNode]:
    """Serve a node in the current event loop (asyncio or trio) for the ``async with`` body.

    ``async with serve_node() as running: ...`` — arguments as :func:`start_node`.
    """
    node, sock, running, owned = _bind(node, host, port, options)
    stop = anyio.Event()
    started = anyio.Event()
    node._started.append(started.set)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(_serve_on, node, sock, stop.wait)
            with anyio.fail_after(30):
                await started.wait()
            try:
                yield running
            finally:
                stop.set()
    finally:
        node._started.remove(started.set)
        if owned:
            node.close()
