"""The load-time fusions: a sum of two products sharing a factor (re-associated), and the
one-pass ``a - s·x`` update (bit-identical), including every fallback to the unfused
actions."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from plan_builder import Ref, action, build_plan
from plan_vectors import read_bytes, read_state
from syft_rs import Plan
from syft_rs.errors import ShapeError


def _grad_sum_plan(framework: str = "torch", shared_left: bool = True, copy: bool = True) -> bytes:
    """``t(A·B) + t(A·C)`` (or ``t(B·A) + t(C·A)``), with the first term copied as
    PySyft's traced gradient accumulation does."""
    if framework == "torch":
        mm = "matmul"

        def prod(x: int, y: int, ret: int) -> dict[str, Any]:
            return action(mm, Ref(y), target=x, ret=ret)

        def tr(x: int, ret: int) -> dict[str, Any]:
            return action("t", target=x, ret=ret)

        def cp(x: int, ret: int) -> dict[str, Any]:
            return action("copy", target=x, ret=ret)

        def add(x: int, y: int, ret: int) -> dict[str, Any]:
            return action("add_", Ref(y), target=x, ret=ret)
    else:

        def prod(x: int, y: int, ret: int) -> dict[str, Any]:
            return action("tf.matMul", Ref(x), Ref(y), ret=ret)

        def tr(x: int, ret: int) -> dict[str, Any]:
            return action("tf.transpose", Ref(x), ret=ret)

        def cp(x: int, ret: int) -> dict[str, Any]:
            return action("clone", Ref(x), ret=ret)

        def add(x: int, y: int, ret: int) -> dict[str, Any]:
            return action("tf.add", Ref(x), Ref(y), ret=ret)

    a, b, c = 1, 2, 3
    pairs = ((a, b), (a, c)) if shared_left else ((b, a), (c, a))
    acts = [
        prod(*pairs[0], ret=10),
        tr(10, ret=11),
        *([cp(11, ret=12)] if copy else []),
        prod(*pairs[1], ret=13),
        tr(13, ret=14),
        add(12 if copy else 11, 14, ret=15),
    ]
    return build_plan(acts, [a, b, c], [15], framework=framework)


@pytest.mark.parametrize("framework", ["torch", "tfjs"])
@pytest.mark.parametrize("shared_left", [True, False])
@pytest.mark.parametrize("copy", [True, False])
def test_product_sum_is_fused_and_close(framework: str, shared_left: bool, copy: bool) -> None:
    data = _grad_sum_plan(framework, shared_left, copy)
    fused = Plan.from_protobuf(data)
    plain = Plan.from_protobuf(data, reassociate=False)
    # The two products and their sum become one step (plus nothing else).
    assert fused._plan.num_steps == 1
    assert plain._plan.num_steps == (4 if copy else 3)
    rng = np.random.default_rng(1)
    if shared_left:
        a = rng.standard_normal((64, 30), dtype=np.float32)
        b = rng.standard_normal((30, 20), dtype=np.float32)
        c = rng.standard_normal((30, 20), dtype=np.float32)
        want = (a.astype(np.float64) @ b + a.astype(np.float64) @ c).T
    else:
        a = rng.standard_normal((30, 20), dtype=np.float32)
        b = rng.standard_normal((64, 30), dtype=np.float32)
        c = rng.standard_normal((64, 30), dtype=np.float32)
        want = (b.astype(np.float64) @ a + c.astype(np.float64) @ a).T
    (got,) = fused.execute(a, b, c)
    (ref,) = plain.execute(a, b, c)
    assert got.shape == ref.shape == want.shape and got.dtype == np.float32
    assert got.flags.c_contiguous
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(ref, want, rtol=1e-5, atol=1e-4)
    # The unfused plan rounds each product on its own, exactly as numpy's float32 does
    # up to the GEMMs' summation order.
    np.testing.assert_allclose(
        ref, ((a @ b + a @ c) if shared_left else (b @ a + c @ a)).T, rtol=1e-5, atol=1e-5
    )


