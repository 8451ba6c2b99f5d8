"""Test helper: build syft-proto Plans from a compact description (reference encoder).

Uses the syft-proto 0.5.3 FileDescriptorSet of the shared vectors with the protobuf
runtime, so it is independent of the Rust codec under test.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from conftest import vector_path

_CLASSES: dict[str, Any] = {}


def _cls(name: str) -> Any:
    if not _CLASSES:
        from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

        fds = descriptor_pb2.FileDescriptorSet.FromString(
            vector_path("syftproto", "syft_proto_0.5.3.fds.pb").read_bytes()
        )
        pool = descriptor_pool.DescriptorPool()
        for f in fds.file:
            pool.Add(f)
        for full in (
            "syft_proto.execution.v1.Plan",
            "syft_proto.execution.v1.Role",
            "syft_proto.execution.v1.ComputationAction",
            "syft_proto.types.syft.v1.Arg",
        ):
            _CLASSES[full.rsplit(".", 1)[1]] = message_factory.GetMessageClass(
                pool.FindMessageTypeByName(full)
            )
    return _CLASSES[name]


class Ref:
    """A reference to a value id (input, state or earlier result)."""

    def __init__(self, id: int | str) -> None:
        self.id = id


def _set_id(msg: Any, id: int | str) -> None:
    if isinstance(id, str):
        msg.id_str = id
    else:
        msg.id_int = id


def _fill_tensor(t: Any, arr: np.ndarray) -> None:
    arr = np.asarray(arr)
    t.serializer = 4
    d = t.contents_data
    d.shape.dims.extend(arr.shape)
    d.dtype = str(arr.dtype)
    getattr(d, "contents_" + str(arr.dtype)).extend(arr.ravel().tolist())


def _fill_arg(a: Any, v: Any) -> None:
    if isinstance(v, Ref):
        _set_id(a.arg_placeholder_id.id, v.id)
    elif isinstance(v, bool):
        a.arg_bool = v
    elif isinstance(v, int):
        a.arg_int = v
    elif isinstance(v, float):
        a.arg_float = v
    elif isinstance(v, str):
        a.arg_str = v
    elif isinstance(v, np.ndarray):
        _fill_tensor(a.arg_tensor, v)
    elif isinstance(v, (list, tuple)):
        a.arg_list.SetInParent()
        for x in v:
            _fill_arg(a.arg_list.args.add(), x)
    elif v == "pointer":  # pragma: no cover - never reached (str above)
        raise AssertionError
    else:
        raise TypeError(f"cannot encode {v!r}")


def action(
    command: str,
    *args: Any,
    target: int | str | None = None,
    kwargs: list[tuple[str, Any]] | None = None,
    ret: int | str | None = None,
) -> dict[str, Any]:
    """Describe one action."""
    return {"command": command, "target": target, "args": args, "kwargs": kwargs or [], "ret": ret}


def build_plan(
    actions: list[dict[str, Any]],
    inputs: list[int | str],
    outputs: list[int | str],
    *,
    framework: str = "torch",
    name: str = "test_plan",
    state: list[tuple[int | str, np.ndarray]] | None = None,
    pointer_arg_at: int | None = None,
) -> bytes:
    """Encode a Plan whose ``role`` holds ``actions`` (``base_framework = framework``)."""
    plan = _cls("Plan")()
    _set_id(plan.id, 1)
    plan.name = name
    plan.base_framework = framework
    role = plan.role
    _set_id(role.id, 2)
    for k, a in enumerate(actions):
        act = role.actions.add()
        act.command = a["command"]
        if a["target"] is not None:
            _set_id(act.target_placeholder_id.id, a["target"])
        for v in a["args"]:
            _fill_arg(act.args.add(), v)
        for key, v in a["kwargs"]:
            _fill_arg(act.kwargs[key], v)
        if a["ret"] is not None:
            _set_id(act.return_placeholder_ids.add().id, a["ret"])
        if pointer_arg_at == k:
            arg = act.args.add()
            _set_id(arg.arg_pointer_tensor.object_id, 99)
    role.state.SetInParent()
    for sid, arr in state or []:
        ph = role.state.placeholders.add()
        _set_id(ph.id, sid)
        t = role.state.tensors.add().torch_tensor
        _set_id(t.id, sid)
        _fill_tensor(t, arr)
    for i in inputs:
        _set_id(role.input_placeholder_ids.add(), i)
    for o in outputs:
        _set_id(role.output_placeholder_ids.add(), o)
    return bytes(plan.SerializeToString())


def run_one(
    command: str,
    operands: list[Any],
    *,
    framework: str = "torch",
    method: bool = True,
    extra: tuple[Any, ...] = (),
    kwargs: list[tuple[str, Any]] | None = None,
) -> list[np.ndarray]:
    """Execute a one-action plan ``out = command(*operands, *extra, **kwargs)``.

    numpy arrays among ``operands`` become plan inputs; other values are literal args.
    In the torch dialect with ``method=True`` operand 0 is the target.
    """
    from syft_rs import Plan

    inputs: list[int] = []
    values: list[Any] = []
    refs: list[Any] = []
    for i, op in enumerate(operands):
        if isinstance(op, np.generic):
            op = np.asarray(op)
        if isinstance(op, np.ndarray):
            inputs.append(100 + i)
            values.append(op)
            refs.append(Ref(100 + i))
        else:
            refs.append(op)
    target = None
    args = refs + list(extra)
    if framework == "torch" and method:
        assert isinstance(refs[0], Ref)
        target = refs[0].id
        args = args[1:]
    data = build_plan(
        [action(command, *args, target=target, kwargs=kwargs, ret=1)],
        inputs,
        [1],
        framework=framework,
    )
    return Plan.from_protobuf(data).execute(*values)
