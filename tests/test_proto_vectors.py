"""Every shared .pb vector decodes as its message type; round trips are lossless/byte-identical."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import vector_path
from syft_rs import _core
from syft_rs.errors import PlanDecodeError

FILES: list[tuple[str, str]] = [
    ("syftproto/tensor_f32_2x3.pb", "TorchTensor"),
    ("syftproto/state_two_f32_params.pb", "State"),
    ("syftproto/state_two_f32_params_updated.pb", "State"),
    ("syftproto/state_two_f32_params_diff.pb", "State"),
    ("syftproto/state_torch_param.pb", "State"),
    ("syftproto/state_dtypes_edge.pb", "State"),
    ("syftproto/id_int.pb", "Id"),
    ("syftproto/id_str.pb", "Id"),
    ("syftproto/syft_message_object_tensor.pb", "SyftMessage"),
    ("syftproto/plan_with_state.pb", "Plan"),
    ("syftproto/plan_linreg_sgd.pb", "Plan"),
    ("syftjs/mnist_training_plan.Plan.pb", "Plan"),
    ("syftjs/mnist_batch_data.State.pb", "State"),
    ("syftjs/mnist_model_params.State.pb", "State"),
    ("syftjs/mnist_updated_model_params.State.pb", "State"),
    ("syftjs/plan_with_state.Plan.pb", "Plan"),
    ("syftjs/object_message_2x3.ObjectMessage.pb", "ObjectMessage"),
    ("pygrid/capture/checkpoint_2.pb", "State"),
    ("pygrid/capture/checkpoint_3.pb", "State"),
    ("pygrid/capture/diff1_state.pb", "State"),
    ("pygrid/capture/diff2_state.pb", "State"),
    ("pygrid/capture/diff_from_train_step_state.pb", "State"),
    ("pygrid/capture/plan_list.pb", "Plan"),
    ("pygrid/capture/plan_tfjs.pb", "Plan"),
    ("pygrid/capture/plan_torchscript.pb", "Plan"),
    ("pygrid/capture/train_batch_state.pb", "State"),
    ("pygrid/capture/train_step_updated_params_state.pb", "State"),
    ("pygrid/capture/uploaded_avg_plan.pb", "Plan"),
    ("pygrid/capture/uploaded_model_state.pb", "State"),
    ("pygrid/capture/uploaded_training_plan.pb", "Plan"),
]


def _read(rel: str) -> bytes:
    return vector_path(*rel.split("/")).read_bytes()


def _same(a: Any, b: Any) -> bool:
    """Deep equality of describe_message trees (arrays compared by dtype, shape, values)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and bool(np.array_equal(a, b))
        )
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(_same, a, b))
    return type(a) is type(b) and bool(a == b)


def test_every_vector_is_listed(vectors: Path) -> None:
    on_disk = {
        str(p.relative_to(vectors))
        for d in ("syftproto", "syftjs", "pygrid/capture")
        for p in (vectors / d).glob("*.pb")
    }
    listed = {f for f, _ in FILES} | {
        "syftproto/syft_proto_0.5.3.fds.pb",
        "syftjs/protocol_legacy_schema.Protocol.pb",
    }
    assert on_disk == listed


@pytest.mark.parametrize(("rel", "kind"), FILES, ids=[f for f, _ in FILES])
def test_vector_round_trip(rel: str, kind: str) -> None:
    data = _read(rel)
    tree = _core.describe_message(kind, data)
    again = _core.reencode_message(kind, data)
    assert _core.reencode_message(kind, again) == again
    assert _same(_core.describe_message(kind, again), tree), "decode -> encode -> decode changed it"
    if rel.startswith("syftproto/"):
        assert again == data, "syftproto vectors re-encode byte-identically"


PLANS = [f for f, k in FILES if k == "Plan"]


@pytest.mark.parametrize("rel", PLANS, ids=PLANS)
def test_plan_is_not_a_state(rel: str) -> None:
    # Messages are typed: a Plan's bytes read as a State do not yield tensors.
    with pytest.raises(PlanDecodeError, match=r"^Failed to decode State: "):
        _core.decode_state(_read(rel))


def test_legacy_protocol_is_a_clear_decode_error() -> None:
    data = _read("syftjs/protocol_legacy_schema.Protocol.pb")
    with pytest.raises(PlanDecodeError, match=r"^Failed to decode Protocol: .*UTF-8"):
        _core.describe_message("Protocol", data)
    with pytest.raises(PlanDecodeError, match=r"^Failed to decode Protocol: "):
        _core.reencode_message("Protocol", data)


def _expected() -> dict[str, Any]:
    return dict(json.loads(vector_path("syftproto", "expected.json").read_text()))


def _check_tensor(tree: dict[str, Any], exp: dict[str, Any]) -> None:
    assert tree["id"] == exp["tensor_id"]
    assert tree["serializer"] == 4
    data = tree["contents_data"]
    assert data["dtype"] == exp["dtype"]
    values = data["values"]
    assert values.dtype == np.dtype(exp["dtype"])
    assert list(values.shape) == exp["shape"]
    np.testing.assert_array_equal(values.ravel(), np.array(exp["values"], dtype=exp["dtype"]))


