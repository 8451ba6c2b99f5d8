"""Symbolic reverse-mode differentiation that emits its backward pass as plan operations.

:class:`Tape` wraps a :class:`~syft_rs.plans._graph.Graph`: forward helpers append an
operation and remember how to differentiate it; :meth:`Tape.gradients` then appends the
backward pass. Each rule emits exactly the operations PySyft 0.2.x's autograd traced for
that function (``grad.add(0)`` for the operands of ``add``/``sub``, ``input.mul(0).add(1)``
as ``ones_like`` before a ``sum``'s gradient, ``1/x`` through ``__rtruediv__`` for ``log``,
…), so that the reference MNIST plan is reproduced operation for operation.

Two strategies:

* ``"reference"`` — PySyft's: every gradient contribution is propagated at once, depth
  first, down to the parameters, where contributions are accumulated (``copy`` for the
  first, ``add_`` for the next). A value used twice is back-propagated through twice.
* ``"fused"`` — classic reverse mode: contributions are summed at each value first, and
  each value is back-propagated through once (fewer operations; results equal up to float
  rounding).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from syft_rs.plans._graph import Graph, Shape, Value

# A backward rule: the gradient of the node's output -> [(input var, gradient of it)], in
# the order PySyft computed them (only inputs that need a gradient are listed).
Backward = Callable[[Value], list[tuple["Var", Value]]]

STRATEGIES = ("reference", "fused")


@dataclass(eq=False)
class Var:
    """A graph value together with what differentiation needs to know about it."""

    value: Value
    requires_grad: bool = False
    is_param: bool = False
    backward: Backward | None = None
    order: int = 0

    @property
    def shape(self) -> Shape:
        return self.value.shape


@dataclass
class Tape:
    """Forward ops with their backward rules, recorded on one :class:`Graph`."""

    graph: Graph = field(default_factory=Graph)
    _vars: list[Var] = field(default_factory=list)

    # ---- leaves ------------------------------------------------------------------------

    def input(self, shape: Shape, *, param: bool = False) -> Var:
        """Declare the next plan input; ``param=True`` makes it a trainable parameter."""
        return self._track(Var(self.graph.input(shape), requires_grad=param, is_param=param))

    def _track(self, var: Var) -> Var:
        var.order = len(self._vars)
        self._vars.append(var)
        return var

    def _result(self, value: Value, inputs: tuple[Var, ...], backward: Backward) -> Var:
        needs = any(v.requires_grad for v in inputs)
        return self._track(Var(value, requires_grad=needs, backward=backward if needs else None))

    # ---- forward ops -------------------------------------------------------------------

    def t(self, x: Var) -> Var:
        """2-D transpose."""
        g = self.graph
        out = g.op("t", x.value, shape=x.shape[::-1])
        return self._result(out, (x,), lambda grad: [(x, g.op("t", grad, shape=x.shape))])

    def matmul(self, a: Var, b: Var) -> Var:
        """``a @ b`` of two 2-D values."""
        g = self.graph
        out = g.op("matmul", a.value, b.value, shape=(a.shape[0], b.shape[1]))

        def backward(grad: Value) -> list[tuple[Var, Value]]:
            grads = []
            if a.requires_grad:
                bt = g.op("t", b.value, shape=b.shape[::-1])
                grads.append((a, g.op("matmul", grad, bt, shape=a.shape)))
            if b.requires_grad:
                at = g.op("t", a.value, shape=a.shape[::-1])
                grads.append((b, g.op("matmul", at, grad, shape=b.shape)))
            return grads

        return self._result(out, (a, b), backward)

    def add(self, a: Var, b: Var) -> Var:
        """``a + b`` with broadcasting (``b``'s gradient is reduced to ``b``'s shape)."""
        return self._add_sub("add", a, b)

    def sub(self, a: Var, b: Var) -> Var:
        """``a - b`` with broadcasting."""
        return self._add_sub("sub", a, b)

    def _add_sub(self, op: str, a: Var, b: Var) -> Var:
        g = self.graph
        out = g.op(op, a.value, b.value, shape=_broadcast(a.shape, b.shape))

        def backward(grad: Value) -> list[tuple[Var, Value]]:
            ga = g.op("add", grad, 0, shape=grad.shape) if a.requires_grad else None
            gb = None
            if b.requires_grad:
                gb = g.op("add" if op == "add" else "mul", grad, 0 if op == "add" else -1,
                          shape=grad.shape)  # fmt: skip
            grads = []
            if ga is not None:
                grads.append((a, self._reduce(ga, a.shape)))
            if gb is not None:
                grads.append((b, self._reduce(gb, b.shape)))
            return grads

        return self._result(out, (a, b), backward)

    def mul(self, a: Var, b: Var) -> Var:
        """``a * b`` of equal shapes (no broadcasting is needed by the builders)."""
        g = self.graph
        if a.shape != b.shape:
            raise ValueError(f"mul: shapes {a.shape} and {b.shape} differ")
        out = g.op("mul", a.value, b.value, shape=a.shape)

        def backward(grad: Value) -> list[tuple[Var, Value]]:
            grads = []
            if a.requires_grad:
                grads.append((a, g.op("mul", grad, b.value, shape=a.shape)))
            if b.requires_grad:
                grads.append((b, g.op("mul", grad, a.value, shape=b.shape)))
            return grads

        return self._result(out, (a, b), backward)

    def div(self, a: Var, divisor: Var | int) -> Var:
        """``a / divisor`` where the divisor is a constant (an input without gradient or
        an integer literal)."""
        g = self.graph
        if isinstance(divisor, Var) and divisor.requires_grad:
            raise ValueError("div: only constant divisors are supported")
        d = divisor.value if isinstance(divisor, Var) else divisor
        out = g.op("div", a.value, d, shape=a.shape)
        return self._result(out, (a,), lambda grad: [(a, g.op("div", grad, d, shape=a.shape))])

    def neg(self, x: Var) -> Var:
        """``-x``."""
        g = self.graph
        out = g.op("neg", x.value, shape=x.shape)
        return self._result(out, (x,), lambda grad: [(x, g.op("mul", grad, -1, shape=x.shape))])

    def exp(self, x: Var) -> Var:
        """``exp(x)``; its gradient recomputes ``exp(x)`` (as PySyft's rule does)."""
        g = self.graph
        out = g.op("exp", x.value, shape=x.shape)

        def backward(grad: Value) -> list[tuple[Var, Value]]:
            e = g.op("exp", x.value, shape=x.shape)
            return [(x, g.op("mul", grad, e, shape=x.shape))]

        return self._result(out, (x,), backward)

    def log(self, x: Var) -> Var:
        """``log(x)``; gradient ``grad * (1 / x)``."""
        g = self.graph
        out = g.op("log", x.value, shape=x.shape)

        def backward(grad: Value) -> list[tuple[Var, Value]]:
            inv = g.op("rtruediv", x.value, 1, shape=x.shape)
            return [(x, g.op("mul", grad, inv, shape=x.shape))]

        return self._result(out, (x,), backward)

    def square(self, x: Var) -> Var:
        """``x * x`` with the single-path gradient ``grad * x * 2``."""
        g = self.graph
        out = g.op("mul", x.value, x.value, shape=x.shape)

        def backward(grad: Value) -> list[tuple[Var, Value]]:
            gx = g.op("mul", grad, x.value, shape=x.shape)
            return [(x, g.op("mul", gx, 2, shape=x.shape))]

        return self._result(out, (x,), backward)

    def activation(self, kind: str, x: Var) -> Var:
        """``relu``, ``sigmoid`` or ``tanh``; the backward pass reuses the forward result."""
        g = self.graph
        out = g.op(kind, x.value, shape=x.shape)
        s = x.shape

        def backward(grad: Value) -> list[tuple[Var, Value]]:
            if kind == "relu":
                zero = g.op("mul", x.value, 0, shape=s)
                mask = g.op("gt", x.value, zero, shape=s)
                local = mask
                return [(x, g.op("mul", local, grad, shape=s))]
            if kind == "sigmoid":
                neg = g.op("mul", out, -1, shape=s)
                one_minus = g.op("add", neg, 1, shape=s)
                local = g.op("mul", out, one_minus, shape=s)
            else:  # tanh
                sq = g.op("mul", out, out, shape=s)
                neg = g.op("mul", sq, -1, shape=s)
                local = g.op("add", neg, 1, shape=s)
            return [(x, g.op("mul", grad, local, shape=s))]

        if kind not in ("relu", "sigmoid", "tanh"):
            raise ValueError(f"unknown activation {kind!r}")
        return self._result(out, (x,), backward)

    def global_max(self, x: Var) -> Var:
        """``x.max()`` over all elements; treated as a constant (no gradient flows)."""
        return self._track(Var(self.graph.op("max", x.value, shape=())))

    def sum(self, x: Var, dim: int | list[int] | None = None, keepdim: bool = False) -> Var:
        """Sum of a 2-D value over everything (``dim=None``) or over dim 1 with keepdim."""
        g = self.graph
        if len(x.shape) != 2 or not (dim is None or (dim in (1, [1]) and keepdim)):
            raise ValueError("sum: only a global sum or a keepdim sum over dim 1 of 2-D values")
        shape: Shape = () if dim is None else (x.shape[0], 1)
        out = g.op("sum", x.value, shape=shape, dim=dim, keepdim=keepdim)

        def backward(grad: Value) -> list[tuple[Var, Value]]:
            # PySyft's rule: ones_like(x) * grad.reshape(-1, 1) (valid for both forms above).
            rows = g.op("reshape", grad, [-1, 1], shape=(1, 1) if dim is None else shape)
            zeros = g.op("mul", x.value, 0, shape=x.shape)
            ones = g.op("add", zeros, 1, shape=x.shape)
            return [(x, g.op("mul", ones, rows, shape=x.shape))]

        return self._result(out, (x,), backward)

    def _reduce(self, grad: Value, shape: Shape) -> Value:
        """Sum a broadcast gradient back to ``shape`` (leading dims, then size-1 dims)."""
        g = self.graph
        lead = len(grad.shape) - len(shape)
        if lead > 0:
            grad = g.op("sum", grad, shape=grad.shape[lead:], dim=list(range(lead)))
        ones = [i for i, (gd, sd) in enumerate(zip(grad.shape, shape, strict=True))
                if sd == 1 and gd != 1]  # fmt: skip
        if ones:
            grad = g.op("sum", grad, shape=shape, dim=ones, keepdim=True)
        return grad

    # ---- backward ----------------------------------------------------------------------

    def gradients(self, root: Var, *, strategy: str = "reference") -> dict[int, Value]:
        """Append the backward pass of the 0-d ``root``; returns param order -> gradient."""
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown gradient strategy {strategy!r}; use one of {STRATEGIES}")
        g = self.graph
        zeros = g.op("mul", root.value, 0, shape=root.shape)
        seed = g.op("add", zeros, 1, shape=root.shape)
        param_grads: dict[int, Value] = {}
        if strategy == "reference":
            self._depth_first(root, seed, param_grads)
            return param_grads
        pending: dict[int, Value] = {root.order: seed}
        for var in reversed(self._vars):
            grad = pending.pop(var.order, None)
            if grad is None:
                continue
            if var.is_param:
                param_grads[var.order] = grad
            elif var.backward is not None:
                for inp, contribution in var.backward(grad):
                    if inp.order in pending:
                        total = g.op("add", pending[inp.order], contribution, shape=inp.shape)
                        pending[inp.order] = total
                    else:
                        pending[inp.order] = contribution
        return param_grads

    def _depth_first(self, var: Var, grad: Value, param_grads: dict[int, Value]) -> None:
        g = self.graph
        if var.is_param:
            if var.order in param_grads:
                g.add_inplace(param_grads[var.order], grad)
            else:
                param_grads[var.order] = g.op("copy", grad, shape=var.shape)
            return
        if var.backward is None:
            return
        for inp, contribution in var.backward(grad):
            self._depth_first(inp, contribution, param_grads)


def _broadcast(a: Shape, b: Shape) -> Shape:
    n = max(len(a), len(b))
    pa = (1,) * (n - len(a)) + tuple(a)
    pb = (1,) * (n - len(b)) + tuple(b)
    out: list[int | None] = []
    for x, y in zip(pa, pb, strict=True):
        if x == 1:
            out.append(y)
        elif y == 1 or x == y:
            out.append(x)
        else:
            raise ValueError(f"shapes {a} and {b} do not broadcast")
    return tuple(out)
