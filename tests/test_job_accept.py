"""Job against the mock grid on the accepted path: downloads, retries, load failures, report."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import anyio
import numpy as np
import pytest

from mock_grid import MockGrid, ServedGrid
from netcheck import client_sockets_to, running_tasks
from syft_rs import Syft, SyftModel
from syft_rs.errors import GridError, ModelLoadFailedError, PlanLoadFailedError

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

PARAMS = [np.arange(6, dtype=np.float32).reshape(2, 3), np.array([0.5, -1.0, 2.0], np.float32)]
TRANSPORTS = pytest.mark.parametrize("transport", ["ws", "http"])


@pytest.fixture(scope="module")
def server() -> Iterator[ServedGrid]:
    served = ServedGrid().start()
    yield served
    served.stop()


@pytest.fixture
def grid(server: ServedGrid) -> MockGrid:
    return server.use(
        MockGrid(
            model_bytes=SyftModel(PARAMS).to_protobuf(),
            client_config={"name": "mnist", "version": "1.0.0", "lr": 0.1, "batch_size": 2},
            protocols={"proto": 9},
        )
    )


def url(server: ServedGrid, transport: str) -> str:
    return server.ws_url if transport == "ws" else server.http_url


def record(job: Any) -> list[tuple[str, Any]]:
    events: list[tuple[str, Any]] = []
    for name in ("accepted", "rejected", "error"):
        job.on(name, lambda p, name=name: events.append((name, p)))
    return events


@TRANSPORTS
async def test_accepted_downloads_model_and_fills_fields(server, grid, transport) -> None:
    grid.wrap_http = True
    async with Syft(url(server, transport), allow_insecure=True) as syft:
        job = syft.new_job("mnist", "1.0.0")
        events = record(job)
        await job.start()
    assert [e[0] for e in events] == ["accepted"]
    payload = events[0][1]
    assert set(payload) == {"model", "client_config"}
    assert payload["client_config"] == grid.client_config == job.client_config
    assert payload["model"] is job.model
    for got, ref in zip(job.model.params, PARAMS, strict=True):
        np.testing.assert_array_equal(got, ref)
    assert job.worker_id in grid.workers and job.request_key == grid.workers[job.worker_id]
    assert job.cycle_params["status"] == "accepted" and job.cycle_params["model_id"] == 1
    assert job.plans == {} and job.protocols == {"proto": 9}
    assert not job.requires_speed_test
    gets = [d for t, n, d in grid.log if n == "get-model"]
    assert gets == [{"worker_id": job.worker_id, "request_key": job.request_key, "model_id": "1"}]


async def test_ids_sent_as_strings_are_sent_back(server, grid) -> None:
    grid.ids_as_strings = True
    async with Syft(server.ws_url, allow_insecure=True) as syft:
        job = syft.new_job("mnist", "1.0.0")
        events = record(job)
        await job.start()
    assert events[0][0] == "accepted" and job.cycle_params["model_id"] == "1"


async def test_dropped_download_is_retried(server, grid) -> None:
    grid.drop_downloads = 2
    async with Syft(server.ws_url, allow_insecure=True, retry_backoff=0.01) as syft:
        job = syft.new_job("mnist", "1.0.0")
        events = record(job)
        await job.start()
    assert events[0][0] == "accepted"
    assert grid.count("get-model") == 3


async def test_dropped_download_gives_up_after_retries(server, grid) -> None:
    grid.drop_downloads = 100
    before = running_tasks()
    async with Syft(
        server.http_url, allow_insecure=True, download_retries=2, retry_backoff=0.01
    ) as syft:
        job = syft.new_job("mnist", "1.0.0")
        events = record(job)
        await job.start()
    err = events[0][1]
    assert type(err) is GridError and "dropped" in str(err).lower()
    assert grid.count("get-model") == 3
    assert running_tasks() == before
    await anyio.sleep(0.05)
    assert client_sockets_to(server.port) == 0


async def test_backoff_grows(server, grid) -> None:
    grid.http_error["get-model"] = (503, b'{"error": "busy"}')
    t0 = time.monotonic()
    async with Syft(
        server.ws_url, allow_insecure=True, download_retries=3, retry_backoff=0.05
    ) as syft:
        job = syft.new_job("mnist", "1.0.0")
        events = record(job)
        await job.start()
    elapsed = time.monotonic() - t0
    assert str(events[0][1]) == "busy" and events[0][1].status == 503
    assert grid.count("get-model") == 4
    assert elapsed >= 0.05 + 0.1 + 0.2


async def test_server_error_then_success_is_retried(server, grid) -> None:
    grid.http_error["get-model"] = (500, b'{"error": "transient"}')
    grid.http_error_times = 1
    async with Syft(server.ws_url, allow_insecure=True, retry_backoff=0.01) as syft:
        job = syft.new_job("mnist", "1.0.0")
        events = record(job)
        await job.start()
    assert events[0][0] == "accepted" and grid.count("get-model") == 2


async def test_client_error_is_not_retried(server, grid) -> None:
    grid.http_error["get-model"] = (400, b'{"error": "Model ID not found!"}')
    async with Syft(server.ws_url, allow_insecure=True, retry_backoff=0.01) as syft:
        job = syft.new_job("mnist", "1.0.0")
        events = record(job)
        await job.start()
    err = events[0][1]
    assert str(err) == "Model ID not found!" and err.status == 400
    assert grid.count("get-model") == 1


async def test_undecodable_model(server, grid) -> None:
    grid.model_bytes = b"\x0a\x03abc-not-a-state"
    async with Syft(server.ws_url, allow_insecure=True) as syft:
        job = syft.new_job("mnist", "1.0.0")
        events = record(job)
        await job.start()
    err = events[0][1]
    assert isinstance(err, ModelLoadFailedError) and str(err).startswith("Failed to load Model:")
    assert err.__cause__ is not None


async def test_undecodable_plan(server, grid) -> None:
    pytest.importorskip("syft_rs.plan", reason="Plan (interp helper) not merged yet")
    grid.plans = {"training_plan": b"\xff\xff garbage"}
    async with Syft(server.ws_url, allow_insecure=True) as syft:
        job = syft.new_job("mnist", "1.0.0")
        events = record(job)
        await job.start()
    err = events[0][1]
    assert isinstance(err, PlanLoadFailedError) and err.plan_name == "training_plan"
    assert str(err).startswith("Failed to load 'training_plan' Plan:")
    assert err.__cause__ is not None


@TRANSPORTS
async def test_report_sends_base64_once(server, grid, transport) -> None:
    grid.wrap_http = True
    async with Syft(url(server, transport), allow_insecure=True) as syft:
        job = syft.new_job("mnist", "1.0.0")
        await job.start()
        trained = SyftModel([p - 0.25 for p in PARAMS])
        diff = job.model.create_serialized_diff_from_model(trained)
        assert await job.report(diff) is None
    assert grid.count("report") == 1
    assert grid.reports[0]["diff"] == diff and grid.reports[0]["worker_id"] == job.worker_id


@TRANSPORTS
async def test_report_timeout_is_raised_not_retried(server, grid, transport) -> None:
    async with Syft(url(server, transport), allow_insecure=True, request_timeout=0.5) as syft:
        job = syft.new_job("mnist", "1.0.0")
        await job.start()
        grid.never_answer.add("report")
        with pytest.raises(GridError, match="Response timeout") as info:
            await job.report(b"\x00")
    assert grid.count("report") == 1
    assert any("not retried" in n for n in getattr(info.value, "__notes__", []))


@TRANSPORTS
async def test_report_error_raises(server, grid, transport) -> None:
    async with Syft(url(server, transport), allow_insecure=True) as syft:
        job = syft.new_job("mnist", "1.0.0")
        await job.start()
        job.request_key = "0" * 64
        with pytest.raises(GridError, match="Invalid worker ID or request key!"):
            await job.report(b"\x00")


async def test_job_started_again_gets_a_new_cycle(server, grid) -> None:
    async with Syft(server.ws_url, allow_insecure=True) as syft:
        job = syft.new_job("mnist", "1.0.0")
        await job.start()
        first = (job.worker_id, job.request_key)
        await job.start()
        assert (job.worker_id, job.request_key) != first
    assert grid.count("authenticate") == 2


async def test_train_needs_known_plan(server, grid) -> None:
    async with Syft(server.ws_url, allow_insecure=True) as syft:
        job = syft.new_job("mnist", "1.0.0")
        await job.start()
    with pytest.raises(ValueError, match="unknown plan"):
        job.train("training_plan", inputs=[], outputs=[], data=np.zeros((2, 2)))


@pytest.mark.parametrize("hang", ["cycle-request", "get-model"])
@TRANSPORTS
async def test_cancelled_start_leaks_nothing(server, grid, transport, hang) -> None:
    grid.never_answer.add(hang)
    before = running_tasks()
    async with Syft(url(server, transport), allow_insecure=True, request_timeout=30) as syft:
        job = syft.new_job("mnist", "1.0.0")
        events = record(job)
        with anyio.move_on_after(0.3) as scope:
            await job.start()
        assert scope.cancelled_caught and events == []  # cancellation is not an error event
        grid.never_answer.clear()
        await job.start()  # the client is still usable
        assert [e[0] for e in events] == ["accepted"]
    assert running_tasks() == before
    await anyio.sleep(0.05)
    assert client_sockets_to(server.port) == 0


@pytest.mark.parametrize("dialect", ["list", "tfjs"])
async def test_plans_downloaded_in_the_configured_dialect(server, grid, dialect) -> None:
    from conftest import vector_path
    from syft_rs import Plan

    plan_bytes = vector_path("syftjs", "mnist_training_plan.Plan.pb").read_bytes()
    grid.plans = {"training_plan": plan_bytes}
    async with Syft(server.ws_url, allow_insecure=True, receive_operations_as=dialect) as syft:
        job = syft.new_job("mnist", "1.0.0")
        events = record(job)
        await job.start()
    assert events[0][0] == "accepted", events
    assert isinstance(job.plans["training_plan"], Plan)
    assert job.plans["training_plan"].num_inputs == 8
    (query,) = [d for t, n, d in grid.log if n == "get-plan"]
    assert query["receive_operations_as"] == dialect and query["plan_id"] == "2"


@TRANSPORTS
async def test_full_cycle_on_the_mock_with_the_syftjs_mnist_plan(server, grid, transport) -> None:
    from conftest import vector_path
    from syft_rs import DataLoader, PlanInputSpec, PlanOutputSpec, TensorDataset, _core

    IN, OUT = PlanInputSpec, PlanOutputSpec
    syftjs = vector_path("syftjs")
    grid.model_bytes = (syftjs / "mnist_model_params.State.pb").read_bytes()
    grid.plans = {"training_plan": (syftjs / "mnist_training_plan.Plan.pb").read_bytes()}
    grid.client_config = {
        "name": "mnist",
        "version": "1.0.0",
        "batch_size": 64,
        "lr": 0.005,
        "max_updates": 1,
    }
    X, y = _core.decode_state((syftjs / "mnist_batch_data.State.pb").read_bytes())
    async with Syft(
        url(server, transport), allow_insecure=True, receive_operations_as="tfjs"
    ) as syft:
        job = syft.new_job("mnist", "1.0.0")
        losses: list[float] = []

        async def accepted(payload: dict[str, Any]) -> None:
            trainer = job.train(
                "training_plan",
                inputs=[
                    IN(IN.TYPE_DATA, index=0),
                    IN(IN.TYPE_DATA, index=1),
                    IN(IN.TYPE_BATCH_SIZE),
                    IN(IN.TYPE_CLIENT_CONFIG_PARAM, "lr"),
                    *(IN(IN.TYPE_MODEL_PARAM, index=i) for i in range(4)),
                ],
                outputs=[
                    OUT(OUT.TYPE_LOSS),
                    OUT(OUT.TYPE_METRIC, "accuracy"),
                    *(OUT(OUT.TYPE_MODEL_PARAM, index=i) for i in range(4)),
                ],
                data=DataLoader(
                    TensorDataset(X, y),
                    batch_size=payload["client_config"]["batch_size"],
                    shuffle=False,
                ),
            )
            assert (trainer.batch_size, trainer.epochs, trainer.steps_per_epoch) == (64, 1, 1)
            trainer.on("batch_end", lambda p: losses.append(p["loss"]))
            await trainer.start()
            await job.report(job.model.create_serialized_diff_from_model(trainer.current_model))

        job.on("accepted", accepted)
        job.on("error", lambda e: pytest.fail(f"error event: {e!r}"))
        await job.start()
    assert losses == [pytest.approx(2.3055033683776855, rel=1e-7)]
    diff = _core.decode_state(grid.reports[0]["diff"])
    updated = _core.decode_state((syftjs / "mnist_updated_model_params.State.pb").read_bytes())
    original = _core.decode_state(grid.model_bytes)
    for d, o, u in zip(diff, original, updated, strict=True):
        assert float(np.abs(d - (o - u)).sum()) < 2e-7
