"""Plans built by syft_rs.plans, run by the Rust interpreter in both dialects: the MNIST plan
against the syft.js vectors, its structure against PySyft's own plan (PyGrid capture), other
architectures against float64 gradients, and the averaging plan.

Every plan is encoded twice: by the Rust core (``_core.encode_plan``, the package's codec) and
by an independent reference encoder below (the protobuf runtime with the syft-proto 0.5.3
descriptor set of the shared vectors), so the builder and the codec are checked separately.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from conftest import vector_path
from syft_rs import _core
from syft_rs.plans import MLP, averaging_plan_spec

MNIST = MLP((784, 392, 10), activation="relu", loss="softmax_ce")
DIALECTS = [None, "torch", "tfjs"]


# ---- reference encoder (protobuf runtime, independent of the Rust codec) -------------------

_PLAN_CLASS: list[Any] = []


def _plan_class() -> Any:
    if not _PLAN_CLASS:
        from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

        fds = descriptor_pb2.FileDescriptorSet.FromString(
            vector_path("syftproto", "syft_proto_0.5.3.fds.pb").read_bytes()
        )
        pool = descriptor_pool.DescriptorPool()
        for f in fds.file:
            pool.Add(f)
        desc = pool.FindMessageTypeByName("syft_proto.execution.v1.Plan")
        _PLAN_CLASS.append(message_factory.GetMessageClass(desc))
    return _PLAN_CLASS[0]


def _set_id(msg: Any, value: int | str) -> None:
    if isinstance(value, str):
        msg.id_str = value
    else:
        msg.id_int = value


def _set_arg(arg: Any, value: Any) -> None:
    if isinstance(value, dict):
        _set_id(arg.arg_placeholder_id.id, value["ref"])
    elif isinstance(value, bool):
        arg.arg_bool = value
    elif isinstance(value, int):
        arg.arg_int = value
    elif isinstance(value, float):
        arg.arg_float = value
    elif isinstance(value, str):
        arg.arg_str = value
    elif isinstance(value, list):
        arg.arg_list.SetInParent()
        for v in value:
            _set_arg(arg.arg_list.args.add(), v)
    else:
        raise TypeError(f"the builder emitted an unexpected argument {value!r}")


def _fill_role(role: Any, spec: dict[str, Any]) -> None:
    _set_id(role.id, spec["id"])
    for a in spec["actions"]:
        action = role.actions.add()
        action.command = a["command"]
        if a["target"] is not None:
            _set_id(action.target_placeholder_id.id, a["target"])
        for v in a["args"]:
            _set_arg(action.args.add(), v)
        for key, v in a["kwargs"]:
            _set_arg(action.kwargs[key], v)
        for r in a["returns"]:
            _set_id(action.return_placeholder_ids.add().id, r)
    assert spec["state"] == []
    role.state.SetInParent()
    for ph in spec["placeholders"]:
        placeholder = role.placeholders.add()
        _set_id(placeholder.id, ph["id"])
        placeholder.tags.extend(ph["tags"])
        if ph["expected_shape"] is not None:
            placeholder.expected_shape.dims.extend(ph["expected_shape"])
    for i in spec["inputs"]:
        _set_id(role.input_placeholder_ids.add(), i)
    for o in spec["outputs"]:
        _set_id(role.output_placeholder_ids.add(), o)


def reference_encode(spec: dict[str, Any]) -> bytes:
    plan = _plan_class()()
    _set_id(plan.id, spec["id"])
    plan.name = spec["name"]
    plan.base_framework = spec["base_framework"]
    plan.include_state = spec["include_state"]
    _fill_role(plan.role, spec["role"])
    for key, role in spec["roles"].items():
        _fill_role(plan.roles[key], role)
    return bytes(plan.SerializeToString(deterministic=True))


@pytest.fixture(params=["core", "reference"])
def encode(request: pytest.FixtureRequest) -> Any:
    """Plan description -> bytes, by the Rust core or by the reference encoder."""
    if request.param == "core":
        return _core.encode_plan
    return reference_encode


def _state(*parts: str) -> list[np.ndarray]:
    return _core.decode_state(vector_path(*parts).read_bytes())


@pytest.fixture
def mnist_plan(encode: Any) -> bytes:
    return bytes(encode(MNIST.training_plan_spec()))


@pytest.mark.parametrize("framework", DIALECTS)
def test_mnist_plan_reproduces_syftjs_vectors(mnist_plan: bytes, framework: str | None) -> None:
    x, y = _state("syftjs", "mnist_batch_data.State.pb")
    params = _state("syftjs", "mnist_model_params.State.pb")
    expected = _state("syftjs", "mnist_updated_model_params.State.pb")
    plan = _core.Plan.from_bytes(mnist_plan, framework)
    assert plan.dialect == (framework or "torch")
    assert (plan.num_inputs, plan.num_outputs) == (8, 6)
    loss, acc, *updated = plan.execute([x, y, 64, 0.005, *params])
    assert loss.dtype == np.float32
    # 1 float32 ulp at 2.3055 is 2.4e-7.
    assert abs(float(loss) - 2.3055033683776855) <= 2.4e-7
    assert float(acc) == 0.078125
    for i, (out, ref) in enumerate(zip(updated, expected, strict=True)):
        assert out.shape == ref.shape
        assert out.dtype == np.float32
        assert np.abs(out - ref).sum() < 1e-7, f"param {i}"


def _canonical(role: dict[str, Any]) -> tuple[list[Any], list[int]]:
    """A described role with placeholder ids renamed 0, 1, … in order of first use."""
    names: dict[str, int] = {}

    def name(raw: Any) -> int:
        if isinstance(raw, dict):  # PlaceholderId{id}
            raw = raw["id"]
        return names.setdefault(str(raw), len(names))

    for i in role["input_placeholder_ids"]:
        name(i)

    def arg(a: Any) -> Any:
        ((kind, value),) = a.items()
        if kind == "arg_placeholder_id":
            return ("ref", name(value))
        if kind == "arg_list":
            return [arg(v) for v in value["args"]]
        return (kind, value)

    actions = []
    for action in role["actions"]:
        target = action.get("target_placeholder_id")
        actions.append(
            (
                action["command"],
                None if target is None else name(target),
                [arg(a) for a in action["args"]],
                sorted((k, arg(v)) for k, v in action["kwargs"]),
                [name(r) for r in action["return_placeholder_ids"]],
                len(action["return_ids"]),
            )
        )
    return actions, [name(i) for i in role["output_placeholder_ids"]]


def test_mnist_plan_is_pysyfts_plan_up_to_ids(mnist_plan: bytes) -> None:
    ours = _core.describe_message("Plan", mnist_plan)
    ref = _core.describe_message(
        "Plan", vector_path("pygrid", "capture", "uploaded_training_plan.pb").read_bytes()
    )
    assert ours["base_framework"] == ref["base_framework"] == "torch"
    assert ours["name"] == ref["name"] == "training_plan"
    assert set(ours["roles"]) == set(ref["roles"]) == {"torch", "tfjs"}
    for dialect in ("torch", "tfjs"):
        assert _canonical(ours["roles"][dialect]) == _canonical(ref["roles"][dialect])
    assert _canonical(ours["role"]) == _canonical(ref["role"])


def test_mnist_plan_variants_for_node(mnist_plan: bytes) -> None:
    variants = _core.plan_variants(mnist_plan)
    assert variants["list"] is not None
    assert variants["tfjs"] is not None
    assert variants["torchscript"] is None  # no TorchScript without torch
    for key, dialect in (("list", "torch"), ("tfjs", "tfjs")):
        plan = _core.Plan.from_bytes(variants[key])
        assert plan.dialect == dialect


ARCHS = [
    MLP((6, 5, 3), activation="sigmoid"),
    MLP((6, 5, 4, 3), activation=("tanh", "relu")),
    MLP((5, 8, 6, 2), activation="tanh", loss="mse"),
    MLP((4, 3, 1), activation="relu", loss="mse", output_activation="sigmoid"),
]


def _float64_step(mlp: MLP, params: list[np.ndarray], x: np.ndarray, y: np.ndarray, lr: float):
    """Loss and SGD step in float64 by numpy autodiff-free central differences."""
    p64 = [p.astype(np.float64) for p in params]

    def loss(ps: list[np.ndarray]) -> float:
        out = mlp.forward(ps, x.astype(np.float64))
        if mlp.loss == "softmax_ce":
            s = out - out.max()
            return float(-(y * (s - np.log(np.exp(s).sum(1, keepdims=True)))).sum() / len(x))
        return float(((out - y) ** 2).mean())

    eps = 1e-6
    updated = []
    for i, p in enumerate(p64):
        grad = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            hi = [q.copy() for q in p64]
            lo = [q.copy() for q in p64]
            hi[i][idx] += eps
            lo[i][idx] -= eps
            grad[idx] = (loss(hi) - loss(lo)) / (2 * eps)
        updated.append(p - lr * grad)
    return loss(p64), updated


@pytest.mark.parametrize("gradient", ["reference", "fused"])
@pytest.mark.parametrize("framework", ["torch", "tfjs"])
@pytest.mark.parametrize("mlp", ARCHS, ids=lambda m: f"{m.sizes}-{m.loss}")
def test_other_architectures_train_correctly(
    mlp: MLP, framework: str, gradient: str, encode: Any
) -> None:
    rng = np.random.default_rng(11)
    n = 9
    x = rng.normal(size=(n, mlp.sizes[0])).astype(np.float32)
    if mlp.loss == "softmax_ce":
        y = np.eye(mlp.sizes[-1], dtype=np.float32)[rng.integers(0, mlp.sizes[-1], n)]
    else:
        y = rng.uniform(size=(n, mlp.sizes[-1])).astype(np.float32)
    params = mlp.init_params(seed=5)
    plan = _core.Plan.from_bytes(encode(mlp.training_plan_spec(gradient=gradient)), framework)
    outs = plan.execute([x, y, n, 0.5, *params])
    ref_loss, ref_params = _float64_step(mlp, params, x, y, 0.5)
    assert float(outs[0]) == pytest.approx(ref_loss, rel=1e-5)
    updated = outs[-len(params) :]
    for out, ref in zip(updated, ref_params, strict=True):
        assert out.dtype == np.float32
        np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)
    if mlp.sizes[-1] >= 2:
        pred = np.argmax(mlp.forward(params, x), 1)
        assert float(outs[1]) == pytest.approx(np.mean(pred == np.argmax(y, 1)))


def test_training_reduces_loss(encode: Any) -> None:
    mlp = MLP((8, 16, 3), activation="tanh")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 8)).astype(np.float32)
    labels = np.argmax(x[:, :3], axis=1)
    y = np.eye(3, dtype=np.float32)[labels]
    plan = _core.Plan.from_bytes(encode(mlp.training_plan_spec()))
    params = mlp.init_params(seed=0)
    losses = []
    for _ in range(60):
        loss, _acc, *params = plan.execute([x, y, 60, 0.5, *params])
        losses.append(float(loss))
    assert losses[-1] < 0.5 * losses[0]
    assert mlp.accuracy(params, x, labels) > 0.8


@pytest.mark.parametrize("framework", ["torch", "tfjs"])
def test_averaging_plan_runs_like_the_node_calls_it(framework: str, encode: Any) -> None:
    shapes = MNIST.param_shapes
    plan = _core.Plan.from_bytes(encode(averaging_plan_spec(shapes)), framework)
    assert (plan.num_inputs, plan.num_outputs) == (9, 4)
    rng = np.random.default_rng(1)
    diffs = [[rng.normal(size=s).astype(np.float32) for s in shapes] for _ in range(3)]
    avg = diffs[0]
    for i, item in enumerate(diffs[1:], start=1):
        avg = plan.execute([*avg, *item, np.array([i], dtype=np.int64)])
    for k, out in enumerate(avg):
        assert out.dtype == np.float32
        np.testing.assert_allclose(out, np.mean([d[k] for d in diffs], axis=0), rtol=1e-5)


def test_averaging_plan_on_pygrid_capture_diffs(encode: Any) -> None:
    d1 = _state("pygrid", "capture", "diff1_state.pb")
    d2 = _state("pygrid", "capture", "diff2_state.pb")
    ours = _core.Plan.from_bytes(encode(averaging_plan_spec([d.shape for d in d1])))
    ref = _core.Plan.from_bytes(
        vector_path("pygrid", "capture", "uploaded_avg_plan.pb").read_bytes()
    )
    num = np.array([1], dtype=np.int64)
    for a, b in zip(ours.execute([*d1, *d2, num]), ref.execute([*d1, *d2, num]), strict=True):
        assert np.array_equal(a, b)
        np.testing.assert_allclose(a, 0.02, rtol=1e-6)


def test_encoded_model_state_roundtrips() -> None:
    state = MNIST.init_state(seed=1)
    params = _core.decode_state(state)
    assert [p.shape for p in params] == MNIST.param_shapes
    assert all(np.array_equal(a, b) for a, b in zip(params, MNIST.init_params(1), strict=True))


def test_core_encoding_equals_reference_encoding() -> None:
    for spec in (
        MNIST.training_plan_spec(),
        MLP((5, 4, 4, 1), activation="sigmoid", loss="mse").training_plan_spec(gradient="fused"),
        averaging_plan_spec([(3, 2), (2,)]),
    ):
        ours = _core.describe_message("Plan", _core.encode_plan(spec))
        ref = _core.describe_message("Plan", reference_encode(spec))
        assert ours == ref
