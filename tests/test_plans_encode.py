"""``_core.encode_plan`` (plain-Python Plan description -> protobuf) and ``_core.plan_variants``:
round trips through ``describe_message``, state and tensor arguments, and clear errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from syft_rs import _core
from syft_rs.errors import PlanDecodeError


def _spec(**role_overrides: Any) -> dict[str, Any]:
    role = {
        "id": 10,
        "actions": [
            {"command": "add", "target": 1, "args": [{"ref": 5}], "kwargs": [], "returns": [2]},
            {
                "command": "mul",
                "target": 2,
                "args": [np.array([2.0, 3.0], np.float32)],
                "kwargs": [("alpha", 1.5), ("flag", True), ("dims", [0, -1]), ("dtype", "float32")],
                "returns": [3],
            },
        ],
        "state": [(5, np.array([0.5, -1.0], np.float32))],
        "placeholders": [
            {"id": 1, "tags": ["#x"], "expected_shape": [2]},
            {"id": 2, "tags": [], "expected_shape": None},
            {"id": 3, "tags": [], "expected_shape": None},
        ],
        "inputs": [1],
        "outputs": [3],
    }
    role.update(role_overrides)
    return {
        "id": "plan-1",
        "name": "p",
        "base_framework": "torch",
        "include_state": True,
        "role": role,
        "roles": {"torch": role},
        "input_types": None,
    }


def test_encode_plan_roundtrip_and_execution() -> None:
    data = _core.encode_plan(_spec())
    described = _core.describe_message("Plan", data)
    assert described["id"] == "plan-1"
    assert described["name"] == "p"
    assert described["include_state"] is True
    assert set(described["roles"]) == {"torch"}
    role = described["role"]
    mul = role["actions"][1]
    assert mul["target_placeholder_id"] == {"id": 2}
    assert [k for k, _ in mul["kwargs"]] == ["alpha", "flag", "dims", "dtype"]  # order kept
    assert mul["kwargs"][0][1] == {"arg_float": 1.5}
    assert mul["kwargs"][2][1] == {"arg_list": {"args": [{"arg_int": 0}, {"arg_int": -1}]}}
    state = role["state"]
    assert state["placeholders"][0]["id"] == 5
    assert state["tensors"][0]["torch_tensor"]["id"] == 5
    assert role["placeholders"][0]["tags"] == ["#x"]
    assert role["placeholders"][0]["expected_shape"] == {"dims": [2]}
    assert role["placeholders"][1]["expected_shape"] is None
    # Encoding is deterministic and re-encodes byte for byte.
    assert _core.encode_plan(_spec()) == data
    assert _core.reencode_message("Plan", data) == data
    # (x + state) * [2, 3], without the keyword arguments (not part of torch mul).
    spec = _spec()
    spec["role"]["actions"][1]["kwargs"] = []
    plan = _core.Plan.from_bytes(_core.encode_plan(spec))
    (out,) = plan.execute([np.array([1.0, 1.0], np.float32)])
    np.testing.assert_array_equal(out, [3.0, 0.0])


@pytest.mark.parametrize(
    ("mutate", "error", "match"),
    [
        (lambda s: s.pop("id"), ValueError, "missing key 'id'"),
        (lambda s: s["role"].update(actions="x"), TypeError, r"spec.role.actions must be a list"),
        (lambda s: s["role"]["actions"][0].update(command=3), ValueError, "'command' must be"),
        (lambda s: s["role"]["actions"][0].update(args=[object()]), TypeError, "unsupported"),
        (lambda s: s["role"]["actions"][0].update(args=[{"ref": 1, "x": 2}]), ValueError, "ref"),
        (lambda s: s["role"].update(inputs=[True]), TypeError, "not a bool"),
        (lambda s: s["role"].update(inputs=[2**70]), ValueError, "int64"),
        (lambda s: s["role"]["actions"][0].update(kwargs=[("a",)]), ValueError, "pair"),
        (lambda s: s["role"].update(state=[(1, [1, 2])]), TypeError, "numpy array"),
        (lambda s: s["role"].update(state=[(1, np.zeros(2, np.float16))]), TypeError, "float16"),
        (lambda s: s.update(input_types={}), ValueError, "only None"),
        (lambda s: s["roles"].update({"tfjs": 3}), TypeError, "must be a dict"),
    ],
)
def test_encode_plan_rejects_bad_descriptions(mutate: Any, error: type, match: str) -> None:
    spec = _spec()
    mutate(spec)
    with pytest.raises(error, match=match):
        _core.encode_plan(spec)


def test_plan_variants_of_a_built_plan() -> None:
    spec = _spec()
    tfjs_role = dict(spec["role"], id=11, actions=[
        {"command": "tf.add", "target": None, "args": [{"ref": 1}, {"ref": 5}], "kwargs": [],
         "returns": [3]},
    ])  # fmt: skip
    spec["roles"] = {"torch": spec["role"], "tfjs": tfjs_role}
    variants = _core.plan_variants(_core.encode_plan(spec))
    assert variants["torchscript"] is None
    listed = _core.describe_message("Plan", variants["list"])
    assert listed["base_framework"] == "torch"
    assert set(listed["roles"]) == {"torch", "tfjs"}
    tfjs = _core.describe_message("Plan", variants["tfjs"])
    assert tfjs["base_framework"] == "tfjs"
    assert tfjs["roles"] == {}
    assert tfjs["role"]["actions"][0]["command"] == "tf.add"
    (out,) = _core.Plan.from_bytes(variants["tfjs"]).execute([np.array([1.0, 2.0], np.float32)])
    np.testing.assert_allclose(out, [1.5, 1.0])
    with pytest.raises(PlanDecodeError, match="Failed to decode Plan"):
        _core.plan_variants(b"\xff\xff")
