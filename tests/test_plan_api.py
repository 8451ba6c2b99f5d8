"""Plan loading errors (plans.md §4, §10), input conversion and the Python API."""

from __future__ import annotations

import numpy as np
import pytest

from plan_builder import Ref, action, build_plan
from plan_vectors import read_bytes
from syft_rs import Plan
from syft_rs.errors import (
    MissingVariableError,
    NotEnoughArgsError,
    PlanDecodeError,
    PlanValidationError,
    UnsupportedOpError,
)


def _plan(
    actions: list[dict[str, object]], inputs: list[int], outputs: list[int], **kw: object
) -> Plan:
    return Plan.from_protobuf(build_plan(actions, inputs, outputs, **kw))  # type: ignore[arg-type]


def test_unsupported_ops_and_kinds_in_one_error() -> None:
    acts = [
        action("foo", target=1, ret=2),
        action("add", Ref(2), target=1, ret=3),
        action("bar", target=3, ret=4),
        action("foo", target=4, ret=5),
        action("mul", ret=6),
        action("sub", Ref(1), target=1, ret=7),
    ]
    data = build_plan(acts, [1], [7], pointer_arg_at=5)
    with pytest.raises(UnsupportedOpError) as e:
        Plan.from_protobuf(data)
    assert str(e.value) == (
        "Plan 'test_plan' (torch dialect) uses unsupported operations: foo, bar; "
        "unsupported argument kinds: method call without a target (action #4 'mul'), "
        "arg_pointer_tensor (action #5 'sub')"
    )
    assert isinstance(e.value, NotImplementedError)


def test_unknown_tfjs_ops_and_framework() -> None:
    with pytest.raises(
        UnsupportedOpError, match=r"\(tfjs dialect\) uses unsupported operations: tf.logSumExp"
    ):
        _plan([action("tf.logSumExp", Ref(1), ret=2)], [1], [2], framework="tfjs")
    with pytest.raises(UnsupportedOpError, match="unsupported framework 'jax'"):
        _plan([action("add", Ref(1), target=1, ret=2)], [1], [2], framework="jax")


@pytest.mark.parametrize(
    ("act", "detail"),
    [
        (
            action("sum", target=1, kwargs=[("axis", 1)], ret=2),
            "unexpected keyword argument 'axis'",
        ),
        (action("neg", 1, target=1, ret=2), "takes at most 0 positional arguments, got 1"),
        (action("torch.argmax", kwargs=[("dim", 1)], ret=2), "missing required argument 'self'"),
        (
            action("sum", "x", target=1, ret=2),
            "argument 'dim' must be an int or a list of ints, got arg_str",
        ),
        (
            action("sum", 1, target=1, kwargs=[("dim", 0)], ret=2),
            "got multiple values for argument 'dim'",
        ),
        (action("softmax", target=1, ret=2), "missing required argument 'dim'"),
    ],
)
def test_signature_validation(act: dict[str, object], detail: str) -> None:
    with pytest.raises(PlanValidationError) as e:
        _plan([act], [1], [2])
    assert str(e.value) == f"Action #0 '{act['command']}': {detail}"


def test_missing_variables() -> None:
    with pytest.raises(MissingVariableError, match=r"^Missing variable 9 in action #1 'mul'$"):
        _plan(
            [action("add", Ref(1), target=1, ret=2), action("mul", Ref(9), target=2, ret=3)],
            [1],
            [3],
        )
    with pytest.raises(MissingVariableError, match=r"^Missing variable 8 for output #1$"):
        _plan([action("add", Ref(1), target=1, ret=2)], [1], [2, 8])
    assert issubclass(MissingVariableError, PlanValidationError)


def test_role_selection_errors() -> None:
    data = read_bytes("pygrid", "capture", "plan_tfjs.pb")
    with pytest.raises(PlanDecodeError, match="has no 'torch' role"):
        Plan.from_protobuf(data, "torch")
    with pytest.raises(ValueError, match="framework must be"):
        Plan.from_protobuf(data, "onnx")
    with pytest.raises(PlanDecodeError):
        Plan.from_protobuf(b"\xff\xff\xff")


