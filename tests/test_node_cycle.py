"""Node cycle logic on a small model (protocol.md §5, §7, §8)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from syft_rs import _core
from syft_rs.node import RunningNode, start_node
from test_node_support import (
    Client,
    b64,
    client_for,
    host_data,
    small_diff,
    small_model,
)


@pytest.fixture
def running() -> Iterator[RunningNode]:
    with start_node(seed=1) as r:
        yield r


@pytest.fixture
def client(running: RunningNode) -> Iterator[Client]:
    with client_for(running.url) as c:
        yield c


def params(state: bytes) -> list[np.ndarray]:
    return list(_core.decode_state(state))


def scaled_diff(factor: float) -> bytes:
    return _core.encode_state([p * np.float32(factor) for p in params(small_diff())])


# ---- host-training (§5.1) -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda d: d["client_config"].pop("version"),
            "client_config must contain string 'name' and 'version'",
        ),
        (
            lambda d: d["server_config"].pop("cycle_length"),
            "server_config must contain 'cycle_length'",
        ),
        (lambda d: d["server_config"].update(max_diffs=0), "server_config['max_diffs'] must be"),
        (
            lambda d: d["server_config"].update(num_cycles="2"),
            "server_config['num_cycles'] must be",
        ),
        (
            lambda d: d["server_config"].update(cycle_length=-1),
            "server_config['cycle_length'] must be",
        ),
        (
            lambda d: d["server_config"].update(iterative_plan=1),
            "server_config['iterative_plan'] must be",
        ),
        (
            lambda d: d["server_config"].update(pool_selection="best"),
            "server_config['pool_selection'] must be",
        ),
        (
            lambda d: d["server_config"].update(authentication={"pub_key": "not a key"}),
            "server_config['authentication']['pub_key'] must be a PEM RSA public key",
        ),
        (lambda d: d.update(model="zz"), "Invalid hex in 'model'"),
        (lambda d: d["plans"].update(training_plan="0g"), "Invalid hex in 'plans.training_plan'"),
        (lambda d: d.update(model="0a0b0c"), "Model is not a valid State: "),
        (lambda d: d["plans"].update(training_plan="ff" * 20), "Plan is not valid"),
        (lambda d: d.update(averaging_plan="ff" * 20), "Averaging plan is not valid: "),
        (lambda d: d.update(plans={}), "'plans' must be a non-empty object"),
    ],
)
def test_host_validation(client: Client, mutate: Any, message: str) -> None:
    data = host_data()
    mutate(data)
    answer = client.call("host-training", data)
    assert answer.keys() == {"error"} and answer["error"].startswith(message), answer
    # atomic: nothing was stored, the same process can now be hosted
    assert client.checkpoint().status_code == 404
    client.host()


def test_host_duplicate_and_checkpoint_1_verbatim(client: Client) -> None:
    client.host()
    assert client.call("host-training", host_data()) == {"error": "FL Process already exists."}
    r = client.checkpoint(checkpoint="1")
    assert r.status_code == 200 and r.content == small_model()


def test_averaging_plan_arity_checked_at_hosting(client: Client, vectors: Any) -> None:
    avg = (vectors / "pygrid" / "capture" / "uploaded_avg_plan.pb").read_bytes()  # 9 in, 4 out
    answer = client.call("host-training", host_data(averaging_plan=avg, iterative_plan=True))
    assert answer == {"error": "Averaging plan expects 9 inputs and 4 outputs, model has 2 tensors"}


# ---- authenticate / cycle-request (§5.2, §5.4, §7.2) ------------------------------------------


def test_cycle_request_errors_in_order(client: Client) -> None:
    client.host(minimum_download_speed=5, minimum_upload_speed=None)
    auth = client.call("authenticate", {"model_name": "m"})
    assert auth["requires_speed_test"] is True
    wid = auth["worker_id"]

    def cr(**data: Any) -> dict[str, Any]:
        return client.call("cycle-request", data)

    assert cr(worker_id="nope", model="m", version="1") == {
        "status": "rejected",
        "error": "Worker ID not found!",
    }
    not_found = "Not found any process related with this cycle and worker ID."
    assert cr(worker_id=wid, model="m")["error"] == not_found  # version required
    assert cr(worker_id=wid, model="m", version="2")["error"] == not_found
    assert cr(worker_id=wid, model="m", version="1", ping=1)["error"] == "'download' is required"
    bad = cr(worker_id=wid, model="m", version="1", ping=True, download=1, upload=1)
    assert bad["error"] == "'ping' needs to be a positive number"
    slow = cr(worker_id=wid, model="m", version="1", ping=1, download=4.9, upload=0)
    assert slow["status"] == "rejected" and 3590 < slow["timeout"] <= 3600
    ok = cr(worker_id=wid, model="m", version="1", ping=1, download=5, upload=0)
    assert ok["status"] == "accepted"
    assert len(ok["request_key"]) == 64 and ok["plans"] == {"training_plan": 1}
    assert ok["protocols"] == {} and ok["model_id"] == 1 and ok["model"] == "m"
    again = cr(worker_id=wid, model="m", version="1", ping=1, download=5, upload=0)
    assert again["status"] == "rejected" and isinstance(again["timeout"], float)
    # HTTP: flat body, errors as rejected + error with 200
    r = client.post("cycle-request", {"worker_id": "nope", "model": "m", "version": "1"})
    assert (r.status_code, r.json()) == (
        200,
        {"status": "rejected", "error": "Worker ID not found!"},
    )


def test_authenticate_errors_http(client: Client) -> None:
    client.host()
    r = client.post("authenticate", {"model_name": "zzz"})
    assert r.status_code == 401
    r = client.post("authenticate", {})
    assert (r.status_code, r.json()) == (400, {"error": "'model_name' is required"})
    r = client.post("authenticate", {"model_name": "m", "auth_token": "ignored without auth"})
    assert r.status_code == 200 and r.json()["requires_speed_test"] is False


def test_max_workers_and_min_workers(client: Client) -> None:
    client.host(max_workers=2, min_workers=2, max_diffs=1)
    w1, a1 = client.join()
    assert a1["status"] == "accepted"
    # one report, but only one worker assigned: min_workers holds the cycle open
    assert client.report(w1, a1["request_key"], small_diff()) == {"status": "success"}
    assert client.checkpoint(checkpoint="2").status_code == 404
    w2, a2 = client.join()
    assert a2["status"] == "accepted"
    _, a3 = client.join()
    assert a3["status"] == "rejected" and "timeout" in a3  # max_workers reached
    client.report(w2, a2["request_key"], small_diff())
    assert client.checkpoint(checkpoint="2").status_code == 200


def test_do_not_reuse_workers(client: Client) -> None:
    client.host(max_diffs=1, do_not_reuse_workers_until_cycle=3, cycle_length=100)
    auth = client.call("authenticate", {"model_name": "m"})
    wid = auth["worker_id"]
    req = {"worker_id": wid, "model": "m", "version": "1"}
    a = client.call("cycle-request", req)
    assert a["status"] == "accepted"
    client.report(wid, a["request_key"], small_diff())  # cycle 1 → 2
    r = client.call("cycle-request", req)
    # assigned in sequence 1, may return in sequence 4: wait for the rest of cycle 2 plus 1 more
    assert r["status"] == "rejected" and 190 < r["timeout"] <= 200
    _, other = client.join()
    assert other["status"] == "accepted"


def test_pool_selection_random_is_seeded() -> None:
    def run() -> list[str]:
        with start_node(seed=7) as r, client_for(r.url) as c:
            c.host(max_workers=4, pool_selection="random")
            return [c.join()[1]["status"] for _ in range(6)]

    first = run()
    assert first == run()
    assert first[0] == "accepted" and first.count("accepted") <= 4


def test_num_cycles_finishes_process(client: Client) -> None:
    client.host(max_diffs=1, num_cycles=2)
    for _ in range(2):
        wid, a = client.join()
        client.report(wid, a["request_key"], small_diff())
    assert client.join()[1] == {"status": "rejected"}
    assert client.checkpoint().content == client.checkpoint(checkpoint="3").content


# ---- downloads (§5.5–5.7) -----------------------------------------------------------------------


def test_download_checks(client: Client) -> None:
    proto = b"\x01\x02opaque protocol"
    client.host(protocols={"p": proto})
    wid, a = client.join()
    other, b = client.join()
    key = a["request_key"]
    assert a["protocols"] == {"p": 1}
    assert (
        client.get("get-model", worker_id=wid, request_key=key, model_id=1).content == small_model()
    )
    assert client.get("get-model", worker_id=wid, request_key=key, model_id="1").status_code == 200
    cases = [
        ({"worker_id": wid, "request_key": key, "model_id": 9}, 400, "Model ID not found!"),
        ({"worker_id": "nope", "request_key": key, "model_id": 1}, 400, "Worker ID not found!"),
        (
            {"worker_id": wid, "request_key": b["request_key"], "model_id": 1},
            401,
            "Invalid request key!",
        ),
        ({"worker_id": other, "request_key": key, "model_id": 1}, 401, "Invalid request key!"),
    ]
    for query, status, message in cases:
        r = client.get("get-model", **query)
        assert (r.status_code, r.json()) == (status, {"error": message})
    plan = client.get("get-plan", worker_id=wid, request_key=key, plan_id=1)
    assert plan.status_code == 200 and plan.headers["content-type"] == "application/octet-stream"
    variants = _core.plan_variants(__import__("test_node_support").small_plan())
    for variant, value in variants.items():
        r = client.get(
            "get-plan", worker_id=wid, request_key=key, plan_id=1, receive_operations_as=variant
        )
        if value is None:
            assert (r.status_code, r.json()) == (
                400,
                {"error": f"Plan variant '{variant}' not available!"},
            )
        else:
            assert r.content == value
    r = client.get("get-plan", worker_id=wid, request_key=key, plan_id=2)
    assert (r.status_code, r.json()) == (400, {"error": "Plan ID not found!"})
    r = client.get("get-protocol", worker_id=wid, request_key=key, protocol_id=1)
    assert r.status_code == 200 and r.content == proto
    assert client.get("get-protocol", worker_id=wid, request_key=key, plan_id=1).content == proto
    r = client.get("get-protocol", worker_id=wid, request_key=key, protocol_id=5)
    assert (r.status_code, r.json()) == (400, {"error": "Protocol ID not found!"})


# ---- report and averaging (§5.8, §7.4, §8) --------------------------------------------------------


def test_report_validation_changes_nothing(client: Client, vectors: Any) -> None:
    client.host(max_diffs=1)
    wid, a = client.join()
    other, b = client.join()
    key = a["request_key"]
    before = client.checkpoint().content
    d = params(small_diff())
    wrong = {
        "count": (_core.encode_state(d[:1]), "Diff has 1 tensors, model has 2."),
        "shape": (
            _core.encode_state([d[0].reshape(3, 2), d[1]]),
            "Diff tensor 0 is float32[3,2], model tensor is float32[2,3].",
        ),
        "dtype": (
            _core.encode_state([d[0].astype(np.float64), d[1]]),
            "Diff tensor 0 is float64[2,3], model tensor is float32[2,3].",
        ),
        "garbage": (b"\xff\xfe\x00garbage", "Diff is not a valid State"),
    }
    for diff, message in wrong.values():
        answer = client.report(wid, key, diff)
        assert answer.keys() == {"error"} and answer["error"].startswith(message), answer
        r = client.post("report", {"worker_id": wid, "request_key": key, "diff": b64(diff)})
        assert r.status_code == 400 and r.json()["error"].startswith(message)
    r = client.post("report", {"worker_id": wid, "request_key": key, "diff": "not base64!"})
    assert r.status_code == 400 and r.json()["error"].startswith("Diff is not a valid State")
    # another worker's key: 401, nothing stored
    r = client.post(
        "report", {"worker_id": wid, "request_key": b["request_key"], "diff": b64(small_diff())}
    )
    assert (r.status_code, r.json()) == (401, {"error": "Invalid worker ID or request key!"})
    assert client.call("report", {"worker_id": wid, "diff": ""}) == {
        "error": "'request_key' is required"
    }
    assert client.checkpoint().content == before
    assert client.checkpoint(checkpoint="2").status_code == 404
    # the rejected reports left the assignment open: a valid one still completes the cycle
    wrapped = "\n".join(b64(small_diff())[i : i + 76] for i in range(0, len(b64(small_diff())), 76))
    r = client.post("report", {"worker_id": wid, "request_key": key, "diff": wrapped})
    assert (r.status_code, r.json()) == (200, {"status": "success"})
    expected = [p - q for p, q in zip(params(before), d, strict=True)]
    for got, want in zip(params(client.checkpoint(checkpoint="2").content), expected, strict=True):
        np.testing.assert_array_equal(got, want)
    # the other worker's later report lands in a completed cycle: stored, never averaged
    assert client.report(other, b["request_key"], small_diff()) == {"status": "success"}
    assert client.checkpoint(checkpoint="3").status_code == 404


def test_plain_mean_in_completion_order(client: Client) -> None:
    client.host(max_diffs=3)
    joined = [client.join() for _ in range(3)]
    diffs = [scaled_diff(f) for f in (1.0, 3.0, -0.5)]
    # a second report for the same assignment replaces the first
    client.report(joined[0][0], joined[0][1]["request_key"], scaled_diff(100.0))
    for (wid, a), diff in zip(joined, diffs, strict=True):
        assert client.report(wid, a["request_key"], diff) == {"status": "success"}
    ds = [params(d) for d in diffs]
    ck1 = params(small_model())
    got = params(client.checkpoint(checkpoint="2").content)
    for i in range(2):
        mean = ((ds[0][i] + ds[1][i]) + ds[2][i]) / np.float32(3)
        np.testing.assert_allclose(got[i], ck1[i] - mean, rtol=1e-6)
    assert (
        client.checkpoint(checkpoint="latest").content == client.checkpoint(checkpoint="2").content
    )
    assert client.checkpoint(checkpoint="1").content == small_model()
    r = client.checkpoint(checkpoint="7")
    assert (r.status_code, r.json()) == (404, {"error": "Model ID not found!"})
    r = client.get("retrieve-model")
    assert (r.status_code, r.json()) == (400, {"error": "'name' is required"})
    # the old cycle's workers can no longer download
    wid, a = joined[0]
    r = client.get("get-model", worker_id=wid, request_key=a["request_key"], model_id=1)
    assert (r.status_code, r.json()) == (400, {"error": "Cycle not found!"})


def test_no_limit_trigger(client: Client) -> None:
    client.host(cycle_length=None, min_diffs=2)
    joined = [client.join() for _ in range(3)]
    client.report(joined[0][0], joined[0][1]["request_key"], small_diff())
    assert client.checkpoint(checkpoint="2").status_code == 404  # min_diffs 2
    client.report(joined[1][0], joined[1][1]["request_key"], small_diff())
    assert client.checkpoint(checkpoint="2").status_code == 200
    # rejection on a cycle without end carries 60 s
    wid, a = client.join()
    assert a["status"] == "accepted"
    again = client.call("cycle-request", {"worker_id": wid, "model": "m", "version": "1"})
    assert again == {"status": "rejected", "timeout": 60.0}


def test_time_trigger(client: Client) -> None:
    client.host(cycle_length=1.0, max_diffs=10)
    wid, a = client.join()
    client.report(wid, a["request_key"], small_diff())
    deadline = time.monotonic() + 5
    while client.checkpoint(checkpoint="2").status_code != 200:
        assert time.monotonic() < deadline, "the timer did not complete the expired cycle"
        time.sleep(0.1)
    # a cycle that expires without reports closes without a checkpoint; the next one opens
    wid2, a2 = client.join()
    assert a2["status"] == "accepted"
    time.sleep(2.2)
    _, a3 = client.join()
    assert a3["status"] == "accepted"
    assert client.checkpoint(checkpoint="3").status_code == 404
    assert client.report(wid2, a2["request_key"], small_diff()) == {"status": "success"}
    assert client.checkpoint(checkpoint="3").status_code == 404  # that cycle is over


def test_restart_between_host_report_retrieve(tmp_path: Any) -> None:
    db = tmp_path / "node.sqlite"
    with start_node(db=db) as r, client_for(r.url) as c:
        c.host(max_diffs=2)
        w1, a1 = c.join()
        w2, a2 = c.join()
    with start_node(db=db) as r, client_for(r.url) as c:
        assert c.report(w1, a1["request_key"], small_diff()) == {"status": "success"}
    with start_node(db=db) as r, client_for(r.url) as c:
        assert c.checkpoint(checkpoint="2").status_code == 404
        assert c.report(w2, a2["request_key"], small_diff()) == {"status": "success"}
    with start_node(db=db) as r, client_for(r.url) as c:
        got = params(c.checkpoint().content)
        want = [p - q for p, q in zip(params(small_model()), params(small_diff()), strict=True)]
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g, w)
        assert c.call("host-training", host_data()) == {"error": "FL Process already exists."}
