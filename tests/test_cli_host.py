"""``syft-rs host`` and ``syft-rs worker`` against the real node on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import numpy as np
import pytest

from syft_rs import _core
from syft_rs.cli import main
from syft_rs.errors import GridError
from syft_rs.node import RunningNode, start_node
from syft_rs.plans import MLP, parse_mlp
from syft_rs.plans.host import host_training, ws_url


@pytest.fixture
def node() -> Iterator[RunningNode]:
    with start_node() as running:
        yield running


def _retrieve(node: RunningNode, name: str, version: str, checkpoint: str = "latest") -> bytes:
    response = httpx.get(
        f"{node.url}/model-centric/retrieve-model",
        params={"name": name, "version": version, "checkpoint": checkpoint},
    )
    assert response.status_code == 200, response.text
    return response.content


def test_host_uploads_model_and_plans(node: RunningNode, capsys: pytest.CaptureFixture[str]):
    code = main(["host", "--url", node.url, "--name", "mnist", "--version", "1.0", "--seed", "3"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "'mnist' '1.0'" in out
    assert '"status": "success"' in out
    # Checkpoint 1 is the hosted model byte for byte: the seeded MNIST init.
    assert _retrieve(node, "mnist", "1.0", "1") == MLP((784, 392, 10)).init_state(3)

    # Hosting the same name and version again is refused by the node.
    code = main(["host", "--url", node.ws_url, "--name", "mnist", "--version", "1.0"])
    assert code == 1
    assert "FL Process already exists." in capsys.readouterr().err


def test_host_reports_bad_arguments(node: RunningNode, capsys: pytest.CaptureFixture[str]):
    code = main(["host", "--url", node.url, "--name", "x", "--version", "1", "--model", "oops"])
    assert code == 2
    assert "invalid MLP spec" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["host", "--url", node.url, "--name", "x", "--version", "1", "--server-config", "[]"])


def test_host_training_errors_are_typed(node: RunningNode) -> None:
    mlp = MLP((3, 2))

    async def bad_cycle_config() -> None:
        await host_training(
            node.url,
            model=mlp.init_state(0),
            plans={"training_plan": mlp.training_plan()},
            client_config={"name": "a", "version": "1"},
            server_config={"cycle_length": 10},
            averaging_plan=b"not a plan",
        )

    with pytest.raises(GridError, match="Averaging plan is not valid"):
        anyio.run(bad_cycle_config)
    with pytest.raises(ValueError, match="cycle_length"):
        anyio.run(
            lambda: host_training(
                node.url,
                model=b"",
                plans={"p": b""},
                client_config={"name": "a", "version": "1"},
                server_config={},
            )
        )
    with pytest.raises(ValueError, match="scheme must be ws, wss, http or https"):
        ws_url("ftp://example.org")
    assert ws_url("https://h:1/") == "wss://h:1"

    async def unreachable() -> None:
        await host_training(
            "ws://127.0.0.1:9",
            model=mlp.init_state(0),
            plans={"training_plan": mlp.training_plan()},
            client_config={"name": "a", "version": "1"},
            server_config={"cycle_length": 10},
        )

    with pytest.raises(
        GridError, match=r"host-training at ws://127\.0\.0\.1:9: WS connection failed"
    ):
        anyio.run(unreachable)


@pytest.mark.parametrize("dialect", ["list", "tfjs"])
def test_worker_trains_until_process_finishes(
    node: RunningNode, tmp_path: Path, capsys: pytest.CaptureFixture[str], dialect: str
) -> None:
    spec = "mlp:6-5-3:tanh:ce"
    code = main(
        ["host", "--url", node.url, "--name", "toy", "--version", "0.1", "--model", spec,
         "--num-cycles", "2", "--max-diffs", "1", "--batch-size", "4", "--lr", "0.2",
         "--max-updates", "3"]
    )  # fmt: skip
    assert code == 0, capsys.readouterr()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 6)).astype(np.float32)
    labels = rng.integers(0, 3, 20)
    np.savez(tmp_path / "local.npz", x=x, labels=labels)
    code = main(
        ["worker", "--url", node.url, "--name", "toy", "--version", "0.1",
         "--data", str(tmp_path / "local.npz"), "--seed", "1", "--dialect", dialect]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.count("trained 3 batches") == 2
    assert "the process is finished" in out
    assert "done: 2 cycles, 6 batches" in out
    # Two averaged checkpoints after the hosted one; training moved the parameters.
    first = _core.decode_state(_retrieve(node, "toy", "0.1", "1"))
    last = _core.decode_state(_retrieve(node, "toy", "0.1", "3"))
    assert _retrieve(node, "toy", "0.1") == _retrieve(node, "toy", "0.1", "3")
    assert [p.shape for p in last] == parse_mlp(spec).param_shapes
    assert all(not np.array_equal(a, b) for a, b in zip(first, last, strict=True))


def test_worker_rejects_bad_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    np.savez(tmp_path / "bad.npz", pixels=np.zeros((3, 2)))
    code = main(["worker", "--name", "toy", "--version", "1", "--data", str(tmp_path / "bad.npz")])
    assert code == 2
    assert "need a features array" in capsys.readouterr().err


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_two_workers_share_each_cycle(node: RunningNode, backend: str) -> None:
    """With max_diffs 2, a worker that reported waits (without training the same model
    again) until the other worker's report completes the cycle."""
    from syft_rs.demo.worker import run_worker
    from syft_rs.plans.host import host_mlp

    mlp = MLP((4, 3, 2), activation="sigmoid")
    rng = np.random.default_rng(2)
    data = [(rng.normal(size=(12, 4)).astype(np.float32), rng.integers(0, 2, 12)) for _ in range(2)]
    stats: list[object] = [None, None]

    async def scenario() -> None:
        await host_mlp(
            node.url, mlp, name="pair", version="1", batch_size=4, lr=0.1,
            server_config={"max_diffs": 2, "num_cycles": 2},
        )  # fmt: skip

        async def worker(k: int, delay: float) -> None:
            await anyio.sleep(delay)
            x, y = data[k]
            stats[k] = await run_worker(node.url, "pair", "1", x, y, seed=k, max_wait=0.1)

        async with anyio.create_task_group() as tg:
            tg.start_soon(worker, 0, 0.0)
            tg.start_soon(worker, 1, 0.3)

    anyio.run(scenario, backend=backend)
    for s in stats:
        assert s.finished  # type: ignore[attr-defined]
        assert s.cycles == 2  # type: ignore[attr-defined]
        assert s.batches == 6  # type: ignore[attr-defined]
    # Both diffs of each cycle went into its checkpoint: 2 cycles -> checkpoint 3 is the last.
    assert _retrieve(node, "pair", "1") == _retrieve(node, "pair", "1", "3")
    response = httpx.get(
        f"{node.url}/model-centric/retrieve-model",
        params={"name": "pair", "version": "1", "checkpoint": "4"},
    )
    assert response.status_code == 404


