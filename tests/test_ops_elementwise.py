"""Property tests of the elementwise and comparison kernels against numpy (both dialects)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from plan_builder import run_one
from syft_rs.errors import DTypeError, ShapeError

DTYPES = ["bool", "uint8", "int32", "int64", "float32", "float64"]
CATEGORY = {"bool": 0, "uint8": 1, "int32": 1, "int64": 1, "float32": 2, "float64": 2}


def torch_result_type(ops: list[tuple[str, int]]) -> str:
    """Reference of plans.md §6.2: ``ops`` are (dtype, group) with group 2 = dimensioned,
    1 = 0-d, 0 = literal (whose dtype is bool / int64 / float32)."""
    cat = max(CATEGORY[d] for d, _ in ops)
    group = max(g for d, g in ops if CATEGORY[d] == cat)
    if group == 0:
        return ["bool", "int64", "float32"][cat]
    cands = [d for d, g in ops if CATEGORY[d] == cat and g == group]
    return max(cands, key=DTYPES.index)


def arrays(dtype: str, shape: tuple[int, ...]) -> st.SearchStrategy[np.ndarray]:
    if dtype == "bool":
        elems: st.SearchStrategy[Any] = st.booleans()
    elif dtype == "uint8":
        elems = st.integers(0, 15)
    elif dtype.startswith("int"):
        elems = st.integers(-50, 50)
    else:
        elems = st.floats(-100, 100, width=32).filter(lambda v: abs(v) > 1e-3 or v == 0)
    return hnp.arrays(np.dtype(dtype), shape, elements=elems)


def group(a: np.ndarray) -> int:
    return 2 if a.ndim else 1


BINARY = {
    "add": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "div": np.true_divide,
    "maximum": np.maximum,
    "minimum": np.minimum,
}


@st.composite
def binary_case(draw: st.DrawFn) -> tuple[str, np.ndarray, np.ndarray]:
    op = draw(st.sampled_from(sorted(BINARY)))
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=4))
    da, db = draw(st.sampled_from(DTYPES)), draw(st.sampled_from(DTYPES))
    a = draw(arrays(da, shapes.input_shapes[0]))
    b = draw(arrays(db, shapes.input_shapes[1]))
    return op, a, b


@settings(max_examples=150, deadline=None)
@given(binary_case())
def test_torch_binary_ops_match_numpy_in_the_promoted_dtype(
    case: tuple[str, np.ndarray, np.ndarray],
) -> None:
    op, a, b = case
    rt = torch_result_type([(str(a.dtype), group(a)), (str(b.dtype), group(b))])
    if op == "div" and CATEGORY[rt] < 2:
        rt = "float32"
    if rt == "bool" and op in ("sub", "div"):
        with pytest.raises(DTypeError):
            run_one(op, [a, b])
        return
    (out,) = run_one(op, [a, b])
    assert str(out.dtype) == rt
    if rt == "bool":
        want = {
            "add": np.logical_or,
            "mul": np.logical_and,
            "maximum": np.logical_or,
            "minimum": np.logical_and,
        }[op](a, b)
    else:
        with np.errstate(all="ignore"):
            want = BINARY[op](a.astype(rt), b.astype(rt)).astype(rt)
    np.testing.assert_array_equal(out, want)


@settings(max_examples=80, deadline=None)
@given(
    st.sampled_from(["add", "sub", "mul", "div"]),
    st.sampled_from(DTYPES[1:]),
    st.one_of(st.integers(-5, 5), st.floats(-4, 4, width=32)),
    st.sampled_from([(), (3,), (2, 2)]),
)
def test_torch_literals_are_weak_scalars(
    op: str, dtype: str, lit: int | float, shape: tuple[int, ...]
) -> None:
    a = np.arange(1, 1 + int(np.prod(shape)), dtype=dtype).reshape(shape)
    (out,) = run_one(op, [a, lit])
    rt = torch_result_type(
        [(dtype, group(a)), ("float32" if isinstance(lit, float) else "int64", 0)]
    )
    if op == "div" and CATEGORY[rt] < 2:
        rt = "float32"
    assert str(out.dtype) == rt
    with np.errstate(all="ignore"):
        want = BINARY[op](a.astype(rt), np.array(lit).astype(rt)).astype(rt)
    np.testing.assert_array_equal(out, want)


@pytest.mark.parametrize(
    ("a", "b", "dtype"),
    [
        (np.ones(3, np.float32), np.array(2, np.int64), "float32"),
        (np.ones(3, np.int64), np.array(2.0, np.float64), "float64"),
        (np.ones(3, np.float32), np.array(2.0, np.float64), "float32"),
        (np.ones(3, np.int32), np.ones(3, np.int64), "int64"),
        (np.ones(3, np.uint8), np.ones(3, np.int32), "int32"),
        (np.ones(3, bool), np.ones(3, np.float32), "float32"),
        (np.array(1.0, np.float32), np.array(2, np.int64), "float32"),
    ],
)
def test_promotion_examples_of_the_spec(a: np.ndarray, b: np.ndarray, dtype: str) -> None:
    assert str(run_one("add", [a, b])[0].dtype) == dtype


def test_reflected_and_alpha_forms() -> None:
    x = np.array([1.0, 2.0, 4.0], np.float32)
    np.testing.assert_array_equal(run_one("__rtruediv__", [x, 1])[0], 1 / x)
    np.testing.assert_array_equal(run_one("__rsub__", [x, 10])[0], 10 - x)
    np.testing.assert_array_equal(run_one("__rpow__", [x, 2])[0], 2.0**x)
    np.testing.assert_array_equal(run_one("__radd__", [x, 1])[0], x + 1)
    np.testing.assert_array_equal(run_one("sub", [x, x], kwargs=[("alpha", 2)])[0], x - 2 * x)
    np.testing.assert_array_equal(run_one("add", [x, x, 3])[0], x + 3 * x)
    np.testing.assert_array_equal(run_one("torch.add", [x, x], method=False)[0], x + x)


def test_in_place_forms() -> None:
    x = np.array([1.0, 2.0], np.float32)
    (out,) = run_one("add_", [x, np.array([1, 1], np.int64)])
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [2.0, 3.0])
    np.testing.assert_array_equal(x, [1.0, 2.0])  # caller array untouched
    (out,) = run_one("mul_", [np.array([1, 2], np.int64), 3])
    assert out.dtype == np.int64
    with pytest.raises(
        DTypeError, match="result type float32 can't be cast to the desired output type int64"
    ):
        run_one("add_", [np.array([1, 2], np.int64), 0.5])
    with pytest.raises(ShapeError, match="doesn't match the broadcast shape"):
        run_one("add_", [np.ones(2, np.float32), np.ones((2, 2), np.float32)])
    np.testing.assert_array_equal(run_one("exp_", [np.zeros(2, np.float32)])[0], [1.0, 1.0])


UNARY = {
    "neg": np.negative,
    "abs": np.abs,
    "sign": np.sign,
    "relu": lambda v: np.maximum(v, 0),
    "exp": np.exp,
    "log": np.log,
    "sqrt": np.sqrt,
    "rsqrt": lambda v: 1 / np.sqrt(v),
    "sigmoid": lambda v: 1 / (1 + np.exp(-v)),
    "tanh": np.tanh,
}
FLOAT_OPS = {"exp", "log", "sqrt", "rsqrt", "sigmoid", "tanh"}


@settings(max_examples=120, deadline=None)
@given(
    st.sampled_from(sorted(UNARY)),
    st.sampled_from(["torch", "tfjs"]),
    st.sampled_from(["float32", "float64", "int32", "int64"]),
    hnp.array_shapes(min_dims=0, max_dims=3, max_side=4),
    st.data(),
)
def test_unary_ops_match_numpy(
    op: str, fw: str, dtype: str, shape: tuple[int, ...], data: st.DataObject
) -> None:
    x = data.draw(arrays(dtype, shape))
    if op in ("log", "sqrt", "rsqrt"):
        x = np.abs(x) + np.array(1, dtype=dtype)
    cmd = op if fw == "torch" else f"tf.{op}"
    (out,) = run_one(cmd, [x], framework=fw)
    entry = {"float64": "float32", "int64": "int32"}.get(dtype, dtype) if fw == "tfjs" else dtype
    want_dtype = (
        ("float32" if fw == "tfjs" or "int" in dtype else dtype) if op in FLOAT_OPS else entry
    )
    assert str(out.dtype) == want_dtype
    with np.errstate(all="ignore"):
        want = UNARY[op](x.astype(np.float64)).astype(want_dtype)
    if op in FLOAT_OPS:
        np.testing.assert_allclose(out, want, rtol=2e-6, atol=1e-30)
    else:
        np.testing.assert_array_equal(out, want)


def test_bool_unary_rules() -> None:
    b = np.array([True, False])
    with pytest.raises(DTypeError):
        run_one("neg", [b])
    assert run_one("tf.relu", [b], framework="tfjs")[0].dtype == np.int32
    assert run_one("exp", [b])[0].dtype == np.float32


@settings(max_examples=80, deadline=None)
@given(binary_case(), st.sampled_from(["eq", "ne", "gt", "ge", "lt", "le", "__gt__", "__eq__"]))
def test_comparisons_match_numpy(case: tuple[str, np.ndarray, np.ndarray], op: str) -> None:
    _, a, b = case
    rt = torch_result_type([(str(a.dtype), group(a)), (str(b.dtype), group(b))])
    (out,) = run_one(op, [a, b])
    f = {
        "eq": np.equal,
        "ne": np.not_equal,
        "gt": np.greater,
        "ge": np.greater_equal,
        "lt": np.less,
        "le": np.less_equal,
    }
    want = f[op.strip("_")](a.astype(rt), b.astype(rt))
    assert out.dtype == np.bool_
    np.testing.assert_array_equal(out, want)


TF_BINARY = {
    "add": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "maximum": np.maximum,
    "minimum": np.minimum,
}


@settings(max_examples=80, deadline=None)
@given(binary_case(), st.sampled_from([*sorted(TF_BINARY), "div"]))
def test_tfjs_binary_ops_upcast(case: tuple[str, np.ndarray, np.ndarray], op: str) -> None:
    _, a, b = case
    entry = {"float64": "float32", "int64": "int32", "uint8": "int32"}
    a2 = a.astype(entry.get(str(a.dtype), str(a.dtype)))
    b2 = b.astype(entry.get(str(b.dtype), str(b.dtype)))
    order = ["bool", "int32", "float32"]
    rt = max(str(a2.dtype), str(b2.dtype), key=order.index)
    if rt == "bool":
        return
    if op == "div" and rt == "int32" and (b2 == 0).any():
        return
    (out,) = run_one(f"tf.{op}", [a, b], framework="tfjs")
    assert str(out.dtype) == rt
    with np.errstate(all="ignore"):
        want = _tf_reference(op, a2.astype(rt), b2.astype(rt), rt)
    np.testing.assert_array_equal(out, want.astype(rt))


def _tf_reference(op: str, a: np.ndarray, b: np.ndarray, rt: str) -> np.ndarray:
    if op == "div":
        return np.floor_divide(a, b) if rt == "int32" else np.true_divide(a, b)
    return TF_BINARY[op](a, b)


def test_tfjs_number_literals_are_float32() -> None:
    (out,) = run_one("tf.add", [np.array([1, 2], np.int32), 1], framework="tfjs")
    assert out.dtype == np.float32
    (out,) = run_one("tf.div", [1, np.array([2.0, 4.0], np.float32)], framework="tfjs")
    np.testing.assert_array_equal(out, [0.5, 0.25])


def test_clamp_and_fill() -> None:
    x = np.array([-2.0, 0.5, 3.0], np.float32)
    np.testing.assert_array_equal(
        run_one("clamp", [x], kwargs=[("min", -1), ("max", 1)])[0], np.clip(x, -1, 1)
    )
    np.testing.assert_array_equal(run_one("clamp", [x], kwargs=[("max", 0.0)])[0], np.minimum(x, 0))
    np.testing.assert_array_equal(run_one("zeros_like", [x])[0], np.zeros(3, np.float32))
    assert run_one("ones_like", [np.zeros(2, np.int64)])[0].dtype == np.int64


def test_broadcast_error_message_names_shapes_and_action() -> None:
    with pytest.raises(ShapeError) as e:
        run_one("add", [np.ones((3, 3), np.float32), np.ones(2, np.float32)])
    assert (
        str(e.value)
        == "Operands could not be broadcast together with shapes 3,3 and 2. (action #0 'add')"
    )
    with pytest.raises(
        ShapeError, match=r"shapes  and 0,2\. \(action #0 'mul'\)|shapes 2,1 and 3,2"
    ):
        run_one("mul", [np.ones((2, 1), np.float32), np.ones((3, 2), np.float32)])
