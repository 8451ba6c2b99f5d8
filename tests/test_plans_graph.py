"""Plan builder checked without the Rust interpreter: a float64 numpy evaluator of the emitted
roles (both dialects), gradients against central finite differences, and the structure of the
reference MNIST plan (plans.md §9)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest

from syft_rs.plans import MLP, averaging_plan_spec, parse_mlp

# ---- a tiny independent evaluator of a role description (float64) ------------------------


def _resolve(arg: Any, env: dict[Any, Any]) -> Any:
    if isinstance(arg, dict):
        return env[arg["ref"]]
    if isinstance(arg, list):
        return [_resolve(a, env) for a in arg]
    return arg


def _axis(dim: Any) -> Any:
    return tuple(dim) if isinstance(dim, list) else dim


def _torch_op(cmd: str, x: Any, args: list[Any], kw: dict[str, Any]) -> Any:
    binary = {
        "add": np.add, "__add__": np.add, "add_": np.add, "sub": np.subtract,
        "mul": np.multiply, "__mul__": np.multiply, "div": np.divide,
        "__truediv__": np.divide, "matmul": np.matmul, "__gt__": np.greater, "eq": np.equal,
    }  # fmt: skip
    if cmd in binary:
        return binary[cmd](x, args[0])
    if cmd == "__rtruediv__":
        return args[0] / x
    unary = {
        "t": np.transpose, "neg": np.negative, "exp": np.exp, "log": np.log,
        "relu": lambda v: np.maximum(v, 0), "sigmoid": lambda v: 1 / (1 + np.exp(-v)),
        "tanh": np.tanh, "max": np.max, "copy": np.copy,
        "float": lambda v: np.asarray(v, dtype=np.float64),
    }  # fmt: skip
    if cmd in unary:
        return unary[cmd](x)
    if cmd == "sum":
        return np.sum(x, axis=_axis(kw.get("dim")), keepdims=bool(kw.get("keepdim", False)))
    if cmd == "reshape":
        return np.reshape(x, args[0])
    raise AssertionError(f"unexpected torch command {cmd}")


def _tfjs_op(cmd: str, args: list[Any]) -> Any:
    name = cmd.rsplit(".", 1)[-1]
    binary = {
        "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide,
        "matMul": np.matmul, "greater": np.greater, "equal": np.equal,
    }  # fmt: skip
    if name in binary:
        assert len(args) == 2, cmd
        return binary[name](args[0], args[1])
    if name == "sum":
        axis = _axis(args[1]) if len(args) > 1 else None
        return np.sum(args[0], axis=axis, keepdims=bool(args[2]) if len(args) > 2 else False)
    if name == "argMax":
        return np.argmax(args[0], axis=args[1])
    if name == "cast":
        assert args[1] == "float32"
        return np.asarray(args[0], dtype=np.float64)
    if name == "reshape":
        return np.reshape(args[0], args[1])
    return _torch_op({"transpose": "t", "clone": "copy"}.get(name, name), args[0], [], {})


def run_role(role: dict[str, Any], inputs: list[Any], dialect: str) -> list[Any]:
    env: dict[Any, Any] = dict(zip(role["inputs"], inputs, strict=True))
    for action in role["actions"]:
        args = [_resolve(a, env) for a in action["args"]]
        kwargs = {k: _resolve(v, env) for k, v in action["kwargs"]}
        cmd = action["command"]
        if dialect == "torch":
            if cmd == "torch.argmax":
                assert action["target"] is None
                out = np.argmax(args[0], axis=kwargs["dim"])
            else:
                out = _torch_op(cmd, env[action["target"]], args, kwargs)
        else:
            assert action["target"] is None
            out = _tfjs_op(cmd, args + list(kwargs.values()))
        env[action["returns"][0]] = out
    return [env[o] for o in role["outputs"]]


# ---- independent numpy loss ----------------------------------------------------------------


def numpy_loss(mlp: MLP, params: list[np.ndarray], x: np.ndarray, y: np.ndarray) -> float:
    out = mlp.forward(params, x)
    n = x.shape[0]
    if mlp.loss == "softmax_ce":
        shifted = out - out.max()
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        return float(-(y * log_p).sum() / n)
    return float(((out - y) ** 2).mean())


def _data(mlp: MLP, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, mlp.sizes[0]))
    if mlp.loss == "softmax_ce":
        y = np.eye(mlp.sizes[-1])[rng.integers(0, mlp.sizes[-1], n)]
    else:
        y = rng.normal(size=(n, mlp.sizes[-1]))
    return x, y


ARCHS = [
    MLP((5, 4, 3), activation="relu"),
    MLP((5, 4, 3), activation="sigmoid"),
    MLP((5, 4, 3), activation="tanh"),
    MLP((6, 5, 4, 3), activation=("tanh", "sigmoid")),
    MLP((4, 6, 5, 3, 2), activation="relu", loss="mse"),
    MLP((3, 4, 1), activation="tanh", loss="mse"),
    MLP((3, 4, 2), activation="relu", loss="mse", output_activation="sigmoid"),
    MLP((4, 3), loss="softmax_ce"),
]


@pytest.mark.parametrize("gradient", ["reference", "fused"])
@pytest.mark.parametrize("dialect", ["torch", "tfjs"])
@pytest.mark.parametrize("mlp", ARCHS, ids=lambda m: f"{m.sizes}-{m.activation}-{m.loss}")
def test_gradients_match_finite_differences(mlp: MLP, dialect: str, gradient: str) -> None:
    spec = mlp.training_plan_spec(gradient=gradient)
    params = [p.astype(np.float64) for p in mlp.init_params(seed=3)]
    x, y = _data(mlp, 7, seed=4)
    n = x.shape[0]
    outs = run_role(spec["roles"][dialect], [x, y, float(n), 1.0, *params], dialect)
    loss = outs[0]
    np.testing.assert_allclose(loss, numpy_loss(mlp, params, x, y), rtol=1e-12)
    updated = outs[-len(params) :]
    eps = 1e-6
    for i, (p, p_new) in enumerate(zip(params, updated, strict=True)):
        grad = p - p_new  # lr = 1
        assert grad.shape == p.shape
        numeric = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            plus = [q.copy() for q in params]
            minus = [q.copy() for q in params]
            plus[i][idx] += eps
            minus[i][idx] -= eps
            numeric[idx] = (numpy_loss(mlp, plus, x, y) - numpy_loss(mlp, minus, x, y)) / (2 * eps)
        np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8, err_msg=f"param {i}")
    if mlp.sizes[-1] >= 2:
        acc = outs[1]
        expected = np.mean(np.argmax(mlp.forward(params, x), 1) == np.argmax(y, 1))
        assert acc == pytest.approx(expected)


def test_sgd_step_uses_lr() -> None:
    mlp = MLP((4, 3, 2), activation="sigmoid")
    spec = mlp.training_plan_spec()
    params = [p.astype(np.float64) for p in mlp.init_params(seed=0)]
    x, y = _data(mlp, 5, seed=1)
    one = run_role(spec["role"], [x, y, 5.0, 1.0, *params], "torch")[2:]
    tenth = run_role(spec["role"], [x, y, 5.0, 0.1, *params], "torch")[2:]
    for p, a, b in zip(params, one, tenth, strict=True):
        np.testing.assert_allclose(p - b, 0.1 * (p - a), rtol=1e-10, atol=1e-15)


def test_fused_gradient_has_fewer_actions() -> None:
    mlp = MLP((784, 392, 10))
    ref = mlp.training_plan_spec(gradient="reference")
    fused = mlp.training_plan_spec(gradient="fused")
    assert len(fused["role"]["actions"]) < len(ref["role"]["actions"])


def _summary(role: dict[str, Any]) -> list[tuple[str, bool, int, tuple[str, ...]]]:
    return [
        (a["command"], a["target"] is not None, len(a["args"]), tuple(k for k, _ in a["kwargs"]))
        for a in role["actions"]
    ]


def test_mnist_plan_matches_reference_structure() -> None:
    spec = MLP((784, 392, 10), activation="relu", loss="softmax_ce").training_plan_spec()
    assert spec["base_framework"] == "torch"
    assert spec["role"] is spec["roles"]["torch"]
    assert set(spec["roles"]) == {"torch", "tfjs"}
    torch_role, tfjs_role = spec["roles"]["torch"], spec["roles"]["tfjs"]
    for role in (torch_role, tfjs_role):
        assert len(role["actions"]) == 95
        assert len(role["placeholders"]) == 99
        assert len(role["inputs"]) == 8
        assert len(role["outputs"]) == 6
        assert role["state"] == []
    torch_counts = Counter(a["command"] for a in torch_role["actions"])
    assert torch_counts == {
        "t": 12, "matmul": 8, "add": 16, "add_": 4, "mul": 19, "sub": 6, "div": 3,
        "__rtruediv__": 1, "neg": 1, "log": 1, "relu": 1, "max": 1, "eq": 1, "float": 1,
        "exp": 2, "sum": 8, "reshape": 2, "copy": 4, "__gt__": 2, "torch.argmax": 2,
    }  # fmt: skip
    assert sum(a["target"] is None for a in torch_role["actions"]) == 2
    tfjs_counts = Counter(a["command"] for a in tfjs_role["actions"])
    assert tfjs_counts == {
        "tf.transpose": 12, "tf.matMul": 8, "tf.add": 20, "tf.mul": 19, "tf.sub": 6,
        "tf.div": 4, "tf.neg": 1, "tf.log": 1, "tf.relu": 1, "tf.max": 1, "tf.equal": 1,
        "tf.cast": 1, "tf.exp": 2, "tf.sum": 8, "tf.layers.reshape": 2, "clone": 4,
        "tf.greater": 2, "tf.argMax": 2,
    }  # fmt: skip
    assert all(a["target"] is None for a in tfjs_role["actions"])
    # Action by action as the listing of plans.md §9 (command, has target, #args, kwargs).
    expected = [
        ("t", True, 0, ()), ("matmul", True, 1, ()), ("add", True, 1, ()),
        ("relu", True, 0, ()), ("t", True, 0, ()), ("matmul", True, 1, ()),
        ("add", True, 1, ()), ("max", True, 0, ()), ("sub", True, 1, ()), ("exp", True, 0, ()),
        ("sum", True, 0, ("dim", "keepdim")), ("log", True, 0, ()), ("sub", True, 1, ()),
        ("mul", True, 1, ()), ("sum", True, 0, ()), ("neg", True, 0, ()), ("div", True, 1, ()),
    ]  # fmt: skip
    assert _summary(torch_role)[:17] == expected
    commands = [a["command"] for a in torch_role["actions"]]
    assert commands[17:34] == [
        "mul", "add", "div", "mul", "reshape", "mul", "add", "mul", "mul", "add", "mul",
        "sum", "add", "add", "add", "sum", "copy",
    ]  # fmt: skip
    assert commands[51:64] == [
        "__rtruediv__", "mul", "reshape", "mul", "add", "mul", "exp", "mul", "add", "add",
        "add", "sum", "add_",
    ]  # fmt: skip
    assert commands[81:] == [
        "mul", "sub", "mul", "sub", "mul", "sub", "mul", "sub", "torch.argmax",
        "torch.argmax", "eq", "sum", "float", "div",
    ]  # fmt: skip
    # In-place accumulators return into their own target (actions 64, 75, 79, 81).
    for k in (63, 74, 78, 80):
        action = torch_role["actions"][k]
        assert action["command"] == "add_"
        assert action["returns"] == [action["target"]]
        assert tfjs_role["actions"][k]["returns"][0] == tfjs_role["actions"][k]["args"][0]["ref"]
    # Literal arguments as PySyft wrote them.
    sums = [dict(a["kwargs"]) for a in torch_role["actions"] if a["command"] == "sum"]
    assert sums[:4] == [{"dim": 1, "keepdim": True}, {}, {"dim": [1], "keepdim": True},
                        {"dim": [0]}]  # fmt: skip
    assert tfjs_role["actions"][51]["args"][0] == 1  # tf.div(1, x) from __rtruediv__
    assert tfjs_role["actions"][93]["args"][1] == "float32"
    assert tfjs_role["actions"][10]["args"][1] == 1
    assert tfjs_role["actions"][10]["kwargs"] == [("keepdim", True)]


def test_placeholder_ids_are_unique_and_seeded() -> None:
    mlp = MLP((3, 2))
    a, b, c = (mlp.training_plan_spec(seed=s) for s in (5, 5, 6))
    assert a == b
    assert a != c
    ids = [p["id"] for r in a["roles"].values() for p in r["placeholders"]]
    ids += [a["id"], a["roles"]["torch"]["id"], a["roles"]["tfjs"]["id"]]
    assert len(ids) == len(set(ids))
    assert all(0 < i < 10**11 for i in ids)


@pytest.mark.parametrize("dialect", ["torch", "tfjs"])
def test_averaging_plan_is_running_mean(dialect: str) -> None:
    shapes = [(2, 3), (3,), (1,)]
    spec = averaging_plan_spec(shapes)
    role = spec["roles"][dialect]
    assert len(role["inputs"]) == 7
    assert len(role["outputs"]) == 3
    assert len(role["actions"]) == 12
    rng = np.random.default_rng(0)
    diffs = [[rng.normal(size=s) for s in shapes] for _ in range(4)]
    avg = diffs[0]
    for i, item in enumerate(diffs[1:], start=1):
        avg = run_role(role, [*avg, *item, np.array([i])], dialect)
    for k in range(3):
        np.testing.assert_allclose(avg[k], np.mean([d[k] for d in diffs], axis=0))


def test_averaging_plan_commands() -> None:
    spec = averaging_plan_spec([(4,), (2,)])
    assert [a["command"] for a in spec["role"]["actions"][:4]] == [
        "__mul__", "__add__", "__add__", "__truediv__",
    ]  # fmt: skip
    assert [a["command"] for a in spec["roles"]["tfjs"]["actions"][:4]] == [
        "tf.mul", "tf.add", "tf.add", "tf.div",
    ]  # fmt: skip
    with pytest.raises(ValueError, match="at least one"):
        averaging_plan_spec([])


def test_mlp_validation() -> None:
    with pytest.raises(ValueError, match="sizes"):
        MLP((3,))
    with pytest.raises(ValueError, match="sizes"):
        MLP((3, 0, 2))
    with pytest.raises(ValueError, match="activation"):
        MLP((3, 4, 2), activation="gelu")
    with pytest.raises(ValueError, match="2 hidden layers need 2"):
        MLP((3, 4, 4, 2), activation=("relu",))
    with pytest.raises(ValueError, match="loss"):
        MLP((3, 2), loss="hinge")
    with pytest.raises(ValueError, match="only allowed"):
        MLP((3, 2), output_activation="sigmoid")
    with pytest.raises(ValueError, match="at least 2 outputs"):
        MLP((3, 1))
    with pytest.raises(ValueError, match="strategy"):
        MLP((3, 2)).training_plan_spec(gradient="magic")


def test_parse_mlp() -> None:
    assert parse_mlp("784-392-10") == MLP((784, 392, 10))
    assert parse_mlp("mlp:64x32x10:tanh:ce") == MLP((64, 32, 10), activation="tanh")
    m = parse_mlp("mlp:3,4,1:sigmoid:mse:out_sigmoid")
    assert m == MLP((3, 4, 1), "sigmoid", "mse", "sigmoid")
    for bad in ("", "mlp:", "784", "784-10:swish", "a-b"):
        with pytest.raises(ValueError, match="MLP spec"):
            parse_mlp(bad)


def test_init_params_like_torch_linear() -> None:
    mlp = MLP((100, 50, 10))
    params = mlp.init_params(seed=1)
    assert [p.shape for p in params] == [(50, 100), (50,), (10, 50), (10,)]
    assert all(p.dtype == np.float32 for p in params)
    assert np.abs(params[0]).max() <= 0.1
    assert np.abs(params[0]).max() > 0.09
    assert np.abs(params[2]).max() <= 1 / np.sqrt(50)
    again = mlp.init_params(seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(params, again, strict=True))
    assert not np.array_equal(params[0], mlp.init_params(seed=2)[0])


def test_numpy_forward_checks_shapes() -> None:
    mlp = MLP((4, 3, 2))
    params = mlp.init_params(seed=0)
    x = np.ones((5, 4), dtype=np.float32)
    assert mlp.forward(params, x).shape == (5, 2)
    assert mlp.predict(params, x).shape == (5,)
    with pytest.raises(ValueError, match="shapes"):
        mlp.forward(params[:2], x)


# TF.js ops of plans.md §8 that PySyft's translation emits and syft.js's runtime executes.
TFJS_OPS = {
    "tf.add", "tf.sub", "tf.mul", "tf.div", "tf.matMul", "tf.transpose", "tf.relu",
    "tf.sigmoid", "tf.tanh", "tf.exp", "tf.log", "tf.neg", "tf.max", "tf.sum",
    "tf.layers.reshape", "clone", "tf.greater", "tf.equal", "tf.argMax", "tf.cast",
}  # fmt: skip
TORCH_OPS = {
    "t", "matmul", "add", "add_", "sub", "mul", "div", "__rtruediv__", "neg", "exp", "log",
    "relu", "sigmoid", "tanh", "max", "sum", "reshape", "copy", "__gt__", "eq", "float",
    "torch.argmax", "__mul__", "__add__", "__truediv__",
}  # fmt: skip


@pytest.mark.parametrize("gradient", ["reference", "fused"])
def test_roles_use_only_supported_commands(gradient: str) -> None:
    specs = [m.training_plan_spec(gradient=gradient) for m in ARCHS]
    specs.append(averaging_plan_spec([(2, 2), (2,)]))
    for spec in specs:
        assert {a["command"] for a in spec["roles"]["tfjs"]["actions"]} <= TFJS_OPS
        assert {a["command"] for a in spec["roles"]["torch"]["actions"]} <= TORCH_OPS
        # TF.js calls are functions: never a target.
        assert all(a["target"] is None for a in spec["roles"]["tfjs"]["actions"])
