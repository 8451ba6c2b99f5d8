"""Our State bytes parsed with syft-proto 0.5.3's own schema through the current protobuf package.

The ``syft-proto`` wheel's ``*_pb2.py`` files do not import under protobuf >= 4, but each holds
its ``FileDescriptorProto`` as a bytes literal (``serialized_pb=b'...'``). We read those
literals with ``ast`` (never importing the modules), load them into a ``DescriptorPool`` and
parse with the protobuf runtime in use (upb).
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from syft_rs import SyftModel, _core

pytest.importorskip("google.protobuf", reason="protobuf is a test dependency (pip install .[test])")

from google.protobuf import descriptor_pb2, descriptor_pool, empty_pb2, message_factory


def _serialized_pb(path: Path) -> bytes:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "FileDescriptor":
            for kw in node.keywords:
                if kw.arg == "serialized_pb":
                    value = ast.literal_eval(kw.value)
                    assert isinstance(value, bytes)
                    return value
    raise AssertionError(f"no serialized_pb in {path}")


@pytest.fixture(scope="module")
def pool() -> descriptor_pool.DescriptorPool:
    spec = importlib.util.find_spec("syft_proto")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("syft-proto==0.5.3 is not installed (pip install .[test])")
    root = Path(next(iter(spec.submodule_search_locations)))
    files = {}
    for path in sorted(root.rglob("*_pb2.py")):
        fdp = descriptor_pb2.FileDescriptorProto.FromString(_serialized_pb(path))
        files[fdp.name] = fdp
    assert len(files) == 36
    empty = descriptor_pb2.FileDescriptorProto()
    empty_pb2.DESCRIPTOR.CopyToProto(empty)
    files[empty.name] = empty
    p = descriptor_pool.DescriptorPool()
    added: set[str] = set()

    def add(name: str) -> None:
        if name in added:
            return
        for dep in files[name].dependency:
            add(dep)
        p.Add(files[name])
        added.add(name)

    for name in files:
        add(name)
    return p


def _cls(pool: descriptor_pool.DescriptorPool, full_name: str) -> Any:
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(full_name))


def _tensor_values(t: Any) -> np.ndarray:
    data = t.contents_data
    field = {
        "float32": "contents_float32",
        "float64": "contents_float64",
        "int32": "contents_int32",
        "int64": "contents_int64",
        "uint8": "contents_uint8",
        "bool": "contents_bool",
    }[data.dtype]
    return np.array(list(getattr(data, field)), dtype=data.dtype).reshape(tuple(data.shape.dims))


def _check_layout(state: Any, params: list[np.ndarray]) -> None:
    assert len(state.placeholders) == len(params) == len(state.tensors)
    for i, (ph, st, p) in enumerate(zip(state.placeholders, state.tensors, params, strict=True)):
        assert ph.id.WhichOneof("id") == "id_int" and ph.id.id_int == i
        assert list(ph.tags) == [f"#{i}", f"#state-{i}"]
        assert ph.HasField("expected_shape") and list(ph.expected_shape.dims) == list(p.shape)
        assert st.WhichOneof("tensor") == "torch_tensor"
        t = st.torch_tensor
        assert t.id.id_int == i
        assert t.serializer == 4  # SERIALIZER_ALL
        assert t.WhichOneof("contents") == "contents_data"
        assert t.contents_data.dtype == str(p.dtype)
        assert t.contents_data.HasField("shape")
        others = [
            f.name
            for f, v in t.contents_data.ListFields()
            if f.name.startswith("contents_") and f.name != f"contents_{p.dtype}"
        ]
        assert others == []
        got = _tensor_values(t)
        assert got.dtype == p.dtype and got.shape == p.shape
        np.testing.assert_array_equal(got, p)


PARAMS = [
    np.array([[0.5, -1.25, 2.0], [3.75, -0.125, 1024.0]], np.float32),
    np.array([0.1, -1e300, np.inf], np.float64),
    np.array([-(2**31), 0, 2**31 - 1], np.int32),
    np.array([-(2**40), 0, 7], np.int64),
    np.array([[0, 255], [7, 1]], np.uint8),
    np.array([True, False, True]),
    np.array(42.5, np.float32),
    np.zeros((0,), np.float32),
    np.zeros((2, 0), np.int64),
]


def test_syftmodel_state_parses_with_syft_proto_schema(
    pool: descriptor_pool.DescriptorPool,
) -> None:
    State = _cls(pool, "syft_proto.execution.v1.State")
    data = SyftModel(PARAMS).to_protobuf()
    state = State.FromString(data)
    _check_layout(state, PARAMS)
    # The protobuf runtime's deterministic serialization reproduces our bytes exactly.
    assert state.SerializeToString(deterministic=True) == data


def test_diff_parses_with_syft_proto_schema(pool: descriptor_pool.DescriptorPool) -> None:
    State = _cls(pool, "syft_proto.execution.v1.State")
    rng = np.random.default_rng(3)
    original = [rng.standard_normal((4, 3)).astype(np.float32), rng.integers(-9, 9, 5)]
    trained = [p - np.ones_like(p) * 2 for p in original]
    diff = SyftModel(original).create_serialized_diff(trained)
    state = State.FromString(diff)
    _check_layout(state, [a - b for a, b in zip(original, trained, strict=True)])


def test_schema_reads_vectors_like_we_do(pool: descriptor_pool.DescriptorPool) -> None:
    from conftest import vector_path

    State = _cls(pool, "syft_proto.execution.v1.State")
    data = vector_path("syftproto", "state_dtypes_edge.pb").read_bytes()
    state = State.FromString(data)
    ours = _core.decode_state(data)
    theirs = [_tensor_values(st.torch_tensor) for st in state.tensors]
    assert len(ours) == len(theirs) == 5
    for a, b in zip(ours, theirs, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)

    Plan = _cls(pool, "syft_proto.execution.v1.Plan")
    for rel in ("plan_linreg_sgd.pb", "plan_with_state.pb"):
        raw = vector_path("syftproto", rel).read_bytes()
        assert Plan.FromString(raw).SerializeToString(deterministic=True) == _core.reencode_message(
            "Plan", raw
        )
