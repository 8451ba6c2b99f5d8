"""Grid URL rules (protocol.md §3.1 and D6): transport choice, WS URL and HTTP base."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

__all__ = ["GridUrls", "parse_grid_url"]

_SCHEMES = {
    # given scheme: (transport, ws scheme, http scheme, secure)
    "wss": ("ws", "wss", "https", True),
    "ws": ("ws", "ws", "http", False),
    "https": ("http", "wss", "https", True),
    "http": ("http", "ws", "http", False),
}


@dataclass(frozen=True)
class GridUrls:
    """Where to reach a grid.

    Attributes:
        transport: ``"ws"`` or ``"http"``: how authenticate, cycle-request and report travel.
        ws_url: The WebSocket URL.
        http_base: Base of the ``/model-centric/<name>`` HTTP routes (no trailing ``/``).
    """

    transport: Literal["ws", "http"]
    ws_url: str
    http_base: str

    def http(self, name: str) -> str:
        """URL of the model-centric HTTP route ``name``."""
        return f"{self.http_base}/model-centric/{name}"


def parse_grid_url(url: str, *, allow_insecure: bool) -> GridUrls:
    """Apply the URL rules: only the scheme is replaced; host, port and path are kept.

    Raises:
        ValueError: not a string, an unsupported scheme, no host, or an insecure URL without
            ``allow_insecure``.
    """
    if not isinstance(url, str):
        raise ValueError(f"grid URL must be a string, not {type(url).__name__}")
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise ValueError(f"unsupported grid URL {url!r}: the scheme must be ws, wss, http or https")
    if not parts.netloc:
        raise ValueError(f"grid URL {url!r} has no host")
    transport, ws_scheme, http_scheme, secure = _SCHEMES[scheme]
    if not secure and not allow_insecure:
        raise ValueError(
            f"insecure URL {url!r} requires allow_insecure=True (or verbose=True); "
            "use wss:// or https:// otherwise"
        )
    path = parts.path.rstrip("/")
    stripped = url.strip()
    ws_url = ws_scheme + stripped[len(parts.scheme) :]
    http_base = urlunsplit((http_scheme, parts.netloc, path, "", ""))
    return GridUrls(transport=transport, ws_url=ws_url, http_base=http_base)  # type: ignore[arg-type]
