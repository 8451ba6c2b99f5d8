"""Typed stub of the Rust extension ``syft_rs._core``.

This file is the contract between the Rust core and the Python package. Every function
releases the GIL while it works on numbers or bytes; errors are the classes of
:mod:`syft_rs.errors` (``PlanDecodeError`` for bytes that do not decode, ...).
Arrays returned are owned by numpy afterwards (no copy at the boundary) and are
read-only where noted.
"""

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

__version__: str

# ---- State codec (rust/core/src/state.rs, rust/core/src/proto) ----------------------------

def decode_state(data: bytes, *, copy: bool = False) -> list[npt.NDArray[Any]]:
    """Decode a syft-proto ``State`` into its tensors, in ``State.tensors`` order.

    ``torch_param`` entries yield their tensor. Arrays are read-only and aligned. From a
    ``bytes`` object (and ``copy=False``), float32/float64 values whose packed run happens
    to be aligned in it are not copied: the array views ``data`` and keeps it alive. Every
    other array owns memory the values were decoded into.

    Raises:
        PlanDecodeError: malformed bytes, ``contents_bin`` tensors, unsupported dtypes,
            value count != shape.
    """

def encode_state(params: Sequence[npt.NDArray[Any]]) -> bytes:
    """Serialize parameters in the SyftModel layout (placeholder/tensor ids ``0..n-1``,
    tags ``#i``/``#state-i``, ``expected_shape``, ``SERIALIZER_ALL``).

    Raises:
        TypeError: an array of an unsupported dtype.
    """

def serialized_diff(
    original: Sequence[npt.NDArray[Any]], updated: Sequence[npt.NDArray[Any]]
) -> bytes:
    """``original[i] - updated[i]`` in the parameter dtype, serialized like ``encode_state``.

    Raises:
        DiffMismatchError: count, shape or dtype mismatch (message names the first one).
    """

def state_replace_values(state: bytes, params: Sequence[npt.NDArray[Any]]) -> bytes:
    """Re-encode ``state`` with each tensor's values replaced by ``params[i]``.

    Placeholders, ids, tags, shapes and dtypes are kept (checkpoint ``n + 1`` from ``n``).

    Raises:
        PlanDecodeError: ``state`` does not decode.
        DiffMismatchError: count, shape or dtype mismatch.
    """

def describe_message(kind: str, data: bytes) -> dict[str, Any]:
    """Decode any supported message into plain Python data (for inspection and tests).

    ``kind`` is one of ``"State"``, ``"Plan"``, ``"Protocol"``, ``"TorchTensor"``, ``"Id"``,
    ``"ObjectMessage"``, ``"SyftMessage"``, ``"Role"``. Tensors appear as numpy arrays.

    Raises:
        PlanDecodeError: the bytes are not a valid ``kind``.
        ValueError: unknown ``kind``.
    """

def reencode_message(kind: str, data: bytes) -> bytes:
    """Decode ``data`` as ``kind`` and encode it again with the project's encoding rules."""

# ---- Plans (rust/core/src/plan.rs, interp.rs, ops/) ---------------------------------------

class Plan:
    """A loaded, validated, immutable PySyft Plan; safe to share between threads."""

    @staticmethod
    def from_bytes(data: bytes, framework: str | None = None, *, reassociate: bool = True) -> Plan:
        """Decode and validate a ``Plan``.

        ``framework=None`` executes ``Plan.role`` in the dialect of ``base_framework``;
        ``"torch"``/``"tfjs"`` executes ``roles[framework]``. ``reassociate=False`` keeps
        every sum of two products as the plan wrote it (see ``Plan.from_protobuf``).

        Raises:
            PlanDecodeError, UnsupportedOpError, PlanValidationError, MissingVariableError.
        """
    def to_bytes(self) -> bytes:
        """The Plan message, re-encoded (semantically equal to the input)."""
    @property
    def name(self) -> str: ...
    @property
    def dialect(self) -> str:
        """``"torch"`` or ``"tfjs"``."""
    @property
    def num_inputs(self) -> int: ...
    @property
    def num_outputs(self) -> int: ...
    @property
    def commands(self) -> list[str]:
        """Commands of the executed role, in action order."""
    @property
    def num_steps(self) -> int:
        """Steps left to run after load-time optimization (folded transposes, CSE, DCE)."""
    def execute(self, inputs: Sequence[object]) -> list[npt.NDArray[Any]]:
        """Run the plan (GIL released). Inputs: numpy arrays, numpy scalars, bool, int, float.

        Raises:
            NotEnoughArgsError, ShapeError, DTypeError, PlanExecutionError, TypeError.
        """

