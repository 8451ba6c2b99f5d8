"""Bounded speed test (protocol.md §5.3, D5): ping in ms, download and upload in Mbit/s."""

from __future__ import annotations

import os
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import anyio
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
                timeout=min(io_timeout, limits.max_seconds),
            )
        except httpx.HTTPError as exc:
            raise transport_error(exc, "speed test ping") from exc
        raise_for_status(response, response.content)
        samples.append((time.monotonic() - t0) * 1000.0)
        if time.monotonic() - began >= limits.max_seconds:
            break
    return sum(samples) / len(samples)


async def _download(
    client: httpx.AsyncClient, url: str, worker_id: str, limits: SpeedLimits, io_timeout: float
) -> float:
    received = 0
    start: float | None = None
    end: float | None = None
    try:
        async with client.stream(
            "GET", url, params=_params(worker_id), timeout=min(io_timeout, limits.max_seconds)
        ) as response:
            if not 200 <= response.status_code < 300:
                raise_for_status(response, await response.aread())
            start = time.monotonic()
            with anyio.move_on_after(limits.max_seconds):
                async for chunk in response.aiter_raw(_CHUNK):
                    received += len(chunk)
                    if received >= limits.max_bytes:
                        break
            end = time.monotonic()
    except httpx.HTTPError as exc:
        raise transport_error(exc, "speed test download") from exc
    assert start is not None and end is not None
    return _rate(received, end - start)


async def _upload(
    client: httpx.AsyncClient, url: str, worker_id: str, limits: SpeedLimits, io_timeout: float
) -> float:
    sent = 0
    start: float | None = None
    block = os.urandom(_CHUNK)

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent, start
        while sent < limits.max_bytes:
            piece = block[: min(_CHUNK, limits.max_bytes - sent)]
            if start is None:
                start = time.monotonic()
            yield piece
            sent += len(piece)

    answered = False
    with anyio.move_on_after(limits.max_seconds):
        try:
            response = await client.post(
                url, params=_params(worker_id), content=body(), timeout=io_timeout
            )
        except httpx.HTTPError as exc:
            raise transport_error(exc, "speed test upload") from exc
        raise_for_status(response, response.content)
        answered = True
    end = time.monotonic()
    if not answered and sent == 0:
        raise GridError("Speed test upload: no bytes could be sent within the time bound")
    return _rate(sent, end - start) if start is not None else 0.0
