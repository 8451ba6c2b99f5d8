"""Golden tests of the Plan interpreter on the shared vectors (plans.md §11)."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from conftest import vector_path
from plan_vectors import read_bytes, read_state
from syft_rs import Plan
from syft_rs.errors import MissingVariableError, ShapeError, UnsupportedOpError

MNIST_LOSS = 2.3055033683776855
F32_ULP = float(np.spacing(np.float32(MNIST_LOSS)))


def _mnist_inputs() -> list[object]:
    x, y = read_state("syftjs", "mnist_batch_data.State.pb")
    params = read_state("syftjs", "mnist_model_params.State.pb")
    return [x, y, 64, 0.005, *params]


@pytest.mark.parametrize("framework", [None, "tfjs", "torch"])
def test_syftjs_mnist_plan_is_exact(framework: str | None) -> None:
    plan = Plan.from_protobuf(read_bytes("syftjs", "mnist_training_plan.Plan.pb"), framework)
    assert plan.dialect == (framework or "tfjs")
    assert (plan.num_inputs, plan.num_outputs) == (8, 6)
    inputs = _mnist_inputs()
    before = [np.array(a, copy=True) for a in inputs if isinstance(a, np.ndarray)]
    loss, acc, *params = plan.execute(*inputs)
    assert loss.dtype == np.float32 and loss.shape == ()
    assert abs(float(loss) - MNIST_LOSS) <= F32_ULP
    assert float(acc) == 0.078125
    ref = read_state("syftjs", "mnist_updated_model_params.State.pb")
    for out, want in zip(params, ref, strict=True):
        assert out.shape == want.shape and out.dtype == np.float32
        assert float(np.abs(out.astype(np.float64) - want).sum()) < 1e-7
    # Caller arrays are never modified.
    after = [a for a in inputs if isinstance(a, np.ndarray)]
    for a, b in zip(before, after, strict=True):
        np.testing.assert_array_equal(a, b)


def _pygrid_train_inputs() -> list[np.ndarray]:
    x, y, bs, lr = read_state("pygrid", "capture", "train_batch_state.pb")
    params = read_state("pygrid", "capture", "uploaded_model_state.pb")
    return [x, y, bs, lr, *params]


@pytest.mark.parametrize(
    ("name", "dialect"),
    [
        ("plan_list.pb", "torch"),
        ("plan_tfjs.pb", "tfjs"),
        ("uploaded_training_plan.pb", "torch"),
    ],
)
def test_pygrid_training_plans(name: str, dialect: str) -> None:
    plan = Plan.from_protobuf(read_bytes("pygrid", "capture", name))
    assert plan.dialect == dialect
    loss, acc, *params = plan.execute(*_pygrid_train_inputs())
    want = json.loads(vector_path("pygrid", "capture", "train_step_result.json").read_text())
    assert loss.shape == (1,) and acc.shape == (1,)
    assert abs(float(loss[0]) - want["loss"]) <= float(np.spacing(np.float32(want["loss"])))
    assert float(acc[0]) == want["acc"]
    ref = read_state("pygrid", "capture", "train_step_updated_params_state.pb")
    for out, exp in zip(params, ref, strict=True):
        assert float(np.abs(out.astype(np.float64) - exp).max()) <= 1e-7


def test_plan_torchscript_variant_is_missing_variables() -> None:
    with pytest.raises(MissingVariableError, match=r"Missing variable \S+ for output #0"):
        Plan.from_protobuf(read_bytes("pygrid", "capture", "plan_torchscript.pb"))


@pytest.mark.parametrize("framework", [None, "torch"])
def test_averaging_plan_makes_checkpoint_2(framework: str | None) -> None:
    plan = Plan.from_protobuf(read_bytes("pygrid", "capture", "uploaded_avg_plan.pb"), framework)
    assert (plan.num_inputs, plan.num_outputs) == (9, 4)
    ckpt1 = read_state("pygrid", "capture", "uploaded_model_state.pb")
    diff1 = read_state("pygrid", "capture", "diff1_state.pb")
    diff2 = read_state("pygrid", "capture", "diff2_state.pb")
    avg = plan.execute(*diff1, *diff2, np.array([1], dtype=np.int64))
    for a in avg:
        np.testing.assert_allclose(a, 0.02, rtol=0, atol=1e-8)
    new = [c - a for c, a in zip(ckpt1, avg, strict=True)]
    ckpt2 = read_state("pygrid", "capture", "checkpoint_2.pb")
    for n, c in zip(new, ckpt2, strict=True):
        assert float(np.abs(n - c).max()) <= 4e-9


def test_averaging_plan_tfjs_role() -> None:
    plan = Plan.from_protobuf(read_bytes("pygrid", "capture", "uploaded_avg_plan.pb"), "tfjs")
    diff1 = read_state("pygrid", "capture", "diff1_state.pb")
    diff2 = read_state("pygrid", "capture", "diff2_state.pb")
    avg = plan.execute(*diff1, *diff2, np.array([1], dtype=np.int64))
    for a in avg:
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, 0.02, rtol=0, atol=1e-8)


def test_syftproto_plan_with_state() -> None:
    plan = Plan.from_protobuf(read_bytes("syftproto", "plan_with_state.pb"))
    (out,) = plan.execute(np.array([[1, -2], [-5, 3]], dtype=np.float32))
    np.testing.assert_array_equal(out, np.array([[5.25, 9.5], [0.75, 4.5]], dtype=np.float32))


@pytest.mark.parametrize("framework", [None, "tfjs", "torch"])
def test_syftjs_plan_with_state(framework: str | None) -> None:
    plan = Plan.from_protobuf(read_bytes("syftjs", "plan_with_state.Plan.pb"), framework)
    x = np.array([[1, 2], [-30, -40]], dtype=np.float32)
    (out,) = plan.execute(x)
    want = np.abs(x + np.array([4.2, 7.3], dtype=np.float32))
    np.testing.assert_array_equal(out, want)
    with pytest.raises(ShapeError) as e:
        plan.execute(np.ones((3, 3), dtype=np.float32))
    msg = str(e.value)
    assert msg.startswith(
        "Operands could not be broadcast together with shapes 3,3 and 2. (action #0 '"
    )


def test_plan_linreg_sgd() -> None:
    plan = Plan.from_protobuf(read_bytes("syftproto", "plan_linreg_sgd.pb"))
    exp = json.loads(vector_path("syftproto", "expected.json").read_text())["plan_linreg_sgd.pb"]
    ins = exp["expected"]["inputs"]
    args = [
        np.array(ins[k]["values"], dtype=np.float32).reshape(ins[k]["shape"])
        for k in ("X", "y", "batch_size", "lr", "W", "b")
    ]
    outs = plan.execute(*args)
    for got, want in zip(outs, exp["expected"]["outputs"], strict=True):
        assert got.dtype == np.dtype(want["dtype"])
        assert list(got.shape) == want["shape"]
        np.testing.assert_allclose(got.ravel(), want["values"], rtol=0, atol=1e-6)


def test_one_plan_shared_by_two_threads() -> None:
    plan = Plan.from_protobuf(read_bytes("syftjs", "mnist_training_plan.Plan.pb"), "torch")
    inputs = _mnist_inputs()
    expected = plan.execute(*inputs)
    results: list[list[np.ndarray]] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(3):
                results.append(plan.execute(*inputs))
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 6
    for r in results:
        for a, b in zip(r, expected, strict=True):
            np.testing.assert_array_equal(a, b)


def test_unsupported_ops_listed_at_once() -> None:
    """A plan whose every command is renamed to an unknown one lists them all, in order."""
    from syft_rs import _core

    data = read_bytes("syftproto", "plan_with_state.pb")
    bad = data.replace(b"__add__", b"__foo__").replace(b"torch.abs", b"torch.bar")
    with pytest.raises(UnsupportedOpError) as e:
        _core.Plan.from_bytes(bad)
    assert str(e.value) == (
        "Plan 'plan_with_state' (torch dialect) uses unsupported operations: __foo__, torch.bar"
    )