def _set_external_sgemm(address: int) -> bool:
    """Route float32 GEMMs to the ILP64 ``cblas_sgemm`` at ``address`` (opt-in, for the
    benches; e.g. ``scipy_cblas_sgemm64_`` of numpy's bundled OpenBLAS). Returns False if
    one was registered before. Private: the caller vouches for the address."""

def plan_variants(data: bytes) -> dict[str, bytes | None]:
    """The get-plan variants a node serves for an uploaded Plan.

    Returns ``{"list": …, "tfjs": …, "torchscript": …}``; a variant that cannot be built is
    ``None`` (protocol.md §5.6).

    Raises:
        PlanDecodeError: ``data`` is not a Plan.
    """

def encode_plan(spec: Mapping[str, Any]) -> bytes:
    """Encode a Plan described as plain Python data (used by ``syft_rs.plans``).

    ``spec`` = ``{"id": int|str, "name": str, "base_framework": str, "include_state": bool,
    "role": ROLE | None, "roles": {name: ROLE}, "input_types": None}`` where
    ``ROLE = {"id": int|str, "actions": [ACTION], "state": [(id, ndarray)],
    "placeholders": [{"id": int|str, "tags": [str], "expected_shape": [int] | None}],
    "inputs": [id], "outputs": [id]}``,
    ``ACTION = {"command": str, "target": id | None, "args": [ARG],
    "kwargs": [(str, ARG)], "returns": [id]}`` (returns are written as
    ``return_placeholder_ids``), and ``ARG`` is ``{"ref": id}`` (``arg_placeholder_id``),
    ``bool``, ``int``, ``float``, ``str``, a list of ``ARG`` (``arg_list``), or a numpy array
    (``arg_tensor``).

    Keyword arguments are written in the given order (the TF.js dialect is order-sensitive);
    ``roles`` sorted by key; ``state`` entries become a placeholder and a tensor sharing the id.

    Raises:
        TypeError: a value of the wrong kind (e.g. an id that is neither int nor str, an
            unsupported argument or array dtype); the message names its path in ``spec``.
        ValueError: a missing key, an integer outside int64, a non-``None`` ``input_types``.
    """

# ---- Averaging (rust/core/src/average.rs) -------------------------------------------------

def mean_diffs(diffs: Sequence[bytes]) -> list[npt.NDArray[Any]]:
    """Plain mean of serialized diff States, summed left to right in the parameter dtype.

    Raises:
        PlanDecodeError, DiffMismatchError (diffs of different layouts), ValueError (empty).
    """

def apply_diff(checkpoint: bytes, avg: Sequence[npt.NDArray[Any]]) -> bytes:
    """``new = old - avg`` per tensor, re-encoded with the checkpoint's layout."""

def check_diff(model: bytes, diff: bytes) -> None:
    """Validate a reported diff against a model State.

    Raises:
        PlanDecodeError: ``Diff is not a valid State: …``.
        DiffMismatchError: ``Diff has k tensors, model has n.`` /
            ``Diff tensor i is float32[2,3], model tensor is float32[3].``
    """

# ---- Batching (rust/core/src/batch.rs) ----------------------------------------------------

def permutation(n: int, seed: int, epoch: int) -> npt.NDArray[np.int64]:
    """Deterministic uniform permutation of ``0..n-1`` for ``(seed, epoch)``."""

def gather_rows(array: npt.NDArray[Any], indices: npt.NDArray[np.int64]) -> npt.NDArray[Any]:
    """``array[indices]`` along axis 0 into a new contiguous array (GIL released).

    Raises:
        IndexError: an index out of range.
    """

def gather_rows_many(
    arrays: Sequence[npt.NDArray[Any]], indices: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[Any], ...]:
    """``tuple(gather_rows(a, indices) for a in arrays)`` in one call (one GIL release).

    Raises:
        IndexError: an index out of range.
    """
