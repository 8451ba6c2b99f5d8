"""Helpers for the Plan tests: read States of the shared vectors as numpy arrays."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from conftest import vector_path

_STATE_CLS: Any = None


def _state_class() -> Any:
    """The ``State`` message class built from the syft-proto 0.5.3 descriptor set."""
    global _STATE_CLS
    if _STATE_CLS is None:
        from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

        fds = descriptor_pb2.FileDescriptorSet.FromString(
            vector_path("syftproto", "syft_proto_0.5.3.fds.pb").read_bytes()
        )
        pool = descriptor_pool.DescriptorPool()
        for f in fds.file:
            pool.Add(f)
        desc = pool.FindMessageTypeByName("syft_proto.execution.v1.State")
        _STATE_CLS = message_factory.GetMessageClass(desc)
    return _STATE_CLS


def decode_state(data: bytes) -> list[npt.NDArray[Any]]:
    """Tensors of a serialized State, in order (reference decoder for tests)."""
    try:
        from syft_rs import _core

        return list(_core.decode_state(data))  # type: ignore[attr-defined]
    except AttributeError:
        pass
    msg = _state_class().FromString(data)
    out = []
    for st in msg.tensors:
        t = st.torch_tensor if st.HasField("torch_tensor") else st.torch_param.tensor
        d = t.contents_data
        vals = getattr(d, "contents_" + d.dtype)
        out.append(np.asarray(list(vals), dtype=d.dtype).reshape(tuple(d.shape.dims)))
    return out


def read_state(*parts: str) -> list[npt.NDArray[Any]]:
    """Decode the State vector file at ``shared/vectors/<parts>``."""
    return decode_state(Path(vector_path(*parts)).read_bytes())


def read_bytes(*parts: str) -> bytes:
    """Raw bytes of a vector file."""
    return Path(vector_path(*parts)).read_bytes()