def test_product_sum_falls_back_when_shapes_differ() -> None:
    """B and C of other shapes (their products broadcast): the unfused actions run."""
    plan = Plan.from_protobuf(_grad_sum_plan("torch", True, False))
    rng = np.random.default_rng(2)
    a = rng.standard_normal((5, 3), dtype=np.float32)
    b = rng.standard_normal((3, 4), dtype=np.float32)
    c = rng.standard_normal((3, 1), dtype=np.float32)
    (got,) = plan.execute(a, b, c)
    np.testing.assert_array_equal(got, (a @ b).T + (a @ c).T)
    # float64 operands and 1-D ones go the unfused way too, with the same results.
    a64, b64, c64 = (x.astype(np.float64) for x in (a, b, b))
    (got64,) = plan.execute(a64, b64, c64)
    np.testing.assert_allclose(got64, (a64 @ b64 + a64 @ c64).T, rtol=1e-12)
    v = rng.standard_normal(3, dtype=np.float32)
    (gv,) = plan.execute(a, v, v)
    np.testing.assert_allclose(gv, a @ v + a @ v, rtol=1e-6)


def test_product_sum_errors_name_the_failing_action() -> None:
    plan = Plan.from_protobuf(_grad_sum_plan("torch", True, True))
    a = np.ones((2, 3), np.float32)
    good = np.ones((3, 4), np.float32)
    bad = np.ones((5, 4), np.float32)
    # The second product (action #3) fails; the first one is fine.
    with pytest.raises(
        ShapeError, match=r"matmul: shapes cannot be multiplied \(2x3 and 5x4\) \(action #3\)"
    ):
        plan.execute(a, good, bad)
    with pytest.raises(ShapeError, match=r"\(action #0\)"):
        plan.execute(a, bad, bad)
    unfused = Plan.from_protobuf(_grad_sum_plan("torch", True, True), reassociate=False)
    with pytest.raises(ShapeError, match=r"\(action #3\)"):
        unfused.execute(a, good, bad)


def _update_plan(scale_first: bool, literal: float | None = None) -> bytes:
    """``W - lr·G`` as the two actions a traced SGD step records."""
    s: Any = literal if literal is not None else Ref(2)
    if scale_first and literal is None:
        mul = action("mul", Ref(3), target=2, ret=10)
    else:
        mul = action("mul", s, target=3, ret=10)
    acts = [mul, action("sub", Ref(10), target=1, ret=11)]
    inputs = [1, 2, 3] if literal is None else [1, 3]
    return build_plan(acts, inputs, [11])


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(np.float32, (7, 5), elements=st.floats(-1e3, 1e3, width=32)),
    hnp.arrays(np.float32, (7, 5), elements=st.floats(-1e3, 1e3, width=32)),
    st.floats(-2, 2, width=32),
    st.booleans(),
)
def test_update_is_bit_identical(
    w: np.ndarray, g: np.ndarray, lr: float, scale_first: bool
) -> None:
    plan = Plan.from_protobuf(_update_plan(scale_first))
    assert plan._plan.num_steps == 1
    lr_t = np.array([lr], np.float32)
    (got,) = plan.execute(w, lr_t, g)
    want = w - lr_t * g
    np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))
    # A number literal as the scale (torch computes it in float32).
    (lit,) = Plan.from_protobuf(_update_plan(False, literal=float(lr))).execute(w, g)
    np.testing.assert_array_equal(lit.view(np.uint32), (w - np.float32(lr) * g).view(np.uint32))


