"""Event emitter shared by :class:`~syft_rs.Job` and :class:`~syft_rs.PlanTrainer`.

Handlers are plain callables or coroutine functions called with one argument (the payload).
They run in subscription order and an awaitable result is awaited before the next handler
runs. syft.js camelCase names and Python snake_case names are the same event.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["EventEmitter", "Handler", "normalize_event_name"]

Handler = Callable[[Any], Any]

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def normalize_event_name(name: str) -> str:
    """The canonical (snake_case) spelling of an event name: ``"epochStart"`` → ``"epoch_start"``.

    Raises:
        TypeError: ``name`` is not a string.
    """
    if not isinstance(name, str):
        raise TypeError(f"event name must be a str, not {type(name).__name__}")
    return _snake_case(name)


# A training loop emits the same few names on every batch.
@functools.lru_cache(maxsize=256)
def _snake_case(name: str) -> str:
    return _CAMEL_BOUNDARY.sub("_", name).lower()


class EventEmitter:
    """Ordered handler lists per event, with sync and async handlers.

    Args:
        allowed: Canonical names that may be subscribed. Subscriptions to other names are
            ignored (as syft.js's Job does). ``None`` accepts every name.
    """

    def __init__(self, allowed: Iterable[str] | None = None) -> None:
        self._allowed = None if allowed is None else frozenset(allowed)
        self._handlers: dict[str, list[Handler]] = {}

    def on(self, event: str, handler: Handler) -> None:
        """Subscribe ``handler`` to ``event``; subscribing twice makes it run twice.

        Raises:
            TypeError: ``handler`` is not callable.
        """
        if not callable(handler):
            raise TypeError(f"event handler must be callable, not {type(handler).__name__}")
        name = normalize_event_name(event)
        if self._allowed is not None and name not in self._allowed:
            return
        self._handlers.setdefault(name, []).append(handler)

    def off(self, event: str, handler: Handler) -> None:
        """Remove every registration of exactly ``handler`` for ``event`` (others stay)."""
        name = normalize_event_name(event)
        handlers = self._handlers.get(name)
        if handlers:
            self._handlers[name] = [h for h in handlers if h is not handler and h != handler]

    def has_handlers(self, event: str) -> bool:
        """Whether at least one handler is subscribed to ``event``."""
        return bool(self._handlers.get(normalize_event_name(event)))

    async def emit(self, event: str, payload: Any) -> None:
        """Call the handlers of ``event`` in order, awaiting awaitable results.

        A handler's exception propagates to the caller; later handlers do not run.
        """
        handlers = self._handlers.get(normalize_event_name(event))
        if not handlers:
            return
        # Copy: a handler may subscribe or unsubscribe while we iterate.
        for handler in list(handlers):
            result = handler(payload)
            # A stop request returned by a handler (``lambda p: trainer.stop()``) is not
            # awaited: it resolves only after the emitting loop moves on.
            if inspect.isawaitable(result) and not getattr(result, "_resolves_after_emit", False):
                await result
