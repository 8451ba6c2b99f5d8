"""PlanTrainer loop semantics (training.md §4, §6, §8, §9 project rows), both anyio backends."""

from __future__ import annotations

import json
from typing import Any

import anyio
import numpy as np
import pytest

from syft_rs import (
    DataLoader,
    PlanInputSpec,
    PlanOutputSpec,
    PlanTrainer,
    PlanTrainerCheckpoint,
    TensorDataset,
)
from trainer_helpers import (
    LinearRegressionPlan,
    Recorder,
    initial_params,
    loader_inputs,
    make_data,
    outputs,
    reference_training,
    tensor_inputs,
)

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

SyftModel = pytest.importorskip("syft_rs.model").SyftModel


def tensor_trainer(plan: Any = None, **kw: Any) -> PlanTrainer:
    X, y = kw.pop("data", make_data())
    kw.setdefault("client_config", {"lr": 0.05})
    kw.setdefault("batch_size", 8)
    return PlanTrainer(
        SyftModel(initial_params()),
        plan or LinearRegressionPlan(),
        inputs=tensor_inputs(),
        outputs=outputs(),
        data=X,
        target=y,
        **kw,
    )


def assert_params(model: Any, expected: list[np.ndarray]) -> None:
    assert len(model.params) == len(expected)
    for got, ref in zip(model.params, expected, strict=True):
        np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-7)


# ---- loop and events ----------------------------------------------------------------------


async def test_event_sequence_and_payloads() -> None:
    trainer = tensor_trainer(data=make_data(24), epochs=2)  # 3 batches of 8
    rec = Recorder(trainer)
    await trainer.start()
    expected = ["start"]
    for _ in range(2):
        expected += ["epochStart"] + ["batchStart", "batchEnd"] * 3 + ["epochEnd"]
    expected += ["end"]
    assert rec.names() == expected
    assert rec.of("epochStart") == [{"epoch": 0}, {"epoch": 1}]
    assert [(p["epoch"], p["batch"]) for p in rec.of("batchEnd")] == [
        (e, b) for e in range(2) for b in range(3)
    ]
    first = rec.of("batchEnd")[0]
    assert isinstance(first["loss"], float)
    assert isinstance(first["metrics"]["mae"], float)  # [1]-shaped -> float
    assert isinstance(first["metrics"]["pair"], np.ndarray) and first["metrics"]["pair"].shape == (
        2,
    )
    assert (trainer.epoch, trainer.batch_idx) == (2, 0)
    assert_params(trainer.current_model, reference_training(*make_data(24), 8, 0.05, 2))


async def test_original_model_untouched_and_params_not_mutated() -> None:
    trainer = tensor_trainer()
    before = [p.copy() for p in trainer.original_model.params]
    await trainer.start()
    for p, q in zip(trainer.original_model.params, before, strict=True):
        np.testing.assert_array_equal(p, q)
    assert trainer.current_model is not trainer.original_model


async def test_current_model_is_a_stable_snapshot_per_step() -> None:
    X, y = make_data(24)
    trainer = tensor_trainer(data=(X, y))  # 3 batches of 8
    assert trainer.current_model is trainer.original_model
    seen: list[Any] = []
    trainer.on("batch_end", lambda p: seen.append(trainer.current_model))
    await trainer.start()
    # One model per step, fixed once handed out: later steps do not change earlier ones.
    assert len({id(m) for m in seen}) == 3
    for k, model in enumerate(seen, start=1):
        assert_params(model, reference_training(X, y, 8, 0.05, 1, steps=k))
        assert all(not p.flags.writeable for p in model.params)
    assert trainer.current_model is seen[-1]
    assert trainer.current_model is trainer.current_model


async def test_no_loss_no_metrics() -> None:
    X, y = make_data()
    trainer = PlanTrainer(
        SyftModel(initial_params()),
        LinearRegressionPlan(),
        inputs=tensor_inputs(),
        outputs=[PlanOutputSpec("modelParam", index=0)],  # later outputs ignored
        data=X,
        target=y,
        batch_size=8,
        client_config={"lr": 0.1},
        steps_per_epoch=1,
    )
    rec = Recorder(trainer)
    await trainer.start()
    assert rec.of("batchEnd") == [{"epoch": 0, "batch": 0, "loss": None, "metrics": {}}]


