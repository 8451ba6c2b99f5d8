"""SyftModel: construction, zero-copy params, protobuf, diffs (training.md §3)."""

from __future__ import annotations

import numpy as np
import pytest

import syft_rs
from conftest import vector_path
from syft_rs import SyftModel, _core
from syft_rs.errors import DiffMismatchError, ModelLoadFailedError, PlanDecodeError

F32 = np.float32


def test_exported_from_package() -> None:
    assert "SyftModel" in syft_rs.__all__
    assert syft_rs.SyftModel is SyftModel


def test_from_protobuf_params_are_zero_copy_and_read_only() -> None:
    data = vector_path("syftjs", "mnist_model_params.State.pb").read_bytes()
    model = SyftModel.from_protobuf(data)
    assert [p.shape for p in model.params] == [(392, 784), (392,), (10, 392), (10,)]
    for p in model.params:
        assert p.dtype == F32
        assert not p.flags.writeable
        assert type(p.base).__name__ == "PySliceContainer"
    # The same buffers every time: no copy on access.
    assert all(a is b for a, b in zip(model.params, model.params, strict=True))
    assert model.params is not model.params  # a fresh list, so callers cannot reorder ours
    assert model.to_protobuf() != data  # our layout (ids 0..n-1, tags) differs from syft.js'
    again = SyftModel.from_protobuf(model.to_protobuf())
    for a, b in zip(model.params, again.params, strict=True):
        np.testing.assert_array_equal(a, b)


def test_from_protobuf_errors() -> None:
    with pytest.raises(
        ModelLoadFailedError, match=r"^Failed to load Model: Failed to decode State: "
    ) as info:
        SyftModel.from_protobuf(b"\x0a\x05\x01")
    assert isinstance(info.value.__cause__, PlanDecodeError)
    assert isinstance(info.value, ValueError)
    plan = vector_path("syftproto", "plan_with_state.pb").read_bytes()
    with pytest.raises(ModelLoadFailedError):
        SyftModel.from_protobuf(plan)
    # bytearray and memoryview are accepted
    data = vector_path("syftproto", "state_two_f32_params.pb").read_bytes()
    assert len(SyftModel.from_protobuf(bytearray(data))) == 2
    assert len(SyftModel.from_protobuf(memoryview(data))) == 2


def test_constructor_copies_user_arrays_read_only() -> None:
    w = np.ones((2, 2), F32)
    model = SyftModel([w, [1.0, 2.0]])
    w[0, 0] = 5.0
    assert model.params[0][0, 0] == 1.0, "a copy, so later changes do not leak in"
    assert not model.params[0].flags.writeable
    assert model.params[1].dtype == np.float64
    with pytest.raises(TypeError, match="float16"):
        SyftModel([np.zeros(2, np.float16)])
    with pytest.raises(TypeError):
        SyftModel(np.zeros(3, F32))


def test_constructor_keeps_core_owned_arrays_without_copy() -> None:
    data = vector_path("syftproto", "state_two_f32_params.pb").read_bytes()
    owned = _core.decode_state(data)
    model = SyftModel(owned)
    assert all(a is b for a, b in zip(model.params, owned, strict=True))
    diff = _core.mean_diffs([data])  # writeable arrays owned by the core
    m2 = SyftModel(diff)
    for a, b in zip(m2.params, diff, strict=True):
        assert np.shares_memory(a, b)
        assert not a.flags.writeable


def test_to_protobuf_is_deterministic_and_in_syftmodel_layout() -> None:
    params = [np.arange(6, dtype=F32).reshape(2, 3), np.array([0.5], F32)]
    a = SyftModel(params).to_protobuf()
    assert a == SyftModel([p.copy() for p in params]).to_protobuf()
    tree = _core.describe_message("State", a)
    assert [p["tags"] for p in tree["placeholders"]] == [["#0", "#state-0"], ["#1", "#state-1"]]
    assert [t["torch_tensor"]["id"] for t in tree["tensors"]] == [0, 1]


def test_create_serialized_diff_vector() -> None:
    orig = SyftModel.from_protobuf(vector_path("syftproto", "state_two_f32_params.pb").read_bytes())
    upd = SyftModel.from_protobuf(
        vector_path("syftproto", "state_two_f32_params_updated.pb").read_bytes()
    )
    want = _core.decode_state(vector_path("syftproto", "state_two_f32_params_diff.pb").read_bytes())
    for diff in (
        orig.create_serialized_diff(upd.params),
        orig.create_serialized_diff_from_model(upd),
    ):
        for g, w in zip(_core.decode_state(diff), want, strict=True):
            np.testing.assert_array_equal(g, w)


def test_mnist_diff_stats_match_expected_json() -> None:
    import json

    exp = json.loads(vector_path("syftjs", "expected.json").read_text())["mnist"]
    stats = exp["diff_original_minus_updated_stats_derived"]["per_param"]
    orig = SyftModel.from_protobuf(
        vector_path("syftjs", "mnist_model_params.State.pb").read_bytes()
    )
    upd = SyftModel.from_protobuf(
        vector_path("syftjs", "mnist_updated_model_params.State.pb").read_bytes()
    )
    diff = _core.decode_state(orig.create_serialized_diff(upd.params))
    for d, s in zip(diff, stats, strict=True):
        assert list(d.shape) == s["shape"]
        assert float(np.abs(d.astype(np.float64)).max()) == pytest.approx(s["max_abs"], rel=1e-6)
        assert float(np.abs(d.astype(np.float64)).sum()) == pytest.approx(s["sum_abs"], rel=1e-6)


def test_create_serialized_diff_mismatch_names_first() -> None:
    model = SyftModel([np.zeros((2, 3), F32), np.zeros(3, F32)])
    with pytest.raises(
        DiffMismatchError,
        match="Parameter 1 is float32\\[3\\], updated parameter is float32\\[4\\]",
    ) as info:
        model.create_serialized_diff([np.zeros((2, 3), F32), np.zeros(4, F32)])
    assert isinstance(info.value, ValueError)
    with pytest.raises(DiffMismatchError, match="Model has 2 parameters, updated parameters has 1"):
        model.create_serialized_diff([np.zeros((2, 3), F32)])
    with pytest.raises(DiffMismatchError):
        model.create_serialized_diff_from_model(
            SyftModel([np.zeros((2, 3), np.float64), np.zeros(3, F32)])
        )
    with pytest.raises(TypeError):
        model.create_serialized_diff_from_model([np.zeros((2, 3), F32)])  # type: ignore[arg-type]
