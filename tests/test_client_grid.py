"""Syft/Job against the mock grid: protocol variants, rejections, errors and faults.

Everything here ends in ``rejected`` or ``error`` before any model download, so it needs no
model or plan; the accepted path is in test_job_accept.py and test_job_node.py.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from mock_grid import MockGrid, ServedGrid
from netcheck import client_sockets_to, running_tasks
from syft_rs import Syft
from syft_rs.errors import GridError, GridUnknownCycleStatusError
from syft_rs.grid.ws import WebSocketConnection

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


@pytest.fixture(scope="module")
def server() -> Iterator[ServedGrid]:
    served = ServedGrid().start()
    yield served
    served.stop()


@pytest.fixture
def grid(server: ServedGrid) -> MockGrid:
    return server.use(MockGrid())


def record(job: Any) -> list[tuple[str, Any]]:
    events: list[tuple[str, Any]] = []
    for name in ("accepted", "rejected", "error"):
        job.on(name, lambda p, name=name: events.append((name, p)))
    return events


def url(server: ServedGrid, transport: str) -> str:
    return server.ws_url if transport == "ws" else server.http_url


TRANSPORTS = pytest.mark.parametrize("transport", ["ws", "http"])


# ---- rejections and timeouts ------------------------------------------------------------


@TRANSPORTS
@pytest.mark.parametrize(
    ("sent_timeout", "expected"),
    [
        (2700, 2700.0),
        (12.5, 12.5),
        ("30", 30.0),
        ("7:59:56.610388", 28796.610388),
        ("1 day, 0:00:01", 86401.0),
        ("-1 day, 23:59:58.5", 0.0),
        (None, None),
    ],
)
async def test_rejected_timeout_forms(server, grid, transport, sent_timeout, expected) -> None:
    grid.reject = True
    grid.reject_timeout = sent_timeout
    grid.wrap_http = True  # PyGrid dev wraps HTTP cycle-request answers
    async with Syft(url(server, transport), allow_insecure=True) as syft:
        job = syft.new_job("mnist", "1.0.0")
        events = record(job)
        await job.start()
    assert len(events) == 1 and events[0][0] == "rejected"
    got = events[0][1]["timeout"]
    assert got == (pytest.approx(expected) if expected is not None else None)
    assert grid.count("cycle-request") == 1


@TRANSPORTS
async def test_rejected_with_error_is_an_error(server, grid, transport) -> None:
    grid.cycle_error = "Not found any process related with this cycle and worker ID."
    async with Syft(url(server, transport), allow_insecure=True) as syft:
        job = syft.new_job("mnist", "1.0.0")
        events = record(job)
        await job.start()
    assert [e[0] for e in events] == ["error"]
    err = events[0][1]
    assert type(err) is GridError
    assert str(err) == "Not found any process related with this cycle and worker ID."
    assert "Traceback (most recent call last)" in err.raw


@TRANSPORTS
async def test_unknown_cycle_status(server, grid, transport) -> None:
    grid.cycle_status = "pending"
    async with Syft(url(server, transport), allow_insecure=True) as syft:
        job = syft.new_job("mnist", "1.0.0")
        events = record(job)
        await job.start()
    assert [e[0] for e in events] == ["error"]
    assert isinstance(events[0][1], GridUnknownCycleStatusError)
    assert "pending" in str(events[0][1])


async def test_http_error_status_and_message(server, grid) -> None:
    async with Syft(server.http_url, allow_insecure=True) as syft:
        job = syft.new_job("unknown-model", "1.0.0")
        events = record(job)
        await job.start()
    err = events[0][1]
    assert isinstance(err, GridError) and err.status == 401
    assert str(err) == "Not found any process related with this cycle and worker ID."


async def test_http_500_with_error_body(server, grid) -> None:
    grid.http_error["authenticate"] = (
        500,
        b'{"error": "boomTraceback (most recent call last):\\n x"}',
    )
    async with Syft(server.http_url, allow_insecure=True) as syft:
        job = syft.new_job("mnist", "1.0.0")
        events = record(job)
        await job.start()
    err = events[0][1]
    assert err.status == 500 and str(err) == "boom" and "Traceback" in err.raw


async def test_http_error_without_json_body(server, grid) -> None:
    grid.http_error["cycle-request"] = (503, b"<html>down</html>")
    async with Syft(server.http_url, allow_insecure=True) as syft:
        job = syft.new_job("mnist", "1.0.0")
        events = record(job)
        await job.start()
    err = events[0][1]
    assert err.status == 503 and str(err) == "503 Service Unavailable" and "down" in err.raw


async def test_ws_error_inside_data(server, grid) -> None:
    async with Syft(server.ws_url, allow_insecure=True) as syft:
        job = syft.new_job("unknown-model", "1.0.0")
        events = record(job)
        await job.start()
    err = events[0][1]
    assert isinstance(err, GridError) and err.status is None
    assert str(err).startswith("Not found any process")


@TRANSPORTS
async def test_invalid_json(server, grid, transport) -> None:
    grid.invalid_json.add("authenticate")
    async with Syft(url(server, transport), allow_insecure=True) as syft:
        job = syft.new_job("mnist", "1.0.0")
        events = record(job)
        await job.start()
    err = events[0][1]
    assert isinstance(err, GridError) and "Invalid JSON" in str(err)


@TRANSPORTS
async def test_auth_token_sent_only_when_given(server, grid, transport) -> None:
    grid.auth_token = "tok"
    grid.reject = True
    async with Syft(url(server, transport), allow_insecure=True) as syft:
        no_token = syft.new_job("mnist", "1.0.0")
        events = record(no_token)
        await no_token.start()
        assert "auth_token" in str(events[0][1]) and events[0][0] == "error"
        with_token = syft.new_job("mnist", "1.0.0", auth_token="tok")
        events = record(with_token)
        await with_token.start()
        assert events[0][0] == "rejected"
    sent = [d for t, n, d in grid.log if n == "authenticate"]
    if transport == "ws":
        assert "auth_token" not in sent[0] and sent[1]["auth_token"] == "tok"


# ---- hangs, refusals, drops --------------------------------------------------------------


@TRANSPORTS
async def test_server_that_never_answers_times_out(server, grid, transport) -> None:
    grid.never_answer.add("cycle-request")
    before = running_tasks()
    t0 = time.monotonic()
    async with Syft(url(server, transport), allow_insecure=True, request_timeout=0.5) as syft:
        job = syft.new_job("mnist", "1.0.0")
        events = record(job)
        await job.start()
    assert time.monotonic() - t0 < 3.0
    err = events[0][1]
    assert isinstance(err, GridError) and str(err) == "Response timeout"
    assert running_tasks() == before
    await anyio.sleep(0.05)
    assert client_sockets_to(server.port) == 0


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.mark.parametrize("scheme", ["ws", "http"])
async def test_connection_refused(scheme) -> None:
    port = _closed_port()
    before = running_tasks()
    async with Syft(f"{scheme}://127.0.0.1:{port}", allow_insecure=True, request_timeout=2) as syft:
        job = syft.new_job("mnist", "1.0.0")
        events = record(job)
        await job.start()
    err = events[0][1]
    assert isinstance(err, GridError) and "failed" in str(err).lower()
    assert running_tasks() == before
    assert client_sockets_to(port) == 0


async def test_ws_closed_by_server_fails_pending_and_reconnects(server, grid) -> None:
    grid.close_ws_on.add("cycle-request")
    async with Syft(server.ws_url, allow_insecure=True, request_timeout=5) as syft:
        job = syft.new_job("mnist", "1.0.0")
        events = record(job)
        await job.start()
        assert str(events[0][1]) == "WS connection closed"
        grid.close_ws_on.clear()
        grid.reject = True
        await job.start()  # the next send reconnects lazily
        assert events[1][0] == "rejected"
    assert grid.ws_connections == 2
    await anyio.sleep(0.05)
    assert client_sockets_to(server.port) == 0


# ---- WS correlation -----------------------------------------------------------------------


async def test_answers_matched_by_request_id_out_of_order(server, grid) -> None:
    import httpx

    grid.reverse_ws_answers = True
    async with httpx.AsyncClient() as client:
        conn = WebSocketConnection(client, server.ws_url, 5.0)
        results: dict[int, Any] = {}

        async def ask(n: int) -> None:
            answer = await conn.request("model-centric/echo", {"n": n})
            results[n] = answer["data"]["echo"]["n"]

        async with anyio.create_task_group() as tg:
            tg.start_soon(ask, 1)
            await anyio.sleep(0.05)
            tg.start_soon(ask, 2)
        await conn.aclose()
    assert results == {1: 1, 2: 2}


async def test_answers_without_request_id_fifo_by_type(server, grid) -> None:
    grid.echo_request_id = False
    grid.reject = True
    async with Syft(server.ws_url, allow_insecure=True) as syft:
        jobs = [syft.new_job("mnist", "1.0.0") for _ in range(3)]
        logs = [record(j) for j in jobs]
        async with anyio.create_task_group() as tg:
            for j in jobs:
                tg.start_soon(j.start)
    assert all(log and log[0][0] == "rejected" for log in logs)
    assert len({j.worker_id for j in jobs}) == 3
    assert grid.ws_connections == 1


async def test_concurrent_jobs_share_one_websocket(server, grid) -> None:
    grid.reject = True
    grid.reject_timeout = 5
    async with Syft(server.ws_url, allow_insecure=True) as syft:
        jobs = [syft.new_job("mnist", "1.0.0") for _ in range(4)]
        logs = [record(j) for j in jobs]
        async with anyio.create_task_group() as tg:
            for j in jobs:
                tg.start_soon(j.start)
        assert grid.open_ws == 1
    assert grid.ws_connections == 1
    assert [log[0] for log in logs] == [("rejected", {"timeout": 5.0})] * 4
    assert grid.count("authenticate") == 4


# ---- speed test ---------------------------------------------------------------------------


async def test_speed_test_only_when_required(server, grid) -> None:
    grid.reject = True
    async with Syft(server.http_url, allow_insecure=True) as syft:
        await syft.new_job("mnist", "1.0.0").start()
    assert grid.count("speed-test") == 0
    sent = [d for t, n, d in grid.log if n == "cycle-request"]
    assert b'"ping": 0' in sent[0] or b'"ping":0' in sent[0]


@TRANSPORTS
async def test_speed_test_bounded_by_bytes(server, grid, transport) -> None:
    grid.requires_speed_test = True
    grid.speed_download_bytes = 4 << 20
    grid.reject = True
    async with Syft(
        url(server, transport),
        allow_insecure=True,
        speed_test_max_bytes=256 * 1024,
        speed_test_ping_samples=3,
    ) as syft:
        job = syft.new_job("mnist", "1.0.0")
        events = record(job)
        await job.start()
    assert events[0][0] == "rejected", events
    assert job.requires_speed_test
    report = grid.speed_reports[0]
    assert report["ping"] > 0 and report["download"] > 0 and report["upload"] > 0
    pings = [
        d for t, n, d in grid.log if n == "speed-test" and isinstance(d, dict) and d.get("is_ping")
    ]
    assert len(pings) == 3
    assert all("worker_id" in d and "random" in d for d in pings)


async def test_speed_test_bounded_in_time(server, grid) -> None:
    grid.requires_speed_test = True
    grid.speed_download_bytes = 1 << 30  # far more than can move in the bound
    grid.reject = True
    t0 = time.monotonic()
    async with Syft(
        server.http_url,
        allow_insecure=True,
        speed_test_max_seconds=0.3,
        speed_test_max_bytes=1 << 40,
        speed_test_ping_samples=2,
    ) as syft:
        job = syft.new_job("mnist", "1.0.0")
        events = record(job)
        await job.start()
    assert events[0][0] == "rejected"
    assert time.monotonic() - t0 < 3.0
    assert client_sockets_to(server.port) == 0


async def test_speed_test_http_error_fails_job(server, grid) -> None:
    grid.requires_speed_test = True
    grid.http_error["speed-test"] = (500, b'{"error": "speed test broken"}')
    async with Syft(server.ws_url, allow_insecure=True) as syft:
        job = syft.new_job("mnist", "1.0.0")
        events = record(job)
        await job.start()
    assert events[0][0] == "error" and str(events[0][1]) == "speed test broken"


# ---- error event routing ------------------------------------------------------------------


async def test_error_without_handler_is_logged(server, grid, caplog) -> None:
    grid.cycle_error = "nope"
    async with Syft(server.ws_url, allow_insecure=True) as syft:
        job = syft.new_job("mnist", "1.0.0")
        with caplog.at_level("WARNING", logger="syft_rs"):
            await job.start()  # returns normally
    assert any("nope" in r.getMessage() for r in caplog.records)


async def test_handler_exception_propagates_from_start(server, grid) -> None:
    grid.reject = True

    def bad(payload: Any) -> None:
        raise RuntimeError("handler failed")

    async with Syft(server.ws_url, allow_insecure=True) as syft:
        job = syft.new_job("mnist", "1.0.0")
        job.on("rejected", bad)
        with pytest.raises(RuntimeError, match="handler failed"):
            await job.start()


async def test_async_handlers_are_awaited(server, grid) -> None:
    grid.reject = True
    seen: list[Any] = []

    async def handler(payload: Any) -> None:
        await anyio.lowlevel.checkpoint()
        seen.append(payload)

    async with Syft(server.ws_url, allow_insecure=True) as syft:
        job = syft.new_job("mnist", "1.0.0")
        job.on("rejected", handler)
        await job.start()
    assert seen == [{"timeout": None}]


# ---- report --------------------------------------------------------------------------------


async def test_report_needs_an_accepted_cycle(server, grid) -> None:
    async with Syft(server.ws_url, allow_insecure=True) as syft:
        job = syft.new_job("mnist", "1.0.0")
        with pytest.raises(RuntimeError):
            await job.report(b"diff")
        with pytest.raises(TypeError):
            await job.report("diff")  # type: ignore[arg-type]


async def test_closed_client_refuses_work(server, grid) -> None:
    syft = Syft(server.ws_url, allow_insecure=True)
    await syft.close()
    await syft.close()  # idempotent
    job = syft.new_job("mnist", "1.0.0")
    events = record(job)
    await job.start()
    assert isinstance(events[0][1], GridError) and "closed" in str(events[0][1])


async def test_router_level_error_without_type_goes_to_oldest_pending(server, grid) -> None:
    grid.router_error_on.add("cycle-request")
    async with Syft(server.ws_url, allow_insecure=True) as syft:
        job = syft.new_job("mnist", "1.0.0")
        events = record(job)
        await job.start()
    err = events[0][1]
    assert type(err) is GridError and str(err) == "'model-centric/cycle-request'"
