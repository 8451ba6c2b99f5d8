"""HTTP calls to a grid: JSON requests (never retried) and binary downloads (retried with backoff)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import anyio
import httpx

from syft_rs.errors import GridError
from syft_rs.grid.messages import error_message

__all__ = ["RetryPolicy", "download", "post_json", "raise_for_status", "transport_error"]

logger = logging.getLogger("syft_rs")


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff for idempotent downloads.

    Attempt ``k`` (0-based) that fails with a transport error, a timeout or a 5xx/429 answer
    is retried after ``min(backoff * factor**k, max_backoff)`` seconds, up to ``retries``
    extra attempts. 4xx answers are not retried.
    """

    retries: int = 3
    backoff: float = 0.25
    factor: float = 2.0
    max_backoff: float = 8.0

    def delay(self, attempt: int) -> float:
        return float(min(self.backoff * self.factor**attempt, self.max_backoff))


def transport_error(exc: BaseException, what: str) -> GridError:
    """Map an httpx exception to a :class:`GridError` with a readable message."""
    if isinstance(exc, httpx.TimeoutException):
        return GridError("Response timeout", raw=f"{what}: {exc!r}")
    if isinstance(exc, httpx.ConnectError):
        return GridError(f"Connection failed ({what}): {exc}", raw=repr(exc))
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return GridError(f"Connection dropped ({what}): {exc}", raw=repr(exc))
    return GridError(f"Request failed ({what}): {exc}", raw=repr(exc))


def raise_for_status(response: httpx.Response, body: bytes) -> None:
    """Raise :class:`GridError` for a non-2xx answer, with the server's ``error`` if any."""
    if 200 <= response.status_code < 300:
        return
    text = body.decode("utf-8", "replace")
    reason = response.reason_phrase or httpx.codes.get_reason_phrase(response.status_code)
    message = f"{response.status_code} {reason}".strip()
    try:
        obj = json.loads(text)
    except ValueError:
        obj = None
    if isinstance(obj, dict) and obj.get("error") is not None:
        raw = obj["error"] if isinstance(obj["error"], str) else repr(obj["error"])
        raise GridError(error_message(raw), raw=raw, status=response.status_code)
    raise GridError(message, raw=text or message, status=response.status_code)


def decode_json(response: httpx.Response, body: bytes) -> Any:
    """The JSON value of a 2xx answer.

    Raises:
        GridError: the body is not valid JSON.
    """
    try:
        return json.loads(body)
    except ValueError as exc:
        raise GridError(
            f"Invalid JSON from the grid: {exc}",
            raw=body.decode("utf-8", "replace"),
            status=response.status_code,
        ) from exc


async def post_json(
    client: httpx.AsyncClient, url: str, data: dict[str, Any], io_timeout: float
) -> Any:
    """POST ``data`` as JSON and return the decoded answer; one attempt only.

    Raises:
        GridError: transport failure, ``Response timeout``, non-2xx, invalid JSON.
    """
    with anyio.move_on_after(io_timeout) as scope:
        try:
            response = await client.post(url, json=data, timeout=io_timeout)
        except httpx.HTTPError as exc:
            raise transport_error(exc, f"POST {url}") from exc
    if scope.cancelled_caught:
        raise GridError("Response timeout", raw=f"POST {url}: no answer within {io_timeout} s")
    raise_for_status(response, response.content)
    return decode_json(response, response.content)


def _retryable(exc: GridError) -> bool:
    return exc.status is None or exc.status >= 500 or exc.status == 429


async def download(
    client: httpx.AsyncClient,
    url: str,
    params: dict[str, Any],
    *,
    io_timeout: float,
    retry: RetryPolicy,
) -> bytes:
    """GET binary content, retrying transport failures and 5xx answers with backoff.

    ``io_timeout`` bounds connecting and each wait for data (not the whole transfer, so large
    models on slow links still arrive). A body cut short (connection dropped mid-download)
    counts as a transport failure.

    Raises:
        GridError: a 4xx answer at once, or the last failure once the retries are spent.
    """
    attempt = 0
    while True:
        try:
            return await _download_once(client, url, params, io_timeout)
        except GridError as exc:
            if not _retryable(exc) or attempt >= retry.retries:
                if attempt:
                    exc.add_note(f"after {attempt + 1} attempts")
                raise
            delay = retry.delay(attempt)
            logger.info("download %s failed (%s); retry %d in %.2f s", url, exc, attempt + 1, delay)
            attempt += 1
            await anyio.sleep(delay)


async def _download_once(
    client: httpx.AsyncClient, url: str, params: dict[str, Any], io_timeout: float
) -> bytes:
    try:
        async with client.stream("GET", url, params=params, timeout=io_timeout) as response:
            body = await response.aread()
            received = response.num_bytes_downloaded
    except httpx.HTTPError as exc:
        raise transport_error(exc, f"GET {url}") from exc
    raise_for_status(response, body)
    expected = response.headers.get("content-length")
    if expected is not None and expected.isdigit() and int(expected) != received:
        raise GridError(
            f"Connection dropped (GET {url}): received {received} of {expected} bytes",
            raw=f"incomplete body: {received}/{expected}",
        )
    return body
