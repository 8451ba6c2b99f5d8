"""Checkpoints on disk: atomic save, and training resumed in a new process after a stop."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from syft_rs import PlanTrainerCheckpoint, SyftModel
from trainer_helpers import make_data, reference_training

TESTS = Path(__file__).resolve().parent

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import anyio
    import numpy as np
    from syft_rs import PlanTrainer, PlanTrainerCheckpoint, SyftModel
    from trainer_helpers import LinearRegressionPlan, initial_params, make_data, outputs, tensor_inputs

    phase, path, backend = sys.argv[1], sys.argv[2], sys.argv[3]
    X, y = make_data(40)

    async def main():
        kwargs = dict(inputs=tensor_inputs(), outputs=outputs(), data=X, target=y)
        if phase == "first":
            trainer = PlanTrainer(SyftModel(initial_params()), LinearRegressionPlan(), epochs=3,
                                  batch_size=8, client_config={"lr": 0.05}, **kwargs)
            trainer.on("batch_end", lambda p: trainer.stop() if (p["epoch"], p["batch"]) == (1, 2) else None)
            await trainer.start()
            assert trainer.stopped
            trainer.create_checkpoint().save(path)
        else:
            cp = PlanTrainerCheckpoint.load(path)
            # After a restart the original model is the next cycle's model; the plan and
            # data are supplied again.
            trainer = PlanTrainer(SyftModel(initial_params()), LinearRegressionPlan(), checkpoint=cp, **kwargs)
            first = []
            trainer.on("batch_start", lambda p: first.append(p) if not first else None)
            await trainer.resume()
            print(json.dumps({"first": first[0], "params": [p.tolist() for p in trainer.current_model.params]}))

    anyio.run(main, backend=backend)
    """
)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_resume_after_process_restart(tmp_path, backend) -> None:
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    cp_path = tmp_path / "checkpoint.json"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
    }
    subprocess.run(
        [sys.executable, str(script), "first", str(cp_path), backend],
        check=True,
        env=env,
        timeout=60,
    )
    saved = json.loads(cp_path.read_text())
    assert (saved["epoch"], saved["batch"], saved["epochs"], saved["batchSize"]) == (1, 3, 3, 8)
    out = subprocess.run(
        [sys.executable, str(script), "second", str(cp_path), backend],
        check=True,
        env=env,
        timeout=60,
        capture_output=True,
        text=True,
    )
    result = json.loads(out.stdout)
    assert result["first"] == {"epoch": 1, "batch": 3}
    ref = reference_training(*make_data(40), 8, 0.05, 3)
    for got, r in zip(result["params"], ref, strict=True):
        np.testing.assert_allclose(np.asarray(got, np.float32), r, rtol=1e-6, atol=1e-7)


def _checkpoint(epoch: int) -> PlanTrainerCheckpoint:
    return PlanTrainerCheckpoint(
        epochs=3,
        steps_per_epoch=None,
        batch_size=8,
        client_config={"lr": 0.1},
        epoch=epoch,
        batch=0,
        current_model=SyftModel([np.ones(3, np.float32) * epoch]),
    )


def test_failed_save_keeps_the_previous_file(tmp_path, monkeypatch) -> None:
    path = tmp_path / "cp.json"
    _checkpoint(1).save(path)

    def crash(src: str, dst: str) -> None:
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated"):
        _checkpoint(2).save(path)
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ["cp.json"]  # temp file removed
    assert PlanTrainerCheckpoint.load(path).epoch == 1


def test_load_missing_file(tmp_path) -> None:
    with pytest.raises(FileNotFoundError):
        PlanTrainerCheckpoint.load(tmp_path / "absent.json")
