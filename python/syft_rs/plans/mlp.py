"""Multi-layer perceptrons: their training Plans, parameter initialisation and a numpy forward.

A training Plan built here has the signature of PySyft's reference MNIST plan,
``(X, y, batch_size, lr, W1, b1, …, Wk, bk) -> (loss, acc, W1', b1', …, Wk', bk')``: forward
pass, loss, backward pass (differentiated symbolically and emitted as operations), one SGD
step ``p − lr·grad`` and the batch accuracy. Parameters follow ``torch.nn.Linear``: ``W`` is
``[out, in]``, ``b`` is ``[out]``, a layer computes ``b + x @ W.T``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from syft_rs import _core
from syft_rs.plans._autograd import STRATEGIES, Tape, Var
from syft_rs.plans._graph import Graph, Value

ACTIVATIONS = ("relu", "sigmoid", "tanh")
LOSSES = ("softmax_ce", "mse")
_LOSS_ALIASES = {
    "softmax_ce": "softmax_ce",
    "ce": "softmax_ce",
    "cross_entropy": "softmax_ce",
    "softmax_cross_entropy": "softmax_ce",
    "mse": "mse",
}


@dataclass(frozen=True)
class MLP:
    """A stack of linear layers with activations between them.

    Args:
        sizes: layer widths ``[in, hidden…, out]`` (at least two entries, all ≥ 1).
        activation: activation after every hidden layer (``"relu"``, ``"sigmoid"``,
            ``"tanh"``), or one per hidden layer.
        loss: ``"softmax_ce"`` (softmax cross-entropy on one-hot targets, stabilised with
            the global maximum of the logits as in PySyft's reference plan; aliases ``"ce"``,
            ``"cross_entropy"``) or ``"mse"`` (mean over all elements of ``(out − y)²``).
        output_activation: activation applied to the last layer before an ``"mse"`` loss
            (``None`` for a linear output). Not allowed with ``"softmax_ce"``.

    Raises:
        ValueError: invalid sizes, activation or loss names.
    """

    sizes: tuple[int, ...]
    activation: str | tuple[str, ...] = "relu"
    loss: str = "softmax_ce"
    output_activation: str | None = None

    def __post_init__(self) -> None:
        sizes = tuple(int(s) for s in self.sizes)
        if len(sizes) < 2 or any(s < 1 for s in sizes):
            raise ValueError(f"MLP sizes must be ≥ 2 positive widths, got {list(self.sizes)}")
        object.__setattr__(self, "sizes", sizes)
        hidden = len(sizes) - 2
        acts = (self.activation,) * hidden if isinstance(self.activation, str) else self.activation
        acts = tuple(acts)
        if len(acts) != hidden:
            raise ValueError(f"{hidden} hidden layers need {hidden} activations, got {len(acts)}")
        for act in acts:
            if act not in ACTIVATIONS:
                raise ValueError(f"unknown activation {act!r}; use one of {ACTIVATIONS}")
        object.__setattr__(self, "activation", acts)
        loss = _LOSS_ALIASES.get(self.loss)
        if loss is None:
            raise ValueError(f"unknown loss {self.loss!r}; use one of {LOSSES}")
        object.__setattr__(self, "loss", loss)
        if self.output_activation is not None:
            if loss != "mse":
                raise ValueError("output_activation is only allowed with the 'mse' loss")
            if self.output_activation not in ACTIVATIONS:
                raise ValueError(
                    f"unknown output activation {self.output_activation!r}; "
                    f"use one of {ACTIVATIONS}"
                )
        if loss == "softmax_ce" and sizes[-1] < 2:
            raise ValueError("softmax cross-entropy needs at least 2 outputs")

    # ---- parameters --------------------------------------------------------------------

    @property
    def hidden_activations(self) -> tuple[str, ...]:
        """The activation after each hidden layer."""
        return tuple(self.activation)

    @property
    def param_shapes(self) -> list[tuple[int, ...]]:
        """``[W1, b1, W2, b2, …]`` shapes (``W`` is ``[out, in]``)."""
        shapes: list[tuple[int, ...]] = []
        for fan_in, fan_out in zip(self.sizes[:-1], self.sizes[1:], strict=True):
            shapes += [(fan_out, fan_in), (fan_out,)]
        return shapes

    def init_params(
        self, seed: int | None = None, dtype: npt.DTypeLike = np.float32
    ) -> list[npt.NDArray[Any]]:
        """``torch.nn.Linear``-style initialisation: every ``W`` and ``b`` uniform in
        ``±1/sqrt(fan_in)``. ``seed`` makes it reproducible (numpy's PCG64, not torch's
        generator)."""
        rng = np.random.default_rng(seed)
        params: list[npt.NDArray[Any]] = []
        for fan_in, fan_out in zip(self.sizes[:-1], self.sizes[1:], strict=True):
            bound = 1.0 / math.sqrt(fan_in)
            params.append(rng.uniform(-bound, bound, (fan_out, fan_in)).astype(dtype))
            params.append(rng.uniform(-bound, bound, (fan_out,)).astype(dtype))
        return params

    def init_state(self, seed: int | None = None) -> bytes:
        """:meth:`init_params` serialized as a model ``State`` (float32)."""
        return _core.encode_state(self.init_params(seed))

    # ---- numpy evaluation --------------------------------------------------------------

    def forward(self, params: Sequence[npt.NDArray[Any]], x: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """The network's output for ``x`` (logits for ``softmax_ce``), in numpy."""
        self._check_params(params)
        h: npt.NDArray[Any] = np.asarray(x)
        n_layers = len(self.sizes) - 1
        for i in range(n_layers):
            w, b = params[2 * i], params[2 * i + 1]
            h = b + h @ w.T
            if i < n_layers - 1:
                h = _np_activation(self.hidden_activations[i], h)
            elif self.output_activation is not None:
                h = _np_activation(self.output_activation, h)
        return h

    def predict(self, params: Sequence[npt.NDArray[Any]], x: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """Predicted class per row (argmax of the output)."""
        return np.asarray(np.argmax(self.forward(params, x), axis=1))

    def accuracy(
        self, params: Sequence[npt.NDArray[Any]], x: npt.NDArray[Any], labels: npt.NDArray[Any]
    ) -> float:
        """Share of rows whose predicted class equals ``labels`` (class indices)."""
        return float(np.mean(self.predict(params, x) == np.asarray(labels)))

    def _check_params(self, params: Sequence[npt.NDArray[Any]]) -> None:
        shapes = [tuple(np.shape(p)) for p in params]
        if shapes != self.param_shapes:
            raise ValueError(f"parameters have shapes {shapes}, the MLP needs {self.param_shapes}")

    # ---- plans -------------------------------------------------------------------------

    def training_plan_spec(
        self,
        *,
        name: str = "training_plan",
        accuracy: bool | None = None,
        gradient: str = "reference",
        seed: int | None = 0,
    ) -> dict[str, Any]:
        """The training Plan as the plain description ``_core.encode_plan`` takes.

        Args:
            name: the Plan's name.
            accuracy: include the accuracy output (``argmax(out, 1) == argmax(y, 1)``); the
                default is on when the network has ≥ 2 outputs.
            gradient: ``"reference"`` (PySyft's operation order, bit-compatible with the
                reference MNIST plan) or ``"fused"`` (fewer operations).
            seed: seed of the random placeholder ids (``None``: fresh ids).
        """
        if gradient not in STRATEGIES:
            raise ValueError(f"unknown gradient strategy {gradient!r}; use one of {STRATEGIES}")
        if accuracy is None:
            accuracy = self.sizes[-1] >= 2
        tape = Tape()
        graph = tape.graph
        x = tape.input((None, self.sizes[0]))
        y = tape.input((None, self.sizes[-1]))
        batch_size = tape.input((1,))
        lr = tape.input((1,))
        params = [tape.input(shape, param=True) for shape in self.param_shapes]

        out = self._emit_forward(tape, x, params)
        loss = self._emit_loss(tape, out, y, batch_size)
        grads = tape.gradients(loss, strategy=gradient)

        # SGD in parameter order: p' = p - lr * grad.
        updated: list[Value] = []
        for p in params:
            step = graph.op("mul", lr.value, grads[p.order], shape=p.shape)
            updated.append(graph.op("sub", p.value, step, shape=p.shape))
        outputs = [loss.value]
        if accuracy:
            outputs.append(_emit_accuracy(graph, out.value, y.value, batch_size.value))
        return graph.plan_spec(name, outputs + updated, seed=seed)

    def training_plan(
        self,
        *,
        name: str = "training_plan",
        accuracy: bool | None = None,
        gradient: str = "reference",
        seed: int | None = 0,
    ) -> bytes:
        """The training Plan as protobuf bytes (torch base role, ``roles`` torch and tfjs).

        See :meth:`training_plan_spec` for the arguments.
        """
        return _core.encode_plan(
            self.training_plan_spec(name=name, accuracy=accuracy, gradient=gradient, seed=seed)
        )

    def _emit_forward(self, tape: Tape, x: Var, params: list[Var]) -> Var:
        h = x
        n_layers = len(self.sizes) - 1
        for i in range(n_layers):
            w, b = params[2 * i], params[2 * i + 1]
            h = tape.add(b, tape.matmul(h, tape.t(w)))
            if i < n_layers - 1:
                h = tape.activation(self.hidden_activations[i], h)
            elif self.output_activation is not None:
                h = tape.activation(self.output_activation, h)
        return h

    def _emit_loss(self, tape: Tape, out: Var, y: Var, batch_size: Var) -> Var:
        if self.loss == "softmax_ce":
            # log_softmax with the global maximum as shift, then -sum(y * log_p) / batch_size.
            shifted = tape.sub(out, tape.global_max(out))
            exps = tape.exp(shifted)
            log_norm = tape.log(tape.sum(exps, dim=1, keepdim=True))
            log_probs = tape.sub(shifted, log_norm)
            return tape.div(tape.neg(tape.sum(tape.mul(y, log_probs))), batch_size)
        # MSE, the mean over batch and outputs.
        total = tape.sum(tape.square(tape.sub(out, y)))
        loss = tape.div(total, batch_size)
        if self.sizes[-1] > 1:
            loss = tape.div(loss, self.sizes[-1])
        return loss


def _emit_accuracy(graph: Graph, out: Value, y: Value, batch_size: Value) -> Value:
    n = out.shape[0]
    pred = graph.op("argmax", out, shape=(n,), dim=1)
    truth = graph.op("argmax", y, shape=(n,), dim=1)
    hits = graph.op("eq", pred, truth, shape=(n,))
    count = graph.op("float", graph.op("sum", hits, shape=()), shape=())
    return graph.op("div", count, batch_size, shape=())


def _np_activation(kind: str, x: npt.NDArray[Any]) -> npt.NDArray[Any]:
    if kind == "relu":
        out = np.maximum(x, 0)
    elif kind == "sigmoid":
        out = 1 / (1 + np.exp(-x))
    else:
        out = np.tanh(x)
    return np.asarray(out)


_SPEC_RE = re.compile(r"^(?:mlp:)?(?P<sizes>\d+(?:[-x,]\d+)+)(?P<rest>(?::[a-z_]+)*)$")


def parse_mlp(text: str) -> MLP:
    """Parse ``"[mlp:]784-392-10[:relu][:softmax_ce|:mse][:out_sigmoid]"`` into an :class:`MLP`.

    Widths are separated by ``-``, ``x`` or ``,``; the optional parts name the hidden
    activation, the loss and (``out_<activation>``, with ``mse``) the output activation,
    in any order.

    Raises:
        ValueError: a malformed spec.
    """
    match = _SPEC_RE.match(text.strip().lower())
    if match is None:
        raise ValueError(
            f"invalid MLP spec {text!r}; expected e.g. 'mlp:784-392-10:relu:softmax_ce'"
        )
    sizes = tuple(int(s) for s in re.split(r"[-x,]", match["sizes"]))
    activation, loss, out_act = "relu", "softmax_ce", None
    for part in filter(None, match["rest"].split(":")):
        if part in ACTIVATIONS:
            activation = part
        elif part in _LOSS_ALIASES:
            loss = part
        elif part.startswith("out_") and part[4:] in ACTIVATIONS:
            out_act = part[4:]
        else:
            raise ValueError(f"invalid MLP spec {text!r}: unknown part {part!r}")
    return MLP(sizes, activation=activation, loss=loss, output_activation=out_act)