def test_syftproto_expected_values() -> None:
    exp = _expected()
    t = _core.describe_message("TorchTensor", _read("syftproto/tensor_f32_2x3.pb"))
    _check_tensor(t, exp["tensor_f32_2x3.pb"]["expected"])

    for name in (
        "state_two_f32_params.pb",
        "state_two_f32_params_updated.pb",
        "state_two_f32_params_diff.pb",
        "state_dtypes_edge.pb",
    ):
        state = _core.describe_message("State", _read(f"syftproto/{name}"))
        e = exp[name]["expected"]
        assert len(state["tensors"]) == len(e["tensors"])
        for st, et in zip(state["tensors"], e["tensors"], strict=True):
            _check_tensor(st["torch_tensor"], et)
        for ph, ep in zip(state["placeholders"], e.get("placeholders", []), strict=False):
            assert ph["id"] == ep["id"]
            assert ph["expected_shape"]["dims"] == ep["expected_shape"]

    edge = _core.describe_message("State", _read("syftproto/state_dtypes_edge.pb"))
    missing = [p["id"] for p in edge["placeholders"] if p["expected_shape"] is None]
    assert missing == [2403]

    tp = _core.describe_message("State", _read("syftproto/state_torch_param.pb"))
    ep = exp["state_torch_param.pb"]["expected"]["params"][0]
    param = tp["tensors"][0]["torch_param"]
    assert param["id"] == ep["param_id"]
    assert param["requires_grad"] is True
    _check_tensor(param["tensor"], ep["tensor"])

    assert _core.describe_message("Id", _read("syftproto/id_int.pb")) == 87836220602
    assert _core.describe_message("Id", _read("syftproto/id_str.pb")) == "worker-1"

    msg = _core.describe_message("SyftMessage", _read("syftproto/syft_message_object_tensor.pb"))
    assert list(msg) == ["contents_object_msg"]
    _check_tensor(
        msg["contents_object_msg"]["tensor"],
        exp["syft_message_object_tensor.pb"]["expected"]["tensor"],
    )


def test_syftproto_plan_structure() -> None:
    plan = _core.describe_message("Plan", _read("syftproto/plan_with_state.pb"))
    assert plan["id"] == 5001
    assert plan["name"] == "plan_with_state"
    assert plan["include_state"] is True
    assert plan["base_framework"] == "torch"
    assert list(plan["roles"]) == ["torch"]
    assert _same(plan["roles"]["torch"], plan["role"])
    role = plan["role"]
    assert [a["command"] for a in role["actions"]] == ["__add__", "torch.abs"]
    assert role["input_placeholder_ids"] == [6001]
    assert role["output_placeholder_ids"] == [6004]
    state_t = role["state"]["tensors"][0]["torch_tensor"]
    assert state_t["id"] == 6002
    np.testing.assert_array_equal(
        state_t["contents_data"]["values"], np.array([4.25, -7.5], np.float32)
    )
    assert "target_placeholder_id" in role["actions"][0]
    assert "target_placeholder_id" not in role["actions"][1]

    linreg = _core.describe_message("Plan", _read("syftproto/plan_linreg_sgd.pb"))
    actions = linreg["role"]["actions"]
    assert len(actions) == 20
    kw = [a["kwargs"] for a in actions if a["kwargs"]]
    # sum(dim=[0]) and sum(dim=1, keepdim=True) and argmax(dim=0): map entries sorted by key
    assert [k for k, _ in kw[1]] == ["dim", "keepdim"]
    assert kw[1][0][1] == {"arg_int": 1}
    assert kw[1][1][1] == {"arg_bool": True}


def test_syftjs_expected_values() -> None:
    exp = json.loads(vector_path("syftjs", "expected.json").read_text())
    om = _core.describe_message(
        "ObjectMessage", _read("syftjs/object_message_2x3.ObjectMessage.pb")
    )
    t = om["tensor"]
    assert t["id"] == 76703607357
    vals = t["contents_data"]["values"]
    assert vals.shape == (2, 3)
    np.testing.assert_array_equal(
        vals.ravel(),
        np.array(exp["object_message_2x3"]["decoded"]["contents_float32"], np.float32),
    )
    mnist = exp["mnist"]["plan"]
    plan = _core.describe_message("Plan", _read("syftjs/mnist_training_plan.Plan.pb"))
    assert str(plan["id"]) == mnist["plan_id"]
    assert plan["name"] == mnist["name"]
    assert plan["base_framework"] == mnist["base_framework"]
    assert len(plan["torchscript"]) == mnist["torchscript_bytes"]
    assert sorted(plan["roles"]) == mnist["roles_keys"]
    assert len(plan["role"]["actions"]) == mnist["role_num_actions"]
    assert len(plan["role"]["placeholders"]) == mnist["role_num_placeholders"]
    assert [str(i) for i in plan["role"]["input_placeholder_ids"]] == mnist["input_placeholder_ids"]
    assert sorted({a["command"] for a in plan["role"]["actions"]}) == mnist["tfjs_commands_used"]
    torch_cmds = {a["command"] for a in plan["roles"]["torch"]["actions"]}
    assert sorted(torch_cmds) == mnist["torch_role_commands_used"]

    params = _core.decode_state(_read("syftjs/mnist_model_params.State.pb"))
    assert [p.shape for p in params] == [(392, 784), (392,), (10, 392), (10,)]
    assert all(p.dtype == np.float32 for p in params)


def test_pygrid_plans_structure() -> None:
    tfjs = _core.describe_message("Plan", _read("pygrid/capture/plan_tfjs.pb"))
    assert tfjs["base_framework"] == "tfjs"
    assert tfjs["roles"] == {}
    assert tfjs["torchscript"] == b""
    ts = _core.describe_message("Plan", _read("pygrid/capture/plan_torchscript.pb"))
    assert ts["role"]["actions"] == []
    assert ts["torchscript"][:4] == b"PK\x03\x04"
    up = _core.describe_message("Plan", _read("pygrid/capture/uploaded_training_plan.pb"))
    assert up["base_framework"] == "torch"
    assert len(up["role"]["actions"]) == 95
    assert sorted(up["roles"]) == ["tfjs", "torch"]
