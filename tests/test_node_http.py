"""Node transport (protocol.md §3): routing, envelopes, router errors, CORS, bounds, speed test."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from httpx_ws import WebSocketDisconnect, aconnect_ws, connect_ws

from syft_rs.node import Node, RunningNode, serve_node, start_node
from test_node_support import Client, client_for, host_data


@pytest.fixture
def running() -> Iterator[RunningNode]:
    with start_node(speed_test_download_bytes=1 << 20) as r:
        yield r


@pytest.fixture
def client(running: RunningNode) -> Iterator[Client]:
    with client_for(running.url) as c:
        yield c


def test_root_and_router_errors(client: Client) -> None:
    assert client.http.get(client.url + "/").status_code == 200
    r = client.http.get(client.url + "/model-centric/nothing")
    assert (r.status_code, r.json()) == (404, {"error": "Not Found"})
    r = client.http.post(client.url + "/model-centric/get-model")
    assert r.status_code == 405 and "error" in r.json()
    r = client.http.get(client.url + "/model-centric/report")
    assert r.status_code == 405


def test_cors(client: Client) -> None:
    r = client.http.options(
        client.url + "/model-centric/authenticate",
        headers={"Origin": "http://example.org", "Access-Control-Request-Method": "POST"},
    )
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] in ("*", "http://example.org")
    r = client.http.get(client.url + "/", headers={"Origin": "http://example.org"})
    assert r.headers["access-control-allow-origin"] == "*"


def test_ws_router_errors_and_ping(client: Client) -> None:
    assert client.send("socket-ping", {}) == {"alive": "True"}
    assert client.send("socket-ping", {}, "r-1") == {"alive": "True", "request_id": "r-1"}
    reply = client.send("no-such-type", {}, "r-2")
    text = "Unknown message type 'no-such-type'."
    assert reply == {
        "type": "no-such-type",
        "error": text,
        "data": {"error": text},
        "request_id": "r-2",
    }
    client.ws.send_text("{not json")
    reply = json.loads(client.ws.receive_text())
    assert reply["type"] is None and reply["error"].startswith("Invalid JSON: ")
    assert reply["data"]["error"] == reply["error"]
    client.ws.send_text(json.dumps({"type": "model-centric/authenticate", "request_id": 7}))
    reply = json.loads(client.ws.receive_text())
    assert reply["error"] == "Missing 'data'." and reply["request_id"] == 7
    client.ws.send_text(json.dumps({"data": {}}))
    assert json.loads(client.ws.receive_text())["error"] == "Missing 'type'."
    # a handler error goes inside data, without status
    assert client.call("authenticate", {}) == {"error": "'model_name' is required"}


def test_ws_messages_answered_in_order(client: Client) -> None:
    ids = [f"id-{i}" for i in range(20)]
    for i, rid in enumerate(ids):
        kind = "socket-ping" if i % 2 else "model-centric/authenticate"
        client.ws.send_text(
            json.dumps({"type": kind, "data": {"model_name": "x"}, "request_id": rid})
        )
    replies = [json.loads(client.ws.receive_text()) for _ in ids]
    assert [r["request_id"] for r in replies] == ids


def test_ws_binary_frame_closes_1003(running: RunningNode) -> None:
    with httpx.Client() as http, connect_ws(running.ws_url, http) as ws:
        ws.send_bytes(b"\x00\x01")
        with pytest.raises(WebSocketDisconnect) as info:
            ws.receive_text(timeout=10)
        assert info.value.code == 1003


def test_ws_accepts_64_mib_text_frame(client: Client) -> None:
    pad = "x" * (64 << 20)
    message = json.dumps({"type": "socket-ping", "data": {"pad": pad}, "request_id": "big"})
    assert len(message) > 64 << 20
    client.ws.send_text(message)
    assert json.loads(client.ws.receive_text(timeout=60)) == {"alive": "True", "request_id": "big"}


def test_older_prefixes_are_aliases(client: Client) -> None:
    reply = client.send("federated/host-training", host_data("old", "1"), "h")
    assert reply == {
        "type": "federated/host-training",
        "data": {"status": "success"},
        "request_id": "h",
    }
    reply = client.send("model_centric/authenticate", {"model_name": "old", "model_version": "1"})
    assert reply["type"] == "model_centric/authenticate" and reply["data"]["status"] == "success"
    for prefix in ("federated", "model_centric", "model-centric"):
        r = client.http.post(f"{client.url}/{prefix}/authenticate", json={"model_name": "old"})
        assert r.status_code == 200 and r.json()["status"] == "success"
        r = client.http.get(f"{client.url}/{prefix}/retrieve-model", params={"name": "old"})
        assert r.status_code == 200 and r.headers["content-type"] == "application/octet-stream"


def test_http_json_errors(client: Client) -> None:
    r = client.http.post(client.url + "/model-centric/cycle-request", content=b"{nope")
    assert r.status_code == 400 and r.json()["error"].startswith("Invalid JSON: ")
    r = client.http.post(client.url + "/model-centric/report", content=b"[1]")
    assert r.status_code == 400
    # JSON is parsed whatever the content type says
    r = client.http.post(
        client.url + "/model-centric/authenticate",
        content=json.dumps({"model_name": "nope"}),
        headers={"content-type": "text/plain"},
    )
    assert r.status_code == 401


def test_body_bound() -> None:
    with start_node(max_body_bytes=1000) as r, httpx.Client() as http:
        big = {"model_name": "x" * 2000}
        resp = http.post(r.url + "/model-centric/authenticate", json=big)
        assert resp.status_code == 413 and "exceeds 1000 bytes" in resp.json()["error"]
        ok = http.post(r.url + "/model-centric/authenticate", json={"model_name": "x"})
        assert ok.status_code == 401


def test_speed_test(client: Client) -> None:
    q = {"worker_id": "w", "random": "0.5"}
    r = client.get("speed-test", is_ping=1, **q)
    assert (r.status_code, r.json()) == (200, {})
    r = client.http.post(client.url + "/model-centric/speed-test", params=q, content=b"x" * 65536)
    assert (r.status_code, r.json()) == (200, {})
    r = client.get("speed-test", worker_id="w")
    assert (r.status_code, r.json()) == (400, {"error": "'worker_id' and 'random' are required"})
    r = client.get("speed-test", **q)
    ctype = r.headers["content-type"]
    assert ctype.startswith("multipart/form-data; boundary=")
    boundary = ctype.split("boundary=")[1]
    assert len(boundary) == 32
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="sample"\r\n\r\n'.encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    assert r.content == head + b"x" * (1 << 20) + tail
    assert int(r.headers["content-length"]) == len(r.content)


def test_speed_test_default_size_is_streamed() -> None:
    with start_node() as r, httpx.Client() as http:
        q = {"worker_id": "w", "random": "1"}
        with http.stream("GET", r.url + "/model-centric/speed-test", params=q) as resp:
            assert int(resp.headers["content-length"]) == 67_108_989
            first = next(resp.iter_bytes())
            assert first.startswith(b"--") and len(first) < 4 << 20  # streamed, not one blob


@pytest.mark.anyio
async def test_serve_node_in_task_group(anyio_backend: str) -> None:
    async with serve_node() as running, httpx.AsyncClient() as http:
        assert (await http.get(running.url + "/")).status_code == 200
        async with aconnect_ws(running.ws_url, http) as ws:
            await ws.send_text(json.dumps({"type": "socket-ping", "data": {}, "request_id": "a"}))
            assert json.loads(await ws.receive_text()) == {"alive": "True", "request_id": "a"}


def test_start_node_with_existing_node_and_restart(tmp_path: object) -> None:
    node = Node(":memory:")
    try:
        with start_node(node) as r, httpx.Client() as http:
            assert http.get(r.url + "/").status_code == 200
        with start_node(node) as r, httpx.Client() as http:  # served again after a stop
            assert http.get(r.url + "/").status_code == 200
    finally:
        node.close()
    with pytest.raises(TypeError):
        start_node(node, db=":memory:")
    with pytest.raises(ValueError):
        Node(":memory:", timer_interval=5)


def test_cli_registers_node(capsys: pytest.CaptureFixture[str]) -> None:
    from syft_rs.cli import build_parser

    args = build_parser().parse_args(["node", "--port", "0", "--db", "x.sqlite"])
    assert (args.command, args.host, args.port, args.db) == ("node", "127.0.0.1", 0, "x.sqlite")
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(["node", "--help"])
    assert info.value.code == 0 and "--db" in capsys.readouterr().out


def test_peer_leaving_mid_answer_does_not_hurt(running: RunningNode) -> None:
    with httpx.Client() as http:
        for _ in range(5):
            with connect_ws(running.ws_url, http) as ws:
                ws.send_text(
                    json.dumps({"type": "model-centric/authenticate", "data": {"model_name": "x"}})
                )
        with client_for(running.url) as c:
            assert c.send("socket-ping", {}, "after") == {"alive": "True", "request_id": "after"}