async def test_steps_per_epoch_caps_exactly() -> None:
    # 10 batches available, steps_per_epoch=2, epochs=3 -> 6 batch_end, 2 per epoch (§8.1).
    trainer = tensor_trainer(data=make_data(80), epochs=3, steps_per_epoch=2)
    rec = Recorder(trainer)
    await trainer.start()
    ends = rec.of("batchEnd")
    assert [(p["epoch"], p["batch"]) for p in ends] == [(e, b) for e in range(3) for b in range(2)]
    assert_params(trainer.current_model, reference_training(*make_data(80), 8, 0.05, 3, steps=2))


async def test_tensor_mode_drops_partial_batch() -> None:
    plan = LinearRegressionPlan()
    trainer = tensor_trainer(plan, data=make_data(20))  # 20 // 8 = 2 batches
    await trainer.start()
    assert plan.batch_sizes == [8, 8]


async def test_loader_mode_passes_actual_batch_size() -> None:
    # 10 samples, batch_size=4, loader mode, 1 epoch -> 4, 4, 2 (§8.3).
    X, y = make_data(10)
    plan = LinearRegressionPlan()
    trainer = PlanTrainer(
        SyftModel(initial_params()),
        plan,
        inputs=loader_inputs(),
        outputs=outputs(),
        data=DataLoader(TensorDataset(X, y), batch_size=4, shuffle=False),
        client_config={"lr": 0.01},
    )
    assert trainer.batch_size == 4
    await trainer.start()
    assert plan.batch_sizes == [4, 4, 2]


async def test_loader_reiterated_every_epoch_with_new_order() -> None:
    X, y = make_data(12)
    seen: list[list[float]] = []

    class Spy(LinearRegressionPlan):
        def execute(self, *args: Any) -> list[np.ndarray]:
            seen.append(args[0][:, 0].tolist())
            return super().execute(*args)

    loader = DataLoader(TensorDataset(X, y), batch_size=12, shuffle=True, seed=7)
    trainer = PlanTrainer(
        SyftModel(initial_params()),
        Spy(),
        inputs=loader_inputs(),
        outputs=outputs(),
        data=loader,
        epochs=3,
        client_config={"lr": 0.01},
    )
    await trainer.start()
    assert len(seen) == 3 and len({tuple(s) for s in seen}) == 3  # a batch every epoch, new order
    for s in seen:
        assert sorted(s) == sorted(X[:, 0].tolist())


async def test_camel_and_snake_handlers_both_run_and_off() -> None:
    trainer = tensor_trainer(steps_per_epoch=1)
    seen: list[str] = []
    f = lambda p: seen.append("f")  # noqa: E731
    g = lambda p: seen.append("g")  # noqa: E731
    h = lambda p: seen.append("h")  # noqa: E731
    trainer.on("epochStart", f)
    trainer.on("epoch_start", g)
    trainer.on("batchEnd", h)
    trainer.on("batch_end", f)
    trainer.off("batch_end", h)
    await trainer.start()
    assert seen == ["f", "g", "f"]


async def test_events_argument_subscribes_in_order() -> None:
    seen: list[str] = []

    async def on_end(p: Any) -> None:
        seen.append("end")

    trainer = tensor_trainer(
        steps_per_epoch=1, events={"start": lambda p: seen.append("start"), "end": on_end}
    )
    await trainer.start()
    assert seen == ["start", "end"]


async def test_defaults_from_client_config() -> None:
    X, y = make_data(40)
    cc = {"lr": 0.05, "batch_size": 10, "max_epochs": 2, "max_updates": 3}
    trainer = PlanTrainer(
        SyftModel(initial_params()),
        LinearRegressionPlan(),
        inputs=tensor_inputs(),
        outputs=outputs(),
        data=X,
        target=y,
        client_config=cc,
    )
    assert (trainer.batch_size, trainer.epochs, trainer.steps_per_epoch) == (10, 2, 3)
    rec = Recorder(trainer)
    await trainer.start()
    assert len(rec.of("batchEnd")) == 6
    explicit = PlanTrainer(
        SyftModel(initial_params()),
        LinearRegressionPlan(),
        inputs=tensor_inputs(),
        outputs=outputs(),
        data=X,
        target=y,
        client_config=cc,
        batch_size=5,
        epochs=1,
        steps_per_epoch=None,
    )
    assert (explicit.batch_size, explicit.epochs, explicit.steps_per_epoch) == (5, 1, 3)
    plain = PlanTrainer(
        SyftModel(initial_params()),
        LinearRegressionPlan(),
        inputs=tensor_inputs(),
        outputs=outputs(),
        data=X,
        target=y,
        client_config={"lr": 0.1},
        batch_size=4,
    )
    assert (plain.epochs, plain.steps_per_epoch) == (1, None)


