"""The whole syft_rs exception hierarchy.

Every error raised by syft_rs derives from :class:`SyftError` and also from the stdlib
class that describes it best, so ``except ValueError`` keeps working for callers that do
not know about syft_rs. The Rust extension raises these same classes (it imports them
from this module), so there is exactly one class per condition.
"""

from __future__ import annotations

__all__ = [
    "DTypeError",
    "DiffMismatchError",
    "GridError",
    "GridUnknownCycleStatusError",
    "MissingVariableError",
    "ModelLoadFailedError",
    "NotEnoughArgsError",
    "PlanDecodeError",
    "PlanExecutionError",
    "PlanLoadFailedError",
    "PlanValidationError",
    "ShapeError",
    "SyftError",
    "UnsupportedOpError",
]


class SyftError(Exception):
    """Base class of every error raised by syft_rs."""


# --- decoding and loading -------------------------------------------------------------


class PlanDecodeError(SyftError, ValueError):
    """Bytes that do not decode as the expected syft-proto message.

    Raised for truncated or malformed protobuf, invalid UTF-8, unsupported tensor
    encodings (``contents_bin``) or dtypes, and value counts that do not match a shape.
    The message starts with ``Failed to decode <Message>:``.
    """


class UnsupportedOpError(SyftError, NotImplementedError):
    """A Plan uses operations or argument kinds this interpreter does not implement.

    Every unknown command and unsupported kind is listed at once.
    """


class PlanValidationError(SyftError, ValueError):
    """A Plan action has a wrong signature, literal kind or state layout."""


class MissingVariableError(PlanValidationError):
    """A Plan references an id that is neither an input, state, nor an earlier result."""


# --- execution ---------------------------------------------------------------------------


class NotEnoughArgsError(SyftError, TypeError):
    """A Plan was executed with a different number of inputs than it declares."""


class PlanExecutionError(SyftError, RuntimeError):
    """A kernel failed while executing a Plan."""


class ShapeError(PlanExecutionError, ValueError):
    """Operands whose shapes do not fit (broadcasting, matmul, reshape, dims)."""


class DTypeError(PlanExecutionError, TypeError):
    """Operands whose dtypes the operation does not accept."""


# --- models and diffs --------------------------------------------------------------------


class DiffMismatchError(SyftError, ValueError):
    """Two parameter lists whose count, shapes or dtypes differ (e.g. a model diff)."""


class ModelLoadFailedError(SyftError, ValueError):
    """A downloaded model could not be decoded (``Failed to load Model: …``)."""


class PlanLoadFailedError(SyftError, ValueError):
    """A downloaded Plan could not be decoded or loaded.

    Attributes:
        plan_name: The name under which the node offered the plan.
    """

    def __init__(self, message: str, plan_name: str | None = None) -> None:
        super().__init__(message)
        self.plan_name = plan_name


# --- network -----------------------------------------------------------------------------


class GridError(SyftError, ConnectionError):
    """A failure talking to a PyGrid-compatible node.

    Attributes:
        raw: The full error text as the server sent it (tracebacks included), or the
            transport's description of the failure.
        status: The HTTP status code, or ``None`` for WebSocket and transport failures.
    """

    def __init__(self, message: str, *, raw: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.raw = message if raw is None else raw
        self.status = status


class GridUnknownCycleStatusError(GridError):
    """A cycle-request answer whose status is neither ``accepted`` nor ``rejected``."""