def test_host_given_state(node: RunningNode, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    mlp = parse_mlp("mlp:5-4-3")
    state = _core.encode_state([np.full(s, 0.25, np.float32) for s in mlp.param_shapes])
    (tmp_path / "model.pb").write_bytes(state)
    args = ["host", "--url", node.url, "--name", "given", "--model", "mlp:5-4-3"]
    assert main([*args, "--version", "1", "--init-state", str(tmp_path / "model.pb")]) == 0
    assert _retrieve(node, "given", "1", "1") == state
    # A State that does not fit the MLP, or no State at all, is refused before upload.
    wrong = _core.encode_state([np.zeros((2, 2), np.float32)])
    (tmp_path / "wrong.pb").write_bytes(wrong)
    assert main([*args, "--version", "2", "--init-state", str(tmp_path / "wrong.pb")]) == 1
    assert "the MLP needs" in capsys.readouterr().err
    (tmp_path / "junk.pb").write_bytes(b"\xff\xff")
    assert main([*args, "--version", "3", "--init-state", str(tmp_path / "junk.pb")]) == 1
    assert "Failed to decode State" in capsys.readouterr().err
    assert main([*args, "--version", "4", "--init-state", str(tmp_path / "absent.pb")]) == 2


def test_worker_regression_plan(
    node: RunningNode, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An MSE plan with one output has no accuracy output; 1-D float targets are a column."""
    args = ["--url", node.url, "--name", "reg", "--version", "1"]
    assert main(["host", *args, "--model", "mlp:3-4-1:tanh:mse", "--batch-size", "5"]) == 0
    rng = np.random.default_rng(3)
    x = rng.normal(size=(15, 3)).astype(np.float32)
    np.savez(tmp_path / "reg.npz", features=x, target=x.sum(1))
    code = main(["worker", *args, "--data", str(tmp_path / "reg.npz"), "--cycles", "2"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.count("trained 3 batches: loss") == 2
    assert "accuracy" not in out
    assert "done: 2 cycles, 6 batches" in out
