"""Syft: the client of a PyGrid-compatible node (training.md §2.1, protocol.md §3)."""

from __future__ import annotations

import math
from types import TracebackType
from typing import Any

from syft_rs.grid.client import GridClient
from syft_rs.grid.http import RetryPolicy
from syft_rs.grid.speed import SpeedLimits
from syft_rs.grid.urls import parse_grid_url
from syft_rs.job import Job

__all__ = ["Syft"]

_DIALECTS = ("list", "tfjs")


class Syft:
    """Client for model-centric federated learning against a PyGrid-compatible node.

    One ``Syft`` holds one WebSocket (opened on first use) and one HTTP connection pool,
    shared by all its Jobs. Close it with ``await syft.close()`` or use ``async with``.

    Args:
        url: ``wss://``/``ws://`` (messages over WebSocket) or ``https://``/``http://``
            (messages over HTTP). Model and plan downloads always use HTTP.
        verbose: Log more, and allow insecure URLs (as syft.js).
        allow_insecure: Allow ``ws://`` and ``http://`` URLs.
        peer_config: Kept for syft.js compatibility (WebRTC is not implemented).
        receive_operations_as: Plan dialect to download: ``"list"`` (torch ops) or ``"tfjs"``.
        request_timeout: Seconds to wait for each answer (and between download chunks).
        speed_test_max_seconds: Time bound of each speed-test direction.
        speed_test_max_bytes: Byte bound of each speed-test direction.
        speed_test_ping_samples: Number of pings.
        download_retries: Extra attempts of a failed model/plan download.
        retry_backoff: First backoff delay in seconds (doubles per attempt, at most 8 s).

    Raises:
        ValueError: a bad URL, an insecure URL without ``allow_insecure``/``verbose``, an
            unsupported ``receive_operations_as`` (``"torchscript"`` cannot run without
            torch), or non-positive bounds.

    Example:
        >>> async with Syft("ws://127.0.0.1:5000", allow_insecure=True) as syft:
        ...     job = syft.new_job("mnist", "1.0.0")
        ...     await job.start()
    """

    def __init__(
        self,
        url: str,
        *,
        verbose: bool = False,
        allow_insecure: bool = False,
        peer_config: Any = None,
        receive_operations_as: str = "list",
        request_timeout: float = 60.0,
        speed_test_max_seconds: float = 5.0,
        speed_test_max_bytes: int = 8388608,
        speed_test_ping_samples: int = 5,
        download_retries: int = 3,
        retry_backoff: float = 0.25,
    ) -> None:
        if receive_operations_as == "torchscript":
            raise ValueError(
                "receive_operations_as='torchscript' is not supported: TorchScript cannot be "
                "executed without torch; use 'list' (torch ops) or 'tfjs'"
            )
        if receive_operations_as not in _DIALECTS:
            raise ValueError(
                f"receive_operations_as must be one of {_DIALECTS}, not {receive_operations_as!r}"
            )
        self.urls = parse_grid_url(url, allow_insecure=bool(allow_insecure or verbose))
        self.url = url
        self.verbose = bool(verbose)
        self.allow_insecure = bool(allow_insecure)
        self.peer_config = peer_config
        self.receive_operations_as = receive_operations_as
        self.request_timeout = _positive(request_timeout, "request_timeout")
        limits = SpeedLimits(
            max_seconds=_positive(speed_test_max_seconds, "speed_test_max_seconds"),
            max_bytes=int(_positive(speed_test_max_bytes, "speed_test_max_bytes")),
            ping_samples=int(_positive(speed_test_ping_samples, "speed_test_ping_samples")),
        )
        if (
            isinstance(download_retries, bool)
            or not isinstance(download_retries, int)
            or download_retries < 0
        ):
            raise ValueError(f"download_retries must be an int >= 0, not {download_retries!r}")
        retry = RetryPolicy(
            retries=download_retries,
            backoff=_positive(retry_backoff, "retry_backoff", allow_zero=True),
        )
        self._grid = GridClient(
            self.urls, request_timeout=self.request_timeout, retry=retry, speed_limits=limits
        )

    def new_job(
        self, model_name: str, model_version: str | None = None, auth_token: str | None = None
    ) -> Job:
        """A Job for a hosted model (sends nothing yet; authentication is per Job).

        Raises:
            ValueError: an empty or non-string ``model_name``.
        """
        if not isinstance(model_name, str) or not model_name:
            raise ValueError("model_name must be a non-empty string")
        if model_version is not None and not isinstance(model_version, str):
            raise ValueError("model_version must be a string or None")
        if auth_token is not None and not isinstance(auth_token, str):
            raise ValueError("auth_token must be a string or None")
        return Job(
            self._grid,
            model_name=model_name,
            model_version=model_version,
            auth_token=auth_token,
            receive_operations_as=self.receive_operations_as,
        )

    async def close(self) -> None:
        """Close the WebSocket and the HTTP connections. Idempotent."""
        await self._grid.aclose()

    async def __aenter__(self) -> Syft:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"Syft({self.url!r})"


def _positive(value: Any, name: str, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, not {value!r}")
    v = float(value)
    if math.isnan(v) or v < 0 or (v == 0 and not allow_zero) or math.isinf(v):
        raise ValueError(f"{name} must be a positive finite number, not {value!r}")
    return v