def test_update_falls_back_off_the_fast_path() -> None:
    plan = Plan.from_protobuf(_update_plan(True))
    rng = np.random.default_rng(3)
    w = rng.standard_normal((4, 3), dtype=np.float32)
    g = rng.standard_normal((4, 3), dtype=np.float32)
    # A per-column scale broadcasts: not one element, so the unfused actions run.
    s = rng.standard_normal(3, dtype=np.float32)
    np.testing.assert_array_equal(plan.execute(w, s, g)[0], w - s * g)
    # A scale and a factor that both broadcast to w's shape.
    g1 = rng.standard_normal((4, 1), dtype=np.float32)
    np.testing.assert_array_equal(plan.execute(w, s, g1)[0], w - s * g1)
    # Mixed dtypes promote as torch does (float64 result).
    got = plan.execute(w.astype(np.float64), np.array([0.5], np.float32), g)[0]
    assert got.dtype == np.float64
    np.testing.assert_array_equal(
        got, w.astype(np.float64) - (np.float32(0.5) * g).astype(np.float64)
    )
    # Transposed (non-contiguous) inputs.
    np.testing.assert_array_equal(
        plan.execute(w.T, np.array([2.0], np.float32), g.T)[0], w.T - 2 * g.T
    )
    # Shape errors name the action that fails.
    with pytest.raises(ShapeError, match=r"action #1 'sub'"):
        plan.execute(w, np.array([1.0], np.float32), np.ones((5, 3), np.float32))
    with pytest.raises(ShapeError, match=r"action #0 'mul'"):
        plan.execute(w, np.ones(2, np.float32), g)


@pytest.mark.parametrize("framework", [None, "tfjs", "torch"])
def test_mnist_plan_both_orders_within_the_vector_bound(framework: str | None) -> None:
    """Re-associated or not, the syft.js MNIST plan meets the parameter bound."""
    x, y = read_state("syftjs", "mnist_batch_data.State.pb")
    params = read_state("syftjs", "mnist_model_params.State.pb")
    ref = read_state("syftjs", "mnist_updated_model_params.State.pb")
    data = read_bytes("syftjs", "mnist_training_plan.Plan.pb")
    for reassociate in (True, False):
        plan = Plan.from_protobuf(data, framework, reassociate=reassociate)
        loss, acc, *out = plan.execute(x, y, 64, 0.005, *params)
        assert abs(float(loss) - 2.3055033683776855) <= float(np.spacing(np.float32(2.3055)))
        assert float(acc) == 0.078125
        for o, w in zip(out, ref, strict=True):
            assert float(np.abs(o.astype(np.float64) - w).sum()) < 1e-7


def test_batch_of_one_outer_product_matches_numpy() -> None:
    """k = 1 products (batch 1) are exact outer products."""
    plan = Plan.from_protobuf(_grad_sum_plan("torch", True, True), reassociate=False)
    rng = np.random.default_rng(4)
    a = rng.standard_normal((50, 1), dtype=np.float32)
    b = rng.standard_normal((1, 40), dtype=np.float32)
    c = rng.standard_normal((1, 40), dtype=np.float32)
    (got,) = plan.execute(a, b, c)
    np.testing.assert_array_equal(got, (a * b).T + (a * c).T)


def _sgd_plan(copy: bool = True) -> bytes:
    """``W - lr·(t(A·B) + t(A·C))``: the traced SGD step of a weight (inputs A, B, C, W, lr)."""
    acts = [
        action("matmul", Ref(2), target=1, ret=10),
        action("t", target=10, ret=11),
        *([action("copy", target=11, ret=12)] if copy else []),
        action("matmul", Ref(3), target=1, ret=13),
        action("t", target=13, ret=14),
        action("add_", Ref(14), target=12 if copy else 11, ret=15),
        action("mul", Ref(15), target=5, ret=16),
        action("sub", Ref(16), target=4, ret=17),
    ]
    return build_plan(acts, [1, 2, 3, 4, 5], [17])