# ---- errors ---------------------------------------------------------------------------------


async def test_plan_error_propagates_without_end() -> None:
    trainer = tensor_trainer(LinearRegressionPlan(fail_at=2))
    rec = Recorder(trainer)
    with pytest.raises(FloatingPointError):
        await trainer.start()
    assert "end" not in rec.names() and "stop" not in rec.names()
    assert trainer.stopped is False
    assert (trainer.epoch, trainer.batch_idx) == (0, 2)
    assert len(rec.of("batchEnd")) == 2


async def test_handler_error_propagates() -> None:
    trainer = tensor_trainer()

    def bad(p: Any) -> None:
        raise ValueError("handler")

    trainer.on("batch_end", bad)
    with pytest.raises(ValueError, match="handler"):
        await trainer.start()


async def test_start_while_running_is_an_error() -> None:
    trainer = tensor_trainer()
    errors: list[BaseException] = []

    async def second(p: Any) -> None:
        try:
            await trainer.start()
        except RuntimeError as exc:
            errors.append(exc)

    trainer.on("batch_start", second)
    await trainer.start()
    assert errors and "already running" in str(errors[0])


async def test_input_resolution_errors() -> None:
    X, y = make_data()
    with pytest.raises(ValueError):
        PlanInputSpec("nonsense")
    with pytest.raises(ValueError):
        PlanOutputSpec("modelParam")  # no index
    with pytest.raises(ValueError):
        PlanOutputSpec("metric")  # no name
    trainer = tensor_trainer(client_config={})  # no 'lr' in client config
    with pytest.raises(ValueError, match="lr"):
        await trainer.start()
    too_many = PlanTrainer(
        SyftModel(initial_params()),
        LinearRegressionPlan(),
        inputs=tensor_inputs(),
        outputs=[*outputs(), PlanOutputSpec("metric", "extra")],
        data=X,
        target=y,
        batch_size=8,
        client_config={"lr": 0.1},
    )
    with pytest.raises(ValueError, match="outputs"):
        await too_many.start()
    with pytest.raises(ValueError):
        tensor_trainer(data=(X, y[:5]))
    with pytest.raises(ValueError, match="batch_size"):
        PlanTrainer(
            SyftModel(initial_params()),
            LinearRegressionPlan(),
            inputs=tensor_inputs(),
            outputs=outputs(),
            data=X,
            target=y,
        )


def test_value_spec_and_resolution_order() -> None:
    arg = {"modelParam": ["p0", "p1"], "clientConfigParam": {"lr": 3}, "data": ("X", "Y")}
    assert PlanInputSpec("value", value=7).resolve(arg) == 7
    assert PlanInputSpec("modelParam", "W2", 1).resolve(arg) == "p1"  # index wins over name
    assert PlanInputSpec("clientConfigParam", "lr").resolve(arg) == 3
    assert PlanInputSpec("data").resolve(arg) == ("X", "Y")
    assert PlanInputSpec.TYPE_BATCH_SIZE == "batchSize"
    assert PlanInputSpec.TYPE_CLIENT_CONFIG_PARAM == "clientConfigParam"
    assert PlanOutputSpec.TYPE_METRIC == "metric"


# ---- stop / resume / checkpoints --------------------------------------------------------------


async def test_stop_after_end_returns_final_checkpoint() -> None:
    trainer = tensor_trainer(epochs=2)
    await trainer.start()
    cp = await trainer.stop()
    assert (cp.epoch, cp.batch, cp.epochs) == (2, 0, 2)
    assert trainer.stopped is False  # state unchanged (§8.5)
    assert_params(cp.current_model, [np.asarray(p) for p in trainer.current_model.params])


