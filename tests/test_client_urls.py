"""Syft construction rules (protocol.md §3.1, D2, D5, D6) and lenient answer parsing (D1)."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syft_rs import Syft
from syft_rs.errors import GridError
from syft_rs.grid.messages import error_message, parse_timeout, unwrap
from syft_rs.grid.urls import parse_grid_url


@pytest.mark.parametrize(
    ("given", "transport", "ws", "http"),
    [
        (
            "wss://grid.example:443/pfx/",
            "ws",
            "wss://grid.example:443/pfx/",
            "https://grid.example:443/pfx",
        ),
        ("WS://h:5000", "ws", "ws://h:5000", "http://h:5000"),
        ("https://h", "http", "wss://h", "https://h"),
        ("http://h:5000/", "http", "ws://h:5000/", "http://h:5000"),
    ],
)
def test_url_rules(given, transport, ws, http) -> None:
    urls = parse_grid_url(given, allow_insecure=True)
    assert (urls.transport, urls.ws_url, urls.http_base) == (transport, ws, http)
    assert urls.http("get-model") == http + "/model-centric/get-model"


def test_secure_urls_need_no_flag_and_are_not_mangled() -> None:
    syft = Syft("wss://h")  # syft.js turned this into wsss://h
    assert syft.urls.ws_url == "wss://h" and syft.urls.http_base == "https://h"


@pytest.mark.parametrize("url", ["ws://h", "http://h"])
def test_insecure_urls_need_allow_insecure_or_verbose(url) -> None:
    with pytest.raises(ValueError, match="allow_insecure=True"):
        Syft(url)
    Syft(url, allow_insecure=True)
    Syft(url, verbose=True)


@pytest.mark.parametrize("url", ["ftp://h", "h:5000", "", "wss://", 5])
def test_bad_urls(url) -> None:
    with pytest.raises(ValueError):
        Syft(url, allow_insecure=True)


def test_receive_operations_as() -> None:
    assert Syft("wss://h").receive_operations_as == "list"
    assert Syft("wss://h", receive_operations_as="tfjs").receive_operations_as == "tfjs"
    with pytest.raises(ValueError, match="TorchScript"):
        Syft("wss://h", receive_operations_as="torchscript")
    with pytest.raises(ValueError):
        Syft("wss://h", receive_operations_as="onnx")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"request_timeout": 0},
        {"request_timeout": -1},
        {"request_timeout": float("nan")},
        {"speed_test_max_seconds": 0},
        {"speed_test_max_bytes": 0},
        {"speed_test_ping_samples": 0},
        {"download_retries": -1},
        {"retry_backoff": -0.1},
        {"request_timeout": True},
    ],
)
def test_bounds_validated(kwargs) -> None:
    with pytest.raises(ValueError):
        Syft("wss://h", **kwargs)


def test_new_job_is_local_and_validates() -> None:
    syft = Syft("wss://h", peer_config={"iceServers": []})
    assert syft.peer_config == {"iceServers": []}
    job = syft.new_job("mnist", "1.0.0", auth_token="t")
    assert (job.model_name, job.model_version, job.auth_token, job.worker_id) == (
        "mnist",
        "1.0.0",
        "t",
        None,
    )
    assert job.plans == {} and job.protocols == {} and job.client_config == {} and job.model is None
    with pytest.raises(ValueError):
        syft.new_job("")
    with pytest.raises(ValueError):
        syft.new_job("mnist", 1)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (2700, 2700.0),
        (0.5, 0.5),
        (-3, 0.0),
        ("42", 42.0),
        ("7:59:56.610388", 28796.610388),
        ("0:00:00", 0.0),
        ("2 days, 1:00:00", 176400.0),
        ("-1 day, 23:59:58.5", 0.0),
        ("-2 days, 23:00:00", 0.0),
        (None, None),
    ],
)
def test_parse_timeout(value, expected) -> None:
    assert parse_timeout(value) == (pytest.approx(expected) if expected is not None else None)


@pytest.mark.parametrize("value", ["soon", True, [1], {"s": 1}, "1:99:00", float("nan")])
def test_parse_timeout_garbage_is_none_with_warning(value, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="syft_rs"):
        assert parse_timeout(value) is None
    assert caplog.records


def test_unwrap_rules() -> None:
    assert unwrap({"type": "t", "data": {"a": 1}}) == {"a": 1}
    assert unwrap({"status": "success", "worker_id": "w"}) == {
        "status": "success",
        "worker_id": "w",
    }
    assert unwrap({"type": "t", "data": "not a dict"}) == {"type": "t", "data": "not a dict"}
    with pytest.raises(GridError, match="top"):
        unwrap({"error": "top", "type": "t", "data": {}})
    with pytest.raises(GridError, match="inner"):
        unwrap({"type": "t", "data": {"error": "inner"}})
    with pytest.raises(GridError) as info:
        unwrap(
            {
                "status": "rejected",
                "error": "'ping' is requiredTraceback (most recent call last):\n x",
            }
        )
    assert str(info.value) == "'ping' is required" and info.value.raw.endswith("x")
    with pytest.raises(GridError):
        unwrap([1, 2])
    assert (
        error_message("\nTraceback (most recent call last): ...")
        == "Traceback (most recent call last): ..."
    )


@settings(max_examples=300, deadline=None)
@given(st.timedeltas(min_value=timedelta(days=-5), max_value=timedelta(days=5)))
def test_parse_timeout_reads_every_python_timedelta_string(td) -> None:
    # PyGrid sends str(cycle.end - now()): exactly Python's timedelta formatting.
    assert parse_timeout(str(td)) == pytest.approx(max(td.total_seconds(), 0.0), abs=1e-6)
