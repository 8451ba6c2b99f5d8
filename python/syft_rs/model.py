"""SyftModel: model parameters as numpy arrays, their State protobuf and diffs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from syft_rs import _core
from syft_rs.errors import ModelLoadFailedError, PlanDecodeError

__all__ = ["SyftModel"]

_DTYPES = frozenset(
    np.dtype(t) for t in (np.float32, np.float64, np.int32, np.int64, np.uint8, np.bool_)
)


def _owned_by_core(array: npt.NDArray[Any]) -> bool:
    """True for arrays whose buffer the Rust extension handed to numpy (plan outputs,
    decodes), or that view an immutable ``bytes`` object (zero-copy decodes): nobody else
    can write their memory."""
    if not array.flags.c_contiguous:
        return False
    base = array.base
    return type(base).__name__ == "PySliceContainer" or (
        isinstance(base, bytes) and not array.flags.writeable and array.flags.aligned
    )


def _frozen(value: object, index: int) -> npt.NDArray[Any]:
    """A read-only array holding ``value``: a view when the core owns the buffer, else a copy."""
    if isinstance(value, np.ndarray) and value.dtype.isnative and _owned_by_core(value):
        if not value.flags.writeable:
            return value
        view = value.view()
        view.setflags(write=False)
        return view
    array = np.array(value, order="C", copy=True)
    if array.dtype not in _DTYPES:
        raise TypeError(
            f"parameter {index} has dtype {array.dtype}; "
            "supported: float32, float64, int32, int64, uint8, bool"
        )
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    array.setflags(write=False)
    return array


def _as_arrays(params: Iterable[object]) -> list[npt.NDArray[Any]]:
    """Updated parameters as arrays, without copying arrays that already are arrays."""
    if isinstance(params, (str, bytes, np.ndarray)):
        raise TypeError("expected a sequence of numpy arrays")
    return [p if isinstance(p, np.ndarray) else np.asarray(p) for p in params]


class SyftModel:
    """Model parameters as stored by a PyGrid node: a list of numpy arrays.

    The arrays are read-only; copy one before mutating it. Serialization and diffs run in
    the Rust core with the GIL released.

    Args:
        params: The parameters, in State order. Each becomes a read-only copy, except
            arrays the core already owns (decoded tensors, plan outputs), which are kept
            without copying.

    Raises:
        TypeError: A parameter has an unsupported dtype (supported: float32, float64,
            int32, int64, uint8, bool).

    Example:
        >>> model = SyftModel.from_protobuf(state_bytes)
        >>> diff = model.create_serialized_diff(trained_params)
    """

    __slots__ = ("_params",)

    def __init__(self, params: Sequence[npt.ArrayLike]) -> None:
        if isinstance(params, (str, bytes, np.ndarray)):
            raise TypeError("SyftModel expects a sequence of arrays")
        self._params: list[npt.NDArray[Any]] = [_frozen(p, i) for i, p in enumerate(params)]

    @classmethod
    def from_protobuf(cls, data: bytes | bytearray | memoryview) -> SyftModel:
        """Decode a serialized ``State`` (as served by ``get-model``).

        Args:
            data: The protobuf bytes.

        Returns:
            The model; its arrays are the decoded buffers, handed over without copying
            (float runs aligned in ``data`` are read in place: those arrays view ``data``).

        Raises:
            ModelLoadFailedError: The bytes are not a valid State of supported tensors
                (``Failed to load Model: …``, with the decode error as ``__cause__``).
        """
        try:
            params = _core.decode_state(bytes(data) if not isinstance(data, bytes) else data)
        except PlanDecodeError as exc:
            raise ModelLoadFailedError(f"Failed to load Model: {exc}") from exc
        model = cls.__new__(cls)
        model._params = params
        return model

    @property
    def params(self) -> list[npt.NDArray[Any]]:
        """The parameters in State order (read-only arrays; the list is a new list)."""
        return list(self._params)

    def to_protobuf(self) -> bytes:
        """Serialize the parameters as a ``State`` in the SyftModel layout.

        Placeholders and tensors get ids ``0 … n−1``, placeholder tags ``#i`` and
        ``#state-i`` and ``expected_shape``; tensors use ``SERIALIZER_ALL`` and
        ``contents_<dtype>``. Equal parameters give equal bytes.
        """
        return _core.encode_state(self._params)

    def create_serialized_diff(self, updated_params: Sequence[npt.ArrayLike]) -> bytes:
        """Serialize ``params[i] − updated_params[i]`` (original − trained) as a ``State``.

        Args:
            updated_params: The trained parameters, same count, shapes and dtypes.

        Returns:
            The diff in the :meth:`to_protobuf` layout, ready for ``Job.report``.

        Raises:
            DiffMismatchError: Count, shape or dtype differ (the message names the first
                mismatch).
            TypeError: An updated parameter is not an array of a supported dtype.
        """
        return _core.serialized_diff(self._params, _as_arrays(updated_params))

    def create_serialized_diff_from_model(self, model: SyftModel) -> bytes:
        """Serialize the diff between this model and ``model`` (this − ``model``).

        Args:
            model: The trained model.

        Raises:
            DiffMismatchError: The models' layouts differ.
        """
        if not isinstance(model, SyftModel):
            raise TypeError(f"expected a SyftModel, got {type(model).__name__}")
        return _core.serialized_diff(self._params, model._params)

    def __len__(self) -> int:
        return len(self._params)

    def __repr__(self) -> str:
        layout = ", ".join(f"{p.dtype}{list(p.shape)}" for p in self._params)
        return f"SyftModel([{layout}])"
