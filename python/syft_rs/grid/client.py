"""GridClient: the model-centric calls of protocol.md over WS or HTTP, and the downloads."""

from __future__ import annotations

from typing import Any

import httpx

from syft_rs.errors import GridError
from syft_rs.grid.http import RetryPolicy, download, post_json
from syft_rs.grid.messages import unwrap
from syft_rs.grid.speed import SpeedLimits, SpeedResult, measure
from syft_rs.grid.urls import GridUrls
from syft_rs.grid.ws import WebSocketConnection

__all__ = ["GridClient"]

_PREFIX = "model-centric/"


class GridClient:
    """Transport of one :class:`~syft_rs.Syft`: one httpx client and (lazily) one WebSocket.

    Args:
        urls: Parsed grid URLs (which transport, WS URL, HTTP base).
        request_timeout: Seconds to wait for an answer (and between chunks of a download).
        retry: Backoff policy of downloads.
        speed_limits: Bounds of the speed test.
    """

    def __init__(
        self,
        urls: GridUrls,
        *,
        request_timeout: float,
        retry: RetryPolicy,
        speed_limits: SpeedLimits,
    ) -> None:
        self.urls = urls
        self.request_timeout = request_timeout
        self.retry = retry
        self.speed_limits = speed_limits
        self._http: httpx.AsyncClient | None = None
        self._ws: WebSocketConnection | None = None
        self._closed = False

    # ---- lifecycle ---------------------------------------------------------------------

    def _client(self) -> httpx.AsyncClient:
        if self._closed:
            raise GridError("the Syft client is closed")
        if self._http is None:
            self._http = httpx.AsyncClient(
                timeout=httpx.Timeout(self.request_timeout),
                follow_redirects=False,
                headers={"user-agent": "syft-rs"},
            )
        return self._http

    async def aclose(self) -> None:
        """Close the WebSocket and every pooled HTTP connection. Idempotent."""
        self._closed = True
        ws, self._ws = self._ws, None
        http, self._http = self._http, None
        if ws is not None:
            await ws.aclose()
        if http is not None:
            await http.aclose()

    @property
    def closed(self) -> bool:
        return self._closed

    # ---- messages ----------------------------------------------------------------------

    async def send(self, name: str, data: dict[str, Any]) -> dict[str, Any]:
        """One request/answer on the configured transport; the payload, unwrapped.

        Raises:
            GridError: transport failure, timeout, HTTP error, invalid JSON, or an
                ``error`` in the answer.
        """
        client = self._client()
        if self.urls.transport == "ws":
            if self._ws is None:
                self._ws = WebSocketConnection(client, self.urls.ws_url, self.request_timeout)
            answer = await self._ws.request(_PREFIX + name, data)
            return unwrap(answer)
        answer = await post_json(client, self.urls.http(name), data, self.request_timeout)
        return unwrap(answer, status=200)

    async def get_bytes(self, name: str, params: dict[str, Any]) -> bytes:
        """Download ``/model-centric/<name>`` (always HTTP), retried per the policy."""
        return await download(
            self._client(),
            self.urls.http(name),
            {k: str(v) for k, v in params.items()},
            io_timeout=self.request_timeout,
            retry=self.retry,
        )

    async def speed_test(self, worker_id: str) -> SpeedResult:
        """The bounded speed test against ``/model-centric/speed-test``."""
        return await measure(
            self._client(),
            self.urls.http("speed-test"),
            worker_id,
            self.speed_limits,
            self.request_timeout,
        )
