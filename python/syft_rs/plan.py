"""PySyft Plans executed by the Rust interpreter (torch and TF.js dialects)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from syft_rs import _core

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = ["Plan"]


class Plan:
    """A loaded, validated, immutable PySyft Plan.

    Loading checks every command, signature and reference once; executing runs the
    selected role in Rust with the GIL released. One Plan may be executed from several
    threads at once: nothing persists between executions.

    Example:
        >>> plan = Plan.from_protobuf(data)  # doctest: +SKIP
        >>> loss, acc, *params = plan.execute(x, y, 64, 0.005, *model.params)  # doctest: +SKIP
    """

    __slots__ = ("_plan",)

    def __init__(self, plan: _core.Plan) -> None:
        """Wrap an extension-level plan; use :meth:`from_protobuf` to load one."""
        self._plan = plan

    @classmethod
    def from_protobuf(
        cls, data: bytes, framework: str | None = None, *, reassociate: bool = True
    ) -> Plan:
        """Decode and validate a serialized syft-proto ``Plan``.

        Args:
            data: The ``Plan`` message bytes (as served by PyGrid's ``get-plan``).
            framework: ``None`` runs ``Plan.role`` in the dialect of ``base_framework``;
                ``"torch"`` or ``"tfjs"`` runs that entry of ``Plan.roles``.
            reassociate: Evaluate a sum of two matrix products that share a factor,
                ``A·B + A·C``, as one product ``A·(B + C)``. PySyft traces the backward
                pass once per gradient path, so training plans compute each weight
                gradient as such a sum; the single product does a third fewer
                multiply-adds but rounds differently (on the MNIST vectors the updated
                weights move by at most a few float32 ulps). ``False`` keeps the plan's
                own order of operations. Every other load-time rewrite leaves results
                bit-identical.

        Returns:
            The loaded plan.

        Raises:
            PlanDecodeError: The bytes are not a valid Plan, or the requested role is absent.
            UnsupportedOpError: The plan uses operations or argument kinds that are not
                supported (all of them are listed).
            PlanValidationError: An action has a wrong signature or literal, or the state
                is malformed.
            MissingVariableError: An action or output references an undefined id.
        """
        return cls(_core.Plan.from_bytes(bytes(data), framework, reassociate=reassociate))

    def to_protobuf(self) -> bytes:
        """Serialize the plan again (semantically equal to the loaded bytes)."""
        return self._plan.to_bytes()

    @property
    def name(self) -> str:
        """The plan's name (the traced function's name)."""
        return self._plan.name

    @property
    def dialect(self) -> str:
        """``"torch"`` or ``"tfjs"``: the dialect the executed role is interpreted in."""
        return self._plan.dialect

    @property
    def num_inputs(self) -> int:
        """Number of arguments :meth:`execute` expects."""
        return self._plan.num_inputs

    @property
    def num_outputs(self) -> int:
        """Number of arrays :meth:`execute` returns."""
        return self._plan.num_outputs

    @property
    def commands(self) -> list[str]:
        """Commands of the executed role, in action order."""
        return self._plan.commands

    def execute(self, *args: Any) -> list[npt.NDArray[Any]]:
        """Run the plan.

        Args:
            *args: One value per plan input: numpy arrays (float32, float64, int32, int64,
                uint8, bool; read without copying), numpy scalars, or Python scalars
                (``bool`` → bool 0-d; ``int`` → int64 0-d in the torch dialect, float32
                0-d in the TF.js dialect; ``float`` → float32 0-d). Arrays passed in are
                never modified.

        Returns:
            The plan's outputs as new numpy arrays (0-d arrays for scalar results).

        Raises:
            NotEnoughArgsError: The number of arguments differs from the plan's inputs.
            TypeError: An argument of an unsupported type or dtype.
            ShapeError: Shapes that do not broadcast or fit (names op and action).
            DTypeError: dtypes an operation does not accept.
            PlanExecutionError: Any other kernel failure.
        """
        return self._plan.execute(list(args))

    async def execute_async(self, *args: Any) -> list[npt.NDArray[Any]]:
        """Run the plan in a worker thread (see :meth:`execute`); works under asyncio and trio."""
        import anyio.to_thread  # deferred: loading a Plan should not pull in the event loop

        return await anyio.to_thread.run_sync(self._plan.execute, list(args))

    def __repr__(self) -> str:
        return (
            f"Plan(name={self.name!r}, dialect={self.dialect!r}, "
            f"inputs={self.num_inputs}, outputs={self.num_outputs})"
        )
