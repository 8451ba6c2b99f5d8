"""The iterative federated-averaging Plan a node runs over reported diffs.

``(avg_1…avg_n, item_1…item_n, num) -> ((avg_i·num + item_i) / (num + 1))_i``: called by the
node with ``avg`` = the running mean of the first ``num`` diffs and ``item`` = the next one
(server config ``iterative_plan: true``), it yields the plain mean of all diffs. The same
operations as PySyft traced for PyGrid's reference averaging plan (``__mul__``, ``__add__``,
``__add__(1)``, ``__truediv__`` per tensor; TF.js ``tf.mul``, ``tf.add``, ``tf.div``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from syft_rs import _core
from syft_rs.plans._graph import Graph


def averaging_plan_spec(
    shapes: Sequence[Sequence[int]], *, name: str = "avg_plan", seed: int | None = 0
) -> dict[str, Any]:
    """The averaging Plan for tensors of ``shapes`` as ``_core.encode_plan``'s description.

    Raises:
        ValueError: no shapes.
    """
    if len(shapes) == 0:
        raise ValueError("an averaging plan needs at least one tensor")
    graph = Graph()
    avgs = [graph.input(tuple(int(d) for d in s)) for s in shapes]
    items = [graph.input(tuple(int(d) for d in s)) for s in shapes]
    num = graph.input((1,))
    outputs = []
    for avg, item in zip(avgs, items, strict=True):
        scaled = graph.op("__mul__", avg, num, shape=avg.shape)
        summed = graph.op("__add__", scaled, item, shape=avg.shape)
        count = graph.op("__add__", num, 1, shape=(1,))
        outputs.append(graph.op("__truediv__", summed, count, shape=avg.shape))
    return graph.plan_spec(name, outputs, seed=seed)


def averaging_plan(
    shapes: Sequence[Sequence[int]], *, name: str = "avg_plan", seed: int | None = 0
) -> bytes:
    """The averaging Plan for tensors of ``shapes``, as protobuf bytes (``2n + 1`` inputs,
    ``n`` outputs, roles torch and tfjs). Host it with ``iterative_plan: true``."""
    return _core.encode_plan(averaging_plan_spec(shapes, name=name, seed=seed))