@pytest.mark.parametrize("k", [1, 7, 64])
def test_sgd_step_is_one_step_and_matches_the_unfused_rounding(k: int) -> None:
    """The update runs on the fused product's pieces; each element rounds as the actions
    do once the product is given (compared against the re-associated product itself)."""
    data = _sgd_plan()
    fused = Plan.from_protobuf(data)
    assert fused._plan.num_steps == 1
    rng = np.random.default_rng(5)
    a = rng.standard_normal((k, 300), dtype=np.float32)
    b = rng.standard_normal((k, 200), dtype=np.float32)
    c = rng.standard_normal((k, 200), dtype=np.float32)
    w = rng.standard_normal((200, 300), dtype=np.float32)
    lr = np.array([0.005], np.float32)
    at = np.ascontiguousarray(a.T)  # the plan multiplies t(A)... here A is given as [300, k]
    (got,) = fused.execute(at, b, c, w, lr)
    # The same product through the product-only plan, then the update in numpy.
    (g,) = Plan.from_protobuf(_grad_sum_plan("torch", True, True)).execute(at, b, c)
    np.testing.assert_array_equal(got.view(np.uint32), (w - lr * g).view(np.uint32))
    (plain,) = Plan.from_protobuf(data, reassociate=False).execute(at, b, c, w, lr)
    np.testing.assert_allclose(got, plain, rtol=1e-5, atol=1e-6)


def test_sgd_step_falls_back_off_the_fast_path() -> None:
    plan = Plan.from_protobuf(_sgd_plan(copy=False))
    rng = np.random.default_rng(6)
    a = rng.standard_normal((30, 8), dtype=np.float32)
    b = rng.standard_normal((8, 20), dtype=np.float32)
    c = rng.standard_normal((8, 20), dtype=np.float32)
    g = (a @ b).T + (a @ c).T
    lr = np.array([0.5], np.float32)
    # W broadcasts against the product (a row): the update runs unfused.
    w_row = rng.standard_normal((1, 30), dtype=np.float32)
    np.testing.assert_allclose(
        plan.execute(a, b, c, w_row, lr)[0], w_row - lr * g, rtol=1e-5, atol=1e-6
    )
    # A transposed (column-major) W, a float64 W, a per-row scale.
    w = rng.standard_normal((30, 20), dtype=np.float32).T
    np.testing.assert_allclose(plan.execute(a, b, c, w, lr)[0], w - lr * g, rtol=1e-5, atol=1e-6)
    got64 = plan.execute(a, b, c, w.astype(np.float64), lr)[0]
    assert got64.dtype == np.float64
    np.testing.assert_allclose(got64, w - lr.astype(np.float64) * g, rtol=1e-5, atol=1e-6)
    s = rng.standard_normal((20, 1), dtype=np.float32)
    np.testing.assert_allclose(plan.execute(a, b, c, w, s)[0], w - s * g, rtol=1e-5, atol=1e-5)
    # Errors still name their action: the second product, then the subtraction.
    with pytest.raises(ShapeError, match=r"matmul: .*\(action #2\)"):
        plan.execute(a, b, np.ones((9, 20), np.float32), w, lr)
    with pytest.raises(ShapeError, match=r"action #6 'sub'"):
        plan.execute(a, b, c, np.ones((3, 3), np.float32), lr)


def test_equal_literals_share_a_constant_but_signed_zeros_do_not() -> None:
    """tfjs number literals become constants; equal ones are merged (so repeated actions
    are computed once), but -0.0 and 0.0 stay apart."""
    acts = [
        action("tf.mul", Ref(1), 0.0, ret=10),
        action("tf.mul", Ref(1), 0.0, ret=11),
        action("tf.add", Ref(10), Ref(11), ret=12),
        action("tf.mul", Ref(1), -0.0, ret=13),
    ]
    plan = Plan.from_protobuf(build_plan(acts, [1], [12, 13], framework="tfjs"))
    assert plan._plan.num_steps == 3  # the second tf.mul(x, 0) is the first one
    x = np.array([1.0, -2.0], np.float32)
    a, c = plan.execute(x)
    np.testing.assert_array_equal(np.signbit(a), [False, True])
    np.testing.assert_array_equal(np.signbit(c), [True, False])