async def test_stop_before_start_then_resume() -> None:
    trainer = tensor_trainer(data=make_data(24), epochs=1)
    cp = await trainer.stop()
    assert (cp.epoch, cp.batch) == (0, 0) and trainer.stopped
    rec = Recorder(trainer)
    await trainer.start()
    assert rec.names() == ["start", "epochStart", "stop"]
    rec.events.clear()
    await trainer.resume()
    assert rec.names() == ["start", "epochStart"] + ["batchStart", "batchEnd"] * 3 + [
        "epochEnd",
        "end",
    ]
    assert_params(trainer.current_model, reference_training(*make_data(24), 8, 0.05, 1))


async def test_stop_from_handler_and_resume_continues() -> None:
    trainer = tensor_trainer(data=make_data(40), epochs=2)  # 5 batches/epoch
    rec = Recorder(trainer)
    cps: list[Any] = []

    def stopper(p: Any) -> None:
        if (p["epoch"], p["batch"]) == (0, 2):
            cps.append(trainer.stop())

    trainer.on("batch_end", stopper)
    await trainer.start()
    assert rec.names()[-2:] == ["batchStart", "stop"]
    cp = await cps[0]
    assert (cp.epoch, cp.batch) == (0, 3) and (trainer.epoch, trainer.batch_idx) == (0, 3)
    trainer.off("batch_end", stopper)
    await trainer.resume()
    assert rec.names()[-1] == "end"
    assert [(p["epoch"], p["batch"]) for p in rec.of("batchEnd")] == [
        (e, b) for e in range(2) for b in range(5)
    ]
    assert_params(trainer.current_model, reference_training(*make_data(40), 8, 0.05, 2))


async def test_stop_from_another_task_and_resume_same_shuffled_iteration() -> None:
    X, y = make_data(32)
    order: list[list[float]] = []

    class Spy(LinearRegressionPlan):
        def execute(self, *args: Any) -> list[np.ndarray]:
            order.append(args[0][:, 0].tolist())
            return super().execute(*args)

    loader = DataLoader(TensorDataset(X, y), batch_size=4, shuffle=True, seed=11)
    trainer = PlanTrainer(
        SyftModel(initial_params()),
        Spy(),
        inputs=loader_inputs(),
        outputs=outputs(),
        data=loader,
        client_config={"lr": 0.01},
    )
    reached = anyio.Event()
    trainer.on("batch_end", lambda p: reached.set() if p["batch"] == 3 else None)
    async with anyio.create_task_group() as tg:
        tg.start_soon(trainer.start)
        await reached.wait()
        cp = await trainer.stop()
    assert cp.epoch == 0 and 1 <= cp.batch <= 8 and trainer.stopped
    await trainer.resume()
    assert len(order) == 8  # the stopped batch was not lost
    flat = sorted(v for b in order for v in b)
    assert flat == sorted(X[:, 0].tolist())  # one pass, each sample once


async def test_resume_when_not_stopped_returns() -> None:
    trainer = tensor_trainer()
    rec = Recorder(trainer)
    await trainer.resume()
    assert rec.events == []


async def test_checkpoint_continue_case() -> None:
    # syft.js "can be continued from checkpoint": 64 samples, epochs=3, steps=1, bs=64;
    # stop() in batch_end of epoch 1 -> stop after epoch_start{2}.
    X, y = make_data(64)
    trainer = PlanTrainer(
        SyftModel(initial_params()),
        LinearRegressionPlan(),
        inputs=tensor_inputs(),
        outputs=outputs(),
        data=X,
        target=y,
        epochs=3,
        steps_per_epoch=1,
        batch_size=64,
        client_config={"lr": 0.05},
    )
    rec = Recorder(trainer)
    trainer.on("batch_end", lambda p: trainer.stop() if p["epoch"] == 1 else None)
    await trainer.start()
    assert rec.names()[-3:] == ["epochEnd", "epochStart", "stop"] and rec.of("epochStart")[-1] == {
        "epoch": 2
    }
    cp = trainer.create_checkpoint()
    js = cp.to_json()
    expected = {
        "epoch": 2,
        "epochs": 3,
        "batch": 0,
        "batchSize": 64,
        "stepsPerEpoch": 1,
        "clientConfig": {"lr": 0.05},
    }
    assert {k: js[k] for k in expected} == expected
    assert set(js) == {*expected, "currentModelBase64"}

    restored = PlanTrainerCheckpoint.from_json(json.dumps(js))
    fresh = PlanTrainer(
        SyftModel(initial_params()),
        LinearRegressionPlan(),
        inputs=tensor_inputs(),
        outputs=outputs(),
        data=X,
        target=y,
        checkpoint=restored,
    )
    assert fresh.stopped and (fresh.epochs, fresh.epoch, fresh.batch_size) == (3, 2, 64)
    starts: list[Any] = []
    fresh.on(
        "batch_start",
        lambda p: starts.append((p, [np.array(q) for q in fresh.current_model.params])),
    )
    await fresh.resume()
    assert starts[0][0] == {"epoch": 2, "batch": 0}
    assert_params(SyftModel(starts[0][1]), [np.asarray(p) for p in trainer.current_model.params])
    assert_params(fresh.current_model, reference_training(X, y, 64, 0.05, 3))