def test_state_binding_and_count() -> None:
    state = [(50, np.array([1.0, 2.0], np.float32))]
    p = _plan([action("add", Ref(50), target=1, ret=2)], [1], [2], state=state)
    np.testing.assert_array_equal(p.execute(np.zeros(2, np.float32))[0], [1.0, 2.0])


def test_arity_and_input_types() -> None:
    p = _plan([action("add", Ref(2), target=1, ret=3)], [1, 2], [3])
    with pytest.raises(NotEnoughArgsError, match=r"^Plan 'test_plan' expects 2 inputs, got 1$"):
        p.execute(np.ones(1))
    with pytest.raises(NotEnoughArgsError):
        p.execute(1, 2, 3)
    with pytest.raises(TypeError, match="unsupported dtype float16"):
        p.execute(np.ones(2, np.float16), 1)
    with pytest.raises(TypeError, match="expected a numpy array"):
        p.execute([1, 2], 1)
    assert p.execute(np.ones(2, np.int32), 1)[0].dtype == np.int32  # int literal input is int64 0-d
    assert p.execute(np.array(1, np.int32), 2)[0].dtype == np.int64  # 0-d vs 0-d: widest int
    assert p.execute(1, 2)[0].dtype == np.int64
    assert p.execute(1, 2.5)[0].dtype == np.float32
    assert p.execute(True, False)[0].dtype == np.bool_
    assert p.execute(np.float64(1.5), 1)[0].dtype == np.float64
    t = _plan([action("tf.add", Ref(1), Ref(2), ret=3)], [1, 2], [3], framework="tfjs")
    out = t.execute(np.ones(2, np.int64), 1)[0]
    assert out.dtype == np.float32  # tfjs: int → float32 0-d, int64 → int32 on entry
    assert t.execute(np.ones(2, np.int64), np.ones(2, np.int64))[0].dtype == np.int32
    assert t.execute(np.ones(2, np.float64), 1.0)[0].dtype == np.float32


def test_outputs_are_new_arrays_and_inputs_untouched() -> None:
    p = _plan([action("add_", Ref(2), target=1, ret=1)], [1, 2], [1, 2])
    a, b = np.ones(3, np.float32), np.full(3, 2.0, np.float32)
    x, y = p.execute(a, b)
    np.testing.assert_array_equal(x, [3.0, 3.0, 3.0])
    y[0] = 99.0
    np.testing.assert_array_equal(a, [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(b, [2.0, 2.0, 2.0])
    assert x.flags.writeable and x.flags.c_contiguous


def test_in_place_rebinds_target_when_return_id_differs() -> None:
    p = _plan(
        [action("add_", 1, target=1, ret=5), action("mul", Ref(1), target=1, ret=6)],
        [1],
        [5, 6],
    )
    five, six = p.execute(np.array([1.0, 2.0], np.float32))
    np.testing.assert_array_equal(five, [2.0, 3.0])
    np.testing.assert_array_equal(six, [4.0, 9.0])


def test_constant_tensor_args_and_non_contiguous_inputs() -> None:
    c = np.array([[1.0, 2.0]], np.float32)
    p = _plan([action("mul", c, target=1, ret=2)], [1], [2])
    x = np.arange(8, dtype=np.float32).reshape(4, 2)[::2]
    np.testing.assert_array_equal(p.execute(x)[0], x * c)
    np.testing.assert_array_equal(
        p.execute(np.asfortranarray(np.ones((3, 2), np.float32)))[0], np.ones((3, 2)) * c
    )


def test_round_trip_and_properties() -> None:
    data = read_bytes("syftjs", "mnist_training_plan.Plan.pb")
    p = Plan.from_protobuf(data)
    assert p.name == "training_plan" and p.dialect == "tfjs"
    assert len(p.commands) == 95 and p.commands[0] == "tf.transpose"
    q = Plan.from_protobuf(p.to_protobuf())
    assert q.commands == p.commands and q.num_outputs == 6
    assert "training_plan" in repr(p)


@pytest.mark.anyio
async def test_execute_async() -> None:
    p = _plan([action("mul", 2, target=1, ret=2)], [1], [2])
    (out,) = await p.execute_async(np.array([1.5], np.float32))
    np.testing.assert_array_equal(out, [3.0])
