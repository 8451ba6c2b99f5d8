"""Property tests of shape ops, casts and softmax against numpy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from plan_builder import run_one
from syft_rs.errors import PlanValidationError, ShapeError


@settings(max_examples=80, deadline=None)
@given(hnp.array_shapes(min_dims=0, max_dims=4, max_side=4), st.data())
def test_reshape_view_flatten(shape: tuple[int, ...], data: st.DataObject) -> None:
    x = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    n = x.size
    divs = [d for d in range(1, n + 1) if n % d == 0]
    d = data.draw(st.sampled_from(divs))
    np.testing.assert_array_equal(run_one("reshape", [x, [-1, d]])[0], x.reshape(-1, d))
    np.testing.assert_array_equal(run_one("view", [x, d, -1])[0], x.reshape(d, -1))
    np.testing.assert_array_equal(
        run_one("tf.layers.reshape", [x, [d, -1]], framework="tfjs")[0], x.reshape(d, -1)
    )
    np.testing.assert_array_equal(run_one("flatten", [x])[0], x.reshape(-1))
    if x.ndim >= 2:
        np.testing.assert_array_equal(
            run_one("flatten", [x], kwargs=[("start_dim", 1)])[0], x.reshape(x.shape[0], -1)
        )


def test_reshape_errors() -> None:
    with pytest.raises(ShapeError, match=r"shape '\[4, -1\]' is invalid for input of size 6"):
        run_one("reshape", [np.ones(6, np.float32), [4, -1]])
    with pytest.raises(PlanValidationError, match="only one dimension can be inferred"):
        run_one("reshape", [np.ones(6, np.float32), [-1, -1]])


def test_squeeze_unsqueeze_expand_cat_stack() -> None:
    x = np.arange(3, dtype=np.int64).reshape(1, 3, 1)
    np.testing.assert_array_equal(run_one("squeeze", [x])[0], x.squeeze())
    np.testing.assert_array_equal(run_one("squeeze", [x, 0])[0], x.squeeze(0))
    np.testing.assert_array_equal(run_one("squeeze", [x, 1])[0], x)
    np.testing.assert_array_equal(run_one("unsqueeze", [x, -1])[0], x[..., None])
    np.testing.assert_array_equal(
        run_one("tf.expandDims", [x.astype(np.int32), 1], framework="tfjs")[0], x[:, None]
    )
    np.testing.assert_array_equal(
        run_one("expand", [x, 2, -1, 4])[0], np.broadcast_to(x, (2, 3, 4))
    )
    a, b = np.ones((2, 3), np.float32), np.zeros((2, 3), np.float32)
    from plan_builder import Ref, action, build_plan
    from syft_rs import Plan

    for cmd, fw, kw, ref in [
        ("torch.cat", "torch", [("dim", 1)], np.concatenate([a, b], 1)),
        ("torch.stack", "torch", [], np.stack([a, b])),
        ("tf.concat", "tfjs", [], np.concatenate([a, b], 0)),
        ("tf.stack", "tfjs", [("axis", 1)], np.stack([a, b], 1)),
    ]:
        plan = Plan.from_protobuf(
            build_plan([action(cmd, [Ref(1), Ref(2)], kwargs=kw, ret=3)], [1, 2], [3], framework=fw)
        )
        np.testing.assert_array_equal(plan.execute(a, b)[0], ref)
    np.testing.assert_array_equal(run_one("copy", [a])[0], a)
    np.testing.assert_array_equal(run_one("clone", [a], framework="tfjs")[0], a)


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=0, max_dims=2, max_side=4),
        elements=st.floats(-300, 300),
    ),
    st.sampled_from(["float", "double", "int", "long", "bool", "byte"]),
)
def test_torch_casts(x: np.ndarray, op: str) -> None:
    dt = {
        "float": np.float32,
        "double": np.float64,
        "int": np.int32,
        "long": np.int64,
        "bool": np.bool_,
        "byte": np.uint8,
    }[op]
    if op == "byte":
        x = np.abs(x) % 200
    (out,) = run_one(op, [x])
    assert out.dtype == dt
    np.testing.assert_array_equal(out, x.astype(dt))


def test_type_and_tf_cast() -> None:
    x = np.array([1.7, -0.2, 0.0])
    assert run_one("type", [x, "torch.IntTensor"])[0].dtype == np.int32
    (c,) = run_one("tf.cast", [x, "int32"], framework="tfjs")
    np.testing.assert_array_equal(c, [1, 0, 0])
    (b,) = run_one("tf.cast", [x, "bool"], framework="tfjs")
    np.testing.assert_array_equal(b, [True, True, False])
    with pytest.raises(PlanValidationError, match="unsupported dtype 'float64'"):
        run_one("tf.cast", [x, "float64"], framework="tfjs")
    with pytest.raises(PlanValidationError, match="must be a string"):
        run_one("tf.cast", [x, 3], framework="tfjs")


def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(
        np.float32,
        hnp.array_shapes(min_dims=1, max_dims=3, max_side=5),
        elements=st.floats(-50, 50, width=32),
    ),
    st.data(),
)
def test_softmax_and_log_softmax(x: np.ndarray, data: st.DataObject) -> None:
    dim = data.draw(st.integers(-x.ndim, x.ndim - 1))
    ref = _softmax(x.astype(np.float64), dim)
    np.testing.assert_allclose(run_one("softmax", [x, dim])[0], ref, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(
        run_one("torch.nn.functional.log_softmax", [x], method=False, kwargs=[("dim", dim)])[0],
        np.log(ref),
        rtol=1e-5,
        atol=1e-5,
    )
    np.testing.assert_allclose(
        run_one("tf.softmax", [x, dim], framework="tfjs")[0], ref, rtol=1e-5, atol=1e-7
    )
    np.testing.assert_allclose(
        run_one("tf.logSoftmax", [x], framework="tfjs")[0],
        np.log(_softmax(x.astype(np.float64), -1)),
        rtol=1e-5,
        atol=1e-5,
    )


def test_linear() -> None:
    rng = np.random.default_rng(0)
    x, w, b = (rng.standard_normal(s).astype(np.float32) for s in [(4, 3), (2, 3), (2,)])
    (out,) = run_one("torch.nn.functional.linear", [x, w, b], method=False)
    np.testing.assert_allclose(out, x @ w.T + b, rtol=1e-6, atol=1e-6)
