"""Event emitter: sync/async handlers, order, camelCase ≡ snake_case, off removes only that handler."""

from __future__ import annotations

import logging

import pytest

from syft_rs.events import EventEmitter, normalize_event_name

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


def test_names_normalize() -> None:
    assert normalize_event_name("epochStart") == "epoch_start"
    assert normalize_event_name("epoch_start") == "epoch_start"
    assert normalize_event_name("batchEnd") == "batch_end"
    assert normalize_event_name("start") == "start"
    with pytest.raises(TypeError):
        normalize_event_name(3)  # type: ignore[arg-type]


async def test_sync_and_async_handlers_run_in_order() -> None:
    em = EventEmitter()
    seen: list[tuple[str, object]] = []

    def a(p: object) -> None:
        seen.append(("a", p))

    async def b(p: object) -> None:
        seen.append(("b", p))

    em.on("epochStart", a)
    em.on("epoch_start", b)
    em.on("epochStart", a)  # twice: runs twice
    await em.emit("epoch_start", {"epoch": 0})
    assert seen == [("a", {"epoch": 0}), ("b", {"epoch": 0}), ("a", {"epoch": 0})]


async def test_off_removes_only_that_handler() -> None:
    em = EventEmitter()
    seen: list[str] = []
    f = lambda p: seen.append("f")  # noqa: E731
    g = lambda p: seen.append("g")  # noqa: E731
    h = lambda p: seen.append("h")  # noqa: E731
    em.on("batch_end", f)
    em.on("batch_end", g)
    em.on("end", f)
    em.on("end", h)
    em.off("batchEnd", f)
    await em.emit("batch_end", {})
    await em.emit("end", {})
    assert seen == ["g", "f", "h"]


async def test_off_bound_method() -> None:
    class C:
        def __init__(self) -> None:
            self.n = 0

        def handler(self, p: object) -> None:
            self.n += 1

    c = C()
    em = EventEmitter()
    em.on("x", c.handler)
    em.off("x", c.handler)  # a new bound-method object, equal to the registered one
    await em.emit("x", {})
    assert c.n == 0


async def test_handler_exception_propagates_and_stops_later_handlers() -> None:
    em = EventEmitter()
    seen: list[str] = []

    def boom(p: object) -> None:
        raise KeyError("boom")

    em.on("e", boom)
    em.on("e", lambda p: seen.append("later"))
    with pytest.raises(KeyError):
        await em.emit("e", {})
    assert seen == []


async def test_allowed_names_ignore_others() -> None:
    em = EventEmitter(allowed=("accepted", "rejected", "error"))
    em.on("accepted", lambda p: None)
    em.on("surprise", lambda p: None)
    assert em.has_handlers("accepted")
    assert not em.has_handlers("surprise")


def test_non_callable_rejected() -> None:
    with pytest.raises(TypeError):
        EventEmitter().on("x", 3)  # type: ignore[arg-type]


def test_logger_name_exists() -> None:
    assert logging.getLogger("syft_rs").name == "syft_rs"
