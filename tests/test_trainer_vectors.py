"""syft.js vector cases through PlanTrainer (training.md §9): MNIST step, diff, checkpoint JSON."""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np
import pytest

from conftest import vector_path
from syft_rs import (
    DataLoader,
    PlanInputSpec,
    PlanOutputSpec,
    PlanTrainer,
    PlanTrainerCheckpoint,
    SyftModel,
    TensorDataset,
    _core,
)

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

IN, OUT = PlanInputSpec, PlanOutputSpec
FRAMEWORKS = pytest.mark.parametrize("framework", [None, "tfjs", "torch"])


def load(name: str) -> bytes:
    return vector_path("syftjs", name).read_bytes()


def expected() -> dict[str, Any]:
    return json.loads(load("expected.json"))


def plan(framework: str | None) -> Any:
    Plan = pytest.importorskip("syft_rs.plan", reason="Plan (interp helper) not merged yet").Plan
    return Plan.from_protobuf(load("mnist_training_plan.Plan.pb"), framework=framework)


def mnist_outputs() -> list[PlanOutputSpec]:
    return [
        OUT(OUT.TYPE_LOSS),
        OUT(OUT.TYPE_METRIC, "accuracy"),
        OUT(OUT.TYPE_MODEL_PARAM, "W1", 0),
        OUT(OUT.TYPE_MODEL_PARAM, "b1", 1),
        OUT(OUT.TYPE_MODEL_PARAM, "W2", 2),
        OUT(OUT.TYPE_MODEL_PARAM, "b2", 3),
    ]


def mnist_inputs(first_two: list[PlanInputSpec]) -> list[PlanInputSpec]:
    return [
        *first_two,
        IN(IN.TYPE_BATCH_SIZE),
        IN(IN.TYPE_CLIENT_CONFIG_PARAM, "lr"),
        IN(IN.TYPE_MODEL_PARAM, "W1", 0),
        IN(IN.TYPE_MODEL_PARAM, "b1", 1),
        IN(IN.TYPE_MODEL_PARAM, "W2", 2),
        IN(IN.TYPE_MODEL_PARAM, "b2", 3),
    ]


def check_step(trainer: PlanTrainer, ends: list[dict[str, Any]]) -> None:
    exp = expected()["mnist"]["expected_asserted_by_syftjs_tests"]
    assert len(ends) == 1
    loss = ends[0]["loss"]
    assert isinstance(loss, float)
    ref = np.float32(exp["loss"])
    assert abs(np.float32(loss) - ref) <= np.spacing(ref)  # exact in float32, 1 ulp allowed
    assert ends[0]["metrics"] == {"accuracy": exp["accuracy"]}
    updated = _core.decode_state(load("mnist_updated_model_params.State.pb"))
    for got, ref_p in zip(trainer.current_model.params, updated, strict=True):
        assert got.dtype == np.float32 and got.shape == ref_p.shape
        assert float(np.abs(ref_p.astype(np.float64) - got).sum()) < 1e-7


@FRAMEWORKS
async def test_mnist_step_tensor_mode(framework) -> None:
    p = plan(framework)
    X, y = _core.decode_state(load("mnist_batch_data.State.pb"))
    trainer = PlanTrainer(
        SyftModel.from_protobuf(load("mnist_model_params.State.pb")),
        p,
        inputs=mnist_inputs([IN(IN.TYPE_DATA), IN(IN.TYPE_TARGET)]),
        outputs=mnist_outputs(),
        data=X,
        target=y,
        batch_size=64,
        epochs=1,
        steps_per_epoch=1,
        client_config={"lr": 0.005},
    )
    ends: list[dict[str, Any]] = []
    trainer.on("batchEnd", ends.append)
    await trainer.start()
    check_step(trainer, ends)


