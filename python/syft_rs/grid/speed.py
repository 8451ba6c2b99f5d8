"""Bounded speed test (protocol.md §5.3, D5): ping in ms, download and upload in Mbit/s."""

from __future__ import annotations

import os
import random
import ssl
import time
from dataclasses import dataclass

import anyio
import anyio.abc
import httpx

from syft_rs.errors import GridError
from syft_rs.grid.http import raise_for_status, transport_error

__all__ = ["SpeedLimits", "SpeedResult", "measure"]

_CHUNK = 64 * 1024


@dataclass(frozen=True)
class SpeedLimits:
    """Bounds of one speed test: per direction, seconds and bytes; number of pings."""

    max_seconds: float = 5.0
    max_bytes: int = 8 * 1024 * 1024
    ping_samples: int = 5


@dataclass(frozen=True)
class SpeedResult:
    """Measured values as sent in cycle-request."""

    ping: float
    download: float
    upload: float


def _rate(nbytes: int, seconds: float) -> float:
    """Mbit/s (mebibits) as syft.js computes it; 0 without bytes, 1000 for a zero duration."""
    if nbytes <= 0:
        return 0.0
    if seconds <= 0:
        return 1000.0
    return 8.0 * nbytes / 2**20 / seconds


def _params(worker_id: str, **extra: str) -> dict[str, str]:
    return {"worker_id": worker_id, "random": repr(random.random()), **extra}


async def measure(
    client: httpx.AsyncClient, url: str, worker_id: str, limits: SpeedLimits, io_timeout: float
) -> SpeedResult:
    """Run ping, download and upload one after the other, each bounded by ``limits``.

    Raises:
        GridError: any transport failure or HTTP error.
    """
    ping = await _ping(client, url, worker_id, limits, io_timeout)
    down = await _download(client, url, worker_id, limits, io_timeout)
    up = await _upload(client, url, worker_id, limits, io_timeout)
    return SpeedResult(ping=ping, download=down, upload=up)


async def _ping(
    client: httpx.AsyncClient, url: str, worker_id: str, limits: SpeedLimits, io_timeout: float
) -> float:
    samples: list[float] = []
    began = time.monotonic()
    for _ in range(max(1, limits.ping_samples)):
        t0 = time.monotonic()
        try:
            response = await client.get(
                url,
                params=_params(worker_id, is_ping="1"),
                timeout=io_timeout,
            )
        except httpx.HTTPError as exc:
            raise transport_error(exc, "speed test ping") from exc
        raise_for_status(response, response.content)
        samples.append((time.monotonic() - t0) * 1000.0)
        if time.monotonic() - began >= limits.max_seconds:
            break
    return sum(samples) / len(samples)


class _RawResponse:
    """Status line, headers and the first body bytes of a raw HTTP/1.1 exchange."""

    def __init__(self, status: int, reason: str, head_rest: bytes) -> None:
        self.status = status
        self.reason = reason
        self.body_start = head_rest


async def _connect(url: httpx.URL, io_timeout: float) -> anyio.abc.ByteStream:
    """A TCP (or TLS) stream to the URL's host: the speed test drives HTTP/1.1 by hand.

    Bounded transfers must be abandoned midway; httpx's streaming API leaves nested async
    generators suspended when a body is not read to its end (which trio reports), while a raw
    stream simply closes.
    """
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with anyio.fail_after(io_timeout):
            if url.scheme == "https":
                return await anyio.connect_tcp(
                    url.host,
                    port,
                    tls=True,
                    ssl_context=ssl.create_default_context(),
                    tls_standard_compatible=False,
                )
            return await anyio.connect_tcp(url.host, port)
    except TimeoutError as exc:
        raise GridError("Response timeout", raw=f"connecting to {url.host}:{port}") from exc
    except OSError as exc:
        raise GridError(f"Connection failed (speed test): {exc}", raw=repr(exc)) from exc


def _request_head(method: str, url: httpx.URL, extra: str = "") -> bytes:
    host = url.host if url.port is None else f"{url.host}:{url.port}"
    target = url.raw_path.decode("ascii")
    return (
        f"{method} {target} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: syft-rs\r\n"
        f"Connection: close\r\n{extra}\r\n"
    ).encode("ascii")


async def _read_head(stream: anyio.abc.ByteStream) -> _RawResponse:
    buf = b""
    while b"\r\n\r\n" not in buf:
        if len(buf) > 65536:
            raise GridError("Speed test: malformed HTTP answer", raw=buf[:200].decode("latin-1"))
        try:
            buf += await stream.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError, OSError) as exc:
            raise GridError("Connection dropped (speed test)", raw=repr(exc)) from exc
    head, rest = buf.split(b"\r\n\r\n", 1)
    status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = status_line.split(" ", 2)
    try:
        status = int(parts[1])
    except (IndexError, ValueError) as exc:
        raise GridError("Speed test: malformed HTTP answer", raw=status_line) from exc
    return _RawResponse(status, parts[2] if len(parts) > 2 else "", rest)


async def _raise_for_raw_status(stream: anyio.abc.ByteStream, resp: _RawResponse) -> None:
    if 200 <= resp.status < 300:
        return
    body = resp.body_start
    with anyio.move_on_after(1.0):
        try:
            while len(body) < 65536:
                body += await stream.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
            pass
    fake = httpx.Response(resp.status)
    raise_for_status(fake, body)


async def _download(
    client: httpx.AsyncClient, url: str, worker_id: str, limits: SpeedLimits, io_timeout: float
) -> float:
    target = httpx.URL(url, params=_params(worker_id))
    stream = await _connect(target, io_timeout)
    received = 0
    try:
        with anyio.fail_after(io_timeout):
            await stream.send(_request_head("GET", target))
            resp = await _read_head(stream)
        await _raise_for_raw_status(stream, resp)
        start = time.monotonic()
        received = len(resp.body_start)
        with anyio.move_on_after(limits.max_seconds):
            while received < limits.max_bytes:
                try:
                    received += len(await stream.receive(_CHUNK))
                except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                    break
        end = time.monotonic()
    except TimeoutError as exc:
        raise GridError("Response timeout", raw="speed test download") from exc
    finally:
        with anyio.CancelScope(shield=True):
            await stream.aclose()
    return _rate(min(received, limits.max_bytes), end - start)


async def _upload(
    client: httpx.AsyncClient, url: str, worker_id: str, limits: SpeedLimits, io_timeout: float
) -> float:
    target = httpx.URL(url, params=_params(worker_id))
    stream = await _connect(target, io_timeout)
    block = os.urandom(_CHUNK)
    total = limits.max_bytes
    sent = 0
    try:
        head = _request_head(
            "POST", target, f"Content-Type: application/octet-stream\r\nContent-Length: {total}\r\n"
        )
        with anyio.fail_after(io_timeout):
            await stream.send(head)
        start = time.monotonic()
        finished = False
        with anyio.move_on_after(limits.max_seconds):
            while sent < total:
                piece = block[: min(_CHUNK, total - sent)]
                try:
                    await stream.send(piece)
                except (anyio.BrokenResourceError, OSError) as exc:
                    raise GridError(
                        "Connection dropped (speed test upload)", raw=repr(exc)
                    ) from exc
                sent += len(piece)
            resp = await _read_head(stream)
            finished = True
        end = time.monotonic()
        if finished:
            await _raise_for_raw_status(stream, resp)
    finally:
        with anyio.CancelScope(shield=True):
            await stream.aclose()
    return _rate(sent, end - start)
