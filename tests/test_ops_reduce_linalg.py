"""Property tests of reductions, linear algebra and transposes against numpy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from plan_builder import run_one
from syft_rs.errors import DTypeError, ShapeError

FLOATS = st.floats(-10, 10, width=32)


@st.composite
def reduce_case(draw: st.DrawFn) -> tuple[np.ndarray, list[int] | int | None, bool]:
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5))
    x = draw(hnp.arrays(np.float32, shape, elements=FLOATS))
    nd = len(shape)
    kind = draw(st.sampled_from(["none", "int", "list"]))
    if kind == "none":
        dim: list[int] | int | None = None
    elif kind == "int":
        dim = draw(st.integers(-nd, nd - 1))
    else:
        dim = draw(st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd, unique=True))
    return x, dim, draw(st.booleans())


def _axis(dim: list[int] | int | None) -> tuple[int, ...] | int | None:
    return tuple(dim) if isinstance(dim, list) else dim


@settings(max_examples=120, deadline=None)
@given(reduce_case(), st.sampled_from(["sum", "mean", "max", "min", "prod"]))
def test_torch_reductions(case: tuple[np.ndarray, list[int] | int | None, bool], op: str) -> None:
    x, dim, keep = case
    if op in ("max", "min") and dim is not None:
        if isinstance(dim, list):
            dim = dim[0]
        (out,) = run_one(op, [x, dim], kwargs=[("keepdim", keep)])
    else:
        kwargs: list[tuple[str, object]] = []
        if dim is not None:
            kwargs.append(("dim", dim))
        keep = keep and (dim is not None or op not in ("max", "min"))
        if keep:
            kwargs.append(("keepdim", keep))
        (out,) = run_one(op, [x], kwargs=kwargs)
    f = {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min, "prod": np.prod}[op]
    keep_ref = keep
    want = f(x.astype(np.float64), axis=_axis(dim), keepdims=keep_ref)
    assert out.dtype == np.float32
    assert out.shape == np.shape(want)
    with np.errstate(over="ignore"):
        want32 = np.asarray(want).astype(np.float32)  # float32 overflow is inf, as in torch
    np.testing.assert_allclose(out, want32, rtol=1e-5, atol=1e-4)


@settings(max_examples=80, deadline=None)
@given(reduce_case(), st.sampled_from(["argmax", "argmin"]), st.sampled_from(["torch", "tfjs"]))
def test_argmax_argmin(
    case: tuple[np.ndarray, list[int] | int | None, bool], op: str, fw: str
) -> None:
    x, dim, keep = case
    if isinstance(dim, list):
        dim = dim[0]
    f = np.argmax if op == "argmax" else np.argmin
    if fw == "torch":
        kwargs: list[tuple[str, object]] = [("keepdim", keep)]
        if dim is not None:
            kwargs.insert(0, ("dim", dim))
        (out,) = run_one(f"torch.{op}", [x], method=False, kwargs=kwargs)
        want = f(x, axis=dim, keepdims=keep)
        assert out.dtype == np.int64
    else:
        d = 0 if dim is None else dim
        (out,) = run_one("tf.argMax" if op == "argmax" else "tf.argMin", [x, d], framework="tfjs")
        want = f(x, axis=d)
        assert out.dtype == np.int32
    np.testing.assert_array_equal(out, want)


def test_reduction_dtypes() -> None:
    b = np.array([True, False, True])
    assert run_one("sum", [b])[0].dtype == np.int64
    assert run_one("tf.sum", [b], framework="tfjs")[0].dtype == np.int32
    assert run_one("sum", [np.arange(3, dtype=np.int32)])[0].dtype == np.int64
    with pytest.raises(DTypeError):
        run_one("mean", [np.arange(3)])
    assert (
        run_one("tf.mean", [np.arange(4, dtype=np.int32)], framework="tfjs")[0].dtype == np.float32
    )
    (m,) = run_one("max", [np.ones(3, np.float32), np.array([0.0, 2.0, 1.0], np.float32)])
    np.testing.assert_array_equal(m, [1.0, 2.0, 1.0])
    (s,) = run_one(
        "tf.sum", [np.ones((2, 3), np.float32), [1]], framework="tfjs", kwargs=[("keepdim", True)]
    )
    assert s.shape == (2, 1)
    with pytest.raises(ShapeError, match="dimension out of range"):
        run_one("sum", [np.ones((2, 3), np.float32)], kwargs=[("dim", 2)])


@st.composite
def matmul_case(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    m, k, n = (draw(st.integers(1, 6)) for _ in range(3))
    kind = draw(st.sampled_from(["2x2", "1x2", "2x1", "1x1", "batch"]))
    batch = tuple(draw(st.lists(st.integers(1, 3), min_size=1, max_size=2)))
    sa = {"2x2": (m, k), "1x2": (k,), "2x1": (m, k), "1x1": (k,), "batch": (*batch, m, k)}[kind]
    sb = {"2x2": (k, n), "1x2": (k, n), "2x1": (k,), "1x1": (k,), "batch": (k, n)}[kind]
    dt = draw(st.sampled_from([np.float32, np.float64, np.int64]))
    el = st.integers(-5, 5) if dt == np.int64 else FLOATS
    return draw(hnp.arrays(dt, sa, elements=el)), draw(hnp.arrays(dt, sb, elements=el))


@settings(max_examples=100, deadline=None)
@given(matmul_case())
def test_matmul_matches_numpy(case: tuple[np.ndarray, np.ndarray]) -> None:
    a, b = case
    (out,) = run_one("matmul", [a, b])
    want = np.matmul(a, b)
    assert out.shape == want.shape and out.dtype == want.dtype
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-4)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 40), st.integers(1, 40), st.integers(1, 40), st.booleans(), st.booleans())
def test_transposes_fold_into_matmul(m: int, k: int, n: int, ta: bool, tb: bool) -> None:
    rng = np.random.default_rng(m * 10000 + k * 100 + n)
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(np.float32)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(np.float32)
    from plan_builder import Ref, action, build_plan
    from syft_rs import Plan

    acts = []
    ra, rb = 1, 2
    if ta:
        acts.append(action("t", target=1, ret=10))
        ra = 10
    if tb:
        acts.append(action("t", target=2, ret=11))
        rb = 11
    acts.append(action("matmul", Ref(rb), target=ra, ret=20))
    plan = Plan.from_protobuf(build_plan(acts, [1, 2], [20]))
    (out,) = plan.execute(a, b)
    want = (a.T if ta else a).astype(np.float64) @ (b.T if tb else b).astype(np.float64)
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-4)
    # tfjs flags
    (out2,) = run_one("tf.matMul", [a, b, ta, tb], framework="tfjs")
    np.testing.assert_allclose(out2, want, rtol=1e-4, atol=1e-4)


def test_matmul_errors() -> None:
    with pytest.raises(ShapeError, match="cannot be multiplied"):
        run_one("matmul", [np.ones((2, 3), np.float32), np.ones((2, 3), np.float32)])
    with pytest.raises(DTypeError, match="same dtype"):
        run_one("mm", [np.ones((2, 2), np.float64), np.ones((2, 2), np.float32)])
    with pytest.raises(ShapeError):
        run_one("mm", [np.ones(2, np.float32), np.ones((2, 2), np.float32)])
    with pytest.raises(ShapeError, match=r"t\(\) expects a tensor with <= 2 dimensions"):
        run_one("t", [np.ones((2, 2, 2), np.float32)])


def test_t_and_transpose() -> None:
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(run_one("t", [x])[0], x.T)
    np.testing.assert_array_equal(run_one("t", [np.arange(3)])[0], np.arange(3))
    y = np.arange(24).reshape(2, 3, 4)
    np.testing.assert_array_equal(run_one("transpose", [y, 0, -1])[0], np.swapaxes(y, 0, -1))
    np.testing.assert_array_equal(
        run_one("tf.transpose", [y], framework="tfjs")[0], y.T.astype(np.int32)
    )
    np.testing.assert_array_equal(
        run_one("tf.transpose", [y, [1, 0, 2]], framework="tfjs")[0], y.transpose(1, 0, 2)
    )
    out = run_one("t", [x])[0]
    assert out.flags.c_contiguous
