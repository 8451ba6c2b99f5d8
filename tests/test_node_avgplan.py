"""Hosted averaging plans run by the Rust interpreter (protocol.md §8.3)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import numpy as np
import pytest

from syft_rs import _core
from syft_rs.node import RunningNode, start_node
from test_node_support import Client, client_for, host_data, small_model


def averaging_plan(shapes: list[tuple[int, ...]]) -> bytes:
    from syft_rs.plans.averaging import averaging_plan_spec

    return _core.encode_plan(averaging_plan_spec(shapes))


@pytest.fixture
def client() -> Iterator[Client]:
    running: RunningNode
    with start_node() as running, client_for(running.url) as c:
        yield c


def params(state: bytes) -> list[np.ndarray]:
    return list(_core.decode_state(state))


def shapes() -> list[tuple[int, ...]]:
    return [p.shape for p in params(small_model())]


def diff(value: float) -> bytes:
    return _core.encode_state([np.full(s, value, dtype=np.float32) for s in shapes()])


def mean_plan(k: int) -> bytes:
    """A non-iterative plan: ``k`` diffs of the small model flattened diff-major → their mean."""
    from syft_rs.plans._graph import Graph

    graph = Graph()
    n = len(shapes())
    inputs = [graph.input(s) for _ in range(k) for s in shapes()]
    outputs = []
    for i, s in enumerate(shapes()):
        acc = inputs[i]
        for j in range(1, k):
            acc = graph.op("__add__", acc, inputs[j * n + i], shape=s)
        outputs.append(graph.op("__truediv__", acc, k, shape=s))
    return _core.encode_plan(graph.plan_spec("mean_plan", outputs))


def run_cycle(c: Client, values: list[float]) -> None:
    for v in values:
        wid, answer = c.join()
        assert answer["status"] == "accepted"
        assert c.report(wid, answer["request_key"], diff(v)) == {"status": "success"}


def expect_checkpoint(c: Client, number: str, mean: float) -> None:
    r = c.checkpoint(checkpoint=number)
    assert r.status_code == 200
    for got, base in zip(params(r.content), params(small_model()), strict=True):
        np.testing.assert_allclose(got, base - np.float32(mean), rtol=1e-6, atol=1e-6)


def test_iterative_plan(client: Client) -> None:
    client.host(averaging_plan=averaging_plan(shapes()), iterative_plan=True, max_diffs=3)
    run_cycle(client, [0.1, 0.2, 0.6])
    expect_checkpoint(client, "2", 0.3)


def test_non_iterative_plan(client: Client) -> None:
    client.host(averaging_plan=mean_plan(2), max_diffs=2)
    run_cycle(client, [0.1, 0.5])
    expect_checkpoint(client, "2", 0.3)


def test_plan_failure_keeps_cycle_open(client: Client, caplog: pytest.LogCaptureFixture) -> None:
    # a 2-diff plan with max_diffs 3: averaging cannot run, the cycle stays open
    client.host(averaging_plan=mean_plan(2), max_diffs=3, min_diffs=3)
    with caplog.at_level(logging.ERROR, logger="syft_rs.node"):
        run_cycle(client, [0.1, 0.2, 0.3])
    assert client.checkpoint(checkpoint="2").status_code == 404
    assert client.checkpoint().content == small_model()
    assert any("averaging" in r.getMessage() for r in caplog.records)


def test_iterative_arity_checked(client: Client) -> None:
    plan = averaging_plan(shapes())  # 2n + 1 inputs: not a multiple of n without iterative_plan
    answer = client.call("host-training", host_data(averaging_plan=plan, max_diffs=2))
    assert answer == {"error": "Averaging plan expects 5 inputs and 2 outputs, model has 2 tensors"}