async def test_checkpoint_start_without_resume_starts_over_stopped() -> None:
    trainer = tensor_trainer(epochs=2)
    await trainer.start()
    cp = trainer.create_checkpoint()
    other = tensor_trainer(checkpoint=cp)
    rec = Recorder(other)
    await other.start()  # resume=False: epoch 0 from the original model, but stopped
    assert rec.names() == ["start", "epochStart", "stop"]
    assert rec.of("epochStart") == [{"epoch": 0}]


def test_checkpoint_from_json_validation() -> None:
    good = {"epochs": 1, "batchSize": 2, "epoch": 0, "batch": 0, "currentModelBase64": ""}
    for key in ("epochs", "batchSize", "epoch", "batch", "currentModelBase64"):
        bad = dict(good)
        del bad[key]
        with pytest.raises(ValueError, match=key):
            PlanTrainerCheckpoint.from_json(bad)
    with pytest.raises(ValueError):
        PlanTrainerCheckpoint.from_json({**good, "epochs": "3"})
    with pytest.raises(ValueError):
        PlanTrainerCheckpoint.from_json({**good, "currentModelBase64": "***"})
    with pytest.raises(ValueError):
        PlanTrainerCheckpoint.from_json("{not json")


async def test_checkpoint_save_load_roundtrip(tmp_path) -> None:
    trainer = tensor_trainer(epochs=2)
    trainer.on(
        "batch_end", lambda p: trainer.stop() if (p["epoch"], p["batch"]) == (1, 1) else None
    )
    await trainer.start()
    path = tmp_path / "cp.json"
    trainer.create_checkpoint().save(path)
    trainer.create_checkpoint().save(path)  # overwrite in place
    assert [p.name for p in tmp_path.iterdir()] == ["cp.json"]  # no temp files left
    cp = PlanTrainerCheckpoint.load(path)
    assert (cp.epoch, cp.batch, cp.epochs, cp.batch_size) == (1, 2, 2, 8)
    assert json.loads(path.read_text())["clientConfig"] == {"lr": 0.05}


# ---- where steps run ----------------------------------------------------------------------


class _ThreadRecordingPlan(LinearRegressionPlan):
    """Records the thread of each step; each step takes ``seconds`` at least."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds
        self.threads: list[int] = []

    def execute(self, *args: Any) -> list[np.ndarray]:
        import threading
        import time

        self.threads.append(threading.get_ident())
        time.sleep(self.seconds)
        return super().execute(*args)


async def test_short_steps_run_inline_long_ones_in_a_worker_thread() -> None:
    import threading

    from syft_rs import trainer as trainer_mod

    here = threading.get_ident()
    fast = _ThreadRecordingPlan(0.0)
    await tensor_trainer(fast, epochs=1).start()
    # The first step goes to a worker thread; once a step proved short, the next ones run
    # here (a step slowed past the bound by a loaded machine sends one back to a thread).
    assert fast.threads[0] != here
    rest = fast.threads[1:]
    assert len(rest) > 3 and sum(t == here for t in rest) > len(rest) // 2
    slow = _ThreadRecordingPlan(trainer_mod.INLINE_STEP_SECONDS * 2)
    await tensor_trainer(slow, epochs=1, steps_per_epoch=4).start()
    assert len(slow.threads) == 4 and here not in slow.threads