@FRAMEWORKS
async def test_mnist_step_loader_mode(framework) -> None:
    p = plan(framework)
    X, y = _core.decode_state(load("mnist_batch_data.State.pb"))
    trainer = PlanTrainer(
        SyftModel.from_protobuf(load("mnist_model_params.State.pb")),
        p,
        inputs=mnist_inputs([IN(IN.TYPE_DATA, index=0), IN(IN.TYPE_DATA, index=1)]),
        outputs=mnist_outputs(),
        data=DataLoader(TensorDataset(X, y), batch_size=64, shuffle=False),
        epochs=1,
        steps_per_epoch=1,
        client_config={"lr": 0.005},
    )
    ends: list[dict[str, Any]] = []
    trainer.on("batch_end", ends.append)
    await trainer.start()
    check_step(trainer, ends)

    # The diff of that step (original − updated), serialized and decoded again.
    diff = trainer.original_model.create_serialized_diff_from_model(trainer.current_model)
    tensors = _core.decode_state(diff)
    stats = expected()["mnist"]["diff_original_minus_updated_stats_derived"]["per_param"]
    original = trainer.original_model.params
    assert len(tensors) == 4
    for t, o, c, s in zip(tensors, original, trainer.current_model.params, stats, strict=True):
        assert t.dtype == np.float32 and list(t.shape) == s["shape"]
        np.testing.assert_array_equal(t, o - c)
        t64 = t.astype(np.float64)
        assert t64.sum() == pytest.approx(s["sum"], rel=1e-3, abs=1e-7)
        assert np.abs(t64).sum() == pytest.approx(s["sum_abs"], rel=1e-4)
        assert np.abs(t64).max() == pytest.approx(s["max_abs"], rel=1e-3)


def test_syftjs_checkpoint_json_loads() -> None:
    value = dict(expected()["checkpoint_json_expected_in_test"]["value"])
    # The vector stores a placeholder for the model; a syft.js State (its own layout) goes in.
    state = load("mnist_model_params.State.pb")
    value["currentModelBase64"] = base64.b64encode(state).decode("ascii")
    cp = PlanTrainerCheckpoint.from_json(value)
    assert (cp.epoch, cp.epochs, cp.batch, cp.batch_size, cp.steps_per_epoch) == (2, 3, 0, 64, 1)
    assert cp.client_config == {}
    ref = _core.decode_state(state)
    for got, r in zip(cp.current_model.params, ref, strict=True):
        np.testing.assert_array_equal(got, r)
    again = cp.to_json()
    assert {k: again[k] for k in value if k != "currentModelBase64"} == {
        k: value[k] for k in value if k != "currentModelBase64"
    }
    roundtrip = PlanTrainerCheckpoint.from_json(again)
    for got, r in zip(roundtrip.current_model.params, ref, strict=True):
        np.testing.assert_array_equal(got, r)


def test_identical_under_asyncio_and_trio() -> None:
    import anyio

    p = plan(None)
    X, y = _core.decode_state(load("mnist_batch_data.State.pb"))
    X = np.concatenate([X, X[::-1]])  # two batches, so the second step depends on the first
    y = np.concatenate([y, y[::-1]])

    def run(backend: str) -> tuple[list[tuple[str, Any]], list[np.ndarray]]:
        trainer = PlanTrainer(
            SyftModel.from_protobuf(load("mnist_model_params.State.pb")),
            p,
            inputs=mnist_inputs([IN(IN.TYPE_DATA, index=0), IN(IN.TYPE_DATA, index=1)]),
            outputs=mnist_outputs(),
            data=DataLoader(TensorDataset(X, y), batch_size=64, seed=5),
            epochs=2,
            client_config={"lr": 0.005},
        )
        events: list[tuple[str, Any]] = []
        for name in ("start", "epochStart", "batchStart", "batchEnd", "epochEnd", "end"):
            trainer.on(name, lambda payload, name=name: events.append((name, payload)))
        anyio.run(trainer.start, backend=backend)
        return events, [np.array(q) for q in trainer.current_model.params]

    events_a, params_a = run("asyncio")
    events_t, params_t = run("trio")
    assert len(events_a) == 1 + 2 * (2 + 2 * 2) + 1
    assert events_a == events_t  # same order, epochs, batches, and bit-identical float losses
    for a, t in zip(params_a, params_t, strict=True):
        np.testing.assert_array_equal(a, t)
