"""FedAvg in the core: plain mean of diffs and new = old − avg (protocol.md §7.5, §8)."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import vector_path
from syft_rs import _core
from syft_rs.errors import DiffMismatchError, PlanDecodeError

CAP = ("pygrid", "capture")


def _b(name: str) -> bytes:
    return vector_path(*CAP, name).read_bytes()


def test_pygrid_cycle_1_plain_mean_gives_checkpoint_2() -> None:
    avg = _core.mean_diffs([_b("diff1_state.pb"), _b("diff2_state.pb")])
    for a in avg:
        assert a.dtype == np.float32
        np.testing.assert_array_equal(a, (np.float32(0.01) + np.float32(0.03)) / np.float32(2))
    new = _core.apply_diff(_b("uploaded_model_state.pb"), avg)
    want = _core.decode_state(_b("checkpoint_2.pb"))
    for g, w in zip(_core.decode_state(new), want, strict=True):
        np.testing.assert_allclose(g, w, rtol=0, atol=4e-9)


def test_pygrid_cycle_2_gives_checkpoint_3_exactly() -> None:
    diff = _b("diff_from_train_step_state.pb")
    avg = _core.mean_diffs([diff, diff])
    new = _core.apply_diff(_b("checkpoint_2.pb"), avg)
    for g, w in zip(
        _core.decode_state(new), _core.decode_state(_b("checkpoint_3.pb")), strict=True
    ):
        np.testing.assert_array_equal(g, w)
    # Layout (placeholders, ids) of the checkpoint is kept.
    before = _core.describe_message("State", _b("checkpoint_2.pb"))
    after = _core.describe_message("State", new)
    assert before["placeholders"] == after["placeholders"]
    assert len(new) == len(_b("checkpoint_2.pb"))


def test_mean_is_left_to_right_in_parameter_dtype() -> None:
    vals = [np.float32(v) for v in (0.1, 0.7, 1e-8, 3.3)]
    diffs = [_core.encode_state([np.array([v, -v], np.float32)]) for v in vals]
    (avg,) = _core.mean_diffs(diffs)
    acc = vals[0]
    for v in vals[1:]:
        acc = np.float32(acc + v)
    assert avg.dtype == np.float32
    assert avg[0] == np.float32(acc / np.float32(4))
    (ints,) = _core.mean_diffs([_core.encode_state([np.array([2**62, -3], np.int64)])] * 3)
    np.testing.assert_array_equal(ints, [2**62, -3])


def test_mean_diffs_errors() -> None:
    a = _core.encode_state([np.zeros(3, np.float32)])
    b = _core.encode_state([np.zeros(4, np.float32)])
    with pytest.raises(
        DiffMismatchError,
        match=r"^Diff 1 tensor 0 is float32\[4\], diff 0 tensor is float32\[3\]\.$",
    ):
        _core.mean_diffs([a, b])
    with pytest.raises(ValueError, match="at least one"):
        _core.mean_diffs([])
    with pytest.raises(PlanDecodeError):
        _core.mean_diffs([a, b"\xff\xff"])
    with pytest.raises(TypeError):
        _core.mean_diffs(["not bytes"])


def test_apply_diff_errors() -> None:
    ckpt = _core.encode_state([np.zeros(3, np.float32)])
    with pytest.raises(
        DiffMismatchError,
        match="Checkpoint tensor 0 is float32\\[3\\], average tensor is float64\\[3\\]",
    ):
        _core.apply_diff(ckpt, [np.zeros(3)])
    with pytest.raises(DiffMismatchError, match="State has 1 tensors, got 2 parameters"):
        _core.apply_diff(ckpt, [np.zeros(3, np.float32)] * 2)
    with pytest.raises(PlanDecodeError):
        _core.apply_diff(b"\x12\x01", [np.zeros(3, np.float32)])
