"""A small dataflow graph of plan operations and its emission in both plan dialects.

The graph is dialect-neutral: every node is one abstract operation (``matmul``, ``sum``,
``add_`` …) on earlier values or literals. :func:`Graph.plan_spec` renders it twice, as a
torch-dialect role (methods on a target, ``torch.argmax`` without one) and as a TF.js-dialect
role (``tf.*`` functions with the names PySyft's TF.js translation emits), and assembles the
plain-Python Plan description that ``_core.encode_plan`` turns into protobuf bytes.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

# A symbolic shape: ints, with ``None`` for the batch dimension (unknown until run time).
Shape = tuple[int | None, ...]


@dataclass(frozen=True)
class Value:
    """A value of the graph: a plan input or the result of one operation."""

    index: int
    shape: Shape


Literal = int | float | str | list[int]
Operand = Value | Literal


@dataclass(frozen=True)
class Node:
    """One operation. ``out`` is the value it writes (the target itself for ``add_``)."""

    op: str
    args: tuple[Operand, ...]
    out: Value
    dim: int | list[int] | None = None
    keepdim: bool = False


# Abstract op -> torch method name (called on args[0]); the others are special-cased.
_TORCH_METHOD = {
    "t": "t",
    "matmul": "matmul",
    "add": "add",
    "add_": "add_",
    "sub": "sub",
    "mul": "mul",
    "div": "div",
    "rtruediv": "__rtruediv__",
    "neg": "neg",
    "exp": "exp",
    "log": "log",
    "relu": "relu",
    "sigmoid": "sigmoid",
    "tanh": "tanh",
    "max": "max",
    "sum": "sum",
    "reshape": "reshape",
    "copy": "copy",
    "gt": "__gt__",
    "eq": "eq",
    "float": "float",
    # The averaging plan spells the same arithmetic with dunder names, as PySyft traced it.
    "__mul__": "__mul__",
    "__add__": "__add__",
    "__truediv__": "__truediv__",
}

# Abstract op -> TF.js command (all function calls, arguments in torch order unless noted).
_TFJS_FUNCTION = {
    "t": "tf.transpose",
    "matmul": "tf.matMul",
    "add": "tf.add",
    "add_": "tf.add",
    "sub": "tf.sub",
    "mul": "tf.mul",
    "div": "tf.div",
    "rtruediv": "tf.div",
    "neg": "tf.neg",
    "exp": "tf.exp",
    "log": "tf.log",
    "relu": "tf.relu",
    "sigmoid": "tf.sigmoid",
    "tanh": "tf.tanh",
    "max": "tf.max",
    "sum": "tf.sum",
    "reshape": "tf.layers.reshape",
    "copy": "clone",
    "gt": "tf.greater",
    "eq": "tf.equal",
    "argmax": "tf.argMax",
    "float": "tf.cast",
    "__mul__": "tf.mul",
    "__add__": "tf.add",
    "__truediv__": "tf.div",
}


@dataclass
class Graph:
    """Builder of a dialect-neutral operation list with symbolic shapes."""

    inputs: list[Value] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    _count: int = 0

    def _new(self, shape: Shape) -> Value:
        value = Value(self._count, tuple(shape))
        self._count += 1
        return value

    @property
    def num_values(self) -> int:
        """Number of distinct values (inputs and results; in-place ops add none)."""
        return self._count

    def input(self, shape: Shape) -> Value:
        """Declare the next plan input."""
        value = self._new(shape)
        self.inputs.append(value)
        return value

    def op(
        self,
        op: str,
        *args: Operand,
        shape: Shape,
        dim: int | list[int] | None = None,
        keepdim: bool = False,
    ) -> Value:
        """Append ``op(*args)`` producing a new value of ``shape``."""
        if op not in _TORCH_METHOD and op != "argmax":
            raise ValueError(f"unknown graph op {op!r}")
        if not args or not isinstance(args[0], Value):
            raise ValueError(f"{op}: the first operand must be a graph value")
        out = self._new(shape)
        self.nodes.append(Node(op, tuple(args), out, dim, keepdim))
        return out

    def add_inplace(self, target: Value, other: Value) -> Value:
        """``target += other``: rebinds ``target``'s placeholder (PySyft's ``add_``)."""
        self.nodes.append(Node("add_", (target, other), target))
        return target

    # ---- emission ------------------------------------------------------------------------

    def plan_spec(
        self,
        name: str,
        outputs: Sequence[Value],
        *,
        seed: int | None = 0,
    ) -> dict[str, Any]:
        """The Plan description for ``_core.encode_plan``: torch base, roles torch and tfjs.

        Ids are random integers below 1e11, as PySyft draws them; ``seed`` makes them (and so
        the encoded bytes) reproducible, ``None`` draws fresh ones.
        """
        rng = random.Random(seed)
        used: set[int] = set()

        def new_id() -> int:
            while True:
                candidate = rng.randrange(1, 10**11)
                if candidate not in used:
                    used.add(candidate)
                    return candidate

        plan_id = new_id()
        torch_role = self._role(new_id, outputs, dialect="torch")
        tfjs_role = self._role(new_id, outputs, dialect="tfjs")
        return {
            "id": plan_id,
            "name": name,
            "base_framework": "torch",
            "include_state": False,
            "role": torch_role,
            "roles": {"torch": torch_role, "tfjs": tfjs_role},
            "input_types": None,
        }

    def _role(self, new_id: Any, outputs: Sequence[Value], *, dialect: str) -> dict[str, Any]:
        role_id = new_id()
        ids = [new_id() for _ in range(self._count)]
        input_set = {v.index for v in self.inputs}
        shapes: dict[int, Shape] = {v.index: v.shape for v in self.inputs}
        for node in self.nodes:
            shapes.setdefault(node.out.index, node.out.shape)
        placeholders = []
        for index in range(self._count):
            # Like PySyft: inputs carry the (build-time) shape, intermediates none. The batch
            # dimension is written as 1: the field is informational and never checked.
            shape = shapes[index] if index in input_set else None
            placeholders.append(
                {
                    "id": ids[index],
                    "tags": [],
                    "expected_shape": None if shape is None else [d or 1 for d in shape],
                }
            )
        emit = _torch_action if dialect == "torch" else _tfjs_action
        return {
            "id": role_id,
            "actions": [emit(node, ids) for node in self.nodes],
            "state": [],
            "placeholders": placeholders,
            "inputs": [ids[v.index] for v in self.inputs],
            "outputs": [ids[v.index] for v in outputs],
        }


def _arg(operand: Operand, ids: list[int]) -> Any:
    if isinstance(operand, Value):
        return {"ref": ids[operand.index]}
    return operand


def _torch_action(node: Node, ids: list[int]) -> dict[str, Any]:
    kwargs: list[tuple[str, Any]] = []
    if node.op == "argmax":
        # The only call PySyft records without a target: torch.argmax(x, dim=d).
        return {
            "command": "torch.argmax",
            "target": None,
            "args": [_arg(node.args[0], ids)],
            "kwargs": [("dim", node.dim)],
            "returns": [ids[node.out.index]],
        }
    if node.op == "sum":
        if node.dim is not None:
            kwargs.append(("dim", node.dim))
        if node.keepdim:
            kwargs.append(("keepdim", True))
    return {
        "command": _TORCH_METHOD[node.op],
        "target": ids[_value(node.args[0]).index],
        "args": [_arg(a, ids) for a in node.args[1:]],
        "kwargs": kwargs,
        "returns": [ids[node.out.index]],
    }


def _tfjs_action(node: Node, ids: list[int]) -> dict[str, Any]:
    args = [_arg(a, ids) for a in node.args]
    kwargs: list[tuple[str, Any]] = []
    if node.op == "rtruediv":
        args = [args[1], args[0]]  # x.__rtruediv__(c) is c / x
    elif node.op == "sum":
        if node.dim is not None:
            args.append(node.dim)
        if node.keepdim:
            kwargs.append(("keepdim", True))
    elif node.op == "argmax":
        args.append(node.dim)
    elif node.op == "float":
        args.append("float32")
    return {
        "command": _TFJS_FUNCTION[node.op],
        "target": None,
        "args": args,
        "kwargs": kwargs,
        "returns": [ids[node.out.index]],
    }


def _value(operand: Operand) -> Value:
    if not isinstance(operand, Value):
        raise TypeError("expected a graph value")
    return operand
