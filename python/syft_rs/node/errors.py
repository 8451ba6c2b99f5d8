"""The node's request-level failure: a message and the HTTP status it is answered with."""

from __future__ import annotations

__all__ = ["RequestError"]


class RequestError(Exception):
    """A request the node refuses; nothing it would have written is stored.

    Attributes:
        message: The error text sent to the client (``{"error": message}``).
        status: HTTP status code (WS answers carry the message only).
    """

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
