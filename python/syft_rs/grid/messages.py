"""Lenient parsing of grid answers: unwrapping, error detection, timeouts (protocol.md D1, §3.4)."""

from __future__ import annotations

import logging
import math
import re
from typing import Any

from syft_rs.errors import GridError

__all__ = ["error_message", "grid_error", "parse_timeout", "unwrap"]

logger = logging.getLogger("syft_rs")

_TRACEBACK = "Traceback (most recent call last):"
_TIMEDELTA = re.compile(
    r"^\s*(?:(?P<days>[-+]?\d+)\s+days?,\s*)?"
    r"(?P<h>\d+):(?P<m>[0-5]?\d):(?P<s>[0-5]?\d(?:\.\d+)?)\s*$"
)


def error_message(raw: str) -> str:
    """The human part of a server error: the text before an appended Python traceback."""
    head = raw.split(_TRACEBACK, 1)[0].strip()
    return head or raw.strip() or "unknown server error"


def grid_error(raw: Any, status: int | None = None) -> GridError:
    """A :class:`GridError` for a server-sent ``error`` value (message cut at the traceback)."""
    text = raw if isinstance(raw, str) else repr(raw)
    return GridError(error_message(text), raw=text, status=status)


def unwrap(obj: Any, status: int | None = None) -> dict[str, Any]:
    """The payload of an answer, raising :class:`GridError` when it carries an ``error``.

    A top-level ``error`` is checked first; then ``{"type": str, "data": dict}`` is unwrapped
    to ``data``, whose own ``error`` is checked too.

    Raises:
        GridError: an ``error`` key, or an answer that is not a JSON object.
    """
    if not isinstance(obj, dict):
        raise GridError(
            f"Unexpected answer from the grid: expected a JSON object, got {type(obj).__name__}",
            raw=repr(obj),
            status=status,
        )
    if obj.get("error") is not None:
        raise grid_error(obj["error"], status)
    payload = obj
    if isinstance(obj.get("type"), str) and isinstance(obj.get("data"), dict):
        payload = obj["data"]
        if payload.get("error") is not None:
            raise grid_error(payload["error"], status)
    return payload


def parse_timeout(value: Any) -> float | None:
    """Seconds to wait before retrying, from a number, a numeric string or a timedelta string.

    Negative values clamp to 0.0; ``None``/absent gives ``None``; anything unparseable gives
    ``None`` with a warning (protocol.md D1).
    """
    if value is None:
        return None
    seconds: float | None = None
    if isinstance(value, bool):
        seconds = None
    elif isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            m = _TIMEDELTA.match(text)
            if m:
                days = int(m.group("days") or 0)
                clock = int(m.group("h")) * 3600 + int(m.group("m")) * 60 + float(m.group("s"))
                seconds = days * 86400 + clock
    if seconds is None or math.isnan(seconds):
        logger.warning("ignoring unparseable cycle-request timeout %r", value)
        return None
    if math.isinf(seconds):
        return None if seconds < 0 else seconds
    return max(seconds, 0.0)
