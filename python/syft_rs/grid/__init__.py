"""Client transport to a PyGrid-compatible node: WebSocket and HTTP on httpx, over anyio."""

from syft_rs.grid.client import GridClient
from syft_rs.grid.http import RetryPolicy
from syft_rs.grid.messages import parse_timeout, unwrap
from syft_rs.grid.speed import SpeedLimits, SpeedResult
from syft_rs.grid.urls import GridUrls, parse_grid_url

__all__ = [
    "GridClient",
    "GridUrls",
    "RetryPolicy",
    "SpeedLimits",
    "SpeedResult",
    "parse_grid_url",
    "parse_timeout",
    "unwrap",
]
